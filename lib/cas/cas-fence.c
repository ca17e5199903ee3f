/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the sweep fence: gc's chunk markers and a server's "quiet
 * runs" of LISTs of them.
 *
 * THE RACE IT CLOSES.  gc decides from a LIST what to delete
 * (unreferenced, Last-Modified older than its cutoff) and DELETEs
 * afterwards.  A server PUTting content X again (a refresh, new data
 * equal to old garbage, a map page equal to an old unreferenced one)
 * whose PUT lands between that LIST and that DELETE loses the fresh
 * copy, and a root naming X may land.  S3 has no DELETE conditional
 * on an object's date or ETag, so the servers have to notice.
 *
 * THE PROTOCOL.  gc sweeps in chunks; each chunk PUTs
 * cas/gc/sweeps/{id}.running, LISTs one page of keys, DELETEs, then
 * PUTs {id}.done and DELETEs {id}.running (admin/cas-gc.c).  It starts
 * no DELETE batch once CAS_SWEEP_CHUNK_LIMIT_MS has passed since it
 * began the marker's PUT, and deletes markers older than
 * CAS_MARKER_RETENTION_S by the S3 clock when it starts.
 * A server LISTs cas/gc/sweeps/.  A LIST is quiet if it shows no
 * .running marker, not counting one this server has seen for longer
 * than the chunk limit plus one request's worst case (a crashed gc's:
 * a live gc would have ended that chunk).  A run of LISTs starts at a
 * quiet LIST L0 (quiet_since = the clock read when L0 returned) and
 * continues through each later LIST that is quiet, shows no id the run
 * has not seen, and comes less than retention/2 after the run's
 * previous LIST.  Before a root PUT, a commit (layout-cas-commit.c)
 * needs a LIST Lf that continues the run, and that every object the
 * root references for the first time (the contents of its changes, the
 * pages it wrote) had its PUT start after quiet_since (a clock reading
 * later than quiet_since, or a PUT the commit itself made after that
 * LIST returned); what may have started before is PUT again, and the
 * LIST repeated.
 *
 * WHY IT WORKS.  Take such an object X, PUT (again) from Ts after
 * quiet_since, landing at Tx, with Tx before Lf began (the PUT
 * returned before).  Suppose a chunk deleted the fresh X.  Its LIST
 * must have seen the older X, so it ran before Tx, and its DELETE came
 * after Tx; its .running marker existed from S_start (before its LIST)
 * to S_end (after its DELETE), an interval containing Tx.
 *  - If S_start came before L0 was answered: L0 was answered before
 *    quiet_since <= Ts <= Tx < S_end, so L0 saw .running, and was not
 *    quiet, unless this server had seen that marker for longer than
 *    the chunk limit plus a request, which a live gc never exceeds
 *    (it checks the limit before each DELETE batch, and a batch is at
 *    most one request's worst case).
 *  - If S_start came after L0 was answered: some LIST of the run is
 *    the first answered after S_start (Lf at the latest, answered
 *    after Tx > S_start).  If answered before S_end it saw .running
 *    (not quiet); if after, it saw {id}.done, an id that no earlier
 *    LIST of the run can have shown, unless gc had deleted the .done
 *    marker by then, which needs it to be older than the retention:
 *    but the previous LIST came before S_start, less than retention/2
 *    earlier.
 * Either way Lf does not continue the run: contradiction.  Pages the
 * root shares with the previous root are not first referenced now:
 * gc read some version of this export's root and marked them (the
 * plan's rule 2), as before.
 * The cost when no gc sweeps: one LIST of this tiny prefix per commit.
 * After a chunk, the next commit re-PUTs what it references once.
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
  free (f->ids);
  free (f->running);
  f->ids = f->running = NULL;
  f->nids = f->nrunning = 0;
  f->in_run = false;
}

/* What one LIST showed. */
struct listing {
  struct cas_fence_id *all;     /* every marker's id, once */
  size_t nall, capall;
  struct cas_fence_id *running;
  size_t nrunning, caprunning;
};

/* A LIST is in key order, so ids come sorted, and an id's two markers
 * ({id}.done, {id}.running) are next to each other.
 */
static int
push (struct cas_fence_id **v, size_t *n, size_t *cap, const char *id)
{
  if (*n > 0 && strcmp ((*v)[*n - 1].id, id) == 0)
    return 0;
  if (*n == *cap) {
    size_t c = *cap ? *cap * 2 : 8;
    struct cas_fence_id *nv = realloc (*v, c * sizeof *nv);

    if (nv == NULL)
      return -1;
    *v = nv;
    *cap = c;
  }
  memset (&(*v)[*n], 0, sizeof **v);
  memcpy ((*v)[*n].id, id, CAS_SWEEP_ID_LEN + 1);
  (*n)++;
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
  if (push (&l->all, &l->nall, &l->capall, id) == -1 ||
      (!done && push (&l->running, &l->nrunning, &l->caprunning, id) == -1)) {
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

/* v is sorted (a listing's). */
static const struct cas_fence_id *
find (const struct cas_fence_id *v, size_t n, const char *id)
{
  return n ? bsearch (id, v, n, sizeof *v, compare_id) : NULL;
}

int
cas_fence_list (struct cas_fence *f, struct store *store,
                uint64_t (*clock_ms) (void), const char *label)
{
  struct listing l = { 0 };
  const uint64_t start = clock_ms ();
  uint64_t end;
  bool quiet = true, continues;

  if (store_list (store, CAS_SWEEPS_PREFIX, NULL, NULL, list_entry, &l)
      == -1) {
    const int err = errno;

    nbdkit_error ("export %s: cannot list %s, where gc announces its "
                  "sweeps (%s): nothing can be committed without it",
                  label, CAS_SWEEPS_PREFIX, strerror (err));
    free (l.all);
    free (l.running);
    errno = err;
    return -1;
  }
  end = clock_ms ();

  /* How long each .running marker has been seen: from the end of the
   * first LIST that showed it, a lower bound on its age.
   */
  for (size_t i = 0; i < l.nrunning; i++) {
    const struct cas_fence_id *old = find (f->running, f->nrunning,
                                           l.running[i].id);

    l.running[i].first_ms = old ? old->first_ms : end;
    if (start < l.running[i].first_ms ||
        start - l.running[i].first_ms <= f->stale_ms)
      quiet = false;
    else
      nbdkit_debug ("export %s: ignoring %s%s%s, seen for %" PRIu64
                    " ms: a gc that stopped mid-chunk", label,
                    CAS_SWEEPS_PREFIX, l.running[i].id, CAS_SWEEP_RUNNING,
                    start - l.running[i].first_ms);
  }
  free (f->running);
  f->running = l.running;
  f->nrunning = l.nrunning;

  if (!quiet) {
    f->in_run = false;
    free (l.all);
    return CAS_FENCE_BUSY;
  }
  continues = f->in_run && end - f->last_list_ms < f->retention_ms / 2;
  for (size_t i = 0; continues && i < l.nall; i++)
    if (find (f->ids, f->nids, l.all[i].id) == NULL)
      continues = false;
  if (continues) {
    f->last_list_ms = start;
    free (l.all);
    return CAS_FENCE_CONTINUES;
  }
  free (f->ids);
  f->ids = l.all;
  f->nids = l.nall;
  f->in_run = true;
  f->quiet_since = end;
  f->last_list_ms = start;
  nbdkit_debug ("export %s: a quiet run of %s starts (%zu markers)",
                label, CAS_SWEEPS_PREFIX, l.nall);
  return CAS_FENCE_NEW_RUN;
}
