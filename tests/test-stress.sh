#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# Under load: nbdcopy with four connections, fio with verify=crc32c and
# a verifying nbdsh reader, all at once on one export, each in its own
# range; every byte checked afterwards, and again after a restart.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh nbdcopy fio
export EXPORT TMPD SOCK

start_s3
# A small max-dirty, so that early writeback runs under the load too.
keys=("export=$EXPORT" max-dirty=4M)
start_nbdkit -- "${keys[@]}" size=48M

# [40M, 48M): written and flushed first; read back under the load.
head -c $((8 << 20)) /dev/urandom > "$TMPD/stable"
nbdsh -u "$(uri)" -c '
import os
h.pwrite(open(os.environ["TMPD"] + "/stable", "rb").read(), 40 << 20)
h.flush()
'

# [0, 24M): nbdcopy, four connections.
head -c $((24 << 20)) /dev/urandom > "$TMPD/copy"
timeout 300 nbdcopy --connections=4 --flush "$TMPD/copy" "$(uri)" &
copy=$!

# [24M, 40M): two fio jobs of random writes, then their verification.
fio_job=(--ioengine=nbd --uri="$(uri)" --rw=randwrite --bsrange=4k-64k
         --iodepth=8 --numjobs=2 --size=8M --offset=24M
         --offset_increment=8M --verify=crc32c --randrepeat=1
         --verify_state_save=0 --group_reporting --output="$TMPD/fio.out")
timeout 300 fio --name=stress "${fio_job[@]}" &
fio=$!

# The reader: random blocks of the stable range, 400 of them.
timeout 300 nbdsh -u "$(uri)" -c '
import os, random
data = open(os.environ["TMPD"] + "/stable", "rb").read()
rnd = random.Random(7)
for _ in range(400):
    off = rnd.randrange(0, len(data) // 512) * 512
    n = min(rnd.choice([512, 4096, 65536, 200000]), len(data) - off)
    assert h.pread(n, (40 << 20) + off) == data[off:off + n], "at %d" % off
' &
reader=$!

wait $copy || fail "nbdcopy failed"
wait $fio || { cat "$TMPD/fio.out" >&2; fail "fio failed (or its verify did)"; }
wait $reader || fail "the verifying reader failed"
grep -q "err= 0" "$TMPD/fio.out" || fail "fio reported errors"
echo "ok: nbdcopy x4, fio verify=crc32c and a verifying reader at once"

check_all ()
{
    timeout 300 nbdcopy "$(uri)" "$TMPD/back" || fail "nbdcopy back failed"
    cmp -n $((24 << 20)) "$TMPD/copy" "$TMPD/back" || fail "nbdcopy range differs"
    cmp -i $((40 << 20)):0 "$TMPD/back" "$TMPD/stable" || fail "stable range differs"
    rm -f "$TMPD/back"
    timeout 300 fio --name=stress "${fio_job[@]}" --verify_only ||
        { cat "$TMPD/fio.out" >&2; fail "fio verify_only failed"; }
}
check_all
stop_nbdkit
start_nbdkit -- "${keys[@]}"
check_all
echo "ok: all 48 MiB verified after a restart"
