/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: URL paths and query strings as Signature V4 signs them.
 * See sigv4-query.h.
 */

#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "store/curl/sigv4-query.h"

static bool
unreserved (unsigned char c)
{
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
}

char *
uri_encode (const char *s, bool keep_slash)
{
  static const char hex[] = "0123456789ABCDEF";
  size_t len = strlen (s);
  char *r = malloc (len * 3 + 1), *p = r;

  if (r == NULL)
    return NULL;
  for (; *s; s++) {
    unsigned char c = *s;

    if (unreserved (c) || (keep_slash && c == '/'))
      *p++ = c;
    else {
      *p++ = '%';
      *p++ = hex[c >> 4];
      *p++ = hex[c & 15];
    }
  }
  *p = '\0';
  return r;
}

struct encoded {
  char *name, *value;
};

/* Byte order of the encoded forms, as the canonical request sorts. */
static int
compare (const void *a, const void *b)
{
  const struct encoded *x = a, *y = b;
  int c = strcmp (x->name, y->name);

  return c ? c : strcmp (x->value, y->value);
}

char *
query_build (const struct query_param *params, size_t n)
{
  struct encoded *enc = calloc (n ? n : 1, sizeof *enc);
  size_t i, len = 1;
  char *r = NULL, *p;

  if (enc == NULL)
    return NULL;
  for (i = 0; i < n; i++) {
    enc[i].name = uri_encode (params[i].name, false);
    enc[i].value = uri_encode (params[i].value ? params[i].value : "",
                               false);
    if (enc[i].name == NULL || enc[i].value == NULL)
      goto out;
    len += strlen (enc[i].name) + strlen (enc[i].value) + 2;
  }
  qsort (enc, n, sizeof *enc, compare);
  r = p = malloc (len);
  if (r == NULL)
    goto out;
  *p = '\0';
  for (i = 0; i < n; i++) {
    if (i > 0)
      *p++ = '&';
    p = stpcpy (p, enc[i].name);
    *p++ = '=';
    p = stpcpy (p, enc[i].value);
  }
  *p = '\0';
 out:
  for (i = 0; i < n; i++) {
    free (enc[i].name);
    free (enc[i].value);
  }
  free (enc);
  return r;
}
