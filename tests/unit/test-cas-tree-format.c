/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the map tree of either leaf kind
 * (cas-tree-format.h): where a block sits in a tree of hash leaves
 * (1024 slots) and of location leaves (4096), at the extremes of the
 * block numbers, the depths that cover them up to 2^64, and pages of
 * either kind decoded where the tree expects one or the other.
 */

#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "format/cas-tree-format.h"
#include "tests.h"

#define H CAS_LEAF_HASH
#define L CAS_LEAF_LOCATION

static void
test_shape (void)
{
  CU_ASSERT_EQUAL (cas_leaf_bits (H), 10);
  CU_ASSERT_EQUAL (cas_leaf_bits (L), 12);
  CU_ASSERT_EQUAL (cas_fanout_at (H, 0), 1024);
  CU_ASSERT_EQUAL (cas_fanout_at (L, 0), 4096);
  for (unsigned level = 1; level <= CAS_DEPTH_MAX; level++) {
    CU_ASSERT_EQUAL (cas_fanout_at (H, level), 1024);
    CU_ASSERT_EQUAL (cas_fanout_at (L, level), 1024);
    CU_ASSERT_EQUAL (cas_level_shift (H, level), 10 * level);
    CU_ASSERT_EQUAL (cas_level_shift (L, level), 12 + 10 * (level - 1));
  }
  CU_ASSERT_EQUAL (cas_level_shift (H, 0), 0);
  CU_ASSERT_EQUAL (cas_level_shift (L, 0), 0);
  CU_ASSERT_EQUAL (cas_page_max_at (H, 0), CAS_PAGE_MAX);
  CU_ASSERT_EQUAL (cas_page_max_at (L, 0), LOG_LEAF_MAX);
  CU_ASSERT_EQUAL (cas_page_max_at (L, 1), CAS_PAGE_MAX);
}

static void
test_slots (void)
{
  /* Block 0x1_2345_6789: its slots, leaf first. */
  const uint64_t b = UINT64_C (0x123456789);

  CU_ASSERT_EQUAL (cas_slot_of (H, b, 0), b & 1023);
  CU_ASSERT_EQUAL (cas_slot_of (H, b, 1), (b >> 10) & 1023);
  CU_ASSERT_EQUAL (cas_slot_of (H, b, 2), (b >> 20) & 1023);
  CU_ASSERT_EQUAL (cas_slot_of (H, b, 3), (b >> 30) & 1023);
  CU_ASSERT_EQUAL (cas_slot_of (L, b, 0), b & 4095);
  CU_ASSERT_EQUAL (cas_slot_of (L, b, 1), (b >> 12) & 1023);
  CU_ASSERT_EQUAL (cas_slot_of (L, b, 2), (b >> 22) & 1023);
  CU_ASSERT_EQUAL (cas_slot_of (L, b, 3), (b >> 32) & 1023);

  /* The last block: every slot full, up to the top of the deepest
   * tree, where only the bits left over count (4 of a hash tree's, 2 of
   * a log tree's).
   */
  for (unsigned level = 0; level < CAS_DEPTH_MAX; level++) {
    CU_ASSERT_EQUAL (cas_slot_of (H, UINT64_MAX, level),
                     cas_fanout_at (H, level) - 1);
    CU_ASSERT_EQUAL (cas_slot_of (L, UINT64_MAX, level),
                     cas_fanout_at (L, level) - 1);
  }
  CU_ASSERT_EQUAL (cas_slot_of (H, UINT64_MAX, CAS_DEPTH_MAX), 15);
  CU_ASSERT_EQUAL (cas_slot_of (L, UINT64_MAX, CAS_DEPTH_MAX), 3);
  CU_ASSERT_EQUAL (cas_slot_of (H, 0, CAS_DEPTH_MAX), 0);
  /* Past the deepest tree (a depth no root has): all shifted out. */
  CU_ASSERT_EQUAL (cas_slot_of (L, UINT64_MAX, CAS_DEPTH_MAX + 1), 0);

  /* Pages: blocks under one page at a level share its number. */
  CU_ASSERT_EQUAL (cas_page_number (H, 1023, 0), 0);
  CU_ASSERT_EQUAL (cas_page_number (H, 1024, 0), 1);
  CU_ASSERT_EQUAL (cas_page_number (L, 4095, 0), 0);
  CU_ASSERT_EQUAL (cas_page_number (L, 4096, 0), 1);
  CU_ASSERT_EQUAL (cas_page_number (L, UINT64_C (1) << 22, 1), 1);
  CU_ASSERT_EQUAL (cas_page_number (H, UINT64_MAX, CAS_DEPTH_MAX), 0);
  CU_ASSERT_EQUAL (cas_page_number (L, UINT64_MAX, CAS_DEPTH_MAX), 0);
  CU_ASSERT_EQUAL (cas_page_number (H, UINT64_MAX, CAS_DEPTH_MAX - 1), 15);
  CU_ASSERT_EQUAL (cas_page_number (L, UINT64_MAX, CAS_DEPTH_MAX - 1), 3);
}

