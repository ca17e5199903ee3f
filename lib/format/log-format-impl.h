/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: where each field of the log layout's objects sits (the
 * tables in log-format.h), shared by the segment's decoder
 * (log-segment.c), its builder (log-builder.c) and the leaf page's
 * codec (log-leaf.c).  Private to lib/format/.
 */

#ifndef S3BLOCKS_LOG_FORMAT_IMPL_H
#define S3BLOCKS_LOG_FORMAT_IMPL_H

#include "format/log-format.h"

/* Segment header. */
enum {
  SEG_MAGIC = 0,                /* 8 */
  SEG_FLAGS = 8,                /* 4 */
  SEG_BLOCK_SIZE = 12,          /* 4 */
  SEG_ID = 16,                  /* 16 */
  SEG_COUNT = 32,               /* 4 */
  SEG_ZERO = 36,                /* 4 */
  SEG_DATA_LEN = 40,            /* 8 */
  SEG_RESERVED = 48,            /* 16 */
};

/* Segment record. */
enum {
  REC_BLOCK = 0,                /* 8 */
  REC_OFFSET = 8,               /* 4 */
  REC_STORED_LEN = 12,          /* 4 */
  REC_CODEC = 16,               /* 1 */
  REC_FLAGS = 17,               /* 1 */
  REC_ZERO = 18,                /* 2 */
  REC_LOGICAL_LEN = 20,         /* 4 */
  REC_RESERVED = 24,            /* 8 */
  REC_HASH = 32,                /* 32 */
};

/* Leaf entry. */
enum {
  LEAF_SLOT = 0,                /* 2 */
  LEAF_SEG = 2,                 /* 16 */
  LEAF_OFFSET = 18,             /* 4 */
  LEAF_STORED_LEN = 22,         /* 4 */
  LEAF_CODEC = 26,              /* 1 */
  LEAF_FLAGS = 27,              /* 1 */
  LEAF_ZERO = 28,               /* 2 */
  LEAF_HASH = 30,               /* 32 */
};

/* Each table ends where its object's size says. */
_Static_assert (SEG_RESERVED + 16 == LOG_SEG_HEADER, "segment header size");
_Static_assert (REC_HASH + CAS_HASH_LEN == LOG_SEG_RECORD, "record size");
_Static_assert (LEAF_HASH + CAS_HASH_LEN == LOG_LEAF_ENTRY, "leaf entry size");

/* The record of index i in a segment's buffer. */
static inline size_t
seg_record_at (uint32_t i)
{
  return LOG_SEG_HEADER + (size_t) i * LOG_SEG_RECORD;
}

#endif /* S3BLOCKS_LOG_FORMAT_IMPL_H */
