#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# The log layout against plain and cas and against the server's own
# ceilings, side by side in one run against one local server (s3rver,
# or Ceph RGW with --rgw): the measurements of docs/log-layout.md.
#   ceilings  bench/s3ceiling: 4 KiB objects (32 in flight) and
#             segment-size objects (SEG_INFLIGHT in flight), PUT and GET,
#             and 4 KiB ranged GETs inside segment-size objects (32 in
#             flight): what W3 costs the server in each layout
#   W1-W3     bench/layouts.sh, MB MiB, plain, cas and log
#   W5        ext4 (bench/ext4-tree.sh: mkfs, 3,000 small files and
#             three 16 MiB files, sync, umount, fsck) on plain and log,
#             and on nbdkit's memory plugin: the floor, what the client
#             side (nbdfuse, fuse2fs, the shell) costs with no store;
#             then the same with the kernel's ext4 on a loop device
#             over nbdfuse (ext4-tree.sh --kernel), where this machine
#             allows it, else reported as not measured
#
#   W6        with --w6, after the others: space after three full
#             overwrites and compaction (bench/space.sh, on a server
#             of its own; make bench-space runs it alone)
#
#   bench/log.sh [--quick] [--rgw] [--w6] [--pin]      (make bench-log)
#
# --pin runs the server on one CPU and the rest on the other (lib.sh,
# bench_pin): on this 2-core machine the server and nbdkit otherwise
# take CPU from each other, and a layout that costs nbdkit more CPU per
# request is charged twice.  W6 (--w6) is not pinned: it measures
# bytes.
#
# Prints a markdown table with each target and whether this run met it,
# and writes it to bench/results/log.md (log-rgw.md with --rgw; W6's to
# log-w6.md and log-rgw-w6.md; -pinned before .md with --pin).

set -euo pipefail

MB=256; IOS=8000; SMALL=3000; W5_MB=256; CEIL_SECS=4; BOUND=600
SEGMENT=8388608; SEG_INFLIGHT=8
quick=0 server=s3rver w6=0 bench_pin=0 args=()
for a in "$@"; do
    case "$a" in
        --quick) quick=1; args+=("$a") ;;
        --rgw) server=rgw; args+=("$a") ;;
        --w6) w6=1 ;;
        --pin) bench_pin=1 ;;
        *) echo "usage: bench/log.sh [--quick] [--rgw] [--w6] [--pin]" >&2; exit 2 ;;
    esac
done
[ $quick = 1 ] && { MB=16; IOS=500; SMALL=300; W5_MB=64; CEIL_SECS=1; BOUND=120; }
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need nbdkit nbdcopy nbdsh fio bc node nbdfuse fuse2fs fusermount3 mkfs.ext4 e2fsck
ceiling="$here/s3ceiling"
[ -x "$admin" ] && [ -x "$ceiling" ] || { echo "bench: build first (make)" >&2; exit 1; }
if [ $server = rgw ]; then need ceph-mon radosgw; use_rgw; else use_s3rver; fi

run="l$$"
# shellcheck source=bench/layouts.sh
. "$(dirname "$0")/layouts.sh"

# --- ceilings: the server with a bare libs3 client -------------------
serve plain "$run-init" 1M      # the plugin creates the bucket
stop_nbdkit
# ceil OP CONCURRENCY SIZE KEYS: requests per second
ceil ()
{
    S3_ACCESS_KEY=$access S3_SECRET_KEY=$secret \
        "$ceiling" "$endpoint" "$bucket" "ceiling-$3" "$1" "$2" "$CEIL_SECS" "$3" "$4" |
        awk '{ print $3 }'
}
log "ceilings: 4 KiB and $((SEGMENT >> 20)) MiB objects"
ceil fill 32 4096 4096 >/dev/null
record ceil small-put "$(ceil put 32 4096 4096)"
record ceil small-get "$(ceil get 32 4096 4096)"
ceil fill $SEG_INFLIGHT $SEGMENT 32 >/dev/null
record ceil big-put "$(echo "$(ceil put $SEG_INFLIGHT $SEGMENT 32) * $SEGMENT / 1048576" | bc -l)"
record ceil big-get "$(echo "$(ceil get $SEG_INFLIGHT $SEGMENT 32) * $SEGMENT / 1048576" | bc -l)"
# What a random read in the log layout costs the server: 4 KiB ranged
# GETs at random places in segment-size objects, 32 in flight.
record ceil range-get "$(ceil range 32 $SEGMENT 32)"

