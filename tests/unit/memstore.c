/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the store interface in memory, with faults.
 *
 * Objects are kept in an array sorted by key, so listing is in key
 * order as in S3.  A mutex makes it safe for the threaded tests.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "memstore.h"
#include "store/range.h"
#include "store/sink.h"

struct object {
  char *key;
  char *data;
  size_t len;
  uint64_t version;             /* its ETag, in hex */
  int64_t mtime;                /* Last-Modified, by the clock */
};

struct memstore {
  struct store base;
  pthread_mutex_t lock;
  struct object *objects;
  size_t nr, cap;
  struct memstore_counts counts;
  int fail_n[3], fail_err[3];
  int fail_list;
  uint64_t next_version;
  /* Requests still allowed before the simulated crash (-1: no crash). */
  int64_t crash_budget;
  /* Requests before the one that fails once with fail_at_err (-1: none). */
  int64_t fail_at;
  int fail_at_err;
  /* Requests before the one done whose answer is lost (-1: none). */
  int64_t lose_at;
  int lose_at_err;
  void (*hook) (void *opaque);
  void *hook_opaque;
  int64_t clock;
};

static size_t
find (const struct memstore *m, const char *key, int *found)
{
  size_t lo = 0, hi = m->nr;

  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp (m->objects[mid].key, key);
    if (c == 0) {
      *found = 1;
      return mid;
    }
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  *found = 0;
  return lo;
}

static void
set_locked (struct memstore *m, const char *key, const void *data, size_t len)
{
  int found;
  size_t i = find (m, key, &found);
  char *copy = malloc (len ? len : 1);

  if (copy == NULL)
    abort ();
  memcpy (copy, data, len);
  if (found) {
    free (m->objects[i].data);
    m->objects[i].data = copy;
    m->objects[i].len = len;
    m->objects[i].version = ++m->next_version;
    m->objects[i].mtime = m->clock;
    return;
  }
  if (m->nr == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 64;
    m->objects = realloc (m->objects, m->cap * sizeof *m->objects);
    if (m->objects == NULL)
      abort ();
  }
  memmove (&m->objects[i + 1], &m->objects[i],
           (m->nr - i) * sizeof *m->objects);
  m->objects[i].key = strdup (key);
  m->objects[i].data = copy;
  m->objects[i].len = len;
  m->objects[i].version = ++m->next_version;
  m->objects[i].mtime = m->clock;
  m->nr++;
}

static void
etag_of (const struct object *o, char *etag)
{
  snprintf (etag, STORE_ETAG_MAX, "%016" PRIx64, o->version);
}

/* One request spent from the crash budget: false once the simulated
 * server is gone.
 */
static bool
alive_locked (struct memstore *m)
{
  if (m->fail_at == 0) {
    m->fail_at = -1;
    return false;
  }
  if (m->fail_at > 0)
    m->fail_at--;
  if (m->crash_budget < 0)
    return true;
  if (m->crash_budget == 0)
    return false;
  m->crash_budget--;
  return true;
}

static void
delete_locked (struct memstore *m, const char *key)
{
  int found;
  size_t i = find (m, key, &found);

  if (!found)
    return;
  free (m->objects[i].key);
  free (m->objects[i].data);
  memmove (&m->objects[i], &m->objects[i + 1],
           (m->nr - i - 1) * sizeof *m->objects);
  m->nr--;
}

static int
injected (struct memstore *m, enum store_op_kind kind)
{
  if (m->fail_n[kind] == 0)
    return 0;
  if (m->fail_n[kind] > 0)
    m->fail_n[kind]--;
  return m->fail_err[kind];
}

/* A PUT's condition against what is stored: 0 or the answer. */
static int
condition_fails (struct memstore *m, const struct store_op *op)
{
  int found;
  size_t j = find (m, op->key, &found);
  char etag[STORE_ETAG_MAX];

  switch (op->condition) {
  case STORE_ALWAYS:
    return 0;
  case STORE_CREATE_ONLY:
    return found ? EEXIST : 0;
  case STORE_IF_MATCH:
    if (!found)
      return ENOENT;
    etag_of (&m->objects[j], etag);
    return strcmp (etag, op->if_match) == 0 ? 0 : ESTALE;
  }
  return EINVAL;
}

