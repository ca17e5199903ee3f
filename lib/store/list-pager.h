/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the one LIST pager under both stores.
 *
 * A store's client only fetches one page of a ListObjects answer
 * (after a marker) and releases it; the pager walks the pages, keeps
 * store.h's promise about the keys a callback sees, and stops on the
 * callback's word:
 *
 *   marker = start_after
 *   loop:  fetch (prefix, delimiter, marker) -> page
 *          each entry: outside the prefix? drop it (debug line)
 *                      else cb (entry): 1 stop, -1 fail
 *          not truncated: done
 *          marker = page's next_marker, else its last key;
 *          none, or not after the old marker: fail (EIO)
 *          release page
 *
 * An entry is outside the prefix when its key is empty or does not
 * begin with the prefix (a key equal to the prefix is inside: gc reads
 * the server's clock by listing one key as its own prefix).  Callers
 * skip the prefix with key + strlen (prefix), so such a key from a
 * broken or hostile server would be a read past its end.
 */

#ifndef S3BLOCKS_LIST_PAGER_H
#define S3BLOCKS_LIST_PAGER_H

#include <stdbool.h>
#include <stddef.h>

#include "store/store.h"

/* One page as a store's client read it. */
struct list_page {
  struct store_entry *entries;  /* in the server's order */
  size_t nr_entries;
  bool truncated;               /* the server says more follow */
  const char *next_marker;      /* the server's NextMarker, or NULL */
  void *priv;                   /* the source's, for release */
};

struct list_source {
  /* Fetch the page after marker (NULL: from the start).  Returns 0
   * with *page filled (zeroed before the call), or -1 after a message
   * naming the prefix and the cause, errno set.  Transient failures
   * have been retried.
   */
  int (*fetch) (void *opaque, const char *prefix, const char *delimiter,
                const char *marker, struct list_page *page);
  /* Free what fetch filled; called once for every page fetched. */
  void (*release) (void *opaque, struct list_page *page);
  void *opaque;
};

/* store_ops.list over src: same arguments, same result (0, or -1 with
 * errno set; a callback's 1 stops the listing with 0).
 */
extern int list_pager (const struct list_source *src, const char *prefix,
                       const char *delimiter, const char *start_after,
                       store_list_cb cb, void *opaque);

/* Whether a listed key may reach a callback for this prefix. */
extern bool list_key_in_prefix (const char *key, const char *prefix,
                                size_t prefix_len);

#endif /* S3BLOCKS_LIST_PAGER_H */
