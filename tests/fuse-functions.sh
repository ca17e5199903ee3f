# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# s3blocks integration tests: a filesystem over an export through FUSE,
# for machines without the kernel's NBD device.  Source after
# functions.sh.  nbdfuse exposes the export as $NBDMNT/nbd; fuse2fs
# mounts the filesystem in it on $FSMNT.
#
# Each FUSE daemon runs in the foreground as a background job;
# unmounting makes it exit, and each must be gone before the layer below
# goes (else "device busy").  Mount after starting nbdkit, so that the
# cleanups (run in reverse) unmount before nbdkit stops.

requires nbdfuse fuse2fs fusermount3 mkfs.ext4 e2fsck mountpoint sha256sum
if [ ! -c /dev/fuse ]; then
    [ "${S3BLOCKS_NO_SKIP:-0}" = 1 ] && fail "no /dev/fuse"
    echo "$TEST_NAME: SKIP: no /dev/fuse" >&2
    exit 77
fi

NBDMNT="$TMPD/nbdmnt"
FSMNT="$TMPD/fs"
mkdir -p "$NBDMNT" "$FSMNT"
NBDFUSE_PID=
FUSE2FS_PID=

# mount_nbd [nbdfuse options]
mount_nbd ()
{
    nbdfuse "$@" "$NBDMNT" "$(uri)" >>"$TMPD/nbdfuse.log" 2>&1 &
    NBDFUSE_PID=$!
    on_exit umount_nbd --any-status     # before nbdkit stops
    wait_for "nbdfuse" test -f "$NBDMNT/nbd"
}

# fuse_unmount DAEMON MOUNTPOINT PIDVAR [--any-status]: unmount, wait
# for the daemon to exit, and clear its pid; its exit status must be 0
# unless --any-status (its server was killed).
fuse_unmount ()
{
    local daemon=$1 mnt=$2 status=0
    local -n pid=$3
    [ -n "$pid" ] || return 0
    fusermount3 -u "$mnt" || true
    wait "$pid" || status=$?
    pid=
    [ "${4:-}" = --any-status ] || [ $status = 0 ] ||
        fail "$daemon exited with status $status"
}

umount_nbd () { fuse_unmount nbdfuse "$NBDMNT" NBDFUSE_PID "$@"; }

# mount_fs [fuse2fs options]
mount_fs ()
{
    fuse2fs -f "$NBDMNT/nbd" "$FSMNT" "$@" >>"$TMPD/fuse2fs.log" 2>&1 &
    FUSE2FS_PID=$!
    on_exit umount_fs --any-status
    wait_for "fuse2fs" mountpoint -q "$FSMNT"
}

umount_fs () { fuse_unmount fuse2fs "$FSMNT" FUSE2FS_PID "$@"; }

# new_fs: expose the export, make an ext4 filesystem on it, mount it.
new_fs ()
{
    mount_nbd
    mkfs.ext4 -F -q -E lazy_itable_init=0,lazy_journal_init=0 "$NBDMNT/nbd"
    mount_fs
}

# make_tree NAME: a small tree and a couple of larger files under
# $FSMNT/NAME; appends their checksums to $TMPD/manifest.
make_tree ()
{
    local d f
    for d in $(seq 1 10); do
        mkdir -p "$FSMNT/$1/dir$d"
        for f in $(seq 1 30); do
            echo "file $1/$d/$f of $EXPORT" > "$FSMNT/$1/dir$d/f$f.txt"
        done
    done
    head -c 6M /dev/urandom > "$FSMNT/$1/big1.bin"
    head -c 3M /dev/urandom > "$FSMNT/$1/dir5/big2.bin"
    (cd "$FSMNT" && find "$1" -type f -print0 | sort -z | xargs -0 sha256sum) \
        >> "$TMPD/manifest"
}

# check_fs: e2fsck -fn clean, and every file of the manifest identical.
check_fs ()
{
    mount_nbd -r
    e2fsck -fn "$NBDMNT/nbd" > "$TMPD/e2fsck.log" 2>&1 ||
        { cat "$TMPD/e2fsck.log" >&2; fail "e2fsck found errors"; }
    echo "ok: e2fsck -fn is clean"
    mount_fs -o ro
    (cd "$FSMNT" && sha256sum --quiet -c "$TMPD/manifest") ||
        fail "files differ"
    echo "ok: $(wc -l < "$TMPD/manifest") files read back identical"
    umount_fs
    umount_nbd
}
