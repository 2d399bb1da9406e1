/*
 * fuzz_http: the HTTP/1.1 request framing (lib/http) as the server drives it.
 *
 * Input: [flags u8][split seed u16][the bytes a client sends on one
 * connection].  flags bit 0 picks small limits (so that every limit is within
 * reach of a mutation) instead of the defaults; bits 1-3 are how many times
 * the bytes are cut into separate "recv()" results, at points drawn from the
 * seed.
 *
 * The bytes go through http_feed() the way server/conn.c feeds them: each
 * piece is fed until HTTP_EV_MORE, every event is acted on (HEAD: the request
 * is inspected, a response head is formatted from it; BODY: counted; DONE:
 * http_next(), or stop when the connection is not kept alive; ERROR: stop),
 * and the end of the input is the peer closing its side (http_conn_eof).
 *
 * Oracles, beyond the sanitizers:
 *   - the documented invariants of each event and request (strings
 *     NUL-terminated at their length, trimmed values, body pieces inside the
 *     buffer fed, a Content-Length body of exactly that many bytes, ...);
 *   - no livelock: at most a few events without consuming a byte in a row;
 *   - fragmentation does not matter (http.h): the same bytes fed whole, at
 *     the fuzzed cut points and one byte at a time give the same requests,
 *     the same bodies, and are refused or not alike;
 *   - a response head either is refused or has exactly one CRLF per line:
 *     no header value, however hostile, can split a response.
 */
#include "fuzz.h"
#include "http/http.h"
#include "util/err.h"

#include <stdlib.h>
#include <string.h>

#define MAX_CUTS        7
#define BYTEWISE_MAX    4096 /* inputs up to this size are also fed one byte at a time */
#define ECHO_MAX        64   /* bytes of body echoed as a response header value */
#define RESP_HEADERS    16   /* request headers echoed into the response */
#define MAX_IDLE_EVENTS 3    /* events in a row that consume nothing */

/* What one pass over the input produced, for comparing passes. */
struct run {
	uint64_t trace; /* FNV-1a of heads, completed bodies and keep-alive decisions */
	uint64_t body;  /* FNV-1a of the current request's body */
	uint64_t body_len;
	unsigned done;  /* requests completed */
	bool refused;   /* an HTTP_EV_ERROR was seen (at once or at EOF) */
	bool truncated; /* EOF in the middle of a request */
	bool closed;    /* stopped after a request that was not keep-alive */
	uint8_t echo[ECHO_MAX];
	size_t echo_len;
};

static void
fnv(uint64_t *h, const void *p, size_t n)
{
	const uint8_t *b = p;

	for (size_t i = 0; i < n; i++) {
		*h ^= b[i];
		*h *= 0x100000001b3u;
	}
}

static void
fnv_u64(uint64_t *h, uint64_t v)
{
	fnv(h, &v, sizeof(v));
}

static bool
is_trim_char(char c)
{
	return c == ' ' || c == '\t';
}

/* check_url: the split target lies inside it and says what http.h promises. */
static void
check_url(const struct http_request *r)
{
	const struct http_url *u = &r->url;
	const char *end = r->target + r->target_len;

	FUZZ_CHECK(u->path != NULL && u->path_len > 0 && u->path[0] == '/');
	if (u->path_len != 1 || strcmp(u->path, "/") != 0)
		FUZZ_CHECK(u->path >= r->target && u->path + u->path_len <= end);
	if (u->query != NULL)
		FUZZ_CHECK(u->query >= r->target && u->query + u->query_len <= end &&
			   u->query[-1] == '?');
	if (u->authority != NULL)
		FUZZ_CHECK(u->authority > r->target && u->authority + u->authority_len <= end);
	else
		FUZZ_CHECK(r->target[0] == '/');
}

