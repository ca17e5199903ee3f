/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the log layout's root: opening it, and commits
 * (docs/log-layout.md, "Writing", 4, and "Crash safety").
 *
 * The cas commit, in order and in its gc rules, over segments:
 *   refresh_before   at the start (Tc), every segment a change refers
 *                    to whose recorded PUT is older than
 *                    Tc - reuse_window is PUT again, same key and
 *                    bytes, from the kept copy or read back whole and
 *                    checked; a segment gone with no copy fails the
 *                    commit, naming it (docs/gc-safety.md, steps 4, 10)
 *   pages            the paths of changed blocks, log leaves first
 *   fence            the sweep markers' LIST just before the root PUT,
 *                    refreshing what was PUT at or before the quiet
 *                    run's start (docs/gc-safety.md, step 9)
 *   the commit bound the root PUT starts only if it can end by
 *                    Tc + commit_bound (docs/gc-safety.md, step 4)
 *   the root         one PUT, "leaf location", If-Match the previous
 *                    ETag where the store can
 * Segments are never overwritten with other bytes and pages are named
 * by content, so until the root PUT lands the old root describes the
 * previous commit exactly: a crash anywhere leaves one flushed state.
 *
 * The root side (opening it, pages, fence, bound, root PUT) is the
 * map tree's, shared with the cas layout (lib/layout/tree/); this file
 * has the snapshot of the pending table, the refresh rule over
 * segments and the end of a commit.
 */

#include <config.h>

#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "clock.h"
#include "layout-log-impl.h"

static void
free_commit (struct layout_commit *c)
{
  if (c == NULL)
    return;
  tree_commit_release (&c->t);
  free (c->kept);
  free (c);
}

struct snap {
  struct cas_change change;
  uint64_t put_ms, seq;
  const struct log_kept *kept;
};

static int
compare_snaps (const void *a, const void *b)
{
  const struct snap *x = a, *y = b;

  return x->change.index < y->change.index ? -1
    : x->change.index > y->change.index;
}

int
log_commit_begin (struct layout *base, struct layout_commit **out)
{
  struct log *l = (struct log *) base;
  struct layout_commit *c = NULL;
  struct snap *tmp = NULL;
  size_t n, k = 0;

  *out = NULL;
  pthread_mutex_lock (&l->t.lock);
  n = l->pending.count;
  if (n == 0 && !l->t.size_dirty) {
    pthread_mutex_unlock (&l->t.lock);
    return 0;
  }
  c = calloc (1, sizeof *c);
  tmp = calloc (n ? n : 1, sizeof *tmp);
  if (c) {
    c->t.changes = calloc (n ? n : 1, sizeof *c->t.changes);
    c->t.put_ms = calloc (n ? n : 1, sizeof *c->t.put_ms);
    c->t.seq = calloc (n ? n : 1, sizeof *c->t.seq);
    c->kept = calloc (n ? n : 1, sizeof *c->kept);
  }
  if (c == NULL || tmp == NULL || c->t.changes == NULL ||
      c->t.put_ms == NULL || c->t.seq == NULL || c->kept == NULL) {
    pthread_mutex_unlock (&l->t.lock);
    nbdkit_error ("calloc: %m");
    free_commit (c);
    free (tmp);
    errno = ENOMEM;
    return -1;
  }
  for (size_t i = 0; i < l->pending.capacity; i++) {
    const struct log_pending *p = l->pending.slots[i].value;

    if (p == NULL || p->lost)
      continue;
    tmp[k].change.index = l->pending.slots[i].key;
    tmp[k].change.present = p->present;
    tmp[k].change.value.loc = p->loc;
    tmp[k].change.value.hash = p->loc.hash;
    tmp[k].put_ms = p->put_ms;
    tmp[k].seq = p->seq;
    tmp[k].kept = p->kept;
    k++;
  }
  if (k == 0 && !l->t.size_dirty) {
    /* Only lost blocks: nothing to commit. */
    pthread_mutex_unlock (&l->t.lock);
    free_commit (c);
    free (tmp);
    return 0;
  }
  c->t.n = k;
  c->t.size = l->t.size;
  /* The copies c borrows stay until commit_end. */
  l->committing = true;
  pthread_mutex_unlock (&l->t.lock);

  qsort (tmp, k, sizeof *tmp, compare_snaps);
  for (size_t i = 0; i < k; i++) {
    c->t.changes[i] = tmp[i].change;
    c->t.put_ms[i] = tmp[i].put_ms;
    c->t.seq[i] = tmp[i].seq;
    c->kept[i] = tmp[i].kept;
  }
  free (tmp);
  *out = c;
  return 0;
}

