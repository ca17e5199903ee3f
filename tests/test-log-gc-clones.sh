#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# gc beside writing servers with clones, snapshots and deletes (issue
# 16; test-log-gc.sh is the one-export case).  While "s3blocks gc
# grace=5s" runs in a loop, server A writes log export l, and:
#   - l is cloned within log (lc, a root copy), which server B serves
#     and writes;
#   - cas export c is cloned into log (cl, data copied), which server B
#     serves and writes: the clone's root records the admin's default
#     cas-reuse-window (30 min), so gc refuses a short grace until B
#     has committed cl; cl is written and flushed at once;
#   - lc@t1 is made, read back through B and deleted;
#   - B stops, lc is deleted, B starts again and serves cl.
# Then every export reads as its shadow copy, check --deep is clean,
# and after "gc grace=0" no segment that only lc named is stored, and
# every segment a root names is (check --deep), also after a restart.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh python3

start_s3_for_gc
TUNING="segment-size=128K cas-reuse-window=1s write-delay=1s timeout=1s retries=0"

# The cas source: 2 MiB of random data in 8 MiB, its root recording a
# 1 s window like every other root here (gc's grace is checked against
# every root's).
/usr/bin/python3 -c '
import os, sys
img = bytearray(8 << 20)
img[0:1 << 20] = os.urandom(1 << 20)
img[5 << 20:6 << 20] = os.urandom(1 << 20)
open(sys.argv[1], "wb").write(img)' "$TMPD/c.img"
# shellcheck disable=SC2086
start_nbdkit -- export=c layout=cas size=8M $TUNING
# timeout=1s and retries=0 (the bound that fits grace=5s) can fail a
# request: small flushes, each retried.
nbdsh -u "$(uri c)" -c - <<PY
import time
data = open("$TMPD/c.img", "rb").read()
for off in range(0, len(data), 256 << 10):
    if any(data[off:off + (256 << 10)]):
        h.pwrite(data[off:off + (256 << 10)], off)
        for attempt in range(5):
            try:
                h.flush()
                break
            except nbd.Error:
                if attempt == 4:
                    raise
                time.sleep(0.5)
PY
stop_nbdkit

# Server A: l.  Server B (started and stopped by the workload): the
# clones, on its own socket.
# shellcheck disable=SC2086
start_nbdkit -- export=l layout=log size=8M $TUNING
SOCK_B=$TMPD/nbd-b.sock
PID_B=$TMPD/nbdkit-b.pid
SERVE_B="env $(sanitizer_env) nbdkit -f -v -U $SOCK_B -P $PID_B $PLUGIN $S3ARGS $TUNING"
export SOCK_B PID_B SERVE_B
stop_b () { [ -s "$PID_B" ] && kill -9 "$(cat "$PID_B")" 2>/dev/null; rm -f "$PID_B"; true; }
on_exit stop_b

/usr/bin/python3 - <<'PY' || fail "the workload failed"
import os, random, signal, subprocess, sys, time

import nbd

sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests"))
import gcloop
from gcloop import admin

TMPD, SOCK = os.environ["TMPD"], os.environ["SOCK"]
SOCK_B, PID_B = os.environ["SOCK_B"], os.environ["PID_B"]
S3UTIL = os.path.join(os.environ["top_srcdir"], "tests", "s3util.py")
SIZE, BS = 8 << 20, 4096
ROUNDS, SECONDS = 300, 12.0      # whichever comes first, after the events
LIMIT = 150.0                    # the events' own bound
rnd = random.Random(int(os.environ.get("SEED", "7")))

def s3util(*args):
    return subprocess.run(["/usr/bin/python3", S3UTIL, *args],
                          capture_output=True, text=True, check=True,
                          timeout=120).stdout.split()

