/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: taking and giving back the single-writer lease on an
 * export (keeping it: leasekeeper.c).
 *
 * Two servers writing one export would corrupt it.  So a read-write
 * server holds the export's lease, an object naming it (leaseinfo.h),
 * and uploads only while the lease cannot have expired.
 *
 * Taking it: where the store has conditional PUT, the lease is created
 * with If-None-Match: * and taken over with If-Match: the ETag we
 * read, so of two servers starting in the same instant exactly one
 * wins.  Without it, write, wait CONFIRM_DELAY_MS and read back: this
 * catches mistakes, not a determined race.
 *
 * Whose lease is it (leaseinfo.h judges): a live holder here is
 * refused at once; a holder here that is gone (crash, reboot) is taken
 * over at once; another host's is waited for until it expires (its
 * holder has fenced itself by then), unless it is renewed meanwhile.
 * lease_acquire holds no lock across a request: exports are taken
 * concurrently, each waiting only for its own.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <nbdkit-plugin.h>

#include "format/keys.h"
#include "lease/lease.h"
#include "lease-impl.h"
#include "lease/lease-testing.h"
#include "lease/leaseinfo.h"

/* How long to wait before reading back a lease just written, without
 * conditional PUT.
 */
#define CONFIRM_DELAY_MS 100

/* Rounds of read, judge, write before giving up on a lease that keeps
 * changing under us.
 */
#define ACQUIRE_ATTEMPTS 5

static pthread_mutex_t owner_lock = PTHREAD_MUTEX_INITIALIZER;
static char our_owner[LEASE_OWNER_LEN + 1];

static __thread struct {
  bool set;
  struct lease_identity id;     /* strings point into the arrays below */
  char owner[LEASE_OWNER_LEN + 1];
  char machine[LEASE_ID_MAX + 1], boot[LEASE_ID_MAX + 1];
  char pidns[LEASE_ID_MAX + 1], host[LEASE_HOST_MAX + 1];
} test_identity;

void
lease_set_identity_for_tests (const struct lease_identity *id)
{
  memset (&test_identity, 0, sizeof test_identity);
  if (id == NULL)
    return;
  test_identity.set = true;
  test_identity.id = *id;
#define COPY(field)                                                     \
  if (id->field) {                                                      \
    snprintf (test_identity.field, sizeof test_identity.field, "%s",   \
              id->field);                                               \
    test_identity.id.field = test_identity.field;                       \
  }
  COPY (owner);
  COPY (machine);
  COPY (boot);
  COPY (pidns);
  COPY (host);
#undef COPY
}

/* One random owner id per process: a restarted server is a new owner. */
static int
process_owner (char *owner)
{
  unsigned char id[LEASE_OWNER_LEN / 2];
  int r = 0;

  pthread_mutex_lock (&owner_lock);
  if (our_owner[0] == '\0') {
    if (getrandom (id, sizeof id, 0) != (ssize_t) sizeof id) {
      nbdkit_error ("getrandom: %m");
      r = -1;
    }
    else
      for (size_t i = 0; i < sizeof id; i++)
        snprintf (&our_owner[2 * i], 3, "%02x", id[i]);
  }
  strcpy (owner, our_owner);
  pthread_mutex_unlock (&owner_lock);
  return r;
}

static int
init_self (struct lease *l)
{
  const struct lease_identity *t = &test_identity.id;

  lease_identity_of_this_process (&l->self);
  l->own_pid = true;
  if (!test_identity.set)
    return process_owner (l->self.owner);
#define OVERRIDE(field)                                                 \
  if (t->field)                                                         \
    strcpy (l->self.field, t->field);
  OVERRIDE (machine);
  OVERRIDE (boot);
  OVERRIDE (pidns);
  OVERRIDE (host);
#undef OVERRIDE
  if (t->pid) {
    l->self.pid = t->pid;
    l->self.start = t->start;
    l->own_pid = false;
  }
  if (t->owner) {
    strcpy (l->self.owner, t->owner);
    return 0;
  }
  return process_owner (l->self.owner);
}

/* Wait for another host's lease (held, as raw) to expire by our wall
 * clock, reading it every poll.  Returns 0 when it has expired or was
 * deleted, -1 after nbdkit_error if it was renewed (its holder lives)
 * or cannot be read.
 */
