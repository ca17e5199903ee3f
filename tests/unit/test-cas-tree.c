/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the cas map tree (cas-tree.c, cas-tree-update.c,
 * cas-pagecache.c) and roots (cas-root.c) against the in-memory store,
 * counting requests: updates write only the changed paths, lookups of a
 * fresh tree cost depth + 1 GETs, the cache stays bounded, and damaged
 * or missing pages are EIO.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "cas/cas-tree.h"
#include "memstore.h"
#include "nbdkit-standin.h"
#include "tests.h"

#define GIB (UINT64_C (1) << 30)
#define BLOCKS_100G (100 * GIB / 4096)         /* 26,214,400: depth 2 */
#define BLOCKS_1T (1024 * GIB / 4096)          /* 2^28: depth 2 */

/* The content hash of block i at version v (as if its data were PUT). */
static struct cas_hash
content (uint64_t i, unsigned v)
{
  uint64_t words[2] = { i, v };
  struct cas_hash h;

  cas_hash_of (words, sizeof words, &h);
  return h;
}

static struct cas_change
put_change (uint64_t i, unsigned v)
{
  struct cas_change c = { .index = i, .present = true };

  c.value.hash = content (i, v);
  return c;
}

static struct cas_change
hole_change (uint64_t i)
{
  struct cas_change c = { .index = i, .present = false };

  return c;
}

/* Update and serve the result. */
static int
apply (struct cas_tree *t, const struct cas_change *c, size_t n,
       unsigned min_depth, struct cas_update *res)
{
  struct cas_update local;

  if (res == NULL)
    res = &local;
  if (cas_tree_update (t, c, n, min_depth, NULL, res) == -1)
    return -1;
  cas_tree_set_top (t, res->empty ? NULL : &res->top, res->depth);
  return 0;
}

static bool
has (struct cas_tree *t, uint64_t i, unsigned v)
{
  struct cas_hash want = content (i, v);
  struct cas_value h;
  bool present;

  if (cas_tree_lookup (t, i, &present, &h) == -1 || !present)
    return false;
  return cas_hash_equal (&h.hash, &want);
}

static bool
is_hole (struct cas_tree *t, uint64_t i)
{
  struct cas_value h;
  bool present = true;

  return cas_tree_lookup (t, i, &present, &h) == 0 && !present;
}

/* What a walk saw. */
struct seen {
  uint64_t pages, page_bytes, blocks, skipped_level;
  uint64_t pages_at[CAS_DEPTH_MAX + 1];
  struct cas_hash leaf;         /* some leaf page */
  uint64_t last_index;
  bool ordered;
  int skip_level;               /* skip children of pages at it; -1: none */
};

static int
seen_page (void *opaque, const struct cas_hash *h, unsigned level,
           size_t bytes)
{
  struct seen *s = opaque;

  s->pages++;
  s->pages_at[level]++;
  s->page_bytes += bytes;
  if (level == 0)
    s->leaf = *h;
  return (int) level == s->skip_level;
}

static int
seen_block (void *opaque, uint64_t index, const struct cas_value *h)
{
  struct seen *s = opaque;
  (void) h;

  if (s->blocks > 0 && index <= s->last_index)
    s->ordered = false;
  s->last_index = index;
  s->blocks++;
  return 0;
}

static const struct cas_walk_ops seen_ops = { seen_page, seen_block };

static int
walk (struct memstore *m, struct cas_tree *t, struct seen *s, int skip_level)
{
  struct cas_hash top;
  unsigned depth;
  bool present = cas_tree_get_top (t, &top, &depth);

  memset (s, 0, sizeof *s);
  s->ordered = true;
  s->skip_level = skip_level;
  return cas_tree_walk (memstore_store (m), "disk", CAS_LEAF_HASH,
                        present ? &top : NULL, depth, &seen_ops, s);
}

static void
test_empty (void)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *t = cas_tree_open (memstore_store (m), "disk", CAS_LEAF_HASH, 1 << 20);
  struct cas_change c = hole_change (7);
  struct cas_update res;
  struct seen s;

  CU_ASSERT_FALSE (cas_tree_get_top (t, NULL, NULL));
  CU_ASSERT_TRUE (is_hole (t, 0));
  CU_ASSERT_TRUE (is_hole (t, UINT64_MAX));
  CU_ASSERT_EQUAL (apply (t, NULL, 0, 2, &res), 0);
  CU_ASSERT_TRUE (res.empty);
  CU_ASSERT_EQUAL (res.depth, 2);
  CU_ASSERT_EQUAL (apply (t, &c, 1, 0, &res), 0);
  CU_ASSERT_TRUE (res.empty);
  CU_ASSERT_EQUAL (res.pages_written, 0);
  CU_ASSERT_EQUAL (res.blocks_delta, 0);
  CU_ASSERT_EQUAL (memstore_counts (m).puts, 0);
  CU_ASSERT_EQUAL (memstore_counts (m).gets, 0);
  CU_ASSERT_EQUAL (walk (m, t, &s, -1), 0);
  CU_ASSERT_EQUAL (s.pages, 0);
  cas_tree_free (t);
  store_close (memstore_store (m));
}

