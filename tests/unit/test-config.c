/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: configuration keys and their validation. */

#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "config/options.h"
#include "format/names.h"
#include "nbdkit-standin.h"
#include "tests.h"

static struct s3blocks_config c;

static void
fresh (void)
{
  config_free (&c);
  CU_ASSERT_EQUAL_FATAL (config_init (&c), 0);
  standin_reset_errors ();
}

/* The value is refused, and the message names the key. */
static void
refused (const char *key, const char *value)
{
  fresh ();
  errno = 0;
  if (config_set (&c, key, value) != -1) {
    fprintf (stderr, "accepted %s=%s\n", key, value);
    CU_FAIL ("bad value accepted");
    return;
  }
  CU_ASSERT (errno != 0);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, key));
}

static void
accepted (const char *key, const char *value)
{
  fresh ();
  if (config_set (&c, key, value) != 0) {
    fprintf (stderr, "refused %s=%s: %s\n", key, value, standin_last_error);
    CU_FAIL ("good value refused");
  }
}

static void
test_defaults (void)
{
  fresh ();
  CU_ASSERT_STRING_EQUAL (c.export_name, "default");
  CU_ASSERT_STRING_EQUAL (c.endpoint, "http://localhost:9000");
  CU_ASSERT_STRING_EQUAL (c.bucket, "nbd-storage");
  CU_ASSERT_STRING_EQUAL (c.access_key, "minioadmin");
  CU_ASSERT_STRING_EQUAL (c.secret_key, "minioadmin");
  CU_ASSERT_STRING_EQUAL (c.region, "us-east-1");
  CU_ASSERT_EQUAL (c.size, -1);
  CU_ASSERT_EQUAL (c.block_size, 4096);
  CU_ASSERT_FALSE (c.virtual_host);
  CU_ASSERT_EQUAL (c.max_requests, 32);
  CU_ASSERT_TRUE (c.create);
  CU_ASSERT_EQUAL (c.write_delay_ms, 5000);
  CU_ASSERT_FALSE (c.rebuild_map);
  CU_ASSERT_EQUAL (c.given, 0);
  CU_ASSERT_EQUAL (config_complete (&c), 0);
}

static void
test_export_names (void)
{
  char long_name[200];

  accepted ("export", "dev");
  accepted ("export", "a.b_c-D9");
  accepted ("export", "..x");
  memset (long_name, 'a', 128);
  long_name[128] = '\0';
  accepted ("export", long_name);
  long_name[128] = 'a';
  long_name[129] = '\0';
  refused ("export", long_name);
  refused ("export", "");
  refused ("export", ".");
  refused ("export", "..");
  refused ("export", "../x");
  refused ("export", "a/b");
  refused ("export", "a b");
  refused ("export", "caf\xc3\xa9");
  refused ("export", "x*");
}

static void
test_sizes (void)
{
  accepted ("size", "1G");
  CU_ASSERT_EQUAL (c.size, 1073741824);
  accepted ("size", "1073741824");
  refused ("size", "0");
  refused ("size", "-1");
  refused ("size", "lots");
  refused ("size", "1Q");
  accepted ("block-size", "512");
  accepted ("block-size", "64K");
  CU_ASSERT_EQUAL (c.block_size, 65536);
  accepted ("block-size", "1M");
  refused ("block-size", "256");
  refused ("block-size", "2M");
  refused ("block-size", "5000");
  refused ("block-size", "x");
  accepted ("max-dirty", "64M");
  refused ("max-dirty", "0");
  accepted ("cache-size", "0");
  refused ("cache-size", "-5");
}

