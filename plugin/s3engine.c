/* s3blocks: running S3 requests concurrently with libs3.  See s3engine.h. */

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include <nbdkit-plugin.h>

#include "s3engine.h"

/* nbdkit -D s3blocks.requests=1 logs every request. */
NBDKIT_DLL_PUBLIC int s3blocks_debug_requests = 0;

#define MAX_BACKOFF_MS 30000
#define MAX_LIST_KEYS 1000

struct s3engine_run {
  const struct s3engine_config *cfg;
  S3RequestContext *ctx;
  unsigned inflight;
  size_t finished;
  size_t waiting;               /* failed once, waiting to be retried */
};

/* One request context per thread, kept between batches so that its
 * connections are reused.
 */
static pthread_key_t ctx_key;
static pthread_once_t ctx_once = PTHREAD_ONCE_INIT;

static void
ctx_destroy (void *ctx)
{
  S3_destroy_request_context (ctx);
}

static void
ctx_key_create (void)
{
  pthread_key_create (&ctx_key, ctx_destroy);
}

static S3RequestContext *
thread_ctx (void)
{
  S3RequestContext *ctx;

  pthread_once (&ctx_once, ctx_key_create);
  ctx = pthread_getspecific (ctx_key);
  if (ctx == NULL) {
    if (S3_create_request_context (&ctx) != S3StatusOK)
      return NULL;
    pthread_setspecific (ctx_key, ctx);
  }
  return ctx;
}

void
s3engine_thread_done (void)
{
  S3RequestContext *ctx;

  pthread_once (&ctx_once, ctx_key_create);
  ctx = pthread_getspecific (ctx_key);
  if (ctx) {
    pthread_setspecific (ctx_key, NULL);
    S3_destroy_request_context (ctx);
  }
}

static uint64_t
now_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Full jitter on the upper half: a delay in [d/2, d], where d doubles
 * with each attempt.  xorshift per thread: no lock, no shared state.
 */
