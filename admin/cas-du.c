/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): du for the cas layout.
 *
 * Per export and snapshot:
 *   logical   its present blocks times its block size
 *   unique    bytes of the objects (content and pages) that it alone
 *             references: what deleting it (and gc) would free
 *   shared    bytes of the objects it references that some other root
 *             references too
 * and for the bucket: the bytes stored under cas/data/ and cas/pages/
 * and under blocks/ (plain), and the dedup ratio, the logical bytes of
 * all cas roots over the cas bytes stored.  Then, when a log export or
 * snapshot is among those asked for, the log table (log-du.c).
 *
 * Sharing is only known once every root is walked, so du walks every
 * root in the bucket in full, whatever names it was given, and prints
 * those.  Each object is counted once per root; of its hash-set
 * entry's values, a is the first root that referenced it (or SHARED),
 * b its size, c the last root that counted it.
 *
 * Pages are shared between roots and within one (a subtree that
 * repeats), so each distinct page is read once, as gc and check do:
 * a root's walk reads only the pages no root has read yet and keeps
 * each one's entries (32 bytes an entry: about as much as the pages
 * themselves, a tenth of what the hash sets below hold for the same
 * tree), then the root is counted from memory, a page's subtree once
 * per root however many paths lead to it.  Requests: one GET per
 * distinct page, whatever the sharing.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "admin.h"
#include "progress.h"
#include "cas/cas-admin.h"
#include "cas/cas-tree.h"

#define SHARED UINT32_MAX

struct du_root {
  struct cas_root r;
  bool wanted;
  uint64_t referenced, unique;
};

/* A page read: its entries are kids[first .. first + count). */
struct du_node {
  uint64_t first;
  uint32_t count;
  uint32_t bytes;
  unsigned level;
};
DEFINE_VECTOR (du_nodes, struct du_node);
DEFINE_VECTOR (du_kids, struct cas_hash);

struct du {
  struct du_root *roots;
  uint32_t cur;                 /* root being walked, from 1 */
  uint32_t block_size;
  struct hset pages, data;
  struct hset read;             /* pages read: a = index in nodes */
  struct du_nodes nodes;
  struct du_kids kids;
};

static int
count (struct du *d, struct hset *s, const struct cas_hash *h,
       uint64_t bytes)
{
  struct du_root *dr = &d->roots[d->cur - 1];
  bool added;
  struct hset_entry *e = hset_add (s, h, &added);

  if (e == NULL)
    return -1;
  if (added) {
    e->a = e->c = d->cur;
    e->b = bytes;
    dr->referenced += bytes;
  }
  else if (e->c != d->cur) {
    e->c = d->cur;
    dr->referenced += e->b;
    if (e->a != d->cur)
      e->a = SHARED;
  }
  return 0;
}

static bool
du_skip (void *opaque, const struct cas_hash *h)
{
  struct du *d = opaque;

  return hset_find (&d->read, h) != NULL;
}

/* A page read for the first time: keep its entries.  Every page is a
 * cas page: cas_du leaves log trees to log_du.
 */
static int
du_contents (void *opaque, const struct cas_hash *h, unsigned level,
             size_t bytes, const struct cas_map_page *mp)
{
  const struct cas_page *p = &mp->cas;
  struct du *d = opaque;
  struct hset_entry *e;
  bool added;

  /* A node's index is kept in an hset_entry's 32-bit a. */
  if (d->nodes.len >= UINT32_MAX ||
      du_nodes_reserve (&d->nodes, 1) == -1 ||
      du_kids_reserve (&d->kids, p->count) == -1)
    goto nomem;
  if ((e = hset_add (&d->read, h, &added)) == NULL)
    return -1;
  e->a = d->nodes.len;
  progress_set (d->nodes.len + 1);
  d->nodes.ptr[d->nodes.len++] = (struct du_node) {
    .first = d->kids.len, .count = p->count, .bytes = bytes, .level = level,
  };
  for (uint32_t i = 0; i < p->count; i++)
    d->kids.ptr[d->kids.len++] = p->entries[i].hash;
  return 0;                     /* on to its children not read yet */

 nomem:
  nbdkit_error ("du: keeping the map pages read: %m");
  errno = ENOMEM;
  return -1;
}

