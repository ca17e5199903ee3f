#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# The content-addressed and log layouts against the plain one, side by
# side in one run against one local server (s3rver, or Ceph RGW with
# --rgw); W1-W3 run for all three, the rest for plain and cas:
#   W1  write MB MiB of random data (nbdcopy --flush)
#   W2  read it back on a fresh server (nbdcopy, compared)
#   W3  random 4 KiB reads (fio, iodepth 32, a fixed count)
#   clones   one IMG MiB image, ten copies of it written and read: ten
#            plain exports each written with the image, against ten
#            `s3blocks clone`s of one cas export; each copy then gets
#            1 MiB of its own data and is read whole; stored bytes
#            from `s3blocks du`
#   flat     `s3blocks snapshot` and `s3blocks clone` of a small and a
#            16x larger export (median of RUNS): the ratio should be 1
#   open     a fresh server's open of a 1 TiB cas export holding
#            BLOCKS blocks spread over it, against an empty one
#
#   bench/cas.sh [--quick] [--rgw] [--only-rw]      (make bench-cas)
#
# --only-rw runs W1-W3 alone (to repeat the comparison quickly).
#
# Prints markdown tables and writes them to bench/results/cas.md
# (cas-rgw.md with --rgw).

set -euo pipefail
MB=64; IOS=8000; IMG=64; SMALL=16; RUNS=5; BLOCKS=16384; BOUND=300
quick=0 server=s3rver only_rw=0
for a in "$@"; do
    case "$a" in
        --quick) quick=1 ;;
        --rgw) server=rgw ;;
        --only-rw) only_rw=1 ;;
        *) echo "usage: bench/cas.sh [--quick] [--rgw] [--only-rw]" >&2; exit 2 ;;
    esac
done
[ $quick = 1 ] && { MB=8; IOS=500; IMG=8; SMALL=4; RUNS=2; BLOCKS=1024; BOUND=120; }
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need nbdkit nbdcopy nbdsh nbdinfo fio bc node python3
[ -x "$admin" ] || { echo "bench: build first (make)" >&2; exit 1; }
if [ $server = rgw ]; then need ceph-mon radosgw; use_rgw; else use_s3rver; fi

run="r$$"
# shellcheck source=bench/layouts.sh
. "$(dirname "$0")/layouts.sh"

# --- W1, W2, W3 ------------------------------------------------------
rw_workloads
if [ $only_rw = 1 ]; then
    report_rw
    exit 0
fi

# --- ten copies of one image -----------------------------------------
head -c $((IMG << 20)) /dev/urandom > "$work/img"
own_write () # N: 1 MiB of data of copy N's own at offset N MiB
{
    nbdsh -u "$uri" -c "
import os
h.pwrite(bytes([$1 + 1]) * (1 << 20), ($1 % $IMG) << 20)
h.flush()"
}
stored_bytes () # the bucket's block data: plain blocks, cas content and pages
{
    s3admin --json du | python3 -c '
import json, sys
b = json.load(sys.stdin)["bucket"]
print(b["plain_block_bytes"] + b["cas_data_bytes"] + b["cas_page_bytes"])'
}

copies ()
{
    local layout=$1 t0 i name
    t0=$(now)
    if [ "$layout" = plain ]; then
        for i in $(seq 0 9); do
            name="$run-c-plain-$i"
            serve plain "$name" "${IMG}M"
            timed nbdcopy --flush "$work/img" "$uri" >/dev/null
            own_write "$i"
            stop_nbdkit
        done
    else
        serve cas "$run-c-gold" "${IMG}M"
        timed nbdcopy --flush "$work/img" "$uri" >/dev/null
        stop_nbdkit
        for i in $(seq 0 9); do
            name="$run-c-cas-$i"
            timed "$admin" clone "$run-c-gold" "$name" $(conn) >/dev/null
            serve cas "$name" "${IMG}M"
            own_write "$i"
            stop_nbdkit
        done
    fi
    record "$layout" copies-write "$(echo "$(now) - $t0" | bc -l)"
    t0=$(now)
    for i in $(seq 0 9); do
        serve "$layout" "$run-c-$layout-$i" "${IMG}M"
        timed nbdcopy "$uri" "$work/back" >/dev/null
        stop_nbdkit
    done
    record "$layout" copies-read "$(echo "$(now) - $t0" | bc -l)"
}

