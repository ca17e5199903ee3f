/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the log layout's segment I/O (log-segio.h)
 * against the in-memory store: how many requests and batches an
 * upload and a read cost, what fails when a PUT, a gate or a segment
 * does, the memory bound's rounds, and uploads stopped by the server
 * going away after each single request.
 *
 * Two things watch the store: the memstore's counters, read at the
 * start of every store_run by a hook (so each batch's requests are
 * known), and a spy store in front of it that records each PUT's
 * condition and gate.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "format/log-format.h"
#include "layout/log/log-segio.h"
#include "memstore.h"
#include "nbdkit-standin.h"
#include "tests.h"

#define BS 4096
#define EXPORT "t"
#define MIB (1024 * 1024)

static uint64_t fake_now;

static uint64_t
fake_clock (void)
{
  return fake_now;
}

/* Block contents: a function of the block number and a seed. */
static void
fill_block (uint8_t *buf, uint64_t block, unsigned seed)
{
  uint64_t x = block * UINT64_C (0x9e3779b97f4a7c15) + seed + 1;

  for (size_t i = 0; i < BS; i += 8) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    memcpy (buf + i, &x, 8);
  }
}

static unsigned
rnd (uint64_t *state)
{
  *state ^= *state << 13;
  *state ^= *state >> 7;
  *state ^= *state << 17;
  return (unsigned) (*state >> 11);
}

/* The store's batches: a snapshot of the counters as each store_run
 * starts (its own requests not yet counted), and one at the end.
 */
#define MAX_BATCHES 256
struct batches {
  struct memstore *m;
  size_t n;
  struct memstore_counts at[MAX_BATCHES + 1];
};

static void
batch_started (void *opaque)
{
  struct batches *b = opaque;

  CU_ASSERT_FATAL (b->n < MAX_BATCHES);
  b->at[b->n++] = memstore_counts (b->m);
  memstore_set_hook (b->m, batch_started, b);
  /* The PUTs' recorded time must be read before this. */
  fake_now += 1000;
}

static void
batches_watch (struct batches *b, struct memstore *m)
{
  memstore_reset_counts (m);
  b->m = m;
  b->n = 0;
  memstore_set_hook (m, batch_started, b);
}

static void
batches_stop (struct batches *b)
{
  b->at[b->n] = memstore_counts (b->m);
  memstore_set_hook (b->m, NULL, NULL);
}

/* Requests of batch i. */
static struct memstore_counts
batch (const struct batches *b, size_t i)
{
  struct memstore_counts c = b->at[i + 1];

  c.puts -= b->at[i].puts;
  c.range_gets -= b->at[i].range_gets;
  c.range_bytes -= b->at[i].range_bytes;
  c.gets -= b->at[i].gets;
  return c;
}

/* A store in front of another that records each PUT's condition and
 * gate, then passes every request on.
 */
#define MAX_SPIED 1024
struct spy {
  struct store base;
  struct store *inner;
  size_t puts;
  enum store_condition condition[MAX_SPIED];
  const struct store_gate *gate[MAX_SPIED];
};

static size_t
spy_run (struct store *s, struct store_op *ops, size_t n)
{
  struct spy *spy = (struct spy *) s;

  for (size_t i = 0; i < n; i++)
    if (ops[i].kind == STORE_PUT && spy->puts < MAX_SPIED) {
      spy->condition[spy->puts] = ops[i].condition;
      spy->gate[spy->puts] = ops[i].gate;
      spy->puts++;
    }
  return store_run (spy->inner, ops, n);
}

static int
spy_list (struct store *s, const char *prefix, const char *delimiter,
          const char *start_after, store_list_cb cb, void *opaque)
{
  return store_list (((struct spy *) s)->inner, prefix, delimiter,
                     start_after, cb, opaque);
}

static const struct store_ops spy_ops = {
  .run = spy_run, .list = spy_list,
};

static void
spy_init (struct spy *spy, struct store *inner)
{
  memset (spy, 0, sizeof *spy);
  spy->base.ops = &spy_ops;
  spy->base.caps = inner->caps;
  spy->inner = inner;
}

/* A gate that refuses with gate_errno when it is not 0. */
static int gate_errno;

static int
gate_check (void *opaque)
{
  return gate_errno;
}

static const struct store_gate gate = { .check = gate_check };

static void
io_init (struct log_segio *io, struct store *s, size_t segment_size,
         unsigned in_flight)
{
  memset (io, 0, sizeof *io);
  io->store = s;
  io->export_name = EXPORT;
  io->block_size = BS;
  io->segment_size = segment_size;
  io->max_in_flight = in_flight;
  io->gate = &gate;
  io->clock_ms = fake_clock;
  CU_ASSERT_EQUAL_FATAL (log_segio_init (io), 0);
}

/* A batch of n blocks numbered first + i * stride (block order), with
 * their contents in one buffer.
 */
struct batch_data {
  uint8_t *data;
  struct log_upload_block *blocks;
  size_t n;
};

static void
batch_make (struct batch_data *bd, size_t n, uint64_t first, uint64_t stride,
            unsigned seed)
{
  bd->n = n;
  bd->data = malloc (n * BS);
  bd->blocks = calloc (n, sizeof *bd->blocks);
  CU_ASSERT_FATAL (bd->data != NULL && bd->blocks != NULL);
  for (size_t i = 0; i < n; i++) {
    bd->blocks[i].block = first + i * stride;
    bd->blocks[i].data = bd->data + i * BS;
    fill_block (bd->data + i * BS, bd->blocks[i].block, seed);
  }
}

static void
batch_free (struct batch_data *bd)
{
  free (bd->data);
  free (bd->blocks);
}

