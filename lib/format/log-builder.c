/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: building a log segment in memory (log-format.h).
 *
 * The index comes before the data and its size depends on how many
 * blocks the segment ends up with, so while it fills the buffer is
 * laid out for the most records the budget holds, and finish moves the
 * data down once to where the final count puts it:
 *
 *   filling:   [header][rec 0 .. rec n-1][ ... room for capacity ... ][data]
 *                                                     data at DATA_START (capacity)
 *   finished:  [header][rec 0 .. rec n-1][trailer][data]
 *                                                 data at DATA_START (n)
 *
 * One buffer of budget bytes, reserved at init and reused by reset:
 * no reallocation as blocks arrive, and no copy but that one move (at
 * most the budget, once per segment, next to a PUT of the same size).
 * Every byte of the object is written by append or finish, so a reused
 * buffer never leaks an older segment's bytes into a newer one.
 *
 * Capacity counts raw records (stored length = block size).  A codec
 * that stores less will fit more records: the builder then reserves
 * the index for its smallest stored length instead.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "format/bytes.h"
#include "format/log-format.h"
#include "format/log-format-impl.h"

uint32_t
log_segment_capacity (uint32_t block_size, size_t budget)
{
  uint64_t n;

  if (!block_size_is_valid (block_size) ||
      budget < LOG_SEG_HEADER + LOG_SEG_TRAILER)
    return 0;
  n = (budget - LOG_SEG_HEADER - LOG_SEG_TRAILER) /
    ((uint64_t) LOG_SEG_RECORD + block_size);
  return n > LOG_SEG_MAX_RECORDS ? LOG_SEG_MAX_RECORDS : (uint32_t) n;
}

int
log_segment_builder_init (struct log_segment_builder *b,
                          const uint8_t id[LOG_SEG_ID_LEN],
                          uint32_t block_size, size_t budget)
{
  memset (b, 0, sizeof *b);
  if (!block_size_is_valid (block_size)) {
    nbdkit_error ("log segment: block size %" PRIu32 " is not a power of 2 "
                  "from 512 to 1M", block_size);
    errno = EINVAL;
    return -1;
  }
  if (budget > MAX_SEGMENT_SIZE ||
      log_segment_capacity (block_size, budget) == 0) {
    nbdkit_error ("log segment: a segment of %zu bytes cannot hold a block "
                  "of %" PRIu32 " bytes, or is above the largest (%d)",
                  budget, block_size, MAX_SEGMENT_SIZE);
    errno = EINVAL;
    return -1;
  }
  b->buf = malloc (budget);
  if (b->buf == NULL) {
    nbdkit_error ("log segment: cannot reserve %zu bytes: %m", budget);
    return -1;
  }
  b->budget = budget;
  b->block_size = block_size;
  b->capacity = log_segment_capacity (block_size, budget);
  log_segment_builder_reset (b, id);
  return 0;
}

void
log_segment_builder_reset (struct log_segment_builder *b,
                           const uint8_t id[LOG_SEG_ID_LEN])
{
  memcpy (b->id, id, LOG_SEG_ID_LEN);
  b->count = 0;
  b->data_len = 0;
  b->finished = false;
}

void
log_segment_builder_free (struct log_segment_builder *b)
{
  free (b->buf);
  memset (b, 0, sizeof *b);
}

bool
log_segment_builder_has_room (const struct log_segment_builder *b)
{
  return !b->finished && b->count < b->capacity;
}

/* Where appended data sits until finish. */
static uint8_t *
filling_data (const struct log_segment_builder *b)
{
  return b->buf + LOG_SEG_DATA_START (b->capacity);
}

/* A raw record; its offset is written by finish. */
static void
put_raw_record (uint8_t *r, uint64_t block, uint32_t block_size,
                const struct cas_hash *hash)
{
  memset (r, 0, LOG_SEG_RECORD);
  put_le64 (r + REC_BLOCK, block);
  put_le32 (r + REC_STORED_LEN, block_size);
  r[REC_CODEC] = LOG_CODEC_RAW;
  put_le32 (r + REC_LOGICAL_LEN, block_size);
  memcpy (r + REC_HASH, hash->b, CAS_HASH_LEN);
}

int
log_segment_builder_append (struct log_segment_builder *b, uint64_t block,
                            const void *bytes, uint32_t *record_out)
{
  return log_segment_builder_append_hashed (b, block, bytes, NULL,
                                            record_out);
}

int
log_segment_builder_append_hashed (struct log_segment_builder *b,
                                   uint64_t block, const void *bytes,
                                   const struct cas_hash *hash,
                                   uint32_t *record_out)
{
  struct cas_hash computed;

  if (b->finished) {
    errno = EINVAL;
    return -1;
  }
  if (!log_segment_builder_has_room (b)) {
    errno = ENOSPC;
    return -1;
  }
  if (hash == NULL) {
    cas_hash_of (bytes, b->block_size, &computed);
    hash = &computed;
  }
  put_raw_record (b->buf + seg_record_at (b->count), block, b->block_size,
                  hash);
  memcpy (filling_data (b) + b->data_len, bytes, b->block_size);
  b->data_len += b->block_size;
  *record_out = b->count++;
  return 0;
}

/* Each record's offset: the records tile the data in order from
 * data_start.
 */
static void
put_offsets (struct log_segment_builder *b, uint64_t data_start)
{
  uint64_t offset = data_start;
  uint32_t i;

  for (i = 0; i < b->count; i++) {
    uint8_t *r = b->buf + seg_record_at (i);

    put_le32 (r + REC_OFFSET, (uint32_t) offset);
    offset += get_le32 (r + REC_STORED_LEN);
  }
}

static void
put_header (struct log_segment_builder *b)
{
  uint8_t *h = b->buf;

  memset (h, 0, LOG_SEG_HEADER);
  memcpy (h + SEG_MAGIC, LOG_SEG_MAGIC, 8);
  put_le32 (h + SEG_BLOCK_SIZE, b->block_size);
  memcpy (h + SEG_ID, b->id, LOG_SEG_ID_LEN);
  put_le32 (h + SEG_COUNT, b->count);
  put_le64 (h + SEG_DATA_LEN, b->data_len);
}

int
log_segment_builder_finish (struct log_segment_builder *b,
                            const void **obj, size_t *len)
{
  uint64_t data_start = LOG_SEG_DATA_START (b->count);
  size_t covered = data_start - LOG_SEG_TRAILER;
  struct cas_hash trailer;

  if (b->count == 0) {
    errno = EINVAL;
    return -1;
  }
  if (!b->finished) {
    /* A full segment's data is already where it belongs: 8 MiB not
     * moved onto itself.
     */
    if (b->buf + data_start != filling_data (b))
      memmove (b->buf + data_start, filling_data (b), b->data_len);
    put_offsets (b, data_start);
    put_header (b);
    cas_hash_of (b->buf, covered, &trailer);
    memcpy (b->buf + covered, trailer.b, CAS_HASH_LEN);
    b->finished = true;
  }
  *obj = b->buf;
  *len = data_start + b->data_len;
  return 0;
}

void
log_segment_builder_location (const struct log_segment_builder *b,
                              uint32_t i, struct log_location *loc)
{
  const uint8_t *r = b->buf + seg_record_at (i);

  memcpy (loc->seg, b->id, LOG_SEG_ID_LEN);
  loc->offset = get_le32 (r + REC_OFFSET);
  loc->stored_len = get_le32 (r + REC_STORED_LEN);
  loc->codec = r[REC_CODEC];
  memcpy (loc->hash.b, r + REC_HASH, CAS_HASH_LEN);
}
