/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): garbage collection of the cas layout's
 * content (cas/data/) and map pages (cas/pages/), beside writing
 * servers.
 *
 *   clock   PUT cas/gc/clock and read its Last-Modified from a LIST:
 *           start, on the S3 server's clock; cutoff = start - grace
 *   leases  which exports a server may be writing, read before any root
 *   mark    LIST cas/roots/ and cas/snaps/, walk the tree of each (key,
 *           incarnation) not walked yet; again until a pass finds none
 *           new; give up, deleting nothing, on anything unreadable
 *   grace   refuse one that does not cover the writers' reuse window
 *           and commit bound, as the roots record them
 *   sweep   in chunks of one LIST page, each announced by a marker under
 *           cas/gc/sweeps/; delete what is unmarked, of known age and
 *           older than cutoff
 *
 * Why this cannot delete what a root needs is docs/gc-safety.md; this
 * file enforces its steps 1, 2, 3, 5, 6, gc's side of 9, and 11.  The
 * objects it reads and writes: docs/bucket-format.md.
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

#define GC_CLOCK_KEY "cas/gc/clock"
#define ROOT_BATCH 32

struct gc {
  struct store *store;
  struct gc_result *res;
  struct hset pages, data;
  struct hset read;             /* hashes of "key incarnation" */
  struct hset root_names;       /* hashes of the export names with a root */
};

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
  return 0;
}

