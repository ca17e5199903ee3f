/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the content-addressed layout's objects (cas-format.h):
 * hashes, keys, the root's text and the map page's binary form.
 *
 * Parsers are strict: a root or page that another version or a damaged
 * object could produce is refused with a reason, never guessed at,
 * because a wrong map silently serves wrong blocks.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <nbdkit-plugin.h>

#include "cas-format.h"
#include "config.h"

void
cas_hash_of (const void *buf, size_t len, struct cas_hash *out)
{
  unsigned int md_len = 0;

  /* EVP_Digest fails only when libcrypto cannot allocate.  A made-up
   * hash would name content wrongly in the bucket (and the root
   * committed after it), whereas stopping here leaves the previous
   * root, which every commit is designed to survive.
   */
  if (!EVP_Digest (buf, len, out->b, &md_len, EVP_sha256 (), NULL) ||
      md_len != CAS_HASH_LEN) {
    nbdkit_error ("SHA-256 failed in libcrypto (out of memory?)");
    abort ();
  }
}

bool
cas_hash_equal (const struct cas_hash *a, const struct cas_hash *b)
{
  return memcmp (a->b, b->b, CAS_HASH_LEN) == 0;
}

static const char hexdigits[] = "0123456789abcdef";

void
cas_hash_hex (const struct cas_hash *h, char *out)
{
  size_t i;

  for (i = 0; i < CAS_HASH_LEN; i++) {
    out[2 * i] = hexdigits[h->b[i] >> 4];
    out[2 * i + 1] = hexdigits[h->b[i] & 15];
  }
  out[CAS_HEX_LEN] = '\0';
}

static int
hexval (char ch)
{
  if (ch >= '0' && ch <= '9')
    return ch - '0';
  if (ch >= 'a' && ch <= 'f')
    return ch - 'a' + 10;
  return -1;
}

/* Exactly 2 * n lower-case hex digits at hex (not NUL-terminated). */
static bool
parse_hex_bytes (const char *hex, uint8_t *out, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++) {
    int hi = hexval (hex[2 * i]), lo;

    if (hi < 0)
      return false;
    lo = hexval (hex[2 * i + 1]);
    if (lo < 0)
      return false;
    out[i] = (uint8_t) (hi << 4 | lo);
  }
  return true;
}

bool
cas_hash_parse (const char *hex, struct cas_hash *out)
{
  struct cas_hash h;

  if (strnlen (hex, CAS_HEX_LEN + 1) != CAS_HEX_LEN ||
      !parse_hex_bytes (hex, h.b, CAS_HASH_LEN))
    return false;
  *out = h;
  return true;
}

static int
fits (int len, size_t size)
{
  if (len < 0 || (size_t) len >= size) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return len;
}

int
cas_data_key (char *buf, size_t size, const struct cas_hash *h)
{
  char hex[CAS_HEX_LEN + 1];

  cas_hash_hex (h, hex);
  return fits (snprintf (buf, size, CAS_DATA_PREFIX "%s", hex), size);
}

int
cas_page_key (char *buf, size_t size, const struct cas_hash *h)
{
  char hex[CAS_HEX_LEN + 1];

  cas_hash_hex (h, hex);
  return fits (snprintf (buf, size, CAS_PAGES_PREFIX "%s", hex), size);
}

int
cas_root_key (char *buf, size_t size, const char *export_name)
{
  return fits (snprintf (buf, size, CAS_ROOTS_PREFIX "%s", export_name),
               size);
}

int
cas_snap_key (char *buf, size_t size, const char *export_name,
              const char *snap_name)
{
  return fits (snprintf (buf, size, CAS_SNAPS_PREFIX "%s/%s",
                         export_name, snap_name), size);
}

int
cas_snap_prefix (char *buf, size_t size, const char *export_name)
{
  return fits (snprintf (buf, size, CAS_SNAPS_PREFIX "%s/", export_name),
               size);
}

int
cas_root_key_of (char *buf, size_t size, const char *name)
{
  const char *at = strchr (name, '@');

  if (at == NULL)
    return cas_root_key (buf, size, name);
  return fits (snprintf (buf, size, CAS_SNAPS_PREFIX "%.*s/%s",
                         (int) (at - name), name, at + 1), size);
}

/* Roots. */

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
                  "top %s\n"
                  "blocks %" PRIu64 "\n"
                  "generation %" PRIu64 "\n"
                  "created %" PRId64 "\n"
                  "committed %" PRId64 "\n"
                  "reuse-window %" PRIu64 "\n"
                  "commit-bound %" PRIu64 "\n",
                  r->kind == CAS_ROOT_SNAPSHOT ? "snapshot" : "export",
                  r->name, r->parent[0] ? r->parent : "-",
                  r->incarnation, r->size, r->block_size, r->depth, top,
                  r->blocks, r->generation, r->created, r->committed,
                  r->reuse_window_s, r->commit_bound_s);
  return fits (len, size);
}

