/* s3blocks: the exports this server has opened, by name.
 *
 * All connections to one export share one volume.  The first open of
 * an export reads (or creates) its metadata object, checks it against
 * the configuration, lists its blocks into the allocation map and, for
 * a read-write server, takes the export's lease.  When its last
 * connection closes the export is flushed and its read cache dropped,
 * but the volume stays here, lease held, until the server exits:
 * reopening it costs no listing, and no other server can slip in
 * between.
 *
 * One mutex guards the table; it is held while an export opens or
 * closes, so two connections never open one export twice.
 */

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <nbdkit-plugin.h>

#include "config.h"
#include "export.h"
#include "keys.h"
#include "lease.h"
#include "meta.h"
#include "volume.h"

struct export {
  char *name;
  struct volume *volume;
  struct lease *lease;          /* NULL for a read-only server */
  unsigned refs;
  struct export *next;
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct export *exports;
static struct store *store;
static const struct s3blocks_config *cfg;

void
exports_init (struct store *s, const struct s3blocks_config *c)
{
  store = s;
  cfg = c;
}

struct volume *
export_volume (const struct export *e)
{
  return e->volume;
}

/* Stop a listing at its first entry. */
static int
found_one (void *opaque, const struct store_entry *entry)
{
  *(bool *) opaque = true;
  return 1;
}

static int
has_blocks (const char *name, bool *found)
{
  char prefix[KEY_MAX];

  *found = false;
  block_prefix (prefix, sizeof prefix, name);
  return store_list (store, prefix, NULL, NULL, found_one, found);
}

static int
write_meta (const char *name, const struct export_meta *m)
{
  char key[KEY_MAX], buf[META_MAX];
  int len = meta_format (buf, sizeof buf, m);
  int err;

  export_meta_key (key, sizeof key, name);
  err = store_put (store, key, buf, len);
  if (err) {
    nbdkit_error ("export %s: cannot write its metadata object %s",
                  name, key);
    errno = err;
    return -1;
  }
  return 0;
}

/* Work out the export's size and block size from its metadata object
 * and the configuration.  *new_size is what to resize to after the
 * allocation map is loaded (0: nothing), *dirty_meta whether the
 * metadata object must be (re)written.
 */
static int
resolve_meta (const char *name, bool readonly, struct export_meta *m,
              uint64_t *new_size, bool *dirty_meta)
{
  const bool is_default = strcmp (name, cfg->export_name) == 0;
  const bool block_size_given = cfg->given & CONFIG_GIVEN (block_size);
  char key[KEY_MAX], buf[META_MAX + 1];
  size_t got = 0;
  const char *why;
  int err;

  *new_size = 0;
  *dirty_meta = false;
  export_meta_key (key, sizeof key, name);
  err = store_get (store, key, buf, META_MAX, &got);

  if (err == 0) {
    if (meta_parse (buf, got, m, &why) == -1) {
      nbdkit_error ("export %s: its metadata object %s is malformed (%s); "
                    "refusing to guess its size and block size",
                    name, key, why);
      errno = EINVAL;
      return -1;
    }
    if (block_size_given && cfg->block_size != m->block_size) {
      nbdkit_error ("export %s was created with block-size=%" PRIu32
                    "; block-size=%" PRIu32 " would misread its blocks "
                    "(leave block-size out to use the recorded one)",
                    name, m->block_size, cfg->block_size);
      errno = EINVAL;
      return -1;
    }
    if (is_default && cfg->size >= 0 && (uint64_t) cfg->size != m->size) {
      if ((uint64_t) cfg->size < m->size && !cfg->shrink) {
        nbdkit_error ("export %s has size %" PRIu64 "; size=%" PRIi64
                      " would shrink it and discard the data past that "
                      "point: add shrink=true to do so, or leave size "
                      "out to use the recorded size",
                      name, m->size, cfg->size);
        errno = EINVAL;
        return -1;
      }
      if (readonly) {
        nbdkit_debug ("export %s: read-only server, keeping the recorded "
                      "size %" PRIu64, name, m->size);
        return 0;
      }
      nbdkit_debug ("export %s: %s from %" PRIu64 " to %" PRIi64 " bytes",
                    name, (uint64_t) cfg->size > m->size ? "growing"
                    : "shrinking", m->size, cfg->size);
      *new_size = cfg->size;
      *dirty_meta = true;
    }
    return 0;
  }
  if (err != ENOENT) {
    nbdkit_error ("export %s: cannot read its metadata object %s", name, key);
    errno = err;
    return -1;
  }

  /* No metadata: an export from an older tool (blocks only), or none. */
  bool legacy;
  if (has_blocks (name, &legacy) == -1)
    return -1;
  if (!legacy && !cfg->create) {
    nbdkit_error ("export %s does not exist, and create=false", name);
    errno = ENOENT;
    return -1;
  }
  if (!legacy && readonly) {
    nbdkit_error ("export %s does not exist, and a read-only server "
                  "does not create exports", name);
    errno = ENOENT;
    return -1;
  }
  if (cfg->size < 0) {
    nbdkit_error (legacy
                  ? "export %s has blocks but no metadata object (written "
                    "by an older tool): give size= to open it"
                  : "export %s does not exist: give size= to create it",
                  name);
    errno = EINVAL;
    return -1;
  }
  m->size = cfg->size;
  m->block_size = cfg->block_size;
  *dirty_meta = !readonly;
  nbdkit_debug ("export %s: %s, size %" PRIu64 ", block-size %" PRIu32,
                name, legacy ? "adopting blocks with no metadata"
                : "creating", m->size, m->block_size);
  return 0;
}

static struct export *
open_new (const char *name, bool readonly)
{
  struct export *e;
  struct export_meta m;
  uint64_t new_size;
  bool dirty_meta;

  e = calloc (1, sizeof *e);
  if (e == NULL || (e->name = strdup (name)) == NULL) {
    nbdkit_error ("calloc: %m");
    free (e);
    return NULL;
  }

  /* The lease first: nothing is written before we own the export. */
  if (!readonly) {
    e->lease = lease_acquire (store, &(struct lease_params) {
        .export_name = name, .lease_ms = cfg->lease_time_ms,
        .take_over = cfg->take_over });
    if (e->lease == NULL)
      goto err;
  }
  if (resolve_meta (name, readonly, &m, &new_size, &dirty_meta) == -1)
    goto err;

  struct volume_params params = {
    .name = name,
    .size = m.size,
    .block_size = m.block_size,
    .max_dirty = cfg->max_dirty,
    .cache_size = cfg->cache_size,
    .batch = cfg->max_requests * 16,
  };
  e->volume = volume_create (store, &params);
  if (e->volume == NULL)
    goto err;
  if (volume_load_map (e->volume) == -1) {
    nbdkit_error ("export %s: cannot list its blocks", name);
    goto err;
  }
  /* Shrinking deletes the blocks past the new end before the smaller
   * size is recorded: a crash in between leaves zeros there, never
   * old data.
   */
  if (new_size) {
    m.size = new_size;
    if (volume_resize (e->volume, new_size) == -1)
      goto err;
  }
  if (dirty_meta && write_meta (name, &m) == -1)
    goto err;
  return e;

 err:
  volume_free (e->volume);
  lease_release (e->lease);
  free (e->name);
  free (e);
  return NULL;
}

struct export *
export_open (const char *name, bool readonly)
{
  struct export *e;

  pthread_mutex_lock (&lock);
  for (e = exports; e; e = e->next)
    if (strcmp (e->name, name) == 0)
      break;
  if (e == NULL) {
    e = open_new (name, readonly);
    if (e) {
      e->next = exports;
      exports = e;
    }
  }
  else if (!readonly && e->lease == NULL) {
    /* First opened read-only (nbdkit -r was not recognised on the
     * command line): writing needs the lease.
     */
    e->lease = lease_acquire (store, &(struct lease_params) {
        .export_name = name, .lease_ms = cfg->lease_time_ms,
        .take_over = cfg->take_over });
    if (e->lease == NULL)
      e = NULL;
  }
  if (e)
    e->refs++;
  pthread_mutex_unlock (&lock);
  return e;
}

void
export_close (struct export *e)
{
  pthread_mutex_lock (&lock);
  if (--e->refs == 0) {
    if (volume_flush (e->volume) == -1)
      nbdkit_error ("export %s: the last connection closed, and its "
                    "unflushed data could not be written: it stays in "
                    "memory and is retried by the next flush and when "
                    "the server exits", e->name);
    volume_drop_cache (e->volume);
  }
  pthread_mutex_unlock (&lock);
}

void
exports_cleanup (void)
{
  pthread_mutex_lock (&lock);
  while (exports) {
    struct export *e = exports;
    struct volume_stats st;

    exports = e->next;
    volume_get_stats (e->volume, &st);
    if (st.dirty_blocks && volume_flush (e->volume) == -1) {
      volume_get_stats (e->volume, &st);
      nbdkit_error ("export %s: the server is exiting and %" PRIu64
                    " dirty blocks could not be written: they are lost",
                    e->name, st.dirty_blocks);
    }
    nbdkit_debug ("export %s: %" PRIu64 " GETs, %" PRIu64 " PUTs, %" PRIu64
                  " DELETEs, %" PRIu64 " hole reads without a request, "
                  "%" PRIu64 " cache hits, %" PRIu64 " blocks written back "
                  "early, peak dirty %" PRIu64 " bytes", e->name, st.gets,
                  st.puts, st.deletes, st.holes_read, st.cache_hits,
                  st.writebacks, st.peak_dirty_bytes);
    volume_free (e->volume);
    lease_release (e->lease);
    free (e->name);
    free (e);
  }
  pthread_mutex_unlock (&lock);
}

int
export_check_writable (const struct export *e)
{
  if (e->lease && lease_check (e->lease) != 0) {
    nbdkit_error ("export %s: this server lost its lease to another "
                  "server; refusing to write", e->name);
    errno = EROFS;
    return -1;
  }
  return 0;
}

/* Listing: export names from metadata objects, and from block prefixes
 * of exports written by older tools.
 */
struct name_lister {
  size_t prefix_len;
  bool is_blocks;
  int (*cb) (void *opaque, const char *name);
  void *opaque;
  char last[MAX_EXPORT_NAME + 1];
};

static int
list_entry (void *opaque, const struct store_entry *entry)
{
  struct name_lister *nl = opaque;
  char name[MAX_EXPORT_NAME + 2];
  size_t len = strlen (entry->key + nl->prefix_len);

  if (nl->is_blocks) {
    /* "blocks/NAME/" */
    if (!entry->is_prefix || len < 2 || len > MAX_EXPORT_NAME + 1)
      return 0;
    len--;
  }
  else if (entry->is_prefix || len > MAX_EXPORT_NAME)
    return 0;
  memcpy (name, entry->key + nl->prefix_len, len);
  name[len] = '\0';
  if (!export_name_is_valid (name) || strcmp (name, nl->last) == 0)
    return 0;
  strcpy (nl->last, name);
  return nl->cb (nl->opaque, name);
}

int
exports_list (int (*cb) (void *opaque, const char *name), void *opaque)
{
  struct name_lister nl = { .cb = cb, .opaque = opaque };

  nl.prefix_len = strlen (EXPORTS_PREFIX);
  if (store_list (store, EXPORTS_PREFIX, NULL, NULL, list_entry, &nl) == -1)
    return -1;
  nl.prefix_len = strlen (BLOCKS_PREFIX);
  nl.is_blocks = true;
  nl.last[0] = '\0';
  if (store_list (store, BLOCKS_PREFIX, "/", NULL, list_entry, &nl) == -1)
    return -1;
  return 0;
}
