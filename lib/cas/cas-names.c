/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): names and the objects found by them.
 *
 * A cas name is "export" or "export@snap", both parts following the
 * export name rules, so neither can hold '/' (no key escapes its
 * prefix) nor be "." or "..".  Roots are found by listing cas/roots/
 * and cas/snaps/; anything there that is not a root of valid names
 * (another tool's object) is skipped, never touched.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "cas/cas-admin.h"
#include "clock.h"
#include "format/keys.h"
#include "format/meta.h"
#include "vector.h"

int64_t
cas_now (void)
{
  return clock_wall_s ();
}

/* ---- every root ---- */

struct root_lister {
  struct cas_root_list *l;
  size_t prefix_len;
  bool snaps;
};

static int
root_entry (void *opaque, const struct store_entry *e)
{
  struct root_lister *rl = opaque;
  struct cas_root_list *l = rl->l;
  struct cas_root_entry *r;
  struct name_ref ref;

  if (e->is_prefix || strlen (e->key) >= KEY_MAX ||
      !cas_root_key_parse (e->key, &ref) ||
      name_ref_is_snapshot (&ref) != rl->snaps)
    return 0;

  r = cas_root_list_push (l);
  if (r == NULL) {
    nbdkit_error ("listing roots: %m");
    return -1;
  }
  snprintf (r->key, sizeof r->key, "%s", e->key);
  name_ref_format (&ref, r->name, sizeof r->name);
  r->is_snap = rl->snaps;
  r->size = e->size;
  r->mtime = e->mtime;
  return 0;
}

int
cas_root_list_read (struct store *store, const char *export,
                    struct cas_root_list *l)
{
  char prefix[KEY_MAX];
  struct root_lister rl = { .l = l };

  memset (l, 0, sizeof *l);
  if (export)
    cas_root_key (prefix, sizeof prefix, export);
  else
    snprintf (prefix, sizeof prefix, "%s", CAS_ROOTS_PREFIX);
  rl.prefix_len = strlen (CAS_ROOTS_PREFIX);
  if (store_list (store, prefix, NULL, NULL, root_entry, &rl) == -1)
    goto fail;
  /* Listing cas/roots/E also finds cas/roots/Ex: keep E's alone. */
  if (export) {
    size_t j = 0;

    for (size_t i = 0; i < l->len; i++)
      if (strcmp (l->ptr[i].name, export) == 0)
        l->ptr[j++] = l->ptr[i];
    l->len = j;
  }

  if (export)
    cas_snap_prefix (prefix, sizeof prefix, export);
  else
    snprintf (prefix, sizeof prefix, "%s", CAS_SNAPS_PREFIX);
  rl.prefix_len = strlen (CAS_SNAPS_PREFIX);
  rl.snaps = true;
  if (store_list (store, prefix, NULL, NULL, root_entry, &rl) == -1)
    goto fail;
  return 0;

 fail:
  nbdkit_error ("cannot list %s: %m", prefix);
  cas_root_list_free (l);
  return -1;
}

void
cas_root_list_free (struct cas_root_list *l)
{
  cas_root_list_reset (l);
}

/* ---- leases ---- */

struct lease_name {
  char name[MAX_EXPORT_NAME + 1];
};
DEFINE_VECTOR (lease_names, struct lease_name);

static int
lease_entry (void *opaque, const struct store_entry *e)
{
  struct lease_names *ln = opaque;
  const char *name = e->key + strlen (LEASES_PREFIX);
  struct lease_name *n;

  if (e->is_prefix || !name_is_valid (name))
    return 0;
  n = lease_names_push (ln);
  if (n == NULL) {
    nbdkit_error ("listing leases: %m");
    return -1;
  }
  snprintf (n->name, sizeof n->name, "%s", name);
  return 0;
}

int
held_leases_read (struct store *store, struct held_leases *h)
{
  struct lease_names ln = VECTOR_INIT;
  const uint64_t now_ms = (uint64_t) cas_now () * 1000;
  int r = -1;

  memset (h, 0, sizeof *h);
  if (store_list (store, LEASES_PREFIX, NULL, NULL, lease_entry, &ln) == -1) {
    nbdkit_error ("cannot list %s: %m", LEASES_PREFIX);
    goto out;
  }
  h->v = calloc (ln.len ? ln.len : 1, sizeof *h->v);
  if (h->v == NULL) {
    nbdkit_error ("calloc: %m");
    goto out;
  }
  for (size_t i = 0; i < ln.len; i++) {
    char key[KEY_MAX], buf[LEASE_MAX];
    struct lease_info info;
    const char *why;
    size_t got;
    int err;

    export_lease_key (key, sizeof key, ln.ptr[i].name);
    err = store_get (store, key, buf, sizeof buf, &got);
    if (err == ENOENT)
      continue;                 /* released since the listing */
    if (err) {
      nbdkit_error ("cannot read %s: %s", key, strerror (err));
      goto out;
    }
    if (lease_parse (buf, got, &info, &why) == -1) {
      /* A server would not take it either: count it as held. */
      nbdkit_error ("%s is unreadable (%s): taken as held", key, why);
      memset (&info, 0, sizeof info);
      info.expires_ms = UINT64_MAX;
    }
    if (info.expires_ms <= now_ms)
      continue;
    snprintf (h->v[h->n].name, sizeof h->v[h->n].name, "%s",
              ln.ptr[i].name);
    h->v[h->n].info = info;
    h->n++;
  }
  r = 0;
 out:
  lease_names_reset (&ln);
  if (r == -1)
    held_leases_free (h);
  return r;
}

void
held_leases_free (struct held_leases *h)
{
  free (h->v);
  memset (h, 0, sizeof *h);
}

/* ---- metadata ---- */

int
cas_meta_write (struct store *store, const char *name, uint64_t size,
                uint32_t block_size, bool *created)
{
  return meta_write_layout (store, name, size, block_size,
                            EXPORT_LAYOUT_CAS, created);
}

int
meta_write_layout (struct store *store, const char *name, uint64_t size,
                   uint32_t block_size, enum export_layout layout,
                   bool *created)
{
  const struct export_meta m = {
    .size = size, .block_size = block_size, .layout = layout,
  };
  char key[KEY_MAX], buf[META_MAX];
  int len, err;
  bool cond = store_can (store, STORE_CAP_CONDITIONAL_PUT);

  *created = false;
  export_meta_key (key, sizeof key, name);
  len = meta_format (buf, sizeof buf, &m);
  if (len == -1) {
    nbdkit_error ("%s: metadata too long", name);
    errno = ENAMETOOLONG;
    return -1;
  }
  err = store_put_cond (store, key, buf, len,
                        cond ? STORE_CREATE_ONLY : STORE_ALWAYS, NULL, NULL);
  if (err == EEXIST)
    return 0;
  if (err) {
    nbdkit_error ("cannot write %s: %s", key, strerror (err));
    errno = err;
    return -1;
  }
  *created = true;
  return 0;
}

bool
cas_name_wanted (const char *name, char **names, int n)
{
  if (names == NULL)
    return true;
  for (int i = 0; i < n; i++)
    if (strcmp (names[i], name) == 0)
      return true;
  return false;
}

bool
cas_root_refused_by (const struct cas_root *r, const char *name,
                     const char *verb)
{
  if (r->leaf == CAS_LEAF_HASH)
    return false;
  /* Its leaf entries name segments, not cas/data/ objects: read as a
   * cas tree's, every block would look missing or damaged.
   */
  nbdkit_error ("export %s uses the log layout: not supported by %s yet",
                name, verb);
  errno = ENOTSUP;
  return true;
}
