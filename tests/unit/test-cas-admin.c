/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the admin command's cas verbs against the
 * in-memory store and its clock.
 *
 * gc: deletes exactly the unreferenced objects older than the grace;
 * spares young ones and those of unknown age; refuses a grace below
 * the roots' windows while a server holds a lease; and, with roots
 * changing under it (commits, snapshots, clones and deletes run from
 * the store's hook during gc's own requests, by a writer that follows
 * the servers' refresh rule), never deletes an object a root
 * references.  A writer that breaks the rule is caught: the test has
 * teeth.  A writer that PUTs old garbage again while gc sweeps loses
 * nothing through the sweep fence (docs/gc-safety.md, step 9), and
 * loses data without it.  snapshot and clone: the verify step retries
 * when the source commits during the copy, gives up (leaving nothing)
 * when it keeps changing, and costs the same requests whatever the
 * export's size.  du reads each distinct map page once, however many
 * paths lead to it.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include <nbdkit-plugin.h>

#include "admin.h"
#include "cas/cas-admin.h"
#include "cas/cas-fence.h"
#include "cas/cas-tree.h"
#include "format/keys.h"
#include "lease/leaseinfo.h"
#include "memstore.h"
#include "nbdkit-standin.h"
#include "tests.h"

#define BS 4096
#define RW 1800                 /* the roots' reuse-window */
#define CB 60                   /* and commit-bound */

static struct memstore *mem;
static struct store *st;

static void
setup (void)
{
  mem = memstore_new ();
  st = memstore_store (mem);
  standin_reset_errors ();
}

static void
teardown (void)
{
  st->ops->close (st);
  mem = NULL;
  st = NULL;
}

/* Content number n: a block whose bytes say n. */
static void
content (uint32_t n, struct cas_hash *h, bool store_it)
{
  static char buf[BS];
  char key[KEY_MAX];

  memset (buf, 0, sizeof buf);
  snprintf (buf, sizeof buf, "content %" PRIu32, n);
  cas_hash_of (buf, BS, h);
  if (store_it) {
    cas_data_key (key, sizeof key, h);
    memstore_set (mem, key, buf, BS);
  }
}

/* A tree of depth 1 over blocks[i] = content vals[i] (0: hole), PUT
 * as the writer would: pages stored now.  Returns the top.
 */
/* false: build_tree writes pages only (the fenced writer PUTs its
 * contents itself, as a server does).
 */
static bool build_stores_contents = true;

static void
build_tree (const uint32_t *vals, uint64_t nblocks, unsigned depth,
            struct cas_hash *top, bool *empty, uint64_t *present)
{
  static uint8_t buf[CAS_PAGE_MAX];
  struct cas_page_entry *leaf = calloc (CAS_FANOUT, sizeof *leaf);
  struct cas_page_entry *upper = calloc (CAS_FANOUT, sizeof *upper);
  uint32_t nupper = 0;
  char key[KEY_MAX];

  CU_ASSERT_FATAL (leaf && upper && depth <= 1);
  *present = 0;
  for (uint64_t base = 0; base < nblocks; base += CAS_FANOUT) {
    struct cas_page p = { .level = 0, .entries = leaf };
    struct cas_hash h;
    size_t len;

    for (uint64_t i = base; i < nblocks && i < base + CAS_FANOUT; i++)
      if (vals[i]) {
        leaf[p.count].slot = i - base;
        content (vals[i], &leaf[p.count].hash, build_stores_contents);
        p.count++;
      }
    if (p.count == 0)
      continue;
    *present += p.count;
    len = cas_page_encode (&p, buf);
    cas_hash_of (buf, len, &h);
    cas_page_key (key, sizeof key, &h);
    memstore_set (mem, key, buf, len);
    upper[nupper].slot = base / CAS_FANOUT;
    upper[nupper].hash = h;
    nupper++;
  }
  *empty = nupper == 0;
  if (depth == 0 || nupper == 0) {
    if (nupper)
      *top = upper[0].hash;
  }
  else {
    struct cas_page p = { .level = 1, .count = nupper, .entries = upper };
    size_t len = cas_page_encode (&p, buf);

    cas_hash_of (buf, len, top);
    cas_page_key (key, sizeof key, top);
    memstore_set (mem, key, buf, len);
  }
  free (leaf);
  free (upper);
}

static void
put_root (const char *key, const char *name, enum cas_root_kind kind,
          const uint32_t *vals, uint64_t nblocks, uint64_t generation,
          const char *incarnation)
{
  struct cas_root r = {
    .kind = kind, .size = nblocks * BS, .block_size = BS,
    .depth = nblocks > CAS_FANOUT ? 1 : 0, .generation = generation,
    .created = 1, .committed = 2, .reuse_window_s = RW,
    .commit_bound_s = CB,
  };
  enum cas_root_put_outcome put;

  snprintf (r.name, sizeof r.name, "%s", name);
  if (incarnation)
    snprintf (r.incarnation, sizeof r.incarnation, "%s", incarnation);
  else
    CU_ASSERT_FATAL (cas_new_incarnation (r.incarnation) == 0);
  build_tree (vals, nblocks, r.depth, &r.top, &r.empty, &r.blocks);
  CU_ASSERT_FATAL (cas_root_write (st, key, &r, STORE_ALWAYS, NULL, NULL,
                                   &put) == 0 && put == CAS_ROOT_PUT_WRITTEN);
}

static bool
has_content (uint32_t n)
{
  struct cas_hash h;
  char key[KEY_MAX], b;

  content (n, &h, false);
  cas_data_key (key, sizeof key, &h);
  return memstore_peek (mem, key, &b, 1) >= 0;
}

static void
put_lease (const char *name, int64_t pid)
{
  struct lease_info info = { .pid = pid };
  char key[KEY_MAX], buf[LEASE_MAX];
  int len;

  snprintf (info.owner, sizeof info.owner, "%032d", 7);
  snprintf (info.host, sizeof info.host, "host-%s", name);
  info.renewed_ms = (uint64_t) cas_now () * 1000;
  info.expires_ms = info.renewed_ms + 3600000;
  len = lease_format (buf, sizeof buf, &info);
  CU_ASSERT_FATAL (len > 0);
  export_lease_key (key, sizeof key, name);
  memstore_set (mem, key, buf, len);
}

/* Every page and content that every root references is stored.  The
 * number of roots walked, or -1 if something is missing.
 */
static int missing_count;

static int
count_missing (void *opaque, const struct cas_hash *h, unsigned level,
               const char *why)
{
  (void) opaque; (void) h; (void) level; (void) why;
  missing_count++;
  return 0;
}

static int
check_block (void *opaque, uint64_t index, const struct cas_value *v)
{
  const struct cas_hash *h = &v->hash;
  char key[KEY_MAX], b;

  cas_data_key (key, sizeof key, h);
  if (memstore_peek (mem, key, &b, 1) < 0) {
    missing_count++;
    if (getenv ("S3BLOCKS_UNIT_TRACE"))
      fprintf (stderr, "  missing %s block %" PRIu64 " of %s\n", key, index,
               (const char *) opaque);
  }
  return 0;
}

static int
all_referenced_present (void)
{
  struct cas_walker w = {
    .block = check_block, .missing = count_missing,
  };
  struct cas_root_list l;

  missing_count = 0;
  CU_ASSERT_FATAL (cas_root_list_read (st, NULL, &l) == 0);
  for (size_t i = 0; i < l.len; i++) {
    struct cas_root r;
    bool found;

    CU_ASSERT_FATAL (cas_root_read (st, l.ptr[i].key, &r, NULL, &found) == 0
                     && found);
    w.opaque = l.ptr[i].name;
    CU_ASSERT_FATAL (cas_walk (st, l.ptr[i].name, &r, &w) == 0);
  }
  cas_root_list_free (&l);
  return missing_count;
}

/* ---- gc ---- */

static void
test_gc_basic (void)
{
  uint32_t a[8] = { 1, 2, 0, 3 }, s[8] = { 1, 4 };
  struct gc_params p = { .grace_s = 3600 };
  struct gc_result res;
  struct cas_hash h;
  char key[KEY_MAX];
  size_t pages_before;
  bool swept;

  setup ();
  put_root ("cas/roots/a", "a", CAS_ROOT_EXPORT, a, 8, 3, NULL);
  put_root ("cas/snaps/a/s", "a@s", CAS_ROOT_SNAPSHOT, s, 8, 1, NULL);
  /* Garbage: an old tree's page and contents 5, 6 (old), 7 (young),
   * 8 (old, but its date unknown).
   */
  {
    uint32_t old[8] = { 5, 6 };
    struct cas_hash top;
    bool empty;
    uint64_t n;

    build_tree (old, 8, 0, &top, &empty, &n);
  }
  content (8, &h, true);
  cas_data_key (key, sizeof key, &h);
  CU_ASSERT (memstore_set_mtime (mem, key, 0) == 0);
  memstore_advance_clock (mem, 2 * 3600);
  content (7, &h, true);
  memstore_advance_clock (mem, 10);
  pages_before = memstore_count (mem, CAS_PAGES_PREFIX);
  CU_ASSERT_EQUAL (pages_before, 3);

  /* A dry run deletes nothing and counts what a run deletes. */
  p.dry_run = true;
  CU_ASSERT_FATAL (cas_gc (st, &p, &res, &swept) == 0 && swept);
  CU_ASSERT_EQUAL (res.deleted, 3);
  CU_ASSERT_EQUAL (memstore_count (mem, CAS_DATA_PREFIX), 8);
  p.dry_run = false;
  CU_ASSERT_FATAL (cas_gc (st, &p, &res, &swept) == 0 && swept);
  CU_ASSERT_EQUAL (res.start, MEMSTORE_EPOCH + 2 * 3600 + 10);
  CU_ASSERT_EQUAL (res.cutoff, res.start - 3600);
  CU_ASSERT_EQUAL (res.passes, 2);
  CU_ASSERT_EQUAL (res.roots_read, 2);
  CU_ASSERT_EQUAL (res.data_marked, 4);
  CU_ASSERT_EQUAL (res.pages_marked, 2);
  CU_ASSERT_EQUAL (res.deleted, 3);
  CU_ASSERT_EQUAL (res.deleted_pages, 1);
  CU_ASSERT_EQUAL (res.deleted_data, 2);
  CU_ASSERT_EQUAL (res.deleted_bytes - 2 * BS < CAS_PAGE_MAX, 1);
  CU_ASSERT_EQUAL (res.young, 1);
  CU_ASSERT_EQUAL (res.unknown_age, 1);
  CU_ASSERT_EQUAL (res.max_window_s, RW + CB);
  for (uint32_t n = 1; n <= 4; n++)
    CU_ASSERT (has_content (n));
  CU_ASSERT (!has_content (5));
  CU_ASSERT (!has_content (6));
  CU_ASSERT (has_content (7));
  CU_ASSERT (has_content (8));
  CU_ASSERT_EQUAL (memstore_count (mem, CAS_PAGES_PREFIX), 2);
  CU_ASSERT_EQUAL (all_referenced_present (), 0);

  /* Nothing more to do; grace 0 takes the young one too. */
  p.grace_s = 0;
  memstore_advance_clock (mem, 1);
  CU_ASSERT_FATAL (cas_gc (st, &p, &res, &swept) == 0 && swept);
  CU_ASSERT_EQUAL (res.deleted, 1);
  CU_ASSERT (!has_content (7));
  CU_ASSERT (has_content (8));
  teardown ();
}

static void
test_gc_refusals (void)
{
  uint32_t a[4] = { 1, 2 };
  struct gc_params p = { .grace_s = 60 };
  struct gc_result res;
  struct cas_hash h;
  bool swept;

  setup ();
  put_root ("cas/roots/a", "a", CAS_ROOT_EXPORT, a, 4, 1, NULL);
  content (9, &h, true);              /* old garbage */
  memstore_advance_clock (mem, 7200);

  /* A server on a: grace 60 is below 1800 + 60. */
  put_lease ("a", 11);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (cas_gc (st, &p, &res, &swept), 0);
  CU_ASSERT_FALSE (swept);
  CU_ASSERT (strstr (standin_last_error, "grace=60s is below") != NULL);
  CU_ASSERT (strstr (standin_last_error, "(a: host host-a, pid 11)") != NULL);
  CU_ASSERT (has_content (9));
  p.grace_s = RW + CB;
  CU_ASSERT_EQUAL (cas_gc (st, &p, &res, &swept), 0);
  CU_ASSERT_TRUE (swept);
  CU_ASSERT (!has_content (9));

  /* A lease on an export with no root: its window is unknown. */
  content (9, &h, true);
  memstore_advance_clock (mem, 7200);
  put_lease ("newbie", 12);
  p.grace_s = 3 * 3600;
  standin_reset_errors ();
  CU_ASSERT_EQUAL (cas_gc (st, &p, &res, &swept), 0);
  CU_ASSERT_FALSE (swept);
  CU_ASSERT (strstr (standin_last_error, "newbie is held") != NULL);
  CU_ASSERT (has_content (9));

  /* ... unless it is a plain export: its server writes no cas object. */
  {
    static const char plain[] =
      "s3blocks-export 1\nsize 4096\nblock-size 4096\n";

    memstore_set (mem, "exports/newbie", plain, strlen (plain));
  }
  p.grace_s = RW + CB;
  CU_ASSERT_EQUAL (cas_gc (st, &p, &res, &swept), 0);
  CU_ASSERT_TRUE (swept);
  CU_ASSERT (!has_content (9));

  /* A page that cannot be read: gc gives up, deleting nothing. */
  {
    struct cas_root r;
    char key[KEY_MAX];
    bool found;

    content (9, &h, true);
    memstore_advance_clock (mem, 7200);
    CU_ASSERT_FATAL (cas_root_read (st, "cas/roots/a", &r, NULL, &found) == 0
                     && found);
    cas_page_key (key, sizeof key, &r.top);
    memstore_set (mem, key, "junk", 4);
    standin_reset_errors ();
    CU_ASSERT_EQUAL (cas_gc (st, &p, &res, &swept), 0);
    CU_ASSERT_FALSE (swept);
    CU_ASSERT (strstr (standin_last_error, "gave up") != NULL);
    CU_ASSERT (has_content (9));
  }
  teardown ();
}

/* A writer during gc.  It follows rule 1 (docs/gc-safety.md, step 4)
 * unless broken: content it references that it did not PUT within the
 * reuse window is PUT again (here: the test's contents were all PUT
 * long before).
 */
struct writer {
  unsigned step, every, actions;
  bool stopped;                 /* gc sweeps: this writer skips the
                                   fence, so it stops (see fwriter) */
  unsigned seed;
  bool broken;                  /* skip the refresh: the negative control */
  uint32_t next_content;
  unsigned snaps, clones;
};

static uint32_t a_vals[2048];

static unsigned
rnd (struct writer *w)
{
  w->seed = w->seed * 1103515245 + 12345;
  return (w->seed >> 16) & 0x7fff;
}

static void writer_hook (void *opaque);

static void
writer_commit (struct writer *w)
{
  struct cas_root r;
  char etag[STORE_ETAG_MAX];
  uint64_t i = rnd (w) % 2048;
  enum cas_root_put_outcome put;
  bool found;

  CU_ASSERT_FATAL (cas_root_read (st, "cas/roots/a", &r, etag, &found) == 0
                   && found);
  switch (rnd (w) % 3) {
  case 0:                       /* new content, PUT now */
    a_vals[i] = w->next_content++;
    break;
  case 1:                       /* a hole */
    a_vals[i] = 0;
    break;
  default:                      /* content from long ago, say garbage */
    a_vals[i] = 900 + rnd (w) % 20;
    if (!w->broken) {
      struct cas_hash h;

      content (a_vals[i], &h, true);     /* the refresh: PUT again */
    }
  }
  {
    /* build_tree PUTs every content again: undo that for old contents
     * in the broken writer, by putting them back at their old date.
     */
    bool empty;
    uint64_t n;
    struct cas_hash top;
    char key[KEY_MAX];

    build_tree (a_vals, 2048, 1, &top, &empty, &n);
    if (w->broken)
      for (uint32_t c = 900; c < 920; c++) {
        struct cas_hash h;

        content (c, &h, false);
        cas_data_key (key, sizeof key, &h);
        memstore_set_mtime (mem, key, MEMSTORE_EPOCH);
      }
    r.top = top;
    r.empty = empty;
    r.blocks = n;
    r.generation++;
  }
  CU_ASSERT_FATAL (cas_root_write (st, "cas/roots/a", &r, STORE_IF_MATCH,
                                   etag, NULL, &put) == 0
                   && put == CAS_ROOT_PUT_WRITTEN);
}

static void
writer_act (struct writer *w)
{
  char src[KEY_MAX], dst[KEY_MAX], name[64];
  struct cas_copy c;
  struct cas_root_list l;
  bool made;

  const bool tr = getenv ("S3BLOCKS_UNIT_TRACE") != NULL;

  switch (rnd (w) % 5) {
  case 0: case 1:
    writer_commit (w);
    if (tr) fprintf (stderr, "  commit a\n");
    break;
  case 2:                       /* snapshot a */
    snprintf (name, sizeof name, "a@s%u", w->snaps);
    cas_snap_key (dst, sizeof dst, "a", name + 2);
    w->snaps++;
    c = (struct cas_copy) {
      .src_key = "cas/roots/a", .src_name = "a", .dst_key = dst,
      .dst_name = name, .kind = CAS_ROOT_SNAPSHOT, .keep_generation = true,
    };
    CU_ASSERT (cas_copy_root (st, &c, &made) == 0 && made);
    if (tr) fprintf (stderr, "  snapshot %s\n", name);
    break;
  case 3:                       /* clone a snapshot (or a) */
    CU_ASSERT_FATAL (cas_root_list_read (st, "a", &l) == 0);
    {
      const struct cas_root_entry *e = &l.ptr[rnd (w) % l.len];

      snprintf (src, sizeof src, "%s", e->key);
      snprintf (name, sizeof name, "c%u", w->clones++);
      cas_root_key (dst, sizeof dst, name);
      c = (struct cas_copy) {
        .src_key = src, .src_name = e->name, .dst_key = dst,
        .dst_name = name, .kind = CAS_ROOT_EXPORT,
      };
      CU_ASSERT (cas_copy_root (st, &c, &made) == 0 && made);
      if (tr) fprintf (stderr, "  clone %s from %s\n", name, e->name);
    }
    cas_root_list_free (&l);
    break;
  default:                      /* delete a snapshot or a clone */
    CU_ASSERT_FATAL (cas_root_list_read (st, NULL, &l) == 0);
    {
      const struct cas_root_entry *e = &l.ptr[rnd (w) % l.len];

      if (strcmp (e->key, "cas/roots/a") != 0) {
        CU_ASSERT (store_delete (st, e->key) == 0);
        if (tr) fprintf (stderr, "  delete %s\n", e->name);
      }
    }
    cas_root_list_free (&l);
  }
  w->actions++;
}

static void
writer_hook (void *opaque)
{
  struct writer *w = opaque;

  if (w->stopped)
    return;
  if (++w->step % w->every == 0)
    writer_act (w);
  memstore_set_hook (mem, writer_hook, w);
}

static void
sweep_starts (void *opaque)
{
  struct writer *w = opaque;

  w->stopped = true;
}

/* Old objects, some referenced, some garbage (contents 900..919, which
 * the writer may reference again), then gc with a writer at work.
 * Returns how many referenced objects are missing afterwards.
 */
static int
gc_under_writer (unsigned seed, unsigned every, bool broken,
                 struct writer *w)
{
  struct gc_params p = {
    .grace_s = RW + CB, .on_sweep = sweep_starts, .opaque = w,
  };
  struct gc_result res;
  bool swept;
  int r, missing;

  setup ();
  memset (a_vals, 0, sizeof a_vals);
  for (unsigned i = 0; i < 2048; i += 7)
    a_vals[i] = 1 + i % 50;
  put_root ("cas/roots/a", "a", CAS_ROOT_EXPORT, a_vals, 2048, 1,
            "0123456789abcdef0123456789abcdef");
  for (uint32_t c = 900; c < 920; c++) {
    struct cas_hash h;

    content (c, &h, true);
  }
  memstore_advance_clock (mem, 4 * 3600);
  put_lease ("a", 42);

  *w = (struct writer) {
    .every = every, .seed = seed, .broken = broken, .next_content = 100,
  };
  /* A few snapshots and clones before gc starts. */
  for (unsigned i = 0; i < 6; i++)
    writer_act (w);
  memstore_set_hook (mem, writer_hook, w);
  r = cas_gc (st, &p, &res, &swept);
  memstore_set_hook (mem, NULL, NULL);
  CU_ASSERT (r == 0);           /* swept, or refused or gave up */
  missing = all_referenced_present ();
  teardown ();
  return missing;
}

static void
test_gc_concurrent (void)
{
  unsigned runs = 0, actions = 0;
  const unsigned seeds = unit_rounds (40);
  const char *only = getenv ("S3BLOCKS_UNIT_SEED");

  for (unsigned seed = 1; seed <= seeds; seed++)
    for (unsigned every = 1; every <= 3; every++) {
      if (only && (unsigned) atoi (only) != seed * 10 + every)
        continue;
      struct writer w;

      int m = gc_under_writer (seed, every, false, &w);

      CU_ASSERT_EQUAL (m, 0);
      if (m && getenv ("S3BLOCKS_UNIT_VERBOSE"))
        fprintf (stderr, "seed %u every %u: %d missing\n", seed, every, m);
      runs++;
      actions += w.actions;
    }
  CU_ASSERT (only || actions > runs * 8);
  if (getenv ("S3BLOCKS_UNIT_VERBOSE"))
    fprintf (stderr, "gc under a writer: %u runs, %u actions\n", runs,
             actions);
}

/* The negative control: a writer that references old garbage without
 * PUTting it again is exactly what rule 1 (docs/gc-safety.md, step 4)
 * forbids, and gc deletes what it referenced.  If this stopped
 * failing, the test above would prove nothing.
 */
static void
test_gc_concurrent_control (void)
{
  unsigned lost = 0;
  const unsigned seeds = unit_rounds (40);

  for (unsigned seed = 1; seed <= seeds; seed++) {
    struct writer w;

    lost += gc_under_writer (seed, 1, true, &w) > 0;
  }
  if (getenv ("S3BLOCKS_UNIT_VERBOSE"))
    fprintf (stderr, "rule-1 breaker: lost objects in %u of %u runs\n", lost,
             seeds);
  CU_ASSERT (lost > 0);
}

/* The sweep fence (docs/gc-safety.md, step 9): a writer committing
 * while gc sweeps, one request per step of gc's (each batch gc
 * starts), as a server does it: a commit PUTs its content (new, or
 * old garbage again, or skips the PUT through its recent-PUT table),
 * then its pages, then LISTs gc's sweep markers until a LIST continues its
 * quiet run with nothing PUT before the run began (PUTting that again
 * first), then the root.  Content reused from old garbage, PUT while a
 * chunk had listed it and not yet deleted it, is what a sweep would
 * take.  skip_fence: the same writer without the LISTs (the negative
 * control: it must lose data, else the test proves nothing).
 */
enum fstage { F_IDLE, F_PAGES, F_FENCE, F_REPUT, F_ROOT };

struct fwriter {
  unsigned seed;
  bool skip_fence;
  enum fstage stage;
  struct cas_fence fence;
  uint64_t index;
  uint32_t val;                 /* 0: a hole */
  uint64_t put_ms, pages_ms;
  struct cas_hash top;
  bool empty;
  uint64_t blocks;
  struct { uint32_t val; uint64_t put_ms; } recent[64];
  size_t nrecent;
  uint32_t next_content;
  unsigned steps, commits, reputs, waits;
};

static uint64_t fw_now;         /* the writer's monotonic clock, ms */

static uint64_t
fw_clock (void)
{
  return fw_now;
}

static unsigned
frnd (struct fwriter *w)
{
  w->seed = w->seed * 1103515245 + 12345;
  return (w->seed >> 16) & 0x7fff;
}

static void
fw_pages (struct fwriter *w)
{
  build_stores_contents = false;
  build_tree (a_vals, 2048, 1, &w->top, &w->empty, &w->blocks);
  build_stores_contents = true;
  w->pages_ms = fw_now;
}

/* PUT content val now, as the server's upload. */
static void
fw_put (struct fwriter *w, uint32_t val)
{
  struct cas_hash h;
  size_t k;

  content (val, &h, true);
  w->put_ms = fw_now;
  for (k = 0; k < w->nrecent && w->recent[k].val != val; k++)
    ;
  if (k == w->nrecent && w->nrecent < 64)
    w->nrecent++;
  if (k < 64) {
    w->recent[k].val = val;
    w->recent[k].put_ms = fw_now;
  }
}

static void
fw_step (struct fwriter *w)
{
  w->steps++;
  fw_now++;                     /* each step is a later reading */
  switch (w->stage) {
  case F_IDLE: {
    unsigned kind = frnd (w) % 4;
    size_t k;

    w->index = frnd (w) % 2048;
    w->val = kind == 0 ? w->next_content++ : kind == 1 ? 0
      : 900 + frnd (w) % 20;    /* old garbage, half the time */
    a_vals[w->index] = w->val;
    if (w->val) {
      for (k = 0; k < w->nrecent && w->recent[k].val != w->val; k++)
        ;
      if (k < w->nrecent)
        w->put_ms = w->recent[k].put_ms;        /* the skip */
      else
        fw_put (w, w->val);
    }
    w->stage = F_PAGES;
    break;
  }
  case F_PAGES:
    fw_pages (w);
    w->stage = w->skip_fence ? F_ROOT : F_FENCE;
    break;
  case F_FENCE: {
    enum cas_fence_state state;
    uint64_t qs;
    bool old;

    CU_ASSERT_FATAL (cas_fence_list (&w->fence, st, fw_clock, "a", &state)
                     == 0);
    qs = w->fence.quiet_since;
    if (state == CAS_FENCE_BUSY) {
      w->waits++;
      break;                    /* LIST again at the next step */
    }
    if (state == CAS_FENCE_NEW_RUN) {
      size_t j = 0;

      for (size_t k = 0; k < w->nrecent; k++)
        if (w->recent[k].put_ms > qs)
          w->recent[j++] = w->recent[k];
      w->nrecent = j;
    }
    old = (w->val && w->put_ms <= qs) || w->pages_ms <= qs;
    if (old)
      w->stage = F_REPUT;
    else if (state == CAS_FENCE_CONTINUES)
      w->stage = F_ROOT;
    break;
  }
  case F_REPUT:
    if (w->val && w->put_ms <= w->fence.quiet_since) {
      fw_put (w, w->val);
      w->reputs++;
    }
    if (w->pages_ms <= w->fence.quiet_since)
      fw_pages (w);
    w->stage = F_FENCE;
    break;
  case F_ROOT: {
    struct cas_root r;
    char etag[STORE_ETAG_MAX];
    enum cas_root_put_outcome put;
    bool found;

    CU_ASSERT_FATAL (cas_root_read (st, "cas/roots/a", &r, etag, &found) == 0
                     && found);
    r.top = w->top;
    r.empty = w->empty;
    r.blocks = w->blocks;
    r.generation++;
    CU_ASSERT_FATAL (cas_root_write (st, "cas/roots/a", &r, STORE_IF_MATCH,
                                     etag, NULL, &put) == 0
                     && put == CAS_ROOT_PUT_WRITTEN);
    w->commits++;
    w->stage = F_IDLE;
    break;
  }
  }
}

static void
fw_hook (void *opaque)
{
  fw_step (opaque);
  memstore_set_hook (mem, fw_hook, opaque);
}

static void
fw_sweep_starts (void *opaque)
{
  memstore_set_hook (mem, fw_hook, opaque);
}

/* Old objects, some referenced, some garbage (contents 900..919), a
 * writer started (its open LISTed the markers), then gc, the writer
 * stepping at each of gc's batches during the sweep, then finishing
 * its commit.  Returns how many referenced objects are missing.
 */
static int
gc_under_fenced_writer (unsigned seed, bool skip_fence, struct fwriter *w)
{
  struct gc_params p = {
    .grace_s = RW + CB, .delete_batch = 2,
    .on_sweep = fw_sweep_starts, .opaque = w,
  };
  struct gc_result res;
  enum cas_fence_state state;
  bool swept;
  int r, missing;

  setup ();
  memset (a_vals, 0, sizeof a_vals);
  for (unsigned i = 0; i < 2048; i += 7)
    a_vals[i] = 1 + i % 50;
  put_root ("cas/roots/a", "a", CAS_ROOT_EXPORT, a_vals, 2048, 1,
            "0123456789abcdef0123456789abcdef");
  for (uint32_t c = 900; c < 920; c++) {
    struct cas_hash h;

    content (c, &h, true);
  }
  memstore_advance_clock (mem, 4 * 3600);
  put_lease ("a", 42);

  *w = (struct fwriter) {
    .seed = seed, .skip_fence = skip_fence, .next_content = 100,
  };
  fw_now = 1000;
  cas_fence_init (&w->fence, 10);
  CU_ASSERT_FATAL (cas_fence_list (&w->fence, st, fw_clock, "a", &state)
                   == 0 && state == CAS_FENCE_NEW_RUN);
  r = cas_gc (st, &p, &res, &swept);
  memstore_set_hook (mem, NULL, NULL);
  CU_ASSERT (r == 0 && swept);
  CU_ASSERT (res.chunks >= 2);
  /* The commit in flight ends (bounded: a few LISTs at most). */
  for (unsigned i = 0; i < 20 && w->stage != F_IDLE; i++)
    fw_step (w);
  CU_ASSERT (w->stage == F_IDLE);
  missing = all_referenced_present ();
  cas_fence_free (&w->fence);
  teardown ();
  return missing;
}

/* Writers committing while gc sweeps, content equal to old garbage
 * among what they write: through the fence nothing is lost; without
 * it, some runs lose objects a root references.
 */
static void
test_gc_sweep_fence (void)
{
  unsigned lost = 0, lost_unfenced = 0, commits = 0, reputs = 0, waits = 0;
  const unsigned seeds = unit_rounds (40);

  for (unsigned seed = 1; seed <= seeds; seed++) {
    struct fwriter w;

    lost += gc_under_fenced_writer (seed, false, &w) > 0;
    commits += w.commits;
    reputs += w.reputs;
    waits += w.waits;
    lost_unfenced += gc_under_fenced_writer (seed, true, &w) > 0;
  }
  if (getenv ("S3BLOCKS_UNIT_VERBOSE"))
    fprintf (stderr, "sweep fence: lost objects in %u of %u runs (%u "
             "commits, %u waits, %u contents PUT again); without the "
             "fence in %u of %u\n", lost, seeds, commits, waits, reputs,
             lost_unfenced, seeds);
  CU_ASSERT_EQUAL (lost, 0);
  CU_ASSERT (commits >= seeds);          /* one per run at least */
  CU_ASSERT (waits > 0);
  CU_ASSERT (reputs > 0);
  CU_ASSERT (lost_unfenced > 0);
}

/* ---- snapshot and clone ---- */

struct committer {
  unsigned times;               /* commits still to make */
  bool delete_source;
};

static void
commit_hook (void *opaque)
{
  struct committer *c = opaque;
  struct cas_root r;
  enum cas_root_put_outcome put;
  bool found;

  /* Only on the batch of the new root's PUT: after our first GET. */
  if (c->times == 0)
    return;
  c->times--;
  if (c->delete_source) {
    CU_ASSERT (store_delete (st, "cas/roots/a") == 0);
    return;
  }
  CU_ASSERT_FATAL (cas_root_read (st, "cas/roots/a", &r, NULL, &found) == 0
                   && found);
  r.generation++;
  r.committed++;
  CU_ASSERT_FATAL (cas_root_write (st, "cas/roots/a", &r, STORE_ALWAYS, NULL,
                                   NULL, &put) == 0
                   && put == CAS_ROOT_PUT_WRITTEN);
}

/* Arm the hook for the batch after the next one (the new root's PUT). */
struct arm {
  struct committer *c;
  unsigned skip;                /* batches before the next commit */
  unsigned reskip;              /* then between commits: a try's length */
};

static void
arm_hook (void *opaque)
{
  struct arm *a = opaque;

  if (a->skip > 0) {
    a->skip--;
    memstore_set_hook (mem, arm_hook, a);
    return;
  }
  commit_hook (a->c);
  if (a->c->times > 0) {
    a->skip = a->reskip;
    memstore_set_hook (mem, arm_hook, a);
  }
}

static void
test_copy_verify (void)
{
  uint32_t a[16] = { 1, 2, 3 };
  struct cas_copy c = {
    .src_key = "cas/roots/a", .src_name = "a", .dst_key = "cas/snaps/a/s",
    .dst_name = "a@s", .kind = CAS_ROOT_SNAPSHOT, .keep_generation = true,
  };
  struct committer cm = { .times = 1 };
  struct arm arm = { .c = &cm, .skip = 1 };
  struct cas_root r, src;
  bool found, made;

  setup ();
  put_root ("cas/roots/a", "a", CAS_ROOT_EXPORT, a, 16, 5, NULL);

  /* One commit during the copy: retried once, names the new version. */
  memstore_set_hook (mem, arm_hook, &arm);
  CU_ASSERT_EQUAL (cas_copy_root (st, &c, &made), 0);
  CU_ASSERT_TRUE (made);
  CU_ASSERT_EQUAL (c.tries, 2);
  CU_ASSERT_FATAL (cas_root_read (st, "cas/snaps/a/s", &r, NULL, &found) == 0
                   && found);
  CU_ASSERT_FATAL (cas_root_read (st, "cas/roots/a", &src, NULL, &found) == 0
                   && found);
  CU_ASSERT_EQUAL (r.generation, 6);
  CU_ASSERT_EQUAL (src.generation, 6);
  CU_ASSERT (r.kind == CAS_ROOT_SNAPSHOT);
  CU_ASSERT_STRING_EQUAL (r.name, "a@s");
  CU_ASSERT_STRING_EQUAL (r.parent, "a");
  CU_ASSERT (strcmp (r.incarnation, src.incarnation) != 0);
  CU_ASSERT (cas_hash_equal (&r.top, &src.top));

  /* The name is taken now. */
  standin_reset_errors ();
  CU_ASSERT_EQUAL (cas_copy_root (st, &c, &made), 0);
  CU_ASSERT_FALSE (made);
  CU_ASSERT (strstr (standin_last_error, "a@s: refused: it exists") != NULL);

  /* A source that commits during every try: nothing is left. */
  c.dst_key = "cas/roots/b";
  c.dst_name = "b";
  c.kind = CAS_ROOT_EXPORT;
  c.keep_generation = false;
  cm.times = CAS_COPY_TRIES;
  arm.skip = 1;
  arm.reskip = 3;               /* verify GET, DELETE, GET: then the PUT */
  memstore_set_hook (mem, arm_hook, &arm);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (cas_copy_root (st, &c, &made), 0);
  CU_ASSERT_FALSE (made);
  CU_ASSERT (strstr (standin_last_error, "changed during each of") != NULL);
  CU_ASSERT_EQUAL (memstore_count (mem, "cas/roots/b"), 0);

  /* Without conditional PUT: same, checking the absence first. */
  memstore_set_caps (mem, 0);
  cm.times = 1;
  arm.skip = 2;
  memstore_set_hook (mem, arm_hook, &arm);
  CU_ASSERT_EQUAL (cas_copy_root (st, &c, &made), 0);
  CU_ASSERT_TRUE (made);
  CU_ASSERT_EQUAL (c.tries, 2);
  CU_ASSERT_FATAL (cas_root_read (st, "cas/roots/b", &r, NULL, &found) == 0
                   && found);
  CU_ASSERT_EQUAL (r.generation, 0);
  CU_ASSERT_STRING_EQUAL (r.parent, "a");

  /* The source deleted during the copy. */
  c.dst_key = "cas/roots/d";
  c.dst_name = "d";
  cm.times = 1;
  cm.delete_source = true;
  arm.skip = 2;
  memstore_set_hook (mem, arm_hook, &arm);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (cas_copy_root (st, &c, &made), 0);
  CU_ASSERT_FALSE (made);
  CU_ASSERT (strstr (standin_last_error, "deleted during the copy") != NULL);
  CU_ASSERT_EQUAL (memstore_count (mem, "cas/roots/d"), 0);
  teardown ();
}

/* Requests of snapshot and clone, for a small and a large export. */
static uint64_t
verb_requests (uint64_t nblocks, int (*verb) (struct admin *, int, char **),
               const char *arg1, const char *arg2)
{
  uint32_t *vals = calloc (nblocks, sizeof *vals);
  struct admin a = { .grace_s = -1 };
  char *argv[2] = { (char *) arg1, (char *) arg2 };
  uint64_t n;
  bool created;

  setup ();
  a.store = st;
  for (uint64_t i = 0; i < nblocks; i++)
    vals[i] = 1 + i % 300;
  put_root ("cas/roots/a", "a", CAS_ROOT_EXPORT, vals, nblocks, 1, NULL);
  CU_ASSERT_FATAL (cas_meta_write (st, "a", nblocks * BS, BS, &created) == 0
                   && created);
  memstore_reset_counts (mem);
  CU_ASSERT_EQUAL (verb (&a, 2, argv), EXIT_CLEAN);
  n = memstore_requests (mem);
  CU_ASSERT_EQUAL (memstore_count (mem, CAS_PAGES_PREFIX),
                   nblocks > CAS_FANOUT ? 3 : 1);
  teardown ();
  free (vals);
  return n;
}

static void
test_copy_requests (void)
{
  uint64_t s1 = verb_requests (10, verb_snapshot, "a", "s");
  uint64_t s2 = verb_requests (2048, verb_snapshot, "a", "s");
  uint64_t c1 = verb_requests (10, verb_clone, "a", "b");
  uint64_t c2 = verb_requests (2048, verb_clone, "a", "b");

  /* snapshot: export info (meta, root, lease GETs), GET source, PUT
   * snapshot, GET source.  clone: also NEW's info (meta GET, LIST of
   * its blocks, root GET) and NEW's metadata PUT.
   */
  CU_ASSERT_EQUAL (s1, 6);
  CU_ASSERT_EQUAL (s2, s1);
  CU_ASSERT_EQUAL (c1, 10);
  CU_ASSERT_EQUAL (c2, c1);
}

/* ---- du ---- */

/* A page at LEVEL whose first n slots all name the same child: a tree
 * whose paths multiply by n at each level while its distinct pages do
 * not (the fuzzed tree of issue 15, item 12).
 */
static void
put_repeating_page (unsigned level, unsigned n, const struct cas_hash *child,
                    struct cas_hash *out)
{
  static uint8_t buf[CAS_PAGE_MAX];
  struct cas_page_entry *e = calloc (n, sizeof *e);
  struct cas_page p = { .level = level, .count = n, .entries = e };
  char key[KEY_MAX];
  size_t len;

  CU_ASSERT_FATAL (e != NULL);
  for (unsigned i = 0; i < n; i++) {
    e[i].slot = i;
    e[i].hash = *child;
  }
  len = cas_page_encode (&p, buf);
  cas_hash_of (buf, len, out);
  cas_page_key (key, sizeof key, out);
  memstore_set (mem, key, buf, len);
  free (e);
}

/* GETs of du over one depth-3 root whose pages repeat n ways. */
static uint64_t
du_gets (unsigned n)
{
  const uint64_t nblocks = (uint64_t) CAS_FANOUT * CAS_FANOUT * CAS_FANOUT * 2;
  struct cas_root r = {
    .kind = CAS_ROOT_EXPORT, .size = nblocks * BS, .block_size = BS,
    .depth = 3, .generation = 1, .created = 1, .committed = 2,
    .reuse_window_s = RW, .commit_bound_s = CB,
    .blocks = 2 * (uint64_t) n * n * n,
  };
  struct admin a = { .grace_s = -1 };
  struct cas_hash leaf_content, h0, h1, h2;
  enum cas_root_put_outcome put;
  uint64_t gets;

  setup ();
  a.store = st;
  CU_ASSERT_FATAL (cas_depth_for (CAS_LEAF_HASH, nblocks) == 3);
  content (1, &leaf_content, true);
  put_repeating_page (0, n, &leaf_content, &h0);
  put_repeating_page (1, n, &h0, &h1);
  put_repeating_page (2, n, &h1, &h2);
  put_repeating_page (3, 2, &h2, &r.top);   /* the top covers two slots */
  snprintf (r.name, sizeof r.name, "a");
  CU_ASSERT_FATAL (cas_new_incarnation (r.incarnation) == 0);
  CU_ASSERT_FATAL (cas_root_write (st, "cas/roots/a", &r, STORE_ALWAYS,
                                   NULL, NULL, &put) == 0
                   && put == CAS_ROOT_PUT_WRITTEN);
  memstore_reset_counts (mem);
  CU_ASSERT_EQUAL (cas_du (&a, NULL, 0), EXIT_CLEAN);
  gets = memstore_counts (mem).gets;
  teardown ();
  return gets;
}

/* du reads each distinct page once: its GETs do not grow with the
 * paths through shared pages (2 * 16^3 = 8,192 leaf paths against 2).
 */
static void
test_du_distinct_pages (void)
{
  const uint64_t few = du_gets (1), many = du_gets (16);

  /* The root, then four distinct pages. */
  CU_ASSERT_EQUAL (few, 5);
  CU_ASSERT_EQUAL (many, few);
}

/* targets.c, the dispatch of du and check: what the verb's plain
 * part (one) and its cas part (cas) are given, and the status.
 */
static char targets_seen[256];
static const char *targets_damaged = "", *targets_failing = "";
static int targets_cas_calls, targets_cas_n, targets_cas_status;
static char targets_cas_names[256];

static int
targets_one (struct admin *a, const struct export_info *info, void *opaque,
             bool *damaged)
{
  (void) a; (void) opaque;
  strcat (targets_seen, info->name);
  strcat (targets_seen, " ");
  *damaged = strcmp (info->name, targets_damaged) == 0;
  if (strcmp (info->name, targets_failing) == 0) {
    nbdkit_error ("%s: failing", info->name);
    errno = EIO;
    return -1;
  }
  return 0;
}

static int
targets_cas (struct admin *a, char **names, int n)
{
  (void) a;
  targets_cas_calls++;
  targets_cas_n = n;
  targets_cas_names[0] = '\0';
  for (int i = 0; names && i < n; i++) {
    strcat (targets_cas_names, names[i]);
    strcat (targets_cas_names, " ");
  }
  if (names == NULL)
    strcpy (targets_cas_names, "(all)");
  return targets_cas_status;
}

/* plain_targets then cas_targets over the names given (argc > 0) or
 * listed (argc 0); returns the status, and what each part saw.
 */
static int
run_targets (struct admin *a, int argc, const char *const *names, int n)
{
  struct name_list ns = VECTOR_INIT, cas_ns;
  int status;

  for (int i = 0; i < n; i++)
    CU_ASSERT_FATAL (name_list_append (&ns, strdup (names[i])) == 0);
  targets_seen[0] = targets_cas_names[0] = '\0';
  targets_cas_calls = targets_cas_n = 0;
  status = plain_targets (a, argc, &ns, &cas_ns, targets_one, NULL);
  status = cas_targets (a, argc, &cas_ns, status, targets_cas);
  free_names (&ns);
  free_names (&cas_ns);
  return status;
}

static void
test_targets (void)
{
  static const char plain[] =
    "s3blocks-export 1\nsize 4096\nblock-size 4096\n";
  static const uint32_t vals[2] = { 1, 2 };
  struct admin a = { .grace_s = -1 };
  char key[KEY_MAX];

  setup ();
  a.store = st;
  memstore_set (mem, "exports/p1", plain, strlen (plain));
  memstore_set (mem, "exports/p2", plain, strlen (plain));
  put_root ("cas/roots/c", "c", CAS_ROOT_EXPORT, vals, 2, 1, NULL);
  targets_damaged = targets_failing = "";
  targets_cas_status = EXIT_CLEAN;

  /* Every export (argc 0): plain ones to one, cas ones to cas, which
   * is asked for all of them; a name gone since the listing is passed
   * over.
   */
  {
    const char *names[] = { "c", "gone", "p1", "p2" };

    CU_ASSERT_EQUAL (run_targets (&a, 0, names, 4), EXIT_CLEAN);
    CU_ASSERT_STRING_EQUAL (targets_seen, "p1 p2 ");
    CU_ASSERT_EQUAL (targets_cas_calls, 1);
    CU_ASSERT_STRING_EQUAL (targets_cas_names, "(all)");
    CU_ASSERT_EQUAL (targets_cas_n, 0);
  }
  /* Named: a snapshot goes to the cas part unread, with the cas
   * export; the worse status wins.
   */
  {
    const char *names[] = { "c@snap", "p1", "c" };

    targets_cas_status = EXIT_DAMAGE;
    CU_ASSERT_EQUAL (run_targets (&a, 3, names, 3), EXIT_DAMAGE);
    CU_ASSERT_STRING_EQUAL (targets_seen, "p1 ");
    CU_ASSERT_STRING_EQUAL (targets_cas_names, "c@snap c ");
    CU_ASSERT_EQUAL (targets_cas_n, 2);
    targets_cas_status = EXIT_CLEAN;
  }
  /* Named, none of them cas: no cas part.  Damage found by one. */
  {
    const char *names[] = { "p1", "p2" };

    targets_damaged = "p1";
    CU_ASSERT_EQUAL (run_targets (&a, 2, names, 2), EXIT_DAMAGE);
    CU_ASSERT_STRING_EQUAL (targets_seen, "p1 p2 ");
    CU_ASSERT_EQUAL (targets_cas_calls, 0);
    targets_damaged = "";
  }
  /* A name given that does not exist: said, the others still run,
   * then no cas part.
   */
  {
    const char *names[] = { "nope", "p1", "c" };

    standin_reset_errors ();
    CU_ASSERT_EQUAL (run_targets (&a, 3, names, 3), EXIT_USAGE);
    CU_ASSERT (strstr (standin_last_error, "nope: no such export") != NULL);
    CU_ASSERT_STRING_EQUAL (targets_seen, "p1 ");
    CU_ASSERT_EQUAL (targets_cas_calls, 0);
  }
  /* one fails: it stops there. */
  {
    const char *names[] = { "p1", "p2", "c" };

    targets_failing = "p1";
    CU_ASSERT_EQUAL (run_targets (&a, 0, names, 3), EXIT_USAGE);
    CU_ASSERT_STRING_EQUAL (targets_seen, "p1 ");
    CU_ASSERT_EQUAL (targets_cas_calls, 0);
    targets_failing = "";
  }

  /* The verbs: check says an export with blocks but no metadata is
   * damage; du lists it.
   */
  {
    char *argv[] = { (char *) "old" };

    CU_ASSERT_FATAL (block_key (key, sizeof key, "old", 0) > 0);
    memstore_set (mem, key, "x", 1);
    CU_ASSERT_EQUAL (verb_check (&a, 1, argv), EXIT_DAMAGE);
    CU_ASSERT_EQUAL (verb_du (&a, 1, argv), EXIT_CLEAN);
  }
  teardown ();
}

UNIT_SUITES (add_cas_admin_tests)
{
  CU_pSuite s = CU_add_suite ("cas admin", NULL, NULL);

  CU_add_test (s, "gc deletes old unreferenced only", test_gc_basic);
  CU_add_test (s, "gc refusals", test_gc_refusals);
  CU_add_test (s, "gc with roots changing under it", test_gc_concurrent);
  CU_add_test (s, "gc: a writer breaking rule 1 is caught",
               test_gc_concurrent_control);
  CU_add_test (s, "gc: the sweep fence: no loss, and loss without it",
               test_gc_sweep_fence);
  CU_add_test (s, "snapshot/clone verify step", test_copy_verify);
  CU_add_test (s, "snapshot/clone request counts", test_copy_requests);
  CU_add_test (s, "du reads each distinct page once", test_du_distinct_pages);
  CU_add_test (s, "du and check: the targets of each part", test_targets);
}
