#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# The Signature V4 store on Ceph RGW, a server that checks signatures
# and honours conditional PUT: a new bucket is created; a wrong secret
# and an unknown access key are refused with messages naming the key;
# every request kind works (v4-exercise.sh); conditional PUT is found
# and the lease uses it; of two servers started at the same instant on
# one export exactly one serves, 20 times.  Run by make check-rgw (it
# needs S3BLOCKS_RGW_ENV, the env file tests/rgw.sh writes).

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh nbdinfo
. "$top_srcdir/tests/v4-exercise.sh"

# --- Ceph RGW ---------------------------------------------------------
if [ -z "${S3BLOCKS_RGW_ENV:-}" ]; then
    if [ "${S3BLOCKS_NO_SKIP:-0}" = 1 ]; then
        fail "S3BLOCKS_RGW_ENV is not set (make check-rgw sets it)"
    fi
    echo "$TEST_NAME: SKIP: no RGW (make check-rgw runs this test)" >&2
    exit 77
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
# conditional PUT exactly one takes the lease, every time (20 rounds).
printf '%s\n' "$S3_SECRET_KEY" > "$TMPD/sk"
for round in $(seq 1 20); do
    race=("$PLUGIN" "endpoint=$S3_ENDPOINT" "bucket=$S3_BUCKET" signature=v4
          "access-key=$S3_ACCESS_KEY" "secret-key=+$TMPD/sk"
          "export=$EXPORT-race-$round" size=1M)
    # shellcheck disable=SC2046
    timeout 120 env $(sanitizer_env) nbdkit -f -U - "${race[@]}" \
        --run "$CLEAN_ENV sleep 2" > "$TMPD/race-a.log" 2>&1 & a=$!
    # shellcheck disable=SC2046
    timeout 120 env $(sanitizer_env) nbdkit -f -U - "${race[@]}" \
        --run "$CLEAN_ENV sleep 2" > "$TMPD/race-b.log" 2>&1 & b=$!
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

# Virtual-host style, both stores: the bucket in the host name
# (BUCKET.localhost, which curl resolves to the loopback; tests/rgw.sh
# sets "rgw dns name = localhost").
port=${S3_ENDPOINT##*:}
for sig in v2 v4; do
    vh=(endpoint="http://localhost:$port" uri-style=virtual-host
        "signature=$sig" "bucket=vhost-$sig-$$" "access-key=$S3_ACCESS_KEY"
        "secret-key=+$TMPD/sk" "export=$EXPORT-vh" size=1M)
    # shellcheck disable=SC2046
    timeout 120 env $(sanitizer_env) nbdkit -f -v -D s3blocks.requests=1 \
        -U - "$PLUGIN" "${vh[@]}" --run "$CLEAN_ENV"' nbdsh -u "$uri" -c "
h.pwrite(b\"v\" * 4096, 0)
h.flush()
assert h.pread(4096, 0) == b\"v\" * 4096
"' > "$TMPD/vh-$sig.log" 2>&1 || { cat "$TMPD/vh-$sig.log" >&2; fail "virtual-host style with signature=$sig"; }
    check_sanitizer_log "$TMPD/vh-$sig.log"
done
echo "ok: virtual-host style on RGW with both stores"
