/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the endpoint= syntax.  See endpoint.h. */

#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "store/endpoint.h"

bool
endpoint_host_is_ip (const char *host)
{
  size_t i;

  if (host[0] == '[')
    return true;
  for (i = 0; host[i] && host[i] != ':'; i++)
    if (!isdigit ((unsigned char) host[i]) && host[i] != '.')
      return false;
  return true;
}

/* Split "http[s]://host[:port][/]" into the scheme and "host[:port]". */
int
parse_endpoint (const char *url, bool *https, char **host_ret)
{
  const char *host, *p, *port = NULL;
  size_t len;

  if (strncmp (url, "http://", 7) == 0) {
    *https = false;
    host = url + 7;
  }
  else if (strncmp (url, "https://", 8) == 0) {
    *https = true;
    host = url + 8;
  }
  else {
    nbdkit_error ("endpoint: \"%s\" must start with http:// or https://",
                  url);
    goto bad;
  }

  len = strlen (host);
  if (len > 0 && host[len-1] == '/')
    len--;
  if (memchr (host, '/', len) || memchr (host, '?', len) ||
      memchr (host, '@', len)) {
    nbdkit_error ("endpoint: \"%s\": only http[s]://host[:port] is "
                  "accepted, without a path, query or user name "
                  "(the bucket is set with bucket=)", url);
    goto bad;
  }
  if (len == 0) {
    nbdkit_error ("endpoint: \"%s\" has no host name", url);
    goto bad;
  }

  p = host;
  if (*p == '[') {                     /* [IPv6]:port */
    while (p < host + len && *p != ']')
      p++;
    if (p == host + len) {
      nbdkit_error ("endpoint: \"%s\": unterminated [IPv6 address]", url);
      goto bad;
    }
    for (const char *q = host + 1; q < p; q++)
      if (!isxdigit ((unsigned char) *q) && *q != ':' && *q != '.') {
        nbdkit_error ("endpoint: \"%s\": bad IPv6 address", url);
        goto bad;
      }
    p++;
  }
  else {
    for (; p < host + len && *p != ':'; p++)
      if (!isalnum ((unsigned char) *p) && *p != '.' && *p != '-') {
        nbdkit_error ("endpoint: \"%s\": unexpected character '%c' "
                      "in the host name", url, *p);
        goto bad;
      }
    if (p == host) {
      nbdkit_error ("endpoint: \"%s\" has no host name", url);
      goto bad;
    }
  }

  if (p < host + len) {
    unsigned long n = 0;

    if (*p != ':') {
      nbdkit_error ("endpoint: \"%s\": unexpected text after the host", url);
      goto bad;
    }
    port = ++p;
    if (p == host + len) {
      nbdkit_error ("endpoint: \"%s\": empty port", url);
      goto bad;
    }
    for (; p < host + len; p++) {
      if (!isdigit ((unsigned char) *p) || (n = n * 10 + (*p - '0')) > 65535) {
        nbdkit_error ("endpoint: \"%s\": port must be a number from 1 "
                      "to 65535", url);
        goto bad;
      }
    }
    if (n == 0) {
      nbdkit_error ("endpoint: \"%s\": port 0 is not valid", url);
      goto bad;
    }
  }
  (void) port;

  *host_ret = strndup (host, len);
  if (*host_ret == NULL) {
    nbdkit_error ("strndup: %m");
    return -1;
  }
  return 0;

 bad:
  errno = EINVAL;
  return -1;
}

bool
bucket_name_is_valid (const char *name)
{
  size_t len = strlen (name), i;

  if (len < 3 || len > 63 || !isalnum ((unsigned char) name[0]) ||
      !isalnum ((unsigned char) name[len-1]) || strstr (name, "..") ||
      endpoint_host_is_ip (name))
    return false;
  for (i = 0; i < len; i++)
    if (!islower ((unsigned char) name[i]) &&
        !isdigit ((unsigned char) name[i]) &&
        name[i] != '.' && name[i] != '-')
      return false;
  return true;
}
