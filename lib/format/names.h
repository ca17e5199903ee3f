/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the one grammar of names, for export=, exports=, what NBD
 * clients ask for and what the admin command is given.
 *
 *   name     1 to MAX_EXPORT_NAME characters from A-Z a-z 0-9 . _ -,
 *            and not "." or ".."  (a name is part of object keys)
 *   ref      EXPORT or EXPORT@SNAP: an export, or one of its
 *            snapshots, which is served read-only
 *
 * Parsers that fail have said why with nbdkit_error (the message names
 * the rule broken, prefixed with "what: " unless what is NULL, e.g. "export") and set errno
 * EINVAL.
 */

#ifndef S3BLOCKS_NAMES_H
#define S3BLOCKS_NAMES_H

#include <stdbool.h>
#include <stddef.h>

#include "format/limits.h"

/* The rule, for messages: "use 1 to 128 characters from ...". */
extern const char name_rule[];

/* Silent checks. */
extern bool name_is_valid (const char *name);
extern bool name_is_valid_n (const char *s, size_t len);
extern bool name_ref_is_valid (const char *text);
/* The same for len bytes, not NUL-terminated. */
extern bool name_ref_is_valid_n (const char *s, size_t len);

/* A name, else -1 after a message naming the rule; kind says what
 * the name is for ("export", "snapshot").
 */
extern int name_check (const char *what, const char *kind,
                       const char *name);

struct name_ref {
  char export[MAX_EXPORT_NAME + 1];
  char snap[MAX_EXPORT_NAME + 1];       /* "" for an export */
};

/* Parse EXPORT or EXPORT@SNAP: 0, or -1 after a message. */
extern int name_ref_parse (const char *what, const char *text,
                           struct name_ref *ref);
/* The same, silent: true if valid. */
extern bool name_ref_split (const char *text, struct name_ref *ref);

static inline bool
name_ref_is_snapshot (const struct name_ref *ref)
{
  return ref->snap[0] != '\0';
}

/* Does text name a snapshot (contain the "@")?  For text already
 * checked; says nothing about validity.
 */
extern bool name_text_is_snapshot (const char *text);

/* May a server with exports=globs (NULL: any) serve text, a valid
 * EXPORT or EXPORT@SNAP?  The comma-separated glob patterns match the
 * export's name, so a snapshot is served where its export is.
 */
extern bool name_allowed (const char *globs, const char *text);

/* "export" or "export@snap" into buf (NAME_REF_MAX bytes). */
extern void name_ref_format (const struct name_ref *ref, char *buf,
                             size_t size);

#endif /* S3BLOCKS_NAMES_H */
