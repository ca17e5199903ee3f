#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# Metrics while the plugin serves: metrics=ADDRESS:PORT answers
# GET /metrics with valid Prometheus text (promtool check metrics), and
# metrics-file=PATH holds the same; the request, byte, dirty and flush
# figures move as a write, a scrape, a flush and a read say they must;
# scraping in a loop during writes leaves the data intact; a client
# sending garbage or nothing gets a 400, a close or a timeout and the
# server keeps serving; two 503s show as retries; a taken port, a bad
# address and an unwritable file are startup errors naming the key.
# A log export shows no live or dead bytes with compaction off, and
# exactly what a write and a half overwrite leave once compaction has
# walked its map.
# The example alert rules (docs/prometheus-alerts.yml) pass promtool's
# own tests of them; the example dashboard's (docs/grafana-dashboard.json)
# queries parse and name only metrics the server exports.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh curl promtool
export TMPD

# A port nothing listens on now (the kernel's choice, then released).
free_port ()
{
    /usr/bin/python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

PORT=$(free_port)
URL="http://127.0.0.1:$PORT/metrics"
MFILE="$TMPD/s3blocks.prom"
export URL

start_s3 --faults
# lease-time=3s: renewed every second, so renewals show within the test.
start_nbdkit -- "export=$EXPORT" size=16M write-delay=0 lease-time=3s \
    "metrics=127.0.0.1:$PORT" "metrics-file=$MFILE"

# value FILE SAMPLE: the sample's value ("" if absent).
value ()
{
    awk -v n="$2" '$1 == n { print $2 }' "$1"
}
X="{export=\"$EXPORT\"}"

# expect FILE SAMPLE OP NUMBER: e.g. expect a.txt 's3blocks_x' -ge 5.
expect ()
{
    local v
    v=$(value "$1" "$2")
    [ -n "$v" ] || fail "$1 has no $2"
    # Gauges of seconds may be fractions; the ones compared are integers.
    [ "$v" "$3" "$4" ] || fail "$1: $2 is $v, expected $3 $4"
}

# delta BEFORE AFTER SAMPLE: how much a counter moved.
delta ()
{
    echo $(( $(value "$2" "$3") - $(value "$1" "$3") ))
}

check_valid ()
{
    promtool check metrics < "$1" ||
        fail "promtool check metrics rejects $1"
}

# --- a scrape before, during and after a workload -------------------
code=$(curl -sS --max-time 10 -o "$TMPD/before.txt" \
            -w '%{http_code} %{content_type}' "$URL")
[ "$code" = "200 text/plain; version=0.0.4; charset=utf-8" ] ||
    fail "GET /metrics answered $code"
check_valid "$TMPD/before.txt"
expect "$TMPD/before.txt" 's3blocks_dirty_bound_bytes' -eq 268435456
grep -q '^s3blocks_build_info{version="[^"]*",store="\(s3\|curl\)",layout="plain"} 1$' \
    "$TMPD/before.txt" || fail "no build_info line"

# 64 blocks written, scraped while dirty, flushed, scraped, one read.
nbdsh -u "$(uri)" -c '
import os, subprocess, time
def scrape(name):
    subprocess.run(["curl", "-sS", "--max-time", "10", "-o",
                    os.environ["TMPD"] + "/" + name, os.environ["URL"]],
                   check=True)
h.pwrite(b"m" * 262144, 0)
time.sleep(0.2)
scrape("dirty.txt")
h.flush()
scrape("flushed.txt")
assert h.pread(4096, 0) == b"m" * 4096
' || fail "the workload failed"
curl -sS --max-time 10 -o "$TMPD/after.txt" "$URL"
for f in dirty flushed after; do check_valid "$TMPD/$f.txt"; done

B=$TMPD/before.txt D=$TMPD/dirty.txt F=$TMPD/flushed.txt A=$TMPD/after.txt
[ "$(delta "$B" "$D" "s3blocks_export_written_bytes_total$X")" = 262144 ] ||
    fail "written bytes did not move by 262144"
[ "$(delta "$B" "$D" "s3blocks_export_writes_total$X")" = 1 ] ||
    fail "writes did not move by 1"
expect "$D" "s3blocks_export_dirty_blocks$X" -eq 64
expect "$D" "s3blocks_export_dirty_bytes$X" -ge 262144
age=$(value "$D" "s3blocks_export_oldest_dirty_seconds$X")
awk -v s="$age" 'BEGIN { exit !(s >= 0.2 && s < 60) }' ||
    fail "oldest dirty block $age s old while 64 were dirty"
[ "$(delta "$B" "$D" "s3blocks_export_flushes_total$X")" = 0 ] ||
    fail "a flush counted before the flush"
[ "$(delta "$B" "$F" "s3blocks_export_flushes_total$X")" = 1 ] ||
    fail "the flush was not counted"
expect "$F" "s3blocks_export_flush_errors_total$X" -eq 0
expect "$F" "s3blocks_export_dirty_blocks$X" -eq 0
expect "$F" "s3blocks_export_dirty_bytes$X" -eq 0
expect "$F" "s3blocks_export_oldest_dirty_seconds$X" -eq 0
[ "$(delta "$B" "$F" "s3blocks_export_block_uploads_total$X")" = 64 ] ||
    fail "the flush did not upload 64 blocks"
[ "$(delta "$B" "$F" "s3blocks_export_commits_total$X")" -ge 1 ] ||
    fail "the flush committed nothing"
put_ok='s3blocks_s3_requests_total{method="PUT",outcome="ok"}'
# (The lease's renewals are PUTs too, one a second here.)
[ "$(delta "$B" "$D" "s3blocks_export_block_uploads_total$X")" = 0 ] ||
    fail "blocks uploaded before the flush"
[ "$(delta "$B" "$F" "$put_ok")" -ge 65 ] ||
    fail "the flush made fewer than 64 block PUTs and a map commit"
[ "$(delta "$B" "$F" s3blocks_s3_sent_bytes_total)" -ge 262144 ] ||
    fail "fewer bytes sent than written"
[ "$(delta "$F" "$A" "s3blocks_export_read_bytes_total$X")" = 4096 ] ||
    fail "read bytes did not move by 4096"
[ "$(delta "$B" "$F" 's3blocks_s3_request_duration_seconds_count{method="PUT"}')" \
  -ge 65 ] || fail "the PUT latency histogram missed the flush's PUTs"
expect "$A" "s3blocks_export_lease_held$X" -eq 1
expect "$A" "s3blocks_export_lease_refusals_total$X" -eq 0
grep -q '^# TYPE s3blocks_export_lease_refusals_total counter$' "$A" ||
    fail "no counter s3blocks_export_lease_refusals_total"
# A plain export has no log to measure: the family, no sample.
grep -q "^s3blocks_export_log_\(live\|dead\)_bytes" "$A" &&
    fail "live or dead log bytes for a plain export"
echo "ok: the figures moved as the workload says"

# The man page names every metric the server exports.
for name in $(awk '$1 == "#" && $2 == "TYPE" { print $3 }' "$A"); do
    grep -q "C<$name[{>]" "$top_srcdir/docs/nbdkit-s3blocks-plugin.pod" ||
        fail "docs/nbdkit-s3blocks-plugin.pod does not document $name"
done
echo "ok: the man page documents every metric"

# --- retries: two 503s on block PUTs, retried -----------------------
curl -sS --max-time 10 -o "$TMPD/pre-faults.txt" "$URL"
inject_faults 503 2 "blocks/$EXPORT/"
nbdsh -u "$(uri)" -c 'h.pwrite(b"r" * 4096, 1 << 20); h.flush()' ||
    fail "a write and flush through two 503s failed"
[ "$(faults_left)" = 0 ] || fail "the injected faults were not all hit"
curl -sS --max-time 10 -o "$TMPD/faults.txt" "$URL"
check_valid "$TMPD/faults.txt"
[ "$(delta "$TMPD/pre-faults.txt" "$TMPD/faults.txt" \
      's3blocks_s3_retries_total{method="PUT"}')" -ge 2 ] ||
    fail "two 503s retried, but retries_total did not move by 2"
expect "$TMPD/faults.txt" 's3blocks_s3_requests_total{method="PUT",outcome="failed"}' -eq 0
echo "ok: retries counted"

# --- scraping in a loop during writes leaves the data intact -------
nbdsh -u "$(uri)" -c '
import os, threading, time, urllib.request
errors = []
def scrape_loop():
    for _ in range(100):
        try:
            with urllib.request.urlopen(os.environ["URL"], timeout=10) as r:
                assert r.status == 200 and b"s3blocks_build_info" in r.read()
        except Exception as e:
            errors.append(repr(e))
t = threading.Thread(target=scrape_loop)
t.start()
for i in range(200):
    h.pwrite(bytes([i % 251]) * 8192, i * 8192)
    if i % 50 == 49:
        h.flush()
t.join(timeout=120)
assert not t.is_alive(), "the scrapes did not end"
assert not errors, errors[:3]
for i in range(200):
    assert h.pread(8192, i * 8192) == bytes([i % 251]) * 8192, i
' || fail "writes with scrapes in a loop"
echo "ok: 100 scrapes during 200 writes, the data intact"

# --- other paths, methods, garbage and idle clients ----------------
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' \
            "http://127.0.0.1:$PORT/")
[ "$code" = 404 ] || fail "GET / answered $code, not 404"
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -X POST \
            -d x=1 "$URL")
