/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: URL paths and query strings as Signature V4 signs them.
 *
 * libcurl 7.88 (CURLOPT_AWS_SIGV4) puts the request's path and query
 * into the canonical request as they are in the URL: it neither sorts
 * nor encodes them.  The server rebuilds the canonical request from
 * what it receives, encoding each name and value (RFC 3986 unreserved
 * characters kept, everything else %XX, '/' too in a query value) and
 * sorting by name.  So the URL we give curl must already be in that
 * form, or the signatures differ: a bare "?delete" is "?delete=".
 */

#ifndef S3BLOCKS_SIGV4_QUERY_H
#define S3BLOCKS_SIGV4_QUERY_H

#include <stdbool.h>
#include <stddef.h>

struct query_param {
  const char *name;
  const char *value;            /* NULL or "": "name=" */
};

/* s, %XX-encoded except A-Z a-z 0-9 - . _ ~ (and '/' if keep_slash:
 * the object key in a path).  A new string, NULL if out of memory.
 */
extern char *uri_encode (const char *s, bool keep_slash);

/* "a=1&b=2", names and values encoded, sorted by encoded name (then
 * value), as the canonical query string.  A new string ("" for
 * n == 0), NULL if out of memory.
 */
extern char *query_build (const struct query_param *params, size_t n);

#endif /* S3BLOCKS_SIGV4_QUERY_H */
