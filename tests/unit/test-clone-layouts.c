/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: clone across layouts (clone-copy.c) and within
 * log (a root copy), against the in-memory store.
 *
 * Every pair of plain, cas and log, and cas and log snapshots as
 * sources: NEW reads block by block as the source, says its layout in
 * its metadata, and stores no all-zero block.  log -> log costs the
 * same requests whatever the size.  A clone into log stopped after
 * each single request leaves either no metadata for NEW and nothing a
 * server would serve as data, or a complete NEW; gc after a finished
 * clone leaves NEW whole; gc run at each batch of a clone refuses a
 * short grace while NEW's lease is held (docs/gc-safety.md, step 8).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "admin.h"
#include "cas/cas-admin.h"
#include "config/options.h"
#include "format/keys.h"
#include "iszero.h"
#include "layout/layout.h"
#include "memstore.h"
#include "nbdkit-standin.h"
#include "tests.h"
#include "volume/volume.h"

#define BS 4096
#define NBLOCKS 96                      /* the sources' size, in blocks */
#define ZERO_BLOCK 10                   /* stored, but all zeros */

static struct memstore *mem;
static struct store *st;
static struct s3blocks_config cfg;
static struct admin adm;
static uint64_t vsize;                  /* of the volumes open_vol opens */

static void
setup (void)
{
  mem = memstore_new ();
  st = memstore_store (mem);
  standin_reset_errors ();
  vsize = NBLOCKS * BS;
  CU_ASSERT_FATAL (config_init (&cfg) == 0);
  /* Small segments and commits: several of each per clone. */
  cfg.segment_size = 16 * BS;
  adm = (struct admin) {
    .store = st, .grace_s = -1, .cfg = &cfg, .lease_ms = 30000,
    .request_ms = 1000, .clone_commit_bytes = 40 * BS,
  };
}

static void
teardown (void)
{
  store_close (st);
  config_free (&cfg);
  mem = NULL;
  st = NULL;
}

/* Block i of the sources: a hole for every fifth, else its number. */
static bool
model (uint64_t i, char *buf)
{
  memset (buf, 0, BS);
  if (i % 5 == 3 || i == ZERO_BLOCK)
    return false;
  snprintf (buf, BS, "block %" PRIu64, i);
  buf[BS - 1] = (char) i;
  return true;
}

static struct volume *
open_vol (const char *name, const char *root_key, enum export_layout layout,
          bool create, bool readonly, int *load)
{
  const struct volume_params vp = {
    .name = name, .size = vsize, .block_size = BS,
    .max_dirty = 64 * BS, .batch = 16,
  };
  const struct layout_params p = {
    .export_name = name, .block_size = BS, .readonly = readonly,
  };
  struct layout *l;
  struct volume *v;

  if (layout == EXPORT_LAYOUT_PLAIN)
    l = layout_plain_open (st, &p);
  else if (layout == EXPORT_LAYOUT_CAS) {
    const struct layout_cas_params cp = {
      .root_key = root_key, .size = vp.size, .create = create,
      .map_cache_bytes = 1 << 20, .reuse_window_ms = 60000,
      .request_bound_ms = 1000, .commit_bound_ms = 600000,
    };
    l = layout_cas_open (st, &p, &cp);
  }
  else {
    const struct layout_log_params lp = {
      .root_key = root_key, .size = vp.size, .create = create,
      .map_cache_bytes = 1 << 20, .reuse_window_ms = 60000,
      .request_bound_ms = 1000, .commit_bound_ms = 600000,
      .segment_size = 16 * BS,
    };
    l = layout_log_open (st, &p, &lp);
  }
  v = volume_create (l, &vp);
  CU_ASSERT_PTR_NOT_NULL_FATAL (v);
  *load = volume_load_map (v);
  return v;
}

/* A source export "s" of layout, written as a server would. */
static void
make_source (enum export_layout layout)
{
  struct volume *v;
  char buf[BS], key[KEY_MAX];
  bool created;
  int load;

  v = open_vol ("s", "cas/roots/s", layout, true, false, &load);
  CU_ASSERT_EQUAL_FATAL (load, 0);
  for (uint64_t i = 0; i < NBLOCKS; i++) {
    bool present = model (i, buf);

    /* Plain: ZERO_BLOCK's object is made all zeros below. */
    if (i == ZERO_BLOCK && layout == EXPORT_LAYOUT_PLAIN) {
      memset (buf, 1, BS);
      present = true;
    }
    if (present)
      CU_ASSERT_FATAL (volume_write (v, buf, BS, i * BS, false) == 0);
  }
  CU_ASSERT_FATAL (volume_flush (v) == 0);
  volume_free (v);
  if (layout == EXPORT_LAYOUT_PLAIN) {
    /* A block object of zeros that the map names: a hole in NEW. */
    memset (buf, 0, BS);
    block_key (key, sizeof key, "s", ZERO_BLOCK * BS);
    CU_ASSERT_FATAL (memstore_peek (mem, key, NULL, 0) == BS);
    memstore_set (mem, key, buf, BS);
  }
  CU_ASSERT_FATAL (meta_write_layout (st, "s", NBLOCKS * BS, BS, layout,
                                      &created) == 0 && created);
}

