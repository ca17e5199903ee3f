/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: store/sched, the request scheduler, over a fake
 * engine whose attempts end as each request's script says.
 */

#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <CUnit/CUnit.h>

#include "clock.h"
#include "store/sched.h"
#include "tests.h"

#define MAX_SCRIPT 4

struct fake_req {
  struct sched_req sched;
  int script[MAX_SCRIPT];       /* attempt n ends with script[n-1] (the
                                   last one repeats); EIO is transient */
  int outcome;                  /* the attempt that ended */
};

/* All but the counters the test reads after sched_run are the I/O
 * thread's alone; sched_run's return orders those reads after it.
 */
struct fake {
  struct sched *s;
  struct fake_req *pending[64]; /* started, not yet ended, oldest first */
  size_t nr_pending;
  bool hang;                    /* attempts end only by time_out */
  unsigned starts, max_inflight, time_outs;
  bool inflight_agrees;         /* pump's inflight == our own count */
};

#define FAKE_REQ(r) \
  ((struct fake_req *) ((char *) (r) - offsetof (struct fake_req, sched)))

static int
fake_open (void *eng)
{
  return 0;
}

static void
fake_close (void *eng)
{
}

static void
fake_start (void *eng, struct sched_req *r)
{
  struct fake *f = eng;
  struct fake_req *fr = FAKE_REQ (r);
  unsigned i = r->attempts <= MAX_SCRIPT ? r->attempts - 1 : MAX_SCRIPT - 1;

  f->starts++;
  fr->outcome = fr->script[i];
  f->pending[f->nr_pending++] = fr;
  if (f->nr_pending > f->max_inflight)
    f->max_inflight = f->nr_pending;
}

/* End the oldest attempt, one per call, so that attempts pile up to
 * the in-flight limit; with nothing to end, sleep a little.
 */
static void
fake_pump (void *eng, uint64_t deadline_ns, unsigned inflight)
{
  struct fake *f = eng;
  struct fake_req *fr;
  uint64_t now = clock_mono_ns ();

  if (inflight != f->nr_pending)
    f->inflight_agrees = false;
  if (f->nr_pending == 0 || f->hang) {
    struct timespec ts = { 0, 1000000 };
    if (deadline_ns > now && deadline_ns - now < 1000000)
      ts.tv_nsec = deadline_ns - now;
    if (deadline_ns > now)
      nanosleep (&ts, NULL);
    return;
  }
  fr = f->pending[0];
  memmove (&f->pending[0], &f->pending[1],
           --f->nr_pending * sizeof f->pending[0]);
  sched_attempt_over (f->s, &fr->sched);
}

static void
fake_wake (void *eng)
{
}

static int
fake_judge (void *eng, struct sched_req *r, bool *transient)
{
  struct fake_req *fr = FAKE_REQ (r);

  *transient = fr->outcome == EIO;
  return fr->outcome;
}

static void
fake_describe (void *eng, const struct sched_req *r, char *buf, size_t len)
{
  snprintf (buf, len, "%s", strerror (FAKE_REQ (r)->outcome));
}

static void
fake_time_out (void *eng, struct sched_req *const *late, size_t n)
{
  struct fake *f = eng;
  size_t i;

  f->time_outs++;
  /* Like libs3: every attempt in flight ends, as transient failures. */
  for (i = 0; i < f->nr_pending; i++)
    f->pending[i]->outcome = EIO;
  while (f->nr_pending > 0)
    sched_attempt_over (f->s, &f->pending[--f->nr_pending]->sched);
}

static const struct sched_ops fake_ops = {
  .open = fake_open, .close = fake_close, .start = fake_start,
  .pump = fake_pump, .wake = fake_wake, .judge = fake_judge,
  .describe = fake_describe,
};

static const struct sched_ops fake_ops_timing = {
  .open = fake_open, .close = fake_close, .start = fake_start,
  .pump = fake_pump, .wake = fake_wake, .judge = fake_judge,
  .describe = fake_describe, .time_out = fake_time_out,
};

