/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: background write-back (writeback-thread.c).
 *
 * One thread for the server uploads, for every open export, the blocks
 * that have been dirty for longer than the write delay, so that an
 * unclean stop (kill -9, a crash, power loss) loses at most about that
 * much of the writes a client never flushed, not up to max-dirty.
 */

#ifndef S3BLOCKS_WRITEBACK_THREAD_H
#define S3BLOCKS_WRITEBACK_THREAD_H

/* From .after_fork (no thread may cross nbdkit's fork).  delay_ms 0:
 * no background write-back, no thread.  0, or -1 after nbdkit_error.
 */
extern int writeback_thread_start (unsigned delay_ms);

/* From .cleanup, before exports_cleanup: waits for a round in
 * progress to end.  Harmless if the thread never started.
 */
extern void writeback_thread_stop (void);

#endif /* S3BLOCKS_WRITEBACK_THREAD_H */
