/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: a map tree of either leaf kind (cas-tree-format.h): the
 * depth a tree needs.
 */

#include <config.h>

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
