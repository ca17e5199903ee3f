/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: configuration keys, their parsing and validation.
 *
 * Every key is listed once, in S3BLOCKS_CONFIG_KEYS: the help text
 * (nbdkit --help), the parser table and --dump-plugin all come from
 * that list, so they cannot drift apart.
 */

#ifndef S3BLOCKS_CONFIG_H
#define S3BLOCKS_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "format/limits.h"
#include "format/meta.h"
#include "store/store.h"

#define DEFAULT_EXPORT       "default"
#define DEFAULT_ENDPOINT     "http://localhost:9000"
#define DEFAULT_BUCKET       "nbd-storage"
#define DEFAULT_ACCESS_KEY   "minioadmin"
#define DEFAULT_SECRET_KEY   "minioadmin"
#define DEFAULT_REGION       "us-east-1"
#define DEFAULT_BLOCK_SIZE   4096
#define DEFAULT_MAX_DIRTY    "256M"
#define DEFAULT_CACHE_SIZE   "64M"
#define DEFAULT_MAX_REQUESTS 32
#define DEFAULT_RETRIES      5
#define DEFAULT_RETRY_DELAY  "100ms"
#define DEFAULT_TIMEOUT      "30s"
#define DEFAULT_LEASE_TIME   "60s"
#define DEFAULT_WRITE_DELAY  "5s"
#define DEFAULT_MAP_CACHE_SIZE "64M"
#define DEFAULT_REUSE_WINDOW "30m"
#define DEFAULT_SEGMENT_SIZE "8M"
#define DEFAULT_COMPACT_RATE "32M"
#define DEFAULT_COMPACT_THRESHOLD "0.6"
/* segment-size=: 64K to MAX_SEGMENT_SIZE (256M), and 16 blocks. */
#define MIN_SEGMENT_SIZE_KEY (64 * 1024)
#define MIN_SEGMENT_BLOCKS 16

#define MAX_MAX_REQUESTS     STORE_MAX_INFLIGHT

/* KEY (name, field, value syntax, help).  One line of help each. */
#define S3BLOCKS_CONFIG_KEYS(KEY)                                         \
  KEY ("export", export, "NAME",                                        \
       "default export name (default: " DEFAULT_EXPORT ")")             \
  KEY ("exports", exports, "GLOB[,GLOB...]",                            \
       "export names clients may open (default: any)")                  \
  KEY ("create", create, "true|false",                                  \
       "create exports that do not exist yet (default: true)")          \
  KEY ("endpoint", endpoint, "URL",                                     \
       "http[s]://host[:port] (default: " DEFAULT_ENDPOINT ")")         \
  KEY ("bucket", bucket, "NAME",                                        \
       "bucket, created when missing (default: " DEFAULT_BUCKET ")")    \
  KEY ("access-key", access_key, "KEY",                                 \
       "S3 access key (default: " DEFAULT_ACCESS_KEY ")")               \
  KEY ("secret-key", secret_key, "SECRET|+FILE|-FD|-",                  \
       "S3 secret key (default: " DEFAULT_SECRET_KEY ")")               \
  KEY ("region", region, "REGION",                                      \
       "region, signed by V4 (default: " DEFAULT_REGION ")")            \
  KEY ("profile", profile, "NAME",                                      \
       "profile in the AWS credentials file (default: $AWS_PROFILE "    \
       "or default)")                                                   \
  KEY ("signature", signature, "v2|v4",                                 \
       "v4 (libcurl) or v2 (libs3) (default: v4 for https://, v2 for "  \
       "http://)")                                                      \
  KEY ("ca-file", ca_file, "FILE",                                      \
       "CA certificates to verify the server with (default: the "       \
       "system's)")                                                     \
  KEY ("tls-verify", tls_verify, "true|false",                          \
       "verify an https:// server's certificate (default: true)")       \
  KEY ("size", size, "SIZE",                                            \
       "export size, e.g. 1G (required for a new export)")              \
  KEY ("block-size", block_size, "SIZE",                                \
       "bytes per object, power of 2, 512 to 1M (default: 4096)")       \
  KEY ("uri-style", uri_style, "path|virtual-host",                     \
       "bucket in the URL path or host name (default: path)")           \
  KEY ("max-dirty", max_dirty, "SIZE",                                  \
       "unflushed data held in memory (default: " DEFAULT_MAX_DIRTY ")") \
  KEY ("cache-size", cache_size, "SIZE",                                \
       "clean blocks cached, 0 = off (default: " DEFAULT_CACHE_SIZE ")") \
  KEY ("max-requests", max_requests, "N",                               \
       "S3 requests in flight, all exports together (default: 32)")             \
  KEY ("retries", retries, "N",                                         \
       "retries of a failed S3 request (default: 5)")                   \
  KEY ("retry-delay", retry_delay, "TIME",                              \
       "first retry delay, doubled each retry (default: "               \
       DEFAULT_RETRY_DELAY ")")                                         \
  KEY ("timeout", timeout, "TIME",                                      \
       "longest one S3 request may take (default: " DEFAULT_TIMEOUT ")") \
  KEY ("shrink", shrink, "true|false",                                  \
       "allow size= to shrink an export (default: false)")              \
  KEY ("lease-time", lease_time, "TIME",                                \
       "single-writer lease lifetime (default: " DEFAULT_LEASE_TIME ")") \
  KEY ("take-over-lease", take_over, "true|false",                      \
       "take another host's lease before it expires (default: false)")       \
  KEY ("write-delay", write_delay, "TIME",                              \
       "upload dirty data older than this in the background, 0 = off "  \
       "(default: " DEFAULT_WRITE_DELAY ")")                            \
  KEY ("rebuild-map", rebuild_map, "true|false",                        \
       "rebuild each export's allocation map by listing its blocks "    \
       "(default: false)")                                              \
  KEY ("layout", layout, "plain|cas|log",                               \
       "layout of new exports: a block per object, content-addressed "  \
       "with atomic flushes and dedup, or blocks packed into segments " \
       "(default: plain)")                                              \
  KEY ("map-cache-size", map_cache_size, "SIZE",                        \
       "cas map pages cached per export (default: "                     \
       DEFAULT_MAP_CACHE_SIZE ")")                                      \
  KEY ("cas-reuse-window", cas_reuse_window, "TIME",                    \
       "cas: skip the upload of content this server uploaded within "   \
       "this time (default: " DEFAULT_REUSE_WINDOW ")")                \
  KEY ("segment-size", segment_size, "SIZE",                            \
       "log: bytes of blocks packed into one object, 64K to 256M, at "  \
       "least 16 blocks (default: " DEFAULT_SEGMENT_SIZE ")")          \
  KEY ("log-compact-rate", log_compact_rate, "SIZE",                    \
       "log: bytes per second compaction reads plus writes, 0 = off "   \
       "(default: " DEFAULT_COMPACT_RATE ")")                           \
  KEY ("log-compact-threshold", log_compact_threshold, "FRACTION",      \
       "log: compact segments with less than this fraction live, 0 to " \
       "1 (default: " DEFAULT_COMPACT_THRESHOLD ")")                    \
  KEY ("metrics", metrics, "ADDRESS:PORT",                              \
       "serve Prometheus metrics on http://ADDRESS:PORT/metrics "       \
       "(default: off)")                                                \
  KEY ("metrics-file", metrics_file, "PATH",                            \
       "write Prometheus metrics to PATH every few seconds (default: "  \
       "off)")

