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
 * them.  Each round then gives the layout its upkeep step
 * (volume_maintain: the log layout's compaction, docs/log-layout.md).
 * The thread holds no lock of its own across a round, and the
 * export table's only for moments (exports_foreach_open).
 */

#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "clock.h"
#include "export/export.h"
#include "volume/volume.h"
#include "writeback-thread.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake;     /* clock_cond_init: clock steps don't move it */
static bool stopping;           /* lock */
static bool running;            /* only start and stop, one thread */
static pthread_t thread;
static unsigned delay_ms;
static unsigned period_ms;

static void
write_back_one (struct export *e, void *opaque)
{
  /* Errors are the volume's to log; the next round retries.  Then
   * the layout's upkeep (log compaction), after the client's data.
   */
  (void) volume_write_back (export_volume (e), delay_ms);
  (void) volume_maintain (export_volume (e));
}

static void *
run (void *arg)
{
  pthread_mutex_lock (&lock);
  while (!stopping) {
    /* One deadline a round: a spurious wake-up does not restart it. */
    const uint64_t deadline = clock_mono_ms () + period_ms;
    uint64_t now;

    while (!stopping && (now = clock_mono_ms ()) < deadline)
      clock_cond_wait_ms (&wake, &lock, deadline - now);
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
  int err;

  if (delay == 0 || running)
    return 0;
  delay_ms = delay;
  period_ms = delay / 2 < 1000 ? delay / 2 : 1000;
  if (period_ms == 0)
    period_ms = 1;
  stopping = false;

  err = clock_cond_init (&wake);
  if (err) {
    nbdkit_error ("cannot start the background write-back thread: "
                  "pthread_cond_init: %s (write-delay=0 turns it off)",
                  strerror (err));
    errno = err;
    return -1;
  }
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
