/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the layout operations that are the same for every layout
 * whose map is a tree with pending changes over it (cas, log): extents,
 * resizing, statistics.  Each layout keeps its own pending entries in a
 * u64map and says through a callback whether one holds data.
 */

#include <config.h>

#include <errno.h>
#include <stdlib.h>

#include <nbdkit-plugin.h>

#include "layout-tree.h"
#include "vector.h"

struct pending_copy {
  uint64_t index;
  bool present;
};
DEFINE_VECTOR (pending_copies, struct pending_copy);

static int
set_bit (void *opaque, uint64_t index)
{
  if (sbitmap_set (opaque, index) == -1) {
    nbdkit_error ("extents: %m");
    return -1;
  }
  return 0;
}

int
tree_present (struct tree_root *t, const struct u64map *pending,
              bool (*holds_data) (const void *entry),
              uint64_t first, uint64_t count, struct sbitmap *out)
{
  struct pending_copies copy = VECTOR_INIT;
  int r = 0;

  /* Pending is copied first: a commit ending before the tree is read
   * has put those entries in the tree, so the copy still says what the
   * blocks hold.
   */
  pthread_mutex_lock (&t->lock);
  for (size_t i = 0; i < pending->capacity && r == 0; i++) {
    const void *entry = pending->slots[i].value;
    const uint64_t index = pending->slots[i].key;
    struct pending_copy *c;

    if (entry == NULL || index < first || index - first >= count)
      continue;
    c = pending_copies_push (&copy);
    if (c == NULL) {
      nbdkit_error ("realloc: %m");
      r = -1;
      break;
    }
    c->index = index;
    c->present = holds_data (entry);
  }
  pthread_mutex_unlock (&t->lock);

  if (r == 0)
    r = cas_tree_present (t->tree, first, count, set_bit, out);
  for (size_t i = 0; r == 0 && i < copy.len; i++) {
    const struct pending_copy *c = &copy.ptr[i];

    if (!c->present)
      sbitmap_clear (out, c->index);
    else if (sbitmap_set (out, c->index) == -1) {
      nbdkit_error ("extents: %m");
      r = -1;
    }
  }
  pending_copies_reset (&copy);
  if (r == -1 && errno == 0)
    errno = EIO;
  return r;
}

int
tree_resize (struct tree_root *t, uint64_t size)
{
  pthread_mutex_lock (&t->lock);
  if (size != t->size) {
    t->size = size;
    t->size_dirty = true;
  }
  pthread_mutex_unlock (&t->lock);
  return 0;
}

void
tree_get_stats (struct tree_root *t, struct layout_stats *stats)
{
  pthread_mutex_lock (&t->lock);
  *stats = t->stats;
  pthread_mutex_unlock (&t->lock);
}
