#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# Opening an export costs a fixed number of requests, whatever it
# stores: the allocation map is read (root + one segment per 4 GiB),
# the blocks are never listed.  An export without a map (blocks put
# there by another tool) is listed once, and gets a map.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh nbdinfo
export EXPORT TMPD

start_s3 --requests
full="$EXPORT-full" empty="$EXPORT-empty" legacy="$EXPORT-legacy"

# 4096 stored blocks in one export, none in another.
start_nbdkit -- "export=$full" size=1G
nbdsh -u "$(uri "$full")" -c - <<'PY'
BS = 4096
for i in range(4096):
    h.pwrite(bytes([i % 250 + 1]) * BS, i * 2 * BS)
h.flush()
PY
nbdinfo --size "$(uri "$empty")" >/dev/null
stop_nbdkit
[ "$(s3util count "blocks/$full/")" = 4096 ] || fail "expected 4096 blocks"

# Requests made while opening NAME, from a fresh server.
open_requests ()
{
    : > "$TMPD/requests"
    start_nbdkit -- "export=$1"
    nbdinfo --size "$(uri "$1")" >/dev/null
    stop_nbdkit
    grep -F "/$1" "$TMPD/requests" | grep -v '^DELETE /[^ ]*/leases/' || true
}

open_requests "$full" > "$TMPD/full.req"
open_requests "$empty" > "$TMPD/empty.req"
cat "$TMPD/full.req" >&2
if grep -q 'prefix=blocks' "$TMPD/full.req"; then
    fail "opening an export with a map listed its blocks"
fi
n_full=$(grep -c . "$TMPD/full.req")
n_empty=$(grep -c . "$TMPD/empty.req")
[ "$n_full" = "$n_empty" ] ||
    fail "open cost grows with the blocks stored: $n_full requests with 4096 blocks, $n_empty with none"
[ "$(grep -c "^GET /[^ ]*/maps/$full" "$TMPD/full.req")" = 2 ] ||
    fail "expected the map root and one segment to be read"
echo "ok: opening costs $n_full requests with 4096 blocks and with none, no LIST"

# An export written by another tool: blocks and metadata, no map.
printf 's3blocks-export 1\nsize 1048576\nblock-size 4096\n' > "$TMPD/meta"
head -c 4096 /dev/urandom > "$TMPD/block"
s3util put "exports/$legacy" "$TMPD/meta"
for off in 0000000000000000 0000000000003000 00000000000ff000; do
    s3util put "blocks/$legacy/$off" "$TMPD/block"
done
open_requests "$legacy" > "$TMPD/legacy1.req"
grep -q 'prefix=blocks' "$TMPD/legacy1.req" ||
    fail "an export without a map was not listed"
open_requests "$legacy" > "$TMPD/legacy2.req"
if grep -q 'prefix=blocks' "$TMPD/legacy2.req"; then
    fail "the map written at the first open was not used"
fi
start_nbdkit -- "export=$legacy"
nbdsh -u "$(uri "$legacy")" -c - <<PY
blk = open("$TMPD/block", "rb").read()
assert h.pread(4096, 0x3000) == blk
assert h.pread(4096, 0xff000) == blk
assert h.pread(4096, 0x1000) == bytes(4096)
PY
stop_nbdkit
echo "ok: an export without a map is listed once and then opens from its map"
