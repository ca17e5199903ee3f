/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: reading ListBucketResult and Error documents.  See s3xml.h.
 *
 * Every search is bounded by the document's length (a body need not
 * end with '\0'), and by the element being read: a <Key> is looked for
 * inside its <Contents>, never in the next one.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/curl/s3xml.h"
#include "store/list-pager.h"

/* memmem over [p, end). */
static const char *
find (const char *p, const char *end, const char *s)
{
  size_t n = strlen (s);

  if (p >= end)
    return NULL;
  return memmem (p, end - p, s, n);
}

/* The text of <name> within [p, end): sets *text and *len, and returns
 * the position after </name>, or NULL.  <name/> is empty text.
 */
static const char *
element (const char *p, const char *end, const char *name,
         const char **text, size_t *len)
{
  char open[64], close[64], empty[64];
  const char *a, *b;
  size_t n = strlen (name);

  if (n + 4 > sizeof open)
    return NULL;
  snprintf (open, sizeof open, "<%s>", name);
  snprintf (close, sizeof close, "</%s>", name);
  snprintf (empty, sizeof empty, "<%s/>", name);
  a = find (p, end, open);
  b = find (p, end, empty);
  if (b && (a == NULL || b < a)) {
    *text = b;
    *len = 0;
    return b + strlen (empty);
  }
  if (a == NULL)
    return NULL;
  a += strlen (open);
  b = find (a, end, close);
  if (b == NULL)
    return NULL;
  *text = a;
  *len = b - a;
  return b + strlen (close);
}

char *
s3xml_decode (const char *s, size_t len)
{
  static const struct { const char *name; char c; } named[] = {
    { "amp;", '&' }, { "lt;", '<' }, { "gt;", '>' },
    { "quot;", '"' }, { "apos;", '\'' },
  };
  char *r = malloc (len + 1), *q = r;
  const char *end = s + len;

  if (r == NULL)
    return NULL;
  while (s < end) {
    size_t i;

    if (*s != '&') {
      *q++ = *s++;
      continue;
    }
    s++;
    for (i = 0; i < sizeof named / sizeof named[0]; i++) {
      size_t n = strlen (named[i].name);
      if ((size_t) (end - s) >= n && memcmp (s, named[i].name, n) == 0) {
        *q++ = named[i].c;
        s += n;
        break;
      }
    }
    if (i < sizeof named / sizeof named[0])
      continue;
    if (s < end && *s == '#') {         /* &#N; or &#xN; as UTF-8 */
      unsigned long cp = 0;
      int base = 10, digits = 0;

      s++;
      if (s < end && (*s == 'x' || *s == 'X')) {
        base = 16;
        s++;
      }
      for (; s < end && *s != ';'; s++, digits++) {
        int d;
        if (*s >= '0' && *s <= '9') d = *s - '0';
        else if (base == 16 && *s >= 'a' && *s <= 'f') d = *s - 'a' + 10;
        else if (base == 16 && *s >= 'A' && *s <= 'F') d = *s - 'A' + 10;
        else goto bad;
        cp = cp * base + d;
        if (cp > 0x10FFFF)
          goto bad;
      }
      if (s == end || digits == 0 || cp == 0)
        goto bad;
      s++;
      if (cp < 0x80)
        *q++ = cp;
      else if (cp < 0x800) {
        *q++ = 0xC0 | (cp >> 6);
        *q++ = 0x80 | (cp & 0x3F);
      }
      else if (cp < 0x10000) {
        *q++ = 0xE0 | (cp >> 12);
        *q++ = 0x80 | ((cp >> 6) & 0x3F);
        *q++ = 0x80 | (cp & 0x3F);
      }
      else {
        *q++ = 0xF0 | (cp >> 18);
        *q++ = 0x80 | ((cp >> 12) & 0x3F);
        *q++ = 0x80 | ((cp >> 6) & 0x3F);
        *q++ = 0x80 | (cp & 0x3F);
      }
      continue;
    }
  bad:
    free (r);
    errno = EINVAL;
    return NULL;
  }
  *q = '\0';
  return r;
}

bool
s3xml_find (const char *xml, size_t len, const char *name,
            char *out, size_t outlen)
{
  const char *text;
  size_t n;
  char *d;

  if (element (xml, xml + len, name, &text, &n) == NULL || outlen == 0)
    return false;
  d = s3xml_decode (text, n);
  if (d == NULL) {                      /* keep the raw text */
    if (n >= outlen)
      n = outlen - 1;
    memcpy (out, text, n);
    out[n] = '\0';
    return true;
  }
  snprintf (out, outlen, "%s", d);
  free (d);
  return true;
}

static int
add_item (struct s3xml_list *list, size_t *alloc, const char *text,
          size_t len, uint64_t size, int64_t mtime, bool is_prefix)
{
  struct s3xml_item *it;

  if (list->nr_items == *alloc) {
    size_t n = *alloc ? *alloc * 2 : 64;
    it = realloc (list->items, n * sizeof *it);
    if (it == NULL)
      return -1;
    list->items = it;
    *alloc = n;
  }
  it = &list->items[list->nr_items];
  it->key = s3xml_decode (text, len);
  if (it->key == NULL)
    return -1;
  it->size = size;
  it->mtime = mtime;
  it->is_prefix = is_prefix;
  list->nr_items++;
  return 0;
}

/* Objects and prefixes come in two runs; the contract lists in key
 * order (byte order, as S3 sorts).
 */
static int
compare_items (const void *a, const void *b)
{
  const struct s3xml_item *x = a, *y = b;

  return strcmp (x->key, y->key);
}

