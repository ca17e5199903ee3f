/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the content-addressed ("cas") layout's objects: content
 * (cas/data/), map pages (cas/pages/), export roots (cas/roots/) and
 * snapshot roots (cas/snaps/).  Where each sits in the bucket and who
 * writes and reads it: docs/bucket-format.md, which carries the two
 * formats below too (change both together).
 *
 * A map tree maps block numbers to content hashes.  Its pages have
 * CAS_FANOUT slots: a leaf (level 0) page's slot i is block
 * (page's first block + i), an interior page's slot i is the child page
 * covering the i-th 1/CAS_FANOUT of its range.  The top page is at
 * level depth and covers CAS_FANOUT^(depth+1) blocks.  (The log
 * layout's trees share these pages above their leaves, which are
 * larger: cas-tree-format.h has the geometry of both.)  Absent slots are
 * holes (all-zero blocks, or subtrees with no blocks); an empty page is
 * never stored.  Pages and data are immutable and content-addressed, so
 * a cached page is never stale and the same subtree is stored once for
 * every export, snapshot and clone that has it.
 *
 * Page format (little-endian):
 *   8 bytes   CAS_PAGE_MAGIC
 *   1 byte    level (0: leaf)
 *   3 bytes   zero
 *   4 bytes   count of entries (1..CAS_FANOUT)
 *   count x { 2 bytes slot, 32 bytes SHA-256 }, slots strictly increasing
 *
 * Root format: text lines "name value", first line CAS_ROOT_MAGIC,
 * unknown names ignored (later versions may add some), all of these
 * required:
 *   s3blocks-cas-root 1
 *   kind export|snapshot
 *   name NAME                  export, or export@snap
 *   parent NAME|-              what it was cloned or snapshotted from
 *   incarnation HEX32          random, chosen when the root is created
 *                              (export, clone or snapshot); kept by
 *                              every commit of that export
 *   size BYTES
 *   block-size BYTES
 *   depth D
 *   top SHA256|-               "-": no blocks at all
 *   blocks N                   blocks present (not holes)
 *   generation G               commits so far
 *   created UNIX-SECONDS
 *   committed UNIX-SECONDS
 *   reuse-window SECONDS       the writer's cas-reuse-window
 *   commit-bound SECONDS       the writer's longest commit (gc's grace
 *                              covers both: docs/gc-safety.md)
 * and this one optional, once at most:
 *   leaf hash|location         what the tree's leaves name (absent:
 *                              hash, every cas root; location: the log
 *                              layout's, log-format.h); written only
 *                              for location, so a cas root's text is
 *                              what versions before it wrote
 */

#ifndef S3BLOCKS_CAS_FORMAT_H
#define S3BLOCKS_CAS_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/keys.h"
#include "format/limits.h"
#include "format/names.h"

#define CAS_DATA_PREFIX  "cas/data/"
#define CAS_PAGES_PREFIX "cas/pages/"
#define CAS_ROOTS_PREFIX "cas/roots/"
#define CAS_SNAPS_PREFIX "cas/snaps/"

#define CAS_HASH_LEN 32
#define CAS_HEX_LEN  64

struct cas_hash {
  uint8_t b[CAS_HASH_LEN];
};

/* SHA-256 of buf, through libcrypto. */
extern void cas_hash_of (const void *buf, size_t len, struct cas_hash *out);
extern bool cas_hash_equal (const struct cas_hash *a,
                            const struct cas_hash *b);
/* out: CAS_HEX_LEN lower-case hex digits and a NUL. */
extern void cas_hash_hex (const struct cas_hash *h, char *out);
/* Exactly CAS_HEX_LEN lower-case hex digits; false for anything else. */
extern bool cas_hash_parse (const char *hex, struct cas_hash *out);

/* Keys.  Each returns the key's length, or -1 (errno ENAMETOOLONG). */
extern int cas_data_key (char *buf, size_t size, const struct cas_hash *h);
extern int cas_page_key (char *buf, size_t size, const struct cas_hash *h);
extern int cas_root_key (char *buf, size_t size, const char *export_name);
extern int cas_snap_key (char *buf, size_t size, const char *export_name,
                         const char *snap_name);
