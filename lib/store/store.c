/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: single-request helpers over the store contract, and the
 * check every store makes of an op before sending it.
 */

#include <config.h>

#include <string.h>

#include <nbdkit-plugin.h>

#include "store/range.h"
#include "store/sink.h"
#include "store/store.h"
#include "store/store-debug.h"

/* nbdkit -D s3blocks.requests=1 (store-debug.h). */
NBDKIT_DLL_PUBLIC int s3blocks_debug_requests = 0;

int
store_op_check (const struct store_op *op)
{
  int err = store_range_check (op);

  return err ? err : store_sink_check (op);
}

static int
run_one (struct store *s, struct store_op *op, const char *key, size_t *got,
         char *etag)
{
  strncpy (op->key, key, sizeof op->key - 1);
  store_run (s, op, 1);
  if (got)
    *got = op->got;
  if (etag)
    memcpy (etag, op->etag, STORE_ETAG_MAX);
  return op->err;
}

int
store_get_etag (struct store *s, const char *key, void *buf, size_t len,
                size_t *got, char *etag)
{
  struct store_op op = { .kind = STORE_GET, .buf = buf, .len = len };

  return run_one (s, &op, key, got, etag);
}

int
store_get (struct store *s, const char *key, void *buf, size_t len,
           size_t *got)
{
  return store_get_etag (s, key, buf, len, got, NULL);
}

int
store_get_range (struct store *s, const char *key, uint64_t offset,
                 size_t len, void *buf, size_t *got)
{
  struct store_op op = {
    .kind = STORE_GET, .buf = buf, .len = len,
    .range_offset = offset, .range_len = len,
  };

  /* A range of 0 bytes would read the whole object into no room. */
  if (len == 0) {
    nbdkit_error ("GET %s: a ranged read of 0 bytes", key);
    if (got)
      *got = 0;
    return EINVAL;
  }
  return run_one (s, &op, key, got, NULL);
}

int
store_put_cond (struct store *s, const char *key, const void *buf,
                size_t len, enum store_condition condition,
                const char *if_match, char *etag)
{
  struct store_op op = {
    .kind = STORE_PUT, .buf = (void *) buf, .len = len,
    .condition = condition,
  };

  if (if_match)
    strncpy (op.if_match, if_match, sizeof op.if_match - 1);
  return run_one (s, &op, key, NULL, etag);
}

int
store_put (struct store *s, const char *key, const void *buf, size_t len)
{
  return store_put_cond (s, key, buf, len, STORE_ALWAYS, NULL, NULL);
}

int
store_delete (struct store *s, const char *key)
{
  struct store_op op = { .kind = STORE_DELETE };

  return run_one (s, &op, key, NULL, NULL);
}
