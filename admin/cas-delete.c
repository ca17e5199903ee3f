/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): delete for the cas layout.
 *
 * A snapshot is its root, cas/snaps/EXPORT/SNAP: deleting it is one
 * DELETE.  A cas export goes in this order: its metadata (so no server
 * opens it any more and list no longer shows it as an export), then
 * its root, then its expired lease; a crash part-way leaves a root
 * alone, which list shows and delete removes, never half an export a
 * server would serve.  An export with snapshots is refused, naming
 * them: a snapshot's parent would be gone.  Content and pages stay
 * until gc finds them unreferenced.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "admin.h"
#include "cas/cas-admin.h"
#include "cas/cas-tree.h"
#include "format/keys.h"

static int
delete_snapshot (struct admin *a, const struct name_ref *ref,
                 const char *name)
{
  char key[KEY_MAX];
  struct cas_root r;
  bool found;
  int err;

  cas_ref_root_key (key, sizeof key, ref);
  if (cas_root_read (a->store, key, &r, NULL, &found) == -1)
    return EXIT_USAGE;
  if (!found) {
    nbdkit_error ("%s: no such snapshot (%s is missing)", name, key);
    return EXIT_USAGE;
  }
  if (!a->yes) {
    printf ("%s: would delete the snapshot's root %s (%" PRIu64
            " blocks; content and pages no longer referenced go at the "
            "next gc)\nnothing deleted: give --yes to delete\n", name, key,
            r.blocks);
    return EXIT_DAMAGE;
  }
  err = store_delete (a->store, key);
  if (err) {
    nbdkit_error ("cannot delete %s: %s", key, strerror (err));
    return EXIT_USAGE;
  }
  printf ("%s: deleted (its root %s); gc frees what only it referenced\n",
          name, key);
  return EXIT_CLEAN;
}

int
cas_delete (struct admin *a, const char *name,
            const struct export_info *info)
{
  struct name_ref ref;
  struct cas_root_list snaps;
  char key[KEY_MAX], expires[32];
  int err, status = EXIT_USAGE;

  if (name_ref_parse (NULL, name, &ref) == -1)
    return EXIT_USAGE;
  if (name_ref_is_snapshot (&ref))
    return delete_snapshot (a, &ref, name);

  if (info->lease_held) {
    format_time_s (info->lease.expires_ms / 1000, expires, sizeof expires);
    nbdkit_error ("%s: refused: a server holds its lease (host %s, pid %"
                  PRId64 ", until %s): stop it first", name,
                  info->lease.host, info->lease.pid, expires);
    return EXIT_DAMAGE;
  }
  if (cas_root_list_read (a->store, name, &snaps) == -1)
    return EXIT_USAGE;
  {
    size_t nsnaps = 0;

    for (size_t i = 0; i < snaps.len; i++)
      nsnaps += snaps.ptr[i].is_snap;
    if (nsnaps) {
      nbdkit_error ("%s: refused: it has %zu snapshot%s; delete %s first:",
                    name, nsnaps, nsnaps == 1 ? "" : "s",
                    nsnaps == 1 ? "it" : "them");
      for (size_t i = 0; i < snaps.len; i++)
        if (snaps.ptr[i].is_snap)
          fprintf (stderr, "  %s\n", snaps.ptr[i].name);
      status = EXIT_DAMAGE;
      goto out;
    }
  }
  /* A log export's segments go at a later gc too, once no other root
   * names them: say so.
   */
  const bool is_log = (info->has_root && info->root.leaf == CAS_LEAF_LOCATION)
    || (info->has_meta && info->meta.layout == EXPORT_LAYOUT_LOG);
  const char *log_note = is_log
    ? "; its segments under log/segs/ stay until a gc finds no root "
      "naming them" : "";

  if (!a->yes) {
    printf ("%s: would delete %s%s%s (%" PRIu64 " blocks; content and "
            "pages no longer referenced go at the next gc%s)\n"
            "nothing deleted: give --yes to delete\n", name,
            info->has_meta ? "the metadata, " : "",
            info->has_root ? "the root" : "no root (none committed)",
            info->has_lease ? " and the expired lease" : "",
            info->has_root ? info->root.blocks : 0, log_note);
    status = EXIT_DAMAGE;
    goto out;
  }

  export_meta_key (key, sizeof key, name);
  err = store_delete (a->store, key);
  if (err == 0) {
    cas_root_key (key, sizeof key, name);
    err = store_delete (a->store, key);
  }
  if (err == 0) {
    export_lease_key (key, sizeof key, name);
    err = store_delete (a->store, key);
  }
  if (err) {
    nbdkit_error ("cannot delete %s: %s", key, strerror (err));
    goto out;
  }
  printf ("%s: deleted its metadata, root and lease; gc frees what only "
          "it referenced%s\n", name, log_note);
  status = EXIT_CLEAN;
 out:
  cas_root_list_free (&snaps);
  return status;
}