[ "$code" = 405 ] || fail "POST /metrics answered $code, not 405"
PORT=$PORT /usr/bin/python3 -c '
import os, socket, time
port = int(os.environ["PORT"])
# Idle clients that never send a byte hold only their own connections.
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(4)]
s = socket.create_connection(("127.0.0.1", port))
s.settimeout(30)
s.sendall(b"\x00\xffgarbage\r\n\r\n")
reply = b""
start = time.monotonic()
while time.monotonic() - start < 30:
    chunk = s.recv(4096)
    if not chunk:
        break
    reply += chunk
assert reply == b"" or reply.startswith(b"HTTP/1.1 400"), reply[:80]
print("garbage got", reply.split(b"\r\n")[0] if reply else "a close")
' || fail "garbage on the metrics port"
code=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' "$URL")
[ "$code" = 200 ] || fail "GET /metrics after garbage answered $code"
echo "ok: 404, 405, garbage refused, still serving"

# --- the metrics file ----------------------------------------------
# Written every 5 s: wait for one that has the workload's writes.
file_has_writes ()
{
    local v
    v=$(value "$MFILE" "s3blocks_export_written_bytes_total$X")
    [ -n "$v" ] && [ "$v" -ge $((262144 + 200 * 8192)) ]
}
wait_for "metrics-file= with the writes" file_has_writes
check_valid "$MFILE"
echo "ok: metrics-file= written, valid"

