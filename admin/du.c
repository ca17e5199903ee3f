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

int
verb_du (struct admin *a, int argc, char **argv)
{
  struct name_list ns, cas_ns = VECTOR_INIT;
  uint64_t t_size = 0, t_blocks = 0, t_bytes = 0, t_map = 0;
  int status = EXIT_CLEAN;
  size_t done = 0;

  if (get_names (a, argc, argv, &ns) == -1)
    return EXIT_USAGE;
  if (a->json)
    printf ("{\"exports\": [");
  else
    printf ("%-32s %16s %12s %16s %10s %s\n", "EXPORT", "SIZE", "BLOCKS",
            "BYTES", "MAP", "FROM");
  for (size_t i = 0; i < ns.len; i++) {
    struct export_info info;
    struct sbitmap present = SBITMAP_INIT;
    struct object_list map;
    uint64_t blocks, bytes;
    bool listed = true;
    enum target_kind kind;

    if (read_plain_info (a, ns.ptr[i], &info, &cas_ns, &kind) == -1) {
      status = EXIT_USAGE;
      break;
    }
    if (kind == TARGET_CAS)
      continue;
    if (kind == TARGET_MISSING) {
      if (argc > 0)
        status = EXIT_USAGE;    /* else deleted since the listing */
      continue;
    }
    if (export_map_objects (a->store, info.name, &map) == -1) {
      status = EXIT_USAGE;
      break;
    }
    if (info.has_meta) {
      if (export_load_map (a->store, &info, &present, &listed) == -1) {
        object_list_free (&map);
        status = EXIT_USAGE;
        break;
      }
      blocks = present.count;
      bytes = blocks * info.meta.block_size;
    }
    else {
      struct object_list bl;
      char prefix[KEY_MAX];

      block_prefix (prefix, sizeof prefix, info.name);
      if (object_list_read (a->store, prefix, false, &bl) == -1) {
        object_list_free (&map);
        status = EXIT_USAGE;
        break;
      }
      blocks = bl.len;
      bytes = bl.bytes;
    }
    sbitmap_free (&present);
    t_size += info.has_meta ? info.meta.size : 0;
    t_blocks += blocks;
    t_bytes += bytes;
    t_map += map.bytes;
    if (a->json) {
      printf ("%s\n  {\"name\": ", done++ ? "," : "");
      json_string (info.name);
      if (info.has_meta)
        printf (", \"size\": %" PRIu64, info.meta.size);
      else
        printf (", \"size\": null");
      printf (", \"blocks\": %" PRIu64 ", \"bytes\": %" PRIu64
              ", \"map_bytes\": %" PRIu64 ", \"from\": \"%s\"}",
              blocks, bytes, map.bytes, listed ? "listing" : "map");
    }
    else
      printf ("%-32s %16" PRIu64 " %12" PRIu64 " %16" PRIu64 " %10" PRIu64
              " %s\n", info.name, info.has_meta ? info.meta.size : 0,
              blocks, bytes, map.bytes,
              listed ? "listing (no map)" : "map");
    object_list_free (&map);
  }
  if (a->json)
    printf ("%s], \"total\": {\"size\": %" PRIu64 ", \"blocks\": %" PRIu64
            ", \"bytes\": %" PRIu64 ", \"map_bytes\": %" PRIu64 "}",
            done ? "\n" : "", t_size, t_blocks, t_bytes, t_map);
  else
    printf ("%-32s %16" PRIu64 " %12" PRIu64 " %16" PRIu64 " %10" PRIu64
            "\n", "total", t_size, t_blocks, t_bytes, t_map);
  /* The cas exports and snapshots: those named, or all of them. */
  if (status == EXIT_CLEAN && (argc == 0 || cas_ns.len > 0))
    status = cas_du (a, argc ? cas_ns.ptr : NULL, argc ? (int) cas_ns.len : 0);
  if (a->json)
    printf ("}\n");
  free_names (&ns);
  free_names (&cas_ns);
  return status;
}
