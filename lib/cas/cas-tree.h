/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: one content-addressed map tree (see cas-format.h), read on
 * demand through a page cache bounded in bytes, and updated by writing
 * new pages beside the old ones.
 *
 * A tree has one leaf kind, given when it is opened (a root's "leaf"):
 * CAS_LEAF_HASH, whose leaves name each block's content (the cas
 * layout), or CAS_LEAF_LOCATION, whose leaves are log leaves naming
 * where each block sits in a segment (the log layout).  Interior pages,
 * the cache, updates and walks are the same for both; a block's value
 * is a struct cas_value, of which a tree reads and writes the member
 * of its kind (cas-tree-format.h).  A page of the other kind where the
 * tree expects one of its own is a damaged page.
 *
 * A tree object holds the top it currently serves; lookups and updates
 * run concurrently from any thread (an internal lock guards the top and
 * the cache, and is never held across a request).  Every page read is
 * checked against its hash: a missing or damaged page is EIO, naming
 * the page's key and the tree's label (the export).
 *
 * Errors: 0, or -1 after nbdkit_error with errno set.
 */

#ifndef S3BLOCKS_CAS_TREE_H
#define S3BLOCKS_CAS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/cas-format.h"
#include "format/cas-tree-format.h"
#include "store/store.h"

struct cas_tree;

/* label names the tree in messages (the export, or export@snap); leaf
 * is its leaf kind.  cache_bytes bounds the pages kept in memory (at
 * least a few pages are always allowed, so that one lookup can
 * complete).
 */
extern struct cas_tree *cas_tree_open (struct store *store, const char *label,
                                       enum cas_leaf_kind leaf,
                                       uint64_t cache_bytes);
extern void cas_tree_free (struct cas_tree *t);

/* Bytes of pages held in the tree's cache now (for tests and debug
 * output): at most the cache bound given to cas_tree_open, or a floor
 * of a few full pages if that is smaller.
 */
extern uint64_t cas_tree_cached_bytes (struct cas_tree *t);
/* Threads waiting now for another's fetch of a page (for tests). */
extern size_t cas_tree_waiting (struct cas_tree *t);

/* Serve this top from now on (top NULL: the empty tree). */
extern void cas_tree_set_top (struct cas_tree *t, const struct cas_hash *top,
                              unsigned depth);
/* The top served now: false if empty. */
extern bool cas_tree_get_top (struct cas_tree *t, struct cas_hash *top,
                              unsigned *depth);

/* One block's value in the tree served now: *present false for a
 * hole.  May GET the pages on its path (those not cached).
 */
extern int cas_tree_lookup (struct cas_tree *t, uint64_t index,
                            bool *present, struct cas_value *value);

/* Load the pages covering blocks [first, first + count) and report, for
 * each present block in that range in order, cb (opaque, index).  Used
 * for extents.  cb returns 0 to go on, 1 to stop, -1 to fail.
 */
extern int cas_tree_present (struct cas_tree *t, uint64_t first,
                             uint64_t count,
                             int (*cb) (void *opaque, uint64_t index),
                             void *opaque);

struct cas_change {
  uint64_t index;
  bool present;                 /* false: the block becomes a hole */
  struct cas_value value;       /* when present: the tree's kind's member */
};

struct cas_update {
  bool empty;                   /* the new tree has no blocks */
  struct cas_hash top;
  unsigned depth;
  int64_t blocks_delta;         /* present blocks gained (or lost) */
  uint64_t pages_written;       /* PUTs made */
  uint64_t page_bytes_written;
};

/* Build the tree served now with changes applied (sorted by index,
 * each index once; an unchanged value is allowed), with depth at least
 * min_depth, and PUT its new pages, every PUT carrying gate: cas pages,
 * and at level 0 of a location tree log leaves, each content-addressed.
 * Only the pages on the paths of changed blocks are written: a flush of
 * k blocks writes at most k * (depth + 1) pages, whatever the export's
 * size.
 * The tree served is not changed: the caller commits the result (a root
 * PUT) and then calls cas_tree_set_top.
 */