log "plain: ten copies of a $IMG MiB image"
before=$(stored_bytes)
copies plain
record plain copies-bytes "$(( $(stored_bytes) - before ))"
log "cas: one image, ten clones"
before=$(stored_bytes)
copies cas
record cas copies-bytes "$(( $(stored_bytes) - before ))"

# --- snapshot and clone time against size ----------------------------
fill () # NAME MB
{
    head -c $(($2 << 20)) /dev/urandom > "$work/fill"
    serve cas "$1" "${2}M"
    timed nbdcopy --flush "$work/fill" "$uri" >/dev/null
    stop_nbdkit
}
log "snapshot and clone of a $SMALL MiB and a $((SMALL * 16)) MiB export"
fill "$run-small" "$SMALL"
fill "$run-large" $((SMALL * 16))
for size in small large; do
    for verb in snapshot clone; do
        for r in $(seq "$RUNS"); do
            case $verb in
                snapshot) timed "$admin" snapshot "$run-$size" "s$r" $(conn) ;;
                clone) timed "$admin" clone "$run-$size" "$run-$size-k$r" $(conn) ;;
            esac
        done | median > "$work/m"
        record "$size" "$verb" "$(cat "$work/m")"
    done
done

# --- open of a big export --------------------------------------------
log "open of a 1 TiB cas export: empty, and with $BLOCKS blocks spread over it"
serve cas "$run-big0" 1T
stop_nbdkit
serve cas "$run-big" 1T
nbdsh -u "$uri" -c "
import os
step = (1 << 40) // $BLOCKS // 4096 * 4096
for i in range($BLOCKS):
    h.aio_pwrite(nbd.Buffer.from_bytearray(os.urandom(4096)), i * step)
    while h.aio_in_flight() >= 64:
        h.poll(-1)
while h.aio_in_flight() > 0:
    h.poll(-1)
h.flush()"
stop_nbdkit
open_secs () # NAME: median seconds from start to a read of the last block
{
    for _ in $(seq "$RUNS"); do
        timed nbdkit -U - "$plugin" $(conn) "export=$1" \
            --run 'nbdsh -u "$uri" -c "h.pread(4096, h.get_size() - 4096)"'
    done | median
}
record open empty "$(open_secs "$run-big0")"
record open full "$(open_secs "$run-big")"

# --- report -----------------------------------------------------------
{
    report_rw
    p=$(value plain copies-bytes) c=$(value cas copies-bytes)
    printf '| ten copies of %d MiB, stored MiB | %.1f | %.1f | %.3f |\n' "$IMG" \
        "$(echo "$p / 1048576" | bc -l)" "$(echo "$c / 1048576" | bc -l)" "$(ratio "$c" "$p")"
    for k in copies-write copies-read; do
        p=$(value plain $k) c=$(value cas $k)
        printf '| ten copies: %s, s | %.2f | %.2f | %.2f |\n' "${k#copies-}" "$p" "$c" "$(ratio "$c" "$p")"
    done
    echo
    echo "| operation | $SMALL MiB export | $((SMALL * 16)) MiB export | ratio |"
    echo "| --- | --- | --- | --- |"
    for verb in snapshot clone; do
        s=$(value small $verb) l=$(value large $verb)
        printf '| s3blocks %s (median of %d) | %.3f s | %.3f s | %.2f |\n' "$verb" "$RUNS" "$s" "$l" "$(ratio "$l" "$s")"
    done
    e=$(value open empty) f=$(value open full)
    echo
    echo "| open of a 1 TiB cas export, start to first read | empty | $BLOCKS blocks | ratio |"
    echo "| --- | --- | --- | --- |"
    printf '| median of %d fresh servers | %.3f s | %.3f s | %.2f |\n' "$RUNS" "$e" "$f" "$(ratio "$f" "$e")"
} | tee "$out/cas$([ $server = rgw ] && echo -rgw).md"
