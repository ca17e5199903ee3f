/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the cas layout's commits: the snapshot of its pending
 * table, the refresh rule over contents (docs/gc-safety.md, steps 4
 * and 10), and the end of a commit.  The root itself (opening it, the
 * page update, the sweep fence, the commit bound, the root PUT) is the
 * map tree's, shared with the log layout: lib/layout/tree/.
 *
 * refresh_before: every content a change refers to whose recorded PUT
 * started before the limit is read back, checked and PUT again; a
 * content found gone is PUT from the copy the layout keeps of every
 * uploaded, uncommitted block (up to keep_limit bytes, max-dirty),
 * else the commit fails, naming it.
 */

#include <config.h>

#include <errno.h>
#include <stddef.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nbdkit-plugin.h>

#include "clock.h"
#include "layout-cas-impl.h"

/* Contents refreshed per batch: bounds the memory it takes. */
#define REFRESH_BATCH 32

static int
compare_changes (const void *a, const void *b)
{
  const struct cas_change *x = a, *y = b;

  return x->index < y->index ? -1 : x->index > y->index;
}

static void
free_commit (struct layout_commit *c)
{
  if (c == NULL)
    return;
  tree_commit_release (&c->t);
  free (c->kept);
  free (c);
}

int
cas_commit_begin (struct layout *base, struct layout_commit **out)
{
  struct cas *l = (struct cas *) base;
  struct layout_commit *c;
  const size_t n = l->pending.count;
  size_t k = 0;

  *out = NULL;
  pthread_mutex_lock (&l->t.lock);
  if (n == 0 && !l->t.size_dirty) {
    pthread_mutex_unlock (&l->t.lock);
    return 0;
  }
  c = calloc (1, sizeof *c);
  if (c) {
    c->t.changes = calloc (n ? n : 1, sizeof *c->t.changes);
    c->t.put_ms = calloc (n ? n : 1, sizeof *c->t.put_ms);
    c->t.seq = calloc (n ? n : 1, sizeof *c->t.seq);
    c->kept = calloc (n ? n : 1, sizeof *c->kept);
  }
  if (c == NULL || c->t.changes == NULL || c->t.put_ms == NULL ||
      c->t.seq == NULL || c->kept == NULL) {
    pthread_mutex_unlock (&l->t.lock);
    nbdkit_error ("calloc: %m");
    free_commit (c);
    errno = ENOMEM;
    return -1;
  }
  for (size_t i = 0; i < l->pending.capacity; i++) {
    const struct cas_pending *p = l->pending.slots[i].value;

    if (p == NULL)
      continue;
    c->t.changes[k].index = l->pending.slots[i].key;
    c->t.changes[k].present = p->present;
    c->t.changes[k].value.hash = p->hash;
    c->t.put_ms[k] = p->put_ms;
    c->t.seq[k] = p->seq;
    c->kept[k] = p->kept;
    k++;
  }
  c->t.n = k;
  c->t.size = l->t.size;
  /* The copies c borrows stay until commit_end. */
  l->committing = true;
  pthread_mutex_unlock (&l->t.lock);

  /* put_ms and seq follow their change through the sort. */
  if (k > 1) {
    struct {
      struct cas_change change;
      uint64_t put_ms, seq;
      const struct cas_kept *kept;
    } *tmp = malloc (k * sizeof *tmp);

    if (tmp == NULL) {
      nbdkit_error ("malloc: %m");
      pthread_mutex_lock (&l->t.lock);
      l->committing = false;
      cas_kept_bury (l);
      pthread_mutex_unlock (&l->t.lock);
      free_commit (c);
      errno = ENOMEM;
      return -1;
    }
    for (size_t i = 0; i < k; i++) {
      tmp[i].change = c->t.changes[i];
      tmp[i].put_ms = c->t.put_ms[i];
      tmp[i].seq = c->t.seq[i];
      tmp[i].kept = c->kept[i];
    }
    qsort (tmp, k, sizeof *tmp, compare_changes);
    for (size_t i = 0; i < k; i++) {
      c->t.changes[i] = tmp[i].change;
      c->t.put_ms[i] = tmp[i].put_ms;
      c->t.seq[i] = tmp[i].seq;
      c->kept[i] = tmp[i].kept;
    }
    free (tmp);
  }
  *out = c;
  return 0;
}

