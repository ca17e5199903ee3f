/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the cas map tree (cas-tree.c, cas-tree-update.c,
 * cas-pagecache.c) against the in-memory store, counting requests:
 * updates write only the changed paths, lookups of a fresh tree cost
 * depth + 1 GETs, the cache stays bounded.  Every test runs for a tree
 * of hash leaves (suite cas-tree) and one of location leaves
 * (cas-tree-location: log leaves of 4096 slots), its blocks placed by
 * the kind's geometry (cas-tree-fixture.h).  Damage, failures, crashes
 * and roots: test-cas-tree-faults.c.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <CUnit/CUnit.h>

#include "cas-tree-fixture.h"
#include "memstore.h"
#include "nbdkit-standin.h"
#include "tests.h"

/* The leaf that big_export fills: the 7000th of a cas tree, the same
 * blocks in a log tree (its 1750th leaf).
 */
static size_t
full_leaf (void)
{
  return 7000 * CAS_FANOUT / leaf_span ();
}

static void
test_empty (void)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *t = open_tree (m, "disk", 1 << 20);
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
  struct cas_tree *t = open_tree (m, "disk", 1 << 20);
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
  CU_ASSERT_EQUAL (res.page_bytes_written, leaf_len (1));
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
  CU_ASSERT_TRUE (is_hole (t, leaf_span ()));   /* beyond the tree */

  /* The stored page is exactly what the key says. */
  {
    char key[KEY_MAX];
    static uint8_t buf[CAS_ANY_PAGE_MAX];
    struct cas_hash h;

    cas_page_key (key, sizeof key, &res.top);
    len = memstore_peek (m, key, buf, sizeof buf);
    CU_ASSERT_EQUAL (len, (long) leaf_len (1));
    cas_hash_of (buf, (size_t) len, &h);
    CU_ASSERT_TRUE (cas_hash_equal (&h, &res.top));
    /* A leaf of the tree's kind. */
    CU_ASSERT_EQUAL (memcmp (buf, tree_kind == CAS_LEAF_LOCATION
                             ? LOG_LEAF_MAGIC : CAS_PAGE_MAGIC, 8), 0);
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
  struct cas_tree *t = open_tree (m, "disk", 4 << 20);
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
  CU_ASSERT_TRUE (s.values_ok);
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
  struct cas_tree *t = open_tree (m, "disk", 1 << 20);
  struct cas_change c[3] = {
    put_change (3, 1), put_change (5 * leaf_span () + 1, 1),
    put_change (3 * mid_span () + 7, 1),
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
  c[0] = hole_change (3 * mid_span () + 7);
  CU_ASSERT_EQUAL (apply (t, c, 1, 2, &res), 0);
  CU_ASSERT_EQUAL (res.blocks_delta, -1);
  CU_ASSERT_EQUAL (res.pages_written, 1);       /* only the top */
  CU_ASSERT_EQUAL (walk (m, t, &s, -1), 0);
  CU_ASSERT_EQUAL (s.pages, 4);
  CU_ASSERT_EQUAL (s.pages_at[1], 1);
  CU_ASSERT_TRUE (is_hole (t, 3 * mid_span () + 7));
  CU_ASSERT_TRUE (has (t, 3, 1));

  c[0] = hole_change (3);
  CU_ASSERT_EQUAL (apply (t, c, 1, 2, &res), 0);
  CU_ASSERT_EQUAL (res.pages_written, 2);       /* level 1 and top */
  CU_ASSERT_EQUAL (walk (m, t, &s, -1), 0);
  CU_ASSERT_EQUAL (s.pages, 3);
  CU_ASSERT_EQUAL (s.pages_at[0], 1);

  /* The last block gone: the empty tree, nothing written. */
  c[0] = hole_change (5 * leaf_span () + 1);
  CU_ASSERT_EQUAL (apply (t, c, 1, 2, &res), 0);
  CU_ASSERT_TRUE (res.empty);
  CU_ASSERT_EQUAL (res.pages_written, 0);
  CU_ASSERT_EQUAL (res.blocks_delta, -1);
  CU_ASSERT_EQUAL (res.depth, 2);
  CU_ASSERT_FALSE (cas_tree_get_top (t, NULL, NULL));
  CU_ASSERT_TRUE (is_hole (t, 5 * leaf_span () + 1));
  cas_tree_free (t);
  store_close (memstore_store (m));
}

static void
test_depth_growth (void)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *t = open_tree (m, "disk", 1 << 20);
  struct cas_change c[2] = { put_change (1, 1), put_change (1000, 1) };
  struct cas_update res;
  struct cas_hash old_top;
  struct seen s;
  /* Just beyond a tree of depth 2. */
  const uint64_t far = (uint64_t) 2 << cas_level_shift (tree_kind, 3);

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
  c[1] = put_change (far, 1);
  CU_ASSERT_EQUAL (apply (t, c, 2, 0, &res), 0);
  CU_ASSERT_EQUAL (res.depth, 3);
  CU_ASSERT_EQUAL (res.blocks_delta, 1);
  CU_ASSERT_TRUE (has (t, 1, 2));
  CU_ASSERT_TRUE (has (t, 1000, 1));
  CU_ASSERT_TRUE (has (t, far, 1));
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
  struct cas_tree *t = open_tree (m, "disk", cache_bytes);
  size_t nleaves = BLOCKS_100G / leaf_span (), n = 0, i;
  struct cas_change *c = calloc (nleaves + leaf_span (), sizeof *c);
  struct cas_update res;

  for (i = 0; i < nleaves; i++) {
    if (i == full_leaf ()) {
      size_t j;

      for (j = 0; j < leaf_span (); j++)
        c[n++] = put_change (i * leaf_span () + j, 1);
    }
    else
      c[n++] = put_change (i * leaf_span () + i % leaf_span (), 1);
  }
  CU_ASSERT_EQUAL (apply (t, c, n, cas_depth_for (tree_kind, BLOCKS_100G),
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
   * path), 3 PUTs (the new path), each page at most a full one.
   */
  fresh = open_tree (m, "disk", 64 << 20);
  cas_tree_set_top (fresh, &top, depth);
  memstore_reset_counts (m);
  c[0] = put_change (full_leaf () * leaf_span () + 5, 2);
  CU_ASSERT_EQUAL (cas_tree_update (fresh, c, 1, 2, NULL, &res), 0);
  CU_ASSERT_EQUAL (res.pages_written, depth + 1);
  CU_ASSERT_EQUAL (memstore_counts (m).puts, 3);
  CU_ASSERT_EQUAL (memstore_counts (m).gets, 3);
  CU_ASSERT (res.page_bytes_written < 300 * 1024);
  CU_ASSERT (res.page_bytes_written <= 2 * CAS_PAGE_MAX + leaf_max ());
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
  CU_ASSERT_TRUE (has (fresh, full_leaf () * leaf_span () + 5, 2));
  CU_ASSERT_TRUE (has (fresh, full_leaf () * leaf_span () + 6, 1));
  CU_ASSERT_EQUAL (memstore_counts (m).gets, 0);

  /* k blocks in distinct leaves: at most k * (depth + 1) pages. */
  for (i = 0; i < 10; i++)
    c[i] = put_change ((uint64_t) i * 2500 * leaf_span () + 3, 3);
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (apply (fresh, c, 10, 2, &res), 0);
  CU_ASSERT (res.pages_written <= 10 * 3);
  CU_ASSERT_EQUAL (memstore_counts (m).puts, res.pages_written);
  CU_ASSERT (res.page_bytes_written < 10 * 3 * CAS_PAGE_MAX);
  for (i = 0; i < 10; i++)
    CU_ASSERT_TRUE (has (fresh, (uint64_t) i * 2500 * leaf_span () + 3, 3));
  cas_tree_free (fresh);
  cas_tree_free (t);
  store_close (memstore_store (m));
}

static void
test_fresh_1t_lookup (void)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *t = open_tree (m, "big", 64 << 20);
  struct cas_change c[4] = {
    put_change (0, 1), put_change (BLOCKS_1T / 3, 1),
    put_change (BLOCKS_1T / 2, 1), put_change (BLOCKS_1T - 1, 1),
  };
  struct cas_update res;
  unsigned i;

  CU_ASSERT_EQUAL (cas_tree_update (t, c, 4,
                                    cas_depth_for (tree_kind, BLOCKS_1T),
                                    NULL, &res), 0);
  CU_ASSERT_EQUAL (res.depth, 2);
  cas_tree_free (t);

  t = open_tree (m, "big", 64 << 20);
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
  /* One full page a level, the deepest tree's. */
  const uint64_t few_pages = CAS_DEPTH_MAX * full_page_memory () +
    full_leaf_memory ();
  struct cas_hash top;
  unsigned depth;
  uint64_t i, max_bytes = 0;

  CU_ASSERT_TRUE_FATAL (cas_tree_get_top (big, &top, &depth));
  CU_ASSERT (cas_tree_cached_bytes (big) <= 1 << 20);

  /* A cache bound below one page still completes lookups. */
  t = open_tree (m, "disk", 1);
  cas_tree_set_top (t, &top, depth);
  for (i = 0; i < 400; i++) {
    uint64_t leaf = i * 61 % (BLOCKS_100G / leaf_span ());

    CU_ASSERT_TRUE (has (t, leaf * leaf_span () + leaf % leaf_span (), 1));
    if (cas_tree_cached_bytes (t) > max_bytes)
      max_bytes = cas_tree_cached_bytes (t);
  }
  CU_ASSERT (max_bytes <= few_pages);
  CU_ASSERT (max_bytes > 0);
  cas_tree_free (t);

  /* A bound of 1 MiB is kept whatever is read. */
  t = open_tree (m, "disk", 1 << 20);
  cas_tree_set_top (t, &top, depth);
  for (i = 0; i < 2000; i++) {
    uint64_t leaf = i * 13 % (BLOCKS_100G / leaf_span ());

    CU_ASSERT_TRUE (has (t, leaf * leaf_span () + leaf % leaf_span (), 1));
    CU_ASSERT (cas_tree_cached_bytes (t) <= 1 << 20);
  }
  cas_tree_free (t);
  cas_tree_free (big);
  store_close (memstore_store (m));
}

