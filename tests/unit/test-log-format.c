/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the log layout's objects (log-format.h):
 * segment ids and keys, the segment builder and decoders, the leaf page,
 * and their every rejection.
 *
 * Segments are also crafted here by hand from the table in
 * log-format.h, not through the builder, so that the builder is checked
 * against the documented format rather than against itself.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "format/log-format.h"
#include "tests.h"

static const uint8_t id_a[LOG_SEG_ID_LEN] = {
  0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
  0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
};
static const uint8_t id_b[LOG_SEG_ID_LEN] = {
  0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
  0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xfe,
};

/* Little-endian writes of our own: the tests encode from the table. */
static void
le (uint8_t *p, uint64_t v, int bytes)
{
  int i;

  for (i = 0; i < bytes; i++)
    p[i] = (uint8_t) (v >> (8 * i));
}

static uint64_t
from_le (const uint8_t *p, int bytes)
{
  uint64_t v = 0;
  int i;

  for (i = 0; i < bytes; i++)
    v |= (uint64_t) p[i] << (8 * i);
  return v;
}

static void
fill_block (uint8_t *buf, uint32_t block_size, uint64_t seed)
{
  uint32_t i;

  for (i = 0; i < block_size; i++)
    buf[i] = (uint8_t) (seed * 31 + i * 7 + (i >> 8));
}

/* Segments crafted from the table. */

static void
craft_header (uint8_t *b, const uint8_t id[LOG_SEG_ID_LEN],
              uint32_t block_size, uint32_t count, uint64_t data_len)
{
  memset (b, 0, LOG_SEG_HEADER);
  memcpy (b, "S3BLSEG1", 8);
  le (b + 12, block_size, 4);
  memcpy (b + 16, id, LOG_SEG_ID_LEN);
  le (b + 32, count, 4);
  le (b + 40, data_len, 8);
}

static void
craft_record (uint8_t *r, uint64_t block, uint32_t offset,
              uint32_t block_size, const struct cas_hash *h)
{
  memset (r, 0, LOG_SEG_RECORD);
  le (r, block, 8);
  le (r + 8, offset, 4);
  le (r + 12, block_size, 4);
  le (r + 20, block_size, 4);
  memcpy (r + 32, h->b, CAS_HASH_LEN);
}

/* The trailer of a segment of count records: SHA-256 of what precedes. */
static void
reseal (uint8_t *b, uint32_t count)
{
  struct cas_hash h;
  size_t covered = LOG_SEG_HEADER + (size_t) count * LOG_SEG_RECORD;

  cas_hash_of (b, covered, &h);
  memcpy (b + covered, h.b, CAS_HASH_LEN);
}

/* A whole raw segment of count blocks numbered blocks[i], data seed i;
 * with_data false: only [0, data_start), records' hashes of filler.
 * Returns a malloc'd buffer and its length in *len.
 */
static uint8_t *
craft_segment (const uint8_t id[LOG_SEG_ID_LEN], uint32_t block_size,
               uint32_t count, const uint64_t *blocks, bool with_data,
               size_t *len)
{
  size_t data_start = LOG_SEG_DATA_START (count);
  uint64_t data_len = (uint64_t) count * block_size;
  uint8_t *b;
  uint32_t i;

  *len = data_start + (with_data ? data_len : 0);
  b = malloc (*len);
  CU_ASSERT_PTR_NOT_NULL_FATAL (b);
  craft_header (b, id, block_size, count, data_len);
  for (i = 0; i < count; i++) {
    size_t offset = data_start + (size_t) i * block_size;
    struct cas_hash h;

    if (with_data) {
      fill_block (b + offset, block_size, i);
      cas_hash_of (b + offset, block_size, &h);
    }
    else
      memset (h.b, (int) i, sizeof h.b);
    craft_record (b + LOG_SEG_HEADER + (size_t) i * LOG_SEG_RECORD,
                  blocks ? blocks[i] : i, (uint32_t) offset, block_size, &h);
  }
  reseal (b, count);
  return b;
}

/* Decoding. */

static bool
indexes_equal (const struct log_segment_index *a,
               const struct log_segment_index *b)
{
  uint32_t i;

  if (a->hdr.block_size != b->hdr.block_size ||
      memcmp (a->hdr.id, b->hdr.id, LOG_SEG_ID_LEN) != 0 ||
      a->hdr.count != b->hdr.count || a->hdr.data_len != b->hdr.data_len)
    return false;
  for (i = 0; i < a->hdr.count; i++) {
    const struct log_segment_record *x = &a->records[i], *y = &b->records[i];

    if (x->block != y->block || x->offset != y->offset ||
        x->stored_len != y->stored_len || x->logical_len != y->logical_len ||
        x->codec != y->codec || !cas_hash_equal (&x->hash, &y->hash))
      return false;
  }
  return true;
}

