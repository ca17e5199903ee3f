/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): the command line, the connection keys
 * (parsed and checked by the plugin's own config code, so defaults and
 * messages are the same), and the verbs.
 *
 *   s3blocks [-v] [--json] [-p] VERB [ARGS] [key=value ...]
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nbdkit-plugin.h>

#include "admin.h"
#include "config/options.h"
#include "format/keys.h"
#include "format/names.h"
#include "nbdkit-standin.h"
#include "progress.h"

/* The keys that say where the bucket is and how to reach it; the
 * others (size=, export=, ...) are about serving an export.
 */
static const char *const connection_keys[] = {
  "endpoint", "bucket", "access-key", "secret-key", "uri-style", "region",
  "signature", "ca-file", "tls-verify", "profile",
  "max-requests", "retries", "retry-delay", "timeout",
};

static const struct {
  const char *name;
  int (*run) (struct admin *a, int argc, char **argv);
} verbs[] = {
  { "list", verb_list },
  { "du", verb_du },
  { "check", verb_check },
  { "delete", verb_delete },
  { "snapshot", verb_snapshot },
  { "clone", verb_clone },
  { "gc", verb_gc },
};

static void
usage (FILE *fp)
{
  fprintf (fp,
"Usage: s3blocks [-v] [--json] [-p] VERB [ARGS] [key=value ...]\n"
"\n"
"NAME is an export, or EXPORT@SNAP for a snapshot (layout=cas).\n"
"\n"
"Verbs:\n"
"  list                    every export and snapshot: size, block size,\n"
"                          layout, created, parent, lease\n"
"  du [NAME...]            plain: stored blocks and bytes, map bytes;\n"
"                          cas: logical bytes, bytes referenced only by\n"
"                          it and shared; the bucket's stored bytes and\n"
"                          the dedup ratio\n"
"  check [--deep] [NAME...]\n"
"                          plain: compare each allocation map with the\n"
"                          blocks listed; cas: every page and content\n"
"                          that a root references exists; --deep also\n"
"                          reads every block (plain: checks its length;\n"
"                          cas: checks its SHA-256)\n"
"  delete [--yes] NAME     plain: its blocks, map, metadata, expired\n"
"                          lease; cas export: metadata, root, lease\n"
"                          (refused while it has snapshots); EXPORT@SNAP:\n"
"                          the snapshot's root; cas content is left to\n"
"                          gc; without --yes, say what would go\n"
"  snapshot EXPORT SNAP    a read-only EXPORT@SNAP of a cas export's last\n"
"                          commit: a few requests, no content copied\n"
"  clone [--layout=L] SOURCE NEW\n"
"                          a new export NEW from SOURCE (EXPORT or\n"
"                          EXPORT@SNAP), of layout L (plain, cas or log;\n"
"                          default: the source's, cas for a plain one):\n"
"                          a few requests within cas or log; across\n"
"                          layouts the data is copied once\n"
"  gc [--dry-run] [grace=TIME]\n"
"                          delete cas content and pages that no root\n"
"                          references and that are older than grace\n"
"                          (default 1h) by the S3 server's clock\n"
"\n"
"Options:\n"
"  -v                      debug messages\n"
"  --json                  list, du and gc: print JSON\n"
"  -p, --progress          gc, clone, check, du, delete: a progress line\n"
"                          on stderr (the default when it is a terminal)\n"
"  --help                  this text\n"
"\n"
"Keys (as the plugin's, same defaults):\n"
"  endpoint= bucket= access-key= secret-key= (SECRET|+FILE|-FD) region=\n"
"  profile= signature= uri-style= ca-file= tls-verify= max-requests=\n"
"  retries= retry-delay= timeout=\n"
"\n"
"Exit status: 0 clean, 1 damage found or refused, 2 usage or connection\n"
"error.  See s3blocks(1).\n");
}

