#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# s3blocks clone across layouts, end to end: random data written to a
# plain and a cas export through nbdkit is cloned into log (--layout=),
# a log export within log (a root copy, no content copied), and back to
# plain and cas, and a log snapshot into plain; each clone is served and
# read back byte for byte, its metadata says its layout, and the copies
# store no all-zero block.  A served source is refused.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh
export TMPD
ADMIN=${ADMIN:-$top_builddir/admin/s3blocks}
admin () { "$ADMIN" "$@" $(s3_args) ${S3BLOCKS_TEST_KEYS:-}; }

start_s3
# Objects are counted by prefix: on RGW, whose bucket outlives a pass,
# start from an empty one.
empty_bucket_on_rgw

# 16 MiB: 3 MiB of random data, a hole, 1 MiB more with a zeroed block
# inside, and a hole to the end (s3rver takes a while over each block
# of a plain export).
/usr/bin/python3 - "$TMPD/img" <<'PY'
import os, sys
img = bytearray(16 << 20)
img[0:3 << 20] = os.urandom(3 << 20)
img[8 << 20:9 << 20] = os.urandom(1 << 20)
img[(8 << 20) + 8192:(8 << 20) + 12288] = bytes(4096)
open(sys.argv[1], "wb").write(img)
PY
nonzero=$(/usr/bin/python3 - "$TMPD/img" <<'PY'
import sys
d = open(sys.argv[1], "rb").read()
print(sum(1 for i in range(0, len(d), 4096) if any(d[i:i + 4096])))
PY
)

write_img () {
    nbdsh -u "$(uri "$1")" -c - <<PY
data = open("$TMPD/img", "rb").read()
for off in range(0, len(data), 1 << 20):
    chunk = data[off:off + (1 << 20)]
    if any(chunk):
        h.pwrite(chunk, off)
h.flush()
PY
}

# Every export named reads as the image.
check_img () {
    local name
    start_nbdkit -- export=p write-delay=0
    for name in "$@"; do
        nbdsh -u "$(uri "$name")" -c - <<PY || fail "$name does not read as the image"
want = open("$TMPD/img", "rb").read()
assert h.get_size() == len(want), "%s: size %d" % ("$name", h.get_size())
got = b"".join(h.pread(1 << 20, off) for off in range(0, len(want), 1 << 20))
if got != want:
    bad = next(i for i in range(len(want)) if got[i] != want[i])
    raise AssertionError("$name differs at byte %d" % bad)
PY
    done
    stop_nbdkit
    echo "ok: $* read back byte for byte"
}

layout_of () {
    local l
    s3util get "exports/$1" "$TMPD/meta.$1" || fail "no exports/$1"
    l=$(sed -n 's/^layout //p' "$TMPD/meta.$1")
    echo "${l:-plain}"
}

clone () {
    admin clone "$@" > "$TMPD/clone.out" 2>&1 ||
        fail "clone $*: $(cat "$TMPD/clone.out")"
    cat "$TMPD/clone.out"
}

# --- the sources: plain and cas, written through nbdkit -----------------
start_nbdkit -- export=p size=16M write-delay=0
write_img p
stop_nbdkit
start_nbdkit -- export=c layout=cas size=16M write-delay=0
write_img c
stop_nbdkit
[ "$(layout_of p)" = plain ] && [ "$(layout_of c)" = cas ] ||
    fail "sources: p is $(layout_of p), c is $(layout_of c)"

# --- a served source is refused ---------------------------------------------
start_nbdkit -- export=p write-delay=0
nbdsh -u "$(uri p)" -c 'h.pread(4096, 0)'
status=0
admin clone --layout=log p busy > "$TMPD/busy" 2>&1 || status=$?
[ "$status" = 1 ] || fail "clone of a served export: status $status: $(cat "$TMPD/busy")"
grep -q 'a server holds its lease' "$TMPD/busy" || fail "busy: $(cat "$TMPD/busy")"
stop_nbdkit
[ "$(s3util count exports/busy)" = 0 ] || fail "a refused clone left exports/busy"
echo "ok: a clone of a served export is refused, nothing made"

# --- into log ------------------------------------------------------------
segs0=$(s3util count log/segs/)
clone --layout=log p pl
clone --layout=log c cl
[ "$(layout_of pl)" = log ] && [ "$(layout_of cl)" = log ] ||
    fail "clones into log: pl is $(layout_of pl), cl is $(layout_of cl)"
segs=$(s3util count log/segs/)
# 4 MiB of data per clone, 8 MiB segments: one or two each, not one
# object a block.
[ $((segs - segs0)) -ge 2 ] && [ $((segs - segs0)) -le 8 ] ||
    fail "two clones of 4 MiB wrote $((segs - segs0)) segments"
[ "$(s3util count blocks/pl/)" = 0 ] && [ "$(s3util count blocks/cl/)" = 0 ] ||
    fail "a clone into log wrote plain blocks"
echo "ok: plain and cas cloned into log: $((segs - segs0)) segments"

# --- log -> log: a root copy ------------------------------------------------
segs=$(s3util count log/segs/)
clone pl ll
grep -q 'no content copied' "$TMPD/clone.out" || fail "pl -> ll copied content"
[ "$(layout_of ll)" = log ] || fail "ll is $(layout_of ll)"
[ "$(s3util count log/segs/)" = "$segs" ] || fail "log -> log wrote segments"
echo "ok: log -> log is a root copy"

# --- back out of log, and a log snapshot --------------------------------------
clone --layout=plain ll lp
clone --layout=cas ll lc
admin snapshot cl s1 > "$TMPD/snap" 2>&1 || fail "snapshot cl s1: $(cat "$TMPD/snap")"
clone --layout=plain cl@s1 sp
[ "$(layout_of lp)" = plain ] && [ "$(layout_of lc)" = cas ] &&
    [ "$(layout_of sp)" = plain ] ||
    fail "out of log: lp $(layout_of lp), lc $(layout_of lc), sp $(layout_of sp)"
# A plain copy stores one object per non-zero block (and its map).
[ "$(s3util count blocks/lp/)" = "$nonzero" ] ||
    fail "lp has $(s3util count blocks/lp/) blocks, the image $nonzero non-zero ones"
echo "ok: log cloned into plain and cas, a log snapshot into plain"

check_img p c pl cl ll lp lc sp

admin list > "$TMPD/list"
grep -qE '^pl +16777216 +4096 log ' "$TMPD/list" || fail "list: pl: $(cat "$TMPD/list")"
echo "ok: list shows the clones' layouts"
