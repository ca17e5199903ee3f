/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the store contract (store.h) over libs3, S3 Signature V2.
 *
 * Requests run through this store's own s3engine (concurrent, retried,
 * bounded in time).  This file checks the endpoint and bucket name at
 * config time, turns the engine's outcomes into the contract's errno
 * values and into messages a user can act on, and checks at startup
 * that the endpoint answers, the credentials work and the bucket
 * exists (creating it if not).
 *
 * Capabilities: none.  libs3 2.0 cannot send If-None-Match or If-Match
 * on a PUT (S3PutProperties has no field for them, only GETs take
 * conditions), so a conditional PUT fails with ENOTSUP.  Nor does it
 * show us a PUT's response headers, so a PUT's etag is always ""; a
 * GET's is the server's.
 *
 * Ranged GETs: libs3 sends Range and treats any 2xx alike, showing us
 * neither the status nor Content-Range.  What it does show, the
 * Content-Length and the bytes, must fit the range: more is a server
 * that ignored Range (EIO).  A server that ignores Range on an object
 * no longer than the range, read from an offset other than 0, cannot
 * be told from one that honours it; a layout whose objects are longer
 * than its ranges (segments of many blocks) never meets that case.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libs3.h>
#include <nbdkit-plugin.h>

#include "store/endpoint.h"
#include "store/fail-log.h"
#include "store/list-pager.h"
#include "store/libs3/s3engine.h"
#include "store/range.h"
#include "store/sink.h"
#include "store/store.h"

struct s3store {
  struct store base;
  struct s3engine *engine;
  struct s3engine_config cfg;
  char *endpoint, *host, *bucket, *access_key, *secret_key;
};

static int
s3store_global_init (void)
{
  S3Status st = S3_initialize ("s3blocks/" PACKAGE_VERSION, S3_INIT_ALL,
                               NULL);

  if (st != S3StatusOK) {
    nbdkit_error ("libs3 initialisation failed: %s", S3_get_status_name (st));
    return -1;
  }
  return 0;
}

static void
s3store_global_cleanup (void)
{
  S3_deinitialize ();
}

/* S3's rules (bucket_name_is_valid), then libs3's own path-style
 * check, so that libs3 never refuses what we accepted.
 */
static bool
bucket_name_is_valid_for_libs3 (const char *name)
{
  return bucket_name_is_valid (name)
    && S3_validate_bucket_name (name, S3UriStylePath) == S3StatusOK;
}

static int
s3store_validate (const struct store_params *p)
{
  bool https;
  char *host;
  int r = -1;

  if (parse_endpoint (p->endpoint, &https, &host) == -1)
    return -1;
  /* No silent unauthenticated TLS: the user must say it is wanted. */
  if (https && p->tls_verify) {
    nbdkit_error ("endpoint %s: signature=v2 (libs3) cannot verify the "
                  "server's TLS certificate, so the connection would be "
                  "encrypted but not authenticated: use signature=v4, "
                  "which verifies it, or give tls-verify=false to accept "
                  "an unverified server", p->endpoint);
    errno = EINVAL;
    goto out;
  }
  if (https)
    nbdkit_error ("warning: endpoint %s: tls-verify=false: the server's "
                  "certificate is not verified (signature=v2 cannot)",
                  p->endpoint);
  if (!bucket_name_is_valid_for_libs3 (p->bucket)) {
    nbdkit_error ("bucket: invalid bucket name \"%s\": use 3 to 63 "
                  "characters from a-z 0-9 . -, starting and ending with "
                  "a letter or digit", p->bucket);
    errno = EINVAL;
    goto out;
  }
  if (p->virtual_host) {
    S3Status st = S3_validate_bucket_name (p->bucket, S3UriStyleVirtualHost);

    if (endpoint_host_is_ip (host)) {
      nbdkit_error ("uri-style=virtual-host needs a DNS name in endpoint "
                    "(the bucket becomes part of the host name), "
                    "but %s is an IP address: use uri-style=path",
                    p->endpoint);
      errno = EINVAL;
      goto out;
    }
    if (st != S3StatusOK) {
      nbdkit_error ("bucket \"%s\" cannot be used with uri-style="
                    "virtual-host (%s): use uri-style=path",
                    p->bucket, S3_get_status_name (st));
      errno = EINVAL;
      goto out;
    }
  }
  r = 0;
 out:
  free (host);
  return r;
}

