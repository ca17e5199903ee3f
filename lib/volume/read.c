/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: one export's block device: reads, and read-ahead for
 * sequential ones.  The rules (locking, errors) are in volume.h.
 *
 * Read-ahead is for a layout that reads contiguous blocks with one
 * request (the log layout: one ranged GET per run in a segment,
 * docs/log-layout.md, "Reading"): a client that reads 256 KiB at a
 * time (nbdcopy) would otherwise cost one GET each, where one GET of
 * read_ahead bytes serves several.  The blocks read ahead go to the
 * clean cache, within cache_size like any other.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "bufpool.h"
#include "volume-impl.h"

static void
copy_out (struct volume *v, const struct block *b, char *buf,
          uint64_t index, uint32_t count, uint64_t offset)
{
  uint64_t block_start = index << v->block_shift;
  uint64_t from = offset > block_start ? offset : block_start;
  uint64_t to = block_start + v->block_size;
  char *dst;

  if (buf == NULL)
    return;
  if (to > offset + count)
    to = offset + count;
  dst = buf + (from - offset);
  if (b == NULL || b->zero)
    memset (dst, 0, to - from);
  else
    memcpy (dst, b->data + (from - block_start), to - from);
}

/* Read-ahead (volume.h, read_ahead).  A stream is the block just
 * after the furthest read that continued it; it is established once a
 * read has continued it, and only a read continuing an established
 * stream reads ahead: a random read lands just past another now and
 * then, twice in a row almost never.  Requests in flight reach the
 * volume out of order (nbdkit's threads race for the lock), so:
 *   - a read that starts at a stream's next block, or up to its own
 *     length later, continues it; up to STREAM_SLACK of its lengths
 *     later, if established;
 *   - a read that continues none but starts within read_ahead_blocks
 *     before an established stream's next block is part of it, late:
 *     it reads ahead nothing, and takes no stream's place (before, such
 *     a read pushed out the stream it belonged to, and that stream's
 *     next read went without read-ahead);
 *   - anything else starts a stream, in the place of the oldest.
 * Returns the stream a read continues that may read ahead, or -1.
 * Lock held.
 */
#define STREAM_SLACK 16

static int
sequential (struct volume *v, uint64_t first, uint64_t n)
{
  for (unsigned s = 0; s < VOLUME_STREAMS; s++) {
    const uint64_t next = v->stream_next[s];
    const bool established = v->stream_established[s];
    const uint64_t slack = established ? STREAM_SLACK * n : n;

    /* 0: unused (a read's next block is at least 1). */
    if (next != 0 && first >= next && first - next <= slack) {
      v->stream_next[s] = first + n;
      v->stream_established[s] = true;
      return established ? (int) s : -1;
    }
  }
  for (unsigned s = 0; s < VOLUME_STREAMS; s++) {
    const uint64_t next = v->stream_next[s];

    if (v->stream_established[s] && first < next &&
        next - first <= v->read_ahead_blocks)
      return -1;
  }
  v->stream_next[v->stream_victim] = first + n;
  v->stream_established[v->stream_victim] = false;
  v->stream_fetched[v->stream_victim] = 0;
  v->stream_victim = (v->stream_victim + 1) % VOLUME_STREAMS;
  return -1;
}

/* The part of its window that a read [first, first + n) continuing
 * stream s has yet to fetch: [*lo, *hi); false when there is none.
 * The window is whole read_ahead_blocks-aligned chunks, from the one
 * holding first to the one holding the block half a chunk past the
 * read's last.  Aligned, so that reads of one chunk arriving in any
 * order fetch it once, in one ranged GET per segment it lies in,
 * instead of each fetching what the others left (before, a fifth of
 * the GETs of nbdcopy's sequential read were of one 256 KiB request:
 * bench/log.sh, W2); half a chunk past, so that the next chunk is on
 * its way before the client reaches it.  At most three chunks of blocks:
 * the chunk holding first, and up to two more (the read is shorter
 * than a chunk).  Only the end of the stream's windows so far is
 * remembered, so a read ahead of it costs no lookup, and a region of
 * holes is looked up once, not by every read across it; a block of an
 * earlier window that was evicted unread is fetched by the read that
 * asks for it.  Lock held.
 */
static bool
stream_window (const struct volume *v, int s, uint64_t first, uint64_t n,
               uint64_t *lo, uint64_t *hi)
{
  const uint64_t chunk = v->read_ahead_blocks;
  const uint64_t reach = first + n - 1 + chunk / 2;

  *lo = first / chunk * chunk;
  if (*lo < v->stream_fetched[s])
    *lo = v->stream_fetched[s];
  *hi = (reach / chunk + 1) * chunk;
  if (*hi > v->nr_blocks)
    *hi = v->nr_blocks;
  return *lo < *hi;
}

/* Placeholders for the blocks of [lo, hi) that are neither in memory
 * (being fetched already, or cached) nor known holes, appended to ios
 * (room for three chunks more, alloc_ios).  Returns how many.  Lock
 * held.
 */
static size_t
read_ahead (struct volume *v, uint64_t lo, uint64_t hi,
            struct block_io *ios)
{
  size_t k = 0;

  for (uint64_t index = lo; index < hi; index++) {
    struct block *b;
    char *buf;

    if (block_lookup (v, index) || !maybe_present (v, index))
      continue;
    buf = block_buffer_alloc (v);
    if (buf == NULL)
      break;
    b = block_new_loading (v, index);
    if (b == NULL) {
      bufpool_free (v->pool, buf);
      break;
    }
    ios[k].kind = BLOCK_IO_GET;
    ios[k].index = index;
    ios[k].buf = buf;
    ios[k].opaque = b;
    k++;
  }
  return k;
}