/* A decimal number filling the whole value, without sign or overflow. */
static int
parse_u64 (const char *s, size_t len, uint64_t *r)
{
  uint64_t v = 0;
  size_t i;

  if (len == 0 || len > 20)
    return -1;
  for (i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    if (v > (UINT64_MAX - (uint64_t) (s[i] - '0')) / 10)
      return -1;
    v = v * 10 + (uint64_t) (s[i] - '0');
  }
  *r = v;
  return 0;
}

/* Export and snapshot names: [A-Za-z0-9._-], and one "@" between two
 * of them in "export@snap".
 */
static bool
valid_name (const char *s, size_t len)
{
  size_t i, ats = 0, seg = 0;

  if (len == 0 || len >= CAS_NAME_MAX)
    return false;
  for (i = 0; i < len; i++) {
    char ch = s[i];

    if (ch == '@') {
      if (++ats > 1 || seg == 0)
        return false;
      seg = 0;
      continue;
    }
    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
      return false;
    seg++;
  }
  return seg > 0;
}

/* The root's fields, in the order they are written. */
enum {
  F_KIND, F_NAME, F_PARENT, F_INCARNATION, F_SIZE, F_BLOCK_SIZE, F_DEPTH,
  F_TOP, F_BLOCKS, F_GENERATION, F_CREATED, F_COMMITTED, F_REUSE_WINDOW,
  F_COMMIT_BOUND, NR_FIELDS
};

static const char *const field_names[NR_FIELDS] = {
  "kind", "name", "parent", "incarnation", "size", "block-size", "depth",
  "top", "blocks", "generation", "created", "committed", "reuse-window",
  "commit-bound",
};

