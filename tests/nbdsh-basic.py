# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
# Run by test-nbdsh.sh inside nbdsh (h is connected to the export).
# Checks the semantics one by one against the bucket, seen through an
# independent S3 client.

import os
import sys
import time

sys.path.insert(0, os.path.join(os.environ["top_srcdir"], "tests"))
import s3util  # noqa: E402

import nbd  # noqa: E402

BS = 4096
EXPORT = os.environ["EXPORT"]
PREFIX = "blocks/%s/" % EXPORT
s3 = s3util.client()
bucket = os.environ["S3_BUCKET"]


def objects():
    return dict(s3util.keys(s3, bucket, PREFIX))


def key(offset):
    return "%s%016x" % (PREFIX, offset)


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


def pattern(n, seed):
    return bytes((i * 7 + seed) % 251 + 1 for i in range(n))


# Negotiated properties.
check(h.get_size() == 64 * 1024 * 1024, "size is 64M")
check(h.can_flush() and h.can_fua() and h.can_trim() and h.can_zero(),
      "flush, FUA, trim and zero advertised")
check(h.can_fast_zero(), "fast zero advertised")
check(h.can_multi_conn(), "multi-conn advertised")
check(h.get_block_size(nbd.SIZE_PREFERRED) == BS, "preferred block size")
check(not h.is_read_only(), "writable")
check(objects() == {}, "a new export has no block objects")

# An unaligned write across four blocks: in memory until flush.
data = pattern(3 * BS + 100, 1)
off = 10 * BS + 1000
h.pwrite(data, off)
check(h.pread(len(data), off) == data, "unaligned write reads back")
check(h.pread(1000, 10 * BS) == bytes(1000), "bytes before it are zero")
check(objects() == {}, "no object before flush")
h.flush()
want = {key(b * BS): BS for b in range(10, 14)}
check(objects() == want, "flush stores exactly blocks 10-13")

# Rewriting dirty data, then flushing: same objects, new content.
h.pwrite(pattern(BS, 2), 11 * BS)
h.flush()
check(h.pread(BS, 11 * BS) == pattern(BS, 2), "rewrite reads back")

# FUA: in S3 when the write returns.
h.pwrite(pattern(BS, 3), 20 * BS, nbd.CMD_FLAG_FUA)
check(key(20 * BS) in objects(), "FUA write is stored at once")

# Whole-block zeroing deletes objects (on flush).
h.zero(2 * BS, 10 * BS)
check(h.pread(2 * BS, 10 * BS) == bytes(2 * BS), "zeroed range reads zeros")
h.flush()
objs = objects()
check(key(10 * BS) not in objs and key(11 * BS) not in objs,
      "zeroed blocks lose their objects")
check(key(12 * BS) in objs, "blocks next to them stay")

# Partial trim: read-modify-write, the block keeps the rest.
h.trim(100, 12 * BS + 50)
h.flush()
blk = h.pread(BS, 12 * BS)
check(blk[50:150] == bytes(100) and blk[:50] == data[2 * BS - 1000:][:50],
      "partial trim zeroes only its range")

# Fast zero is accepted, and FUA zero deletes at once.
h.zero(BS, 20 * BS, nbd.CMD_FLAG_FAST_ZERO | nbd.CMD_FLAG_FUA)
check(key(20 * BS) not in objects(), "FUA zero deletes the object at once")

# Writing zeros is the same as zeroing: nothing stored.
h.pwrite(bytes(BS), 30 * BS)
h.flush()
check(key(30 * BS) not in objects(), "a block of zeros is not stored")

# Extents: data where blocks exist, holes elsewhere.
extents = []
def collect(metacontext, offset, entries, err):
    if metacontext == nbd.CONTEXT_BASE_ALLOCATION:
        extents.extend(zip(entries[0::2], entries[1::2]))
    return 0
h.block_status(16 * BS, 8 * BS, collect)
pos = 8 * BS
allocated = []
for length, flags in extents:
    if not flags & nbd.STATE_HOLE:
        allocated.append((pos, length))
    pos += length
check(allocated == [(12 * BS, 2 * BS)], "extents show blocks 12-13 only")

# Cache (prefetch) is accepted.
h.cache(4 * BS, 12 * BS)

# Unflushed data at disconnect: flushed when the last connection closes.
h.pwrite(pattern(BS, 4), 40 * BS)
check(key(40 * BS) not in objects(), "unflushed write not stored yet")
h.shutdown()
deadline = time.monotonic() + 30
while key(40 * BS) not in objects() and time.monotonic() < deadline:
    time.sleep(0.1)
check(key(40 * BS) in objects(), "closing the last connection flushes")
