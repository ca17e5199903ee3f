/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: block buffers from a pool.
 *
 * Blocks come and go by the thousand from many threads.  With malloc,
 * each nbdkit thread's arena keeps its own freed buffers, and the
 * process ends up holding far more than max-dirty + cache-size (over
 * 30 MiB more, measured, for 512 MiB written at max-dirty=256M).  A
 * pool per block size hands out buffers carved from large mappings and
 * takes them back on one free list, so memory follows the buffers in
 * use: at most max-dirty + cache-size, plus those in flight.
 */

#ifndef S3BLOCKS_BUFPOOL_H
#define S3BLOCKS_BUFPOOL_H

#include <stddef.h>

struct bufpool;

/* The shared pool for buffers of this size (a power of 2 >= 512). */
extern struct bufpool *bufpool_get (size_t size);
/* NULL with errno ENOMEM. */
extern void *bufpool_alloc (struct bufpool *p);
extern void bufpool_free (struct bufpool *p, void *buf);
/* Unmap every pool (nothing may be in use). */
extern void bufpool_cleanup (void);

#endif /* S3BLOCKS_BUFPOOL_H */
