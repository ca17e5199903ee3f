/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the admin command beside roots of log trees
 * ("leaf location": leaves that name places in segments).  gc marks
 * their pages like any tree's and the segments their blocks name, no
 * content; a damaged log leaf makes it give up deleting nothing (gc
 * of segments under real log exports: test-log-gc.c).  check and du
 * read such a root (test-log-admin.c has their figures); snapshot and
 * clone copy it, and the copy is a log root naming the same tree
 * (test-clone-layouts.c has the clones across layouts).
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
#include "format/keys.h"
#include "memstore.h"
#include "nbdkit-standin.h"
#include "tests.h"

#define BS 4096
#define SEGMENT "log/segs/00112233445566778899aabbccddeeff"

static struct memstore *mem;
static struct store *st;

static void
setup (void)
{
  mem = memstore_new ();
  st = memstore_store (mem);
  standin_reset_errors ();
}

static void
teardown (void)
{
  store_close (st);
  mem = NULL;
  st = NULL;
}

/* The bytes of block content n, and their hash. */
static void
content (uint32_t n, char *buf, struct cas_hash *h)
{
  memset (buf, 0, BS);
  snprintf (buf, BS, "content %" PRIu32, n);
  cas_hash_of (buf, BS, h);
}

/* Block i of a tree of kind leaf holding content n: for a cas tree the
 * content is PUT under cas/data/; a log tree's block is placed in
 * SEGMENT (which the test PUTs as a stand-in: gc reads no segment, it
 * marks the id).
 */
static struct cas_change
change (enum cas_leaf_kind leaf, uint64_t i, uint32_t n)
{
  static char buf[BS];
  struct cas_change c = { .index = i, .present = true };
  char key[KEY_MAX];

  content (n, buf, &c.value.hash);
  if (leaf == CAS_LEAF_HASH) {
    cas_data_key (key, sizeof key, &c.value.hash);
    memstore_set (mem, key, buf, BS);
  }
  else {
    CU_ASSERT_FATAL (log_segment_key_parse (SEGMENT, c.value.loc.seg));
    c.value.loc.offset = (uint32_t) (LOG_SEG_DATA_START (8) + i * BS);
    c.value.loc.stored_len = BS;
    c.value.loc.hash = c.value.hash;
  }
  return c;
}

/* A root under key over blocks idx[0..n) of a 64 MiB export (depth 1
 * for either kind) holding contents 1.., its tree PUT as a writer
 * would: the root written.
 */
static struct cas_root
put_root (const char *key, const char *name, enum cas_leaf_kind leaf,
          const uint64_t *idx, size_t n)
{
  struct cas_tree *t = cas_tree_open (st, name, leaf, 1 << 20);
  struct cas_change c[8];
  struct cas_update u;
  enum cas_root_put_outcome put;
  struct cas_root r = {
    .kind = CAS_ROOT_EXPORT, .size = 64 << 20, .block_size = BS,
    .leaf = leaf, .generation = 1, .created = 1, .committed = 2,
    .reuse_window_s = 60, .commit_bound_s = 60,
  };

  CU_ASSERT_FATAL (t != NULL && n <= 8);
  for (size_t i = 0; i < n; i++)
    c[i] = change (leaf, idx[i], (uint32_t) i + 1);
  CU_ASSERT_FATAL (cas_tree_update (t, c, n,
                                    cas_depth_for (leaf, r.size / BS),
                                    NULL, &u) == 0);
  cas_tree_free (t);
  snprintf (r.name, sizeof r.name, "%s", name);
  CU_ASSERT_FATAL (cas_new_incarnation (r.incarnation) == 0);
  r.depth = u.depth;
  r.empty = u.empty;
  r.top = u.top;
  r.blocks = n;
  CU_ASSERT_FATAL (cas_root_write (st, key, &r, STORE_ALWAYS, NULL, NULL,
                                   &put) == 0);
  return r;
}

/* Every page of root r's tree is stored, and reads whole. */
static bool
tree_whole (const struct cas_root *r)
{
  const struct cas_walker w = { 0 };

  return cas_walk (st, r->name, r, &w) == 0;
}

/* A log tree over blocks 0, 1 and 5000 (two leaves and a top page), a
 * cas tree beside it, and garbage of each kind.
 */
static const uint64_t log_blocks[] = { 0, 1, 5000 };
static const uint64_t cas_blocks[] = { 7, 9 };

static struct cas_root
bucket (void)
{
  const uint64_t gone[] = { 3 };
  struct cas_root lr;

  lr = put_root ("cas/roots/l", "l", CAS_LEAF_LOCATION, log_blocks, 3);
  put_root ("cas/roots/c", "c", CAS_LEAF_HASH, cas_blocks, 2);
  /* An old log leaf no root names, the segment l names, and one no
   * root names.
   */
  put_root ("cas/roots/x", "x", CAS_LEAF_LOCATION, gone, 1);
  CU_ASSERT_FATAL (store_delete (st, "cas/roots/x") == 0);
  memstore_set (mem, SEGMENT, "segment", 7);
  memstore_set (mem, "log/segs/ffeeddccbbaa99887766554433221100", "old",
                3);
  return lr;
}

