/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the nbdkit stand-in (nbdkit-standin.h), in
 * record mode as every unit test uses it: nbdkit_read_password in each
 * form nbdkit 1.32 takes, and the recording of errors.
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include <nbdkit-plugin.h>

#include "nbdkit-standin.h"
#include "tests.h"

static char path[] = "/tmp/s3blocks-standin-XXXXXX";

/* A temporary file holding len bytes of text; its name in path. */
static void
write_file (const char *text, size_t len)
{
  int fd;

  strcpy (path, "/tmp/s3blocks-standin-XXXXXX");
  fd = mkstemp (path);
  CU_ASSERT_FATAL (fd >= 0);
  CU_ASSERT_FATAL (write (fd, text, len) == (ssize_t) len);
  close (fd);
}

/* nbdkit_read_password ("+FILE") of a file holding text: the password
 * read, malloc'd, or NULL if it failed.
 */
static char *
read_plus_file (const char *text)
{
  char value[sizeof path + 1];
  char *password;

  write_file (text, strlen (text));
  snprintf (value, sizeof value, "+%s", path);
  if (nbdkit_read_password (value, &password) == -1)
    password = NULL;
  unlink (path);
  return password;
}

static bool
fd_is_open (int fd)
{
  return fcntl (fd, F_GETFD) != -1;
}

static void
test_plain (void)
{
  char *password;

  CU_ASSERT_EQUAL (nbdkit_read_password ("mostsecret", &password), 0);
  CU_ASSERT_STRING_EQUAL (password, "mostsecret");
  free (password);
  /* Not a form: neither "-" nor "+" first. */
  CU_ASSERT_EQUAL (nbdkit_read_password ("a+b-c", &password), 0);
  CU_ASSERT_STRING_EQUAL (password, "a+b-c");
  free (password);
  CU_ASSERT_EQUAL (nbdkit_read_password ("", &password), 0);
  CU_ASSERT_STRING_EQUAL (password, "");
  free (password);
}

/* The first line, without its "\n"; nothing else is stripped. */
static void
test_file (void)
{
  char *p;

  p = read_plus_file ("secret\n");
  CU_ASSERT_STRING_EQUAL (p, "secret");
  free (p);
  p = read_plus_file ("secret");
  CU_ASSERT_STRING_EQUAL (p, "secret");
  free (p);
  p = read_plus_file ("secret\n\n");
  CU_ASSERT_STRING_EQUAL (p, "secret");
  free (p);
  p = read_plus_file ("secret\nsecond line\n");
  CU_ASSERT_STRING_EQUAL (p, "secret");
  free (p);
  p = read_plus_file ("  spaced secret \n");
  CU_ASSERT_STRING_EQUAL (p, "  spaced secret ");
  free (p);
}

/* nbdkit 1.32 strips only the "\n" of a CRLF line, so the plugin would
 * sign with "secret\r": the stand-in must read the same, or the admin
 * command would work with a key file that the plugin cannot.
 */
static void
test_file_crlf (void)
{
  char *p;

  p = read_plus_file ("secret\r\n");
  CU_ASSERT_STRING_EQUAL (p, "secret\r");
  free (p);
  p = read_plus_file ("secret\r\nsecond\r\n");
  CU_ASSERT_STRING_EQUAL (p, "secret\r");
  free (p);
}

/* An empty file, or one empty line, is an empty password (lib/config
 * refuses it, with its own message), not a read error.
 */
static void
test_file_empty (void)
{
  char *p;

  standin_reset_errors ();
  p = read_plus_file ("");
  CU_ASSERT_PTR_NOT_NULL_FATAL (p);
  CU_ASSERT_STRING_EQUAL (p, "");
  free (p);
  p = read_plus_file ("\n");
  CU_ASSERT_PTR_NOT_NULL_FATAL (p);
  CU_ASSERT_STRING_EQUAL (p, "");
  free (p);
  CU_ASSERT_EQUAL (standin_error_count, 0);
}

static void
test_file_missing (void)
{
  char *password = (char *) "untouched";

  standin_reset_errors ();
  errno = 0;
  CU_ASSERT_EQUAL (nbdkit_read_password ("+/nonexistent/secret", &password),
                   -1);
  CU_ASSERT_EQUAL (errno, ENOENT);
  CU_ASSERT_PTR_NULL (password);
  CU_ASSERT_EQUAL (standin_error_count, 1);
  CU_ASSERT_STRING_EQUAL (standin_last_error,
                          "open /nonexistent/secret: No such file or "
                          "directory");
}

/* -FD reads the first line from the descriptor, then closes it. */
static void
test_fd (void)
{
  static const char text[] = "piped secret\nnot this\n";
  char value[16];
  char *password;
  int fds[2];

  CU_ASSERT_FATAL (pipe (fds) == 0);
  CU_ASSERT_FATAL (write (fds[1], text, strlen (text))
                   == (ssize_t) strlen (text));
  close (fds[1]);
  snprintf (value, sizeof value, "-%d", fds[0]);
  CU_ASSERT_EQUAL (nbdkit_read_password (value, &password), 0);
  CU_ASSERT_STRING_EQUAL (password, "piped secret");
  free (password);
  CU_ASSERT_FALSE (fd_is_open (fds[0]));

  /* A descriptor from a file, with no newline at its end. */
  write_file ("from a file", 11);
  fds[0] = open (path, O_RDONLY);
  unlink (path);
  CU_ASSERT_FATAL (fds[0] >= 0);
  snprintf (value, sizeof value, "-%d", fds[0]);
  CU_ASSERT_EQUAL (nbdkit_read_password (value, &password), 0);
  CU_ASSERT_STRING_EQUAL (password, "from a file");
  free (password);
  CU_ASSERT_FALSE (fd_is_open (fds[0]));

  /* The writer closed at once: an empty password. */
  CU_ASSERT_FATAL (pipe (fds) == 0);
  close (fds[1]);
  snprintf (value, sizeof value, "-%d", fds[0]);
  CU_ASSERT_EQUAL (nbdkit_read_password (value, &password), 0);
  CU_ASSERT_STRING_EQUAL (password, "");
  free (password);
  CU_ASSERT_FALSE (fd_is_open (fds[0]));
}

