/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): what its files share.
 *
 * main.c parses the command line and opens the store; exportinfo.c
 * reads one export's objects (metadata, lease, map, block listing);
 * targets.c picks the exports a verb works on; output.c formats.  One
 * file a verb (list.c, du.c, check.c, delete.c, snapshot.c, clone.c,
 * gc.c), with the cas parts of du, check, delete and clone in cas-*.c
 * and the log parts of du and check in log-*.c.
 * Single-threaded above the store; lib/ through its public headers.
 */

#ifndef S3BLOCKS_ADMIN_H
#define S3BLOCKS_ADMIN_H

#include <stdbool.h>
#include <stdint.h>

#include "format/cas-format.h"
#include "lease/leaseinfo.h"
#include "format/meta.h"
#include "sbitmap.h"
#include "store/store.h"
#include "vector.h"

struct s3blocks_config;

/* Exit statuses. */
#define EXIT_CLEAN  0
#define EXIT_DAMAGE 1               /* also: a refusal (delete) */
#define EXIT_USAGE  2               /* usage or connection error */

/* Names (targets.c, object_list's keys) and object sizes. */
DEFINE_VECTOR (name_list, char *);
DEFINE_VECTOR (size_list, uint64_t);

struct admin {
  struct store *store;
  bool json;
  bool deep;                        /* check --deep */
  bool yes;                         /* delete --yes */
  bool dry_run;                     /* gc --dry-run */
  int64_t grace_s;                  /* gc grace=, -1: not given */
  unsigned lease_ms;                /* lease-time=, for clone's lease */
  unsigned request_ms;              /* timeout= */
  unsigned max_requests;            /* max-requests= */
  /* clone --layout=: the new export's layout (not given: the
   * source's, and cas for a plain source).
   */
  bool layout_given;
  enum export_layout layout;
  /* The connection's configuration: a clone that copies writes as a
   * server with its defaults would (reuse window, bounds, segment
   * size).  NULL (unit tests): the defaults.
   */
  const struct s3blocks_config *cfg;
  /* clone: data written between two commits of NEW; 0: CLONE_COMMIT_BYTES. */
  uint64_t clone_commit_bytes;
};

/* One export as the bucket has it. */
struct export_info {
  const char *name;
  bool has_meta;                    /* exports/NAME exists and parses */
  struct export_meta meta;          /* has_meta: size and block size */
  bool has_lease;                   /* leases/NAME exists and parses */
  struct lease_info lease;
  bool lease_held;                  /* has_lease, unexpired by our clock */
  bool is_cas;                      /* metadata says "layout cas", or no
                                       metadata but a cas root */
  bool has_root;                    /* cas/roots/NAME read into root */
  struct cas_root root;
};

/* Read the metadata and lease objects, and a cas export's root: 0
 * (*found false when the export does not exist: no metadata, no
 * block, no root), or -1 after a message.
 */
extern int export_info_read (struct store *store, const char *name,
                             struct export_info *info, bool *found);

/* Objects under a key prefix: how many and their bytes, and with
 * keep_keys each one's key and size (empty without: count and sum
 * only).
 */
struct object_list {
  struct name_list keys;            /* each strdup'd */
  struct size_list sizes;
  uint64_t len;
  uint64_t bytes;
};
/* Every object whose key starts with prefix.  0, or -1 after a message
 * (ol then holds nothing).
 */
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
extern int verb_snapshot (struct admin *a, int argc, char **argv);
extern int verb_clone (struct admin *a, int argc, char **argv);
extern int verb_gc (struct admin *a, int argc, char **argv);

/* The cas parts of the verbs (cas-du.c, cas-check.c, cas-delete.c,
 * cas-clone-plain.c; list.c lists cas exports and snapshots itself).
 * Names: those given on the command line, NULL for all.
 */
/* Print the cas table of du, or its JSON members ("cas", "bucket")
 * after a comma.  Returns an exit status.
 */
