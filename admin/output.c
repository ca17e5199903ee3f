/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): output helpers shared by the verbs. */

#include <config.h>

#include <stdio.h>
#include <time.h>

#include "admin.h"

void
json_string (const char *s)
{
  putchar ('"');
  for (; *s; s++) {
    unsigned char ch = *s;

    if (ch == '"' || ch == '\\')
      printf ("\\%c", ch);
    else if (ch < 0x20)
      printf ("\\u%04x", ch);
    else
      putchar (ch);
  }
  putchar ('"');
}

void
format_time_s (int64_t s, char *buf, size_t size)
{
  time_t t = s;
  struct tm tm;

  gmtime_r (&t, &tm);
  strftime (buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

void
format_time_ms (uint64_t ms, char *buf, size_t size)
{
  format_time_s (ms / 1000, buf, size);
}
