/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the lease object, how to judge one, and who we are. */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lease/leaseinfo.h"

int
lease_format (char *buf, size_t size, const struct lease_info *l)
{
  int len = snprintf (buf, size,
                      LEASE_MAGIC "\nowner %s\nhost %s\npid %" PRIi64
                      "\nrenewed %" PRIu64 "\nexpires %" PRIu64 "\n",
                      l->owner, l->host, l->pid, l->renewed_ms,
                      l->expires_ms);
  int n;

  if (len < 0 || (size_t) len >= size)
    goto too_long;
  /* Optional lines: an empty value has no word to write. */
#define OPT(name, fmt, value, present)                                  \
  if (present) {                                                        \
    n = snprintf (buf + len, size - len, name " " fmt "\n", value);     \
    if (n < 0 || (size_t) n >= size - len)                              \
      goto too_long;                                                    \
    len += n;                                                           \
  }
  OPT ("machine", "%s", l->machine, l->machine[0]);
  OPT ("boot", "%s", l->boot, l->boot[0]);
  OPT ("pidns", "%s", l->pidns, l->pidns[0]);
  OPT ("start", "%" PRIu64, l->start, l->start);
#undef OPT
  return len;

 too_long:
  errno = ENAMETOOLONG;
  return -1;
}

static int
copy_word (char *dst, size_t dst_size, const char *src, size_t len)
{
  size_t i;

  if (len == 0 || len >= dst_size)
    return -1;
  for (i = 0; i < len; i++)
    if (src[i] <= ' ' || src[i] > '~')
      return -1;
  memcpy (dst, src, len);
  dst[len] = '\0';
  return 0;
}

static int
parse_u64 (const char *s, size_t len, uint64_t *r)
{
  char tmp[24];
  char *end;

  if (len == 0 || len >= sizeof tmp || s[0] < '0' || s[0] > '9')
    return -1;
  memcpy (tmp, s, len);
  tmp[len] = '\0';
  errno = 0;
  *r = strtoull (tmp, &end, 10);
  return errno || *end ? -1 : 0;
}

int
lease_parse (const char *buf, size_t len, struct lease_info *l,
             const char **why)
{
  const size_t magic_len = strlen (LEASE_MAGIC);
  const char *p = buf, *end = buf + len;
  unsigned seen = 0;
  uint64_t pid = 0;

  memset (l, 0, sizeof *l);
  if (len < magic_len + 1 || memcmp (buf, LEASE_MAGIC "\n", magic_len + 1)) {
    *why = "it does not start with \"" LEASE_MAGIC "\"";
    return -1;
  }
  p += magic_len + 1;
  while (p < end) {
    const char *eol = memchr (p, '\n', end - p);
    const char *sp, *val;
    size_t name_len, val_len;
    int r = 0;

    if (eol == NULL)
      eol = end;
    sp = memchr (p, ' ', eol - p);
    if (sp == NULL) {
      p = eol + 1;
      continue;
    }
    name_len = sp - p;
    val = sp + 1;
    val_len = eol - val;
#define IS(s) (name_len == strlen (s) && memcmp (p, s, name_len) == 0)
    if (IS ("owner"))
      r = copy_word (l->owner, sizeof l->owner, val, val_len), seen |= 1;
    else if (IS ("host"))
      r = copy_word (l->host, sizeof l->host, val, val_len), seen |= 2;
    else if (IS ("pid"))
      r = parse_u64 (val, val_len, &pid), seen |= 4;
    else if (IS ("renewed"))
      r = parse_u64 (val, val_len, &l->renewed_ms), seen |= 8;
    else if (IS ("expires"))
      r = parse_u64 (val, val_len, &l->expires_ms), seen |= 16;
    else if (IS ("machine"))
      r = copy_word (l->machine, sizeof l->machine, val, val_len);
    else if (IS ("boot"))
      r = copy_word (l->boot, sizeof l->boot, val, val_len);
    else if (IS ("pidns"))
      r = copy_word (l->pidns, sizeof l->pidns, val, val_len);
    else if (IS ("start"))
      r = parse_u64 (val, val_len, &l->start);
#undef IS
    if (r == -1) {
      *why = "a field has a bad value";
      return -1;
    }
    p = eol + 1;
  }
  if (seen != 31) {
    *why = "a field is missing";
    return -1;
  }
  if (pid > INT64_MAX) {
    *why = "the pid is out of range";
    return -1;
  }
  l->pid = pid;
  return 0;
}

bool
lease_same_machine (const struct lease_info *held,
                    const struct lease_info *self)
{
  if (held->machine[0] || self->machine[0])
    return strcmp (held->machine, self->machine) == 0;
  return held->boot[0] && strcmp (held->boot, self->boot) == 0;
}

