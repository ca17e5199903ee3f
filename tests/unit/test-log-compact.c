/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the log layout's compaction (docs/log-layout.md,
 * "Compaction") under a volume, against the in-memory store: what an
 * overwrite workload stores before and after, what one step costs in
 * requests, a server that goes away after any single request of a
 * compaction, a client write at every point of a step, and snapshots
 * keeping what they name.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "cas/cas-tree.h"
#include "format/cas-format.h"
#include "format/log-format.h"
#include "layout/layout.h"
#include "crash-points.h"
#include "memstore.h"
#include "nbdkit-standin.h"
#include "tests.h"
#include "volume/volume.h"

#define BS 4096
#define EXPORT "t"
#define ROOT_KEY "cas/roots/t"
#define SNAP_KEY "cas/roots/t-snapshot"
#define NBLOCKS 1024
#define SIZE ((uint64_t) NBLOCKS * BS)          /* 4 MiB, one leaf */
#define SEG_SIZE (128 * 1024)                   /* 31 blocks */
#define RATE (UINT64_C (32) << 20)

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

static struct volume *
open_key (struct memstore *m, const char *root_key, bool readonly,
          uint64_t rate, int *load_result)
{
  struct volume_params p = {
    .name = EXPORT, .size = SIZE, .block_size = BS,
    .max_dirty = 2 * SIZE, .batch = 64,
  };
  struct layout_params lp = {
    .export_name = EXPORT, .block_size = BS, .readonly = readonly,
  };
  struct layout_log_params gp = {
    .root_key = root_key, .size = SIZE,
    .create = !readonly && memstore_peek (m, root_key, NULL, 0) < 0,
    .map_cache_bytes = 1 << 20, .reuse_window_ms = 1000,
    .keep_bytes = 0, .request_bound_ms = 10, .commit_bound_ms = 100000,
    .segment_size = SEG_SIZE, .recent_entries = 64,
    .compact_rate = rate, .compact_threshold_pm = 600,
    .clock_ms = fake_clock, .sleep_ms = fake_sleep,
  };
  struct layout *l = layout_log_open (memstore_store (m), &lp, &gp);
  struct volume *v;

  CU_ASSERT_PTR_NOT_NULL_FATAL (l);
  v = volume_create (l, &p);
  CU_ASSERT_PTR_NOT_NULL_FATAL (v);
  *load_result = volume_load_map (v);
  return v;
}

static struct volume *
reopen (struct memstore *m)
{
  int r;
  struct volume *v = open_key (m, ROOT_KEY, false, RATE, &r);

  CU_ASSERT_EQUAL_FATAL (r, 0);
  return v;
}

/* Block index's content in generation gen (0: zeros): unique per
 * (index, gen), so nothing dedups.
 */
static void
fill (char *buf, uint64_t index, unsigned gen)
{
  memset (buf, gen ? 'a' + gen % 26 : 0, BS);
  if (gen) {
    memcpy (buf, &index, sizeof index);
    memcpy (buf + 8, &gen, sizeof gen);
  }
}

static int
write_gen (struct volume *v, uint64_t index, unsigned gen)
{
  char buf[BS];

  fill (buf, index, gen);
  return gen ? volume_write (v, buf, BS, index * BS, false)
    : volume_zero (v, BS, index * BS, false);
}

static bool
reads_as (struct volume *v, uint64_t index, unsigned gen)
{
  char buf[BS], want[BS];

  fill (want, index, gen);
  return volume_read (v, buf, BS, index * BS) == 0 &&
    memcmp (buf, want, BS) == 0;
}

static struct cas_root
root_at (struct memstore *m, const char *key)
{
  char buf[CAS_ROOT_MAX];
  long len = memstore_peek (m, key, buf, sizeof buf);
  struct cas_root r;
  const char *why = "absent";

  memset (&r, 0, sizeof r);
  CU_ASSERT_FATAL (len > 0);
  CU_ASSERT_EQUAL_FATAL (cas_root_parse (buf, len, &r, &why), 0);
  return r;
}

