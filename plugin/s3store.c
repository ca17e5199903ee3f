/* s3blocks: the store interface over libs3.
 *
 * Requests run through s3engine (concurrent, retried, bounded in time).
 * This file turns their outcome into errno values and messages a user
 * can act on, and checks at startup that the endpoint answers, the
 * credentials work and the bucket exists (creating it if not).
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libs3.h>
#include <nbdkit-plugin.h>

#include "s3engine.h"
#include "s3store.h"

/* Failed requests logged one by one per batch; the rest are counted. */
#define MAX_LOGGED_FAILURES 3

struct s3store {
  struct store base;
  struct s3engine_config cfg;
  char *endpoint, *host, *bucket, *access_key, *secret_key;
};

int
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

void
s3store_global_cleanup (void)
{
  S3_deinitialize ();
}

/* Why a request failed, in words. */
static void
log_failure (const struct s3store *s, const struct s3req *r)
{
  const char *what = r->key ? r->key : r->prefix ? r->prefix : s->bucket;
  const char *status = S3_get_status_name (r->status);
  const char *sep = r->detail[0] ? ": " : "";

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

static size_t
s3_run (struct store *base, struct store_op *ops, size_t n)
{
  struct s3store *s = (struct s3store *) base;
  struct s3req *reqs;
  size_t i, failures = 0;

  if (n == 0)
    return 0;
  reqs = calloc (n, sizeof *reqs);
  if (reqs == NULL) {
    nbdkit_error ("calloc: %m");
    for (i = 0; i < n; i++)
      ops[i].err = ENOMEM;
    return n;
  }
  for (i = 0; i < n; i++) {
    reqs[i].kind = ops[i].kind == STORE_GET ? S3REQ_GET
      : ops[i].kind == STORE_PUT ? S3REQ_PUT : S3REQ_DELETE;
    reqs[i].key = ops[i].key;
    reqs[i].buf = ops[i].buf;
    reqs[i].len = ops[i].len;
    reqs[i].retries = -1;
  }

  s3engine_run (reqs, n);

  for (i = 0; i < n; i++) {
    int err = reqs[i].err;

    /* Only a GET may answer "no such object". */
    if (err == ENOENT && ops[i].kind != STORE_GET)
      err = EIO;
    ops[i].err = err;
    ops[i].got = reqs[i].got;
    if (err != 0 && err != ENOENT) {
      if (failures < MAX_LOGGED_FAILURES)
        log_failure (s, &reqs[i]);
      failures++;
    }
  }
  if (failures > MAX_LOGGED_FAILURES)
    nbdkit_error ("... and %zu more requests to %s failed",
                  failures - MAX_LOGGED_FAILURES, s->endpoint);
  free (reqs);
  return failures;
}

static int
s3_list (struct store *base, const char *prefix, const char *delimiter,
         const char *start_after, store_list_cb cb, void *opaque)
{
  struct s3store *s = (struct s3store *) base;
  char *marker = start_after ? strdup (start_after) : NULL;
  int r = 0;

  if (start_after && marker == NULL) {
    nbdkit_error ("strdup: %m");
    return -1;
  }

  for (;;) {
    struct s3req req = {
      .kind = S3REQ_LIST, .prefix = prefix, .marker = marker,
      .delimiter = delimiter, .retries = -1,
    };
    const char *last = NULL;
    size_t i;

    s3engine_run (&req, 1);
    if (req.err) {
      log_failure (s, &req);
      s3req_free_list (&req);
      errno = req.err;
      r = -1;
      break;
    }
    for (i = 0; i < req.nr_items && r == 0; i++) {
      struct store_entry e = {
        .key = req.items[i].key, .size = req.items[i].size,
        .is_prefix = req.items[i].is_prefix,
      };
      r = cb (opaque, &e);
      last = req.items[i].key;
    }
    if (r == 0 && req.truncated) {
      /* Continue after the last key (or the server's marker, which
       * with a delimiter may be a prefix).
       */
      const char *next = req.next_marker ? req.next_marker : last;

      if (next == NULL || (marker && strcmp (next, marker) == 0)) {
        nbdkit_error ("LIST %s: the server said more keys follow but "
                      "gave no way to continue", prefix);
        errno = EIO;
        r = -1;
      }
      else {
        free (marker);
        marker = strdup (next);
        if (marker == NULL) {
          nbdkit_error ("strdup: %m");
          r = -1;
        }
      }
    }
    else if (r == 0) {
      s3req_free_list (&req);
      break;
    }
    s3req_free_list (&req);
    if (r == -1)
      break;
  }
  free (marker);
  return r;
}

static void
s3_close (struct store *base)
{
  struct s3store *s = (struct s3store *) base;

  s3engine_stop ();
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
  .run = s3_run,
  .list = s3_list,
  .close = s3_close,
};

struct store *
s3store_open (const struct s3store_params *p)
{
  struct s3store *s = calloc (1, sizeof *s);

  if (s == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  s->base.ops = &s3store_ops;
  s->endpoint = strdup (p->endpoint);
  s->host = strdup (p->host);
  s->bucket = strdup (p->bucket);
  s->access_key = strdup (p->access_key);
  s->secret_key = strdup (p->secret_key);
  if (!s->endpoint || !s->host || !s->bucket || !s->access_key ||
      !s->secret_key) {
    nbdkit_error ("strdup: %m");
    s3_close (&s->base);
    return NULL;
  }
  s->cfg.bucket.hostName = s->host;
  s->cfg.bucket.bucketName = s->bucket;
  s->cfg.bucket.protocol = p->https ? S3ProtocolHTTPS : S3ProtocolHTTP;
  s->cfg.bucket.uriStyle = p->virtual_host ? S3UriStyleVirtualHost
    : S3UriStylePath;
  s->cfg.bucket.accessKeyId = s->access_key;
  s->cfg.bucket.secretAccessKey = s->secret_key;
  s->cfg.endpoint = s->endpoint;
  s->cfg.max_inflight = p->max_requests;
  s->cfg.retries = p->retries;
  s->cfg.retry_delay_ms = p->retry_delay_ms;
  s->cfg.timeout_ms = p->timeout_ms;
  return &s->base;
}

int
s3store_start (struct store *base)
{
  struct s3store *s = (struct s3store *) base;

  return s3engine_start (&s->cfg);
}

void
s3store_stop (struct store *base)
{
  s3engine_stop ();
}

/* Startup check: one object-level GET tells whether the endpoint
 * answers, the credentials work and the bucket exists; a missing
 * bucket is created.  Fewer retries than in service: a wrong endpoint
 * should fail at once.
 */
int
s3store_check (struct store *base, const char *probe_key)
{
  struct s3store *s = (struct s3store *) base;
  char buf[4096];
  struct s3req req = {
    .kind = S3REQ_GET, .key = probe_key, .buf = buf, .len = sizeof buf,
    .retries = s->cfg.retries < 2 ? (int) s->cfg.retries : 2,
  };

  s3engine_run (&req, 1);

  if (req.status == S3StatusErrorNoSuchBucket) {
    struct s3req create = { .kind = S3REQ_CREATE_BUCKET, .retries = 2 };

    s3engine_run (&create, 1);
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
