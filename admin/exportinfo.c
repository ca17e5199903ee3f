/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): reading one export's objects, the way
 * the plugin reads them: metadata and lease through their parsers,
 * the allocation map through the plain layout, read-only.
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
#include "cas/cas-admin.h"
#include "cas/cas-tree.h"
#include "clock.h"
#include "format/keys.h"
#include "layout/layout.h"

/* Requests per batch when deleting: enough to keep the store's
 * requests in flight busy, little memory.
 */
#define DELETE_BATCH 256

/* 0 (*found false when there is no such object), or -1 after a
 * message.
 */
static int
read_object (struct store *store, const char *key, char *buf, size_t cap,
             size_t *got, bool *found)
{
  int err = store_get (store, key, buf, cap, got);

  *found = err == 0;
  if (err == ENOENT)
    return 0;
  if (err) {
    nbdkit_error ("cannot read %s: %s", key, strerror (err));
    errno = err;
    return -1;
  }
  return 0;
}

static int
first_entry (void *opaque, const struct store_entry *entry)
{
  (void) entry;
  *(bool *) opaque = true;
  return 1;
}

int
export_info_read (struct store *store, const char *name,
                  struct export_info *info, bool *found)
{
  char key[KEY_MAX], buf[META_MAX > LEASE_MAX ? META_MAX : LEASE_MAX];
  const char *why;
  size_t got;
  bool any_block = false, meta_exists, lease_exists;

  memset (info, 0, sizeof *info);
  info->name = name;
  *found = false;

  export_meta_key (key, sizeof key, name);
  if (read_object (store, key, buf, META_MAX, &got, &meta_exists) == -1)
    return -1;
  if (meta_exists) {
    if (meta_parse (buf, got, &info->meta, &why) == -1)
      /* Said, not fatal: the blocks may still be listed and deleted. */
      nbdkit_error ("%s: its metadata %s is unreadable: %s", name, key, why);
    else {
      info->has_meta = true;
      /* A log export has a cas root too (its leaves say "location"):
       * delete and list treat it as one; check, du, clone and snapshot
       * serving refuse its log tree themselves.
       */
      info->is_cas = info->meta.layout == EXPORT_LAYOUT_CAS
        || info->meta.layout == EXPORT_LAYOUT_LOG;
    }
  }
  else {
    /* An export written by an older tool has only blocks. */
    block_prefix (key, sizeof key, name);
    if (store_list (store, key, NULL, NULL, first_entry, &any_block) == -1) {
      nbdkit_error ("cannot list %s: %m", key);
      return -1;
    }
  }
  if (info->is_cas || (!meta_exists && !any_block)) {
    /* A cas export's root.  A crash in clone between the root and the
     * metadata leaves a root alone: an export still, to delete.
     */
    bool has_root;

    cas_root_key (key, sizeof key, name);
    if (cas_root_read (store, key, &info->root, NULL, &has_root) == -1)
      return -1;
    if (has_root)
      info->has_root = info->is_cas = true;
    else if (!meta_exists)
      return 0;
  }
  *found = true;

  export_lease_key (key, sizeof key, name);
  if (read_object (store, key, buf, LEASE_MAX, &got, &lease_exists) == -1)
    return -1;
  if (lease_exists) {
    if (lease_parse (buf, got, &info->lease, &why) == -1)
      nbdkit_error ("%s: its lease %s is unreadable: %s", name, key, why);
    else {
      info->has_lease = true;
      info->lease_held = info->lease.expires_ms > clock_wall_ms ();
    }
  }
  return 0;
}

struct lister {
  struct object_list *ol;
  bool keep_keys;
  const char *exact;            /* also accept this key, NULL: none */
  const char *prefix;
};

