#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# The benchmark's W5, shared by bench/run.sh and bench/log.sh:
#
#   bench/ext4-tree.sh WORKDIR URI SMALL_FILES
#
# mkfs.ext4 on the NBD export URI through nbdfuse, mount it with
# fuse2fs, write SMALL_FILES small files in 30 directories and three
# 16 MiB files, sync, unmount (waiting for each daemon to exit), then
# e2fsck -fn.  The caller bounds it in time and, if it kills it,
# unmounts WORKDIR/fs and WORKDIR/nbdmnt.

set -euo pipefail
work=$1 uri=$2 small=$3
mkdir -p "$work/nbdmnt" "$work/fs"
nbdfuse "$work/nbdmnt" "$uri" & nf=$!
for _ in $(seq 100); do [ -f "$work/nbdmnt/nbd" ] && break; sleep 0.1; done
mkfs.ext4 -F -q "$work/nbdmnt/nbd"
fuse2fs -f "$work/nbdmnt/nbd" "$work/fs" & f2=$!
for _ in $(seq 100); do mountpoint -q "$work/fs" && break; sleep 0.1; done
for d in $(seq 1 30); do
    mkdir "$work/fs/d$d"
    for f in $(seq 1 $((small / 30))); do
        echo "small file $d/$f" > "$work/fs/d$d/f$f"
    done
done
for b in 1 2 3; do head -c 16M /dev/urandom > "$work/fs/big$b"; done
sync
fusermount3 -u "$work/fs"; wait $f2
e2fsck -fn "$work/nbdmnt/nbd"
fusermount3 -u "$work/nbdmnt"; wait $nf