/* The segments a root names: ids and the bytes stored for them. */
#define MAX_NAMED 4096
struct named {
  size_t n;
  uint8_t ids[MAX_NAMED][LOG_SEG_ID_LEN];
};

static int
named_block (void *opaque, uint64_t index, const struct cas_value *v)
{
  struct named *s = opaque;

  for (size_t i = 0; i < s->n; i++)
    if (memcmp (s->ids[i], v->loc.seg, LOG_SEG_ID_LEN) == 0)
      return 0;
  CU_ASSERT_FATAL (s->n < MAX_NAMED);
  memcpy (s->ids[s->n++], v->loc.seg, LOG_SEG_ID_LEN);
  return 0;
}

static void
named_by (struct memstore *m, const char *root_key, struct named *s)
{
  static const struct cas_walk_ops ops = { .block = named_block };
  struct cas_root r = root_at (m, root_key);

  s->n = 0;
  CU_ASSERT_EQUAL_FATAL (cas_tree_walk (memstore_store (m), EXPORT,
                                        CAS_LEAF_LOCATION,
                                        r.empty ? NULL : &r.top, r.depth,
                                        &ops, s), 0);
}

static bool
names (const struct named *s, const uint8_t id[LOG_SEG_ID_LEN])
{
  for (size_t i = 0; i < s->n; i++)
    if (memcmp (s->ids[i], id, LOG_SEG_ID_LEN) == 0)
      return true;
  return false;
}

/* Bytes of the segments the root names; -1 if one is missing. */
static int64_t
stored_bytes (struct memstore *m, const char *root_key)
{
  static struct named s;
  int64_t total = 0;

  named_by (m, root_key, &s);
  for (size_t i = 0; i < s.n; i++) {
    char key[KEY_MAX];
    long len;

    CU_ASSERT_FATAL (log_segment_key (key, sizeof key, s.ids[i]) > 0);
    len = memstore_peek (m, key, NULL, 0);
    if (len < 0)
      return -1;
    total += len;
  }
  return total;
}

/* Steps until compaction has nothing left (three idle rounds in a
 * row), the clock moving past each step's rate wait.  Returns the
 * rounds that compacted.
 */
static unsigned
compact_all (struct volume *v)
{
  unsigned busy = 0, idle = 0;

  for (int round = 0; round < 2000 && idle < 3; round++) {
    struct volume_stats before, after;

    volume_get_stats (v, &before);
    fake_now += 60 * 1000;
    CU_ASSERT_EQUAL (volume_maintain (v), 0);
    volume_get_stats (v, &after);
    if (after.compact_segments != before.compact_segments) {
      busy++;
      idle = 0;
    }
    else
      idle++;
  }
  CU_ASSERT_EQUAL (idle, 3);
  return busy;
}

/* ---- (a) the space goal ---- */

/* The whole export written, then overwritten three times in random
 * order, flushed every 64 blocks: then compaction brings what the root
 * names within 1.5 x the logical bytes, writes no more than the client
 * wrote, and every block reads as written, also after a reopen.
 */
