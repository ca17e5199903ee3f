/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the segment I/O's settings, stats and the helpers its
 * files share (log-segio.h).
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "clock.h"
#include "layout/log/log-segio.h"
#include "log-segio-impl.h"

static int
refuse (const struct log_segio *io, const char *what)
{
  nbdkit_error ("export %s: segment I/O: %s",
                io->export_name ? io->export_name : "(unnamed)", what);
  errno = EINVAL;
  return -1;
}

int
log_segio_init (struct log_segio *io)
{
  memset (&io->stats, 0, sizeof io->stats);
  if (io->store == NULL || io->export_name == NULL)
    return refuse (io, "no store or no export name (a bug)");
  if (!block_size_is_valid (io->block_size))
    return refuse (io, "the block size is not a power of 2 from 512 to 1M");
  if (io->segment_size == 0)
    io->segment_size = LOG_SEGIO_SEGMENT_SIZE_DEFAULT;
  if (io->segment_size > MAX_SEGMENT_SIZE ||
      log_segment_capacity (io->block_size, io->segment_size) == 0)
    return refuse (io, "the segment size cannot hold one block, or is "
                   "above the largest (256M)");
  if (io->max_in_flight == 0)
    io->max_in_flight = LOG_SEGIO_IN_FLIGHT_DEFAULT;
  if (io->max_in_flight > STORE_MAX_INFLIGHT)
    return refuse (io, "more segment uploads at once than the store has "
                   "requests in flight");
  if (io->max_read == 0)
    io->max_read = LOG_SEGIO_MAX_READ_DEFAULT;
  if (io->max_read < io->block_size)
    return refuse (io, "the longest read is shorter than a block");
  if (io->max_read_round == 0)
    io->max_read_round = LOG_SEGIO_READ_ROUND_DEFAULT;
  if (io->max_read_round < io->max_read)
    io->max_read_round = io->max_read;
  if (io->clock_ms == NULL)
    io->clock_ms = clock_mono_ms;
  return 0;
}

void
log_segio_get_stats (const struct log_segio *io, struct log_segio_stats *out)
{
  const struct log_segio_stats *s = &io->stats;

  out->segments_put = __atomic_load_n (&s->segments_put, __ATOMIC_RELAXED);
  out->segment_bytes_put = __atomic_load_n (&s->segment_bytes_put,
                                            __ATOMIC_RELAXED);
  out->range_gets = __atomic_load_n (&s->range_gets, __ATOMIC_RELAXED);
  out->bytes_read = __atomic_load_n (&s->bytes_read, __ATOMIC_RELAXED);
  out->blocks_read = __atomic_load_n (&s->blocks_read, __ATOMIC_RELAXED);
  out->index_reads = __atomic_load_n (&s->index_reads, __ATOMIC_RELAXED);
  out->upload_rounds = __atomic_load_n (&s->upload_rounds, __ATOMIC_RELAXED);
  out->builders_peak = __atomic_load_n (&s->builders_peak, __ATOMIC_RELAXED);
}

void
segio_key (char key[KEY_MAX], const uint8_t id[LOG_SEG_ID_LEN])
{
  /* 9 + 32 characters: KEY_MAX always holds them. */
  log_segment_key (key, KEY_MAX, id);
}

int
segio_get_range (struct log_segio *io, const char *key, uint64_t offset,
                 size_t len, void *buf, size_t *got)
{
  int err = store_get_range (io->store, key, offset, len, buf, got);

  segio_count (&io->stats.range_gets, 1);
  if (err == 0)
    segio_count (&io->stats.bytes_read, *got);
  return err;
}
