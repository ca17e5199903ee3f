/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: gc of log/segs/ under real log exports (a
 * volume over the log layout) against the in-memory store: what no
 * root or snapshot names goes and the export reads back the same; an
 * uploaded, uncommitted segment swept by gc is put back by its commit
 * (docs/gc-safety.md, step 10), and one found gone by the sweep fence
 * has the pages that named it built again; a snapshot keeps what it
 * names; keys that are not segments' stay; and gc racing a writer that
 * commits, snapshots and deletes snapshots loses no segment a root
 * names.
 *
 * Two clocks move together: the layout's monotonic one (fake_now, ms)
 * and the store's Last-Modified (seconds), as real time moves both.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "cas/cas-admin.h"
#include "cas/cas-fence.h"
#include "cas/cas-tree.h"
#include "format/cas-format.h"
#include "format/cas-tree-format.h"
#include "format/log-format.h"
#include "layout/layout.h"
#include "memstore.h"
#include "nbdkit-standin.h"
#include "tests.h"
#include "volume/volume.h"

#define BS 4096
#define EXPORT "t"
#define ROOT_KEY "cas/roots/t"
#define SIZE (UINT64_C (64) << 20)
#define NBLK 64                 /* the blocks the tests touch */
#define WINDOW_MS 1000
#define BOUND_MS 100000
/* reuse-window + commit-bound, as the roots record them (seconds). */
#define GRACE_S 101

static uint64_t fake_now;
static bool compacting;         /* open with compaction on */
static struct memstore *mem;
static struct store *st;

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

/* Time passes: both clocks. */
static void
advance (int64_t s)
{
  fake_now += (uint64_t) s * 1000;
  memstore_advance_clock (mem, s);
}

static struct volume *
open_log (uint64_t max_dirty)
{
  struct volume_params p = {
    .name = EXPORT, .size = SIZE, .block_size = BS,
    .max_dirty = max_dirty, .batch = 16,
  };
  struct layout_params lp = { .export_name = EXPORT, .block_size = BS };
  struct layout_log_params gp = {
    .root_key = ROOT_KEY, .size = SIZE,
    .create = memstore_peek (mem, ROOT_KEY, NULL, 0) < 0,
    .map_cache_bytes = 1 << 20, .reuse_window_ms = WINDOW_MS,
    .keep_bytes = max_dirty, .request_bound_ms = 10,
    .commit_bound_ms = BOUND_MS, .recent_entries = 64,
    .compact_rate = compacting ? UINT64_C (1) << 30 : 0,
    .compact_threshold_pm = 600,
    .clock_ms = fake_clock, .sleep_ms = fake_sleep,
  };
  struct layout *l = layout_log_open (st, &lp, &gp);
  struct volume *v;

  CU_ASSERT_PTR_NOT_NULL_FATAL (l);
  v = volume_create (l, &p);
  CU_ASSERT_PTR_NOT_NULL_FATAL (v);
  CU_ASSERT_EQUAL_FATAL (volume_load_map (v), 0);
  return v;
}

static void
setup (void)
{
  mem = memstore_new ();
  st = memstore_store (mem);
  fake_now = 1000;
  standin_reset_errors ();
}

static void
teardown (void)
{
  store_close (st);
  mem = NULL;
  st = NULL;
}

/* Block content: seed in every byte; 0 is a hole. */
static int
write_seed (struct volume *v, uint64_t index, int seed)
{
  char buf[BS];

  memset (buf, seed, BS);
  return seed ? volume_write (v, buf, BS, index * BS, false)
    : volume_zero (v, BS, index * BS, false);
}

/* How many of blocks [0, NBLK) of a fresh open differ from model. */
static unsigned
differences (const int *model)
{
  struct volume *v = open_log (64 * BS);
  char buf[BS], want[BS];
  unsigned bad = 0;

  for (uint64_t i = 0; i < NBLK; i++) {
    memset (want, model[i], BS);
    if (volume_read (v, buf, BS, i * BS) != 0 || memcmp (buf, want, BS))
      bad++;
  }
  volume_free (v);
  return bad;
}

/* ---- what roots name ---- */

