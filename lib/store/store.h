/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the object-store contract.
 *
 * Everything above this seam (the block layer, exports, leases) talks
 * to object storage only through it.  A store is made from a store
 * type (one per client library: libs3 for Signature V2, libcurl for V4) and is
 * used in this order:
 *
 *   type->global_init ()          once per process, from .load
 *   type->validate (params)       config time: endpoint syntax, bucket
 *                                 name rules; no request
 *   s = type->open (params)       no request, no thread
 *   s->ops->start (s)             threads; nbdkit forks after
 *                                 .get_ready, so start/stop run around
 *                                 .get_ready's work and start again in
 *                                 .after_fork
 *   s->ops->check (s, probe)      endpoint answers, credentials work,
 *                                 bucket exists (created if missing)
 *   run, list ...                 any number of threads at once
 *   s->ops->stop (s)              waits for requests in flight
 *   s->ops->close (s)             frees; stops first if still started
 *   type->global_cleanup ()       from .unload
 *
 * Objects are written whole and read whole or by range (a ranged GET,
 * below).  Errors are positive errno values; a method that fails has
 * already logged a message naming the key and the cause with
 * nbdkit_error, except for the answers listed below, which are not
 * failures:
 *   ENOENT   GET: no such object; PUT if_match: no such object
 *   EEXIST   PUT create_only: the object exists (HTTP 412)
 *   ESTALE   PUT if_match: the object's ETag differs (HTTP 412)
 * A gate (below) refusing an attempt fails the op with the gate's
 * errno, unlogged: the gate's owner explains it.
 *
 * Retries: transient failures (connection, timeout, 5xx, SlowDown) are
 * retried inside run and list with backoff; what comes out is final.
 *
 * Ranged GETs (Range: bytes=), so that a layout packing many blocks in
 * one object reads one block, not the object.  A GET with range_len > 0
 * asks for the bytes [range_offset, range_offset + range_len):
 *   - range_len <= len, else the op fails with EINVAL, logged, and no
 *     request is sent; so does a range whose end passes 2^64, or a
 *     range on a PUT or DELETE.
 *   - Success: the server answered 206 with exactly those bytes, or
 *     fewer if the object ends earlier; got is the bytes received.
 *     Content-Range is checked where the client library shows it
 *     (libcurl; libs3 2.0 shows only Content-Length and the byte count).
 *   - A range starting at or past the object's end (HTTP 416
 *     InvalidRange) fails with EIO, logged naming the key, the range and
 *     the object's size if the server gave it.  No such object is
 *     ENOENT, an answer, as for any GET.
 *   - A server that ignores Range and answers 200 with the whole object:
 *     accepted only if that object is exactly what the range asks for
 *     (range_offset 0 and the object no longer than range_len);
 *     otherwise EIO, logged, saying the server ignored the Range header.
 *     libs3 2.0 cannot see this when range_offset > 0 and the whole
 *     object fits in range_len (store-libs3.c): ranges that are shorter
 *     than their objects are never in doubt.
 *   - Never more than range_len bytes reach buf.  A failed range has
 *     got 0, and buf then holds nothing to use.
 *   - Retried as any GET, a body cut short too; each attempt fills buf
 *     afresh (got from 0).
 */

#ifndef S3BLOCKS_STORE_H
#define S3BLOCKS_STORE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "format/keys.h"
#include "store/store-stats.h"

#define STORE_ETAG_MAX 80

/* Requests in flight, the whole store: max-requests= at most this. */
#define STORE_MAX_INFLIGHT 256

enum store_op_kind {
  STORE_GET,
  STORE_PUT,
  STORE_DELETE,
};

enum store_condition {
  STORE_ALWAYS,                 /* unconditional */
  STORE_CREATE_ONLY,            /* PUT with If-None-Match: * */
  STORE_IF_MATCH,               /* PUT with If-Match: op.if_match */
};

/* Checked by the store before every attempt (first try and each retry)
 * of a PUT or DELETE that carries it: 0 lets it go, an errno fails the
 * op with that errno and no further attempt.  This is how a lease
 * fences writes: a request cannot start after its holder's deadline.
 * Called from the store's threads, with no lock of the caller's held.
 *
 * Each refusal adds one to *refusals (atomically, so that metrics read
 * it without a lock), if the gate's owner gave a counter.  The counter
 * is the owner's rather than a field here because gates are shared as
 * const, often static const: the store must not write into them.
 */
