/* s3blocks: getting dirty blocks into the store.
 *
 * Three callers: flush (every block dirty when it started), FUA (the
 * blocks of one request) and the dirty bound (the oldest blocks, when a
 * write would take dirty memory past max_dirty).  All go through
 * upload_batch, which uploads a snapshot of each block: the block stays
 * readable and writable meanwhile, and is clean afterwards only if it
 * did not change after the snapshot.  A failed upload leaves the block
 * dirty, so nothing is dropped and the next flush retries it.
 *
 * Called with volume.lock held; it is dropped during the requests.
 */

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>

#include <nbdkit-plugin.h>

#include "bufpool.h"
#include "keys.h"
#include "volume-impl.h"

/* Upload n blocks, each already marked uploading by the caller.
 * Returns the number that failed.
 */
static size_t
upload_batch (struct volume *v, struct block **blocks, size_t n)
{
  struct store_op *ops = calloc (n, sizeof *ops);
  const uint64_t snapshot = ++v->seq;
  size_t i, failures = 0;

  if (ops == NULL) {
    nbdkit_error ("calloc: %m");
    for (i = 0; i < n; i++)
      blocks[i]->uploading = false;
    pthread_cond_broadcast (&v->changed);
    return n;
  }

  for (i = 0; i < n; i++) {
    struct block *b = blocks[i];
    struct store_op *op = &ops[i];

    block_key (op->key, sizeof op->key, v->name, b->index << v->block_shift);
    op->opaque = b;
    if (b->zero) {
      op->kind = STORE_DELETE;
    }
    else {
      op->kind = STORE_PUT;
      op->buf = b->upload_data = b->data;
      op->len = v->block_size;
    }
  }

  /* Zero blocks with no object need no request at all: compact the
   * array so only real requests are sent.
   */
  size_t nr_ops = 0;
  for (i = 0; i < n; i++) {
    struct block *b = ops[i].opaque;
    if (ops[i].kind == STORE_DELETE && !sbitmap_get (&v->present, b->index))
      continue;
    if (nr_ops != i) {
      struct store_op tmp = ops[nr_ops];
      ops[nr_ops] = ops[i];
      ops[i] = tmp;
    }
    nr_ops++;
  }

  pthread_mutex_unlock (&v->lock);
  store_run (v->store, ops, nr_ops);
  pthread_mutex_lock (&v->lock);

  for (i = 0; i < n; i++) {
    struct store_op *op = &ops[i];
    struct block *b = op->opaque;
    int err = i < nr_ops ? op->err : 0;

    b->uploading = false;
    if (b->upload_data && b->upload_data != b->data)
      bufpool_free (v->pool, b->upload_data);
    b->upload_data = NULL;

    if (err == 0 && i < nr_ops) {
      if (op->kind == STORE_PUT) {
        if (sbitmap_set (&v->present, b->index) == -1) {
          nbdkit_error ("allocation map: %m");
          err = ENOMEM;
        }
        else
          v->stats.puts++;
      }
      else {
        sbitmap_clear (&v->present, b->index);
        v->stats.deletes++;
      }
    }
    if (err) {
      failures++;
      continue;
    }
    if (b->mod_seq < snapshot)
      block_set_clean (v, b);   /* may free b */
    else
      block_requeue_dirty (v, b, snapshot);
  }
  free (ops);
  pthread_cond_broadcast (&v->changed);
  return failures;
}

static struct block **
selection_alloc (struct volume *v)
{
  struct block **sel = malloc (v->batch * sizeof *sel);

  if (sel == NULL) {
    nbdkit_error ("malloc: %m");
    errno = ENOMEM;
  }
  return sel;
}

/* Ranges up to this many blocks (a FUA request) are looked up block
 * by block; bigger ones (a flush) walk the dirty list.
 */
#define SMALL_RANGE 4096

int
flush_locked (struct volume *v, uint64_t first, uint64_t last)
{
  /* Every change so far has mod_seq <= target; later ones are not
   * this flush's business.
   */
  const uint64_t target = v->seq;
  struct block **sel = selection_alloc (v);
  size_t total = 0, failures = 0;

  if (sel == NULL)
    return -1;

  for (;;) {
    size_t n = 0;
    bool pending = false;

    if (last - first < SMALL_RANGE) {
      for (uint64_t index = first; index <= last && n < v->batch; index++) {
        struct block *b = block_lookup (v, index);
        if (b == NULL || b->state != BLOCK_DIRTY || b->dirty_seq > target)
          continue;
        if (b->uploading)
          pending = true;
        else
          sel[n++] = b;
      }
    }
    else {
      /* The dirty list is sorted by dirty_seq. */
      for (struct block *b = v->dirty.head;
           b && b->dirty_seq <= target && n < v->batch; b = b->next) {
        if (b->index < first || b->index > last)
          continue;
        if (b->uploading)
          pending = true;
        else
          sel[n++] = b;
      }
    }

    if (n == 0) {
      if (!pending)
        break;
      /* Another thread is uploading some of them: wait, then check
       * whether its upload succeeded.
       */
      pthread_cond_wait (&v->changed, &v->lock);
      continue;
    }
    for (size_t i = 0; i < n; i++)
      sel[i]->uploading = true;
    total += n;
    failures = upload_batch (v, sel, n);
    if (failures)
      break;
  }
  free (sel);

  if (failures) {
    nbdkit_error ("%s: flush failed: %zu of %zu blocks could not be "
                  "written; they stay in memory and the next flush "
                  "retries them", v->name, failures, total);
    errno = EIO;
    return -1;
  }
  if (total)
    nbdkit_debug ("%s: flushed %zu blocks", v->name, total);
  return 0;
}

int
make_room_locked (struct volume *v)
{
  struct block **sel;
  size_t n = 0, failures;

  if (!over_dirty_limit (v))
    return 0;
  sel = selection_alloc (v);
  if (sel == NULL)
    return -1;
  for (struct block *b = v->dirty.head; b && n < v->batch; b = b->next)
    if (!b->uploading)
      sel[n++] = b;
  if (n == 0) {
    /* Everything dirty is being uploaded by other threads. */
    free (sel);
    pthread_cond_wait (&v->changed, &v->lock);
    return 0;
  }
  for (size_t i = 0; i < n; i++)
    sel[i]->uploading = true;
  v->stats.writebacks += n;
  failures = upload_batch (v, sel, n);
  free (sel);
  if (failures) {
    nbdkit_error ("%s: dirty data reached max-dirty (%" PRIu64 " bytes) "
                  "and %zu of %zu blocks could not be written back; "
                  "the write is refused, earlier data stays in memory",
                  v->name, v->max_dirty, failures, n);
    errno = EIO;
    return -1;
  }
  return 0;
}
