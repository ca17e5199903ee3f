/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the map tree's root for the cas and log layouts: opening
 * it, and the root side of commits.
 *
 * A commit makes what run stored (and freed) visible, in one step: the
 * new map pages first, then one PUT of the root, carrying the lease's
 * gate, and If-Match the root's previous ETag where the store has
 * conditional PUT.  Data, segments and pages are never rewritten with
 * other bytes, so until the root PUT lands the old root still
 * describes exactly the previous commit: a crash at any request leaves
 * the export reading as after some completed commit, never a mix.
 *
 * Beside a running gc, a commit keeps the writer's rule 1 and the
 * server's side of the sweep fence (docs/gc-safety.md, steps 4, 9 and
 * 10):
 *   refresh_before   at the start (Tc), everything a change refers to
 *                    whose recorded PUT is older than Tc - reuse_window
 *                    is PUT again (the layout's op: a content, or a
 *                    segment, from the copy kept since its upload or
 *                    read back and checked), else the commit fails
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

#include <nbdkit-plugin.h>

#include "clock.h"
#include "layout-tree.h"

static uint64_t
ms_to_s_up (uint64_t ms)
{
  return (ms + 999) / 1000;
}

int
tree_root_init (struct tree_root *t, const struct tree_root_ops *ops,
                struct store *store, const struct layout_params *p,
                enum cas_leaf_kind leaf, const struct tree_root_params *tp)
{
  pthread_mutex_init (&t->lock, NULL);
  t->ops = ops;
  t->store = store;
  t->block_size = p->block_size;
  t->gate = p->gate;
  t->readonly = p->readonly;
  t->create = tp->create;
  t->leaf = leaf;
  t->size = tp->size;
  t->reuse_window_ms = tp->reuse_window_ms;
  t->request_bound_ms = tp->request_bound_ms;
  t->commit_bound_ms = tp->commit_bound_ms;
  t->clock_ms = tp->clock_ms ? tp->clock_ms : clock_mono_ms;
  t->sleep_ms = tp->sleep_ms ? tp->sleep_ms : clock_sleep_ms;
  cas_fence_init (&t->fence, tp->request_bound_ms);
  t->name = strdup (p->export_name);
  t->root_key = strdup (tp->root_key);
  t->root = calloc (1, sizeof *t->root);
  if (t->name == NULL || t->root_key == NULL || t->root == NULL) {
    nbdkit_error ("calloc: %m");
    return -1;
  }
  t->tree = cas_tree_open (store, p->export_name, leaf, tp->map_cache_bytes);
  if (t->tree == NULL)
    return -1;
  if (tp->root) {
    *t->root = *tp->root;
    t->have_root = true;
    if (tp->root_etag)
      snprintf (t->etag, sizeof t->etag, "%s", tp->root_etag);
  }
  return 0;
}

void
tree_root_free (struct tree_root *t)
{
  if (t->tree)
    cas_tree_free (t->tree);
  cas_fence_free (&t->fence);
  pthread_mutex_destroy (&t->lock);
  free (t->root);
  free (t->root_key);
  free (t->name);
}

static void
unsure_clear (struct tree_root *t)
{
  for (unsigned i = 0; i < TREE_UNSURE_MAX; i++)
    t->unsure[i].len = 0;
}

/* Is back (got bytes) a root PUT of unknown outcome? */
static bool
unsure_is (const struct tree_root *t, const char *back, size_t got)
{
  for (unsigned i = 0; i < TREE_UNSURE_MAX; i++)
    if (t->unsure[i].len && t->unsure[i].len == got &&
        memcmp (t->unsure[i].bytes, back, got) == 0)
      return true;
  return false;
}

/* PUT a root and learn its new ETag.  If-Match answering "changed" may
 * be our own earlier attempt that landed before its answer was lost:
 * a root that reads back as exactly what we sent is ours.  One that
 * reads back as an earlier commit's attempt (t->unsure, its answer
 * an error) is that commit, landed: *unsure_landed is set, etag is
 * the stored root's, and -1 is returned with no message, for the
 * caller to PUT a root that follows it.  0, or -1 after a message.
 */
