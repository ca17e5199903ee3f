/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the V4 store's startup check.
 *
 * Before serving: the endpoint answers, the credentials and the region
 * are right, the bucket exists (created if missing, with a
 * LocationConstraint outside us-east-1), and whether the server
 * honours conditional PUT, which decides how leases are taken.  Each
 * refusal names the cause and the key to fix.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <curl/curl.h>
#include <nbdkit-plugin.h>

#include "store/curl/curl-engine.h"
#include "store/curl/httpstatus.h"
#include "store/store.h"
#include "store-curl-impl.h"

static int
create_bucket (struct curlstore *s)
{
  char body[256] = "";
  struct curlreq r = {
    .method = CURLREQ_PUT, .url = s->bucket_url, .what = s->bucket,
    .retries = 2,
  };

  /* us-east-1 is the one region named by leaving it out. */
  if (strcmp (s->region, "us-east-1") != 0)
    snprintf (body, sizeof body,
              "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/"
              "doc/2006-03-01/\"><LocationConstraint>%s</LocationConstraint>"
              "</CreateBucketConfiguration>", s->region);
  curlstore_request (s, &r, body, strlen (body), NULL);
  if (r.err != 0 && strcmp (r.code, "BucketAlreadyOwnedByYou") != 0) {
    struct http_outcome o = { .curl = r.curl, .status = r.status,
                              .code = r.code };
    char advice[400];

    if (http_outcome_advice (&o, s->region, r.region, advice, sizeof advice))
      nbdkit_error ("bucket %s does not exist at %s and could not be "
                    "created: %s", s->bucket, s->endpoint, advice);
    else
      nbdkit_error ("bucket %s does not exist at %s and could not be "
                    "created: %s%s%s: create it, or fix bucket=",
                    s->bucket, s->endpoint, r.code[0] ? r.code
                    : curl_easy_strerror (r.curl),
                    r.message[0] ? ": " : "", r.message);
    errno = r.err;
    curlreq_clear (&r);
    return -1;
  }
  nbdkit_debug ("created bucket %s at %s (region %s)", s->bucket,
                s->endpoint, s->region);
  curlreq_clear (&r);
  return 0;
}

/* A PUT of key with a condition header; returns the HTTP status (0 if
 * none came) and the ETag.
 */
static long
probe_put (struct curlstore *s, const char *url, const char *key,
           const char *cond, char *etag)
{
  struct curlreq r = {
    .method = CURLREQ_PUT, .url = url, .what = key, .retries = 2,
  };

  curlstore_request (s, &r, "probe", 5, cond);
  curlreq_clear (&r);
  if (etag)
    memcpy (etag, r.etag, STORE_ETAG_MAX);
  return r.curl == CURLE_OK ? r.status : 0;
}

/* Does the server honour If-None-Match: * and If-Match on PUT?  Ask it
 * with an object of our own: create-only twice (the second must be
 * refused), if-match with a wrong ETag (refused) and with the right
 * one (stored).  s3rver ignores both; RGW and AWS honour them.
 */
static void
probe_conditional (struct curlstore *s)
{
  unsigned char rnd[8];
  char key[64], etag[STORE_ETAG_MAX], h[STORE_ETAG_MAX + 16];
  char *url;
  long a, b, c = 0, d = 0;
  struct curlreq del = { .method = CURLREQ_DELETE, .retries = 2 };

  if (getrandom (rnd, sizeof rnd, 0) != sizeof rnd)
    memset (rnd, 0, sizeof rnd);
  snprintf (key, sizeof key,
            "probe/conditional-put-%02x%02x%02x%02x%02x%02x%02x%02x",
            rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
  url = curlstore_object_url (s, key);
  if (url == NULL)
    return;
  a = probe_put (s, url, key, "If-None-Match: *", etag);
  b = probe_put (s, url, key, "If-None-Match: *", NULL);
  if (a == 200 && b == 412 && etag[0]) {
    c = probe_put (s, url, key, "If-Match: 0123456789abcdef", NULL);
    snprintf (h, sizeof h, "If-Match: %s", etag);
    d = probe_put (s, url, key, h, NULL);
  }
  if (a == 200 && b == 412 && c == 412 && d == 200) {
    s->base.caps |= STORE_CAP_CONDITIONAL_PUT;
    nbdkit_debug ("%s honours conditional PUT (If-None-Match, If-Match): "
                  "leases are taken and renewed with conditional writes",
                  s->endpoint);
  }
  else
    nbdkit_debug ("%s does not honour conditional PUT (probe answers %ld "
                  "%ld %ld %ld): leases use check-and-confirm",
                  s->endpoint, a, b, c, d);
  if (a != 0) {
    del.url = url;
    del.what = key;
    curlstore_request (s, &del, NULL, 0, NULL);
    curlreq_clear (&del);
  }
  free (url);
}

/* Startup: one GET tells whether the endpoint answers, the credentials
 * and region work and the bucket exists (created if missing).  Fewer
 * retries than in service: a wrong endpoint should fail at once.
 */
int
curlstore_check (struct store *base, const char *probe_key)
{
  struct curlstore *s = (struct curlstore *) base;
  char buf[4096], advice[400];
  char *url = curlstore_object_url (s, probe_key);
  struct curlreq r = {
    .method = CURLREQ_GET, .url = url, .what = probe_key,
    .dest = { .buf = buf }, .cap = sizeof buf,
    .retries = s->cfg.retries < 2 ? (int) s->cfg.retries : 2,
  };
  struct http_outcome o;
  int ret = -1;

  if (url == NULL) {
    nbdkit_error ("malloc: %m");
    return -1;
  }
  curlstore_request (s, &r, NULL, 0, NULL);
  o = (struct http_outcome) { .curl = r.curl, .status = r.status,
                              .code = r.code };
  if (strcmp (r.code, "NoSuchBucket") == 0) {
    if (create_bucket (s) == -1)
      goto out;
  }
  else if (r.err != 0 && r.err != ENOENT && !r.too_long) {
    if (http_outcome_advice (&o, s->region, r.region, advice,
                             sizeof advice))
      nbdkit_error ("%s, bucket %s: %s", s->endpoint, s->bucket, advice);
    else if (r.transient)
      nbdkit_error ("cannot reach the S3 endpoint %s (%s after %u "
                    "attempts%s%s): is the server running, and is the "
                    "endpoint right?", s->endpoint,
                    r.curl != CURLE_OK ? curl_easy_strerror (r.curl)
                    : r.code[0] ? r.code : "server error",
                    r.attempts, r.message[0] ? ": " : "", r.message);
    else
      nbdkit_error ("S3 endpoint %s: checking bucket %s failed: HTTP %ld "
                    "%s%s%s", s->endpoint, s->bucket, r.status, r.code,
                    r.message[0] ? ": " : "", r.message);
    errno = r.err;
    goto out;
  }
  probe_conditional (s);
  ret = 0;
 out:
  curlreq_clear (&r);
  free (url);
  return ret;
}
