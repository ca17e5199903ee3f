/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: a sparse bitmap over uint64_t indexes.
 *
 * The allocation map records which blocks exist as objects.  A disk of
 * 1 TiB in 4 KiB blocks has 2^28 blocks; most disks are sparse, so the
 * bitmap is kept in pages of PAGE_BITS bits allocated on first use and
 * freed when their last bit clears.  Not thread-safe: the owner locks.
 */

#ifndef S3BLOCKS_SBITMAP_H
#define S3BLOCKS_SBITMAP_H

#include <stdbool.h>
#include <stdint.h>

#include "u64map.h"

#define SBITMAP_PAGE_BITS 32768

struct sbitmap {
  struct u64map pages;          /* page number -> struct sbitmap_page */
  uint64_t count;               /* bits set */
};

#define SBITMAP_INIT { U64MAP_INIT, 0 }

extern void sbitmap_free (struct sbitmap *b);
extern bool sbitmap_get (const struct sbitmap *b, uint64_t i);
/* Returns 0, or -1 with errno ENOMEM. */
extern int sbitmap_set (struct sbitmap *b, uint64_t i);
extern void sbitmap_clear (struct sbitmap *b, uint64_t i);

/* The first index in [from, end) whose bit is set (or clear), else end. */
extern uint64_t sbitmap_next_set (const struct sbitmap *b,
                                  uint64_t from, uint64_t end);
extern uint64_t sbitmap_next_clear (const struct sbitmap *b,
                                    uint64_t from, uint64_t end);

#endif /* S3BLOCKS_SBITMAP_H */