/* What a change naming a gone segment becomes (rebuild_gone). */
enum gone_fix {
  GONE_OTHER,                   /* names another segment */
  GONE_COMMITTED,               /* the committed map's location */
  GONE_STORED_AGAIN,            /* stored again from its block copy */
  GONE_LOST,                    /* neither: the block's write is lost */
};

/* Per change of the commit: the committed map's value and the fix. */
struct gone_change {
  bool committed;               /* the committed map has the block */
  struct cas_value value;       /* its value there, or the new one */
  enum gone_fix fix;
};

/* Segment id is gone and no whole copy of it is kept
 * (docs/gc-safety.md, step 10).  Every change naming it is moved:
 *   - a change that leaves its block's content as the committed map
 *     has it elsewhere (a compaction's move) goes back to that
 *     location, which the root being replaced names;
 *   - a change that keeps a copy of its block (a dedup's) has it
 *     stored again in a new segment, PUT now;
 *   - any other (an upload past keep_limit) is lost: the change
 *     becomes the committed map's value, so this commit leaves the
 *     block as it was, and the pending entry, unless it changed since,
 *     is marked lost (never committed, read as an error) rather than
 *     failing every later commit.
 * In c and in the pending table.  *nr_lost: how many were lost.
 * 0, or -1 if a request failed.
 */
static int
rebuild_gone (struct log *l, struct layout_commit *c,
              const uint8_t id[LOG_SEG_ID_LEN], size_t *nr_lost)
{
  const size_t n = c->t.n ? c->t.n : 1;
  struct gone_change *g = calloc (n, sizeof *g);
  struct log_upload_block *blocks = calloc (n, sizeof *blocks);
  size_t *which = calloc (n, sizeof *which);
  struct log_upload up = { 0 };
  size_t k = 0;
  int r = -1;

  *nr_lost = 0;
  if (g == NULL || blocks == NULL || which == NULL) {
    nbdkit_error ("calloc: %m");
    errno = ENOMEM;
    goto out;
  }
  for (size_t j = 0; j < c->t.n; j++) {
    const struct cas_change *ch = &c->t.changes[j];

    if (!ch->present || memcmp (ch->value.loc.seg, id, LOG_SEG_ID_LEN))
      continue;
    if (cas_tree_lookup (l->t.tree, ch->index, &g[j].committed,
                         &g[j].value) == -1)
      goto out;
    if (g[j].committed &&
        cas_hash_equal (&g[j].value.loc.hash, &ch->value.loc.hash) &&
        memcmp (g[j].value.loc.seg, id, LOG_SEG_ID_LEN) != 0)
      g[j].fix = GONE_COMMITTED;
    else if (c->kept[j] && c->kept[j]->block_only) {
      g[j].fix = GONE_STORED_AGAIN;
      blocks[k].block = ch->index;      /* c is in block order */
      blocks[k].data = c->kept[j]->bytes;
      which[k++] = j;
    }
    else
      g[j].fix = GONE_LOST;
  }
  if (k && log_segio_upload (&l->io, blocks, k, false, &up) > 0) {
    for (size_t b = 0; b < k; b++)
      if (blocks[b].err) {
        errno = blocks[b].err;
        break;
      }
    goto out;
  }

  pthread_mutex_lock (&l->t.lock);
  for (size_t s = 0; s < up.nr_segs; s++) {
    l->t.stats.segments_written++;
    l->t.stats.segment_bytes += up.segs[s].len;
  }
  for (size_t b = 0; b < k; b++) {
    g[which[b]].value.loc = blocks[b].loc;
    c->t.put_ms[which[b]] = up.segs[blocks[b].seg].put_ms;
  }
  for (size_t j = 0; j < c->t.n; j++) {
    struct cas_change *ch = &c->t.changes[j];
    struct log_pending *p;

    if (g[j].fix == GONE_OTHER)
      continue;
    p = u64map_get (&l->pending, ch->index);
    if (p && p->seq != c->t.seq[j])
      p = NULL;                 /* written since: not ours to change */
    if (g[j].fix == GONE_LOST) {
      /* The committed value: a change that changes nothing. */
      (*nr_lost)++;
      ch->present = g[j].committed;
      ch->value = g[j].value;
      c->t.put_ms[j] = UINT64_MAX;
      if (p) {
        log_kept_release (l, p->kept);
        p->kept = NULL;
        p->lost = true;
        p->present = true;      /* extents: data, not a hole */
        memset (&p->loc, 0, sizeof p->loc);
        p->seq = ++l->seq;      /* commit_end must not drop it */
        l->lost_unreported++;
      }
      continue;
    }
    if (g[j].fix == GONE_COMMITTED)
      c->t.put_ms[j] = UINT64_MAX;
    ch->value.loc = g[j].value.loc;
    ch->value.hash = g[j].value.loc.hash;
    if (p) {
      p->loc = g[j].value.loc;
      p->put_ms = c->t.put_ms[j];
    }
  }
  log_recent_forget_segment (l, id);
  pthread_mutex_unlock (&l->t.lock);
  c->t.relocated = true;        /* pages built before now are stale */
  if (k)
    nbdkit_debug ("export %s: a segment gone before its commit: %zu "
                  "deduplicated blocks stored again from their copies",
                  l->t.name, k);
  r = 0;
 out:
  log_upload_free (&up);
  free (g);
  free (blocks);
  free (which);
  return r;
}