# --- the lease, seconds later ---------------------------------------
curl -sS --max-time 10 -o "$TMPD/lease.txt" "$URL"
check_valid "$TMPD/lease.txt"
expect "$TMPD/lease.txt" "s3blocks_export_lease_renewals_total$X" -ge 1
expect "$TMPD/lease.txt" "s3blocks_export_lease_renewal_failures_total$X" -eq 0
expect "$TMPD/lease.txt" "s3blocks_export_lease_held$X" -eq 1
left=$(value "$TMPD/lease.txt" "s3blocks_export_lease_deadline_seconds$X")
awk -v s="$left" 'BEGIN { exit !(s > 0 && s <= 3) }' ||
    fail "lease deadline in $left s, not within lease-time=3s"
echo "ok: lease renewed, deadline in $left s"

# --- startup errors naming the key ---------------------------------
# shellcheck disable=SC2046
refuse ()
{
    run_nbdkit_expect_failure "$@"
    echo "ok: refused ${*:2}"
}
refuse "metrics=127.0.0.1:$PORT: cannot listen there: Address already in use" \
    $(s3_args) "export=$EXPORT-2" size=1M "metrics=127.0.0.1:$PORT"
refuse 'metrics=localhost:9101: "localhost" is not a numeric' \
    $(s3_args) "export=$EXPORT-2" size=1M metrics=localhost:9101
refuse 'metrics: invalid port' metrics=127.0.0.1:99999
refuse "metrics-file=$TMPD/no/such/dir/m.prom: creating" \
    $(s3_args) "export=$EXPORT-2" size=1M "metrics-file=$TMPD/no/such/dir/m.prom"

stop_nbdkit

