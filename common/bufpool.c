/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: block buffers from a pool.  See bufpool.h. */

#include <config.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/mman.h>

#include "bufpool.h"

/* Buffers are carved from mappings of this size (or one buffer, if
 * bigger): large enough to make mapping rare, small enough not to
 * overshoot a small max-dirty by much.
 */
#define CHUNK_SIZE (1024 * 1024)

struct chunk {
  void *base;
  size_t len;
  struct chunk *next;
};

struct bufpool {
  size_t size;
  pthread_mutex_t lock;
  void *free_list;              /* each free buffer starts with the next */
  struct chunk *chunks;
  struct bufpool *next;
};

static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bufpool *pools;

struct bufpool *
bufpool_get (size_t size)
{
  struct bufpool *p;

  pthread_mutex_lock (&pools_lock);
  for (p = pools; p; p = p->next)
    if (p->size == size)
      break;
  if (p == NULL) {
    p = calloc (1, sizeof *p);
    if (p) {
      p->size = size;
      pthread_mutex_init (&p->lock, NULL);
      p->next = pools;
      pools = p;
    }
  }
  pthread_mutex_unlock (&pools_lock);
  return p;
}

/* Map another chunk and put its buffers on the free list. */
static int
grow (struct bufpool *p)
{
  const size_t len = p->size > CHUNK_SIZE ? p->size : CHUNK_SIZE;
  struct chunk *c = malloc (sizeof *c);
  char *base;
  size_t off;

  if (c == NULL)
    return -1;
  /* MAP_POPULATE: the loop below writes into every buffer anyway, so
   * with buffers of a page or less every page, and one populating call
   * costs less than a page fault per page (bufpool growth was 9 % of
   * nbdkit's CPU in W1 of bench/log.sh, a fresh server writing 256 MiB,
   * nearly all of it in page faults).  With larger buffers it also maps
   * pages the loop does not touch, at most a chunk's worth, all of
   * which a buffer's user writes soon after.
   */
  base = mmap (NULL, len, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (base == MAP_FAILED) {
    free (c);
    errno = ENOMEM;
    return -1;
  }
  c->base = base;
  c->len = len;
  c->next = p->chunks;
  p->chunks = c;
  /* Last buffer first, so the first handed out is at the start. */
  for (off = len; off >= p->size; off -= p->size) {
    void **buf = (void **) (base + off - p->size);
    *buf = p->free_list;
    p->free_list = buf;
  }
  return 0;
}

void *
bufpool_alloc (struct bufpool *p)
{
  void **buf;

#ifdef BUFPOOL_USE_MALLOC
  /* Sanitizer builds: let ASan see each buffer's lifetime. */
  return malloc (p->size);
#endif
  pthread_mutex_lock (&p->lock);
  if (p->free_list == NULL && grow (p) == -1) {
    pthread_mutex_unlock (&p->lock);
    return NULL;
  }
  buf = p->free_list;
  p->free_list = *buf;
  pthread_mutex_unlock (&p->lock);
  return buf;
}

void
bufpool_free (struct bufpool *p, void *buf)
{
  if (buf == NULL)
    return;
#ifdef BUFPOOL_USE_MALLOC
  free (buf);
  return;
#endif
  pthread_mutex_lock (&p->lock);
  *(void **) buf = p->free_list;
  p->free_list = buf;
  pthread_mutex_unlock (&p->lock);
}

void
bufpool_cleanup (void)
{
  pthread_mutex_lock (&pools_lock);
  while (pools) {
    struct bufpool *p = pools;

    pools = p->next;
    while (p->chunks) {
      struct chunk *c = p->chunks;
      p->chunks = c->next;
      munmap (c->base, c->len);
      free (c);
    }
    pthread_mutex_destroy (&p->lock);
    free (p);
  }
  pthread_mutex_unlock (&pools_lock);
}
