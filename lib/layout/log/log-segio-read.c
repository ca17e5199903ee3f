/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: reading blocks by location (log-segio.h; docs/log-layout.md,
 * "Reading").
 *
 *   sort     a copy of the requests' extents by (segment, offset)
 *   runs     extents that follow each other in one segment (the next
 *            starts where the previous ends) make one run, up to
 *            max_read bytes; an extent equal to the previous one (two
 *            requests for one block) joins it and adds no byte; an
 *            extent that overlaps the previous one without being it
 *            (only a damaged map names such) starts a run of its own,
 *            so each is read and checked apart
 *   rounds   runs go to the store max_read_round bytes (and
 *            READ_ROUND_RUNS GETs) at a time, one ranged GET a run, all
 *            of a round in one store_run, into one buffer reused by
 *            every round
 *   split    each request's bytes are its extent of its run's buffer,
 *            checked against its location's hash before they are
 *            copied out: one damaged block fails alone, never its
 *            neighbours, and never with wrong data
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "layout/log/log-segio.h"
#include "log-segio-impl.h"

/* The most GETs in one store_run: a store_op is about half a KiB, and
 * a store has at most STORE_MAX_INFLIGHT requests in flight anyway.
 */
#define READ_ROUND_RUNS 1024

/* One request's extent. */
struct extent {
  uint8_t seg[LOG_SEG_ID_LEN];
  uint32_t offset, len;
  size_t req;                   /* its index in the caller's reads */
};

/* One ranged GET: extents [first, first + count) of the sorted array. */
struct run {
  size_t first, count;
  uint32_t offset;
  size_t len;
};

static int
compare_extents (const void *pa, const void *pb)
{
  const struct extent *a = pa, *b = pb;
  int c = memcmp (a->seg, b->seg, LOG_SEG_ID_LEN);

  if (c)
    return c;
  if (a->offset != b->offset)
    return a->offset < b->offset ? -1 : 1;
  return a->req < b->req ? -1 : a->req > b->req;
}

/* What this version cannot read at loc (NULL: nothing).  A leaf's
 * decoder has checked the format; these are the limits of this reader
 * (raw blocks of this export's size), which also keep a range from
 * being empty or out of any segment.
 */
static const char *
unreadable (const struct log_segio *io, const struct log_location *loc)
{
  if (loc->codec != LOG_CODEC_RAW)
    return "it names a codec this version does not know";
  if (loc->stored_len != io->block_size)
    return "its stored length is not the block size";
  if (loc->offset < LOG_SEG_DATA_START (1) ||
      (uint64_t) loc->offset + loc->stored_len > MAX_SEGMENT_SIZE)
    return "it lies outside any segment's data";
  return NULL;
}

/* The sorted extents into runs; returns how many. */
static size_t
make_runs (const struct log_segio *io, const struct extent *ext, size_t n,
           struct run *runs)
{
  size_t nr = 0;

  for (size_t i = 0; i < n; i++) {
    struct run *r = nr ? &runs[nr - 1] : NULL;
    const struct extent *prev = i ? &ext[i - 1] : NULL;
    const bool same_seg = r &&
      memcmp (prev->seg, ext[i].seg, LOG_SEG_ID_LEN) == 0;

    if (same_seg && ext[i].offset == prev->offset &&
        ext[i].len == prev->len) {
      r->count++;               /* the same block again */
      continue;
    }
    if (same_seg && ext[i].offset == r->offset + r->len &&
        r->len + ext[i].len <= io->max_read) {
      r->count++;
      r->len += ext[i].len;
      continue;
    }
    runs[nr].first = i;
    runs[nr].count = 1;
    runs[nr].offset = ext[i].offset;
    runs[nr].len = ext[i].len;
    nr++;
  }
  return nr;
}

/* Split run r's bytes (op's answer, at bytes) among its requests. */
static void
finish_run (struct log_segio *io, const struct run *r,
            const struct store_op *op, const uint8_t *bytes,
            const struct extent *ext, struct log_read *reads)
{
  bool told_short = false;
  uint64_t good = 0;

  for (size_t i = r->first; i < r->first + r->count; i++) {
    struct log_read *rd = &reads[ext[i].req];
    const size_t pos = ext[i].offset - r->offset;
    const char *why;

    if (op->err) {
      /* ENOENT is an answer: the caller looks the block up again. */
      rd->err = op->err;
      continue;
    }
    if (pos + ext[i].len > op->got) {
      /* Once a run: the blocks after this one are short too. */
      if (!told_short)
        nbdkit_error ("export %s: segment %s ends before the block at "
                      "offset %" PRIu32 " (%" PRIu32 " bytes) does: it is "
                      "truncated (%zu of %zu bytes read from offset %"
                      PRIu32 "); refusing to read the blocks past its end",
                      io->export_name, op->key, ext[i].offset, ext[i].len,
                      op->got, r->len, r->offset);
      told_short = true;
      rd->err = EIO;
      continue;
    }
    if (log_location_check_block (&rd->loc, io->block_size, bytes + pos,
                                  ext[i].len, &why) == -1) {
      nbdkit_error ("export %s: segment %s, block at offset %" PRIu32
                    " (%" PRIu32 " bytes): %s; refusing to read it",
                    io->export_name, op->key, ext[i].offset, ext[i].len,
                    why);
      rd->err = EIO;
      continue;
    }
    memcpy (rd->buf, bytes + pos, ext[i].len);
    good++;
  }
  /* Once a run: the counter is shared by every reading thread. */
  if (good)
    segio_count (&io->stats.blocks_read, good);
}

