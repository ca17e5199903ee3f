#!/usr/bin/env bash
# A real ext4 filesystem on an export: nbdfuse exposes it as a file,
# mkfs.ext4 formats it, fuse2fs mounts it, files are written; after an
# unmount and an nbdkit restart the files read back and e2fsck is clean.

. "${top_srcdir:-$(dirname "$0")/..}/tests/functions.sh"
requires nbdfuse fuse2fs fusermount3 mkfs.ext4 e2fsck mountpoint sha256sum
[ -c /dev/fuse ] || { [ "${S3BLOCKS_NO_SKIP:-0}" = 1 ] && fail "no /dev/fuse"; \
                      echo "SKIP: no /dev/fuse"; exit 77; }

nbdmnt="$TMPD/nbdmnt"
fsmnt="$TMPD/fs"
mkdir -p "$nbdmnt" "$fsmnt"
NBDFUSE_PID=
FUSE2FS_PID=

# FUSE daemons run in the foreground as background jobs; unmounting
# makes them exit, and each must be gone before the layer below goes.
mount_nbd ()
{
    nbdfuse "$@" -P "$TMPD/nbdfuse.pid" "$nbdmnt" "$(uri)" \
        >>"$TMPD/nbdfuse.log" 2>&1 &
    NBDFUSE_PID=$!
    wait_for "nbdfuse" test -f "$nbdmnt/nbd"
}
umount_nbd ()
{
    [ -n "$NBDFUSE_PID" ] || return 0
    fusermount3 -u "$nbdmnt" || true
    wait "$NBDFUSE_PID" || fail "nbdfuse exited with an error"
    NBDFUSE_PID=
}
mount_fs ()
{
    fuse2fs -f "$nbdmnt/nbd" "$fsmnt" "$@" >>"$TMPD/fuse2fs.log" 2>&1 &
    FUSE2FS_PID=$!
    wait_for "fuse2fs" mountpoint -q "$fsmnt"
}
umount_fs ()
{
    [ -n "$FUSE2FS_PID" ] || return 0
    fusermount3 -u "$fsmnt" || true
    wait "$FUSE2FS_PID" || fail "fuse2fs exited with an error"
    FUSE2FS_PID=
}

start_s3
start_nbdkit -- "export=$EXPORT" size=128M
on_exit umount_nbd
mount_nbd
mkfs.ext4 -F -q -E lazy_itable_init=0,lazy_journal_init=0 "$nbdmnt/nbd"
on_exit umount_fs
mount_fs

# A small tree and a couple of larger files.
for d in $(seq 1 10); do
    mkdir -p "$fsmnt/dir$d"
    for f in $(seq 1 30); do
        echo "file $d/$f of $EXPORT" > "$fsmnt/dir$d/f$f.txt"
    done
done
head -c 6M /dev/urandom > "$fsmnt/big1.bin"
head -c 3M /dev/urandom > "$fsmnt/dir5/big2.bin"
(cd "$fsmnt" && find . -type f -print0 | sort -z | xargs -0 sha256sum) \
    > "$TMPD/manifest"
sync
umount_fs
umount_nbd

stop_nbdkit
start_nbdkit -- "export=$EXPORT"
mount_nbd -r
e2fsck -fn "$nbdmnt/nbd" > "$TMPD/e2fsck.log" 2>&1 ||
    { cat "$TMPD/e2fsck.log" >&2; fail "e2fsck found errors"; }
echo "ok: e2fsck -fn is clean after a restart"
mount_fs -o ro
(cd "$fsmnt" && sha256sum --quiet -c "$TMPD/manifest") ||
    fail "files differ after a restart"
echo "ok: $(wc -l < "$TMPD/manifest") files read back identical"
umount_fs
umount_nbd
