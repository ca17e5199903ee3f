/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the volume's read-ahead (lib/volume/read.c)
 * over the log layout, against the in-memory store: a sequential read
 * in small requests costs one ranged GET per read-ahead window, in
 * order or slightly out of it, random reads fetch only what they ask
 * for, and the bytes read are right.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "format/keys.h"
#include "layout/layout.h"
#include "memstore.h"
#include "nbdkit-standin.h"
#include "tests.h"
#include "volume/volume.h"

#define BS 4096
#define EXPORT "t"
#define ROOT_KEY "cas/roots/t"
#define SIZE (UINT64_C (64) << 20)      /* 16384 blocks: one depth */
#define WRITTEN 1024                    /* blocks written, one segment */
#define REQ 64                          /* blocks per client read */
#define WINDOW 256                      /* read-ahead, in blocks */

static uint64_t fake_now;

static uint64_t
fake_clock (void)
{
  return fake_now;
}

static void
fake_sleep (uint64_t ms)
{
  fake_now += ms;
}

/* A volume with parameters p over the log layout of export EXPORT in
 * m (created if create), its map loaded.  The layout keeps copies up to
 * max_dirty, as an export does.
 */
static struct volume *
open_with (struct memstore *m, bool create, const struct volume_params *p)
{
  struct layout_params lp = { .export_name = EXPORT, .block_size = BS };
  struct layout_log_params gp = {
    .root_key = ROOT_KEY, .size = SIZE, .create = create,
    .map_cache_bytes = 1 << 20, .reuse_window_ms = 1000,
    .keep_bytes = p->max_dirty, .request_bound_ms = 10,
    .commit_bound_ms = 100000, .recent_entries = 64,
    .clock_ms = fake_clock, .sleep_ms = fake_sleep,
  };
  struct volume *v = volume_create (layout_log_open (memstore_store (m),
                                                     &lp, &gp), p);

  CU_ASSERT_PTR_NOT_NULL_FATAL (v);
  CU_ASSERT_EQUAL_FATAL (volume_load_map (v), 0);
  return v;
}

static struct volume *
open_log (struct memstore *m, bool create, uint64_t read_ahead)
{
  struct volume_params p = {
    .name = EXPORT, .size = SIZE, .block_size = BS,
    .max_dirty = 2 * WRITTEN * BS, .cache_size = 64 * WINDOW * BS,
    .batch = WRITTEN, .read_ahead = read_ahead,
  };

  return open_with (m, create, &p);
}

static void
pattern (char *buf, uint64_t index)
{
  memset (buf, (int) (index % 251) + 1, BS);
  memcpy (buf, &index, sizeof index);
}

