#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# The admin command's cas verbs: a snapshot keeps its export's state and
# a clone is independent of its source, both across nbdkit restarts;
# EXPORT@SNAP is read-only over NBD; a plain export is cloned into cas
# once; list and du (the same 8 MiB in three exports: dedup ratio
# near 3); check --deep names a corrupted content and who references
# it; every verb refuses bad input with a clear message and exit 1
# (refused) or 2 (usage).

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh python3

ADMIN=$top_builddir/admin/s3blocks
[ -x "$ADMIN" ] || fail "$ADMIN not built"
start_s3
# The test sums and collects over the whole bucket: on RGW, whose bucket
# outlives a pass, start from an empty one.
empty_bucket_on_rgw
admin () { "$ADMIN" "$@" $(s3_args) ${S3BLOCKS_TEST_KEYS:-}; }
export TMPD SOCK

# Write to an export and to its shadow file, then flush.
# write EXPORT SEED COUNT: COUNT 64 KiB writes at offsets
# and contents chosen by SEED.
write ()
{
    W_NAME=$1 W_SEED=$2 W_COUNT=$3 nbdsh -u "$(uri "$1")" -c - <<'PY'
import os, random
name = os.environ["W_NAME"]
seed, count = int(os.environ["W_SEED"]), int(os.environ["W_COUNT"])
shadow = os.path.join(os.environ["TMPD"], "shadow-" + name)
size = h.get_size()
if not os.path.exists(shadow):
    with open(shadow, "wb") as f:
        f.truncate(size)
rnd = random.Random(seed)
with open(shadow, "r+b") as f:
    for _ in range(count):
        off = rnd.randrange(0, size // 65536) * 65536
        data = rnd.randbytes(65536)
        h.pwrite(data, off)
        f.seek(off)
        f.write(data)
h.flush()
PY
}

# verify NAME SHADOW: every byte of the export (or snapshot) equals the
# shadow file.
verify ()
{
    V_NAME=$1 V_SHADOW=$2 nbdsh -u "$(uri "$1")" -c - <<'PY'
import os
name, shadow = os.environ["V_NAME"], os.environ["V_SHADOW"]
want = open(shadow, "rb").read()
assert h.get_size() == len(want), "%s: size %d, expected %d" % (name, h.get_size(), len(want))
for off in range(0, len(want), 1 << 20):
    got = h.pread(min(1 << 20, len(want) - off), off)
    assert got == want[off:off + len(got)], "%s: differs from its model at %d" % (name, off)
PY
}

expect_status ()
{
    local want=$1 pattern=$2 status=0
    shift 2
    "$@" >"$TMPD/out" 2>&1 || status=$?
    [ "$status" = "$want" ] ||
        fail "$*: exit $status, expected $want: $(cat "$TMPD/out")"
    grep -qE -- "$pattern" "$TMPD/out" || fail "$*: $(cat "$TMPD/out")"
}

# --- dedup: the same 8 MiB in three exports ----------------------------
head -c 8M /dev/urandom > "$TMPD/same"
start_nbdkit -- layout=cas size=16M
for e in x1 x2 x3; do
    nbdsh -u "$(uri $e)" -c - <<PY
data = open("$TMPD/same", "rb").read()
for off in range(0, len(data), 1 << 20):
    h.pwrite(data[off:off + (1 << 20)], off)
h.flush()
PY
done
admin --json du >"$TMPD/du.json" || fail "du: $(cat "$TMPD/du.json")"
python3 - "$TMPD/du.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
cas = {e["name"]: e for e in d["cas"]}
for n in ("x1", "x2", "x3"):
    e = cas[n]
    assert e["logical"] == 8 << 20, e
    assert e["unique"] == 0 and e["shared"] == e["referenced"] > 8 << 20, e
b = d["bucket"]
assert b["cas_data_bytes"] == 8 << 20, b
assert b["cas_logical"] == 24 << 20, b
assert 2.9 < b["dedup_ratio"] <= 3.0, b
print("ok: du: 24 MiB logical in %d bytes stored, dedup ratio %.3f"
      % (b["cas_data_bytes"] + b["cas_page_bytes"], b["dedup_ratio"]))
PY

# --- snapshot and clone: independence across restarts -------------------
write e1 1 40
cp "$TMPD/shadow-e1" "$TMPD/shadow-e1@s1"
expect_status 0 '^e1@s1: snapshot of e1' admin snapshot e1 s1
write e1 2 40                               # after the snapshot
expect_status 0 '^e2: clone of e1@s1 .* no content copied' admin clone e1@s1 e2
cp "$TMPD/shadow-e1@s1" "$TMPD/shadow-e2"
write e2 3 40                               # the clone only
verify e1 "$TMPD/shadow-e1"
verify e1@s1 "$TMPD/shadow-e1@s1"
verify e2 "$TMPD/shadow-e2"
nbdsh -u "$(uri e1@s1)" -c - <<'PY'
assert h.is_read_only(), "e1@s1 is writable"
try:
    h.pwrite(b"x" * 512, 0)
    raise AssertionError("a write to e1@s1 succeeded")
except nbd.Error:
    pass
PY
echo "ok: e1@s1 is read-only over NBD"
stop_nbdkit
start_nbdkit -- layout=cas
verify e1 "$TMPD/shadow-e1"
verify e1@s1 "$TMPD/shadow-e1@s1"
verify e2 "$TMPD/shadow-e2"
write e2 4 20
write e1 5 20
stop_nbdkit
start_nbdkit -- layout=cas
verify e1 "$TMPD/shadow-e1"
verify e1@s1 "$TMPD/shadow-e1@s1"
verify e2 "$TMPD/shadow-e2"
stop_nbdkit
echo "ok: snapshot unchanged by writes to its export, clone and source independent, across restarts"

# --- a plain export cloned into cas --------------------------------------
start_nbdkit -- size=4M export=p1
write p1 6 10
stop_nbdkit
expect_status 0 '^p2: clone of p1 \(plain\) into the cas layout' admin clone p1 p2
cp "$TMPD/shadow-p1" "$TMPD/shadow-p2"
start_nbdkit --
verify p2 "$TMPD/shadow-p2"
write p2 7 10
verify p1 "$TMPD/shadow-p1"
verify p2 "$TMPD/shadow-p2"
stop_nbdkit
echo "ok: a plain export cloned into cas once, independent of its source"

# --- list ----------------------------------------------------------------
admin list >"$TMPD/list"
for n in e1 e1@s1 e2 p1 p2 x1; do
    [ "$(grep -c "^$n " "$TMPD/list")" = 1 ] || fail "list: $n: $(cat "$TMPD/list")"
done
grep -qE '^e1@s1 +16777216 +4096 cas +[0-9TZ:-]+ +e1 +read-only' "$TMPD/list" ||
    fail "list: e1@s1: $(cat "$TMPD/list")"
grep -qE '^e2 +16777216 +4096 cas +[0-9TZ:-]+ +e1@s1 ' "$TMPD/list" ||
    fail "list: e2: $(cat "$TMPD/list")"
grep -qE '^p1 +4194304 +4096 plain ' "$TMPD/list" || fail "list: p1: $(cat "$TMPD/list")"
admin --json list | python3 -c '
import json, sys
l = {e["name"]: e for e in json.load(sys.stdin)}
assert l["e1@s1"]["kind"] == "snapshot" and l["e1@s1"]["parent"] == "e1", l["e1@s1"]
assert l["e2"]["parent"] == "e1@s1" and l["e2"]["layout"] == "cas", l["e2"]
assert l["p2"]["parent"] == "p1" and l["p1"]["layout"] == "plain", l["p1"]
'
echo "ok: list shows exports and snapshots, layouts and parents"

# --- check --deep names a corrupted content ------------------------------
expect_status 0 'cas: .* 0 damaged' admin check --deep
s3util ls cas/data/ | awk '{ print $1 }' > "$TMPD/data.keys"
# A content only e2 has: the first block of the last write of seed 4.
key=cas/data/$(python3 -c '
import hashlib, random
rnd = random.Random(4)
for _ in range(20):
    off = rnd.randrange(0, (16 << 20) // 65536) * 65536
    data = rnd.randbytes(65536)
print(hashlib.sha256(data[:4096]).hexdigest())')
grep -qx "$key" "$TMPD/data.keys" || fail "$key not in the bucket"
head -c 4096 /dev/urandom > "$TMPD/junk"
s3util put "$key" "$TMPD/junk"
expect_status 0 'cas: .* 0 damaged' admin check
expect_status 1 "^e2: damage: $key is damaged: its content does not match its SHA-256" \
    admin check --deep
echo "ok: check --deep names the corrupted $key and e2"
head -c 100 /dev/urandom > "$TMPD/junk"
s3util put "$key" "$TMPD/junk"
expect_status 1 "^e2: damage: $key is not one block long" admin check e2
s3util rm "$key"
expect_status 1 "^e2: damage: $key is missing" admin check
expect_status 0 '0 damaged' admin check e1 e1@s1

# --- bad input -------------------------------------------------------------
start_nbdkit -- export=e1
nbdsh -u "$(uri e1)" -c 'h.flush()'                  # holds e1's lease
expect_status 1 'e1: refused: a server holds its lease \(host' admin delete --yes e1
expect_status 1 'gc: refused: grace=0s is below .* while a server holds a lease \(e1: host' \
    admin gc grace=0
stop_nbdkit
expect_status 1 'e1: refused: it has 1 snapshot; delete it first' admin delete e1
expect_status 1 '^  e1@s1$' admin delete --yes e1
expect_status 1 'p1: refused: it has the plain layout, and snapshots need layout=cas; make a cas copy with "s3blocks clone p1 NEW"' \
    admin snapshot p1 s
expect_status 2 'nosuch: no such export' admin snapshot nosuch s
expect_status 1 'e1@s1: refused: it exists' admin snapshot e1 s1
expect_status 1 'e2: refused: it exists' admin clone e1 e2
expect_status 1 'p1: refused: it exists' admin clone e1@s1 p1
expect_status 2 'nosuch: no such export' admin clone nosuch n9
expect_status 2 'e1@nosuch: no such cas snapshot' admin clone e1@nosuch n9
expect_status 2 'the new name "n@9" must be an export name' admin clone e1 n@9
expect_status 2 'snapshot takes an export and a snapshot name' admin snapshot e1
expect_status 2 'two names without "@"' admin snapshot e1@s1 s2
expect_status 2 'invalid snapshot name "\.\." in "e1@\.\."' admin clone e1@.. n9
expect_status 2 'invalid export name "a/b"' admin snapshot a/b s
expect_status 2 'invalid export name "\.\."' admin snapshot .. s
expect_status 2 'invalid snapshot name "x/y" in "e1@x/y"' admin delete e1@x/y
expect_status 2 'one "@" at most' admin delete a@b@c
expect_status 2 'needs an export name before the "@"' admin du @x
expect_status 2 'needs a snapshot name after the "@"' admin check e1@
expect_status 2 'e1@nosuch: no such snapshot' admin delete --yes e1@nosuch
expect_status 2 'e1@nosuch: no such snapshot' admin check e1@nosuch
expect_status 2 'nosuch: no such export' admin delete nosuch
expect_status 2 'grace=soon: expected a time' admin gc grace=soon
expect_status 2 'gc takes no names' admin gc e1
expect_status 2 'unknown option --dry-run for list' admin list --dry-run
expect_status 2 'unknown key "grace"' admin list grace=1s
expect_status 2 'list takes no names' admin list e1
echo "ok: bad input refused, named, exit 1 or 2"

# --- delete a snapshot, then its export; gc frees their content ----------
expect_status 1 'would delete the snapshot' admin delete e1@s1
expect_status 0 '^e1@s1: deleted' admin delete --yes e1@s1
expect_status 0 '^e1: deleted its metadata, root and lease' admin delete --yes e1
for k in exports/e1 cas/roots/e1 leases/e1 cas/snaps/e1/s1; do
    [ "$(s3util count "$k")" = 0 ] || fail "delete left $k"
done
expect_status 0 'gc: deleted [1-9][0-9]* unreferenced objects' admin gc grace=0
expect_status 0 'gc: deleted 0 unreferenced' admin gc grace=0
expect_status 1 "^e2: damage: $key is missing" admin check --deep
echo "ok: delete and gc"
