/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: was nbdkit started with -r?
 *
 * nbdkit tells plugins about -r only when a client connects, but the
 * single-writer lease must be taken (or not) before serving, so that a
 * second read-write server refuses to start while a read-only one is
 * always allowed.  nbdkit's options are read back from its command line.
 */

#ifndef S3BLOCKS_CMDLINE_H
#define S3BLOCKS_CMDLINE_H

#include <stdbool.h>

/* Does this nbdkit command line ask for -r / --readonly? */
extern bool argv_requests_readonly (int argc, char *const *argv);

/* The same for the running process (false if it cannot tell). */
extern bool nbdkit_started_readonly (void);

#endif /* S3BLOCKS_CMDLINE_H */
