/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): snapshot EXPORT SNAP.
 *
 * EXPORT@SNAP is a new root, cas/snaps/EXPORT/SNAP, naming the tree of
 * EXPORT's last commit: GET the export's metadata, GET its root, PUT
 * the snapshot's root, GET the export's root again (cas-copy.c).  What
 * the export's server has not committed yet (not flushed) is not in
 * the snapshot.  A plain export has no trees to share: it is refused,
 * with the way to get one (clone it into the cas layout first).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "admin.h"
#include "cas/cas-admin.h"
#include "format/keys.h"

int
verb_snapshot (struct admin *a, int argc, char **argv)
{
  struct export_info info;
  char src[KEY_MAX], dst[KEY_MAX], name[NAME_REF_MAX];
  struct cas_copy c;
  bool found, made;

  if (argc != 2) {
    nbdkit_error ("snapshot takes an export and a snapshot name: "
                  "s3blocks snapshot EXPORT SNAP");
    return EXIT_USAGE;
  }
  if (name_text_is_snapshot (argv[0]) || name_text_is_snapshot (argv[1])) {
    nbdkit_error ("snapshot EXPORT SNAP: two names without \"@\" (the "
                  "snapshot is then served as EXPORT@SNAP)");
    return EXIT_USAGE;
  }
  if (export_info_read (a->store, argv[0], &info, &found) == -1)
    return EXIT_USAGE;
  if (!found) {
    nbdkit_error ("%s: no such export: nothing to snapshot", argv[0]);
    return EXIT_USAGE;
  }
  if (!info.is_cas) {
    nbdkit_error ("%s: refused: it has the plain layout, and snapshots "
                  "need layout=cas; make a cas copy with \"s3blocks clone "
                  "%s NEW\", serve NEW, and snapshot that", argv[0],
                  argv[0]);
    return EXIT_DAMAGE;
  }
  if (!info.has_root) {
    nbdkit_error ("%s: refused: it has not committed anything yet (no "
                  "flush since it was created): nothing to snapshot",
                  argv[0]);
    return EXIT_DAMAGE;
  }

  snprintf (name, sizeof name, "%s@%s", argv[0], argv[1]);
  cas_root_key (src, sizeof src, argv[0]);
  cas_snap_key (dst, sizeof dst, argv[0], argv[1]);
  c = (struct cas_copy) {
    .src_key = src, .src_name = argv[0], .dst_key = dst, .dst_name = name,
    .kind = CAS_ROOT_SNAPSHOT, .keep_generation = true,
  };
  if (cas_copy_root (a->store, &c, &made) == -1)
    return EXIT_USAGE;
  if (!made)
    return EXIT_DAMAGE;
  printf ("%s: snapshot of %s at generation %" PRIu64 " (%" PRIu64
          " blocks), %u tr%s\n", name, argv[0], c.root.generation,
          c.root.blocks, c.tries, c.tries == 1 ? "y" : "ies");
  return EXIT_CLEAN;
}
