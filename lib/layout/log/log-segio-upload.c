/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: sealing a batch of blocks into segments and uploading them
 * (log-segio.h; docs/log-layout.md, "Writing", steps 1 and 2).
 *
 * A batch goes in rounds of at most max_in_flight segments:
 *
 *   build    each of the round's builders takes a fresh id and the
 *            next blocks of the batch, in order, until it is full or
 *            the batch ends, and is finished (its index written)
 *   PUT      the clock is read, then one store_run PUTs the round's
 *            segments in parallel
 *   results  a stored segment gives its blocks their locations; a
 *            failed one gives them its errno.  With keep, a stored
 *            segment's buffer goes to the caller as it is (no copy)
 *            and its builder takes a new one next round; without,
 *            the builder keeps its buffer for the next round
 *
 * So at most max_in_flight builders, each of segment_size bytes, are
 * alive at once however long the batch.  A segment is one PUT of one
 * object: the store writes it whole or not at all, so a crash at any
 * moment leaves each segment of the batch either stored complete or
 * absent (never half of one), and a block has a location only if its
 * segment's PUT succeeded.
 */

#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "layout/log/log-segio.h"
#include "log-segio-impl.h"

/* One upload's working state. */
struct upload {
  struct log_segio *io;
  struct log_upload_block *blocks;
  size_t n;
  size_t next;                  /* the first block not yet in a segment */
  bool keep;
  struct log_upload *out;
  struct log_segment_builder *builders;   /* max_in_flight */
  struct store_op *ops;                   /* max_in_flight */
};

static bool
in_block_order (const struct log_upload_block *blocks, size_t n)
{
  for (size_t i = 1; i < n; i++)
    if (blocks[i - 1].block > blocks[i].block)
      return false;
  return true;
}

static size_t
builders_alive (const struct upload *u)
{
  size_t alive = 0;

  for (unsigned j = 0; j < u->io->max_in_flight; j++)
    if (u->builders[j].buf)
      alive++;
  return alive;
}

/* Builder j takes segment s, a fresh id and the next blocks.  0, or -1
 * after a message (errno set).
 */
static int
build_segment (struct upload *u, unsigned j, size_t s)
{
  struct log_segio *io = u->io;
  struct log_segment_builder *b = &u->builders[j];
  struct log_uploaded_segment *seg = &u->out->segs[s];
  struct store_op *op = &u->ops[j];
  uint8_t id[LOG_SEG_ID_LEN];
  const void *obj;

  if (log_segment_new_id (id) == -1)
    return -1;
  if (b->buf == NULL) {
    if (log_segment_builder_init (b, id, io->block_size,
                                  io->segment_size) == -1)
      return -1;
    segio_count_peak (&io->stats.builders_peak, builders_alive (u));
  }
  else
    log_segment_builder_reset (b, id);

  memcpy (seg->id, id, LOG_SEG_ID_LEN);
  seg->first = u->next;
  while (u->next < u->n && log_segment_builder_has_room (b)) {
    struct log_upload_block *blk = &u->blocks[u->next];
    uint32_t record;

    /* Cannot fail: there is room and the builder is not finished. */
    log_segment_builder_append_hashed (b, blk->block, blk->data, blk->hash,
                                       &record);
    blk->seg = s;
    u->next++;
  }
  seg->count = u->next - seg->first;
  log_segment_builder_finish (b, &obj, &seg->len);

  memset (op, 0, sizeof *op);
  op->kind = STORE_PUT;
  segio_key (op->key, id);
  op->buf = (void *) obj;
  op->len = seg->len;
  op->gate = io->gate;
  if (store_can (io->store, STORE_CAP_CONDITIONAL_PUT))
    op->condition = STORE_CREATE_ONLY;
  return 0;
}