static void
test_other_keys (void)
{
  accepted ("uri-style", "virtual-host");
  CU_ASSERT_TRUE (c.virtual_host);
  refused ("uri-style", "vhost");
  refused ("access-key", "");
  refused ("region", "");
  refused ("region", "us east");
  accepted ("max-requests", "1");
  refused ("max-requests", "0");
  refused ("max-requests", "100000");
  accepted ("retries", "0");
  refused ("retries", "-1");
  refused ("retries", "1000");
  accepted ("retry-delay", "250ms");
  CU_ASSERT_EQUAL (c.retry_delay_ms, 250);
  accepted ("retry-delay", "2s");
  CU_ASSERT_EQUAL (c.retry_delay_ms, 2000);
  refused ("retry-delay", "0");
  refused ("retry-delay", "soon");
  accepted ("timeout", "1m");
  CU_ASSERT_EQUAL (c.timeout_ms, 60000);
  accepted ("timeout", "5");
  CU_ASSERT_EQUAL (c.timeout_ms, 5000);
  refused ("timeout", "10ms");
  refused ("timeout", "5h");
  accepted ("create", "false");
  CU_ASSERT_FALSE (c.create);
  refused ("create", "maybe");
  refused ("shrink", "2");
  refused ("take-over-lease", "sure");
  refused ("lease-time", "100ms");
  accepted ("write-delay", "0");
  CU_ASSERT_EQUAL (c.write_delay_ms, 0);
  accepted ("write-delay", "250ms");
  CU_ASSERT_EQUAL (c.write_delay_ms, 250);
  refused ("write-delay", "later");
  refused ("write-delay", "2h");
  accepted ("rebuild-map", "true");
  CU_ASSERT_TRUE (c.rebuild_map);
  refused ("rebuild-map", "perhaps");
  accepted ("exports", "vm*,db-[0-9]");
  refused ("exports", "");
  refused ("exports", "a/b");
}

static void
test_unknown_and_duplicate (void)
{
  fresh ();
  CU_ASSERT_EQUAL (config_set (&c, "sise", "1G"), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "sise"));
  fresh ();
  CU_ASSERT_EQUAL (config_set (&c, "size", "1G"), 0);
  CU_ASSERT_EQUAL (config_set (&c, "size", "2G"), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "size"));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "more than once"));
  CU_ASSERT_TRUE (c.given & CONFIG_GIVEN (size));
  CU_ASSERT_FALSE (c.given & CONFIG_GIVEN (block_size));
}

static void
test_conflicts (void)
{
  fresh ();
  CU_ASSERT_EQUAL (config_set (&c, "block-size", "64K"), 0);
  CU_ASSERT_EQUAL (config_set (&c, "max-dirty", "4K"), 0);
  CU_ASSERT_EQUAL (config_complete (&c), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "max-dirty"));

  fresh ();
  CU_ASSERT_EQUAL (config_set (&c, "export", "dev"), 0);
  CU_ASSERT_EQUAL (config_set (&c, "exports", "vm*"), 0);
  CU_ASSERT_EQUAL (config_complete (&c), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "exports"));
}

static void
print_pair (const char *key, const char *value, void *opaque)
{
  char *out = opaque;

  strcat (out, key);
  strcat (out, "=");
  strcat (out, value);
  strcat (out, "\n");
}

/* The secret is read from +FILE and never shown. */
static void
test_secret (void)
{
  char path[] = "/tmp/s3blocks-secret-XXXXXX";
  char out[4096] = "";
  int fd = mkstemp (path);

  CU_ASSERT_FATAL (fd >= 0);
  CU_ASSERT_EQUAL (write (fd, "VerySecret42\n", 13), 13);
  close (fd);
  fresh ();
  char value[64];
  snprintf (value, sizeof value, "+%s", path);
  CU_ASSERT_EQUAL (config_set (&c, "secret-key", value), 0);
  unlink (path);
  CU_ASSERT_STRING_EQUAL (c.secret_key, "VerySecret42");
  config_dump (&c, print_pair, out);
  CU_ASSERT_PTR_NULL (strstr (out, "VerySecret42"));
  CU_ASSERT_PTR_NOT_NULL (strstr (out, "bucket=nbd-storage"));
  refused ("secret-key", "");
}

static void
test_globs (void)
{
  CU_ASSERT_TRUE (name_allowed (NULL, "anything"));
  CU_ASSERT_TRUE (name_allowed ("vm*,db", "vm1"));
  CU_ASSERT_TRUE (name_allowed ("vm*,db", "db"));
  CU_ASSERT_FALSE (name_allowed ("vm*,db", "db2"));
  CU_ASSERT_FALSE (name_allowed ("vm*", ".vm"));
  CU_ASSERT_TRUE (name_allowed ("disk-[0-9]", "disk-7"));
}

