/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the log layout (docs/log-layout.md) under
 * faults its crash test does not make: one request failing and the
 * flush retried, writes landing while a commit is in flight, a
 * deduplicated block whose segment gc deleted before its commit, FUA
 * writes after a failed commit, and several threads writing and
 * flushing one export.  Against the in-memory store, on a fake clock.
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

#include "layout/layout.h"
#include "memstore.h"
#include "nbdkit-standin.h"
#include "tests.h"
#include "volume/volume.h"

#define BS 4096
#define EXPORT "t"
#define ROOT_KEY "cas/roots/t"
#define SIZE (UINT64_C (64) << 20)      /* 16384 blocks */
#define WINDOW_MS 1000
#define SEGS "log/segs/"

static uint64_t fake_now;
static bool use_cas;            /* open_log opens the cas layout */

static uint64_t
fake_clock (void)
{
  return __atomic_load_n (&fake_now, __ATOMIC_RELAXED);
}

static void
fake_sleep (uint64_t ms)
{
  __atomic_add_fetch (&fake_now, ms, __ATOMIC_RELAXED);
}

/* Bytes of copies kept; 0: max-dirty, as an export has. */
static uint64_t keep_bytes;

static struct volume *
open_log (struct memstore *m, uint64_t max_dirty, int *load_result)
{
  struct volume_params p = {
    .name = EXPORT, .size = SIZE, .block_size = BS,
    .max_dirty = max_dirty, .batch = 4,
  };
  struct layout_params lp = { .export_name = EXPORT, .block_size = BS };
  struct layout_log_params gp = {
    .root_key = ROOT_KEY, .size = SIZE,
    .create = memstore_peek (m, ROOT_KEY, NULL, 0) < 0,
    .map_cache_bytes = 1 << 20, .reuse_window_ms = WINDOW_MS,
    .keep_bytes = keep_bytes ? keep_bytes : max_dirty,
    .request_bound_ms = 10,
    .commit_bound_ms = 100000, .recent_entries = 64,
    .clock_ms = fake_clock, .sleep_ms = fake_sleep,
  };
  const struct layout_cas_params cp = {
    .root_key = ROOT_KEY, .size = SIZE, .create = gp.create,
    .map_cache_bytes = 1 << 20, .reuse_window_ms = WINDOW_MS,
    .keep_bytes = keep_bytes ? keep_bytes : max_dirty,
    .request_bound_ms = 10,
    .commit_bound_ms = 100000, .clock_ms = fake_clock,
    .sleep_ms = fake_sleep,
  };
  struct layout *l = use_cas
    ? layout_cas_open (memstore_store (m), &lp, &cp)
    : layout_log_open (memstore_store (m), &lp, &gp);
  struct volume *v;

  CU_ASSERT_PTR_NOT_NULL_FATAL (l);
  v = volume_create (l, &p);
  CU_ASSERT_PTR_NOT_NULL_FATAL (v);
  *load_result = volume_load_map (v);
  return v;
}

static struct volume *
open_ok (struct memstore *m, uint64_t max_dirty)
{
  int r;
  struct volume *v = open_log (m, max_dirty, &r);

  CU_ASSERT_EQUAL_FATAL (r, 0);
  return v;
}

static int
write_seed (struct volume *v, uint64_t index, int seed, bool fua)
{
  char buf[BS];

  memset (buf, seed, BS);
  return seed ? volume_write (v, buf, BS, index * BS, fua)
    : volume_zero (v, BS, index * BS, fua);
}

static bool
reads_as (struct volume *v, uint64_t index, int seed)
{
  char buf[BS], want[BS];

  memset (want, seed, BS);
  return volume_read (v, buf, BS, index * BS) == 0 &&
    memcmp (buf, want, BS) == 0;
}

/* A read may fail (the fault); wrong bytes never. */
static bool
reads_as_retried (struct volume *v, uint64_t index, int seed)
{
  char buf[BS], want[BS];

  memset (want, seed, BS);
  for (int i = 0; i < 4; i++)
    if (volume_read (v, buf, BS, index * BS) == 0)
      return memcmp (buf, want, BS) == 0;
  return false;
}

/* The only segment in m. */
static void
only_segment (struct memstore *m, char key[KEY_MAX])
{
  CU_ASSERT_EQUAL_FATAL (memstore_count (m, SEGS), 1);
  CU_ASSERT_FATAL (memstore_last_key (m, SEGS, key, KEY_MAX));
}

