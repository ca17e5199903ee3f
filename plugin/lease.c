/* s3blocks: the single-writer lease on an export.
 *
 * Two servers writing one export would corrupt it, and S3 (in the
 * Signature V2 dialect libs3 speaks) has no conditional write to
 * arbitrate between them.  So a read-write server writes a lease object
 * naming itself, checks after a pause that it is still the one named,
 * and renews it from a background thread.  A second server finding a
 * fresh lease refuses to start; a stale one (expired, or its holder on
 * this host is gone) is taken over only when the user says so.  If the
 * keeper finds its lease taken over, the export stops accepting writes.
 *
 * This protects against mistakes (a second server started on the same
 * export), not against two servers started in the same instant by a
 * determined user: that needs an object store with conditional writes.
 */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <nbdkit-plugin.h>

#include "keys.h"
#include "lease.h"
#include "leaseinfo.h"

/* How long to wait before reading back a lease just written. */
#define CONFIRM_DELAY_MS 100

struct lease {
  struct store *store;
  char *export_name;
  char key[KEY_MAX];
  unsigned lease_ms;
  bool lost;
  struct lease *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t keeper_cond = PTHREAD_COND_INITIALIZER;
static struct lease *leases;
static pthread_t keeper;
static bool keeper_running, keeper_stop;
static char our_owner[LEASE_OWNER_LEN + 1];
static char our_host[LEASE_HOST_MAX + 1];

static uint64_t
wall_ms (void)
{
  struct timespec ts;

  clock_gettime (CLOCK_REALTIME, &ts);
  return (uint64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sleep_ms (unsigned ms)
{
  struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

  nanosleep (&ts, NULL);
}

static int
init_identity (void)
{
  unsigned char id[LEASE_OWNER_LEN / 2];
  size_t i;

  if (our_owner[0])
    return 0;
  if (getrandom (id, sizeof id, 0) != (ssize_t) sizeof id) {
    nbdkit_error ("getrandom: %m");
    return -1;
  }
  for (i = 0; i < sizeof id; i++)
    snprintf (&our_owner[2 * i], 3, "%02x", id[i]);
  if (gethostname (our_host, sizeof our_host) == -1 || our_host[0] == '\0')
    strcpy (our_host, "unknown");
  our_host[LEASE_HOST_MAX] = '\0';
  for (i = 0; our_host[i]; i++)
    if (our_host[i] <= ' ' || our_host[i] > '~')
      our_host[i] = '_';
  return 0;
}

/* Is pid on this host a running nbdkit? */
static bool
pid_alive (int64_t pid)
{
  char path[64], comm[64] = "";
  int fd;
  ssize_t n;

  if (pid <= 0 || pid > INT32_MAX)
    return false;
  if (kill ((pid_t) pid, 0) == -1 && errno == ESRCH)
    return false;
  snprintf (path, sizeof path, "/proc/%" PRIi64 "/comm", pid);
  fd = open (path, O_RDONLY | O_CLOEXEC);
  if (fd == -1)
    return true;                /* cannot tell: assume it is */
  n = read (fd, comm, sizeof comm - 1);
  close (fd);
  if (n <= 0)
    return true;
  comm[n] = '\0';
  return strncmp (comm, "nbdkit", 6) == 0;
}

/* Read the lease object.  Returns 0 (found), ENOENT, or an errno. */
static int
read_lease (struct store *store, const char *key, struct lease_info *info,
            const char **why)
{
  char buf[LEASE_MAX + 1];
  size_t got = 0;
  int err = store_get (store, key, buf, LEASE_MAX, &got);

  if (err)
    return err;
  if (lease_parse (buf, got, info, why) == -1)
    return EBADMSG;
  return 0;
}

static int
write_lease (struct lease *l)
{
  struct lease_info info;
  char buf[LEASE_MAX];
  int len;

  memset (&info, 0, sizeof info);
  strcpy (info.owner, our_owner);
  strcpy (info.host, our_host);
  info.pid = getpid ();
  info.renewed_ms = wall_ms ();
  info.expires_ms = info.renewed_ms + l->lease_ms;
  len = lease_format (buf, sizeof buf, &info);
  if (len == -1)
    return errno;
  return store_put (l->store, l->key, buf, len);
}

static void
describe (char *buf, size_t size, const struct lease_info *info)
{
  const uint64_t now = wall_ms ();

  snprintf (buf, size, "host %s, pid %" PRIi64 ", renewed %.1f s ago, %s "
            "%.1f s", info->host, info->pid,
            (now - (double) info->renewed_ms) / 1000,
            now < info->expires_ms ? "expires in" : "expired",
            ((double) info->expires_ms - now) / 1000 * (now < info->expires_ms ? 1 : -1));
}

struct lease *
lease_acquire (struct store *store, const struct lease_params *params)
{
  const char *export_name = params->export_name;
  unsigned lease_ms = params->lease_ms;
  bool take_over = params->take_over;
  struct lease *l;
  struct lease_info held;
  const char *why = NULL;
  char holder[256];
  int err;

  if (init_identity () == -1)
    return NULL;
  l = calloc (1, sizeof *l);
  if (l == NULL || (l->export_name = strdup (export_name)) == NULL) {
    nbdkit_error ("calloc: %m");
    free (l);
    return NULL;
  }
  l->store = store;
  l->lease_ms = lease_ms;
  export_lease_key (l->key, sizeof l->key, export_name);

  err = read_lease (store, l->key, &held, &why);
  if (err == EBADMSG) {
    if (!take_over) {
      nbdkit_error ("export %s: its lease object %s is malformed (%s): "
                    "add take-over-lease=true to replace it",
                    export_name, l->key, why);
      goto fail;
    }
    nbdkit_debug ("export %s: replacing malformed lease %s", export_name,
                  l->key);
  }
  else if (err == 0) {
    describe (holder, sizeof holder, &held);
    switch (lease_judge (&held, our_owner, our_host, wall_ms (), pid_alive)) {
    case LEASE_OURS:
      break;
    case LEASE_FRESH:
      nbdkit_error ("export %s is in use by another server (%s): "
                    "stop it first, or serve this one read-only (-r)",
                    export_name, holder);
      goto fail;
    case LEASE_STALE:
      if (!take_over) {
        nbdkit_error ("export %s has a stale lease from a server that is "
                      "gone (%s): if it is really stopped, add "
                      "take-over-lease=true", export_name, holder);
        goto fail;
      }
      nbdkit_debug ("export %s: taking over the stale lease (%s)",
                    export_name, holder);
      break;
    }
  }
  else if (err != ENOENT) {
    nbdkit_error ("export %s: cannot read its lease %s", export_name,
                  l->key);
    goto fail;
  }

  err = write_lease (l);
  if (err) {
    nbdkit_error ("export %s: cannot write its lease %s", export_name,
                  l->key);
    goto fail;
  }

  /* Two servers starting at once both write; the later write wins, and
   * the loser sees it here.
   */
  sleep_ms (CONFIRM_DELAY_MS);
  err = read_lease (store, l->key, &held, &why);
  if (err || strcmp (held.owner, our_owner) != 0) {
    if (err == 0)
      describe (holder, sizeof holder, &held);
    nbdkit_error ("export %s: another server took the lease as this one "
                  "started (%s)", export_name,
                  err == 0 ? holder : "its lease could not be read back");
    goto fail;
  }

  pthread_mutex_lock (&lock);
  l->next = leases;
  leases = l;
  pthread_mutex_unlock (&lock);
  nbdkit_debug ("export %s: lease %s taken for %u ms", export_name, l->key,
                lease_ms);
  return l;

 fail:
  errno = EBUSY;
  free (l->export_name);
  free (l);
  return NULL;
}

/* Lock-free: the keeper holds the lock through a whole renewal round,
 * S3 requests included, and writes must not wait for that.
 */
int
lease_check (const struct lease *l)
{
  return __atomic_load_n (&l->lost, __ATOMIC_ACQUIRE) ? EROFS : 0;
}

static void
renew (struct lease *l)
{
  struct lease_info held;
  const char *why;
  int err;

  if (l->lost)
    return;
  err = read_lease (l->store, l->key, &held, &why);
  if (err == 0 && strcmp (held.owner, our_owner) != 0) {
    char holder[256];

    describe (holder, sizeof holder, &held);
    nbdkit_error ("export %s: another server has taken over the lease "
                  "(%s); this server stops writing to it",
                  l->export_name, holder);
    __atomic_store_n (&l->lost, true, __ATOMIC_RELEASE);
    return;
  }
  if (err && err != ENOENT) {
    nbdkit_debug ("export %s: could not check the lease; renewing anyway",
                  l->export_name);
  }
  if (write_lease (l))
    nbdkit_error ("export %s: could not renew its lease; retrying",
                  l->export_name);
}

static void *
keeper_main (void *arg)
{
  pthread_mutex_lock (&lock);
  while (!keeper_stop) {
    unsigned interval_ms = 0;
    struct timespec until;

    for (struct lease *l = leases; l; l = l->next) {
      renew (l);
      if (interval_ms == 0 || l->lease_ms / 3 < interval_ms)
        interval_ms = l->lease_ms / 3;
    }
    if (interval_ms == 0)
      interval_ms = 1000;
    clock_gettime (CLOCK_REALTIME, &until);
    until.tv_sec += interval_ms / 1000;
    until.tv_nsec += (interval_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000) {
      until.tv_sec++;
      until.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait (&keeper_cond, &lock, &until);
  }
  pthread_mutex_unlock (&lock);
  return NULL;
}

int
lease_keeper_start (void)
{
  int err;

  pthread_mutex_lock (&lock);
  keeper_stop = false;
  /* The first round runs at once: after nbdkit forks, the leases must
   * name the new pid.
   */
  err = pthread_create (&keeper, NULL, keeper_main, NULL);
  if (err == 0)
    keeper_running = true;
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
  keeper_running = false;
}

void
lease_release (struct lease *l)
{
  struct lease_info held;
  const char *why;

  if (l == NULL)
    return;
  pthread_mutex_lock (&lock);
  for (struct lease **p = &leases; *p; p = &(*p)->next)
    if (*p == l) {
      *p = l->next;
      break;
    }
  pthread_mutex_unlock (&lock);

  if (!l->lost && read_lease (l->store, l->key, &held, &why) == 0 &&
      strcmp (held.owner, our_owner) == 0) {
    if (store_delete (l->store, l->key))
      nbdkit_error ("export %s: could not delete its lease %s; the next "
                    "server will need take-over-lease=true",
                    l->export_name, l->key);
    else
      nbdkit_debug ("export %s: lease released", l->export_name);
  }
  free (l->export_name);
  free (l);
}
