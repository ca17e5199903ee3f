# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
"""What the gc integration tests (test-cas-gc.sh, test-log-gc.sh,
test-log-gc-clones.sh) share: the admin command, "s3blocks gc" in a
loop beside their workload, and a flush retried when it fails under
load.  ADMIN and S3ARGS come from the environment."""

import os
import subprocess
import sys
import threading
import time

import nbd

ADMIN = os.environ["ADMIN"]
S3ARGS = os.environ["S3ARGS"].split()


def admin(*args, ok=(0,)):
    """Run the admin command; exit the test unless its status is in ok."""
    p = subprocess.run([ADMIN, *args, *S3ARGS], capture_output=True,
                       text=True, timeout=120)
    if p.returncode not in ok:
        sys.exit("s3blocks %s: exit %d: %s%s" % (" ".join(args), p.returncode,
                                                p.stdout, p.stderr))
    return p


class GcLoop:
    """"s3blocks gc grace=GRACE" every 0.3 s in a thread, at most rounds
    times, until stop().  Counts runs that succeeded (ok) and that were
    refused (exit 1, printed), the objects they deleted (deleted) and of
    those the segments (segs_deleted).  A run that failed otherwise
    ends the loop; failed says why (admin's exit, which in a thread
    ends only the thread)."""

    def __init__(self, rounds, grace="5s"):
        self.rounds, self.grace = rounds, grace
        self.ok = self.refused = self.deleted = self.segs_deleted = 0
        self.failed = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.start()

    def _run(self):
        for _ in range(self.rounds):
            if self._stop.is_set():
                return
            try:
                p = admin("gc", "grace=" + self.grace, ok=(0, 1))
            except SystemExit as e:
                self.failed = str(e)
                return
            if p.returncode == 0:
                self.ok += 1
                for line in p.stdout.splitlines():
                    w = line.split()
                    if line.startswith("gc: deleted "):
                        self.deleted += int(w[2])
                    elif line.startswith("gc: segments: "):
                        self.segs_deleted += int(w[w.index("deleted") + 1])
            else:
                self.refused += 1
                print("gc refused:", p.stderr.strip(), flush=True)
            time.sleep(0.3)

    def stop(self):
        self._stop.set()
        self._thread.join()

    def __repr__(self):
        return ("gc runs: %d ok, %d refused, %d objects deleted, %d of them "
                "segments" % (self.ok, self.refused, self.deleted,
                              self.segs_deleted))


flush_retries = 0


def flush(h, name):
    """A failed commit loses nothing: its changes stay pending and the next
    flush commits them.  Under load (ASan, two cores) one can fail: a
    request times out or s3rver answers a LIST with an internal error
    (timeout=1s, retries=0 keep the commit bound within grace=5s), or it
    waits too long for a gc sweep chunk and gives up within its bound.
    It is retried; a block whose content was really gone would fail every
    retry."""
    global flush_retries
    for attempt in range(4):
        try:
            h.flush()
            return
        except nbd.Error as e:
            if attempt == 3:
                raise
            flush_retries += 1
            print("flush of %s failed (%s): retrying" % (name, e), flush=True)
            time.sleep(0.5)
