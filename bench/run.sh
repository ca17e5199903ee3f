#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# The s3blocks benchmark: s3blocks against nbdkit's own S3 plugin
# (Python, boto3) and against the raw server, side by side in one run.
#
#   bench/run.sh [--quick]      (or ./quickstart bench)
#
# Starts a local s3rver on 127.0.0.1, or uses S3BLOCKS_BENCH_ENDPOINT
# (with S3BLOCKS_BENCH_ACCESS_KEY, _SECRET_KEY, _BUCKET).  nbdkit is
# restarted before every workload, so no cache carries over.  Every
# workload is bounded in time; one that hits its bound is reported as
# such, with the work it did.  Prints a markdown table and writes it,
# the raw figures and a chart to bench/results/.
#
# --quick shrinks the data (for checking the script, not for figures).

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
export PATH="/usr/bin:/usr/sbin:/bin:/sbin:$PATH"   # Debian's python3 for nbdsh/boto3

quick=0
[ "${1:-}" = --quick ] && quick=1

W1_MB=64; W4_MB=1024; W5_MB=256; W6_MB=512; W3_IOS=20000
SMALL_FILES=3000; CEILING_SECS=4; BOUND=150
if [ $quick = 1 ]; then
    W1_MB=8; W4_MB=64; W5_MB=64; W6_MB=64; W3_IOS=1000
    SMALL_FILES=200; CEILING_SECS=1; BOUND=30
fi
# s3blocks' memory settings for W6 (the target is max-dirty + cache + 64M).
MAX_DIRTY=256M; CACHE_SIZE=64M

out="$here/results"
mkdir -p "$out"
# s3rver keeps every object as files; on a disk its rate falls as the
# bucket fills (about 660 PUT/s at 131k objects here, against 1,900 on
# tmpfs), which would penalise whichever system runs later.  Its data
# (and ours) goes to tmpfs when there is one.
tmpbase=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && tmpbase=/dev/shm
work=$(mktemp -d "${S3BLOCKS_BENCH_TMPDIR:-$tmpbase}/s3blocks-bench.XXXXXX")
plugin="$top/plugin/.libs/nbdkit-s3blocks-plugin.so"
ceiling="$here/s3ceiling"
for t in nbdkit nbdcopy nbdfuse fuse2fs fusermount3 mkfs.ext4 fio gnuplot bc curl \
         node; do
    command -v "$t" >/dev/null ||
        { echo "bench: $t missing: ./quickstart bench installs it" >&2; exit 1; }
done
[ -x "$ceiling" ] && [ -f "$plugin" ] ||
    { echo "bench: build first (make)" >&2; exit 1; }
[ -e "$(nbdkit --dump-config | sed -n 's/^plugindir=//p')/nbdkit-S3-plugin" ] ||
    { echo "bench: apt-get install nbdkit-plugin-python python3-boto3" >&2; exit 1; }

pids=()
cleanup ()
{
    set +e
    fusermount3 -u "$work/fs" 2>/dev/null
    fusermount3 -u "$work/nbdmnt" 2>/dev/null
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

log () { printf 'bench: %s\n' "$*" >&2; }
now () { date +%s.%N; }
elapsed () { echo "$(now) - $1" | bc -l; }

# --- the S3 server ---------------------------------------------------
if [ -n "${S3BLOCKS_BENCH_ENDPOINT:-}" ]; then
    endpoint=$S3BLOCKS_BENCH_ENDPOINT
    access=${S3BLOCKS_BENCH_ACCESS_KEY:-minioadmin}
    secret=${S3BLOCKS_BENCH_SECRET_KEY:-minioadmin}
    bucket=${S3BLOCKS_BENCH_BUCKET:-s3blocks-bench}
    server="$endpoint"
else
    node "$top/tests/s3server.js" --dir "$work/s3data" \
        --port-file "$work/s3.port" >"$work/s3rver.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 100); do [ -s "$work/s3.port" ] && break; sleep 0.1; done
    endpoint="http://$(cat "$work/s3.port")"
    access=S3RVER; secret=S3RVER; bucket=bench
    server="s3rver $(node -p 'require("s3rver/package.json").version' \
                     2>/dev/null || echo '?') on 127.0.0.1"
fi
printf '%s\n' "$secret" > "$work/secret"
export S3_ACCESS_KEY=$access S3_SECRET_KEY=$secret
export AWS_ACCESS_KEY_ID=$access AWS_SECRET_ACCESS_KEY=$secret
export AWS_DEFAULT_REGION=us-east-1
run_id="r$$"

# --- servers under test ----------------------------------------------
sock="$work/nbd.sock"
uri="nbd+unix:///?socket=$sock"
nbdkit_pid=

# Settings of start(), changed for one call as "var=value start ...":
# nbdkit's worker threads per connection (default 16) bound the
# requests one client can have in flight, and W3 raises them for both
# systems to match fio's queue depth; s3blocks' cache-size.
threads=16
cache_size=$CACHE_SIZE

# start SYSTEM NAME SIZE_MB [extra keys...]
start ()
{
    local system=$1 name=$2 mb=$3 cmd
    shift 3
    rm -f "$sock" "$work/nbdkit.pid"
    case "$system" in
        s3blocks)
            cmd=(nbdkit -f -t $threads -U "$sock" -P "$work/nbdkit.pid" "$plugin"
                 "endpoint=$endpoint" "bucket=$bucket" "access-key=$access"
                 "secret-key=+$work/secret" "export=$run_id-$name"
                 "size=${mb}M" "max-dirty=$MAX_DIRTY" "cache-size=$cache_size"
                 take-over-lease=true "$@") ;;
        S3)
            # The blocksize filter lets it serve unaligned requests
            # (mkfs, fuse2fs) by read-modify-write, as s3blocks does.
            cmd=(nbdkit -f -t $threads -U "$sock" -P "$work/nbdkit.pid"
                 --filter=blocksize S3 minblock=4096
                 "endpoint-url=$endpoint" "bucket=$bucket"
                 "key=$run_id-peer-$name" "size=${mb}M" object-size=4096) ;;
        memory)
            cmd=(nbdkit -f -U "$sock" -P "$work/nbdkit.pid" memory "${mb}M") ;;
    esac
    "${cmd[@]}" >>"$work/nbdkit-$system.log" 2>&1 &
    nbdkit_pid=$!
    pids+=("$nbdkit_pid")
    for _ in $(seq 300); do
        [ -S "$sock" ] && [ -s "$work/nbdkit.pid" ] && return 0
        kill -0 "$nbdkit_pid" 2>/dev/null ||
            { tail "$work/nbdkit-$system.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "bench: nbdkit ($system) did not start" >&2
    exit 1
}

