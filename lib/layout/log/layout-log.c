/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the log layout: block requests (docs/log-layout.md).
 *
 *   log/segs/{id}         blocks, sealed into segments (log-segio.h)
 *   cas/pages/{sha256}    the map tree, log leaves (cas-tree.c)
 *   cas/roots/{export}    the root, "leaf location": its PUT commits
 *
 * run takes a batch's PUTs in block order, seals them into segments and
 * uploads them ("Writing", 1 and 2), then records each stored block as
 * a pending change block -> location ("Writing", 3); a DELETE records a
 * hole and sends nothing.  Nothing is visible to a later open until a
 * commit (layout-log-commit.c) writes the pages and the root.  A GET
 * asks pending first, then the committed tree, else reads a hole; the
 * batch's GETs go to log_segio_read together, so blocks contiguous in
 * a segment share one ranged GET ("Reading").
 *
 * Dedup: a block whose content this layout uploaded less than the
 * reuse window ago (the recent-PUT table) is not uploaded again: its
 * change names the earlier copy and carries that PUT's time, which the
 * commit's refresh rule checks (docs/gc-safety.md, step 4).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "clock.h"
#include "layout-log-impl.h"

/* The pending table (lock held).  kept gains a reference when given.
 * 0, or -1 (errno ENOMEM).
 */
int
log_pending_set (struct log *l, uint64_t index, bool present,
             const struct log_location *loc, uint64_t put_ms,
             struct log_kept *kept)
{
  struct log_pending *p = u64map_get (&l->pending, index);

  if (p == NULL) {
    p = calloc (1, sizeof *p);
    if (p == NULL || u64map_put (&l->pending, index, p) == -1) {
      free (p);
      errno = ENOMEM;
      return -1;
    }
  }
  /* The new reference first: kept may be the one p holds. */
  if (present && kept)
    kept->refs++;
  log_kept_release (l, p->kept);
  p->kept = present ? kept : NULL;
  p->present = present;
  p->lost = false;
  if (present)
    p->loc = *loc;
  else
    memset (&p->loc, 0, sizeof p->loc);
  p->put_ms = put_ms;
  p->seq = ++l->seq;
  return 0;
}

/* The committed tree's location of index. */
static int
committed_location (struct log *l, uint64_t index, bool *present,
                    struct log_location *loc)
{
  struct cas_value v;

  if (cas_tree_lookup (l->t.tree, index, present, &v) == -1)
    return -1;
  if (*present)
    *loc = v.loc;
  return 0;
}

/* A block's location as it reads now: pending first, then the
 * committed tree (the top changes only after the pending entries it
 * carries are in it, and they are dropped only after that).
 */
int
log_resolve (struct log *l, uint64_t index, bool *present,
         struct log_location *loc)
{
  struct log_pending *p;

  pthread_mutex_lock (&l->t.lock);
  p = u64map_get (&l->pending, index);
  if (p && p->lost) {
    pthread_mutex_unlock (&l->t.lock);
    nbdkit_error ("export %s: block %" PRIu64 " was written and lost "
                  "before a flush committed it (its segment was deleted "
                  "by gc while commits failed, see the earlier error): "
                  "it reads as an error until it is written again",
                  l->t.name, index);
    errno = EIO;
    return -1;
  }
  if (p) {
    *present = p->present;
    *loc = p->loc;
  }
  pthread_mutex_unlock (&l->t.lock);
  if (p)
    return 0;
  return committed_location (l, index, present, loc);
}

int
log_resolve_committed (struct log *l, uint64_t index, bool *pending,
                       bool *present, struct log_location *loc)
{
  pthread_mutex_lock (&l->t.lock);
  *pending = u64map_get (&l->pending, index) != NULL;
  pthread_mutex_unlock (&l->t.lock);
  return committed_location (l, index, present, loc);
}

static uint64_t
log_take_lost (struct layout *base)
{
  struct log *l = (struct log *) base;
  uint64_t n;

  pthread_mutex_lock (&l->t.lock);
  n = l->lost_unreported;
  l->lost_unreported = 0;
  pthread_mutex_unlock (&l->t.lock);
  return n;
}

