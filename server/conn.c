/*
 * conn: a client connection served by a thread with blocking I/O while a
 * request is under way; a new connection, and an idle keep-alive one
 * between requests, is parked: no thread, its input buffer and engine
 * released; the parker's epoll set reads the next request's head and then
 * starts a thread for it.  So idle connections and slowly arriving heads
 * cost a few KiB, not a thread, a stack and a crypto engine each.  A large
 * plain body leaves the thread for an event loop (conn_body_try, evloop.c).
 */
#include "conn.h"
#include "crypto/engine.h"
#include "log.h"
#include "s3api.h"
#include "server.h"
#include "tls.h"
#include "util/err.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CONN_BUF      (256u << 10)
#define DRAIN_MAX     (1u << 20) /* unread body we still read to keep a connection */
#define IDLE_TICK_MS  200        /* how often an idle connection checks for shutdown */
#define PARK_GRACE_MS 20         /* an idle connection keeps its thread this long */
#define THREAD_STACK  (512u << 10)

enum phase { PH_IDLE, PH_HEAD, PH_BODY };

struct conn {
	struct server *srv;
	int fd;
	char peer[64];
	struct http_conn *h;
	uint8_t *in; /* CONN_BUF bytes while a thread serves it; parked: a head's */
	size_t in_len, in_off;
	bool in_full;     /* in has CONN_BUF bytes (not a parked head's few) */
	size_t head_scan; /* parked: where the search for the head's end resumes */
	const struct http_request *req;
	bool body_ended, continue_sent, close_after, responded, dead;
	bool fresh;    /* no request yet: the head timer runs from the accept */
	bool draining; /* reading an unread body away: head_deadline_ms bounds it */
	enum http_err body_err;
	uint64_t body_seen;  /* body bytes the parser has passed (Content-Length bodies) */
	const uint8_t *pend; /* conn_body_into: the rest of a piece not yet placed */
	size_t pend_len;
	struct engine *e;
	int64_t head_deadline_ms;
	int64_t idle_deadline_ms; /* parked: close it then */
	struct conn *prev, *next; /* the parked list */
	bool parked;
	struct tls_conn *tls;            /* NULL: plain HTTP */
	char tls_user[TLS_USER_MAX + 1]; /* a verified client certificate's user, or "" */
};

/* ---- engines: a pool shared by all connections ------------------------------ */

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static struct engine *pool[64];
static unsigned npool;

static struct engine *
engine_take(struct server *srv)
{
	struct engine *e = NULL;

	pthread_mutex_lock(&pool_mu);
	if (npool > 0)
		e = pool[--npool];
	pthread_mutex_unlock(&pool_mu);
	if (e == NULL && engine_new(&e, srv->engine) != 0)
		e = NULL;
	return e;
}