/* PUT segment i's again (its change's segment), from a kept copy or
 * read back whole and checked.  *put_ms: the new PUT's start; *undone:
 * it was gone, and every change naming it moved (rebuild_gone), of
 * which *nr_lost were lost (logged here).
 */
static int
refresh_segment (struct log *l, struct layout_commit *c, size_t i,
                 uint64_t *put_ms, bool *undone, size_t *nr_lost)
{
  uint8_t id[LOG_SEG_ID_LEN];  /* a copy: rebuild_gone moves change i */
  const struct log_kept *k = NULL;
  void *bytes = NULL;
  size_t len = 0;
  bool found = true;
  char key[KEY_MAX];
  int r;

  *undone = false;
  memcpy (id, c->t.changes[i].value.loc.seg, sizeof id);
  for (size_t j = 0; j < c->t.n && k == NULL; j++)
    if (c->kept[j] && !c->kept[j]->block_only &&
        memcmp (c->kept[j]->id, id, LOG_SEG_ID_LEN) == 0)
      k = c->kept[j];
  if (k)
    /* gc-safety.md, step 10: the copy kept since the upload. */
    return log_segio_put_again (&l->io, id, k->bytes, k->len, put_ms);
  if (log_segio_read_segment (&l->io, id, &bytes, &len, &found) == -1)
    return -1;
  if (found) {
    r = log_segio_put_again (&l->io, id, bytes, len, put_ms);
    free (bytes);
    return r;
  }
  if (rebuild_gone (l, c, id, nr_lost) == -1)
    return -1;
  *undone = true;
  if (*nr_lost == 0)
    return 0;
  /* An upload past keep_limit (max-dirty) whose commit failed for
   * longer than gc's grace: the flush that should have carried it
   * fails, once (refresh_before); the next commits go on without it.
   */
  if (log_segment_key (key, sizeof key, id) == -1)
    snprintf (key, sizeof key, "log/segs/?");
  nbdkit_error ("export %s: segment %s, uploaded and not yet committed, "
                "is gone (deleted by gc after commits failed for longer "
                "than its grace) and no copy of it was kept: %zu blocks "
                "written since the last successful flush are lost; the "
                "flush fails, and they read as errors until written "
                "again", l->t.name, key, *nr_lost);
  return 0;
}

