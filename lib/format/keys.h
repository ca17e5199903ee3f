/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the keys of every export's objects and of the plain
 * layout's (blocks/, exports/, leases/, maps/); the cas layout's are in
 * cas-format.h.  Every prefix, what its objects hold and who writes
 * them: docs/bucket-format.md, a contract with other tools reading the
 * same bucket.
 */

#ifndef S3BLOCKS_KEYS_H
#define S3BLOCKS_KEYS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define BLOCKS_PREFIX  "blocks/"
#define EXPORTS_PREFIX "exports/"
#define LEASES_PREFIX  "leases/"
#define MAPS_PREFIX    "maps/"

/* Longest key we make, with its NUL: a snapshot's root,
 * "cas/snaps/" + 128-character export + "/" + 128-character snapshot.
 * (S3 allows 1024 bytes.)
 */
#define KEY_MAX 272

/* The result of snprintf into size bytes: its length, or -1 (errno
 * ENAMETOOLONG) if it was cut short (or failed).
 */
extern int snprintf_fits (int len, size_t size);

/* Each returns the key's length, or -1 (errno ENAMETOOLONG) if it does
 * not fit in size bytes.
 */
extern int block_key (char *buf, size_t size, const char *export_name,
                      uint64_t offset);
extern int block_prefix (char *buf, size_t size, const char *export_name);
extern int export_meta_key (char *buf, size_t size, const char *export_name);
extern int export_lease_key (char *buf, size_t size, const char *export_name);
extern int map_root_key (char *buf, size_t size, const char *export_name);
extern int map_segment_key (char *buf, size_t size, const char *export_name,
                            uint64_t offset);

/* Parse what follows the block prefix: exactly 16 lower-case hex digits.
 * Returns false for anything else (a foreign object).
 */
extern bool block_key_parse_offset (const char *suffix, uint64_t *offset);

#endif /* S3BLOCKS_KEYS_H */