static void
test_gc_marks_log_pages (void)
{
  struct gc_params p = { .grace_s = 3600 };
  struct gc_result res;
  struct cas_root lr;
  bool swept;

  setup ();
  lr = bucket ();
  CU_ASSERT_EQUAL (lr.depth, 1);
  CU_ASSERT_EQUAL (memstore_count (mem, CAS_PAGES_PREFIX), 3 + 2 + 2);
  /* The cas contents 1 and 2 are referenced by c; the log tree's
   * blocks are not contents, and nothing stores them under cas/data/.
   */
  CU_ASSERT_EQUAL (memstore_count (mem, CAS_DATA_PREFIX), 2);
  memstore_advance_clock (mem, 2 * 3600);

  CU_ASSERT_FATAL (cas_gc (st, &p, &res, &swept) == 0 && swept);
  CU_ASSERT_EQUAL (res.roots_read, 2);
  /* Three pages of l, two of c. */
  CU_ASSERT_EQUAL (res.pages_marked, 5);
  CU_ASSERT_EQUAL (res.data_marked, 2);
  CU_ASSERT_EQUAL (res.segs_marked, 1);         /* l's three blocks */
  CU_ASSERT_EQUAL (res.deleted_pages, 2);       /* x's */
  CU_ASSERT_EQUAL (res.deleted_data, 0);
  CU_ASSERT_EQUAL (res.segs_listed, 2);
  CU_ASSERT_EQUAL (res.deleted_segs, 1);
  CU_ASSERT_EQUAL (res.deleted_segs_bytes, 3);
  CU_ASSERT_TRUE (tree_whole (&lr));
  CU_ASSERT_EQUAL (memstore_count (mem, CAS_DATA_PREFIX), 2);
  /* The segment l names stays, the other goes. */
  CU_ASSERT_EQUAL (memstore_count (mem, LOG_SEGS_PREFIX), 1);
  CU_ASSERT (memstore_peek (mem, SEGMENT, NULL, 0) == 7);
  teardown ();
}

/* A damaged log leaf: the mark is incomplete, so gc deletes nothing. */
static void
test_gc_gives_up_on_damaged_log_leaf (void)
{
  struct gc_params p = { .grace_s = 3600 };
  struct gc_result res;
  struct cas_root lr;
  static uint8_t buf[LOG_LEAF_MAX];
  struct cas_value v;
  struct cas_tree *t;
  char key[KEY_MAX];
  bool swept = true, present;
  long len;

  setup ();
  lr = bucket ();
  /* The leaf of block 5000, whose value reads back. */
  t = cas_tree_open (st, "l", CAS_LEAF_LOCATION, 1 << 20);
  cas_tree_set_top (t, &lr.top, lr.depth);
  CU_ASSERT_FATAL (cas_tree_lookup (t, 5000, &present, &v) == 0 && present);
  CU_ASSERT_EQUAL (v.loc.offset, LOG_SEG_DATA_START (8) + 5000 * BS);
  cas_tree_free (t);
  {
    struct cas_page top;
    const char *why;

    cas_page_key (key, sizeof key, &lr.top);
    len = memstore_peek (mem, key, buf, sizeof buf);
    CU_ASSERT_FATAL (cas_page_decode (buf, (size_t) len, &top, &why) == 0);
    cas_page_key (key, sizeof key, &top.entries[1].hash);
    cas_page_free (&top);
  }
  len = memstore_peek (mem, key, buf, sizeof buf);
  CU_ASSERT_FATAL (len > 0);
  buf[len - 1] ^= 1;
  memstore_set (mem, key, buf, (size_t) len);
  memstore_advance_clock (mem, 2 * 3600);

  standin_reset_errors ();
  CU_ASSERT_EQUAL (cas_gc (st, &p, &res, &swept), 0);
  CU_ASSERT_FALSE (swept);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "gave up"));
  CU_ASSERT_EQUAL (res.deleted, 0);
  CU_ASSERT_EQUAL (memstore_count (mem, CAS_PAGES_PREFIX), 7);
  CU_ASSERT_EQUAL (memstore_count (mem, LOG_SEGS_PREFIX), 2);
  teardown ();
}

