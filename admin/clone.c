/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): clone [--layout=L] SOURCE NEW.
 *
 * Within cas, or within log (the source's layout, the default for
 * either): a new root cas/roots/NEW naming the source's tree
 * (cas-copy.c: a fixed number of requests, no content copied), then
 * NEW's metadata with the layout of that tree ("layout cas" or
 * "layout log") and the source's size and block size.  The root comes first: until the metadata exists no
 * server opens NEW as this clone, and a crash in between leaves a
 * root alone, which list shows and delete removes.  Both are created
 * only if absent (If-None-Match where the store has conditional PUT).
 * NEW starts a new incarnation at generation 0; writes to either side
 * change only that side's root.
 *
 * From a plain export into cas (its default): its data is copied once
 * (cas-clone-plain.c).  Any other pair of layouts (--layout=): the
 * data is copied once through both layouts (clone-copy.c).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "admin.h"
#include "cas/cas-admin.h"
#include "cas/cas-tree.h"
#include "format/keys.h"

/* Which layout a source has, and its root (a snapshot's is read here;
 * an export's comes with its info).  Returns an exit status, or -1 to
 * go on.
 */
static int
source_layout (struct admin *a, const char *text, const struct name_ref *ref,
               struct export_info *info, struct cas_root *sroot,
               enum export_layout *from)
{
  char key[KEY_MAX];
  bool found;

  if (name_ref_is_snapshot (ref)) {
    cas_ref_root_key (key, sizeof key, ref);
    if (cas_root_read (a->store, key, sroot, NULL, &found) == -1)
      return EXIT_USAGE;
    if (!found) {
      nbdkit_error ("%s: no such cas snapshot (%s is missing): nothing to "
                    "clone", text, key);
      return EXIT_USAGE;
    }
    *from = sroot->leaf == CAS_LEAF_LOCATION
      ? EXPORT_LAYOUT_LOG : EXPORT_LAYOUT_CAS;
    return -1;
  }
  if (export_info_read (a->store, ref->export, info, &found) == -1)
    return EXIT_USAGE;
  if (!found) {
    nbdkit_error ("%s: no such export: nothing to clone", text);
    return EXIT_USAGE;
  }
  if (!info->is_cas) {
    *from = EXPORT_LAYOUT_PLAIN;
    return -1;
  }
  if (!info->has_root) {
    nbdkit_error ("%s: refused: it has not committed anything yet: "
                  "nothing to clone", text);
    return EXIT_DAMAGE;
  }
  *sroot = info->root;
  *from = (info->root.leaf == CAS_LEAF_LOCATION
           || (info->has_meta && info->meta.layout == EXPORT_LAYOUT_LOG))
    ? EXPORT_LAYOUT_LOG : EXPORT_LAYOUT_CAS;
  return -1;
}

/* Within cas or within log: the root copy. */
static int
clone_root (struct admin *a, const struct name_ref *ref, const char *src_text,
            const char *new_name, enum export_layout to)
{
  char src[KEY_MAX], dst[KEY_MAX];
  struct cas_copy c;
  enum export_layout got;
  bool made, created;
  int err;

  cas_ref_root_key (src, sizeof src, ref);
  cas_root_key (dst, sizeof dst, new_name);
  c = (struct cas_copy) {
    .src_key = src, .src_name = src_text, .dst_key = dst,
    .dst_name = new_name, .kind = CAS_ROOT_EXPORT, .keep_generation = false,
  };
  if (cas_copy_root (a->store, &c, &made) == -1)
    return EXIT_USAGE;
  if (!made)
    return EXIT_DAMAGE;

  /* The metadata says what the copied tree is, read in the copy. */
  got = c.root.leaf == CAS_LEAF_LOCATION
    ? EXPORT_LAYOUT_LOG : EXPORT_LAYOUT_CAS;
  err = 0;
  created = false;
  if (got != to)
    nbdkit_error ("%s: refused: %s became a %s export during the clone",
                  new_name, src_text, export_layout_name (got));
  else
    err = meta_write_layout (a->store, new_name, c.root.size,
                             c.root.block_size, got, &created);
  if (err == -1 || !created) {
    /* A server created NEW between our check and now: its export, not
     * ours; take our root back.
     */
    if (err == 0 && got == to)
      nbdkit_error ("%s: refused: it was created meanwhile", new_name);
    if (store_delete (a->store, dst) != 0)
      nbdkit_error ("%s: %s is left: remove it with s3blocks delete --yes "
                    "%s", new_name, dst, new_name);
    return err == -1 ? EXIT_USAGE : EXIT_DAMAGE;
  }
  printf ("%s: clone of %s (%s, %" PRIu64 " bytes, %" PRIu64 " blocks of %"
          PRIu32 "), %u tr%s, no content copied\n", new_name, src_text,
          export_layout_name (got), c.root.size, c.root.blocks,
          c.root.block_size, c.tries, c.tries == 1 ? "y" : "ies");
  return EXIT_CLEAN;
}

int
verb_clone (struct admin *a, int argc, char **argv)
{
  struct export_info src_info, dst_info;
  struct cas_root sroot;
  struct name_ref ref;
  enum export_layout from, to;
  bool found;
  int status;

  if (argc != 2) {
    nbdkit_error ("clone takes a source and a new name: "
                  "s3blocks clone [--layout=plain|cas|log] SOURCE NEW "
                  "(SOURCE: EXPORT or EXPORT@SNAP)");
    return EXIT_USAGE;
  }
  if (name_text_is_snapshot (argv[1])) {
    nbdkit_error ("clone: the new name \"%s\" must be an export name, "
                  "without \"@\" (make a snapshot with s3blocks "
                  "snapshot)", argv[1]);
    return EXIT_USAGE;
  }
  if (name_ref_parse (NULL, argv[0], &ref) == -1)
    return EXIT_USAGE;
  if (strcmp (ref.export, argv[1]) == 0 && !name_ref_is_snapshot (&ref)) {
    nbdkit_error ("clone: the source and the new name are both \"%s\"",
                  argv[1]);
    return EXIT_USAGE;
  }

  if (export_info_read (a->store, argv[1], &dst_info, &found) == -1)
    return EXIT_USAGE;
  if (found) {
    nbdkit_error ("%s: refused: it exists (delete it first, or choose "
                  "another name)", argv[1]);
    return EXIT_DAMAGE;
  }

  memset (&sroot, 0, sizeof sroot);
  status = source_layout (a, argv[0], &ref, &src_info, &sroot, &from);
  if (status != -1)
    return status;
  to = a->layout_given ? a->layout
    : from == EXPORT_LAYOUT_PLAIN ? EXPORT_LAYOUT_CAS : from;

  if (from == to && from != EXPORT_LAYOUT_PLAIN)
    return clone_root (a, &ref, argv[0], argv[1], to);
  if (from == EXPORT_LAYOUT_PLAIN && to == EXPORT_LAYOUT_CAS)
    return clone_from_plain (a, &src_info, argv[1]);
  return clone_by_copy (a, argv[0],
                        name_ref_is_snapshot (&ref) ? NULL : &src_info,
                        &sroot, from, argv[1], to);
}
