/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: what the segment I/O's files share (log-segio.c,
 * log-segio-upload.c, log-segio-read.c, log-segio-segment.c).  Not for
 * other files.
 */

#ifndef S3BLOCKS_LOG_SEGIO_IMPL_H
#define S3BLOCKS_LOG_SEGIO_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "format/keys.h"
#include "layout/log/log-segio.h"

/* Stats are shared by every thread using one log_segio. */
static inline void
segio_count (uint64_t *counter, uint64_t n)
{
  __atomic_add_fetch (counter, n, __ATOMIC_RELAXED);
}

static inline void
segio_count_peak (uint64_t *peak, uint64_t value)
{
  uint64_t seen = __atomic_load_n (peak, __ATOMIC_RELAXED);

  while (seen < value &&
         !__atomic_compare_exchange_n (peak, &seen, value, false,
                                       __ATOMIC_RELAXED, __ATOMIC_RELAXED))
    ;
}

/* log/segs/{id} into key (KEY_MAX bytes, always room). */
extern void segio_key (char key[KEY_MAX], const uint8_t id[LOG_SEG_ID_LEN]);

/* A ranged GET of [offset, offset + len) into buf, counted in the
 * stats: 0 or the store's errno (ENOENT an answer, unlogged).
 */
extern int segio_get_range (struct log_segio *io, const char *key,
                            uint64_t offset, size_t len, void *buf,
                            size_t *got);

#endif /* S3BLOCKS_LOG_SEGIO_IMPL_H */
