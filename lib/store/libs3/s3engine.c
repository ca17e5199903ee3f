/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: running S3 requests concurrently with libs3.  See s3engine.h.
 *
 * Locking: e->lock guards the engine's queues and counters and every
 * request's engine fields.  libs3 is only ever called from the I/O
 * thread, without the lock (its callbacks take it).  A request's gate
 * is called without the lock too: it may be slow, and it is the
 * caller's code.
 */

#include <config.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include <nbdkit-plugin.h>

#include "clock.h"
#include "store/retry.h"
#include "store/store-debug.h"
#include "store/libs3/s3engine.h"

#define MAX_LIST_KEYS 1000

/* With a deep pipeline, let answers gather for a moment before serving
 * them: curl_multi_perform looks at every transfer each time it runs
 * (a poll(2) per socket), so serving answers one by one costs a pass
 * over all of them per answer.  Measured with 32 in flight against
 * s3rver: 1 ms halves the CPU per request and raises throughput (the
 * server shares our cores).  The delay is small next to a request's
 * time in flight at that depth (over 10 ms).
 */
#define COALESCE_MIN_INFLIGHT 8
#define COALESCE_NS 1000000

struct s3batch {
  struct s3engine *engine;      /* libs3's callbacks find it here */
  struct s3req *reqs;
  size_t n, next, finished;
  pthread_cond_t done;
  struct s3batch *prev, *next_batch;  /* ring of batches not all started */
};

struct s3engine {
  pthread_mutex_t lock;
  struct s3engine_config cfg;
  bool running, stopping;
  pthread_t thread;
  int wake_fd;
  S3RequestContext *ctx;        /* the I/O thread's */
  struct s3batch *ring;         /* next batch to take a request from */
  struct s3req *retries;        /* failed once, waiting for their time */
  struct s3req *slots[STORE_MAX_INFLIGHT];  /* in flight */
  unsigned inflight;
  size_t active;                /* batches submitted, not finished */
  uint64_t jitter;              /* backoff's random state */
};

static void
wake (struct s3engine *e)
{
  uint64_t one = 1;

  if (write (e->wake_fd, &one, sizeof one) == -1 && errno != EAGAIN)
    nbdkit_debug ("s3engine: wake: %m");
}

const char *
s3req_kind_name (enum s3req_kind kind)
{
  switch (kind) {
  case S3REQ_GET: return "GET";
  case S3REQ_PUT: return "PUT";
  case S3REQ_DELETE: return "DELETE";
  case S3REQ_LIST: return "LIST";
  case S3REQ_CREATE_BUCKET: return "CREATE-BUCKET";
  }
  return "?";
}

void
s3req_free_list (struct s3req *r)
{
  size_t i;

  for (i = 0; i < r->nr_items; i++)
    free (r->items[i].key);
  free (r->items);
  free (r->next_marker);
  r->items = NULL;
  r->nr_items = 0;
  r->next_marker = NULL;
}

/* libs3 callbacks, on the I/O thread. */

/* The ETag, for a caller that will make its next write conditional
 * on it; S3 sends it quoted.  libs3 2.0 makes this call for a PUT when
 * curl first asks for body data, before any answer has arrived (and
 * only for a 2xx code, which it then is not): a PUT's ETag never
 * reaches us and stays "".
 */
static S3Status
properties_cb (const S3ResponseProperties *properties, void *opaque)
{
  struct s3req *r = opaque;
  const char *etag = properties->eTag;
  size_t len;

  if ((r->kind != S3REQ_GET && r->kind != S3REQ_PUT) || etag == NULL)
    return S3StatusOK;
  len = strlen (etag);
  if (len >= 2 && etag[0] == '"' && etag[len-1] == '"') {
    etag++;
    len -= 2;
  }
  if (len >= sizeof r->etag)
    len = sizeof r->etag - 1;
  memcpy (r->etag, etag, len);
  r->etag[len] = '\0';
  return S3StatusOK;
}

/* Under the lock: r is no longer in flight. */
static void
leave_slot (struct s3engine *e, struct s3req *r)
{
  size_t i;

  e->inflight--;
  for (i = 0; i < STORE_MAX_INFLIGHT; i++)
    if (e->slots[i] == r) {
      e->slots[i] = NULL;
      break;
    }
}