static void
engine_give(struct engine *e)
{
	if (e == NULL)
		return;
	pthread_mutex_lock(&pool_mu);
	if (npool < sizeof(pool) / sizeof(pool[0])) {
		pool[npool++] = e;
		e = NULL;
	}
	pthread_mutex_unlock(&pool_mu);
	engine_free(e);
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

const struct http_request *
conn_req(const struct conn *c)
{
	return c->req;
}

struct server *
conn_server(const struct conn *c)
{
	return c->srv;
}

const char *
conn_peer(const struct conn *c)
{
	return c->peer;
}

struct engine *
conn_engine(struct conn *c)
{
	if (c->e == NULL)
		c->e = engine_take(c->srv);
	return c->e;
}

const char *
conn_tls_user(const struct conn *c)
{
	return c->tls != NULL && c->tls_user[0] != '\0' ? c->tls_user : NULL;
}

bool
conn_is_tls(const struct conn *c)
{
	return c->tls != NULL;
}

void
conn_close_after(struct conn *c)
{
	c->close_after = true;
}

/* conn_recv: wait for and read more input; 1 = data, 0 = EOF, <0 = error. */
static int
conn_recv(struct conn *c, enum phase ph)
{
	const struct config *cfg = &c->srv->cfg;
	int64_t idle_end = now_ms() + (int64_t)cfg->idle_timeout * 1000;

	if (c->fresh && c->head_deadline_ms < idle_end)
		idle_end = c->head_deadline_ms; /* a new connection owes us a head */
	c->in_off = c->in_len = 0;
	for (;;) {
		int64_t wait_ms;
		struct pollfd p = {c->fd, POLLIN, 0};
		ssize_t n;
		int r;

		/* TLS: OpenSSL may hold decrypted bytes the socket will not
		 * signal, so read first and wait only when it asks to. */
		if (c->tls != NULL) {
			long k = tls_read(c->tls, c->in, CONN_BUF);

			/* One record (16 KiB) per read: gather what is there, so the
			 * body reaches the sealer in large pieces as over plain TCP. */
			while (k > 0 && c->in_len + (size_t)k < CONN_BUF) {
				c->in_len += (size_t)k;
				k = tls_read(c->tls, c->in + c->in_len, CONN_BUF - c->in_len);
			}
			if (k > 0)
				c->in_len += (size_t)k;
			if (c->in_len > 0) {
				atomic_fetch_add(&c->srv->bytes_in, (uint64_t)c->in_len);
				return 1;
			}
			if (k == 0)
				return 0;
			if (k == TLS_AGAIN_WRITE)
				p.events = POLLOUT;
			else if (k != TLS_AGAIN_READ)
				return CS_EIO;
		}
		switch (ph) {
		case PH_HEAD:
			wait_ms = c->head_deadline_ms - now_ms();
			break;
		case PH_BODY:
			wait_ms = (int64_t)cfg->body_timeout * 1000;
			if (c->draining && c->head_deadline_ms - now_ms() < wait_ms)
				wait_ms = c->head_deadline_ms - now_ms();
			break;
		default:
			/* Idle: look at the shutdown flag a few times a second. */
			if (atomic_load(&c->srv->stopping))
				return 0; /* a clean close between requests */
			wait_ms = idle_end - now_ms();
			if (wait_ms > IDLE_TICK_MS)
				wait_ms = IDLE_TICK_MS;
			break;
		}
		if (wait_ms <= 0)
			return CS_EIO; /* timed out */
		r = poll(&p, 1, wait_ms > 0x7fffffff ? 0x7fffffff : (int)wait_ms);
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0 && ph == PH_IDLE && now_ms() < idle_end)
			continue;
		if (r <= 0)
			return CS_EIO;
		if (c->tls != NULL)
			continue;
		n = recv(c->fd, c->in, CONN_BUF, 0);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0)
			return CS_EIO;
		if (n == 0)
			return 0;
		c->in_len = (size_t)n;
		atomic_fetch_add(&c->srv->bytes_in, (uint64_t)n);
		return 1;
	}
}

/* conn_event: the next parser event, reading as needed.  Returns 1 with an
 * event, 0 on a clean close between requests, -1 on an error (in ev). */
static int
conn_event(struct conn *c, enum phase ph, struct http_event *ev)
{
	for (;;) {
		size_t consumed = 0;
		int r;

		/* Queued events come out even with no new input. */
		if (http_feed(c->h, c->in + c->in_off, c->in_len - c->in_off, &consumed, ev) != 0 &&
		    ev->type != HTTP_EV_ERROR) {
			ev->type = HTTP_EV_ERROR;
			ev->err = HTTP_E_SYNTAX;
		}
		c->in_off += consumed;
		if (ev->type != HTTP_EV_MORE)
			return ev->type == HTTP_EV_ERROR ? -1 : 1;
		if ((r = conn_recv(c, ph)) <= 0) {
			ev->type = HTTP_EV_ERROR;
			ev->err = r == 0 ? http_conn_eof(c->h) : HTTP_E_TRUNCATED;
			return r == 0 && ev->err == HTTP_E_NONE ? 0 : -1;
		}
		if (ph == PH_IDLE) {
			/* The first byte of a request starts the head timer (of the
			 * first request, the accept did). */
			ph = PH_HEAD;
			if (!c->fresh)
				c->head_deadline_ms =
					now_ms() + (int64_t)c->srv->cfg.header_timeout * 1000;
		}
	}
}

static int
conn_send(struct conn *c, const void *p, size_t n)
{
	struct iovec v = {(void *)(uintptr_t)p, n};

	return conn_writev(c, &v, 1);
}

