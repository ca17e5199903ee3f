# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# Sourced by test-v4.sh and test-rgw-v4.sh after functions.sh.

# exercise: the whole request set against the current S3_* server.
exercise ()
{
    local e=$EXPORT-$1
    start_nbdkit -- signature=v4 "export=$e" size=8M
    # 1100 blocks: more than one LIST page (1000 keys) on rebuild.
    nbdsh -u "$(uri "$e")" -c '
for i in range(1100):
    h.pwrite(b"%08d" % i * 512, i * 4096)
h.flush()
h.zero(4096, 4096 * 10)          # DELETEs of blocks 10 and 11
h.trim(4096, 4096 * 11)
h.flush()
'
    stop_nbdkit
    # A key no export has, with characters the listing must decode.
    printf 'not an export' > "$TMPD/odd"
    s3util put "exports/odd key &<>+é" "$TMPD/odd"
    [ "$(s3util count "blocks/$e/")" = 1098 ] ||
        fail "expected 1098 block objects, got $(s3util count "blocks/$e/")"

    start_nbdkit -- signature=v4 "export=$e" rebuild-map=true
    nbdsh -u "$(uri "$e")" -c '
for i in (0, 9, 10, 11, 12, 999, 1000, 1099):
    want = bytes(4096) if i in (10, 11) else b"%08d" % i * 512
    assert h.pread(4096, i * 4096) == want, "block %d" % i
'
    nbdinfo --list "nbd+unix://?socket=$SOCK" > "$TMPD/list"
    grep -q "export=$e\$\|^export=$e" "$TMPD/list" || grep -q "$e" "$TMPD/list" ||
        fail "nbdinfo --list does not show $e"
    if grep -q "odd" "$TMPD/list"; then
        fail "an object that is not an export was listed"
    fi
    stop_nbdkit
    grep -q "store: curl (signature=v4)" "$TMPD/nbdkit.log" ||
        fail "the V4 store was not used"
    s3util rm "exports/odd key &<>+é"
    # Ranged GETs: signed Range, 206, Content-Range, 416.
    range_check signature=v4
}

