#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# Corrupt and foreign objects under an export's prefix, put there by
# another client: a block object of the wrong length (short, long,
# empty) is an I/O error for that block with a log line naming it, never
# a crash or zeros; keys that are not blocks are ignored and left alone.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh

start_s3
start_nbdkit -- "export=$EXPORT" size=1M
nbdsh -u "$(uri)" -c '
for i in range(8):
    h.pwrite(bytes([0x30 + i]) * 4096, i * 4096)
h.flush()
'
stop_nbdkit

p="blocks/$EXPORT"
head -c 100 /dev/urandom > "$TMPD/short"
head -c 8192 /dev/urandom > "$TMPD/long"
: > "$TMPD/empty"
printf 'not a block\n' > "$TMPD/foreign"
s3util put "$p/0000000000001000" "$TMPD/short"
s3util put "$p/0000000000002000" "$TMPD/long"
s3util put "$p/0000000000003000" "$TMPD/empty"
for k in README 0000000000004000.bak 000000000000400G 0000000000000123 \
         sub/0000000000000000 0000000000000000x; do
    s3util put "$p/$k" "$TMPD/foreign"
done

start_nbdkit -- "export=$EXPORT"
nbdsh -u "$(uri)" -c - <<'PY'
import errno, nbd
for i in (0, 4, 5, 6, 7):
    assert h.pread(4096, i * 4096) == bytes([0x30 + i]) * 4096, \
        "good block %d" % i
for i in (1, 2, 3):
    try:
        h.pread(4096, i * 4096)
        raise AssertionError("a corrupt block %d was read" % i)
    except nbd.Error as e:
        assert e.errnum == errno.EIO, e
    # A partial write needs the old contents: the same error.
    try:
        h.pwrite(b"x", i * 4096 + 10)
        raise AssertionError("read-modify-write over corrupt block %d" % i)
    except nbd.Error as e:
        assert e.errnum == errno.EIO, e
print("ok: short, long and empty objects are I/O errors, not data")
# A whole-block write replaces a corrupt object.
h.pwrite(b"R" * 4096, 4096)
h.flush()
assert h.pread(4096, 4096) == b"R" * 4096
print("ok: a whole-block write replaces a corrupt object")
PY
for n in 100 0; do
    grep -qE "object $p/[0-9a-f]{16} has $n bytes, expected 4096" \
        "$TMPD/nbdkit.log" || fail "no log line names the $n-byte object"
done
grep -q "GET $p/0000000000002000: the object is longer than 4096 bytes" \
    "$TMPD/nbdkit.log" || fail "no log line names the long object"
echo "ok: each corrupt object is named in the log with its length"
stop_nbdkit

# The foreign keys are untouched.
s3util ls "$p/" > "$TMPD/ls"
for k in README 0000000000004000.bak 000000000000400G 0000000000000123 \
         sub/0000000000000000 0000000000000000x; do
    grep -q "^$p/$k 12\$" "$TMPD/ls" || fail "foreign object $k was changed"
done
echo "ok: objects that are not blocks are ignored and left alone"
