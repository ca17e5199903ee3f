/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: what the answer to a ranged GET means (the V4 store).
 *
 * We send "Range: bytes=FIRST-LAST".  A server that honours it answers
 * 206 with "Content-Range: bytes FIRST-LAST'/TOTAL", LAST' being LAST
 * or the object's last byte if that comes first, and those bytes; 416
 * with "Content-Range: bytes STAR/TOTAL" (STAR is '*') when FIRST is at
 * or past the end.  A server that ignores Range answers 200 with the
 * whole object.  Everything else in a 2xx is an answer we cannot trust
 * to be the bytes asked for (store.h's contract says which to accept).
 */

#ifndef S3BLOCKS_CONTENT_RANGE_H
#define S3BLOCKS_CONTENT_RANGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A Content-Range value. */
struct content_range {
  bool unsatisfied;             /* "bytes STAR/TOTAL": first, last unset */
  uint64_t first, last;         /* inclusive, first <= last < total */
  bool total_known;             /* false: "/STAR", the size not said */
  uint64_t total;
};

/* Parse value ("bytes 0-4095/1048576", "bytes 0-4095/STAR", "bytes
 * STAR/1048576"; the unit in any case; spaces around it trimmed): 0, or
 * -1 if it is NULL, empty, another unit, has a number out of 64 bits,
 * last < first, last >= total, or anything else out of that grammar.
 */
extern int content_range_parse (const char *value, struct content_range *cr);

/* The end of a ranged GET's 2xx attempt. */
struct range_reply {
  long status;                  /* HTTP status, 2xx */
  const char *content_range;    /* the header's value; NULL or "": none */
  size_t got;                   /* body bytes kept */
  bool too_long;                /* the body went past the range, or was
                                   dropped as the wrong bytes */
};

enum range_verdict {
  RANGE_OK,                     /* got bytes from the offset on */
  RANGE_IGNORED,                /* 200, and the object is not the range */
  RANGE_NO_HEADER,              /* 206 without Content-Range */
  RANGE_BAD_HEADER,             /* 206 with one we cannot read, or STAR/TOTAL */
  RANGE_OTHER_BYTES,            /* 206 for bytes other than asked */
  RANGE_BAD_LENGTH,             /* 206 whose body is not what it names */
  RANGE_BAD_STATUS,             /* a 2xx other than 200 and 206 */
};

/* Judge the answer to a request for the len > 0 bytes from offset. */
extern enum range_verdict range_reply_judge (uint64_t offset, size_t len,
                                             const struct range_reply *r);

/* The verdict in words for a message ("the server ignored the Range
 * header ..."), into buf.  Returns buf.
 */
extern const char *range_verdict_explain (enum range_verdict v,
                                          const struct range_reply *r,
                                          char *buf, size_t buflen);

#endif /* S3BLOCKS_CONTENT_RANGE_H */
