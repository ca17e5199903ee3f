/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the cas layout under a volume, against the
 * in-memory store: what each operation costs in requests, dedup,
 * integrity checks, the refresh rule on a fake clock, and commits that
 * stay atomic when the server goes away after any single request.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "cas/cas-fence.h"
#include "format/cas-format.h"
#include "cas/cas-tree.h"
#include "layout/layout.h"
#include "crash-points.h"
#include "memstore.h"
#include "nbdkit-standin.h"
#include "tests.h"
#include "volume/volume.h"

#define BS 4096
#define EXPORT "t"
#define ROOT_KEY "cas/roots/t"
#define BIG (UINT64_C (8) << 30)        /* 2M blocks: depth 2 */
#define WINDOW_MS 1000

static uint64_t fake_now;

/* It stands still unless a test moves it.  The sweep fence takes a
 * PUT timed in the same millisecond as the LIST that began its quiet
 * run for one that may have started before it, and PUTs it again:
 * tests counting requests move the clock after opening.
 */
static uint64_t
fake_clock (void)
{
  return fake_now;
}

/* A commit waiting for gc's sweep: the time passes, and the test's
 * hook (if any) plays gc.
 */
static void (*on_sleep) (void);
static unsigned sleeps;

static void
fake_sleep (uint64_t ms)
{
  fake_now += ms;
  sleeps++;
  if (on_sleep)
    on_sleep ();
}

struct opts {
  uint64_t size;
  uint64_t max_dirty;
  uint64_t cache;
  bool create;
  bool readonly;
  const char *root_key;
  uint64_t commit_bound_ms;
};

static struct volume *
open_opts (struct memstore *m, const struct opts *o, int *load_result)
{
  struct layout_cas_params cp = {
    .root_key = o->root_key ? o->root_key : ROOT_KEY,
    .create = o->create,
    .map_cache_bytes = 1 << 20,
    .reuse_window_ms = WINDOW_MS,
    .request_bound_ms = 10,
    .commit_bound_ms = o->commit_bound_ms ? o->commit_bound_ms : 100000,
    .recent_entries = 64,
    .clock_ms = fake_clock,
    .sleep_ms = fake_sleep,
  };
  struct volume_params p = {
    .name = EXPORT, .size = o->size ? o->size : BIG, .block_size = BS,
    .max_dirty = o->max_dirty ? o->max_dirty : 64 * BS,
    .cache_size = o->cache, .batch = 4,
  };
  struct layout_params lp = {
    .export_name = EXPORT, .block_size = BS, .readonly = o->readonly,
  };
  struct volume *v;

  cp.size = p.size;
  cp.keep_bytes = p.max_dirty;
  v = volume_create (layout_cas_open (memstore_store (m), &lp, &cp), &p);

  CU_ASSERT_PTR_NOT_NULL_FATAL (v);
  *load_result = volume_load_map (v);
  return v;
}

static struct volume *
open_new (struct memstore *m)
{
  struct opts o = { .create = true };
  int r;
  struct volume *v = open_opts (m, &o, &r);

  CU_ASSERT_EQUAL_FATAL (r, 0);
  return v;
}

/* Reopen as the plugin would: create only if there is no root yet. */
static struct volume *
reopen (struct memstore *m, uint64_t max_dirty)
{
  struct opts o = {
    .max_dirty = max_dirty,
    .create = memstore_peek (m, ROOT_KEY, NULL, 0) < 0,
  };
  int r;
  struct volume *v = open_opts (m, &o, &r);

  CU_ASSERT_EQUAL_FATAL (r, 0);
  return v;
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

/* Does block index read as seed (0: zeros)? */
static bool
reads_as (struct volume *v, uint64_t index, int seed)
{
  char buf[BS], want[BS];

  fill (want, seed);
  return volume_read (v, buf, BS, index * BS) == 0 &&
    memcmp (buf, want, BS) == 0;
}

static struct cas_root
root_of (struct memstore *m, const char *key)
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

/* Opening costs one GET (the root) and one LIST of gc's sweep markers
 * (cas/gc/sweeps/, the sweep fence), never a LIST of blocks.
 */
static void
test_open_cost (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v = open_new (m);
  struct memstore_counts c;

  c = memstore_counts (m);
  CU_ASSERT_EQUAL (c.lists, 1);         /* the sweep markers */
  CU_ASSERT_EQUAL (c.gets, 1);          /* the root, absent */
  CU_ASSERT_EQUAL (c.puts, 1);          /* created, empty */
  CU_ASSERT_EQUAL (root_of (m, ROOT_KEY).generation, 0);
  CU_ASSERT (root_of (m, ROOT_KEY).empty);
  CU_ASSERT_EQUAL (write_seed (v, 5, 1), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_free (v);

  memstore_reset_counts (m);
  v = reopen (m, 0);
  c = memstore_counts (m);
  CU_ASSERT_EQUAL (c.gets, 1);
  CU_ASSERT_EQUAL (c.lists, 1);
  CU_ASSERT_EQUAL (c.puts + c.deletes, 0);
  volume_free (v);

  /* Without its root the export is refused, naming the key. */
  memstore_set (m, "cas/roots/other", "x", 1);
  struct opts o = { .root_key = "cas/roots/nope" };
  int r;
  standin_reset_errors ();
  v = open_opts (m, &o, &r);
  CU_ASSERT_EQUAL (r, -1);
  CU_ASSERT_EQUAL (errno, ENOENT);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "cas/roots/nope"));
  volume_free (v);
  store_close (memstore_store (m));
}

