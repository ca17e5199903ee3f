/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the V4 store's internals, shared by store-curl.c (requests)
 * and store-curl-check.c (the startup check).
 */

#ifndef S3BLOCKS_STORE_CURL_IMPL_H
#define S3BLOCKS_STORE_CURL_IMPL_H

#include "store/curl/curl-engine.h"
#include "store/store.h"

struct curlstore {
  struct store base;
  struct curl_engine *engine;
  struct curl_engine_config cfg;
  char *endpoint, *bucket, *region, *ca_file;
  char *bucket_url;             /* the bucket itself (create, list) */
  char *key_url;                /* + encoded key = an object */
  char *sigv4, *userpwd;
  char *token_header;           /* "x-amz-security-token: ...", or NULL */
};

/* The URL of an object: a new string, NULL if out of memory. */
extern char *curlstore_object_url (const struct curlstore *s,
                                   const char *key);

/* One request, synchronously, with the headers every request carries
 * (payload hash of body, session token) plus extra (NULL: none).
 * Returns r->err; free r's document with curlreq_clear.
 */
extern int curlstore_request (struct curlstore *s, struct curlreq *r,
                              const void *body, size_t len,
                              const char *extra);

/* Log r's failure (verb: "GET", "LIST"...): store-curl-log.c. */
extern void curlstore_log_failure (const struct curlstore *s,
                                   const struct curlreq *r,
                                   const char *verb);

/* store_ops.check: store-curl-check.c. */
extern int curlstore_check (struct store *base, const char *probe_key);

#endif /* S3BLOCKS_STORE_CURL_IMPL_H */
