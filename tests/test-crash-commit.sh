#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# SIGKILL at every step of a flush's commit: while the k-th block PUT
# hangs, and while the allocation map's PUT hangs.  After each crash a
# new server reads every block as its last flushed value or as the
# value being flushed: never zeros in place of flushed data, never torn.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh
export EXPORT TMPD

start_s3 --faults

# Blocks 0-3 hold generation 1, flushed.  Each round writes the next
# generation to blocks 0-3 and to a new block 8 + round, then flushes,
# and is killed at one step of that flush.
start_nbdkit -- "export=$EXPORT" size=16M max-requests=1
nbdsh -u "$(uri)" -c - <<'PY'
for b in range(4):
    h.pwrite(bytes([1]) * 4096, b * 4096)
h.flush()
PY
stop_nbdkit

# Blocks 0-3 were last flushed at generation 1 and have been given
# every generation up to GEN since; block 8 + r only generation 2 + r.
check_blocks ()
{
    local gen=$1 round=$2
    nbdsh -u "$(uri)" -c - <<PY
gen, rnd = $gen, $round
def value(b):
    data = h.pread(4096, b * 4096)
    assert data == bytes([data[0]]) * 4096, "block %d is torn" % b
    return data[0]
for b in range(4):
    assert 1 <= value(b) <= gen, "block %d reads %d, outside 1..%d" % (b, value(b), gen)
for r in range(rnd + 1):
    assert value(8 + r) in (0, 2 + r), "block %d reads %d" % (8 + r, value(8 + r))
PY
}

fault_reached () { [ "$(faults_left)" = 0 ]; }

gen=1
round=0
# Steps: the 1st, 2nd, 5th block PUT (of 5), then the map's PUT.
for step in "blocks/$EXPORT/ 0" "blocks/$EXPORT/ 1" "blocks/$EXPORT/ 4" \
            "maps/$EXPORT/ 0"; do
    set -- $step
    gen=$((gen + 1))
    start_nbdkit -- "export=$EXPORT" max-requests=1 take-over-lease=true \
        write-delay=0
    inject_faults hang 1 "$1" "$2"
    nbdsh -u "$(uri)" -c - <<PY &
for b in range(4):
    h.pwrite(bytes([$gen]) * 4096, b * 4096)
h.pwrite(bytes([$gen]) * 4096, (8 + $round) * 4096)
h.flush()
PY
    client=$!
    wait_for "the flush to reach step '$step'" fault_reached
    kill_nbdkit
    kill -9 "$client" 2>/dev/null || true
    wait "$client" 2>/dev/null || true
    inject_faults 500 0 nothing
    start_nbdkit -- "export=$EXPORT" take-over-lease=true
    check_blocks "$gen" "$round"
    stop_nbdkit
    echo "ok: killed while '$step' hung: every block old or new"
    round=$((round + 1))
done

# Completed flushes are whole.
start_nbdkit -- "export=$EXPORT" take-over-lease=true
nbdsh -u "$(uri)" -c - <<'PY'
for b in range(4):
    h.pwrite(bytes([99]) * 4096, b * 4096)
h.flush()
PY
kill_nbdkit
start_nbdkit -- "export=$EXPORT" take-over-lease=true
nbdsh -u "$(uri)" -c - <<'PY'
for b in range(4):
    assert h.pread(4096, b * 4096) == bytes([99]) * 4096
PY
stop_nbdkit
echo "ok: a completed flush survives SIGKILL"
