/* s3blocks: the single-writer lease on an export (lease.c). */

#ifndef S3BLOCKS_LEASE_H
#define S3BLOCKS_LEASE_H

#include <stdbool.h>

#include "store.h"

struct lease;

/* Take the export's lease, or fail (NULL, after nbdkit_error naming the
 * holder) if another server holds it.  A stale lease is taken over only
 * with take_over.
 */
extern struct lease *lease_acquire (struct store *store,
                                    const char *export_name,
                                    unsigned lease_ms, bool take_over);
/* Delete the lease object if it is still ours, and free. */
extern void lease_release (struct lease *l);
/* Has another server taken it over since? */
extern bool lease_is_lost (const struct lease *l);

/* The thread renewing every lease held (from .after_fork to .cleanup). */
extern int lease_keeper_start (void);
extern void lease_keeper_stop (void);

#endif /* S3BLOCKS_LEASE_H */
