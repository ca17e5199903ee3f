/* s3blocks: the plain layout.
 *
 *   blocks/{export}/{offset:016x}    one object per block holding data
 *   maps/{export}                    map root: the map below is complete
 *   maps/{export}/{offset:016x}      map segment: which of 2^20 blocks
 *                                    from that byte offset have objects
 *
 * Opening reads the root and every segment of the export's size in
 * one batch: a number of requests set by the size, not by how many
 * blocks are stored, and no LIST.  An export without a root (written
 * by an older version, or by another tool that honours the block keys)
 * is listed once; then its segments and, last, its root are written.
 *
 * The invariant that makes this crash-safe, for every block b:
 *
 *   if b's object holds data that a completed flush stored,
 *   the persisted map says b is present.
 *
 * It holds because a segment is only ever written as a snapshot of the
 * in-memory map taken after the uploads it reflects, commits are
 * serialised (an older snapshot never lands after a newer one), and a
 * flush returns only after its commit.  The converse need not hold: a
 * map may say present where no object is (a crash between a DELETE
 * and the commit), which reads as zeros, as the block then should.  An
 * object the map does not know (a crash between a PUT and the commit)
 * was never part of a completed flush and reads as zeros, its previous
 * flushed state; it is orphaned until a rebuild-map lists it back.
 * No object ever holds data that was not written to its block, so no
 * crash can make a block read as data it never had.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "allocmap.h"
#include "keys.h"
#include "layout.h"

#define ROOT_MAGIC "s3blocks-map 1"
#define ROOT_MAX 512
/* Segments fetched per batch at open: bounds the memory it takes. */
#define LOAD_BATCH 32

struct plain {
  struct layout base;
  struct store *store;
  char *name;
  uint32_t block_size;
  unsigned block_shift;
  const struct store_gate *gate;
  bool readonly, rebuild_map;
  struct sbitmap dirty_segments;        /* volume lock */
  bool mark_failed;                     /* volume lock */
  struct layout_stats stats;
};

struct segment_write {
  uint64_t segno;
  char *buf;
  long len;
};

struct layout_commit {
  size_t n;
  struct segment_write *segs;
};

static size_t
plain_run (struct layout *base, struct block_io *ios, size_t n)
{
  struct plain *l = (struct plain *) base;
  struct store_op *ops;
  size_t i, failures = 0;

  if (n == 0)
    return 0;
  ops = calloc (n, sizeof *ops);
  if (ops == NULL) {
    nbdkit_error ("calloc: %m");
    for (i = 0; i < n; i++)
      ios[i].err = ENOMEM;
    return n;
  }
  for (i = 0; i < n; i++) {
    struct store_op *op = &ops[i];

    block_key (op->key, sizeof op->key, l->name,
               ios[i].index << l->block_shift);
    op->buf = ios[i].buf;
    op->len = l->block_size;
    switch (ios[i].kind) {
    case BLOCK_IO_GET: op->kind = STORE_GET; break;
    case BLOCK_IO_PUT: op->kind = STORE_PUT; op->gate = l->gate; break;
    case BLOCK_IO_DELETE: op->kind = STORE_DELETE; op->gate = l->gate; break;
    }
  }

  store_run (l->store, ops, n);

  for (i = 0; i < n; i++) {
    int err = ops[i].err;

    if (err == 0 && ops[i].kind == STORE_GET && ops[i].got != l->block_size) {
      nbdkit_error ("%s: object %s has %zu bytes, expected %" PRIu32
                    " (a foreign or corrupt object, or written with "
                    "another block-size)", l->name, ops[i].key, ops[i].got,
                    l->block_size);
      err = EIO;
    }
    ios[i].err = err;
    if (err && err != ENOENT)
      failures++;
  }
  free (ops);
  return failures;
}

static void
plain_map_changed (struct layout *base, uint64_t index)
{
  struct plain *l = (struct plain *) base;

  /* A lost mark could leave a change unpersisted: remember the
   * failure, and every commit fails until the server restarts.
   */
  if (sbitmap_set (&l->dirty_segments, index / ALLOCMAP_SEGMENT_BLOCKS) == -1)
    l->mark_failed = true;
}

/* Snapshot the segments that changed. */
static int
plain_commit_begin (struct layout *base, const struct sbitmap *present,
                    struct layout_commit **out)
{
  struct plain *l = (struct plain *) base;
  struct layout_commit *c;
  uint64_t segno = 0;
  size_t n = 0;

  *out = NULL;
  if (l->mark_failed) {
    nbdkit_error ("%s: out of memory tracking its allocation map: "
                  "commits fail until the server restarts", l->name);
    errno = ENOMEM;
    return -1;
  }
  if (l->dirty_segments.count == 0)
    return 0;
  c = calloc (1, sizeof *c);
  if (c)
    c->segs = calloc (l->dirty_segments.count, sizeof *c->segs);
  if (c == NULL || c->segs == NULL) {
    nbdkit_error ("calloc: %m");
    free (c);
    return -1;
  }
  for (;;) {
    segno = sbitmap_next_set (&l->dirty_segments, segno, UINT64_MAX);
    if (segno == UINT64_MAX)
      break;
    struct segment_write *w = &c->segs[n];
    w->segno = segno;
    w->len = allocmap_encode (present, segno * ALLOCMAP_SEGMENT_BLOCKS,
                              ALLOCMAP_SEGMENT_BLOCKS, l->block_size,
                              &w->buf);
    if (w->len == -1) {
      nbdkit_error ("%s: encoding the allocation map: %m", l->name);
      for (size_t i = 0; i < n; i++)
        free (c->segs[i].buf);
      free (c->segs);
      free (c);
      return -1;
    }
    n++;
    segno++;
  }
  c->n = n;
  /* The snapshot now carries these changes; marks made from here on
   * belong to the next commit.
   */
  sbitmap_free (&l->dirty_segments);
  *out = c;
  return 0;
}

