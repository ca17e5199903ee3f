/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: rendering a metrics snapshot as Prometheus text
 * (metrics.h).  Touches nothing shared: only the snapshot.
 */

#include <config.h>

#include <errno.h>
#include <stddef.h>
#include <stdint.h>

#include "export/metrics.h"
#include "promtext.h"
#include "store/store-stats.h"
#include "volume/volume.h"

/* The per-export figures that are one field each. */
struct export_metric {
  const char *name, *type, *help;
  size_t offset;                /* of a uint64_t in metrics_export */
};

#define IO(f) offsetof (struct metrics_export, io.f)
#define VOL(f) offsetof (struct metrics_export, volume.f)
static const struct export_metric export_metrics[] = {
  { "s3blocks_export_reads_total", "counter",
    "Read requests from clients.", IO (reads) },
  { "s3blocks_export_read_bytes_total", "counter",
    "Bytes read by clients.", IO (read_bytes) },
  { "s3blocks_export_writes_total", "counter",
    "Write requests from clients.", IO (writes) },
  { "s3blocks_export_written_bytes_total", "counter",
    "Bytes written by clients.", IO (written_bytes) },
  { "s3blocks_export_zeroes_total", "counter",
    "Zero and trim requests from clients.", IO (zeroes) },
  { "s3blocks_export_zeroed_bytes_total", "counter",
    "Bytes zeroed or trimmed by clients.", IO (zeroed_bytes) },
  { "s3blocks_export_flushes_total", "counter",
    "Flush requests from clients.", IO (flushes) },
  { "s3blocks_export_flush_errors_total", "counter",
    "Flush requests from clients that failed.", IO (flush_errors) },
  { "s3blocks_export_dirty_bytes", "gauge",
    "Memory held by dirty blocks (written, not yet in the store).",
    VOL (dirty_bytes) },
  { "s3blocks_export_dirty_blocks", "gauge",
    "Dirty blocks.", VOL (dirty_blocks) },
  { "s3blocks_export_dirty_peak_bytes", "gauge",
    "Most memory dirty blocks have held at once.", VOL (peak_dirty_bytes) },
  { "s3blocks_export_cached_bytes", "gauge",
    "Memory held by clean cached blocks.", VOL (clean_bytes) },
  { "s3blocks_export_cached_blocks", "gauge",
    "Clean cached blocks.", VOL (clean_blocks) },
  { "s3blocks_export_cache_hits_total", "counter",
    "Block reads served from the cache.", VOL (cache_hits) },
  { "s3blocks_export_cache_misses_total", "counter",
    "Block reads that needed a GET.", VOL (gets) },
  { "s3blocks_export_hole_reads_total", "counter",
    "Reads of absent blocks, served without a request.", VOL (holes_read) },
  { "s3blocks_export_read_ahead_blocks_total", "counter",
    "Blocks fetched ahead of sequential reads.", VOL (read_ahead) },
  { "s3blocks_export_block_uploads_total", "counter",
    "Blocks uploaded (PUT or packed).", VOL (puts) },
  { "s3blocks_export_block_deletes_total", "counter",
    "Blocks deleted because they became zero.", VOL (deletes) },
  { "s3blocks_export_early_writebacks_total", "counter",
    "Blocks uploaded early to keep dirty data under max-dirty.",
    VOL (writebacks) },
  { "s3blocks_export_commits_total", "counter",
    "Map commits that wrote something.", VOL (commits) },
  { "s3blocks_export_dedup_hits_total", "counter",
    "cas and log: block uploads skipped as duplicates.", VOL (dedup_hits) },
  { "s3blocks_export_data_puts_total", "counter",
    "cas: data objects uploaded.", VOL (data_puts) },
  { "s3blocks_export_refreshes_total", "counter",
    "cas and log: objects uploaded again, older than the reuse window.",
    VOL (refreshes) },
  { "s3blocks_export_pages_written_total", "counter",
    "cas and log: map pages uploaded.", VOL (pages_written) },
  { "s3blocks_export_page_written_bytes_total", "counter",
    "cas and log: bytes of map pages uploaded.", VOL (page_bytes) },
  { "s3blocks_export_roots_written_total", "counter",
    "cas and log: roots committed.", VOL (roots_written) },
  { "s3blocks_export_segments_written_total", "counter",
    "log: segments uploaded.", VOL (segments_written) },
  { "s3blocks_export_segment_written_bytes_total", "counter",
    "log: bytes of segments uploaded.", VOL (segment_bytes) },
  { "s3blocks_export_compact_segments_total", "counter",
    "log compaction: old segments whose live blocks were copied.",
    VOL (compact_segments) },
  { "s3blocks_export_compact_blocks_total", "counter",
    "log compaction: blocks copied.", VOL (compact_blocks) },
  { "s3blocks_export_compact_lost_blocks_total", "counter",
    "log compaction: copies dropped because a write moved the block.",
    VOL (compact_lost) },
  { "s3blocks_export_compact_segments_written_total", "counter",
    "log compaction: segments uploaded.", VOL (compact_puts) },
  { "s3blocks_export_compact_read_bytes_total", "counter",
    "log compaction: bytes read.", VOL (compact_read_bytes) },
  { "s3blocks_export_compact_written_bytes_total", "counter",
    "log compaction: bytes of segments uploaded.",
    VOL (compact_written_bytes) },
};
#define NR_EXPORT_METRICS (sizeof export_metrics / sizeof export_metrics[0])

