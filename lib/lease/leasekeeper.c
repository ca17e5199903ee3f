/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: keeping a lease: renewal, the deadline, fencing.
 *
 * A server uploads only while its lease cannot have expired:
 *
 *   renewal PUT starts          renewal PUT starts
 *   |                           |
 *   t0 ------------------------ t1 -------------------- t0 + lease_ms
 *   |<------------------ valid ------------>|<-margin->|
 *                                           deadline
 *
 * Everything is timed from the moment a successful renewal's PUT
 * started, on the monotonic clock: the object says "expires" at least
 * that late.  The margin, min (request_ms, lease_ms / 3), covers an
 * upload that passed the gate just before the deadline and is still in
 * flight.  A server that cannot renew pauses at the deadline (EIO) and
 * goes on trying; one whose lease another server took is fenced for
 * good (EROFS).
 *
 * Two clocks (common/clock.h), each where only it is right.  The
 * deadline, the renewal interval and the keeper's sleep between rounds
 * are monotonic: they are this process's own intervals, and a step of
 * the time of day (NTP, an administrator, a resumed VM) must neither
 * stall renewals (a step forward: the server would pause, then fence
 * itself at its deadline) nor turn them into a storm of PUTs (a step
 * back).  The "renewed" and "expires" written into the object are wall
 * clock, because other hosts read them and the time of day is all that
 * machines share; a step moves them as others judge them (lease_judge,
 * leaseinfo.h), never this server's own deadline.
 *
 * The keeper thread renews every lease every third of its lifetime
 * (where the store has it, with If-Match on the ETag we last wrote).
 * It holds no lock across a request: it takes a snapshot of the list,
 * marking each lease busy, and lease_release waits for its lease to be
 * idle before deleting the object and freeing it.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nbdkit-plugin.h>

#include "clock.h"
#include "lease-impl.h"
#include "vector.h"

pthread_mutex_t lease_lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t lease_idle_cond = PTHREAD_COND_INITIALIZER;
struct lease *lease_list;

static pthread_cond_t keeper_cond;     /* clock_cond_init: monotonic */
static pthread_t keeper;
static bool keeper_running, keeper_stop;

void
lease_describe (char *buf, size_t size, const struct lease_info *info)
{
  const double now = clock_wall_ms ();
  const double left = ((double) info->expires_ms - now) / 1000;

  snprintf (buf, size, "host %s, pid %" PRIi64 ", renewed %.1f s ago, %s "
            "%.1f s", info->host, info->pid,
            (now - (double) info->renewed_ms) / 1000,
            left > 0 ? "expires in" : "expired", left > 0 ? left : -left);
}

int
lease_read (struct lease *l, enum lease_object *found,
            struct lease_info *info, char *raw, size_t *raw_len,
            const char **why)
{
  char etag[STORE_ETAG_MAX] = "";
  size_t got = 0;
  int err;

  *found = LEASE_OBJECT_ABSENT;
  err = store_get_etag (l->store, l->key, raw, LEASE_MAX, &got, etag);
  *raw_len = got;
  if (err == ENOENT)
    return 0;
  if (err) {
    errno = err;
    return -1;
  }
  memcpy (l->etag, etag, sizeof etag);
  if (lease_parse (raw, got, info, why) == -1)
    *found = LEASE_OBJECT_MALFORMED;
  else
    *found = LEASE_OBJECT_VALID;
  return 0;
}

int
lease_write (struct lease *l, enum store_condition cond, uint64_t *started,
             enum lease_put_outcome *outcome)
{
  char buf[LEASE_MAX], etag[STORE_ETAG_MAX] = "";
  int len, err;

  /* After nbdkit forks, the holder is the child. */
  if (l->own_pid && l->self.pid != getpid ()) {
    l->self.pid = getpid ();
    l->self.start = lease_process_start (l->self.pid);
  }
  l->self.renewed_ms = clock_wall_ms ();
  l->self.expires_ms = l->self.renewed_ms + l->lease_ms;
  len = lease_format (buf, sizeof buf, &l->self);
  if (len == -1)
    return -1;                  /* errno ENAMETOOLONG */
  if (!l->conditional)
    cond = STORE_ALWAYS;
  *started = clock_mono_ns ();
  err = store_put_cond (l->store, l->key, buf, len, cond,
                        cond == STORE_IF_MATCH ? l->etag : NULL, etag);
  switch (err) {
  case 0:
    memcpy (l->etag, etag, sizeof etag);
    *outcome = LEASE_PUT_WRITTEN;
    return 0;
  case EEXIST:
    *outcome = LEASE_PUT_EXISTS;
    return 0;
  case ESTALE:
    *outcome = LEASE_PUT_STALE;
    return 0;
  case ENOENT:
    *outcome = LEASE_PUT_ABSENT;
    return 0;
  default:
    errno = err;
    return -1;
  }
}