static void
test_single_block (void)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *t = cas_tree_open (memstore_store (m), "disk", CAS_LEAF_HASH, 1 << 20);
  struct cas_change c = put_change (5, 1);
  struct cas_update res;
  struct cas_hash top;
  unsigned depth;
  long len;

  CU_ASSERT_EQUAL (cas_tree_update (t, &c, 1, 0, NULL, &res), 0);
  CU_ASSERT_FALSE (res.empty);
  CU_ASSERT_EQUAL (res.depth, 0);
  CU_ASSERT_EQUAL (res.blocks_delta, 1);
  CU_ASSERT_EQUAL (res.pages_written, 1);
  CU_ASSERT_EQUAL (res.page_bytes_written, CAS_PAGE_HEADER + CAS_PAGE_ENTRY);
  CU_ASSERT_EQUAL (memstore_count (m, CAS_PAGES_PREFIX), 1);
  /* Not served until the caller commits. */
  CU_ASSERT_FALSE (cas_tree_get_top (t, NULL, NULL));
  CU_ASSERT_TRUE (is_hole (t, 5));
  cas_tree_set_top (t, &res.top, res.depth);
  CU_ASSERT_TRUE (cas_tree_get_top (t, &top, &depth));
  CU_ASSERT_TRUE (cas_hash_equal (&top, &res.top));
  CU_ASSERT_EQUAL (depth, 0);
  CU_ASSERT_TRUE (has (t, 5, 1));
  CU_ASSERT_TRUE (is_hole (t, 4));
  CU_ASSERT_TRUE (is_hole (t, 6));
  CU_ASSERT_TRUE (is_hole (t, 1024));   /* beyond the tree */

  /* The stored page is exactly what the key says. */
  {
    char key[KEY_MAX];
    uint8_t buf[CAS_PAGE_MAX];
    struct cas_hash h;

    cas_page_key (key, sizeof key, &res.top);
    len = memstore_peek (m, key, buf, sizeof buf);
    CU_ASSERT_EQUAL (len, CAS_PAGE_HEADER + CAS_PAGE_ENTRY);
    cas_hash_of (buf, (size_t) len, &h);
    CU_ASSERT_TRUE (cas_hash_equal (&h, &res.top));
  }

  /* Rewriting the same value changes nothing and writes nothing. */
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (apply (t, &c, 1, 0, &res), 0);
  CU_ASSERT_EQUAL (res.pages_written, 0);
  CU_ASSERT_EQUAL (res.blocks_delta, 0);
  CU_ASSERT_TRUE (cas_hash_equal (&top, &res.top));
  CU_ASSERT_EQUAL (memstore_counts (m).puts, 0);

  /* A new version of the block replaces it. */
  c = put_change (5, 2);
  CU_ASSERT_EQUAL (apply (t, &c, 1, 0, &res), 0);
  CU_ASSERT_EQUAL (res.blocks_delta, 0);
  CU_ASSERT_EQUAL (res.pages_written, 1);
  CU_ASSERT_TRUE (has (t, 5, 2));
  CU_ASSERT_FALSE (has (t, 5, 1));
  cas_tree_free (t);
  store_close (memstore_store (m));
}

/* A random walk over blocks spread across a 100 GiB tree, checked
 * after every round against a shadow copy: lookups, extents (present)
 * and the admin walk agree, and blocks_delta adds up.
 */
#define MODEL_SLOTS 3000
#define MODEL_STRIDE 8737       /* spreads slots over ~26M blocks */

static int
collect_present (void *opaque, uint64_t index)
{
  uint64_t **p = opaque;

  *(*p)++ = index;
  return 0;
}

static void
test_many_blocks (void)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *t = cas_tree_open (memstore_store (m), "disk", CAS_LEAF_HASH, 4 << 20);
  static unsigned shadow[MODEL_SLOTS];  /* 0: hole, else version */
  struct cas_change *c = calloc (MODEL_SLOTS, sizeof *c);
  uint64_t *found = calloc (MODEL_SLOTS, sizeof *found), *fp;
  uint64_t rng = 42, nr_present = 0, blocks = 0;
  unsigned round, i;
  struct cas_update res;
  struct seen s;

  memset (shadow, 0, sizeof shadow);
  for (round = 1; round <= 12; round++) {
    size_t n = 0;

    for (i = 0; i < MODEL_SLOTS; i++) {
      rng = rng * 6364136223846793005u + 1442695040888963407u;
      switch ((rng >> 33) % (round < 4 ? 2 : 5)) {
      case 0:
        c[n++] = put_change ((uint64_t) i * MODEL_STRIDE, round);
        nr_present += shadow[i] == 0;
        shadow[i] = round;
        break;
      case 2:
        c[n++] = hole_change ((uint64_t) i * MODEL_STRIDE);
        nr_present -= shadow[i] != 0;
        shadow[i] = 0;
        break;
      default:
        break;
      }
    }
    CU_ASSERT_EQUAL_FATAL (apply (t, c, n, 2, &res), 0);
    CU_ASSERT_EQUAL (res.depth, 2);
    blocks += (uint64_t) res.blocks_delta;
    CU_ASSERT_EQUAL (blocks, nr_present);
  }
  for (i = 0; i < MODEL_SLOTS; i++) {
    uint64_t idx = (uint64_t) i * MODEL_STRIDE;

    CU_ASSERT_TRUE (shadow[i] ? has (t, idx, shadow[i]) : is_hole (t, idx));
    CU_ASSERT_TRUE (is_hole (t, idx + 1));
  }

  /* Extents of the whole range, then of a middle part. */
  fp = found;
  CU_ASSERT_EQUAL (cas_tree_present (t, 0, BLOCKS_100G, collect_present,
                                     &fp), 0);
  CU_ASSERT_EQUAL ((uint64_t) (fp - found), nr_present);
  for (i = 0, fp = found; i < MODEL_SLOTS; i++)
    if (shadow[i]) {
      CU_ASSERT_EQUAL (*fp, (uint64_t) i * MODEL_STRIDE);
      fp++;
    }
  fp = found;
  CU_ASSERT_EQUAL (cas_tree_present (t, 1000 * MODEL_STRIDE,
                                     500 * MODEL_STRIDE, collect_present,
                                     &fp), 0);
  {
    uint64_t want = 0;

    for (i = 1000; i < 1500; i++)
      want += shadow[i] != 0;
    CU_ASSERT_EQUAL ((uint64_t) (fp - found), want);
  }

  /* The walk sees each block once, in order, and no empty page. */
  CU_ASSERT_EQUAL (walk (m, t, &s, -1), 0);
  CU_ASSERT_EQUAL (s.blocks, nr_present);
  CU_ASSERT_TRUE (s.ordered);
  CU_ASSERT_EQUAL (s.pages_at[2], 1);
  CU_ASSERT (s.pages_at[0] <= nr_present);

  free (c);
  free (found);
  cas_tree_free (t);
  store_close (memstore_store (m));
}

