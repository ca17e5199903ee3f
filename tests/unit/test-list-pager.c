/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the one LIST pager under both stores.
 *
 * Canned pages stand in for a server: the pager must deliver only keys
 * inside the prefix (an empty key, a key shorter than the prefix and a
 * key elsewhere are dropped; a key equal to the prefix is delivered),
 * follow markers, stop on the callback's word and refuse a listing
 * that cannot go forward.  The same with ListBucketResult documents
 * through the V4 store's parser (s3xml_list_page).
 */

#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "store/curl/s3xml.h"
#include "store/list-pager.h"
#include "nbdkit-standin.h"
#include "tests.h"

#define MAX_SEEN 16

struct canned_page {
  const struct store_entry *entries;
  size_t nr_entries;
  bool truncated;
  const char *next_marker;
  const char *xml;              /* instead of entries: a document */
};

struct canned {
  const struct canned_page *pages;
  size_t nr_pages, fetched, released;
  const char *markers[MAX_SEEN];  /* what each fetch was asked for */
  char marker_buf[MAX_SEEN][64];
  int fail_at;                  /* fetch number that fails, or -1 */
};

static int
canned_fetch (void *opaque, const char *prefix, const char *delimiter,
              const char *marker, struct list_page *page)
{
  struct canned *c = opaque;
  const struct canned_page *p;

  CU_ASSERT_FATAL (c->fetched < c->nr_pages && c->fetched < MAX_SEEN);
  if (marker) {
    strncpy (c->marker_buf[c->fetched], marker, 63);
    c->markers[c->fetched] = c->marker_buf[c->fetched];
  }
  if ((int) c->fetched == c->fail_at) {
    c->fetched++;
    errno = EACCES;
    return -1;
  }
  p = &c->pages[c->fetched++];
  if (p->xml) {
    CU_ASSERT_EQUAL_FATAL (s3xml_list_page (p->xml, strlen (p->xml),
                                            page), 0);
    return 0;
  }
  page->entries = (struct store_entry *) p->entries;
  page->nr_entries = p->nr_entries;
  page->truncated = p->truncated;
  page->next_marker = p->next_marker;
  return 0;
}

static void
canned_release (void *opaque, struct list_page *page)
{
  struct canned *c = opaque;

  c->released++;
  if (page->priv)
    s3xml_list_page_free (page);
}

struct seen {
  size_t n;
  char keys[MAX_SEEN][64];
  int stop_at, fail_at;         /* entry number, or -1 */
};

static int
record (void *opaque, const struct store_entry *e)
{
  struct seen *s = opaque;

  CU_ASSERT_FATAL (s->n < MAX_SEEN);
  strncpy (s->keys[s->n], e->key, 63);
  if ((int) s->n == s->fail_at) {
    s->n++;
    errno = ENOSPC;
    return -1;
  }
  return (int) s->n++ == s->stop_at ? 1 : 0;
}

static int
run (struct canned *c, const struct canned_page *pages, size_t nr_pages,
     const char *prefix, const char *start_after, struct seen *seen)
{
  const struct list_source src = {
    .fetch = canned_fetch, .release = canned_release, .opaque = c,
  };

  memset (c, 0, sizeof *c);
  c->pages = pages;
  c->nr_pages = nr_pages;
  c->fail_at = -1;
  return list_pager (&src, prefix, NULL, start_after, record, seen);
}

#define E(k) { .key = (k) }

/* A page with keys outside the prefix: only those inside reach the
 * callback, the key equal to the prefix among them.
 */
static void
test_outside_prefix (void)
{
  static const struct store_entry p1[] = {
    E (""), E ("b"), E ("blocks"), E ("blocks/"), E ("blocks/e/0001"),
    E ("blockz/e/0001"), E ("other/x"),
  };
  static const struct store_entry p2[] = { E ("blocks/e/0002"), E ("a") };
  static const struct canned_page pages[] = {
    { p1, 7, true, NULL, NULL }, { p2, 2, false, NULL, NULL },
  };
  struct canned c;
  struct seen s = { .stop_at = -1, .fail_at = -1 };

  CU_ASSERT_EQUAL (run (&c, pages, 2, "blocks/", NULL, &s), 0);
  CU_ASSERT_EQUAL_FATAL (s.n, 3);
  CU_ASSERT_STRING_EQUAL (s.keys[0], "blocks/");
  CU_ASSERT_STRING_EQUAL (s.keys[1], "blocks/e/0001");
  CU_ASSERT_STRING_EQUAL (s.keys[2], "blocks/e/0002");
  /* The next page starts after the server's last key, delivered or not. */
  CU_ASSERT_EQUAL (c.fetched, 2);
  CU_ASSERT_PTR_NULL (c.markers[0]);
  CU_ASSERT_STRING_EQUAL (c.markers[1], "other/x");
  CU_ASSERT_EQUAL (c.released, 2);

  /* The empty prefix: every non-empty key is inside. */
  s.n = 0;
  CU_ASSERT_EQUAL (run (&c, pages, 2, "", NULL, &s), 0);
  CU_ASSERT_EQUAL (s.n, 8);
  CU_ASSERT_STRING_EQUAL (s.keys[0], "b");
}

/* Markers: start_after first, the server's NextMarker over the last key;
 * a callback's 1 stops with 0, its -1 fails with its errno.
 */
