/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks (the admin command): gc [--dry-run] [grace=TIME], the
 * report of cas_gc (lib/cas/cas-gc.c; why it is safe:
 * docs/gc-safety.md).
 */

#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "admin.h"
#include "cas/cas-admin.h"
#include "progress.h"

/* The progress display: the mark counts the objects it finds
 * referenced (pages, contents, segments), the sweep the objects it
 * lists, of about as many as the mark found (the garbage comes on top).
 */
static void
gc_progress_cb (void *opaque, const char *phase, uint64_t done,
                const struct gc_result *res)
{
  const char **shown = opaque;

  if (strcmp (*shown, phase) != 0) {
    *shown = "sweep";
    progress_start ("gc: sweep", "objects", res->pages_marked
                    + res->data_marked + res->segs_marked);
    progress_set_total (res->pages_marked + res->data_marked
                        + res->segs_marked, true);
  }
  progress_set (done);
}

static void
print_text (const struct gc_params *p, const struct gc_result *res,
            const char *start)
{
  printf ("gc: started %s by the S3 server's clock, grace %" PRId64 "s: "
          "%" PRIu64 " roots read in %u passes, %" PRIu64 " pages, %"
          PRIu64 " contents and %" PRIu64 " segments referenced\n", start,
          p->grace_s, res->roots_read, res->passes, res->pages_marked,
          res->data_marked, res->segs_marked);
  printf ("gc: %s %" PRIu64 " unreferenced objects (%" PRIu64 " pages, %"
          PRIu64 " contents, %" PRIu64 " segments, %" PRIu64 " bytes); "
          "spared %" PRIu64 " unreferenced younger than the grace (%"
          PRIu64 " bytes)",
          p->dry_run ? "would delete" : "deleted", res->deleted,
          res->deleted_pages, res->deleted_data, res->deleted_segs,
          res->deleted_bytes, res->young, res->young_bytes);
  if (res->unknown_age)
    printf (", %" PRIu64 " of unknown age", res->unknown_age);
  if (res->foreign)
    printf (", left %" PRIu64 " objects that are not ours", res->foreign);
  printf ("\n");
  /* Segments are large: their bytes say what gc gave back. */
  if (res->segs_listed)
    printf ("gc: segments: %" PRIu64 " listed (%" PRIu64 " bytes), %s %"
            PRIu64 " (%" PRIu64 " bytes), kept %" PRIu64 " (%" PRIu64
            " bytes)\n", res->segs_listed, res->segs_listed_bytes,
            p->dry_run ? "would delete" : "deleted", res->deleted_segs,
            res->deleted_segs_bytes, res->segs_listed - res->deleted_segs,
            res->segs_listed_bytes - res->deleted_segs_bytes);
}

/* The same counts, one JSON object: for scripts and monitoring. */
static void
print_json (const struct gc_params *p, const struct gc_result *res,
            const char *start)
{
  printf ("{\"started\": ");
  json_string (start);
  printf (", \"grace_s\": %" PRId64 ", \"dry_run\": %s, \"roots_read\": %"
          PRIu64 ", \"passes\": %u, \"referenced\": {\"pages\": %" PRIu64
          ", \"contents\": %" PRIu64 ", \"segments\": %" PRIu64 "}",
          p->grace_s, p->dry_run ? "true" : "false", res->roots_read,
          res->passes, res->pages_marked, res->data_marked,
          res->segs_marked);
  printf (", \"deleted\": {\"objects\": %" PRIu64 ", \"bytes\": %" PRIu64
          ", \"pages\": %" PRIu64 ", \"contents\": %" PRIu64
          ", \"segments\": %" PRIu64 ", \"segment_bytes\": %" PRIu64 "}",
          res->deleted, res->deleted_bytes, res->deleted_pages,
          res->deleted_data, res->deleted_segs, res->deleted_segs_bytes);
  printf (", \"segments\": {\"listed\": %" PRIu64 ", \"listed_bytes\": %"
          PRIu64 ", \"kept\": %" PRIu64 ", \"kept_bytes\": %" PRIu64 "}",
          res->segs_listed, res->segs_listed_bytes,
          res->segs_listed - res->deleted_segs,
          res->segs_listed_bytes - res->deleted_segs_bytes);
  printf (", \"young\": %" PRIu64 ", \"young_bytes\": %" PRIu64
          ", \"unknown_age\": %" PRIu64 ", \"foreign\": %" PRIu64
          ", \"delete_failed\": %" PRIu64 "}\n", res->young,
          res->young_bytes, res->unknown_age, res->foreign,
          res->delete_failed);
}

int
verb_gc (struct admin *a, int argc, char **argv)
{
  struct gc_params p = {
    .grace_s = a->grace_s >= 0 ? a->grace_s : GC_DEFAULT_GRACE_S,
    .dry_run = a->dry_run,
    .delete_batch = a->max_requests,
  };
  struct gc_result res;
  char start[32];
  const char *shown = "mark";
  bool swept;
  int r;

  (void) argv;
  if (argc > 0) {
    nbdkit_error ("gc takes no names: it collects for the whole bucket");
    return EXIT_USAGE;
  }
  progress_start ("gc: mark", "objects referenced", PROGRESS_UNKNOWN);
  p.progress = gc_progress_cb;
  p.progress_opaque = &shown;
  r = cas_gc (a->store, &p, &res, &swept);
  progress_finish ();
  if (r == -1)
    return EXIT_USAGE;
  if (!swept)
    return EXIT_DAMAGE;
  format_time_s (res.start, start, sizeof start);
  if (a->json)
    print_json (&p, &res, start);
  else
    print_text (&p, &res, start);
  if (res.delete_failed) {
    nbdkit_error ("gc: %" PRIu64 " deletes failed (said above): run gc "
                  "again", res.delete_failed);
    return EXIT_USAGE;
  }
  return EXIT_CLEAN;
}
