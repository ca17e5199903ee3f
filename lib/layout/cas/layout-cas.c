/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the content-addressed layout: block requests.
 *
 *   cas/data/{sha256}     a block's bytes, keyed by their hash
 *   cas/pages/{sha256}    the map tree (cas-tree.c)
 *   cas/roots/{export}    the root: its one PUT commits a flush
 *
 * A PUT stores the block's content under its hash and records
 * pending[index] = hash; a DELETE records pending[index] = hole and
 * sends nothing.  Neither is visible to a later open until a commit
 * (layout-cas-commit.c) writes the pages and the root.  A GET asks
 * pending first, then the committed tree, and reads a hole without a
 * request once the pages on its path are cached.  Every data object
 * read is checked: its length is one block and its SHA-256 is its key,
 * else the read fails with EIO naming the key and the export.
 *
 * Dedup: identical content has one key, so it is stored once whoever
 * writes it.  A PUT is skipped only when this layout PUT the same
 * content itself less than the reuse window ago (the recent-PUT
 * table), or earlier in the same batch; the entry then carries that
 * PUT's time, which the commit's refresh rule checks (docs/gc-safety.md,
 * step 4).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "clock.h"
#include "layout-cas-impl.h"

/* The recent-PUT table (lock held). */

static struct cas_recent *
recent_slot (struct cas *l, const struct cas_hash *h)
{
  uint64_t x;

  memcpy (&x, h->b, sizeof x);
  return &l->recent[x & l->recent_mask];
}

void
cas_recent_put (struct cas *l, const struct cas_hash *h, uint64_t put_ms)
{
  struct cas_recent *r = recent_slot (l, h);

  /* Keep the newer PUT of this content (a refresh), never an older. */
  if (r->used && cas_hash_equal (&r->hash, h) && r->put_ms > put_ms)
    return;
  r->hash = *h;
  r->put_ms = put_ms;
  r->used = true;
}

void
cas_recent_forget_before (struct cas *l, uint64_t ms)
{
  for (size_t i = 0; i <= l->recent_mask; i++)
    if (l->recent[i].used && l->recent[i].put_ms < ms)
      l->recent[i].used = false;
}

/* Did we PUT h less than the reuse window before now?  *put_ms: when. */
static bool
recent_get (struct cas *l, const struct cas_hash *h, uint64_t now,
            uint64_t *put_ms)
{
  const struct cas_recent *r = recent_slot (l, h);

  if (!r->used || !cas_hash_equal (&r->hash, h) ||
      r->put_ms + l->t.reuse_window_ms <= now)
    return false;
  *put_ms = r->put_ms;
  return true;
}

void
cas_kept_release (struct cas *l, struct cas_kept *k)
{
  if (k == NULL)
    return;
  if (l->committing) {
    k->next = l->graveyard;
    l->graveyard = k;
  }
  else {
    free (k);
    l->kept_bytes -= l->t.block_size;
  }
}

void
cas_kept_bury (struct cas *l)
{
  while (l->graveyard) {
    struct cas_kept *k = l->graveyard;

    l->graveyard = k->next;
    free (k);
    l->kept_bytes -= l->t.block_size;
  }
}

/* A copy of data for its pending entry, within keep_limit (NULL past
 * it, or out of memory: the entry is then as safe as its upload).
 */
static struct cas_kept *
keep_copy (struct cas *l, const void *data)
{
  struct cas_kept *k;

  if (data == NULL || l->kept_bytes + l->t.block_size > l->keep_limit)
    return NULL;
  k = malloc (sizeof *k + l->t.block_size);
  if (k == NULL)
    return NULL;
  memcpy (k->data, data, l->t.block_size);
  k->next = NULL;
  l->kept_bytes += l->t.block_size;
  return k;
}

/* The pending table (lock held); data: the content's bytes, when
 * present.  0, or -1 (errno ENOMEM).
 */
static int
pending_set (struct cas *l, uint64_t index, bool present,
             const struct cas_hash *h, uint64_t put_ms, const void *data)
{
  struct cas_pending *p = u64map_get (&l->pending, index);

  if (p == NULL) {
    p = calloc (1, sizeof *p);
    if (p == NULL || u64map_put (&l->pending, index, p) == -1) {
      free (p);
      errno = ENOMEM;
      return -1;
    }
  }
  cas_kept_release (l, p->kept);
  p->kept = present ? keep_copy (l, data) : NULL;
  p->present = present;
  if (present)
    p->hash = *h;
  else
    memset (&p->hash, 0, sizeof p->hash);
  p->put_ms = put_ms;
  p->seq = ++l->seq;
  return 0;
}

/* A block's hash as it reads now: pending first, then the committed
 * tree.  The tree's top changes only after the pending entries it
 * carries are in it, and pending entries are dropped only after that,
 * so looking in this order never misses a change.
 */
