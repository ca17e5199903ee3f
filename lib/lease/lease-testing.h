/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: a test-only hook into lease.c, so that several "servers"
 * on several "hosts" can race for one lease inside one test process.
 * The plugin never calls it.
 */

#ifndef S3BLOCKS_LEASE_TESTING_H
#define S3BLOCKS_LEASE_TESTING_H

#include <stdint.h>

/* Who the calling thread's next lease_acquire calls say they are.  A
 * NULL string or a 0 number means this process's real value; "" means
 * none.  pid 0 means our pid and its real start time.  The strings
 * must outlive the call only: they are copied.
 */
struct lease_identity {
  const char *owner;            /* up to 32 characters, no spaces */
  const char *machine;
  const char *boot;
  const char *pidns;
  const char *host;
  int64_t pid;
  uint64_t start;
};

/* For the calling thread only; NULL: back to the real identity. */
extern void lease_set_identity_for_tests (const struct lease_identity *id);

#endif /* S3BLOCKS_LEASE_TESTING_H */
