#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# The cas layout end to end: the same 16 MiB in three exports is stored
# once; data survives a restart; a damaged data object is EIO naming
# its key; SIGKILL at random points of a run of flushes leaves exactly
# one flushed state; export@snap is served read-only and listed.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh nbdinfo
export EXPORT TMPD

start_s3
# The test counts objects over the whole bucket: on RGW, whose bucket
# outlives a pass (the V4 pass runs after the V2 one), start from an
# empty one.
empty_bucket_on_rgw

# --- Three exports, one copy --------------------------------------------
head -c 16M /dev/urandom > "$TMPD/data"
start_nbdkit -- export=a layout=cas size=32M
for e in a b c; do
    nbdsh -u "$(uri $e)" -c - <<PY
data = open("$TMPD/data", "rb").read()
for off in range(0, len(data), 1 << 20):
    h.pwrite(data[off:off + (1 << 20)], off)
h.flush()
PY
done
stop_nbdkit

s3util ls cas/data/ > "$TMPD/data.ls"
objects=$(wc -l < "$TMPD/data.ls")
bytes=$(awk '{ n += $2 } END { print n + 0 }' "$TMPD/data.ls")
[ "$objects" = 4096 ] || fail "three exports of 16 MiB: $objects data objects, expected 4096"
[ "$bytes" = $((16 << 20)) ] || fail "three exports of 16 MiB: $bytes bytes of data, expected 16 MiB"
echo "ok: 16 MiB in three cas exports stored once: $objects objects, $bytes bytes"
for e in a b c; do
    s3util get "exports/$e" "$TMPD/meta"
    grep -qx 'layout cas' "$TMPD/meta" || fail "exports/$e lacks 'layout cas'"
    s3util get "cas/roots/$e" "$TMPD/root"
    grep -qx 'blocks 4096' "$TMPD/root" || fail "cas/roots/$e does not count 4096 blocks"
done
[ "$(s3util count blocks/)" = 0 ] || fail "a cas export wrote plain blocks"

# --- A restart reads it all back; layout= cannot change -----------------
start_nbdkit -- export=a
for e in a b c; do
    nbdsh -u "$(uri $e)" -c - <<PY
import hashlib
want = open("$TMPD/data", "rb").read()
got = b"".join(h.pread(1 << 20, off) for off in range(0, 32 << 20, 1 << 20))
assert got[:len(want)] == want, "export $e: data differs after a restart"
assert got[len(want):] == bytes(len(got) - len(want)), "export $e: tail not zero"
assert h.get_size() == 32 << 20
PY
done
stop_nbdkit
echo "ok: three cas exports read back after a restart"
run_nbdkit_expect_failure 'export a was created with layout=cas; layout=plain' \
    $(s3_args) export=a layout=plain
echo "ok: layout=plain on a cas export is refused, naming both"

# --- A damaged data object ----------------------------------------------
# Block 100's object: its key is the SHA-256 of its bytes.
key=cas/data/$(dd if="$TMPD/data" bs=4096 skip=100 count=1 status=none |
               sha256sum | cut -d' ' -f1)
s3util get "$key" "$TMPD/good"
head -c 4096 /dev/urandom > "$TMPD/bad"
s3util put "$key" "$TMPD/bad"
start_nbdkit -- export=a
for e in a c; do
    nbdsh -u "$(uri $e)" -c - <<PY
import errno
try:
    h.pread(4096, 100 * 4096)
    raise AssertionError("export $e: a damaged block read without error")
except nbd.Error as ex:
    assert ex.errno == "EIO", ex
assert h.pread(4096, 101 * 4096) == open("$TMPD/data", "rb").read()[101 * 4096:102 * 4096]
PY
done
grep -q "export a: data object $key does not hash to its key" "$TMPD/nbdkit.log" ||
    fail "the read error does not name $key and export a"
stop_nbdkit
s3util put "$key" "$TMPD/good"
echo "ok: a damaged data object is EIO, and the log names $key"

