#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# s3blocks -p / --progress: under a pseudo-terminal (script(1)) gc and
# clone --layout=log draw progress lines on stderr, rewritten in place
# with \r and naming what they count, and still report the right result
# (gc deletes what a dry run said it would; the clone reads back byte
# for byte).  Without a terminal and without -p stderr stays empty;
# with -p it has the lines; --json's stdout is the same with and without
# -p.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh script

ADMIN=${ADMIN:-$top_builddir/admin/s3blocks}
[ -x "$ADMIN" ] || fail "$ADMIN not built"
start_s3
admin () { "$ADMIN" "$@" $(s3_args) ${S3BLOCKS_TEST_KEYS:-}; }
# The admin command under a pseudo-terminal: stdout and stderr both go
# to the terminal, whose output script(1) copies to its stdout.
cat > "$TMPD/run" <<EOF
#!/bin/sh
exec "$ADMIN" "\$@" $(s3_args) ${S3BLOCKS_TEST_KEYS:-}
EOF
chmod +x "$TMPD/run"
in_pty () {
    timeout 120 script -q -e -c "$TMPD/run $*" /dev/null </dev/null
}

# A cas export with garbage: 2 MiB written, half of it written again.
start_nbdkit -- export=c layout=cas size=8M write-delay=0
nbdsh -u "$(uri c)" -c - <<'PY'
import os
h.pwrite(os.urandom(2 << 20), 0)
h.flush()
h.pwrite(os.urandom(1 << 20), 0)
h.flush()
PY
stop_nbdkit
# gc deletes only what is older than its start less the grace, by the
# S3 server's clock in whole seconds: with grace=0, objects stamped in
# the dry run's starting second would be spared by it and deleted by a
# later run.  Let that second pass.
sleep 2

# --- not a terminal: nothing on stderr without -p, the lines with it --------
admin gc --dry-run grace=0 > "$TMPD/dry" 2> "$TMPD/dry.err" ||
    fail "gc --dry-run: $(cat "$TMPD/dry" "$TMPD/dry.err")"
[ ! -s "$TMPD/dry.err" ] || fail "gc without -p or a terminal wrote to stderr: $(cat "$TMPD/dry.err")"
would=$(sed -n 's/^gc: would delete \([0-9]*\) unreferenced.*/\1/p' "$TMPD/dry")
[ -n "$would" ] && [ "$would" -gt 0 ] || fail "gc --dry-run: nothing to delete: $(cat "$TMPD/dry")"
admin gc -p --dry-run grace=0 > "$TMPD/dry-p" 2> "$TMPD/dry-p.err" ||
    fail "gc -p --dry-run: $(cat "$TMPD/dry-p.err")"
grep -q "^gc: would delete $would unreferenced" "$TMPD/dry-p" ||
    fail "gc -p --dry-run: $(cat "$TMPD/dry-p")"
for phase in mark sweep; do
    tr '\r' '\n' < "$TMPD/dry-p.err" | grep -q "^gc: $phase: [0-9,]* .*objects" ||
        fail "gc -p: no $phase line: $(cat -A "$TMPD/dry-p.err")"
done
grep -q "gc: would delete" "$TMPD/dry-p.err" && fail "gc -p put its report on stderr"
# The display ends with a newline.
[ "$(tail -c 1 "$TMPD/dry-p.err" | od -An -c | tr -d ' ')" = '\n' ] ||
    fail "gc -p: stderr does not end with a newline: $(cat -A "$TMPD/dry-p.err")"
echo "ok: gc without a terminal: stderr empty; with -p: $(tr '\r' '\n' < "$TMPD/dry-p.err" | grep -c .) lines"

# --- --json: stdout the same with -p (but for the S3 clock's start) -----------
admin --json gc --dry-run grace=0 > "$TMPD/j1" 2>/dev/null || fail "gc --json"
admin --json -p gc --dry-run grace=0 > "$TMPD/j2" 2>"$TMPD/j2.err" || fail "gc --json -p"
[ -s "$TMPD/j2.err" ] || fail "gc --json -p: no progress on stderr"
sed 's/"started": "[^"]*"/"started": T/' "$TMPD/j1" > "$TMPD/j1.n"
sed 's/"started": "[^"]*"/"started": T/' "$TMPD/j2" > "$TMPD/j2.n"
cmp "$TMPD/j1.n" "$TMPD/j2.n" || fail "gc --json differs with -p: $(cat "$TMPD/j1" "$TMPD/j2")"
grep -q '"started": T' "$TMPD/j1.n" || fail "gc --json: no started: $(cat "$TMPD/j1")"
echo "ok: gc --json stdout unchanged by -p"

# --- gc under a terminal, without -p ----------------------------------------
in_pty gc grace=0 > "$TMPD/gc.tty" || fail "gc in a pty: $(cat -A "$TMPD/gc.tty")"
for phase in mark sweep; do
    n=$(tr '\r' '\n' < "$TMPD/gc.tty" | grep -c "^gc: $phase: [0-9,]* .*objects")
    # The first line and the final one at least, each after a \r.
    [ "$n" -ge 2 ] || fail "gc in a pty: $n $phase lines: $(cat -A "$TMPD/gc.tty")"