/* A one-block flush: the block, one page per level, one LIST of the
 * sweep markers, the root.
 */
static void
test_flush_cost (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v = open_new (m);
  struct volume_stats st;
  struct memstore_counts c;
  const unsigned depth = cas_depth_for (CAS_LEAF_HASH, BIG / BS);

  CU_ASSERT_EQUAL (depth, 2);
  fake_now++;
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (write_seed (v, 1000000, 7), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  c = memstore_counts (m);
  CU_ASSERT_EQUAL (c.puts, 1 + (depth + 1) + 1);
  CU_ASSERT_EQUAL (c.gets, 0);
  CU_ASSERT_EQUAL (c.lists, 1);
  CU_ASSERT_EQUAL (c.deletes, 0);
  CU_ASSERT_EQUAL (memstore_count (m, "cas/data/"), 1);
  CU_ASSERT_EQUAL (memstore_count (m, "cas/pages/"), depth + 1);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.data_puts, 1);
  CU_ASSERT_EQUAL (st.pages_written, depth + 1);
  CU_ASSERT (st.page_bytes > 0);
  CU_ASSERT_EQUAL (st.roots_written, 2);        /* created, committed */

  /* A flush with nothing new writes nothing. */
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (memstore_requests (m), 0);

  struct cas_root r = root_of (m, ROOT_KEY);
  CU_ASSERT_EQUAL (r.generation, 1);
  CU_ASSERT_EQUAL (r.blocks, 1);
  CU_ASSERT_EQUAL (r.depth, depth);
  CU_ASSERT_EQUAL (r.size, BIG);
  CU_ASSERT_EQUAL (r.reuse_window_s, 1);
  volume_free (v);
  store_close (memstore_store (m));
}

/* The same content twice is one data PUT, in one flush or in two. */
static void
test_dedup (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v = open_new (m);
  struct volume_stats st;

  fake_now = 0;
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (write_seed (v, 0, 9), 0);
  CU_ASSERT_EQUAL (write_seed (v, 1, 9), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.data_puts, 1);
  CU_ASSERT_EQUAL (st.dedup_hits, 1);

  CU_ASSERT_EQUAL (write_seed (v, 2000, 9), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.data_puts, 1);
  CU_ASSERT_EQUAL (st.dedup_hits, 2);
  CU_ASSERT_EQUAL (memstore_count (m, "cas/data/"), 1);

  /* Past the reuse window, the content is PUT again. */
  fake_now += WINDOW_MS + 1;
  CU_ASSERT_EQUAL (write_seed (v, 3000, 9), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.data_puts, 2);
  CU_ASSERT_EQUAL (st.dedup_hits, 2);
  CU_ASSERT_EQUAL (root_of (m, ROOT_KEY).blocks, 4);
  volume_free (v);

  v = reopen (m, 0);
  CU_ASSERT (reads_as (v, 0, 9));
  CU_ASSERT (reads_as (v, 1, 9));
  CU_ASSERT (reads_as (v, 2000, 9));
  CU_ASSERT (reads_as (v, 3000, 9));
  CU_ASSERT (reads_as (v, 2, 0));
  volume_free (v);
  store_close (memstore_store (m));
}

/* A hole reads without a request once its page is cached; so does a
 * block in a subtree with no page at all.
 */
