/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: where a GET's body goes, the part every store shares: one
 * buffer, or the buffers of an iovec array filled in order (a scatter
 * GET, store.h), and the check made before any request.
 *
 * A store's client library hands it the body in pieces of its own
 * sizes; store_sink_copy puts each where it belongs.  The sink keeps a
 * cursor, so a body of many small buffers costs one pass over them,
 * not one per piece.
 */

#ifndef S3BLOCKS_STORE_SINK_H
#define S3BLOCKS_STORE_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/uio.h>

#include "store/store.h"

struct store_sink {
  void *buf;                    /* one buffer, or NULL */
  const struct iovec *iov;      /* or these, in order, when buf is NULL */
  unsigned iovcnt;
  /* The cursor: byte pos of the body goes to iov[at] at at_off. */
  size_t pos;
  unsigned at;
  size_t at_off;
};

/* The sink of a GET op: its buf, or its iov. */
static inline struct store_sink
store_sink_of (const struct store_op *op)
{
  struct store_sink k = {
    .buf = op->iov ? NULL : op->buf,
    .iov = op->iov, .iovcnt = op->iovcnt,
  };
  return k;
}

static inline bool
store_sink_is_set (const struct store_sink *k)
{
  return k->buf != NULL || k->iov != NULL;
}

/* Put the n bytes at byte got of the body.  The caller has checked
 * that got + n is within the sink's capacity (the op's len); a new
 * attempt (got back at 0) rewinds the cursor.
 */
extern void store_sink_copy (struct store_sink *k, size_t got,
                             const void *data, size_t n);

/* Whether op's scatter list, if any, may be used: 0, or EINVAL after
 * nbdkit_error naming the key (a caller's bug, so no request is made).
 */
extern int store_sink_check (const struct store_op *op);

#endif /* S3BLOCKS_STORE_SINK_H */
