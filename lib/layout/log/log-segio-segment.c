/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: whole segments: reading one's index, reading one back and
 * verifying it, and PUTting one again (log-segio.h).
 *
 * Both reads start with one ranged GET of the head of the object, as
 * long as the index of the largest segment segment_size makes: for a
 * segment this export wrote, it holds the whole index, and for a
 * segment shorter than that (a small flush), the whole object.  The
 * header then says how long the rest is, so no buffer is sized by a
 * guess of the object's length, and none by more than the format's
 * maxima (the header decoder refuses a longer claim).  Every GET
 * starts at byte 0: one object is never stitched from two answers, and
 * a range never starts past a truncated object's end.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "layout/log/log-segio.h"
#include "log-segio-impl.h"

/* A segment's first bytes, as read. */
struct head {
  char key[KEY_MAX];
  uint8_t *buf;
  size_t got;
  bool ended;                   /* the object is got bytes long */
  struct log_segment_header hdr;
};

static int
damaged (const struct log_segio *io, const char *key, const char *what,
         const char *why)
{
  if (strcmp (why, "out of memory") == 0) {
    nbdkit_error ("export %s: segment %s: out of memory %s",
                  io->export_name, key, what);
    errno = ENOMEM;
    return -1;
  }
  nbdkit_error ("export %s: segment %s: %s: %s; refusing to use it",
                io->export_name, key, what, why);
  errno = EIO;
  return -1;
}

/* GET [0, len) of h->key into h->buf (reallocated to len). */
static int
get_from_start (struct log_segio *io, struct head *h, size_t len)
{
  uint8_t *buf = realloc (h->buf, len);
  int err;

  if (buf == NULL) {
    nbdkit_error ("export %s: segment %s: cannot reserve %zu bytes to read "
                  "it: %m", io->export_name, h->key, len);
    return -1;
  }
  h->buf = buf;
  err = segio_get_range (io, h->key, 0, len, h->buf, &h->got);
  if (err) {
    errno = err;
    return -1;
  }
  h->ended = h->got < len;
  return 0;
}

/* The head of segment id, its header decoded and of this export's block
 * size.  0 (with *found false if there is no such segment), or -1 after
 * a message (the store's, for a failed request).
 */
static int
read_head (struct log_segio *io, const uint8_t id[LOG_SEG_ID_LEN],
           struct head *h, bool *found)
{
  const uint32_t capacity = log_segment_capacity (io->block_size,
                                                  io->segment_size);
  const char *why;

  memset (h, 0, sizeof *h);
  segio_key (h->key, id);
  *found = true;
  if (get_from_start (io, h, LOG_SEG_DATA_START (capacity)) == -1) {
    if (errno == ENOENT) {
      *found = false;
      return 0;
    }
    return -1;
  }
  if (log_segment_header_decode (h->buf, h->got, id, &h->hdr, &why) == -1)
    return damaged (io, h->key, "its header is unreadable", why);
  if (h->hdr.block_size != io->block_size) {
    nbdkit_error ("export %s: segment %s holds blocks of %" PRIu32
                  " bytes, not the export's %" PRIu32 "; refusing to use it",
                  io->export_name, h->key, h->hdr.block_size,
                  io->block_size);
    errno = EIO;
    return -1;
  }
  return 0;
}

/* The head has [0, want) of the object, or all of an object shorter:
 * GET it again from the start when it stopped short of want.  A
 * segment gone in between (a gc sweep) is not found, as if the first
 * GET had missed it.
 */
static int
read_head_to (struct log_segio *io, struct head *h, size_t want,
              bool *found)
{
  if (h->got >= want || h->ended)
    return 0;
  if (get_from_start (io, h, want) == -1) {
    if (errno != ENOENT)
      return -1;
    *found = false;
  }
  return 0;
}

int
log_segio_read_index (struct log_segio *io, const uint8_t id[LOG_SEG_ID_LEN],
                      struct log_segment_index *idx, bool *found)
{
  struct head h;
  const char *why;
  int r;

  memset (idx, 0, sizeof *idx);
  segio_count (&io->stats.index_reads, 1);
  r = read_head (io, id, &h, found);
  /* A segment written with a larger segment-size has a longer index
   * than the first GET asked for.
   */
  if (r == 0 && *found)
    r = read_head_to (io, &h, h.hdr.data_start, found);
  if (r == 0 && *found &&
      log_segment_index_decode (h.buf, h.got, id, idx, &why) == -1)
    r = damaged (io, h.key, "its index is unreadable", why);
  free (h.buf);
  return r;
}

int
log_segio_read_segment (struct log_segio *io,
                        const uint8_t id[LOG_SEG_ID_LEN],
                        void **bytes, size_t *len, bool *found)
{
  struct log_segment_index idx = { .records = NULL };
  struct head h;
  const char *why;
  int r;

  *bytes = NULL;
  *len = 0;
  r = read_head (io, id, &h, found);
  if (r == -1 || !*found) {
    free (h.buf);
    return r;
  }
  /* One byte more than the header gives: an object extended past its
   * data is caught (verify refuses any other length).
   */
  r = read_head_to (io, &h, h.hdr.total_len + 1, found);
  if (r == 0 && !*found) {
    free (h.buf);
    return 0;
  }
  if (r == 0 && log_segment_index_decode (h.buf, h.got, id, &idx,
                                          &why) == -1)
    r = damaged (io, h.key, "its index is unreadable", why);
  if (r == 0 && log_segment_verify (&idx, h.buf, h.got, &why) == -1)
    r = damaged (io, h.key, "it does not verify", why);
  log_segment_index_free (&idx);
  if (r == -1) {
    free (h.buf);
    return -1;
  }
  *bytes = h.buf;
  *len = h.got;
  return 0;
}

int
log_segio_put_again (struct log_segio *io, const uint8_t id[LOG_SEG_ID_LEN],
                     const void *bytes, size_t len, uint64_t *put_ms)
{
  struct log_segment_header hdr;
  struct store_op op = {
    .kind = STORE_PUT, .buf = (void *) bytes, .len = len,
    .gate = io->gate,
  };
  const char *why = "its length is not the one its header gives";

  segio_key (op.key, id);
  /* This PUT overwrites whatever is under the key: make sure the bytes
   * are this segment's, so that a slip cannot replace a live segment
   * with another's.
   */
  if (log_segment_header_decode (bytes, len, id, &hdr, &why) == -1 ||
      hdr.total_len != len) {
    nbdkit_error ("export %s: segment %s: the bytes to PUT again are not "
                  "that segment (%s): a bug; nothing was written",
                  io->export_name, op.key, why);
    errno = EINVAL;
    return -1;
  }

  /* Unconditional, unlike the upload's create-only PUT.  A refresh
   * makes a segment young again (docs/gc-safety.md, step 4), so it must
   * write over the segment when the key exists: create-only would be
   * refused exactly then.  When gc has swept the key, the same PUT puts
   * the segment back (step 10).  Either way the bytes are the same the
   * key always named (segments are immutable), so overwriting cannot
   * change what any reader sees.
   */
  *put_ms = io->clock_ms ();
  store_run (io->store, &op, 1);
  if (op.err) {
    /* Logged by the store, or a gate's refusal its owner explains. */
    errno = op.err;
    return -1;
  }
  segio_count (&io->stats.segments_put, 1);
  segio_count (&io->stats.segment_bytes_put, len);
  return 0;
}