# CPU seconds nbdkit has used so far.
cpu_of_nbdkit ()
{
    awk '{ print ($14 + $15) / '"$(getconf CLK_TCK)"' }' "/proc/$nbdkit_pid/stat"
}

peak_rss_mb ()
{
    awk '/VmHWM/ { printf "%.0f", $2 / 1024 }' "/proc/$nbdkit_pid/status"
}

stop ()
{
    kill "$nbdkit_pid" 2>/dev/null || true
    for _ in $(seq 1200); do
        kill -0 "$nbdkit_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$nbdkit_pid" 2>/dev/null || true
    wait "$nbdkit_pid" 2>/dev/null || true
}

# bounded SECONDS CMD...: run, killing it after SECONDS; sets $took
# and $timed_out.
bounded ()
{
    local secs=$1 t0
    shift
    t0=$(now)
    timed_out=0
    timeout --foreground -s KILL "$secs" "$@" >>"$work/cmd.log" 2>&1 ||
        { [ $? = 137 ] && timed_out=1 || { tail "$work/cmd.log" >&2; return 1; }; }
    took=$(elapsed "$t0")
}

results="$out/results.tsv"
: > "$results"
record () { printf '%s\t%s\t%s\t%s\n' "$@" >> "$results"; }

# --- the raw server ceiling ------------------------------------------
log "raw ceiling: 4 KiB PUT and GET at concurrency 1, 8, 32 (${CEILING_SECS}s each)"
curl -s -X PUT "$endpoint/$bucket" -o /dev/null || true
"$ceiling" "$endpoint" "$bucket" "$run_id-ceiling" fill 32 1 >/dev/null
for c in 1 8 32; do
    for op in put get; do
        read -r _ _ rate cpu < <("$ceiling" "$endpoint" "$bucket" \
                                 "$run_id-ceiling" $op $c "$CEILING_SECS")
        record ceiling "$op-c$c" "$rate" "$cpu"
        log "  $op c=$c: $rate req/s"
    done
done

# --- workloads -------------------------------------------------------
head -c $((W1_MB << 20)) /dev/urandom > "$work/w1.raw"

w1 () # sequential write with nbdcopy, flushed
{
    local system=$1 cpu0
    start "$system" w12 "$W1_MB"
    cpu0=$(cpu_of_nbdkit)
    bounded $BOUND nbdcopy --flush "$work/w1.raw" "$uri"
    record "$system" W1 "$(echo "$W1_MB / $took" | bc -l)" \
        "$(echo "($(cpu_of_nbdkit) - $cpu0) / ($W1_MB * 256)" | bc -l)"
    [ $timed_out = 1 ] && record "$system" W1-timeout "$BOUND" 0
    stop
}

w2 () # sequential read back, verified
{
    local system=$1 cpu0
    start "$system" w12 "$W1_MB"
    cpu0=$(cpu_of_nbdkit)
    rm -f "$work/w2.raw"
    bounded $BOUND nbdcopy "$uri" "$work/w2.raw"
    record "$system" W2 "$(echo "$W1_MB / $took" | bc -l)" \
        "$(echo "($(cpu_of_nbdkit) - $cpu0) / ($W1_MB * 256)" | bc -l)"
    if [ $timed_out = 0 ] && ! cmp -s "$work/w1.raw" "$work/w2.raw"; then
        echo "bench: W2 read back different data from $system" >&2
        exit 1
    fi
    stop
}

