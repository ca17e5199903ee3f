/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the one LIST pager under both stores (list-pager.h). */

#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "store/list-pager.h"

bool
list_key_in_prefix (const char *key, const char *prefix, size_t prefix_len)
{
  return key != NULL && key[0] != '\0' &&
    strncmp (key, prefix, prefix_len) == 0;
}

/* Deliver a page's entries inside the prefix.  Returns the callback's
 * last word: 0 go on, 1 stop, -1 fail (errno the callback's).
 */
static int
deliver (const struct list_page *page, const char *prefix,
         store_list_cb cb, void *opaque)
{
  size_t prefix_len = strlen (prefix), i;
  int r = 0;

  for (i = 0; i < page->nr_entries && r == 0; i++) {
    const struct store_entry *e = &page->entries[i];

    if (!list_key_in_prefix (e->key, prefix, prefix_len)) {
      nbdkit_debug ("LIST %s: the server answered a key outside the "
                    "prefix, dropped: \"%.*s\"", prefix, 200,
                    e->key ? e->key : "(none)");
      continue;
    }
    r = cb (opaque, e);
  }
  return r;
}

/* Where the next page starts: the server's marker, which with a
 * delimiter may be a prefix, else the page's last key.  NULL if the
 * server gave no way forward.
 */
static const char *
next_marker (const struct list_page *page, const char *marker)
{
  const char *next = page->next_marker;

  if (next == NULL && page->nr_entries > 0)
    next = page->entries[page->nr_entries - 1].key;
  if (next == NULL || next[0] == '\0' ||
      (marker && strcmp (next, marker) <= 0))
    return NULL;
  return next;
}

int
list_pager (const struct list_source *src, const char *prefix,
            const char *delimiter, const char *start_after,
            store_list_cb cb, void *opaque)
{
  char *marker = NULL;
  int r = 0, saved_errno = 0;

  if (start_after && (marker = strdup (start_after)) == NULL) {
    nbdkit_error ("strdup: %m");
    return -1;
  }
  for (;;) {
    struct list_page page = { 0 };
    const char *next;

    if (src->fetch (src->opaque, prefix, delimiter, marker, &page) == -1) {
      saved_errno = errno;
      r = -1;
      break;
    }
    r = deliver (&page, prefix, cb, opaque);
    if (r == -1)
      saved_errno = errno;
    if (r != 0 || !page.truncated) {
      src->release (src->opaque, &page);
      break;
    }
    if ((next = next_marker (&page, marker)) == NULL) {
      nbdkit_error ("LIST %s: the server said more keys follow but "
                    "gave no way to continue", prefix);
      saved_errno = EIO;
      r = -1;
    }
    else {
      free (marker);
      if ((marker = strdup (next)) == NULL) {
        nbdkit_error ("strdup: %m");
        saved_errno = ENOMEM;
        r = -1;
      }
    }
    src->release (src->opaque, &page);
    if (r == -1)
      break;
  }
  free (marker);
  if (r == -1) {
    errno = saved_errno;
    return -1;
  }
  return 0;                     /* also when the callback stopped it */
}
