/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the request scheduler under both S3 engines.  See sched.h. */

#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "clock.h"
#include "store/retry.h"
#include "store/sched.h"
#include "store/store-debug.h"

struct sched_batch {
  char *first;
  size_t stride, n, next, finished;
  pthread_cond_t done;
  struct sched_batch *prev, *next_batch;  /* ring of batches not all started */
};

struct sched {
  pthread_mutex_t lock;
  struct sched_config cfg;
  const struct sched_ops *ops;
  void *eng;
  bool running, stopping;
  pthread_t thread;
  struct sched_batch *ring;     /* next batch to take a request from */
  struct sched_req *retries;    /* failed once, waiting for their time */
  struct sched_req *slots[STORE_MAX_INFLIGHT];  /* in flight */
  unsigned inflight;
  size_t active;                /* batches submitted, not finished */
  uint64_t jitter;              /* backoff's random state */
};

static struct sched_req *
batch_req (const struct sched_batch *b, size_t i)
{
  return (struct sched_req *) (b->first + i * b->stride);
}

/* Under the lock: r has its final outcome. */
static void
finish (struct sched_req *r)
{
  if (++r->batch->finished == r->batch->n)
    pthread_cond_signal (&r->batch->done);
}

/* Under the lock: r is no longer in flight. */
static void
leave_slot (struct sched *s, struct sched_req *r)
{
  size_t i;

  s->inflight--;
  for (i = 0; i < STORE_MAX_INFLIGHT; i++)
    if (s->slots[i] == r) {
      s->slots[i] = NULL;
      break;
    }
}

/* Take a request to start, under the lock: a retry that is due, else
 * the next request of the next batch in the ring.
 */
static struct sched_req *
take_request (struct sched *s, uint64_t now)
{
  struct sched_req **p, *r;
  struct sched_batch *b;
  size_t i;

  if (s->inflight >= s->cfg.max_inflight)
    return NULL;
  for (p = &s->retries; (r = *p) != NULL; p = &r->next_retry)
    if (r->not_before_ns <= now) {
      *p = r->next_retry;
      goto found;
    }
  b = s->ring;
  if (b == NULL)
    return NULL;
  r = batch_req (b, b->next++);
  if (b->next == b->n) {          /* all started: leave the ring */
    if (b->next_batch == b)
      s->ring = NULL;
    else {
      b->prev->next_batch = b->next_batch;
      b->next_batch->prev = b->prev;
      s->ring = b->next_batch;
    }
  }
  else
    s->ring = b->next_batch;

 found:
  r->started_ns = now;
  r->attempts++;
  s->inflight++;
  for (i = 0; i < STORE_MAX_INFLIGHT; i++)
    if (s->slots[i] == NULL) {
      s->slots[i] = r;
      break;
    }
  return r;
}

/* Under the lock: the gate refused r's attempt, which ends it. */
static void
refuse (struct sched *s, struct sched_req *r, int err)
{
  leave_slot (s, r);
  r->err = err;
  r->gate_refused = true;
  store_gate_refused (r->gate);
  if (s3blocks_debug_requests)
    nbdkit_debug ("%s %s: refused by its gate before attempt %u: %s",
                  r->method, r->what, r->attempts, strerror (err));
  finish (r);
}

void
sched_attempt_over (struct sched *s, struct sched_req *r)
{
  bool transient = false;
  int err = s->ops->judge (s->eng, r, &transient);
  unsigned retries;

  if (s3blocks_debug_requests) {
    char outcome[160];

    s->ops->describe (s->eng, r, outcome, sizeof outcome);
    nbdkit_debug ("%s %s: %s after %.1f ms (attempt %u)",
                  r->method, r->what, outcome,
                  (clock_mono_ns () - r->started_ns) / 1e6, r->attempts);
  }

  pthread_mutex_lock (&s->lock);
  leave_slot (s, r);
  retries = r->retries >= 0 ? (unsigned) r->retries : s->cfg.retries;
  if (err && transient && r->attempts <= retries) {
    r->not_before_ns = clock_mono_ns ()
      + retry_backoff_ns (&s->jitter, s->cfg.retry_delay_ms, r->attempts);
    r->next_retry = s->retries;
    s->retries = r;
  }
  else {
    r->err = err;
    finish (r);
  }
  pthread_mutex_unlock (&s->lock);
}

