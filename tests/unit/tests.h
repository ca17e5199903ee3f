/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the suites. */

#ifndef S3BLOCKS_TESTS_H
#define S3BLOCKS_TESTS_H

extern void add_cas_format_tests (void);
extern void add_cas_tree_tests (void);
extern void add_cas_layout_tests (void);
extern void add_config_tests (void);
extern void add_export_tests (void);
extern void add_format_tests (void);
extern void add_lease_tests (void);
extern void add_map_tests (void);
extern void add_layout_tests (void);
extern void add_volume_tests (void);
extern void add_s3store_tests (void);
extern void add_v4_tests (void);

#endif /* S3BLOCKS_TESTS_H */
