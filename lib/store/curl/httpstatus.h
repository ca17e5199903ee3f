/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: what an S3 answer over HTTP means for us (the V4 store).
 *
 * An attempt ends with a curl result, and if that is CURLE_OK with an
 * HTTP status and, for an error, the <Code> of the server's <Error>
 * document.  From those: the errno, whether another attempt may help,
 * and which configuration key the user should look at.
 */

#ifndef S3BLOCKS_HTTPSTATUS_H
#define S3BLOCKS_HTTPSTATUS_H

#include <stdbool.h>

#include <curl/curl.h>

struct http_outcome {
  CURLcode curl;                /* CURLE_OK: status and code are set */
  long status;                  /* HTTP status */
  const char *code;             /* S3 error <Code>, "" if none */
};

/* 0 for 2xx; ENOENT (404 NoSuchKey), ENXIO (NoSuchBucket), EACCES
 * (credentials, clock, region, certificate), EIO otherwise.  A
 * conditional PUT's 412 is the caller's to interpret.
 */
extern int http_outcome_errno (const struct http_outcome *o);

/* Network trouble, timeouts, 5xx, 429, SlowDown, RequestTimeout.  Not
 * a certificate that fails verification: retrying cannot fix it.
 */
extern bool http_outcome_is_transient (const struct http_outcome *o);

/* A message naming the cause and the key to fix, for the errors a
 * user can fix by configuration (wrong secret, unknown access key,
 * expired token, clock skew, wrong region, untrusted certificate), or
 * NULL.  region is the configured one, server_region what the server
 * said it wants (may be "").  Writes into buf.
 */
extern const char *http_outcome_advice (const struct http_outcome *o,
                                        const char *region,
                                        const char *server_region,
                                        char *buf, size_t buflen);

#endif /* S3BLOCKS_HTTPSTATUS_H */
