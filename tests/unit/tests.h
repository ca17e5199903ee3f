/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: how a test file adds its suites.
 *
 * A file ends with
 *
 *   UNIT_SUITES (add_foo_tests)
 *   {
 *     CU_pSuite s = CU_add_suite ("foo", NULL, NULL);
 *     CU_add_test (s, "does this", test_this);
 *   }
 *
 * and registers itself when the program starts, so adding a test file
 * is one line in tests/Makefile.am.  "test-units foo" runs one suite;
 * "test-units --list" names them all.
 */

#ifndef S3BLOCKS_TESTS_H
#define S3BLOCKS_TESTS_H

typedef void (*unit_adder) (void);

extern void unit_register (const char *name, unit_adder add);

/* How many rounds a randomised test runs: full, or fewer when
 * S3BLOCKS_UNIT_ROUNDS=N caps them (make check-valgrind does, because
 * under valgrind a round costs a hundred times more and its point
 * there is memory errors on the same paths, not more seeds; the plain
 * run always does them all).
 */
extern unsigned unit_rounds (unsigned full);

#define UNIT_SUITES(fn)                                         \
  static void fn (void);                                        \
  __attribute__ ((constructor)) static void                     \
  fn##_register (void)                                          \
  {                                                             \
    unit_register (#fn, fn);                                    \
  }                                                             \
  static void fn (void)

#endif /* S3BLOCKS_TESTS_H */
