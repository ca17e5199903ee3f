/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): what the content-addressed ("cas")
 * verbs share.  These files make up libs3blocks-admin, which the
 * command and the unit tests link:
 *
 *   cas-names.c     "export" and "export@snap", their root keys, every
 *                   root in the bucket, held leases
 *   cas-hashset.c   a set of content hashes with two small values each
 *   cas-walk.c      reading map trees, pages in batches, each checked
 *   cas-copy.c      writing a new root from a source root, verified
 *   cas-gc.c        garbage collection of contents, pages and segments
 *                   (its safety argument: docs/gc-safety.md)
 *   cas-*.c         the verbs
 *
 * Errors: 0, or -1 after nbdkit_error (errno set), unless said.
 */

#ifndef S3BLOCKS_CAS_ADMIN_H
#define S3BLOCKS_CAS_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/cas-format.h"
#include "format/cas-tree-format.h"
#include "format/meta.h"
#include "lease/leaseinfo.h"
#include "store/store.h"
#include "vector.h"

/* ---- names (cas-names.c) ---- */

/* A verb that cannot read a log tree yet (check, du, clone): true after
 * a message ("export NAME uses the log layout: not supported by VERB
 * yet") when r's leaves are locations, so it refuses rather than
 * misread them.
 */
extern bool cas_root_refused_by (const struct cas_root *r, const char *name,
                                 const char *verb);

/* Is name one of the n names given (names NULL: every name is)? */
extern bool cas_name_wanted (const char *name, char **names, int n);
/* One root in the bucket. */
struct cas_root_entry {
  char key[KEY_MAX];
  char name[NAME_REF_MAX];      /* export, or export@snap */
  bool is_snap;
  uint64_t size;                /* of the root object */
  int64_t mtime;
};

DEFINE_VECTOR (cas_root_list, struct cas_root_entry);

/* Every export root (cas/roots/) and snapshot root (cas/snaps/), two
 * LISTs, in key order; keys that are not roots of valid names are
 * skipped.  export: only those of that export (NULL: all).
 */
extern int cas_root_list_read (struct store *store, const char *export,
                               struct cas_root_list *l);
extern void cas_root_list_free (struct cas_root_list *l);

/* Leases held now (unexpired by this machine's wall clock). */
struct held_lease {
  char name[NAME_REF_MAX];
  struct lease_info info;
};
struct held_leases {
  struct held_lease *v;
  size_t n;
};
extern int held_leases_read (struct store *store, struct held_leases *h);
extern void held_leases_free (struct held_leases *h);

/* Write the metadata object of a cas export: create-only where the
 * store has conditional PUT.  0 (*created false, no message, when one
 * exists already), or -1 after a message (README.md, "Errors").
 */
extern int cas_meta_write (struct store *store, const char *name,
                           uint64_t size, uint32_t block_size,
                           bool *created);
/* The same for any layout (clone writes plain, cas and log exports). */
extern int meta_write_layout (struct store *store, const char *name,
                              uint64_t size, uint32_t block_size,
                              enum export_layout layout, bool *created);

/* Wall clock, seconds. */
extern int64_t cas_now (void);

/* ---- hash sets (cas-hashset.c) ---- */

/* A set of SHA-256 hashes, each with three 32-bit values for its
 * user (see du and check).  No removal.
 */
struct hset_entry {
  struct cas_hash h;
  uint32_t a, b, c;
  uint8_t used;
};
struct hset {
  struct hset_entry *v;
  size_t n, cap;                /* cap: a power of two, or 0 */
};

/* The entry for h, added (a, b zero) if new (*added says which).
 * NULL after a message when out of memory.
 */
extern struct hset_entry *hset_add (struct hset *s, const struct cas_hash *h,
                                    bool *added);
extern struct hset_entry *hset_find (const struct hset *s,
                                     const struct cas_hash *h);
extern void hset_free (struct hset *s);

/* ---- walking trees (cas-walk.c) ---- */

/* What a walk reports.  skip: asked before a page is read; return
 * true to leave it and its subtree out (already walked).  With skip,
 * a page queued twice for one batch of reads is read once (skip is
 * asked before the batch, so it cannot yet know the first copy).
 * page: each page read, before its children; return 1 to skip its
 * subtree, 0 to go on, -1 to fail.  contents: then, the same page
 * decoded (its entries: pages of level - 1, or at level 0 the blocks'
 * values: a cas page, or a log leaf in a tree whose root says "leaf
 * location"); same returns.  block: each present block, with its value
 * (cas-tree-format.h: the hash of a cas tree's block, the location of
 * a log tree's).  missing: a page that is absent or damaged (why says
 * which); return 0 to go on without its subtree, -1 to fail.  Any may
 * be NULL; a NULL missing fails the walk (errno ENOENT or EIO) after a
 * message naming the page and the label.
 */
