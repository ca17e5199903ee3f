/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the block logic against the in-memory store. */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "format/keys.h"
#include "memstore.h"
#include "nbdkit-standin.h"
#include "tests.h"
#include "volume/volume.h"

#define BS 4096
#define EXPORT "t"

static struct memstore *mem;
static struct volume *vol;

/* Open the export; request counts start from zero afterwards.  With
 * listing, the blocks are listed even where a map exists: for objects
 * a test stored behind the volume's back, as another tool would.
 */
static struct volume *
open_volume_how (uint64_t size, uint32_t bs, uint64_t max_dirty,
                 uint64_t cache_size, bool listing)
{
  struct volume_params p = {
    .name = EXPORT, .size = size, .block_size = bs,
    .max_dirty = max_dirty, .cache_size = cache_size, .batch = 8,
  };
  struct layout_params lp = {
    .export_name = EXPORT, .block_size = bs, .rebuild_map = listing,
  };
  struct volume *v = volume_create (layout_plain_open (memstore_store (mem),
                                                       &lp), &p);

  CU_ASSERT_PTR_NOT_NULL_FATAL (v);
  CU_ASSERT_EQUAL_FATAL (volume_load_map (v), 0);
  memstore_reset_counts (mem);
  return v;
}

static struct volume *
open_volume (uint64_t size, uint32_t bs, uint64_t max_dirty,
             uint64_t cache_size)
{
  return open_volume_how (size, bs, max_dirty, cache_size, false);
}

static struct volume *
reopen_listing (uint64_t size, uint32_t bs, uint64_t max_dirty,
                uint64_t cache_size)
{
  return open_volume_how (size, bs, max_dirty, cache_size, true);
}

static void
setup (uint64_t max_dirty, uint64_t cache_size)
{
  standin_reset_errors ();
  mem = memstore_new ();
  vol = open_volume (64 * BS, BS, max_dirty, cache_size);
}

static void
teardown (void)
{
  volume_free (vol);
  store_close (memstore_store (mem));
  vol = NULL;
  mem = NULL;
}

static void
fill (char *buf, size_t len, unsigned seed)
{
  for (size_t i = 0; i < len; i++)
    buf[i] = (char) ((i * 31 + seed * 7 + 1) % 251 + 1);
}

static long
peek_block (uint64_t offset, char *buf)
{
  char key[KEY_MAX];

  block_key (key, sizeof key, EXPORT, offset);
  return memstore_peek (mem, key, buf, BS);
}

static void
put_block (uint64_t offset, const char *data, size_t len)
{
  char key[KEY_MAX];

  block_key (key, sizeof key, EXPORT, offset);
  memstore_set (mem, key, data, len);
}

/* A never-written volume reads as zeros and costs no request. */
static void
test_holes_cost_nothing (void)
{
  char buf[3 * BS];

  setup (1 << 20, 1 << 20);
  memset (buf, 'x', sizeof buf);
  CU_ASSERT_EQUAL (volume_read (vol, buf, sizeof buf, 5 * BS + 100), 0);
  for (size_t i = 0; i < sizeof buf; i++)
    CU_ASSERT_EQUAL_FATAL (buf[i], 0);
  CU_ASSERT_EQUAL (memstore_counts (mem).gets, 0);
  teardown ();
}

/* Writes stay in memory until flush, then land at the seed's keys. */
static void
test_write_then_flush (void)
{
  char data[2 * BS], back[2 * BS], obj[BS];
  struct memstore_counts c;

  setup (1 << 20, 1 << 20);
  fill (data, sizeof data, 1);
  CU_ASSERT_EQUAL (volume_write (vol, data, sizeof data, 2 * BS, false), 0);
  c = memstore_counts (mem);
  CU_ASSERT_EQUAL (c.puts, 0);
  CU_ASSERT_EQUAL (memstore_count (mem, "blocks/"), 0);
  CU_ASSERT_EQUAL (volume_read (vol, back, sizeof back, 2 * BS), 0);
  CU_ASSERT_EQUAL (memcmp (back, data, sizeof data), 0);

  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  /* Two blocks, then the allocation map's segment: the commit. */
  CU_ASSERT_EQUAL (memstore_counts (mem).puts, 3);
  CU_ASSERT_EQUAL (memstore_count (mem, "maps/t/"), 1);
  CU_ASSERT_EQUAL (memstore_count (mem, "blocks/t/"), 2);
  CU_ASSERT_EQUAL (peek_block (2 * BS, obj), BS);
  CU_ASSERT_EQUAL (memcmp (obj, data, BS), 0);
  CU_ASSERT_EQUAL (memstore_peek (mem, "blocks/t/0000000000003000", obj, BS),
                   BS);
  CU_ASSERT_EQUAL (memcmp (obj, data + BS, BS), 0);

  /* Nothing dirty: a second flush sends nothing. */
  memstore_reset_counts (mem);
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  CU_ASSERT_EQUAL (memstore_counts (mem).puts, 0);
  teardown ();
}

