/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: an nbdkit plugin serving block devices from S3.
 *
 * The nbdkit callbacks, and nothing else: configuration is in
 * lib/config/ (keys.c, options.c), exports in lib/export/export.c,
 * block logic in lib/volume/volume.c, object storage behind
 * lib/store/store.h (libs3 in lib/store/libs3/store-libs3.c, libcurl
 * in lib/store/curl/store-curl.c).
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NBDKIT_API_VERSION 2
#include <nbdkit-plugin.h>

#include "config/options.h"
#include "clock.h"
#include "export/export.h"
#include "export/metrics.h"
#include "bufpool.h"
#include "cmdline.h"
#include "format/keys.h"
#include "format/names.h"
#include "lease/lease.h"
#include "metrics-serve.h"
#include "store/store.h"
#include "volume/volume.h"
#include "writeback-thread.h"

/* signature= chooses one (config_complete); both are initialised at
 * load, before the keys are known.
 */
static const struct store_type *const store_types[] = {
  &s3store_type, &curlstore_type,
};
#define NR_STORE_TYPES (sizeof store_types / sizeof store_types[0])
static const struct store_type *store_type;

static struct s3blocks_config cfg;
static struct store *store;

struct handle {
  struct export *export;
  struct volume *volume;
  bool readonly;
};

static void
s3blocks_load (void)
{
  size_t i;

  if (config_init (&cfg) == -1)
    exit (EXIT_FAILURE);
  for (i = 0; i < NR_STORE_TYPES; i++)
    if (store_types[i]->global_init () == -1)
      exit (EXIT_FAILURE);
}

static void
s3blocks_unload (void)
{
  metrics_http_stop ();
  metrics_file_stop ();
  store_close (store);
  store = NULL;
  config_free (&cfg);
  bufpool_cleanup ();
  for (size_t i = 0; i < NR_STORE_TYPES; i++)
    store_types[i]->global_cleanup ();
}

static int
s3blocks_config (const char *key, const char *value)
{
  return config_set (&cfg, key, value);
}

static int
s3blocks_config_complete (void)
{
  struct store_params params;

  if (config_complete (&cfg) == -1)
    return -1;
  params = config_store_params (&cfg);
  store_type = config_store_type (&cfg);
  nbdkit_debug ("store: %s (signature=%s)", store_type->name,
                store_type == &curlstore_type ? "v4" : "v2");
  return store_type->validate (&params);
}

static void
print_key (const char *key, const char *value, void *opaque)
{
  printf ("s3blocks_%s=%s\n", key, value);
}

static void
s3blocks_dump_plugin (void)
{
  printf ("s3blocks_version=%s\n", PACKAGE_VERSION);
  printf ("s3blocks_layout=blocks/{export}/{offset:016x}\n");
  config_dump (&cfg, print_key, NULL);
}

static char *
metrics_now (size_t *len)
{
  return metrics_text (store, &cfg, store_type->name, len);
}

/* Before serving: the endpoint answers, the credentials work, the
 * bucket exists, and the default export opens (metadata checked, lease
 * taken).  Errors here reach the user's terminal.
 */
static int
s3blocks_get_ready (void)
{
  struct store_params params = config_store_params (&cfg);
  char probe[KEY_MAX];
  struct export *e;
  int r = -1;

  store = store_type->open (&params);
  if (store == NULL || store_start (store) == -1)
    return -1;
  export_meta_key (probe, sizeof probe, cfg.export_name);
  if (store_check (store, probe) == 0) {
    exports_init (store, &cfg);
    e = export_open (cfg.export_name, nbdkit_started_readonly ());
    if (e) {
      export_close (e);
      r = 0;
    }
  }
  /* No thread may cross nbdkit's fork. */
  store_stop (store);
  if (r == 0 && cfg.metrics && metrics_http_bind (cfg.metrics,
                                                  metrics_now) == -1)
    r = -1;
  if (r == 0 && cfg.metrics_file &&
      metrics_file_init (cfg.metrics_file, metrics_now) == -1)
    r = -1;
  return r;
}

static int
s3blocks_after_fork (void)
{
  if (store_start (store) == -1 || lease_keeper_start () == -1 ||
      metrics_http_start () == -1 || metrics_file_start () == -1)
    return -1;
  return writeback_thread_start (cfg.write_delay_ms);
}

/* The exit flush runs with the lease keeper still renewing: a long
 * flush must not let the lease expire under it.
 */
