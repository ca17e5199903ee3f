/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the cas layout's objects (cas-format.c): hashes,
 * keys, the root's text, the map page's binary form and its every
 * rejection.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "format/cas-format.h"
#include "format/cas-tree-format.h"
#include "tests.h"

static void
test_hash (void)
{
  struct cas_hash h, back;
  char hex[CAS_HEX_LEN + 1];

  cas_hash_of ("abc", 3, &h);
  cas_hash_hex (&h, hex);
  CU_ASSERT_STRING_EQUAL (hex, "ba7816bf8f01cfea414140de5dae2223"
                          "b00361a396177a9cb410ff61f20015ad");
  CU_ASSERT_TRUE (cas_hash_parse (hex, &back));
  CU_ASSERT_TRUE (cas_hash_equal (&h, &back));

  cas_hash_of ("", 0, &h);
  cas_hash_hex (&h, hex);
  CU_ASSERT_STRING_EQUAL (hex, "e3b0c44298fc1c149afbf4c8996fb924"
                          "27ae41e4649b934ca495991b7852b855");
  CU_ASSERT_FALSE (cas_hash_equal (&h, &back));

  CU_ASSERT_FALSE (cas_hash_parse ("", &back));
  CU_ASSERT_FALSE (cas_hash_parse ("ba7816bf", &back));
  CU_ASSERT_FALSE (cas_hash_parse ("BA7816BF8F01CFEA414140DE5DAE2223"
                                   "B00361A396177A9CB410FF61F20015AD",
                                   &back));
  CU_ASSERT_FALSE (cas_hash_parse ("ba7816bf8f01cfea414140de5dae2223"
                                   "b00361a396177a9cb410ff61f20015ad0",
                                   &back));
  CU_ASSERT_FALSE (cas_hash_parse ("ba7816bf8f01cfea414140de5dae2223"
                                   "b00361a396177a9cb410ff61f20015ag",
                                   &back));
}

static void
test_keys (void)
{
  struct cas_hash h;
  char key[KEY_MAX];

  memset (h.b, 0xab, sizeof h.b);
  CU_ASSERT_EQUAL (cas_data_key (key, sizeof key, &h), 9 + 64);
  CU_ASSERT_EQUAL (strncmp (key, "cas/data/abababab", 17), 0);
  CU_ASSERT_EQUAL (cas_page_key (key, sizeof key, &h), 10 + 64);
  CU_ASSERT_EQUAL (strncmp (key, "cas/pages/abab", 14), 0);
  CU_ASSERT_EQUAL (cas_page_key (key, 74, &h), -1);
  CU_ASSERT_EQUAL (errno, ENAMETOOLONG);

  cas_root_key (key, sizeof key, "disk");
  CU_ASSERT_STRING_EQUAL (key, "cas/roots/disk");
  cas_snap_key (key, sizeof key, "disk", "monday");
  CU_ASSERT_STRING_EQUAL (key, "cas/snaps/disk/monday");
  cas_snap_prefix (key, sizeof key, "disk");
  CU_ASSERT_STRING_EQUAL (key, "cas/snaps/disk/");
  CU_ASSERT_EQUAL (cas_root_key_of (key, sizeof key, "disk"), 14);
  CU_ASSERT_STRING_EQUAL (key, "cas/roots/disk");
  CU_ASSERT_EQUAL (cas_root_key_of (key, sizeof key, "disk@monday"), 21);
  CU_ASSERT_STRING_EQUAL (key, "cas/snaps/disk/monday");
  CU_ASSERT_EQUAL (cas_root_key_of (key, 21, "disk@monday"), -1);
  CU_ASSERT_EQUAL (errno, ENAMETOOLONG);
}