static void *
io_thread (void *arg)
{
  struct sched *s = arg;
  const uint64_t timeout_ns = (uint64_t) s->cfg.timeout_ms * 1000000;

  pthread_mutex_lock (&s->lock);
  while (!(s->stopping && s->active == 0)) {
    uint64_t now = clock_mono_ns (), deadline = UINT64_MAX;
    struct sched_req *r, *late[STORE_MAX_INFLIGHT];
    size_t nr_late = 0, i;
    unsigned inflight;

    while ((r = take_request (s, now)) != NULL) {
      int err = 0;

      pthread_mutex_unlock (&s->lock);
      if (r->gate)
        err = r->gate->check (r->gate->opaque);
      if (err == 0)
        s->ops->start (s->eng, r);
      pthread_mutex_lock (&s->lock);
      if (err)
        refuse (s, r, err);
    }

    /* What we must act on ourselves, and when. */
    for (r = s->retries; r; r = r->next_retry)
      if (r->not_before_ns < deadline)
        deadline = r->not_before_ns;
    if (s->ops->time_out)
      for (i = 0; i < STORE_MAX_INFLIGHT; i++) {
        r = s->slots[i];
        if (r == NULL)
          continue;
        if (now - r->started_ns >= timeout_ns)
          late[nr_late++] = r;
        else if (r->started_ns + timeout_ns < deadline)
          deadline = r->started_ns + timeout_ns;
      }
    inflight = s->inflight;
    pthread_mutex_unlock (&s->lock);

    if (nr_late > 0)
      s->ops->time_out (s->eng, late, nr_late);
    else
      s->ops->pump (s->eng, deadline, inflight);
    pthread_mutex_lock (&s->lock);
  }
  pthread_mutex_unlock (&s->lock);
  return NULL;
}

struct sched *
sched_new (const struct sched_config *cfg, const struct sched_ops *ops,
           void *eng)
{
  struct sched *s = calloc (1, sizeof *s);

  if (s == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  pthread_mutex_init (&s->lock, NULL);
  s->cfg = *cfg;
  if (s->cfg.max_inflight > STORE_MAX_INFLIGHT)
    s->cfg.max_inflight = STORE_MAX_INFLIGHT;
  if (s->cfg.max_inflight == 0)
    s->cfg.max_inflight = 1;
  s->ops = ops;
  s->eng = eng;
  return s;
}

unsigned
sched_max_inflight (const struct sched *s)
{
  return s->cfg.max_inflight;
}

int
sched_start (struct sched *s)
{
  int err;

  pthread_mutex_lock (&s->lock);
  if (s->running) {
    pthread_mutex_unlock (&s->lock);
    return 0;
  }
  s->stopping = false;
  if (s->ops->open (s->eng) == -1) {
    pthread_mutex_unlock (&s->lock);
    return -1;
  }
  err = pthread_create (&s->thread, NULL, io_thread, s);
  if (err) {
    errno = err;
    nbdkit_error ("cannot start the S3 I/O thread: %m");
    s->ops->close (s->eng);
    pthread_mutex_unlock (&s->lock);
    return -1;
  }
  s->running = true;
  pthread_mutex_unlock (&s->lock);
  return 0;
}

void
sched_stop (struct sched *s)
{
  pthread_mutex_lock (&s->lock);
  if (!s->running) {
    pthread_mutex_unlock (&s->lock);
    return;
  }
  s->stopping = true;
  s->ops->wake (s->eng);
  pthread_mutex_unlock (&s->lock);
  pthread_join (s->thread, NULL);

  pthread_mutex_lock (&s->lock);
  s->ops->close (s->eng);
  s->running = false;
  pthread_mutex_unlock (&s->lock);
}

void
sched_free (struct sched *s)
{
  if (s == NULL)
    return;
  sched_stop (s);
  pthread_mutex_destroy (&s->lock);
  free (s);
}

int
sched_run (struct sched *s, struct sched_req *first, size_t stride, size_t n)
{
  struct sched_batch batch = {
    .first = (char *) first, .stride = stride, .n = n
  };
  size_t i;

  if (n == 0)
    return 0;
  for (i = 0; i < n; i++) {
    struct sched_req *r = batch_req (&batch, i);

    r->batch = &batch;
    r->attempts = 0;
    r->err = 0;
    r->gate_refused = false;
  }
  pthread_cond_init (&batch.done, NULL);

  pthread_mutex_lock (&s->lock);
  if (!s->running) {
    pthread_mutex_unlock (&s->lock);
    nbdkit_error ("internal error: S3 request before the I/O thread runs");
    for (i = 0; i < n; i++)
      batch_req (&batch, i)->err = EIO;
    pthread_cond_destroy (&batch.done);
    errno = EIO;
    return -1;
  }
  if (s->ring == NULL) {
    batch.prev = batch.next_batch = &batch;
    s->ring = &batch;
  }
  else {                        /* just before the next one served */
    batch.next_batch = s->ring;
    batch.prev = s->ring->prev;
    s->ring->prev->next_batch = &batch;
    s->ring->prev = &batch;
  }
  s->active++;
  s->ops->wake (s->eng);
  while (batch.finished < n)
    pthread_cond_wait (&batch.done, &s->lock);
  if (--s->active == 0 && s->stopping)
    s->ops->wake (s->eng);
  pthread_mutex_unlock (&s->lock);
  pthread_cond_destroy (&batch.done);
  return 0;
}
