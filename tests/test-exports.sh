#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# Many exports from one server: the client chooses the export by name;
# two, then twenty, written at once through different connections never
# see each other's data, before or after a restart; nbdinfo --list shows
# each of them once, with its size; names that try to escape their prefix are
# refused; a client naming no export gets export=; exports= and
# create=false limit what may be opened.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh nbdinfo
export EXPORT

start_s3
keys=("export=$EXPORT-default" "exports=$EXPORT-*" size=4M)
start_nbdkit -- "${keys[@]}"

# write_export N: a pattern of N's own, in blocks other exports write
# too, flushed.
write_export ()
{
    N=$1 nbdsh -u "$(uri "$EXPORT-$1")" -c '
import os
n = int(os.environ["N"])
for off in (0, 4096, 1 << 20, (4 << 20) - 4096):
    h.pwrite(("export %03d " % n).encode() * 372 + bytes(4), off)
h.pwrite(b"u%03d" % n, 3000)                 # unaligned, over block 0
h.flush()
'
}
# verify_exports N...: each export holds exactly its own pattern.
verify_exports ()
{
    LIST="$*" nbdsh -c - <<'PY'
import os, nbd
for n in map(int, os.environ["LIST"].split()):
    h = nbd.NBD()
    h.set_export_name("%s-%d" % (os.environ["EXPORT"], n))
    h.connect_unix(os.environ["SOCK"])
    block = ("export %03d " % n).encode() * 372 + bytes(4)
    assert h.get_size() == 4 << 20
    first = bytearray(block)
    first[3000:3004] = b"u%03d" % n
    assert h.pread(4096, 0) == bytes(first), "export %d block 0" % n
    for off in (4096, 1 << 20, (4 << 20) - 4096):
        assert h.pread(4096, off) == block, "export %d at %d" % (n, off)
    assert h.pread(4096, 8192) == bytes(4096), "export %d hole" % n
    h.shutdown()
PY
}
export SOCK

# Two exports at once, then twenty.
for group in "1 2" "$(seq -s ' ' 3 22)"; do
    pids=()
    for n in $group; do
        write_export "$n" & pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || fail "a writer failed"; done
    verify_exports $group
    echo "ok: $(echo $group | wc -w) exports written at once, each its own"
done
stop_nbdkit
start_nbdkit -- "${keys[@]}"
verify_exports $(seq 1 22)
echo "ok: all 22 exports intact after a restart"

# Each export's objects are under its own prefix, and only there.
for n in 1 22; do
    [ "$(s3util count "blocks/$EXPORT-$n/")" = 4 ] ||
        fail "export $n does not have exactly its 4 blocks"
done

# nbdinfo --list: every export with its size (exports= keeps other
# tests' exports in a shared bucket out of the list).
nbdinfo --list --json "$(uri "")" > "$TMPD/list.json"
/usr/bin/python3 - "$TMPD/list.json" <<'PY'
import collections, json, os, sys
exports = json.load(open(sys.argv[1]))["exports"]
twice = [n for n, c in collections.Counter(e["export-name"]
                                           for e in exports).items() if c > 1]
assert not twice, "listed more than once: %s" % sorted(twice)
listed = {e["export-name"]: e.get("export-size") for e in exports}
want = {"%s-%d" % (os.environ["EXPORT"], n) for n in range(1, 23)}
missing = want - set(listed)
assert not missing, "not listed: %s" % sorted(missing)
extra = set(listed) - want - {os.environ["EXPORT"] + "-default"}
assert not extra, "listed but not ours: %s" % sorted(extra)
for name in want:
    assert listed[name] == 4 << 20, "%s listed with size %s" % (name, listed[name])
print("ok: nbdinfo --list shows the %d exports once each, with their sizes" % len(want))
PY

# The default export, for a client that names none.
nbdsh -u "$(uri "")" -c 'h.pwrite(b"default!" * 512, 0); h.flush()'
nbdsh -u "$(uri "$EXPORT-default")" -c 'assert h.pread(4096, 0) == b"default!" * 512'
echo "ok: a client naming no export gets export="

# Names that escape their prefix, or are not allowed, are refused.
long=$(printf 'a%.0s' $(seq 1 129))
NAMES="../x|a/b|..|.|$long|x y|other-export" nbdsh -c - <<'PY'
import os, nbd
for name in os.environ["NAMES"].split("|"):
    h = nbd.NBD()
    h.set_export_name(name)
    try:
        h.connect_unix(os.environ["SOCK"])
        raise AssertionError("export %r was served" % name)
    except nbd.Error:
        pass
print("ok: escaping, over-long and not-allowed names refused")
PY
grep -q "invalid export name" "$TMPD/nbdkit.log" ||
    fail "no log line says why a name was refused"
[ "$(s3util count "blocks/../")" = 0 ] || fail "something escaped blocks/"
stop_nbdkit

# create=false: an export that does not exist is refused, by name.
start_nbdkit -- "${keys[@]}" create=false
nbdsh -u "$(uri "$EXPORT-1")" -c 'assert h.pread(10, 4096) == b"export 001"'
if nbdsh -u "$(uri "$EXPORT-new")" -c 'pass' 2>/dev/null; then
    fail "create=false served a new export"
fi
grep -q "export $EXPORT-new does not exist" "$TMPD/nbdkit.log" ||
    fail "no log line names the missing export"
echo "ok: create=false refuses a new export, naming it"
stop_nbdkit

# An export keeps the block size it was created with, and advertises
# it when reopened without block-size=.
start_nbdkit -- "export=$EXPORT-64k" size=8M block-size=64K
nbdsh -u "$(uri "$EXPORT-64k")" -c 'h.pwrite(b"x" * 65536, 0); h.flush()'
stop_nbdkit
start_nbdkit -- "export=$EXPORT-64k"
nbdsh -u "$(uri "$EXPORT-64k")" -c - <<'PY'
pref = h.get_block_size(nbd.SIZE_PREFERRED)
assert pref == 65536, "preferred block size %d, recorded 65536" % pref
assert h.pread(65536, 0) == b"x" * 65536
PY
stop_nbdkit
echo "ok: the recorded block size (64K) is the one advertised"
