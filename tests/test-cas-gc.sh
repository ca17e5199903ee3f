#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# gc while servers write: three nbdkit servers (cas-reuse-window=1s,
# write-delay=1s, so roots record a 5 s window) write, trim and flush
# their exports while the script takes snapshots, deletes snapshots,
# makes clones (served and written too) and deletes unserved ones, and
# "s3blocks gc grace=5s" runs in a loop beside them.  Then every byte of
# every export, snapshot and clone is compared with a model (shadow
# copies kept by the script), and check --deep is clean.  Zeroed ranges
# become holes, overwrites and deleted snapshots garbage for gc.
#
# Each round writes new random contents (shared between the exports in
# that round, for dedup), and also, for some blocks, contents of rounds
# more than the grace ago, which overwrites may have made garbage that
# gc is about to delete: the sweep fence (docs/gc-safety.md, step 9) makes
# such a rewrite safe while gc sweeps.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh python3

start_s3_for_gc

KEYS="layout=cas cas-reuse-window=1s write-delay=1s timeout=1s retries=0 size=4M"
pids=()
stop_servers ()
{
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
    pids=()
}
on_exit stop_servers
for i in 1 2 3; do
    rm -f "$TMPD/sock$i"
    # shellcheck disable=SC2046,SC2086
    env $(sanitizer_env) nbdkit -f -v -U "$TMPD/sock$i" -P "$TMPD/pid$i" \
        "$PLUGIN" $S3ARGS $KEYS "export=g$i" \
        >>"$TMPD/nbdkit$i.log" 2>&1 &
    pids+=($!)
    # One at a time: the first creates the bucket (s3rver answers a
    # racing create with BucketAlreadyExists, which the V4 store takes
    # for another owner's bucket).
    wait_for "server $i" test -S "$TMPD/sock$i"
done

/usr/bin/python3 - <<'PY' || fail "the workload failed"
import os, random, sys, time

import nbd

sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests"))
import gcloop
from gcloop import admin

TMPD = os.environ["TMPD"]
SIZE, BS = 4 << 20, 4096
ROUNDS, SECONDS = 400, 30.0      # whichever comes first
rnd = random.Random(int(os.environ.get("SEED", "11")))

def connect(name, sock):
    h = nbd.NBD()
    h.set_export_name(name)
    h.connect_unix(os.path.join(TMPD, sock))
    return h

live = {}           # name -> [handle, shadow]
for i in (1, 2, 3):
    live["g%d" % i] = [connect("g%d" % i, "sock%d" % i), bytearray(SIZE)]
snaps = {}          # export@snap -> bytes
unserved = {}       # clones nobody serves: name -> bytes

# gc beside the workload, until told to stop (bounded by count too).
gc = gcloop.GcLoop(400)

history = []        # (time, contents of that round)
rewrites = 0        # blocks written with an old round's content

OLD = 6.0           # seconds: more than grace=5s
t0 = time.monotonic()
try:
    for rnd_no in range(ROUNDS):
        if time.monotonic() - t0 > SECONDS:
            break
        time.sleep(0.1)
        pool = [rnd.randbytes(BS) for _ in range(6)]
        history.append((time.monotonic(), pool))
        # Contents of rounds older than the grace: garbage, if no block
        # holds them any more, and old enough for gc to delete.
        old = [b for t, p in history if time.monotonic() - t > OLD
               for b in p]
        def block():
            global rewrites
            if old and rnd.random() < 0.3:
                rewrites += 1
                return rnd.choice(old)
            return rnd.choice(pool)
        for name, (h, shadow) in live.items():
            for _ in range(6):
                off = rnd.randrange(SIZE // BS) * BS
                n = rnd.randrange(1, 5) * BS
                if rnd.random() < 0.2:
                    n = min(n, SIZE - off)
                    h.zero(n, off)
                    data = bytes(n)
                else:
                    data = b"".join(block() for _ in range(n // BS))
                    data = data[:SIZE - off]
                    h.pwrite(data, off)
                shadow[off:off + len(data)] = data
            gcloop.flush(h, name)
        action = rnd.randrange(5)
        name = rnd.choice(sorted(live))
        if action <= 1:
            snap = "%s@s%d" % (name, rnd_no)
            admin("snapshot", name, "s%d" % rnd_no)
            snaps[snap] = bytes(live[name][1])
        elif action == 2 and snaps:
            victim = rnd.choice(sorted(snaps))
            admin("delete", "--yes", victim)
            del snaps[victim]
        elif action == 3:
            src = rnd.choice(sorted(snaps)) if snaps and rnd.random() < 0.5 else name
            new = "c%d" % rnd_no
            admin("clone", src, new)
            model = snaps[src] if "@" in src else bytes(live[src][1])
            if len(live) < 6:
                live[new] = [connect(new, "sock1"), bytearray(model)]
            else:
                unserved[new] = model
        elif unserved:
            victim = rnd.choice(sorted(unserved))
            admin("delete", "--yes", victim)
            del unserved[victim]
    rounds = rnd_no + 1
finally:
    gc.stop()

# Every byte of everything against its model.
def check(h, name, want):
    assert h.get_size() == SIZE, name
    for off in range(0, SIZE, 1 << 20):
        got = h.pread(1 << 20, off)
        if got != want[off:off + (1 << 20)]:
            sys.exit("%s differs from its model at %d" % (name, off))
for name, (h, shadow) in live.items():
    check(h, name, shadow)
for name, want in {**snaps, **unserved}.items():
    h = connect(name, "sock2")
    check(h, name, want)
    h.shutdown()
for h, _ in live.values():
    h.shutdown()
print("ok: %d rounds in %.0f s, %d exports and clones served, %d snapshots, %d unserved "
      "clones match their models; %d blocks rewritten with old contents; "
      "gc ran %d times (%d refused), deleted %d "
      "objects; %d flushes retried" % (rounds, time.monotonic() - t0, len(live), len(snaps), len(unserved),
                   rewrites, gc.ok,
                   gc.refused, gc.deleted, gcloop.flush_retries))
assert rewrites > 0, rewrites
assert gc.ok >= 5, gc
assert gc.deleted > 0, gc
PY

stop_servers
for i in 1 2 3; do check_sanitizer_log "$TMPD/nbdkit$i.log"; done
"$ADMIN" check --deep $S3ARGS >"$TMPD/check" 2>&1 || fail "check --deep: $(cat "$TMPD/check")"
grep -q ' 0 damaged' "$TMPD/check" || fail "$(cat "$TMPD/check")"
tail -1 "$TMPD/check"
# With the servers gone, grace 0 collects everything unreferenced, and
# everything still reads back (check --deep reads every content).
"$ADMIN" gc grace=0 $S3ARGS
"$ADMIN" check --deep $S3ARGS >"$TMPD/check" 2>&1 || fail "check --deep after gc grace=0: $(cat "$TMPD/check")"
grep -q ' 0 objects unreferenced' "$TMPD/check" || fail "$(cat "$TMPD/check")"
echo "ok: check --deep clean, before and after gc grace=0"
