/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: the pure parts of the Signature V4 store.
 *
 * Query strings as V4 signs them (encoded, sorted, "?delete" as
 * "delete="), ListBucketResult and Error documents (entities,
 * truncation, common prefixes), the AWS credentials file, what an HTTP
 * answer means (errno, retry, advice naming the key), and the libs3
 * store refusing unverifiable TLS.
 */

#include <config.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <CUnit/CUnit.h>

#include "store/credentials.h"
#include "store/curl/httpstatus.h"
#include "store/curl/s3xml.h"
#include "store/curl/sigv4-query.h"
#include "store/store.h"
#include "nbdkit-standin.h"
#include "tests.h"

static void
test_uri_encode (void)
{
  char *s;

  s = uri_encode ("blocks/exp 1/0000+a~b_c.d-e", true);
  CU_ASSERT_STRING_EQUAL (s, "blocks/exp%201/0000%2Ba~b_c.d-e");
  free (s);
  s = uri_encode ("a/b&c=d%", false);
  CU_ASSERT_STRING_EQUAL (s, "a%2Fb%26c%3Dd%25");
  free (s);
  s = uri_encode ("\xc3\xa9*", false);          /* UTF-8 bytes, upper hex */
  CU_ASSERT_STRING_EQUAL (s, "%C3%A9%2A");
  free (s);
}

static void
test_query_build (void)
{
  struct query_param q[] = {
    { "prefix", "blocks/a b/" }, { "max-keys", "1000" },
    { "marker", "blocks/a b/0001" }, { "delimiter", "/" },
  };
  struct query_param del[] = { { "delete", NULL } };
  char *s;

  s = query_build (q, 4);
  CU_ASSERT_STRING_EQUAL (s, "delimiter=%2F&marker=blocks%2Fa%20b%2F0001&"
                          "max-keys=1000&prefix=blocks%2Fa%20b%2F");
  free (s);
  s = query_build (del, 1);
  CU_ASSERT_STRING_EQUAL (s, "delete=");
  free (s);
  s = query_build (NULL, 0);
  CU_ASSERT_STRING_EQUAL (s, "");
  free (s);
}

static const char list_xml[] =
  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>"
  "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
  "<Name>b</Name><Prefix>x/</Prefix><Marker></Marker>"
  "<NextMarker>x/d&amp;e/</NextMarker><MaxKeys>3</MaxKeys>"
  "<Delimiter>/</Delimiter><IsTruncated>true</IsTruncated>"
  "<Contents><Key>x/b&lt;1&gt;</Key><LastModified>2026</LastModified>"
  "<ETag>&quot;abc&quot;</ETag><Size>4096</Size></Contents>"
  "<Contents><Key>x/a&#38;&#x41;&#233;</Key><Size>0</Size></Contents>"
  "<CommonPrefixes><Prefix>x/d&amp;e/</Prefix></CommonPrefixes>"
  "</ListBucketResult>";

static void
test_list_xml (void)
{
  struct s3xml_list l;

  CU_ASSERT_EQUAL_FATAL (s3xml_parse_list (list_xml, strlen (list_xml), &l),
                         0);
  CU_ASSERT_EQUAL_FATAL (l.nr_items, 3);
  /* Key order, entities decoded (&#233; as UTF-8). */
  CU_ASSERT_STRING_EQUAL (l.items[0].key, "x/a&A\xc3\xa9");
  CU_ASSERT_EQUAL (l.items[0].size, 0);
  CU_ASSERT_STRING_EQUAL (l.items[1].key, "x/b<1>");
  CU_ASSERT_EQUAL (l.items[1].size, 4096);
  CU_ASSERT (!l.items[1].is_prefix);
  CU_ASSERT_STRING_EQUAL (l.items[2].key, "x/d&e/");
  CU_ASSERT (l.items[2].is_prefix);
  CU_ASSERT (l.truncated);
  CU_ASSERT_STRING_EQUAL (l.next_marker, "x/d&e/");
  s3xml_list_free (&l);
}