int
conn_body(struct conn *c, const uint8_t **data, size_t *len)
{
	struct http_event ev;

	if (c->body_ended)
		return 0;
	if (c->req->body == HTTP_BODY_NONE ||
	    (c->req->body == HTTP_BODY_LENGTH && c->req->content_length == 0)) {
		/* An empty body announced with "Expect: 100-continue" gets its 100
		 * too (RFC 9110 allows either; S3 sends it): botocore takes any other
		 * first answer for an early final response and then misreads the
		 * next response on the connection (boto/boto3#1341). */
		if (c->req->expect_continue && !c->continue_sent) {
			c->continue_sent = true;
			if (conn_send(c, HTTP_100_CONTINUE, strlen(HTTP_100_CONTINUE)) != 0)
				return -1;
		}
		/* Still take the parser's queued DONE event. */
		if (conn_event(c, PH_BODY, &ev) <= 0 || ev.type != HTTP_EV_DONE) {
			c->body_err = ev.type == HTTP_EV_ERROR ? ev.err : HTTP_E_SYNTAX;
			c->dead = true;
			return -1;
		}
		c->body_ended = true;
		return 0;
	}
	if (c->req->expect_continue && !c->continue_sent) {
		c->continue_sent = true;
		if (conn_send(c, HTTP_100_CONTINUE, strlen(HTTP_100_CONTINUE)) != 0)
			return -1;
	}
	if (conn_event(c, PH_BODY, &ev) <= 0) {
		c->body_err = ev.err != HTTP_E_NONE ? ev.err : HTTP_E_TRUNCATED;
		c->dead = true;
		return -1;
	}
	switch (ev.type) {
	case HTTP_EV_BODY:
		*data = ev.data;
		*len = ev.len;
		c->body_seen += ev.len;
		return 1;
	case HTTP_EV_DONE:
		c->body_ended = true;
		return 0;
	case HTTP_EV_ERROR:
		c->body_err = ev.err;
		c->dead = true;
		return -1;
	default:
		c->dead = true;
		return -1;
	}
}

/* body_fail: a body that cannot be read on: the error, and no next request. */
static int
body_fail(struct conn *c, enum http_err e)
{
	c->body_err = e;
	c->dead = true;
	return -1;
}

/* recv_direct_try: receive the next body bytes straight into iov, at most
 * what is left of the Content-Length body, without waiting (CS_EAGAIN: none
 * there yet), and pass them through the parser (which then knows where the
 * body ends and the next request begins). */
static int
recv_direct_try(struct conn *c, const struct iovec *iov, int niov, size_t *got)
{
	uint64_t left = c->req->content_length - c->body_seen;
	struct iovec v[CONN_IOV_MAX];
	struct msghdr m;
	size_t done = 0;
	ssize_t n;
	int nv = 0;

	for (int i = 0; i < niov && left > 0; i++) {
		v[nv] = iov[i];
		if (v[nv].iov_len > left)
			v[nv].iov_len = (size_t)left;
		left -= v[nv].iov_len;
		nv++;
	}
	memset(&m, 0, sizeof(m));
	m.msg_iov = v;
	m.msg_iovlen = (size_t)nv;
	while ((n = recvmsg(c->fd, &m, MSG_DONTWAIT)) < 0 && errno == EINTR)
		;
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return CS_EAGAIN;
	if (n <= 0) /* an error, or the client closed mid-body */
		return body_fail(c, HTTP_E_TRUNCATED);
	atomic_fetch_add(&c->srv->bytes_in, (uint64_t)n);
	for (int i = 0; i < nv && done < (size_t)n; i++) {
		const uint8_t *p = v[i].iov_base;
		size_t len = v[i].iov_len < (size_t)n - done ? v[i].iov_len : (size_t)n - done;

		for (size_t fed = 0; fed < len;) {
			struct http_event ev;
			size_t used = 0;

			if (http_feed(c->h, p + fed, len - fed, &used, &ev) != 0 ||
			    ev.type != HTTP_EV_BODY || ev.data != p + fed || ev.len != used ||
			    used == 0)
				return body_fail(c,
						 ev.type == HTTP_EV_ERROR ? ev.err : HTTP_E_SYNTAX);
			fed += used;
		}
		done += len;
	}
	c->body_seen += (uint64_t)n;
	*got = (size_t)n;
	return 1;
}

/* conn_recv_direct: recv_direct_try, waiting up to body_timeout for bytes.
 * Read first: after the body's previous piece was sealed, the next one is
 * usually waiting, and a poll would only cost a system call. */