static int
list_entry (void *opaque, const struct store_entry *entry)
{
  struct lister *ls = opaque;
  struct object_list *ol = ls->ol;

  if (entry->is_prefix)
    return 0;
  if (ls->exact && strcmp (entry->key, ls->exact) != 0 &&
      strncmp (entry->key, ls->prefix, strlen (ls->prefix)) != 0)
    return 0;
  if (ls->keep_keys) {
    char *key;

    if (size_list_append (&ol->sizes, entry->size) == -1 ||
        (key = strdup (entry->key)) == NULL)
      goto nomem;
    if (name_list_append (&ol->keys, key) == -1) {
      free (key);
      goto nomem;
    }
  }
  ol->len++;
  ol->bytes += entry->size;
  return 0;

 nomem:
  nbdkit_error ("listing: %m");
  return -1;
}

int
object_list_read (struct store *store, const char *prefix, bool keep_keys,
                  struct object_list *ol)
{
  struct lister ls = { .ol = ol, .keep_keys = keep_keys };

  memset (ol, 0, sizeof *ol);
  if (store_list (store, prefix, NULL, NULL, list_entry, &ls) == -1) {
    nbdkit_error ("cannot list %s: %m", prefix);
    object_list_free (ol);      /* what the pages before the failure held */
    return -1;
  }
  return 0;
}

void
object_list_free (struct object_list *ol)
{
  for (size_t i = 0; i < ol->keys.len; i++)
    free (ol->keys.ptr[i]);
  name_list_reset (&ol->keys);
  size_list_reset (&ol->sizes);
  memset (ol, 0, sizeof *ol);
}

/* Listing "maps/NAME" would also find "maps/NAMEx/...", another
 * export's: only the root itself and keys under "maps/NAME/" count.
 */
int
export_map_objects (struct store *store, const char *name,
                    struct object_list *ol)
{
  char root[KEY_MAX], under[KEY_MAX + 1];
  struct lister ls = { .ol = ol, .keep_keys = true, .exact = root,
                       .prefix = under };

  memset (ol, 0, sizeof *ol);
  map_root_key (root, sizeof root, name);
  snprintf (under, sizeof under, "%s/", root);
  if (store_list (store, root, NULL, NULL, list_entry, &ls) == -1) {
    nbdkit_error ("cannot list %s: %m", root);
    object_list_free (ol);      /* what the pages before the failure held */
    return -1;
  }
  return 0;
}

int
export_load_map (struct store *store, const struct export_info *info,
                 struct sbitmap *present, bool *listed)
{
  struct layout_params p = {
    .export_name = info->name,
    .block_size = info->meta.block_size,
    .readonly = true,
  };
  struct layout *l = layout_plain_open (store, &p);
  struct layout_stats stats;
  uint64_t nr_blocks;
  int r;

  if (l == NULL)
    return -1;
  nr_blocks = (info->meta.size + info->meta.block_size - 1)
    / info->meta.block_size;
  r = l->ops->load_map (l, nr_blocks);
  /* Every block the map holds, those past the end too. */
  if (r == 0)
    r = l->ops->present (l, 0, UINT64_MAX, present);
  l->ops->get_stats (l, &stats);
  *listed = stats.map_rebuilt;
  l->ops->free (l);
  if (r == -1)
    nbdkit_error ("%s: cannot load its allocation map", info->name);
  return r;
}

int
delete_keys (struct store *store, char *const *keys, uint64_t n)
{
  struct store_op *ops = calloc (DELETE_BATCH, sizeof *ops);
  int r = 0;

  if (ops == NULL) {
    nbdkit_error ("calloc: %m");
    return -1;
  }
  for (uint64_t i = 0; i < n; i += DELETE_BATCH) {
    size_t batch = n - i < DELETE_BATCH ? n - i : DELETE_BATCH;

    memset (ops, 0, batch * sizeof *ops);
    for (size_t j = 0; j < batch; j++) {
      ops[j].kind = STORE_DELETE;
      snprintf (ops[j].key, sizeof ops[j].key, "%s", keys[i + j]);
    }
    /* Each failure is already logged by the store, naming its key. */
    if (store_run (store, ops, batch) > 0) {
      r = -1;
      break;
    }
    progress_advance (batch);   /* a verb's display, if it started one */
  }
  free (ops);
  return r;
}
