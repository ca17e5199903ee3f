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

ADMIN=$top_builddir/admin/s3blocks
[ -x "$ADMIN" ] || fail "$ADMIN not built"
start_s3
# The test sums and collects over the whole bucket: on RGW, whose bucket
# outlives a pass, start from an empty one.
if [ "${S3BLOCKS_TEST_SERVER:-s3rver}" = rgw ]; then
    echo "emptied the bucket: $(s3util empty) objects"
fi
export ADMIN TMPD S3ARGS="$(s3_args) ${S3BLOCKS_TEST_KEYS:-}"

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
import os, random, subprocess, sys, threading, time

import nbd

TMPD, ADMIN = os.environ["TMPD"], os.environ["ADMIN"]
S3ARGS = os.environ["S3ARGS"].split()
SIZE, BS = 4 << 20, 4096
ROUNDS, SECONDS = 400, 30.0      # whichever comes first
rnd = random.Random(int(os.environ.get("SEED", "11")))

def admin(*args, ok=(0,)):
    p = subprocess.run([ADMIN, *args, *S3ARGS], capture_output=True,
                       text=True, timeout=120)
    if p.returncode not in ok:
        sys.exit("s3blocks %s: exit %d: %s%s" % (" ".join(args), p.returncode,
                                                p.stdout, p.stderr))
    return p

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
stop = threading.Event()
gc_runs = {"ok": 0, "refused": 0, "deleted": 0}
def gc_loop():
    for _ in range(400):
        if stop.is_set():
            return
        p = admin("gc", "grace=5s", ok=(0, 1))
        if p.returncode == 0:
            gc_runs["ok"] += 1
            for line in p.stdout.splitlines():
                if line.startswith("gc: deleted "):
                    gc_runs["deleted"] += int(line.split()[2])
        else:
            gc_runs["refused"] += 1
            print("gc refused:", p.stderr.strip(), flush=True)
        time.sleep(0.3)
gc_thread = threading.Thread(target=gc_loop)
gc_thread.start()

history = []        # (time, contents of that round)
rewrites = 0        # blocks written with an old round's content
flush_retries = 0


def flush(name, h):
    """A failed flush loses nothing: its changes stay pending and the next
    flush commits them.  Under load (ASan, two cores) a commit can time out
    (timeout=1s, retries=0 here, to keep the commit bound within grace=5s),
    or wait too long for a gc sweep chunk; it is retried, and a block whose
    content was really gone would fail every retry."""
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
            flush(name, h)
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
    stop.set()
    gc_thread.join()

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
                   rewrites, gc_runs["ok"],
                   gc_runs["refused"], gc_runs["deleted"], flush_retries))
assert rewrites > 0, rewrites
assert gc_runs["ok"] >= 5, gc_runs
assert gc_runs["deleted"] > 0, gc_runs
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
