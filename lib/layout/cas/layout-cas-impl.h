/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the cas layout's internals, shared by layout-cas.c (block
 * requests, the pending and recent-PUT tables) and layout-cas-commit.c
 * (opening the root, commits, the refresh rule).  Not for other files.
 *
 * Locking: cas.t.lock guards the pending table, the recent-PUT table,
 * the root, its ETag, the size and the stats.  It is never held across
 * a request.  The volume's lock, when held, is taken before it.
 */

#ifndef S3BLOCKS_LAYOUT_CAS_IMPL_H
#define S3BLOCKS_LAYOUT_CAS_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "cas/cas-fence.h"
#include "format/cas-format.h"
#include "cas/cas-tree.h"
#include "layout/layout.h"
#include "layout/tree/layout-tree.h"
#include "store/store.h"
#include "u64map.h"

#define CAS_RECENT_DEFAULT 16384

/* A block's uncommitted state: what run stored (or freed) for it
 * since the last commit that carried it.
 */
/* A copy of an uploaded block's content, kept until the commit that
 * carries it lands: if a gc sweep raced its upload and deleted it, the
 * commit uploads it again from here (see refresh_before).  Freed at
 * once when no commit is in flight, else put on the graveyard that
 * commit_end frees, since the commit may be reading it.
 */
struct cas_kept {
  struct cas_kept *next;        /* on the graveyard */
  char data[];                  /* block_size bytes */
};

struct cas_pending {
  struct cas_kept *kept;        /* NULL: a hole, or past keep_limit */
  bool present;                 /* false: a hole */
  struct cas_hash hash;
  uint64_t put_ms;              /* start of the data PUT it relies on */
  uint64_t seq;                 /* changes on every update */
};

/* The recent-PUT table: content this layout PUT itself, and when (the
 * PUT's start).  Direct-mapped on the hash: a collision forgets the
 * older entry, which costs one PUT again, never a wrong skip.
 */
struct cas_recent {
  struct cas_hash hash;
  uint64_t put_ms;
  bool used;
};

struct cas {
  struct layout base;
  /* The root, the tree, the fence, the lock (which also guards the
   * pending and recent-PUT tables and the kept copies), the stats:
   * layout-tree.h.
   */
  struct tree_root t;
  struct u64map pending;        /* index -> struct cas_pending */
  uint64_t seq;
  struct cas_recent *recent;
  size_t recent_mask;
  uint64_t keep_limit;          /* bytes of content copies kept at most */
  uint64_t kept_bytes;
  bool committing;              /* between commit_begin and commit_end */
  struct cas_kept *graveyard;
};

/* A commit: its changes (sorted by index) and root-side results, and
 * the content copies the pending entries kept.
 */
struct layout_commit {
  struct tree_commit t;         /* first: refresh_before's cast */
  const struct cas_kept **kept; /* borrowed from the pending entries */
};

/* layout-cas.c (lock held) */
extern void cas_recent_put (struct cas *l, const struct cas_hash *h,
                            uint64_t put_ms);
/* Drop a content copy: freed, or kept for the commit in flight. */
extern void cas_kept_release (struct cas *l, struct cas_kept *k);
/* Free the graveyard (no commit in flight any more). */
extern void cas_kept_bury (struct cas *l);
/* Forget the PUTs that started before ms (a new quiet run). */
extern void cas_recent_forget_before (struct cas *l, uint64_t ms);

/* layout-cas-commit.c */
extern const struct tree_root_ops cas_tree_ops;
extern int cas_load_map (struct layout *base, uint64_t nr_blocks);
extern int cas_commit_begin (struct layout *base,
                             struct layout_commit **c);
extern int cas_commit_write (struct layout *base, struct layout_commit *c);
extern void cas_commit_end (struct layout *base, struct layout_commit *c,
                            bool ok);

/* Check a data object read back: its length and hash.  0, or -1 (errno
 * EIO) after a message naming the key and the export.
 */
extern int cas_check_data (struct cas *l, const struct store_op *op,
                           const struct cas_hash *want);

#endif /* S3BLOCKS_LAYOUT_CAS_IMPL_H */