static void
key_of (char *key, const uint8_t id[LOG_SEG_ID_LEN])
{
  CU_ASSERT (log_segment_key (key, KEY_MAX, id) > 0);
}

/* Segment id as stored, or NULL (*len the length; free it). */
static uint8_t *
peek_segment (struct memstore *m, const uint8_t id[LOG_SEG_ID_LEN],
              size_t *len)
{
  char key[KEY_MAX];
  long n;
  uint8_t *buf;

  key_of (key, id);
  n = memstore_peek (m, key, NULL, 0);
  if (n < 0)
    return NULL;
  buf = malloc (n ? n : 1);
  CU_ASSERT_FATAL (buf != NULL);
  memstore_peek (m, key, buf, n);
  *len = n;
  return buf;
}

/* Segment s of an upload is stored, decodes, verifies, and holds its
 * blocks in order.
 */
static bool
segment_is_stored (struct memstore *m, const struct log_upload *u, size_t s,
                   const struct batch_data *bd)
{
  const struct log_uploaded_segment *seg = &u->segs[s];
  struct log_segment_index idx;
  const char *why;
  size_t len;
  uint8_t *obj = peek_segment (m, seg->id, &len);
  bool ok = obj != NULL && len == seg->len &&
    log_segment_index_decode (obj, len, seg->id, &idx, &why) == 0;

  if (!ok) {
    free (obj);
    return false;
  }
  ok = log_segment_verify (&idx, obj, len, &why) == 0 &&
    idx.hdr.count == seg->count;
  for (uint32_t r = 0; ok && r < idx.hdr.count; r++)
    ok = idx.records[r].block == bd->blocks[seg->first + r].block &&
      idx.records[r].offset == bd->blocks[seg->first + r].loc.offset;
  log_segment_index_free (&idx);
  free (obj);
  return ok;
}

/* Read back blocks [0, n) of bd by their locations in one call, in a
 * shuffled order; true if each is its contents.
 */
static bool
reads_back (struct log_segio *io, const struct batch_data *bd, size_t n,
            uint64_t seed)
{
  struct log_read *reads = calloc (n, sizeof *reads);
  uint8_t *bufs = malloc (n * BS), want[BS];
  size_t *order = malloc (n * sizeof *order);
  bool ok = true;

  if (n == 0) {
    free (reads);
    free (bufs);
    free (order);
    return true;
  }
  CU_ASSERT_FATAL (reads != NULL && bufs != NULL && order != NULL);
  for (size_t i = 0; i < n; i++)
    order[i] = i;
  for (size_t i = n; i > 1; i--) {
    size_t j = rnd (&seed) % i, t = order[i - 1];

    order[i - 1] = order[j];
    order[j] = t;
  }
  for (size_t i = 0; i < n; i++) {
    reads[i].loc = bd->blocks[order[i]].loc;
    reads[i].buf = bufs + i * BS;
  }
  ok = log_segio_read (io, reads, n) == 0;
  for (size_t i = 0; ok && i < n; i++) {
    fill_block (want, bd->blocks[order[i]].block, 0);
    ok = reads[i].err == 0 && memcmp (reads[i].buf, want, BS) == 0;
  }
  free (reads);
  free (bufs);
  free (order);
  return ok;
}

/* The capacity of a 1 MiB segment of 4 KiB blocks. */
#define CAP_1M ((MIB - LOG_SEG_HEADER - LOG_SEG_TRAILER) / (LOG_SEG_RECORD + BS))

static void
test_sequential (void)
{
  struct memstore *m = memstore_new ();
  struct log_segio io;
  struct batch_data bd;
  struct log_upload u;
  struct batches b;
  struct log_segio_stats st;
  const size_t n = 2100, nsegs = (n + CAP_1M - 1) / CAP_1M;
  size_t gets;

  io_init (&io, memstore_store (m), MIB, 16);
  batch_make (&bd, n, 1000, 1, 0);
  fake_now = 5000;
  batches_watch (&b, m);
  CU_ASSERT_EQUAL (log_segio_upload (&io, bd.blocks, n, false, &u), 0);
  batches_stop (&b);

  /* One store_run of nsegs PUTs, each timed before it started. */
  CU_ASSERT_EQUAL (CAP_1M, 252);
  CU_ASSERT_EQUAL (u.nr_segs, nsegs);
  CU_ASSERT_EQUAL (b.n, 1);
  CU_ASSERT_EQUAL (batch (&b, 0).puts, nsegs);
  CU_ASSERT_EQUAL (memstore_count (m, LOG_SEGS_PREFIX), nsegs);
  for (size_t s = 0; s < u.nr_segs; s++) {
    CU_ASSERT_EQUAL (u.segs[s].err, 0);
    CU_ASSERT_EQUAL (u.segs[s].put_ms, 5000);
    CU_ASSERT_PTR_NULL (u.segs[s].bytes);
    CU_ASSERT_EQUAL (u.segs[s].count,
                     s + 1 < nsegs ? CAP_1M : n - s * CAP_1M);
    CU_ASSERT (segment_is_stored (m, &u, s, &bd));
  }
  for (size_t i = 0; i < n; i++) {
    CU_ASSERT_EQUAL (bd.blocks[i].err, 0);
    CU_ASSERT_EQUAL (bd.blocks[i].seg, i / CAP_1M);
    CU_ASSERT_EQUAL (memcmp (bd.blocks[i].loc.seg, u.segs[i / CAP_1M].id,
                             LOG_SEG_ID_LEN), 0);
  }
  log_segio_get_stats (&io, &st);
  CU_ASSERT_EQUAL (st.segments_put, nsegs);
  CU_ASSERT_EQUAL (st.upload_rounds, 1);

  /* Read back in any order: one GET per segment (each under 4 MiB), in
   * one store_run (8 MiB in all, under 16 MiB).
   */
  batches_watch (&b, m);
  CU_ASSERT (reads_back (&io, &bd, n, 7));
  batches_stop (&b);
  CU_ASSERT_EQUAL (b.n, 1);
  CU_ASSERT_EQUAL (batch (&b, 0).range_gets, nsegs);
  CU_ASSERT_EQUAL (batch (&b, 0).range_bytes, (uint64_t) n * BS);
  CU_ASSERT_EQUAL (batch (&b, 0).gets, 0);
  log_segio_get_stats (&io, &st);
  CU_ASSERT_EQUAL (st.range_gets, nsegs);
  CU_ASSERT_EQUAL (st.blocks_read, n);
  CU_ASSERT_EQUAL (st.bytes_read, (uint64_t) n * BS);

  /* Runs capped at 64 KiB (16 blocks), rounds at 256 KiB: a GET per
   * 16 blocks of a segment, and no round above its bound.
   */
  io.max_read = 64 * 1024;
  io.max_read_round = 256 * 1024;
  batches_watch (&b, m);
  CU_ASSERT (reads_back (&io, &bd, n, 8));
  batches_stop (&b);
  gets = 0;
  for (size_t s = 0; s < nsegs; s++)
    gets += (u.segs[s].count + 15) / 16;
  CU_ASSERT_EQUAL (memstore_counts (m).range_gets, gets);
  CU_ASSERT (b.n >= (uint64_t) n * BS / (256 * 1024));
  for (size_t i = 0; i < b.n; i++) {
    CU_ASSERT (batch (&b, i).range_bytes <= 256 * 1024);
    CU_ASSERT (batch (&b, i).range_bytes > 0);
  }

  log_upload_free (&u);
  batch_free (&bd);
  store_close (memstore_store (m));
}

