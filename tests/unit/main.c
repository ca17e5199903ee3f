/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: CUnit runner.  Exit status 0 only if every test
 * passed, so make check and CI see failures.
 */

#include <config.h>

#include <stdio.h>
#include <stdlib.h>

#include <CUnit/Basic.h>

#include "bufpool.h"
#include "tests.h"

int
main (void)
{
  unsigned failures;

  if (CU_initialize_registry () != CUE_SUCCESS) {
    fprintf (stderr, "CUnit: %s\n", CU_get_error_msg ());
    return EXIT_FAILURE;
  }
  add_config_tests ();
  add_export_tests ();
  add_format_tests ();
  add_lease_tests ();
  add_map_tests ();
  add_volume_tests ();
  add_layout_tests ();
  add_cas_format_tests ();
  add_cas_tree_tests ();
  add_cas_layout_tests ();
  add_s3store_tests ();
  add_v4_tests ();
  add_cas_admin_tests ();
  if (CU_get_error () != CUE_SUCCESS) {
    fprintf (stderr, "CUnit: %s\n", CU_get_error_msg ());
    return EXIT_FAILURE;
  }
  CU_basic_set_mode (CU_BRM_VERBOSE);
  CU_basic_run_tests ();
  failures = CU_get_number_of_failures () + CU_get_number_of_tests_failed ();
  if (CU_get_number_of_tests_run () == 0)
    failures = 1;
  CU_cleanup_registry ();
  bufpool_cleanup ();
  return failures ? EXIT_FAILURE : EXIT_SUCCESS;
}