/* Under the lock: r has its final outcome. */
static void
finish (struct s3req *r)
{
  if (++r->batch->finished == r->batch->n)
    pthread_cond_signal (&r->batch->done);
}

static void
complete_cb (S3Status status, const S3ErrorDetails *details, void *opaque)
{
  struct s3req *r = opaque;
  struct s3engine *e = r->batch->engine;
  unsigned retries;

  pthread_mutex_lock (&e->lock);
  leave_slot (e, r);

  if (details && details->message)
    snprintf (r->detail, sizeof r->detail, "%s", details->message);

  /* Deleting what is not there has the result we wanted. */
  if (r->kind == S3REQ_DELETE &&
      (status == S3StatusErrorNoSuchKey || status == S3StatusHttpErrorNotFound))
    status = S3StatusOK;

  if (s3blocks_debug_requests)
    nbdkit_debug ("%s %s: %s after %.1f ms (attempt %u)",
                  s3req_kind_name (r->kind),
                  r->key ? r->key : r->prefix ? r->prefix : "",
                  S3_get_status_name (status),
                  (clock_mono_ns () - r->started_ns) / 1e6, r->attempts);

  retries = r->retries >= 0 ? (unsigned) r->retries : e->cfg.retries;
  if (status != S3StatusOK && !r->too_long &&
      s3status_is_transient (status) && r->attempts <= retries) {
    r->status = status;
    r->not_before_ns = clock_mono_ns ()
      + retry_backoff_ns (&e->jitter, e->cfg.retry_delay_ms, r->attempts);
    r->next_retry = e->retries;
    e->retries = r;
  }
  else {
    r->status = status;
    r->err = r->too_long ? EIO : s3status_to_errno (status);
    finish (r);
  }
  pthread_mutex_unlock (&e->lock);
}

static S3Status
get_data_cb (int size, const char *data, void *opaque)
{
  struct s3req *r = opaque;

  if (size < 0 || (size_t) size > r->len - r->got) {
    r->too_long = true;
    return S3StatusAbortedByCallback;
  }
  memcpy ((char *) r->buf + r->got, data, size);
  r->got += size;
  return S3StatusOK;
}

static int
put_data_cb (int size, char *buffer, void *opaque)
{
  struct s3req *r = opaque;
  size_t n = r->len - r->pos;

  if (n > (size_t) size)
    n = size;
  memcpy (buffer, (const char *) r->buf + r->pos, n);
  r->pos += n;
  return n;
}

static S3Status
list_cb (int is_truncated, const char *next_marker,
         int count, const S3ListBucketContent *contents,
         int nr_prefixes, const char **prefixes, void *opaque)
{
  struct s3req *r = opaque;
  struct s3list_item *items;
  size_t total = r->nr_items + count + nr_prefixes;
  int i;

  items = realloc (r->items, (total ? total : 1) * sizeof *items);
  if (items == NULL)
    return S3StatusOutOfMemory;
  r->items = items;
  for (i = 0; i < count; i++) {
    struct s3list_item *it = &r->items[r->nr_items];
    if ((it->key = strdup (contents[i].key)) == NULL)
      return S3StatusOutOfMemory;
    it->size = contents[i].size;
    /* libs3 gives -1 when it could not read the date. */
    it->mtime = contents[i].lastModified > 0 ? contents[i].lastModified : 0;
    it->is_prefix = false;
    r->nr_items++;
  }
  for (i = 0; i < nr_prefixes; i++) {
    struct s3list_item *it = &r->items[r->nr_items];
    if ((it->key = strdup (prefixes[i])) == NULL)
      return S3StatusOutOfMemory;
    it->size = 0;
    it->mtime = 0;
    it->is_prefix = true;
    r->nr_items++;
  }
  r->truncated = is_truncated;
  if (next_marker && *next_marker) {
    free (r->next_marker);
    if ((r->next_marker = strdup (next_marker)) == NULL)
      return S3StatusOutOfMemory;
  }
  return S3StatusOK;
}

