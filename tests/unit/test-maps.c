/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the hash map and the sparse bitmap. */

#include <config.h>

#include <stdint.h>
#include <stdlib.h>

#include <CUnit/CUnit.h>

#include "sbitmap.h"
#include "tests.h"
#include "u64map.h"

#define N 20000

/* Insert, find, remove with churn, compared with a plain array. */
static void
test_u64map (void)
{
  struct u64map m = U64MAP_INIT;
  static char present[N];
  uint64_t seed = 1;

  CU_ASSERT_PTR_NULL (u64map_get (&m, 5));
  CU_ASSERT_PTR_NULL (u64map_remove (&m, 5));
  for (int i = 0; i < 200000; i++) {
    uint64_t k;

    seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    k = (seed >> 33) % N;
    if (seed & (1ULL << 20)) {
      CU_ASSERT_EQUAL_FATAL (u64map_put (&m, k * 4096, &present[k]), 0);
      present[k] = 1;
    }
    else {
      void *v = u64map_remove (&m, k * 4096);
      CU_ASSERT_FATAL ((v != NULL) == (present[k] != 0));
      present[k] = 0;
    }
  }
  size_t count = 0;
  for (int k = 0; k < N; k++) {
    void *v = u64map_get (&m, (uint64_t) k * 4096);
    CU_ASSERT_FATAL ((v != NULL) == (present[k] != 0));
    if (v) {
      CU_ASSERT_PTR_EQUAL (v, &present[k]);
      count++;
    }
  }
  CU_ASSERT_EQUAL (m.count, count);
  /* Replacing keeps the count. */
  CU_ASSERT_EQUAL (u64map_put (&m, UINT64_MAX, &count), 0);
  CU_ASSERT_EQUAL (u64map_put (&m, UINT64_MAX, &seed), 0);
  CU_ASSERT_PTR_EQUAL (u64map_get (&m, UINT64_MAX), &seed);
  CU_ASSERT_EQUAL (m.count, count + 1);
  u64map_free (&m);
}

static void
test_sbitmap (void)
{
  struct sbitmap b = SBITMAP_INIT;
  const uint64_t far = UINT64_C (1) << 50;

  CU_ASSERT_FALSE (sbitmap_get (&b, 0));
  CU_ASSERT_EQUAL (sbitmap_next_set (&b, 0, far), far);
  CU_ASSERT_EQUAL (sbitmap_next_clear (&b, 7, far), 7);

  CU_ASSERT_EQUAL (sbitmap_set (&b, 3), 0);
  CU_ASSERT_EQUAL (sbitmap_set (&b, 3), 0);
  CU_ASSERT_EQUAL (sbitmap_set (&b, 64), 0);
  CU_ASSERT_EQUAL (sbitmap_set (&b, 40000), 0);
  CU_ASSERT_EQUAL (sbitmap_set (&b, far - 1), 0);
  CU_ASSERT_EQUAL (b.count, 4);
  CU_ASSERT_TRUE (sbitmap_get (&b, 3));
  CU_ASSERT_FALSE (sbitmap_get (&b, 4));
  CU_ASSERT_EQUAL (sbitmap_next_set (&b, 0, far), 3);
  CU_ASSERT_EQUAL (sbitmap_next_set (&b, 4, far), 64);
  CU_ASSERT_EQUAL (sbitmap_next_set (&b, 65, far), 40000);
  CU_ASSERT_EQUAL (sbitmap_next_set (&b, 40001, far), far - 1);
  CU_ASSERT_EQUAL (sbitmap_next_set (&b, 65, 1000), 1000);
  CU_ASSERT_EQUAL (sbitmap_next_clear (&b, 3, far), 4);

  /* A full run of set bits across a word boundary. */
  for (uint64_t i = 100; i < 300; i++)
    CU_ASSERT_EQUAL (sbitmap_set (&b, i), 0);
  CU_ASSERT_EQUAL (sbitmap_next_clear (&b, 100, far), 300);
  CU_ASSERT_EQUAL (sbitmap_next_clear (&b, 100, 250), 250);

  sbitmap_clear (&b, 40000);
  CU_ASSERT_FALSE (sbitmap_get (&b, 40000));
  CU_ASSERT_EQUAL (sbitmap_next_set (&b, 301, far), far - 1);
  sbitmap_clear (&b, 12345);  /* absent page: no-op */
  CU_ASSERT_EQUAL (b.count, 203);
  sbitmap_free (&b);
}

UNIT_SUITES (add_map_tests)
{
  CU_pSuite s = CU_add_suite ("maps", NULL, NULL);

  CU_add_test (s, "u64map", test_u64map);
  CU_add_test (s, "sparse bitmap", test_sbitmap);
}