/* Read runs[0..nr) in rounds.  0, or -1 after a message (ENOMEM): the
 * requests of the runs not read are then the caller's to fail.
 */
static int
read_runs (struct log_segio *io, const struct run *runs, size_t nr,
           const struct extent *ext, struct log_read *reads,
           size_t *runs_done)
{
  size_t total = 0, round_cap;
  uint8_t *buf;
  struct store_op *ops;

  for (size_t i = 0; i < nr; i++)
    total += runs[i].len;
  round_cap = total < io->max_read_round ? total : io->max_read_round;
  buf = malloc (round_cap);
  ops = calloc (nr < READ_ROUND_RUNS ? nr : READ_ROUND_RUNS, sizeof *ops);
  if (buf == NULL || ops == NULL) {
    nbdkit_error ("export %s: out of memory reading blocks",
                  io->export_name);
    free (buf);
    free (ops);
    errno = ENOMEM;
    return -1;
  }

  *runs_done = 0;
  while (*runs_done < nr) {
    const struct run *round = &runs[*runs_done];
    size_t k = 0, used = 0;

    /* Every run fits alone: max_read <= max_read_round. */
    while (*runs_done + k < nr && k < READ_ROUND_RUNS &&
           used + round[k].len <= round_cap) {
      struct store_op *op = &ops[k];

      memset (op, 0, sizeof *op);
      op->kind = STORE_GET;
      segio_key (op->key, ext[round[k].first].seg);
      op->buf = buf + used;
      op->len = round[k].len;
      op->range_offset = round[k].offset;
      op->range_len = round[k].len;
      used += round[k].len;
      k++;
    }
    store_run (io->store, ops, k);
    segio_count (&io->stats.range_gets, k);
    for (size_t j = 0; j < k; j++) {
      if (ops[j].err == 0)
        segio_count (&io->stats.bytes_read, ops[j].got);
      finish_run (io, &round[j], &ops[j], ops[j].buf, ext, reads);
    }
    *runs_done += k;
  }
  free (buf);
  free (ops);
  return 0;
}

size_t
log_segio_read (struct log_segio *io, struct log_read *reads, size_t n)
{
  struct extent *ext = malloc (n * sizeof *ext);
  struct run *runs = malloc (n * sizeof *runs);
  size_t nr_ext = 0, nr_runs, done = 0, failures = 0;

  for (size_t i = 0; i < n; i++)
    reads[i].err = 0;
  if (n == 0)
    goto out;
  if (ext == NULL || runs == NULL) {
    nbdkit_error ("export %s: out of memory reading blocks",
                  io->export_name);
    for (size_t i = 0; i < n; i++)
      reads[i].err = ENOMEM;
    goto out;
  }

  for (size_t i = 0; i < n; i++) {
    const struct log_location *loc = &reads[i].loc;
    const char *why = unreadable (io, loc);

    if (why) {
      char key[KEY_MAX];

      segio_key (key, loc->seg);
      nbdkit_error ("export %s: segment %s, block at offset %" PRIu32
                    " (%" PRIu32 " bytes): %s (a damaged map, or a later "
                    "version's?); refusing to read it", io->export_name,
                    key, loc->offset, loc->stored_len, why);
      reads[i].err = EIO;
      continue;
    }
    memcpy (ext[nr_ext].seg, loc->seg, LOG_SEG_ID_LEN);
    ext[nr_ext].offset = loc->offset;
    ext[nr_ext].len = loc->stored_len;
    ext[nr_ext].req = i;
    nr_ext++;
  }
  qsort (ext, nr_ext, sizeof *ext, compare_extents);
  nr_runs = make_runs (io, ext, nr_ext, runs);
  if (nr_runs && read_runs (io, runs, nr_runs, ext, reads, &done) == -1)
    for (size_t r = done; r < nr_runs; r++)
      for (size_t i = runs[r].first; i < runs[r].first + runs[r].count; i++)
        reads[ext[i].req].err = ENOMEM;

 out:
  for (size_t i = 0; i < n; i++)
    if (reads[i].err && reads[i].err != ENOENT)
      failures++;
  free (ext);
  free (runs);
  return failures;
}
