/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the cas map tree when things go wrong: damaged,
 * missing and swapped pages, a page of the other leaf kind or of
 * another level where the tree expects its own, failed and refused
 * PUTs, a crash after every request of an update; and roots
 * (cas-root.c).  Run for both leaf kinds, with test-cas-tree.c's
 * suites (cas-tree-fixture.h).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "cas/cas-admin.h"
#include "cas-tree-fixture.h"
#include "memstore.h"
#include "nbdkit-standin.h"
#include "tests.h"

static void
test_damaged_pages (void)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *t = open_tree (m, "disk", 1 << 20);
  struct cas_change c[2] = { put_change (3, 1), put_change (5000, 1) };
  struct cas_update res;
  struct cas_hash leaf1, leaf2, top;
  struct cas_value h;
  static uint8_t buf[CAS_ANY_PAGE_MAX], other[CAS_ANY_PAGE_MAX];
  char key[KEY_MAX], key2[KEY_MAX];
  bool present;
  long len, len2;
  struct seen s;

  CU_ASSERT_EQUAL (apply (t, c, 2, 1, &res), 0);
  top = res.top;
  CU_ASSERT_EQUAL (walk (m, t, &s, -1), 0);
  CU_ASSERT_EQUAL (s.pages, 3);

  /* The leaves' hashes, from the top page. */
  cas_page_key (key, sizeof key, &top);
  len = memstore_peek (m, key, buf, sizeof buf);
  {
    struct cas_page p;
    const char *why;

    CU_ASSERT_EQUAL_FATAL (cas_page_decode (buf, (size_t) len, &p, &why), 0);
    CU_ASSERT_EQUAL_FATAL (p.count, 2);
    leaf1 = p.entries[0].hash;
    leaf2 = p.entries[1].hash;
    cas_page_free (&p);
  }

  /* One byte flipped in a leaf: EIO naming the page and the export. */
  cas_page_key (key, sizeof key, &leaf1);
  len = memstore_peek (m, key, buf, sizeof buf);
  buf[len - 1] ^= 1;
  memstore_set (m, key, buf, (size_t) len);
  t = (cas_tree_free (t), open_tree (m, "disk", 1 << 20));
  cas_tree_set_top (t, &top, 1);
  standin_reset_errors ();
  errno = 0;
  CU_ASSERT_EQUAL (cas_tree_lookup (t, 3, &present, &h), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, key));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "export disk"));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "damaged"));
  /* The other leaf is fine. */
  CU_ASSERT_TRUE (has (t, 5000, 1));

  /* Swapped: a valid page under another page's name. */
  cas_page_key (key2, sizeof key2, &leaf2);
  len2 = memstore_peek (m, key2, other, sizeof other);
  buf[len - 1] ^= 1;
  memstore_set (m, key, other, (size_t) len2);
  memstore_set (m, key2, buf, (size_t) len);
  t = (cas_tree_free (t), open_tree (m, "disk", 1 << 20));
  cas_tree_set_top (t, &top, 1);
  CU_ASSERT_EQUAL (cas_tree_lookup (t, 3, &present, &h), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "does not match"));
  CU_ASSERT_EQUAL (cas_tree_lookup (t, 5000, &present, &h), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_EQUAL (walk (m, t, &s, -1), -1);
  CU_ASSERT_EQUAL (errno, EIO);

  /* Too long: damaged, not a buffer overrun (much longer is the
   * store's EIO, which real stores name).
   */
  {
    uint8_t *huge = calloc (1, leaf_max () + 100);

    memstore_set (m, key, huge, leaf_max () + 1);
    CU_ASSERT_EQUAL (cas_tree_lookup (t, 3, &present, &h), -1);
    CU_ASSERT_EQUAL (errno, EIO);
    CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "longer"));
    memstore_set (m, key, huge, leaf_max () + 100);
    CU_ASSERT_EQUAL (cas_tree_lookup (t, 3, &present, &h), -1);
    CU_ASSERT_EQUAL (errno, EIO);
    free (huge);
  }

  /* Missing: EIO for a lookup, ENOENT for the walk, both named. */
  memstore_set (m, key2, other, (size_t) len2);   /* leaf2 right again */
  store_delete (memstore_store (m), key);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (cas_tree_lookup (t, 3, &present, &h), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error,
                                  "export disk: map page "));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, key));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "is missing"));
  CU_ASSERT_EQUAL (walk (m, t, &s, -1), -1);
  CU_ASSERT_EQUAL (errno, ENOENT);
  /* An update through the missing page fails too, writing nothing. */
  c[0] = put_change (4, 1);
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (cas_tree_update (t, c, 1, 1, NULL, &res), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_EQUAL (memstore_counts (m).puts, 0);
  cas_tree_free (t);
  store_close (memstore_store (m));
}


