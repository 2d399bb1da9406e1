/* Unit tests for http (request framing over libhttp_parser, response formatting). */
#include "testutil.h"
#include "http/http.h"
#include "util/err.h"

#include <stdio.h>

/* ------------------------------------------------------------ transcript */

/*
 * A transcript records what the caller of http_feed() sees, independent of
 * how the input was fragmented: heads, whole bodies (pieces concatenated),
 * completions and errors.  Two runs agree iff their transcripts are equal.
 */
struct tr {
	char *buf;
	size_t len, cap;
};

static void
tr_put(struct tr *t, const void *p, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		t->cap = (t->len + n + 1) * 2;
		t->buf = realloc(t->buf, t->cap);
		assert_non_null(t->buf);
	}
	memcpy(t->buf + t->len, p, n);
	t->len += n;
	t->buf[t->len] = '\0';
}

static void tr_printf(struct tr *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
tr_printf(struct tr *t, const char *fmt, ...)
{
	char *line;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vasprintf(&line, fmt, ap);
	va_end(ap);
	assert_true(n >= 0);
	tr_put(t, line, (size_t)n);
	free(line);
}

static void
tr_free(struct tr *t)
{
	free(t->buf);
	memset(t, 0, sizeof(*t));
}

static void
tr_head(struct tr *t, const struct http_request *r)
{
	tr_printf(t, "HEAD %s %s %u.%u", r->method, r->target, r->version_major, r->version_minor);
	if (r->host != NULL)
		tr_printf(t, " host=%.*s", (int)r->host_len, r->host);
	else
		tr_printf(t, " host=-");
	if (r->body == HTTP_BODY_LENGTH)
		tr_printf(t, " len=%llu", (unsigned long long)r->content_length);
	else if (r->body == HTTP_BODY_CHUNKED)
		tr_printf(t, " chunked");
	tr_printf(t, " ka=%d exp=%d\n", r->keep_alive, r->expect_continue);
	for (size_t i = 0; i < r->nheaders; i++) {
		const struct http_header *h = &r->headers[i];

		assert_int_equal(strlen(h->name), h->name_len);
		assert_int_equal(strlen(h->value), h->value_len);
		tr_printf(t, "  %s: %s\n", h->name, h->value);
	}
}

/* ---------------------------------------------------------------- driver */

/*
 * How the driver feeds: the input arrives in fragments (cut at cuts[]); each
 * http_feed() call is given at most maxfeed bytes (0: all there is); with
 * stall, the caller stops after every body piece until the next fragment
 * arrives (backpressure), then resumes with the unconsumed bytes.
 */
struct feed {
	const size_t *cuts;
	size_t ncuts;
	size_t maxfeed;
	int stall;
};

struct run {
	struct http_conn *c;
	struct tr *t;
	struct tr body;
	uint64_t body_len;
	int finished;
	int nerr;
	enum http_err err;
};

/* Feed the pending bytes until input runs out, the run ends, or (stall) a body piece. */
static void
run_pending(struct run *r, uint8_t **pend, size_t *plen, int stall)
{
	uint8_t *buf = *pend;
	size_t n = *plen, off = 0;

	while (!r->finished) {
		struct http_event ev;
		size_t give = n - off, used = 99999;
		int rc;

		rc = http_feed(r->c, buf + off, give, &used, &ev);
		assert_int_equal(rc, 0);
		assert_true(used <= give);
		if (ev.type == HTTP_EV_BODY) {
			/* The piece lies within the consumed bytes of this buffer. */
			assert_true(ev.len > 0);
			assert_true(ev.data >= buf + off && ev.data + ev.len <= buf + off + used);
			tr_put(&r->body, ev.data, ev.len);
			r->body_len += ev.len;
		}
		off += used;
		switch (ev.type) {
		case HTTP_EV_MORE:
			assert_int_equal(off, n);
			goto out;
		case HTTP_EV_HEAD:
			tr_head(r->t, http_conn_request(r->c));
			break;
		case HTTP_EV_BODY:
			if (stall)
				goto out;
			break;
		case HTTP_EV_DONE: {
			const struct http_request *req = http_conn_request(r->c);

			assert_non_null(req);
			if (req->body == HTTP_BODY_LENGTH)
				assert_int_equal(r->body_len, req->content_length);
			if (r->body_len > 0) {
				tr_printf(r->t, "BODY %llu ", (unsigned long long)r->body_len);
				tr_put(r->t, r->body.buf, r->body.len);
				tr_printf(r->t, "\n");
			}
			tr_printf(r->t, "DONE ka=%d\n", req->keep_alive);
			/* Nothing more is parsed before http_next(). */
			assert_int_equal(http_feed(r->c, buf + off, n - off, &used, &ev),
					 CS_EINVAL);
			assert_int_equal(used, 0);
			r->body.len = 0;
			r->body_len = 0;
			if (req->keep_alive) {
				assert_int_equal(http_next(r->c), 0);
			} else {
				assert_int_equal(http_next(r->c), CS_EPERM);
				r->finished = 1;
			}
			break;
		}
		case HTTP_EV_ERROR:
			assert_true(ev.err > HTTP_E_NONE && ev.err < HTTP_E_COUNT);
			tr_printf(r->t, "ERROR %d %s\n", http_err_status(ev.err),
				  http_err_str(ev.err));
			r->err = ev.err;
			r->nerr++;
			r->finished = 1;
			break;
		default:
			fail_msg("unknown event %d", (int)ev.type);
		}
	}
out:
	/* Keep only the unconsumed bytes, in an exactly-sized buffer (ASan). */
	*plen = n - off;
	*pend = malloc(*plen + 1);
	assert_non_null(*pend);
	memcpy(*pend, buf + off, *plen);
	free(buf);
}

/* Append in[0..len) to the pending bytes and feed them, maxfeed at a time. */
static void
run_fragment(struct run *r, uint8_t **pend, size_t *plen, const uint8_t *in, size_t len,
	     const struct feed *f)
{
	uint8_t *buf = malloc(*plen + len + 1);

	assert_non_null(buf);
	if (*plen > 0)
		memcpy(buf, *pend, *plen);
	if (len > 0)
		memcpy(buf + *plen, in, len);
	free(*pend);
	*pend = buf;
	*plen += len;
	if (f->maxfeed == 0 || *plen <= f->maxfeed) {
		run_pending(r, pend, plen, f->stall);
		return;
	}
	/* Offer the bytes maxfeed at a time: the caller's own read size. */
	{
		uint8_t *all = *pend;
		size_t total = *plen, done = 0;

		*pend = NULL;
		*plen = 0;
		while (done < total && !r->finished) {
			size_t take = total - done < f->maxfeed ? total - done : f->maxfeed;
			uint8_t *b = malloc(*plen + take + 1);

			assert_non_null(b);
			if (*plen > 0)
				memcpy(b, *pend, *plen);
			memcpy(b + *plen, all + done, take);
			free(*pend);
			*pend = b;
			*plen += take;
			done += take;
			run_pending(r, pend, plen, f->stall);
		}
		if (done < total) {
			uint8_t *b = malloc(*plen + total - done + 1);

			assert_non_null(b);
			memcpy(b, *pend, *plen);
			memcpy(b + *plen, all + done, total - done);
			free(*pend);
			*pend = b;
			*plen += total - done;
		}
		free(all);
	}
}

/* Parse in[0..len) as fed per f; write the transcript to t; return the run. */
static struct run
drive(const struct http_limits *lim, const void *in, size_t len, const struct feed *f, struct tr *t)
{
	struct run r;
	uint8_t *pend = malloc(1);
	size_t plen = 0, at = 0;

	memset(&r, 0, sizeof(r));
	r.t = t;
	assert_int_equal(http_conn_new(&r.c, lim), 0);
	assert_non_null(pend);
	for (size_t i = 0; i <= f->ncuts && !r.finished; i++) {
		size_t end = i < f->ncuts ? f->cuts[i] : len;

		assert_true(end >= at && end <= len);
		run_fragment(&r, &pend, &plen, (const uint8_t *)in + at, end - at, f);
		at = end;
	}
	/* Everything has arrived: a stalled caller catches up (and a queued DONE is seen). */
	if (!r.finished)
		run_pending(&r, &pend, &plen, 0);
	tr_printf(t, "EOF %d pending=%zu\n", (int)http_conn_eof(r.c), r.finished ? 0 : plen);
	free(pend);
	tr_free(&r.body);
	http_conn_free(r.c);
	r.c = NULL;
	return r;
}

static struct run
drive_str(const struct http_limits *lim, const char *in, struct tr *t)
{
	struct feed f = {NULL, 0, 0, 0};

	return drive(lim, in, strlen(in), &f, t);
}

/* The error (or HTTP_E_NONE) a request gives when fed whole. */
static enum http_err
parse_err(const struct http_limits *lim, const void *in, size_t len)
{
	struct feed f = {NULL, 0, 0, 0};
	struct tr t = {0};
	struct run r = drive(lim, in, len, &f, &t);

	tr_free(&t);
	return r.err;
}

static enum http_err
parse_err_str(const char *in)
{
	return parse_err(NULL, in, strlen(in));
}

static enum http_err
parse_err_lim(const struct http_limits *lim, const char *in)
{
	return parse_err(lim, in, strlen(in));
}

static void
assert_tr_equal(const struct tr *a, const struct tr *b, const char *what, size_t i)
{
	if (a->len != b->len || memcmp(a->buf, b->buf, a->len) != 0)
		fail_msg("%s %zu differs:\n--- expected\n%s\n--- got\n%s", what, i, a->buf, b->buf);
}

/* Every way of cutting the input once, one byte at a time, and at random. */
static void
check_fragmentations(const char *in, const char *golden)
{
	size_t len = strlen(in);
	struct tr ref = {0};
	uint64_t seed = 0x9e3779b97f4a7c15ull;

	drive_str(NULL, in, &ref);
	if (golden != NULL && strcmp(ref.buf, golden) != 0)
		fail_msg("golden differs:\n--- expected\n%s\n--- got\n%s", golden, ref.buf);

	for (size_t i = 0; i <= len; i++) {
		struct feed f = {&i, 1, 0, 0};
		struct tr t = {0};

		drive(NULL, in, len, &f, &t);
		assert_tr_equal(&ref, &t, "split at", i);
		tr_free(&t);
	}
	for (size_t step = 1; step <= 4; step++) {
		for (int stall = 0; stall <= 1; stall++) {
			struct feed f = {NULL, 0, step, stall};
			struct tr t = {0};

			drive(NULL, in, len, &f, &t);
			assert_tr_equal(&ref, &t, "maxfeed", step);
			tr_free(&t);
		}
	}
	for (size_t k = 0; k < 200; k++) {
		size_t cuts[16], n = 1 + tu_rand(&seed) % 15;
		struct feed f = {cuts, n, 0, (int)(k & 1)};
		struct tr t = {0};

		for (size_t j = 0; j < n; j++)
			cuts[j] = tu_rand(&seed) % (len + 1);
		for (size_t a = 1; a < n; a++) /* sort */
			for (size_t b = a; b > 0 && cuts[b - 1] > cuts[b]; b--) {
				size_t x = cuts[b];

				cuts[b] = cuts[b - 1];
				cuts[b - 1] = x;
			}
		if (k % 3 == 0)
			f.maxfeed = 1 + tu_rand(&seed) % 17;
		drive(NULL, in, len, &f, &t);
		assert_tr_equal(&ref, &t, "random fragmentation", k);
		tr_free(&t);
	}
	tr_free(&ref);
}

/* ------------------------------------------------------- real requests */

static const char req_awscli_put[] =
	"PUT /bucket/photos/2024/cat.jpg HTTP/1.1\r\n"
	"Host: localhost:9000\r\n"
	"Accept-Encoding: identity\r\n"
	"User-Agent: aws-cli/2.15.0 Python/3.11.6 Linux/6.1.0 exe/x86_64.debian.12 "
	"prompt/off command/s3.cp\r\n"
	"Content-MD5: XrY7u+Ae7tCTyyK7j1rNww==\r\n"
	"Expect: 100-continue\r\n"
	"X-Amz-Date: 20240101T000000Z\r\n"
	"X-Amz-Content-SHA256: UNSIGNED-PAYLOAD\r\n"
	"Authorization: AWS4-HMAC-SHA256 "
	"Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/s3/aws4_request, "
	"SignedHeaders=content-md5;host;x-amz-content-sha256;x-amz-date, "
	"Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024\r\n"
	"Content-Length: 11\r\n"
	"\r\n"
	"hello world";

static const char golden_awscli_put[] =
	"HEAD PUT /bucket/photos/2024/cat.jpg 1.1 host=localhost:9000 len=11 ka=1 exp=1\n"
	"  Host: localhost:9000\n"
	"  Accept-Encoding: identity\n"
	"  User-Agent: aws-cli/2.15.0 Python/3.11.6 Linux/6.1.0 exe/x86_64.debian.12 prompt/off "
	"command/s3.cp\n"
	"  Content-MD5: XrY7u+Ae7tCTyyK7j1rNww==\n"
	"  Expect: 100-continue\n"
	"  X-Amz-Date: 20240101T000000Z\n"
	"  X-Amz-Content-SHA256: UNSIGNED-PAYLOAD\n"
	"  Authorization: AWS4-HMAC-SHA256 "
	"Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/s3/aws4_request, "
	"SignedHeaders=content-md5;host;x-amz-content-sha256;x-amz-date, "
	"Signature=fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024\n"
	"  Content-Length: 11\n"
	"BODY 11 hello world\n"
	"DONE ka=1\n"
	"EOF 0 pending=0\n";

static const char req_s3cmd_get[] =
	"GET /dir/file%20name.txt?versionId=3&x HTTP/1.1\r\n"
	"Host: bucket.s3.example.com\r\n"
	"Accept-Encoding: identity\r\n"
	"x-amz-date: Mon, 01 Jan 2024 00:00:00 +0000\r\n"
	"Authorization: AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU=\r\n"
	"content-length: 0\r\n"
	"\r\n";

static const char golden_s3cmd_get[] =
	"HEAD GET /dir/file%20name.txt?versionId=3&x 1.1 host=bucket.s3.example.com len=0 ka=1 "
	"exp=0\n"
	"  Host: bucket.s3.example.com\n"
	"  Accept-Encoding: identity\n"
	"  x-amz-date: Mon, 01 Jan 2024 00:00:00 +0000\n"
	"  Authorization: AWS AKIAIOSFODNN7EXAMPLE:bWq2s1WEIj+Ydj0vQ697zp+IXMU=\n"
	"  content-length: 0\n"
	"DONE ka=1\n"
	"EOF 0 pending=0\n";

static const char req_chunked_put[] = "PUT /b/k HTTP/1.1\r\n"
				      "Host: h\r\n"
				      "Transfer-Encoding: chunked\r\n"
				      "x-amz-decoded-content-length: 16\r\n"
				      "\r\n"
				      "5;chunk-signature=ab12;x=\"q;uoted\"\r\n"
				      "hello\r\n"
				      "B\r\n"
				      " world!!!!!\r\n"
				      "0;chunk-signature=ff\r\n"
				      "x-amz-checksum-crc32: AAAAAA==\r\n"
				      "X-Other: 1\r\n"
				      "\r\n";

static const char golden_chunked_put[] = "HEAD PUT /b/k 1.1 host=h chunked ka=1 exp=0\n"
					 "  Host: h\n"
					 "  Transfer-Encoding: chunked\n"
					 "  x-amz-decoded-content-length: 16\n"
					 "BODY 16 hello world!!!!!\n"
					 "DONE ka=1\n"
					 "EOF 0 pending=0\n";

static const char req_pipeline[] =
	"GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
	"GET /b?list-type=2 HTTP/1.1\r\nHost: h\r\nRange: bytes=0-9\r\n\r\n"
	"PUT /c HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
	"Connection: close\r\n\r\nxyz";

static const char golden_pipeline[] = "HEAD GET /a 1.1 host=h ka=1 exp=0\n"
				      "  Host: h\n"
				      "DONE ka=1\n"
				      "HEAD GET /b?list-type=2 1.1 host=h ka=1 exp=0\n"
				      "  Host: h\n"
				      "  Range: bytes=0-9\n"
				      "DONE ka=1\n"
				      "HEAD PUT /c 1.1 host=h len=3 ka=0 exp=0\n"
				      "  Host: h\n"
				      "  Content-Length: 3\n"
				      "  Connection: close\n"
				      "BODY 3 xyz\n"
				      "DONE ka=0\n"
				      "EOF 0 pending=0\n";

static void
test_split_awscli_put(void **state)
{
	(void)state;
	check_fragmentations(req_awscli_put, golden_awscli_put);
}

static void
test_split_s3cmd_get(void **state)
{
	(void)state;
	check_fragmentations(req_s3cmd_get, golden_s3cmd_get);
}

static void
test_split_chunked_put(void **state)
{
	(void)state;
	check_fragmentations(req_chunked_put, golden_chunked_put);
}

static void
test_split_pipeline(void **state)
{
	(void)state;
	check_fragmentations(req_pipeline, golden_pipeline);
}

/* The 100-continue dance: the head arrives alone, the body only later. */
static void
test_expect_continue_head_first(void **state)
{
	const char *body = strstr(req_awscli_put, "\r\n\r\n") + 4;
	size_t headlen = (size_t)(body - req_awscli_put), used;
	struct http_conn *c;
	struct http_event ev;

	(void)state;
	assert_int_equal(http_conn_new(&c, NULL), 0);
	assert_int_equal(http_feed(c, req_awscli_put, headlen, &used, &ev), 0);
	assert_int_equal(ev.type, HTTP_EV_HEAD);
	assert_int_equal(used, headlen); /* the whole head, and nothing else */
	assert_true(http_conn_request(c)->expect_continue);
	assert_int_equal(http_feed(c, NULL, 0, &used, &ev), 0);
	assert_int_equal(ev.type, HTTP_EV_MORE);
	assert_int_equal(http_conn_eof(c), HTTP_E_TRUNCATED);
	assert_int_equal(http_feed(c, body, 11, &used, &ev), 0);
	assert_int_equal(ev.type, HTTP_EV_BODY);
	assert_int_equal(used, 11);
	assert_memory_equal(ev.data, "hello world", 11);
	assert_int_equal(http_feed(c, body + 11, 0, &used, &ev), 0);
	assert_int_equal(ev.type, HTTP_EV_DONE);
	assert_int_equal(http_conn_eof(c), HTTP_E_NONE);
	http_conn_free(c);
}

/* After DONE the next pipelined request is untouched until http_next(). */
static void
test_pipeline_pause(void **state)
{
	size_t first = strstr(req_pipeline, "GET /b") - req_pipeline, used, off = 0;
	size_t len = strlen(req_pipeline);
	struct http_conn *c;
	struct http_event ev;

	(void)state;
	assert_int_equal(http_conn_new(&c, NULL), 0);
	assert_int_equal(http_feed(c, req_pipeline, len, &used, &ev), 0);
	assert_int_equal(ev.type, HTTP_EV_HEAD);
	assert_int_equal(used, first);
	off += used;
	assert_int_equal(http_feed(c, req_pipeline + off, len - off, &used, &ev), 0);
	assert_int_equal(ev.type, HTTP_EV_DONE);
	assert_int_equal(used, 0);
	assert_int_equal(http_feed(c, req_pipeline + off, len - off, &used, &ev), CS_EINVAL);
	assert_string_equal(http_conn_request(c)->target, "/a");
	assert_int_equal(http_next(c), 0);
	assert_null(http_conn_request(c));
	assert_int_equal(http_next(c), CS_EINVAL);
	assert_int_equal(http_feed(c, req_pipeline + off, len - off, &used, &ev), 0);
	assert_int_equal(ev.type, HTTP_EV_HEAD);
	assert_string_equal(http_conn_request(c)->target, "/b?list-type=2");
	http_conn_free(c);
}

/* ---------------------------------------------------------------- chunked */

static void
test_chunked_variants(void **state)
{
	static const struct {
		const char *chunks;
		const char *body; /* NULL: error */
		enum http_err err;
	} cases[] = {
		{"0\r\n\r\n", "", HTTP_E_NONE},
		{"1\r\na\r\n0\r\n\r\n", "a", HTTP_E_NONE},
		{"0001\r\nb\r\n0\r\n\r\n", "b", HTTP_E_NONE},
		{"a\r\n0123456789\r\n0\r\n\r\n", "0123456789", HTTP_E_NONE},
		{"2;a=b;c\r\nxy\r\n0;z\r\nT: 1\r\nU: 2\r\n\r\n", "xy", HTTP_E_NONE},
		{"2 ; ext\r\nxy\r\n0\r\n\r\n", "xy", HTTP_E_NONE},
		{"zz\r\nxy\r\n0\r\n\r\n", NULL, HTTP_E_CHUNK},
		{"\r\n", NULL, HTTP_E_CHUNK},
		{"2\r\nxyz\r\n0\r\n\r\n", NULL, HTTP_E_CHUNK},
		{"2\r\nxy0\r\n\r\n", NULL, HTTP_E_CHUNK},
		{"-1\r\nx\r\n", NULL, HTTP_E_CHUNK},
		{"fffffffffffffffffff\r\n", NULL, HTTP_E_TOO_LARGE},
		{"140000001\r\n", NULL, HTTP_E_TOO_LARGE}, /* 5 GiB + 1 */
		/* Framing the non-strict libhttp_parser would accept. */
		{"5\rXhello\r\n0\r\n\r\n", NULL, HTTP_E_CHUNK},
		{"5\r\nhelloAB0\r\n\r\n", NULL, HTTP_E_CHUNK},
		{"5\r\nhello\rX0\r\n\r\n", NULL, HTTP_E_CHUNK},
		{"5;a\nb\r\nhello\r\n0\r\n\r\n", NULL, HTTP_E_CHUNK},
		{"5;a\x01\r\nhello\r\n0\r\n\r\n", NULL, HTTP_E_CHUNK},
		{"0\r\nT: 1\n\n", NULL, HTTP_E_CHUNK},
		{"0\r\n\rX", NULL, HTTP_E_CHUNK},
		{"0\r\nT b: 1\r\n\r\n", NULL, HTTP_E_SYNTAX},
		{"0\r\nT: \x7f\r\n\r\n", NULL, HTTP_E_SYNTAX},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char req[512];
		struct tr t = {0};
		struct run r;

		snprintf(req, sizeof(req),
			 "PUT /k HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n%s",
			 cases[i].chunks);
		r = drive_str(NULL, req, &t);
		if (r.err != cases[i].err)
			fail_msg("case %zu: err %d, want %d\n%s", i, r.err, cases[i].err, t.buf);
		if (cases[i].body != NULL) {
			char want[256];

			if (cases[i].body[0] == '\0')
				snprintf(want, sizeof(want), "DONE ka=1\n");
			else
				snprintf(want, sizeof(want), "BODY %zu %s\nDONE ka=1\n",
					 strlen(cases[i].body), cases[i].body);
			if (strstr(t.buf, want) == NULL)
				fail_msg("case %zu: want %s in\n%s", i, want, t.buf);
		}
		tr_free(&t);
	}
}

/* The sum of the chunk sizes is limited like a Content-Length. */
static void
test_chunked_total_limit(void **state)
{
	struct http_limits lim;

	(void)state;
	http_limits_init(&lim);
	lim.max_body = 10;
	assert_int_equal(parse_err_lim(&lim,
				       "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
				       "\r\n5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n"),
			 HTTP_E_NONE);
	/* Refused at the chunk header, before its data. */
	assert_int_equal(parse_err_lim(&lim,
				       "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
				       "\r\n5\r\nhello\r\n6\r\n"),
			 HTTP_E_TOO_LARGE);
}

/* Trailers are counted against the limits, not stored. */
static void
test_trailer_limits(void **state)
{
	struct http_limits lim;
	char req[4096];
	size_t n;

	(void)state;
	http_limits_init(&lim);
	lim.max_headers = 4;
	n = (size_t)snprintf(req, sizeof(req),
			     "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
			     "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n");
	assert_int_equal(parse_err(&lim, req, n), HTTP_E_NONE);
	n = (size_t)snprintf(req, sizeof(req),
			     "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
			     "0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nE: 5\r\n\r\n");
	assert_int_equal(parse_err(&lim, req, n), HTTP_E_TOO_MANY_HEADERS);
	http_limits_init(&lim);
	lim.max_head = 1024;
	lim.max_target = lim.max_name = lim.max_value = 1024;
	n = (size_t)snprintf(req, sizeof(req),
			     "PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
			     "0\r\nA: %01100d\r\n\r\n",
			     0);
	assert_int_equal(parse_err(&lim, req, n), HTTP_E_HEAD_TOO_LARGE);
}

/* ----------------------------------------------------------------- limits */

/* A request whose head is exactly total bytes, padded by header X-Pad. */
static size_t
make_head(char *buf, size_t bufsz, size_t total)
{
	static const char pre[] = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
	static const char post[] = "\r\n\r\n";
	size_t pad = total - (sizeof(pre) - 1) - (sizeof(post) - 1);

	assert_true(total + 1 <= bufsz);
	memcpy(buf, pre, sizeof(pre) - 1);
	memset(buf + sizeof(pre) - 1, 'p', pad);
	memcpy(buf + sizeof(pre) - 1 + pad, post, sizeof(post));
	assert_int_equal(strlen(buf), total);
	return total;
}

static void
test_limit_head_bytes(void **state)
{
	struct http_limits lim;
	static char buf[20000];

	(void)state;
	http_limits_init(&lim);
	lim.max_value = lim.max_head; /* isolate the head limit */
	assert_int_equal(parse_err(&lim, buf, make_head(buf, sizeof(buf), 16384)), HTTP_E_NONE);
	assert_int_equal(parse_err(&lim, buf, make_head(buf, sizeof(buf), 16385)),
			 HTTP_E_HEAD_TOO_LARGE);
	assert_int_equal(http_err_status(HTTP_E_HEAD_TOO_LARGE), 431);
	/* Fragmented one byte at a time, too. */
	{
		struct feed f = {NULL, 0, 1, 0};
		struct tr t = {0};

		assert_int_equal(drive(&lim, buf, make_head(buf, sizeof(buf), 16385), &f, &t).err,
				 HTTP_E_HEAD_TOO_LARGE);
		tr_free(&t);
		assert_int_equal(drive(&lim, buf, make_head(buf, sizeof(buf), 16384), &f, &t).err,
				 HTTP_E_NONE);
		tr_free(&t);
	}
	/* Default limits: the value limit (8 KiB) hits first. */
	assert_int_equal(parse_err(NULL, buf, make_head(buf, sizeof(buf), 16384)),
			 HTTP_E_FIELD_TOO_LARGE);
	/* Configured smaller. */
	lim.max_head = 100;
	lim.max_value = 100;
	lim.max_target = 100;
	lim.max_name = 100;
	assert_int_equal(parse_err(&lim, buf, make_head(buf, sizeof(buf), 100)), HTTP_E_NONE);
	assert_int_equal(parse_err(&lim, buf, make_head(buf, sizeof(buf), 101)),
			 HTTP_E_HEAD_TOO_LARGE);
}

static void
test_limit_target(void **state)
{
	static char buf[20000];
	size_t n;

	(void)state;
	/* A target of exactly 8192 bytes passes; 8193 is 414. */
	for (size_t tlen = 8191; tlen <= 8194; tlen++) {
		enum http_err want = tlen <= 8192 ? HTTP_E_NONE : HTTP_E_URI_TOO_LONG;

		memcpy(buf, "GET /", 5);
		memset(buf + 5, 'a', tlen - 1);
		n = 4 + tlen;
		memcpy(buf + n, " HTTP/1.1\r\nHost: h\r\n\r\n", 23);
		n += 22;
		assert_int_equal(parse_err(NULL, buf, n), want);
	}
	assert_int_equal(http_err_status(HTTP_E_URI_TOO_LONG), 414);

	/* A request line that never ends: 414, not 431. */
	{
		struct http_limits lim;

		http_limits_init(&lim);
		lim.max_head = 64;
		lim.max_target = 64;
		lim.max_name = 64;
		lim.max_value = 64;
		memcpy(buf, "GET /", 5);
		memset(buf + 5, 'a', 100);
		assert_int_equal(parse_err(&lim, buf, 105), HTTP_E_URI_TOO_LONG);
		/* Spaces padding the request line still count. */
		memset(buf, ' ', 100);
		memcpy(buf, "GET", 3);
		assert_int_equal(parse_err(&lim, buf, 100), HTTP_E_URI_TOO_LONG);
	}
}

static void
test_limit_header_count(void **state)
{
	static char buf[8192];

	(void)state;
	for (size_t count = 99; count <= 101; count++) {
		size_t n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: h\r\n");

		for (size_t i = 1; i < count; i++)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "X-%zu: v\r\n", i);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n");
		assert_int_equal(parse_err(NULL, buf, n),
				 count <= 100 ? HTTP_E_NONE : HTTP_E_TOO_MANY_HEADERS);
	}
}

