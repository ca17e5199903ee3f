/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: ranged GETs, the parts every store shares: the check made
 * before any request, and the range as HTTP writes it.  store.h states
 * the contract.
 */

#ifndef S3BLOCKS_STORE_RANGE_H
#define S3BLOCKS_STORE_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* "bytes=" and two 20-digit numbers. */
#define STORE_RANGE_MAX 48

static inline bool
store_op_is_ranged (const struct store_op *op)
{
  return op->kind == STORE_GET && op->range_len > 0;
}

/* Whether op's range, if any, may be sent: 0, or EINVAL after
 * nbdkit_error naming the key and the range (a caller's bug, so no
 * request is made).
 */
extern int store_range_check (const struct store_op *op);

/* "bytes=FIRST-LAST" (inclusive, as the Range header has it) for the
 * len > 0 bytes from offset, whose end fits in 64 bits.
 */
extern void store_range_format (uint64_t offset, size_t len,
                                char buf[STORE_RANGE_MAX]);

/* Log the failure of a range that starts at or past the object's end
 * (HTTP 416 InvalidRange): the key, the range, and size, the object's
 * size in bytes, or -1 if the server did not give it.  from is where
 * the answer came from (the endpoint), or NULL.
 */
extern void store_range_log_past_end (const char *key, uint64_t offset,
                                      size_t len, int64_t size,
                                      const char *from);

#endif /* S3BLOCKS_STORE_RANGE_H */
