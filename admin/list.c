/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): list, every export (plain and cas) and
 * every snapshot, once each, an export followed by its snapshots.
 *
 * Exports are found as the plugin finds them (metadata objects and
 * plain block prefixes) and by their cas roots (a clone interrupted
 * between its root and its metadata leaves a root alone); snapshots by
 * listing cas/snaps/.  Each export costs its metadata, lease and (cas)
 * root GETs; a snapshot's root is read for its size and times.
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
#include "cas/cas-tree.h"
#include "export/export.h"

struct row {
  char name[NAME_REF_MAX];
  struct name_ref ref;          /* sort key: the export, then "" or snap */
};

DEFINE_VECTOR (rows, struct row);

static int
add_row (struct rows *rs, const char *name)
{
  struct row *r;
  struct name_ref ref;

  if (!name_ref_split (name, &ref))
    return 0;
  for (size_t i = 0; i < rs->len; i++)
    if (strcmp (rs->ptr[i].name, name) == 0)
      return 0;
  r = rows_push (rs);
  if (r == NULL) {
    nbdkit_error ("list: %m");
    return -1;
  }
  snprintf (r->name, sizeof r->name, "%s", name);
  r->ref = ref;
  return 0;
}

static int
add_export (void *opaque, const char *name)
{
  return add_row (opaque, name);
}

static int
compare_rows (const void *pa, const void *pb)
{
  const struct row *a = pa, *b = pb;
  int c = strcmp (a->ref.export, b->ref.export);

  return c ? c : strcmp (a->ref.snap, b->ref.snap);
}

static void
print_json_str_or_null (const char *s)
{
  if (s && *s)
    json_string (s);
  else
    printf ("null");
}

/* One row: 0 (*printed false when it is gone since the listing), or
 * -1 after a message.
 */
static int
print_row (struct admin *a, const struct row *row, bool first,
           bool *printed)
{
  struct export_info info;
  struct cas_root snap;
  const struct cas_root *root = NULL;
  char created[32] = "-", expires[32] = "", lease[160] = "free";
  const char *layout = "plain", *kind = "export";
  uint64_t size = 0;
  uint32_t bs = 0;
  bool known = false, found;

  *printed = false;
  memset (&info, 0, sizeof info);
  if (name_ref_is_snapshot (&row->ref)) {
    char key[KEY_MAX];

    cas_snap_key (key, sizeof key, row->ref.export, row->ref.snap);
    if (cas_root_read (a->store, key, &snap, NULL, &found) == -1)
      return -1;
    if (!found)
      return 0;
    root = &snap;
    kind = "snapshot";
    snprintf (lease, sizeof lease, "read-only");
  }
  else {
    if (export_info_read (a->store, row->name, &info, &found) == -1)
      return -1;
    if (!found)
      return 0;
    if (info.has_root)
      root = &info.root;
    if (info.has_meta) {
      size = info.meta.size;
      bs = info.meta.block_size;
      known = true;
    }
    if (info.lease_held) {
      format_time_s (info.lease.expires_ms / 1000, expires, sizeof expires);
      snprintf (lease, sizeof lease, "held by %s pid %" PRId64 " until %s",
                info.lease.host, info.lease.pid, expires);
    }
  }
  if (root || info.is_cas)
    layout = (root && root->leaf == CAS_LEAF_LOCATION)
      || (info.has_meta && info.meta.layout == EXPORT_LAYOUT_LOG)
      ? "log" : "cas";
  if (root) {
    if (!known) {
      size = root->size;
      bs = root->block_size;
      known = true;
    }
    format_time_s (root->created, created, sizeof created);
  }

  if (a->json) {
    printf ("%s\n  {\"name\": ", first ? "" : ",");
    json_string (row->name);
    printf (", \"kind\": \"%s\"", kind);
    if (known)
      printf (", \"size\": %" PRIu64 ", \"block_size\": %" PRIu32, size, bs);
    else
      printf (", \"size\": null, \"block_size\": null");
    printf (", \"layout\": \"%s\", \"created\": ", layout);
    print_json_str_or_null (root ? created : NULL);
    printf (", \"parent\": ");
    print_json_str_or_null (root ? root->parent : NULL);
    printf (", \"committed\": ");
    if (root)
      printf ("%" PRId64 ", \"generation\": %" PRIu64, root->committed,
              root->generation);
    else
      printf ("null, \"generation\": null");
    printf (", \"lease\": ");
    if (info.lease_held) {
      printf ("{\"host\": ");
      json_string (info.lease.host);
      printf (", \"pid\": %" PRId64 ", \"expires\": ", info.lease.pid);
      json_string (expires);
      printf (", \"expires_ms\": %" PRIu64 "}", info.lease.expires_ms);
    }
    else
      printf ("null");
    printf ("}");
  }
  else {
    char sz[24] = "-", b[16] = "-";

    if (known) {
      snprintf (sz, sizeof sz, "%" PRIu64, size);
      snprintf (b, sizeof b, "%" PRIu32, bs);
    }
    printf ("%-32s %16s %10s %-6s %-20s %-24s %s\n", row->name, sz, b,
            layout, created, root && root->parent[0] ? root->parent : "-",
            lease);
  }
  *printed = true;
  return 0;
}

int
verb_list (struct admin *a, int argc, char **argv)
{
  struct rows rs = VECTOR_INIT;
  struct cas_root_list roots;
  int status = EXIT_CLEAN;
  bool first = true;

  (void) argv;
  if (argc > 0) {
    nbdkit_error ("list takes no names (du and check do)");
    return EXIT_USAGE;
  }
  if (export_list_names (a->store, add_export, &rs) == -1) {
    nbdkit_error ("cannot list the exports in the bucket");
    rows_reset (&rs);
    return EXIT_USAGE;
  }
  if (cas_root_list_read (a->store, NULL, &roots) == -1) {
    rows_reset (&rs);
    return EXIT_USAGE;
  }
  for (size_t i = 0; i < roots.len; i++)
    if (add_row (&rs, roots.ptr[i].name) == -1) {
      status = EXIT_USAGE;
      goto out;
    }
  if (rs.len > 1)
    qsort (rs.ptr, rs.len, sizeof *rs.ptr, compare_rows);

  if (a->json)
    printf ("[");
  else
    printf ("%-32s %16s %10s %-6s %-20s %-24s %s\n", "NAME", "SIZE",
            "BLOCK", "LAYOUT", "CREATED", "PARENT", "LEASE");
  for (size_t i = 0; i < rs.len; i++) {
    bool printed;

    if (print_row (a, &rs.ptr[i], first, &printed) == -1) {
      status = EXIT_USAGE;
      break;
    }
    if (printed)
      first = false;
  }
  if (a->json)
    printf ("%s]\n", first ? "" : "\n");
 out:
  cas_root_list_free (&roots);
  rows_reset (&rs);
  return status;
}