static void
test_hole_reads (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v = open_new (m);
  struct volume_stats st;

  CU_ASSERT_EQUAL (write_seed (v, 0, 3), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_free (v);

  v = reopen (m, 0);
  memstore_reset_counts (m);
  CU_ASSERT (reads_as (v, 1, 0));
  CU_ASSERT_EQUAL (memstore_counts (m).gets, 3);        /* its path */
  memstore_reset_counts (m);
  CU_ASSERT (reads_as (v, 2, 0));
  CU_ASSERT (reads_as (v, 1023, 0));
  CU_ASSERT (reads_as (v, 1024, 0));    /* no leaf page there */
  CU_ASSERT (reads_as (v, 1500000, 0));
  CU_ASSERT_EQUAL (memstore_requests (m), 0);
  CU_ASSERT (reads_as (v, 0, 3));
  CU_ASSERT_EQUAL (memstore_counts (m).gets, 1);        /* the data */
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.holes_read, 5);
  volume_free (v);
  store_close (memstore_store (m));
}

/* Write-backs forced by max-dirty store data but change nothing a
 * reopen sees until a commit.
 */
static void
test_writeback_invisible (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  struct volume_stats st;

  v = open_new (m);
  CU_ASSERT_EQUAL (write_seed (v, 7, 1), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_free (v);

  v = reopen (m, 3 * BS);
  for (int i = 0; i < 20; i++)
    CU_ASSERT_EQUAL (write_seed (v, 100 + i, 10 + i), 0);
  CU_ASSERT_EQUAL (write_seed (v, 7, 0), 0);
  volume_get_stats (v, &st);
  CU_ASSERT (st.writebacks >= 15);
  CU_ASSERT (memstore_count (m, "cas/data/") >= 16);
  /* Reads of written-back blocks come from the pending table. */
  CU_ASSERT (reads_as (v, 100, 10));
  CU_ASSERT_EQUAL (root_of (m, ROOT_KEY).generation, 1);
  volume_free (v);                      /* a crash: no flush */

  v = reopen (m, 0);
  CU_ASSERT (reads_as (v, 7, 1));
  for (int i = 0; i < 20; i++)
    CU_ASSERT (reads_as (v, 100 + i, 0));
  volume_free (v);
  store_close (memstore_store (m));
}

/* A damaged, short or missing data object is EIO naming it and the
 * export, never zeros.
 */
static void
test_damaged_data (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v = open_new (m);
  char key[KEY_MAX], buf[BS];
  struct cas_hash h;

  CU_ASSERT_EQUAL (write_seed (v, 4, 5), 0);
  CU_ASSERT_EQUAL (write_seed (v, 5, 6), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_free (v);

  fill (buf, 5);
  cas_hash_of (buf, BS, &h);
  cas_data_key (key, sizeof key, &h);
  v = reopen (m, 0);
  for (int how = 0; how < 3; how++) {
    fill (buf, 5);
    buf[100] ^= 1;
    if (how < 2)
      memstore_set (m, key, buf, how == 0 ? BS : BS - 1);
    else {
      struct store_op op = { .kind = STORE_DELETE };
      strcpy (op.key, key);
      store_run (memstore_store (m), &op, 1);
    }
    standin_reset_errors ();
    CU_ASSERT_EQUAL (volume_read (v, buf, BS, 4 * BS), -1);
    CU_ASSERT_EQUAL (errno, EIO);
    CU_ASSERT_PTR_NOT_NULL (strstr (standin_error_log, key));
    CU_ASSERT_PTR_NOT_NULL (strstr (standin_error_log, "export " EXPORT ":"));
  }
  CU_ASSERT (reads_as (v, 5, 6));
  volume_free (v);
  store_close (memstore_store (m));
}

/* The race the sweep fence cannot close for uncommitted data: a gc
 * chunk deletes content this server uploaded (as old garbage with the
 * same bytes) before its commit.  The commit finds it gone and
 * uploads it again from the copy kept until the commit, so the flush
 * succeeds and the block reads back.
 */
static void
test_gone_before_commit (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  struct volume_stats st;
  char key[KEY_MAX], buf[BS];
  struct cas_hash h;
  struct store_op op = { .kind = STORE_DELETE };

  fake_now = 2000000;
  v = reopen (m, 3 * BS);
  CU_ASSERT_EQUAL (write_seed (v, 0, 77), 0);
  for (int i = 0; i < 4; i++)           /* block 0 goes out: a write-back */
    CU_ASSERT_EQUAL (write_seed (v, 10 + i, 80 + i), 0);
  fill (buf, 77);
  cas_hash_of (buf, BS, &h);
  cas_data_key (key, sizeof key, &h);
  CU_ASSERT_EQUAL (memstore_peek (m, key, NULL, 0), BS);   /* uploaded */

  strcpy (op.key, key);                 /* gc's sweep deletes it */
  store_run (memstore_store (m), &op, 1);
  CU_ASSERT_EQUAL (op.err, 0);
  fake_now += WINDOW_MS + 2;            /* so the commit refreshes it */
  standin_reset_errors ();
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (standin_error_count, 0);
  volume_get_stats (v, &st);
  CU_ASSERT (st.refreshes >= 1);
  CU_ASSERT_EQUAL (memstore_peek (m, key, NULL, 0), BS);   /* stored again */
  volume_free (v);

  v = reopen (m, 0);
  CU_ASSERT (reads_as (v, 0, 77));
  CU_ASSERT (reads_as (v, 13, 83));
  volume_free (v);
  store_close (memstore_store (m));
}

/* The refresh rule: content a commit refers to, PUT longer than the
 * reuse window before the commit starts, is read back and PUT again
 * before the root.
 */
static void
test_refresh_rule (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  struct volume_stats st;
  struct memstore_counts c;

  fake_now = 1000000;
  v = reopen (m, 3 * BS);
  fake_now++;
  CU_ASSERT_EQUAL (write_seed (v, 0, 4), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);        /* PUT at T0 */

  /* A dedup hit within the window: the entry keeps T0. */
  fake_now += WINDOW_MS - 1;
  CU_ASSERT_EQUAL (write_seed (v, 1, 4), 0);
  for (int i = 0; i < 4; i++)           /* pushes block 1 out: a write-back */
    CU_ASSERT_EQUAL (write_seed (v, 10 + i, 20 + i), 0);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.dedup_hits, 1);

  /* The commit starts past T0 + window: block 1's content is old. */
  fake_now += 2;
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.refreshes, 1);
  c = memstore_counts (m);
  CU_ASSERT (c.gets >= 1);              /* the read-back */
  volume_free (v);

  /* Everything committed reads back. */
  v = reopen (m, 0);
  CU_ASSERT (reads_as (v, 0, 4));
  CU_ASSERT (reads_as (v, 1, 4));
  CU_ASSERT (reads_as (v, 13, 23));
  volume_free (v);

  /* A commit that would overrun its bound fails, and keeps its
   * changes: the root is unchanged.
   */
  struct opts o = { .commit_bound_ms = 5 };     /* < request bound */
  int r;
  const uint64_t gen = root_of (m, ROOT_KEY).generation;
  v = open_opts (m, &o, &r);
  CU_ASSERT_EQUAL (r, 0);
  CU_ASSERT_EQUAL (write_seed (v, 50, 8), 0);
  CU_ASSERT_EQUAL (volume_flush (v), -1);
  CU_ASSERT_EQUAL (errno, ETIMEDOUT);
  CU_ASSERT_EQUAL (root_of (m, ROOT_KEY).generation, gen);
  CU_ASSERT (reads_as (v, 50, 8));
  volume_free (v);
  store_close (memstore_store (m));
}

