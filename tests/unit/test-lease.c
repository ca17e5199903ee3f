/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the single-writer lease against the in-memory
 * store, with several "servers" (identities) in one process.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "clock.h"
#include "format/keys.h"
#include "lease/lease.h"
#include "lease/lease-impl.h"
#include "lease/lease-testing.h"
#include "lease/leaseinfo.h"
#include "memstore.h"
#include "nbdkit-standin.h"
#include "tests.h"
#include "wallclock.h"

#define EXPORT "t"
#define LEASE_KEY "leases/" EXPORT
#define SHORT_MS 300            /* renewed every 100 ms */

static struct memstore *mem;

static void
setup (void)
{
  standin_reset_errors ();
  mem = memstore_new ();
}

static void
teardown (void)
{
  lease_set_identity_for_tests (NULL);
  store_close (memstore_store (mem));
  mem = NULL;
}

/* Be owner on the given machine and boot (NULL: ours), with pid (0:
 * ours, alive), for the calling thread's next acquisitions.
 */
static void
be (const char *owner, const char *machine, const char *boot, int64_t pid)
{
  struct lease_identity id = {
    .owner = owner, .machine = machine, .boot = boot,
    .pid = pid, .start = pid ? 5 : 0,
  };

  lease_set_identity_for_tests (&id);
}

static struct lease *
acquire (unsigned lease_ms, unsigned request_ms, bool take_over)
{
  struct lease_params p = {
    .export_name = EXPORT, .lease_ms = lease_ms, .request_ms = request_ms,
    .take_over = take_over,
  };

  return lease_acquire (memstore_store (mem), &p);
}

/* The stored lease, or one with owner "" if there is none. */
static const struct lease_info *
stored_lease (void)
{
  static struct lease_info info;
  char buf[LEASE_MAX];
  const char *why;
  long len = memstore_peek (mem, LEASE_KEY, buf, sizeof buf);

  if (len < 0 || lease_parse (buf, len, &info, &why) == -1)
    memset (&info, 0, sizeof info);
  return &info;
}

static const char *
stored_owner (void)
{
  return stored_lease ()->owner;
}

/* Poll (for up to 10 s, not a timing assertion) until lease_check
 * says want; returns what it says last.
 */
static int
wait_check (struct lease *l, int want)
{
  for (int i = 0; i < 1000 && lease_check (l) != want; i++)
    usleep (10000);
  return lease_check (l);
}

static void
put_foreign_lease (void)
{
  struct lease_info info = {
    .owner = "0123456789abcdef0123456789abcdef", .host = "elsewhere",
    .pid = 4242, .machine = "other-machine", .boot = "other-boot",
  };
  char buf[LEASE_MAX];
  int len;

  info.renewed_ms = (uint64_t) time (NULL) * 1000;
  info.expires_ms = info.renewed_ms + 3600000;
  len = lease_format (buf, sizeof buf, &info);
  CU_ASSERT_FATAL (len > 0);
  memstore_set (mem, LEASE_KEY, buf, len);
}

static void
test_acquire_release (void)
{
  struct lease *l;

  setup ();
  be ("a", NULL, NULL, 0);
  l = acquire (SHORT_MS, 50, false);
  CU_ASSERT_PTR_NOT_NULL_FATAL (l);
  CU_ASSERT_EQUAL (lease_check (l), 0);
  CU_ASSERT_STRING_EQUAL (stored_owner (), "a");
  CU_ASSERT_PTR_NOT_NULL (lease_gate (l));
  lease_release (l);
  CU_ASSERT_EQUAL (memstore_count (mem, LEASES_PREFIX), 0);
  CU_ASSERT_EQUAL (standin_error_count, 0);
  teardown ();
}

/* Another server here, alive: refused at once, naming it. */
static void
test_live_holder_refused (void)
{
  struct lease *a, *b;

  setup ();
  be ("a", NULL, NULL, 0);
  a = acquire (60000, 50, false);
  CU_ASSERT_PTR_NOT_NULL_FATAL (a);
  be ("b", NULL, NULL, 0);
  b = acquire (60000, 50, true);
  CU_ASSERT_PTR_NULL (b);
  CU_ASSERT_EQUAL (errno, EBUSY);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "export t is in use by "
                                  "another server (host "));
  CU_ASSERT_STRING_EQUAL (stored_owner (), "a");
  lease_release (a);
  teardown ();
}