static void
sample_root (struct cas_root *r)
{
  memset (r, 0, sizeof *r);
  r->kind = CAS_ROOT_EXPORT;
  strcpy (r->name, "disk");
  strcpy (r->incarnation, "0123456789abcdef0123456789abcdef");
  r->size = UINT64_C (100) << 30;
  r->block_size = 4096;
  r->depth = 2;
  memset (r->top.b, 0x5a, sizeof r->top.b);
  r->blocks = 12345;
  r->generation = 7;
  r->created = 1700000000;
  r->committed = 1700000100;
  r->reuse_window_s = 1800;
  r->commit_bound_s = 600;
}

static void
test_root_round_trip (void)
{
  struct cas_root r, back;
  char buf[CAS_ROOT_MAX];
  const char *why = NULL;
  int len;

  sample_root (&r);
  len = cas_root_format (buf, sizeof buf, &r);
  CU_ASSERT (len > 0);
  CU_ASSERT_EQUAL (cas_root_parse (buf, (size_t) len, &back, &why), 0);
  CU_ASSERT_EQUAL (back.kind, CAS_ROOT_EXPORT);
  CU_ASSERT_STRING_EQUAL (back.name, "disk");
  CU_ASSERT_STRING_EQUAL (back.parent, "");
  CU_ASSERT_STRING_EQUAL (back.incarnation, r.incarnation);
  CU_ASSERT_EQUAL (back.size, r.size);
  CU_ASSERT_EQUAL (back.block_size, 4096);
  CU_ASSERT_EQUAL (back.depth, 2);
  CU_ASSERT_FALSE (back.empty);
  CU_ASSERT_TRUE (cas_hash_equal (&back.top, &r.top));
  CU_ASSERT_EQUAL (back.blocks, 12345);
  CU_ASSERT_EQUAL (back.generation, 7);
  CU_ASSERT_EQUAL (back.created, 1700000000);
  CU_ASSERT_EQUAL (back.committed, 1700000100);
  CU_ASSERT_EQUAL (back.reuse_window_s, 1800);
  CU_ASSERT_EQUAL (back.commit_bound_s, 600);

  /* A snapshot of an empty export, with a parent. */
  r.kind = CAS_ROOT_SNAPSHOT;
  strcpy (r.name, "disk@monday");
  strcpy (r.parent, "disk");
  r.empty = true;
  r.blocks = 0;
  len = cas_root_format (buf, sizeof buf, &r);
  CU_ASSERT (strstr (buf, "\ntop -\n") != NULL);
  CU_ASSERT_EQUAL (cas_root_parse (buf, (size_t) len, &back, &why), 0);
  CU_ASSERT_EQUAL (back.kind, CAS_ROOT_SNAPSHOT);
  CU_ASSERT_STRING_EQUAL (back.name, "disk@monday");
  CU_ASSERT_STRING_EQUAL (back.parent, "disk");
  CU_ASSERT_TRUE (back.empty);

  /* Unknown names are a later version's: ignored. */
  sample_root (&r);
  len = cas_root_format (buf, sizeof buf, &r);
  strcat (buf, "future-field something\n");
  CU_ASSERT_EQUAL (cas_root_parse (buf, strlen (buf), &back, &why), 0);

  CU_ASSERT_EQUAL (cas_root_format (buf, 100, &r), -1);
  CU_ASSERT_EQUAL (errno, ENAMETOOLONG);
}

/* Replace the line starting "name " in the sample root's text with
 * line (NULL: remove it) and parse.
 */
static int
parse_edited (const char *name, const char *line, const char **why)
{
  struct cas_root r, back;
  char buf[CAS_ROOT_MAX], out[CAS_ROOT_MAX];
  char *p, *q = out;
  size_t nlen = strlen (name);

  sample_root (&r);
  cas_root_format (buf, sizeof buf, &r);
  for (p = buf; *p; ) {
    char *eol = strchr (p, '\n');
    size_t l = (size_t) (eol - p) + 1;

    if (strncmp (p, name, nlen) == 0 && p[nlen] == ' ') {
      if (line)
        q += sprintf (q, "%s\n", line);
    }
    else {
      memcpy (q, p, l);
      q += l;
    }
    p += l;
  }
  *q = '\0';
  *why = NULL;
  return cas_root_parse (out, strlen (out), &back, why);
}