static void
test_overwrites_then_compact (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  static unsigned last[NBLOCKS];
  uint64_t state = 42;
  struct volume_stats st;
  int64_t before, after;

  fake_now = 1000;
  v = reopen (m);
  /* Written once in order, then 3 x NBLOCKS writes at random places
   * (with replacement, as a random workload is: some blocks are
   * written again several times, some not at all).
   */
  for (size_t i = 0; i < 4 * NBLOCKS; i++) {
    const unsigned gen = 1 + i;
    uint64_t index = i;

    if (i >= NBLOCKS) {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      index = (state >> 33) % NBLOCKS;
    }
    CU_ASSERT_EQUAL_FATAL (write_gen (v, index, gen), 0);
    last[index] = gen;
    if (i % 64 == 63)
      CU_ASSERT_EQUAL_FATAL (volume_flush (v), 0);
  }
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  before = stored_bytes (m, ROOT_KEY);
  CU_ASSERT (before * 2 > 3 * (int64_t) SIZE);  /* something to do */

  CU_ASSERT (compact_all (v) > 0);
  after = stored_bytes (m, ROOT_KEY);
  volume_get_stats (v, &st);
  fprintf (stderr, "compaction: named %" PRId64 " -> %" PRId64 " bytes "
           "(logical %" PRIu64 "), wrote %" PRIu64 " (client %" PRIu64
           "), %" PRIu64 " segments, %" PRIu64 " blocks\n", before, after,
           SIZE, st.compact_written_bytes, st.segment_bytes,
           st.compact_segments, st.compact_blocks);
  CU_ASSERT (after > 0);
  CU_ASSERT (after * 2 <= 3 * (int64_t) SIZE);
  CU_ASSERT (st.compact_written_bytes <= st.segment_bytes);
  CU_ASSERT_EQUAL (st.compact_lost, 0);
  for (uint64_t i = 0; i < NBLOCKS; i++)
    CU_ASSERT (reads_as (v, i, last[i]));
  volume_free (v);

  v = reopen (m);
  for (uint64_t i = 0; i < NBLOCKS; i++)
    CU_ASSERT (reads_as (v, i, last[i]));
  /* The metrics' live and dead bytes: unknown until a walk. */
  volume_get_stats (v, &st);
  CU_ASSERT (!st.log_usage_known);
  /* Nothing left: a step with no root landed since makes no request. */
  memstore_reset_counts (m);
  fake_now += 60 * 1000;
  CU_ASSERT_EQUAL (volume_maintain (v), 0);     /* the walk */
  volume_get_stats (v, &st);
  CU_ASSERT (st.log_usage_known);
  CU_ASSERT_EQUAL (st.log_live_bytes, SIZE);    /* every block, raw */
  CU_ASSERT (st.log_stored_bytes >= st.log_live_bytes);
  /* Data bytes only: the segments' headers and indexes are not. */
  CU_ASSERT (st.log_stored_bytes < (uint64_t) after);
  fake_now += 60 * 1000;
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (volume_maintain (v), 0);
  CU_ASSERT_EQUAL (memstore_requests (m), 0);
  volume_free (v);
  store_close (memstore_store (m));
}

/* ---- exact requests of one step ---- */

