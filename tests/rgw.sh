#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# A throwaway single-node Ceph RADOS Gateway (a real S3 server) for the
# tests: one ceph-mon, one ceph-osd on memstore, radosgw on beast.
#
#   tests/rgw.sh start DIR   start it, all state under DIR (created);
#                            writes DIR/env (S3_ENDPOINT, S3_ACCESS_KEY,
#                            S3_SECRET_KEY) and DIR/pids, and returns
#                            once an S3 request succeeds
#   tests/rgw.sh stop DIR    stop the daemons and remove DIR
#
# Everything listens on 127.0.0.1 only, on free ports; nothing is
# written outside DIR (every ceph command gets -c DIR/ceph.conf).
# Every ceph command runs under "timeout": several of them wait 300 s
# on any mistake.  Needs the Debian packages ceph-mon ceph-osd radosgw
# ceph-common, and python3-boto3.
#
# Settings that matter (found by trial, see issue 10): cephx off inside
# the cluster needs "ms mon client mode = crc" or radosgw waits 300 s
# for its config; without "cluster addr" the OSD binds 0.0.0.0; with the
# default paxos propose interval (1 s) radosgw takes 8 s to come up;
# without tcp_nodelay every GET takes about 45 ms.

set -euo pipefail
export PATH="/usr/bin:/usr/sbin:/bin:/sbin:$PATH"

ACCESS_KEY=s3blocks
SECRET_KEY=s3blocks-test-secret-0123456789
T=20                    # seconds, for every ceph command
READY_STEPS=600         # x 0.1 s, for each daemon to be ready

log () { echo "rgw.sh: $*" >&2; }

