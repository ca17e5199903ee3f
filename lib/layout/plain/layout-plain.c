/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the plain layout.
 *
 *   blocks/{export}/{offset:016x}    one object per block holding data
 *   maps/{export}                    map root: the map below is complete
 *   maps/{export}/{offset:016x}      map segment: which of 2^20 blocks
 *                                    from that byte offset have objects
 *
 * Opening reads the root and every segment of the export's size in
 * one batch: a number of requests set by the size, not by how many
 * blocks are stored, and no LIST.  An export without a root (written
 * by an older version, or by another tool that honours the block keys)
 * is listed once; then its segments and, last, its root are written.
 *
 * The invariant that makes this crash-safe, for every block b:
 *
 *   if b's object holds data that a completed flush stored,
 *   the persisted map says b is present.
 *
 * It holds because a segment is only ever written as a snapshot of the
 * in-memory map taken after the uploads it reflects, commits are
 * serialised (an older snapshot never lands after a newer one), and a
 * flush returns only after its commit.  The converse need not hold: a
 * map may say present where no object is (a crash between a DELETE
 * and the commit), which reads as zeros, as the block then should.  An
 * object the map does not know (a crash between a PUT and the commit)
 * was never part of a completed flush and reads as zeros, its previous
 * flushed state; it is orphaned until a rebuild-map lists it back.
 * No object ever holds data that was not written to its block, so no
 * crash can make a block read as data it never had.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "format/allocmap.h"
#include "format/keys.h"
#include "layout-plain-impl.h"

static int map_set_locked (struct plain *l, uint64_t index);
static void map_clear_locked (struct plain *l, uint64_t index);

static size_t
plain_run (struct layout *base, struct block_io *ios, size_t n)
{
  struct plain *l = (struct plain *) base;
  struct store_op *ops;
  size_t i, failures = 0;

  if (n == 0)
    return 0;
  ops = calloc (n, sizeof *ops);
  if (ops == NULL) {
    nbdkit_error ("calloc: %m");
    for (i = 0; i < n; i++)
      ios[i].err = ENOMEM;
    return n;
  }
  for (i = 0; i < n; i++) {
    struct store_op *op = &ops[i];

    block_key (op->key, sizeof op->key, l->name,
               ios[i].index << l->block_shift);
    op->buf = ios[i].buf;
    op->len = l->block_size;
    switch (ios[i].kind) {
    case BLOCK_IO_GET: op->kind = STORE_GET; break;
    case BLOCK_IO_PUT: op->kind = STORE_PUT; op->gate = l->gate; break;
    case BLOCK_IO_DELETE: op->kind = STORE_DELETE; op->gate = l->gate; break;
    }
  }

  store_run (l->store, ops, n);

  pthread_mutex_lock (&l->map_lock);
  for (i = 0; i < n; i++) {
    const uint64_t index = ios[i].index;
    int err = ops[i].err;

    if (err == 0 && ops[i].kind == STORE_GET && ops[i].got != l->block_size) {
      nbdkit_error ("%s: object %s has %zu bytes, expected %" PRIu32
                    " (a foreign or corrupt object, or written with "
                    "another block-size)", l->name, ops[i].key, ops[i].got,
                    l->block_size);
      err = EIO;
    }
    else if (err == 0 && ops[i].kind == STORE_PUT) {
      if (map_set_locked (l, index) == -1)
        err = errno;
    }
    else if ((err == 0 && ops[i].kind == STORE_DELETE) ||
             (err == ENOENT && ops[i].kind == STORE_GET &&
              sbitmap_get (&l->present, index))) {
      /* A GET finding no object the map promised: a crash between a
       * DELETE and its commit, or deleted behind our back.  It reads
       * as zeros, and the map forgets it.
       */
      if (err == ENOENT)
        nbdkit_debug ("%s: block at %" PRIu64 " has no object; reading "
                      "zeros", l->name, index << l->block_shift);
      map_clear_locked (l, index);
    }
    ios[i].err = err;
    if (err && err != ENOENT)
      failures++;
  }
  pthread_mutex_unlock (&l->map_lock);
  free (ops);
  return failures;
}

