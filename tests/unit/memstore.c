/* s3blocks unit tests: the store interface in memory, with faults.
 *
 * Objects are kept in an array sorted by key, so listing is in key
 * order as in S3.  A mutex makes it safe for the threaded tests.
 */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "memstore.h"

struct object {
  char *key;
  char *data;
  size_t len;
};

struct memstore {
  struct store base;
  pthread_mutex_t lock;
  struct object *objects;
  size_t nr, cap;
  struct memstore_counts counts;
  int fail_n[3], fail_err[3];
  int fail_list;
  void (*hook) (void *opaque);
  void *hook_opaque;
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
  m->nr++;
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

static size_t
mem_run (struct store *base, struct store_op *ops, size_t n)
{
  struct memstore *m = (struct memstore *) base;
  size_t i, failures = 0;
  void (*hook) (void *) = m->hook;

  /* Runs like a request in flight: the caller's locks are released. */
  if (hook) {
    m->hook = NULL;
    hook (m->hook_opaque);
  }

  pthread_mutex_lock (&m->lock);
  for (i = 0; i < n; i++) {
    struct store_op *op = &ops[i];
    int found, err = injected (m, op->kind);
    size_t j;

    op->got = 0;
    op->err = err;
    if (err) {
      failures++;
      continue;
    }
    switch (op->kind) {
    case STORE_GET:
      m->counts.gets++;
      j = find (m, op->key, &found);
      if (!found)
        op->err = ENOENT;
      else if (m->objects[j].len > op->len) {
        op->err = EIO;
        failures++;
      }
      else {
        memcpy (op->buf, m->objects[j].data, m->objects[j].len);
        op->got = m->objects[j].len;
      }
      break;
    case STORE_PUT:
      m->counts.puts++;
      set_locked (m, op->key, op->buf, op->len);
      break;
    case STORE_DELETE:
      m->counts.deletes++;
      delete_locked (m, op->key);
      break;
    }
  }
  pthread_mutex_unlock (&m->lock);
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
  if (m->fail_list) {
    errno = m->fail_list;
    pthread_mutex_unlock (&m->lock);
    return -1;
  }
  for (i = 0; i < m->nr && r == 0; i++) {
    const struct object *o = &m->objects[i];
    struct store_entry e = { .key = o->key, .size = o->len };
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
        e.is_prefix = 1;
      }
    }
    r = cb (opaque, &e);
  }
  pthread_mutex_unlock (&m->lock);
  return r;
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

static const struct store_ops mem_ops = {
  .run = mem_run, .list = mem_list, .close = mem_close,
};

struct memstore *
memstore_new (void)
{
  struct memstore *m = calloc (1, sizeof *m);

  if (m == NULL)
    abort ();
  m->base.ops = &mem_ops;
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
    memcpy (buf, m->objects[i].data, (size_t) len < size ? (size_t) len : size);
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
