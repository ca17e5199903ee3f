/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the failures of one batch, logged a few at a time.
 *
 * A batch of a thousand requests to a server that went away would
 * otherwise log a thousand lines.  Each store logs the first
 * FAIL_LOG_MAX failures of a batch in full and counts the rest:
 *
 *   struct fail_log fl = { 0 };
 *   for each failed op:  if (fail_log_take (&fl)) log_failure (...);
 *   fail_log_end (&fl, endpoint);   "... and N more requests failed"
 */

#ifndef S3BLOCKS_FAIL_LOG_H
#define S3BLOCKS_FAIL_LOG_H

#include <stdbool.h>
#include <stddef.h>

#define FAIL_LOG_MAX 3

struct fail_log {
  size_t failures;              /* counted by fail_log_take */
};

/* Count one failure: true if it is to be logged in full. */
static inline bool
fail_log_take (struct fail_log *fl)
{
  return fl->failures++ < FAIL_LOG_MAX;
}

/* Say how many failures were counted but not logged, if any. */
extern void fail_log_end (const struct fail_log *fl, const char *endpoint);

#endif /* S3BLOCKS_FAIL_LOG_H */