static int
walk_block (void *opaque, uint64_t index, const struct cas_hash *h)
{
  struct gc *g = opaque;
  bool added;

  (void) index;
  if (hset_add (&g->data, h, &added) == NULL)
    return -1;
  g->res->data_marked += added;
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
  const struct cas_walker w = {
    .skip = walk_skip, .page = walk_page, .block = walk_block, .opaque = g,
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
  for (size_t i = 0; fresh >= 0 && i < l.n; i += ROOT_BATCH) {
    size_t n = l.n - i < ROOT_BATCH ? l.n - i : ROOT_BATCH;

    memset (ops, 0, n * sizeof *ops);
    for (size_t j = 0; j < n; j++) {
      ops[j].kind = STORE_GET;
      snprintf (ops[j].key, sizeof ops[j].key, "%s", l.v[i + j].key);
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
      if (mark_root (g, &l.v[i + j], &r, &walked) == -1)
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

/* ---- sweep: chunks fenced by markers (docs/gc-safety.md, step 9) ---- */

struct sweep {
  struct gc *g;
  size_t prefix_len;
  bool pages;
  int64_t cutoff;
  char **keys;
  uint64_t *sizes;
  size_t n, cap;
  size_t seen;                  /* keys listed by this chunk */
  char last[KEY_MAX];           /* the last of them */
};

/* One key of a chunk's LIST: kept for deletion if it is a hash,
 * unmarked, of known age and older than the cutoff (docs/gc-safety.md,
 * step 2).  Returns 1 to end the listing at GC_CHUNK_KEYS.
 */
static int
sweep_entry (void *opaque, const struct store_entry *e)
{
  struct sweep *sw = opaque;
  struct gc_result *res = sw->g->res;
  struct cas_hash h;

  if (e->is_prefix)
    return 0;
  snprintf (sw->last, sizeof sw->last, "%s", e->key);
  sw->seen++;                   /* the listing stops at GC_CHUNK_KEYS */
  if (!cas_hash_parse (e->key + sw->prefix_len, &h)) {
    res->foreign++;             /* another tool's: never ours to delete */
    goto next;
  }
  res->listed++;
  res->listed_bytes += e->size;
  if (hset_find (sw->pages ? &sw->g->pages : &sw->g->data, &h))
    goto next;                  /* referenced */
  if (e->mtime <= 0) {
    res->unknown_age++;
    goto next;
  }
  if (e->mtime >= sw->cutoff) {
    res->young++;
    res->young_bytes += e->size;
    goto next;
  }
  if (sw->n == sw->cap) {
    size_t cap = sw->cap ? sw->cap * 2 : 256;
    char **keys = realloc (sw->keys, cap * sizeof *keys);
    uint64_t *sizes;

    if (keys == NULL)
      goto nomem;
    sw->keys = keys;
    sizes = realloc (sw->sizes, cap * sizeof *sizes);
    if (sizes == NULL)
      goto nomem;
    sw->sizes = sizes;
    sw->cap = cap;
  }
  if ((sw->keys[sw->n] = strdup (e->key)) == NULL)
    goto nomem;
  sw->sizes[sw->n++] = e->size;
 next:
  return sw->seen >= GC_CHUNK_KEYS ? 1 : 0;

 nomem:
  nbdkit_error ("gc: %m");
  return -1;
}

static void
count_deleted (struct gc *g, bool pages, uint64_t bytes)
{
  g->res->deleted++;
  g->res->deleted_bytes += bytes;
  *(pages ? &g->res->deleted_pages : &g->res->deleted_data) += 1;
}

/* The marker's body: for whoever looks at the bucket. */
static const char marker_body[] = "s3blocks gc: a sweep chunk; servers "
  "about to commit wait while {id}.running exists (see "
  "docs/gc-safety.md, step 9)\n";

/* End a chunk: {id}.done, then no {id}.running.  A failure leaves
 * .running, which servers wait out (they ignore one older than the
 * chunk limit plus a request), so it is said but not fatal.
 */
static void
end_chunk (struct gc *g, const char *running, const char *done)
{
  int err = store_put (g->store, done, marker_body, sizeof marker_body - 1);

  if (err)
    nbdkit_error ("gc: cannot write %s (%s): servers wait for the chunk "
                  "until they judge it stale", done, strerror (err));
  err = store_delete (g->store, running);
  if (err && err != ENOENT)
    nbdkit_error ("gc: cannot delete %s (%s): servers wait for the chunk "
                  "until they judge it stale", running, strerror (err));
}

/* One chunk of prefix after *after ("" from the start): .running, one
 * page of LIST, DELETEs while within the chunk limit, .done.  *after
 * moves past what was handled; *more says whether keys may remain.
 * 0, or -1 (said).
 */
static int
sweep_chunk (struct gc *g, const struct gc_params *p, const char *prefix,
             bool pages, char *after, bool *more)
{
  uint64_t (*clock_ms) (void) = p->clock_ms ? p->clock_ms : clock_mono_ms;
  const size_t batch = p->delete_batch ? p->delete_batch : GC_DELETE_BATCH;
  struct sweep sw = {
    .g = g, .prefix_len = strlen (prefix), .pages = pages,
    .cutoff = g->res->cutoff,
  };
  char id[CAS_SWEEP_ID_LEN + 1], running[KEY_MAX], done[KEY_MAX];
  struct store_op *ops = NULL;
  uint64_t t0 = 0;
  size_t i = 0;
  int r = -1;

  *more = false;
  if (!p->dry_run) {
    int err;

    if (cas_new_incarnation (id) == -1 ||
        cas_sweep_marker_key (running, sizeof running, id, false) == -1 ||
        cas_sweep_marker_key (done, sizeof done, id, true) == -1)
      return -1;
    /* The chunk's time counts from before its marker can exist. */
    t0 = clock_ms ();
    err = store_put (g->store, running, marker_body,
                     sizeof marker_body - 1);
    if (err) {
      nbdkit_error ("gc: cannot write the sweep marker %s (%s): nothing "
                    "more is deleted", running, strerror (err));
      return -1;
    }
    g->res->chunks++;
  }
  if (store_list (g->store, prefix, NULL, after[0] ? after : NULL,
                  sweep_entry, &sw) == -1) {
    nbdkit_error ("cannot list %s: %m", prefix);
    goto out;
  }
  if (p->dry_run) {
    for (i = 0; i < sw.n; i++)
      count_deleted (g, pages, sw.sizes[i]);
  }
  else {
    ops = calloc (batch, sizeof *ops);
    if (ops == NULL) {
      nbdkit_error ("gc: %m");
      goto out;
    }
    for (i = 0; i < sw.n;) {
      size_t n = sw.n - i < batch ? sw.n - i : batch;

      /* A server ignores a .running marker it has seen for longer
       * than the limit plus one request (a batch lasts at most that).
       */
      if (clock_ms () - t0 > CAS_SWEEP_CHUNK_LIMIT_MS) {
        g->res->chunks_cut++;
        break;
      }
      memset (ops, 0, n * sizeof *ops);
      for (size_t j = 0; j < n; j++) {
        ops[j].kind = STORE_DELETE;
        snprintf (ops[j].key, sizeof ops[j].key, "%s", sw.keys[i + j]);
      }
      store_run (g->store, ops, n);
      for (size_t j = 0; j < n; j++) {
        if (ops[j].err && ops[j].err != ENOENT)
          g->res->delete_failed++;      /* logged by the store */
        else
          count_deleted (g, pages, sw.sizes[i + j]);
      }
      i += n;
    }
  }
  if (i == sw.n) {
    snprintf (after, KEY_MAX, "%s", sw.last);
    *more = sw.seen >= GC_CHUNK_KEYS;
  }
  else if (i > 0) {
    snprintf (after, KEY_MAX, "%s", sw.keys[i - 1]);
    *more = true;
  }
  else
    /* Not one batch in time (a slow LIST): leave the rest to a later
     * run rather than loop.
     */
    nbdkit_debug ("gc: a chunk of %s ran out of time before deleting: "
                  "the rest waits for the next run", prefix);
  r = 0;

 out:
  if (!p->dry_run)
    end_chunk (g, running, done);
  for (size_t k = 0; k < sw.n; k++)
    free (sw.keys[k]);
  free (sw.keys);
  free (sw.sizes);
  free (ops);
  return r;
}

static int
sweep_prefix (struct gc *g, const struct gc_params *p, const char *prefix,
              bool pages)
{
  char after[KEY_MAX] = "";
  bool more = true;

  while (more)
    if (sweep_chunk (g, p, prefix, pages, after, &more) == -1)
      return -1;
  return 0;
}

/* Markers older than the retention, by the S3 clock: each chunk leaves
 * one .done (and a crashed one a .running).  Servers need a .done only
 * while their quiet run could miss it, less than half the retention.
 */
struct expire {
  int64_t before;
  char (*keys)[KEY_MAX];
  size_t n, cap;
};

static int
expire_entry (void *opaque, const struct store_entry *e)
{
  struct expire *x = opaque;
  char id[CAS_SWEEP_ID_LEN + 1];
  bool done;

  if (e->is_prefix || !cas_sweep_marker_parse (e->key, id, &done) ||
      e->mtime <= 0 || e->mtime >= x->before)
    return 0;
  if (x->n == x->cap) {
    size_t cap = x->cap ? x->cap * 2 : 64;
    char (*keys)[KEY_MAX] = realloc (x->keys, cap * sizeof *keys);

    if (keys == NULL) {
      nbdkit_error ("gc: %m");
      return -1;
    }
    x->keys = keys;
    x->cap = cap;
  }
  snprintf (x->keys[x->n++], KEY_MAX, "%s", e->key);
  return 0;
}

static int
expire_markers (struct gc *g, const struct gc_params *p)
{
  struct expire x = {
    .before = g->res->start - CAS_MARKER_RETENTION_S,
  };
  int r = 0;

  if (store_list (g->store, CAS_SWEEPS_PREFIX, NULL, NULL, expire_entry,
                  &x) == -1) {
    nbdkit_error ("cannot list %s: %m", CAS_SWEEPS_PREFIX);
    free (x.keys);
    return -1;
  }
  for (size_t i = 0; !p->dry_run && i < x.n; i++) {
    int err = store_delete (g->store, x.keys[i]);

    if (err && err != ENOENT) {
      nbdkit_error ("gc: cannot delete the old marker %s (%s)", x.keys[i],
                    strerror (err));
      r = -1;
      break;
    }
    g->res->markers_expired++;
  }
  free (x.keys);
  return r;
}

int
cas_gc (struct store *store, const struct gc_params *p, struct gc_result *res,
        bool *swept)
{
  struct gc g = { .store = store, .res = res };
  struct held_leases held = { 0 };
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

  if (expire_markers (&g, p) == -1) {
    r = -1;
    goto out;
  }
  if (p->on_sweep)
    p->on_sweep (p->opaque);
  if (sweep_prefix (&g, p, CAS_PAGES_PREFIX, true) == -1 ||
      sweep_prefix (&g, p, CAS_DATA_PREFIX, false) == -1)
    r = -1;
  else
    *swept = true;

 out:
  held_leases_free (&held);
  hset_free (&g.pages);
  hset_free (&g.data);
  hset_free (&g.read);
  hset_free (&g.root_names);
  return r;
}