/* The lease's counters, with a sample only for exports holding one. */
#define LEASE(f) offsetof (struct metrics_export, f)
static const struct export_metric lease_metrics[] = {
  { "s3blocks_export_lease_renewals_total", "counter",
    "Renewals of the lease that succeeded.", LEASE (lease_renewals) },
  { "s3blocks_export_lease_renewal_failures_total", "counter",
    "Renewals of the lease that failed (each is retried soon).",
    LEASE (lease_renew_failures) },
  { "s3blocks_export_lease_refusals_total", "counter",
    "Upload attempts (PUT, DELETE) the lease's gate refused: past its "
    "deadline or taken over.", LEASE (lease_refusals) },
};
#define NR_LEASE_METRICS (sizeof lease_metrics / sizeof lease_metrics[0])

static void
render_store (const struct metrics_snapshot *snap, struct promtext *p)
{
  const struct store_stats *st = &snap->store;
  double bounds[STORE_STAT_BUCKETS - 1];

  promtext_family (p, "s3blocks_s3_requests_total", "counter",
                   "S3 requests by method and outcome, after retries.");
  for (int m = 0; m < STORE_STAT_METHODS; m++)
    for (int o = 0; o < STORE_STAT_OUTCOMES; o++) {
      const struct promtext_label l[] = {
        { "method", store_stat_method_name (m) },
        { "outcome", store_stat_outcome_name (o) },
      };

      promtext_u64 (p, "s3blocks_s3_requests_total", l, 2,
                    st->requests[m][o]);
    }
  promtext_family (p, "s3blocks_s3_retries_total", "counter",
                   "S3 request attempts past each request's first.");
  for (int m = 0; m < STORE_STAT_METHODS; m++) {
    const struct promtext_label l[] = {
      { "method", store_stat_method_name (m) },
    };

    promtext_u64 (p, "s3blocks_s3_retries_total", l, 1, st->retries[m]);
  }
  promtext_family (p, "s3blocks_s3_sent_bytes_total", "counter",
                   "Bytes of S3 PUT bodies that succeeded.");
  promtext_u64 (p, "s3blocks_s3_sent_bytes_total", NULL, 0, st->bytes_sent);
  promtext_family (p, "s3blocks_s3_received_bytes_total", "counter",
                   "Bytes of S3 GET bodies that succeeded.");
  promtext_u64 (p, "s3blocks_s3_received_bytes_total", NULL, 0,
                st->bytes_received);

  for (int b = 0; b < STORE_STAT_BUCKETS - 1; b++)
    bounds[b] = store_stat_bucket_ms[b] / 1000.0;
  promtext_family (p, "s3blocks_s3_request_duration_seconds", "histogram",
                   "S3 request latency by method, retries included "
                   "(a batch's requests each count the batch's time).");
  for (int m = 0; m < STORE_STAT_METHODS; m++) {
    const struct promtext_label l[] = {
      { "method", store_stat_method_name (m) },
    };

    promtext_histogram (p, "s3blocks_s3_request_duration_seconds", l, 1,
                        bounds, st->latency[m], STORE_STAT_BUCKETS,
                        st->latency_ns[m] / 1e9);
  }
}

