/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): walking a map tree for gc, du and
 * check, of either leaf kind (the root's "leaf").
 *
 * Level by level from the top: all the pages of one level that are
 * wanted are read in batches of concurrent GETs, so a walk of a tree
 * of P pages and depth D costs about P / WALK_BATCH round trips, not
 * P.  Every page is checked against its hash and its level; one that
 * is missing or damaged is reported to the caller, who decides
 * whether the walk goes on without its subtree (check) or stops (gc,
 * which must never sweep after an incomplete mark).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "cas/cas-admin.h"
#include "format/cas-tree-format.h"
#include "vector.h"

#define WALK_BATCH 64

struct node {
  struct cas_hash h;
  uint64_t base;                /* first block it covers */
};

/* One level's pages still to read. */
DEFINE_VECTOR (frontier, struct node);

static int
push (struct frontier *f, const struct cas_hash *h, uint64_t base)
{
  if (frontier_append (f, (struct node) { .h = *h, .base = base }) == -1) {
    nbdkit_error ("walk: %m");
    return -1;
  }
  return 0;
}

/* Is h among the n pages already in this batch? */
static bool
in_batch (const struct node *const *batch, size_t n, const struct cas_hash *h)
{
  for (size_t j = 0; j < n; j++)
    if (cas_hash_equal (&batch[j]->h, h))
      return true;
  return false;
}

static int
report_missing (const char *label, const struct cas_walker *w,
                const struct cas_hash *h, unsigned level, const char *why,
                int err)
{
  char key[KEY_MAX];

  if (w->missing)
    return w->missing (w->opaque, h, level, why);
  cas_page_key (key, sizeof key, h);
  nbdkit_error ("%s: map page %s (level %u) is %s", label, key, level, why);
  errno = err;
  return -1;
}

/* One page read: check it, report it and queue its children. */
static int
visit (const char *label, enum cas_leaf_kind leaf,
       const struct cas_walker *w, const struct node *nd, unsigned level,
       const void *buf, size_t got, struct frontier *next)
{
  struct cas_map_page p;
  struct cas_hash actual;
  const char *why;
  int r;

  cas_hash_of (buf, got, &actual);
  if (!cas_hash_equal (&actual, &nd->h))
    return report_missing (label, w, &nd->h, level,
                           "damaged: its content does not match its hash",
                           EIO);
  if (cas_map_page_decode (leaf, level, buf, got, &p, &why) == -1) {
    char what[160];

    if (errno == ENOMEM) {
      nbdkit_error ("walk: %m");
      return -1;
    }
    snprintf (what, sizeof what, "damaged: %s", why);
    return report_missing (label, w, &nd->h, level, what, EIO);
  }
  if (cas_map_page_misfit (&p, leaf, level)) {
    /* Decoded as the kind expected here: only its level can be wrong. */
    cas_map_page_free (&p);
    return report_missing (label, w, &nd->h, level,
                           "damaged: at the wrong level", EIO);
  }
  r = w->page ? w->page (w->opaque, &nd->h, level, got) : 0;
  if (r == 0 && w->contents)
    r = w->contents (w->opaque, &nd->h, level, got, &p);
  if (r != 0) {
    cas_map_page_free (&p);
    return r == 1 ? 0 : -1;
  }
  for (uint32_t i = 0; i < cas_map_page_count (&p) && r == 0; i++) {
    uint64_t index;

    /* Slots past 2^64 blocks exist only in a page that lies. */
    if (!cas_slot_first (leaf, nd->base, level, cas_map_page_slot (&p, i),
                         &index)) {
      r = report_missing (label, w, &nd->h, level,
                          "damaged: a slot beyond 2^64 blocks", EIO);
      break;
    }
    if (level > 0)
      r = push (next, &p.cas.entries[i].hash, index);
    else if (w->block) {
      struct cas_value v;

      cas_map_page_value (&p, i, &v);
      r = w->block (w->opaque, index, &v);
    }
  }
  cas_map_page_free (&p);
  return r;
}

int
cas_walk (struct store *store, const char *label, const struct cas_root *r,
          const struct cas_walker *w)
{
  struct frontier cur = VECTOR_INIT, next = VECTOR_INIT;
  struct store_op *ops = calloc (WALK_BATCH, sizeof *ops);
  /* Room for a batch of the longest pages of the level walked: sized
   * for cas pages, grown once at a log tree's leaves.
   */
  size_t page_max = CAS_PAGE_MAX;
  char *bufs = malloc ((size_t) WALK_BATCH * page_max);
  int ret = -1;

  if (ops == NULL || bufs == NULL) {
    nbdkit_error ("walk: %m");
    goto out;
  }
  if (r->empty) {
    ret = 0;
    goto out;
  }
  if (push (&cur, &r->top, 0) == -1)
    goto out;

  for (int level = r->depth; level >= 0; level--) {
    if (cas_page_max_at (r->leaf, level) > page_max) {
      char *more;

      page_max = cas_page_max_at (r->leaf, level);
      more = realloc (bufs, (size_t) WALK_BATCH * page_max);
      if (more == NULL) {
        nbdkit_error ("walk: %m");
        goto out;
      }
      bufs = more;
    }
    for (size_t i = 0; i < cur.len; ) {
      size_t n = 0;
      const struct node *batch[WALK_BATCH];

      for (; i < cur.len && n < WALK_BATCH; i++) {
        if (w->skip && (w->skip (w->opaque, &cur.ptr[i].h) ||
                        in_batch (batch, n, &cur.ptr[i].h)))
          continue;
        memset (&ops[n], 0, sizeof ops[n]);
        ops[n].kind = STORE_GET;
        cas_page_key (ops[n].key, sizeof ops[n].key, &cur.ptr[i].h);
        ops[n].buf = bufs + n * page_max;
        ops[n].len = page_max;
        batch[n++] = &cur.ptr[i];
      }
      store_run (store, ops, n);
      for (size_t j = 0; j < n; j++) {
        int v;

        if (ops[j].err == ENOENT)
          v = report_missing (label, w, &batch[j]->h, level, "missing",
                              ENOENT);
        else if (ops[j].err == EIO)
          /* Longer than any page (the store said so), or unreadable. */
          v = report_missing (label, w, &batch[j]->h, level,
                              "unreadable or longer than a page", EIO);
        else if (ops[j].err) {
          nbdkit_error ("%s: cannot read %s: %s", label, ops[j].key,
                        strerror (ops[j].err));
          errno = ops[j].err;
          v = -1;
        }
        else
          v = visit (label, r->leaf, w, batch[j], level, ops[j].buf,
                     ops[j].got, &next);
        if (v == -1)
          goto out;
      }
    }
    /* The next level's pages become the current ones. */
    {
      struct frontier t = cur;

      cur = next;
      next = t;
      next.len = 0;
    }
  }
  ret = 0;

 out:
  frontier_reset (&cur);
  frontier_reset (&next);
  free (ops);
  free (bufs);
  return ret;
}
