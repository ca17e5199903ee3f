/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): delete an export, plain here, cas and
 * snapshots in cas-delete.c.  Nothing is deleted without --yes, nor
 * while a server holds the export's lease.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "admin.h"
#include "progress.h"
#include "format/keys.h"
#include "format/names.h"

/* Gone in this order: the map root first, so that a crash part-way
 * leaves an export without a map, which the plugin rebuilds from its
 * blocks; then segments, blocks, metadata, and the expired lease last.
 */
int
verb_delete (struct admin *a, int argc, char **argv)
{
  struct export_info info;
  struct object_list map, bl;
  char key[KEY_MAX], root[KEY_MAX];
  char *single[1] = { key };
  bool found;
  int r;

  if (argc != 1) {
    nbdkit_error ("delete takes one name (EXPORT or EXPORT@SNAP)");
    return EXIT_USAGE;
  }
  if (name_text_is_snapshot (argv[0]))
    return cas_delete (a, argv[0], NULL);
  if (read_info (a, argv[0], &info, &found) == -1 || !found)
    return EXIT_USAGE;
  if (info.is_cas)
    return cas_delete (a, argv[0], &info);
  if (info.lease_held) {
    char expires[32];

    format_time_ms (info.lease.expires_ms, expires, sizeof expires);
    nbdkit_error ("%s: refused: a server holds its lease (host %s, pid %"
                  PRId64 ", until %s): stop it first", info.name,
                  info.lease.host, info.lease.pid, expires);
    return EXIT_DAMAGE;
  }
  if (export_map_objects (a->store, info.name, &map) == -1)
    return EXIT_USAGE;
  block_prefix (key, sizeof key, info.name);
  if (object_list_read (a->store, key, true, &bl) == -1) {
    object_list_free (&map);
    return EXIT_USAGE;
  }
  if (!a->yes) {
    printf ("%s: would delete %" PRIu64 " blocks (%" PRIu64 " bytes), %"
            PRIu64 " map objects, %s%s\n", info.name, bl.len, bl.bytes,
            map.len, info.has_meta ? "the metadata" : "no metadata",
            info.has_lease ? " and the expired lease" : "");
    printf ("nothing deleted: give --yes to delete\n");
    r = EXIT_DAMAGE;
    goto out;
  }

  r = EXIT_USAGE;
  progress_start ("delete", "objects", map.len + bl.len + 2);
  map_root_key (root, sizeof root, info.name);
  for (size_t i = 0; i < map.keys.len; i++)
    if (strcmp (map.keys.ptr[i], root) == 0) {
      /* The root first, alone, then again with the rest: one more. */
      progress_set_total (map.len + bl.len + 3, false);
      snprintf (key, sizeof key, "%s", root);
      if (delete_keys (a->store, single, 1) == -1)
        goto out;
    }
  if (delete_keys (a->store, map.keys.ptr, map.keys.len) == -1
      || delete_keys (a->store, bl.keys.ptr, bl.keys.len) == -1)
    goto out;
  export_meta_key (key, sizeof key, info.name);
  if (delete_keys (a->store, single, 1) == -1)
    goto out;
  export_lease_key (key, sizeof key, info.name);
  if (delete_keys (a->store, single, 1) == -1)
    goto out;
  progress_finish ();
  printf ("%s: deleted %" PRIu64 " blocks, %" PRIu64 " map objects, "
          "the metadata and lease\n", info.name, bl.len, map.len);
  r = EXIT_CLEAN;

 out:
  object_list_free (&map);
  object_list_free (&bl);
  return r;
}