static void
test_holes (void)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *t = cas_tree_open (memstore_store (m), "disk", CAS_LEAF_HASH, 1 << 20);
  struct cas_change c[3] = {
    put_change (3, 1), put_change (5 * 1024 + 1, 1),
    put_change (3 * 1024 * 1024 + 7, 1),
  };
  struct cas_update res;
  struct seen s;

  CU_ASSERT_EQUAL (apply (t, c, 3, 2, &res), 0);
  CU_ASSERT_EQUAL (res.blocks_delta, 3);
  /* top, two level-1 pages, three leaves */
  CU_ASSERT_EQUAL (res.pages_written, 6);
  CU_ASSERT_EQUAL (walk (m, t, &s, -1), 0);
  CU_ASSERT_EQUAL (s.pages, 6);
  CU_ASSERT_EQUAL (s.blocks, 3);

  /* Removing the last block of a leaf removes the leaf, and its
   * parent when that was its only child.
   */
  c[0] = hole_change (3 * 1024 * 1024 + 7);
  CU_ASSERT_EQUAL (apply (t, c, 1, 2, &res), 0);
  CU_ASSERT_EQUAL (res.blocks_delta, -1);
  CU_ASSERT_EQUAL (res.pages_written, 1);       /* only the top */
  CU_ASSERT_EQUAL (walk (m, t, &s, -1), 0);
  CU_ASSERT_EQUAL (s.pages, 4);
  CU_ASSERT_EQUAL (s.pages_at[1], 1);
  CU_ASSERT_TRUE (is_hole (t, 3 * 1024 * 1024 + 7));
  CU_ASSERT_TRUE (has (t, 3, 1));

  c[0] = hole_change (3);
  CU_ASSERT_EQUAL (apply (t, c, 1, 2, &res), 0);
  CU_ASSERT_EQUAL (res.pages_written, 2);       /* level 1 and top */
  CU_ASSERT_EQUAL (walk (m, t, &s, -1), 0);
  CU_ASSERT_EQUAL (s.pages, 3);
  CU_ASSERT_EQUAL (s.pages_at[0], 1);

  /* The last block gone: the empty tree, nothing written. */
  c[0] = hole_change (5 * 1024 + 1);
  CU_ASSERT_EQUAL (apply (t, c, 1, 2, &res), 0);
  CU_ASSERT_TRUE (res.empty);
  CU_ASSERT_EQUAL (res.pages_written, 0);
  CU_ASSERT_EQUAL (res.blocks_delta, -1);
  CU_ASSERT_EQUAL (res.depth, 2);
  CU_ASSERT_FALSE (cas_tree_get_top (t, NULL, NULL));
  CU_ASSERT_TRUE (is_hole (t, 5 * 1024 + 1));
  cas_tree_free (t);
  store_close (memstore_store (m));
}