static void
test_single_reads (void)
{
  struct memstore *m = memstore_new ();
  struct log_segio io;
  struct batch_data bd;
  struct log_upload u;
  struct log_read reads[64], rd;
  uint8_t bufs[64][BS], want[BS];
  uint64_t seed = 99;
  const size_t n = 600;

  io_init (&io, memstore_store (m), MIB, 4);
  batch_make (&bd, n, 0, 1, 0);
  CU_ASSERT_EQUAL (log_segio_upload (&io, bd.blocks, n, false, &u), 0);

  /* One call a block: one GET of exactly its stored length. */
  for (int k = 0; k < 50; k++) {
    size_t i = rnd (&seed) % n;

    memstore_reset_counts (m);
    rd.loc = bd.blocks[i].loc;
    rd.buf = bufs[0];
    CU_ASSERT_EQUAL (log_segio_read (&io, &rd, 1), 0);
    CU_ASSERT_EQUAL (rd.err, 0);
    fill_block (want, i, 0);
    CU_ASSERT_EQUAL (memcmp (bufs[0], want, BS), 0);
    CU_ASSERT_EQUAL (memstore_counts (m).range_gets, 1);
    CU_ASSERT_EQUAL (memstore_counts (m).range_bytes, bd.blocks[i].loc.stored_len);
    CU_ASSERT_EQUAL (memstore_counts (m).gets, 0);
  }

  /* Every third block in one call: nothing to join, a GET each. */
  memstore_reset_counts (m);
  for (size_t k = 0; k < 64; k++) {
    reads[k].loc = bd.blocks[(63 - k) * 3].loc;
    reads[k].buf = bufs[k];
  }
  CU_ASSERT_EQUAL (log_segio_read (&io, reads, 64), 0);
  CU_ASSERT_EQUAL (memstore_counts (m).range_gets, 64);
  CU_ASSERT_EQUAL (memstore_counts (m).range_bytes, 64 * BS);
  for (size_t k = 0; k < 64; k++) {
    fill_block (want, (63 - k) * 3, 0);
    CU_ASSERT_EQUAL (reads[k].err, 0);
    CU_ASSERT_EQUAL (memcmp (bufs[k], want, BS), 0);
  }

  /* The same block three times and its neighbour: one GET of the two
   * blocks, and all four requests get their bytes.
   */
  for (int overlap = 0; overlap <= 1; overlap++) {
    size_t nr = overlap ? 5 : 4;

    memstore_reset_counts (m);
    standin_reset_errors ();
    memset (bufs, 0xee, 5 * BS);        /* nothing left from the last pass */
    for (size_t k = 0; k < 3; k++) {
      reads[k].loc = bd.blocks[10].loc;
      reads[k].buf = bufs[k];
    }
    reads[3].loc = bd.blocks[11].loc;
    reads[3].buf = bufs[3];
    /* And a location overlapping both (only a damaged map names one):
     * read apart, so the others' runs are cut around it, and it fails
     * alone.
     */
    reads[4].loc = bd.blocks[10].loc;
    reads[4].loc.offset += 512;
    reads[4].buf = bufs[4];
    CU_ASSERT_EQUAL (log_segio_read (&io, reads, nr), overlap);
    CU_ASSERT_EQUAL (memstore_counts (m).range_gets, overlap ? 3 : 1);
    CU_ASSERT_EQUAL (memstore_counts (m).range_bytes, (overlap ? 3 : 2) * BS);
    fill_block (want, 10, 0);
    for (size_t k = 0; k < 3; k++) {
      CU_ASSERT_EQUAL (reads[k].err, 0);
      CU_ASSERT_EQUAL (memcmp (bufs[k], want, BS), 0);
    }
    fill_block (want, 11, 0);
    CU_ASSERT_EQUAL (reads[3].err, 0);
    CU_ASSERT_EQUAL (memcmp (bufs[3], want, BS), 0);
    CU_ASSERT_EQUAL (standin_error_count, overlap);
    /* Its buffer holds the unchecked bytes the GET put there: a failed
     * request's buffer is not to be used (log-segio.h).
     */
    if (overlap)
      CU_ASSERT_EQUAL (reads[4].err, EIO);
  }

  /* One location named twice with two hashes (a damaged map): one GET,
   * and each is checked against its own hash, whichever comes first:
   * the true one reads, the other fails alone, never with the bytes of
   * the other's verdict.
   */
  for (int bad_first = 0; bad_first <= 1; bad_first++) {
    const size_t bad = bad_first ? 0 : 1, good = 1 - bad;

    memstore_reset_counts (m);
    standin_reset_errors ();
    memset (bufs, 0xee, 2 * BS);
    reads[good].loc = bd.blocks[20].loc;
    reads[bad].loc = bd.blocks[20].loc;
    reads[bad].loc.hash.b[5] ^= 1;
    reads[0].buf = bufs[0];
    reads[1].buf = bufs[1];
    CU_ASSERT_EQUAL (log_segio_read (&io, reads, 2), 1);
    CU_ASSERT_EQUAL (memstore_counts (m).range_gets, 1);
    CU_ASSERT_EQUAL (reads[good].err, 0);
    CU_ASSERT_EQUAL (reads[bad].err, EIO);
    fill_block (want, 20, 0);
    CU_ASSERT_EQUAL (memcmp (bufs[good], want, BS), 0);
    CU_ASSERT_EQUAL (standin_error_count, 1);
    CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "SHA-256"));
  }

  log_upload_free (&u);
  batch_free (&bd);
  store_close (memstore_store (m));
}

