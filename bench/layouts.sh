# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# W1-W3 over the layouts, shared by bench/cas.sh and bench/log.sh:
# sourced after bench/lib.sh and use_s3rver/use_rgw, with MB (the size
# written), IOS (W3's reads) and run (a prefix for export names) set.
#   W1  write MB MiB of random data (nbdcopy --flush)
#   W2  read it back on a fresh server (nbdcopy, compared)
#   W3  random 4 KiB reads (fio, iodepth 32, IOS of them)
# each the median of up to three runs when one is short (repeat_timed)
# and the requests W1's server sent (the store's own count, printed at
# its exit), per GiB.

results="$work/results.tsv"

: > "$results"
record () { printf '%s\t%s\t%s\n' "$@" >> "$results"; }
value () { awk -F'\t' -v a="$1" -v b="$2" '$1 == a && $2 == b { print $3 }' "$results"; }
ratio () { echo "$1 / $2" | bc -l; }

# serve LAYOUT EXPORT SIZE [keys]: one server, write-back off so that
# only the workload's flushes commit.
serve ()
{
    local layout=$1 name=$2 size=$3
    shift 3
    start_nbdkit "$layout" nbdkit -f ${NBDKIT_VERBOSE:+-v} -t 32 -U "$sock" \
        -P "$work/nbdkit.pid" "$plugin" $(conn) "export=$name" "size=$size" "layout=$layout" \
        write-delay=0 "$@"
}

s3admin () { "$admin" "$@" $(conn); }

# A workload shorter than REPEAT_SECS runs up to three times (a fresh
# nbdkit each time) and the median counts: a run of a second or two is
# at the mercy of whatever else the 2 cores did in it, one of a minute
# is not.
REPEAT_SECS=${REPEAT_SECS:-20}

# repeat_timed FN: runs FN (a function taking the run's number, that
# prints its seconds) as above; prints the median.  Each runs in a
# command substitution, where set -e does not reach: a failure is
# passed up explicitly, and ends the benchmark.
repeat_timed ()
{
    local fn=$1 i took total=0 times=()
    for i in 1 2 3; do
        took=$("$fn" "$i") || exit 1
        times+=("$took")
        total=$(echo "$total + $took" | bc -l)
        [ "$(echo "$total >= $REPEAT_SECS" | bc -l)" = 1 ] && break
    done
    printf '%s\n' "${times[@]}" | median
}

# One run of W1 (export $name-N, so that each writes afresh), W2 (of
# $name-1) and W3, each on a fresh nbdkit of $layout.
w1_run ()
{
    local took reqs
    NBDKIT_VERBOSE=1 serve "$layout" "$name-$1" "${MB}M"
    took=$(timed nbdcopy --flush "$work/data" "$uri") || exit 1
    stop_nbdkit
    if [ "$1" = 1 ]; then
        # The store's own count of this server's requests (its exit line).
        reqs=$(sed -n 's/.*store: requests \([0-9]*\) .*/\1/p' \
                   "$work/nbdkit-$layout.log" | tail -1)
        record "$layout" REQ "$(echo "$reqs * 1024 / $MB" | bc -l)"
    fi
    echo "$took"
}
w2_run ()
{
    local took
    serve "$layout" "$name-1" "${MB}M"
    took=$(timed nbdcopy "$uri" "$work/back") || exit 1
    stop_nbdkit
    cmp -s "$work/data" "$work/back" ||
        { echo "bench: $layout read back other data" >&2; exit 1; }
    echo "$took"
}
w3_run ()
{
    local took
    serve "$layout" "$name-1" "${MB}M"
    took=$(timed fio --name=w3 --ioengine=nbd --uri="$uri" --rw=randread \
               --bs=4k --iodepth=32 --size="${MB}M" --number_ios=$IOS \
               --time_based=0 --norandommap) || exit 1
    stop_nbdkit
    echo "$took"
}

rw_workloads ()
{
    local layout name t
    head -c $((MB << 20)) /dev/urandom > "$work/data"
    for layout in plain cas log; do
        # Each layout on a fresh S3 server (lib.sh, fresh_server).
        fresh_server
        name="$run-w-$layout"
        log "$layout: W1 write $MB MiB"
        t=$(repeat_timed w1_run) || exit 1
        record "$layout" W1 "$(echo "$MB * 256 / $t" | bc -l)"
        log "$layout: W2 read it back"
        t=$(repeat_timed w2_run) || exit 1
        record "$layout" W2 "$(echo "$MB * 256 / $t" | bc -l)"
        log "$layout: W3 random reads"
        t=$(repeat_timed w3_run) || exit 1
        record "$layout" W3 "$(echo "$IOS / $t" | bc -l)"
    done
}

report_rw ()
{
    echo "Measured $(date -u +%Y-%m-%d) on $ncpu cores, $server on 127.0.0.1, side by side in one run."
    echo
    echo "| workload | plain | cas | log | cas / plain | log / plain |"
    echo "| --- | --- | --- | --- | --- | --- |"
    for w in W1 W2 W3; do
        p=$(value plain $w) c=$(value cas $w) l=$(value log $w)
        printf '| %s (%s/s) | %.0f | %.0f | %.0f | %.2f | %.2f |\n' "$w" \
            "$([ $w = W3 ] && echo IOs || echo blocks)" "$p" "$c" "$l" \
            "$(ratio "$c" "$p")" "$(ratio "$l" "$p")"
    done
    p=$(value plain REQ) c=$(value cas REQ) l=$(value log REQ)
    printf '| requests per GiB in W1 (store count, open and exit included) | %.0f | %.0f | %.0f | %.2f | %.4f |\n' \
        "$p" "$c" "$l" "$(ratio "$c" "$p")" "$(ratio "$l" "$p")"
}
