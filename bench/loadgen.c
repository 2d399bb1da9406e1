/*
 * loadgen: a lean HTTP/1.1 load generator, the one measuring tool of the
 * throughput work.  It drives cryptstored over S3 (path-style, SigV4 header
 * auth signed by the library's own signer) and, for comparison, plain HTTP
 * servers (nginx WebDAV PUT/GET, no auth), and reports throughput, latency
 * percentiles, its own CPU time and, with --server-pid, the server's CPU
 * seconds per GB moved.
 *
 * It must not be the bottleneck on a small machine it shares with the
 * server, so: one epoll loop per thread (--threads, default 1) over
 * non-blocking sockets, edge-triggered; persistent keep-alive connections;
 * every PUT body is sent with sendmsg() straight from one preallocated,
 * read-only buffer (header and body in one iovec pair, no copy per request);
 * responses are parsed by http_parser (status line, headers, Content-Length
 * or chunked, no body for HEAD/1xx/204/304) out of one scratch buffer per
 * thread; a Content-Length body nobody looks at is dropped in the kernel
 * with recv(MSG_TRUNC), uncopied (the copy was half of loadgen's GET cost),
 * and a body under --verify is compared against the PUT buffer.
 * Request heads are signed once and reused while the method, key and
 * x-amz-date second stay the same; the payload SHA-256 is computed once.
 * The network controls no allocation: header bytes are bounded by
 * http_parser, bodies are streamed, error captures are capped.
 *
 * Phases, in order: --prepare (every key PUT once, not timed), --idle
 * (extra connections send one HEAD of a missing key and then stay open,
 * silent, until the end), the measured run.  Counting rules of the
 * measured run:
 *   - a request is measured when it completes after --warmup and, with
 *     --duration, before the end; --requests R (or --total) measures exactly
 *     R requests: a request takes one of R tokens when it is issued after
 *     the warm-up, or when it completes if it was issued during it;
 *   - elapsed is the window from the end of the warm-up to the end of
 *     --duration, or to the last measured completion;
 *   - bytes are body bytes of measured successful requests (PUT: sent,
 *     GET: received); MB = 10^6 bytes, GB = 10^9 bytes;
 *   - latency runs from the first byte sent to the last byte received;
 *   - any non-2xx status, connect failure, reset, timeout, malformed
 *     response or --verify mismatch is an error (warm-up included); the
 *     first error response is printed to stderr once.  A connection that
 *     fails is reopened after a short back-off; after --retries failures in
 *     a row loadgen gives up (exit 1).  A request whose reused connection
 *     was closed by the server before any response byte (the keep-alive
 *     race) is resent once on a new connection, not counted as an error.
 *
 * TLS: with an https:// URL every connection runs a TLS handshake (OpenSSL,
 * non-blocking, the same event loop) before its first request and then reads
 * and writes through it; bodies are then copied (decrypted) in user space,
 * as a real client does.  --cacert verifies the server (else it is not
 * verified, and the report says so); --cert/--key present a client
 * certificate (mutual TLS).
 *
 * Exit status: 0 every request succeeded, 1 a request failed or loadgen
 * could not run, 2 bad usage.
 */
#include "s3/sigv4.h"
#include "util/hex.h"
#include "util/secmem.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <http_parser.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#define NS_PER_S  1000000000LL
#define NS_PER_MS 1000000LL

#define LG_MAX_CONNS   65536
#define LG_MAX_THREADS 64
#define LG_MAX_SIZE    ((uint64_t)5 << 30) /* S3's largest single PUT */
#define LG_MAX_PREFIX  256                 /* bytes of --prefix */
#define LG_MAX_BUCKET  63
#define LG_HDR_CAP     4096              /* bytes of one request head */
#define LG_SCRATCH     (256u << 10)      /* receive buffer per thread */
#define LG_CAPTURE     4096              /* bytes of the first error response kept */
#define LG_EVENTS      256               /* epoll events per wait */
#define LG_SCAN_NS     (100 * NS_PER_MS) /* timeout and back-off granularity */
#define LG_BACKOFF_NS  (100 * NS_PER_MS) /* first reconnect delay; doubles */
#define LG_MAX_BACKOFF (2 * NS_PER_S)
#define LG_SIGNED      "host;x-amz-content-sha256;x-amz-date"
#define LG_EMPTY_SHA   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ---- latency histogram: log-linear, < 0.8% relative error, fixed size ---------------------- */

#define HIST_LIN 256 /* values below this are exact */
#define HIST_SUB 128 /* buckets per power of two above it */
#define HIST_N   (HIST_LIN + 56 * HIST_SUB)

struct hist {
	uint64_t n, max;
	uint64_t b[HIST_N];
};

static size_t
hist_index(uint64_t v)
{
	unsigned msb, shift;

	if (v < HIST_LIN)
		return (size_t)v;
	msb = 63u - (unsigned)__builtin_clzll(v); /* >= 8 */
	shift = msb - 7;                          /* v >> shift is in [128, 256) */
	return HIST_LIN + (size_t)(shift - 1) * HIST_SUB + (size_t)((v >> shift) - HIST_SUB);
}

static uint64_t
hist_mid(size_t i)
{
	unsigned shift;
	uint64_t mant;

	if (i < HIST_LIN)
		return i;
	shift = (unsigned)((i - HIST_LIN) / HIST_SUB) + 1;
	mant = (i - HIST_LIN) % HIST_SUB + HIST_SUB;
	return (mant << shift) + ((uint64_t)1 << (shift - 1));
}

static void
hist_add(struct hist *h, uint64_t v)
{
	h->b[hist_index(v)]++;
	h->n++;
	if (v > h->max)
		h->max = v;
}

static void
hist_merge(struct hist *into, const struct hist *h)
{
	for (size_t i = 0; i < HIST_N; i++)
		into->b[i] += h->b[i];
	into->n += h->n;
	if (h->max > into->max)
		into->max = h->max;
}

/* hist_pct(h, p): the value at quantile p (0..1], never above the exact maximum. */
static uint64_t
hist_pct(const struct hist *h, double p)
{
	uint64_t rank, seen = 0;

	if (h->n == 0)
		return 0;
	rank = (uint64_t)(p * (double)h->n + 0.999999);
	if (rank < 1)
		rank = 1;
	for (size_t i = 0; i < HIST_N; i++) {
		seen += h->b[i];
		if (seen >= rank)
			return hist_mid(i) < h->max ? hist_mid(i) : h->max;
	}
	return h->max;
}

/* ---- options and the shared state of a run --------------------------------------------------- */

enum mode { MODE_S3, MODE_HTTP };
enum phase { PH_PREPARE, PH_IDLE, PH_MAIN };
enum method { M_PUT, M_GET, M_HEAD };

/* Errors that are not an HTTP status. */
enum kind { K_OK, K_STATUS, K_CONNECT, K_RESET, K_TIMEOUT, K_PROTOCOL, K_VERIFY, K_N };
static const char *const kind_name[K_N] = {"ok",      "status",   "connect", "reset",
					   "timeout", "protocol", "verify"};

struct opts {
	char host[256], port[8], authority[300];
	const char *url;
	bool tls;                            /* https:// */
	const char *cacert, *cert, *certkey; /* --cacert, --cert, --key */
	enum mode mode;
	const char *access_key, *bucket, *prefix;
	char region[SIGV4_MAX_REGION + 1];
	bool put, prepare, verify, json, unsigned_payload;
	uint64_t keys, size, requests, total;
	uint32_t conns, idle, threads, retries;
	double duration, warmup, timeout;
	long server_pid;
};

struct stats {
	uint64_t ok, errors, bytes, connects, resent;
	int64_t t_last; /* monotonic ns of the last measured completion */
	uint64_t status[600];
	uint64_t kind[K_N];
	struct hist lat; /* ns */
};

struct run {
	struct opts o;
	SSL_CTX *tls; /* https: the client context, else NULL */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	char base[8 + 3 * LG_MAX_BUCKET + 3 * LG_MAX_PREFIX]; /* "/bucket/prefix" encoded */
	uint8_t *body; /* --size bytes of a fixed pseudo-random pattern */
	size_t body_cap;
	char payload_put[65]; /* hex SHA-256 of the body, or UNSIGNED-PAYLOAD */
	uint8_t *secret;      /* secure memory */
	size_t secret_len;
	int64_t timeout_ns;
	/* The phase being run; written by the main thread between phases only. */
	enum phase phase;
	int64_t warm_end, end; /* monotonic ns; end is INT64_MAX without --duration */
	uint64_t budget;       /* measured requests, 0 with --duration */
	atomic_uint_fast64_t taken;
	atomic_bool fatal, fatal_once, http_err_once, net_err_once, verify_once;
	char fatal_msg[512];
};

struct worker;

struct conn {
	struct worker *w;
	uint32_t idx; /* in w->conns */
	uint32_t id;  /* c of the key names */
	uint32_t gen; /* changes with each socket, tags epoll events */
	int fd;       /* -1: none */
	SSL *ssl;     /* https: the TLS session on fd */
	bool handshaking;
	bool idle; /* an --idle connection */
	bool connecting, busy, done, backoff, token, retried, head;
	uint32_t fails;  /* failures in a row */
	uint32_t served; /* responses on the current socket */
	uint64_t seq;    /* bumps on each (re)start of a request */
	uint64_t next_i; /* requests issued in this phase */
	uint64_t key_i;
	int64_t deadline, wake, t0;
	/* The request: hdr, then blen body bytes out of run->body. */
	size_t hlen, blen, sent;
	bool hvalid; /* hdr may be reused if method, key and second match */
	enum method hmethod;
	uint64_t hkey;
	int64_t hsec;
	char hdr[LG_HDR_CAP];
	/* The response. */
	http_parser hp;
	uint64_t rx, body_rx;
	uint64_t skip; /* body bytes still to drop unread (MSG_TRUNC) after the head */
	bool msg_done, vcheck;
	const char *verr; /* a --verify failure, static text */
	int last_cb;      /* which header callback ran last */
	char *cap;        /* capture of the first error response, or NULL */
	size_t cap_len;
	bool cap_on;
};

