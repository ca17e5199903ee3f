/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): clone across layouts, copying the data
 * once: from a plain, cas or log export (or a cas or log snapshot)
 * into a new plain, cas or log export.  Both sides go through the
 * plugin's own layouts and volume, so NEW's objects (blocks, contents,
 * segments, pages, root) are built by the code a server writes with.
 *
 *   take the source's lease   an export's, not a snapshot's: no server
 *                             writes it during the copy (a copy of a
 *                             disk being written would mix two times);
 *                             refused if a server holds it
 *   take NEW's lease          NEW is written as its server would write
 *                             it: every PUT carries the lease's gate;
 *                             before NEW has a root, gc refuses to run
 *                             (docs/gc-safety.md, step 8), after it
 *                             NEW's commits keep the server's rules
 *                             (steps 4, 9 and 10)
 *   open both                 the source read-only through its layout;
 *                             NEW's layout creates its root (cas, log)
 *   copy, a chunk at a time   the source's extents, then its data runs
 *                             read and written to NEW; all-zero blocks
 *                             stay holes; a commit every
 *                             CLONE_COMMIT_BYTES bounds the memory of
 *                             changes waiting for a commit
 *   flush                     the last commit
 *   PUT NEW's metadata        create-only, last: until it exists NEW
 *                             is not an export a server serves (one
 *                             refuses a root without metadata that has
 *                             commits: layout-tree.c); list shows what
 *                             a failed clone left, delete removes it
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
#include "config/options.h"
#include "format/keys.h"
#include "iszero.h"
#include "layout/layout.h"
#include "lease/lease.h"
#include "progress.h"
#include "volume/volume.h"

/* Bytes of the source looked at and read per round (at least one
 * block; block sizes are powers of two).
 */
#define CLONE_CHUNK (8u << 20)
/* Segment uploads in flight for a log NEW, as a server has. */
#define CLONE_LOG_UPLOADS 4

/* What NEW is written with: a server's defaults (or the keys given). */
struct tuning {
  uint64_t map_cache, reuse_ms, request_bound_ms, commit_bound_ms;
  uint64_t segment_size, max_dirty, commit_bytes;
  unsigned batch, lease_ms, request_ms;
};

static int
get_tuning (struct admin *a, uint32_t bs, enum export_layout to,
            struct tuning *t)
{
  struct s3blocks_config defaults;
  const struct s3blocks_config *c = a->cfg;

  if (c == NULL) {
    if (config_init (&defaults) == -1) {
      nbdkit_error ("clone: %m");
      return -1;
    }
    c = &defaults;
  }
  *t = (struct tuning) {
    .map_cache = c->map_cache_size,
    .reuse_ms = c->cas_reuse_window_ms,
    .request_bound_ms = config_request_bound_ms (c),
    .commit_bound_ms = config_commit_bound_ms (c),
    .segment_size = c->segment_size,
    .max_dirty = c->max_dirty,
    .commit_bytes = a->clone_commit_bytes ? a->clone_commit_bytes
                                          : CLONE_COMMIT_BYTES,
    .batch = c->max_requests * 16,
    .lease_ms = a->lease_ms ? a->lease_ms : c->lease_time_ms,
    .request_ms = a->request_ms ? a->request_ms : c->timeout_ms,
  };
  if (c == &defaults)
    config_free (&defaults);
  /* segment-size= is a serving key: a block size it cannot hold
   * MIN_SEGMENT_BLOCKS of gets the smallest segment that can.
   */
  if (t->segment_size < (uint64_t) MIN_SEGMENT_BLOCKS * bs)
    t->segment_size = (uint64_t) MIN_SEGMENT_BLOCKS * bs;
  if (to == EXPORT_LAYOUT_LOG) {
    /* As export.c: a batch that fills every upload in flight. */
    t->batch = t->segment_size / bs * CLONE_LOG_UPLOADS;
  }
  if (t->max_dirty < (uint64_t) t->batch * bs)
    t->max_dirty = (uint64_t) t->batch * bs;
  return 0;
}

