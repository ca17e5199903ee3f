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
 * all cas roots over the cas bytes stored.
 *
 * Sharing is only known once every root is walked, so du walks every
 * root in the bucket in full, whatever names it was given, and prints
 * those.  Each object is counted once per root; of its hash-set
 * entry's values, a is the first root that referenced it (or SHARED),
 * b its size, c the last root that counted it.
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

#define SHARED UINT32_MAX

struct du_root {
  struct cas_root r;
  bool wanted;
  uint64_t referenced, unique;
};

struct du {
  struct du_root *roots;
  uint32_t cur;                 /* root being walked, from 1 */
  uint32_t block_size;
  struct hset pages, data;
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

static int
du_page (void *opaque, const struct cas_hash *h, unsigned level,
         size_t bytes)
{
  struct du *d = opaque;

  (void) level;
  return count (d, &d->pages, h, bytes);
}

static int
du_block (void *opaque, uint64_t index, const struct cas_hash *h)
{
  struct du *d = opaque;

  (void) index;
  return count (d, &d->data, h, d->block_size);
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
  const struct cas_walker w = { .page = du_page, .block = du_block };
  struct cas_walker walker = w;
  struct cas_root_list l;
  struct du d = { 0 };
  struct object_list data, pages, plain;
  uint64_t logical = 0, stored;
  int status = EXIT_USAGE;
  size_t shown = 0;

  walker.opaque = &d;
  if (cas_root_list_read (a->store, NULL, &l) == -1)
    return EXIT_USAGE;
  d.roots = calloc (l.n ? l.n : 1, sizeof *d.roots);
  if (d.roots == NULL) {
    nbdkit_error ("du: %m");
    goto out;
  }
  for (int i = 0; i < n; i++) {
    bool found = false;

    for (size_t j = 0; j < l.n; j++)
      found |= strcmp (l.v[j].name, names[i]) == 0;
    if (!found) {
      nbdkit_error ("%s: no such %s", names[i],
                    name_text_is_snapshot (names[i]) ? "snapshot"
                    : "cas export (it has no committed root)");
      goto out;
    }
  }

  for (size_t j = 0; j < l.n; j++) {
    struct du_root *dr = &d.roots[j];
    int r = cas_root_read (a->store, l.v[j].key, &dr->r, NULL);

    if (r == ENOENT)
      continue;                 /* deleted since the listing */
    if (r != 0)
      goto out;
    dr->wanted = cas_name_wanted (l.v[j].name, names, n);
    d.cur = j + 1;
    d.block_size = dr->r.block_size;
    if (cas_walk (a->store, l.v[j].name, &dr->r, &walker) == -1)
      goto out;
    logical += dr->r.blocks * dr->r.block_size;
  }
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
  for (size_t j = 0; j < l.n; j++) {
    const struct du_root *dr = &d.roots[j];
    const uint64_t lg = dr->r.blocks * dr->r.block_size;

    if (!dr->wanted)
      continue;
    if (a->json) {
      printf ("%s\n  {\"name\": ", shown++ ? "," : "");
      json_string (l.v[j].name);
      printf (", \"kind\": \"%s\", \"size\": %" PRIu64 ", \"logical\": %"
              PRIu64 ", \"unique\": %" PRIu64 ", \"shared\": %" PRIu64
              ", \"referenced\": %" PRIu64 "}",
              l.v[j].is_snap ? "snapshot" : "export", dr->r.size, lg,
              dr->unique, dr->referenced - dr->unique, dr->referenced);
    }
    else
      printf ("%-32s %-8s %16" PRIu64 " %16" PRIu64 " %16" PRIu64 " %16"
              PRIu64 "\n", l.v[j].name,
              l.v[j].is_snap ? "snapshot" : "export", dr->r.size, lg,
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
  status = EXIT_CLEAN;

 out:
  cas_root_list_free (&l);
  hset_free (&d.pages);
  hset_free (&d.data);
  free (d.roots);
  return status;
}
