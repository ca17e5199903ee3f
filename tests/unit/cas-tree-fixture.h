/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: what the cas map tree's tests share
 * (test-cas-tree.c, test-cas-tree-faults.c).  Each test runs twice,
 * once in the suite "cas-tree" for a tree of hash leaves and once in
 * "cas-tree-location" for one of location leaves: the suite sets
 * tree_kind, and the tests place their blocks by the kind's geometry
 * (leaf_span, mid_span), so that the same blocks fall in the same
 * pages of either tree and the same counts hold.
 */

#ifndef S3BLOCKS_CAS_TREE_FIXTURE_H
#define S3BLOCKS_CAS_TREE_FIXTURE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <CUnit/CUnit.h>

#include "cas/cas-tree.h"
#include "memstore.h"

#define GIB (UINT64_C (1) << 30)
#define BLOCKS_100G (100 * GIB / 4096)         /* 26,214,400: depth 2 */
#define BLOCKS_1T (1024 * GIB / 4096)          /* 2^28: depth 2 */

/* The kind of the trees of the suite running. */
extern enum cas_leaf_kind tree_kind;

/* Blocks under one leaf (1024 or 4096), and under one level-1 page. */
extern uint64_t leaf_span (void);
extern uint64_t mid_span (void);
/* Bytes of a leaf of n entries, encoded; the longest leaf, encoded. */
extern size_t leaf_len (uint32_t n);
extern size_t leaf_max (void);
/* Bytes in memory of a cached full leaf, and of a cached full cas page,
 * with room for the cache's own overhead.
 */
extern uint64_t full_leaf_memory (void);
extern uint64_t full_page_memory (void);

/* A tree of tree_kind in m. */
extern struct cas_tree *open_tree (struct memstore *m, const char *label,
                                   uint64_t cache_bytes);

/* The value of block i at version v, as if its data were PUT: its hash,
 * and in a location tree a place in a segment made from it.
 */
extern struct cas_value value_of (uint64_t i, unsigned v);
extern struct cas_change put_change (uint64_t i, unsigned v);
extern struct cas_change hole_change (uint64_t i);

/* Update and serve the result (res may be NULL). */
extern int apply (struct cas_tree *t, const struct cas_change *c, size_t n,
                  unsigned min_depth, struct cas_update *res);
/* Block i reads as version v; block i is a hole. */
extern bool has (struct cas_tree *t, uint64_t i, unsigned v);
extern bool is_hole (struct cas_tree *t, uint64_t i);

/* What a walk (cas_tree_walk) saw. */
struct seen {
  uint64_t pages, page_bytes, blocks, skipped_level;
  uint64_t pages_at[CAS_DEPTH_MAX + 1];
  struct cas_hash leaf;         /* some leaf page */
  uint64_t last_index;
  bool ordered;
  bool values_ok;               /* every block's value of its kind */
  int skip_level;               /* skip children of pages at it; -1: none */
};
extern int walk (struct memstore *m, struct cas_tree *t, struct seen *s,
                 int skip_level);

/* The tests of test-cas-tree-faults.c, added to suite s. */
extern void add_cas_tree_fault_tests (CU_pSuite s);

#endif /* S3BLOCKS_CAS_TREE_FIXTURE_H */
