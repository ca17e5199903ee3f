/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: compaction's copy (docs/log-layout.md, "Compaction",
 * Copy and Commit): the live blocks of the chosen segments into new
 * segments, then pending changes for those that did not move.
 *
 *   index    one ranged GET per segment, checked (log_segio_read_index)
 *   live     the records whose block the committed map locates at
 *            that very place, with no pending change (a pending one,
 *            a deduplicated block's say, holds a copy of its own that a
 *            move would drop: it waits for its commit), then blocks
 *            deduplicated onto the segment (log-compact-refs.c)
 *   read     those blocks, in runs, each checked against its hash;
 *            blocks that share a record (deduplicated onto it) are
 *            read once
 *   write    in block order into new segments, as an upload is, one
 *            record for the blocks that shared one: they share the
 *            new one, so compaction does not undo their dedup
 *   install  under the layout's lock, each block whose location is
 *            still the one it was read from becomes a pending change
 *            to its copy; a block a client wrote since keeps the
 *            client's change (the copy is dead)
 * The volume then commits, as a flush does: nothing here touches the
 * root, and until that commit lands the old segments are what the map
 * names (docs/log-layout.md, "Crash safety").
 *
 * The install must not trust a committed-map lookup made before a root
 * landed: the pending entry that carried the new location is gone after
 * the landing.  So the lookups are made between two reads of the count
 * of roots landed (log.t.stats.roots_written, changed under the lock
 * with the top and the pending table), and made again if it moved.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include <nbdkit-plugin.h>

#include "layout-log-impl.h"

#define INSTALL_TRIES 4

struct moved {
  uint64_t block;
  struct log_location old;      /* where it was read from */
  bool still;                   /* the committed map still says old */
};

static int
compare_moved (const void *a, const void *b)
{
  const struct moved *x = a, *y = b;

  return x->block < y->block ? -1 : x->block > y->block;
}

static int
push_move (struct log *l, struct moved **mv, size_t *n, size_t *cap,
           uint64_t block, const struct log_location *old)
{
  if (*n == *cap) {
    size_t c = *cap ? 2 * *cap : 256;
    struct moved *p = realloc (*mv, c * sizeof *p);

    if (p == NULL) {
      nbdkit_error ("export %s: compaction: %m", l->t.name);
      errno = ENOMEM;
      return -1;
    }
    *mv = p;
    *cap = c;
  }
  (*mv)[(*n)++] = (struct moved) { .block = block, .old = *old };
  return 0;
}

/* Blocks deduplicated onto segment u (log-compact-refs.c): those the
 * committed map locates there other than the records' own (idx), with
 * no pending change.
 */
static int
collect_referrers (struct log *l, struct log_usage *u,
                   const struct log_segment_index *idx, struct moved **mv,
                   size_t *n, size_t *cap, uint64_t *bytes)
{
  struct log_referrer *refs = NULL;
  size_t nr = 0, own_end = *n;
  int r = 0;

  if (log_segment_referrers (l, u->id, &refs, &nr, bytes) == -1)
    return -1;
  for (size_t i = 0; i < nr && r == 0; i++) {
    struct log_location now;
    bool pending, present, own = false;

    /* Records are in offset order (appended as the segment was built). */
    for (uint32_t lo = 0, hi = idx->hdr.count; lo < hi && !own;) {
      const uint32_t mid = lo + (hi - lo) / 2;
      const struct log_segment_record *rec = &idx->records[mid];

      if (rec->offset == refs[i].loc.offset) {
        own = rec->block == refs[i].block;
        break;
      }
      if (rec->offset < refs[i].loc.offset)
        lo = mid + 1;
      else
        hi = mid;
    }
    if (own)
      continue;
    if (log_resolve_committed (l, refs[i].block, &pending, &present,
                               &now) == -1)
      r = -1;
    else if (!pending && present && log_same_location (&now, &refs[i].loc))
      r = push_move (l, mv, n, cap, refs[i].block, &refs[i].loc);
  }
  if (*n > own_end)
    nbdkit_debug ("export %s: compaction: %zu deduplicated blocks named "
                  "a segment through other blocks' records",
                  l->t.name, *n - own_end);
  free (refs);
  return r;
}

/* Append segment u's live blocks to *mv (*n of them, *cap room): its
 * records' own, then any deduplicated onto it.
 */