struct store_gate {
  int (*check) (void *opaque);
  void *opaque;
  uint64_t *refusals;           /* NULL: not counted */
};

/* The store's side: g refused an attempt. */
static inline void
store_gate_refused (const struct store_gate *g)
{
  if (g->refusals)
    __atomic_add_fetch (g->refusals, 1, __ATOMIC_RELAXED);
}

/* The refusals g has counted so far (0 if it does not count).
 * Lock-free, for metrics.
 */
static inline uint64_t
store_gate_refusals (const struct store_gate *g)
{
  return g->refusals ? __atomic_load_n (g->refusals, __ATOMIC_RELAXED) : 0;
}

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

  /* GET only: a scatter GET.  With iov set, buf is NULL and the body
   * fills iov[0..iovcnt) in order, len being the sum of their lengths
   * (anything else fails the op with EINVAL, logged, and no request is
   * sent).  Everything said of buf holds of them: never more than len
   * bytes, each attempt fills them afresh, and after a failure they
   * hold nothing to use.  A layout reading many blocks with one GET
   * puts each where it is wanted, instead of copying it from one buffer.
   */
  const struct iovec *iov;
  unsigned iovcnt;

  /* GET only: range_len > 0 reads that many bytes from range_offset
   * (a ranged GET, above); 0 reads the whole object.
   */
  uint64_t range_offset;
  size_t range_len;

  /* PUT only, and only on a store with STORE_CAP_CONDITIONAL_PUT
   * (others fail such an op with ENOTSUP, unlogged).
   */
  enum store_condition condition;
  char if_match[STORE_ETAG_MAX];

  const struct store_gate *gate;        /* NULL: none */

  /* Results.  err: 0, an answer listed above, or the errno of a
   * failure after retries.  got: GET: bytes received.  etag: GET and
   * PUT: the object's ETag as the server gave it, without quotes
   * ("" if it gave none).
   */
  int err;
  size_t got;
  char etag[STORE_ETAG_MAX];
  /* For the request counts (store-stats.h): attempts made (retries
   * are the ones past the first; 0 if none was), and whether err is
   * the gate's refusal rather than the server's answer.
   */
  unsigned attempts;
  bool gate_refused;

  /* The caller's, untouched by the store. */
  void *opaque;
};

/* One object of a listing.  A common prefix (listing with a delimiter)
 * has is_prefix set, size 0 and mtime 0.  mtime is the object's
 * Last-Modified as the server's clock gave it, in seconds since 1970,
 * or 0 when the server gave none the store could read: callers must
 * treat 0 as "unknown", never as "old".
 */
struct store_entry {
  const char *key;
  uint64_t size;
  int64_t mtime;
  bool is_prefix;
};

/* Return 0 to go on, 1 to stop the listing there (list returns 0),
 * -1 to fail it (list returns -1 with the errno the callback set).
 */
typedef int (*store_list_cb) (void *opaque, const struct store_entry *entry);

/* Capabilities, in store.caps. */
#define STORE_CAP_CONDITIONAL_PUT 1u  /* honours create_only and if_match */

struct store;

struct store_ops {
  int (*start) (struct store *s);
  void (*stop) (struct store *s);

  /* Returns 0, or -1 after a message saying what is wrong and which
   * key to fix.  probe_key is any key: its absence is fine.
   */
  int (*check) (struct store *s, const char *probe_key);

  /* Run the n ops concurrently, up to the store's own bound in flight,
   * and set each op's results.  Two ops on the same key in one batch
   * have no defined order: callers never do that.
   * Returns the number of ops whose err is a failure (answers
   * excluded).
   */
  size_t (*run) (struct store *s, struct store_op *ops, size_t n);

  /* List keys starting with prefix, in key order, after start_after
   * (NULL: from the start).  With a delimiter, keys sharing the part up
   * to the delimiter are reported once as a prefix.
   * Every entry->key given to cb is a non-empty string that begins
   * with prefix (it may equal it), so key + strlen (prefix) is always
   * within it: an entry a server answers outside the prefix, or with
   * an empty key, is dropped with a debug line, not delivered
   * (list-pager.h, which both stores page their LISTs with).
   * Returns 0, or -1 with errno set.
   */
  int (*list) (struct store *s, const char *prefix, const char *delimiter,
               const char *start_after, store_list_cb cb, void *opaque);