static void
fake_init (struct fake *f, unsigned max_inflight, unsigned retries,
           const struct sched_ops *ops)
{
  struct sched_config cfg = {
    .max_inflight = max_inflight, .retries = retries,
    .retry_delay_ms = 1, .timeout_ms = 20,
  };

  memset (f, 0, sizeof *f);
  f->inflight_agrees = true;
  f->s = sched_new (&cfg, ops, f);
  CU_ASSERT_PTR_NOT_NULL_FATAL (f->s);
  CU_ASSERT_EQUAL_FATAL (sched_start (f->s), 0);
}

static void
fake_req_init (struct fake_req *fr, int a, int b, int c, int d)
{
  memset (fr, 0, sizeof *fr);
  fr->sched.method = "PUT";
  fr->sched.what = "key";
  fr->sched.retries = -1;
  fr->script[0] = a;
  fr->script[1] = b;
  fr->script[2] = c;
  fr->script[3] = d;
}

static void
test_retry_then_success (void)
{
  struct fake f;
  struct fake_req r;

  fake_init (&f, 4, 3, &fake_ops);
  fake_req_init (&r, EIO, EIO, 0, 0);
  CU_ASSERT_EQUAL (sched_run (f.s, &r.sched, sizeof r, 1), 0);
  CU_ASSERT_EQUAL (r.sched.err, 0);
  CU_ASSERT_EQUAL (r.sched.attempts, 3);
  CU_ASSERT_FALSE (r.sched.gate_refused);
  CU_ASSERT_EQUAL (f.starts, 3);
  sched_free (f.s);
}

static void
test_retries_exhausted (void)
{
  struct fake f;
  struct fake_req r[2];

  fake_init (&f, 4, 2, &fake_ops);
  fake_req_init (&r[0], EIO, EIO, EIO, EIO);
  fake_req_init (&r[1], EIO, EIO, EIO, EIO);
  r[1].sched.retries = 0;       /* the request's own limit */
  CU_ASSERT_EQUAL (sched_run (f.s, &r[0].sched, sizeof r[0], 2), 0);
  CU_ASSERT_EQUAL (r[0].sched.err, EIO);
  CU_ASSERT_EQUAL (r[0].sched.attempts, 3);
  CU_ASSERT_EQUAL (r[1].sched.err, EIO);
  CU_ASSERT_EQUAL (r[1].sched.attempts, 1);
  CU_ASSERT_EQUAL (f.starts, 4);
  sched_free (f.s);
}

static void
test_final_error_not_retried (void)
{
  struct fake f;
  struct fake_req r;

  fake_init (&f, 4, 3, &fake_ops);
  fake_req_init (&r, EACCES, 0, 0, 0);
  CU_ASSERT_EQUAL (sched_run (f.s, &r.sched, sizeof r, 1), 0);
  CU_ASSERT_EQUAL (r.sched.err, EACCES);
  CU_ASSERT_EQUAL (r.sched.attempts, 1);
  sched_free (f.s);
}

struct counted_gate {
  unsigned checks, open_for;    /* refuses from check open_for + 1 on */
};

static int
gate_check (void *opaque)
{
  struct counted_gate *g = opaque;

  return ++g->checks > g->open_for ? EROFS : 0;
}

static void
test_gate_closed (void)
{
  struct fake f;
  struct fake_req r;
  struct counted_gate g = { .open_for = 0 };
  uint64_t refusals = 0;
  const struct store_gate gate = { gate_check, &g, &refusals };

  fake_init (&f, 4, 3, &fake_ops);
  fake_req_init (&r, 0, 0, 0, 0);
  r.sched.gate = &gate;
  CU_ASSERT_EQUAL (sched_run (f.s, &r.sched, sizeof r, 1), 0);
  CU_ASSERT_EQUAL (r.sched.err, EROFS);
  CU_ASSERT_TRUE (r.sched.gate_refused);
  CU_ASSERT_EQUAL (f.starts, 0);        /* never started */
  CU_ASSERT_EQUAL (g.checks, 1);
  CU_ASSERT_EQUAL (store_gate_refusals (&gate), 1);
  sched_free (f.s);
}

