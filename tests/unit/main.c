/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: CUnit runner.
 *
 *   test-units              every suite
 *   test-units SUITE...     only those suites (an unknown name fails)
 *   test-units --list       the suites' names
 *
 * Exit status 0 only if every test that ran passed and at least one
 * ran, so make check and CI see failures.
 */

#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/Basic.h>

#include "bufpool.h"
#include "nbdkit-standin.h"
#include "tests.h"

#define MAX_ADDERS 64

struct adder {
  const char *name;
  unit_adder add;
};

static struct adder adders[MAX_ADDERS];
static size_t nr_adders;

void
unit_register (const char *name, unit_adder add)
{
  if (nr_adders == MAX_ADDERS) {
    fprintf (stderr, "test-units: more than %d test files: raise MAX_ADDERS\n",
             MAX_ADDERS);
    abort ();
  }
  adders[nr_adders].name = name;
  adders[nr_adders].add = add;
  nr_adders++;
}

/* Constructors run in link order, which the build may change: sort,
 * so the suites always run in the same order.
 */
static int
compare_adders (const void *a, const void *b)
{
  return strcmp (((const struct adder *) a)->name,
                 ((const struct adder *) b)->name);
}

/* Run only the suites named in names[0..n-1]: false if one is unknown. */
static bool
select_suites (char **names, int n)
{
  CU_pSuite s;
  int i;

  for (s = CU_get_registry ()->pSuite; s != NULL; s = s->pNext)
    CU_set_suite_active (s, CU_FALSE);
  for (i = 0; i < n; i++) {
    s = CU_get_suite (names[i]);
    if (s == NULL) {
      fprintf (stderr, "test-units: no suite \"%s\" (test-units --list "
               "names them)\n", names[i]);
      return false;
    }
    CU_set_suite_active (s, CU_TRUE);
  }
  return true;
}

unsigned
unit_rounds (unsigned full)
{
  const char *cap = getenv ("S3BLOCKS_UNIT_ROUNDS");
  char *end;
  unsigned long n;

  if (cap == NULL || *cap == '\0')
    return full;
  errno = 0;
  n = strtoul (cap, &end, 10);
  if (errno != 0 || *end != '\0' || n == 0) {
    fprintf (stderr, "test-units: S3BLOCKS_UNIT_ROUNDS=%s: use a positive "
             "number\n", cap);
    exit (EXIT_FAILURE);
  }
  return n < full ? (unsigned) n : full;
}

int
main (int argc, char **argv)
{
  unsigned failures;
  size_t i;

  /* Errors are kept for the tests to assert on, and printed too (with
   * debug messages) when S3BLOCKS_UNIT_VERBOSE is set.
   */
  standin_init (STANDIN_RECORD, getenv ("S3BLOCKS_UNIT_VERBOSE") != NULL);
  if (CU_initialize_registry () != CUE_SUCCESS) {
    fprintf (stderr, "CUnit: %s\n", CU_get_error_msg ());
    return EXIT_FAILURE;
  }
  qsort (adders, nr_adders, sizeof *adders, compare_adders);
  for (i = 0; i < nr_adders; i++)
    adders[i].add ();
  if (CU_get_error () != CUE_SUCCESS) {
    fprintf (stderr, "CUnit: %s\n", CU_get_error_msg ());
    return EXIT_FAILURE;
  }
  if (argc == 2 && strcmp (argv[1], "--list") == 0) {
    for (CU_pSuite s = CU_get_registry ()->pSuite; s != NULL; s = s->pNext)
      printf ("%s\n", s->pName);
    CU_cleanup_registry ();
    return EXIT_SUCCESS;
  }
  if (argc > 1 && !select_suites (argv + 1, argc - 1)) {
    CU_cleanup_registry ();
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