#define KEY_NAME(name, field, syntax, help) name,
static const char *const plugin_keys[] = { S3BLOCKS_CONFIG_KEYS (KEY_NAME) };

static bool
is_plugin_key (const char *key)
{
  for (size_t i = 0; i < sizeof plugin_keys / sizeof *plugin_keys; i++)
    if (strcmp (key, plugin_keys[i]) == 0)
      return true;
  return false;
}

static bool
is_connection_key (const char *key)
{
  for (size_t i = 0; i < sizeof connection_keys / sizeof *connection_keys;
       i++)
    if (strcmp (key, connection_keys[i]) == 0)
      return true;
  return false;
}

/* key=value: a connection key, applied to c.  0 or -1. */
static int
apply_key (struct s3blocks_config *c, const char *arg)
{
  const char *eq = strchr (arg, '=');
  char key[64];
  size_t len = eq - arg;

  if (len >= sizeof key) {
    nbdkit_error ("unknown key \"%.*s\" (s3blocks --help lists the keys)",
                  (int) len, arg);
    return -1;
  }
  memcpy (key, arg, len);
  key[len] = '\0';
  if (!is_connection_key (key)) {
    if (is_plugin_key (key))
      nbdkit_error ("%s=: a key of the plugin for serving an export, not "
                    "of the s3blocks command, which takes connection keys "
                    "only (s3blocks --help lists them)", key);
    else
      nbdkit_error ("unknown key \"%s\" (s3blocks --help lists the keys)",
                    key);
    return -1;
  }
  return config_set (c, key, eq + 1);
}

/* clone --layout=plain|cas|log. */
static int
parse_layout (const char *value, struct admin *a)
{
  const enum export_layout all[] = {
    EXPORT_LAYOUT_PLAIN, EXPORT_LAYOUT_CAS, EXPORT_LAYOUT_LOG,
  };

  for (size_t i = 0; i < sizeof all / sizeof *all; i++)
    if (strcmp (value, export_layout_name (all[i])) == 0) {
      a->layout_given = true;
      a->layout = all[i];
      return 0;
    }
  nbdkit_error ("--layout=%s: expected plain, cas or log", value);
  return -1;
}

/* grace=TIME: a number and s, m, h or d (bare: seconds). */
static int
parse_grace (const char *value, int64_t *s)
{
  char *end;
  unsigned long long n;
  int64_t scale = 1;

  errno = 0;
  if (value[0] < '0' || value[0] > '9')
    goto bad;
  n = strtoull (value, &end, 10);
  if (errno)
    goto bad;
  if (strcmp (end, "m") == 0)
    scale = 60;
  else if (strcmp (end, "h") == 0)
    scale = 3600;
  else if (strcmp (end, "d") == 0)
    scale = 86400;
  else if (strcmp (end, "s") != 0 && *end != '\0')
    goto bad;
  if (n > (unsigned long long) INT32_MAX)
    goto bad;
  *s = (int64_t) n * scale;
  return 0;
 bad:
  nbdkit_error ("grace=%s: expected a time such as 0, 30s, 90m, 1h or 2d",
                value);
  return -1;
}

/* The store type's global state is set up, and must be torn down. */
static bool global_inited;

static int
open_store (struct s3blocks_config *c, struct admin *a)
{
  const struct store_type *type;
  struct store_params params;

  if (config_complete (c) == -1)
    return -1;
  a->lease_ms = c->lease_time_ms;
  a->request_ms = c->timeout_ms;
  a->max_requests = c->max_requests;
  a->cfg = c;
  type = config_store_type (c);
  params = config_store_params (c);
  if (type->validate (&params) == -1)
    return -1;
  if (type->global_init () == -1)
    return -1;
  global_inited = true;
  a->store = type->open (&params);
  if (a->store == NULL)
    return -1;
  if (store_start (a->store) == -1)
    return -1;
  /* A key no export can have: its absence is the expected answer. */
  if (store_check (a->store, EXPORTS_PREFIX ".s3blocks-probe") == -1)
    return -1;
  return 0;
}