static void
test_step_cost (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  struct memstore_counts c;
  struct volume_stats st;
  struct named s0, s1;

  fake_now = 1000;
  v = reopen (m);
  /* Segment A: blocks 0..7; segment B: 0..5 again.  A is 2/8 live. */
  for (uint64_t i = 0; i < 8; i++)
    CU_ASSERT_EQUAL (write_gen (v, i, 1), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  for (uint64_t i = 0; i < 6; i++)
    CU_ASSERT_EQUAL (write_gen (v, i, 2), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  named_by (m, ROOT_KEY, &s0);
  CU_ASSERT_EQUAL (s0.n, 2);
  CU_ASSERT_EQUAL (memstore_count (m, "log/segs/"), 2);
  volume_free (v);

  /* A server just opened: its page cache is empty.  1 KiB/s: the
   * step's bytes make the next wait seconds.
   */
  {
    int r;

    v = open_key (m, ROOT_KEY, false, 1024, &r);
    CU_ASSERT_EQUAL (r, 0);
  }
  fake_now += 60 * 1000;
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (volume_maintain (v), 0);
  c = memstore_counts (m);
  /* The walk: 1 leaf GET (depth 0: the top is the leaf).  2 headers
   * and A's index: 3 ranged GETs; blocks 6 and 7: 1 ranged GET.  The
   * lookups: 1 leaf GET into the page cache.  The new segment: 1 PUT;
   * the commit: 1 fence LIST, 1 leaf PUT, 1 root PUT.
   */
  CU_ASSERT_EQUAL (root_at (m, ROOT_KEY).depth, 0);
  CU_ASSERT_EQUAL (c.gets, 2);
  CU_ASSERT_EQUAL (c.range_gets, 4);
  CU_ASSERT_EQUAL (c.puts, 3);
  CU_ASSERT_EQUAL (c.lists, 1);
  CU_ASSERT_EQUAL (c.deletes, 0);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.compact_segments, 1);
  CU_ASSERT_EQUAL (st.compact_blocks, 2);
  CU_ASSERT_EQUAL (st.compact_puts, 1);
  CU_ASSERT_EQUAL (st.compact_written_bytes,
                   LOG_SEG_DATA_START (2) + 2 * BS);
  named_by (m, ROOT_KEY, &s1);
  CU_ASSERT_EQUAL (s1.n, 2);
  CU_ASSERT_FALSE (names (&s1, s0.ids[0]) && names (&s1, s0.ids[1]));
  /* The old segment stays stored: deleting it is gc's. */
  CU_ASSERT_EQUAL (memstore_count (m, "log/segs/"), 3);
  for (uint64_t i = 0; i < 8; i++)
    CU_ASSERT (reads_as (v, i, i < 6 ? 2 : 1));

  /* Within the rate's wait: nothing. */
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (volume_maintain (v), 0);
  CU_ASSERT_EQUAL (memstore_requests (m), 0);
  volume_free (v);

  /* Rate 0: off. */
  {
    int r;

    v = open_key (m, ROOT_KEY, false, 0, &r);
    CU_ASSERT_EQUAL (r, 0);
    memstore_reset_counts (m);
    fake_now += 60 * 1000;
    CU_ASSERT_EQUAL (volume_maintain (v), 0);
    CU_ASSERT_EQUAL (memstore_requests (m), 0);
    volume_free (v);
  }
  store_close (memstore_store (m));
}

/* ---- a damaged segment ----
 * A block of the segment to compact is damaged: the step fails, naming
 * the segment, moves nothing, and is not retried every round.
 */
static void
test_damaged_segment (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  struct volume_stats st;
  struct named a;
  char key[KEY_MAX], *bytes;
  long len;

  fake_now = 1000;
  v = reopen (m);
  for (uint64_t i = 0; i < 8; i++)
    CU_ASSERT_EQUAL (write_gen (v, i, 1), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  named_by (m, ROOT_KEY, &a);
  CU_ASSERT_EQUAL_FATAL (a.n, 1);
  for (uint64_t i = 0; i < 6; i++)
    CU_ASSERT_EQUAL (write_gen (v, i, 2), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_free (v);

  /* The last byte of the segment: block 7's. */
  CU_ASSERT_FATAL (log_segment_key (key, sizeof key, a.ids[0]) > 0);
  len = memstore_peek (m, key, NULL, 0);
  CU_ASSERT_FATAL (len > 0);
  bytes = malloc (len);
  CU_ASSERT_FATAL (bytes != NULL);
  CU_ASSERT_EQUAL (memstore_peek (m, key, bytes, len), len);
  bytes[len - 1] ^= 1;
  memstore_set (m, key, bytes, len);
  free (bytes);

  v = reopen (m);
  fake_now += 60 * 1000;
  standin_reset_errors ();
  CU_ASSERT_EQUAL (volume_maintain (v), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, key));
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.compact_blocks, 0);
  CU_ASSERT_EQUAL (st.compact_puts, 0);
  CU_ASSERT (reads_as (v, 6, 1));
  /* Not again every round. */
  fake_now += 60 * 1000;
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (volume_maintain (v), 0);
  CU_ASSERT_EQUAL (memstore_requests (m), 0);
  volume_free (v);
  store_close (memstore_store (m));
}

/* ---- (b) crash after every request ----
 * Two flushes leave low-live segments; compaction runs; a third flush
 * and more compaction follow.  The server goes away after n requests,
 * for every n: the reopened export reads as exactly one flushed state,
 * at least the last that returned, and compaction never shows.
 */
#define NR_TRACKED 12
#define NR_FLUSHES 3
static const unsigned gens[NR_FLUSHES + 1][NR_TRACKED] = {
  { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 },
  { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 },
  { 2, 2, 2, 2, 2, 2, 2, 2, 1, 1, 1, 0 },
  { 3, 2, 3, 2, 0, 2, 3, 2, 1, 3, 1, 3 },
};

static int
crash_workload (struct memstore *m)
{
  int r, durable = 0;
  struct volume *v;

  fake_now = 1000;
  v = open_key (m, ROOT_KEY, false, RATE, &r);
  if (r == -1) {
    volume_free (v);
    return 0;
  }
  for (int k = 1; k <= NR_FLUSHES; k++) {
    for (int j = 0; j < NR_TRACKED; j++)
      if (gens[k][j] != gens[k - 1][j])
        (void) write_gen (v, j * 3, gens[k][j]);
    if (volume_flush (v) == 0 && durable == k - 1)
      durable = k;
    for (int step = 0; step < 3; step++) {
      fake_now += 60 * 1000;
      (void) volume_maintain (v);
    }
  }
  volume_free (v);
  return durable;
}

static int
state_of (struct memstore *m)
{
  struct volume *v = reopen (m);
  int found = -1;

  for (int k = 0; k <= NR_FLUSHES && found == -1; k++) {
    bool all = true;

    for (int j = 0; j < NR_TRACKED && all; j++)
      all = reads_as (v, j * 3, gens[k][j]);
    if (all)
      found = k;
  }
  volume_free (v);
  return found;
}

static void
test_crash_every_request (void)
{
  static const struct crash_workload w = {
    .name = "compaction crash test", .last_state = NR_FLUSHES,
    .run = crash_workload, .state_of = state_of, .min_requests = 31,
  };
  struct memstore *m = memstore_new ();
  struct volume_stats st;
  struct volume *v;
  int r;

  /* The workload compacts: its stats, on a run of its own. */
  fake_now = 1000;
  v = open_key (m, ROOT_KEY, false, RATE, &r);
  for (int j = 0; j < NR_TRACKED; j++)
    (void) write_gen (v, j * 3, 1);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  for (int j = 0; j < 8; j++)
    (void) write_gen (v, j * 3, 2);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  fake_now += 60 * 1000;
  CU_ASSERT_EQUAL (volume_maintain (v), 0);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.compact_segments, 1);
  CU_ASSERT_EQUAL (st.compact_blocks, 4);
  volume_free (v);
  store_close (memstore_store (m));

  crash_every_request (&w);
}

