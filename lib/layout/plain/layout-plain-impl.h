/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the plain layout's internals, shared by layout-plain.c
 * (block requests and commits) and layout-plain-load.c (opening: the
 * map's root and segments, or a listing).  Not for other files.
 */

#ifndef S3BLOCKS_LAYOUT_PLAIN_IMPL_H
#define S3BLOCKS_LAYOUT_PLAIN_IMPL_H

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
  struct sbitmap dirty_segments;        /* volume lock */
  bool mark_failed;                     /* volume lock */
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

/* layout-plain.c */
extern void plain_map_changed (struct layout *base, uint64_t index);
extern int plain_commit_begin (struct layout *base,
                               const struct sbitmap *present,
                               struct layout_commit **c);
extern int plain_commit_write (struct layout *base, struct layout_commit *c);
extern void plain_commit_end (struct layout *base, struct layout_commit *c,
                              bool ok);

/* layout-plain-load.c */
extern int plain_load_map (struct layout *base, uint64_t nr_blocks,
                           struct sbitmap *present);

#endif /* S3BLOCKS_LAYOUT_PLAIN_IMPL_H */
