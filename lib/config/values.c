/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the values config keys take: strings, booleans, sizes,
 * counts and durations, each refused with a message naming the key.
 */

#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "config-impl.h"

int
set_string (char **field, const char *value)
{
  char *copy = strdup (value);

  if (copy == NULL) {
    nbdkit_error ("strdup: %m");
    return -1;
  }
  free (*field);
  *field = copy;
  return 0;
}

int
parse_bool_key (const char *key, const char *value, bool *r)
{
  int b = nbdkit_parse_bool (value);

  if (b == -1) {
    nbdkit_error ("%s: expected true or false, got \"%s\"", key, value);
    errno = EINVAL;
    return -1;
  }
  *r = b;
  return 0;
}

/* A size key: nbdkit_parse_size forms, within [min, max]. */
int
parse_size_key (const char *key, const char *value,
                int64_t min, int64_t max, int64_t *r)
{
  int64_t size = nbdkit_parse_size (value);

  if (size == -1) {
    /* nbdkit_parse_size has said why; add which key. */
    nbdkit_error ("%s: cannot parse size \"%s\"", key, value);
    errno = EINVAL;
    return -1;
  }
  if (size < min || size > max) {
    nbdkit_error ("%s: %" PRIi64 " is out of range (%" PRIi64
                  " to %" PRIi64 ")", key, size, min, max);
    errno = ERANGE;
    return -1;
  }
  *r = size;
  return 0;
}

int
parse_unsigned_key (const char *key, const char *value,
                    unsigned min, unsigned max, unsigned *r)
{
  unsigned u;

  if (nbdkit_parse_unsigned (key, value, &u) == -1) {
    errno = EINVAL;
    return -1;
  }
  if (u < min || u > max) {
    nbdkit_error ("%s: %u is out of range (%u to %u)", key, u, min, max);
    errno = ERANGE;
    return -1;
  }
  *r = u;
  return 0;
}

/* "250ms", "2s", "1m" or a bare number of seconds. */
int
parse_duration_ms (const char *what, const char *value, unsigned *ms)
{
  char *end;
  unsigned long long n, scale;

  errno = 0;
  if (!isdigit ((unsigned char) value[0]))
    goto bad;
  n = strtoull (value, &end, 10);
  if (errno != 0)
    goto bad;
  if (strcmp (end, "ms") == 0)
    scale = 1;
  else if (strcmp (end, "") == 0 || strcmp (end, "s") == 0)
    scale = 1000;
  else if (strcmp (end, "m") == 0)
    scale = 60 * 1000;
  else
    goto bad;
  if (n > UINT_MAX / scale)
    goto bad;
  *ms = n * scale;
  return 0;

 bad:
  nbdkit_error ("%s: cannot parse duration \"%s\" "
                "(expected e.g. 500ms, 30s or 2m)", what, value);
  errno = EINVAL;
  return -1;
}

int
parse_duration_key (const char *key, const char *value,
                    unsigned min_ms, unsigned max_ms, unsigned *r)
{
  unsigned ms;

  if (parse_duration_ms (key, value, &ms) == -1)
    return -1;
  if (ms < min_ms || ms > max_ms) {
    nbdkit_error ("%s: %s is out of range (%ums to %ums)",
                  key, value, min_ms, max_ms);
    errno = ERANGE;
    return -1;
  }
  *r = ms;
  return 0;
}