/* A GET's answer into its buffer or scatter list. */
static void
put_body (struct store_op *op, const void *data, size_t n)
{
  struct store_sink k = store_sink_of (op);

  store_sink_copy (&k, 0, data, n);
}

/* A ranged GET of what is stored, as an S3 server answers it. */
static void
get_range_locked (struct memstore *m, struct store_op *op, size_t *failures)
{
  int found;
  size_t j = find (m, op->key, &found), n;
  const struct object *o;

  m->counts.range_gets++;
  m->counts.range_bytes += op->range_len;
  if (!found) {
    op->err = ENOENT;
    return;
  }
  o = &m->objects[j];
  if (op->range_offset >= o->len) {      /* HTTP 416 */
    store_range_log_past_end (op->key, op->range_offset, op->range_len,
                              (int64_t) o->len, "memstore");
    op->err = EIO;
    (*failures)++;
    return;
  }
  n = o->len - op->range_offset < op->range_len
    ? o->len - op->range_offset : op->range_len;
  put_body (op, o->data + op->range_offset, n);
  op->got = n;
  etag_of (o, op->etag);
}

static void run_one_done_locked (struct memstore *m, struct store_op *op,
                                 size_t *failures);

/* Count the request for memstore_lose_answer_at: true if its answer
 * is to be lost.
 */
static bool
answer_lost_locked (struct memstore *m)
{
  if (m->lose_at == 0) {
    m->lose_at = -1;
    return true;
  }
  if (m->lose_at > 0)
    m->lose_at--;
  return false;
}

static void
run_one_locked (struct memstore *m, struct store_op *op, size_t *failures)
{
  const bool lost = answer_lost_locked (m);

  run_one_done_locked (m, op, failures);
  if (lost && op->err == 0) {
    op->err = m->lose_at_err;
    (*failures)++;
  }
}

static void
run_one_done_locked (struct memstore *m, struct store_op *op,
                     size_t *failures)
{
  int found, err;
  size_t j;

  if (!alive_locked (m)) {
    op->err = m->fail_at_err && m->crash_budget != 0 ? m->fail_at_err : EIO;
    (*failures)++;
    return;
  }
  err = injected (m, op->kind);
  if (err) {
    op->err = err;
    (*failures)++;
    return;
  }
  if (store_op_is_ranged (op)) {
    get_range_locked (m, op, failures);
    return;
  }
  switch (op->kind) {
  case STORE_GET:
    m->counts.gets++;
    j = find (m, op->key, &found);
    if (!found)
      op->err = ENOENT;
    else if (m->objects[j].len > op->len) {
      op->err = EIO;
      (*failures)++;
    }
    else {
      put_body (op, m->objects[j].data, m->objects[j].len);
      op->got = m->objects[j].len;
      etag_of (&m->objects[j], op->etag);
    }
    break;
  case STORE_PUT:
    m->counts.puts++;
    if (op->condition != STORE_ALWAYS &&
        !(m->base.caps & STORE_CAP_CONDITIONAL_PUT)) {
      op->err = ENOTSUP;
      (*failures)++;
      break;
    }
    op->err = condition_fails (m, op);
    if (op->err)
      break;
    set_locked (m, op->key, op->buf, op->len);
    etag_of (&m->objects[find (m, op->key, &found)], op->etag);
    break;
  case STORE_DELETE:
    m->counts.deletes++;
    delete_locked (m, op->key);
    break;
  }
}

