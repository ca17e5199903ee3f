/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the volume's internals, shared by volume.c (reads, writes,
 * extents), block-table.c (the block table and its lists) and upload.c
 * (uploads: flush, FUA and the dirty bound).  Not for other files.
 *
 * Everything here is guarded by volume.lock unless said otherwise.
 */

#ifndef S3BLOCKS_VOLUME_IMPL_H
#define S3BLOCKS_VOLUME_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "layout/layout.h"
#include "sbitmap.h"
#include "store/store.h"
#include "u64map.h"
#include "volume/volume.h"

enum block_state {
  BLOCK_LOADING,                /* GET in flight; no data yet; not listed */
  BLOCK_CLEAN,                  /* same as the store; on the LRU list */
  BLOCK_DIRTY,                  /* newer than the store; on the dirty list */
};

struct block {
  uint64_t index;
  enum block_state state;
  bool uploading;               /* a PUT or DELETE of it is in flight */
  bool zero;                    /* all zeros: data is NULL */
  char *data;                   /* block_size bytes, unless zero/loading */
  char *upload_data;            /* buffer the in-flight PUT reads from */
  uint64_t dirty_seq;           /* oldest change not yet in the store */
  uint64_t dirty_since_ms;      /* monotonic time it became dirty */
  uint64_t mod_seq;             /* newest change */
  struct block *prev, *next;    /* dirty list or LRU list */
};

/* Sequential readers told apart (read.c). */
#define VOLUME_STREAMS 8

struct block_list {
  struct block *head, *tail;    /* head: oldest / least recently used */
  uint64_t len;                 /* for statistics: a scrape counts none */
};

struct volume {
  char *name;
  struct layout *layout;        /* where the blocks and the map live */
  const struct store_gate *gate;
  struct bufpool *pool;         /* block buffers */
  uint32_t block_size;
  unsigned block_shift;
  uint64_t max_dirty;
  uint64_t cache_size;
  unsigned batch;
  uint64_t read_ahead_blocks;   /* 0: no read-ahead */

  pthread_mutex_t lock;
  /* Broadcast when a block leaves LOADING or finishes an upload. */
  pthread_cond_t changed;

  uint64_t size;
  uint64_t nr_blocks;
  struct u64map blocks;         /* index -> struct block */
  struct block_list dirty;      /* by dirty_seq, oldest first */
  struct block_list lru;        /* clean blocks */
  uint64_t dirty_bytes;         /* memory of dirty blocks */
  uint64_t clean_bytes;         /* memory of clean blocks */
  uint64_t seq;                 /* change and snapshot counter */
  bool committing;              /* a map commit is in flight */
  uint64_t uploads_done;        /* upload batches finished */
  /* Sequential reads (read.c): the block after each stream's last,
   * whether a read has continued it, and the end of the windows it has
   * fetched.
   */
  uint64_t stream_next[VOLUME_STREAMS];
  bool stream_established[VOLUME_STREAMS];
  uint64_t stream_fetched[VOLUME_STREAMS];
  unsigned stream_victim;       /* the next stream a new one replaces */

  struct volume_stats stats;
};

/* Block index range [first, last] covering count > 0 bytes at offset. */
#define FIRST_BLOCK(v, offset) ((offset) >> (v)->block_shift)
#define LAST_BLOCK(v, offset, count) \
  (((offset) + (count) - 1) >> (v)->block_shift)

/* What one block costs in memory, data aside. */
#define BLOCK_OVERHEAD (sizeof (struct block) + 2 * sizeof (struct u64map_slot))

/* block-table.c */
extern void *block_buffer_alloc (struct volume *v);
extern struct block *block_lookup (struct volume *v, uint64_t index);
extern struct block *block_new_loading (struct volume *v, uint64_t index);
extern void block_remove (struct volume *v, struct block *b);
extern void block_loaded (struct volume *v, struct block *b, char *data);
extern void block_touch (struct volume *v, struct block *b);
extern void block_set_dirty (struct volume *v, struct block *b);
extern void block_set_clean (struct volume *v, struct block *b);
extern void block_requeue_dirty (struct volume *v, struct block *b,
                                 uint64_t dirty_seq);
extern char *block_writable_data (struct volume *v, struct block *b);
extern void block_set_zero (struct volume *v, struct block *b);
extern void cache_evict (struct volume *v);
extern uint64_t block_cost (const struct volume *v, const struct block *b);

/* May the block have an object?  The layout keeps the map. */
static inline bool
maybe_present (const struct volume *v, uint64_t index)
{
  return v->layout->ops->maybe_present (v->layout, index);
}


/* upload.c */
extern int flush_locked (struct volume *v, uint64_t first, uint64_t last);
extern int commit_locked (struct volume *v);
extern int make_room_locked (struct volume *v);

static inline bool
over_dirty_limit (const struct volume *v)
{
  return v->dirty_bytes + v->block_size + BLOCK_OVERHEAD > v->max_dirty
    && v->dirty.head != NULL;
}

#endif /* S3BLOCKS_VOLUME_IMPL_H */
