/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: configuration keys, their parsing and validation. */

#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "config/options.h"
#include "format/names.h"
#include "store/credentials.h"

static int
set_string (char **field, const char *value)
{
  char *copy = strdup (value);

  if (copy == NULL) {
    nbdkit_error ("strdup: %m");
    return -1;
  }
  free (*field);
  *field = copy;
  return 0;
}

static int
parse_bool_key (const char *key, const char *value, bool *r)
{
  int b = nbdkit_parse_bool (value);

  if (b == -1) {
    nbdkit_error ("%s: expected true or false, got \"%s\"", key, value);
    errno = EINVAL;
    return -1;
  }
  *r = b;
  return 0;
}

/* A size key: nbdkit_parse_size forms, within [min, max]. */
static int
parse_size_key (const char *key, const char *value,
                int64_t min, int64_t max, int64_t *r)
{
  int64_t size = nbdkit_parse_size (value);

  if (size == -1) {
    /* nbdkit_parse_size has said why; add which key. */
    nbdkit_error ("%s: cannot parse size \"%s\"", key, value);
    errno = EINVAL;
    return -1;
  }
  if (size < min || size > max) {
    nbdkit_error ("%s: %" PRIi64 " is out of range (%" PRIi64
                  " to %" PRIi64 ")", key, size, min, max);
    errno = ERANGE;
    return -1;
  }
  *r = size;
  return 0;
}

static int
parse_unsigned_key (const char *key, const char *value,
                    unsigned min, unsigned max, unsigned *r)
{
  unsigned u;

  if (nbdkit_parse_unsigned (key, value, &u) == -1) {
    errno = EINVAL;
    return -1;
  }
  if (u < min || u > max) {
    nbdkit_error ("%s: %u is out of range (%u to %u)", key, u, min, max);
    errno = ERANGE;
    return -1;
  }
  *r = u;
  return 0;
}

/* "250ms", "2s", "1m" or a bare number of seconds. */
int
parse_duration_ms (const char *what, const char *value, unsigned *ms)
{
  char *end;
  unsigned long long n, scale;

  errno = 0;
  if (!isdigit ((unsigned char) value[0]))
    goto bad;
  n = strtoull (value, &end, 10);
  if (errno != 0)
    goto bad;
  if (strcmp (end, "ms") == 0)
    scale = 1;
  else if (strcmp (end, "") == 0 || strcmp (end, "s") == 0)
    scale = 1000;
  else if (strcmp (end, "m") == 0)
    scale = 60 * 1000;
  else
    goto bad;
  if (n > UINT_MAX / scale)
    goto bad;
  *ms = n * scale;
  return 0;

 bad:
  nbdkit_error ("%s: cannot parse duration \"%s\" "
                "(expected e.g. 500ms, 30s or 2m)", what, value);
  errno = EINVAL;
  return -1;
}

static int
parse_duration_key (const char *key, const char *value,
                    unsigned min_ms, unsigned max_ms, unsigned *r)
{
  unsigned ms;

  if (parse_duration_ms (key, value, &ms) == -1)
    return -1;
  if (ms < min_ms || ms > max_ms) {
    nbdkit_error ("%s: %s is out of range (%ums to %ums)",
                  key, value, min_ms, max_ms);
    errno = ERANGE;
    return -1;
  }
  *r = ms;
  return 0;
}

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
  else {
    nbdkit_error ("%s: expected plain or cas, got \"%s\"", key, value);
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
      if (c->given & (UINT32_C (1) << i)) {
        nbdkit_error ("%s: given more than once", key);
        errno = EINVAL;
        return -1;
      }
      if (keys[i].set (c, key, value) == -1)
        return -1;
      c->given |= UINT32_C (1) << i;
      return 0;
    }
  }
  nbdkit_error ("unknown parameter \"%s\" "
                "(nbdkit s3blocks --help lists them)", key);
  errno = EINVAL;
  return -1;
}

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
}