/* Field by field: the struct has padding. */
bool
log_same_location (const struct log_location *a, const struct log_location *b)
{
  return memcmp (a->seg, b->seg, LOG_SEG_ID_LEN) == 0 &&
    a->offset == b->offset && a->stored_len == b->stored_len &&
    a->codec == b->codec && cas_hash_equal (&a->hash, &b->hash);
}

static void
segment_key (char key[KEY_MAX], const uint8_t id[LOG_SEG_ID_LEN])
{
  if (log_segment_key (key, KEY_MAX, id) == -1)
    snprintf (key, KEY_MAX, "log/segs/?");
}

/* A segment answered 404: look the block up once more (compaction may
 * have moved it, docs/log-layout.md, "Reading") and read it again if
 * its location changed; else the map names a missing segment: EIO.
 */
static int
reread_moved (struct log *l, uint64_t index, struct log_read *rd)
{
  struct log_location loc;
  bool present;
  char key[KEY_MAX];

  if (log_resolve (l, index, &present, &loc) == -1)
    return errno ? errno : EIO;
  if (!present)
    return ENOENT;
  if (!log_same_location (&loc, &rd->loc)) {
    rd->loc = loc;
    rd->err = 0;
    log_segio_read (&l->io, rd, 1);
    if (rd->err != ENOENT)
      return rd->err;
  }
  segment_key (key, rd->loc.seg);
  nbdkit_error ("export %s: block %" PRIu64 " is in segment %s, which "
                "is missing: the map names a segment that is gone "
                "(s3blocks check --deep lists the exports naming it)",
                l->t.name, index, key);
  return EIO;
}

static int
compare_index (const void *a, const void *b)
{
  const struct block_io *const *x = a, *const *y = b;

  return (*x)->index < (*y)->index ? -1 : (*x)->index > (*y)->index;
}

static void
run_gets (struct log *l, struct block_io *ios, size_t n)
{
  struct log_read *reads = calloc (n, sizeof *reads);
  size_t *which = calloc (n, sizeof *which);
  size_t k = 0;

  if (reads == NULL || which == NULL) {
    for (size_t i = 0; i < n; i++)
      if (ios[i].kind == BLOCK_IO_GET)
        ios[i].err = ENOMEM;
    nbdkit_error ("calloc: %m");
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    bool present;

    if (ios[i].kind != BLOCK_IO_GET)
      continue;
    if (log_resolve (l, ios[i].index, &present, &reads[k].loc) == -1)
      ios[i].err = errno ? errno : EIO;
    else if (!present)
      ios[i].err = ENOENT;    /* a hole: zeros, no request */
    else {
      reads[k].buf = ios[i].buf;
      which[k++] = i;
    }
  }
  log_segio_read (&l->io, reads, k);
  for (size_t j = 0; j < k; j++) {
    struct block_io *io = &ios[which[j]];

    io->err = reads[j].err;
    if (io->err == ENOENT)
      io->err = reread_moved (l, io->index, &reads[j]);
  }
 out:
  free (reads);
  free (which);
}

/* Block b's content was stored less than the reuse window ago: point
 * its change at that copy instead of storing it again (lock held).
 * The change relies on that segment as its uploads do, so it holds a
 * copy that survives the segment: the segment's whole copy while one
 * is kept, else one of the block's bytes, which later dedups of the
 * same content share (docs/gc-safety.md, step 10: a segment gone
 * before the commit is put back, or rebuilt from the block copies).
 * false: store it (no copy fits within keep_limit).
 */
static bool
dedup_block (struct log *l, struct block_io *b, const struct cas_hash *h,
             uint64_t now)
{
  struct log_location loc;
  struct log_kept *seg_kept, *copy;
  uint64_t put_ms;

  if (!log_recent_get (l, h, now, &loc, &put_ms, &seg_kept))
    return false;
  copy = seg_kept ? seg_kept : log_kept_block_new (l, loc.seg, b->buf);
  if (copy == NULL)
    return false;
  if (log_pending_set (l, b->index, true, &loc, put_ms, copy) == -1)
    b->err = ENOMEM;
  else
    l->t.stats.dedup_hits++;
  if (copy != seg_kept) {
    log_recent_share_copy (l, h, copy);
    log_kept_release (l, copy);         /* the pending entry holds it */
  }
  return true;
}

