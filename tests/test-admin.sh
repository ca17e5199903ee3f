#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# The admin command: list shows each export once with its size; du
# counts its blocks; check is clean, then names a corrupted block;
# delete needs --yes, is refused while a server holds the lease, and
# removes everything once it stopped; bad names, plugin keys and
# unknown verbs are refused.  Also ranged GETs (range-check) with the
# store this run uses: libs3 on s3rver and RGW's first pass, libcurl
# on RGW's second (v4-exercise.sh runs them with libcurl on both).

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh python3

ADMIN=$top_builddir/admin/s3blocks
[ -x "$ADMIN" ] || fail "$ADMIN not built"
start_s3
admin () { "$ADMIN" "$@" $(s3_args); }
A=$EXPORT-a B=$EXPORT-b
export A B SOCK

start_nbdkit -- size=4M "export=$A"
nbdsh -c - <<'PY'
import os, nbd
for name, blocks in ((os.environ["A"], 3), (os.environ["B"], 5)):
    h = nbd.NBD()
    h.set_export_name(name)
    h.connect_unix(os.environ["SOCK"])
    for i in range(blocks):
        h.pwrite(b"x" * 4096, i * 65536)
    h.flush()
    h.shutdown()
PY

# delete while the server holds the lease: refused, naming the holder.
status=0
admin delete --yes "$A" >"$TMPD/out" 2>&1 || status=$?
[ "$status" = 1 ] || fail "delete under a lease: exit $status"
grep -q "holds its lease (host" "$TMPD/out" || fail "$(cat "$TMPD/out")"
stop_nbdkit

admin list >"$TMPD/list"
[ "$(grep -c "^$A " "$TMPD/list")" = 1 ] || fail "list: $(cat "$TMPD/list")"
[ "$(grep -c "^$B " "$TMPD/list")" = 1 ] || fail "list: $(cat "$TMPD/list")"
admin --json list | python3 -c '
import json, os, sys
l = [e for e in json.load(sys.stdin) if e["name"] in (os.environ["A"], os.environ["B"])]
assert len(l) == 2, l
for e in l:
    assert e["size"] == 4 << 20 and e["block_size"] == 4096, e
    assert e["layout"] == "plain" and e["lease"] is None, e
'
admin --json du "$A" "$B" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert [e["blocks"] for e in d["exports"]] == [3, 5], d
assert d["total"]["blocks"] == 8 and d["total"]["bytes"] == 8 * 4096, d
'
admin check "$A" "$B" >"$TMPD/check" || fail "check: $(cat "$TMPD/check")"
admin check --deep "$A" >/dev/null || fail "check --deep not clean"

# A block of the wrong length is damage, named.
head -c 100 /dev/zero >"$TMPD/short"
key="blocks/$A/0000000000010000"
python3 "$top_srcdir/tests/s3util.py" put "$key" "$TMPD/short"
status=0
admin check "$A" >"$TMPD/check" 2>&1 || status=$?
[ "$status" = 1 ] || fail "check of a damaged export: exit $status"
grep -q "damage: $key is 100 bytes" "$TMPD/check" || fail "$(cat "$TMPD/check")"

# delete without --yes changes nothing; with it, everything goes.
before=$(python3 "$top_srcdir/tests/s3util.py" count "blocks/$A/")
status=0
admin delete "$A" >"$TMPD/out" 2>&1 || status=$?
[ "$status" = 1 ] && grep -q "would delete 3 blocks" "$TMPD/out" ||
    fail "delete without --yes: exit $status: $(cat "$TMPD/out")"
[ "$(python3 "$top_srcdir/tests/s3util.py" count "blocks/$A/")" = "$before" ] ||
    fail "delete without --yes deleted something"
admin delete --yes "$A" >/dev/null
for p in "blocks/$A/" "maps/$A" "exports/$A" "leases/$A"; do
    [ "$(python3 "$top_srcdir/tests/s3util.py" count "$p")" = 0 ] ||
        fail "delete --yes left objects under $p"
done
admin list | grep -q "^$B " || fail "delete removed the other export"

# Refusals, each with a clear message and exit 2.
expect_refusal ()
{
    local pattern=$1 status=0
    shift
    "$@" >"$TMPD/out" 2>&1 || status=$?
    [ "$status" = 2 ] || fail "$*: exit $status, expected 2"
    grep -qE "$pattern" "$TMPD/out" || fail "$*: $(cat "$TMPD/out")"
}
expect_refusal 'invalid export name "\.\./x": use 1 to 128' admin du ../x
expect_refusal 'invalid export name "a/b"' admin check a/b
expect_refusal 'invalid export name' admin du "$(printf 'x%.0s' $(seq 129))"
expect_refusal "$A: no such export" admin du "$A"
expect_refusal 'size=: a key of the plugin' admin list size=1G
expect_refusal 'export=: a key of the plugin' admin list export=x
expect_refusal 'unknown key "frob"' admin list frob=1
expect_refusal 'unknown verb "frob".*' admin frob
grep -q '^Usage: s3blocks' "$TMPD/out" || fail "unknown verb: no usage"

# Ranged GETs with this run's store: S3BLOCKS_TEST_KEYS selects libcurl
# on RGW's second pass; otherwise http:// means libs3.
# shellcheck disable=SC2086
range_check ${S3BLOCKS_TEST_KEYS:-}