# --- W1, W2, W3 -------------------------------------------------------
rw_workloads

# --- W5: ext4 ----------------------------------------------------------
kernel_ext4=0
"$here/ext4-tree.sh" --probe-kernel "$work" && kernel_ext4=1
[ $kernel_ext4 = 1 ] ||
    log "W5 with the kernel's ext4: not measured (needs root, loop devices and ext4)"
# w5_run fuse2fs|kernel N: one W5 run with that file system on a fresh
# nbdkit (and, for a layout, a fresh export) of $layout; prints its
# seconds.
w5_run ()
{
    local fs=$1 t0
    if [ $layout = memory ]; then
        start_nbdkit memory nbdkit -f -t 32 -U "$sock" -P "$work/nbdkit.pid" \
            memory "${W5_MB}M"
    else
        serve "$layout" "$run-fs-$layout-$fs-$2" "${W5_MB}M"
    fi
    t0=$(now)
    # Not --foreground: a run killed at the bound takes its children
    # (nbdfuse, fuse2fs, mkfs, e2fsck) with it; bench_cleanup unmounts.
    # shellcheck disable=SC2046
    timeout -s KILL "$BOUND" "$here/ext4-tree.sh" $([ "$fs" = kernel ] && echo --kernel) \
        "$work" "$uri" "$SMALL" >>"$work/cmd.log" 2>&1 ||
        { tail "$work/cmd.log" >&2; echo "bench: W5 ($fs) on $layout failed" >&2; exit 1; }
    echo "$(now) - $t0" | bc -l
    stop_nbdkit
}
w5_fuse2fs () { w5_run fuse2fs "$1"; }
w5_kernel () { w5_run kernel "$1"; }

for layout in memory plain log; do
    [ $layout = memory ] || fresh_server
    log "$layout: W5 ext4, $SMALL small files"
    t=$(repeat_timed w5_fuse2fs) || exit 1
    record "$layout" W5 "$t"
    if [ $kernel_ext4 = 1 ]; then
        log "$layout: W5 with the kernel's ext4"
        t=$(repeat_timed w5_kernel) || exit 1
        record "$layout" W5K "$t"
    fi
done