/* Rewriting a dirty block before flush costs one upload. */
static void
test_rewrite_costs_one_upload (void)
{
  char data[BS];

  setup (1 << 20, 1 << 20);
  for (unsigned i = 0; i < 10; i++) {
    fill (data, BS, i);
    CU_ASSERT_EQUAL (volume_write (vol, data, BS, 0, false), 0);
  }
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  /* The block, and the map that now has it. */
  CU_ASSERT_EQUAL (memstore_counts (mem).puts, 2);
  teardown ();
}

/* An unaligned write: head and tail partial, one whole block between. */
static void
test_unaligned_write (void)
{
  const uint64_t offset = 3 * BS + 1000;
  const uint32_t count = 2 * BS + 500;
  char data[2 * BS + 500], back[6 * BS], expect[6 * BS], obj[BS];

  setup (1 << 20, 1 << 20);
  fill (data, count, 2);
  CU_ASSERT_EQUAL (volume_write (vol, data, count, offset, false), 0);
  memset (expect, 0, sizeof expect);
  memcpy (expect + (offset - 2 * BS), data, count);
  CU_ASSERT_EQUAL (volume_read (vol, back, sizeof back, 2 * BS), 0);
  CU_ASSERT_EQUAL (memcmp (back, expect, sizeof back), 0);

  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  /* Blocks 3, 4 and 5 (the tail ends 1500 bytes into block 5). */
  CU_ASSERT_EQUAL (memstore_count (mem, "blocks/t/"), 3);
  for (uint64_t b = 3; b <= 5; b++) {
    CU_ASSERT_EQUAL (peek_block (b * BS, obj), BS);
    CU_ASSERT_EQUAL (memcmp (obj, expect + (b - 2) * BS, BS), 0);
  }
  teardown ();
}

/* A partial write of an existing block reads it first. */
static void
test_read_modify_write (void)
{
  char old[BS], patch[10], back[BS], obj[BS];

  setup (1 << 20, 0);
  fill (old, BS, 3);
  put_block (7 * BS, old, BS);
  volume_free (vol);
  vol = reopen_listing (64 * BS, BS, 1 << 20, 0);

  memset (patch, 0xAB, sizeof patch);
  CU_ASSERT_EQUAL (volume_write (vol, patch, sizeof patch, 7 * BS + 100,
                                 false), 0);
  CU_ASSERT_EQUAL (memstore_counts (mem).gets, 1);
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  CU_ASSERT_EQUAL (peek_block (7 * BS, obj), BS);
  memcpy (old + 100, patch, sizeof patch);
  CU_ASSERT_EQUAL (memcmp (obj, old, BS), 0);
  CU_ASSERT_EQUAL (volume_read (vol, back, BS, 7 * BS), 0);
  CU_ASSERT_EQUAL (memcmp (back, old, BS), 0);
  teardown ();
}

/* A partial write of a block with no object needs no read. */
static void
test_partial_write_of_hole (void)
{
  char patch[100], back[BS];

  setup (1 << 20, 1 << 20);
  fill (patch, sizeof patch, 4);
  CU_ASSERT_EQUAL (volume_write (vol, patch, sizeof patch, BS + 50, false), 0);
  CU_ASSERT_EQUAL (memstore_counts (mem).gets, 0);
  CU_ASSERT_EQUAL (volume_read (vol, back, BS, BS), 0);
  for (int i = 0; i < BS; i++)
    CU_ASSERT_EQUAL_FATAL (back[i], (i >= 50 && i < 150) ? patch[i - 50] : 0);
  teardown ();
}

