#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# Open time against stored blocks: how long a fresh nbdkit takes to
# answer `nbdinfo --size` for a 1 GiB export holding 0, 16,384 and
# BIG blocks, from its persisted allocation map, and (for comparison,
# the behaviour before the map) with rebuild-map=true, which lists the
# blocks as every open used to.  Ratios against the empty export, all
# measured side by side in one run.
#
#   bench/open-cost.sh [--quick]       (make bench runs it too)
#
# Starts its own s3rver on 127.0.0.1 (data on tmpfs when there is one).

set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
export PATH="/usr/bin:/usr/sbin:/bin:/sbin:$PATH"

BIG=65536; RUNS=5
[ "${1:-}" = --quick ] && { BIG=4096; RUNS=2; }

tmpbase=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && tmpbase=/dev/shm
work=$(mktemp -d "$tmpbase/s3blocks-open.XXXXXX")
plugin="$top/plugin/.libs/nbdkit-s3blocks-plugin.so"
out="$here/results"
mkdir -p "$out"
pids=()
cleanup ()
{
    set +e
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
log () { printf 'bench: %s\n' "$*" >&2; }

node "$top/tests/s3server.js" --dir "$work/s3data" \
    --port-file "$work/s3.port" >"$work/s3rver.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -s "$work/s3.port" ] && break; sleep 0.1; done
[ -s "$work/s3.port" ] || { echo "bench: s3rver did not start" >&2; exit 1; }
printf 'S3RVER\n' > "$work/secret"
sock="$work/nbd.sock"
args=("endpoint=http://$(cat "$work/s3.port")" bucket=bench access-key=S3RVER
      "secret-key=+$work/secret")

# fill NAME COUNT: a 1 GiB export with COUNT stored blocks.
fill ()
{
    nbdkit -U - "$plugin" "${args[@]}" "export=$1" size=1G --run "
        nbdsh -u \"\$uri\" -c '
import os
for i in range($2):
    h.aio_pwrite(nbd.Buffer.from_bytearray(os.urandom(4096)), i * 4096)
    while h.aio_in_flight() >= 64:
        h.poll(-1)
while h.aio_in_flight() > 0:
    h.poll(-1)
h.flush()
'" >>"$work/fill.log" 2>&1
}

# open_secs NAME [keys]: median seconds from starting nbdkit to the
# answer of nbdinfo --size, over RUNS fresh servers.
open_secs ()
{
    local name=$1 times=()
    shift
    for _ in $(seq "$RUNS"); do
        local t0 t1
        t0=$(date +%s.%N)
        nbdkit -U - "$plugin" "${args[@]}" "export=$name" "$@" \
            --run 'nbdinfo --size "$uri" >/dev/null' >>"$work/open.log" 2>&1
        t1=$(date +%s.%N)
        times+=("$(echo "$t1 - $t0" | bc -l)")
    done
    printf '%s\n' "${times[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"
}

log "filling exports with 0, 16384 and $BIG blocks"
nbdkit -U - "$plugin" "${args[@]}" export=b0 size=1G --run 'nbdinfo --size "$uri"' >/dev/null
fill b16k 16384
fill bbig "$BIG"

results="$out/open-cost.tsv"
: > "$results"
for b in 0 16384 "$BIG"; do
    name=b0; [ "$b" = 16384 ] && name=b16k; [ "$b" = "$BIG" ] && name=bbig
    log "opening the export with $b blocks"
    m=$(open_secs "$name")
    l=$(open_secs "$name" rebuild-map=true)
    printf '%s\t%s\t%s\n' "$b" "$m" "$l" >> "$results"
done

base=$(awk 'NR == 1 { print $2 }' "$results")
{
    echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores, s3rver on 127.0.0.1, 1 GiB export, median of $RUNS fresh servers (start to \`nbdinfo --size\`)."
    echo
    echo "| blocks stored | open from the map | ratio to empty | listing every open (rebuild-map=true, the old way) | ratio to empty |"
    echo "| --- | --- | --- | --- | --- |"
    while IFS=$'\t' read -r b m l; do
        printf '| %s | %.3f s | %.2f | %.3f s | %.2f |\n' "$b" "$m" \
            "$(echo "$m / $base" | bc -l)" "$l" "$(echo "$l / $base" | bc -l)"
    done < "$results"
} | tee "$out/open-cost.md"
