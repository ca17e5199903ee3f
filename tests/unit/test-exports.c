/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: export names listed once each, and what an
 * export's metadata (or its absence) resolves to.
 */

#include <config.h>

#include <errno.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "config/options.h"
#include "export/export-impl.h"
#include "export/export.h"
#include "memstore.h"
#include "nbdkit-standin.h"
#include "tests.h"

static void
put (struct memstore *mem, const char *key, const char *data)
{
  memstore_set (mem, key, data, strlen (data));
}

struct names {
  char buf[256];
  const char *stop_at;          /* cb fails there */
};

static int
add_name (void *opaque, const char *name)
{
  struct names *n = opaque;

  if (n->stop_at && strcmp (name, n->stop_at) == 0) {
    errno = EPERM;
    return -1;
  }
  strcat (n->buf, name);
  strcat (n->buf, ",");
  return 0;
}

static struct memstore *
bucket_with_exports (void)
{
  struct memstore *mem = memstore_new ();

  put (mem, "exports/a", "meta");
  put (mem, "blocks/a/0000000000000000", "x");
  put (mem, "blocks/a/0000000000001000", "x");
  put (mem, "blocks/b/0000000000001000", "x");   /* older tool: no meta */
  put (mem, "exports/c", "meta");                /* no blocks yet */
  put (mem, "exports/bad name", "meta");         /* not an export name */
  put (mem, "blocks/stray", "x");                /* not under a prefix */
  put (mem, "leases/d", "lease");                /* not an export */
  return mem;
}

static void
test_list_once (void)
{
  struct memstore *mem = bucket_with_exports ();
  struct names n = { .buf = "" };

  CU_ASSERT_EQUAL (export_list_names (memstore_store (mem), add_name, &n), 0);
  CU_ASSERT_STRING_EQUAL (n.buf, "a,b,c,");
  store_close (memstore_store (mem));
}

