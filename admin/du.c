/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): du, the space each export takes: its
 * blocks and map objects, then the cas exports' (cas-du.c).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "admin.h"
#include "format/keys.h"

/* What the plain table adds up, and its rows so far. */
struct du_plain {
  uint64_t size, blocks, bytes, map;
  size_t done;
};

/* One plain export's row, for plain_targets: 0, or -1 after a
 * message.
 */
static int
du_one (struct admin *a, const struct export_info *info, void *opaque,
        bool *damaged)
{
  struct du_plain *t = opaque;
  struct sbitmap present = SBITMAP_INIT;
  struct object_list map;
  uint64_t blocks, bytes;
  bool listed = true;

  *damaged = false;
  if (export_map_objects (a->store, info->name, &map) == -1)
    return -1;
  if (info->has_meta) {
    if (export_load_map (a->store, info, &present, &listed) == -1) {
      object_list_free (&map);
      return -1;
    }
    blocks = present.count;
    bytes = blocks * info->meta.block_size;
  }
  else {
    struct object_list bl;
    char prefix[KEY_MAX];

    block_prefix (prefix, sizeof prefix, info->name);
    if (object_list_read (a->store, prefix, false, &bl) == -1) {
      object_list_free (&map);
      return -1;
    }
    blocks = bl.len;
    bytes = bl.bytes;
  }
  sbitmap_free (&present);
  t->size += info->has_meta ? info->meta.size : 0;
  t->blocks += blocks;
  t->bytes += bytes;
  t->map += map.bytes;
  if (a->json) {
    printf ("%s\n  {\"name\": ", t->done++ ? "," : "");
    json_string (info->name);
    if (info->has_meta)
      printf (", \"size\": %" PRIu64, info->meta.size);
    else
      printf (", \"size\": null");
    printf (", \"blocks\": %" PRIu64 ", \"bytes\": %" PRIu64
            ", \"map_bytes\": %" PRIu64 ", \"from\": \"%s\"}",
            blocks, bytes, map.bytes, listed ? "listing" : "map");
  }
  else
    printf ("%-32s %16" PRIu64 " %12" PRIu64 " %16" PRIu64 " %10" PRIu64
            " %s\n", info->name, info->has_meta ? info->meta.size : 0,
            blocks, bytes, map.bytes,
            listed ? "listing (no map)" : "map");
  object_list_free (&map);
  return 0;
}

int
verb_du (struct admin *a, int argc, char **argv)
{
  struct name_list ns, cas_ns;
  struct du_plain t = { 0 };
  int status;

  if (get_names (a, argc, argv, &ns) == -1)
    return EXIT_USAGE;
  if (a->json)
    printf ("{\"exports\": [");
  else
    printf ("%-32s %16s %12s %16s %10s %s\n", "EXPORT", "SIZE", "BLOCKS",
            "BYTES", "MAP", "FROM");
  status = plain_targets (a, argc, &ns, &cas_ns, du_one, &t);
  if (a->json)
    printf ("%s], \"total\": {\"size\": %" PRIu64 ", \"blocks\": %" PRIu64
            ", \"bytes\": %" PRIu64 ", \"map_bytes\": %" PRIu64 "}",
            t.done ? "\n" : "", t.size, t.blocks, t.bytes, t.map);
  else
    printf ("%-32s %16" PRIu64 " %12" PRIu64 " %16" PRIu64 " %10" PRIu64
            "\n", "total", t.size, t.blocks, t.bytes, t.map);
  /* The cas exports and snapshots: those named, or all of them. */
  status = cas_targets (a, argc, &cas_ns, status, cas_du);
  if (a->json)
    printf ("}\n");
  free_names (&ns);
  free_names (&cas_ns);
  return status;
}