static int
put_root (struct tree_root *t, const struct cas_root *r,
          enum store_condition cond, const char *if_match, char *etag,
          bool *unsure_landed)
{
  char buf[CAS_ROOT_MAX], back[CAS_ROOT_MAX];
  int len = cas_root_format (buf, sizeof buf, r);
  struct store_op op = {
    .kind = STORE_PUT, .buf = buf, .condition = cond, .gate = t->gate,
  };
  size_t got = 0;

  if (len == -1) {
    nbdkit_error ("export %s: its root does not fit in %d bytes: this is "
                  "a bug", t->name, CAS_ROOT_MAX);
    errno = ENAMETOOLONG;
    return -1;
  }
  op.len = len;
  snprintf (op.key, sizeof op.key, "%s", t->root_key);
  if (if_match)
    snprintf (op.if_match, sizeof op.if_match, "%s", if_match);
  store_run (t->store, &op, 1);
  if (op.err == ESTALE &&
      store_get_etag (t->store, t->root_key, back, sizeof back, &got,
                      etag) == 0) {
    if (got == (size_t) len && memcmp (back, buf, len) == 0) {
      unsure_clear (t);
      return 0;
    }
    if (unsure_landed && unsure_is (t, back, got)) {
      nbdkit_debug ("export %s: a root PUT that failed earlier landed "
                    "(its answer was lost): this commit follows it",
                    t->name);
      /* Kept until a root PUT succeeds: if the next one fails, the
       * commit after it recognises this one again.
       */
      *unsure_landed = true;
      errno = ESTALE;
      return -1;
    }
  }
  if (op.err && op.err != ESTALE && op.err != EEXIST) {
    /* The server may have acted before the answer was lost. */
    memcpy (t->unsure[t->unsure_next].bytes, buf, len);
    t->unsure[t->unsure_next].len = len;
    t->unsure_next = (t->unsure_next + 1) % TREE_UNSURE_MAX;
  }
  else if (op.err == 0)
    unsure_clear (t);
  if (op.err == ESTALE || op.err == EEXIST) {
    nbdkit_error ("export %s: its root %s was %s by another writer (another "
                  "server, or the admin command) since this server read "
                  "it; refusing to overwrite it: this flush fails, and "
                  "restarting the server serves the new root", t->name,
                  t->root_key, op.err == EEXIST ? "created" : "changed");
    errno = op.err;
    return -1;
  }
  if (op.err) {
    /* A gate's refusal is explained by the lease, others by the store. */
    nbdkit_error ("export %s: cannot write its root %s (%s)", t->name,
                  t->root_key, strerror (op.err));
    errno = op.err;
    return -1;
  }
  memcpy (etag, op.etag, STORE_ETAG_MAX);
  return 0;
}

/* A new export's root: empty, with a fresh incarnation. */
static int
create_root (struct tree_root *t, uint64_t nr_blocks)
{
  struct cas_root *r = t->root;
  const bool cond = store_can (t->store, STORE_CAP_CONDITIONAL_PUT);
  const int64_t now = clock_wall_s ();

  memset (r, 0, sizeof *r);
  r->kind = CAS_ROOT_EXPORT;
  snprintf (r->name, sizeof r->name, "%s", t->name);
  if (cas_new_incarnation (r->incarnation) == -1)
    return -1;
  r->size = t->size;
  r->block_size = t->block_size;
  r->leaf = t->leaf;
  r->depth = cas_depth_for (t->leaf, nr_blocks);
  r->empty = true;
  r->created = r->committed = now;
  r->reuse_window_s = ms_to_s_up (t->reuse_window_ms);
  r->commit_bound_s = ms_to_s_up (t->commit_bound_ms);
  if (put_root (t, r, cond ? STORE_CREATE_ONLY : STORE_ALWAYS, NULL,
                t->etag, NULL) == -1)
    return -1;
  t->stats.roots_written++;
  nbdkit_debug ("export %s: created its root %s (incarnation %s)", t->name,
                t->root_key, r->incarnation);
  return 0;
}

