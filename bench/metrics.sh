#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# What scraping costs the clients: the same workloads with metrics=
# scraped 20 times a second (Prometheus scrapes every 15 s or so), and
# not scraped, taking turns against one s3rver:
#   W1  write MB MiB of random data (nbdcopy --flush)
#   W2  read it back on a fresh server (nbdcopy, compared)
# ROUNDS times each; the median of each, and the ratio.
#
#   bench/metrics.sh [--quick]
#
# Prints a markdown table and writes it to bench/results/metrics.md.

set -euo pipefail
MB=32; ROUNDS=5; BOUND=150
[ "${1:-}" = --quick ] && { MB=8; ROUNDS=3; BOUND=60; }
# shellcheck source=bench/lib.sh
. "$(dirname "$0")/lib.sh"
need nbdkit nbdcopy bc node python3

head -c $((MB << 20)) /dev/urandom > "$work/data"
results="$work/results.tsv"
: > "$results"
port=$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])')

serve ()
{
    start_nbdkit "$1" nbdkit -f -t 32 -U "$sock" -P "$work/nbdkit.pid" \
        "$plugin" $(conn) "export=$2" "size=${MB}M" write-delay=0 \
        "metrics=127.0.0.1:$port"
}

# start_scraping: until killed, a scrape every 50 ms from one process
# (not a curl each, whose start would cost more than the scrape);
# each one that succeeds is counted in $work/scrapes.
scraper=
start_scraping ()
{
    : > "$work/scrapes"
    python3 -c 'import sys, time, urllib.request
url, count = sys.argv[1], sys.argv[2]
while True:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            r.read()
        with open(count, "a") as f:
            f.write("\n")
    except OSError:
        pass
    time.sleep(0.05)' "http://127.0.0.1:$port/metrics" "$work/scrapes" &
    scraper=$!
    pids+=("$scraper")
}
stop_scraping ()
{
    [ -n "$scraper" ] || return 0
    kill "$scraper" 2>/dev/null || true
    wait "$scraper" 2>/dev/null || true
    scraper=
}

use_s3rver
scrapes=0
for round in $(seq "$ROUNDS"); do
    for mode in off on; do
        name="metrics$$-$round-$mode"
        log "round $round: scraping $mode"
        serve "$mode" "$name"
        [ "$mode" = on ] && start_scraping
        took=$(timed nbdcopy --flush "$work/data" "$uri")
        stop_scraping
        printf '%s\tW1\t%s\n' "$mode" "$(echo "$MB * 256 / $took" | bc -l)" \
            >> "$results"
        stop_nbdkit
        serve "$mode" "$name"
        [ "$mode" = on ] && start_scraping
        took=$(timed nbdcopy "$uri" "$work/back")
        stop_scraping
        cmp -s "$work/data" "$work/back" ||
            { echo "bench: scraping $mode: read back other data" >&2; exit 1; }
        printf '%s\tW2\t%s\n' "$mode" "$(echo "$MB * 256 / $took" | bc -l)" \
            >> "$results"
        stop_nbdkit
        [ "$mode" = on ] && scrapes=$((scrapes + $(wc -l < "$work/scrapes")))
    done
done
[ "$scrapes" -gt 0 ] || { echo "bench: no scrape succeeded" >&2; exit 1; }

med () { awk -F'\t' -v m="$1" -v w="$2" '$1==m && $2==w {print $3}' \
             "$results" | median; }
{
    echo "Measured $(date -u +%Y-%m-%d) on $(nproc) cores, s3rver on 127.0.0.1, ${MB} MiB, median of $ROUNDS rounds taken in turns; blocks per second; $scrapes scrapes in the scraped runs."
    echo
    echo "| workload | not scraped | scraped 20/s | scraped / not |"
    echo "| --- | --- | --- | --- |"
    for w in W1 W2; do
        a=$(med off $w) b=$(med on $w)
        printf '| %s | %.0f | %.0f | %.2f |\n' "$w" "$a" "$b" \
            "$(echo "$b / $a" | bc -l)"
    done
} | tee "$out/metrics.md"
