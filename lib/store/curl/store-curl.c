/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the store contract (store.h) over libcurl: Signature V4
 * and verified TLS.
 *
 * Requests run through this store's curl_engine (concurrent, retried,
 * bounded in time, as the libs3 store's s3engine).  This file builds
 * them (URLs, the payload hash, conditions, the session token) and
 * turns their outcomes into the contract's errno values.  The messages
 * that name the cause and the key to fix are in store-curl-log.c, the
 * startup check in store-curl-check.c.
 *
 * Signing is curl's (CURLOPT_AWS_SIGV4): it signs the URL's path and
 * query as they are, so both are encoded here (sigv4-query.h), and
 * every header we add.  S3 wants x-amz-content-sha256, the hex SHA-256
 * of the body: we always send it ourselves rather than let curl 7.88
 * guess (it would hash an empty body or send UNSIGNED-PAYLOAD for an
 * upload through a read callback).
 *
 * A ranged GET sends its Range header among the headers curl signs
 * (V4 allows any header to be signed; signing it means a proxy cannot
 * change which bytes we get) and its answer is judged by
 * content-range.h: 206 with a Content-Range that names the bytes asked
 * for, or a 200 whose whole object is exactly those bytes.
 *
 * A conditional PUT that gets a 5xx is retried like any other (RGW
 * sometimes answers a losing racer with 500 rather than 412): the
 * retry then meets the winner's object and gets the 412 that says so.
 * If our own first attempt had in fact been stored, the retry's 412
 * reports EEXIST or ESTALE although we won; the lease code reads the
 * lease back in that case and finds its own token, so that is safe,
 * and better than guessing from a 500 that the write lost.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/sha.h>
#include <nbdkit-plugin.h>

#include "store/curl/curl-engine.h"
#include "store/endpoint.h"
#include "store/curl/s3xml.h"
#include "store/curl/sigv4-query.h"
#include "store/fail-log.h"
#include "store/list-pager.h"
#include "store/range.h"
#include "store/sink.h"
#include "store/store.h"
#include "store-curl-impl.h"

#define MAX_LIST_KEYS "1000"
#define EMPTY_SHA256 \
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"


static int
curlstore_global_init (void)
{
  CURLcode rc = curl_global_init (CURL_GLOBAL_DEFAULT);

  if (rc != CURLE_OK) {
    nbdkit_error ("libcurl initialisation failed: %s",
                  curl_easy_strerror (rc));
    return -1;
  }
  return 0;
}

static void
curlstore_global_cleanup (void)
{
  curl_global_cleanup ();
}

static int
curlstore_validate (const struct store_params *p)
{
  bool https;
  char *host;
  int r = -1;

  if (parse_endpoint (p->endpoint, &https, &host) == -1)
    return -1;
  if (!bucket_name_is_valid (p->bucket)) {
    nbdkit_error ("bucket: invalid bucket name \"%s\": use 3 to 63 "
                  "characters from a-z 0-9 . -, starting and ending with "
                  "a letter or digit", p->bucket);
    errno = EINVAL;
    goto out;
  }
  if (p->virtual_host && endpoint_host_is_ip (host)) {
    nbdkit_error ("uri-style=virtual-host needs a DNS name in endpoint "
                  "(the bucket becomes part of the host name), "
                  "but %s is an IP address: use uri-style=path",
                  p->endpoint);
    errno = EINVAL;
    goto out;
  }
  /* A dot in the bucket name would be a dot in the host name, which a
   * wildcard certificate does not cover.
   */
  if (p->virtual_host && https && p->tls_verify && strchr (p->bucket, '.')) {
    nbdkit_error ("bucket \"%s\" has a dot, which breaks TLS verification "
                  "with uri-style=virtual-host (the certificate is for "
                  "*.%s): use uri-style=path", p->bucket, host);
    errno = EINVAL;
    goto out;
  }
  if (p->ca_file && access (p->ca_file, R_OK) == -1) {
    nbdkit_error ("ca-file: cannot read %s: %m", p->ca_file);
    goto out;
  }
  /* nbdkit has no warning level: an error line that says warning is
   * what reaches the user's log.
   */
  if (https && !p->tls_verify)
    nbdkit_error ("warning: endpoint %s: tls-verify=false: the server's "
                  "certificate is not verified", p->endpoint);
  r = 0;
 out:
  free (host);
  return r;
}