static int
collect_live (struct log *l, struct log_usage *u, struct moved **mv,
              size_t *n, size_t *cap, uint64_t *bytes, bool *walked)
{
  struct log_segment_index idx;
  uint64_t own_live = 0;
  bool found;
  int ret = 0;

  if (log_segio_read_index (&l->io, u->id, &idx, &found) == -1)
    return -1;
  if (!found) {
    /* Its map named it at the walk; a later root may not. */
    u->done = true;
    return 0;
  }
  *bytes += LOG_SEG_DATA_START (idx.hdr.count);
  for (uint32_t i = 0; i < idx.hdr.count; i++) {
    const struct log_segment_record *r = &idx.records[i];
    struct log_location old = {
      .offset = r->offset, .stored_len = r->stored_len, .codec = r->codec,
      .hash = r->hash,
    }, now;
    bool pending, present;

    memcpy (old.seg, u->id, LOG_SEG_ID_LEN);
    if (log_resolve_committed (l, r->block, &pending, &present,
                               &now) == -1) {
      log_segment_index_free (&idx);
      return -1;
    }
    if (!present || !log_same_location (&now, &old))
      continue;
    own_live += r->stored_len;
    if (!pending && push_move (l, mv, n, cap, r->block, &old) == -1) {
      log_segment_index_free (&idx);
      return -1;
    }
  }
  /* The usage walk, made at the current root, counted more than the
   * records hold: blocks deduplicated onto it.  One map walk a step.
   */
  if (u->live > own_live && !*walked && log_usage_current (l)) {
    *walked = true;
    ret = collect_referrers (l, u, &idx, mv, n, cap, bytes);
  }
  log_segment_index_free (&idx);
  return ret;
}

/* Look each block up in the committed map, between two reads of the
 * roots landed; then install (lock held from the second read on).
 */
static int
install (struct log *l, struct moved *mv, const size_t *copy_of,
         const struct log_upload_block *ub, const struct log_upload *up,
         size_t k, bool *commit)
{
  for (int tries = 0; tries < INSTALL_TRIES; tries++) {
    uint64_t landed;

    pthread_mutex_lock (&l->t.lock);
    landed = l->t.stats.roots_written;
    pthread_mutex_unlock (&l->t.lock);
    for (size_t j = 0; j < k; j++) {
      struct cas_value v;
      bool present;

      if (ub[copy_of[j]].err)
        continue;
      if (cas_tree_lookup (l->t.tree, mv[j].block, &present, &v) == -1)
        return -1;
      mv[j].still = present && log_same_location (&v.loc, &mv[j].old);
    }
    pthread_mutex_lock (&l->t.lock);
    if (l->t.stats.roots_written != landed) {
      pthread_mutex_unlock (&l->t.lock);
      continue;
    }
    for (size_t j = 0; j < k; j++) {
      const struct log_upload_block *copy = &ub[copy_of[j]];
      const struct log_pending *p;
      bool ok;

      if (copy->err)
        continue;
      /* Only blocks with no pending change move (collect_live), and
       * only onto a copy of what they hold.
       */
      p = u64map_get (&l->pending, mv[j].block);
      ok = p == NULL && mv[j].still &&
        cas_hash_equal (&copy->loc.hash, &mv[j].old.hash);
      if (ok && log_pending_set (l, mv[j].block, true, &copy->loc,
                                 up->segs[copy->seg].put_ms, NULL) == -1)
        ok = false;           /* ENOMEM: the copy is dead, no harm */
      if (ok) {
        l->t.stats.compact_blocks++;
        *commit = true;
      }
      else
        l->t.stats.compact_lost++;
    }
    pthread_mutex_unlock (&l->t.lock);
    return 0;
  }
  /* Commits kept landing: drop the copies, the next walk retries. */
  pthread_mutex_lock (&l->t.lock);
  l->t.stats.compact_lost += k;
  pthread_mutex_unlock (&l->t.lock);
  return 0;
}

/* A move, by the record it was read from. */
struct by_record {
  const struct log_location *old;
  size_t move;                  /* its index in mv (block order) */
};

/* Blocks deduplicated onto one record become neighbours, the lowest
 * block first.  The whole location is compared, as log_same_location
 * groups them: a damaged map naming one place with two hashes makes
 * two groups, each read and checked apart.
 */
static int
compare_record (const void *a, const void *b)
{
  const struct by_record *x = a, *y = b;
  const struct log_location *p = x->old, *q = y->old;
  int c = memcmp (p->seg, q->seg, LOG_SEG_ID_LEN);

  if (c)
    return c;
  if (p->offset != q->offset)
    return p->offset < q->offset ? -1 : 1;
  if (p->stored_len != q->stored_len)
    return p->stored_len < q->stored_len ? -1 : 1;
  if (p->codec != q->codec)
    return p->codec < q->codec ? -1 : 1;
  if ((c = memcmp (p->hash.b, q->hash.b, sizeof p->hash.b)) != 0)
    return c;
  return x->move < y->move ? -1 : x->move > y->move;
}

/* One copy per record read from.  copy_of[j]: move j's copy, an index
 * into owner[], which lists each copy's first move (the lowest block
 * naming that record), in block order.  Returns how many copies, or
 * -1 (ENOMEM) after a message.
 */
