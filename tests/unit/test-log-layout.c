/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the log layout (docs/log-layout.md) under a
 * volume, against the in-memory store: round trips, what a flush and
 * a read cost in requests, dedup, the refresh rule and kept copies on
 * a fake clock, damaged and missing segments, roots of the other
 * layout, and commits that stay atomic when the server goes away after
 * any single request.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "format/cas-format.h"
#include "format/cas-tree-format.h"
#include "format/log-format.h"
#include "layout/layout.h"
#include "layout/log/log-segio.h"
#include "crash-points.h"
#include "memstore.h"
#include "nbdkit-standin.h"
#include "tests.h"
#include "volume/volume.h"

#define BS 4096
#define EXPORT "t"
#define ROOT_KEY "cas/roots/t"
#define SMALL (UINT64_C (64) << 20)     /* 16384 blocks */
#define WINDOW_MS 1000
#define SEGS "log/segs/"

static uint64_t fake_now;
static bool no_keep;            /* open with keep_bytes 0 */

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

struct opts {
  uint64_t size;
  uint64_t max_dirty;
  bool create;
  bool cas;                     /* open with the cas layout instead */
  unsigned batch;
};

static struct volume *
open_opts (struct memstore *m, const struct opts *o, int *load_result)
{
  struct volume_params p = {
    .name = EXPORT, .size = o->size ? o->size : SMALL, .block_size = BS,
    .max_dirty = o->max_dirty ? o->max_dirty : 64 * BS,
    .batch = o->batch ? o->batch : 4,
  };
  struct layout_params lp = { .export_name = EXPORT, .block_size = BS };
  struct layout *l;
  struct volume *v;

  if (o->cas) {
    struct layout_cas_params cp = {
      .root_key = ROOT_KEY, .size = p.size, .create = o->create,
      .map_cache_bytes = 1 << 20, .reuse_window_ms = WINDOW_MS,
      .keep_bytes = p.max_dirty, .request_bound_ms = 10,
      .commit_bound_ms = 100000, .clock_ms = fake_clock,
      .sleep_ms = fake_sleep,
    };
    l = layout_cas_open (memstore_store (m), &lp, &cp);
  }
  else {
    struct layout_log_params gp = {
      .root_key = ROOT_KEY, .size = p.size, .create = o->create,
      .map_cache_bytes = 1 << 20, .reuse_window_ms = WINDOW_MS,
      .keep_bytes = no_keep ? 0 : p.max_dirty, .request_bound_ms = 10,
      .commit_bound_ms = 100000, .recent_entries = 64,
      .clock_ms = fake_clock, .sleep_ms = fake_sleep,
    };
    l = layout_log_open (memstore_store (m), &lp, &gp);
  }
  CU_ASSERT_PTR_NOT_NULL_FATAL (l);
  v = volume_create (l, &p);
  CU_ASSERT_PTR_NOT_NULL_FATAL (v);
  *load_result = volume_load_map (v);
  return v;
}

static struct volume *
open_with (struct memstore *m, uint64_t max_dirty, unsigned batch)
{
  struct opts o = {
    .max_dirty = max_dirty, .batch = batch,
    .create = memstore_peek (m, ROOT_KEY, NULL, 0) < 0,
  };
  int r;
  struct volume *v = open_opts (m, &o, &r);

  CU_ASSERT_EQUAL_FATAL (r, 0);
  return v;
}

static struct volume *
reopen (struct memstore *m)
{
  return open_with (m, 0, 0);
}

static void
fill (char *buf, int seed)
{
  memset (buf, seed, BS);
}

static int
write_seed (struct volume *v, uint64_t index, int seed)
{
  char buf[BS];

  fill (buf, seed);
  return seed ? volume_write (v, buf, BS, index * BS, false)
    : volume_zero (v, BS, index * BS, false);
}

static bool
reads_as (struct volume *v, uint64_t index, int seed)
{
  char buf[BS], want[BS];

  fill (want, seed);
  return volume_read (v, buf, BS, index * BS) == 0 &&
    memcmp (buf, want, BS) == 0;
}

static struct cas_root
root_of (struct memstore *m)
{
  char buf[CAS_ROOT_MAX];
  long len = memstore_peek (m, ROOT_KEY, buf, sizeof buf);
  struct cas_root r;
  const char *why = "absent";

  memset (&r, 0, sizeof r);
  CU_ASSERT_FATAL (len > 0);
  CU_ASSERT_EQUAL_FATAL (cas_root_parse (buf, len, &r, &why), 0);
  return r;
}

/* ---- round trips ---- */

