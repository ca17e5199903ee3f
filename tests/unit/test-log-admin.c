/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: du and check of log exports (admin/log-du.c,
 * admin/log-check.c) against the in-memory store, over an export the
 * log layout wrote: 8 blocks written and flushed (segment A), the
 * first 4 overwritten (B), a snapshot, the last 4 overwritten (C).
 * Then the export's map names B and C, the snapshot's A and B.  du's
 * figures exactly; check of damaged segments and pages, naming the
 * roots that reference them; EXPORT@SNAP read through the log layout.
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
#define SIZE (UINT64_C (64) << 20)
/* A segment of n raw blocks. */
#define SEG_BYTES(n) (LOG_SEG_DATA_START (n) + (uint64_t) (n) * BS)

static struct memstore *mem;
static char seg_a[KEY_MAX], seg_b[KEY_MAX], seg_c[KEY_MAX];

static uint64_t
clock_10 (void)
{
  return 10;
}

static struct volume *
open_t (void)
{
  struct volume_params p = {
    .name = "t", .size = SIZE, .block_size = BS, .max_dirty = 64 * BS,
    .batch = 64,
  };
  struct layout_params lp = { .export_name = "t", .block_size = BS };
  struct layout_log_params gp = {
    .root_key = "cas/roots/t", .size = SIZE, .create = true,
    .map_cache_bytes = 1 << 20, .reuse_window_ms = 1000,
    .request_bound_ms = 10, .commit_bound_ms = 100000,
    .clock_ms = clock_10,
  };
  struct layout *l = layout_log_open (memstore_store (mem), &lp, &gp);
  struct volume *v;

  CU_ASSERT_PTR_NOT_NULL_FATAL (l);
  v = volume_create (l, &p);
  CU_ASSERT_PTR_NOT_NULL_FATAL (v);
  CU_ASSERT_EQUAL_FATAL (volume_load_map (v), 0);
  return v;
}

/* Blocks [first, first + n) get contents seed, seed + 1, ...; flushed. */
static void
write_flush (struct volume *v, uint64_t first, int n, int seed)
{
  char buf[BS];

  for (int i = 0; i < n; i++) {
    memset (buf, seed + i, BS);
    CU_ASSERT_EQUAL_FATAL (volume_write (v, buf, BS, (first + i) * BS,
                                         false), 0);
  }
  CU_ASSERT_EQUAL_FATAL (volume_flush (v), 0);
}

/* The segment key that is not a or b (the one just written). */
struct newest {
  const char *a, *b;
  char *out;
  int found;
};

static int
newest_cb (void *opaque, const struct store_entry *e)
{
  struct newest *w = opaque;

  if (strcmp (e->key, w->a) != 0 && strcmp (e->key, w->b) != 0) {
    snprintf (w->out, KEY_MAX, "%s", e->key);
    w->found++;
  }
  return 0;
}

static void
newest (const char *a, const char *b, char *out)
{
  struct newest w = { a, b, out, 0 };

  CU_ASSERT_EQUAL_FATAL (store_list (memstore_store (mem), LOG_SEGS_PREFIX,
                                     NULL, NULL, newest_cb, &w), 0);
  CU_ASSERT_EQUAL_FATAL (w.found, 1);
}

static void
setup_bucket (void)
{
  struct cas_copy cp = {
    .src_key = "cas/roots/t", .src_name = "t",
    .dst_key = "cas/snaps/t/s", .dst_name = "t@s",
    .kind = CAS_ROOT_SNAPSHOT, .keep_generation = true,
  };
  struct volume *v;
  bool made;

  mem = memstore_new ();
  standin_reset_errors ();
  v = open_t ();
  write_flush (v, 0, 8, 1);
  newest ("", "", seg_a);
  write_flush (v, 0, 4, 11);
  newest (seg_a, "", seg_b);
  CU_ASSERT_FATAL (cas_copy_root (memstore_store (mem), &cp, &made) == 0 &&
                   made);
  write_flush (v, 4, 4, 21);
  newest (seg_a, seg_b, seg_c);
  volume_free (v);
}

static void
teardown_bucket (void)
{
  store_close (memstore_store (mem));
  mem = NULL;
}

