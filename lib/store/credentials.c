/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: credentials from the environment and the shared
 * credentials file.  See credentials.h.
 */

#include <config.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "store/credentials.h"

static void
wipe (char *s)
{
  if (s)
    memset (s, 0, strlen (s));
  free (s);
}

void
credentials_free (struct credentials *c)
{
  free (c->access_key);
  wipe (c->secret_key);
  wipe (c->session_token);
  c->access_key = c->secret_key = c->session_token = NULL;
}

/* Strip leading and trailing blanks in place. */
static char *
trim (char *s)
{
  char *e;

  while (isspace ((unsigned char) *s))
    s++;
  e = s + strlen (s);
  while (e > s && isspace ((unsigned char) e[-1]))
    *--e = '\0';
  return s;
}

static int
set (char **field, const char *value)
{
  char *copy = strdup (value);

  if (copy == NULL) {
    nbdkit_error ("strdup: %m");
    return -1;
  }
  wipe (*field);
  *field = copy;
  return 0;
}

int
credentials_parse (FILE *fp, const char *what, const char *profile,
                   struct credentials *c)
{
  /* Whole lines, however long: a session token can be thousands of
   * bytes, and a line cut in two would have its tail read as a line of
   * its own (a token ending "aws_secret_access_key=x" would replace
   * the secret).  Started big enough that getline rarely moves a line
   * (and so leaves an unwiped copy behind).
   */
  size_t cap = 4096;
  char *line = malloc (cap);
  bool in = false, found = false;
  int r = -1;

  memset (c, 0, sizeof *c);
  if (line == NULL) {
    nbdkit_error ("malloc: %m");
    return -1;
  }
  while (getline (&line, &cap, fp) != -1) {
    char *s = trim (line), *eq, *name, *value;

    if (*s == '\0' || *s == '#' || *s == ';')
      continue;
    if (*s == '[') {
      char *e = strchr (s, ']');
      if (e == NULL)
        continue;
      *e = '\0';
      in = strcmp (trim (s + 1), profile) == 0;
      found |= in;
      continue;
    }
    if (!in || (eq = strchr (s, '=')) == NULL)
      continue;
    *eq = '\0';
    name = trim (s);
    value = trim (eq + 1);
    if (strcmp (name, "aws_access_key_id") == 0) {
      if (set (&c->access_key, value) == -1)
        goto out;
    }
    else if (strcmp (name, "aws_secret_access_key") == 0) {
      if (set (&c->secret_key, value) == -1)
        goto out;
    }
    else if (strcmp (name, "aws_session_token") == 0) {
      if (set (&c->session_token, value) == -1)
        goto out;
    }
  }
  if (!feof (fp)) {             /* a read error, or out of memory */
    nbdkit_error ("%s: cannot read it: %m", what);
    goto out;
  }
  memset (line, 0, cap);
  free (line);
  line = NULL;
  if (!found) {
    r = 0;
    goto out;
  }
  if (c->access_key == NULL || c->secret_key == NULL ||
      !*c->access_key || !*c->secret_key) {
    nbdkit_error ("%s: profile [%s] has no %s: add it, or choose "
                  "another profile with profile=", what, profile,
                  c->access_key && *c->access_key ? "aws_secret_access_key"
                  : "aws_access_key_id");
    errno = EINVAL;
    goto out;
  }
  return 1;

 out:
  if (line) {
    memset (line, 0, cap);
    free (line);
  }
  credentials_free (c);
  return r;
}

static int
from_environment (struct credentials *c)
{
  const char *ak = getenv ("AWS_ACCESS_KEY_ID");
  const char *sk = getenv ("AWS_SECRET_ACCESS_KEY");
  const char *tok = getenv ("AWS_SESSION_TOKEN");

  memset (c, 0, sizeof *c);
  if (ak == NULL || *ak == '\0')
    return 0;
  if (sk == NULL || *sk == '\0') {
    nbdkit_error ("AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is "
                  "not: set both, or give access-key= and secret-key=");
    errno = EINVAL;
    return -1;
  }
  if (set (&c->access_key, ak) == -1 || set (&c->secret_key, sk) == -1 ||
      (tok && *tok && set (&c->session_token, tok) == -1)) {
    credentials_free (c);
    return -1;
  }
  return 1;
}

int
credentials_find (const char *profile, struct credentials *c,
                  char *from, size_t fromlen)
{
  const char *file = getenv ("AWS_SHARED_CREDENTIALS_FILE");
  const char *home = getenv ("HOME");
  char path[4096];
  FILE *fp;
  int r;

  r = from_environment (c);
  if (r != 0) {
    snprintf (from, fromlen, "the environment (AWS_ACCESS_KEY_ID)");
    return r;
  }

  if (profile == NULL)
    profile = getenv ("AWS_PROFILE");
  if (profile == NULL || *profile == '\0')
    profile = "default";
  if (file && *file)
    snprintf (path, sizeof path, "%s", file);
  else if (home && *home)
    snprintf (path, sizeof path, "%s/.aws/credentials", home);
  else
    return 0;

  fp = fopen (path, "r");
  if (fp == NULL) {
    /* A profile asked for by name must be found. */
    if (errno != ENOENT || (file && *file) || strcmp (profile, "default")) {
      nbdkit_error ("cannot read the AWS credentials file %s (for profile "
                    "%s): %m: set AWS_SHARED_CREDENTIALS_FILE, or give "
                    "access-key= and secret-key=", path, profile);
      return -1;
    }
    return 0;
  }
  r = credentials_parse (fp, path, profile, c);
  fclose (fp);
  if (r == 0 && strcmp (profile, "default")) {
    nbdkit_error ("%s has no profile [%s]: fix profile= (or AWS_PROFILE)",
                  path, profile);
    errno = ENOENT;
    return -1;
  }
  if (r == 1)
    snprintf (from, fromlen, "%s, profile [%s]", path, profile);
  return r;
}
