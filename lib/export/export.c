/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the exports this server has opened, by name.
 *
 * All connections to one export share one volume.  The first open of
 * an export takes its lease (read-write), reads (or creates) its
 * metadata object, checks it against the configuration and loads the
 * allocation map.  When its last connection closes the export is
 * flushed and its read cache dropped, but the volume stays here, lease
 * held, until the server exits: reopening it costs no request, and no
 * other server can slip in between.
 *
 * Opening may take a while (a lease held by another host is waited
 * for until it expires), and so may the flush of a last close (up to
 * max-dirty).  Neither may hold up another export, so the table lock
 * guards the list and the entries' counters and states only, and is
 * never held across a store request:
 *
 *                first open              published
 *      (none) ---------------> OPENING -----------> OPEN
 *                               |   ^                 |
 *                       failed  |   |  a read-write   |
 *                               v   +-----------------+
 *                            FAILED    open of an idle export
 *                                      opened read-only (back to
 *       unlinked; freed by its last    OPEN, still read-only, if
 *       waiter (or its opener)         it fails)
 *
 * Only the thread that moved an entry to OPENING touches its volume
 * and lease until it leaves OPENING; others wanting the export wait on
 * the entry's condition variable.  An OPEN entry's volume and lease
 * never change while refs or busy are non-zero, and entries that were
 * OPEN are freed only by exports_cleanup.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "format/cas-format.h"
#include "config/options.h"
#include "export/export.h"
#include "export-impl.h"
#include "layout/layout.h"
#include "lease/lease.h"
#include "format/meta.h"
#include "volume/volume.h"

enum export_state {
  EXPORT_OPENING,
  EXPORT_OPEN,
  EXPORT_FAILED,
};

struct export {
  char *name;                   /* immutable */
  struct export *next;          /* table lock */

  /* Under the table lock. */
  enum export_state state;
  bool readonly;                /* opened without the lease */
  int err;                      /* FAILED: errno of the failure */
  unsigned refs;                /* connections */
  unsigned waiters;             /* threads waiting on cond */
  unsigned busy;                /* last-close flushes, write-back rounds */
  pthread_cond_t cond;          /* state or busy changed */

  /* Owned by the thread that set OPENING while it is; else fixed. */
  struct volume *volume;
  struct lease *lease;          /* NULL when readonly */

