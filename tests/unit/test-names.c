/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: format/names, the one grammar of EXPORT@SNAP. */

#include <config.h>

#include <errno.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "format/names.h"
#include "nbdkit-standin.h"
#include "tests.h"

static void
test_names (void)
{
  char longest[MAX_EXPORT_NAME + 1], too_long[MAX_EXPORT_NAME + 2];

  memset (longest, 'a', MAX_EXPORT_NAME);
  longest[MAX_EXPORT_NAME] = '\0';
  memset (too_long, 'a', MAX_EXPORT_NAME + 1);
  too_long[MAX_EXPORT_NAME + 1] = '\0';

  CU_ASSERT_TRUE (name_is_valid ("vm-1.img_2"));
  CU_ASSERT_TRUE (name_is_valid (longest));
  CU_ASSERT_FALSE (name_is_valid (too_long));
  CU_ASSERT_FALSE (name_is_valid (""));
  CU_ASSERT_FALSE (name_is_valid ("."));
  CU_ASSERT_FALSE (name_is_valid (".."));
  CU_ASSERT_FALSE (name_is_valid ("a/b"));
  CU_ASSERT_FALSE (name_is_valid ("a@b"));
  CU_ASSERT_FALSE (name_is_valid ("caf\xc3\xa9"));
  CU_ASSERT_TRUE (name_is_valid_n ("ab/", 2));
  CU_ASSERT_FALSE (name_is_valid_n ("ab", 0));
}

static void
test_refs (void)
{
  struct name_ref ref;
  char buf[NAME_REF_MAX];

  CU_ASSERT_EQUAL (name_ref_parse (NULL, "golden", &ref), 0);
  CU_ASSERT_STRING_EQUAL (ref.export, "golden");
  CU_ASSERT_FALSE (name_ref_is_snapshot (&ref));
  CU_ASSERT_EQUAL (name_ref_parse ("export", "golden@v1", &ref), 0);
  CU_ASSERT_STRING_EQUAL (ref.export, "golden");
  CU_ASSERT_STRING_EQUAL (ref.snap, "v1");
  CU_ASSERT_TRUE (name_ref_is_snapshot (&ref));
  name_ref_format (&ref, buf, sizeof buf);
  CU_ASSERT_STRING_EQUAL (buf, "golden@v1");

  standin_reset_errors ();
  errno = 0;
  CU_ASSERT_EQUAL (name_ref_parse ("export", "golden@", &ref), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  CU_ASSERT_TRUE ((strstr (standin_last_error, "export: invalid name \"golden@\": EXPORT@SNAP needs a snapshot") != NULL));
  CU_ASSERT_TRUE ((strstr (standin_last_error, "golden@") != NULL));
  standin_reset_errors ();
  CU_ASSERT_EQUAL (name_ref_parse (NULL, "@v1", &ref), -1);
  CU_ASSERT_TRUE ((strstr (standin_last_error,
                           "needs an export name") != NULL));
  CU_ASSERT_EQUAL (name_ref_parse (NULL, "a@b@c", &ref), -1);
  CU_ASSERT_EQUAL (name_ref_parse (NULL, "../x", &ref), -1);
  CU_ASSERT_TRUE ((strstr (standin_last_error, "invalid export name \"../x\": use 1 to") != NULL));
  CU_ASSERT_FALSE (name_ref_split ("a@", &ref));
  CU_ASSERT_TRUE (name_ref_split ("a@b", &ref));
  CU_ASSERT_TRUE (name_ref_is_valid_n ("a@bc", 3));
  CU_ASSERT_FALSE (name_ref_is_valid_n ("a@bc", 2));
  CU_ASSERT_TRUE (name_text_is_snapshot ("a@b"));
  CU_ASSERT_FALSE (name_text_is_snapshot ("a"));
}

static void
test_allowed (void)
{
  CU_ASSERT_TRUE (name_allowed (NULL, "anything@snap"));
  CU_ASSERT_TRUE (name_allowed ("vm*,db", "vm1@monday"));
  CU_ASSERT_TRUE (name_allowed ("vm*,db", "db@x"));
  CU_ASSERT_FALSE (name_allowed ("vm*,db", "db2@x"));
  CU_ASSERT_FALSE (name_allowed ("db", "xdb"));
}

UNIT_SUITES (add_name_tests)
{
  CU_pSuite s = CU_add_suite ("names", NULL, NULL);

  CU_add_test (s, "names", test_names);
  CU_add_test (s, "EXPORT@SNAP", test_refs);
  CU_add_test (s, "exports= globs", test_allowed);
}
