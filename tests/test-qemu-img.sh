#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# qemu-img convert of a mixed random/zero image into an export, qemu-img
# compare before and after a restart, and the bucket holds exactly the
# non-zero blocks at the right keys.  qemu-io checks unaligned patterns.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires qemu-img qemu-io

img="$TMPD/disk.img"
size=$((48 * 1024 * 1024))

# Random runs of various lengths and alignments, with all-zero blocks
# inside some of them, a lone non-zero byte, and long holes.
/usr/bin/python3 - "$img" "$size" <<'PY'
import os, random, sys
path, size = sys.argv[1], int(sys.argv[2])
rnd = random.Random(1234)
with open(path, "wb") as f:
    f.truncate(size)
    for _ in range(40):
        off = rnd.randrange(0, size - 300000)
        n = rnd.randrange(1, 300000)
        f.seek(off)
        f.write(os.urandom(n))
    for _ in range(20):             # zero blocks inside data
        f.seek(rnd.randrange(0, size // 4096) * 4096)
        f.write(bytes(4096))
    f.seek(size - 4096 + 4095)      # one byte in the last block
    f.write(b"\x01")
PY

start_s3
start_nbdkit -- "export=$EXPORT" size=$size
qemu-img convert -n -f raw -O raw "$img" "$(uri)"
qemu-img compare -f raw -F raw "$img" "$(uri)"

stop_nbdkit
start_nbdkit -- "export=$EXPORT"
qemu-img compare -f raw -F raw "$img" "$(uri)"
echo "ok: identical after a restart"

# Exactly the non-zero blocks are stored, at blocks/EXPORT/%016x.
/usr/bin/python3 - "$img" "$EXPORT" > "$TMPD/want" <<'PY'
import sys
path, export = sys.argv[1], sys.argv[2]
with open(path, "rb") as f:
    off = 0
    while True:
        b = f.read(4096)
        if not b:
            break
        if any(b):
            print("blocks/%s/%016x 4096" % (export, off))
        off += 4096
PY
s3util ls "blocks/$EXPORT/" > "$TMPD/have"
if ! cmp -s "$TMPD/want" "$TMPD/have"; then
    diff "$TMPD/want" "$TMPD/have" | head -20 >&2
    fail "the bucket does not hold exactly the non-zero blocks"
fi
echo "ok: $(wc -l < "$TMPD/have") objects, exactly the non-zero blocks"

# The allocation map matches the image's data.
qemu-img map -f raw --output=json "$(uri)" > "$TMPD/map.json"
/usr/bin/python3 - "$TMPD/map.json" "$TMPD/want" <<'PY'
import json, sys
extents = json.load(open(sys.argv[1]))
want = {int(l.split()[0].rsplit("/", 1)[1], 16) for l in open(sys.argv[2])}
have = set()
for e in extents:
    if e["data"]:
        have.update(range(e["start"], e["start"] + e["length"], 4096))
assert have == want, "qemu-img map data extents differ from the stored blocks"
print("ok: qemu-img map shows data exactly where blocks are stored")
PY

# qemu-io: unaligned patterns, written, flushed, read back after restart.
qemu-io -f raw -c 'write -P 0xab 1000 5000' -c 'write -P 0xcd 70000 131072' \
    -c 'flush' "$(uri)" > "$TMPD/qemu-io.out"
stop_nbdkit
start_nbdkit -- "export=$EXPORT"
qemu-io -f raw -r -c 'read -P 0xab 1000 5000' -c 'read -P 0xcd 70000 131072' \
    "$(uri)" | tee "$TMPD/qemu-io.out"
if grep -q 'Pattern verification failed' "$TMPD/qemu-io.out"; then
    fail "qemu-io pattern mismatch"
fi
echo "ok: qemu-io patterns survive a restart"