/* Store the batch's PUTs: dedup through the recent table, upload the
 * rest in block order, record each stored block as pending.
 */
static void
run_puts (struct log *l, struct block_io **puts, size_t n)
{
  struct log_upload_block *blocks = calloc (n ? n : 1, sizeof *blocks);
  struct cas_hash *hashes = malloc ((n ? n : 1) * sizeof *hashes);
  size_t *which = calloc (n ? n : 1, sizeof *which);
  struct log_kept **kept = NULL;
  struct log_upload up = { 0 };
  size_t k = 0;
  bool keep;
  const uint64_t now = l->t.clock_ms ();

  if (blocks == NULL || hashes == NULL || which == NULL) {
    nbdkit_error ("calloc: %m");
    for (size_t i = 0; i < n; i++)
      puts[i]->err = ENOMEM;
    goto out;
  }
  qsort (puts, n, sizeof *puts, compare_index);
  /* Hashed once, outside the lock: for dedup and for the records. */
  for (size_t i = 0; i < n; i++)
    cas_hash_of (puts[i]->buf, l->t.block_size, &hashes[i]);
  pthread_mutex_lock (&l->t.lock);
  for (size_t i = 0; i < n; i++) {
    if (dedup_block (l, puts[i], &hashes[i], now))
      continue;
    blocks[k].block = puts[i]->index;
    blocks[k].data = puts[i]->buf;
    blocks[k].hash = &hashes[i];
    which[k++] = i;
  }
  keep = l->kept_bytes < l->keep_limit;
  pthread_mutex_unlock (&l->t.lock);
  if (k == 0)
    goto out;

  log_segio_upload (&l->io, blocks, k, keep, &up);
  kept = calloc (up.nr_segs ? up.nr_segs : 1, sizeof *kept);
  pthread_mutex_lock (&l->t.lock);
  for (size_t s = 0; s < up.nr_segs; s++) {
    struct log_uploaded_segment *seg = &up.segs[s];

    if (seg->err)
      continue;
    l->t.stats.segments_written++;
    l->t.stats.segment_bytes += seg->len;
    /* refs 1: this loop's, dropped below. */
    if (kept && seg->bytes &&
        (kept[s] = log_kept_new (l, seg->id, seg->bytes, seg->len)))
      seg->bytes = NULL;
  }
  for (size_t j = 0; j < k; j++) {
    struct block_io *io = puts[which[j]];
    const struct log_upload_block *b = &blocks[j];

    io->err = b->err;
    if (b->err)
      continue;
    if (log_pending_set (l, io->index, true, &b->loc, up.segs[b->seg].put_ms,
                     kept ? kept[b->seg] : NULL) == -1) {
      io->err = ENOMEM;
      continue;
    }
    log_recent_put (l, &b->loc, up.segs[b->seg].put_ms,
                    kept ? kept[b->seg] : NULL);
  }
  for (size_t s = 0; kept && s < up.nr_segs; s++)
    log_kept_release (l, kept[s]);
  pthread_mutex_unlock (&l->t.lock);
 out:
  log_upload_free (&up);
  free (kept);
  free (blocks);
  free (hashes);
  free (which);
}

static size_t
log_run (struct layout *base, struct block_io *ios, size_t n)
{
  struct log *l = (struct log *) base;
  struct block_io **puts = calloc (n ? n : 1, sizeof *puts);
  size_t nputs = 0, failed = 0;

  for (size_t i = 0; i < n; i++)
    ios[i].err = 0;
  if (puts == NULL) {
    nbdkit_error ("calloc: %m");
    for (size_t i = 0; i < n; i++)
      ios[i].err = ENOMEM;
    return n;
  }
  for (size_t i = 0; i < n; i++)
    if (ios[i].kind == BLOCK_IO_PUT)
      puts[nputs++] = &ios[i];
  if (nputs)
    run_puts (l, puts, nputs);
  free (puts);
  pthread_mutex_lock (&l->t.lock);
  for (size_t i = 0; i < n; i++)
    if (ios[i].kind == BLOCK_IO_DELETE &&
        log_pending_set (l, ios[i].index, false, NULL, 0, NULL) == -1)
      ios[i].err = ENOMEM;
  pthread_mutex_unlock (&l->t.lock);
  run_gets (l, ios, n);
  for (size_t i = 0; i < n; i++)
    if (ios[i].err && ios[i].err != ENOENT)
      failed++;
  return failed;
}

