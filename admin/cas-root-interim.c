/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): INTERIM cas_root_read/cas_root_write,
 * to the contract of plugin/cas-tree.h, until plugin/cas-root.c lands
 * from the cascore branch; removed at that merge.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "cas-tree.h"

int
cas_root_read (struct store *store, const char *key, struct cas_root *r,
               char *etag)
{
  char buf[CAS_ROOT_MAX], tag[STORE_ETAG_MAX];
  const char *why;
  size_t got;
  int err = store_get_etag (store, key, buf, sizeof buf, &got, tag);

  if (err == ENOENT)
    return ENOENT;
  if (err) {
    nbdkit_error ("cannot read %s: %s", key, strerror (err));
    errno = err;
    return -1;
  }
  if (cas_root_parse (buf, got, r, &why) == -1) {
    nbdkit_error ("%s is damaged: %s", key, why);
    errno = EIO;
    return -1;
  }
  if (etag)
    memcpy (etag, tag, STORE_ETAG_MAX);
  return 0;
}

int
cas_root_write (struct store *store, const char *key,
                const struct cas_root *r, enum store_condition condition,
                const char *if_match, const struct store_gate *gate)
{
  char buf[CAS_ROOT_MAX];
  int len = cas_root_format (buf, sizeof buf, r);
  struct store_op op = {
    .kind = STORE_PUT, .buf = buf, .condition = condition, .gate = gate,
  };

  if (len < 0) {
    nbdkit_error ("%s: root too long", key);
    return ENAMETOOLONG;
  }
  op.len = len;
  snprintf (op.key, sizeof op.key, "%s", key);
  if (if_match)
    snprintf (op.if_match, sizeof op.if_match, "%s", if_match);
  store_run (store, &op, 1);
  return op.err;
}
