/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the log layout's compaction: its step, its choice and its
 * bandwidth bound (docs/log-layout.md, "Compaction").
 *
 * The volume calls maintain from the background round (one call at a
 * time); each call does at most one step:
 *   usage    (re)walk the committed map into the usage table when it
 *            has no candidate left and a root landed since its last
 *            walk (log-compact-usage.c)
 *   choice   the least live segments below the threshold, greedily,
 *            as many as one new segment holds; or, when at least eight
 *            are smaller than an eighth of segment-size, those merged
 *   copy     read their live blocks, write them into new segments,
 *            make them pending changes where the block has not moved
 *            (log-compact-copy.c); the volume then commits as a flush
 * After a step that moved B bytes (read plus written) the next waits
 * B / log-compact-rate seconds: the average stays within the rate, and
 * one step holds at most about one segment's worth of live blocks and
 * one segment built (2 x segment-size), and the segment reader's round
 * of GETs while it reads (docs/log-layout.md, "Compaction", as built).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "layout-log-impl.h"

#define SMALL_DIVISOR 8                 /* small: < segment-size / 8 */
#define SMALL_MIN 8                     /* merged when at least this many */

void
log_compact_init (struct log *l, uint64_t rate, unsigned threshold_pm)
{
  struct log_compact *c = &l->compact;

  c->rate = rate;
  c->threshold_pm = threshold_pm;
  pthread_mutex_init (&c->busy, NULL);
  c->inited = true;
}

void
log_compact_free (struct log *l)
{
  if (!l->compact.inited)
    return;
  log_usage_free (l);
  pthread_mutex_destroy (&l->compact.busy);
  l->compact.inited = false;
}

static bool
low_live (const struct log *l, const struct log_usage *u)
{
  return u->live * 1000 < (uint64_t) l->compact.threshold_pm * u->data;
}

static bool
small (const struct log *l, const struct log_usage *u)
{
  return u->data < l->io.segment_size / SMALL_DIVISOR;
}

/* Least live first; small segments (above the threshold) after. */
static int
compare_live (const void *a, const void *b)
{
  const struct log_usage *x = *(struct log_usage *const *) a;
  const struct log_usage *y = *(struct log_usage *const *) b;
  /* x->live / x->data < y->live / y->data, without division. */
  const unsigned __int128 lx = (unsigned __int128) x->live * y->data;
  const unsigned __int128 ly = (unsigned __int128) y->live * x->data;

  return lx < ly ? -1 : lx > ly;
}

/* The segments of one step, into out (the table's entries), *n of
 * them; 0 and *n 0 when there is nothing to do, -1 (ENOMEM).
 */
static int
choose (struct log *l, struct log_usage ***out, size_t *n)
{
  struct log_usage **cand = NULL;
  size_t k = 0, nsmall = 0, nlow = 0, take = 0;
  uint64_t room = l->io.segment_size, need = 0;

  *out = NULL;
  *n = 0;
  if (l->compact.nr == 0)
    return 0;
  cand = calloc (l->compact.nr, sizeof *cand);
  if (cand == NULL) {
    nbdkit_error ("export %s: compaction: %m", l->t.name);
    return -1;
  }
  for (size_t i = 0; i < l->compact.table.capacity; i++)
    for (struct log_usage *u = l->compact.table.slots[i].value; u;
         u = u->next)
      if (u->seen && !u->done && u->data > 0) {
        if (low_live (l, u))
          nlow++;
        else if (small (l, u))
          nsmall++;
        else
          continue;
        cand[k++] = u;
      }
  if (nsmall < SMALL_MIN) {
    /* Only the low ones. */
    size_t j = 0;

    for (size_t i = 0; i < k; i++)
      if (low_live (l, cand[i]))
        cand[j++] = cand[i];
    k = j;
  }
  qsort (cand, k, sizeof *cand, compare_live);
  /* As many as one new segment holds: their live bytes and records. */
  for (take = 0; take < k; take++) {
    const uint64_t cost = cand[take]->live +
      cand[take]->live / l->t.block_size * LOG_SEG_RECORD;

    if (take > 0 && need + cost + LOG_SEG_DATA_START (0) > room)
      break;
    need += cost;
  }
  /* A small segment alone would be copied into one as small. */
  if (take == 1 && !low_live (l, cand[0])) {
    cand[0]->done = true;
    take = 0;
  }
  if (take == 0) {
    free (cand);
    return 0;
  }
  *out = cand;
  *n = take;
  return 0;
}

/* The next step waits until bytes have had their share of the rate. */
static void
charge (struct log *l, uint64_t bytes)
{
  const uint64_t now = l->t.clock_ms ();

  l->compact.next_ms = now + bytes * 1000 / l->compact.rate;
}

int
log_maintain (struct layout *base, bool *commit)
{
  struct log *l = (struct log *) base;
  struct log_compact *c = &l->compact;
  struct log_usage **segs = NULL;
  uint64_t bytes = 0, landed;
  size_t n = 0;
  bool have_root;
  int r = 0;

  *commit = false;
  if (c->rate == 0 || l->t.readonly || !c->inited)
    return 0;
  if (pthread_mutex_trylock (&c->busy) != 0)
    return 0;                   /* a step is running */
  if (l->t.clock_ms () < c->next_ms)
    goto out;
  pthread_mutex_lock (&l->t.lock);
  landed = l->t.stats.roots_written;
  have_root = l->t.have_root;
  pthread_mutex_unlock (&l->t.lock);
  if (!have_root)
    goto out;

  if (c->built && (r = choose (l, &segs, &n)) == -1)
    goto out;
  if (n == 0 && (!c->built || c->built_landed != landed)) {
    r = log_usage_build (l, &bytes);
    pthread_mutex_lock (&l->t.lock);
    l->t.stats.compact_read_bytes += bytes;
    pthread_mutex_unlock (&l->t.lock);
    if (r == 0)
      r = choose (l, &segs, &n);
    if (r == -1)
      goto out;
  }
  if (n > 0) {
    uint64_t copied = 0;

    r = log_compact_copy (l, segs, n, &copied, commit);
    bytes += copied;
  }
 out:
  if (bytes)
    charge (l, bytes);
  free (segs);
  pthread_mutex_unlock (&c->busy);
  return r;
}
