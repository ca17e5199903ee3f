/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: stand-ins for nbdkit's functions. */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "stubs.h"

char last_error[1024];
char error_log[8192];
unsigned error_count;

void
stubs_reset_errors (void)
{
  last_error[0] = '\0';
  error_log[0] = '\0';
  error_count = 0;
}

void
nbdkit_verror (const char *fmt, va_list args)
{
  int saved_errno = errno;

  size_t used = strlen (error_log);

  vsnprintf (last_error, sizeof last_error, fmt, args);
  snprintf (error_log + used, sizeof error_log - used, "%s\n", last_error);
  error_count++;
  if (getenv ("S3BLOCKS_UNIT_VERBOSE"))
    fprintf (stderr, "error: %s\n", last_error);
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

  if (getenv ("S3BLOCKS_UNIT_VERBOSE")) {
    fprintf (stderr, "debug: ");
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

/* Literal values and +FILE. */
int
nbdkit_read_password (const char *value, char **password)
{
  if (value[0] == '+') {
    FILE *fp = fopen (value + 1, "r");
    char buf[256];
    size_t n;

    if (fp == NULL) {
      nbdkit_error ("open %s: %m", value + 1);
      return -1;
    }
    n = fread (buf, 1, sizeof buf - 1, fp);
    fclose (fp);
    buf[n] = '\0';
    if (n > 0 && buf[n-1] == '\n')
      buf[n-1] = '\0';
    *password = strdup (buf);
  }
  else
    *password = strdup (value);
  return *password ? 0 : -1;
}
