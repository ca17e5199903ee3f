/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: keys, metadata and lease objects, the command
 * line, status codes.
 */

#include <config.h>

#include <errno.h>
#include <string.h>

#include <CUnit/CUnit.h>
#include <libs3.h>

#include "cmdline.h"
#include "format/keys.h"
#include "lease/leaseinfo.h"
#include "format/meta.h"
#include "store/libs3/s3engine.h"
#include "tests.h"

static void
test_block_keys (void)
{
  char key[KEY_MAX];
  uint64_t off;

  CU_ASSERT_EQUAL (block_key (key, sizeof key, "my_device", 4096), 33);
  CU_ASSERT_STRING_EQUAL (key, "blocks/my_device/0000000000001000");
  block_key (key, sizeof key, "d", 0);
  CU_ASSERT_STRING_EQUAL (key, "blocks/d/0000000000000000");
  block_key (key, sizeof key, "d", UINT64_C (0xfedcba9876543000));
  CU_ASSERT_STRING_EQUAL (key, "blocks/d/fedcba9876543000");
  block_key (key, sizeof key, "d", UINT64_C (1) << 40);
  CU_ASSERT_STRING_EQUAL (key, "blocks/d/0000010000000000");
  CU_ASSERT_EQUAL (block_key (key, 10, "d", 0), -1);
  CU_ASSERT_EQUAL (errno, ENAMETOOLONG);

  block_prefix (key, sizeof key, "d");
  CU_ASSERT_STRING_EQUAL (key, "blocks/d/");
  export_meta_key (key, sizeof key, "d");
  CU_ASSERT_STRING_EQUAL (key, "exports/d");
  export_lease_key (key, sizeof key, "d");
  CU_ASSERT_STRING_EQUAL (key, "leases/d");

  CU_ASSERT_TRUE (block_key_parse_offset ("0000000000001000", &off));
  CU_ASSERT_EQUAL (off, 4096);
  CU_ASSERT_TRUE (block_key_parse_offset ("fedcba9876543000", &off));
  CU_ASSERT_EQUAL (off, UINT64_C (0xfedcba9876543000));
  CU_ASSERT_FALSE (block_key_parse_offset ("000000000000100", &off));
  CU_ASSERT_FALSE (block_key_parse_offset ("00000000000010000", &off));
  CU_ASSERT_FALSE (block_key_parse_offset ("000000000000100A", &off));
  CU_ASSERT_FALSE (block_key_parse_offset ("000000000000100g", &off));
  CU_ASSERT_FALSE (block_key_parse_offset ("", &off));
}

static void
test_meta (void)
{
  struct export_meta m = { 1073741824, 4096, EXPORT_LAYOUT_PLAIN }, back;
  char buf[META_MAX];
  const char *why;

  CU_ASSERT (meta_format (buf, sizeof buf, &m) > 0);
  CU_ASSERT_STRING_EQUAL (buf,
                          "s3blocks-export 1\nsize 1073741824\nblock-size 4096\n");
  CU_ASSERT_EQUAL (meta_parse (buf, strlen (buf), &back, &why), 0);
  CU_ASSERT_EQUAL (back.size, m.size);
  CU_ASSERT_EQUAL (back.block_size, m.block_size);
  CU_ASSERT_EQUAL (back.layout, EXPORT_LAYOUT_PLAIN);

  /* The cas layout has its line; "layout plain" reads as absent. */
  m.layout = EXPORT_LAYOUT_CAS;
  CU_ASSERT (meta_format (buf, sizeof buf, &m) > 0);
  CU_ASSERT_STRING_EQUAL (buf, "s3blocks-export 1\nsize 1073741824\n"
                          "block-size 4096\nlayout cas\n");
  CU_ASSERT_EQUAL (meta_parse (buf, strlen (buf), &back, &why), 0);
  CU_ASSERT_EQUAL (back.layout, EXPORT_LAYOUT_CAS);
  m.layout = EXPORT_LAYOUT_LOG;
  CU_ASSERT (meta_format (buf, sizeof buf, &m) > 0);
  CU_ASSERT_STRING_EQUAL (buf, "s3blocks-export 1\nsize 1073741824\n"
                          "block-size 4096\nlayout log\n");
  CU_ASSERT_EQUAL (meta_parse (buf, strlen (buf), &back, &why), 0);
  CU_ASSERT_EQUAL (back.layout, EXPORT_LAYOUT_LOG);
  CU_ASSERT_STRING_EQUAL (export_layout_name (EXPORT_LAYOUT_LOG), "log");
  strcpy (buf, "s3blocks-export 1\nsize 5\nblock-size 4096\nlayout plain\n");
  CU_ASSERT_EQUAL (meta_parse (buf, strlen (buf), &back, &why), 0);
  CU_ASSERT_EQUAL (back.layout, EXPORT_LAYOUT_PLAIN);

  /* Unknown names are skipped; order does not matter. */
  strcpy (buf, "s3blocks-export 1\nblock-size 65536\ncomment hi\nsize 5\n");
  CU_ASSERT_EQUAL (meta_parse (buf, strlen (buf), &back, &why), 0);
  CU_ASSERT_EQUAL (back.size, 5);
  CU_ASSERT_EQUAL (back.block_size, 65536);

  static const char *const bad[] = {
    "", "hello", "s3blocks-export 2\nsize 1\nblock-size 4096\n",
    "s3blocks-export 1\nsize 1\n",
    "s3blocks-export 1\nsize 0\nblock-size 4096\n",
    "s3blocks-export 1\nsize -1\nblock-size 4096\n",
    "s3blocks-export 1\nsize 99999999999999999999\nblock-size 4096\n",
    "s3blocks-export 1\nsize 1\nblock-size 4095\n",
    "s3blocks-export 1\nsize 1\nblock-size 256\n",
    "s3blocks-export 1\nsize 1x\nblock-size 4096\n",
    "s3blocks-export 1\nsize 1\nblock-size 4096\ngarbage\n",
    "s3blocks-export 1\nsize 1\nblock-size 4096\nlayout tree\n",
    "s3blocks-export 1\nsize 1\nblock-size 4096\nlayout cas2\n",
    NULL
  };
  for (const char *const *b = bad; *b; b++)
    CU_ASSERT_EQUAL (meta_parse (*b, strlen (*b), &back, &why), -1);
  CU_ASSERT_EQUAL (meta_parse ("s3blocks-export 1\nsize 1\0", 24, &back,
                               &why), -1);
}