/* A crashed server here (no such pid): taken over at once, no flag. */
static void
test_gone_holder_taken (void)
{
  struct lease *a, *b;

  setup ();
  be ("a", NULL, NULL, INT64_C (1) << 30);
  a = acquire (60000, 50, false);
  CU_ASSERT_PTR_NOT_NULL_FATAL (a);
  be ("b", NULL, NULL, 0);
  b = acquire (60000, 50, false);
  CU_ASSERT_PTR_NOT_NULL (b);
  CU_ASSERT_STRING_EQUAL (stored_owner (), "b");
  /* The crashed one's release leaves the new holder's lease alone. */
  lease_release (a);
  CU_ASSERT_STRING_EQUAL (stored_owner (), "b");
  lease_release (b);
  CU_ASSERT_EQUAL (memstore_count (mem, LEASES_PREFIX), 0);
  teardown ();
}

/* Another host's lease, not renewed: waited for, then taken. */
static void
test_other_host_waited_for (void)
{
  struct lease *a, *b;

  setup ();
  be ("a", "other-machine", "other-boot", 77);
  a = acquire (SHORT_MS, 50, false);
  CU_ASSERT_PTR_NOT_NULL_FATAL (a);
  be ("b", NULL, NULL, 0);
  b = acquire (SHORT_MS, 50, false);
  CU_ASSERT_PTR_NOT_NULL (b);
  CU_ASSERT_STRING_EQUAL (stored_owner (), "b");
  CU_ASSERT_EQUAL (standin_error_count, 0);
  lease_release (a);
  lease_release (b);
  teardown ();
}

/* Another host's lease renewed during the wait: its holder lives. */
static void
test_other_host_renewing_refused (void)
{
  struct lease *a, *b;

  setup ();
  be ("a", "other-machine", "other-boot", 77);
  a = acquire (SHORT_MS, 50, false);
  CU_ASSERT_PTR_NOT_NULL_FATAL (a);
  CU_ASSERT_EQUAL_FATAL (lease_keeper_start (), 0);
  be ("b", NULL, NULL, 0);
  b = acquire (SHORT_MS, 50, false);
  lease_keeper_stop ();
  CU_ASSERT_PTR_NULL (b);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "export t is in use by "
                                  "another server (host "));
  CU_ASSERT_STRING_EQUAL (stored_owner (), "a");
  CU_ASSERT_EQUAL (lease_check (a), 0);
  lease_release (a);
  teardown ();
}

#define RACERS 8

struct racer {
  pthread_barrier_t *barrier;
  char owner[16];
  struct lease *lease;
  int err;
};

static void *
race (void *arg)
{
  struct racer *r = arg;

  be (r->owner, NULL, NULL, 0);
  pthread_barrier_wait (r->barrier);
  r->lease = acquire (60000, 50, false);
  r->err = r->lease ? 0 : errno;
  lease_set_identity_for_tests (NULL);
  return NULL;
}

/* With conditional PUT, of servers starting in the same instant
 * exactly one wins.
 */
static void
test_race (void)
{
  setup ();
  for (int round = 0; round < 20; round++) {
    struct racer racers[RACERS];
    pthread_t threads[RACERS];
    pthread_barrier_t barrier;
    struct lease *winner = NULL;
    int winners = 0, refused = 0;

    pthread_barrier_init (&barrier, NULL, RACERS);
    for (int i = 0; i < RACERS; i++) {
      racers[i].barrier = &barrier;
      snprintf (racers[i].owner, sizeof racers[i].owner, "r%d-%d", round, i);
      CU_ASSERT_EQUAL_FATAL (pthread_create (&threads[i], NULL, race,
                                             &racers[i]), 0);
    }
    for (int i = 0; i < RACERS; i++) {
      pthread_join (threads[i], NULL);
      if (racers[i].lease) {
        winners++;
        winner = racers[i].lease;
        CU_ASSERT_STRING_EQUAL (stored_owner (), racers[i].owner);
      }
      else if (racers[i].err == EBUSY)
        refused++;
    }
    pthread_barrier_destroy (&barrier);
    CU_ASSERT_EQUAL (winners, 1);
    CU_ASSERT_EQUAL (refused, RACERS - 1);
    lease_release (winner);
    CU_ASSERT_EQUAL (memstore_count (mem, LEASES_PREFIX), 0);
  }
  teardown ();
}

