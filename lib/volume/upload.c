/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: getting dirty blocks into the store.
 *
 * Four callers: flush (every block dirty when it started), FUA (the
 * blocks of one request), background write-back (blocks dirty for
 * longer than a delay) and the dirty bound (the oldest blocks, when a
 * write would take dirty memory past max_dirty).  All but the last end
 * with a commit of the allocation map: a flush has not returned until
 * the map knows every block it stored (see layout-plain.c).  All go through
 * upload_batch, which uploads a snapshot of each block: the block stays
 * readable and writable meanwhile, and is clean afterwards only if it
 * did not change after the snapshot.  A failed upload leaves the block
 * dirty, so nothing is dropped and the next flush retries it.
 *
 * Called with volume.lock held; it is dropped during the requests.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "bufpool.h"
#include "clock.h"
#include "volume-impl.h"

/* Upload n blocks, each already marked uploading by the caller.
 * Returns the number that failed, *err the first failure's errno.
 */
static size_t
upload_batch (struct volume *v, struct block **blocks, size_t n, int *err_out)
{
  struct block_io *ios = calloc (n, sizeof *ios);
  const uint64_t snapshot = ++v->seq;
  size_t i, nr_ios = 0, failures = 0;

  *err_out = 0;
  if (ios == NULL) {
    nbdkit_error ("calloc: %m");
    for (i = 0; i < n; i++)
      blocks[i]->uploading = false;
    pthread_cond_broadcast (&v->changed);
    *err_out = ENOMEM;
    return n;
  }

  /* Zero blocks with no object need no request at all: they go at
   * the end, past the requests sent.  A layout without its map in
   * memory gets every zero block as a DELETE: it knows.
   */
  for (i = 0; i < n; i++) {
    struct block *b = blocks[i];

    if (b->zero && !maybe_present (v, b->index))
      continue;
    ios[nr_ios].index = b->index;
    ios[nr_ios].opaque = b;
    if (b->zero)
      ios[nr_ios].kind = BLOCK_IO_DELETE;
    else {
      ios[nr_ios].kind = BLOCK_IO_PUT;
      ios[nr_ios].buf = b->upload_data = b->data;
    }
    nr_ios++;
  }
  size_t nr_all = nr_ios;
  for (i = 0; i < n; i++)
    if (blocks[i]->zero && !maybe_present (v, blocks[i]->index))
      ios[nr_all++].opaque = blocks[i];

  pthread_mutex_unlock (&v->lock);
  v->layout->ops->run (v->layout, ios, nr_ios);
  pthread_mutex_lock (&v->lock);
  v->uploads_done++;

  for (i = 0; i < n; i++) {
    struct block_io *io = &ios[i];
    struct block *b = io->opaque;
    int err = i < nr_ios ? io->err : 0;

    b->uploading = false;
    if (b->upload_data && b->upload_data != b->data)
      bufpool_free (v->pool, b->upload_data);
    b->upload_data = NULL;

    /* The layout has recorded the outcome in its map. */
    if (err == 0 && i < nr_ios) {
      if (io->kind == BLOCK_IO_PUT)
        v->stats.puts++;
      else
        v->stats.deletes++;
    }
    if (err) {
      if (*err_out == 0)
        *err_out = err;
      failures++;
      continue;
    }
    if (b->mod_seq < snapshot)
      block_set_clean (v, b);   /* may free b */
    else
      block_requeue_dirty (v, b, snapshot);
  }
  free (ios);
  pthread_cond_broadcast (&v->changed);
  return failures;
}

/* Persist the allocation map's changes.  Commits are serialised: a
 * later snapshot must never be overwritten by an earlier one, and a
 * caller that finds a commit in flight waits for it, then commits
 * whatever that one did not carry.
 */
int
commit_locked (struct volume *v)
{
  struct layout_commit *c;
  int r;

  while (v->committing)
    pthread_cond_wait (&v->changed, &v->lock);
  if (v->layout->ops->commit_begin (v->layout, &c) == -1)
    return -1;
  if (c == NULL)
    return 0;
  v->committing = true;
  pthread_mutex_unlock (&v->lock);
  r = v->layout->ops->commit_write (v->layout, c);
  pthread_mutex_lock (&v->lock);
  v->layout->ops->commit_end (v->layout, c, r == 0);
  v->committing = false;
  if (r == 0)
    v->stats.commits++;
  pthread_cond_broadcast (&v->changed);
  return r;
}

static struct block **
selection_alloc (struct volume *v)
{
  struct block **sel = malloc (v->batch * sizeof *sel);

  if (sel == NULL) {
    nbdkit_error ("malloc: %m");
    errno = ENOMEM;
  }
  return sel;
}

/* Ranges up to this many blocks (a FUA request) are looked up block
 * by block; bigger ones (a flush) walk the dirty list.
 */
#define SMALL_RANGE 4096

