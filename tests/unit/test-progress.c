/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the admin command's progress line
 * (admin/progress.c): counts, rate, time left, an unknown or passed
 * total, the final line, the width, and at most ten redraws a second.
 */

#include <config.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "progress.h"
#include "tests.h"

static char buf[256];

#define FORMAT(...) progress_format (buf, sizeof buf, __VA_ARGS__)

static void
test_known_total (void)
{
  /* 12,345 in 10 s: 1,234/s; 27,655 left at that rate: 22.4 s, up. */
  CU_ASSERT_STRING_EQUAL (FORMAT ("gc: sweep", "objects", 12345, 40000,
                                  true, 10000, false, 0),
                          "gc: sweep: 12,345 of ~40,000 objects, 1,234/s, "
                          "0:23 left");
  CU_ASSERT_STRING_EQUAL (FORMAT ("clone", "blocks", 1000, 10000000,
                                  false, 1000, false, 0),
                          "clone: 1,000 of 10,000,000 blocks, 1,000/s, "
                          "2:46:39 left");
  /* Done: nothing left. */
  CU_ASSERT_STRING_EQUAL (FORMAT ("clone", "blocks", 10, 10, false, 1000,
                                  false, 0),
                          "clone: 10 of 10 blocks, 10/s, 0:00 left");
}

static void
test_unknown_total (void)
{
  CU_ASSERT_STRING_EQUAL (FORMAT ("gc: mark", "objects referenced",
                                  1234567, PROGRESS_UNKNOWN, false, 10000,
                                  false, 0),
                          "gc: mark: 1,234,567 objects referenced, "
                          "123,456/s");
  /* An estimate passed is no total: no "of", no time left. */
  CU_ASSERT_STRING_EQUAL (FORMAT ("gc: sweep", "objects", 500, 400, true,
                                  1000, false, 0),
                          "gc: sweep: 500 objects, 500/s");
  /* An exact total passed is shown as it is, with no time left. */
  CU_ASSERT_STRING_EQUAL (FORMAT ("x", "blocks", 500, 400, false, 1000,
                                  false, 0),
                          "x: 500 of 400 blocks, 500/s");
}

static void
test_early_and_final (void)
{
  /* Too early for a rate, and nothing done: no rate, no time left. */
  CU_ASSERT_STRING_EQUAL (FORMAT ("clone", "blocks", 5, 10, false, 100,
                                  false, 0),
                          "clone: 5 of 10 blocks");
  CU_ASSERT_STRING_EQUAL (FORMAT ("clone", "blocks", 0, 10, false, 5000,
                                  false, 0),
                          "clone: 0 of 10 blocks");
  /* The final line: the count, the rate and the time taken. */
  CU_ASSERT_STRING_EQUAL (FORMAT ("clone", "blocks", 2048, 2048, false,
                                  2000, true, 0),
                          "clone: 2,048 blocks, 1,024/s, in 0:02");
  CU_ASSERT_STRING_EQUAL (FORMAT ("du", "pages", 0, PROGRESS_UNKNOWN, false,
                                  0, true, 0),
                          "du: 0 pages, in 0:00");
}

static void
test_width (void)
{
  FORMAT ("gc: sweep", "objects", 12345, 40000, true, 10000, false, 20);
  CU_ASSERT_EQUAL (strlen (buf), 19);
  CU_ASSERT_STRING_EQUAL (buf, "gc: sweep: 12,345 o");
  /* Wide enough: whole. */
  FORMAT ("a", "b", 1, PROGRESS_UNKNOWN, false, 0, false, 80);
  CU_ASSERT_STRING_EQUAL (buf, "a: 1 b");
}

static uint64_t fake_ms;

static uint64_t
fake_clock (void)
{
  return fake_ms;
}

/* What the display wrote to stderr while fn ran, in out. */
static void
capture (void (*fn) (void), char *out, size_t len)
{
  FILE *tmp = tmpfile ();
  int saved = dup (STDERR_FILENO);
  size_t got;

  CU_ASSERT_FATAL (tmp != NULL && saved >= 0);
  fflush (stderr);
  dup2 (fileno (tmp), STDERR_FILENO);
  fn ();
  fflush (stderr);
  dup2 (saved, STDERR_FILENO);
  close (saved);
  rewind (tmp);
  got = fread (out, 1, len - 1, tmp);
  out[got] = '\0';
  fclose (tmp);
}

static size_t
count_char (const char *s, char c)
{
  size_t n = 0;

  for (; *s; s++)
    n += *s == c;
  return n;
}

/* 2,000 advances over 2 s: at most 21 lines (one each 100 ms, and the
 * first), one final line, one newline at the end.
 */
static void
run_two_seconds (void)
{
  progress_enable (true);
  progress_set_clock (fake_clock);
  fake_ms = 1000;
  progress_start ("t", "things", 2000);
  for (int i = 0; i < 2000; i++) {
    fake_ms++;
    progress_advance (1);
  }
  progress_finish ();
  progress_set_clock (NULL);
}

/* Off: nothing at all. */
static void
run_off (void)
{
  progress_enable (false);
  progress_start ("t", "things", 10);
  progress_advance (10);
  progress_finish ();
}

static void
test_redraws (void)
{
  static char out[16384];

  capture (run_two_seconds, out, sizeof out);
  CU_ASSERT (count_char (out, '\r') >= 20);
  CU_ASSERT (count_char (out, '\r') <= 22);
  CU_ASSERT_EQUAL (count_char (out, '\n'), 1);
  CU_ASSERT (strlen (out) > 0 && out[strlen (out) - 1] == '\n');
  CU_ASSERT_PTR_NOT_NULL (strstr (out, "\rt: 1 of 2,000 things"));
  CU_ASSERT_PTR_NOT_NULL (strstr (out, "\rt: 2,000 things, 1,000/s, in 0:02"));

  capture (run_off, out, sizeof out);
  CU_ASSERT_STRING_EQUAL (out, "");
}

UNIT_SUITES (add_progress_tests)
{
  CU_pSuite s = CU_add_suite ("progress", NULL, NULL);

  CU_add_test (s, "known total: rate, time left", test_known_total);
  CU_add_test (s, "unknown or passed total", test_unknown_total);
  CU_add_test (s, "early and final lines", test_early_and_final);
  CU_add_test (s, "cut to the width", test_width);
  CU_add_test (s, "at most ten redraws a second", test_redraws);
}
