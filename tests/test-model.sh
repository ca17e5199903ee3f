#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# The model test: random writes, zeroes, trims, FUA writes and flushes
# over three connections to one export, the server SIGKILLed at a
# random moment in each round and restarted (no flag: the lease of a
# dead local server is taken over), every block checked against a
# shadow copy (tests/model.py).
#
# Plain layout: a small max-dirty forces early uploads and a short
# write-delay background ones; each block must read as its last flushed
# value or one written since.  Cas layout: only flushes and FUA writes
# commit (no write-back, a max-dirty never reached), and the whole
# export must read as exactly one committed state.  Log layout: the
# same, then again with a max-dirty of 4 blocks, so that the dirty bound
# uploads segments before the flush or FUA write that commits them
# (docs/log-layout.md, "Writing", 2-3).  A commit also carries what was
# uploaded early, so that run is checked block by block, as plain is.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh
export EXPORT TMPD

start_s3
SEED=${S3BLOCKS_MODEL_SEED:-$RANDOM}
echo "model seed $SEED (S3BLOCKS_MODEL_SEED=$SEED to replay)"

# rounds NAME CHECK KEYS...: six rounds of workload, SIGKILL, restart,
# check, on export NAME.
rounds ()
{
    local name=$1 check=$2 round
    shift 2
    start_nbdkit -- "$@" size=1M
    for round in 1 2 3 4 5 6; do
        # The client runs until killed mid-workload, or finishes its ops.
        model_crash "$name" "$state" $((SEED + round)) "0.$((RANDOM % 9 + 1))"
        start_nbdkit -- "$@"
        model_check "$check" "$name" "$state" ||
            fail "$*: round $round: the export reads what it may not (seed $SEED)"
    done
    stop_nbdkit
}

state="$TMPD/shadow-plain.json"
rounds "$EXPORT" check "export=$EXPORT" max-dirty=64K write-delay=1s
echo "ok: plain: 6 rounds of random workloads and SIGKILLs, every block as allowed"

state="$TMPD/shadow-cas.json"
rounds "$EXPORT-cas" check-exact "export=$EXPORT-cas" layout=cas max-dirty=8M write-delay=0
echo "ok: cas: 6 rounds of random workloads and SIGKILLs, always one committed state"

state="$TMPD/shadow-log.json"
rounds "$EXPORT-log" check-exact "export=$EXPORT-log" layout=log segment-size=64K \
    max-dirty=8M write-delay=0
echo "ok: log: 6 rounds of random workloads and SIGKILLs, always one committed state"

state="$TMPD/shadow-log-early.json"
rounds "$EXPORT-log2" check "export=$EXPORT-log2" layout=log segment-size=64K \
    max-dirty=16K write-delay=0
# The rounds did upload before commits: one more workload, ended by a
# clean stop so that the export's statistics are printed.
start_nbdkit -- "export=$EXPORT-log2" layout=log max-dirty=16K write-delay=0
/usr/bin/python3 "$top_srcdir/tests/model.py" run "$(uri "$EXPORT-log2")" "$state" \
    "$SEED" 400 > "$TMPD/model-run.log" 2>&1 || fail "log: the last workload failed"
stop_nbdkit
early=$(sed -n "s/.*export $EXPORT-log2: .* \([0-9]*\) blocks written back early.*/\1/p" \
    "$TMPD/nbdkit.log" | tail -n 1)
[ "${early:-0}" -gt 0 ] ||
    fail "log: no block was uploaded before its commit with max-dirty=16K"
echo "ok: log: 6 rounds with segments uploaded before their commit, every block as allowed ($early blocks uploaded early in the last workload)"
