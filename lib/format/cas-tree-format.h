/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: a map tree of either leaf kind: where a block sits in it,
 * what its leaves say of a block, and its pages of either kind decoded.
 *
 * The pages are cas pages
 * (cas-format.h) at every level, except the leaves (level 0) of a tree
 * whose root says "leaf location": those are log leaves (log-format.h).
 * docs/log-layout.md, "The objects", says why the log layout shares
 * the tree and why its leaves are larger.
 *
 * Geometry.  A leaf has 2^cas_leaf_bits slots (CAS_FANOUT for hash
 * leaves, LOG_LEAF_FANOUT for location leaves); every page above has
 * CAS_FANOUT.  The slot of a block in a page at level is the bits
 * [shift (level), shift (level + 1)) of its index, where
 *
 *   shift (0) = 0,  shift (l) = leaf bits + CAS_FANOUT_BITS * (l - 1)
 *
 * so a tree of depth d covers 2^shift (d + 1) blocks.  A shift of 64
 * or more is past every index: in the top page of the deepest trees
 * only slot 0 can hold blocks.  Every reader and writer of a tree goes
 * through the helpers below; none shifts by itself.
 */

#ifndef S3BLOCKS_CAS_TREE_FORMAT_H
#define S3BLOCKS_CAS_TREE_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "format/cas-format.h"
#include "format/log-format.h"

/* CAS_DEPTH_MAX is the smallest depth at which a tree of either kind
 * covers 2^64 blocks: hash leaves 10 + 10 * 6 = 70 bits (depth 5: 60),
 * location leaves 12 + 10 * 6 = 72 bits (depth 5: 62).  A log tree
 * needs one level less than a cas tree for some sizes (2^21 blocks:
 * depth 1 against 2), never for the largest.
 */
_Static_assert (CAS_FANOUT_BITS * (CAS_DEPTH_MAX + 1) >= 64 &&
                CAS_FANOUT_BITS * CAS_DEPTH_MAX < 64,
                "CAS_DEPTH_MAX is not the depth of 2^64 hash-leaf blocks");
_Static_assert (LOG_LEAF_FANOUT_BITS + CAS_FANOUT_BITS * CAS_DEPTH_MAX >= 64
                && LOG_LEAF_FANOUT_BITS + CAS_FANOUT_BITS *
                (CAS_DEPTH_MAX - 1) < 64,
                "CAS_DEPTH_MAX is not the depth of 2^64 location-leaf "
                "blocks");

/* Bits of a block index that a leaf's slots take. */
static inline unsigned
cas_leaf_bits (enum cas_leaf_kind leaf)
{
  return leaf == CAS_LEAF_LOCATION ? LOG_LEAF_FANOUT_BITS : CAS_FANOUT_BITS;
}

/* shift (level) above: the bits of a block index below a page's slots. */
static inline unsigned
cas_level_shift (enum cas_leaf_kind leaf, unsigned level)
{
  return level == 0 ? 0 : cas_leaf_bits (leaf) + CAS_FANOUT_BITS * (level - 1);
}

/* Slots of a page at level. */
static inline unsigned
cas_fanout_at (enum cas_leaf_kind leaf, unsigned level)
{
  return level == 0 ? 1u << cas_leaf_bits (leaf) : CAS_FANOUT;
}

/* The longest page at level, encoded. */
static inline size_t
cas_page_max_at (enum cas_leaf_kind leaf, unsigned level)
{
  return level == 0 && leaf == CAS_LEAF_LOCATION ? LOG_LEAF_MAX : CAS_PAGE_MAX;
}

/* The longest page of either kind. */
#define CAS_ANY_PAGE_MAX LOG_LEAF_MAX
_Static_assert (LOG_LEAF_MAX >= CAS_PAGE_MAX, "CAS_ANY_PAGE_MAX");

/* The slot of block index in the page at level on its path. */
static inline unsigned
cas_slot_of (enum cas_leaf_kind leaf, uint64_t index, unsigned level)
{
  const unsigned shift = cas_level_shift (leaf, level);

  return shift >= 64 ? 0
    : (unsigned) (index >> shift) & (cas_fanout_at (leaf, level) - 1);
}