struct worker {
	struct run *run;
	pthread_t tid;
	int ep;
	struct conn *conns;
	uint32_t nconns;
	uint32_t active; /* participating connections not done with this phase */
	uint8_t *scratch;
	uint8_t *skey; /* SigV4 signing key of key_date, secure memory */
	char key_date[9];
	struct stats st;
};

static const http_parser_settings parser_settings;

static int64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

/* fatal(r, fmt, ...): stop every thread; the first message is the one printed. */
static void fatal(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
fatal(struct run *r, const char *fmt, ...)
{
	va_list ap;

	if (atomic_exchange(&r->fatal_once, true))
		return;
	va_start(ap, fmt);
	vsnprintf(r->fatal_msg, sizeof(r->fatal_msg), fmt, ap);
	va_end(ap);
	atomic_store(&r->fatal, true);
}

static const char *
method_name(enum method m)
{
	switch (m) {
	case M_PUT:
		return "PUT";
	case M_GET:
		return "GET";
	case M_HEAD:
		return "HEAD";
	default:
		return "?";
	}
}

/* ---- requests ------------------------------------------------------------------------------ */

/* s3_sign(w, method, path, payload, amz_date, sig_hex): the SigV4 signature of a request
 * carrying exactly the headers host, x-amz-content-sha256 and x-amz-date. */
static int
s3_sign(struct worker *w, const char *method, const char *path, const char *payload,
	const char *amz_date, char sig_hex[65])
{
	struct run *r = w->run;
	char date8[9], scope[SIGV4_MAX_SCOPE + 1];
	uint8_t sig[32];
	int n;

	memcpy(date8, amz_date, 8);
	date8[8] = '\0';
	if (strcmp(date8, w->key_date) != 0) {
		if (sigv4_signing_key(r->secret, r->secret_len, date8, r->o.region, "s3",
				      w->skey) != 0)
			return -1;
		memcpy(w->key_date, date8, sizeof(date8));
	}
	n = snprintf(scope, sizeof(scope), "%s/%s/s3/aws4_request", date8, r->o.region);
	if (n < 0 || (size_t)n >= sizeof(scope))
		return -1;

	const struct sigv4_header h[3] = {
		{"host", 4, r->o.authority, strlen(r->o.authority)},
		{"x-amz-content-sha256", 20, payload, strlen(payload)},
		{"x-amz-date", 10, amz_date, SIGV4_AMZ_DATE_LEN},
	};
	const struct sigv4_request sr = {.method = method,
					 .method_len = strlen(method),
					 .target = path,
					 .target_len = strlen(path),
					 .headers = h,
					 .nheaders = 3};
	const struct sigv4_sign_params sp = {.signed_headers = LG_SIGNED,
					     .signed_headers_len = sizeof(LG_SIGNED) - 1,
					     .payload = payload,
					     .payload_len = strlen(payload),
					     .amz_date = amz_date,
					     .scope = scope,
					     .scope_len = (size_t)n};

	if (sigv4_signature(&sr, &sp, w->skey, sig) != 0)
		return -1;
	hex_encode(sig_hex, sig, sizeof(sig));
	return 0;
}

/* build_request(c, m): the head of c's next request into c->hdr, reusing the last one when the
 * method, key and (S3) signing second are the same.  Returns 0 or -1 (fatal). */
static int
build_request(struct conn *c, enum method m)
{
	struct worker *w = c->w;
	struct run *r = w->run;
	const struct opts *o = &r->o;
	char path[sizeof(r->base) + 48], amz[SIGV4_AMZ_DATE_LEN + 1], sig[65], cl[48] = "";
	const char *mn = method_name(m), *payload;
	int64_t sec = 0;
	int n;

	c->blen = m == M_PUT ? (size_t)o->size : 0;
	c->head = m == M_HEAD;
	if (o->mode == MODE_S3)
		sec = (int64_t)time(NULL);
	if (c->hvalid && c->hmethod == m && c->hkey == c->key_i && c->hsec == sec)
		return 0;
	c->hvalid = false;
	if (c->idle)
		n = snprintf(path, sizeof(path), "%sidle-%" PRIu32, r->base, c->id);
	else
		n = snprintf(path, sizeof(path), "%s%" PRIu32 "-%" PRIu64, r->base, c->id,
			     c->key_i);
	if (n < 0 || (size_t)n >= sizeof(path))
		goto toolong;
	if (m == M_PUT)
		snprintf(cl, sizeof(cl), "Content-Length: %zu\r\n", c->blen);
	if (o->mode == MODE_HTTP) {
		n = snprintf(c->hdr, sizeof(c->hdr), "%s %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", mn,
			     path, o->authority, cl);
	} else {
		payload = m == M_PUT ? r->payload_put : LG_EMPTY_SHA;
		if (sigv4_amz_date(sec, amz) != 0 || s3_sign(w, mn, path, payload, amz, sig) != 0) {
			fatal(r, "cannot sign %s %s", mn, path);
			return -1;
		}
		n = snprintf(c->hdr, sizeof(c->hdr),
			     "%s %s HTTP/1.1\r\nHost: %s\r\nx-amz-content-sha256: %s\r\n"
			     "x-amz-date: %s\r\nAuthorization: AWS4-HMAC-SHA256 "
			     "Credential=%s/%.8s/%s/s3/aws4_request, SignedHeaders=" LG_SIGNED
			     ", Signature=%s\r\n%s\r\n",
			     mn, path, o->authority, payload, amz, o->access_key, amz, o->region,
			     sig, cl);
	}
	if (n < 0 || (size_t)n >= sizeof(c->hdr))
		goto toolong;
	c->hlen = (size_t)n;
	c->hvalid = true;
	c->hmethod = m;
	c->hkey = c->key_i;
	c->hsec = sec;
	return 0;

toolong:
	fatal(r, "request head too long (shorten --prefix or --bucket)");
	return -1;
}

/* ---- connections --------------------------------------------------------------------------- */

static void conn_next(struct conn *c);
static void conn_send(struct conn *c);
static void conn_recv(struct conn *c, int send_err);

static void
conn_close(struct conn *c)
{
	SSL_free(c->ssl);
	c->ssl = NULL;
	c->handshaking = false;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->connecting = false;
	c->gen++;
}

static void
print_net_error_once(struct conn *c, const char *what, int err, const char *detail)
{
	struct run *r = c->w->run;

	if (atomic_exchange(&r->net_err_once, true))
		return;
	fprintf(stderr, "loadgen: first transport error: connection %" PRIu32 ", %s %s: %s%s%s\n",
		c->id, c->busy ? method_name(c->hmethod) : "-", what, err ? strerror(err) : "",
		err && detail ? ": " : "", detail ? detail : "");
}

/*
 * record(c, k, status, now): count one finished request in the thread's statistics under
 * the measuring rules of the phase (see the top of this file).
 */
static void
record(struct conn *c, enum kind k, int status, int64_t now)
{
	struct worker *w = c->w;
	struct run *r = w->run;
	struct stats *s = &w->st;
	bool measured = true;

	if (r->phase == PH_MAIN) {
		measured = now >= r->warm_end && now <= r->end;
		if (measured && r->budget > 0 && !c->token)
			measured = atomic_fetch_add(&r->taken, 1) < r->budget;
	}
	if (measured && now > s->t_last)
		s->t_last = now;
	if (k != K_OK) {
		s->errors++;
		s->kind[k]++;
		if (k == K_STATUS && status >= 0 && status < 600)
			s->status[status]++;
		return;
	}
	if (!measured)
		return;
	s->ok++;
	s->bytes += c->head ? 0 : (c->blen > 0 ? c->blen : c->body_rx);
	hist_add(&s->lat, (uint64_t)(now - c->t0));
}

/*
 * conn_fail(c, k, err, detail): c's socket failed (connect, reset, timeout, bad response).
 * Closes it; the request in flight is resent once if it hit the keep-alive race, else counted
 * as an error and the connection reopened after a back-off, or, after --retries failures in a
 * row, loadgen gives up.
 */
static void
conn_fail(struct conn *c, enum kind k, int err, const char *detail)
{
	struct worker *w = c->w;
	struct run *r = w->run;
	int64_t now = now_ns(), delay;

	conn_close(c);
	if (!c->busy)
		return;
	if (k == K_RESET && c->served > 0 && c->rx == 0 && !c->retried) {
		/* The server closed a reused connection before it saw the request. */
		c->retried = true;
		w->st.resent++;
		conn_next(c);
		return;
	}
	print_net_error_once(c, kind_name[k], err, detail);
	if (r->phase != PH_IDLE)
		record(c, k, 0, now);
	c->busy = false;
	if (++c->fails > r->o.retries) {
		fatal(r,
		      "connection %" PRIu32 " failed %" PRIu32
		      " times in a row (last: %s%s%s%s%s); giving up",
		      c->id, c->fails, kind_name[k], err ? ": " : "", err ? strerror(err) : "",
		      detail ? ": " : "", detail ? detail : "");
		return;
	}
	delay = LG_BACKOFF_NS << (c->fails - 1 < 8 ? c->fails - 1 : 8);
	c->wake = now + (delay < LG_MAX_BACKOFF ? delay : LG_MAX_BACKOFF);
	c->backoff = true;
}

/* io_recv / io_send: recv() and sendmsg() of the two pieces, through TLS on an https
 * connection (flags other than MSG_DONTWAIT do not apply there: a TLS body must be
 * decrypted to be dropped).  -1 with errno EAGAIN when the socket must be ready first. */
static ssize_t
io_recv(struct conn *c, void *buf, size_t n, int flags)
{
	size_t got = 0;
	int r;

	if (c->ssl == NULL)
		return recv(c->fd, buf, n, flags);
	ERR_clear_error();
	if ((r = SSL_read_ex(c->ssl, buf, n, &got)) == 1)
		return (ssize_t)got;
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	case SSL_ERROR_ZERO_RETURN:
		return 0;
	default:
		ERR_clear_error();
		errno = ECONNRESET;
		return -1;
	}
}

