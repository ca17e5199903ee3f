/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: each configuration key's setter, and config_set, which
 * finds a key in the one table (S3BLOCKS_CONFIG_KEYS in options.h).
 */

#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "config/options.h"
#include "config-impl.h"
#include "format/names.h"
#include "store/credentials.h"

/* Each key's setter, named set_<field> after the key table. */

static int
set_export (struct s3blocks_config *c, const char *key, const char *value)
{
  struct name_ref ref;

  /* EXPORT@SNAP too: the default export may be a snapshot. */
  if (name_ref_parse (key, value, &ref) == -1)
    return -1;
  return set_string (&c->export_name, value);
}

static int
set_exports (struct s3blocks_config *c, const char *key, const char *value)
{
  const char *p;

  if (*value == '\0') {
    nbdkit_error ("%s: empty list of export name patterns", key);
    errno = EINVAL;
    return -1;
  }
  for (p = value; *p; p++) {
    unsigned char ch = *p;
    if (!isalnum (ch) && strchr ("._-*?[]!,", ch) == NULL) {
      nbdkit_error ("%s: unexpected character '%c' in \"%s\" (patterns "
                    "use export name characters and * ? [ ] !, "
                    "separated by commas)", key, ch, value);
      errno = EINVAL;
      return -1;
    }
  }
  return set_string (&c->exports, value);
}

static int
set_create (struct s3blocks_config *c, const char *key, const char *value)
{
  return parse_bool_key (key, value, &c->create);
}

/* Its syntax is the store's to check (validate, after config_complete). */
static int
set_endpoint (struct s3blocks_config *c, const char *key, const char *value)
{
  return set_string (&c->endpoint, value);
}

/* Naming rules are the store's to check (validate). */
static int
set_bucket (struct s3blocks_config *c, const char *key, const char *value)
{
  return set_string (&c->bucket, value);
}

static int
set_access_key (struct s3blocks_config *c, const char *key, const char *value)
{
  if (*value == '\0') {
    nbdkit_error ("%s: must not be empty", key);
    errno = EINVAL;
    return -1;
  }
  return set_string (&c->access_key, value);
}

static int
set_secret_key (struct s3blocks_config *c, const char *key, const char *value)
{
  char *secret = NULL;

  if (nbdkit_read_password (value, &secret) == -1) {
    nbdkit_error ("%s: could not read the secret key", key);
    errno = EINVAL;
    return -1;
  }
  if (*secret == '\0') {
    nbdkit_error ("%s: the secret key is empty", key);
    free (secret);
    errno = EINVAL;
    return -1;
  }
  if (c->secret_key)
    memset (c->secret_key, 0, strlen (c->secret_key));
  free (c->secret_key);
  c->secret_key = secret;
  return 0;
}

static int
set_region (struct s3blocks_config *c, const char *key, const char *value)
{
  const char *p;

  if (*value == '\0') {
    nbdkit_error ("%s: must not be empty", key);
    errno = EINVAL;
    return -1;
  }
  for (p = value; *p; p++)
    if (!isalnum ((unsigned char) *p) && *p != '-') {
      nbdkit_error ("%s: invalid region \"%s\"", key, value);
      errno = EINVAL;
      return -1;
    }
  return set_string (&c->region, value);
}

static int
set_profile (struct s3blocks_config *c, const char *key, const char *value)
{
  if (*value == '\0' || strchr (value, ']') || strchr (value, '\n')) {
    nbdkit_error ("%s: invalid profile name \"%s\"", key, value);
    errno = EINVAL;
    return -1;
  }
  return set_string (&c->profile, value);
}

static int
set_signature (struct s3blocks_config *c, const char *key, const char *value)
{
  if (strcmp (value, "v2") == 0)
    c->signature = SIGNATURE_V2;
  else if (strcmp (value, "v4") == 0)
    c->signature = SIGNATURE_V4;
  else {
    nbdkit_error ("%s: expected v2 or v4, got \"%s\"", key, value);
    errno = EINVAL;
    return -1;
  }
  return 0;
}

/* Read at validate: the file may be created between config and then. */
static int
set_ca_file (struct s3blocks_config *c, const char *key, const char *value)
{
  if (*value == '\0') {
    nbdkit_error ("%s: must not be empty", key);
    errno = EINVAL;
    return -1;
  }
  return set_string (&c->ca_file, value);
}

