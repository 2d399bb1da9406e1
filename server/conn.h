/*
 * conn: one client connection, served by its own thread with blocking
 * socket I/O (the original design's model: a small unit of execution per
 * client, large buffers).  The S3 layer talks to the client only through
 * this interface, so a different connection engine (an epoll worker per
 * core, in the throughput issue) can serve the same handlers.
 *
 * Timeouts: a request's head must arrive within header_timeout seconds of
 * its first byte (slowloris), body bytes may pause at most body_timeout,
 * and a keep-alive connection may idle idle_timeout between requests.
 */
#ifndef CS_CONN_H
#define CS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/http.h"

struct server;
struct engine;
struct conn;

/* conn_serve(srv, fd, peer): serve a connected socket until it closes;
 * runs in the calling thread and closes fd. */
void conn_serve(struct server *srv, int fd, const char *peer);

/* The request being served. */
const struct http_request *conn_req(const struct conn *c);
struct server *conn_server(const struct conn *c);
struct engine *conn_engine(struct conn *c);
const char *conn_peer(const struct conn *c);

/*
 * conn_body(c, data, len): the next piece of the request body.  Returns 1
 * with a piece, 0 at the end of the body, or a negative error (timeout,
 * framing error, connection lost).  The first call sends "100 Continue"
 * when the client asked for it.  Pieces point into the connection's buffer
 * and are valid until the next call.
 */
int conn_body(struct conn *c, const uint8_t **data, size_t *len)
	__attribute__((warn_unused_result));

/* conn_body_error(c): the HTTP error of a failed conn_body(), or HTTP_E_NONE. */
enum http_err conn_body_error(const struct conn *c);

/*
 * conn_respond(c, status, headers, n, body, len): send a whole response.
 * conn_respond_head(c, status, headers, n, content_length): send only the
 * head of a response whose body follows through conn_write() (for HEAD
 * requests no body follows).  Return 0 or a negative error.
 */
int conn_respond(struct conn *c, int status, const struct http_header *h, size_t nh,
		 const void *body, size_t len) __attribute__((warn_unused_result));
int conn_respond_head(struct conn *c, int status, const struct http_header *h, size_t nh,
		      uint64_t content_length) __attribute__((warn_unused_result));
int conn_write(struct conn *c, const void *p, size_t n) __attribute__((warn_unused_result));

/* conn_close_after(c): answer with "Connection: close" and close afterwards. */
void conn_close_after(struct conn *c);

#endif /* CS_CONN_H */