static ssize_t
io_send(struct conn *c, const struct msghdr *mh)
{
	size_t done = 0;
	int r;

	if (c->ssl == NULL)
		return sendmsg(c->fd, mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	/* The first piece only: the head is written before the body (SSL_write has no
	 * iovec form), with partial writes on so a large body goes as far as it can. */
	ERR_clear_error();
	if ((r = SSL_write_ex(c->ssl, mh->msg_iov[0].iov_base, mh->msg_iov[0].iov_len, &done)) == 1)
		return (ssize_t)done;
	switch (SSL_get_error(c->ssl, r)) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		errno = EAGAIN;
		return -1;
	default:
		ERR_clear_error();
		errno = EPIPE;
		return -1;
	}
}

/* conn_handshake(c): drive c's TLS handshake; once done, send its request. */
static void
conn_handshake(struct conn *c)
{
	int r, e;

	ERR_clear_error();
	if ((r = SSL_do_handshake(c->ssl)) == 1) {
		c->handshaking = false;
		conn_send(c);
		return;
	}
	e = SSL_get_error(c->ssl, r);
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
		return;
	{
		char buf[200];
		unsigned long le = ERR_peek_error();

		if (le != 0)
			ERR_error_string_n(le, buf, sizeof(buf));
		else
			snprintf(buf, sizeof(buf), "connection closed");
		ERR_clear_error();
		conn_fail(c, K_CONNECT, 0, buf);
	}
}

/* conn_connected(c): the TCP connection is up: handshake (https) or send. */
static void
conn_connected(struct conn *c)
{
	struct run *r = c->w->run;

	if (r->tls == NULL) {
		conn_send(c);
		return;
	}
	if ((c->ssl = SSL_new(r->tls)) == NULL || SSL_set_fd(c->ssl, c->fd) != 1 ||
	    SSL_set_tlsext_host_name(c->ssl, r->o.host) != 1 ||
	    (r->o.cacert != NULL && SSL_set1_host(c->ssl, r->o.host) != 1)) {
		ERR_clear_error();
		conn_fail(c, K_CONNECT, ENOMEM, "TLS set-up");
		return;
	}
	SSL_set_connect_state(c->ssl);
	c->handshaking = true;
	conn_handshake(c);
}

static void
conn_connect(struct conn *c)
{
	struct worker *w = c->w;
	struct run *r = w->run;
	struct epoll_event ev;
	int one = 1, fd;

	fd = socket(r->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		conn_fail(c, K_CONNECT, errno, "socket");
		return;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->gen++;
	c->served = 0;
	w->st.connects++;
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.u64 = (uint64_t)c->idx << 32 | c->gen;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
		conn_fail(c, K_CONNECT, errno, "epoll_ctl");
		return;
	}
	if (connect(fd, (const struct sockaddr *)&r->addr, r->addrlen) == 0) {
		conn_connected(c);
		return;
	}
	if (errno != EINPROGRESS) {
		conn_fail(c, K_CONNECT, errno, NULL);
		return;
	}
	c->connecting = true;
}

/* conn_start(c): send c's request (c->hdr, c->blen) from its first byte, connecting first if
 * c has no socket. */
static void
conn_start(struct conn *c)
{
	c->seq++;
	c->sent = 0;
	c->t0 = 0;
	c->rx = 0;
	c->msg_done = false;
	http_parser_init(&c->hp, HTTP_RESPONSE);
	c->hp.data = c;
	if (c->fd < 0)
		conn_connect(c);
	else if (!c->handshaking)
		conn_send(c);
}

/* conn_wants(c, now, token): whether c issues another request in this phase. */
static bool
conn_wants(struct conn *c, int64_t now, bool *token)
{
	struct run *r = c->w->run;

	*token = false;
	if (atomic_load(&r->fatal))
		return false;
	switch (r->phase) {
	case PH_IDLE:
		return c->idle;
	case PH_PREPARE:
		return !c->idle && c->next_i < r->o.keys;
	case PH_MAIN:
		if (c->idle || now >= r->end)
			return false;
		if (r->budget == 0 || now < r->warm_end)
			return true;
		*token = true;
		return atomic_fetch_add(&r->taken, 1) < r->budget;
	default:
		return false;
	}
}

/* conn_next(c): issue c's next request, or mark c done with this phase. */
static void
conn_next(struct conn *c)
{
	struct worker *w = c->w;
	struct run *r = w->run;
	int64_t now = now_ns();
	enum method m;
	bool token;

	if (c->busy) { /* a resend after the keep-alive race: same request, new socket */
		c->deadline = now + r->timeout_ns;
		conn_start(c);
		return;
	}
	if (!conn_wants(c, now, &token)) {
		c->done = true;
		w->active--;
		return;
	}
	c->busy = true;
	c->token = token;
	c->retried = false;
	c->key_i = r->phase == PH_PREPARE ? c->next_i : c->next_i % r->o.keys;
	c->next_i++;
	if (r->phase == PH_IDLE)
		m = M_HEAD;
	else
		m = r->phase == PH_PREPARE || r->o.put ? M_PUT : M_GET;
	c->deadline = now + r->timeout_ns;
	if (build_request(c, m) != 0) {
		c->busy = false;
		c->done = true;
		w->active--;
		return;
	}
	conn_start(c);
}

static void
conn_send(struct conn *c)
{
	const struct run *r = c->w->run;
	size_t total = c->hlen + c->blen;

	if (c->t0 == 0)
		c->t0 = now_ns();
	while (c->sent < total) {
		struct iovec iov[2];
		struct msghdr mh;
		ssize_t k;

		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = iov;
		if (c->sent < c->hlen) {
			iov[0].iov_base = c->hdr + c->sent;
			iov[0].iov_len = c->hlen - c->sent;
			iov[1].iov_base = r->body;
			iov[1].iov_len = c->blen;
			mh.msg_iovlen = c->blen > 0 ? 2 : 1;
		} else {
			iov[0].iov_base = r->body + (c->sent - c->hlen);
			iov[0].iov_len = total - c->sent;
			mh.msg_iovlen = 1;
		}
		k = io_send(c, &mh);
		if (k < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				return;
			/* The server may have answered and closed (an early 403): read it. */
			conn_recv(c, errno);
			return;
		}
		c->sent += (size_t)k;
	}
}

/* verify_result(c): K_OK or K_VERIFY for a 2xx GET under --verify. */
static enum kind
verify_result(struct conn *c)
{
	struct run *r = c->w->run;
	const char *e = c->verr;

	if (e == NULL && c->body_rx != r->o.size)
		e = "body shorter than --size";
	if (e == NULL)
		return K_OK;
	if (!atomic_exchange(&r->verify_once, true))
		fprintf(stderr,
			"loadgen: --verify: connection %" PRIu32 ", key %" PRIu64 ": %s (%" PRIu64
			" body bytes)\n",
			c->id, c->key_i, e, c->body_rx);
	return K_VERIFY;
}

/* conn_finish(c): c's response is complete. */
static void
conn_finish(struct conn *c)
{
	struct worker *w = c->w;
	struct run *r = w->run;
	int status = c->hp.status_code;
	bool keep = c->sent == c->hlen + c->blen && !c->hp.upgrade &&
		    http_should_keep_alive(&c->hp) != 0;
	enum kind k = K_OK;

	if (r->phase == PH_IDLE)
		k = K_OK; /* any answer will do: the connection is what counts */
	else if (status < 200 || status > 299)
		k = K_STATUS;
	else if (c->vcheck || c->verr != NULL)
		k = verify_result(c);
	if (c->cap_on && k == K_STATUS && !atomic_exchange(&r->http_err_once, true)) {
		size_t off = strlen(method_name(c->hmethod)) + 1;

		fprintf(stderr,
			"loadgen: first error response (connection %" PRIu32
			", %s %.*s):\n%.*s%s\n",
			c->id, method_name(c->hmethod), (int)strcspn(c->hdr + off, " "),
			c->hdr + off, (int)c->cap_len, c->cap,
			c->cap_len == LG_CAPTURE ? "\n[... truncated]" : "");
	}
	c->cap_on = false;
	if (r->phase != PH_IDLE)
		record(c, k, status, now_ns());
	c->busy = false;
	c->fails = 0;
	c->served++;
	if (!keep)
		conn_close(c);
	if (r->phase == PH_IDLE) {
		c->done = true;
		w->active--;
		return;
	}
	conn_next(c);
}

static void
conn_recv(struct conn *c, int send_err)
{
	struct worker *w = c->w;

	for (;;) {
		size_t p, want = LG_SCRATCH;
		ssize_t k;

		/* With the head parsed, only a body to drop can remain: MSG_TRUNC discards it in
		 * the kernel (tcp(7)), never past its end, and never more than scratch holds. */
		if (c->msg_done && c->skip < want)
			want = (size_t)c->skip;
		k = io_recv(c, w->scratch, want, c->msg_done ? MSG_TRUNC : 0);
		if (k > 0) {
			c->rx += (uint64_t)k;
			if (c->msg_done) {
				c->skip -= (uint64_t)k;
				c->body_rx += (uint64_t)k;
				if (c->skip == 0) {
					conn_finish(c);
					return;
				}
				continue;
			}
			p = http_parser_execute(&c->hp, &parser_settings, (const char *)w->scratch,
						(size_t)k);
			if (c->msg_done) {
				size_t take =
					(size_t)k - p < c->skip ? (size_t)k - p : (size_t)c->skip;

				c->skip -= take;
				c->body_rx += take;
				if (p + take != (size_t)k) {
					conn_fail(c, K_PROTOCOL, 0, "bytes after the response");
					return;
				}
				if (c->skip == 0) {
					conn_finish(c);
					return;
				}
				continue;
			}
			if (HTTP_PARSER_ERRNO(&c->hp) != HPE_OK) {
				conn_fail(c, K_PROTOCOL, 0,
					  http_errno_description(HTTP_PARSER_ERRNO(&c->hp)));
				return;
			}
			continue;
		}
		if (k == 0) {
			if (c->rx > 0 && !c->msg_done)
				(void)http_parser_execute(&c->hp, &parser_settings, NULL, 0);
			if (c->msg_done && c->skip == 0) {
				c->hp.flags |= F_CONNECTION_CLOSE;
				conn_finish(c);
				return;
			}
			conn_fail(c, K_RESET, send_err,
				  c->rx > 0 ? "connection closed mid-response"
					    : "connection closed before the response");
			return;
		}
		if (errno == EINTR)
			continue;
		if ((errno == EAGAIN || errno == EWOULDBLOCK) && send_err == 0)
			return;
		conn_fail(c, K_RESET, errno == EAGAIN || errno == EWOULDBLOCK ? send_err : errno,
			  NULL);
		return;
	}
}

