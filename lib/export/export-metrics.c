/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: collecting the metrics into a snapshot (metrics.h); the
 * rendering is export-metrics-render.c.
 */

#include <config.h>

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "export/export.h"
#include "export/metrics.h"
#include "lease/lease.h"
#include "promtext.h"
#include "store/store.h"
#include "store/store-stats.h"
#include "volume/volume.h"

struct collector {
  struct metrics_snapshot *snap;
  size_t cap;
  bool failed;
};

static uint64_t
load (const uint64_t *counter)
{
  return __atomic_load_n (counter, __ATOMIC_RELAXED);
}

static void
collect_export (struct export *e, void *opaque)
{
  struct collector *c = opaque;
  struct metrics_snapshot *snap = c->snap;
  struct export_io *io = export_io (e);
  const struct lease *lease = export_lease (e);
  struct metrics_export *m;

  if (c->failed)
    return;
  if (snap->nr_exports == c->cap) {
    size_t cap = c->cap ? 2 * c->cap : 8;
    struct metrics_export *p = realloc (snap->exports, cap * sizeof *p);

    if (p == NULL) {
      c->failed = true;
      return;
    }
    snap->exports = p;
    c->cap = cap;
  }
  m = &snap->exports[snap->nr_exports];
  memset (m, 0, sizeof *m);
  m->name = strdup (export_name (e));
  if (m->name == NULL) {
    c->failed = true;
    return;
  }
  snap->nr_exports++;
  volume_get_stats (export_volume (e), &m->volume);
  if (m->volume.oldest_dirty_ms) {
    const uint64_t now = clock_mono_ms ();

    m->dirty_age_ms = now > m->volume.oldest_dirty_ms
      ? now - m->volume.oldest_dirty_ms : 0;
  }
  m->io.reads = load (&io->reads);
  m->io.read_bytes = load (&io->read_bytes);
  m->io.writes = load (&io->writes);
  m->io.written_bytes = load (&io->written_bytes);
  m->io.zeroes = load (&io->zeroes);
  m->io.zeroed_bytes = load (&io->zeroed_bytes);
  m->io.flushes = load (&io->flushes);
  m->io.flush_errors = load (&io->flush_errors);
  m->io.flush_ns = load (&io->flush_ns);
  if (lease) {
    m->leased = true;
    m->lease_state = lease_check (lease);
    m->lease_ms_left = lease_ms_left (lease);
    lease_renewal_counts (lease, &m->lease_renewals,
                          &m->lease_renew_failures);
    m->lease_refusals = store_gate_refusals (lease_gate (lease));
  }
}

int
metrics_collect (struct store *store, const struct s3blocks_config *cfg,
                 const char *store_type, struct metrics_snapshot *snap)
{
  struct collector c = { .snap = snap };

  memset (snap, 0, sizeof *snap);
  snap->version = PACKAGE_VERSION;
  snap->store_type = store_type;
  snap->layout = export_layout_name (cfg->layout);
  snap->max_dirty = cfg->max_dirty;
  snap->cache_size = cfg->cache_size;
  if (store)
    store_stats_read (&store->stats, &snap->store);
  exports_foreach_open (collect_export, &c);
  if (c.failed) {
    metrics_snapshot_free (snap);
    errno = ENOMEM;
    return -1;
  }
  return 0;
}

void
metrics_snapshot_free (struct metrics_snapshot *snap)
{
  for (size_t i = 0; i < snap->nr_exports; i++)
    free (snap->exports[i].name);
  free (snap->exports);
  snap->exports = NULL;
  snap->nr_exports = 0;
}

char *
metrics_text (struct store *store, const struct s3blocks_config *cfg,
              const char *store_type, size_t *len)
{
  struct metrics_snapshot snap;
  struct promtext p = PROMTEXT_INIT;

  if (metrics_collect (store, cfg, store_type, &snap) == -1)
    return NULL;
  metrics_render (&snap, &p);
  metrics_snapshot_free (&snap);
  if (promtext_finish (&p) == -1) {
    promtext_free (&p);
    return NULL;
  }
  *len = p.len;
  return p.buf;
}