static void
test_list_xml_edges (void)
{
  static const char empty[] =
    "<ListBucketResult><Name>b</Name><IsTruncated>false</IsTruncated>"
    "</ListBucketResult>";
  static const char no_key[] =
    "<ListBucketResult><Contents><Size>1</Size></Contents>"
    "<Contents><Key>k</Key></Contents></ListBucketResult>";
  static const char bad_size[] =
    "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents>"
    "</ListBucketResult>";
  static const char bad_entity[] =
    "<ListBucketResult><Contents><Key>a&bogus;</Key></Contents>"
    "</ListBucketResult>";
  static const char unterminated[] =
    "<ListBucketResult><Contents><Key>k</Key>";
  struct s3xml_list l;

  CU_ASSERT_EQUAL (s3xml_parse_list (empty, strlen (empty), &l), 0);
  CU_ASSERT_EQUAL (l.nr_items, 0);
  CU_ASSERT (!l.truncated);
  CU_ASSERT_PTR_NULL (l.next_marker);
  s3xml_list_free (&l);

  CU_ASSERT_EQUAL (s3xml_parse_list (no_key, strlen (no_key), &l), -1);
  CU_ASSERT_EQUAL (errno, EINVAL);
  CU_ASSERT_EQUAL (s3xml_parse_list (bad_size, strlen (bad_size), &l), -1);
  CU_ASSERT_EQUAL (s3xml_parse_list (bad_entity, strlen (bad_entity), &l),
                   -1);
  CU_ASSERT_EQUAL (s3xml_parse_list (unterminated, strlen (unterminated),
                                     &l), -1);
  /* Not a listing at all (an error page). */
  CU_ASSERT_EQUAL (s3xml_parse_list ("<html/>", 7, &l), -1);
  /* Bounded by len, not by a terminating NUL. */
  CU_ASSERT_EQUAL (s3xml_parse_list (list_xml, 40, &l), -1);
}

/* LastModified: seconds since 1970 (UTC), fractions dropped; unknown
 * (0) for what is not an S3 date, never a failed listing.
 */
static void
test_list_mtime (void)
{
  static const char xml[] =
    "<ListBucketResult><IsTruncated>false</IsTruncated>"
    "<Contents><Key>a</Key><LastModified>2026-03-01T12:34:56.789Z"
    "</LastModified><Size>1</Size></Contents>"
    "<Contents><Key>b</Key><LastModified>1970-01-01T00:00:00Z"
    "</LastModified></Contents>"
    "<Contents><Key>c</Key><LastModified>yesterday</LastModified>"
    "</Contents>"
    "<Contents><Key>d</Key></Contents>"
    "<CommonPrefixes><Prefix>p/</Prefix></CommonPrefixes>"
    "</ListBucketResult>";
  static const struct {
    const char *s;
    int r;
    int64_t t;
  } times[] = {
    { "2000-02-29T00:00:00Z", 0, 951782400 },
    { "2024-12-31T23:59:59.5Z", 0, 1735689599 },
    { "2038-01-19T03:14:08.000Z", 0, 2147483648LL },
    { "2100-03-01T00:00:00Z", 0, 4107542400LL },
    { "2026-02-30T00:00:00Z", -1, 0 },        /* no such day */
    { "2026-13-01T00:00:00Z", -1, 0 },
    { "2026-01-01T24:00:00Z", -1, 0 },
    { "2026-01-01T00:00:00", -1, 0 },         /* no zone */
    { "2026-01-01T00:00:00+01:00", -1, 0 },   /* only Z */
    { "2026-01-01T00:00:00.Z", -1, 0 },
    { "2026-01-01 00:00:00Z", -1, 0 },
    { "1969-12-31T23:59:59Z", -1, 0 },
  };
  struct s3xml_list l;

  for (size_t i = 0; i < sizeof times / sizeof *times; i++) {
    int64_t t = 0;
    int r = s3xml_parse_time (times[i].s, strlen (times[i].s), &t);

    CU_ASSERT_EQUAL (r, times[i].r);
    if (r == 0)
      CU_ASSERT_EQUAL (t, times[i].t);
  }
  CU_ASSERT_EQUAL_FATAL (s3xml_parse_list (xml, strlen (xml), &l), 0);
  CU_ASSERT_EQUAL_FATAL (l.nr_items, 5);
  CU_ASSERT_EQUAL (l.items[0].mtime, 1772368496);
  CU_ASSERT_EQUAL (l.items[0].size, 1);
  CU_ASSERT_EQUAL (l.items[1].mtime, 0);
  CU_ASSERT_EQUAL (l.items[2].mtime, 0);    /* unreadable: unknown */
  CU_ASSERT_EQUAL (l.items[3].mtime, 0);    /* absent */
  CU_ASSERT (l.items[4].is_prefix);
  CU_ASSERT_EQUAL (l.items[4].mtime, 0);
  s3xml_list_free (&l);
}