static void
test_failed_put (void)
{
  struct memstore *m = memstore_new ();
  struct log_segio io;
  struct batch_data bd;
  struct log_upload u;
  const size_t n = 3 * CAP_1M + 10;
  size_t failed;

  io_init (&io, memstore_store (m), MIB, 8);
  batch_make (&bd, n, 0, 2, 0);

  /* The first PUT of the batch fails: exactly segment 0's blocks. */
  memstore_fail (m, STORE_PUT, 1, ENOSPC);
  failed = log_segio_upload (&io, bd.blocks, n, true, &u);
  CU_ASSERT_EQUAL (failed, CAP_1M);
  CU_ASSERT_EQUAL (u.nr_segs, 4);
  CU_ASSERT_EQUAL (u.segs[0].err, ENOSPC);
  CU_ASSERT_PTR_NULL (u.segs[0].bytes);
  for (size_t s = 1; s < 4; s++) {
    size_t len;
    uint8_t *obj = peek_segment (m, u.segs[s].id, &len);

    CU_ASSERT_EQUAL (u.segs[s].err, 0);
    /* The kept copy is the object, trimmed to its length. */
    CU_ASSERT_PTR_NOT_NULL_FATAL (obj);
    CU_ASSERT_PTR_NOT_NULL_FATAL (u.segs[s].bytes);
    CU_ASSERT_EQUAL (len, u.segs[s].len);
    CU_ASSERT_EQUAL (memcmp (obj, u.segs[s].bytes, len), 0);
    free (obj);
  }
  CU_ASSERT_EQUAL (memstore_count (m, LOG_SEGS_PREFIX), 3);
  for (size_t i = 0; i < n; i++)
    CU_ASSERT_EQUAL (bd.blocks[i].err, i < CAP_1M ? ENOSPC : 0);
  log_upload_free (&u);

  /* The gate refuses: everything fails with its errno, no request, and
   * no message of ours (the gate's owner explains).
   */
  memstore_reset_counts (m);
  standin_reset_errors ();
  gate_errno = ESHUTDOWN;
  failed = log_segio_upload (&io, bd.blocks, n, true, &u);
  gate_errno = 0;
  CU_ASSERT_EQUAL (failed, n);
  for (size_t i = 0; i < n; i++)
    CU_ASSERT_EQUAL (bd.blocks[i].err, ESHUTDOWN);
  for (size_t s = 0; s < u.nr_segs; s++) {
    CU_ASSERT_EQUAL (u.segs[s].err, ESHUTDOWN);
    CU_ASSERT_PTR_NULL (u.segs[s].bytes);
  }
  CU_ASSERT_EQUAL (memstore_requests (m), 0);
  CU_ASSERT_EQUAL (standin_error_count, 0);
  CU_ASSERT_EQUAL (memstore_count (m, LOG_SEGS_PREFIX), 3);
  log_upload_free (&u);

  /* Out of block order: a bug, refused whole before any request. */
  bd.blocks[5].block = 1;
  failed = log_segio_upload (&io, bd.blocks, n, false, &u);
  CU_ASSERT_EQUAL (failed, n);
  CU_ASSERT_EQUAL (bd.blocks[0].err, EINVAL);
  CU_ASSERT_EQUAL (u.nr_segs, 0);
  CU_ASSERT_EQUAL (memstore_requests (m), 0);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "block order"));
  log_upload_free (&u);

  batch_free (&bd);
  store_close (memstore_store (m));
}