void
lease_renewed (struct lease *l, uint64_t started)
{
  const uint64_t deadline =
    started + (uint64_t) (l->lease_ms - l->margin_ms) * 1000000;

  __atomic_store_n (&l->deadline_ns, deadline, __ATOMIC_RELEASE);
  if (l->paused) {
    nbdkit_debug ("export %s: lease renewed: uploads resume",
                  l->export_name);
    l->paused = false;
  }
}

/* Lock-free: every write and every upload attempt asks. */
int
lease_check (const struct lease *l)
{
  if (__atomic_load_n (&l->lost, __ATOMIC_ACQUIRE))
    return EROFS;
  return clock_mono_ns () < __atomic_load_n (&l->deadline_ns,
                                             __ATOMIC_ACQUIRE) ? 0 : EIO;
}

int64_t
lease_ms_left (const struct lease *l)
{
  const uint64_t deadline = __atomic_load_n (&l->deadline_ns,
                                             __ATOMIC_ACQUIRE);
  const uint64_t now = clock_mono_ns ();

  return deadline >= now ? (int64_t) ((deadline - now) / 1000000)
    : -(int64_t) ((now - deadline) / 1000000);
}

void
lease_renewal_counts (const struct lease *l, uint64_t *renewals,
                      uint64_t *failures)
{
  *renewals = __atomic_load_n (&l->renewals, __ATOMIC_RELAXED);
  *failures = __atomic_load_n (&l->renew_failures, __ATOMIC_RELAXED);
}

int
lease_gate_check (void *opaque)
{
  return lease_check (opaque);
}

const struct store_gate *
lease_gate (const struct lease *l)
{
  return &l->gate;
}

/* The lease is another server's now: fence this one for good. */
static void
lose (struct lease *l, const struct lease_info *held)
{
  char holder[256];

  lease_describe (holder, sizeof holder, held);
  nbdkit_error ("export %s: another server has taken over the lease "
                "(%s); this server stops writing to it", l->export_name,
                holder);
  __atomic_store_n (&l->lost, 1, __ATOMIC_RELEASE);
}

/* The errno of the store's answer behind an outcome, for messages. */
static int
answer_errno (enum lease_put_outcome put)
{
  switch (put) {
  case LEASE_PUT_EXISTS: return EEXIST;
  case LEASE_PUT_STALE: return ESTALE;
  case LEASE_PUT_ABSENT: return ENOENT;
  default: return 0;
  }
}

/* One renewal by the keeper.  Returns true if the lease is renewed or
 * lost (nothing to retry), false to retry soon.
 */
