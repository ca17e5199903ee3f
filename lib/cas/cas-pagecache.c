/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the map tree's page cache (see cas-pagecache.h).
 *
 * A u64map keyed by the hash's first 8 bytes finds a chain of pages
 * (almost always one: SHA-256 is uniform), compared in full; a doubly
 * linked list orders them by use.
 */

#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "cas/cas-pagecache.h"
#include "u64map.h"

/* Full pages, so that "a few pages" means something at any depth: a
 * lookup pins one page a level, a full leaf at the bottom.
 */
#define FULL_CAS_PAGE_BYTES \
  (sizeof (struct cas_cached_page) + CAS_FANOUT * sizeof (struct cas_page_entry))
#define FULL_LOG_LEAF_BYTES \
  (sizeof (struct cas_cached_page) + \
   LOG_LEAF_FANOUT * sizeof (struct log_leaf_entry))

static uint64_t
limit_floor (enum cas_leaf_kind leaf)
{
  return CAS_DEPTH_MAX * FULL_CAS_PAGE_BYTES +
    (leaf == CAS_LEAF_LOCATION ? FULL_LOG_LEAF_BYTES : FULL_CAS_PAGE_BYTES);
}

struct cas_pagecache {
  pthread_mutex_t lock;
  uint64_t limit, bytes;
  struct u64map map;
  struct cas_cached_page *head, *tail;
};

static uint64_t
key_of (const struct cas_hash *h)
{
  uint64_t k;

  memcpy (&k, h->b, sizeof k);
  return k;
}

struct cas_pagecache *
cas_pagecache_new (uint64_t limit, enum cas_leaf_kind leaf)
{
  struct cas_pagecache *c = calloc (1, sizeof *c);
  const uint64_t least = limit_floor (leaf);

  if (c == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  pthread_mutex_init (&c->lock, NULL);
  c->limit = limit < least ? least : limit;
  c->map = (struct u64map) U64MAP_INIT;
  return c;
}

static void
page_free (struct cas_cached_page *p)
{
  cas_map_page_free (&p->page);
  free (p);
}

void
cas_pagecache_free (struct cas_pagecache *c)
{
  struct cas_cached_page *p, *next;

  if (c == NULL)
    return;
  /* Every pin is put back before the tree is freed. */
  for (p = c->head; p; p = next) {
    next = p->next;
    page_free (p);
  }
  u64map_free (&c->map);
  pthread_mutex_destroy (&c->lock);
  free (c);
}

struct cas_cached_page *
cas_cached_page_new (const struct cas_hash *h, struct cas_map_page *page)
{
  struct cas_cached_page *p = calloc (1, sizeof *p);

  if (p == NULL) {
    nbdkit_error ("calloc: %m");
    cas_map_page_free (page);
    return NULL;
  }
  p->hash = *h;
  p->page = *page;
  /* The entries are p's now: page keeps nothing to free. */
  if (page->log_leaf)
    page->log = (struct log_leaf) { 0 };
  else
    page->cas = (struct cas_page) { 0 };
  p->bytes = sizeof *p + cas_map_page_entry_bytes (&p->page);
  p->refs = 1;
  return p;
}

static void
lru_unlink (struct cas_pagecache *c, struct cas_cached_page *p)
{
  if (p->prev)
    p->prev->next = p->next;
  else
    c->head = p->next;
  if (p->next)
    p->next->prev = p->prev;
  else
    c->tail = p->prev;
  p->prev = p->next = NULL;
}

static void
lru_push_front (struct cas_pagecache *c, struct cas_cached_page *p)
{
  p->prev = NULL;
  p->next = c->head;
  if (c->head)
    c->head->prev = p;
  else
    c->tail = p;
  c->head = p;
}

/* Under the lock. */
static struct cas_cached_page *
find (struct cas_pagecache *c, const struct cas_hash *h)
{
  struct cas_cached_page *p = u64map_get (&c->map, key_of (h));

  while (p && !cas_hash_equal (&p->hash, h))
    p = p->chain;
  return p;
}

/* Under the lock: take p out of the cache and drop the cache's pin (a
 * page still pinned is freed by its last put).
 */
static void
evict (struct cas_pagecache *c, struct cas_cached_page *p)
{
  uint64_t k = key_of (&p->hash);
  struct cas_cached_page *first = u64map_get (&c->map, k), **pp;

  if (first == p) {
    u64map_remove (&c->map, k);
    /* Cannot fail: the removal left room (no growth). */
    if (p->chain)
      u64map_put (&c->map, k, p->chain);
  }
  else {
    for (pp = &first->chain; *pp != p; pp = &(*pp)->chain)
      ;
    *pp = p->chain;
  }
  p->chain = NULL;
  lru_unlink (c, p);
  p->cached = false;
  c->bytes -= p->bytes;
  if (--p->refs == 0)
    page_free (p);
}

struct cas_cached_page *
cas_pagecache_get (struct cas_pagecache *c, const struct cas_hash *h)
{
  struct cas_cached_page *p;

  pthread_mutex_lock (&c->lock);
  p = find (c, h);
  if (p) {
    p->refs++;
    lru_unlink (c, p);
    lru_push_front (c, p);
  }
  pthread_mutex_unlock (&c->lock);
  return p;
}

struct cas_cached_page *
cas_pagecache_insert (struct cas_pagecache *c, struct cas_cached_page *p)
{
  struct cas_cached_page *old, *first;
  uint64_t k = key_of (&p->hash);

  pthread_mutex_lock (&c->lock);
  old = find (c, &p->hash);
  if (old) {
    /* Another thread fetched it meanwhile: keep one copy. */
    old->refs++;
    lru_unlink (c, old);
    lru_push_front (c, old);
    pthread_mutex_unlock (&c->lock);
    cas_pagecache_put (c, p);
    return old;
  }
  first = u64map_get (&c->map, k);
  if (u64map_put (&c->map, k, p) == -1) {
    pthread_mutex_unlock (&c->lock);
    nbdkit_debug ("cas page cache: out of memory, page not cached");
    return p;
  }
  p->chain = first;
  p->cached = true;
  p->refs++;
  lru_push_front (c, p);
  c->bytes += p->bytes;
  while (c->bytes > c->limit && c->tail != p)
    evict (c, c->tail);
  pthread_mutex_unlock (&c->lock);
  return p;
}

void
cas_pagecache_pin (struct cas_pagecache *c, struct cas_cached_page *p,
                   unsigned n)
{
  pthread_mutex_lock (&c->lock);
  p->refs += n;
  pthread_mutex_unlock (&c->lock);
}

void
cas_pagecache_put (struct cas_pagecache *c, struct cas_cached_page *p)
{
  bool last;

  pthread_mutex_lock (&c->lock);
  last = --p->refs == 0;
  pthread_mutex_unlock (&c->lock);
  if (last)
    page_free (p);
}

uint64_t
cas_pagecache_bytes (struct cas_pagecache *c)
{
  uint64_t r;

  pthread_mutex_lock (&c->lock);
  r = c->bytes;
  pthread_mutex_unlock (&c->lock);
  return r;
}