enum lease_verdict
lease_judge (const struct lease_info *held, const struct lease_info *self,
             uint64_t now_ms, bool (*pid_alive) (int64_t pid, uint64_t start))
{
  if (strcmp (held->owner, self->owner) == 0)
    return LEASE_OURS;
  if (now_ms >= held->expires_ms)
    return LEASE_EXPIRED;
  if (!lease_same_machine (held, self))
    return LEASE_ELSEWHERE;
  /* Machine ids survive a reboot, boot ids do not: a lease of an
   * earlier boot of this machine has no holder left.
   */
  if (held->boot[0] == '\0' || self->boot[0] == '\0')
    return LEASE_ELSEWHERE;
  if (strcmp (held->boot, self->boot) != 0)
    return LEASE_GONE;
  /* Another container on this kernel: its pids are not ours to see. */
  if (held->pidns[0] == '\0' || strcmp (held->pidns, self->pidns) != 0)
    return LEASE_ELSEWHERE;
  return pid_alive (held->pid, held->start) ? LEASE_LIVE_HERE : LEASE_GONE;
}

/* Read a small file whole into buf (NUL-terminated).  Returns its
 * length, or -1 with errno set.
 */
static ssize_t
read_small (const char *path, char *buf, size_t size)
{
  int fd = open (path, O_RDONLY | O_CLOEXEC);
  ssize_t n;

  if (fd == -1)
    return -1;
  n = read (fd, buf, size - 1);
  close (fd);
  if (n < 0)
    return -1;
  buf[n] = '\0';
  return n;
}

/* The first line of a file as one word, or "" if there is none. */
static void
read_word (const char *path, char *dst, size_t dst_size)
{
  char buf[256];
  ssize_t n = read_small (path, buf, sizeof buf);

  dst[0] = '\0';
  if (n <= 0)
    return;
  buf[strcspn (buf, "\n")] = '\0';
  if (copy_word (dst, dst_size, buf, strlen (buf)) == -1)
    dst[0] = '\0';
}

void
lease_identity_of_this_process (struct lease_info *self)
{
  char buf[LEASE_ID_MAX + 1];
  ssize_t n;
  size_t i;

  if (gethostname (self->host, sizeof self->host) == -1 ||
      self->host[0] == '\0')
    strcpy (self->host, "unknown");
  self->host[LEASE_HOST_MAX] = '\0';
  for (i = 0; self->host[i]; i++)
    if (self->host[i] <= ' ' || self->host[i] > '~')
      self->host[i] = '_';

  read_word ("/etc/machine-id", self->machine, sizeof self->machine);
  if (self->machine[0] == '\0')
    read_word ("/var/lib/dbus/machine-id", self->machine,
               sizeof self->machine);
  read_word ("/proc/sys/kernel/random/boot_id", self->boot,
             sizeof self->boot);
  n = readlink ("/proc/self/ns/pid", buf, sizeof buf - 1);
  self->pidns[0] = '\0';
  if (n > 0) {
    buf[n] = '\0';
    if (copy_word (self->pidns, sizeof self->pidns, buf, n) == -1)
      self->pidns[0] = '\0';
  }
  self->pid = getpid ();
  self->start = lease_process_start (self->pid);
}

/* /proc/PID/stat: "pid (comm) state ppid ...": comm may hold spaces
 * and parentheses, so fields are counted from the last ')'.  Returns
 * 0, or -1 with errno from open (ENOENT: no such process), or EINVAL.
 */
static int
read_stat (int64_t pid, char *comm, size_t comm_size, uint64_t *start)
{
  char path[64], buf[1024];
  char *open_paren, *close_paren, *p;
  size_t len;
  int field;

  snprintf (path, sizeof path, "/proc/%" PRIi64 "/stat", pid);
  if (read_small (path, buf, sizeof buf) <= 0)
    return -1;
  open_paren = strchr (buf, '(');
  close_paren = strrchr (buf, ')');
  if (open_paren == NULL || close_paren == NULL || close_paren < open_paren) {
    errno = EINVAL;
    return -1;
  }
  len = close_paren - open_paren - 1;
  if (len >= comm_size)
    len = comm_size - 1;
  memcpy (comm, open_paren + 1, len);
  comm[len] = '\0';
  /* p is at the space before field 3; step to the one before field
   * 22, the start time.
   */
  p = close_paren + 1;
  for (field = 3; field < 22 && p; field++)
    p = strchr (p + 1, ' ');
  *start = p ? strtoull (p + 1, NULL, 10) : 0;
  return 0;
}

uint64_t
lease_process_start (int64_t pid)
{
  char comm[64];
  uint64_t start;

  if (pid <= 0 || pid > INT32_MAX || read_stat (pid, comm, sizeof comm,
                                                &start) == -1)
    return 0;
  return start;
}

bool
lease_pid_alive (int64_t pid, uint64_t start)
{
  char comm[64];
  uint64_t its_start;

  if (pid <= 0 || pid > INT32_MAX)
    return false;
  if (read_stat (pid, comm, sizeof comm, &its_start) == -1) {
    if (errno == ENOENT)
      return false;
    /* No /proc, or it hides other users' processes. */
    return !(kill ((pid_t) pid, 0) == -1 && errno == ESRCH);
  }
  /* A recycled pid has another start time. */
  if (start && its_start)
    return start == its_start;
  return strncmp (comm, "nbdkit", 6) == 0;
}