static void
test_error_xml (void)
{
  static const char xml[] =
    "<?xml version=\"1.0\"?><Error><Code>AuthorizationHeaderMalformed</Code>"
    "<Message>region &apos;us-east-1&apos; is wrong</Message>"
    "<Region>eu-west-1</Region><RequestId>1</RequestId></Error>";
  char out[64];

  CU_ASSERT (s3xml_find (xml, strlen (xml), "Code", out, sizeof out));
  CU_ASSERT_STRING_EQUAL (out, "AuthorizationHeaderMalformed");
  CU_ASSERT (s3xml_find (xml, strlen (xml), "Message", out, sizeof out));
  CU_ASSERT_STRING_EQUAL (out, "region 'us-east-1' is wrong");
  CU_ASSERT (s3xml_find (xml, strlen (xml), "Region", out, 4));
  CU_ASSERT_STRING_EQUAL (out, "eu-");
  CU_ASSERT (!s3xml_find (xml, strlen (xml), "Resource", out, sizeof out));
}

static int
parse_creds (const char *text, const char *profile, struct credentials *c)
{
  FILE *fp = fmemopen ((void *) text, strlen (text), "r");
  int r;

  CU_ASSERT_PTR_NOT_NULL_FATAL (fp);
  r = credentials_parse (fp, "credentials", profile, c);
  fclose (fp);
  return r;
}

static void
test_credentials_file (void)
{
  static const char file[] =
    "# comment\n"
    "[default]\n"
    "aws_access_key_id = AKIDEFAULT\n"
    "aws_secret_access_key=secret/default+x\n"
    "\n"
    "[ prod ]\n"
    "aws_access_key_id=AKIPROD\n"
    "aws_secret_access_key = s2 \n"
    "aws_session_token = tok==\n"
    "region = eu-west-1\n"
    "[broken]\n"
    "aws_access_key_id=AKIBROKEN\n";
  struct credentials c;

  CU_ASSERT_EQUAL (parse_creds (file, "default", &c), 1);
  CU_ASSERT_STRING_EQUAL (c.access_key, "AKIDEFAULT");
  CU_ASSERT_STRING_EQUAL (c.secret_key, "secret/default+x");
  CU_ASSERT_PTR_NULL (c.session_token);
  credentials_free (&c);

  CU_ASSERT_EQUAL (parse_creds (file, "prod", &c), 1);
  CU_ASSERT_STRING_EQUAL (c.access_key, "AKIPROD");
  CU_ASSERT_STRING_EQUAL (c.secret_key, "s2");
  CU_ASSERT_STRING_EQUAL (c.session_token, "tok==");
  credentials_free (&c);

  CU_ASSERT_EQUAL (parse_creds (file, "staging", &c), 0);
  CU_ASSERT_PTR_NULL (c.access_key);

  standin_reset_errors ();
  CU_ASSERT_EQUAL (parse_creds (file, "broken", &c), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error,
                                  "aws_secret_access_key"));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "profile="));
  /* The secret of another profile is never in a message. */
  CU_ASSERT_PTR_NULL (strstr (standin_last_error, "secret/default"));
}

/* A line longer than any fixed buffer (a long session token) is one
 * line: its tail is never read as a line of its own, where it could
 * replace the secret or leave the profile.
 */
static void
test_credentials_long_line (void)
{
  const size_t line_len = 5000, split = 4095;  /* fgets of 4096 bytes */
  static const char head[] = "aws_session_token=";
  static const char inject[] = "aws_secret_access_key=stolen";
  char *token = malloc (line_len), *file = malloc (2 * line_len + 200);
  size_t tlen = line_len - strlen (head);
  struct credentials c;

  CU_ASSERT_PTR_NOT_NULL_FATAL (token);
  CU_ASSERT_PTR_NOT_NULL_FATAL (file);
  memset (token, 'T', tlen);
  memcpy (token + split - strlen (head), inject, strlen (inject));
  token[tlen] = '\0';

  /* After the secret: the tail would have replaced it. */
  snprintf (file, 2 * line_len + 200,
            "[default]\naws_access_key_id=AKI\n"
            "aws_secret_access_key=real\n%s%s\nregion=x\n", head, token);
  CU_ASSERT (strlen (file) > line_len);
  CU_ASSERT_EQUAL_FATAL (parse_creds (file, "default", &c), 1);
  CU_ASSERT_STRING_EQUAL (c.secret_key, "real");
  CU_ASSERT_STRING_EQUAL (c.session_token, token);
  credentials_free (&c);

  /* Before the others, with a tail that opens another section. */
  memcpy (token + split - strlen (head), "[elsewhere]", 11);
  snprintf (file, 2 * line_len + 200,
            "[default]\n%s%s\naws_access_key_id=AKI\n"
            "aws_secret_access_key=real\n", head, token);
  CU_ASSERT_EQUAL_FATAL (parse_creds (file, "default", &c), 1);
  CU_ASSERT_STRING_EQUAL (c.access_key, "AKI");
  CU_ASSERT_STRING_EQUAL (c.secret_key, "real");
  CU_ASSERT_EQUAL (strlen (c.session_token), tlen);
  credentials_free (&c);
  free (token);
  free (file);
}

