/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the cas map tree tests' fixture
 * (cas-tree-fixture.h).
 */

#include <config.h>

#include <string.h>

#include "cas-tree-fixture.h"

enum cas_leaf_kind tree_kind = CAS_LEAF_HASH;

uint64_t
leaf_span (void)
{
  return cas_fanout_at (tree_kind, 0);
}

uint64_t
mid_span (void)
{
  return leaf_span () * CAS_FANOUT;
}

size_t
leaf_len (uint32_t n)
{
  return CAS_PAGE_HEADER + (size_t) n *
    (tree_kind == CAS_LEAF_LOCATION ? LOG_LEAF_ENTRY : CAS_PAGE_ENTRY);
}

size_t
leaf_max (void)
{
  return cas_page_max_at (tree_kind, 0);
}

uint64_t
full_page_memory (void)
{
  return CAS_PAGE_MAX + 4096;
}

uint64_t
full_leaf_memory (void)
{
  return tree_kind == CAS_LEAF_LOCATION
    ? LOG_LEAF_FANOUT * sizeof (struct log_leaf_entry) + 4096
    : full_page_memory ();
}

struct cas_tree *
open_tree (struct memstore *m, const char *label, uint64_t cache_bytes)
{
  return cas_tree_open (memstore_store (m), label, tree_kind, cache_bytes);
}

struct cas_value
value_of (uint64_t i, unsigned v)
{
  uint64_t words[2] = { i, v };
  struct cas_value val;

  memset (&val, 0, sizeof val);
  cas_hash_of (words, sizeof words, &val.hash);
  if (tree_kind == CAS_LEAF_LOCATION) {
    /* Somewhere a segment could hold a raw 4 KiB block: the leaf's
     * decoder checks that much.
     */
    memcpy (val.loc.seg, val.hash.b, LOG_SEG_ID_LEN);
    val.loc.offset = LOG_SEG_DATA_START (1) + 4096 * (v % 64 + i % 7);
    val.loc.stored_len = 4096;
    val.loc.codec = LOG_CODEC_RAW;
    val.loc.hash = val.hash;
  }
  return val;
}

struct cas_change
put_change (uint64_t i, unsigned v)
{
  struct cas_change c = { .index = i, .present = true };

  c.value = value_of (i, v);
  return c;
}

struct cas_change
hole_change (uint64_t i)
{
  struct cas_change c = { .index = i, .present = false };

  return c;
}

int
apply (struct cas_tree *t, const struct cas_change *c, size_t n,
       unsigned min_depth, struct cas_update *res)
{
  struct cas_update local;

  if (res == NULL)
    res = &local;
  if (cas_tree_update (t, c, n, min_depth, NULL, res) == -1)
    return -1;
  cas_tree_set_top (t, res->empty ? NULL : &res->top, res->depth);
  return 0;
}

/* Is got what a tree of tree_kind says of want? */
static bool
value_equal (const struct cas_value *got, const struct cas_value *want)
{
  if (!cas_hash_equal (&got->hash, &want->hash))
    return false;
  if (tree_kind == CAS_LEAF_HASH)
    return true;
  return memcmp (got->loc.seg, want->loc.seg, LOG_SEG_ID_LEN) == 0 &&
    got->loc.offset == want->loc.offset &&
    got->loc.stored_len == want->loc.stored_len &&
    got->loc.codec == want->loc.codec &&
    cas_hash_equal (&got->loc.hash, &want->loc.hash);
}

bool
has (struct cas_tree *t, uint64_t i, unsigned v)
{
  struct cas_value got, want = value_of (i, v);
  bool present;

  if (cas_tree_lookup (t, i, &present, &got) == -1 || !present)
    return false;
  return value_equal (&got, &want);
}

bool
is_hole (struct cas_tree *t, uint64_t i)
{
  struct cas_value got;
  bool present = true;

  return cas_tree_lookup (t, i, &present, &got) == 0 && !present;
}

static int
seen_page (void *opaque, const struct cas_hash *h, unsigned level,
           size_t bytes)
{
  struct seen *s = opaque;

  s->pages++;
  s->pages_at[level]++;
  s->page_bytes += bytes;
  if (level == 0)
    s->leaf = *h;
  return (int) level == s->skip_level;
}

static int
seen_block (void *opaque, uint64_t index, const struct cas_value *v)
{
  struct seen *s = opaque;

  if (s->blocks > 0 && index <= s->last_index)
    s->ordered = false;
  /* A location tree's value says the same hash twice; a hash tree's
   * has no location.
   */
  if (tree_kind == CAS_LEAF_LOCATION
      ? !cas_hash_equal (&v->hash, &v->loc.hash) || v->loc.stored_len == 0
      : v->loc.stored_len != 0)
    s->values_ok = false;
  s->last_index = index;
  s->blocks++;
  return 0;
}

static const struct cas_walk_ops seen_ops = { seen_page, seen_block };

int
walk (struct memstore *m, struct cas_tree *t, struct seen *s, int skip_level)
{
  struct cas_hash top;
  unsigned depth;
  bool present = cas_tree_get_top (t, &top, &depth);

  memset (s, 0, sizeof *s);
  s->ordered = true;
  s->values_ok = true;
  s->skip_level = skip_level;
  return cas_tree_walk (memstore_store (m), "disk", tree_kind,
                        present ? &top : NULL, depth, &seen_ops, s);
}
