/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: one export's block device, shared by all its connections.
 *
 * A volume maps byte ranges onto fixed-size blocks, one object each,
 * and keeps in memory the blocks that are dirty (written, not yet in
 * the store), a cache of clean blocks, and the allocation map (which
 * blocks exist as objects).  Reads of blocks that do not exist cost no
 * request.  Dirty blocks reach the store on flush, on FUA, or when the
 * dirty data would exceed max_dirty (oldest first).  A failed upload
 * leaves the block dirty and the caller gets an error; the next flush
 * retries it.
 *
 * Locking: one mutex per volume guards every field and every block.
 * It is never held across a store request: a block being fetched is
 * marked LOADING and other threads wait on the volume's condition
 * variable; a block being uploaded is marked uploading and stays
 * readable and writable (a write during the upload copies the buffer
 * first, so the upload sends a consistent snapshot).  At most one
 * upload of a block is in flight, so two writes of one block never
 * reach the store out of order.
 *
 * Errors: functions returning int return 0, or -1 after nbdkit_error
 * with errno set.
 */

#ifndef S3BLOCKS_VOLUME_H
#define S3BLOCKS_VOLUME_H

#include <stdbool.h>
#include <stdint.h>

#include "layout/layout.h"
#include "store/store.h"

struct volume;
struct layout_cas_params;

struct volume_params {
  const char *name;             /* export name, the middle of block keys */
  uint64_t size;                /* bytes */
  uint32_t block_size;          /* power of 2 */
  uint64_t max_dirty;           /* bytes of dirty blocks held in memory */
  uint64_t cache_size;          /* bytes of clean blocks cached; 0: none */
  unsigned batch;               /* blocks per upload round */
  /* The read-ahead chunk, in bytes: a sequential read fetches the
   * aligned chunks from its own to the one half a chunk past it
   * (read.c); 0: none.  A chunk is at most an eighth of cache_size;
   * a read's window up to three chunks.
   */
  uint64_t read_ahead;
  /* Fences every upload, delete and commit (the export's lease); its
   * errno (EROFS, EIO) is what a refused flush or write returns.  NULL:
   * unfenced (a read-only server, the unit tests).
   */
  const struct store_gate *gate;
};

struct volume_stats {
  uint64_t gets, puts, deletes;  /* requests that succeeded */
  uint64_t holes_read;           /* absent blocks read without a request */
  uint64_t cache_hits;
  uint64_t read_ahead;           /* blocks fetched by read-ahead */
  uint64_t writebacks;           /* blocks written back by max_dirty */
  uint64_t commits;               /* map commits that wrote something */
  uint64_t dirty_blocks, clean_blocks, present_blocks;
  uint64_t dirty_bytes, clean_bytes;
  uint64_t peak_dirty_bytes;
  uint64_t oldest_dirty_ms;      /* monotonic time the oldest dirty block
                                    became dirty; 0: none is */
  uint64_t foreign_objects;      /* keys under the prefix not ours */
  /* The cas layout's (layout.h): */
  uint64_t dedup_hits, data_puts, refreshes;
  uint64_t pages_written, page_bytes, roots_written;
  /* The log layout's: */
  uint64_t segments_written, segment_bytes;
  uint64_t compact_segments, compact_blocks, compact_lost, compact_puts;
  uint64_t compact_read_bytes, compact_written_bytes;
  bool log_usage_known;          /* the two below: see layout.h */
  uint64_t log_stored_bytes, log_live_bytes;
};

/* Extent types, as nbdkit's NBDKIT_EXTENT_HOLE and _ZERO. */
#define VOLUME_EXTENT_HOLE 1
#define VOLUME_EXTENT_ZERO 2
typedef int (*volume_extent_cb) (void *opaque, uint64_t offset,
                                 uint64_t length, uint32_t type);

/* A volume over layout, which it owns from here on (and frees if it
 * fails).  layout NULL (its open failed, and said why) gives NULL, so
 * that volume_create (layout_..._open (...), &params) needs one check.
 */
extern struct volume *volume_create (struct layout *layout,
                                     const struct volume_params *params);
/* Discards dirty data: flush first. */
extern void volume_free (struct volume *v);

/* Load the allocation map: from the persisted map in a bounded number
 * of requests, or, for an export without one, by listing its blocks
 * once and then persisting it (unless readonly).
 */
extern int volume_load_map (struct volume *v);

extern int volume_read (struct volume *v, void *buf, uint32_t count,
                        uint64_t offset);
/* Fetch a range into the cache without copying it anywhere. */
extern int volume_prefetch (struct volume *v, uint32_t count,
                            uint64_t offset);
extern int volume_write (struct volume *v, const void *buf, uint32_t count,
                         uint64_t offset, bool fua);
extern int volume_zero (struct volume *v, uint32_t count, uint64_t offset,
                        bool fua);
extern int volume_flush (struct volume *v);
/* Background write-back: upload the blocks dirty for at least age_ms
 * (oldest first) and commit, as a flush does for them.  Returns 0, or
 * -1 with errno (the blocks stay dirty; the caller retries later).
 */
extern int volume_write_back (struct volume *v, uint64_t age_ms);
/* Background upkeep (the layout's maintain: the log layout's
 * compaction), from the write-back round: one step, then, if it left
 * changes, a commit as a flush makes (serialised with flushes).  0, or
 * -1 with errno (logged; the next round tries again).
 */
extern int volume_maintain (struct volume *v);
extern int volume_extents (struct volume *v, uint32_t count, uint64_t offset,
                           bool req_one, volume_extent_cb cb, void *opaque);

/* Free the clean blocks cached. */
extern void volume_drop_cache (struct volume *v);

/* Grow (or, when the caller allows it, shrink) the device. */
extern int volume_resize (struct volume *v, uint64_t size);

extern uint64_t volume_size (struct volume *v);
extern uint32_t volume_block_size (const struct volume *v);
extern const char *volume_name (const struct volume *v);
extern void volume_get_stats (struct volume *v, struct volume_stats *stats);

#endif /* S3BLOCKS_VOLUME_H */