static void
test_credentials_env (void)
{
  struct credentials c;
  char from[256];

  setenv ("AWS_ACCESS_KEY_ID", "AKIENV", 1);
  setenv ("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
  setenv ("AWS_SESSION_TOKEN", "envtoken", 1);
  CU_ASSERT_EQUAL (credentials_find (NULL, &c, from, sizeof from), 1);
  CU_ASSERT_STRING_EQUAL (c.access_key, "AKIENV");
  CU_ASSERT_STRING_EQUAL (c.session_token, "envtoken");
  CU_ASSERT_PTR_NULL (strstr (from, "envsecret"));
  credentials_free (&c);

  unsetenv ("AWS_SECRET_ACCESS_KEY");
  standin_reset_errors ();
  CU_ASSERT_EQUAL (credentials_find (NULL, &c, from, sizeof from), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error,
                                  "AWS_SECRET_ACCESS_KEY"));
  unsetenv ("AWS_ACCESS_KEY_ID");
  unsetenv ("AWS_SESSION_TOKEN");

  /* A named profile in a file that lacks it is an error. */
  setenv ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null", 1);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (credentials_find ("prod", &c, from, sizeof from), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "profile="));
  CU_ASSERT_EQUAL (credentials_find (NULL, &c, from, sizeof from), 0);
  unsetenv ("AWS_SHARED_CREDENTIALS_FILE");
}

static int
outcome_errno (CURLcode cc, long status, const char *code)
{
  struct http_outcome o = { .curl = cc, .status = status, .code = code };
  return http_outcome_errno (&o);
}

static bool
outcome_transient (CURLcode cc, long status, const char *code)
{
  struct http_outcome o = { .curl = cc, .status = status, .code = code };
  return http_outcome_is_transient (&o);
}

static const char *
advice (long status, const char *code, const char *server_region)
{
  static char buf[400];
  struct http_outcome o = { .curl = CURLE_OK, .status = status,
                            .code = code };
  return http_outcome_advice (&o, "us-east-1", server_region, buf,
                              sizeof buf);
}

