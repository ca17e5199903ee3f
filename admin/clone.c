/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): clone SOURCE NEW.
 *
 * From a cas export or snapshot: a new root cas/roots/NEW naming the
 * source's tree (cas-copy.c: a fixed number of requests, no content
 * copied), then NEW's metadata with "layout cas" and the source's size
 * and block size.  The root comes first: until the metadata exists no
 * server opens NEW as this clone, and a crash in between leaves a
 * root alone, which list shows and delete removes.  Both are created
 * only if absent (If-None-Match where the store has conditional PUT).
 * NEW starts a new incarnation at generation 0; writes to either side
 * change only that side's root.
 *
 * From a plain export: its data is copied once (cas-clone-plain.c).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "admin.h"
#include "cas/cas-admin.h"
#include "format/keys.h"

int
verb_clone (struct admin *a, int argc, char **argv)
{
  struct export_info src_info, dst_info;
  struct name_ref ref;
  char src[KEY_MAX], dst[KEY_MAX];
  struct cas_copy c;
  bool found, made, created;
  int err;

  if (argc != 2) {
    nbdkit_error ("clone takes a source and a new name: "
                  "s3blocks clone SOURCE NEW (SOURCE: EXPORT or "
                  "EXPORT@SNAP)");
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

  if (!name_ref_is_snapshot (&ref)) {
    if (export_info_read (a->store, ref.export, &src_info, &found) == -1)
      return EXIT_USAGE;
    if (!found) {
      nbdkit_error ("%s: no such export: nothing to clone", argv[0]);
      return EXIT_USAGE;
    }
    if (!src_info.is_cas)
      return clone_from_plain (a, &src_info, argv[1]);
    if (!src_info.has_root) {
      nbdkit_error ("%s: refused: it has not committed anything yet: "
                    "nothing to clone", argv[0]);
      return EXIT_DAMAGE;
    }
  }

  cas_ref_root_key (src, sizeof src, &ref);
  cas_root_key (dst, sizeof dst, argv[1]);
  c = (struct cas_copy) {
    .src_key = src, .src_name = argv[0], .dst_key = dst, .dst_name = argv[1],
    .kind = CAS_ROOT_EXPORT, .keep_generation = false,
    /* Its metadata would say "layout cas" over a log tree. */
    .log_refused_by = "clone",
  };
  if (cas_copy_root (a->store, &c, &made) == -1)
    return EXIT_USAGE;
  if (!made)
    return EXIT_DAMAGE;

  err = cas_meta_write (a->store, argv[1], c.root.size, c.root.block_size,
                        &created);
  if (err == -1 || !created) {
    /* A server created NEW between our check and now: its export, not
     * ours; take our root back.
     */
    if (err == 0)
      nbdkit_error ("%s: refused: it was created meanwhile", argv[1]);
    if (store_delete (a->store, dst) != 0)
      nbdkit_error ("%s: %s is left: remove it with s3blocks delete --yes "
                    "%s", argv[1], dst, argv[1]);
    return err == -1 ? EXIT_USAGE : EXIT_DAMAGE;
  }
  printf ("%s: clone of %s (%" PRIu64 " bytes, %" PRIu64 " blocks of %"
          PRIu32 "), %u tr%s, no content copied\n", argv[1], argv[0],
          c.root.size, c.root.blocks, c.root.block_size, c.tries,
          c.tries == 1 ? "y" : "ies");
  return EXIT_CLEAN;
}
