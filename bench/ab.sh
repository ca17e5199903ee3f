#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# Two builds of the plugin side by side: did a change make it slower?
# Both run the same workloads against one S3 server (s3rver, or Ceph
# RGW with --rgw) in one run, taking
# turns (A, B, A, B ...) so that drift in the machine falls on both:
#   W1  write MB MiB of random data (nbdcopy --flush)
#   W2  read it back on a fresh server (nbdcopy, compared)
#   W3  random 4 KiB reads (fio, iodepth 32, a fixed count)
# for each layout, ROUNDS times; the median of each.
#
#   bench/ab.sh PLUGIN_A PLUGIN_B [--quick] [--layouts "plain cas log"]
#               [--mb MB] [--rounds N] [--pin] [--rgw]
#
# The defaults (plain and cas, 32 MiB, 3 rounds) measure the per-block
# paths; the log layout moves 32 MiB in a fraction of a second, so
# compare it with more (--layouts log --mb 256 --rounds 5).  --pin
# runs the server on CPU 0 and the rest on CPU 1, as bench/log.sh --pin.
#
# PLUGIN_x is a built nbdkit-s3blocks-plugin.so (for an older commit:
# git worktree add /tmp/a COMMIT; build there).  Prints a markdown
# table of rates and the ratio B / A, and writes it to
# bench/results/ab.md.

set -euo pipefail
[ $# -ge 2 ] || { sed -n '4,25p' "$0" | sed 's/^# \{0,1\}//'; exit 2; }
plugin_a=$(realpath "$1") plugin_b=$(realpath "$2")
shift 2
MB=32; IOS=4000; ROUNDS=3; BOUND=150; LAYOUTS="plain cas"; bench_pin=0
server=s3rver
while [ $# -gt 0 ]; do
    case $1 in
        --quick) MB=4; IOS=300; ROUNDS=1; BOUND=60 ;;
        --layouts) LAYOUTS=$2; shift ;;
        --mb) MB=$2; shift ;;
        --rounds) ROUNDS=$2; shift ;;
        --pin) bench_pin=1 ;;
        --rgw) server=rgw ;;
        *) echo "bench: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need nbdkit nbdcopy fio bc node
for p in "$plugin_a" "$plugin_b"; do
    [ -f "$p" ] || { echo "bench: $p: no such plugin" >&2; exit 2; }
done

head -c $((MB << 20)) /dev/urandom > "$work/data"
results="$work/results.tsv"
: > "$results"

# serve BUILD LAYOUT NAME: start nbdkit with that build on export NAME.
serve ()
{
    local so=$plugin_a
    [ "$1" = B ] && so=$plugin_b
    start_nbdkit "$1" nbdkit -f -t 32 -U "$sock" -P "$work/nbdkit.pid" \
        "$so" $(conn) "export=$3" "size=${MB}M" "layout=$2" write-delay=0
}

if [ $server = rgw ]; then need ceph-mon radosgw; use_rgw; else use_s3rver; fi
for round in $(seq "$ROUNDS"); do
    for layout in $LAYOUTS; do
        for build in A B; do
            name="ab$$-$round-$layout-$build"
            log "round $round: $layout, build $build"
            serve "$build" "$layout" "$name"
            took=$(timed nbdcopy --flush "$work/data" "$uri")
            printf '%s\t%s\tW1\t%s\n' "$build" "$layout" \
                "$(echo "$MB * 256 / $took" | bc -l)" >> "$results"
            stop_nbdkit
            serve "$build" "$layout" "$name"
            took=$(timed nbdcopy "$uri" "$work/back")
            cmp -s "$work/data" "$work/back" ||
                { echo "bench: build $build ($layout) read back other data" >&2; exit 1; }
            printf '%s\t%s\tW2\t%s\n' "$build" "$layout" \
                "$(echo "$MB * 256 / $took" | bc -l)" >> "$results"
            took=$(timed fio --name=w3 --ioengine=nbd --uri="$uri" --rw=randread \
                       --bs=4k --iodepth=32 --size="${MB}M" --number_ios=$IOS \
                       --time_based=0 --norandommap)
            printf '%s\t%s\tW3\t%s\n' "$build" "$layout" \
                "$(echo "$IOS / $took" | bc -l)" >> "$results"
            stop_nbdkit
        done
    done
done

med () { awk -F'\t' -v b="$1" -v l="$2" -v w="$3" \
             '$1==b && $2==l && $3==w {print $4}' "$results" | median; }
{
    echo "Measured $(date -u +%Y-%m-%d) on $ncpu cores$([ "$bench_pin" = 1 ] && echo " (pinned: the server on CPU 0, the rest on CPU 1)"), $server on 127.0.0.1, ${MB} MiB, median of $ROUNDS rounds taken in turns; blocks (W1, W2) or IOs (W3) per second."
    echo "A: $plugin_a"
    echo "B: $plugin_b"
    echo
    echo "| layout | workload | A | B | B / A |"
    echo "| --- | --- | --- | --- | --- |"
    for layout in $LAYOUTS; do
        for w in W1 W2 W3; do
            a=$(med A $layout $w) b=$(med B $layout $w)
            printf '| %s | %s | %.0f | %.0f | %.2f |\n' "$layout" "$w" "$a" "$b" \
                "$(echo "$b / $a" | bc -l)"
        done
    done
} | tee "$out/ab.md"
