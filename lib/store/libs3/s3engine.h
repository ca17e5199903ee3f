/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: running S3 requests concurrently with libs3.
 *
 * The scheduler (store/sched.h) runs the requests: one I/O thread, at
 * most max_inflight in flight, batches served in turn, transient
 * failures (connection refused or reset, 5xx, SlowDown, timeout)
 * retried with backoff, a gate checked before each attempt of a PUT
 * or DELETE (other kinds' gates are ignored).  This engine gives it
 * one libs3 request context (a curl multi handle, whose connections
 * stay open between requests).  libs3 2.0 has no request timeout: a
 * request running longer than timeout_ms is abandoned (with the others
 * in flight: libs3 can only drop a whole context) and counts as a
 * failed attempt.
 *
 * Each store has its own engine (s3engine_new), so two stores share
 * nothing but libs3's global state.  nbdkit forks after .get_ready, so
 * the thread runs from s3engine_start to s3engine_stop; before
 * .get_ready's work starts it and stops it again, and .after_fork
 * starts it for good.
 */

#ifndef S3BLOCKS_S3ENGINE_H
#define S3BLOCKS_S3ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libs3.h>

#include "store/sched.h"
#include "store/sink.h"
#include "store/store.h"

struct s3engine_config {
  S3BucketContext bucket;
  const char *endpoint;         /* for messages */
  unsigned max_inflight;
  unsigned retries;
  unsigned retry_delay_ms;
  unsigned timeout_ms;
};

enum s3req_kind {
  S3REQ_GET,
  S3REQ_PUT,
  S3REQ_DELETE,
  S3REQ_LIST,
  S3REQ_CREATE_BUCKET,
};

struct s3list_item {
  char *key;
  uint64_t size;
  int64_t mtime;                /* Last-Modified, 0 if unknown */
  bool is_prefix;
};

struct s3engine;

struct s3req {
  /* In: */
  enum s3req_kind kind;
  const char *key;              /* GET, PUT, DELETE */
  struct store_sink dest;       /* GET: destination */
  void *buf;                    /* PUT: source */
  size_t len;                   /* GET: capacity; PUT: length */
  /* GET: range_len > 0 sends Range for the range_len bytes from
   * range_offset (len must be range_len: more is too_long).
   */
  uint64_t range_offset;
  size_t range_len;
  const char *prefix, *marker, *delimiter;  /* LIST */
  /* Override the configured retries (startup checks use fewer). */
  int retries;                  /* -1: the configured number */
  const struct store_gate *gate;  /* PUT, DELETE: NULL for none */

  /* Out: */
  S3Status status;              /* final status */
  int err;                      /* errno for it: 0, ENOENT, EACCES, EIO... */
  size_t got;                   /* GET: bytes received */
  bool too_long;                /* GET: object longer than len */
  uint64_t content_length;      /* GET: Content-Length, 0 if none */
  int64_t object_size;          /* GET: an error's ActualObjectSize, or -1 */
  bool gate_refused;            /* err is the gate's: not a store failure */
  char etag[STORE_ETAG_MAX];    /* GET: without quotes; "" if none.  PUT:
                                   always "" with libs3 2.0 (s3engine.c) */
  unsigned attempts;
  char detail[160];             /* the server's error message, if any */
  struct s3list_item *items;    /* LIST: this page */
  size_t nr_items;
  bool truncated;               /* LIST: more pages follow */
  char *next_marker;            /* LIST: where the next page starts */

  /* The engine's: */
  struct sched_req sched;       /* err, gate_refused, attempts from here */
  struct s3engine *engine;      /* libs3's callbacks find it here */
  size_t pos;
};

/* No thread, no request.  The strings cfg points to must outlive the
 * engine.  NULL after nbdkit_error.
 */
extern struct s3engine *s3engine_new (const struct s3engine_config *cfg);
/* Returns 0 (also if already started), or -1 after nbdkit_error. */
extern int s3engine_start (struct s3engine *e);
/* Waits for submitted batches to finish, then stops the thread. */
extern void s3engine_stop (struct s3engine *e);
/* Stops first if started. */
extern void s3engine_free (struct s3engine *e);

/* Run n requests to completion (the engine must be started).  Their
 * outcome is in each request; nothing is logged.  Any number of
 * threads may call it at once.
 */
extern void s3engine_run (struct s3engine *e, struct s3req *reqs, size_t n);

/* Free a LIST request's results. */
extern void s3req_free_list (struct s3req *r);

extern const char *s3req_kind_name (enum s3req_kind kind);

/* status -> errno, and whether a retry may help (s3status.c). */
extern int s3status_to_errno (S3Status status);
extern bool s3status_is_transient (S3Status status);
extern bool s3status_is_credentials (S3Status status);

#endif /* S3BLOCKS_S3ENGINE_H */
