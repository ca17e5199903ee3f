/* s3blocks: the object-store interface.
 *
 * The block logic (volume.c and friends) talks to storage only through
 * this interface.  Objects are read and written whole: one block is
 * one object, and the small metadata and lease objects are objects too.
 * s3store.c implements it over libs3; the unit tests implement it in
 * memory, with fault injection.
 *
 * Every method is safe to call from several threads at once.  Errors
 * are reported as positive errno values; methods that fail have
 * already logged a message naming the key and the cause with
 * nbdkit_error, except for ENOENT on a GET, which is an answer (the
 * object does not exist), not a failure.
 */

#ifndef S3BLOCKS_STORE_H
#define S3BLOCKS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"

enum store_op_kind {
  STORE_GET,
  STORE_PUT,
  STORE_DELETE,
};

/* One request of a batch. */
struct store_op {
  enum store_op_kind kind;
  char key[KEY_MAX];

  /* GET: where the object goes, and its capacity in bytes.  An object
   * longer than len is an error (EIO), never a buffer overrun.
   * PUT: the data to store.  DELETE: unused.
   */
  void *buf;
  size_t len;

  /* Results.  err: 0, ENOENT (GET: no such object; DELETE never
   * reports it), or the errno of a failure after retries.
   * got: GET: bytes received.
   */
  int err;
  size_t got;

  /* The caller's, untouched by the store. */
  void *opaque;
};

/* One object of a listing.  A common prefix (listing with a delimiter)
 * has is_prefix set and size 0.
 */
struct store_entry {
  const char *key;
  uint64_t size;
  int is_prefix;
};

/* Return 0 to continue, -1 to stop the listing (the list call then
 * returns -1 with errno from the callback).
 */
typedef int (*store_list_cb) (void *opaque, const struct store_entry *entry);

struct store;

struct store_ops {
  /* Run the n ops concurrently, up to the store's own bound in flight,
   * and set each op's err and got.  Two ops on the same key in one
   * batch have no defined order: callers never do that.
   * Returns the number of ops that failed (ENOENT excluded).
   */
  size_t (*run) (struct store *s, struct store_op *ops, size_t n);

  /* List keys starting with prefix, in key order, after start_after
   * (NULL: from the start).  With a delimiter, keys sharing the part up
   * to the delimiter are reported once as a prefix.
   * Returns 0, or -1 with errno set.
   */
  int (*list) (struct store *s, const char *prefix, const char *delimiter,
               const char *start_after, store_list_cb cb, void *opaque);

  void (*close) (struct store *s);
};

struct store {
  const struct store_ops *ops;
};

static inline size_t
store_run (struct store *s, struct store_op *ops, size_t n)
{
  return s->ops->run (s, ops, n);
}

static inline int
store_list (struct store *s, const char *prefix, const char *delimiter,
            const char *start_after, store_list_cb cb, void *opaque)
{
  return s->ops->list (s, prefix, delimiter, start_after, cb, opaque);
}

static inline void
store_close (struct store *s)
{
  if (s)
    s->ops->close (s);
}

/* One synchronous request: returns 0 or the op's errno (ENOENT too). */
extern int store_get (struct store *s, const char *key,
                      void *buf, size_t len, size_t *got);
extern int store_put (struct store *s, const char *key,
                      const void *buf, size_t len);
extern int store_delete (struct store *s, const char *key);

#endif /* S3BLOCKS_STORE_H */
