/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: what export.c uses from export-meta.c (private to lib/export/).
 *
 * These make store requests and take no lock: export.c calls them
 * with none of its own held.
 */

#ifndef S3BLOCKS_EXPORT_IMPL_H
#define S3BLOCKS_EXPORT_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "config/options.h"
#include "format/meta.h"
#include "store/store.h"

/* Work out the export's size, block size and layout from its metadata
 * object and the configuration.  *new_size is what to resize to after
 * the allocation map is loaded (0: nothing), *dirty_meta whether the
 * metadata object must be (re)written: with *new_size 0, the export is
 * new (or adopted from an older tool's blocks).  0, or -1 after
 * nbdkit_error with errno set.
 */
extern int export_meta_resolve (struct store *store,
                                const struct s3blocks_config *cfg,
                                const char *name, bool readonly,
                                struct export_meta *m, uint64_t *new_size,
                                bool *dirty_meta);

/* Write the metadata object.  0, or -1 after nbdkit_error. */
extern int export_meta_write (struct store *store, const char *name,
                              const struct export_meta *m);

#endif /* S3BLOCKS_EXPORT_IMPL_H */