static int
resolve (struct cas *l, uint64_t index, bool *present, struct cas_hash *h)
{
  struct cas_pending *p;
  struct cas_value v;

  pthread_mutex_lock (&l->t.lock);
  p = u64map_get (&l->pending, index);
  if (p) {
    *present = p->present;
    *h = p->hash;
  }
  pthread_mutex_unlock (&l->t.lock);
  if (p)
    return 0;
  if (cas_tree_lookup (l->t.tree, index, present, &v) == -1)
    return -1;
  if (*present)
    *h = v.hash;
  return 0;
}

int
cas_check_data (struct cas *l, const struct store_op *op,
                const struct cas_hash *want)
{
  struct cas_hash got;

  if (op->got != l->t.block_size) {
    nbdkit_error ("export %s: data object %s has %zu bytes, expected %"
                  PRIu32 ": it is damaged (or was written with another "
                  "block size); refusing to read it", l->t.name, op->key,
                  op->got, l->t.block_size);
    errno = EIO;
    return -1;
  }
  cas_hash_of (op->buf, op->got, &got);
  if (!cas_hash_equal (&got, want)) {
    nbdkit_error ("export %s: data object %s does not hash to its key: "
                  "it is damaged; refusing to read it", l->t.name, op->key);
    errno = EIO;
    return -1;
  }
  return 0;
}

/* Per request of a batch. */
struct item {
  struct cas_hash hash;
  size_t op;                    /* index in ops, or SIZE_MAX: none */
  size_t dup_of;                /* a PUT of the same content earlier in
                                   the batch, or SIZE_MAX */
  uint64_t put_ms;
};

static size_t
cas_run (struct layout *base, struct block_io *ios, size_t n)
{
  struct cas *l = (struct cas *) base;
  struct store_op *ops;
  struct item *items;
  size_t i, nr_ops = 0, failures = 0;
  uint64_t now;

  if (n == 0)
    return 0;
  ops = calloc (n, sizeof *ops);
  items = calloc (n, sizeof *items);
  if (ops == NULL || items == NULL) {
    nbdkit_error ("calloc: %m");
    free (ops);
    free (items);
    for (i = 0; i < n; i++)
      ios[i].err = ENOMEM;
    return n;
  }

  /* Before the requests start: a PUT's recorded time is never later
   * than its start (docs/gc-safety.md, step 4: T0 <= Last-Modified).
   */
  now = l->t.clock_ms ();
  for (i = 0; i < n; i++) {
    struct block_io *io = &ios[i];
    struct item *it = &items[i];
    bool present;

    io->err = 0;
    it->op = it->dup_of = SIZE_MAX;
    if (io->kind != BLOCK_IO_GET && l->t.readonly) {
      nbdkit_error ("export %s is read-only", l->t.name);
      io->err = EROFS;
      failures++;
      continue;
    }
    switch (io->kind) {
    case BLOCK_IO_GET:
      if (resolve (l, io->index, &present, &it->hash) == -1) {
        io->err = errno;
        failures++;
        continue;
      }
      if (!present) {
        io->err = ENOENT;       /* a hole: no request */
        continue;
      }
      ops[nr_ops].kind = STORE_GET;
      ops[nr_ops].buf = io->buf;
      ops[nr_ops].len = l->t.block_size;
      break;

    case BLOCK_IO_PUT: {
      uint64_t put_ms;
      bool hit;

      cas_hash_of (io->buf, l->t.block_size, &it->hash);
      pthread_mutex_lock (&l->t.lock);
      hit = recent_get (l, &it->hash, now, &put_ms);
      if (hit) {
        if (pending_set (l, io->index, true, &it->hash, put_ms, io->buf) == -1)
          io->err = ENOMEM;
        else
          l->t.stats.dedup_hits++;
      }
      pthread_mutex_unlock (&l->t.lock);
      if (hit) {
        if (io->err) {
          nbdkit_error ("export %s: out of memory recording a write",
                        l->t.name);
          failures++;
        }
        continue;
      }
      for (size_t j = 0; j < i; j++)
        if (ios[j].kind == BLOCK_IO_PUT && items[j].op != SIZE_MAX &&
            cas_hash_equal (&items[j].hash, &it->hash)) {
          it->dup_of = j;
          break;
        }
      if (it->dup_of != SIZE_MAX)
        continue;
      it->put_ms = now;
      ops[nr_ops].kind = STORE_PUT;
      ops[nr_ops].buf = io->buf;
      ops[nr_ops].len = l->t.block_size;
      ops[nr_ops].gate = l->t.gate;
      break;
    }

    case BLOCK_IO_DELETE:
      /* A hole that is already one needs no entry: trimming empty
       * space keeps the pending table small.  A lookup that fails
       * records the hole anyway, which is always right.
       */
      if (resolve (l, io->index, &present, &it->hash) == 0 && !present)
        continue;
      pthread_mutex_lock (&l->t.lock);
      if (pending_set (l, io->index, false, NULL, now, NULL) == -1) {
        nbdkit_error ("export %s: out of memory recording a write",
                      l->t.name);
        io->err = ENOMEM;
        failures++;
      }
      pthread_mutex_unlock (&l->t.lock);
      continue;
    }
    cas_data_key (ops[nr_ops].key, sizeof ops[nr_ops].key, &it->hash);
    it->op = nr_ops++;
  }

  store_run (l->t.store, ops, nr_ops);

  for (i = 0; i < n; i++) {
    struct block_io *io = &ios[i];
    struct item *it = &items[i];
    const struct item *src = it;
    struct store_op *op;

    if (it->dup_of != SIZE_MAX)
      src = &items[it->dup_of];
    if (src->op == SIZE_MAX)
      continue;
    op = &ops[src->op];
    if (io->kind == BLOCK_IO_GET) {
      if (op->err == ENOENT) {
        /* Never a hole: the map says this content is there. */
        nbdkit_error ("export %s: data object %s of the block at %" PRIu64
                      " is missing", l->t.name, op->key,
                      io->index * l->t.block_size);
        io->err = EIO;
      }
      else if (op->err)
        io->err = op->err;
      else if (cas_check_data (l, op, &it->hash) == -1)
        io->err = EIO;
      if (io->err)
        failures++;
      continue;
    }
    /* PUT. */
    if (op->err) {
      io->err = op->err;
      failures++;
      continue;
    }
    pthread_mutex_lock (&l->t.lock);
    if (it == src) {
      cas_recent_put (l, &it->hash, it->put_ms);
      l->t.stats.data_puts++;
    }
    else
      l->t.stats.dedup_hits++;
    if (pending_set (l, io->index, true, &it->hash, src->put_ms,
                     io->buf) == -1) {
      io->err = ENOMEM;
      failures++;
    }
    pthread_mutex_unlock (&l->t.lock);
    if (io->err)
      nbdkit_error ("export %s: out of memory recording a write", l->t.name);
  }
  free (ops);
  free (items);
  return failures;
}

