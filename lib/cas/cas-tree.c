/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: reading a content-addressed map tree (cas-tree.h): the
 * served top, lookups and extents through the page cache, and the
 * admin command's walk.  Updates are in cas-tree-update.c.
 *
 * Every page read from the store is checked against its name before
 * use: a page is trusted only when its SHA-256 is the hash its parent
 * (or the root) gave, so a damaged or substituted page is EIO, never
 * wrong blocks.  Pages are immutable, so nothing read is ever stale and
 * the lock only guards which top is served and which pages are being
 * fetched.
 */

#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "cas-tree-impl.h"

struct cas_tree *
cas_tree_open (struct store *store, const char *label,
               enum cas_leaf_kind leaf, uint64_t cache_bytes)
{
  struct cas_tree *t = calloc (1, sizeof *t);

  if (t == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  t->store = store;
  t->label = strdup (label);
  t->cache = cas_pagecache_new (cache_bytes, leaf);
  if (t->label == NULL || t->cache == NULL) {
    nbdkit_error ("export %s: out of memory for its map tree", label);
    cas_pagecache_free (t->cache);
    free (t->label);
    free (t);
    errno = ENOMEM;
    return NULL;
  }
  pthread_mutex_init (&t->lock, NULL);
  pthread_cond_init (&t->fetched, NULL);
  t->leaf = leaf;
  t->empty = true;
  return t;
}

void
cas_tree_free (struct cas_tree *t)
{
  if (t == NULL)
    return;
  cas_pagecache_free (t->cache);
  pthread_cond_destroy (&t->fetched);
  pthread_mutex_destroy (&t->lock);
  free (t->label);
  free (t);
}

void
cas_tree_set_top (struct cas_tree *t, const struct cas_hash *top,
                  unsigned depth)
{
  pthread_mutex_lock (&t->lock);
  t->empty = top == NULL;
  if (top)
    t->top = *top;
  t->depth = depth;
  pthread_mutex_unlock (&t->lock);
}

bool
cas_tree_get_top (struct cas_tree *t, struct cas_hash *top, unsigned *depth)
{
  bool present;

  pthread_mutex_lock (&t->lock);
  present = !t->empty;
  if (top && present)
    *top = t->top;
  if (depth)
    *depth = t->depth;
  pthread_mutex_unlock (&t->lock);
  return present;
}

uint64_t
cas_tree_cached_bytes (struct cas_tree *t)
{
  return cas_pagecache_bytes (t->cache);
}

int
cas_page_fetch (struct store *store, const char *label,
                enum cas_leaf_kind leaf, const struct cas_hash *h,
                unsigned level, bool missing_is_eio, void *buf,
                struct cas_map_page *page, size_t *bytes)
{
  const size_t max = cas_page_max_at (leaf, level);
  char key[KEY_MAX];
  struct cas_hash got_hash;
  const char *why;
  size_t got = 0;
  int err;

  cas_page_key (key, sizeof key, h);
  /* One byte more than any page, so that a longer object is reported
   * as a damaged page rather than as a store failure.
   */
  err = store_get (store, key, buf, max + 1, &got);
  if (err == ENOENT) {
    nbdkit_error ("export %s: map page %s is missing", label, key);
    errno = missing_is_eio ? EIO : ENOENT;
    return -1;
  }
  if (err) {
    errno = err;
    return -1;
  }
  cas_hash_of (buf, got, &got_hash);
  if (got > max)
    why = "it is longer than any page";
  else if (!cas_hash_equal (&got_hash, h))
    why = "its content does not match its name (SHA-256)";
  else if (cas_map_page_decode (leaf, level, buf, got, page, &why) == -1) {
    if (errno == ENOMEM) {
      nbdkit_error ("export %s: out of memory reading map page %s",
                    label, key);
      return -1;
    }
  }
  else if ((why = cas_map_page_misfit (page, leaf, level)) != NULL)
    cas_map_page_free (page);
  else {
    *bytes = got;
    return 0;
  }
  nbdkit_error ("export %s: map page %s is damaged: %s", label, key, why);
  errno = EIO;
  return -1;
}

/* A fetch in flight (lock held to touch it): freed by whichever of its
 * fetcher and waiters lets go of it last.
 */
struct cas_page_fetch {
  struct cas_hash hash;
  struct cas_page_fetch *next;
  pthread_t fetcher;
  unsigned holders;             /* the fetcher and its waiters */
  bool done;
  int err;                      /* the fetch's, once done */
  struct cas_cached_page *page; /* once done, err 0: pinned once for
                                   each waiter */
};

static void
fetch_release (struct cas_page_fetch *f)
{
  if (--f->holders == 0)
    free (f);
}

/* Lock held.  If another thread is fetching h, waits for it and
 * returns 1 with *page its page (pinned for this thread), 1 with *page
 * NULL if it ran out of memory (its own trouble, not shared: look
 * again), or -1 with its errno.  Otherwise returns 0: fetch h, with
 * *mine this thread's fetch record for fetch_done to end, or NULL if
 * none could be made (then without sharing).
 */
static int
fetch_begin (struct cas_tree *t, const struct cas_hash *h,
             struct cas_page_fetch **mine, struct cas_cached_page **page)
{
  struct cas_page_fetch *f;