/* Refused with errno EINVAL and a reason containing what (NULL: any). */
static void
expect_bad_index (const uint8_t *buf, size_t len, const uint8_t *id,
                  const char *what)
{
  struct log_segment_index idx = { .records = NULL };
  const char *why = NULL;

  errno = 0;
  CU_ASSERT_EQUAL (log_segment_index_decode (buf, len, id, &idx, &why), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  CU_ASSERT_PTR_NULL (idx.records);
  CU_ASSERT_PTR_NOT_NULL_FATAL (why);
  if (what) {
    if (strstr (why, what) == NULL)
      fprintf (stderr, "\nexpected \"%s\", got \"%s\"\n", what, why);
    CU_ASSERT_PTR_NOT_NULL (strstr (why, what));
  }
}

static void
test_ids_and_keys (void)
{
  uint8_t a[LOG_SEG_ID_LEN], b[LOG_SEG_ID_LEN], back[LOG_SEG_ID_LEN];
  char key[KEY_MAX];

  CU_ASSERT_EQUAL (log_segment_new_id (a), 0);
  CU_ASSERT_EQUAL (log_segment_new_id (b), 0);
  CU_ASSERT_NOT_EQUAL (memcmp (a, b, LOG_SEG_ID_LEN), 0);

  CU_ASSERT_EQUAL (log_segment_key (key, sizeof key, id_a), 9 + 32);
  CU_ASSERT_STRING_EQUAL (key, "log/segs/00112233445566778899aabbccddeeff");
  CU_ASSERT_TRUE (log_segment_key_parse (key, back));
  CU_ASSERT_EQUAL (memcmp (back, id_a, LOG_SEG_ID_LEN), 0);
  CU_ASSERT_EQUAL (log_segment_key (key, 9 + 32, id_a), -1);
  CU_ASSERT_EQUAL (errno, ENAMETOOLONG);

  log_segment_key (key, sizeof key, a);
  CU_ASSERT_TRUE (log_segment_key_parse (key, back));
  CU_ASSERT_EQUAL (memcmp (back, a, LOG_SEG_ID_LEN), 0);

  /* Other tools' objects, and other spellings, are not segments. */
  CU_ASSERT_FALSE (log_segment_key_parse ("", back));
  CU_ASSERT_FALSE (log_segment_key_parse ("log/segs/", back));
  CU_ASSERT_FALSE (log_segment_key_parse
                   ("log/segs/00112233445566778899aabbccddeef", back));
  CU_ASSERT_FALSE (log_segment_key_parse
                   ("log/segs/00112233445566778899aabbccddeeff0", back));
  CU_ASSERT_FALSE (log_segment_key_parse
                   ("log/segs/00112233445566778899AABBCCDDEEFF", back));
  CU_ASSERT_FALSE (log_segment_key_parse
                   ("log/segs/00112233445566778899aabbccddeefg", back));
  CU_ASSERT_FALSE (log_segment_key_parse
                   ("log/segs/00112233445566778899aabbccddeeff.tmp", back));
  CU_ASSERT_FALSE (log_segment_key_parse
                   ("log/seg/00112233445566778899aabbccddeeff", back));
  CU_ASSERT_FALSE (log_segment_key_parse
                   ("cas/data/00112233445566778899aabbccddeeff", back));
  CU_ASSERT_FALSE (log_segment_key_parse
                   ("log/segs/x/0112233445566778899aabbccddeeff", back));
}

/* Builds count blocks, numbered blocks[i] (NULL: i), data seed i. */
static const void *
build (struct log_segment_builder *b, uint32_t count, const uint64_t *blocks,
       size_t *len)
{
  uint8_t *block = malloc (b->block_size);
  const void *obj = NULL;
  uint32_t i, rec;

  CU_ASSERT_PTR_NOT_NULL_FATAL (block);
  for (i = 0; i < count; i++) {
    fill_block (block, b->block_size, i);
    CU_ASSERT_TRUE (log_segment_builder_has_room (b));
    CU_ASSERT_EQUAL (log_segment_builder_append (b, blocks ? blocks[i] : i,
                                                 block, &rec), 0);
    CU_ASSERT_EQUAL (rec, i);
  }
  free (block);
  CU_ASSERT_EQUAL (log_segment_builder_finish (b, &obj, len), 0);
  return obj;
}

/* Decode obj whole and check every record against what was built. */
static void
check_built (const struct log_segment_builder *b, const void *obj,
             size_t len, uint32_t count, const uint64_t *blocks)
{
  struct log_segment_index idx;
  struct log_location loc;
  const char *why = NULL;
  uint8_t *block = malloc (b->block_size);
  uint32_t i;

  CU_ASSERT_PTR_NOT_NULL_FATAL (block);
  CU_ASSERT_EQUAL (len, LOG_SEG_DATA_START (count) +
                   (uint64_t) count * b->block_size);
  CU_ASSERT_EQUAL_FATAL (log_segment_index_decode (obj, len, b->id, &idx,
                                                   &why), 0);
  CU_ASSERT_EQUAL (idx.hdr.count, count);
  CU_ASSERT_EQUAL (idx.hdr.block_size, b->block_size);
  CU_ASSERT_EQUAL (idx.hdr.total_len, len);
  CU_ASSERT_EQUAL (log_segment_verify (&idx, obj, len, &why), 0);
  for (i = 0; i < count; i++) {
    const struct log_segment_record *r = &idx.records[i];

    fill_block (block, b->block_size, i);
    CU_ASSERT_EQUAL (r->block, blocks ? blocks[i] : i);
    CU_ASSERT_EQUAL (r->codec, LOG_CODEC_RAW);
    CU_ASSERT_EQUAL (memcmp ((const uint8_t *) obj + r->offset, block,
                             b->block_size), 0);
    log_segment_builder_location (b, i, &loc);
    CU_ASSERT_EQUAL (memcmp (loc.seg, b->id, LOG_SEG_ID_LEN), 0);
    CU_ASSERT_EQUAL (loc.offset, r->offset);
    CU_ASSERT_EQUAL (loc.stored_len, r->stored_len);
    CU_ASSERT_EQUAL (loc.codec, r->codec);
    CU_ASSERT_TRUE (cas_hash_equal (&loc.hash, &r->hash));
    CU_ASSERT_EQUAL (log_location_check_block (&loc, b->block_size, block,
                                               b->block_size, &why), 0);
  }
  log_segment_index_free (&idx);
  free (block);
}

static void
test_one_block (void)
{
  struct log_segment_builder b;
  struct log_segment_header hdr;
  const char *why = NULL;
  const uint8_t *obj;
  uint8_t *crafted;
  size_t len, crafted_len;

  CU_ASSERT_EQUAL_FATAL (log_segment_builder_init (&b, id_a, 4096,
                                                   8 << 20), 0);
  obj = build (&b, 1, NULL, &len);
  CU_ASSERT_EQUAL (len, 64 + 64 + 32 + 4096);
  CU_ASSERT_EQUAL (memcmp (obj, "S3BLSEG1\0\0\0\0\0\x10\0\0", 16), 0);
  check_built (&b, obj, len, 1, NULL);

  /* The header alone, from exactly its 64 bytes. */
  CU_ASSERT_EQUAL (log_segment_header_decode (obj, 64, id_a, &hdr, &why), 0);
  CU_ASSERT_EQUAL (hdr.block_size, 4096);
  CU_ASSERT_EQUAL (hdr.count, 1);
  CU_ASSERT_EQUAL (hdr.data_len, 4096);
  CU_ASSERT_EQUAL (hdr.data_start, 160);
  CU_ASSERT_EQUAL (hdr.total_len, 160 + 4096);

  /* The builder writes the table, byte for byte. */
  crafted = craft_segment (id_a, 4096, 1, NULL, true, &crafted_len);
  CU_ASSERT_EQUAL (crafted_len, len);
  CU_ASSERT_EQUAL (memcmp (crafted, obj, len), 0);
  free (crafted);
  log_segment_builder_free (&b);
}

/* Block numbers in any order, repeated, and at both ends of the range. */
static void
test_mixed_blocks (void)
{
  static const uint64_t blocks[] = {
    7, 0, UINT64_MAX, 7, 1ull << 40, 3, 2, 1,
  };
  const uint32_t n = sizeof blocks / sizeof blocks[0];
  struct log_segment_builder b;
  const void *obj;
  uint8_t *crafted;
  size_t len, crafted_len;

  CU_ASSERT_EQUAL_FATAL (log_segment_builder_init (&b, id_b, 512,
                                                   64 << 10), 0);
  obj = build (&b, n, blocks, &len);
  check_built (&b, obj, len, n, blocks);
  crafted = craft_segment (id_b, 512, n, blocks, true, &crafted_len);
  CU_ASSERT_EQUAL (crafted_len, len);
  CU_ASSERT_EQUAL (memcmp (crafted, obj, len), 0);
  free (crafted);
  log_segment_builder_free (&b);
}

/* The default segment-size filled to the last block that fits. */
static void
test_full_segment (void)
{
  const size_t budget = 8 << 20;
  struct log_segment_builder b;
  uint8_t block[4096];
  const void *obj;
  uint32_t rec;
  size_t len;

  CU_ASSERT_EQUAL_FATAL (log_segment_builder_init (&b, id_a, 4096, budget),
                         0);
  CU_ASSERT_EQUAL (b.capacity, (budget - 96) / (64 + 4096));
  CU_ASSERT_EQUAL (b.capacity, 2016);
  obj = build (&b, b.capacity, NULL, &len);
  CU_ASSERT (len <= budget);
  CU_ASSERT (len + 64 + 4096 > budget);
  check_built (&b, obj, len, b.capacity, NULL);
  log_segment_builder_free (&b);

  /* Full: the next block is refused and changes nothing. */
  CU_ASSERT_EQUAL_FATAL (log_segment_builder_init (&b, id_a, 4096, budget),
                         0);
  fill_block (block, 4096, 0);
  while (log_segment_builder_has_room (&b))
    CU_ASSERT_EQUAL (log_segment_builder_append (&b, 1, block, &rec), 0);
  CU_ASSERT_EQUAL (b.count, 2016);
  errno = 0;
  CU_ASSERT_EQUAL (log_segment_builder_append (&b, 1, block, &rec), -1);
  CU_ASSERT_EQUAL (errno, ENOSPC);
  CU_ASSERT_EQUAL (b.count, 2016);
  log_segment_builder_free (&b);
}

/* A hash the caller computed makes the same segment as one the
 * builder computes.
 */
static void
test_append_hashed (void)
{
  struct log_segment_builder a, b;
  uint8_t block[4][4096];
  const void *obj_a, *obj_b;
  size_t len_a, len_b;
  uint32_t rec;

  CU_ASSERT_EQUAL_FATAL (log_segment_builder_init (&a, id_a, 4096,
                                                   1 << 20), 0);
  CU_ASSERT_EQUAL_FATAL (log_segment_builder_init (&b, id_a, 4096,
                                                   1 << 20), 0);
  for (unsigned i = 0; i < 4; i++) {
    struct cas_hash h;

    fill_block (block[i], 4096, i + 40);
    cas_hash_of (block[i], 4096, &h);
    CU_ASSERT_EQUAL (log_segment_builder_append (&a, i * 3, block[i], &rec),
                     0);
    CU_ASSERT_EQUAL (log_segment_builder_append_hashed (&b, i * 3, block[i],
                                                        &h, &rec), 0);
  }
  CU_ASSERT_EQUAL (log_segment_builder_finish (&a, &obj_a, &len_a), 0);
  CU_ASSERT_EQUAL (log_segment_builder_finish (&b, &obj_b, &len_b), 0);
  CU_ASSERT_EQUAL (len_a, len_b);
  CU_ASSERT (len_a == len_b && memcmp (obj_a, obj_b, len_a) == 0);
  log_segment_builder_free (&a);
  log_segment_builder_free (&b);
}

/* A budget of exactly three blocks' segment holds three; one byte less
 * holds two.
 */
static void
test_exact_fit (void)
{
  const size_t three = LOG_SEG_DATA_START (3) + 3 * 512;
  struct log_segment_builder b;
  uint8_t block[512];
  const void *obj;
  uint32_t rec;
  size_t len;

  CU_ASSERT_EQUAL (log_segment_capacity (512, three), 3);
  CU_ASSERT_EQUAL (log_segment_capacity (512, three - 1), 2);
  CU_ASSERT_EQUAL_FATAL (log_segment_builder_init (&b, id_a, 512, three), 0);
  obj = build (&b, 3, NULL, &len);
  CU_ASSERT_EQUAL (len, three);
  check_built (&b, obj, len, 3, NULL);
  errno = 0;
  fill_block (block, 512, 9);
  CU_ASSERT_FALSE (log_segment_builder_has_room (&b));
  CU_ASSERT_EQUAL (log_segment_builder_append (&b, 9, block, &rec), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);      /* finished */
  log_segment_builder_free (&b);

  CU_ASSERT_EQUAL_FATAL (log_segment_builder_init (&b, id_a, 512, three - 1),
                         0);
  CU_ASSERT_EQUAL (log_segment_builder_append (&b, 0, block, &rec), 0);
  CU_ASSERT_EQUAL (log_segment_builder_append (&b, 1, block, &rec), 0);
  CU_ASSERT_FALSE (log_segment_builder_has_room (&b));
  errno = 0;
  CU_ASSERT_EQUAL (log_segment_builder_append (&b, 2, block, &rec), -1);
  CU_ASSERT_EQUAL (errno, ENOSPC);
  CU_ASSERT_EQUAL (log_segment_builder_finish (&b, &obj, &len), 0);
  CU_ASSERT_EQUAL (len, LOG_SEG_DATA_START (2) + 2 * 512);
  log_segment_builder_free (&b);
}

static void
test_builder_limits (void)
{
  struct log_segment_builder b;
  const void *obj;
  size_t len;

  CU_ASSERT_EQUAL (log_segment_capacity (512, MAX_SEGMENT_SIZE),
                   LOG_SEG_MAX_RECORDS);
  CU_ASSERT_EQUAL (LOG_SEG_MAX_RECORDS, 466033);
  CU_ASSERT_EQUAL (log_segment_capacity (512, 0), 0);
  CU_ASSERT_EQUAL (log_segment_capacity (512, LOG_SEG_DATA_START (1) + 511),
                   0);
  CU_ASSERT_EQUAL (log_segment_capacity (1000, 1 << 20), 0);

  errno = 0;
  CU_ASSERT_EQUAL (log_segment_builder_init (&b, id_a, 1000, 1 << 20), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  errno = 0;
  CU_ASSERT_EQUAL (log_segment_builder_init (&b, id_a, 256, 1 << 20), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  errno = 0;
  CU_ASSERT_EQUAL (log_segment_builder_init (&b, id_a, 1 << 20, 1 << 20), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  errno = 0;
  CU_ASSERT_EQUAL (log_segment_builder_init (&b, id_a, 4096,
                                             (size_t) MAX_SEGMENT_SIZE + 1),
                   -1);
  CU_ASSERT_EQUAL (errno, EINVAL);

  /* A segment has at least one block. */
  CU_ASSERT_EQUAL_FATAL (log_segment_builder_init (&b, id_a, 4096, 1 << 20),
                         0);
  errno = 0;
  CU_ASSERT_EQUAL (log_segment_builder_finish (&b, &obj, &len), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  log_segment_builder_free (&b);
}

/* Reset reuses the buffer: the second segment is whole and its own,
 * even though it is shorter than the first.
 */
static void
test_builder_reset (void)
{
  struct log_segment_builder b;
  struct log_segment_index idx;
  const char *why = NULL;
  const void *obj;
  size_t len;

  CU_ASSERT_EQUAL_FATAL (log_segment_builder_init (&b, id_a, 512, 16 << 10),
                         0);
  build (&b, 20, NULL, &len);
  log_segment_builder_reset (&b, id_b);
  obj = build (&b, 2, NULL, &len);
  check_built (&b, obj, len, 2, NULL);
  expect_bad_index (obj, len, id_a, "segment id");
  CU_ASSERT_EQUAL (log_segment_index_decode (obj, len, id_b, &idx, &why), 0);
  log_segment_index_free (&idx);
  log_segment_builder_free (&b);
}

/* The most records a segment has: the index alone (a reader's ranged
 * GET), as crafted; one more is refused.
 */
static void
test_max_records (void)
{
  struct log_segment_index idx;
  const char *why = NULL;
  uint8_t *seg;
  size_t len;

  seg = craft_segment (id_a, 512, LOG_SEG_MAX_RECORDS, NULL, false, &len);
  CU_ASSERT_EQUAL (len, LOG_SEG_DATA_START (LOG_SEG_MAX_RECORDS));
  CU_ASSERT_EQUAL_FATAL (log_segment_index_decode (seg, len, id_a, &idx,
                                                   &why), 0);
  CU_ASSERT_EQUAL (idx.hdr.count, LOG_SEG_MAX_RECORDS);
  CU_ASSERT (idx.hdr.total_len <= MAX_SEGMENT_SIZE);
  CU_ASSERT_EQUAL (idx.records[LOG_SEG_MAX_RECORDS - 1].block,
                   LOG_SEG_MAX_RECORDS - 1);
  log_segment_index_free (&idx);

  le (seg + 32, LOG_SEG_MAX_RECORDS + 1, 4);
  le (seg + 40, (uint64_t) (LOG_SEG_MAX_RECORDS + 1) * 512, 8);
  expect_bad_index (seg, len, id_a, "record count");
  free (seg);
}

/* Damage to a small segment's header and index. */

#define SMALL_COUNT 3
#define SMALL_BS 512
#define SMALL_DATA_START (64 + 64 * SMALL_COUNT + 32)

static uint8_t *
small_segment (size_t *len)
{
  return craft_segment (id_a, SMALL_BS, SMALL_COUNT, NULL, true, len);
}

/* Every flip of every byte before the data is refused. */
static void
test_every_flip_refused (void)
{
  static const uint8_t flips[] = { 0x01, 0x80, 0xff };
  size_t len, i, f;
  uint8_t *seg = small_segment (&len);

  CU_ASSERT_EQUAL (LOG_SEG_DATA_START (SMALL_COUNT), SMALL_DATA_START);
  for (i = 0; i < SMALL_DATA_START; i++) {
    for (f = 0; f < sizeof flips; f++) {
      seg[i] ^= flips[f];
      expect_bad_index (seg, len, id_a, NULL);
      expect_bad_index (seg, SMALL_DATA_START, id_a, NULL);
      seg[i] ^= flips[f];
    }
  }
  free (seg);
}

/* The same flips with the trailer made to match them (a writer's bug,
 * not damage): each is refused by the field's own check, except in
 * fields any value of which is valid (block numbers and hashes), where
 * the decoded index shows the change.  No byte is ignored.
 */
static void
test_every_resealed_flip (void)
{
  static const uint8_t flips[] = { 0x01, 0x80, 0xff };
  struct log_segment_index orig, idx;
  const char *why = NULL;
  size_t len, i, f;
  uint8_t *seg = small_segment (&len);

  CU_ASSERT_EQUAL_FATAL (log_segment_index_decode (seg, len, id_a, &orig,
                                                   &why), 0);
  for (i = 0; i < SMALL_DATA_START - 32; i++) {
    size_t in_record = (i - 64) % 64;
    bool free_field = i >= 64 && (in_record < 8 || in_record >= 32);

    for (f = 0; f < sizeof flips; f++) {
      seg[i] ^= flips[f];
      reseal (seg, SMALL_COUNT);
      if (!free_field)
        expect_bad_index (seg, len, id_a, NULL);
      else {
        CU_ASSERT_EQUAL (log_segment_index_decode (seg, len, id_a, &idx,
                                                   &why), 0);
        CU_ASSERT_FALSE (indexes_equal (&orig, &idx));
        /* A changed hash is caught when the block is read. */
        CU_ASSERT_EQUAL (log_segment_verify (&idx, seg, len, &why),
                         in_record >= 32 ? -1 : 0);
        log_segment_index_free (&idx);
      }
      seg[i] ^= flips[f];
    }
  }
  reseal (seg, SMALL_COUNT);
  log_segment_index_free (&orig);
  free (seg);
}

static void
test_truncated (void)
{
  struct log_segment_header hdr;
  struct log_segment_index idx;
  const char *why = NULL;
  size_t len, l;
  uint8_t *seg = small_segment (&len);

  for (l = 0; l < SMALL_DATA_START; l++) {
    expect_bad_index (seg, l, id_a, l < 64 ? "shorter than a segment header"
                      : "shorter than its index");
    CU_ASSERT_EQUAL (log_segment_header_decode (seg, l, id_a, &hdr, &why),
                     l < 64 ? -1 : 0);
  }
  /* Whole, the object must be exactly its length. */
  CU_ASSERT_EQUAL_FATAL (log_segment_index_decode (seg, SMALL_DATA_START,
                                                   id_a, &idx, &why), 0);
  CU_ASSERT_EQUAL (log_segment_verify (&idx, seg, len, &why), 0);
  CU_ASSERT_EQUAL (log_segment_verify (&idx, seg, len - 1, &why), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (why, "length"));
  CU_ASSERT_EQUAL (log_segment_verify (&idx, seg, len + 1, &why), -1);
  CU_ASSERT_EQUAL (log_segment_verify (&idx, seg, SMALL_DATA_START, &why),
                   -1);
  log_segment_index_free (&idx);
  free (seg);
}

static void
test_swapped_id (void)
{
  size_t len;
  uint8_t *seg = small_segment (&len);

  expect_bad_index (seg, len, id_b, "segment id is not the one in its key");
  free (seg);
}

/* A count claiming more records than the buffer holds is refused by
 * length, which is checked before the index is allocated: a damaged
 * count costs no memory.
 */
static void
test_count_beyond_buffer (void)
{
  size_t len;
  uint8_t *seg = small_segment (&len);

  le (seg + 32, LOG_SEG_MAX_RECORDS, 4);
  le (seg + 40, (uint64_t) LOG_SEG_MAX_RECORDS * SMALL_BS, 8);
  expect_bad_index (seg, len, id_a, "shorter than its index");
  le (seg + 32, 0xffffffff, 4);
  expect_bad_index (seg, len, id_a, "record count");
  le (seg + 32, 0, 4);
  expect_bad_index (seg, len, id_a, "record count");
  free (seg);
}

/* Edit one little-endian field of the small segment, reseal, decode. */
static void
expect_bad_edit (size_t at, int bytes, uint64_t value, const char *what)
{
  size_t len;
  uint8_t *seg = small_segment (&len);

  le (seg + at, value, bytes);
  reseal (seg, SMALL_COUNT);
  expect_bad_index (seg, len, id_a, what);
  free (seg);
}

#define REC(i, field) (64 + 64 * (i) + (field))

static void
test_bad_fields (void)
{
  const uint32_t start = SMALL_DATA_START;

  /* Header. */
  expect_bad_edit (0, 1, 's', "does not start");
  expect_bad_edit (8, 4, 1u << 31, "format flags");
  expect_bad_edit (12, 4, 4096, "logical length"); /* records say 512 */
  expect_bad_edit (12, 4, 768, "block size");
  expect_bad_edit (12, 4, 256, "block size");
  expect_bad_edit (12, 4, 2 << 20, "block size");
  expect_bad_edit (36, 4, 1, "reserved header");
  expect_bad_edit (63, 1, 1, "reserved header");
  expect_bad_edit (40, 8, 2, "data length");    /* < count */
  expect_bad_edit (40, 8, UINT64_MAX, "data length");
  expect_bad_edit (40, 8, 3 * SMALL_BS + 1, "do not end");
  expect_bad_edit (40, 8, 3 * SMALL_BS - 1, "runs past the end");

  /* Records: tiling. */
  expect_bad_edit (REC (0, 8), 4, start + 1, "tile");   /* gap */
  expect_bad_edit (REC (0, 8), 4, 0, "tile");           /* in the header */
  expect_bad_edit (REC (1, 8), 4, start + SMALL_BS - 1, "tile"); /* overlap */
  expect_bad_edit (REC (1, 8), 4, start + SMALL_BS + 1, "tile"); /* gap */
  expect_bad_edit (REC (2, 8), 4, start + SMALL_BS, "tile"); /* = rec 1 */
  expect_bad_edit (REC (2, 8), 4, 0xffffffff, "tile");  /* past the end */

  /* Records: lengths, codec, flags, reserved bytes. */
  expect_bad_edit (REC (1, 12), 4, 0, "stored length is 0");
  expect_bad_edit (REC (1, 12), 4, LOG_SEG_STORED_MAX + 1, "too large");
  expect_bad_edit (REC (1, 12), 4, 1024, "not the block size");
  expect_bad_edit (REC (1, 16), 1, 1, "codec this version does not know");
  expect_bad_edit (REC (1, 16), 1, 0xff, "codec this version does not know");
  expect_bad_edit (REC (1, 17), 1, 1, "flags");
  expect_bad_edit (REC (1, 18), 2, 1, "reserved");
  expect_bad_edit (REC (1, 20), 4, 1024, "logical length");
  expect_bad_edit (REC (1, 24), 8, 1ull << 63, "reserved");
}

/* A block that does not match its record is caught when read. */
static void
test_check_block (void)
{
  struct log_segment_index idx;
  struct log_location loc;
  const char *why = NULL;
  size_t len;
  uint8_t *seg = small_segment (&len);
  const struct log_segment_record *r;

  CU_ASSERT_EQUAL_FATAL (log_segment_index_decode (seg, len, id_a, &idx,
                                                   &why), 0);
  r = &idx.records[1];
  CU_ASSERT_EQUAL (log_segment_check_block (r, seg + r->offset,
                                            r->stored_len, &why), 0);
  CU_ASSERT_EQUAL (log_segment_check_block (r, seg + r->offset,
                                            r->stored_len - 1, &why), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (why, "stored length"));
  /* Its neighbour's bytes. */
  CU_ASSERT_EQUAL (log_segment_check_block (r, seg + r->offset + SMALL_BS,
                                            r->stored_len, &why), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (why, "SHA-256"));

  seg[r->offset + 100] ^= 1;
  errno = 0;
  CU_ASSERT_EQUAL (log_segment_check_block (r, seg + r->offset,
                                            r->stored_len, &why), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  CU_ASSERT_PTR_NOT_NULL (strstr (why, "does not match its SHA-256"));
  CU_ASSERT_EQUAL (log_segment_verify (&idx, seg, len, &why), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (why, "does not match its SHA-256"));

  /* The same through a location, as a reader of the map has it. */
  memcpy (loc.seg, id_a, LOG_SEG_ID_LEN);
  loc.offset = r->offset;
  loc.stored_len = r->stored_len;
  loc.codec = r->codec;
  loc.hash = r->hash;
  CU_ASSERT_EQUAL (log_location_check_block (&loc, SMALL_BS, seg + r->offset,
                                             r->stored_len, &why), -1);
  seg[r->offset + 100] ^= 1;
  CU_ASSERT_EQUAL (log_location_check_block (&loc, SMALL_BS, seg + r->offset,
                                             r->stored_len, &why), 0);
  CU_ASSERT_EQUAL (log_location_check_block (&loc, 2 * SMALL_BS,
                                             seg + r->offset, r->stored_len,
                                             &why), -1);
  loc.codec = 1;
  CU_ASSERT_EQUAL (log_location_check_block (&loc, SMALL_BS, seg + r->offset,
                                             r->stored_len, &why), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (why, "codec"));
  log_segment_index_free (&idx);
  free (seg);
}

/* Leaf pages. */

static void
sample_location (struct log_location *loc, uint32_t i)
{
  memset (loc->seg, (int) (0xa0 + i), LOG_SEG_ID_LEN);
  loc->offset = 160 + i * 4096;
  loc->stored_len = 4096;
  loc->codec = LOG_CODEC_RAW;
  memset (loc->hash.b, (int) i, CAS_HASH_LEN);
}

static bool
locations_equal (const struct log_location *a, const struct log_location *b)
{
  return memcmp (a->seg, b->seg, LOG_SEG_ID_LEN) == 0 &&
    a->offset == b->offset && a->stored_len == b->stored_len &&
    a->codec == b->codec && cas_hash_equal (&a->hash, &b->hash);
}

static bool
leaves_equal (const struct log_leaf *a, const struct log_leaf *b)
{
  uint32_t i;

  if (a->count != b->count)
    return false;
  for (i = 0; i < a->count; i++)
    if (a->entries[i].slot != b->entries[i].slot ||
        !locations_equal (&a->entries[i].loc, &b->entries[i].loc))
      return false;
  return true;
}

/* A leaf of count entries at slots[i] (NULL: 0, step, 2*step...),
 * entry i at sample_location (i).
 */
static size_t
make_leaf (uint8_t *buf, uint32_t count, const uint16_t *slots,
           unsigned step)
{
  struct log_leaf p = { .count = count };
  size_t len;
  uint32_t i;

  p.entries = calloc (count, sizeof *p.entries);
  CU_ASSERT_PTR_NOT_NULL_FATAL (p.entries);
  for (i = 0; i < count; i++) {
    p.entries[i].slot = slots ? slots[i] : (uint16_t) (i * step);
    sample_location (&p.entries[i].loc, i);
  }
  len = log_leaf_encode (&p, buf);
  free (p.entries);
  return len;
}

static void
expect_bad_leaf (const uint8_t *buf, size_t len, const char *what)
{
  struct log_leaf p = { .entries = NULL };
  const char *why = NULL;

  errno = 0;
  CU_ASSERT_EQUAL (log_leaf_decode (buf, len, &p, &why), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  CU_ASSERT_PTR_NULL (p.entries);
  CU_ASSERT_PTR_NOT_NULL_FATAL (why);
  if (what) {
    if (strstr (why, what) == NULL)
      fprintf (stderr, "\nexpected \"%s\", got \"%s\"\n", what, why);
    CU_ASSERT_PTR_NOT_NULL (strstr (why, what));
  }
}

static void
test_leaf_round_trip (void)
{
  uint8_t *buf = malloc (LOG_LEAF_MAX);
  const uint8_t *e;
  struct log_location loc, want;
  struct log_leaf p;
  const char *why = NULL;
  size_t len;
  uint32_t i;

  CU_ASSERT_PTR_NOT_NULL_FATAL (buf);
  CU_ASSERT_EQUAL (LOG_LEAF_ENTRY, 62);
  len = make_leaf (buf, 5, NULL, 7);
  CU_ASSERT_EQUAL (len, 16 + 5 * 62);
  CU_ASSERT_EQUAL (memcmp (buf, "S3BLOGP1\0\0\0\0\5\0\0\0", 16), 0);

  /* Entry 1 at the table's offsets. */
  e = buf + 16 + 62;
  sample_location (&want, 1);
  CU_ASSERT_EQUAL (from_le (e, 2), 7);
  CU_ASSERT_EQUAL (memcmp (e + 2, want.seg, 16), 0);
  CU_ASSERT_EQUAL (from_le (e + 18, 4), want.offset);
  CU_ASSERT_EQUAL (from_le (e + 22, 4), 4096);
  CU_ASSERT_EQUAL (from_le (e + 26, 4), 0);     /* codec, flags, zero */
  CU_ASSERT_EQUAL (memcmp (e + 30, want.hash.b, 32), 0);

  CU_ASSERT_EQUAL_FATAL (log_leaf_decode (buf, len, &p, &why), 0);
  CU_ASSERT_EQUAL (p.count, 5);
  CU_ASSERT_EQUAL (p.entries[4].slot, 28);
  CU_ASSERT_TRUE (log_leaf_find (&p, 14, &loc));
  sample_location (&want, 2);
  CU_ASSERT_TRUE (locations_equal (&loc, &want));
  CU_ASSERT_TRUE (log_leaf_find (&p, 0, NULL));
  CU_ASSERT_FALSE (log_leaf_find (&p, 15, &loc));
  CU_ASSERT_FALSE (log_leaf_find (&p, LOG_LEAF_FANOUT - 1, &loc));
  log_leaf_free (&p);
  CU_ASSERT_FALSE (log_leaf_find (&p, 0, &loc));

  /* A full page: the largest there is. */
  len = make_leaf (buf, LOG_LEAF_FANOUT, NULL, 1);
  CU_ASSERT_EQUAL (len, LOG_LEAF_MAX);
  CU_ASSERT_EQUAL_FATAL (log_leaf_decode (buf, len, &p, &why), 0);
  for (i = 0; i < LOG_LEAF_FANOUT; i++) {
    sample_location (&want, i);
    CU_ASSERT_TRUE (log_leaf_find (&p, i, &loc));
    CU_ASSERT_TRUE (locations_equal (&loc, &want));
  }
  log_leaf_free (&p);
  free (buf);
}

/* Every flip of every byte: the header, codec, flags, reserved bytes
 * and stored lengths are refused; elsewhere (slots, segment ids,
 * offsets, hashes) the page is refused or decodes to a different one.
 * No byte is ignored.  (Damage to those is caught by the page's key,
 * its SHA-256, and by the segment's record when the block is read.)
 */
static void
test_leaf_every_flip (void)
{
  static const uint8_t flips[] = { 0x01, 0x80, 0xff };
  static const uint16_t slots[] = { 0, 5, 1000 };
  uint8_t buf[16 + 3 * 62];
  struct log_leaf orig, p;
  const char *why = NULL;
  size_t len, i, f;

  len = make_leaf (buf, 3, slots, 0);
  CU_ASSERT_EQUAL_FATAL (log_leaf_decode (buf, len, &orig, &why), 0);
  for (i = 0; i < len; i++) {
    size_t k = (i - 16) % 62;
    bool structural = i < 16 || (k >= 22 && k < 30);

    for (f = 0; f < sizeof flips; f++) {
      buf[i] ^= flips[f];
      if (structural)
        expect_bad_leaf (buf, len, NULL);
      else if (log_leaf_decode (buf, len, &p, &why) == 0) {
        CU_ASSERT_FALSE (leaves_equal (&orig, &p));
        log_leaf_free (&p);
      }
      buf[i] ^= flips[f];
    }
  }
  log_leaf_free (&orig);
}

/* Edit one field of entry 1 of a three-entry leaf and decode. */
static void
expect_bad_leaf_edit (size_t field, int bytes, uint64_t value,
                      const char *what)
{
  uint8_t buf[16 + 3 * 62];
  size_t len = make_leaf (buf, 3, NULL, 2);

  le (buf + 16 + 62 + field, value, bytes);
  expect_bad_leaf (buf, len, what);
}

static void
expect_good_leaf_edit (size_t field, int bytes, uint64_t value)
{
  uint8_t buf[16 + 3 * 62];
  size_t len = make_leaf (buf, 3, NULL, 2);
  struct log_leaf p;
  const char *why = NULL;

  le (buf + 16 + 62 + field, value, bytes);
  CU_ASSERT_EQUAL (log_leaf_decode (buf, len, &p, &why), 0);
  log_leaf_free (&p);
}

static void
test_leaf_rejections (void)
{
  uint8_t buf[LOG_LEAF_MAX + 1];
  uint8_t cas[CAS_PAGE_HEADER + 3 * CAS_PAGE_ENTRY];
  struct cas_page cp = { .level = 0, .count = 3 };
  struct cas_page_entry ce[3] = { { .slot = 0 }, { .slot = 2 }, { .slot = 4 } };
  const char *why = NULL;
  size_t len, cas_len;

  /* A cas leaf is not a log leaf, nor the other way round. */
  cp.entries = ce;
  cas_len = cas_page_encode (&cp, cas);
  expect_bad_leaf (cas, cas_len, "does not start with \"S3BLOGP1\"");
  len = make_leaf (buf, 3, NULL, 2);
  errno = 0;
  CU_ASSERT_EQUAL (cas_page_decode (buf, len, &cp, &why), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  CU_ASSERT_PTR_NOT_NULL (strstr (why, "does not start"));
  memcpy (cas, "S3BLOGP1", 8);          /* even with the magic changed */
  expect_bad_leaf (cas, cas_len, "length");

  /* Header. */
  expect_bad_leaf (buf, 0, "does not start");
  expect_bad_leaf (buf, 15, "does not start");
  expect_bad_leaf (buf, len - 1, "length");
  expect_bad_leaf (buf, len + 1, "length");
  buf[8] = 1;
  expect_bad_leaf (buf, len, "level is not 0");
  buf[8] = 0;
  buf[11] = 1;
  expect_bad_leaf (buf, len, "reserved header");
  buf[11] = 0;
  le (buf + 12, 0, 4);
  expect_bad_leaf (buf, CAS_PAGE_HEADER, "count");
  le (buf + 12, LOG_LEAF_FANOUT + 1, 4);
  expect_bad_leaf (buf, len, "count");
  le (buf + 12, 4, 4);
  expect_bad_leaf (buf, len, "length");
  le (buf + 12, 3, 4);

  /* Slots (entry 1 is at slot 2, between 0 and 4). */
  expect_bad_leaf_edit (0, 2, 0, "strictly increasing");
  expect_bad_leaf_edit (0, 2, 4, "strictly increasing");
  expect_bad_leaf_edit (0, 2, 4096, "4096 or more");
  expect_good_leaf_edit (0, 2, 3);

  /* Codec, flags, reserved bytes, lengths. */
  expect_bad_leaf_edit (26, 1, 1, "codec this version does not know");
  expect_bad_leaf_edit (27, 1, 1, "flags");
  expect_bad_leaf_edit (28, 2, 0x100, "reserved bytes");
  expect_bad_leaf_edit (22, 4, 0, "stored length is 0");
  expect_bad_leaf_edit (22, 4, LOG_SEG_STORED_MAX + 1, "too large");
  expect_bad_leaf_edit (22, 4, 1000, "not a block size");
  expect_bad_leaf_edit (22, 4, 256, "not a block size");
  expect_bad_leaf_edit (22, 4, 2 << 20, "not a block size");
  expect_good_leaf_edit (22, 4, 512);
  expect_good_leaf_edit (22, 4, 1 << 20);

  /* Extents: within a segment's data, without wrapping. */
  expect_bad_leaf_edit (18, 4, 0, "outside any segment");
  expect_bad_leaf_edit (18, 4, 159, "outside any segment");
  expect_good_leaf_edit (18, 4, 160);
  expect_good_leaf_edit (18, 4, MAX_SEGMENT_SIZE - 4096);
  expect_bad_leaf_edit (18, 4, MAX_SEGMENT_SIZE - 4095, "outside any segment");
  expect_bad_leaf_edit (18, 4, 0xfffff000, "outside any segment"); /* wraps */
  expect_bad_leaf_edit (18, 4, 0xffffffff, "outside any segment");
}

UNIT_SUITES (add_log_format_tests)
{
  CU_pSuite s = CU_add_suite ("log-format", NULL, NULL);

  CU_add_test (s, "ids and keys", test_ids_and_keys);
  CU_add_test (s, "one block", test_one_block);
  CU_add_test (s, "mixed block numbers", test_mixed_blocks);
  CU_add_test (s, "full segment", test_full_segment);
  CU_add_test (s, "exact fit", test_exact_fit);
  CU_add_test (s, "append with the caller's hash", test_append_hashed);
  CU_add_test (s, "builder limits", test_builder_limits);
  CU_add_test (s, "builder reset", test_builder_reset);
  CU_add_test (s, "max records", test_max_records);
  CU_add_test (s, "every flip refused", test_every_flip_refused);
  CU_add_test (s, "every resealed flip", test_every_resealed_flip);
  CU_add_test (s, "truncated", test_truncated);
  CU_add_test (s, "swapped id", test_swapped_id);
  CU_add_test (s, "count beyond buffer", test_count_beyond_buffer);
  CU_add_test (s, "bad fields", test_bad_fields);
  CU_add_test (s, "check block", test_check_block);
  CU_add_test (s, "leaf round trip", test_leaf_round_trip);
  CU_add_test (s, "leaf every flip", test_leaf_every_flip);
  CU_add_test (s, "leaf rejections", test_leaf_rejections);
}