struct cas_walker {
  bool (*skip) (void *opaque, const struct cas_hash *h);
  int (*page) (void *opaque, const struct cas_hash *h, unsigned level,
               size_t bytes);
  int (*contents) (void *opaque, const struct cas_hash *h, unsigned level,
                   size_t bytes, const struct cas_map_page *p);
  int (*block) (void *opaque, uint64_t index, const struct cas_value *v);
  int (*missing) (void *opaque, const struct cas_hash *h, unsigned level,
                  const char *why);
  void *opaque;
};

/* Walk the tree of root r, level by level, GETting pages in batches
 * and checking each against its hash and against what the root's leaf
 * kind expects at its level.  label names the root in messages.
 */
extern int cas_walk (struct store *store, const char *label,
                     const struct cas_root *r, const struct cas_walker *w);

/* ---- copying roots (cas-copy.c) ---- */

/* How many times a snapshot or clone is tried before it gives up
 * because its source keeps changing.
 */
#define CAS_COPY_TRIES 5

struct cas_copy {
  const char *src_key;          /* the source root */
  const char *src_name;         /* export, or export@snap */
  const char *dst_key;          /* the new root */
  const char *dst_name;
  enum cas_root_kind kind;      /* of the new root */
  bool keep_generation;         /* snapshot: the source's; clone: 0 */
  /* A verb that cannot copy a log tree's root, refused at the first
   * read of the source; NULL: any root is copied (snapshot and clone:
   * a log root's copy is a log root).
   */
  const char *log_refused_by;
  /* Results. */
  struct cas_root root;         /* as written */
  unsigned tries;
};

/* Write the new root from the source's last committed root, verified
 * (see cas-copy.c).  0 with *made true; 0 with *made false after a
 * message when the copy was refused: the destination exists, the
 * source was deleted or kept changing, or it is a log tree's that
 * log_refused_by refuses; or -1 after a message (errno ENOENT when the
 * source is missing).  README.md, "Errors".
 */
extern int cas_copy_root (struct store *store, struct cas_copy *c,
                          bool *made);

/* ---- gc (cas-gc.c) ---- */

#define GC_DEFAULT_GRACE_S 3600
#define GC_MAX_PASSES 8
#define GC_DELETE_BATCH 64
/* Keys one sweep chunk LISTs (one page of a LIST). */
#define GC_CHUNK_KEYS 1000

struct gc_result;

struct gc_params {
  int64_t grace_s;
  bool dry_run;
  /* DELETEs per batch, at most the store's requests in flight, so that
   * a batch lasts at most one request's worst case (the sweep fence,
   * docs/gc-safety.md step 9, relies on it).  0: GC_DELETE_BATCH.
   */
  unsigned delete_batch;
  /* Tests: called once the mark is complete, before the sweep LISTs. */
  void (*on_sweep) (void *opaque);
  void *opaque;
  /* Tests: monotonic ms for the chunk limit; NULL: clock_mono_ms. */
  uint64_t (*clock_ms) (void);
  /* The admin command's progress display: called often (it limits its
   * own redraws) with the phase and how far it is: "mark", objects
   * found referenced so far; "sweep", objects listed and dealt with
   * (kept, or deleted or found deletable).  NULL: none.
   */
  void (*progress) (void *progress_opaque, const char *phase,
                    uint64_t done, const struct gc_result *res);
  void *progress_opaque;
};

struct gc_result {
  int64_t start;                /* S3 clock at start */
  int64_t cutoff;               /* start - grace */
  unsigned passes;
  uint64_t roots_read;
  uint64_t pages_marked, data_marked;
  uint64_t segs_marked;                 /* segment ids log trees name */
  uint64_t listed, listed_bytes;        /* ours, under the swept prefixes */
  uint64_t segs_listed, segs_listed_bytes;      /* of them, segments */
  uint64_t deleted, deleted_bytes;      /* dry run: would be */
  uint64_t deleted_pages, deleted_data, deleted_segs;
  uint64_t deleted_segs_bytes;
  uint64_t young, young_bytes;          /* unreferenced, spared by age */
  uint64_t unknown_age;                 /* unreferenced, no date: spared */
  uint64_t foreign;                     /* not a hash key: left alone */
  uint64_t delete_failed;
  uint64_t chunks;                      /* sweep chunks (markers) */
  uint64_t chunks_cut;                  /* ended by the time limit */
  uint64_t markers_expired;             /* old markers deleted */
  uint64_t max_window_s;                /* max reuse-window + commit-bound */
};

/* 0 with *swept true when done (r filled); 0 with *swept false after a
 * message saying why gc refused or gave up, nothing deleted; or -1
 * after a message (possibly after deleting some garbage).  README.md,
 * "Errors".
 */
extern int cas_gc (struct store *store, const struct gc_params *p,
                   struct gc_result *r, bool *swept);

/* ---- plain to cas (cas-clone-plain.c) ---- */

struct plain_clone_stats {
  uint64_t blocks_read, zero_blocks, data_puts, pages_written;
};

#endif /* S3BLOCKS_CAS_ADMIN_H */
