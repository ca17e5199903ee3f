/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: scatter GETs (store.h, sink.h).  The sink that
 * both stores' body callbacks write through: every byte lands in its
 * buffer of the list, whatever the pieces the client library hands
 * over, none past a buffer's end; a new attempt starts again; a bad
 * list is refused before any request.  And a scatter GET on the
 * memstore, whole and ranged.  The callbacks themselves, and a range's
 * limit in each store, are exercised by the log layout's integration
 * tests on s3rver and on RGW with both stores.
 */

#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include <CUnit/CUnit.h>

#include "memstore.h"
#include "nbdkit-standin.h"
#include "store/sink.h"
#include "store/store.h"
#include "tests.h"

#define KEY "log/segs/00000000000000000000000000000001"
#define GUARD 16                /* bytes after each buffer, never written */
#define MAX_BUFS 16

/* Buffers of the given lengths, each followed by GUARD guard bytes. */
struct bufs {
  unsigned n;
  size_t total;
  struct iovec iov[MAX_BUFS];
  unsigned char *mem[MAX_BUFS];
};

static void
bufs_new (struct bufs *b, const size_t *lens, unsigned n)
{
  CU_ASSERT_FATAL (n <= MAX_BUFS);
  b->n = n;
  b->total = 0;
  for (unsigned i = 0; i < n; i++) {
    b->mem[i] = malloc (lens[i] + GUARD);
    CU_ASSERT_FATAL (b->mem[i] != NULL);
    memset (b->mem[i], 0xa5, lens[i] + GUARD);
    b->iov[i].iov_base = b->mem[i];
    b->iov[i].iov_len = lens[i];
    b->total += lens[i];
  }
}

/* Do the buffers hold want[0..len) in order, the guards untouched? */
static bool
bufs_hold (const struct bufs *b, const unsigned char *want, size_t len)
{
  size_t at = 0;

  for (unsigned i = 0; i < b->n; i++) {
    const size_t l = b->iov[i].iov_len;
    const size_t fill = at >= len ? 0 : len - at < l ? len - at : l;

    if (memcmp (b->mem[i], want + at, fill) != 0)
      return false;
    for (size_t g = fill; g < l + GUARD; g++)
      if (b->mem[i][g] != 0xa5)
        return false;
    at += l;
  }
  return true;
}

static void
bufs_free (struct bufs *b)
{
  for (unsigned i = 0; i < b->n; i++)
    free (b->mem[i]);
}

/* The sink of a scatter GET into b's buffers. */
static struct store_sink
sink_over (const struct bufs *b)
{
  const struct store_op op = {
    .kind = STORE_GET, .iov = b->iov, .iovcnt = b->n, .len = b->total,
  };

  return store_sink_of (&op);
}

static unsigned char *
pattern (size_t len, unsigned seed)
{
  unsigned char *p = malloc (len ? len : 1);

  CU_ASSERT_FATAL (p != NULL);
  for (size_t i = 0; i < len; i++)
    p[i] = (unsigned char) ((i * 13 + seed + i / 4096) % 251);
  return p;
}

/* The body in pieces of piece bytes (the last shorter), as a client
 * library hands it over.
 */
static void
pour (struct store_sink *k, const unsigned char *body, size_t len,
      size_t piece)
{
  for (size_t got = 0; got < len; got += piece)
    store_sink_copy (k, got, body + got, len - got < piece ? len - got
                     : piece);
}

static void
test_pieces (void)
{
  static const size_t blocks[] = { 4096, 4096, 4096, 4096 };
  static const size_t odd[] = { 1, 0, 4095, 7, 0, 16384, 100, 3 };
  static const size_t pieces[] = { 1, 3, 4096, 5000, 16384, 1 << 20 };

  for (int shape = 0; shape < 2; shape++)
    for (size_t p = 0; p < sizeof pieces / sizeof pieces[0]; p++) {
      struct bufs b;
      struct store_sink k;
      unsigned char *body;

      if (shape == 0)
        bufs_new (&b, blocks, 4);
      else
        bufs_new (&b, odd, sizeof odd / sizeof odd[0]);
      k = sink_over (&b);
      CU_ASSERT (store_sink_is_set (&k));
      body = pattern (b.total, (unsigned) p);
      pour (&k, body, b.total, pieces[p]);
      CU_ASSERT (bufs_hold (&b, body, b.total));
      free (body);
      bufs_free (&b);
    }
}

/* A body cut short fills the buffers up to where it stopped. */
static void
test_short (void)
{
  static const size_t lens[] = { 4096, 4096, 4096 };
  struct bufs b;
  struct store_sink k;
  unsigned char *body;

  bufs_new (&b, lens, 3);
  k = sink_over (&b);
  body = pattern (b.total, 1);
  pour (&k, body, 6000, 1000);
  CU_ASSERT (bufs_hold (&b, body, 6000));
  free (body);
  bufs_free (&b);
}

/* A retry starts the body again at byte 0: the second attempt's bytes
 * are what the buffers hold, wherever the first stopped.
 */
static void
test_retry (void)
{
  static const size_t lens[] = { 4096, 100, 4096 };
  struct bufs b;
  struct store_sink k;
  unsigned char *first, *second;

  bufs_new (&b, lens, 3);
  k = sink_over (&b);
  first = pattern (b.total, 1);
  second = pattern (b.total, 2);
  pour (&k, first, 5000, 700);
  pour (&k, second, b.total, 3000);
  CU_ASSERT (bufs_hold (&b, second, b.total));

  /* And a jump forward lands where it says. */
  store_sink_copy (&k, 0, first, 10);
  store_sink_copy (&k, 4250, first + 4250, 50);
  CU_ASSERT (memcmp (b.mem[0], first, 10) == 0);
  CU_ASSERT (memcmp (b.mem[2] + 54, first + 4250, 50) == 0);
  free (first);
  free (second);
  bufs_free (&b);
}

