/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: updating a content-addressed map tree (cas_tree_update),
 * of either leaf kind (cas-tree.h).
 *
 * Nothing is rewritten in place: the new tree shares every unchanged
 * subtree with the old one, and only the pages on the paths from the
 * top to the changed leaves are built and PUT, bottom-up.  So a commit
 * of k blocks costs at most k * (depth + 1) pages whatever the export's
 * size, and the old tree stays whole until the caller's root PUT makes
 * the new one current (a crash before it leaves the old root valid).
 *
 *        old top                     new top'
 *       /   |    \                  /   |    \
 *     A     B     C       ->      A     B'    C        only B, B' ... change
 *          / \                         / \
 *         x   y                       x   y'
 *
 * Growing the depth puts the old top at slot 0 of a chain of new
 * pages ("synthetic" pages below: they exist only in this update until
 * built and PUT).  A subtree left with no entries is a hole in its
 * parent: empty pages are never stored.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "cas-tree-impl.h"
#include "u64map.h"

#define PUT_BATCH 32

/* The old content of a subtree. */
enum ref_kind {
  REF_HOLE,
  REF_STORED,                   /* the page hash, in the store */
  REF_SYNTH,                    /* above the old top: slot 0 -> old top */
};

struct ref {
  enum ref_kind kind;
  struct cas_hash hash;
};

/* A page of this update already queued or written, so that two equal
 * pages are PUT once (a batch never has one key twice).
 */
struct written {
  struct cas_hash hash;
  struct written *chain;
};

struct update {
  struct cas_tree *t;
  const struct store_gate *gate;
  bool old_empty;
  struct cas_hash old_top;
  unsigned old_depth;

  struct store_op ops[PUT_BATCH];
  struct cas_cached_page *pages[PUT_BATCH];     /* the ops' pages */
  size_t nops;
  struct u64map written;

  int64_t blocks_delta;
  uint64_t pages_written, page_bytes_written;
};

static uint64_t
key_of (const struct cas_hash *h)
{
  uint64_t k;

  memcpy (&k, h->b, sizeof k);
  return k;
}

/* PUT the queued pages; once stored they go in the cache, as the next
 * reads of the changed blocks will want them.
 */
static int
flush_batch (struct update *u)
{
  size_t i, n = u->nops;
  int err = 0;

  if (n == 0)
    return 0;
  store_run (u->t->store, u->ops, n);
  for (i = 0; i < n; i++) {
    struct store_op *op = &u->ops[i];

    free (op->buf);
    /* The store logged failures; a gate's refusal is its owner's to
     * explain.
     */
    if (op->err && !err)
      err = op->err;
    if (op->err == 0) {
      u->pages_written++;
      u->page_bytes_written += op->len;
      cas_pagecache_put (u->t->cache,
                         cas_pagecache_insert (u->t->cache, u->pages[i]));
    }
    else
      cas_pagecache_put (u->t->cache, u->pages[i]);
  }
  u->nops = 0;
  if (err) {
    errno = err;
    return -1;
  }
  return 0;
}

/* Queue the new page for PUT, unless this update already did; *h: its
 * hash.  Takes page's entries.
 */
static int
queue_page (struct update *u, struct cas_map_page *page,
            const struct ref *old, struct cas_hash *h)
{
  const size_t len = cas_map_page_len (page);
  struct written *w;
  struct store_op *op;
  void *buf;

  buf = malloc (len);
  if (buf == NULL) {
    nbdkit_error ("malloc: %m");
    cas_map_page_free (page);
    return -1;
  }
  cas_map_page_encode (page, buf);
  cas_hash_of (buf, len, h);

  /* The same page as before (every change a no-op): already stored. */
  if (old->kind == REF_STORED && cas_hash_equal (h, &old->hash))
    goto done;
  for (w = u64map_get (&u->written, key_of (h)); w; w = w->chain)
    if (cas_hash_equal (&w->hash, h))
      goto done;
  w = malloc (sizeof *w);
  if (w == NULL) {
    nbdkit_error ("malloc: %m");
    goto fail;
  }
  w->hash = *h;
  w->chain = u64map_get (&u->written, key_of (h));
  if (u64map_put (&u->written, key_of (h), w) == -1) {
    nbdkit_error ("export %s: out of memory building map pages",
                  u->t->label);
    free (w);
    goto fail;
  }

  if (u->nops == PUT_BATCH && flush_batch (u) == -1)
    goto fail;
  u->pages[u->nops] = cas_cached_page_new (h, page);
  if (u->pages[u->nops] == NULL) {
    free (buf);
    return -1;
  }
  op = &u->ops[u->nops++];
  memset (op, 0, sizeof *op);
  op->kind = STORE_PUT;
  cas_page_key (op->key, sizeof op->key, h);
  op->buf = buf;
  op->len = len;
  op->condition = STORE_ALWAYS;
  op->gate = u->gate;
  return 0;

 done:
  free (buf);
  cas_map_page_free (page);
  return 0;

 fail:
  free (buf);
  cas_map_page_free (page);
  return -1;
}

