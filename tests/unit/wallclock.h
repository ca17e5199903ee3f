/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: a wall clock that a test can step.
 *
 * The test program defines clock_gettime itself (wallclock.c), so
 * every CLOCK_REALTIME read made through it by the code under test
 * (common/clock.c, and any code that still calls clock_gettime
 * directly) sees the real time plus an offset; CLOCK_MONOTONIC and the
 * others pass through unchanged.  The kernel's own timed waits do not
 * see the offset: a wait whose deadline was computed from a stepped
 * CLOCK_REALTIME wakes early or late by the step, as it would after a
 * real step.  Offset 0 (the default) is the real clock.
 */

#ifndef S3BLOCKS_WALLCLOCK_H
#define S3BLOCKS_WALLCLOCK_H

#include <stdint.h>

/* Move the wall clock by ms (negative: back) from where it is now. */
extern void wallclock_step_ms (int64_t ms);
/* Back to the real time of day. */
extern void wallclock_reset (void);

#endif /* S3BLOCKS_WALLCLOCK_H */
