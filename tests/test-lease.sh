#!/usr/bin/env bash
# The single-writer lease: a second read-write server on the same export
# is refused with a message naming the holder; read-only serving is
# always allowed; a crashed server's stale lease is taken over only when
# asked; a server whose lease is taken over stops writing (EROFS).

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh
export EXPORT TMPD

start_s3
start_nbdkit -- "export=$EXPORT" size=8M lease-time=3s
nbdsh -u "$(uri)" -c 'h.pwrite(b"1" * 4096, 0); h.flush()'

# A second read-write server: refused, naming the holder's host and pid.
holder_pid=$(cat "$TMPD/nbdkit.pid")
run_nbdkit_expect_failure \
    "export $EXPORT is in use by another server \\(host $(hostname), pid $holder_pid" \
    $(s3_args) "export=$EXPORT"
echo "ok: a second read-write server is refused, naming the holder"

# Read-only serving is allowed while the lease is held.
nbdkit_env -r -U - "$PLUGIN" $(s3_args) "export=$EXPORT" --run "$CLEAN_ENV \
    nbdsh -u \"\$uri\" -c 'assert h.is_read_only(); assert h.pread(4096, 0) == b\"1\" * 4096'" \
    > "$TMPD/ro.log" 2>&1 || { cat "$TMPD/ro.log" >&2; fail "read-only server refused"; }
check_sanitizer_log "$TMPD/ro.log"
echo "ok: read-only serving is allowed alongside the writer"

# A crash leaves a lease behind; its holder is gone (same host, no such
# pid), so it is stale, but taken over only when asked.
kill_nbdkit
run_nbdkit_expect_failure "stale lease .*take-over-lease=true" \
    $(s3_args) "export=$EXPORT"
echo "ok: a stale lease is not taken over unasked"
start_nbdkit -- "export=$EXPORT" lease-time=3s take-over-lease=true
nbdsh -u "$(uri)" -c 'assert h.pread(4096, 0) == b"1" * 4096'
echo "ok: take-over-lease=true takes it over"

# Another server takes the lease (as take-over-lease=true would on
# another host): this one notices at its next renewal and refuses
# writes with EROFS, and leaves the other's lease alone when it stops.
cat > "$TMPD/foreign-lease" <<LEASE
s3blocks-lease 1
owner 0123456789abcdef0123456789abcdef
host elsewhere.example
pid 4242
renewed $(( $(date +%s) * 1000 ))
expires $(( ($(date +%s) + 3600) * 1000 ))
LEASE
s3util put "leases/$EXPORT" "$TMPD/foreign-lease"
nbdsh -u "$(uri)" -c - <<'PY'
import errno, nbd, time
for attempt in range(200):             # lease-time=3s: renewed every 1 s
    try:
        h.pwrite(b"2" * 4096, 8192)
        h.flush()
    except nbd.Error as e:
        # NBD has no EROFS: nbdkit sends it as EPERM.
        assert e.errnum in (errno.EROFS, errno.EPERM), "got %s" % e
        break
    time.sleep(0.1)
else:
    raise AssertionError("still writing 20 s after losing the lease")
assert h.pread(4096, 0) == b"1" * 4096, "reads go on"
print("ok: a server that lost its lease refuses writes (EROFS, EPERM on the wire)")
PY
grep -q "another server has taken over the lease (host elsewhere.example, pid 4242" \
    "$TMPD/nbdkit.log" || fail "no log line names the new holder"
stop_nbdkit
s3util get "leases/$EXPORT" "$TMPD/lease-after"
cmp -s "$TMPD/foreign-lease" "$TMPD/lease-after" ||
    fail "the server that lost its lease changed the other's lease"
echo "ok: and leaves the new holder's lease alone"
