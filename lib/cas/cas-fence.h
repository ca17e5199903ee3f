/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the sweep fence between gc (cas-gc.c) and commits
 * (layout/cas/layout-cas-commit.c): the markers gc writes around each
 * chunk of its sweep, and a server's view of them (a "quiet run").
 * Why it is needed and why it works: docs/gc-safety.md, step 9.
 */

#ifndef S3BLOCKS_CAS_FENCE_H
#define S3BLOCKS_CAS_FENCE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/store.h"
#include "vector.h"

/* The markers' keys (docs/bucket-format.md): {id}.running while a
 * chunk may delete, then {id}.done; id is 32 random hex digits.
 */
#define CAS_SWEEPS_PREFIX "cas/gc/sweeps/"
#define CAS_SWEEP_ID_LEN 32
#define CAS_SWEEP_RUNNING ".running"
#define CAS_SWEEP_DONE ".done"

/* gc starts no DELETE batch once this long has passed since it began
 * the chunk's .running PUT.
 */
#define CAS_SWEEP_CHUNK_LIMIT_MS 20000
/* gc deletes markers older than this (by the S3 clock) when it starts;
 * a server's quiet run lasts only while its LISTs are closer together
 * than half of it.
 */
#define CAS_MARKER_RETENTION_S (24 * 3600)
/* A commit waiting for a chunk to end LISTs again this often. */
#define CAS_FENCE_WAIT_MS 500

/* The key of a marker.  id: CAS_SWEEP_ID_LEN hex digits. */
extern int cas_sweep_marker_key (char *buf, size_t size, const char *id,
                                 bool done);
/* A key under CAS_SWEEPS_PREFIX: its id and state.  false: not a
 * marker (left alone).
 */
extern bool cas_sweep_marker_parse (const char *key,
                                    char id[CAS_SWEEP_ID_LEN + 1],
                                    bool *done);

struct cas_fence_id {
  char id[CAS_SWEEP_ID_LEN + 1];
  uint64_t first_ms;            /* running: when first seen (LIST end) */
};
/* Sorted by id, as a LIST gives them. */
DEFINE_VECTOR (cas_fence_ids, struct cas_fence_id);

/* A server's view of the markers.  Not locked: one commit at a time
 * (and load_map before any) uses it.
 */
struct cas_fence {
  uint64_t stale_ms;            /* a .running seen this long: ignored */
  uint64_t retention_ms;        /* CAS_MARKER_RETENTION_S, in ms */
  bool in_run;
  uint64_t quiet_since;         /* the run's start (see cas-fence.c) */
  uint64_t last_list_ms;        /* start of the run's last LIST */
  struct cas_fence_ids ids;     /* every id the run has seen */
  struct cas_fence_ids running; /* .running ids seen by the last LIST */
};

enum cas_fence_state {
  CAS_FENCE_BUSY,               /* a chunk is running: no run */
  CAS_FENCE_NEW_RUN,            /* quiet; a run starts at this LIST */
  CAS_FENCE_CONTINUES,          /* quiet; the run goes on */
};

/* request_bound_ms: one request's worst case (retry_worst_case_ms). */
extern void cas_fence_init (struct cas_fence *f, uint64_t request_bound_ms);
extern void cas_fence_free (struct cas_fence *f);

/* One LIST of CAS_SWEEPS_PREFIX, timed with clock_ms (monotonic).
 * Returns 0 with *state saying what it found, or -1 with errno set
 * after a message naming label (README.md, "Errors").
 */
extern int cas_fence_list (struct cas_fence *f, struct store *store,
                           uint64_t (*clock_ms) (void), const char *label,
                           enum cas_fence_state *state);

#endif /* S3BLOCKS_CAS_FENCE_H */