static int
wait_for_expiry (struct lease *l, const struct lease_info *held,
                 const char *raw, size_t raw_len)
{
  unsigned poll_ms = l->lease_ms / 3 < 1000 ? l->lease_ms / 3 : 1000;
  char now_raw[LEASE_MAX], holder[256];
  struct lease_info now_held;
  enum lease_object found;
  const char *why;
  uint64_t now;
  size_t now_len;

  if (poll_ms < 10)
    poll_ms = 10;
  nbdkit_debug ("export %s: waiting %.1f s for the lease of host %s "
                "(pid %" PRIi64 ") to expire; take-over-lease=true would "
                "not wait", l->export_name,
                ((double) held->expires_ms - clock_wall_ms ()) / 1000,
                held->host, held->pid);
  /* The wall clock: "expires" is the holder's time of day, the only
   * time two hosts share (see leasekeeper.c).  Our polls in between
   * are monotonic sleeps.
   */
  while ((now = clock_wall_ms ()) < held->expires_ms) {
    uint64_t left = held->expires_ms - now;

    clock_sleep_ms (left < poll_ms ? (unsigned) left + 1 : poll_ms);
    if (lease_read (l, &found, &now_held, now_raw, &now_len, &why) == -1) {
      nbdkit_error ("export %s: cannot read its lease %s while waiting "
                    "for it to expire", l->export_name, l->key);
      return -1;
    }
    if (found == LEASE_OBJECT_ABSENT)
      return 0;
    if (now_len != raw_len || memcmp (now_raw, raw, raw_len) != 0) {
      lease_describe (holder, sizeof holder,
                      found == LEASE_OBJECT_VALID ? &now_held : held);
      nbdkit_error ("export %s is in use by another server (%s): "
                    "stop it first, or serve this one read-only (-r)",
                    l->export_name, holder);
      return -1;
    }
  }
  nbdkit_debug ("export %s: the lease of host %s (pid %" PRIi64 ") has "
                "expired: taking it over", l->export_name, held->host,
                held->pid);
  return 0;
}

/* Without conditional PUT: read back what we wrote after a pause; of
 * two servers writing at once, the later write wins and the loser sees
 * it here.
 */
static int
confirm (struct lease *l)
{
  char raw[LEASE_MAX], holder[256];
  struct lease_info held;
  enum lease_object found;
  const char *why;
  size_t len;
  bool valid;

  clock_sleep_ms (CONFIRM_DELAY_MS);
  valid = lease_read (l, &found, &held, raw, &len, &why) == 0 &&
    found == LEASE_OBJECT_VALID;
  if (valid && strcmp (held.owner, l->self.owner) == 0)
    return 0;
  if (valid)
    lease_describe (holder, sizeof holder, &held);
  nbdkit_error ("export %s: another server took the lease as this one "
                "started (%s)", l->export_name,
                valid ? holder : "its lease could not be read back");
  return -1;
}

static struct lease *
new_lease (struct store *store, const struct lease_params *p)
{
  struct lease *l = calloc (1, sizeof *l);

  if (l == NULL || (l->export_name = strdup (p->export_name)) == NULL) {
    nbdkit_error ("calloc: %m");
    free (l);
    return NULL;
  }
  if (export_lease_key (l->key, sizeof l->key, p->export_name) == -1) {
    nbdkit_error ("export %s: its name is too long for a lease key",
                  p->export_name);
    goto fail;
  }
  if (init_self (l) == -1)
    goto fail;
  l->store = store;
  l->lease_ms = p->lease_ms;
  l->margin_ms = p->request_ms < p->lease_ms / 3
    ? p->request_ms : p->lease_ms / 3;
  if (p->request_ms > p->lease_ms / 3)
    nbdkit_debug ("export %s: the fencing margin (%u ms, a third of the "
                  "lease) does not cover a full request timeout (%u ms): "
                  "a longer lease-time would", p->export_name,
                  l->margin_ms, p->request_ms);
  l->conditional = store_can (store, STORE_CAP_CONDITIONAL_PUT);
  nbdkit_debug ("export %s: lease %s taken and renewed with %s",
                p->export_name, l->key,
                l->conditional ? "conditional PUT (If-None-Match, If-Match)"
                : "write, wait and read back (no conditional PUT)");
  l->gate.check = lease_gate_check;
  l->gate.opaque = l;
  l->gate.refusals = &l->refusals;
  return l;

 fail:
  free (l->export_name);
  free (l);
  return NULL;
}

