/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks tests: ranged GETs against a real S3 server, through the
 * store that the plugin's keys select (signature=v2: libs3,
 * signature=v4: libcurl), parsed by lib/config as the plugin parses
 * them.
 *
 *   range-check [-v] [--s3rver] KEY=VALUE...
 *
 * PUTs a 1 MiB object of a known pattern under a key of its own, reads
 * ranges of it and compares the bytes (store.h states what each must
 * give): the first byte, the first, a middle and the last 4 KiB, a
 * range running past the end (short), one starting at the end (EIO,
 * naming key and range), a missing key (ENOENT, unlogged).  Then
 * deletes the object.  One "ok:" line a check; exit 0 if all pass, 1
 * if one fails, 2 if the store cannot be opened.
 *
 * --s3rver: s3rver 3.7.1 reads "Range: bytes=0-0" as "bytes=0-" (its
 * filesystem store takes the end 0 for "none") and answers 206 with the
 * whole object; the first-byte check then expects the contract's EIO.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <nbdkit-plugin.h>

#include "config/options.h"
#include "nbdkit-standin.h"
#include "store/store.h"

#define OBJ_SIZE (1024 * 1024)
#define BLOCK 4096

static const struct store_type *type;
static struct store *store;
static unsigned char *object;
static char key[KEY_MAX], missing[KEY_MAX];
static unsigned failures;

static void
fail (const char *what, const char *fmt, ...)
  __attribute__ ((format (printf, 2, 3)));

static void
fail (const char *what, const char *fmt, ...)
{
  va_list ap;

  fprintf (stderr, "range-check: FAIL: %s: ", what);
  va_start (ap, fmt);
  vfprintf (stderr, fmt, ap);
  va_end (ap);
  fprintf (stderr, "\n");
  failures++;
}

/* Read [offset, offset + len) and expect want bytes of the object
 * from offset.
 */
static void
expect_bytes (const char *what, uint64_t offset, size_t len, size_t want)
{
  unsigned char *buf = malloc (len);
  size_t got = 0;
  int err;

  if (buf == NULL) {
    fail (what, "malloc: %m");
    return;
  }
  memset (buf, 0xee, len);
  standin_reset_errors ();
  err = store_get_range (store, key, offset, len, buf, &got);
  if (err != 0)
    fail (what, "%s: %s", strerror (err), standin_last_error);
  else if (got != want)
    fail (what, "got %zu bytes, expected %zu", got, want);
  else if (memcmp (buf, object + offset, got) != 0)
    fail (what, "the bytes differ from the object's at %" PRIu64, offset);
  else
    printf ("ok: %s: %zu bytes from %" PRIu64 "\n", what, got, offset);
  free (buf);
}

/* Read [offset, offset + len) of k and expect the errno err, with a
 * message holding each of the NULL-ended words (none: no message).
 */
static void
expect_error (const char *what, const char *k, uint64_t offset, size_t len,
              int err, ...)
{
  unsigned char *buf = malloc (len);
  size_t got = 99;
  int r;
  va_list ap;
  const char *word;

  if (buf == NULL) {
    fail (what, "malloc: %m");
    return;
  }
  standin_reset_errors ();
  r = store_get_range (store, k, offset, len, buf, &got);
  free (buf);
  if (r != err) {
    fail (what, "%s, expected %s%s%s", r ? strerror (r) : "success",
          strerror (err), standin_error_count ? ": " : "",
          standin_error_count ? standin_last_error : "");
    return;
  }
  if (got != 0)
    fail (what, "a failed range gave got=%zu, expected 0", got);
  va_start (ap, err);
  word = va_arg (ap, const char *);
  if (word == NULL && standin_error_count != 0)
    fail (what, "an answer was logged: %s", standin_last_error);
  for (; word != NULL; word = va_arg (ap, const char *))
    if (strstr (standin_last_error, word) == NULL)
      fail (what, "the message does not say \"%s\": %s", word,
            standin_last_error);
  va_end (ap);
  printf ("ok: %s: %s%s%s\n", what, strerror (err),
          standin_error_count ? ": " : " ",
          standin_error_count ? standin_last_error : "(not logged)");
}

