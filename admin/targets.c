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
plain_targets (struct admin *a, int argc, const struct name_list *ns,
               struct name_list *cas_ns,
               int (*one) (struct admin *a, const struct export_info *info,
                           void *opaque, bool *damaged),
               void *opaque)
{
  int status = EXIT_CLEAN;

  *cas_ns = (struct name_list) VECTOR_INIT;
  for (size_t i = 0; i < ns->len; i++) {
    const char *name = ns->ptr[i];
    struct export_info info;
    bool found, damaged;

    if (!name_text_is_snapshot (name)) {
      if (read_info (a, name, &info, &found) == -1)
        return EXIT_USAGE;
      if (!found) {
        if (argc > 0)
          status = EXIT_USAGE;  /* else deleted since the listing */
        continue;
      }
      if (!info.is_cas) {
        if (one (a, &info, opaque, &damaged) == -1)
          return EXIT_USAGE;
        if (damaged && status == EXIT_CLEAN)
          status = EXIT_DAMAGE;
        continue;
      }
    }
    if (add_name (cas_ns, name) == -1) {
      nbdkit_error ("strdup: %m");
      return EXIT_USAGE;
    }
  }
  return status;
}

int
cas_targets (struct admin *a, int argc, const struct name_list *cas_ns,
             int status,
             int (*cas) (struct admin *a, char **names, int n))
{
  int r;

  if (status == EXIT_USAGE || (argc > 0 && cas_ns->len == 0))
    return status;
  r = cas (a, argc ? cas_ns->ptr : NULL, argc ? (int) cas_ns->len : 0);
  return r > status ? r : status;
}
