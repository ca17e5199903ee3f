/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: running signed HTTP requests concurrently with libcurl.
 * See curl-engine.h.
 *
 * Locking: e->lock guards the queues, counters and every request's
 * engine fields.  curl is only called from the I/O thread, and without
 * the lock except for curl_multi_wakeup (which is thread-safe).  Its
 * callbacks touch only their own request, which is in flight and so
 * the I/O thread's alone.  Gates are called without the lock.
 */

#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <nbdkit-plugin.h>

#include "clock.h"
#include "store/curl/curl-engine.h"
#include "store/curl/httpstatus.h"
#include "store/retry.h"
#include "store/store-debug.h"
#include "store/curl/s3xml.h"

/* An error document, or a LIST page (1000 keys of ~100 bytes). */
#define MAX_DOC (4 * 1024 * 1024)

struct curlbatch {
  struct curlreq *reqs;
  size_t n, next, finished;
  pthread_cond_t done;
  struct curlbatch *prev, *next_batch;  /* ring of batches not all started */
};

struct curl_engine {
  pthread_mutex_t lock;
  struct curl_engine_config cfg;
  bool running, stopping;
  pthread_t thread;
  CURLM *multi;
  CURL *idle[STORE_MAX_INFLIGHT];  /* easy handles not in use */
  unsigned nr_idle;
  struct curlbatch *ring;
  struct curlreq *retries;
  unsigned inflight;
  size_t active;
  uint64_t jitter;
};

const char *
curlreq_method_name (enum curlreq_method m)
{
  switch (m) {
  case CURLREQ_GET: return "GET";
  case CURLREQ_PUT: return "PUT";
  case CURLREQ_DELETE: return "DELETE";
  }
  return "?";
}

void
curlreq_clear (struct curlreq *r)
{
  free (r->doc);
  r->doc = NULL;
  r->doc_len = 0;
}

/* curl callbacks, on the I/O thread. */

static size_t
write_cb (char *data, size_t size, size_t nmemb, void *opaque)
{
  struct curlreq *r = opaque;
  size_t n = size * nmemb;
  long status = 0;

  curl_easy_getinfo (r->easy, CURLINFO_RESPONSE_CODE, &status);
  if (r->buf && status >= 200 && status < 300) {
    if (n > r->cap - r->got) {
      r->too_long = true;
      return 0;                 /* CURLE_WRITE_ERROR ends the transfer */
    }
    memcpy ((char *) r->buf + r->got, data, n);
    r->got += n;
    return n;
  }
  if (n > MAX_DOC - r->doc_len)
    return 0;
  {
    char *d = realloc (r->doc, r->doc_len + n + 1);
    if (d == NULL)
      return 0;
    r->doc = d;
  }
  memcpy (r->doc + r->doc_len, data, n);
  r->doc_len += n;
  r->doc[r->doc_len] = '\0';
  return n;
}

static size_t
read_cb (char *buffer, size_t size, size_t nmemb, void *opaque)
{
  struct curlreq *r = opaque;
  size_t n = r->body_len - r->pos;

  if (n > size * nmemb)
    n = size * nmemb;
  memcpy (buffer, (const char *) r->body + r->pos, n);
  r->pos += n;
  return n;
}

static int
seek_cb (void *opaque, curl_off_t offset, int origin)
{
  struct curlreq *r = opaque;

  if (origin != SEEK_SET || offset < 0 || (size_t) offset > r->body_len)
    return CURL_SEEKFUNC_FAIL;
  r->pos = offset;
  return CURL_SEEKFUNC_OK;
}

/* Copy header value (name: value\r\n) into out, quotes stripped. */
static void
header_value (const char *h, size_t n, size_t namelen, char *out,
              size_t outlen)
{
  const char *v = h + namelen, *end = h + n;

  while (v < end && (*v == ' ' || *v == '\t'))
    v++;
  while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
    end--;
  if (end - v >= 2 && *v == '"' && end[-1] == '"') {
    v++;
    end--;
  }
  if ((size_t) (end - v) >= outlen)
    end = v + outlen - 1;
  memcpy (out, v, end - v);
  out[end - v] = '\0';
}