struct lease *
lease_acquire (struct store *store, const struct lease_params *p)
{
  struct lease *l = new_lease (store, p);
  char raw[LEASE_MAX], holder[256];
  struct lease_info held;
  enum lease_object found;
  enum lease_put_outcome put;
  enum store_condition cond;
  const char *why = NULL;
  uint64_t started = 0;
  size_t raw_len;
  int attempt;

  if (l == NULL)
    goto fail;
  for (attempt = 0; ; attempt++) {
    if (attempt == ACQUIRE_ATTEMPTS) {
      nbdkit_error ("export %s: its lease %s kept changing while this "
                    "server tried to take it: is another server starting "
                    "on it?", l->export_name, l->key);
      goto fail;
    }
    cond = STORE_IF_MATCH;
    if (lease_read (l, &found, &held, raw, &raw_len, &why) == -1) {
      nbdkit_error ("export %s: cannot read its lease %s", l->export_name,
                    l->key);
      goto fail;
    }
    if (found == LEASE_OBJECT_ABSENT)
      cond = STORE_CREATE_ONLY;
    else if (found == LEASE_OBJECT_MALFORMED) {
      if (!p->take_over) {
        nbdkit_error ("export %s: its lease object %s is malformed (%s): "
                      "add take-over-lease=true to replace it",
                      l->export_name, l->key, why);
        goto fail;
      }
      nbdkit_debug ("export %s: replacing malformed lease %s",
                    l->export_name, l->key);
    }
    else {
      lease_describe (holder, sizeof holder, &held);
      switch (lease_judge (&held, &l->self, clock_wall_ms (),
                           lease_pid_alive)) {
      case LEASE_OURS:
        break;
      case LEASE_EXPIRED:
        nbdkit_debug ("export %s: taking over an expired lease (%s)",
                      l->export_name, holder);
        break;
      case LEASE_GONE:
        nbdkit_debug ("export %s: taking over the lease of a server on "
                      "this host that is gone (%s)", l->export_name, holder);
        break;
      case LEASE_LIVE_HERE:
        nbdkit_error ("export %s is in use by another server (%s): "
                      "stop it first, or serve this one read-only (-r)",
                      l->export_name, holder);
        goto fail;
      case LEASE_ELSEWHERE:
        if (p->take_over) {
          nbdkit_debug ("export %s: taking over the lease of another host "
                        "before it expires, as take-over-lease=true says "
                        "(%s)", l->export_name, holder);
          break;
        }
        if (wait_for_expiry (l, &held, raw, raw_len) == -1)
          goto fail;
        continue;               /* read it again, then take it */
      }
    }

    if (lease_write (l, cond, &started, &put) == -1) {
      nbdkit_error ("export %s: cannot write its lease %s", l->export_name,
                    l->key);
      goto fail;
    }
    if (put != LEASE_PUT_WRITTEN) {
      nbdkit_debug ("export %s: the lease changed as this server wrote it: "
                    "reading it again", l->export_name);
      continue;
    }
    if (!l->conditional && confirm (l) == -1)
      goto fail;
    break;
  }

  lease_renewed (l, started);
  pthread_mutex_lock (&lease_lock);
  l->next = lease_list;
  lease_list = l;
  pthread_mutex_unlock (&lease_lock);
  nbdkit_debug ("export %s: lease %s taken for %u ms (fencing margin %u ms)",
                l->export_name, l->key, l->lease_ms, l->margin_ms);
  return l;

 fail:
  if (l) {
    free (l->export_name);
    free (l);
  }
  errno = EBUSY;
  return NULL;
}

void
lease_release (struct lease *l)
{
  char raw[LEASE_MAX];
  struct lease_info held;
  enum lease_object found;
  const char *why;
  size_t len;

  if (l == NULL)
    return;
  pthread_mutex_lock (&lease_lock);
  for (struct lease **p = &lease_list; *p; p = &(*p)->next)
    if (*p == l) {
      *p = l->next;
      break;
    }
  /* Unlisted, so the keeper will not pick it up again. */
  while (l->busy)
    pthread_cond_wait (&lease_idle_cond, &lease_lock);
  pthread_mutex_unlock (&lease_lock);

  /* S3 has no conditional DELETE: read, then delete if still ours. */
  if (!__atomic_load_n (&l->lost, __ATOMIC_ACQUIRE) &&
      lease_read (l, &found, &held, raw, &len, &why) == 0 &&
      found == LEASE_OBJECT_VALID &&
      strcmp (held.owner, l->self.owner) == 0) {
    if (store_delete (l->store, l->key))
      nbdkit_error ("export %s: could not delete its lease %s; the next "
                    "server will wait for it to expire",
                    l->export_name, l->key);
    else
      nbdkit_debug ("export %s: lease released", l->export_name);
  }
  free (l->export_name);
  free (l);
}