static struct layout *
open_layout (struct admin *a, const struct tuning *t, const char *name,
             const char *root_key, enum export_layout layout, uint64_t size,
             uint32_t bs, const struct store_gate *gate, bool create)
{
  const struct layout_params p = {
    .export_name = name, .block_size = bs, .gate = gate,
    .readonly = !create,
  };

  if (layout == EXPORT_LAYOUT_PLAIN)
    return layout_plain_open (a->store, &p);
  if (layout == EXPORT_LAYOUT_CAS) {
    const struct layout_cas_params cp = {
      .root_key = root_key, .size = size, .create = create,
      .map_cache_bytes = t->map_cache, .reuse_window_ms = t->reuse_ms,
      .keep_bytes = create ? t->max_dirty : 0,
      .request_bound_ms = t->request_bound_ms,
      .commit_bound_ms = t->commit_bound_ms,
    };
    return layout_cas_open (a->store, &p, &cp);
  }
  const struct layout_log_params lp = {
    .root_key = root_key, .size = size, .create = create,
    .map_cache_bytes = t->map_cache, .reuse_window_ms = t->reuse_ms,
    .keep_bytes = create ? t->max_dirty : 0,
    .request_bound_ms = t->request_bound_ms,
    .commit_bound_ms = t->commit_bound_ms,
    .segment_size = t->segment_size,
    .uploads_in_flight = CLONE_LOG_UPLOADS,
  };
  return layout_log_open (a->store, &p, &lp);
}

static struct volume *
open_volume (struct admin *a, const struct tuning *t, const char *name,
             const char *root_key, enum export_layout layout, uint64_t size,
             uint32_t bs, const struct store_gate *gate, bool create)
{
  const struct volume_params vp = {
    .name = name, .size = size, .block_size = bs,
    .max_dirty = t->max_dirty, .cache_size = 0, .batch = t->batch,
    .gate = gate,
  };
  struct volume *v;

  v = volume_create (open_layout (a, t, name, root_key, layout, size, bs,
                                  gate, create), &vp);
  if (v && volume_load_map (v) == -1) {
    nbdkit_error ("%s: cannot load its allocation map", name);
    volume_free (v);
    return NULL;
  }
  return v;
}

/* The data runs of one chunk of the source, from its extents. */
struct runs {
  uint64_t *off, *len;
  size_t n, max;
  uint64_t end;                 /* of what the extents covered so far */
};

static int
add_extent (void *opaque, uint64_t offset, uint64_t length, uint32_t type)
{
  struct runs *r = opaque;

  if (offset != r->end)
    return 0;                   /* not asked for (a prefix repeated) */
  r->end = offset + length;
  if (type & VOLUME_EXTENT_HOLE)
    return 0;
  if (r->n > 0 && r->off[r->n - 1] + r->len[r->n - 1] == offset)
    r->len[r->n - 1] += length;
  else if (r->n < r->max) {
    r->off[r->n] = offset;
    r->len[r->n++] = length;
  }
  else {
    nbdkit_error ("clone: more data runs in a chunk than blocks: this is "
                  "a bug");
    errno = EIO;
    return -1;
  }
  return 0;
}

struct copy {
  struct volume *src, *dst;
  const char *src_name, *dst_name;
  uint64_t size, blocks, zero_blocks, since_commit;
  uint32_t bs, chunk;           /* chunk: c->buf's size, whole blocks */
  const struct tuning *t;
  char *buf;
};

/* Is the block at i of buf (len bytes in all) all zeros?  The last
 * block of an export whose size is not a multiple of the block size is
 * short.
 */
static bool
zero_at (const struct copy *c, uint32_t i, uint32_t len)
{
  return is_zero (c->buf + i, len - i < c->bs ? len - i : c->bs);
}

/* Write the non-zero blocks of buf (len bytes at off) to NEW. */
static int
write_run (struct copy *c, uint64_t off, uint32_t len)
{
  uint32_t i = 0;

  while (i < len) {
    uint32_t j;

    for (; i < len && zero_at (c, i, len); i += c->bs)
      c->zero_blocks++;
    for (j = i; j < len && !zero_at (c, j, len); j += c->bs)
      c->blocks++;
    if (j > len)
      j = len;
    if (j > i && volume_write (c->dst, c->buf + i, j - i, off + i,
                               false) == -1) {
      nbdkit_error ("%s: cannot write at %" PRIu64 ": %m", c->dst_name,
                    off + i);
      return -1;
    }
    c->since_commit += j - i;
    i = j;
  }
  return 0;
}