static void
test_root_rejections (void)
{
  static const char *const fields[] = {
    "kind", "name", "parent", "incarnation", "size", "block-size", "depth",
    "top", "blocks", "generation", "created", "committed", "reuse-window",
    "commit-bound",
  };
  static const struct { const char *name, *line, *why; } bad[] = {
    { "kind", "kind plain", "kind" },
    { "name", "name a/b", "name" },
    { "name", "name ", "name" },
    { "name", "name disk@", "name" },
    { "name", "name disk@a@b", "name" },
    { "name", "name disk@monday", "kind" },
    { "parent", "parent ", "parent" },
    { "incarnation", "incarnation 0123", "incarnation" },
    { "incarnation", "incarnation 0123456789ABCDEF0123456789abcdef",
      "incarnation" },
    { "size", "size 0", "size" },
    { "size", "size -5", "size" },
    { "size", "size 99999999999999999999999", "size" },
    { "block-size", "block-size 4095", "block-size" },
    { "block-size", "block-size 256", "block-size" },
    { "depth", "depth 7", "depth" },
    { "depth", "depth 1", "depth is too small" },
    { "top", "top 5a5a", "top" },
    { "top", "top -", "empty" },
    { "blocks", "blocks x", "blocks" },
    { "blocks", "blocks 0", "empty" },
    { "blocks", "blocks 26214401", "exceeds" },
    { "generation", "generation 1.5", "generation" },
    { "created", "created -1", "created" },
    { "committed", "committed soon", "committed" },
    { "reuse-window", "reuse-window 30m", "reuse-window" },
    { "commit-bound", "commit-bound", "not \"name value\"" },
    { "kind", "kind export\nkind export", "twice" },
  };
  const char *why;
  char buf[64];
  size_t i;
  struct cas_root back;

  for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
    CU_ASSERT_EQUAL (parse_edited (fields[i], NULL, &why), -1);
    snprintf (buf, sizeof buf, "it lacks %s", fields[i]);
    CU_ASSERT_PTR_NOT_NULL_FATAL (why);
    CU_ASSERT_STRING_EQUAL (why, buf);
  }
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    CU_ASSERT_EQUAL (parse_edited (bad[i].name, bad[i].line, &why), -1);
    CU_ASSERT_PTR_NOT_NULL_FATAL (why);
    if (strstr (why, bad[i].why) == NULL)
      fprintf (stderr, "\n%s: why \"%s\"\n", bad[i].line, why);
    CU_ASSERT_PTR_NOT_NULL (strstr (why, bad[i].why));
  }
  CU_ASSERT_EQUAL (cas_root_parse ("", 0, &back, &why), -1);
  CU_ASSERT_EQUAL (cas_root_parse ("s3blocks-cas-root 2\n", 20, &back, &why),
                   -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (why, "does not start"));
  CU_ASSERT_EQUAL (cas_root_parse ("s3blocks-cas-root 1\n\0", 21, &back,
                                   &why), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (why, "NUL"));
}

/* The optional "leaf" line: absent for a cas root, whose text is
 * exactly what versions before leaf kinds wrote; "leaf location" for a
 * log tree; anything else refused.
 */