/* The pages at level, numbered from 0 in block order: the one that
 * holds block index.  Two blocks are under one page at level when
 * their numbers are equal.
 */
static inline uint64_t
cas_page_number (enum cas_leaf_kind leaf, uint64_t index, unsigned level)
{
  const unsigned shift = cas_level_shift (leaf, level + 1);

  return shift >= 64 ? 0 : index >> shift;
}

/* Does a tree of depth hold block index? */
static inline bool
cas_tree_covers (enum cas_leaf_kind leaf, unsigned depth, uint64_t index)
{
  return cas_page_number (leaf, index, depth) == 0;
}

/* The first block under slot of a page at level whose first block is
 * first: false when that is past 2^64 blocks (only a page that lies
 * names such a slot; *out is then first).
 */
static inline bool
cas_slot_first (enum cas_leaf_kind leaf, uint64_t first, unsigned level,
                unsigned slot, uint64_t *out)
{
  const unsigned shift = cas_level_shift (leaf, level);

  *out = first;
  if (shift >= 64)
    return slot == 0;
  if ((uint64_t) slot > (UINT64_MAX - first) >> shift)
    return false;
  *out += (uint64_t) slot << shift;
  return true;
}

/* What a tree says of a present block.  hash is the block's SHA-256
 * in both kinds: in a hash tree it is the whole value (the content's
 * name under cas/data/).  loc is a location tree's: where the block's
 * bytes are (loc.hash is hash); zero in a hash tree.  A tree encodes the
 * one of its kind: an update of a location tree writes loc, whole.
 */
struct cas_value {
  struct cas_hash hash;
  struct log_location loc;
};

/* One map page decoded, of either kind: a cas page (every level of a
 * hash tree, the levels above 0 of a location tree) or a log leaf
 * (level 0 of a location tree).
 */
struct cas_map_page {
  bool log_leaf;                /* which member holds the page */
  union {
    struct cas_page cas;
    struct log_leaf log;
  };
};

/* Decode buf as the page a tree of kind leaf expects at level: a log
 * leaf at level 0 of a location tree, a cas page anywhere else.  The
 * other kind's page is refused by its magic, with a reason that says
 * so; the level of a cas page is left to the caller to compare (its
 * message names where the page was found).  Returns 0, or -1 with *why
 * set (errno EINVAL, or ENOMEM with *why "out of memory").
 */
extern int cas_map_page_decode (enum cas_leaf_kind leaf, unsigned level,
                                const void *buf, size_t len,
                                struct cas_map_page *p, const char **why);
/* NULL if p is what a tree of kind leaf expects at level, else what is
 * wrong with it (the other kind's page, or another level's).
 */
extern const char *cas_map_page_misfit (const struct cas_map_page *p,
                                        enum cas_leaf_kind leaf,
                                        unsigned level);
/* The encoded length, and the encoding (buf: that many bytes). */
extern size_t cas_map_page_len (const struct cas_map_page *p);
extern size_t cas_map_page_encode (const struct cas_map_page *p, void *buf);
extern void cas_map_page_free (struct cas_map_page *p);
/* Bytes of memory its decoded entries take. */
extern size_t cas_map_page_entry_bytes (const struct cas_map_page *p);

static inline uint32_t
cas_map_page_count (const struct cas_map_page *p)
{
  return p->log_leaf ? p->log.count : p->cas.count;
}

static inline unsigned
cas_map_page_slot (const struct cas_map_page *p, uint32_t i)
{
  return p->log_leaf ? p->log.entries[i].slot : p->cas.entries[i].slot;
}

/* Entry i of a leaf, as the block's value. */
extern void cas_map_page_value (const struct cas_map_page *p, uint32_t i,
                                struct cas_value *out);
/* The value in slot of a leaf: false for a hole. */
extern bool cas_map_page_find_value (const struct cas_map_page *p,
                                     unsigned slot, struct cas_value *out);

/* The smallest depth whose tree holds block index. */
extern unsigned cas_depth_for_index (enum cas_leaf_kind leaf, uint64_t index);
/* The smallest depth whose tree covers nr_blocks (0 for none). */
extern unsigned cas_depth_for (enum cas_leaf_kind leaf, uint64_t nr_blocks);

#endif /* S3BLOCKS_CAS_TREE_FORMAT_H */