static uint64_t
backoff_ns (const struct s3engine_config *cfg, unsigned attempt)
{
  static __thread uint64_t state;
  uint64_t d = cfg->retry_delay_ms;

  if (state == 0)
    state = now_ns () ^ (uint64_t) (uintptr_t) &state;
  state ^= state << 13;
  state ^= state >> 7;
  state ^= state << 17;

  while (--attempt > 0 && d < MAX_BACKOFF_MS)
    d *= 2;
  if (d > MAX_BACKOFF_MS)
    d = MAX_BACKOFF_MS;
  d *= 1000000;
  return d / 2 + state % (d / 2 + 1);
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

/* libs3 callbacks. */

static S3Status
properties_cb (const S3ResponseProperties *properties, void *opaque)
{
  return S3StatusOK;
}

static void
complete_cb (S3Status status, const S3ErrorDetails *details, void *opaque)
{
  struct s3req *r = opaque;
  struct s3engine_run *run = r->run;
  const struct s3engine_config *cfg = run->cfg;

  r->in_flight = false;
  run->inflight--;

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
                  (now_ns () - r->started_ns) / 1e6, r->attempts);

  if (status != S3StatusOK && !r->too_long &&
      s3status_is_transient (status) && r->attempts <= cfg->retries) {
    r->not_before_ns = now_ns () + backoff_ns (cfg, r->attempts);
    r->status = status;
    run->waiting++;
    return;
  }

  r->status = status;
  r->err = r->too_long ? EIO : s3status_to_errno (status);
  r->finished = true;
  run->finished++;
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
    it->is_prefix = false;
    r->nr_items++;
  }
  for (i = 0; i < nr_prefixes; i++) {
    struct s3list_item *it = &r->items[r->nr_items];
    if ((it->key = strdup (prefixes[i])) == NULL)
      return S3StatusOutOfMemory;
    it->size = 0;
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

/* Start (or restart) one request on the run's context.  libs3 may
 * complete it at once (a request it cannot even build).
 */
static void
start (struct s3engine_run *run, struct s3req *r)
{
  const S3BucketContext *bucket = &run->cfg->bucket;

  r->in_flight = true;
  r->started_ns = now_ns ();
  r->attempts++;
  r->got = r->pos = 0;
  r->too_long = false;
  r->detail[0] = '\0';
  r->truncated = false;
  s3req_free_list (r);
  run->inflight++;

  switch (r->kind) {
  case S3REQ_GET:
    S3_get_object (bucket, r->key, NULL, 0, 0, run->ctx, &get_handler, r);
    break;
  case S3REQ_PUT:
    S3_put_object (bucket, r->key, r->len, NULL, run->ctx, &put_handler, r);
    break;
  case S3REQ_DELETE:
    S3_delete_object (bucket, r->key, run->ctx, &response_handler, r);
    break;
  case S3REQ_LIST:
    S3_list_bucket (bucket, r->prefix, r->marker, r->delimiter,
                    MAX_LIST_KEYS, run->ctx, &list_handler, r);
    break;
  case S3REQ_CREATE_BUCKET:
    S3_create_bucket (bucket->protocol, bucket->accessKeyId,
                      bucket->secretAccessKey, bucket->hostName,
                      bucket->bucketName, S3CannedAclPrivate, NULL,
                      run->ctx, &response_handler, r);
    break;
  }
}

/* Abandon everything in flight on this context (their callbacks run
 * with S3StatusInterrupted, a transient status) and start a new one.
 */
static void
reset_context (struct s3engine_run *run)
{
  S3RequestContext *ctx;

  pthread_setspecific (ctx_key, NULL);
  S3_destroy_request_context (run->ctx);
  run->ctx = NULL;
  if (S3_create_request_context (&ctx) == S3StatusOK) {
    pthread_setspecific (ctx_key, ctx);
    run->ctx = ctx;
  }
}

/* Wait until the context has I/O to do, a timer of curl's is due, or
 * the next of our own deadlines (retry, timeout) comes.
 */
static void
wait_for_io (struct s3engine_run *run, uint64_t deadline_ns)
{
  fd_set rfds, wfds, efds;
  int maxfd = -1;
  int64_t curl_ms = S3_get_request_context_timeout (run->ctx);
  uint64_t now = now_ns ();
  uint64_t wait_ms = 1000;
  struct timeval tv;

  if (curl_ms >= 0 && (uint64_t) curl_ms < wait_ms)
    wait_ms = curl_ms;
  if (deadline_ns <= now)
    wait_ms = 0;
  else if ((deadline_ns - now) / 1000000 < wait_ms)
    wait_ms = (deadline_ns - now + 999999) / 1000000;
  if (wait_ms == 0)
    return;

  FD_ZERO (&rfds);
  FD_ZERO (&wfds);
  FD_ZERO (&efds);
  if (S3_get_request_context_fdsets (run->ctx, &rfds, &wfds, &efds,
                                     &maxfd) != S3StatusOK)
    maxfd = -1;
  /* No socket yet (curl is still resolving or about to connect): poll
   * again shortly rather than spin.
   */
  if (maxfd == -1 && wait_ms > 5)
    wait_ms = 5;
  tv.tv_sec = wait_ms / 1000;
  tv.tv_usec = (wait_ms % 1000) * 1000;
  select (maxfd + 1, &rfds, &wfds, &efds, &tv);
}

void
s3engine_run (const struct s3engine_config *cfg, struct s3req *reqs, size_t n)
{
  struct s3engine_run run = { .cfg = cfg };
  const uint64_t timeout_ns = (uint64_t) cfg->timeout_ms * 1000000;
  size_t i, next = 0;

  if (n == 0)
    return;
  for (i = 0; i < n; i++) {
    reqs[i].run = &run;
    reqs[i].attempts = 0;
    reqs[i].in_flight = reqs[i].finished = false;
    reqs[i].status = S3StatusOK;
    reqs[i].err = 0;
    reqs[i].items = NULL;
    reqs[i].nr_items = 0;
    reqs[i].next_marker = NULL;
  }

  run.ctx = thread_ctx ();
  while (run.finished < n) {
    uint64_t now = now_ns (), deadline = UINT64_MAX;
    int remaining;

    if (run.ctx == NULL) {
      /* No context (out of memory): fail what is left. */
      for (i = 0; i < n; i++)
        if (!reqs[i].finished) {
          reqs[i].finished = true;
          reqs[i].status = S3StatusOutOfMemory;
          reqs[i].err = ENOMEM;
          run.finished++;
        }
      break;
    }

    /* Retries that are due, then new requests, up to the bound. */
    for (i = 0; run.waiting && i < next &&
           run.inflight < cfg->max_inflight; i++) {
      struct s3req *r = &reqs[i];
      if (!r->finished && !r->in_flight && r->not_before_ns <= now) {
        run.waiting--;
        start (&run, r);
      }
    }
    while (next < n && run.inflight < cfg->max_inflight)
      start (&run, &reqs[next++]);
    if (run.finished == n)
      break;

    /* The earliest thing we must act on ourselves. */
    for (i = 0; i < next; i++) {
      const struct s3req *r = &reqs[i];
      uint64_t t;

      if (r->finished)
        continue;
      t = r->in_flight ? r->started_ns + timeout_ns : r->not_before_ns;
      if (t < deadline)
        deadline = t;
    }

    if (run.inflight == 0) {
      /* Only retries waiting for their time. */
      if (deadline > now) {
        uint64_t d = deadline - now;
        struct timespec ts = { d / 1000000000, d % 1000000000 };
        nanosleep (&ts, NULL);
      }
      continue;
    }

    wait_for_io (&run, deadline);
    if (S3_runonce_request_context (run.ctx, &remaining) != S3StatusOK) {
      nbdkit_debug ("libs3 request context failed; starting a new one");
      reset_context (&run);
      continue;
    }

    /* Requests that have run too long: libs3 cannot cancel one alone,
     * so abandon the context.
     */
    now = now_ns ();
    for (i = 0; i < next; i++) {
      struct s3req *r = &reqs[i];
      if (r->in_flight && now - r->started_ns >= timeout_ns) {
        nbdkit_debug ("%s %s: no answer within %u ms; abandoning "
                      "the %u requests in flight",
                      s3req_kind_name (r->kind), r->key ? r->key : "",
                      cfg->timeout_ms, run.inflight);
        for (size_t j = 0; j < next; j++)
          if (reqs[j].in_flight)
            snprintf (reqs[j].detail, sizeof reqs[j].detail,
                      "abandoned after %u ms (timeout)", cfg->timeout_ms);
        reset_context (&run);
        break;
      }
    }
  }
}