/* All-zero blocks are never stored: existing objects are deleted. */
static void
test_zero_blocks_not_stored (void)
{
  char data[BS], zeros[BS], back[BS];
  struct memstore_counts c;

  setup (1 << 20, 1 << 20);
  memset (zeros, 0, BS);
  fill (data, BS, 5);

  /* Zeros written over a hole: no request at all, even at flush. */
  CU_ASSERT_EQUAL (volume_write (vol, zeros, BS, 0, false), 0);
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  c = memstore_counts (mem);
  CU_ASSERT_EQUAL (c.puts + c.deletes + c.gets, 0);

  /* Data then zeros before a flush: nothing either. */
  CU_ASSERT_EQUAL (volume_write (vol, data, BS, BS, false), 0);
  CU_ASSERT_EQUAL (volume_write (vol, zeros, BS, BS, false), 0);
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  c = memstore_counts (mem);
  CU_ASSERT_EQUAL (c.puts + c.deletes, 0);

  /* A stored block overwritten with zeros loses its object. */
  CU_ASSERT_EQUAL (volume_write (vol, data, BS, 2 * BS, false), 0);
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  CU_ASSERT_EQUAL (memstore_count (mem, "blocks/t/"), 1);
  CU_ASSERT_EQUAL (volume_write (vol, zeros, BS, 2 * BS, false), 0);
  CU_ASSERT_EQUAL (memstore_count (mem, "blocks/t/"), 1);
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  CU_ASSERT_EQUAL (memstore_count (mem, "blocks/t/"), 0);
  CU_ASSERT_EQUAL (memstore_counts (mem).deletes, 1);
  CU_ASSERT_EQUAL (volume_read (vol, back, BS, 2 * BS), 0);
  CU_ASSERT_EQUAL (memcmp (back, zeros, BS), 0);

  /* A partial write that leaves a block all zeros deletes it too. */
  CU_ASSERT_EQUAL (volume_write (vol, data, 10, 3 * BS, false), 0);
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  CU_ASSERT_EQUAL (memstore_count (mem, "blocks/t/"), 1);
  CU_ASSERT_EQUAL (volume_write (vol, zeros, 10, 3 * BS, false), 0);
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  CU_ASSERT_EQUAL (memstore_count (mem, "blocks/t/"), 0);
  teardown ();
}

/* Zero and trim: whole blocks lose their objects, partial ones are
 * zeroed by read-modify-write.
 */
static void
test_zero_range (void)
{
  char data[4 * BS], back[4 * BS], obj[BS];

  setup (1 << 20, 0);
  fill (data, sizeof data, 6);
  CU_ASSERT_EQUAL (volume_write (vol, data, sizeof data, 0, false), 0);
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  CU_ASSERT_EQUAL (memstore_count (mem, "blocks/t/"), 4);

  /* From the middle of block 0 to the middle of block 3. */
  CU_ASSERT_EQUAL (volume_zero (vol, 3 * BS, BS / 2, false), 0);
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  CU_ASSERT_EQUAL (memstore_count (mem, "blocks/t/"), 2);
  CU_ASSERT_EQUAL (peek_block (0, obj), BS);
  CU_ASSERT_EQUAL (memcmp (obj, data, BS / 2), 0);
  for (int i = BS / 2; i < BS; i++)
    CU_ASSERT_EQUAL_FATAL (obj[i], 0);
  CU_ASSERT_EQUAL (peek_block (BS, obj), -1);
  CU_ASSERT_EQUAL (peek_block (2 * BS, obj), -1);
  CU_ASSERT_EQUAL (volume_read (vol, back, sizeof back, 0), 0);
  for (int i = 0; i < 4 * BS; i++)
    CU_ASSERT_EQUAL_FATAL (back[i],
                           (i < BS / 2 || i >= 3 * BS + BS / 2) ? data[i] : 0);
  teardown ();
}

/* A failed upload keeps the block dirty; the next flush retries it. */
static void
test_failed_flush_keeps_data (void)
{
  char data[3 * BS], back[3 * BS], obj[BS];

  setup (1 << 20, 1 << 20);
  fill (data, sizeof data, 7);
  CU_ASSERT_EQUAL (volume_write (vol, data, sizeof data, 0, false), 0);

  memstore_fail (mem, STORE_PUT, -1, EIO);
  standin_reset_errors ();
  errno = 0;
  CU_ASSERT_EQUAL (volume_flush (vol), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "flush failed"));
  CU_ASSERT_EQUAL (memstore_count (mem, "blocks/"), 0);
  /* Still readable from memory, and still failing while S3 fails. */
  CU_ASSERT_EQUAL (volume_read (vol, back, sizeof back, 0), 0);
  CU_ASSERT_EQUAL (memcmp (back, data, sizeof data), 0);
  CU_ASSERT_EQUAL (volume_flush (vol), -1);

  /* One more failure, then S3 recovers: only part can fail. */
  memstore_fail (mem, STORE_PUT, 1, EIO);
  CU_ASSERT_EQUAL (volume_flush (vol), -1);
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  CU_ASSERT_EQUAL (memstore_count (mem, "blocks/t/"), 3);
  for (int b = 0; b < 3; b++) {
    CU_ASSERT_EQUAL (peek_block (b * BS, obj), BS);
    CU_ASSERT_EQUAL (memcmp (obj, data + b * BS, BS), 0);
  }
  teardown ();
}

