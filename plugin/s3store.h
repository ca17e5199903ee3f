/* s3blocks: the store interface over libs3 (S3 Signature V2). */

#ifndef S3BLOCKS_S3STORE_H
#define S3BLOCKS_S3STORE_H

#include <stdbool.h>

#include "store.h"

struct s3store_params {
  const char *endpoint;         /* as the user gave it, for messages */
  const char *host;             /* host[:port] */
  bool https;
  bool virtual_host;
  const char *bucket;
  const char *access_key;
  const char *secret_key;
  unsigned max_requests;
  unsigned retries;
  unsigned retry_delay_ms;
  unsigned timeout_ms;
};

/* libs3 once per process: from the plugin's load and unload. */
extern int s3store_global_init (void);
extern void s3store_global_cleanup (void);

/* Makes no request. */
extern struct store *s3store_open (const struct s3store_params *params);

/* The I/O thread behind the store: nbdkit forks after .get_ready, so
 * it is started and stopped around .get_ready's requests, then
 * started for good in .after_fork and stopped in .cleanup.
 */
extern int s3store_start (struct store *store);
extern void s3store_stop (struct store *store);

/* Check the endpoint, credentials and bucket (creating the bucket if it
 * is missing) with a GET of probe_key.  Returns 0, or -1 after a
 * message saying what is wrong.
 */
extern int s3store_check (struct store *store, const char *probe_key);

#endif /* S3BLOCKS_S3STORE_H */
