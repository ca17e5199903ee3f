#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# A server that cannot renew its lease (the lease object unreachable,
# everything else fine) stops uploading before the lease could expire:
# a flush then fails with EIO and the dirty block does not reach S3.
# Once a renewal gets through, the same flush succeeds.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh
export EXPORT TMPD

start_s3 --faults
# lease-time=3s: renewed every second; the fencing margin is 1 s, so
# uploads stop at most 2 s after the last renewal that got through.
start_nbdkit -- "export=$EXPORT" size=8M lease-time=3s write-delay=0

nbdsh -u "$(uri)" -c - <<'PY' &
import errno, os, subprocess, time
tmpd = os.environ["TMPD"]

h.pwrite(b"\x42" * 4096, 0)
# From here on every request for the lease object gets HTTP 503.
subprocess.run(["bash", "-c", 'echo "503 1000000 leases/ 0" > "$TMPD/faults"'],
               check=True)
time.sleep(4)                   # past the 2 s the lease allows
try:
    h.flush()
    raise AssertionError("a flush succeeded although the lease could not be renewed")
except nbd.Error as e:
    assert e.errnum == errno.EIO, "flush: got %s" % e
open(tmpd + "/fenced", "w").close()

# Back: the keeper renews within a second or so, and the flush goes.
while not os.path.exists(tmpd + "/reachable"):
    time.sleep(0.1)
for attempt in range(100):      # 20 s at most
    try:
        h.flush()
        break
    except nbd.Error:
        time.sleep(0.2)
else:
    raise AssertionError("the flush never succeeded after the lease came back")
print("ok: flushed once the lease was renewed")
PY
client=$!
for (( i=0; i<200; i++ )); do
    [ -f "$TMPD/fenced" ] && break
    kill -0 "$client" 2>/dev/null || break
    sleep 0.1
done
[ -f "$TMPD/fenced" ] || { wait "$client" || true; fail "the client did not get to the fenced flush"; }
[ "$(s3util count "blocks/$EXPORT/")" = 0 ] ||
    fail "a block was uploaded while the lease could not be renewed"
grep -q "lease" "$TMPD/nbdkit.log" || fail "nothing about the lease in the log"
echo "ok: unrenewable lease: flush refused with EIO, nothing uploaded"

inject_faults 500 0 nothing
touch "$TMPD/reachable"
wait "$client" || fail "the client failed after the lease came back"
[ "$(s3util count "blocks/$EXPORT/")" = 1 ] || fail "the block did not reach S3"
stop_nbdkit
echo "ok: the lease renewed again, the same data flushed"