# --- server B ---------------------------------------------------------------
server_b = None
def start_b(export):
    """B checks its export= at start-up: one that exists."""
    global server_b
    for f in (SOCK_B, PID_B):
        if os.path.exists(f):
            os.unlink(f)
    log = open(os.path.join(TMPD, "nbdkit-b.log"), "ab")
    server_b = subprocess.Popen(os.environ["SERVE_B"].split() + ["export=" + export], stdout=log,
                                stderr=subprocess.STDOUT)
    for _ in range(300):
        if (os.path.exists(SOCK_B) and os.path.exists(PID_B)
                and os.path.getsize(PID_B) > 0):
            return
        if server_b.poll() is not None:
            sys.exit("server B exited at startup: %d" % server_b.returncode)
        time.sleep(0.1)
    sys.exit("server B did not start")

def stop_b():
    server_b.send_signal(signal.SIGTERM)
    status = server_b.wait(timeout=60)
    if os.path.exists(PID_B):
        os.unlink(PID_B)
    if status != 0:
        sys.exit("server B exited with status %d" % server_b.returncode)

# --- exports and their shadows ----------------------------------------------
handles, shadows = {}, {}
def open_export(name, sock):
    h = nbd.NBD()
    h.set_export_name(name)
    h.connect_unix(sock)
    handles[name] = h
    return h

def close_export(name):
    handles.pop(name).shutdown()

def compare(name, h=None, want=None):
    h = h or handles[name]
    want = shadows[name] if want is None else want
    for off in range(0, SIZE, 1 << 20):
        if h.pread(1 << 20, off) != bytes(want[off:off + (1 << 20)]):
            sys.exit("%s differs from its shadow at %d, gc beside it"
                     % (name, off))

def flush(name):
    gcloop.flush(handles[name], name)

