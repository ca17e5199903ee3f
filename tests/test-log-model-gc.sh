#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# The model test of a log export with everything that moves or deletes
# its objects running at once: random writes, zeroes, trims, FUA
# writes and flushes over three connections (tests/model.py), the
# background write-back committing every second, compaction at a high
# threshold and rate (most segments qualify, every round of the
# write-back), and "s3blocks gc grace=5s" in a loop beside it
# (tests/gcloop.py).  Each round SIGKILLs the server at a random moment
# and restarts it, so gc also meets the segments of uploads that never
# committed.  Every block must read as its last flushed value or one
# written since (docs/log-layout.md, "Crash safety" and "Compaction";
# gc-safety.md); at the end s3blocks check --deep is clean.
. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh
export EXPORT TMPD
start_s3_for_gc
SEED=${S3BLOCKS_MODEL_SEED:-$RANDOM}
echo "model seed $SEED (S3BLOCKS_MODEL_SEED=$SEED to replay)"

name="$EXPORT-lg"
state="$TMPD/shadow-log-gc.json"
KEYS=("export=$name" layout=log segment-size=64K max-dirty=64K
      write-delay=1s log-compact-threshold=0.9 log-compact-rate=64M
      cas-reuse-window=1s timeout=1s retries=0)
start_nbdkit -- "${KEYS[@]}" size=1M

# gc in a loop for the whole test, in the background: it stops when
# the file "stop" appears, or after 400 runs.
/usr/bin/python3 - "$TMPD/stop" > "$TMPD/gcloop.log" 2>&1 <<'PY' &
import os, sys, time
sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests"))
import gcloop
gc = gcloop.GcLoop(400)
deadline = time.monotonic() + 240
while not os.path.exists(sys.argv[1]) and time.monotonic() < deadline:
    time.sleep(0.2)
gc.stop()
print(gc)
if gc.failed:
    sys.exit("gc failed: " + gc.failed)
PY
gcpid=$!
on_exit "touch $TMPD/stop; wait $gcpid 2>/dev/null"

# The checks read through a read-only server with the default timeout
# and retries: the writers' timeout=1s retries=0 (which keep their
# commits within gc's grace, as in test-log-gc.sh) would fail a read
# that was merely slow.
for round in 1 2 3 4 5 6 7 8; do
    [ "$round" = 1 ] || start_nbdkit -- "${KEYS[@]}"
    # Long enough for write-backs, compaction steps and gc runs.
    model_crash "$name" "$state" $((SEED + round)) "1.$((RANDOM % 9 + 1))"
    start_nbdkit -r -- "export=$name"
    model_check check "$name" "$state" ||
        fail "round $round: the export reads what it may not (seed $SEED)"
    stop_nbdkit
done
touch "$TMPD/stop"
wait "$gcpid" || fail "the gc loop failed: $(cat "$TMPD/gcloop.log")"
grep -q "gc runs: [1-9]" "$TMPD/gcloop.log" ||
    fail "gc never ran: $(cat "$TMPD/gcloop.log")"
# Each compaction step that copied blocks says so (nbdkit -v).
steps=$(grep -c "export $name: compaction: [0-9]* blocks of" "$TMPD/nbdkit.log" || true)
[ "${steps:-0}" -gt 0 ] || fail "compaction never copied a block"
"$ADMIN" check --deep $S3ARGS > "$TMPD/check" 2>&1 ||
    fail "check --deep: $(cat "$TMPD/check")"
start_nbdkit -r -- "export=$name"
model_check check "$name" "$state" ||
    fail "after gc stopped: the export reads what it may not (seed $SEED)"
stop_nbdkit
echo "ok: log: 8 rounds of random workloads and SIGKILLs with compaction and gc beside, every block as allowed; $steps compaction steps; $(tail -n 1 "$TMPD/gcloop.log"); check --deep clean"
