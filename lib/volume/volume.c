/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: one export's block device: writes, zeroing, extents (reads:
 * read.c).
 * The rules (locking, dirty data, errors) are in volume.h.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "bufpool.h"
#include "iszero.h"
#include "volume-impl.h"

struct volume *
volume_create (struct layout *layout, const struct volume_params *p)
{
  struct volume *v;

  if (layout == NULL)
    return NULL;
  v = calloc (1, sizeof *v);
  if (v == NULL || (v->name = strdup (p->name)) == NULL ||
      (v->pool = bufpool_get (p->block_size)) == NULL) {
    nbdkit_error ("calloc: %m");
    if (v)
      free (v->name);
    free (v);
    layout->ops->free (layout);
    return NULL;
  }
  v->layout = layout;
  v->gate = p->gate;
  v->block_size = p->block_size;
  v->block_shift = __builtin_ctz (p->block_size);
  v->max_dirty = p->max_dirty;
  v->cache_size = p->cache_size;
  v->batch = p->batch ? p->batch : 256;
  v->read_ahead_blocks = (p->read_ahead < p->cache_size / 8
                          ? p->read_ahead : p->cache_size / 8)
    >> v->block_shift;
  v->size = p->size;
  v->nr_blocks = (p->size + p->block_size - 1) >> v->block_shift;
  pthread_mutex_init (&v->lock, NULL);
  pthread_cond_init (&v->changed, NULL);
  return v;
}

void
volume_free (struct volume *v)
{
  size_t i;

  if (v == NULL)
    return;
  for (i = 0; i < v->blocks.capacity; i++) {
    struct block *b = v->blocks.slots[i].value;
    if (b) {
      if (b->upload_data != b->data)
        bufpool_free (v->pool, b->upload_data);
      bufpool_free (v->pool, b->data);
      free (b);
    }
  }
  u64map_free (&v->blocks);
  v->layout->ops->free (v->layout);
  pthread_cond_destroy (&v->changed);
  pthread_mutex_destroy (&v->lock);
  free (v->name);
  free (v);
}

uint32_t
volume_block_size (const struct volume *v)
{
  return v->block_size;
}

const char *
volume_name (const struct volume *v)
{
  return v->name;
}

uint64_t
volume_size (struct volume *v)
{
  uint64_t size;

  pthread_mutex_lock (&v->lock);
  size = v->size;
  pthread_mutex_unlock (&v->lock);
  return size;
}

void
volume_get_stats (struct volume *v, struct volume_stats *stats)
{
  struct layout_stats ls;

  pthread_mutex_lock (&v->lock);
  *stats = v->stats;
  v->layout->ops->get_stats (v->layout, &ls);
  stats->dedup_hits = ls.dedup_hits;
  stats->data_puts = ls.data_puts;
  stats->refreshes = ls.refreshes;
  stats->pages_written = ls.pages_written;
  stats->page_bytes = ls.page_bytes;
  stats->roots_written = ls.roots_written;
  stats->segments_written = ls.segments_written;
  stats->segment_bytes = ls.segment_bytes;
  stats->compact_segments = ls.compact_segments;
  stats->compact_blocks = ls.compact_blocks;
  stats->compact_lost = ls.compact_lost;
  stats->compact_puts = ls.compact_puts;
  stats->compact_read_bytes = ls.compact_read_bytes;
  stats->compact_written_bytes = ls.compact_written_bytes;
  stats->log_usage_known = ls.log_usage_known;
  stats->log_stored_bytes = ls.log_stored_bytes;
  stats->log_live_bytes = ls.log_live_bytes;
  stats->dirty_bytes = v->dirty_bytes;
  stats->clean_bytes = v->clean_bytes;
  stats->present_blocks = ls.present_blocks;
  stats->oldest_dirty_ms = v->dirty.head ? v->dirty.head->dirty_since_ms : 0;
  /* Counted by the lists, so that a metrics scrape holds the lock for
   * a copy, whatever the number of blocks.
   */
  stats->dirty_blocks = v->dirty.len;
  stats->clean_blocks = v->lru.len;
  pthread_mutex_unlock (&v->lock);
}

/* The allocation map: which blocks exist as objects, kept by the
 * layout.  Loaded before the volume is shared.
 */