struct named {
  struct hset ids;
  unsigned missing;             /* segments named and absent */
};

static int
named_block (void *opaque, uint64_t index, const struct cas_value *v)
{
  struct named *n = opaque;
  struct cas_hash h;
  char key[KEY_MAX];
  bool added;

  (void) index;
  memset (&h, 0, sizeof h);
  memcpy (h.b, v->loc.seg, LOG_SEG_ID_LEN);
  CU_ASSERT_FATAL (hset_add (&n->ids, &h, &added) != NULL);
  if (added) {
    CU_ASSERT_FATAL (log_segment_key (key, sizeof key, v->loc.seg) > 0);
    n->missing += memstore_peek (mem, key, NULL, 0) < 0;
  }
  return 0;
}

/* Walk the root under key (absent: nothing) into n; false if its tree
 * cannot be read whole.
 */
static bool
walk_root (const char *key, struct named *n)
{
  const struct cas_walker w = { .block = named_block, .opaque = n };
  struct cas_root r;
  bool found;

  CU_ASSERT_FATAL (cas_root_read (st, key, &r, NULL, &found) == 0);
  return !found || cas_walk (st, key, &r, &w) == 0;
}

/* Segments named by any root or snapshot that are missing, plus roots
 * whose tree lost a page; *named_out: how many distinct segments they
 * name.
 */
static unsigned
lost_everywhere (size_t *named_out)
{
  struct named n;

  memset (&n, 0, sizeof n);
  struct cas_root_list l;
  unsigned lost;

  CU_ASSERT_FATAL (cas_root_list_read (st, NULL, &l) == 0);
  lost = 0;
  for (size_t i = 0; i < l.len; i++)
    lost += !walk_root (l.ptr[i].key, &n);
  cas_root_list_free (&l);
  lost += n.missing;
  if (named_out)
    *named_out = n.ids.n;
  hset_free (&n.ids);
  return lost;
}

static struct gc_result
run_gc (int64_t grace_s)
{
  struct gc_params p = { .grace_s = grace_s, .clock_ms = fake_clock };
  struct gc_result res;
  bool swept = false;

  CU_ASSERT_EQUAL (cas_gc (st, &p, &res, &swept), 0);
  CU_ASSERT_TRUE (swept);
  return res;
}

/* ---- (a) several flushes with overwrites ---- */

