/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3ceiling: the raw request rate of an S3 server, measured with libs3
 * request contexts and nothing else: the physical limit s3blocks is
 * compared with.
 *
 *   s3ceiling ENDPOINT BUCKET PREFIX OP CONCURRENCY SECONDS [SIZE [KEYS]]
 *
 * OP is put, get, range or fill.  Keeps CONCURRENCY requests of SIZE
 * bytes (4096) in flight on one request context for SECONDS, cycling
 * over the KEYS keys (4096) PREFIX/00000000 to PREFIX/00004095, and
 * prints
 * "OP CONCURRENCY REQUESTS_PER_SECOND CPU_SECONDS_PER_REQUEST".
 * fill writes each key once (get reads them: fill first) and stops.
 * range reads 4 KiB at a random 4 KiB-aligned place in objects of SIZE
 * bytes (fill them first): a random read of a block in a segment.
 * Credentials from S3_ACCESS_KEY and S3_SECRET_KEY.
 */

#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <time.h>

#include <libs3.h>

#define NR_KEYS 4096

struct slot {
  char key[256];
  size_t pos;
  int busy;
};

static S3BucketContext bucket;
static S3RequestContext *ctx;
static char *payload;
static size_t size = 4096;
static int op_put, op_fill, op_range;
static uint64_t done, failed;
static unsigned next_key;
static unsigned nr_keys = NR_KEYS;
static const char *prefix;

static double
now (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double
cpu_seconds (void)
{
  struct rusage ru;

  getrusage (RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6
    + ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static S3Status
props (const S3ResponseProperties *p, void *data)
{
  return S3StatusOK;
}

static void
complete (S3Status status, const S3ErrorDetails *e, void *data)
{
  struct slot *s = data;

  s->busy = 0;
  if (status == S3StatusOK)
    done++;
  else if (failed++ < 5)
    fprintf (stderr, "s3ceiling: %s %s: %s\n", op_put ? "PUT" : "GET",
             s->key, S3_get_status_name (status));
}

static int
put_data (int n, char *buf, void *data)
{
  struct slot *s = data;
  size_t left = size - s->pos;

  if ((size_t) n > left)
    n = left;
  memcpy (buf, payload + s->pos, n);
  s->pos += n;
  return n;
}

static S3Status
get_data (int n, const char *buf, void *data)
{
  return S3StatusOK;
}

static void
start (struct slot *s)
{
  static const S3PutObjectHandler put_handler = {
    { props, complete }, put_data
  };
  static const S3GetObjectHandler get_handler = {
    { props, complete }, get_data
  };

  snprintf (s->key, sizeof s->key, "%s/%08u", prefix,
            next_key++ % nr_keys);
  s->pos = 0;
  s->busy = 1;
  if (op_put)
    S3_put_object (&bucket, s->key, size, NULL, ctx, &put_handler, s);
  else if (op_range)
    S3_get_object (&bucket, s->key, NULL,
                   (uint64_t) (random () % (size / 4096)) * 4096, 4096,
                   ctx, &get_handler, s);
  else
    S3_get_object (&bucket, s->key, NULL, 0, 0, ctx, &get_handler, s);
}

int
main (int argc, char *argv[])
{
  const char *endpoint, *access, *secret;
  unsigned concurrency, i;
  double seconds, t0, end, cpu0;
  struct slot *slots;
  int remaining;

  if (argc < 7) {
    fprintf (stderr, "usage: s3ceiling ENDPOINT BUCKET PREFIX put|get|range|fill "
             "CONCURRENCY SECONDS [SIZE [KEYS]]\n");
    return 2;
  }
  endpoint = argv[1];
  prefix = argv[3];
  op_fill = strcmp (argv[4], "fill") == 0;
  op_put = op_fill || strcmp (argv[4], "put") == 0;
  op_range = strcmp (argv[4], "range") == 0;
  concurrency = atoi (argv[5]);
  seconds = atof (argv[6]);
  if (argc > 7)
    size = strtoul (argv[7], NULL, 10);
  if (argc > 8)
    nr_keys = strtoul (argv[8], NULL, 10);
  access = getenv ("S3_ACCESS_KEY");
  secret = getenv ("S3_SECRET_KEY");
  if (nr_keys == 0 || nr_keys > NR_KEYS || size == 0 ||
      (op_range && size % 4096)) {
    fprintf (stderr, "s3ceiling: SIZE must be positive (for range, a multiple of 4096), KEYS 1 to %u\n",
             NR_KEYS);
    return 2;
  }
  if (!access || !secret || concurrency == 0 || seconds <= 0) {
    fprintf (stderr, "s3ceiling: set S3_ACCESS_KEY and S3_SECRET_KEY\n");
    return 2;
  }

  bucket.hostName = strstr (endpoint, "://") ? strstr (endpoint, "://") + 3
    : endpoint;
  bucket.protocol = strncmp (endpoint, "https", 5) == 0 ? S3ProtocolHTTPS
    : S3ProtocolHTTP;
  bucket.bucketName = argv[2];
  bucket.uriStyle = S3UriStylePath;
  bucket.accessKeyId = access;
  bucket.secretAccessKey = secret;

  payload = malloc (size);
  for (i = 0; i < size; i++)
    payload[i] = (char) (i * 131 + 7);
  slots = calloc (concurrency, sizeof *slots);
  if (S3_initialize ("s3ceiling", S3_INIT_ALL, NULL) != S3StatusOK ||
      S3_create_request_context (&ctx) != S3StatusOK)
    return 1;

  t0 = now ();
  cpu0 = cpu_seconds ();
  end = t0 + seconds;
  for (;;) {
    fd_set r, w, e;
    int maxfd = -1;
    int64_t timeout;
    struct timeval tv;
    int idle = 0;

    if (op_fill ? next_key < nr_keys : now () < end)
      for (i = 0; i < concurrency && (!op_fill || next_key < nr_keys); i++)
        if (!slots[i].busy)
          start (&slots[i]);
    for (i = 0; i < concurrency; i++)
      idle += !slots[i].busy;
    if (idle == (int) concurrency)
      break;
    FD_ZERO (&r);
    FD_ZERO (&w);
    FD_ZERO (&e);
    S3_get_request_context_fdsets (ctx, &r, &w, &e, &maxfd);
    timeout = S3_get_request_context_timeout (ctx);
    if (timeout < 0 || timeout > 100)
      timeout = 100;
    if (maxfd == -1 && timeout > 1)
      timeout = 1;
    tv.tv_sec = 0;
    tv.tv_usec = timeout * 1000;
    select (maxfd + 1, &r, &w, &e, &tv);
    S3_runonce_request_context (ctx, &remaining);
  }
  seconds = now () - t0;
  printf ("%s %u %.0f %.6f\n", op_put ? "put" : op_range ? "range" : "get",
          concurrency,
          done / seconds, done ? (cpu_seconds () - cpu0) / done : 0.0);
  S3_destroy_request_context (ctx);
  S3_deinitialize ();
  return failed ? 1 : 0;
}
