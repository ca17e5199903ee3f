#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# The Signature V4 store (signature=v4, libcurl) on s3rver: every kind
# of request it sends (GET, PUT, DELETE, LIST with prefix, delimiter
# and marker, odd keys in a listing) gives the same disk as the libs3
# store, ranged GETs give the bytes asked for (range-check), and the
# probe finds that s3rver ignores conditional PUT.
# test-rgw-v4.sh does the same on Ceph RGW, which checks signatures.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh nbdinfo

. "$top_srcdir/tests/v4-exercise.sh"

# --- s3rver -----------------------------------------------------------
S3BLOCKS_OWN_S3=1 start_s3
exercise s3rver
grep -q "does not honour conditional PUT" "$TMPD/nbdkit.log" ||
    fail "s3rver ignores conditional PUT, but the probe did not say so"
echo "ok: the V4 store on s3rver"
stop_s3

