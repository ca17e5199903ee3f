/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: stand-ins for nbdkit's functions. */

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
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

/* Enough of nbdkit's size syntax for the tests: digits and one of
 * b k m g t p e in either case.
 */
int64_t
nbdkit_parse_size (const char *str)
{
  char *end;
  uint64_t n, scale = 1;

  if (!isdigit ((unsigned char) *str)) {
    nbdkit_error ("could not parse size string (%s)", str);
    return -1;
  }
  errno = 0;
  n = strtoull (str, &end, 10);
  if (errno) {
    nbdkit_error ("size (%s) exceeds maximum value", str);
    return -1;
  }
  if (*end) {
    const char *units = "bkmgtpe";
    const char *u = strchr (units, tolower ((unsigned char) *end));
    if (u == NULL || end[1] != '\0') {
      nbdkit_error ("could not parse size: unknown suffix '%s'", end);
      return -1;
    }
    for (int i = 0; i < u - units; i++)
      scale *= 1024;
  }
  if (n > (uint64_t) INT64_MAX / scale) {
    nbdkit_error ("size (%s) exceeds maximum value", str);
    return -1;
  }
  return n * scale;
}

int
nbdkit_parse_bool (const char *str)
{
  if (!strcasecmp (str, "1") || !strcasecmp (str, "true") ||
      !strcasecmp (str, "on") || !strcasecmp (str, "yes"))
    return 1;
  if (!strcasecmp (str, "0") || !strcasecmp (str, "false") ||
      !strcasecmp (str, "off") || !strcasecmp (str, "no"))
    return 0;
  nbdkit_error ("could not decipher boolean (%s)", str);
  return -1;
}

int
nbdkit_parse_unsigned (const char *what, const char *str, unsigned *r)
{
  char *end;
  unsigned long v;

  errno = 0;
  if (!isdigit ((unsigned char) *str)) {
    nbdkit_error ("%s: could not parse number: \"%s\"", what, str);
    return -1;
  }
  v = strtoul (str, &end, 0);
  if (errno || *end || v > UINT_MAX) {
    nbdkit_error ("%s: could not parse number: \"%s\"", what, str);
    return -1;
  }
  *r = v;
  return 0;
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
