#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# The model test: random writes, zeroes, trims, FUA writes and flushes
# over three connections to one export, the server SIGKILLed at a
# random moment in each round and restarted (no flag: the lease of a
# dead local server is taken over), every block checked against a
# shadow copy (tests/model.py).  A small max-dirty forces early
# uploads and a short write-delay background ones.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh
export EXPORT TMPD

start_s3
state="$TMPD/shadow.json"
keys=("export=$EXPORT" max-dirty=64K write-delay=1s)
start_nbdkit -- "${keys[@]}" size=1M
SEED=${S3BLOCKS_MODEL_SEED:-$RANDOM}
echo "model seed $SEED (S3BLOCKS_MODEL_SEED=$SEED to replay)"

for round in 1 2 3 4 5 6; do
    # The client runs until killed mid-workload, or finishes its ops.
    /usr/bin/python3 "$top_srcdir/tests/model.py" run "$(uri)" "$state" \
        $((SEED + round)) 400 > "$TMPD/model-run.log" 2>&1 &
    client=$!
    sleep "0.$((RANDOM % 9 + 1))"
    kill_nbdkit
    wait "$client" 2>/dev/null || true
    start_nbdkit -- "${keys[@]}"
    /usr/bin/python3 "$top_srcdir/tests/model.py" check "$(uri)" "$state" ||
        fail "round $round: a block reads what it may not (seed $SEED)"
done
stop_nbdkit
echo "ok: 6 rounds of random workloads and SIGKILLs, every block as allowed"
