#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# Bad configuration is refused at startup with a message naming the key;
# --help lists every key; the secret never appears in any output.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"

# No S3 server is needed: all of these fail before any request.
refuse ()
{
    run_nbdkit_expect_failure "$@"
    echo "ok: refused ${*:2}"
}

refuse 'unknown parameter "sise"' sise=1G
refuse 'size: given more than once' size=1G size=2G
refuse 'export: invalid export name' 'export=../x'
refuse 'export: invalid export name' 'export=a/b'
refuse 'export: invalid export name' 'export='
refuse 'export: invalid export name' 'export=..'
refuse 'export: invalid export name' "export=$(printf 'a%.0s' $(seq 1 129))"
refuse 'exports: unexpected character' 'exports=a/b'
refuse 'create: expected true or false' create=perhaps
refuse 'endpoint: .* must start with http:// or https://' endpoint=localhost:9000
refuse 'endpoint: .*port must be' endpoint=http://localhost:99999
refuse 'endpoint: .*without a path' endpoint=http://localhost:9000/bucket
refuse 'bucket: invalid bucket name' bucket=Bad_Bucket
refuse 'access-key: must not be empty' access-key=
refuse 'secret-key: could not read' secret-key=+/nonexistent/secret
refuse 'region: invalid region' 'region=us east'
refuse 'size: cannot parse size' size=lots
refuse 'size: .* out of range' size=0
refuse 'block-size: .* not a power of 2' block-size=5000
refuse 'block-size: .* out of range' block-size=2M
refuse 'uri-style: expected path or virtual-host' uri-style=vhost
refuse 'max-dirty: cannot parse size' max-dirty=much
refuse 'cache-size: cannot parse size' cache-size=-1
refuse 'max-requests: .* out of range' max-requests=0
refuse 'retries: .* out of range' retries=1000
refuse 'retry-delay: cannot parse duration' retry-delay=soon
refuse 'timeout: .* out of range' timeout=1ms
refuse 'shrink: expected true or false' shrink=2
refuse 'lease-time: .* out of range' lease-time=10ms
refuse 'take-over-lease: expected true or false' take-over-lease=x
refuse 'write-delay: cannot parse duration' write-delay=later
refuse 'rebuild-map: expected true or false' rebuild-map=sometimes
refuse 'virtual-host needs a DNS name' uri-style=virtual-host \
       endpoint=http://127.0.0.1:9000
refuse 'max-dirty .* must be at least block-size' block-size=64K max-dirty=4K
refuse 'export=dev is not allowed by exports=vm' export=dev 'exports=vm*'

# --help lists every key.
nbdkit_env "$PLUGIN" --help > "$TMPD/help.txt"
for key in export exports create endpoint bucket access-key secret-key \
           region size block-size uri-style max-dirty cache-size \
           max-requests retries retry-delay timeout shrink lease-time \
           take-over-lease write-delay rebuild-map; do
    grep -q "^$key=" "$TMPD/help.txt" || fail "--help does not list $key"
done
echo "ok: --help lists every key"

# The secret never appears: not with -v and every debug flag, not in
# --dump-plugin, not in error messages.
secret="NotInAnyLog-$$-x7"
printf '%s\n' "$secret" > "$TMPD/secret.txt"
nbdkit_env "$PLUGIN" --dump-plugin "secret-key=+$TMPD/secret.txt" \
    > "$TMPD/dump.txt" 2>&1
grep -q '^s3blocks_bucket=nbd-storage' "$TMPD/dump.txt" ||
    fail "--dump-plugin does not show the configuration"
timeout 60 env $(sanitizer_env) nbdkit -v -D s3blocks.requests=1 -f -U - "$PLUGIN" \
    endpoint=http://127.0.0.1:9 retries=0 "secret-key=+$TMPD/secret.txt" \
    size=1M --run true > "$TMPD/verbose.txt" 2>&1 || true
grep -q 'cannot reach the S3 endpoint' "$TMPD/verbose.txt" ||
    fail "expected a connection error in the verbose run"
check_sanitizer_log "$TMPD/dump.txt"
check_sanitizer_log "$TMPD/verbose.txt"
if grep -l -- "$secret" "$TMPD/dump.txt" "$TMPD/verbose.txt" "$TMPD"/*.log \
        2>/dev/null; then
    fail "the secret key appears in the output"
fi
echo "ok: the secret key appears in no output"
