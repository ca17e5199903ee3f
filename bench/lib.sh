# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# What the benchmark scripts share: a work directory on tmpfs, the
# local S3 servers, starting and stopping one nbdkit, and a bounded,
# timed command.  Sourced, after the script sets BOUND (seconds).
#
# s3rver keeps every object as files; on a disk its rate falls as the
# bucket fills, which would penalise whichever system runs later, so
# its data (and ours) goes to tmpfs when there is one.

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
export PATH="/usr/bin:/usr/sbin:/bin:/sbin:$PATH"   # Debian's python3 for nbdsh

tmpbase=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && tmpbase=/dev/shm
work=$(mktemp -d "$tmpbase/s3blocks-bench.XXXXXX")
plugin="$top/plugin/.libs/nbdkit-s3blocks-plugin.so"
admin="$top/admin/s3blocks"
out="$here/results"
mkdir -p "$out"
sock="$work/nbd.sock"
uri="nbd+unix:///?socket=$sock"
pids=()
rgw_dir=
rgw_runs=0
s3rver_pid=
nbdkit_pid=

bench_cleanup ()
{
    set +e
    # A W5 run cut short (killed at its bound) leaves its mounts and
    # loop device behind: the file systems, the loop device, nbdfuse.
    mountpoint -q "$work/fs" 2>/dev/null && umount -l "$work/fs"
    losetup -j "$work/nbdmnt/nbd" 2>/dev/null | cut -d: -f1 |
        while read -r d; do losetup -d "$d"; done
    mountpoint -q "$work/nbdmnt" 2>/dev/null && fusermount3 -uz "$work/nbdmnt"
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    # One started in a command substitution (repeat_timed) is not in
    # pids; its pid file says which.
    [ -s "$work/nbdkit.pid" ] && kill "$(cat "$work/nbdkit.pid")" 2>/dev/null
    wait 2>/dev/null
    [ -n "$rgw_dir" ] && "$top/tests/rgw.sh" stop "$rgw_dir" >/dev/null 2>&1
    rm -rf "$work"
}
trap bench_cleanup EXIT

log () { printf 'bench: %s\n' "$*" >&2; }

# bench_pin=1 (set by bench/log.sh --pin before it sources this): the
# S3 server on CPU 0, everything else (this shell and what it starts:
# nbdkit, nbdcopy, fio, s3ceiling) on CPU 1, so that the system under
# test and the server it is measured against do not take CPU from each
# other, as when the store runs on other machines.  The ceilings are
# measured the same way.  The kernel's own threads (loop devices,
# writeback) are not pinned.  Needs 2 CPUs and taskset.
bench_pin=${bench_pin:-0}
ncpu=$(nproc)
on_server_cpu=()
if [ "$bench_pin" = 1 ]; then
    command -v taskset >/dev/null ||
        { echo "bench: --pin needs taskset (util-linux)" >&2; exit 1; }
    [ "$ncpu" -ge 2 ] ||
        { echo "bench: --pin needs 2 CPUs, this machine has $ncpu" >&2; exit 1; }
    taskset -pc 1 $$ >/dev/null
    on_server_cpu=(taskset -c 0)
fi

now () { date +%s.%N; }

need ()
{
    local t
    for t in "$@"; do
        command -v "$t" >/dev/null ||
            { echo "bench: $t missing: ./quickstart bench installs it" >&2; exit 1; }
    done
}

# Sets endpoint, access, secret, bucket and writes $work/secret.
use_s3rver ()
{
    rm -rf "$work/s3data" "$work/s3.port"
    "${on_server_cpu[@]}" node "$top/tests/s3server.js" --dir "$work/s3data" \
        --port-file "$work/s3.port" >"$work/s3rver.log" 2>&1 &
    s3rver_pid=$!
    pids+=($!)
    for _ in $(seq 100); do [ -s "$work/s3.port" ] && break; sleep 0.1; done
    [ -s "$work/s3.port" ] || { echo "bench: s3rver did not start" >&2; exit 1; }
    endpoint="http://$(cat "$work/s3.port")" access=S3RVER secret=S3RVER bucket=bench
    printf '%s\n' "$secret" > "$work/secret"
}

use_rgw ()
{
    rgw_runs=$((rgw_runs + 1))
    rgw_dir="$work/rgw$rgw_runs"
    "${on_server_cpu[@]}" "$top/tests/rgw.sh" start "$rgw_dir" >/dev/null
    # shellcheck disable=SC1091
    . "$rgw_dir/env"
    endpoint=$S3_ENDPOINT access=$S3_ACCESS_KEY secret=$S3_SECRET_KEY bucket=bench
    printf '%s\n' "$secret" > "$work/secret"
}

# fresh_server: the server stopped, its data dropped, and an empty one
# of the same kind started in its place.  A layout measured after
# others would otherwise pay for them: s3rver (Node.js) ran a third
# slower after plain's and cas's million small requests (W1 of log:
# 118 against 183 MiB/s on a fresh one, the same day), and RGW's
# bucket index grows.
fresh_server ()
{
    if [ -n "$rgw_dir" ]; then
        "$top/tests/rgw.sh" stop "$rgw_dir" >/dev/null 2>&1
        rm -rf "$rgw_dir"
        use_rgw
    else
        kill "$s3rver_pid" 2>/dev/null
        wait "$s3rver_pid" 2>/dev/null || true
        use_s3rver
    fi
}

# The connection keys of the plugin and the admin command.
conn () { echo "endpoint=$endpoint" "bucket=$bucket" "access-key=$access" "secret-key=+$work/secret"; }

# start_nbdkit LOGNAME CMD...: run nbdkit -f on $sock; wait until it
# serves.
start_nbdkit ()
{
    local logname=$1
    shift
    rm -f "$sock" "$work/nbdkit.pid"
    "$@" >>"$work/nbdkit-$logname.log" 2>&1 &
    nbdkit_pid=$!
    pids+=("$nbdkit_pid")
    for _ in $(seq 300); do
        [ -S "$sock" ] && [ -s "$work/nbdkit.pid" ] && return 0
        kill -0 "$nbdkit_pid" 2>/dev/null ||
            { tail "$work/nbdkit-$logname.log" >&2; exit 1; }
        sleep 0.1
    done
    echo "bench: nbdkit ($logname) did not start" >&2
    exit 1
}

stop_nbdkit ()
{
    kill "$nbdkit_pid" 2>/dev/null || true
    for _ in $(seq 1200); do
        kill -0 "$nbdkit_pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$nbdkit_pid" 2>/dev/null || true
    wait "$nbdkit_pid" 2>/dev/null || true
    rm -f "$work/nbdkit.pid"
}

# timed CMD...: prints the seconds CMD took; a failure or a run past
# BOUND seconds ends the benchmark.
timed ()
{
    local t0
    t0=$(now)
    timeout --foreground -s KILL "$BOUND" "$@" >>"$work/cmd.log" 2>&1 ||
        { tail "$work/cmd.log" >&2; echo "bench: failed or timed out: $*" >&2; exit 1; }
    echo "$(now) - $t0" | bc -l
}

# median of the numbers on stdin (of an even count, the mean of the
# middle two)
median ()
{
    sort -n | awk '{ v[NR] = $1 }
        END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
