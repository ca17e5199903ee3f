/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: a hash map from uint64_t keys to non-NULL pointers.
 *
 * Open addressing with linear probing and backward-shift deletion, so
 * there are no tombstones and lookups stay short under churn (the
 * block cache inserts and evicts constantly).  Not thread-safe: the
 * owner locks.
 */

#ifndef S3BLOCKS_U64MAP_H
#define S3BLOCKS_U64MAP_H

#include <stddef.h>
#include <stdint.h>

struct u64map_slot {
  uint64_t key;
  void *value;                  /* NULL: empty slot */
};

struct u64map {
  struct u64map_slot *slots;
  size_t capacity;              /* 0 or a power of 2 */
  size_t count;
};

#define U64MAP_INIT { NULL, 0, 0 }

extern void u64map_free (struct u64map *m);
extern void *u64map_get (const struct u64map *m, uint64_t key);
/* Insert or replace.  Returns 0, or -1 with errno ENOMEM. */
extern int u64map_put (struct u64map *m, uint64_t key, void *value);
/* Returns the removed value, or NULL if the key was absent. */
extern void *u64map_remove (struct u64map *m, uint64_t key);

/* Iterate: for (i = 0; i < m->capacity; i++) if (m->slots[i].value) ...
 * (removing during iteration is not allowed).
 */

#endif /* S3BLOCKS_U64MAP_H */