extern int cas_tree_update (struct cas_tree *t,
                            const struct cas_change *changes, size_t n,
                            unsigned min_depth, const struct store_gate *gate,
                            struct cas_update *result);

/* Walk every page reachable from top (NULL: empty) of a tree whose
 * leaves are of kind leaf, one page at a time: page is called for each
 * page before its children and returns 1 to skip the children (already
 * seen), 0 to go on, -1 to fail; block is called for each present
 * block with its value.  Either may be NULL.  A missing page fails with
 * ENOENT, a damaged one with EIO, after a message naming its key and
 * label.  (The admin command walks in batches: cas_walk, cas-admin.h.)
 */
struct cas_walk_ops {
  int (*page) (void *opaque, const struct cas_hash *h, unsigned level,
               size_t bytes);
  int (*block) (void *opaque, uint64_t index, const struct cas_value *v);
};
extern int cas_tree_walk (struct store *store, const char *label,
                          enum cas_leaf_kind leaf,
                          const struct cas_hash *top, unsigned depth,
                          const struct cas_walk_ops *ops, void *opaque);

/* Roots: read and write one root object (cas-root.c).
 * cas_root_read returns 0 (*found false when there is no such root:
 * no message), or -1 with errno set after a message: the store's, or
 * one naming a damaged root's key and what is wrong (errno EIO); the
 * convention of README.md's "Errors".  etag (STORE_ETAG_MAX bytes) may
 * be NULL.
 */
extern int cas_root_read (struct store *store, const char *key,
                          struct cas_root *r, char *etag, bool *found);
/* What a root's conditional PUT found: the store's answers (store.h),
 * none of them a failure.
 */
enum cas_root_put_outcome {
  CAS_ROOT_PUT_WRITTEN,         /* the root is written */
  CAS_ROOT_PUT_EXISTS,          /* STORE_CREATE_ONLY: a root is there */
  CAS_ROOT_PUT_STALE,           /* STORE_IF_MATCH: the root there has
                                   another ETag: it changed */
  CAS_ROOT_PUT_ABSENT,          /* STORE_IF_MATCH: no root to replace */
};
/* Write one root.  condition / if_match as in store_op (STORE_ALWAYS
 * on stores without conditional PUT); gate (NULL: none) is checked
 * before every attempt.  Returns 0 with *outcome saying what the PUT
 * found (no message for any of them), or -1 with errno set:
 *   - after a message: the store's, or one saying that the root or its
 *     key is too long (ENAMETOOLONG), that STORE_IF_MATCH has no usable
 *     ETag (EINVAL), or that the store has no conditional PUT (ENOTSUP);
 *   - when gate refused the PUT: errno is the gate's (lease_check's
 *     EROFS or EIO), and there is no message here or from the store:
 *     as store.h says, the gate's owner explains a refusal (the lease
 *     keeper logs a lost or unrenewed lease).  A caller that says what
 *     it was doing says so after any -1, a refusal included.
 * A gate's errno is told from an answer by the condition: EEXIST is an
 * answer only to STORE_CREATE_ONLY, ESTALE and ENOENT only to
 * STORE_IF_MATCH; a gate must not refuse with those (lease_check does
 * not).  README.md, "Errors".  *outcome is set when it returns 0.
 */
extern int cas_root_write (struct store *store, const char *key,
                           const struct cas_root *r,
                           enum store_condition condition,
                           const char *if_match,
                           const struct store_gate *gate,
                           enum cas_root_put_outcome *outcome);
/* The same, and etag (STORE_ETAG_MAX bytes, may be NULL) receives the
 * new root's ETag ("" if the server gave none), for the next commit's
 * If-Match without a GET.
 */
extern int cas_root_write_etag (struct store *store, const char *key,
                                const struct cas_root *r,
                                enum store_condition condition,
                                const char *if_match,
                                const struct store_gate *gate, char *etag,
                                enum cas_root_put_outcome *outcome);

#endif /* S3BLOCKS_CAS_TREE_H */