static void
test_limit_name_value(void **state)
{
	static char buf[20000];
	size_t n;

	(void)state;
	for (size_t nlen = 255; nlen <= 257; nlen++) {
		n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: h\r\n");
		memset(buf + n, 'N', nlen);
		n += nlen;
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, ": v\r\n\r\n");
		assert_int_equal(parse_err(NULL, buf, n),
				 nlen <= 256 ? HTTP_E_NONE : HTTP_E_FIELD_TOO_LARGE);
	}
	for (size_t vlen = 8191; vlen <= 8193; vlen++) {
		n = (size_t)snprintf(buf, sizeof(buf), "GET / HTTP/1.1\r\nHost: h\r\nX-V: ");
		memset(buf + n, 'v', vlen);
		n += vlen;
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\r\n\r\n");
		assert_int_equal(parse_err(NULL, buf, n),
				 vlen <= 8192 ? HTTP_E_NONE : HTTP_E_FIELD_TOO_LARGE);
	}
}

/* Content-Length over the limit fails when its line ends: no more input needed. */
static enum http_err
cl_err(const char *value, int whole)
{
	char req[256];

	snprintf(req, sizeof(req), "PUT /k HTTP/1.1\r\nHost: h\r\nContent-Length: %s\r\n%s", value,
		 whole ? "\r\n" : "");
	return parse_err_str(req);
}

