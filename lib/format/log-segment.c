/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the log layout's segment objects (log-format.h): ids, keys,
 * and reading a segment's header, index and blocks.  Building one is
 * log-builder.c.
 *
 * The decoders are strict, as cas_page_decode is: a segment that
 * another version or damage could produce is refused with a reason,
 * never guessed at, because a misread index serves wrong blocks and
 * lets compaction drop live ones.  They look at nothing past len, and
 * allocate an index only once the buffer is known to hold it, so a
 * damaged count cannot make them reserve more than they were given.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>
#include <nbdkit-plugin.h>

#include "format/bytes.h"
#include "format/keys.h"
#include "format/log-format.h"
#include "format/log-format-impl.h"

int
log_segment_new_id (uint8_t id[LOG_SEG_ID_LEN])
{
  if (RAND_bytes (id, LOG_SEG_ID_LEN) != 1) {
    nbdkit_error ("cannot make a random segment id: "
                  "libcrypto's random generator failed");
    errno = EIO;
    return -1;
  }
  return 0;
}

int
log_segment_key (char *buf, size_t size, const uint8_t id[LOG_SEG_ID_LEN])
{
  char hex[LOG_SEG_ID_HEX + 1];

  hex_encode (id, LOG_SEG_ID_LEN, hex);
  return snprintf_fits (snprintf (buf, size, LOG_SEGS_PREFIX "%s", hex), size);
}

bool
log_segment_key_parse (const char *key, uint8_t id[LOG_SEG_ID_LEN])
{
  const char *hex;
  uint8_t parsed[LOG_SEG_ID_LEN];

  if (strncmp (key, LOG_SEGS_PREFIX, strlen (LOG_SEGS_PREFIX)) != 0)
    return false;
  hex = key + strlen (LOG_SEGS_PREFIX);
  if (strnlen (hex, LOG_SEG_ID_HEX + 1) != LOG_SEG_ID_HEX ||
      !hex_decode (hex, parsed, LOG_SEG_ID_LEN))
    return false;
  memcpy (id, parsed, LOG_SEG_ID_LEN);
  return true;
}

static int
refuse (const char **why, const char *reason)
{
  *why = reason;
  errno = EINVAL;
  return -1;
}

/* The data length D of a header claiming count records: each record
 * stores 1 to LOG_SEG_STORED_MAX bytes, and the whole object fits in
 * MAX_SEGMENT_SIZE.
 */
static bool
data_len_is_possible (uint32_t count, uint64_t data_len)
{
  return data_len >= count &&
    data_len <= (uint64_t) count * LOG_SEG_STORED_MAX &&
    data_len <= MAX_SEGMENT_SIZE - LOG_SEG_DATA_START (count);
}

int
log_segment_header_decode (const void *buf, size_t len,
                           const uint8_t expected_id[LOG_SEG_ID_LEN],
                           struct log_segment_header *hdr, const char **why)
{
  const uint8_t *b = buf;
  uint32_t count;
  uint64_t data_len;

  if (len < LOG_SEG_HEADER)
    return refuse (why, "it is shorter than a segment header");
  if (memcmp (b + SEG_MAGIC, LOG_SEG_MAGIC, 8) != 0)
    return refuse (why, "it does not start with \"" LOG_SEG_MAGIC "\"");
  if (get_le32 (b + SEG_FLAGS) != 0)
    return refuse (why, "it has format flags this version does not know "
                   "(a later version's segment?)");
  if (!block_size_is_valid (get_le32 (b + SEG_BLOCK_SIZE)))
    return refuse (why, "its block size is not a power of 2 from 512 to 1M");
  if (memcmp (b + SEG_ID, expected_id, LOG_SEG_ID_LEN) != 0)
    return refuse (why, "its segment id is not the one in its key "
                   "(a swapped or misnamed object)");
  if (!bytes_are_zero (b + SEG_ZERO, 4) ||
      !bytes_are_zero (b + SEG_RESERVED, 16))
    return refuse (why, "its reserved header bytes are not zero");
  count = get_le32 (b + SEG_COUNT);
  if (count == 0 || count > LOG_SEG_MAX_RECORDS)
    return refuse (why, "its record count is 0 or more than a segment holds");
  data_len = get_le64 (b + SEG_DATA_LEN);
  if (!data_len_is_possible (count, data_len))
    return refuse (why, "its data length does not fit its records "
                   "in a segment");

  hdr->block_size = get_le32 (b + SEG_BLOCK_SIZE);
  memcpy (hdr->id, b + SEG_ID, LOG_SEG_ID_LEN);
  hdr->count = count;
  hdr->data_len = data_len;
  hdr->data_start = LOG_SEG_DATA_START (count);
  hdr->total_len = hdr->data_start + data_len;
  return 0;
}

/* One record at b, which must start at next (the records tile the data
 * in order) and end within the data.
 */