static void
sha256_hex (const void *buf, size_t len, char out[65])
{
  unsigned char md[SHA256_DIGEST_LENGTH];
  size_t i;

  if (len == 0) {
    memcpy (out, EMPTY_SHA256, 65);
    return;
  }
  SHA256 (buf, len, md);
  for (i = 0; i < SHA256_DIGEST_LENGTH; i++)
    snprintf (out + 2 * i, 3, "%02x", md[i]);
}

/* The headers every request carries, plus one more (NULL: none).
 * NULL if out of memory.
 */
static struct curl_slist *
make_headers (const struct curlstore *s, const void *body, size_t len,
              const char *extra)
{
  char h[128], hex[65];
  struct curl_slist *l = NULL, *t;

  sha256_hex (body, len, hex);
  snprintf (h, sizeof h, "x-amz-content-sha256: %s", hex);
  if ((t = curl_slist_append (l, h)) == NULL)
    goto err;
  l = t;
  if (s->token_header) {
    if ((t = curl_slist_append (l, s->token_header)) == NULL)
      goto err;
    l = t;
  }
  if (extra) {
    if ((t = curl_slist_append (l, extra)) == NULL)
      goto err;
    l = t;
  }
  return l;
 err:
  curl_slist_free_all (l);
  return NULL;
}

char *
curlstore_object_url (const struct curlstore *s, const char *key)
{
  char *enc = uri_encode (key, true), *url = NULL;

  if (enc && asprintf (&url, "%s%s", s->key_url, enc) == -1)
    url = NULL;
  free (enc);
  return url;
}

static int
cs_start (struct store *base)
{
  struct curlstore *s = (struct curlstore *) base;

  return curl_engine_start (s->engine);
}

static void
cs_stop (struct store *base)
{
  struct curlstore *s = (struct curlstore *) base;

  curl_engine_stop (s->engine);
}

/* One request, synchronously; headers freed.  Returns r.err. */
int
curlstore_request (struct curlstore *s, struct curlreq *r, const void *body,
         size_t len, const char *extra)
{
  r->headers = make_headers (s, body, len, extra);
  if (r->headers == NULL) {
    r->err = ENOMEM;
    return ENOMEM;
  }
  r->body = body;
  r->body_len = len;
  curl_engine_run (s->engine, r, 1);
  curl_slist_free_all (r->headers);
  r->headers = NULL;
  return r->err;
}

static enum curlreq_method
method_of (enum store_op_kind kind)
{
  switch (kind) {
  case STORE_GET: return CURLREQ_GET;
  case STORE_PUT: return CURLREQ_PUT;
  case STORE_DELETE: return CURLREQ_DELETE;
  }
  abort ();
}

/* The contract's answer for a request's outcome. */
static int
answer (const struct store_op *op, const struct curlreq *r)
{
  if (r->gate_refused)
    return r->err;
  if (op->kind == STORE_DELETE && r->curl == CURLE_OK && r->status == 404 &&
      strcmp (r->code, "NoSuchBucket") != 0)
    return 0;                   /* already gone: what we wanted */
  if (op->kind == STORE_PUT && r->curl == CURLE_OK) {
    if (r->status == 412 && op->condition == STORE_CREATE_ONLY)
      return EEXIST;
    if (r->status == 412 && op->condition == STORE_IF_MATCH)
      return ESTALE;
    if (r->status == 404 && op->condition == STORE_IF_MATCH &&
        strcmp (r->code, "NoSuchBucket") != 0)
      return ENOENT;
  }
  /* Only a GET may answer "no such object". */
  if (r->err == ENOENT && op->kind != STORE_GET)
    return EIO;
  return r->err;
}

static bool
is_answer (int err)
{
  return err == 0 || err == ENOENT || err == EEXIST || err == ESTALE;
}

