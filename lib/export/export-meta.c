/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: an export's metadata object, read against the
 * configuration when the export opens, and written when it is created
 * or resized.  The rules for what may change are here: block-size=
 * and layout= never (they would misread every block), size= only on
 * the default export, and shrinking only with shrink=true.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "config/options.h"
#include "export-impl.h"
#include "format/keys.h"
#include "format/meta.h"
#include "store/store.h"

/* An export with blocks but no metadata object was written by an older
 * tool: one key is enough to tell.
 */
static int
found_one (void *opaque, const struct store_entry *entry)
{
  *(bool *) opaque = true;
  return 1;
}

static int
has_blocks (struct store *store, const char *name, bool *found)
{
  char prefix[KEY_MAX];

  *found = false;
  block_prefix (prefix, sizeof prefix, name);
  if (store_list (store, prefix, NULL, NULL, found_one, found) == -1) {
    nbdkit_error ("export %s: cannot list its blocks to see whether an "
                  "older tool wrote it: %m", name);
    return -1;
  }
  return 0;
}

int
export_meta_write (struct store *store, const char *name,
                   const struct export_meta *m)
{
  char key[KEY_MAX], buf[META_MAX];
  int len = meta_format (buf, sizeof buf, m);
  int err;

  if (len == -1) {
    nbdkit_error ("export %s: its metadata does not fit in %d bytes: "
                  "this is a bug", name, META_MAX);
    return -1;
  }
  export_meta_key (key, sizeof key, name);
  err = store_put (store, key, buf, len);
  if (err) {
    nbdkit_error ("export %s: cannot write its metadata object %s",
                  name, key);
    errno = err;
    return -1;
  }
  return 0;
}

int
export_meta_resolve (struct store *store, const struct s3blocks_config *cfg,
                     const char *name, bool readonly, struct export_meta *m,
                     uint64_t *new_size, bool *dirty_meta)
{
  const bool is_default = strcmp (name, cfg->export_name) == 0;
  const bool block_size_given = cfg->given & CONFIG_GIVEN (block_size);
  const bool layout_given = cfg->given & CONFIG_GIVEN (layout);
  char key[KEY_MAX], buf[META_MAX + 1];
  size_t got = 0;
  const char *why;
  int err;

  *new_size = 0;
  *dirty_meta = false;
  export_meta_key (key, sizeof key, name);
  err = store_get (store, key, buf, META_MAX, &got);

  if (err == 0) {
    if (meta_parse (buf, got, m, &why) == -1) {
      nbdkit_error ("export %s: its metadata object %s is malformed (%s); "
                    "refusing to guess its size and block size",
                    name, key, why);
      errno = EINVAL;
      return -1;
    }
    if (block_size_given && cfg->block_size != m->block_size) {
      nbdkit_error ("export %s was created with block-size=%" PRIu32
                    "; block-size=%" PRIu32 " would misread its blocks "
                    "(leave block-size out to use the recorded one)",
                    name, m->block_size, cfg->block_size);
      errno = EINVAL;
      return -1;
    }
    if (layout_given && cfg->layout != m->layout) {
      nbdkit_error ("export %s was created with layout=%s; layout=%s "
                    "applies only to new exports (leave layout out to "
                    "use the recorded one)", name,
                    export_layout_name (m->layout),
                    export_layout_name (cfg->layout));
      errno = EINVAL;
      return -1;
    }
    if (is_default && cfg->size >= 0 && (uint64_t) cfg->size != m->size) {
      if ((uint64_t) cfg->size < m->size && !cfg->shrink) {
        nbdkit_error ("export %s has size %" PRIu64 "; size=%" PRIi64
                      " would shrink it and discard the data past that "
                      "point: add shrink=true to do so, or leave size "
                      "out to use the recorded size",
                      name, m->size, cfg->size);
        errno = EINVAL;
        return -1;
      }
      if (readonly) {
        nbdkit_debug ("export %s: read-only server, keeping the recorded "
                      "size %" PRIu64, name, m->size);
        return 0;
      }
      nbdkit_debug ("export %s: %s from %" PRIu64 " to %" PRIi64 " bytes",
                    name, (uint64_t) cfg->size > m->size ? "growing"
                    : "shrinking", m->size, cfg->size);
      *new_size = cfg->size;
      *dirty_meta = true;
    }
    return 0;
  }
  if (err != ENOENT) {
    nbdkit_error ("export %s: cannot read its metadata object %s", name, key);
    errno = err;
    return -1;
  }

  /* No metadata: an export from an older tool (blocks only), or none. */
  bool legacy;
  if (has_blocks (store, name, &legacy) == -1)
    return -1;
  if (legacy && cfg->layout != EXPORT_LAYOUT_PLAIN) {
    nbdkit_error ("export %s has blocks under blocks/%s/ but no metadata "
                  "object (written by an older tool): it can only be "
                  "opened with layout=plain", name, name);
    errno = EINVAL;
    return -1;
  }
  if (!legacy && !cfg->create) {
    nbdkit_error ("export %s does not exist, and create=false", name);
    errno = ENOENT;
    return -1;
  }
  if (!legacy && readonly) {
    nbdkit_error ("export %s does not exist, and a read-only server "
                  "does not create exports", name);
    errno = ENOENT;
    return -1;
  }
  if (cfg->size < 0) {
    nbdkit_error (legacy
                  ? "export %s has blocks but no metadata object (written "
                    "by an older tool): give size= to open it"
                  : "export %s does not exist: give size= to create it",
                  name);
    errno = EINVAL;
    return -1;
  }
  m->size = cfg->size;
  m->block_size = cfg->block_size;
  m->layout = legacy ? EXPORT_LAYOUT_PLAIN : cfg->layout;
  *dirty_meta = !readonly;
  nbdkit_debug ("export %s: %s, size %" PRIu64 ", block-size %" PRIu32
                ", layout %s", name, legacy
                ? "adopting blocks with no metadata" : "creating", m->size,
                m->block_size, export_layout_name (m->layout));
  return 0;
}
