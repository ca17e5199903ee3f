/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: nbdkit's value parsers (sizes, booleans, numbers), part of
 * the nbdkit stand-in (nbdkit-standin.h) for the programs that link the
 * plugin's core library outside nbdkit: the admin command and the unit
 * tests.  They accept what nbdkit's own do for the keys s3blocks takes
 * (and for nbdkit_read_password's -FD), with the same messages, so that
 * a key is judged the same by the plugin and the command.
 */

#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <nbdkit-plugin.h>

/* Digits and one of b k m g t p e, either case, as nbdkit takes. */
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

  if (!isdigit ((unsigned char) *str)) {
    nbdkit_error ("%s: could not parse number: \"%s\"", what, str);
    return -1;
  }
  errno = 0;
  v = strtoul (str, &end, 0);
  if (errno || *end || v > UINT_MAX) {
    nbdkit_error ("%s: could not parse number: \"%s\"", what, str);
    return -1;
  }
  *r = v;
  return 0;
}

/* Decimal, 0x hex or 0 octal, with a sign, as nbdkit (strtol) takes. */
int
nbdkit_parse_int (const char *what, const char *str, int *r)
{
  char *end;
  long v;

  errno = 0;
  v = strtol (str, &end, 0);
  if (errno || end == str || *end || v < INT_MIN || v > INT_MAX) {
    nbdkit_error ("%s: could not parse number: \"%s\"", what, str);
    return -1;
  }
  *r = v;
  return 0;
}
