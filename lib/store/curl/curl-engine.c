/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: running signed HTTP requests concurrently with libcurl.
 * See curl-engine.h.
 *
 * The scheduler (store/sched.h) owns batches, retries, gates and the
 * I/O thread; this file is its operations over one curl multi handle.
 * curl is only called from the I/O thread, except curl_multi_wakeup
 * (which is thread-safe).  Its callbacks touch only their own request,
 * which is in flight and so the I/O thread's alone; so is the pool of
 * idle easy handles.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <nbdkit-plugin.h>

#include "clock.h"
#include "store/curl/curl-engine.h"
#include "store/curl/httpstatus.h"
#include "store/sched.h"
#include "store/store-debug.h"
#include "store/curl/s3xml.h"

/* An error document, or a LIST page (1000 keys of ~100 bytes). */
#define MAX_DOC (4 * 1024 * 1024)

struct curl_engine {
  struct curl_engine_config cfg;
  struct sched *sched;
  CURLM *multi;
  CURL *idle[STORE_MAX_INFLIGHT];  /* easy handles not in use */
  unsigned nr_idle;
};

#define CURLREQ(sr) \
  ((struct curlreq *) ((char *) (sr) - offsetof (struct curlreq, sched)))

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
  if (store_sink_is_set (&r->dest) && status >= 200 && status < 300) {
    /* A server that ignored Range sends the object from its start:
     * from any other offset, not one of its bytes is ours to keep.
     */
    if (r->range_len > 0 && status == 200 && r->range_offset > 0) {
      r->too_long = true;
      return 0;
    }
    if (n > r->cap - r->got) {
      r->too_long = true;
      return 0;                 /* CURLE_WRITE_ERROR ends the transfer */
    }
    store_sink_copy (&r->dest, r->got, data, n);
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
  else if (n > 14 && strncasecmp (h, "Content-Range:", 14) == 0)
    header_value (h, n, 14, r->content_range, sizeof r->content_range);
  return n;
}

/* r's attempt ended with code: give its easy handle back to the pool
 * and tell the scheduler, after which r is no longer ours to touch.
 */
static void
attempt_over (struct curl_engine *e, struct curlreq *r, CURLcode code)
{
  r->curl = code;
  r->status = 0;
  if (r->easy) {
    /* Also when our write callback ended the transfer: a ranged GET's
     * judge needs to know what it was answered.
     */
    if (code == CURLE_OK || r->too_long)
      curl_easy_getinfo (r->easy, CURLINFO_RESPONSE_CODE, &r->status);
    e->idle[e->nr_idle++] = r->easy;
    r->easy = NULL;
  }
  sched_attempt_over (e->sched, &r->sched);
}

