/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the log layout's internals, shared by layout-log.c (block
 * requests, the pending and recent-PUT tables, kept segments) and
 * layout-log-commit.c (opening the root, commits, the refresh rule).
 * Not for other files.
 *
 * Locking: log.t.lock guards the pending table, the recent-PUT table,
 * the kept segments, the root, its ETag, the size and the stats.  It
 * is never held across a request.  The volume's lock, when held, is
 * taken before it.
 */

#ifndef S3BLOCKS_LAYOUT_LOG_IMPL_H
#define S3BLOCKS_LAYOUT_LOG_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cas/cas-fence.h"
#include "cas/cas-tree.h"
#include "format/cas-format.h"
#include "format/log-format.h"
#include "layout/layout.h"
#include "layout/log/log-segio.h"
#include "layout/tree/layout-tree.h"
#include "store/store.h"
#include "u64map.h"

#define LOG_RECENT_DEFAULT 16384

/* A copy of an uploaded segment, kept until every pending change that
 * refers to it is committed: if a gc sweep raced its upload and
 * deleted it, the commit PUTs it again from here (docs/gc-safety.md,
 * step 10; docs/log-layout.md, "Writing", 3).  refs counts the pending
 * entries pointing at it.  At zero it is freed at once when no commit
 * is in flight, else put on the graveyard that commit_end frees, since
 * the commit may be reading it.
 *
 * block_only: the copy of one deduplicated block's bytes (len is the
 * block size), for the changes that name one record of segment id, of
 * which no whole copy is kept (they have the same content, so they
 * share it: refs counts them); if id is gone at the commit, each block
 * is stored again in a new segment from here (rebuild_gone() in
 * layout-log-commit.c).
 */
struct log_kept {
  struct log_kept *next;        /* on the graveyard */
  uint64_t refs;
  uint64_t serial;              /* its key in log.kept_by_serial; 0: none */
  uint8_t id[LOG_SEG_ID_LEN];
  bool block_only;
  size_t len;
  void *bytes;
};

/* A block's uncommitted state since the last commit that carried it. */
struct log_pending {
  struct log_kept *kept;        /* its segment's copy, or NULL */
  bool present;                 /* false: a hole */
  /* Its segment was deleted before a commit carried it, with no copy
   * kept (docs/gc-safety.md, step 10): never committed, and the block
   * reads as an error until written again.
   */
  bool lost;
  struct log_location loc;
  uint64_t put_ms;              /* start of the segment PUT it relies on */
  uint64_t seq;                 /* changes on every update */
};

/* The recent-PUT table: blocks this layout PUT itself, where, and when
 * (their segment PUT's start).  Direct-mapped on the block's hash: a
 * collision forgets the older entry, which costs one upload again,
 * never a wrong skip.  kept_serial names the segment's copy while one
 * is kept (looked up in log.kept_by_serial, which forgets it when the
 * copy goes), so that a block deduplicated onto the segment holds the
 * copy too.
 */
struct log_recent {
  struct log_location loc;      /* loc.hash: the content */
  uint64_t put_ms;
  uint64_t kept_serial;         /* 0: no copy */
  bool used;
};

/* Compaction's usage table (log-compact-usage.c): one entry per
 * segment the committed map named at its last walk, found by the
 * first 8 bytes of the id (chained: two ids may share them).
 */
struct log_usage {
  struct log_usage *next;
  uint8_t id[LOG_SEG_ID_LEN];
  uint64_t live;                /* bytes the walked map references */
  uint64_t data;                /* the segment's data bytes; 0: unknown */
  bool seen;                    /* named by the last walk */
  bool done;                    /* copied (or tried) since that walk */
};

/* Compaction's state: used by one maintain call at a time (busy), so
 * it needs no other lock; it takes log.t.lock to look at the pending
 * table and the top.
 */
struct log_compact {
  bool inited;                  /* busy is initialised */
  pthread_mutex_t busy;
  uint64_t rate;                /* bytes/s; 0: off */
  unsigned threshold_pm;
  uint64_t next_ms;             /* no step before this (the rate) */
  struct u64map table;          /* id's first 8 bytes -> log_usage chain */
  size_t nr;
  bool built;
  uint64_t built_landed;        /* roots_written at the last walk */
};

struct log {
  struct layout base;
  /* The root, the tree (CAS_LEAF_LOCATION), the fence, the lock (which
   * also guards the tables below and the kept segments), the stats:
   * layout-tree.h.
   */
  struct tree_root t;
  struct log_segio io;
  struct u64map pending;        /* index -> struct log_pending */
  uint64_t seq;
  uint64_t lost_unreported;     /* blocks marked lost since take_lost */
  struct log_recent *recent;
  size_t recent_mask;
  uint64_t keep_limit;          /* bytes of segment copies kept at most */
  uint64_t kept_bytes;
  struct u64map kept_by_serial; /* serial -> struct log_kept, refs > 0 */
  uint64_t kept_serial;
  bool committing;
  struct log_kept *graveyard;
  struct log_compact compact;
};

/* A commit: its changes (value.loc and value.hash), sorted by index,
 * its root-side results, and the segment copies it borrows.
 */
struct layout_commit {
  struct tree_commit t;         /* first: refresh_before's cast */
  const struct log_kept **kept; /* borrowed: commit_end frees them */
};

