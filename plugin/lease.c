/* s3blocks: the single-writer lease on an export.
 *
 * Two servers writing one export would corrupt it.  So a read-write
 * server holds the export's lease, an object naming it (leaseinfo.h),
 * renewed from a background thread every third of its lifetime, and
 * uploads only while the lease cannot have expired (lease_check):
 *
 *   renewal PUT starts          renewal PUT starts
 *   |                           |
 *   t0 ------------------------ t1 -------------------- t0 + lease_ms
 *   |<------------------ valid ------------>|<-margin->|
 *                                           deadline
 *
 * Everything is timed from the moment a successful renewal's PUT
 * started, on the monotonic clock: the object says "expires" at least
 * that late.  The margin, min (request_ms, lease_ms / 3), covers an
 * upload that passed the gate just before the deadline and is still in
 * flight.  A server that cannot renew pauses at the deadline (EIO) and
 * goes on trying; one whose lease another server took is fenced for
 * good (EROFS).
 *
 * Taking and renewing: where the store has conditional PUT, the lease
 * is created with If-None-Match: * and replaced with If-Match: the
 * ETag we last wrote or read, so of two servers starting in the same
 * instant exactly one wins.  Without it, write, wait CONFIRM_DELAY_MS
 * and read back: this catches mistakes, not a determined race.
 *
 * Whose lease is it (leaseinfo.h judges): a live holder here is
 * refused at once; a holder here that is gone (crash, reboot) is taken
 * over at once; another host's is waited for until it expires (its
 * holder has fenced itself by then), unless it is renewed meanwhile.
 *
 * Locking: lock guards the list of leases, the keeper's state and the
 * busy counts.  No request is made with it held: the keeper takes a
 * snapshot of the list, marking each lease busy, and lease_release
 * waits for its lease to be idle.  lease_check reads atomics only.
 */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <nbdkit-plugin.h>

#include "keys.h"
#include "lease.h"
#include "lease-testing.h"
#include "leaseinfo.h"

/* How long to wait before reading back a lease just written, without
 * conditional PUT.
 */
#define CONFIRM_DELAY_MS 100

/* Rounds of read, judge, write before giving up on a lease that keeps
 * changing under us.
 */
#define ACQUIRE_ATTEMPTS 5

struct lease {
  struct store *store;
  char *export_name;
  char key[KEY_MAX];
  unsigned lease_ms;
  unsigned margin_ms;
  bool conditional;             /* the store has conditional PUT */
  struct lease_info self;       /* who we say we are; times per write */
  bool own_pid;                 /* self.pid follows getpid () (fork) */
  struct store_gate gate;

  /* Atomics: lease_check reads them from any thread. */
  uint64_t deadline_ns;         /* monotonic; valid before it */
  int lost;                     /* the lease was taken over */

  /* Only lease_acquire, then only the keeper, touch these. */
  char etag[STORE_ETAG_MAX];    /* of the lease as last written or read */
  bool paused;                  /* logged that uploads are paused */

