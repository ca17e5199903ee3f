/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the exports this server has opened, by name (export.c).
 *
 * Locking: every function here may be called from any thread; none
 * holds a lock across a store request, so opening, closing or writing
 * back one export never waits for another's S3 requests.  An export
 * returned by export_open stays valid until export_close, and one that
 * has been opened is freed only by exports_cleanup.
 */

#ifndef S3BLOCKS_EXPORT_H
#define S3BLOCKS_EXPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "config/options.h"
#include "lease/lease.h"
#include "store/store.h"
#include "volume/volume.h"

struct export;

extern void exports_init (struct store *store,
                          const struct s3blocks_config *cfg);

/* At exit, after background write-back has stopped and before the
 * lease keeper stops: flush every export (the keeper keeps renewing
 * the leases meanwhile), then release the leases and free.
 */
extern void exports_cleanup (void);

/* Open (or share) an export; NULL after nbdkit_error (errno set) on
 * failure.  The first open of a read-write export may wait up to
 * lease-time for another host's lease; opens of the same export wait
 * for it, other exports do not.
 */
extern struct export *export_open (const char *name, bool readonly);
/* The last close flushes it. */
extern void export_close (struct export *e);

/* Call fn for each open export, with no lock held during the call;
 * the export is kept in place until fn returns.  For background
 * write-back.  Returns 0.
 */
extern int exports_foreach_open (void (*fn) (struct export *e,
                                             void *opaque),
                                 void *opaque);

/* Call cb once for each export name in the bucket (exports only, not
 * snapshots), in order, without an open registry: for the admin
 * command.  0, or -1 after nbdkit_error with errno set.
 */
extern int export_list_names (struct store *store,
                              int (*cb) (void *opaque, const char *name),
                              void *opaque);

/* Call cb once for each export in the bucket, in name order. */
extern int exports_list (int (*cb) (void *opaque, const char *name),
                         void *opaque);

extern struct volume *export_volume (const struct export *e);
extern const char *export_name (const struct export *e);
/* NULL when opened read-only. */
extern const struct lease *export_lease (const struct export *e);

/* What clients asked of an export, for metrics: the plugin counts
 * each request with relaxed atomics (export_count), a scrape reads
 * them the same way.
 */
struct export_io {
  uint64_t reads, read_bytes;
  uint64_t writes, written_bytes;
  uint64_t zeroes, zeroed_bytes;        /* zero and trim */
  uint64_t flushes, flush_errors, flush_ns;
};
extern struct export_io *export_io (struct export *e);

static inline void
export_count (uint64_t *counter, uint64_t n)
{
  __atomic_fetch_add (counter, n, __ATOMIC_RELAXED);
}

/* 0, or -1 after nbdkit_error with errno EROFS (another server took
 * the lease over: permanent) or EIO (the lease could not be renewed:
 * writes fail until it is).
 */
extern int export_check_writable (struct export *e);

#endif /* S3BLOCKS_EXPORT_H */
