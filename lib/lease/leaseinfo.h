/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the lease object, leases/{export}, and how to judge one.
 *
 *   s3blocks-lease 1
 *   owner 6f1c...        random id of the holding server (32 hex digits)
 *   host build-7         its host name (for people: containers share it)
 *   pid 12345            its process id
 *   renewed 1764075600123  wall clock, milliseconds since 1970
 *   expires 1764075660123
 *   machine 9f2e...      /etc/machine-id                 } optional: older
 *   boot 0b5c...         /proc/sys/kernel/random/boot_id } servers neither
 *   pidns pid:[4026531836]  its pid namespace            } write nor read
 *   start 81234          its start time (/proc/PID/stat field 22) } them
 *
 * The magic stays at 1: the added lines are optional, so an old server
 * still parses a new lease (it ignores lines it does not know) and a
 * lease written by an old server parses here, judged as another host's.
 * Who writes and reads it: docs/bucket-format.md (which carries this
 * format too).
 *
 * A server renews its leases every third of their lifetime.  A lease
 * is judged, by a server that is not its owner:
 *   expired        by our wall clock: free to take
 *   gone           same machine, and another boot, or the same boot and
 *                  pid namespace but no process with that pid and start
 *                  time (or, start time unknown, no nbdkit with that pid)
 *   live here      same machine, boot and pid namespace, holder running
 *   elsewhere      anything else: wait for it to expire
 * Same machine means equal non-empty machine ids or, when neither has
 * one, equal non-empty boot ids (a boot id names one running kernel).
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
#define LEASE_ID_MAX 64         /* machine, boot and pidns */

struct lease_info {
  char owner[LEASE_OWNER_LEN + 1];
  char host[LEASE_HOST_MAX + 1];
  int64_t pid;
  uint64_t renewed_ms;
  uint64_t expires_ms;
  /* "" and 0 when absent. */
  char machine[LEASE_ID_MAX + 1];
  char boot[LEASE_ID_MAX + 1];
  char pidns[LEASE_ID_MAX + 1];
  uint64_t start;
};

enum lease_verdict {
  LEASE_OURS,                   /* held by this server */
  LEASE_EXPIRED,                /* past its expiry time */
  LEASE_GONE,                   /* holder on this host, provably gone */
  LEASE_LIVE_HERE,              /* holder on this host and running */
  LEASE_ELSEWHERE,              /* unexpired, holder elsewhere */
};

/* Returns the length, or -1 with errno ENAMETOOLONG. */
extern int lease_format (char *buf, size_t size, const struct lease_info *l);
/* Returns 0, or -1 with *why saying what is wrong. */
extern int lease_parse (const char *buf, size_t len, struct lease_info *l,
                        const char **why);

/* Whether held and self (our identity, as we would write it) name the
 * same machine.
 */
extern bool lease_same_machine (const struct lease_info *held,
                                const struct lease_info *self);

/* pid_alive answers for pids in our own pid namespace; start is 0 when
 * unknown.
 */
extern enum lease_verdict lease_judge (const struct lease_info *held,
                                       const struct lease_info *self,
                                       uint64_t now_ms,
                                       bool (*pid_alive) (int64_t pid,
                                                          uint64_t start));

/* This process as a lease names it: host, machine, boot, pidns, pid
 * and start; owner and times are left alone.  What cannot be read is
 * left empty (or 0), which judges as another host.
 */
extern void lease_identity_of_this_process (struct lease_info *self);

/* The start time of a process (field 22 of /proc/PID/stat), 0 if
 * unknown.
 */
extern uint64_t lease_process_start (int64_t pid);

/* Whether a process in our pid namespace is the holder: that pid
 * exists with that start time (start 0: and is an nbdkit).  When it
 * cannot tell, it says alive.
 */
extern bool lease_pid_alive (int64_t pid, uint64_t start);

#endif /* S3BLOCKS_LEASEINFO_H */