static void
test_depth_growth (void)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *t = cas_tree_open (memstore_store (m), "disk", CAS_LEAF_HASH, 1 << 20);
  struct cas_change c[2] = { put_change (1, 1), put_change (1000, 1) };
  struct cas_update res;
  struct cas_hash old_top;
  struct seen s;

  CU_ASSERT_EQUAL (apply (t, c, 2, 0, &res), 0);
  CU_ASSERT_EQUAL (res.depth, 0);
  old_top = res.top;

  /* No change but a deeper tree: the old top becomes the leftmost
   * leaf of two new pages.
   */
  CU_ASSERT_EQUAL (apply (t, NULL, 0, 2, &res), 0);
  CU_ASSERT_EQUAL (res.depth, 2);
  CU_ASSERT_EQUAL (res.pages_written, 2);
  CU_ASSERT_EQUAL (res.blocks_delta, 0);
  CU_ASSERT_TRUE (has (t, 1, 1));
  CU_ASSERT_TRUE (has (t, 1000, 1));
  CU_ASSERT_EQUAL (walk (m, t, &s, -1), 0);
  CU_ASSERT_EQUAL (s.pages, 3);
  CU_ASSERT_TRUE (cas_hash_equal (&s.leaf, &old_top));

  /* A block beyond the tree grows it (to depth 3) by itself, and a
   * change under the old top is merged on the way.
   */
  c[0] = put_change (1, 2);
  c[1] = put_change (UINT64_C (1) << 31, 1);
  CU_ASSERT_EQUAL (apply (t, c, 2, 0, &res), 0);
  CU_ASSERT_EQUAL (res.depth, 3);
  CU_ASSERT_EQUAL (res.blocks_delta, 1);
  CU_ASSERT_TRUE (has (t, 1, 2));
  CU_ASSERT_TRUE (has (t, 1000, 1));
  CU_ASSERT_TRUE (has (t, UINT64_C (1) << 31, 1));
  CU_ASSERT_EQUAL (walk (m, t, &s, -1), 0);
  CU_ASSERT_EQUAL (s.blocks, 3);
  CU_ASSERT_EQUAL (s.pages_at[3], 1);

  /* Depth never shrinks, and the deepest tree works. */
  c[0] = put_change (UINT64_MAX, 1);
  CU_ASSERT_EQUAL (apply (t, c, 1, 0, &res), 0);
  CU_ASSERT_EQUAL (res.depth, CAS_DEPTH_MAX);
  CU_ASSERT_TRUE (has (t, UINT64_MAX, 1));
  CU_ASSERT_TRUE (has (t, 1, 2));
  CU_ASSERT_EQUAL (apply (t, NULL, 0, 1, &res), 0);
  CU_ASSERT_EQUAL (res.depth, CAS_DEPTH_MAX);
  CU_ASSERT_EQUAL (res.pages_written, 0);
  cas_tree_free (t);
  store_close (memstore_store (m));
}

/* A 100 GiB export with a block in every leaf and one full leaf. */
static struct cas_tree *
big_export (struct memstore *m, uint64_t cache_bytes)
{
  struct cas_tree *t = cas_tree_open (memstore_store (m), "disk", CAS_LEAF_HASH,
                                      cache_bytes);
  size_t nleaves = BLOCKS_100G / CAS_FANOUT, n = 0, i;
  struct cas_change *c = calloc (nleaves + CAS_FANOUT, sizeof *c);
  struct cas_update res;

  for (i = 0; i < nleaves; i++) {
    if (i == 7000) {
      size_t j;

      for (j = 0; j < CAS_FANOUT; j++)
        c[n++] = put_change (i * CAS_FANOUT + j, 1);
    }
    else
      c[n++] = put_change (i * CAS_FANOUT + i % CAS_FANOUT, 1);
  }
  CU_ASSERT_EQUAL (apply (t, c, n, cas_depth_for (CAS_LEAF_HASH, BLOCKS_100G),
                          &res), 0);
  CU_ASSERT_EQUAL (res.depth, 2);
  CU_ASSERT_EQUAL ((size_t) res.blocks_delta, n);
  free (c);
  return t;
}

static void
test_request_counts (void)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *t = big_export (m, 64 << 20), *fresh;
  struct cas_change c[10];
  struct cas_update res;
  struct cas_hash top;
  unsigned depth, i;

  CU_ASSERT_TRUE_FATAL (cas_tree_get_top (t, &top, &depth));

  /* One block in the full leaf, from a tree opened fresh: 3 GETs (the
   * path), 3 PUTs (the new path), each page at most CAS_PAGE_MAX.
   */
  fresh = cas_tree_open (memstore_store (m), "disk", CAS_LEAF_HASH, 64 << 20);
  cas_tree_set_top (fresh, &top, depth);
  memstore_reset_counts (m);
  c[0] = put_change (7000 * CAS_FANOUT + 5, 2);
  CU_ASSERT_EQUAL (cas_tree_update (fresh, c, 1, 2, NULL, &res), 0);
  CU_ASSERT_EQUAL (res.pages_written, depth + 1);
  CU_ASSERT_EQUAL (memstore_counts (m).puts, 3);
  CU_ASSERT_EQUAL (memstore_counts (m).gets, 3);
  CU_ASSERT (res.page_bytes_written < 300 * 1024);
  CU_ASSERT (res.page_bytes_written <= 3 * CAS_PAGE_MAX);
  /* The full leaf, and the full top page's level 1 child, are large. */
  CU_ASSERT (res.page_bytes_written > CAS_PAGE_MAX);
  {
    struct cas_hash h = res.top;
    char key[KEY_MAX];
    long len;

    cas_page_key (key, sizeof key, &h);
    uint8_t one;

    len = memstore_peek (m, key, &one, 1);
    CU_ASSERT (len > 0 && len <= (long) CAS_PAGE_MAX);
  }
  cas_tree_set_top (fresh, &res.top, res.depth);
  /* The new pages are cached: reading the block back costs nothing. */
  memstore_reset_counts (m);
  CU_ASSERT_TRUE (has (fresh, 7000 * CAS_FANOUT + 5, 2));
  CU_ASSERT_TRUE (has (fresh, 7000 * CAS_FANOUT + 6, 1));
  CU_ASSERT_EQUAL (memstore_counts (m).gets, 0);

  /* k blocks in distinct leaves: at most k * (depth + 1) pages. */
  for (i = 0; i < 10; i++)
    c[i] = put_change ((uint64_t) i * 2500 * CAS_FANOUT + 3, 3);
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (apply (fresh, c, 10, 2, &res), 0);
  CU_ASSERT (res.pages_written <= 10 * 3);
  CU_ASSERT_EQUAL (memstore_counts (m).puts, res.pages_written);
  CU_ASSERT (res.page_bytes_written < 10 * 3 * CAS_PAGE_MAX);
  for (i = 0; i < 10; i++)
    CU_ASSERT_TRUE (has (fresh, (uint64_t) i * 2500 * CAS_FANOUT + 3, 3));
  cas_tree_free (fresh);
  cas_tree_free (t);
  store_close (memstore_store (m));
}