static void
test_markers_and_stop (void)
{
  static const struct store_entry p1[] = { E ("x/1"), E ("x/2") };
  static const struct store_entry p2[] = { E ("x/3") };
  static const struct canned_page pages[] = {
    { p1, 2, true, "x/2~", NULL }, { p2, 1, false, NULL, NULL },
  };
  struct canned c;
  struct seen s = { .stop_at = -1, .fail_at = -1 };

  CU_ASSERT_EQUAL (run (&c, pages, 2, "x/", "x/0", &s), 0);
  CU_ASSERT_EQUAL (s.n, 3);
  CU_ASSERT_STRING_EQUAL (c.markers[0], "x/0");
  CU_ASSERT_STRING_EQUAL (c.markers[1], "x/2~");

  s = (struct seen) { .stop_at = 1, .fail_at = -1 };
  CU_ASSERT_EQUAL (run (&c, pages, 2, "x/", NULL, &s), 0);
  CU_ASSERT_EQUAL (s.n, 2);
  CU_ASSERT_EQUAL (c.fetched, 1);
  CU_ASSERT_EQUAL (c.released, 1);

  s = (struct seen) { .stop_at = -1, .fail_at = 2 };
  errno = 0;
  CU_ASSERT_EQUAL (run (&c, pages, 2, "x/", NULL, &s), -1);
  CU_ASSERT_EQUAL (errno, ENOSPC);
  CU_ASSERT_EQUAL (c.released, 2);
}

/* A truncated page with no way forward, or one going backwards, and a
 * failed fetch: -1, never a loop.
 */
static void
test_no_way_forward (void)
{
  static const struct store_entry back[] = { E ("x/1") };
  static const struct canned_page empty[] = { { NULL, 0, true, NULL, NULL } };
  static const struct canned_page again[] = {
    { back, 1, true, NULL, NULL }, { back, 1, true, NULL, NULL },
  };
  static const struct canned_page backwards[] = {
    { back, 1, true, "x/0", NULL },
  };
  struct canned c;
  struct seen s = { .stop_at = -1, .fail_at = -1 };
  const struct list_source src = {
    .fetch = canned_fetch, .release = canned_release, .opaque = &c,
  };

  standin_reset_errors ();
  CU_ASSERT_EQUAL (run (&c, empty, 1, "x/", NULL, &s), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT (strstr (standin_last_error, "no way to continue") != NULL);
  CU_ASSERT_EQUAL (run (&c, again, 2, "x/", NULL, &s), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_EQUAL (c.fetched, 2);
  CU_ASSERT_EQUAL (run (&c, backwards, 1, "x/", "x/5", &s), -1);
  CU_ASSERT_EQUAL (errno, EIO);

  memset (&c, 0, sizeof c);
  c.pages = again;
  c.nr_pages = 2;
  c.fail_at = 1;
  CU_ASSERT_EQUAL (list_pager (&src, "x/", NULL, NULL, record, &s), -1);
  CU_ASSERT_EQUAL (errno, EACCES);
  CU_ASSERT_EQUAL (c.released, 1);
}

/* The V4 store's path: ListBucketResult documents through its parser,
 * then the pager.
 */
static void
test_xml_outside_prefix (void)
{
  static const struct canned_page pages[] = {
    { .xml =
      "<ListBucketResult><Name>b</Name><Prefix>exports/</Prefix>"
      "<IsTruncated>true</IsTruncated>"
      "<Contents><Key></Key><Size>1</Size></Contents>"
      "<Contents><Key>e</Key><Size>1</Size></Contents>"
      "<Contents><Key>exports/</Key><Size>2</Size></Contents>"
      "<Contents><Key>exports/a</Key><Size>3</Size></Contents>"
      "<Contents><Key>zzz</Key><Size>4</Size></Contents>"
      "</ListBucketResult>" },
    { .xml =
      "<ListBucketResult><IsTruncated>false</IsTruncated>"
      "<Contents><Key>exports/b</Key><Size>5</Size></Contents>"
      "<CommonPrefixes><Prefix>export</Prefix></CommonPrefixes>"
      "</ListBucketResult>" },
  };
  struct canned c;
  struct seen s = { .stop_at = -1, .fail_at = -1 };

  CU_ASSERT_EQUAL (run (&c, pages, 2, "exports/", NULL, &s), 0);
  CU_ASSERT_EQUAL_FATAL (s.n, 3);
  CU_ASSERT_STRING_EQUAL (s.keys[0], "exports/");
  CU_ASSERT_STRING_EQUAL (s.keys[1], "exports/a");
  CU_ASSERT_STRING_EQUAL (s.keys[2], "exports/b");
  CU_ASSERT_STRING_EQUAL (c.markers[1], "zzz");
  CU_ASSERT_EQUAL (c.released, 2);
}

UNIT_SUITES (add_list_pager_tests)
{
  CU_pSuite s = CU_add_suite ("list-pager", NULL, NULL);

  CU_add_test (s, "keys outside the prefix are dropped", test_outside_prefix);
  CU_add_test (s, "markers, stop and fail", test_markers_and_stop);
  CU_add_test (s, "no way forward", test_no_way_forward);
  CU_add_test (s, "V4 XML: keys outside the prefix are dropped",
               test_xml_outside_prefix);
}
