/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the clocks.  See clock.h. */

#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <time.h>

#include "clock.h"

uint64_t
clock_mono_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

uint64_t
clock_mono_ms (void)
{
  return clock_mono_ns () / 1000000;
}

uint64_t
clock_wall_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t
clock_wall_s (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  return ts.tv_sec;
}

int
clock_cond_init (pthread_cond_t *cond)
{
  pthread_condattr_t attr;
  int err;

  err = pthread_condattr_init (&attr);
  if (err)
    return err;
  err = pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
  if (err == 0)
    err = pthread_cond_init (cond, &attr);
  pthread_condattr_destroy (&attr);
  return err;
}

int
clock_cond_wait_ms (pthread_cond_t *cond, pthread_mutex_t *mutex,
                    uint64_t ms)
{
  struct timespec until;
  int err;

  clock_gettime (CLOCK_MONOTONIC, &until);
  until.tv_sec += ms / 1000;
  until.tv_nsec += (long) (ms % 1000) * 1000000;
  if (until.tv_nsec >= 1000000000) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000;
  }
  err = pthread_cond_timedwait (cond, mutex, &until);
  return err == ETIMEDOUT ? ETIMEDOUT : 0;
}

void
clock_sleep_ms (uint64_t ms)
{
  struct timespec ts = {
    .tv_sec = ms / 1000,
    .tv_nsec = (long) (ms % 1000) * 1000000,
  };

  while (nanosleep (&ts, &ts) == -1 && errno == EINTR)
    ;
}
