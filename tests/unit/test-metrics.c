/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the Prometheus text format (common/promtext.h),
 * the metrics rendered from a made-up snapshot and collected from a
 * live export (lib/export/metrics.h), and the store's latency buckets.
 */

#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "config/options.h"
#include "export/export.h"
#include "export/metrics.h"
#include "memstore.h"
#include "promtext.h"
#include "store/store-stats.h"
#include "store/store.h"
#include "tests.h"

static void
test_promtext_exact (void)
{
  struct promtext p = PROMTEXT_INIT;
  const struct promtext_label l[] = {
    { "export", "a\"b\\c\nd" },
    { "kind", "x" },
  };
  const double bounds[] = { 0.005, 1 };
  const uint64_t counts[] = { 2, 0, 3 };

  promtext_family (&p, "t_total", "counter", "Help with \\ and\nnewline.");
  promtext_u64 (&p, "t_total", NULL, 0, 18446744073709551615u);
  promtext_u64 (&p, "t_total", l, 2, 7);
  promtext_i64 (&p, "t_gauge", l + 1, 1, -3);
  promtext_f64 (&p, "t_f", NULL, 0, 0.25);
  promtext_f64 (&p, "t_f", NULL, 0, 1.0 / 0.0);
  promtext_histogram (&p, "t_seconds", l + 1, 1, bounds, counts, 3, 1.5);
  CU_ASSERT_EQUAL (promtext_finish (&p), 0);
  CU_ASSERT_STRING_EQUAL (p.buf,
    "# HELP t_total Help with \\\\ and\\nnewline.\n"
    "# TYPE t_total counter\n"
    "t_total 18446744073709551615\n"
    "t_total{export=\"a\\\"b\\\\c\\nd\",kind=\"x\"} 7\n"
    "t_gauge{kind=\"x\"} -3\n"
    "t_f 0.25\n"
    "t_f +Inf\n"
    "t_seconds_bucket{kind=\"x\",le=\"0.005\"} 2\n"
    "t_seconds_bucket{kind=\"x\",le=\"1\"} 2\n"
    "t_seconds_bucket{kind=\"x\",le=\"+Inf\"} 5\n"
    "t_seconds_sum{kind=\"x\"} 1.5\n"
    "t_seconds_count{kind=\"x\"} 5\n");
  CU_ASSERT_EQUAL (p.len, strlen (p.buf));
  promtext_free (&p);
}

/* Every sample belongs to the family announced last, each family is
 * announced once, and every line ends in a newline.
 */
static void
check_structure (const char *text)
{
  char family[128] = "", seen[16384] = " ";
  const char *line = text;

  while (*line) {
    const char *end = strchr (line, '\n');
    char name[128];
    size_t n;

    CU_ASSERT_PTR_NOT_NULL_FATAL (end);
    n = strcspn (line, " {\n");
    CU_ASSERT_FATAL (n < sizeof name);
    if (strncmp (line, "# TYPE ", 7) == 0) {
      n = strcspn (line + 7, " ");
      memcpy (family, line + 7, n);
      family[n] = '\0';
      snprintf (name, sizeof name, " %s ", family);
      CU_ASSERT_PTR_NULL (strstr (seen, name));
      if (strlen (seen) + strlen (name) < sizeof seen)
        strcat (seen, name + 1);
    }
    else if (line[0] != '#') {
      memcpy (name, line, n);
      name[n] = '\0';
      CU_ASSERT_EQUAL (strncmp (name, family, strlen (family)), 0);
      if (strncmp (name, family, strlen (family)) != 0)
        fprintf (stderr, "sample %s after family %s\n", name, family);
    }
    line = end + 1;
  }
}