/* A failed delete keeps the zeroed block dirty too. */
static void
test_failed_delete_keeps_zero (void)
{
  char data[BS], back[BS];

  setup (1 << 20, 1 << 20);
  fill (data, BS, 8);
  CU_ASSERT_EQUAL (volume_write (vol, data, BS, 0, false), 0);
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  CU_ASSERT_EQUAL (volume_zero (vol, BS, 0, false), 0);
  memstore_fail (mem, STORE_DELETE, 1, EIO);
  CU_ASSERT_EQUAL (volume_flush (vol), -1);
  CU_ASSERT_EQUAL (memstore_count (mem, "blocks/t/"), 1);
  CU_ASSERT_EQUAL (volume_read (vol, back, BS, 0), 0);
  for (int i = 0; i < BS; i++)
    CU_ASSERT_EQUAL_FATAL (back[i], 0);
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  CU_ASSERT_EQUAL (memstore_count (mem, "blocks/t/"), 0);
  teardown ();
}

/* FUA writes reach the store before returning; other dirty data not. */
static void
test_fua (void)
{
  char data[BS], obj[BS];

  setup (1 << 20, 1 << 20);
  fill (data, BS, 9);
  CU_ASSERT_EQUAL (volume_write (vol, data, BS, 0, false), 0);
  CU_ASSERT_EQUAL (volume_write (vol, data, BS, 5 * BS, true), 0);
  CU_ASSERT_EQUAL (peek_block (5 * BS, obj), BS);
  CU_ASSERT_EQUAL (peek_block (0, obj), -1);
  CU_ASSERT_EQUAL (volume_zero (vol, BS, 5 * BS, true), 0);
  CU_ASSERT_EQUAL (peek_block (5 * BS, obj), -1);
  teardown ();
}

/* Writing more than max-dirty without flush writes back the oldest
 * blocks and keeps memory bounded.
 */
static void
test_dirty_bound (void)
{
  const uint64_t max_dirty = 8 * (BS + 256);
  char data[BS], back[BS];
  struct volume_stats st;

  setup (max_dirty, 0);
  volume_free (vol);
  vol = open_volume (64 * BS, BS, max_dirty, 0);
  for (unsigned i = 0; i < 48; i++) {
    fill (data, BS, 100 + i);
    CU_ASSERT_EQUAL_FATAL (volume_write (vol, data, BS, (uint64_t) i * BS,
                                         false), 0);
  }
  volume_get_stats (vol, &st);
  CU_ASSERT (st.peak_dirty_bytes <= max_dirty);
  CU_ASSERT (st.writebacks >= 40);
  /* The oldest went first. */
  CU_ASSERT_EQUAL (peek_block (0, back), BS);
  CU_ASSERT (memstore_count (mem, "blocks/t/") >= 40);
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  CU_ASSERT_EQUAL (memstore_count (mem, "blocks/t/"), 48);
  for (unsigned i = 0; i < 48; i++) {
    fill (data, BS, 100 + i);
    CU_ASSERT_EQUAL (volume_read (vol, back, BS, (uint64_t) i * BS), 0);
    CU_ASSERT_EQUAL (memcmp (back, data, BS), 0);
  }
  teardown ();
}

/* A write that cannot make room fails and loses nothing written before. */
static void
test_dirty_bound_failure (void)
{
  const uint64_t max_dirty = 4 * (BS + 256);
  char data[BS], back[BS];

  setup (max_dirty, 0);
  volume_free (vol);
  vol = open_volume (64 * BS, BS, max_dirty, 0);
  for (unsigned i = 0; i < 4; i++) {
    fill (data, BS, i);
    CU_ASSERT_EQUAL (volume_write (vol, data, BS, (uint64_t) i * BS, false), 0);
  }
  memstore_fail (mem, STORE_PUT, -1, EIO);
  fill (data, BS, 99);
  CU_ASSERT_EQUAL (volume_write (vol, data, BS, 10 * BS, false), -1);
  memstore_fail (mem, STORE_PUT, 0, 0);
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  for (unsigned i = 0; i < 4; i++) {
    fill (data, BS, i);
    CU_ASSERT_EQUAL (volume_read (vol, back, BS, (uint64_t) i * BS), 0);
    CU_ASSERT_EQUAL (memcmp (back, data, BS), 0);
  }
  teardown ();
}

