/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): a set of SHA-256 hashes, the objects
 * that gc marks, du counts and check looks for.  Open addressing with
 * linear probing; the keys are already uniformly distributed, so their
 * first bytes index the table.  48 bytes an entry, at most half full:
 * a bucket referencing 26 million distinct blocks (100 GiB of 4 KiB)
 * needs about 2.5 GB here.
 */

#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "cas/cas-admin.h"

static size_t
slot_of (const struct cas_hash *h, size_t cap)
{
  uint64_t v;

  memcpy (&v, h->b, sizeof v);
  return v & (cap - 1);
}

static int
grow (struct hset *s)
{
  size_t cap = s->cap ? s->cap * 2 : 1024;
  struct hset_entry *v = calloc (cap, sizeof *v);

  if (v == NULL) {
    nbdkit_error ("hash set of %zu entries: %m", cap);
    return -1;
  }
  for (size_t i = 0; i < s->cap; i++) {
    size_t j;

    if (!s->v[i].used)
      continue;
    for (j = slot_of (&s->v[i].h, cap); v[j].used; j = (j + 1) & (cap - 1))
      ;
    v[j] = s->v[i];
  }
  free (s->v);
  s->v = v;
  s->cap = cap;
  return 0;
}

struct hset_entry *
hset_find (const struct hset *s, const struct cas_hash *h)
{
  if (s->cap == 0)
    return NULL;
  for (size_t j = slot_of (h, s->cap); s->v[j].used;
       j = (j + 1) & (s->cap - 1))
    if (memcmp (s->v[j].h.b, h->b, CAS_HASH_LEN) == 0)
      return &s->v[j];
  return NULL;
}

struct hset_entry *
hset_add (struct hset *s, const struct cas_hash *h, bool *added)
{
  struct hset_entry *e = hset_find (s, h);
  size_t j;

  *added = false;
  if (e)
    return e;
  if ((s->n + 1) * 2 > s->cap && grow (s) == -1)
    return NULL;
  for (j = slot_of (h, s->cap); s->v[j].used; j = (j + 1) & (s->cap - 1))
    ;
  e = &s->v[j];
  e->h = *h;
  e->a = e->b = e->c = 0;
  e->used = 1;
  s->n++;
  *added = true;
  return e;
}

void
hset_free (struct hset *s)
{
  free (s->v);
  memset (s, 0, sizeof *s);
}
