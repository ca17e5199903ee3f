#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# gc of a log export's segments while its server writes: a log export
# (small segments, cas-reuse-window=1s, so its roots record a 5 s
# window) gets a first flush, a snapshot of it, then rounds of writes,
# zeros and overwrites, each flushed, a second snapshot made and
# deleted, while "s3blocks gc grace=5s" runs in a loop beside it.  Then
# every byte is compared with a shadow copy, the first snapshot
# (served as l@s1) reads as the export did, check --deep is clean, and
# once the snapshot is deleted "gc grace=0" leaves fewer segments,
# check --deep is still clean and the export reads the same after a
# restart.  A key under log/segs/ that is not a segment's
# stays throughout.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh python3

start_s3_for_gc

KEYS="export=l layout=log size=8M segment-size=128K cas-reuse-window=1s write-delay=1s timeout=1s retries=0"
# shellcheck disable=SC2086
start_nbdkit -- $KEYS
# (After the server: it creates the bucket.)
echo "not a segment" > "$TMPD/foreign"
s3util put log/segs/not-a-segment "$TMPD/foreign"

/usr/bin/python3 - <<'PY' || fail "the workload failed"
import os, random, subprocess, sys, time

import nbd

sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests"))
import gcloop
from gcloop import admin

TMPD, SOCK = os.environ["TMPD"], os.environ["SOCK"]
S3UTIL = os.path.join(os.environ["top_srcdir"], "tests", "s3util.py")
SIZE, BS = 8 << 20, 4096
ROUNDS, SECONDS = 300, 25.0      # whichever comes first
rnd = random.Random(int(os.environ.get("SEED", "7")))

def segments():
    p = subprocess.run(["/usr/bin/python3", S3UTIL, "ls", "log/segs/"],
                       capture_output=True, text=True, check=True, timeout=120)
    return {line.split()[0] for line in p.stdout.splitlines()}

h = nbd.NBD()
h.set_export_name("l")
h.connect_unix(SOCK)
shadow = bytearray(SIZE)

# The first 2 MiB, each block written once and flushed: every segment
# stored now is named by the export's root, and then by snapshot s1.
first = rnd.randbytes(2 << 20)
h.pwrite(first, 0)
shadow[0:len(first)] = first
h.flush()
admin("snapshot", "l", "s1")
s1_segs = segments() - {"log/segs/not-a-segment"}
assert len(s1_segs) >= 8, s1_segs

gc = gcloop.GcLoop(300)

s2 = False
t0 = time.monotonic()
try:
    for rnd_no in range(ROUNDS):
        if time.monotonic() - t0 > SECONDS:
            break
        time.sleep(0.05)
        for _ in range(8):
            # Mostly the first 2 MiB: overwrites make s1's segments dead
            # for the export, alive for s1.
            span = (2 << 20) if rnd.random() < 0.7 else SIZE
            off = rnd.randrange(span // BS) * BS
            n = min(rnd.randrange(1, 9) * BS, SIZE - off)
            if rnd.random() < 0.15:
                h.zero(n, off)
                data = bytes(n)
            else:
                data = rnd.randbytes(n)
                h.pwrite(data, off)
            shadow[off:off + n] = data
        gcloop.flush(h, "l")
        if rnd_no == 20:
            admin("snapshot", "l", "s2")
            s2 = True
        elif rnd_no == 60 and s2:
            admin("delete", "--yes", "l@s2")
            s2 = False
    rounds = rnd_no + 1
finally:
    gc.stop()

for off in range(0, SIZE, 1 << 20):
    if h.pread(1 << 20, off) != bytes(shadow[off:off + (1 << 20)]):
        sys.exit("the export differs from its shadow at %d, gc beside it" % off)
h.shutdown()
open(os.path.join(TMPD, "shadow"), "wb").write(shadow)
# s1, served as l@s1, reads as l did at the snapshot.
s1 = nbd.NBD()
s1.set_export_name("l@s1")
s1.connect_unix(SOCK)
want = first + bytes(SIZE - len(first))
for off in range(0, SIZE, 1 << 20):
    if s1.pread(1 << 20, off) != want[off:off + (1 << 20)]:
        sys.exit("l@s1 differs from l at the snapshot at %d, gc beside it" % off)
s1.shutdown()
gone = s1_segs - segments()
if gone:
    sys.exit("segments snapshot s1 names were deleted: %s" % sorted(gone))
print("ok: %d rounds in %.0f s read back; gc ran %d times (%d refused), "
      "deleted %d segments; s1's %d segments all stored; %d flushes "
      "retried" % (rounds, time.monotonic() - t0, gc.ok,
                   gc.refused, gc.segs_deleted,
                   len(s1_segs), gcloop.flush_retries))
assert rounds >= 20, rounds
assert gc.ok >= 5, gc
assert gc.segs_deleted > 0, gc
PY
stop_nbdkit
# Every segment every root names is stored and reads whole.
"$ADMIN" check --deep $S3ARGS >"$TMPD/check" 2>&1 || fail "check --deep: $(cat "$TMPD/check")"
grep -q '^log: .* 0 damaged' "$TMPD/check" || fail "check --deep: $(cat "$TMPD/check")"
grep '^log: ' "$TMPD/check"

# The server stopped (its lease released): grace 0 takes every segment
# no root names; deleting s1 first makes its overwritten ones such.
before=$(s3util count log/segs/)
"$ADMIN" delete --yes l@s1 $S3ARGS >"$TMPD/del" 2>&1 || fail "delete l@s1: $(cat "$TMPD/del")"
"$ADMIN" --json gc grace=0 $S3ARGS >"$TMPD/gc" 2>"$TMPD/gc.err" ||
    fail "gc grace=0: $(cat "$TMPD/gc" "$TMPD/gc.err")"
cat "$TMPD/gc"
/usr/bin/python3 - "$TMPD/gc" <<'PY' || fail "gc --json: $(cat "$TMPD/gc")"
import json, sys
r = json.load(open(sys.argv[1]))
s = r["segments"]
assert r["deleted"]["segments"] > 0, r
assert s["kept"] == s["listed"] - r["deleted"]["segments"], r
assert r["deleted"]["segment_bytes"] > 0 and s["kept_bytes"] > 0, r
assert r["foreign"] >= 1, r          # log/segs/not-a-segment
PY
after=$(s3util count log/segs/)
[ "$after" -lt "$before" ] || fail "log/segs/: $before objects before, $after after"
[ "$(s3util count log/segs/not-a-segment)" = 1 ] ||
    fail "gc deleted log/segs/not-a-segment, which is not a segment's key"
"$ADMIN" check --deep $S3ARGS >"$TMPD/check" 2>&1 || fail "check --deep after gc grace=0: $(cat "$TMPD/check")"
grep -q '^log: .* 0 damaged' "$TMPD/check" || fail "check --deep after gc grace=0: $(cat "$TMPD/check")"
echo "ok: with s1 deleted, gc grace=0: log/segs/ from $before to $after objects; the foreign key stays; check --deep clean"

# shellcheck disable=SC2086
start_nbdkit -- $KEYS
nbdsh -u "$(uri l)" -c - <<PY
want = open("$TMPD/shadow", "rb").read()
for off in range(0, 8 << 20, 1 << 20):
    if h.pread(1 << 20, off) != want[off:off + (1 << 20)]:
        raise AssertionError("after gc grace=0 and a restart the export differs at %d" % off)
PY
stop_nbdkit
echo "ok: after gc grace=0 and a restart every byte reads as its shadow"