# --- report -----------------------------------------------------------
mib () { echo "$1 / 256" | bc -l; }     # blocks/s to MiB/s
met () { if [ "$(echo "$1" | bc -l)" = 1 ]; then echo yes; else echo NO; fi; }
{
    report_rw
    echo
    echo "| ceiling (bare libs3 client) | PUT | GET |"
    echo "| --- | --- | --- |"
    printf '| 4 KiB objects, 32 in flight | %.0f req/s = %.1f MiB/s | %.0f req/s = %.1f MiB/s |\n' \
        "$(value ceil small-put)" "$(echo "$(value ceil small-put) / 256" | bc -l)" \
        "$(value ceil small-get)" "$(echo "$(value ceil small-get) / 256" | bc -l)"
    printf '| 4 KiB ranges of %d MiB objects, 32 in flight | | %.0f req/s |\n' \
        $((SEGMENT >> 20)) "$(value ceil range-get)"
    printf '| %d MiB objects, %d in flight | %.0f MiB/s | %.0f MiB/s |\n' \
        $((SEGMENT >> 20)) $SEG_INFLIGHT "$(value ceil big-put)" "$(value ceil big-get)"
    echo
    l1=$(mib "$(value log W1)") p1=$(mib "$(value plain W1)")
    l2=$(mib "$(value log W2)") p2=$(mib "$(value plain W2)")
    bp=$(value ceil big-put) bg=$(value ceil big-get)
    l3=$(value log W3) p3=$(value plain W3)
    l5=$(value log W5) p5=$(value plain W5) f5=$(value memory W5)
    lr=$(value log REQ)
    echo "| target (docs/log-layout.md) | measured | met |"
    echo "| --- | --- | --- |"
    printf '| W1 log >= 0.6 of the large-object PUT ceiling | %.1f / %.1f MiB/s = %.2f | %s |\n' \
        "$l1" "$bp" "$(ratio "$l1" "$bp")" "$(met "$l1 >= 0.6 * $bp")"
    printf '| W1 log >= 8x plain | %.1f / %.1f MiB/s = %.1fx | %s |\n' \
        "$l1" "$p1" "$(ratio "$l1" "$p1")" "$(met "$l1 >= 8 * $p1")"
    printf '| W2 log >= 0.6 of the large-object GET ceiling | %.1f / %.1f MiB/s = %.2f | %s |\n' \
        "$l2" "$bg" "$(ratio "$l2" "$bg")" "$(met "$l2 >= 0.6 * $bg")"
    printf '| W2 log >= 8x plain | %.1f / %.1f MiB/s = %.1fx | %s |\n' \
        "$l2" "$p2" "$(ratio "$l2" "$p2")" "$(met "$l2 >= 8 * $p2")"
    printf '| W3 log >= 0.9x plain (random 4 KiB reads) | %.0f / %.0f IOs/s = %.2f | %s |\n' \
        "$l3" "$p3" "$(ratio "$l3" "$p3")" "$(met "$l3 >= 0.9 * $p3")"
    printf '| W3 against each layout'"'"'s own GET ceiling: plain / 4 KiB GETs, log / 4 KiB ranged GETs | %.2f, %.2f (the server'"'"'s ranged / whole: %.2f) | |\n' \
        "$(ratio "$p3" "$(value ceil small-get)")" "$(ratio "$l3" "$(value ceil range-get)")" \
        "$(ratio "$(value ceil range-get)" "$(value ceil small-get)")"
    printf '| W5 ext4: log >= 3x faster than plain | %.1f s / %.1f s = %.1fx | %s |\n' \
        "$p5" "$l5" "$(ratio "$p5" "$l5")" "$(met "$p5 >= 3 * $l5")"
    if [ $kernel_ext4 = 1 ]; then
        l5k=$(value log W5K) p5k=$(value plain W5K) f5k=$(value memory W5K)
        printf '| W5 with the kernel'"'"'s ext4: log >= 3x faster than plain | %.1f s / %.1f s = %.1fx | %s |\n' \
            "$p5k" "$l5k" "$(ratio "$p5k" "$l5k")" "$(met "$p5k >= 3 * $l5k")"
    else
        echo "| W5 with the kernel's ext4: log >= 3x faster than plain | not measured: no loop devices here | |"
    fi
    printf '| requests per GiB written sequentially <= 300 | %.0f | %s |\n' \
        "$lr" "$(met "$lr <= 300")"
    echo
    printf 'W5 on nbdkit memory (no store: the client side alone) took %.1f s:\n' "$f5"
    printf 'above it, plain %.1f s and log %.1f s.\n' \
        "$(echo "$p5 - $f5" | bc -l)" "$(echo "$l5 - $f5" | bc -l)"
    if [ $kernel_ext4 = 1 ]; then
        printf 'With the kernel'"'"'s ext4 the memory plugin took %.1f s: above it, plain %.1f s and log %.1f s.\n' \
            "$f5k" "$(echo "$p5k - $f5k" | bc -l)" "$(echo "$l5k - $f5k" | bc -l)"
    fi
    echo
    echo "W1 is nbdcopy --flush of $MB MiB of random data; W2 reads it back on a fresh"
    echo "nbdkit; W3 is fio randread, 4 KiB, iodepth 32, $IOS reads; segment-size 8M."
    [ "$bench_pin" = 1 ] &&
        echo "Pinned: the S3 server on CPU 0; nbdkit, the clients and s3ceiling on CPU 1 (the kernel's threads not)."
} | tee "$out/log$([ $server = rgw ] && echo -rgw)$([ "$bench_pin" = 1 ] && echo -pinned).md"

# --- W6: space (bench/space.sh, its own servers) -----------------------
if [ $w6 = 1 ]; then
    bench_cleanup
    trap - EXIT
    "$here/space.sh" "${args[@]}"
fi