/* A store holding WRITTEN blocks, written and flushed in one go. */
static struct memstore *
written_store (void)
{
  struct memstore *m = memstore_new ();
  char *buf = malloc (WRITTEN * BS);
  struct volume *v;

  CU_ASSERT_PTR_NOT_NULL_FATAL (buf);
  for (uint64_t i = 0; i < WRITTEN; i++)
    pattern (buf + i * BS, i);
  fake_now = 1;
  v = open_log (m, true, 0);
  CU_ASSERT_EQUAL (volume_write (v, buf, WRITTEN * BS, 0, false), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (memstore_count (m, "log/segs/"), 1);
  volume_free (v);
  free (buf);
  return m;
}

/* Read REQ blocks at each of firsts[0..nr), in that order, checking
 * each; returns the ranged GETs they cost, and in *read_ahead_blocks
 * the blocks read ahead.
 */
static uint64_t
read_in_order (struct memstore *m, uint64_t read_ahead,
               const uint64_t *firsts, size_t nr,
               uint64_t *read_ahead_blocks)
{
  struct volume *v = open_log (m, false, read_ahead);
  char *back = malloc (REQ * BS), want[BS];
  struct volume_stats st;
  bool same = true;

  CU_ASSERT_PTR_NOT_NULL_FATAL (back);
  memstore_reset_counts (m);
  for (size_t k = 0; k < nr; k++) {
    CU_ASSERT_EQUAL (volume_read (v, back, REQ * BS, firsts[k] * BS), 0);
    for (uint64_t i = 0; i < REQ; i++) {
      pattern (want, firsts[k] + i);
      same = same && memcmp (back + i * BS, want, BS) == 0;
    }
  }
  CU_ASSERT (same);
  volume_get_stats (v, &st);
  *read_ahead_blocks = st.read_ahead;
  volume_free (v);
  free (back);
  return memstore_counts (m).range_gets;
}

/* The written blocks REQ at a time, in order. */
static uint64_t
read_sequentially (struct memstore *m, uint64_t read_ahead,
                   uint64_t *read_ahead_blocks)
{
  uint64_t firsts[WRITTEN / REQ];

  for (size_t k = 0; k < WRITTEN / REQ; k++)
    firsts[k] = k * REQ;
  return read_in_order (m, read_ahead, firsts, WRITTEN / REQ,
                        read_ahead_blocks);
}

/* What a sequential read over WRITTEN costs with read-ahead, in order
 * or not: the first read starts a stream and the second continues it,
 * each fetching its own blocks in one GET; the third, continuing an
 * established stream, fetches its own blocks with the rest of the
 * windows (WINDOW-aligned) up to the one holding the block half a
 * window past it, in one GET; every later window is fetched whole, in
 * one GET, by the read that comes within half a window of it, before
 * the client asks for any of it.  The reads past the written blocks
 * run into holes, which cost no GET.
 */
#define SEQUENTIAL_GETS (1 + WRITTEN / WINDOW)
#define SEQUENTIAL_AHEAD (WRITTEN - 3 * REQ)

static void
test_sequential (void)
{
  struct memstore *m = written_store ();
  uint64_t without, with, ahead;

  /* Without: one ranged GET per request. */
  without = read_sequentially (m, 0, &ahead);
  CU_ASSERT_EQUAL (without, WRITTEN / REQ);
  CU_ASSERT_EQUAL (ahead, 0);
  with = read_sequentially (m, WINDOW * BS, &ahead);
  CU_ASSERT_EQUAL (with, SEQUENTIAL_GETS);
  CU_ASSERT_EQUAL (ahead, SEQUENTIAL_AHEAD);
  store_close (memstore_store (m));
}

/* Requests in flight reach the volume out of order: here each three
 * after the first three come last first.  A read up to a few lengths
 * past an established stream continues it: the windows still cost one
 * GET each.  (Before, a read two lengths past started a stream of its
 * own and fetched just its own blocks: a fifth of the GETs of
 * nbdcopy's read were of one 256 KiB request.)  The overtaken reads
 * find their blocks in memory; test_late_reads_keep_stream shows that
 * they take no stream's place.
 */
static void
test_out_of_order (void)
{
  struct memstore *m = written_store ();
  uint64_t firsts[WRITTEN / REQ], gets, ahead;
  size_t k = 0;

  firsts[k++] = 0;
  firsts[k++] = REQ;
  firsts[k++] = 2 * REQ;
  for (uint64_t group = 3; group < WRITTEN / REQ; group += 3)
    for (uint64_t j = 3; j-- > 0;)
      if (group + j < WRITTEN / REQ)
        firsts[k++] = (group + j) * REQ;
  CU_ASSERT_EQUAL_FATAL (k, WRITTEN / REQ);
  gets = read_in_order (m, WINDOW * BS, firsts, k, &ahead);
  CU_ASSERT_EQUAL (gets, SEQUENTIAL_GETS);
  /* The read at 512, first of its group, finds its blocks missing
   * (the windows so far end there): they are its own, not read ahead.
   */
  CU_ASSERT_EQUAL (ahead, SEQUENTIAL_AHEAD - REQ);
  store_close (memstore_store (m));
}

/* Late reads, behind an established stream, take no stream's place:
 * after more of them than there are streams, the stream's next read
 * still fetches the next window.
 */
static void
test_late_reads_keep_stream (void)
{
  struct memstore *m = written_store ();
  struct volume *v = open_log (m, false, WINDOW * BS);
  char *back = malloc (REQ * BS);
  struct volume_stats before, after;

  CU_ASSERT_PTR_NOT_NULL_FATAL (back);
  /* Established: started, then continued. */
  CU_ASSERT_EQUAL (volume_read (v, back, REQ * BS, 0), 0);
  CU_ASSERT_EQUAL (volume_read (v, back, REQ * BS, REQ * BS), 0);
  /* Single blocks behind the stream, none continuing another (5
   * apart), and none ending within a read's length of the stream's
   * next read (below REQ - 1), so that only the stream can serve it.
   * 8: VOLUME_STREAMS.
   */
  for (unsigned k = 0; k < 2 * 8; k++)
    CU_ASSERT_EQUAL (volume_read (v, back, BS, (k * 5 % (REQ - 3)) * BS), 0);
  volume_get_stats (v, &before);
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (volume_read (v, back, REQ * BS, 2 * REQ * BS), 0);
  volume_get_stats (v, &after);
  /* Its own blocks and the rest of the first two windows. */
  CU_ASSERT_EQUAL (memstore_counts (m).range_gets, 1);
  CU_ASSERT_EQUAL (after.read_ahead - before.read_ahead,
                   2 * WINDOW - 3 * REQ);
  volume_free (v);
  free (back);
  store_close (memstore_store (m));
}

/* The window at the export's end, with a chunk that is not a power of
 * two (an eighth of a small cache) and an export that ends inside a
 * chunk: a sequential read to the last block reads every block right
 * and fetches nothing past the end (under ASan, no write past the
 * fetches' room).
 */
static void
test_window_at_end (void)
{
  const uint64_t size = (uint64_t) (WRITTEN - 40) * BS;
  const uint64_t chunk = 96;            /* blocks: cache_size / 8 */
  struct memstore *m = written_store ();
  struct volume_params p = {
    .name = EXPORT, .size = size, .block_size = BS,
    .max_dirty = 64 * BS, .cache_size = 8 * chunk * BS, .batch = 64,
    .read_ahead = WINDOW * BS,
  };
  struct volume *v = open_with (m, false, &p);
  const uint64_t nr = size / BS, req = 24;
  char *back = malloc (req * BS), want[BS];
  struct volume_stats st;
  bool same = true;

  CU_ASSERT_PTR_NOT_NULL_FATAL (back);
  memstore_reset_counts (m);
  for (uint64_t first = 0; first < nr; first += req) {
    const uint64_t len = first + req <= nr ? req : nr - first;

    CU_ASSERT_EQUAL (volume_read (v, back, len * BS, first * BS), 0);
    for (uint64_t i = 0; i < len; i++) {
      pattern (want, first + i);
      same = same && memcmp (back + i * BS, want, BS) == 0;
    }
  }
  CU_ASSERT (same);
  volume_get_stats (v, &st);
  /* Every block but those of the first three reads (the stream starts,
   * is continued, then reads ahead) was read ahead, once; no byte past
   * the end was asked of the store.
   */
  CU_ASSERT_EQUAL (st.read_ahead, nr - 3 * req);
  CU_ASSERT_EQUAL (memstore_counts (m).range_bytes, nr * BS);
  volume_free (v);
  free (back);
  store_close (memstore_store (m));
}

/* Single blocks in a scattered order: no read continues another, so
 * each is one ranged GET of one block, and nothing is read ahead; nor
 * when a random read lands just past the one before (fio's random
 * reads do now and then): a stream reads ahead only once established.
 */
static void
test_random (void)
{
  struct memstore *m = written_store ();
  struct volume *v = open_log (m, false, WINDOW * BS);
  struct memstore_counts c;
  struct volume_stats st;
  char back[BS], want[BS];
  const unsigned reads = 200;

  memstore_reset_counts (m);
  for (unsigned k = 1; k <= reads; k++) {
    const uint64_t index = (k * UINT64_C (7919)) % WRITTEN;

    CU_ASSERT_EQUAL (volume_read (v, back, BS, index * BS), 0);
    pattern (want, index);
    CU_ASSERT (memcmp (back, want, BS) == 0);
  }
  /* 1000 and 1001 are not among the scattered ones (k * 7919 % 1024
   * for k up to 200 misses them).
   */
  CU_ASSERT_EQUAL (volume_read (v, back, BS, 1000 * BS), 0);
  CU_ASSERT_EQUAL (volume_read (v, back, BS, 1001 * BS), 0);
  c = memstore_counts (m);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.read_ahead, 0);
  CU_ASSERT_EQUAL (c.range_gets, reads + 2);
  CU_ASSERT_EQUAL (c.range_bytes, (uint64_t) (reads + 2) * BS);
  volume_free (v);
  store_close (memstore_store (m));
}