static void
test_list_errors (void)
{
  struct memstore *mem = bucket_with_exports ();
  struct names n = { .buf = "", .stop_at = "b" };

  CU_ASSERT_EQUAL (export_list_names (memstore_store (mem), add_name, &n), -1);
  CU_ASSERT_EQUAL (errno, EPERM);
  CU_ASSERT_STRING_EQUAL (n.buf, "a,");

  n.stop_at = NULL;
  n.buf[0] = '\0';
  memstore_fail_list (mem, EIO);
  CU_ASSERT_EQUAL (export_list_names (memstore_store (mem), add_name, &n), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  memstore_fail_list (mem, 0);
  store_close (memstore_store (mem));
}

/* Blocks and no metadata: adopted with size=, found with one LIST
 * that stops at the first key (the callback's early stop is not an
 * error).
 */
static void
test_resolve_legacy (void)
{
  struct memstore *mem = memstore_new ();
  struct s3blocks_config c;
  struct export_meta m;
  uint64_t new_size;
  bool dirty;
  int i;

  for (i = 0; i < 5; i++) {
    char key[KEY_MAX];
    block_key (key, sizeof key, "old", (uint64_t) i * 4096);
    put (mem, key, "x");
  }
  CU_ASSERT_EQUAL_FATAL (config_init (&c), 0);

  c.size = -1;
  CU_ASSERT_EQUAL (export_meta_resolve (memstore_store (mem), &c, "old",
                                        false, &m, &new_size, &dirty), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);          /* give size= */

  c.size = 1 << 20;
  memstore_reset_counts (mem);
  CU_ASSERT_EQUAL (export_meta_resolve (memstore_store (mem), &c, "old",
                                        false, &m, &new_size, &dirty), 0);
  CU_ASSERT_EQUAL (m.size, 1 << 20);
  CU_ASSERT_EQUAL (m.block_size, 4096);
  CU_ASSERT (dirty);
  CU_ASSERT_EQUAL (memstore_counts (mem).lists, 1);

  memstore_fail_list (mem, EIO);
  CU_ASSERT_EQUAL (export_meta_resolve (memstore_store (mem), &c, "old",
                                        false, &m, &new_size, &dirty), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  memstore_fail_list (mem, 0);

  config_free (&c);
  store_close (memstore_store (mem));
}

/* Nothing stored: created read-write, refused read-only. */
static void
test_resolve_new (void)
{
  struct memstore *mem = memstore_new ();
  struct s3blocks_config c;
  struct export_meta m;
  uint64_t new_size;
  bool dirty;

  CU_ASSERT_EQUAL_FATAL (config_init (&c), 0);
  c.size = 1 << 20;
  CU_ASSERT_EQUAL (export_meta_resolve (memstore_store (mem), &c, "new",
                                        true, &m, &new_size, &dirty), -1);
  CU_ASSERT_EQUAL (errno, ENOENT);
  CU_ASSERT_EQUAL (export_meta_resolve (memstore_store (mem), &c, "new",
                                        false, &m, &new_size, &dirty), 0);
  CU_ASSERT (dirty);
  CU_ASSERT_EQUAL (export_meta_write (memstore_store (mem), "new", &m), 0);
  CU_ASSERT_EQUAL (export_meta_resolve (memstore_store (mem), &c, "new",
                                        true, &m, &new_size, &dirty), 0);
  CU_ASSERT (!dirty);
  CU_ASSERT_EQUAL (m.size, 1 << 20);
  config_free (&c);
  store_close (memstore_store (mem));
}

/* layout= chooses a new export's layout; an existing export keeps its
 * own, and an explicit other one is refused naming both.
 */
static void
test_resolve_layout (void)
{
  struct memstore *mem = bucket_with_exports ();
  struct s3blocks_config c;
  struct export_meta m;
  uint64_t new_size;
  bool dirty;

  CU_ASSERT_EQUAL_FATAL (config_init (&c), 0);
  c.size = 1 << 20;
  CU_ASSERT_EQUAL (config_set (&c, "layout", "cas"), 0);
  CU_ASSERT_EQUAL (export_meta_resolve (memstore_store (mem), &c, "n",
                                        false, &m, &new_size, &dirty), 0);
  CU_ASSERT_EQUAL (m.layout, EXPORT_LAYOUT_CAS);
  CU_ASSERT (dirty && new_size == 0);
  CU_ASSERT_EQUAL (export_meta_write (memstore_store (mem), "n", &m), 0);

  /* Blocks of an older tool are plain. */
  CU_ASSERT_EQUAL (export_meta_resolve (memstore_store (mem), &c, "b",
                                        false, &m, &new_size, &dirty), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  config_free (&c);

  CU_ASSERT_EQUAL_FATAL (config_init (&c), 0);
  CU_ASSERT_EQUAL (export_meta_resolve (memstore_store (mem), &c, "n",
                                        false, &m, &new_size, &dirty), 0);
  CU_ASSERT_EQUAL (m.layout, EXPORT_LAYOUT_CAS);         /* recorded */
  CU_ASSERT (!dirty);
  CU_ASSERT_EQUAL (config_set (&c, "layout", "plain"), 0);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (export_meta_resolve (memstore_store (mem), &c, "n",
                                        false, &m, &new_size, &dirty), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error,
                                  "layout=cas; layout=plain"));
  config_free (&c);
  store_close (memstore_store (mem));
}

/* Snapshots of listed exports are listed as export@snap. */
static void
test_list_snapshots (void)
{
  struct memstore *mem = bucket_with_exports ();
  struct names n = { .buf = "" };

  put (mem, "cas/snaps/a/s1", "root");
  put (mem, "cas/snaps/a/s0", "root");
  put (mem, "cas/snaps/zz/s1", "root");         /* no such export */
  put (mem, "cas/snaps/a/bad name", "root");
  CU_ASSERT_EQUAL (export_list_names (memstore_store (mem), add_name, &n), 0);
  CU_ASSERT_STRING_EQUAL (n.buf, "a,a@s0,a@s1,b,c,");
  store_close (memstore_store (mem));
}

UNIT_SUITES (add_export_tests)
{
  CU_pSuite s = CU_add_suite ("exports", NULL, NULL);

  CU_add_test (s, "names listed once each, sorted", test_list_once);
  CU_add_test (s, "listing errors", test_list_errors);
  CU_add_test (s, "an export with blocks and no metadata", test_resolve_legacy);
  CU_add_test (s, "a new export", test_resolve_new);
  CU_add_test (s, "layouts", test_resolve_layout);
  CU_add_test (s, "snapshots listed", test_list_snapshots);
}
