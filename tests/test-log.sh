#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# The log layout end to end: 16 MiB written and flushed lands in a few
# segments with few PUTs, never one object per block; overwrites and a
# zero range read back byte for byte after a restart; a SIGKILL after a
# flush loses only what came after it; segment-size= is checked;
# layout= cannot change; EXPORT@SNAP serves a snapshot; check --deep,
# du, list and delete know a log export (tests/test-log-admin.sh: the
# admin verbs in detail).

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh
export TMPD
ADMIN=${ADMIN:-$top_builddir/admin/s3blocks}
admin () { "$ADMIN" "$@" $(s3_args) ${S3BLOCKS_TEST_KEYS:-}; }

start_s3
# Objects are counted over the whole bucket: on RGW, whose bucket
# outlives a pass, start from an empty one.
empty_bucket_on_rgw

# --- segment-size= ---------------------------------------------------------
run_nbdkit_expect_failure 'segment-size: .*out of range' \
    $(s3_args) export=x layout=log size=1M segment-size=1K
run_nbdkit_expect_failure 'segment-size .*at least 16 blocks' \
    $(s3_args) export=x layout=log size=1M block-size=64K segment-size=512K
echo "ok: a bad segment-size= is refused, naming the key"

# --- 16 MiB sequential: a few segments, a few PUTs -----------------------
head -c 16M /dev/urandom > "$TMPD/img"
truncate -s 32M "$TMPD/img"
: > "$TMPD/nbdkit.log"
start_nbdkit -- export=l layout=log size=32M write-delay=0
nbdsh -u "$(uri l)" -c - <<PY
data = open("$TMPD/img", "rb").read(16 << 20)
for off in range(0, len(data), 1 << 20):
    h.pwrite(data[off:off + (1 << 20)], off)
h.flush()
PY
stop_nbdkit
line=$(grep 'store: requests' "$TMPD/nbdkit.log" | tail -1)
puts=$(echo "$line" | grep -oE 'PUT [0-9]+' | head -1 | cut -d' ' -f2)
[ -n "$puts" ] || fail "no PUT count in: $line"
[ "$puts" -lt 64 ] || fail "16 MiB written and flushed took $puts PUTs (want < 64): $line"
echo "ok: 16 MiB written and flushed: $line"
segs=$(s3util count log/segs/)
blocks=$(s3util count blocks/)
[ "$segs" -ge 2 ] && [ "$segs" -le 4 ] ||
    fail "16 MiB in $segs segment objects, expected 2 to 4"
[ "$blocks" = 0 ] || fail "a log export wrote $blocks plain blocks"
[ "$(s3util count cas/data/)" = 0 ] || fail "a log export wrote cas data"
s3util get exports/l "$TMPD/meta"
grep -qx 'layout log' "$TMPD/meta" || fail "exports/l lacks 'layout log'"
echo "ok: 16 MiB in $segs segments, no blocks/ objects, metadata says layout log"

# --- overwrites and a zero range survive a restart -----------------------
start_nbdkit -- export=l
nbdsh -u "$(uri l)" -c - <<PY
import os
img = bytearray(open("$TMPD/img", "rb").read())
def put(off, data):
    h.pwrite(data, off)
    img[off:off + len(data)] = data
put(0, os.urandom(4096))
put(5 * 4096 + 100, os.urandom(3000))           # inside a block
put((8 << 20) - 2048, os.urandom(8192))         # across a segment's end
put((20 << 20), os.urandom(1 << 20))            # past the written part
h.zero(1 << 20, 2 << 20)
img[2 << 20:3 << 20] = bytes(1 << 20)
h.flush()
open("$TMPD/img", "wb").write(img)
PY
stop_nbdkit
start_nbdkit -- export=l
nbdsh -u "$(uri l)" -c - <<PY
want = open("$TMPD/img", "rb").read()
got = b"".join(h.pread(1 << 20, off) for off in range(0, 32 << 20, 1 << 20))
assert h.get_size() == 32 << 20
if got != want:
    bad = next(i for i in range(len(want)) if got[i] != want[i])
    raise AssertionError("after a restart the export differs at byte %d" % bad)
