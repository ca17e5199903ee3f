/* s3blocks: single-request helpers over the store interface. */

#include <string.h>

#include "store.h"

static int
run_one (struct store *s, enum store_op_kind kind, const char *key,
         void *buf, size_t len, size_t *got)
{
  struct store_op op;

  memset (&op, 0, sizeof op);
  op.kind = kind;
  strncpy (op.key, key, sizeof op.key - 1);
  op.buf = buf;
  op.len = len;
  store_run (s, &op, 1);
  if (got)
    *got = op.got;
  return op.err;
}

int
store_get (struct store *s, const char *key, void *buf, size_t len,
           size_t *got)
{
  return run_one (s, STORE_GET, key, buf, len, got);
}

int
store_put (struct store *s, const char *key, const void *buf, size_t len)
{
  return run_one (s, STORE_PUT, key, (void *) buf, len, NULL);
}

int
store_delete (struct store *s, const char *key)
{
  return run_one (s, STORE_DELETE, key, NULL, 0, NULL);
}
