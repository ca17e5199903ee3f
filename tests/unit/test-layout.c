/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the plain layout's allocation map, its open
 * cost, and crash safety at every request.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "format/allocmap.h"
#include "format/keys.h"
#include "memstore.h"
#include "nbdkit-standin.h"
#include "tests.h"
#include "volume/volume.h"

#define BS 4096
#define EXPORT "t"

static struct volume *
open_on (struct memstore *m, uint64_t size, uint64_t max_dirty,
         const struct store_gate *gate, bool rebuild, int *load_result)
{
  struct volume_params p = {
    .name = EXPORT, .size = size, .block_size = BS,
    .max_dirty = max_dirty, .cache_size = 0, .batch = 4,
    .gate = gate,
  };
  struct layout_params lp = {
    .export_name = EXPORT, .block_size = BS, .gate = gate,
    .rebuild_map = rebuild,
  };
  struct volume *v = volume_create (layout_plain_open (memstore_store (m),
                                                       &lp), &p);

  CU_ASSERT_PTR_NOT_NULL_FATAL (v);
  *load_result = volume_load_map (v);
  return v;
}

static struct volume *
open_ok (struct memstore *m, uint64_t size, uint64_t max_dirty,
         const struct store_gate *gate)
{
  int r;
  struct volume *v = open_on (m, size, max_dirty, gate, false, &r);

  CU_ASSERT_EQUAL_FATAL (r, 0);
  return v;
}

/* The codec. */

static void
roundtrip (const struct sbitmap *in, uint64_t first, long *len_out)
{
  struct sbitmap out = SBITMAP_INIT;
  const char *why = NULL;
  char *buf;
  long len = allocmap_encode (in, first, ALLOCMAP_SEGMENT_BLOCKS, BS, &buf);

  CU_ASSERT_FATAL (len > 0);
  CU_ASSERT_EQUAL (allocmap_decode (buf, len, first, ALLOCMAP_SEGMENT_BLOCKS,
                                    BS, &out, &why), 0);
  for (uint64_t i = first; i < first + ALLOCMAP_SEGMENT_BLOCKS;
       i = sbitmap_next_set (in, i + 1, UINT64_MAX))
    if (sbitmap_get (in, i))
      CU_ASSERT_TRUE_FATAL (sbitmap_get (&out, i));
  CU_ASSERT_EQUAL (out.count, in->count);

  /* Every single damaged byte is caught, never misread. */
  for (long i = 0; i < len; i += len / 17 + 1) {
    struct sbitmap junk = SBITMAP_INIT;
    buf[i] ^= 0x5a;
    CU_ASSERT_EQUAL (allocmap_decode (buf, len, first,
                                      ALLOCMAP_SEGMENT_BLOCKS, BS, &junk,
                                      &why), -1);
    buf[i] ^= 0x5a;
    sbitmap_free (&junk);
  }
  /* Truncated, at the wrong place, for another block size. */
  CU_ASSERT_EQUAL (allocmap_decode (buf, len - 1, first,
                                    ALLOCMAP_SEGMENT_BLOCKS, BS, &out, &why),
                   -1);
  CU_ASSERT_EQUAL (allocmap_decode (buf, len, first + 1,
                                    ALLOCMAP_SEGMENT_BLOCKS, BS, &out, &why),
                   -1);
  CU_ASSERT_EQUAL (allocmap_decode (buf, len, first,
                                    ALLOCMAP_SEGMENT_BLOCKS, 512, &out, &why),
                   -1);
  free (buf);
  sbitmap_free (&out);
  *len_out = len;
}