static bool
pending_holds_data (const void *entry)
{
  return ((const struct log_pending *) entry)->present;
}

/* The committed tree's blocks, then the pending entries over them. */
static int
log_present (struct layout *base, uint64_t first, uint64_t count,
             struct sbitmap *out)
{
  struct log *l = (struct log *) base;

  return tree_present (&l->t, &l->pending, pending_holds_data, first, count,
                       out);
}

static int
log_resize (struct layout *base, uint64_t size)
{
  return tree_resize (&((struct log *) base)->t, size);
}

/* The map is in S3: only run can tell. */
static bool
log_maybe_present (struct layout *base, uint64_t index)
{
  return true;
}

static void
log_get_stats (struct layout *base, struct layout_stats *stats)
{
  tree_get_stats (&((struct log *) base)->t, stats);
}

static void
log_free (struct layout *base)
{
  struct log *l = (struct log *) base;

  if (l == NULL)
    return;
  for (size_t i = 0; i < l->pending.capacity; i++) {
    struct log_pending *p = l->pending.slots[i].value;

    if (p)
      log_kept_release (l, p->kept);
    free (p);
  }
  u64map_free (&l->pending);
  log_compact_free (l);
  u64map_free (&l->kept_by_serial);
  l->committing = false;
  log_kept_bury (l);
  tree_root_free (&l->t);
  free (l->recent);
  free (l);
}

static const struct layout_ops log_ops = {
  .run = log_run,
  .load_map = log_load_map,
  .maybe_present = log_maybe_present,
  .commit_begin = log_commit_begin,
  .commit_write = log_commit_write,
  .commit_end = log_commit_end,
  .get_stats = log_get_stats,
  .free = log_free,
  .present = log_present,
  .resize = log_resize,
  .maintain = log_maintain,
  .take_lost = log_take_lost,
};

struct layout *
layout_log_open (struct store *store, const struct layout_params *p,
                 const struct layout_log_params *lp)
{
  struct log *l = calloc (1, sizeof *l);
  size_t slots = lp->recent_entries ? lp->recent_entries
    : LOG_RECENT_DEFAULT;
  const struct tree_root_params tp = {
    .root_key = lp->root_key, .size = lp->size, .create = lp->create,
    .root = lp->root, .root_etag = lp->root_etag,
    .map_cache_bytes = lp->map_cache_bytes,
    .reuse_window_ms = lp->reuse_window_ms,
    .request_bound_ms = lp->request_bound_ms,
    .commit_bound_ms = lp->commit_bound_ms,
    .clock_ms = lp->clock_ms, .sleep_ms = lp->sleep_ms,
  };

  while (slots & (slots - 1))
    slots &= slots - 1;
  if (l == NULL)
    goto nomem;
  l->base.ops = &log_ops;
  if (tree_root_init (&l->t, &log_tree_ops, store, p, CAS_LEAF_LOCATION,
                      &tp) == -1)
    goto fail;
  l->recent = calloc (slots, sizeof *l->recent);
  if (l->recent == NULL)
    goto nomem;
  l->recent_mask = slots - 1;
  l->keep_limit = lp->keep_bytes;
  log_compact_init (l, lp->compact_rate, lp->compact_threshold_pm);
  l->io.store = store;
  l->io.export_name = l->t.name;
  l->io.block_size = p->block_size;
  l->io.segment_size = lp->segment_size;
  l->io.max_in_flight = lp->uploads_in_flight;
  l->io.gate = p->gate;
  l->io.clock_ms = l->t.clock_ms;
  if (log_segio_init (&l->io) == -1)
    goto fail;
  return &l->base;

 nomem:
  nbdkit_error ("calloc: %m");
 fail:
  if (l)
    log_free (&l->base);
  return NULL;
}