/* Upload the blocks of [first, last] whose oldest unsaved change is
 * not newer than target, then commit.
 */
static int
flush_upto_locked (struct volume *v, uint64_t first, uint64_t last,
                   uint64_t target)
{
  struct block **sel = selection_alloc (v);
  size_t total = 0, failures = 0;
  int err = 0;

  if (sel == NULL)
    return -1;

  for (;;) {
    size_t n = 0;
    bool pending = false;

    if (last - first < SMALL_RANGE) {
      for (uint64_t index = first; index <= last && n < v->batch; index++) {
        struct block *b = block_lookup (v, index);
        if (b == NULL || b->state != BLOCK_DIRTY || b->dirty_seq > target)
          continue;
        if (b->uploading)
          pending = true;
        else
          sel[n++] = b;
      }
    }
    else {
      /* The dirty list is sorted by dirty_seq. */
      for (struct block *b = v->dirty.head;
           b && b->dirty_seq <= target && n < v->batch; b = b->next) {
        if (b->index < first || b->index > last)
          continue;
        if (b->uploading)
          pending = true;
        else
          sel[n++] = b;
      }
    }

    if (n == 0) {
      if (!pending)
        break;
      /* Another thread is uploading some of them: wait, then check
       * whether its upload succeeded.
       */
      pthread_cond_wait (&v->changed, &v->lock);
      continue;
    }
    for (size_t i = 0; i < n; i++)
      sel[i]->uploading = true;
    total += n;
    failures = upload_batch (v, sel, n, &err);
    if (failures)
      break;
  }
  free (sel);

  if (failures) {
    nbdkit_error ("%s: flush failed: %zu of %zu blocks could not be "
                  "written (%s); they stay in memory and the next flush "
                  "retries them", v->name, failures, total, strerror (err));
    errno = err == ENOENT ? EIO : err;
    return -1;
  }
  if (commit_locked (v) == -1)
    return -1;
  if (total)
    nbdkit_debug ("%s: flushed %zu blocks", v->name, total);
  return 0;
}

int
flush_locked (struct volume *v, uint64_t first, uint64_t last)
{
  /* Every change so far has mod_seq <= v->seq; later ones are not
   * this flush's business.
   */
  return flush_upto_locked (v, first, last, v->seq);
}

int
volume_write_back (struct volume *v, uint64_t age_ms)
{
  const uint64_t now = clock_mono_ms ();
  uint64_t target = 0;
  int r = 0, err;

  /* Fenced (the lease lost or not renewed): the lease has said so
   * once; a message every round would only bury it.
   */
  if (v->gate && (err = v->gate->check (v->gate->opaque)) != 0) {
    errno = err;
    return -1;
  }
  pthread_mutex_lock (&v->lock);
  /* The dirty list runs oldest first: the last block old enough sets
   * the target.
   */
  for (struct block *b = v->dirty.head;
       b && b->dirty_since_ms + age_ms <= now; b = b->next)
    target = b->dirty_seq;
  if (target)
    r = flush_upto_locked (v, 0, UINT64_MAX, target);
  pthread_mutex_unlock (&v->lock);
  return r;
}

int
volume_maintain (struct volume *v)
{
  bool commit = false;
  int r, err;

  if (v->layout->ops->maintain == NULL)
    return 0;
  /* Fenced: as for the write-back, the lease has said so. */
  if (v->gate && (err = v->gate->check (v->gate->opaque)) != 0) {
    errno = err;
    return -1;
  }
  if (v->layout->ops->maintain (v->layout, &commit) == -1)
    return -1;
  if (!commit)
    return 0;
  pthread_mutex_lock (&v->lock);
  r = commit_locked (v);
  pthread_mutex_unlock (&v->lock);
  return r;
}

int
make_room_locked (struct volume *v)
{
  struct block **sel;
  size_t n = 0, failures;
  int err;

  if (!over_dirty_limit (v))
    return 0;
  sel = selection_alloc (v);
  if (sel == NULL)
    return -1;
  for (struct block *b = v->dirty.head; b && n < v->batch; b = b->next)
    if (!b->uploading)
      sel[n++] = b;
  if (n == 0) {
    /* Everything dirty is being uploaded by other threads. */
    free (sel);
    pthread_cond_wait (&v->changed, &v->lock);
    return 0;
  }
  for (size_t i = 0; i < n; i++)
    sel[i]->uploading = true;
  v->stats.writebacks += n;
  failures = upload_batch (v, sel, n, &err);
  free (sel);
  if (failures) {
    nbdkit_error ("%s: dirty data reached max-dirty (%" PRIu64 " bytes) "
                  "and %zu of %zu blocks could not be written back (%s); "
                  "the write is refused, earlier data stays in memory",
                  v->name, v->max_dirty, failures, n, strerror (err));
    errno = err == ENOENT ? EIO : err;
    return -1;
  }
  return 0;
}
