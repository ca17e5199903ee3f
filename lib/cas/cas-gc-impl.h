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
#include "format/log-format.h"

struct gc {
  struct store *store;
  const struct gc_params *p;
  struct gc_result *res;
  struct hset pages, data;
  struct hset segs;             /* segment ids, as seg_mark_hash gives */
  struct hset read;             /* hashes of "key incarnation" */
  struct hset root_names;       /* hashes of the export names with a root */
};

/* What a swept prefix holds. */
enum gc_kind {
  GC_PAGES,                     /* cas/pages/ */
  GC_DATA,                      /* cas/data/ */
  GC_SEGS,                      /* log/segs/ */
};

/* The hset key of a segment id: its 16 bytes, then zeros (one id, one
 * key; the sets of contents and pages are separate sets).
 */
extern void seg_mark_hash (const uint8_t id[LOG_SEG_ID_LEN],
                           struct cas_hash *h);

/* Tell the progress callback, if any, how far phase is. */
extern void gc_progress (const struct gc *g, const char *phase,
                         uint64_t done);

/* Sweep the prefix of kind in fenced chunks, adding the keys dealt
 * with to *done (the progress display's count); 0, or -1 after a
 * message.
 */
extern int gc_sweep_prefix (struct gc *g, const struct gc_params *p,
                            enum gc_kind kind, uint64_t *done);
/* Delete the sweep markers older than the retention; 0, or -1 after a
 * message.
 */
extern int gc_expire_markers (struct gc *g, const struct gc_params *p);

#endif /* S3BLOCKS_CAS_GC_IMPL_H */
