/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: nbdkit_error and nbdkit_debug outside nbdkit, printed or
 * recorded as nbdkit-standin.h says.
 */

#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "nbdkit-standin.h"

static enum standin_mode mode = STANDIN_PRINT;
static bool verbose;

char standin_last_error[1024];
char standin_error_log[8192];
unsigned standin_error_count;

/* Guards the three above against reports from several threads. */
static pthread_mutex_t record_lock = PTHREAD_MUTEX_INITIALIZER;

void
standin_init (enum standin_mode m, bool v)
{
  mode = m;
  verbose = v;
}

void
standin_reset_errors (void)
{
  pthread_mutex_lock (&record_lock);
  standin_last_error[0] = '\0';
  standin_error_log[0] = '\0';
  standin_error_count = 0;
  pthread_mutex_unlock (&record_lock);
}

/* "s3blocks: [debug: ]MESSAGE" on stderr, the stream locked so that
 * lines from several threads do not interleave.  err is the caller's
 * errno, for %m.
 */
static void
print_message (const char *kind, int err, const char *fmt, va_list args)
{
  flockfile (stderr);
  fprintf (stderr, "s3blocks: %s", kind);
  errno = err;
  vfprintf (stderr, fmt, args);
  fprintf (stderr, "\n");
  funlockfile (stderr);
}

static void
record_message (int err, const char *fmt, va_list args)
{
  size_t used;

  pthread_mutex_lock (&record_lock);
  errno = err;
  vsnprintf (standin_last_error, sizeof standin_last_error, fmt, args);
  used = strlen (standin_error_log);
  snprintf (standin_error_log + used, sizeof standin_error_log - used,
            "%s\n", standin_last_error);
  standin_error_count++;
  pthread_mutex_unlock (&record_lock);
}

void
nbdkit_verror (const char *fmt, va_list args)
{
  int err = errno;
  va_list copy;

  if (mode == STANDIN_RECORD) {
    va_copy (copy, args);
    record_message (err, fmt, copy);
    va_end (copy);
  }
  if (mode == STANDIN_PRINT || verbose)
    print_message ("", err, fmt, args);
  errno = err;
}

void
nbdkit_error (const char *fmt, ...)
{
  va_list args;

  va_start (args, fmt);
  nbdkit_verror (fmt, args);
  va_end (args);
}

void
nbdkit_vdebug (const char *fmt, va_list args)
{
  int err = errno;

  if (verbose)
    print_message ("debug: ", err, fmt, args);
  errno = err;
}

void
nbdkit_debug (const char *fmt, ...)
{
  va_list args;

  va_start (args, fmt);
  nbdkit_vdebug (fmt, args);
  va_end (args);
}
