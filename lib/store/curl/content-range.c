/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: what the answer to a ranged GET means (content-range.h). */

#include <config.h>

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "store/curl/content-range.h"

/* Digits at *p into *v, advancing *p: false if none, or past 64 bits.
 * No sign, no space: strtoull would take both.
 */
static bool
number (const char **p, uint64_t *v)
{
  const char *s = *p;

  *v = 0;
  if (*s < '0' || *s > '9')
    return false;
  for (; *s >= '0' && *s <= '9'; s++) {
    unsigned d = *s - '0';

    if (*v > (UINT64_MAX - d) / 10)
      return false;
    *v = *v * 10 + d;
  }
  *p = s;
  return true;
}

int
content_range_parse (const char *value, struct content_range *cr)
{
  const char *p = value;

  memset (cr, 0, sizeof *cr);
  if (p == NULL)
    return -1;
  while (*p == ' ' || *p == '\t')
    p++;
  if (strncasecmp (p, "bytes", 5) != 0 || (p[5] != ' ' && p[5] != '\t'))
    return -1;
  p += 5;
  while (*p == ' ' || *p == '\t')
    p++;
  if (*p == '*') {
    cr->unsatisfied = true;
    p++;
  }
  else if (!number (&p, &cr->first) || *p++ != '-' ||
           !number (&p, &cr->last) || cr->last < cr->first)
    return -1;
  if (*p++ != '/')
    return -1;
  if (*p == '*' && !cr->unsatisfied)
    p++;                        /* the size not said */
  else if (number (&p, &cr->total))
    cr->total_known = true;
  else
    return -1;
  while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
    p++;
  if (*p != '\0')
    return -1;
  if (cr->total_known && !cr->unsatisfied && cr->last >= cr->total)
    return -1;
  return 0;
}

enum range_verdict
range_reply_judge (uint64_t offset, size_t len, const struct range_reply *r)
{
  struct content_range cr;
  const uint64_t want_last = offset + (uint64_t) len - 1;

  if (r->status == 200)
    /* The whole object: right only if it is the range's bytes, which
     * it is when the range starts at 0 and the object fits in it.
     */
    return offset == 0 && !r->too_long ? RANGE_OK : RANGE_IGNORED;
  if (r->status != 206)
    return RANGE_BAD_STATUS;
  if (r->content_range == NULL || r->content_range[0] == '\0')
    return RANGE_NO_HEADER;
  if (content_range_parse (r->content_range, &cr) == -1 || cr.unsatisfied)
    return RANGE_BAD_HEADER;
  if (cr.first != offset || cr.last > want_last)
    return RANGE_OTHER_BYTES;
  /* Short only because the object ends there, which the server must
   * say (an unknown total cannot vouch for it).
   */
  if (cr.last < want_last &&
      !(cr.total_known && cr.last == cr.total - 1))
    return RANGE_OTHER_BYTES;
  if (r->too_long || r->got != cr.last - cr.first + 1)
    return RANGE_BAD_LENGTH;
  return RANGE_OK;
}

const char *
range_verdict_explain (enum range_verdict v, const struct range_reply *r,
                       char *buf, size_t buflen)
{
  const char *cr = r->content_range ? r->content_range : "";

  switch (v) {
  case RANGE_OK:
    snprintf (buf, buflen, "the range asked for");
    break;
  case RANGE_IGNORED:
    snprintf (buf, buflen, "the server ignored the Range header (HTTP 200 "
              "with the whole object, not the range asked for)");
    break;
  case RANGE_NO_HEADER:
    snprintf (buf, buflen, "HTTP 206 without Content-Range: cannot tell "
              "which bytes the server sent");
    break;
  case RANGE_BAD_HEADER:
    snprintf (buf, buflen, "HTTP 206 with Content-Range \"%s\", which is "
              "not a range of bytes", cr);
    break;
  case RANGE_OTHER_BYTES:
    snprintf (buf, buflen, "the server sent Content-Range \"%s\", not the "
              "range asked for", cr);
    break;
  case RANGE_BAD_LENGTH:
    snprintf (buf, buflen, "the body (%s%zu bytes) does not match "
              "Content-Range \"%s\"", r->too_long ? "over " : "", r->got, cr);
    break;
  case RANGE_BAD_STATUS:
    snprintf (buf, buflen, "HTTP %ld, where a range answers 206 (or 200 "
              "with the whole object)", r->status);
    break;
  }
  return buf;
}
