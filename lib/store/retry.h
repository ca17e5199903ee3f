/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the retry policy of the request scheduler (sched.h), under
 * both store engines.
 *
 * A failed attempt waits a jittered, exponentially growing delay
 * before the next: attempt n waits a random time in [d/2, d] with
 * d = retry-delay * 2^(n-1), capped at RETRY_MAX_BACKOFF_MS.  The
 * jitter keeps many requests failing at once (a server restart) from
 * all coming back at the same instant.
 */

#ifndef S3BLOCKS_RETRY_H
#define S3BLOCKS_RETRY_H

#include <stdint.h>

#define RETRY_MAX_BACKOFF_MS 30000

/* The delay before retry number attempt (1 for the first retry).
 * jitter is the caller's random state (0 at first; not thread-safe:
 * the engine's own lock or thread guards it).
 */
extern uint64_t retry_backoff_ns (uint64_t *jitter, unsigned retry_delay_ms,
                                  unsigned attempt);

/* The longest one request can take with every attempt timing out and
 * the longest delay between attempts: what a caller must allow before
 * it may assume a request has ended one way or the other.
 */
extern uint64_t retry_worst_case_ms (unsigned timeout_ms, unsigned retries,
                                     unsigned retry_delay_ms);

#endif /* S3BLOCKS_RETRY_H */