/* A new leaf of the tree's kind with room for every slot, empty. */
static int
leaf_new (struct update *u, struct cas_map_page *p)
{
  const unsigned fanout = cas_fanout_at (u->t->leaf, 0);

  memset (p, 0, sizeof *p);
  p->log_leaf = u->t->leaf == CAS_LEAF_LOCATION;
  if (p->log_leaf)
    p->log.entries = malloc (fanout * sizeof *p->log.entries);
  else
    p->cas.entries = malloc (fanout * sizeof *p->cas.entries);
  if (p->log_leaf ? p->log.entries == NULL : p->cas.entries == NULL) {
    nbdkit_error ("malloc: %m");
    return -1;
  }
  return 0;
}

/* Append entry i of the old leaf (of the same kind) to p. */
static void
leaf_keep (struct cas_map_page *p, const struct cas_map_page *old,
           uint32_t i)
{
  if (p->log_leaf)
    p->log.entries[p->log.count++] = old->log.entries[i];
  else
    p->cas.entries[p->cas.count++] = old->cas.entries[i];
}

/* Append block slot's new value to p: the member of the tree's kind. */
static void
leaf_add (struct cas_map_page *p, unsigned slot, const struct cas_value *v)
{
  if (p->log_leaf) {
    struct log_leaf_entry *e = &p->log.entries[p->log.count++];

    e->slot = (uint16_t) slot;
    e->loc = v->loc;
  }
  else {
    struct cas_page_entry *e = &p->cas.entries[p->cas.count++];

    e->slot = (uint16_t) slot;
    e->hash = v->hash;
  }
}

/* The leaf whose old content is old (a hole or a stored page: a
 * synthetic page is never a leaf), with changes ch[0..n) (all inside
 * it) applied: *out.
 */
static int
build_leaf (struct update *u, const struct ref *old,
            const struct cas_change *ch, size_t n, struct ref *out)
{
  const enum cas_leaf_kind leaf = u->t->leaf;
  const unsigned fanout = cas_fanout_at (leaf, 0);
  struct cas_cached_page *oldp = NULL;
  struct cas_map_page newp;
  uint32_t oldc = 0, i = 0;
  size_t j = 0;
  int r = -1;

  if (old->kind == REF_STORED) {
    oldp = cas_tree_page (u->t, &old->hash, 0);
    if (oldp == NULL)
      return -1;
    oldc = cas_map_page_count (&oldp->page);
  }
  if (leaf_new (u, &newp) == -1)
    goto out;

  while (i < oldc || j < n) {
    unsigned old_slot = i < oldc ? cas_map_page_slot (&oldp->page, i) : fanout;
    unsigned slot = j < n ? cas_slot_of (leaf, ch[j].index, 0) : fanout;
    bool had = old_slot == slot;

    if (old_slot < slot) {
      leaf_keep (&newp, &oldp->page, i++);
      continue;
    }
    /* Each index once: one change for this slot. */
    u->blocks_delta += (int) ch[j].present - (int) had;
    if (ch[j].present)
      leaf_add (&newp, slot, &ch[j].value);
    j++;
    if (had)
      i++;
  }

  if (cas_map_page_count (&newp) == 0) {
    cas_map_page_free (&newp);
    out->kind = REF_HOLE;
    r = 0;
  }
  else {
    out->kind = REF_STORED;
    r = queue_page (u, &newp, old, &out->hash);
  }
 out:
  if (oldp)
    cas_pagecache_put (u->t->cache, oldp);
  return r;
}

static int build (struct update *u, unsigned level, const struct ref *old,
                  const struct cas_change *ch, size_t n, struct ref *out);

/* The old child at entry e of a page at level (old: that page). */
static void
child_ref (const struct update *u, unsigned level, const struct ref *old,
           const struct cas_page_entry *e, struct ref *child)
{
  if (old->kind == REF_SYNTH && level - 1 > u->old_depth)
    child->kind = REF_SYNTH;
  else {
    child->kind = REF_STORED;
    child->hash = old->kind == REF_SYNTH ? u->old_top : e->hash;
  }
}

/* The subtree at level whose old content is old, with changes ch[0..n)
 * (all inside it) applied: *out.  Pages above level 0 are cas pages in
 * every tree; leaves are the tree's kind's (build_leaf).
 */
