/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the names of the exports in the bucket, for nbdinfo --list.
 *
 * An export has a metadata object, exports/NAME, and blocks under
 * blocks/NAME/; one written by an older tool has only the blocks.  So
 * both listings are read, and most names come from each: they are
 * gathered, sorted and reported once each.  A third listing, of
 * cas/snaps/, adds each snapshot of a listed export as NAME@SNAP.
 */

#include <config.h>

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "format/cas-format.h"
#include "config/options.h"
#include "export/export.h"
#include "format/keys.h"
#include "store/store.h"
#include "vector.h"

DEFINE_VECTOR (string_list, char *);

struct name_set {
  size_t prefix_len;
  bool is_blocks;               /* entries are "blocks/NAME/" prefixes */
  struct string_list names;     /* each strdup'd */
};

static int
add_name (struct name_set *ns, const char *name)
{
  char *copy = strdup (name);

  if (copy == NULL)
    return -1;
  if (string_list_append (&ns->names, copy) == -1) {
    free (copy);
    return -1;
  }
  return 0;
}

static int
list_entry (void *opaque, const struct store_entry *entry)
{
  struct name_set *ns = opaque;
  char name[MAX_EXPORT_NAME + 2];
  size_t len = strlen (entry->key + ns->prefix_len);

  if (ns->is_blocks) {
    if (!entry->is_prefix || len < 2 || len > MAX_EXPORT_NAME + 1)
      return 0;
    len--;                      /* the trailing "/" */
  }
  else if (entry->is_prefix || len > MAX_EXPORT_NAME)
    return 0;
  memcpy (name, entry->key + ns->prefix_len, len);
  name[len] = '\0';
  /* Objects of other tools in the bucket are not exports. */
  if (!name_is_valid (name))
    return 0;
  if (add_name (ns, name) == -1) {
    nbdkit_error ("listing exports: %m");
    return -1;                  /* errno from malloc */
  }
  return 0;
}

static int
compare_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* cas/snaps/NAME/SNAP, for a NAME already in the set (sorted, the
 * first nr_exports names): NAME@SNAP joins it.
 */
struct snap_lister {
  struct name_set *ns;
  size_t nr_exports;
};

static int
list_snap (void *opaque, const struct store_entry *entry)
{
  struct snap_lister *sl = opaque;
  struct name_ref ref;
  char name[NAME_REF_MAX];
  const char *key = ref.export;

  if (entry->is_prefix || !cas_root_key_parse (entry->key, &ref) ||
      !name_ref_is_snapshot (&ref) ||
      bsearch (&key, sl->ns->names.ptr, sl->nr_exports,
               sizeof *sl->ns->names.ptr, compare_names) == NULL)
    return 0;
  name_ref_format (&ref, name, sizeof name);
  if (add_name (sl->ns, name) == -1) {
    nbdkit_error ("listing exports: %m");
    return -1;
  }
  return 0;
}

int
export_list_names (struct store *store,
                   int (*cb) (void *opaque, const char *name), void *opaque)
{
  struct name_set ns = {
    .prefix_len = strlen (EXPORTS_PREFIX), .names = VECTOR_INIT,
  };
  struct string_list *names = &ns.names;
  size_t i;
  int r = -1;

  if (store_list (store, EXPORTS_PREFIX, NULL, NULL, list_entry, &ns) == -1)
    goto out;
  ns.prefix_len = strlen (BLOCKS_PREFIX);
  ns.is_blocks = true;
  if (store_list (store, BLOCKS_PREFIX, "/", NULL, list_entry, &ns) == -1)
    goto out;

  if (names->len > 0) {
    struct snap_lister sl = { .ns = &ns, .nr_exports = names->len };

    qsort (names->ptr, names->len, sizeof *names->ptr, compare_names);
    if (store_list (store, CAS_SNAPS_PREFIX, NULL, NULL, list_snap,
                    &sl) == -1)
      goto out;
    qsort (names->ptr, names->len, sizeof *names->ptr, compare_names);
  }
  for (i = 0; i < names->len; i++) {
    if (i > 0 && strcmp (names->ptr[i], names->ptr[i - 1]) == 0)
      continue;
    if (cb (opaque, names->ptr[i]) == -1)
      goto out;
  }
  r = 0;

 out:
  for (i = 0; i < names->len; i++)
    free (names->ptr[i]);
  string_list_reset (names);
  return r;
}