static size_t
cs_run (struct store *base, struct store_op *ops, size_t n)
{
  struct curlstore *s = (struct curlstore *) base;
  struct curlreq *reqs;
  char **urls;
  size_t *op_of;
  size_t i, j, m = 0, failures = 0;
  struct fail_log fl = { 0 };

  if (n == 0)
    return 0;
  reqs = calloc (n, sizeof *reqs);
  urls = calloc (n, sizeof *urls);
  op_of = calloc (n, sizeof *op_of);
  if (reqs == NULL || urls == NULL || op_of == NULL)
    goto enomem;

  for (i = 0; i < n; i++) {
    struct store_op *op = &ops[i];
    char cond[STORE_ETAG_MAX + 16], range[16 + STORE_RANGE_MAX];
    const char *extra = NULL;
    struct curlreq *r = &reqs[m];

    op->err = 0;
    op->got = 0;
    op->etag[0] = '\0';
    /* A bad range or scatter list: logged, never sent. */
    if ((op->err = store_op_check (op)) != 0) {
      failures++;
      continue;
    }
    if (store_op_is_ranged (op)) {
      memcpy (range, "Range: ", 7);
      store_range_format (op->range_offset, op->range_len, range + 7);
      extra = range;
    }
    if (op->kind == STORE_PUT && op->condition != STORE_ALWAYS) {
      if (!store_can (base, STORE_CAP_CONDITIONAL_PUT)) {
        op->err = ENOTSUP;      /* unlogged: the caller falls back */
        failures++;
        continue;
      }
      if (op->condition == STORE_CREATE_ONLY)
        extra = "If-None-Match: *";
      else {
        /* Unquoted: RGW matches only the bare hex form. */
        snprintf (cond, sizeof cond, "If-Match: %s", op->if_match);
        extra = cond;
      }
    }
    urls[m] = curlstore_object_url (s, op->key);
    r->headers = make_headers (s, op->kind == STORE_PUT ? op->buf : NULL,
                               op->kind == STORE_PUT ? op->len : 0, extra);
    if (urls[m] == NULL || r->headers == NULL) {
      free (urls[m]);
      urls[m] = NULL;
      curl_slist_free_all (r->headers);
      r->headers = NULL;
      op->err = ENOMEM;
      failures++;
      continue;
    }
    r->method = method_of (op->kind);
    r->url = urls[m];
    r->what = op->key;
    r->retries = -1;
    r->gate = op->gate;
    if (op->kind == STORE_GET) {
      r->dest = store_sink_of (op);
      r->cap = op->len;
      if (store_op_is_ranged (op)) {
        r->range_offset = op->range_offset;
        r->range_len = op->range_len;
        r->cap = op->range_len;         /* more is a bad answer */
      }
    }
    else if (op->kind == STORE_PUT) {
      r->body = op->buf;
      r->body_len = op->len;
    }
    op_of[m++] = i;
  }

  curl_engine_run (s->engine, reqs, m);

  for (j = 0; j < m; j++) {
    struct store_op *op = &ops[op_of[j]];
    struct curlreq *r = &reqs[j];

    op->err = answer (op, r);
    op->attempts = r->attempts;
    op->gate_refused = r->gate_refused;
    /* A failed range's bytes may be the wrong ones: none are given. */
    op->got = op->err && store_op_is_ranged (op) ? 0 : r->got;
    if (op->err == 0 && op->kind != STORE_DELETE)
      memcpy (op->etag, r->etag, sizeof op->etag);
    if (!is_answer (op->err)) {
      failures++;
      if (!r->gate_refused && fail_log_take (&fl))
        curlstore_log_failure (s, r, curlreq_method_name (r->method));
    }
    curl_slist_free_all (r->headers);
    curlreq_clear (r);
    free (urls[j]);
  }
  fail_log_end (&fl, s->endpoint);
  free (reqs);
  free (urls);
  free (op_of);
  return failures;

 enomem:
  nbdkit_error ("calloc: %m");
  free (reqs);
  free (urls);
  free (op_of);
  for (i = 0; i < n; i++)
    ops[i].err = ENOMEM;
  return n;
}

/* One page: ListObjects (v1), for the pager (list-pager.h). */
static int
list_fetch (void *opaque, const char *prefix, const char *delimiter,
            const char *marker, struct list_page *page)
{
  struct curlstore *s = opaque;
  struct query_param q[4];
  size_t nq = 0;
  char *query, *url = NULL;
  struct curlreq r = { .method = CURLREQ_GET, .what = prefix,
                       .retries = -1 };
  int ret = -1;

  q[nq++] = (struct query_param) { "prefix", prefix };
  q[nq++] = (struct query_param) { "max-keys", MAX_LIST_KEYS };
  if (delimiter)
    q[nq++] = (struct query_param) { "delimiter", delimiter };
  if (marker)
    q[nq++] = (struct query_param) { "marker", marker };
  query = query_build (q, nq);
  if (query == NULL || asprintf (&url, "%s?%s", s->bucket_url, query) == -1) {
    nbdkit_error ("malloc: %m");
    free (query);
    errno = ENOMEM;
    return -1;
  }
  r.url = url;
  if (curlstore_request (s, &r, NULL, 0, NULL) != 0) {
    curlstore_log_failure (s, &r, "LIST");
    errno = r.err;
  }
  else if (s3xml_list_page (r.doc ? r.doc : "", r.doc_len, page) == -1) {
    nbdkit_error ("LIST %s: cannot read the server's answer from %s (%m)",
                  prefix, s->endpoint);
    errno = EIO;
  }
  else
    ret = 0;
  curlreq_clear (&r);
  free (url);
  free (query);
  return ret;
}