static void
render_exports (const struct metrics_snapshot *snap, struct promtext *p)
{
  for (size_t i = 0; i < NR_EXPORT_METRICS; i++) {
    const struct export_metric *em = &export_metrics[i];

    promtext_family (p, em->name, em->type, em->help);
    for (size_t j = 0; j < snap->nr_exports; j++) {
      const struct promtext_label l[] = {
        { "export", snap->exports[j].name },
      };
      const char *base = (const char *) &snap->exports[j];

      promtext_u64 (p, em->name, l, 1,
                    *(const uint64_t *) (base + em->offset));
    }
  }

  promtext_family (p, "s3blocks_export_flush_seconds_total", "counter",
                   "Time clients' flush requests took.");
  for (size_t j = 0; j < snap->nr_exports; j++) {
    const struct promtext_label l[] = { { "export", snap->exports[j].name } };

    promtext_f64 (p, "s3blocks_export_flush_seconds_total", l, 1,
                  snap->exports[j].io.flush_ns / 1e9);
  }

  promtext_family (p, "s3blocks_export_oldest_dirty_seconds", "gauge",
                   "Age of the oldest dirty block: how far write-back "
                   "lags (0: nothing dirty).");
  for (size_t j = 0; j < snap->nr_exports; j++) {
    const struct promtext_label l[] = { { "export", snap->exports[j].name } };

    promtext_f64 (p, "s3blocks_export_oldest_dirty_seconds", l, 1,
                  snap->exports[j].dirty_age_ms / 1e3);
  }

  promtext_family (p, "s3blocks_export_lease_held", "gauge",
                   "1 while this server's lease on the export lets it "
                   "upload, 0 when it cannot be renewed or was taken over "
                   "(exports opened read-write only).");
  for (size_t j = 0; j < snap->nr_exports; j++) {
    const struct promtext_label l[] = { { "export", snap->exports[j].name } };

    if (snap->exports[j].leased)
      promtext_u64 (p, "s3blocks_export_lease_held", l, 1,
                    snap->exports[j].lease_state == 0);
  }
  promtext_family (p, "s3blocks_export_lease_lost", "gauge",
                   "1 when another server took the export's lease over.");
  for (size_t j = 0; j < snap->nr_exports; j++) {
    const struct promtext_label l[] = { { "export", snap->exports[j].name } };

    if (snap->exports[j].leased)
      promtext_u64 (p, "s3blocks_export_lease_lost", l, 1,
                    snap->exports[j].lease_state == EROFS);
  }
  for (size_t i = 0; i < NR_LEASE_METRICS; i++) {
    const struct export_metric *em = &lease_metrics[i];

    promtext_family (p, em->name, em->type, em->help);
    for (size_t j = 0; j < snap->nr_exports; j++) {
      const struct promtext_label l[] = {
        { "export", snap->exports[j].name },
      };
      const char *base = (const char *) &snap->exports[j];

      if (snap->exports[j].leased)
        promtext_u64 (p, em->name, l, 1,
                      *(const uint64_t *) (base + em->offset));
    }
  }
  promtext_family (p, "s3blocks_export_lease_deadline_seconds", "gauge",
                   "Seconds until the lease stops covering uploads unless "
                   "renewed (negative: past it).");
  for (size_t j = 0; j < snap->nr_exports; j++) {
    const struct promtext_label l[] = { { "export", snap->exports[j].name } };

    if (snap->exports[j].leased)
      promtext_f64 (p, "s3blocks_export_lease_deadline_seconds", l, 1,
                    snap->exports[j].lease_ms_left / 1e3);
  }

  /* Only where compaction has walked the map: a 0 would read as an
   * empty log, not as "not measured".
   */
  promtext_family (p, "s3blocks_export_log_live_bytes", "gauge",
                   "log: bytes of the segments the map names that its "
                   "blocks reference, at compaction's last walk.");
  for (size_t j = 0; j < snap->nr_exports; j++) {
    const struct promtext_label l[] = { { "export", snap->exports[j].name } };
    const struct volume_stats *vs = &snap->exports[j].volume;

    if (vs->log_usage_known)
      promtext_u64 (p, "s3blocks_export_log_live_bytes", l, 1,
                    vs->log_live_bytes);
  }
  promtext_family (p, "s3blocks_export_log_dead_bytes", "gauge",
                   "log: bytes of the segments the map names that no "
                   "block references (compaction's to reclaim), at its "
                   "last walk.");
  for (size_t j = 0; j < snap->nr_exports; j++) {
    const struct promtext_label l[] = { { "export", snap->exports[j].name } };
    const struct volume_stats *vs = &snap->exports[j].volume;

    if (vs->log_usage_known)
      promtext_u64 (p, "s3blocks_export_log_dead_bytes", l, 1,
                    vs->log_stored_bytes - vs->log_live_bytes);
  }
}

void
metrics_render (const struct metrics_snapshot *snap, struct promtext *p)
{
  const struct promtext_label info[] = {
    { "version", snap->version },
    { "store", snap->store_type },
    { "layout", snap->layout },
  };

  promtext_family (p, "s3blocks_build_info", "gauge",
                   "Always 1: the version, the store type (signature=) "
                   "and the layout of new exports (layout=).");
  promtext_u64 (p, "s3blocks_build_info", info, 3, 1);
  promtext_family (p, "s3blocks_dirty_bound_bytes", "gauge",
                   "max-dirty: dirty data one export may hold in memory.");
  promtext_u64 (p, "s3blocks_dirty_bound_bytes", NULL, 0, snap->max_dirty);
  promtext_family (p, "s3blocks_cache_bound_bytes", "gauge",
                   "cache-size: clean blocks one export may cache.");
  promtext_u64 (p, "s3blocks_cache_bound_bytes", NULL, 0, snap->cache_size);
  promtext_family (p, "s3blocks_exports_open", "gauge",
                   "Exports this server has opened.");
  promtext_u64 (p, "s3blocks_exports_open", NULL, 0, snap->nr_exports);
  render_store (snap, p);
  render_exports (snap, p);
}
