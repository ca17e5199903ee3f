/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the failures of one batch, logged a few at a time
 * (fail-log.h).
 */

#include <config.h>

#include <nbdkit-plugin.h>

#include "store/fail-log.h"

void
fail_log_end (const struct fail_log *fl, const char *endpoint)
{
  if (fl->failures > FAIL_LOG_MAX)
    nbdkit_error ("... and %zu more requests to %s failed",
                  fl->failures - FAIL_LOG_MAX, endpoint);
}
