/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the export metadata object, exports/{export}.
 *
 *   s3blocks-export 1
 *   size 1073741824
 *   block-size 4096
 *   layout cas                 (or log; absent: plain)
 *
 * Text, one "name value" per line, so that other tools (and people
 * with an S3 browser) can read it.  Unknown names are ignored so that
 * later versions can add some; the first line is required.  Who writes
 * and reads it: docs/bucket-format.md (which carries this format too).
 */

#ifndef S3BLOCKS_META_H
#define S3BLOCKS_META_H

#include <stddef.h>
#include <stdint.h>

#define META_MAGIC "s3blocks-export 1"
#define META_MAX 4096

/* Where the blocks are: blocks/{export}/ (layout.h), cas/, or log/. */
enum export_layout {
  EXPORT_LAYOUT_PLAIN,
  EXPORT_LAYOUT_CAS,
  EXPORT_LAYOUT_LOG,            /* segments under log/segs/ */
};

struct export_meta {
  uint64_t size;
  uint32_t block_size;
  enum export_layout layout;
};

extern const char *export_layout_name (enum export_layout layout);

/* Returns the length written (< size), or -1 (errno ENAMETOOLONG). */
extern int meta_format (char *buf, size_t size, const struct export_meta *m);

/* Returns 0, or -1 with *why set to a static description. */
extern int meta_parse (const char *buf, size_t len, struct export_meta *m,
                       const char **why);

/* A number in our text objects (this one, and the cas roots): decimal
 * digits filling the whole value, no sign, no overflow.  0, or -1.
 */
extern int meta_parse_u64 (const char *s, size_t len, uint64_t *r);

#endif /* S3BLOCKS_META_H */
