/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): du for the log layout
 * (docs/log-layout.md), after the cas table.
 *
 * Per log export and snapshot (a root saying "leaf location"):
 *   logical   its present blocks times its block size
 *   stored    the bytes of the segments its map names (their sizes in
 *             one LIST of log/segs/), headers and indexes included
 *   live      the stored bytes of the distinct extents its map names
 *   dead      stored - live: copies overwritten since, and the segments'
 *             headers and indexes (compaction's to reclaim)
 *   pinned    bytes of the segments that its snapshots name and its
 *             own map does not (for a snapshot: that it names and its
 *             export's map does not): what deleting the snapshots, then
 *             gc, frees
 *
 * As in cas-du.c, every log root is walked whatever names were given
 * (a snapshot's figures need its export's map and the other way
 * round), each distinct page is read once and its entries kept (12
 * bytes a leaf entry), and each root is then counted from memory.
 * Segment entries: a = ordinal + 1 into the tables below.  Extent
 * entries (a segment id and an offset): c = the last root counting it.
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
#include "format/log-format.h"

#define UNLISTED UINT64_MAX

struct ldu_node {
  uint64_t first;               /* in kids (level > 0) or exts (0) */
  uint32_t count;
  unsigned level;
};
struct ldu_ext {
  uint32_t seg;                 /* ordinal */
  uint32_t offset, len;
};
DEFINE_VECTOR (ldu_nodes, struct ldu_node);
DEFINE_VECTOR (ldu_kids, struct cas_hash);
DEFINE_VECTOR (ldu_exts, struct ldu_ext);
DEFINE_VECTOR (ldu_segs, uint32_t);

struct ldu_root {
  const struct cas_root_entry *e;
  struct cas_root r;
  bool found, wanted;
  struct ldu_segs segs;         /* ordinals its map names, each once */
  uint64_t live, stored, pinned, missing;
};

struct ldu {
  struct ldu_root *roots;
  uint32_t cur;                 /* root being counted, from 1 */
  struct hset read;             /* pages read: a = index in nodes */
  struct hset pages;            /* c = last root counting the page */
  struct hset seg_ids, extents;
  struct ldu_nodes nodes;
  struct ldu_kids kids;
  struct ldu_exts exts;
  /* Per segment ordinal. */
  struct size_list size;        /* from the LIST; UNLISTED: missing */
  struct ldu_segs stamp;        /* last root naming it */
  struct ldu_segs mark;         /* export counted (pinned), from 1 */
  struct ldu_segs named;        /* export whose map names it, from 1 */
  uint64_t listed, listed_bytes, unnamed, unnamed_bytes;
};

/* A segment id or extent as a set key. */
static struct cas_hash
id_key (const uint8_t id[LOG_SEG_ID_LEN], uint32_t offset, uint8_t tag)
{
  struct cas_hash h;

  memset (&h, 0, sizeof h);
  memcpy (h.b, id, LOG_SEG_ID_LEN);
  memcpy (h.b + LOG_SEG_ID_LEN, &offset, sizeof offset);
  h.b[CAS_HASH_LEN - 1] = tag;
  return h;
}

static int
nomem (void)
{
  nbdkit_error ("du: keeping the log maps read: %m");
  errno = ENOMEM;
  return -1;
}

/* The ordinal of segment id, added if new. */
static int
seg_ordinal (struct ldu *d, const uint8_t id[LOG_SEG_ID_LEN], uint32_t *o)
{
  const struct cas_hash k = id_key (id, 0, 's');
  struct hset_entry *e;
  bool added;

  if ((e = hset_add (&d->seg_ids, &k, &added)) == NULL)
    return -1;
  if (added) {
    if (d->size.len >= UINT32_MAX - 1 ||
        size_list_append (&d->size, UNLISTED) == -1 ||
        ldu_segs_append (&d->stamp, 0) == -1 ||
        ldu_segs_append (&d->mark, 0) == -1 ||
        ldu_segs_append (&d->named, 0) == -1)
      return nomem ();
    e->a = d->size.len;
  }
  *o = e->a - 1;
  return 0;
}

static bool
ldu_skip (void *opaque, const struct cas_hash *h)
{
  struct ldu *d = opaque;

  return hset_find (&d->read, h) != NULL;
}

/* A page read for the first time: keep its entries. */
static int
ldu_contents (void *opaque, const struct cas_hash *h, unsigned level,
              size_t bytes, const struct cas_map_page *mp)
{
  struct ldu *d = opaque;
  const uint32_t count = cas_map_page_count (mp);
  struct hset_entry *e;
  bool added;

  (void) bytes;
  if (d->nodes.len >= UINT32_MAX || ldu_nodes_reserve (&d->nodes, 1) == -1)
    return nomem ();
  if ((e = hset_add (&d->read, h, &added)) == NULL)
    return -1;
  e->a = d->nodes.len;
  progress_set (d->nodes.len + 1);
  d->nodes.ptr[d->nodes.len++] = (struct ldu_node) {
    .first = mp->log_leaf ? d->exts.len : d->kids.len,
    .count = count, .level = level,
  };
  if (!mp->log_leaf) {
    if (ldu_kids_reserve (&d->kids, count) == -1)
      return nomem ();
    for (uint32_t i = 0; i < count; i++)
      d->kids.ptr[d->kids.len++] = mp->cas.entries[i].hash;
    return 0;
  }
  if (ldu_exts_reserve (&d->exts, count) == -1)
    return nomem ();
  for (uint32_t i = 0; i < count; i++) {
    const struct log_location *loc = &mp->log.entries[i].loc;
    struct ldu_ext x = { .offset = loc->offset, .len = loc->stored_len };

    if (seg_ordinal (d, loc->seg, &x.seg) == -1)
      return -1;
    d->exts.ptr[d->exts.len++] = x;
  }
  return 0;
}

/* Count a page and its subtree for the current root, from memory. */
static int
count_page (struct ldu *d, const char *label, const struct cas_hash *h,
            unsigned level)
{
  struct ldu_root *dr = &d->roots[d->cur - 1];
  const struct hset_entry *r = hset_find (&d->read, h);
  struct hset_entry *p;
  const struct ldu_node *nd;
  char key[KEY_MAX];
  bool added;

  if (r == NULL || d->nodes.ptr[r->a].level != level) {
    cas_page_key (key, sizeof key, h);
    nbdkit_error ("%s: map page %s (level %u) %s", label, key, level,
                  r ? "is damaged: at the wrong level" : "was not read");
    errno = EIO;
    return -1;
  }
  if ((p = hset_add (&d->pages, h, &added)) == NULL)
    return -1;
  if (p->c == d->cur)
    return 0;
  p->c = d->cur;
  nd = &d->nodes.ptr[r->a];
  for (uint64_t i = nd->first; i < nd->first + nd->count; i++) {
    const struct ldu_ext *x;
    struct hset_entry *xe;
    struct cas_hash k;
    uint8_t id[LOG_SEG_ID_LEN];

    if (level > 0) {
      if (count_page (d, label, &d->kids.ptr[i], level - 1) == -1)
        return -1;
      continue;
    }
    x = &d->exts.ptr[i];
    if (d->stamp.ptr[x->seg] != d->cur) {
      d->stamp.ptr[x->seg] = d->cur;
      if (ldu_segs_append (&dr->segs, x->seg) == -1)
        return nomem ();
    }
    /* The extent's key: its segment's ordinal stands for the id, and
     * a mix of both leads, since the set's slot is its first 8 bytes.
     */
    {
      uint64_t v = ((uint64_t) x->seg << 32 | x->offset) *
        UINT64_C (0x9e3779b97f4a7c15);

      v ^= v >> 29;
      memcpy (id, &v, sizeof v);
      memcpy (id + 8, &x->seg, sizeof x->seg);
      memset (id + 12, 0, 4);
    }
    k = id_key (id, x->offset, 'x');
    if ((xe = hset_add (&d->extents, &k, &added)) == NULL)
      return -1;
    if (xe->c != d->cur) {
      xe->c = d->cur;
      dr->live += x->len;
    }
  }
  return 0;
}

static int
list_segs (void *opaque, const struct store_entry *e)
{
  struct ldu *d = opaque;
  uint8_t id[LOG_SEG_ID_LEN];
  struct cas_hash k;
  const struct hset_entry *s;

  if (e->is_prefix || !log_segment_key_parse (e->key, id))
    return 0;
  d->listed++;
  d->listed_bytes += e->size;
  k = id_key (id, 0, 's');
  s = hset_find (&d->seg_ids, &k);
  if (s)
    d->size.ptr[s->a - 1] = e->size;
  else {
    d->unnamed++;
    d->unnamed_bytes += e->size;
  }
  return 0;
}

/* Is root j a snapshot of the export root i? */
static bool
snapshot_of (const struct ldu_root *s, const struct ldu_root *x)
{
  size_t n = strlen (x->e->name);

  return s->e->is_snap && strncmp (s->e->name, x->e->name, n) == 0 &&
    s->e->name[n] == '@';
}

/* stored, missing and pinned of every root. */
static void
sum_segments (struct ldu *d, size_t nr)
{
  for (size_t j = 0; j < nr; j++) {
    struct ldu_root *dr = &d->roots[j];

    for (size_t k = 0; k < dr->segs.len; k++) {
      const uint64_t sz = d->size.ptr[dr->segs.ptr[k]];

      if (sz == UNLISTED)
        dr->missing++;
      else
        dr->stored += sz;
    }
  }
  for (size_t i = 0; i < nr; i++) {
    struct ldu_root *x = &d->roots[i];

    if (!x->found || x->e->is_snap)
      continue;
    for (size_t k = 0; k < x->segs.len; k++)
      d->named.ptr[x->segs.ptr[k]] = i + 1;
    for (size_t j = 0; j < nr; j++) {
      struct ldu_root *s = &d->roots[j];

      if (!s->found || !snapshot_of (s, x))
        continue;
      for (size_t k = 0; k < s->segs.len; k++) {
        const uint32_t o = s->segs.ptr[k];
        const uint64_t sz = d->size.ptr[o];

        if (d->named.ptr[o] == i + 1 || sz == UNLISTED)
          continue;
        s->pinned += sz;
        if (d->mark.ptr[o] != i + 1) {
          d->mark.ptr[o] = i + 1;
          x->pinned += sz;
        }
      }
    }
  }
  /* A snapshot whose export is gone pins all it names. */
  for (size_t j = 0; j < nr; j++) {
    struct ldu_root *s = &d->roots[j];
    bool has_export = false;

    if (!s->found || !s->e->is_snap)
      continue;
    for (size_t i = 0; i < nr && !has_export; i++)
      has_export = d->roots[i].found && !d->roots[i].e->is_snap &&
        snapshot_of (s, &d->roots[i]);
    if (!has_export)
      s->pinned = s->stored;
  }
}

static void
print (struct admin *a, const struct ldu *d, size_t nr)
{
  size_t shown = 0;

  if (a->json)
    printf (", \"log\": [");
  else
    printf ("\n%-32s %-8s %16s %16s %16s %16s %16s %16s\n", "NAME", "KIND",
            "SIZE", "LOGICAL", "STORED", "LIVE", "DEAD", "PINNED");
  for (size_t j = 0; j < nr; j++) {
    const struct ldu_root *dr = &d->roots[j];
    const uint64_t lg = dr->r.blocks * dr->r.block_size;
    const uint64_t dead = dr->stored > dr->live ? dr->stored - dr->live : 0;
    const char *kind = dr->e->is_snap ? "snapshot" : "export";

    if (!dr->found || !dr->wanted)
      continue;
    if (a->json) {
      printf ("%s\n  {\"name\": ", shown++ ? "," : "");
      json_string (dr->e->name);
      printf (", \"kind\": \"%s\", \"size\": %" PRIu64 ", \"logical\": %"
              PRIu64 ", \"segments\": %zu, \"stored\": %" PRIu64
              ", \"live\": %" PRIu64 ", \"dead\": %" PRIu64 ", \"pinned\": %"
              PRIu64 ", \"missing_segments\": %" PRIu64 "}", kind,
              dr->r.size, lg, dr->segs.len, dr->stored, dr->live, dead,
              dr->pinned, dr->missing);
    }
    else {
      printf ("%-32s %-8s %16" PRIu64 " %16" PRIu64 " %16" PRIu64 " %16"
              PRIu64 " %16" PRIu64 " %16" PRIu64 "\n", dr->e->name, kind,
              dr->r.size, lg, dr->stored, dr->live, dead, dr->pinned);
      if (dr->missing)
        printf ("%s: %" PRIu64 " segments its map names are missing "
                "(s3blocks check names them)\n", dr->e->name, dr->missing);
    }
  }
  if (a->json)
    printf ("%s], \"log_bucket\": {\"segment_objects\": %" PRIu64
            ", \"segment_bytes\": %" PRIu64 ", \"unnamed_objects\": %"
            PRIu64 ", \"unnamed_bytes\": %" PRIu64 "}", shown ? "\n" : "",
            d->listed, d->listed_bytes, d->unnamed, d->unnamed_bytes);
  else
    printf ("\nlog: %" PRIu64 " segments %" PRIu64 " bytes under "
            LOG_SEGS_PREFIX ", of which %" PRIu64 " (%" PRIu64 " bytes) "
            "no root names\n", d->listed, d->listed_bytes, d->unnamed,
            d->unnamed_bytes);
}

int
log_du (struct admin *a, const struct cas_root_list *l, char **names, int n)
{
  struct cas_walker w = {
    .skip = ldu_skip, .contents = ldu_contents,
  };
  struct ldu d = { 0 };
  int r = -1;

  w.opaque = &d;
  d.roots = calloc (l->len ? l->len : 1, sizeof *d.roots);
  if (d.roots == NULL) {
    nbdkit_error ("du: %m");
    return -1;
  }
  progress_start ("du: log", "pages", PROGRESS_UNKNOWN);
  for (size_t j = 0; j < l->len; j++) {
    struct ldu_root *dr = &d.roots[j];

    dr->e = &l->ptr[j];
    if (cas_root_read (a->store, l->ptr[j].key, &dr->r, NULL, &dr->found)
        == -1)
      goto out;
    if (!dr->found || dr->r.leaf != CAS_LEAF_LOCATION) {
      dr->found = false;
      continue;
    }
    dr->wanted = cas_name_wanted (l->ptr[j].name, names, n);
    if (cas_walk (a->store, l->ptr[j].name, &dr->r, &w) == -1)
      goto out;
    d.cur = j + 1;
    if (!dr->r.empty &&
        count_page (&d, l->ptr[j].name, &dr->r.top, dr->r.depth) == -1)
      goto out;
  }
  progress_finish ();
  if (store_list (a->store, LOG_SEGS_PREFIX, NULL, NULL, list_segs, &d)
      == -1) {
    nbdkit_error ("du: cannot list %s: %m", LOG_SEGS_PREFIX);
    goto out;
  }
  sum_segments (&d, l->len);
  print (a, &d, l->len);
  r = 0;

 out:
  for (size_t j = 0; j < l->len; j++)
    ldu_segs_reset (&d.roots[j].segs);
  free (d.roots);
  hset_free (&d.read);
  hset_free (&d.pages);
  hset_free (&d.seg_ids);
  hset_free (&d.extents);
  ldu_nodes_reset (&d.nodes);
  ldu_kids_reset (&d.kids);
  ldu_exts_reset (&d.exts);
  size_list_reset (&d.size);
  ldu_segs_reset (&d.stamp);
  ldu_segs_reset (&d.mark);
  ldu_segs_reset (&d.named);
  return r;
}
