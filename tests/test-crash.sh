#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# Crashes: nbdkit killed with SIGKILL while clients are connected.
# Everything flushed before the crash is there after a restart, for a
# qemu-img image and for an ext4 filesystem (e2fsck clean); a block
# written but not flushed reads as either its old or its new contents,
# never anything else.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires qemu-img nbdsh
. "$top_srcdir/tests/fuse-functions.sh"
export EXPORT TMPD

start_s3

# 1. A qemu-img image (qemu-img convert flushes before it disconnects).
img="$TMPD/disk.img"
size=$((32 << 20))
/usr/bin/python3 - "$img" "$size" <<'PY'
import os, random, sys
path, size = sys.argv[1], int(sys.argv[2])
rnd = random.Random(99)
with open(path, "wb") as f:
    f.truncate(size)
    for _ in range(30):
        f.seek(rnd.randrange(0, size - 400000))
        f.write(os.urandom(rnd.randrange(1, 400000)))
PY
start_nbdkit -- "export=$EXPORT-img" size=$size
qemu-img convert -n -f raw -O raw "$img" "$(uri "$EXPORT-img")"

# A client connected at the crash with writes not yet flushed, over
# blocks that the image has data in.
nbdsh -u "$(uri "$EXPORT-img")" -c '
import os, time
for i in range(64):
    h.pwrite(bytes([0xEE]) * 4096, i * 65536)
open(os.environ["TMPD"] + "/dirty", "w").close()
time.sleep(120)
' >/dev/null 2>&1 &
client=$!
wait_for "the client's writes" test -f "$TMPD/dirty"
kill_nbdkit
kill "$client" 2>/dev/null; wait "$client" 2>/dev/null || true

start_nbdkit -- "export=$EXPORT-img" take-over-lease=true
nbdsh -u "$(uri "$EXPORT-img")" -c - <<'PY'
import os
img = open(os.environ["TMPD"] + "/disk.img", "rb").read()
new = bytes([0xEE]) * 4096
got = h.pread(len(img), 0)
unflushed = kept = 0
for off in range(0, len(img), 4096):
    old, blk = img[off:off + 4096], got[off:off + 4096]
    if off % 65536 == 0 and off < 64 * 65536:
        assert blk in (old, new), "unflushed block at %d is torn" % off
        unflushed += 1
        kept += blk == new
    else:
        assert blk == old, "flushed block at %d differs after a crash" % off
print("ok: qemu-img image intact after SIGKILL; %d unflushed blocks each "
      "old or new (%d new)" % (unflushed, kept))
PY
stop_nbdkit

# 2. ext4: files written and synced (the filesystem unmounted: fuse2fs
# writes everything back and fsyncs the device, which nbdfuse turns into
# an NBD flush), then SIGKILL with nbdfuse still connected.
start_nbdkit -- "export=$EXPORT-fs" size=128M
new_fs
make_tree synced
umount_fs
kill_nbdkit
umount_nbd --any-status

start_nbdkit -- "export=$EXPORT-fs" take-over-lease=true
check_fs
echo "ok: ext4 synced before SIGKILL is intact"
