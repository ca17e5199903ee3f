/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): garbage collection of the cas layout's
 * content (cas/data/), the map pages (cas/pages/) and the log layout's
 * segments (log/segs/), beside writing servers.
 *
 *   clock   PUT cas/gc/clock and read its Last-Modified from a LIST:
 *           start, on the S3 server's clock; cutoff = start - grace
 *   leases  which exports a server may be writing, read before any root
 *   mark    LIST cas/roots/ and cas/snaps/, walk the tree of each (key,
 *           incarnation) not walked yet, marking its pages and, by its
 *           leaf kind, contents or segment ids; again until a pass
 *           finds none new; give up, deleting nothing, on anything
 *           unreadable
 *   grace   refuse one that does not cover the writers' reuse window
 *           and commit bound, as the roots record them
 *   sweep   in chunks of one LIST page, each announced by a marker under
 *           cas/gc/sweeps/; delete what is unmarked, of known age and
 *           older than cutoff
 *
 * Why this cannot delete what a root needs is docs/gc-safety.md; this
 * file enforces its steps 1, 3, 5 and 6, and cas-sweep.c the sweep's
 * steps 2, 9 (gc's side) and 11.  The objects it reads and writes:
 * docs/bucket-format.md.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "cas/cas-admin.h"
#include "clock.h"
#include "cas/cas-fence.h"
#include "cas/cas-tree.h"
#include "format/keys.h"
#include "format/meta.h"
#include "cas-gc-impl.h"

#define GC_CLOCK_KEY "cas/gc/clock"
#define ROOT_BATCH 32



/* ---- the S3 server's clock ---- */

static int
clock_entry (void *opaque, const struct store_entry *e)
{
  if (!e->is_prefix && strcmp (e->key, GC_CLOCK_KEY) == 0)
    *(int64_t *) opaque = e->mtime;
  return 0;
}

/* 0 (*known false after a message when the server gives no date, so
 * gc is refused), or -1 after a message.
 */
static int
s3_clock (struct store *store, int64_t *start, bool *known)
{
  static const char body[] = "s3blocks gc: the Last-Modified of this "
    "object is the S3 server's clock when gc last started\n";
  int err = store_put (store, GC_CLOCK_KEY, body, sizeof body - 1);

  *known = false;
  if (err) {
    nbdkit_error ("cannot write %s to read the server's clock: %s",
                  GC_CLOCK_KEY, strerror (err));
    errno = err;
    return -1;
  }
  *start = 0;
  if (store_list (store, GC_CLOCK_KEY, NULL, NULL, clock_entry, start)
      == -1) {
    nbdkit_error ("cannot list %s: %m", GC_CLOCK_KEY);
    return -1;
  }
  if (*start <= 0) {
    nbdkit_error ("gc: refused: the server's listing gives no "
                  "Last-Modified for %s, so the age of objects is "
                  "unknown and nothing can be collected safely",
                  GC_CLOCK_KEY);
    return 0;
  }
  *known = true;
  return 0;
}

/* ---- mark ---- */

static bool
walk_skip (void *opaque, const struct cas_hash *h)
{
  struct gc *g = opaque;

  return hset_find (&g->pages, h) != NULL;
}

/* Objects found referenced so far: the mark's progress. */
#define MARKED(g) \
  ((g)->res->pages_marked + (g)->res->data_marked + (g)->res->segs_marked)

static int
walk_page (void *opaque, const struct cas_hash *h, unsigned level,
           size_t bytes)
{
  struct gc *g = opaque;
  bool added;

  (void) level; (void) bytes;
  if (hset_add (&g->pages, h, &added) == NULL)
    return -1;
  g->res->pages_marked += added;
  gc_progress (g, "mark", MARKED (g));
  return 0;
}

static int
walk_block (void *opaque, uint64_t index, const struct cas_value *v)
{
  struct gc *g = opaque;
  bool added;

  (void) index;
  if (hset_add (&g->data, &v->hash, &added) == NULL)
    return -1;
  g->res->data_marked += added;
  gc_progress (g, "mark", MARKED (g));
  return 0;
}

void
gc_progress (const struct gc *g, const char *phase, uint64_t done)
{
  if (g->p->progress)
    g->p->progress (g->p->progress_opaque, phase, done, g->res);
}

void
seg_mark_hash (const uint8_t id[LOG_SEG_ID_LEN], struct cas_hash *h)
{
  memset (h, 0, sizeof *h);
  memcpy (h->b, id, LOG_SEG_ID_LEN);
}

/* A log tree's block: the segment its location names. */
static int
walk_location (void *opaque, uint64_t index, const struct cas_value *v)
{
  struct gc *g = opaque;
  struct cas_hash h;
  bool added;

  (void) index;
  seg_mark_hash (v->loc.seg, &h);
  if (hset_add (&g->segs, &h, &added) == NULL)
    return -1;
  g->res->segs_marked += added;
  gc_progress (g, "mark", MARKED (g));
  return 0;
}

static void
hash_of_string (const char *a, const char *b, struct cas_hash *h)
{
  char buf[KEY_MAX + 64];
  int n = snprintf (buf, sizeof buf, "%s %s", a, b);

  cas_hash_of (buf, n, h);
}

/* One root read: walk it if its (key, incarnation) is new.  1 if it
 * was, 0 if not, -1 on failure (the mark is incomplete: see
 * docs/gc-safety.md, step 3).
 */
static int
mark_root (struct gc *g, const struct cas_root_entry *re,
           const struct cas_root *r, bool *walked)
{
  /* A log tree's pages are marked like any (its leaves are pages under
   * cas/pages/ too); its blocks are not contents but places in
   * segments, whose ids are marked (docs/gc-safety.md, step 3).
   */
  const struct cas_walker w = {
    .skip = walk_skip, .page = walk_page,
    .block = r->leaf == CAS_LEAF_HASH ? walk_block : walk_location,
    .opaque = g,
  };
  struct cas_hash id;
  bool added;
  uint64_t window;

  /* Every version read counts, new or not: a server restarted with a
   * longer cas-reuse-window says so in its next commit (step 5 of
   * docs/gc-safety.md; its open questions say when that comes late).
   */
  *walked = false;
  window = r->reuse_window_s + r->commit_bound_s;
  if (window > g->res->max_window_s)
    g->res->max_window_s = window;

  hash_of_string (re->key, r->incarnation, &id);
  if (hset_add (&g->read, &id, &added) == NULL)
    return -1;
  if (!added)
    return 0;                   /* this version's objects are covered */
  if (!re->is_snap) {
    struct cas_hash name_id;
    bool dummy;

    hash_of_string ("export", re->name, &name_id);
    if (hset_add (&g->root_names, &name_id, &dummy) == NULL)
      return -1;
  }

  g->res->roots_read++;
  if (cas_walk (g->store, r->name, r, &w) == -1) {
    nbdkit_error ("gc: gave up: the tree of %s could not be read in full, "
                  "so nothing is deleted (s3blocks check names what is "
                  "missing)", re->name);
    return -1;
  }
  *walked = true;
  return 0;
}

/* 0 if the second read parses, -1 if not (why: of the first). */
static int
reread_root (struct gc *g, struct store_op *op, struct cas_root *r)
{
  const char *why;
  size_t got;
  int err = store_get (g->store, op->key, op->buf, op->len, &got);

  if (err == ENOENT) {
    op->err = ENOENT;           /* deleted meanwhile */
    return 0;
  }
  return err == 0 && cas_root_parse (op->buf, got, r, &why) == 0 ? 0 : -1;
}

/* One pass: every root listed now, read in batches.  Returns the
 * number of (key, incarnation) walked for the first time, or -1.
 */
static int64_t
mark_pass (struct gc *g)
{
  struct cas_root_list l;
  struct store_op *ops = calloc (ROOT_BATCH, sizeof *ops);
  char *bufs = malloc ((size_t) ROOT_BATCH * CAS_ROOT_MAX);
  int64_t fresh = 0;

  if (ops == NULL || bufs == NULL) {
    nbdkit_error ("gc: %m");
    free (ops);
    free (bufs);
    return -1;
  }
  if (cas_root_list_read (g->store, NULL, &l) == -1)
    fresh = -1;
  for (size_t i = 0; fresh >= 0 && i < l.len; i += ROOT_BATCH) {
    size_t n = l.len - i < ROOT_BATCH ? l.len - i : ROOT_BATCH;

    memset (ops, 0, n * sizeof *ops);
    for (size_t j = 0; j < n; j++) {
      ops[j].kind = STORE_GET;
      snprintf (ops[j].key, sizeof ops[j].key, "%s", l.ptr[i + j].key);
      ops[j].buf = bufs + j * (size_t) CAS_ROOT_MAX;
      ops[j].len = CAS_ROOT_MAX;
    }
    store_run (g->store, ops, n);
    for (size_t j = 0; fresh >= 0 && j < n; j++) {
      struct cas_root r;
      const char *why;
      bool walked;

      if (ops[j].err == ENOENT)
        continue;               /* deleted since the listing */
      if (ops[j].err) {
        nbdkit_error ("gc: gave up: cannot read %s: %s", ops[j].key,
                      strerror (ops[j].err));
        fresh = -1;
        break;
      }
      /* A root is written whole; a server whose GET can see a PUT in
       * progress (s3rver) may hand out half of one: read it again.
       */
      if (cas_root_parse (ops[j].buf, ops[j].got, &r, &why) == -1 &&
          reread_root (g, &ops[j], &r) == -1) {
        nbdkit_error ("gc: gave up: %s is damaged (%s): what it names is "
                      "unknown, so nothing is deleted", ops[j].key, why);
        fresh = -1;
        break;
      }
      if (ops[j].err == ENOENT)
        continue;
      if (mark_root (g, &l.ptr[i + j], &r, &walked) == -1)
        fresh = -1;
      else if (walked)
        fresh++;
    }
  }
  cas_root_list_free (&l);
  free (ops);
  free (bufs);
  return fresh;
}

/* ---- leases ---- */

/* Whether exports/NAME says the plain layout: 0 (*plain false for
 * cas, or no metadata), or -1 after a message.
 */
static int
meta_is_plain (struct store *store, const char *name, bool *plain)
{
  char key[KEY_MAX], buf[META_MAX];
  struct export_meta m;
  const char *why;
  size_t got;
  int err;

  *plain = false;
  export_meta_key (key, sizeof key, name);
  err = store_get (store, key, buf, sizeof buf, &got);
  if (err == ENOENT)
    return 0;
  if (err) {
    nbdkit_error ("cannot read %s: %s", key, strerror (err));
    errno = err;
    return -1;
  }
  /* Unreadable metadata: not known to be plain. */
  *plain = meta_parse (buf, got, &m, &why) == 0
    && m.layout == EXPORT_LAYOUT_PLAIN;
  return 0;
}

/* 0 (*safe false after a message saying why gc is refused), or -1.
 * The rule is docs/gc-safety.md, step 5.
 */
static int
check_grace (struct gc *g, const struct gc_params *p,
             const struct held_leases *held, bool *safe)
{
  *safe = false;
  for (size_t i = 0; i < held->n; i++) {
    const struct held_lease *hl = &held->v[i];
    struct cas_hash id;
    bool plain;

    hash_of_string ("export", hl->name, &id);
    if (hset_find (&g->root_names, &id)) {
      if ((uint64_t) p->grace_s < g->res->max_window_s) {
        nbdkit_error ("gc: refused: grace=%" PRId64 "s is below the "
                      "longest reuse-window + commit-bound of the roots "
                      "(%" PRIu64 "s) while a server holds a lease (%s: "
                      "host %s, pid %" PRId64 "): give grace=%" PRIu64
                      "s or more, or stop the servers", p->grace_s,
                      g->res->max_window_s, hl->name, hl->info.host,
                      hl->info.pid, g->res->max_window_s);
        return 0;
      }
      continue;
    }
    if (meta_is_plain (g->store, hl->name, &plain) == -1)
      return -1;
    if (plain)
      continue;
    nbdkit_error ("gc: refused: %s is held (host %s, pid %" PRId64 ") but "
                  "has no committed cas root yet, so its server's reuse "
                  "window is unknown: run gc after its first commit, or "
                  "once it stopped", hl->name, hl->info.host,
                  hl->info.pid);
    return 0;
  }
  *safe = true;
  return 0;
}


int
cas_gc (struct store *store, const struct gc_params *p, struct gc_result *res,
        bool *swept)
{
  struct gc g = { .store = store, .p = p, .res = res };
  struct held_leases held = { 0 };
  uint64_t swept_keys = 0;
  bool ok;
  int r;

  memset (res, 0, sizeof *res);
  *swept = false;
  if (p->grace_s < 0) {
    nbdkit_error ("gc: grace must not be negative");
    return 0;
  }
  if (s3_clock (store, &res->start, &ok) == -1)
    return -1;
  if (!ok)
    return 0;
  res->cutoff = res->start - p->grace_s;
  nbdkit_debug ("gc: start %" PRId64 " (the S3 server's clock), cutoff %"
                PRId64, res->start, res->cutoff);

  /* Leases before the first root is read: docs/gc-safety.md, step 5. */
  r = held_leases_read (store, &held);
  if (r == -1)
    goto out;

  for (;;) {
    int64_t fresh;

    if (res->passes == GC_MAX_PASSES) {
      nbdkit_error ("gc: gave up: roots kept appearing for %d passes "
                    "(snapshots or clones made while gc marked); nothing "
                    "deleted: run it again", GC_MAX_PASSES);
      r = 0;                    /* gave up */
      goto out;
    }
    res->passes++;
    fresh = mark_pass (&g);
    if (fresh == -1) {
      /* Gave up, after a message: nothing deleted, as when refused. */
      r = 0;
      goto out;
    }
    nbdkit_debug ("gc: pass %u: %" PRId64 " roots new", res->passes, fresh);
    if (fresh == 0)
      break;
  }

  r = check_grace (&g, p, &held, &ok);
  if (r == -1 || !ok)
    goto out;

  if (gc_expire_markers (&g, p) == -1) {
    r = -1;
    goto out;
  }
  if (p->on_sweep)
    p->on_sweep (p->opaque);
  if (gc_sweep_prefix (&g, p, GC_PAGES, &swept_keys) == -1 ||
      gc_sweep_prefix (&g, p, GC_DATA, &swept_keys) == -1 ||
      gc_sweep_prefix (&g, p, GC_SEGS, &swept_keys) == -1)
    r = -1;
  else
    *swept = true;

 out:
  held_leases_free (&held);
  hset_free (&g.pages);
  hset_free (&g.data);
  hset_free (&g.segs);
  hset_free (&g.read);
  hset_free (&g.root_names);
  return r;
}
