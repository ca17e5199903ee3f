/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the crash-after-every-request proof that the
 * layouts' tests share (test-cas-layout.c, test-log-layout.c,
 * test-log-compact.c).
 *
 * A workload makes a numbered series of states durable, one flush (or
 * one compaction step) after another, against a memstore.  It runs once
 * whole, to count its requests; then once per crash point n, on a
 * fresh memstore that stops answering after n requests (the server
 * died there).  Each time, what the store holds afterwards must read
 * as one whole state (never a mix), no older than the last one whose
 * flush had returned (nothing flushed is lost); and over all the crash
 * points every state must have been seen, or the workload did not
 * test what it claims.
 */

#ifndef S3BLOCKS_CRASH_POINTS_H
#define S3BLOCKS_CRASH_POINTS_H

#include <stdint.h>

#include "memstore.h"

struct crash_workload {
  const char *name;             /* for the report on stderr */
  int last_state;               /* states are 0 .. last_state */
  /* Run the workload on m: the last state made durable, the one whose
   * flush returned last (0, the empty export, before any).  It sets
   * anything it depends on (the fake clock), so that every crash point
   * replays the same sequence.
   */
  int (*run) (struct memstore *m);
  /* The state m holds, read by reopening it: -1 if none matches. */
  int (*state_of) (struct memstore *m);
  /* The fewest requests the whole workload may take (a workload that
   * sends fewer tests less than it claims).
   */
  uint64_t min_requests;
};

/* Run w whole, then crashed after each single request; CUnit
 * assertions record every failure.  Returns the number of crash points.
 */
extern uint64_t crash_every_request (const struct crash_workload *w);

#endif /* S3BLOCKS_CRASH_POINTS_H */
