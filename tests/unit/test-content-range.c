/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: reading Content-Range and judging the answer to
 * a ranged GET (the V4 store's content-range.h): every malformed
 * header is refused, and no answer but the bytes asked for is taken.
 */

#include <config.h>

#include <stdio.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "store/curl/content-range.h"
#include "tests.h"

static void
test_parse_good (void)
{
  struct content_range cr;

  CU_ASSERT_EQUAL (content_range_parse ("bytes 0-4095/1048576", &cr), 0);
  CU_ASSERT (!cr.unsatisfied);
  CU_ASSERT_EQUAL (cr.first, 0);
  CU_ASSERT_EQUAL (cr.last, 4095);
  CU_ASSERT (cr.total_known);
  CU_ASSERT_EQUAL (cr.total, 1048576);

  /* The unit in any case (RFC 9110), spaces around. */
  CU_ASSERT_EQUAL (content_range_parse (" Bytes 7-7/8 \r\n", &cr), 0);
  CU_ASSERT_EQUAL (cr.first, 7);
  CU_ASSERT_EQUAL (cr.last, 7);
  CU_ASSERT_EQUAL (cr.total, 8);

  /* The size not said. */
  CU_ASSERT_EQUAL (content_range_parse ("bytes 10-19/*", &cr), 0);
  CU_ASSERT (!cr.total_known);
  CU_ASSERT_EQUAL (cr.last, 19);

  /* A 416's: the range unsatisfied, the size said. */
  CU_ASSERT_EQUAL (content_range_parse ("bytes */1048576", &cr), 0);
  CU_ASSERT (cr.unsatisfied);
  CU_ASSERT (cr.total_known);
  CU_ASSERT_EQUAL (cr.total, 1048576);

  /* The largest numbers that fit. */
  CU_ASSERT_EQUAL (content_range_parse
                   ("bytes 18446744073709551614-18446744073709551614/"
                    "18446744073709551615", &cr), 0);
  CU_ASSERT_EQUAL (cr.total, UINT64_MAX);
}

static void
test_parse_bad (void)
{
  static const char *const bad[] = {
    "",                                 /* missing */
    "bytes",
    "bytes ",
    "items 0-1/2",                      /* another unit */
    "bytes=0-1/2",                      /* the request's syntax */
    "bytesx 0-1/2",
    "bytes 5-4/10",                     /* last before first */
    "bytes 0-10/10",                    /* last past the size */
    "bytes 0-0/0",
    "bytes 0-18446744073709551616/*",   /* past 64 bits */
    "bytes 18446744073709551616-1/2",
    "bytes 0-1/18446744073709551616",
    "bytes 0-1/99999999999999999999999",
    "bytes -1-2/3",                     /* signs and spaces inside */
    "bytes +0-2/3",
    "bytes 0 - 2/3",
    "bytes 0-2 /3",
    "bytes 0-1",                        /* no size */
    "bytes 0-1/",
    "bytes 0/2",
    "bytes 0-1/2x",                     /* trailing rubbish */
    "bytes 0-1/2/3",
    "bytes */*",                        /* nothing said at all */
    "bytes *-1/2",
    "bytes 0x0-0x1/0x2",
  };
  struct content_range cr;
  size_t i;

  CU_ASSERT_EQUAL (content_range_parse (NULL, &cr), -1);
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    int r = content_range_parse (bad[i], &cr);

    if (r != -1)
      fprintf (stderr, "content-range: accepted \"%s\"\n", bad[i]);
    CU_ASSERT_EQUAL (r, -1);
  }
}

/* The verdict on an answer to bytes [offset, offset + len). */
static enum range_verdict
judge (uint64_t offset, size_t len, long status, const char *cr, size_t got,
       bool too_long)
{
  struct range_reply r = { .status = status, .content_range = cr,
                           .got = got, .too_long = too_long };

  return range_reply_judge (offset, len, &r);
}

