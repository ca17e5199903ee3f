/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the byte-level pieces every binary and text format shares:
 * little-endian integers and lower-case hex.  Every object in the bucket
 * is little-endian and writes its hex in lower case
 * (docs/bucket-format.md), so one copy of each serves them all.
 */

#ifndef S3BLOCKS_BYTES_H
#define S3BLOCKS_BYTES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

static inline void
put_le16 (uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t) v;
  p[1] = (uint8_t) (v >> 8);
}

static inline void
put_le32 (uint8_t *p, uint32_t v)
{
  put_le16 (p, (uint16_t) v);
  put_le16 (p + 2, (uint16_t) (v >> 16));
}

static inline void
put_le64 (uint8_t *p, uint64_t v)
{
  put_le32 (p, (uint32_t) v);
  put_le32 (p + 4, (uint32_t) (v >> 32));
}

static inline uint16_t
get_le16 (const uint8_t *p)
{
  return (uint16_t) (p[0] | p[1] << 8);
}

static inline uint32_t
get_le32 (const uint8_t *p)
{
  return (uint32_t) get_le16 (p) | (uint32_t) get_le16 (p + 2) << 16;
}

static inline uint64_t
get_le64 (const uint8_t *p)
{
  return (uint64_t) get_le32 (p) | (uint64_t) get_le32 (p + 4) << 32;
}

/* True if the n bytes at p are all zero: reserved fields. */
static inline bool
bytes_are_zero (const uint8_t *p, size_t n)
{
  size_t i;

  for (i = 0; i < n; i++)
    if (p[i])
      return false;
  return true;
}

/* out: 2 * n lower-case hex digits and a NUL. */
extern void hex_encode (const uint8_t *in, size_t n, char *out);
/* Exactly 2 * n lower-case hex digits at hex (no NUL needed after
 * them); false for anything else, with out unchanged or partly written.
 */
extern bool hex_decode (const char *hex, uint8_t *out, size_t n);

#endif /* S3BLOCKS_BYTES_H */
