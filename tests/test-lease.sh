#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# The single-writer lease: a second read-write server on the same export
# is refused with a message naming the holder; read-only serving is
# always allowed; after a crash a server on the same host takes the
# lease over at once, with no flag; another host's lease is waited for
# until it expires, and refused if it is renewed meanwhile; a server
# whose lease is taken over refuses writes and flushes (EROFS) and never
# uploads what it holds.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh
export EXPORT TMPD

# foreign_lease FILE OWNER EXPIRES_IN_S: a lease of "another host"
# (another machine id and boot id), renewed now.
foreign_lease ()
{
    local now_ms
    now_ms=$(date +%s%3N)
    cat > "$1" <<LEASE
s3blocks-lease 1
owner $2
host elsewhere.example
pid 4242
renewed $now_ms
expires $(( now_ms + $3 * 1000 ))
machine 0000000000000000000000000000beef
boot 00000000-0000-0000-0000-00000000beef
pidns pid:[4026531836]
start 1234
LEASE
}

lease_owner ()
{
    s3util get "leases/$EXPORT" "$TMPD/lease-now" &&
        sed -n 's/^owner //p' "$TMPD/lease-now"
}

# A long lease: a restart that waited for it to expire would time out
# in start_nbdkit (30 s), so starting proves it did not wait.
start_s3
start_nbdkit -- "export=$EXPORT" size=8M lease-time=60s
nbdsh -u "$(uri)" -c 'h.pwrite(b"1" * 4096, 0); h.flush()'

# A second read-write server: refused, naming the holder's host and pid.
holder_pid=$(cat "$TMPD/nbdkit.pid")
run_nbdkit_expect_failure \
    "export $EXPORT is in use by another server \\(host $(hostname), pid $holder_pid" \
    $(s3_args) "export=$EXPORT"
echo "ok: a second read-write server is refused, naming the holder"

# Read-only serving is allowed while the lease is held.
nbdkit_env -r -U - "$PLUGIN" $(s3_args) "export=$EXPORT" --run "$CLEAN_ENV \
    nbdsh -u \"\$uri\" -c 'assert h.is_read_only(); assert h.pread(4096, 0) == b\"1\" * 4096'" \
    > "$TMPD/ro.log" 2>&1 || { cat "$TMPD/ro.log" >&2; fail "read-only server refused"; }
check_sanitizer_log "$TMPD/ro.log"
echo "ok: read-only serving is allowed alongside the writer"

# (1) A crash leaves a lease behind, unexpired for a minute.  Its holder
# was on this host (same machine, boot and pid namespace) and is gone:
# a new server takes it over at once, without take-over-lease.
kill_nbdkit
: > "$TMPD/nbdkit.log"
start_nbdkit -- "export=$EXPORT" lease-time=60s
grep -q "taking over the lease of a server on this host that is gone" \
    "$TMPD/nbdkit.log" || fail "the take-over after a crash is not logged"
nbdsh -u "$(uri)" -c 'assert h.pread(4096, 0) == b"1" * 4096'
echo "ok: after a crash, a restart on the same host takes the lease at once"
stop_nbdkit
[ "$(s3util count "leases/$EXPORT")" = 0 ] ||
    fail "a clean stop left its lease behind"

# (2) Another host's lease, expiring in 10 s and not renewed: waited
# for, then taken over without a flag.  (10 s, not less: on a loaded
# machine starting nbdkit under ASan has taken 5 s, and a lease already
# expired is taken at once, with no wait to log.)
foreign_lease "$TMPD/foreign-lease" 0123456789abcdef0123456789abcdef 10
s3util put "leases/$EXPORT" "$TMPD/foreign-lease"
: > "$TMPD/nbdkit.log"
start_nbdkit -- "export=$EXPORT" lease-time=3s
grep -qE "waiting [0-9.]+ s for the lease of host elsewhere.example \(pid 4242\) to expire" \
    "$TMPD/nbdkit.log" || fail "the wait for another host's lease is not logged"
owner=$(lease_owner)
[ -n "$owner" ] && [ "$owner" != 0123456789abcdef0123456789abcdef ] ||
    fail "the lease was not taken over (owner: $owner)"
echo "ok: another host's lease is waited for until it expires, then taken"
stop_nbdkit

# Another host's lease that keeps being renewed: its holder is alive.
# Each renewal lasts 10 s although the renewer writes every 0.5 s: on a
# loaded machine (make -j2 under ASan) one s3util run can take seconds,
# and a lease that lapsed between two of them would rightly be taken.
renewer ()
{
    local i
    for (( i=0; i<60; i++ )); do
        [ -e "$TMPD/stop-renewer" ] && return 0
        foreign_lease "$TMPD/renewed-lease" fedcba9876543210fedcba9876543210 10
        s3util put "leases/$EXPORT" "$TMPD/renewed-lease"
        sleep 0.5
    done
}
renewer &
renewer_pid=$!
on_exit "touch $TMPD/stop-renewer; wait $renewer_pid 2>/dev/null"
owner_is () { [ "$(lease_owner)" = "$1" ]; }
wait_for "the renewed lease" owner_is fedcba9876543210fedcba9876543210
run_nbdkit_expect_failure \
    "export $EXPORT is in use by another server \\(host elsewhere.example, pid 4242" \
    $(s3_args) "export=$EXPORT" lease-time=3s