static void
test_walk_skip (void)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *t = open_tree (m, "disk", 1 << 20);
  struct cas_change c[5];
  struct seen s;
  unsigned i;

  for (i = 0; i < 5; i++)
    c[i] = put_change ((uint64_t) i * mid_span () + i, 1);
  CU_ASSERT_EQUAL (apply (t, c, 5, 2, NULL), 0);
  CU_ASSERT_EQUAL (walk (m, t, &s, -1), 0);
  CU_ASSERT_EQUAL (s.pages, 11);
  CU_ASSERT_EQUAL (s.blocks, 5);
  CU_ASSERT_TRUE (s.ordered);
  CU_ASSERT_TRUE (s.values_ok);
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

    if (!has (r->t, leaf * leaf_span () + 1, 1))
      r->errors++;
  }
  return NULL;
}

static void
test_threads (void)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *t = open_tree (m, "disk", 1);
  struct cas_change *c = calloc (2048, sizeof *c);
  struct reader r[4];
  pthread_t th[4];
  unsigned i;

  for (i = 0; i < 2048; i++)
    c[i] = put_change ((uint64_t) i * leaf_span () + 1, 1);
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

/* Readers that miss the same pages at once send one GET a page: the
 * first to miss fetches, the others wait for it and share its outcome.
 * The store's hook starts them while the first reader's first GET is
 * in flight, and holds that GET until all of them wait for it (at most
 * 5 s).
 */
