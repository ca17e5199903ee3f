/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the log layout's objects (layout=log, not yet served):
 * segments (log/segs/) and the leaf pages of its map trees (in
 * cas/pages/).  Where each sits in the bucket and who writes and reads
 * it: docs/bucket-format.md, which carries the formats below too
 * (change both together).
 *
 * The log layout packs dirty blocks into large immutable segment
 * objects and maps block numbers to where a block's bytes sit in a
 * segment through a cas map tree (cas-format.h): its interior pages are
 * cas pages exactly, its leaves are log leaf pages, which name a
 * location instead of a content hash.
 *
 * Segment key: log/segs/{id}, id 16 random bytes as 32 lower-case hex
 * digits.  Segment format (little-endian), built whole in memory:
 *
 *   header, LOG_SEG_HEADER (64) bytes:
 *     8  LOG_SEG_MAGIC "S3BLSEG1"
 *     4  format flags, 0 (a reader refuses any bit it does not know)
 *     4  block size, a power of 2 from 512 to 1 MiB
 *    16  segment id, equal to the id in the key
 *     4  record count N, 1..LOG_SEG_MAX_RECORDS
 *     4  zero
 *     8  data length D, the sum of the records' stored lengths
 *    16  zero
 *   index: N records of LOG_SEG_RECORD (64) bytes, in data order:
 *     8  block number (in the writing export, when written)
 *     4  offset of the stored bytes from the start of the object
 *     4  stored length, 1..LOG_SEG_STORED_MAX (codec 0: the block size)
 *     1  codec: 0 raw (the stored bytes are the block)
 *     1  flags, 0
 *     2  zero
 *     4  logical length, the block size
 *     8  zero
 *    32  SHA-256 of the block's logical (decoded) bytes
 *   trailer, LOG_SEG_TRAILER (32) bytes: SHA-256 of header and index
 *   data: D bytes from data_start = 64 + 64 N + 32, which the records
 *     tile in order: no gap, no overlap
 *
 * The object is exactly data_start + D bytes, at most MAX_SEGMENT_SIZE.
 * A block number may appear in more than one record (of one segment or
 * of many): the map says which copy is live.
 *
 * Log leaf page (a cas/pages/ object, keyed by its SHA-256 as every
 * page is):
 *   8 bytes   LOG_LEAF_MAGIC "S3BLOGP1" (a cas reader refuses it, and
 *             a log reader a cas leaf)
 *   1 byte    level, always 0
 *   3 bytes   zero
 *   4 bytes   count of entries (1..LOG_LEAF_FANOUT, 4096: a log leaf
 *             maps four times the blocks of a cas leaf, so that a
 *             sequential GiB needs 64 leaves beside its 128 segments;
 *             docs/log-layout.md, "Requests")
 *   count x LOG_LEAF_ENTRY (62) bytes, slots strictly increasing:
 *     2  slot (block = the page's first block + slot)
 *    16  segment id
 *     4  offset in the segment
 *     4  stored length
 *     1  codec
 *     1  flags, 0
 *     2  zero
 *    32  SHA-256 of the logical block
 */

#ifndef S3BLOCKS_LOG_FORMAT_H
#define S3BLOCKS_LOG_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/cas-format.h"
#include "format/limits.h"

#define LOG_SEGS_PREFIX "log/segs/"

#define LOG_SEG_ID_LEN 16
#define LOG_SEG_ID_HEX (2 * LOG_SEG_ID_LEN)

/* A fresh random segment id (libcrypto's generator, as incarnations
 * use).  0, or -1 after nbdkit_error (errno EIO).
 */
extern int log_segment_new_id (uint8_t id[LOG_SEG_ID_LEN]);
/* log/segs/{32 hex}: the key's length, or -1 (errno ENAMETOOLONG). */
extern int log_segment_key (char *buf, size_t size,
                            const uint8_t id[LOG_SEG_ID_LEN]);
/* The id a segment key names; false for any other key (another tool's
 * object, or upper-case hex).
 */
extern bool log_segment_key_parse (const char *key,
                                   uint8_t id[LOG_SEG_ID_LEN]);

/* Segments. */
#define LOG_SEG_MAGIC "S3BLSEG1"
#define LOG_SEG_HEADER 64
#define LOG_SEG_RECORD 64
#define LOG_SEG_TRAILER CAS_HASH_LEN
/* Where the data starts in a segment of n records. */
#define LOG_SEG_DATA_START(n) \
  (LOG_SEG_HEADER + (uint64_t) (n) * LOG_SEG_RECORD + LOG_SEG_TRAILER)
/* The most records a segment has: as many raw blocks of the smallest
 * size as the largest segment holds (466033).  It bounds what a reader
 * allocates for an index, whatever a damaged header claims.
 */
#define LOG_SEG_MAX_RECORDS \
  ((MAX_SEGMENT_SIZE - LOG_SEG_HEADER - LOG_SEG_TRAILER) / \
   (LOG_SEG_RECORD + MIN_BLOCK_SIZE))
/* The longest stored form of a block: room for a later codec's worst
 * case (compression that expands, encryption's nonce and tag).
 */
#define LOG_SEG_STORED_MAX (2 * MAX_BLOCK_SIZE)

enum log_codec {
  LOG_CODEC_RAW = 0,
};

struct log_segment_header {
  uint32_t block_size;
  uint8_t id[LOG_SEG_ID_LEN];
  uint32_t count;
  uint64_t data_len;
  uint64_t data_start;          /* LOG_SEG_DATA_START (count) */
  uint64_t total_len;           /* data_start + data_len */
};

struct log_segment_record {
  uint64_t block;
  uint32_t offset, stored_len, logical_len;
  uint8_t codec;
  struct cas_hash hash;
};

struct log_segment_index {
  struct log_segment_header hdr;
  struct log_segment_record *records;   /* hdr.count, in data order */
};

/* The decoders return 0, or -1 with *why set to a static description
 * (errno EINVAL, or ENOMEM with *why "out of memory"), and never read
 * past len.
 *
 * The header: the first LOG_SEG_HEADER bytes of buf (len may be more).
 * Checks every field, including that id is expected_id (the id in the
 * key the object was read from: a swapped object is refused) and that
 * the object's length is within MAX_SEGMENT_SIZE.
 */
extern int log_segment_header_decode (const void *buf, size_t len,
                                      const uint8_t expected_id[LOG_SEG_ID_LEN],
                                      struct log_segment_header *hdr,
                                      const char **why);
/* The header and index: [0, data_start) of buf (one ranged GET; bytes
 * past data_start are not looked at).  Checks the header, the trailer's
 * hash, and every record; allocates idx->records only once buf is known
 * to hold them all.
 */
extern int log_segment_index_decode (const void *buf, size_t len,
                                     const uint8_t expected_id[LOG_SEG_ID_LEN],
                                     struct log_segment_index *idx,
                                     const char **why);
extern void log_segment_index_free (struct log_segment_index *idx);
/* A whole object, its index already decoded from it: its length is
 * the header's and every block checks (log_segment_check_block).
 */
extern int log_segment_verify (const struct log_segment_index *idx,
                               const void *buf, size_t len,
                               const char **why);

/* The stored bytes of one block (len of them, as read from the
 * segment) decode and hash to what the record says.  Codec 0: the
 * length is the stored length.  0, or -1 with *why (errno EINVAL).
 */
extern int log_segment_check_block (const struct log_segment_record *r,
                                    const void *bytes, size_t len,
                                    const char **why);

/* Building a segment.  The writer appends blocks while there is room,
 * then finishes: the object is one contiguous buffer, reserved once at
 * the budget's size (the segment-size) and reused by reset.  Offsets
 * depend on the final record count (the index comes before the data),
 * so a block's location is known only after finish.
 *
 * Not thread-safe: one builder is one thread's at a time.
 */
struct log_segment_builder {
  uint8_t *buf;                 /* budget bytes */
  size_t budget;
  uint32_t block_size;
  uint8_t id[LOG_SEG_ID_LEN];
  uint32_t capacity;            /* most records the budget holds */
  uint32_t count;               /* records appended */
  uint64_t data_len;
  bool finished;
};

/* 0, or -1 after nbdkit_error: EINVAL if block_size is not a block
 * size or budget cannot hold one block or is above MAX_SEGMENT_SIZE,
 * ENOMEM.
 */
extern int log_segment_builder_init (struct log_segment_builder *b,
                                     const uint8_t id[LOG_SEG_ID_LEN],
                                     uint32_t block_size, size_t budget);
/* Empty again, for a new segment, keeping the buffer. */
extern void log_segment_builder_reset (struct log_segment_builder *b,
                                       const uint8_t id[LOG_SEG_ID_LEN]);
extern void log_segment_builder_free (struct log_segment_builder *b);
/* The most records a segment of budget bytes holds (0: none). */
extern uint32_t log_segment_capacity (uint32_t block_size, size_t budget);
/* Does one more block fit in the budget? */
extern bool log_segment_builder_has_room (const struct log_segment_builder *b);
/* Appends block (block_size bytes, stored raw) as record number
 * *record_out.  0, or -1 with errno ENOSPC (no room) or EINVAL
 * (finished): the builder is unchanged.
 */
extern int log_segment_builder_append (struct log_segment_builder *b,
                                       uint64_t block, const void *bytes,
                                       uint32_t *record_out);
/* The same, with the block's SHA-256 already computed by the caller
 * (it must be the hash of bytes: the record is written as given).
 */
extern int log_segment_builder_append_hashed (struct log_segment_builder *b,
                                              uint64_t block,
                                              const void *bytes,
                                              const struct cas_hash *hash,
                                              uint32_t *record_out);
/* Writes header, index offsets and trailer: *obj, *len is the object,
 * valid until reset or free.  -1 (errno EINVAL) if no block was
 * appended (a segment has at least one).
 */
extern int log_segment_builder_finish (struct log_segment_builder *b,
                                       const void **obj, size_t *len);

/* Where a block sits: a log leaf's entry, a segment record's place. */
struct log_location {
  uint8_t seg[LOG_SEG_ID_LEN];
  uint32_t offset, stored_len;
  uint8_t codec;
  struct cas_hash hash;
};

/* After finish: record i's location. */
extern void log_segment_builder_location (const struct log_segment_builder *b,
                                          uint32_t i,
                                          struct log_location *loc);

/* The bytes read from loc's extent (len of them) decode and hash to
 * loc's hash; a raw block is block_size bytes.  0, or -1 with *why
 * (errno EINVAL).
 */
extern int log_location_check_block (const struct log_location *loc,
                                     uint32_t block_size,
                                     const void *bytes, size_t len,
                                     const char **why);

/* Log leaf pages. */
#define LOG_LEAF_MAGIC "S3BLOGP1"
#define LOG_LEAF_ENTRY (2 + LOG_SEG_ID_LEN + 4 + 4 + 1 + 1 + 2 + CAS_HASH_LEN)
#define LOG_LEAF_FANOUT_BITS 12
#define LOG_LEAF_FANOUT (1u << LOG_LEAF_FANOUT_BITS)
#define LOG_LEAF_MAX (CAS_PAGE_HEADER + LOG_LEAF_FANOUT * LOG_LEAF_ENTRY)

struct log_leaf_entry {
  uint16_t slot;
  struct log_location loc;
};

struct log_leaf {
  uint32_t count;
  struct log_leaf_entry *entries;       /* sorted by slot, unique */
};

/* buf: LOG_LEAF_MAX bytes.  Returns the page's length. */
extern size_t log_leaf_encode (const struct log_leaf *p, void *buf);
/* Checks everything in the format (an entry's extent must lie in a
 * segment's data); allocates p->entries.  Returns 0, or -1 with *why
 * set (errno EINVAL, or ENOMEM with *why "out of memory").
 */
extern int log_leaf_decode (const void *buf, size_t len, struct log_leaf *p,
                            const char **why);
extern void log_leaf_free (struct log_leaf *p);
extern bool log_leaf_find (const struct log_leaf *p, unsigned slot,
                           struct log_location *out);

#endif /* S3BLOCKS_LOG_FORMAT_H */