/* NEW's metadata says layout, and it reads as the model. */
static void
check_clone (const char *name, enum export_layout layout)
{
  struct export_info info;
  struct volume *v;
  char root_key[KEY_MAX], buf[BS], want[BS];
  bool found;
  int load;

  CU_ASSERT_FATAL (export_info_read (st, name, &info, &found) == 0 && found);
  CU_ASSERT_FATAL (info.has_meta);
  CU_ASSERT_EQUAL (info.meta.layout, layout);
  CU_ASSERT_EQUAL (info.meta.size, NBLOCKS * BS);
  CU_ASSERT_EQUAL (info.meta.block_size, BS);
  cas_root_key (root_key, sizeof root_key, name);
  v = open_vol (name, root_key, layout, false, true, &load);
  CU_ASSERT_EQUAL_FATAL (load, 0);
  for (uint64_t i = 0; i < NBLOCKS; i++) {
    model (i, want);
    CU_ASSERT_FATAL (volume_read (v, buf, BS, i * BS) == 0);
    if (memcmp (buf, want, BS) != 0) {
      CU_FAIL ("a block of the clone differs");
      fprintf (stderr, "%s: block %" PRIu64 " differs\n", name, i);
      break;
    }
  }
  volume_free (v);
  if (layout == EXPORT_LAYOUT_PLAIN) {
    uint64_t present = 0;
    char prefix[KEY_MAX];

    for (uint64_t i = 0; i < NBLOCKS; i++)
      present += model (i, want);
    snprintf (prefix, sizeof prefix, "blocks/%s/", name);
    CU_ASSERT_EQUAL (memstore_count (mem, prefix), present);
  }
}

static int
clone (const char *src, const char *dst, bool given, enum export_layout to)
{
  char *argv[] = { (char *) src, (char *) dst };

  adm.layout_given = given;
  adm.layout = to;
  return verb_clone (&adm, 2, argv);
}

static const enum export_layout layouts[] = {
  EXPORT_LAYOUT_PLAIN, EXPORT_LAYOUT_CAS, EXPORT_LAYOUT_LOG,
};

static void
test_every_direction (void)
{
  for (size_t f = 0; f < 3; f++)
    for (size_t t = 0; t < 3; t++) {
      setup ();
      make_source (layouts[f]);
      CU_ASSERT_EQUAL (clone ("s", "n", true, layouts[t]), EXIT_CLEAN);
      check_clone ("n", layouts[t]);
      /* And back into the source's layout. */
      CU_ASSERT_EQUAL (clone ("n", "b", true, layouts[f]), EXIT_CLEAN);
      check_clone ("b", layouts[f]);
      /* No lease is left. */
      CU_ASSERT_EQUAL (memstore_count (mem, "leases/"), 0);
      teardown ();
    }
}

static void
test_default_layouts (void)
{
  setup ();
  make_source (EXPORT_LAYOUT_LOG);
  CU_ASSERT_EQUAL (clone ("s", "n", false, 0), EXIT_CLEAN);
  check_clone ("n", EXPORT_LAYOUT_LOG);
  teardown ();
  setup ();
  make_source (EXPORT_LAYOUT_PLAIN);
  CU_ASSERT_EQUAL (clone ("s", "n", false, 0), EXIT_CLEAN);
  check_clone ("n", EXPORT_LAYOUT_CAS);
  teardown ();
}

static void
test_snapshot_sources (void)
{
  char *snap[] = { (char *) "s", (char *) "mon" };

  for (size_t f = 1; f < 3; f++)
    for (size_t t = 0; t < 3; t++) {
      setup ();
      make_source (layouts[f]);
      CU_ASSERT_FATAL (verb_snapshot (&adm, 2, snap) == EXIT_CLEAN);
      CU_ASSERT_EQUAL (clone ("s@mon", "n", true, layouts[t]), EXIT_CLEAN);
      check_clone ("n", layouts[t]);
      teardown ();
    }
}