/* cas/snaps/{export}/ */
extern int cas_snap_prefix (char *buf, size_t size, const char *export_name);
/* The root key of an export or snapshot: cas/roots/E or cas/snaps/E/S;
 * of_text: of "E" or "E@S" (-1 with errno EINVAL if not valid).
 */
extern int cas_ref_root_key (char *buf, size_t size,
                             const struct name_ref *ref);
extern int cas_root_key_of (char *buf, size_t size, const char *name);
/* The export or snapshot whose root a key is (cas/roots/E,
 * cas/snaps/E/S); false for any other key, or names that break the
 * rules (objects of other tools).
 */
extern bool cas_root_key_parse (const char *key, struct name_ref *ref);

/* Roots. */
#define CAS_ROOT_MAGIC "s3blocks-cas-root 1"
#define CAS_ROOT_MAX 4096

enum cas_root_kind {
  CAS_ROOT_EXPORT,
  CAS_ROOT_SNAPSHOT,
};

/* What a map tree's leaves (level 0) name.  Hash is 0, so that a root
 * zeroed and filled in field by field is a cas root, as before leaves
 * had kinds.  The geometry of each kind: cas-tree-format.h.
 */
enum cas_leaf_kind {
  CAS_LEAF_HASH,                /* a content hash: cas leaves, cas/data/ */
  CAS_LEAF_LOCATION,            /* a place in a segment: log leaves */
};

struct cas_root {
  enum cas_root_kind kind;
  char name[NAME_REF_MAX];
  char parent[NAME_REF_MAX];    /* "" when none */
  char incarnation[33];         /* 32 hex digits */
  uint64_t size;
  uint32_t block_size;
  unsigned depth;
  enum cas_leaf_kind leaf;      /* "leaf", absent: CAS_LEAF_HASH */
  bool empty;                   /* top "-" */
  struct cas_hash top;
  uint64_t blocks;
  uint64_t generation;
  int64_t created, committed;
  uint64_t reuse_window_s, commit_bound_s;
};

/* Returns the length written (< size), or -1 (errno ENAMETOOLONG). */
extern int cas_root_format (char *buf, size_t size, const struct cas_root *r);
/* Returns 0, or -1 with *why set to a static description. */
extern int cas_root_parse (const char *buf, size_t len, struct cas_root *r,
                           const char **why);
/* A fresh random incarnation.  0, or -1 after nbdkit_error. */
extern int cas_new_incarnation (char out[33]);

/* Pages. */
#define CAS_FANOUT_BITS 10
#define CAS_FANOUT (1u << CAS_FANOUT_BITS)
#define CAS_PAGE_MAGIC "S3BCASP1"
#define CAS_PAGE_HEADER 16
#define CAS_PAGE_ENTRY (2 + CAS_HASH_LEN)
#define CAS_PAGE_MAX (CAS_PAGE_HEADER + CAS_FANOUT * CAS_PAGE_ENTRY)
/* The deepest tree: one that covers 2^64 blocks, whatever its leaves
 * (cas-tree-format.h checks it for both kinds).
 */
#define CAS_DEPTH_MAX 6

struct cas_page_entry {
  uint16_t slot;
  struct cas_hash hash;
};

struct cas_page {
  unsigned level;
  uint32_t count;
  struct cas_page_entry *entries;       /* sorted by slot, unique */
};

/* buf: CAS_PAGE_MAX bytes.  Returns the page's length. */
extern size_t cas_page_encode (const struct cas_page *p, void *buf);
/* Checks everything in the format; allocates p->entries.  Returns 0,
 * or -1 with *why set (errno EINVAL, or ENOMEM with *why "out of
 * memory").
 */
extern int cas_page_decode (const void *buf, size_t len, struct cas_page *p,
                            const char **why);
extern void cas_page_free (struct cas_page *p);
extern bool cas_page_find (const struct cas_page *p, unsigned slot,
                           struct cas_hash *out);

#endif /* S3BLOCKS_CAS_FORMAT_H */
