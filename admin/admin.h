/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): what its files share.
 *
 * main.c parses the command line and opens the store; exportinfo.c
 * reads one export's objects (metadata, lease, map, block listing);
 * verbs.c does the verbs with them.  Single-threaded above the store.
 */

#ifndef S3BLOCKS_ADMIN_H
#define S3BLOCKS_ADMIN_H

#include <stdbool.h>
#include <stdint.h>

#include "leaseinfo.h"
#include "meta.h"
#include "sbitmap.h"
#include "store.h"

/* Exit statuses. */
#define EXIT_CLEAN  0
#define EXIT_DAMAGE 1               /* also: a refusal (delete) */
#define EXIT_USAGE  2               /* usage or connection error */

extern bool admin_verbose;          /* -v: nbdkit_debug prints */

struct admin {
  struct store *store;
  bool json;
  bool deep;                        /* check --deep */
  bool yes;                         /* delete --yes */
};

/* One export as the bucket has it. */
struct export_info {
  const char *name;
  bool has_meta;                    /* exports/NAME exists and parses */
  struct export_meta meta;          /* has_meta: size and block size */
  bool has_lease;                   /* leases/NAME exists and parses */
  struct lease_info lease;
  bool lease_held;                  /* has_lease, unexpired by our clock */
};

/* Read the metadata and lease objects.  0; 1 when the export does not
 * exist (no metadata, no block); -1 after an error.
 */
extern int export_info_read (struct store *store, const char *name,
                             struct export_info *info);

/* Objects under a key prefix.  keys NULL: count and sum only. */
struct object_list {
  char **keys;
  uint64_t *sizes;
  uint64_t len, cap;
  uint64_t bytes;
};
/* Every object whose key starts with prefix.  0 or -1. */
extern int object_list_read (struct store *store, const char *prefix,
                             bool keep_keys, struct object_list *ol);
extern void object_list_free (struct object_list *ol);

/* The export's map objects: the root maps/NAME and its segments. */
extern int export_map_objects (struct store *store, const char *name,
                               struct object_list *ol);

/* The allocation map as the plugin loads it, read-only: from the map,
 * or by listing the blocks when there is none (*listed set).  Needs
 * the metadata.  0 or -1.
 */
extern int export_load_map (struct store *store,
                            const struct export_info *info,
                            struct sbitmap *present, bool *listed);

/* Delete the keys, in batches.  0 or -1. */
extern int delete_keys (struct store *store, char *const *keys, uint64_t n);

/* The verbs: each returns an exit status. */
extern int verb_list (struct admin *a, int argc, char **argv);
extern int verb_du (struct admin *a, int argc, char **argv);
extern int verb_check (struct admin *a, int argc, char **argv);
extern int verb_delete (struct admin *a, int argc, char **argv);

/* A name given on the command line: valid, else a message naming the
 * rule.  true if valid.
 */
extern bool admin_name_ok (const char *name);

/* JSON string output. */
extern void json_string (const char *s);

#endif /* S3BLOCKS_ADMIN_H */
