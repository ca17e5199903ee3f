/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the log layout's leaf pages (log-format.h), the kind of
 * map page that names where a block sits in a segment.  Interior pages
 * of a log tree are cas pages (cas_page_decode); only leaves differ,
 * and their magic differs so that neither reader takes the other's
 * leaf for its own.
 *
 * As strict as cas_page_decode: a location that could not lie in any
 * segment is refused here, before a reader turns it into a ranged GET.
 */

#include <config.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "format/bytes.h"
#include "format/log-format.h"
#include "format/log-format-impl.h"

static void
put_entry (uint8_t *e, const struct log_leaf_entry *entry)
{
  const struct log_location *loc = &entry->loc;

  memset (e, 0, LOG_LEAF_ENTRY);
  put_le16 (e + LEAF_SLOT, entry->slot);
  memcpy (e + LEAF_SEG, loc->seg, LOG_SEG_ID_LEN);
  put_le32 (e + LEAF_OFFSET, loc->offset);
  put_le32 (e + LEAF_STORED_LEN, loc->stored_len);
  e[LEAF_CODEC] = loc->codec;
  memcpy (e + LEAF_HASH, loc->hash.b, CAS_HASH_LEN);
}

size_t
log_leaf_encode (const struct log_leaf *p, void *buf)
{
  uint8_t *b = buf;
  uint32_t i;

  memcpy (b, LOG_LEAF_MAGIC, 8);
  b[8] = 0;                     /* level: always a leaf */
  b[9] = b[10] = b[11] = 0;
  put_le32 (b + 12, p->count);
  for (i = 0; i < p->count; i++)
    put_entry (b + CAS_PAGE_HEADER + (size_t) i * LOG_LEAF_ENTRY,
               &p->entries[i]);
  return CAS_PAGE_HEADER + (size_t) p->count * LOG_LEAF_ENTRY;
}

static int
refuse (const char **why, const char *reason)
{
  *why = reason;
  errno = EINVAL;
  return -1;
}

/* An extent that some segment could hold: it starts at or after the
 * data of a one-record segment, and ends within the largest segment
 * (summed in 64 bits, so it cannot wrap).  Raw blocks are a block size
 * long.
 */
static int
check_location (const struct log_location *loc, const char **why)
{
  if (loc->codec != LOG_CODEC_RAW)
    return refuse (why, "an entry names a codec this version does not know "
                   "(a later version's page?)");
  if (loc->stored_len == 0 || loc->stored_len > LOG_SEG_STORED_MAX)
    return refuse (why, "an entry's stored length is 0 or too large");
  if (!block_size_is_valid (loc->stored_len))
    return refuse (why, "a raw entry's stored length is not a block size");
  if (loc->offset < LOG_SEG_DATA_START (1) ||
      (uint64_t) loc->offset + loc->stored_len > MAX_SEGMENT_SIZE)
    return refuse (why, "an entry's extent is outside any segment's data");
  return 0;
}

static int
decode_entry (const uint8_t *e, struct log_leaf_entry *entry,
              const char **why)
{
  struct log_location *loc = &entry->loc;

  entry->slot = get_le16 (e + LEAF_SLOT);
  memcpy (loc->seg, e + LEAF_SEG, LOG_SEG_ID_LEN);
  loc->offset = get_le32 (e + LEAF_OFFSET);
  loc->stored_len = get_le32 (e + LEAF_STORED_LEN);
  loc->codec = e[LEAF_CODEC];
  memcpy (loc->hash.b, e + LEAF_HASH, CAS_HASH_LEN);

  if (entry->slot >= LOG_LEAF_FANOUT)
    return refuse (why, "a slot is 4096 or more");
  if (e[LEAF_FLAGS] != 0)
    return refuse (why, "an entry has flags this version does not know");
  if (!bytes_are_zero (e + LEAF_ZERO, 2))
    return refuse (why, "an entry's reserved bytes are not zero");
  return check_location (loc, why);
}

int
log_leaf_decode (const void *buf, size_t len, struct log_leaf *p,
                 const char **why)
{
  const uint8_t *b = buf;
  struct log_leaf_entry *entries;
  uint32_t count, i;

  if (len < CAS_PAGE_HEADER || memcmp (b, LOG_LEAF_MAGIC, 8) != 0)
    return refuse (why, "it does not start with \"" LOG_LEAF_MAGIC "\"");
  if (b[8] != 0)
    return refuse (why, "its level is not 0 (a log leaf is always a leaf)");
  if (b[9] || b[10] || b[11])
    return refuse (why, "its reserved header bytes are not zero");
  count = get_le32 (b + 12);
  if (count == 0 || count > LOG_LEAF_FANOUT)
    return refuse (why, "its count of entries is not 1 to 4096");
  if (len != CAS_PAGE_HEADER + (size_t) count * LOG_LEAF_ENTRY)
    return refuse (why, "its length does not match its count of entries");

  entries = malloc (count * sizeof *entries);
  if (entries == NULL) {
    *why = "out of memory";
    errno = ENOMEM;
    return -1;
  }
  for (i = 0; i < count; i++) {
    const uint8_t *e = b + CAS_PAGE_HEADER + (size_t) i * LOG_LEAF_ENTRY;

    if (decode_entry (e, &entries[i], why) == -1)
      goto refused;
    if (i > 0 && entries[i].slot <= entries[i - 1].slot) {
      refuse (why, "its slots are not strictly increasing");
      goto refused;
    }
  }
  p->count = count;
  p->entries = entries;
  return 0;

 refused:
  free (entries);
  return -1;
}

void
log_leaf_free (struct log_leaf *p)
{
  free (p->entries);
  p->entries = NULL;
  p->count = 0;
}

static int
compare_slot (const void *key, const void *elem)
{
  unsigned slot = *(const unsigned *) key;
  const struct log_leaf_entry *e = elem;

  return slot < e->slot ? -1 : slot > e->slot;
}

bool
log_leaf_find (const struct log_leaf *p, unsigned slot,
               struct log_location *out)
{
  const struct log_leaf_entry *e;

  if (p->count == 0)
    return false;
  e = bsearch (&slot, p->entries, p->count, sizeof *p->entries, compare_slot);
  if (e == NULL)
    return false;
  if (out)
    *out = e->loc;
  return true;
}
