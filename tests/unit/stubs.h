/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: stand-ins for the nbdkit functions the pure
 * code calls, recording the last error message for the tests.
 */

#ifndef S3BLOCKS_STUBS_H
#define S3BLOCKS_STUBS_H

extern char last_error[1024];
/* Every message since the last reset, one a line (truncated). */
extern char error_log[8192];
extern unsigned error_count;

/* Clear last_error and error_count. */
extern void stubs_reset_errors (void);

#endif /* S3BLOCKS_STUBS_H */