/* Read the outcome of r's attempt. */
static int
judge (void *eng, struct sched_req *sr, bool *transient)
{
  const struct curl_engine *e = eng;
  struct curlreq *r = CURLREQ (sr);
  CURLcode code = r->curl;
  struct http_outcome o = { .curl = code, .code = r->code };

  r->code[0] = '\0';
  if (code == CURLE_OK) {
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
  r->range = RANGE_OK;
  if (r->range_len > 0 && r->status >= 200 && r->status < 300 &&
      (code == CURLE_OK || r->too_long)) {
    struct range_reply rr = {
      .status = r->status, .content_range = r->content_range,
      .got = r->got, .too_long = r->too_long,
    };

    r->range = range_reply_judge (r->range_offset, r->range_len, &rr);
  }
  /* Neither is a server's passing trouble: it would answer the same. */
  if (r->too_long || r->range != RANGE_OK) {
    r->err = EIO;
    r->transient = false;
  }
  else {
    r->err = http_outcome_errno (&o);
    r->transient = r->err && http_outcome_is_transient (&o);
  }
  *transient = r->transient;
  return r->err;
}

static void
describe (void *eng, const struct sched_req *sr, char *buf, size_t len)
{
  const struct curlreq *r = CURLREQ (sr);

  snprintf (buf, len, "%s%ld %s",
            r->curl == CURLE_OK ? "HTTP " : "",
            r->curl == CURLE_OK ? r->status : (long) r->curl,
            r->curl == CURLE_OK ? r->code : curl_easy_strerror (r->curl));
}

/* Set up r's easy handle for an attempt (I/O thread, no lock). */
static CURLcode
prepare (struct curl_engine *e, struct curlreq *r)
{
  CURL *c = r->easy;
  CURLcode rc = CURLE_OK;

  r->got = r->pos = 0;
  r->too_long = false;
  r->content_range[0] = '\0';
  r->range = RANGE_OK;
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

/* Hand r to the multi handle on an idle easy handle. */
static void
start (void *eng, struct sched_req *sr)
{
  struct curl_engine *e = eng;
  struct curlreq *r = CURLREQ (sr);
  CURLcode rc = CURLE_FAILED_INIT;

  /* The scheduler never has more attempts in flight than handles. */
  r->easy = e->nr_idle > 0 ? e->idle[--e->nr_idle] : NULL;
  if (r->easy) {
    rc = prepare (e, r);
    if (rc == CURLE_OK &&
        curl_multi_add_handle (e->multi, r->easy) != CURLM_OK)
      rc = CURLE_FAILED_INIT;
  }
  if (rc != CURLE_OK)           /* never went out */
    attempt_over (e, r, rc);
}

static void
pump (void *eng, uint64_t deadline, unsigned inflight)
{
  struct curl_engine *e = eng;
  int running, msgs, wait_ms = 1000;
  CURLMsg *m;

  if (deadline != UINT64_MAX) {
    uint64_t now = clock_mono_ns ();

    wait_ms = deadline <= now ? 0
      : (deadline - now + 999999) / 1000000 < 1000
      ? (int) ((deadline - now + 999999) / 1000000) : 1000;
  }
  curl_multi_poll (e->multi, NULL, 0, wait_ms, NULL);
  curl_multi_perform (e->multi, &running);
  while ((m = curl_multi_info_read (e->multi, &msgs)) != NULL) {
    struct curlreq *r;
    CURLcode result;

    if (m->msg != CURLMSG_DONE)
      continue;
    /* m does not survive curl_multi_remove_handle. */
    result = m->data.result;
    curl_easy_getinfo (m->easy_handle, CURLINFO_PRIVATE, (char **) &r);
    curl_multi_remove_handle (e->multi, m->easy_handle);
    attempt_over (e, r, result);
  }
}

static void
wake (void *eng)
{
  struct curl_engine *e = eng;

  curl_multi_wakeup (e->multi);
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

static void
close_multi (void *eng)
{
  free_handles (eng);
}

static int
open_multi (void *eng)
{
  struct curl_engine *e = eng;

  e->multi = curl_multi_init ();
  if (e->multi == NULL) {
    nbdkit_error ("curl_multi_init failed");
    return -1;
  }
  /* One connection per request in flight, reused between requests. */
  curl_multi_setopt (e->multi, CURLMOPT_MAXCONNECTS,
                     (long) e->cfg.max_inflight);
  while (e->nr_idle < e->cfg.max_inflight) {
    CURL *c = curl_easy_init ();
    if (c == NULL) {
      nbdkit_error ("curl_easy_init failed");
      free_handles (e);
      return -1;
    }
    e->idle[e->nr_idle++] = c;
  }
  return 0;
}

static const struct sched_ops ops = {
  .open = open_multi,
  .close = close_multi,
  .start = start,
  .pump = pump,
  .wake = wake,
  .judge = judge,
  .describe = describe,
  /* no time_out: CURLOPT_TIMEOUT_MS bounds each attempt alone */
};

struct curl_engine *
curl_engine_new (const struct curl_engine_config *cfg)
{
  struct curl_engine *e = calloc (1, sizeof *e);
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
  e->sched = sched_new (&scfg, &ops, e);
  if (e->sched == NULL) {
    free (e);
    return NULL;
  }
  /* One easy handle per attempt in flight, within the scheduler's bound. */
  e->cfg.max_inflight = sched_max_inflight (e->sched);
  return e;
}

int
curl_engine_start (struct curl_engine *e)
{
  return sched_start (e->sched);
}

void
curl_engine_stop (struct curl_engine *e)
{
  sched_stop (e->sched);
}

void
curl_engine_free (struct curl_engine *e)
{
  if (e == NULL)
    return;
  sched_free (e->sched);
  free (e);
}

void
curl_engine_run (struct curl_engine *e, struct curlreq *reqs, size_t n)
{
  size_t i;

  if (n == 0)
    return;
  for (i = 0; i < n; i++) {
    struct curlreq *r = &reqs[i];

    r->curl = CURLE_OK;
    r->status = 0;
    r->transient = false;
    r->etag[0] = '\0';
    r->content_range[0] = '\0';
    r->range = RANGE_OK;
    r->doc = NULL;
    r->doc_len = 0;
    r->easy = NULL;
    r->sched.method = curlreq_method_name (r->method);
    r->sched.what = r->what ? r->what : "";
    r->sched.retries = r->retries;
    /* Only writes are fenced. */
    r->sched.gate = r->method != CURLREQ_GET ? r->gate : NULL;
  }
  sched_run (e->sched, &reqs[0].sched, sizeof reqs[0], n);
  for (i = 0; i < n; i++) {
    struct curlreq *r = &reqs[i];

    r->err = r->sched.err;
    r->gate_refused = r->sched.gate_refused;
    r->attempts = r->sched.attempts;
    if (r->gate_refused)
      r->transient = false;
  }
}
