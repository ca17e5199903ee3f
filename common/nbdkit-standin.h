/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the nbdkit stand-in, for programs that run lib/ outside
 * nbdkit (the admin command, the unit tests).  It defines the nbdkit
 * functions that lib/ calls, declared by <nbdkit-plugin.h>, once for
 * both programs:
 *
 *   nbdkit-standin.c   nbdkit_error, nbdkit_debug and their v- forms,
 *                      which print or record (below)
 *   nbdkit-password.c  nbdkit_read_password, as nbdkit 1.32 reads
 *   nbdkit-parse.c     nbdkit_parse_size, _bool, _unsigned, _int
 *
 * Messages go one of two ways, chosen once when the program starts:
 *
 *   STANDIN_PRINT   (the default; the admin command) an error prints
 *                   "s3blocks: MESSAGE" on stderr; a debug message
 *                   prints "s3blocks: debug: MESSAGE" only if verbose
 *   STANDIN_RECORD  (the unit tests) an error is kept for the test to
 *                   assert on; nothing prints unless verbose, and then
 *                   both errors and debug messages print as above
 *
 * errno is the same after a message as before it, so a caller may
 * report and then return -1 with the errno it meant.
 */

#ifndef S3BLOCKS_NBDKIT_STANDIN_H
#define S3BLOCKS_NBDKIT_STANDIN_H

#include <stdbool.h>

enum standin_mode {
  STANDIN_PRINT,
  STANDIN_RECORD,
};

/* Set the mode and whether debug messages print.  Call it before any
 * thread that may report starts.
 */
extern void standin_init (enum standin_mode mode, bool verbose);

/* STANDIN_RECORD only.  Messages may come from any thread (the lease
 * keeper, a store's I/O thread); each is recorded whole, under a lock.
 * Read these when no other thread is reporting.
 */
extern char standin_last_error[1024];  /* the last message */
extern char standin_error_log[8192];   /* every one since the reset, one a
                                          line (truncated when full) */
extern unsigned standin_error_count;   /* how many since the reset */

/* Forget every recorded message. */
extern void standin_reset_errors (void);

#endif /* S3BLOCKS_NBDKIT_STANDIN_H */
