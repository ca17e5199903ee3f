/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the plain layout's internals, shared by layout-plain.c
 * (block requests and commits) and layout-plain-load.c (opening: the
 * map's root and segments, or a listing).  Not for other files.
 */

#ifndef S3BLOCKS_LAYOUT_PLAIN_IMPL_H
#define S3BLOCKS_LAYOUT_PLAIN_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "layout/layout.h"
#include "sbitmap.h"
#include "store/store.h"

#define ROOT_MAGIC "s3blocks-map 1"
#define ROOT_MAX 512
/* Segments fetched per batch at open: bounds the memory it takes. */
#define LOAD_BATCH 32

struct plain {
  struct layout base;
  struct store *store;
  char *name;
  uint32_t block_size;
  unsigned block_shift;
  const struct store_gate *gate;
  bool readonly, rebuild_map;

  /* The map: taken by the layout's own operations, which the volume
   * calls with or without its lock (layout.h), and never held across
   * a request.
   */
  pthread_mutex_t map_lock;
  struct sbitmap present;               /* blocks that have objects */
  struct sbitmap dirty_segments;        /* segments changed since the
                                           last commit snapshot */
  bool mark_failed;
  struct layout_stats stats;
};

struct segment_write {
  uint64_t segno;
  char *buf;
  long len;
};

struct layout_commit {
  size_t n;
  struct segment_write *segs;
};

/* layout-plain.c; *_locked: map_lock held. */
extern void plain_map_changed_locked (struct plain *l, uint64_t index);
extern int plain_commit_begin_locked (struct plain *l,
                                      struct layout_commit **c);
extern int plain_commit_write (struct layout *base, struct layout_commit *c);
extern void plain_commit_end (struct layout *base, struct layout_commit *c,
                              bool ok);

/* layout-plain-load.c */
extern int plain_load_map (struct layout *base, uint64_t nr_blocks);

#endif /* S3BLOCKS_LAYOUT_PLAIN_IMPL_H */
