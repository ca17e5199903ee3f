/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): the nbdkit functions that the plugin's
 * core library calls, for a program that runs outside nbdkit.  Errors
 * go to stderr as "s3blocks: ...", debug messages only with -v.  The
 * value parsers are common/nbdkit-parse.c, shared with the unit tests.
 */

#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "admin.h"

bool admin_verbose;

void
nbdkit_verror (const char *fmt, va_list args)
{
  int saved_errno = errno;

  fprintf (stderr, "s3blocks: ");
  errno = saved_errno;          /* for %m */
  vfprintf (stderr, fmt, args);
  fprintf (stderr, "\n");
  errno = saved_errno;
}

void
nbdkit_error (const char *fmt, ...)
{
  va_list args;

  va_start (args, fmt);
  nbdkit_verror (fmt, args);
  va_end (args);
}

void
nbdkit_vdebug (const char *fmt, va_list args)
{
  int saved_errno = errno;

  if (admin_verbose) {
    fprintf (stderr, "s3blocks: debug: ");
    errno = saved_errno;
    vfprintf (stderr, fmt, args);
    fprintf (stderr, "\n");
  }
  errno = saved_errno;
}

void
nbdkit_debug (const char *fmt, ...)
{
  va_list args;

  va_start (args, fmt);
  nbdkit_vdebug (fmt, args);
  va_end (args);
}

/* A literal secret, +FILE (first line) or -FD.  "-" (a prompt) is
 * refused: this command asks nothing interactive.
 */
int
nbdkit_read_password (const char *value, char **password)
{
  FILE *fp = NULL;
  char buf[4096];
  size_t n;

  *password = NULL;
  if (strcmp (value, "-") == 0) {
    nbdkit_error ("secret-key=-: the s3blocks command does not prompt; "
                  "use secret-key=+FILE or -FD");
    return -1;
  }
  if (value[0] == '+') {
    fp = fopen (value + 1, "r");
    if (fp == NULL) {
      nbdkit_error ("secret-key: cannot open %s: %m", value + 1);
      return -1;
    }
  }
  else if (value[0] == '-' && isdigit ((unsigned char) value[1])) {
    fp = fdopen (atoi (value + 1), "r");
    if (fp == NULL) {
      nbdkit_error ("secret-key: cannot read file descriptor %s: %m",
                    value + 1);
      return -1;
    }
  }
  if (fp == NULL)
    *password = strdup (value);
  else {
    n = fread (buf, 1, sizeof buf - 1, fp);
    fclose (fp);
    buf[n] = '\0';
    buf[strcspn (buf, "\r\n")] = '\0';
    *password = strdup (buf);
    memset (buf, 0, sizeof buf);
  }
  if (*password == NULL) {
    nbdkit_error ("strdup: %m");
    return -1;
  }
  return 0;
}
