#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# make coverage: line coverage of plugin/ from the whole suite.
#
# Builds an instrumented copy of the tree in coverage-build/ (so the
# normal build is untouched), runs make check there, and writes an
# lcov report to coverage/index.html.  Prints the line coverage.

set -euo pipefail
src=${1:-$(cd "$(dirname "$0")/.." && pwd)}
build="$src/coverage-build"
report="$src/coverage"

command -v lcov >/dev/null || { echo "coverage: apt-get install lcov" >&2; exit 1; }
rm -rf "$build" "$report"
mkdir -p "$build"
# The tracked files only: not the in-tree build.
(cd "$src" && git ls-files -z | xargs -0 tar cf -) | (cd "$build" && tar xf -)
[ -d "$src/node_modules" ] && ln -s "$src/node_modules" "$build/node_modules"

cd "$build"
autoreconf -fi >/dev/null 2>&1
./configure --enable-coverage >/dev/null
make -j"$(nproc)" >/dev/null
lcov --quiet --zerocounters --directory plugin
make check || { echo "coverage: make check failed" >&2; exit 1; }
lcov --quiet --capture --directory plugin --output-file coverage.info \
     --rc lcov_branch_coverage=0
lcov --quiet --extract coverage.info "*/plugin/*" --output-file plugin.info
genhtml --quiet plugin.info --output-directory "$report"
echo
lcov --summary plugin.info 2>&1 | grep -E 'lines|functions'
echo "coverage: report in $report/index.html"
