/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): check for the log layout, after the
 * cas part (cas-check.c), of the roots that say "leaf location".
 *
 *   1. mark: walk each wanted root's tree; every page is read and
 *      checked (pages shared by several roots once); keep each
 *      distinct extent its leaves name (segment, offset, stored
 *      length, codec, hash)
 *   2. for each segment named: one ranged GET of its header and index
 *      (log_segio_read_index: the header's id against the key, the
 *      index's hash, the tiling of its records), then every extent
 *      named in it must be one of its records, with the same stored
 *      length, codec and hash
 *   3. --deep: read every extent named (ranged GETs in runs,
 *      log_segio_read) and check each block against its SHA-256
 *   4. only when something is damaged: walk the wanted roots again in
 *      full to name, for each damaged segment or page, every export or
 *      snapshot that references it (and one block that does)
 *
 * A segment whose index cannot be read (truncated, planted, swapped,
 * damaged) is reported with the decoder's reason on stderr and counted
 * once; a store error other than EIO stops the check.
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
#include "layout/log/log-segio.h"

/* Extents read per log_segio_read call in --deep. */
#define DEEP_BATCH 256

enum { SEG_OK, SEG_MISSING, SEG_BAD_INDEX, SEG_BAD_RECORD, SEG_BAD_BLOCK };

struct lck_ext {
  uint32_t seg;                 /* ordinal */
  struct log_location loc;
  bool conflict;                /* two leaves disagree about it */
};
DEFINE_VECTOR (lck_exts, struct lck_ext);

struct lck_seg {
  uint8_t id[LOG_SEG_ID_LEN];
  uint32_t block_size;          /* its first referrer's */
  const char *label;            /* its first referrer */
  int state;
  uint32_t offset;              /* SEG_BAD_RECORD, SEG_BAD_BLOCK: where */
  uint32_t named;               /* step 4: the last root naming it */
};
DEFINE_VECTOR (lck_segs, struct lck_seg);

struct lck {
  struct admin *a;
  struct hset *pages, *bad_pages;       /* the caller's */
  struct hset seg_ids;          /* a = ordinal + 1 */
  struct hset extents;          /* a = index in exts + 1 */
  struct lck_segs segs;
  struct lck_exts exts;
  uint32_t cur;
  const char *label;
  uint32_t block_size;
  bool naming;
};

static int
nomem (void)
{
  nbdkit_error ("check: %m");
  errno = ENOMEM;
  return -1;
}

static struct cas_hash
seg_key (const uint8_t id[LOG_SEG_ID_LEN])
{
  struct cas_hash h;

  memset (&h, 0, sizeof h);
  memcpy (h.b, id, LOG_SEG_ID_LEN);
  return h;
}

/* An extent's key: a mix of segment id and offset leads (the set's
 * slot is its first 8 bytes), then both.
 */
static struct cas_hash
ext_key (const struct log_location *loc)
{
  struct cas_hash h;
  uint64_t v;

  memcpy (&v, loc->seg, sizeof v);
  v = (v ^ loc->offset) * UINT64_C (0x9e3779b97f4a7c15);
  v ^= v >> 29;
  memset (&h, 0, sizeof h);
  memcpy (h.b, &v, sizeof v);
  memcpy (h.b + 8, loc->seg, LOG_SEG_ID_LEN);
  memcpy (h.b + 24, &loc->offset, sizeof loc->offset);
  return h;
}

static const char *
seg_why (const struct lck_seg *s, char *buf, size_t size)
{
  switch (s->state) {
  case SEG_MISSING:
    return "missing";
  case SEG_BAD_INDEX:
    return "damaged: its header or index is unreadable";
  case SEG_BAD_RECORD:
    snprintf (buf, size, "damaged: its index does not hold the block at "
              "offset %" PRIu32 " that the map names", s->offset);
    return buf;
  default:
    snprintf (buf, size, "damaged: the block at offset %" PRIu32 " does "
              "not match its SHA-256", s->offset);
    return buf;
  }
}

static bool
lck_skip (void *opaque, const struct cas_hash *h)
{
  struct lck *c = opaque;

  return !c->naming && hset_find (c->pages, h) != NULL;
}

static int
lck_page (void *opaque, const struct cas_hash *h, unsigned level,
          size_t bytes)
{
  struct lck *c = opaque;
  bool added;

  (void) level; (void) bytes;
  if (!c->naming)
    progress_advance (1);
  return hset_add (c->pages, h, &added) ? 0 : -1;
}

static int
lck_missing (void *opaque, const struct cas_hash *h, unsigned level,
             const char *why)
{
  struct lck *c = opaque;
  bool added;

  if (c->naming) {
    char key[KEY_MAX];

    cas_page_key (key, sizeof key, h);
    printf ("%s: damage: map page %s (level %u) is %s: the blocks under "
            "it cannot be read\n", c->label, key, level, why);
    return 0;
  }
  return hset_add (c->bad_pages, h, &added) ? 0 : -1;
}

static int
lck_block (void *opaque, uint64_t index, const struct cas_value *v)
{
  struct lck *c = opaque;
  const struct log_location *loc = &v->loc;
  const struct cas_hash sk = seg_key (loc->seg), xk = ext_key (loc);
  struct hset_entry *se, *xe;
  bool added;

  if (c->naming) {
    struct lck_seg *s;
    char key[KEY_MAX], why[128];

    se = hset_find (&c->seg_ids, &sk);
    if (se == NULL)
      return 0;
    s = &c->segs.ptr[se->a - 1];
    if (s->state == SEG_OK || s->named == c->cur)
      return 0;
    s->named = c->cur;
    log_segment_key (key, sizeof key, s->id);
    printf ("%s: damage: segment %s is %s (block %" PRIu64 ", and maybe "
            "others)\n", c->label, key, seg_why (s, why, sizeof why), index);
    return 0;
  }
  if ((se = hset_add (&c->seg_ids, &sk, &added)) == NULL)
    return -1;
  if (added) {
    struct lck_seg s = {
      .block_size = c->block_size, .label = c->label, .state = SEG_OK,
    };

    memcpy (s.id, loc->seg, LOG_SEG_ID_LEN);
    if (c->segs.len >= UINT32_MAX - 1 || lck_segs_append (&c->segs, s) == -1)
      return nomem ();
    se->a = c->segs.len;
  }
  if ((xe = hset_add (&c->extents, &xk, &added)) == NULL)
    return -1;
  if (added) {
    struct lck_ext x = { .seg = se->a - 1, .loc = *loc };

    if (c->exts.len >= UINT32_MAX - 1 || lck_exts_append (&c->exts, x) == -1)
      return nomem ();
    xe->a = c->exts.len;
  }
  else {
    struct lck_ext *x = &c->exts.ptr[xe->a - 1];

    if (x->loc.stored_len != loc->stored_len || x->loc.codec != loc->codec ||
        !cas_hash_equal (&x->loc.hash, &loc->hash))
      x->conflict = true;
  }
  return 0;
}

/* Walk every wanted log root (step 1, or step 4 when c->naming). */
static int
walk_all (struct lck *c, const struct cas_root_list *l, char **names, int n,
          uint64_t *roots)
{
  const struct cas_walker w = {
    .skip = lck_skip, .page = lck_page, .block = lck_block,
    .missing = lck_missing, .opaque = c,
  };

  if (!c->naming)
    progress_start ("check: log", "pages", PROGRESS_UNKNOWN);
  for (size_t j = 0; j < l->len; j++) {
    struct cas_root r;
    bool found;

    if (!cas_name_wanted (l->ptr[j].name, names, n))
      continue;
    if (cas_root_read (c->a->store, l->ptr[j].key, &r, NULL, &found) == -1)
      return -1;
    if (!found || r.leaf != CAS_LEAF_LOCATION)
      continue;
    c->cur = j + 1;
    c->label = l->ptr[j].name;
    c->block_size = r.block_size;
    if (roots)
      (*roots)++;
    if (cas_walk (c->a->store, l->ptr[j].name, &r, &w) == -1)
      return -1;
  }
  progress_finish ();
  return 0;
}

static int
by_segment (const void *x, const void *y)
{
  const struct lck_ext *a = x, *b = y;

  if (a->seg != b->seg)
    return a->seg < b->seg ? -1 : 1;
  return a->loc.offset < b->loc.offset ? -1 : a->loc.offset > b->loc.offset;
}

/* The record at offset, or NULL (records are in data order). */
static const struct log_segment_record *
record_at (const struct log_segment_index *idx, uint32_t offset)
{
  size_t lo = 0, hi = idx->hdr.count;

  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;

    if (idx->records[mid].offset == offset)
      return &idx->records[mid];
    if (idx->records[mid].offset < offset)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}

/* Read the extents x[0..n) of segment s and check each block. */
static int
deep (struct lck *c, struct log_segio *io, struct lck_seg *s,
      const struct lck_ext *x, size_t n)
{
  struct log_read *rd = calloc (DEEP_BATCH, sizeof *rd);
  char *bufs = malloc ((size_t) DEEP_BATCH * s->block_size);
  int r = -1;

  (void) c;
  if (rd == NULL || bufs == NULL) {
    nomem ();
    goto out;
  }
  for (size_t i = 0; i < n && s->state == SEG_OK; i += DEEP_BATCH) {
    const size_t m = n - i < DEEP_BATCH ? n - i : DEEP_BATCH;

    for (size_t k = 0; k < m; k++)
      rd[k] = (struct log_read) {
        .loc = x[i + k].loc, .buf = bufs + k * (size_t) s->block_size,
      };
    log_segio_read (io, rd, m);
    for (size_t k = 0; k < m && s->state == SEG_OK; k++) {
      if (rd[k].err == 0)
        continue;
      if (rd[k].err == ENOENT)
        s->state = SEG_MISSING; /* deleted since its index was read */
      else if (rd[k].err == EIO) {
        s->state = SEG_BAD_BLOCK;
        s->offset = rd[k].loc.offset;
      }
      else {
        errno = rd[k].err;
        goto out;
      }
    }
  }
  r = 0;
 out:
  free (rd);
  free (bufs);
  return r;
}

/* Step 2 (and 3) for segment s, whose extents are x[0..n). */
static int
check_segment (struct lck *c, struct lck_seg *s, const struct lck_ext *x,
               size_t n)
{
  struct log_segio io = {
    .store = c->a->store, .export_name = s->label,
    .block_size = s->block_size,
  };
  struct log_segment_index idx;
  bool found;

  if (log_segio_init (&io) == -1)
    return -1;
  if (log_segio_read_index (&io, s->id, &idx, &found) == -1) {
    if (errno != EIO)
      return -1;
    s->state = SEG_BAD_INDEX;   /* the reason is on stderr */
    return 0;
  }
  if (!found) {
    s->state = SEG_MISSING;
    return 0;
  }
  for (size_t i = 0; i < n && s->state == SEG_OK; i++) {
    const struct log_segment_record *rec = record_at (&idx, x[i].loc.offset);

    if (x[i].conflict || rec == NULL ||
        rec->stored_len != x[i].loc.stored_len ||
        rec->codec != x[i].loc.codec ||
        !cas_hash_equal (&rec->hash, &x[i].loc.hash)) {
      s->state = SEG_BAD_RECORD;
      s->offset = x[i].loc.offset;
    }
  }
  log_segment_index_free (&idx);
  if (c->a->deep && s->state == SEG_OK)
    return deep (c, &io, s, x, n);
  return 0;
}

int
log_check (struct admin *a, const struct cas_root_list *l, char **names,
           int n, struct hset *pages, struct hset *bad_pages,
           uint64_t *damaged)
{
  struct lck c = { .a = a, .pages = pages, .bad_pages = bad_pages };
  uint64_t roots = 0, bad = 0;
  const size_t pages0 = pages->n, bad0 = bad_pages->n;
  int r = -1;

  *damaged = 0;
  if (walk_all (&c, l, names, n, &roots) == -1)
    goto out;
  if (roots == 0) {
    r = 0;
    goto out;
  }
  /* The set's indexes are not used after this: sort by segment. */
  qsort (c.exts.ptr, c.exts.len, sizeof *c.exts.ptr, by_segment);
  progress_start (a->deep ? "check: log --deep" : "check: log",
                  "segments", c.segs.len);
  for (size_t i = 0; i < c.exts.len;) {
    size_t j = i;

    while (j < c.exts.len && c.exts.ptr[j].seg == c.exts.ptr[i].seg)
      j++;
    if (check_segment (&c, &c.segs.ptr[c.exts.ptr[i].seg], &c.exts.ptr[i],
                       j - i) == -1) {
      char key[KEY_MAX];

      log_segment_key (key, sizeof key, c.segs.ptr[c.exts.ptr[i].seg].id);
      nbdkit_error ("check: cannot read segment %s: %m", key);
      goto out;
    }
    progress_advance (1);
    i = j;
  }
  progress_finish ();

  bad = bad_pages->n - bad0;
  for (size_t i = 0; i < c.segs.len; i++)
    bad += c.segs.ptr[i].state != SEG_OK;
  if (bad) {
    c.naming = true;
    if (walk_all (&c, l, names, n, NULL) == -1)
      goto out;
  }
  printf ("log: %" PRIu64 " roots, %zu pages, %zu segments and %zu extents "
          "referenced, %" PRIu64 " damaged%s\n", roots, pages->n - pages0,
          c.segs.len, c.exts.len, bad,
          a->deep ? " (every page, segment index and block read)"
          : " (every page and segment index read)");
  *damaged = bad;
  r = 0;

 out:
  hset_free (&c.seg_ids);
  hset_free (&c.extents);
  lck_segs_reset (&c.segs);
  lck_exts_reset (&c.exts);
  return r;
}
