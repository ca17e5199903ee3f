/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the store layer's debug flags, declared once for both
 * engines and defined once (store.c).
 *
 * nbdkit's -D PLUGIN.FLAG=N sets the plugin's exported int
 * PLUGIN_debug_FLAG (nbdkit-plugin(3), "DEBUG FLAGS"); the symbol
 * script plugin/s3blocks.syms exports s3blocks_debug_*.
 */

#ifndef S3BLOCKS_STORE_DEBUG_H
#define S3BLOCKS_STORE_DEBUG_H

/* -D s3blocks.requests=1: log every request attempt (method, key,
 * outcome, time, attempt number) and every gate refusal.
 */
extern int s3blocks_debug_requests;

#endif /* S3BLOCKS_STORE_DEBUG_H */