static void
test_round_trip (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v;

  fake_now = 10;
  v = reopen (m);
  CU_ASSERT_EQUAL (root_of (m).leaf, CAS_LEAF_LOCATION);
  CU_ASSERT_EQUAL (write_seed (v, 0, 1), 0);
  CU_ASSERT_EQUAL (write_seed (v, 1, 2), 0);
  CU_ASSERT_EQUAL (write_seed (v, 5000, 3), 0);
  CU_ASSERT (reads_as (v, 1, 2));       /* dirty */
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT (reads_as (v, 5000, 3));    /* committed */
  volume_free (v);

  v = reopen (m);
  CU_ASSERT (reads_as (v, 0, 1));
  CU_ASSERT (reads_as (v, 1, 2));
  CU_ASSERT (reads_as (v, 5000, 3));
  CU_ASSERT (reads_as (v, 2, 0));       /* a hole */
  CU_ASSERT (reads_as (v, 16383, 0));
  /* Overwrite one, zero another. */
  CU_ASSERT_EQUAL (write_seed (v, 1, 9), 0);
  CU_ASSERT_EQUAL (write_seed (v, 0, 0), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (root_of (m).generation, 2);
  CU_ASSERT_EQUAL (root_of (m).blocks, 2);
  /* Resize: recorded by the next commit, even with no block changed. */
  CU_ASSERT_EQUAL (volume_resize (v, 2 * SMALL), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (root_of (m).size, 2 * SMALL);
  volume_free (v);

  v = reopen (m);
  CU_ASSERT (reads_as (v, 0, 0));
  CU_ASSERT (reads_as (v, 1, 9));
  CU_ASSERT (reads_as (v, 5000, 3));
  volume_free (v);
  store_close (memstore_store (m));
}

/* ---- requests ---- */

static void
test_flush_cost (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  struct memstore_counts c;
  const unsigned depth = cas_depth_for (CAS_LEAF_LOCATION, SMALL / BS);

  fake_now = 0;
  v = reopen (m);
  fake_now++;
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (write_seed (v, 77, 7), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  c = memstore_counts (m);
  /* 1 segment + (depth + 1) pages + 1 root: 4 PUTs (depth 1), and the
   * fence's LIST: 5 requests, docs/log-layout.md, "Requests".
   */
  CU_ASSERT_EQUAL (depth, 1);
  CU_ASSERT_EQUAL (c.puts, 1 + (depth + 1) + 1);
  CU_ASSERT_EQUAL (c.lists, 1);
  CU_ASSERT_EQUAL (c.gets, 0);
  CU_ASSERT_EQUAL (c.deletes, 0);
  CU_ASSERT_EQUAL (memstore_requests (m), 5);
  CU_ASSERT_EQUAL (memstore_count (m, SEGS), 1);
  CU_ASSERT_EQUAL (memstore_count (m, "cas/data/"), 0);
  /* Nothing new: nothing written. */
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (memstore_requests (m), 0);
  volume_free (v);
  store_close (memstore_store (m));
}

/* A full 8 MiB segment of sequential blocks in one batch: one segment
 * PUT.  (2048 blocks of 4 KiB do not fit in 8 MiB beside their header
 * and index: log_segment_capacity gives 2015.)  Read back on a fresh
 * open: the pages on the path, then ranged GETs of at most
 * LOG_SEGIO_MAX_READ_DEFAULT (4 MiB) each: 2.
 */
static void
test_sequential_cost (void)
{
  const size_t SEQ = log_segment_capacity (BS,
                                           LOG_SEGIO_SEGMENT_SIZE_DEFAULT);
  struct memstore *m = memstore_new ();
  struct volume *v;
  char *buf = malloc (SEQ * BS), *back = malloc (SEQ * BS);
  struct memstore_counts c;
  const unsigned depth = cas_depth_for (CAS_LEAF_LOCATION, SMALL / BS);

  CU_ASSERT_PTR_NOT_NULL_FATAL (buf);
  CU_ASSERT_PTR_NOT_NULL_FATAL (back);
  CU_ASSERT (SEQ > 2000 && SEQ < 2048);
  for (size_t i = 0; i < SEQ; i++)
    memset (buf + i * BS, (int) (i % 251) + 1, BS);
  fake_now = 0;
  v = open_with (m, 2 * SEQ * BS, SEQ);
  fake_now++;
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (volume_write (v, buf, SEQ * BS, 0, false), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (memstore_count (m, SEGS), 1);
  c = memstore_counts (m);
  CU_ASSERT_EQUAL (c.puts, 1 + (depth + 1) + 1);
  volume_free (v);

  v = open_with (m, 2 * SEQ * BS, SEQ);
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (volume_read (v, back, SEQ * BS, 0), 0);
  CU_ASSERT (memcmp (buf, back, SEQ * BS) == 0);
  c = memstore_counts (m);
  /* depth + 1 pages on the path (one leaf covers 4096 blocks), then
   * two 4 MiB ranged GETs (LOG_SEGIO_MAX_READ_DEFAULT).
   */
  CU_ASSERT_EQUAL (c.gets, depth + 1);
  CU_ASSERT_EQUAL (c.range_gets, 2);
  volume_free (v);
  free (buf);
  free (back);
  store_close (memstore_store (m));
}

/* ---- dedup ---- */

static void
test_dedup (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  struct volume_stats st;

  fake_now = 0;
  v = reopen (m);
  CU_ASSERT_EQUAL (write_seed (v, 0, 9), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (memstore_count (m, SEGS), 1);
  /* Within the window: no segment PUT. */
  CU_ASSERT_EQUAL (write_seed (v, 100, 9), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (memstore_count (m, SEGS), 1);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.dedup_hits, 1);
  /* After it: stored again. */
  fake_now += WINDOW_MS + 1;
  CU_ASSERT_EQUAL (write_seed (v, 200, 9), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (memstore_count (m, SEGS), 2);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.dedup_hits, 1);
  volume_free (v);

  v = reopen (m);
  CU_ASSERT (reads_as (v, 0, 9));
  CU_ASSERT (reads_as (v, 100, 9));
  CU_ASSERT (reads_as (v, 200, 9));
  volume_free (v);
  store_close (memstore_store (m));
}

/* ---- the refresh rule and kept copies (docs/gc-safety.md, steps 4,
 * 10) ----
 */

/* A segment uploaded by a write-back of max-dirty (no commit) whose
 * commit starts later than the reuse window: PUT again, same key, by
 * the commit, from the kept copy or, with none, read back whole.
 */
static void
refresh_case (bool keep)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  struct volume_stats st;
  struct memstore_counts c;

  fake_now = 1000;
  no_keep = !keep;
  v = open_with (m, BS, 0);
  no_keep = false;
  fake_now++;
  CU_ASSERT_EQUAL (write_seed (v, 3, 4), 0);
  CU_ASSERT_EQUAL (write_seed (v, 4, 5), 0);    /* pushes block 3 out */
  CU_ASSERT_EQUAL (memstore_count (m, SEGS), 1);
  fake_now += WINDOW_MS + 5;
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.refreshes, 1);
  c = memstore_counts (m);
  /* 2 segments (block 3's again, block 4's), 2 pages, the root. */
  CU_ASSERT_EQUAL (c.puts, 5);
  CU_ASSERT_EQUAL (c.gets + c.range_gets, keep ? 0 : 1);
  CU_ASSERT_EQUAL (memstore_count (m, SEGS), 2);
  volume_free (v);
  v = reopen (m);
  CU_ASSERT (reads_as (v, 3, 4));
  CU_ASSERT (reads_as (v, 4, 5));
  volume_free (v);
  store_close (memstore_store (m));
}

static void
test_refresh_old_segment (void)
{
  refresh_case (true);
  refresh_case (false);
}

/* Deleted (a gc sweep that raced its upload) before its commit: put
 * back from the kept copy; with no copy the commit fails naming it and
 * no root naming it lands.
 */
static void
gone_case (bool keep)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  char key[KEY_MAX];
  struct cas_root before;
  int r;

  fake_now = 1000;
  no_keep = !keep;
  v = open_with (m, BS, 0);
  no_keep = false;
  fake_now++;
  CU_ASSERT_EQUAL (write_seed (v, 8, 5), 0);
  CU_ASSERT_EQUAL (write_seed (v, 9, 6), 0);    /* pushes block 8 out */
  CU_ASSERT_FATAL (memstore_last_key (m, SEGS, key, KEY_MAX));
  CU_ASSERT_EQUAL (store_delete (memstore_store (m), key), 0);
  before = root_of (m);
  fake_now += WINDOW_MS + 5;
  standin_reset_errors ();
  r = volume_flush (v);
  if (keep) {
    CU_ASSERT_EQUAL (r, 0);
    CU_ASSERT (memstore_peek (m, key, NULL, 0) > 0);    /* put back */
  }
  else {
    CU_ASSERT_EQUAL (r, -1);
    CU_ASSERT_PTR_NOT_NULL (strstr (standin_error_log, key));
    CU_ASSERT_PTR_NOT_NULL (strstr (standin_error_log, "export t"));
    CU_ASSERT_EQUAL (root_of (m).generation, before.generation);
  }
  volume_free (v);
  if (keep) {
    v = reopen (m);
    CU_ASSERT (reads_as (v, 8, 5));
    CU_ASSERT (reads_as (v, 9, 6));
    volume_free (v);
  }
  store_close (memstore_store (m));
}

static void
test_gone_before_commit (void)
{
  gone_case (true);
  gone_case (false);
}

/* ---- damage ---- */

static void
test_damaged_segment (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  char key[KEY_MAX], *buf;
  long len;

  fake_now = 0;
  v = reopen (m);
  CU_ASSERT_EQUAL (write_seed (v, 4, 1), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_free (v);
  CU_ASSERT_FATAL (memstore_last_key (m, SEGS, key, KEY_MAX));
  len = memstore_peek (m, key, NULL, 0);
  CU_ASSERT_FATAL (len > BS);
  buf = malloc (len);
  CU_ASSERT_FATAL (buf != NULL);
  memstore_peek (m, key, buf, len);
  buf[len - 1] ^= 1;            /* the block's last byte */
  memstore_set (m, key, buf, len);
  free (buf);

  v = reopen (m);
  standin_reset_errors ();
  CU_ASSERT (!reads_as (v, 4, 1));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_error_log, key));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_error_log, "t"));
  volume_free (v);

  /* Missing, its location unchanged: EIO naming it and the block. */
  CU_ASSERT_EQUAL (store_delete (memstore_store (m), key), 0);
  v = reopen (m);
  standin_reset_errors ();
  CU_ASSERT (!reads_as (v, 4, 1));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_error_log, key));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_error_log, "export t"));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_error_log, "block 4"));
  volume_free (v);
  store_close (memstore_store (m));
}