static size_t
mem_run (struct store *base, struct store_op *ops, size_t n)
{
  struct memstore *m = (struct memstore *) base;
  size_t i, failures = 0;
  void (*hook) (void *) = m->hook;

  pthread_mutex_lock (&m->lock);
  m->counts.runs++;
  pthread_mutex_unlock (&m->lock);

  /* Runs like a request in flight: the caller's locks are released. */
  if (hook) {
    m->hook = NULL;
    hook (m->hook_opaque);
  }

  for (i = 0; i < n; i++) {
    struct store_op *op = &ops[i];

    op->got = 0;
    op->err = 0;
    op->etag[0] = '\0';
    /* A bad range or scatter list never becomes a request. */
    if ((op->err = store_op_check (op)) != 0) {
      failures++;
      continue;
    }
    /* The gate runs with no lock held, as in a real store. */
    if (op->gate && op->kind != STORE_GET) {
      int err = op->gate->check (op->gate->opaque);
      if (err) {
        op->err = err;
        op->gate_refused = true;
        store_gate_refused (op->gate);
        failures++;
        continue;
      }
    }
    op->attempts = 1;
    pthread_mutex_lock (&m->lock);
    run_one_locked (m, op, &failures);
    pthread_mutex_unlock (&m->lock);
  }
  return failures;
}

static int
mem_list (struct store *base, const char *prefix, const char *delimiter,
          const char *start_after, store_list_cb cb, void *opaque)
{
  struct memstore *m = (struct memstore *) base;
  const size_t prefix_len = strlen (prefix);
  char last_prefix[1024] = "";
  size_t i;
  int r = 0;

  pthread_mutex_lock (&m->lock);
  m->counts.lists++;
  if (m->fail_list || !alive_locked (m)) {
    errno = m->fail_list ? m->fail_list
      : m->fail_at_err && m->crash_budget != 0 ? m->fail_at_err : EIO;
    pthread_mutex_unlock (&m->lock);
    return -1;
  }
  for (i = 0; i < m->nr && r == 0; i++) {
    const struct object *o = &m->objects[i];
    struct store_entry e = { .key = o->key, .size = o->len,
                             .mtime = o->mtime };
    char common[1024];

    if (strncmp (o->key, prefix, prefix_len) != 0)
      continue;
    if (start_after && strcmp (o->key, start_after) <= 0)
      continue;
    if (delimiter) {
      const char *d = strstr (o->key + prefix_len, delimiter);
      if (d) {
        size_t len = d - o->key + strlen (delimiter);
        if (len >= sizeof common)
          continue;
        memcpy (common, o->key, len);
        common[len] = '\0';
        if (strcmp (common, last_prefix) == 0)
          continue;
        strcpy (last_prefix, common);
        e.key = common;
        e.size = 0;
        e.mtime = 0;
        e.is_prefix = 1;
      }
    }
    r = cb (opaque, &e);
  }
  pthread_mutex_unlock (&m->lock);
  return r == 1 ? 0 : r;
}

static void
mem_close (struct store *base)
{
  struct memstore *m = (struct memstore *) base;
  size_t i;

  for (i = 0; i < m->nr; i++) {
    free (m->objects[i].key);
    free (m->objects[i].data);
  }
  free (m->objects);
  pthread_mutex_destroy (&m->lock);
  free (m);
}

static int
mem_start (struct store *base)
{
  return 0;
}

static void
mem_stop (struct store *base)
{
}

static int
mem_check (struct store *base, const char *probe_key)
{
  return 0;
}

static const struct store_ops mem_ops = {
  .start = mem_start, .stop = mem_stop, .check = mem_check,
  .run = mem_run, .list = mem_list, .close = mem_close,
};

struct memstore *
memstore_new (void)
{
  struct memstore *m = calloc (1, sizeof *m);

  if (m == NULL)
    abort ();
  m->base.ops = &mem_ops;
  m->base.caps = STORE_CAP_CONDITIONAL_PUT;
  m->crash_budget = -1;
  m->fail_at = -1;
  m->lose_at = -1;
  m->clock = MEMSTORE_EPOCH;
  pthread_mutex_init (&m->lock, NULL);
  return m;
}

struct store *
memstore_store (struct memstore *m)
{
  return &m->base;
}

void
memstore_set (struct memstore *m, const char *key, const void *data,
              size_t len)
{
  pthread_mutex_lock (&m->lock);
  set_locked (m, key, data, len);
  pthread_mutex_unlock (&m->lock);
}

long
memstore_peek (struct memstore *m, const char *key, void *buf, size_t size)
{
  int found;
  size_t i;
  long len = -1;

  pthread_mutex_lock (&m->lock);
  i = find (m, key, &found);
  if (found) {
    len = m->objects[i].len;
    if (size > 0)                 /* buf may be NULL: just the length */
      memcpy (buf, m->objects[i].data,
              (size_t) len < size ? (size_t) len : size);
  }
  pthread_mutex_unlock (&m->lock);
  return len;
}

