/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: background write-back.
 *
 * Every min (delay / 2, 1 s) the thread asks each open export's volume
 * to upload the blocks dirty for at least the delay, so a block is
 * uploaded between delay and 1.5 x delay after its first unflushed
 * write.  The volume does the work under its own rules (fenced by the
 * lease, one upload per block in flight, commit as a flush does) and
 * logs what fails; the blocks stay dirty and the next round retries
 * them.  The thread holds no lock of its own across a round, and the
 * export table's only for moments (exports_foreach_open).
 */

#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <nbdkit-plugin.h>

#include "export/export.h"
#include "volume/volume.h"
#include "writeback-thread.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake;     /* CLOCK_MONOTONIC, so clock steps don't */
static bool stopping;           /* lock */
static bool running;            /* only start and stop, one thread */
static pthread_t thread;
static unsigned delay_ms;
static unsigned period_ms;

static void
write_back_one (struct export *e, void *opaque)
{
  /* Errors are the volume's to log; the next round retries. */
  (void) volume_write_back (export_volume (e), delay_ms);
}

static void
add_ms (struct timespec *ts, unsigned ms)
{
  ts->tv_sec += ms / 1000;
  ts->tv_nsec += (long) (ms % 1000) * 1000000;
  if (ts->tv_nsec >= 1000000000) {
    ts->tv_sec++;
    ts->tv_nsec -= 1000000000;
  }
}

static void *
run (void *arg)
{
  struct timespec deadline;

  pthread_mutex_lock (&lock);
  while (!stopping) {
    clock_gettime (CLOCK_MONOTONIC, &deadline);
    add_ms (&deadline, period_ms);
    while (!stopping &&
           pthread_cond_timedwait (&wake, &lock, &deadline) != ETIMEDOUT)
      ;
    if (stopping)
      break;
    pthread_mutex_unlock (&lock);
    exports_foreach_open (write_back_one, NULL);
    pthread_mutex_lock (&lock);
  }
  pthread_mutex_unlock (&lock);
  return NULL;
}

int
writeback_thread_start (unsigned delay)
{
  pthread_condattr_t attr;
  int err;

  if (delay == 0 || running)
    return 0;
  delay_ms = delay;
  period_ms = delay / 2 < 1000 ? delay / 2 : 1000;
  if (period_ms == 0)
    period_ms = 1;
  stopping = false;

  pthread_condattr_init (&attr);
  pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
  pthread_cond_init (&wake, &attr);
  pthread_condattr_destroy (&attr);

  err = pthread_create (&thread, NULL, run, NULL);
  if (err) {
    pthread_cond_destroy (&wake);
    nbdkit_error ("cannot start the background write-back thread: %s "
                  "(write-delay=0 turns it off)", strerror (err));
    errno = err;
    return -1;
  }
  running = true;
  nbdkit_debug ("background write-back: blocks dirty for %u ms, checked "
                "every %u ms", delay_ms, period_ms);
  return 0;
}

void
writeback_thread_stop (void)
{
  if (!running)
    return;
  pthread_mutex_lock (&lock);
  stopping = true;
  pthread_cond_signal (&wake);
  pthread_mutex_unlock (&lock);
  pthread_join (thread, NULL);
  pthread_cond_destroy (&wake);
  running = false;
}
