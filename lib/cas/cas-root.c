/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: reading and writing one cas root object (cas-tree.h).
 *
 * A root's PUT is the commit point of an export (or the creation of a
 * snapshot or clone), so it carries the writer's lease gate and, on
 * stores that can, a condition on the root it replaces: a writer that
 * lost its lease, or raced another, fails rather than overwriting.
 */

#include <config.h>

#include <errno.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "cas/cas-tree.h"

int
cas_root_read (struct store *store, const char *key, struct cas_root *r,
               char *etag, bool *found)
{
  /* One byte more than any root: a longer object is a damaged root,
   * not a store failure.
   */
  char buf[CAS_ROOT_MAX + 1];
  const char *why;
  size_t got = 0;
  int err;

  *found = false;
  err = store_get_etag (store, key, buf, sizeof buf, &got, etag);
  if (err == ENOENT)
    return 0;
  if (err) {
    errno = err;
    return -1;
  }
  if (got > CAS_ROOT_MAX)
    why = "it is longer than 4096 bytes";
  else if (cas_root_parse (buf, got, r, &why) == 0) {
    *found = true;
    return 0;
  }
  nbdkit_error ("cas root %s is damaged: %s", key, why);
  errno = EIO;
  return -1;
}

/* Whether err is the store's answer to condition, and which. */
static bool
put_answer (int err, enum store_condition condition,
            enum cas_root_put_outcome *outcome)
{
  if (err == EEXIST && condition == STORE_CREATE_ONLY)
    *outcome = CAS_ROOT_PUT_EXISTS;
  else if (err == ESTALE && condition == STORE_IF_MATCH)
    *outcome = CAS_ROOT_PUT_STALE;
  else if (err == ENOENT && condition == STORE_IF_MATCH)
    *outcome = CAS_ROOT_PUT_ABSENT;
  else
    return false;
  return true;
}

int
cas_root_write_etag (struct store *store, const char *key,
                     const struct cas_root *r, enum store_condition condition,
                     const char *if_match, const struct store_gate *gate,
                     char *etag, enum cas_root_put_outcome *outcome)
{
  char buf[CAS_ROOT_MAX];
  struct store_op op = {
    .kind = STORE_PUT, .buf = buf, .condition = condition, .gate = gate,
  };
  int len;

  len = cas_root_format (buf, sizeof buf, r);
  if (len == -1 || strlen (key) >= sizeof op.key) {
    nbdkit_error ("cas root %s for %s: the root or its key is too long",
                  key, r->name);
    errno = ENAMETOOLONG;
    return -1;
  }
  op.len = (size_t) len;
  strcpy (op.key, key);
  if (condition == STORE_IF_MATCH) {
    if (if_match == NULL || strlen (if_match) >= sizeof op.if_match) {
      nbdkit_error ("cas root %s: no usable ETag to match", key);
      errno = EINVAL;
      return -1;
    }
    strcpy (op.if_match, if_match);
  }
  store_run (store, &op, 1);
  if (op.err == ENOTSUP)
    nbdkit_error ("cas root %s: this store has no conditional PUT", key);
  if (etag) {
    if (op.err)
      etag[0] = '\0';
    else
      memcpy (etag, op.etag, STORE_ETAG_MAX);
  }
  if (op.err == 0) {
    *outcome = CAS_ROOT_PUT_WRITTEN;
    return 0;
  }
  if (put_answer (op.err, condition, outcome))
    return 0;
  /* The store's failure (logged), or the gate's refusal (its owner's
   * to explain).
   */
  errno = op.err;
  return -1;
}

int
cas_root_write (struct store *store, const char *key,
                const struct cas_root *r, enum store_condition condition,
                const char *if_match, const struct store_gate *gate,
                enum cas_root_put_outcome *outcome)
{
  return cas_root_write_etag (store, key, r, condition, if_match, gate,
                              NULL, outcome);
}