static void
test_codec (void)
{
  struct sbitmap b = SBITMAP_INIT;
  const uint64_t first = 3 * (uint64_t) ALLOCMAP_SEGMENT_BLOCKS;
  long len;
  unsigned seed = 1;

  /* Empty: a few bytes. */
  roundtrip (&b, first, &len);
  CU_ASSERT (len <= 48);

  /* Contiguous runs (a filled disk region): a few bytes. */
  for (uint64_t i = first + 100; i < first + 300000; i++)
    sbitmap_set (&b, i);
  roundtrip (&b, first, &len);
  CU_ASSERT (len <= 48);

  /* Random half-full: at most one bit per block, plus the header. */
  sbitmap_free (&b);
  for (uint64_t i = first; i < first + ALLOCMAP_SEGMENT_BLOCKS; i++) {
    seed = seed * 1103515245 + 12345;
    if ((seed >> 16) & 1)
      sbitmap_set (&b, i);
  }
  roundtrip (&b, first, &len);
  CU_ASSERT (len <= (long) (ALLOCMAP_SEGMENT_BLOCKS / 8 + 64));
  sbitmap_free (&b);
}

/* A sparse 1 TiB export's map is kilobytes. */
static void
test_sparse_terabyte_map_size (void)
{
  struct memstore *m = memstore_new ();
  const uint64_t size = UINT64_C (1) << 40;
  struct volume *v = open_ok (m, size, 1 << 20, NULL);
  char data[BS];
  size_t total = 0;
  char key[KEY_MAX];

  memset (data, 7, BS);
  /* A few hundred blocks spread over the disk. */
  for (uint64_t off = 0; off < size; off += size / 256)
    CU_ASSERT_EQUAL (volume_write (v, data, BS, off, false), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  for (uint64_t seg = 0; seg < size / BS / ALLOCMAP_SEGMENT_BLOCKS; seg++) {
    char buf[ALLOCMAP_MAX_BYTES];
    long len;

    map_segment_key (key, sizeof key, EXPORT,
                     seg * ALLOCMAP_SEGMENT_BLOCKS * BS);
    len = memstore_peek (m, key, buf, sizeof buf);
    CU_ASSERT (len > 0);
    total += len;
  }
  CU_ASSERT (total < 32 * 1024);
  volume_free (v);
  store_close (memstore_store (m));
}

/* Opening costs the same requests whatever is stored, and no LIST. */
static uint64_t
open_cost (struct memstore *m, uint64_t size, uint64_t *lists,
           uint64_t *present)
{
  struct volume_stats st;
  struct volume *v;
  uint64_t n;
  int r;

  memstore_reset_counts (m);
  v = open_on (m, size, 1 << 20, NULL, false, &r);
  CU_ASSERT_EQUAL (r, 0);
  n = memstore_requests (m);
  *lists = memstore_counts (m).lists;
  volume_get_stats (v, &st);
  *present = st.present_blocks;
  volume_free (v);
  return n;
}

static void
test_open_cost (void)
{
  const uint64_t size = UINT64_C (1) << 30;     /* 1 GiB: one segment */
  struct memstore *empty = memstore_new (), *full = memstore_new ();
  struct memstore *million = memstore_new ();
  uint64_t lists, present, cost_empty, cost_full, cost_million;
  struct volume *v;
  char data[BS];

  /* Empty, created: the first open lists (nothing) and writes a map. */
  volume_free (open_ok (empty, size, 1 << 20, NULL));
  cost_empty = open_cost (empty, size, &lists, &present);
  CU_ASSERT_EQUAL (lists, 0);
  CU_ASSERT_EQUAL (present, 0);

  /* 16,384 stored blocks, written through the volume. */
  v = open_ok (full, size, 64 << 20, NULL);
  for (uint64_t i = 0; i < 16384; i++) {
    memset (data, (int) (i % 250 + 1), BS);
    CU_ASSERT_EQUAL_FATAL (volume_write (v, data, BS, i * 2 * BS, false), 0);
  }
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_free (v);
  cost_full = open_cost (full, size, &lists, &present);
  CU_ASSERT_EQUAL (lists, 0);
  CU_ASSERT_EQUAL (present, 16384);
  CU_ASSERT_EQUAL (cost_full, cost_empty);

  /* A million present blocks (a 4 GiB export, its map written as the
   * plugin writes it): the map alone is what opening reads.
   */
  {
    struct sbitmap b = SBITMAP_INIT;
    const uint64_t msize = UINT64_C (4) << 30;
    char key[KEY_MAX];

    volume_free (open_ok (million, msize, 1 << 20, NULL));
    for (uint64_t i = 0; i < 1000000; i++)
      sbitmap_set (&b, i * 1000003 % (msize / BS));
    for (uint64_t seg = 0; seg < msize / BS / ALLOCMAP_SEGMENT_BLOCKS; seg++) {
      char *buf;
      long len = allocmap_encode (&b, seg * ALLOCMAP_SEGMENT_BLOCKS,
                                  ALLOCMAP_SEGMENT_BLOCKS, BS, &buf);
      map_segment_key (key, sizeof key, EXPORT,
                       seg * ALLOCMAP_SEGMENT_BLOCKS * BS);
      memstore_set (million, key, buf, len);
      free (buf);
    }
    cost_million = open_cost (million, msize, &lists, &present);
    CU_ASSERT_EQUAL (lists, 0);
    CU_ASSERT_EQUAL (present, 1000000);
    /* The root and 4 segments, as for an empty 4 GiB export. */
    CU_ASSERT_EQUAL (cost_million, 1 + msize / BS / ALLOCMAP_SEGMENT_BLOCKS);
    sbitmap_free (&b);
  }
  store_close (memstore_store (empty));
  store_close (memstore_store (full));
  store_close (memstore_store (million));
}

/* An export without a map (an older version, another tool) is listed
 * once, then opens from its map.
 */
static void
test_adopt_legacy (void)
{
  struct memstore *m = memstore_new ();
  char data[BS], back[BS], key[KEY_MAX];
  uint64_t lists, present;
  struct volume *v;

  memset (data, 9, BS);
  for (int i = 0; i < 5; i++) {
    block_key (key, sizeof key, EXPORT, (uint64_t) i * 7 * BS);
    memstore_set (m, key, data, BS);
  }
  memstore_reset_counts (m);
  v = open_ok (m, 1 << 20, 1 << 20, NULL);
  CU_ASSERT_EQUAL (memstore_counts (m).lists, 1);
  CU_ASSERT_EQUAL (volume_read (v, back, BS, 14 * BS), 0);
  CU_ASSERT_EQUAL (memcmp (back, data, BS), 0);
  volume_free (v);
  open_cost (m, 1 << 20, &lists, &present);
  CU_ASSERT_EQUAL (lists, 0);
  CU_ASSERT_EQUAL (present, 5);
  store_close (memstore_store (m));
}

/* A damaged map refuses to open, naming the object; rebuild-map fixes
 * it.
 */
static void
test_damaged_map (void)
{
  struct memstore *m = memstore_new ();
  char data[BS], back[BS], key[KEY_MAX];
  struct volume *v = open_ok (m, 1 << 20, 1 << 20, NULL);
  int r;

  memset (data, 3, BS);
  CU_ASSERT_EQUAL (volume_write (v, data, BS, 2 * BS, false), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_free (v);

  map_segment_key (key, sizeof key, EXPORT, 0);
  memstore_set (m, key, "garbage", 7);
  standin_reset_errors ();
  v = open_on (m, 1 << 20, 1 << 20, NULL, false, &r);
  CU_ASSERT_EQUAL (r, -1);
  CU_ASSERT_EQUAL (errno, EBADMSG);
  CU_ASSERT (standin_error_count >= 1);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error,
                                  "maps/t/0000000000000000"));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "rebuild-map=true"));
  volume_free (v);

  v = open_on (m, 1 << 20, 1 << 20, NULL, true, &r);
  CU_ASSERT_EQUAL (r, 0);
  volume_free (v);
  v = open_ok (m, 1 << 20, 1 << 20, NULL);
  CU_ASSERT_EQUAL (volume_read (v, back, BS, 2 * BS), 0);
  CU_ASSERT_EQUAL (memcmp (back, data, BS), 0);
  volume_free (v);
  store_close (memstore_store (m));
}