static void
test_fresh_1t_lookup (void)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *t = cas_tree_open (memstore_store (m), "big", CAS_LEAF_HASH, 64 << 20);
  struct cas_change c[4] = {
    put_change (0, 1), put_change (BLOCKS_1T / 3, 1),
    put_change (BLOCKS_1T / 2, 1), put_change (BLOCKS_1T - 1, 1),
  };
  struct cas_update res;
  unsigned i;

  CU_ASSERT_EQUAL (cas_tree_update (t, c, 4,
                                    cas_depth_for (CAS_LEAF_HASH, BLOCKS_1T),
                                    NULL, &res), 0);
  CU_ASSERT_EQUAL (res.depth, 2);
  cas_tree_free (t);

  t = cas_tree_open (memstore_store (m), "big", CAS_LEAF_HASH, 64 << 20);
  cas_tree_set_top (t, &res.top, res.depth);
  memstore_reset_counts (m);
  CU_ASSERT_TRUE (has (t, BLOCKS_1T / 2, 1));
  CU_ASSERT (memstore_counts (m).gets <= 3);
  CU_ASSERT_EQUAL (memstore_counts (m).lists, 0);
  for (i = 0; i < 4; i++) {
    uint64_t before = memstore_counts (m).gets;

    CU_ASSERT_TRUE (has (t, c[i].index, 1));
    CU_ASSERT (memstore_counts (m).gets - before <= 3);
  }
  /* Everything is cached now. */
  memstore_reset_counts (m);
  for (i = 0; i < 4; i++)
    CU_ASSERT_TRUE (has (t, c[i].index, 1));
  CU_ASSERT_TRUE (is_hole (t, 12345));
  CU_ASSERT_EQUAL (memstore_counts (m).gets, 0);
  cas_tree_free (t);
  store_close (memstore_store (m));
}

static void
test_cache_bound (void)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *big = big_export (m, 1 << 20), *t;
  const uint64_t few_pages = 8 * (CAS_PAGE_MAX + 4096);
  struct cas_hash top;
  unsigned depth;
  uint64_t i, max_bytes = 0;

  CU_ASSERT_TRUE_FATAL (cas_tree_get_top (big, &top, &depth));
  CU_ASSERT (cas_tree_cached_bytes (big) <= 1 << 20);

  /* A cache bound below one page still completes lookups. */
  t = cas_tree_open (memstore_store (m), "disk", CAS_LEAF_HASH, 1);
  cas_tree_set_top (t, &top, depth);
  for (i = 0; i < 400; i++) {
    uint64_t leaf = i * 61 % (BLOCKS_100G / CAS_FANOUT);

    CU_ASSERT_TRUE (has (t, leaf * CAS_FANOUT + leaf % CAS_FANOUT, 1));
    if (cas_tree_cached_bytes (t) > max_bytes)
      max_bytes = cas_tree_cached_bytes (t);
  }
  CU_ASSERT (max_bytes <= few_pages);
  CU_ASSERT (max_bytes > 0);
  cas_tree_free (t);

  /* A bound of 1 MiB is kept whatever is read. */
  t = cas_tree_open (memstore_store (m), "disk", CAS_LEAF_HASH, 1 << 20);
  cas_tree_set_top (t, &top, depth);
  for (i = 0; i < 2000; i++) {
    uint64_t leaf = i * 13 % (BLOCKS_100G / CAS_FANOUT);

    CU_ASSERT_TRUE (has (t, leaf * CAS_FANOUT + leaf % CAS_FANOUT, 1));
    CU_ASSERT (cas_tree_cached_bytes (t) <= 1 << 20);
  }
  cas_tree_free (t);
  cas_tree_free (big);
  store_close (memstore_store (m));
}