/* A log export of n blocks, cloned within log: requests counted. */
static uint64_t
log_clone_requests (uint64_t n)
{
  struct volume *v;
  char buf[BS];
  bool created;
  int load;
  uint64_t r;

  setup ();
  v = open_vol ("s", "cas/roots/s", EXPORT_LAYOUT_LOG, true, false, &load);
  CU_ASSERT_EQUAL_FATAL (load, 0);
  for (uint64_t i = 0; i < n; i++) {
    model (i + 1, buf);
    CU_ASSERT_FATAL (volume_write (v, buf, BS, i * BS, false) == 0);
  }
  CU_ASSERT_FATAL (volume_flush (v) == 0);
  volume_free (v);
  CU_ASSERT_FATAL (meta_write_layout (st, "s", NBLOCKS * BS, BS,
                                      EXPORT_LAYOUT_LOG, &created) == 0);
  memstore_reset_counts (mem);
  CU_ASSERT_EQUAL (clone ("s", "n", true, EXPORT_LAYOUT_LOG), EXIT_CLEAN);
  r = memstore_requests (mem);
  CU_ASSERT_EQUAL (memstore_counts (mem).puts, 2);      /* root, metadata */
  teardown ();
  return r;
}

static void
test_log_to_log_requests (void)
{
  uint64_t small = log_clone_requests (3);
  uint64_t large = log_clone_requests (NBLOCKS);

  /* NEW's info (metadata, block LIST, root), the source's (metadata,
   * root, lease), GET source, PUT root, GET source, PUT metadata.
   */
  CU_ASSERT_EQUAL (small, 10);
  CU_ASSERT_EQUAL (large, small);
}

/* After a crash at any request: NEW is complete (its metadata exists)
 * or a server would not serve what the clone left as data: opening it
 * as a new export either refuses the root or finds it empty.
 */
static unsigned partial_refused;        /* roots with commits, no metadata */

static void
crash_check (bool *done)
{
  char buf[BS];
  struct export_info info;
  bool found;
  int status, load;

  *done = false;
  CU_ASSERT_FATAL (export_info_read (st, "n", &info, &found) == 0);
  if (found && info.has_meta) {
    check_clone ("n", EXPORT_LAYOUT_LOG);
    *done = true;
    return;
  }
  status = memstore_peek (mem, "cas/roots/n", NULL, 0) < 0 ? -1 : 0;
  if (status == 0) {
    struct volume *v = open_vol ("n", "cas/roots/n", EXPORT_LAYOUT_LOG,
                                 true, false, &load);

    if (load == -1) {
      CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error,
                                      "refusing to start it over"));
      partial_refused++;
    }
    else {
      for (uint64_t i = 0; i < NBLOCKS; i++) {
        CU_ASSERT_FATAL (volume_read (v, buf, BS, i * BS) == 0);
        CU_ASSERT_FATAL (is_zero (buf, BS));
      }
    }
    volume_free (v);
  }
}

static void
test_crash_into_log (void)
{
  partial_refused = 0;
  for (size_t f = 0; f < 2; f++) {
    unsigned finished = 0, n;

    for (n = 0; n < 5000 && finished == 0; n++) {
      bool done;
      int status;

      setup ();
      make_source (layouts[f]);
      memstore_crash_after (mem, n);
      status = clone ("s", "n", true, EXPORT_LAYOUT_LOG);
      memstore_crash_after (mem, -1);
      crash_check (&done);
      if (status == EXIT_CLEAN) {
        CU_ASSERT_TRUE (done);
        finished = n;
      }
      teardown ();
    }
    CU_ASSERT (finished > 20);
    fprintf (stderr, "clone %s -> log: complete after %u requests\n",
             export_layout_name (layouts[f]), finished);
  }
  /* Some crash fell between two commits: the test can fail. */
  CU_ASSERT (partial_refused > 0);
}

/* gc after a finished clone (the source deleted, every age past the
 * grace) keeps all NEW references.
 */
static void
test_gc_after_clone (void)
{
  struct gc_params p = { .grace_s = 3600 };
  struct gc_result res;
  char *del[] = { (char *) "s" };
  bool swept;

  for (size_t f = 0; f < 3; f++) {
    setup ();
    make_source (layouts[f]);
    CU_ASSERT_EQUAL (clone ("s", "n", true, EXPORT_LAYOUT_LOG), EXIT_CLEAN);
    adm.yes = true;
    CU_ASSERT_EQUAL (verb_delete (&adm, 1, del), EXIT_CLEAN);
    memstore_advance_clock (mem, 2 * 3600);
    CU_ASSERT_FATAL (cas_gc (st, &p, &res, &swept) == 0 && swept);
    check_clone ("n", EXPORT_LAYOUT_LOG);
    teardown ();
  }
}

/* A size that is not a multiple of the block size: the short last
 * block is copied, and read back, as far as the size goes.
 */