/* Why a request failed, in words. */
static void
log_failure (const struct s3store *s, const struct s3req *r)
{
  const char *what = r->key ? r->key : r->prefix ? r->prefix : s->bucket;
  const char *status = S3_get_status_name (r->status);
  const char *sep = r->detail[0] ? ": " : "";
  char range[STORE_RANGE_MAX];

  if (r->kind == S3REQ_GET && r->range_len > 0) {
    store_range_format (r->range_offset, r->range_len, range);
    if (r->status == S3StatusErrorInvalidRange) {
      store_range_log_past_end (what, r->range_offset, r->range_len,
                                r->object_size, s->endpoint);
      return;
    }
    if (r->too_long) {
      if (r->content_length > r->range_len)
        nbdkit_error ("GET %s %s: the server at %s ignored the Range "
                      "header: it answered %" PRIu64 " bytes for a range "
                      "of %zu", what, range, s->endpoint,
                      r->content_length, r->range_len);
      else
        nbdkit_error ("GET %s %s: the server at %s ignored the Range "
                      "header: it answered more than the %zu bytes asked "
                      "for", what, range, s->endpoint, r->range_len);
      return;
    }
  }
  if (r->too_long)
    nbdkit_error ("%s %s: the object is longer than %zu bytes "
                  "(not a block of this export)",
                  s3req_kind_name (r->kind), what, r->len);
  else if (s3status_is_credentials (r->status))
    nbdkit_error ("%s %s: %s refused the credentials (%s%s%s): "
                  "check access-key and secret-key",
                  s3req_kind_name (r->kind), what, s->endpoint, status,
                  sep, r->detail);
  else if (r->status == S3StatusErrorNoSuchBucket)
    nbdkit_error ("%s %s: bucket %s does not exist at %s",
                  s3req_kind_name (r->kind), what, s->bucket, s->endpoint);
  else
    nbdkit_error ("%s %s: %s from %s after %u attempt%s%s%s",
                  s3req_kind_name (r->kind), what, status, s->endpoint,
                  r->attempts, r->attempts == 1 ? "" : "s", sep, r->detail);
}

static int
s3_start (struct store *base)
{
  struct s3store *s = (struct s3store *) base;

  return s3engine_start (s->engine);
}

static void
s3_stop (struct store *base)
{
  struct s3store *s = (struct s3store *) base;

  s3engine_stop (s->engine);
}

/* Startup check: one object-level GET tells whether the endpoint
 * answers, the credentials work and the bucket exists; a missing
 * bucket is created.  Fewer retries than in service: a wrong endpoint
 * should fail at once.
 */
static int
s3_check (struct store *base, const char *probe_key)
{
  struct s3store *s = (struct s3store *) base;
  char buf[4096];
  struct s3req req = {
    .kind = S3REQ_GET, .key = probe_key, .dest = { .buf = buf },
    .len = sizeof buf,
    .retries = s->cfg.retries < 2 ? (int) s->cfg.retries : 2,
  };

  s3engine_run (s->engine, &req, 1);

  if (req.status == S3StatusErrorNoSuchBucket) {
    struct s3req create = { .kind = S3REQ_CREATE_BUCKET, .retries = 2 };

    s3engine_run (s->engine, &create, 1);
    if (create.err != 0 && create.status != S3StatusErrorBucketAlreadyOwnedByYou
        && create.status != S3StatusErrorBucketAlreadyExists) {
      nbdkit_error ("bucket %s does not exist at %s and could not be "
                    "created: %s%s%s", s->bucket, s->endpoint,
                    S3_get_status_name (create.status),
                    create.detail[0] ? ": " : "", create.detail);
      errno = create.err;
      return -1;
    }
    nbdkit_debug ("created bucket %s at %s", s->bucket, s->endpoint);
    return 0;
  }
  if (req.err == 0 || req.err == ENOENT || req.too_long)
    return 0;

  if (s3status_is_credentials (req.status))
    nbdkit_error ("%s refused the credentials for bucket %s (%s%s%s): "
                  "check access-key and secret-key", s->endpoint, s->bucket,
                  S3_get_status_name (req.status),
                  req.detail[0] ? ": " : "", req.detail);
  else if (s3status_is_transient (req.status))
    nbdkit_error ("cannot reach the S3 endpoint %s (%s after %u attempts%s%s):"
                  " is the server running, and is the endpoint right?",
                  s->endpoint, S3_get_status_name (req.status), req.attempts,
                  req.detail[0] ? ": " : "", req.detail);
  else
    nbdkit_error ("S3 endpoint %s: checking bucket %s failed: %s%s%s",
                  s->endpoint, s->bucket, S3_get_status_name (req.status),
                  req.detail[0] ? ": " : "", req.detail);
  errno = req.err;
  return -1;
}

