#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# nbdsh against a real S3 server: write, read, flush, zero, trim, FUA,
# unaligned writes, extents; objects appear only after flush; the data
# survives a restart; SIGTERM flushes dirty data.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh
export EXPORT TMPD

start_s3
start_nbdkit -- "export=$EXPORT" size=64M
nbdsh --base-allocation -u "$(uri)" -c - < "$top_srcdir/tests/nbdsh-basic.py"

# Restart: what was flushed is there; size comes from the metadata.
stop_nbdkit
start_nbdkit -- "export=$EXPORT"
nbdsh -u "$(uri)" -c - <<'PY'
def pattern(n, seed):
    return bytes((i * 7 + seed) % 251 + 1 for i in range(n))
BS = 4096
assert h.get_size() == 64 * 1024 * 1024, "size from metadata"
data = pattern(3 * BS + 100, 1)
assert h.pread(BS, 13 * BS) == data[3 * BS - 1000:] + bytes(BS - 1100), \
    "block 13 after restart"
assert h.pread(BS, 40 * BS) == pattern(BS, 4), "block 40 after restart"
assert h.pread(BS, 10 * BS) == bytes(BS), "zeroed block after restart"
# Dirty data for the SIGTERM check below.
h.pwrite(pattern(BS, 5), 50 * BS)
print("ok: data survives a restart")
PY

# Stop nbdkit with SIGTERM while a client has dirty data.
nbdsh -u "$(uri)" -c - <<'PY' &
import time
BS = 4096
h.pwrite(b"\x5a" * BS, 60 * BS)
open(__import__("os").environ["TMPD"] + "/written", "w").close()
time.sleep(60)
PY
client=$!
wait_for "the client's write" test -f "$TMPD/written"
# nbdkit stops accepting at once but waits for connected clients to
# leave; the client then dies without a flush or a clean disconnect.
kill -TERM "$NBDKIT_PID"
sleep 0.5
kill -9 "$client" 2>/dev/null || true
wait "$client" 2>/dev/null || true
stop_nbdkit
n=$(s3util ls "blocks/$EXPORT/" | grep -c "$(printf '%016x' $((60 * 4096)))" || true)
[ "$n" = 1 ] || fail "SIGTERM did not flush the dirty block"
echo "ok: SIGTERM flushes dirty data"
