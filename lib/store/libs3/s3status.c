/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: what a libs3 status means for us. */

#include <config.h>

#include <errno.h>
#include <stdbool.h>

#include <libs3.h>

#include "store/libs3/s3engine.h"

int
s3status_to_errno (S3Status status)
{
  switch (status) {
  case S3StatusOK:
    return 0;
  case S3StatusErrorNoSuchKey:
  case S3StatusHttpErrorNotFound:
    return ENOENT;
  case S3StatusErrorAccessDenied:
  case S3StatusErrorInvalidAccessKeyId:
  case S3StatusErrorSignatureDoesNotMatch:
  case S3StatusErrorAccountProblem:
  case S3StatusErrorExpiredToken:
  case S3StatusErrorInvalidToken:
  case S3StatusHttpErrorForbidden:
    return EACCES;
  case S3StatusOutOfMemory:
    return ENOMEM;
  case S3StatusErrorNoSuchBucket:
    return ENXIO;
  default:
    return EIO;
  }
}

/* Worth retrying: the network, the server being down or busy, or our
 * own timeout (Interrupted: the engine abandoned the request).
 */
bool
s3status_is_transient (S3Status status)
{
  switch (status) {
  case S3StatusInterrupted:
  case S3StatusNameLookupError:
  case S3StatusFailedToConnect:
  case S3StatusConnectionFailed:
  case S3StatusErrorInternalError:
  case S3StatusErrorOperationAborted:
  case S3StatusErrorRequestTimeout:
  case S3StatusErrorSlowDown:
  case S3StatusErrorIncompleteBody:
  case S3StatusHttpErrorUnknown:
  case S3StatusErrorUnknown:
  case S3StatusXmlParseFailure:
    return true;
  default:
    return false;
  }
}

bool
s3status_is_credentials (S3Status status)
{
  return s3status_to_errno (status) == EACCES;
}
