#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# The admin verbs on a log export (docs/log-layout.md): a snapshot
# served as EXPORT@SNAP reads as the export did when it was taken while
# the export moves on; du's log figures add up (stored = live + dead,
# overwrites leave dead bytes, a snapshot pins the segments only it
# names); check --deep is clean, then names a segment with a flipped
# byte and the export that references it (exit 1), and plain check
# names a truncated one.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh python3

ADMIN=${ADMIN:-$top_builddir/admin/s3blocks}
[ -x "$ADMIN" ] || fail "$ADMIN not built"
start_s3
# du and check see the whole bucket: on RGW, whose bucket outlives a
# pass, start from an empty one.
empty_bucket_on_rgw
admin () { "$ADMIN" "$@" $(s3_args) ${S3BLOCKS_TEST_KEYS:-}; }
export TMPD

expect_status ()
{
    local want=$1 pattern=$2 status=0
    shift 2
    "$@" >"$TMPD/out" 2>&1 || status=$?
    [ "$status" = "$want" ] ||
        fail "$*: exit $status, expected $want: $(cat "$TMPD/out")"
    grep -qE -- "$pattern" "$TMPD/out" || fail "$*: $(cat "$TMPD/out")"
}

# write NAME CHUNKS...: random 64 KiB chunks at the chunk numbers given,
# into the export and its shadow file, then flush.
write ()
{
    local name=$1
    shift
    W_NAME=$name W_CHUNKS="$*" nbdsh -u "$(uri "$name")" -c - <<'PY'
import os
shadow = os.path.join(os.environ["TMPD"], "shadow")
if not os.path.exists(shadow):
    with open(shadow, "wb") as f:
        f.truncate(16 << 20)
with open(shadow, "r+b") as f:
    for c in os.environ["W_CHUNKS"].split():
        off = int(c) * 65536
        data = os.urandom(65536)
        h.pwrite(data, off)
        f.seek(off)
        f.write(data)
h.flush()
PY
}

# verify NAME SHADOW: every byte of the export or snapshot.
verify ()
{
    V_SHADOW=$2 nbdsh -u "$(uri "$1")" -c - <<'PY'
import os
want = open(os.environ["V_SHADOW"], "rb").read()
assert h.get_size() == len(want), "size %d, expected %d" % (h.get_size(), len(want))
for off in range(0, len(want), 1 << 20):
    got = h.pread(1 << 20, off)
    if got != want[off:off + (1 << 20)]:
        raise AssertionError("differs in the MiB at %d" % off)
PY
}

# --- a workload, a snapshot, the export moves on ------------------------
# 1 MiB segments: 8 MiB written makes several, and an overwrite of every
# other 64 KiB of the first 2 MiB leaves half of two of them dead.
start_nbdkit -- export=la layout=log size=16M segment-size=1M write-delay=0
write la $(seq 0 127)
write la $(seq 0 2 31)
stop_nbdkit
expect_status 0 '^la@s1: snapshot of la' admin snapshot la s1
cp "$TMPD/shadow" "$TMPD/shadow-s1"
s3util ls log/segs/ | awk '{ print $1 }' | sort > "$TMPD/segs-before"
start_nbdkit -- export=la segment-size=1M write-delay=0
write la $(seq 64 95)
verify la "$TMPD/shadow" || fail "la does not read as written"
verify la@s1 "$TMPD/shadow-s1" || fail "la@s1 does not read as la did at the snapshot"
nbdsh -u "$(uri la@s1)" -c 'assert h.is_read_only()' || fail "la@s1 is writable"
stop_nbdkit
s3util ls log/segs/ | awk '{ print $1 }' | sort > "$TMPD/segs-after"
comm -13 "$TMPD/segs-before" "$TMPD/segs-after" > "$TMPD/segs-new"
[ -s "$TMPD/segs-new" ] || fail "the last write made no segment"
echo "ok: la@s1 reads as la did at the snapshot; la reads as written since"

# --- du ------------------------------------------------------------------
expect_status 0 '^la +export +16777216 +8388608 ' admin du la la@s1
admin du --json > "$TMPD/du.json" || fail "du --json: $(cat "$TMPD/du.json")"
python3 - "$TMPD/du.json" <<'PY' || fail "du --json: $(cat "$TMPD/du.json")"
import json, sys
d = json.load(open(sys.argv[1]))
rows = {r["name"]: r for r in d["log"]}
la, s1 = rows["la"], rows["la@s1"]
MiB = 1 << 20
for r in (la, s1):
    assert r["logical"] == 8 * MiB, r
    assert r["live"] == 8 * MiB, r          # random data: no dedup
    assert r["stored"] == r["live"] + r["dead"], r
    assert r["missing_segments"] == 0, r
# Half of the first 2 MiB overwritten: those copies are dead in la's
# segments.
assert la["dead"] >= MiB, la
# The 2 MiB overwritten after the snapshot: the segments that held
# them (only s1 names them) are pinned.
assert 3 * MiB // 2 <= la["pinned"] <= s1["stored"], la
assert s1["pinned"] == la["pinned"], (la, s1)
b = d["log_bucket"]
assert b["segment_bytes"] >= la["stored"] + la["pinned"], b
assert b["unnamed_objects"] == 0, b
print("du: la stored %d live %d dead %d pinned %d" %
      (la["stored"], la["live"], la["dead"], la["pinned"]))
PY
echo "ok: du's log figures add up"

# --- check --deep --------------------------------------------------------
expect_status 0 '^log: 2 roots, .* 0 damaged' admin check --deep
seg=$(head -1 "$TMPD/segs-new")
s3util get "$seg" "$TMPD/seg"
cp "$TMPD/seg" "$TMPD/seg.orig"
python3 - "$TMPD/seg" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read())
b[-100] ^= 1                            # in the last block's bytes
open(sys.argv[1], "wb").write(b)
PY
s3util put "$seg" "$TMPD/seg"
expect_status 0 '^log: 2 roots, .* 0 damaged' admin check
expect_status 1 "^la: damage: segment $seg is damaged: the block at offset [0-9]+ does not match its SHA-256" \
    admin check --deep
if grep -q "^la@s1: damage" "$TMPD/out"; then
    fail "check --deep names la@s1, which does not reference $seg: $(cat "$TMPD/out")"
fi
echo "ok: check --deep names the damaged $seg and la"
head -c 100 "$TMPD/seg.orig" > "$TMPD/seg"
s3util put "$seg" "$TMPD/seg"
expect_status 1 "^la: damage: segment $seg is damaged: its header or index is unreadable" \
    admin check la
s3util put "$seg" "$TMPD/seg.orig"
expect_status 0 '^log: 1 roots, .* 0 damaged' admin check --deep la
echo "ok: check names the truncated $seg; restored, it checks clean"
