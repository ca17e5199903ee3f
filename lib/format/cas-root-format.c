/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: a cas root's text (cas-format.h): formatting and the
 * strict parser.
 *
 * A root decides what an export reads, so a root that a damaged object
 * or another version could produce is refused with a reason: every
 * field is required, once, and the fields must agree with each other.
 * Unknown names are skipped, so later versions can add fields.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "format/cas-format.h"
#include "format/cas-tree-format.h"
#include "format/keys.h"
#include "format/limits.h"
#include "format/meta.h"
#include "format/names.h"

int
cas_root_format (char *buf, size_t size, const struct cas_root *r)
{
  char top[CAS_HEX_LEN + 1];
  int len;

  if (r->empty)
    strcpy (top, "-");
  else
    cas_hash_hex (&r->top, top);
  len = snprintf (buf, size,
                  CAS_ROOT_MAGIC "\n"
                  "kind %s\n"
                  "name %s\n"
                  "parent %s\n"
                  "incarnation %s\n"
                  "size %" PRIu64 "\n"
                  "block-size %" PRIu32 "\n"
                  "depth %u\n"
                  "%s"
                  "top %s\n"
                  "blocks %" PRIu64 "\n"
                  "generation %" PRIu64 "\n"
                  "created %" PRId64 "\n"
                  "committed %" PRId64 "\n"
                  "reuse-window %" PRIu64 "\n"
                  "commit-bound %" PRIu64 "\n",
                  r->kind == CAS_ROOT_SNAPSHOT ? "snapshot" : "export",
                  r->name, r->parent[0] ? r->parent : "-",
                  r->incarnation, r->size, r->block_size, r->depth,
                  /* Only a location tree says so: a cas root is written
                   * as every version before leaf kinds wrote it.
                   */
                  r->leaf == CAS_LEAF_LOCATION ? "leaf location\n" : "",
                  top,
                  r->blocks, r->generation, r->created, r->committed,
                  r->reuse_window_s, r->commit_bound_s);
  return snprintf_fits (len, size);
}

/* The root's fields: the required ones in the order they are written,
 * then the optional ones (F_LEAF).
 */
enum {
  F_KIND, F_NAME, F_PARENT, F_INCARNATION, F_SIZE, F_BLOCK_SIZE, F_DEPTH,
  F_TOP, F_BLOCKS, F_GENERATION, F_CREATED, F_COMMITTED, F_REUSE_WINDOW,
  F_COMMIT_BOUND, NR_REQUIRED,
  F_LEAF = NR_REQUIRED, NR_FIELDS
};

static const char *const field_names[NR_FIELDS] = {
  "kind", "name", "parent", "incarnation", "size", "block-size", "depth",
  "top", "blocks", "generation", "created", "committed", "reuse-window",
  "commit-bound", "leaf",
};

static const char *const field_missing[NR_REQUIRED] = {
  "it lacks kind", "it lacks name", "it lacks parent",
  "it lacks incarnation", "it lacks size", "it lacks block-size",
  "it lacks depth", "it lacks top", "it lacks blocks",
  "it lacks generation", "it lacks created", "it lacks committed",
  "it lacks reuse-window", "it lacks commit-bound",
};