static int
conn_recv_direct(struct conn *c, const struct iovec *iov, int niov, size_t *got)
{
	int rc;

	while ((rc = recv_direct_try(c, iov, niov, got)) == CS_EAGAIN) {
		struct pollfd p = {c->fd, POLLIN, 0};
		int r;

		do
			r = poll(&p, 1, (int)c->srv->cfg.body_timeout * 1000);
		while (r < 0 && errno == EINTR);
		if (r <= 0)
			return body_fail(c, HTTP_E_TRUNCATED); /* body_timeout */
	}
	return rc;
}

bool
conn_body_direct(const struct conn *c)
{
	return c->pend_len == 0 && c->tls == NULL && c->req->body == HTTP_BODY_LENGTH &&
	       c->in_off == c->in_len && c->body_seen < c->req->content_length &&
	       (!c->req->expect_continue || c->continue_sent);
}

int
conn_body_try(struct conn *c, const struct iovec *iov, int niov, size_t *got)
{
	*got = 0;
	if (niov < 1 || niov > CONN_IOV_MAX || !conn_body_direct(c))
		return CS_EINVAL;
	return recv_direct_try(c, iov, niov, got);
}

void
conn_body_timed_out(struct conn *c)
{
	(void)body_fail(c, HTTP_E_TRUNCATED);
}

int
conn_fd(const struct conn *c)
{
	return c->fd;
}

int
conn_body_into(struct conn *c, const struct iovec *iov, int niov, size_t *got)
{
	size_t done = 0;
	int r;

	*got = 0;
	if (niov < 1 || niov > CONN_IOV_MAX)
		return CS_EINVAL;
	if (conn_body_direct(c))
		return conn_recv_direct(c, iov, niov, got);
	if (c->pend_len == 0 && (r = conn_body(c, &c->pend, &c->pend_len)) <= 0)
		return r;
	/* Copy what conn_body() handed out; the rest waits for the next call. */
	for (int i = 0; i < niov && c->pend_len > 0; i++) {
		size_t k = iov[i].iov_len < c->pend_len ? iov[i].iov_len : c->pend_len;

		memcpy(iov[i].iov_base, c->pend, k);
		c->pend += k;
		c->pend_len -= k;
		done += k;
	}
	*got = done;
	return done > 0 ? 1 : CS_EINVAL; /* only iovecs of length 0 */
}

enum http_err
conn_body_error(const struct conn *c)
{
	return c->body_err;
}

/* conn_head: format and send a response head. */
static int
conn_head(struct conn *c, int status, const struct http_header *h, size_t nh,
	  enum http_body_kind bk, uint64_t content_length)
{
	struct http_response r;
	char buf[16384];
	size_t len = 0;

	/* A body the client may still send and we did not read: close after. */
	if (c->req != NULL && !c->body_ended && c->req->body != HTTP_BODY_NONE)
		c->close_after = true;
	memset(&r, 0, sizeof(r));
	r.status = status;
	r.body = bk;
	r.content_length = content_length;
	if (atomic_load(&c->srv->stopping))
		c->close_after = true;
	r.keep_alive = c->req != NULL && c->req->keep_alive && !c->close_after;
	r.http10 = c->req != NULL && c->req->version_minor == 0;
	r.date = time(NULL);
	r.headers = h;
	r.nheaders = nh;
	if (http_response_head(buf, sizeof(buf), &r, &len) != 0)
		return CS_EINVAL;
	c->responded = true;
	return conn_send(c, buf, len);
}

int
conn_respond(struct conn *c, int status, const struct http_header *h, size_t nh, const void *body,
	     size_t len)
{
	/* 204 and 304 carry no body and, per RFC 9110, no Content-Length. */
	bool bodiless = status == 204 || status == 304;
	int rc = conn_head(c, status, h, nh, bodiless ? HTTP_BODY_NONE : HTTP_BODY_LENGTH, len);

	if (rc == 0 && !bodiless && len > 0 && (c->req == NULL || c->req->method_id != HTTP_M_HEAD))
		rc = conn_send(c, body, len);
	return rc;
}

int
conn_respond_head(struct conn *c, int status, const struct http_header *h, size_t nh,
		  uint64_t content_length)
{
	return conn_head(c, status, h, nh, HTTP_BODY_LENGTH, content_length);
}

int
conn_write(struct conn *c, const void *p, size_t n)
{
	return conn_send(c, p, n);
}

