#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# The tree's dependency rules, checked on every make check:
#
#  1. A folder's private headers (*-impl.h, *-testing.h) are included
#     only from that folder; tests/unit/ may include them (white-box
#     tests of the module).
#  2. Each lib/ layer includes only the layers below it (the table
#     below; common/ headers are included by bare name and include
#     nothing of lib/).  In particular lib/format/ does no I/O and has
#     no configuration: it includes no store or config header.
#  3. admin/ and plugin/ use lib/ through public headers only (rule 1).
#
# Prints every breach and exits 1 if there is one.

set -u
top=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
cd "$top" || exit 1

# layer -> the layers (folders under lib/) it may include
declare -A allowed=(
    [format]="format"
    [store]="format store"
    [lease]="format store lease"
    [config]="format store config"
    [cas]="format store lease cas"
    [layout]="format store lease cas layout"
    [volume]="format store layout volume"
    [export]="format store lease config cas layout volume export"
)
breaches=0
breach ()
{
    echo "check-layers: $*" >&2
    breaches=$((breaches + 1))
}

sources=$(find common lib plugin admin tests/unit -name '*.[ch]' | LC_ALL=C sort)
[ -n "$sources" ] || { echo "check-layers: no sources found under $top" >&2; exit 1; }

for f in $sources; do
    dir=$(dirname "$f")
    while IFS= read -r inc; do
        case "$inc" in
            *-impl.h|*-testing.h)
                # A private header, bare from its own folder or with
                # a folder in front: that folder must be this one.
                case "$inc" in
                    */*) incdir=lib/$(dirname "$inc") ;;
                    *)   incdir=$dir ;;
                esac
                if [ "$incdir" != "$dir" ] && [ "$dir" != tests/unit ]; then
                    breach "$f includes $inc, private to $incdir/"
                fi ;;
        esac
        case "$f" in
            common/*)
                case "$inc" in */*) breach "$f (common/) includes $inc" ;; esac ;;
            lib/*)
                layer=${f#lib/}; layer=${layer%%/*}
                case "$inc" in
                    */*)
                        target=${inc%%/*}
                        case " ${allowed[$layer]:-} " in
                            *" $target "*) ;;
                            *) breach "$f (lib/$layer) includes $inc: lib/$layer may include only ${allowed[$layer]:-nothing}" ;;
                        esac ;;
                esac ;;
        esac
    done < <(sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f")
done

if [ "$breaches" -gt 0 ]; then
    echo "check-layers: $breaches breaches" >&2
    exit 1
fi
echo "check-layers: $(echo "$sources" | wc -w) files follow the layer rules"