/* The outcome of builder j's PUT, for segment s and its blocks. */
static void
record_segment (struct upload *u, unsigned j, size_t s, uint64_t put_ms)
{
  struct log_segio *io = u->io;
  struct log_segment_builder *b = &u->builders[j];
  struct log_uploaded_segment *seg = &u->out->segs[s];
  const struct store_op *op = &u->ops[j];

  seg->put_ms = put_ms;
  seg->err = op->err;
  if (op->err == EEXIST) {
    /* An answer to the store, a failure here: nothing was written. */
    nbdkit_error ("export %s: segment %s already exists: a fresh random "
                  "id met a stored segment, or the PUT was replayed; it "
                  "is not overwritten, and its blocks are not stored",
                  io->export_name, op->key);
    seg->err = EIO;
  }
  for (size_t i = 0; i < seg->count; i++) {
    struct log_upload_block *blk = &u->blocks[seg->first + i];

    blk->err = seg->err;
    if (seg->err == 0)
      log_segment_builder_location (b, (uint32_t) i, &blk->loc);
  }
  if (seg->err)
    return;
  segio_count (&io->stats.segments_put, 1);
  segio_count (&io->stats.segment_bytes_put, seg->len);
  if (u->keep) {
    /* The object starts the builder's buffer (log-format.h): hand the
     * buffer over, trimmed to the object so a short last segment does
     * not hold a whole budget.  The builder gets a new one if it is
     * used again.
     */
    void *trimmed = realloc (b->buf, seg->len);

    seg->bytes = trimmed ? trimmed : b->buf;
    b->buf = NULL;
    log_segment_builder_free (b);
  }
}

/* One round: build up to max_in_flight segments from the next blocks,
 * PUT them in one store_run, record the outcomes.  0, or -1 if a
 * segment could not be built (logged, errno set): the ones built before
 * it are still PUT and recorded.
 */
static int
upload_round (struct upload *u)
{
  struct log_segio *io = u->io;
  size_t first_seg = u->out->nr_segs;
  unsigned built = 0;
  int r = 0, saved_errno = 0;
  uint64_t put_ms;

  while (built < io->max_in_flight && u->next < u->n) {
    if (build_segment (u, built, first_seg + built) == -1) {
      saved_errno = errno;
      r = -1;
      break;
    }
    built++;
    u->out->nr_segs++;
  }
  if (built == 0) {
    errno = saved_errno;
    return r;
  }

  /* Before the requests start: T0 <= Last-Modified (docs/gc-safety.md,
   * step 4).
   */
  put_ms = io->clock_ms ();
  store_run (io->store, u->ops, built);
  segio_count (&io->stats.upload_rounds, 1);
  for (unsigned j = 0; j < built; j++)
    record_segment (u, j, first_seg + j, put_ms);
  errno = saved_errno;
  return r;
}

size_t
log_segio_upload (struct log_segio *io, struct log_upload_block *blocks,
                  size_t n, bool keep, struct log_upload *out)
{
  const uint32_t capacity = log_segment_capacity (io->block_size,
                                                  io->segment_size);
  struct upload u = {
    .io = io, .blocks = blocks, .n = n, .keep = keep, .out = out,
  };
  size_t failures = 0;
  int err = 0;

  memset (out, 0, sizeof *out);
  for (size_t i = 0; i < n; i++) {
    blocks[i].err = 0;
    blocks[i].seg = SIZE_MAX;
    memset (&blocks[i].loc, 0, sizeof blocks[i].loc);
  }
  if (n == 0)
    return 0;

  if (!in_block_order (blocks, n)) {
    nbdkit_error ("export %s: blocks handed to a segment upload are not "
                  "in block order (a bug); nothing was uploaded",
                  io->export_name);
    err = EINVAL;
  }
  else {
    /* Builders fill to capacity, so the count is known now. */
    out->segs = calloc ((n + capacity - 1) / capacity, sizeof *out->segs);
    u.builders = calloc (io->max_in_flight, sizeof *u.builders);
    u.ops = calloc (io->max_in_flight, sizeof *u.ops);
    if (out->segs == NULL || u.builders == NULL || u.ops == NULL) {
      nbdkit_error ("export %s: out of memory uploading segments",
                    io->export_name);
      err = ENOMEM;
    }
    while (err == 0 && u.next < n)
      if (upload_round (&u) == -1)
        err = errno;
  }

  /* Blocks no segment was built for (err != 0 then): the reason is
   * logged.
   */
  for (size_t i = u.next; i < n; i++)
    blocks[i].err = err;
  for (size_t i = 0; i < n; i++)
    if (blocks[i].err)
      failures++;

  if (u.builders)
    for (unsigned j = 0; j < io->max_in_flight; j++)
      log_segment_builder_free (&u.builders[j]);
  free (u.builders);
  free (u.ops);
  return failures;
}

void
log_upload_free (struct log_upload *u)
{
  for (size_t s = 0; s < u->nr_segs; s++)
    free (u->segs[s].bytes);
  free (u->segs);
  u->segs = NULL;
  u->nr_segs = 0;
}