static bool
alive (int64_t pid, uint64_t start)
{
  return pid == 100 && (start == 0 || start == 7);
}

static void
test_lease (void)
{
  struct lease_info l = {
    .owner = "0123456789abcdef0123456789abcdef", .host = "hostA",
    .pid = 100, .renewed_ms = 1000, .expires_ms = 61000,
    .machine = "m1", .boot = "b1", .pidns = "pid:[4026531836]", .start = 7,
  }, back, self;
  char buf[LEASE_MAX];
  const char *why;
  const char *old = "s3blocks-lease 1\nowner x\nhost hostA\npid 100\n"
    "renewed 1000\nexpires 61000\n";

  CU_ASSERT (lease_format (buf, sizeof buf, &l) > 0);
  CU_ASSERT_EQUAL (lease_parse (buf, strlen (buf), &back, &why), 0);
  CU_ASSERT_STRING_EQUAL (back.owner, l.owner);
  CU_ASSERT_STRING_EQUAL (back.host, "hostA");
  CU_ASSERT_EQUAL (back.pid, 100);
  CU_ASSERT_EQUAL (back.expires_ms, 61000);
  CU_ASSERT_STRING_EQUAL (back.machine, "m1");
  CU_ASSERT_STRING_EQUAL (back.boot, "b1");
  CU_ASSERT_STRING_EQUAL (back.pidns, "pid:[4026531836]");
  CU_ASSERT_EQUAL (back.start, 7);
  CU_ASSERT_EQUAL (lease_parse ("s3blocks-lease 1\nowner x\n", 25, &back,
                                &why), -1);
  CU_ASSERT_EQUAL (lease_parse ("junk", 4, &back, &why), -1);

  /* A lease an older server wrote: parses, without the new fields. */
  CU_ASSERT_EQUAL (lease_parse (old, strlen (old), &back, &why), 0);
  CU_ASSERT_STRING_EQUAL (back.machine, "");
  CU_ASSERT_EQUAL (back.start, 0);

  /* Ours; expired; another machine; another boot of this one; another
   * pid namespace; same namespace, holder alive or gone.
   */
  self = l;
  strcpy (self.owner, "other");
  strcpy (self.host, "hostB");
  CU_ASSERT_EQUAL (lease_judge (&l, &l, 2000, alive), LEASE_OURS);
  CU_ASSERT_EQUAL (lease_judge (&l, &self, 61000, alive), LEASE_EXPIRED);
  CU_ASSERT_EQUAL (lease_judge (&l, &self, 2000, alive), LEASE_LIVE_HERE);
  strcpy (self.machine, "m2");
  CU_ASSERT_EQUAL (lease_judge (&l, &self, 2000, alive), LEASE_ELSEWHERE);
  strcpy (self.machine, "m1");
  strcpy (self.boot, "b2");
  CU_ASSERT_EQUAL (lease_judge (&l, &self, 2000, alive), LEASE_GONE);
  strcpy (self.boot, "b1");
  strcpy (self.pidns, "pid:[1]");
  CU_ASSERT_EQUAL (lease_judge (&l, &self, 2000, alive), LEASE_ELSEWHERE);
  strcpy (self.pidns, l.pidns);
  l.start = 8;                  /* a recycled pid */
  CU_ASSERT_EQUAL (lease_judge (&l, &self, 2000, alive), LEASE_GONE);
  l.start = 0;
  CU_ASSERT_EQUAL (lease_judge (&l, &self, 2000, alive), LEASE_LIVE_HERE);
  l.pid = 101;
  CU_ASSERT_EQUAL (lease_judge (&l, &self, 2000, alive), LEASE_GONE);

  /* The old lease is another host's, even with our host name. */
  lease_parse (old, strlen (old), &back, &why);
  strcpy (self.host, "hostA");
  CU_ASSERT_EQUAL (lease_judge (&back, &self, 2000, alive), LEASE_ELSEWHERE);

  /* No machine id on either side: the boot id decides. */
  l.machine[0] = self.machine[0] = '\0';
  l.pid = 100;
  CU_ASSERT_EQUAL (lease_judge (&l, &self, 2000, alive), LEASE_LIVE_HERE);
  strcpy (self.boot, "b2");
  CU_ASSERT_EQUAL (lease_judge (&l, &self, 2000, alive), LEASE_ELSEWHERE);

  /* This process is alive, with its own start time; pid 2^30 is not. */
  lease_identity_of_this_process (&self);
  CU_ASSERT_NOT_EQUAL (self.start, 0);
  CU_ASSERT (lease_pid_alive (self.pid, self.start));
  CU_ASSERT (!lease_pid_alive (self.pid, self.start + 1));
  CU_ASSERT (!lease_pid_alive (INT64_C (1) << 30, 0));
}