/* The read cache: off means every read fetches, on means once. */
static void
test_cache (void)
{
  char data[BS], back[BS];

  for (int on = 0; on <= 1; on++) {
    setup (1 << 20, on ? 1 << 20 : 0);
    fill (data, BS, 10);
    put_block (0, data, BS);
    volume_free (vol);
    vol = reopen_listing (64 * BS, BS, 1 << 20, on ? 1 << 20 : 0);
    for (int i = 0; i < 3; i++) {
      CU_ASSERT_EQUAL (volume_read (vol, back, BS, 0), 0);
      CU_ASSERT_EQUAL (memcmp (back, data, BS), 0);
    }
    CU_ASSERT_EQUAL (memstore_counts (mem).gets, on ? 1 : 3);
    teardown ();
  }
}

/* The cache is bounded: with room for 2 blocks, reading 3 evicts. */
static void
test_cache_bound (void)
{
  char data[BS], back[BS];
  struct volume_stats st;

  setup (1 << 20, 2 * (BS + 256));
  fill (data, BS, 11);
  for (int b = 0; b < 3; b++)
    put_block (b * BS, data, BS);
  volume_free (vol);
  vol = reopen_listing (64 * BS, BS, 1 << 20, 2 * (BS + 256));
  for (int b = 0; b < 3; b++)
    CU_ASSERT_EQUAL (volume_read (vol, back, BS, b * BS), 0);
  volume_get_stats (vol, &st);
  CU_ASSERT (st.clean_bytes <= 2 * (BS + 256));
  memstore_reset_counts (mem);
  CU_ASSERT_EQUAL (volume_read (vol, back, BS, 2 * BS), 0);
  CU_ASSERT_EQUAL (memstore_counts (mem).gets, 0);
  CU_ASSERT_EQUAL (volume_read (vol, back, BS, 0), 0);
  CU_ASSERT_EQUAL (memstore_counts (mem).gets, 1);
  teardown ();
}

/* A read of many blocks fetches them in one batch. */
static void
test_read_batch (void)
{
  char data[16 * BS], back[16 * BS];

  setup (1 << 20, 1 << 20);
  fill (data, sizeof data, 12);
  for (int b = 0; b < 16; b++)
    put_block (b * BS, data + b * BS, BS);
  volume_free (vol);
  vol = reopen_listing (64 * BS, BS, 1 << 20, 1 << 20);
  CU_ASSERT_EQUAL (volume_read (vol, back, sizeof back, 0), 0);
  CU_ASSERT_EQUAL (memcmp (back, data, sizeof data), 0);
  CU_ASSERT_EQUAL (memstore_counts (mem).gets, 16);
  teardown ();
}

