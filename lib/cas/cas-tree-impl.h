/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: what cas-tree.c and cas-tree-update.c share. */

#ifndef S3BLOCKS_CAS_TREE_IMPL_H
#define S3BLOCKS_CAS_TREE_IMPL_H

#include <pthread.h>

#include "cas/cas-pagecache.h"
#include "cas/cas-tree.h"

struct cas_tree {
  struct store *store;
  char *label;
  enum cas_leaf_kind leaf;      /* what its leaves name: its geometry */
  struct cas_pagecache *cache;

  pthread_mutex_t lock;         /* guards the top and fetching; never
                                   held across a request */
  bool empty;
  struct cas_hash top;
  unsigned depth;

  /* Pages being fetched now: a thread that needs one of them waits for
   * it (fetched) instead of sending the same GET (cas-tree.c,
   * cas_tree_page).  Nothing that runs inside a fetch's request (a
   * test's store hook) may wait for another thread that could be
   * waiting for that fetch.
   */
  struct cas_page_fetch *fetching;
  pthread_cond_t fetched;
  size_t waiting;               /* threads waiting for a fetch */
};

/* GET the page h, expected at level of a tree whose leaves are of kind
 * leaf, check its hash and decode it (a log leaf at level 0 of a
 * location tree, a cas page elsewhere).  buf: cas_page_max_at (leaf,
 * level) + 1 bytes.  Returns 0 (*bytes: its length), or -1 after a
 * message naming the page's key and label, errno: ENOENT (or EIO if
 * missing_is_eio) for a missing page, EIO for a damaged one (the other
 * kind's page, or another level's, included), or the store's.
 */
extern int cas_page_fetch (struct store *store, const char *label,
                           enum cas_leaf_kind leaf, const struct cas_hash *h,
                           unsigned level, bool missing_is_eio, void *buf,
                           struct cas_map_page *page, size_t *bytes);

/* The page h at level, from the cache or the store, checked to be what
 * the tree expects there: pinned (put it back with cas_pagecache_put),
 * or NULL after a message.
 */
extern struct cas_cached_page *cas_tree_page (struct cas_tree *t,
                                              const struct cas_hash *h,
                                              unsigned level);

#endif /* S3BLOCKS_CAS_TREE_IMPL_H */