/* conn_quiet(c, events): an event on a connection with no request in flight: the server
 * closed it, or sent something unasked; either way it is closed. */
static void
conn_quiet(struct conn *c, uint32_t events)
{
	struct worker *w = c->w;
	ssize_t k;

	if (!(events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
		return;
	k = io_recv(c, w->scratch, LG_SCRATCH, MSG_DONTWAIT);
	if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return;
	conn_close(c);
}

static void
conn_event(struct worker *w, uint64_t tag, uint32_t events)
{
	uint32_t idx = (uint32_t)(tag >> 32), gen = (uint32_t)tag;
	struct conn *c;
	uint64_t seq;

	if (idx >= w->nconns)
		return;
	c = &w->conns[idx];
	if (c->fd < 0 || c->gen != gen)
		return; /* an event for a socket closed earlier in this batch */
	if (c->connecting) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		if (err == 0 && (events & (EPOLLERR | EPOLLHUP)))
			err = ECONNRESET;
		if (err != 0) {
			conn_fail(c, K_CONNECT, err, NULL);
			return;
		}
		c->connecting = false;
		conn_connected(c);
		return;
	}
	if (c->handshaking) {
		conn_handshake(c);
		return;
	}
	if (!c->busy) {
		conn_quiet(c, events);
		return;
	}
	seq = c->seq;
	/* TLS: a write may have waited for a read (a record the session had to take
	 * first), which no new EPOLLOUT edge reports: retry it on any event. */
	if ((events & EPOLLOUT || c->ssl != NULL) && c->sent < c->hlen + c->blen) {
		conn_send(c);
		if (c->seq != seq || c->gen != gen || !c->busy)
			return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
		conn_recv(c, 0);
}

/* ---- response parsing (http_parser callbacks) ------------------------------------------------ */

enum { CB_NONE, CB_STATUS, CB_FIELD, CB_VALUE };

static void
cap_add(struct conn *c, const char *p, size_t n)
{
	if (!c->cap_on)
		return;
	if (n > LG_CAPTURE - c->cap_len)
		n = LG_CAPTURE - c->cap_len;
	memcpy(c->cap + c->cap_len, p, n);
	c->cap_len += n;
}

static int
on_message_begin(http_parser *p)
{
	struct conn *c = p->data;

	c->body_rx = 0;
	c->skip = 0;
	c->verr = NULL;
	c->vcheck = false;
	c->last_cb = CB_NONE;
	c->cap_len = 0;
	c->cap_on = false;
	return 0;
}

static int
on_status(http_parser *p, const char *at, size_t n)
{
	struct conn *c = p->data;
	struct run *r = c->w->run;

	/* Keep the response for printing while no error response has been printed yet. */
	if (c->last_cb == CB_NONE && p->status_code > 299 && r->phase != PH_IDLE &&
	    !atomic_load(&r->http_err_once)) {
		if (c->cap == NULL)
			c->cap = malloc(LG_CAPTURE);
		if (c->cap != NULL) {
			char line[32];
			int k = snprintf(line, sizeof(line), "HTTP/%u.%u %u ", p->http_major,
					 p->http_minor, p->status_code);

			c->cap_on = true;
			cap_add(c, line, (size_t)k);
		}
	}
	c->last_cb = CB_STATUS;
	cap_add(c, at, n);
	return 0;
}

static int
on_header_field(http_parser *p, const char *at, size_t n)
{
	struct conn *c = p->data;

	if (c->last_cb != CB_FIELD)
		cap_add(c, "\r\n", 2);
	c->last_cb = CB_FIELD;
	cap_add(c, at, n);
	return 0;
}

static int
on_header_value(http_parser *p, const char *at, size_t n)
{
	struct conn *c = p->data;

	if (c->last_cb != CB_VALUE)
		cap_add(c, ": ", 2);
	c->last_cb = CB_VALUE;
	cap_add(c, at, n);
	return 0;
}

static int
on_headers_complete(http_parser *p)
{
	struct conn *c = p->data;
	struct run *r = c->w->run;

	cap_add(c, "\r\n\r\n", 4);
	if (r->o.verify && r->phase == PH_MAIN && !c->head && p->status_code >= 200 &&
	    p->status_code <= 299) {
		c->vcheck = true;
		if ((p->flags & F_CONTENTLENGTH) && p->content_length != r->o.size) {
			c->verr = "Content-Length differs from --size";
			c->vcheck = false;
		}
	}
	/* No body after HEAD, 1xx, 204 or 304, whatever the headers announce (RFC 9112 6.3);
	 * http_parser would otherwise wait for a Content-Length's worth of bytes. */
	if (c->head || p->status_code < 200 || p->status_code == 204 || p->status_code == 304)
		return 1;
	/* A body nobody looks at is dropped in the kernel, uncopied (see conn_recv()): the
	 * parser takes it as bodiless and c->skip counts the bytes that follow. */
	if (!c->vcheck && !c->cap_on && (p->flags & F_CONTENTLENGTH) && p->content_length > 0 &&
	    p->content_length != ULLONG_MAX) {
		c->skip = p->content_length;
		return 1;
	}
	return 0;
}

static int
on_body(http_parser *p, const char *at, size_t n)
{
	struct conn *c = p->data;
	struct run *r = c->w->run;

	if (c->vcheck) {
		if (n > r->o.size - c->body_rx) {
			c->verr = "body longer than --size";
			c->vcheck = false;
		} else if (memcmp(at, r->body + c->body_rx, n) != 0) {
			c->verr = "body differs from what loadgen PUTs";
			c->vcheck = false;
		}
	}
	c->body_rx += n;
	cap_add(c, at, n);
	return 0;
}

static int
on_message_complete(http_parser *p)
{
	struct conn *c = p->data;

	if (p->status_code >= 100 && p->status_code <= 199 && p->status_code != 101)
		return 0; /* an interim response: the real one follows */
	c->msg_done = true;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings parser_settings = {
	.on_message_begin = on_message_begin,
	.on_status = on_status,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

/* ---- the event loop ------------------------------------------------------------------------ */

static bool
participates(const struct run *r, const struct conn *c)
{
	return r->phase == PH_IDLE ? c->idle : !c->idle;
}

/* scan(w, now): time out late requests, reopen connections whose back-off has passed. */
static void
scan(struct worker *w, int64_t now)
{
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];

		if (c->busy && now >= c->deadline)
			conn_fail(c, K_TIMEOUT, 0, "no complete response within --timeout");
		else if (c->backoff && now >= c->wake) {
			c->backoff = false;
			conn_next(c);
		}
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct run *r = w->run;
	struct epoll_event ev[LG_EVENTS];
	int64_t next_scan = now_ns() + LG_SCAN_NS;

	memset(&w->st, 0, sizeof(w->st));
	w->active = 0;
	for (uint32_t i = 0; i < w->nconns; i++) {
		struct conn *c = &w->conns[i];

		if (!participates(r, c))
			continue;
		c->done = c->backoff = false;
		c->next_i = 0;
		c->fails = 0;
		w->active++;
	}
	for (uint32_t i = 0; i < w->nconns; i++)
		if (participates(r, &w->conns[i]))
			conn_next(&w->conns[i]);
	while (w->active > 0 && !atomic_load(&r->fatal)) {
		int64_t now = now_ns(), until = next_scan < r->end ? next_scan : r->end;
		int n, tmo;

		if (now >= r->end)
			break;
		tmo = until > now ? (int)((until - now + NS_PER_MS - 1) / NS_PER_MS) : 0;
		n = epoll_wait(w->ep, ev, LG_EVENTS, tmo);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			fatal(r, "epoll_wait: %s", strerror(errno));
			break;
		}
		for (int i = 0; i < n; i++)
			conn_event(w, ev[i].data.u64, ev[i].events);
		now = now_ns();
		if (now >= next_scan) {
			scan(w, now);
			next_scan = now + LG_SCAN_NS;
		}
	}
	return NULL;
}

/* run_phase(r, ws, ph, start, arg): run phase ph on every worker thread and wait for them;
 * returns -1 if a thread could not be started.  With start != NULL, calls start(arg) from
 * this thread when the warm-up ends (to sample CPU times at the window's start). */
static int
run_phase(struct run *r, struct worker *ws, enum phase ph, void (*start)(void *), void *arg)
{
	uint32_t t, started = 0;
	int rc = 0;

	r->phase = ph;
	for (t = 0; t < r->o.threads; t++) {
		if (pthread_create(&ws[t].tid, NULL, worker_main, &ws[t]) != 0) {
			fatal(r, "cannot start a thread");
			rc = -1;
			break;
		}
		started++;
	}
	if (start != NULL) {
		struct timespec ts = {(time_t)(r->warm_end / NS_PER_S),
				      (long)(r->warm_end % NS_PER_S)};

		while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
			;
		start(arg);
	}
	for (t = 0; t < started; t++)
		pthread_join(ws[t].tid, NULL);
	return rc;
}

static void
merge(struct stats *into, const struct worker *ws, uint32_t n)
{
	memset(into, 0, sizeof(*into));
	for (uint32_t t = 0; t < n; t++) {
		const struct stats *s = &ws[t].st;

		into->ok += s->ok;
		into->errors += s->errors;
		into->bytes += s->bytes;
		into->connects += s->connects;
		into->resent += s->resent;
		if (s->t_last > into->t_last)
			into->t_last = s->t_last;
		for (size_t i = 0; i < 600; i++)
			into->status[i] += s->status[i];
		for (size_t i = 0; i < K_N; i++)
			into->kind[i] += s->kind[i];
		hist_merge(&into->lat, &s->lat);
	}
}

/* ---- CPU time ------------------------------------------------------------------------------ */

/* proc_stat(pid, ppid, ticks): the parent of pid and its utime + stime + cutime + cstime in
 * clock ticks (all its threads, and the children it has reaped).  Returns 0 or -1. */
static int
proc_stat(long pid, long *ppid, unsigned long long *ticks)
{
	char path[64], buf[4096], *p;
	unsigned long long ut, st;
	long long cut, cst;
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and ')': fields count from the last ')'. */
	if ((p = strrchr(buf, ')')) == NULL)
		return -1;
	/* Fields 3 (state) and 4 (ppid) follow; utime .. cstime are fields 14 to 17. */
	if (sscanf(p + 1, " %*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld", ppid,
		   &ut, &st, &cut, &cst) != 5 ||
	    cut < 0 || cst < 0)
		return -1;
	*ticks = ut + st + (unsigned long long)cut + (unsigned long long)cst;
	return 0;
}

/*
 * proc_cpu(root): CPU seconds of process root and of its live descendants (nginx does its
 * work in worker processes), or -1 if root is gone.  Each process counts the children it has
 * reaped (cutime, cstime) and none that are alive, so nothing is counted twice.
 */
static double
proc_cpu(long root)
{
	struct pst {
		long pid, ppid;
		unsigned long long ticks;
		bool in;
	} *v = NULL, *nv;
	size_t n = 0, cap = 0;
	unsigned long long total = 0;
	bool found = false, grew = true;
	struct dirent *e;
	DIR *d;

	if ((d = opendir("/proc")) == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (pid <= 0 || *end != '\0')
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 256;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL)
				break;
			v = nv;
		}
		if (proc_stat(pid, &v[n].ppid, &v[n].ticks) != 0)
			continue; /* exited meanwhile */
		v[n].pid = pid;
		v[n].in = pid == root;
		found |= v[n].in;
		n++;
	}
	closedir(d);
	while (found && grew) {
		grew = false;
		for (size_t i = 0; i < n; i++)
			for (size_t j = 0; !v[i].in && j < n; j++)
				if (v[j].in && v[j].pid == v[i].ppid)
					v[i].in = grew = true;
	}
	for (size_t i = 0; i < n; i++)
		if (v[i].in)
			total += v[i].ticks;
	free(v);
	return found ? (double)total / (double)sysconf(_SC_CLK_TCK) : -1;
}