static void
test_create_only (void)
{
  struct memstore *m = memstore_new ();
  struct spy spy;
  struct log_segio io;
  struct batch_data bd;
  struct log_upload u;
  const size_t n = 2 * CAP_1M;
  char key[KEY_MAX];

  batch_make (&bd, n, 0, 1, 0);
  for (int caps = 1; caps >= 0; caps--) {
    memstore_set_caps (m, caps ? STORE_CAP_CONDITIONAL_PUT : 0);
    spy_init (&spy, memstore_store (m));
    io_init (&io, &spy.base, MIB, 4);
    CU_ASSERT_EQUAL (log_segio_upload (&io, bd.blocks, n, false, &u), 0);
    CU_ASSERT_EQUAL (spy.puts, 2);
    for (size_t i = 0; i < spy.puts; i++) {
      CU_ASSERT_EQUAL (spy.condition[i],
                       caps ? STORE_CREATE_ONLY : STORE_ALWAYS);
      CU_ASSERT_PTR_EQUAL (spy.gate[i], &gate);
    }
    log_upload_free (&u);
  }

  /* The key exists (a collision, or a replay): a failure, named. */
  memstore_set_caps (m, STORE_CAP_CONDITIONAL_PUT);
  io_init (&io, memstore_store (m), MIB, 4);
  memstore_fail (m, STORE_PUT, 1, EEXIST);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (log_segio_upload (&io, bd.blocks, n, false, &u), CAP_1M);
  CU_ASSERT_EQUAL (u.segs[0].err, EIO);
  CU_ASSERT_EQUAL (bd.blocks[0].err, EIO);
  CU_ASSERT_EQUAL (bd.blocks[CAP_1M].err, 0);
  key_of (key, u.segs[0].id);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, key));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "already exists"));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "export " EXPORT ":"));
  log_upload_free (&u);

  batch_free (&bd);
  store_close (memstore_store (m));
}

/* Replace segment id's object with f (obj, &len) applied to it. */
static void
tamper (struct memstore *m, const uint8_t id[LOG_SEG_ID_LEN],
        void (*f) (uint8_t *obj, size_t *len, size_t at), size_t at)
{
  char key[KEY_MAX];
  size_t len;
  uint8_t *obj = peek_segment (m, id, &len);

  CU_ASSERT_PTR_NOT_NULL_FATAL (obj);
  obj = realloc (obj, len + 1);
  CU_ASSERT_PTR_NOT_NULL_FATAL (obj);
  f (obj, &len, at);
  key_of (key, id);
  memstore_set (m, key, obj, len);
  free (obj);
}

static void
flip (uint8_t *obj, size_t *len, size_t at)
{
  obj[at] ^= 0x40;
}

static void
cut (uint8_t *obj, size_t *len, size_t at)
{
  *len = at;
}

static void
extend (uint8_t *obj, size_t *len, size_t at)
{
  obj[(*len)++] = 0;
}

static void
test_damage (void)
{
  struct memstore *m = memstore_new ();
  struct log_segio io;
  struct batch_data bd;
  struct log_upload u;
  struct log_read reads[40];
  uint8_t bufs[40][BS], want[BS];
  char key[KEY_MAX], where[64];
  const size_t n = 40;

  io_init (&io, memstore_store (m), MIB, 4);
  batch_make (&bd, n, 0, 1, 0);
  CU_ASSERT_EQUAL (log_segio_upload (&io, bd.blocks, n, false, &u), 0);
  CU_ASSERT_EQUAL_FATAL (u.nr_segs, 1);
  key_of (key, u.segs[0].id);

  /* A flipped byte in block 17: it fails, naming the segment and its
   * offset; the 39 others of the same GET are read.
   */
  tamper (m, u.segs[0].id, flip, bd.blocks[17].loc.offset + 100);
  for (size_t i = 0; i < n; i++) {
    reads[i].loc = bd.blocks[i].loc;
    reads[i].buf = bufs[i];
  }
  memstore_reset_counts (m);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (log_segio_read (&io, reads, n), 1);
  CU_ASSERT_EQUAL (memstore_counts (m).range_gets, 1);
  for (size_t i = 0; i < n; i++) {
    CU_ASSERT_EQUAL (reads[i].err, i == 17 ? EIO : 0);
    fill_block (want, i, 0);
    if (i != 17)
      CU_ASSERT_EQUAL (memcmp (bufs[i], want, BS), 0);
  }
  CU_ASSERT_EQUAL (standin_error_count, 1);
  snprintf (where, sizeof where, "offset %" PRIu32, bd.blocks[17].loc.offset);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, key));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, where));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "export " EXPORT ":"));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "SHA-256"));

  /* Truncated inside block 30: the blocks before it are read, it and
   * the ones after fail, said once.
   */
  tamper (m, u.segs[0].id, flip, bd.blocks[17].loc.offset + 100);
  tamper (m, u.segs[0].id, cut, bd.blocks[30].loc.offset + 10);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (log_segio_read (&io, reads, n), 10);
  for (size_t i = 0; i < n; i++)
    CU_ASSERT_EQUAL (reads[i].err, i >= 30 ? EIO : 0);
  CU_ASSERT_EQUAL (standin_error_count, 1);
  snprintf (where, sizeof where, "offset %" PRIu32, bd.blocks[30].loc.offset);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "ends before"));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, key));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, where));

  /* The block the segment ends in, asked for three times after a good
   * one: one GET, and each copy of it fails as it does.
   */
  reads[0].loc = bd.blocks[29].loc;
  for (size_t k = 1; k <= 3; k++)
    reads[k].loc = bd.blocks[30].loc;
  memstore_reset_counts (m);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (log_segio_read (&io, reads, 4), 3);
  CU_ASSERT_EQUAL (memstore_counts (m).range_gets, 1);
  CU_ASSERT_EQUAL (reads[0].err, 0);
  for (size_t k = 1; k <= 3; k++)
    CU_ASSERT_EQUAL (reads[k].err, EIO);
  CU_ASSERT_EQUAL (standin_error_count, 1);
  for (size_t i = 0; i < n; i++)
    reads[i].loc = bd.blocks[i].loc;

  /* Gone: ENOENT, no message, not a failure (the caller looks again). */
  CU_ASSERT_EQUAL (store_delete (memstore_store (m), key), 0);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (log_segio_read (&io, reads, n), 0);
  for (size_t i = 0; i < n; i++)
    CU_ASSERT_EQUAL (reads[i].err, ENOENT);
  CU_ASSERT_EQUAL (standin_error_count, 0);

  /* A location this version cannot read: no request. */
  memstore_reset_counts (m);
  reads[0].loc.stored_len = 0;
  CU_ASSERT_EQUAL (log_segio_read (&io, reads, 1), 1);
  CU_ASSERT_EQUAL (reads[0].err, EIO);
  CU_ASSERT_EQUAL (memstore_requests (m), 0);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, key));

  /* The store's own failure comes through as it set it. */
  reads[0].loc = bd.blocks[0].loc;
  memstore_fail (m, STORE_GET, 1, ETIMEDOUT);
  CU_ASSERT_EQUAL (log_segio_read (&io, reads, 1), 1);
  CU_ASSERT_EQUAL (reads[0].err, ETIMEDOUT);

  log_upload_free (&u);
  batch_free (&bd);
  store_close (memstore_store (m));
}

