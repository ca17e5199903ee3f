#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# An https:// endpoint: s3rver with a self-signed certificate.  libs3 2.0
# does not verify the server's certificate (see the man page's SECURITY
# notes), so this shows that TLS works, not that it authenticates.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdsh openssl

S3BLOCKS_OWN_S3=1 start_s3 --tls
case "$S3_ENDPOINT" in https://*) ;; *) fail "not an https endpoint" ;; esac
start_nbdkit -- "export=$EXPORT" size=4M
nbdsh -u "$(uri)" -c '
h.pwrite(b"tls!" * 4096, 65536)
h.flush()
'
stop_nbdkit
start_nbdkit -- "export=$EXPORT"
nbdsh -u "$(uri)" -c 'assert h.pread(16384, 65536) == b"tls!" * 4096'
[ "$(s3util count "blocks/$EXPORT/")" = 4 ] ||
    fail "expected 4 objects over https"
echo "ok: an https endpoint with a self-signed certificate works"
