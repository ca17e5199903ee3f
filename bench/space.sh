#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# W6 of issue 16, the log layout's space: a W6_MB MiB log export
# (default 256) written in full three times, with flushes, then
# compacted to completion, against one local server (s3rver, or
# Ceph RGW with --rgw).  The target: stored bytes at most 1.5x the
# logical bytes, and compaction writing at most 1x what the client's
# server wrote.
#   case A  three sequential passes
#   case B  three passes, each in random order
#   case C  one sequential pass, then three times the export's size
#           written at random places (each write's offset drawn
#           uniformly: some blocks written several times, some not
#           again), as docs/log-layout.md's first measurement
# Each pass cuts the export into extents of 4 KiB to 256 KiB (random
# sizes, whole 4 KiB blocks) and writes each once with random data, so
# every pass covers every byte once; the first pass fills the empty
# export, the next two overwrite it.  A flush follows every W6_FLUSH_MB
# MiB written (default 8) and each pass: with flushes between passes
# only, a pass is packed in block order whatever the order of its
# writes, and its segments are all dead after the next pass, so the
# random case would measure nothing the sequential one does not.
# Even so, the last full pass leaves every earlier copy dead: A and B
# leave whole dead segments, which gc deletes with no compaction at
# all.  Case C is the one that leaves segments partly live, and so the
# one that measures compaction.  Each case has its own bucket, so
# that the LIST of log/segs/ counts its segments alone.
#
# Figures, per case:
#   logical   the export's size (after a full pass every block is
#             allocated: s3blocks du's "logical" says the same)
#   stored    bytes under log/segs/, from the store's LIST (s3blocks du's
#             log_bucket), after the writes, after compaction, and
#             after "s3blocks gc grace=0" (compaction leaves the old
#             segments to gc); and the bytes of the segments the map
#             names (du's "stored") at each point
#   written   the server's own exit statistics: the writing server's
#             segment bytes (headers and indexes included) against the
#             compacting server's "segments (N bytes) written"
#
#   bench/space.sh [--quick] [--rgw]    (make bench-space;
#                                        bench/log.sh --w6)
#
# Writes bench/results/log-w6.md (log-rgw-w6.md with --rgw).

set -euo pipefail

W6_PASSES=${W6_PASSES:-3}; W6_RATE=${W6_RATE:-256M}
W6_FLUSH_MB=${W6_FLUSH_MB:-8}
SEGMENT=8M; BOUND=1800
quick=0 server=s3rver
for a in "$@"; do
    case "$a" in
        --quick) quick=1 ;;
        --rgw) server=rgw ;;
        *) echo "usage: bench/space.sh [--quick] [--rgw]" >&2; exit 2 ;;
    esac
done
[ $quick = 1 ] && BOUND=300
W6_MB=${W6_MB:-$([ $quick = 1 ] && echo 32 || echo 256)}
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need nbdkit nbdsh python3 bc node
[ -x "$admin" ] || { echo "bench: build first (make)" >&2; exit 1; }
if [ $server = rgw ]; then need ceph-mon radosgw; use_rgw; else use_s3rver; fi

results="$work/results.tsv"
: > "$results"
record () { printf '%s\t%s\t%s\n' "$@" >> "$results"; }
value () { awk -F'\t' -v a="$1" -v b="$2" '$1 == a && $2 == b { print $3 }' "$results"; }
name=w6
size=$((W6_MB << 20))

# plugin LOGNAME KEYS...: one server of export $name in $bucket.
plugin ()
{
    local logname=$1
    shift
    start_nbdkit "$logname" nbdkit -f -v -t 32 -U "$sock" -P "$work/nbdkit.pid" \
        "$plugin" $(conn) "export=$name" segment-size=$SEGMENT "$@"
}