# Let its last PUT land before the next part replaces the lease.
touch "$TMPD/stop-renewer"
wait "$renewer_pid" || true
echo "ok: another host's lease renewed during the wait is refused"

# (3) Fencing.  take-over-lease=true does not wait for the (still
# unexpired) foreign lease.  A block written and not flushed, then the
# lease replaced by another owner's: within two renewals (every 1 s)
# the server refuses writes and flushes with EROFS (EPERM on the wire:
# NBD has no EROFS), and the block never reaches S3, not on close, not
# on SIGTERM.  write-delay=0: no background write-back either.
: > "$TMPD/nbdkit.log"
start_nbdkit -- "export=$EXPORT" lease-time=3s take-over-lease=true \
    write-delay=0
grep -q "taking over the lease of another host before it expires" \
    "$TMPD/nbdkit.log" || fail "the forced take-over is not logged"
s3util ls "blocks/$EXPORT/" > "$TMPD/blocks-before"
foreign_lease "$TMPD/foreign-lease" 0123456789abcdef0123456789abcdef 3600
S3UTIL="$top_srcdir/tests/s3util.py" LOG="$TMPD/nbdkit.log" \
nbdsh -u "$(uri)" -c - <<'PY'
import errno, nbd, os, subprocess, time
h.pwrite(b"2" * 4096, 4 * 1024 * 1024)         # a new block, left dirty
subprocess.run(["/usr/bin/python3", os.environ["S3UTIL"], "put",
                "leases/" + os.environ["EXPORT"],
                os.environ["TMPD"] + "/foreign-lease"], check=True)
for attempt in range(300):                      # two rounds take ~2 s
    if "another server has taken over the lease" in open(os.environ["LOG"]).read():
        break
    time.sleep(0.1)
else:
    raise AssertionError("the server did not notice the take-over in 30 s")
# NBD has no EROFS: nbdkit sends it as EPERM.
for what, call in (("write", lambda: h.pwrite(b"3" * 4096, 8192)),
                   ("flush", lambda: h.flush())):
    try:
        call()
        raise AssertionError(what + " accepted after losing the lease")
    except nbd.Error as e:
        assert e.errnum in (errno.EROFS, errno.EPERM), "%s: got %s" % (what, e)
assert h.pread(4096, 0) == b"1" * 4096, "reads go on"
print("ok: a server that lost its lease refuses writes and flushes (EROFS)")
PY
grep -q "another server has taken over the lease (host elsewhere.example, pid 4242" \
    "$TMPD/nbdkit.log" || fail "no log line names the new holder"
s3util ls "blocks/$EXPORT/" > "$TMPD/blocks-closed"
cmp -s "$TMPD/blocks-before" "$TMPD/blocks-closed" ||
    fail "blocks were uploaded after the lease was lost (connection closed)"

# SIGTERM: the exit flush must not upload either; the server may exit
# with an error for the data it could not save, but it says how much.
kill -TERM "$NBDKIT_PID"
for (( i=0; i<NBDKIT_STOP_STEPS; i++ )); do
    kill -0 "$NBDKIT_PID" 2>/dev/null || break
    sleep 0.1
done
kill -0 "$NBDKIT_PID" 2>/dev/null && fail "nbdkit did not stop on SIGTERM"
wait "$NBDKIT_PID" 2>/dev/null || true
NBDKIT_PID=
check_sanitizer_log "$TMPD/nbdkit.log"
s3util ls "blocks/$EXPORT/" > "$TMPD/blocks-after"
cmp -s "$TMPD/blocks-before" "$TMPD/blocks-after" ||
    fail "blocks were uploaded after the lease was lost (SIGTERM)"
grep -Eiq "[0-9]+ [a-z ]*(dirty|unsaved)[a-z ]*(could not|lost|not (been )?(written|uploaded)|held|discard)" \
    "$TMPD/nbdkit.log" ||
    fail "the log does not say how much dirty data the fenced server held"
echo "ok: a fenced server never uploads, also not on close or SIGTERM"

s3util get "leases/$EXPORT" "$TMPD/lease-after"
cmp -s "$TMPD/foreign-lease" "$TMPD/lease-after" ||
    fail "the server that lost its lease changed the other's lease"
echo "ok: and leaves the new holder's lease alone"
