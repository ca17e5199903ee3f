/* s3blocks: the lease object, leases/{export}, and how to judge one.
 *
 *   s3blocks-lease 1
 *   owner 6f1c...        random id of the holding server (32 hex digits)
 *   host build-7         its host name
 *   pid 12345            its process id
 *   renewed 1764075600123  wall clock, milliseconds since 1970
 *   expires 1764075660123
 *
 * A server renews its leases every third of their lifetime.  A lease
 * is fresh until it expires, unless its holder is on this host and
 * provably gone (no nbdkit process with that pid).
 */

#ifndef S3BLOCKS_LEASEINFO_H
#define S3BLOCKS_LEASEINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LEASE_MAGIC "s3blocks-lease 1"
#define LEASE_MAX 1024
#define LEASE_OWNER_LEN 32
#define LEASE_HOST_MAX 64

struct lease_info {
  char owner[LEASE_OWNER_LEN + 1];
  char host[LEASE_HOST_MAX + 1];
  int64_t pid;
  uint64_t renewed_ms;
  uint64_t expires_ms;
};

enum lease_verdict {
  LEASE_OURS,                   /* held by this server */
  LEASE_FRESH,                  /* held by another live server */
  LEASE_STALE,                  /* its holder is gone or late */
};

extern int lease_format (char *buf, size_t size, const struct lease_info *l);
extern int lease_parse (const char *buf, size_t len, struct lease_info *l,
                        const char **why);

/* pid_alive answers for pids on this host. */
extern enum lease_verdict lease_judge (const struct lease_info *held,
                                       const char *our_owner,
                                       const char *our_host,
                                       uint64_t now_ms,
                                       bool (*pid_alive) (int64_t pid));

#endif /* S3BLOCKS_LEASEINFO_H */
