/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the server's metrics, in the Prometheus text format.
 *
 * metrics_collect copies the counters that exist anyway (the store's,
 * store-stats.h; each open export's volume and layout statistics,
 * volume.h; the clients' requests, export_io in export.h; the lease's
 * deadline) into a snapshot, and metrics_render writes the snapshot
 * out.  Collecting makes no store request and holds each lock only for
 * a copy (the volume's while it counts its dirty and clean blocks);
 * rendering touches nothing shared, which is what lets the unit tests
 * render made-up snapshots.  docs/nbdkit-s3blocks-plugin.pod lists
 * every metric.
 */

#ifndef S3BLOCKS_METRICS_H
#define S3BLOCKS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/options.h"
#include "export/export.h"
#include "promtext.h"
#include "store/store-stats.h"
#include "volume/volume.h"

struct metrics_export {
  char *name;
  struct volume_stats volume;
  struct export_io io;
  bool leased;                  /* opened read-write, with a lease */
  int lease_state;              /* lease_check's: 0, EROFS, EIO */
  int64_t lease_ms_left;
  uint64_t dirty_age_ms;        /* of the oldest dirty block; 0: none */
  uint64_t lease_renewals, lease_renew_failures;
  uint64_t lease_refusals;      /* uploads the lease's gate refused */
};

struct metrics_snapshot {
  const char *version;
  const char *store_type;
  const char *layout;           /* of new exports (layout=) */
  uint64_t max_dirty, cache_size;
  struct store_stats store;
  struct metrics_export *exports;
  size_t nr_exports;
};

/* Fill *snap from the store and the open exports (exports_init's).
 * 0, or -1 with errno ENOMEM (*snap then needs no freeing).
 */
extern int metrics_collect (struct store *store,
                            const struct s3blocks_config *cfg,
                            const char *store_type,
                            struct metrics_snapshot *snap);
extern void metrics_snapshot_free (struct metrics_snapshot *snap);

extern void metrics_render (const struct metrics_snapshot *snap,
                            struct promtext *p);

/* Collect and render into a new string (free it), or NULL with errno
 * ENOMEM.  *len gets its length.
 */
extern char *metrics_text (struct store *store,
                           const struct s3blocks_config *cfg,
                           const char *store_type, size_t *len);

#endif /* S3BLOCKS_METRICS_H */
