/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the persisted allocation map of the plain layout, one
 * segment at a time (allocmap.c).
 *
 * A segment records which of ALLOCMAP_SEGMENT_BLOCKS consecutive
 * blocks have an object.  It is binary, little-endian, and checked:
 *
 *   magic     8 bytes  "s3bmap1\n"
 *   first     u64      first block index covered
 *   nbits     u32      blocks covered
 *   bsize     u32      the export's block size
 *   encoding  u32      0: a plain bitmap, 1: runs
 *   plen      u32      payload bytes
 *   payload   plen     bitmap: nbits bits, LSB first;
 *                      runs: LEB128 lengths, alternately absent and
 *                      present, starting with absent, summing to nbits
 *   crc       u32      CRC-32 (IEEE) of everything before it
 *
 * The encoder picks whichever is smaller, so a sparse or contiguous
 * segment costs a few bytes and a random one at most one bit per block
 * plus 36 bytes.  Its key, and who writes and reads it:
 * docs/bucket-format.md (which carries this format too).
 */

#ifndef S3BLOCKS_ALLOCMAP_H
#define S3BLOCKS_ALLOCMAP_H

#include <stddef.h>
#include <stdint.h>

#include "sbitmap.h"

#define ALLOCMAP_SEGMENT_BLOCKS (UINT32_C (1) << 20)
#define ALLOCMAP_HEADER_BYTES 32
#define ALLOCMAP_MAX_BYTES \
  (ALLOCMAP_HEADER_BYTES + ALLOCMAP_SEGMENT_BLOCKS / 8 + 4)

/* Encode bits [first, first + nbits) of present into a new buffer
 * (free it).  Returns its length, or -1 with errno ENOMEM.
 */
extern long allocmap_encode (const struct sbitmap *present, uint64_t first,
                             uint32_t nbits, uint32_t block_size,
                             char **out);

/* Check and decode a segment that must cover [first, first + nbits) of
 * an export with block_size, setting its present bits.  Returns 0, or
 * -1 with *why set to a static description (errno EBADMSG, or ENOMEM).
 */
extern int allocmap_decode (const char *buf, size_t len, uint64_t first,
                            uint32_t nbits, uint32_t block_size,
                            struct sbitmap *present, const char **why);

extern uint32_t allocmap_crc32 (const void *buf, size_t len);

#endif /* S3BLOCKS_ALLOCMAP_H */