static enum s3req_kind
req_kind (enum store_op_kind kind)
{
  switch (kind) {
  case STORE_GET: return S3REQ_GET;
  case STORE_PUT: return S3REQ_PUT;
  case STORE_DELETE: return S3REQ_DELETE;
  }
  abort ();
}

static size_t
s3_run (struct store *base, struct store_op *ops, size_t n)
{
  struct s3store *s = (struct s3store *) base;
  struct s3req *reqs;
  size_t *op_of;                /* reqs[j] runs ops[op_of[j]] */
  size_t i, j, m = 0, failures = 0;
  struct fail_log fl = { 0 };

  if (n == 0)
    return 0;
  reqs = calloc (n, sizeof *reqs);
  op_of = calloc (n, sizeof *op_of);
  if (reqs == NULL || op_of == NULL) {
    nbdkit_error ("calloc: %m");
    free (reqs);
    free (op_of);
    for (i = 0; i < n; i++)
      ops[i].err = ENOMEM;
    return n;
  }
  for (i = 0; i < n; i++) {
    ops[i].err = 0;
    ops[i].got = 0;
    ops[i].etag[0] = '\0';
    /* No way to send the condition: refused without a request, and
     * not logged, so that the caller can fall back quietly.
     */
    if (ops[i].kind == STORE_PUT && ops[i].condition != STORE_ALWAYS) {
      ops[i].err = ENOTSUP;
      failures++;
      continue;
    }
    /* A bad range or scatter list: logged, never sent. */
    if ((ops[i].err = store_op_check (&ops[i])) != 0) {
      failures++;
      continue;
    }
    reqs[m].kind = req_kind (ops[i].kind);
    reqs[m].key = ops[i].key;
    if (ops[i].kind == STORE_GET)
      reqs[m].dest = store_sink_of (&ops[i]);
    else
      reqs[m].buf = ops[i].buf;
    reqs[m].len = ops[i].len;
    if (store_op_is_ranged (&ops[i])) {
      reqs[m].range_offset = ops[i].range_offset;
      reqs[m].range_len = ops[i].range_len;
      reqs[m].len = ops[i].range_len;   /* more is a bad answer */
    }
    reqs[m].retries = -1;
    reqs[m].gate = ops[i].gate;
    op_of[m++] = i;
  }

  s3engine_run (s->engine, reqs, m);

  for (j = 0; j < m; j++) {
    struct store_op *op = &ops[op_of[j]];
    int err = reqs[j].err;

    /* Only a GET may answer "no such object". */
    if (err == ENOENT && op->kind != STORE_GET)
      err = EIO;
    op->err = err;
    op->attempts = reqs[j].attempts;
    op->gate_refused = reqs[j].gate_refused;
    /* A failed range's bytes may be the wrong ones: none are given. */
    op->got = err && store_op_is_ranged (op) ? 0 : reqs[j].got;
    if (err == 0 && op->kind != STORE_DELETE)
      memcpy (op->etag, reqs[j].etag, sizeof op->etag);
    if (err == 0 || err == ENOENT)
      continue;
    failures++;
    if (reqs[j].gate_refused)   /* the gate's owner explains it */
      continue;
    if (fail_log_take (&fl))
      log_failure (s, &reqs[j]);
  }
  fail_log_end (&fl, s->endpoint);
  free (reqs);
  free (op_of);
  return failures;
}