/* Count a page at level and its subtree for the current root, from
 * the pages read; a page this root has counted already is not gone
 * into again.
 */
static int
count_page (struct du *d, const char *label, const struct cas_hash *h,
            unsigned level)
{
  const struct hset_entry *r = hset_find (&d->read, h);
  const struct hset_entry *e = hset_find (&d->pages, h);
  const struct du_node *nd;
  char key[KEY_MAX];

  if (e && e->c == d->cur)
    return 0;
  if (r == NULL) {              /* cas_walk read every page or failed */
    cas_page_key (key, sizeof key, h);
    nbdkit_error ("%s: map page %s (level %u) was not read", label, key,
                  level);
    errno = EIO;
    return -1;
  }
  nd = &d->nodes.ptr[r->a];
  if (nd->level != level) {
    cas_page_key (key, sizeof key, h);
    nbdkit_error ("%s: map page %s (level %u) is damaged: at the wrong "
                  "level", label, key, level);
    errno = EIO;
    return -1;
  }
  if (count (d, &d->pages, h, nd->bytes) == -1)
    return -1;
  for (uint64_t i = nd->first; i < nd->first + nd->count; i++) {
    /* nodes and kids do not move while counting: nothing is read. */
    int v = level == 0 ? count (d, &d->data, &d->kids.ptr[i], d->block_size)
      : count_page (d, label, &d->kids.ptr[i], level - 1);

    if (v == -1)
      return -1;
  }
  return 0;
}

static void
add_unique (struct du *d, const struct hset *s)
{
  for (size_t i = 0; i < s->cap; i++)
    if (s->v[i].used && s->v[i].a != SHARED)
      d->roots[s->v[i].a - 1].unique += s->v[i].b;
}

static int
sum_prefix (struct admin *a, const char *prefix, struct object_list *ol)
{
  return object_list_read (a->store, prefix, false, ol);
}