int
tree_load_map (struct tree_root *t, uint64_t nr_blocks)
{
  struct cas_root *r = t->root;
  enum cas_fence_state st;

  if (!t->have_root) {
    bool found;

    if (cas_root_read (t->store, t->root_key, r, t->etag, &found) == -1)
      return -1;
    if (!found && !t->create) {
      nbdkit_error ("export %s: its root %s is missing: the export's "
                    "metadata says it uses the %s layout, but without "
                    "its root there is no map of its blocks (restore it, "
                    "or delete the export with the admin command)",
                    t->name, t->root_key, t->ops->layout);
      errno = ENOENT;
      return -1;
    }
    if (!found && t->readonly) {
      nbdkit_error ("export %s: its root %s is missing, and a read-only "
                    "server does not create exports", t->name, t->root_key);
      errno = ENOENT;
      return -1;
    }
    if (!found) {
      if (create_root (t, nr_blocks) == -1)
        return -1;
    }
    else if (t->create && (!r->empty || r->generation > 0)) {
      /* A root without its metadata: a crash before the metadata of a
       * new export was written leaves an empty one, which is adopted.
       */
      nbdkit_error ("export %s has no metadata object, but its root %s "
                    "holds %" PRIu64 " blocks: refusing to start it over; "
                    "restore the metadata, or delete the export with the "
                    "admin command", t->name, t->root_key, r->blocks);
      errno = EEXIST;
      return -1;
    }
    t->have_root = true;
  }
  if (r->leaf != t->leaf) {
    /* Its leaves are of the other kind: the first one read would be
     * refused as damaged.  Say what it is instead.
     */
    t->ops->wrong_leaf (t);
    errno = EINVAL;
    return -1;
  }
  /* Start a quiet run of the sweep fence: a server writing nothing
   * while gc sweeps re-PUTs nothing at its first commit.  Read-only
   * servers write nothing, so need none.
   */
  if (!t->readonly &&
      cas_fence_list (&t->fence, t->store, t->clock_ms, t->name,
                      &st) == -1)
    return -1;
  if (r->block_size != t->block_size) {
    nbdkit_error ("export %s: its root %s says block-size %" PRIu32
                  ", its metadata %" PRIu32 ": refusing to misread its "
                  "blocks", t->name, t->root_key, r->block_size,
                  t->block_size);
    errno = EINVAL;
    return -1;
  }
  if (r->size != t->size && !t->readonly)
    t->size_dirty = true;
  cas_tree_set_top (t->tree, r->empty ? NULL : &r->top, r->depth);
  nbdkit_debug ("export %s: root %s: generation %" PRIu64 ", %" PRIu64
                " blocks, depth %u", t->name, t->root_key, r->generation,
                r->blocks, r->depth);
  return 0;
}

void
tree_commit_release (struct tree_commit *c)
{
  free (c->changes);
  free (c->put_ms);
  free (c->seq);
  free (c->root);
}

/* A commit's rounds of fence LISTs (waits and re-PUTs) at most: the
 * commit bound ends them sooner unless the clock stands still.
 */
#define FENCE_MAX_ROUNDS 1000

/* The sweep fence, just before the root PUT (docs/gc-safety.md, step
 * 9): a LIST of gc's sweep markers that continues a quiet run, with
 * every object this commit references for the first time PUT after
 * the run began.  What a change relies on whose recorded PUT (its own,
 * or the one the recent-PUT table skipped to) started earlier is PUT
 * again (the layout's refresh_before); the pages, all PUT from *tp,
 * are built and PUT again.  A running chunk is waited for within the
 * commit bound.  0, or -1 after a message.
 */
static int
fence (struct tree_root *t, struct tree_commit *c, uint64_t tc,
       uint64_t nr_blocks, uint64_t *tp, struct cas_update *u)
{
  for (unsigned round = 0;; round++) {
    const uint64_t elapsed = t->clock_ms () - tc;
    bool old_data = false;
    enum cas_fence_state st;
    uint64_t qs;

    if (elapsed + t->request_bound_ms > t->commit_bound_ms ||
        round == FENCE_MAX_ROUNDS) {
      nbdkit_error ("export %s: this commit has waited %" PRIu64 " ms for "
                    "gc's sweep to pause (%s shows it at work): it fails "
                    "rather than overrun the commit bound, and the next "
                    "flush retries it", t->name, elapsed, CAS_SWEEPS_PREFIX);
      errno = ETIMEDOUT;
      return -1;
    }
    if (cas_fence_list (&t->fence, t->store, t->clock_ms, t->name,
                        &st) == -1)
      return -1;
    c->fence_lists++;
    if (st == CAS_FENCE_BUSY) {
      c->fence_waits++;
      t->sleep_ms (CAS_FENCE_WAIT_MS);
      continue;
    }
    qs = t->fence.quiet_since;
    if (st == CAS_FENCE_NEW_RUN) {
      /* Skipping a PUT through them would need it again at commit. */
      pthread_mutex_lock (&t->lock);
      t->ops->forget_before (t, qs + 1);
      pthread_mutex_unlock (&t->lock);
    }
    /* A PUT whose clock reading equals quiet_since may have started
     * before the LIST ended: only a later reading is "after".
     */
    for (size_t i = 0; i < c->n && !old_data; i++)
      old_data = c->changes[i].present && c->put_ms[i] <= qs;
    if (st == CAS_FENCE_CONTINUES && !old_data && *tp > qs)
      return 0;
    c->relocated = false;
    if (old_data && t->ops->refresh_before (t, c, qs + 1) == -1)
      return -1;
    if (*tp <= qs || c->relocated) {
      if (*tp <= qs) {
        *tp = t->clock_ms ();
        if (*tp <= qs)
          *tp = qs + 1;         /* likewise */
      }
      if (cas_tree_update (t->tree, c->changes, c->n,
                           cas_depth_for (t->leaf, nr_blocks), t->gate,
                           u) == -1)
        return -1;
      c->pages_written += u->pages_written;
      c->page_bytes += u->page_bytes_written;
    }
  }
}