static const char *const field_missing[NR_FIELDS] = {
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
    if (!valid_name (v, len))
      return "its name is not a valid export or export@snap name";
    memcpy (r->name, v, len);
    r->name[len] = '\0';
    return NULL;
  case F_PARENT:
    if (len == 1 && v[0] == '-')
      r->parent[0] = '\0';
    else if (!valid_name (v, len))
      return "its parent is neither \"-\" nor a valid name";
    else {
      memcpy (r->parent, v, len);
      r->parent[len] = '\0';
    }
    return NULL;
  case F_INCARNATION:
    {
      uint8_t bytes[16];

      if (len != 32 || !parse_hex_bytes (v, bytes, sizeof bytes))
        return "its incarnation is not 32 lower-case hex digits";
      memcpy (r->incarnation, v, 32);
      r->incarnation[32] = '\0';
    }
    return NULL;
  case F_SIZE:
    if (parse_u64 (v, len, &r->size) == -1 ||
        r->size == 0 || r->size > INT64_MAX)
      return "its size is not a positive number";
    return NULL;
  case F_BLOCK_SIZE:
    if (parse_u64 (v, len, &u) == -1 ||
        u < MIN_BLOCK_SIZE || u > MAX_BLOCK_SIZE || (u & (u - 1)))
      return "its block-size is not a power of 2 from 512 to 1M";
    r->block_size = (uint32_t) u;
    return NULL;
  case F_DEPTH:
    if (parse_u64 (v, len, &u) == -1 || u > CAS_DEPTH_MAX)
      return "its depth is not a number from 0 to 6";
    r->depth = (unsigned) u;
    return NULL;
  case F_TOP:
    if (len == 1 && v[0] == '-')
      r->empty = true;
    else if (len != CAS_HEX_LEN ||
             !parse_hex_bytes (v, r->top.b, CAS_HASH_LEN))
      return "its top is neither \"-\" nor 64 lower-case hex digits";
    else
      r->empty = false;
    return NULL;
  case F_BLOCKS:
    if (parse_u64 (v, len, &r->blocks) == -1)
      return "its blocks is not a number";
    return NULL;
  case F_GENERATION:
    if (parse_u64 (v, len, &r->generation) == -1)
      return "its generation is not a number";
    return NULL;
  case F_CREATED:
  case F_COMMITTED:
    if (parse_u64 (v, len, &u) == -1 || u > INT64_MAX)
      return f == F_CREATED ? "its created is not a time in seconds"
        : "its committed is not a time in seconds";
    if (f == F_CREATED)
      r->created = (int64_t) u;
    else
      r->committed = (int64_t) u;
    return NULL;
  case F_REUSE_WINDOW:
    if (parse_u64 (v, len, &r->reuse_window_s) == -1)
      return "its reuse-window is not a number of seconds";
    return NULL;
  case F_COMMIT_BOUND:
    if (parse_u64 (v, len, &r->commit_bound_s) == -1)
      return "its commit-bound is not a number of seconds";
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
  if (!r->empty && r->depth < cas_depth_for (nr_blocks))
    return "its depth is too small for its size";
  if ((r->kind == CAS_ROOT_SNAPSHOT) != (strchr (r->name, '@') != NULL))
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
  for (f = 0; f < NR_FIELDS; f++) {
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

int
cas_new_incarnation (char out[33])
{
  unsigned char bytes[16];
  size_t i;

  if (RAND_bytes (bytes, sizeof bytes) != 1) {
    nbdkit_error ("cannot make a random incarnation: "
                  "libcrypto's random generator failed");
    errno = EIO;
    return -1;
  }
  for (i = 0; i < sizeof bytes; i++) {
    out[2 * i] = hexdigits[bytes[i] >> 4];
    out[2 * i + 1] = hexdigits[bytes[i] & 15];
  }
  out[32] = '\0';
  return 0;
}

/* Pages. */

static void
put_le32 (uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t) v;
  p[1] = (uint8_t) (v >> 8);
  p[2] = (uint8_t) (v >> 16);
  p[3] = (uint8_t) (v >> 24);
}

static uint32_t
get_le32 (const uint8_t *p)
{
  return (uint32_t) p[0] | (uint32_t) p[1] << 8 |
    (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

size_t
cas_page_encode (const struct cas_page *p, void *buf)
{
  uint8_t *b = buf;
  uint32_t i;

  memcpy (b, CAS_PAGE_MAGIC, 8);
  b[8] = (uint8_t) p->level;
  b[9] = b[10] = b[11] = 0;
  put_le32 (b + 12, p->count);
  b += CAS_PAGE_HEADER;
  for (i = 0; i < p->count; i++) {
    b[0] = (uint8_t) p->entries[i].slot;
    b[1] = (uint8_t) (p->entries[i].slot >> 8);
    memcpy (b + 2, p->entries[i].hash.b, CAS_HASH_LEN);
    b += CAS_PAGE_ENTRY;
  }
  return CAS_PAGE_HEADER + (size_t) p->count * CAS_PAGE_ENTRY;
}

int
cas_page_decode (const void *buf, size_t len, struct cas_page *p,
                 const char **why)
{
  const uint8_t *b = buf;
  struct cas_page_entry *entries;
  uint32_t count, i;

  if (len < CAS_PAGE_HEADER || memcmp (b, CAS_PAGE_MAGIC, 8) != 0) {
    *why = "it does not start with \"" CAS_PAGE_MAGIC "\"";
    goto inval;
  }
  if (b[8] > CAS_DEPTH_MAX) {
    *why = "its level is above the deepest tree";
    goto inval;
  }
  if (b[9] || b[10] || b[11]) {
    *why = "its reserved header bytes are not zero";
    goto inval;
  }
  count = get_le32 (b + 12);
  if (count == 0 || count > CAS_FANOUT) {
    *why = "its count of entries is not 1 to 1024";
    goto inval;
  }
  if (len != CAS_PAGE_HEADER + (size_t) count * CAS_PAGE_ENTRY) {
    *why = "its length does not match its count of entries";
    goto inval;
  }
  entries = malloc (count * sizeof *entries);
  if (entries == NULL) {
    *why = "out of memory";
    errno = ENOMEM;
    return -1;
  }
  b += CAS_PAGE_HEADER;
  for (i = 0; i < count; i++) {
    entries[i].slot = (uint16_t) (b[0] | b[1] << 8);
    if (entries[i].slot >= CAS_FANOUT ||
        (i > 0 && entries[i].slot <= entries[i - 1].slot)) {
      *why = entries[i].slot >= CAS_FANOUT ? "a slot is 1024 or more"
        : "its slots are not strictly increasing";
      free (entries);
      goto inval;
    }
    memcpy (entries[i].hash.b, b + 2, CAS_HASH_LEN);
    b += CAS_PAGE_ENTRY;
  }
  p->level = ((const uint8_t *) buf)[8];
  p->count = count;
  p->entries = entries;
  return 0;

 inval:
  errno = EINVAL;
  return -1;
}

void
cas_page_free (struct cas_page *p)
{
  free (p->entries);
  p->entries = NULL;
  p->count = 0;
}

bool
cas_page_find (const struct cas_page *p, unsigned slot, struct cas_hash *out)
{
  uint32_t lo = 0, hi = p->count;

  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;

    if (p->entries[mid].slot == slot) {
      if (out)
        *out = p->entries[mid].hash;
      return true;
    }
    if (p->entries[mid].slot < slot)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}

unsigned
cas_depth_for (uint64_t nr_blocks)
{
  unsigned depth = 0;

  /* A tree of depth d covers 2^(CAS_FANOUT_BITS * (d + 1)) blocks. */
  while (depth < CAS_DEPTH_MAX &&
         CAS_FANOUT_BITS * (depth + 1) < 64 &&
         nr_blocks > UINT64_C (1) << (CAS_FANOUT_BITS * (depth + 1)))
    depth++;
  return depth;
}
