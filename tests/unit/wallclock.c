/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: a wall clock that a test can step.  See
 * wallclock.h.
 */

#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "wallclock.h"

static int64_t offset_ns;       /* atomic */

/* The real clock, from the kernel: no libc symbol to look up, and
 * immune to whatever else (a sanitizer's runtime) wraps clock_gettime.
 */
static int
real_clock_gettime (clockid_t id, struct timespec *ts)
{
  return syscall (SYS_clock_gettime, id, ts);
}

int
clock_gettime (clockid_t id, struct timespec *ts)
{
  int64_t off, ns;

  if (real_clock_gettime (id, ts) == -1)
    return -1;
  off = __atomic_load_n (&offset_ns, __ATOMIC_RELAXED);
  if (id != CLOCK_REALTIME || off == 0)
    return 0;
  ns = (int64_t) ts->tv_sec * 1000000000 + ts->tv_nsec + off;
  ts->tv_sec = ns / 1000000000;
  ts->tv_nsec = ns % 1000000000;
  return 0;
}

void
wallclock_step_ms (int64_t ms)
{
  __atomic_add_fetch (&offset_ns, ms * 1000000, __ATOMIC_RELAXED);
}

void
wallclock_reset (void)
{
  __atomic_store_n (&offset_ns, 0, __ATOMIC_RELAXED);
}