/* A damaged block read ahead fails no read: only a read that asks for
 * it fails.  The segment's last bytes are the last block's.
 */
static void
test_damaged_ahead (void)
{
  struct memstore *m = written_store ();
  struct volume *v;
  char key[KEY_MAX] = "", *buf, *back = malloc (REQ * BS);
  long len;
  uint64_t first;

  CU_ASSERT_PTR_NOT_NULL_FATAL (back);
  CU_ASSERT_FATAL (memstore_last_key (m, "log/segs/", key, sizeof key));
  len = memstore_peek (m, key, NULL, 0);
  CU_ASSERT_FATAL (len > BS);
  buf = malloc (len);
  CU_ASSERT_PTR_NOT_NULL_FATAL (buf);
  memstore_peek (m, key, buf, len);
  buf[len - 1] ^= 1;
  memstore_set (m, key, buf, len);
  free (buf);

  v = open_log (m, false, WINDOW * BS);
  for (first = 0; first < WRITTEN - REQ; first += REQ)
    CU_ASSERT_EQUAL (volume_read (v, back, REQ * BS, first * BS), 0);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (volume_read (v, back, REQ * BS, first * BS), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_error_log, key));
  volume_free (v);
  free (back);
  store_close (memstore_store (m));
}

/* With no cache, blocks read ahead could not be kept: none is. */
static void
test_no_cache_no_read_ahead (void)
{
  struct memstore *m = written_store ();
  struct volume_params p = {
    .name = EXPORT, .size = SIZE, .block_size = BS,
    .max_dirty = 64 * BS, .cache_size = 0, .batch = 64,
    .read_ahead = WINDOW * BS,
  };
  struct volume *v = open_with (m, false, &p);
  char *back = malloc (REQ * BS);

  CU_ASSERT_PTR_NOT_NULL_FATAL (back);
  memstore_reset_counts (m);
  for (uint64_t first = 0; first < 4 * REQ; first += REQ)
    CU_ASSERT_EQUAL (volume_read (v, back, REQ * BS, first * BS), 0);
  CU_ASSERT_EQUAL (memstore_counts (m).range_gets, 4);
  CU_ASSERT_EQUAL (memstore_counts (m).range_bytes, 4 * REQ * BS);
  volume_free (v);
  free (back);
  store_close (memstore_store (m));
}

UNIT_SUITES (add_read_ahead_tests)
{
  CU_pSuite s = CU_add_suite ("read-ahead", NULL, NULL);

  CU_add_test (s, "sequential reads: one GET a window", test_sequential);
  CU_add_test (s, "out of order: still one GET a window",
               test_out_of_order);
  CU_add_test (s, "late reads keep their stream",
               test_late_reads_keep_stream);
  CU_add_test (s, "the window at the export's end",
               test_window_at_end);
  CU_add_test (s, "random reads: no read-ahead", test_random);
  CU_add_test (s, "a damaged block read ahead fails no read",
               test_damaged_ahead);
  CU_add_test (s, "no cache: no read-ahead", test_no_cache_no_read_ahead);
}