/* Extents from the tree, pending changes and dirty blocks. */
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

static void
test_extents (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v = open_new (m);
  struct ext e = { .n = 0 };
  const uint32_t hole = VOLUME_EXTENT_HOLE | VOLUME_EXTENT_ZERO;

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

  /* After a reopen, from the tree alone. */
  v = reopen (m, 0);
  e.n = 0;
  CU_ASSERT_EQUAL (volume_extents (v, 8 * BS, 0, false, add_ext, &e), 0);
  CU_ASSERT_EQUAL_FATAL (e.n, 5);
  CU_ASSERT (e.off[2] == 3 * BS && e.len[2] == 3 * BS && e.type[2] == hole);
  CU_ASSERT (e.off[3] == 6 * BS && e.type[3] == 0);
  volume_free (v);
  store_close (memstore_store (m));
}

/* Growing records the size and deepens the tree; shrinking frees the
 * blocks past the end, so growing again reads zeros there.
 */
static void
test_resize (void)
{
  struct memstore *m = memstore_new ();
  struct opts o = { .size = 1024 * BS, .create = true };
  struct volume *v;
  int r;

  v = open_opts (m, &o, &r);
  CU_ASSERT_EQUAL_FATAL (r, 0);
  CU_ASSERT_EQUAL (root_of (m, ROOT_KEY).depth, 0);
  CU_ASSERT_EQUAL (write_seed (v, 5, 1), 0);
  CU_ASSERT_EQUAL (write_seed (v, 1000, 2), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (volume_resize (v, BIG), 0);
  CU_ASSERT_EQUAL (root_of (m, ROOT_KEY).size, BIG);
  CU_ASSERT_EQUAL (root_of (m, ROOT_KEY).depth, 2);
  CU_ASSERT_EQUAL (write_seed (v, BIG / BS - 1, 3), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_free (v);

  v = reopen (m, 0);
  CU_ASSERT (reads_as (v, 5, 1));
  CU_ASSERT (reads_as (v, 1000, 2));
  CU_ASSERT (reads_as (v, BIG / BS - 1, 3));
  CU_ASSERT_EQUAL (volume_resize (v, 100 * BS), 0);
  CU_ASSERT_EQUAL (root_of (m, ROOT_KEY).size, 100 * BS);
  CU_ASSERT_EQUAL (root_of (m, ROOT_KEY).blocks, 1);
  CU_ASSERT_EQUAL (volume_resize (v, BIG), 0);
  CU_ASSERT (reads_as (v, 5, 1));
  CU_ASSERT (reads_as (v, 1000, 0));
  CU_ASSERT (reads_as (v, BIG / BS - 1, 0));
  volume_free (v);
  store_close (memstore_store (m));
}

/* A snapshot root (written here as the admin command would) serves
 * the export as it was, and refuses writes.
 */
static void
test_snapshot (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v = open_new (m);
  struct cas_root r;
  char buf[CAS_ROOT_MAX];
  int len, lr;

  CU_ASSERT_EQUAL (write_seed (v, 9, 4), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  r = root_of (m, ROOT_KEY);
  r.kind = CAS_ROOT_SNAPSHOT;
  snprintf (r.name, sizeof r.name, "t@s1");
  snprintf (r.parent, sizeof r.parent, "t");
  len = cas_root_format (buf, sizeof buf, &r);
  CU_ASSERT_FATAL (len > 0);
  memstore_set (m, "cas/snaps/t/s1", buf, len);
  CU_ASSERT_EQUAL (write_seed (v, 9, 5), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_free (v);

  struct opts o = { .root_key = "cas/snaps/t/s1", .readonly = true };
  memstore_reset_counts (m);
  v = open_opts (m, &o, &lr);
  CU_ASSERT_EQUAL (lr, 0);
  CU_ASSERT_EQUAL (memstore_requests (m), 1);
  CU_ASSERT (reads_as (v, 9, 4));
  CU_ASSERT_EQUAL (write_seed (v, 9, 6), 0);    /* memory only */
  CU_ASSERT_EQUAL (volume_flush (v), -1);
  CU_ASSERT_EQUAL (errno, EROFS);
  CU_ASSERT_EQUAL (memstore_counts (m).puts, 0);
  volume_free (v);
  v = reopen (m, 0);
  CU_ASSERT (reads_as (v, 9, 5));
  volume_free (v);
  store_close (memstore_store (m));
}

/* A root that says "leaf location" is a log tree's: the cas layout
 * refuses it at open, naming it, rather than failing on its first leaf.
 */
static void
test_location_root_refused (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v = open_new (m);
  struct cas_root r;
  char buf[CAS_ROOT_MAX];
  int len, lr;
  struct opts o = { 0 }, snap = { .root_key = "cas/snaps/t/s1",
                                  .readonly = true };

  CU_ASSERT_EQUAL (write_seed (v, 9, 4), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_free (v);
  r = root_of (m, ROOT_KEY);
  r.leaf = CAS_LEAF_LOCATION;
  len = cas_root_format (buf, sizeof buf, &r);
  CU_ASSERT_FATAL (len > 0);
  memstore_set (m, ROOT_KEY, buf, len);
  r.kind = CAS_ROOT_SNAPSHOT;
  snprintf (r.name, sizeof r.name, "t@s1");
  len = cas_root_format (buf, sizeof buf, &r);
  memstore_set (m, "cas/snaps/t/s1", buf, len);

  standin_reset_errors ();
  memstore_reset_counts (m);
  v = open_opts (m, &o, &lr);
  CU_ASSERT_EQUAL (lr, -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, ROOT_KEY));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "log layout"));
  CU_ASSERT_EQUAL (memstore_counts (m).puts, 0);
  volume_free (v);

  v = open_opts (m, &snap, &lr);
  CU_ASSERT_EQUAL (lr, -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "cas/snaps/t/s1"));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "log layout"));
  volume_free (v);
  store_close (memstore_store (m));
}