/* A store whose GET can see a PUT in progress (s3rver does) may hand
 * out part of an object that another server is storing again at that
 * moment: read back a content that does not hash to its key a few
 * more times, a little later, before calling it damaged.
 */
#define REREAD_TRIES 3
#define REREAD_DELAY_MS 100

static void
reread_torn (struct cas *l, struct store_op *op, const struct cas_hash *want)
{
  for (unsigned i = 0; i < REREAD_TRIES; i++) {
    struct cas_hash got;

    if (op->err == 0 && op->got == l->t.block_size) {
      cas_hash_of (op->buf, op->got, &got);
      if (cas_hash_equal (&got, want))
        return;
    }
    if (op->err && op->err != ENOENT)
      return;
    nbdkit_debug ("export %s: %s read back torn or absent: reading it "
                  "again", l->t.name, op->key);
    l->t.sleep_ms (REREAD_DELAY_MS);
    op->kind = STORE_GET;
    op->len = l->t.block_size;
    store_run (l->t.store, op, 1);
  }
}

/* Read back, check and PUT again every content of c whose recorded
 * PUT started before the clock read limit, in batches of distinct
 * contents.  Each batch makes its contents young (their new PUT starts
 * later than limit, a past reading), so the loop ends.  Used by the
 * refresh rule (limit: tc - reuse_window) and by the sweep fence
 * (limit: the quiet run's start).
 */
static int
refresh_before (struct tree_root *t, struct tree_commit *tc, uint64_t limit)
{
  struct cas *l = (struct cas *) ((char *) t - offsetof (struct cas, t));
  struct layout_commit *c = (struct layout_commit *) tc;
  struct store_op *ops = calloc (REFRESH_BATCH, sizeof *ops);
  char *bufs = malloc ((size_t) REFRESH_BATCH * l->t.block_size);
  struct cas_hash hashes[REFRESH_BATCH];
  const struct cas_kept *kept[REFRESH_BATCH];
  int r = 0;

  if (ops == NULL || bufs == NULL) {
    nbdkit_error ("export %s: out of memory refreshing old data", l->t.name);
    free (ops);
    free (bufs);
    errno = ENOMEM;
    return -1;
  }
  while (r == 0) {
    size_t n = 0;
    uint64_t t0;

    for (size_t i = 0; i < c->t.n && n < REFRESH_BATCH; i++) {
      bool seen = false;

      if (!c->t.changes[i].present || c->t.put_ms[i] >= limit)
        continue;
      for (size_t j = 0; j < n && !seen; j++)
        if (cas_hash_equal (&hashes[j], &c->t.changes[i].value.hash)) {
          seen = true;
          if (kept[j] == NULL)
            kept[j] = c->kept[i];
        }
      if (!seen) {
        kept[n] = c->kept[i];
        hashes[n++] = c->t.changes[i].value.hash;
      }
    }
    if (n == 0)
      break;

    memset (ops, 0, n * sizeof *ops);
    for (size_t j = 0; j < n; j++) {
      ops[j].kind = STORE_GET;
      ops[j].buf = bufs + j * l->t.block_size;
      ops[j].len = l->t.block_size;
      cas_data_key (ops[j].key, sizeof ops[j].key, &hashes[j]);
    }
    store_run (l->t.store, ops, n);
    for (size_t j = 0; j < n && r == 0; j++) {
      reread_torn (l, &ops[j], &hashes[j]);
      /* Gone (a gc sweep raced its upload, or commits failed for
       * longer than gc's grace): upload it again from the copy kept
       * since the block was written, if there is one.
       */
      if (ops[j].err == ENOENT && kept[j]) {
        memcpy (ops[j].buf, kept[j]->data, l->t.block_size);
        ops[j].err = 0;
        ops[j].got = l->t.block_size;
        nbdkit_debug ("export %s: data object %s was gone: stored again "
                      "from the copy kept until its commit", l->t.name,
                      ops[j].key);
      }
      if (ops[j].err == ENOENT) {
        nbdkit_error ("export %s: data object %s, stored earlier and "
                      "not committed since, is gone (deleted by gc while "
                      "commits were failing, or by a gc sweep that raced "
                      "its upload): the flush fails; writing the block "
                      "again stores it again", l->t.name, ops[j].key);
        errno = EIO;
        r = -1;
      }
      else if (ops[j].err) {
        errno = ops[j].err;
        r = -1;
      }
      else
        r = cas_check_data (l, &ops[j], &hashes[j]);
    }
    if (r == -1)
      break;

    t0 = l->t.clock_ms ();
    for (size_t j = 0; j < n; j++) {
      ops[j].kind = STORE_PUT;
      ops[j].len = l->t.block_size;
      ops[j].gate = l->t.gate;
    }
    store_run (l->t.store, ops, n);
    for (size_t j = 0; j < n && r == 0; j++)
      if (ops[j].err) {
        nbdkit_error ("export %s: cannot refresh data object %s (%s)",
                      l->t.name, ops[j].key, strerror (ops[j].err));
        errno = ops[j].err;
        r = -1;
      }
    if (r == -1)
      break;
    /* A clock that has not moved since limit was read (ms resolution)
     * still counts these PUTs as after it: they began after limit was
     * read, in this thread.
     */
    if (t0 < limit)
      t0 = limit;
    for (size_t i = 0; i < c->t.n; i++)
      for (size_t j = 0; j < n; j++)
        if (c->t.changes[i].present &&
            cas_hash_equal (&c->t.changes[i].value.hash, &hashes[j]))
          c->t.put_ms[i] = t0;
    pthread_mutex_lock (&l->t.lock);
    for (size_t j = 0; j < n; j++)
      cas_recent_put (l, &hashes[j], t0);
    pthread_mutex_unlock (&l->t.lock);
    c->t.refreshes += n;
  }
  free (ops);
  free (bufs);
  return r;
}