/* ---- a deduplicated block's segment gone before its commit ----
 * docs/gc-safety.md, step 10: an uploaded block's segment that gc
 * deleted before the commit (commits failing for longer than gc's
 * grace) is put back from the copy kept since the upload.  A block
 * that was not uploaded but deduplicated onto that segment relies on
 * it just the same: once the block that was uploaded is overwritten,
 * the copy must stay for the deduplicated one, or the commit fails
 * for ever and the block's data is nowhere.
 */
static void
test_dedup_segment_gone (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  char key[KEY_MAX];

  /* Room for the copies: the uploads are not committed between. */
  keep_bytes = 64 * BS;
  fake_now = 1000;
  v = open_ok (m, BS);          /* each write pushes the last one out */
  fake_now++;
  CU_ASSERT_EQUAL (write_seed (v, 8, 5, false), 0);
  CU_ASSERT_EQUAL (write_seed (v, 9, 5, false), 0);     /* 8 uploaded */
  only_segment (m, key);
  CU_ASSERT_EQUAL (write_seed (v, 10, 6, false), 0);    /* 9 deduped */
  CU_ASSERT_EQUAL (memstore_count (m, SEGS), 1);
  CU_ASSERT_EQUAL (write_seed (v, 8, 7, false), 0);     /* 10 uploaded */
  CU_ASSERT_EQUAL (write_seed (v, 11, 8, false), 0);    /* 8 again */
  CU_ASSERT_EQUAL (memstore_count (m, SEGS), 3);
  /* gc sweeps the first segment: no root names it. */
  CU_ASSERT_EQUAL (store_delete (memstore_store (m), key), 0);
  fake_now += WINDOW_MS + 5;
  standin_reset_errors ();
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT (memstore_peek (m, key, NULL, 0) > 0);      /* put back */
  CU_ASSERT (reads_as (v, 9, 5));
  volume_free (v);

  v = open_ok (m, BS);
  CU_ASSERT (reads_as (v, 8, 7));
  CU_ASSERT (reads_as (v, 9, 5));
  CU_ASSERT (reads_as (v, 10, 6));
  CU_ASSERT (reads_as (v, 11, 8));
  volume_free (v);
  keep_bytes = 0;
  store_close (memstore_store (m));
}

/* The same block written again with the same content before its
 * commit: deduplicated onto its own upload, whose kept copy it already
 * holds (the new reference must be taken before the old is dropped).
 */
static void
test_dedup_onto_itself (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  char key[KEY_MAX];

  /* Room for the copies: the uploads are not committed between. */
  keep_bytes = 64 * BS;
  fake_now = 1000;
  v = open_ok (m, BS);
  fake_now++;
  CU_ASSERT_EQUAL (write_seed (v, 8, 5, false), 0);
  CU_ASSERT_EQUAL (write_seed (v, 9, 6, false), 0);     /* 8 uploaded */
  only_segment (m, key);
  CU_ASSERT_EQUAL (write_seed (v, 8, 5, false), 0);     /* 9 uploaded */
  CU_ASSERT_EQUAL (write_seed (v, 10, 7, false), 0);    /* 8 deduped */
  CU_ASSERT_EQUAL (memstore_count (m, SEGS), 2);
  CU_ASSERT_EQUAL (store_delete (memstore_store (m), key), 0);
  fake_now += WINDOW_MS + 5;
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT (memstore_peek (m, key, NULL, 0) > 0);      /* put back */
  volume_free (v);

  v = open_ok (m, BS);
  CU_ASSERT (reads_as (v, 8, 5));
  CU_ASSERT (reads_as (v, 9, 6));
  CU_ASSERT (reads_as (v, 10, 7));
  volume_free (v);
  keep_bytes = 0;
  store_close (memstore_store (m));
}

/* Blocks deduplicated onto one record whose segment has no whole copy
 * left share one copy of its bytes: eight of them fit a keep_limit of
 * two blocks (each holding its own, two would, the other six being
 * uploaded again).  Their segment is then gone before their commit:
 * each is stored again from the one copy.
 */
