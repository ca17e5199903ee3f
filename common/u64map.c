/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: a hash map from uint64_t keys to non-NULL pointers. */

#include <config.h>

#include <errno.h>
#include <stdlib.h>

#include "u64map.h"

static size_t
slot_of (uint64_t key, size_t capacity)
{
  /* Fibonacci hashing: block numbers are sequential, and the multiply
   * spreads neighbours across the table.
   */
  return (size_t) ((key * UINT64_C (0x9E3779B97F4A7C15)) >> 32)
    & (capacity - 1);
}

void
u64map_free (struct u64map *m)
{
  free (m->slots);
  m->slots = NULL;
  m->capacity = m->count = 0;
}

void *
u64map_get (const struct u64map *m, uint64_t key)
{
  size_t i;

  if (m->count == 0)
    return NULL;
  for (i = slot_of (key, m->capacity);
       m->slots[i].value != NULL;
       i = (i + 1) & (m->capacity - 1))
    if (m->slots[i].key == key)
      return m->slots[i].value;
  return NULL;
}

static int
grow (struct u64map *m)
{
  size_t new_capacity = m->capacity ? m->capacity * 2 : 64;
  struct u64map_slot *new_slots, *old_slots = m->slots;
  size_t i, old_capacity = m->capacity;

  if (new_capacity < m->capacity) {
    errno = ENOMEM;
    return -1;
  }
  new_slots = calloc (new_capacity, sizeof *new_slots);
  if (new_slots == NULL)
    return -1;
  for (i = 0; i < old_capacity; i++) {
    if (old_slots[i].value) {
      size_t j = slot_of (old_slots[i].key, new_capacity);
      while (new_slots[j].value)
        j = (j + 1) & (new_capacity - 1);
      new_slots[j] = old_slots[i];
    }
  }
  free (old_slots);
  m->slots = new_slots;
  m->capacity = new_capacity;
  return 0;
}

int
u64map_put (struct u64map *m, uint64_t key, void *value)
{
  size_t i;

  /* Keep the load factor at or under 1/2. */
  if ((m->count + 1) * 2 > m->capacity && grow (m) == -1)
    return -1;
  for (i = slot_of (key, m->capacity);
       m->slots[i].value != NULL;
       i = (i + 1) & (m->capacity - 1)) {
    if (m->slots[i].key == key) {
      m->slots[i].value = value;
      return 0;
    }
  }
  m->slots[i].key = key;
  m->slots[i].value = value;
  m->count++;
  return 0;
}

void *
u64map_remove (struct u64map *m, uint64_t key)
{
  size_t mask = m->capacity - 1;
  size_t i, j;
  void *value;

  if (m->count == 0)
    return NULL;
  for (i = slot_of (key, m->capacity); ; i = (i + 1) & mask) {
    if (m->slots[i].value == NULL)
      return NULL;
    if (m->slots[i].key == key)
      break;
  }
  value = m->slots[i].value;
  m->count--;

  /* Backward shift: move later members of the probe run into the hole
   * when their home slot is not between the hole and themselves.
   */
  for (j = (i + 1) & mask; m->slots[j].value != NULL; j = (j + 1) & mask) {
    size_t home = slot_of (m->slots[j].key, m->capacity);
    if (((j - home) & mask) >= ((j - i) & mask)) {
      m->slots[i] = m->slots[j];
      i = j;
    }
  }
  m->slots[i].value = NULL;
  return value;
}
