/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: lower-case hex (bytes.h). */

#include <config.h>

#include "format/bytes.h"

static const char hexdigits[] = "0123456789abcdef";

void
hex_encode (const uint8_t *in, size_t n, char *out)
{
  size_t i;

  for (i = 0; i < n; i++) {
    out[2 * i] = hexdigits[in[i] >> 4];
    out[2 * i + 1] = hexdigits[in[i] & 15];
  }
  out[2 * n] = '\0';
}

/* Upper case is refused: a key has one spelling, so that two tools
 * never name one object twice.
 */
static int
hexval (char ch)
{
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  return -1;
}

bool
hex_decode (const char *hex, uint8_t *out, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++) {
    int hi = hexval (hex[2 * i]), lo;

    /* Stops at a NUL (not a digit) before reading past it. */
    if (hi < 0)
      return false;
    lo = hexval (hex[2 * i + 1]);
    if (lo < 0)
      return false;
    out[i] = (uint8_t) (hi << 4 | lo);
  }
  return true;
}
