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
 * after the last read that continued it.  A read continues a stream if
 * it starts there, or up to its own length later (requests in flight
 * reach the volume slightly out of order); a random read almost never
 * does, so it fetches only what it asks for.  Lock held.
 */
static bool
sequential (struct volume *v, uint64_t first, uint64_t n)
{
  for (unsigned s = 0; s < VOLUME_STREAMS; s++) {
    uint64_t *next = &v->stream_next[s];

    /* 0: unused (a read's next block is at least 1). */
    if (*next && first >= *next && first - *next <= n) {
      *next = first + n;
      return true;
    }
  }
  v->stream_next[v->stream_victim] = first + n;
  v->stream_victim = (v->stream_victim + 1) % VOLUME_STREAMS;
  return false;
}

/* Placeholders for the blocks after a sequential read [first, first +
 * n), up to read_ahead_blocks from first, appended to ios (room for
 * read_ahead_blocks more); stops at the first block in memory (being
 * fetched already, or cached) and at the end.  Returns how many.
 * Lock held.
 */
static size_t
read_ahead (struct volume *v, uint64_t first, uint64_t n,
            struct block_io *ios)
{
  size_t k = 0;

  for (uint64_t index = first + n;
       index < first + v->read_ahead_blocks && index < v->nr_blocks;
       index++) {
    struct block *b;
    char *buf;

    if (block_lookup (v, index))
      break;
    if (!maybe_present (v, index))
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
  bool seq;

  done = calloc (n, sizeof *done);
  if (done == NULL) {
    nbdkit_error ("calloc: %m");
    return -1;
  }

  pthread_mutex_lock (&v->lock);
  seq = v->read_ahead_blocks > n && sequential (v, first, n);
  while (remaining > 0 && err == 0) {
    size_t nr_ops = 0;
    bool waiting = false;

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
      if (ios == NULL) {
        /* Room for the read-ahead only when there will be one: a
         * random 4 KiB read need not clear a thousand slots.
         */
        ios = calloc (n + (seq ? v->read_ahead_blocks : 0), sizeof *ios);
        if (ios == NULL) {
          nbdkit_error ("calloc: %m");
          err = ENOMEM;
          break;
        }
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

    if (nr_ops > 0 && seq && err == 0) {
      nr_ops += read_ahead (v, first, n, &ios[nr_ops]);
      seq = false;              /* once a read */
    }
    if (nr_ops > 0) {
      pthread_mutex_unlock (&v->lock);
      v->layout->ops->run (v->layout, ios, nr_ops);
      pthread_mutex_lock (&v->lock);

      for (size_t j = 0; j < nr_ops; j++) {
        struct block *b = ios[j].opaque;
        const uint64_t index = b->index;
        int e = ios[j].err;

        if (index >= first + n) {
          /* Read ahead. */
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