size_t
memstore_count (struct memstore *m, const char *prefix)
{
  size_t i, n = 0;

  pthread_mutex_lock (&m->lock);
  for (i = 0; i < m->nr; i++)
    if (strncmp (m->objects[i].key, prefix, strlen (prefix)) == 0)
      n++;
  pthread_mutex_unlock (&m->lock);
  return n;
}

bool
memstore_last_key (struct memstore *m, const char *prefix, char *key,
                   size_t size)
{
  const char *last = NULL;

  pthread_mutex_lock (&m->lock);
  for (size_t i = 0; i < m->nr; i++)   /* kept in key order */
    if (strncmp (m->objects[i].key, prefix, strlen (prefix)) == 0)
      last = m->objects[i].key;
  if (last)
    snprintf (key, size, "%s", last);
  pthread_mutex_unlock (&m->lock);
  return last != NULL;
}

struct memstore_counts
memstore_counts (struct memstore *m)
{
  struct memstore_counts c;

  pthread_mutex_lock (&m->lock);
  c = m->counts;
  pthread_mutex_unlock (&m->lock);
  return c;
}

void
memstore_reset_counts (struct memstore *m)
{
  pthread_mutex_lock (&m->lock);
  memset (&m->counts, 0, sizeof m->counts);
  pthread_mutex_unlock (&m->lock);
}

void
memstore_fail (struct memstore *m, enum store_op_kind kind, int n, int err)
{
  pthread_mutex_lock (&m->lock);
  m->fail_n[kind] = n;
  m->fail_err[kind] = err;
  pthread_mutex_unlock (&m->lock);
}

void
memstore_fail_list (struct memstore *m, int err)
{
  pthread_mutex_lock (&m->lock);
  m->fail_list = err;
  pthread_mutex_unlock (&m->lock);
}

void
memstore_set_hook (struct memstore *m, void (*hook) (void *opaque),
                   void *opaque)
{
  m->hook = hook;
  m->hook_opaque = opaque;
}

void
memstore_set_caps (struct memstore *m, unsigned caps)
{
  m->base.caps = caps;
}

void
memstore_crash_after (struct memstore *m, int64_t requests)
{
  pthread_mutex_lock (&m->lock);
  m->crash_budget = requests;
  pthread_mutex_unlock (&m->lock);
}

void
memstore_fail_at (struct memstore *m, int64_t requests, int err)
{
  pthread_mutex_lock (&m->lock);
  m->fail_at = requests;
  m->fail_at_err = err;
  pthread_mutex_unlock (&m->lock);
}

void
memstore_lose_answer_at (struct memstore *m, int64_t requests, int err)
{
  pthread_mutex_lock (&m->lock);
  m->lose_at = requests;
  m->lose_at_err = err;
  pthread_mutex_unlock (&m->lock);
}

uint64_t
memstore_requests (struct memstore *m)
{
  struct memstore_counts c = memstore_counts (m);

  return c.gets + c.puts + c.deletes + c.lists + c.range_gets;
}

void
memstore_set_clock (struct memstore *m, int64_t now)
{
  pthread_mutex_lock (&m->lock);
  m->clock = now;
  pthread_mutex_unlock (&m->lock);
}

int64_t
memstore_clock (struct memstore *m)
{
  int64_t now;

  pthread_mutex_lock (&m->lock);
  now = m->clock;
  pthread_mutex_unlock (&m->lock);
  return now;
}

void
memstore_advance_clock (struct memstore *m, int64_t seconds)
{
  pthread_mutex_lock (&m->lock);
  m->clock += seconds;
  pthread_mutex_unlock (&m->lock);
}

int
memstore_set_mtime (struct memstore *m, const char *key, int64_t mtime)
{
  int found;
  size_t i;

  pthread_mutex_lock (&m->lock);
  i = find (m, key, &found);
  if (found)
    m->objects[i].mtime = mtime;
  pthread_mutex_unlock (&m->lock);
  return found ? 0 : -1;
}