/* check_decode: percent-decoding, into a buffer and in place, agree. */
static void
check_decode(const char *s, size_t n, int flags)
{
	char *out = malloc(n + 1), *inplace = malloc(n + 1);
	size_t ol = 0, il = 0;
	int rc, rc2;

	FUZZ_CHECK(out != NULL && inplace != NULL);
	rc = http_pct_decode(out, n + 1, s, n, flags, &ol);
	memcpy(inplace, s, n);
	rc2 = http_pct_decode(inplace, n + 1, inplace, n, flags, &il);
	FUZZ_CHECK(rc == rc2);
	FUZZ_CHECK(rc == 0 || rc == CS_EINVAL);
	if (rc == 0) {
		FUZZ_CHECK(ol <= n && ol == il && memcmp(out, inplace, ol) == 0 && out[ol] == '\0');
		if (flags & HTTP_PCT_NO_NUL)
			FUZZ_CHECK(memchr(out, '\0', ol) == NULL);
		/* Too small by one byte: refused, never overrun (ASan watches). */
		if (ol > 0) {
			char *tight = malloc(ol);

			FUZZ_CHECK(tight != NULL);
			FUZZ_CHECK(http_pct_decode(tight, ol, s, n, flags, &il) == CS_ERANGE);
			free(tight);
		}
	}
	free(out);
	free(inplace);
}

/* check_response: format a response that echoes request headers and body bytes. */
static void
check_response(const struct http_request *r, const struct run *st)
{
	struct http_header hs[RESP_HEADERS + 1];
	struct http_response resp;
	char buf[8192];
	size_t nh = 0, len = 0, crlf = 0;
	int rc;

	/* What the server echoes is x-amz-meta-*; take the request's x- headers. */
	for (size_t i = 0; i < r->nheaders && nh < RESP_HEADERS; i++)
		if (r->headers[i].name_len > 2 && (r->headers[i].name[0] | 0x20) == 'x' &&
		    r->headers[i].name[1] == '-')
			hs[nh++] = r->headers[i];
	/* Bytes from the body stand in for stored metadata echoed in x-amz-meta-*. */
	hs[nh].name = "x-amz-meta-echo";
	hs[nh].name_len = 15;
	hs[nh].value = (const char *)st->echo;
	hs[nh].value_len = st->echo_len;
	nh++;
	memset(&resp, 0, sizeof(resp));
	resp.status = 200;
	resp.body = r->body == HTTP_BODY_CHUNKED && r->version_minor == 1 ? HTTP_BODY_CHUNKED
									  : HTTP_BODY_LENGTH;
	resp.content_length = r->content_length;
	resp.keep_alive = r->keep_alive;
	resp.http10 = r->version_minor == 0;
	resp.date = 1714979289;
	resp.headers = hs;
	resp.nheaders = nh;
	rc = http_response_head(buf, sizeof(buf), &resp, &len);
	FUZZ_CHECK(rc == 0 || rc == CS_EINVAL || rc == CS_ERANGE);
	if (rc != 0)
		return;
	FUZZ_CHECK(len < sizeof(buf) && buf[len] == '\0' && strlen(buf) == len);
	for (size_t i = 0; i < len; i++) {
		if (buf[i] == '\r') {
			FUZZ_CHECK(i + 1 < len && buf[i + 1] == '\n');
			crlf++;
			i++;
		} else {
			FUZZ_CHECK(buf[i] != '\n');
		}
	}
	/* Status, Date, Server, the extra headers, framing, Connection, the empty line. */
	FUZZ_CHECK(crlf == nh + 6);
}