static bool
renew (struct lease *l)
{
  char raw[LEASE_MAX];
  struct lease_info held;
  enum lease_object found;
  enum lease_put_outcome put = LEASE_PUT_WRITTEN;
  const char *why;
  uint64_t started;
  size_t len;
  int r, err;

  if (__atomic_load_n (&l->lost, __ATOMIC_ACQUIRE))
    return true;

  if (l->conditional) {
    r = lease_write (l, STORE_IF_MATCH, &started, &put);
    if (r == 0 && (put == LEASE_PUT_STALE || put == LEASE_PUT_ABSENT)) {
      /* Someone wrote or deleted it since we last did: look. */
      if (lease_read (l, &found, &held, raw, &len, &why) == -1)
        r = -1;
      else if (found == LEASE_OBJECT_VALID &&
               strcmp (held.owner, l->self.owner) != 0) {
        lose (l, &held);
        return true;
      }
      else if (found == LEASE_OBJECT_ABSENT) {
        nbdkit_debug ("export %s: its lease %s was deleted: recreating it",
                      l->export_name, l->key);
        r = lease_write (l, STORE_CREATE_ONLY, &started, &put);
      }
      else
        /* Ours after all (a PUT that succeeded unseen), or garbage that
         * no server wrote: replace it.
         */
        r = lease_write (l, STORE_IF_MATCH, &started, &put);
      /* Another EXISTS or STALE: the next round reads it again. */
    }
  }
  else {
    if (lease_read (l, &found, &held, raw, &len, &why) == -1 ||
        found == LEASE_OBJECT_MALFORMED)
      nbdkit_debug ("export %s: could not check the lease; renewing anyway",
                    l->export_name);
    else if (found == LEASE_OBJECT_VALID &&
             strcmp (held.owner, l->self.owner) != 0) {
      lose (l, &held);
      return true;
    }
    r = lease_write (l, STORE_ALWAYS, &started, &put);
  }

  if (r == 0 && put == LEASE_PUT_WRITTEN) {
    lease_renewed (l, started);
    __atomic_fetch_add (&l->renewals, 1, __ATOMIC_RELAXED);
    return true;
  }
  __atomic_fetch_add (&l->renew_failures, 1, __ATOMIC_RELAXED);
  /* Why not, for the messages: the failure's errno, or the answer's. */
  err = r == -1 ? errno : answer_errno (put);
  if (lease_check (l) == EIO && !l->paused) {
    nbdkit_error ("export %s: its lease could not be renewed in time (%s): "
                  "uploads pause until a renewal succeeds",
                  l->export_name, strerror (err));
    l->paused = true;
  }
  else
    nbdkit_debug ("export %s: could not renew its lease (%s): retrying",
                  l->export_name, strerror (err));
  return false;
}

DEFINE_VECTOR (lease_batch, struct lease *);

static void *
keeper_main (void *arg)
{
  struct lease_batch batch = VECTOR_INIT;

  pthread_mutex_lock (&lease_lock);
  while (!keeper_stop) {
    unsigned interval_ms = 0;
    bool all_ok = true;
    size_t i;

    batch.len = 0;
    for (struct lease *l = lease_list; l; l = l->next) {
      /* Out of memory: renew those that fit; the next round tries to
       * grow the batch again.
       */
      if (lease_batch_append (&batch, l) == -1)
        break;
      l->busy++;
      if (interval_ms == 0 || l->lease_ms / 3 < interval_ms)
        interval_ms = l->lease_ms / 3;
    }

    /* No lock across the requests: writes and other exports go on. */
    pthread_mutex_unlock (&lease_lock);
    for (i = 0; i < batch.len; i++)
      if (!renew (batch.ptr[i]))
        all_ok = false;
    pthread_mutex_lock (&lease_lock);

    for (i = 0; i < batch.len; i++)
      batch.ptr[i]->busy--;
    if (batch.len)
      pthread_cond_broadcast (&lease_idle_cond);

    /* Every third of the shortest lease; a failed renewal is retried
     * every second at least, which lifts a pause soon after S3 answers.
     */
    if (interval_ms == 0 || (!all_ok && interval_ms > 1000))
      interval_ms = 1000;
    if (interval_ms < 10)
      interval_ms = 10;
    if (!keeper_stop)
      clock_cond_wait_ms (&keeper_cond, &lease_lock, interval_ms);
  }
  pthread_mutex_unlock (&lease_lock);
  lease_batch_reset (&batch);
  return NULL;
}

int
lease_keeper_start (void)
{
  int err = 0;

  pthread_mutex_lock (&lease_lock);
  if (!keeper_running) {
    keeper_stop = false;
    err = clock_cond_init (&keeper_cond);
    /* The first round runs at once: after nbdkit forks, the leases must
     * name the new pid.
     */
    if (err == 0) {
      err = pthread_create (&keeper, NULL, keeper_main, NULL);
      if (err == 0)
        keeper_running = true;
      else
        pthread_cond_destroy (&keeper_cond);
    }
  }
  pthread_mutex_unlock (&lease_lock);
  if (err) {
    errno = err;
    nbdkit_error ("cannot start the lease keeper thread: %m");
    return -1;
  }
  return 0;
}

void
lease_keeper_stop (void)
{
  pthread_mutex_lock (&lease_lock);
  if (!keeper_running) {
    pthread_mutex_unlock (&lease_lock);
    return;
  }
  keeper_stop = true;
  pthread_cond_signal (&keeper_cond);
  pthread_mutex_unlock (&lease_lock);
  pthread_join (keeper, NULL);
  pthread_mutex_lock (&lease_lock);
  pthread_cond_destroy (&keeper_cond);
  keeper_running = false;
  pthread_mutex_unlock (&lease_lock);
}