static void
test_judge_206 (void)
{
  /* Exactly the range. */
  CU_ASSERT_EQUAL (judge (0, 1, 206, "bytes 0-0/1048576", 1, false),
                   RANGE_OK);
  CU_ASSERT_EQUAL (judge (4096, 4096, 206, "bytes 4096-8191/1048576",
                          4096, false), RANGE_OK);
  CU_ASSERT_EQUAL (judge (4096, 4096, 206, "bytes 4096-8191/*", 4096, false),
                   RANGE_OK);
  /* Short because the object ends there. */
  CU_ASSERT_EQUAL (judge (1048000, 4096, 206, "bytes 1048000-1048575/1048576",
                          576, false), RANGE_OK);
  /* Short, but the object goes on, or its size is not said. */
  CU_ASSERT_EQUAL (judge (0, 4096, 206, "bytes 0-99/1048576", 100, false),
                   RANGE_OTHER_BYTES);
  CU_ASSERT_EQUAL (judge (0, 4096, 206, "bytes 0-99/*", 100, false),
                   RANGE_OTHER_BYTES);
  /* Other bytes: another start, past the end asked (s3rver answers
   * bytes=0-0 with the whole object), a whole-object 206.
   */
  CU_ASSERT_EQUAL (judge (4096, 4096, 206, "bytes 0-4095/1048576", 4096,
                          false), RANGE_OTHER_BYTES);
  CU_ASSERT_EQUAL (judge (0, 1, 206, "bytes 0-1048575/1048576", 1, true),
                   RANGE_OTHER_BYTES);
  /* No header, a bad one, a 416's on a 206. */
  CU_ASSERT_EQUAL (judge (0, 4096, 206, "", 4096, false), RANGE_NO_HEADER);
  CU_ASSERT_EQUAL (judge (0, 4096, 206, NULL, 4096, false), RANGE_NO_HEADER);
  CU_ASSERT_EQUAL (judge (0, 4096, 206, "bytes 0-4095", 4096, false),
                   RANGE_BAD_HEADER);
  CU_ASSERT_EQUAL (judge (0, 4096, 206, "bytes */1048576", 0, false),
                   RANGE_BAD_HEADER);
  /* The body is not what the header names. */
  CU_ASSERT_EQUAL (judge (0, 4096, 206, "bytes 0-4095/1048576", 4000, false),
                   RANGE_BAD_LENGTH);
  CU_ASSERT_EQUAL (judge (0, 4096, 206, "bytes 0-4095/1048576", 4096, true),
                   RANGE_BAD_LENGTH);
}

static void
test_judge_200 (void)
{
  /* The whole object is the range's bytes: from 0, and it fits. */
  CU_ASSERT_EQUAL (judge (0, 4096, 200, "", 4096, false), RANGE_OK);
  CU_ASSERT_EQUAL (judge (0, 4096, 200, "", 100, false), RANGE_OK);
  /* Longer than the range, or from another offset: ignored Range. */
  CU_ASSERT_EQUAL (judge (0, 4096, 200, "", 4096, true), RANGE_IGNORED);
  CU_ASSERT_EQUAL (judge (1, 4096, 200, "", 0, true), RANGE_IGNORED);
  CU_ASSERT_EQUAL (judge (4096, 4096, 200, "", 4096, false), RANGE_IGNORED);
  /* Other 2xx. */
  CU_ASSERT_EQUAL (judge (0, 4096, 204, "", 0, false), RANGE_BAD_STATUS);
}

static void
test_explain (void)
{
  struct range_reply r = { .status = 206,
                           .content_range = "bytes 0-1048575/1048576",
                           .got = 1, .too_long = true };
  char buf[256];

  CU_ASSERT_PTR_NOT_NULL (strstr (range_verdict_explain (RANGE_IGNORED, &r,
                                                         buf, sizeof buf),
                                  "ignored the Range header"));
  CU_ASSERT_PTR_NOT_NULL (strstr (range_verdict_explain (RANGE_OTHER_BYTES,
                                                         &r, buf, sizeof buf),
                                  "\"bytes 0-1048575/1048576\""));
  r.status = 204;
  CU_ASSERT_PTR_NOT_NULL (strstr (range_verdict_explain (RANGE_BAD_STATUS,
                                                         &r, buf, sizeof buf),
                                  "HTTP 204"));
}

UNIT_SUITES (add_content_range_tests)
{
  CU_pSuite s = CU_add_suite ("content-range", NULL, NULL);

  CU_add_test (s, "parse: the forms S3 sends", test_parse_good);
  CU_add_test (s, "parse: malformed headers refused", test_parse_bad);
  CU_add_test (s, "judge: 206", test_judge_206);
  CU_add_test (s, "judge: 200 and other 2xx", test_judge_200);
  CU_add_test (s, "explain", test_explain);
}
