#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# The two stores side by side, on s3rver and on Ceph RGW: s3blocks
# with signature=v2 (libs3), s3blocks with signature=v4 (libcurl) and
# nbdkit's S3 plugin (boto3, Signature V4), the same workloads against
# the same server in one run:
#   W1  write MB MiB of random data (nbdcopy --flush)
#   W2  read it back (nbdcopy, compared)
#   W3  random 4 KiB reads (fio, iodepth 32, a fixed count)
#
#   bench/stores.sh [--quick]      (make bench-stores)
#
# Prints a markdown table of rates and ratios to the libs3 store, and
# writes it to bench/results/stores.md.

set -euo pipefail
MB=32; IOS=8000; BOUND=150
[ "${1:-}" = --quick ] && { MB=4; IOS=500; BOUND=60; }
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need nbdkit nbdcopy fio bc node ceph-mon radosgw
[ -e "$(nbdkit --dump-config | sed -n 's/^plugindir=//p')/nbdkit-S3-plugin" ] ||
    { echo "bench: apt-get install nbdkit-plugin-python python3-boto3" >&2; exit 1; }

head -c $((MB << 20)) /dev/urandom > "$work/data"

# start SYSTEM NAME
start ()
{
    local system=$1 name=$2
    case "$system" in
        v2|v4)
            start_nbdkit "$system" nbdkit -f -t 32 -U "$sock" -P "$work/nbdkit.pid" \
                "$plugin" $(conn) "export=$name-$system" \
                "size=${MB}M" "signature=$system" write-delay=0 ;;
        S3)
            start_nbdkit "$system" nbdkit -f -t 32 -U "$sock" -P "$work/nbdkit.pid" \
                --filter=blocksize S3 minblock=4096 \
                "endpoint-url=$endpoint" "bucket=$bucket" \
                "key=$name-peer" "size=${MB}M" object-size=4096 ;;
    esac
}
stop () { stop_nbdkit; }

results="$work/results.tsv"
: > "$results"

run_server ()
{
    local server=$1 name="r$$-$1" system took
    export AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret
    export AWS_DEFAULT_REGION=us-east-1
    for system in v2 v4 S3; do
        log "$server: $system"
        start "$system" "$name"
        took=$(timed nbdcopy --flush "$work/data" "$uri")
        printf '%s\t%s\tW1\t%s\n' "$server" "$system" "$(echo "$MB * 256 / $took" | bc -l)" >> "$results"
        stop
        start "$system" "$name"
        took=$(timed nbdcopy "$uri" "$work/back")
        cmp -s "$work/data" "$work/back" ||
            { echo "bench: $system on $server read back other data" >&2; exit 1; }
        printf '%s\t%s\tW2\t%s\n' "$server" "$system" "$(echo "$MB * 256 / $took" | bc -l)" >> "$results"
        stop
        start "$system" "$name"
        took=$(timed fio --name=w3 --ioengine=nbd --uri="$uri" --rw=randread \
                   --bs=4k --iodepth=32 --size="${MB}M" --number_ios=$IOS \
                   --time_based=0 --norandommap)
        printf '%s\t%s\tW3\t%s\n' "$server" "$system" "$(echo "$IOS / $took" | bc -l)" >> "$results"
        stop
    done
}

use_s3rver
run_server s3rver

# Ceph RGW
use_rgw
run_server rgw

{
    echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores, 127.0.0.1, ${MB} MiB; blocks (W1, W2) or IOs (W3) per second; ratios to the libs3 store (v2) on the same server."
    echo
    echo "| server | workload | v2 (libs3) | v4 (libcurl) | v4 / v2 | nbdkit S3 plugin | plugin / v2 |"
    echo "| --- | --- | --- | --- | --- | --- | --- |"
    for server in s3rver rgw; do
        for w in W1 W2 W3; do
            v2=$(awk -F'\t' -v s=$server -v w=$w '$1==s && $2=="v2" && $3==w {print $4}' "$results")
            v4=$(awk -F'\t' -v s=$server -v w=$w '$1==s && $2=="v4" && $3==w {print $4}' "$results")
            p=$(awk -F'\t' -v s=$server -v w=$w '$1==s && $2=="S3" && $3==w {print $4}' "$results")
            printf '| %s | %s | %.0f | %.0f | %.2f | %.0f | %.2f |\n' "$server" "$w" \
                "$v2" "$v4" "$(echo "$v4 / $v2" | bc -l)" "$p" "$(echo "$p / $v2" | bc -l)"
        done
    done
} | tee "$out/stores.md"
