#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# Startup refuses, with a message saying why, what cannot work: an
# endpoint where nothing listens, credentials the server refuses (a
# strict s3rver checking signatures), export metadata that does not fit
# the configuration.  A missing bucket is created.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

# An endpoint with nothing listening: a port s3rver had a moment ago.
S3BLOCKS_OWN_S3=1 start_s3
dead_port=$S3_PORT
stop_s3
run_nbdkit_expect_failure \
    "cannot reach the S3 endpoint http://127.0.0.1:$dead_port" \
    "endpoint=http://127.0.0.1:$dead_port" size=1M retry-delay=10ms
echo "ok: unreachable endpoint refused at startup"

# Wrong credentials, against an s3rver that checks signatures.
S3BLOCKS_OWN_S3=1 start_s3 --strict
run_nbdkit_expect_failure "refused the credentials .*SignatureDoesNotMatch" \
    "endpoint=$S3_ENDPOINT" access-key=S3RVER secret-key=wrong size=1M
run_nbdkit_expect_failure "refused the credentials .*InvalidAccessKeyId" \
    "endpoint=$S3_ENDPOINT" access-key=nobody secret-key=S3RVER size=1M
echo "ok: wrong credentials refused at startup"
stop_s3

start_s3
# A missing bucket is created.
bucket="s3blocks-new-$$"
start_nbdkit -- "export=$EXPORT" size=1M
stop_nbdkit
S3_BUCKET=$bucket start_nbdkit -- "export=$EXPORT" size=1M
stop_nbdkit
S3_BUCKET=$bucket s3util ls "exports/" | grep -q "^exports/$EXPORT " ||
    fail "the new bucket does not hold the export's metadata"
echo "ok: a missing bucket is created"

# The export's recorded geometry against the configuration.
run_nbdkit_expect_failure "export $EXPORT-x does not exist: give size=" \
    $(s3_args) "export=$EXPORT-x"
run_nbdkit_expect_failure "export $EXPORT-x does not exist, and create=false" \
    $(s3_args) "export=$EXPORT-x" size=1M create=false
run_nbdkit_expect_failure "created with block-size=4096; block-size=65536" \
    $(s3_args) "export=$EXPORT" block-size=64K
run_nbdkit_expect_failure "has size 1048576; size=524288 would shrink it" \
    $(s3_args) "export=$EXPORT" size=512K
echo "ok: geometry conflicts refused"

# Growing is recorded; shrinking with shrink=true too.
start_nbdkit -- "export=$EXPORT" size=2M
[ "$(nbdinfo --size "$(uri)")" = 2097152 ] || fail "export did not grow"
stop_nbdkit
start_nbdkit -- "export=$EXPORT"
[ "$(nbdinfo --size "$(uri)")" = 2097152 ] || fail "growth not recorded"
stop_nbdkit
start_nbdkit -- "export=$EXPORT" size=1M shrink=true
stop_nbdkit
start_nbdkit -- "export=$EXPORT"
[ "$(nbdinfo --size "$(uri)")" = 1048576 ] || fail "shrink not recorded"
stop_nbdkit
echo "ok: growing and shrinking are recorded"

# Malformed metadata is refused rather than guessed at.
printf 'not metadata\n' > "$TMPD/meta"
s3util put "exports/$EXPORT" "$TMPD/meta"
run_nbdkit_expect_failure "metadata object exports/$EXPORT is malformed" \
    $(s3_args) "export=$EXPORT" size=1M
echo "ok: malformed metadata refused"
