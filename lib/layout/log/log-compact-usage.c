/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: compaction's usage table (docs/log-layout.md,
 * "Compaction"): per segment the committed map names, the bytes it
 * references there (live) and the segment's data bytes.
 *
 * The table is rebuilt by a walk of the committed map (every leaf,
 * one GET each), not kept up to date by each commit: compaction walks
 * again only when it has no candidate left and a root has landed since
 * its last walk, and the walk's bytes count against log-compact-rate.
 * A segment's data bytes come from its 64-byte header (one ranged GET,
 * checked), read once: segments never change, so the entry keeps them
 * across walks.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "layout-log-impl.h"
#include "log-segio-impl.h"

static uint64_t
id_key (const uint8_t id[LOG_SEG_ID_LEN])
{
  uint64_t k;

  memcpy (&k, id, sizeof k);
  return k;
}

struct log_usage *
log_usage_find (struct log *l, const uint8_t id[LOG_SEG_ID_LEN])
{
  struct log_usage *u = u64map_get (&l->compact.table, id_key (id));

  while (u && memcmp (u->id, id, LOG_SEG_ID_LEN) != 0)
    u = u->next;
  return u;
}

static struct log_usage *
usage_add (struct log *l, const uint8_t id[LOG_SEG_ID_LEN])
{
  struct log_usage *u = calloc (1, sizeof *u);
  struct log_usage *head = u64map_get (&l->compact.table, id_key (id));

  if (u == NULL)
    return NULL;
  memcpy (u->id, id, LOG_SEG_ID_LEN);
  u->next = head;
  if (u64map_put (&l->compact.table, id_key (id), u) == -1) {
    free (u);
    return NULL;
  }
  l->compact.nr++;
  return u;
}

void
log_usage_free (struct log *l)
{
  for (size_t i = 0; i < l->compact.table.capacity; i++) {
    struct log_usage *u = l->compact.table.slots[i].value;

    while (u) {
      struct log_usage *next = u->next;

      free (u);
      u = next;
    }
  }
  u64map_free (&l->compact.table);
  l->compact.nr = 0;
}

/* Drop the entries the last walk did not see: no longer named by the
 * map, they are gc's.  The chains are cut in place (the old map is
 * only iterated from here on, never searched), then the rest goes
 * into a new map.  0, or -1 (errno ENOMEM) with the table emptied.
 */
static int
usage_prune (struct log *l)
{
  struct u64map *m = &l->compact.table, fresh = U64MAP_INIT;
  int r = 0;

  for (size_t i = 0; i < m->capacity; i++) {
    struct log_usage *head = m->slots[i].value, **pp = &head;

    while (*pp) {
      struct log_usage *u = *pp;

      if (u->seen)
        pp = &u->next;
      else {
        *pp = u->next;
        free (u);
        l->compact.nr--;
      }
    }
    m->slots[i].value = head;
  }
  for (size_t i = 0; i < m->capacity && r == 0; i++)
    if (m->slots[i].value)
      r = u64map_put (&fresh, m->slots[i].key, m->slots[i].value);
  if (r == -1) {
    u64map_free (&fresh);
    log_usage_free (l);         /* frees through the old map's slots */
    errno = ENOMEM;
    return -1;
  }
  u64map_free (m);              /* the slots only: the entries moved */
  *m = fresh;
  return 0;
}

/* The walk of the committed map, shared with log-compact-refs.c. */
struct map_walk {
  int (*block) (void *opaque, uint64_t index, const struct cas_value *v);
  void *opaque;
  uint64_t bytes;
};

static int
map_walk_page (void *opaque, const struct cas_hash *h, unsigned level,
               size_t bytes)
{
  ((struct map_walk *) opaque)->bytes += bytes;
  return 0;
}

static int
map_walk_block (void *opaque, uint64_t index, const struct cas_value *v)
{
  struct map_walk *w = opaque;

  return w->block (w->opaque, index, v);
}

int
log_walk_map (struct log *l,
              int (*block) (void *opaque, uint64_t index,
                            const struct cas_value *v),
              void *opaque, uint64_t *landed, uint64_t *bytes)
{
  static const struct cas_walk_ops ops = {
    .page = map_walk_page, .block = map_walk_block,
  };
  struct map_walk w = { .block = block, .opaque = opaque };
  struct cas_hash top;
  unsigned depth;
  bool have;
  int r;

  /* The top and the count of roots landed, together. */
  pthread_mutex_lock (&l->t.lock);
  if (landed)
    *landed = l->t.stats.roots_written;
  have = cas_tree_get_top (l->t.tree, &top, &depth);
  pthread_mutex_unlock (&l->t.lock);
  r = cas_tree_walk (l->t.store, l->t.name, CAS_LEAF_LOCATION,
                     have ? &top : NULL, depth, &ops, &w);
  *bytes += w.bytes;
  return r;
}