static int
set_tls_verify (struct s3blocks_config *c, const char *key, const char *value)
{
  return parse_bool_key (key, value, &c->tls_verify);
}

static int
set_size (struct s3blocks_config *c, const char *key, const char *value)
{
  return parse_size_key (key, value, 1, INT64_MAX, &c->size);
}

static int
set_block_size (struct s3blocks_config *c, const char *key, const char *value)
{
  int64_t bs;

  if (parse_size_key (key, value, MIN_BLOCK_SIZE, MAX_BLOCK_SIZE, &bs) == -1)
    return -1;
  if ((bs & (bs - 1)) != 0) {
    nbdkit_error ("%s: %" PRIi64 " is not a power of 2", key, bs);
    errno = EINVAL;
    return -1;
  }
  c->block_size = bs;
  return 0;
}

static int
set_uri_style (struct s3blocks_config *c, const char *key, const char *value)
{
  if (strcmp (value, "path") == 0)
    c->virtual_host = false;
  else if (strcmp (value, "virtual-host") == 0)
    c->virtual_host = true;
  else {
    nbdkit_error ("%s: expected path or virtual-host, got \"%s\"",
                  key, value);
    errno = EINVAL;
    return -1;
  }
  return 0;
}

static int
set_max_dirty (struct s3blocks_config *c, const char *key, const char *value)
{
  int64_t v;

  if (parse_size_key (key, value, 1, INT64_MAX, &v) == -1)
    return -1;
  c->max_dirty = v;
  return 0;
}

static int
set_cache_size (struct s3blocks_config *c, const char *key, const char *value)
{
  int64_t v;

  if (parse_size_key (key, value, 0, INT64_MAX, &v) == -1)
    return -1;
  c->cache_size = v;
  return 0;
}

static int
set_max_requests (struct s3blocks_config *c, const char *key,
                  const char *value)
{
  return parse_unsigned_key (key, value, 1, MAX_MAX_REQUESTS,
                             &c->max_requests);
}

static int
set_retries (struct s3blocks_config *c, const char *key, const char *value)
{
  return parse_unsigned_key (key, value, 0, 100, &c->retries);
}

static int
set_retry_delay (struct s3blocks_config *c, const char *key,
                 const char *value)
{
  return parse_duration_key (key, value, 1, 60 * 1000, &c->retry_delay_ms);
}

static int
set_timeout (struct s3blocks_config *c, const char *key, const char *value)
{
  return parse_duration_key (key, value, 100, 3600 * 1000, &c->timeout_ms);
}

static int
set_shrink (struct s3blocks_config *c, const char *key, const char *value)
{
  return parse_bool_key (key, value, &c->shrink);
}

static int
set_lease_time (struct s3blocks_config *c, const char *key,
                const char *value)
{
  return parse_duration_key (key, value, 1000, 3600 * 1000,
                             &c->lease_time_ms);
}

static int
set_take_over (struct s3blocks_config *c, const char *key, const char *value)
{
  return parse_bool_key (key, value, &c->take_over);
}

static int
set_write_delay (struct s3blocks_config *c, const char *key,
                 const char *value)
{
  return parse_duration_key (key, value, 0, 3600 * 1000,
                             &c->write_delay_ms);
}

static int
set_rebuild_map (struct s3blocks_config *c, const char *key,
                 const char *value)
{
  return parse_bool_key (key, value, &c->rebuild_map);
}

static int
set_layout (struct s3blocks_config *c, const char *key, const char *value)
{
  if (strcmp (value, "plain") == 0)
    c->layout = EXPORT_LAYOUT_PLAIN;
  else if (strcmp (value, "cas") == 0)
    c->layout = EXPORT_LAYOUT_CAS;
  else if (strcmp (value, "log") == 0)
    c->layout = EXPORT_LAYOUT_LOG;
  else {
    nbdkit_error ("%s: expected plain, cas or log, got \"%s\"", key, value);
    errno = EINVAL;
    return -1;
  }
  return 0;
}

static int
set_map_cache_size (struct s3blocks_config *c, const char *key,
                    const char *value)
{
  int64_t v;

  if (parse_size_key (key, value, 0, INT64_MAX, &v) == -1)
    return -1;
  c->map_cache_size = v;
  return 0;
}

