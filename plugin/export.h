/* s3blocks: the exports this server has opened, by name (export.c). */

#ifndef S3BLOCKS_EXPORT_H
#define S3BLOCKS_EXPORT_H

#include <stdbool.h>

#include "config.h"
#include "store.h"
#include "volume.h"

struct export;

extern void exports_init (struct store *store,
                          const struct s3blocks_config *cfg);
/* Flush and free every export, releasing leases. */
extern void exports_cleanup (void);

/* Open (or share) an export; NULL after nbdkit_error on failure. */
extern struct export *export_open (const char *name, bool readonly);
/* The last close flushes it. */
extern void export_close (struct export *e);

/* Call cb for each export in the bucket (a name may come twice: once
 * from its metadata, once from its blocks).
 */
extern int exports_list (int (*cb) (void *opaque, const char *name),
                         void *opaque);

extern struct volume *export_volume (const struct export *e);

/* -1 (errno EROFS) if another server has taken over the lease. */
extern int export_check_writable (const struct export *e);

#endif /* S3BLOCKS_EXPORT_H */
