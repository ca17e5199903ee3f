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
 *            of a round in one store_run
 *   scatter  each GET puts its bytes straight into its requests'
 *            buffers (the store's scatter GET): no buffer of its own,
 *            and no copy
 *   check    each request's block is checked against its location's
 *            hash where it landed: one damaged block fails alone, never
 *            its neighbours, and a failed request's buffer holds
 *            nothing to use (log-segio.h), so no wrong data is ever
 *            read
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

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

/* One ranged GET: extents [first, first + count) of the sorted array,
 * whose bytes go to iovs [iov_first, iov_first + iovcnt): one buffer
 * per extent, but one only for a run of equal extents.
 */
struct run {
  size_t first, count;
  uint32_t offset;
  size_t len;
  size_t iov_first;
  unsigned iovcnt;
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

/* Two extents of one segment naming the same bytes. */
static bool
same_extent (const struct extent *a, const struct extent *b)
{
  return a->offset == b->offset && a->len == b->len;
}

/* Two locations of one extent that claim the same content. */
static bool
same_claim (const struct log_location *a, const struct log_location *b)
{
  return a->codec == b->codec && cas_hash_equal (&a->hash, &b->hash);
}

/* The sorted extents into runs, and each run's scatter list into iovs
 * (at most one per extent); returns how many runs.
 */
static size_t
make_runs (const struct log_segio *io, const struct extent *ext, size_t n,
           const struct log_read *reads, struct run *runs,
           struct iovec *iovs)
{
  size_t nr = 0, nr_iovs = 0;

  for (size_t i = 0; i < n; i++) {
    struct run *r = nr ? &runs[nr - 1] : NULL;
    const struct extent *prev = i ? &ext[i - 1] : NULL;
    const bool same_seg = r &&
      memcmp (prev->seg, ext[i].seg, LOG_SEG_ID_LEN) == 0;

    if (same_seg && same_extent (prev, &ext[i])) {
      r->count++;               /* the same block again: no byte more */
      continue;
    }
    if (same_seg && ext[i].offset == r->offset + r->len &&
        r->len + ext[i].len <= io->max_read)
      r->count++;
    else {
      r = &runs[nr++];
      r->first = i;
      r->count = 1;
      r->offset = ext[i].offset;
      r->len = 0;
      r->iov_first = nr_iovs;
      r->iovcnt = 0;
    }
    r->len += ext[i].len;
    iovs[nr_iovs].iov_base = reads[ext[i].req].buf;
    iovs[nr_iovs].iov_len = ext[i].len;
    nr_iovs++;
    r->iovcnt++;
  }
  return nr;
}

/* Judge run r's requests by op's answer: its bytes went straight to
 * their buffers (a scatter GET), where each block is checked against
 * its own location's hash.  A request for the same extent as the one
 * before it (its lead) gets a copy of the lead's bytes, and the lead's
 * verdict if it claims the same content; a request claiming other
 * content for the same bytes (only a damaged map names such) is
 * checked on its own, so that it fails alone, or is the one that
 * reads.
 */
static void
finish_run (struct log_segio *io, const struct run *r,
            const struct store_op *op, const struct extent *ext,
            struct log_read *reads)
{
  bool told_short = false, lead_short = false;
  uint64_t good = 0;
  const struct log_read *lead = NULL;   /* the last extent's own read */

  for (size_t i = r->first; i < r->first + r->count; i++) {
    struct log_read *rd = &reads[ext[i].req];
    const size_t pos = ext[i].offset - r->offset;
    const char *why;

    if (op->err) {
      /* ENOENT is an answer: the caller looks the block up again. */
      rd->err = op->err;
      continue;
    }
    if (lead && same_extent (&ext[i - 1], &ext[i])) {
      if (rd->buf != lead->buf)
        memcpy (rd->buf, lead->buf, ext[i].len);
      if (same_claim (&rd->loc, &lead->loc)) {
        rd->err = lead->err;
        if (rd->err == 0)
          good++;
        continue;
      }
    }
    else {
      lead = rd;
      lead_short = pos + ext[i].len > op->got;
    }
    if (lead_short) {
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
    if (log_location_check_block (&rd->loc, io->block_size, rd->buf,
                                  ext[i].len, &why) == -1) {
      nbdkit_error ("export %s: segment %s, block at offset %" PRIu32
                    " (%" PRIu32 " bytes): %s; refusing to read it",
                    io->export_name, op->key, ext[i].offset, ext[i].len,
                    why);
      rd->err = EIO;
      continue;
    }
    good++;
  }
  /* Once a run: the counter is shared by every reading thread. */
  if (good)
    segio_count (&io->stats.blocks_read, good);
}

/* Read runs[0..nr) in rounds of at most max_read_round bytes and
 * READ_ROUND_RUNS GETs.  0, or -1 after a message (ENOMEM): the
 * requests of the runs not read are then the caller's to fail.
 */
static int
read_runs (struct log_segio *io, const struct run *runs, size_t nr,
           const struct extent *ext, const struct iovec *iovs,
           struct log_read *reads, size_t *runs_done)
{
  struct store_op *ops;

  ops = calloc (nr < READ_ROUND_RUNS ? nr : READ_ROUND_RUNS, sizeof *ops);
  if (ops == NULL) {
    nbdkit_error ("export %s: out of memory reading blocks",
                  io->export_name);
    errno = ENOMEM;
    return -1;
  }

  *runs_done = 0;
  while (*runs_done < nr) {
    const struct run *round = &runs[*runs_done];
    size_t k = 0, used = 0;

    /* Every run fits alone: max_read <= max_read_round. */
    while (*runs_done + k < nr && k < READ_ROUND_RUNS &&
           (k == 0 || used + round[k].len <= io->max_read_round)) {
      struct store_op *op = &ops[k];

      memset (op, 0, sizeof *op);
      op->kind = STORE_GET;
      segio_key (op->key, ext[round[k].first].seg);
      op->iov = &iovs[round[k].iov_first];
      op->iovcnt = round[k].iovcnt;
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
      finish_run (io, &round[j], &ops[j], ext, reads);
    }
    *runs_done += k;
  }
  free (ops);
  return 0;
}

size_t
log_segio_read (struct log_segio *io, struct log_read *reads, size_t n)
{
  struct extent *ext = malloc (n * sizeof *ext);
  struct run *runs = malloc (n * sizeof *runs);
  struct iovec *iovs = malloc (n * sizeof *iovs);
  size_t nr_ext = 0, nr_runs, done = 0, failures = 0;

  for (size_t i = 0; i < n; i++)
    reads[i].err = 0;
  if (n == 0)
    goto out;
  if (ext == NULL || runs == NULL || iovs == NULL) {
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
  nr_runs = make_runs (io, ext, nr_ext, reads, runs, iovs);
  if (nr_runs &&
      read_runs (io, runs, nr_runs, ext, iovs, reads, &done) == -1)
    for (size_t r = done; r < nr_runs; r++)
      for (size_t i = runs[r].first; i < runs[r].first + runs[r].count; i++)
        reads[ext[i].req].err = ENOMEM;

 out:
  for (size_t i = 0; i < n; i++)
    if (reads[i].err && reads[i].err != ENOENT)
      failures++;
  free (ext);
  free (runs);
  free (iovs);
  return failures;
}
