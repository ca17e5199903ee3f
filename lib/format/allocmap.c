/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: encoding and decoding allocation-map segments.  The format
 * is described in allocmap.h.
 */

#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "format/allocmap.h"

#define MAGIC "s3bmap1\n"
#define ENCODING_BITMAP 0
#define ENCODING_RUNS 1

uint32_t
allocmap_crc32 (const void *buf, size_t len)
{
  static uint32_t table[256];
  static bool ready;
  const unsigned char *p = buf;
  uint32_t crc = 0xffffffff;

  /* Built on first use; racing builders write the same values. */
  if (!__atomic_load_n (&ready, __ATOMIC_ACQUIRE)) {
    for (uint32_t i = 0; i < 256; i++) {
      uint32_t c = i;
      for (int k = 0; k < 8; k++)
        c = c & 1 ? 0xedb88320 ^ (c >> 1) : c >> 1;
      table[i] = c;
    }
    __atomic_store_n (&ready, true, __ATOMIC_RELEASE);
  }
  while (len--)
    crc = table[(crc ^ *p++) & 0xff] ^ (crc >> 8);
  return crc ^ 0xffffffff;
}

static void
put_u32 (char *p, uint32_t v)
{
  for (int i = 0; i < 4; i++)
    p[i] = (char) (v >> (8 * i));
}

static void
put_u64 (char *p, uint64_t v)
{
  for (int i = 0; i < 8; i++)
    p[i] = (char) (v >> (8 * i));
}

static uint32_t
get_u32 (const char *p)
{
  uint32_t v = 0;

  for (int i = 0; i < 4; i++)
    v |= (uint32_t) (unsigned char) p[i] << (8 * i);
  return v;
}

static uint64_t
get_u64 (const char *p)
{
  uint64_t v = 0;

  for (int i = 0; i < 8; i++)
    v |= (uint64_t) (unsigned char) p[i] << (8 * i);
  return v;
}

/* LEB128.  Returns bytes written (at most 5 for a u32). */
static size_t
put_varint (char *p, uint32_t v)
{
  size_t n = 0;

  do {
    unsigned char byte = v & 0x7f;
    v >>= 7;
    if (v)
      byte |= 0x80;
    p[n++] = (char) byte;
  } while (v);
  return n;
}

static int
get_varint (const char **p, const char *end, uint32_t *v)
{
  uint64_t r = 0;

  for (int shift = 0; shift < 35; shift += 7) {
    unsigned char byte;

    if (*p >= end)
      return -1;
    byte = (unsigned char) *(*p)++;
    r |= (uint64_t) (byte & 0x7f) << shift;
    if ((byte & 0x80) == 0) {
      if (r > UINT32_MAX)
        return -1;
      *v = (uint32_t) r;
      return 0;
    }
  }
  return -1;
}

/* The runs of [first, first + nbits), or -1 if they would not be
 * smaller than limit bytes.
 */
static long
encode_runs (const struct sbitmap *present, uint64_t first, uint32_t nbits,
             char *out, size_t limit)
{
  const uint64_t end = first + nbits;
  uint64_t i = first;
  bool want_set = false;
  size_t len = 0;

  while (i < end) {
    uint64_t next = want_set ? sbitmap_next_clear (present, i, end)
      : sbitmap_next_set (present, i, end);

    if (len + 5 > limit)
      return -1;
    len += put_varint (out + len, (uint32_t) (next - i));
    i = next;
    want_set = !want_set;
  }
  return (long) len;
}

static void
encode_bitmap (const struct sbitmap *present, uint64_t first, uint32_t nbits,
               char *out)
{
  const uint64_t end = first + nbits;
  uint64_t i = sbitmap_next_set (present, first, end);

  memset (out, 0, (nbits + 7) / 8);
  while (i < end) {
    uint64_t bit = i - first;
    out[bit / 8] |= (char) (1u << (bit % 8));
    i = sbitmap_next_set (present, i + 1, end);
  }
}

long
allocmap_encode (const struct sbitmap *present, uint64_t first,
                 uint32_t nbits, uint32_t block_size, char **out)
{
  const size_t bitmap_len = (nbits + 7) / 8;
  char *buf = malloc (ALLOCMAP_HEADER_BYTES + bitmap_len + 4);
  char *payload;
  long plen;
  uint32_t encoding = ENCODING_RUNS;

  if (buf == NULL) {
    errno = ENOMEM;
    return -1;
  }
  payload = buf + ALLOCMAP_HEADER_BYTES;
  plen = encode_runs (present, first, nbits, payload, bitmap_len);
  if (plen == -1) {
    encode_bitmap (present, first, nbits, payload);
    plen = (long) bitmap_len;
    encoding = ENCODING_BITMAP;
  }
  memcpy (buf, MAGIC, 8);
  put_u64 (buf + 8, first);
  put_u32 (buf + 16, nbits);
  put_u32 (buf + 20, block_size);
  put_u32 (buf + 24, encoding);
  put_u32 (buf + 28, (uint32_t) plen);
  put_u32 (payload + plen, allocmap_crc32 (buf, ALLOCMAP_HEADER_BYTES + plen));
  *out = buf;
  return ALLOCMAP_HEADER_BYTES + plen + 4;
}

static int
set_range (struct sbitmap *present, uint64_t from, uint64_t to)
{
  for (uint64_t i = from; i < to; i++)
    if (sbitmap_set (present, i) == -1)
      return -1;
  return 0;
}

#define BAD(msg) do { *why = (msg); errno = EBADMSG; return -1; } while (0)

int
allocmap_decode (const char *buf, size_t len, uint64_t first, uint32_t nbits,
                 uint32_t block_size, struct sbitmap *present,
                 const char **why)
{
  uint32_t plen, encoding;
  const char *p, *end;

  if (len < ALLOCMAP_HEADER_BYTES + 4 || memcmp (buf, MAGIC, 8) != 0)
    BAD ("not an allocation-map segment");
  plen = get_u32 (buf + 28);
  if ((size_t) plen != len - ALLOCMAP_HEADER_BYTES - 4)
    BAD ("its length does not match its header (truncated?)");
  if (allocmap_crc32 (buf, len - 4) != get_u32 (buf + len - 4))
    BAD ("checksum mismatch (damaged)");
  if (get_u64 (buf + 8) != first || get_u32 (buf + 16) != nbits)
    BAD ("it covers other blocks than its key says");
  if (get_u32 (buf + 20) != block_size)
    BAD ("it was written for another block size");
  encoding = get_u32 (buf + 24);
  p = buf + ALLOCMAP_HEADER_BYTES;
  end = p + plen;

  if (encoding == ENCODING_BITMAP) {
    if (plen != (nbits + 7) / 8)
      BAD ("bitmap of the wrong length");
    for (uint32_t bit = 0; bit < nbits; bit++)
      if ((p[bit / 8] >> (bit % 8)) & 1 &&
          sbitmap_set (present, first + bit) == -1) {
        *why = "out of memory";
        errno = ENOMEM;
        return -1;
      }
    return 0;
  }
  if (encoding != ENCODING_RUNS)
    BAD ("unknown encoding");

  uint64_t i = 0;
  bool set = false;
  while (p < end) {
    uint32_t run;

    if (get_varint (&p, end, &run) == -1)
      BAD ("malformed run length");
    if (run > nbits - i)
      BAD ("runs longer than the segment");
    if (set && set_range (present, first + i, first + i + run) == -1) {
      *why = "out of memory";
      errno = ENOMEM;
      return -1;
    }
    i += run;
    set = !set;
  }
  if (i != nbits)
    BAD ("runs shorter than the segment");
  return 0;
}