static void
on_head(const struct http_request *r, const struct http_limits *lim, struct run *st)
{
	const struct http_header *h;
	unsigned nhost = 0;

	FUZZ_CHECK(r != NULL && r->method != NULL && r->target != NULL);
	FUZZ_CHECK(r->version_major == 1 && r->version_minor <= 1);
	FUZZ_CHECK(r->target_len > 0 && r->target_len <= lim->max_target &&
		   strlen(r->target) == r->target_len);
	FUZZ_CHECK(r->nheaders <= lim->max_headers);
	fnv(&st->trace, r->method, strlen(r->method) + 1);
	fnv(&st->trace, r->target, r->target_len + 1);
	fnv_u64(&st->trace, (uint64_t)r->method_id << 32 | r->version_minor);
	for (size_t i = 0; i < r->nheaders; i++) {
		h = &r->headers[i];
		FUZZ_CHECK(h->name != NULL && h->value != NULL);
		FUZZ_CHECK(h->name_len > 0 && h->name_len <= lim->max_name &&
			   strlen(h->name) == h->name_len);
		FUZZ_CHECK(h->value_len <= lim->max_value && strlen(h->value) == h->value_len);
		if (h->value_len > 0)
			FUZZ_CHECK(!is_trim_char(h->value[0]) &&
				   !is_trim_char(h->value[h->value_len - 1]));
		FUZZ_CHECK(http_header_find(r, h->name) != NULL);
		if (http_header_next(r, "host", i == 0 ? NULL : &r->headers[i - 1]) == h)
			nhost++;
		fnv(&st->trace, h->name, h->name_len + 1);
		fnv(&st->trace, h->value, h->value_len + 1);
	}
	FUZZ_CHECK(nhost <= 1);
	if (r->version_minor == 1)
		FUZZ_CHECK(r->host != NULL);
	switch (r->body) {
	case HTTP_BODY_NONE:
	case HTTP_BODY_CHUNKED:
		break;
	case HTTP_BODY_LENGTH:
		FUZZ_CHECK(r->content_length <= lim->max_body);
		break;
	default:
		FUZZ_CHECK(!"body kind");
	}
	if (r->expect_continue)
		FUZZ_CHECK(r->version_minor == 1 && http_header_find(r, "expect") != NULL);
	fnv_u64(&st->trace, (uint64_t)r->body << 62 | r->content_length);
	fnv_u64(&st->trace, (uint64_t)r->expect_continue);
	check_url(r);
	check_decode(r->url.path, r->url.path_len, HTTP_PCT_NO_NUL);
	if (r->url.query != NULL)
		check_decode(r->url.query, r->url.query_len, HTTP_PCT_PLUS);
	st->body = 0xcbf29ce484222325u;
	st->body_len = 0;
	st->echo_len = 0;
}

/*
 * run_conn(lim, data, n, cuts, ncuts, st): one connection: data[0..n) arrives
 * in ncuts + 1 pieces, split at the ascending offsets cuts[] (0 < cut < n);
 * with cuts == NULL every byte is a piece of its own.
 */
