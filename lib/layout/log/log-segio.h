/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the log layout's segment I/O.
 *
 * lib/layout/log/ holds the log layout (layout=log, not yet served:
 * docs/log-layout.md, "Building it", step 4).  This module is the part
 * of it that needs no map: it moves blocks between memory and segment
 * objects (log/segs/{id}, format in format/log-format.h), and knows
 * nothing of pending changes, trees or commits.
 *
 *   log_segio_upload        seal a batch of blocks into segments and
 *                           PUT them in parallel ("Writing", 1 and 2)
 *   log_segio_read          blocks by location: one ranged GET per run
 *                           of contiguous blocks, each block checked
 *                           ("Reading")
 *   log_segio_read_index    a segment's header and index (compaction,
 *                           check --deep)
 *   log_segio_read_segment  a whole segment, verified (the refresh of
 *                           docs/gc-safety.md, step 4, with no kept copy)
 *   log_segio_put_again     the refresh's PUT of the same bytes
 *
 * Memory, whatever the batch (docs/log-layout.md, "Memory"):
 *   upload        max_in_flight x segment_size for the segments being
 *                 built and PUT (a larger batch goes in rounds), plus
 *                 a few dozen bytes per segment of the batch; the
 *                 copies handed back with keep are the caller's, to
 *                 count against max-dirty
 *   read          nothing for the bytes, which go straight to the
 *                 callers' buffers; the descriptors of at most 1024
 *                 GETs of one store_run (half a MiB), and a few dozen
 *                 bytes per request
 *   read_index    LOG_SEG_DATA_START of what segment_size holds (126 KiB
 *                 for 8 MiB of 4 KiB blocks), or the index a header
 *                 claims, bounded by the format's maxima (log-format.h)
 *   read_segment  the segment's length, at most MAX_SEGMENT_SIZE
 *
 * Threads: any number may call these at once with one struct
 * log_segio.  They share only its stats, which are added atomically
 * (read them with log_segio_get_stats), and the store, which is
 * thread-safe by its contract.  No lock is held across a request.
 *
 * Errors: the functions returning int return 0, or -1 after an
 * nbdkit_error naming the export, the segment key and what is wrong
 * (or the store's own message of a failed request, or none for a
 * gate's refusal: its owner explains it) with errno set.  The batch
 * functions (upload, read) work as a layout's run does: each element
 * gets its own err, and they return how many failed.
 */

#ifndef S3BLOCKS_LOG_SEGIO_H
#define S3BLOCKS_LOG_SEGIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/log-format.h"
#include "store/store.h"

/* docs/log-layout.md: segment-size= and log-uploads= defaults. */
#define LOG_SEGIO_SEGMENT_SIZE_DEFAULT (8 * 1024 * 1024)
#define LOG_SEGIO_IN_FLIGHT_DEFAULT 4
/* The longest ranged GET of blocks.  One slow GET holds back every
 * block in it: 4 MiB keeps a sequential read at a few GETs per segment (the
 * request cost that matters, docs/log-layout.md, "Why") while a GET
 * stays short enough to retry cheaply and to run beside others.
 */
#define LOG_SEGIO_MAX_READ_DEFAULT (4 * 1024 * 1024)
/* The bytes of all the ranged GETs one store_run sends, which bounds
 * what one read has in flight.  16 MiB: four GETs of the longest size.
 */
#define LOG_SEGIO_READ_ROUND_DEFAULT (16 * 1024 * 1024)

struct log_segio_stats {
  uint64_t segments_put;        /* segment PUTs that succeeded (uploads
                                   and put_again) */
  uint64_t segment_bytes_put;   /* their bytes */
  uint64_t range_gets;          /* ranged GETs sent: runs of blocks,
                                   indexes, whole segments */
  uint64_t bytes_read;          /* bytes those GETs received */
  uint64_t blocks_read;         /* blocks read and checked */
  uint64_t index_reads;         /* log_segio_read_index calls */
  uint64_t upload_rounds;       /* store_runs of segment PUTs */
  uint64_t builders_peak;       /* the most segment builders one upload
                                   has held at once (<= max_in_flight) */
};

/* One export's segment I/O.  The caller sets the fields above stats
 * and calls log_segio_init; they do not change after.
 */
struct log_segio {
  struct store *store;
  const char *export_name;      /* labels messages ("export" or
                                   "export@snap"); the caller's, kept
                                   alive as long as this */
  uint32_t block_size;
  size_t segment_size;          /* each segment built holds at most this
                                   (0: the default) */
  unsigned max_in_flight;       /* segments built and PUT at once (0:
                                   the default) */
  size_t max_read;              /* longest ranged GET of blocks (0: the
                                   default; at least one block) */
  size_t max_read_round;        /* bytes of one store_run's ranged GETs,
                                   which bounds the requests a read has
                                   in flight (0: the default; at least
                                   max_read) */
  const struct store_gate *gate;        /* on every PUT; NULL: none */
  uint64_t (*clock_ms) (void);  /* monotonic ms; NULL: clock_mono_ms */

  struct log_segio_stats stats; /* the module's: log_segio_get_stats */
};

/* Checks the fields and fills the defaults; zeroes the stats.  0, or -1
 * after nbdkit_error naming the bad value (errno EINVAL).
 */
extern int log_segio_init (struct log_segio *io);

/* A consistent-enough copy of the counters (each read atomically). */
extern void log_segio_get_stats (const struct log_segio *io,
                                 struct log_segio_stats *out);

/* Sealing and uploading. */

/* One block of an upload batch. */
struct log_upload_block {
  uint64_t block;
  const void *data;             /* block_size bytes */
  const struct cas_hash *hash;  /* data's SHA-256, or NULL: computed */

  /* Results.  err: 0, or its segment's (log_uploaded_segment.err).
   * seg: its segment's index in the log_upload, SIZE_MAX if none was
   * built for it.  loc: where it is stored, when err is 0.
   */
  int err;
  size_t seg;
  struct log_location loc;
};

/* One segment of an upload batch: blocks [first, first + count) of the
 * batch, in order.
 */
struct log_uploaded_segment {
  uint8_t id[LOG_SEG_ID_LEN];
  /* 0: stored.  Else its PUT's errno, which every block in it has
   * (EIO for a key that already existed: a collision or a replay,
   * logged).
   */
  int err;
  /* The clock read before its PUT started: never later than the
   * object's Last-Modified (docs/gc-safety.md, step 4, T0).
   */
  uint64_t put_ms;
  size_t len;                   /* the object's bytes */
  /* With keep and err 0: the object (len bytes, malloc'd), the
   * caller's: take it (set it to NULL) or let log_upload_free free it.
   * Else NULL.
   */
  void *bytes;
  size_t first, count;
};

struct log_upload {
  struct log_uploaded_segment *segs;
  size_t nr_segs;
};

/* Seal blocks[0..n) into segments and PUT them.  blocks must be in
 * block order (not decreasing; the caller sorts, so that results stay
 * where it put them): a batch out of order is refused whole, EINVAL,
 * as the bug it is.  Each segment is filled in order up to
 * segment_size, gets a fresh random id, and is PUT with the gate and,
 * where the store can, create-only (a random id never collides: the
 * condition turns a collision or a replayed PUT into an error, never
 * an overwrite).  The segments of one round (max_in_flight of them) go
 * in one store_run; a larger batch takes several rounds, each built
 * only after the previous one's PUTs ended.
 *
 * Fills each block's results and *out (log_upload_free it, even after
 * failures).  Returns how many blocks failed: every block of a segment
 * whose PUT failed, or that could not be built (out of memory: logged).
 */
extern size_t log_segio_upload (struct log_segio *io,
                                struct log_upload_block *blocks, size_t n,
                                bool keep, struct log_upload *out);
/* Frees the segment table and the bytes still in it. */
extern void log_upload_free (struct log_upload *u);

/* Reading blocks. */

/* One block to read from where it is stored. */
struct log_read {
  struct log_location loc;
  void *buf;                    /* block_size bytes */
  /* Result: 0 (buf holds the block, checked against loc's hash;
   * with any other result buf holds nothing to use: the read may have
   * put unchecked bytes there);
   * ENOENT, no message: the segment does not exist (the caller looks
   * the block up again: docs/log-layout.md, "Reading"); EIO after a
   * message naming the export, segment and offset: damaged, truncated
   * or not readable by this version; or the store's errno.
   */
  int err;
};

/* Read reads[0..n), in any order.  Requests whose extents follow each
 * other in one segment share one ranged GET (up to max_read bytes);
 * requests for the same location share its bytes; each block is
 * checked on its own, so one damaged block fails alone.  Returns how
 * many failed, ENOENT (an answer) not counted.
 */
extern size_t log_segio_read (struct log_segio *io, struct log_read *reads,
                              size_t n);

/* Whole segments. */

/* The header and index of segment id, into *idx
 * (log_segment_index_free it).  One ranged GET covers the index of any
 * segment of segment_size or less; a segment written with a larger
 * budget takes a second GET of exactly its index.  A missing segment:
 * 0 and *found false.
 */
extern int log_segio_read_index (struct log_segio *io,
                                 const uint8_t id[LOG_SEG_ID_LEN],
                                 struct log_segment_index *idx, bool *found);

/* Segment id, whole, checked against its index and every block's hash:
 * *bytes (malloc'd, the caller's), *len.  A missing segment: 0 and
 * *found false.
 */
extern int log_segio_read_segment (struct log_segio *io,
                                   const uint8_t id[LOG_SEG_ID_LEN],
                                   void **bytes, size_t *len, bool *found);

/* PUT segment id's bytes again, unconditionally, with the gate: a
 * refresh (docs/gc-safety.md, steps 4 and 10).  bytes must be that
 * segment (its header is checked: EINVAL otherwise, as the bug it
 * would be).  *put_ms: the clock read before the PUT started.
 */
extern int log_segio_put_again (struct log_segio *io,
                                const uint8_t id[LOG_SEG_ID_LEN],
                                const void *bytes, size_t len,
                                uint64_t *put_ms);

#endif /* S3BLOCKS_LOG_SEGIO_H */