done
grep -q "^gc: deleted $would unreferenced" "$TMPD/gc.tty" ||
    fail "gc in a pty did not delete $would: $(cat -A "$TMPD/gc.tty")"
admin gc --dry-run grace=0 > "$TMPD/dry2" 2>&1 || fail "gc after gc: $(cat "$TMPD/dry2")"
grep -q "^gc: would delete 0 unreferenced" "$TMPD/dry2" ||
    fail "gc in a pty left garbage: $(cat "$TMPD/dry2")"
echo "ok: gc in a pty: progress of mark and sweep, deleted $would"

# --- clone --layout=log under a terminal ------------------------------------
in_pty clone --layout=log c l > "$TMPD/clone.tty" ||
    fail "clone in a pty: $(cat -A "$TMPD/clone.tty")"
n=$(tr '\r' '\n' < "$TMPD/clone.tty" | grep -c '^clone: [0-9,]* .*blocks')
[ "$n" -ge 2 ] || fail "clone in a pty: $n progress lines: $(cat -A "$TMPD/clone.tty")"
tr '\r' '\n' < "$TMPD/clone.tty" | grep -q '^clone: [0-9,]* of 2,048 blocks' ||
    fail "clone in a pty: no total: $(cat -A "$TMPD/clone.tty")"
grep -q "^l: clone of c (cas) into the log layout" "$TMPD/clone.tty" ||
    fail "clone in a pty: no report: $(cat -A "$TMPD/clone.tty")"
start_nbdkit -- export=c write-delay=0
nbdsh -c - <<PY || fail "the clone does not read as its source"
import nbd
a = nbd.NBD(); a.connect_uri("$(uri c)")
b = nbd.NBD(); b.connect_uri("$(uri l)")
for off in range(0, 8 << 20, 1 << 20):
    assert a.pread(1 << 20, off) == b.pread(1 << 20, off), off
PY
stop_nbdkit
echo "ok: clone --layout=log in a pty: $n progress lines, reads as its source"

# --- du, check and delete with -p (not a terminal) ------------------------------
start_nbdkit -- export=p size=1M write-delay=0
nbdsh -u "$(uri p)" -c 'import os; h.pwrite(os.urandom(64 << 10), 0); h.flush()'
stop_nbdkit
# progress_lines FILE: the display's lines in FILE, one a line.
progress_lines () { tr '\r' '\n' < "$1" | grep -v '^ *$' || true; }
admin --json du > "$TMPD/du1" 2> "$TMPD/du1.err" || fail "du --json: $(cat "$TMPD/du1.err")"
[ ! -s "$TMPD/du1.err" ] || fail "du without -p wrote to stderr: $(cat "$TMPD/du1.err")"
admin --json -p du > "$TMPD/du2" 2> "$TMPD/du2.err" || fail "du --json -p: $(cat "$TMPD/du2.err")"
cmp "$TMPD/du1" "$TMPD/du2" || fail "du --json differs with -p: $(cat "$TMPD/du1" "$TMPD/du2")"
progress_lines "$TMPD/du2.err" | grep -q '^du: cas: [0-9,]* pages' ||
    fail "du -p: no cas line: $(cat -A "$TMPD/du2.err")"
progress_lines "$TMPD/du2.err" | grep -q '^du: log: [0-9,]* pages' ||
    fail "du -p: no log line: $(cat -A "$TMPD/du2.err")"
echo "ok: du --json byte for byte the same with -p, which drew $(progress_lines "$TMPD/du2.err" | wc -l) lines"

admin -p check --deep > "$TMPD/check" 2> "$TMPD/check.err" ||
    fail "check -p --deep: $(cat "$TMPD/check" "$TMPD/check.err")"
for want in '^check --deep: [0-9,]* of 16 blocks read' \
            '^check: cas: [0-9,]* pages' \
            '^check: cas --deep: [0-9,]* of [0-9,]* contents read' \
            '^check: log --deep: [0-9,]* of [0-9,]* segments' \
            '^check: log: [0-9,]* pages'; do
    progress_lines "$TMPD/check.err" | grep -q "$want" ||
        fail "check -p --deep: no line like $want: $(cat -A "$TMPD/check.err")"
done
grep -q '^p: 16 blocks in the map, 16 objects listed, 0 damaged' "$TMPD/check" ||
    fail "check -p --deep: $(cat "$TMPD/check")"

admin -p delete --yes p > "$TMPD/delete" 2> "$TMPD/delete.err" ||
    fail "delete -p: $(cat "$TMPD/delete" "$TMPD/delete.err")"
progress_lines "$TMPD/delete.err" | grep -q '^delete: [0-9,]* objects' ||
    fail "delete -p: $(cat -A "$TMPD/delete.err")"
grep -q '^p: deleted 16 blocks' "$TMPD/delete" || fail "delete -p: $(cat "$TMPD/delete")"
[ "$(admin list 2>&1 | grep -c '^p ')" = 0 ] || fail "p is still listed after delete"
echo "ok: check --deep and delete --yes with -p: their lines on stderr, their reports unchanged"