usage () { sed -n '6,11p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

# Two free TCP ports on 127.0.0.1, one per line.
free_ports ()
{
    python3 - <<'PY'
import socket
socks = []
for _ in range(2):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
PY
}

dump_logs ()
{
    local f
    for f in "$DIR"/log/*.log "$DIR"/*.out; do
        [ -f "$f" ] || continue
        echo "--- $f (last 30 lines)" >&2
        tail -n 30 "$f" >&2
    done
}

die ()
{
    log "$*"
    dump_logs
    stop
    exit 1
}

# A running process (a dead child of this script is a zombie until
# reaped, and kill -0 still finds it).
alive ()
{
    [ -r "/proc/$1/status" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null
}

ceph_cmd () { timeout "$T" ceph -c "$DIR/ceph.conf" "$@"; }

# wait_for DESCRIPTION CMD...: bounded, and fails early if a daemon died.
wait_for ()
{
    local what=$1 i pid
    shift
    for (( i=0; i<READY_STEPS; i++ )); do
        "$@" >/dev/null 2>&1 && return 0
        for pid in $(cat "$DIR/pids" 2>/dev/null); do
            alive "$pid" || die "a daemon (pid $pid) exited while waiting for $what"
        done
        sleep 0.1
    done
    die "timed out waiting for $what"
}

write_conf ()
{
    local fsid=$1 mon_port=$2 rgw_port=$3
    cat > "$DIR/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = v2:127.0.0.1:$mon_port
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
ms mon client mode = crc
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
osd crush chooseleaf type = 0
paxos propose interval = 0.01
run dir = $DIR/run
admin socket = $DIR/run/\$name.\$pid.asok
crash dir = $DIR/crash
keyring = $DIR/keyring
log file = $DIR/log/\$name.log
mon data = $DIR/mon
osd data = $DIR/osd
rgw data = $DIR/rgw
mon data avail warn = 1
mon data avail crit = 0
[mon]
mon cluster log file = $DIR/log/cluster.log
[osd]
osd objectstore = memstore
memstore device bytes = 17179869184
osd crush initial weight = 1
[client]
log file = $DIR/log/client.log
[client.rgw]
log file = $DIR/log/rgw.log
rgw frontends = beast endpoint=127.0.0.1:$rgw_port tcp_nodelay=1
rgw dns name = localhost
CONF
}

start ()
{
    [ -e "$DIR" ] && [ -n "$(ls -A "$DIR" 2>/dev/null)" ] &&
        { log "$DIR exists and is not empty"; exit 1; }
    local p
    for p in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool; do
        command -v "$p" >/dev/null ||
            { log "$p is not installed (apt-get install --no-install-recommends ceph-mon ceph-osd radosgw ceph-common)"; exit 1; }
    done
    mkdir -p "$DIR"/{run,crash,log,mon,osd,rgw}
    DIR=$(cd "$DIR" && pwd)
    : > "$DIR/pids"
    : > "$DIR/keyring"
    local ports mon_port rgw_port fsid osd_uuid pid
    ports=$(free_ports)
    mon_port=$(echo "$ports" | sed -n 1p)
    rgw_port=$(echo "$ports" | sed -n 2p)
    fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
    osd_uuid=$(python3 -c 'import uuid; print(uuid.uuid4())')
    write_conf "$fsid" "$mon_port" "$rgw_port"
    local c=(-c "$DIR/ceph.conf")

    # The monitor.
    timeout "$T" monmaptool --create --fsid "$fsid" \
        --addv a "[v2:127.0.0.1:$mon_port]" "$DIR/monmap" >"$DIR/mkfs.out" 2>&1 ||
        die "monmaptool failed"
    timeout "$T" ceph-mon "${c[@]}" -i a --mkfs --monmap "$DIR/monmap" \
        >>"$DIR/mkfs.out" 2>&1 || die "ceph-mon --mkfs failed"
    ceph-mon "${c[@]}" -f -i a >"$DIR/mon.out" 2>&1 &
    echo $! >> "$DIR/pids"
    wait_for "the monitor" ceph_cmd mon stat

    # The OSD, on memstore.
    local id
    id=$(ceph_cmd osd new "$osd_uuid" 2>>"$DIR/mkfs.out") || die "ceph osd new failed"
    [ "$id" = 0 ] || die "unexpected OSD id $id"
    timeout "$T" ceph-osd "${c[@]}" -i 0 --mkfs --osd-uuid "$osd_uuid" \
        >>"$DIR/mkfs.out" 2>&1 || die "ceph-osd --mkfs failed"
    ceph-osd "${c[@]}" -f -i 0 >"$DIR/osd.out" 2>&1 &
    echo $! >> "$DIR/pids"
    # radosgw creates its pools at start: only once the OSD is active.
    wait_for "the OSD" grep -q 'state: booting -> active' "$DIR/log/osd.0.log"

    # The gateway, and its S3 user.
    radosgw "${c[@]}" -f -n client.rgw >"$DIR/rgw.out" 2>&1 &
    echo $! >> "$DIR/pids"
    cat > "$DIR/env" <<ENV
S3_ENDPOINT=http://127.0.0.1:$rgw_port
S3_ACCESS_KEY=$ACCESS_KEY
S3_SECRET_KEY=$SECRET_KEY
ENV
    wait_for "the S3 user" timeout "$T" radosgw-admin "${c[@]}" user create \
        --uid s3blocks --display-name s3blocks \
        --access-key "$ACCESS_KEY" --secret "$SECRET_KEY"
    wait_for "an S3 request" s3_ready
    log "RGW on http://127.0.0.1:$rgw_port, state in $DIR"
}

# One real S3 request (boto3, Signature V4) that succeeds.
s3_ready ()
{
    # shellcheck disable=SC2046
    env $(cat "$DIR/env") timeout 10 python3 -c '
import os, boto3
from botocore.config import Config
boto3.client("s3", endpoint_url=os.environ["S3_ENDPOINT"],
             aws_access_key_id=os.environ["S3_ACCESS_KEY"],
             aws_secret_access_key=os.environ["S3_SECRET_KEY"],
             region_name="us-east-1",
             config=Config(retries={"max_attempts": 1})).list_buckets()'
}

# SIGTERM every daemon, wait (bounded), SIGKILL what is left.
stop ()
{
    local pids i pid alive
    pids=$(cat "$DIR/pids" 2>/dev/null || true)
    for pid in $pids; do kill -TERM "$pid" 2>/dev/null || true; done
    for (( i=0; i<100; i++ )); do
        alive=
        for pid in $pids; do
            alive "$pid" && alive=yes
        done
        [ -z "$alive" ] && break
        sleep 0.1
    done
    for pid in $pids; do kill -KILL "$pid" 2>/dev/null || true; done
    rm -rf "$DIR"
}

[ $# = 2 ] || usage
DIR=$2
case "$1" in
    start) start ;;
    stop) stop ;;
    *) usage ;;
esac