# du_record CASE WHEN: du's figures for the export and the bucket.
du_record ()
{
    "$admin" --json du "$name" $(conn) > "$work/du.json" ||
        { cat "$work/du.json" >&2; echo "bench: du failed" >&2; exit 1; }
    python3 - "$work/du.json" <<'PY' | while read -r k v; do record "$1" "$k-$2" "$v"; done
import json, sys
d = json.load(open(sys.argv[1]))
e = [r for r in d["log"] if r["kind"] == "export"][0]
assert e["missing_segments"] == 0, e
print("logical", e["logical"])
print("named", e["stored"])
print("live", e["live"])
print("listed", d["log_bucket"]["segment_bytes"])
print("objects", d["log_bucket"]["segment_objects"])
PY
}

# passes ORDER: W6_PASSES full passes in ORDER (sequential or random),
# or with ORDER uniform one sequential pass and then W6_PASSES times the
# export's size at random places; a flush after each pass and after
# every W6_FLUSH_MB MiB written (0: only after each pass).
passes ()
{
    timeout --foreground -s KILL "$BOUND" nbdsh -u "$uri" -c - >>"$work/cmd.log" 2>&1 <<PY ||
import os, random
rng = random.Random(6)
size, blk, every = $size, 4096, $W6_FLUSH_MB << 20
since = 0
def write(off, n):
    global since
    h.pwrite(os.urandom(n), off)
    since += n
    if every and since >= every:
        h.flush()
        since = 0
passes = $W6_PASSES
if "$1" == "uniform":
    passes = 1
for p in range(passes):
    extents, off = [], 0
    while off < size:
        n = min(rng.randint(1, 64) * blk, size - off)
        extents.append((off, n))
        off += n
    if "$1" == "random":
        rng.shuffle(extents)
    for off, n in extents:
        write(off, n)
    h.flush()
if "$1" == "uniform":
    total = 0
    while total < $W6_PASSES * size:
        off = rng.randrange(size // blk) * blk
        n = min(rng.randint(1, 64) * blk, size - off)
        write(off, n)
        total += n
    h.flush()
PY
        { tail "$work/cmd.log" >&2; echo "bench: the $1 passes failed" >&2; exit 1; }
}

# settle LOG: wait until compaction is done: a walk of the map or more,
# and no new walk or commit for 10 s.  (tests/test-log-compact.sh wants
# two walks, but when the first finds no candidate, as after sequential
# passes, no root lands and there is no second.)
settle ()
{
    local last= same=0 walks cur i
    for (( i=0; i<BOUND*10 && same<100; i++ )); do
        walks=$(grep -c 'compaction: the map names' "$1" || true)
        cur="$walks $(grep -c 'map update' "$1" || true)"
        if [ "$cur" = "$last" ] && [ "$walks" -ge 1 ]; then
            same=$((same + 1))
        else
            same=0 last=$cur
        fi
        sleep 0.1
    done
    [ "$same" -ge 100 ] || { echo "bench: compaction did not settle in $BOUND s" >&2; exit 1; }
}

for c in A B C; do
    order=$(case $c in A) echo sequential ;; B) echo random ;; C) echo uniform ;; esac)
    bucket="w6$(echo $c | tr ABC abc)-$$"
    log "case $c: $order, $W6_MB MiB"
    plugin "$c-write" layout=log "size=$size" write-delay=0 log-compact-rate=0
    t0=$(now)
    passes $order
    record $c write-s "$(echo "$(now) - $t0" | bc -l)"
    stop_nbdkit
    line=$(grep "export $name (log):" "$work/nbdkit-$c-write.log" | tail -1)
    client=$(echo "$line" | sed -nE 's/.*segments \(([0-9]+) bytes\).*/\1/p')
    [ -n "$client" ] || { echo "bench: no segment bytes in: $line" >&2; exit 1; }
    record $c client "$client"
    du_record $c before

    log "case $c: compaction (log-compact-rate=$W6_RATE)"
    plugin "$c-compact" write-delay=200ms "log-compact-rate=$W6_RATE"
    t0=$(now)
    settle "$work/nbdkit-$c-compact.log"
    record $c compact-s "$(echo "$(now) - $t0 - 10" | bc -l)"
    stop_nbdkit
    stats=$(grep "export $name (log compaction):" "$work/nbdkit-$c-compact.log" | tail -1 || true)
    written=$(echo "$stats" | sed -nE 's/.*segments \(([0-9]+) bytes\) written.*/\1/p')
    record $c compacted "${written:-0}"
    du_record $c after

    log "case $c: gc grace=0"
    "$admin" gc grace=0 $(conn) >>"$work/cmd.log" 2>&1 ||
        { tail "$work/cmd.log" >&2; echo "bench: gc failed" >&2; exit 1; }
    du_record $c gc