static int
copy_chunk (struct copy *c, struct runs *r, uint64_t off, uint32_t len)
{
  r->n = 0;
  r->end = off;
  while (r->end < off + len) {
    const uint64_t before = r->end;

    if (volume_extents (c->src, (uint32_t) (off + len - r->end), r->end,
                        false, add_extent, r) == -1)
      return -1;
    if (r->end == before) {
      nbdkit_error ("%s: its extents at %" PRIu64 " made no progress: "
                    "this is a bug", c->src_name, before);
      errno = EIO;
      return -1;
    }
  }
  for (size_t k = 0; k < r->n; k++) {
    const uint64_t end = r->off[k] + r->len[k];

    for (uint64_t o = r->off[k]; o < end && o < off + len;) {
      uint64_t n = end - o;

      /* A commit can come within a run: read no more than it needs. */
      if (n > CLONE_CHUNK)
        n = CLONE_CHUNK;
      if (n > c->t->commit_bytes)
        n = c->t->commit_bytes / c->bs * c->bs + c->bs;

      if (n > CLONE_CHUNK)
        n = CLONE_CHUNK;
      if (volume_read (c->src, c->buf, (uint32_t) n, o) == -1) {
        nbdkit_error ("%s: cannot read at %" PRIu64 ": %m", c->src_name, o);
        return -1;
      }
      if (write_run (c, o, (uint32_t) n) == -1)
        return -1;
      o += n;
      if (c->since_commit >= c->t->commit_bytes) {
        if (volume_flush (c->dst) == -1)
          return -1;
        c->since_commit = 0;
      }
    }
  }
  return 0;
}

static int
copy_all (struct copy *c)
{
  const uint32_t chunk = c->chunk = CLONE_CHUNK >= c->bs ? CLONE_CHUNK
                                                          : c->bs;
  struct runs r = { .max = chunk / c->bs };
  int ret = -1;

  r.off = calloc (r.max, sizeof *r.off);
  r.len = calloc (r.max, sizeof *r.len);
  c->buf = malloc (chunk);
  if (r.off == NULL || r.len == NULL || c->buf == NULL) {
    nbdkit_error ("clone: %m");
    goto out;
  }
  progress_start ("clone", "blocks", (c->size + c->bs - 1) / c->bs);
  for (uint64_t off = 0; off < c->size; off += chunk) {
    const uint32_t len = (uint32_t) (c->size - off < chunk
                                     ? c->size - off : chunk);

    if (copy_chunk (c, &r, off, len) == -1)
      goto out;
    progress_advance ((len + c->bs - 1) / c->bs);
  }
  if (volume_flush (c->dst) == -1)
    goto out;
  ret = 0;
 out:
  progress_finish ();
  free (r.off);
  free (r.len);
  free (c->buf);
  c->buf = NULL;
  return ret;
}

static struct lease *
take (struct admin *a, const struct tuning *t, const char *name)
{
  struct lease_params lp = {
    .export_name = name, .lease_ms = t->lease_ms,
    .request_ms = t->request_ms,
  };

  return lease_acquire (a->store, &lp);
}

/* The source's size and block size, or a refusal (an exit status). */
static int
source_geometry (const char *src_text, const struct export_info *src,
                 const struct cas_root *sroot, uint64_t *size, uint32_t *bs)
{
  char expires[32];

  if (src == NULL) {
    *size = sroot->size;
    *bs = sroot->block_size;
    return -1;
  }
  if (src->lease_held) {
    format_time_s (src->lease.expires_ms / 1000, expires, sizeof expires);
    nbdkit_error ("%s: refused: a server holds its lease (host %s, pid %"
                  PRId64 ", until %s), and a copy of a disk being written "
                  "would mix two times: stop it first%s", src_text,
                  src->lease.host, src->lease.pid, expires,
                  src->is_cas ? ", or snapshot it and clone the snapshot"
                  : "");
    return EXIT_DAMAGE;
  }
  if (src->has_meta) {
    *size = src->meta.size;
    *bs = src->meta.block_size;
    return -1;
  }
  if (src->has_root) {
    *size = src->root.size;
    *bs = src->root.block_size;
    return -1;
  }
  nbdkit_error ("%s: refused: it has no readable metadata, so its size "
                "and block size are unknown", src_text);
  return EXIT_DAMAGE;
}