/* One page, for the pager (list-pager.h). */
static int
list_fetch (void *opaque, const char *prefix, const char *delimiter,
            const char *marker, struct list_page *page)
{
  struct s3store *s = opaque;
  struct s3req *req = calloc (1, sizeof *req);
  size_t i;

  if (req == NULL) {
    nbdkit_error ("calloc: %m");
    return -1;
  }
  *req = (struct s3req) {
    .kind = S3REQ_LIST, .prefix = prefix, .marker = marker,
    .delimiter = delimiter, .retries = -1,
  };
  s3engine_run (s->engine, req, 1);
  if (req->err) {
    log_failure (s, req);
    errno = req->err;
    goto err;
  }
  page->entries = calloc (req->nr_items ? req->nr_items : 1,
                          sizeof *page->entries);
  if (page->entries == NULL) {
    nbdkit_error ("calloc: %m");
    errno = ENOMEM;
    goto err;
  }
  for (i = 0; i < req->nr_items; i++)
    page->entries[i] = (struct store_entry) {
      .key = req->items[i].key, .size = req->items[i].size,
      .mtime = req->items[i].mtime, .is_prefix = req->items[i].is_prefix,
    };
  page->nr_entries = req->nr_items;
  page->truncated = req->truncated;
  page->next_marker = req->next_marker;
  page->priv = req;
  return 0;

 err:
  s3req_free_list (req);
  free (req);
  return -1;
}

static void
list_release (void *opaque, struct list_page *page)
{
  struct s3req *req = page->priv;

  if (req) {
    s3req_free_list (req);
    free (req);
  }
  free (page->entries);
}

static int
s3_list (struct store *base, const char *prefix, const char *delimiter,
         const char *start_after, store_list_cb cb, void *opaque)
{
  const struct list_source src = {
    .fetch = list_fetch, .release = list_release, .opaque = base,
  };

  return list_pager (&src, prefix, delimiter, start_after, cb, opaque);
}

static void
s3_close (struct store *base)
{
  struct s3store *s = (struct s3store *) base;

  s3engine_free (s->engine);
  free (s->endpoint);
  free (s->host);
  free (s->bucket);
  free (s->access_key);
  if (s->secret_key)
    memset (s->secret_key, 0, strlen (s->secret_key));
  free (s->secret_key);
  free (s);
}

static const struct store_ops s3store_ops = {
  .start = s3_start,
  .stop = s3_stop,
  .check = s3_check,
  .run = s3_run,
  .list = s3_list,
  .close = s3_close,
};

/* The params have passed validate.  region is not used: Signature V2
 * does not sign it.
 */
static struct store *
s3store_open (const struct store_params *p)
{
  struct s3store *s = calloc (1, sizeof *s);
  bool https;

  if (s == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  s->base.ops = &s3store_ops;
  s->base.caps = 0;
  if (parse_endpoint (p->endpoint, &https, &s->host) == -1)
    goto err;
  s->endpoint = strdup (p->endpoint);
  s->bucket = strdup (p->bucket);
  s->access_key = strdup (p->access_key);
  s->secret_key = strdup (p->secret_key);
  if (!s->endpoint || !s->bucket || !s->access_key || !s->secret_key) {
    nbdkit_error ("strdup: %m");
    goto err;
  }
  s->cfg.bucket.hostName = s->host;
  s->cfg.bucket.bucketName = s->bucket;
  s->cfg.bucket.protocol = https ? S3ProtocolHTTPS : S3ProtocolHTTP;
  s->cfg.bucket.uriStyle = p->virtual_host ? S3UriStyleVirtualHost
    : S3UriStylePath;
  s->cfg.bucket.accessKeyId = s->access_key;
  s->cfg.bucket.secretAccessKey = s->secret_key;
  s->cfg.endpoint = s->endpoint;
  s->cfg.max_inflight = p->max_requests;
  s->cfg.retries = p->retries;
  s->cfg.retry_delay_ms = p->retry_delay_ms;
  s->cfg.timeout_ms = p->timeout_ms;
  s->engine = s3engine_new (&s->cfg);
  if (s->engine == NULL)
    goto err;
  return &s->base;

 err:
  s3_close (&s->base);
  return NULL;
}

const struct store_type s3store_type = {
  .name = "s3",
  .global_init = s3store_global_init,
  .global_cleanup = s3store_global_cleanup,
  .validate = s3store_validate,
  .open = s3store_open,
};