/* tls_put: write all of p through TLS, waiting at most body_timeout per pause. */
static int
tls_put(struct conn *c, const uint8_t *p, size_t n)
{
	while (n > 0) {
		struct pollfd pf = {c->fd, POLLOUT, 0};
		size_t done = 0;
		int r = tls_write(c->tls, p, n, &done);

		p += done;
		n -= done;
		atomic_fetch_add(&c->srv->bytes_out, (uint64_t)done);
		if (r == 0)
			continue;
		if (r != TLS_AGAIN_READ && r != TLS_AGAIN_WRITE) {
			c->dead = true;
			return CS_EIO;
		}
		pf.events = r == TLS_AGAIN_READ ? POLLIN : POLLOUT;
		do
			r = poll(&pf, 1, (int)c->srv->cfg.body_timeout * 1000);
		while (r < 0 && errno == EINTR);
		if (r <= 0) {
			c->dead = true;
			return CS_EIO;
		}
	}
	return 0;
}

/* tls_writev: small pieces (a response head, an XML body) are gathered into
 * one record's worth before they go out; large ones go straight through. */
static int
tls_writev(struct conn *c, const struct iovec *iov, int n)
{
	uint8_t stage[16384];
	size_t sl = 0;
	int rc = 0;

	for (int i = 0; i < n && rc == 0; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t len = iov[i].iov_len;

		while (len > 0 && rc == 0) {
			size_t take;

			if (sl == 0 && len >= sizeof(stage)) {
				rc = tls_put(c, p, len);
				break;
			}
			take = len < sizeof(stage) - sl ? len : sizeof(stage) - sl;
			memcpy(stage + sl, p, take);
			sl += take;
			p += take;
			len -= take;
			if (sl == sizeof(stage)) {
				rc = tls_put(c, stage, sl);
				sl = 0;
			}
		}
	}
	if (rc == 0 && sl > 0)
		rc = tls_put(c, stage, sl);
	return rc;
}

int
conn_writev(struct conn *c, const struct iovec *iov, int n)
{
	struct iovec v[64];
	struct msghdr m;
	int i = 0;

	if (n < 0 || n > 64)
		return CS_EINVAL;
	if (c->tls != NULL)
		return tls_writev(c, iov, n);
	memcpy(v, iov, (size_t)n * sizeof(*v));
	while (i < n) {
		struct pollfd pf = {c->fd, POLLOUT, 0};
		ssize_t k;

		memset(&m, 0, sizeof(m));
		m.msg_iov = v + i;
		m.msg_iovlen = (size_t)(n - i);
		k = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0 && (errno == EAGAIN || errno == EINTR)) {
			int r = poll(&pf, 1, (int)c->srv->cfg.body_timeout * 1000);

			if (r <= 0 && !(r < 0 && errno == EINTR)) {
				c->dead = true;
				return CS_EIO;
			}
			continue;
		}
		if (k <= 0) {
			c->dead = true;
			return CS_EIO;
		}
		atomic_fetch_add(&c->srv->bytes_out, (uint64_t)k);
		/* Skip what went out, finishing a partly sent piece next time. */
		for (size_t left = (size_t)k; i < n && left > 0;) {
			if (left >= v[i].iov_len) {
				left -= v[i].iov_len;
				i++;
			} else {
				v[i].iov_base = (uint8_t *)v[i].iov_base + left;
				v[i].iov_len -= left;
				left = 0;
			}
		}
		while (i < n && v[i].iov_len == 0)
			i++;
	}
	return 0;
}

/* conn_drain: read and drop what is left of the request body, if small. */
static bool
conn_drain(struct conn *c)
{
	const uint8_t *d;
	size_t n, total = 0;
	int r;

	if (c->body_ended)
		return true;
	if (c->req->body == HTTP_BODY_LENGTH && c->req->content_length > DRAIN_MAX)
		return false;
	if (c->req->expect_continue && !c->continue_sent)
		return false; /* the client holds the body back: do not invite it */
	/* What is left comes before the next request's head, so it gets the
	 * head's time limit in all: body_timeout per pause would let a client
	 * that drips it hold the connection for DRAIN_MAX pauses. */
	c->head_deadline_ms = now_ms() + (int64_t)c->srv->cfg.header_timeout * 1000;
	c->draining = true;
	while ((r = conn_body(c, &d, &n)) == 1)
		if ((total += n) > DRAIN_MAX)
			break;
	c->draining = false;
	return r == 0 && total <= DRAIN_MAX;
}