static void
test_render (void)
{
  struct metrics_export e[2] = {
    { .name = (char *) "vm1", .leased = true, .lease_ms_left = 41500,
      .dirty_age_ms = 2250,
      .lease_renewals = 4, .lease_renew_failures = 1,
      .lease_refusals = 6 },
    { .name = (char *) "ro", .leased = false },
  };
  struct metrics_snapshot snap = {
    .version = "1.2.3", .store_type = "curl", .layout = "log",
    .max_dirty = 1 << 20, .cache_size = 0,
    .exports = e, .nr_exports = 2,
  };
  struct promtext p = PROMTEXT_INIT;

  snap.store.requests[STORE_STAT_PUT][STORE_STAT_OK] = 3;
  snap.store.requests[STORE_STAT_GET][STORE_STAT_NOT_FOUND] = 2;
  snap.store.bytes_sent = 12288;
  snap.store.retries[STORE_STAT_GET] = 7;
  snap.store.requests[STORE_STAT_PUT][STORE_STAT_REFUSED] = 5;
  snap.store.latency[STORE_STAT_PUT][1] = 3;
  snap.store.latency_ns[STORE_STAT_PUT] = 21000000;
  e[0].io.written_bytes = 65536;
  e[0].io.flushes = 2;
  e[0].io.flush_ns = 1500000000;
  e[0].volume.dirty_bytes = 4096;
  e[0].volume.segments_written = 1;
  e[0].volume.compact_written_bytes = 8388608;
  e[0].volume.log_usage_known = true;
  e[0].volume.log_stored_bytes = 3 << 20;
  e[0].volume.log_live_bytes = 1 << 20;
  e[1].volume.cache_hits = 9;
  metrics_render (&snap, &p);
  CU_ASSERT_EQUAL_FATAL (promtext_finish (&p), 0);
  check_structure (p.buf);
#define HAS(line) CU_ASSERT_PTR_NOT_NULL (strstr (p.buf, "\n" line "\n"))
  CU_ASSERT_EQUAL (strncmp (p.buf, "# HELP s3blocks_build_info ", 27), 0);
  HAS ("s3blocks_build_info{version=\"1.2.3\",store=\"curl\","
       "layout=\"log\"} 1");
  HAS ("s3blocks_dirty_bound_bytes 1048576");
  HAS ("s3blocks_cache_bound_bytes 0");
  HAS ("s3blocks_exports_open 2");
  HAS ("s3blocks_s3_requests_total{method=\"PUT\",outcome=\"ok\"} 3");
  HAS ("s3blocks_s3_requests_total{method=\"GET\",outcome=\"not-found\"} 2");
  HAS ("s3blocks_s3_requests_total{method=\"LIST\",outcome=\"failed\"} 0");
  HAS ("s3blocks_s3_sent_bytes_total 12288");
  HAS ("s3blocks_s3_retries_total{method=\"GET\"} 7");
  HAS ("s3blocks_s3_retries_total{method=\"PUT\"} 0");
  HAS ("s3blocks_s3_requests_total{method=\"PUT\",outcome=\"refused\"} 5");
  HAS ("s3blocks_s3_request_duration_seconds_bucket"
       "{method=\"PUT\",le=\"0.005\"} 0");
  HAS ("s3blocks_s3_request_duration_seconds_bucket"
       "{method=\"PUT\",le=\"0.01\"} 3");
  HAS ("s3blocks_s3_request_duration_seconds_bucket"
       "{method=\"PUT\",le=\"+Inf\"} 3");
  HAS ("s3blocks_s3_request_duration_seconds_sum{method=\"PUT\"} 0.021");
  HAS ("s3blocks_s3_request_duration_seconds_count{method=\"PUT\"} 3");
  HAS ("# TYPE s3blocks_s3_request_duration_seconds histogram");
  HAS ("s3blocks_export_written_bytes_total{export=\"vm1\"} 65536");
  HAS ("s3blocks_export_written_bytes_total{export=\"ro\"} 0");
  HAS ("s3blocks_export_flushes_total{export=\"vm1\"} 2");
  HAS ("s3blocks_export_flush_seconds_total{export=\"vm1\"} 1.5");
  HAS ("s3blocks_export_dirty_bytes{export=\"vm1\"} 4096");
  HAS ("# TYPE s3blocks_export_dirty_bytes gauge");
  HAS ("s3blocks_export_segments_written_total{export=\"vm1\"} 1");
  HAS ("s3blocks_export_compact_written_bytes_total{export=\"vm1\"} "
       "8388608");
  HAS ("s3blocks_export_cache_hits_total{export=\"ro\"} 9");
  HAS ("s3blocks_export_lease_held{export=\"vm1\"} 1");
  HAS ("s3blocks_export_lease_lost{export=\"vm1\"} 0");
  HAS ("s3blocks_export_lease_deadline_seconds{export=\"vm1\"} 41.5");
  HAS ("s3blocks_export_lease_renewals_total{export=\"vm1\"} 4");
  HAS ("s3blocks_export_oldest_dirty_seconds{export=\"vm1\"} 2.25");
  HAS ("s3blocks_export_oldest_dirty_seconds{export=\"ro\"} 0");
  HAS ("s3blocks_export_lease_renewal_failures_total{export=\"vm1\"} 1");
  HAS ("s3blocks_export_lease_refusals_total{export=\"vm1\"} 6");
  HAS ("# TYPE s3blocks_export_lease_refusals_total counter");
  HAS ("s3blocks_export_log_live_bytes{export=\"vm1\"} 1048576");
  HAS ("s3blocks_export_log_dead_bytes{export=\"vm1\"} 2097152");
  HAS ("# TYPE s3blocks_export_log_live_bytes gauge");
  HAS ("# TYPE s3blocks_export_log_dead_bytes gauge");
#undef HAS
  /* A read-only export holds no lease: no lease figures. */
  CU_ASSERT_PTR_NULL (strstr (p.buf, "lease_held{export=\"ro\"}"));
  CU_ASSERT_PTR_NULL (strstr (p.buf, "lease_deadline_seconds{export=\"ro\"}"));
  CU_ASSERT_PTR_NULL (strstr (p.buf, "lease_refusals_total{export=\"ro\"}"));
  /* No walk of its map: no live or dead bytes, rather than zeros. */
  CU_ASSERT_PTR_NULL (strstr (p.buf, "log_live_bytes{export=\"ro\"}"));
  CU_ASSERT_PTR_NULL (strstr (p.buf, "log_dead_bytes{export=\"ro\"}"));
  promtext_free (&p);
}

