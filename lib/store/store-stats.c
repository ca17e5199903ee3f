/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: counting a store's requests (store-stats.h). */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "store/store.h"
#include "store/store-stats.h"

static void
add (uint64_t *counter, uint64_t n)
{
  __atomic_fetch_add (counter, n, __ATOMIC_RELAXED);
}

static uint64_t
get (const uint64_t *counter)
{
  return __atomic_load_n (counter, __ATOMIC_RELAXED);
}

static enum store_stat_outcome
outcome_of (int err)
{
  switch (err) {
  case 0:
    return STORE_STAT_OK;
  case ENOENT:
    return STORE_STAT_NOT_FOUND;
  case EEXIST:
  case ESTALE:
    return STORE_STAT_PRECONDITION;
  default:
    return STORE_STAT_FAILED;
  }
}

static enum store_stat_method
method_of (const struct store_op *op)
{
  switch (op->kind) {
  case STORE_GET:
    return op->range_len > 0 ? STORE_STAT_RANGE_GET : STORE_STAT_GET;
  case STORE_PUT:
    return STORE_STAT_PUT;
  case STORE_DELETE:
  default:
    return STORE_STAT_DELETE;
  }
}

uint64_t
store_stats_now_ns (void)
{
  return clock_mono_ns ();
}

const unsigned store_stat_bucket_ms[STORE_STAT_BUCKETS - 1] = {
  5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000,
};

static void
count_latency (struct store_stats *st, enum store_stat_method m,
               uint64_t elapsed_ns)
{
  unsigned b = 0;

  while (b < STORE_STAT_BUCKETS - 1 &&
         elapsed_ns > store_stat_bucket_ms[b] * UINT64_C (1000000))
    b++;
  add (&st->latency[m][b], 1);
  add (&st->latency_ns[m], elapsed_ns);
}

void
store_stats_count_ops (struct store_stats *st, const struct store_op *ops,
                       size_t n, uint64_t elapsed_ns)
{
  uint64_t sent = 0, received = 0;

  for (size_t i = 0; i < n; i++) {
    const enum store_stat_outcome o = ops[i].gate_refused ? STORE_STAT_REFUSED
      : outcome_of (ops[i].err);

    add (&st->requests[method_of (&ops[i])][o], 1);
    if (ops[i].attempts > 1)
      add (&st->retries[method_of (&ops[i])], ops[i].attempts - 1);
    count_latency (st, method_of (&ops[i]), elapsed_ns);
    if (o != STORE_STAT_OK)
      continue;
    if (ops[i].kind == STORE_PUT)
      sent += ops[i].len;
    else if (ops[i].kind == STORE_GET)
      received += ops[i].got;
  }
  if (sent)
    add (&st->bytes_sent, sent);
  if (received)
    add (&st->bytes_received, received);
}

void
store_stats_count_list (struct store_stats *st, int r, int err,
                        uint64_t elapsed_ns)
{
  count_latency (st, STORE_STAT_LIST, elapsed_ns);
  add (&st->requests[STORE_STAT_LIST][r == 0 ? STORE_STAT_OK
                                      : outcome_of (err ? err : EIO)], 1);
}

void
store_stats_read (const struct store_stats *st, struct store_stats *out)
{
  for (int m = 0; m < STORE_STAT_METHODS; m++)
    for (int o = 0; o < STORE_STAT_OUTCOMES; o++)
      out->requests[m][o] = get (&st->requests[m][o]);
  out->bytes_sent = get (&st->bytes_sent);
  out->bytes_received = get (&st->bytes_received);
  for (int m = 0; m < STORE_STAT_METHODS; m++) {
    for (int b = 0; b < STORE_STAT_BUCKETS; b++)
      out->latency[m][b] = get (&st->latency[m][b]);
    out->latency_ns[m] = get (&st->latency_ns[m]);
    out->retries[m] = get (&st->retries[m]);
  }
}

uint64_t
store_stats_method_total (const struct store_stats *st,
                          enum store_stat_method m)
{
  uint64_t total = 0;

  for (int o = 0; o < STORE_STAT_OUTCOMES; o++)
    total += get (&st->requests[m][o]);
  return total;
}

uint64_t
store_stats_total (const struct store_stats *st)
{
  uint64_t total = 0;

  for (int m = 0; m < STORE_STAT_METHODS; m++)
    total += store_stats_method_total (st, m);
  return total;
}

const char *
store_stat_method_name (enum store_stat_method m)
{
  static const char *const names[STORE_STAT_METHODS] = {
    "GET", "GET-range", "PUT", "DELETE", "LIST",
  };

  return m < STORE_STAT_METHODS ? names[m] : "?";
}

const char *
store_stat_outcome_name (enum store_stat_outcome o)
{
  static const char *const names[STORE_STAT_OUTCOMES] = {
    "ok", "not-found", "precondition-failed", "failed", "refused",
  };

  return o < STORE_STAT_OUTCOMES ? names[o] : "?";
}

/* Append to buf[*pos..len), keeping it a string when it is too short. */
static void
append (char *buf, size_t len, size_t *pos, const char *fmt, ...)
  __attribute__ ((format (printf, 4, 5)));

static void
append (char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
  va_list ap;
  int r;

  if (*pos >= len)
    return;
  va_start (ap, fmt);
  r = vsnprintf (buf + *pos, len - *pos, fmt, ap);
  va_end (ap);
  if (r > 0)
    *pos = *pos + r < len ? *pos + r : len;
}

char *
store_stats_format (const struct store_stats *st, char *buf, size_t len)
{
  size_t pos = 0;
  bool first = true;

  if (len == 0)
    return buf;
  buf[0] = '\0';
  append (buf, len, &pos, "requests %" PRIu64 " (", store_stats_total (st));
  for (int m = 0; m < STORE_STAT_METHODS; m++) {
    const uint64_t total = store_stats_method_total (st, m);

    if (total == 0)
      continue;
    append (buf, len, &pos, "%s%s %" PRIu64, first ? "" : ", ",
            store_stat_method_name (m), total);
    first = false;
    for (int o = 0; o < STORE_STAT_OUTCOMES; o++) {
      const uint64_t k = get (&st->requests[m][o]);

      if (k)
        append (buf, len, &pos, " %s %" PRIu64, store_stat_outcome_name (o),
                k);
    }
  }
  append (buf, len, &pos, "), sent %" PRIu64 " bytes, received %" PRIu64
          " bytes", get (&st->bytes_sent), get (&st->bytes_received));
  return buf;
}
