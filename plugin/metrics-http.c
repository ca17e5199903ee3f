/* SPDX-License-Identifier: BSD-3-Clause
 * Copyright (C) 2026 the s3blocks authors; see LICENSE.
 */
/* s3blocks: GET /metrics over HTTP, with libmicrohttpd.
 *
 * The socket is bound at get_ready and handed to libmicrohttpd at
 * after_fork.  One internal thread serves every connection,
 * event-driven, so a client that sends nothing or never reads holds
 * only its own connection, and only until CONNECTION_TIMEOUT_S; at
 * most MAX_CONNECTIONS are open at once.  A scrape renders the metrics
 * in that thread: it takes the export table's and each volume's lock
 * for a copy, and never makes a store request (metrics.h).
 */

#include <config.h>

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>
#include <nbdkit-plugin.h>

#include "metrics-serve.h"

#define CONNECTION_TIMEOUT_S 10
#define MAX_CONNECTIONS 16
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

static int listen_fd = -1;
static const char *key_value;   /* metrics=, for messages */
static metrics_text_fn render;
static struct MHD_Daemon *daemon_;

int
metrics_http_bind (const char *address, metrics_text_fn text)
{
  const struct addrinfo hints = {
    .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
    .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
  };
  struct addrinfo *ai = NULL;
  char host[256];
  const char *colon = strrchr (address, ':');
  size_t len = colon - address;
  const int one = 1;
  int r, fd, err;

  key_value = address;
  render = text;
  /* [v6 address]:port; the key's setter checked the port. */
  if (len >= 2 && address[0] == '[' && address[len - 1] == ']') {
    address++;
    len -= 2;
  }
  if (len >= sizeof host) {
    nbdkit_error ("metrics=%s: address too long", key_value);
    errno = EINVAL;
    return -1;
  }
  memcpy (host, address, len);
  host[len] = '\0';
  r = getaddrinfo (host, colon + 1, &hints, &ai);
  if (r != 0) {
    nbdkit_error ("metrics=%s: \"%s\" is not a numeric IPv4 or IPv6 "
                  "address: %s", key_value, host, gai_strerror (r));
    errno = EINVAL;
    return -1;
  }
  fd = socket (ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd == -1 ||
      setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == -1 ||
      bind (fd, ai->ai_addr, ai->ai_addrlen) == -1 ||
      listen (fd, MAX_CONNECTIONS) == -1) {
    err = errno;
    nbdkit_error ("metrics=%s: cannot listen there: %s", key_value,
                  strerror (err));
    if (fd >= 0)
      close (fd);
    freeaddrinfo (ai);
    errno = err;
    return -1;
  }
  freeaddrinfo (ai);
  listen_fd = fd;
  nbdkit_debug ("metrics: listening on %s", key_value);
  return 0;
}

static enum MHD_Result
send_text (struct MHD_Connection *conn, unsigned status, const char *text,
           const char *allow)
{
  struct MHD_Response *resp;
  enum MHD_Result r;

  resp = MHD_create_response_from_buffer (strlen (text), (void *) text,
                                          MHD_RESPMEM_PERSISTENT);
  if (resp == NULL)
    return MHD_NO;
  MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE,
                           "text/plain; charset=utf-8");
  if (allow)
    MHD_add_response_header (resp, MHD_HTTP_HEADER_ALLOW, allow);
  r = MHD_queue_response (conn, status, resp);
  MHD_destroy_response (resp);
  return r;
}

static enum MHD_Result
handle (void *cls, struct MHD_Connection *conn, const char *url,
        const char *method, const char *version, const char *upload_data,
        size_t *upload_data_size, void **state)
{
  static int first_call;
  struct MHD_Response *resp;
  enum MHD_Result r;
  char *text;
  size_t len;
  const bool head = strcmp (method, MHD_HTTP_METHOD_HEAD) == 0;

  if (strcmp (method, MHD_HTTP_METHOD_GET) != 0 && !head)
    return send_text (conn, MHD_HTTP_METHOD_NOT_ALLOWED,
                      "only GET /metrics here\n", "GET, HEAD");
  /* The first call has only the headers: answer once they are in. */
  if (*state == NULL) {
    *state = &first_call;
    return MHD_YES;
  }
  if (*upload_data_size) {
    *upload_data_size = 0;      /* a GET body: ignored */
    return MHD_YES;
  }
  if (strcmp (url, "/metrics") != 0)
    return send_text (conn, MHD_HTTP_NOT_FOUND,
                      "not found: the metrics are at /metrics\n", NULL);

  text = render (&len);
  if (text == NULL)
    return send_text (conn, MHD_HTTP_INTERNAL_SERVER_ERROR,
                      "out of memory\n", NULL);
  resp = MHD_create_response_from_buffer (len, text, MHD_RESPMEM_MUST_FREE);
  if (resp == NULL) {
    free (text);
    return MHD_NO;
  }
  MHD_add_response_header (resp, MHD_HTTP_HEADER_CONTENT_TYPE, CONTENT_TYPE);
  r = MHD_queue_response (conn, MHD_HTTP_OK, resp);
  MHD_destroy_response (resp);
  return r;
}

static void
log_mhd (void *cls, const char *fmt, va_list ap)
{
  char line[256];

  vsnprintf (line, sizeof line, fmt, ap);
  line[strcspn (line, "\n")] = '\0';
  nbdkit_debug ("metrics: %s", line);
}

int
metrics_http_start (void)
{
  if (listen_fd == -1 || daemon_)
    return 0;
  daemon_ = MHD_start_daemon (MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG,
                              0, NULL, NULL, handle, NULL,
                              /* First, to catch startup messages too. */
                              MHD_OPTION_EXTERNAL_LOGGER, log_mhd, NULL,
                              MHD_OPTION_LISTEN_SOCKET, listen_fd,
                              MHD_OPTION_CONNECTION_TIMEOUT,
                              (unsigned) CONNECTION_TIMEOUT_S,
                              MHD_OPTION_CONNECTION_LIMIT,
                              (unsigned) MAX_CONNECTIONS,
                              MHD_OPTION_END);
  if (daemon_ == NULL) {
    nbdkit_error ("metrics=%s: cannot start the HTTP server "
                  "(libmicrohttpd)", key_value);
    errno = EIO;
    return -1;
  }
  return 0;
}

/* libmicrohttpd closes the socket it was given when it stops. */
void
metrics_http_stop (void)
{
  if (daemon_) {
    MHD_stop_daemon (daemon_);
    daemon_ = NULL;
    listen_fd = -1;
  }
  else if (listen_fd >= 0) {
    close (listen_fd);
    listen_fd = -1;
  }
}