/* The gate (the lease) refuses: nothing reaches the store, the data
 * stays in memory, the refusal's errno comes back.
 */
static int gate_errno;

static int
gate_check (void *opaque)
{
  return gate_errno;
}

static const struct store_gate test_gate = { gate_check, NULL, NULL };

static void
test_gate_fences (void)
{
  struct memstore *m = memstore_new ();
  char data[BS], back[BS];
  struct volume *v;

  gate_errno = 0;
  v = open_ok (m, 1 << 20, 1 << 20, &test_gate);
  memset (data, 5, BS);
  CU_ASSERT_EQUAL (volume_write (v, data, BS, 0, false), 0);
  gate_errno = EROFS;
  memstore_reset_counts (m);
  errno = 0;
  CU_ASSERT_EQUAL (volume_flush (v), -1);
  CU_ASSERT_EQUAL (errno, EROFS);
  CU_ASSERT_EQUAL (volume_write (v, data, BS, BS, true), -1);
  CU_ASSERT_EQUAL (errno, EROFS);
  CU_ASSERT_EQUAL (volume_write_back (v, 0), -1);
  CU_ASSERT_EQUAL (memstore_counts (m).puts, 0);
  CU_ASSERT_EQUAL (memstore_count (m, "blocks/"), 0);
  CU_ASSERT_EQUAL (volume_read (v, back, BS, 0), 0);
  CU_ASSERT_EQUAL (memcmp (back, data, BS), 0);

  /* Renewed: the same data goes out. */
  gate_errno = 0;
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (memstore_count (m, "blocks/"), 2);
  volume_free (v);
  store_close (memstore_store (m));
}

