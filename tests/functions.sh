# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# s3blocks integration tests: shared helpers.  Source it first thing:
#
#   . "${top_srcdir:-..}/tests/functions.sh"
#
# Each test gets a temporary directory, its own S3 server (s3rver on a
# free 127.0.0.1 port) or the server named in the environment, its own
# export name, and cleanup of everything it started, whatever happens.
#
# Testing against another S3 server (MinIO, moto, ...):
#   S3BLOCKS_TEST_ENDPOINT=http://127.0.0.1:9000
#   S3BLOCKS_TEST_ACCESS_KEY=minioadmin S3BLOCKS_TEST_SECRET_KEY=minioadmin
#   S3BLOCKS_TEST_BUCKET=s3blocks-test          (a prefix: each test
#                                               creates, then removes,
#                                               its own bucket PREFIX-NAME-PID)
# Tests that must stop and restart the server, or need a strict or TLS
# instance, start their own s3rver for that part.
#
# Testing against Ceph RGW (make check-rgw does this):
#   S3BLOCKS_TEST_SERVER=rgw S3BLOCKS_RGW_ENV=DIR/env
# where DIR/env was written by "tests/rgw.sh start DIR".  Each test gets
# its own bucket, s3blocks-TESTNAME.  A test that needs s3rver's own
# features (start_s3 --strict/--tls/--faults/--requests/--port, or its
# own server) fails there: it does not belong in RGW_TESTS.
#
# S3BLOCKS_TEST_KEYS="signature=v4 ..." adds plugin keys to every
# start_nbdkit, e.g. to run the suite with the other store.
#
# S3BLOCKS_NO_SKIP=1 (CI sets it) turns a missing tool into a failure.

set -e
set -u

: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
: "${PLUGIN:=$top_builddir/plugin/.libs/nbdkit-s3blocks-plugin.so}"
: "${SANITIZERS:=no}"
export top_srcdir top_builddir PLUGIN

# nbdsh runs "python3 -m nbd", which only Debian's python3 can import.
export PATH="/usr/bin:/usr/sbin:/bin:/sbin:$PATH"
# Tests import shared modules from the source tree (gcloop.py), which
# may be read-only (make distcheck): no __pycache__ beside them.
export PYTHONDONTWRITEBYTECODE=1

TEST_NAME=$(basename "$0" .sh)
TEST_STARTED=$SECONDS
TMPD=$(mktemp -d "/tmp/s3blocks-$TEST_NAME.XXXXXX")
EXPORT="$TEST_NAME-$$"

# Bounds for every wait in the tests.
WAIT_STEPS=300          # x 0.1 s
NBDKIT_STOP_STEPS=600   # x 0.1 s: a final flush may take a while