static double
self_cpu(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

struct cpu_mark {
	long pid;
	double self, server;
};

static void
cpu_mark(void *arg)
{
	struct cpu_mark *m = arg;

	m->self = self_cpu();
	m->server = m->pid > 0 ? proc_cpu(m->pid) : -1;
}

/* ---- options ------------------------------------------------------------------------------- */

static const char usage_text[] =
	"usage: loadgen --url http[s]://HOST[:PORT] [options]\n"
	"\n"
	"A lean HTTP/1.1 load generator: PUTs or GETs objects over persistent connections\n"
	"(non-blocking sockets, epoll) against cryptstored (S3, SigV4) or a plain HTTP\n"
	"server (nginx WebDAV), and reports throughput, latency and CPU time.\n"
	"\n"
	"Target:\n"
	"  --url URL           http://HOST[:PORT] or https://HOST[:PORT] (required; no path)\n"
	"  --cacert FILE       https: verify the server's certificate against these CAs\n"
	"                      (without it the server is not verified)\n"
	"  --cert F --key K    https: present this client certificate (mutual TLS)\n"
	"  --mode s3|http      s3 (default): path-style /BUCKET/KEY, SigV4 header auth;\n"
	"                      http: /KEY, no auth (nginx WebDAV PUT/GET)\n"
	"  --bucket B          the bucket (s3 mode, required there)\n"
	"  --access-key ID     access key id (default $AWS_ACCESS_KEY_ID)\n"
	"  --secret S          secret key (default $AWS_SECRET_ACCESS_KEY, which is better:\n"
	"                      a command line is public)\n"
	"  --region R          signing region (default us-east-1)\n"
	"  --unsigned-payload  sign PUT bodies as UNSIGNED-PAYLOAD instead of with their\n"
	"                      SHA-256 (computed once: every PUT sends the same bytes)\n"
	"\n"
	"Workload:\n"
	"  --op put|get        default put; GET objects must exist (see --prepare)\n"
	"  --prepare           with --op get: first PUT every key once (not measured)\n"
	"  --prefix P          key prefix (default \"loadgen-\"); request i on connection c\n"
	"                      uses key P<c>-<i mod K>\n"
	"  --keys K            distinct keys per connection (default 1: PUTs overwrite)\n"
	"  --size BYTES        object size, suffixes k M G (2^10 2^20 2^30); default 16M,\n"
	"                      at most 5G\n"
	"  --conns N           concurrent busy connections (default 1)\n"
	"  --idle M            extra connections that send one HEAD of a missing key and\n"
	"                      then stay open and idle to the end (default 0)\n"
	"  --threads T         event-loop threads (default 1)\n"
	"\n"
	"Length (at most one of the three; default --requests N = --conns):\n"
	"  --requests R        measure R requests\n"
	"  --total BYTES       measure ceil(BYTES / size) requests (suffixes as --size)\n"
	"  --duration S        measure S seconds (after the warm-up); requests still in\n"
	"                      flight at the end are dropped\n"
	"  --warmup S          run S seconds before measuring; requests that complete in\n"
	"                      them are not counted (their errors are)\n"
	"  --timeout S         seconds one request may take, connect included (default 60)\n"
	"  --retries N         failures in a row (connect, reset, timeout) one connection\n"
	"                      may have before loadgen gives up with exit 1 (default 3)\n"
	"\n"
	"Measurement and output:\n"
	"  --server-pid PID    sample the server's CPU time (/proc/PID/stat: all its threads\n"
	"                      and child processes, e.g. nginx workers) over the measured\n"
	"                      window; report seconds per GB moved\n"
	"  --verify            with --op get: each body must be exactly the --size bytes\n"
	"                      loadgen PUTs (a fixed pattern; compared byte for byte)\n"
	"  --json              print one JSON object on stdout instead of the table\n"
	"  --help              this text\n"
	"\n"
	"Reported: requests ok, errors by HTTP status or kind (connect, reset, timeout,\n"
	"protocol, verify), body bytes of the measured successful requests, elapsed seconds\n"
	"of the measured window, MB/s (10^6 bytes), requests/s, latency p50/p90/p99/max in\n"
	"ms (first byte sent to last byte received), loadgen's CPU seconds, and with\n"
	"--server-pid the server's CPU seconds and seconds per GB (10^9 bytes).\n"
	"The first error response is printed to stderr once.\n"
	"\n"
	"Examples:\n"
	"  AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... loadgen --url http://127.0.0.1:9000 \\\n"
	"      --bucket level-s1 --conns 100 --size 16M --server-pid $(pidof cryptstored)\n"
	"  loadgen --url http://127.0.0.1:8080 --mode http --op get --prepare --conns 10 \\\n"
	"      --duration 10 --warmup 2 --verify\n"
	"\n"
	"Exit status: 0 every request succeeded; 1 a request failed, a connection kept\n"
	"failing, or loadgen could not run; 2 bad usage.\n";

static void
usage(FILE *f)
{
	fputs(usage_text, f);
}

static void usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void
usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("loadgen: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\n(see loadgen --help)\n", stderr);
	exit(2);
}

/* parse_num(opt, s, min, max, suffixes): a decimal integer in [min, max], optionally with a
 * k/M/G/T (binary) suffix, followed by nothing or "B"/"iB". */
static uint64_t
parse_num(const char *opt, const char *s, uint64_t min, uint64_t max, bool suffixes)
{
	uint64_t v = 0;
	unsigned shift = 0;
	const char *p = s;

	if (*p < '0' || *p > '9')
		goto bad;
	for (; *p >= '0' && *p <= '9'; p++) {
		if (v > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			goto bad;
		v = v * 10 + (uint64_t)(*p - '0');
	}
	if (suffixes && *p != '\0') {
		switch (*p) {
		case 'k':
		case 'K':
			shift = 10;
			break;
		case 'm':
		case 'M':
			shift = 20;
			break;
		case 'g':
		case 'G':
			shift = 30;
			break;
		case 't':
		case 'T':
			shift = 40;
			break;
		default:
			goto bad;
		}
		p++;
		if (strcmp(p, "i") == 0 || strcmp(p, "iB") == 0 || strcmp(p, "B") == 0)
			p += strlen(p);
		if (v > (UINT64_MAX >> shift))
			goto bad;
		v <<= shift;
	}
	if (*p != '\0' || v < min || v > max)
		goto bad;
	return v;
bad:
	usage_error("%s: expected %s %" PRIu64 "..%" PRIu64 ", got '%s'", opt,
		    suffixes ? "a byte count (suffixes k, M, G)" : "an integer", min, max, s);
}

static double
parse_secs(const char *opt, const char *s, double min, bool min_ok, double max)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v <= max) || v < min ||
	    (!min_ok && v == min))
		usage_error("%s: expected seconds %s %g and <= %g, got '%s'", opt,
			    min_ok ? ">=" : ">", min, max, s);
	return v;
}

