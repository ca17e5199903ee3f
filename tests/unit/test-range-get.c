/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: ranged GETs as store.h states them, on the
 * memstore (which layouts' tests count requests on): the bytes, a
 * short read at the end, 416 as EIO naming key, range and size, a
 * missing object as an unlogged ENOENT, a bad range refused before any
 * request, ranged GETs counted apart from whole ones.
 */

#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "memstore.h"
#include "nbdkit-standin.h"
#include "store/range.h"
#include "store/store.h"
#include "tests.h"

#define OBJ_SIZE (1024 * 1024)
#define KEY "segments/t/0000000000000001"

static struct memstore *mem;
static struct store *store;
static unsigned char *object;

static int
setup (void)
{
  object = malloc (OBJ_SIZE);
  if (object == NULL)
    return -1;
  /* Bytes differ from those a byte or a block away: a read from the
   * wrong offset cannot pass.
   */
  for (size_t i = 0; i < OBJ_SIZE; i++)
    object[i] = (unsigned char) ((i * 7 + i / 4096) % 251);
  return 0;
}

static int
teardown (void)
{
  free (object);
  return 0;
}

static void
fresh (void)
{
  mem = memstore_new ();
  store = memstore_store (mem);
  memstore_set (mem, KEY, object, OBJ_SIZE);
  memstore_reset_counts (mem);
  standin_reset_errors ();
}

static void
done (void)
{
  store_close (store);
}

/* A ranged GET of [offset, offset + len) into a buffer of len bytes:
 * its errno; *got set.  The buffer is checked against the object.
 */
static int
get_range (uint64_t offset, size_t len, size_t *got)
{
  unsigned char *buf = malloc (len ? len : 1);
  int err;

  CU_ASSERT_FATAL (buf != NULL);
  memset (buf, 0xee, len);
  err = store_get_range (store, KEY, offset, len, buf, got);
  if (err == 0)
    CU_ASSERT (memcmp (buf, object + offset, *got) == 0);
  free (buf);
  return err;
}

static void
test_bytes (void)
{
  size_t got;
  struct memstore_counts c;

  fresh ();
  CU_ASSERT_EQUAL (get_range (0, 1, &got), 0);            /* first byte */
  CU_ASSERT_EQUAL (got, 1);
  CU_ASSERT_EQUAL (get_range (OBJ_SIZE / 2, 4096, &got), 0);  /* middle */
  CU_ASSERT_EQUAL (got, 4096);
  CU_ASSERT_EQUAL (get_range (OBJ_SIZE - 4096, 4096, &got), 0);  /* last */
  CU_ASSERT_EQUAL (got, 4096);
  CU_ASSERT_EQUAL (get_range (OBJ_SIZE - 1, 1, &got), 0);  /* last byte */
  CU_ASSERT_EQUAL (got, 1);
  CU_ASSERT_EQUAL (get_range (0, OBJ_SIZE, &got), 0);     /* all of it */
  CU_ASSERT_EQUAL (got, OBJ_SIZE);
  CU_ASSERT_EQUAL (standin_error_count, 0);

  c = memstore_counts (mem);
  CU_ASSERT_EQUAL (c.range_gets, 5);
  CU_ASSERT_EQUAL (c.gets, 0);
  CU_ASSERT_EQUAL (memstore_requests (mem), 5);
  done ();
}

static void
test_short_at_end (void)
{
  size_t got = 99;

  fresh ();
  /* Runs 904 bytes past the end: the 3192 that are there. */
  CU_ASSERT_EQUAL (get_range (OBJ_SIZE - 3192, 4096, &got), 0);
  CU_ASSERT_EQUAL (got, 3192);
  CU_ASSERT_EQUAL (standin_error_count, 0);
  done ();
}

static void
test_past_end (void)
{
  size_t got = 99;

  fresh ();
  /* Starting at the end, or past it: HTTP 416, a failure, logged. */
  CU_ASSERT_EQUAL (get_range (OBJ_SIZE, 4096, &got), EIO);
  CU_ASSERT_EQUAL (got, 0);
  CU_ASSERT_EQUAL (standin_error_count, 1);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, KEY));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error,
                                  "bytes=1048576-1052671"));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "1048576 bytes"));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "past the object's end"));
  CU_ASSERT_EQUAL (get_range (UINT64_MAX - 4095, 4096, &got), EIO);
  CU_ASSERT_EQUAL (memstore_counts (mem).range_gets, 2);
  done ();
}

static void
test_missing (void)
{
  size_t got = 99;
  char buf[16];

  fresh ();
  CU_ASSERT_EQUAL (store_get_range (store, "segments/t/none", 0, sizeof buf,
                                    buf, &got), ENOENT);
  CU_ASSERT_EQUAL (got, 0);
  CU_ASSERT_EQUAL (standin_error_count, 0);    /* an answer */
  CU_ASSERT_EQUAL (memstore_counts (mem).range_gets, 1);
  done ();
}