/* Run verb (cas_du or cas_check) with stdout captured into *out
 * (malloc'd).
 */
static int
captured (int (*verb) (struct admin *, char **, int), struct admin *a,
          char **names, int n, char **out)
{
  FILE *saved = stdout;
  size_t len;
  int status;

  fflush (stdout);
  stdout = open_memstream (out, &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL (stdout);
  status = verb (a, names, n);
  fclose (stdout);
  stdout = saved;
  return status;
}

/* du's figures, exactly. */
static void
test_du_figures (void)
{
  struct admin a = { .json = true, .grace_s = -1 };
  char *out = NULL, want[512];
  const uint64_t a_bytes = SEG_BYTES (8), bc_bytes = SEG_BYTES (4);

  setup_bucket ();
  a.store = memstore_store (mem);
  CU_ASSERT_EQUAL (captured (cas_du, &a, NULL, 0, &out), EXIT_CLEAN);
  /* The export: B and C, 8 live blocks; A only its snapshot names. */
  snprintf (want, sizeof want, "{\"name\": \"t\", \"kind\": \"export\", "
            "\"size\": %" PRIu64 ", \"logical\": %d, \"segments\": 2, "
            "\"stored\": %" PRIu64 ", \"live\": %d, \"dead\": %" PRIu64
            ", \"pinned\": %" PRIu64 ", \"missing_segments\": 0}",
            SIZE, 8 * BS, 2 * bc_bytes, 8 * BS, 2 * bc_bytes - 8 * BS,
            a_bytes);
  CU_ASSERT_PTR_NOT_NULL (strstr (out, want));
  /* The snapshot: A and B, blocks 4-7 of A live, 0-3 of B. */
  snprintf (want, sizeof want, "{\"name\": \"t@s\", \"kind\": \"snapshot\", "
            "\"size\": %" PRIu64 ", \"logical\": %d, \"segments\": 2, "
            "\"stored\": %" PRIu64 ", \"live\": %d, \"dead\": %" PRIu64
            ", \"pinned\": %" PRIu64 ", \"missing_segments\": 0}",
            SIZE, 8 * BS, a_bytes + bc_bytes, 8 * BS,
            a_bytes + bc_bytes - 8 * BS, a_bytes);
  CU_ASSERT_PTR_NOT_NULL (strstr (out, want));
  snprintf (want, sizeof want, "\"log_bucket\": {\"segment_objects\": 3, "
            "\"segment_bytes\": %" PRIu64 ", \"unnamed_objects\": 0, "
            "\"unnamed_bytes\": 0}", a_bytes + 2 * bc_bytes);
  CU_ASSERT_PTR_NOT_NULL (strstr (out, want));
  if (strstr (out, want) == NULL)
    fprintf (stderr, "du said: %s\n", out);
  free (out);

  /* The snapshot alone: only its row. */
  {
    char *names[] = { (char *) "t@s" };

    out = NULL;
    CU_ASSERT_EQUAL (captured (cas_du, &a, names, 1, &out), EXIT_CLEAN);
    CU_ASSERT_PTR_NOT_NULL (strstr (out, "\"name\": \"t@s\""));
    CU_ASSERT_PTR_NULL (strstr (out, "\"name\": \"t\""));
    free (out);
  }
  teardown_bucket ();
}

/* A clean bucket checks clean, deep or not. */
static void
test_check_clean (void)
{
  struct admin a = { .grace_s = -1 };
  char *out = NULL;

  setup_bucket ();
  a.store = memstore_store (mem);
  CU_ASSERT_EQUAL (captured (cas_check, &a, NULL, 0, &out), EXIT_CLEAN);
  CU_ASSERT_PTR_NOT_NULL (strstr (out, "log: 2 roots"));
  CU_ASSERT_PTR_NOT_NULL (strstr (out, "3 segments and 12 extents "
                                  "referenced, 0 damaged"));
  free (out);
  a.deep = true;
  out = NULL;
  CU_ASSERT_EQUAL (captured (cas_check, &a, NULL, 0, &out), EXIT_CLEAN);
  CU_ASSERT_PTR_NOT_NULL (strstr (out, "0 damaged (every page, segment "
                                  "index and block read)"));
  free (out);
  teardown_bucket ();
}

/* Replace a segment object with its first len bytes, or with one byte
 * flipped at offset from its end.
 */
static void
damage (const char *key, long keep, long flip_from_end)
{
  static char buf[SEG_BYTES (8)];
  long len = memstore_peek (mem, key, buf, sizeof buf);

  CU_ASSERT_FATAL (len > 0);
  if (flip_from_end)
    buf[len - flip_from_end] ^= 1;
  memstore_set (mem, key, buf, keep ? (size_t) keep : (size_t) len);
}

/* A flipped byte in a block of B, which both roots name: only --deep
 * sees it, and names the segment, the export and the snapshot.
 */
static void
test_check_deep_flipped_byte (void)
{
  struct admin a = { .grace_s = -1 };
  char *out = NULL, want[KEY_MAX + 256];

  setup_bucket ();
  a.store = memstore_store (mem);
  damage (seg_b, 0, 1);
  CU_ASSERT_EQUAL (captured (cas_check, &a, NULL, 0, &out), EXIT_CLEAN);
  free (out);
  a.deep = true;
  out = NULL;
  CU_ASSERT_EQUAL (captured (cas_check, &a, NULL, 0, &out), EXIT_DAMAGE);
  snprintf (want, sizeof want, "t: damage: segment %s is damaged: the "
            "block at offset %" PRIu64 " does not match its SHA-256", seg_b,
            LOG_SEG_DATA_START (4) + 3 * BS);
  CU_ASSERT_PTR_NOT_NULL (strstr (out, want));
  snprintf (want, sizeof want, "t@s: damage: segment %s", seg_b);
  CU_ASSERT_PTR_NOT_NULL (strstr (out, want));
  CU_ASSERT_PTR_NOT_NULL (strstr (out, "1 damaged"));
  if (strstr (out, want) == NULL)
    fprintf (stderr, "check said: %s\n", out);
  free (out);

  /* Named alone, the snapshot still finds it. */
  {
    char *names[] = { (char *) "t@s" };

    out = NULL;
    CU_ASSERT_EQUAL (captured (cas_check, &a, names, 1, &out), EXIT_DAMAGE);
    CU_ASSERT_PTR_NOT_NULL (strstr (out, want));
    CU_ASSERT_PTR_NULL (strstr (out, "t: damage"));
    free (out);
  }
  teardown_bucket ();
}

/* A truncated index in C (the export's alone) and a swapped segment
 * under A's key (the snapshot's alone): plain check names each with
 * the one root that references it.
 */
static void
test_check_bad_index (void)
{
  struct admin a = { .grace_s = -1 };
  char *out = NULL, want[KEY_MAX + 256], bytes[SEG_BYTES (4)];
  long len;

  setup_bucket ();
  a.store = memstore_store (mem);
  damage (seg_c, 100, 0);
  len = memstore_peek (mem, seg_b, bytes, sizeof bytes);
  CU_ASSERT_FATAL (len > 0);
  memstore_set (mem, seg_a, bytes, (size_t) len);
  CU_ASSERT_EQUAL (captured (cas_check, &a, NULL, 0, &out), EXIT_DAMAGE);
  snprintf (want, sizeof want, "t: damage: segment %s is damaged: its "
            "header or index is unreadable", seg_c);
  CU_ASSERT_PTR_NOT_NULL (strstr (out, want));
  snprintf (want, sizeof want, "t@s: damage: segment %s is damaged: its "
            "header or index is unreadable", seg_a);
  CU_ASSERT_PTR_NOT_NULL (strstr (out, want));
  snprintf (want, sizeof want, "t@s: damage: segment %s", seg_c);
  CU_ASSERT_PTR_NULL (strstr (out, want));
  snprintf (want, sizeof want, "t: damage: segment %s", seg_a);
  CU_ASSERT_PTR_NULL (strstr (out, want));
  CU_ASSERT_PTR_NOT_NULL (strstr (out, "2 damaged"));
  free (out);

  /* A missing segment is named too. */
  CU_ASSERT_EQUAL (store_delete (memstore_store (mem), seg_b), 0);
  out = NULL;
  CU_ASSERT_EQUAL (captured (cas_check, &a, NULL, 0, &out), EXIT_DAMAGE);
  snprintf (want, sizeof want, "t@s: damage: segment %s is missing", seg_b);
  CU_ASSERT_PTR_NOT_NULL (strstr (out, want));
  CU_ASSERT_PTR_NOT_NULL (strstr (out, "3 damaged"));
  free (out);
  teardown_bucket ();
}

/* A damaged page of the export's map: named with the export only, and
 * the snapshot, whose pages differ, checks clean.
 */
static void
test_check_bad_page (void)
{
  struct admin a = { .grace_s = -1 };
  char *out = NULL, key[KEY_MAX], want[KEY_MAX + 64];
  static char buf[CAS_ANY_PAGE_MAX];
  struct cas_root r;
  bool found;
  long len;

  setup_bucket ();
  a.store = memstore_store (mem);
  CU_ASSERT_FATAL (cas_root_read (a.store, "cas/roots/t", &r, NULL,
                                  &found) == 0 && found && !r.empty);
  cas_page_key (key, sizeof key, &r.top);
  len = memstore_peek (mem, key, buf, sizeof buf);
  CU_ASSERT_FATAL (len > 0);
  buf[len - 1] ^= 1;
  memstore_set (mem, key, buf, (size_t) len);
  CU_ASSERT_EQUAL (captured (cas_check, &a, NULL, 0, &out), EXIT_DAMAGE);
  snprintf (want, sizeof want, "t: damage: map page %s", key);
  CU_ASSERT_PTR_NOT_NULL (strstr (out, want));
  CU_ASSERT_PTR_NULL (strstr (out, "t@s: damage"));
  free (out);
  {
    char *names[] = { (char *) "t@s" };

    out = NULL;
    CU_ASSERT_EQUAL (captured (cas_check, &a, names, 1, &out), EXIT_CLEAN);
    free (out);
  }
  teardown_bucket ();
}

/* EXPORT@SNAP opens in the log layout, read-only, and reads the
 * snapshot's blocks while the export has moved on.
 */
static void
test_snapshot_served (void)
{
  const struct layout_cas_params cp = {
    .map_cache_bytes = 1 << 20, .request_bound_ms = 10,
    .commit_bound_ms = 100000,
  };
  struct volume_params p = {
    .name = "t@s", .max_dirty = 64 * BS, .batch = 64,
  };
  struct layout *l;
  struct volume *v;
  char buf[BS], want[BS];

  setup_bucket ();
  l = layout_cas_open_snapshot (memstore_store (mem), "t@s", &cp, &p.size,
                                &p.block_size);
  CU_ASSERT_PTR_NOT_NULL_FATAL (l);
  CU_ASSERT_EQUAL (p.size, SIZE);
  v = volume_create (l, &p);
  CU_ASSERT_PTR_NOT_NULL_FATAL (v);
  CU_ASSERT_EQUAL_FATAL (volume_load_map (v), 0);
  for (int i = 0; i < 8; i++) {
    memset (want, i < 4 ? 11 + i : 1 + i, BS);
    CU_ASSERT_EQUAL (volume_read (v, buf, BS, (uint64_t) i * BS), 0);
    CU_ASSERT_EQUAL (memcmp (buf, want, BS), 0);
  }
  memset (want, 0, BS);
  CU_ASSERT_EQUAL (volume_read (v, buf, BS, 100 * BS), 0);
  CU_ASSERT_EQUAL (memcmp (buf, want, BS), 0);
  volume_free (v);
  teardown_bucket ();
}

UNIT_SUITES (add_log_admin_tests)
{
  CU_pSuite s = CU_add_suite ("log admin", NULL, NULL);

  CU_add_test (s, "du of a log export and its snapshot", test_du_figures);
  CU_add_test (s, "check of a clean log bucket", test_check_clean);
  CU_add_test (s, "check --deep finds a flipped byte",
               test_check_deep_flipped_byte);
  CU_add_test (s, "check finds a truncated or swapped segment",
               test_check_bad_index);
  CU_add_test (s, "check names a damaged map page", test_check_bad_page);
  CU_add_test (s, "EXPORT@SNAP of a log export is served",
               test_snapshot_served);
}