static bool
plain_maybe_present (struct layout *base, uint64_t index)
{
  struct plain *l = (struct plain *) base;
  bool r;

  pthread_mutex_lock (&l->map_lock);
  r = sbitmap_get (&l->present, index);
  pthread_mutex_unlock (&l->map_lock);
  return r;
}

static int
plain_present (struct layout *base, uint64_t first, uint64_t count,
               struct sbitmap *out)
{
  struct plain *l = (struct plain *) base;
  const uint64_t end = first + count;
  int r = 0;

  pthread_mutex_lock (&l->map_lock);
  for (uint64_t i = sbitmap_next_set (&l->present, first, end);
       i < end && r == 0;
       i = sbitmap_next_set (&l->present, i + 1, end))
    r = sbitmap_set (out, i);
  pthread_mutex_unlock (&l->map_lock);
  if (r == -1) {
    nbdkit_error ("%s: allocation map: %m", l->name);
    errno = ENOMEM;
  }
  return r;
}

/* The plain layout keeps the size in the export's metadata, not in
 * its map: nothing to record.
 */
static int
plain_resize (struct layout *base, uint64_t size)
{
  return 0;
}

void
plain_map_changed_locked (struct plain *l, uint64_t index)
{
  /* A lost mark could leave a change unpersisted: remember the
   * failure, and every commit fails until the server restarts.
   */
  if (sbitmap_set (&l->dirty_segments, index / ALLOCMAP_SEGMENT_BLOCKS) == -1)
    l->mark_failed = true;
}

/* A PUT of block index succeeded: 0, or -1 after a message with
 * errno ENOMEM (the block stays dirty and is uploaded again).
 */
static int
map_set_locked (struct plain *l, uint64_t index)
{
  if (sbitmap_get (&l->present, index))
    return 0;
  if (sbitmap_set (&l->present, index) == -1) {
    nbdkit_error ("%s: allocation map: %m", l->name);
    errno = ENOMEM;
    return -1;
  }
  plain_map_changed_locked (l, index);
  return 0;
}

static void
map_clear_locked (struct plain *l, uint64_t index)
{
  if (!sbitmap_get (&l->present, index))
    return;
  sbitmap_clear (&l->present, index);
  plain_map_changed_locked (l, index);
}

/* Snapshot the segments that changed. */
int
plain_commit_begin_locked (struct plain *l, struct layout_commit **out)
{
  const struct sbitmap *present = &l->present;
  struct layout_commit *c;
  uint64_t segno = 0;
  size_t n = 0;

  *out = NULL;
  if (l->mark_failed) {
    nbdkit_error ("%s: out of memory tracking its allocation map: "
                  "commits fail until the server restarts", l->name);
    errno = ENOMEM;
    return -1;
  }
  if (l->dirty_segments.count == 0)
    return 0;
  c = calloc (1, sizeof *c);
  if (c)
    c->segs = calloc (l->dirty_segments.count, sizeof *c->segs);
  if (c == NULL || c->segs == NULL) {
    nbdkit_error ("calloc: %m");
    free (c);
    return -1;
  }
  for (;;) {
    segno = sbitmap_next_set (&l->dirty_segments, segno, UINT64_MAX);
    if (segno == UINT64_MAX)
      break;
    struct segment_write *w = &c->segs[n];
    w->segno = segno;
    w->len = allocmap_encode (present, segno * ALLOCMAP_SEGMENT_BLOCKS,
                              ALLOCMAP_SEGMENT_BLOCKS, l->block_size,
                              &w->buf);
    if (w->len == -1) {
      nbdkit_error ("%s: encoding the allocation map: %m", l->name);
      for (size_t i = 0; i < n; i++)
        free (c->segs[i].buf);
      free (c->segs);
      free (c);
      return -1;
    }
    n++;
    segno++;
  }
  c->n = n;
  /* The snapshot now carries these changes; marks made from here on
   * belong to the next commit.
   */
  sbitmap_free (&l->dirty_segments);
  *out = c;
  return 0;
}