# --- SIGKILL during flushes ----------------------------------------------
# Each round: a client writes (several blocks, partial writes, zeroing)
# and flushes, over and over, recording each state's hash before its
# flush (attempted) and after (flushed); nbdkit is killed at a random
# moment.  The restarted export must read as the last flushed state or
# the one whose flush was in flight.
cat > "$TMPD/flusher.py" <<'PY'
# nbdsh -c: seed and log are set before this runs.
import hashlib, os, random
size = 8 << 20
rnd = random.Random(seed)
img = bytearray(h.pread(size, 0))
with open(log, "w") as f:
    f.write("flushed %s\n" % hashlib.sha256(img).hexdigest()); f.flush()
    for n in range(400):
        for _ in range(rnd.randint(2, 12)):
            off = rnd.randrange(0, size // 4096) * 4096
            r = rnd.random()
            if r < 0.15:
                ln = min(4096 * rnd.randint(1, 4), size - off)
                h.zero(ln, off)
                img[off:off + ln] = bytes(ln)
                continue
            if r < 0.3:
                off += 512              # a partial block: read-modify-write
            ln = min(rnd.choice([4096, 4096, 8192, 1000]), size - off)
            data = os.urandom(ln)
            h.pwrite(data, off)
            img[off:off + ln] = data
        f.write("attempted %s\n" % hashlib.sha256(img).hexdigest()); f.flush()
        h.flush()
        f.write("flushed %s\n" % hashlib.sha256(img).hexdigest()); f.flush()
PY

# The state read back must be the last flushed one, or the one whose
# flush was in flight.
check_round ()
{
    local log=$1 got
    got=$(nbdsh -u "$(uri k)" -c '
import hashlib
print(hashlib.sha256(h.pread(8 << 20, 0)).hexdigest())')
    awk -v got="$got" '
        $1 == "flushed" { last = $2; inflight = ""; n++ }
        $1 == "attempted" { inflight = $2 }
        END {
            if (got == last) { print "the last flushed state (flush " n - 1 ")"; exit 0 }
            if (inflight != "" && got == inflight) { print "the state being flushed (flush " n ")"; exit 0 }
            print "a state never flushed: " got; exit 1
        }' "$log"
}

start_nbdkit -- export=k layout=cas size=8M
stop_nbdkit
rounds=5
for (( round=1; round<=rounds; round++ )); do
    start_nbdkit -- export=k take-over-lease=true write-delay=0 max-dirty=64K
    nbdsh -u "$(uri k)" -c "seed = $round; log = '$TMPD/round$round'" \
          -c "exec(open('$TMPD/flusher.py').read())" \
          >"$TMPD/client$round.log" 2>&1 &
    client=$!
    # A random moment within the first two seconds of flushing.
    wait_for "round $round's client to start flushing" \
        grep -q attempted "$TMPD/round$round"
    sleep "0.$(( RANDOM % 10 ))$(( RANDOM % 10 ))"
    sleep "$(( RANDOM % 2 ))"
    kill_nbdkit
    kill -9 "$client" 2>/dev/null || true
    wait "$client" 2>/dev/null || true
    start_nbdkit -- export=k take-over-lease=true
    verdict=$(check_round "$TMPD/round$round") ||
        fail "round $round: after SIGKILL the export reads as $verdict"
    stop_nbdkit
    echo "ok: round $round: killed after $(grep -c '^flushed' "$TMPD/round$round") states; reads as $verdict"
done

# --- export@snap ----------------------------------------------------------
# A snapshot root as the admin command writes one: the export's root
# with kind snapshot and name export@snap.
s3util get cas/roots/a "$TMPD/root"
sed -e 's/^kind export$/kind snapshot/' -e 's/^name a$/name a@s1/' \
    -e 's/^parent -$/parent a/' "$TMPD/root" > "$TMPD/snap"
grep -qx 'kind snapshot' "$TMPD/snap" || fail "cannot make a snapshot root"
s3util put cas/snaps/a/s1 "$TMPD/snap"

start_nbdkit -- export=a
nbdsh -u "$(uri a)" -c '
h.pwrite(b"\xee" * 4096, 0)
h.flush()
'
nbdsh -u "$(uri a@s1)" -c - <<PY
want = open("$TMPD/data", "rb").read()
assert h.is_read_only(), "a snapshot is writable (can_write)"
assert h.get_size() == 32 << 20
try:
    h.pwrite(b"x" * 4096, 0)
    raise AssertionError("a write to a snapshot succeeded")
except nbd.Error as ex:
    print("write refused:", ex.errno)
assert h.pread(1 << 20, 0) == want[:1 << 20], "the snapshot changed"
assert h.pread(4096, 4096 * 4000) == want[4096 * 4000:4096 * 4001]
PY
nbdinfo --list "nbd+unix:///?socket=$SOCK" > "$TMPD/list"
for e in a a@s1 b c k; do
    grep -q "export=\"$e\"\|^export=$e$\|export: $e$\|\"$e\"" "$TMPD/list" ||
        { cat "$TMPD/list" >&2; fail "nbdinfo --list does not show $e"; }
done
if nbdsh -u "$(uri a@nope)" -c 'pass' 2>"$TMPD/nope.err"; then
    fail "an unknown snapshot opened"
fi
grep -q 'snapshot a@nope does not exist' "$TMPD/nbdkit.log" ||
    fail "no clear error for an unknown snapshot"
stop_nbdkit
echo "ok: a@s1 is read-only (can_write false, writes refused), unchanged by writes to a, and listed"

# --- export=a@s1: a snapshot as the default export ----------------------
# The natural way to copy a snapshot out: nbdkit export=E@S --run
# 'qemu-img convert ...', served read-only without -r.
# shellcheck disable=SC2046
timeout 300 env $(sanitizer_env) nbdkit -f -U - "$PLUGIN" $(s3_args) \
    ${S3BLOCKS_TEST_KEYS:-} export=a@s1 \
    --run "$CLEAN_ENV qemu-img convert -f raw -O raw \$nbd '$TMPD/copy' &&
           $CLEAN_ENV nbdsh -u \$uri -c 'assert h.is_read_only()'" \
    > "$TMPD/convert.log" 2>&1 ||
    { cat "$TMPD/convert.log" >&2; fail "export=a@s1: qemu-img convert failed"; }
check_sanitizer_log "$TMPD/convert.log"
[ "$(stat -c %s "$TMPD/copy")" = $((32 << 20)) ] || fail "export=a@s1: the copy is not 32 MiB"
cmp -n $((16 << 20)) "$TMPD/data" "$TMPD/copy" || fail "export=a@s1: the copy differs from the snapshot"
echo "ok: export=a@s1 serves the snapshot read-only; qemu-img convert copied it out"