/* PUT a cas page at level whose slots slot[i] name child[i]: its hash. */
static struct cas_hash
put_interior (struct memstore *m, unsigned level, unsigned n,
              const unsigned *slot, const struct cas_hash *child)
{
  static uint8_t buf[CAS_PAGE_MAX];
  struct cas_page_entry e[4];
  struct cas_page p = { .level = level, .count = n, .entries = e };
  struct cas_hash h;
  char key[KEY_MAX];
  size_t len;

  CU_ASSERT_FATAL (n <= 4);
  for (unsigned i = 0; i < n; i++) {
    e[i].slot = slot[i];
    e[i].hash = child[i];
  }
  len = cas_page_encode (&p, buf);
  cas_hash_of (buf, len, &h);
  cas_page_key (key, sizeof key, &h);
  memstore_set (m, key, buf, len);
  return h;
}

/* The leaf hashes of a depth-1 tree's top page. */
static void
leaves_of (struct memstore *m, const struct cas_hash *top,
           struct cas_hash *leaves, unsigned n)
{
  static uint8_t buf[CAS_PAGE_MAX];
  struct cas_page p;
  const char *why;
  char key[KEY_MAX];
  long len;

  cas_page_key (key, sizeof key, top);
  len = memstore_peek (m, key, buf, sizeof buf);
  CU_ASSERT_FATAL (len > 0);
  CU_ASSERT_EQUAL_FATAL (cas_page_decode (buf, (size_t) len, &p, &why), 0);
  CU_ASSERT_EQUAL_FATAL (p.count, n);
  for (unsigned i = 0; i < n; i++)
    leaves[i] = p.entries[i].hash;
  cas_page_free (&p);
}

static int
count_missing (void *opaque, const struct cas_hash *h, unsigned level,
               const char *why)
{
  (void) h; (void) level;
  if (strstr (why, "damaged") != NULL)
    ++*(int *) opaque;
  return 0;
}

/* A parent that names a leaf of the other kind (a page of a cas tree
 * in a log tree, or the reverse), or a page of another level where a
 * leaf is expected, found in the store or in the cache: a damaged page,
 * EIO naming it and the export, never a misread.
 */