_cleanups=()
on_exit ()
{
    _cleanups+=("$*")
}
_run_cleanups ()
{
    local status=$? i
    set +e
    for (( i=${#_cleanups[@]}-1; i>=0; i-- )); do
        eval "${_cleanups[$i]}"
    done
    if [ "$status" -ne 0 ] && [ "$status" -ne 77 ]; then
        echo "$TEST_NAME: FAILED (exit $status); logs follow" >&2
        for f in "$TMPD"/*.log; do
            [ -f "$f" ] || continue
            # The last lines may be the exit's; the errors say why.
            if grep -q "error:" "$f"; then
                echo "--- $f (its last 10 errors)" >&2
                grep "error:" "$f" | tail -n 10 >&2
            fi
            echo "--- $f (last 40 lines)" >&2
            tail -n 40 "$f" >&2
        done
    fi
    rm -rf "$TMPD"
    # For the suite's budget: which tests cost the time.
    echo "$TEST_NAME: took $(( SECONDS - TEST_STARTED )) s"
    exit "$status"
}
trap _run_cleanups EXIT
trap 'exit 130' INT TERM

fail ()
{
    echo "$TEST_NAME: FAIL: $*" >&2
    exit 1
}

# requires TOOL...: skip (77) on a developer machine without it, fail in CI.
requires ()
{
    local t
    for t in "$@"; do
        if ! command -v "$t" >/dev/null 2>&1; then
            if [ "${S3BLOCKS_NO_SKIP:-0}" = 1 ]; then
                fail "required tool $t is not installed"
            fi
            echo "$TEST_NAME: SKIP: $t is not installed" >&2
            exit 77
        fi
    done
}

requires nbdkit node

# Wait until a command succeeds, bounded: wait_for DESCRIPTION CMD...
wait_for ()
{
    local what=$1 i
    shift
    for (( i=0; i<WAIT_STEPS; i++ )); do
        if "$@" >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    fail "timed out waiting for $what"
}

# --- The S3 server ---------------------------------------------------

S3_PID=
S3_PORT=

# start_s3 [--strict] [--tls] [--faults] [--requests] [--port N] [--dir DIR]
# Sets S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_BUCKET.
# --faults: inject_faults (below) makes the server answer with errors.
# --requests: every request is logged to $TMPD/requests (METHOD URL).
start_s3 ()
{
    local strict= tls= faults= requests= port=0 dir="$TMPD/s3data" portfile="$TMPD/s3.port"
    local argv="$*"
    while [ $# -gt 0 ]; do
        case "$1" in
            --strict) strict=--strict ;;
            --tls) tls=yes ;;
            --faults) faults=yes ;;
            --requests) requests=yes ;;
            --port) port=$2; shift ;;
            --dir) dir=$2; shift ;;
            *) fail "start_s3: unknown option $1" ;;
        esac
        shift
    done

    case "${S3BLOCKS_TEST_SERVER:-s3rver}" in
        s3rver) ;;
        rgw)
            if [ -n "$strict$tls$faults$requests" ] || [ "$port" != 0 ] ||
               [ "${S3BLOCKS_OWN_S3:-0}" = 1 ]; then
                fail "start_s3 $argv (S3BLOCKS_OWN_S3=${S3BLOCKS_OWN_S3:-0}): this test needs s3rver, not RGW"
            fi
            [ -r "${S3BLOCKS_RGW_ENV:-}" ] ||
                fail "S3BLOCKS_TEST_SERVER=rgw needs S3BLOCKS_RGW_ENV (tests/rgw.sh start DIR writes DIR/env)"
            S3_ENDPOINT=$(sed -n 's/^S3_ENDPOINT=//p' "$S3BLOCKS_RGW_ENV")
            S3_ACCESS_KEY=$(sed -n 's/^S3_ACCESS_KEY=//p' "$S3BLOCKS_RGW_ENV")
            S3_SECRET_KEY=$(sed -n 's/^S3_SECRET_KEY=//p' "$S3BLOCKS_RGW_ENV")
            S3_BUCKET=s3blocks-$TEST_NAME
            export S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY S3_BUCKET
            echo "start_s3: Ceph RGW at $S3_ENDPOINT, bucket $S3_BUCKET" >&2
            return 0
            ;;
        *) fail "S3BLOCKS_TEST_SERVER=$S3BLOCKS_TEST_SERVER: expected s3rver or rgw" ;;
    esac

    if [ -n "${S3BLOCKS_TEST_ENDPOINT:-}" ] && [ -z "$strict$tls$faults$requests" ] &&
       [ "$port" = 0 ] && [ "${S3BLOCKS_OWN_S3:-0}" != 1 ]; then
        S3_ENDPOINT=$S3BLOCKS_TEST_ENDPOINT
        S3_ACCESS_KEY=${S3BLOCKS_TEST_ACCESS_KEY:-minioadmin}
        S3_SECRET_KEY=${S3BLOCKS_TEST_SECRET_KEY:-minioadmin}
        export S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY
        make_test_bucket
        echo "start_s3: the S3 server at $S3_ENDPOINT, bucket $S3_BUCKET (this test's own)" >&2
        return 0
    fi

    local args=(--dir "$dir" --port-file "$portfile" --port "$port")
    [ -n "$strict" ] && args+=(--strict)
    [ -n "$faults" ] && args+=(--faults "$TMPD/faults")
    [ -n "$requests" ] && args+=(--requests "$TMPD/requests")
    if [ -n "$tls" ]; then
        requires openssl
        if [ ! -f "$TMPD/tls.key" ]; then
            openssl req -x509 -newkey rsa:2048 -nodes -days 1 \
                -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
                -keyout "$TMPD/tls.key" \
                -out "$TMPD/tls.crt" >/dev/null 2>&1 ||
                fail "cannot make a self-signed certificate"
        fi
        args+=(--key "$TMPD/tls.key" --cert "$TMPD/tls.crt")
    fi
    mkdir -p "$dir"
    rm -f "$portfile"
    node "$top_srcdir/tests/s3server.js" "${args[@]}" \
         >>"$TMPD/s3rver.log" 2>&1 &
    S3_PID=$!
    on_exit "stop_s3"
    local i
    for (( i=0; i<WAIT_STEPS; i++ )); do
        [ -s "$portfile" ] && break
        kill -0 "$S3_PID" 2>/dev/null || fail "s3rver exited at startup"
        sleep 0.1
    done
    [ -s "$portfile" ] || fail "s3rver did not start"
    S3_PORT=$(sed 's/.*://' "$portfile")
    if [ -n "$tls" ]; then
        S3_ENDPOINT="https://$(cat "$portfile")"
    else
        S3_ENDPOINT="http://$(cat "$portfile")"
    fi
    S3_ACCESS_KEY=S3RVER
    S3_SECRET_KEY=S3RVER
    S3_BUCKET=nbd-storage
    S3_DIR=$dir
    echo "start_s3: s3rver at $S3_ENDPOINT" >&2
    export S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY S3_BUCKET
}

# On a server the user names, each test makes a bucket of its own,
# S3BLOCKS_TEST_BUCKET-NAME-PID, so that tests which count objects or
# run gc see only their own; it is emptied and removed at exit, and
# only because this test created it: a bucket that already exists is
# refused, never used (nor emptied).
TEST_BUCKET_CREATED=
make_test_bucket ()
{
    if [ -n "$TEST_BUCKET_CREATED" ]; then
        S3_BUCKET=$TEST_BUCKET_CREATED
        export S3_BUCKET
        return 0
    fi
    S3_BUCKET="${S3BLOCKS_TEST_BUCKET:-s3blocks-test}-${TEST_NAME#test-}-$$"
    export S3_BUCKET
    [ ${#S3_BUCKET} -le 63 ] ||
        fail "bucket name $S3_BUCKET is over 63 characters: shorten S3BLOCKS_TEST_BUCKET"
    s3util mkbucket ||
        fail "cannot create this test's bucket $S3_BUCKET at $S3_ENDPOINT"
    TEST_BUCKET_CREATED=$S3_BUCKET
    on_exit "remove_test_bucket"
}

remove_test_bucket ()
{
    [ -n "$TEST_BUCKET_CREATED" ] || return 0
    S3_BUCKET=$TEST_BUCKET_CREATED s3util rmbucket >/dev/null ||
        echo "$TEST_NAME: could not remove its bucket $TEST_BUCKET_CREATED" >&2
    TEST_BUCKET_CREATED=
}

# inject_faults STATUS COUNT SUBSTRING [SKIP]: the next COUNT requests
# whose path contains SUBSTRING get HTTP STATUS, after SKIP of them went
# through; STATUS hang leaves them unanswered, STATUS cut sends half
# the real answer then drops the connection (needs start_s3 --faults).
inject_faults ()
{
    echo "$1 $2 $3 ${4:-0}" > "$TMPD/faults.tmp"
    mv "$TMPD/faults.tmp" "$TMPD/faults"
}

# How many injected faults are still to come.
faults_left ()
{
    awk '{ print $2 }' "$TMPD/faults"
}

stop_s3 ()
{
    local i
    [ -n "$S3_PID" ] || return 0
    kill "$S3_PID" 2>/dev/null || true
    for (( i=0; i<WAIT_STEPS; i++ )); do
        kill -0 "$S3_PID" 2>/dev/null || break
        sleep 0.1
    done
    kill -9 "$S3_PID" 2>/dev/null || true
    wait "$S3_PID" 2>/dev/null || true
    S3_PID=
}

# The bucket seen by an independent client (boto3).
s3util ()
{
    /usr/bin/python3 "$top_srcdir/tests/s3util.py" "$@"
}

# A test that counts or collects over the whole bucket starts from an
# empty one on RGW, whose bucket outlives a pass (s3rver's is new).
empty_bucket_on_rgw ()
{
    if [ "${S3BLOCKS_TEST_SERVER:-s3rver}" = rgw ]; then
        echo "emptied the bucket: $(s3util empty) objects"
    fi
}

# The gc tests (test-cas-gc.sh, test-log-gc.sh, test-log-gc-clones.sh,
# test-log-model-gc.sh) run the admin command beside their servers,
# from the shell and from tests/gcloop.py, and count or collect over
# the whole bucket: the admin command built, the server started with
# an empty bucket on RGW, and ADMIN, S3ARGS and what gcloop.py and the
# tests' Python read exported.
start_s3_for_gc ()
{
    ADMIN=$top_builddir/admin/s3blocks
    [ -x "$ADMIN" ] || fail "$ADMIN not built"
    start_s3
    empty_bucket_on_rgw
    S3ARGS="$(s3_args) ${S3BLOCKS_TEST_KEYS:-}"
    export ADMIN TMPD SOCK top_srcdir S3ARGS
}

# --- nbdkit ----------------------------------------------------------

NBDKIT_PID=
SOCK="$TMPD/nbd.sock"
SECRET_FILE="$TMPD/secret"

# Extra environment for nbdkit when the plugin is built with ASan/UBSan.
# nbdkit itself is not instrumented, so the runtime is preloaded; so is
# the plugin, so that nbdkit's dlclose at exit does not unmap it (and
# libs3, libcurl...) before LeakSanitizer looks: memory referenced only
# from an unmapped library would be reported as leaked, without symbols.
# Only nbdkit gets this environment (not "timeout"); a --run command
# inherits it from nbdkit, so it starts with $CLEAN_ENV.
CLEAN_ENV="env -u LD_PRELOAD -u ASAN_OPTIONS -u LSAN_OPTIONS -u UBSAN_OPTIONS"
sanitizer_env ()
{
    if [ "$SANITIZERS" = yes ]; then
        echo "LD_PRELOAD=$(gcc -print-file-name=libasan.so):$PLUGIN"
        echo "ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:exitcode=86"
        echo "LSAN_OPTIONS=exitcode=0"   # check_sanitizer_log judges leaks
        echo "UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1"
    fi
}

# A sanitizer report in a log is a failure, with one exception: when
# SIGTERM arrives while a client is connected, nbdkit 1.32 skips .close
# for it ("the main thread will be unloading the plugin") and leaks its
# own connection context, and with it our handle.  Leaks whose direct
# allocation is nbdkit's own are nbdkit's; any other leak, and every
# ASan or UBSan error, fails.
check_sanitizer_log ()
{
    local log=$1
    if grep -E 'ERROR: AddressSanitizer|runtime error:|does not come first' \
            "$log" >&2; then
        fail "sanitizer report in $log"
    fi
    if ! awk '/^Direct leak of/ {
                  getline; getline
                  if ($0 !~ /\(\/usr\/s?bin\/nbdkit\+0x/) { bad = 1; print }
              }
              END { exit bad }' "$log" >&2; then
        grep -A12 'leak of' "$log" >&2
        fail "LeakSanitizer report in $log"
    fi
}

# nbdkit with the sanitizer environment, for one-off commands.
nbdkit_env ()
{
    # shellcheck disable=SC2046
    env $(sanitizer_env) nbdkit "$@"
}

# The plugin's connection arguments, secret passed as +FILE.  The file
# is replaced by a rename, never truncated in place: an admin command
# running beside (gcloop.py) may read it while a server restarts, and
# would read an empty secret.
s3_args ()
{
    local tmp
    tmp=$(mktemp "$SECRET_FILE.XXXXXX")
    printf '%s\n' "$S3_SECRET_KEY" > "$tmp"
    mv -f "$tmp" "$SECRET_FILE"
    echo "endpoint=$S3_ENDPOINT" "bucket=$S3_BUCKET" \
         "access-key=$S3_ACCESS_KEY" "secret-key=+$SECRET_FILE"
}

# range_check [KEY=VALUE...]: ranged GETs against the current server
# with the store the keys select (tests/range-check.c), a few requests.
# On our own s3rver its "bytes=0-0" quirk is expected (range-check.c).
range_check ()
{
    local quirk= log="$TMPD/range-check.log"
    [ -n "$S3_PID" ] && quirk=--s3rver
    # shellcheck disable=SC2046
    "$top_builddir/tests/range-check" $quirk $(s3_args) "$@" >"$log" 2>&1 ||
        { cat "$log" >&2; fail "range-check $*"; }
    check_sanitizer_log "$log"
    cat "$log"
}

# start_nbdkit [nbdkit options] -- [plugin keys]: serve on $SOCK.
start_nbdkit ()
{
    local opts=() keys=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    [ $# -gt 0 ] && shift
    keys=("$@")
    local pidfile="$TMPD/nbdkit.pid" log="$TMPD/nbdkit.log" i
    rm -f "$pidfile" "$SOCK"
    # shellcheck disable=SC2046
    env $(sanitizer_env) nbdkit -f -v -U "$SOCK" -P "$pidfile" "${opts[@]}" \
        "$PLUGIN" $(s3_args) ${S3BLOCKS_TEST_KEYS:-} "${keys[@]}" >>"$log" 2>&1 &
    NBDKIT_PID=$!
    on_exit "stop_nbdkit"
    for (( i=0; i<WAIT_STEPS; i++ )); do
        [ -s "$pidfile" ] && [ -S "$SOCK" ] && return 0
        if ! kill -0 "$NBDKIT_PID" 2>/dev/null; then
            wait "$NBDKIT_PID" 2>/dev/null || true
            NBDKIT_PID=
            fail "nbdkit exited at startup"
        fi
        sleep 0.1
    done
    fail "nbdkit did not start"
}

# Stop nbdkit with SIGTERM (it flushes what is dirty) and check its
# exit and its log.
stop_nbdkit ()
{
    local i status=0
    [ -n "$NBDKIT_PID" ] || return 0
    kill -TERM "$NBDKIT_PID" 2>/dev/null || true
    for (( i=0; i<NBDKIT_STOP_STEPS; i++ )); do
        kill -0 "$NBDKIT_PID" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$NBDKIT_PID" 2>/dev/null; then
        kill -9 "$NBDKIT_PID" 2>/dev/null || true
        NBDKIT_PID=
        fail "nbdkit did not stop within $((NBDKIT_STOP_STEPS / 10)) s"
    fi
    wait "$NBDKIT_PID" 2>/dev/null || status=$?
    NBDKIT_PID=
    check_sanitizer_log "$TMPD/nbdkit.log"
    [ "$status" -eq 0 ] || fail "nbdkit exited with status $status"
}

# SIGKILL: a crash, nothing flushed, nothing cleaned up.
kill_nbdkit ()
{
    [ -n "$NBDKIT_PID" ] || return 0
    kill -9 "$NBDKIT_PID" 2>/dev/null || true
    wait "$NBDKIT_PID" 2>/dev/null || true
    NBDKIT_PID=
}

uri ()
{
    echo "nbd+unix:///${1-$EXPORT}?socket=$SOCK"   # "" names no export
}

# The model tests (test-model.sh, test-log-model-gc.sh), with
# tests/model.py and its shadow copy STATE.
# model_crash NAME STATE SEED SECONDS: a random workload (400 ops from
# SEED) on export NAME, and nbdkit SIGKILLed after SECONDS, mid-way.
model_crash ()
{
    local client
    /usr/bin/python3 "$top_srcdir/tests/model.py" run "$(uri "$1")" "$2" \
        "$3" 400 > "$TMPD/model-run.log" 2>&1 &
    client=$!
    sleep "$4"
    kill_nbdkit
    wait "$client" 2>/dev/null || true
}
# model_check check|check-exact NAME STATE: every block of NAME reads
# as the shadow allows (model.py's exit status).
model_check ()
{
    /usr/bin/python3 "$top_srcdir/tests/model.py" "$1" "$(uri "$2")" "$3"
}

# run_nbdkit_expect_failure PATTERN [keys...]: nbdkit must refuse to
# start, and say something matching PATTERN (grep -E).
run_nbdkit_expect_failure ()
{
    local pattern=$1 log="$TMPD/refused.log" status=0
    shift
    # shellcheck disable=SC2046
    timeout 120 env $(sanitizer_env) nbdkit -f -U - "$PLUGIN" "$@" \
        --run 'true' >"$log" 2>&1 || status=$?
    if [ "$status" -eq 0 ]; then
        cat "$log" >&2
        fail "nbdkit started with: $*"
    fi
    if [ "$status" -eq 124 ]; then
        fail "nbdkit hung instead of refusing: $*"
    fi
    if ! grep -qE -- "$pattern" "$log"; then
        cat "$log" >&2
        fail "nbdkit refused ($*) without saying /$pattern/"
    fi
    check_sanitizer_log "$log"
}