extern int cas_du (struct admin *a, char **names, int n);
extern int cas_check (struct admin *a, char **names, int n);
/* The log roots among l (those that say "leaf location"), for cas_du
 * and cas_check (log-du.c, log-check.c).  log_du prints its table, or
 * its JSON members ("log", "log_bucket") after a comma: 0, or -1 after
 * a message.  log_check checks the wanted ones and says what is
 * damaged, adding the pages it read to pages and bad_pages (cas_check
 * counts what is unreferenced from them): 0 (*damaged: how many
 * objects), or -1 after a message.
 */
struct cas_root_list;
struct hset;
extern int log_du (struct admin *a, const struct cas_root_list *l,
                   char **names, int n);
extern int log_check (struct admin *a, const struct cas_root_list *l,
                      char **names, int n, struct hset *pages,
                      struct hset *bad_pages, uint64_t *damaged);
extern int cas_delete (struct admin *a, const char *name,
                       const struct export_info *info);
/* Copy a plain export's data into the cas layout as NEW. */
extern int clone_from_plain (struct admin *a, const struct export_info *src,
                             const char *new_name);
/* Copy SOURCE's blocks into NEW of layout to, reading each through
 * its own layout (clone-copy.c).  src: the export's info, NULL for a
 * snapshot, whose root is sroot.
 */
#define CLONE_COMMIT_BYTES (1024ULL << 20)
extern int clone_by_copy (struct admin *a, const char *src_text,
                          const struct export_info *src,
                          const struct cas_root *sroot,
                          enum export_layout from, const char *new_name,
                          enum export_layout to);

/* targets.c: the exports a verb works on. */
/* The names given (argc > 0), or every export in the bucket: 0, or -1
 * after a message.  free_names frees the strings and the list.
 */
extern int get_names (struct admin *a, int argc, char **argv,
                      struct name_list *ns);
extern void free_names (struct name_list *ns);
/* One export named on the command line: 0 (*found false: it does not
 * exist, and that was said), or -1 after a message.
 */
extern int read_info (struct admin *a, const char *name,
                      struct export_info *info, bool *found);
/* The two parts of a verb that takes names or none (du, check).
 * plain_targets calls one (a, info, opaque, &damaged) on each plain
 * export among ns (from get_names), in order, with its info read; one
 * returns 0 (*damaged: it found damage), or -1 after a message.  The
 * cas exports and snapshots among ns go into cas_ns (set here; free
 * it with free_names).  A name given (argc > 0) that does not exist is
 * said and makes the status EXIT_USAGE, and the others still run.
 * Returns an exit status: EXIT_USAGE at once when a name cannot be
 * read or one fails; else the worst of EXIT_USAGE (a name given that
 * does not exist), EXIT_DAMAGE (one found damage) and EXIT_CLEAN.
 */
extern int plain_targets (struct admin *a, int argc,
                          const struct name_list *ns,
                          struct name_list *cas_ns,
                          int (*one) (struct admin *a,
                                      const struct export_info *info,
                                      void *opaque, bool *damaged),
                          void *opaque);
/* Then, given plain_targets' status, the verb's cas part (cas_du,
 * cas_check): on the cas exports and snapshots named (cas_ns), or on
 * all of them (NULL, 0) when no name was given; not after status
 * EXIT_USAGE, nor when names were given and none of them is cas.
 * Returns the worse of status and the cas part's.
 */
extern int cas_targets (struct admin *a, int argc,
                        const struct name_list *cas_ns, int status,
                        int (*cas) (struct admin *a, char **names, int n));

/* output.c */
/* "2026-01-02T03:04:05Z" from seconds (or ms) since 1970. */
extern void format_time_s (int64_t t, char *buf, size_t size);
extern void format_time_ms (uint64_t ms, char *buf, size_t size);
/* JSON string output. */
extern void json_string (const char *s);

#endif /* S3BLOCKS_ADMIN_H */