/* One buffer: the sink is a plain copy. */
static void
test_one_buffer (void)
{
  unsigned char buf[8192 + GUARD], *body = pattern (8192, 3);
  struct store_op op = { .kind = STORE_GET, .buf = buf, .len = 8192 };
  struct store_sink k = store_sink_of (&op);

  memset (buf, 0xa5, sizeof buf);
  pour (&k, body, 8192, 1500);
  CU_ASSERT (memcmp (buf, body, 8192) == 0);
  CU_ASSERT_EQUAL (buf[8192], 0xa5);
  free (body);
}

/* A bad scatter list is the caller's bug: logged naming the key,
 * EINVAL, and no request.
 */
static void
test_refused (void)
{
  struct memstore *m = memstore_new ();
  struct store *s = memstore_store (m);
  char a[4096], c[4096];
  struct iovec iov[2] = { { a, sizeof a }, { c, sizeof c } };
  struct store_op op = {
    .kind = STORE_GET, .key = KEY, .iov = iov, .iovcnt = 2, .len = 8191,
  };

  memstore_set (m, KEY, "x", 1);
  memstore_reset_counts (m);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (store_run (s, &op, 1), 1);           /* len is wrong */
  CU_ASSERT_EQUAL (op.err, EINVAL);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, KEY));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "8192 bytes"));

  op.len = 8192;
  op.buf = a;                                   /* a buffer and a list */
  CU_ASSERT_EQUAL (store_run (s, &op, 1), 1);
  CU_ASSERT_EQUAL (op.err, EINVAL);
  op.buf = NULL;
  op.iovcnt = 0;                                /* an empty list */
  op.len = 0;
  CU_ASSERT_EQUAL (store_run (s, &op, 1), 1);
  CU_ASSERT_EQUAL (op.err, EINVAL);
  op.iovcnt = 2;
  op.len = 8192;
  op.kind = STORE_PUT;                          /* a list on a PUT */
  CU_ASSERT_EQUAL (store_run (s, &op, 1), 1);
  CU_ASSERT_EQUAL (op.err, EINVAL);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "PUT " KEY));

  CU_ASSERT_EQUAL (standin_error_count, 4);
  CU_ASSERT_EQUAL (memstore_requests (m), 0);
  CU_ASSERT_EQUAL (memstore_peek (m, KEY, NULL, 0), 1);   /* not written */

  op.kind = STORE_GET;                          /* and the right one */
  CU_ASSERT_EQUAL (store_run (s, &op, 1), 0);
  CU_ASSERT_EQUAL (op.got, 1);
  CU_ASSERT_EQUAL (a[0], 'x');
  store_close (s);
}

/* On the memstore, whole and ranged, and short at the object's end. */
static void
test_memstore (void)
{
  static const size_t lens[] = { 4096, 4096, 4096, 4096 };
  const size_t size = 64 * 1024;
  unsigned char *object = pattern (size, 7);
  struct memstore *m = memstore_new ();
  struct store *s = memstore_store (m);
  struct bufs b;
  struct store_op op = { .kind = STORE_GET, .key = KEY };

  memstore_set (m, KEY, object, size);
  bufs_new (&b, lens, 4);
  op.iov = b.iov;
  op.iovcnt = 4;
  op.len = b.total;
  op.range_offset = 12288;
  op.range_len = b.total;
  CU_ASSERT_EQUAL (store_run (s, &op, 1), 0);
  CU_ASSERT_EQUAL (op.got, b.total);
  CU_ASSERT (bufs_hold (&b, object + 12288, b.total));

  op.range_offset = size - 6000;                /* 6000 bytes are there */
  CU_ASSERT_EQUAL (store_run (s, &op, 1), 0);
  CU_ASSERT_EQUAL (op.got, 6000);
  CU_ASSERT (memcmp (b.mem[0], object + size - 6000, 4096) == 0);
  CU_ASSERT (memcmp (b.mem[1], object + size - 1904, 1904) == 0);
  bufs_free (&b);

  /* A whole GET of a small object into a list. */
  memstore_set (m, "small", object, 5000);
  bufs_new (&b, lens, 2);
  op = (struct store_op) {
    .kind = STORE_GET, .key = "small", .iov = b.iov, .iovcnt = 2,
    .len = b.total,
  };
  CU_ASSERT_EQUAL (store_run (s, &op, 1), 0);
  CU_ASSERT_EQUAL (op.got, 5000);
  CU_ASSERT (bufs_hold (&b, object, 5000));
  bufs_free (&b);
  free (object);
  store_close (s);
}

UNIT_SUITES (add_sink_tests)
{
  CU_pSuite s = CU_add_suite ("scatter-get", NULL, NULL);

  CU_add_test (s, "every byte in its buffer, whatever the pieces",
               test_pieces);
  CU_add_test (s, "a body cut short", test_short);
  CU_add_test (s, "a retry starts the buffers again", test_retry);
  CU_add_test (s, "one buffer", test_one_buffer);
  CU_add_test (s, "bad scatter lists refused without a request",
               test_refused);
  CU_add_test (s, "on the memstore, whole and ranged", test_memstore);
}
