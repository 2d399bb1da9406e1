/*
 * conn: one client connection, served by a thread with blocking socket I/O
 * while a request is under way (the original design's model: a small unit
 * of execution per client, large buffers), parked in an epoll set without a
 * thread while it idles or its next request's head comes in.  A plain body
 * of announced length may be received by an event loop instead
 * (conn_body_try; server/evloop).  The S3 layer talks to the client only
 * through this interface.
 *
 * Timeouts: a request's head must arrive within header_timeout seconds of
 * its first byte, and the first request's within header_timeout of the
 * accept (slowloris); body bytes may pause at most body_timeout, and what is
 * left of a body the server did not read must arrive within header_timeout;
 * a keep-alive connection may idle idle_timeout between requests.
 */
#ifndef CS_CONN_H
#define CS_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "http/http.h"

struct server;
struct engine;
struct conn;

/*
 * conn_serve(srv, fd, peer): serve a connected socket in the calling thread
 * until it closes or goes idle between requests; an idle connection is
 * parked (see conn_parker_start) and resumed on a new thread when its next
 * request arrives.  The connection owns one count of srv->nconn and gives it
 * back when it closes.
 */
void conn_serve(struct server *srv, int fd, const char *peer);

/*
 * conn_accept(srv, fd, peer): take a newly accepted plain-HTTP socket
 * without a thread: it waits in the parker, which reads its first request's
 * head and starts a thread once the head is whole (a client that sends its
 * head slowly holds no thread).  True if it took the socket (and the
 * srv->nconn count); false if it cannot (TLS, or no parker running): then
 * serve it with conn_serve().
 */
bool conn_accept(struct server *srv, int fd, const char *peer);

/*
 * conn_parker_start(srv): start the thread that holds idle keep-alive
 * connections in an epoll set (no thread, no buffer, no engine each), reads
 * a plain-HTTP request's head when it arrives and then hands the connection
 * to a new thread, closes it after idle_timeout (header_timeout once a head
 * has begun, or from the accept for a new connection), and closes all of
 * them once srv->stopping is set.  Without it, idle connections keep
 * their threads.  conn_parker_stop(): wait for it (after stopping is set)
 * and free the engine pool.  conn_parked(): how many are parked now.
 */
int conn_parker_start(struct server *srv) __attribute__((warn_unused_result));
void conn_parker_stop(void);
unsigned conn_parked(void);

/* The request being served. */
const struct http_request *conn_req(const struct conn *c);
struct server *conn_server(const struct conn *c);
struct engine *conn_engine(struct conn *c);
const char *conn_peer(const struct conn *c);

/* conn_is_tls(c): the connection is TLS.  conn_tls_user(c): the user named
 * by its verified client certificate, or NULL when there is none. */
bool conn_is_tls(const struct conn *c);
const char *conn_tls_user(const struct conn *c);

/*
 * conn_body(c, data, len): the next piece of the request body.  Returns 1
 * with a piece, 0 at the end of the body, or a negative error (timeout,
 * framing error, connection lost).  The first call sends "100 Continue"
 * when the client asked for it.  Pieces point into the connection's buffer
 * and are valid until the next call.
 */
int conn_body(struct conn *c, const uint8_t **data, size_t *len)
	__attribute__((warn_unused_result));

/*
 * conn_body_into(c, iov, niov, got): the next piece of the request body,
 * placed into iov (niov <= CONN_IOV_MAX) instead of handed out: returns 1
 * with *got > 0 bytes there (filling the iovecs in order), 0 at the end of
 * the body, or a negative error, as conn_body().  Over plain TCP with a
 * Content-Length body the bytes are received straight into iov (one
 * recvmsg, no copy); otherwise (TLS, chunked framing, bytes that arrived
 * with the head) they are copied from the connection's buffer.  Either way
 * never past the body's end.  Do not mix with conn_body() within a body.
 */
#define CONN_IOV_MAX 16
int conn_body_into(struct conn *c, const struct iovec *iov, int niov, size_t *got)
	__attribute__((warn_unused_result));

/*
 * For an event loop that receives the body (server/evloop), once
 * conn_body_direct(c) is true (plain TCP, Content-Length, nothing buffered,
 * any 100 Continue sent; conn_body_into() receives straight into its iovecs
 * then): conn_body_try(c, iov, niov, got) is conn_body_into() that does not
 * wait: CS_EAGAIN when no byte is there yet.  conn_fd(c): the socket to wait
 * on.  conn_body_timed_out(c): the loop gave up waiting (body_timeout): the
 * body failed, as it does in conn_body_into().
 */
bool conn_body_direct(const struct conn *c);
int conn_body_try(struct conn *c, const struct iovec *iov, int niov, size_t *got)
	__attribute__((warn_unused_result));
int conn_fd(const struct conn *c);
void conn_body_timed_out(struct conn *c);

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
/* conn_writev(c, iov, n): conn_write() of n (<= 64) pieces in as few sendmsg calls as may be. */
int conn_writev(struct conn *c, const struct iovec *iov, int n) __attribute__((warn_unused_result));

/* conn_close_after(c): answer with "Connection: close" and close afterwards. */
void conn_close_after(struct conn *c);

#endif /* CS_CONN_H */