struct s3blocks_config {
  char *export_name;            /* default export */
  char *exports;                /* comma-separated globs, or NULL */
  bool create;

  char *endpoint;               /* as given; the store checks it */
  char *bucket;                 /* the store checks its name too */
  char *access_key;
  char *secret_key;
  char *session_token;          /* from the environment or file only */
  char *region;
  char *profile;                /* NULL: AWS_PROFILE or default */
  enum { SIGNATURE_AUTO, SIGNATURE_V2, SIGNATURE_V4 } signature;
  char *ca_file;
  bool tls_verify;
  bool virtual_host;

  int64_t size;                 /* -1: not given */
  uint32_t block_size;
  uint64_t max_dirty;
  uint64_t cache_size;
  unsigned max_requests;
  unsigned retries;
  unsigned retry_delay_ms;
  unsigned timeout_ms;
  bool shrink;
  unsigned lease_time_ms;
  bool take_over;
  unsigned write_delay_ms;      /* 0: no background write-back */
  bool rebuild_map;
  enum export_layout layout;    /* of new exports */
  uint64_t map_cache_size;
  unsigned cas_reuse_window_ms;
  uint64_t segment_size;        /* log exports' segments, bytes */
  uint64_t log_compact_rate;    /* bytes/s; 0: no compaction */
  unsigned log_compact_threshold_pm;    /* thousandths */
  char *metrics;                /* ADDRESS:PORT, or NULL: not served */
  char *metrics_file;           /* or NULL: not written */

  /* Which keys were given, to refuse duplicates. */
  uint64_t given;
};

/* Fill in defaults.  Returns -1 (errno ENOMEM) on allocation failure. */
extern int config_init (struct s3blocks_config *c);
extern void config_free (struct s3blocks_config *c);

/* Apply one key=value.  On error calls nbdkit_error naming the key and
 * returns -1 with errno set.
 */
extern int config_set (struct s3blocks_config *c,
                       const char *key, const char *value);

/* Cross-key checks once every key is in, and what follows from them:
 * credentials from the environment or the AWS credentials file when
 * no access-key= was given (credentials.h), the signature from the
 * endpoint's scheme.  The endpoint and bucket are left to the store
 * type's validate.
 */
extern int config_complete (struct s3blocks_config *c);

/* The longest one store request may take, its retries and their
 * delays included, and the longest a cas commit may take (gc relies on
 * it: docs/gc-safety.md, step 4).
 */
extern uint64_t config_request_bound_ms (const struct s3blocks_config *c);
extern uint64_t config_commit_bound_ms (const struct s3blocks_config *c);

/* What the store is opened with; its strings point into c. */
extern struct store_params config_store_params (const struct s3blocks_config *c);

/* The store type signature= (resolved by config_complete) selects. */
extern const struct store_type *config_store_type (const struct s3blocks_config *c);

/* Print the effective configuration as key=value lines, secrets
 * hidden, for --dump-plugin and debugging.
 */
extern void config_dump (const struct s3blocks_config *c,
                         void (*print) (const char *key, const char *value,
                                        void *opaque),
                         void *opaque);

/* Validation helpers, shared with the export registry. */
extern int parse_duration_ms (const char *what, const char *value,
                              unsigned *ms);

/* Bits of s3blocks_config.given: cfg.given & CONFIG_GIVEN (block_size). */
#define KEY_ENUM(name, field, syntax, help) CONFIG_KEY_##field,
enum { S3BLOCKS_CONFIG_KEYS (KEY_ENUM) CONFIG_NR_KEYS };
#define CONFIG_GIVEN(field) (UINT64_C (1) << CONFIG_KEY_##field)
_Static_assert (CONFIG_NR_KEYS <= 64, "s3blocks_config.given has 64 bits");

#define HELP_LINE(name, field, syntax, help) name "=" syntax "\n    " help ".\n"
#define S3BLOCKS_CONFIG_HELP S3BLOCKS_CONFIG_KEYS (HELP_LINE)

#endif /* S3BLOCKS_CONFIG_H */
