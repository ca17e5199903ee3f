/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: compaction's search for the blocks that name a segment
 * through another block's record (docs/log-layout.md, "Compaction").
 *
 * A block deduplicated onto a segment (docs/log-layout.md, "Writing",
 * 1) names a place whose record is another block's.  Compaction reads
 * a segment's index to find what lives there, so it sees only the
 * records' own blocks; a deduplicated block would keep the whole
 * segment named, whatever its live fraction.  When the usage walk
 * counted more live bytes in a segment than its own live records hold,
 * and no root has landed since that walk (else overwrites would look
 * the same), one walk of the committed map finds the others.  The walk
 * costs what the usage walk does (one GET per leaf not cached), at
 * most once per compaction step (collect_live in log-compact-copy.c).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "layout-log-impl.h"

struct refs_walk {
  struct log *l;
  const uint8_t *id;
  struct log_referrer *out;
  size_t n, cap;
};

static int
refs_block (void *opaque, uint64_t index, const struct cas_value *v)
{
  struct refs_walk *w = opaque;

  if (memcmp (v->loc.seg, w->id, LOG_SEG_ID_LEN) != 0)
    return 0;
  if (w->n == w->cap) {
    size_t c = w->cap ? 2 * w->cap : 64;
    struct log_referrer *p = realloc (w->out, c * sizeof *p);

    if (p == NULL) {
      nbdkit_error ("export %s: compaction: %m", w->l->t.name);
      errno = ENOMEM;
      return -1;
    }
    w->out = p;
    w->cap = c;
  }
  w->out[w->n].block = index;
  w->out[w->n].loc = v->loc;
  w->n++;
  return 0;
}

int
log_segment_referrers (struct log *l, const uint8_t id[LOG_SEG_ID_LEN],
                       struct log_referrer **out, size_t *n,
                       uint64_t *bytes)
{
  struct refs_walk w = { .l = l, .id = id };

  if (log_walk_map (l, refs_block, &w, NULL, bytes) == -1) {
    free (w.out);
    return -1;
  }
  *out = w.out;
  *n = w.n;
  return 0;
}
