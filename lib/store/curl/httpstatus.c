/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: what an S3 answer over HTTP means for us.  See
 * httpstatus.h.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "store/curl/httpstatus.h"

static bool
is (const struct http_outcome *o, const char *code)
{
  return o->code && strcmp (o->code, code) == 0;
}

static bool
is_certificate (CURLcode c)
{
  switch (c) {
  case CURLE_PEER_FAILED_VERIFICATION:
  case CURLE_SSL_CACERT_BADFILE:
  case CURLE_SSL_CERTPROBLEM:
  case CURLE_SSL_ISSUER_ERROR:
  case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    return true;
  default:
    return false;
  }
}

static bool
is_credentials (const struct http_outcome *o)
{
  static const char *const codes[] = {
    "SignatureDoesNotMatch", "InvalidAccessKeyId", "ExpiredToken",
    "InvalidToken", "TokenRefreshRequired", "RequestTimeTooSkewed",
    "AuthorizationHeaderMalformed", "AccessDenied", "AccountProblem",
    "InvalidSecurity", "RequestExpired",
  };
  size_t i;

  for (i = 0; i < sizeof codes / sizeof codes[0]; i++)
    if (is (o, codes[i]))
      return true;
  return o->status == 401 || o->status == 403;
}

int
http_outcome_errno (const struct http_outcome *o)
{
  if (o->curl != CURLE_OK) {
    if (is_certificate (o->curl))
      return EACCES;
    if (o->curl == CURLE_OUT_OF_MEMORY)
      return ENOMEM;
    return EIO;
  }
  if (o->status >= 200 && o->status < 300)
    return 0;
  if (is (o, "NoSuchBucket"))
    return ENXIO;
  if (is_credentials (o))
    return EACCES;
  if (o->status == 404)
    return ENOENT;
  return EIO;
}

bool
http_outcome_is_transient (const struct http_outcome *o)
{
  if (o->curl != CURLE_OK) {
    switch (o->curl) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_AGAIN:
    case CURLE_WEIRD_SERVER_REPLY:
      return true;
    default:
      return false;
    }
  }
  return o->status >= 500 || o->status == 429 || is (o, "SlowDown") ||
    is (o, "RequestTimeout") || is (o, "InternalError");
}

const char *
http_outcome_advice (const struct http_outcome *o, const char *region,
                     const char *server_region, char *buf, size_t buflen)
{
  if (o->curl != CURLE_OK) {
    if (!is_certificate (o->curl))
      return NULL;
    snprintf (buf, buflen, "the server's TLS certificate could not be "
              "verified (%s): give its CA certificate with ca-file=, or, "
              "to accept an unauthenticated server, tls-verify=false",
              curl_easy_strerror (o->curl));
    return buf;
  }
  if (is (o, "SignatureDoesNotMatch"))
    snprintf (buf, buflen, "the request signature does not match "
              "(SignatureDoesNotMatch): check secret-key (or "
              "AWS_SECRET_ACCESS_KEY, or the credentials file)");
  else if (is (o, "InvalidAccessKeyId"))
    snprintf (buf, buflen, "the server does not know this access key "
              "(InvalidAccessKeyId): check access-key (or "
              "AWS_ACCESS_KEY_ID, or the credentials file's profile=)");
  else if (is (o, "ExpiredToken") || is (o, "TokenRefreshRequired") ||
           is (o, "RequestExpired"))
    snprintf (buf, buflen, "the session token has expired (%s): get new "
              "temporary credentials (AWS_SESSION_TOKEN or the "
              "credentials file)", o->code);
  else if (is (o, "InvalidToken"))
    snprintf (buf, buflen, "the session token is not valid (InvalidToken): "
              "check AWS_SESSION_TOKEN or aws_session_token in the "
              "credentials file");
  else if (is (o, "RequestTimeTooSkewed"))
    snprintf (buf, buflen, "this machine's clock differs too much from the "
              "server's (RequestTimeTooSkewed): set the clock (NTP)");
  else if (is (o, "AuthorizationHeaderMalformed") ||
           is (o, "IllegalLocationConstraintException") ||
           is (o, "InvalidLocationConstraint") ||
           is (o, "PermanentRedirect") || o->status == 301) {
    if (server_region && *server_region)
      snprintf (buf, buflen, "the bucket is in region %s, not %s (%s): "
                "set region=%s", server_region, region,
                o->code && *o->code ? o->code : "redirect", server_region);
    else
      snprintf (buf, buflen, "the server refused region %s (%s): check "
                "region=", region,
                o->code && *o->code ? o->code : "redirect");
  }
  else if (is (o, "AccessDenied") || o->status == 403)
    snprintf (buf, buflen, "access denied (%s): check that access-key may "
              "use this bucket, and secret-key",
              o->code && *o->code ? o->code : "HTTP 403");
  else
    return NULL;
  return buf;
}