static void
s3blocks_cleanup (void)
{
  writeback_thread_stop ();
  /* Metrics read the exports, which exports_cleanup frees. */
  metrics_http_stop ();
  metrics_file_stop ();
  exports_cleanup ();
  lease_keeper_stop ();
  store_stop (store);
  if (store) {
    char line[512];

    /* What the run cost in requests, for benchmarks (nbdkit -v). */
    nbdkit_debug ("store: %s", store_stats_format (&store->stats, line,
                                                   sizeof line));
  }
}

static const char *
s3blocks_default_export (int readonly, int is_tls)
{
  return cfg.export_name;
}

/* exports= applies to snapshots through their export's name. */
static int
add_export (void *opaque, const char *name)
{
  if (!name_allowed (cfg.exports, name))
    return 0;
  return nbdkit_add_export (opaque, name, NULL);
}

static int
s3blocks_list_exports (int readonly, int is_tls,
                       struct nbdkit_exports *exports)
{
  return exports_list (add_export, exports);
}

static void *
s3blocks_open (int readonly)
{
  const char *name = nbdkit_export_name ();
  struct name_ref ref;
  struct handle *h;

  if (name == NULL || *name == '\0')
    name = cfg.export_name;
  if (name_ref_parse (NULL, name, &ref) == -1)
    return NULL;
  if (!name_allowed (cfg.exports, name)) {
    nbdkit_error ("export \"%s\" is not served here (exports=%s)",
                  name, cfg.exports);
    errno = EACCES;
    return NULL;
  }
  h = calloc (1, sizeof *h);
  if (h == NULL) {
    nbdkit_error ("calloc: %m");
    return NULL;
  }
  h->export = export_open (name, readonly);
  if (h->export == NULL) {
    free (h);
    return NULL;
  }
  h->volume = export_volume (h->export);
  /* A snapshot (export@snap) is read-only even without -r. */
  h->readonly = readonly || name_ref_is_snapshot (&ref);
  return h;
}

static void
s3blocks_close (void *handle)
{
  struct handle *h = handle;

  export_close (h->export);
  free (h);
}

static const char *
s3blocks_export_description (void *handle)
{
  struct handle *h = handle;

  return nbdkit_printf_intern ("s3blocks export %s in bucket %s at %s",
                               volume_name (h->volume), cfg.bucket,
                               cfg.endpoint);
}

static int64_t
s3blocks_get_size (void *handle)
{
  struct handle *h = handle;

  return volume_size (h->volume);
}

/* The export's recorded block size, which is not block-size= when the
 * export was made with another one.
 */
static int
s3blocks_block_size (void *handle, uint32_t *minimum, uint32_t *preferred,
                     uint32_t *maximum)
{
  struct handle *h = handle;

  *minimum = 1;
  *preferred = volume_block_size (h->volume);
  *maximum = 0xffffffff;
  return 0;
}

static int
s3blocks_can_write (void *handle)
{
  struct handle *h = handle;

  return !h->readonly;
}

static int
s3blocks_can_true (void *handle)
{
  return 1;
}

static int
s3blocks_can_fua (void *handle)
{
  return NBDKIT_FUA_NATIVE;
}

static int
s3blocks_can_cache (void *handle)
{
  return cfg.cache_size > 0 ? NBDKIT_CACHE_NATIVE : NBDKIT_CACHE_NONE;
}

static int
s3blocks_is_rotational (void *handle)
{
  return 0;
}

static int
s3blocks_pread (void *handle, void *buf, uint32_t count, uint64_t offset,
                uint32_t flags)
{
  struct handle *h = handle;
  struct export_io *io = export_io (h->export);

  export_count (&io->reads, 1);
  export_count (&io->read_bytes, count);
  return volume_read (h->volume, buf, count, offset);
}

/* A write, zero or trim may go ahead: the handle is not read-only, and
 * the export's lease lets it write.
 */
static int
check_writable (struct handle *h)
{
  if (h->readonly) {
    nbdkit_error ("export %s is read-only", volume_name (h->volume));
    errno = EROFS;
    return -1;
  }
  return export_check_writable (h->export);
}

static int
s3blocks_pwrite (void *handle, const void *buf, uint32_t count,
                 uint64_t offset, uint32_t flags)
{
  struct handle *h = handle;
  struct export_io *io = export_io (h->export);

  if (check_writable (h) == -1)
    return -1;
  export_count (&io->writes, 1);
  export_count (&io->written_bytes, count);
  return volume_write (h->volume, buf, count, offset,
                       flags & NBDKIT_FLAG_FUA);
}

