/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: is a buffer all zeros?  Zero blocks are never stored. */

#ifndef S3BLOCKS_ISZERO_H
#define S3BLOCKS_ISZERO_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* Check the first 16 bytes one by one, then compare the buffer with
 * itself shifted by 16: memcmp is vectorised, a byte loop is not.
 */
static inline bool
is_zero (const char *buf, size_t size)
{
  const size_t head = size < 16 ? size : 16;
  size_t i;

  for (i = 0; i < head; i++)
    if (buf[i])
      return false;
  return size == head || memcmp (buf, buf + head, size - head) == 0;
}

#endif /* S3BLOCKS_ISZERO_H */
