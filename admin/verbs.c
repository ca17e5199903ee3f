/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): list, du, check and delete.
 *
 * Nothing here writes except delete, and only with --yes.  check
 * compares what the allocation map says with a listing of the blocks;
 * the two may differ after a crash in ways the plugin repairs itself,
 * and those are warnings, not damage:
 *   in the map, no object    a crash between a DELETE and its map
 *                            commit: reads as zeros; the next commit
 *                            corrects the map
 *   object, not in the map   a crash between a PUT and its commit:
 *                            unreferenced; rebuild-map=true brings it
 *                            back
 * An object that is not exactly one block long is damage: reading it
 * fails.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nbdkit-plugin.h>

#include "admin.h"
#include "cas/cas-admin.h"
#include "config/options.h"
#include "export/export-impl.h"
#include "format/keys.h"
#include "format/names.h"

#define DEEP_BATCH 64

void
json_string (const char *s)
{
  putchar ('"');
  for (; *s; s++) {
    unsigned char ch = *s;

    if (ch == '"' || ch == '\\')
      printf ("\\%c", ch);
    else if (ch < 0x20)
      printf ("\\u%04x", ch);
    else
      putchar (ch);
  }
  putchar ('"');
}

void
format_time_s (int64_t s, char *buf, size_t size)
{
  time_t t = s;
  struct tm tm;

  gmtime_r (&t, &tm);
  strftime (buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static void
format_time (uint64_t ms, char *buf, size_t size)
{
  format_time_s (ms / 1000, buf, size);
}

/* The names to work on: those given, each of which must exist, or
 * every export in the bucket.
 */
struct names {
  char **v;
  size_t n, cap;
};

static int
add_name (void *opaque, const char *name)
{
  struct names *ns = opaque;

  if (ns->n == ns->cap) {
    size_t cap = ns->cap ? ns->cap * 2 : 16;
    char **v = realloc (ns->v, cap * sizeof *v);

    if (v == NULL)
      return -1;
    ns->v = v;
    ns->cap = cap;
  }
  if ((ns->v[ns->n] = strdup (name)) == NULL)
    return -1;
  ns->n++;
  return 0;
}

static void
free_names (struct names *ns)
{
  for (size_t i = 0; i < ns->n; i++)
    free (ns->v[i]);
  free (ns->v);
}

static int
get_names (struct admin *a, int argc, char **argv, struct names *ns)
{
  memset (ns, 0, sizeof *ns);
  if (argc == 0) {
    if (export_list_names (a->store, add_name, ns) == -1) {
      nbdkit_error ("cannot list the exports in the bucket");
      return -1;
    }
    return 0;
  }
  for (int i = 0; i < argc; i++)
    if (add_name (ns, argv[i]) == -1) {
      nbdkit_error ("strdup: %m");
      return -1;
    }
  return 0;
}

int
read_info (struct admin *a, const char *name, struct export_info *info)
{
  int r = export_info_read (a->store, name, info);

  if (r == 1)
    nbdkit_error ("%s: no such export", name);
  return r;
}

/* Read NAME's export info, or set NAME aside in cas_ns if it is a
 * snapshot or a cas export: the cas verbs take those.  0 a plain
 * export (info set), 1 no such export, 2 set aside, -1 failed.
 */
static int
read_plain_info (struct admin *a, const char *name, struct export_info *info,
                 struct names *cas_ns)
{
  if (!name_text_is_snapshot (name)) {
    int r = read_info (a, name, info);

    if (r != 0 || !info->is_cas)
      return r;
  }
  return add_name (cas_ns, name) == -1 ? -1 : 2;
}

/* ---- du ---- */

int
verb_du (struct admin *a, int argc, char **argv)
{
  struct names ns, cas_ns = { 0 };
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
  for (size_t i = 0; i < ns.n; i++) {
    struct export_info info;
    struct sbitmap present = SBITMAP_INIT;
    struct object_list map;
    uint64_t blocks, bytes;
    bool listed = true;
    int r;

    r = read_plain_info (a, ns.v[i], &info, &cas_ns);
    if (r == 2)
      continue;
    if (r == 1) {
      if (argc > 0)
        status = EXIT_USAGE;    /* else deleted since the listing */
      continue;
    }
    if (r == -1) {
      status = EXIT_USAGE;
      break;
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
  if (status == EXIT_CLEAN && (argc == 0 || cas_ns.n > 0))
    status = cas_du (a, argc ? cas_ns.v : NULL, argc ? (int) cas_ns.n : 0);
  if (a->json)
    printf ("}\n");
  free_names (&ns);
  free_names (&cas_ns);
  return status;
}

/* ---- check ---- */

/* GET every present block and check its length: a buffer one byte
 * longer than a block tells a long object from a full one.
 */
static int
check_deep (struct admin *a, const struct export_info *info,
            const struct sbitmap *present, const struct sbitmap *listed,
            uint64_t *damage)
{
  const uint32_t bs = info->meta.block_size;
  struct store_op *ops = calloc (DEEP_BATCH, sizeof *ops);
  char *bufs = malloc ((size_t) DEEP_BATCH * (bs + 1));
  uint64_t i = 0;
  int r = 0;

  if (ops == NULL || bufs == NULL) {
    nbdkit_error ("malloc: %m");
    free (ops);
    free (bufs);
    return -1;
  }
  while (r == 0) {
    size_t n = 0;

    for (; n < DEEP_BATCH; i++) {
      i = sbitmap_next_set (present, i, UINT64_MAX);
      if (i == UINT64_MAX)
        break;
      if (!sbitmap_get (listed, i))
        continue;               /* missing: already reported */
      memset (&ops[n], 0, sizeof ops[n]);
      ops[n].kind = STORE_GET;
      block_key (ops[n].key, sizeof ops[n].key, info->name, i * bs);
      ops[n].buf = bufs + n * (size_t) (bs + 1);
      ops[n].len = bs + 1;
      n++;
    }
    if (n == 0)
      break;
    store_run (a->store, ops, n);
    for (size_t j = 0; j < n; j++) {
      if (ops[j].err == ENOENT)
        printf ("%s: warning: %s vanished since the listing\n", info->name,
                ops[j].key);
      else if (ops[j].err) {
        nbdkit_error ("%s: cannot read %s: %s", info->name, ops[j].key,
                      strerror (ops[j].err));
        r = -1;
      }
      else if (ops[j].got != bs) {
        printf ("%s: damage: %s is %zu bytes, not one block (%" PRIu32
                "): reading it fails\n", info->name, ops[j].key,
                ops[j].got, bs);
        (*damage)++;
      }
    }
    if (i == UINT64_MAX)
      break;
  }
  free (ops);
  free (bufs);
  return r;
}

/* One export: 0 clean, 1 damage, -1 error. */
static int
check_one (struct admin *a, const struct export_info *info)
{
  const uint32_t bs = info->meta.block_size;
  const uint64_t nr_blocks = (info->meta.size + bs - 1) / bs;
  struct sbitmap present = SBITMAP_INIT, listed = SBITMAP_INIT;
  struct object_list bl;
  char prefix[KEY_MAX];
  size_t prefix_len;
  bool from_listing;
  uint64_t damage = 0, warnings = 0;
  int r = -1;

  if (export_load_map (a->store, info, &present, &from_listing) == -1)
    return -1;
  if (from_listing)
    printf ("%s: no allocation map: the blocks listed are checked "
            "against nothing but their lengths\n", info->name);
  block_prefix (prefix, sizeof prefix, info->name);
  prefix_len = strlen (prefix);
  if (object_list_read (a->store, prefix, true, &bl) == -1)
    goto out;

  for (uint64_t k = 0; k < bl.len; k++) {
    uint64_t offset;

    if (!block_key_parse_offset (bl.keys[k] + prefix_len, &offset)
        || offset % bs != 0) {
      printf ("%s: warning: %s is not a block of this export "
              "(ignored by the plugin)\n", info->name, bl.keys[k]);
      warnings++;
      continue;
    }
    if (sbitmap_set (&listed, offset / bs) == -1) {
      nbdkit_error ("malloc: %m");
      goto out;
    }
    if (bl.sizes[k] != bs) {
      printf ("%s: damage: %s is %" PRIu64 " bytes, not one block (%"
              PRIu32 "): reading it fails\n", info->name, bl.keys[k],
              bl.sizes[k], bs);
      damage++;
    }
    if (!sbitmap_get (&present, offset / bs) || offset / bs >= nr_blocks) {
      printf ("%s: warning: %s is unreferenced (a crash between a PUT "
              "and its commit; rebuild-map=true would bring it back)\n",
              info->name, bl.keys[k]);
      warnings++;
    }
  }
  for (uint64_t i = sbitmap_next_set (&present, 0, UINT64_MAX);
       i != UINT64_MAX; i = sbitmap_next_set (&present, i + 1, UINT64_MAX))
    if (!sbitmap_get (&listed, i)) {
      char key[KEY_MAX];

      block_key (key, sizeof key, info->name, i * bs);
      printf ("%s: warning: %s is in the map but missing: it reads as "
              "zeros, map will be corrected by the next commit\n",
              info->name, key);
      warnings++;
    }
  if (a->deep && check_deep (a, info, &present, &listed, &damage) == -1)
    goto out;

  printf ("%s: %" PRIu64 " blocks in the map, %" PRIu64 " objects listed, "
          "%" PRIu64 " damaged, %" PRIu64 " warnings%s\n", info->name,
          present.count, bl.len, damage, warnings,
          a->deep ? " (every block read)" : "");
  r = damage ? 1 : 0;

 out:
  object_list_free (&bl);
  sbitmap_free (&present);
  sbitmap_free (&listed);
  return r;
}

int
verb_check (struct admin *a, int argc, char **argv)
{
  struct names ns, cas_ns = { 0 };
  int status = EXIT_CLEAN;

  if (get_names (a, argc, argv, &ns) == -1)
    return EXIT_USAGE;
  for (size_t i = 0; i < ns.n; i++) {
    struct export_info info;
    int r;

    r = read_plain_info (a, ns.v[i], &info, &cas_ns);
    if (r == 2)
      continue;
    if (r == 1) {
      if (argc > 0)
        status = EXIT_USAGE;    /* else deleted since the listing */
      continue;
    }
    if (r == -1) {
      status = EXIT_USAGE;
      break;
    }
    if (!info.has_meta) {
      printf ("%s: damage: no readable metadata (exports/%s): the block "
              "size is unknown\n", info.name, info.name);
      if (status == EXIT_CLEAN)
        status = EXIT_DAMAGE;
      continue;
    }
    r = check_one (a, &info);
    if (r == -1) {
      status = EXIT_USAGE;
      break;
    }
    if (r == 1 && status == EXIT_CLEAN)
      status = EXIT_DAMAGE;
  }
  if (status != EXIT_USAGE && (argc == 0 || cas_ns.n > 0)) {
    int r = cas_check (a, argc ? cas_ns.v : NULL, argc ? (int) cas_ns.n : 0);

    if (r > status)
      status = r;
  }
  free_names (&ns);
  free_names (&cas_ns);
  return status;
}

/* ---- delete ---- */

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
  int r;

  if (argc != 1) {
    nbdkit_error ("delete takes one name (EXPORT or EXPORT@SNAP)");
    return EXIT_USAGE;
  }
  if (name_text_is_snapshot (argv[0]))
    return cas_delete (a, argv[0], NULL);
  if (read_info (a, argv[0], &info) != 0)
    return EXIT_USAGE;
  if (info.is_cas)
    return cas_delete (a, argv[0], &info);
  if (info.lease_held) {
    char expires[32];

    format_time (info.lease.expires_ms, expires, sizeof expires);
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
  map_root_key (root, sizeof root, info.name);
  for (uint64_t i = 0; i < map.len; i++)
    if (strcmp (map.keys[i], root) == 0) {
      snprintf (key, sizeof key, "%s", root);
      if (delete_keys (a->store, single, 1) == -1)
        goto out;
    }
  if (delete_keys (a->store, map.keys, map.len) == -1
      || delete_keys (a->store, bl.keys, bl.len) == -1)
    goto out;
  export_meta_key (key, sizeof key, info.name);
  if (delete_keys (a->store, single, 1) == -1)
    goto out;
  export_lease_key (key, sizeof key, info.name);
  if (delete_keys (a->store, single, 1) == -1)
    goto out;
  printf ("%s: deleted %" PRIu64 " blocks, %" PRIu64 " map objects, "
          "the metadata and lease\n", info.name, bl.len, map.len);
  r = EXIT_CLEAN;

 out:
  object_list_free (&map);
  object_list_free (&bl);
  return r;
}
