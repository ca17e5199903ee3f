/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: serving the metrics (lib/export/metrics.h) over HTTP
 * (metrics=, metrics-http.c) and writing them to a file (metrics-file=,
 * metrics-file.c).
 *
 * Both bind or write once at get_ready, before nbdkit forks, so that a
 * taken port or an unwritable path is an error on the user's terminal
 * naming the key; their threads start at after_fork (no thread may
 * cross the fork) and stop at cleanup, before the exports are freed.
 */

#ifndef S3BLOCKS_METRICS_SERVE_H
#define S3BLOCKS_METRICS_SERVE_H

#include <stddef.h>

/* The metrics now, as a string to free, or NULL (errno ENOMEM). */
typedef char *(*metrics_text_fn) (size_t *len);

/* metrics=ADDRESS:PORT.  0, or -1 after nbdkit_error naming the key. */
extern int metrics_http_bind (const char *address, metrics_text_fn text);
extern int metrics_http_start (void);
extern void metrics_http_stop (void);

/* metrics-file=PATH: written now, then every METRICS_FILE_PERIOD_MS.
 * 0, or -1 after nbdkit_error naming the key.
 */
#define METRICS_FILE_PERIOD_MS 5000
extern int metrics_file_init (const char *path, metrics_text_fn text);
extern int metrics_file_start (void);
extern void metrics_file_stop (void);

#endif /* S3BLOCKS_METRICS_SERVE_H */