static void
test_index (void)
{
  struct memstore *m = memstore_new ();
  struct log_segio io, big;
  struct batch_data bd;
  struct log_upload u, ub;
  struct log_segment_index idx;
  struct log_segio_stats st;
  uint8_t absent[LOG_SEG_ID_LEN] = { 1 };
  char key[KEY_MAX];
  bool found;

  io_init (&io, memstore_store (m), MIB, 4);
  io_init (&big, memstore_store (m), 4 * MIB, 4);
  batch_make (&bd, 1000, 0, 1, 0);

  /* A full segment of this budget: one GET of the index's size. */
  CU_ASSERT_EQUAL (log_segio_upload (&io, bd.blocks, CAP_1M, false, &u), 0);
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL_FATAL (log_segio_read_index (&io, u.segs[0].id, &idx,
                                               &found), 0);
  CU_ASSERT (found);
  CU_ASSERT_EQUAL (memstore_counts (m).range_gets, 1);
  CU_ASSERT_EQUAL (memstore_counts (m).range_bytes,
                   LOG_SEG_DATA_START (CAP_1M));
  CU_ASSERT_EQUAL (idx.hdr.count, CAP_1M);
  CU_ASSERT_EQUAL (idx.records[7].block, 7);
  CU_ASSERT_EQUAL (idx.records[7].offset, bd.blocks[7].loc.offset);
  log_segment_index_free (&idx);
  log_segio_get_stats (&io, &st);
  CU_ASSERT_EQUAL (st.index_reads, 1);

  /* Written with a 4 MiB budget: 1000 records, more than the first GET
   * covers, so a second GET of exactly the index.
   */
  CU_ASSERT_EQUAL (log_segio_upload (&big, bd.blocks, 1000, false, &ub), 0);
  CU_ASSERT_EQUAL_FATAL (ub.nr_segs, 1);
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL_FATAL (log_segio_read_index (&io, ub.segs[0].id, &idx,
                                               &found), 0);
  CU_ASSERT (found);
  CU_ASSERT_EQUAL (memstore_counts (m).range_gets, 2);
  CU_ASSERT_EQUAL (memstore_counts (m).range_bytes,
                   LOG_SEG_DATA_START (CAP_1M) + LOG_SEG_DATA_START (1000));
  CU_ASSERT_EQUAL (idx.hdr.count, 1000);
  CU_ASSERT_EQUAL (idx.records[999].block, 999);
  log_segment_index_free (&idx);

  /* A damaged record: EIO naming the key. */
  tamper (m, u.segs[0].id, flip, LOG_SEG_HEADER + 3 * LOG_SEG_RECORD + 1);
  key_of (key, u.segs[0].id);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (log_segio_read_index (&io, u.segs[0].id, &idx, &found),
                   -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_PTR_NULL (idx.records);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, key));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "index"));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "export " EXPORT ":"));

  /* Another segment's bytes under this key: the id is checked. */
  {
    size_t len;
    uint8_t *other = peek_segment (m, ub.segs[0].id, &len);

    memstore_set (m, key, other, len);
    free (other);
  }
  CU_ASSERT_EQUAL (log_segio_read_index (&io, u.segs[0].id, &idx, &found),
                   -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, key));

  /* Missing: found false, no message. */
  standin_reset_errors ();
  CU_ASSERT_EQUAL (log_segio_read_index (&io, absent, &idx, &found), 0);
  CU_ASSERT (!found);
  CU_ASSERT_EQUAL (standin_error_count, 0);

  log_upload_free (&u);
  log_upload_free (&ub);
  batch_free (&bd);
  store_close (memstore_store (m));
}