static size_t
header_cb (char *h, size_t size, size_t nmemb, void *opaque)
{
  struct curlreq *r = opaque;
  size_t n = size * nmemb;

  if (n > 5 && strncasecmp (h, "ETag:", 5) == 0)
    header_value (h, n, 5, r->etag, sizeof r->etag);
  else if (n > 19 && strncasecmp (h, "x-amz-bucket-region:", 20) == 0)
    header_value (h, n, 20, r->region, sizeof r->region);
  return n;
}

/* Under the lock: r has its final outcome. */
static void
finish (struct curlreq *r)
{
  if (++r->batch->finished == r->batch->n)
    pthread_cond_signal (&r->batch->done);
}

/* Without the lock: read the outcome of r's attempt. */
static void
judge (const struct curl_engine *e, struct curlreq *r, CURLcode code)
{
  struct http_outcome o = { .curl = code, .code = r->code };

  r->curl = code;
  r->status = 0;
  r->code[0] = '\0';
  if (code == CURLE_OK) {
    curl_easy_getinfo (r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    o.status = r->status;
    if ((r->status < 200 || r->status >= 300) && r->doc) {
      s3xml_find (r->doc, r->doc_len, "Code", r->code, sizeof r->code);
      s3xml_find (r->doc, r->doc_len, "Message", r->message,
                  sizeof r->message);
      s3xml_find (r->doc, r->doc_len, "Region", r->region,
                  sizeof r->region);
    }
  }
  else if (code == CURLE_OPERATION_TIMEDOUT)
    /* The same words as the libs3 engine's, naming the key to change. */
    snprintf (r->message, sizeof r->message,
              "timed out: no answer within %u ms (timeout=)",
              e->cfg.timeout_ms);
  else if (!r->too_long)
    snprintf (r->message, sizeof r->message, "%s",
              r->errbuf[0] ? r->errbuf : curl_easy_strerror (code));
  if (r->too_long) {
    r->err = EIO;
    r->transient = false;
    return;
  }
  r->err = http_outcome_errno (&o);
  r->transient = r->err && http_outcome_is_transient (&o);
}

/* Take a request to start, under the lock: a due retry, else the next
 * request of the next batch in the ring.
 */
static struct curlreq *
take_request (struct curl_engine *e, uint64_t now)
{
  struct curlreq **p, *r;
  struct curlbatch *b;

  if (e->inflight >= e->cfg.max_inflight || e->nr_idle == 0)
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
  if (b->next == b->n) {
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
  r->easy = e->idle[--e->nr_idle];
  return r;
}

/* Set up r's easy handle for an attempt (I/O thread, no lock). */
static CURLcode
prepare (struct curl_engine *e, struct curlreq *r)
{
  CURL *c = r->easy;
  CURLcode rc = CURLE_OK;

  r->got = r->pos = 0;
  r->too_long = false;
  r->etag[0] = r->code[0] = r->message[0] = r->region[0] = '\0';
  r->errbuf[0] = '\0';
  curlreq_clear (r);

  curl_easy_reset (c);
#define SET(opt, val) if (rc == CURLE_OK) rc = curl_easy_setopt (c, opt, val)
  SET (CURLOPT_URL, r->url);
  SET (CURLOPT_PRIVATE, r);
  SET (CURLOPT_NOSIGNAL, 1L);
  SET (CURLOPT_ERRORBUFFER, r->errbuf);
  SET (CURLOPT_TIMEOUT_MS, (long) e->cfg.timeout_ms);
  SET (CURLOPT_AWS_SIGV4, e->cfg.sigv4);
  SET (CURLOPT_USERPWD, e->cfg.userpwd);
  SET (CURLOPT_HTTPHEADER, r->headers);
  SET (CURLOPT_WRITEFUNCTION, write_cb);
  SET (CURLOPT_WRITEDATA, r);
  SET (CURLOPT_HEADERFUNCTION, header_cb);
  SET (CURLOPT_HEADERDATA, r);
  SET (CURLOPT_SSL_VERIFYPEER, e->cfg.tls_verify ? 1L : 0L);
  SET (CURLOPT_SSL_VERIFYHOST, e->cfg.tls_verify ? 2L : 0L);
  if (e->cfg.ca_file)
    SET (CURLOPT_CAINFO, e->cfg.ca_file);
  /* The body follows the headers at once: waiting for 100 Continue
   * costs a round trip per PUT.  (A header "Expect:" would do the same
   * but curl would sign it.)
   */
  SET (CURLOPT_EXPECT_100_TIMEOUT_MS, 0L);
  switch (r->method) {
  case CURLREQ_GET:
    SET (CURLOPT_HTTPGET, 1L);
    break;
  case CURLREQ_PUT:
    SET (CURLOPT_UPLOAD, 1L);
    SET (CURLOPT_READFUNCTION, read_cb);
    SET (CURLOPT_READDATA, r);
    SET (CURLOPT_SEEKFUNCTION, seek_cb);
    SET (CURLOPT_SEEKDATA, r);
    SET (CURLOPT_INFILESIZE_LARGE, (curl_off_t) r->body_len);
    break;
  case CURLREQ_DELETE:
    SET (CURLOPT_CUSTOMREQUEST, "DELETE");
    break;
  }
#undef SET
  return rc;
}

/* Under the lock: the attempt is over (easy handle back in the pool);
 * retry it later or finish it.
 */
static void
settle (struct curl_engine *e, struct curlreq *r)
{
  unsigned retries = r->retries >= 0 ? (unsigned) r->retries : e->cfg.retries;

  e->idle[e->nr_idle++] = r->easy;
  r->easy = NULL;
  e->inflight--;
  if (s3blocks_debug_requests)
    nbdkit_debug ("%s %s: %s%ld %s after %.1f ms (attempt %u)",
                  curlreq_method_name (r->method), r->what,
                  r->curl == CURLE_OK ? "HTTP " : "",
                  r->curl == CURLE_OK ? r->status : (long) r->curl,
                  r->curl == CURLE_OK ? r->code : curl_easy_strerror (r->curl),
                  (clock_mono_ns () - r->started_ns) / 1e6, r->attempts);
  if (r->err && r->transient && r->attempts <= retries) {
    r->not_before_ns = clock_mono_ns ()
      + retry_backoff_ns (&e->jitter, e->cfg.retry_delay_ms, r->attempts);
    r->next_retry = e->retries;
    e->retries = r;
  }
  else
    finish (r);
}

static void *
io_thread (void *arg)
{
  struct curl_engine *e = arg;

  pthread_mutex_lock (&e->lock);
  while (!(e->stopping && e->active == 0)) {
    uint64_t now = clock_mono_ns (), deadline = UINT64_MAX;
    struct curlreq *r;
    int running, msgs, wait_ms = 1000;
    CURLMsg *m;

    while ((r = take_request (e, now)) != NULL) {
      int err = 0;
      CURLcode rc = CURLE_OK;

      pthread_mutex_unlock (&e->lock);
      if (r->gate && r->method != CURLREQ_GET)
        err = r->gate->check (r->gate->opaque);
      if (err == 0) {
        rc = prepare (e, r);
        if (rc == CURLE_OK &&
            curl_multi_add_handle (e->multi, r->easy) != CURLM_OK)
          rc = CURLE_FAILED_INIT;
        if (rc != CURLE_OK)
          judge (e, r, rc);
      }
      pthread_mutex_lock (&e->lock);
      if (err) {                /* the gate refused: no attempt */
        r->err = err;
        r->gate_refused = true;
        r->transient = false;
        settle (e, r);
      }
      else if (rc != CURLE_OK)  /* never went out either */
        settle (e, r);
    }
    for (r = e->retries; r; r = r->next_retry)
      if (r->not_before_ns < deadline)
        deadline = r->not_before_ns;
    pthread_mutex_unlock (&e->lock);

    if (deadline != UINT64_MAX) {
      now = clock_mono_ns ();
      wait_ms = deadline <= now ? 0
        : (deadline - now + 999999) / 1000000 < 1000
        ? (int) ((deadline - now + 999999) / 1000000) : 1000;
    }
    curl_multi_poll (e->multi, NULL, 0, wait_ms, NULL);
    curl_multi_perform (e->multi, &running);
    while ((m = curl_multi_info_read (e->multi, &msgs)) != NULL) {
      if (m->msg != CURLMSG_DONE)
        continue;
      curl_easy_getinfo (m->easy_handle, CURLINFO_PRIVATE, (char **) &r);
      curl_multi_remove_handle (e->multi, m->easy_handle);
      judge (e, r, m->data.result);
      pthread_mutex_lock (&e->lock);
      settle (e, r);
      pthread_mutex_unlock (&e->lock);
    }
    pthread_mutex_lock (&e->lock);
  }
  pthread_mutex_unlock (&e->lock);
  return NULL;
}

struct curl_engine *
curl_engine_new (const struct curl_engine_config *cfg)
{
  struct curl_engine *e = calloc (1, sizeof *e);

  if (e == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  pthread_mutex_init (&e->lock, NULL);
  e->cfg = *cfg;
  if (e->cfg.max_inflight > STORE_MAX_INFLIGHT)
    e->cfg.max_inflight = STORE_MAX_INFLIGHT;
  if (e->cfg.max_inflight == 0)
    e->cfg.max_inflight = 1;
  return e;
}

static void
free_handles (struct curl_engine *e)
{
  while (e->nr_idle > 0)
    curl_easy_cleanup (e->idle[--e->nr_idle]);
  if (e->multi)
    curl_multi_cleanup (e->multi);
  e->multi = NULL;
}

int
curl_engine_start (struct curl_engine *e)
{
  int err;

  pthread_mutex_lock (&e->lock);
  if (e->running) {
    pthread_mutex_unlock (&e->lock);
    return 0;
  }
  e->stopping = false;
  e->multi = curl_multi_init ();
  if (e->multi == NULL) {
    nbdkit_error ("curl_multi_init failed");
    goto err;
  }
  /* One connection per request in flight, reused between requests. */
  curl_multi_setopt (e->multi, CURLMOPT_MAXCONNECTS,
                     (long) e->cfg.max_inflight);
  while (e->nr_idle < e->cfg.max_inflight) {
    CURL *c = curl_easy_init ();
    if (c == NULL) {
      nbdkit_error ("curl_easy_init failed");
      goto err;
    }
    e->idle[e->nr_idle++] = c;
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
  free_handles (e);
  pthread_mutex_unlock (&e->lock);
  return -1;
}

void
curl_engine_stop (struct curl_engine *e)
{
  pthread_mutex_lock (&e->lock);
  if (!e->running) {
    pthread_mutex_unlock (&e->lock);
    return;
  }
  e->stopping = true;
  curl_multi_wakeup (e->multi);
  pthread_mutex_unlock (&e->lock);
  pthread_join (e->thread, NULL);

  pthread_mutex_lock (&e->lock);
  free_handles (e);
  e->running = false;
  pthread_mutex_unlock (&e->lock);
}

void
curl_engine_free (struct curl_engine *e)
{
  if (e == NULL)
    return;
  curl_engine_stop (e);
  pthread_mutex_destroy (&e->lock);
  free (e);
}

void
curl_engine_run (struct curl_engine *e, struct curlreq *reqs, size_t n)
{
  struct curlbatch batch = { .reqs = reqs, .n = n };
  size_t i;

  if (n == 0)
    return;
  for (i = 0; i < n; i++) {
    reqs[i].batch = &batch;
    reqs[i].attempts = 0;
    reqs[i].err = 0;
    reqs[i].curl = CURLE_OK;
    reqs[i].status = 0;
    reqs[i].gate_refused = false;
    reqs[i].transient = false;
    reqs[i].etag[0] = '\0';
    reqs[i].doc = NULL;
    reqs[i].doc_len = 0;
    reqs[i].easy = NULL;
  }
  pthread_cond_init (&batch.done, NULL);

  pthread_mutex_lock (&e->lock);
  if (!e->running) {
    pthread_mutex_unlock (&e->lock);
    nbdkit_error ("internal error: S3 request before the I/O thread runs");
    for (i = 0; i < n; i++)
      reqs[i].err = EIO;
    pthread_cond_destroy (&batch.done);
    return;
  }
  if (e->ring == NULL) {
    batch.prev = batch.next_batch = &batch;
    e->ring = &batch;
  }
  else {
    batch.next_batch = e->ring;
    batch.prev = e->ring->prev;
    e->ring->prev->next_batch = &batch;
    e->ring->prev = &batch;
  }
  e->active++;
  curl_multi_wakeup (e->multi);
  while (batch.finished < n)
    pthread_cond_wait (&batch.done, &e->lock);
  if (--e->active == 0 && e->stopping)
    curl_multi_wakeup (e->multi);
  pthread_mutex_unlock (&e->lock);
  pthread_cond_destroy (&batch.done);
}
