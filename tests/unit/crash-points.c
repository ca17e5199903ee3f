/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks unit tests: crash after every request (crash-points.h). */

#include <config.h>

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <CUnit/CUnit.h>

#include "crash-points.h"
#include "store/store.h"

uint64_t
crash_every_request (const struct crash_workload *w)
{
  struct memstore *m = memstore_new ();
  unsigned *landed = calloc (w->last_state + 1, sizeof *landed);
  uint64_t total;

  CU_ASSERT_FATAL (landed != NULL);
  CU_ASSERT_EQUAL (w->run (m), w->last_state);
  total = memstore_requests (m);
  CU_ASSERT_EQUAL (w->state_of (m), w->last_state);
  store_close (memstore_store (m));
  CU_ASSERT (total >= w->min_requests);

  for (uint64_t n = 0; n <= total; n++) {
    int durable, state;

    m = memstore_new ();
    memstore_crash_after (m, n);
    durable = w->run (m);
    memstore_crash_after (m, -1);
    state = w->state_of (m);
    if (state < durable || state < 0)
      fprintf (stderr, "%s: crash after %" PRIu64 " requests: state %d, "
               "flush %d had completed\n", w->name, n, state, durable);
    CU_ASSERT (state >= durable);
    CU_ASSERT (state >= 0);
    if (state >= 0)
      landed[state]++;
    store_close (memstore_store (m));
  }

  fprintf (stderr, "%s: %" PRIu64 " crash points; states seen:", w->name,
           total + 1);
  for (int k = 0; k <= w->last_state; k++) {
    fprintf (stderr, " %u", landed[k]);
    CU_ASSERT (landed[k] > 0);
  }
  fprintf (stderr, "\n");
  free (landed);
  return total + 1;
}