int
volume_load_map (struct volume *v)
{
  struct layout_stats ls;
  int r;

  r = v->layout->ops->load_map (v->layout, v->nr_blocks);
  v->layout->ops->get_stats (v->layout, &ls);
  pthread_mutex_lock (&v->lock);
  if (r == 0)
    v->stats.foreign_objects = ls.foreign_objects;
  pthread_mutex_unlock (&v->lock);
  return r;
}

/* Writes and zeroing. */

/* Fetch one block for a read-modify-write.  Called with the lock held;
 * drops it for the GET.  On success the block is CLEAN: the caller
 * must dirty it before dropping the lock again, or the cache may evict
 * it.
 */
static struct block *
load_for_update (struct volume *v, uint64_t index)
{
  struct block_io op = { .kind = BLOCK_IO_GET, .index = index };
  struct block *b;
  int e;

  op.buf = block_buffer_alloc (v);
  if (op.buf == NULL)
    return NULL;
  b = block_new_loading (v, index);
  if (b == NULL) {
    bufpool_free (v->pool, op.buf);
    errno = ENOMEM;
    return NULL;
  }

  pthread_mutex_unlock (&v->lock);
  v->layout->ops->run (v->layout, &op, 1);
  pthread_mutex_lock (&v->lock);

  pthread_cond_broadcast (&v->changed);
  e = op.err;
  if (e == ENOENT) {
    memset (op.buf, 0, v->block_size);
    e = 0;
  }
  if (e) {
    bufpool_free (v->pool, op.buf);
    block_remove (v, b);
    errno = e;
    return NULL;
  }
  v->stats.gets++;
  block_loaded (v, b, op.buf);
  return b;
}

/* Apply one block's share of a write (src) or of a zeroing (src NULL):
 * len bytes at byte from within block index.  Lock held; it may be
 * dropped to make room or to fetch the block, and is held on return.
 */
static int
update_block (struct volume *v, uint64_t index, uint32_t from, uint32_t len,
              const char *src)
{
  const bool whole = from == 0 && len == v->block_size;
  struct block *b;

  for (;;) {
    b = block_lookup (v, index);
    if (b && b->state == BLOCK_LOADING) {
      pthread_cond_wait (&v->changed, &v->lock);
      continue;
    }
    /* Make room before adding dirty data, oldest blocks first. */
    if ((b == NULL || b->state != BLOCK_DIRTY) && over_dirty_limit (v)) {
      if (make_room_locked (v) == -1)
        return -1;
      continue;
    }
    break;
  }

  /* Zeros where the store has no object and no upload is pending:
   * nothing to keep at all.
   */
  if ((whole && (src == NULL || is_zero (src, len))) &&
      !maybe_present (v, index) && !(b && b->uploading)) {
    if (b)
      block_remove (v, b);
    return 0;
  }

  if (b == NULL) {
    if (!whole && maybe_present (v, index)) {
      b = load_for_update (v, index);
      if (b == NULL) {
        nbdkit_error ("%s: cannot read block at %" PRIu64
                      " to update part of it", v->name,
                      index << v->block_shift);
        return -1;
      }
    }
    else {
      b = block_new_loading (v, index);
      if (b == NULL) {
        errno = ENOMEM;
        return -1;
      }
      block_loaded (v, b, NULL);
      b->zero = true;
    }
  }

  if (whole && (src == NULL || is_zero (src, len))) {
    if (!b->zero)
      block_set_zero (v, b);
  }
  else if (src != NULL || !b->zero) {
    char *data = block_writable_data (v, b);

    if (data == NULL) {
      errno = ENOMEM;
      return -1;
    }
    if (src)
      memcpy (data + from, src, len);
    else
      memset (data + from, 0, len);
    if (is_zero (data, v->block_size))
      block_set_zero (v, b);
  }

  /* All zeros again, with nothing stored and nothing in flight. */
  if (b->zero && !b->uploading && !maybe_present (v, index)) {
    block_remove (v, b);
    return 0;
  }
  block_set_dirty (v, b);
  return 0;
}

/* After a client's flush or FUA write: writes the layout lost since the
 * last one fail it, whichever commit found them (layout.h, take_lost).
 */
static int
report_lost_locked (struct volume *v, int r)
{
  uint64_t lost;

  if (v->layout->ops->take_lost == NULL ||
      (lost = v->layout->ops->take_lost (v->layout)) == 0 || r == -1)
    return r;
  nbdkit_error ("%s: %" PRIu64 " blocks written earlier were lost before "
                "a commit carried them (see the earlier error naming "
                "their segment): this flush fails; they read as errors "
                "until written again", v->name, lost);
  errno = EIO;
  return -1;
}

