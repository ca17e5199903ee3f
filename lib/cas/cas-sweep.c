/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): gc's sweep.  The mark (cas-gc.c) has
 * found every page, content and segment some root references; the
 * sweep lists cas/pages/, cas/data/ and log/segs/ in chunks of one
 * LIST page, announces each
 * chunk by a marker under cas/gc/sweeps/ before deleting anything in
 * it (the sweep fence: docs/gc-safety.md, step 9), and deletes what is
 * unmarked, of known age and older than the cutoff (step 2).  Markers
 * older than the retention are expired here too.  Steps 2, 9 (gc's
 * side) and 11 of docs/gc-safety.md are enforced here.
 */

#include <config.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "cas/cas-admin.h"
#include "cas/cas-fence.h"
#include "cas-gc-impl.h"
#include "clock.h"
#include "format/keys.h"
#include "vector.h"

/* An object the chunk will delete. */
struct doomed {
  char *key;
  uint64_t size;
};
DEFINE_VECTOR (doomed_list, struct doomed);

struct sweep {
  struct gc *g;
  enum gc_kind kind;
  int64_t cutoff;
  struct doomed_list doomed;
  size_t seen;                  /* keys listed by this chunk */
  uint64_t done;                /* keys dealt with before it (progress) */
  char last[KEY_MAX];           /* the last of them */
};

static const char *
kind_prefix (enum gc_kind kind)
{
  return kind == GC_PAGES ? CAS_PAGES_PREFIX
    : kind == GC_DATA ? CAS_DATA_PREFIX : LOG_SEGS_PREFIX;
}

/* Whether key names an object of kind (a hash, or a segment id), and
 * the key of its mark.
 */
static bool
parse_key (enum gc_kind kind, const char *key, struct cas_hash *h)
{
  uint8_t id[LOG_SEG_ID_LEN];

  if (kind != GC_SEGS)
    return cas_hash_parse (key + strlen (kind_prefix (kind)), h);
  if (!log_segment_key_parse (key, id))
    return false;
  seg_mark_hash (id, h);
  return true;
}

static const struct hset *
marks_of (const struct gc *g, enum gc_kind kind)
{
  return kind == GC_PAGES ? &g->pages : kind == GC_DATA ? &g->data
    : &g->segs;
}

/* One key of a chunk's LIST: kept for deletion if it is a hash (a
 * segment's id under log/segs/), unmarked, of known age and older than
 * the cutoff (docs/gc-safety.md, step 2).  Returns 1 to end the listing
 * at GC_CHUNK_KEYS.
 */
static int
sweep_entry (void *opaque, const struct store_entry *e)
{
  struct sweep *sw = opaque;
  struct gc_result *res = sw->g->res;
  struct cas_hash h;
  char *key;

  if (e->is_prefix)
    return 0;
  snprintf (sw->last, sizeof sw->last, "%s", e->key);
  sw->seen++;                   /* the listing stops at GC_CHUNK_KEYS */
  gc_progress (sw->g, "sweep", sw->done + sw->seen - sw->doomed.len);
  if (!parse_key (sw->kind, e->key, &h)) {
    res->foreign++;             /* another tool's: never ours to delete */
    goto next;
  }
  res->listed++;
  res->listed_bytes += e->size;
  if (sw->kind == GC_SEGS) {
    res->segs_listed++;
    res->segs_listed_bytes += e->size;
  }
  if (hset_find (marks_of (sw->g, sw->kind), &h))
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
  key = strdup (e->key);
  if (key == NULL)
    goto nomem;
  if (doomed_list_append (&sw->doomed,
                          (struct doomed) { .key = key, .size = e->size })
      == -1) {
    free (key);
    goto nomem;
  }
 next:
  return sw->seen >= GC_CHUNK_KEYS ? 1 : 0;

 nomem:
  nbdkit_error ("gc: %m");
  return -1;
}