static void
test_short_last_block (void)
{
  const uint64_t size = 3 * BS - 1000;
  static char img[3 * BS], got[3 * BS];
  struct volume *v;
  bool created;
  int load;

  for (size_t t = 0; t < 3; t++) {
    setup ();
    vsize = size;
    memset (img, 0, sizeof img);
    memset (img, 'a', BS);
    memset (img + 2 * BS, 'c', size - 2 * BS);
    v = open_vol ("s", "cas/roots/s", EXPORT_LAYOUT_PLAIN, true, false,
                  &load);
    CU_ASSERT_EQUAL_FATAL (load, 0);
    CU_ASSERT_FATAL (volume_write (v, img, size, 0, false) == 0);
    CU_ASSERT_FATAL (volume_flush (v) == 0);
    volume_free (v);
    CU_ASSERT_FATAL (meta_write_layout (st, "s", size, BS,
                                        EXPORT_LAYOUT_PLAIN,
                                        &created) == 0);
    CU_ASSERT_EQUAL (clone ("s", "n", true, layouts[t]), EXIT_CLEAN);
    v = open_vol ("n", "cas/roots/n", layouts[t], false, true, &load);
    CU_ASSERT_EQUAL_FATAL (load, 0);
    memset (got, 'x', sizeof got);
    CU_ASSERT_FATAL (volume_read (v, got, size, 0) == 0);
    CU_ASSERT (memcmp (got, img, size) == 0);
    volume_free (v);
    teardown ();
  }
}

/* gc run during the clone, at its k-th batch of requests. */
struct gc_during {
  unsigned skip;
  bool ran, swept;
  bool copying;                 /* NEW's lease held, no metadata yet */
  int64_t grace_s;
};

static void
gc_hook (void *opaque)
{
  struct gc_during *g = opaque;
  struct gc_params p = { .grace_s = g->grace_s };
  struct gc_result res;

  if (g->skip > 0) {
    g->skip--;
    memstore_set_hook (mem, gc_hook, g);
    return;
  }
  g->ran = true;
  g->copying = memstore_peek (mem, "leases/n", NULL, 0) >= 0
    && memstore_peek (mem, "exports/n", NULL, 0) < 0;
  CU_ASSERT (cas_gc (st, &p, &res, &g->swept) == 0);
}

/* From plain (whose lease does not count for gc): while the clone
 * holds NEW's lease, gc with a grace below NEW's windows refuses at
 * every point, before NEW's root exists and after; one with the grace
 * it asks for sweeps, and NEW is whole.
 */
static void
test_gc_during_clone (void)
{
  unsigned k, refused = 0, swept = 0;

  for (k = 0; k < 1000; k++) {
    struct gc_during g = { .skip = k, .grace_s = 0 };

    setup ();
    make_source (EXPORT_LAYOUT_PLAIN);
    memstore_set_hook (mem, gc_hook, &g);
    CU_ASSERT_EQUAL (clone ("s", "n", true, EXPORT_LAYOUT_LOG), EXIT_CLEAN);
    memstore_set_hook (mem, NULL, NULL);
    if (!g.ran) {
      teardown ();
      break;                    /* past the clone's last batch */
    }
    /* Before NEW's lease and after its metadata, gc may run. */
    if (g.copying) {
      CU_ASSERT_FALSE (g.swept);
      refused++;
    }
    check_clone ("n", EXPORT_LAYOUT_LOG);
    teardown ();
  }
  CU_ASSERT (refused > 20);
  /* With a grace over NEW's windows, gc runs beside the clone. */
  for (k = 5; k < 60; k += 18) {
    struct gc_during g = { .skip = k, .grace_s = 100000 };

    setup ();
    make_source (EXPORT_LAYOUT_PLAIN);
    memstore_set_hook (mem, gc_hook, &g);
    CU_ASSERT_EQUAL (clone ("s", "n", true, EXPORT_LAYOUT_LOG), EXIT_CLEAN);
    memstore_set_hook (mem, NULL, NULL);
    swept += g.ran && g.swept;
    check_clone ("n", EXPORT_LAYOUT_LOG);
    teardown ();
  }
  CU_ASSERT (swept > 0);
}

UNIT_SUITES (add_clone_layouts_tests)
{
  CU_pSuite s = CU_add_suite ("clone layouts", NULL, NULL);

  CU_add_test (s, "every pair of layouts, and back", test_every_direction);
  CU_add_test (s, "default layouts", test_default_layouts);
  CU_add_test (s, "cas and log snapshots as sources",
               test_snapshot_sources);
  CU_add_test (s, "log -> log: fixed requests", test_log_to_log_requests);
  CU_add_test (s, "a short last block", test_short_last_block);
  CU_add_test (s, "crash after each request of a clone into log",
               test_crash_into_log);
  CU_add_test (s, "gc after a clone into log", test_gc_after_clone);
  CU_add_test (s, "gc during a clone into log", test_gc_during_clone);
}
