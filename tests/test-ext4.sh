#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# A real ext4 filesystem on an export: nbdfuse exposes it as a file,
# mkfs.ext4 formats it, fuse2fs mounts it, files are written; after an
# unmount and an nbdkit restart the files read back and e2fsck is clean.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
. "$top_srcdir/tests/fuse-functions.sh"

start_s3
start_nbdkit -- "export=$EXPORT" size=128M
new_fs
make_tree tree
sync
umount_fs
umount_nbd

stop_nbdkit
start_nbdkit -- "export=$EXPORT"
check_fs