#define SAME_PAGE_READERS 7

struct same_page {
  struct cas_tree *t;
  uint64_t block;
  pthread_t th[SAME_PAGE_READERS];
  bool started[SAME_PAGE_READERS];
  size_t waited;                /* readers waiting when the GET went on */
  int result[SAME_PAGE_READERS];
  int err[SAME_PAGE_READERS];
};

static struct same_page *same_page_of_thread;

static void *
same_page_reader (void *arg)
{
  struct same_page *sp = same_page_of_thread;
  const size_t i = (uintptr_t) arg;
  struct cas_value v;
  bool present;

  errno = 0;
  sp->result[i] = cas_tree_lookup (sp->t, sp->block, &present, &v);
  sp->err[i] = errno;
  if (sp->result[i] == 0 && !present)
    sp->result[i] = 1;
  return NULL;
}

static void
start_same_page_readers (void *opaque)
{
  struct same_page *sp = opaque;
  const struct timespec tick = { 0, 10 * 1000 * 1000 };

  same_page_of_thread = sp;
  for (uintptr_t i = 0; i < SAME_PAGE_READERS; i++)
    sp->started[i] = pthread_create (&sp->th[i], NULL, same_page_reader,
                                     (void *) i) == 0;
  for (unsigned ms = 0;
       ms < 5000 && cas_tree_waiting (sp->t) < SAME_PAGE_READERS; ms += 10)
    nanosleep (&tick, NULL);
  sp->waited = cas_tree_waiting (sp->t);
}

