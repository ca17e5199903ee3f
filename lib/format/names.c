/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the grammar of export and snapshot names.  See names.h. */

#include <config.h>

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "format/names.h"

#define STR_(x) #x
#define STR(x) STR_ (x)

const char name_rule[] =
  "use 1 to " STR (MAX_EXPORT_NAME) " characters from A-Z a-z 0-9 . _ -, "
  "and not \".\" or \"..\"";

bool
name_is_valid_n (const char *s, size_t len)
{
  size_t i;

  if (len == 0 || len > MAX_EXPORT_NAME)
    return false;
  if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
    return false;
  for (i = 0; i < len; i++) {
    const char ch = s[i];

    if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
          (ch >= '0' && ch <= '9') || ch == '.' || ch == '_' || ch == '-'))
      return false;
  }
  return true;
}

bool
name_is_valid (const char *name)
{
  return name_is_valid_n (name, strlen (name));
}

int
name_check (const char *what, const char *kind, const char *name)
{
  if (name_is_valid (name))
    return 0;
  nbdkit_error ("%s%sinvalid %s name \"%s\": %s", what ? what : "",
                what ? ": " : "", kind, name, name_rule);
  errno = EINVAL;
  return -1;
}

bool
name_ref_split (const char *text, struct name_ref *ref)
{
  const char *at = strchr (text, '@');
  const size_t len = at ? (size_t) (at - text) : strlen (text);

  memset (ref, 0, sizeof *ref);
  if (!name_is_valid_n (text, len))
    return false;
  memcpy (ref->export, text, len);
  if (at == NULL)
    return true;
  if (!name_is_valid (at + 1))
    return false;
  strcpy (ref->snap, at + 1);
  return true;
}

bool
name_ref_is_valid_n (const char *s, size_t len)
{
  const char *at = memchr (s, '@', len);

  if (at == NULL)
    return name_is_valid_n (s, len);
  return name_is_valid_n (s, at - s) &&
    name_is_valid_n (at + 1, len - (at + 1 - s));
}

bool
name_ref_is_valid (const char *text)
{
  struct name_ref ref;

  return name_ref_split (text, &ref);
}

int
name_ref_parse (const char *what, const char *text, struct name_ref *ref)
{
  const char *at;
  const char *p = what ? what : "", *sep = what ? ": " : "";

  if (name_ref_split (text, ref))
    return 0;
  at = strchr (text, '@');
  if (at == NULL)
    nbdkit_error ("%s%sinvalid export name \"%s\": %s", p, sep, text,
                  name_rule);
  else if (strchr (at + 1, '@'))
    nbdkit_error ("%s%sinvalid name \"%s\": one \"@\" at most, between an "
                  "export and a snapshot (EXPORT@SNAP)", p, sep, text);
  else if (at == text)
    nbdkit_error ("%s%sinvalid name \"%s\": EXPORT@SNAP needs an export "
                  "name before the \"@\"", p, sep, text);
  else if (at[1] == '\0')
    nbdkit_error ("%s%sinvalid name \"%s\": EXPORT@SNAP needs a snapshot "
                  "name after the \"@\"", p, sep, text);
  else if (!name_is_valid_n (text, at - text))
    nbdkit_error ("%s%sinvalid export name \"%.*s\" in \"%s\": %s", p, sep,
                  (int) (at - text), text, text, name_rule);
  else
    nbdkit_error ("%s%sinvalid snapshot name \"%s\" in \"%s\": %s", p, sep,
                  at + 1, text, name_rule);
  errno = EINVAL;
  return -1;
}

bool
name_text_is_snapshot (const char *text)
{
  return strchr (text, '@') != NULL;
}

void
name_ref_format (const struct name_ref *ref, char *buf, size_t size)
{
  if (name_ref_is_snapshot (ref))
    snprintf (buf, size, "%s@%s", ref->export, ref->snap);
  else
    snprintf (buf, size, "%s", ref->export);
}

/* exports= patterns match the export part: a snapshot is served where
 * its export is.
 */
bool
name_allowed (const char *globs, const char *text)
{
  struct name_ref ref;
  const char *p = globs;

  if (globs == NULL)
    return true;
  if (!name_ref_split (text, &ref))
    return false;
  while (*p) {
    const size_t len = strcspn (p, ",");
    char pattern[MAX_EXPORT_NAME * 4 + 1];

    if (len > 0 && len < sizeof pattern) {
      memcpy (pattern, p, len);
      pattern[len] = '\0';
      if (fnmatch (pattern, ref.export, FNM_PERIOD) == 0)
        return true;
    }
    p += len;
    if (*p == ',')
      p++;
  }
  return false;
}
