/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the log layout's compaction (docs/log-layout.md,
 * "Compaction") under faults and odd cases: its new segment swept
 * before its commit; a block deduplicated onto a segment, and several
 * onto one record.  Against the in-memory store, on a fake clock.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "cas/cas-tree.h"
#include "format/cas-format.h"
#include "format/log-format.h"
#include "layout/layout.h"
#include "memstore.h"
#include "nbdkit-standin.h"
#include "tests.h"
#include "volume/volume.h"

#define BS 4096
#define EXPORT "t"
#define ROOT_KEY "cas/roots/t"
#define NBLOCKS 1024
#define SIZE ((uint64_t) NBLOCKS * BS)
#define SEG_SIZE (128 * 1024)                   /* 31 blocks */
#define SEGS "log/segs/"

static uint64_t fake_now;

static uint64_t
fake_clock (void)
{
  return fake_now;
}

static void
fake_sleep (uint64_t ms)
{
  fake_now += ms;
}

static struct volume *
open_compacting (struct memstore *m)
{
  struct volume_params p = {
    .name = EXPORT, .size = SIZE, .block_size = BS,
    .max_dirty = 2 * SIZE, .batch = 64,
  };
  struct layout_params lp = { .export_name = EXPORT, .block_size = BS };
  struct layout_log_params gp = {
    .root_key = ROOT_KEY, .size = SIZE,
    .create = memstore_peek (m, ROOT_KEY, NULL, 0) < 0,
    .map_cache_bytes = 1 << 20, .reuse_window_ms = 1000,
    .keep_bytes = 2 * SIZE, .request_bound_ms = 10,
    .commit_bound_ms = 100000, .segment_size = SEG_SIZE,
    .recent_entries = 64, .compact_rate = UINT64_C (32) << 20,
    .compact_threshold_pm = 600,
    .clock_ms = fake_clock, .sleep_ms = fake_sleep,
  };
  struct layout *l = layout_log_open (memstore_store (m), &lp, &gp);
  struct volume *v;

  CU_ASSERT_PTR_NOT_NULL_FATAL (l);
  v = volume_create (l, &p);
  CU_ASSERT_PTR_NOT_NULL_FATAL (v);
  CU_ASSERT_EQUAL_FATAL (volume_load_map (v), 0);
  return v;
}

/* Unique per (index, gen) unless said otherwise. */
static void
fill (char *buf, uint64_t index, unsigned gen)
{
  memset (buf, 'a' + gen % 26, BS);
  memcpy (buf, &index, sizeof index);
  memcpy (buf + 8, &gen, sizeof gen);
}

/* Block gets block index's content of generation gen (a copy of
 * another block's content when block != index: dedup).
 */
static int
write_copy (struct volume *v, uint64_t block, uint64_t index, unsigned gen)
{
  char buf[BS];

  fill (buf, index, gen);
  return volume_write (v, buf, BS, block * BS, false);
}

static int
write_gen (struct volume *v, uint64_t index, unsigned gen)
{
  return write_copy (v, index, index, gen);
}

/* Block reads as block index's content of generation gen. */
static bool
reads_copy (struct volume *v, uint64_t block, uint64_t index, unsigned gen)
{
  char buf[BS], want[BS];

  fill (want, index, gen);
  return volume_read (v, buf, BS, block * BS) == 0 &&
    memcmp (buf, want, BS) == 0;
}

static bool
reads_as (struct volume *v, uint64_t index, unsigned gen)
{
  return reads_copy (v, index, index, gen);
}

static void
maintain_rounds (struct volume *v, int n)
{
  for (int i = 0; i < n; i++) {
    fake_now += 60 * 1000;
    (void) volume_maintain (v);
  }
}

struct keys {
  char key[8][KEY_MAX];
  int n;
};

static int
add_key (void *opaque, const struct store_entry *e)
{
  struct keys *k = opaque;

  if (k->n < 8)
    snprintf (k->key[k->n], KEY_MAX, "%s", e->key);
  k->n++;
  return 0;
}

/* Blocks 0-7 written and flushed, then 0-5 again: two segments, the
 * first 2 of 8 live (a compaction candidate); *before: their keys.
 */