static void
test_read_segment (void)
{
  struct memstore *m = memstore_new ();
  struct log_segio io;
  struct batch_data bd;
  struct log_upload u;
  uint8_t absent[LOG_SEG_ID_LEN] = { 2 };
  char key[KEY_MAX];
  void *bytes;
  size_t len, stored_len;
  uint8_t *stored;
  uint64_t put_ms;
  bool found;

  io_init (&io, memstore_store (m), MIB, 4);
  batch_make (&bd, CAP_1M + 3, 0, 1, 0);
  CU_ASSERT_EQUAL (log_segio_upload (&io, bd.blocks, bd.n, false, &u), 0);
  CU_ASSERT_EQUAL_FATAL (u.nr_segs, 2);
  key_of (key, u.segs[0].id);

  /* A full segment: the head, then the whole of it (and a byte more,
   * to see an extended object).
   */
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL_FATAL (log_segio_read_segment (&io, u.segs[0].id, &bytes,
                                                 &len, &found), 0);
  CU_ASSERT (found);
  CU_ASSERT_EQUAL (memstore_counts (m).range_gets, 2);
  stored = peek_segment (m, u.segs[0].id, &stored_len);
  CU_ASSERT_EQUAL (len, stored_len);
  CU_ASSERT_EQUAL (memcmp (bytes, stored, len), 0);
  free (stored);

  /* A small segment is all in the head: one GET. */
  memstore_reset_counts (m);
  {
    void *small;
    size_t small_len;

    CU_ASSERT_EQUAL (log_segio_read_segment (&io, u.segs[1].id, &small,
                                             &small_len, &found), 0);
    CU_ASSERT (found);
    CU_ASSERT_EQUAL (small_len, u.segs[1].len);
    CU_ASSERT_EQUAL (memstore_counts (m).range_gets, 1);
    free (small);
  }

  /* gc swept it: PUT back, the same bytes, unconditionally, gated. */
  CU_ASSERT_EQUAL (store_delete (memstore_store (m), key), 0);
  fake_now = 777;
  CU_ASSERT_EQUAL (log_segio_put_again (&io, u.segs[0].id, bytes, len,
                                        &put_ms), 0);
  CU_ASSERT_EQUAL (put_ms, 777);
  stored = peek_segment (m, u.segs[0].id, &stored_len);
  CU_ASSERT_PTR_NOT_NULL_FATAL (stored);
  CU_ASSERT_EQUAL (stored_len, len);
  CU_ASSERT_EQUAL (memcmp (bytes, stored, len), 0);
  free (stored);
  /* Over itself (a refresh of a segment still there): fine too. */
  CU_ASSERT_EQUAL (log_segio_put_again (&io, u.segs[0].id, bytes, len,
                                        &put_ms), 0);
  CU_ASSERT (reads_back (&io, &bd, bd.n, 3));

  /* The gate refuses: its errno, nothing written, no message of ours. */
  CU_ASSERT_EQUAL (store_delete (memstore_store (m), key), 0);
  gate_errno = ESHUTDOWN;
  standin_reset_errors ();
  CU_ASSERT_EQUAL (log_segio_put_again (&io, u.segs[0].id, bytes, len,
                                        &put_ms), -1);
  gate_errno = 0;
  CU_ASSERT_EQUAL (errno, ESHUTDOWN);
  CU_ASSERT_EQUAL (standin_error_count, 0);
  CU_ASSERT_EQUAL (memstore_peek (m, key, NULL, 0), -1);

  /* Bytes that are not this segment's: refused, nothing written. */
  memstore_reset_counts (m);
  CU_ASSERT_EQUAL (log_segio_put_again (&io, u.segs[1].id, bytes, len,
                                        &put_ms), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  CU_ASSERT_EQUAL (memstore_requests (m), 0);
  CU_ASSERT_EQUAL (log_segio_put_again (&io, u.segs[0].id, bytes, len - 1,
                                        &put_ms), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  CU_ASSERT_EQUAL (log_segio_put_again (&io, u.segs[0].id, bytes, len,
                                        &put_ms), 0);

  free (bytes);

  /* Damaged, extended, truncated, gone. */
  tamper (m, u.segs[0].id, flip, len - 5);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (log_segio_read_segment (&io, u.segs[0].id, &bytes, &len,
                                           &found), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_PTR_NULL (bytes);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, key));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "does not verify"));
  tamper (m, u.segs[0].id, flip, u.segs[0].len - 5);
  tamper (m, u.segs[0].id, extend, 0);
  CU_ASSERT_EQUAL (log_segio_read_segment (&io, u.segs[0].id, &bytes, &len,
                                           &found), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "length"));
  tamper (m, u.segs[0].id, cut, u.segs[0].len - 1);
  CU_ASSERT_EQUAL (log_segio_read_segment (&io, u.segs[0].id, &bytes, &len,
                                           &found), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (log_segio_read_segment (&io, absent, &bytes, &len,
                                           &found), 0);
  CU_ASSERT (!found);
  CU_ASSERT_EQUAL (standin_error_count, 0);

  log_upload_free (&u);
  batch_free (&bd);
  store_close (memstore_store (m));
}

static void
test_rounds (void)
{
  struct memstore *m = memstore_new ();
  struct log_segio io;
  struct batch_data bd;
  struct log_upload u;
  struct batches b;
  struct log_segio_stats st;
  const size_t budget = 64 * 1024;
  const size_t cap = (budget - LOG_SEG_HEADER - LOG_SEG_TRAILER) /
    (LOG_SEG_RECORD + BS);
  const size_t n = 2048, nsegs = (n + cap - 1) / cap;
  const size_t rounds = (nsegs + 3) / 4;

  batch_make (&bd, n, 0, 1, 0);
  for (int keep = 0; keep <= 1; keep++) {
    io_init (&io, memstore_store (m), budget, 4);
    fake_now = 100;
    batches_watch (&b, m);
    CU_ASSERT_EQUAL (log_segio_upload (&io, bd.blocks, n, keep, &u), 0);
    batches_stop (&b);
    CU_ASSERT_EQUAL (u.nr_segs, nsegs);
    CU_ASSERT_EQUAL (b.n, rounds);
    /* Each round: at most 4 PUTs, timed before that round started. */
    for (size_t r = 0; r < b.n; r++)
      CU_ASSERT_EQUAL (batch (&b, r).puts, r + 1 < rounds ? 4 : nsegs - 4 * r);
    for (size_t s = 0; s < nsegs; s++) {
      CU_ASSERT_EQUAL (u.segs[s].put_ms, 100 + 1000 * (s / 4));
      CU_ASSERT_EQUAL (u.segs[s].bytes != NULL, keep);
      CU_ASSERT (segment_is_stored (m, &u, s, &bd));
    }
    log_segio_get_stats (&io, &st);
    CU_ASSERT_EQUAL (st.upload_rounds, rounds);
    CU_ASSERT_EQUAL (st.builders_peak, 4);
    CU_ASSERT_EQUAL (st.segments_put, nsegs);
    CU_ASSERT (reads_back (&io, &bd, n, 5));
    log_upload_free (&u);
  }
  batch_free (&bd);
  store_close (memstore_store (m));
}

