/* s3blocks: the lease object and how to judge one. */

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "leaseinfo.h"

int
lease_format (char *buf, size_t size, const struct lease_info *l)
{
  int len = snprintf (buf, size,
                      LEASE_MAGIC "\nowner %s\nhost %s\npid %" PRIi64
                      "\nrenewed %" PRIu64 "\nexpires %" PRIu64 "\n",
                      l->owner, l->host, l->pid, l->renewed_ms,
                      l->expires_ms);

  if (len < 0 || (size_t) len >= size) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return len;
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

enum lease_verdict
lease_judge (const struct lease_info *held, const char *our_owner,
             const char *our_host, uint64_t now_ms,
             bool (*pid_alive) (int64_t pid))
{
  if (strcmp (held->owner, our_owner) == 0)
    return LEASE_OURS;
  if (now_ms >= held->expires_ms)
    return LEASE_STALE;
  if (strcmp (held->host, our_host) == 0 && !pid_alive (held->pid))
    return LEASE_STALE;
  return LEASE_FRESH;
}
