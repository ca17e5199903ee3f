/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the object layout in the bucket. */

#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>

#include "format/keys.h"

int
snprintf_fits (int len, size_t size)
{
  if (len < 0 || (size_t) len >= size) {
    errno = ENAMETOOLONG;
    return -1;
  }
  return len;
}

int
block_key (char *buf, size_t size, const char *export_name, uint64_t offset)
{
  return snprintf_fits (snprintf (buf, size, BLOCKS_PREFIX "%s/%016" PRIx64,
                         export_name, offset), size);
}

int
block_prefix (char *buf, size_t size, const char *export_name)
{
  return snprintf_fits (snprintf (buf, size, BLOCKS_PREFIX "%s/", export_name), size);
}

int
export_meta_key (char *buf, size_t size, const char *export_name)
{
  return snprintf_fits (snprintf (buf, size, EXPORTS_PREFIX "%s", export_name), size);
}

int
export_lease_key (char *buf, size_t size, const char *export_name)
{
  return snprintf_fits (snprintf (buf, size, LEASES_PREFIX "%s", export_name), size);
}

int
map_root_key (char *buf, size_t size, const char *export_name)
{
  return snprintf_fits (snprintf (buf, size, MAPS_PREFIX "%s", export_name), size);
}

int
map_segment_key (char *buf, size_t size, const char *export_name,
                 uint64_t offset)
{
  return snprintf_fits (snprintf (buf, size, MAPS_PREFIX "%s/%016" PRIx64,
                         export_name, offset), size);
}

bool
block_key_parse_offset (const char *suffix, uint64_t *offset)
{
  uint64_t v = 0;
  int i;

  for (i = 0; i < 16; i++) {
    char ch = suffix[i];

    if (ch >= '0' && ch <= '9')
      v = (v << 4) | (uint64_t) (ch - '0');
    else if (ch >= 'a' && ch <= 'f')
      v = (v << 4) | (uint64_t) (ch - 'a' + 10);
    else
      return false;
  }
  if (suffix[16] != '\0')
    return false;
  *offset = v;
  return true;
}
