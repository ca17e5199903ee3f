/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* placeholder */
#include <nbdkit-plugin.h>
#include "admin.h"
int
clone_from_plain (struct admin *a, const struct export_info *src,
                  const char *new_name)
{
  (void) a; (void) new_name;
  nbdkit_error ("%s: clone from a plain export: not yet", src->name);
  return EXIT_USAGE;
}
