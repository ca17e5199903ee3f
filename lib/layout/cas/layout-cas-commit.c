/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the cas layout's root: opening it, and commits.
 *
 * A commit makes the blocks run stored (and freed) visible, in one
 * step: the new map pages first, then one PUT of the root, carrying
 * the lease's gate, and If-Match the root's previous ETag where the
 * store has conditional PUT.  Data and pages are content-addressed and
 * never rewritten with other bytes, so until the root PUT lands the
 * old root still describes exactly the previous commit: a crash at any
 * request leaves the export reading as after some completed commit,
 * never a mix.  A failed commit keeps its changes pending; the next
 * flush (or write-back round) commits them.
 *
 * Beside a running gc, a commit keeps the writer's rule 1 and the
 * server's side of the sweep fence (docs/gc-safety.md, steps 4, 9 and
 * 10):
 *   refresh_before   at the start (Tc), every content a change refers
 *                    to whose recorded PUT is older than
 *                    Tc - reuse_window is read back, checked and PUT
 *                    again; a content found gone is PUT from the copy
 *                    the layout keeps of every uploaded, uncommitted
 *                    block (up to keep_limit bytes, max-dirty), else
 *                    the commit fails, naming it
 *   fence            just before the root PUT: a LIST of gc's sweep
 *                    markers that continues the quiet run load_map
 *                    started, waiting while a chunk runs, and PUTting
 *                    again what the root first references that was PUT
 *                    before the run began
 *   the commit bound the root PUT starts only if it can end by
 *                    Tc + commit_bound; the root records both windows
 */

#include <config.h>

#include <errno.h>
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

static uint64_t
ms_to_s_up (uint64_t ms)
{
  return (ms + 999) / 1000;
}

/* PUT a root and learn its new ETag.  If-Match answering "changed" may
 * be our own earlier attempt that landed before its answer was lost:
 * a root that reads back as exactly what we sent is ours.  0, or -1
 * after a message.
 */
static int
put_root (struct cas *l, const struct cas_root *r,
          enum store_condition cond, const char *if_match, char *etag)
{
  char buf[CAS_ROOT_MAX], back[CAS_ROOT_MAX];
  int len = cas_root_format (buf, sizeof buf, r);
  struct store_op op = {
    .kind = STORE_PUT, .buf = buf, .condition = cond, .gate = l->gate,
  };
  size_t got = 0;

  if (len == -1) {
    nbdkit_error ("export %s: its root does not fit in %d bytes: this is "
                  "a bug", l->name, CAS_ROOT_MAX);
    errno = ENAMETOOLONG;
    return -1;
  }
  op.len = len;
  snprintf (op.key, sizeof op.key, "%s", l->root_key);
  if (if_match)
    snprintf (op.if_match, sizeof op.if_match, "%s", if_match);
  store_run (l->store, &op, 1);
  if (op.err == ESTALE &&
      store_get_etag (l->store, l->root_key, back, sizeof back, &got,
                      etag) == 0 &&
      got == (size_t) len && memcmp (back, buf, len) == 0)
    return 0;
  if (op.err == ESTALE || op.err == EEXIST) {
    nbdkit_error ("export %s: its root %s was %s by another writer (another "
                  "server, or the admin command) since this server read "
                  "it; refusing to overwrite it: this flush fails, and "
                  "restarting the server serves the new root", l->name,
                  l->root_key, op.err == EEXIST ? "created" : "changed");
    errno = op.err;
    return -1;
  }
  if (op.err) {
    /* A gate's refusal is explained by the lease, others by the store. */
    nbdkit_error ("export %s: cannot write its root %s (%s)", l->name,
                  l->root_key, strerror (op.err));
    errno = op.err;
    return -1;
  }
  memcpy (etag, op.etag, STORE_ETAG_MAX);
  return 0;
}

/* A new export's root: empty, with a fresh incarnation. */
static int
create_root (struct cas *l, uint64_t nr_blocks)
{
  struct cas_root *r = l->root;
  const bool cond = store_can (l->store, STORE_CAP_CONDITIONAL_PUT);
  const int64_t now = clock_wall_s ();

  memset (r, 0, sizeof *r);
  r->kind = CAS_ROOT_EXPORT;
  snprintf (r->name, sizeof r->name, "%s", l->name);
  if (cas_new_incarnation (r->incarnation) == -1)
    return -1;
  r->size = l->size;
  r->block_size = l->block_size;
  r->depth = cas_depth_for (CAS_LEAF_HASH, nr_blocks);
  r->empty = true;
  r->created = r->committed = now;
  r->reuse_window_s = ms_to_s_up (l->reuse_window_ms);
  r->commit_bound_s = ms_to_s_up (l->commit_bound_ms);
  if (put_root (l, r, cond ? STORE_CREATE_ONLY : STORE_ALWAYS, NULL,
                l->etag) == -1)
    return -1;
  l->stats.roots_written++;
  nbdkit_debug ("export %s: created its root %s (incarnation %s)", l->name,
                l->root_key, r->incarnation);
  return 0;
}