/* The caller's bugs: logged, EINVAL, and no request. */
static void
test_refused (void)
{
  char buf[4096];
  struct store_op op = {
    .kind = STORE_GET, .key = KEY, .buf = buf, .len = 100,
    .range_offset = 0, .range_len = 101,
  };
  size_t got = 99;

  fresh ();
  CU_ASSERT_EQUAL (store_run (store, &op, 1), 1);
  CU_ASSERT_EQUAL (op.err, EINVAL);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, KEY));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "bytes=0-100"));

  op.len = sizeof buf;
  op.range_offset = UINT64_MAX;                 /* ends past 2^64 */
  op.range_len = 2;
  CU_ASSERT_EQUAL (store_run (store, &op, 1), 1);
  CU_ASSERT_EQUAL (op.err, EINVAL);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "past 2^64"));

  op.kind = STORE_PUT;                          /* a range on a PUT */
  op.range_offset = 0;
  CU_ASSERT_EQUAL (store_run (store, &op, 1), 1);
  CU_ASSERT_EQUAL (op.err, EINVAL);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "GET only"));

  CU_ASSERT_EQUAL (store_get_range (store, KEY, 0, 0, buf, &got), EINVAL);
  CU_ASSERT_EQUAL (got, 0);
  CU_ASSERT_EQUAL (standin_error_count, 4);
  CU_ASSERT_EQUAL (memstore_requests (mem), 0);
  CU_ASSERT_EQUAL (memstore_peek (mem, KEY, NULL, 0), OBJ_SIZE);
  done ();
}

/* Whole and ranged GETs in one batch, each with its own answer. */
static void
test_batch (void)
{
  static char whole[64], part[4096], past[16];
  struct store_op ops[3] = {
    { .kind = STORE_GET, .key = "small", .buf = whole, .len = sizeof whole },
    { .kind = STORE_GET, .key = KEY, .buf = part, .len = sizeof part,
      .range_offset = 8192, .range_len = sizeof part },
    { .kind = STORE_GET, .key = KEY, .buf = past, .len = sizeof past,
      .range_offset = OBJ_SIZE + 1, .range_len = sizeof past },
  };
  struct memstore_counts c;

  fresh ();
  memstore_set (mem, "small", "abc", 3);
  CU_ASSERT_EQUAL (store_run (store, ops, 3), 1);
  CU_ASSERT_EQUAL (ops[0].err, 0);
  CU_ASSERT_EQUAL (ops[0].got, 3);
  CU_ASSERT_EQUAL (ops[1].err, 0);
  CU_ASSERT_EQUAL (ops[1].got, sizeof part);
  CU_ASSERT (memcmp (part, object + 8192, sizeof part) == 0);
  CU_ASSERT_NOT_EQUAL (ops[1].etag[0], '\0');   /* the object's ETag */
  CU_ASSERT_EQUAL (ops[2].err, EIO);
  c = memstore_counts (mem);
  CU_ASSERT_EQUAL (c.gets, 1);
  CU_ASSERT_EQUAL (c.range_gets, 2);
  done ();
}

/* Faults injected into GETs reach ranged ones too. */
static void
test_faults (void)
{
  size_t got = 99;

  fresh ();
  memstore_fail (mem, STORE_GET, 1, EIO);
  CU_ASSERT_EQUAL (get_range (0, 4096, &got), EIO);
  CU_ASSERT_EQUAL (got, 0);
  CU_ASSERT_EQUAL (get_range (0, 4096, &got), 0);
  CU_ASSERT_EQUAL (got, 4096);
  done ();
}

static void
test_format (void)
{
  char buf[STORE_RANGE_MAX];

  store_range_format (0, 1, buf);
  CU_ASSERT_STRING_EQUAL (buf, "bytes=0-0");
  store_range_format (4096, 4096, buf);
  CU_ASSERT_STRING_EQUAL (buf, "bytes=4096-8191");
  store_range_format (UINT64_MAX - 9, 10, buf);
  CU_ASSERT_STRING_EQUAL (buf,
                          "bytes=18446744073709551606-18446744073709551615");
}

UNIT_SUITES (add_range_get_tests)
{
  CU_pSuite s = CU_add_suite ("range-get", setup, teardown);

  CU_add_test (s, "the bytes asked for, counted as ranged GETs", test_bytes);
  CU_add_test (s, "a range past the end is short", test_short_at_end);
  CU_add_test (s, "a range from the end or past it is EIO, logged",
               test_past_end);
  CU_add_test (s, "a missing object is ENOENT, unlogged", test_missing);
  CU_add_test (s, "bad ranges refused without a request", test_refused);
  CU_add_test (s, "whole and ranged GETs in one batch", test_batch);
  CU_add_test (s, "injected GET faults", test_faults);
  CU_add_test (s, "the Range header's value", test_format);
}