def write(name, ops, span=SIZE):
    h, shadow = handles[name], shadows[name]
    for _ in range(ops):
        off = rnd.randrange(span // BS) * BS
        n = min(rnd.randrange(1, 9) * BS, SIZE - off)
        if rnd.random() < 0.15:
            h.zero(n, off)
            data = bytes(n)
        else:
            data = rnd.randbytes(n)
            h.pwrite(data, off)
        shadow[off:off + n] = data
    flush(name)

open_export("l", SOCK)
shadows["l"] = bytearray(SIZE)
first = rnd.randbytes(2 << 20)
handles["l"].pwrite(first, 0)
shadows["l"][0:len(first)] = first
flush("l")

# --- gc in a loop ----------------------------------------------------------
gc = gcloop.GcLoop(300)

# Events by round: each happens once, in this order.
CLONE_LC, CLONE_CL, SNAP, DEL_SNAP, DEL_LC = 2, 4, 6, 9, 12
t0 = time.monotonic()
lc_segs, gc_ok_at_delete, t1 = [], None, None
try:
    for rnd_no in range(ROUNDS):
        elapsed = time.monotonic() - t0
        if (elapsed > SECONDS and rnd_no > DEL_LC + 2) or elapsed > LIMIT:
            break
        time.sleep(0.05)
        write("l", 8, (2 << 20) if rnd.random() < 0.7 else SIZE)
        for name in ("lc", "cl"):
            if name in handles:
                write(name, 4)
        if rnd_no == CLONE_LC:
            # Within log: a root copy of l as of its last flush.
            admin("clone", "l", "lc")
            shadows["lc"] = bytearray(shadows["l"])
            start_b("lc")
            open_export("lc", SOCK_B)
            compare("lc")
        elif rnd_no == CLONE_CL:
            # From cas, data copied; then at once a commit by B, whose
            # root records B's window (until then gc refuses grace=5s).
            admin("clone", "--layout=log", "c", "cl")
            shadows["cl"] = bytearray(open(os.path.join(TMPD, "c.img"),
                                           "rb").read())
            open_export("cl", SOCK_B)
            compare("cl")
            write("cl", 4)
        elif rnd_no == SNAP:
            admin("snapshot", "lc", "t1")
            t1 = bytes(shadows["lc"])
        elif rnd_no == DEL_SNAP:
            compare("lc@t1", open_export("lc@t1", SOCK_B), t1)
            close_export("lc@t1")
            admin("delete", "--yes", "lc@t1")
        elif rnd_no == DEL_LC:
            # B holds lc's lease until it exits.
            compare("lc")
            close_export("lc")
            close_export("cl")
            stop_b()
            lc_segs = s3util("segs", "cas/roots/lc")
            admin("delete", "--yes", "lc")
            gc_ok_at_delete = gc.ok
            start_b("cl")
            open_export("cl", SOCK_B)
            compare("cl")
    rounds = rnd_no + 1
    # A gc after the delete, before the loop ends (also the proof that
    # cl's root no longer holds the grace up: B has committed cl).
    for _ in range(100):
        if gc_ok_at_delete is None or gc.ok > gc_ok_at_delete:
            break
        time.sleep(0.3)
finally:
    gc.stop()

if gc_ok_at_delete is None:
    sys.exit("lc was not deleted within %d rounds, %.0f s" % (rounds, LIMIT))
for name in ("l", "cl"):
    compare(name)
    close_export(name)
    open(os.path.join(TMPD, name + ".shadow"), "wb").write(shadows[name])
stop_b()
open(os.path.join(TMPD, "lc.segs"), "w").write("\n".join(lc_segs) + "\n")
print("ok: %d rounds in %.0f s read back (l, cl; lc and lc@t1 before their "
      "deletes); gc ran %d times (%d after lc's delete), %d refused, deleted "
      "%d segments; %d flushes retried"
      % (rounds, time.monotonic() - t0, gc.ok,
         gc.ok - gc_ok_at_delete, gc.refused,
         gc.segs_deleted, gcloop.flush_retries))
assert gc.ok > gc_ok_at_delete >= 3, gc
assert gc.segs_deleted > 0, gc
assert lc_segs, "lc's root names no segment"
PY
stop_nbdkit
check_sanitizer_log "$TMPD/nbdkit-b.log"

check_deep ()
{
    # shellcheck disable=SC2086
    "$ADMIN" check --deep $S3ARGS >"$TMPD/check" 2>&1 || fail "check --deep $1: $(cat "$TMPD/check")"
    grep -q '^log: .* 0 damaged' "$TMPD/check" || fail "check --deep $1: $(cat "$TMPD/check")"
    grep '^log: ' "$TMPD/check"
}
check_deep "after the loop"

# No server runs: grace 0 takes every segment no root names, lc's own
# ones among them (those l, l's history or cl still name stay).
# shellcheck disable=SC2086
"$ADMIN" gc grace=0 $S3ARGS >"$TMPD/gc" 2>&1 || fail "gc grace=0: $(cat "$TMPD/gc")"
grep '^gc: segments: ' "$TMPD/gc"
s3util segs > "$TMPD/named"
s3util ls log/segs/ | cut -d' ' -f1 | sort > "$TMPD/stored"
own=$(sort "$TMPD/lc.segs" | comm -23 - "$TMPD/named")
[ -n "$own" ] || fail "lc named no segment of its own"
left=$(comm -12 <(echo "$own") "$TMPD/stored")
[ -z "$left" ] || fail "gc grace=0 left segments only the deleted lc named: $left"
unnamed=$(comm -13 "$TMPD/named" "$TMPD/stored")
[ -z "$unnamed" ] || fail "gc grace=0 left segments no root names: $unnamed"
echo "ok: gc grace=0: lc's $(echo "$own" | wc -l) own segments gone, $(wc -l < "$TMPD/stored") named ones stored"
check_deep "after gc grace=0"

# shellcheck disable=SC2086
start_nbdkit -- export=l $TUNING
for name in l cl; do
    nbdsh -u "$(uri $name)" -c - <<PY || fail "$name differs from its shadow after gc grace=0 and a restart"
want = open("$TMPD/$name.shadow", "rb").read()
for off in range(0, 8 << 20, 1 << 20):
    assert h.pread(1 << 20, off) == want[off:off + (1 << 20)], off
PY
done
stop_nbdkit
echo "ok: after gc grace=0 and a restart l and cl read as their shadows"