static int
usage_block (void *opaque, uint64_t index, const struct cas_value *v)
{
  struct log *l = opaque;
  struct log_usage *u = log_usage_find (l, v->loc.seg);

  if (u == NULL && (u = usage_add (l, v->loc.seg)) == NULL) {
    nbdkit_error ("export %s: compaction's usage table: %m", l->t.name);
    errno = ENOMEM;
    return -1;
  }
  if (!u->seen) {
    u->seen = true;
    u->live = 0;
    u->done = false;
  }
  u->live += v->loc.stored_len;
  return 0;
}

/* The data bytes of segment u, from its header. */
static int
read_header (struct log *l, struct log_usage *u, uint64_t *bytes)
{
  uint8_t buf[LOG_SEG_HEADER];
  char key[KEY_MAX];
  struct log_segment_header hdr;
  const char *why;
  size_t got = 0;
  int err;

  segio_key (key, u->id);
  err = segio_get_range (&l->io, key, 0, sizeof buf, buf, &got);
  *bytes += got;
  if (err == ENOENT) {
    nbdkit_error ("export %s: segment %s, which its map names, is "
                  "missing (s3blocks check --deep lists the exports "
                  "naming it); compaction leaves it", l->t.name, key);
    u->done = true;
    return 0;
  }
  if (err) {
    errno = err;
    return -1;
  }
  if (log_segment_header_decode (buf, got, u->id, &hdr, &why) == -1) {
    nbdkit_error ("export %s: segment %s: its header is unreadable: %s; "
                  "compaction leaves it", l->t.name, key, why);
    u->done = true;
    return 0;
  }
  u->data = hdr.data_len;
  return 0;
}

/* Log what the completed walk found and record it in the layout's
 * statistics (layout.h), for the metrics' live and dead bytes.  The
 * statistics count only segments whose header was read (a missing one
 * has no size to set its live bytes against), each segment's live
 * bytes at most its data bytes: blocks deduplicated onto one record
 * each count its bytes, so that dead bytes never go below zero.  The
 * log line keeps the raw sums.
 */
static void
usage_publish (struct log *l)
{
  uint64_t live = 0, data = 0, known_live = 0, known_data = 0;

  for (size_t i = 0; i < l->compact.table.capacity; i++)
    for (struct log_usage *u = l->compact.table.slots[i].value; u;
         u = u->next) {
      live += u->live;
      data += u->data;
      if (u->data > 0) {
        known_data += u->data;
        known_live += u->live < u->data ? u->live : u->data;
      }
    }
  nbdkit_debug ("export %s: compaction: the map names %zu segments, "
                "%" PRIu64 " data bytes, %" PRIu64 " of them live",
                l->t.name, l->compact.nr, data, live);
  pthread_mutex_lock (&l->t.lock);
  l->t.stats.log_usage_known = true;
  l->t.stats.log_stored_bytes = known_data;
  l->t.stats.log_live_bytes = known_live;
  pthread_mutex_unlock (&l->t.lock);
}

int
log_usage_build (struct log *l, uint64_t *bytes)
{
  uint64_t landed;

  for (size_t i = 0; i < l->compact.table.capacity; i++)
    for (struct log_usage *u = l->compact.table.slots[i].value; u;
         u = u->next)
      u->seen = false;
  *bytes = 0;
  if (log_walk_map (l, usage_block, l, &landed, bytes) == -1) {
    /* A half walk would under-count live bytes: forget it all. */
    log_usage_free (l);
    l->compact.built = false;
    return -1;
  }
  if (usage_prune (l) == -1) {
    nbdkit_error ("export %s: compaction's usage table: %m", l->t.name);
    return -1;
  }
  for (size_t i = 0; i < l->compact.table.capacity; i++)
    for (struct log_usage *u = l->compact.table.slots[i].value; u;
         u = u->next)
      if (u->data == 0 && !u->done && read_header (l, u, bytes) == -1)
        return -1;
  l->compact.built = true;
  l->compact.built_landed = landed;
  usage_publish (l);
  return 0;
}

bool
log_usage_current (struct log *l)
{
  bool current;

  pthread_mutex_lock (&l->t.lock);
  current = l->compact.built &&
    l->compact.built_landed == l->t.stats.roots_written;
  pthread_mutex_unlock (&l->t.lock);
  return current;
}