/* conn_error_plain: a protocol-level error answer, then close. */
static void
conn_error_plain(struct conn *c, enum http_err e)
{
	char body[256];
	int n = snprintf(
		body, sizeof(body),
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s"
		"</Message></Error>",
		http_err_status(e) == 413 ? "EntityTooLarge" : "BadRequest", http_err_str(e));
	struct http_header h = {"Content-Type", 12, "application/xml", 15};

	c->close_after = true;
	if (conn_respond(c, http_err_status(e), &h, 1, body, (size_t)n) != 0) {
		/* the client is gone */
	}
}

/* ---- the parker ------------------------------------------------------------ */

static struct {
	pthread_mutex_t mu;
	int epfd;
	pthread_t th;
	bool running;
	struct conn *head; /* parked connections */
	unsigned n;
} park = {.mu = PTHREAD_MUTEX_INITIALIZER, .epfd = -1};

static void conn_run(struct conn *c);

static void
conn_free(struct conn *c)
{
	tls_conn_free(c->tls);
	shutdown(c->fd, SHUT_RDWR);
	close(c->fd);
	engine_give(c->e);
	http_conn_free(c->h);
	free(c->in);
	atomic_fetch_sub(&c->srv->nconn, 1);
	free(c);
}

static void
park_unlink(struct conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		park.head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	c->parked = false;
	park.n--;
}

/* conn_park: hand an idle connection to the parker; false if it cannot. */
static bool
conn_park(struct conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT, .data.ptr = c};

	pthread_mutex_lock(&park.mu);
	if (!park.running) {
		pthread_mutex_unlock(&park.mu);
		return false;
	}
	engine_give(c->e);
	c->e = NULL;
	free(c->in);
	c->in = NULL;
	c->in_full = false;
	c->in_len = c->in_off = c->head_scan = 0;
	c->idle_deadline_ms = now_ms() + (int64_t)c->srv->cfg.idle_timeout * 1000;
	c->parked = true;
	c->prev = NULL;
	c->next = park.head;
	if (park.head != NULL)
		park.head->prev = c;
	park.head = c;
	park.n++;
	/* Registered under the lock, so the parker cannot see it half-listed. */
	if (epoll_ctl(park.epfd, EPOLL_CTL_ADD, c->fd, &ev) != 0) {
		park_unlink(c);
		pthread_mutex_unlock(&park.mu);
		return false;
	}
	pthread_mutex_unlock(&park.mu);
	return true;
}

static void *
conn_resume_thread(void *arg)
{
	conn_run(arg);
	return NULL;
}

/* What park_read() found. */
enum park_next { PARK_KEEP, PARK_SERVE, PARK_CLOSE };

/* head_done: the parked connection's bytes hold the empty line that ends a
 * request head, or as many bytes as a head may have (the thread answers
 * that).  The search resumes where it stopped: a head that drips in a byte
 * at a time is scanned once, not once per byte. */
static bool
head_done(struct conn *c)
{
	size_t i = c->head_scan > 2 ? c->head_scan - 2 : 0;

	for (; i + 1 < c->in_len; i++)
		if (c->in[i] == '\n' &&
		    (c->in[i + 1] == '\n' ||
		     (c->in[i + 1] == '\r' && i + 2 < c->in_len && c->in[i + 2] == '\n')))
			return true;
	c->head_scan = c->in_len;
	return c->in_len >= c->srv->limits.max_head;
}

/*
 * park_read: a parked connection is readable.  Over plain TCP the parker
 * reads the request head itself, so that a client that sends it slowly
 * holds no thread (slowloris); the connection goes to a thread once the
 * head is whole, or the client closed or failed (the thread answers what is
 * due).  A TLS connection goes to a thread at once (its bytes need the
 * handshake's keys).
 */