static void
test_dedup_shares_copy (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  struct volume_stats st;
  char key[KEY_MAX];

  keep_bytes = 2 * BS;
  fake_now = 1000;
  v = open_ok (m, BS);          /* each write pushes the last one out */
  fake_now++;
  CU_ASSERT_EQUAL (write_seed (v, 8, 5, false), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);        /* its copy goes */
  only_segment (m, key);
  CU_ASSERT_EQUAL (write_seed (v, 8, 7, false), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);        /* 5's record: unnamed */
  for (uint64_t b = 20; b < 28; b++)
    CU_ASSERT_EQUAL (write_seed (v, b, 5, false), 0);
  CU_ASSERT_EQUAL (write_seed (v, 30, 9, false), 0);    /* 27 out */
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.dedup_hits, 8);
  CU_ASSERT_EQUAL (memstore_count (m, SEGS), 2);
  /* gc sweeps 5's segment: no root names it. */
  CU_ASSERT_EQUAL (store_delete (memstore_store (m), key), 0);
  fake_now += WINDOW_MS + 5;
  standin_reset_errors ();
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  for (uint64_t b = 20; b < 28; b++)
    CU_ASSERT (reads_as (v, b, 5));
  volume_free (v);

  v = open_ok (m, BS);
  CU_ASSERT (reads_as (v, 8, 7));
  for (uint64_t b = 20; b < 28; b++)
    CU_ASSERT (reads_as (v, b, 5));
  CU_ASSERT (reads_as (v, 30, 9));
  volume_free (v);
  keep_bytes = 0;
  store_close (memstore_store (m));
}


/* ---- one request fails, the flush is retried ----
 * Writes with max-dirty small enough for write-backs between flushes
 * (uploads whose commit comes later), overwrites, zeroes, identical
 * contents, and FUA writes.  Request n fails, for every n; a failed
 * write or flush is retried until it succeeds (a bounded number of
 * times).  Between, every block reads as last written (from the volume,
 * a pending location, or the tree); at the end the reopened export
 * reads as the last state.
 */
#define NR_BLOCKS 6
#define NR_STEPS 5
static const uint64_t blocks[NR_BLOCKS] = { 0, 1, 2, 4096, 9000, 16383 };
static const int steps[NR_STEPS][NR_BLOCKS] = {
  { 1, 2, 3, 4, 5, 6 },
  { 7, 0, 3, 3, 5, 8 },
  { 7, 9, 0, 3, 1, 8 },
  { 0, 9, 9, 9, 0, 10 },
  { 11, 11, 12, 0, 13, 13 },
};

static bool
retried (int (*op) (struct volume *, uint64_t, int, bool),
         struct volume *v, uint64_t index, int seed, bool fua)
{
  for (int i = 0; i < 4; i++)
    if (op (v, index, seed, fua) == 0)
      return true;
  return false;
}

static int
flush_op (struct volume *v, uint64_t index, int seed, bool fua)
{
  return volume_flush (v);
}

/* false if something could not be done even when retried. */
static bool
fault_workload (struct memstore *m, int64_t fail_at, int err, bool lost)
{
  struct volume *v = open_ok (m, 2 * BS);
  bool ok = true;
  int scratch = 0;              /* block 50: written after a failure */

  if (lost)
    memstore_lose_answer_at (m, fail_at, err);
  else
    memstore_fail_at (m, fail_at, err);
  standin_reset_errors ();
  for (int k = 0; k < NR_STEPS && ok; k++) {
    for (int j = 0; j < NR_BLOCKS && ok; j++) {
      const bool fua = (k + j) % 5 == 4;

      if (k == 0 || steps[k][j] != steps[k - 1][j])
        ok = retried (write_seed, v, blocks[j], steps[k][j], fua);
    }
    for (int j = 0; j < NR_BLOCKS && ok; j++)
      ok = reads_as_retried (v, blocks[j], steps[k][j]);
    if (ok && k % 2 == 1)
      fake_now += WINDOW_MS / 2;        /* some refreshes */
    if (ok && volume_flush (v) == -1) {
      /* The failed commit's changes are pending: they read back. */
      for (int j = 0; j < NR_BLOCKS && ok; j++)
        ok = reads_as_retried (v, blocks[j], steps[k][j]);
      /* The next commit carries more than the failed one did. */
      scratch = 20 + k;
      ok = ok && retried (write_seed, v, 50, scratch, false);
      ok = ok && retried (flush_op, v, 0, 0, false);
    }
  }
  volume_free (v);
  memstore_fail_at (m, -1, 0);
  memstore_lose_answer_at (m, -1, 0);
  if (!ok)
    return false;
  v = open_ok (m, 2 * BS);
  for (int j = 0; j < NR_BLOCKS && ok; j++)
    ok = reads_as (v, blocks[j], steps[NR_STEPS - 1][j]);
  ok = ok && reads_as (v, 50, scratch);
  volume_free (v);
  return ok;
}