# --- a log export's live and dead bytes ------------------------------
# 64 blocks written and flushed, then 32 of them overwritten (random
# data: no dedup): the map names 96 blocks of data, 64 of them live.
# log-compact-threshold=0 keeps compaction from copying the half-dead
# segment, so that the figures stay put for the scrape.
LX="{export=\"$EXPORT-log\"}"
L=$TMPD/log.txt
PORT=$(free_port)
URL="http://127.0.0.1:$PORT/metrics"
start_nbdkit -- "export=$EXPORT-log" layout=log size=16M write-delay=200ms \
    log-compact-rate=0 "metrics=127.0.0.1:$PORT"
nbdsh -u "$(uri "$EXPORT-log")" -c '
import os
h.pwrite(os.urandom(262144), 0)
h.flush()
h.pwrite(os.urandom(131072), 0)
h.flush()
' || fail "the log workload failed"
sleep 1                         # rounds in which a walk could have run
curl -sS --max-time 10 -o "$TMPD/log-off.txt" "$URL"
check_valid "$TMPD/log-off.txt"
grep -q "^s3blocks_export_log_\(live\|dead\)_bytes" "$TMPD/log-off.txt" &&
    fail "live or dead log bytes with compaction off (no walk)"
expect "$TMPD/log-off.txt" "s3blocks_export_segments_written_total$LX" -ge 2
stop_nbdkit
echo "ok: no live or dead log bytes before a walk"

start_nbdkit -- "export=$EXPORT-log" write-delay=200ms \
    log-compact-rate=256M log-compact-threshold=0 "metrics=127.0.0.1:$PORT"
walked ()
{
    curl -sS --max-time 10 -o "$L" "$URL" &&
        grep -q "^s3blocks_export_log_dead_bytes$LX " "$L"
}
wait_for "compaction's walk of the log export's map" walked
check_valid "$L"
for g in live dead; do
    grep -q "^# TYPE s3blocks_export_log_${g}_bytes gauge$" "$L" ||
        fail "no gauge s3blocks_export_log_${g}_bytes"
done
expect "$L" "s3blocks_export_log_live_bytes$LX" -eq 262144
expect "$L" "s3blocks_export_log_dead_bytes$LX" -eq 131072
expect "$L" "s3blocks_export_lease_refusals_total$LX" -eq 0
stop_nbdkit
echo "ok: log live $(value "$L" "s3blocks_export_log_live_bytes$LX")," \
     "dead $(value "$L" "s3blocks_export_log_dead_bytes$LX") bytes"

# --- the example alert rules fire when they must -------------------
promtool check rules "$top_srcdir/docs/prometheus-alerts.yml" ||
    fail "promtool check rules rejects docs/prometheus-alerts.yml"
(cd "$top_srcdir/tests" && promtool test rules prometheus-alerts-test.yml) ||
    fail "the example alert rules do not fire as tests/prometheus-alerts-test.yml says"
echo "ok: the example alert rules"

# --- the example dashboard: its queries parse, its metrics exist ----
# Each panel's query becomes a recording rule, so that promtool parses
# it ($export as Grafana would fill it in).
/usr/bin/python3 - "$top_srcdir/docs/grafana-dashboard.json" \
    "$TMPD/dashboard-rules.yml" <<'PY' || fail "docs/grafana-dashboard.json"
import json, sys
dash = json.load(open(sys.argv[1]))
exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
assert len(exprs) >= 10, exprs
with open(sys.argv[2], "w") as f:
    f.write("groups:\n  - name: dashboard\n    rules:\n")
    for i, e in enumerate(exprs):
        f.write("      - record: dashboard:q%d\n        expr: %s\n"
                % (i, json.dumps(e.replace("$export", ".*"))))
PY
promtool check rules "$TMPD/dashboard-rules.yml" ||
    fail "a query of docs/grafana-dashboard.json does not parse"
for name in $(grep -oh 's3blocks_[a-z0-9_]*' \
                  "$top_srcdir/docs/grafana-dashboard.json" \
                  "$top_srcdir/docs/prometheus-alerts.yml" | sort -u); do
    cat "$A" "$L" | grep -q "^$name[{ ]" ||
        fail "docs/ use $name, which the server does not export"
done
echo "ok: the example dashboard"
echo "$TEST_NAME: PASS"