static void
same_page_run (bool fail)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *t = open_tree (m, "disk", 64 << 20), *fresh;
  struct cas_change c = put_change (3 * leaf_span () + 9, 1);
  struct same_page sp;
  struct cas_hash top;
  struct cas_value v;
  unsigned depth;
  bool present;

  CU_ASSERT_EQUAL_FATAL (apply (t, &c, 1, 2, NULL), 0);
  CU_ASSERT_TRUE_FATAL (cas_tree_get_top (t, &top, &depth));
  fresh = open_tree (m, "disk", 64 << 20);
  cas_tree_set_top (fresh, &top, depth);
  memset (&sp, 0, sizeof sp);
  sp.t = fresh;
  sp.block = 3 * leaf_span () + 9;
  memstore_reset_counts (m);
  memstore_set_hook (m, start_same_page_readers, &sp);
  if (fail)
    memstore_fail (m, STORE_GET, 1, EIO);

  CU_ASSERT_EQUAL (cas_tree_lookup (fresh, sp.block, &present, &v),
                   fail ? -1 : 0);
  /* Every reader waited for the first one's GET of the top page. */
  CU_ASSERT_EQUAL (sp.waited, SAME_PAGE_READERS);
  for (size_t i = 0; i < SAME_PAGE_READERS; i++) {
    CU_ASSERT_TRUE_FATAL (sp.started[i]);
    pthread_join (sp.th[i], NULL);
    if (fail) {
      /* They took its error: none fetched again. */
      CU_ASSERT_EQUAL (sp.result[i], -1);
      CU_ASSERT_EQUAL (sp.err[i], EIO);
    }
    else
      CU_ASSERT_EQUAL (sp.result[i], 0);
  }
  /* One GET a page of the path, however many missed it (a failed GET
   * counts nowhere).
   */
  CU_ASSERT_EQUAL (memstore_counts (m).gets, fail ? 0 : depth + 1);
  cas_tree_free (fresh);
  cas_tree_free (t);
  store_close (memstore_store (m));
}

static void
test_same_page_once (void)
{
  same_page_run (false);
}

static void
test_same_page_failure_shared (void)
{
  same_page_run (true);
}

static int
use_hash_leaves (void)
{
  tree_kind = CAS_LEAF_HASH;
  return 0;
}

static int
use_location_leaves (void)
{
  tree_kind = CAS_LEAF_LOCATION;
  return 0;
}

UNIT_SUITES (add_cas_tree_tests)
{
  static const struct {
    const char *name;
    int (*init) (void);
  } kinds[] = {
    { "cas-tree", use_hash_leaves },
    { "cas-tree-location", use_location_leaves },
  };

  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    CU_pSuite s = CU_add_suite (kinds[k].name, kinds[k].init, NULL);

    CU_add_test (s, "empty tree", test_empty);
    CU_add_test (s, "single block", test_single_block);
    CU_add_test (s, "many blocks against a model", test_many_blocks);
    CU_add_test (s, "holes remove pages", test_holes);
    CU_add_test (s, "depth growth", test_depth_growth);
    CU_add_test (s, "request counts, 100 GiB", test_request_counts);
    CU_add_test (s, "fresh 1 TiB lookup", test_fresh_1t_lookup);
    CU_add_test (s, "cache bound", test_cache_bound);
    CU_add_test (s, "walk and skip", test_walk_skip);
    CU_add_test (s, "threads", test_threads);
    CU_add_test (s, "readers of one cold page send one GET",
                 test_same_page_once);
    CU_add_test (s, "readers of a failed page share its error",
                 test_same_page_failure_shared);
    add_cas_tree_fault_tests (s);
  }
}