#define ARGV(...) ((char *const []) { "nbdkit", __VA_ARGS__, NULL })
#define ARGC(...) ((int) (sizeof ((char *[]) { "nbdkit", __VA_ARGS__ }) \
                          / sizeof (char *)))
#define READONLY(...) argv_requests_readonly (ARGC (__VA_ARGS__), \
                                              ARGV (__VA_ARGS__))

static void
test_cmdline (void)
{
  CU_ASSERT_TRUE (READONLY ("-r", "./s3blocks.so", "size=1G"));
  CU_ASSERT_TRUE (READONLY ("-fr", "./s3blocks.so"));
  CU_ASSERT_TRUE (READONLY ("--readonly", "s3blocks"));
  CU_ASSERT_TRUE (READONLY ("--read-only", "s3blocks"));
  CU_ASSERT_TRUE (READONLY ("-U", "-", "s3blocks", "-r"));
  CU_ASSERT_TRUE (READONLY ("-rU", "sock", "s3blocks"));
  CU_ASSERT_FALSE (READONLY ("./s3blocks.so", "size=1G"));
  CU_ASSERT_FALSE (READONLY ("-U", "-r", "s3blocks"));
  CU_ASSERT_FALSE (READONLY ("-e", "-r", "s3blocks"));
  CU_ASSERT_FALSE (READONLY ("-p10809", "s3blocks", "export=r"));
  CU_ASSERT_FALSE (READONLY ("--run", "nbdsh -r", "s3blocks"));
  CU_ASSERT_FALSE (READONLY ("--run=qemu -r", "s3blocks"));
  CU_ASSERT_FALSE (READONLY ("-fv", "s3blocks", "--", "-r"));
}

static void
test_status (void)
{
  CU_ASSERT_EQUAL (s3status_to_errno (S3StatusOK), 0);
  CU_ASSERT_EQUAL (s3status_to_errno (S3StatusErrorNoSuchKey), ENOENT);
  CU_ASSERT_EQUAL (s3status_to_errno (S3StatusErrorSignatureDoesNotMatch),
                   EACCES);
  CU_ASSERT_EQUAL (s3status_to_errno (S3StatusErrorInvalidAccessKeyId),
                   EACCES);
  CU_ASSERT_EQUAL (s3status_to_errno (S3StatusFailedToConnect), EIO);
  CU_ASSERT_TRUE (s3status_is_transient (S3StatusFailedToConnect));
  CU_ASSERT_TRUE (s3status_is_transient (S3StatusErrorSlowDown));
  CU_ASSERT_TRUE (s3status_is_transient (S3StatusInterrupted));
  CU_ASSERT_TRUE (s3status_is_transient (S3StatusErrorInternalError));
  CU_ASSERT_FALSE (s3status_is_transient (S3StatusErrorAccessDenied));
  CU_ASSERT_FALSE (s3status_is_transient (S3StatusErrorNoSuchBucket));
  CU_ASSERT_FALSE (s3status_is_transient (S3StatusErrorNoSuchKey));
  CU_ASSERT_TRUE (s3status_is_credentials (S3StatusHttpErrorForbidden));
}

UNIT_SUITES (add_format_tests)
{
  CU_pSuite s = CU_add_suite ("formats", NULL, NULL);

  CU_add_test (s, "block keys", test_block_keys);
  CU_add_test (s, "export metadata", test_meta);
  CU_add_test (s, "lease object", test_lease);
  CU_add_test (s, "nbdkit -r on the command line", test_cmdline);
  CU_add_test (s, "S3 status codes", test_status);
}
