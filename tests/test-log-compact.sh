#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# Log compaction end to end (docs/log-layout.md, "Compaction"): a log
# export written once and then overwritten at random places three
# times its size, with flushes, by a server with compaction off; a
# second server with compaction on brings the bytes of the segments its
# map names within 1.5x the live bytes, writing no more than the client
# did, and every byte still matches a shadow file, also after a
# restart.  The numbers are the plugin's own (each walk of the map logs
# what it names, the exit statistics what compaction did) and s3blocks
# du's.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh
export TMPD
ADMIN=${ADMIN:-$top_builddir/admin/s3blocks}
admin () { "$ADMIN" "$@" $(s3_args) ${S3BLOCKS_TEST_KEYS:-}; }
# du_c FILE: export c's stored and live bytes, from s3blocks du.
du_c ()
{
    admin du --json c > "$1" || fail "du c: $(cat "$1")"
    python3 - "$1" <<'PY' || fail "du c: $(cat "$1")"
import json, sys
rows = {r["name"]: r for r in json.load(open(sys.argv[1]))["log"]}
c = rows["c"]
assert c["stored"] == c["live"] + c["dead"], c
assert c["missing_segments"] == 0, c
print(c["stored"], c["live"])
PY
}

start_s3

run_nbdkit_expect_failure 'log-compact-threshold=2: not a fraction' \
    $(s3_args) export=x layout=log size=1M log-compact-threshold=2
echo "ok: a bad log-compact-threshold= is refused, naming the key"

# --- the workload, compaction off ------------------------------------------
SIZE=$((16 << 20))
truncate -s $SIZE "$TMPD/img"
: > "$TMPD/nbdkit.log"
start_nbdkit -- export=c layout=log size=16M segment-size=1M \
    log-compact-rate=0 write-delay=0
nbdsh -u "$(uri c)" -c - <<PY
import os, random
rng = random.Random(7)
img = bytearray(os.urandom($SIZE))
for off in range(0, $SIZE, 1 << 20):
    h.pwrite(bytes(img[off:off + (1 << 20)]), off)
h.flush()
n = $SIZE // 4096
for i in range(3 * n):
    off = rng.randrange(n) * 4096
    d = os.urandom(4096)
    h.pwrite(d, off)
    img[off:off + 4096] = d
    if i % 256 == 255:
        h.flush()
h.flush()
open("$TMPD/img", "wb").write(img)
PY
stop_nbdkit
line=$(grep 'export c (log):' "$TMPD/nbdkit.log" | tail -1)
client=$(echo "$line" | sed -nE 's/.*segments \(([0-9]+) bytes\).*/\1/p')
[ -n "$client" ] || fail "no segment bytes in: $line"
grep -q 'compaction' "$TMPD/nbdkit.log" &&
    fail "log-compact-rate=0 still compacted: $(grep compaction "$TMPD/nbdkit.log")"
echo "ok: workload written, $client segment bytes, no compaction with rate 0"
read -r du_stored0 du_live0 < <(du_c "$TMPD/du0")

# --- compaction on ------------------------------------------------------------
: > "$TMPD/nbdkit.log"
start_nbdkit -- export=c segment-size=1M write-delay=200ms log-compact-rate=256M
# One step a round (100 ms); a walk of the map once no candidate is
# left and a root landed since the last.  Settled: two walks or more,
# and no new walk or commit for 3 s.
last= same=0
for (( i=0; i<600 && same<30; i++ )); do
    walks=$(grep -c 'compaction: the map names' "$TMPD/nbdkit.log" || true)
    now="$walks $(grep -c 'map update' "$TMPD/nbdkit.log" || true)"
    if [ "$now" = "$last" ] && [ "$walks" -ge 2 ]; then
        same=$((same + 1))
    else
        same=0 last=$now
    fi
    sleep 0.1
done
[ "$same" -ge 30 ] || fail "compaction did not settle within 60 s"
stop_nbdkit
walks=$(grep 'compaction: the map names' "$TMPD/nbdkit.log")
[ "$(echo "$walks" | wc -l)" -ge 2 ] || fail "fewer than two walks: $walks"
first=$(echo "$walks" | head -1)
final=$(echo "$walks" | tail -1)
data0=$(echo "$first" | sed -nE 's/.* ([0-9]+) data bytes.*/\1/p')
data1=$(echo "$final" | sed -nE 's/.* ([0-9]+) data bytes.*/\1/p')
live1=$(echo "$final" | sed -nE 's/.* ([0-9]+) of them live.*/\1/p')
[ -n "$data0" ] && [ -n "$data1" ] && [ -n "$live1" ] ||
    fail "unreadable walk lines: $walks"
[ "$live1" -ge $((SIZE - 4096 * 16)) ] ||
    fail "the map's live bytes $live1, want about $SIZE"
[ $((data1 * 2)) -le $((live1 * 3)) ] ||
    fail "after compaction the map names $data1 bytes for $live1 live (over 1.5x)"
[ "$data1" -lt "$data0" ] || fail "compaction did not shrink $data0 bytes ($data1)"
stats=$(grep 'export c (log compaction):' "$TMPD/nbdkit.log" | tail -1)
written=$(echo "$stats" | sed -nE 's/.*segments \(([0-9]+) bytes\) written.*/\1/p')
[ -n "$written" ] || fail "no compaction statistics: $stats"
[ "$written" -gt 0 ] && [ "$written" -le "$client" ] ||
    fail "compaction wrote $written bytes, the client $client"
echo "ok: the map names $data0 -> $data1 bytes for $live1 live; compaction wrote $written of the client's $client"
read -r du_stored1 du_live1 < <(du_c "$TMPD/du1")
[ "$du_live1" = "$du_live0" ] || fail "du: live bytes $du_live0 -> $du_live1"
[ $((du_stored1 * 2)) -le $((du_live1 * 3)) ] ||
    fail "du: $du_stored1 bytes stored for $du_live1 live after compaction"
[ "$du_stored1" -lt "$du_stored0" ] ||
    fail "du: stored bytes did not shrink ($du_stored0 -> $du_stored1)"
echo "ok: s3blocks du: stored $du_stored0 -> $du_stored1 bytes for $du_live1 live"

# --- every byte, after a restart ----------------------------------------------
start_nbdkit -- export=c log-compact-rate=0
nbdsh -u "$(uri c)" -c - <<PY
want = open("$TMPD/img", "rb").read()
got = b"".join(h.pread(1 << 20, off) for off in range(0, $SIZE, 1 << 20))
if got != want:
    bad = next(i for i in range(len(want)) if got[i] != want[i])
    raise AssertionError("after compaction the export differs at byte %d" % bad)
PY
stop_nbdkit
echo "ok: after compaction and a restart every byte matches"