/* tls_setup(r): the client context of an https run. */
static int
tls_setup(struct run *r)
{
	const struct opts *o = &r->o;
	unsigned long e;
	char buf[256];

	if ((r->tls = SSL_CTX_new(TLS_client_method())) == NULL)
		goto err;
	SSL_CTX_set_options(r->tls, SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(r->tls,
			 SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (o->cacert != NULL) {
		if (SSL_CTX_load_verify_locations(r->tls, o->cacert, NULL) != 1)
			goto err;
		SSL_CTX_set_verify(r->tls, SSL_VERIFY_PEER, NULL);
	}
	if (o->cert != NULL &&
	    (SSL_CTX_use_certificate_chain_file(r->tls, o->cert) != 1 ||
	     SSL_CTX_use_PrivateKey_file(r->tls, o->certkey, SSL_FILETYPE_PEM) != 1))
		goto err;
	return 0;
err:
	e = ERR_get_error();
	ERR_error_string_n(e, buf, sizeof(buf));
	fprintf(stderr, "loadgen: TLS set-up: %s\n", e != 0 ? buf : "out of memory");
	return -1;
}

static void
parse_url(struct opts *o, const char *url)
{
	const char *a, *slash, *colon, *h = NULL, *pt = NULL;
	size_t alen, hlen = 0;

	o->tls = strncasecmp(url, "https://", 8) == 0;
	if (!o->tls && strncasecmp(url, "http://", 7) != 0)
		usage_error("--url: expected http://HOST[:PORT] or https://HOST[:PORT], got '%s'",
			    url);
	a = url + (o->tls ? 8 : 7);
	slash = strchr(a, '/');
	if (slash != NULL && strcmp(slash, "/") != 0)
		usage_error("--url: no path allowed, the path comes from --bucket and --prefix");
	alen = slash != NULL ? (size_t)(slash - a) : strlen(a);
	if (alen == 0 || alen >= sizeof(o->authority))
		usage_error("--url: bad host in '%s'", url);
	memcpy(o->authority, a, alen);
	o->authority[alen] = '\0';
	for (size_t i = 0; i < alen; i++)
		if (a[i] <= ' ' || a[i] == 0x7f || a[i] == '@' || a[i] == '?' || a[i] == '#')
			usage_error("--url: bad character in '%s'", url);
	if (o->authority[0] == '[') {
		const char *rb = strchr(o->authority, ']');

		if (rb == NULL || (rb[1] != '\0' && rb[1] != ':'))
			usage_error("--url: bad IPv6 literal in '%s'", url);
		h = o->authority + 1;
		hlen = (size_t)(rb - h);
		pt = rb[1] == ':' ? rb + 2 : NULL;
	} else {
		colon = strchr(o->authority, ':');
		h = o->authority;
		hlen = colon != NULL ? (size_t)(colon - h) : alen;
		pt = colon != NULL ? colon + 1 : NULL;
	}
	if (hlen == 0 || hlen >= sizeof(o->host))
		usage_error("--url: bad host in '%s'", url);
	memcpy(o->host, h, hlen);
	o->host[hlen] = '\0';
	if (pt == NULL)
		snprintf(o->port, sizeof(o->port), "%s", o->tls ? "443" : "80");
	else
		snprintf(o->port, sizeof(o->port), "%" PRIu64,
			 parse_num("--url port", pt, 1, 65535, false));
	o->url = url;
}

static bool
token_ok(const char *s, size_t max, const char *extra)
{
	size_t n = strlen(s);

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || strchr(extra, ch) != NULL))
			return false;
	}
	return true;
}

static void
parse_opts(struct opts *o, int argc, char **argv, char **secret_arg)
{
	enum {
		O_URL = 256,
		O_MODE,
		O_BUCKET,
		O_AKID,
		O_SECRET,
		O_REGION,
		O_UNSIGNED,
		O_OP,
		O_PREPARE,
		O_PREFIX,
		O_KEYS,
		O_SIZE,
		O_CONNS,
		O_IDLE,
		O_THREADS,
		O_REQUESTS,
		O_TOTAL,
		O_DURATION,
		O_WARMUP,
		O_TIMEOUT,
		O_RETRIES,
		O_PID,
		O_VERIFY,
		O_JSON,
		O_CACERT,
		O_CERT,
		O_CERTKEY,
		O_HELP
	};
	static const struct option lo[] = {
		{"url", required_argument, NULL, O_URL},
		{"mode", required_argument, NULL, O_MODE},
		{"bucket", required_argument, NULL, O_BUCKET},
		{"access-key", required_argument, NULL, O_AKID},
		{"secret", required_argument, NULL, O_SECRET},
		{"region", required_argument, NULL, O_REGION},
		{"unsigned-payload", no_argument, NULL, O_UNSIGNED},
		{"op", required_argument, NULL, O_OP},
		{"prepare", no_argument, NULL, O_PREPARE},
		{"prefix", required_argument, NULL, O_PREFIX},
		{"keys", required_argument, NULL, O_KEYS},
		{"size", required_argument, NULL, O_SIZE},
		{"conns", required_argument, NULL, O_CONNS},
		{"idle", required_argument, NULL, O_IDLE},
		{"threads", required_argument, NULL, O_THREADS},
		{"requests", required_argument, NULL, O_REQUESTS},
		{"total", required_argument, NULL, O_TOTAL},
		{"duration", required_argument, NULL, O_DURATION},
		{"warmup", required_argument, NULL, O_WARMUP},
		{"timeout", required_argument, NULL, O_TIMEOUT},
		{"retries", required_argument, NULL, O_RETRIES},
		{"server-pid", required_argument, NULL, O_PID},
		{"verify", no_argument, NULL, O_VERIFY},
		{"json", no_argument, NULL, O_JSON},
		{"cacert", required_argument, NULL, O_CACERT},
		{"cert", required_argument, NULL, O_CERT},
		{"key", required_argument, NULL, O_CERTKEY},
		{"help", no_argument, NULL, O_HELP},
		{NULL, 0, NULL, 0},
	};
	const char *url = NULL, *region = "us-east-1";
	bool have_bucket = false;
	int c, lengths = 0;

	memset(o, 0, sizeof(*o));
	o->mode = MODE_S3;
	o->put = true;
	o->prefix = "loadgen-";
	o->keys = 1;
	o->size = 16u << 20;
	o->conns = 1;
	o->threads = 1;
	o->retries = 3;
	o->timeout = 60;
	*secret_arg = NULL;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
		switch (c) {
		case O_URL:
			url = optarg;
			break;
		case O_MODE:
			if (strcmp(optarg, "s3") == 0)
				o->mode = MODE_S3;
			else if (strcmp(optarg, "http") == 0)
				o->mode = MODE_HTTP;
			else
				usage_error("--mode: expected s3 or http, got '%s'", optarg);
			break;
		case O_BUCKET:
			o->bucket = optarg;
			have_bucket = true;
			break;
		case O_AKID:
			o->access_key = optarg;
			break;
		case O_SECRET:
			*secret_arg = optarg;
			break;
		case O_REGION:
			region = optarg;
			break;
		case O_UNSIGNED:
			o->unsigned_payload = true;
			break;
		case O_OP:
			if (strcmp(optarg, "put") == 0)
				o->put = true;
			else if (strcmp(optarg, "get") == 0)
				o->put = false;
			else
				usage_error("--op: expected put or get, got '%s'", optarg);
			break;
		case O_PREPARE:
			o->prepare = true;
			break;
		case O_PREFIX:
			o->prefix = optarg;
			break;
		case O_KEYS:
			o->keys = parse_num("--keys", optarg, 1, 1000000000, false);
			break;
		case O_SIZE:
			o->size = parse_num("--size", optarg, 0, LG_MAX_SIZE, true);
			break;
		case O_CONNS:
			o->conns = (uint32_t)parse_num("--conns", optarg, 1, LG_MAX_CONNS, false);
			break;
		case O_IDLE:
			o->idle = (uint32_t)parse_num("--idle", optarg, 0, LG_MAX_CONNS, false);
			break;
		case O_THREADS:
			o->threads =
				(uint32_t)parse_num("--threads", optarg, 1, LG_MAX_THREADS, false);
			break;
		case O_REQUESTS:
			o->requests = parse_num("--requests", optarg, 1, UINT64_MAX >> 2, false);
			lengths++;
			break;
		case O_TOTAL:
			o->total = parse_num("--total", optarg, 1, UINT64_MAX >> 2, true);
			lengths++;
			break;
		case O_DURATION:
			o->duration = parse_secs("--duration", optarg, 0, false, 1e6);
			lengths++;
			break;
		case O_WARMUP:
			o->warmup = parse_secs("--warmup", optarg, 0, true, 1e6);
			break;
		case O_TIMEOUT:
			o->timeout = parse_secs("--timeout", optarg, 0, false, 1e6);
			break;
		case O_RETRIES:
			o->retries = (uint32_t)parse_num("--retries", optarg, 0, 1000, false);
			break;
		case O_PID:
			o->server_pid = (long)parse_num("--server-pid", optarg, 1, INT_MAX, false);
			break;
		case O_VERIFY:
			o->verify = true;
			break;
		case O_JSON:
			o->json = true;
			break;
		case O_CACERT:
			o->cacert = optarg;
			break;
		case O_CERT:
			o->cert = optarg;
			break;
		case O_CERTKEY:
			o->certkey = optarg;
			break;
		case O_HELP:
			usage(stdout);
			exit(0);
		case '?':
			if (optopt != 0)
				usage_error("option '%s' needs a value", argv[optind - 1]);
			usage_error("unknown option '%s'", argv[optind - 1]);
		default:
			usage_error("bad command line");
		}
	}
	if (optind < argc)
		usage_error("unexpected argument '%s'", argv[optind]);
	if (url == NULL)
		usage_error("--url is required");
	parse_url(o, url);
	if (!o->tls && (o->cacert != NULL || o->cert != NULL || o->certkey != NULL))
		usage_error("--cacert, --cert and --key go with an https:// --url");
	if ((o->cert == NULL) != (o->certkey == NULL))
		usage_error("--cert and --key go together");
	if (lengths > 1)
		usage_error("give at most one of --requests, --total and --duration");
	if (o->total > 0) {
		if (o->size == 0)
			usage_error("--total needs a --size above 0");
		o->requests = (o->total + o->size - 1) / o->size;
	}
	if (lengths == 0)
		o->requests = o->conns;
	if (o->prepare && o->put)
		usage_error("--prepare goes with --op get (PUTs need no objects)");
	if (o->verify && o->put)
		usage_error("--verify goes with --op get");
	if (strlen(o->prefix) > LG_MAX_PREFIX)
		usage_error("--prefix: at most %d bytes", LG_MAX_PREFIX);
	if (o->threads > o->conns + o->idle)
		o->threads = o->conns + o->idle;
	if (o->mode == MODE_HTTP) {
		if (have_bucket)
			usage_error(
				"--bucket is for --mode s3; in http mode put the path in --prefix");
		if (o->unsigned_payload)
			usage_error("--unsigned-payload is for --mode s3");
		return;
	}
	if (o->bucket == NULL)
		usage_error("--bucket is required in s3 mode");
	if (!token_ok(o->bucket, LG_MAX_BUCKET, "-._"))
		usage_error("--bucket: expected 1..%d of [A-Za-z0-9._-], got '%s'", LG_MAX_BUCKET,
			    o->bucket);
	if (!token_ok(region, SIGV4_MAX_REGION, "-_"))
		usage_error("--region: expected 1..%d of [A-Za-z0-9_-], got '%s'", SIGV4_MAX_REGION,
			    region);
	snprintf(o->region, sizeof(o->region), "%s", region);
	if (o->access_key == NULL)
		o->access_key = getenv("AWS_ACCESS_KEY_ID");
	if (o->access_key == NULL)
		usage_error("s3 mode needs --access-key or AWS_ACCESS_KEY_ID");
	if (!token_ok(o->access_key, SIGV4_MAX_AKID, "-_.+=~"))
		usage_error("--access-key: expected 1..%d of [A-Za-z0-9._+=~-]", SIGV4_MAX_AKID);
	if (*secret_arg == NULL)
		*secret_arg = getenv("AWS_SECRET_ACCESS_KEY");
	if (*secret_arg == NULL || **secret_arg == '\0')
		usage_error("s3 mode needs --secret or AWS_SECRET_ACCESS_KEY");
	if (strlen(*secret_arg) > SIGV4_MAX_SECRET)
		usage_error("the secret key is longer than %d bytes", SIGV4_MAX_SECRET);
}