  bool lost_reported;           /* atomic: dirty data lost, said once */
  struct export_io io;          /* atomics */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct export *exports;
static struct store *store;
static const struct s3blocks_config *cfg;

void
exports_init (struct store *s, const struct s3blocks_config *c)
{
  store = s;
  cfg = c;
}

struct volume *
export_volume (const struct export *e)
{
  return e->volume;
}

const char *
export_name (const struct export *e)
{
  return e->name;
}

const struct lease *
export_lease (const struct export *e)
{
  return e->lease;
}

struct export_io *
export_io (struct export *e)
{
  return &e->io;
}

static struct export *
find (const char *name)
{
  struct export *e;

  for (e = exports; e; e = e->next)
    if (strcmp (e->name, name) == 0)
      return e;
  return NULL;
}

static void
unlink_export (struct export *e)
{
  struct export **p;

  for (p = &exports; *p; p = &(*p)->next)
    if (*p == e) {
      *p = e->next;
      return;
    }
}

static void
free_export (struct export *e)
{
  pthread_cond_destroy (&e->cond);
  free (e->name);
  free (e);
}

/* The cas layout's parameters from the configuration; the caller
 * sets root_key and what depends on the export.
 */
/* A log export's segment uploads in flight (each a segment-size
 * builder): the segment I/O's default, named here for the batch.
 */
#define LOG_UPLOADS_IN_FLIGHT 4
/* A log export's read-ahead: the longest ranged GET the segment I/O
 * sends by default (its max_read).
 */
#define LOG_READ_AHEAD (4 * 1024 * 1024)

static struct layout_cas_params
cas_params (void)
{
  return (struct layout_cas_params) {
    .map_cache_bytes = cfg->map_cache_size,
    .reuse_window_ms = cfg->cas_reuse_window_ms,
    .request_bound_ms = config_request_bound_ms (cfg),
    .commit_bound_ms = config_commit_bound_ms (cfg),
  };
}

/* export@snap: a snapshot's root, served read-only, without a lease:
 * it is never rewritten.  Its size and block size are the root's, so
 * opening it costs that one GET.
 */
static int
open_snapshot (struct export *e)
{
  struct layout_cas_params cp = cas_params ();
  struct volume_params params = {
    .name = e->name,
    .max_dirty = cfg->max_dirty,
    .cache_size = cfg->cache_size,
    .batch = cfg->max_requests * 16,
  };
  struct layout *layout;
  struct volume *v;

  /* A cas or a log snapshot, as its root says. */
  layout = layout_cas_open_snapshot (store, e->name, &cp, &params.size,
                                     &params.block_size);
  v = volume_create (layout, &params);
  if (v == NULL)
    return -1;
  if (volume_load_map (v) == -1) {
    nbdkit_error ("snapshot %s: cannot load its map", e->name);
    volume_free (v);
    return -1;
  }
  e->volume = v;
  e->lease = NULL;
  return 0;
}

/* The store work of an open, with no lock held: on success e->volume
 * (and for read-write e->lease) are set.
 */
static int
open_volume (struct export *e, bool readonly)
{
  struct export_meta m;
  uint64_t new_size;
  bool dirty_meta;
  struct lease *lease = NULL;
  struct volume *v = NULL;
  struct layout_cas_params cp = cas_params ();
  char root_key[KEY_MAX];

  if (name_text_is_snapshot (e->name))
    return open_snapshot (e);

  /* The lease first: nothing is written before we own the export.
   * This may wait up to lease-time for another host's lease.
   */
  if (!readonly) {
    struct lease_params lp = {
      .export_name = e->name,
      .lease_ms = cfg->lease_time_ms,
      .request_ms = cfg->timeout_ms,
      .take_over = cfg->take_over,
    };
    lease = lease_acquire (store, &lp);
    if (lease == NULL)
      return -1;
  }
  if (export_meta_resolve (store, cfg, e->name, readonly, &m, &new_size,
                           &dirty_meta) == -1)
    goto err;

  struct volume_params params = {
    .name = e->name,
    .size = m.size,
    .block_size = m.block_size,
    .max_dirty = cfg->max_dirty,
    .cache_size = cfg->cache_size,
    .batch = cfg->max_requests * 16,
    .gate = lease ? lease_gate (lease) : NULL,
  };
  struct layout_params lp = {
    .export_name = e->name,
    .block_size = m.block_size,
    .gate = params.gate,
    .readonly = readonly,
    .rebuild_map = cfg->rebuild_map,
  };
  struct layout *layout;

  /* A new cas export: its root (create-only where the store can) is
   * written by load_map before the metadata, which is what makes the
   * export exist: a crash in between leaves an empty root, adopted by
   * the next creation.
   */
  if (m.layout == EXPORT_LAYOUT_CAS) {
    if (cas_root_key (root_key, sizeof root_key, e->name) == -1) {
      nbdkit_error ("export %s: its name is too long for a key", e->name);
      errno = ENAMETOOLONG;
      goto err;
    }
    cp.root_key = root_key;
    cp.create = dirty_meta && new_size == 0;
    cp.size = m.size;
    cp.keep_bytes = cfg->max_dirty;
    layout = layout_cas_open (store, &lp, &cp);
  }
  else if (m.layout == EXPORT_LAYOUT_LOG) {
    if (cas_root_key (root_key, sizeof root_key, e->name) == -1) {
      nbdkit_error ("export %s: its name is too long for a key", e->name);
      errno = ENAMETOOLONG;
      goto err;
    }
    if (cfg->segment_size < (uint64_t) MIN_SEGMENT_BLOCKS * m.block_size) {
      nbdkit_error ("export %s: segment-size (%" PRIu64 ") must hold at "
                    "least %d blocks of its block-size (%" PRIu32 ")",
                    e->name, cfg->segment_size, MIN_SEGMENT_BLOCKS,
                    m.block_size);
      errno = EINVAL;
      goto err;
    }
    struct layout_log_params logp = {
      .root_key = root_key,
      .size = m.size,
      .create = dirty_meta && new_size == 0,
      .map_cache_bytes = cp.map_cache_bytes,
      .reuse_window_ms = cp.reuse_window_ms,
      .keep_bytes = cfg->max_dirty,
      .request_bound_ms = cp.request_bound_ms,
      .commit_bound_ms = cp.commit_bound_ms,
      .segment_size = cfg->segment_size,
      .uploads_in_flight = LOG_UPLOADS_IN_FLIGHT,
      .compact_rate = readonly ? 0 : cfg->log_compact_rate,
      .compact_threshold_pm = cfg->log_compact_threshold_pm,
    };
    /* The volume hands the layout a batch of dirty blocks per run, and
     * the layout seals what one run gives it: a batch of max-requests
     * x 16 blocks (512 at the defaults, 2 MiB of 4K blocks) would
     * leave every segment a quarter full.  A batch that fills every
     * upload in flight makes full segments, and costs no more memory
     * than the segment builders hold anyway.
     */
    params.batch = cfg->segment_size / m.block_size * LOG_UPLOADS_IN_FLIGHT;
    /* A sequential read of blocks written together is one ranged GET
     * of up to LOG_READ_AHEAD, however small the client's requests.
     */
    params.read_ahead = LOG_READ_AHEAD;
    layout = layout_log_open (store, &lp, &logp);
  }
  else
    layout = layout_plain_open (store, &lp);
  v = volume_create (layout, &params);
  if (v == NULL)
    goto err;
  if (volume_load_map (v) == -1) {
    nbdkit_error ("export %s: cannot load its allocation map", e->name);
    goto err;
  }
  /* Shrinking deletes the blocks past the new end before the smaller
   * size is recorded: a crash in between leaves zeros there, never
   * old data.
   */
  if (new_size) {
    m.size = new_size;
    if (volume_resize (v, new_size) == -1)
      goto err;
  }
  if (dirty_meta && export_meta_write (store, e->name, &m) == -1)
    goto err;

  /* A read-write reopen replaces the read-only volume, which nothing
   * uses (refs and busy were 0 when it left OPEN) and which holds no
   * dirty data.
   */
  volume_free (e->volume);
  e->volume = v;
  e->lease = lease;
  return 0;

 err:;
  int saved = errno;
  volume_free (v);
  lease_release (lease);
  errno = saved;
  return -1;
}

/* Wait, table lock held, while e is OPENING.  0 with e OPEN, or -1
 * (errno set) if its open failed; *retry then says whether to try
 * again.  The waiter that leaves a FAILED entry last frees it.
 */
static int
wait_opened (struct export *e, const char *name, bool readonly, bool *retry)
{
  *retry = false;
  e->waiters++;
  while (e->state == EXPORT_OPENING)
    pthread_cond_wait (&e->cond, &lock);
  e->waiters--;
  if (e->state == EXPORT_OPEN)
    return 0;

  /* The failed open was another connection's, and it logged why.  A
   * read-write open behind a failed read-only one tries itself: it may
   * create the export, which a read-only open may not.
   */
  const int err = e->err;
  const bool was_readonly = e->readonly;
  if (e->waiters == 0)
    free_export (e);
  if (!readonly && was_readonly) {
    *retry = true;
    return -1;
  }
  nbdkit_error ("export %s could not be opened (%s): see the error logged "
                "just before by the connection that was opening it",
                name, strerror (err));
  errno = err;
  return -1;
}

/* Table lock held, e OPEN: a read-write open of an export opened
 * read-only (a filter or client made the first connection read-only)
 * needs the lease and a volume that writes.  The read-only volume is
 * replaced, so only while no connection uses it.
 */
static int
begin_upgrade (struct export *e)
{
  if (e->refs > 0) {
    nbdkit_error ("export %s is open read-only by %u other connection(s) "
                  "of this server: connect read-write once they have "
                  "closed, or start nbdkit without -r", e->name, e->refs);
    errno = EBUSY;
    return -1;
  }
  e->state = EXPORT_OPENING;
  while (e->busy > 0)
    pthread_cond_wait (&e->cond, &lock);
  return 0;
}

struct export *
export_open (const char *name, bool readonly)
{
  struct export *e;
  bool retry, is_new;
  int r;

  /* A snapshot is never written, whoever asks. */
  if (name_text_is_snapshot (name))
    readonly = true;

  pthread_mutex_lock (&lock);
 again:
  e = find (name);
  if (e == NULL) {
    e = calloc (1, sizeof *e);
    if (e == NULL || (e->name = strdup (name)) == NULL) {
      nbdkit_error ("calloc: %m");
      free (e);
      pthread_mutex_unlock (&lock);
      return NULL;
    }
    pthread_cond_init (&e->cond, NULL);
    e->state = EXPORT_OPENING;
    e->readonly = readonly;
    e->next = exports;
    exports = e;
    is_new = true;
  }
  else {
    if (wait_opened (e, name, readonly, &retry) == -1) {
      if (retry)
        goto again;
      pthread_mutex_unlock (&lock);
      return NULL;
    }
    if (readonly || !e->readonly) {
      e->refs++;
      pthread_mutex_unlock (&lock);
      return e;
    }
    if (begin_upgrade (e) == -1) {
      pthread_mutex_unlock (&lock);
      return NULL;
    }
    is_new = false;
  }
  pthread_mutex_unlock (&lock);

  r = open_volume (e, readonly);
  const int err = errno;

  pthread_mutex_lock (&lock);
  if (r == 0) {
    e->readonly = readonly;
    e->refs++;
    e->state = EXPORT_OPEN;
  }
  else if (!is_new)
    e->state = EXPORT_OPEN;     /* still read-only, as it was */
  else {
    e->state = EXPORT_FAILED;
    e->err = err;
    unlink_export (e);
  }
  pthread_cond_broadcast (&e->cond);
  if (r == -1 && is_new && e->waiters == 0)
    free_export (e);
  pthread_mutex_unlock (&lock);
  if (r == -1) {
    errno = err;
    return NULL;
  }
  return e;
}

/* Say what a failed flush means for the data, by its errno. */
static void
report_flush_failure (struct export *e, bool exiting, int err)
{
  struct volume_stats st;

  volume_get_stats (e->volume, &st);
  if (err == EROFS)
    nbdkit_error ("export %s: %s, but this server lost its lease to "
                  "another server: %" PRIu64 " bytes in %" PRIu64 " dirty "
                  "blocks are never uploaded", e->name,
                  exiting ? "the server is exiting"
                  : "the last connection closed",
                  st.dirty_bytes, st.dirty_blocks);
  else if (exiting)
    nbdkit_error ("export %s: the server is exiting and %" PRIu64 " dirty "
                  "blocks (%" PRIu64 " bytes) could not be written (%s): "
                  "they are lost", e->name, st.dirty_blocks,
                  st.dirty_bytes, strerror (err));
  else
    nbdkit_error ("export %s: the last connection closed, and %" PRIu64
                  " dirty blocks could not be written (%s): they stay in "
                  "memory and are retried by the next flush, by background "
                  "write-back (write-delay) and when the server exits", e->name,
                  st.dirty_blocks, strerror (err));
}

void
export_close (struct export *e)
{
  bool idle;

  pthread_mutex_lock (&lock);
  if (--e->refs > 0) {
    pthread_mutex_unlock (&lock);
    return;
  }
  /* busy keeps the volume in place while it is flushed without the
   * lock; a connection may reopen the export meanwhile, and share it.
   */
  e->busy++;
  pthread_mutex_unlock (&lock);

  if (volume_flush (e->volume) == -1)
    report_flush_failure (e, false, errno);

  pthread_mutex_lock (&lock);
  idle = e->refs == 0;
  pthread_mutex_unlock (&lock);
  /* A reopen during the flush keeps the cache; a racing one that
   * loses it only pays some GETs.
   */
  if (idle)
    volume_drop_cache (e->volume);

  pthread_mutex_lock (&lock);
  if (--e->busy == 0)
    pthread_cond_broadcast (&e->cond);
  pthread_mutex_unlock (&lock);
}

int
exports_foreach_open (void (*fn) (struct export *e, void *opaque),
                      void *opaque)
{
  struct export *e;

  pthread_mutex_lock (&lock);
  for (e = exports; e; e = e->next) {
    if (e->state != EXPORT_OPEN)
      continue;
    e->busy++;
    pthread_mutex_unlock (&lock);
    fn (e, opaque);
    pthread_mutex_lock (&lock);
    /* An entry that was OPEN stays in the list: e->next is current. */
    if (--e->busy == 0)
      pthread_cond_broadcast (&e->cond);
  }
  pthread_mutex_unlock (&lock);
  return 0;
}

/* At exit: first every export is flushed, with the lease keeper still
 * running so that a long flush does not outlive the lease; then the
 * leases are released.  The lease keeper stops after this.
 */
void
exports_cleanup (void)
{
  struct export *list, *e;

  pthread_mutex_lock (&lock);
 again:
  for (e = exports; e; e = e->next)
    if (e->state == EXPORT_OPENING || e->busy > 0)
      break;
  if (e) {
    e->waiters++;
    pthread_cond_wait (&e->cond, &lock);
    e->waiters--;
    if (e->state == EXPORT_FAILED && e->waiters == 0)
      free_export (e);
    goto again;
  }
  list = exports;
  exports = NULL;
  pthread_mutex_unlock (&lock);

  for (e = list; e; e = e->next) {
    struct volume_stats st;

    volume_get_stats (e->volume, &st);
    if (st.dirty_blocks && volume_flush (e->volume) == -1)
      report_flush_failure (e, true, errno);
  }

  while (list) {
    struct volume_stats st;

    e = list;
    list = e->next;
    volume_get_stats (e->volume, &st);
    nbdkit_debug ("export %s: %" PRIu64 " GETs, %" PRIu64 " PUTs, %" PRIu64
                  " DELETEs, %" PRIu64 " hole reads without a request, "
                  "%" PRIu64 " cache hits, %" PRIu64 " blocks read ahead, "
                  "%" PRIu64 " blocks written back early, peak dirty %"
                  PRIu64 " bytes", e->name, st.gets, st.puts, st.deletes,
                  st.holes_read, st.cache_hits, st.read_ahead, st.writebacks,
                  st.peak_dirty_bytes);
    if (st.segments_written || st.compact_puts)
      nbdkit_debug ("export %s (log): %" PRIu64 " segments (%" PRIu64
                    " bytes), %" PRIu64 " blocks skipped as duplicates, %"
                    PRIu64 " segments refreshed, %" PRIu64 " pages (%" PRIu64
                    " bytes), %" PRIu64 " roots written", e->name,
                    st.segments_written, st.segment_bytes, st.dedup_hits,
                    st.refreshes, st.pages_written, st.page_bytes,
                    st.roots_written);
    else if (st.roots_written || st.data_puts || st.dedup_hits)
      nbdkit_debug ("export %s (cas): %" PRIu64 " data PUTs, %" PRIu64
                    " skipped as duplicates, %" PRIu64 " refreshed, %"
                    PRIu64 " pages (%" PRIu64 " bytes), %" PRIu64
                    " roots written", e->name, st.data_puts, st.dedup_hits,
                    st.refreshes, st.pages_written, st.page_bytes,
                    st.roots_written);
    if (st.compact_segments)
      nbdkit_debug ("export %s (log compaction): %" PRIu64 " segments "
                    "compacted, %" PRIu64 " blocks moved, %" PRIu64
                    " copies dropped for newer writes, %" PRIu64
                    " segments (%" PRIu64 " bytes) written, %" PRIu64
                    " bytes read", e->name, st.compact_segments,
                    st.compact_blocks, st.compact_lost, st.compact_puts,
                    st.compact_written_bytes, st.compact_read_bytes);
    volume_free (e->volume);
    lease_release (e->lease);
    free_export (e);
  }
}

int
export_check_writable (struct export *e)
{
  int err;

  if (e->lease == NULL)
    return 0;
  err = lease_check (e->lease);
  if (err == 0)
    return 0;
  if (err == EROFS) {
    nbdkit_error ("export %s: this server lost its lease to another "
                  "server; refusing to write", e->name);
    if (!__atomic_exchange_n (&e->lost_reported, true, __ATOMIC_RELAXED)) {
      struct volume_stats st;

      volume_get_stats (e->volume, &st);
      if (st.dirty_blocks)
        nbdkit_error ("export %s: %" PRIu64 " bytes in %" PRIu64 " dirty "
                      "blocks held in memory will never be uploaded; they "
                      "stay readable through this server until it exits: "
                      "copy what matters before stopping it",
                      e->name, st.dirty_bytes, st.dirty_blocks);
    }
  }
  else
    nbdkit_error ("export %s: its lease could not be renewed (S3 "
                  "unreachable?); writes pause until it is", e->name);
  errno = err;
  return -1;
}

int
exports_list (int (*cb) (void *opaque, const char *name), void *opaque)
{
  return export_list_names (store, cb, opaque);
}