static enum park_next
park_read(struct conn *c)
{
	ssize_t n;

	if (c->tls != NULL)
		return PARK_SERVE;
	/* A head's worth, not the thread's CONN_BUF: a thousand slow heads
	 * hold a thousand of these (conn_run() grows it). */
	if (c->in == NULL && (c->in = malloc(c->srv->limits.max_head)) == NULL)
		return PARK_CLOSE;
	do
		n = recv(c->fd, c->in + c->in_len, c->srv->limits.max_head - c->in_len,
			 MSG_DONTWAIT);
	while (n < 0 && errno == EINTR);
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return PARK_KEEP;
	if (n <= 0) /* closed or failed: between requests a clean close */
		return c->in_len == 0 ? PARK_CLOSE : PARK_SERVE;
	/* The first byte of a request starts its head timer (a new
	 * connection's started at the accept). */
	if (c->in_len == 0 && !c->fresh)
		c->head_deadline_ms = now_ms() + (int64_t)c->srv->cfg.header_timeout * 1000;
	c->in_len += (size_t)n;
	atomic_fetch_add(&c->srv->bytes_in, (uint64_t)n);
	return head_done(c) ? PARK_SERVE : PARK_KEEP;
}

/* park_deadline: when a parked connection is closed: a head under way (or
 * a new connection's first) has header_timeout, an idle one idle_timeout. */
static int64_t
park_deadline(const struct conn *c)
{
	return c->fresh || c->in_len > 0 ? c->head_deadline_ms : c->idle_deadline_ms;
}

static void *
park_loop(void *arg)
{
	struct server *srv = arg;
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, THREAD_STACK);
	for (;;) {
		struct epoll_event evs[64];
		int n = epoll_wait(park.epfd, evs, 64, IDLE_TICK_MS);
		bool stopping = atomic_load(&srv->stopping);
		struct conn *expired = NULL;
		int64_t now = now_ms();

		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			enum park_next next = stopping ? PARK_CLOSE : park_read(c);
			struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT,
						 .data.ptr = c};
			pthread_t t;

			pthread_mutex_lock(&park.mu);
			if (next == PARK_KEEP &&
			    epoll_ctl(park.epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0) {
				pthread_mutex_unlock(&park.mu);
				continue; /* more of the head to come */
			}
			(void)epoll_ctl(park.epfd, EPOLL_CTL_DEL, c->fd, NULL);
			park_unlink(c);
			pthread_mutex_unlock(&park.mu);
			if (next == PARK_CLOSE ||
			    pthread_create(&t, &attr, conn_resume_thread, c) != 0)
				conn_free(c); /* a clean close between requests */
		}
		pthread_mutex_lock(&park.mu);
		for (struct conn *c = park.head, *nx; c != NULL; c = nx) {
			nx = c->next;
			if (stopping || now >= park_deadline(c)) {
				(void)epoll_ctl(park.epfd, EPOLL_CTL_DEL, c->fd, NULL);
				park_unlink(c);
				c->next = expired;
				expired = c;
			}
		}
		pthread_mutex_unlock(&park.mu);
		for (struct conn *c = expired, *nx; c != NULL; c = nx) {
			nx = c->next;
			conn_free(c);
		}
		if (stopping) {
			pthread_mutex_lock(&park.mu);
			park.running = false; /* new idlers keep their threads and see stopping */
			pthread_mutex_unlock(&park.mu);
			break;
		}
	}
	pthread_attr_destroy(&attr);
	return NULL;
}

int
conn_parker_start(struct server *srv)
{
	if ((park.epfd = epoll_create1(EPOLL_CLOEXEC)) < 0)
		return CS_EIO;
	park.running = true;
	if (pthread_create(&park.th, NULL, park_loop, srv) != 0) {
		park.running = false;
		close(park.epfd);
		park.epfd = -1;
		return CS_EIO;
	}
	return 0;
}

void
conn_parker_stop(void)
{
	if (park.epfd < 0)
		return;
	pthread_join(park.th, NULL);
	close(park.epfd);
	park.epfd = -1;
	pthread_mutex_lock(&pool_mu);
	while (npool > 0)
		engine_free(pool[--npool]);
	pthread_mutex_unlock(&pool_mu);
}

unsigned
conn_parked(void)
{
	unsigned n;

	pthread_mutex_lock(&park.mu);
	n = park.n;
	pthread_mutex_unlock(&park.mu);
	return n;
}

/* ---- serving ---------------------------------------------------------------- */

/* conn_idle_park: between requests with nothing buffered: wait a moment for
 * the next request on this thread, else park.  True if parked. */
static bool
conn_idle_park(struct conn *c)
{
	struct pollfd p = {c->fd, POLLIN, 0};
	int r;

	if (c->in_off < c->in_len || (c->tls != NULL && tls_pending(c->tls)))
		return false;
	do
		r = poll(&p, 1, PARK_GRACE_MS);
	while (r < 0 && errno == EINTR);
	if (r != 0)
		return false;
	return conn_park(c);
}

