/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: opening a plain-layout export: its allocation map from
 * the root and segments in a bounded number of requests, or, for an
 * export without a map, one listing of its blocks, after which the map
 * is written (segments first, the root last).  See layout-plain.c for
 * the layout and its crash invariant.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "format/allocmap.h"
#include "format/keys.h"
#include "layout-plain-impl.h"

static int
parse_root (struct plain *l, const char *buf, size_t len, const char **why)
{
  char text[ROOT_MAX + 1];
  uint32_t block_size = 0, segment_blocks = 0;

  memcpy (text, buf, len);
  text[len] = '\0';
  if (strncmp (text, ROOT_MAGIC "\n", strlen (ROOT_MAGIC) + 1) != 0) {
    *why = "it does not start with \"" ROOT_MAGIC "\"";
    return -1;
  }
  for (char *line = strtok (text, "\n"); line; line = strtok (NULL, "\n")) {
    sscanf (line, "block-size %" SCNu32, &block_size);
    sscanf (line, "segment-blocks %" SCNu32, &segment_blocks);
  }
  if (block_size != l->block_size) {
    *why = "it was written for another block size";
    return -1;
  }
  if (segment_blocks != ALLOCMAP_SEGMENT_BLOCKS) {
    *why = "its segment size is not this version's";
    return -1;
  }
  return 0;
}

/* Root and segments in batches.  Returns 0 (*found false when there
 * is no root: list instead), or -1 after a message.
 */
static int
read_map (struct plain *l, uint64_t nr_segments, struct sbitmap *present,
          bool *found)
{
  const uint64_t total = nr_segments + 1;       /* the root first */
  struct store_op *ops = calloc (LOAD_BATCH, sizeof *ops);
  char *bufs = malloc ((size_t) LOAD_BATCH * ALLOCMAP_MAX_BYTES);
  int r = 0;

  *found = true;
  if (ops == NULL || bufs == NULL) {
    nbdkit_error ("%s: out of memory loading the allocation map", l->name);
    free (ops);
    free (bufs);
    errno = ENOMEM;
    return -1;
  }
  for (uint64_t done = 0; done < total && r == 0 && *found;) {
    size_t n = total - done < LOAD_BATCH ? total - done : LOAD_BATCH;

    memset (ops, 0, n * sizeof *ops);
    for (size_t i = 0; i < n; i++) {
      const uint64_t item = done + i;

      ops[i].kind = STORE_GET;
      ops[i].buf = bufs + i * ALLOCMAP_MAX_BYTES;
      ops[i].len = item == 0 ? ROOT_MAX : ALLOCMAP_MAX_BYTES;
      if (item == 0)
        map_root_key (ops[i].key, sizeof ops[i].key, l->name);
      else
        map_segment_key (ops[i].key, sizeof ops[i].key, l->name,
                         ((item - 1) * ALLOCMAP_SEGMENT_BLOCKS)
                         << l->block_shift);
    }
    store_run (l->store, ops, n);
    l->stats.map_objects_read += n;

    for (size_t i = 0; i < n && r == 0 && *found; i++) {
      const uint64_t item = done + i;
      const char *why;

      if (ops[i].err == ENOENT) {
        if (item == 0)
          *found = false;       /* no map: nothing else matters */
        continue;               /* a segment never written: empty */
      }
      if (ops[i].err) {
        nbdkit_error ("%s: cannot read its allocation map object %s",
                      l->name, ops[i].key);
        errno = ops[i].err;
        r = -1;
      }
      else if (item == 0
               ? parse_root (l, ops[i].buf, ops[i].got, &why)
               : allocmap_decode (ops[i].buf, ops[i].got,
                                  (item - 1) * ALLOCMAP_SEGMENT_BLOCKS,
                                  ALLOCMAP_SEGMENT_BLOCKS, l->block_size,
                                  present, &why)) {
        nbdkit_error ("%s: its allocation map object %s is unusable (%s): "
                      "refusing to guess which blocks hold data; "
                      "rebuild-map=true lists the blocks and rewrites "
                      "the map", l->name, ops[i].key, why);
        errno = EBADMSG;
        r = -1;
      }
    }
    done += n;
  }
  free (ops);
  free (bufs);
  return r;
}

struct lister {
  struct plain *l;
  size_t prefix_len;
  struct sbitmap *present;
};

#define MAX_FOREIGN_WARNINGS 10

static int
list_entry (void *opaque, const struct store_entry *e)
{
  struct lister *ls = opaque;
  struct plain *l = ls->l;
  uint64_t offset;

  l->stats.listed_keys++;
  if (e->is_prefix ||
      !block_key_parse_offset (e->key + ls->prefix_len, &offset) ||
      (offset & (l->block_size - 1))) {
    if (l->stats.foreign_objects++ < MAX_FOREIGN_WARNINGS)
      nbdkit_debug ("%s: ignoring object %s: not a block of this export "
                    "(block keys end in 16 lower-case hex digits, a "
                    "multiple of block-size %" PRIu32 ")", l->name, e->key,
                    l->block_size);
    return 0;
  }
  /* A block of the wrong length is still recorded: reading it then
   * fails with a message naming it, rather than reading as zeros.
   */
  if (sbitmap_set (ls->present, offset >> l->block_shift) == -1) {
    nbdkit_error ("allocation map: %m");
    return -1;
  }
  return 0;
}