static void
test_root_leaf (void)
{
  static const char cas_text[] =
    "s3blocks-cas-root 1\n"
    "kind export\n"
    "name disk\n"
    "parent -\n"
    "incarnation 0123456789abcdef0123456789abcdef\n"
    "size 107374182400\n"
    "block-size 4096\n"
    "depth 2\n"
    "top 5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a\n"
    "blocks 12345\n"
    "generation 7\n"
    "created 1700000000\n"
    "committed 1700000100\n"
    "reuse-window 1800\n"
    "commit-bound 600\n";
  struct cas_root r, back;
  char buf[CAS_ROOT_MAX], again[CAS_ROOT_MAX], *p;
  const char *why = NULL;
  int len;

  sample_root (&r);
  CU_ASSERT_EQUAL (r.leaf, CAS_LEAF_HASH);
  len = cas_root_format (buf, sizeof buf, &r);
  CU_ASSERT_EQUAL (len, (int) strlen (cas_text));
  CU_ASSERT_STRING_EQUAL (buf, cas_text);
  CU_ASSERT_EQUAL (cas_root_parse (buf, (size_t) len, &back, &why), 0);
  CU_ASSERT_EQUAL (back.leaf, CAS_LEAF_HASH);

  /* A location root: one more line, after depth; it reads back. */
  r.leaf = CAS_LEAF_LOCATION;
  len = cas_root_format (buf, sizeof buf, &r);
  CU_ASSERT_EQUAL (len, (int) strlen (cas_text) + 14);
  CU_ASSERT_PTR_NOT_NULL (strstr (buf, "\ndepth 2\nleaf location\ntop "));
  CU_ASSERT_EQUAL (cas_root_parse (buf, (size_t) len, &back, &why), 0);
  CU_ASSERT_EQUAL (back.leaf, CAS_LEAF_LOCATION);
  CU_ASSERT_EQUAL (back.depth, 2);
  CU_ASSERT_EQUAL (cas_root_format (again, sizeof again, &back), len);
  CU_ASSERT_STRING_EQUAL (again, buf);

  /* "leaf hash" is a cas root too (the default said aloud), written
   * back without the line.
   */
  p = strstr (buf, "leaf location");
  memcpy (p, "leaf hash\n", 10);
  memmove (p + 10, p + 14, strlen (p + 14) + 1);
  CU_ASSERT_EQUAL (cas_root_parse (buf, strlen (buf), &back, &why), 0);
  CU_ASSERT_EQUAL (back.leaf, CAS_LEAF_HASH);
  cas_root_format (again, sizeof again, &back);
  CU_ASSERT_STRING_EQUAL (again, cas_text);

  /* Refused: an unknown kind, an empty one, the line twice. */
  CU_ASSERT_EQUAL (parse_edited ("depth", "depth 2\nleaf extent", &why), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (why, "leaf is neither hash nor location"));
  CU_ASSERT_EQUAL (parse_edited ("depth", "depth 2\nleaf ", &why), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (why, "leaf is neither"));
  CU_ASSERT_EQUAL (parse_edited ("depth", "depth 2\nleaf LOCATION", &why),
                   -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (why, "leaf is neither"));
  CU_ASSERT_EQUAL (parse_edited ("depth", "depth 2\nleaf location\n"
                                 "leaf location", &why), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (why, "twice"));
  CU_ASSERT_EQUAL (parse_edited ("depth", "depth 7\nleaf location", &why),
                   -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (why, "depth"));

  /* The depth a size needs is the kind's: 100 GiB of 4 KiB blocks
   * needs depth 2 either way, 16 MiB needs 1 in a cas tree and 0 in a
   * log tree (a log leaf maps 4096 blocks).
   */
  CU_ASSERT_EQUAL (parse_edited ("depth", "depth 1\nleaf location", &why),
                   -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (why, "depth is too small"));
  sample_root (&r);
  r.size = 4096 * 4096;
  r.blocks = 5;
  r.depth = 0;
  len = cas_root_format (buf, sizeof buf, &r);
  CU_ASSERT_EQUAL (cas_root_parse (buf, (size_t) len, &back, &why), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (why, "depth is too small"));
  r.leaf = CAS_LEAF_LOCATION;
  len = cas_root_format (buf, sizeof buf, &r);
  CU_ASSERT_EQUAL (cas_root_parse (buf, (size_t) len, &back, &why), 0);
  r.size++;
  len = cas_root_format (buf, sizeof buf, &r);
  CU_ASSERT_EQUAL (cas_root_parse (buf, (size_t) len, &back, &why), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (why, "depth is too small"));
}

