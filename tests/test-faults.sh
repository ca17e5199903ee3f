#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# S3 faults injected for real: the server stopped and started again (an
# outage), HTTP 5xx answers, a hung server (SIGSTOP), a ranged GET cut
# mid-body.  Failed requests are retried; what still fails is an error
# to the client and a log line naming the key and the status; a hung
# server cannot hold a request beyond timeout=; no dirty byte is ever
# dropped; a retried GET starts afresh.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh
export EXPORT TMPD

# This test stops, starts and stops its server: always its own s3rver.
S3BLOCKS_OWN_S3=1 start_s3 --faults
keys=("export=$EXPORT" retries=2 retry-delay=50ms timeout=3s)
start_nbdkit -- "${keys[@]}" size=16M

# Each step is its own client: the dirty blocks belong to the export,
# not to a connection, and outlive it.  A client that only holds a
# connection open keeps the export open between steps: otherwise the
# last connection closing flushes, and nothing would be dirty when the
# server goes away.
HOLDER_PID=
hold_export ()
{
    rm -f "$TMPD/holding"
    timeout 600 nbdsh -u "$(uri)" -c '
import os, time
open(os.environ["TMPD"] + "/holding", "w").close()
time.sleep(600)' &
    HOLDER_PID=$!
    on_exit release_export
    wait_for "the holding client" test -f "$TMPD/holding"
}
release_export ()
{
    [ -n "$HOLDER_PID" ] || return 0
    kill "$HOLDER_PID" 2>/dev/null || true
    wait "$HOLDER_PID" 2>/dev/null || true
    HOLDER_PID=
}
step ()
{
    timeout 120 nbdsh -u "$(uri)" -c "$1" ||
        fail "step failed (or hung): $1"
}
hold_export
# The pattern: block-sized runs of one byte, so any loss shows.
step '
h.pwrite(b"A" * (1 << 20), 0)
h.flush()
h.pwrite(b"B" * 100000, 3 << 20)
'

# 1. Outage: the server goes away with data dirty.
stop_s3
step '
import nbd
try:
    h.flush()
    raise AssertionError("flush succeeded with the S3 server down")
except nbd.Error as e:
    print("ok: flush during the outage fails:", e)
# Writing goes on; rewriting dirty blocks too.
h.pwrite(b"C" * 300000, 5 << 20)
h.pwrite(b"D" * 5000, (3 << 20) + 4000)
assert h.pread(5000, (3 << 20) + 4000) == b"D" * 5000
try:
    h.flush()
    raise AssertionError("second flush succeeded with the S3 server down")
except nbd.Error:
    pass
'
grep -qE "blocks/$EXPORT/[0-9a-f]{16}.*(FailedToConnect|connect to server)" \
    "$TMPD/nbdkit.log" ||
    fail "no log line names a key and the connection failure"
echo "ok: the log names the key and the status"

# The same server, same data, same port.
start_s3 --faults --port "$S3_PORT" --dir "$S3_DIR"
step 'h.flush()'
echo "ok: flush succeeds once the server is back"

# A crash now loses nothing: it was all flushed.
kill_nbdkit
release_export
start_nbdkit -- "${keys[@]}" take-over-lease=true
hold_export
verify_outage='
want = {0: b"A" * (1 << 20), 3 << 20: b"B" * 4000 + b"D" * 5000 + b"B" * 91000,
        5 << 20: b"C" * 300000}
for off, data in want.items():
    assert h.pread(len(data), off) == data, "data at %d lost" % off
assert h.pread(4096, 2 << 20) == bytes(4096)
'
step "$verify_outage"
echo "ok: every byte written before and during the outage is there"

# 2. HTTP 5xx: two SlowDown answers are retried away (retries=2) ...
inject_faults 503 2 "blocks/$EXPORT/"
step 'h.pwrite(b"E" * 4096, 8 << 20); h.flush()'
[ "$(faults_left)" = 0 ] || fail "the injected 503s were not all met"
echo "ok: 503 SlowDown twice: retried, flush succeeds"

# ... a persistent 500 is an error naming the key and status, and the
# data stays dirty until the server recovers.
inject_faults 500 1000 "blocks/$EXPORT/"
step '
import nbd
h.pwrite(b"F" * 8192, 9 << 20)
try:
    h.flush()
    raise AssertionError("flush succeeded against HTTP 500")
except nbd.Error:
    pass
'
grep -qE "blocks/$EXPORT/0000000000900000.*InternalError" "$TMPD/nbdkit.log" ||
    fail "no log line names the key and InternalError"
inject_faults 500 0 none
step 'h.flush(); assert h.pread(8192, 9 << 20) == b"F" * 8192'
echo "ok: HTTP 500: error naming the key, then flushed when it recovers"

# 3. A hung server: connections are accepted (by the kernel) and never
# answered.  timeout=3s bounds each attempt, so the flush fails instead
# of hanging; "timeout 120" in step() is the test's own bound.
kill -STOP "$S3_PID"
on_exit "kill -CONT $S3_PID 2>/dev/null"
step '
import nbd
h.pwrite(b"G" * 4096, 10 << 20)
try:
    h.flush()
    raise AssertionError("flush succeeded against a stopped server")
except nbd.Error as e:
    print("ok: flush against a hung server fails:", e)
'
grep -qE "blocks/$EXPORT/0000000000a00000.*timed out: no answer within 3000 ms" \
    "$TMPD/nbdkit.log" ||
    { grep 'error:' "$TMPD/nbdkit.log" | tail -5 >&2
      fail "no log line names the key and the timeout"; }
kill -CONT "$S3_PID"
step 'h.flush(); assert h.pread(4096, 10 << 20) == b"G" * 4096'
echo "ok: a hung server costs an error, not a hang; data kept and flushed"

release_export
stop_nbdkit
start_nbdkit -- "${keys[@]}"
step "$verify_outage"'
assert h.pread(4096, 8 << 20) == b"E" * 4096
assert h.pread(8192, 9 << 20) == b"F" * 8192
assert h.pread(4096, 10 << 20) == b"G" * 4096
'
echo "ok: all of it after a restart"

# 4. A ranged GET whose transfer dies mid-body (half the answer, then
# the connection drops) is retried from its start, with both stores:
# range-check's first 4 KiB is the third request on its object, after
# the PUT and the first byte.  (libs3 2.0 reports such a body as
# success; s3engine.c turns a short Content-Length into a retry.)
for sig in v2 v4; do
    inject_faults cut 1 -object 2
    range_check "signature=$sig" retry-delay=10ms
    [ "$(faults_left)" = 0 ] || fail "signature=$sig: the cut was not made"
done
echo "ok: a ranged GET cut mid-body is retried from the start, both stores"