  *mine = NULL;
  *page = NULL;
  /* A fetch of this thread's own (reentered from inside its request,
   * as a test's store hook does) is not waited for: it would never end.
   */
  for (f = t->fetching; f; f = f->next)
    if (cas_hash_equal (&f->hash, h) &&
        !pthread_equal (f->fetcher, pthread_self ())) {
      int err;

      f->holders++;
      t->waiting++;
      while (!f->done)
        pthread_cond_wait (&t->fetched, &t->lock);
      t->waiting--;
      err = f->err;
      *page = f->page;
      fetch_release (f);
      if (err == 0 || err == ENOMEM)
        return 1;
      errno = err;
      return -1;
    }
  f = calloc (1, sizeof *f);
  if (f == NULL)
    return 0;                   /* then without sharing */
  f->hash = *h;
  f->fetcher = pthread_self ();
  f->holders = 1;
  f->next = t->fetching;
  t->fetching = f;
  *mine = f;
  return 0;
}

/* End this thread's fetch with page p (pinned), or err, and wake its
 * waiters, each with a pin of p of its own.
 */
static void
fetch_done (struct cas_tree *t, struct cas_page_fetch *mine,
            struct cas_cached_page *p, int err)
{
  pthread_mutex_lock (&t->lock);
  for (struct cas_page_fetch **f = &t->fetching; *f; f = &(*f)->next)
    if (*f == mine) {
      *f = mine->next;
      break;
    }
  if (p && mine->holders > 1)
    cas_pagecache_pin (t->cache, p, mine->holders - 1);
  mine->done = true;
  mine->err = p ? 0 : err;
  mine->page = p;
  fetch_release (mine);
  pthread_cond_broadcast (&t->fetched);
  pthread_mutex_unlock (&t->lock);
}

/* p (pinned) if it fits level, else NULL after a message. */
static struct cas_cached_page *
cached_page (struct cas_tree *t, const struct cas_hash *h, unsigned level,
             struct cas_cached_page *p)
{
  const char *why = cas_map_page_misfit (&p->page, t->leaf, level);
  char key[KEY_MAX];

