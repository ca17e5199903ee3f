/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the libs3 store without a server.
 *
 * Its config-time checks (endpoint syntax, bucket names, virtual-host
 * rules), what it does with an op it cannot send, and the gate being
 * asked before every attempt, against an endpoint where nothing
 * listens.
 */

#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "config/options.h"
#include "store/endpoint.h"
#include "store/store.h"
#include "nbdkit-standin.h"
#include "tests.h"

static struct store_params
params (const char *endpoint, const char *bucket, bool virtual_host)
{
  return (struct store_params) {
    .endpoint = endpoint, .bucket = bucket,
    .access_key = "minioadmin", .secret_key = "minioadmin",
    .region = "us-east-1", .virtual_host = virtual_host,
    .max_requests = 4, .retries = 2, .retry_delay_ms = 1,
    .timeout_ms = 5000,
  };
}

/* Refused, with a message naming what to fix. */
static void
refused (const char *endpoint, const char *bucket, bool virtual_host,
         const char *key)
{
  struct store_params p = params (endpoint, bucket, virtual_host);

  standin_reset_errors ();
  errno = 0;
  if (s3store_type.validate (&p) != -1) {
    fprintf (stderr, "accepted endpoint=%s bucket=%s%s\n", endpoint, bucket,
             virtual_host ? " uri-style=virtual-host" : "");
    CU_FAIL ("bad store parameters accepted");
    return;
  }
  CU_ASSERT (errno != 0);
  if (strstr (standin_last_error, key) == NULL) {
    fprintf (stderr, "message does not name %s: %s\n", key,
             standin_last_error);
    CU_FAIL ("message does not name the key");
  }
}

static void
accepted (const char *endpoint, const char *bucket, bool virtual_host)
{
  struct store_params p = params (endpoint, bucket, virtual_host);

  standin_reset_errors ();
  if (s3store_type.validate (&p) != 0) {
    fprintf (stderr, "refused endpoint=%s bucket=%s: %s\n", endpoint, bucket,
             standin_last_error);
    CU_FAIL ("good store parameters refused");
  }
}

static void
host_is (const char *url, const char *host, bool https)
{
  char *h = NULL;
  bool s;

  CU_ASSERT_EQUAL_FATAL (parse_endpoint (url, &s, &h), 0);
  CU_ASSERT_STRING_EQUAL (h, host);
  CU_ASSERT_EQUAL (s, https);
  free (h);
}

static void
test_endpoints (void)
{
  host_is (DEFAULT_ENDPOINT, "localhost:9000", false);
  host_is ("http://127.0.0.1:9000", "127.0.0.1:9000", false);
  host_is ("https://s3.example.com/", "s3.example.com", true);
  host_is ("http://[::1]:9000", "[::1]:9000", false);

  accepted ("http://127.0.0.1:9000", DEFAULT_BUCKET, false);
  refused ("localhost:9000", DEFAULT_BUCKET, false, "endpoint:");
  refused ("ftp://localhost", DEFAULT_BUCKET, false, "endpoint:");
  refused ("http://", DEFAULT_BUCKET, false, "endpoint:");
  refused ("http://host:0", DEFAULT_BUCKET, false, "endpoint:");
  refused ("http://host:65536", DEFAULT_BUCKET, false, "endpoint:");
  refused ("http://host:", DEFAULT_BUCKET, false, "endpoint:");
  refused ("http://host:9000/path", DEFAULT_BUCKET, false, "endpoint:");
  refused ("http://ho st", DEFAULT_BUCKET, false, "endpoint:");
  refused ("http://user@host", DEFAULT_BUCKET, false, "endpoint:");
  refused ("http://[::1", DEFAULT_BUCKET, false, "endpoint:");
}

static void
test_buckets (void)
{
  accepted (DEFAULT_ENDPOINT, "my-bucket.1", false);
  refused (DEFAULT_ENDPOINT, "ab", false, "bucket:");
  refused (DEFAULT_ENDPOINT, "Bad_Bucket!", false, "bucket:");
  refused (DEFAULT_ENDPOINT, "a..b", false, "bucket:");
  refused (DEFAULT_ENDPOINT, "192.168.1.1", false, "bucket:");
  refused (DEFAULT_ENDPOINT, "-abc", false, "bucket:");
}