/* The gate is asked again before a retry, and its refusal then ends
 * the request without another attempt.
 */
static void
test_gate_closes_before_retry (void)
{
  struct fake f;
  struct fake_req r;
  struct counted_gate g = { .open_for = 1 };
  uint64_t refusals = 0;
  const struct store_gate gate = { gate_check, &g, &refusals };

  fake_init (&f, 4, 3, &fake_ops);
  fake_req_init (&r, EIO, 0, 0, 0);
  r.sched.gate = &gate;
  CU_ASSERT_EQUAL (sched_run (f.s, &r.sched, sizeof r, 1), 0);
  CU_ASSERT_EQUAL (r.sched.err, EROFS);
  CU_ASSERT_TRUE (r.sched.gate_refused);
  CU_ASSERT_EQUAL (r.sched.attempts, 2);
  CU_ASSERT_EQUAL (f.starts, 1);
  CU_ASSERT_EQUAL (g.checks, 2);
  /* The first check let the attempt go: one refusal, not two. */
  CU_ASSERT_EQUAL (store_gate_refusals (&gate), 1);
  sched_free (f.s);
}

static void
test_inflight_limit (void)
{
  struct fake f;
  struct fake_req r[32];
  size_t i;

  fake_init (&f, 3, 3, &fake_ops);
  for (i = 0; i < 32; i++)
    fake_req_init (&r[i], i % 4 == 0 ? EIO : 0, 0, 0, 0);
  CU_ASSERT_EQUAL (sched_run (f.s, &r[0].sched, sizeof r[0], 32), 0);
  for (i = 0; i < 32; i++) {
    CU_ASSERT_EQUAL (r[i].sched.err, 0);
    CU_ASSERT_EQUAL (r[i].sched.attempts, i % 4 == 0 ? 2 : 1);
  }
  CU_ASSERT_EQUAL (f.starts, 40);
  CU_ASSERT_EQUAL (f.max_inflight, 3);  /* reached, never passed */
  CU_ASSERT_TRUE (f.inflight_agrees);
  sched_free (f.s);
}

/* An attempt with no answer is ended by the engine's time_out after
 * timeout_ms, and retried like any transient failure.
 */
static void
test_time_out (void)
{
  struct fake f;
  struct fake_req r;

  fake_init (&f, 4, 1, &fake_ops_timing);
  f.hang = true;
  fake_req_init (&r, 0, 0, 0, 0);
  CU_ASSERT_EQUAL (sched_run (f.s, &r.sched, sizeof r, 1), 0);
  CU_ASSERT_EQUAL (r.sched.err, EIO);
  CU_ASSERT_EQUAL (r.sched.attempts, 2);
  CU_ASSERT_EQUAL (f.time_outs, 2);
  sched_free (f.s);
}

static void
test_not_running (void)
{
  struct sched_config cfg = { .max_inflight = 1 };
  struct sched *s = sched_new (&cfg, &fake_ops, NULL);
  struct fake_req r;

  fake_req_init (&r, 0, 0, 0, 0);
  CU_ASSERT_EQUAL (sched_run (s, &r.sched, sizeof r, 1), -1);
  CU_ASSERT_EQUAL (r.sched.err, EIO);
  sched_free (s);
}

UNIT_SUITES (add_sched_tests)
{
  CU_pSuite s = CU_add_suite ("sched", NULL, NULL);

  CU_add_test (s, "retry then success", test_retry_then_success);
  CU_add_test (s, "retries exhausted", test_retries_exhausted);
  CU_add_test (s, "final error not retried", test_final_error_not_retried);
  CU_add_test (s, "gate closed refuses to start", test_gate_closed);
  CU_add_test (s, "gate closes before a retry",
               test_gate_closes_before_retry);
  CU_add_test (s, "in-flight limit", test_inflight_limit);
  CU_add_test (s, "time-out", test_time_out);
  CU_add_test (s, "not running", test_not_running);
}