int
cas_load_map (struct layout *base, uint64_t nr_blocks)
{
  struct cas *l = (struct cas *) base;
  struct cas_root *r = l->root;
  enum cas_fence_state st;

  if (!l->have_root) {
    bool found;

    if (cas_root_read (l->store, l->root_key, r, l->etag, &found) == -1)
      return -1;
    if (!found && !l->create) {
      nbdkit_error ("export %s: its root %s is missing: the export's "
                    "metadata says it uses the cas layout, but without "
                    "its root there is no map of its blocks (restore it, "
                    "or delete the export with the admin command)",
                    l->name, l->root_key);
      errno = ENOENT;
      return -1;
    }
    if (!found && l->readonly) {
      nbdkit_error ("export %s: its root %s is missing, and a read-only "
                    "server does not create exports", l->name, l->root_key);
      errno = ENOENT;
      return -1;
    }
    if (!found) {
      if (create_root (l, nr_blocks) == -1)
        return -1;
    }
    else if (l->create && (!r->empty || r->generation > 0)) {
      /* A root without its metadata: a crash before the metadata of a
       * new export was written leaves an empty one, which is adopted.
       */
      nbdkit_error ("export %s has no metadata object, but its root %s "
                    "holds %" PRIu64 " blocks: refusing to start it over; "
                    "restore the metadata, or delete the export with the "
                    "admin command", l->name, l->root_key, r->blocks);
      errno = EEXIST;
      return -1;
    }
    l->have_root = true;
  }
  if (r->leaf != CAS_LEAF_HASH) {
    /* Its leaves name places in segments, not contents: the first one
     * read would be refused as damaged.  Say what it is instead.
     */
    nbdkit_error ("export %s: its root %s says \"leaf location\": it "
                  "uses the log layout, which this version does not "
                  "serve", l->name, l->root_key);
    errno = EINVAL;
    return -1;
  }
  /* Start a quiet run of the sweep fence: a server writing nothing
   * while gc sweeps re-PUTs nothing at its first commit.  Read-only
   * servers write nothing, so need none.
   */
  if (!l->readonly &&
      cas_fence_list (&l->fence, l->store, l->clock_ms, l->name,
                      &st) == -1)
    return -1;
  if (r->block_size != l->block_size) {
    nbdkit_error ("export %s: its root %s says block-size %" PRIu32
                  ", its metadata %" PRIu32 ": refusing to misread its "
                  "blocks", l->name, l->root_key, r->block_size,
                  l->block_size);
    errno = EINVAL;
    return -1;
  }
  if (r->size != l->size && !l->readonly)
    l->size_dirty = true;
  cas_tree_set_top (l->tree, r->empty ? NULL : &r->top, r->depth);
  nbdkit_debug ("export %s: root %s: generation %" PRIu64 ", %" PRIu64
                " blocks, depth %u", l->name, l->root_key, r->generation,
                r->blocks, r->depth);
  return 0;
}

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
  free (c->changes);
  free (c->put_ms);
  free (c->seq);
  free (c->kept);
  free (c->root);
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
  pthread_mutex_lock (&l->lock);
  if (n == 0 && !l->size_dirty) {
    pthread_mutex_unlock (&l->lock);
    return 0;
  }
  c = calloc (1, sizeof *c);
  if (c) {
    c->changes = calloc (n ? n : 1, sizeof *c->changes);
    c->put_ms = calloc (n ? n : 1, sizeof *c->put_ms);
    c->seq = calloc (n ? n : 1, sizeof *c->seq);
    c->kept = calloc (n ? n : 1, sizeof *c->kept);
  }
  if (c == NULL || c->changes == NULL || c->put_ms == NULL ||
      c->seq == NULL || c->kept == NULL) {
    pthread_mutex_unlock (&l->lock);
    nbdkit_error ("calloc: %m");
    free_commit (c);
    errno = ENOMEM;
    return -1;
  }
  for (size_t i = 0; i < l->pending.capacity; i++) {
    const struct cas_pending *p = l->pending.slots[i].value;

    if (p == NULL)
      continue;
    c->changes[k].index = l->pending.slots[i].key;
    c->changes[k].present = p->present;
    c->changes[k].value.hash = p->hash;
    c->put_ms[k] = p->put_ms;
    c->seq[k] = p->seq;
    c->kept[k] = p->kept;
    k++;
  }
  c->n = k;
  c->size = l->size;
  /* The copies c borrows stay until commit_end. */
  l->committing = true;
  pthread_mutex_unlock (&l->lock);

  /* put_ms and seq follow their change through the sort. */
  if (k > 1) {
    struct {
      struct cas_change change;
      uint64_t put_ms, seq;
      const struct cas_kept *kept;
    } *tmp = malloc (k * sizeof *tmp);

    if (tmp == NULL) {
      nbdkit_error ("malloc: %m");
      pthread_mutex_lock (&l->lock);
      l->committing = false;
      cas_kept_bury (l);
      pthread_mutex_unlock (&l->lock);
      free_commit (c);
      errno = ENOMEM;
      return -1;
    }
    for (size_t i = 0; i < k; i++) {
      tmp[i].change = c->changes[i];
      tmp[i].put_ms = c->put_ms[i];
      tmp[i].seq = c->seq[i];
      tmp[i].kept = c->kept[i];
    }
    qsort (tmp, k, sizeof *tmp, compare_changes);
    for (size_t i = 0; i < k; i++) {
      c->changes[i] = tmp[i].change;
      c->put_ms[i] = tmp[i].put_ms;
      c->seq[i] = tmp[i].seq;
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

    if (op->err == 0 && op->got == l->block_size) {
      cas_hash_of (op->buf, op->got, &got);
      if (cas_hash_equal (&got, want))
        return;
    }
    if (op->err && op->err != ENOENT)
      return;
    nbdkit_debug ("export %s: %s read back torn or absent: reading it "
                  "again", l->name, op->key);
    l->sleep_ms (REREAD_DELAY_MS);
    op->kind = STORE_GET;
    op->len = l->block_size;
    store_run (l->store, op, 1);
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
refresh_before (struct cas *l, struct layout_commit *c, uint64_t limit)
{
  struct store_op *ops = calloc (REFRESH_BATCH, sizeof *ops);
  char *bufs = malloc ((size_t) REFRESH_BATCH * l->block_size);
  struct cas_hash hashes[REFRESH_BATCH];
  const struct cas_kept *kept[REFRESH_BATCH];
  int r = 0;

  if (ops == NULL || bufs == NULL) {
    nbdkit_error ("export %s: out of memory refreshing old data", l->name);
    free (ops);
    free (bufs);
    errno = ENOMEM;
    return -1;
  }
  while (r == 0) {
    size_t n = 0;
    uint64_t t0;

    for (size_t i = 0; i < c->n && n < REFRESH_BATCH; i++) {
      bool seen = false;

      if (!c->changes[i].present || c->put_ms[i] >= limit)
        continue;
      for (size_t j = 0; j < n && !seen; j++)
        if (cas_hash_equal (&hashes[j], &c->changes[i].value.hash)) {
          seen = true;
          if (kept[j] == NULL)
            kept[j] = c->kept[i];
        }
      if (!seen) {
        kept[n] = c->kept[i];
        hashes[n++] = c->changes[i].value.hash;
      }
    }
    if (n == 0)
      break;

    memset (ops, 0, n * sizeof *ops);
    for (size_t j = 0; j < n; j++) {
      ops[j].kind = STORE_GET;
      ops[j].buf = bufs + j * l->block_size;
      ops[j].len = l->block_size;
      cas_data_key (ops[j].key, sizeof ops[j].key, &hashes[j]);
    }
    store_run (l->store, ops, n);
    for (size_t j = 0; j < n && r == 0; j++) {
      reread_torn (l, &ops[j], &hashes[j]);
      /* Gone (a gc sweep raced its upload, or commits failed for
       * longer than gc's grace): upload it again from the copy kept
       * since the block was written, if there is one.
       */
      if (ops[j].err == ENOENT && kept[j]) {
        memcpy (ops[j].buf, kept[j]->data, l->block_size);
        ops[j].err = 0;
        ops[j].got = l->block_size;
        nbdkit_debug ("export %s: data object %s was gone: stored again "
                      "from the copy kept until its commit", l->name,
                      ops[j].key);
      }
      if (ops[j].err == ENOENT) {
        nbdkit_error ("export %s: data object %s, stored earlier and "
                      "not committed since, is gone (deleted by gc while "
                      "commits were failing, or by a gc sweep that raced "
                      "its upload): the flush fails; writing the block "
                      "again stores it again", l->name, ops[j].key);
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

    t0 = l->clock_ms ();
    for (size_t j = 0; j < n; j++) {
      ops[j].kind = STORE_PUT;
      ops[j].len = l->block_size;
      ops[j].gate = l->gate;
    }
    store_run (l->store, ops, n);
    for (size_t j = 0; j < n && r == 0; j++)
      if (ops[j].err) {
        nbdkit_error ("export %s: cannot refresh data object %s (%s)",
                      l->name, ops[j].key, strerror (ops[j].err));
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
    for (size_t i = 0; i < c->n; i++)
      for (size_t j = 0; j < n; j++)
        if (c->changes[i].present &&
            cas_hash_equal (&c->changes[i].value.hash, &hashes[j]))
          c->put_ms[i] = t0;
    pthread_mutex_lock (&l->lock);
    for (size_t j = 0; j < n; j++)
      cas_recent_put (l, &hashes[j], t0);
    pthread_mutex_unlock (&l->lock);
    c->refreshes += n;
  }
  free (ops);
  free (bufs);
  return r;
}

/* A commit's rounds of fence LISTs (waits and re-PUTs) at most: the
 * commit bound ends them sooner unless the clock stands still.
 */
#define FENCE_MAX_ROUNDS 1000

/* The sweep fence, just before the root PUT (docs/gc-safety.md, step
 * 9): a LIST
 * of gc's sweep markers that continues a quiet run, with every object
 * this commit references for the first time PUT after the run began.
 * Contents whose recorded PUT (their own, or the one the recent-PUT
 * table skipped to) started earlier are read back and PUT again; the
 * pages, all PUT from *tp, are built and PUT again.  A running chunk
 * is waited for within the commit bound.  0, or -1 after a message.
 */
static int
fence (struct cas *l, struct layout_commit *c, uint64_t tc,
       uint64_t nr_blocks, uint64_t *tp, struct cas_update *u)
{
  for (unsigned round = 0;; round++) {
    const uint64_t elapsed = l->clock_ms () - tc;
    bool old_data = false;
    enum cas_fence_state st;
    uint64_t qs;

    if (elapsed + l->request_bound_ms > l->commit_bound_ms ||
        round == FENCE_MAX_ROUNDS) {
      nbdkit_error ("export %s: this commit has waited %" PRIu64 " ms for "
                    "gc's sweep to pause (%s shows it at work): it fails "
                    "rather than overrun the commit bound, and the next "
                    "flush retries it", l->name, elapsed, CAS_SWEEPS_PREFIX);
      errno = ETIMEDOUT;
      return -1;
    }
    if (cas_fence_list (&l->fence, l->store, l->clock_ms, l->name,
                        &st) == -1)
      return -1;
    c->fence_lists++;
    if (st == CAS_FENCE_BUSY) {
      c->fence_waits++;
      l->sleep_ms (CAS_FENCE_WAIT_MS);
      continue;
    }
    qs = l->fence.quiet_since;
    if (st == CAS_FENCE_NEW_RUN) {
      /* Skipping a PUT through them would need it again at commit. */
      pthread_mutex_lock (&l->lock);
      cas_recent_forget_before (l, qs + 1);
      pthread_mutex_unlock (&l->lock);
    }
    /* A PUT whose clock reading equals quiet_since may have started
     * before the LIST ended: only a later reading is "after".
     */
    for (size_t i = 0; i < c->n && !old_data; i++)
      old_data = c->changes[i].present && c->put_ms[i] <= qs;
    if (st == CAS_FENCE_CONTINUES && !old_data && *tp > qs)
      return 0;
    if (old_data && refresh_before (l, c, qs + 1) == -1)
      return -1;
    if (*tp <= qs) {
      *tp = l->clock_ms ();
      if (*tp <= qs)
        *tp = qs + 1;           /* likewise */
      if (cas_tree_update (l->tree, c->changes, c->n,
                           cas_depth_for (CAS_LEAF_HASH, nr_blocks), l->gate, u) == -1)
        return -1;
      c->pages_written += u->pages_written;
      c->page_bytes += u->page_bytes_written;
    }
  }
}

int
cas_commit_write (struct layout *base, struct layout_commit *c)
{
  struct cas *l = (struct cas *) base;
  const uint64_t tc = l->clock_ms ();
  const uint64_t nr_blocks = (c->size + l->block_size - 1) / l->block_size;
  struct cas_update u;
  struct cas_root *r;
  char if_match[STORE_ETAG_MAX];
  enum store_condition cond = STORE_ALWAYS;
  uint64_t elapsed, tp;

  if (refresh_before (l, c, tc > l->reuse_window_ms
                      ? tc - l->reuse_window_ms : 0) == -1)
    goto fail;
  tp = l->clock_ms ();
  if (cas_tree_update (l->tree, c->changes, c->n, cas_depth_for (CAS_LEAF_HASH, nr_blocks),
                       l->gate, &u) == -1)
    goto fail;
  c->pages_written = u.pages_written;
  c->page_bytes = u.page_bytes_written;
  if (fence (l, c, tc, nr_blocks, &tp, &u) == -1)
    goto fail;

  elapsed = l->clock_ms () - tc;
  if (elapsed + l->request_bound_ms > l->commit_bound_ms) {
    nbdkit_error ("export %s: this commit has taken %" PRIu64 " ms before "
                  "its root PUT, which could then end later than the commit "
                  "bound (%" PRIu64 " ms) that gc relies on: it fails, and "
                  "the next flush retries it", l->name, elapsed,
                  l->commit_bound_ms);
    errno = ETIMEDOUT;
    goto fail;
  }

  r = c->root = malloc (sizeof *r);
  if (r == NULL) {
    nbdkit_error ("malloc: %m");
    goto fail;
  }
  pthread_mutex_lock (&l->lock);
  *r = *l->root;
  memcpy (if_match, l->etag, sizeof if_match);
  pthread_mutex_unlock (&l->lock);
  r->size = c->size;
  r->depth = u.depth;
  r->empty = u.empty;
  r->top = u.top;
  if (u.blocks_delta < 0 && (uint64_t) -u.blocks_delta > r->blocks)
    r->blocks = 0;              /* a root counted wrong: not ours to fix */
  else
    r->blocks += u.blocks_delta;
  r->generation++;
  r->committed = clock_wall_s ();
  r->reuse_window_s = ms_to_s_up (l->reuse_window_ms);
  r->commit_bound_s = ms_to_s_up (l->commit_bound_ms);
  if (store_can (l->store, STORE_CAP_CONDITIONAL_PUT) && if_match[0])
    cond = STORE_IF_MATCH;
  if (put_root (l, r, cond, if_match, c->etag) == -1)
    goto fail;
  return 0;

 fail:;
  const int err = errno ? errno : EIO;
  nbdkit_error ("export %s: its commit failed: the changes stay in memory "
                "and the next flush retries them", l->name);
  errno = err;
  return -1;
}

void
cas_commit_end (struct layout *base, struct layout_commit *c, bool ok)
{
  struct cas *l = (struct cas *) base;

  pthread_mutex_lock (&l->lock);
  if (ok) {
    *l->root = *c->root;
    memcpy (l->etag, c->etag, sizeof l->etag);
    cas_tree_set_top (l->tree, c->root->empty ? NULL : &c->root->top,
                      c->root->depth);
    /* Only entries that did not change since the snapshot are in. */
    for (size_t i = 0; i < c->n; i++) {
      struct cas_pending *p = u64map_get (&l->pending, c->changes[i].index);

      if (p && p->seq == c->seq[i]) {
        u64map_remove (&l->pending, c->changes[i].index);
        cas_kept_release (l, p->kept);
        free (p);
      }
    }
    if (l->size == c->size)
      l->size_dirty = false;
    l->stats.roots_written++;
    l->stats.pages_written += c->pages_written;
    l->stats.page_bytes += c->page_bytes;
  }
  else
    /* Content refreshed by the failed commit need not be again. */
    for (size_t i = 0; i < c->n; i++) {
      struct cas_pending *p = u64map_get (&l->pending, c->changes[i].index);

      if (p && p->seq == c->seq[i] && p->put_ms < c->put_ms[i])
        p->put_ms = c->put_ms[i];
    }
  /* Refreshed content was PUT again either way. */
  l->stats.refreshes += c->refreshes;
  l->committing = false;
  cas_kept_bury (l);
  pthread_mutex_unlock (&l->lock);
  free_commit (c);
}
