/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: what gc's mark (cas-gc.c) and sweep (cas-sweep.c) share;
 * for lib/cas/ only.
 */

#ifndef S3BLOCKS_CAS_GC_IMPL_H
#define S3BLOCKS_CAS_GC_IMPL_H

#include <stdbool.h>

#include "cas/cas-admin.h"

struct gc {
  struct store *store;
  struct gc_result *res;
  struct hset pages, data;
  struct hset read;             /* hashes of "key incarnation" */
  struct hset root_names;       /* hashes of the export names with a root */
};

/* Sweep PREFIX (cas/pages/ when pages, else cas/data/) in fenced
 * chunks; 0, or -1 after a message.
 */
extern int gc_sweep_prefix (struct gc *g, const struct gc_params *p,
                            const char *prefix, bool pages);
/* Delete the sweep markers older than the retention; 0, or -1 after a
 * message.
 */
extern int gc_expire_markers (struct gc *g, const struct gc_params *p);

#endif /* S3BLOCKS_CAS_GC_IMPL_H */
