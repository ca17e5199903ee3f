#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# No text cites a file that does not exist.  In every *.c, *.h, *.sh,
# *.md and *.pod file of the tree (not node_modules, not build
# output), outside #include lines and URLs, each citation
#   of a document, docs/ then a name ending .md: must exist at the top;
#   of a path with a folder, ending .c or .h: must be a file of the
#     tree, named from the top or by the tail of its path (as lib/'s
#     include path names lib/cas/ files: cas/ then the name);
#   of a bare file name ending .c or .h: must be the name of some file
#     of the tree, or a header of another project (EXTERNAL, below).
# Usage: tests/check-references.sh [TOP]   (default: this script's ..)
# Exit 0 when every citation resolves, else 1 after listing those that
# do not, one "file:line: cited does not exist" a line.

set -e
top=${1:-$(dirname "$0")/..}
cd "$top"

# Headers of other projects and of the build, cited by their names.
EXTERNAL=' config.h nbdkit-plugin.h nbdkit-filter.h libs3.h curl.h '

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The tree: git's files (tracked, or new and not ignored) in a
# checkout; elsewhere (a release tarball) every file but build output.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files --cached --others --exclude-standard
else
    find . \( -name node_modules -o -name .git -o -name autom4te.cache \
              -o -name build-aux -o -name .deps -o -name .libs \
              -o -name coverage \) -prune \
         -o -type f -print | sed 's|^\./||' | grep -vx 'config[.]h'
fi | grep -v '^node_modules/' | sort -u >"$tmp/files"
grep -E '\.(c|h|sh|md|pod)$' "$tmp/files" >"$tmp/sources" || true

# file:line:token for every citation (awk: no \b in POSIX EREs, so the
# characters around a match are checked by hand).
while IFS= read -r f; do
    awk -v f="$f" '
    function scan(line, re, kind,    rest, tok, before, after) {
        rest = line
        while (match (rest, re)) {
            tok = substr (rest, RSTART, RLENGTH)
            before = RSTART > 1 ? substr (rest, RSTART - 1, 1) : ""
            after = substr (rest, RSTART + RLENGTH, 1)
            if (before !~ /[A-Za-z0-9_.\/*{}-]/ && after !~ /[A-Za-z0-9_]/)
                print f ":" FNR ":" kind ":" tok
            rest = substr (rest, RSTART + RLENGTH)
        }
    }
    /^[ \t]*#[ \t]*include/ { next }
    {
        line = $0
        gsub (/[a-z]+:\/\/[^ \t)>"'\'']*/, "", line)   # URLs
        scan(line, "docs/[A-Za-z0-9_.-]+\\.md", "doc")
        scan(line, "[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)+\\.[ch]", "path")
        scan(line, "[A-Za-z0-9_-]+(\\.[A-Za-z0-9_-]+)*\\.[ch]", "name")
    }' "$f"
done <"$tmp/sources" >"$tmp/cited"

status=0
while IFS= read -r c; do
    where=${c%:*:*}
    rest=${c#"$where":}
    kind=${rest%%:*}
    tok=${rest#*:}
    case $kind in
    doc)
        [ -f "$tok" ] && continue ;;
    path)
        grep -qxF "$tok" "$tmp/files" && continue
        awk -v t="/$tok" '
            length ($0) > length (t) &&
            substr ($0, length ($0) - length (t) + 1) == t { found = 1; exit }
            END { exit !found }' "$tmp/files" && continue ;;
    name)
        case $EXTERNAL in *" $tok "*) continue ;; esac
        awk -v t="$tok" '
            $0 == t || substr ($0, length ($0) - length (t)) == "/" t \
              { found = 1; exit }
            END { exit !found }' "$tmp/files" && continue ;;
    esac
    echo "$where: $tok does not exist"
    status=1
done <"$tmp/cited"

exit $status