/* One known field's value into r.  Returns NULL, or what is wrong. */
static const char *
parse_field (int f, const char *v, size_t len, struct cas_root *r)
{
  uint64_t u;

  switch (f) {
  case F_KIND:
    if (len == 6 && memcmp (v, "export", 6) == 0)
      r->kind = CAS_ROOT_EXPORT;
    else if (len == 8 && memcmp (v, "snapshot", 8) == 0)
      r->kind = CAS_ROOT_SNAPSHOT;
    else
      return "its kind is neither export nor snapshot";
    return NULL;
  case F_NAME:
    if (!name_ref_is_valid_n (v, len))
      return "its name is not a valid export or export@snap name";
    memcpy (r->name, v, len);
    r->name[len] = '\0';
    return NULL;
  case F_PARENT:
    if (len == 1 && v[0] == '-')
      r->parent[0] = '\0';
    else if (!name_ref_is_valid_n (v, len))
      return "its parent is neither \"-\" nor a valid name";
    else {
      memcpy (r->parent, v, len);
      r->parent[len] = '\0';
    }
    return NULL;
  case F_INCARNATION:
    {
      size_t i;

      if (len != 32)
        return "its incarnation is not 32 lower-case hex digits";
      for (i = 0; i < len; i++)
        if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
          return "its incarnation is not 32 lower-case hex digits";
      memcpy (r->incarnation, v, 32);
      r->incarnation[32] = '\0';
    }
    return NULL;
  case F_SIZE:
    if (meta_parse_u64 (v, len, &r->size) == -1 ||
        r->size == 0 || r->size > INT64_MAX)
      return "its size is not a positive number";
    return NULL;
  case F_BLOCK_SIZE:
    if (meta_parse_u64 (v, len, &u) == -1 ||
        u < MIN_BLOCK_SIZE || u > MAX_BLOCK_SIZE || (u & (u - 1)))
      return "its block-size is not a power of 2 from 512 to 1M";
    r->block_size = (uint32_t) u;
    return NULL;
  case F_DEPTH:
    if (meta_parse_u64 (v, len, &u) == -1 || u > CAS_DEPTH_MAX)
      return "its depth is not a number from 0 to 6";
    r->depth = (unsigned) u;
    return NULL;
  case F_TOP:
    {
      char hex[CAS_HEX_LEN + 1];

      if (len == 1 && v[0] == '-') {
        r->empty = true;
        return NULL;
      }
      if (len == CAS_HEX_LEN) {
        memcpy (hex, v, len);
        hex[len] = '\0';
        if (cas_hash_parse (hex, &r->top)) {
          r->empty = false;
          return NULL;
        }
      }
    }
    return "its top is neither \"-\" nor 64 lower-case hex digits";
  case F_BLOCKS:
    if (meta_parse_u64 (v, len, &r->blocks) == -1)
      return "its blocks is not a number";
    return NULL;
  case F_GENERATION:
    if (meta_parse_u64 (v, len, &r->generation) == -1)
      return "its generation is not a number";
    return NULL;
  case F_CREATED:
  case F_COMMITTED:
    if (meta_parse_u64 (v, len, &u) == -1 || u > INT64_MAX)
      return f == F_CREATED ? "its created is not a time in seconds"
        : "its committed is not a time in seconds";
    if (f == F_CREATED)
      r->created = (int64_t) u;
    else
      r->committed = (int64_t) u;
    return NULL;
  case F_REUSE_WINDOW:
    if (meta_parse_u64 (v, len, &r->reuse_window_s) == -1)
      return "its reuse-window is not a number of seconds";
    return NULL;
  case F_COMMIT_BOUND:
    if (meta_parse_u64 (v, len, &r->commit_bound_s) == -1)
      return "its commit-bound is not a number of seconds";
    return NULL;
  case F_LEAF:
    /* A kind this version does not know would be walked as the wrong
     * pages, and its blocks misread: refused, like an unknown layout.
     */
    if (len == 4 && memcmp (v, "hash", 4) == 0)
      r->leaf = CAS_LEAF_HASH;
    else if (len == 8 && memcmp (v, "location", 8) == 0)
      r->leaf = CAS_LEAF_LOCATION;
    else
      return "its leaf is neither hash nor location (written by a later "
        "version?)";
    return NULL;
  }
  abort ();
}

/* What the fields say together.  Returns NULL, or what is wrong. */
static const char *
check_root (const struct cas_root *r)
{
  uint64_t nr_blocks = r->size / r->block_size +
    (r->size % r->block_size != 0);

  if (r->blocks > nr_blocks)
    return "its blocks exceeds the blocks in its size";
  if (r->empty != (r->blocks == 0))
    return "its top and its blocks disagree about being empty";
  if (!r->empty && r->depth < cas_depth_for (r->leaf, nr_blocks))
    return "its depth is too small for its size";
  if ((r->kind == CAS_ROOT_SNAPSHOT) != name_text_is_snapshot (r->name))
    return "its name does not match its kind (export@snap for a snapshot)";
  return NULL;
}

int
cas_root_parse (const char *buf, size_t len, struct cas_root *r,
                const char **why)
{
  const size_t magic_len = strlen (CAS_ROOT_MAGIC);
  const char *p = buf, *end = buf + len;
  bool seen[NR_FIELDS] = { false };
  struct cas_root tmp;
  int f;

  memset (&tmp, 0, sizeof tmp);
  if (len < magic_len + 1 ||
      memcmp (buf, CAS_ROOT_MAGIC "\n", magic_len + 1)) {
    *why = "it does not start with \"" CAS_ROOT_MAGIC "\"";
    return -1;
  }
  if (memchr (buf, '\0', len)) {
    *why = "it contains a NUL byte";
    return -1;
  }
  p += magic_len + 1;
  while (p < end) {
    const char *eol = memchr (p, '\n', (size_t) (end - p));
    const char *sp;

    if (eol == NULL)
      eol = end;
    sp = memchr (p, ' ', (size_t) (eol - p));
    if (sp == NULL) {
      if (eol != p) {
        *why = "a line is not \"name value\"";
        return -1;
      }
    }
    else {
      for (f = 0; f < NR_FIELDS; f++) {
        if ((size_t) (sp - p) == strlen (field_names[f]) &&
            memcmp (p, field_names[f], (size_t) (sp - p)) == 0)
          break;
      }
      if (f < NR_FIELDS) {      /* unknown names are a later version's */
        const char *err;

        if (seen[f]) {
          *why = "a field appears twice";
          return -1;
        }
        err = parse_field (f, sp + 1, (size_t) (eol - sp - 1), &tmp);
        if (err) {
          *why = err;
          return -1;
        }
        seen[f] = true;
      }
    }
    p = eol + 1;
  }
  for (f = 0; f < NR_REQUIRED; f++) {
    if (!seen[f]) {
      *why = field_missing[f];
      return -1;
    }
  }
  *why = check_root (&tmp);
  if (*why)
    return -1;
  *r = tmp;
  return 0;
}