static void
two_segments (struct memstore *m, struct volume *v, struct keys *before)
{
  for (uint64_t i = 0; i < 8; i++)
    CU_ASSERT_EQUAL (write_gen (v, i, 1), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  for (uint64_t i = 0; i < 6; i++)
    CU_ASSERT_EQUAL (write_gen (v, i, 2), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (store_list (memstore_store (m), SEGS, NULL, NULL,
                               add_key, before), 0);
  CU_ASSERT_EQUAL_FATAL (before->n, 2);
}

/* Delete, as gc would, the one segment not among before's two (the
 * compaction's, not committed).
 */
static void
delete_new_segment (struct memstore *m, const struct keys *before)
{
  struct keys after = { .n = 0 };
  const char *gone = NULL;

  CU_ASSERT_EQUAL (store_list (memstore_store (m), SEGS, NULL, NULL,
                               add_key, &after), 0);
  CU_ASSERT_EQUAL_FATAL (after.n, 3);
  for (int i = 0; i < after.n; i++)
    if (strcmp (after.key[i], before->key[0]) &&
        strcmp (after.key[i], before->key[1]))
      gone = after.key[i];
  CU_ASSERT_PTR_NOT_NULL_FATAL (gone);
  CU_ASSERT_EQUAL (store_delete (memstore_store (m), gone), 0);
}

/* A compaction's new segment, not committed (the commit failed: here
 * its fence LIST), swept by gc while commits keep failing longer than
 * gc's grace.  Compaction keeps no copy of its segments; its changes
 * leave every block as the committed map has it, so the commit turns
 * them back to the committed locations instead of failing (and every
 * later flush with it, the client's writes never committed).
 */
static void
test_compacted_segment_swept (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  struct keys before = { .n = 0 };

  fake_now = 1000;
  v = open_compacting (m);
  two_segments (m, v, &before);

  memstore_fail_list (m, EIO);          /* commits fail */
  maintain_rounds (v, 5);
  memstore_fail_list (m, 0);
  delete_new_segment (m, &before);
  fake_now += 10 * 1000;

  CU_ASSERT_EQUAL (write_gen (v, 100, 7), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_free (v);
  v = open_compacting (m);
  CU_ASSERT (reads_as (v, 100, 7));
  for (uint64_t i = 0; i < 8; i++)
    CU_ASSERT (reads_as (v, i, i < 6 ? 2 : 1));
  volume_free (v);
  store_close (memstore_store (m));
}

/* A block deduplicated onto its own old record, not yet committed,
 * holds a copy of its bytes; compaction of that segment must leave it
 * alone (moving it would drop the copy).  Here the compaction's new
 * segment is swept before a commit: the deduplicated write survives.
 */
static void
test_pending_dedup_not_moved (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  struct keys before = { .n = 0 };

  fake_now = 1000;
  v = open_compacting (m);
  two_segments (m, v, &before);

  memstore_fail_list (m, EIO);          /* commits fail */
  CU_ASSERT_EQUAL (write_gen (v, 1, 1), 0);     /* onto its old record */
  CU_ASSERT_EQUAL (volume_flush (v), -1);
  maintain_rounds (v, 5);
  memstore_fail_list (m, 0);
  delete_new_segment (m, &before);
  fake_now += 10 * 1000;

  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_free (v);
  v = open_compacting (m);
  for (uint64_t i = 0; i < 8; i++)
    CU_ASSERT (reads_as (v, i, i == 1 || i >= 6 ? 1 : 2));
  volume_free (v);
  store_close (memstore_store (m));
}

/* A block deduplicated onto a segment names another block's record
 * there: compaction moves it too (log-compact-refs.c), so the segment
 * is not kept named for that one block's sake (here 1 of 31 blocks).
 */
static void
test_dedup_pins_segment (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  struct volume_stats st;

  fake_now = 1000;
  v = open_compacting (m);
  for (uint64_t i = 0; i < 31; i++)
    CU_ASSERT_EQUAL (write_gen (v, i, 1), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (write_copy (v, 500, 1, 1), 0);       /* block 1's */
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL_FATAL (st.dedup_hits, 1);
  for (uint64_t i = 0; i < 31; i++)
    CU_ASSERT_EQUAL (write_gen (v, i, 2), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (memstore_count (m, SEGS), 2);
  maintain_rounds (v, 10);
  volume_free (v);
  /* Compacted: block 500 moved into a new segment, the first one no
   * longer named (gc would sweep it).
   */
  CU_ASSERT_EQUAL (memstore_count (m, SEGS), 3);
  v = open_compacting (m);
  CU_ASSERT (reads_copy (v, 500, 1, 1));
  for (uint64_t i = 0; i < 31; i++)
    CU_ASSERT (reads_as (v, i, 2));
  volume_free (v);
  store_close (memstore_store (m));
}

/* Blocks deduplicated onto one record move as one copy: eight blocks
 * with block 1's content name its record, the whole segment is
 * overwritten, block 1 too, and compaction writes a segment of one
 * record that all eight name (not eight records: that would undo their
 * dedup).
 */
static void
test_dedup_moves_as_one (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  struct volume_stats st;

  fake_now = 1000;
  v = open_compacting (m);
  for (uint64_t i = 0; i < 31; i++)
    CU_ASSERT_EQUAL (write_gen (v, i, 1), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  for (uint64_t b = 500; b < 508; b++)
    CU_ASSERT_EQUAL (write_copy (v, b, 1, 1), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL_FATAL (st.dedup_hits, 8);
  for (uint64_t i = 0; i < 31; i++)
    CU_ASSERT_EQUAL (write_gen (v, i, 2), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  CU_ASSERT_EQUAL (memstore_count (m, SEGS), 2);
  maintain_rounds (v, 10);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.compact_blocks, 8);
  CU_ASSERT_EQUAL (st.compact_puts, 1);
  CU_ASSERT_EQUAL (st.compact_written_bytes, LOG_SEG_DATA_START (1) + BS);
  volume_free (v);
  CU_ASSERT_EQUAL (memstore_count (m, SEGS), 3);
  v = open_compacting (m);
  for (uint64_t b = 500; b < 508; b++)
    CU_ASSERT (reads_copy (v, b, 1, 1));
  for (uint64_t i = 0; i < 31; i++)
    CU_ASSERT (reads_as (v, i, 2));
  volume_free (v);
  store_close (memstore_store (m));
}

/* Groups mixed in block order: block 5's record is live and named by
 * blocks 600 and 620 too; block 3's own is dead and named by 610 and
 * 630; blocks 2 and 7 stand alone.  Seven blocks move as four records,
 * each block reads its own content; then block 5, the lowest block of
 * its new record, is overwritten, and 600 and 620 still read theirs
 * after that segment is compacted again.
 */
static void
test_dedup_groups_mixed (void)
{
  struct memstore *m = memstore_new ();
  struct volume *v;
  struct volume_stats st;
  const uint64_t named5[] = { 600, 620 }, named3[] = { 610, 630 };

  fake_now = 1000;
  v = open_compacting (m);
  for (uint64_t i = 0; i < 31; i++)
    CU_ASSERT_EQUAL (write_gen (v, i, 1), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  for (int i = 0; i < 2; i++) {
    CU_ASSERT_EQUAL (write_copy (v, named5[i], 5, 1), 0);
    CU_ASSERT_EQUAL (write_copy (v, named3[i], 3, 1), 0);
  }
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL_FATAL (st.dedup_hits, 4);
  for (uint64_t i = 0; i < 31; i++)
    if (i != 2 && i != 5 && i != 7)
      CU_ASSERT_EQUAL (write_gen (v, i, 2), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  maintain_rounds (v, 10);
  volume_get_stats (v, &st);
  CU_ASSERT_EQUAL (st.compact_blocks, 7);
  CU_ASSERT_EQUAL (st.compact_written_bytes, LOG_SEG_DATA_START (4) + 4 * BS);
  volume_free (v);

  v = open_compacting (m);
  for (int i = 0; i < 2; i++) {
    CU_ASSERT (reads_copy (v, named5[i], 5, 1));
    CU_ASSERT (reads_copy (v, named3[i], 3, 1));
  }
  for (uint64_t i = 0; i < 31; i++)
    CU_ASSERT (reads_as (v, i, i == 2 || i == 5 || i == 7 ? 1 : 2));
  CU_ASSERT_EQUAL (write_gen (v, 5, 9), 0);
  for (uint64_t i = 0; i < 31; i++)
    if (i != 5)
      CU_ASSERT_EQUAL (write_gen (v, i, 3), 0);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  maintain_rounds (v, 10);
  CU_ASSERT_EQUAL (volume_flush (v), 0);
  volume_free (v);
  v = open_compacting (m);
  for (int i = 0; i < 2; i++) {
    CU_ASSERT (reads_copy (v, named5[i], 5, 1));
    CU_ASSERT (reads_copy (v, named3[i], 3, 1));
  }
  CU_ASSERT (reads_as (v, 5, 9));
  volume_free (v);
  store_close (memstore_store (m));
}

UNIT_SUITES (add_log_compact_faults_tests)
{
  CU_pSuite s = CU_add_suite ("log compaction faults", NULL, NULL);

  CU_add_test (s, "a compaction's segment swept before its commit",
               test_compacted_segment_swept);
  CU_add_test (s, "a pending deduplicated block is not moved",
               test_pending_dedup_not_moved);
  CU_add_test (s, "a deduplicated block does not pin its segment",
               test_dedup_pins_segment);
  CU_add_test (s, "blocks deduplicated onto one record move as one",
               test_dedup_moves_as_one);
  CU_add_test (s, "groups of deduplicated blocks among others",
               test_dedup_groups_mixed);
}