static void
test_incarnation (void)
{
  char a[33], b[33];
  size_t i;

  CU_ASSERT_EQUAL (cas_new_incarnation (a), 0);
  CU_ASSERT_EQUAL (cas_new_incarnation (b), 0);
  CU_ASSERT_EQUAL (strlen (a), 32);
  CU_ASSERT_STRING_NOT_EQUAL (a, b);
  for (i = 0; i < 32; i++)
    CU_ASSERT_PTR_NOT_NULL (strchr ("0123456789abcdef", a[i]));
}

/* A page of count entries at slots 0, step, 2*step... */
static size_t
make_page (uint8_t *buf, unsigned level, uint32_t count, unsigned step)
{
  struct cas_page p = { .level = level, .count = count };
  size_t len;
  uint32_t i;

  p.entries = calloc (count, sizeof *p.entries);
  for (i = 0; i < count; i++) {
    p.entries[i].slot = (uint16_t) (i * step);
    memset (p.entries[i].hash.b, (int) i, CAS_HASH_LEN);
  }
  len = cas_page_encode (&p, buf);
  free (p.entries);
  return len;
}

static void
test_page_round_trip (void)
{
  uint8_t *buf = malloc (CAS_PAGE_MAX);
  struct cas_page p;
  struct cas_hash h;
  const char *why;
  size_t len;
  uint32_t i;

  len = make_page (buf, 3, 5, 7);
  CU_ASSERT_EQUAL (len, CAS_PAGE_HEADER + 5 * CAS_PAGE_ENTRY);
  CU_ASSERT_EQUAL (memcmp (buf, "S3BCASP1\3\0\0\0\5\0\0\0", 16), 0);
  CU_ASSERT_EQUAL (cas_page_decode (buf, len, &p, &why), 0);
  CU_ASSERT_EQUAL (p.level, 3);
  CU_ASSERT_EQUAL (p.count, 5);
  CU_ASSERT_EQUAL (p.entries[4].slot, 28);
  CU_ASSERT_TRUE (cas_page_find (&p, 14, &h));
  CU_ASSERT_EQUAL (h.b[0], 2);
  CU_ASSERT_FALSE (cas_page_find (&p, 15, &h));
  CU_ASSERT_FALSE (cas_page_find (&p, 1023, &h));
  cas_page_free (&p);

  /* A full page: the largest there is. */
  len = make_page (buf, 0, CAS_FANOUT, 1);
  CU_ASSERT_EQUAL (len, CAS_PAGE_MAX);
  CU_ASSERT_EQUAL (cas_page_decode (buf, len, &p, &why), 0);
  for (i = 0; i < CAS_FANOUT; i++) {
    CU_ASSERT_TRUE (cas_page_find (&p, i, &h));
    CU_ASSERT_EQUAL (h.b[31], (uint8_t) i);
  }
  cas_page_free (&p);
  free (buf);
}

