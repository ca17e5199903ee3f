/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): the progress display (progress.h). */

#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "clock.h"
#include "progress.h"

/* A rate is shown once this much time has passed: before, it is noise. */
#define RATE_AFTER_MS 200

static struct {
  bool on, running, drawn;
  const char *label, *noun;
  uint64_t done, total;
  bool approx;
  uint64_t t0, drawn_at;
  size_t drawn_len;             /* of the last line: a shorter one pads */
  uint64_t (*clock_ms) (void);
} p;

void
progress_enable (bool on)
{
  p.on = on;
}

void
progress_set_clock (uint64_t (*clock_ms) (void))
{
  p.clock_ms = clock_ms;
}

static uint64_t
now_ms (void)
{
  return p.clock_ms ? p.clock_ms () : clock_mono_ms ();
}

/* 12345 as "12,345". */
static void
format_count (char *buf, size_t len, uint64_t n)
{
  char digits[24];
  int nd = snprintf (digits, sizeof digits, "%" PRIu64, n);
  size_t o = 0;

  for (int i = 0; i < nd && o + 2 < len; i++) {
    if (i > 0 && (nd - i) % 3 == 0)
      buf[o++] = ',';
    buf[o++] = digits[i];
  }
  buf[o] = '\0';
}

/* Seconds as "M:SS", or "H:MM:SS" from an hour on. */
static void
format_duration (char *buf, size_t len, uint64_t s)
{
  if (s >= 3600)
    snprintf (buf, len, "%" PRIu64 ":%02u:%02u", s / 3600,
              (unsigned) (s / 60 % 60), (unsigned) (s % 60));
  else
    snprintf (buf, len, "%u:%02u", (unsigned) (s / 60), (unsigned) (s % 60));
}

char *
progress_format (char *buf, size_t len, const char *label, const char *noun,
                 uint64_t done, uint64_t total, bool approx,
                 uint64_t elapsed_ms, bool final, unsigned width)
{
  char d[32], t[32], r[32], tm[32];
  size_t o;
  uint64_t rate = 0;

  /* An estimate passed is no total at all. */
  if (total != PROGRESS_UNKNOWN && approx && done > total)
    total = PROGRESS_UNKNOWN;
  format_count (d, sizeof d, done);
  if (total == PROGRESS_UNKNOWN || final)
    o = snprintf (buf, len, "%s: %s %s", label, d, noun);
  else {
    format_count (t, sizeof t, total);
    o = snprintf (buf, len, "%s: %s of %s%s %s", label, d,
                  approx ? "~" : "", t, noun);
  }
  if (done > 0 && elapsed_ms >= (final ? 1 : RATE_AFTER_MS)) {
    rate = done * 1000 / elapsed_ms;
    format_count (r, sizeof r, rate);
    if (o < len)
      o += snprintf (buf + o, len - o, ", %s/s", r);
  }
  if (final) {
    format_duration (tm, sizeof tm, elapsed_ms / 1000);
    if (o < len)
      o += snprintf (buf + o, len - o, ", in %s", tm);
  }
  else if (total != PROGRESS_UNKNOWN && rate > 0 && done <= total) {
    /* Left at the rate so far, rounded up. */
    uint64_t left_ms = (uint64_t) ((double) (total - done) * elapsed_ms
                                  / done);

    format_duration (tm, sizeof tm, (left_ms + 999) / 1000);
    if (o < len)
      snprintf (buf + o, len - o, ", %s left", tm);
  }
  /* Cut to the terminal's width: a wrapped line cannot be redrawn. */
  if (width > 1 && strlen (buf) >= width)
    buf[width - 1] = '\0';
  return buf;
}

static unsigned
term_width (void)
{
  struct winsize ws;

  if (ioctl (STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
    return ws.ws_col;
  return 0;
}

static void
draw (bool final)
{
  char line[256];
  size_t n;

  progress_format (line, sizeof line, p.label, p.noun, p.done, p.total,
                   p.approx, now_ms () - p.t0, final, term_width ());
  n = strlen (line);
  /* Spaces over what a longer line before left behind. */
  fprintf (stderr, "\r%s%*s%s", line,
           p.drawn_len > n ? (int) (p.drawn_len - n) : 0, "",
           final ? "\n" : "");
  fflush (stderr);
  p.drawn_len = n;
  p.drawn = true;
  p.drawn_at = now_ms ();
}

void
progress_start (const char *label, const char *noun, uint64_t total)
{
  if (!p.on)
    return;
  if (p.running)
    progress_finish ();
  p.running = true;
  p.label = label;
  p.noun = noun;
  p.done = 0;
  p.total = total;
  p.approx = false;
  p.drawn_len = 0;
  p.drawn = false;
  p.t0 = now_ms ();
}

static void
maybe_draw (void)
{
  /* The first line at the first news (after the total, if one is set
   * at once), then at most one per PROGRESS_REDRAW_MS.
   */
  if (p.running
      && (!p.drawn || now_ms () - p.drawn_at >= PROGRESS_REDRAW_MS))
    draw (false);
}

void
progress_set_total (uint64_t total, bool approx)
{
  if (!p.running)
    return;
  p.total = total;
  p.approx = approx;
  maybe_draw ();
}

void
progress_advance (uint64_t n)
{
  if (!p.running)
    return;
  p.done += n;
  maybe_draw ();
}

void
progress_set (uint64_t done)
{
  if (!p.running)
    return;
  p.done = done;
  maybe_draw ();
}

void
progress_clear (void)
{
  if (!p.running || !p.drawn)
    return;
  fprintf (stderr, "\r%*s\r", (int) p.drawn_len, "");
  fflush (stderr);
  p.drawn = false;
  p.drawn_len = 0;
}

void
progress_finish (void)
{
  if (!p.running)
    return;
  draw (true);
  p.running = false;
}
