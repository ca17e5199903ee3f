#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
"""The model test's client: a random workload over several connections
to one export, checked against a shadow copy across crashes.

  model.py run URI STATE SEED OPS     random ops, then save the shadow
  model.py check URI STATE            after a crash and restart: every
                                      block must read as allowed

The shadow keeps, per block, the value of its last completed flush and
every value written to it since: after a crash the block must read as
one of those (blocks are written whole with one byte value, so a torn
block is caught too).  Flush on any connection covers the writes
completed on all of them (the plugin advertises multi-conn).
"""

import json
import random
import sys

import nbd

BS = 4096
CONNECTIONS = 3


def connect(uri):
    handles = []
    for _ in range(CONNECTIONS):
        h = nbd.NBD()
        h.connect_uri(uri)
        handles.append(h)
    return handles


def load(path, nblocks):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return {"flushed": [0] * nblocks, "since": [[] for _ in range(nblocks)]}


def save(path, shadow):
    with open(path + ".tmp", "w") as f:
        json.dump(shadow, f)
    import os
    os.replace(path + ".tmp", path)


def run(uri, path, seed, nops):
    rng = random.Random(seed)
    hs = connect(uri)
    nblocks = hs[0].get_size() // BS
    shadow = load(path, nblocks)
    now = list(shadow["flushed"])
    value = rng.randrange(1, 250)
    for i in range(nops):
        h = rng.choice(hs)
        b = rng.randrange(nblocks - 4)
        n = rng.randrange(1, 5)
        kind = rng.randrange(10)
        if kind < 5 or kind == 9:
            value = value % 250 + 1
            for j in range(n):
                shadow["since"][b + j].append(value)
            save(path, shadow)          # before: a crash may land it
            h.pwrite(bytes([value]) * (n * BS), b * BS,
                     nbd.CMD_FLAG_FUA if kind == 9 else 0)
            for j in range(n):
                now[b + j] = value
                if kind == 9:
                    shadow["flushed"][b + j] = value
                    shadow["since"][b + j] = []
        elif kind < 7:
            for j in range(n):
                shadow["since"][b + j].append(0)
            save(path, shadow)
            if kind == 5:
                h.zero(n * BS, b * BS)
            else:
                h.trim(n * BS, b * BS)
            for j in range(n):
                now[b + j] = 0
        else:
            h.flush()
            shadow["flushed"] = list(now)
            shadow["since"] = [[] for _ in range(nblocks)]
        save(path, shadow)
    print("model: %d ops done" % nops)


def check(uri, path):
    h = connect(uri)[0]
    nblocks = h.get_size() // BS
    shadow = load(path, nblocks)
    bad = 0
    for b in range(nblocks):
        data = h.pread(BS, b * BS)
        v = data[0]
        if data != bytes([v]) * BS:
            print("block %d is torn" % b)
            bad += 1
        elif v != shadow["flushed"][b] and v not in shadow["since"][b]:
            print("block %d reads %d; last flushed %d, written since %s"
                  % (b, v, shadow["flushed"][b], shadow["since"][b]))
            bad += 1
        shadow["flushed"][b] = v
        shadow["since"][b] = []
    save(path, shadow)
    if bad:
        sys.exit("model: %d blocks wrong" % bad)
    print("model: %d blocks as allowed" % nblocks)


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    else:
        check(sys.argv[2], sys.argv[3])
