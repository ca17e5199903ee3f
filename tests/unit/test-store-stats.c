/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* Unit tests: a store's request counts (store-stats.h), as store_run
 * and store_list keep them for every store type, through the
 * in-memory store.
 */

#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "memstore.h"
#include "store/store.h"
#include "store/store-stats.h"
#include "tests.h"

static int
count_entry (void *opaque, const struct store_entry *e)
{
  (*(unsigned *) opaque)++;
  return 0;
}

static void
test_counts (void)
{
  struct memstore *m = memstore_new ();
  struct store *s = memstore_store (m);
  char buf[4096], line[512];
  struct store_stats st;
  size_t got;
  unsigned listed = 0;

  memset (buf, 'x', sizeof buf);
  CU_ASSERT_EQUAL (store_put (s, "a", buf, 4096), 0);
  CU_ASSERT_EQUAL (store_put (s, "b", buf, 100), 0);
  CU_ASSERT_EQUAL (store_get (s, "a", buf, sizeof buf, &got), 0);
  CU_ASSERT_EQUAL (store_get (s, "missing", buf, sizeof buf, &got), ENOENT);
  CU_ASSERT_EQUAL (store_get_range (s, "a", 1000, 512, buf, &got), 0);
  CU_ASSERT_EQUAL (store_put_cond (s, "a", buf, 10, STORE_CREATE_ONLY, NULL,
                                   NULL),
                   store_can (s, STORE_CAP_CONDITIONAL_PUT) ? EEXIST : ENOTSUP);
  CU_ASSERT_EQUAL (store_delete (s, "b"), 0);
  CU_ASSERT_EQUAL (store_list (s, "", NULL, NULL, count_entry, &listed), 0);
  CU_ASSERT_EQUAL (listed, 1);

  store_stats_read (&s->stats, &st);
  CU_ASSERT_EQUAL (st.requests[STORE_STAT_PUT][STORE_STAT_OK], 2);
  CU_ASSERT_EQUAL (store_stats_method_total (&st, STORE_STAT_PUT), 3);
  CU_ASSERT_EQUAL (st.requests[STORE_STAT_GET][STORE_STAT_OK], 1);
  CU_ASSERT_EQUAL (st.requests[STORE_STAT_GET][STORE_STAT_NOT_FOUND], 1);
  CU_ASSERT_EQUAL (st.requests[STORE_STAT_RANGE_GET][STORE_STAT_OK], 1);
  CU_ASSERT_EQUAL (st.requests[STORE_STAT_DELETE][STORE_STAT_OK], 1);
  CU_ASSERT_EQUAL (st.requests[STORE_STAT_LIST][STORE_STAT_OK], 1);
  CU_ASSERT_EQUAL (store_stats_total (&st), 8);
  /* Bodies of successful requests only. */
  CU_ASSERT_EQUAL (st.bytes_sent, 4096 + 100);
  CU_ASSERT_EQUAL (st.bytes_received, 4096 + 512);

  store_stats_format (&st, line, sizeof line);
  CU_ASSERT_PTR_NOT_NULL (strstr (line, "requests 8 ("));
  CU_ASSERT_PTR_NOT_NULL (strstr (line, "GET 2 ok 1 not-found 1"));
  CU_ASSERT_PTR_NOT_NULL (strstr (line, "GET-range 1 ok 1"));
  CU_ASSERT_PTR_NOT_NULL (strstr (line, "sent 4196 bytes, received 4608 bytes"));
  /* Too short a buffer still gives a string. */
  store_stats_format (&st, line, 10);
  CU_ASSERT_EQUAL (strlen (line), 9);
  store_close (s);
}

static void
test_failures (void)
{
  struct memstore *m = memstore_new ();
  struct store *s = memstore_store (m);
  char buf[16] = "0123456789abcdef";
  struct store_stats st;
  unsigned listed = 0;

  memstore_fail (m, STORE_PUT, 1, EIO);
  CU_ASSERT_EQUAL (store_put (s, "a", buf, sizeof buf), EIO);
  memstore_fail_list (m, EIO);
  CU_ASSERT_EQUAL (store_list (s, "", NULL, NULL, count_entry, &listed), -1);
  store_stats_read (&s->stats, &st);
  CU_ASSERT_EQUAL (st.requests[STORE_STAT_PUT][STORE_STAT_FAILED], 1);
  CU_ASSERT_EQUAL (st.requests[STORE_STAT_LIST][STORE_STAT_FAILED], 1);
  CU_ASSERT_EQUAL (st.bytes_sent, 0);
  store_close (s);
}

UNIT_SUITES (add_store_stats_tests)
{
  CU_pSuite s = CU_add_suite ("store-stats", NULL, NULL);

  CU_add_test (s, "counts by method, outcome and bytes", test_counts);
  CU_add_test (s, "failures", test_failures);
}