static void
fault_every_request (int err, bool lost)
{
  struct memstore *m = memstore_new ();
  uint64_t total;

  fake_now = 100;
  CU_ASSERT_FATAL (fault_workload (m, -1, 0, false));
  total = memstore_requests (m);
  store_close (memstore_store (m));
  CU_ASSERT (total > 30);
  for (uint64_t n = 0; n <= total; n++) {
    m = memstore_new ();
    fake_now = 100;
    if (!fault_workload (m, n, err, lost)) {
      fprintf (stderr, "request %" PRIu64 " %s (%s): wrong data or "
               "no recovery\n", n, lost ? "done, its answer lost"
               : "failing", strerror (err));
      CU_FAIL ("a single failed request lost data");
    }
    store_close (memstore_store (m));
  }
}

static void
test_fault_every_request (void)
{
  fault_every_request (EIO, false);
  fault_every_request (ESTALE, false);    /* a root PUT's If-Match refused */
}

/* The request is done but its answer lost (a connection dropped after
 * the server acted): a root PUT that landed although the flush was
 * told it failed must not stop every later flush (the next commit,
 * If-Match the root it knows, finds that attempt stored and follows
 * it).  The root side is the cas layout's too.
 */
static void
test_lost_answer_every_request (void)
{
  fault_every_request (EIO, true);
  use_cas = true;
  fault_every_request (EIO, true);
  use_cas = false;
}

/* ---- writes while a commit is in flight ----
 * The hook runs at the start of the commit's first request, with the
 * volume's lock released, and starts a writer thread, as nbdkit would
 * run another client's request: its first write (a pending change the
 * commit did not snapshot) is in before the commit goes on; the next
 * ones push blocks out to the store and may wait for the commit (the
 * dirty bound commits first when the kept copies are full).  All must
 * survive the commit's end, read back before the next flush, and land
 * with it.
 */
struct during {
  struct memstore *m;
  struct volume *v;
  int skip;                     /* store batches to let by first */
  int r;
  pthread_t writer;
  bool started;
  pthread_mutex_t lock;
  pthread_cond_t first_done;
  bool first;
};

static void *
writer_during_commit (void *opaque)
{
  struct during *d = opaque;
  int r = write_seed (d->v, 3, 42, false);

  pthread_mutex_lock (&d->lock);
  d->first = true;
  pthread_cond_signal (&d->first_done);
  pthread_mutex_unlock (&d->lock);
  if (r == 0)
    r = write_seed (d->v, 5, 0, false);
  if (r == 0)
    r = write_seed (d->v, 6, 43, false);
  d->r = r;
  return NULL;
}

static void
write_during_commit (void *opaque)
{
  struct during *d = opaque;
  struct timespec deadline;
  int err = 0;

  if (d->skip-- > 0) {
    memstore_set_hook (d->m, write_during_commit, d);
    return;
  }
  if (pthread_create (&d->writer, NULL, writer_during_commit, d) != 0)
    return;
  d->started = true;
  /* Bounded: a writer stuck behind this very commit fails the test
   * rather than hanging it.
   */
  clock_gettime (CLOCK_REALTIME, &deadline);
  deadline.tv_sec += 10;
  pthread_mutex_lock (&d->lock);
  while (!d->first && err == 0)
    err = pthread_cond_timedwait (&d->first_done, &d->lock, &deadline);
  pthread_mutex_unlock (&d->lock);
}