static bool
pending_holds_data (const void *entry)
{
  return ((const struct cas_pending *) entry)->present;
}

/* The committed tree's blocks, then the pending entries over them. */
static int
cas_present (struct layout *base, uint64_t first, uint64_t count,
             struct sbitmap *out)
{
  struct cas *l = (struct cas *) base;

  return tree_present (&l->t, &l->pending, pending_holds_data, first, count,
                       out);
}

static int
cas_resize (struct layout *base, uint64_t size)
{
  return tree_resize (&((struct cas *) base)->t, size);
}

/* The map is in S3: only a GET (cas_run, which resolves the block
 * through the pending changes and the tree) can tell.
 */
static bool
cas_maybe_present (struct layout *base, uint64_t index)
{
  return true;
}

static void
cas_get_stats (struct layout *base, struct layout_stats *stats)
{
  tree_get_stats (&((struct cas *) base)->t, stats);
}

static void
cas_free (struct layout *base)
{
  struct cas *l = (struct cas *) base;

  if (l == NULL)
    return;
  for (size_t i = 0; i < l->pending.capacity; i++) {
    struct cas_pending *p = l->pending.slots[i].value;

    if (p)
      free (p->kept);
    free (p);
  }
  u64map_free (&l->pending);
  l->committing = false;
  cas_kept_bury (l);
  tree_root_free (&l->t);
  free (l->recent);
  free (l);
}

static const struct layout_ops cas_ops = {
  .run = cas_run,
  .load_map = cas_load_map,
  .maybe_present = cas_maybe_present,
  .commit_begin = cas_commit_begin,
  .commit_write = cas_commit_write,
  .commit_end = cas_commit_end,
  .get_stats = cas_get_stats,
  .free = cas_free,
  .present = cas_present,
  .resize = cas_resize,
};

struct layout *
layout_cas_open (struct store *store, const struct layout_params *p,
                 const struct layout_cas_params *cp)
{
  struct cas *l = calloc (1, sizeof *l);
  size_t slots = cp->recent_entries ? cp->recent_entries
    : CAS_RECENT_DEFAULT;
  const struct tree_root_params tp = {
    .root_key = cp->root_key, .size = cp->size, .create = cp->create,
    .root = cp->root, .root_etag = cp->root_etag,
    .map_cache_bytes = cp->map_cache_bytes,
    .reuse_window_ms = cp->reuse_window_ms,
    .request_bound_ms = cp->request_bound_ms,
    .commit_bound_ms = cp->commit_bound_ms,
    .clock_ms = cp->clock_ms, .sleep_ms = cp->sleep_ms,
  };

  /* A power of 2, for the mask. */
  while (slots & (slots - 1))
    slots &= slots - 1;
  if (l == NULL)
    goto nomem;
  l->base.ops = &cas_ops;
  if (tree_root_init (&l->t, &cas_tree_ops, store, p, CAS_LEAF_HASH,
                      &tp) == -1) {
    cas_free (&l->base);
    return NULL;
  }
  l->recent = calloc (slots, sizeof *l->recent);
  if (l->recent == NULL)
    goto nomem;
  l->recent_mask = slots - 1;
  l->keep_limit = cp->keep_bytes;
  return &l->base;

 nomem:
  nbdkit_error ("calloc: %m");
  if (l)
    cas_free (&l->base);
  return NULL;
}
