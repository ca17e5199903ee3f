/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: what the cas and log layouts share about their map tree's
 * root: opening it (create_root, the root checks of load_map), and the
 * root side of a commit (the refresh rule's call, the page update, the
 * sweep fence, the commit bound, the root PUT with its own-earlier-
 * attempt detection, and the switch of the tree served).  What differs
 * (what a change refers to and how it is PUT again, the recent-PUT
 * table, the layout's name in messages) comes through tree_root_ops.
 *
 * A layout embeds a struct tree_root and a struct tree_commit in its
 * own state and commit.  Locking: tree_root.lock guards the root, its
 * ETag, the size, the stats and whatever the layout puts under it (its
 * pending and recent-PUT tables); it is never held across a request.
 * The fence is used by load_map, then by one commit at a time.
 *
 * Errors: 0, or -1 after nbdkit_error with errno set.
 */

#ifndef S3BLOCKS_LAYOUT_TREE_H
#define S3BLOCKS_LAYOUT_TREE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cas/cas-fence.h"
#include "cas/cas-tree.h"
#include "format/cas-format.h"
#include "layout/layout.h"
#include "store/store.h"
#include "sbitmap.h"
#include "u64map.h"

struct tree_root;
struct tree_commit;

/* Root PUTs of unknown outcome remembered (struct tree_root). */
#define TREE_UNSURE_MAX 4

struct tree_root_ops {
  /* PUT again (after checking) what a present change of c relies on
   * whose recorded PUT started before limit, raising those changes'
   * put_ms past it (docs/gc-safety.md, step 4, rule 1).  No lock held.
   */
  int (*refresh_before) (struct tree_root *t, struct tree_commit *c,
                         uint64_t limit);
  /* Forget the recent PUTs that started before ms (lock held). */
  void (*forget_before) (struct tree_root *t, uint64_t ms);
  /* The message for a root whose leaf kind is not t->leaf (errno is
   * set to EINVAL by the caller).
   */
  void (*wrong_leaf) (struct tree_root *t);
  const char *layout;           /* "cas", "log": in messages */
};

struct tree_root {
  const struct tree_root_ops *ops;
  struct store *store;
  char *name;                   /* export, or export@snap */
  char *root_key;
  uint32_t block_size;
  const struct store_gate *gate;
  bool readonly;
  bool create;
  enum cas_leaf_kind leaf;
  struct cas_tree *tree;
  uint64_t reuse_window_ms, request_bound_ms, commit_bound_ms;
  uint64_t (*clock_ms) (void);
  void (*sleep_ms) (uint64_t ms);
  struct cas_fence fence;

  pthread_mutex_t lock;
  struct cas_root *root;        /* the root served now */
  char etag[STORE_ETAG_MAX];    /* its ETag ("" unknown) */
  bool have_root;
  uint64_t size;                /* bytes */
  bool size_dirty;              /* the root does not record size yet */
  struct layout_stats stats;

  /* The last root PUTs since the last that succeeded whose answer was
   * an error that does not say they were refused: one may have landed
   * (each was If-Match the same root, so at most one did).  A ring;
   * len 0: an empty slot.  Used by one commit at a time.
   */
  struct {
    char bytes[CAS_ROOT_MAX];
    size_t len;
  } unsure[TREE_UNSURE_MAX];
  unsigned unsure_next;
};

/* A commit's changes, sorted by index, and its root-side results. */
struct tree_commit {
  size_t n;
  struct cas_change *changes;
  uint64_t *put_ms;
  uint64_t *seq;
  uint64_t size;
  /* Filled by a successful write. */
  struct cas_root *root;
  char etag[STORE_ETAG_MAX];
  uint64_t pages_written, page_bytes, refreshes;
  uint64_t fence_lists, fence_waits;
  /* Set by the layout's refresh_before when it changed where a change
   * points (a segment gone, its changes moved): pages built before
   * then must be built again.
   */
  bool relocated;
};

/* Fill t from the layout's parameters: the tree is opened with leaf,
 * the fence initialised, the root given (snapshots) adopted.  0, or -1
 * after a message; tree_root_free t either way.
 */
struct tree_root_params {
  const char *root_key;
  uint64_t size;
  bool create;
  const struct cas_root *root;
  const char *root_etag;
  uint64_t map_cache_bytes;
  uint64_t reuse_window_ms, request_bound_ms, commit_bound_ms;
  uint64_t (*clock_ms) (void);
  void (*sleep_ms) (uint64_t ms);
};
extern int tree_root_init (struct tree_root *t,
                           const struct tree_root_ops *ops,
                           struct store *store, const struct layout_params *p,
                           enum cas_leaf_kind leaf,
                           const struct tree_root_params *tp);
extern void tree_root_free (struct tree_root *t);

/* load_map: read (or create) the root, check it, start a quiet run of
 * the sweep fence, serve its top.
 */
extern int tree_load_map (struct tree_root *t, uint64_t nr_blocks);

/* Free what c's arrays and root hold (not c itself). */
extern void tree_commit_release (struct tree_commit *c);

/* commit_write: refresh, pages, fence, commit bound, root PUT. */
extern int tree_commit_write (struct tree_root *t, struct tree_commit *c);

/* commit_end of a commit that landed (lock held): serve its root. */
extern void tree_commit_landed (struct tree_root *t, struct tree_commit *c);

/* The layout operations both tree layouts share (layout-tree-ops.c).
 * present: the tree's blocks in [first, first + count), with pending
 * (index -> the layout's entry, guarded by t->lock) over them;
 * holds_data says whether an entry is data or a hole.
 */
extern int tree_present (struct tree_root *t, const struct u64map *pending,
                         bool (*holds_data) (const void *entry),
                         uint64_t first, uint64_t count,
                         struct sbitmap *out);
extern int tree_resize (struct tree_root *t, uint64_t size);
extern void tree_get_stats (struct tree_root *t, struct layout_stats *stats);

#endif /* S3BLOCKS_LAYOUT_TREE_H */