/* Every key under log/segs/, counted, and each a segment of u. */
struct listed {
  const struct log_upload *u;
  size_t n, strays;
};

static int
list_segment (void *opaque, const struct store_entry *e)
{
  struct listed *l = opaque;
  uint8_t id[LOG_SEG_ID_LEN];
  bool ours = false;

  l->n++;
  if (log_segment_key_parse (e->key, id))
    for (size_t s = 0; s < l->u->nr_segs && !ours; s++)
      ours = memcmp (l->u->segs[s].id, id, LOG_SEG_ID_LEN) == 0;
  if (!ours)
    l->strays++;
  return 0;
}

static void
test_crash (void)
{
  struct batch_data bd;
  const size_t budget = 64 * 1024;
  const size_t n = 100;         /* 15 a segment: 7 segments, 3 rounds */

  batch_make (&bd, n, 50, 3, 0);
  for (int64_t k = 0; k <= 8; k++) {
    struct memstore *m = memstore_new ();
    struct log_segio io;
    struct log_upload u;
    struct listed l = { .u = &u };
    size_t stored = 0, failed;

    io_init (&io, memstore_store (m), budget, 3);
    memstore_crash_after (m, k);
    failed = log_segio_upload (&io, bd.blocks, n, true, &u);
    memstore_crash_after (m, -1);

    CU_ASSERT_EQUAL (u.nr_segs, 7);
    /* Each segment is stored whole and verifies, or is absent, as its
     * result says; each block has a location or its segment's errno.
     */
    for (size_t s = 0; s < u.nr_segs; s++) {
      if (u.segs[s].err == 0) {
        CU_ASSERT (segment_is_stored (m, &u, s, &bd));
        stored++;
      }
      else {
        size_t len;
        uint8_t *obj = peek_segment (m, u.segs[s].id, &len);

        CU_ASSERT_PTR_NULL (obj);
        free (obj);
      }
      for (size_t i = u.segs[s].first;
           i < u.segs[s].first + u.segs[s].count; i++)
        CU_ASSERT_EQUAL (bd.blocks[i].err, u.segs[s].err);
    }
    CU_ASSERT_EQUAL (stored, k < 7 ? k : 7);
    CU_ASSERT_EQUAL (failed, n - (stored == 7 ? n : stored * 15));
    CU_ASSERT_EQUAL (store_list (memstore_store (m), LOG_SEGS_PREFIX, NULL,
                                 NULL, list_segment, &l), 0);
    CU_ASSERT_EQUAL (l.n, stored);
    CU_ASSERT_EQUAL (l.strays, 0);
    /* The stored ones read back. */
    CU_ASSERT (reads_back (&io, &bd, stored == 7 ? n : stored * 15, k));
    log_upload_free (&u);
    store_close (memstore_store (m));
  }
  batch_free (&bd);
}

static void
test_init (void)
{
  struct memstore *m = memstore_new ();
  struct log_segio io = {
    .store = memstore_store (m), .export_name = EXPORT, .block_size = BS,
  };

  CU_ASSERT_EQUAL (log_segio_init (&io), 0);
  CU_ASSERT_EQUAL (io.segment_size, LOG_SEGIO_SEGMENT_SIZE_DEFAULT);
  CU_ASSERT_EQUAL (io.max_in_flight, LOG_SEGIO_IN_FLIGHT_DEFAULT);
  CU_ASSERT_EQUAL (io.max_read, LOG_SEGIO_MAX_READ_DEFAULT);
  CU_ASSERT_EQUAL (io.max_read_round, LOG_SEGIO_READ_ROUND_DEFAULT);
  CU_ASSERT_PTR_NOT_NULL (io.clock_ms);

  io.segment_size = BS;         /* no room for the header */
  CU_ASSERT_EQUAL (log_segio_init (&io), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  io.segment_size = MAX_SEGMENT_SIZE + 1;
  CU_ASSERT_EQUAL (log_segio_init (&io), -1);
  io.segment_size = MIB;
  io.max_read = BS - 1;
  CU_ASSERT_EQUAL (log_segio_init (&io), -1);
  io.max_read = 0;
  io.block_size = 1000;
  CU_ASSERT_EQUAL (log_segio_init (&io), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "export " EXPORT ":"));
  store_close (memstore_store (m));
}

UNIT_SUITES (add_log_segio_tests)
{
  CU_pSuite s = CU_add_suite ("log segio", NULL, NULL);

  CU_add_test (s, "settings", test_init);
  CU_add_test (s, "a sequential batch: one PUT batch, one GET a segment",
               test_sequential);
  CU_add_test (s, "single-block reads: one GET of the block each",
               test_single_reads);
  CU_add_test (s, "a failed PUT, a refusing gate", test_failed_put);
  CU_add_test (s, "create-only where the store can", test_create_only);
  CU_add_test (s, "damaged, truncated, missing segments", test_damage);
  CU_add_test (s, "index reads", test_index);
  CU_add_test (s, "read back, verify, PUT again", test_read_segment);
  CU_add_test (s, "memory bound: rounds of max_in_flight", test_rounds);
  CU_add_test (s, "crash after every request of an upload", test_crash);
}