PY
stop_nbdkit
echo "ok: overwrites, a partial block and a zero range read back after a restart"
run_nbdkit_expect_failure 'export l was created with layout=log; layout=cas' \
    $(s3_args) export=l layout=cas
echo "ok: layout=cas on a log export is refused, naming both"

# --- SIGKILL after a flush --------------------------------------------------
start_nbdkit -- export=l write-delay=0
nbdsh -u "$(uri l)" -c - <<PY
import os
img = bytearray(open("$TMPD/img", "rb").read())
for i in range(64):
    off = (i * 37 % 8000) * 4096
    d = os.urandom(4096)
    h.pwrite(d, off)
    img[off:off + 4096] = d
h.flush()
open("$TMPD/img", "wb").write(img)
# Unflushed: must be gone after the kill.
for i in range(64):
    h.pwrite(os.urandom(8192), (i * 53 % 4000) * 8192)
h.zero(1 << 20, 4 << 20)
PY
kill_nbdkit
start_nbdkit -- export=l take-over-lease=true
nbdsh -u "$(uri l)" -c - <<PY
want = open("$TMPD/img", "rb").read()
got = b"".join(h.pread(1 << 20, off) for off in range(0, 32 << 20, 1 << 20))
if got != want:
    bad = next(i for i in range(len(want)) if got[i] != want[i])
    raise AssertionError("after SIGKILL the export differs from the flushed state at byte %d" % bad)
PY
stop_nbdkit
echo "ok: after SIGKILL the export reads exactly as at its last flush"

# --- a snapshot, served ------------------------------------------------------
# admin snapshot copies a log root; EXPORT@SNAP serves it read-only, in
# the log layout, as it was at the snapshot.
admin snapshot l s1 > "$TMPD/snap" 2>&1 || fail "snapshot l s1: $(cat "$TMPD/snap")"
start_nbdkit -- export=l
nbdsh -u "$(uri l@s1)" -c - <<PY || fail "l@s1 does not read as l did at the snapshot"
want = open("$TMPD/img", "rb").read()
got = b"".join(h.pread(1 << 20, off) for off in range(0, 32 << 20, 1 << 20))
assert got == want, "l@s1 differs from l's flushed state"
assert h.is_read_only()
PY
stop_nbdkit
admin delete --yes l@s1 > "$TMPD/snapdel" 2>&1 || fail "delete l@s1: $(cat "$TMPD/snapdel")"
echo "ok: EXPORT@SNAP of a log export reads as the export did"
admin check --deep l > "$TMPD/check" 2>&1 || fail "check --deep l: $(cat "$TMPD/check")"
grep -q '^log: 1 roots, .* 0 damaged' "$TMPD/check" || fail "check l: $(cat "$TMPD/check")"
admin du l > "$TMPD/du" 2>&1 || fail "du l: $(cat "$TMPD/du")"
grep -qE '^l +export +33554432 ' "$TMPD/du" || fail "du l: $(cat "$TMPD/du")"
echo "ok: admin check --deep and du read a log export"

# --- list and delete ---------------------------------------------------------
admin list > "$TMPD/list"
grep -qE '^l +33554432 +4096 log ' "$TMPD/list" || fail "list: l: $(cat "$TMPD/list")"
admin delete --yes l > "$TMPD/delete" || fail "delete l: $(cat "$TMPD/delete")"
grep -q 'segments under log/segs/ stay' "$TMPD/delete" ||
    fail "delete does not say the segments stay: $(cat "$TMPD/delete")"
[ "$(s3util count exports/l)" = 0 ] || fail "delete left exports/l"
[ "$(s3util count cas/roots/l)" = 0 ] || fail "delete left cas/roots/l"
echo "ok: list shows layout log; delete removes the metadata and root"
