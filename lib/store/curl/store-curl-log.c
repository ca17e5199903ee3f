/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the V4 store's failed requests in words the user can act
 * on: the key, the endpoint, the cause, and the setting to fix when
 * there is one (httpstatus.h's advice).
 */

#include <config.h>

#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <nbdkit-plugin.h>

#include "store/curl/content-range.h"
#include "store/curl/curl-engine.h"
#include "store/curl/httpstatus.h"
#include "store/curl/s3xml.h"
#include "store/range.h"
#include "store-curl-impl.h"

/* A ranged GET's own failures: the answer was not the range asked
 * for, or the range starts at or past the object's end.  False if r
 * failed otherwise (curlstore_log_failure says how).
 */
static bool
log_range_failure (const struct curlstore *s, const struct curlreq *r)
{
  char range[STORE_RANGE_MAX], why[256], size[32];
  struct range_reply rr = {
    .status = r->status, .content_range = r->content_range,
    .got = r->got, .too_long = r->too_long,
  };
  struct content_range cr;
  int64_t total = -1;

  store_range_format (r->range_offset, r->range_len, range);
  if (r->range != RANGE_OK) {
    nbdkit_error ("GET %s %s at %s: %s", r->what, range, s->endpoint,
                  range_verdict_explain (r->range, &rr, why, sizeof why));
    return true;
  }
  if (r->curl != CURLE_OK ||
      (r->status != 416 && strcmp (r->code, "InvalidRange") != 0))
    return false;
  /* The size: Content-Range "bytes STAR/SIZE" (RFC 9110), or the error
   * document's ActualObjectSize (AWS, s3rver).
   */
  if (content_range_parse (r->content_range, &cr) == 0 && cr.unsatisfied)
    total = cr.total;
  else if (r->doc && s3xml_find (r->doc, r->doc_len, "ActualObjectSize",
                                 size, sizeof size)) {
    char *end;
    long long v = strtoll (size, &end, 10);

    if (end != size && *end == '\0' && v >= 0)
      total = v;
  }
  store_range_log_past_end (r->what, r->range_offset, r->range_len, total,
                            s->endpoint);
  return true;
}

void
curlstore_log_failure (const struct curlstore *s, const struct curlreq *r,
             const char *verb)
{
  struct http_outcome o = { .curl = r->curl, .status = r->status,
                            .code = r->code };
  char advice[400];
  const char *sep = r->message[0] ? ": " : "";

  if (r->method == CURLREQ_GET && r->range_len > 0 &&
      log_range_failure (s, r))
    return;
  if (r->too_long)
    nbdkit_error ("%s %s: the object is longer than %zu bytes "
                  "(not a block of this export)", verb, r->what, r->cap);
  else if (http_outcome_advice (&o, s->region, r->region, advice,
                                sizeof advice))
    nbdkit_error ("%s %s at %s: %s", verb, r->what, s->endpoint, advice);
  else if (strcmp (r->code, "NoSuchBucket") == 0)
    nbdkit_error ("%s %s: bucket %s does not exist at %s",
                  verb, r->what, s->bucket, s->endpoint);
  else if (r->curl != CURLE_OK)
    nbdkit_error ("%s %s: %s from %s after %u attempt%s%s%s", verb, r->what,
                  curl_easy_strerror (r->curl), s->endpoint, r->attempts,
                  r->attempts == 1 ? "" : "s", sep, r->message);
  else
    nbdkit_error ("%s %s: HTTP %ld %s from %s after %u attempt%s%s%s",
                  verb, r->what, r->status, r->code, s->endpoint,
                  r->attempts, r->attempts == 1 ? "" : "s", sep, r->message);
}