static int
decode_record (const uint8_t *b, const struct log_segment_header *hdr,
               uint64_t next, struct log_segment_record *r, const char **why)
{
  r->block = get_le64 (b + REC_BLOCK);
  r->offset = get_le32 (b + REC_OFFSET);
  r->stored_len = get_le32 (b + REC_STORED_LEN);
  r->codec = b[REC_CODEC];
  r->logical_len = get_le32 (b + REC_LOGICAL_LEN);
  memcpy (r->hash.b, b + REC_HASH, CAS_HASH_LEN);

  if (b[REC_FLAGS] != 0)
    return refuse (why, "a record has flags this version does not know");
  if (!bytes_are_zero (b + REC_ZERO, 2) ||
      !bytes_are_zero (b + REC_RESERVED, 8))
    return refuse (why, "a record's reserved bytes are not zero");
  if (r->codec != LOG_CODEC_RAW)
    return refuse (why, "a record names a codec this version does not know "
                   "(a later version's segment?)");
  if (r->stored_len == 0 || r->stored_len > LOG_SEG_STORED_MAX)
    return refuse (why, "a record's stored length is 0 or too large");
  if (r->logical_len != hdr->block_size)
    return refuse (why, "a record's logical length is not the block size");
  if (r->stored_len != hdr->block_size)
    return refuse (why, "a raw record's stored length is not the block size");
  if (r->offset != next)
    return refuse (why, "its records do not tile the data in order "
                   "(a gap or an overlap)");
  if ((uint64_t) r->offset + r->stored_len > hdr->total_len)
    return refuse (why, "a record runs past the end of the data");
  return 0;
}

static bool
trailer_matches (const uint8_t *b, const struct log_segment_header *hdr)
{
  struct cas_hash want, got;
  size_t covered = hdr->data_start - LOG_SEG_TRAILER;

  memcpy (want.b, b + covered, CAS_HASH_LEN);
  cas_hash_of (b, covered, &got);
  return cas_hash_equal (&want, &got);
}

int
log_segment_index_decode (const void *buf, size_t len,
                          const uint8_t expected_id[LOG_SEG_ID_LEN],
                          struct log_segment_index *idx, const char **why)
{
  const uint8_t *b = buf;
  struct log_segment_header hdr;
  struct log_segment_record *records;
  uint64_t next;
  uint32_t i;

  if (log_segment_header_decode (buf, len, expected_id, &hdr, why) == -1)
    return -1;
  if (len < hdr.data_start)
    return refuse (why, "it is shorter than its index (truncated?)");
  /* Damage is named as damage, before a field it garbled is blamed. */
  if (!trailer_matches (b, &hdr))
    return refuse (why, "its index does not match its SHA-256 trailer "
                   "(damaged)");

  records = malloc (hdr.count * sizeof *records);
  if (records == NULL) {
    *why = "out of memory";
    errno = ENOMEM;
    return -1;
  }
  next = hdr.data_start;
  for (i = 0; i < hdr.count; i++) {
    if (decode_record (b + seg_record_at (i), &hdr, next, &records[i],
                       why) == -1) {
      free (records);
      return -1;
    }
    next += records[i].stored_len;
  }
  if (next != hdr.total_len) {
    free (records);
    return refuse (why, "its records do not end where its data does");
  }
  idx->hdr = hdr;
  idx->records = records;
  return 0;
}

void
log_segment_index_free (struct log_segment_index *idx)
{
  free (idx->records);
  idx->records = NULL;
  idx->hdr.count = 0;
}

/* What both a record and a leaf's location promise of a block. */
static int
check_stored (uint8_t codec, uint32_t stored_len, uint32_t logical_len,
              const struct cas_hash *want, const void *bytes, size_t len,
              const char **why)
{
  struct cas_hash got;

  if (codec != LOG_CODEC_RAW)
    return refuse (why, "its codec is not one this version knows");
  if (len != stored_len)
    return refuse (why, "the block's length is not its stored length");
  if (stored_len != logical_len)
    return refuse (why, "a raw block's stored length is not the block size");
  cas_hash_of (bytes, len, &got);
  if (!cas_hash_equal (&got, want))
    return refuse (why, "the block does not match its SHA-256 (damaged)");
  return 0;
}

int
log_segment_check_block (const struct log_segment_record *r,
                         const void *bytes, size_t len, const char **why)
{
  return check_stored (r->codec, r->stored_len, r->logical_len, &r->hash,
                       bytes, len, why);
}

int
log_location_check_block (const struct log_location *loc,
                          uint32_t block_size, const void *bytes, size_t len,
                          const char **why)
{
  return check_stored (loc->codec, loc->stored_len, block_size, &loc->hash,
                       bytes, len, why);
}

int
log_segment_verify (const struct log_segment_index *idx,
                    const void *buf, size_t len, const char **why)
{
  const uint8_t *b = buf;
  uint32_t i;

  if (len != idx->hdr.total_len)
    return refuse (why, "its length is not the one its header gives "
                   "(truncated, or extended)");
  for (i = 0; i < idx->hdr.count; i++) {
    const struct log_segment_record *r = &idx->records[i];

    if (log_segment_check_block (r, b + r->offset, r->stored_len, why) == -1)
      return -1;
  }
  return 0;
}