static ssize_t
distinct_copies (struct log *l, const struct moved *mv, size_t k,
                 size_t *copy_of, size_t *owner)
{
  struct by_record *recs = malloc (k * sizeof *recs);
  size_t nc = 0;

  if (recs == NULL) {
    nbdkit_error ("export %s: compaction: %m", l->t.name);
    errno = ENOMEM;
    return -1;
  }
  for (size_t j = 0; j < k; j++)
    recs[j] = (struct by_record) { .old = &mv[j].old, .move = j };
  qsort (recs, k, sizeof *recs, compare_record);
  /* Each move names its group's first move for now. */
  for (size_t i = 0; i < k; i++)
    copy_of[recs[i].move] =
      i && log_same_location (recs[i - 1].old, recs[i].old)
      ? copy_of[recs[i - 1].move] : recs[i].move;
  free (recs);
  /* Then, in block order, each first move its copy's number: the
   * owners come before the moves that name them.
   */
  for (size_t j = 0; j < k; j++)
    if (copy_of[j] == j) {
      owner[nc] = j;
      copy_of[j] = nc++;
    }
    else
      copy_of[j] = copy_of[copy_of[j]];
  return nc;
}

int
log_compact_copy (struct log *l, struct log_usage **segs, size_t n,
                  uint64_t *bytes, bool *commit)
{
  struct moved *mv = NULL;
  size_t k = 0, cap = 0, failed;
  ssize_t nc;
  size_t *copy_of = NULL, *owner = NULL;
  bool walked = false;
  struct log_read *reads = NULL;
  struct log_upload_block *ub = NULL;
  struct log_upload up = { 0 };
  char *buf = NULL;
  const uint32_t bs = l->t.block_size;
  uint64_t written = 0;
  int r = -1;

  *bytes = 0;
  /* Tried, whatever comes of it: a segment that cannot be read is not
   * read again every round, only after the next walk.
   */
  for (size_t i = 0; i < n; i++)
    segs[i]->done = true;
  for (size_t i = 0; i < n; i++)
    if (collect_live (l, segs[i], &mv, &k, &cap, bytes, &walked) == -1)
      goto out;
  if (k == 0) {
    r = 0;
    goto done;
  }
  qsort (mv, k, sizeof *mv, compare_moved);
  copy_of = malloc (k * sizeof *copy_of);
  owner = malloc (k * sizeof *owner);
  if (copy_of == NULL || owner == NULL) {
    nbdkit_error ("export %s: compaction: %m", l->t.name);
    goto out;
  }
  if ((nc = distinct_copies (l, mv, k, copy_of, owner)) == -1)
    goto out;
  buf = malloc ((size_t) nc * bs);
  reads = calloc (nc, sizeof *reads);
  ub = calloc (nc, sizeof *ub);
  if (buf == NULL || reads == NULL || ub == NULL) {
    nbdkit_error ("export %s: compaction: %m", l->t.name);
    goto out;
  }
  for (size_t c = 0; c < (size_t) nc; c++) {
    reads[c].loc = mv[owner[c]].old;
    reads[c].buf = buf + c * bs;
    *bytes += reads[c].loc.stored_len;
  }
  failed = log_segio_read (&l->io, reads, nc);
  for (size_t j = 0; j < (size_t) nc; j++)
    if (reads[j].err == ENOENT) {
      char key[KEY_MAX];

      /* Gone since its index was read: gc, after a root without it. */
      if (log_segment_key (key, sizeof key, reads[j].loc.seg) == -1)
        snprintf (key, sizeof key, "log/segs/?");
      nbdkit_error ("export %s: compaction: segment %s is gone; its "
                    "blocks are left where the map says", l->t.name, key);
      failed++;
      break;
    }
  if (failed) {
    /* Logged; the next walk decides again. */
    errno = EIO;
    goto out;
  }
  for (size_t c = 0; c < (size_t) nc; c++) {
    ub[c].block = mv[owner[c]].block;
    ub[c].data = reads[c].buf;
    ub[c].hash = &mv[owner[c]].old.hash;        /* the read checked it */
  }
  log_segio_upload (&l->io, ub, nc, false, &up);
  pthread_mutex_lock (&l->t.lock);
  for (size_t s = 0; s < up.nr_segs; s++)
    if (up.segs[s].err == 0) {
      l->t.stats.compact_puts++;
      l->t.stats.compact_written_bytes += up.segs[s].len;
      written += up.segs[s].len;
    }
  pthread_mutex_unlock (&l->t.lock);
  if (install (l, mv, copy_of, ub, &up, k, commit) == -1)
    goto out;
  nbdkit_debug ("export %s: compaction: %zu blocks of %zu segments copied "
                "as %zd records (%" PRIu64 " bytes written)", l->t.name, k, n,
                nc, written);
 done:
  pthread_mutex_lock (&l->t.lock);
  l->t.stats.compact_segments += n;
  l->t.stats.compact_read_bytes += *bytes;
  pthread_mutex_unlock (&l->t.lock);
  *bytes += written;
  r = 0;
 out:
  log_upload_free (&up);
  free (mv);
  free (copy_of);
  free (owner);
  free (reads);
  free (ub);
  free (buf);
  return r;
}
