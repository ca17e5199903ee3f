/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the log layout's tables: the recent-PUT table (dedup
 * within the reuse window, docs/log-layout.md, "Writing", 1) and the
 * kept segment copies (docs/gc-safety.md, step 10), both under the
 * layout's lock.
 */

#include <config.h>

#include <stdlib.h>
#include <string.h>

#include "layout-log-impl.h"

/* The recent-PUT table (lock held). */

static struct log_recent *
recent_slot (struct log *l, const struct cas_hash *h)
{
  uint64_t x;

  memcpy (&x, h->b, sizeof x);
  return &l->recent[x & l->recent_mask];
}

void
log_recent_put (struct log *l, const struct log_location *loc,
                uint64_t put_ms, const struct log_kept *kept)
{
  struct log_recent *r = recent_slot (l, &loc->hash);

  if (r->used && cas_hash_equal (&r->loc.hash, &loc->hash) &&
      r->put_ms > put_ms)
    return;
  r->loc = *loc;
  r->put_ms = put_ms;
  r->kept_serial = kept ? kept->serial : 0;
  r->used = true;
}

void
log_recent_refreshed (struct log *l, const uint8_t id[LOG_SEG_ID_LEN],
                      uint64_t put_ms)
{
  for (size_t i = 0; i <= l->recent_mask; i++)
    if (l->recent[i].used &&
        memcmp (l->recent[i].loc.seg, id, LOG_SEG_ID_LEN) == 0 &&
        l->recent[i].put_ms < put_ms)
      l->recent[i].put_ms = put_ms;
}

void
log_recent_forget_segment (struct log *l, const uint8_t id[LOG_SEG_ID_LEN])
{
  for (size_t i = 0; i <= l->recent_mask; i++)
    if (l->recent[i].used &&
        memcmp (l->recent[i].loc.seg, id, LOG_SEG_ID_LEN) == 0)
      l->recent[i].used = false;
}

void
log_recent_forget_before (struct log *l, uint64_t ms)
{
  for (size_t i = 0; i <= l->recent_mask; i++)
    if (l->recent[i].used && l->recent[i].put_ms < ms)
      l->recent[i].used = false;
}

bool
log_recent_get (struct log *l, const struct cas_hash *h, uint64_t now,
                struct log_location *loc, uint64_t *put_ms,
                struct log_kept **kept)
{
  const struct log_recent *r = recent_slot (l, h);

  if (!r->used || !cas_hash_equal (&r->loc.hash, h) ||
      r->put_ms + l->t.reuse_window_ms <= now)
    return false;
  *loc = r->loc;
  *put_ms = r->put_ms;
  *kept = r->kept_serial ? u64map_get (&l->kept_by_serial, r->kept_serial)
    : NULL;
  return true;
}

/* Kept segments (lock held). */

/* A copy of len bytes naming segment id, refs 1, counted in
 * kept_bytes; it takes bytes.  NULL: out of memory.
 */
static struct log_kept *
kept_alloc (struct log *l, const uint8_t id[LOG_SEG_ID_LEN], void *bytes,
            size_t len)
{
  struct log_kept *k = calloc (1, sizeof *k);

  if (k == NULL)
    return NULL;
  memcpy (k->id, id, LOG_SEG_ID_LEN);
  k->len = len;
  k->bytes = bytes;
  k->refs = 1;
  l->kept_bytes += len;
  return k;
}

struct log_kept *
log_kept_new (struct log *l, const uint8_t id[LOG_SEG_ID_LEN], void *bytes,
              size_t len)
{
  struct log_kept *k = kept_alloc (l, id, bytes, len);

  /* Unregistered (out of memory): kept for its uploads, no dedup's. */
  if (k && u64map_put (&l->kept_by_serial, ++l->kept_serial, k) == 0)
    k->serial = l->kept_serial;
  return k;
}

struct log_kept *
log_kept_block_new (struct log *l, const uint8_t id[LOG_SEG_ID_LEN],
                    const void *data)
{
  struct log_kept *k;
  void *bytes;

  if (l->kept_bytes + l->t.block_size > l->keep_limit)
    return NULL;
  bytes = malloc (l->t.block_size);
  if (bytes == NULL)
    return NULL;
  memcpy (bytes, data, l->t.block_size);
  k = kept_alloc (l, id, bytes, l->t.block_size);
  if (k == NULL) {
    free (bytes);
    return NULL;
  }
  k->block_only = true;
  /* Unregistered (out of memory): held by its change alone. */
  if (u64map_put (&l->kept_by_serial, ++l->kept_serial, k) == 0)
    k->serial = l->kept_serial;
  return k;
}

void
log_recent_share_copy (struct log *l, const struct cas_hash *h,
                       const struct log_kept *k)
{
  struct log_recent *r = recent_slot (l, h);

  if (k->serial && r->used && cas_hash_equal (&r->loc.hash, h) &&
      memcmp (r->loc.seg, k->id, LOG_SEG_ID_LEN) == 0)
    r->kept_serial = k->serial;
}

static void
kept_free (struct log *l, struct log_kept *k)
{
  l->kept_bytes -= k->len;
  free (k->bytes);
  free (k);
}

void
log_kept_release (struct log *l, struct log_kept *k)
{
  if (k == NULL || --k->refs > 0)
    return;
  /* No dedup may take it from here on (the graveyard's are going). */
  if (k->serial)
    u64map_remove (&l->kept_by_serial, k->serial);
  if (l->committing) {
    k->next = l->graveyard;
    l->graveyard = k;
  }
  else
    kept_free (l, k);
}

void
log_kept_bury (struct log *l)
{
  while (l->graveyard) {
    struct log_kept *k = l->graveyard;

    l->graveyard = k->next;
    kept_free (l, k);
  }
}
