/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): the exports a verb works on. */

#include <config.h>

#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "admin.h"
#include "export/export.h"
#include "format/names.h"

/* The names to work on: those given, each of which must exist, or
 * every export in the bucket.
 */
static int
add_name (void *opaque, const char *name)
{
  struct name_list *ns = opaque;
  char *copy = strdup (name);

  if (copy == NULL || name_list_append (ns, copy) == -1) {
    free (copy);
    return -1;
  }
  return 0;
}

void
free_names (struct name_list *ns)
{
  for (size_t i = 0; i < ns->len; i++)
    free (ns->ptr[i]);
  name_list_reset (ns);
}

int
get_names (struct admin *a, int argc, char **argv, struct name_list *ns)
{
  *ns = (struct name_list) VECTOR_INIT;
  if (argc == 0) {
    if (export_list_names (a->store, add_name, ns) == -1) {
      nbdkit_error ("cannot list the exports in the bucket");
      return -1;
    }
    return 0;
  }
  for (int i = 0; i < argc; i++)
    if (add_name (ns, argv[i]) == -1) {
      nbdkit_error ("strdup: %m");
      return -1;
    }
  return 0;
}

int
read_info (struct admin *a, const char *name, struct export_info *info,
           bool *found)
{
  if (export_info_read (a->store, name, info, found) == -1)
    return -1;
  if (!*found)
    nbdkit_error ("%s: no such export", name);
  return 0;
}

int
read_plain_info (struct admin *a, const char *name, struct export_info *info,
                 struct name_list *cas_ns, enum target_kind *kind)
{
  if (!name_text_is_snapshot (name)) {
    bool found;

    if (read_info (a, name, info, &found) == -1)
      return -1;
    if (!found) {
      *kind = TARGET_MISSING;
      return 0;
    }
    if (!info->is_cas) {
      *kind = TARGET_PLAIN;
      return 0;
    }
  }
  if (add_name (cas_ns, name) == -1) {
    nbdkit_error ("strdup: %m");
    return -1;
  }
  *kind = TARGET_CAS;
  return 0;
}
