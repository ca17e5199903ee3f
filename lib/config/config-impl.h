/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the config layer's own helpers (values.c), for keys.c and
 * options.c only.  Each returns 0, or -1 with errno set after a message
 * naming the key.
 */

#ifndef S3BLOCKS_CONFIG_IMPL_H
#define S3BLOCKS_CONFIG_IMPL_H

#include <stdbool.h>
#include <stdint.h>

extern int set_string (char **field, const char *value);
extern int parse_bool_key (const char *key, const char *value, bool *r);
extern int parse_size_key (const char *key, const char *value,
                           int64_t min, int64_t max, int64_t *r);
extern int parse_unsigned_key (const char *key, const char *value,
                               unsigned min, unsigned max, unsigned *r);
extern int parse_duration_ms (const char *what, const char *value,
                              unsigned *ms);
extern int parse_duration_key (const char *key, const char *value,
                               unsigned min_ms, unsigned max_ms, unsigned *r);

#endif /* S3BLOCKS_CONFIG_IMPL_H */