/* layout-log-tables.c (lock held) */
/* Did we PUT content h less than the reuse window before now?  Where
 * and when.
 */
extern bool log_recent_get (struct log *l, const struct cas_hash *h,
                            uint64_t now, struct log_location *loc,
                            uint64_t *put_ms, struct log_kept **kept);
extern void log_recent_put (struct log *l, const struct log_location *loc,
                            uint64_t put_ms, const struct log_kept *kept);
/* A new copy, refs 1, findable by dedups (lock held).  NULL: ENOMEM. */
extern struct log_kept *log_kept_new (struct log *l,
                                      const uint8_t id[LOG_SEG_ID_LEN],
                                      void *bytes, size_t len);
/* A copy of one block's bytes (block_only), refs 1, for a change
 * deduplicated onto segment id; findable by dedups once
 * log_recent_share_copy names it.  NULL: past keep_limit, or ENOMEM
 * (lock held).
 */
extern struct log_kept *log_kept_block_new (struct log *l,
                                            const uint8_t id[LOG_SEG_ID_LEN],
                                            const void *data);
/* Later dedups of content h take block copy k while it lives, rather
 * than each a copy of its own (lock held).
 */
extern void log_recent_share_copy (struct log *l, const struct cas_hash *h,
                                   const struct log_kept *k);
/* Every entry naming segment id now relies on a PUT at put_ms. */
extern void log_recent_refreshed (struct log *l,
                                  const uint8_t id[LOG_SEG_ID_LEN],
                                  uint64_t put_ms);
extern void log_recent_forget_before (struct log *l, uint64_t ms);
/* A segment found gone: no dedup may name it. */
extern void log_recent_forget_segment (struct log *l,
                                       const uint8_t id[LOG_SEG_ID_LEN]);
extern void log_kept_release (struct log *l, struct log_kept *k);
extern void log_kept_bury (struct log *l);

/* layout-log.c */
/* Set block index's pending change (lock held); kept gains a
 * reference.  0, or -1 (errno ENOMEM).
 */
extern int log_pending_set (struct log *l, uint64_t index, bool present,
                            const struct log_location *loc, uint64_t put_ms,
                            struct log_kept *kept);
/* Where block index reads from now: pending, else the committed tree
 * (no lock held; may GET pages).
 */
/* For compaction: the committed map's location of index, and whether a
 * pending change overrides it (*pending; a lost one included).  No
 * message for a lost block.  0, or -1 (logged).
 */
extern int log_resolve_committed (struct log *l, uint64_t index,
                                  bool *pending, bool *present,
                                  struct log_location *loc);
extern int log_resolve (struct log *l, uint64_t index, bool *present,
                        struct log_location *loc);
extern bool log_same_location (const struct log_location *a,
                               const struct log_location *b);

/* log-compact.c, log-compact-usage.c, log-compact-copy.c: compaction
 * (docs/log-layout.md, "Compaction").
 */
extern void log_compact_init (struct log *l, uint64_t rate,
                              unsigned threshold_pm);
extern void log_compact_free (struct log *l);
extern int log_maintain (struct layout *base, bool *commit);
/* Walk the committed map into the usage table, read the headers of
 * segments new to it; *bytes: what that read.
 */
extern int log_usage_build (struct log *l, uint64_t *bytes);
/* Walk the committed map (its top as of now), calling block for each
 * block it holds; *landed (if given): the roots landed at that top;
 * *bytes gains the pages' bytes read.  0, or -1 (logged).
 */
extern int log_walk_map (struct log *l,
                         int (*block) (void *opaque, uint64_t index,
                                       const struct cas_value *v),
                         void *opaque, uint64_t *landed, uint64_t *bytes);
/* The entry for id, or NULL. */
extern struct log_usage *log_usage_find (struct log *l,
                                         const uint8_t id[LOG_SEG_ID_LEN]);
extern void log_usage_free (struct log *l);
/* The table was walked at the root the server has now. */
extern bool log_usage_current (struct log *l);
/* log-compact-refs.c: every block the committed map locates in
 * segment id, with its location (*out malloc'd, *n of them); *bytes
 * gains what the walk read.  0, or -1 (logged).
 */
struct log_referrer {
  uint64_t block;
  struct log_location loc;
};
extern int log_segment_referrers (struct log *l,
                                  const uint8_t id[LOG_SEG_ID_LEN],
                                  struct log_referrer **out, size_t *n,
                                  uint64_t *bytes);
/* Copy the live blocks of segs[0..n) into new segments and make them
 * pending changes where the block has not moved since (*commit true
 * if any was); *bytes: read plus written.
 */
extern int log_compact_copy (struct log *l, struct log_usage **segs,
                             size_t n, uint64_t *bytes, bool *commit);

/* layout-log-commit.c */
extern const struct tree_root_ops log_tree_ops;
extern int log_load_map (struct layout *base, uint64_t nr_blocks);
extern int log_commit_begin (struct layout *base, struct layout_commit **c);
extern int log_commit_write (struct layout *base, struct layout_commit *c);
extern void log_commit_end (struct layout *base, struct layout_commit *c,
                            bool ok);

#endif /* S3BLOCKS_LAYOUT_LOG_IMPL_H */