/* Zeroing never moves data (whole blocks lose their objects), so it is
 * always at least as fast as writing: fast-zero requests succeed too.
 */
static int
s3blocks_zero (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  struct handle *h = handle;
  struct export_io *io = export_io (h->export);

  if (check_writable (h) == -1)
    return -1;
  export_count (&io->zeroes, 1);
  export_count (&io->zeroed_bytes, count);
  return volume_zero (h->volume, count, offset, flags & NBDKIT_FLAG_FUA);
}

static int
s3blocks_trim (void *handle, uint32_t count, uint64_t offset, uint32_t flags)
{
  return s3blocks_zero (handle, count, offset, flags & NBDKIT_FLAG_FUA);
}

static int
s3blocks_flush (void *handle, uint32_t flags)
{
  struct handle *h = handle;
  struct export_io *io = export_io (h->export);
  const uint64_t start = clock_mono_ns ();
  const int r = volume_flush (h->volume);
  const int err = errno;

  export_count (&io->flushes, 1);
  export_count (&io->flush_ns, clock_mono_ns () - start);
  if (r == -1)
    export_count (&io->flush_errors, 1);
  errno = err;
  return r;
}

static int
add_extent (void *opaque, uint64_t offset, uint64_t length, uint32_t type)
{
  uint32_t nbdkit_type = 0;

  if (type & VOLUME_EXTENT_HOLE)
    nbdkit_type |= NBDKIT_EXTENT_HOLE;
  if (type & VOLUME_EXTENT_ZERO)
    nbdkit_type |= NBDKIT_EXTENT_ZERO;
  return nbdkit_add_extent (opaque, offset, length, nbdkit_type);
}

static int
s3blocks_extents (void *handle, uint32_t count, uint64_t offset,
                  uint32_t flags, struct nbdkit_extents *extents)
{
  struct handle *h = handle;

  return volume_extents (h->volume, count, offset,
                         flags & NBDKIT_FLAG_REQ_ONE, add_extent, extents);
}

static int
s3blocks_cache (void *handle, uint32_t count, uint64_t offset,
                uint32_t flags)
{
  struct handle *h = handle;

  return volume_prefetch (h->volume, count, offset);
}

static struct nbdkit_plugin plugin = {
  .name               = "s3blocks",
  .longname           = "s3blocks: a sparse block device in S3",
  .version            = PACKAGE_VERSION,
  .description        = "Serve a block device stored as one S3 object per block",
  .load               = s3blocks_load,
  .unload             = s3blocks_unload,
  .config             = s3blocks_config,
  .config_complete    = s3blocks_config_complete,
  .config_help        = S3BLOCKS_CONFIG_HELP,
  .dump_plugin        = s3blocks_dump_plugin,
  .get_ready          = s3blocks_get_ready,
  .after_fork         = s3blocks_after_fork,
  .cleanup            = s3blocks_cleanup,
  .default_export     = s3blocks_default_export,
  .list_exports       = s3blocks_list_exports,
  .open               = s3blocks_open,
  .close              = s3blocks_close,
  .export_description = s3blocks_export_description,
  .get_size           = s3blocks_get_size,
  .block_size         = s3blocks_block_size,
  .can_write          = s3blocks_can_write,
  .can_flush          = s3blocks_can_true,
  .can_trim           = s3blocks_can_true,
  .can_zero           = s3blocks_can_true,
  .can_fast_zero      = s3blocks_can_true,
  .can_extents        = s3blocks_can_true,
  .can_multi_conn     = s3blocks_can_true,
  .can_fua            = s3blocks_can_fua,
  .can_cache          = s3blocks_can_cache,
  .is_rotational      = s3blocks_is_rotational,
  .pread              = s3blocks_pread,
  .pwrite             = s3blocks_pwrite,
  .zero               = s3blocks_zero,
  .trim               = s3blocks_trim,
  .flush              = s3blocks_flush,
  .extents            = s3blocks_extents,
  .cache              = s3blocks_cache,
  .errno_is_preserved = 1,
};

/* Connections to one export share its volume, with its own locking. */
#define THREAD_MODEL NBDKIT_THREAD_MODEL_PARALLEL

NBDKIT_REGISTER_PLUGIN (plugin)