static int
build (struct update *u, unsigned level, const struct ref *old,
       const struct cas_change *ch, size_t n, struct ref *out)
{
  const enum cas_leaf_kind leaf = u->t->leaf;
  struct cas_cached_page *oldp = NULL;
  const struct cas_page_entry *olde = NULL;
  struct cas_page_entry synth, *newe;
  struct cas_map_page newp;
  uint32_t oldc = 0, newc = 0, i = 0;
  size_t j = 0;
  int r = -1;

  if (level == 0)
    return build_leaf (u, old, ch, n, out);
  if (old->kind == REF_STORED) {
    oldp = cas_tree_page (u->t, &old->hash, level);
    if (oldp == NULL)
      return -1;
    olde = oldp->page.cas.entries;
    oldc = oldp->page.cas.count;
  }
  else if (old->kind == REF_SYNTH) {
    memset (&synth, 0, sizeof synth);
    olde = &synth;
    oldc = 1;
  }
  newe = malloc (CAS_FANOUT * sizeof *newe);
  if (newe == NULL) {
    nbdkit_error ("malloc: %m");
    goto out;
  }

  while (i < oldc || j < n) {
    unsigned old_slot = i < oldc ? olde[i].slot : CAS_FANOUT;
    unsigned slot = j < n ? cas_slot_of (leaf, ch[j].index, level)
      : CAS_FANOUT;
    bool had = old_slot == slot;
    struct ref child, built;
    size_t k;

    if (old_slot < slot) {
      /* Unchanged, unless it is a synthetic page to be made. */
      child_ref (u, level, old, &olde[i], &child);
      if (child.kind == REF_SYNTH) {
        if (build (u, level - 1, &child, NULL, 0, &built) == -1)
          goto out;
        child = built;
      }
      newe[newc].slot = (uint16_t) old_slot;
      newe[newc++].hash = child.hash;
      i++;
      continue;
    }

    for (k = j + 1;
         k < n && cas_slot_of (leaf, ch[k].index, level) == slot; k++)
      ;
    if (had)
      child_ref (u, level, old, &olde[i], &child);
    else
      child.kind = REF_HOLE;
    if (build (u, level - 1, &child, ch + j, k - j, &built) == -1)
      goto out;
    if (built.kind != REF_HOLE) {
      newe[newc].slot = (uint16_t) slot;
      newe[newc++].hash = built.hash;
    }
    j = k;
    if (had)
      i++;
  }

  if (newc == 0) {
    out->kind = REF_HOLE;
    r = 0;
  }
  else {
    out->kind = REF_STORED;
    newp.log_leaf = false;
    newp.cas = (struct cas_page) { .level = level, .count = newc,
                                   .entries = newe };
    r = queue_page (u, &newp, old, &out->hash);
    newe = NULL;
  }
 out:
  free (newe);
  if (oldp)
    cas_pagecache_put (u->t->cache, oldp);
  return r;
}

static int
check_changes (const struct cas_tree *t, const struct cas_change *changes,
               size_t n)
{
  size_t i;

  for (i = 1; i < n; i++) {
    if (changes[i].index <= changes[i - 1].index) {
      nbdkit_error ("export %s: map update: changes not sorted by block "
                    "(block %" PRIu64 " after %" PRIu64 ")", t->label,
                    changes[i].index, changes[i - 1].index);
      errno = EINVAL;
      return -1;
    }
  }
  return 0;
}

int
cas_tree_update (struct cas_tree *t, const struct cas_change *changes,
                 size_t n, unsigned min_depth, const struct store_gate *gate,
                 struct cas_update *result)
{
  struct update u = { .t = t, .gate = gate, .written = U64MAP_INIT };
  struct ref old, built;
  unsigned depth;
  size_t i;
  int r;

  if (check_changes (t, changes, n) == -1)
    return -1;
  u.old_empty = !cas_tree_get_top (t, &u.old_top, &u.old_depth);

  depth = u.old_depth > min_depth ? u.old_depth : min_depth;
  if (n > 0) {
    unsigned need = cas_depth_for_index (t->leaf, changes[n - 1].index);

    if (need > depth)
      depth = need;
  }
  if (depth > CAS_DEPTH_MAX) {
    nbdkit_error ("export %s: map update: depth %u is over %u",
                  t->label, depth, CAS_DEPTH_MAX);
    errno = EINVAL;
    return -1;
  }

  if (u.old_empty)
    old.kind = REF_HOLE;
  else if (depth == u.old_depth) {
    old.kind = REF_STORED;
    old.hash = u.old_top;
  }
  else
    old.kind = REF_SYNTH;

  if (n == 0 && old.kind != REF_SYNTH) {
    /* Nothing to build. */
    built = old;
    r = 0;
  }
  else {
    r = build (&u, depth, &old, changes, n, &built);
    if (r == 0)
      r = flush_batch (&u);
    else {
      /* Drop what is queued: the commit failed anyway. */
      for (i = 0; i < u.nops; i++) {
        free (u.ops[i].buf);
        cas_pagecache_put (t->cache, u.pages[i]);
      }
    }
  }

  for (i = 0; i < u.written.capacity; i++) {
    struct written *w = u.written.slots[i].value, *next;

    for (; w; w = next) {
      next = w->chain;
      free (w);
    }
  }
  u64map_free (&u.written);
  if (r == -1)
    return -1;

  result->empty = built.kind == REF_HOLE;
  if (!result->empty)
    result->top = built.hash;
  else
    memset (&result->top, 0, sizeof result->top);
  result->depth = depth;
  result->blocks_delta = u.blocks_delta;
  result->pages_written = u.pages_written;
  result->page_bytes_written = u.page_bytes_written;
  nbdkit_debug ("export %s: map update: %zu changes, depth %u, "
                "%" PRIu64 " pages (%" PRIu64 " bytes) written",
                t->label, n, depth, u.pages_written, u.page_bytes_written);
  return 0;
}
