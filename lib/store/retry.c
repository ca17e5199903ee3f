/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the retry policy of the request scheduler.  See retry.h. */

#include <config.h>

#include "clock.h"
#include "store/retry.h"

static uint64_t
delay_ms (unsigned retry_delay_ms, unsigned attempt)
{
  uint64_t d = retry_delay_ms;

  while (attempt-- > 1 && d < RETRY_MAX_BACKOFF_MS)
    d *= 2;
  return d > RETRY_MAX_BACKOFF_MS ? RETRY_MAX_BACKOFF_MS : d;
}

uint64_t
retry_backoff_ns (uint64_t *jitter, unsigned retry_delay_ms, unsigned attempt)
{
  uint64_t d = delay_ms (retry_delay_ms, attempt) * 1000000;

  /* xorshift64: cheap, and only has to spread retries apart. */
  if (*jitter == 0)
    *jitter = clock_mono_ns () | 1;
  *jitter ^= *jitter << 13;
  *jitter ^= *jitter >> 7;
  *jitter ^= *jitter << 17;
  return d / 2 + *jitter % (d / 2 + 1);
}

uint64_t
retry_worst_case_ms (unsigned timeout_ms, unsigned retries,
                     unsigned retry_delay_ms)
{
  uint64_t total = (uint64_t) timeout_ms * (retries + 1);
  unsigned attempt;

  for (attempt = 1; attempt <= retries; attempt++)
    total += delay_ms (retry_delay_ms, attempt);
  return total;
}
