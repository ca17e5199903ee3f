/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the store interface in memory, with faults. */

#ifndef S3BLOCKS_MEMSTORE_H
#define S3BLOCKS_MEMSTORE_H

#include <stddef.h>
#include <stdint.h>

#include <stdbool.h>

#include "store/store.h"

struct memstore;

extern struct memstore *memstore_new (void);
extern struct store *memstore_store (struct memstore *m);
/* (memstore_store (m))->ops->close frees it. */

/* Direct access, bypassing counters and faults. */
extern void memstore_set (struct memstore *m, const char *key,
                          const void *data, size_t len);
/* Returns the length, or -1 if absent; copies at most size bytes. */
extern long memstore_peek (struct memstore *m, const char *key,
                           void *buf, size_t size);
extern size_t memstore_count (struct memstore *m, const char *prefix);
/* The last key under prefix, in key order, into key (size bytes);
 * false if there is none.
 */
extern bool memstore_last_key (struct memstore *m, const char *prefix,
                               char *key, size_t size);

/* Requests seen, by kind, since the last reset.  A ranged GET counts
 * in range_gets, not gets; one refused before any request (EINVAL)
 * counts nowhere.  Ranged GETs follow store.h's contract: a range
 * past the end fails with EIO (logged), a short one returns fewer
 * bytes.  range_bytes adds up the range_len of every ranged GET
 * counted (what was asked for, not what came back), so a test can
 * tell a GET of one block from a GET of more.  runs counts store_run
 * calls (batches, even of 0 ops), so a test can tell one parallel
 * batch from several rounds.
 */
struct memstore_counts {
  uint64_t gets, puts, deletes, lists, range_gets;
  uint64_t range_bytes;
  uint64_t runs;
};
extern struct memstore_counts memstore_counts (struct memstore *m);
extern void memstore_reset_counts (struct memstore *m);

/* Make the next n requests of a kind fail with err (n < 0: all of
 * them, until cleared with n = 0).
 */
extern void memstore_fail (struct memstore *m, enum store_op_kind kind,
                           int n, int err);
/* Make listing fail with err (0: stop). */
extern void memstore_fail_list (struct memstore *m, int err);

/* Run hook once, at the start of the next batch, as if during its
 * requests (the volume's lock is not held then).
 */
extern void memstore_set_hook (struct memstore *m,
                               void (*hook) (void *opaque), void *opaque);

/* Capabilities advertised (default: STORE_CAP_CONDITIONAL_PUT, which
 * it honours; s3rver and libs3 have none).
 */
extern void memstore_set_caps (struct memstore *m, unsigned caps);

/* Simulate the server going away after n more requests: every request
 * after those fails with EIO and changes nothing (n < 0: never).  A
 * crash of the plugin at that point leaves exactly what is stored.
 */
extern void memstore_crash_after (struct memstore *m, int64_t requests);

/* One transient fault: the request after the next n (counted as
 * memstore_crash_after counts them) fails with err and changes
 * nothing; the ones after it succeed again.  n < 0: none.
 */
extern void memstore_fail_at (struct memstore *m, int64_t requests, int err);

/* One lost answer: the request after the next n is done (a PUT
 * stored, a DELETE deleted) but answers err, as when a connection
 * drops after the server acted.  LISTs are not counted.  n < 0: none.
 */
extern void memstore_lose_answer_at (struct memstore *m, int64_t requests,
                                     int err);

/* The server's clock, in seconds since 1970: every PUT (and
 * memstore_set) stamps its object's Last-Modified with it, and LIST
 * reports it as the entry's mtime.  It starts at MEMSTORE_EPOCH and
 * moves only when a test moves it.
 */
#define MEMSTORE_EPOCH 1800000000
extern void memstore_set_clock (struct memstore *m, int64_t now);
extern int64_t memstore_clock (struct memstore *m);
extern void memstore_advance_clock (struct memstore *m, int64_t seconds);
/* Set one object's Last-Modified: 0, or -1 if absent. */
extern int memstore_set_mtime (struct memstore *m, const char *key,
                               int64_t mtime);

/* GETs (whole and ranged) + PUTs + DELETEs + LISTs counted so far. */
extern uint64_t memstore_requests (struct memstore *m);

#endif /* S3BLOCKS_MEMSTORE_H */