static void
test_damaged_pages (void)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *t = cas_tree_open (memstore_store (m), "disk", CAS_LEAF_HASH, 1 << 20);
  struct cas_change c[2] = { put_change (3, 1), put_change (5000, 1) };
  struct cas_update res;
  struct cas_hash leaf1, leaf2, top;
  struct cas_value h;
  uint8_t buf[CAS_PAGE_MAX], other[CAS_PAGE_MAX];
  char key[KEY_MAX], key2[KEY_MAX];
  bool present;
  long len, len2;
  struct seen s;

  CU_ASSERT_EQUAL (apply (t, c, 2, 1, &res), 0);
  top = res.top;
  CU_ASSERT_EQUAL (walk (m, t, &s, -1), 0);
  CU_ASSERT_EQUAL (s.pages, 3);

  /* The leaves' hashes, from the top page. */
  cas_page_key (key, sizeof key, &top);
  len = memstore_peek (m, key, buf, sizeof buf);
  {
    struct cas_page p;
    const char *why;

    CU_ASSERT_EQUAL_FATAL (cas_page_decode (buf, (size_t) len, &p, &why), 0);
    CU_ASSERT_EQUAL_FATAL (p.count, 2);
    leaf1 = p.entries[0].hash;
    leaf2 = p.entries[1].hash;
    cas_page_free (&p);
  }

  /* One byte flipped in a leaf: EIO naming the page and the export. */
  cas_page_key (key, sizeof key, &leaf1);
  len = memstore_peek (m, key, buf, sizeof buf);
  buf[len - 1] ^= 1;
  memstore_set (m, key, buf, (size_t) len);
  t = (cas_tree_free (t), cas_tree_open (memstore_store (m), "disk", CAS_LEAF_HASH, 1 << 20));
  cas_tree_set_top (t, &top, 1);
  standin_reset_errors ();
  errno = 0;
  CU_ASSERT_EQUAL (cas_tree_lookup (t, 3, &present, &h), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, key));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "export disk"));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "damaged"));
  /* The other leaf is fine. */
  CU_ASSERT_TRUE (has (t, 5000, 1));

  /* Swapped: a valid page under another page's name. */
  cas_page_key (key2, sizeof key2, &leaf2);
  len2 = memstore_peek (m, key2, other, sizeof other);
  buf[len - 1] ^= 1;
  memstore_set (m, key, other, (size_t) len2);
  memstore_set (m, key2, buf, (size_t) len);
  t = (cas_tree_free (t), cas_tree_open (memstore_store (m), "disk", CAS_LEAF_HASH, 1 << 20));
  cas_tree_set_top (t, &top, 1);
  CU_ASSERT_EQUAL (cas_tree_lookup (t, 3, &present, &h), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "does not match"));
  CU_ASSERT_EQUAL (cas_tree_lookup (t, 5000, &present, &h), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_EQUAL (walk (m, t, &s, -1), -1);
  CU_ASSERT_EQUAL (errno, EIO);

  /* Too long: damaged, not a buffer overrun (much longer is the
   * store's EIO, which real stores name).
   */
  {
    uint8_t *huge = calloc (1, CAS_PAGE_MAX + 100);

    memstore_set (m, key, huge, CAS_PAGE_MAX + 1);
    CU_ASSERT_EQUAL (cas_tree_lookup (t, 3, &present, &h), -1);
    CU_ASSERT_EQUAL (errno, EIO);
    CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "longer"));
    memstore_set (m, key, huge, CAS_PAGE_MAX + 100);
    CU_ASSERT_EQUAL (cas_tree_lookup (t, 3, &present, &h), -1);
    CU_ASSERT_EQUAL (errno, EIO);
    free (huge);
  }

  /* Missing: EIO for a lookup, ENOENT for the walk, both named. */
  memstore_set (m, key2, other, (size_t) len2);   /* leaf2 right again */
  store_delete (memstore_store (m), key);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (cas_tree_lookup (t, 3, &present, &h), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error,
                                  "export disk: map page "));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, key));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "is missing"));
  CU_ASSERT_EQUAL (walk (m, t, &s, -1), -1);
  CU_ASSERT_EQUAL (errno, ENOENT);
  /* An update through the missing page fails too, writing nothing. */
  c[0] = put_change (4, 1);
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (cas_tree_update (t, c, 1, 1, NULL, &res), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_EQUAL (memstore_counts (m).puts, 0);
  cas_tree_free (t);
  store_close (memstore_store (m));
}

static void
test_walk_skip (void)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *t = cas_tree_open (memstore_store (m), "disk", CAS_LEAF_HASH, 1 << 20);
  struct cas_change c[5];
  struct seen s;
  unsigned i;

  for (i = 0; i < 5; i++)
    c[i] = put_change ((uint64_t) i * 1024 * 1024 + i, 1);
  CU_ASSERT_EQUAL (apply (t, c, 5, 2, NULL), 0);
  CU_ASSERT_EQUAL (walk (m, t, &s, -1), 0);
  CU_ASSERT_EQUAL (s.pages, 11);
  CU_ASSERT_EQUAL (s.blocks, 5);
  CU_ASSERT_TRUE (s.ordered);
  CU_ASSERT (s.page_bytes > 0);
  /* Skipping at level 1: its leaves are neither read nor reported. */
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (walk (m, t, &s, 1), 0);
  CU_ASSERT_EQUAL (s.pages, 6);
  CU_ASSERT_EQUAL (s.blocks, 0);
  CU_ASSERT_EQUAL (memstore_counts (m).gets, 6);
  /* Skipping the top reads one page. */
  CU_ASSERT_EQUAL (walk (m, t, &s, 2), 0);
  CU_ASSERT_EQUAL (s.pages, 1);
  cas_tree_free (t);
  store_close (memstore_store (m));
}

static int
refuse (void *opaque)
{
  (void) opaque;
  return ESTALE;
}