/* ---- set-up ---------------------------------------------------------------------------------- */

static int
raise_nofile(rlim_t need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		rl.rlim_max = need; /* works with CAP_SYS_RESOURCE */
		rl.rlim_cur = need;
		if (setrlimit(RLIMIT_NOFILE, &rl) == 0)
			return 0;
		if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
			return -1;
		fprintf(stderr,
			"loadgen: need %llu file descriptors but the hard limit is %llu: raise it "
			"(ulimit -Hn, as root) or lower --conns/--idle\n",
			(unsigned long long)need, (unsigned long long)rl.rlim_max);
		return -1;
	}
	rl.rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

static int
resolve(struct run *r)
{
	struct addrinfo hints, *res = NULL, *ai;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(r->o.host, r->o.port, &hints, &res);
	if (rc != 0 || res == NULL) {
		fprintf(stderr, "loadgen: cannot resolve %s: %s\n", r->o.host, gai_strerror(rc));
		return -1;
	}
	/* Prefer IPv4: "localhost" often lists ::1 first, and servers here listen on 127.0.0.1. */
	for (ai = res; ai != NULL && ai->ai_family != AF_INET; ai = ai->ai_next)
		;
	if (ai == NULL)
		ai = res;
	memcpy(&r->addr, ai->ai_addr, ai->ai_addrlen);
	r->addrlen = ai->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

/* make_body(r): the one body buffer (a fixed xorshift pattern: incompressible, and the same in
 * every run so a later --verify run can check objects an earlier run PUT) and its digests. */
static int
make_body(struct run *r)
{
	const struct opts *o = &r->o;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	uint8_t md[32];
	unsigned int mdlen = 0;
	void *p;

	if (!o->put && !o->prepare && !o->verify)
		return 0; /* plain GETs send no body and check none */
	r->body_cap = ((size_t)o->size + (2u << 20) - 1) / (2u << 20) * (2u << 20);
	if (r->body_cap == 0)
		r->body_cap = 2u << 20;
	if (posix_memalign(&p, 2u << 20, r->body_cap) != 0) {
		fprintf(stderr, "loadgen: cannot allocate %zu bytes for the body\n", r->body_cap);
		return -1;
	}
	(void)madvise(p, r->body_cap, MADV_HUGEPAGE);
	r->body = p;
	for (size_t i = 0; i < r->body_cap; i += 8) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		memcpy(r->body + i, &x, 8);
	}
	snprintf(r->payload_put, sizeof(r->payload_put), "UNSIGNED-PAYLOAD");
	if (o->mode == MODE_S3 && !o->unsigned_payload && (o->put || o->prepare)) {
		if (EVP_Digest(r->body, (size_t)o->size, md, &mdlen, EVP_sha256(), NULL) != 1)
			return -1;
		hex_encode(r->payload_put, md, 32);
	}
	return 0;
}

static int
make_workers(struct run *r, struct worker **out)
{
	const struct opts *o = &r->o;
	uint32_t n = o->threads, all = o->conns + o->idle;
	struct worker *ws = calloc(n, sizeof(*ws));

	*out = ws;
	if (ws == NULL)
		return -1;
	for (uint32_t t = 0; t < n; t++) {
		struct worker *w = &ws[t];
		uint32_t mine = all / n + (t < all % n ? 1 : 0), k = 0;

		w->run = r;
		w->ep = -1;
		if ((w->conns = calloc(mine, sizeof(*w->conns))) == NULL ||
		    (w->scratch = malloc(LG_SCRATCH)) == NULL)
			return -1;
		if ((w->ep = epoll_create1(EPOLL_CLOEXEC)) < 0)
			return -1;
		if (o->mode == MODE_S3 && (w->skey = secmem_alloc(32)) == NULL)
			return -1;
		/* Busy connection c and idle connection c go to thread c mod n. */
		for (uint32_t i = t; i < all; i += n) {
			struct conn *c = &w->conns[k];

			c->w = w;
			c->idx = k++;
			c->fd = -1;
			c->idle = i >= o->conns;
			c->id = c->idle ? i - o->conns : i;
		}
		w->nconns = k;
	}
	return 0;
}

static void
free_workers(struct run *r, struct worker *ws)
{
	if (ws == NULL)
		return;
	for (uint32_t t = 0; t < r->o.threads; t++) {
		struct worker *w = &ws[t];

		for (uint32_t i = 0; w->conns != NULL && i < w->nconns; i++) {
			conn_close(&w->conns[i]);
			free(w->conns[i].cap);
		}
		if (w->ep >= 0)
			close(w->ep);
		free(w->conns);
		free(w->scratch);
		secmem_free(w->skey, 32);
	}
	free(ws);
}

/* idle_open(ws, n): idle connections still open; a server's close shows as EOF. */
static uint32_t
idle_open(struct worker *ws, uint32_t n)
{
	uint32_t open = 0;
	char b;

	for (uint32_t t = 0; t < n; t++)
		for (uint32_t i = 0; i < ws[t].nconns; i++) {
			struct conn *c = &ws[t].conns[i];
			ssize_t k;

			if (!c->idle || c->fd < 0)
				continue;
			k = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
			if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				open++;
		}
	return open;
}

/* ---- report ---------------------------------------------------------------------------------- */

static void
json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

struct result {
	struct stats st;
	double elapsed, self_cpu, server_cpu, prepare_s;
	uint32_t idle_open;
	const char *aborted; /* why the run stopped early, or NULL */
};

static void
report_errors(FILE *f, const struct stats *s, bool json)
{
	bool first = true;

	for (int i = 0; i < 600; i++) {
		if (s->status[i] == 0)
			continue;
		if (json)
			fprintf(f, "%s\"%d\":%" PRIu64, first ? "" : ",", i, s->status[i]);
		else
			fprintf(f, "%s%d: %" PRIu64, first ? "" : ", ", i, s->status[i]);
		first = false;
	}
	for (int k = K_CONNECT; k < K_N; k++) {
		if (s->kind[k] == 0)
			continue;
		if (json)
			fprintf(f, "%s\"%s\":%" PRIu64, first ? "" : ",", kind_name[k], s->kind[k]);
		else
			fprintf(f, "%s%s: %" PRIu64, first ? "" : ", ", kind_name[k], s->kind[k]);
		first = false;
	}
}