static void
count_deleted (struct gc *g, enum gc_kind kind, uint64_t bytes)
{
  g->res->deleted++;
  g->res->deleted_bytes += bytes;
  switch (kind) {
  case GC_PAGES: g->res->deleted_pages++; break;
  case GC_DATA: g->res->deleted_data++; break;
  case GC_SEGS:
    g->res->deleted_segs++;
    g->res->deleted_segs_bytes += bytes;
    break;
  }
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

/* One chunk of kind's prefix after *after ("" from the start): .running, one
 * page of LIST, DELETEs while within the chunk limit, .done.  *after
 * moves past what was handled; *more says whether keys may remain.
 * 0, or -1 (said).
 */
static int
sweep_chunk (struct gc *g, const struct gc_params *p, enum gc_kind kind,
             char *after, bool *more, uint64_t *keys_done)
{
  const char *prefix = kind_prefix (kind);
  uint64_t (*clock_ms) (void) = p->clock_ms ? p->clock_ms : clock_mono_ms;
  const size_t batch = p->delete_batch ? p->delete_batch : GC_DELETE_BATCH;
  struct sweep sw = {
    .g = g, .kind = kind, .done = *keys_done,
    .cutoff = g->res->cutoff, .doomed = VECTOR_INIT,
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
    for (i = 0; i < sw.doomed.len; i++)
      count_deleted (g, kind, sw.doomed.ptr[i].size);
  }
  else {
    ops = calloc (batch, sizeof *ops);
    if (ops == NULL) {
      nbdkit_error ("gc: %m");
      goto out;
    }
    for (i = 0; i < sw.doomed.len;) {
      size_t n = sw.doomed.len - i < batch ? sw.doomed.len - i : batch;

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
        snprintf (ops[j].key, sizeof ops[j].key, "%s",
                  sw.doomed.ptr[i + j].key);
      }
      store_run (g->store, ops, n);
      for (size_t j = 0; j < n; j++) {
        if (ops[j].err && ops[j].err != ENOENT)
          g->res->delete_failed++;      /* logged by the store */
        else
          count_deleted (g, kind, sw.doomed.ptr[i + j].size);
      }
      i += n;
      gc_progress (g, "sweep", sw.done + sw.seen - (sw.doomed.len - i));
    }
  }
  if (i == sw.doomed.len) {
    *keys_done += sw.seen;
    gc_progress (g, "sweep", *keys_done);
    snprintf (after, KEY_MAX, "%s", sw.last);
    *more = sw.seen >= GC_CHUNK_KEYS;
  }
  else if (i > 0) {
    /* The rest is listed again by the next chunk. */
    *keys_done += sw.seen - (sw.doomed.len - i);
    snprintf (after, KEY_MAX, "%s", sw.doomed.ptr[i - 1].key);
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
  for (size_t k = 0; k < sw.doomed.len; k++)
    free (sw.doomed.ptr[k].key);
  doomed_list_reset (&sw.doomed);
  free (ops);
  return r;
}

int
gc_sweep_prefix (struct gc *g, const struct gc_params *p, enum gc_kind kind,
                 uint64_t *done)
{
  char after[KEY_MAX] = "";
  bool more = true;

  while (more)
    if (sweep_chunk (g, p, kind, after, &more, done) == -1)
      return -1;
  return 0;
}

/* Markers older than the retention, by the S3 clock: each chunk leaves
 * one .done (and a crashed one a .running).  Servers need a .done only
 * while their quiet run could miss it, less than half the retention.
 */
struct marker_key {
  char key[KEY_MAX];
};
DEFINE_VECTOR (marker_keys, struct marker_key);

struct expire {
  int64_t before;
  struct marker_keys keys;
};

static int
expire_entry (void *opaque, const struct store_entry *e)
{
  struct expire *x = opaque;
  struct marker_key *k;
  char id[CAS_SWEEP_ID_LEN + 1];
  bool done;

  if (e->is_prefix || !cas_sweep_marker_parse (e->key, id, &done) ||
      e->mtime <= 0 || e->mtime >= x->before)
    return 0;
  k = marker_keys_push (&x->keys);
  if (k == NULL) {
    nbdkit_error ("gc: %m");
    return -1;
  }
  snprintf (k->key, sizeof k->key, "%s", e->key);
  return 0;
}

int
gc_expire_markers (struct gc *g, const struct gc_params *p)
{
  struct expire x = {
    .before = g->res->start - CAS_MARKER_RETENTION_S, .keys = VECTOR_INIT,
  };
  int r = 0;

  if (store_list (g->store, CAS_SWEEPS_PREFIX, NULL, NULL, expire_entry,
                  &x) == -1) {
    nbdkit_error ("cannot list %s: %m", CAS_SWEEPS_PREFIX);
    marker_keys_reset (&x.keys);
    return -1;
  }
  for (size_t i = 0; !p->dry_run && i < x.keys.len; i++) {
    const char *key = x.keys.ptr[i].key;
    int err = store_delete (g->store, key);

    if (err && err != ENOENT) {
      nbdkit_error ("gc: cannot delete the old marker %s (%s)", key,
                    strerror (err));
      r = -1;
      break;
    }
    g->res->markers_expired++;
  }
  marker_keys_reset (&x.keys);
  return r;
}
