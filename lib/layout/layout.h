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
 * blocks/{export}/{offset:016x}; the content-addressed layout
 * (layout-cas.c) sits beside it behind the same operations.
 *
 * Each layout keeps its own allocation map (which blocks hold data):
 * the plain layout loads all of it at open and keeps it in memory; the
 * cas layout keeps its map in S3 and reads it on demand.  Either way
 * the layout records what run PUT and DELETEd itself, and answers
 * maybe_present (may a GET find data?) and present (extents).  The
 * volume keeps no map.
 *
 * The volume calls run, load_map and present without its lock, and
 * maybe_present, resize and the commit's begin and end with it held
 * (so they make no request).  Commits are serialised by the volume: at
 * most one is in flight.
 *
 * Errors: 0, or -1 after nbdkit_error with errno set.
 */

#ifndef S3BLOCKS_LAYOUT_H
#define S3BLOCKS_LAYOUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "sbitmap.h"
#include "store/store.h"

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
  uint64_t present_blocks;      /* the plain layout's: blocks in its map */

  /* The cas layout's, since it was opened. */
  uint64_t dedup_hits;          /* data PUTs skipped: the same content was
                                   PUT by this layout within the reuse
                                   window (or earlier in the batch) */
  uint64_t data_puts;           /* cas/data/ PUTs made by run */
  uint64_t refreshes;           /* cas/data/ objects PUT again by a
                                   commit (older than the reuse window) */
  uint64_t pages_written;       /* cas/pages/ PUTs */
  uint64_t page_bytes;
  uint64_t roots_written;       /* commits */

  /* The log layout's, since it was opened (dedup_hits, refreshes,
   * pages_written, page_bytes and roots_written above count for it
   * too; refreshes counts segments PUT again).
   */
  uint64_t segments_written;    /* log/segs/ PUTs made by run */
  uint64_t segment_bytes;
  /* Compaction (docs/log-layout.md, "Compaction"). */
  uint64_t compact_segments;    /* old segments whose live blocks were
                                   copied */
  uint64_t compact_blocks;      /* blocks copied and made pending */
  uint64_t compact_lost;        /* copies dropped: a write moved the
                                   block between the read and the commit */
  uint64_t compact_puts;        /* segments PUT by compaction */
  uint64_t compact_read_bytes;  /* bytes read: pages, headers, indexes,
                                   blocks */
  uint64_t compact_written_bytes;       /* bytes of the segments PUT */
  /* What compaction's last complete walk of the committed map found
   * (log-compact-usage.c): the data bytes of the segments the map
   * names (headers and indexes left out), and the bytes of those its
   * blocks reference.  Known only once a walk has completed: never with
   * compaction off or read-only, and the figures are as of the root
   * walked, not of commits since.
   */
  bool log_usage_known;
  uint64_t log_stored_bytes, log_live_bytes;
};

struct layout;
struct layout_commit;

struct layout_ops {
  /* Run n block requests concurrently, recording in the map what each
   * successful PUT and DELETE changed, and forgetting a block a GET
   * found no object for.  Returns how many failed.
   */
  size_t (*run) (struct layout *l, struct block_io *ios, size_t n);

  /* Load the map of an export of nr_blocks, before the volume is
   * shared.
   */
  int (*load_map) (struct layout *l, uint64_t nr_blocks);

  /* May block index hold data?  false: it is a hole, read as zeros
   * without a request; true: a GET decides.  Makes no request.
   */
  bool (*maybe_present) (struct layout *l, uint64_t index);

  /* Set in out (empty on entry) each block of [first, first + count)
   * that holds data, committed or not.  May make requests.
   */
  int (*present) (struct layout *l, uint64_t first, uint64_t count,
                  struct sbitmap *out);

  /* The export is now size bytes: a layout that records the size
   * does so in its next commit, even if no block changed.
   */
  int (*resize) (struct layout *l, uint64_t size);

  /* Commit, in three steps: begin snapshots what changed (lock held;
   * *c NULL when nothing did), write sends it (no lock), end records
   * the outcome (lock held; on failure the changes stay pending).
   */
  int (*commit_begin) (struct layout *l, struct layout_commit **c);
  int (*commit_write) (struct layout *l, struct layout_commit *c);
  void (*commit_end) (struct layout *l, struct layout_commit *c, bool ok);

  void (*get_stats) (struct layout *l, struct layout_stats *stats);
  void (*free) (struct layout *l);

  /* Background upkeep, NULL if a layout has none: the log layout's
   * compaction (docs/log-layout.md, "Compaction").  Called without the
   * volume's lock, by one thread at a time, after load_map; does at
   * most one step, within the layout's own bandwidth bound.  *commit:
   * the step left pending changes, which the caller commits as a flush
   * does (the volume's commit, serialised with flushes).
   */
  int (*maintain) (struct layout *l, bool *commit);