/* Room for a read's n fetches, and its window's (three chunks, see
 * stream_window) when it may read ahead: a random 4 KiB read need not
 * clear thousands of slots.
 */
static struct block_io *
alloc_ios (const struct volume *v, uint64_t n, bool ahead)
{
  return calloc (n + (ahead ? 3 * v->read_ahead_blocks : 0),
                 sizeof (struct block_io));
}

/* Read (buf != NULL) or prefetch (buf == NULL) a range.  Blocks in
 * memory are copied; missing ones are fetched in one batch, with the
 * read-ahead of a sequential read; blocks another thread is fetching
 * are waited for.  A block read ahead is only cached: its failure
 * fails no read.
 */
static int
read_range (struct volume *v, char *buf, uint32_t count, uint64_t offset)
{
  const uint64_t first = FIRST_BLOCK (v, offset);
  const uint64_t n = LAST_BLOCK (v, offset, count) - first + 1;
  struct block_io *ios = NULL;
  bool *done;
  uint64_t i, remaining = n;
  int err = 0;
  int stream;                   /* -1: no read-ahead */

  done = calloc (n, sizeof *done);
  if (done == NULL) {
    nbdkit_error ("calloc: %m");
    return -1;
  }

  pthread_mutex_lock (&v->lock);
  stream = v->read_ahead_blocks > n ? sequential (v, first, n) : -1;
  while (remaining > 0 && err == 0) {
    size_t nr_ops = 0;
    bool waiting = false;
    uint64_t lo, hi;            /* the read-ahead to fetch */

    for (i = 0; i < n; i++) {
      const uint64_t index = first + i;
      struct block *b;

      if (done[i])
        continue;
      b = block_lookup (v, index);
      if (b && b->state == BLOCK_LOADING) {
        waiting = true;
        continue;
      }
      if (b || !maybe_present (v, index)) {
        if (b) {
          block_touch (v, b);
          if (b->state == BLOCK_CLEAN)
            v->stats.cache_hits++;
        }
        else
          v->stats.holes_read++;
        copy_out (v, b, buf, index, count, offset);
        done[i] = true;
        remaining--;
        continue;
      }

      /* Fetch it: a placeholder keeps others from fetching it too. */
      if (ios == NULL && (ios = alloc_ios (v, n, stream >= 0)) == NULL) {
        nbdkit_error ("calloc: %m");
        err = ENOMEM;
        break;
      }
      struct block_io *io = &ios[nr_ops];
      io->buf = block_buffer_alloc (v);
      if (io->buf == NULL || (b = block_new_loading (v, index)) == NULL) {
        bufpool_free (v->pool, io->buf);
        err = ENOMEM;
        break;
      }
      io->kind = BLOCK_IO_GET;
      io->index = index;
      io->opaque = b;
      nr_ops++;
    }

    if (stream >= 0 && err == 0 &&
        stream_window (v, stream, first, n, &lo, &hi)) {
      if (ios == NULL)
        ios = alloc_ios (v, n, true);
      if (ios != NULL) {
        nr_ops += read_ahead (v, lo, hi, &ios[nr_ops]);
        v->stream_fetched[stream] = hi;
      }
      else
        /* The read itself needs nothing fetched: it goes on. */
        nbdkit_debug ("%s: no memory to read ahead", v->name);
    }
    stream = -1;                /* once a read */
    if (nr_ops > 0) {
      pthread_mutex_unlock (&v->lock);
      v->layout->ops->run (v->layout, ios, nr_ops);
      pthread_mutex_lock (&v->lock);

      for (size_t j = 0; j < nr_ops; j++) {
        struct block *b = ios[j].opaque;
        const uint64_t index = b->index;
        int e = ios[j].err;

        if (index < first || index >= first + n) {
          /* Read ahead (or around: the window's start). */
          if (e == 0) {
            v->stats.gets++;
            v->stats.read_ahead++;
            block_loaded (v, b, ios[j].buf);
          }
          else {
            bufpool_free (v->pool, ios[j].buf);
            block_remove (v, b);
          }
          continue;
        }
        if (e == 0) {
          v->stats.gets++;
          block_loaded (v, b, ios[j].buf);
          copy_out (v, b, buf, index, count, offset);
        }
        else {
          bufpool_free (v->pool, ios[j].buf);
          block_remove (v, b);
          /* No object: a hole, as the layout has recorded. */
          if (e == ENOENT)
            v->stats.holes_read++;
          if (e != ENOENT) {
            if (err == 0)
              err = e;
            continue;
          }
          copy_out (v, NULL, buf, index, count, offset);
        }
        done[index - first] = true;
        remaining--;
      }
      memset (ios, 0, nr_ops * sizeof *ios);
      cache_evict (v);
      pthread_cond_broadcast (&v->changed);
    }
    else if (waiting)
      pthread_cond_wait (&v->changed, &v->lock);
  }
  pthread_mutex_unlock (&v->lock);

  free (ios);
  free (done);
  if (err) {
    nbdkit_error ("%s: read of %" PRIu32 " bytes at %" PRIu64 " failed",
                  v->name, count, offset);
    errno = err == ENOENT ? EIO : err;
    return -1;
  }
  return 0;
}

int
volume_read (struct volume *v, void *buf, uint32_t count, uint64_t offset)
{
  if (count == 0)
    return 0;
  return read_range (v, buf, count, offset);
}

int
volume_prefetch (struct volume *v, uint32_t count, uint64_t offset)
{
  if (count == 0 || v->cache_size == 0)
    return 0;
  return read_range (v, NULL, count, offset);
}