static void
expect_bad_page (const uint8_t *buf, size_t len, const char *what)
{
  struct cas_page p = { 0 };
  const char *why = NULL;

  errno = 0;
  CU_ASSERT_EQUAL (cas_page_decode (buf, len, &p, &why), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  CU_ASSERT_PTR_NULL (p.entries);
  CU_ASSERT_PTR_NOT_NULL_FATAL (why);
  if (strstr (why, what) == NULL)
    fprintf (stderr, "\nexpected \"%s\", got \"%s\"\n", what, why);
  CU_ASSERT_PTR_NOT_NULL (strstr (why, what));
}

static void
test_page_rejections (void)
{
  uint8_t *buf = malloc (CAS_PAGE_MAX + 1);
  size_t len;

  len = make_page (buf, 1, 3, 2);
  expect_bad_page (buf, 0, "does not start");
  expect_bad_page (buf, 10, "does not start");
  expect_bad_page (buf, len - 1, "length");
  expect_bad_page (buf, len + 1, "length");
  buf[0] = 's';
  expect_bad_page (buf, len, "does not start");
  buf[0] = 'S';
  buf[8] = CAS_DEPTH_MAX + 1;
  expect_bad_page (buf, len, "level");
  buf[8] = 1;
  buf[10] = 1;
  expect_bad_page (buf, len, "reserved");
  buf[10] = 0;
  buf[12] = 4;                  /* count 4, length for 3 */
  expect_bad_page (buf, len, "length");
  buf[12] = 0;
  expect_bad_page (buf, CAS_PAGE_HEADER, "count");
  buf[12] = 0;
  buf[13] = 4;                  /* 1024 + ... */
  buf[12] = 1;
  expect_bad_page (buf, len, "count");
  buf[12] = 3;
  buf[13] = 0;
  /* Entry 1 (slot 2) becomes slot 0: not increasing. */
  buf[CAS_PAGE_HEADER + CAS_PAGE_ENTRY] = 0;
  expect_bad_page (buf, len, "strictly increasing");
  /* ... and equal to its neighbour. */
  buf[CAS_PAGE_HEADER + CAS_PAGE_ENTRY] = 4;
  expect_bad_page (buf, len, "strictly increasing");
  buf[CAS_PAGE_HEADER + CAS_PAGE_ENTRY] = 2;
  /* The last entry's slot is 1024. */
  buf[CAS_PAGE_HEADER + 2 * CAS_PAGE_ENTRY] = 0;
  buf[CAS_PAGE_HEADER + 2 * CAS_PAGE_ENTRY + 1] = 4;
  expect_bad_page (buf, len, "1024 or more");
  free (buf);
}

static void
test_depth_for (void)
{
  /* Of a cas tree. */
#define depth(n) cas_depth_for (CAS_LEAF_HASH, (n))
  CU_ASSERT_EQUAL (depth (0), 0);
  CU_ASSERT_EQUAL (depth (1), 0);
  CU_ASSERT_EQUAL (depth (1024), 0);
  CU_ASSERT_EQUAL (depth (1025), 1);
  CU_ASSERT_EQUAL (depth (1024 * 1024), 1);
  CU_ASSERT_EQUAL (depth (1024 * 1024 + 1), 2);
  CU_ASSERT_EQUAL (depth (26214400), 2);       /* 100 GiB / 4K */
  CU_ASSERT_EQUAL (depth (UINT64_C (1) << 28), 2); /* 1 TiB / 4K */
  CU_ASSERT_EQUAL (depth (UINT64_C (1) << 30), 2);
  CU_ASSERT_EQUAL (depth ((UINT64_C (1) << 30) + 1), 3);
  CU_ASSERT_EQUAL (depth (UINT64_C (1) << 60), 5);
  CU_ASSERT_EQUAL (depth ((UINT64_C (1) << 60) + 1), 6);
  CU_ASSERT_EQUAL (depth (UINT64_MAX), 6);
#undef depth
}

UNIT_SUITES (add_cas_format_tests)
{
  CU_pSuite s = CU_add_suite ("cas-format", NULL, NULL);

  CU_add_test (s, "hash", test_hash);
  CU_add_test (s, "keys", test_keys);
  CU_add_test (s, "root round trip", test_root_round_trip);
  CU_add_test (s, "root rejections", test_root_rejections);
  CU_add_test (s, "root leaf kinds", test_root_leaf);
  CU_add_test (s, "incarnation", test_incarnation);
  CU_add_test (s, "page round trip", test_page_round_trip);
  CU_add_test (s, "page rejections", test_page_rejections);
  CU_add_test (s, "depth for", test_depth_for);
}