/* Crash safety.  A workload of flushes that each change several
 * blocks (overwrites, zeroing, identical contents, several leaves),
 * with max-dirty small enough that write-backs happen between them.
 * The server goes away after n requests, for every n: the reopened
 * export must read exactly as after one completed flush, at least the
 * last that returned success.
 */
#define NR_TRACKED 7
#define NR_FLUSHES 4
static const uint64_t tracked[NR_TRACKED] = {
  0, 1, 2, 1023, 1024, 1048576 + 7, 2097151,
};
/* seeds[k][j]: tracked block j after flush k (0: zeros). */
static const int seeds[NR_FLUSHES + 1][NR_TRACKED] = {
  { 0, 0, 0, 0, 0, 0, 0 },
  { 1, 2, 3, 4, 5, 6, 1 },
  { 7, 0, 3, 3, 5, 8, 1 },
  { 0, 0, 9, 3, 1, 8, 10 },
  { 0, 11, 0, 0, 0, 0, 10 },
};

/* Runs the workload; returns the last flush that succeeded. */
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
  if (r == -1) {                        /* gone before the root was made */
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
  struct volume *v = reopen (m, 0);
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
    .name = "cas crash test", .last_state = NR_FLUSHES,
    .run = workload, .state_of = state_of, .min_requests = 21,
  };

  crash_every_request (&w);
}

