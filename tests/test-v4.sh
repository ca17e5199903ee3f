#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# The Signature V4 store (signature=v4, libcurl): every kind of request
# it sends (GET, PUT, DELETE, LIST with prefix, delimiter and marker,
# odd keys in a listing) gives the same disk as the libs3 store, first
# on s3rver (which accepts any V4 signature and ignores conditional
# PUT: the probe must say so), then on Ceph RGW, which checks
# signatures and honours conditional PUT: there a new bucket is
# created, a wrong secret and an unknown access key are refused with
# messages naming the key, conditional PUT is detected, and of two
# servers started at the same instant on one export exactly one serves.
#
# RGW: S3BLOCKS_RGW_ENV names the env file tests/rgw.sh writes
# (S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY).  Without it that part is
# skipped on a developer machine, and fails with S3BLOCKS_NO_SKIP=1.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh nbdinfo

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
}

# --- s3rver -----------------------------------------------------------
S3BLOCKS_OWN_S3=1 start_s3
exercise s3rver
grep -q "does not honour conditional PUT" "$TMPD/nbdkit.log" ||
    fail "s3rver ignores conditional PUT, but the probe did not say so"
echo "ok: the V4 store on s3rver"
stop_s3
: > "$TMPD/nbdkit.log"

# --- Ceph RGW ---------------------------------------------------------
if [ -z "${S3BLOCKS_RGW_ENV:-}" ]; then
    if [ "${S3BLOCKS_NO_SKIP:-0}" = 1 ]; then
        fail "S3BLOCKS_RGW_ENV is not set (tests/rgw.sh start DIR writes DIR/env)"
    fi
    echo "$TEST_NAME: SKIP: the RGW part (S3BLOCKS_RGW_ENV is not set)" >&2
    exit 0
fi
[ -r "$S3BLOCKS_RGW_ENV" ] || fail "cannot read S3BLOCKS_RGW_ENV=$S3BLOCKS_RGW_ENV"
# shellcheck disable=SC1090
. "$S3BLOCKS_RGW_ENV"
# A bucket of its own: its creation is one of the requests tested.
S3_BUCKET="v4-$(printf '%s' "$EXPORT" | tr -c 'a-z0-9\n' '-' | cut -c1-40)"
export S3_ENDPOINT S3_ACCESS_KEY S3_SECRET_KEY S3_BUCKET

printf 'wrong-secret\n' > "$TMPD/wrong"
run_nbdkit_expect_failure "SignatureDoesNotMatch.*secret-key" \
    "endpoint=$S3_ENDPOINT" "bucket=$S3_BUCKET" signature=v4 \
    "access-key=$S3_ACCESS_KEY" "secret-key=+$TMPD/wrong" size=1M
run_nbdkit_expect_failure "InvalidAccessKeyId.*access-key" \
    "endpoint=$S3_ENDPOINT" "bucket=$S3_BUCKET" signature=v4 \
    access-key=NOSUCHKEY "secret-key=+$TMPD/wrong" size=1M

exercise rgw
grep -q "created bucket $S3_BUCKET" "$TMPD/nbdkit.log" ||
    fail "bucket $S3_BUCKET was not created"
grep -q "honours conditional PUT" "$TMPD/nbdkit.log" ||
    fail "RGW honours conditional PUT, but the probe did not find it"
grep -q "taken and renewed with conditional PUT" "$TMPD/nbdkit.log" ||
    fail "the lease does not use conditional PUT on RGW"
# Two servers started at the same instant on one export: with
# conditional PUT exactly one takes the lease, every time.
printf '%s\n' "$S3_SECRET_KEY" > "$TMPD/sk"
for round in 1 2 3 4 5; do
    race=("$PLUGIN" "endpoint=$S3_ENDPOINT" "bucket=$S3_BUCKET" signature=v4
          "access-key=$S3_ACCESS_KEY" "secret-key=+$TMPD/sk"
          "export=$EXPORT-race-$round" size=1M)
    # shellcheck disable=SC2046
    timeout 120 env $(sanitizer_env) nbdkit -f -U - "${race[@]}" \
        --run 'sleep 2' > "$TMPD/race-a.log" 2>&1 & a=$!
    # shellcheck disable=SC2046
    timeout 120 env $(sanitizer_env) nbdkit -f -U - "${race[@]}" \
        --run 'sleep 2' > "$TMPD/race-b.log" 2>&1 & b=$!
    ra=0 rb=0
    wait "$a" || ra=$?
    wait "$b" || rb=$?
    served=$(( (ra == 0) + (rb == 0) ))
    [ "$served" = 1 ] ||
        fail "race $round: $served of 2 servers started (exit $ra, $rb)"
    grep -q "in use by another server" "$TMPD/race-a.log" "$TMPD/race-b.log" ||
        fail "race $round: the loser did not say the export is in use"
done

echo "ok: the V4 store on RGW: signatures checked, bucket created, conditional PUT"
