/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the block layer, between a volume and the object store.
 *
 * A layout stores one export's blocks by block number and keeps its
 * allocation map (which blocks hold data) persistent.  The volume
 * decides what to read and write and when; the layout decides where:
 * it builds every key, loads the map at open and writes it at commit.
 * The plain layout (layout-plain.c) is the seed's contract,
 * blocks/{export}/{offset:016x}; a content-addressed layout can sit
 * beside it behind the same operations.
 *
 * The volume calls run and load_map without its lock, and map_changed
 * and the commit's begin and end with it held: the layout's own state
 * (which parts of the map changed) is guarded by the volume's lock.
 * Commits are serialised by the volume: at most one is in flight.
 *
 * Errors: 0, or -1 after nbdkit_error with errno set.
 */

#ifndef S3BLOCKS_LAYOUT_H
#define S3BLOCKS_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbitmap.h"
#include "store.h"

enum block_io_kind {
  BLOCK_IO_GET,
  BLOCK_IO_PUT,
  BLOCK_IO_DELETE,
};

/* One block request of a batch. */
struct block_io {
  enum block_io_kind kind;
  uint64_t index;
  void *buf;                    /* GET: block_size bytes; PUT: the data */
  /* Results: err 0, ENOENT (GET: no object), or a failure's errno
   * (already logged, except a gate's refusal).  A GET of an object
   * that is not exactly one block fails with EIO, naming it.
   */
  int err;
  void *opaque;                 /* the caller's */
};

struct layout_params {
  const char *export_name;
  uint32_t block_size;
  const struct store_gate *gate;        /* on every PUT and DELETE */
  bool readonly;                /* load_map never writes */
  bool rebuild_map;             /* list the blocks even if a map exists */
};

struct layout_stats {
  uint64_t map_objects_read;    /* at the last load_map */
  uint64_t listed_keys;         /* keys listed at the last load_map */
  uint64_t foreign_objects;     /* of those, not blocks of this export */
  bool map_rebuilt;             /* the last load_map listed the blocks */
};

struct layout;
struct layout_commit;

struct layout_ops {
  /* Run n block requests concurrently.  Returns how many failed. */
  size_t (*run) (struct layout *l, struct block_io *ios, size_t n);

  /* Fill present (empty on entry) for an export of nr_blocks. */
  int (*load_map) (struct layout *l, uint64_t nr_blocks,
                   struct sbitmap *present);

  /* Block index's bit in present has just changed. */
  void (*map_changed) (struct layout *l, uint64_t index);

  /* Commit, in three steps: begin snapshots what changed (lock held;
   * *c NULL when nothing did), write sends it (no lock), end records
   * the outcome (lock held; on failure the changes stay pending).
   */
  int (*commit_begin) (struct layout *l, const struct sbitmap *present,
                       struct layout_commit **c);
  int (*commit_write) (struct layout *l, struct layout_commit *c);
  void (*commit_end) (struct layout *l, struct layout_commit *c, bool ok);

  void (*get_stats) (struct layout *l, struct layout_stats *stats);
  void (*free) (struct layout *l);
};

struct layout {
  const struct layout_ops *ops;
};

/* blocks/{export}/{offset:016x}, map under maps/{export}. */
extern struct layout *layout_plain_open (struct store *store,
                                         const struct layout_params *p);

#endif /* S3BLOCKS_LAYOUT_H */
