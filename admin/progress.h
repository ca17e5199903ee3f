/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): a one-line progress display on stderr
 * for the verbs that can run long (-p, --progress), in the style of
 * qemu-img -p and nbdcopy -p:
 *
 *   gc: sweep: 12,345 of ~40,000 objects, 1,234/s, 0:21 left
 *
 * rewritten in place with \r at most PROGRESS_REDRAW_MS apart, and
 * ended by a newline.  One display at a time (the admin command is
 * single-threaded above the store); every call does nothing unless
 * progress_enable said so.  Never writes to stdout.
 */

#ifndef S3BLOCKS_PROGRESS_H
#define S3BLOCKS_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The total is not known (yet). */
#define PROGRESS_UNKNOWN UINT64_MAX
/* At most ten redraws a second. */
#define PROGRESS_REDRAW_MS 100

/* Show progress or not: -p says so, else whether stderr is a terminal. */
extern void progress_enable (bool on);

/* Start a display: "LABEL: DONE [of TOTAL] NOUN, ...", drawn at the
 * first advance, set or set_total.  label and noun are kept (string
 * constants).  A display still running is finished.
 */
extern void progress_start (const char *label, const char *noun,
                            uint64_t total);
/* The total learnt later; approx prints it as "~N" (an estimate that
 * may be passed: then it is shown as unknown).
 */
extern void progress_set_total (uint64_t total, bool approx);
extern void progress_advance (uint64_t n);
extern void progress_set (uint64_t done);
/* Wipe the line, before something else is printed to the terminal;
 * the next news draws it again.
 */
extern void progress_clear (void);
/* The final line, and a newline. */
extern void progress_finish (void);

/* Tests: monotonic ms; NULL: clock_mono_ms. */
extern void progress_set_clock (uint64_t (*clock_ms) (void));

/* The line for these figures (no \r): what is drawn.  final: the
 * closing line, with the time taken instead of the time left.  width:
 * the terminal's columns, 0 for no limit (the line is cut to width-1).
 * Returns buf.
 */
extern char *progress_format (char *buf, size_t len, const char *label,
                              const char *noun, uint64_t done,
                              uint64_t total, bool approx,
                              uint64_t elapsed_ms, bool final,
                              unsigned width);

#endif /* S3BLOCKS_PROGRESS_H */