static void
run_conn(const struct http_limits *lim, const uint8_t *data, size_t n, const size_t *cuts,
	 size_t ncuts, struct run *st)
{
	struct http_conn *c = NULL;
	const struct http_request *req = NULL;
	size_t start = 0, piece = 0;
	unsigned idle = 0;
	bool stop = false, keep;

	memset(st, 0, sizeof(*st));
	st->trace = 0xcbf29ce484222325u;
	FUZZ_CHECK(http_conn_new(&c, lim) == 0);
	while (!stop && start < n) {
		size_t end = cuts == NULL ? start + 1 : piece < ncuts ? cuts[piece] : n;
		const uint8_t *p = data + start;
		size_t left = end - start;

		piece++;
		start = end;
		for (;;) {
			struct http_event ev;
			size_t used = 0;
			int rc = http_feed(c, p, left, &used, &ev);

			FUZZ_CHECK(rc == 0);
			FUZZ_CHECK(used <= left);
			idle = used == 0 && ev.type != HTTP_EV_MORE ? idle + 1 : 0;
			FUZZ_CHECK(idle <= MAX_IDLE_EVENTS);
			switch (ev.type) {
			case HTTP_EV_MORE:
				FUZZ_CHECK(used == left);
				break;
			case HTTP_EV_HEAD:
				req = http_conn_request(c);
				on_head(req, lim, st);
				break;
			case HTTP_EV_BODY:
				FUZZ_CHECK(req != NULL && req == http_conn_request(c));
				FUZZ_CHECK(req->body != HTTP_BODY_NONE);
				FUZZ_CHECK(ev.len > 0 && ev.data >= p &&
					   ev.data + ev.len <= p + used);
				fnv(&st->body, ev.data, ev.len);
				st->body_len += ev.len;
				FUZZ_CHECK(st->body_len <= lim->max_body);
				if (st->echo_len < ECHO_MAX) {
					size_t k = ECHO_MAX - st->echo_len;

					k = k < ev.len ? k : ev.len;
					memcpy(st->echo + st->echo_len, ev.data, k);
					st->echo_len += k;
				}
				break;
			case HTTP_EV_DONE:
				FUZZ_CHECK(req != NULL && req == http_conn_request(c));
				if (req->body == HTTP_BODY_LENGTH)
					FUZZ_CHECK(st->body_len == req->content_length);
				if (req->body == HTTP_BODY_NONE)
					FUZZ_CHECK(st->body_len == 0);
				check_response(req, st);
				fnv_u64(&st->trace, st->body);
				fnv_u64(&st->trace, st->body_len << 1 | (uint64_t)req->keep_alive);
				st->done++;
				/* Feeding before http_next() is a caller bug, and said so. */
				{
					struct http_event ev2;
					size_t u2 = 0;

					FUZZ_CHECK(http_feed(c, p, left, &u2, &ev2) == CS_EINVAL);
				}
				keep = req->keep_alive; /* http_next() forgets the request */
				rc = http_next(c);
				FUZZ_CHECK(rc == (keep ? 0 : CS_EPERM));
				req = NULL;
				if (rc != 0) {
					st->closed = true;
					stop = true;
				}
				break;
			case HTTP_EV_ERROR: {
				struct http_event ev2;
				size_t u2 = 0;
				int status = http_err_status(ev.err);

				FUZZ_CHECK(ev.err > HTTP_E_NONE && ev.err < HTTP_E_COUNT);
				FUZZ_CHECK(status == 400 || status == 413 || status == 414 ||
					   status == 431 || status == 501 || status == 505);
				FUZZ_CHECK(http_err_str(ev.err)[0] != '\0');
				FUZZ_CHECK(http_conn_request(c) == NULL);
				/* An error sticks. */
				FUZZ_CHECK(http_feed(c, p, left, &u2, &ev2) == 0 &&
					   ev2.type == HTTP_EV_ERROR && ev2.err == ev.err &&
					   u2 == 0);
				FUZZ_CHECK(http_conn_eof(c) == ev.err);
				st->refused = true;
				stop = true;
				break;
			}
			default:
				FUZZ_CHECK(!"event type");
			}
			p += used;
			left -= used;
			if (stop || ev.type == HTTP_EV_MORE)
				break;
		}
	}
	if (!stop) {
		enum http_err e = http_conn_eof(c);

		if (e == HTTP_E_TRUNCATED)
			st->truncated = true;
		else
			FUZZ_CHECK(e == HTTP_E_NONE);
	}
	http_conn_free(c);
}

static int
cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

static void
same_run(const struct run *a, const struct run *b)
{
	FUZZ_CHECK(a->done == b->done);
	FUZZ_CHECK(a->trace == b->trace);
	FUZZ_CHECK(a->refused == b->refused);
	FUZZ_CHECK(a->truncated == b->truncated);
	FUZZ_CHECK(a->closed == b->closed);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	struct http_limits lim;
	struct run whole, split, bytewise;
	size_t cuts[MAX_CUTS], ncuts = 0, n;
	uint8_t flags = fuzz_take_u8(&in);
	uint64_t seed = fuzz_take_u16(&in);
	const uint8_t *bytes = fuzz_take(&in, in.n, &n);

	http_limits_init(&lim);
	if (flags & 1) {
		lim.max_head = 256;
		lim.max_target = 64;
		lim.max_headers = 8;
		lim.max_name = 24;
		lim.max_value = 96;
		lim.max_body = 1000;
	}
	for (unsigned i = 0; i < ((flags >> 1) & 7u) && n > 1; i++)
		cuts[ncuts++] = 1 + (size_t)(fuzz_splitmix(&seed) % (n - 1));
	qsort(cuts, ncuts, sizeof(cuts[0]), cmp_size);

	/* As one piece (cuts == NULL would mean one byte at a time). */
	run_conn(&lim, bytes, n, cuts, 0, &whole);
	if (n == 0)
		return 0;
	run_conn(&lim, bytes, n, cuts, ncuts, &split);
	same_run(&whole, &split);
	if (n <= BYTEWISE_MAX) {
		run_conn(&lim, bytes, n, NULL, 0, &bytewise);
		same_run(&whole, &bytewise);
	}
	return 0;
}
