#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
"""The model test's client: a random workload over several connections
to one export, checked against a shadow copy across crashes.

  model.py run URI STATE SEED OPS     random ops, then save the shadow
  model.py check URI STATE            after a crash and restart: every
                                      block must read as allowed
  model.py check-exact URI STATE      the cas layout's promise: the whole
                                      export reads as one committed state

The shadow keeps, per block, the value of its last completed flush and
every value written to it since: after a crash the block must read as
one of those (blocks are written whole with one byte value, so a torn
block is caught too).  For check-exact it also keeps the whole state of
the last completed commit (flush or FUA write) and the state the commit
in flight would make: the export must equal one of the two, never a mix.
That holds when nothing else commits: the server runs with write-delay=0
and a max-dirty the workload never reaches.  One more commit is the
server's own: it flushes an export when its last connection closes, so a
workload that ends before the SIGKILL leaves that flush in flight, and
the client, which cannot see it end, records it as the candidate.
Flush on any connection covers the writes completed on all of them (the
plugin advertises multi-conn).
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
        return {"flushed": [0] * nblocks, "since": [[] for _ in range(nblocks)],
                "committed": [0] * nblocks, "candidate": None}


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
            if kind == 9:
                candidate = list(shadow["committed"])
                candidate[b:b + n] = [value] * n
                shadow["candidate"] = candidate
            save(path, shadow)          # before: a crash may land it
            h.pwrite(bytes([value]) * (n * BS), b * BS,
                     nbd.CMD_FLAG_FUA if kind == 9 else 0)
            for j in range(n):
                now[b + j] = value
                if kind == 9:
                    shadow["flushed"][b + j] = value
                    shadow["since"][b + j] = []
            if kind == 9:
                shadow["committed"] = shadow["candidate"]
                shadow["candidate"] = None
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
            shadow["candidate"] = list(now)
            save(path, shadow)
            h.flush()
            shadow["flushed"] = list(now)
            shadow["since"] = [[] for _ in range(nblocks)]
            shadow["committed"] = list(now)
            shadow["candidate"] = None
        save(path, shadow)
    # Closing the last connection flushes the export (export_close in
    # lib/export/export.c): a commit in flight from the first close on.
    shadow["candidate"] = list(now)
    save(path, shadow)
    for h in hs:
        h.shutdown()
    print("model: %d ops done" % nops)


def check(uri, path, exact):
    h = connect(uri)[0]
    nblocks = h.get_size() // BS
    shadow = load(path, nblocks)
    bad = 0
    got = []
    for b in range(nblocks):
        data = h.pread(BS, b * BS)
        v = data[0]
        got.append(v)
        if data != bytes([v]) * BS:
            print("block %d is torn" % b)
            bad += 1
        elif v != shadow["flushed"][b] and v not in shadow["since"][b]:
            print("block %d reads %d; last flushed %d, written since %s"
                  % (b, v, shadow["flushed"][b], shadow["since"][b]))
            bad += 1
        shadow["flushed"][b] = v
        shadow["since"][b] = []
    if exact and got != shadow["committed"] and got != shadow["candidate"]:
        differ = [b for b in range(nblocks) if got[b] != shadow["committed"][b]]
        print("the export is not a committed state: %d blocks differ from "
              "the last commit (first: %s)%s" % (
                  len(differ), differ[:8],
                  "" if shadow["candidate"] is None else
                  ", and it is not the commit in flight either"))
        bad += 1
    shadow["committed"] = got
    shadow["candidate"] = None
    save(path, shadow)
    if bad:
        sys.exit("model: %d blocks wrong" % bad)
    print("model: %d blocks as allowed" % nblocks)


if __name__ == "__main__":
    if sys.argv[1] == "run":
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
    elif sys.argv[1] in ("check", "check-exact"):
        check(sys.argv[2], sys.argv[3], sys.argv[1] == "check-exact")
    else:
        sys.exit("usage: model.py run|check|check-exact ...")
