/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: the two XML documents an S3 server sends us.
 *
 * A ListObjects (v1) result and an <Error>.  Both are small, flat and
 * machine-written, so a few string searches read them: no XML library.
 * Text is entity-decoded (&amp; &lt; &gt; &quot; &apos; &#N; &#xN;),
 * so a key with '&' or '<' comes back as it was stored.  CDATA,
 * comments and namespaces prefixes on our elements do not occur in
 * these documents and are not handled.
 */

#ifndef S3BLOCKS_S3XML_H
#define S3BLOCKS_S3XML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct s3xml_item {
  char *key;
  uint64_t size;
  int64_t mtime;                /* <LastModified>, 0 if absent or unreadable */
  bool is_prefix;               /* from <CommonPrefixes> */
};

struct s3xml_list {
  struct s3xml_item *items;     /* objects and prefixes, in key order */
  size_t nr_items;
  bool truncated;               /* <IsTruncated>true */
  char *next_marker;            /* <NextMarker>, or NULL */
};

/* Parse a ListBucketResult.  Returns 0, or -1 with errno EINVAL
 * (malformed: a <Contents> without <Key>, a bad <Size>, bad entity)
 * or ENOMEM.  Nothing is logged.  On success free with s3xml_list_free.
 */
extern int s3xml_parse_list (const char *xml, size_t len,
                             struct s3xml_list *list);
extern void s3xml_list_free (struct s3xml_list *list);

/* Parse a ListBucketResult into a page for the LIST pager
 * (list-pager.h): entries in the document's order, keys as they came
 * (the pager, not this, drops keys outside the prefix).  Returns 0, or
 * -1 with errno as s3xml_parse_list.  Free with s3xml_list_page_free.
 */
struct list_page;
extern int s3xml_list_page (const char *xml, size_t len,
                            struct list_page *page);
extern void s3xml_list_page_free (struct list_page *page);

/* An S3 <LastModified>: "YYYY-MM-DDTHH:MM:SS[.fff]Z" (UTC), as seconds
 * since 1970 (fractions dropped).  Returns 0 on success, -1 for
 * anything else (no time zone but Z is accepted).
 */
extern int s3xml_parse_time (const char *s, size_t len, int64_t *t);

/* The decoded text of the first <name>...</name> in xml[0..len), into
 * out (truncated to outlen - 1 bytes).  Returns true if found.  For an
 * <Error>'s Code, Message, Region, ...
 */
extern bool s3xml_find (const char *xml, size_t len, const char *name,
                        char *out, size_t outlen);

/* Decode entities in s[0..len) into a new string; NULL with errno
 * EINVAL on an unknown or malformed entity, ENOMEM.
 */
extern char *s3xml_decode (const char *s, size_t len);

#endif /* S3BLOCKS_S3XML_H */