int
clone_by_copy (struct admin *a, const char *src_text,
               const struct export_info *src, const struct cas_root *sroot,
               enum export_layout from, const char *new_name,
               enum export_layout to)
{
  struct lease *src_lease = NULL, *new_lease = NULL;
  struct copy c = { .src_name = src_text, .dst_name = new_name };
  struct volume_stats vs;
  struct tuning t;
  struct name_ref ref;
  char src_key[KEY_MAX] = "", dst_key[KEY_MAX] = "";
  bool created, dst_opened = false, keeper = false;
  int status = EXIT_USAGE, err;

  err = source_geometry (src_text, src, sroot, &c.size, &c.bs);
  if (err != -1)
    return err;
  if (get_tuning (a, c.bs, to, &t) == -1)
    return EXIT_USAGE;
  c.t = &t;
  if (name_ref_parse (NULL, src_text, &ref) == -1 ||
      cas_ref_root_key (src_key, sizeof src_key, &ref) == -1 ||
      cas_root_key (dst_key, sizeof dst_key, new_name) == -1) {
    nbdkit_error ("%s: its name is too long for a key", new_name);
    return EXIT_USAGE;
  }

  if (lease_keeper_start () == -1)
    return EXIT_USAGE;
  keeper = true;
  if (src) {
    src_lease = take (a, &t, src->name);
    if (src_lease == NULL)
      goto out;
  }
  new_lease = take (a, &t, new_name);
  if (new_lease == NULL)
    goto out;

  c.src = open_volume (a, &t, src_text, src_key, from, c.size, c.bs, NULL,
                       false);
  if (c.src == NULL)
    goto out;
  dst_opened = true;
  c.dst = open_volume (a, &t, new_name, dst_key, to, c.size, c.bs,
                       lease_gate (new_lease), true);
  if (c.dst == NULL || copy_all (&c) == -1)
    goto out;
  volume_get_stats (c.dst, &vs);

  /* From here what NEW holds is not ours to remove: the metadata may
   * have landed with its answer lost, or a server created NEW.
   */
  dst_opened = false;
  err = meta_write_layout (a->store, new_name, c.size, c.bs, to, &created);
  if (err == -1) {
    nbdkit_error ("%s: its data is copied, but its metadata may be "
                  "missing (s3blocks list shows it): run the clone again "
                  "after s3blocks delete --yes %s", new_name, new_name);
    goto out;
  }
  if (!created) {
    nbdkit_error ("%s: refused: it was created meanwhile", new_name);
    status = EXIT_DAMAGE;
    goto out;
  }
  printf ("%s: clone of %s (%s) into the %s layout: %" PRIu64 " blocks "
          "copied, %" PRIu64 " all-zero left as holes; %" PRIu64
          " segments, %" PRIu64 " contents and %" PRIu64 " pages written, "
          "%" PRIu64 " commits\n", new_name, src_text,
          export_layout_name (from), export_layout_name (to), c.blocks,
          c.zero_blocks, vs.segments_written, vs.data_puts,
          vs.pages_written, vs.commits);
  status = EXIT_CLEAN;

 out:
  if (c.dst)
    volume_free (c.dst);        /* nothing dirty is left but on failure */
  if (c.src)
    volume_free (c.src);
  if (dst_opened) {
    /* Failed: NEW has no metadata, so no server serves it; its root
     * (of a partial copy) goes, what it named is gc's.
     */
    if (to == EXPORT_LAYOUT_PLAIN || store_delete (a->store, dst_key) != 0)
      nbdkit_error ("%s: the clone failed and left objects: remove them "
                    "with s3blocks delete --yes %s", new_name, new_name);
  }
  lease_release (new_lease);
  lease_release (src_lease);
  if (keeper)
    lease_keeper_stop ();
  return status;
}