/* Each key starts a line of --help: "size=" must not be satisfied by
 * "block-size=".
 */
static void
test_help_lists_every_key (void)
{
  static const char *const keys[] = {
    "export", "exports", "create", "endpoint", "bucket", "access-key",
    "secret-key", "region", "size", "block-size", "uri-style",
    "max-dirty", "cache-size", "max-requests", "retries", "retry-delay",
    "timeout", "shrink", "lease-time", "take-over-lease", "write-delay",
    "rebuild-map", "profile", "signature", "ca-file", "tls-verify",
    "layout", "map-cache-size", "cas-reuse-window", "segment-size",
    "log-compact-rate", "log-compact-threshold", "metrics", "metrics-file",
    NULL
  };
  const char *help = S3BLOCKS_CONFIG_HELP;
  char line_start[64];

  for (const char *const *k = keys; *k; k++) {
    size_t len = strlen (*k);
    bool first = strncmp (help, *k, len) == 0 && help[len] == '=';

    snprintf (line_start, sizeof line_start, "\n%s=", *k);
    if (!first && strstr (help, line_start) == NULL) {
      fprintf (stderr, "--help has no line starting %s=\n", *k);
      CU_FAIL ("a key is missing from --help");
    }
  }
  CU_ASSERT_EQUAL (CONFIG_NR_KEYS, 34);
}

/* metrics=ADDRESS:PORT and metrics-file=PATH: off by default. */
static void
test_metrics_keys (void)
{
  static const char *const bad[] = {
    "9101", ":9101", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
    "127.0.0.1:65536", "127.0.0.1:91x", "127.0.0.1:-1", "[::1]", NULL
  };
  struct s3blocks_config mc;

  CU_ASSERT_EQUAL_FATAL (config_init (&mc), 0);
  CU_ASSERT_PTR_NULL (mc.metrics);
  CU_ASSERT_PTR_NULL (mc.metrics_file);
  for (const char *const *b = bad; *b; b++) {
    if (config_set (&mc, "metrics", *b) != -1) {
      fprintf (stderr, "metrics=%s accepted\n", *b);
      CU_FAIL ("a bad metrics= was accepted");
    }
  }
  CU_ASSERT_EQUAL (config_set (&mc, "metrics-file", ""), -1);
  CU_ASSERT_EQUAL (config_set (&mc, "metrics", "[::1]:9101"), 0);
  CU_ASSERT_STRING_EQUAL (mc.metrics, "[::1]:9101");
  CU_ASSERT_EQUAL (config_set (&mc, "metrics", "127.0.0.1:9101"), -1);
  CU_ASSERT_EQUAL (config_set (&mc, "metrics-file", "/tmp/x.prom"), 0);
  CU_ASSERT_STRING_EQUAL (mc.metrics_file, "/tmp/x.prom");
  config_free (&mc);
}

/* signature=, tls-verify=, ca-file=, profile=, and the signature that
 * follows from the endpoint's scheme.
 */
