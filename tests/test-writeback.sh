#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# Background write-back: with write-delay=1s, data a client wrote and
# never flushed reaches S3 within seconds while the client stays
# connected, so a SIGKILL then loses none of it; with write-delay=0 the
# same writes stay in memory, showing that the setting is what uploads
# them.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh
export EXPORT TMPD

NBLOCKS=8
export NBLOCKS

start_s3

# connect_and_write EXPORT: a client writes NBLOCKS distinct blocks,
# never flushes, and stays connected (until killed, at most 120 s).
connect_and_write ()
{
    rm -f "$TMPD/written"
    nbdsh -u "$(uri "$1")" -c '
import os, time
n = int(os.environ["NBLOCKS"])
for i in range(n):
    h.pwrite(("block %02d " % i).encode() * 455 + bytes(1), i * 65536)
open(os.environ["TMPD"] + "/written", "w").close()
time.sleep(120)
' >/dev/null 2>&1 &
    client=$!
    on_exit "kill $client 2>/dev/null"
    wait_for "the client's writes" test -f "$TMPD/written"
}

# The export's first allocation-map segment, or an empty file if it has
# none yet.  A block is kept across a crash only once a map commit
# records it (see lib/layout/plain/layout-plain.c).
map_segment ()
{
    rm -f "$2"
    s3util get "maps/$1/0000000000000000" "$2" 2>/dev/null || : > "$2"
}

# uploaded EXPORT: its NBLOCKS blocks are objects, and its map has been
# committed since map-before was taken.
uploaded ()
{
    [ "$(s3util count "blocks/$1/")" -ge "$NBLOCKS" ] || return 1
    map_segment "$1" "$TMPD/map-now"
    ! cmp -s "$TMPD/map-before" "$TMPD/map-now"
}

# uploaded_within SECONDS EXPORT: poll, bounded in count and time.
uploaded_within ()
{
    local limit=$1 tries=0 start=$SECONDS
    while (( SECONDS - start < limit && tries < 100 )); do
        uploaded "$2" && return 0
        tries=$((tries + 1))
        sleep 0.5
    done
    return 1
}

# 1. write-delay=1s: uploaded in the background, kept across a SIGKILL.
start_nbdkit -- "export=$EXPORT" size=8M write-delay=1s
map_segment "$EXPORT" "$TMPD/map-before"
connect_and_write "$EXPORT"
uploaded_within 20 "$EXPORT" ||
    fail "unflushed blocks did not reach S3 within 20 s with write-delay=1s"
# If the blocks went up in more than one round, the last round's commit
# follows its uploads within the same call: give it a moment.
sleep 1
kill_nbdkit                      # the client is still connected
kill "$client" 2>/dev/null; wait "$client" 2>/dev/null || true
echo "ok: unflushed writes reached S3 in the background; nbdkit killed"

start_nbdkit -- "export=$EXPORT" write-delay=1s take-over-lease=true
nbdsh -u "$(uri)" -c '
import os
for i in range(int(os.environ["NBLOCKS"])):
    want = ("block %02d " % i).encode() * 455 + bytes(1)
    assert h.pread(4096, i * 65536) == want, "block %d lost" % i
'
echo "ok: all $NBLOCKS blocks read back after SIGKILL and restart"
stop_nbdkit

# 2. write-delay=0: nothing is uploaded without a flush.
start_nbdkit -- "export=$EXPORT-nodelay" size=8M write-delay=0
map_segment "$EXPORT-nodelay" "$TMPD/map-before"
connect_and_write "$EXPORT-nodelay"
if uploaded_within 4 "$EXPORT-nodelay"; then
    fail "write-delay=0 uploaded unflushed blocks"
fi
[ "$(s3util count "blocks/$EXPORT-nodelay/")" = 0 ] ||
    fail "write-delay=0: some unflushed blocks reached S3 without a flush"
kill "$client" 2>/dev/null; wait "$client" 2>/dev/null || true
echo "ok: with write-delay=0 unflushed writes stay in memory"
stop_nbdkit