/* Objects of the wrong length are errors naming the key, not zeros. */
static void
test_malformed_object (void)
{
  char small[100], big[BS + 1], back[BS];

  setup (1 << 20, 1 << 20);
  memset (small, 1, sizeof small);
  memset (big, 2, sizeof big);
  put_block (0, small, sizeof small);
  put_block (BS, big, sizeof big);
  volume_free (vol);
  vol = reopen_listing (64 * BS, BS, 1 << 20, 1 << 20);

  standin_reset_errors ();
  errno = 0;
  CU_ASSERT_EQUAL (volume_read (vol, back, BS, 0), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT (standin_error_count >= 1);
  errno = 0;
  CU_ASSERT_EQUAL (volume_read (vol, back, BS, BS), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  /* A partial write of it fails too rather than guessing. */
  CU_ASSERT_EQUAL (volume_write (vol, small, 10, 0, false), -1);
  /* The neighbours are unaffected. */
  CU_ASSERT_EQUAL (volume_read (vol, back, BS, 2 * BS), 0);
  teardown ();
}

/* Keys that are not blocks of this export are ignored by the map. */
static void
test_foreign_keys (void)
{
  char data[BS], back[BS];
  struct volume_stats st;

  setup (1 << 20, 1 << 20);
  fill (data, BS, 13);
  memstore_set (mem, "blocks/t/not-a-block", data, BS);
  memstore_set (mem, "blocks/t/0000000000000001", data, BS);  /* unaligned */
  memstore_set (mem, "blocks/t/000000000000100A", data, BS);  /* upper case */
  memstore_set (mem, "blocks/t/00000000000010000", data, BS); /* 17 digits */
  memstore_set (mem, "blocks/tt/0000000000000000", data, BS); /* other export */
  put_block (BS, data, BS);
  volume_free (vol);
  vol = reopen_listing (64 * BS, BS, 1 << 20, 1 << 20);
  volume_get_stats (vol, &st);
  CU_ASSERT_EQUAL (st.present_blocks, 1);
  CU_ASSERT_EQUAL (st.foreign_objects, 4);
  CU_ASSERT_EQUAL (volume_read (vol, back, BS, 0), 0);
  CU_ASSERT_EQUAL (back[0], 0);
  CU_ASSERT_EQUAL (volume_read (vol, back, BS, BS), 0);
  CU_ASSERT_EQUAL (memcmp (back, data, BS), 0);
  teardown ();
}

struct extent { uint64_t offset, length; uint32_t type; };
struct extents { struct extent e[64]; int n; };

static int
collect (void *opaque, uint64_t offset, uint64_t length, uint32_t type)
{
  struct extents *x = opaque;

  if (x->n < 64)
    x->e[x->n++] = (struct extent) { offset, length, type };
  return 0;
}

/* Extents: holes for absent and zeroed blocks, data for the rest. */
static void
test_extents (void)
{
  const uint32_t hole = VOLUME_EXTENT_HOLE | VOLUME_EXTENT_ZERO;
  char data[BS];
  struct extents x = { .n = 0 };

  setup (1 << 20, 1 << 20);
  fill (data, BS, 14);
  /* Stored: 2, 3.  Dirty: 5.  Stored then zeroed (dirty): 3. */
  CU_ASSERT_EQUAL (volume_write (vol, data, BS, 2 * BS, false), 0);
  CU_ASSERT_EQUAL (volume_write (vol, data, BS, 3 * BS, false), 0);
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  CU_ASSERT_EQUAL (volume_write (vol, data, BS, 5 * BS, false), 0);
  CU_ASSERT_EQUAL (volume_zero (vol, BS, 3 * BS, false), 0);

  CU_ASSERT_EQUAL (volume_extents (vol, 8 * BS, 0, false, collect, &x), 0);
  CU_ASSERT_EQUAL_FATAL (x.n, 5);
  CU_ASSERT (x.e[0].offset == 0 && x.e[0].length == 2 * BS &&
             x.e[0].type == hole);
  CU_ASSERT (x.e[1].offset == 2 * BS && x.e[1].length == BS &&
             x.e[1].type == 0);
  CU_ASSERT (x.e[2].offset == 3 * BS && x.e[2].length == 2 * BS &&
             x.e[2].type == hole);
  CU_ASSERT (x.e[3].offset == 5 * BS && x.e[3].length == BS &&
             x.e[3].type == 0);
  CU_ASSERT (x.e[4].offset == 6 * BS && x.e[4].length == 2 * BS &&
             x.e[4].type == hole);

  /* Unaligned start, req_one. */
  x.n = 0;
  CU_ASSERT_EQUAL (volume_extents (vol, 3 * BS, BS + 7, true, collect, &x), 0);
  CU_ASSERT_EQUAL_FATAL (x.n, 1);
  CU_ASSERT (x.e[0].offset == BS + 7 && x.e[0].length == BS - 7 &&
             x.e[0].type == hole);

  /* After flush, from the map alone. */
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  volume_drop_cache (vol);
  x.n = 0;
  CU_ASSERT_EQUAL (volume_extents (vol, 64 * BS, 0, false, collect, &x), 0);
  CU_ASSERT_EQUAL_FATAL (x.n, 5);
  CU_ASSERT (x.e[1].offset == 2 * BS && x.e[1].length == BS);
  CU_ASSERT (x.e[3].offset == 5 * BS && x.e[3].length == BS);
  CU_ASSERT (x.e[4].offset + x.e[4].length == 64 * BS);
  teardown ();
}

/* A write arriving while the block is being uploaded is not lost: the
 * upload sends the old snapshot and the block stays dirty.
 */
static void
write_during_upload (void *opaque)
{
  char *newer = opaque;

  CU_ASSERT_EQUAL (volume_write (vol, newer, BS, 0, false), 0);
}

static void
test_write_during_upload (void)
{
  char older[BS], newer[BS], obj[BS], back[BS];

  setup (1 << 20, 1 << 20);
  fill (older, BS, 15);
  fill (newer, BS, 16);
  CU_ASSERT_EQUAL (volume_write (vol, older, BS, 0, false), 0);
  memstore_set_hook (mem, write_during_upload, newer);
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  /* The flush covered the write made before it: the older data. */
  CU_ASSERT_EQUAL (peek_block (0, obj), BS);
  CU_ASSERT_EQUAL (memcmp (obj, older, BS), 0);
  CU_ASSERT_EQUAL (volume_read (vol, back, BS, 0), 0);
  CU_ASSERT_EQUAL (memcmp (back, newer, BS), 0);
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  CU_ASSERT_EQUAL (peek_block (0, obj), BS);
  CU_ASSERT_EQUAL (memcmp (obj, newer, BS), 0);
  teardown ();
}

/* Zeroing a block while its PUT is in flight: the PUT lands, then the
 * next flush deletes it.
 */
static void
zero_during_upload (void *opaque)
{
  CU_ASSERT_EQUAL (volume_zero (vol, BS, 0, false), 0);
}

static void
test_zero_during_upload (void)
{
  char data[BS], obj[BS];

  setup (1 << 20, 1 << 20);
  fill (data, BS, 17);
  CU_ASSERT_EQUAL (volume_write (vol, data, BS, 0, false), 0);
  memstore_set_hook (mem, zero_during_upload, NULL);
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  CU_ASSERT_EQUAL (peek_block (0, obj), BS);
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  CU_ASSERT_EQUAL (peek_block (0, obj), -1);
  teardown ();
}

/* Threads writing overlapping and disjoint blocks, flushing as they
 * go: no block is torn and the store ends equal to memory.
 */
/* CUnit is not thread-safe: workers count their failures, and the
 * main thread asserts on the counts.
 */
struct writer { unsigned id; unsigned failures; };

static void *
writer_main (void *arg)
{
  struct writer *w = arg;
  char data[BS];

  for (unsigned round = 0; round < 200; round++) {
    /* Disjoint: blocks id*8 .. id*8+3; shared: 32..35. */
    uint64_t block = (round % 2) ? w->id * 8 + round % 4 : 32 + round % 4;
    memset (data, (int) (w->id * 16 + round % 16 + 1), BS);
    if (volume_write (vol, data, BS, block * BS, round % 7 == 0) != 0)
      w->failures++;
    if (round % 50 == 0 && volume_flush (vol) != 0)
      w->failures++;
  }
  return NULL;
}

static void
test_concurrent_writers (void)
{
  pthread_t threads[4];
  struct writer writers[4];
  char back[BS], obj[BS];

  setup (16 * (BS + 256), 8 * (BS + 256));
  volume_free (vol);
  vol = open_volume (64 * BS, BS, 16 * (BS + 256), 8 * (BS + 256));
  for (unsigned i = 0; i < 4; i++) {
    writers[i].id = i;
    writers[i].failures = 0;
    pthread_create (&threads[i], NULL, writer_main, &writers[i]);
  }
  for (unsigned i = 0; i < 4; i++) {
    pthread_join (threads[i], NULL);
    CU_ASSERT_EQUAL (writers[i].failures, 0);
  }
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  for (uint64_t b = 0; b < 36; b++) {
    long len;

    CU_ASSERT_EQUAL (volume_read (vol, back, BS, b * BS), 0);
    for (int i = 1; i < BS; i++)
      CU_ASSERT_EQUAL_FATAL (back[i], back[0]);
    len = peek_block (b * BS, obj);
    if (back[0] == 0) {
      CU_ASSERT_EQUAL (len, -1);
    }
    else {
      CU_ASSERT_EQUAL (len, BS);
      CU_ASSERT_EQUAL (memcmp (obj, back, BS), 0);
    }
  }
  teardown ();
}

/* Shrinking deletes the objects past the new end. */
static void
test_shrink (void)
{
  char data[4 * BS], back[BS];

  setup (1 << 20, 1 << 20);
  fill (data, sizeof data, 18);
  CU_ASSERT_EQUAL (volume_write (vol, data, sizeof data, 60 * BS, false), 0);
  CU_ASSERT_EQUAL (volume_flush (vol), 0);
  CU_ASSERT_EQUAL (volume_write (vol, data, BS, 10 * BS, false), 0);
  CU_ASSERT_EQUAL (volume_resize (vol, 61 * BS + 100), 0);
  CU_ASSERT_EQUAL (volume_size (vol), 61 * BS + 100);
  CU_ASSERT_EQUAL (memstore_count (mem, "blocks/t/"), 3);
  CU_ASSERT_EQUAL (peek_block (61 * BS, back), BS);
  for (int i = 100; i < BS; i++)
    CU_ASSERT_EQUAL_FATAL (back[i], 0);
  CU_ASSERT_EQUAL (peek_block (62 * BS, back), -1);
  /* Growing again shows zeros, not the old data. */
  CU_ASSERT_EQUAL (volume_resize (vol, 64 * BS), 0);
  CU_ASSERT_EQUAL (volume_read (vol, back, BS, 63 * BS), 0);
  CU_ASSERT_EQUAL (back[0], 0);
  teardown ();
}

/* Big blocks: offsets in keys stay in bytes. */
static void
test_block_size_64k (void)
{
  char *data = malloc (65536), *back = malloc (65536);
  struct volume *v;

  standin_reset_errors ();
  mem = memstore_new ();
  struct volume_params p = {
    .name = EXPORT, .size = 1 << 20, .block_size = 65536,
    .max_dirty = 1 << 20, .cache_size = 0, .batch = 4,
  };
  struct layout_params lp = { .export_name = EXPORT, .block_size = 65536 };
  v = volume_create (layout_plain_open (memstore_store (mem), &lp), &p);
  fill (data, 65536, 19);
  CU_ASSERT_EQUAL (volume_write (v, data, 65536, 3 * 65536, false), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (memstore_peek (mem, "blocks/t/0000000000030000", back,
                                  65536), 65536);
  CU_ASSERT_EQUAL (memcmp (back, data, 65536), 0);
  volume_free (v);
  store_close (memstore_store (mem));
  free (data);
  free (back);
}

/* A listing failure is an error at open, not an empty map. */
static void
test_list_failure (void)
{
  struct volume_params p = {
    .name = EXPORT, .size = 1 << 20, .block_size = BS,
    .max_dirty = 1 << 20, .cache_size = 0,
  };
  struct layout_params lp = { .export_name = EXPORT, .block_size = BS };
  struct volume *v;

  mem = memstore_new ();
  v = volume_create (layout_plain_open (memstore_store (mem), &lp), &p);
  memstore_fail_list (mem, EIO);
  CU_ASSERT_EQUAL (volume_load_map (v), -1);
  volume_free (v);
  store_close (memstore_store (mem));
}

UNIT_SUITES (add_volume_tests)
{
  CU_pSuite s = CU_add_suite ("volume", NULL, NULL);

  CU_add_test (s, "holes cost no request", test_holes_cost_nothing);
  CU_add_test (s, "write, then flush", test_write_then_flush);
  CU_add_test (s, "rewrite costs one upload", test_rewrite_costs_one_upload);
  CU_add_test (s, "unaligned write", test_unaligned_write);
  CU_add_test (s, "read-modify-write", test_read_modify_write);
  CU_add_test (s, "partial write of a hole", test_partial_write_of_hole);
  CU_add_test (s, "zero blocks not stored", test_zero_blocks_not_stored);
  CU_add_test (s, "zero range", test_zero_range);
  CU_add_test (s, "failed flush keeps data", test_failed_flush_keeps_data);
  CU_add_test (s, "failed delete keeps zero", test_failed_delete_keeps_zero);
  CU_add_test (s, "FUA", test_fua);
  CU_add_test (s, "dirty bound", test_dirty_bound);
  CU_add_test (s, "dirty bound failure", test_dirty_bound_failure);
  CU_add_test (s, "cache on and off", test_cache);
  CU_add_test (s, "cache bound", test_cache_bound);
  CU_add_test (s, "read batch", test_read_batch);
  CU_add_test (s, "malformed object", test_malformed_object);
  CU_add_test (s, "foreign keys", test_foreign_keys);
  CU_add_test (s, "extents", test_extents);
  CU_add_test (s, "write during upload", test_write_during_upload);
  CU_add_test (s, "zero during upload", test_zero_during_upload);
  CU_add_test (s, "concurrent writers", test_concurrent_writers);
  CU_add_test (s, "shrink", test_shrink);
  CU_add_test (s, "64 KiB blocks", test_block_size_64k);
  CU_add_test (s, "list failure", test_list_failure);
}