static void
list_release (void *opaque, struct list_page *page)
{
  s3xml_list_page_free (page);
}

static int
cs_list (struct store *base, const char *prefix, const char *delimiter,
         const char *start_after, store_list_cb cb, void *opaque)
{
  const struct list_source src = {
    .fetch = list_fetch, .release = list_release, .opaque = base,
  };

  return list_pager (&src, prefix, delimiter, start_after, cb, opaque);
}

static void
wipe (char *s)
{
  if (s)
    memset (s, 0, strlen (s));
  free (s);
}

static void
cs_close (struct store *base)
{
  struct curlstore *s = (struct curlstore *) base;

  curl_engine_free (s->engine);
  free (s->endpoint);
  free (s->bucket);
  free (s->region);
  free (s->ca_file);
  free (s->bucket_url);
  free (s->key_url);
  free (s->sigv4);
  wipe (s->userpwd);
  wipe (s->token_header);
  free (s);
}

static const struct store_ops curlstore_ops = {
  .start = cs_start,
  .stop = cs_stop,
  .check = curlstore_check,
  .run = cs_run,
  .list = cs_list,
  .close = cs_close,
};

/* The params have passed validate. */
static struct store *
curlstore_open (const struct store_params *p)
{
  struct curlstore *s = calloc (1, sizeof *s);
  const char *scheme;
  char *host = NULL;
  bool https;
  int r;

  if (s == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  s->base.ops = &curlstore_ops;
  s->base.caps = 0;             /* until check has probed */
  if (parse_endpoint (p->endpoint, &https, &host) == -1)
    goto err;
  scheme = https ? "https" : "http";
  s->endpoint = strdup (p->endpoint);
  s->bucket = strdup (p->bucket);
  s->region = strdup (p->region);
  s->ca_file = p->ca_file ? strdup (p->ca_file) : NULL;
  if (p->virtual_host)
    r = asprintf (&s->bucket_url, "%s://%s.%s/", scheme, p->bucket, host);
  else
    r = asprintf (&s->bucket_url, "%s://%s/%s", scheme, host, p->bucket);
  if (r == -1)
    s->bucket_url = NULL;
  else if (asprintf (&s->key_url, "%s%s", s->bucket_url,
                     p->virtual_host ? "" : "/") == -1)
    s->key_url = NULL;
  if (asprintf (&s->sigv4, "aws:amz:%s:s3", p->region) == -1)
    s->sigv4 = NULL;
  if (asprintf (&s->userpwd, "%s:%s", p->access_key, p->secret_key) == -1)
    s->userpwd = NULL;
  if (p->session_token &&
      asprintf (&s->token_header, "x-amz-security-token: %s",
                p->session_token) == -1)
    s->token_header = NULL;
  if (!s->endpoint || !s->bucket || !s->region || !s->bucket_url ||
      !s->key_url || !s->sigv4 || !s->userpwd ||
      (p->ca_file && !s->ca_file) || (p->session_token && !s->token_header)) {
    nbdkit_error ("strdup: %m");
    goto err;
  }
  free (host);
  host = NULL;
  s->cfg.sigv4 = s->sigv4;
  s->cfg.userpwd = s->userpwd;
  s->cfg.ca_file = s->ca_file;
  s->cfg.tls_verify = p->tls_verify;
  s->cfg.max_inflight = p->max_requests;
  s->cfg.retries = p->retries;
  s->cfg.retry_delay_ms = p->retry_delay_ms;
  s->cfg.timeout_ms = p->timeout_ms;
  s->engine = curl_engine_new (&s->cfg);
  if (s->engine == NULL)
    goto err;
  return &s->base;

 err:
  free (host);
  cs_close (&s->base);
  return NULL;
}

const struct store_type curlstore_type = {
  .name = "curl",
  .global_init = curlstore_global_init,
  .global_cleanup = curlstore_global_cleanup,
  .validate = curlstore_validate,
  .open = curlstore_open,
};