static void
test_slot_first (void)
{
  uint64_t first;

  CU_ASSERT_TRUE (cas_slot_first (H, 0, 0, 5, &first));
  CU_ASSERT_EQUAL (first, 5);
  CU_ASSERT_TRUE (cas_slot_first (L, 8192, 1, 3, &first));
  CU_ASSERT_EQUAL (first, 8192 + 3 * 4096);
  CU_ASSERT_TRUE (cas_slot_first (H, 0, 2, 7, &first));
  CU_ASSERT_EQUAL (first, UINT64_C (7) << 20);
  CU_ASSERT_TRUE (cas_slot_first (L, 0, 2, 7, &first));
  CU_ASSERT_EQUAL (first, UINT64_C (7) << 22);

  /* The top of the deepest trees: the last slot that holds blocks, and
   * the first past 2^64 (only a page that lies names it).
   */
  CU_ASSERT_TRUE (cas_slot_first (H, 0, CAS_DEPTH_MAX, 15, &first));
  CU_ASSERT_EQUAL (first, UINT64_C (15) << 60);
  CU_ASSERT_FALSE (cas_slot_first (H, 0, CAS_DEPTH_MAX, 16, &first));
  CU_ASSERT_EQUAL (first, 0);
  CU_ASSERT_TRUE (cas_slot_first (L, 0, CAS_DEPTH_MAX, 3, &first));
  CU_ASSERT_EQUAL (first, UINT64_C (3) << 62);
  CU_ASSERT_FALSE (cas_slot_first (L, 0, CAS_DEPTH_MAX, 4, &first));
  /* Near the end of the block numbers, at a leaf. */
  CU_ASSERT_TRUE (cas_slot_first (L, UINT64_MAX - 4095, 0, 4095, &first));
  CU_ASSERT_EQUAL (first, UINT64_MAX);
  CU_ASSERT_FALSE (cas_slot_first (H, UINT64_MAX - 1022, 0, 1023, &first));
}

static void
test_depths (void)
{
#define depth(k, n) cas_depth_for ((k), (n))
  /* A log leaf maps 4096 blocks, each level above 1024 times more. */
  CU_ASSERT_EQUAL (depth (L, 0), 0);
  CU_ASSERT_EQUAL (depth (L, 1), 0);
  CU_ASSERT_EQUAL (depth (L, 4096), 0);
  CU_ASSERT_EQUAL (depth (L, 4097), 1);
  CU_ASSERT_EQUAL (depth (L, UINT64_C (1) << 22), 1);
  CU_ASSERT_EQUAL (depth (L, (UINT64_C (1) << 22) + 1), 2);
  CU_ASSERT_EQUAL (depth (L, 26214400), 2);           /* 100 GiB / 4K */
  CU_ASSERT_EQUAL (depth (L, UINT64_C (1) << 32), 2); /* 16 TiB / 4K */
  CU_ASSERT_EQUAL (depth (L, (UINT64_C (1) << 32) + 1), 3);
  CU_ASSERT_EQUAL (depth (L, UINT64_C (1) << 62), 5);
  CU_ASSERT_EQUAL (depth (L, (UINT64_C (1) << 62) + 1), 6);
  CU_ASSERT_EQUAL (depth (L, UINT64_MAX), 6);
  /* One level less than a cas tree for some sizes, never more. */
  CU_ASSERT_EQUAL (depth (H, UINT64_C (1) << 21), 2);
  CU_ASSERT_EQUAL (depth (L, UINT64_C (1) << 21), 1);
  for (unsigned bits = 0; bits < 64; bits++) {
    const uint64_t n = UINT64_C (1) << bits;

    CU_ASSERT (depth (L, n) <= depth (H, n));
    CU_ASSERT (depth (L, n) + 1 >= depth (H, n));
    CU_ASSERT (depth (L, n + 1) <= depth (H, n + 1));
  }
#undef depth

  /* Every block of 2^64 is in a tree of CAS_DEPTH_MAX, of either kind,
   * and not in one level less.
   */
  CU_ASSERT_EQUAL (cas_depth_for_index (H, UINT64_MAX), CAS_DEPTH_MAX);
  CU_ASSERT_EQUAL (cas_depth_for_index (L, UINT64_MAX), CAS_DEPTH_MAX);
  CU_ASSERT_TRUE (cas_tree_covers (H, CAS_DEPTH_MAX, UINT64_MAX));
  CU_ASSERT_TRUE (cas_tree_covers (L, CAS_DEPTH_MAX, UINT64_MAX));
  CU_ASSERT_FALSE (cas_tree_covers (H, CAS_DEPTH_MAX - 1, UINT64_MAX));
  CU_ASSERT_FALSE (cas_tree_covers (L, CAS_DEPTH_MAX - 1, UINT64_MAX));
  CU_ASSERT_TRUE (cas_tree_covers (L, CAS_DEPTH_MAX - 1,
                                   (UINT64_C (1) << 62) - 1));
  CU_ASSERT_FALSE (cas_tree_covers (L, CAS_DEPTH_MAX - 1,
                                    UINT64_C (1) << 62));
  CU_ASSERT_EQUAL (cas_depth_for_index (L, 4095), 0);
  CU_ASSERT_EQUAL (cas_depth_for_index (L, 4096), 1);
  CU_ASSERT_EQUAL (cas_depth_for_index (H, 1024), 1);
}