static void
test_latency_buckets (void)
{
  struct memstore *m = memstore_new ();
  struct store *s = memstore_store (m);
  struct store_op op = { .kind = STORE_PUT, .key = "k", .len = 1 };
  struct store_stats st;

  /* Upper bounds are inclusive, as Prometheus's le says. */
  store_stats_count_ops (&s->stats, &op, 1, 5000000);
  store_stats_count_ops (&s->stats, &op, 1, 5000001);
  store_stats_count_ops (&s->stats, &op, 1, 10000000000);
  store_stats_count_ops (&s->stats, &op, 1, 10000000001);
  store_stats_count_list (&s->stats, 0, 0, 0);
  store_stats_read (&s->stats, &st);
  CU_ASSERT_EQUAL (st.latency[STORE_STAT_PUT][0], 1);
  CU_ASSERT_EQUAL (st.latency[STORE_STAT_PUT][1], 1);
  CU_ASSERT_EQUAL (st.latency[STORE_STAT_PUT][STORE_STAT_BUCKETS - 2], 1);
  CU_ASSERT_EQUAL (st.latency[STORE_STAT_PUT][STORE_STAT_BUCKETS - 1], 1);
  CU_ASSERT_EQUAL (st.latency_ns[STORE_STAT_PUT],
                   5000000 + 5000001 + 10000000000 + 10000000001);
  CU_ASSERT_EQUAL (st.latency[STORE_STAT_LIST][0], 1);
  CU_ASSERT_EQUAL (st.requests[STORE_STAT_PUT][STORE_STAT_OK], 4);
  store_close (s);
}

static int
refuse (void *opaque)
{
  return EROFS;
}

/* Retries are the attempts past the first; a gate's refusal is its own
 * outcome, not a failure of the store.
 */
static void
test_retries_refusals (void)
{
  struct memstore *m = memstore_new ();
  struct store *s = memstore_store (m);
  uint64_t refusals = 0;
  const struct store_gate gate = { .check = refuse, .refusals = &refusals };
  struct store_op op = { .kind = STORE_PUT, .key = "k", .len = 1 };
  struct store_stats st;
  char buf[1] = "x";

  op.attempts = 3;
  store_stats_count_ops (&s->stats, &op, 1, 0);
  op.attempts = 1;
  store_stats_count_ops (&s->stats, &op, 1, 0);
  op.attempts = 0;
  op.err = EIO;
  store_stats_count_ops (&s->stats, &op, 1, 0);

  memset (&op, 0, sizeof op);
  op.kind = STORE_PUT;
  strcpy (op.key, "gated");
  op.buf = buf;
  op.len = 1;
  op.gate = &gate;
  CU_ASSERT_EQUAL (store_run (s, &op, 1), 1);
  CU_ASSERT_EQUAL (op.err, EROFS);
  CU_ASSERT (op.gate_refused);
  CU_ASSERT_EQUAL (store_gate_refusals (&gate), 1);
  /* store_run resets what the last run left. */
  op.gate = NULL;
  CU_ASSERT_EQUAL (store_run (s, &op, 1), 0);
  CU_ASSERT_EQUAL (refusals, 1);
  CU_ASSERT (!op.gate_refused);
  CU_ASSERT_EQUAL (op.attempts, 1);

  store_stats_read (&s->stats, &st);
  CU_ASSERT_EQUAL (st.retries[STORE_STAT_PUT], 2);
  CU_ASSERT_EQUAL (st.requests[STORE_STAT_PUT][STORE_STAT_OK], 3);
  CU_ASSERT_EQUAL (st.requests[STORE_STAT_PUT][STORE_STAT_FAILED], 1);
  CU_ASSERT_EQUAL (st.requests[STORE_STAT_PUT][STORE_STAT_REFUSED], 1);
  CU_ASSERT_STRING_EQUAL (store_stat_outcome_name (STORE_STAT_REFUSED),
                          "refused");
  store_close (s);
}