/* ---- the sweep fence (lib/cas/cas-fence.c) ---- */

#define ID1 "0123456789abcdef0123456789abcdef"
#define ID2 "fedcba9876543210fedcba9876543210"
#define ID3 "00000000000000000000000000000003"
#define ID4 "00000000000000000000000000000004"

static struct memstore *fence_mem;

static void
set_marker (struct memstore *m, const char *id, bool done)
{
  char key[KEY_MAX];

  CU_ASSERT_FATAL (cas_sweep_marker_key (key, sizeof key, id, done) == 0);
  memstore_set (m, key, "m", 1);
}

static void
drop_marker (struct memstore *m, const char *id, bool done)
{
  char key[KEY_MAX];

  CU_ASSERT_FATAL (cas_sweep_marker_key (key, sizeof key, id, done) == 0);
  CU_ASSERT (store_delete (memstore_store (m), key) == 0);
}

/* The quiet-run rules, LIST by LIST. */
static void
test_fence_runs (void)
{
  struct memstore *m = memstore_new ();
  struct store *st = memstore_store (m);
  struct cas_fence f;
  enum cas_fence_state state;
  char id[CAS_SWEEP_ID_LEN + 1];
  bool done;
  const uint64_t stale = CAS_SWEEP_CHUNK_LIMIT_MS + 10;

  CU_ASSERT (cas_sweep_marker_parse ("cas/gc/sweeps/" ID1 ".done", id,
                                     &done) && done);
  CU_ASSERT_STRING_EQUAL (id, ID1);
  CU_ASSERT (cas_sweep_marker_parse ("cas/gc/sweeps/" ID1 ".running", id,
                                     &done) && !done);
  CU_ASSERT (!cas_sweep_marker_parse ("cas/gc/sweeps/" ID1 ".x", id, &done));
  CU_ASSERT (!cas_sweep_marker_parse ("cas/gc/sweeps/0123.done", id, &done));
  CU_ASSERT (!cas_sweep_marker_parse ("cas/gc/sweeps/0123456789ABCDEF"
                                      "0123456789abcdef.done", id, &done));

  fake_now = 1000;
  cas_fence_init (&f, 10);
  CU_ASSERT_EQUAL (cas_fence_list (&f, st, fake_clock, "t", &state), 0);
  CU_ASSERT_EQUAL (state, CAS_FENCE_NEW_RUN);
  CU_ASSERT_EQUAL (f.quiet_since, 1000);
  fake_now += 100;
  CU_ASSERT_EQUAL (cas_fence_list (&f, st, fake_clock, "t", &state), 0);
  CU_ASSERT_EQUAL (state, CAS_FENCE_CONTINUES);
  CU_ASSERT_EQUAL (f.quiet_since, 1000);
  /* Keys that are not markers are not ours. */
  memstore_set (m, "cas/gc/sweeps/README", "x", 1);
  CU_ASSERT_EQUAL (cas_fence_list (&f, st, fake_clock, "t", &state), 0);
  CU_ASSERT_EQUAL (state, CAS_FENCE_CONTINUES);

  /* A chunk runs: no run, for as long as it is not stale. */
  set_marker (m, ID1, false);
  CU_ASSERT_EQUAL (cas_fence_list (&f, st, fake_clock, "t", &state), 0);
  CU_ASSERT_EQUAL (state, CAS_FENCE_BUSY);
  CU_ASSERT (!f.in_run);
  fake_now += stale;
  CU_ASSERT_EQUAL (cas_fence_list (&f, st, fake_clock, "t", &state), 0);
  CU_ASSERT_EQUAL (state, CAS_FENCE_BUSY);
  /* The chunk ends: its .done is an id the (new) run has not seen. */
  set_marker (m, ID1, true);
  drop_marker (m, ID1, false);
  fake_now += 10;
  CU_ASSERT_EQUAL (cas_fence_list (&f, st, fake_clock, "t", &state), 0);
  CU_ASSERT_EQUAL (state, CAS_FENCE_NEW_RUN);
  CU_ASSERT_EQUAL (f.quiet_since, fake_now);
  CU_ASSERT_EQUAL (cas_fence_list (&f, st, fake_clock, "t", &state), 0);
  CU_ASSERT_EQUAL (state, CAS_FENCE_CONTINUES);

  /* A whole chunk between two LISTs: a new id, a new run. */
  set_marker (m, ID2, true);
  fake_now += 10;
  CU_ASSERT_EQUAL (cas_fence_list (&f, st, fake_clock, "t", &state), 0);
  CU_ASSERT_EQUAL (state, CAS_FENCE_NEW_RUN);
  CU_ASSERT_EQUAL (f.quiet_since, fake_now);
  /* gc deleting old markers does not end a run. */
  drop_marker (m, ID1, true);
  CU_ASSERT_EQUAL (cas_fence_list (&f, st, fake_clock, "t", &state), 0);
  CU_ASSERT_EQUAL (state, CAS_FENCE_CONTINUES);

  /* A .running marker seen longer than the chunk limit plus a request
   * is a crashed gc's: ignored, and its id is part of the run.
   */
  set_marker (m, ID3, false);
  CU_ASSERT_EQUAL (cas_fence_list (&f, st, fake_clock, "t", &state), 0);
  CU_ASSERT_EQUAL (state, CAS_FENCE_BUSY);
  fake_now += stale;
  CU_ASSERT_EQUAL (cas_fence_list (&f, st, fake_clock, "t", &state), 0);
  CU_ASSERT_EQUAL (state, CAS_FENCE_BUSY);
  fake_now += 1;
  CU_ASSERT_EQUAL (cas_fence_list (&f, st, fake_clock, "t", &state), 0);
  CU_ASSERT_EQUAL (state, CAS_FENCE_NEW_RUN);
  fake_now += 1000;
  CU_ASSERT_EQUAL (cas_fence_list (&f, st, fake_clock, "t", &state), 0);
  CU_ASSERT_EQUAL (state, CAS_FENCE_CONTINUES);

  /* LISTs further apart than half the retention: a new run. */
  fake_now += (uint64_t) CAS_MARKER_RETENTION_S * 1000 / 2;
  CU_ASSERT_EQUAL (cas_fence_list (&f, st, fake_clock, "t", &state), 0);
  CU_ASSERT_EQUAL (state, CAS_FENCE_NEW_RUN);
  fake_now += (uint64_t) CAS_MARKER_RETENTION_S * 1000 / 2 - 10;
  CU_ASSERT_EQUAL (cas_fence_list (&f, st, fake_clock, "t", &state), 0);
  CU_ASSERT_EQUAL (state, CAS_FENCE_CONTINUES);

  /* A listing that fails is an error, not quiet. */
  memstore_fail_list (m, EIO);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (cas_fence_list (&f, st, fake_clock, "t", &state), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "cas/gc/sweeps/"));
  memstore_fail_list (m, 0);
  cas_fence_free (&f);
  store_close (st);
}

