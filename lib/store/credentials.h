/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: credentials the way AWS tools find them.
 *
 * In order, the first that has an access key wins, as a whole (a key
 * from one place is never paired with a secret from another):
 *   1. access-key= and secret-key= on the command line
 *   2. AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN
 *   3. the shared credentials file, AWS_SHARED_CREDENTIALS_FILE or
 *      ~/.aws/credentials, section [profile=, else AWS_PROFILE, else
 *      default]
 *   4. the built-in defaults (MinIO's minioadmin)
 * Secrets are never logged; debug output says only where the keys
 * came from.
 */

#ifndef S3BLOCKS_CREDENTIALS_H
#define S3BLOCKS_CREDENTIALS_H

#include <stdbool.h>
#include <stdio.h>

struct credentials {
  char *access_key;
  char *secret_key;
  char *session_token;          /* NULL: none */
};

/* Read [profile] of an INI-style credentials file: aws_access_key_id,
 * aws_secret_access_key, aws_session_token.  Returns 1 if the profile
 * was found with both keys, 0 if not found, -1 after nbdkit_error
 * (profile found but incomplete, naming the file and the profile;
 * out of memory).  what names the file in messages.
 */
extern int credentials_parse (FILE *fp, const char *what,
                              const char *profile, struct credentials *c);

/* Steps 2 and 3 above, for when the command line gave no access key.
 * profile: profile= or NULL.  Returns 1 with *c filled, 0 if neither
 * has credentials, -1 after nbdkit_error.  *from says which ("the
 * environment", the file name) for debug messages.
 */
extern int credentials_find (const char *profile, struct credentials *c,
                             char *from, size_t fromlen);

extern void credentials_free (struct credentials *c);

#endif /* S3BLOCKS_CREDENTIALS_H */