static void
forget_before (struct tree_root *t, uint64_t ms)
{
  cas_recent_forget_before ((struct cas *) ((char *) t -
                                            offsetof (struct cas, t)), ms);
}

static void
wrong_leaf (struct tree_root *t)
{
  /* Its leaves name places in segments, not contents. */
  nbdkit_error ("export %s: its root %s says \"leaf location\": it "
                "uses the log layout, which the cas layout cannot read",
                t->name, t->root_key);
}

const struct tree_root_ops cas_tree_ops = {
  .refresh_before = refresh_before,
  .forget_before = forget_before,
  .wrong_leaf = wrong_leaf,
  .layout = "cas",
};

int
cas_load_map (struct layout *base, uint64_t nr_blocks)
{
  return tree_load_map (&((struct cas *) base)->t, nr_blocks);
}

int
cas_commit_write (struct layout *base, struct layout_commit *c)
{
  return tree_commit_write (&((struct cas *) base)->t, &c->t);
}

void
cas_commit_end (struct layout *base, struct layout_commit *c, bool ok)
{
  struct cas *l = (struct cas *) base;

  pthread_mutex_lock (&l->t.lock);
  if (ok) {
    tree_commit_landed (&l->t, &c->t);
    /* Only entries that did not change since the snapshot are in. */
    for (size_t i = 0; i < c->t.n; i++) {
      struct cas_pending *p = u64map_get (&l->pending, c->t.changes[i].index);

      if (p && p->seq == c->t.seq[i]) {
        u64map_remove (&l->pending, c->t.changes[i].index);
        cas_kept_release (l, p->kept);
        free (p);
      }
    }
  }
  else
    /* Content refreshed by the failed commit need not be again. */
    for (size_t i = 0; i < c->t.n; i++) {
      struct cas_pending *p = u64map_get (&l->pending, c->t.changes[i].index);

      if (p && p->seq == c->t.seq[i] && p->put_ms < c->t.put_ms[i])
        p->put_ms = c->t.put_ms[i];
    }
  /* Refreshed content was PUT again either way. */
  l->t.stats.refreshes += c->t.refreshes;
  l->committing = false;
  cas_kept_bury (l);
  pthread_mutex_unlock (&l->t.lock);
  free_commit (c);
}
