/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the configuration's defaults, completion (credentials
 * files, consistency between keys), the bounds derived from it, and
 * its dump.  Keys and their setters: keys.c; value parsers: values.c.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "config/options.h"
#include "config-impl.h"
#include "format/names.h"
#include "store/credentials.h"


int
config_init (struct s3blocks_config *c)
{
  static const struct { const char *key, *value; } defaults[] = {
    { "export", DEFAULT_EXPORT },
    { "endpoint", DEFAULT_ENDPOINT },
    { "bucket", DEFAULT_BUCKET },
    { "access-key", DEFAULT_ACCESS_KEY },
    { "region", DEFAULT_REGION },
    { "max-dirty", DEFAULT_MAX_DIRTY },
    { "cache-size", DEFAULT_CACHE_SIZE },
    { "retry-delay", DEFAULT_RETRY_DELAY },
    { "timeout", DEFAULT_TIMEOUT },
    { "lease-time", DEFAULT_LEASE_TIME },
    { "write-delay", DEFAULT_WRITE_DELAY },
    { "map-cache-size", DEFAULT_MAP_CACHE_SIZE },
    { "cas-reuse-window", DEFAULT_REUSE_WINDOW },
    { "segment-size", DEFAULT_SEGMENT_SIZE },
    { "log-compact-rate", DEFAULT_COMPACT_RATE },
    { "log-compact-threshold", DEFAULT_COMPACT_THRESHOLD },
  };
  size_t i;

  memset (c, 0, sizeof *c);
  c->create = true;
  c->size = -1;
  c->block_size = DEFAULT_BLOCK_SIZE;
  c->max_requests = DEFAULT_MAX_REQUESTS;
  c->tls_verify = true;
  c->retries = DEFAULT_RETRIES;
  c->secret_key = strdup (DEFAULT_SECRET_KEY);
  if (c->secret_key == NULL) {
    nbdkit_error ("strdup: %m");
    return -1;
  }
  for (i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
    if (config_set (c, defaults[i].key, defaults[i].value) == -1)
      return -1;
  /* Defaults do not count as given. */
  c->given = 0;
  return 0;
}

void
config_free (struct s3blocks_config *c)
{
  free (c->export_name);
  free (c->exports);
  free (c->endpoint);
  free (c->bucket);
  free (c->access_key);
  if (c->secret_key)
    memset (c->secret_key, 0, strlen (c->secret_key));
  free (c->secret_key);
  if (c->session_token)
    memset (c->session_token, 0, strlen (c->session_token));
  free (c->session_token);
  free (c->region);
  free (c->profile);
  free (c->ca_file);
  free (c->metrics);
  free (c->metrics_file);
  memset (c, 0, sizeof *c);
}

/* No access-key= on the command line: the environment or the AWS
 * credentials file, if they have keys; else the defaults stay.
 */
static int
find_credentials (struct s3blocks_config *c)
{
  struct credentials cred;
  char from[4200];
  int r;

  if (c->given & CONFIG_GIVEN (access_key)) {
    if (!(c->given & CONFIG_GIVEN (secret_key))) {
      nbdkit_error ("access-key= was given without secret-key=: give both");
      errno = EINVAL;
      return -1;
    }
    return 0;
  }
  if (c->given & CONFIG_GIVEN (secret_key))
    return 0;                   /* the default access key, another secret */
  r = credentials_find (c->profile, &cred, from, sizeof from);
  if (r <= 0)
    return r;
  nbdkit_debug ("credentials from %s%s", from,
                cred.session_token ? ", with a session token" : "");
  free (c->access_key);
  if (c->secret_key)
    memset (c->secret_key, 0, strlen (c->secret_key));
  free (c->secret_key);
  c->access_key = cred.access_key;
  c->secret_key = cred.secret_key;
  c->session_token = cred.session_token;
  return 0;
}

int
config_complete (struct s3blocks_config *c)
{
  if (find_credentials (c) == -1)
    return -1;
  if (c->signature == SIGNATURE_AUTO)
    c->signature = strncmp (c->endpoint, "https://", 8) == 0
      ? SIGNATURE_V4 : SIGNATURE_V2;
  if (c->session_token && c->signature == SIGNATURE_V2) {
    nbdkit_error ("temporary credentials (a session token) need "
                  "Signature V4: use signature=v4, or long-term keys");
    errno = EINVAL;
    return -1;
  }
  if (c->max_dirty < c->block_size) {
    nbdkit_error ("max-dirty (%" PRIu64 ") must be at least block-size "
                  "(%" PRIu32 ")", c->max_dirty, c->block_size);
    errno = EINVAL;
    return -1;
  }
  if (c->segment_size < (uint64_t) MIN_SEGMENT_BLOCKS * c->block_size) {
    nbdkit_error ("segment-size (%" PRIu64 ") must hold at least %d "
                  "blocks of block-size (%" PRIu32 ")", c->segment_size,
                  MIN_SEGMENT_BLOCKS, c->block_size);
    errno = EINVAL;
    return -1;
  }
  if (!name_allowed (c->exports, c->export_name)) {
    nbdkit_error ("export=%s is not allowed by exports=%s",
                  c->export_name, c->exports);
    errno = EINVAL;
    return -1;
  }
  return 0;
}

uint64_t
config_request_bound_ms (const struct s3blocks_config *c)
{
  uint64_t delays = 0, delay = c->retry_delay_ms;

  /* Each attempt up to the timeout; the delays double, up to the
   * engines' cap of 30 s.
   */
  for (unsigned i = 0; i < c->retries; i++) {
    delays += delay;
    if (delay < 30000)
      delay *= 2;
  }
  return (uint64_t) (c->retries + 1) * c->timeout_ms + delays;
}

/* Refresh (GET, PUT), pages (reads on the way down, writes) and the
 * root: a handful of rounds of requests; the commit checks the bound
 * before its root PUT rather than trusting the count.
 */
uint64_t
config_commit_bound_ms (const struct s3blocks_config *c)
{
  return 4 * config_request_bound_ms (c);
}

struct store_params
config_store_params (const struct s3blocks_config *c)
{
  return (struct store_params) {
    .endpoint = c->endpoint,
    .bucket = c->bucket,
    .access_key = c->access_key,
    .secret_key = c->secret_key,
    .session_token = c->session_token,
    .region = c->region,
    .virtual_host = c->virtual_host,
    .ca_file = c->ca_file,
    .tls_verify = c->tls_verify,
    .max_requests = c->max_requests,
    .retries = c->retries,
    .retry_delay_ms = c->retry_delay_ms,
    .timeout_ms = c->timeout_ms,
  };
}

const struct store_type *
config_store_type (const struct s3blocks_config *c)
{
  return c->signature == SIGNATURE_V4 ? &curlstore_type : &s3store_type;
}

void
config_dump (const struct s3blocks_config *c,
             void (*print) (const char *key, const char *value, void *opaque),
             void *opaque)
{
  char buf[64];

  print ("export", c->export_name, opaque);
  print ("exports", c->exports ? c->exports : "*", opaque);
  print ("create", c->create ? "true" : "false", opaque);
  print ("endpoint", c->endpoint, opaque);
  print ("bucket", c->bucket, opaque);
  print ("access-key", c->access_key, opaque);
  /* The secret key is never shown, not even its length. */
  print ("region", c->region, opaque);
  print ("profile", c->profile ? c->profile : "", opaque);
  print ("signature", c->signature == SIGNATURE_V4 ? "v4"
         : c->signature == SIGNATURE_V2 ? "v2" : "auto", opaque);
  print ("ca-file", c->ca_file ? c->ca_file : "", opaque);
  print ("tls-verify", c->tls_verify ? "true" : "false", opaque);
  if (c->size >= 0) {
    snprintf (buf, sizeof buf, "%" PRIi64, c->size);
    print ("size", buf, opaque);
  }
  snprintf (buf, sizeof buf, "%" PRIu32, c->block_size);
  print ("block-size", buf, opaque);
  print ("uri-style", c->virtual_host ? "virtual-host" : "path", opaque);
  snprintf (buf, sizeof buf, "%" PRIu64, c->max_dirty);
  print ("max-dirty", buf, opaque);
  snprintf (buf, sizeof buf, "%" PRIu64, c->cache_size);
  print ("cache-size", buf, opaque);
  snprintf (buf, sizeof buf, "%u", c->max_requests);
  print ("max-requests", buf, opaque);
  snprintf (buf, sizeof buf, "%u", c->retries);
  print ("retries", buf, opaque);
  snprintf (buf, sizeof buf, "%ums", c->retry_delay_ms);
  print ("retry-delay", buf, opaque);
  snprintf (buf, sizeof buf, "%ums", c->timeout_ms);
  print ("timeout", buf, opaque);
  print ("shrink", c->shrink ? "true" : "false", opaque);
  snprintf (buf, sizeof buf, "%ums", c->lease_time_ms);
  print ("lease-time", buf, opaque);
  print ("take-over-lease", c->take_over ? "true" : "false", opaque);
  snprintf (buf, sizeof buf, "%ums", c->write_delay_ms);
  print ("write-delay", buf, opaque);
  print ("rebuild-map", c->rebuild_map ? "true" : "false", opaque);
  print ("layout", export_layout_name (c->layout), opaque);
  snprintf (buf, sizeof buf, "%" PRIu64, c->map_cache_size);
  print ("map-cache-size", buf, opaque);
  snprintf (buf, sizeof buf, "%ums", c->cas_reuse_window_ms);
  print ("cas-reuse-window", buf, opaque);
  snprintf (buf, sizeof buf, "%" PRIu64, c->segment_size);
  print ("segment-size", buf, opaque);
  snprintf (buf, sizeof buf, "%" PRIu64, c->log_compact_rate);
  print ("log-compact-rate", buf, opaque);
  snprintf (buf, sizeof buf, "%u.%03u", c->log_compact_threshold_pm / 1000,
            c->log_compact_threshold_pm % 1000);
  print ("log-compact-threshold", buf, opaque);
  print ("metrics", c->metrics ? c->metrics : "", opaque);
  print ("metrics-file", c->metrics_file ? c->metrics_file : "", opaque);
}