done

# --- report -----------------------------------------------------------
mb () { echo "$1 / 1000000" | bc -l; }
met () { if [ "$(echo "$1" | bc -l)" = 1 ]; then echo yes; else echo NO; fi; }
{
    echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores, $server on 127.0.0.1, one server."
    echo "A $W6_MB MiB log export (segment-size $SEGMENT), $W6_PASSES full passes of"
    echo "4 KiB to 256 KiB writes, a flush every $W6_FLUSH_MB MiB and after each pass; then compaction"
    echo "(log-compact-rate=$W6_RATE) until it settles, then s3blocks gc grace=0."
    echo "Logical: the export's size (every block allocated; du agrees)."
    echo "Stored: bytes under log/segs/ (the store's LIST); in brackets the"
    echo "bytes of the segments the map names. MB = 10^6 bytes."
    echo
    echo "| case | logical | stored after writes | after compaction | after gc | client wrote | compaction wrote |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
    for c in A B C; do
        lg=$(value $c logical-before)
        printf '| %s %s | %.1f MB |' $c "$(case $c in A) echo sequential passes ;;
            B) echo random-order passes ;; C) echo fill, then random places ;; esac)" "$(mb "$lg")"
        for w in before after gc; do
            printf ' %.1f MB (%.1f) = %.2fx |' "$(mb "$(value $c listed-$w)")" \
                "$(mb "$(value $c named-$w)")" "$(echo "$(value $c listed-$w) / $lg" | bc -l)"
        done
        printf ' %.1f MB | %.1f MB = %.2fx |\n' "$(mb "$(value $c client)")" \
            "$(mb "$(value $c compacted)")" \
            "$(echo "$(value $c compacted) / $(value $c client)" | bc -l)"
    done
    echo
    echo "| target (issue 16, W6) | case | measured | met |"
    echo "| --- | --- | --- | --- |"
    for c in A B C; do
        lg=$(value $c logical-before) n=$(value $c named-after) s=$(value $c listed-gc)
        printf '| stored <= 1.5x logical, after compaction and gc | %s | %.2fx | %s |\n' \
            $c "$(echo "$s / $lg" | bc -l)" "$(met "$s <= 1.5 * $lg")"
        printf '| map-named bytes <= 1.5x logical, after compaction | %s | %.2fx | %s |\n' \
            $c "$(echo "$n / $lg" | bc -l)" "$(met "$n <= 1.5 * $lg")"
        printf '| compaction wrote <= 1x the client | %s | %.2fx | %s |\n' \
            $c "$(echo "$(value $c compacted) / $(value $c client)" | bc -l)" \
            "$(met "$(value $c compacted) <= $(value $c client)")"
    done
    echo
    for c in A B C; do
        printf 'Case %s: writes %.0f s, compaction %.0f s; segments %s, %s, %s.\n' $c \
            "$(value $c write-s)" "$(value $c compact-s)" "$(value $c objects-before)" \
            "$(value $c objects-after)" "$(value $c objects-gc)"
    done
} | tee "$out/log$([ $server = rgw ] && echo -rgw)-w6.md"
