/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the endpoint= syntax, http[s]://host[:port].
 *
 * Not tied to a client library: every store type takes its endpoint in
 * this form.
 */

#ifndef S3BLOCKS_ENDPOINT_H
#define S3BLOCKS_ENDPOINT_H

#include <stdbool.h>

/* Split "http[s]://host[:port][/]" into the scheme and a new string
 * "host[:port]".  Returns 0, or -1 after nbdkit_error naming endpoint:
 * and what is wrong, errno EINVAL (ENOMEM if out of memory).
 */
extern int parse_endpoint (const char *url, bool *https, char **host);

/* Is "host[:port]" an IPv4 or [IPv6] address rather than a DNS name? */
extern bool endpoint_host_is_ip (const char *host);

/* S3's rules for bucket names, as AWS and MinIO enforce them: 3 to 63
 * of a-z 0-9 . -, starting and ending with a letter or digit, no "..",
 * not an IP address.
 */
extern bool bucket_name_is_valid (const char *name);

#endif /* S3BLOCKS_ENDPOINT_H */