static int
set_cas_reuse_window (struct s3blocks_config *c, const char *key,
                      const char *value)
{
  return parse_duration_key (key, value, 0, 24 * 3600 * 1000,
                             &c->cas_reuse_window_ms);
}

/* At least 16 blocks of block-size: config_complete, which knows it. */
static int
set_segment_size (struct s3blocks_config *c, const char *key,
                  const char *value)
{
  int64_t v;

  if (parse_size_key (key, value, MIN_SEGMENT_SIZE_KEY, MAX_SEGMENT_SIZE,
                      &v) == -1)
    return -1;
  c->segment_size = v;
  return 0;
}

/* ADDRESS:PORT, the address numeric (IPv4, or IPv6 in brackets): the
 * plugin binds it before serving (plugin/metrics-http.c), and says
 * there if it cannot.
 */
static int
set_metrics (struct s3blocks_config *c, const char *key, const char *value)
{
  const char *colon = strrchr (value, ':');
  char *end;
  unsigned long port;

  if (colon == NULL || colon == value) {
    nbdkit_error ("%s: expected ADDRESS:PORT, e.g. 127.0.0.1:9101, not "
                  "\"%s\"", key, value);
    errno = EINVAL;
    return -1;
  }
  errno = 0;
  port = strtoul (colon + 1, &end, 10);
  if (errno || *end || !isdigit ((unsigned char) colon[1]) || port == 0 ||
      port > 65535) {
    nbdkit_error ("%s: invalid port \"%s\" in \"%s\" (1 to 65535)", key,
                  colon + 1, value);
    errno = EINVAL;
    return -1;
  }
  return set_string (&c->metrics, value);
}

/* Written first at get_ready, which says if it cannot be. */
static int
set_metrics_file (struct s3blocks_config *c, const char *key,
                  const char *value)
{
  if (*value == '\0') {
    nbdkit_error ("%s: must not be empty", key);
    errno = EINVAL;
    return -1;
  }
  return set_string (&c->metrics_file, value);
}

static int
set_log_compact_rate (struct s3blocks_config *c, const char *key,
                      const char *value)
{
  int64_t v;

  if (parse_size_key (key, value, 0, INT64_MAX / 1000, &v) == -1)
    return -1;
  c->log_compact_rate = v;
  return 0;
}

/* A decimal fraction, 0 to 1, kept in thousandths: "0.6", "0.75", "1". */
static int
set_log_compact_threshold (struct s3blocks_config *c, const char *key,
                           const char *value)
{
  unsigned whole = 0, pm = 0, scale = 100;
  const char *p = value;

  if (*p >= '0' && *p <= '9')
    whole = *p++ - '0';
  else if (*p != '.')
    goto bad;
  if (*p == '.') {
    p++;
    if (!(*p >= '0' && *p <= '9'))
      goto bad;
    for (; *p >= '0' && *p <= '9'; p++, scale /= 10)
      pm += (*p - '0') * scale;
  }
  if (*p != 0 || whole > 1 || (whole == 1 && pm > 0))
    goto bad;
  c->log_compact_threshold_pm = whole * 1000 + pm;
  return 0;
 bad:
  nbdkit_error ("%s=%s: not a fraction from 0 to 1 (such as 0.6)",
                key, value);
  errno = EINVAL;
  return -1;
}

struct config_key {
  const char *name;
  int (*set) (struct s3blocks_config *c, const char *key, const char *value);
};

#define TABLE_ENTRY(name, field, syntax, help) { name, set_##field },
static const struct config_key keys[] = {
  S3BLOCKS_CONFIG_KEYS (TABLE_ENTRY)
};
#define NR_KEYS (sizeof keys / sizeof keys[0])

int
config_set (struct s3blocks_config *c, const char *key, const char *value)
{
  size_t i;

  for (i = 0; i < NR_KEYS; i++) {
    if (strcmp (keys[i].name, key) == 0) {
      if (c->given & (UINT64_C (1) << i)) {
        nbdkit_error ("%s: given more than once", key);
        errno = EINVAL;
        return -1;
      }
      if (keys[i].set (c, key, value) == -1)
        return -1;
      c->given |= UINT64_C (1) << i;
      return 0;
    }
  }
  nbdkit_error ("unknown parameter \"%s\" "
                "(nbdkit s3blocks --help lists them)", key);
  errno = EINVAL;
  return -1;
}