/* Taken over: the next renewal fences this server for good, and a
 * gated upload never reaches the store.
 */
static void
test_taken_over_fenced (void)
{
  char data[16] = "block", key[KEY_MAX];
  struct store_op op = {
    .kind = STORE_PUT, .buf = data, .len = sizeof data,
  };
  struct lease *a;

  setup ();
  be ("a", NULL, NULL, 0);
  a = acquire (SHORT_MS, 50, false);
  CU_ASSERT_PTR_NOT_NULL_FATAL (a);
  CU_ASSERT_EQUAL_FATAL (lease_keeper_start (), 0);
  put_foreign_lease ();
  CU_ASSERT_EQUAL (wait_check (a, EROFS), EROFS);
  lease_keeper_stop ();
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error,
                                  "another server has taken "
                                  "over the lease (host elsewhere, "
                                  "pid 4242"));

  block_key (key, sizeof key, EXPORT, 0);
  strcpy (op.key, key);
  op.gate = lease_gate (a);
  store_run (memstore_store (mem), &op, 1);
  CU_ASSERT_EQUAL (op.err, EROFS);
  CU_ASSERT_EQUAL (memstore_peek (mem, key, data, sizeof data), -1);

  /* For good, and the other's lease stays. */
  usleep (2 * SHORT_MS * 1000);
  CU_ASSERT_EQUAL (lease_check (a), EROFS);
  lease_release (a);
  CU_ASSERT_STRING_EQUAL (stored_owner (), "0123456789abcdef0123456789abcdef");
  teardown ();
}

/* S3 unreachable past the deadline: uploads pause (EIO), and resume
 * when a renewal gets through.
 */
static void
test_store_down_pauses (void)
{
  struct lease *a;

  setup ();
  be ("a", NULL, NULL, 0);
  a = acquire (SHORT_MS, 50, false);
  CU_ASSERT_PTR_NOT_NULL_FATAL (a);
  memstore_fail (mem, STORE_PUT, -1, EIO);
  CU_ASSERT_EQUAL_FATAL (lease_keeper_start (), 0);
  CU_ASSERT_EQUAL (wait_check (a, EIO), EIO);
  /* Said once, at the next failed renewal. */
  for (int i = 0; i < 1000 && standin_error_count == 0; i++)
    usleep (10000);
  CU_ASSERT_EQUAL (standin_error_count, 1);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error,
                                  "could not be renewed in "
                                  "time"));
  memstore_fail (mem, STORE_PUT, 0, 0);
  CU_ASSERT_EQUAL (wait_check (a, 0), 0);
  lease_keeper_stop ();
  CU_ASSERT_STRING_EQUAL (stored_owner (), "a");
  lease_release (a);
  CU_ASSERT_EQUAL (memstore_count (mem, LEASES_PREFIX), 0);
  teardown ();
}

/* An administrator deleted the lease: the keeper writes it again. */
static void
test_deleted_recreated (void)
{
  struct lease *a;

  setup ();
  be ("a", NULL, NULL, 0);
  a = acquire (SHORT_MS, 50, false);
  CU_ASSERT_PTR_NOT_NULL_FATAL (a);
  CU_ASSERT_EQUAL (store_delete (memstore_store (mem), LEASE_KEY), 0);
  CU_ASSERT_EQUAL_FATAL (lease_keeper_start (), 0);
  for (int i = 0; i < 1000 && stored_owner ()[0] == '\0'; i++)
    usleep (10000);
  lease_keeper_stop ();
  CU_ASSERT_STRING_EQUAL (stored_owner (), "a");
  CU_ASSERT_EQUAL (lease_check (a), 0);
  lease_release (a);
  teardown ();
}

/* Without conditional PUT: write, wait, read back; renewals and
 * fencing work the same.
 */