/* Open the store the keys select, as the admin command does. */
static int
open_store (int argc, char **argv)
{
  struct s3blocks_config c;
  struct store_params params;
  int i;

  if (config_init (&c) == -1)
    return -1;
  for (i = 0; i < argc; i++) {
    const char *eq = strchr (argv[i], '=');
    char name[64];

    if (eq == NULL || (size_t) (eq - argv[i]) >= sizeof name) {
      nbdkit_error ("%s: expected KEY=VALUE", argv[i]);
      return -1;
    }
    memcpy (name, argv[i], eq - argv[i]);
    name[eq - argv[i]] = '\0';
    if (config_set (&c, name, eq + 1) == -1)
      return -1;
  }
  if (config_complete (&c) == -1)
    return -1;
  type = config_store_type (&c);
  params = config_store_params (&c);
  printf ("range-check: the %s store at %s, bucket %s\n", type->name,
          params.endpoint, params.bucket);
  if (type->validate (&params) == -1 || type->global_init () == -1)
    return -1;
  store = type->open (&params);     /* copies the strings */
  config_free (&c);
  if (store == NULL || store_start (store) == -1 ||
      store_check (store, missing) == -1)
    return -1;
  return 0;
}

int
main (int argc, char **argv)
{
  bool verbose = false, s3rver = false;
  int i = 1, err;
  size_t j;

  for (; i < argc && argv[i][0] == '-'; i++)
    if (strcmp (argv[i], "-v") == 0)
      verbose = true;
    else if (strcmp (argv[i], "--s3rver") == 0)
      s3rver = true;
    else {
      fprintf (stderr, "usage: range-check [-v] [--s3rver] KEY=VALUE...\n");
      return 2;
    }
  /* Errors are kept to check their words, and printed with -v. */
  standin_init (STANDIN_RECORD, verbose);
  snprintf (key, sizeof key, "range-check/%ld-object", (long) getpid ());
  snprintf (missing, sizeof missing, "range-check/%ld-none", (long) getpid ());
  object = malloc (OBJ_SIZE);
  if (object == NULL) {
    perror ("malloc");
    return 2;
  }
  /* Bytes differ from those a byte or a block away. */
  for (j = 0; j < OBJ_SIZE; j++)
    object[j] = (unsigned char) ((j * 7 + j / BLOCK) % 251);

  if (open_store (argc - i, argv + i) == -1) {
    fprintf (stderr, "range-check: cannot open the store: %s\n",
             standin_last_error);
    return 2;
  }
  if ((err = store_put (store, key, object, OBJ_SIZE)) != 0) {
    fprintf (stderr, "range-check: PUT %s: %s: %s\n", key, strerror (err),
             standin_last_error);
    return 2;
  }

  if (s3rver)
    expect_error ("the first byte (s3rver sends the whole object)", key,
                  0, 1, EIO, key, "bytes=0-0", "Range", NULL);
  else
    expect_bytes ("the first byte", 0, 1, 1);
  expect_bytes ("the first 4 KiB", 0, BLOCK, BLOCK);
  expect_bytes ("a middle 4 KiB", OBJ_SIZE / 2 + BLOCK, BLOCK, BLOCK);
  expect_bytes ("the last 4 KiB", OBJ_SIZE - BLOCK, BLOCK, BLOCK);
  expect_bytes ("a range running 1000 bytes past the end",
                OBJ_SIZE - BLOCK + 1000, BLOCK, BLOCK - 1000);
  expect_error ("a range starting at the end", key, OBJ_SIZE, BLOCK, EIO,
                key, "bytes=1048576-1052671", "past the object's end", NULL);
  expect_error ("a missing key", missing, 0, BLOCK, ENOENT, NULL);

  if ((err = store_delete (store, key)) != 0)
    fail ("DELETE", "%s: %s", strerror (err), standin_last_error);
  store_close (store);
  type->global_cleanup ();
  free (object);
  if (failures) {
    fprintf (stderr, "range-check: %u checks failed\n", failures);
    return 1;
  }
  printf ("range-check: all checks passed\n");
  return 0;
}
