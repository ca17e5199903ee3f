/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: a map tree of either leaf kind (cas-tree-format.h): the
 * depth a tree needs, and its pages whichever their kind.  The codecs
 * themselves are cas_page_* (cas-format.c) and log_leaf_* (log-leaf.c):
 * this only chooses between them, by the tree's kind and the level.
 */

#include <config.h>

#include <errno.h>
#include <string.h>

#include "format/cas-tree-format.h"

unsigned
cas_depth_for_index (enum cas_leaf_kind leaf, uint64_t index)
{
  unsigned depth = 0;

  /* The static checks in the header make the bound never the answer
   * by itself: a tree of CAS_DEPTH_MAX holds every index.
   */
  while (depth < CAS_DEPTH_MAX && !cas_tree_covers (leaf, depth, index))
    depth++;
  return depth;
}

unsigned
cas_depth_for (enum cas_leaf_kind leaf, uint64_t nr_blocks)
{
  return nr_blocks == 0 ? 0 : cas_depth_for_index (leaf, nr_blocks - 1);
}

/* Pages of either kind. */

static bool
wants_log_leaf (enum cas_leaf_kind leaf, unsigned level)
{
  return leaf == CAS_LEAF_LOCATION && level == 0;
}

int
cas_map_page_decode (enum cas_leaf_kind leaf, unsigned level,
                     const void *buf, size_t len, struct cas_map_page *p,
                     const char **why)
{
  const bool log_leaf = wants_log_leaf (leaf, level);

  /* The other kind's magic says what went wrong better than "it does
   * not start with" ours: a parent that names a page of another tree.
   */
  if (len >= 8 && memcmp (buf, log_leaf ? CAS_PAGE_MAGIC : LOG_LEAF_MAGIC,
                          8) == 0) {
    *why = log_leaf ? "it is a cas page where a log leaf is expected"
      : "it is a log leaf where a cas page is expected";
    errno = EINVAL;
    return -1;
  }
  p->log_leaf = log_leaf;
  if (log_leaf)
    return log_leaf_decode (buf, len, &p->log, why);
  return cas_page_decode (buf, len, &p->cas, why);
}

const char *
cas_map_page_misfit (const struct cas_map_page *p, enum cas_leaf_kind leaf,
                     unsigned level)
{
  const bool log_leaf = wants_log_leaf (leaf, level);

  if (p->log_leaf != log_leaf)
    return log_leaf ? "it is a cas page where a log leaf is expected"
      : "it is a log leaf where a cas page is expected";
  if (!p->log_leaf && p->cas.level != level)
    return "its level is not the one its parent expects";
  return NULL;
}

size_t
cas_map_page_len (const struct cas_map_page *p)
{
  return p->log_leaf
    ? CAS_PAGE_HEADER + (size_t) p->log.count * LOG_LEAF_ENTRY
    : CAS_PAGE_HEADER + (size_t) p->cas.count * CAS_PAGE_ENTRY;
}

size_t
cas_map_page_encode (const struct cas_map_page *p, void *buf)
{
  return p->log_leaf ? log_leaf_encode (&p->log, buf)
    : cas_page_encode (&p->cas, buf);
}

void
cas_map_page_free (struct cas_map_page *p)
{
  if (p->log_leaf)
    log_leaf_free (&p->log);
  else
    cas_page_free (&p->cas);
}

size_t
cas_map_page_entry_bytes (const struct cas_map_page *p)
{
  return p->log_leaf ? p->log.count * sizeof *p->log.entries
    : p->cas.count * sizeof *p->cas.entries;
}

void
cas_map_page_value (const struct cas_map_page *p, uint32_t i,
                    struct cas_value *out)
{
  memset (out, 0, sizeof *out);
  if (p->log_leaf) {
    out->loc = p->log.entries[i].loc;
    out->hash = out->loc.hash;
  }
  else
    out->hash = p->cas.entries[i].hash;
}

bool
cas_map_page_find_value (const struct cas_map_page *p, unsigned slot,
                         struct cas_value *out)
{
  uint32_t lo = 0, hi = cas_map_page_count (p);

  while (lo < hi) {
    const uint32_t mid = lo + (hi - lo) / 2;
    const unsigned s = cas_map_page_slot (p, mid);

    if (s == slot) {
      if (out)
        cas_map_page_value (p, mid, out);
      return true;
    }
    if (s < slot)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}
