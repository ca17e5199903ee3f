/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the clocks, and waits that a wall-clock step cannot bend.
 *
 * Two clocks, for two purposes:
 *   monotonic   every interval, deadline and timeout: it never steps,
 *               so a wait for 20 s lasts 20 s whatever NTP or an
 *               administrator does to the time of day
 *   wall        only what other machines read: a lease's "renewed" and
 *               "expires", a root's "created".  Comparing our wall
 *               clock with another host's is a judgement the callers
 *               make knowingly (leaseinfo.h)
 * Condition variables that are waited on with a timeout are made by
 * clock_cond_init, so their timed waits run on the monotonic clock.
 */

#ifndef S3BLOCKS_CLOCK_H
#define S3BLOCKS_CLOCK_H

#include <pthread.h>
#include <stdint.h>

extern uint64_t clock_mono_ns (void);
extern uint64_t clock_mono_ms (void);
/* Milliseconds and seconds since 1970. */
extern uint64_t clock_wall_ms (void);
extern int64_t clock_wall_s (void);

/* A condition variable whose timed waits (clock_cond_wait_ms) use the
 * monotonic clock.  0, or an errno.
 */
extern int clock_cond_init (pthread_cond_t *cond);

/* Wait on cond (mutex held) until signalled or ms have passed on the
 * monotonic clock.  Returns 0 if signalled (or woken spuriously),
 * ETIMEDOUT if the time is up.  cond must come from clock_cond_init.
 */
extern int clock_cond_wait_ms (pthread_cond_t *cond, pthread_mutex_t *mutex,
                               uint64_t ms);

/* Sleep ms, resumed after signals. */
extern void clock_sleep_ms (uint64_t ms);

#endif /* S3BLOCKS_CLOCK_H */
