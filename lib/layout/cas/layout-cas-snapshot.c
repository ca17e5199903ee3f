/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: opening EXPORT@SNAP, a cas snapshot, read-only.  Its root
 * says its size and block size, so opening it costs that one GET, and
 * the volume over it is built from what the root says.
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
  cp.root_key = key;
  cp.root = &root;
  cp.root_etag = etag;
  cp.size = root.size;
  cp.create = false;
  *size = root.size;
  *block_size = root.block_size;
  return layout_cas_open (store, &lp, &cp);
}
