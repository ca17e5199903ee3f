/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the limits every object format and the configuration
 * agree on.  A header of constants (and the one test of a block size
 * against them), so that a format never pulls in the configuration to
 * learn them.
 */

#ifndef S3BLOCKS_LIMITS_H
#define S3BLOCKS_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

/* Block sizes: a power of 2 in this range. */
#define MIN_BLOCK_SIZE 512
#define MAX_BLOCK_SIZE (1024 * 1024)

static inline bool
block_size_is_valid (uint64_t n)
{
  return n >= MIN_BLOCK_SIZE && n <= MAX_BLOCK_SIZE && (n & (n - 1)) == 0;
}

/* The log layout's segment objects: at most this many bytes, so its
 * segment-size is at most this too.  The writer holds a segment whole
 * in memory while it fills and uploads it, and compaction rewrites one
 * whole; past a few hundred MiB neither gets cheaper per block (8 MiB
 * already spreads a PUT over 2048 blocks of 4 KiB).  The bound also
 * keeps the largest index a reader may hold (LOG_SEG_MAX_RECORDS, in
 * log-format.h) near 30 MiB.
 */
#define MAX_SEGMENT_SIZE (256 * 1024 * 1024)

/* An export or snapshot name: 1 to this many characters (names.h). */
#define MAX_EXPORT_NAME 128

/* "export@snap" with its NUL. */
#define NAME_REF_MAX (2 * MAX_EXPORT_NAME + 2)

#endif /* S3BLOCKS_LIMITS_H */