static void
test_http_outcome (void)
{
  struct http_outcome cert = { .curl = CURLE_PEER_FAILED_VERIFICATION,
                               .code = "" };
  char buf[400];

  CU_ASSERT_EQUAL (outcome_errno (CURLE_OK, 200, ""), 0);
  CU_ASSERT_EQUAL (outcome_errno (CURLE_OK, 204, ""), 0);
  CU_ASSERT_EQUAL (outcome_errno (CURLE_OK, 404, "NoSuchKey"), ENOENT);
  CU_ASSERT_EQUAL (outcome_errno (CURLE_OK, 404, "NoSuchBucket"), ENXIO);
  CU_ASSERT_EQUAL (outcome_errno (CURLE_OK, 403, "SignatureDoesNotMatch"),
                   EACCES);
  CU_ASSERT_EQUAL (outcome_errno (CURLE_OK, 400, "ExpiredToken"), EACCES);
  CU_ASSERT_EQUAL (outcome_errno (CURLE_OK, 403, "RequestTimeTooSkewed"),
                   EACCES);
  CU_ASSERT_EQUAL (outcome_errno (CURLE_OK, 500, "InternalError"), EIO);
  CU_ASSERT_EQUAL (outcome_errno (CURLE_PEER_FAILED_VERIFICATION, 0, ""),
                   EACCES);
  CU_ASSERT_EQUAL (outcome_errno (CURLE_COULDNT_CONNECT, 0, ""), EIO);

  CU_ASSERT (outcome_transient (CURLE_COULDNT_CONNECT, 0, ""));
  CU_ASSERT (outcome_transient (CURLE_OPERATION_TIMEDOUT, 0, ""));
  CU_ASSERT (outcome_transient (CURLE_OK, 500, ""));
  CU_ASSERT (outcome_transient (CURLE_OK, 503, "SlowDown"));
  CU_ASSERT (outcome_transient (CURLE_OK, 400, "RequestTimeout"));
  CU_ASSERT (!outcome_transient (CURLE_OK, 403, "SignatureDoesNotMatch"));
  CU_ASSERT (!outcome_transient (CURLE_OK, 412, "PreconditionFailed"));
  CU_ASSERT (!outcome_transient (CURLE_PEER_FAILED_VERIFICATION, 0, ""));

  CU_ASSERT_PTR_NOT_NULL (strstr (advice (403, "SignatureDoesNotMatch", ""),
                                  "secret-key"));
  CU_ASSERT_PTR_NOT_NULL (strstr (advice (403, "InvalidAccessKeyId", ""),
                                  "access-key"));
  CU_ASSERT_PTR_NOT_NULL (strstr (advice (400, "ExpiredToken", ""),
                                  "AWS_SESSION_TOKEN"));
  CU_ASSERT_PTR_NOT_NULL (strstr (advice (403, "RequestTimeTooSkewed", ""),
                                  "clock"));
  CU_ASSERT_PTR_NOT_NULL (strstr (advice (400, "AuthorizationHeaderMalformed",
                                          "eu-west-1"), "region=eu-west-1"));
  CU_ASSERT_PTR_NULL (advice (500, "InternalError", ""));
  CU_ASSERT_PTR_NOT_NULL (http_outcome_advice (&cert, "us-east-1", "", buf,
                                               sizeof buf));
  CU_ASSERT_PTR_NOT_NULL (strstr (buf, "ca-file="));
  CU_ASSERT_PTR_NOT_NULL (strstr (buf, "tls-verify=false"));
}

static struct store_params
params (const char *endpoint, bool tls_verify)
{
  return (struct store_params) {
    .endpoint = endpoint, .bucket = "nbd-storage",
    .access_key = "a", .secret_key = "s", .region = "us-east-1",
    .tls_verify = tls_verify, .max_requests = 4, .retries = 1,
    .retry_delay_ms = 1, .timeout_ms = 1000,
  };
}

/* No silent unauthenticated TLS; V4 checks what V2 checks. */
static void
test_tls_rules (void)
{
  struct store_params p;

  p = params ("https://127.0.0.1:1", true);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (s3store_type.validate (&p), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "signature=v4"));
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "tls-verify=false"));
  p = params ("https://127.0.0.1:1", false);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (s3store_type.validate (&p), 0);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "warning"));
  p = params ("http://127.0.0.1:1", true);
  CU_ASSERT_EQUAL (s3store_type.validate (&p), 0);

  p = params ("https://127.0.0.1:1", true);
  CU_ASSERT_EQUAL (curlstore_type.validate (&p), 0);
  p = params ("https://127.0.0.1:1", false);
  standin_reset_errors ();
  CU_ASSERT_EQUAL (curlstore_type.validate (&p), 0);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "warning"));
  p = params ("ftp://x", true);
  CU_ASSERT_EQUAL (curlstore_type.validate (&p), -1);
  p = params ("https://s3.example.com", true);
  p.ca_file = "/nonexistent/ca.pem";
  standin_reset_errors ();
  CU_ASSERT_EQUAL (curlstore_type.validate (&p), -1);
  CU_ASSERT_PTR_NOT_NULL (strstr (standin_last_error, "ca-file"));
  p = params ("https://127.0.0.1:1", true);
  p.virtual_host = true;
  CU_ASSERT_EQUAL (curlstore_type.validate (&p), -1);
}

UNIT_SUITES (add_v4_tests)
{
  CU_pSuite s = CU_add_suite ("v4 store parts", NULL, NULL);

  CU_add_test (s, "uri encoding", test_uri_encode);
  CU_add_test (s, "query strings", test_query_build);
  CU_add_test (s, "list xml", test_list_xml);
  CU_add_test (s, "list xml edges", test_list_xml_edges);
  CU_add_test (s, "list xml LastModified", test_list_mtime);
  CU_add_test (s, "error xml", test_error_xml);
  CU_add_test (s, "credentials file", test_credentials_file);
  CU_add_test (s, "credentials: a 5000-byte line is one line",
               test_credentials_long_line);
  CU_add_test (s, "credentials environment", test_credentials_env);
  CU_add_test (s, "http outcomes", test_http_outcome);
  CU_add_test (s, "tls rules", test_tls_rules);
}