  if (why == NULL)
    return p;
  /* Cached from another position in some tree: this parent is wrong. */
  cas_pagecache_put (t->cache, p);
  cas_page_key (key, sizeof key, h);
  nbdkit_error ("export %s: map page %s is damaged: %s", t->label, key, why);
  errno = EIO;
  return NULL;
}

/* GET, check and cache the page h: pinned, or NULL after a message. */
static struct cas_cached_page *
fetch_page (struct cas_tree *t, const struct cas_hash *h, unsigned level)
{
  struct cas_cached_page *p;
  struct cas_map_page page;
  size_t bytes;
  void *buf = malloc (cas_page_max_at (t->leaf, level) + 1);

  if (buf == NULL) {
    nbdkit_error ("malloc: %m");
    errno = ENOMEM;
    return NULL;
  }
  if (cas_page_fetch (t->store, t->label, t->leaf, h, level, true, buf,
                      &page, &bytes) == -1) {
    const int err = errno;

    free (buf);
    errno = err;
    return NULL;
  }
  free (buf);
  p = cas_cached_page_new (h, &page);
  if (p == NULL)
    return NULL;
  return cas_pagecache_insert (t->cache, p);
}

struct cas_cached_page *
cas_tree_page (struct cas_tree *t, const struct cas_hash *h, unsigned level)
{
  struct cas_page_fetch *mine;
  struct cas_cached_page *p;
  int err;

  /* Threads that miss the same page (every reader of a cold leaf, at
   * once) send one GET: the others wait for it and share its page or
   * its error.
   */
  for (;;) {
    int r;

    p = cas_pagecache_get (t->cache, h);
    if (p)
      return cached_page (t, h, level, p);
    pthread_mutex_lock (&t->lock);
    r = fetch_begin (t, h, &mine, &p);
    pthread_mutex_unlock (&t->lock);
    if (r == -1)
      return NULL;
    if (p)
      return cached_page (t, h, level, p);
    if (r == 0)
      break;
  }

  /* It may have been cached between the miss and fetch_begin. */
  p = cas_pagecache_get (t->cache, h);
  if (p == NULL)
    p = fetch_page (t, h, level);
  err = p ? 0 : errno ? errno : EIO;
  if (mine)
    fetch_done (t, mine, p, err);
  if (p == NULL) {
    errno = err;
    return NULL;
  }
  return cached_page (t, h, level, p);
}

size_t
cas_tree_waiting (struct cas_tree *t)
{
  size_t n;

  pthread_mutex_lock (&t->lock);
  n = t->waiting;
  pthread_mutex_unlock (&t->lock);
  return n;
}

int
cas_tree_lookup (struct cas_tree *t, uint64_t index,
                 bool *present, struct cas_value *value)
{
  struct cas_hash h;
  unsigned depth, level;

  *present = false;
  if (!cas_tree_get_top (t, &h, &depth) ||
      !cas_tree_covers (t->leaf, depth, index))
    return 0;
  for (level = depth; ; level--) {
    struct cas_cached_page *p = cas_tree_page (t, &h, level);
    const unsigned slot = cas_slot_of (t->leaf, index, level);
    bool found;

    if (p == NULL)
      return -1;
    if (level == 0)
      found = cas_map_page_find_value (&p->page, slot, value);
    else
      found = cas_page_find (&p->page.cas, slot, &h);
    cas_pagecache_put (t->cache, p);
    if (!found)
      return 0;
    if (level == 0)
      break;
  }
  *present = true;
  return 0;
}

struct present_walk {
  struct cas_tree *t;
  uint64_t first, last;
  int (*cb) (void *opaque, uint64_t index);
  void *opaque;
};

/* The page h at level whose first block is first: its blocks in
 * [w->first, w->last].  Returns 0, 1 (stopped) or -1.
 */
static int
present_page (struct present_walk *w, const struct cas_hash *h,
              unsigned level, uint64_t first)
{
  const enum cas_leaf_kind leaf = w->t->leaf;
  const uint64_t page = cas_page_number (leaf, first, level);
  struct cas_cached_page *p = cas_tree_page (w->t, h, level);
  unsigned lo = 0, hi = cas_fanout_at (leaf, level) - 1;
  uint32_t i;
  int r = 0;

  if (p == NULL)
    return -1;
  if (cas_page_number (leaf, w->first, level) == page)
    lo = cas_slot_of (leaf, w->first, level);
  if (cas_page_number (leaf, w->last, level) == page)
    hi = cas_slot_of (leaf, w->last, level);
  for (i = 0; i < cas_map_page_count (&p->page) && r == 0; i++) {
    const unsigned slot = cas_map_page_slot (&p->page, i);
    uint64_t child;

    if (slot < lo)
      continue;
    if (slot > hi)
      break;
    /* Within [w->first, w->last], so never past 2^64. */
    (void) cas_slot_first (leaf, first, level, slot, &child);
    if (level == 0)
      r = w->cb (w->opaque, child);
    else
      r = present_page (w, &p->page.cas.entries[i].hash, level - 1, child);
  }
  cas_pagecache_put (w->t->cache, p);
  return r;
}

int
cas_tree_present (struct cas_tree *t, uint64_t first, uint64_t count,
                  int (*cb) (void *opaque, uint64_t index), void *opaque)
{
  struct present_walk w = { t, first, 0, cb, opaque };
  struct cas_hash top;
  unsigned depth;

  if (count == 0 || !cas_tree_get_top (t, &top, &depth) ||
      !cas_tree_covers (t->leaf, depth, first))
    return 0;
  w.last = count - 1 > UINT64_MAX - first ? UINT64_MAX : first + count - 1;
  return present_page (&w, &top, depth, 0) == -1 ? -1 : 0;
}

struct walk {
  struct store *store;
  const char *label;
  enum cas_leaf_kind leaf;
  const struct cas_walk_ops *ops;
  void *opaque;
  void *buf;                    /* one fetch at a time: the longest page */
};

static int
walk_page (struct walk *w, const struct cas_hash *h, unsigned level,
           uint64_t first)
{
  struct cas_map_page page;
  size_t bytes;
  uint32_t i;
  int r = 0;

  if (cas_page_fetch (w->store, w->label, w->leaf, h, level, false, w->buf,
                      &page, &bytes) == -1)
    return -1;
  if (w->ops->page)
    r = w->ops->page (w->opaque, h, level, bytes);
  for (i = 0; i < cas_map_page_count (&page) && r == 0; i++) {
    uint64_t child;

    if (!cas_slot_first (w->leaf, first, level,
                         cas_map_page_slot (&page, i), &child)) {
      char key[KEY_MAX];

      cas_page_key (key, sizeof key, h);
      nbdkit_error ("export %s: map page %s is damaged: a slot beyond "
                    "2^64 blocks", w->label, key);
      errno = EIO;
      r = -1;
    }
    else if (level > 0)
      r = walk_page (w, &page.cas.entries[i].hash, level - 1, child);
    else if (w->ops->block) {
      struct cas_value v;

      cas_map_page_value (&page, i, &v);
      r = w->ops->block (w->opaque, child, &v);
    }
  }
  cas_map_page_free (&page);
  return r == -1 ? -1 : 0;
}

int
cas_tree_walk (struct store *store, const char *label,
               enum cas_leaf_kind leaf, const struct cas_hash *top,
               unsigned depth, const struct cas_walk_ops *ops, void *opaque)
{
  struct walk w = { store, label, leaf, ops, opaque, NULL };
  int r;

  if (top == NULL)
    return 0;
  if (depth > CAS_DEPTH_MAX) {
    nbdkit_error ("export %s: its map depth %u is over %u",
                  label, depth, CAS_DEPTH_MAX);
    errno = EINVAL;
    return -1;
  }
  w.buf = malloc (CAS_ANY_PAGE_MAX + 1);
  if (w.buf == NULL) {
    nbdkit_error ("malloc: %m");
    return -1;
  }
  r = walk_page (&w, top, depth, 0);
  free (w.buf);
  return r;
}
