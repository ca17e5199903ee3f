#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# Shared export state under concurrency: a flush on one connection makes
# another connection's writes durable (multi-conn); clients writing
# overlapping and disjoint ranges at once leave no torn or lost block;
# the dirty bound holds; extents match what was written.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh nbdinfo nbdcopy
export EXPORT TMPD

start_s3
start_nbdkit -- "export=$EXPORT" size=32M max-dirty=1M

# 1. Multi-conn: write on one connection, flush on another, crash.
nbdsh -c - <<'PY'
import os, nbd, sys
sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests"))
import s3util
uri = "nbd+unix:///%s?socket=%s/nbd.sock" % (os.environ["EXPORT"],
                                              os.environ["TMPD"])
a, b = nbd.NBD(), nbd.NBD()
a.connect_uri(uri)
b.connect_uri(uri)
assert a.can_multi_conn() and b.can_multi_conn()
a.pwrite(b"\x11" * 8192, 1 << 20)
assert b.pread(8192, 1 << 20) == b"\x11" * 8192, "B sees A's write at once"
prefix = "blocks/%s/" % os.environ["EXPORT"]
s3 = s3util.client()
def count():
    return sum(1 for _ in s3util.keys(s3, os.environ["S3_BUCKET"], prefix))
assert count() == 0, "nothing stored before a flush"
b.flush()
assert count() == 2, "B's flush stored A's two blocks"
print("ok: a flush on one connection makes another's writes durable")
PY
kill_nbdkit
start_nbdkit -- "export=$EXPORT" max-dirty=1M take-over-lease=true
nbdsh -u "$(uri)" -c 'assert h.pread(8192, 1 << 20) == b"\x11" * 8192'
echo "ok: and they survive a crash"

# 2. Concurrent clients: four write disjoint 2 MiB ranges, two fight
# over the same 64 KiB, all at once, each with its own connections.
writer ()
{
    WRITER_ARGS="$*" nbdsh -u "$(uri)" -c - <<'PY'
import os, random
seed, start, length, rounds = map(int, os.environ["WRITER_ARGS"].split())
rnd = random.Random(seed)
for r in range(rounds):
    off = start + rnd.randrange(0, length // 512) * 512
    n = min(rnd.choice([512, 4096, 7000, 65536]), start + length - off)
    h.pwrite(bytes([(seed * 16 + r) % 255 + 1]) * n, off)
    if r % 10 == 0:
        h.flush()
# Finally a known pattern over the whole range (the fighters: whole
# blocks of their own byte).
h.pwrite(bytes([seed]) * length, start)
h.flush()
PY
}
pids=()
for i in 1 2 3 4; do
    writer $i $(( (4 + (i - 1) * 2) << 20 )) $((2 << 20)) 60 &
    pids+=($!)
done
writer 100 $((16 << 20)) 65536 80 &
pids+=($!)
writer 101 $((16 << 20)) 65536 80 &
pids+=($!)
for p in "${pids[@]}"; do wait "$p" || fail "a writer failed"; done

verify ()
{
    nbdsh -u "$(uri)" -c - <<'PY'
for i in (1, 2, 3, 4):
    start = (4 + (i - 1) * 2) << 20
    assert h.pread(2 << 20, start) == bytes([i]) * (2 << 20), \
        "disjoint range %d" % i
fight = h.pread(65536, 16 << 20)
for b in range(0, 65536, 4096):
    blk = fight[b:b + 4096]
    assert blk in (bytes([100]) * 4096, bytes([101]) * 4096), \
        "block %d of the shared range is torn or lost" % (b // 4096)
PY
}
verify
echo "ok: concurrent writers, every block whole and correct"
stop_nbdkit
start_nbdkit -- "export=$EXPORT" max-dirty=1M
verify
echo "ok: and the same after a restart"

# 3. The dirty bound: under max-dirty nothing is stored before a flush;
# beyond it the oldest blocks go first, and nothing is lost.
nbdsh -u "$(uri)" -c - <<'PY'
import os, sys
sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests"))
import s3util
s3 = s3util.client()
prefix = "blocks/%s/000000000" % os.environ["EXPORT"]   # offsets < 64M
def count():
    # Only the 24M-28M range written here.
    return sum(1 for k, _ in s3util.keys(s3, os.environ["S3_BUCKET"], prefix)
               if 24 << 20 <= int(k.rsplit("/", 1)[1], 16) < 28 << 20)
h.pwrite(b"\x33" * (512 << 10), 24 << 20)
assert count() == 0, "512K (under max-dirty=1M) was uploaded before a flush"
h.pwrite(b"\x44" * (3 << 20), 25 << 20)
n = count()
assert n >= 512, "writing 3.5M with max-dirty=1M left %d blocks stored" % n
print("ok: max-dirty: nothing stored below it, %d blocks written back "
      "beyond it" % n)
PY
stop_nbdkit
start_nbdkit -- "export=$EXPORT"
nbdsh -u "$(uri)" -c '
assert h.pread(512 << 10, 24 << 20) == b"\x33" * (512 << 10)
assert h.pread(3 << 20, 25 << 20) == b"\x44" * (3 << 20)
'
echo "ok: data written past max-dirty survives a restart"

# 4. Extents (nbdinfo --map) against what is stored.
nbdinfo --map=base:allocation "$(uri)" > "$TMPD/map.txt"
/usr/bin/python3 - "$TMPD/map.txt" <<'PY'
import sys
data = []
for line in open(sys.argv[1]):
    off, length, typ = line.split()[:3]
    if int(typ) & 1 == 0:               # not a hole
        data.append((int(off), int(off) + int(length)))
want = [(1 << 20, (1 << 20) + 8192), (4 << 20, 12 << 20),
        (16 << 20, (16 << 20) + 65536),
        (24 << 20, (24 << 20) + (512 << 10)), (25 << 20, 28 << 20)]
merged = []
for s, e in sorted(data):
    if merged and merged[-1][1] == s:
        merged[-1] = (merged[-1][0], e)
    else:
        merged.append((s, e))
assert merged == want, "extents %s, expected %s" % (merged, want)
print("ok: nbdinfo --map shows data exactly where it was written")
PY