/* ---- (c) a client write during a step wins ----
 * The hook writes block 7 (and, with flush, commits it) at the start of
 * the step's batch number `at`, for every batch of the step: whatever
 * the point, block 7 reads as the client's, before and after a reopen.
 */
struct racer {
  struct volume *v;
  struct memstore *m;
  int countdown;
  bool flush;
  bool done;
};

static void
race_hook (void *opaque)
{
  struct racer *r = opaque;
  struct volume_stats st;

  if (--r->countdown > 0) {
    memstore_set_hook (r->m, race_hook, r);
    return;
  }
  r->done = true;
  CU_ASSERT_EQUAL (write_gen (r->v, 7, 9), 0);
  /* Not in the step's own commit, which this flush would wait for:
   * a write there is pending for the next flush.
   */
  volume_get_stats (r->v, &st);
  if (r->flush && st.compact_segments == 0)
    CU_ASSERT_EQUAL (volume_flush (r->v), 0);
}

static void
test_client_write_wins (void)
{
  uint64_t lost = 0;
  unsigned steps = 0;

  for (int flush = 0; flush <= 1; flush++)
    for (int at = 1; at < 30; at++) {
      struct memstore *m = memstore_new ();
      struct volume *v;
      struct volume_stats st;
      struct racer r = { .m = m, .countdown = at, .flush = flush };

      fake_now = 1000;
      v = reopen (m);
      for (uint64_t i = 0; i < 8; i++)
        CU_ASSERT_EQUAL (write_gen (v, i, 1), 0);
      CU_ASSERT_EQUAL (volume_flush (v), 0);
      for (uint64_t i = 0; i < 6; i++)
        CU_ASSERT_EQUAL (write_gen (v, i, 2), 0);
      CU_ASSERT_EQUAL (volume_flush (v), 0);
      volume_free (v);

      v = reopen (m);
      r.v = v;
      fake_now += 60 * 1000;
      memstore_set_hook (m, race_hook, &r);
      CU_ASSERT_EQUAL (volume_maintain (v), 0);
      memstore_set_hook (m, NULL, NULL);
      if (!r.done) {
        /* Past the step's last batch: every point was tried. */
        volume_free (v);
        store_close (memstore_store (m));
        break;
      }
      steps++;
      volume_get_stats (v, &st);
      lost += st.compact_lost;
      CU_ASSERT (reads_as (v, 7, 9));
      CU_ASSERT (reads_as (v, 6, 1));
      CU_ASSERT_EQUAL (volume_flush (v), 0);
      volume_free (v);
      v = reopen (m);
      CU_ASSERT (reads_as (v, 7, 9));
      CU_ASSERT (reads_as (v, 6, 1));
      for (uint64_t i = 0; i < 6; i++)
        CU_ASSERT (reads_as (v, i, 2));
      volume_free (v);
      store_close (memstore_store (m));
    }
  /* The write landed between the read and the install at some point. */
  CU_ASSERT (steps > 8);
  CU_ASSERT (lost > 0);
}