  void (*close) (struct store *s);
};

struct store {
  const struct store_ops *ops;
  unsigned caps;
  /* Every request store_run and store_list pass on (store-stats.h);
   * zero when the store type's open returns it.
   */
  struct store_stats stats;
};

/* What every store type is opened with.  Strings are copied. */
struct store_params {
  const char *endpoint;         /* as the user gave it: http[s]://host[:port] */
  const char *bucket;
  const char *access_key;
  const char *secret_key;
  const char *session_token;    /* NULL: none (temporary credentials) */
  const char *region;           /* signed by V4; unused by V2 */
  bool virtual_host;            /* bucket in the host name, not the path */
  const char *ca_file;          /* NULL: the system's CAs */
  bool tls_verify;              /* check an https:// server's certificate */
  unsigned max_requests;        /* in flight, the whole store */
  unsigned retries;
  unsigned retry_delay_ms;
  unsigned timeout_ms;          /* one attempt */
};

struct store_type {
  const char *name;
  int (*global_init) (void);
  void (*global_cleanup) (void);
  /* Returns 0, or -1 after nbdkit_error naming the key (endpoint=,
   * bucket=, uri-style=) and the rule broken.
   */
  int (*validate) (const struct store_params *params);
  struct store *(*open) (const struct store_params *params);
};

static inline int
store_start (struct store *s)
{
  return s->ops->start (s);
}

static inline void
store_stop (struct store *s)
{
  if (s)
    s->ops->stop (s);
}

static inline int
store_check (struct store *s, const char *probe_key)
{
  return s->ops->check (s, probe_key);
}

static inline size_t
store_run (struct store *s, struct store_op *ops, size_t n)
{
  const uint64_t start = store_stats_now_ns ();
  size_t failed;

  for (size_t i = 0; i < n; i++) {
    ops[i].attempts = 0;
    ops[i].gate_refused = false;
  }
  failed = s->ops->run (s, ops, n);

  store_stats_count_ops (&s->stats, ops, n, store_stats_now_ns () - start);
  return failed;
}

static inline int
store_list (struct store *s, const char *prefix, const char *delimiter,
            const char *start_after, store_list_cb cb, void *opaque)
{
  const uint64_t start = store_stats_now_ns ();
  const int r = s->ops->list (s, prefix, delimiter, start_after, cb, opaque);
  const int err = errno;

  store_stats_count_list (&s->stats, r, r == 0 ? 0 : err,
                          store_stats_now_ns () - start);
  errno = err;
  return r;
}

static inline void
store_close (struct store *s)
{
  if (s)
    s->ops->close (s);
}

static inline bool
store_can (const struct store *s, unsigned cap)
{
  return (s->caps & cap) == cap;
}

/* One synchronous request: returns 0 or the op's errno (answers too).
 * etag, when not NULL, receives the op's etag (STORE_ETAG_MAX bytes).
 */
extern int store_get (struct store *s, const char *key,
                      void *buf, size_t len, size_t *got);
extern int store_get_etag (struct store *s, const char *key,
                           void *buf, size_t len, size_t *got, char *etag);
/* A ranged GET of len bytes from offset into buf (len bytes). */
extern int store_get_range (struct store *s, const char *key,
                            uint64_t offset, size_t len, void *buf,
                            size_t *got);
extern int store_put (struct store *s, const char *key,
                      const void *buf, size_t len);
/* A conditional PUT: condition and if_match as in store_op. */
extern int store_put_cond (struct store *s, const char *key,
                           const void *buf, size_t len,
                           enum store_condition condition,
                           const char *if_match, char *etag);
extern int store_delete (struct store *s, const char *key);

/* The libs3 store (Signature V2): libs3/store-libs3.c. */
extern const struct store_type s3store_type;
/* The libcurl store (Signature V4, verified TLS): curl/store-curl.c. */
extern const struct store_type curlstore_type;

/* The store's side, before it sends an op: 0, or EINVAL after
 * nbdkit_error naming the key for an op that is its caller's bug (a
 * bad range, a bad scatter list: above), which then fails unsent.
 */
extern int store_op_check (const struct store_op *op);

#endif /* S3BLOCKS_STORE_H */
