#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# The benchmark's W5, shared by bench/run.sh and bench/log.sh:
#
#   bench/ext4-tree.sh [--kernel] WORKDIR URI SMALL_FILES
#   bench/ext4-tree.sh --probe-kernel WORKDIR     can --kernel run here?
#
# mkfs.ext4 on the NBD export URI through nbdfuse, mount it, write
# SMALL_FILES small files in 30 directories and three 16 MiB files,
# sync, unmount (waiting for each daemon to exit), then e2fsck -fn.
#
# The file system runs in fuse2fs, or with --kernel in the kernel's
# ext4 on a loop device over nbdfuse's file.  fuse2fs sends every 4 KiB
# it writes as its own synchronous request (about 89,000 NBD writes for
# this work, 8 s on nbdkit's memory plugin), which hides the disk under
# it; the kernel's ext4 writes back through the page cache in large
# requests and flushes when its journal or the sync asks, so the disk's
# own cost shows.  --kernel needs root, free loop devices and ext4 in
# the kernel: --probe-kernel says whether they are there (exit 0) and
# leaves nothing behind.
#
# The caller bounds a run in time and, if it kills it, unmounts
# WORKDIR/fs, detaches the loop device on WORKDIR/nbdmnt/nbd and
# unmounts WORKDIR/nbdmnt (bench/lib.sh, bench_cleanup).

set -euo pipefail

if [ "$1" = --probe-kernel ]; then
    work=$2
    [ "$(id -u)" = 0 ] && grep -qw ext4 /proc/filesystems || exit 1
    img="$work/probe.img" mnt="$work/probe.mnt"
    mkdir -p "$mnt"
    truncate -s 16M "$img"
    mkfs.ext4 -F -q "$img" >/dev/null 2>&1 || { rm -f "$img"; exit 1; }
    dev=$(losetup -f --show "$img" 2>/dev/null) || { rm -f "$img"; exit 1; }
    ok=1
    mount -t ext4 "$dev" "$mnt" 2>/dev/null && umount "$mnt" && ok=0
    losetup -d "$dev"
    rm -rf "$img" "$mnt"
    exit $ok
fi

kernel=0
[ "$1" = --kernel ] && { kernel=1; shift; }
work=$1 uri=$2 small=$3
fs="$work/fs"
mkdir -p "$work/nbdmnt" "$fs"
nbdfuse "$work/nbdmnt" "$uri" & nf=$!
for _ in $(seq 100); do [ -f "$work/nbdmnt/nbd" ] && break; sleep 0.1; done

if [ $kernel = 1 ]; then
    dev=$(losetup -f --show "$work/nbdmnt/nbd")
    mkfs.ext4 -F -q "$dev"
    mount -t ext4 "$dev" "$fs"
else
    dev="$work/nbdmnt/nbd"
    mkfs.ext4 -F -q "$dev"
    fuse2fs -f "$dev" "$fs" & f2=$!
    for _ in $(seq 100); do mountpoint -q "$fs" && break; sleep 0.1; done
fi

for d in $(seq 1 30); do
    mkdir "$fs/d$d"
    for f in $(seq 1 $((small / 30))); do
        echo "small file $d/$f" > "$fs/d$d/f$f"
    done
done
for b in 1 2 3; do head -c 16M /dev/urandom > "$fs/big$b"; done
sync

if [ $kernel = 1 ]; then
    umount "$fs"
    e2fsck -fn "$dev"
    losetup -d "$dev"
else
    fusermount3 -u "$fs"; wait $f2
    e2fsck -fn "$dev"
fi
fusermount3 -u "$work/nbdmnt"; wait $nf