/* gc's chunk ends during the commit's first wait. */
static void
chunk_ends (void)
{
  set_marker (fence_mem, ID2, true);
  drop_marker (fence_mem, ID2, false);
  on_sleep = NULL;
}

/* Commits through the fence: what they wait for and PUT again. */
static void
test_fence_commits (void)
{
  struct memstore *m = fence_mem = memstore_new ();
  struct volume *v;
  struct volume_stats st;
  struct memstore_counts c;
  const unsigned depth = cas_depth_for (CAS_LEAF_HASH, BIG / BS);
  struct opts o = { .commit_bound_ms = 3000 };
  uint64_t gen;
  int r;

  fake_now = 1000;
  sleeps = 0;
  v = open_new (m);

  /* A chunk runs at the commit: it waits, then PUTs the block again
   * (read back, checked) and its pages, and LISTs again.
   */
  set_marker (m, ID1, true);            /* an old chunk: no matter */
  set_marker (m, ID2, false);
  v = (volume_free (v), reopen (m, 0));
  fake_now++;
  CU_ASSERT_EQUAL (write_seed (v, 1, 7), 0);
  memstore_reset_counts (m);
  on_sleep = chunk_ends;
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  c = memstore_counts (m);
  CU_ASSERT_EQUAL (sleeps, 1);
  CU_ASSERT_EQUAL (c.lists, 3);         /* running, new run, continues */
  CU_ASSERT_EQUAL (c.gets, 1);          /* the block, read back */
  CU_ASSERT_EQUAL (c.puts, 1 + 2 * (depth + 1) + 1 + 1);
  CU_ASSERT (reads_as (v, 1, 7));

  /* Content PUT before a chunk and reused through the recent-PUT table
   * after it is PUT again at the commit (read back, checked).
   */
  fake_now++;
  CU_ASSERT_EQUAL (write_seed (v, 2, 9), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.dedup_hits, 0);
  set_marker (m, ID3, true);            /* a whole chunk in between */
  CU_ASSERT_EQUAL (write_seed (v, 3, 9), 0);
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.dedup_hits, 1);   /* the upload skipped */
  c = memstore_counts (m);
  CU_ASSERT_EQUAL (c.lists, 2);         /* new run, continues */
  CU_ASSERT_EQUAL (c.gets, 1);
  CU_ASSERT_EQUAL (c.puts, 1 + (depth + 1) + 1 + (depth + 1));
  CU_ASSERT_EQUAL (write_seed (v, 4, 9), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_get_stats (v, &st);
  /* The fence's PUT of it is recent, in this run: reused. */
  CU_ASSERT_EQUAL (st.dedup_hits, 2);
  CU_ASSERT_EQUAL (st.data_puts, 2);

  /* A .running marker no chunk ends: stale after the chunk limit plus
   * a request, then ignored.
   */
  set_marker (m, ID4, false);
  sleeps = 0;
  CU_ASSERT_EQUAL (write_seed (v, 5, 11), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (sleeps, (CAS_SWEEP_CHUNK_LIMIT_MS + 10) / CAS_FENCE_WAIT_MS
                   + 1);
  CU_ASSERT (reads_as (v, 5, 11));
  volume_free (v);
  drop_marker (m, ID4, false);

  /* A chunk outlasting the commit bound fails the flush; nothing is
   * lost, the next flush commits.
   */
  v = open_opts (m, &o, &r);
  CU_ASSERT_EQUAL_FATAL (r, 0);
  gen = root_of (m, ROOT_KEY).generation;
  set_marker (m, ID4, false);
  CU_ASSERT_EQUAL (write_seed (v, 6, 13), 0);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (volume_flush (v), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "commit failed"));
  CU_ASSERT_EQUAL (root_of (m, ROOT_KEY).generation, gen);
  drop_marker (m, ID4, false);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (root_of (m, ROOT_KEY).generation, gen + 1);
  CU_ASSERT (reads_as (v, 6, 13));
  for (int i = 1; i <= 5; i++)
    CU_ASSERT (reads_as (v, i, i == 1 ? 7 : i < 5 ? 9 : 11));
  volume_free (v);
  on_sleep = NULL;
  store_close (memstore_store (m));
}

UNIT_SUITES (add_cas_layout_tests)
{
  CU_pSuite s = CU_add_suite ("cas layout", NULL, NULL);

  CU_add_test (s, "open costs one GET", test_open_cost);
  CU_add_test (s, "one-block flush cost", test_flush_cost);
  CU_add_test (s, "dedup", test_dedup);
  CU_add_test (s, "hole reads", test_hole_reads);
  CU_add_test (s, "write-backs invisible", test_writeback_invisible);
  CU_add_test (s, "damaged data", test_damaged_data);
  CU_add_test (s, "refresh rule", test_refresh_rule);
  CU_add_test (s, "content gone before its commit: stored again from "
               "the kept copy", test_gone_before_commit);
  CU_add_test (s, "extents", test_extents);
  CU_add_test (s, "resize", test_resize);
  CU_add_test (s, "snapshot", test_snapshot);
  CU_add_test (s, "a log tree's root is refused", test_location_root_refused);
  CU_add_test (s, "crash at every request", test_crash_every_request);
  CU_add_test (s, "sweep fence: quiet runs", test_fence_runs);
  CU_add_test (s, "sweep fence: commits", test_fence_commits);
}
