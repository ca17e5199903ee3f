/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the single-writer lease on an export (lease.c).
 *
 * Fencing: a server uploads, deletes and commits an export's data only
 * while lease_check says so.  The answer is one of
 *   0       the lease is ours and was renewed recently enough that it
 *           cannot expire before a request starting now has ended
 *   EROFS   another server has taken the lease over: permanent; dirty
 *           data stays in memory and is never uploaded
 *   EIO     the lease could not be renewed in time (S3 unreachable):
 *           uploads pause, the keeper goes on trying, and a renewal
 *           that finds the lease still ours lifts the pause
 * lease_check is lock-free and cheap: it is called before every upload
 * attempt (through lease_gate) and by every write.
 */

#ifndef S3BLOCKS_LEASE_H
#define S3BLOCKS_LEASE_H

#include <stdbool.h>
#include <stdint.h>

#include "store/store.h"

struct lease;

struct lease_params {
  const char *export_name;
  unsigned lease_ms;            /* lifetime of one renewal */
  unsigned request_ms;          /* longest one request attempt may take:
                                   the fencing margin */
  bool take_over;               /* take over a lease held elsewhere now */
};

/* Take the export's lease.  A lease held by this host's process that
 * is gone (same machine id, boot id and pid namespace, no such nbdkit
 * process) is taken over at once, and logged.  One held by another
 * host is waited for until it expires (logging how long), unless it is
 * renewed meanwhile, which proves its holder alive: then NULL.  On
 * failure NULL after nbdkit_error naming the holder, errno EBUSY.
 * Blocks for up to lease_ms: call it with no lock held.
 */
extern struct lease *lease_acquire (struct store *store,
                                    const struct lease_params *params);

/* Delete the lease object if it is still ours, and free. */
extern void lease_release (struct lease *l);

/* 0, EROFS or EIO: see above. */
extern int lease_check (const struct lease *l);

/* Milliseconds until the lease stops covering uploads (negative: that
 * long past it), unless renewed meanwhile.  Lock-free, for metrics.
 */
extern int64_t lease_ms_left (const struct lease *l);

/* The keeper's renewals of the lease that succeeded, and attempts
 * that failed (each retried soon).  Lock-free, for metrics.
 */
extern void lease_renewal_counts (const struct lease *l, uint64_t *renewals,
                                  uint64_t *failures);

/* A gate for store ops that checks this lease before every attempt. */
extern const struct store_gate *lease_gate (const struct lease *l);

/* The thread renewing every lease held (from .after_fork to .cleanup,
 * after the exit flush).  It holds no lock across a request.
 */
extern int lease_keeper_start (void);
extern void lease_keeper_stop (void);

#endif /* S3BLOCKS_LEASE_H */
