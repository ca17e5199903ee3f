/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the map tree's page cache, bounded in bytes, least recently
 * used first out, keyed by the page's hash.
 *
 * Pages are immutable and named by their content, so an entry is never
 * stale and two threads that fetched the same page hold equal copies:
 * the second insert is simply dropped.  A page handed out is pinned
 * (counted) until put back, so eviction never frees a page in use and a
 * lookup completes however small the bound; pinned pages stay outside
 * the bound only while in use (at most depth + 1 per operation).
 *
 * Thread-safe: its own lock, held only for table and list updates.
 */

#ifndef S3BLOCKS_CAS_PAGECACHE_H
#define S3BLOCKS_CAS_PAGECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/cas-format.h"
#include "format/cas-tree-format.h"

struct cas_cached_page {
  struct cas_hash hash;
  struct cas_map_page page;     /* either kind; read-only once made */
  size_t bytes;                 /* memory it takes, entries included */

  /* The cache's, under its lock. */
  unsigned refs;                /* pins, plus one while in the cache */
  bool cached;
  struct cas_cached_page *chain;        /* same first 8 hash bytes */
  struct cas_cached_page *prev, *next;  /* LRU list, most recent first */
};

struct cas_pagecache;

/* limit: bytes kept, raised to a floor of a few full pages of a tree
 * whose leaves are of kind leaf (one path from the deepest top to a
 * full leaf: a log leaf takes seven times a cas page's memory).
 */
extern struct cas_pagecache *cas_pagecache_new (uint64_t limit,
                                                enum cas_leaf_kind leaf);
extern void cas_pagecache_free (struct cas_pagecache *c);

/* A page for (hash, page) with one pin, taking page's entries: NULL on
 * ENOMEM (after nbdkit_error; page is freed).
 */
extern struct cas_cached_page *cas_cached_page_new (const struct cas_hash *h,
                                                    struct cas_map_page *page);

/* The cached page, pinned, or NULL. */
extern struct cas_cached_page *cas_pagecache_get (struct cas_pagecache *c,
                                                  const struct cas_hash *h);
/* Insert p (pinned by the caller) and return the pinned page to use:
 * p, or an equal page already cached (then p is put back).  Evicts
 * least recently used pages beyond the limit.  On ENOMEM, p is simply
 * not cached.
 */
extern struct cas_cached_page *cas_pagecache_insert (struct cas_pagecache *c,
                                                     struct cas_cached_page *p);
/* n more pins of p, which the caller has pinned (for other threads to
 * put back): it stays alive whatever the cache evicts meanwhile.
 */
extern void cas_pagecache_pin (struct cas_pagecache *c,
                               struct cas_cached_page *p, unsigned n);
/* Unpin: frees p if the cache no longer holds it. */
extern void cas_pagecache_put (struct cas_pagecache *c,
                               struct cas_cached_page *p);

/* Bytes of the pages in the cache (pinned pages evicted excluded). */
extern uint64_t cas_pagecache_bytes (struct cas_pagecache *c);

#endif /* S3BLOCKS_CAS_PAGECACHE_H */
