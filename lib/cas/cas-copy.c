/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): a new root from a source root, for
 * snapshot and clone.  No content is copied: the new root names the
 * source's top page, so a snapshot or clone costs a fixed number of
 * requests whatever the export's size (GET source, PUT new root, GET
 * source again; plus a GET of the destination on a store without
 * conditional PUT).
 *
 * The verify step: read the source root (ETag E) -> write the new
 * root -> read the source again: if it is gone or its ETag (or
 * content) is not E's, delete the new root and start again, at most
 * CAS_COPY_TRIES times.  Only a new root whose source is proven
 * unchanged is kept: that is what makes gc safe beside snapshots and
 * clones (docs/gc-safety.md, step 7).
 *
 * The destination is created with If-None-Match where the store has
 * conditional PUT, so two copies racing for one name cannot both win;
 * elsewhere its absence is checked first (a narrow window remains,
 * said in s3blocks(1)).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "cas/cas-admin.h"
#include "cas/cas-tree.h"

static bool
same_version (const struct cas_root *a, const struct cas_root *b)
{
  return strcmp (a->incarnation, b->incarnation) == 0
    && a->generation == b->generation && a->empty == b->empty
    && a->depth == b->depth && a->committed == b->committed
    && (a->empty || cas_hash_equal (&a->top, &b->top));
}

int
cas_copy_root (struct store *store, struct cas_copy *c, bool *made)
{
  const bool cond = store_can (store, STORE_CAP_CONDITIONAL_PUT);

  *made = false;
  for (c->tries = 1; c->tries <= CAS_COPY_TRIES; c->tries++) {
    struct cas_root src, again, *nr = &c->root;
    char etag[STORE_ETAG_MAX] = "", etag2[STORE_ETAG_MAX] = "";
    enum cas_root_put_outcome put;
    bool found;
    int err, verify, verify_errno;

    if (cas_root_read (store, c->src_key, &src, etag, &found) == -1)
      return -1;
    if (!found) {
      nbdkit_error ("%s: no such cas %s (%s is missing)", c->src_name,
                    name_text_is_snapshot (c->src_name) ? "snapshot" : "export",
                    c->src_key);
      errno = ENOENT;
      return -1;
    }
    if (c->log_refused_by &&
        cas_root_refused_by (&src, c->src_name, c->log_refused_by))
      return 0;                 /* refused */
    if (!cond) {
      struct cas_root dst;

      if (cas_root_read (store, c->dst_key, &dst, NULL, &found) == -1)
        return -1;
      if (found) {
        nbdkit_error ("%s: refused: it exists (%s)", c->dst_name, c->dst_key);
        return 0;               /* refused */
      }
    }

    *nr = src;
    nr->kind = c->kind;
    snprintf (nr->name, sizeof nr->name, "%s", c->dst_name);
    snprintf (nr->parent, sizeof nr->parent, "%s", c->src_name);
    if (cas_new_incarnation (nr->incarnation) == -1)
      return -1;
    if (!c->keep_generation)
      nr->generation = 0;
    nr->created = nr->committed = cas_now ();

    if (cas_root_write (store, c->dst_key, nr,
                        cond ? STORE_CREATE_ONLY : STORE_ALWAYS, NULL, NULL,
                        &put) == -1)
      return -1;
    if (put == CAS_ROOT_PUT_EXISTS) {
      nbdkit_error ("%s: refused: it exists (%s)", c->dst_name, c->dst_key);
      return 0;               /* refused */
    }

    /* The verify step.  A failed read is judged after the delete. */
    verify = cas_root_read (store, c->src_key, &again, etag2, &found);
    verify_errno = errno;
    if (verify == 0 && found && strcmp (etag, etag2) == 0 &&
        same_version (&src, &again)) {
      *made = true;
      return 0;
    }

    err = store_delete (store, c->dst_key);
    if (err) {
      nbdkit_error ("%s: could not verify the copy, and could not delete "
                    "%s again (%s): delete it with \"s3blocks delete --yes "
                    "%s\" before gc runs", c->dst_name, c->dst_key,
                    strerror (err), c->dst_name);
      return -1;
    }
    if (verify == -1) {
      errno = verify_errno;
      return -1;
    }
    if (!found) {
      nbdkit_error ("%s: %s was deleted during the copy: nothing made",
                    c->dst_name, c->src_name);
      return 0;               /* refused */
    }
    nbdkit_debug ("%s: %s committed during the copy (generation %" PRIu64
                  " -> %" PRIu64 "): trying again", c->dst_name,
                  c->src_name, src.generation, again.generation);
  }
  nbdkit_error ("%s: %s changed during each of %d tries: nothing made; "
                "try again (its server commits more often than a copy "
                "takes)", c->dst_name, c->src_name, CAS_COPY_TRIES);
  c->tries = CAS_COPY_TRIES;
  return 0;                     /* refused */
}