  /* Under lock. */
  unsigned busy;                /* the keeper is renewing it */
  struct lease *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t keeper_cond = PTHREAD_COND_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;
static struct lease *leases;
static pthread_t keeper;
static bool keeper_running, keeper_stop;
static char our_owner[LEASE_OWNER_LEN + 1];

static __thread struct {
  bool set;
  struct lease_identity id;     /* strings point into the arrays below */
  char owner[LEASE_OWNER_LEN + 1];
  char machine[LEASE_ID_MAX + 1], boot[LEASE_ID_MAX + 1];
  char pidns[LEASE_ID_MAX + 1], host[LEASE_HOST_MAX + 1];
} test_identity;

static uint64_t
wall_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t
mono_ns (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (uint64_t) ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void
sleep_ms (unsigned ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

  while (nanosleep (&ts, &ts) == -1 && errno == EINTR)
    ;
}

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

  pthread_mutex_lock (&lock);
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
  pthread_mutex_unlock (&lock);
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

/* "host h, pid p, renewed x s ago, expires in y s", for messages. */
static void
describe (char *buf, size_t size, const struct lease_info *info)
{
  const double now = wall_ms ();
  const double left = ((double) info->expires_ms - now) / 1000;

  snprintf (buf, size, "host %s, pid %" PRIi64 ", renewed %.1f s ago, %s "
            "%.1f s", info->host, info->pid,
            (now - (double) info->renewed_ms) / 1000,
            left > 0 ? "expires in" : "expired", left > 0 ? left : -left);
}

/* Read the lease object, its raw bytes (raw: LEASE_MAX) and its ETag
 * into l->etag.  Returns 0, ENOENT, EBADMSG (*why says why), or the
 * store's errno.
 */
static int
read_lease (struct lease *l, struct lease_info *info, char *raw,
            size_t *raw_len, const char **why)
{
  char etag[STORE_ETAG_MAX] = "";
  size_t got = 0;
  int err;

  err = store_get_etag (l->store, l->key, raw, LEASE_MAX, &got, etag);
  *raw_len = got;
  if (err)
    return err;
  memcpy (l->etag, etag, sizeof etag);
  if (lease_parse (raw, got, info, why) == -1)
    return EBADMSG;
  return 0;
}

/* Write our lease with a condition (ignored by a store without
 * conditional PUT), recording when the PUT started.  Returns 0, an
 * answer (EEXIST, ESTALE, ENOENT) or the store's errno.
 */
static int
write_lease (struct lease *l, enum store_condition cond, uint64_t *started)
{
  char buf[LEASE_MAX], etag[STORE_ETAG_MAX] = "";
  int len, err;

  /* After nbdkit forks, the holder is the child. */
  if (l->own_pid && l->self.pid != getpid ()) {
    l->self.pid = getpid ();
    l->self.start = lease_process_start (l->self.pid);
  }
  l->self.renewed_ms = wall_ms ();
  l->self.expires_ms = l->self.renewed_ms + l->lease_ms;
  len = lease_format (buf, sizeof buf, &l->self);
  if (len == -1)
    return errno;
  if (!l->conditional)
    cond = STORE_ALWAYS;
  *started = mono_ns ();
  err = store_put_cond (l->store, l->key, buf, len, cond,
                        cond == STORE_IF_MATCH ? l->etag : NULL, etag);
  if (err == 0)
    memcpy (l->etag, etag, sizeof etag);
  return err;
}

/* A renewal whose PUT started at started succeeded. */
static void
renewed (struct lease *l, uint64_t started)
{
  const uint64_t deadline =
    started + (uint64_t) (l->lease_ms - l->margin_ms) * 1000000;

  __atomic_store_n (&l->deadline_ns, deadline, __ATOMIC_RELEASE);
  if (l->paused) {
    nbdkit_debug ("export %s: lease renewed: uploads resume",
                  l->export_name);
    l->paused = false;
  }
}

int
lease_check (const struct lease *l)
{
  if (__atomic_load_n (&l->lost, __ATOMIC_ACQUIRE))
    return EROFS;
  return mono_ns () < __atomic_load_n (&l->deadline_ns, __ATOMIC_ACQUIRE)
    ? 0 : EIO;
}

static int
gate_check (void *opaque)
{
  return lease_check (opaque);
}

const struct store_gate *
lease_gate (const struct lease *l)
{
  return &l->gate;
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
  const unsigned poll_ms = l->lease_ms / 3 < 1000 ? l->lease_ms / 3 : 1000;
  char now_raw[LEASE_MAX], holder[256];
  struct lease_info now_held;
  const char *why;
  uint64_t now;
  size_t now_len;
  int err;

  nbdkit_debug ("export %s: waiting %.1f s for the lease of host %s "
                "(pid %" PRIi64 ") to expire; take-over-lease=true would "
                "not wait", l->export_name,
                ((double) held->expires_ms - wall_ms ()) / 1000,
                held->host, held->pid);
  while ((now = wall_ms ()) < held->expires_ms) {
    uint64_t left = held->expires_ms - now;

    sleep_ms (left < poll_ms ? (unsigned) left + 1 : poll_ms);
    err = read_lease (l, &now_held, now_raw, &now_len, &why);
    if (err == ENOENT)
      return 0;
    if (err && err != EBADMSG) {
      nbdkit_error ("export %s: cannot read its lease %s while waiting "
                    "for it to expire", l->export_name, l->key);
      return -1;
    }
    if (now_len != raw_len || memcmp (now_raw, raw, raw_len) != 0) {
      describe (holder, sizeof holder, err ? held : &now_held);
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
  const char *why;
  size_t len;
  int err;

  sleep_ms (CONFIRM_DELAY_MS);
  err = read_lease (l, &held, raw, &len, &why);
  if (err == 0 && strcmp (held.owner, l->self.owner) == 0)
    return 0;
  if (err == 0)
    describe (holder, sizeof holder, &held);
  nbdkit_error ("export %s: another server took the lease as this one "
                "started (%s)", l->export_name,
                err == 0 ? holder : "its lease could not be read back");
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
  l->gate.check = gate_check;
  l->gate.opaque = l;
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
  enum store_condition cond;
  const char *why = NULL;
  uint64_t started = 0;
  size_t raw_len;
  int attempt, err;

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
    err = read_lease (l, &held, raw, &raw_len, &why);
    if (err == ENOENT)
      cond = STORE_CREATE_ONLY;
    else if (err == EBADMSG) {
      if (!p->take_over) {
        nbdkit_error ("export %s: its lease object %s is malformed (%s): "
                      "add take-over-lease=true to replace it",
                      l->export_name, l->key, why);
        goto fail;
      }
      nbdkit_debug ("export %s: replacing malformed lease %s",
                    l->export_name, l->key);
    }
    else if (err) {
      nbdkit_error ("export %s: cannot read its lease %s", l->export_name,
                    l->key);
      goto fail;
    }
    else {
      describe (holder, sizeof holder, &held);
      switch (lease_judge (&held, &l->self, wall_ms (), lease_pid_alive)) {
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

    err = write_lease (l, cond, &started);
    if (err == EEXIST || err == ESTALE || err == ENOENT) {
      nbdkit_debug ("export %s: the lease changed as this server wrote it: "
                    "reading it again", l->export_name);
      continue;
    }
    if (err) {
      nbdkit_error ("export %s: cannot write its lease %s", l->export_name,
                    l->key);
      goto fail;
    }
    if (!l->conditional && confirm (l) == -1)
      goto fail;
    break;
  }

  renewed (l, started);
  pthread_mutex_lock (&lock);
  l->next = leases;
  leases = l;
  pthread_mutex_unlock (&lock);
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

/* The lease is another server's now: fence this one for good. */
static void
lose (struct lease *l, const struct lease_info *held)
{
  char holder[256];

  describe (holder, sizeof holder, held);
  nbdkit_error ("export %s: another server has taken over the lease "
                "(%s); this server stops writing to it", l->export_name,
                holder);
  __atomic_store_n (&l->lost, 1, __ATOMIC_RELEASE);
}

/* One renewal by the keeper.  Returns true if the lease is renewed or
 * lost (nothing to retry), false to retry soon.
 */
static bool
renew (struct lease *l)
{
  char raw[LEASE_MAX];
  struct lease_info held;
  const char *why;
  uint64_t started;
  size_t len;
  int err;

  if (__atomic_load_n (&l->lost, __ATOMIC_ACQUIRE))
    return true;

  if (l->conditional) {
    err = write_lease (l, STORE_IF_MATCH, &started);
    if (err == ESTALE || err == ENOENT) {
      /* Someone wrote or deleted it since we last did: look. */
      err = read_lease (l, &held, raw, &len, &why);
      if (err == 0 && strcmp (held.owner, l->self.owner) != 0) {
        lose (l, &held);
        return true;
      }
      if (err == ENOENT) {
        nbdkit_debug ("export %s: its lease %s was deleted: recreating it",
                      l->export_name, l->key);
        err = write_lease (l, STORE_CREATE_ONLY, &started);
      }
      else if (err == 0 || err == EBADMSG)
        /* Ours after all (a PUT that succeeded unseen), or garbage that
         * no server wrote: replace it.
         */
        err = write_lease (l, STORE_IF_MATCH, &started);
      /* Another EEXIST or ESTALE: the next round reads it again. */
    }
  }
  else {
    err = read_lease (l, &held, raw, &len, &why);
    if (err == 0 && strcmp (held.owner, l->self.owner) != 0) {
      lose (l, &held);
      return true;
    }
    if (err && err != ENOENT)
      nbdkit_debug ("export %s: could not check the lease; renewing anyway",
                    l->export_name);
    err = write_lease (l, STORE_ALWAYS, &started);
  }

  if (err == 0) {
    renewed (l, started);
    return true;
  }
  if (lease_check (l) == EIO && !l->paused) {
    nbdkit_error ("export %s: its lease could not be renewed in time (%s): "
                  "uploads pause until a renewal succeeds",
                  l->export_name, strerror (err));
    l->paused = true;
  }
  else
    nbdkit_debug ("export %s: could not renew its lease (%s): retrying",
                  l->export_name, strerror (err));
  return false;
}

static void *
keeper_main (void *arg)
{
  struct lease **batch = NULL;
  size_t cap = 0;

  pthread_mutex_lock (&lock);
  while (!keeper_stop) {
    unsigned interval_ms = 0;
    bool all_ok = true;
    struct timespec until;
    size_t i, n = 0;

    for (struct lease *l = leases; l; l = l->next)
      n++;
    if (n > cap) {
      struct lease **b = realloc (batch, n * sizeof *b);
      if (b) {
        batch = b;
        cap = n;
      }
    }
    n = 0;
    for (struct lease *l = leases; l && n < cap; l = l->next) {
      l->busy++;
      batch[n++] = l;
      if (interval_ms == 0 || l->lease_ms / 3 < interval_ms)
        interval_ms = l->lease_ms / 3;
    }

    /* No lock across the requests: writes and other exports go on. */
    pthread_mutex_unlock (&lock);
    for (i = 0; i < n; i++)
      if (!renew (batch[i]))
        all_ok = false;
    pthread_mutex_lock (&lock);

    for (i = 0; i < n; i++)
      batch[i]->busy--;
    if (n)
      pthread_cond_broadcast (&idle_cond);

    /* Every third of the shortest lease; a failed renewal is retried
     * every second at least, which lifts a pause soon after S3 answers.
     */
    if (interval_ms == 0 || (!all_ok && interval_ms > 1000))
      interval_ms = 1000;
    if (interval_ms < 10)
      interval_ms = 10;
    clock_gettime (CLOCK_REALTIME, &until);
    until.tv_sec += interval_ms / 1000;
    until.tv_nsec += (interval_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
    if (!keeper_stop)
      pthread_cond_timedwait (&keeper_cond, &lock, &until);
  }
  pthread_mutex_unlock (&lock);
  free (batch);
  return NULL;
}

int
lease_keeper_start (void)
{
  int err = 0;

  pthread_mutex_lock (&lock);
  if (!keeper_running) {
    keeper_stop = false;
    /* The first round runs at once: after nbdkit forks, the leases must
     * name the new pid.
     */
    err = pthread_create (&keeper, NULL, keeper_main, NULL);
    if (err == 0)
      keeper_running = true;
  }
  pthread_mutex_unlock (&lock);
  if (err) {
    errno = err;
    nbdkit_error ("cannot start the lease keeper thread: %m");
    return -1;
  }
  return 0;
}

void
lease_keeper_stop (void)
{
  pthread_mutex_lock (&lock);
  if (!keeper_running) {
    pthread_mutex_unlock (&lock);
    return;
  }
  keeper_stop = true;
  pthread_cond_signal (&keeper_cond);
  pthread_mutex_unlock (&lock);
  pthread_join (keeper, NULL);
  pthread_mutex_lock (&lock);
  keeper_running = false;
  pthread_mutex_unlock (&lock);
}

void
lease_release (struct lease *l)
{
  char raw[LEASE_MAX];
  struct lease_info held;
  const char *why;
  size_t len;

  if (l == NULL)
    return;
  pthread_mutex_lock (&lock);
  for (struct lease **p = &leases; *p; p = &(*p)->next)
    if (*p == l) {
      *p = l->next;
      break;
    }
  /* Unlisted, so the keeper will not pick it up again. */
  while (l->busy)
    pthread_cond_wait (&idle_cond, &lock);
  pthread_mutex_unlock (&lock);

  /* S3 has no conditional DELETE: read, then delete if still ours. */
  if (!__atomic_load_n (&l->lost, __ATOMIC_ACQUIRE) &&
      read_lease (l, &held, raw, &len, &why) == 0 &&
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
