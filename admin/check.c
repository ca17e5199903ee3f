/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): check, of plain exports here and of
 * cas exports in cas-check.c.  It writes nothing.  It compares what
 * the allocation map says with a listing of the blocks; the two may
 * differ after a crash in ways the plugin repairs itself,
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

#include <nbdkit-plugin.h>

#include "admin.h"
#include "progress.h"
#include "format/keys.h"

#define DEEP_BATCH 64

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
  progress_start ("check --deep", "blocks read", present->count);
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
    progress_advance (n);
    for (size_t j = 0; j < n; j++) {
      if (ops[j].err || ops[j].got != bs)
        progress_clear ();      /* a line follows */
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
  progress_finish ();
  free (ops);
  free (bufs);
  return r;
}

/* One plain export, for plain_targets: 0 (*damaged true when it found
 * damage, false when clean or only warned), or -1 after a message.
 */
static int
check_one (struct admin *a, const struct export_info *info, void *opaque,
           bool *damaged)
{
  const uint32_t bs = info->meta.block_size;
  uint64_t nr_blocks;
  struct sbitmap present = SBITMAP_INIT, listed = SBITMAP_INIT;
  struct object_list bl;
  char prefix[KEY_MAX];
  size_t prefix_len;
  bool from_listing;
  uint64_t damage = 0, warnings = 0;
  int r = -1;

  *damaged = false;
  if (!info->has_meta) {
    printf ("%s: damage: no readable metadata (exports/%s): the block "
            "size is unknown\n", info->name, info->name);
    *damaged = true;
    return 0;
  }
  nr_blocks = (info->meta.size + bs - 1) / bs;
  if (export_load_map (a->store, info, &present, &from_listing) == -1)
    return -1;
  if (from_listing)
    printf ("%s: no allocation map: the blocks listed are checked "
            "against nothing but their lengths\n", info->name);
  block_prefix (prefix, sizeof prefix, info->name);
  prefix_len = strlen (prefix);
  if (object_list_read (a->store, prefix, true, &bl) == -1)
    goto out;

  for (size_t k = 0; k < bl.keys.len; k++) {
    uint64_t offset;

    if (!block_key_parse_offset (bl.keys.ptr[k] + prefix_len, &offset)
        || offset % bs != 0) {
      printf ("%s: warning: %s is not a block of this export "
              "(ignored by the plugin)\n", info->name, bl.keys.ptr[k]);
      warnings++;
      continue;
    }
    if (sbitmap_set (&listed, offset / bs) == -1) {
      nbdkit_error ("malloc: %m");
      goto out;
    }
    if (bl.sizes.ptr[k] != bs) {
      printf ("%s: damage: %s is %" PRIu64 " bytes, not one block (%"
              PRIu32 "): reading it fails\n", info->name, bl.keys.ptr[k],
              bl.sizes.ptr[k], bs);
      damage++;
    }
    if (!sbitmap_get (&present, offset / bs) || offset / bs >= nr_blocks) {
      printf ("%s: warning: %s is unreferenced (a crash between a PUT "
              "and its commit; rebuild-map=true would bring it back)\n",
              info->name, bl.keys.ptr[k]);
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
  *damaged = damage > 0;
  r = 0;

 out:
  object_list_free (&bl);
  sbitmap_free (&present);
  sbitmap_free (&listed);
  return r;
}

int
verb_check (struct admin *a, int argc, char **argv)
{
  struct name_list ns, cas_ns;
  int status;

  if (get_names (a, argc, argv, &ns) == -1)
    return EXIT_USAGE;
  status = plain_targets (a, argc, &ns, &cas_ns, check_one, NULL);
  status = cas_targets (a, argc, &cas_ns, status, cas_check);
  free_names (&ns);
  free_names (&cas_ns);
  return status;
}