static bool
has_line (const char *text, const char *line)
{
  size_t n = strlen (line);

  for (const char *p = text; (p = strstr (p, line)) != NULL; p++)
    if ((p == text || p[-1] == '\n') && p[n] == '\n')
      return true;
  return false;
}

/* A live export: what a write and a flush move, collected through the
 * registry with no store request.
 */
static void
test_collect (void)
{
  struct memstore *m = memstore_new ();
  struct store *s = memstore_store (m);
  struct s3blocks_config cfg;
  struct export *e;
  struct volume *v;
  char buf[8192], *text;
  size_t len;
  uint64_t before;

  CU_ASSERT_EQUAL_FATAL (config_init (&cfg), 0);
  CU_ASSERT_EQUAL_FATAL (config_set (&cfg, "size", "1M"), 0);
  exports_init (s, &cfg);
  e = export_open ("vm", false);
  CU_ASSERT_PTR_NOT_NULL_FATAL (e);
  v = export_volume (e);
  memset (buf, 'x', sizeof buf);
  CU_ASSERT_EQUAL (volume_write (v, buf, sizeof buf, 0, false), 0);

  text = metrics_text (s, &cfg, "mem", &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL (text);
  CU_ASSERT_EQUAL (strlen (text), len);
  CU_ASSERT (has_line (text, "s3blocks_exports_open 1"));
  CU_ASSERT (has_line (text, "s3blocks_export_dirty_blocks{export=\"vm\"} 2"));
  CU_ASSERT (has_line (text, "s3blocks_export_lease_held{export=\"vm\"} 1"));
  CU_ASSERT (has_line (text, "s3blocks_build_info{version=\"" PACKAGE_VERSION
                       "\",store=\"mem\",layout=\"plain\"} 1"));
  free (text);

  /* Collecting made no request. */
  before = store_stats_total (&s->stats);
  text = metrics_text (s, &cfg, "mem", &len);
  free (text);
  CU_ASSERT_EQUAL (store_stats_total (&s->stats), before);

  CU_ASSERT_EQUAL (volume_flush (v), 0);
  text = metrics_text (s, &cfg, "mem", &len);
  CU_ASSERT_PTR_NOT_NULL_FATAL (text);
  CU_ASSERT (has_line (text, "s3blocks_export_dirty_blocks{export=\"vm\"} 0"));
  CU_ASSERT (has_line (text, "s3blocks_export_block_uploads_total"
                       "{export=\"vm\"} 2"));
  CU_ASSERT (has_line (text, "s3blocks_s3_sent_bytes_total") == false);
  CU_ASSERT_PTR_NOT_NULL (strstr (text, "\ns3blocks_s3_requests_total"
                                  "{method=\"PUT\",outcome=\"ok\"} "));
  free (text);

  export_close (e);
  exports_cleanup ();
  text = metrics_text (s, &cfg, "mem", &len);
  CU_ASSERT_PTR_NOT_NULL (text);
  if (text)
    CU_ASSERT (has_line (text, "s3blocks_exports_open 0"));
  free (text);
  exports_init (NULL, NULL);
  config_free (&cfg);
  store_close (s);
}

UNIT_SUITES (add_metrics_tests)
{
  CU_pSuite s = CU_add_suite ("metrics", NULL, NULL);

  CU_add_test (s, "the text format, exactly, escapes included",
               test_promtext_exact);
  CU_add_test (s, "a snapshot rendered", test_render);
  CU_add_test (s, "latency buckets", test_latency_buckets);
  CU_add_test (s, "retries and refusals", test_retries_refusals);
  CU_add_test (s, "collected from a live export", test_collect);
}