static void
test_no_conditional_put (void)
{
  struct lease *a, *b;

  setup ();
  memstore_set_caps (mem, 0);
  be ("a", NULL, NULL, 0);
  a = acquire (SHORT_MS, 50, false);
  CU_ASSERT_PTR_NOT_NULL_FATAL (a);
  CU_ASSERT_STRING_EQUAL (stored_owner (), "a");
  be ("b", NULL, NULL, 0);
  b = acquire (SHORT_MS, 50, false);
  CU_ASSERT_PTR_NULL (b);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "is in use by another "
                                  "server"));

  memstore_reset_counts (mem);
  CU_ASSERT_EQUAL_FATAL (lease_keeper_start (), 0);
  for (int i = 0; i < 1000 && memstore_counts (mem).puts < 2; i++)
    usleep (10000);
  CU_ASSERT (memstore_counts (mem).puts >= 2);
  CU_ASSERT_EQUAL (lease_check (a), 0);
  put_foreign_lease ();
  CU_ASSERT_EQUAL (wait_check (a, EROFS), EROFS);
  lease_keeper_stop ();
  lease_release (a);

  /* The gone holder's lease is taken over the same way. */
  be ("c", NULL, NULL, INT64_C (1) << 30);
  a = acquire (60000, 50, true);
  CU_ASSERT_PTR_NOT_NULL_FATAL (a);
  be ("d", NULL, NULL, 0);
  b = acquire (60000, 50, false);
  CU_ASSERT_PTR_NOT_NULL (b);
  CU_ASSERT_STRING_EQUAL (stored_owner (), "d");
  lease_release (a);
  lease_release (b);
  CU_ASSERT_EQUAL (memstore_count (mem, LEASES_PREFIX), 0);
  teardown ();
}

/* Renewal PUTs while ms of real time pass (usleep: the kernel's
 * monotonic clock, whatever the wall clock says).
 */
static uint64_t
renewals_during (unsigned ms)
{
  memstore_reset_counts (mem);
  usleep (ms * 1000);
  return memstore_counts (mem).puts;
}

/* The wall clock steps back an hour, then forward two, while the
 * keeper runs: renewals keep their schedule (every third of the
 * lease, on the monotonic clock), the lease stays valid, and only
 * the times written into the object follow the wall clock, as other
 * hosts must read them.  Before the keeper waited on the monotonic
 * clock, a step back made it renew without pause (thousands of PUTs a
 * second) and a step forward stopped it until the deadline passed.
 * The bounds are loose (about 10 are due in each second): they tell
 * a schedule from a storm or a stall, not fast from slow.
 */
static void
test_wall_clock_steps (void)
{
  const int64_t hour_ms = 3600000;
  uint64_t steady, back, forward, now_ms;
  struct lease *a;

  setup ();
  be ("a", NULL, NULL, 0);
  a = acquire (SHORT_MS, 50, false);
  CU_ASSERT_PTR_NOT_NULL_FATAL (a);
  CU_ASSERT_EQUAL_FATAL (lease_keeper_start (), 0);

  steady = renewals_during (1000);
  CU_ASSERT_EQUAL (wait_check (a, 0), 0);

  wallclock_step_ms (-hour_ms);
  back = renewals_during (1000);
  CU_ASSERT_EQUAL (wait_check (a, 0), 0);
  /* Written in the stepped time: what another host would read. */
  now_ms = clock_wall_ms ();
  CU_ASSERT (stored_lease ()->renewed_ms <= now_ms);
  CU_ASSERT (stored_lease ()->renewed_ms + 10000 > now_ms);

  wallclock_step_ms (2 * hour_ms);
  forward = renewals_during (1000);
  CU_ASSERT_EQUAL (wait_check (a, 0), 0);

  lease_keeper_stop ();
  wallclock_reset ();
  if (getenv ("S3BLOCKS_UNIT_VERBOSE"))
    fprintf (stderr, "renewal PUTs in 1 s (lease %u ms): steady %" PRIu64
             ", wall clock 1 h back %" PRIu64 ", 1 h ahead %" PRIu64 "\n",
             SHORT_MS, steady, back, forward);
  CU_ASSERT (steady >= 2 && steady <= 40);
  CU_ASSERT (back >= 2 && back <= 40);
  CU_ASSERT (forward >= 2 && forward <= 40);
  CU_ASSERT_STRING_EQUAL (stored_owner (), "a");
  lease_release (a);
  CU_ASSERT_EQUAL (memstore_count (mem, LEASES_PREFIX), 0);
  CU_ASSERT_EQUAL (standin_error_count, 0);
  teardown ();
}

/* lease_write (white-box): what its conditional PUT found comes back
 * through *outcome with 0 and no message; a failure is -1 with the
 * store's errno.
 */