static void
test_wrong_kind_pages (void)
{
  const enum cas_leaf_kind own = tree_kind;
  const enum cas_leaf_kind other = own == CAS_LEAF_HASH ? CAS_LEAF_LOCATION
    : CAS_LEAF_HASH;
  const char *const other_why = own == CAS_LEAF_HASH
    ? "it is a log leaf where a cas page is expected"
    : "it is a cas page where a log leaf is expected";
  struct memstore *m = memstore_new ();
  struct cas_tree *t;
  struct cas_change c[2];
  struct cas_update res;
  struct cas_hash mine[2], theirs[2], top, mid, bad_mid;
  struct cas_value v;
  struct cas_root r;
  char key[KEY_MAX];
  bool present;
  int damaged = 0;
  const unsigned slots[2] = { 0, 1 };
  struct seen s;

  /* The same blocks in a tree of each kind, depth 1: two leaves. */
  t = open_tree (m, "disk", 1 << 20);
  c[0] = put_change (3, 1);
  c[1] = put_change (leaf_span () + 1, 1);
  CU_ASSERT_EQUAL_FATAL (apply (t, c, 2, 1, &res), 0);
  leaves_of (m, &res.top, mine, 2);
  cas_tree_free (t);
  tree_kind = other;
  t = open_tree (m, "other", 1 << 20);
  c[0] = put_change (3, 1);
  c[1] = put_change (leaf_span () + 1, 1);
  CU_ASSERT_EQUAL_FATAL (apply (t, c, 2, 1, &res), 0);
  leaves_of (m, &res.top, theirs, 2);
  cas_tree_free (t);
  tree_kind = own;

  /* Slot 0: the other tree's leaf; slot 1: ours. */
  {
    const struct cas_hash kids[2] = { theirs[0], mine[1] };

    top = put_interior (m, 1, 2, slots, kids);
  }
  t = open_tree (m, "disk", 1 << 20);
  cas_tree_set_top (t, &top, 1);
  cas_page_key (key, sizeof key, &theirs[0]);
  standin_reset_errors ();
  errno = 0;
  CU_ASSERT_EQUAL (cas_tree_lookup (t, 3, &present, &v), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, key));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "export disk"));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "damaged"));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, other_why));
  CU_ASSERT_TRUE (has (t, leaf_span () + 1, 1));
  CU_ASSERT_EQUAL (walk (m, t, &s, -1), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  /* The admin walk reports it damaged too, and goes on. */
  memset (&r, 0, sizeof r);
  r.leaf = own;
  r.depth = 1;
  r.top = top;
  {
    const struct cas_walker w = { .missing = count_missing,
                                  .opaque = &damaged };

    CU_ASSERT_EQUAL (cas_walk (memstore_store (m), "disk", &r, &w), 0);
    CU_ASSERT_EQUAL (damaged, 1);
  }
  /* An update through it writes nothing. */
  c[0] = put_change (4, 1);
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (cas_tree_update (t, c, 1, 1, NULL, &res), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_EQUAL (memstore_counts (m).puts, 0);

  /* The top itself, of the other kind (depth 0). */
  cas_tree_set_top (t, &theirs[1], 0);
  CU_ASSERT_EQUAL (cas_tree_lookup (t, 1, &present, &v), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, other_why));
  cas_tree_free (t);

  /* A level-1 page where a leaf is expected, first from the store, then
   * from the cache (read at its right place by a lookup before).  In a
   * log tree it is also a cas page where a log leaf is expected.
   */
  mid = put_interior (m, 1, 2, slots, mine);
  bad_mid = put_interior (m, 1, 1, slots, &mid);
  {
    const struct cas_hash kids[2] = { mid, bad_mid };

    top = put_interior (m, 2, 2, slots, kids);
  }
  cas_page_key (key, sizeof key, &mid);
  for (int cached = 0; cached <= 1; cached++) {
    t = open_tree (m, "disk", 1 << 20);
    cas_tree_set_top (t, &top, 2);
    if (cached)
      CU_ASSERT_TRUE (has (t, 3, 1));
    standin_reset_errors ();
    CU_ASSERT_EQUAL (cas_tree_lookup (t, mid_span () + 3, &present, &v), -1);
    CU_ASSERT_EQUAL (errno, EIO);
    CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, key));
    CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "damaged"));
    CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error,
                                    own == CAS_LEAF_HASH
                                    ? "its level is not the one"
                                    : "where a log leaf is expected"));
    CU_ASSERT_TRUE (has (t, 3, 1));
    cas_tree_free (t);
  }
  store_close (memstore_store (m));
}

static int
refuse (void *opaque)
{
  (void) opaque;
  return ESTALE;
}