  /* Optional: how many blocks' writes the layout lost (never
   * committed) since the last call, and forget them.  A client's flush
   * or FUA write asks after it commits, so that whichever commit found
   * the loss, a background one included, the next client flush fails
   * (docs/gc-safety.md, step 10).
   */
  uint64_t (*take_lost) (struct layout *l);
};

struct layout {
  const struct layout_ops *ops;
};

/* blocks/{export}/{offset:016x}, map under maps/{export}. */
extern struct layout *layout_plain_open (struct store *store,
                                         const struct layout_params *p);

/* The content-addressed layout (layout-cas.c, cas-format.h): the
 * blocks under cas/data/, the map tree under cas/pages/, committed by
 * one PUT of the root.  p->export_name labels messages ("export" or
 * "export@snap").
 */
struct cas_root;
struct layout_cas_params {
  const char *root_key;         /* cas/roots/X, or cas/snaps/X/S */
  uint64_t size;                /* bytes, recorded in the root */
  /* No root yet (a new export): write an empty one, create-only where
   * the store can; else a missing root is an error naming its key.
   */
  bool create;
  /* A root the caller has read (a snapshot's, for its size): load_map
   * uses it without a request.  NULL: load_map reads it.
   */
  const struct cas_root *root;
  const char *root_etag;
  uint64_t map_cache_bytes;     /* the page cache's bound */
  uint64_t reuse_window_ms;     /* cas-reuse-window */
  /* Copies of uploaded, uncommitted content kept until their commit,
   * in bytes (the volume gives max-dirty); 0: none.
   */
  uint64_t keep_bytes;
  /* One request's worst case, retries and their delays included, and
   * the longest a commit may take from its start to the end of its
   * root PUT (gc relies on both: docs/gc-safety.md, step 4).
   */
  uint64_t request_bound_ms;
  uint64_t commit_bound_ms;
  size_t recent_entries;        /* recent-PUT table slots; 0: default */
  /* Test hooks; NULL: clock_mono_ms and clock_sleep_ms (clock.h). */
  uint64_t (*clock_ms) (void);  /* monotonic ms */
  /* Waiting for a gc chunk to end (see cas-fence.c). */
  void (*sleep_ms) (uint64_t ms);
};
extern struct layout *layout_cas_open (struct store *store,
                                       const struct layout_params *p,
                                       const struct layout_cas_params *cp);

/* EXPORT@SNAP (layout-cas-snapshot.c): reads the snapshot's root, one
 * GET, and opens it read-only with the size and block size it records
 * (given in *size, *block_size for the volume): in the cas layout, or
 * in the log layout when the root says "leaf location" (a log export's
 * snapshot).  NULL after a message: errno ENOENT for a snapshot that
 * does not exist.  cp gives the tuning (cache, bounds); its root
 * fields are ignored.
 */
extern struct layout *layout_cas_open_snapshot (struct store *store,
                                                const char *ref,
                                                const struct layout_cas_params *cp,
                                                uint64_t *size,
                                                uint32_t *block_size);

/* The log layout (lib/layout/log/, docs/log-layout.md): blocks sealed
 * into segments under log/segs/, the map tree with log leaves under
 * cas/pages/, committed by one PUT of a root saying "leaf location".
 * Compaction (log-compact*.c) runs from maintain.
 */
struct layout_log_params {
  const char *root_key;         /* cas/roots/X */
  uint64_t size;                /* bytes, recorded in the root */
  bool create;                  /* as layout_cas_params.create */
  /* As layout_cas_params.root, root_etag (a snapshot's). */
  const struct cas_root *root;
  const char *root_etag;
  uint64_t map_cache_bytes;
  uint64_t reuse_window_ms;     /* cas-reuse-window: dedup and refresh */
  /* Copies of uploaded, uncommitted segments kept until their commit,
   * in bytes (the volume gives max-dirty); 0: none.
   */
  uint64_t keep_bytes;
  uint64_t request_bound_ms, commit_bound_ms;   /* as for cas */
  size_t segment_size;          /* 0: LOG_SEGIO_SEGMENT_SIZE_DEFAULT */
  unsigned uploads_in_flight;   /* 0: LOG_SEGIO_IN_FLIGHT_DEFAULT */
  size_t recent_entries;        /* recent-PUT table slots; 0: default */
  /* Compaction: log-compact-rate, bytes per second read plus written
   * (0: off), and log-compact-threshold in thousandths (a segment is
   * compacted when less than this of its data is live; 0: only small
   * segments are merged).
   */
  uint64_t compact_rate;
  unsigned compact_threshold_pm;
  uint64_t (*clock_ms) (void);  /* test hooks, as for cas */
  void (*sleep_ms) (uint64_t ms);
};
extern struct layout *layout_log_open (struct store *store,
                                       const struct layout_params *p,
                                       const struct layout_log_params *lp);

#endif /* S3BLOCKS_LAYOUT_H */
