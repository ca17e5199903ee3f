/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the request scheduler under both S3 engines.
 *
 * One I/O thread per scheduler.  Callers submit a batch of requests
 * (sched_run) and sleep until all are done; the thread keeps at most
 * max_inflight attempts in flight in total, taking them from the
 * waiting batches in turn so that a small read is not stuck behind a
 * big flush.  An attempt that fails for a transient reason is retried
 * after retry.h's jittered, exponential delay, up to retries times.
 * A request's gate is checked before each attempt, on the I/O thread
 * and without the scheduler's lock (it may be slow and is the
 * caller's code); a refusal ends the request with the gate's errno.
 *
 * The engine under it (libs3, libcurl) only moves bytes: it supplies
 * the operations below and reports the end of each attempt with
 * sched_attempt_over.
 *
 *   sched_run ──> ring of batches ──┐
 *                 retry queue ──────┤ take (in-flight limit)
 *                                   v
 *                     gate ──> ops.start ··· ops.pump ··· ops.time_out
 *                                   │
 *                 sched_attempt_over: ops.judge ──> retry queue, or done
 *
 * Locking: the scheduler's lock guards its queues and counters and
 * every request's scheduler fields.  No operation is called with the
 * lock held, except open and close (so that two starts cannot race)
 * and wake (which must be safe from any thread).  start, pump, judge,
 * describe and time_out run on the I/O thread, and so must
 * sched_attempt_over: an engine's transport is the I/O thread's alone.
 *
 * nbdkit forks after .get_ready, so the thread (and the engine's
 * transport, opened and closed by ops.open and ops.close) runs from
 * sched_start to sched_stop.
 */

#ifndef S3BLOCKS_SCHED_H
#define S3BLOCKS_SCHED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

struct sched_batch;

/* Embedded in each engine request; the engine fills In before
 * sched_run and reads Out after it.
 */
struct sched_req {
  /* In: */
  const char *method, *what;    /* for debug messages: "PUT", the key */
  int retries;                  /* -1: the configured number */
  const struct store_gate *gate;  /* NULL: none */

  /* Out: */
  int err;                      /* 0, judge's errno, or the gate's */
  bool gate_refused;            /* err is the gate's: not a store failure */
  unsigned attempts;

  /* The scheduler's: */
  uint64_t started_ns, not_before_ns;
  struct sched_batch *batch;
  struct sched_req *next_retry;
};

struct sched_config {
  unsigned max_inflight;        /* capped to [1, STORE_MAX_INFLIGHT] */
  unsigned retries;
  unsigned retry_delay_ms;
  unsigned timeout_ms;          /* for time_out only */
};

/* The engine's side.  eng is the pointer given to sched_new. */
struct sched_ops {
  /* Open and close the transport (sched_start, sched_stop).  open:
   * 0, or -1 after nbdkit_error having undone its own work.
   */
  int (*open) (void *eng);
  void (*close) (void *eng);

  /* Hand r's next attempt to the transport.  Its end is reported by
   * sched_attempt_over, possibly before start returns.
   */
  void (*start) (void *eng, struct sched_req *r);

  /* Wait until the transport can make progress, wake is called, or
   * deadline_ns (clock_mono_ns; UINT64_MAX: none) comes, then drive
   * it, reporting attempts that end.  inflight: attempts in flight.
   */
  void (*pump) (void *eng, uint64_t deadline_ns, unsigned inflight);

  /* Interrupt pump, from any thread (the lock may be held). */
  void (*wake) (void *eng);

  /* The outcome of r's attempt that just ended: 0, or an errno and
   * whether another attempt may succeed.
   */
  int (*judge) (void *eng, struct sched_req *r, bool *transient);

  /* Words for the attempt's outcome in a debug message ("HTTP 503
   * SlowDown").  Never a secret.
   */
  void (*describe) (void *eng, const struct sched_req *r,
                    char *buf, size_t len);

  /* NULL if the transport bounds each attempt itself.  Otherwise the
   * late[0..n-1] attempts have run past timeout_ms: end them (the
   * transport may end every attempt in flight) and report each one.
   */
  void (*time_out) (void *eng, struct sched_req *const *late, size_t n);
};

struct sched;

/* No thread yet.  NULL after nbdkit_error. */
extern struct sched *sched_new (const struct sched_config *cfg,
                                const struct sched_ops *ops, void *eng);
/* 0 (also if already started), or -1 after nbdkit_error. */
extern int sched_start (struct sched *s);
/* Waits for submitted batches to finish, stops the thread, closes. */
extern void sched_stop (struct sched *s);
/* Stops first if started. */
extern void sched_free (struct sched *s);
/* The in-flight limit in force: the configured one within
 * 1..STORE_MAX_INFLIGHT.  An engine sizes its per-attempt resources by it.
 */
extern unsigned sched_max_inflight (const struct sched *s);

/* Run the n requests at first, first + stride bytes, ... to
 * completion; any number of threads at once.  0, or -1 after
 * nbdkit_error with errno EIO if the scheduler is not running (no
 * request was attempted; each has err EIO).
 */
extern int sched_run (struct sched *s, struct sched_req *first,
                      size_t stride, size_t n);

/* From the engine, on the I/O thread: r's attempt has ended. */
extern void sched_attempt_over (struct sched *s, struct sched_req *r);

#endif /* S3BLOCKS_SCHED_H */
