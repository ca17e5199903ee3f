/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: running S3 requests concurrently with libs3.  See s3engine.h.
 *
 * The scheduler (store/sched.h) owns batches, retries, gates and the
 * I/O thread; this file is its operations over one libs3 request
 * context.  libs3 is only ever called from the I/O thread, and its
 * callbacks touch only their own request, which is in flight and so
 * the I/O thread's alone.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include <nbdkit-plugin.h>

#include "clock.h"
#include "store/sched.h"
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

struct s3engine {
  struct s3engine_config cfg;
  struct sched *sched;
  int wake_fd;
  S3RequestContext *ctx;        /* the I/O thread's */
};

#define S3REQ(sr) \
  ((struct s3req *) ((char *) (sr) - offsetof (struct s3req, sched)))

static void
wake (void *eng)
{
  struct s3engine *e = eng;
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

  /* libs3 2.0 shows neither the HTTP status nor Content-Range, only
   * Content-Length: a body longer than the range asked for is a server
   * that ignored Range (a 200 with the whole object).  Stop it before
   * its data arrives.
   */
  if (r->kind == S3REQ_GET) {
    r->content_length = properties->contentLength;
    if (r->range_len > 0 && r->content_length > r->range_len) {
      r->too_long = true;
      return S3StatusAbortedByCallback;
    }
  }
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

/* The attempt is over: keep what libs3 says and let the scheduler
 * judge it.
 */
static void
complete_cb (S3Status status, const S3ErrorDetails *details, void *opaque)
{
  struct s3req *r = opaque;

  if (details && details->message)
    snprintf (r->detail, sizeof r->detail, "%s", details->message);
  /* An InvalidRange error document names the object's size (s3rver and
   * AWS do), which the message about it reports.
   */
  if (details)
    for (int i = 0; i < details->extraDetailsCount; i++)
      if (strcmp (details->extraDetails[i].name, "ActualObjectSize") == 0) {
        char *end;
        long long v = strtoll (details->extraDetails[i].value, &end, 10);

        if (end != details->extraDetails[i].value && *end == '\0' && v >= 0)
          r->object_size = v;
      }

  /* libs3 2.0 reports a body cut short (curl's CURLE_PARTIAL_FILE) as
   * success: a GET that received less than its Content-Length is a
   * transfer that died, to be retried from the start (a ranged GET's
   * short answer says so in its Content-Length).  Without the header
   * (0) only curl's own checks apply.
   */
  if (r->kind == S3REQ_GET && status == S3StatusOK &&
      r->content_length > 0 && r->got < r->content_length) {
    snprintf (r->detail, sizeof r->detail, "the transfer ended after %zu "
              "of %" PRIu64 " bytes", r->got, r->content_length);
    status = S3StatusErrorIncompleteBody;
  }

  /* Deleting what is not there has the result we wanted. */
  if (r->kind == S3REQ_DELETE &&
      (status == S3StatusErrorNoSuchKey || status == S3StatusHttpErrorNotFound))
    status = S3StatusOK;
  r->status = status;
  sched_attempt_over (r->engine->sched, &r->sched);
}

static S3Status
get_data_cb (int size, const char *data, void *opaque)
{
  struct s3req *r = opaque;

  if (size < 0 || (size_t) size > r->len - r->got) {
    r->too_long = true;
    return S3StatusAbortedByCallback;
  }
  store_sink_copy (&r->dest, r->got, data, size);
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

static int
judge (void *eng, struct sched_req *sr, bool *transient)
{
  const struct s3req *r = S3REQ (sr);

  if (r->too_long) {
    *transient = false;
    return EIO;
  }
  *transient = s3status_is_transient (r->status);
  return s3status_to_errno (r->status);
}

static void
describe (void *eng, const struct sched_req *sr, char *buf, size_t len)
{
  snprintf (buf, len, "%s", S3_get_status_name (S3REQ (sr)->status));
}

/* Hand a request to libs3 (which may complete it at once). */
static void
start (void *eng, struct sched_req *sr)
{
  struct s3engine *e = eng;
  struct s3req *r = S3REQ (sr);
  const S3BucketContext *bucket = &e->cfg.bucket;

  r->got = r->pos = 0;
  r->too_long = false;
  r->content_length = 0;
  r->object_size = -1;
  r->etag[0] = '\0';
  r->detail[0] = '\0';
  r->truncated = false;
  s3req_free_list (r);

  switch (r->kind) {
  case S3REQ_GET:
    /* range_len 0: no Range header (libs3 sends none for 0, 0). */
    S3_get_object (bucket, r->key, NULL,
                   r->range_len ? r->range_offset : 0, r->range_len,
                   e->ctx, &get_handler, r);
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
  nbdkit_debug ("s3engine: %s; abandoning the requests in flight", why);
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
wait_for_io (struct s3engine *e, uint64_t deadline_ns, unsigned inflight)
{
  fd_set rfds, wfds, efds;
  int maxfd = -1;
  int64_t curl_ms = inflight ?
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
  if (inflight &&
      S3_get_request_context_fdsets (e->ctx, &rfds, &wfds, &efds,
                                     &maxfd) != S3StatusOK)
    maxfd = -1;
  /* No socket yet (curl is resolving or about to connect): look again
   * shortly rather than spin or sleep long.
   */
  if (inflight && maxfd == -1 && wait_ms > 5)
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
  if (inflight >= COALESCE_MIN_INFLIGHT) {
    now = clock_mono_ns ();
    if (deadline_ns > now) {
      uint64_t d = deadline_ns - now < COALESCE_NS ? deadline_ns - now
        : COALESCE_NS;
      struct timespec ts = { 0, d };
      nanosleep (&ts, NULL);
    }
  }
}

static void
pump (void *eng, uint64_t deadline_ns, unsigned inflight)
{
  struct s3engine *e = eng;
  int remaining;

  wait_for_io (e, deadline_ns, inflight);
  if (S3_runonce_request_context (e->ctx, &remaining) != S3StatusOK)
    reset_context (e, "libs3 request context failed");
}

/* libs3 2.0 has no request timeout, and can only drop a whole context:
 * every request in flight is abandoned with the late ones.
 */
static void
time_out (void *eng, struct sched_req *const *late, size_t n)
{
  struct s3engine *e = eng;
  size_t i;

  for (i = 0; i < n; i++)
    snprintf (S3REQ (late[i])->detail, sizeof S3REQ (late[i])->detail,
              "timed out: no answer within %u ms (timeout=)",
              e->cfg.timeout_ms);
  reset_context (e, "a request timed out");
}

static int
open_context (void *eng)
{
  struct s3engine *e = eng;

  e->wake_fd = eventfd (0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (e->wake_fd == -1) {
    nbdkit_error ("eventfd: %m");
    return -1;
  }
  if (S3_create_request_context (&e->ctx) != S3StatusOK) {
    nbdkit_error ("cannot create a libs3 request context");
    close (e->wake_fd);
    e->wake_fd = -1;
    return -1;
  }
  return 0;
}

static void
close_context (void *eng)
{
  struct s3engine *e = eng;

  S3_destroy_request_context (e->ctx);
  e->ctx = NULL;
  close (e->wake_fd);
  e->wake_fd = -1;
}

static const struct sched_ops ops = {
  .open = open_context,
  .close = close_context,
  .start = start,
  .pump = pump,
  .wake = wake,
  .judge = judge,
  .describe = describe,
  .time_out = time_out,
};

struct s3engine *
s3engine_new (const struct s3engine_config *cfg)
{
  struct s3engine *e = calloc (1, sizeof *e);
  struct sched_config scfg = {
    .max_inflight = cfg->max_inflight,
    .retries = cfg->retries,
    .retry_delay_ms = cfg->retry_delay_ms,
    .timeout_ms = cfg->timeout_ms,
  };

  if (e == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  e->cfg = *cfg;
  e->wake_fd = -1;
  e->sched = sched_new (&scfg, &ops, e);
  if (e->sched == NULL) {
    free (e);
    return NULL;
  }
  return e;
}

int
s3engine_start (struct s3engine *e)
{
  return sched_start (e->sched);
}

void
s3engine_stop (struct s3engine *e)
{
  sched_stop (e->sched);
}

void
s3engine_free (struct s3engine *e)
{
  if (e == NULL)
    return;
  sched_free (e->sched);
  free (e);
}

void
s3engine_run (struct s3engine *e, struct s3req *reqs, size_t n)
{
  size_t i;

  if (n == 0)
    return;
  for (i = 0; i < n; i++) {
    struct s3req *r = &reqs[i];

    r->engine = e;
    r->status = S3StatusOK;
    r->object_size = -1;
    r->etag[0] = '\0';
    r->items = NULL;
    r->nr_items = 0;
    r->next_marker = NULL;
    r->sched.method = s3req_kind_name (r->kind);
    r->sched.what = r->key ? r->key : r->prefix ? r->prefix : "";
    r->sched.retries = r->retries;
    /* Only writes are fenced. */
    r->sched.gate = r->kind == S3REQ_PUT || r->kind == S3REQ_DELETE
      ? r->gate : NULL;
  }
  if (sched_run (e->sched, &reqs[0].sched, sizeof reqs[0], n) == -1)
    for (i = 0; i < n; i++)
      reqs[i].status = S3StatusInternalError;
  for (i = 0; i < n; i++) {
    reqs[i].err = reqs[i].sched.err;
    reqs[i].gate_refused = reqs[i].sched.gate_refused;
    reqs[i].attempts = reqs[i].sched.attempts;
  }
}