static int
parse_size (const char *s, size_t len, uint64_t *r)
{
  uint64_t v = 0;
  size_t i;

  if (len == 0 || len > 19)
    return -1;
  for (i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  *r = v;
  return 0;
}

/* n decimal digits at s, in [lo, hi]: -1 otherwise. */
static int
digits (const char *s, int n, int lo, int hi)
{
  int v = 0;

  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v < lo || v > hi ? -1 : v;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar
 * (years counted from March, so that the leap day comes last).
 */
static int64_t
days_from_civil (int64_t y, int m, int d)
{
  int64_t era, yoe, doy, doe;

  y -= m <= 2;
  era = (y >= 0 ? y : y - 399) / 400;
  yoe = y - era * 400;
  doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

int
s3xml_parse_time (const char *s, size_t len, int64_t *t)
{
  static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
  int y, mo, d, h, mi, sec;
  size_t i;

  /* 2026-01-02T03:04:05 is 19 characters, then [.digits] and Z. */
  if (len < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
      s[13] != ':' || s[16] != ':')
    return -1;
  y = digits (s, 4, 1970, 9999);
  mo = digits (s + 5, 2, 1, 12);
  d = digits (s + 8, 2, 1, 31);
  h = digits (s + 11, 2, 0, 23);
  mi = digits (s + 14, 2, 0, 59);
  sec = digits (s + 17, 2, 0, 60);      /* a leap second */
  if (y < 0 || mo < 0 || d < 0 || h < 0 || mi < 0 || sec < 0 ||
      d > mdays[mo - 1])
    return -1;
  i = 19;
  if (s[i] == '.') {
    for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++)
      ;
    if (i == 20)
      return -1;                        /* a dot with no digits */
  }
  if (i + 1 != len || s[i] != 'Z')
    return -1;
  *t = days_from_civil (y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
  return 0;
}

int
s3xml_parse_list (const char *xml, size_t len, struct s3xml_list *list)
{
  const char *end = xml + len, *p, *next, *text;
  size_t n, alloc = 0;

  memset (list, 0, sizeof *list);
  if (find (xml, end, "<ListBucketResult") == NULL) {
    errno = EINVAL;
    return -1;
  }

  /* Objects.  Each <Contents> is read within its own bounds. */
  for (p = xml; (p = find (p, end, "<Contents>")) != NULL; p = next) {
    const char *stop = find (p, end, "</Contents>"), *k;
    uint64_t size = 0;
    int64_t mtime = 0;

    if (stop == NULL)
      goto bad;
    next = stop + strlen ("</Contents>");
    if (element (p, stop, "Key", &k, &n) == NULL)
      goto bad;
    {
      size_t klen = n;
      if (element (p, stop, "Size", &text, &n) &&
          parse_size (text, n, &size) == -1)
        goto bad;
      /* An unreadable date is "unknown" (0), not an error: only gc
       * needs it, and it never deletes an object of unknown age.
       */
      if (element (p, stop, "LastModified", &text, &n) &&
          s3xml_parse_time (text, n, &mtime) == -1)
        mtime = 0;
      if (add_item (list, &alloc, k, klen, size, mtime, false) == -1)
        goto fail;
    }
  }

  for (p = xml; (p = find (p, end, "<CommonPrefixes>")) != NULL; p = next) {
    const char *stop = find (p, end, "</CommonPrefixes>");

    if (stop == NULL)
      goto bad;
    next = stop + strlen ("</CommonPrefixes>");
    if (element (p, stop, "Prefix", &text, &n) == NULL)
      goto bad;
    if (add_item (list, &alloc, text, n, 0, 0, true) == -1)
      goto fail;
  }

  /* The top-level elements come before or after the entries; look for
   * them outside any <Contents> by searching from the start only for
   * names that an entry never contains.
   */
  if (element (xml, end, "IsTruncated", &text, &n))
    list->truncated = n == 4 && memcmp (text, "true", 4) == 0;
  if (element (xml, end, "NextMarker", &text, &n) && n > 0) {
    list->next_marker = s3xml_decode (text, n);
    if (list->next_marker == NULL)
      goto fail;
  }
  if (list->nr_items > 1)
    qsort (list->items, list->nr_items, sizeof *list->items, compare_items);
  return 0;

 bad:
  errno = EINVAL;
 fail:
  {
    int e = errno;
    s3xml_list_free (list);
    errno = e;
  }
  return -1;
}

void
s3xml_list_free (struct s3xml_list *list)
{
  size_t i;

  for (i = 0; i < list->nr_items; i++)
    free (list->items[i].key);
  free (list->items);
  free (list->next_marker);
  memset (list, 0, sizeof *list);
}

int
s3xml_list_page (const char *xml, size_t len, struct list_page *page)
{
  struct s3xml_list *list = calloc (1, sizeof *list);
  size_t i;

  memset (page, 0, sizeof *page);
  if (list == NULL)
    return -1;
  if (s3xml_parse_list (xml, len, list) == -1) {
    int e = errno;

    free (list);
    errno = e;
    return -1;
  }
  page->entries = calloc (list->nr_items ? list->nr_items : 1,
                          sizeof *page->entries);
  if (page->entries == NULL) {
    s3xml_list_free (list);
    free (list);
    errno = ENOMEM;
    return -1;
  }
  for (i = 0; i < list->nr_items; i++)
    page->entries[i] = (struct store_entry) {
      .key = list->items[i].key, .size = list->items[i].size,
      .mtime = list->items[i].mtime, .is_prefix = list->items[i].is_prefix,
    };
  page->nr_entries = list->nr_items;
  page->truncated = list->truncated;
  page->next_marker = list->next_marker;
  page->priv = list;
  return 0;
}

void
s3xml_list_page_free (struct list_page *page)
{
  struct s3xml_list *list = page->priv;

  if (list) {
    s3xml_list_free (list);
    free (list);
  }
  free (page->entries);
  memset (page, 0, sizeof *page);
}
