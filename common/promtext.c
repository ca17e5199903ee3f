/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the Prometheus text exposition format (promtext.h). */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "promtext.h"

void
promtext_free (struct promtext *p)
{
  free (p->buf);
  p->buf = NULL;
  p->len = p->cap = 0;
  p->failed = false;
}

/* Room for n more bytes and the NUL. */
static bool
reserve (struct promtext *p, size_t n)
{
  size_t cap = p->cap ? p->cap : 4096;
  char *buf;

  if (p->failed)
    return false;
  if (p->len + n + 1 <= p->cap)
    return true;
  while (cap < p->len + n + 1)
    cap *= 2;
  buf = realloc (p->buf, cap);
  if (buf == NULL) {
    p->failed = true;
    return false;
  }
  p->buf = buf;
  p->cap = cap;
  return true;
}

static void
put (struct promtext *p, const char *s, size_t n)
{
  if (!reserve (p, n))
    return;
  memcpy (p->buf + p->len, s, n);
  p->len += n;
  p->buf[p->len] = '\0';
}

static void
puts_ (struct promtext *p, const char *s)
{
  put (p, s, strlen (s));
}

static void printf_ (struct promtext *p, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

static void
printf_ (struct promtext *p, const char *fmt, ...)
{
  char tmp[64];
  va_list ap;
  int r;

  va_start (ap, fmt);
  r = vsnprintf (tmp, sizeof tmp, fmt, ap);
  va_end (ap);
  /* Only numbers come this way: they fit. */
  if (r > 0 && (size_t) r < sizeof tmp)
    put (p, tmp, r);
}

/* Backslash and newline always; the double quote in label values. */
static void
put_escaped (struct promtext *p, const char *s, bool quote)
{
  for (; *s; s++) {
    if (*s == '\\')
      puts_ (p, "\\\\");
    else if (*s == '\n')
      puts_ (p, "\\n");
    else if (*s == '"' && quote)
      puts_ (p, "\\\"");
    else
      put (p, s, 1);
  }
}

void
promtext_family (struct promtext *p, const char *name, const char *type,
                 const char *help)
{
  puts_ (p, "# HELP ");
  puts_ (p, name);
  puts_ (p, " ");
  put_escaped (p, help, false);
  puts_ (p, "\n# TYPE ");
  puts_ (p, name);
  puts_ (p, " ");
  puts_ (p, type);
  puts_ (p, "\n");
}

static void
put_name (struct promtext *p, const char *name,
          const struct promtext_label *labels, size_t n)
{
  puts_ (p, name);
  if (n == 0)
    return;
  puts_ (p, "{");
  for (size_t i = 0; i < n; i++) {
    if (i > 0)
      puts_ (p, ",");
    puts_ (p, labels[i].name);
    puts_ (p, "=\"");
    put_escaped (p, labels[i].value, true);
    puts_ (p, "\"");
  }
  puts_ (p, "}");
}

void
promtext_u64 (struct promtext *p, const char *name,
              const struct promtext_label *labels, size_t n, uint64_t value)
{
  put_name (p, name, labels, n);
  printf_ (p, " %" PRIu64 "\n", value);
}

void
promtext_i64 (struct promtext *p, const char *name,
              const struct promtext_label *labels, size_t n, int64_t value)
{
  put_name (p, name, labels, n);
  printf_ (p, " %" PRIi64 "\n", value);
}

static void
put_f64 (struct promtext *p, double value)
{
  if (isnan (value))
    puts_ (p, "NaN");
  else if (isinf (value))
    puts_ (p, value > 0 ? "+Inf" : "-Inf");
  else
    printf_ (p, "%.10g", value);
}

void
promtext_f64 (struct promtext *p, const char *name,
              const struct promtext_label *labels, size_t n, double value)
{
  put_name (p, name, labels, n);
  puts_ (p, " ");
  put_f64 (p, value);
  puts_ (p, "\n");
}

#define MAX_LABELS 8

void
promtext_histogram (struct promtext *p, const char *name,
                    const struct promtext_label *labels, size_t n,
                    const double *bounds, const uint64_t *counts, size_t nb,
                    double sum)
{
  const size_t len = strlen (name);
  struct promtext_label l[MAX_LABELS];
  char suffixed[128], le[32];
  uint64_t total = 0;

  if (n >= MAX_LABELS || len + sizeof "_bucket" > sizeof suffixed) {
    p->failed = true;           /* the caller's bug: show it */
    return;
  }
  memcpy (l, labels, n * sizeof *l);
  l[n].name = "le";
  l[n].value = le;
  snprintf (suffixed, sizeof suffixed, "%s_bucket", name);
  for (size_t b = 0; b < nb; b++) {
    total += counts[b];
    if (b + 1 < nb)
      snprintf (le, sizeof le, "%.10g", bounds[b]);
    else
      snprintf (le, sizeof le, "+Inf");
    promtext_u64 (p, suffixed, l, n + 1, total);
  }
  snprintf (suffixed, sizeof suffixed, "%s_sum", name);
  promtext_f64 (p, suffixed, labels, n, sum);
  snprintf (suffixed, sizeof suffixed, "%s_count", name);
  promtext_u64 (p, suffixed, labels, n, total);
}

int
promtext_finish (struct promtext *p)
{
  if (p->failed) {
    errno = ENOMEM;
    return -1;
  }
  if (!reserve (p, 0)) {
    errno = ENOMEM;
    return -1;
  }
  p->buf[p->len] = '\0';
  return 0;
}
