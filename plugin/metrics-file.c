/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the metrics written to metrics-file=PATH, for
 * node_exporter's textfile collector.
 *
 * Each write goes to PATH.tmp (which the collector ignores: it reads
 * *.prom only) and is renamed over PATH, so a reader sees a whole
 * file, old or new, never a half-written one.  A thread of its own
 * rewrites it every METRICS_FILE_PERIOD_MS; a failure after startup is
 * logged once until a write succeeds again, and the thread goes on.
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nbdkit-plugin.h>

#include "clock.h"
#include "metrics-serve.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake;     /* clock_cond_init */
static bool stopping;           /* lock */
static bool running;            /* start and stop only */
static pthread_t thread;
static const char *path;
static char *tmp_path;
static metrics_text_fn render;

/* 0, or -1 with errno set and *what the step that failed. */
static int
write_file (const char **what)
{
  size_t len, done = 0;
  char *text = render (&len);
  int fd, err;

  if (text == NULL) {
    *what = "rendering";
    return -1;
  }
  fd = open (tmp_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd == -1) {
    err = errno;
    *what = "creating";
    goto fail;
  }
  while (done < len) {
    ssize_t r = write (fd, text + done, len - done);

    if (r == -1 && errno == EINTR)
      continue;
    if (r <= 0) {
      err = r == -1 ? errno : EIO;
      *what = "writing";
      close (fd);
      goto fail_unlink;
    }
    done += r;
  }
  if (close (fd) == -1) {
    err = errno;
    *what = "writing";
    goto fail_unlink;
  }
  if (rename (tmp_path, path) == -1) {
    err = errno;
    *what = "renaming";
    goto fail_unlink;
  }
  free (text);
  return 0;

 fail_unlink:
  unlink (tmp_path);
 fail:
  free (text);
  errno = err;
  return -1;
}

int
metrics_file_init (const char *p, metrics_text_fn text)
{
  const char *what;

  path = p;
  render = text;
  if (asprintf (&tmp_path, "%s.tmp", path) == -1) {
    tmp_path = NULL;
    nbdkit_error ("metrics-file=%s: %m", path);
    return -1;
  }
  if (write_file (&what) == -1) {
    nbdkit_error ("metrics-file=%s: %s %s: %m", path, what,
                  strcmp (what, "renaming") == 0 ? path : tmp_path);
    free (tmp_path);
    tmp_path = NULL;
    return -1;
  }
  return 0;
}

static void *
run (void *arg)
{
  bool failing = false;

  pthread_mutex_lock (&lock);
  while (!stopping) {
    const uint64_t deadline = clock_mono_ms () + METRICS_FILE_PERIOD_MS;
    uint64_t now;
    const char *what;

    while (!stopping && (now = clock_mono_ms ()) < deadline)
      clock_cond_wait_ms (&wake, &lock, deadline - now);
    if (stopping)
      break;
    pthread_mutex_unlock (&lock);
    if (write_file (&what) == -1) {
      if (!failing)
        nbdkit_error ("metrics-file=%s: %s: %m (retried every %d ms)",
                      path, what, METRICS_FILE_PERIOD_MS);
      failing = true;
    }
    else
      failing = false;
    pthread_mutex_lock (&lock);
  }
  pthread_mutex_unlock (&lock);
  return NULL;
}

int
metrics_file_start (void)
{
  int err;

  if (tmp_path == NULL || running)
    return 0;
  stopping = false;
  err = clock_cond_init (&wake);
  if (err == 0) {
    err = pthread_create (&thread, NULL, run, NULL);
    if (err)
      pthread_cond_destroy (&wake);
  }
  if (err) {
    nbdkit_error ("metrics-file=%s: cannot start its thread: %s", path,
                  strerror (err));
    errno = err;
    return -1;
  }
  running = true;
  return 0;
}

/* The last figures (the exit flush's aside) are written before the
 * exports go.
 */
void
metrics_file_stop (void)
{
  const char *what;

  if (running) {
    pthread_mutex_lock (&lock);
    stopping = true;
    pthread_cond_signal (&wake);
    pthread_mutex_unlock (&lock);
    pthread_join (thread, NULL);
    pthread_cond_destroy (&wake);
    running = false;
    if (write_file (&what) == -1)
      nbdkit_debug ("metrics-file=%s: %s: %m", path, what);
  }
  free (tmp_path);
  tmp_path = NULL;
}