/* -0, -1 and -2 are refused and left open, as nbdkit does: closing
 * them would break the program.  Not a number, or not open: refused.
 */
static void
test_fd_refused (void)
{
  static const char *const std[] = { "-0", "-1", "-2" };
  char *password;
  int fd;

  for (size_t i = 0; i < 3; i++) {
    standin_reset_errors ();
    errno = 0;
    CU_ASSERT_EQUAL (nbdkit_read_password (std[i], &password), -1);
    CU_ASSERT_EQUAL (errno, EINVAL);
    CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error,
                                    "stdin/stdout/stderr"));
    CU_ASSERT_TRUE (fd_is_open ((int) i));
  }

  standin_reset_errors ();
  CU_ASSERT_EQUAL (nbdkit_read_password ("-x3", &password), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error,
                                  "password file descriptor"));
  CU_ASSERT_EQUAL (nbdkit_read_password ("-3x", &password), -1);
  CU_ASSERT_EQUAL (standin_error_count, 2);

  /* A descriptor number that is not open. */
  fd = open ("/dev/null", O_RDONLY);
  CU_ASSERT_FATAL (fd >= 0);
  close (fd);
  {
    char value[16];

    snprintf (value, sizeof value, "-%d", fd);
    standin_reset_errors ();
    CU_ASSERT_EQUAL (nbdkit_read_password (value, &password), -1);
    CU_ASSERT_EQUAL (errno, EBADF);
    CU_ASSERT_EQUAL (standin_error_count, 1);
  }
}

/* "-" with stdin not a terminal: its first line, without a prompt. */
static void
test_stdin (void)
{
  static const char text[] = "typed secret\n";
  char *password;
  int saved, fds[2];

  saved = dup (STDIN_FILENO);
  CU_ASSERT_FATAL (saved >= 0);
  CU_ASSERT_FATAL (pipe (fds) == 0);
  CU_ASSERT_FATAL (write (fds[1], text, strlen (text))
                   == (ssize_t) strlen (text));
  close (fds[1]);
  CU_ASSERT_FATAL (dup2 (fds[0], STDIN_FILENO) == STDIN_FILENO);
  close (fds[0]);

  CU_ASSERT_EQUAL (nbdkit_read_password ("-", &password), 0);
  CU_ASSERT_STRING_EQUAL (password, "typed secret");
  free (password);
  /* Nothing more: an empty password. */
  CU_ASSERT_EQUAL (nbdkit_read_password ("-", &password), 0);
  CU_ASSERT_STRING_EQUAL (password, "");
  free (password);

  /* stdin stays open (it is not -FD), and is the test's own again. */
  CU_ASSERT_FATAL (dup2 (saved, STDIN_FILENO) == STDIN_FILENO);
  close (saved);
  clearerr (stdin);
}

/* Record mode keeps each message, with %m as errno was at the call,
 * and leaves errno as it was.
 */
static void
test_record (void)
{
  standin_reset_errors ();
  CU_ASSERT_EQUAL (standin_error_count, 0);
  CU_ASSERT_STRING_EQUAL (standin_last_error, "");
  CU_ASSERT_STRING_EQUAL (standin_error_log, "");

  errno = ENOSPC;
  nbdkit_error ("first %d: %m", 1);
  CU_ASSERT_EQUAL (errno, ENOSPC);
  errno = EIO;
  nbdkit_error ("second");
  CU_ASSERT_EQUAL (errno, EIO);
  nbdkit_debug ("a debug message is not an error");
  CU_ASSERT_EQUAL (errno, EIO);

  CU_ASSERT_EQUAL (standin_error_count, 2);
  CU_ASSERT_STRING_EQUAL (standin_last_error, "second");
  CU_ASSERT_STRING_EQUAL (standin_error_log,
                          "first 1: No space left on device\nsecond\n");
  standin_reset_errors ();
  CU_ASSERT_EQUAL (standin_error_count, 0);
  CU_ASSERT_STRING_EQUAL (standin_error_log, "");
}

UNIT_SUITES (add_standin_tests)
{
  CU_pSuite s = CU_add_suite ("standin", NULL, NULL);

  CU_add_test (s, "password: plain value", test_plain);
  CU_add_test (s, "password: +FILE", test_file);
  CU_add_test (s, "password: +FILE with CRLF", test_file_crlf);
  CU_add_test (s, "password: +FILE empty", test_file_empty);
  CU_add_test (s, "password: +FILE missing", test_file_missing);
  CU_add_test (s, "password: -FD", test_fd);
  CU_add_test (s, "password: -0, -1, -2 and bad FDs", test_fd_refused);
  CU_add_test (s, "password: - from stdin", test_stdin);
  CU_add_test (s, "errors recorded", test_record);
}
