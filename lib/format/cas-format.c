/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the content-addressed layout's objects (cas-format.h):
 * hashes, keys, incarnations and the map page's binary form (the
 * root's text is in cas-root-format.c).
 *
 * Parsers are strict: a root or page that another version or a damaged
 * object could produce is refused with a reason, never guessed at,
 * because a wrong map silently serves wrong blocks.
 */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <nbdkit-plugin.h>

#include "format/bytes.h"
#include "format/cas-format.h"
#include "format/keys.h"

/* SHA-256 fetched from libcrypto's default provider once: passing
 * EVP_sha256 () to EVP_Digest fetches it again on every call, which
 * cost about a tenth of hashing a 4 KiB block (perf, W2 of
 * bench/log.sh).
 */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
fetch_sha256 (void)
{
  sha256 = EVP_MD_fetch (NULL, "SHA256", NULL);
}

void
cas_hash_of (const void *buf, size_t len, struct cas_hash *out)
{
  unsigned int md_len = 0;

  pthread_once (&sha256_once, fetch_sha256);
  if (sha256 == NULL) {
    nbdkit_error ("SHA-256 is not available from libcrypto's default "
                  "provider (check OpenSSL's configuration)");
    abort ();
  }
  /* EVP_Digest fails only when libcrypto cannot allocate.  A made-up
   * hash would name content wrongly in the bucket (and the root
   * committed after it), whereas stopping here leaves the previous
   * root, which every commit is designed to survive.
   */
  if (!EVP_Digest (buf, len, out->b, &md_len, sha256, NULL) ||
      md_len != CAS_HASH_LEN) {
    nbdkit_error ("SHA-256 failed in libcrypto (out of memory?)");
    abort ();
  }
}

bool
cas_hash_equal (const struct cas_hash *a, const struct cas_hash *b)
{
  return memcmp (a->b, b->b, CAS_HASH_LEN) == 0;
}

void
cas_hash_hex (const struct cas_hash *h, char *out)
{
  hex_encode (h->b, CAS_HASH_LEN, out);
}

bool
cas_hash_parse (const char *hex, struct cas_hash *out)
{
  struct cas_hash h;

  if (strnlen (hex, CAS_HEX_LEN + 1) != CAS_HEX_LEN ||
      !hex_decode (hex, h.b, CAS_HASH_LEN))
    return false;
  *out = h;
  return true;
}

int
cas_data_key (char *buf, size_t size, const struct cas_hash *h)
{
  char hex[CAS_HEX_LEN + 1];

  cas_hash_hex (h, hex);
  return snprintf_fits (snprintf (buf, size, CAS_DATA_PREFIX "%s", hex), size);
}

int
cas_page_key (char *buf, size_t size, const struct cas_hash *h)
{
  char hex[CAS_HEX_LEN + 1];

  cas_hash_hex (h, hex);
  return snprintf_fits (snprintf (buf, size, CAS_PAGES_PREFIX "%s", hex), size);
}

int
cas_root_key (char *buf, size_t size, const char *export_name)
{
  return snprintf_fits (snprintf (buf, size, CAS_ROOTS_PREFIX "%s", export_name),
               size);
}

int
cas_snap_key (char *buf, size_t size, const char *export_name,
              const char *snap_name)
{
  return snprintf_fits (snprintf (buf, size, CAS_SNAPS_PREFIX "%s/%s",
                         export_name, snap_name), size);
}

int
cas_snap_prefix (char *buf, size_t size, const char *export_name)
{
  return snprintf_fits (snprintf (buf, size, CAS_SNAPS_PREFIX "%s/", export_name),
               size);
}

int
cas_ref_root_key (char *buf, size_t size, const struct name_ref *ref)
{
  if (name_ref_is_snapshot (ref))
    return cas_snap_key (buf, size, ref->export, ref->snap);
  return cas_root_key (buf, size, ref->export);
}

int
cas_root_key_of (char *buf, size_t size, const char *name)
{
  struct name_ref ref;

  if (!name_ref_split (name, &ref)) {
    errno = EINVAL;
    return -1;
  }
  return cas_ref_root_key (buf, size, &ref);
}