static void
test_cas_keys (void)
{
  accepted ("layout", "plain");
  accepted ("layout", "cas");
  refused ("layout", "tree");
  refused ("layout", "");
  accepted ("map-cache-size", "0");
  accepted ("map-cache-size", "1G");
  refused ("map-cache-size", "-1");
  accepted ("cas-reuse-window", "0");
  accepted ("cas-reuse-window", "30m");
  refused ("cas-reuse-window", "1441m");
  refused ("cas-reuse-window", "forever");
  accepted ("layout", "log");
  accepted ("segment-size", "64K");
  accepted ("segment-size", "256M");
  refused ("segment-size", "32K");
  refused ("segment-size", "257M");
  refused ("segment-size", "lots");
  accepted ("log-compact-rate", "0");
  accepted ("log-compact-rate", "64M");
  refused ("log-compact-rate", "-1");
  accepted ("log-compact-threshold", "0");
  accepted ("log-compact-threshold", "0.75");
  accepted ("log-compact-threshold", ".5");
  accepted ("log-compact-threshold", "1");
  refused ("log-compact-threshold", "1.5");
  refused ("log-compact-threshold", "2");
  refused ("log-compact-threshold", "0.6x");
  refused ("log-compact-threshold", "half");
  refused ("log-compact-threshold", "");
  fresh ();
  CU_ASSERT_EQUAL (c.log_compact_rate, 32 * 1024 * 1024);
  CU_ASSERT_EQUAL (c.log_compact_threshold_pm, 600);
  CU_ASSERT_EQUAL (config_set (&c, "log-compact-threshold", "0.75"), 0);
  CU_ASSERT_EQUAL (c.log_compact_threshold_pm, 750);

  /* At least 16 blocks: checked once block-size is known. */
  fresh ();
  CU_ASSERT_EQUAL (c.segment_size, 8 * 1024 * 1024);
  CU_ASSERT_EQUAL (config_set (&c, "block-size", "64K"), 0);
  CU_ASSERT_EQUAL (config_set (&c, "segment-size", "512K"), 0);
  CU_ASSERT_EQUAL (config_complete (&c), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "segment-size"));
  fresh ();
  CU_ASSERT_EQUAL (config_set (&c, "block-size", "64K"), 0);
  CU_ASSERT_EQUAL (config_set (&c, "segment-size", "1M"), 0);
  CU_ASSERT_EQUAL (config_complete (&c), 0);
}

static void
test_v4_keys (void)
{
  accepted ("signature", "v2");
  accepted ("signature", "v4");
  refused ("signature", "v3");
  refused ("signature", "V4");
  accepted ("tls-verify", "false");
  refused ("tls-verify", "maybe");
  accepted ("ca-file", "/etc/ssl/certs/ca-certificates.crt");
  refused ("ca-file", "");
  accepted ("profile", "prod");
  refused ("profile", "");
  refused ("profile", "a]b");

  fresh ();
  CU_ASSERT (c.tls_verify);
  CU_ASSERT_EQUAL (config_set (&c, "access-key", "ak"), 0);
  CU_ASSERT_EQUAL (config_set (&c, "secret-key", "sk"), 0);
  CU_ASSERT_EQUAL (config_set (&c, "endpoint", "https://s3.example.com"), 0);
  CU_ASSERT_EQUAL (config_complete (&c), 0);
  CU_ASSERT_EQUAL (c.signature, SIGNATURE_V4);
  CU_ASSERT_PTR_EQUAL (config_store_type (&c), &curlstore_type);

  fresh ();
  CU_ASSERT_EQUAL (config_set (&c, "access-key", "ak"), 0);
  CU_ASSERT_EQUAL (config_set (&c, "secret-key", "sk"), 0);
  CU_ASSERT_EQUAL (config_complete (&c), 0);
  CU_ASSERT_EQUAL (c.signature, SIGNATURE_V2);
  CU_ASSERT_PTR_EQUAL (config_store_type (&c), &s3store_type);

  /* access-key= alone would pair it with another source's secret. */
  fresh ();
  CU_ASSERT_EQUAL (config_set (&c, "access-key", "ak"), 0);
  CU_ASSERT_EQUAL (config_complete (&c), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "secret-key"));
}

static int
cleanup (void)
{
  config_free (&c);
  return 0;
}

UNIT_SUITES (add_config_tests)
{
  CU_pSuite s = CU_add_suite ("config", NULL, cleanup);

  CU_add_test (s, "defaults", test_defaults);
  CU_add_test (s, "export names", test_export_names);
  CU_add_test (s, "sizes", test_sizes);
  CU_add_test (s, "other keys", test_other_keys);
  CU_add_test (s, "unknown and duplicate keys", test_unknown_and_duplicate);
  CU_add_test (s, "conflicting keys", test_conflicts);
  CU_add_test (s, "secret key", test_secret);
  CU_add_test (s, "export globs", test_globs);
  CU_add_test (s, "help lists every key", test_help_lists_every_key);
  CU_add_test (s, "signature and TLS keys", test_v4_keys);
  CU_add_test (s, "cas keys", test_cas_keys);
  CU_add_test (s, "metrics keys", test_metrics_keys);
}