static void
test_write_during_commit (void)
{
  struct memstore *m = memstore_new ();
  struct during d = { .m = m, .r = -1 };

  pthread_mutex_init (&d.lock, NULL);
  pthread_cond_init (&d.first_done, NULL);
  fake_now = 100;
  d.v = open_ok (m, BS);
  CU_ASSERT_EQUAL (write_seed (d.v, 5, 9, false), 0);
  CU_ASSERT_EQUAL (volume_flush (d.v), 0);
  CU_ASSERT_EQUAL (write_seed (d.v, 3, 41, false), 0);
  CU_ASSERT_EQUAL (write_seed (d.v, 4, 40, false), 0);  /* 3 uploaded */
  /* The flush uploads 4 (one batch), then commits 3 and 4: the hook
   * runs at the commit's first batch (its pages).
   */
  d.skip = 1;
  memstore_set_hook (m, write_during_commit, &d);
  CU_ASSERT_EQUAL (volume_flush (d.v), 0);
  CU_ASSERT_FATAL (d.started);
  pthread_join (d.writer, NULL);
  CU_ASSERT (d.first);
  CU_ASSERT_EQUAL (d.r, 0);
  CU_ASSERT (reads_as (d.v, 3, 42));
  CU_ASSERT (reads_as (d.v, 5, 0));
  CU_ASSERT (reads_as (d.v, 6, 43));
  CU_ASSERT_EQUAL (volume_flush (d.v), 0);
  volume_free (d.v);

  d.v = open_ok (m, BS);
  CU_ASSERT (reads_as (d.v, 3, 42));
  CU_ASSERT (reads_as (d.v, 4, 40));
  CU_ASSERT (reads_as (d.v, 5, 0));
  CU_ASSERT (reads_as (d.v, 6, 43));
  volume_free (d.v);
  store_close (memstore_store (m));
  pthread_cond_destroy (&d.first_done);
  pthread_mutex_destroy (&d.lock);
}

/* ---- several threads writing and flushing one export ---- */
#define NR_THREADS 4
#define ROUNDS 40

struct worker {
  struct volume *v;
  int id;
  int last_flushed[8];          /* per block: seed of the last flush */
  bool ok;
};

static void *
worker_run (void *opaque)
{
  struct worker *w = opaque;
  int seeds[8] = { 0 };

  w->ok = true;
  for (int r = 1; r <= ROUNDS && w->ok; r++) {
    const int b = (r * 5 + w->id) % 8;
    const uint64_t index = (uint64_t) b * NR_THREADS + w->id;
    /* Threads share contents: dedup across them. */
    const int seed = r % 7 == 0 ? 0 : 1 + (r % 11);

    w->ok = write_seed (w->v, index, seed, r % 9 == 0) == 0;
    seeds[b] = seed;
    if (w->ok && !reads_as (w->v, index, seed))
      w->ok = false;
    if (w->ok && r % 3 == 0) {
      w->ok = volume_flush (w->v) == 0;
      memcpy (w->last_flushed, seeds, sizeof seeds);
    }
    if (r % 4 == 0)
      fake_sleep (WINDOW_MS / 3);
    if (w->ok && r % 5 == 0)
      w->ok = volume_write_back (w->v, 0) == 0;
  }
  if (w->ok) {
    w->ok = volume_flush (w->v) == 0;
    memcpy (w->last_flushed, seeds, sizeof seeds);
  }
  return NULL;
}

static void
test_threads (void)
{
  struct memstore *m = memstore_new ();
  struct worker w[NR_THREADS];
  pthread_t th[NR_THREADS];
  struct volume *v;

  fake_now = 100;
  v = open_ok (m, 3 * BS);
  for (int i = 0; i < NR_THREADS; i++) {
    memset (&w[i], 0, sizeof w[i]);
    w[i].v = v;
    w[i].id = i;
    CU_ASSERT_EQUAL_FATAL (pthread_create (&th[i], NULL, worker_run,
                                           &w[i]), 0);
  }
  for (int i = 0; i < NR_THREADS; i++) {
    pthread_join (th[i], NULL);
    CU_ASSERT (w[i].ok);
  }
  volume_free (v);
  v = open_ok (m, 3 * BS);
  for (int i = 0; i < NR_THREADS; i++)
    for (int b = 0; b < 8; b++)
      CU_ASSERT (reads_as (v, (uint64_t) b * NR_THREADS + i,
                           w[i].last_flushed[b]));
  volume_free (v);
  store_close (memstore_store (m));
}

UNIT_SUITES (add_log_faults_tests)
{
  CU_pSuite s = CU_add_suite ("log faults", NULL, NULL);

  CU_add_test (s, "a deduplicated block's segment gone before its commit",
               test_dedup_segment_gone);
  CU_add_test (s, "deduplicated blocks of one content share a copy",
               test_dedup_shares_copy);
  CU_add_test (s, "a block deduplicated onto its own upload",
               test_dedup_onto_itself);
  CU_add_test (s, "one failed request, then retries",
               test_fault_every_request);
  CU_add_test (s, "one request done, its answer lost, then retries",
               test_lost_answer_every_request);
  CU_add_test (s, "writes while a commit is in flight",
               test_write_during_commit);
  CU_add_test (s, "threads writing and flushing one export", test_threads);
}