static int
update_range (struct volume *v, const char *buf, uint32_t count,
              uint64_t offset, bool fua)
{
  const uint64_t first = FIRST_BLOCK (v, offset);
  const uint64_t last = LAST_BLOCK (v, offset, count);
  uint64_t index;
  int r = 0;

  if (count == 0)
    return 0;

  pthread_mutex_lock (&v->lock);
  for (index = first; index <= last; index++) {
    const uint64_t block_start = index << v->block_shift;
    const uint64_t from = offset > block_start ? offset : block_start;
    uint64_t to = block_start + v->block_size;

    if (to > offset + count)
      to = offset + count;
    r = update_block (v, index, from - block_start, to - from,
                      buf ? buf + (from - offset) : NULL);
    if (r == -1)
      break;
  }
  if (r == 0 && fua)
    r = report_lost_locked (v, flush_locked (v, first, last));
  pthread_mutex_unlock (&v->lock);
  return r;
}

int
volume_write (struct volume *v, const void *buf, uint32_t count,
              uint64_t offset, bool fua)
{
  return update_range (v, buf, count, offset, fua);
}

int
volume_zero (struct volume *v, uint32_t count, uint64_t offset, bool fua)
{
  return update_range (v, NULL, count, offset, fua);
}

int
volume_flush (struct volume *v)
{
  int r;

  pthread_mutex_lock (&v->lock);
  r = report_lost_locked (v, flush_locked (v, 0, UINT64_MAX));
  pthread_mutex_unlock (&v->lock);
  return r;
}

/* Extents: blocks with no object and no dirty data are holes that read
 * as zeros; so are blocks that are dirty and all zeros.  present NULL:
 * every block not in memory may hold data.
 */
static uint32_t
block_extent_type (struct volume *v, const struct sbitmap *present,
                   uint64_t index)
{
  struct block *b = block_lookup (v, index);

  if (b)
    return b->state != BLOCK_LOADING && b->zero
      ? VOLUME_EXTENT_HOLE | VOLUME_EXTENT_ZERO : 0;
  return present == NULL || sbitmap_get (present, index)
    ? 0 : VOLUME_EXTENT_HOLE | VOLUME_EXTENT_ZERO;
}

/* Lock held. */
static int
extents_locked (struct volume *v, const struct sbitmap *present,
                uint64_t offset, uint64_t end, bool req_one,
                volume_extent_cb cb, void *opaque)
{
  uint64_t index = FIRST_BLOCK (v, offset);
  const uint64_t last = LAST_BLOCK (v, offset, end - offset);
  uint64_t run_start = offset;
  uint32_t run_type = block_extent_type (v, present, index);
  int r;

  for (index++; index <= last; index++) {
    uint32_t type;

    /* With no blocks in memory, the allocation map alone decides:
     * jump to the next change instead of looking at every block.
     */
    if (v->blocks.count == 0 && present) {
      index = run_type
        ? sbitmap_next_set (present, index, last + 1)
        : sbitmap_next_clear (present, index, last + 1);
      if (index > last)
        break;
    }
    type = block_extent_type (v, present, index);
    if (type != run_type) {
      uint64_t boundary = index << v->block_shift;

      r = cb (opaque, run_start, boundary - run_start, run_type);
      if (r == -1 || req_one)
        return r;
      run_start = boundary;
      run_type = type;
    }
  }
  return cb (opaque, run_start, end - run_start, run_type);
}

/* Blocks asked of an on-demand map per call: bounds the pages loaded.
 * The client gets extents for a prefix of its range, and asks again.
 */
#define EXTENTS_MAX_BLOCKS 65536
/* Queries that raced with a finished upload before the answer is
 * "data" for every block not in memory (always true, never a hole
 * that is not one).
 */
#define EXTENTS_ATTEMPTS 3

/* The layout answers without the lock; a block uploaded and dropped
 * from memory meanwhile would be missed, so an upload finishing in
 * between makes the answer stale and it is asked again.
 */
