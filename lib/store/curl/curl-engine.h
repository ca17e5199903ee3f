/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: running signed HTTP requests concurrently with libcurl.
 *
 * The scheduler (store/sched.h) runs the requests, as under
 * s3engine.h: one I/O thread, at most max_inflight requests in flight
 * for the whole engine, batches served in turn; a transient failure
 * (httpstatus.h) is retried with backoff; a gate is checked before
 * every attempt of a PUT or DELETE (a GET's gate is ignored).  This
 * engine gives it a curl multi handle; each attempt is bounded by
 * timeout_ms (curl's own per-transfer timeout, so a slow request is
 * abandoned alone).
 *
 * Every attempt is signed afresh by curl (CURLOPT_AWS_SIGV4 with the
 * configured region), so a retry carries a new date.  TLS verifies the
 * peer and host name unless tls_verify is false.
 *
 * nbdkit forks after .get_ready: the thread and the multi handle live
 * from curl_engine_start to curl_engine_stop.
 */

#ifndef S3BLOCKS_CURL_ENGINE_H
#define S3BLOCKS_CURL_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "store/curl/content-range.h"
#include "store/sched.h"
#include "store/sink.h"
#include "store/store.h"

struct curl_engine_config {
  const char *sigv4;            /* "aws:amz:REGION:s3" */
  const char *userpwd;          /* "ACCESS:SECRET": a secret, never logged */
  const char *ca_file;          /* NULL: the system's CAs */
  bool tls_verify;
  unsigned max_inflight;
  unsigned retries;
  unsigned retry_delay_ms;
  unsigned timeout_ms;
};

enum curlreq_method { CURLREQ_GET, CURLREQ_PUT, CURLREQ_DELETE };

struct curlreq {
  /* In: */
  enum curlreq_method method;
  const char *url;              /* path and query already encoded */
  const char *what;             /* key or prefix, for debug messages */
  struct curl_slist *headers;   /* the caller's; signed by curl */
  const void *body;             /* PUT */
  size_t body_len;
  struct store_sink dest;       /* GET: destination (capacity cap); */
  size_t cap;                   /* none: the body goes to doc (LIST) */
  /* GET: range_len > 0 is a ranged GET of the range_len bytes from
   * range_offset (the caller sends the Range header and sets cap to
   * range_len); its 2xx is judged by content-range.h.
   */
  uint64_t range_offset;
  size_t range_len;
  int retries;                  /* -1: the configured number */
  const struct store_gate *gate;  /* PUT, DELETE: NULL for none */

  /* Out, for the last attempt: */
  CURLcode curl;
  long status;
  int err;                      /* httpstatus.h's errno; EIO if too_long
                                   or a ranged GET's range is not RANGE_OK */
  bool transient;
  size_t got;                   /* bytes into dest */
  bool too_long;                /* GET: body longer than cap, or (ranged)
                                   a 200 from an offset: the wrong bytes */
  char content_range[96];       /* the Content-Range header, "" if none */
  enum range_verdict range;     /* ranged GET, 2xx: RANGE_OK if it was */
  bool gate_refused;            /* err is the gate's */
  char etag[STORE_ETAG_MAX];    /* without quotes, "" if none */
  char *doc;                    /* the body if dest is none, or an error's */
  size_t doc_len;
  char code[64];                /* error <Code>, "" if none */
  char message[CURL_ERROR_SIZE]; /* error <Message>, or curl's words */
  char region[64];              /* error <Region>, or x-amz-bucket-region */
  unsigned attempts;

  /* The engine's: */
  struct sched_req sched;       /* err, gate_refused, attempts from here */
  size_t pos;
  CURL *easy;
  char errbuf[CURL_ERROR_SIZE];
};

struct curl_engine;

/* No thread, no request.  cfg's strings must outlive the engine.
 * NULL after nbdkit_error.
 */
extern struct curl_engine *curl_engine_new (const struct curl_engine_config *cfg);
extern int curl_engine_start (struct curl_engine *e);
extern void curl_engine_stop (struct curl_engine *e);
extern void curl_engine_free (struct curl_engine *e);

/* Run n requests to completion; nothing is logged.  Any number of
 * threads at once.  Free each request's doc with curlreq_clear.
 */
extern void curl_engine_run (struct curl_engine *e, struct curlreq *reqs,
                             size_t n);
extern void curlreq_clear (struct curlreq *r);

extern const char *curlreq_method_name (enum curlreq_method m);

#endif /* S3BLOCKS_CURL_ENGINE_H */
