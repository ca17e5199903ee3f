#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# An https:// endpoint (s3rver with a self-signed certificate), and the
# TLS rules: no silent unauthenticated TLS.
#  - signature=v4 verifies the certificate: with ca-file= naming the
#    test certificate it works; without, it is refused as untrusted,
#    with a message naming ca-file= and tls-verify=.
#  - signature=v2 (libs3) cannot verify: refused unless
#    tls-verify=false, which works with a warning in the log.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh openssl

S3BLOCKS_OWN_S3=1 start_s3 --tls
case "$S3_ENDPOINT" in https://*) ;; *) fail "not an https endpoint" ;; esac
printf '%s\n' "$S3_SECRET_KEY" > "$TMPD/sk"
conn=("endpoint=$S3_ENDPOINT" "bucket=$S3_BUCKET"
      "access-key=$S3_ACCESS_KEY" "secret-key=+$TMPD/sk")

# V4 (the default for https://) without the CA: untrusted.
run_nbdkit_expect_failure "could not be verified.*ca-file=.*tls-verify=false" \
    "${conn[@]}" "export=$EXPORT" size=4M
# V2 without tls-verify=false: refused, saying why and what to use.
run_nbdkit_expect_failure "cannot verify.*signature=v4.*tls-verify=false" \
    "${conn[@]}" signature=v2 "export=$EXPORT" size=4M

# V4 with ca-file=: verified.
start_nbdkit -- "export=$EXPORT" size=4M "ca-file=$TMPD/tls.crt"
grep -q "store: curl (signature=v4)" "$TMPD/nbdkit.log" ||
    fail "https:// did not default to signature=v4"
nbdsh -u "$(uri)" -c '
h.pwrite(b"tls!" * 4096, 65536)
h.flush()
'
stop_nbdkit
if grep -q "warning" "$TMPD/nbdkit.log"; then
    fail "a warning with verified TLS"
fi

# V2 with tls-verify=false: works, with a warning.
: > "$TMPD/nbdkit.log"
start_nbdkit -- "export=$EXPORT" signature=v2 tls-verify=false
nbdsh -u "$(uri)" -c 'assert h.pread(16384, 65536) == b"tls!" * 4096'
stop_nbdkit
grep -q "warning:.*tls-verify=false.*not verified" "$TMPD/nbdkit.log" ||
    fail "no warning for signature=v2 with tls-verify=false"
[ "$(s3util count "blocks/$EXPORT/")" = 4 ] ||
    fail "expected 4 objects over https"
echo "ok: https: v4 verifies (ca-file=), v2 only with tls-verify=false"