/* ---- (d) snapshots keep what they name ---- */

static void
test_snapshot_keeps_segments (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  char root[CAS_ROOT_MAX];
  long len;
  struct named snap_before, snap_after, now;
  int r;

  fake_now = 1000;
  v = reopen (m);
  for (uint64_t i = 0; i < 8; i++)
    CU_ASSERT_EQUAL (write_gen (v, i, 1), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  /* A snapshot: a copy of the root (what s3blocks snapshot PUTs). */
  len = memstore_peek (m, ROOT_KEY, root, sizeof root);
  CU_ASSERT_FATAL (len > 0);
  memstore_set (m, SNAP_KEY, root, len);
  for (uint64_t i = 0; i < 6; i++)
    CU_ASSERT_EQUAL (write_gen (v, i, 2), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  named_by (m, SNAP_KEY, &snap_before);
  CU_ASSERT_EQUAL (snap_before.n, 1);

  CU_ASSERT (compact_all (v) > 0);
  volume_free (v);

  /* The snapshot's root and segments are untouched; the export's
   * root no longer names the segment the snapshot does.
   */
  CU_ASSERT_EQUAL (memstore_peek (m, SNAP_KEY, NULL, 0), len);
  named_by (m, SNAP_KEY, &snap_after);
  CU_ASSERT_EQUAL (snap_after.n, 1);
  CU_ASSERT_EQUAL (memcmp (snap_after.ids[0], snap_before.ids[0],
                           LOG_SEG_ID_LEN), 0);
  named_by (m, ROOT_KEY, &now);
  CU_ASSERT_FALSE (names (&now, snap_before.ids[0]));
  CU_ASSERT (stored_bytes (m, SNAP_KEY) > 0);

  v = open_key (m, SNAP_KEY, true, RATE, &r);
  CU_ASSERT_EQUAL (r, 0);
  for (uint64_t i = 0; i < 8; i++)
    CU_ASSERT (reads_as (v, i, 1));
  /* Read-only: no compaction. */
  memstore_reset_counts (m);
  fake_now += 60 * 1000;
  CU_ASSERT_EQUAL (volume_maintain (v), 0);
  CU_ASSERT_EQUAL (memstore_requests (m), 0);
  volume_free (v);

  v = reopen (m);
  for (uint64_t i = 0; i < 8; i++)
    CU_ASSERT (reads_as (v, i, i < 6 ? 2 : 1));
  volume_free (v);
  store_close (memstore_store (m));
}

UNIT_SUITES (add_log_compact_tests)
{
  CU_pSuite s = CU_add_suite ("log compaction", NULL, NULL);

  CU_add_test (s, "three overwrites, then compaction: within 1.5x",
               test_overwrites_then_compact);
  CU_add_test (s, "one step's requests", test_step_cost);
  CU_add_test (s, "a damaged segment", test_damaged_segment);
  CU_add_test (s, "crash at every request", test_crash_every_request);
  CU_add_test (s, "a client write during a step wins",
               test_client_write_wins);
  CU_add_test (s, "snapshots keep their segments",
               test_snapshot_keeps_segments);
}
