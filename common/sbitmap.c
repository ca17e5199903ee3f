/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: a sparse bitmap over uint64_t indexes. */

#include <config.h>

#include <stdlib.h>

#include "sbitmap.h"

#define WORD_BITS 64
#define PAGE_WORDS (SBITMAP_PAGE_BITS / WORD_BITS)

struct sbitmap_page {
  uint32_t count;               /* bits set in this page */
  uint64_t words[PAGE_WORDS];
};

void
sbitmap_free (struct sbitmap *b)
{
  size_t i;

  for (i = 0; i < b->pages.capacity; i++)
    free (b->pages.slots[i].value);
  u64map_free (&b->pages);
  b->count = 0;
}

bool
sbitmap_get (const struct sbitmap *b, uint64_t i)
{
  const struct sbitmap_page *page = u64map_get (&b->pages,
                                                i / SBITMAP_PAGE_BITS);
  uint64_t bit = i % SBITMAP_PAGE_BITS;

  return page && (page->words[bit / WORD_BITS] >> (bit % WORD_BITS)) & 1;
}

int
sbitmap_set (struct sbitmap *b, uint64_t i)
{
  uint64_t pageno = i / SBITMAP_PAGE_BITS;
  uint64_t bit = i % SBITMAP_PAGE_BITS;
  struct sbitmap_page *page = u64map_get (&b->pages, pageno);
  uint64_t mask = UINT64_C (1) << (bit % WORD_BITS);

  if (page == NULL) {
    page = calloc (1, sizeof *page);
    if (page == NULL)
      return -1;
    if (u64map_put (&b->pages, pageno, page) == -1) {
      free (page);
      return -1;
    }
  }
  if ((page->words[bit / WORD_BITS] & mask) == 0) {
    page->words[bit / WORD_BITS] |= mask;
    page->count++;
    b->count++;
  }
  return 0;
}

void
sbitmap_clear (struct sbitmap *b, uint64_t i)
{
  uint64_t pageno = i / SBITMAP_PAGE_BITS;
  uint64_t bit = i % SBITMAP_PAGE_BITS;
  struct sbitmap_page *page = u64map_get (&b->pages, pageno);
  uint64_t mask = UINT64_C (1) << (bit % WORD_BITS);

  if (page == NULL || (page->words[bit / WORD_BITS] & mask) == 0)
    return;
  page->words[bit / WORD_BITS] &= ~mask;
  b->count--;
  if (--page->count == 0)
    free (u64map_remove (&b->pages, pageno));
}

/* The lowest page number above pageno that exists, or UINT64_MAX. */
static uint64_t
next_page_after (const struct sbitmap *b, uint64_t pageno)
{
  uint64_t best = UINT64_MAX;
  size_t i;

  for (i = 0; i < b->pages.capacity; i++)
    if (b->pages.slots[i].value && b->pages.slots[i].key > pageno &&
        b->pages.slots[i].key < best)
      best = b->pages.slots[i].key;
  return best;
}

/* Scan for a bit equal to want; absent pages hold only zeros. */
static uint64_t
next_bit (const struct sbitmap *b, uint64_t from, uint64_t end, bool want)
{
  uint64_t i = from;

  while (i < end) {
    uint64_t pageno = i / SBITMAP_PAGE_BITS;
    uint64_t page_end = (pageno + 1) * SBITMAP_PAGE_BITS;
    const struct sbitmap_page *page = u64map_get (&b->pages, pageno);

    if (page_end > end || page_end == 0)
      page_end = end;
    if (page == NULL) {
      uint64_t next_page;

      if (!want)
        return i;
      /* Jump to the next page that exists: a sparse map over a huge
       * range has few pages and vast gaps between them.
       */
      next_page = next_page_after (b, pageno);
      if (next_page == UINT64_MAX || next_page >= end / SBITMAP_PAGE_BITS + 1)
        return end;
      i = next_page * SBITMAP_PAGE_BITS;
      continue;
    }
    while (i < page_end) {
      uint64_t bit = i % SBITMAP_PAGE_BITS;
      uint64_t word = page->words[bit / WORD_BITS];
      unsigned shift = bit % WORD_BITS;

      if (!want)
        word = ~word;
      word >>= shift;
      if (word != 0) {
        uint64_t found = i + __builtin_ctzll (word);
        return found < end ? found : end;
      }
      i += WORD_BITS - shift;
    }
    i = page_end;
  }
  return end;
}

uint64_t
sbitmap_next_set (const struct sbitmap *b, uint64_t from, uint64_t end)
{
  return next_bit (b, from, end, true);
}

uint64_t
sbitmap_next_clear (const struct sbitmap *b, uint64_t from, uint64_t end)
{
  return next_bit (b, from, end, false);
}