/* The refresh rule (docs/gc-safety.md, step 4, rule 1): PUT again every
 * segment a present change relies on whose recorded PUT started before
 * limit, one segment at a time.  Each makes its changes young (a PUT
 * starting after limit was read), so the loop ends.
 */
static int
refresh_before (struct tree_root *t, struct tree_commit *tc, uint64_t limit)
{
  struct log *l = (struct log *) ((char *) t - offsetof (struct log, t));
  struct layout_commit *c = (struct layout_commit *) tc;
  size_t lost = 0;

  for (;;) {
    size_t i, nr_lost = 0;
    uint64_t t0;
    bool undone;

    for (i = 0; i < c->t.n; i++)
      if (c->t.changes[i].present && c->t.put_ms[i] < limit)
        break;
    if (i == c->t.n)
      break;
    if (refresh_segment (l, c, i, &t0, &undone, &nr_lost) == -1)
      return -1;
    lost += nr_lost;
    if (undone)
      continue;               /* no change names it any more */
    if (t0 < limit)
      t0 = limit;
    {
      uint8_t id[LOG_SEG_ID_LEN];

      memcpy (id, c->t.changes[i].value.loc.seg, sizeof id);
      for (size_t j = 0; j < c->t.n; j++)
        if (c->t.changes[j].present &&
            memcmp (c->t.changes[j].value.loc.seg, id, sizeof id) == 0 &&
            c->t.put_ms[j] < t0)
          c->t.put_ms[j] = t0;
      pthread_mutex_lock (&l->t.lock);
      log_recent_refreshed (l, id, t0);
      pthread_mutex_unlock (&l->t.lock);
    }
    c->t.refreshes++;
  }
  if (lost) {
    /* Every gone segment was handled: the next commit goes on. */
    errno = EIO;
    return -1;
  }
  return 0;
}

static void
forget_before (struct tree_root *t, uint64_t ms)
{
  log_recent_forget_before ((struct log *) ((char *) t -
                                            offsetof (struct log, t)), ms);
}

static void
wrong_leaf (struct tree_root *t)
{
  /* Its leaves name contents under cas/data/, not places in segments:
   * the first one read would be refused as damaged.
   */
  nbdkit_error ("export %s: its root %s says \"leaf hash\": it uses "
                "the cas layout, not the log layout; refusing to "
                "serve it as a log export", t->name, t->root_key);
}

const struct tree_root_ops log_tree_ops = {
  .refresh_before = refresh_before,
  .forget_before = forget_before,
  .wrong_leaf = wrong_leaf,
  .layout = "log",
};

int
log_load_map (struct layout *base, uint64_t nr_blocks)
{
  return tree_load_map (&((struct log *) base)->t, nr_blocks);
}

int
log_commit_write (struct layout *base, struct layout_commit *c)
{
  return tree_commit_write (&((struct log *) base)->t, &c->t);
}

void
log_commit_end (struct layout *base, struct layout_commit *c, bool ok)
{
  struct log *l = (struct log *) base;

  pthread_mutex_lock (&l->t.lock);
  if (ok) {
    tree_commit_landed (&l->t, &c->t);
    /* Only entries that did not change since the snapshot are in. */
    for (size_t i = 0; i < c->t.n; i++) {
      struct log_pending *p = u64map_get (&l->pending, c->t.changes[i].index);

      if (p && p->seq == c->t.seq[i]) {
        u64map_remove (&l->pending, c->t.changes[i].index);
        log_kept_release (l, p->kept);
        free (p);
      }
    }
  }
  else
    /* Segments refreshed by the failed commit need not be again. */
    for (size_t i = 0; i < c->t.n; i++) {
      struct log_pending *p = u64map_get (&l->pending, c->t.changes[i].index);

      if (p && p->seq == c->t.seq[i] && p->put_ms < c->t.put_ms[i])
        p->put_ms = c->t.put_ms[i];
    }
  l->t.stats.refreshes += c->t.refreshes;
  l->committing = false;
  log_kept_bury (l);
  pthread_mutex_unlock (&l->t.lock);
  free_commit (c);
}