/* Background write-back takes the old blocks only, and commits. */
static void
test_write_back (void)
{
  struct memstore *m = memstore_new ();
  char data[BS];
  struct volume *v = open_ok (m, 1 << 20, 1 << 20, NULL);
  struct volume_stats st;

  memset (data, 1, BS);
  CU_ASSERT_EQUAL (volume_write (v, data, BS, 0, false), 0);
  CU_ASSERT_EQUAL (volume_write_back (v, 3600 * 1000), 0);
  CU_ASSERT_EQUAL (memstore_count (m, "blocks/"), 0);
  CU_ASSERT_EQUAL (volume_write_back (v, 0), 0);
  CU_ASSERT_EQUAL (memstore_count (m, "blocks/"), 1);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.dirty_blocks, 0);
  CU_ASSERT (st.commits >= 1);
  volume_free (v);

  /* What was written back is found by a new server: it was committed. */
  v = open_ok (m, 1 << 20, 1 << 20, NULL);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.present_blocks, 1);
  volume_free (v);
  store_close (memstore_store (m));
}

/* Crash at every request.
 *
 * A scripted workload of writes, zeroes and flushes (and uploads
 * forced early by a small max-dirty) runs against a store that dies
 * after k requests, for k = 0, 1, 2, ... until the script completes.
 * A new server then opens the export and reads every block.  Each
 * block must read as the value of its last completed flush or as a
 * value written to it after that: never zeros in place of flushed data,
 * never data it was not given.
 */
#define CRASH_BLOCKS 12
#define MAX_VALUES 16

struct shadow {
  unsigned char flushed[CRASH_BLOCKS];  /* fill byte; 0: zeros */
  unsigned char since[CRASH_BLOCKS][MAX_VALUES];
  unsigned nr_since[CRASH_BLOCKS];
};

static void
shadow_write (struct shadow *sh, unsigned block, unsigned char value)
{
  if (sh->nr_since[block] < MAX_VALUES)
    sh->since[block][sh->nr_since[block]++] = value;
}

static void
shadow_flushed (struct shadow *sh, const unsigned char *now)
{
  memcpy (sh->flushed, now, CRASH_BLOCKS);
  memset (sh->nr_since, 0, sizeof sh->nr_since);
}

static bool
shadow_allows (const struct shadow *sh, unsigned block, unsigned char value)
{
  if (value == sh->flushed[block])
    return true;
  for (unsigned i = 0; i < sh->nr_since[block]; i++)
    if (sh->since[block][i] == value)
      return true;
  return false;
}