static int
write_root (struct plain *l)
{
  char key[KEY_MAX], buf[ROOT_MAX];
  int len = snprintf (buf, sizeof buf, ROOT_MAGIC "\nblock-size %" PRIu32
                      "\nsegment-blocks %" PRIu32 "\n", l->block_size,
                      ALLOCMAP_SEGMENT_BLOCKS);
  struct store_op op = {
    .kind = STORE_PUT, .buf = buf, .len = len, .gate = l->gate,
  };

  map_root_key (key, sizeof key, l->name);
  memcpy (op.key, key, sizeof key);
  store_run (l->store, &op, 1);
  if (op.err) {
    nbdkit_error ("%s: cannot write its allocation map root %s", l->name,
                  key);
    errno = op.err;
    return -1;
  }
  return 0;
}

/* List the blocks once; then, unless read-only, write every segment
 * of the export's size (overwriting any stale one) and the root last,
 * so that a crash in between only means listing again.
 */
static int
rebuild (struct plain *l, uint64_t nr_segments)
{
  struct sbitmap *present = &l->present;
  char prefix[KEY_MAX];
  struct lister ls = { .l = l, .present = present };
  struct layout_commit *c;
  int r;

  block_prefix (prefix, sizeof prefix, l->name);
  ls.prefix_len = strlen (prefix);
  sbitmap_free (present);
  if (store_list (l->store, prefix, NULL, NULL, list_entry, &ls) == -1) {
    nbdkit_error ("%s: cannot list its blocks", l->name);
    return -1;
  }
  l->stats.map_rebuilt = true;
  if (l->stats.foreign_objects)
    nbdkit_debug ("%s: %" PRIu64 " objects under %s are not blocks of "
                  "this export and are ignored", l->name,
                  l->stats.foreign_objects, prefix);
  if (l->readonly)
    return 0;

  for (uint64_t s = 0; s < nr_segments; s++)
    if (sbitmap_set (&l->dirty_segments, s) == -1) {
      nbdkit_error ("allocation map: %m");
      return -1;
    }
  /* Segments beyond the size that hold bits (blocks past the end). */
  for (uint64_t i = sbitmap_next_set (present, nr_segments *
                                      (uint64_t) ALLOCMAP_SEGMENT_BLOCKS,
                                      UINT64_MAX);
       i != UINT64_MAX;
       i = sbitmap_next_set (present, (i / ALLOCMAP_SEGMENT_BLOCKS + 1)
                             * ALLOCMAP_SEGMENT_BLOCKS, UINT64_MAX))
    plain_map_changed_locked (l, i);

  if (plain_commit_begin_locked (l, &c) == -1)
    return -1;
  r = c ? plain_commit_write (&l->base, c) : 0;
  if (c)
    plain_commit_end (&l->base, c, r == 0);
  if (r == 0)
    r = write_root (l);
  if (r == 0)
    nbdkit_debug ("%s: listed %" PRIu64 " blocks once and wrote its "
                  "allocation map (%" PRIu64 " segments)", l->name,
                  present->count, nr_segments);
  return r;
}

/* Before the volume is shared: nothing else touches the map, so
 * map_lock is not taken (and the requests are made without it).
 */
int
plain_load_map (struct layout *base, uint64_t nr_blocks)
{
  struct plain *l = (struct plain *) base;
  uint64_t nr_segments = (nr_blocks + ALLOCMAP_SEGMENT_BLOCKS - 1)
    / ALLOCMAP_SEGMENT_BLOCKS;
  bool found;
  int r;

  memset (&l->stats, 0, sizeof l->stats);
  sbitmap_free (&l->present);
  if (l->rebuild_map) {
    nbdkit_debug ("%s: rebuild-map=true: listing its blocks", l->name);
    r = rebuild (l, nr_segments);
  }
  else {
    r = read_map (l, nr_segments, &l->present, &found);
    if (r == 0 && !found) {
      nbdkit_debug ("%s: no allocation map (a new export, or written by "
                    "an older version or another tool): listing its "
                    "blocks once", l->name);
      r = rebuild (l, nr_segments);
    }
    else if (r == 0)
      nbdkit_debug ("%s: allocation map loaded from %" PRIu64 " objects: %"
                    PRIu64 " blocks hold data", l->name,
                    l->stats.map_objects_read, l->present.count);
  }
  if (r == -1)
    sbitmap_free (&l->present);
  return r;
}
