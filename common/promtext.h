/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: writing the Prometheus text exposition format (version
 * 0.0.4) into a growing buffer.
 *
 * A family is announced once (HELP and TYPE lines), then its samples
 * follow, each with its labels.  Label values and help texts are
 * escaped as the format says (backslash, double quote in label values,
 * newline); names are the caller's constants and are not checked.  An
 * allocation failure is remembered and reported once, by
 * promtext_finish: no call in between needs checking.
 */

#ifndef S3BLOCKS_PROMTEXT_H
#define S3BLOCKS_PROMTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct promtext {
  char *buf;                    /* NUL-terminated once anything is in */
  size_t len, cap;
  bool failed;                  /* an allocation failed: buf is short */
};

#define PROMTEXT_INIT { NULL, 0, 0, false }

struct promtext_label {
  const char *name;
  const char *value;
};

extern void promtext_free (struct promtext *p);

/* "# HELP name help" and "# TYPE name type" (counter, gauge, ...). */
extern void promtext_family (struct promtext *p, const char *name,
                             const char *type, const char *help);

/* "name{l1="v1",...} value", labels[0..n) in order (none: no braces). */
extern void promtext_u64 (struct promtext *p, const char *name,
                          const struct promtext_label *labels, size_t n,
                          uint64_t value);
extern void promtext_i64 (struct promtext *p, const char *name,
                          const struct promtext_label *labels, size_t n,
                          int64_t value);
/* Seconds and other fractions; NaN and infinities as the format
 * spells them.
 */
extern void promtext_f64 (struct promtext *p, const char *name,
                          const struct promtext_label *labels, size_t n,
                          double value);

/* A histogram's samples: name_bucket{...,le="bound"} cumulated over
 * counts[0..nb) (bounds[0..nb-1) upper bounds, the last count the
 * ones above them all, le="+Inf"), name_sum and name_count.  At most 7
 * labels besides le.
 */
extern void promtext_histogram (struct promtext *p, const char *name,
                                const struct promtext_label *labels,
                                size_t n, const double *bounds,
                                const uint64_t *counts, size_t nb,
                                double sum);

/* 0 with the text in p->buf (p->len bytes), or -1 with errno ENOMEM. */
extern int promtext_finish (struct promtext *p);

#endif /* S3BLOCKS_PROMTEXT_H */