static void
test_update_failures (void)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *t = cas_tree_open (memstore_store (m), "disk", CAS_LEAF_HASH, 1 << 20);
  struct cas_change c[2] = { put_change (9, 1), put_change (8, 1) };
  const struct store_gate gate = { refuse, NULL };
  struct cas_update res;
  struct cas_hash top;

  /* Unsorted or repeated changes are the caller's bug. */
  CU_ASSERT_EQUAL (cas_tree_update (t, c, 2, 0, NULL, &res), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  c[1] = c[0];
  CU_ASSERT_EQUAL (cas_tree_update (t, c, 2, 0, NULL, &res), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);

  CU_ASSERT_EQUAL (apply (t, c, 1, 1, &res), 0);
  top = res.top;
  /* A failed PUT fails the update; the served tree is unchanged. */
  c[0] = put_change (9, 2);
  memstore_fail (m, STORE_PUT, -1, EIO);
  CU_ASSERT_EQUAL (cas_tree_update (t, c, 1, 1, NULL, &res), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  memstore_fail (m, STORE_PUT, 0, 0);
  /* The gate refuses: its errno, no PUT. */
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (cas_tree_update (t, c, 1, 1, &gate, &res), -1);
  CU_ASSERT_EQUAL (errno, ESTALE);
  CU_ASSERT_TRUE (has (t, 9, 1));
  CU_ASSERT_TRUE (cas_tree_get_top (t, &res.top, NULL));
  CU_ASSERT_TRUE (cas_hash_equal (&res.top, &top));
  /* And it works once the store does. */
  CU_ASSERT_EQUAL (apply (t, c, 1, 1, &res), 0);
  CU_ASSERT_TRUE (has (t, 9, 2));
  cas_tree_free (t);
  store_close (memstore_store (m));
}

/* The server gone after each single request of an update: the update
 * fails, and the old tree (what the last root names) still reads whole
 * from a fresh server.  The pages of a failed update are harmless
 * garbage: nothing names them.
 */
static void
test_update_crash (void)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *t = cas_tree_open (memstore_store (m), "disk", CAS_LEAF_HASH, 1 << 20);
  struct cas_change c[40];
  struct cas_update res;
  struct cas_hash top;
  int64_t k;
  unsigned i;
  bool done = false;

  for (i = 0; i < 40; i++)
    c[i] = put_change ((uint64_t) i * 40000, 1);
  CU_ASSERT_EQUAL_FATAL (apply (t, c, 40, 2, NULL), 0);
  CU_ASSERT_TRUE (cas_tree_get_top (t, &top, NULL));
  for (i = 0; i < 40; i++)
    c[i] = put_change ((uint64_t) i * 40000 + 1, 2);
  for (k = 0; k < 200 && !done; k++) {
    struct cas_tree *fresh = cas_tree_open (memstore_store (m), "disk", CAS_LEAF_HASH, 1);

    cas_tree_set_top (fresh, &top, 2);
    memstore_crash_after (m, k);
    done = cas_tree_update (fresh, c, 40, 2, NULL, &res) == 0;
    memstore_crash_after (m, -1);
    cas_tree_free (fresh);

    fresh = cas_tree_open (memstore_store (m), "disk", CAS_LEAF_HASH, 1);
    cas_tree_set_top (fresh, &top, 2);
    for (i = 0; i < 40; i++) {
      CU_ASSERT_TRUE (has (fresh, (uint64_t) i * 40000, 1));
      CU_ASSERT_TRUE (is_hole (fresh, (uint64_t) i * 40000 + 1));
    }
    if (done) {
      /* Complete: the new tree reads whole too. */
      cas_tree_set_top (fresh, &res.top, res.depth);
      for (i = 0; i < 40; i++)
        CU_ASSERT_TRUE (has (fresh, (uint64_t) i * 40000 + 1, 2));
    }
    cas_tree_free (fresh);
  }
  CU_ASSERT_TRUE (done);
  CU_ASSERT (k > 40);          /* every GET and PUT was a crash point */
  cas_tree_free (t);
  store_close (memstore_store (m));
}

/* Lookups from several threads through a tiny cache. */
struct reader {
  struct cas_tree *t;
  unsigned id, errors;
};

static void *
reader_thread (void *arg)
{
  struct reader *r = arg;
  uint64_t i;

  for (i = 0; i < 300; i++) {
    uint64_t leaf = (i * 7 + r->id * 1000) % 2048;

    if (!has (r->t, leaf * CAS_FANOUT + 1, 1))
      r->errors++;
  }
  return NULL;
}

static void
test_threads (void)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *t = cas_tree_open (memstore_store (m), "disk", CAS_LEAF_HASH, 1);
  struct cas_change *c = calloc (2048, sizeof *c);
  struct reader r[4];
  pthread_t th[4];
  unsigned i;

  for (i = 0; i < 2048; i++)
    c[i] = put_change ((uint64_t) i * CAS_FANOUT + 1, 1);
  CU_ASSERT_EQUAL (apply (t, c, 2048, 2, NULL), 0);
  for (i = 0; i < 4; i++) {
    r[i] = (struct reader) { t, i, 0 };
    pthread_create (&th[i], NULL, reader_thread, &r[i]);
  }
  for (i = 0; i < 4; i++) {
    pthread_join (th[i], NULL);
    CU_ASSERT_EQUAL (r[i].errors, 0);
  }
  free (c);
  cas_tree_free (t);
  store_close (memstore_store (m));
}

static void
sample_root (struct cas_root *r)
{
  memset (r, 0, sizeof *r);
  r->kind = CAS_ROOT_EXPORT;
  strcpy (r->name, "disk");
  CU_ASSERT_EQUAL (cas_new_incarnation (r->incarnation), 0);
  r->size = GIB;
  r->block_size = 4096;
  r->depth = 1;
  r->empty = true;
  r->created = r->committed = 1700000000;
  r->reuse_window_s = 1800;
  r->commit_bound_s = 300;
}

