/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the export metadata object. */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/keys.h"
#include "format/limits.h"
#include "format/meta.h"

const char *
export_layout_name (enum export_layout layout)
{
  switch (layout) {
  case EXPORT_LAYOUT_CAS: return "cas";
  case EXPORT_LAYOUT_LOG: return "log";
  default: return "plain";
  }
}

/* A plain export's object stays as older versions wrote it. */
int
meta_format (char *buf, size_t size, const struct export_meta *m)
{
  int len = snprintf (buf, size,
                      META_MAGIC "\nsize %" PRIu64 "\nblock-size %" PRIu32
                      "\n%s", m->size, m->block_size,
                      m->layout == EXPORT_LAYOUT_CAS ? "layout cas\n"
                      : m->layout == EXPORT_LAYOUT_LOG ? "layout log\n" : "");

  return snprintf_fits (len, size);
}

int
meta_parse_u64 (const char *s, size_t len, uint64_t *r)
{
  uint64_t v = 0;
  size_t i;

  if (len == 0 || len > 20)
    return -1;
  for (i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    if (v > (UINT64_MAX - (s[i] - '0')) / 10)
      return -1;
    v = v * 10 + (s[i] - '0');
  }
  *r = v;
  return 0;
}

int
meta_parse (const char *buf, size_t len, struct export_meta *m,
            const char **why)
{
  const size_t magic_len = strlen (META_MAGIC);
  const char *p = buf, *end = buf + len;
  uint64_t size = 0, block_size = 0;
  int have_size = 0, have_block_size = 0;
  enum export_layout layout = EXPORT_LAYOUT_PLAIN;

  if (len < magic_len + 1 || memcmp (buf, META_MAGIC "\n", magic_len + 1)) {
    *why = "it does not start with \"" META_MAGIC "\"";
    return -1;
  }
  if (memchr (buf, '\0', len)) {
    *why = "it contains a NUL byte";
    return -1;
  }
  p += magic_len + 1;
  while (p < end) {
    const char *eol = memchr (p, '\n', end - p);
    const char *sp;

    if (eol == NULL)
      eol = end;
    sp = memchr (p, ' ', eol - p);
    if (sp == NULL) {
      if (eol != p) {
        *why = "a line is not \"name value\"";
        return -1;
      }
    }
    else if (sp - p == 4 && memcmp (p, "size", 4) == 0) {
      if (meta_parse_u64 (sp + 1, eol - sp - 1, &size) == -1 ||
          size == 0 || size > INT64_MAX) {
        *why = "its size is not a positive number";
        return -1;
      }
      have_size = 1;
    }
    else if (sp - p == 10 && memcmp (p, "block-size", 10) == 0) {
      if (meta_parse_u64 (sp + 1, eol - sp - 1, &block_size) == -1 ||
          block_size < MIN_BLOCK_SIZE || block_size > MAX_BLOCK_SIZE ||
          (block_size & (block_size - 1))) {
        *why = "its block-size is not a power of 2 from 512 to 1M";
        return -1;
      }
      have_block_size = 1;
    }
    else if (sp - p == 6 && memcmp (p, "layout", 6) == 0) {
      /* A layout this version does not know would be misread. */
      if (eol - sp - 1 == 5 && memcmp (sp + 1, "plain", 5) == 0)
        layout = EXPORT_LAYOUT_PLAIN;
      else if (eol - sp - 1 == 3 && memcmp (sp + 1, "cas", 3) == 0)
        layout = EXPORT_LAYOUT_CAS;
      else if (eol - sp - 1 == 3 && memcmp (sp + 1, "log", 3) == 0)
        layout = EXPORT_LAYOUT_LOG;
      else {
        *why = "its layout is not plain, cas or log (written by a later "
          "version?)";
        return -1;
      }
    }
    p = eol + 1;
  }
  if (!have_size || !have_block_size) {
    *why = "it lacks size or block-size";
    return -1;
  }
  m->size = size;
  m->block_size = block_size;
  m->layout = layout;
  return 0;
}