/* conn_buf_full: c's input buffer is CONN_BUF bytes (keeping what it holds). */
static bool
conn_buf_full(struct conn *c)
{
	uint8_t *b;

	if (c->in_full)
		return true;
	if ((b = realloc(c->in, CONN_BUF)) == NULL)
		return false;
	c->in = b;
	c->in_full = true;
	return true;
}

static void
conn_run(struct conn *c)
{
	if (!conn_buf_full(c)) {
		log_error("%s: out of memory for a connection", c->peer);
		conn_free(c);
		return;
	}
	for (;;) {
		struct http_event ev;
		int r;

		c->req = NULL;
		c->body_ended = c->continue_sent = c->responded = false;
		c->body_err = HTTP_E_NONE;
		c->body_seen = 0;
		c->pend = NULL;
		c->pend_len = 0;
		/* The first byte of a buffered pipelined request starts the head timer
		 * too, and so does the accept: a new connection owes us a request, it
		 * is not a keep-alive connection idling between two (its timer,
		 * set by conn_serve, also covered the TLS handshake). */
		if (!c->fresh)
			c->head_deadline_ms = now_ms() + (int64_t)c->srv->cfg.header_timeout * 1000;
		r = conn_event(c, c->in_off < c->in_len ? PH_HEAD : PH_IDLE, &ev);
		c->fresh = false;
		if (r == 0)
			break; /* clean close between requests */
		if (r < 0) {
			if (ev.err != HTTP_E_TRUNCATED)
				conn_error_plain(c, ev.err);
			break;
		}
		if (ev.type != HTTP_EV_HEAD) {
			conn_error_plain(c, HTTP_E_SYNTAX);
			break;
		}
		c->req = http_conn_request(c->h);
		atomic_fetch_add(&c->srv->requests, 1);
		s3api_handle(c);
		if (c->dead)
			break;
		if (!c->responded) {
			struct http_header h = {"Content-Type", 12, "application/xml", 15};

			c->close_after = true;
			if (conn_respond(c, 500, &h, 1, "", 0) != 0)
				break;
		}
		if (!conn_drain(c) || c->close_after || !c->req->keep_alive)
			break;
		if (atomic_load(&c->srv->stopping))
			break; /* shutting down: no next request on this connection */
		if (http_next(c->h) != 0)
			break;
		/* Between requests: the engine goes back to the pool. */
		engine_give(c->e);
		c->e = NULL;
		if (!atomic_load(&c->srv->stopping) && conn_idle_park(c))
			return; /* parked: the parker owns it now */
		/* Not parked after all (epoll_ctl failed): it needs its buffer back. */
		if (!conn_buf_full(c))
			break;
	}
	conn_free(c);
}

/* conn_new: a connection for an accepted socket, its first head due
 * header_timeout from now; NULL (socket closed, count given back) if out of
 * memory. */
static struct conn *
conn_new(struct server *srv, int fd, const char *peer)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (c == NULL || http_conn_new(&c->h, &srv->limits) != 0) {
		log_error("%s: out of memory for a connection", peer);
		free(c);
		close(fd);
		atomic_fetch_sub(&srv->nconn, 1);
		return NULL;
	}
	c->srv = srv;
	c->fd = fd;
	c->fresh = true;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	/* The handshake counts against the first request's head time. */
	c->head_deadline_ms = now_ms() + (int64_t)srv->cfg.header_timeout * 1000;
	return c;
}

bool
conn_accept(struct server *srv, int fd, const char *peer)
{
	struct conn *c;

	if (srv->tls != NULL)
		return false; /* the handshake runs on a thread */
	if ((c = conn_new(srv, fd, peer)) == NULL)
		return true;
	if (conn_park(c))
		return true;
	/* The parker does not run: the caller serves it on a thread. */
	c->fd = -1;
	http_conn_free(c->h);
	free(c);
	return false;
}

void
conn_serve(struct server *srv, int fd, const char *peer)
{
	struct conn *c = conn_new(srv, fd, peer);

	if (c == NULL)
		return;
	if (srv->tls != NULL &&
	    tls_accept(&c->tls, srv->tls, fd, c->head_deadline_ms, c->tls_user, c->peer) != 0) {
		conn_free(c);
		return;
	}
	conn_run(c);
}