static void
test_verbs_on_log_roots (void)
{
  struct admin a = { .grace_s = -1 };
  char *all_c[] = { (char *) "c" }, *log_l[] = { (char *) "l" };
  char *clone_l[] = { (char *) "l", (char *) "n" };
  char *clone_snap[] = { (char *) "l@s", (char *) "m" };
  struct cas_copy cp = {
    .src_key = "cas/roots/l", .src_name = "l",
    .dst_key = "cas/snaps/l/s", .dst_name = "l@s",
    .kind = CAS_ROOT_SNAPSHOT, .keep_generation = true,
  };
  bool made;

  setup ();
  a.store = st;
  bucket ();

  /* check and du read a log root (test-log-admin.c has their
   * figures): its segment here is a stand-in, which check finds
   * damaged, whether the bucket or the log export is named; the cas
   * export alone checks clean.
   */
  CU_ASSERT_EQUAL (cas_check (&a, NULL, 0), EXIT_DAMAGE);
  CU_ASSERT_EQUAL (cas_check (&a, log_l, 1), EXIT_DAMAGE);
  CU_ASSERT_EQUAL (cas_check (&a, all_c, 1), EXIT_CLEAN);
  CU_ASSERT_EQUAL (cas_du (&a, NULL, 0), EXIT_CLEAN);
  CU_ASSERT_EQUAL (cas_du (&a, all_c, 1), EXIT_CLEAN);

  /* clone: a root copy whose metadata says log (test-clone-layouts.c
   * has the rest).  Of a snapshot of it too.
   */
  CU_ASSERT_EQUAL (verb_clone (&a, 2, clone_l), EXIT_CLEAN);
  CU_ASSERT_EQUAL (memstore_count (mem, "cas/roots/n"), 1);
  CU_ASSERT_EQUAL (memstore_count (mem, "exports/n"), 1);
  CU_ASSERT_FATAL (cas_copy_root (st, &cp, &made) == 0 && made);
  CU_ASSERT_EQUAL (verb_clone (&a, 2, clone_snap), EXIT_CLEAN);
  CU_ASSERT_EQUAL (memstore_count (mem, "cas/roots/m"), 1);
  teardown ();
}

/* snapshot is a root copy: it works for a log root, and the copy is a
 * log root naming the same tree, which gc then marks once.
 */
static void
test_snapshot_of_log_root (void)
{
  struct admin a = { .grace_s = -1 };
  char *argv[] = { (char *) "l", (char *) "mon" };
  struct gc_params p = { .grace_s = 3600 };
  struct gc_result res;
  struct cas_root lr, snap;
  struct cas_tree *t;
  char buf[CAS_ROOT_MAX];
  bool found, swept;
  long len;

  setup ();
  a.store = st;
  lr = bucket ();
  CU_ASSERT_EQUAL (verb_snapshot (&a, 2, argv), EXIT_CLEAN);
  CU_ASSERT_FATAL (cas_root_read (st, "cas/snaps/l/mon", &snap, NULL,
                                  &found) == 0 && found);
  CU_ASSERT_EQUAL (snap.kind, CAS_ROOT_SNAPSHOT);
  CU_ASSERT_EQUAL (snap.leaf, CAS_LEAF_LOCATION);
  CU_ASSERT_TRUE (cas_hash_equal (&snap.top, &lr.top));
  CU_ASSERT_EQUAL (snap.depth, lr.depth);
  CU_ASSERT_EQUAL (snap.blocks, 3);
  len = memstore_peek (mem, "cas/snaps/l/mon", buf, sizeof buf - 1);
  CU_ASSERT_FATAL (len > 0);
  buf[len] = '\0';
  CU_ASSERT_PTR_NOT_NULL (strstr (buf, "\nleaf location\n"));

  /* Its tree reads as the export's. */
  t = cas_tree_open (st, "l@mon", snap.leaf, 1 << 20);
  cas_tree_set_top (t, &snap.top, snap.depth);
  for (size_t i = 0; i < 3; i++) {
    struct cas_change want = change (CAS_LEAF_LOCATION, log_blocks[i],
                                     (uint32_t) i + 1);
    struct cas_value v;
    bool present;

    CU_ASSERT_FATAL (cas_tree_lookup (t, log_blocks[i], &present, &v) == 0);
    CU_ASSERT_TRUE (present);
    CU_ASSERT_TRUE (cas_hash_equal (&v.loc.hash, &want.value.hash));
    CU_ASSERT_EQUAL (v.loc.offset, want.value.loc.offset);
  }
  cas_tree_free (t);

  /* The export deleted: the snapshot keeps its pages. */
  CU_ASSERT_FATAL (store_delete (st, "cas/roots/l") == 0);
  memstore_advance_clock (mem, 2 * 3600);
  CU_ASSERT_FATAL (cas_gc (st, &p, &res, &swept) == 0 && swept);
  CU_ASSERT_EQUAL (res.pages_marked, 3 + 2);
  CU_ASSERT_TRUE (tree_whole (&snap));
  teardown ();
}

UNIT_SUITES (add_cas_admin_log_tests)
{
  CU_pSuite s = CU_add_suite ("cas admin log", NULL, NULL);

  CU_add_test (s, "gc marks a log tree's pages and segments",
               test_gc_marks_log_pages);
  CU_add_test (s, "gc gives up on a damaged log leaf",
               test_gc_gives_up_on_damaged_log_leaf);
  CU_add_test (s, "check and du read a log root, clone copies it",
               test_verbs_on_log_roots);
  CU_add_test (s, "snapshot of a log root", test_snapshot_of_log_root);
}