/* Returns false once a request failed (the store is gone). */
static bool
run_script (struct volume *v, struct shadow *sh, unsigned char *now)
{
  static const struct { char op; unsigned block; unsigned char value; }
  script[] = {
    { 'w', 0, 11 }, { 'w', 1, 12 }, { 'w', 5, 13 }, { 'f', 0, 0 },
    { 'w', 0, 21 }, { 'z', 1, 0 }, { 'w', 2, 22 }, { 'w', 9, 23 },
    { 'w', 10, 24 }, { 'w', 11, 25 }, { 'w', 3, 26 }, { 'w', 4, 27 },
    { 'F', 6, 28 }, { 'z', 5, 0 }, { 'w', 1, 31 }, { 'f', 0, 0 },
    { 'z', 0, 0 }, { 'z', 9, 0 }, { 'w', 7, 41 }, { 'w', 8, 42 },
    { 'w', 2, 43 }, { 'f', 0, 0 },
  };
  char data[BS];

  for (size_t i = 0; i < sizeof script / sizeof script[0]; i++) {
    const unsigned b = script[i].block;
    int r;

    memset (data, script[i].value, BS);
    switch (script[i].op) {
    case 'w':
    case 'F':                   /* a FUA write */
      shadow_write (sh, b, script[i].value);
      r = volume_write (v, data, BS, (uint64_t) b * BS, script[i].op == 'F');
      if (r == 0)
        now[b] = script[i].value;
      if (r == 0 && script[i].op == 'F') {
        sh->flushed[b] = now[b];
        sh->nr_since[b] = 0;
      }
      break;
    case 'z':
      shadow_write (sh, b, 0);
      r = volume_zero (v, BS, (uint64_t) b * BS, false);
      if (r == 0)
        now[b] = 0;
      break;
    default:
      r = volume_flush (v);
      if (r == 0)
        shadow_flushed (sh, now);
      break;
    }
    if (r == -1)
      return false;
  }
  return true;
}

static void
crash_at_every_request (uint64_t max_dirty)
{
  bool completed = false;

  for (int64_t k = 0; !completed && k < 500; k++) {
    struct memstore *m = memstore_new ();
    struct shadow sh;
    unsigned char now[CRASH_BLOCKS] = { 0 };
    struct volume *v;
    char back[BS];
    int r;

    memset (&sh, 0, sizeof sh);
    memstore_crash_after (m, k);
    v = open_on (m, CRASH_BLOCKS * BS, max_dirty, NULL, false, &r);
    if (r == 0)
      completed = run_script (v, &sh, now);
    volume_free (v);            /* the crash: dirty data is gone */

    memstore_crash_after (m, -1);
    v = open_ok (m, CRASH_BLOCKS * BS, 1 << 20, NULL);
    for (unsigned b = 0; b < CRASH_BLOCKS; b++) {
      bool uniform = true;

      CU_ASSERT_EQUAL_FATAL (volume_read (v, back, BS, (uint64_t) b * BS), 0);
      for (int i = 1; i < BS; i++)
        uniform &= back[i] == back[0];
      CU_ASSERT_TRUE (uniform);
      if (!shadow_allows (&sh, b, (unsigned char) back[0])) {
        fprintf (stderr, "crash after %" PRIi64 " requests: block %u reads "
                 "%d, last flushed %d\n", k, b, back[0], sh.flushed[b]);
        CU_FAIL ("a block read as a value it may not have");
      }
    }
    volume_free (v);
    store_close (memstore_store (m));
  }
  CU_ASSERT_TRUE (completed);
}

static void
test_crash_flush (void)
{
  crash_at_every_request (1 << 20);
}

/* max-dirty of about three blocks: writes upload others early. */
static void
test_crash_make_room (void)
{
  crash_at_every_request (3 * (BS + 256));
}

/* The model test: random workloads (writes of 1-3 blocks, zeroes,
 * FUA, flushes, background write-back) with a small dirty bound,
 * killed at a random request, then checked block by block against the
 * shadow's allowed values.  Several rounds reuse the surviving store,
 * as restarts would.
 */