int
tree_commit_write (struct tree_root *t, struct tree_commit *c)
{
  const uint64_t tc = t->clock_ms ();
  const uint64_t nr_blocks = (c->size + t->block_size - 1) / t->block_size;
  struct cas_update u;
  struct cas_root *r;
  char if_match[STORE_ETAG_MAX];
  enum store_condition cond = STORE_ALWAYS;
  uint64_t elapsed, tp;
  bool unsure_landed = false;

  if (t->ops->refresh_before (t, c, tc > t->reuse_window_ms
                              ? tc - t->reuse_window_ms : 0) == -1)
    goto fail;
  tp = t->clock_ms ();
  if (cas_tree_update (t->tree, c->changes, c->n,
                       cas_depth_for (t->leaf, nr_blocks), t->gate,
                       &u) == -1)
    goto fail;
  c->pages_written = u.pages_written;
  c->page_bytes = u.page_bytes_written;
  if (fence (t, c, tc, nr_blocks, &tp, &u) == -1)
    goto fail;

  elapsed = t->clock_ms () - tc;
  if (elapsed + t->request_bound_ms > t->commit_bound_ms) {
    nbdkit_error ("export %s: this commit has taken %" PRIu64 " ms before "
                  "its root PUT, which could then end later than the commit "
                  "bound (%" PRIu64 " ms) that gc relies on: it fails, and "
                  "the next flush retries it", t->name, elapsed,
                  t->commit_bound_ms);
    errno = ETIMEDOUT;
    goto fail;
  }

  r = c->root = malloc (sizeof *r);
  if (r == NULL) {
    nbdkit_error ("malloc: %m");
    goto fail;
  }
  pthread_mutex_lock (&t->lock);
  *r = *t->root;
  memcpy (if_match, t->etag, sizeof if_match);
  pthread_mutex_unlock (&t->lock);
  r->leaf = t->leaf;
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
  r->reuse_window_s = ms_to_s_up (t->reuse_window_ms);
  r->commit_bound_s = ms_to_s_up (t->commit_bound_ms);
  if (store_can (t->store, STORE_CAP_CONDITIONAL_PUT) && if_match[0])
    cond = STORE_IF_MATCH;
  if (put_root (t, r, cond, if_match, c->etag, &unsure_landed) == -1) {
    if (!unsure_landed)
      goto fail;
    /* It carried changes this commit carries too (they stay pending
     * until a commit that carried them ends well), and this root was
     * built from the same root it was: PUT this one after it.
     */
    elapsed = t->clock_ms () - tc;
    if (elapsed + t->request_bound_ms > t->commit_bound_ms) {
      nbdkit_error ("export %s: this commit has taken %" PRIu64 " ms "
                    "before its second root PUT (after one of an earlier "
                    "commit that landed unanswered), which could then end "
                    "later than the commit bound (%" PRIu64 " ms): it "
                    "fails, and the next flush retries it", t->name,
                    elapsed, t->commit_bound_ms);
      errno = ETIMEDOUT;
      goto fail;
    }
    r->generation++;
    memcpy (if_match, c->etag, sizeof if_match);
    unsure_landed = false;
    if (put_root (t, r, cond, if_match, c->etag, &unsure_landed) == -1)
      goto fail;
  }
  return 0;

 fail:;
  const int err = errno ? errno : EIO;
  nbdkit_error ("export %s: its commit failed: the changes stay in memory "
                "and the next flush retries them", t->name);
  errno = err;
  return -1;
}

void
tree_commit_landed (struct tree_root *t, struct tree_commit *c)
{
  *t->root = *c->root;
  memcpy (t->etag, c->etag, sizeof t->etag);
  cas_tree_set_top (t->tree, c->root->empty ? NULL : &c->root->top,
                    c->root->depth);
  if (t->size == c->size)
    t->size_dirty = false;
  t->stats.roots_written++;
  t->stats.pages_written += c->pages_written;
  t->stats.page_bytes += c->page_bytes;
}
