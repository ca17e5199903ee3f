/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: what lease.c (taking and giving back a lease) and
 * leasekeeper.c (keeping it: renewal, the deadline, fencing) share.
 *
 * Locking: lease_lock guards lease_list and every lease's busy count
 * and next.  No request is ever made with it held.  The other fields
 * are set by lease_acquire before the lease is listed, then touched
 * by the keeper only, except the atomics, which lease_check reads from
 * any thread.
 */

#ifndef S3BLOCKS_LEASE_IMPL_H
#define S3BLOCKS_LEASE_IMPL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "clock.h"
#include "format/keys.h"
#include "lease/lease.h"
#include "lease/leaseinfo.h"
#include "store/store.h"

struct lease {
  struct store *store;
  char *export_name;
  char key[KEY_MAX];
  unsigned lease_ms;
  unsigned margin_ms;
  bool conditional;             /* the store has conditional PUT */
  struct lease_info self;       /* who we say we are; times per write */
  bool own_pid;                 /* self.pid follows getpid () (fork) */
  struct store_gate gate;

  /* Atomics: lease_check reads them from any thread. */
  uint64_t deadline_ns;         /* monotonic; valid before it */
  int lost;                     /* the lease was taken over */
  uint64_t renewals;            /* the keeper's, for metrics */
  uint64_t renew_failures;
  uint64_t refusals;            /* the gate's (store.h), for metrics */

  /* lease_acquire's, then the keeper's. */
  char etag[STORE_ETAG_MAX];    /* of the lease as last written or read */
  bool paused;                  /* logged that uploads are paused */

  /* Under lease_lock. */
  unsigned busy;                /* the keeper is renewing it */
  struct lease *next;
};

extern pthread_mutex_t lease_lock;
extern pthread_cond_t lease_idle_cond;  /* a busy count fell */
extern struct lease *lease_list;

/* "host h, pid p, renewed x s ago, expires in y s", for messages. */
extern void lease_describe (char *buf, size_t size,
                            const struct lease_info *info);

/* What lease_read found. */
enum lease_object {
  LEASE_OBJECT_VALID,           /* parsed into *info */
  LEASE_OBJECT_ABSENT,          /* no lease object */
  LEASE_OBJECT_MALFORMED,       /* there, but it does not parse: *why
                                   says why; no server wrote it */
};

/* Read the lease object, its raw bytes (raw: LEASE_MAX) and its ETag
 * into l->etag.  Returns 0 with *found saying what is there, or -1
 * with errno the store's after the store's message (the callers add
 * what they were doing, or retry quietly).  README.md, "Errors".
 */
extern int lease_read (struct lease *l, enum lease_object *found,
                       struct lease_info *info, char *raw, size_t *raw_len,
                       const char **why);

/* What lease_write's PUT found: the store's answers (store.h), none
 * of them a failure.
 */
enum lease_put_outcome {
  LEASE_PUT_WRITTEN,            /* written; l->etag is its ETag */
  LEASE_PUT_EXISTS,             /* STORE_CREATE_ONLY: a lease is there */
  LEASE_PUT_STALE,              /* STORE_IF_MATCH: it changed since
                                   l->etag */
  LEASE_PUT_ABSENT,             /* STORE_IF_MATCH: there is none */
};

/* Write our lease with a condition (ignored by a store without
 * conditional PUT), recording when the PUT started.  Returns 0 with
 * *outcome saying what the PUT found, or -1 with errno set: the
 * store's after its message, or ENAMETOOLONG, unsaid, for a lease that
 * does not fit LEASE_MAX (the callers say what they were doing, or
 * retry quietly).  README.md, "Errors".  *outcome is set when it
 * returns 0.
 */
extern int lease_write (struct lease *l, enum store_condition cond,
                        uint64_t *started, enum lease_put_outcome *outcome);

/* A write whose PUT started at started succeeded: the lease is valid
 * until started + lease_ms - margin.
 */
extern void lease_renewed (struct lease *l, uint64_t started);

/* lease_check for a store_gate: its opaque is the lease. */
extern int lease_gate_check (void *opaque);

#endif /* S3BLOCKS_LEASE_IMPL_H */