/* A leaf of each kind with two entries, and a level-1 cas page.
 * Returns the log leaf's length.
 */
static size_t
make_pages (uint8_t *cas_leaf, size_t *cas_len, uint8_t *cas_top,
            uint8_t *log_leaf)
{
  struct cas_page_entry ce[2] = { { .slot = 1 }, { .slot = 900 } };
  struct log_leaf_entry le[2] = { { .slot = 2 }, { .slot = 4000 } };
  struct cas_page cp = { .level = 0, .count = 2, .entries = ce };
  struct cas_page top = { .level = 1, .count = 2, .entries = ce };
  struct log_leaf ll = { .count = 2, .entries = le };

  for (int i = 0; i < 2; i++) {
    memset (ce[i].hash.b, 0x10 + i, CAS_HASH_LEN);
    memset (le[i].loc.seg, 0x20 + i, LOG_SEG_ID_LEN);
    le[i].loc.offset = LOG_SEG_DATA_START (1) + 4096 * i;
    le[i].loc.stored_len = 4096;
    memset (le[i].loc.hash.b, 0x30 + i, CAS_HASH_LEN);
  }
  *cas_len = cas_page_encode (&cp, cas_leaf);
  cas_page_encode (&top, cas_top);
  return log_leaf_encode (&ll, log_leaf);
}