static int
plain_commit_write (struct layout *base, struct layout_commit *c)
{
  struct plain *l = (struct plain *) base;
  struct store_op *ops = calloc (c->n, sizeof *ops);
  size_t i;
  int err = 0;

  if (ops == NULL) {
    nbdkit_error ("calloc: %m");
    errno = ENOMEM;
    return -1;
  }
  for (i = 0; i < c->n; i++) {
    map_segment_key (ops[i].key, sizeof ops[i].key, l->name,
                     (c->segs[i].segno * ALLOCMAP_SEGMENT_BLOCKS)
                     << l->block_shift);
    ops[i].kind = STORE_PUT;
    ops[i].buf = c->segs[i].buf;
    ops[i].len = c->segs[i].len;
    ops[i].gate = l->gate;
  }
  store_run (l->store, ops, c->n);
  for (i = 0; i < c->n && err == 0; i++)
    err = ops[i].err;
  free (ops);
  if (err) {
    nbdkit_error ("%s: could not write its allocation map; the flush "
                  "is not complete and will be retried", l->name);
    errno = err;
    return -1;
  }
  return 0;
}

static void
plain_commit_end (struct layout *base, struct layout_commit *c, bool ok)
{
  for (size_t i = 0; i < c->n; i++) {
    if (!ok)
      plain_map_changed (base, c->segs[i].segno * ALLOCMAP_SEGMENT_BLOCKS);
    free (c->segs[i].buf);
  }
  free (c->segs);
  free (c);
}

/* Loading. */

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

/* Root and segments in batches.  Returns 0 (map loaded), 1 (there is
 * no root: list instead), or -1.
 */
static int
read_map (struct plain *l, uint64_t nr_segments, struct sbitmap *present)
{
  const uint64_t total = nr_segments + 1;       /* the root first */
  struct store_op *ops = calloc (LOAD_BATCH, sizeof *ops);
  char *bufs = malloc ((size_t) LOAD_BATCH * ALLOCMAP_MAX_BYTES);
  int r = 0;

  if (ops == NULL || bufs == NULL) {
    nbdkit_error ("%s: out of memory loading the allocation map", l->name);
    free (ops);
    free (bufs);
    errno = ENOMEM;
    return -1;
  }
  for (uint64_t done = 0; done < total && r == 0;) {
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

    for (size_t i = 0; i < n && r == 0; i++) {
      const uint64_t item = done + i;
      const char *why;

      if (ops[i].err == ENOENT) {
        if (item == 0)
          r = 1;                /* no map: nothing else matters */
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
rebuild (struct plain *l, uint64_t nr_segments, struct sbitmap *present)
{
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
    plain_map_changed (&l->base, i);

  if (plain_commit_begin (&l->base, present, &c) == -1)
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

static int
plain_load_map (struct layout *base, uint64_t nr_blocks,
                struct sbitmap *present)
{
  struct plain *l = (struct plain *) base;
  uint64_t nr_segments = (nr_blocks + ALLOCMAP_SEGMENT_BLOCKS - 1)
    / ALLOCMAP_SEGMENT_BLOCKS;
  int r;

  memset (&l->stats, 0, sizeof l->stats);
  if (l->rebuild_map) {
    nbdkit_debug ("%s: rebuild-map=true: listing its blocks", l->name);
    return rebuild (l, nr_segments, present);
  }
  r = read_map (l, nr_segments, present);
  if (r == 1) {
    nbdkit_debug ("%s: no allocation map (a new export, or written by an "
                  "older version or another tool): listing its blocks once",
                  l->name);
    return rebuild (l, nr_segments, present);
  }
  if (r == 0)
    nbdkit_debug ("%s: allocation map loaded from %" PRIu64 " objects: %"
                  PRIu64 " blocks hold data", l->name,
                  l->stats.map_objects_read, present->count);
  return r;
}

static void
plain_get_stats (struct layout *base, struct layout_stats *stats)
{
  *stats = ((struct plain *) base)->stats;
}

static void
plain_free (struct layout *base)
{
  struct plain *l = (struct plain *) base;

  if (l == NULL)
    return;
  sbitmap_free (&l->dirty_segments);
  free (l->name);
  free (l);
}

static const struct layout_ops plain_ops = {
  .run = plain_run,
  .load_map = plain_load_map,
  .map_changed = plain_map_changed,
  .commit_begin = plain_commit_begin,
  .commit_write = plain_commit_write,
  .commit_end = plain_commit_end,
  .get_stats = plain_get_stats,
  .free = plain_free,
};

struct layout *
layout_plain_open (struct store *store, const struct layout_params *p)
{
  struct plain *l = calloc (1, sizeof *l);

  if (l == NULL || (l->name = strdup (p->export_name)) == NULL) {
    nbdkit_error ("calloc: %m");
    free (l);
    return NULL;
  }
  l->base.ops = &plain_ops;
  l->store = store;
  l->block_size = p->block_size;
  l->block_shift = __builtin_ctz (p->block_size);
  l->gate = p->gate;
  l->readonly = p->readonly;
  l->rebuild_map = p->rebuild_map;
  return &l->base;
}