static void
test_roots (void)
{
  struct memstore *m = memstore_new ();
  struct store *st = memstore_store (m);
  const struct store_gate gate = { refuse, NULL };
  struct cas_root r, back;
  char etag[STORE_ETAG_MAX], etag2[STORE_ETAG_MAX], key[KEY_MAX];
  bool found = true;

  cas_root_key (key, sizeof key, "disk");
  standin_reset_errors ();
  CU_ASSERT_EQUAL (cas_root_read (st, key, &back, etag, &found), 0);
  CU_ASSERT_FALSE (found);
  CU_ASSERT_EQUAL (standin_error_count, 0);

  sample_root (&r);
  CU_ASSERT_EQUAL (cas_root_write_etag (st, key, &r, STORE_CREATE_ONLY,
                                        NULL, NULL, etag), 0);
  CU_ASSERT (etag[0] != '\0');
  CU_ASSERT_EQUAL (cas_root_read (st, key, &back, etag2, &found), 0);
  CU_ASSERT_TRUE (found);
  CU_ASSERT_STRING_EQUAL (etag, etag2);
  CU_ASSERT_STRING_EQUAL (back.name, "disk");
  CU_ASSERT_STRING_EQUAL (back.incarnation, r.incarnation);
  CU_ASSERT_TRUE (back.empty);

  /* A second creation, and a commit against a stale ETag, are refused
   * quietly; the right ETag commits.
   */
  CU_ASSERT_EQUAL (cas_root_write (st, key, &r, STORE_CREATE_ONLY, NULL,
                                   NULL), EEXIST);
  r.generation = 1;
  r.blocks = 1;
  r.empty = false;
  cas_hash_of ("x", 1, &r.top);
  CU_ASSERT_EQUAL (cas_root_write_etag (st, key, &r, STORE_IF_MATCH, etag,
                                        NULL, etag2), 0);
  CU_ASSERT_STRING_NOT_EQUAL (etag, etag2);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (cas_root_write (st, key, &r, STORE_IF_MATCH, etag, NULL),
                   ESTALE);
  CU_ASSERT_EQUAL (standin_error_count, 0);
  CU_ASSERT_EQUAL (cas_root_read (st, key, &back, NULL, &found), 0);
  CU_ASSERT_TRUE (found);
  CU_ASSERT_EQUAL (back.generation, 1);
  CU_ASSERT_TRUE (cas_hash_equal (&back.top, &r.top));

  /* The gate: refused before any request. */
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (cas_root_write (st, key, &r, STORE_ALWAYS, NULL, &gate),
                   ESTALE);
  CU_ASSERT_EQUAL (memstore_counts (m).puts, 0);

  /* Damaged: the key and what is wrong. */
  memstore_set (m, key, "s3blocks-cas-root 1\nkind export\n", 31);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (cas_root_read (st, key, &back, NULL, &found), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "cas/roots/disk"));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "lacks name"));
  {
    char *huge = malloc (CAS_ROOT_MAX + 1);

    memset (huge, 'a', CAS_ROOT_MAX + 1);
    memstore_set (m, key, huge, CAS_ROOT_MAX + 1);
    free (huge);
  }
  CU_ASSERT_EQUAL (cas_root_read (st, key, &back, NULL, &found), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "longer"));

  /* A snapshot's root under its key. */
  r.kind = CAS_ROOT_SNAPSHOT;
  strcpy (r.name, "disk@mon");
  strcpy (r.parent, "disk");
  cas_root_key_of (key, sizeof key, "disk@mon");
  CU_ASSERT_EQUAL (cas_root_write (st, key, &r, STORE_CREATE_ONLY, NULL,
                                   NULL), 0);
  CU_ASSERT_EQUAL (cas_root_read (st, "cas/snaps/disk/mon", &back, NULL,
                                  &found), 0);
  CU_ASSERT_TRUE (found);
  CU_ASSERT_EQUAL (back.kind, CAS_ROOT_SNAPSHOT);
  CU_ASSERT_STRING_EQUAL (back.parent, "disk");
  store_close (st);
}

UNIT_SUITES (add_cas_tree_tests)
{
  CU_pSuite s = CU_add_suite ("cas-tree", NULL, NULL);

  CU_add_test (s, "empty tree", test_empty);
  CU_add_test (s, "single block", test_single_block);
  CU_add_test (s, "many blocks against a model", test_many_blocks);
  CU_add_test (s, "holes remove pages", test_holes);
  CU_add_test (s, "depth growth", test_depth_growth);
  CU_add_test (s, "request counts, 100 GiB", test_request_counts);
  CU_add_test (s, "fresh 1 TiB lookup", test_fresh_1t_lookup);
  CU_add_test (s, "cache bound", test_cache_bound);
  CU_add_test (s, "damaged and missing pages", test_damaged_pages);
  CU_add_test (s, "walk and skip", test_walk_skip);
  CU_add_test (s, "update failures", test_update_failures);
  CU_add_test (s, "crash at every request of an update",
               test_update_crash);
  CU_add_test (s, "threads", test_threads);
  CU_add_test (s, "roots", test_roots);
}