w3 () # random 4 KiB reads over the written data, fio's nbd engine
{
    local system=$1 what=W3 cache=$CACHE_SIZE
    [ "${2:-}" = nocache ] && { what=W3-nocache; cache=0; }
    threads=32 cache_size=$cache start "$system" w12 "$W1_MB"
    bounded $BOUND fio --name=w3 --ioengine=nbd --uri="$uri" --rw=randread \
        --bs=4k --iodepth=32 --size="${W1_MB}M" --number_ios=$W3_IOS \
        --randrepeat=1 --output-format=json --output="$work/w3.json"
    record "$system" $what "$(/usr/bin/python3 -c '
import json, sys
print(json.load(open(sys.argv[1]))["jobs"][0]["read"]["iops"])' "$work/w3.json")" 0
    stop
}

w4 () # read a never-written export end to end
{
    local system=$1 mb=$W4_MB bound=$BOUND
    start "$system" w4 "$mb"
    # nbdkit's S3 plugin pays a GET per 4 KiB: time-bound it and count
    # what it read.
    if [ "$system" = S3 ]; then
        bounded 30 nbdcopy --request-size=4096 "$uri" "$work/w4.part"
        local got=$(( $(stat -c %s "$work/w4.part" 2>/dev/null || echo 0) ))
        rm -f "$work/w4.part"
        record "$system" W4 "$(echo "$got / 1048576 / $took" | bc -l)" 0
    else
        bounded $bound nbdcopy "$uri" null:
        record "$system" W4 "$(echo "$mb / $took" | bc -l)" 0
    fi
    stop
}

w5 () # ext4: mkfs, mount, a tree of small files and some large, sync, umount, fsck
{
    local system=$1 t0 status=0
    start "$system" w5 "$W5_MB"
    t0=$(now)
    timed_out=0
    timeout -s KILL $BOUND "$here/ext4-tree.sh" "$work" "$uri" "$SMALL_FILES" \
        >>"$work/cmd.log" 2>&1 || status=$?
    took=$(elapsed "$t0")
    if [ $status = 137 ]; then
        timed_out=1
        fusermount3 -u "$work/fs" 2>/dev/null || true
        sleep 1
        fusermount3 -u "$work/nbdmnt" 2>/dev/null || true
    elif [ $status != 0 ]; then
        tail "$work/cmd.log" >&2
        exit 1
    fi
    record "$system" W5 "$took" "$timed_out"
    stop
}

w6 () # peak RSS writing W6_MB without flush
{
    local system=$1
    start "$system" w6 "$W6_MB"
    head -c $((W6_MB << 20)) /dev/urandom > "$work/w6.raw"
    # The peer's memory is flat from the start: a minute shows it.
    bounded $([ "$system" = S3 ] && echo 60 || echo $BOUND) \
        nbdcopy "$work/w6.raw" "$uri"
    rm -f "$work/w6.raw"
    record "$system" W6 "$(peak_rss_mb)" "$timed_out"
    # The figure is taken: flushing the rest of this throwaway data
    # would only add minutes.
    kill -9 "$nbdkit_pid"
    stop
}

t_start=$(now)
for system in s3blocks S3; do
    for w in w1 w2 w3 w4 w5 w6; do
        log "$system: $w ($(printf %.0f "$(elapsed "$t_start")") s into the run)"
        $w "$system"
    done
done
log "s3blocks: w3 with cache-size=0"
w3 s3blocks nocache
log "memory plugin: w4"
w4 memory

# --- throughput against concurrency (the chart) ----------------------
log "s3blocks W1/W2 at max-requests 1, 8, 32 (16 MiB each)"
W1_MB_SAVED=$W1_MB
W1_MB=16
head -c $((W1_MB << 20)) "$work/w1.raw" > "$work/w1s.raw"
mv "$work/w1s.raw" "$work/w1.raw"
for c in 1 8 32; do
    start s3blocks "sweep$c" $W1_MB max-requests=$c
    bounded $BOUND nbdcopy --flush "$work/w1.raw" "$uri"
    record sweep "put-c$c" "$(echo "$W1_MB * 256 / $took" | bc -l)" 0
    stop
    start s3blocks "sweep$c" $W1_MB max-requests=$c
    bounded $BOUND nbdcopy "$uri" null:
    record sweep "get-c$c" "$(echo "$W1_MB * 256 / $took" | bc -l)" 0
    stop
done
W1_MB=$W1_MB_SAVED

# --- report ----------------------------------------------------------
/usr/bin/python3 "$here/report.py" "$results" "$out" \
    "$(date -u +%Y-%m-%d)" "$(nproc) cores, $(uname -m), $server" \
    "$W1_MB" "$W4_MB" "$W5_MB" "$W6_MB" "$SMALL_FILES" "$MAX_DIRTY" \
    "$CACHE_SIZE" "$BOUND"
