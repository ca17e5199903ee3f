#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# W5 with the kernel's ext4 instead of fuse2fs, for bench/log.sh:
#
#   bench/ext4-kernel.sh WORKDIR URI SMALL_FILES     run it
#   bench/ext4-kernel.sh --probe WORKDIR             can this machine?
#
# The same work as bench/ext4-tree.sh (mkfs.ext4, SMALL_FILES small
# files in 30 directories, three 16 MiB files, sync, unmount, e2fsck
# -fn), with the export still reached through nbdfuse but the file
# system run by the kernel on a loop device over nbdfuse's file.
# fuse2fs sends every 4 KiB it writes as its own synchronous request
# (about 89,000 NBD writes for this work, 8 s on nbdkit's memory
# plugin), which hides the disk under it; the kernel's ext4 writes
# back through the page cache in large requests and flushes when its
# journal or the sync asks, so the disk's own cost shows.  It needs root, free loop devices and
# ext4 in the kernel: --probe says whether they are there (exit 0) and
# leaves nothing behind.  The caller bounds the run in time; on exit
# this script unmounts and detaches what it made.

set -euo pipefail
if [ "$1" = --probe ]; then
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

work=$1 uri=$2 small=$3
dev= nf=
cleanup ()
{
    set +e
    mountpoint -q "$work/kfs" && umount "$work/kfs"
    [ -n "$dev" ] && losetup -d "$dev"
    mountpoint -q "$work/nbdmnt" && fusermount3 -u "$work/nbdmnt"
    [ -n "$nf" ] && wait "$nf"
}
trap cleanup EXIT
mkdir -p "$work/nbdmnt" "$work/kfs"
nbdfuse "$work/nbdmnt" "$uri" & nf=$!
for _ in $(seq 100); do [ -f "$work/nbdmnt/nbd" ] && break; sleep 0.1; done
dev=$(losetup -f --show "$work/nbdmnt/nbd")
mkfs.ext4 -F -q "$dev"
mount -t ext4 "$dev" "$work/kfs"
for d in $(seq 1 30); do
    mkdir "$work/kfs/d$d"
    for f in $(seq 1 $((small / 30))); do
        echo "small file $d/$f" > "$work/kfs/d$d/f$f"
    done
done
for b in 1 2 3; do head -c 16M /dev/urandom > "$work/kfs/big$b"; done
sync
umount "$work/kfs"
e2fsck -fn "$dev"
losetup -d "$dev"; dev=
fusermount3 -u "$work/nbdmnt"; wait $nf; nf=