static void
test_virtual_host (void)
{
  accepted ("https://s3.example.com", "my-bucket", true);
  refused ("http://127.0.0.1:9000", "my-bucket", true,
           "uri-style=virtual-host");
  refused ("http://[::1]:9000", "my-bucket", true, "uri-style=virtual-host");
  /* Fine in a path, not in a host name. */
  accepted ("https://s3.example.com", "my.-bucket", false);
  refused ("https://s3.example.com", "my.-bucket", true, "uri-style=");
}

/* libs3 cannot send If-None-Match or If-Match: such a PUT fails with
 * ENOTSUP, before any request and without a message; others in the
 * batch are unaffected.  No thread is needed for that.
 */
static void
test_no_conditional_put (void)
{
  struct store_params p = params ("http://127.0.0.1:9", DEFAULT_BUCKET,
                                  false);
  struct store *s = s3store_type.open (&p);
  struct store_op ops[2] = {
    { .kind = STORE_PUT, .key = "a", .buf = "x", .len = 1,
      .condition = STORE_CREATE_ONLY },
    { .kind = STORE_PUT, .key = "b", .buf = "x", .len = 1,
      .condition = STORE_IF_MATCH, .if_match = "0123" },
  };

  CU_ASSERT_PTR_NOT_NULL_FATAL (s);
  CU_ASSERT_FALSE (store_can (s, STORE_CAP_CONDITIONAL_PUT));
  standin_reset_errors ();
  CU_ASSERT_EQUAL (store_run (s, ops, 2), 2);
  CU_ASSERT_EQUAL (ops[0].err, ENOTSUP);
  CU_ASSERT_EQUAL (ops[1].err, ENOTSUP);
  CU_ASSERT_EQUAL (standin_error_count, 0);
  store_close (s);
}

struct gate_state {
  unsigned calls;
  unsigned refuse_from;         /* the call that first refuses, from 1 */
};

static int
gate_check (void *opaque)
{
  struct gate_state *g = opaque;

  return ++g->calls >= g->refuse_from ? EROFS : 0;
}

/* The gate is asked before the first attempt and before each retry;
 * its refusal ends the op with its errno, unlogged.  Nothing listens
 * on port 9, so every attempt that goes fails and is retried.
 */
static void
test_gate_every_attempt (void)
{
  struct store_params p = params ("http://127.0.0.1:9", DEFAULT_BUCKET,
                                  false);
  struct gate_state first = { .refuse_from = 1 };
  struct gate_state third = { .refuse_from = 3 };
  struct store_gate g1 = { gate_check, &first, NULL };
  struct store_gate g3 = { gate_check, &third, NULL };
  struct store_op ops[2] = {
    { .kind = STORE_PUT, .key = "a", .buf = "x", .len = 1, .gate = &g1 },
    { .kind = STORE_DELETE, .key = "b", .gate = &g3 },
  };
  struct store *s;

  CU_ASSERT_EQUAL_FATAL (s3store_type.global_init (), 0);
  s = s3store_type.open (&p);
  CU_ASSERT_PTR_NOT_NULL_FATAL (s);
  CU_ASSERT_EQUAL_FATAL (store_start (s), 0);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (store_run (s, ops, 2), 2);
  CU_ASSERT_EQUAL (ops[0].err, EROFS);
  CU_ASSERT_EQUAL (first.calls, 1);
  CU_ASSERT_EQUAL (ops[1].err, EROFS);
  CU_ASSERT_EQUAL (third.calls, 3);
  CU_ASSERT_EQUAL (standin_error_count, 0);

  /* A GET has no gate to ask. */
  first.calls = 0;
  ops[0] = (struct store_op) {
    .kind = STORE_GET, .key = "a", .buf = (char [8]) { 0 }, .len = 8,
    .gate = &g1,
  };
  CU_ASSERT_EQUAL (store_run (s, ops, 1), 1);
  CU_ASSERT_EQUAL (ops[0].err, EIO);
  CU_ASSERT_EQUAL (first.calls, 0);
  store_close (s);
  s3store_type.global_cleanup ();
}

UNIT_SUITES (add_s3store_tests)
{
  CU_pSuite s = CU_add_suite ("s3store", NULL, NULL);

  CU_add_test (s, "endpoints", test_endpoints);
  CU_add_test (s, "bucket names", test_buckets);
  CU_add_test (s, "virtual-host rules", test_virtual_host);
  CU_add_test (s, "no conditional PUT", test_no_conditional_put);
  CU_add_test (s, "gate before every attempt", test_gate_every_attempt);
}
