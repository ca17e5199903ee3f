/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: what a store has done, counted where every request passes
 * (store_run and store_list in store.h), so that every store type, the
 * unit tests' in-memory one included, counts the same way.
 *
 * A count is per request as the caller sees it, after the store's
 * retries: one PUT retried twice counts once.  Bytes are those of
 * requests that succeeded: a PUT's body, a GET's received bytes.
 * Counters are updated with relaxed atomics: a reader sees each one
 * exact, and the set roughly consistent, which is what debug output,
 * benchmarks and metrics need.
 *
 * Latency: each request counts the time of the call it came in
 * (store_run's batch, retries included): exact for a batch of one, the
 * batch's for a request run alongside others, which is the time its
 * caller waited.
 */

#ifndef S3BLOCKS_STORE_STATS_H
#define S3BLOCKS_STORE_STATS_H

#include <stddef.h>
#include <stdint.h>

struct store_op;

enum store_stat_method {
  STORE_STAT_GET,               /* whole object */
  STORE_STAT_RANGE_GET,         /* Range: bytes= */
  STORE_STAT_PUT,
  STORE_STAT_DELETE,
  STORE_STAT_LIST,              /* one per list call, not per page */
  STORE_STAT_METHODS
};

enum store_stat_outcome {
  STORE_STAT_OK,
  STORE_STAT_NOT_FOUND,         /* ENOENT */
  STORE_STAT_PRECONDITION,      /* EEXIST, ESTALE: a conditional PUT's answer */
  STORE_STAT_FAILED,            /* anything else but: */
  STORE_STAT_REFUSED,           /* the op's gate refused it (a lost or
                                   unrenewed lease) */
  STORE_STAT_OUTCOMES
};

/* Latency buckets: the upper bounds in store_stat_bucket_ms, then one
 * for longer.  Counts are per bucket, not cumulative.
 */
#define STORE_STAT_BUCKETS 12
extern const unsigned store_stat_bucket_ms[STORE_STAT_BUCKETS - 1];

struct store_stats {
  uint64_t requests[STORE_STAT_METHODS][STORE_STAT_OUTCOMES];
  uint64_t bytes_sent, bytes_received;
  uint64_t latency[STORE_STAT_METHODS][STORE_STAT_BUCKETS];
  uint64_t latency_ns[STORE_STAT_METHODS];      /* their sum */
  uint64_t retries[STORE_STAT_METHODS];         /* attempts past the first */
};

/* After a batch that took elapsed_ns: count each op's method, outcome,
 * bytes and latency.
 */
extern void store_stats_count_ops (struct store_stats *st,
                                   const struct store_op *ops, size_t n,
                                   uint64_t elapsed_ns);
/* The monotonic clock, ns: what store_run and store_list time with
 * (store.h includes no clock of its own).
 */
extern uint64_t store_stats_now_ns (void);

/* After a list call: its outcome (0 or -1 with errno). */
extern void store_stats_count_list (struct store_stats *st, int r, int err,
                                    uint64_t elapsed_ns);

/* A copy of the counters now. */
extern void store_stats_read (const struct store_stats *st,
                              struct store_stats *out);
/* Requests of a method, every outcome; of all methods. */
extern uint64_t store_stats_method_total (const struct store_stats *st,
                                          enum store_stat_method m);
extern uint64_t store_stats_total (const struct store_stats *st);

/* "GET", "GET-range", ...; "ok", "not-found", ... */
extern const char *store_stat_method_name (enum store_stat_method m);
extern const char *store_stat_outcome_name (enum store_stat_outcome o);

/* One line for debug output and benchmarks:
 * "requests 12 (GET 3 ok 2 not-found 1, PUT 9 ok 9), sent 36864 bytes,
 * received 8192 bytes".  Returns buf.
 */
extern char *store_stats_format (const struct store_stats *st,
                                 char *buf, size_t len);

#endif /* S3BLOCKS_STORE_STATS_H */