/* ---- extents, the sweep fence ---- */

struct ext {
  uint64_t off[16], len[16];
  uint32_t type[16];
  int n;
};

static int
add_ext (void *opaque, uint64_t offset, uint64_t length, uint32_t type)
{
  struct ext *e = opaque;

  if (e->n < 16) {
    e->off[e->n] = offset;
    e->len[e->n] = length;
    e->type[e->n] = type;
  }
  e->n++;
  return 0;
}

/* present: the tree's blocks with the pending changes over them. */
static void
test_extents (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  struct ext e = { .n = 0 };
  const uint32_t hole = VOLUME_EXTENT_HOLE | VOLUME_EXTENT_ZERO;

  fake_now = 0;
  v = reopen (m);
  CU_ASSERT_EQUAL (write_seed (v, 2, 1), 0);
  CU_ASSERT_EQUAL (write_seed (v, 3, 2), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (write_seed (v, 3, 0), 0);      /* dirty zero */
  CU_ASSERT_EQUAL (write_seed (v, 6, 5), 0);      /* dirty */
  CU_ASSERT_EQUAL (volume_extents (v, 8 * BS, 0, false, add_ext, &e), 0);
  CU_ASSERT_EQUAL_FATAL (e.n, 5);
  CU_ASSERT (e.off[0] == 0 && e.len[0] == 2 * BS && e.type[0] == hole);
  CU_ASSERT (e.off[1] == 2 * BS && e.len[1] == BS && e.type[1] == 0);
  CU_ASSERT (e.off[2] == 3 * BS && e.len[2] == 3 * BS && e.type[2] == hole);
  CU_ASSERT (e.off[3] == 6 * BS && e.len[3] == BS && e.type[3] == 0);
  CU_ASSERT (e.off[4] == 7 * BS && e.len[4] == BS && e.type[4] == hole);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_free (v);

  v = reopen (m);
  e.n = 0;
  CU_ASSERT_EQUAL (volume_extents (v, 8 * BS, 0, false, add_ext, &e), 0);
  CU_ASSERT_EQUAL_FATAL (e.n, 5);
  CU_ASSERT (e.off[2] == 3 * BS && e.len[2] == 3 * BS && e.type[2] == hole);
  CU_ASSERT (e.off[3] == 6 * BS && e.type[3] == 0);
  volume_free (v);
  store_close (memstore_store (m));
}

/* A segment PUT in the same millisecond as the LIST that began the
 * fence's quiet run may have started before it: the commit PUTs it
 * again (docs/gc-safety.md, step 9), and its pages after it.
 */
static void
test_fence_same_ms (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  struct volume_stats st;
  struct memstore_counts c;

  fake_now = 50;
  v = reopen (m);
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (write_seed (v, 1, 3), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.refreshes, 1);
  c = memstore_counts (m);
  /* The segment twice, the 2 pages twice (built again after the
   * refresh: same content, same keys), the root.
   */
  CU_ASSERT_EQUAL (c.puts, 2 + 2 * 2 + 1);
  CU_ASSERT_EQUAL (memstore_count (m, SEGS), 1);
  volume_free (v);
  v = reopen (m);
  CU_ASSERT (reads_as (v, 1, 3));
  volume_free (v);
  store_close (memstore_store (m));
}

/* ---- the other layout's roots ---- */

static void
test_other_layout_refused (void)
{
  struct memstore *m = memstore_new ();
  struct opts o = { .create = true, .cas = true };
  struct volume *v;
  int r;

  fake_now = 0;
  v = open_opts (m, &o, &r);
  CU_ASSERT_EQUAL (r, 0);
  CU_ASSERT_EQUAL (write_seed (v, 1, 1), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_free (v);
  /* A cas root opened by the log layout. */
  o.cas = false;
  o.create = false;
  standin_reset_errors ();
  v = open_opts (m, &o, &r);
  CU_ASSERT_EQUAL (r, -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, ROOT_KEY));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "cas layout"));
  volume_free (v);
  store_close (memstore_store (m));

  /* A log root opened by the cas layout. */
  m = memstore_new ();
  v = reopen (m);
  CU_ASSERT_EQUAL (write_seed (v, 1, 1), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_free (v);
  o.cas = true;
  standin_reset_errors ();
  v = open_opts (m, &o, &r);
  CU_ASSERT_EQUAL (r, -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "log layout"));
  volume_free (v);
  store_close (memstore_store (m));
}

