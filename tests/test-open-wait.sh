#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# Opening an export whose lease another host holds waits for that lease
# to expire, and holds up nothing else: while a client's open of export
# A waits, another client opens export B and writes, reads and flushes
# it; A's open then succeeds, no earlier than the lease's expiry.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh
export EXPORT TMPD SOCK

A="$EXPORT-a"
B="$EXPORT-b"
export A B

start_s3
# B is the default export, opened at startup; A is left alone until a
# client asks for it.
start_nbdkit -- "export=$B" "exports=$EXPORT-*" size=4M lease-time=20s

# A lease on A from another machine (another machine and boot id), not
# renewed, expiring in 6 s: it cannot be proved dead, only waited out.
now_ms=$(date +%s%3N)
expires_ms=$(( now_ms + 6000 ))
cat > "$TMPD/foreign-lease" <<LEASE
s3blocks-lease 1
owner 0123456789abcdef0123456789abcdef
host elsewhere.example
pid 4242
renewed $now_ms
expires $expires_ms
machine 0000000000000000000000000000beef
boot 00000000-0000-0000-0000-00000000beef
pidns 4026531836
start 4242
LEASE
s3util put "leases/$A" "$TMPD/foreign-lease"

# The client of A: records when its open returned, then writes.
nbdsh -c - > "$TMPD/client-a.log" 2>&1 <<'PY' &
import os, time, nbd
h = nbd.NBD()
h.set_export_name(os.environ["A"])
try:
    h.connect_unix(os.environ["SOCK"])
except nbd.Error:
    open(os.environ["TMPD"] + "/a-failed", "w").close()
    raise
with open(os.environ["TMPD"] + "/a-opened.tmp", "w") as f:
    f.write("%d\n" % int(time.time() * 1000))
os.rename(os.environ["TMPD"] + "/a-opened.tmp",
          os.environ["TMPD"] + "/a-opened")
h.pwrite(b"A" * 4096, 0)
h.flush()
h.shutdown()
PY
client_a=$!
on_exit "kill $client_a 2>/dev/null"

# Wait until the server is in A's open (bounded by WAIT_STEPS).
wait_for "the server to start opening $A" \
    grep -q "open readonly=0 exportname=\"$A\"" "$TMPD/nbdkit.log"
[ ! -e "$TMPD/a-opened" ] ||
    fail "A opened at once, although another host's lease is fresh"

# B's whole session must finish while A's open is still waiting: A's
# client has neither returned from its open nor given up.
nbdsh -c - <<'PY' || fail "the client of B failed or was held up"
import os, nbd
h = nbd.NBD()
h.set_export_name(os.environ["B"])
h.connect_unix(os.environ["SOCK"])
h.pwrite(b"B" * 8192, 4096)
h.flush()
assert h.pread(8192, 4096) == b"B" * 8192
h.shutdown()
assert not os.path.exists(os.environ["TMPD"] + "/a-opened"), \
    "A's open returned before B's I/O was done: B waited for A"
assert not os.path.exists(os.environ["TMPD"] + "/a-failed"), \
    "A's open failed instead of waiting"
print("ok: B opened, wrote, flushed and read back while A's open waited")
PY

# A's open returns once the foreign lease has expired (bounded wait).
wait_for "A's open to return" test -e "$TMPD/a-opened"
wait "$client_a" || { cat "$TMPD/client-a.log" >&2; fail "the client of A failed"; }
opened_ms=$(cat "$TMPD/a-opened")
[ "$opened_ms" -ge "$expires_ms" ] ||
    fail "A opened at $opened_ms, before the foreign lease expired at $expires_ms"
echo "ok: A's open waited for the other host's lease to expire, then succeeded"

nbdsh -u "$(uri "$A")" -c 'assert h.pread(4096, 0) == b"A" * 4096'
nbdsh -u "$(uri "$B")" -c 'assert h.pread(8192, 4096) == b"B" * 8192'
s3util get "leases/$A" "$TMPD/lease-after"
! grep -q "^owner 0123456789abcdef0123456789abcdef" "$TMPD/lease-after" ||
    fail "the lease on A still names the other host"
echo "ok: both exports hold their data, and A's lease is this server's"
stop_nbdkit