static const S3ResponseHandler response_handler = {
  properties_cb, complete_cb
};
static const S3GetObjectHandler get_handler = {
  { properties_cb, complete_cb }, get_data_cb
};
static const S3PutObjectHandler put_handler = {
  { properties_cb, complete_cb }, put_data_cb
};
static const S3ListBucketHandler list_handler = {
  { properties_cb, complete_cb }, list_cb
};

/* Take a request to start, under the lock: a retry that is due, else
 * the next request of the next batch in the ring.
 */
static struct s3req *
take_request (struct s3engine *e, uint64_t now)
{
  struct s3req **p, *r;
  struct s3batch *b;
  size_t i;

  if (e->inflight >= e->cfg.max_inflight)
    return NULL;
  for (p = &e->retries; (r = *p) != NULL; p = &r->next_retry)
    if (r->not_before_ns <= now) {
      *p = r->next_retry;
      goto found;
    }
  b = e->ring;
  if (b == NULL)
    return NULL;
  r = &b->reqs[b->next++];
  if (b->next == b->n) {          /* all started: leave the ring */
    if (b->next_batch == b)
      e->ring = NULL;
    else {
      b->prev->next_batch = b->next_batch;
      b->next_batch->prev = b->prev;
      e->ring = b->next_batch;
    }
  }
  else
    e->ring = b->next_batch;

 found:
  r->started_ns = now;
  r->attempts++;
  e->inflight++;
  for (i = 0; i < STORE_MAX_INFLIGHT; i++)
    if (e->slots[i] == NULL) {
      e->slots[i] = r;
      break;
    }
  return r;
}

/* Without the lock: may this attempt go?  0, or the gate's errno. */
static int
gate_check (const struct s3req *r)
{
  if (r->gate == NULL || (r->kind != S3REQ_PUT && r->kind != S3REQ_DELETE))
    return 0;
  return r->gate->check (r->gate->opaque);
}

/* Under the lock: the gate refused r's attempt, which ends it. */
static void
refuse (struct s3engine *e, struct s3req *r, int err)
{
  leave_slot (e, r);
  r->err = err;
  r->gate_refused = true;
  if (s3blocks_debug_requests)
    nbdkit_debug ("%s %s: refused by its gate before attempt %u: %s",
                  s3req_kind_name (r->kind), r->key, r->attempts,
                  strerror (err));
  finish (r);
}

/* Hand a request to libs3 (which may complete it at once). */
static void
start (struct s3engine *e, struct s3req *r)
{
  const S3BucketContext *bucket = &e->cfg.bucket;

  r->got = r->pos = 0;
  r->too_long = false;
  r->etag[0] = '\0';
  r->detail[0] = '\0';
  r->truncated = false;
  s3req_free_list (r);

  switch (r->kind) {
  case S3REQ_GET:
    S3_get_object (bucket, r->key, NULL, 0, 0, e->ctx, &get_handler, r);
    break;
  case S3REQ_PUT:
    S3_put_object (bucket, r->key, r->len, NULL, e->ctx, &put_handler, r);
    break;
  case S3REQ_DELETE:
    S3_delete_object (bucket, r->key, e->ctx, &response_handler, r);
    break;
  case S3REQ_LIST:
    S3_list_bucket (bucket, r->prefix, r->marker, r->delimiter,
                    MAX_LIST_KEYS, e->ctx, &list_handler, r);
    break;
  case S3REQ_CREATE_BUCKET:
    S3_create_bucket (bucket->protocol, bucket->accessKeyId,
                      bucket->secretAccessKey, bucket->hostName,
                      bucket->bucketName, S3CannedAclPrivate, NULL,
                      e->ctx, &response_handler, r);
    break;
  }
}

/* Abandon everything in flight (their callbacks run with the transient
 * S3StatusInterrupted) and start a new context.
 */
static void
reset_context (struct s3engine *e, const char *why)
{
  nbdkit_debug ("s3engine: %s; abandoning %u requests in flight", why,
                e->inflight);
  S3_destroy_request_context (e->ctx);
  e->ctx = NULL;
  while (S3_create_request_context (&e->ctx) != S3StatusOK) {
    nbdkit_error ("cannot create a libs3 request context; retrying");
    sleep (1);
  }
}