static void
test_random_crashes (void)
{
  unsigned seed = 12345;
  char data[3 * BS], back[BS];

#define RAND() (seed = seed * 1103515245 + 12345, (seed >> 16) & 0x7fff)
  for (int trial = 0; trial < 60; trial++) {
    struct memstore *m = memstore_new ();
    struct shadow sh;
    unsigned char now[CRASH_BLOCKS] = { 0 };
    unsigned char value = 1;

    memset (&sh, 0, sizeof sh);
    for (int round = 0; round < 4; round++) {
      struct volume *v;
      int r;

      memstore_crash_after (m, RAND () % 60);
      v = open_on (m, CRASH_BLOCKS * BS, 3 * (BS + 256), NULL, false, &r);
      memcpy (now, sh.flushed, sizeof now);
      for (int op = 0; r == 0 && op < 40; op++) {
        const unsigned b = RAND () % (CRASH_BLOCKS - 2);
        const unsigned n = 1 + RAND () % 3;
        const unsigned kind = RAND () % 10;

        if (kind < 5 || kind == 9) {            /* write, FUA on 9 */
          value = value % 250 + 1;
          memset (data, value, n * BS);
          for (unsigned i = 0; i < n; i++)
            shadow_write (&sh, b + i, value);
          r = volume_write (v, data, n * BS, (uint64_t) b * BS, kind == 9);
          if (r == 0)
            for (unsigned i = 0; i < n; i++) {
              now[b + i] = value;
              if (kind == 9) {
                sh.flushed[b + i] = value;
                sh.nr_since[b + i] = 0;
              }
            }
        }
        else if (kind < 7) {                    /* zero or trim */
          for (unsigned i = 0; i < n; i++)
            shadow_write (&sh, b + i, 0);
          r = volume_zero (v, n * BS, (uint64_t) b * BS, false);
          if (r == 0)
            memset (now + b, 0, n);
        }
        else if (kind == 7) {
          r = volume_flush (v);
          if (r == 0)
            shadow_flushed (&sh, now);
        }
        else
          r = volume_write_back (v, 0);
      }
      volume_free (v);

      memstore_crash_after (m, -1);
      v = open_ok (m, CRASH_BLOCKS * BS, 1 << 20, NULL);
      for (unsigned b = 0; b < CRASH_BLOCKS; b++) {
        CU_ASSERT_EQUAL_FATAL (volume_read (v, back, BS, (uint64_t) b * BS),
                               0);
        for (int i = 1; i < BS; i++)
          if (back[i] != back[0]) {
            CU_FAIL ("a torn block");
            break;
          }
        if (!shadow_allows (&sh, b, (unsigned char) back[0])) {
          fprintf (stderr, "trial %d round %d: block %u reads %d, last "
                   "flushed %d\n", trial, round, b, back[0],
                   sh.flushed[b]);
          CU_FAIL ("a block read as a value it may not have");
        }
        /* What the new server reads is now what is stored. */
        sh.flushed[b] = (unsigned char) back[0];
        sh.nr_since[b] = 0;
      }
      volume_free (v);
    }
    store_close (memstore_store (m));
  }
#undef RAND
}

UNIT_SUITES (add_layout_tests)
{
  CU_pSuite s = CU_add_suite ("layout", NULL, NULL);

  CU_add_test (s, "map codec", test_codec);
  CU_add_test (s, "sparse 1 TiB map is small", test_sparse_terabyte_map_size);
  CU_add_test (s, "open cost is fixed", test_open_cost);
  CU_add_test (s, "export without a map", test_adopt_legacy);
  CU_add_test (s, "damaged map", test_damaged_map);
  CU_add_test (s, "gate fences uploads", test_gate_fences);
  CU_add_test (s, "background write-back", test_write_back);
  CU_add_test (s, "crash at every request of flushes",
               test_crash_flush);
  CU_add_test (s, "crash at every request, dirty bound",
               test_crash_make_room);
  CU_add_test (s, "random workloads, random crashes", test_random_crashes);
}