/* lease_check's refusal of a lost lease. */
static int
refuse_erofs (void *opaque)
{
  (void) opaque;
  return EROFS;
}

static void
test_update_failures (void)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *t = open_tree (m, "disk", 1 << 20);
  struct cas_change c[2] = { put_change (9, 1), put_change (8, 1) };
  const struct store_gate gate = { refuse, NULL, NULL };
  struct cas_update res;
  struct cas_hash top;

  /* Unsorted or repeated changes are the caller's bug. */
  CU_ASSERT_EQUAL (cas_tree_update (t, c, 2, 0, NULL, &res), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  c[1] = c[0];
  CU_ASSERT_EQUAL (cas_tree_update (t, c, 2, 0, NULL, &res), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);

  CU_ASSERT_EQUAL (apply (t, c, 1, 1, &res), 0);
  top = res.top;
  /* A failed PUT fails the update; the served tree is unchanged. */
  c[0] = put_change (9, 2);
  memstore_fail (m, STORE_PUT, -1, EIO);
  CU_ASSERT_EQUAL (cas_tree_update (t, c, 1, 1, NULL, &res), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  memstore_fail (m, STORE_PUT, 0, 0);
  /* The gate refuses: its errno, no PUT. */
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (cas_tree_update (t, c, 1, 1, &gate, &res), -1);
  CU_ASSERT_EQUAL (errno, ESTALE);
  CU_ASSERT_TRUE (has (t, 9, 1));
  CU_ASSERT_TRUE (cas_tree_get_top (t, &res.top, NULL));
  CU_ASSERT_TRUE (cas_hash_equal (&res.top, &top));
  /* And it works once the store does. */
  CU_ASSERT_EQUAL (apply (t, c, 1, 1, &res), 0);
  CU_ASSERT_TRUE (has (t, 9, 2));
  cas_tree_free (t);
  store_close (memstore_store (m));
}

/* The server gone after each single request of an update: the update
 * fails, and the old tree (what the last root names) still reads whole
 * from a fresh server.  The pages of a failed update are harmless
 * garbage: nothing names them.
 */
static void
test_update_crash (void)
{
  struct memstore *m = memstore_new ();
  struct cas_tree *t = open_tree (m, "disk", 1 << 20);
  struct cas_change c[40];
  struct cas_update res;
  struct cas_hash top;
  int64_t k;
  unsigned i;
  bool done = false;

  for (i = 0; i < 40; i++)
    c[i] = put_change ((uint64_t) i * 40000, 1);
  CU_ASSERT_EQUAL_FATAL (apply (t, c, 40, 2, NULL), 0);
  CU_ASSERT_TRUE (cas_tree_get_top (t, &top, NULL));
  for (i = 0; i < 40; i++)
    c[i] = put_change ((uint64_t) i * 40000 + 1, 2);
  for (k = 0; k < 200 && !done; k++) {
    struct cas_tree *fresh = open_tree (m, "disk", 1);

    cas_tree_set_top (fresh, &top, 2);
    memstore_crash_after (m, k);
    done = cas_tree_update (fresh, c, 40, 2, NULL, &res) == 0;
    memstore_crash_after (m, -1);
    cas_tree_free (fresh);

    fresh = open_tree (m, "disk", 1);
    cas_tree_set_top (fresh, &top, 2);
    for (i = 0; i < 40; i++) {
      CU_ASSERT_TRUE (has (fresh, (uint64_t) i * 40000, 1));
      CU_ASSERT_TRUE (is_hole (fresh, (uint64_t) i * 40000 + 1));
    }
    if (done) {
      /* Complete: the new tree reads whole too. */
      cas_tree_set_top (fresh, &res.top, res.depth);
      for (i = 0; i < 40; i++)
        CU_ASSERT_TRUE (has (fresh, (uint64_t) i * 40000 + 1, 2));
    }
    cas_tree_free (fresh);
  }
  CU_ASSERT_TRUE (done);
  CU_ASSERT (k > 40);          /* every GET and PUT was a crash point */
  cas_tree_free (t);
  store_close (memstore_store (m));
}

static void
sample_root (struct cas_root *r)
{
  memset (r, 0, sizeof *r);
  r->kind = CAS_ROOT_EXPORT;
  strcpy (r->name, "disk");
  CU_ASSERT_EQUAL (cas_new_incarnation (r->incarnation), 0);
  r->size = GIB;
  r->block_size = 4096;
  r->depth = 1;
  r->leaf = tree_kind;
  r->empty = true;
  r->created = r->committed = 1700000000;
  r->reuse_window_s = 1800;
  r->commit_bound_s = 300;
}

static void
test_roots (void)
{
  struct memstore *m = memstore_new ();
  struct store *st = memstore_store (m);
  const struct store_gate gate = { refuse, NULL, NULL };
  const struct store_gate fence = { refuse_erofs, NULL, NULL };
  struct cas_root r, back;
  char etag[STORE_ETAG_MAX], etag2[STORE_ETAG_MAX], etag3[STORE_ETAG_MAX];
  char key[KEY_MAX];
  enum cas_root_put_outcome put;
  bool found = true;

  cas_root_key (key, sizeof key, "disk");
  standin_reset_errors ();
  CU_ASSERT_EQUAL (cas_root_read (st, key, &back, etag, &found), 0);
  CU_ASSERT_FALSE (found);
  CU_ASSERT_EQUAL (standin_error_count, 0);

  sample_root (&r);
  CU_ASSERT_EQUAL (cas_root_write_etag (st, key, &r, STORE_CREATE_ONLY,
                                        NULL, NULL, etag, &put), 0);
  CU_ASSERT_EQUAL (put, CAS_ROOT_PUT_WRITTEN);
  CU_ASSERT (etag[0] != '\0');
  CU_ASSERT_EQUAL (cas_root_read (st, key, &back, etag2, &found), 0);
  CU_ASSERT_TRUE (found);
  CU_ASSERT_STRING_EQUAL (etag, etag2);
  CU_ASSERT_STRING_EQUAL (back.name, "disk");
  CU_ASSERT_STRING_EQUAL (back.incarnation, r.incarnation);
  CU_ASSERT_TRUE (back.empty);
  CU_ASSERT_EQUAL (back.leaf, tree_kind);

  /* A second creation, and a commit against a stale ETag, are refused
   * quietly: 0, with the answer in *outcome; the right ETag commits.
   */
  standin_reset_errors ();
  CU_ASSERT_EQUAL (cas_root_write (st, key, &r, STORE_CREATE_ONLY, NULL,
                                   NULL, &put), 0);
  CU_ASSERT_EQUAL (put, CAS_ROOT_PUT_EXISTS);
  CU_ASSERT_EQUAL (standin_error_count, 0);
  r.generation = 1;
  r.blocks = 1;
  r.empty = false;
  cas_hash_of ("x", 1, &r.top);
  CU_ASSERT_EQUAL (cas_root_write_etag (st, key, &r, STORE_IF_MATCH, etag,
                                        NULL, etag2, &put), 0);
  CU_ASSERT_EQUAL (put, CAS_ROOT_PUT_WRITTEN);
  CU_ASSERT_STRING_NOT_EQUAL (etag, etag2);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (cas_root_write_etag (st, key, &r, STORE_IF_MATCH, etag,
                                        NULL, etag3, &put), 0);
  CU_ASSERT_EQUAL (put, CAS_ROOT_PUT_STALE);
  CU_ASSERT_STRING_EQUAL (etag3, "");
  CU_ASSERT_EQUAL (standin_error_count, 0);
  CU_ASSERT_EQUAL (cas_root_read (st, key, &back, NULL, &found), 0);
  CU_ASSERT_TRUE (found);
  CU_ASSERT_EQUAL (back.generation, 1);
  CU_ASSERT_TRUE (cas_hash_equal (&back.top, &r.top));

  /* If-Match on a root that is gone: ABSENT, quietly; nothing made. */
  {
    char gone[KEY_MAX];

    cas_root_key (gone, sizeof gone, "gone");
    CU_ASSERT_EQUAL (cas_root_write (st, gone, &r, STORE_IF_MATCH, etag2,
                                     NULL, &put), 0);
    CU_ASSERT_EQUAL (put, CAS_ROOT_PUT_ABSENT);
    CU_ASSERT_EQUAL (standin_error_count, 0);
    CU_ASSERT_EQUAL (cas_root_read (st, gone, &back, NULL, &found), 0);
    CU_ASSERT_FALSE (found);
  }

  /* If-Match without an ETag: a failure, said. */
  CU_ASSERT_EQUAL (cas_root_write (st, key, &r, STORE_IF_MATCH, NULL, NULL,
                                   &put), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  CU_ASSERT_EQUAL (standin_error_count, 1);

  /* The gate: refused before any request, -1 with the gate's errno and
   * no message (the gate's owner explains it), even where that errno
   * looks like an answer the condition cannot give.
   */
  memstore_reset_counts (m);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (cas_root_write (st, key, &r, STORE_ALWAYS, NULL, &gate,
                                   &put), -1);
  CU_ASSERT_EQUAL (errno, ESTALE);
  CU_ASSERT_EQUAL (cas_root_write (st, key, &r, STORE_IF_MATCH, etag2,
                                   &fence, &put), -1);
  CU_ASSERT_EQUAL (errno, EROFS);
  CU_ASSERT_EQUAL (memstore_counts (m).puts, 0);
  CU_ASSERT_EQUAL (standin_error_count, 0);

  /* Damaged: the key and what is wrong. */
  memstore_set (m, key, "s3blocks-cas-root 1\nkind export\n", 31);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (cas_root_read (st, key, &back, NULL, &found), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "cas/roots/disk"));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "lacks name"));
  {
    char *huge = malloc (CAS_ROOT_MAX + 1);

    memset (huge, 'a', CAS_ROOT_MAX + 1);
    memstore_set (m, key, huge, CAS_ROOT_MAX + 1);
    free (huge);
  }
  CU_ASSERT_EQUAL (cas_root_read (st, key, &back, NULL, &found), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "longer"));

  /* A snapshot's root under its key. */
  r.kind = CAS_ROOT_SNAPSHOT;
  strcpy (r.name, "disk@mon");
  strcpy (r.parent, "disk");
  cas_root_key_of (key, sizeof key, "disk@mon");
  CU_ASSERT_EQUAL (cas_root_write (st, key, &r, STORE_CREATE_ONLY, NULL,
                                   NULL, &put), 0);
  CU_ASSERT_EQUAL (put, CAS_ROOT_PUT_WRITTEN);
  CU_ASSERT_EQUAL (cas_root_read (st, "cas/snaps/disk/mon", &back, NULL,
                                  &found), 0);
  CU_ASSERT_TRUE (found);
  CU_ASSERT_EQUAL (back.kind, CAS_ROOT_SNAPSHOT);
  CU_ASSERT_STRING_EQUAL (back.parent, "disk");
  CU_ASSERT_EQUAL (back.leaf, tree_kind);
  store_close (st);
}

void
add_cas_tree_fault_tests (CU_pSuite s)
{
  CU_add_test (s, "damaged and missing pages", test_damaged_pages);
  CU_add_test (s, "pages of the other kind or level", test_wrong_kind_pages);
  CU_add_test (s, "update failures", test_update_failures);
  CU_add_test (s, "crash at every request of an update",
               test_update_crash);
  CU_add_test (s, "roots", test_roots);
}