static void
test_limit_body_length(void **state)
{
	struct tr t = {0};

	(void)state;
	/* 5 GiB exactly is accepted (the head is; no body is sent here). */
	drive_str(NULL, "PUT /k HTTP/1.1\r\nHost: h\r\nContent-Length: 5368709120\r\n\r\n", &t);
	assert_non_null(strstr(t.buf, "len=5368709120"));
	assert_non_null(strstr(t.buf, "EOF 6 "));
	tr_free(&t);
	assert_int_equal(cl_err("5368709120", 0), HTTP_E_NONE);
	assert_int_equal(cl_err("5368709121", 0), HTTP_E_TOO_LARGE);
	assert_int_equal(cl_err("9223372036854775807", 0), HTTP_E_TOO_LARGE);
	assert_int_equal(cl_err("9223372036854775808", 0), HTTP_E_TOO_LARGE);  /* 2^63 */
	assert_int_equal(cl_err("18446744073709551615", 0), HTTP_E_TOO_LARGE); /* 2^64-1 */
	assert_int_equal(cl_err("18446744073709551616", 0), HTTP_E_TOO_LARGE); /* 2^64 */
	assert_int_equal(cl_err("99999999999999999999", 0), HTTP_E_TOO_LARGE); /* 20 digits */
	assert_int_equal(cl_err("99999999999999999999999999999999", 1), HTTP_E_TOO_LARGE);
	assert_int_equal(cl_err("00000000000000000000000000000005", 1), HTTP_E_NONE);
	assert_int_equal(http_err_status(HTTP_E_TOO_LARGE), 413);

	/* Configured limit: just under and just over. */
	{
		struct http_limits lim;
		static const char ok[] = "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\n";
		static const char big[] = "PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 101\r\n";

		http_limits_init(&lim);
		lim.max_body = 100;
		assert_int_equal(parse_err(&lim, ok, sizeof(ok) - 1), HTTP_E_NONE);
		assert_int_equal(parse_err(&lim, big, sizeof(big) - 1), HTTP_E_TOO_LARGE);
	}
}

