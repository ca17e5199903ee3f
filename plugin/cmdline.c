/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: was nbdkit started with -r?  See cmdline.h. */

#include <config.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmdline.h"

/* nbdkit's options that take a value (nbdkit --help, nbdkit 1.32). */
static const char short_with_value[] = "DegiPptUu";
static const char *const long_with_value[] = {
  "debug", "exportname", "filter", "group", "ipaddr", "log",
  "mask-handshake", "pidfile", "port", "run", "selinux-label", "threads",
  "tls", "tls-certificates", "tls-psk", "unix", "user", NULL
};

bool
argv_requests_readonly (int argc, char *const *argv)
{
  bool readonly = false;
  int i;

  for (i = 1; i < argc; i++) {
    const char *a = argv[i];

    if (strcmp (a, "--") == 0)
      break;
    if (strncmp (a, "--", 2) == 0) {
      const char *name = a + 2;
      size_t len = strcspn (name, "=");

      if ((len == 8 && strncmp (name, "readonly", 8) == 0) ||
          (len == 9 && strncmp (name, "read-only", 9) == 0))
        readonly = true;
      else if (name[len] == '\0')
        for (const char *const *l = long_with_value; *l; l++)
          if (strcmp (name, *l) == 0) {
            i++;                /* its value is the next argument */
            break;
          }
    }
    else if (a[0] == '-' && a[1] != '\0') {
      /* Clustered short options: "-fr", "-p10809", "-rU" "sock". */
      for (const char *p = a + 1; *p; p++) {
        if (*p == 'r')
          readonly = true;
        if (strchr (short_with_value, *p)) {
          if (p[1] == '\0')
            i++;
          break;
        }
      }
    }
    /* Anything else is the plugin or a key=value. */
  }
  return readonly;
}

bool
nbdkit_started_readonly (void)
{
  char buf[65536], *argv[1024];
  ssize_t n, len = 0;
  int fd, argc = 0;
  char *p;

  fd = open ("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
  if (fd == -1)
    return false;
  while (len < (ssize_t) sizeof buf - 1 &&
         (n = read (fd, buf + len, sizeof buf - 1 - len)) > 0)
    len += n;
  close (fd);
  buf[len] = '\0';
  for (p = buf; p < buf + len && argc < 1023; p += strlen (p) + 1)
    argv[argc++] = p;
  argv[argc] = NULL;
  return argv_requests_readonly (argc, argv);
}
