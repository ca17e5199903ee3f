/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: a GET's destination, one buffer or scattered (sink.h). */

#include <config.h>

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "store/sink.h"

/* Move the cursor to byte pos: a new attempt starts again at 0.  The
 * bytes of one attempt come in order, so this is otherwise never
 * needed.
 */
static void
seek (struct store_sink *k, size_t pos)
{
  k->pos = 0;
  k->at = 0;
  k->at_off = 0;
  while (k->at < k->iovcnt && pos - k->pos >= k->iov[k->at].iov_len) {
    k->pos += k->iov[k->at].iov_len;
    k->at++;
  }
  k->at_off = pos - k->pos;
  k->pos = pos;
}

void
store_sink_copy (struct store_sink *k, size_t got, const void *data,
                 size_t n)
{
  const char *from = data;

  if (k->iov == NULL) {
    memcpy ((char *) k->buf + got, data, n);
    return;
  }
  if (got != k->pos)
    seek (k, got);
  while (n > 0 && k->at < k->iovcnt) {
    const struct iovec *v = &k->iov[k->at];
    size_t room = v->iov_len - k->at_off;
    size_t c = n < room ? n : room;

    memcpy ((char *) v->iov_base + k->at_off, from, c);
    from += c;
    n -= c;
    k->pos += c;
    k->at_off += c;
    if (k->at_off == v->iov_len) {
      k->at++;
      k->at_off = 0;
    }
  }
}

int
store_sink_check (const struct store_op *op)
{
  size_t total = 0;

  if (op->iov == NULL)
    return 0;
  if (op->kind != STORE_GET || op->buf != NULL || op->iovcnt == 0) {
    nbdkit_error ("%s %s: a scatter list is for a GET without a buffer, "
                  "and holds at least one", op->kind == STORE_GET ? "GET"
                  : op->kind == STORE_PUT ? "PUT" : "DELETE", op->key);
    return EINVAL;
  }
  for (unsigned i = 0; i < op->iovcnt; i++) {
    if (op->iov[i].iov_len > SIZE_MAX - total) {
      total = SIZE_MAX;
      break;
    }
    total += op->iov[i].iov_len;
  }
  if (total != op->len) {
    nbdkit_error ("GET %s: the scatter list holds %zu bytes, not the "
                  "%zu the op says", op->key, total, op->len);
    return EINVAL;
  }
  return 0;
}