/* ---------------------------------------------------------------- framing */

static void
test_framing_conflicts(void **state)
{
	(void)state;
	/* Content-Length together with Transfer-Encoding, either order. */
	assert_int_equal(parse_err_str("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
				       "Transfer-Encoding: chunked\r\n\r\nhello"),
			 HTTP_E_FRAMING);
	assert_int_equal(parse_err_str("PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
				       "Content-Length: 5\r\n\r\n0\r\n\r\n"),
			 HTTP_E_FRAMING);
	assert_int_equal(parse_err_str("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
				       "Transfer-Encoding: gzip\r\n\r\nhello"),
			 HTTP_E_FRAMING);
	/* Transfer-Encoding other than exactly "chunked": 501. */
	assert_int_equal(
		parse_err_str("PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n"),
		HTTP_E_TE);
	assert_int_equal(parse_err_str("PUT / HTTP/1.1\r\nHost: h\r\n"
				       "Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"),
			 HTTP_E_TE);
	assert_int_equal(parse_err_str("PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n"
				       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
			 HTTP_E_TE);
	assert_int_equal(http_err_status(HTTP_E_TE), 501);
	assert_int_equal(
		parse_err_str("PUT / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: ChunKed \r\n"
			      "\r\n0\r\n\r\n"),
		HTTP_E_NONE);
	/* Transfer-Encoding in HTTP/1.0 is faulty framing. */
	assert_int_equal(parse_err_str("PUT / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"
				       "0\r\n\r\n"),
			 HTTP_E_FRAMING);
	assert_int_equal(http_err_status(HTTP_E_FRAMING), 400);
}

static void
test_content_length_forms(void **state)
{
	(void)state;
	/* Repeated, equal or not: refused. */
	assert_int_equal(parse_err_str("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
				       "Content-Length: 5\r\n\r\nhello"),
			 HTTP_E_LENGTH);
	assert_int_equal(parse_err_str("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n"
				       "Content-Length: 6\r\n\r\nhello!"),
			 HTTP_E_LENGTH);
	assert_int_equal(cl_err("5, 5", 1), HTTP_E_LENGTH);
	assert_int_equal(cl_err("", 1), HTTP_E_LENGTH);
	assert_int_equal(cl_err("-1", 1), HTTP_E_LENGTH);
	assert_int_equal(cl_err("+5", 1), HTTP_E_LENGTH);
	assert_int_equal(cl_err("0x10", 1), HTTP_E_LENGTH);
	assert_int_equal(cl_err("1 2", 1), HTTP_E_LENGTH);
	assert_int_equal(cl_err("0", 1), HTTP_E_NONE);
	assert_int_equal(parse_err_str("PUT / HTTP/1.1\r\nHost: h\r\nContent-Length:  5 \r\n\r\n"
				       "hello"),
			 HTTP_E_NONE);
	assert_int_equal(http_err_status(HTTP_E_LENGTH), 400);
}

/* ----------------------------------------------------------- HTTP/1.0, Host */

static void
test_http10(void **state)
{
	struct tr t = {0};

	(void)state;
	drive_str(NULL, "GET /x HTTP/1.0\r\n\r\nGET /y HTTP/1.0\r\n\r\n", &t);
	assert_string_equal(t.buf, "HEAD GET /x 1.0 host=- ka=0 exp=0\n"
				   "DONE ka=0\n"
				   "EOF 0 pending=0\n");
	tr_free(&t);
	drive_str(NULL,
		  "GET /x HTTP/1.0\r\nConnection: keep-alive\r\nHost: h\r\n\r\n"
		  "PUT /y HTTP/1.0\r\nConnection: Keep-Alive\r\nContent-Length: 2\r\n"
		  "Expect: 100-continue\r\n\r\nhi"
		  "GET /z HTTP/1.0\r\n\r\n",
		  &t);
	assert_string_equal(t.buf, "HEAD GET /x 1.0 host=h ka=1 exp=0\n"
				   "  Connection: keep-alive\n"
				   "  Host: h\n"
				   "DONE ka=1\n"
				   "HEAD PUT /y 1.0 host=- len=2 ka=1 exp=0\n"
				   "  Connection: Keep-Alive\n"
				   "  Content-Length: 2\n"
				   "  Expect: 100-continue\n"
				   "BODY 2 hi\n"
				   "DONE ka=1\n"
				   "HEAD GET /z 1.0 host=- ka=0 exp=0\n"
				   "DONE ka=0\n"
				   "EOF 0 pending=0\n");
	tr_free(&t);
	/* HTTP/1.1 is keep-alive unless closed. */
	drive_str(NULL, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", &t);
	assert_non_null(strstr(t.buf, "DONE ka=0\n"));
	tr_free(&t);
}

static void
test_host_rules(void **state)
{
	struct tr t = {0};

	(void)state;
	assert_int_equal(parse_err_str("GET / HTTP/1.1\r\n\r\n"), HTTP_E_HOST);
	assert_int_equal(parse_err_str("GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n"),
			 HTTP_E_HOST);
	assert_int_equal(parse_err_str("GET http://a/x HTTP/1.1\r\nHost: b\r\n\r\n"), HTTP_E_HOST);
	assert_int_equal(parse_err_str("GET http://a:80/x HTTP/1.1\r\nHost: a\r\n\r\n"),
			 HTTP_E_HOST);
	assert_int_equal(
		parse_err_str("GET http://A.example/x HTTP/1.1\r\nHost: a.EXAMPLE\r\n\r\n"),
		HTTP_E_NONE);
	drive_str(NULL, "GET http://a.example:9000/x?y HTTP/1.0\r\n\r\n", &t);
	assert_non_null(strstr(t.buf, "host=a.example:9000 "));
	tr_free(&t);
	assert_int_equal(http_err_status(HTTP_E_HOST), 400);
}

/* ------------------------------------------------------------- malformed */

static void
test_malformed(void **state)
{
	static const struct {
		const char *req;
		size_t len;
		enum http_err err;
	} cases[] = {
#define C(s, e) {s, sizeof(s) - 1, e}
		C("GET\r\n\r\n", HTTP_E_SYNTAX),
		C("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_E_SYNTAX),
		C("GET / XTTP/1.1\r\nHost: h\r\n\r\n", HTTP_E_SYNTAX),
		C("GET / HTTP/1.1\rX", HTTP_E_SYNTAX),
		C("GET / HTTP/2.0\r\nHost: h\r\n\r\n", HTTP_E_VERSION),
		C("GET / HTTP/1.2\r\nHost: h\r\n\r\n", HTTP_E_VERSION),
		C("GET / HTTP/0.9\r\n\r\n", HTTP_E_VERSION),
		C("GET / HTTP/1.x\r\n\r\n", HTTP_E_VERSION),
		C("GET / HTTP/11\r\n\r\n", HTTP_E_VERSION),
		C("GET /\r\n\r\n", HTTP_E_VERSION),
		C("FOO / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_E_METHOD),
		C("GETS / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_E_METHOD),
		C("CONNECT h:443 HTTP/1.1\r\nHost: h:443\r\n\r\n", HTTP_E_METHOD),
		C("get / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_E_SYNTAX),
		C("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", HTTP_E_SYNTAX),
		C("G\0T / HTTP/1.1\r\n\r\n", HTTP_E_SYNTAX),
		C("GET * HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_E_SYNTAX),
		C("GET /a#frag HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_E_SYNTAX),
		C("GET ftp://h/x HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_E_SYNTAX),
		C("GET http://u@h/x HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_E_SYNTAX),
		C("GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_E_SYNTAX),
		C("GET /\xc3\xa9 HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_E_SYNTAX),
		C("GET / HTTP/1.1\r\nHost: h\r\nBad Header: x\r\n\r\n", HTTP_E_SYNTAX),
		C("GET / HTTP/1.1\r\nHost: h\r\nBad-Header : x\r\n\r\n", HTTP_E_SYNTAX),
		C("GET / HTTP/1.1\r\nHost: h\r\nNoColon\r\n\r\n", HTTP_E_SYNTAX),
		C("GET / HTTP/1.1\r\nHost: h\r\n: empty\r\n\r\n", HTTP_E_SYNTAX),
		C("GET / HTTP/1.1\r\nHost: h\r\nX: a\x01"
		  "b\r\n\r\n",
		  HTTP_E_SYNTAX),
		C("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n folded\r\n\r\n", HTTP_E_SYNTAX),
		C("GET / HTTP/1.1\r\nHost: h\r\nX: a\r\n\tfolded\r\n\r\n", HTTP_E_SYNTAX),
		/* A fold after an empty value: the parser would take it for the value. */
		C("GET / HTTP/1.1\r\nHost: h\r\nX:\r\n folded\r\n\r\n", HTTP_E_SYNTAX),
		C("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
		  HTTP_E_SYNTAX),
		C("GET / HTTP/1.1\r\n Host: h\r\n\r\n", HTTP_E_SYNTAX),
		C("GET / HTTP/1.1\r\nHost: h\r\nX: a\rY: b\r\n\r\n", HTTP_E_SYNTAX),
		C("GET / HTTP/1.1\r\nHost: h\r\n\rX", HTTP_E_SYNTAX),
		/* What libhttp_parser built non-strict (Debian) would let through. */
		C("GET / HXXP/1.1\r\nHost: h\r\n\r\n", HTTP_E_VERSION),
		C("GET / HTTP\0"
		  "1.1\r\nHost: h\r\n\r\n",
		  HTTP_E_VERSION),
		C("GET / HTTP/1.1\r\nHost: h\r\nA b: x\r\n\r\n", HTTP_E_SYNTAX),
		C("GET / HTTP/1.1\r\nHost: h\r\nA: \x01\r\n\r\n", HTTP_E_SYNTAX),
		C("GET / HTTP/1.1\r\nHost: h\r\nA:\x7f\r\n\r\n", HTTP_E_SYNTAX),
		C("GET /a\tb HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_E_SYNTAX),
		C("GET /a\fb HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_E_SYNTAX),
		C("GET / HTTP/1.1\r\nHost: h\r\nA:\r X\r\n\r\n", HTTP_E_SYNTAX),
		C("GET / HTTP/1.1\rXHost: h\r\n\r\n", HTTP_E_SYNTAX),
		C("\rGET / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_E_SYNTAX),
		/* Refused as soon as seen, before the head is complete. */
		C("GET /a\tb HTTP/1.1\r\nHost: h\r\n", HTTP_E_SYNTAX),
		C("GET /\xc3\xa9 HTTP/1.1\r\n", HTTP_E_SYNTAX),
		C("GET / HTTP/1.1\r\nA b: x\r\n", HTTP_E_SYNTAX),
		C("GET / HXXP/1.1\r\n", HTTP_E_VERSION),
		/* Accepted oddities (bare LF line ends, empty values, OWS). */
		C("GET / HTTP/1.1\nHost: h\n\n", HTTP_E_NONE),
		C("GET / HTTP/1.1\r\nHost: h\r\nX-Empty:\r\nY:   \t\r\n\r\n", HTTP_E_NONE),
		C("\r\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", HTTP_E_NONE),
#undef C
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum http_err e = parse_err(NULL, cases[i].req, cases[i].len);

		if (e != cases[i].err)
			fail_msg("case %zu (%s): err %d, want %d", i, cases[i].req, e,
				 cases[i].err);
	}
}

static void
test_header_values_trimmed(void **state)
{
	struct tr t = {0};

	(void)state;
	drive_str(NULL, "GET / HTTP/1.1\r\nHost:h\r\nX-A:  spaced out \t \r\nX-B:\r\n\r\n", &t);
	assert_string_equal(t.buf, "HEAD GET / 1.1 host=h ka=1 exp=0\n"
				   "  Host: h\n"
				   "  X-A: spaced out\n"
				   "  X-B: \n"
				   "DONE ka=1\n"
				   "EOF 0 pending=0\n");
	tr_free(&t);
}

/* ----------------------------------------------------------- backpressure */

static void
test_backpressure(void **state)
{
	enum { BODY = 100000 };
	uint64_t seed = 42;
	char *req = malloc(BODY + 256), *creq = malloc(BODY * 2 + 256);
	uint8_t *body = malloc(BODY);
	size_t n, cn = 0;

	(void)state;
	assert_non_null(req);
	assert_non_null(creq);
	assert_non_null(body);
	tu_fill(&seed, body, BODY);
	n = (size_t)sprintf(req, "PUT /big HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n",
			    BODY);
	memcpy(req + n, body, BODY);
	n += BODY;
	cn = (size_t)sprintf(creq,
			     "PUT /big HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n");
	for (size_t off = 0; off < BODY;) {
		size_t k = 1 + tu_rand(&seed) % 5000;

		if (k > BODY - off)
			k = BODY - off;
		cn += (size_t)sprintf(creq + cn, "%zx\r\n", k);
		memcpy(creq + cn, body + off, k);
		cn += k;
		memcpy(creq + cn, "\r\n", 2);
		cn += 2;
		off += k;
	}
	memcpy(creq + cn, "0\r\n\r\n", 5);
	cn += 5;

	for (int which = 0; which < 2; which++) {
		const char *in = which ? creq : req;
		size_t len = which ? cn : n;
		struct tr ref = {0};
		struct feed whole = {NULL, 0, 0, 0};

		drive(NULL, in, len, &whole, &ref);
		assert_non_null(memmem(ref.buf, ref.len, "DONE ka=1\n", 10));
		/* The body recorded is exactly the body sent. */
		{
			const char *b = strstr(ref.buf, "BODY 100000 ");

			assert_non_null(b);
			assert_memory_equal(b + 12, body, BODY);
		}
		for (int mode = 0; mode < 6; mode++) {
			size_t cuts[64];
			struct feed f = {cuts, 64, 0, 1};
			struct tr t = {0};

			for (size_t j = 0; j < 64; j++)
				cuts[j] = len * j / 64;
			f.maxfeed = mode == 0 ? 0 : (size_t)1 << (mode * 3); /* 8 .. 32768 */
			drive(NULL, in, len, &f, &t);
			assert_tr_equal(&ref, &t, "backpressure mode", (size_t)mode);
			tr_free(&t);
		}
		tr_free(&ref);
	}
	free(req);
	free(creq);
	free(body);
}

/* A caller that takes a body piece only after a delay sees the same bytes. */
static void
test_backpressure_resume(void **state)
{
	static const char req[] =
		"PUT /k HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789";
	size_t len = sizeof(req) - 1, off = 0, used;
	struct http_conn *c;
	struct http_event ev;
	char got[16];
	size_t ng = 0;

	(void)state;
	assert_int_equal(http_conn_new(&c, NULL), 0);
	assert_int_equal(http_feed(c, req, len - 7, &used, &ev), 0);
	assert_int_equal(ev.type, HTTP_EV_HEAD);
	off += used;
	assert_int_equal(http_feed(c, req + off, len - 7 - off, &used, &ev), 0);
	assert_int_equal(ev.type, HTTP_EV_BODY);
	assert_int_equal(ev.len, 3);
	memcpy(got + ng, ev.data, ev.len);
	ng += ev.len;
	off += used;
	/* ... the consumer is busy; later the rest arrives and is fed on. */
	assert_int_equal(http_feed(c, req + off, len - off, &used, &ev), 0);
	assert_int_equal(ev.type, HTTP_EV_BODY);
	memcpy(got + ng, ev.data, ev.len);
	ng += ev.len;
	off += used;
	assert_int_equal(off, len);
	assert_memory_equal(got, "0123456789", 10);
	assert_int_equal(ng, 10);
	assert_int_equal(http_feed(c, NULL, 0, &used, &ev), 0);
	assert_int_equal(ev.type, HTTP_EV_DONE);
	http_conn_free(c);
}

/* ------------------------------------------------------------- connection */

static void
test_conn_misc(void **state)
{
	struct http_limits lim;
	struct http_conn *c;
	struct http_event ev;
	size_t used;

	(void)state;
	assert_int_equal(http_conn_new(NULL, NULL), CS_EINVAL);
	http_limits_init(&lim);
	lim.max_head = HTTP_MAX_HEAD_CEILING + 1;
	assert_int_equal(http_conn_new(&c, &lim), CS_ERANGE);
	assert_null(c);
	http_limits_init(&lim);
	lim.max_headers = 0;
	assert_int_equal(http_conn_new(&c, &lim), CS_ERANGE);
	http_limits_init(&lim);
	lim.max_target = lim.max_head + 1;
	assert_int_equal(http_conn_new(&c, &lim), CS_ERANGE);
	http_limits_init(&lim);
	assert_int_equal(lim.max_head, 16384);
	assert_int_equal(lim.max_headers, 100);
	assert_true(lim.max_body == 5ull * 1024 * 1024 * 1024);
	assert_true(http_conn_size(NULL) == http_conn_size(&lim));
	assert_true(http_conn_size(NULL) >= 16384 + 100 * sizeof(struct http_header));
	assert_true(http_conn_size(NULL) <= 16384 + 100 * sizeof(struct http_header) + 1024);
	http_conn_free(NULL);

	assert_int_equal(http_conn_new(&c, NULL), 0);
	assert_int_equal(http_feed(NULL, "x", 1, &used, &ev), CS_EINVAL);
	assert_int_equal(http_feed(c, NULL, 1, &used, &ev), CS_EINVAL);
	assert_int_equal(http_feed(c, "x", 1, NULL, &ev), CS_EINVAL);
	assert_int_equal(http_feed(c, "x", 1, &used, NULL), CS_EINVAL);
	assert_int_equal(http_conn_eof(c), HTTP_E_NONE);
	assert_int_equal(http_feed(c, "GE", 2, &used, &ev), 0);
	assert_int_equal(ev.type, HTTP_EV_MORE);
	assert_int_equal(http_conn_eof(c), HTTP_E_TRUNCATED);
	assert_int_equal(http_feed(c, "X / HTTP/1.1\r\n", 14, &used, &ev), 0);
	assert_int_equal(ev.type, HTTP_EV_ERROR);
	/* Errors are sticky. */
	assert_int_equal(http_feed(c, "GET", 3, &used, &ev), 0);
	assert_int_equal(ev.type, HTTP_EV_ERROR);
	assert_int_equal(ev.err, HTTP_E_METHOD);
	assert_int_equal(used, 0);
	assert_int_equal(http_conn_eof(c), HTTP_E_METHOD);
	assert_int_equal(http_next(c), CS_EINVAL);
	assert_null(http_conn_request(c));
	http_conn_free(c);
}

static void
test_err_table(void **state)
{
	(void)state;
	for (int e = HTTP_E_NONE + 1; e < HTTP_E_COUNT; e++) {
		int s = http_err_status((enum http_err)e);

		assert_true(s == 400 || s == 413 || s == 414 || s == 431 || s == 501 || s == 505);
		assert_true(strlen(http_err_str((enum http_err)e)) > 0);
	}
	assert_int_equal(http_err_status(HTTP_E_COUNT), 400);
	assert_int_equal(http_err_status((enum http_err) - 1), 400);
	assert_string_equal(http_err_str(HTTP_E_COUNT), "unknown error");
	assert_int_equal(http_err_status(HTTP_E_VERSION), 505);
	assert_int_equal(http_err_status(HTTP_E_METHOD), 501);
}

static void
test_header_lookup(void **state)
{
	static const char req[] = "GET / HTTP/1.1\r\nHost: h\r\nx-amz-meta-a: 1\r\nOther: o\r\n"
				  "X-Amz-Meta-A: 2\r\nX-AMZ-META-A: 3\r\nx-amz-meta-ab: no\r\n\r\n";
	const struct http_request *r;
	const struct http_header *h;
	struct http_conn *c;
	struct http_event ev;
	size_t used, n = 0;
	char seen[8] = "";

	(void)state;
	assert_int_equal(http_conn_new(&c, NULL), 0);
	assert_int_equal(http_feed(c, req, sizeof(req) - 1, &used, &ev), 0);
	assert_int_equal(ev.type, HTTP_EV_HEAD);
	r = http_conn_request(c);
	assert_non_null(r);
	h = http_header_find(r, "HOST");
	assert_non_null(h);
	assert_string_equal(h->value, "h");
	assert_null(http_header_find(r, "Hos"));
	assert_null(http_header_find(r, "Hostx"));
	for (h = http_header_next(r, "X-amz-META-a", NULL); h != NULL;
	     h = http_header_next(r, "x-amz-meta-a", h))
		seen[n++] = h->value[0];
	assert_string_equal(seen, "123");
	assert_null(http_header_find(NULL, "host"));
	http_conn_free(c);
}

/* -------------------------------------------------------------------- url */

static void
test_url_parse(void **state)
{
	struct http_url u;

	(void)state;
	assert_int_equal(http_url_parse("/b/k%20x?uploads&x=1", 20, &u), 0);
	assert_null(u.authority);
	assert_int_equal(u.path_len, 8);
	assert_memory_equal(u.path, "/b/k%20x", 8);
	assert_int_equal(u.query_len, 11);
	assert_memory_equal(u.query, "uploads&x=1", 11);

	assert_int_equal(http_url_parse("/", 1, &u), 0);
	assert_null(u.query);
	assert_int_equal(http_url_parse("/a?", 3, &u), 0);
	assert_non_null(u.query);
	assert_int_equal(u.query_len, 0);
	assert_int_equal(u.path_len, 2);

	assert_int_equal(http_url_parse("http://Host.example:9000/p/q?r", 30, &u), 0);
	assert_int_equal(u.authority_len, 17);
	assert_memory_equal(u.authority, "Host.example:9000", 17);
	assert_int_equal(u.path_len, 4);
	assert_memory_equal(u.path, "/p/q", 4);
	assert_int_equal(u.query_len, 1);
	assert_int_equal(http_url_parse("https://h", 9, &u), 0);
	assert_memory_equal(u.authority, "h", 1);
	assert_int_equal(u.authority_len, 1);
	assert_string_equal(u.path, "/");
	assert_int_equal(http_url_parse("http://h?x=1", 12, &u), 0);
	assert_int_equal(u.authority_len, 1);
	assert_string_equal(u.path, "/");
	assert_int_equal(u.query_len, 3);
	assert_int_equal(http_url_parse("http://[::1]:80/x", 17, &u), 0);
	assert_int_equal(u.authority_len, 8);
	assert_memory_equal(u.authority, "[::1]:80", 8);

	static const char *const bad[] = {"*",    "h:443", "ftp://h/",  "http://u@h/",
					  "/a#b", "a/b",   "http:///x", "http://h:99999/",
					  "/a b", "/\x7f"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (http_url_parse(bad[i], strlen(bad[i]), &u) != CS_EINVAL)
			fail_msg("accepted %s", bad[i]);
	}
	assert_int_equal(http_url_parse("", 0, &u), CS_EINVAL);
	assert_int_equal(http_url_parse(NULL, 1, &u), CS_EINVAL);
	{
		static char longurl[70000];

		memset(longurl, 'a', sizeof(longurl));
		longurl[0] = '/';
		assert_int_equal(http_url_parse(longurl, sizeof(longurl), &u), CS_ERANGE);
	}
}

static void
test_pct_decode(void **state)
{
	char out[64];
	size_t n;

	(void)state;
	assert_int_equal(http_pct_decode(out, sizeof(out), "a%20b%2F%2fc", 12, 0, &n), 0);
	assert_int_equal(n, 6);
	assert_string_equal(out, "a b//c");
	assert_int_equal(http_pct_decode(out, sizeof(out), "a+b", 3, 0, &n), 0);
	assert_string_equal(out, "a+b");
	assert_int_equal(http_pct_decode(out, sizeof(out), "a+b", 3, HTTP_PCT_PLUS, &n), 0);
	assert_string_equal(out, "a b");
	assert_int_equal(http_pct_decode(out, sizeof(out), "%e2%82%AC", 9, 0, &n), 0);
	assert_string_equal(out, "\xe2\x82\xac");
	assert_int_equal(http_pct_decode(out, sizeof(out), "", 0, 0, &n), 0);
	assert_int_equal(n, 0);
	/* Malformed escapes. */
	static const char *const bad[] = {"%", "%2", "a%", "%zz", "%2g", "%g2", "% 20", "%%"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(http_pct_decode(out, sizeof(out), bad[i], strlen(bad[i]), 0, &n),
				 CS_EINVAL);
	/* NUL: refused on request, passed through otherwise. */
	assert_int_equal(http_pct_decode(out, sizeof(out), "a%00b", 5, HTTP_PCT_NO_NUL, &n),
			 CS_EINVAL);
	assert_int_equal(http_pct_decode(out, sizeof(out), "a%00b", 5, 0, &n), 0);
	assert_int_equal(n, 3);
	assert_memory_equal(out, "a\0b", 4);
	/* Output space, including the NUL. */
	assert_int_equal(http_pct_decode(out, 3, "abc", 3, 0, &n), CS_ERANGE);
	assert_int_equal(http_pct_decode(out, 4, "abc", 3, 0, &n), 0);
	assert_int_equal(http_pct_decode(out, 2, "%41%42", 6, 0, &n), CS_ERANGE);
	assert_int_equal(http_pct_decode(out, 3, "%41%42", 6, 0, &n), 0);
	assert_string_equal(out, "AB");
	/* In place. */
	{
		char buf[] = "x%41y%42%43z";

		assert_int_equal(http_pct_decode(buf, sizeof(buf), buf, strlen(buf), 0, &n), 0);
		assert_string_equal(buf, "xAyBCz");
	}
	assert_int_equal(http_pct_decode(NULL, 1, "a", 1, 0, &n), CS_EINVAL);
}

/* --------------------------------------------------------------- response */

#define RFC_DATE ((time_t)784111777) /* Sun, 06 Nov 1994 08:49:37 GMT */

static void
test_date(void **state)
{
	char d[HTTP_DATE_LEN + 1];

	(void)state;
	assert_int_equal(http_date(d, sizeof(d), RFC_DATE), 0);
	assert_string_equal(d, "Sun, 06 Nov 1994 08:49:37 GMT");
	assert_int_equal(http_date(d, sizeof(d), 0), 0);
	assert_string_equal(d, "Thu, 01 Jan 1970 00:00:00 GMT");
	assert_int_equal(http_date(d, sizeof(d), (time_t)951782400), 0); /* leap day */
	assert_string_equal(d, "Tue, 29 Feb 2000 00:00:00 GMT");
	assert_int_equal(http_date(d, sizeof(d), (time_t)253402300799), 0);
	assert_string_equal(d, "Fri, 31 Dec 9999 23:59:59 GMT");
	assert_int_equal(http_date(d, sizeof(d), (time_t)253402300800), CS_ERANGE);
	assert_int_equal(http_date(d, HTTP_DATE_LEN, RFC_DATE), CS_ERANGE);
	assert_int_equal(strlen(d), HTTP_DATE_LEN);
}

static void
test_response_golden(void **state)
{
	static const struct http_header extra[] = {
		{"ETag", 4, "\"d41d8cd98f00b204e9800998ecf8427e\"", 34},
		{"x-amz-request-id", 16, "4442587FB7D0A2F9", 16},
	};
	struct http_response r;
	char buf[1024];
	size_t n;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.status = 200;
	r.body = HTTP_BODY_LENGTH;
	r.content_length = 5368709120ull;
	r.keep_alive = 1;
	r.date = RFC_DATE;
	r.headers = extra;
	r.nheaders = 2;
	assert_int_equal(http_response_head(buf, sizeof(buf), &r, &n), 0);
	assert_string_equal(buf, "HTTP/1.1 200 OK\r\n"
				 "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
				 "Server: cryptstore\r\n"
				 "ETag: \"d41d8cd98f00b204e9800998ecf8427e\"\r\n"
				 "x-amz-request-id: 4442587FB7D0A2F9\r\n"
				 "Content-Length: 5368709120\r\n"
				 "Connection: keep-alive\r\n"
				 "\r\n");
	assert_int_equal(n, strlen(buf));
	/* Every buffer size short of the need (including the NUL) is refused. */
	for (size_t sz = 0; sz <= n; sz++) {
		size_t m = 12345;

		assert_int_equal(http_response_head(buf, sz, &r, &m), CS_ERANGE);
		assert_int_equal(m, 12345);
	}

	memset(&r, 0, sizeof(r));
	r.status = 200;
	r.body = HTTP_BODY_CHUNKED;
	r.date = RFC_DATE;
	assert_int_equal(http_response_head(buf, sizeof(buf), &r, &n), 0);
	assert_string_equal(buf, "HTTP/1.1 200 OK\r\n"
				 "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
				 "Server: cryptstore\r\n"
				 "Transfer-Encoding: chunked\r\n"
				 "Connection: close\r\n"
				 "\r\n");

	memset(&r, 0, sizeof(r));
	r.status = 204;
	r.keep_alive = 1;
	r.date = RFC_DATE;
	assert_int_equal(http_response_head(buf, sizeof(buf), &r, &n), 0);
	assert_string_equal(buf, "HTTP/1.1 204 No Content\r\n"
				 "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
				 "Server: cryptstore\r\n"
				 "Connection: keep-alive\r\n"
				 "\r\n");

	r.status = http_err_status(HTTP_E_TOO_LARGE);
	r.body = HTTP_BODY_LENGTH;
	r.content_length = 0;
	r.keep_alive = 0;
	assert_int_equal(http_response_head(buf, sizeof(buf), &r, &n), 0);
	assert_string_equal(buf, "HTTP/1.1 413 Payload Too Large\r\n"
				 "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
				 "Server: cryptstore\r\n"
				 "Content-Length: 0\r\n"
				 "Connection: close\r\n"
				 "\r\n");
	r.status = 431;
	assert_int_equal(http_response_head(buf, sizeof(buf), &r, &n), 0);
	assert_true(strncmp(buf, "HTTP/1.1 431 Request Header Fields Too Large\r\n", 46) == 0);
	r.status = 599; /* no standard phrase: empty reason */
	assert_int_equal(http_response_head(buf, sizeof(buf), &r, &n), 0);
	assert_true(strncmp(buf, "HTTP/1.1 599 \r\nDate", 19) == 0);
	assert_string_equal(http_reason(505), "HTTP Version Not Supported");
	assert_string_equal(http_reason(414), "URI Too Long");
	assert_string_equal(http_reason(42), "");

	assert_int_equal(strlen(HTTP_100_CONTINUE), 25);
	assert_string_equal(HTTP_100_CONTINUE, "HTTP/1.1 100 Continue\r\n\r\n");
}

static void
test_response_refusals(void **state)
{
	static const struct http_header bad[] = {
		{"X-Evil", 6, "a\r\nSet-Cookie: x=1", 18},
		{"X-Evil", 6, "a\nb", 3},
		{"X-Evil", 6, "a\rb", 3},
		{"X-Evil", 6, "a\0b", 3},
		{"X-Evil", 6, "a\x7f", 2},
		{"X-Evil\r\nA", 9, "v", 1},
		{"X Evil", 6, "v", 1},
		{"X-Evil:", 7, "v", 1},
		{"", 0, "v", 1},
		{"content-length", 14, "0", 1},
		{"Transfer-Encoding", 17, "chunked", 7},
		{"Connection", 10, "close", 5},
		{"Date", 4, "x", 1},
		{"SERVER", 6, "x", 1},
	};
	static const struct http_header good = {"X-Ok", 4, "tab\tand obs-text \xe9", 18};
	struct http_response r;
	char buf[1024];
	size_t n;

	(void)state;
	memset(&r, 0, sizeof(r));
	r.status = 200;
	r.body = HTTP_BODY_LENGTH;
	r.keep_alive = 1;
	r.date = RFC_DATE;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r.headers = &bad[i];
		r.nheaders = 1;
		if (http_response_head(buf, sizeof(buf), &r, &n) != CS_EINVAL)
			fail_msg("header %zu accepted", i);
	}
	r.headers = &good;
	assert_int_equal(http_response_head(buf, sizeof(buf), &r, &n), 0);
	assert_non_null(strstr(buf, "\r\nX-Ok: tab\tand obs-text \xe9\r\n"));
	r.headers = NULL;
	r.nheaders = 0;
	/* Statuses and framing that cannot be right. */
	r.status = 100;
	assert_int_equal(http_response_head(buf, sizeof(buf), &r, &n), CS_EINVAL);
	r.status = 600;
	assert_int_equal(http_response_head(buf, sizeof(buf), &r, &n), CS_EINVAL);
	r.status = 204;
	assert_int_equal(http_response_head(buf, sizeof(buf), &r, &n), CS_EINVAL);
	r.status = 200;
	r.body = HTTP_BODY_NONE; /* keep-alive without a length */
	assert_int_equal(http_response_head(buf, sizeof(buf), &r, &n), CS_EINVAL);
	r.keep_alive = 0;
	assert_int_equal(http_response_head(buf, sizeof(buf), &r, &n), 0);
	r.body = HTTP_BODY_CHUNKED;
	r.http10 = 1;
	assert_int_equal(http_response_head(buf, sizeof(buf), &r, &n), CS_EINVAL);
	r.body = (enum http_body_kind)7;
	r.http10 = 0;
	assert_int_equal(http_response_head(buf, sizeof(buf), &r, &n), CS_EINVAL);
	assert_int_equal(http_response_head(NULL, 10, &r, &n), CS_EINVAL);
}

static void
test_chunk_head(void **state)
{
	char buf[32];
	size_t n;

	(void)state;
	assert_int_equal(http_chunk_head(buf, sizeof(buf), 0x1000, &n), 0);
	assert_string_equal(buf, "1000\r\n");
	assert_int_equal(n, 6);
	assert_int_equal(http_chunk_head(buf, sizeof(buf), 1, &n), 0);
	assert_string_equal(buf, "1\r\n");
	assert_int_equal(http_chunk_head(buf, sizeof(buf), UINT64_MAX, &n), 0);
	assert_string_equal(buf, "ffffffffffffffff\r\n");
	assert_int_equal(http_chunk_head(buf, sizeof(buf), 0, &n), 0);
	assert_string_equal(buf, "0\r\n\r\n");
	assert_string_equal(buf, HTTP_CHUNK_LAST);
	assert_int_equal(http_chunk_head(buf, 6, 0x1000, &n), CS_ERANGE);
	assert_int_equal(http_chunk_head(buf, 7, 0x1000, &n), 0);
	assert_int_equal(http_chunk_head(buf, 5, 0, &n), CS_ERANGE);

	/* What we write, we parse: a round trip through the request parser. */
	{
		char req[256];
		size_t k = (size_t)sprintf(req, "PUT / HTTP/1.1\r\nHost: h\r\n"
						"Transfer-Encoding: chunked\r\n\r\n");
		struct tr t = {0};

		assert_int_equal(http_chunk_head(req + k, sizeof(req) - k, 3, &n), 0);
		k += n;
		k += (size_t)sprintf(req + k, "abc" HTTP_CHUNK_TAIL);
		assert_int_equal(http_chunk_head(req + k, sizeof(req) - k, 0, &n), 0);
		drive_str(NULL, req, &t);
		assert_non_null(strstr(t.buf, "BODY 3 abc\nDONE ka=1\n"));
		tr_free(&t);
	}
}

/* ------------------------------------------------------------------ fuzz */

static const char *const fuzz_seeds[] = {
	req_awscli_put,
	req_s3cmd_get,
	req_chunked_put,
	req_pipeline,
	"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n",
	"PUT /k HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n",
	"POST /b?delete HTTP/1.1\r\nHost: h\r\nContent-Length: 18446744073709551615\r\n\r\n",
};

static void
fuzz_mutate(uint64_t *s, char *buf, size_t *len, size_t cap)
{
	static const char *const tokens[] = {
		"\r\n",
		"\n",
		"\r",
		"\0",
		" ",
		":",
		"\t",
		"\r\n ",
		"0",
		"99999999999999999999",
		"Content-Length: ",
		"Transfer-Encoding: chunked\r\n",
		"Host: h\r\n",
		";ext=\"x\"",
		"ffffffffffffffff",
		"HTTP/1.0",
		"%00",
		"\xff",
		"\r\n\r\n",
		"chunked",
	};
	int nmut = 1 + (int)(tu_rand(s) % 4);

	for (int m = 0; m < nmut; m++) {
		size_t at = *len ? tu_rand(s) % (*len + 1) : 0;

		switch (tu_rand(s) % 6) {
		case 0: /* flip a byte */
			if (at < *len)
				buf[at] = (char)(tu_rand(s) >> 24);
			break;
		case 1: /* delete a run */
			if (at < *len) {
				size_t k = 1 + tu_rand(s) % 8;

				if (k > *len - at)
					k = *len - at;
				memmove(buf + at, buf + at + k, *len - at - k);
				*len -= k;
			}
			break;
		case 2: /* insert a token */
		case 3: {
			const char *tok = tokens[tu_rand(s) % (sizeof(tokens) / sizeof(tokens[0]))];
			size_t k = tok[0] == '\0' ? 1 : strlen(tok);

			if (*len + k <= cap) {
				memmove(buf + at + k, buf + at, *len - at);
				memcpy(buf + at, tok, k);
				*len += k;
			}
			break;
		}
		case 4: /* duplicate a run */
			if (at < *len) {
				size_t k = 1 + tu_rand(s) % 64;

				if (k > *len - at)
					k = *len - at;
				if (*len + k <= cap) {
					memmove(buf + at + k, buf + at, *len - at);
					*len += k;
				}
			}
			break;
		default: /* truncate */
			*len = at;
			break;
		}
	}
}

static void
test_fuzz(void **state)
{
	enum { ITER = 20000, CAP = 4096 };
	uint64_t seed = 0x5eed5eed5eedull;
	char *buf = malloc(CAP);
	size_t nerr = 0, nok = 0;

	(void)state;
	assert_non_null(buf);
	for (int it = 0; it < ITER; it++) {
		const char *src =
			fuzz_seeds[tu_rand(&seed) % (sizeof(fuzz_seeds) / sizeof(fuzz_seeds[0]))];
		size_t len = strlen(src), cuts[8], ncuts = tu_rand(&seed) % 8;
		struct http_limits lim;
		struct feed f;
		struct tr t = {0};
		struct run r;

		memcpy(buf, src, len);
		fuzz_mutate(&seed, buf, &len, CAP);
		for (size_t j = 0; j < ncuts; j++)
			cuts[j] = len ? tu_rand(&seed) % (len + 1) : 0;
		for (size_t a = 1; a < ncuts; a++)
			for (size_t b = a; b > 0 && cuts[b - 1] > cuts[b]; b--) {
				size_t x = cuts[b];

				cuts[b] = cuts[b - 1];
				cuts[b - 1] = x;
			}
		f.cuts = cuts;
		f.ncuts = ncuts;
		f.maxfeed = tu_rand(&seed) % 4 == 0 ? 1 + tu_rand(&seed) % 9 : 0;
		f.stall = (int)(tu_rand(&seed) % 2);
		http_limits_init(&lim);
		if (tu_rand(&seed) % 4 == 0) { /* tight limits, so that they trip */
			lim.max_head = 64 + (uint32_t)(tu_rand(&seed) % 256);
			lim.max_target = 1 + (uint32_t)(tu_rand(&seed) % lim.max_head);
			lim.max_headers = 1 + (uint32_t)(tu_rand(&seed) % 8);
			lim.max_name = 1 + (uint32_t)(tu_rand(&seed) % 32);
			lim.max_value = 1 + (uint32_t)(tu_rand(&seed) % 64);
			lim.max_body = 1 + tu_rand(&seed) % 32;
		}
		/* The checks are in the driver: rc 0, events well-formed, body in range. */
		r = drive(&lim, buf, len, &f, &t);
		if (r.nerr) {
			int s = http_err_status(r.err);

			assert_true(s == 400 || s == 413 || s == 414 || s == 431 || s == 501 ||
				    s == 505);
			nerr++;
		} else {
			nok++;
		}
		tr_free(&t);
	}
	/* The mutations are neither all fatal nor all harmless. */
	assert_true(nerr > ITER / 10);
	assert_true(nok > ITER / 10);
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_awscli_put),
		cmocka_unit_test(test_split_s3cmd_get),
		cmocka_unit_test(test_split_chunked_put),
		cmocka_unit_test(test_split_pipeline),
		cmocka_unit_test(test_expect_continue_head_first),
		cmocka_unit_test(test_pipeline_pause),
		cmocka_unit_test(test_chunked_variants),
		cmocka_unit_test(test_chunked_total_limit),
		cmocka_unit_test(test_trailer_limits),
		cmocka_unit_test(test_limit_head_bytes),
		cmocka_unit_test(test_limit_target),
		cmocka_unit_test(test_limit_header_count),
		cmocka_unit_test(test_limit_name_value),
		cmocka_unit_test(test_limit_body_length),
		cmocka_unit_test(test_framing_conflicts),
		cmocka_unit_test(test_content_length_forms),
		cmocka_unit_test(test_http10),
		cmocka_unit_test(test_host_rules),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_header_values_trimmed),
		cmocka_unit_test(test_backpressure),
		cmocka_unit_test(test_backpressure_resume),
		cmocka_unit_test(test_conn_misc),
		cmocka_unit_test(test_err_table),
		cmocka_unit_test(test_header_lookup),
		cmocka_unit_test(test_url_parse),
		cmocka_unit_test(test_pct_decode),
		cmocka_unit_test(test_date),
		cmocka_unit_test(test_response_golden),
		cmocka_unit_test(test_response_refusals),
		cmocka_unit_test(test_chunk_head),
		cmocka_unit_test(test_fuzz),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