static int
extents_from_layout (struct volume *v, uint64_t offset, uint64_t end,
                   bool req_one, volume_extent_cb cb, void *opaque)
{
  uint64_t first = FIRST_BLOCK (v, offset), last;
  int r;

  last = LAST_BLOCK (v, offset, end - offset);
  if (last - first >= EXTENTS_MAX_BLOCKS) {
    last = first + EXTENTS_MAX_BLOCKS - 1;
    end = (last + 1) << v->block_shift;
  }
  for (unsigned attempt = 0; attempt < EXTENTS_ATTEMPTS; attempt++) {
    struct sbitmap present = SBITMAP_INIT;
    uint64_t uploads;

    pthread_mutex_lock (&v->lock);
    uploads = v->uploads_done;
    pthread_mutex_unlock (&v->lock);
    if (v->layout->ops->present (v->layout, first, last - first + 1,
                                 &present) == -1) {
      sbitmap_free (&present);
      nbdkit_error ("%s: cannot read its map for extents at %" PRIu64,
                    v->name, offset);
      return -1;
    }
    pthread_mutex_lock (&v->lock);
    if (v->uploads_done == uploads) {
      r = extents_locked (v, &present, offset, end, req_one, cb, opaque);
      pthread_mutex_unlock (&v->lock);
      sbitmap_free (&present);
      return r;
    }
    pthread_mutex_unlock (&v->lock);
    sbitmap_free (&present);
  }
  pthread_mutex_lock (&v->lock);
  r = extents_locked (v, NULL, offset, end, req_one, cb, opaque);
  pthread_mutex_unlock (&v->lock);
  return r;
}

int
volume_extents (struct volume *v, uint32_t count, uint64_t offset,
                bool req_one, volume_extent_cb cb, void *opaque)
{
  if (count == 0)
    return 0;
  return extents_from_layout (v, offset, offset + count, req_one, cb,
                              opaque);
}

void
volume_drop_cache (struct volume *v)
{
  const uint64_t cache_size = v->cache_size;

  pthread_mutex_lock (&v->lock);
  v->cache_size = 0;
  cache_evict (v);
  v->cache_size = cache_size;
  pthread_mutex_unlock (&v->lock);
}

/* Resizing.  Blocks past a new, smaller end are zeroed (their objects
 * deleted by the next flush) so that growing again later never brings
 * back old data.  Called when the export opens, before it is shared.
 * A layout keeping its own map records the size in the same commit.
 */
int
volume_resize (struct volume *v, uint64_t size)
{
  struct sbitmap tail = SBITMAP_INIT;
  const struct sbitmap *present = &tail;
  int r = 0;
  const uint64_t old_blocks =
    (volume_size (v) + v->block_size - 1) >> v->block_shift;
  const uint64_t new_blocks = (size + v->block_size - 1) >> v->block_shift;

  /* Which blocks past the new end hold data: asked before the lock,
   * as the layout may make requests (the volume is not shared yet).
   */
  if (old_blocks > new_blocks &&
      v->layout->ops->present (v->layout, new_blocks,
                               old_blocks - new_blocks, &tail) == -1) {
    sbitmap_free (&tail);
    nbdkit_error ("%s: cannot read its map to shrink it", v->name);
    return -1;
  }

  pthread_mutex_lock (&v->lock);
  if (v->layout->ops->resize (v->layout, size) == -1)
    r = -1;
  if (r == 0 && size < v->size) {
    const uint64_t old_end = v->nr_blocks;
    uint64_t index;

    /* The tail of the last block. */
    if (size & (v->block_size - 1)) {
      index = size >> v->block_shift;
      r = update_block (v, index, size & (v->block_size - 1),
                        v->block_size - (size & (v->block_size - 1)), NULL);
    }
    for (index = (size + v->block_size - 1) >> v->block_shift;
         r == 0 && index < old_end; index++) {
      index = sbitmap_next_set (present, index, old_end);
      if (index >= old_end)
        break;
      r = update_block (v, index, 0, v->block_size, NULL);
    }
    /* Dirty blocks past the end that never reached the store. */
    for (size_t i = 0; r == 0 && i < v->blocks.capacity; i++) {
      struct block *b = v->blocks.slots[i].value;
      if (b && b->index >= (size + v->block_size - 1) >> v->block_shift &&
          !b->zero && b->state != BLOCK_LOADING) {
        r = update_block (v, b->index, 0, v->block_size, NULL);
        i = (size_t) -1;        /* the table may have changed: rescan */
      }
    }
    if (r == 0)
      r = flush_locked (v, 0, UINT64_MAX);
  }
  else if (r == 0)
    r = commit_locked (v);      /* a layout may record the size */
  if (r == 0) {
    v->size = size;
    v->nr_blocks = (size + v->block_size - 1) >> v->block_shift;
  }
  pthread_mutex_unlock (&v->lock);
  sbitmap_free (&tail);
  return r;
}
