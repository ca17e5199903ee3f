/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): clone a plain export into the cas
 * layout, copying its data once.
 *
 *   take the source's lease     no server writes it during the copy
 *                               (a copy of a disk being written would
 *                               be a mix of two times); refused if a
 *                               server holds it
 *   take NEW's lease            while it is held and NEW has no root,
 *                               gc refuses to run: the data PUT so
 *                               far is referenced by nothing
 *                               (docs/gc-safety.md, step 8)
 *   load the source's map       through the plain layout, read-only
 *   GET present blocks          in batches; all-zero blocks become
 *   PUT cas/data/{sha256}       holes; every content is PUT (never
 *                               "already there": old garbage could be
 *                               swept under us)
 *   build the tree              cas_tree_update on an empty tree
 *   PUT the root, then meta     create-only; then both leases go
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
#include "clock.h"
#include "cas/cas-admin.h"
#include "cas/cas-tree.h"
#include "iszero.h"
#include "format/keys.h"
#include "lease/lease.h"
#include "progress.h"

#define COPY_BATCH 64

struct copy {
  struct admin *a;
  const struct export_info *src;
  const struct store_gate *gate;
  struct cas_change *changes;
  size_t n;
  uint64_t data_puts, zero_blocks;
};

/* GET n blocks, hash them, PUT the non-zero ones. */
static int
copy_batch (struct copy *c, const uint64_t *index, size_t n, char *bufs,
            struct store_op *ops)
{
  const uint32_t bs = c->src->meta.block_size;
  const size_t base = c->n;     /* this batch's changes start here */
  size_t puts = 0;

  memset (ops, 0, n * sizeof *ops);
  for (size_t j = 0; j < n; j++) {
    ops[j].kind = STORE_GET;
    block_key (ops[j].key, sizeof ops[j].key, c->src->name, index[j] * bs);
    ops[j].buf = bufs + j * (size_t) bs;
    ops[j].len = bs;
  }
  store_run (c->a->store, ops, n);
  for (size_t j = 0; j < n; j++) {
    struct cas_change *ch = &c->changes[c->n];
    bool dup = false;

    if (ops[j].err == ENOENT)
      continue;                 /* in the map, no object: reads as zeros */
    if (ops[j].err) {
      nbdkit_error ("%s: cannot read %s: %s", c->src->name, ops[j].key,
                    strerror (ops[j].err));
      return -1;
    }
    if (ops[j].got != bs) {
      nbdkit_error ("%s: %s is %zu bytes, not one block (%" PRIu32 "): "
                    "the source is damaged (s3blocks check)", c->src->name,
                    ops[j].key, ops[j].got, bs);
      return -1;
    }
    if (is_zero (ops[j].buf, bs)) {
      c->zero_blocks++;
      continue;
    }
    ch->index = index[j];
    ch->present = true;
    cas_hash_of (ops[j].buf, bs, &ch->value.hash);
    c->n++;
    /* One PUT per key in a batch (the store's rule). */
    for (size_t k = base; k < c->n - 1 && !dup; k++)
      dup = cas_hash_equal (&c->changes[k].value.hash, &ch->value.hash);
    if (dup)
      continue;
    memmove (&ops[puts], &ops[j], sizeof ops[j]);
    ops[puts].kind = STORE_PUT;
    ops[puts].len = bs;
    ops[puts].gate = c->gate;
    cas_data_key (ops[puts].key, sizeof ops[puts].key, &ch->value.hash);
    puts++;
  }
  if (puts == 0)
    return 0;
  if (store_run (c->a->store, ops, puts) > 0)
    return -1;                  /* logged by the store */
  c->data_puts += puts;
  return 0;
}

static int
copy_data (struct copy *c, const struct sbitmap *present)
{
  const uint32_t bs = c->src->meta.block_size;
  struct store_op *ops = calloc (COPY_BATCH, sizeof *ops);
  char *bufs = malloc ((size_t) COPY_BATCH * bs);
  uint64_t index[COPY_BATCH];
  uint64_t i = 0;
  int r = -1;

  c->changes = calloc (present->count ? present->count : 1,
                       sizeof *c->changes);
  if (ops == NULL || bufs == NULL || c->changes == NULL) {
    nbdkit_error ("clone: %m");
    goto out;
  }
  progress_start ("clone", "blocks", present->count);
  for (;;) {
    size_t n = 0;

    for (; n < COPY_BATCH; i++) {
      i = sbitmap_next_set (present, i, UINT64_MAX);
      if (i == UINT64_MAX)
        break;
      index[n++] = i;
    }
    if (n > 0 && copy_batch (c, index, n, bufs, ops) == -1)
      goto out;
    progress_advance (n);
    if (i == UINT64_MAX)
      break;
  }
  r = 0;
 out:
  progress_finish ();
  free (ops);
  free (bufs);
  return r;
}

