/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: one growable array for every element type.
 *
 *   DEFINE_VECTOR (name_list, char *);
 *   struct name_list names = VECTOR_INIT;
 *   if (name_list_append (&names, s) == -1) ...   (errno ENOMEM)
 *   for (size_t i = 0; i < names.len; i++) ... names.ptr[i] ...
 *   name_list_reset (&names);                     (frees the array only)
 *
 * The array grows by half again (at least 8 slots), so appending n
 * elements costs O(n) copies in all.  Sizes are checked for overflow.
 * Not thread-safe: the owner's lock guards it.
 */

#ifndef S3BLOCKS_VECTOR_H
#define S3BLOCKS_VECTOR_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define VECTOR_INIT { .ptr = NULL, .len = 0, .cap = 0 }

/* Grow v (of elements of elem bytes) to hold at least n more; 0, or -1
 * with errno ENOMEM (v unchanged).
 */
static inline int
vector_reserve_ (void **ptr, size_t *cap, size_t len, size_t n, size_t elem)
{
  size_t want, newcap;
  void *p;

  if (n <= *cap - len)
    return 0;
  if (n > SIZE_MAX / elem - len) {
    errno = ENOMEM;
    return -1;
  }
  want = len + n;
  newcap = *cap + *cap / 2;
  if (newcap < 8)
    newcap = 8;
  if (newcap < want || newcap > SIZE_MAX / elem)
    newcap = want;
  p = realloc (*ptr, newcap * elem);
  if (p == NULL) {
    errno = ENOMEM;
    return -1;
  }
  *ptr = p;
  *cap = newcap;
  return 0;
}

#define DEFINE_VECTOR(name, type)                                       \
  struct name {                                                         \
    type *ptr;                                                          \
    size_t len, cap;                                                    \
  };                                                                    \
                                                                        \
  static inline __attribute__ ((__unused__)) int                        \
  name##_reserve (struct name *v, size_t n)                             \
  {                                                                     \
    void *p = v->ptr;                                                   \
    int r = vector_reserve_ (&p, &v->cap, v->len, n, sizeof (type));    \
    v->ptr = p;                                                         \
    return r;                                                           \
  }                                                                     \
                                                                        \
  static inline __attribute__ ((__unused__)) int                        \
  name##_append (struct name *v, type elem)                             \
  {                                                                     \
    if (name##_reserve (v, 1) == -1)                                    \
      return -1;                                                        \
    v->ptr[v->len++] = elem;                                            \
    return 0;                                                           \
  }                                                                     \
                                                                        \
  /* A new zeroed element at the end, or NULL (errno ENOMEM). */        \
  static inline __attribute__ ((__unused__)) type *                     \
  name##_push (struct name *v)                                          \
  {                                                                     \
    if (name##_reserve (v, 1) == -1)                                    \
      return NULL;                                                      \
    memset (&v->ptr[v->len], 0, sizeof (type));                         \
    return &v->ptr[v->len++];                                           \
  }                                                                     \
                                                                        \
  /* Frees the array, not what its elements point to. */                \
  static inline __attribute__ ((__unused__)) void                       \
  name##_reset (struct name *v)                                         \
  {                                                                     \
    free (v->ptr);                                                      \
    v->ptr = NULL;                                                      \
    v->len = v->cap = 0;                                                \
  }                                                                     \
  struct name

#endif /* S3BLOCKS_VECTOR_H */