int
main (int argc, char **argv)
{
  struct s3blocks_config cfg;
  struct admin a = { .grace_s = -1 };
  char **args;
  int nargs = 0, i, status;
  const char *verb = NULL;
  int (*run) (struct admin *, int, char **) = NULL;
  bool progress = isatty (STDERR_FILENO);

  args = calloc (argc + 1, sizeof *args);
  if (args == NULL || config_init (&cfg) == -1) {
    perror ("s3blocks");
    return EXIT_USAGE;
  }

  /* Options before the verb, the verb, then its arguments and keys in
   * any order.  A key has "=" in it; an export name cannot.
   */
  for (i = 1; i < argc; i++) {
    const char *arg = argv[i];

    if (strcmp (arg, "--help") == 0 || strcmp (arg, "-h") == 0) {
      usage (stdout);
      status = EXIT_CLEAN;
      goto out;
    }
    else if (strcmp (arg, "-v") == 0)
      standin_init (STANDIN_PRINT, true);   /* nbdkit_debug prints */
    else if (strcmp (arg, "--json") == 0)
      a.json = true;
    else if (strcmp (arg, "-p") == 0 || strcmp (arg, "--progress") == 0)
      progress = true;
    else if (strcmp (arg, "--deep") == 0 && verb
             && strcmp (verb, "check") == 0)
      a.deep = true;
    else if (strcmp (arg, "--yes") == 0 && verb
             && strcmp (verb, "delete") == 0)
      a.yes = true;
    else if (strcmp (arg, "--dry-run") == 0 && verb
             && strcmp (verb, "gc") == 0)
      a.dry_run = true;
    else if (strncmp (arg, "--layout=", 9) == 0 && verb
             && strcmp (verb, "clone") == 0) {
      if (parse_layout (arg + 9, &a) == -1) {
        status = EXIT_USAGE;
        goto out;
      }
    }
    else if (strncmp (arg, "grace=", 6) == 0 && verb
             && strcmp (verb, "gc") == 0) {
      if (parse_grace (arg + 6, &a.grace_s) == -1) {
        status = EXIT_USAGE;
        goto out;
      }
    }
    else if (arg[0] == '-' && arg[1] != '\0') {
      nbdkit_error ("unknown option %s%s%s", arg,
                    verb ? " for " : "", verb ? verb : "");
      usage (stderr);
      status = EXIT_USAGE;
      goto out;
    }
    else if (strchr (arg, '=')) {
      if (apply_key (&cfg, arg) == -1) {
        status = EXIT_USAGE;
        goto out;
      }
    }
    else if (verb == NULL) {
      verb = arg;
      for (size_t v = 0; v < sizeof verbs / sizeof *verbs; v++)
        if (strcmp (verb, verbs[v].name) == 0)
          run = verbs[v].run;
      if (run == NULL) {
        nbdkit_error ("unknown verb \"%s\"", verb);
        usage (stderr);
        status = EXIT_USAGE;
        goto out;
      }
    }
    else
      args[nargs++] = argv[i];
  }
  if (verb == NULL) {
    nbdkit_error ("no verb given");
    usage (stderr);
    status = EXIT_USAGE;
    goto out;
  }
  for (i = 0; i < nargs; i++) {
    struct name_ref ref;

    if (name_ref_parse (NULL, args[i], &ref) == -1) {
      status = EXIT_USAGE;
      goto out;
    }
  }

  if (open_store (&cfg, &a) == -1) {
    status = EXIT_USAGE;
    goto out;
  }
  progress_enable (progress);
  status = run (&a, nargs, args);
  progress_finish ();           /* a verb that failed midway */
 out:
  /* Everything freed on every path: the sanitizer build's leak check
   * runs on this command too.
   */
  store_close (a.store);
  if (global_inited)
    config_store_type (&cfg)->global_cleanup ();
  config_free (&cfg);
  free (args);
  return status;
}