static struct lease *
take (struct admin *a, const char *name)
{
  struct lease_params lp = {
    .export_name = name, .lease_ms = a->lease_ms,
    .request_ms = a->request_ms,
  };

  return lease_acquire (a->store, &lp);
}

int
clone_from_plain (struct admin *a, const struct export_info *src,
                  const char *new_name)
{
  const bool cond = store_can (a->store, STORE_CAP_CONDITIONAL_PUT);
  const uint64_t t0_ms = clock_mono_ms ();
  struct copy c = { .a = a, .src = src };
  struct lease *src_lease = NULL, *new_lease = NULL;
  struct sbitmap present = SBITMAP_INIT;
  struct cas_tree *tree = NULL;
  struct cas_update up;
  struct cas_root root = { .kind = CAS_ROOT_EXPORT };
  char key[KEY_MAX], expires[32];
  uint64_t nr_blocks;
  enum cas_root_put_outcome put;
  bool listed, created;
  int status = EXIT_USAGE, err;

  if (!src->has_meta) {
    nbdkit_error ("%s: refused: it has no readable metadata, so its size "
                  "and block size are unknown", src->name);
    return EXIT_DAMAGE;
  }
  if (src->lease_held) {
    format_time_s (src->lease.expires_ms / 1000, expires, sizeof expires);
    nbdkit_error ("%s: refused: a server holds its lease (host %s, pid %"
                  PRId64 ", until %s), and a copy of a disk being written "
                  "would mix two times: stop it first", src->name,
                  src->lease.host, src->lease.pid, expires);
    return EXIT_DAMAGE;
  }
  if (lease_keeper_start () == -1)
    return EXIT_USAGE;
  src_lease = take (a, src->name);
  if (src_lease == NULL)
    goto out;
  new_lease = take (a, new_name);
  if (new_lease == NULL)
    goto out;
  c.gate = lease_gate (new_lease);

  if (export_load_map (a->store, src, &present, &listed) == -1)
    goto out;
  if (copy_data (&c, &present) == -1)
    goto out;
  tree = cas_tree_open (a->store, new_name, CAS_LEAF_HASH, 16 << 20);
  if (tree == NULL)
    goto out;
  nr_blocks = (src->meta.size + src->meta.block_size - 1)
    / src->meta.block_size;
  if (cas_tree_update (tree, c.changes, c.n, cas_depth_for (CAS_LEAF_HASH, nr_blocks),
                       c.gate, &up) == -1)
    goto out;

  snprintf (root.name, sizeof root.name, "%s", new_name);
  snprintf (root.parent, sizeof root.parent, "%s", src->name);
  if (cas_new_incarnation (root.incarnation) == -1)
    goto out;
  root.size = src->meta.size;
  root.block_size = src->meta.block_size;
  root.depth = up.depth;
  root.empty = up.empty;
  root.top = up.top;
  root.blocks = c.n;
  root.created = root.committed = cas_now ();
  /* No server wrote it: no reuse window; the copy's length instead of
   * a commit bound, for the record.
   */
  root.commit_bound_s = (clock_mono_ms () - t0_ms) / 1000 + 1;
  cas_root_key (key, sizeof key, new_name);
  if (!cond) {
    struct cas_root old;
    bool found;

    if (cas_root_read (a->store, key, &old, NULL, &found) == -1)
      goto out;
    if (found) {
      nbdkit_error ("%s: refused: it was created meanwhile", new_name);
      status = EXIT_DAMAGE;
      goto out;
    }
  }
  /* -1: the store said why; a gate refusal is its lease's to explain. */
  if (cas_root_write (a->store, key, &root,
                      cond ? STORE_CREATE_ONLY : STORE_ALWAYS, NULL, c.gate,
                      &put) == -1)
    goto out;
  if (put == CAS_ROOT_PUT_EXISTS) {
    nbdkit_error ("%s: refused: it was created meanwhile", new_name);
    status = EXIT_DAMAGE;
    goto out;
  }
  err = cas_meta_write (a->store, new_name, root.size, root.block_size,
                        &created);
  if (err == -1 || !created) {
    if (err == 0)
      nbdkit_error ("%s: refused: it was created meanwhile; %s is left: "
                    "remove it with s3blocks delete --yes %s", new_name,
                    key, new_name);
    status = err == -1 ? EXIT_USAGE : EXIT_DAMAGE;
    goto out;
  }
  printf ("%s: clone of %s (plain) into the cas layout: %" PRIu64
          " blocks copied, %" PRIu64 " all-zero left as holes, %" PRIu64
          " contents and %" PRIu64 " pages written\n", new_name, src->name,
          (uint64_t) c.n, c.zero_blocks, c.data_puts, up.pages_written);
  status = EXIT_CLEAN;

 out:
  cas_tree_free (tree);
  free (c.changes);
  sbitmap_free (&present);
  lease_release (new_lease);
  lease_release (src_lease);
  lease_keeper_stop ();
  return status;
}