static void
test_gc_overwritten (void)
{
  int model[NBLK] = { 0 };
  struct volume *v;
  struct gc_result res;
  size_t named;

  setup ();
  v = open_log (64 * BS);
  for (int i = 0; i < 8; i++) {                 /* segment A */
    model[i] = i + 1;
    CU_ASSERT_EQUAL (write_seed (v, i, model[i]), 0);
  }
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  advance (10);
  for (int i = 0; i < 8; i++) {                 /* B: A is dead */
    model[i] = i + 11;
    CU_ASSERT_EQUAL (write_seed (v, i, model[i]), 0);
  }
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  advance (10);
  model[3] = 23;                                /* C: B partly live */
  model[20] = 21;
  CU_ASSERT_EQUAL (write_seed (v, 3, 23), 0);
  CU_ASSERT_EQUAL (write_seed (v, 20, 21), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  advance (10);
  model[20] = 0;                                /* D: C partly live */
  model[21] = 24;
  CU_ASSERT_EQUAL (write_seed (v, 20, 0), 0);
  CU_ASSERT_EQUAL (write_seed (v, 21, 24), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (memstore_count (mem, LOG_SEGS_PREFIX), 4);

  /* Young: nothing goes. */
  res = run_gc (GRACE_S);
  CU_ASSERT_EQUAL (res.deleted, 0);
  CU_ASSERT (res.young >= 1);                   /* A, and old pages */
  advance (2 * GRACE_S);
  {
    struct gc_params p = { .grace_s = GRACE_S, .dry_run = true };
    bool swept = false;

    CU_ASSERT (cas_gc (st, &p, &res, &swept) == 0 && swept);
    CU_ASSERT_EQUAL (res.deleted_segs, 1);      /* would */
    CU_ASSERT_EQUAL (memstore_count (mem, LOG_SEGS_PREFIX), 4);
  }
  res = run_gc (GRACE_S);
  CU_ASSERT_EQUAL (res.segs_marked, 3);
  CU_ASSERT_EQUAL (res.segs_listed, 4);
  CU_ASSERT_EQUAL (res.deleted_segs, 1);
  CU_ASSERT (res.deleted_segs_bytes > 8 * BS);
  CU_ASSERT_EQUAL (memstore_count (mem, LOG_SEGS_PREFIX), 3);
  CU_ASSERT_EQUAL (lost_everywhere (&named), 0);
  CU_ASSERT_EQUAL (named, 3);
  /* The server still open reads and writes on. */
  model[0] = 99;
  CU_ASSERT_EQUAL (write_seed (v, 0, 99), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_free (v);
  CU_ASSERT_EQUAL (differences (model), 0);
  teardown ();
}

/* ---- (b) uploaded, not committed, swept: put back by the commit ---- */

static void
test_gc_uncommitted (void)
{
  int model[NBLK] = { 0 };
  struct volume *v;
  struct gc_result res;
  struct volume_stats vs;

  setup ();
  v = open_log (BS);                    /* one dirty block at most */
  model[8] = 5;
  model[9] = 6;
  CU_ASSERT_EQUAL (write_seed (v, 8, 5), 0);
  CU_ASSERT_EQUAL (write_seed (v, 9, 6), 0);    /* pushes 8 out */
  CU_ASSERT_EQUAL (memstore_count (mem, LOG_SEGS_PREFIX), 1);
  advance (2 * GRACE_S);                /* commits failing that long */
  res = run_gc (GRACE_S);
  CU_ASSERT_EQUAL (res.segs_marked, 0);
  CU_ASSERT_EQUAL (res.deleted_segs, 1);
  CU_ASSERT_EQUAL (memstore_count (mem, LOG_SEGS_PREFIX), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_get_stats (v, &vs);
  CU_ASSERT (vs.refreshes >= 1);
  CU_ASSERT_EQUAL (memstore_count (mem, LOG_SEGS_PREFIX), 2);
  volume_free (v);
  CU_ASSERT_EQUAL (lost_everywhere (NULL), 0);
  CU_ASSERT_EQUAL (differences (model), 0);
  /* And a later gc keeps both. */
  advance (2 * GRACE_S);
  res = run_gc (GRACE_S);
  CU_ASSERT_EQUAL (res.deleted_segs, 0);
  CU_ASSERT_EQUAL (differences (model), 0);
  teardown ();
}

/* ---- (b2) uploads past max-dirty, no commit for longer than grace ----
 * docs/gc-safety.md, step 10: an uploaded, uncommitted segment keeps a
 * copy up to keep_limit (max-dirty, one block here); each write pushes
 * the one before out, so all but the first upload go without one.  gc
 * sweeps them after commits "failed" past its grace: the commit that
 * finds it (here the background write-back's) fails naming the
 * segment, and so does the next client flush; a block reads as what was
 * written or as an error, never as other data; the flush after that
 * commits; written again, every block lands.
 */
static void
test_gc_uploads_past_bound (void)
{
  int model[NBLK] = { 0 };
  struct volume *v;
  struct gc_result res;
  char buf[BS], want[BS];
  unsigned lost = 0, kept = 0;

  setup ();
  v = open_log (BS);
  for (int i = 0; i < 12; i++) {
    model[8 + i] = 40 + i;
    CU_ASSERT_EQUAL (write_seed (v, 8 + i, 40 + i), 0);
  }
  advance (2 * GRACE_S);
  res = run_gc (GRACE_S);
  CU_ASSERT (res.deleted_segs >= 10);
  standin_reset_errors ();
  /* The background write-back's commit finds the loss first: it is
   * still the next client flush that fails.
   */
  CU_ASSERT_EQUAL (volume_write_back (v, 0), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_error_log, "no copy of it was kept"));
  CU_ASSERT_EQUAL (volume_flush (v), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_error_log, "were lost before"));
  for (int i = 0; i < 12; i++) {
    memset (want, model[8 + i], BS);
    if (volume_read (v, buf, BS, (8 + i) * BS) == -1)
      lost++;
    else if (memcmp (buf, want, BS) == 0)
      kept++;
  }
  CU_ASSERT (lost >= 10);
  CU_ASSERT_EQUAL (lost + kept, 12);
  /* Not stuck: the next flush commits what is left. */
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  for (int i = 0; i < 12; i++)
    CU_ASSERT_EQUAL (write_seed (v, 8 + i, 40 + i), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_free (v);
  CU_ASSERT_EQUAL (lost_everywhere (NULL), 0);
  CU_ASSERT_EQUAL (differences (model), 0);
  teardown ();
}

/* ---- (b3) a block deduplicated onto a segment no copy is kept of ----
 * Block 8's first content was committed, then overwritten and
 * committed: its segment is named by no root.  Block 9 gets that
 * content within the reuse window and is deduplicated onto it, with
 * no whole copy left to hold: it keeps its own bytes.  gc sweeps the
 * segment (commits not happening for longer than grace); the commit
 * stores block 9 again from its copy.
 */
static void
test_gc_dedup_no_segment_copy (void)
{
  int model[NBLK] = { 0 };
  struct volume *v;
  struct gc_result res;
  struct volume_stats vs;

  setup ();
  v = open_log (BS);
  CU_ASSERT_EQUAL (write_seed (v, 8, 5), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (write_seed (v, 8, 7), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (memstore_count (mem, LOG_SEGS_PREFIX), 2);
  model[8] = 7;
  model[9] = 5;
  model[10] = 6;
  CU_ASSERT_EQUAL (write_seed (v, 9, 5), 0);
  CU_ASSERT_EQUAL (write_seed (v, 10, 6), 0);   /* 9 out: deduplicated */
  volume_get_stats (v, &vs);
  CU_ASSERT_EQUAL (vs.dedup_hits, 1);
  CU_ASSERT_EQUAL (memstore_count (mem, LOG_SEGS_PREFIX), 2);
  advance (2 * GRACE_S);
  res = run_gc (GRACE_S);
  CU_ASSERT_EQUAL (res.deleted_segs, 1);        /* block 8's first */
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_free (v);
  CU_ASSERT_EQUAL (lost_everywhere (NULL), 0);
  CU_ASSERT_EQUAL (differences (model), 0);
  teardown ();
}

/* ---- (b4) a segment gone between a commit's pages and its fence ----
 * docs/gc-safety.md, step 10, last paragraph: when the fence's refresh
 * moves a change (its segment gone), the pages built before it name
 * that segment and are built again (relocated), or the root would name
 * a segment that is not there.  The fence refreshes a change whose PUT
 * is no later than its quiet run's start, but builds the pages again
 * on its own only if they are that old, so only relocated catches it.
 * Segment A is uploaded for block 8's first content and named by no
 * root once 8 is overwritten.  A gc under a skewed server clock (gc's
 * grace rules this out otherwise) deletes A in a chunk, and leaves its
 * marker.  During the next commit, before its fence LIST sees the
 * marker and starts a quiet run (which makes the recent-PUT table
 * forget A), block 9 is deduplicated onto A (as in b3, it keeps its
 * own bytes).  The commit that carries block 9 comes within the reuse
 * window, so its first refresh passes it by, and its pages are newer
 * than the run's start.
 */
static struct volume *hook_volume;
static unsigned hook_batches;

/* At the second batch of a flush (its segment is uploaded, its commit
 * has begun): block 9 written, then four more; past max-dirty (four
 * blocks) the writes push the oldest out, block 9 first.
 */
static void
dedup_during_commit (void *opaque)
{
  (void) opaque;
  if (++hook_batches < 2) {
    memstore_set_hook (mem, dedup_during_commit, NULL);
    return;
  }
  CU_ASSERT_EQUAL (write_seed (hook_volume, 9, 5), 0);
  for (int i = 10; i < 14; i++)
    CU_ASSERT_EQUAL (write_seed (hook_volume, i, 10 + i), 0);
}

static void
test_gc_fence_relocates (void)
{
  int model[NBLK] = { 0 };
  char a[KEY_MAX];
  struct volume *v;
  struct volume_stats before, vs;
  char marker[KEY_MAX];

  setup ();
  v = open_log (4 * BS);        /* a quiet run starts */
  fake_now += 100;              /* A is PUT after it */
  CU_ASSERT_EQUAL (write_seed (v, 8, 5), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL_FATAL (memstore_count (mem, LOG_SEGS_PREFIX), 1);
  CU_ASSERT_FATAL (memstore_last_key (mem, LOG_SEGS_PREFIX, a, sizeof a));
  CU_ASSERT_EQUAL (write_seed (v, 8, 7), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);

  /* The skewed gc's chunk: A deleted, its marker left. */
  fake_now += 100;
  CU_ASSERT_EQUAL (store_delete (st, a), 0);
  CU_ASSERT_FATAL (cas_sweep_marker_key (marker, sizeof marker,
                                         "0123456789abcdef0123456789abcdef",
                                         true) == 0);
  memstore_set (mem, marker, "", 0);
  CU_ASSERT_EQUAL (write_seed (v, 14, 11), 0);
  hook_volume = v;
  hook_batches = 0;
  memstore_set_hook (mem, dedup_during_commit, NULL);
  CU_ASSERT_EQUAL (volume_flush (v), 0);        /* block 14; a run starts */
  memstore_set_hook (mem, NULL, NULL);
  CU_ASSERT_EQUAL (hook_batches, 2);
  volume_get_stats (v, &vs);
  CU_ASSERT_EQUAL (vs.dedup_hits, 1);

  fake_now += 100;
  model[8] = 7;
  model[9] = 5;
  for (int i = 10; i < 14; i++)
    model[i] = 10 + i;
  model[14] = 11;
  volume_get_stats (v, &before);
  CU_ASSERT_EQUAL (volume_flush (v), 0);        /* blocks 9 to 13 */
  volume_get_stats (v, &vs);
  /* The pages were built twice, the second time for relocated. */
  CU_ASSERT_EQUAL (vs.pages_written - before.pages_written, 4);
  CU_ASSERT_EQUAL (lost_everywhere (NULL), 0);
  volume_free (v);
  CU_ASSERT_EQUAL (differences (model), 0);
  teardown ();
}

/* ---- (c) a segment only a snapshot names ---- */

static bool
snapshot (const char *snap)
{
  char dst[KEY_MAX], name[NAME_REF_MAX];
  struct cas_copy c;
  bool made = false;

  cas_snap_key (dst, sizeof dst, EXPORT, snap);
  snprintf (name, sizeof name, "%s@%s", EXPORT, snap);
  c = (struct cas_copy) {
    .src_key = ROOT_KEY, .src_name = EXPORT, .dst_key = dst,
    .dst_name = name, .kind = CAS_ROOT_SNAPSHOT, .keep_generation = true,
  };
  CU_ASSERT (cas_copy_root (st, &c, &made) == 0);
  return made;
}

static void
test_gc_snapshot_keeps (void)
{
  int model[NBLK] = { 0 };
  struct volume *v;
  struct gc_result res;
  struct named n;

  memset (&n, 0, sizeof n);

  setup ();
  v = open_log (64 * BS);
  CU_ASSERT_EQUAL (write_seed (v, 0, 1), 0);    /* A */
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_FATAL (snapshot ("s"));
  model[0] = 2;
  CU_ASSERT_EQUAL (write_seed (v, 0, 2), 0);    /* B: A only in s */
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  advance (2 * GRACE_S);
  res = run_gc (GRACE_S);
  CU_ASSERT_EQUAL (res.segs_marked, 2);
  CU_ASSERT_EQUAL (res.deleted_segs, 0);
  CU_ASSERT_EQUAL (memstore_count (mem, LOG_SEGS_PREFIX), 2);
  CU_ASSERT_TRUE (walk_root ("cas/snaps/t/s", &n));
  CU_ASSERT_EQUAL (n.ids.n, 1);
  CU_ASSERT_EQUAL (n.missing, 0);
  hset_free (&n.ids);

  CU_ASSERT_EQUAL (store_delete (st, "cas/snaps/t/s"), 0);
  res = run_gc (GRACE_S);
  CU_ASSERT_EQUAL (res.segs_marked, 1);
  CU_ASSERT_EQUAL (res.deleted_segs, 1);
  CU_ASSERT_EQUAL (memstore_count (mem, LOG_SEGS_PREFIX), 1);
  volume_free (v);
  CU_ASSERT_EQUAL (lost_everywhere (NULL), 0);
  CU_ASSERT_EQUAL (differences (model), 0);
  teardown ();
}

/* ---- (d) keys under log/segs/ that are not segments' ---- */

static void
test_gc_foreign_keys (void)
{
  static const char *const foreign[] = {
    "log/segs/garbage",
    "log/segs/00112233445566778899AABBCCDDEEFF",        /* upper case */
    "log/segs/00112233445566778899aabbccddeeff.tmp",
    "log/segs/00112233445566778899aabbccddee",          /* short */
    "log/segs/sub/00112233445566778899aabbccddeeff",
  };
  const char *planted = "log/segs/0123456789abcdef0123456789abcdef";
  const char *undated = "log/segs/fedcba9876543210fedcba9876543210";
  const size_t nf = sizeof foreign / sizeof foreign[0];
  struct volume *v;
  struct gc_result res;

  setup ();
  v = open_log (64 * BS);
  CU_ASSERT_EQUAL (write_seed (v, 0, 1), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_free (v);
  for (size_t i = 0; i < nf; i++)
    memstore_set (mem, foreign[i], "x", 1);
  memstore_set (mem, planted, "planted", 7);    /* a name gc accepts */
  memstore_set (mem, undated, "undated", 7);
  CU_ASSERT_EQUAL (memstore_set_mtime (mem, undated, 0), 0);
  advance (2 * GRACE_S);
  res = run_gc (0);
  CU_ASSERT_EQUAL (res.foreign, nf);
  CU_ASSERT_EQUAL (res.unknown_age, 1);
  CU_ASSERT_EQUAL (res.deleted_segs, 1);        /* the planted one */
  for (size_t i = 0; i < nf; i++)
    CU_ASSERT (memstore_peek (mem, foreign[i], NULL, 0) == 1);
  CU_ASSERT (memstore_peek (mem, planted, NULL, 0) < 0);
  CU_ASSERT (memstore_peek (mem, undated, NULL, 0) == 7);
  CU_ASSERT_EQUAL (memstore_count (mem, LOG_SEGS_PREFIX), nf + 2);
  CU_ASSERT_EQUAL (lost_everywhere (NULL), 0);
  teardown ();
}

/* ---- (e) gc racing a writer ---- */

struct writer {
  struct volume *v;
  int model[NBLK];
  unsigned seed;
  bool sweeping;                /* gc sweeps: commits between chunks */
  unsigned steps, flushes, sweep_flushes, snaps, unsnaps, live_snaps;
  unsigned compactions;         /* compaction steps (with compacting) */
  uint64_t moved;               /* blocks compaction moved */
};

/* Is a sweep chunk open: a .running marker without its .done?  Then
 * the hook runs inside one of the chunk's DELETE batches (or at the
 * start of its .done PUT).
 */
struct markers {
  char running[8][CAS_SWEEP_ID_LEN + 1], done[8][CAS_SWEEP_ID_LEN + 1];
  size_t nr, nd;
};

static int
marker_entry (void *opaque, const struct store_entry *e)
{
  struct markers *m = opaque;
  char id[CAS_SWEEP_ID_LEN + 1];
  bool done;

  if (e->is_prefix || !cas_sweep_marker_parse (e->key, id, &done))
    return 0;
  if (done && m->nd < 8)
    memcpy (m->done[m->nd++], id, sizeof id);
  else if (!done && m->nr < 8)
    memcpy (m->running[m->nr++], id, sizeof id);
  return 0;
}

static bool
chunk_open (void)
{
  struct markers m = { .nr = 0 };

  CU_ASSERT_FATAL (store_list (st, CAS_SWEEPS_PREFIX, NULL, NULL,
                               marker_entry, &m) == 0);
  for (size_t i = 0; i < m.nr; i++) {
    bool ended = false;

    for (size_t j = 0; j < m.nd && !ended; j++)
      ended = strcmp (m.running[i], m.done[j]) == 0;
    if (!ended)
      return true;
  }
  return false;
}

static unsigned
rnd (struct writer *w)
{
  w->seed = w->seed * 1103515245 + 12345;
  return (w->seed >> 16) & 0x7fff;
}

/* One action at the start of one of gc's batches (every request of the
 * sweep is one).  Inside an open sweep chunk the writer does not
 * commit: there the hook runs inside a DELETE batch, which a real gc
 * keeps within one request's worst case, while a commit that waits out
 * the chunk's marker would stand for a batch far longer
 * (docs/gc-safety.md, step 9, and what the argument assumes).  Between
 * chunks it commits, through the fence.  The fence within a chunk is
 * tested with a stepping writer in test-cas-admin.c.
 */
static void
writer_act (struct writer *w)
{
  unsigned what = rnd (w) % 8;

  w->steps++;
  advance (rnd (w) % 3);
  /* With compacting, 7 is a compaction step, which commits as a
   * flush does (docs/gc-safety.md, step 12).
   */
  if ((what == 4 || (what == 7 && compacting)) && w->sweeping &&
      chunk_open ())
    what = 0;                   /* a write instead */
  if (what <= 3) {
    uint64_t i = rnd (w) % 16;        /* overwrites: dead copies */
    int seed = (int) (rnd (w) % 8);   /* few contents: dedup happens */

    w->model[i] = seed;
    CU_ASSERT_EQUAL (write_seed (w->v, i, seed), 0);
  }
  else if (what == 4) {
    CU_ASSERT_EQUAL (volume_flush (w->v), 0);
    w->flushes++;
    w->sweep_flushes += w->sweeping;
  }
  else if (what == 7 && compacting) {
    CU_ASSERT_EQUAL (volume_maintain (w->v), 0);
    w->compactions++;
  }
  else if (what == 5) {
    char snap[16];

    snprintf (snap, sizeof snap, "s%u", w->snaps++);
    w->live_snaps += snapshot (snap);
  }
  else if (w->live_snaps) {
    struct cas_root_list l;

    CU_ASSERT_FATAL (cas_root_list_read (st, EXPORT, &l) == 0);
    for (size_t k = 0; k < l.len; k++)
      if (l.ptr[k].is_snap) {
        CU_ASSERT (store_delete (st, l.ptr[k].key) == 0);
        w->live_snaps--;
        w->unsnaps++;
        break;
      }
    cas_root_list_free (&l);
  }
}

static void
race_hook (void *opaque)
{
  writer_act (opaque);
  memstore_set_hook (mem, race_hook, opaque);
}

static void
race_sweep_starts (void *opaque)
{
  struct writer *w = opaque;

  w->sweeping = true;
}

/* Returns how many named segments (or pages) are lost afterwards, or
 * blocks that read back wrong.
 */
static unsigned
gc_under_writer (unsigned seed, struct writer *w, struct gc_result *res)
{
  struct gc_params p = {
    .grace_s = GRACE_S, .delete_batch = 2, .clock_ms = fake_clock,
    .on_sweep = race_sweep_starts, .opaque = w,
  };
  bool swept = false;
  unsigned lost;

  setup ();
  *w = (struct writer) { .seed = seed };
  w->v = open_log (4 * BS);
  /* History: flushes, overwrites, snapshots, then uploads not yet
   * committed; then all of it gets old.
   */
  for (unsigned i = 0; i < 40; i++) {
    writer_act (w);
    if (i % 10 == 9) {
      CU_ASSERT_EQUAL (volume_flush (w->v), 0);
    }
  }
  for (unsigned i = 0; i < 6; i++) {
    uint64_t b = rnd (w) % NBLK;

    w->model[b] = 100 + (int) i;
    CU_ASSERT_EQUAL (write_seed (w->v, b, w->model[b]), 0);
  }
  advance (4 * GRACE_S);

  memstore_set_hook (mem, race_hook, w);
  CU_ASSERT_EQUAL (cas_gc (st, &p, res, &swept), 0);
  memstore_set_hook (mem, NULL, NULL);
  CU_ASSERT (swept);
  w->sweeping = false;
  CU_ASSERT_EQUAL (volume_flush (w->v), 0);
  {
    struct volume_stats vs;

    volume_get_stats (w->v, &vs);
    w->moved = vs.compact_blocks;
  }
  volume_free (w->v);
  lost = lost_everywhere (NULL);
  lost += differences (w->model);
  teardown ();
  return lost;
}

static void
test_gc_race (void)
{
  const unsigned seeds = unit_rounds (30);
  unsigned lost = 0, steps = 0, flushes = 0, sweep_flushes = 0, snaps = 0;
  uint64_t deleted = 0;

  for (unsigned seed = 1; seed <= seeds; seed++) {
    struct writer w;
    struct gc_result res;
    unsigned l = gc_under_writer (seed, &w, &res);

    if (l && getenv ("S3BLOCKS_UNIT_VERBOSE"))
      fprintf (stderr, "seed %u: %u lost\n", seed, l);
    lost += l;
    steps += w.steps;
    flushes += w.flushes;
    sweep_flushes += w.sweep_flushes;
    snaps += w.unsnaps;
    deleted += res.deleted_segs;
  }
  if (getenv ("S3BLOCKS_UNIT_VERBOSE"))
    fprintf (stderr, "log gc race: %u runs, %u steps, %u flushes (%u "
             "while gc swept), %u snapshots deleted, %" PRIu64
             " segments swept\n", seeds, steps, flushes, sweep_flushes,
             snaps, deleted);
  CU_ASSERT_EQUAL (lost, 0);
  /* The race happened: commits and sweeps, not one without the other. */
  CU_ASSERT (flushes > seeds);
  CU_ASSERT (sweep_flushes > 0);
  CU_ASSERT (deleted > seeds);
}

/* The same race with compaction steps among the writer's actions: gc
 * never deletes a segment a root names, and the export reads as the
 * model (docs/gc-safety.md, step 12).
 */
static void
test_gc_race_compaction (void)
{
  const unsigned seeds = unit_rounds (30);
  unsigned lost = 0, compactions = 0;
  uint64_t moved = 0;

  compacting = true;
  for (unsigned seed = 1; seed <= seeds; seed++) {
    struct writer w;
    struct gc_result res;

    lost += gc_under_writer (seed, &w, &res);
    compactions += w.compactions;
    moved += w.moved;
  }
  compacting = false;
  if (getenv ("S3BLOCKS_UNIT_VERBOSE"))
    fprintf (stderr, "log gc race with compaction: %u runs, %u steps, %"
             PRIu64 " blocks moved\n", seeds, compactions, moved);
  CU_ASSERT_EQUAL (lost, 0);
  CU_ASSERT (compactions > seeds);
  CU_ASSERT (moved > 0);
}

UNIT_SUITES (add_log_gc_tests)
{
  CU_pSuite s = CU_add_suite ("log gc", NULL, NULL);

  CU_add_test (s, "overwritten segments go, the export reads the same",
               test_gc_overwritten);
  CU_add_test (s, "an uncommitted segment swept is put back",
               test_gc_uncommitted);
  CU_add_test (s, "uploads past max-dirty, then a sweep: nothing lost",
               test_gc_uploads_past_bound);
  CU_add_test (s, "a dedup onto a segment with no copy, swept",
               test_gc_dedup_no_segment_copy);
  CU_add_test (s, "a segment gone between pages and fence",
               test_gc_fence_relocates);
  CU_add_test (s, "a snapshot keeps its segments", test_gc_snapshot_keeps);
  CU_add_test (s, "keys that are not segments stay", test_gc_foreign_keys);
  CU_add_test (s, "gc racing commits and snapshots", test_gc_race);
  CU_add_test (s, "gc racing compaction", test_gc_race_compaction);
}