/* Sleep until curl has I/O to do, a timer of curl's is due, we are
 * woken, or the deadline (a retry or a timeout) comes.
 */
static void
wait_for_io (struct s3engine *e, uint64_t deadline_ns)
{
  fd_set rfds, wfds, efds;
  int maxfd = -1;
  int64_t curl_ms = e->inflight ?
    S3_get_request_context_timeout (e->ctx) : -1;
  uint64_t now = clock_mono_ns ();
  int64_t wait_ms = 1000;
  struct timeval tv;

  if (curl_ms >= 0 && curl_ms < wait_ms)
    wait_ms = curl_ms;
  if (deadline_ns != UINT64_MAX) {
    if (deadline_ns <= now)
      wait_ms = 0;
    else if ((int64_t) ((deadline_ns - now + 999999) / 1000000) < wait_ms)
      wait_ms = (deadline_ns - now + 999999) / 1000000;
  }

  FD_ZERO (&rfds);
  FD_ZERO (&wfds);
  FD_ZERO (&efds);
  if (e->inflight &&
      S3_get_request_context_fdsets (e->ctx, &rfds, &wfds, &efds,
                                     &maxfd) != S3StatusOK)
    maxfd = -1;
  /* No socket yet (curl is resolving or about to connect): look again
   * shortly rather than spin or sleep long.
   */
  if (e->inflight && maxfd == -1 && wait_ms > 5)
    wait_ms = 5;
  FD_SET (e->wake_fd, &rfds);
  if (e->wake_fd > maxfd)
    maxfd = e->wake_fd;
  tv.tv_sec = wait_ms / 1000;
  tv.tv_usec = (wait_ms % 1000) * 1000;
  if (select (maxfd + 1, &rfds, &wfds, &efds, &tv) <= 0)
    return;
  if (FD_ISSET (e->wake_fd, &rfds)) {
    uint64_t v;
    if (read (e->wake_fd, &v, sizeof v) == -1 && errno != EAGAIN)
      nbdkit_debug ("s3engine: read wake fd: %m");
  }
  if (e->inflight >= COALESCE_MIN_INFLIGHT) {
    now = clock_mono_ns ();
    if (deadline_ns > now) {
      uint64_t d = deadline_ns - now < COALESCE_NS ? deadline_ns - now
        : COALESCE_NS;
      struct timespec ts = { 0, d };
      nanosleep (&ts, NULL);
    }
  }
}

static void *
io_thread (void *arg)
{
  struct s3engine *e = arg;
  const uint64_t timeout_ns = (uint64_t) e->cfg.timeout_ms * 1000000;

  pthread_mutex_lock (&e->lock);
  while (!(e->stopping && e->active == 0)) {
    uint64_t now = clock_mono_ns (), deadline = UINT64_MAX;
    struct s3req *r;
    bool timed_out = false;
    int remaining;

    while ((r = take_request (e, now)) != NULL) {
      int err;

      pthread_mutex_unlock (&e->lock);
      err = gate_check (r);
      if (err == 0)
        start (e, r);
      pthread_mutex_lock (&e->lock);
      if (err)
        refuse (e, r, err);
    }

    /* What we must act on ourselves, and when. */
    for (r = e->retries; r; r = r->next_retry)
      if (r->not_before_ns < deadline)
        deadline = r->not_before_ns;
    for (size_t i = 0; i < STORE_MAX_INFLIGHT; i++) {
      r = e->slots[i];
      if (r == NULL)
        continue;
      if (now - r->started_ns >= timeout_ns) {
        timed_out = true;
        snprintf (r->detail, sizeof r->detail,
                  "timed out: no answer within %u ms (timeout=)", e->cfg.timeout_ms);
      }
      else if (r->started_ns + timeout_ns < deadline)
        deadline = r->started_ns + timeout_ns;
    }
    pthread_mutex_unlock (&e->lock);

    if (timed_out)
      reset_context (e, "a request timed out");
    else {
      wait_for_io (e, deadline);
      if (S3_runonce_request_context (e->ctx, &remaining) != S3StatusOK)
        reset_context (e, "libs3 request context failed");
    }
    pthread_mutex_lock (&e->lock);
  }
  pthread_mutex_unlock (&e->lock);
  return NULL;
}