bool
cas_root_key_parse (const char *key, struct name_ref *ref)
{
  const char *rest, *slash;

  memset (ref, 0, sizeof *ref);
  if (strncmp (key, CAS_ROOTS_PREFIX, strlen (CAS_ROOTS_PREFIX)) == 0) {
    rest = key + strlen (CAS_ROOTS_PREFIX);
    if (!name_is_valid (rest))
      return false;
    strcpy (ref->export, rest);
    return true;
  }
  if (strncmp (key, CAS_SNAPS_PREFIX, strlen (CAS_SNAPS_PREFIX)) != 0)
    return false;
  rest = key + strlen (CAS_SNAPS_PREFIX);
  slash = strchr (rest, '/');
  if (slash == NULL || !name_is_valid_n (rest, slash - rest) ||
      !name_is_valid (slash + 1))
    return false;
  memcpy (ref->export, rest, slash - rest);
  strcpy (ref->snap, slash + 1);
  return true;
}

int
cas_new_incarnation (char out[33])
{
  unsigned char bytes[16];

  if (RAND_bytes (bytes, sizeof bytes) != 1) {
    nbdkit_error ("cannot make a random incarnation: "
                  "libcrypto's random generator failed");
    errno = EIO;
    return -1;
  }
  hex_encode (bytes, sizeof bytes, out);
  return 0;
}

/* Pages. */

size_t
cas_page_encode (const struct cas_page *p, void *buf)
{
  uint8_t *b = buf;
  uint32_t i;

  memcpy (b, CAS_PAGE_MAGIC, 8);
  b[8] = (uint8_t) p->level;
  b[9] = b[10] = b[11] = 0;
  put_le32 (b + 12, p->count);
  b += CAS_PAGE_HEADER;
  for (i = 0; i < p->count; i++) {
    put_le16 (b, p->entries[i].slot);
    memcpy (b + 2, p->entries[i].hash.b, CAS_HASH_LEN);
    b += CAS_PAGE_ENTRY;
  }
  return CAS_PAGE_HEADER + (size_t) p->count * CAS_PAGE_ENTRY;
}

int
cas_page_decode (const void *buf, size_t len, struct cas_page *p,
                 const char **why)
{
  const uint8_t *b = buf;
  struct cas_page_entry *entries;
  uint32_t count, i;

  if (len < CAS_PAGE_HEADER || memcmp (b, CAS_PAGE_MAGIC, 8) != 0) {
    *why = "it does not start with \"" CAS_PAGE_MAGIC "\"";
    goto inval;
  }
  if (b[8] > CAS_DEPTH_MAX) {
    *why = "its level is above the deepest tree";
    goto inval;
  }
  if (b[9] || b[10] || b[11]) {
    *why = "its reserved header bytes are not zero";
    goto inval;
  }
  count = get_le32 (b + 12);
  if (count == 0 || count > CAS_FANOUT) {
    *why = "its count of entries is not 1 to 1024";
    goto inval;
  }
  if (len != CAS_PAGE_HEADER + (size_t) count * CAS_PAGE_ENTRY) {
    *why = "its length does not match its count of entries";
    goto inval;
  }
  entries = malloc (count * sizeof *entries);
  if (entries == NULL) {
    *why = "out of memory";
    errno = ENOMEM;
    return -1;
  }
  b += CAS_PAGE_HEADER;
  for (i = 0; i < count; i++) {
    entries[i].slot = get_le16 (b);
    if (entries[i].slot >= CAS_FANOUT ||
        (i > 0 && entries[i].slot <= entries[i - 1].slot)) {
      *why = entries[i].slot >= CAS_FANOUT ? "a slot is 1024 or more"
        : "its slots are not strictly increasing";
      free (entries);
      goto inval;
    }
    memcpy (entries[i].hash.b, b + 2, CAS_HASH_LEN);
    b += CAS_PAGE_ENTRY;
  }
  p->level = ((const uint8_t *) buf)[8];
  p->count = count;
  p->entries = entries;
  return 0;

 inval:
  errno = EINVAL;
  return -1;
}

void
cas_page_free (struct cas_page *p)
{
  free (p->entries);
  p->entries = NULL;
  p->count = 0;
}

bool
cas_page_find (const struct cas_page *p, unsigned slot, struct cas_hash *out)
{
  uint32_t lo = 0, hi = p->count;

  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;

    if (p->entries[mid].slot == slot) {
      if (out)
        *out = p->entries[mid].hash;
      return true;
    }
    if (p->entries[mid].slot < slot)
      lo = mid + 1;
    else
      hi = mid;
  }
  return false;
}
