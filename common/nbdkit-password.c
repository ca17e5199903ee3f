/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: nbdkit_read_password outside nbdkit, part of the nbdkit
 * stand-in (nbdkit-standin.h).  It reads as nbdkit 1.32 does
 * (nbdkit-plugin(3), "Reading passwords"), so that secret-key= gives
 * the admin command the same secret it gives the plugin:
 *
 *   VALUE   the password itself
 *   +FILE   the first line of FILE without its "\n".  Only the "\n"
 *           goes: a "\r" before it (a file with CRLF endings) stays,
 *           as in nbdkit, where the plugin would sign with it too
 *   -FD     the first line read from file descriptor FD, which is
 *           then closed.  -0, -1 and -2 are refused, as nbdkit
 *           refuses them: closing stdin, stdout or stderr would break
 *           the program
 *   -       the first line of stdin.  nbdkit prompts and needs a
 *           terminal; the stand-in prompts only when stdin is one (on
 *           stderr: stdout carries the command's output) and otherwise
 *           reads without a prompt, so that a script can pipe a secret
 *           in (echo "$SECRET" | s3blocks list ... secret-key=-)
 *
 * An empty file or stream gives an empty password, not an error, as
 * in nbdkit; the caller judges it (lib/config refuses an empty key).
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <termios.h>
#include <unistd.h>

#include <nbdkit-plugin.h>

/* The first line of fp, without its "\n", into *password (malloc'd).
 * what names the source in a message.  0, or -1 with errno set.
 */
static int
read_first_line (FILE *fp, const char *what, char **password)
{
  size_t n = 0;
  ssize_t r;

  *password = NULL;
  r = getline (password, &n, fp);
  if (r == -1) {
    int err = errno;

    free (*password);
    *password = NULL;
    if (ferror (fp)) {
      errno = err;
      nbdkit_error ("could not read password from %s: %m", what);
      return -1;
    }
    *password = strdup ("");    /* end of file at once: empty */
    if (*password == NULL) {
      nbdkit_error ("strdup: %m");
      return -1;
    }
    return 0;
  }
  if (r > 0 && (*password)[r - 1] == '\n')
    (*password)[r - 1] = '\0';
  return 0;
}

/* Read fd's first line, then close fd, whatever happened. */
static int
read_fd (const char *what, int fd, char **password)
{
  FILE *fp;
  int r, err;

  fp = fdopen (fd, "r");
  if (fp == NULL) {
    err = errno;
    nbdkit_error ("fdopen %s: %m", what);
    close (fd);
    errno = err;
    return -1;
  }
  r = read_first_line (fp, what, password);
  err = errno;
  fclose (fp);
  errno = err;
  return r;
}

/* The "-" form: stdin's first line, with a prompt and no echo only
 * when a person is typing it.
 */
static int
read_stdin (char **password)
{
  struct termios orig, noecho;
  bool tty = isatty (STDIN_FILENO);
  bool echo_off = false;
  int r, err;

  if (tty) {
    fprintf (stderr, "password: ");
    if (tcgetattr (STDIN_FILENO, &orig) == 0) {
      noecho = orig;
      noecho.c_lflag &= ~ECHO;
      echo_off = tcsetattr (STDIN_FILENO, TCSAFLUSH, &noecho) == 0;
    }
  }
  r = read_first_line (stdin, "stdin", password);
  err = errno;
  if (echo_off)
    tcsetattr (STDIN_FILENO, TCSAFLUSH, &orig);
  if (tty)
    fprintf (stderr, "\n");     /* Enter was not echoed */
  errno = err;
  return r;
}

int
nbdkit_read_password (const char *value, char **password)
{
  *password = NULL;

  if (strcmp (value, "-") == 0)
    return read_stdin (password);

  if (value[0] == '-') {
    int fd;

    if (nbdkit_parse_int ("password file descriptor", &value[1], &fd) == -1) {
      errno = EINVAL;
      return -1;
    }
    if (fd == STDIN_FILENO || fd == STDOUT_FILENO || fd == STDERR_FILENO) {
      nbdkit_error ("cannot use password -FD for stdin/stdout/stderr");
      errno = EINVAL;
      return -1;
    }
    return read_fd (&value[1], fd, password);
  }

  if (value[0] == '+') {
    int fd = open (&value[1], O_RDONLY | O_CLOEXEC);

    if (fd == -1) {
      nbdkit_error ("open %s: %m", &value[1]);
      return -1;
    }
    return read_fd (&value[1], fd, password);
  }

  *password = strdup (value);
  if (*password == NULL) {
    nbdkit_error ("strdup: %m");
    return -1;
  }
  return 0;
}