/* ---- crash safety (docs/log-layout.md, "Crash safety") ----
 * Flushes that each change several blocks (overwrites, zeroing,
 * identical contents, several leaves), max-dirty small enough for
 * write-backs in between.  The server goes away after n requests, for
 * every n: the reopened export reads as exactly one completed flush,
 * at least the last that returned success.
 */
#define NR_TRACKED 7
#define NR_FLUSHES 4
static const uint64_t tracked[NR_TRACKED] = {
  0, 1, 2, 4095, 4096, 9000, 16383,
};
static const int seeds[NR_FLUSHES + 1][NR_TRACKED] = {
  { 0, 0, 0, 0, 0, 0, 0 },
  { 1, 2, 3, 4, 5, 6, 1 },
  { 7, 0, 3, 3, 5, 8, 1 },
  { 0, 0, 9, 3, 1, 8, 10 },
  { 0, 11, 0, 0, 0, 0, 10 },
};

static int
workload (struct memstore *m)
{
  struct opts o = {
    .max_dirty = 3 * BS,
    .create = memstore_peek (m, ROOT_KEY, NULL, 0) < 0,
  };
  int r, durable = 0;
  struct volume *v;

  fake_now = 0;
  v = open_opts (m, &o, &r);
  if (r == -1) {
    volume_free (v);
    return 0;
  }
  for (int k = 1; k <= NR_FLUSHES; k++) {
    for (int j = 0; j < NR_TRACKED; j++)
      if (seeds[k][j] != seeds[k - 1][j])
        (void) write_seed (v, tracked[j], seeds[k][j]);
    if (volume_flush (v) == 0 && durable == k - 1)
      durable = k;
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
      all = reads_as (v, tracked[j], seeds[k][j]);
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
    .name = "log crash test", .last_state = NR_FLUSHES,
    .run = workload, .state_of = state_of, .min_requests = 21,
  };

  crash_every_request (&w);
}

UNIT_SUITES (add_log_layout_tests)
{
  CU_pSuite s = CU_add_suite ("log layout", NULL, NULL);

  CU_add_test (s, "round trip, holes, overwrite, resize", test_round_trip);
  CU_add_test (s, "one-block flush cost", test_flush_cost);
  CU_add_test (s, "sequential write and read cost", test_sequential_cost);
  CU_add_test (s, "dedup within the reuse window", test_dedup);
  CU_add_test (s, "refresh rule", test_refresh_old_segment);
  CU_add_test (s, "segment gone before its commit",
               test_gone_before_commit);
  CU_add_test (s, "damaged and missing segments", test_damaged_segment);
  CU_add_test (s, "extents", test_extents);
  CU_add_test (s, "sweep fence: a segment PUT as the run began",
               test_fence_same_ms);
  CU_add_test (s, "the other layout's roots are refused",
               test_other_layout_refused);
  CU_add_test (s, "crash at every request", test_crash_every_request);
}