static int
plain_commit_begin (struct layout *base, struct layout_commit **out)
{
  struct plain *l = (struct plain *) base;
  int r;

  pthread_mutex_lock (&l->map_lock);
  r = plain_commit_begin_locked (l, out);
  pthread_mutex_unlock (&l->map_lock);
  return r;
}

int
plain_commit_write (struct layout *base, struct layout_commit *c)
{
  struct plain *l = (struct plain *) base;
  struct store_op *ops = calloc (c->n, sizeof *ops);
  size_t i;
  int err = 0;

  if (ops == NULL) {
    nbdkit_error ("calloc: %m");
    errno = ENOMEM;
    return -1;
  }
  for (i = 0; i < c->n; i++) {
    map_segment_key (ops[i].key, sizeof ops[i].key, l->name,
                     (c->segs[i].segno * ALLOCMAP_SEGMENT_BLOCKS)
                     << l->block_shift);
    ops[i].kind = STORE_PUT;
    ops[i].buf = c->segs[i].buf;
    ops[i].len = c->segs[i].len;
    ops[i].gate = l->gate;
  }
  store_run (l->store, ops, c->n);
  for (i = 0; i < c->n && err == 0; i++)
    err = ops[i].err;
  free (ops);
  if (err) {
    nbdkit_error ("%s: could not write its allocation map; the flush "
                  "is not complete and will be retried", l->name);
    errno = err;
    return -1;
  }
  return 0;
}

void
plain_commit_end (struct layout *base, struct layout_commit *c, bool ok)
{
  struct plain *l = (struct plain *) base;

  pthread_mutex_lock (&l->map_lock);
  for (size_t i = 0; i < c->n; i++) {
    if (!ok)
      plain_map_changed_locked (l,
                                c->segs[i].segno * ALLOCMAP_SEGMENT_BLOCKS);
    free (c->segs[i].buf);
  }
  pthread_mutex_unlock (&l->map_lock);
  free (c->segs);
  free (c);
}

static void
plain_get_stats (struct layout *base, struct layout_stats *stats)
{
  struct plain *l = (struct plain *) base;

  pthread_mutex_lock (&l->map_lock);
  *stats = l->stats;
  stats->present_blocks = l->present.count;
  pthread_mutex_unlock (&l->map_lock);
}

static void
plain_free (struct layout *base)
{
  struct plain *l = (struct plain *) base;

  if (l == NULL)
    return;
  sbitmap_free (&l->dirty_segments);
  sbitmap_free (&l->present);
  pthread_mutex_destroy (&l->map_lock);
  free (l->name);
  free (l);
}

static const struct layout_ops plain_ops = {
  .run = plain_run,
  .load_map = plain_load_map,
  .maybe_present = plain_maybe_present,
  .present = plain_present,
  .resize = plain_resize,
  .commit_begin = plain_commit_begin,
  .commit_write = plain_commit_write,
  .commit_end = plain_commit_end,
  .get_stats = plain_get_stats,
  .free = plain_free,
};

struct layout *
layout_plain_open (struct store *store, const struct layout_params *p)
{
  struct plain *l = calloc (1, sizeof *l);

  if (l == NULL || (l->name = strdup (p->export_name)) == NULL) {
    nbdkit_error ("calloc: %m");
    free (l);
    return NULL;
  }
  l->base.ops = &plain_ops;
  l->store = store;
  l->block_size = p->block_size;
  l->block_shift = __builtin_ctz (p->block_size);
  l->gate = p->gate;
  l->readonly = p->readonly;
  l->rebuild_map = p->rebuild_map;
  pthread_mutex_init (&l->map_lock, NULL);
  return &l->base;
}
