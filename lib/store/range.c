/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: ranged GETs, the parts every store shares (range.h). */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include <nbdkit-plugin.h>

#include "store/range.h"

void
store_range_format (uint64_t offset, size_t len, char buf[STORE_RANGE_MAX])
{
  snprintf (buf, STORE_RANGE_MAX, "bytes=%" PRIu64 "-%" PRIu64,
            offset, offset + (uint64_t) len - 1);
}

int
store_range_check (const struct store_op *op)
{
  if (op->range_len == 0)
    return 0;
  if (op->kind != STORE_GET) {
    nbdkit_error ("%s %s: a range (offset %" PRIu64 ", %zu bytes) is for "
                  "a GET only", op->kind == STORE_PUT ? "PUT" : "DELETE",
                  op->key, op->range_offset, op->range_len);
    return EINVAL;
  }
  /* The last byte, offset + len - 1, must fit in 64 bits. */
  if (op->range_len - 1 > UINT64_MAX - op->range_offset) {
    nbdkit_error ("GET %s: the range of %zu bytes from offset %" PRIu64
                  " ends past 2^64", op->key, op->range_len,
                  op->range_offset);
    return EINVAL;
  }
  if (op->range_len > op->len) {
    char range[STORE_RANGE_MAX];

    store_range_format (op->range_offset, op->range_len, range);
    nbdkit_error ("GET %s %s: the range is %zu bytes but the buffer "
                  "holds %zu", op->key, range, op->range_len, op->len);
    return EINVAL;
  }
  return 0;
}

void
store_range_log_past_end (const char *key, uint64_t offset, size_t len,
                          int64_t size, const char *from)
{
  char range[STORE_RANGE_MAX], sz[64] = "";

  store_range_format (offset, len, range);
  if (size >= 0)
    snprintf (sz, sizeof sz, ": the object is %" PRIi64 " bytes", size);
  nbdkit_error ("GET %s %s: the range starts at or past the object's end "
                "(InvalidRange%s%s)%s", key, range, from ? " from " : "",
                from ? from : "", sz);
}