int
cas_du (struct admin *a, char **names, int n)
{
  const struct cas_walker w = { .skip = du_skip, .contents = du_contents };
  struct cas_walker walker = w;
  struct cas_root_list l;
  struct du d = { 0 };
  struct object_list data, pages, plain;
  uint64_t logical = 0, stored;
  int status = EXIT_USAGE;
  size_t shown = 0;
  bool has_log = false;

  walker.opaque = &d;
  if (cas_root_list_read (a->store, NULL, &l) == -1)
    return EXIT_USAGE;
  d.roots = calloc (l.len ? l.len : 1, sizeof *d.roots);
  if (d.roots == NULL) {
    nbdkit_error ("du: %m");
    goto out;
  }
  for (int i = 0; i < n; i++) {
    bool found = false;

    for (size_t j = 0; j < l.len; j++)
      found |= strcmp (l.ptr[j].name, names[i]) == 0;
    if (!found) {
      nbdkit_error ("%s: no such %s", names[i],
                    name_text_is_snapshot (names[i]) ? "snapshot"
                    : "cas export (it has no committed root)");
      goto out;
    }
  }

  progress_start ("du: cas", "pages", PROGRESS_UNKNOWN);
  for (size_t j = 0; j < l.len; j++) {
    struct du_root *dr = &d.roots[j];
    bool found;

    if (cas_root_read (a->store, l.ptr[j].key, &dr->r, NULL, &found) == -1)
      goto out;
    if (!found)
      continue;                 /* deleted since the listing */
    /* A log root's figures are log_du's (log-du.c), after the cas
     * table: its leaves name segments, not contents.
     */
    if (dr->r.leaf == CAS_LEAF_LOCATION) {
      has_log |= cas_name_wanted (l.ptr[j].name, names, n);
      continue;
    }
    /* Every root, wanted or not: sharing is only known once all are
     * walked.
     */
    dr->wanted = cas_name_wanted (l.ptr[j].name, names, n);
    d.cur = j + 1;
    d.block_size = dr->r.block_size;
    if (cas_walk (a->store, l.ptr[j].name, &dr->r, &walker) == -1)
      goto out;
    if (!dr->r.empty &&
        count_page (&d, l.ptr[j].name, &dr->r.top, dr->r.depth) == -1)
      goto out;
    logical += dr->r.blocks * dr->r.block_size;
  }
  progress_finish ();
  add_unique (&d, &d.pages);
  add_unique (&d, &d.data);

  if (sum_prefix (a, CAS_DATA_PREFIX, &data) == -1)
    goto out;
  if (sum_prefix (a, CAS_PAGES_PREFIX, &pages) == -1)
    goto out;
  if (sum_prefix (a, BLOCKS_PREFIX, &plain) == -1)
    goto out;
  stored = data.bytes + pages.bytes;

  if (a->json)
    printf (", \"cas\": [");
  else
    printf ("\n%-32s %-8s %16s %16s %16s %16s\n", "NAME", "KIND", "SIZE",
            "LOGICAL", "UNIQUE", "SHARED");
  for (size_t j = 0; j < l.len; j++) {
    const struct du_root *dr = &d.roots[j];
    const uint64_t lg = dr->r.blocks * dr->r.block_size;

    if (!dr->wanted)
      continue;
    if (a->json) {
      printf ("%s\n  {\"name\": ", shown++ ? "," : "");
      json_string (l.ptr[j].name);
      printf (", \"kind\": \"%s\", \"size\": %" PRIu64 ", \"logical\": %"
              PRIu64 ", \"unique\": %" PRIu64 ", \"shared\": %" PRIu64
              ", \"referenced\": %" PRIu64 "}",
              l.ptr[j].is_snap ? "snapshot" : "export", dr->r.size, lg,
              dr->unique, dr->referenced - dr->unique, dr->referenced);
    }
    else
      printf ("%-32s %-8s %16" PRIu64 " %16" PRIu64 " %16" PRIu64 " %16"
              PRIu64 "\n", l.ptr[j].name,
              l.ptr[j].is_snap ? "snapshot" : "export", dr->r.size, lg,
              dr->unique, dr->referenced - dr->unique);
  }
  if (a->json) {
    printf ("%s], \"bucket\": {\"cas_data_objects\": %" PRIu64
            ", \"cas_data_bytes\": %" PRIu64 ", \"cas_page_objects\": %"
            PRIu64 ", \"cas_page_bytes\": %" PRIu64 ", \"cas_logical\": %"
            PRIu64 ", \"plain_block_objects\": %" PRIu64
            ", \"plain_block_bytes\": %" PRIu64 ", \"dedup_ratio\": ",
            shown ? "\n" : "", data.len, data.bytes, pages.len, pages.bytes,
            logical, plain.len, plain.bytes);
    if (stored)
      printf ("%.3f}", (double) logical / stored);
    else
      printf ("null}");
  }
  else {
    printf ("\nbucket: cas content %" PRIu64 " objects %" PRIu64
            " bytes, cas pages %" PRIu64 " objects %" PRIu64 " bytes, "
            "plain blocks %" PRIu64 " objects %" PRIu64 " bytes\n",
            data.len, data.bytes, pages.len, pages.bytes, plain.len,
            plain.bytes);
    if (stored)
      printf ("cas: %" PRIu64 " logical bytes in %" PRIu64 " stored: "
              "dedup ratio %.2f\n", logical, stored,
              (double) logical / stored);
    else
      printf ("cas: nothing stored\n");
  }
  if (has_log && log_du (a, &l, names, n) == -1)
    goto out;
  status = EXIT_CLEAN;

 out:
  cas_root_list_free (&l);
  hset_free (&d.pages);
  hset_free (&d.data);
  hset_free (&d.read);
  du_nodes_reset (&d.nodes);
  du_kids_reset (&d.kids);
  free (d.roots);
  return status;
}