struct s3engine *
s3engine_new (const struct s3engine_config *cfg)
{
  struct s3engine *e = calloc (1, sizeof *e);

  if (e == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  pthread_mutex_init (&e->lock, NULL);
  e->cfg = *cfg;
  if (e->cfg.max_inflight > STORE_MAX_INFLIGHT)
    e->cfg.max_inflight = STORE_MAX_INFLIGHT;
  e->wake_fd = -1;
  return e;
}

int
s3engine_start (struct s3engine *e)
{
  int err;

  pthread_mutex_lock (&e->lock);
  if (e->running) {
    pthread_mutex_unlock (&e->lock);
    return 0;
  }
  e->stopping = false;
  e->wake_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (e->wake_fd == -1) {
    nbdkit_error ("eventfd: %m");
    goto err;
  }
  if (S3_create_request_context (&e->ctx) != S3StatusOK) {
    nbdkit_error ("cannot create a libs3 request context");
    goto err;
  }
  err = pthread_create (&e->thread, NULL, io_thread, e);
  if (err) {
    errno = err;
    nbdkit_error ("cannot start the S3 I/O thread: %m");
    goto err;
  }
  e->running = true;
  pthread_mutex_unlock (&e->lock);
  return 0;

 err:
  if (e->ctx)
    S3_destroy_request_context (e->ctx);
  e->ctx = NULL;
  if (e->wake_fd >= 0)
    close (e->wake_fd);
  e->wake_fd = -1;
  pthread_mutex_unlock (&e->lock);
  return -1;
}

void
s3engine_stop (struct s3engine *e)
{
  pthread_mutex_lock (&e->lock);
  if (!e->running) {
    pthread_mutex_unlock (&e->lock);
    return;
  }
  e->stopping = true;
  wake (e);
  pthread_mutex_unlock (&e->lock);
  pthread_join (e->thread, NULL);

  pthread_mutex_lock (&e->lock);
  S3_destroy_request_context (e->ctx);
  e->ctx = NULL;
  close (e->wake_fd);
  e->wake_fd = -1;
  e->running = false;
  pthread_mutex_unlock (&e->lock);
}

void
s3engine_free (struct s3engine *e)
{
  if (e == NULL)
    return;
  s3engine_stop (e);
  pthread_mutex_destroy (&e->lock);
  free (e);
}

void
s3engine_run (struct s3engine *e, struct s3req *reqs, size_t n)
{
  struct s3batch batch = { .engine = e, .reqs = reqs, .n = n };
  size_t i;

  if (n == 0)
    return;
  for (i = 0; i < n; i++) {
    reqs[i].batch = &batch;
    reqs[i].attempts = 0;
    reqs[i].status = S3StatusOK;
    reqs[i].err = 0;
    reqs[i].gate_refused = false;
    reqs[i].etag[0] = '\0';
    reqs[i].items = NULL;
    reqs[i].nr_items = 0;
    reqs[i].next_marker = NULL;
  }
  pthread_cond_init (&batch.done, NULL);

  pthread_mutex_lock (&e->lock);
  if (!e->running) {
    pthread_mutex_unlock (&e->lock);
    nbdkit_error ("internal error: S3 request before the I/O thread runs");
    for (i = 0; i < n; i++) {
      reqs[i].status = S3StatusInternalError;
      reqs[i].err = EIO;
    }
    pthread_cond_destroy (&batch.done);
    return;
  }
  if (e->ring == NULL) {
    batch.prev = batch.next_batch = &batch;
    e->ring = &batch;
  }
  else {                        /* just before the next one served */
    batch.next_batch = e->ring;
    batch.prev = e->ring->prev;
    e->ring->prev->next_batch = &batch;
    e->ring->prev = &batch;
  }
  e->active++;
  wake (e);
  while (batch.finished < n)
    pthread_cond_wait (&batch.done, &e->lock);
  if (--e->active == 0 && e->stopping)
    wake (e);
  pthread_mutex_unlock (&e->lock);
  pthread_cond_destroy (&batch.done);
}