static void
test_map_pages (void)
{
  static uint8_t cas_leaf[CAS_PAGE_MAX], cas_top[CAS_PAGE_MAX];
  static uint8_t log_leaf[LOG_LEAF_MAX], again[LOG_LEAF_MAX];
  struct cas_map_page p;
  struct cas_value v;
  const char *why;
  size_t cas_len, log_len, top_len = CAS_PAGE_HEADER + 2 * CAS_PAGE_ENTRY;

  log_len = make_pages (cas_leaf, &cas_len, cas_top, log_leaf);

  /* Each where its tree expects it: decoded, re-encoded the same. */
  CU_ASSERT_EQUAL_FATAL (cas_map_page_decode (L, 0, log_leaf, log_len, &p,
                                              &why), 0);
  CU_ASSERT_TRUE (p.log_leaf);
  CU_ASSERT_PTR_NULL (cas_map_page_misfit (&p, L, 0));
  CU_ASSERT_EQUAL (cas_map_page_count (&p), 2);
  CU_ASSERT_EQUAL (cas_map_page_slot (&p, 1), 4000);
  CU_ASSERT_EQUAL (cas_map_page_len (&p), log_len);
  CU_ASSERT_EQUAL (cas_map_page_encode (&p, again), log_len);
  CU_ASSERT_EQUAL (memcmp (again, log_leaf, log_len), 0);
  CU_ASSERT_EQUAL (cas_map_page_entry_bytes (&p),
                   2 * sizeof (struct log_leaf_entry));
  CU_ASSERT_TRUE (cas_map_page_find_value (&p, 4000, &v));
  CU_ASSERT_EQUAL (v.loc.offset, LOG_SEG_DATA_START (1) + 4096);
  CU_ASSERT_TRUE (cas_hash_equal (&v.hash, &v.loc.hash));
  CU_ASSERT_EQUAL (v.hash.b[0], 0x31);
  CU_ASSERT_FALSE (cas_map_page_find_value (&p, 3, &v));
  /* As found in a cache, somewhere else. */
  CU_ASSERT_PTR_NOT_NULL (strstr (cas_map_page_misfit (&p, H, 0),
                                  "log leaf where a cas page"));
  CU_ASSERT_PTR_NOT_NULL (strstr (cas_map_page_misfit (&p, L, 1),
                                  "log leaf where a cas page"));
  cas_map_page_free (&p);

  CU_ASSERT_EQUAL_FATAL (cas_map_page_decode (H, 0, cas_leaf, cas_len, &p,
                                              &why), 0);
  CU_ASSERT_FALSE (p.log_leaf);
  CU_ASSERT_TRUE (cas_map_page_find_value (&p, 900, &v));
  CU_ASSERT_EQUAL (v.hash.b[0], 0x11);
  CU_ASSERT_EQUAL (v.loc.stored_len, 0);
  CU_ASSERT_PTR_NOT_NULL (strstr (cas_map_page_misfit (&p, L, 0),
                                  "cas page where a log leaf"));
  CU_ASSERT_PTR_NOT_NULL (strstr (cas_map_page_misfit (&p, H, 1),
                                  "its level is not"));
  cas_map_page_free (&p);

  /* Interior pages are cas pages in both kinds. */
  for (int k = H; k <= L; k++) {
    CU_ASSERT_EQUAL_FATAL (cas_map_page_decode (k, 1, cas_top, top_len, &p,
                                                &why), 0);
    CU_ASSERT_FALSE (p.log_leaf);
    CU_ASSERT_PTR_NULL (cas_map_page_misfit (&p, k, 1));
    cas_map_page_free (&p);
  }

  /* The other kind's page where one kind is expected: refused, saying
   * so (by its magic, before its codec is tried).
   */
  why = NULL;
  errno = 0;
  CU_ASSERT_EQUAL (cas_map_page_decode (H, 0, log_leaf, log_len, &p, &why),
                   -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  CU_ASSERT_STRING_EQUAL (why, "it is a log leaf where a cas page is "
                          "expected");
  CU_ASSERT_EQUAL (cas_map_page_decode (L, 1, log_leaf, log_len, &p, &why),
                   -1);
  CU_ASSERT_STRING_EQUAL (why, "it is a log leaf where a cas page is "
                          "expected");
  CU_ASSERT_EQUAL (cas_map_page_decode (L, 0, cas_leaf, cas_len, &p, &why),
                   -1);
  CU_ASSERT_STRING_EQUAL (why, "it is a cas page where a log leaf is "
                          "expected");
  CU_ASSERT_EQUAL (cas_map_page_decode (L, 0, cas_top, top_len, &p, &why),
                   -1);
  CU_ASSERT_STRING_EQUAL (why, "it is a cas page where a log leaf is "
                          "expected");
  /* Neither: each codec's own refusal. */
  CU_ASSERT_EQUAL (cas_map_page_decode (L, 0, "garbage!garbage!", 16, &p,
                                        &why), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (why, LOG_LEAF_MAGIC));
  CU_ASSERT_EQUAL (cas_map_page_decode (H, 0, "garbage!garbage!", 16, &p,
                                        &why), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (why, CAS_PAGE_MAGIC));
  CU_ASSERT_EQUAL (cas_map_page_decode (L, 0, "S3B", 3, &p, &why), -1);
}

UNIT_SUITES (add_cas_tree_format_tests)
{
  CU_pSuite s = CU_add_suite ("cas-tree-format", NULL, NULL);

  CU_add_test (s, "pages per level", test_shape);
  CU_add_test (s, "slots and pages of a block", test_slots);
  CU_add_test (s, "first block of a slot", test_slot_first);
  CU_add_test (s, "depths up to 2^64", test_depths);
  CU_add_test (s, "pages of either kind", test_map_pages);
}
