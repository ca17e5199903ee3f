/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the sweep fence: the keys of gc's chunk markers, and a
 * server's "quiet runs" of LISTs of them.
 *
 * gc (cas-gc.c) puts cas/gc/sweeps/{id}.running before each chunk of
 * its sweep and {id}.done after it.  cas_fence_list makes one LIST of
 * those markers and says whether it is quiet (no .running, except one
 * this server has seen for longer than a live gc's chunk can last) and,
 * if so, whether it continues the run of quiet LISTs so far (no id the
 * run has not seen, and less than half the markers' retention after
 * the run's previous LIST) or starts a new one at quiet_since.  A
 * commit (fence() in layout-cas-commit.c) PUTs its root only after a
 * LIST that continues the run, with everything it first references PUT
 * after quiet_since.
 *
 * The race this closes and why it works: docs/gc-safety.md, step 9.
 * The cost when no gc sweeps: one LIST of this tiny prefix per commit.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "cas/cas-fence.h"

int
cas_sweep_marker_key (char *buf, size_t size, const char *id, bool done)
{
  int n = snprintf (buf, size, "%s%s%s", CAS_SWEEPS_PREFIX, id,
                    done ? CAS_SWEEP_DONE : CAS_SWEEP_RUNNING);

  if (n < 0 || (size_t) n >= size) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return 0;
}

bool
cas_sweep_marker_parse (const char *key, char id[CAS_SWEEP_ID_LEN + 1],
                        bool *done)
{
  const size_t plen = strlen (CAS_SWEEPS_PREFIX);
  const char *p, *rest;

  if (strncmp (key, CAS_SWEEPS_PREFIX, plen) != 0)
    return false;
  p = key + plen;
  for (size_t i = 0; i < CAS_SWEEP_ID_LEN; i++)
    if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
      return false;
  rest = p + CAS_SWEEP_ID_LEN;
  if (strcmp (rest, CAS_SWEEP_RUNNING) == 0)
    *done = false;
  else if (strcmp (rest, CAS_SWEEP_DONE) == 0)
    *done = true;
  else
    return false;
  memcpy (id, p, CAS_SWEEP_ID_LEN);
  id[CAS_SWEEP_ID_LEN] = '\0';
  return true;
}

void
cas_fence_init (struct cas_fence *f, uint64_t request_bound_ms)
{
  memset (f, 0, sizeof *f);
  f->stale_ms = CAS_SWEEP_CHUNK_LIMIT_MS + request_bound_ms;
  f->retention_ms = (uint64_t) CAS_MARKER_RETENTION_S * 1000;
}

void
cas_fence_free (struct cas_fence *f)
{
  cas_fence_ids_reset (&f->ids);
  cas_fence_ids_reset (&f->running);
  f->in_run = false;
}

/* What one LIST showed. */
struct listing {
  struct cas_fence_ids all;     /* every marker's id, once */
  struct cas_fence_ids running;
};

/* A LIST is in key order, so ids come sorted, and an id's two markers
 * ({id}.done, {id}.running) are next to each other.
 */
static int
push (struct cas_fence_ids *v, const char *id)
{
  struct cas_fence_id *e;

  if (v->len > 0 && strcmp (v->ptr[v->len - 1].id, id) == 0)
    return 0;
  e = cas_fence_ids_push (v);
  if (e == NULL)
    return -1;
  memcpy (e->id, id, CAS_SWEEP_ID_LEN + 1);
  return 0;
}

static int
list_entry (void *opaque, const struct store_entry *e)
{
  struct listing *l = opaque;
  char id[CAS_SWEEP_ID_LEN + 1];
  bool done;

  if (e->is_prefix || !cas_sweep_marker_parse (e->key, id, &done))
    return 0;                   /* not ours */
  if (push (&l->all, id) == -1 ||
      (!done && push (&l->running, id) == -1)) {
    errno = ENOMEM;
    return -1;
  }
  return 0;
}

static int
compare_id (const void *key, const void *elt)
{
  return strcmp (key, ((const struct cas_fence_id *) elt)->id);
}

static const struct cas_fence_id *
find (const struct cas_fence_ids *v, const char *id)
{
  return v->len ? bsearch (id, v->ptr, v->len, sizeof *v->ptr, compare_id)
    : NULL;
}

int
cas_fence_list (struct cas_fence *f, struct store *store,
                uint64_t (*clock_ms) (void), const char *label,
                enum cas_fence_state *state)
{
  struct listing l = { .all = VECTOR_INIT, .running = VECTOR_INIT };
  const uint64_t start = clock_ms ();
  uint64_t end;
  bool quiet = true, continues;

  if (store_list (store, CAS_SWEEPS_PREFIX, NULL, NULL, list_entry, &l)
      == -1) {
    const int err = errno;

    nbdkit_error ("export %s: cannot list %s, where gc announces its "
                  "sweeps (%s): nothing can be committed without it",
                  label, CAS_SWEEPS_PREFIX, strerror (err));
    cas_fence_ids_reset (&l.all);
    cas_fence_ids_reset (&l.running);
    errno = err;
    return -1;
  }
  end = clock_ms ();

  /* How long each .running marker has been seen: from the end of the
   * first LIST that showed it, a lower bound on its age.
   */
  for (size_t i = 0; i < l.running.len; i++) {
    struct cas_fence_id *id = &l.running.ptr[i];
    const struct cas_fence_id *old = find (&f->running, id->id);

    id->first_ms = old ? old->first_ms : end;
    if (start < id->first_ms || start - id->first_ms <= f->stale_ms)
      quiet = false;
    else
      nbdkit_debug ("export %s: ignoring %s%s%s, seen for %" PRIu64
                    " ms: a gc that stopped mid-chunk", label,
                    CAS_SWEEPS_PREFIX, id->id, CAS_SWEEP_RUNNING,
                    start - id->first_ms);
  }
  cas_fence_ids_reset (&f->running);
  f->running = l.running;

  if (!quiet) {
    f->in_run = false;
    cas_fence_ids_reset (&l.all);
    *state = CAS_FENCE_BUSY;
    return 0;
  }
  continues = f->in_run && end - f->last_list_ms < f->retention_ms / 2;
  for (size_t i = 0; continues && i < l.all.len; i++)
    if (find (&f->ids, l.all.ptr[i].id) == NULL)
      continues = false;
  if (continues) {
    f->last_list_ms = start;
    cas_fence_ids_reset (&l.all);
    *state = CAS_FENCE_CONTINUES;
    return 0;
  }
  cas_fence_ids_reset (&f->ids);
  f->ids = l.all;
  f->in_run = true;
  f->quiet_since = end;
  f->last_list_ms = start;
  nbdkit_debug ("export %s: a quiet run of %s starts (%zu markers)",
                label, CAS_SWEEPS_PREFIX, l.all.len);
  *state = CAS_FENCE_NEW_RUN;
  return 0;
}
