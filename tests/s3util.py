#!/usr/bin/python3
# SPDX-License-Identifier: BSD-3-Clause
# Copyright (C) 2026 the s3blocks authors; see LICENSE.
"""Inspect and change the test bucket with an S3 client independent of
libs3 (boto3, Signature V4): the tests check the object layout the way
another tool reading the same bucket would.

  s3util.py ls PREFIX            keys and sizes, one per line
  s3util.py get KEY FILE         download
  s3util.py put KEY FILE         upload
  s3util.py rm KEY               delete
  s3util.py count PREFIX         number of keys
  s3util.py empty                delete every object (none: no bucket)
  s3util.py mkbucket             create the bucket; fails if it exists
  s3util.py rmbucket             empty the bucket, then delete it
  s3util.py segs [ROOTKEY ...]   the segment keys (log/segs/ID) the map
                                 trees of these roots name, one per line,
                                 sorted; no ROOTKEY: of every root
                                 (cas/roots/, cas/snaps/)

Endpoint and credentials come from S3_ENDPOINT, S3_ACCESS_KEY,
S3_SECRET_KEY and S3_BUCKET (functions.sh sets them).
"""

import os
import sys

import boto3
from botocore.config import Config


def client():
    return boto3.client(
        "s3",
        endpoint_url=os.environ["S3_ENDPOINT"],
        aws_access_key_id=os.environ["S3_ACCESS_KEY"],
        aws_secret_access_key=os.environ["S3_SECRET_KEY"],
        region_name="us-east-1",
        verify=False,
        config=Config(s3={"addressing_style": "path"},
                      retries={"max_attempts": 3}),
    )


def keys(s3, bucket, prefix):
    paginator = s3.get_paginator("list_objects")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            yield obj["Key"], obj["Size"]


def empty(s3, bucket):
    try:
        ks = [k for k, _ in keys(s3, bucket, "")]
    except s3.exceptions.NoSuchBucket:
        ks = []
    for i in range(0, len(ks), 1000):
        s3.delete_objects(Bucket=bucket, Delete={
            "Objects": [{"Key": k} for k in ks[i:i + 1000]],
            "Quiet": True})
    return len(ks)


def root_segments(s3, bucket, root_keys):
    """The segment keys the map trees of these roots name: a root's
    top page, cas pages above the leaves, log leaves naming segments
    (docs/bucket-format.md, the cas and log layouts).  A cas root
    (leaf hash) names none."""
    segs, seen = set(), set()

    def get(key):
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    def walk(page_hash):
        if page_hash in seen:
            return
        seen.add(page_hash)
        page = get("cas/pages/" + page_hash)
        magic, level = page[0:8], page[8]
        count = int.from_bytes(page[12:16], "little")
        if magic == b"S3BLOGP1":
            assert len(page) == 16 + 62 * count, page_hash
            for i in range(count):
                e = 16 + 62 * i
                segs.add("log/segs/" + page[e + 2:e + 18].hex())
            return
        assert magic == b"S3BCASP1" and len(page) == 16 + 34 * count, \
            page_hash
        if level == 0:
            return                  # a cas leaf: content hashes
        for i in range(count):
            e = 16 + 34 * i
            walk(page[e + 2:e + 34].hex())

    for key in root_keys:
        fields = dict(line.split(" ", 1)
                      for line in get(key).decode().splitlines()[1:]
                      if " " in line)
        if fields.get("leaf") == "location" and fields["top"] != "-":
            walk(fields["top"])
    return sorted(segs)


def main(argv):
    if len(argv) < 2:
        sys.exit(__doc__)
    s3 = client()
    bucket = os.environ["S3_BUCKET"]
    cmd = argv[1]
    if cmd == "ls":
        for key, size in keys(s3, bucket, argv[2]):
            print(key, size)
    elif cmd == "count":
        print(sum(1 for _ in keys(s3, bucket, argv[2])))
    elif cmd == "get":
        s3.download_file(bucket, argv[2], argv[3])
    elif cmd == "put":
        s3.upload_file(argv[3], bucket, argv[2])
    elif cmd == "rm":
        s3.delete_object(Bucket=bucket, Key=argv[2])
    elif cmd == "segs":
        roots = argv[2:] or [k for p in ("cas/roots/", "cas/snaps/")
                             for k, _ in keys(s3, bucket, p)]
        for key in root_segments(s3, bucket, roots):
            print(key)
    elif cmd == "empty":
        print(empty(s3, bucket))
    elif cmd == "mkbucket":
        try:
            s3.create_bucket(Bucket=bucket)
        except (s3.exceptions.BucketAlreadyOwnedByYou,
                s3.exceptions.BucketAlreadyExists):
            sys.exit("bucket %s already exists: not using (or emptying) "
                     "a bucket this test did not create" % bucket)
    elif cmd == "rmbucket":
        print(empty(s3, bucket))
        s3.delete_bucket(Bucket=bucket)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    import urllib3
    urllib3.disable_warnings()
    main(sys.argv)
