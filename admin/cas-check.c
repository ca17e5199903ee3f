/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): check for the cas layout.
 *
 * Every page and content that the roots checked reference must exist
 * (and be intact: a damaged object makes reads of it fail with EIO).
 *   1. mark: walk each root's tree; every page is read and checked
 *      against its hash (pages shared by several roots once)
 *   2. one LIST of cas/data/ compared with the contents referenced
 *      (not one HEAD each), and one of cas/pages/ for the count of
 *      unreferenced objects (gc's to collect, not damage)
 *   3. --deep: GET every content referenced, check its SHA-256
 *   4. only when something is damaged: walk the roots again in full to
 *      name, for each damaged object, every export or snapshot that
 *      references it (and one block that does)
 * Roots that say "leaf location" are log_check's (log-check.c), between
 * steps 1 and 2 (its output first).
 * Data entries: a = the last root that named it (step 4), b = state
 * (below), c = the block size its first referrer expects.
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

#define DEEP_BATCH 32

enum { ABSENT, PRESENT, WRONG_SIZE, CORRUPT };

struct check {
  struct admin *a;
  struct hset pages, data, bad_pages;
  uint32_t cur;                 /* root being walked, from 1 */
  const char *label;
  uint32_t block_size;
  uint64_t listed_size;
  uint64_t unreferenced;
  bool naming;                  /* step 4 */
};

static bool
ck_skip (void *opaque, const struct cas_hash *h)
{
  struct check *c = opaque;

  return !c->naming && hset_find (&c->pages, h) != NULL;
}

static int
ck_page (void *opaque, const struct cas_hash *h, unsigned level,
         size_t bytes)
{
  struct check *c = opaque;
  bool added;

  (void) level; (void) bytes;
  if (!c->naming)
    progress_set (c->pages.n + 1);
  return hset_add (&c->pages, h, &added) ? 0 : -1;
}

static const char *
state_text (uint32_t state, char *buf, size_t size, uint32_t bs)
{
  switch (state) {
  case ABSENT:
    return "missing";
  case WRONG_SIZE:
    snprintf (buf, size, "not one block long (%" PRIu32 " bytes)", bs);
    return buf;
  default:
    return "damaged: its content does not match its SHA-256";
  }
}

static int
ck_block (void *opaque, uint64_t index, const struct cas_value *v)
{
  struct check *c = opaque;
  const struct cas_hash *h = &v->hash;
  struct hset_entry *e;
  bool added;

  if (!c->naming) {
    e = hset_add (&c->data, h, &added);
    if (e == NULL)
      return -1;
    if (added)
      e->c = c->block_size;
    return 0;
  }
  e = hset_find (&c->data, h);
  if (e && e->b != PRESENT && e->a != c->cur) {
    char key[KEY_MAX], why[64];

    e->a = c->cur;
    cas_data_key (key, sizeof key, h);
    printf ("%s: damage: %s is %s (block %" PRIu64 ", and maybe others)\n",
            c->label, key, state_text (e->b, why, sizeof why, c->block_size),
            index);
  }
  return 0;
}

static int
ck_missing (void *opaque, const struct cas_hash *h, unsigned level,
            const char *why)
{
  struct check *c = opaque;
  bool added;

  if (c->naming) {
    char key[KEY_MAX];

    cas_page_key (key, sizeof key, h);
    printf ("%s: damage: map page %s (level %u) is %s: the blocks under "
            "it cannot be read\n", c->label, key, level, why);
    return 0;
  }
  return hset_add (&c->bad_pages, h, &added) ? 0 : -1;
}

static int
list_data (void *opaque, const struct store_entry *e)
{
  struct check *c = opaque;
  struct cas_hash h;
  struct hset_entry *d;

  if (e->is_prefix ||
      !cas_hash_parse (e->key + strlen (CAS_DATA_PREFIX), &h))
    return 0;
  d = hset_find (&c->data, &h);
  if (d == NULL)
    c->unreferenced++;
  else
    d->b = e->size == d->c ? PRESENT : WRONG_SIZE;
  return 0;
}

static int
list_pages (void *opaque, const struct store_entry *e)
{
  struct check *c = opaque;
  struct cas_hash h;

  if (!e->is_prefix &&
      cas_hash_parse (e->key + strlen (CAS_PAGES_PREFIX), &h) &&
      hset_find (&c->pages, &h) == NULL &&
      hset_find (&c->bad_pages, &h) == NULL)
    c->unreferenced++;
  return 0;
}

/* GET every content present and check its hash. */
static int
deep (struct check *c)
{
  struct store_op *ops = calloc (DEEP_BATCH, sizeof *ops);
  struct hset_entry *batch[DEEP_BATCH];
  void *bufs[DEEP_BATCH] = { NULL };
  size_t i = 0;
  int r = -1;

  if (ops == NULL) {
    nbdkit_error ("check: %m");
    return -1;
  }
  progress_start ("check: cas --deep", "contents read", PROGRESS_UNKNOWN);
  {
    uint64_t present = 0;

    for (size_t k = 0; k < c->data.cap; k++)
      present += c->data.v[k].used && c->data.v[k].b == PRESENT;
    progress_set_total (present, false);
  }
  while (i < c->data.cap) {
    size_t n = 0;

    for (; i < c->data.cap && n < DEEP_BATCH; i++) {
      struct hset_entry *e = &c->data.v[i];

      if (!e->used || e->b != PRESENT)
        continue;
      free (bufs[n]);
      bufs[n] = malloc (e->c ? e->c : 1);
      if (bufs[n] == NULL) {
        nbdkit_error ("check: %m");
        goto out;
      }
      memset (&ops[n], 0, sizeof ops[n]);
      ops[n].kind = STORE_GET;
      cas_data_key (ops[n].key, sizeof ops[n].key, &e->h);
      ops[n].buf = bufs[n];
      ops[n].len = e->c;
      batch[n++] = e;
    }
    store_run (c->a->store, ops, n);
    progress_advance (n);
    for (size_t j = 0; j < n; j++) {
      struct cas_hash h;

      if (ops[j].err == ENOENT) {
        batch[j]->b = ABSENT;           /* deleted since the listing */
        continue;
      }
      if (ops[j].err == EIO) {          /* longer than listed */
        batch[j]->b = WRONG_SIZE;
        continue;
      }
      if (ops[j].err) {
        nbdkit_error ("cannot read %s: %s", ops[j].key,
                      strerror (ops[j].err));
        goto out;
      }
      cas_hash_of (ops[j].buf, ops[j].got, &h);
      if (ops[j].got != batch[j]->c)
        batch[j]->b = WRONG_SIZE;
      else if (!cas_hash_equal (&h, &batch[j]->h))
        batch[j]->b = CORRUPT;
    }
  }
  r = 0;
 out:
  progress_finish ();
  for (size_t j = 0; j < DEEP_BATCH; j++)
    free (bufs[j]);
  free (ops);
  return r;
}

/* Walk every wanted root (step 1, or step 4 when c->naming). */
static int
walk_all (struct check *c, const struct cas_root_list *l, char **names,
          int n, uint64_t *roots)
{
  const struct cas_walker w = {
    .skip = ck_skip, .page = ck_page, .block = ck_block,
    .missing = ck_missing, .opaque = c,
  };

  if (!c->naming)
    progress_start ("check: cas", "pages", PROGRESS_UNKNOWN);
  for (size_t j = 0; j < l->len; j++) {
    struct cas_root r;
    bool found;

    if (!cas_name_wanted (l->ptr[j].name, names, n))
      continue;
    if (cas_root_read (c->a->store, l->ptr[j].key, &r, NULL, &found) == -1)
      return -1;
    if (!found || r.leaf == CAS_LEAF_LOCATION)
      continue;                 /* a log root: log_check's */
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

int
cas_check (struct admin *a, char **names, int n)
{
  struct check c = { .a = a };
  struct cas_root_list l;
  uint64_t roots = 0, damaged = 0, log_damaged;
  size_t cas_pages, cas_bad_pages;
  int status = EXIT_USAGE;

  if (cas_root_list_read (a->store, NULL, &l) == -1)
    return EXIT_USAGE;
  for (int i = 0; i < n; i++) {
    bool found = false;

    for (size_t j = 0; j < l.len; j++)
      found |= strcmp (l.ptr[j].name, names[i]) == 0;
    if (found)
      continue;
    if (name_text_is_snapshot (names[i])) {
      nbdkit_error ("%s: no such snapshot", names[i]);
      goto out;
    }
    printf ("%s: a cas export with no committed root yet: nothing to "
            "check\n", names[i]);
  }

  if (walk_all (&c, &l, names, n, &roots) == -1)
    goto out;
  /* The log roots, before the LIST: their pages are referenced too. */
  cas_pages = c.pages.n;
  cas_bad_pages = c.bad_pages.n;
  if (log_check (a, &l, names, n, &c.pages, &c.bad_pages, &log_damaged)
      == -1)
    goto out;
  if (store_list (a->store, CAS_DATA_PREFIX, NULL, NULL, list_data, &c)
      == -1 ||
      store_list (a->store, CAS_PAGES_PREFIX, NULL, NULL, list_pages, &c)
      == -1) {
    nbdkit_error ("cannot list the cas objects: %m");
    goto out;
  }
  if (a->deep && deep (&c) == -1)
    goto out;

  damaged = cas_bad_pages;
  for (size_t i = 0; i < c.data.cap; i++)
    if (c.data.v[i].used && c.data.v[i].b != PRESENT)
      damaged++;
  if (damaged) {
    for (size_t i = 0; i < c.data.cap; i++)
      c.data.v[i].a = 0;
    c.naming = true;
    if (walk_all (&c, &l, names, n, NULL) == -1)
      goto out;
  }
  printf ("cas: %" PRIu64 " roots, %zu pages and %zu contents referenced, "
          "%" PRIu64 " damaged%s", roots, cas_pages, c.data.n, damaged,
          a->deep ? " (every page and content read)" : " (every page read)");
  if (names == NULL)
    printf (", %" PRIu64 " objects unreferenced (gc collects them)",
            c.unreferenced);
  printf ("\n");
  damaged += log_damaged;
  status = damaged ? EXIT_DAMAGE : EXIT_CLEAN;

 out:
  cas_root_list_free (&l);
  hset_free (&c.pages);
  hset_free (&c.data);
  hset_free (&c.bad_pages);
  return status;
}
