/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the volume's block table, its two lists and memory accounting.
 *
 * A block in the table is LOADING (placeholder while its GET is in
 * flight), CLEAN (on the LRU list, counted in clean_bytes) or DIRTY (on
 * the dirty list in order of its oldest unsaved change, counted in
 * dirty_bytes).  A block not in the table reads from the store, or as
 * zeros when the allocation map says it has no object.
 *
 * All functions are called with volume.lock held.
 */

#include <config.h>

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "bufpool.h"
#include "clock.h"
#include "volume-impl.h"

static void
list_append (struct block_list *l, struct block *b)
{
  b->next = NULL;
  b->prev = l->tail;
  if (l->tail)
    l->tail->next = b;
  else
    l->head = b;
  l->tail = b;
  l->len++;
}

static void
list_unlink (struct block_list *l, struct block *b)
{
  if (b->prev)
    b->prev->next = b->next;
  else
    l->head = b->next;
  if (b->next)
    b->next->prev = b->prev;
  else
    l->tail = b->prev;
  b->prev = b->next = NULL;
  l->len--;
}

static struct block_list *
list_of (struct volume *v, const struct block *b)
{
  switch (b->state) {
  case BLOCK_DIRTY: return &v->dirty;
  case BLOCK_CLEAN: return &v->lru;
  default: return NULL;
  }
}

static uint64_t *
counter_of (struct volume *v, const struct block *b)
{
  switch (b->state) {
  case BLOCK_DIRTY: return &v->dirty_bytes;
  case BLOCK_CLEAN: return &v->clean_bytes;
  default: return NULL;
  }
}

uint64_t
block_cost (const struct volume *v, const struct block *b)
{
  return BLOCK_OVERHEAD + (b->data ? v->block_size : 0);
}

/* The byte counts follow each block's state and whether it holds data:
 * uncharge before changing either, charge after.
 */
static void
uncharge (struct volume *v, const struct block *b)
{
  uint64_t *counter = counter_of (v, b);

  if (counter)
    *counter -= block_cost (v, b);
}

static void
charge (struct volume *v, const struct block *b)
{
  uint64_t *counter = counter_of (v, b);

  if (counter)
    *counter += block_cost (v, b);
  if (v->dirty_bytes > v->stats.peak_dirty_bytes)
    v->stats.peak_dirty_bytes = v->dirty_bytes;
}

/* Take the block out of its state's list and byte count. */
static void
detach (struct volume *v, struct block *b)
{
  struct block_list *l = list_of (v, b);

  if (l)
    list_unlink (l, b);
  uncharge (v, b);
}

/* Put it at the tail of its (new) state's list, and into its count. */
static void
attach (struct volume *v, struct block *b)
{
  struct block_list *l = list_of (v, b);

  if (l)
    list_append (l, b);
  charge (v, b);
}

struct block *
block_lookup (struct volume *v, uint64_t index)
{
  return u64map_get (&v->blocks, index);
}

/* A buffer of block_size bytes from the volume's pool; NULL with errno
 * ENOMEM, after a message.
 */
void *
block_buffer_alloc (struct volume *v)
{
  void *buf = bufpool_alloc (v->pool);

  if (buf == NULL) {
    nbdkit_error ("out of memory for a block buffer");
    errno = ENOMEM;
  }
  return buf;
}

struct block *
block_new_loading (struct volume *v, uint64_t index)
{
  struct block *b = calloc (1, sizeof *b);

  if (b == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  b->index = index;
  b->state = BLOCK_LOADING;
  if (u64map_put (&v->blocks, index, b) == -1) {
    nbdkit_error ("block table: %m");
    free (b);
    return NULL;
  }
  return b;
}

void
block_remove (struct volume *v, struct block *b)
{
  assert (!b->uploading);
  detach (v, b);
  u64map_remove (&v->blocks, b->index);
  bufpool_free (v->pool, b->data);
  free (b);
}

void
block_loaded (struct volume *v, struct block *b, char *data)
{
  assert (b->state == BLOCK_LOADING);
  b->data = data;
  b->zero = false;
  b->state = BLOCK_CLEAN;
  attach (v, b);
}

void
block_touch (struct volume *v, struct block *b)
{
  if (b->state == BLOCK_CLEAN) {
    list_unlink (&v->lru, b);
    list_append (&v->lru, b);
  }
}

/* Record a change: a clean block joins the tail of the dirty list. */
void
block_set_dirty (struct volume *v, struct block *b)
{
  b->mod_seq = ++v->seq;
  if (b->state == BLOCK_DIRTY)
    return;
  detach (v, b);
  b->state = BLOCK_DIRTY;
  b->dirty_seq = b->mod_seq;
  b->dirty_since_ms = clock_mono_ms ();
  attach (v, b);
}

/* Every change is in the store.  A zero block then has no object and
 * needs no entry; a data block stays cached if the cache is on.
 */
void
block_set_clean (struct volume *v, struct block *b)
{
  assert (b->state == BLOCK_DIRTY && !b->uploading);
  if (b->zero || v->cache_size == 0) {
    block_remove (v, b);
    return;
  }
  detach (v, b);
  b->state = BLOCK_CLEAN;
  attach (v, b);
  cache_evict (v);
}

/* Still dirty after an upload of an older snapshot: its oldest unsaved
 * change is now just after that snapshot.  Blocks changed since then
 * are already on the list, so walk back to keep it sorted.
 */
void
block_requeue_dirty (struct volume *v, struct block *b, uint64_t dirty_seq)
{
  struct block *after;

  assert (b->state == BLOCK_DIRTY);
  list_unlink (&v->dirty, b);
  b->dirty_seq = dirty_seq;
  for (after = v->dirty.tail; after && after->dirty_seq > dirty_seq;
       after = after->prev)
    ;
  b->prev = after;
  b->next = after ? after->next : v->dirty.head;
  if (b->next)
    b->next->prev = b;
  else
    v->dirty.tail = b;
  if (after)
    after->next = b;
  else
    v->dirty.head = b;
  v->dirty.len++;
}

/* A buffer the caller may modify: allocated for a zero block, and
 * copied if an upload is reading the current one.
 */
char *
block_writable_data (struct volume *v, struct block *b)
{
  char *data;

  if (b->data && b->data != b->upload_data)
    return b->data;
  data = block_buffer_alloc (v);
  if (data == NULL)
    return NULL;
  if (b->data)
    memcpy (data, b->data, v->block_size);
  else
    memset (data, 0, v->block_size);
  uncharge (v, b);
  b->data = data;
  b->zero = false;
  charge (v, b);
  return data;
}

void
block_set_zero (struct volume *v, struct block *b)
{
  uncharge (v, b);
  if (b->data != b->upload_data)
    bufpool_free (v->pool, b->data);
  b->data = NULL;
  b->zero = true;
  charge (v, b);
}

void
cache_evict (struct volume *v)
{
  while (v->clean_bytes > v->cache_size && v->lru.head)
    block_remove (v, v->lru.head);
}
