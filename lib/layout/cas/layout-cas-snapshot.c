/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: opening EXPORT@SNAP, a cas or log snapshot, read-only.
 * Its root says its size, block size and leaf kind, so opening it
 * costs that one GET, and the volume over it is built from what the
 * root says: a root saying "leaf location" is a log export's snapshot,
 * opened in the log layout (docs/log-layout.md, "gc": a log root's
 * copy is a log root).
 */

#include <config.h>

#include <errno.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "cas/cas-tree.h"
#include "format/cas-format.h"
#include "format/keys.h"
#include "layout/layout.h"

struct layout *
layout_cas_open_snapshot (struct store *store, const char *ref,
                          const struct layout_cas_params *params,
                          uint64_t *size, uint32_t *block_size)
{
  char key[KEY_MAX + NAME_REF_MAX];
  char etag[STORE_ETAG_MAX];
  struct cas_root root;
  struct layout_cas_params cp = *params;
  bool found;

  if (cas_root_key_of (key, sizeof key, ref) == -1 ||
      strlen (key) >= KEY_MAX) {
    nbdkit_error ("snapshot %s: its name is too long for a key", ref);
    errno = ENAMETOOLONG;
    return NULL;
  }
  if (cas_root_read (store, key, &root, etag, &found) == -1)
    return NULL;
  if (!found) {
    nbdkit_error ("snapshot %s does not exist (no snapshot root %s); "
                  "the admin command lists an export's snapshots",
                  ref, key);
    errno = ENOENT;
    return NULL;
  }
  if (root.kind != CAS_ROOT_SNAPSHOT) {
    nbdkit_error ("snapshot %s: %s is not a snapshot's root", ref, key);
    errno = EINVAL;
    return NULL;
  }

  /* A snapshot is never rewritten: no gate, no lease, no creation. */
  struct layout_params lp = {
    .export_name = ref, .block_size = root.block_size, .readonly = true,
  };
  if (root.leaf == CAS_LEAF_LOCATION) {
    struct layout_log_params logp = {
      .root_key = key, .size = root.size, .root = &root,
      .root_etag = etag, .map_cache_bytes = cp.map_cache_bytes,
      .reuse_window_ms = cp.reuse_window_ms,
      .request_bound_ms = cp.request_bound_ms,
      .commit_bound_ms = cp.commit_bound_ms,
      .clock_ms = cp.clock_ms, .sleep_ms = cp.sleep_ms,
    };

    *size = root.size;
    *block_size = root.block_size;
    return layout_log_open (store, &lp, &logp);
  }
  cp.root_key = key;
  cp.root = &root;
  cp.root_etag = etag;
  cp.size = root.size;
  cp.create = false;
  *size = root.size;
  *block_size = root.block_size;
  return layout_cas_open (store, &lp, &cp);
}