static void
test_write_outcomes (void)
{
  char etag[STORE_ETAG_MAX];
  enum lease_put_outcome put;
  uint64_t started;
  struct lease *a;

  setup ();
  be ("a", NULL, NULL, 0);
  a = acquire (60000, 50, false);
  CU_ASSERT_PTR_NOT_NULL_FATAL (a);
  standin_reset_errors ();

  CU_ASSERT_EQUAL (lease_write (a, STORE_IF_MATCH, &started, &put), 0);
  CU_ASSERT_EQUAL (put, LEASE_PUT_WRITTEN);
  CU_ASSERT_EQUAL (lease_write (a, STORE_CREATE_ONLY, &started, &put), 0);
  CU_ASSERT_EQUAL (put, LEASE_PUT_EXISTS);

  /* Another writer: our ETag is stale, and stays what it was. */
  memcpy (etag, a->etag, sizeof etag);
  put_foreign_lease ();
  CU_ASSERT_EQUAL (lease_write (a, STORE_IF_MATCH, &started, &put), 0);
  CU_ASSERT_EQUAL (put, LEASE_PUT_STALE);
  CU_ASSERT_STRING_EQUAL (a->etag, etag);
  CU_ASSERT_STRING_EQUAL (stored_owner (), "0123456789abcdef0123456789abcdef");

  /* Deleted: If-Match finds nothing to replace. */
  CU_ASSERT_EQUAL (store_delete (memstore_store (mem), LEASE_KEY), 0);
  CU_ASSERT_EQUAL (lease_write (a, STORE_IF_MATCH, &started, &put), 0);
  CU_ASSERT_EQUAL (put, LEASE_PUT_ABSENT);
  CU_ASSERT_EQUAL (memstore_count (mem, LEASES_PREFIX), 0);
  CU_ASSERT_EQUAL (standin_error_count, 0);

  /* A failed PUT: -1, the store's errno; then it is created. */
  memstore_fail (mem, STORE_PUT, 1, EIO);
  CU_ASSERT_EQUAL (lease_write (a, STORE_CREATE_ONLY, &started, &put), -1);
  CU_ASSERT_EQUAL (errno, EIO);
  CU_ASSERT_EQUAL (lease_write (a, STORE_CREATE_ONLY, &started, &put), 0);
  CU_ASSERT_EQUAL (put, LEASE_PUT_WRITTEN);
  CU_ASSERT_STRING_EQUAL (stored_owner (), "a");
  lease_release (a);
  CU_ASSERT_EQUAL (memstore_count (mem, LEASES_PREFIX), 0);
  teardown ();
}

/* A malformed lease object is replaced only when asked. */
static void
test_malformed (void)
{
  struct lease *a;

  setup ();
  memstore_set (mem, LEASE_KEY, "junk", 4);
  be ("a", NULL, NULL, 0);
  a = acquire (60000, 50, false);
  CU_ASSERT_PTR_NULL (a);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "is malformed"));
  a = acquire (60000, 50, true);
  CU_ASSERT_PTR_NOT_NULL_FATAL (a);
  CU_ASSERT_STRING_EQUAL (stored_owner (), "a");
  lease_release (a);
  teardown ();
}

UNIT_SUITES (add_lease_tests)
{
  CU_pSuite s = CU_add_suite ("lease", NULL, NULL);

  CU_add_test (s, "acquire and release", test_acquire_release);
  CU_add_test (s, "a live holder here is refused", test_live_holder_refused);
  CU_add_test (s, "a gone holder here is taken over",
               test_gone_holder_taken);
  CU_add_test (s, "another host's lease is waited for",
               test_other_host_waited_for);
  CU_add_test (s, "another host renewing is refused",
               test_other_host_renewing_refused);
  CU_add_test (s, "8 servers race, one wins", test_race);
  CU_add_test (s, "taken over: fenced with EROFS", test_taken_over_fenced);
  CU_add_test (s, "S3 down: paused with EIO, then resumed",
               test_store_down_pauses);
  CU_add_test (s, "a deleted lease is recreated", test_deleted_recreated);
  CU_add_test (s, "without conditional PUT", test_no_conditional_put);
  CU_add_test (s, "a malformed lease", test_malformed);
  CU_add_test (s, "lease_write's outcomes", test_write_outcomes);
  CU_add_test (s, "wall clock steps do not bend renewals",
               test_wall_clock_steps);
}