static void
report(const struct run *r, const struct result *res)
{
	const struct opts *o = &r->o;
	const struct stats *s = &res->st;
	double el = res->elapsed, gb = (double)s->bytes / 1e9;
	double mbs = el > 0 ? (double)s->bytes / el / 1e6 : 0,
	       rps = el > 0 ? (double)s->ok / el : 0;
	double p50 = (double)hist_pct(&s->lat, 0.50) / 1e6,
	       p90 = (double)hist_pct(&s->lat, 0.90) / 1e6;
	double p99 = (double)hist_pct(&s->lat, 0.99) / 1e6, pmax = (double)s->lat.max / 1e6;
	const char *op = o->put ? "put" : "get";

	if (o->json) {
		printf("{\"tool\":\"loadgen\",\"mode\":\"%s\",\"op\":\"%s\",\"url\":",
		       o->mode == MODE_S3 ? "s3" : "http", op);
		json_str(o->url);
		if (o->mode == MODE_S3) {
			printf(",\"bucket\":");
			json_str(o->bucket);
		}
		printf(",\"prefix\":");
		json_str(o->prefix);
		printf(",\"conns\":%" PRIu32 ",\"idle\":%" PRIu32 ",\"threads\":%" PRIu32
		       ",\"size\":%" PRIu64 ",\"keys\":%" PRIu64 ",\"unsigned_payload\":%s"
		       ",\"warmup_s\":%g,\"duration_s\":%g,\"requests\":%" PRIu64,
		       o->conns, o->idle, o->threads, o->size, o->keys,
		       o->unsigned_payload ? "true" : "false", o->warmup, o->duration,
		       o->duration > 0 ? 0 : o->requests);
		printf(",\"ok\":%" PRIu64 ",\"errors\":%" PRIu64 ",\"errors_by\":{", s->ok,
		       s->errors);
		report_errors(stdout, s, true);
		printf("},\"bytes\":%" PRIu64
		       ",\"elapsed_s\":%.6f,\"mb_per_s\":%.3f,\"req_per_s\":%.3f"
		       ",\"latency_ms\":{\"p50\":%.3f,\"p90\":%.3f,\"p99\":%.3f,\"max\":%.3f}",
		       s->bytes, el, mbs, rps, p50, p90, p99, pmax);
		printf(",\"loadgen_cpu_s\":%.3f,\"loadgen_cpu_s_per_gb\":", res->self_cpu);
		if (gb > 0)
			printf("%.4f", res->self_cpu / gb);
		else
			printf("null");
		if (res->server_cpu >= 0 && gb > 0)
			printf(",\"server_cpu_s\":%.3f,\"server_cpu_s_per_gb\":%.4f",
			       res->server_cpu, res->server_cpu / gb);
		else if (res->server_cpu >= 0)
			printf(",\"server_cpu_s\":%.3f,\"server_cpu_s_per_gb\":null",
			       res->server_cpu);
		else
			printf(",\"server_cpu_s\":null,\"server_cpu_s_per_gb\":null");
		printf(",\"idle_open_at_end\":%" PRIu32 ",\"connects\":%" PRIu64
		       ",\"resent\":%" PRIu64 ",\"prepare_s\":%.3f,\"aborted\":",
		       res->idle_open, s->connects, s->resent, res->prepare_s);
		if (res->aborted != NULL)
			json_str(res->aborted);
		else
			printf("null");
		printf("}\n");
		return;
	}
	printf("loadgen      %s %s %s://%s%s<c>-<i>%s, %" PRIu32 " conns",
	       o->mode == MODE_S3 ? "s3" : "http", o->put ? "PUT" : "GET",
	       o->tls ? "https" : "http", o->authority, r->base,
	       o->tls && o->cacert == NULL ? " (server certificate not verified)" : "", o->conns);
	if (o->idle > 0)
		printf(" (+%" PRIu32 " idle)", o->idle);
	printf(", %" PRIu32 " thread%s, %" PRIu64 "-byte objects, %" PRIu64 " key%s/conn%s\n",
	       o->threads, o->threads == 1 ? "" : "s", o->size, o->keys, o->keys == 1 ? "" : "s",
	       o->unsigned_payload ? ", UNSIGNED-PAYLOAD" : "");
	if (o->prepare)
		printf("prepare      %" PRIu64 " PUTs in %.3f s (not measured)\n",
		       o->keys * o->conns, res->prepare_s);
	printf("requests     %" PRIu64 " ok, %" PRIu64 " errors", s->ok, s->errors);
	if (s->errors > 0) {
		printf(" (");
		report_errors(stdout, s, false);
		printf(")");
	}
	printf("\n");
	printf("bytes        %" PRIu64 " (%.1f MB)\n", s->bytes, (double)s->bytes / 1e6);
	printf("elapsed      %.3f s%s\n", el, o->warmup > 0 ? " (after the warm-up)" : "");
	printf("throughput   %.1f MB/s, %.1f req/s\n", mbs, rps);
	printf("latency ms   p50 %.3f  p90 %.3f  p99 %.3f  max %.3f\n", p50, p90, p99, pmax);
	printf("loadgen CPU  %.3f s", res->self_cpu);
	if (gb > 0)
		printf(" (%.3f s/GB)", res->self_cpu / gb);
	printf("\n");
	if (res->server_cpu >= 0) {
		printf("server CPU   %.3f s", res->server_cpu);
		if (gb > 0)
			printf(" (%.3f s/GB)", res->server_cpu / gb);
		printf("\n");
	}
	if (res->aborted != NULL)
		printf("aborted      %s\n", res->aborted);
	if (o->idle > 0)
		printf("idle conns   %" PRIu32 " of %" PRIu32 " still open at the end\n",
		       res->idle_open, o->idle);
	if (s->resent > 0 || s->connects > o->conns)
		printf("connections  %" PRIu64 " opened, %" PRIu64
		       " requests resent after a keep-alive close\n",
		       s->connects, s->resent);
}

/* ---- main ------------------------------------------------------------------------------------ */

int
main(int argc, char **argv)
{
	struct run *r;
	struct worker *ws = NULL;
	struct result res;
	struct cpu_mark m0, m1;
	char *secret_arg;
	int64_t t0;
	int rc = 1;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return 1;
	parse_opts(&r->o, argc, argv, &secret_arg);
	memset(&res, 0, sizeof(res));
	atomic_init(&r->taken, 0);
	atomic_init(&r->fatal, false);
	atomic_init(&r->fatal_once, false);
	atomic_init(&r->http_err_once, false);
	atomic_init(&r->net_err_once, false);
	atomic_init(&r->verify_once, false);
	r->timeout_ns = (int64_t)(r->o.timeout * 1e9);
	r->end = INT64_MAX;
	signal(SIGPIPE, SIG_IGN);

	if (r->o.server_pid > 0 && proc_cpu(r->o.server_pid) < 0)
		usage_error("--server-pid: cannot read /proc/%ld/stat", r->o.server_pid);
	if (r->o.mode == MODE_S3) {
		size_t n = strlen(secret_arg);

		if (secmem_init(1u << 16) < 0 || (r->secret = secmem_alloc(n)) == NULL) {
			fprintf(stderr, "loadgen: cannot allocate secure memory\n");
			goto out;
		}
		memcpy(r->secret, secret_arg, n);
		r->secret_len = n;
		if (secret_arg != getenv("AWS_SECRET_ACCESS_KEY"))
			OPENSSL_cleanse(secret_arg, n); /* hide it from ps */
	}
	{
		char bucket[3 * LG_MAX_BUCKET + 1] = "", prefix[3 * LG_MAX_PREFIX + 1];

		if ((r->o.mode == MODE_S3 && sigv4_uri_encode(bucket, sizeof(bucket), r->o.bucket,
							      strlen(r->o.bucket), false) < 0) ||
		    sigv4_uri_encode(prefix, sizeof(prefix), r->o.prefix, strlen(r->o.prefix),
				     true) < 0)
			goto out;
		snprintf(r->base, sizeof(r->base), "/%s%s%s", bucket,
			 r->o.mode == MODE_S3 ? "/" : "", prefix);
	}
	if (resolve(r) != 0)
		goto out;
	if (r->o.tls && tls_setup(r) != 0)
		goto out;
	if (raise_nofile((rlim_t)r->o.conns + r->o.idle + 64) != 0) {
		fprintf(stderr, "loadgen: cannot raise the open file limit: %s\n", strerror(errno));
		goto out;
	}
	if (make_body(r) != 0) {
		fprintf(stderr, "loadgen: cannot prepare the body\n");
		goto out;
	}
	if (make_workers(r, &ws) != 0) {
		fprintf(stderr, "loadgen: cannot set up the threads: %s\n", strerror(errno));
		goto out;
	}

	if (r->o.prepare) {
		t0 = now_ns();
		if (run_phase(r, ws, PH_PREPARE, NULL, NULL) != 0 || atomic_load(&r->fatal))
			goto fatal;
		merge(&res.st, ws, r->o.threads);
		res.prepare_s = (double)(now_ns() - t0) / 1e9;
		if (res.st.errors > 0) {
			fprintf(stderr,
				"loadgen: --prepare: %" PRIu64 " of %" PRIu64 " PUTs failed (",
				res.st.errors, r->o.keys * r->o.conns);
			report_errors(stderr, &res.st, false);
			fprintf(stderr, ")\n");
			goto out;
		}
	}
	if (r->o.idle > 0) {
		if (run_phase(r, ws, PH_IDLE, NULL, NULL) != 0 || atomic_load(&r->fatal))
			goto fatal;
	}

	m0.pid = m1.pid = r->o.server_pid;
	t0 = now_ns();
	r->warm_end = t0 + (int64_t)(r->o.warmup * 1e9);
	r->budget = r->o.duration > 0 ? 0 : r->o.requests;
	if (r->o.duration > 0)
		r->end = r->warm_end + (int64_t)(r->o.duration * 1e9);
	if (r->o.warmup > 0) {
		(void)run_phase(r, ws, PH_MAIN, cpu_mark, &m0);
	} else {
		cpu_mark(&m0);
		(void)run_phase(r, ws, PH_MAIN, NULL, NULL);
	}
	cpu_mark(&m1);
	merge(&res.st, ws, r->o.threads);
	if (atomic_load(&r->fatal)) {
		/* Report what was measured up to the failure, then why it stopped. */
		int64_t t = now_ns();

		res.aborted = r->fatal_msg[0] != '\0' ? r->fatal_msg : "stopped";
		res.elapsed = t > r->warm_end ? (double)(t - r->warm_end) / 1e9 : 0;
	} else if (r->o.duration > 0)
		res.elapsed = (double)(r->end - r->warm_end) / 1e9;
	else
		res.elapsed = res.st.t_last > r->warm_end
				      ? (double)(res.st.t_last - r->warm_end) / 1e9
				      : 0;
	res.self_cpu = m1.self - m0.self;
	res.server_cpu = m0.server >= 0 && m1.server >= 0 ? m1.server - m0.server : -1;
	res.idle_open = idle_open(ws, r->o.threads);
	report(r, &res);
	if (res.aborted != NULL)
		fprintf(stderr, "loadgen: %s\n", res.aborted);
	rc = res.st.errors > 0 || res.aborted != NULL ? 1 : 0;
	goto out;

fatal:
	fprintf(stderr, "loadgen: %s\n", r->fatal_msg[0] ? r->fatal_msg : "stopped");
out:
	free_workers(r, ws);
	SSL_CTX_free(r->tls);
	free(r->body);
	secmem_free(r->secret, r->secret_len);
	free(r);
	return rc;
}
