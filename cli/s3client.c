/*
 * s3client: signed S3 requests over libcurl (see s3client.h).
 *
 * One request is one or more attempts.  Each attempt resets the libcurl
 * handle (the connection stays in its cache), signs the request afresh
 * (sigv4_signature() over exactly the headers it will send, Host included)
 * and runs it.  A response is sorted by its status as the headers arrive:
 * a 2xx body goes to the caller's sink, anything else into a bounded
 * buffer from which the S3 error code and message are read.
 */
#include "s3client.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "progress.h"
#include "version.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/secmem.h"

#define S3_MAX_ERROR_BODY (64u << 10) /* bytes of an error body kept */
#define S3_MAX_REQ_HDRS   32          /* headers a request may add */
#define CLI_USER_AGENT    "cryptstore-cli/" CRYPTSTORE_VERSION
#define S3_MAX_IDLE       64 /* idle connections a client keeps */

struct s3client {
	char endpoint[CREDS_MAX_ENDPOINT]; /* "scheme://authority" */
	char host[CREDS_MAX_ENDPOINT];     /* the authority: the Host header */
	char region[SIGV4_MAX_REGION + 1];
	char akid[SIGV4_MAX_AKID + 1];
	uint8_t *secret; /* secure memory */
	size_t secret_len;
	const char *cainfo; /* AWS_CA_BUNDLE, or NULL */
	bool verbose;       /* CRYPTSTORE_DEBUG: libcurl traces each request on stderr */
	/* Idle connections, kept so that the next transfer reuses them. */
	pthread_mutex_t idle_mu;
	struct s3conn *idle[S3_MAX_IDLE];
	size_t nidle;
};

struct s3conn {
	struct s3client *cl;
	CURL *h;
	char errbuf[CURL_ERROR_SIZE];
};

/* The state of one attempt, shared with the libcurl callbacks. */
struct xfer {
	const struct s3_req *rq;
	struct s3_resp *rs;
	size_t body_off;  /* request body bytes handed to libcurl */
	int64_t counted;  /* bytes this attempt added to rq->progress */
	size_t body_cap;  /* allocated bytes of rs->body */
	int sink_errno;   /* set when the sink failed */
	bool sink_failed; /* the sink refused a write */
	bool too_big;     /* a kept body outgrew its limit */
};

/* Set from a signal handler, read by every thread: a lock-free atomic is
 * safe in both places (a volatile sig_atomic_t would be only in the first). */
static atomic_int cancel_flag;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2, "the cancel flag must be lock-free");

/* ---- errors ------------------------------------------------------------------------------- */

int
s3err_set(struct s3err *e, enum s3err_kind kind, const char *code, const char *fmt, ...)
{
	va_list ap;

	e->kind = kind;
	snprintf(e->code, sizeof(e->code), "%s", code != NULL ? code : "");
	va_start(ap, fmt);
	vsnprintf(e->message, sizeof(e->message), fmt, ap);
	va_end(ap);
	return -1;
}

int
s3err_sys(struct s3err *e, const char *what)
{
	int saved = errno;

	e->status = 0;
	if (saved == EINTR && s3client_cancelled())
		return s3err_set(e, S3E_INTR, NULL, "interrupted");
	return s3err_set(e, S3E_LOCAL, NULL, "%s: %s", what, strerror(saved));
}

/* ---- process-wide setup -------------------------------------------------------------------- */

int
s3client_global_init(void)
{
	/* A small heap: the CLI keeps one secret and a derived key at a time. */
	if (secmem_init(1u << 16) < 0)
		return -1;
	if (secmem_no_core_dumps() != 0)
		return -1;
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void
s3client_global_cleanup(void)
{
	curl_global_cleanup();
}

void
s3client_cancel(void)
{
	atomic_store(&cancel_flag, 1);
}

bool
s3client_cancelled(void)
{
	return atomic_load(&cancel_flag) != 0;
}

/* ---- client and connections ---------------------------------------------------------------- */

/*
 * endpoint_parse(url, cl): "http[s]://authority[/]" into cl->endpoint and
 * cl->host.  Paths, queries and user information are refused: requests
 * are path-style from the root.
 */
static int
endpoint_parse(const char *url, struct s3client *cl, struct s3err *e)
{
	const char *auth;
	size_t n;

	if (strncasecmp(url, "http://", 7) == 0)
		auth = url + 7;
	else if (strncasecmp(url, "https://", 8) == 0)
		auth = url + 8;
	else
		return s3err_set(e, S3E_USAGE, NULL,
				 "endpoint '%s': must start with http:// or https://", url);
	n = strcspn(auth, "/?#");
	if (n == 0 || !(auth[n] == '\0' || (auth[n] == '/' && auth[n + 1] == '\0')))
		return s3err_set(e, S3E_USAGE, NULL,
				 "endpoint '%s': expected scheme://host[:port] without a path",
				 url);
	for (size_t i = 0; i < n; i++)
		if (auth[i] <= ' ' || auth[i] == '@' || auth[i] == 0x7f || auth[i] == '\\')
			return s3err_set(e, S3E_USAGE, NULL, "endpoint '%s': invalid host", url);
	snprintf(cl->endpoint, sizeof(cl->endpoint), "%.*s", (int)(auth - url + n), url);
	snprintf(cl->host, sizeof(cl->host), "%.*s", (int)n, auth);
	return 0;
}

int
s3client_new(const struct creds *c, struct s3client **out, struct s3err *e)
{
	struct s3client *cl;
	const char *ca = getenv("AWS_CA_BUNDLE");

	*out = NULL;
	if ((cl = calloc(1, sizeof(*cl))) == NULL)
		return s3err_sys(e, "allocating the client");
	if (endpoint_parse(c->endpoint, cl, e) != 0)
		goto err0;
	snprintf(cl->region, sizeof(cl->region), "%s", c->region);
	snprintf(cl->akid, sizeof(cl->akid), "%s", c->akid);
	if (c->secret == NULL || c->secret_len == 0 || c->secret_len > SIGV4_MAX_SECRET) {
		s3err_set(e, S3E_AUTH, NULL, "no secret access key");
		goto err0;
	}
	if ((cl->secret = secmem_alloc(c->secret_len)) == NULL) {
		s3err_set(e, S3E_LOCAL, NULL, "no secure memory for the secret access key");
		goto err0;
	}
	memcpy(cl->secret, c->secret, c->secret_len);
	cl->secret_len = c->secret_len;
	cl->cainfo = ca != NULL && ca[0] != '\0' ? ca : NULL;
	cl->verbose = getenv("CRYPTSTORE_DEBUG") != NULL;
	pthread_mutex_init(&cl->idle_mu, NULL);
	*out = cl;
	return 0;

err0:
	free(cl);
	return -1;
}

void
s3client_free(struct s3client *cl)
{
	if (cl == NULL)
		return;
	for (size_t i = 0; i < cl->nidle; i++) {
		curl_easy_cleanup(cl->idle[i]->h);
		free(cl->idle[i]);
	}
	pthread_mutex_destroy(&cl->idle_mu);
	secmem_free(cl->secret, cl->secret_len);
	OPENSSL_cleanse(cl, sizeof(*cl));
	free(cl);
}

const char *
s3client_endpoint(const struct s3client *cl)
{
	return cl->endpoint;
}

const char *
s3client_region(const struct s3client *cl)
{
	return cl->region;
}

struct s3conn *
s3client_conn_new(struct s3client *cl)
{
	struct s3conn *c = NULL;

	pthread_mutex_lock(&cl->idle_mu);
	if (cl->nidle > 0)
		c = cl->idle[--cl->nidle];
	pthread_mutex_unlock(&cl->idle_mu);
	if (c != NULL)
		return c;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->cl = cl;
	if ((c->h = curl_easy_init()) == NULL) {
		free(c);
		return NULL;
	}
	return c;
}

void
s3client_conn_free(struct s3conn *c)
{
	struct s3client *cl;

	if (c == NULL)
		return;
	cl = c->cl;
	pthread_mutex_lock(&cl->idle_mu);
	if (cl->nidle < S3_MAX_IDLE) {
		cl->idle[cl->nidle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&cl->idle_mu);
	if (c != NULL) {
		curl_easy_cleanup(c->h);
		free(c);
	}
}

void
s3client_resp_free(struct s3_resp *rs)
{
	free(rs->body);
	rs->body = NULL;
	rs->body_len = 0;
}

void
s3client_resp_meta(const struct s3_resp *rs, size_t i, const char **name, const char **value)
{
	const char *p = rs->meta;

	*name = *value = "";
	for (size_t k = 0; k < rs->nmeta; k++) {
		const char *n = p, *v = p + strlen(p) + 1;

		if (k == i) {
			*name = n;
			*value = v;
			return;
		}
		p = v + strlen(v) + 1;
	}
}

/* ---- signing --------------------------------------------------------------------------------- */

struct hdr {
	const char *name;
	const char *value;
};

static int
hdr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct hdr *)a)->name, ((const struct hdr *)b)->name);
}

static bool
hdr_name_ok(const char *s)
{
	if (s[0] == '\0' || strlen(s) > 64)
		return false;
	for (; *s != '\0'; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '-'))
			return false;
	return true;
}

static bool
hdr_value_ok(const char *s)
{
	if (s[0] == '\0' || strlen(s) > 8192)
		return false;
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}

static int
sha256_hex(const void *p, size_t n, char out[65])
{
	uint8_t md[32];
	unsigned int ml = 0;

	if (EVP_Digest(p != NULL ? p : "", n, md, &ml, EVP_sha256(), NULL) != 1 || ml != 32)
		return -1;
	hex_encode(out, md, 32);
	return 0;
}

/*
 * sign(cl, rq, target, out, e): the header list of one attempt: host,
 * x-amz-content-sha256, x-amz-date, the request's own headers, and the
 * Authorization header that signs all of them.
 */
static int
sign(const struct s3client *cl, const struct s3_req *rq, const char *target,
     struct curl_slist **out, struct s3err *e)
{
	struct hdr h[S3_MAX_REQ_HDRS + 3];
	struct sigv4_header sh[S3_MAX_REQ_HDRS + 3];
	struct sigv4_request sr;
	struct sigv4_sign_params sp;
	char amz_date[SIGV4_AMZ_DATE_LEN + 1], date8[9], payload[65], scope[SIGV4_MAX_SCOPE + 1];
	char signed_names[SIGV4_MAX_SIGNED_LEN], sig_hex[65], line[8400];
	uint8_t key[32], sig[32];
	struct curl_slist *list = NULL, *l;
	size_t nh = 0, sn = 0;
	int rc, scope_len;

	*out = NULL;
	if (rq->nhdrs > S3_MAX_REQ_HDRS)
		return s3err_set(e, S3E_USAGE, NULL, "too many request headers");
	if (sigv4_amz_date((int64_t)time(NULL), amz_date) != 0)
		return s3err_set(e, S3E_LOCAL, NULL, "the clock is outside 1970..9999");
	memcpy(date8, amz_date, 8);
	date8[8] = '\0';
	if (rq->body_len <= S3_SMALL_BODY) {
		if (sha256_hex(rq->body, rq->body_len, payload) != 0)
			return s3err_set(e, S3E_LOCAL, NULL, "SHA-256 failed");
	} else {
		snprintf(payload, sizeof(payload), "UNSIGNED-PAYLOAD");
	}
	h[nh++] = (struct hdr){"host", cl->host};
	h[nh++] = (struct hdr){"x-amz-content-sha256", payload};
	h[nh++] = (struct hdr){"x-amz-date", amz_date};
	for (size_t i = 0; i < rq->nhdrs; i++) {
		if (!hdr_name_ok(rq->hdrs[i].name) || !hdr_value_ok(rq->hdrs[i].value))
			return s3err_set(e, S3E_USAGE, NULL, "invalid header '%.64s: %.64s'",
					 rq->hdrs[i].name, rq->hdrs[i].value);
		h[nh++] = (struct hdr){rq->hdrs[i].name, rq->hdrs[i].value};
	}
	qsort(h, nh, sizeof(h[0]), hdr_cmp);
	for (size_t i = 0; i < nh; i++) {
		size_t nl = strlen(h[i].name);

		if (i > 0 && strcmp(h[i - 1].name, h[i].name) == 0)
			return s3err_set(e, S3E_USAGE, NULL, "header '%s' given twice", h[i].name);
		if (sn + nl + 2 > sizeof(signed_names))
			return s3err_set(e, S3E_USAGE, NULL, "too many signed headers");
		if (i > 0)
			signed_names[sn++] = ';';
		memcpy(signed_names + sn, h[i].name, nl);
		sn += nl;
		sh[i] = (struct sigv4_header){h[i].name, nl, h[i].value, strlen(h[i].value)};
	}
	signed_names[sn] = '\0';
	scope_len = snprintf(scope, sizeof(scope), "%s/%s/s3/aws4_request", date8, cl->region);
	if (scope_len < 0 || (size_t)scope_len >= sizeof(scope))
		return s3err_set(e, S3E_USAGE, NULL, "region too long");

	sr = (struct sigv4_request){.method = rq->method,
				    .method_len = strlen(rq->method),
				    .target = target,
				    .target_len = strlen(target),
				    .headers = sh,
				    .nheaders = nh};
	sp = (struct sigv4_sign_params){.signed_headers = signed_names,
					.signed_headers_len = sn,
					.payload = payload,
					.payload_len = strlen(payload),
					.amz_date = amz_date,
					.scope = scope,
					.scope_len = (size_t)scope_len};
	rc = sigv4_signing_key(cl->secret, cl->secret_len, date8, cl->region, "s3", key);
	if (rc == 0)
		rc = sigv4_signature(&sr, &sp, key, sig);
	OPENSSL_cleanse(key, sizeof(key));
	if (rc != 0)
		return s3err_set(e, rc == CS_ERANGE || rc == CS_EINVAL ? S3E_USAGE : S3E_LOCAL,
				 NULL, "cannot sign the request: %s", err_str(rc));
	hex_encode(sig_hex, sig, sizeof(sig));

	for (size_t i = 0; i < nh; i++) {
		snprintf(line, sizeof(line), "%s: %s", h[i].name, h[i].value);
		if ((l = curl_slist_append(list, line)) == NULL)
			goto nomem;
		list = l;
	}
	snprintf(line, sizeof(line),
		 "Authorization: AWS4-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s",
		 cl->akid, scope, signed_names, sig_hex);
	if ((l = curl_slist_append(list, line)) == NULL)
		goto nomem;
	list = l;
	*out = list;
	return 0;

nomem:
	curl_slist_free_all(list);
	return s3err_set(e, S3E_LOCAL, NULL, "out of memory");
}

/* ---- libcurl callbacks ----------------------------------------------------------------------- */

static void
resp_reset_head(struct s3_resp *rs)
{
	rs->content_length = -1;
	rs->etag[0] = rs->content_type[0] = rs->last_modified[0] = rs->content_range[0] = '\0';
	rs->meta_len = rs->nmeta = 0;
}

static void
copy_value(char *out, size_t outsz, const char *v, size_t n)
{
	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, v, n);
	out[n] = '\0';
}

static size_t
on_header(char *buf, size_t size, size_t nitems, void *arg)
{
	struct xfer *x = arg;
	struct s3_resp *rs = x->rs;
	size_t n = size * nitems, nl, vl;
	const char *colon, *v;

	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	if (n >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
		/* A status line: interim (100 Continue) or final; start afresh. */
		const char *sp = memchr(buf, ' ', n);

		resp_reset_head(rs);
		rs->status = 0;
		if (sp != NULL && (size_t)(buf + n - sp) >= 4)
			for (int i = 1; i <= 3 && sp[i] >= '0' && sp[i] <= '9'; i++)
				rs->status = rs->status * 10 + (sp[i] - '0');
		return size * nitems;
	}
	if ((colon = memchr(buf, ':', n)) == NULL)
		return size * nitems;
	nl = (size_t)(colon - buf);
	v = colon + 1;
	vl = n - nl - 1;
	while (vl > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	while (vl > 0 && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
		vl--;
	if (nl == 4 && strncasecmp(buf, "etag", 4) == 0) {
		copy_value(rs->etag, sizeof(rs->etag), v, vl);
	} else if (nl == 12 && strncasecmp(buf, "content-type", 12) == 0) {
		copy_value(rs->content_type, sizeof(rs->content_type), v, vl);
	} else if (nl == 13 && strncasecmp(buf, "last-modified", 13) == 0) {
		copy_value(rs->last_modified, sizeof(rs->last_modified), v, vl);
	} else if (nl == 13 && strncasecmp(buf, "content-range", 13) == 0) {
		copy_value(rs->content_range, sizeof(rs->content_range), v, vl);
	} else if (nl == 14 && strncasecmp(buf, "content-length", 14) == 0) {
		int64_t len = 0;
		size_t i;

		for (i = 0; i < vl && v[i] >= '0' && v[i] <= '9' && len < INT64_MAX / 10 - 9; i++)
			len = len * 10 + (v[i] - '0');
		rs->content_length = i == vl && vl > 0 ? len : -1;
		if (x->rq->progress_total && rs->status >= 200 && rs->status < 300)
			progress_set_total(x->rq->progress, rs->content_length);
	} else if (nl > 11 && strncasecmp(buf, "x-amz-meta-", 11) == 0 &&
		   rs->meta_len + nl - 11 + vl + 2 <= sizeof(rs->meta) &&
		   memchr(v, '\0', vl) == NULL && memchr(buf, '\0', nl) == NULL) {
		memcpy(rs->meta + rs->meta_len, buf + 11, nl - 11);
		rs->meta_len += nl - 11;
		rs->meta[rs->meta_len++] = '\0';
		memcpy(rs->meta + rs->meta_len, v, vl);
		rs->meta_len += vl;
		rs->meta[rs->meta_len++] = '\0';
		rs->nmeta++;
	}
	return size * nitems;
}

/* keep(x, p, n, limit): append to rs->body, up to limit bytes. */
static void
keep(struct xfer *x, const char *p, size_t n, size_t limit)
{
	struct s3_resp *rs = x->rs;

	if (rs->body_len + n > limit) {
		x->too_big = true;
		n = rs->body_len < limit ? limit - rs->body_len : 0;
	}
	if (rs->body_len + n + 1 > x->body_cap) {
		size_t cap = x->body_cap ? x->body_cap : 4096;
		char *nb;

		while (cap < rs->body_len + n + 1)
			cap *= 2;
		if ((nb = realloc(rs->body, cap)) == NULL) {
			x->too_big = true;
			return;
		}
		rs->body = nb;
		x->body_cap = cap;
	}
	memcpy(rs->body + rs->body_len, p, n);
	rs->body_len += n;
	rs->body[rs->body_len] = '\0';
}

static size_t
on_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nmemb;
	bool ok = x->rs->status >= 200 && x->rs->status < 300;

	if (ok && x->rq->sink != NULL) {
		if (x->rq->sink->write(x->rq->sink->arg, p, n) != 0) {
			x->sink_errno = errno;
			x->sink_failed = true;
			return 0; /* not n: libcurl stops with CURLE_WRITE_ERROR */
		}
		x->rs->received += n;
		progress_add(x->rq->progress, (int64_t)n);
		x->counted += (int64_t)n;
		return n;
	}
	keep(x, p, n, ok ? S3_MAX_XML_BODY : S3_MAX_ERROR_BODY);
	if (ok && x->too_big)
		return 0;
	return n;
}

static size_t
on_read(char *buf, size_t size, size_t nitems, void *arg)
{
	struct xfer *x = arg;
	size_t n = size * nitems, left = x->rq->body_len - x->body_off;

	if (n > left)
		n = left;
	if (n > 0) {
		memcpy(buf, (const char *)x->rq->body + x->body_off, n);
		x->body_off += n;
		progress_add(x->rq->progress, (int64_t)n);
		x->counted += (int64_t)n;
	}
	return n;
}

/* on_seek: libcurl rewinds the body to send it again (after a 100-continue
 * refusal, or on a connection it found closed). */
static int
on_seek(void *arg, curl_off_t offset, int origin)
{
	struct xfer *x = arg;

	if (origin != SEEK_SET || offset < 0 || (uint64_t)offset > x->rq->body_len)
		return CURL_SEEKFUNC_CANTSEEK;
	progress_add(x->rq->progress, (int64_t)offset - (int64_t)x->body_off);
	x->counted += (int64_t)offset - (int64_t)x->body_off;
	x->body_off = (size_t)offset;
	return CURL_SEEKFUNC_OK;
}

static int
on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct xfer *x = arg;

	return s3client_cancelled() && !x->rq->cleanup ? 1 : 0;
}

/* ---- one attempt, one request ---------------------------------------------------------------- */

/* target_build(rq): "/bucket/key?query", the key percent-encoded; malloc'ed. */
static char *
target_build(const struct s3_req *rq, struct s3err *e)
{
	size_t bl = rq->bucket ? strlen(rq->bucket) : 0, kl = rq->key ? strlen(rq->key) : 0;
	size_t ql = rq->query ? strlen(rq->query) : 0, cap = 3 + bl * 3 + kl * 3 + ql + 2;
	char *t;
	long n;
	size_t o = 0;

	if (kl > S3_MAX_KEY)
		return s3err_set(e, S3E_USAGE, "KeyTooLongError", "the key is longer than %d bytes",
				 S3_MAX_KEY),
		       NULL;
	if ((t = malloc(cap)) == NULL)
		return s3err_sys(e, "allocating a request"), NULL;
	t[o++] = '/';
	if (rq->bucket != NULL) {
		if ((n = sigv4_uri_encode(t + o, cap - o, rq->bucket, bl, false)) < 0)
			goto range;
		o += (size_t)n;
		if (rq->key != NULL) {
			t[o++] = '/';
			if ((n = sigv4_uri_encode(t + o, cap - o, rq->key, kl, true)) < 0)
				goto range;
			o += (size_t)n;
		}
	}
	if (ql > 0) {
		t[o++] = '?';
		memcpy(t + o, rq->query, ql);
		o += ql;
	}
	t[o] = '\0';
	return t;

range:
	free(t);
	return s3err_set(e, S3E_USAGE, NULL, "request target too long"), NULL;
}

/* auth_code(code): an S3 error code that means "who you are" or "not allowed". */
static bool
auth_code(const char *code)
{
	static const char *const codes[] = {
		"AccessDenied",
		"SignatureDoesNotMatch",
		"InvalidAccessKeyId",
		"RequestTimeTooSkewed",
		"AuthorizationHeaderMalformed",
		"AuthorizationQueryParametersError",
		"MissingSecurityHeader",
		"ExpiredToken",
		"InvalidToken",
		"TokenRefreshRequired",
		"AllAccessDisabled",
		"AccountProblem",
		"InvalidSecurity",
	};

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(code, codes[i]) == 0)
			return true;
	return false;
}

/* http_error(rq, rs, e): *e from a non-2xx answer. */
static int
http_error(const struct s3_req *rq, const struct s3_resp *rs, struct s3err *e)
{
	char code[64] = "", msg[400] = "";
	long status = rs->status;

	if (rs->body != NULL && rs->body_len > 0) {
		const char *v;
		size_t vl, pos = 0;

		if (s3client_xml_next(rs->body, rs->body_len, "Error", &pos, &v, &vl)) {
			if (s3client_xml_get(v, vl, "Code", code, sizeof(code)) < 0)
				code[0] = '\0';
			if (s3client_xml_get(v, vl, "Message", msg, sizeof(msg)) < 0)
				msg[0] = '\0';
		}
	}
	if (code[0] == '\0') {
		switch (status) {
		case 301:
		case 307:
			snprintf(code, sizeof(code), "PermanentRedirect");
			break;
		case 400:
			snprintf(code, sizeof(code), "BadRequest");
			break;
		case 403:
			snprintf(code, sizeof(code), "AccessDenied");
			break;
		case 404:
			snprintf(code, sizeof(code),
				 rq->key != NULL ? "NoSuchKey" : "NoSuchBucket");
			break;
		default:
			snprintf(code, sizeof(code), "HTTP%ld", status);
			break;
		}
	}
	if (msg[0] == '\0')
		snprintf(msg, sizeof(msg), "HTTP status %ld", status);
	e->status = status;
	return s3err_set(e,
			 status == 401 || status == 403 || auth_code(code) ? S3E_AUTH : S3E_SERVER,
			 code, "%s", msg);
}

/* curl_error(c, x, cc, e): *e from a transfer that libcurl gave up on. */
static int
curl_error(const struct s3conn *c, const struct xfer *x, CURLcode cc, struct s3err *e)
{
	const char *detail = c->errbuf[0] != '\0' ? c->errbuf : curl_easy_strerror(cc);

	e->status = 0;
	if (cc == CURLE_WRITE_ERROR && x->sink_failed) {
		char what[4200];

		snprintf(what, sizeof(what), "writing %s",
			 x->rq->sink->name != NULL ? x->rq->sink->name : "the data");
		errno = x->sink_errno;
		return s3err_sys(e, what);
	}
	if (cc == CURLE_WRITE_ERROR && x->too_big)
		return s3err_set(e, S3E_SERVER, NULL, "the response is larger than %u bytes",
				 S3_MAX_XML_BODY);
	switch (cc) {
	case CURLE_ABORTED_BY_CALLBACK:
		return s3err_set(e, S3E_INTR, NULL, "interrupted");
	case CURLE_OUT_OF_MEMORY:
		return s3err_set(e, S3E_LOCAL, NULL, "out of memory");
	case CURLE_URL_MALFORMAT:
	case CURLE_UNSUPPORTED_PROTOCOL:
		return s3err_set(e, S3E_USAGE, NULL, "%s: %s", c->cl->endpoint, detail);
	default:
		return s3err_set(e, S3E_NET, NULL, "%s: %s", c->cl->endpoint, detail);
	}
}

static bool
retryable(CURLcode cc, long status)
{
	switch (cc) {
	case CURLE_OK:
		/* Not 500: cryptstored answers it for objects that fail verification,
		 * which no retry mends. */
		return status == 502 || status == 503 || status == 504;
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
		return true;
	default:
		return false;
	}
}

/* attempt(c, rq, target, rs, x, cc, e): one try.  Returns 0 when the request
 * went out and an answer (any status) came back, else -1 with *cc or *e. */
static int
attempt(struct s3conn *c, const struct s3_req *rq, const char *target, struct s3_resp *rs,
	struct xfer *x, CURLcode *cc, struct s3err *e)
{
	struct curl_slist *hl = NULL;
	char *url;
	size_t ul = strlen(c->cl->endpoint) + strlen(target) + 1;
	bool upload = rq->body != NULL || strcmp(rq->method, "PUT") == 0 ||
		      strcmp(rq->method, "POST") == 0;

	*cc = CURLE_OK;
	if ((url = malloc(ul)) == NULL)
		return s3err_sys(e, "allocating a request");
	snprintf(url, ul, "%s%s", c->cl->endpoint, target);
	if (sign(c->cl, rq, target, &hl, e) != 0) {
		free(url);
		return -1;
	}
	curl_easy_reset(c->h);
	c->errbuf[0] = '\0';
	curl_easy_setopt(c->h, CURLOPT_URL, url);
	curl_easy_setopt(c->h, CURLOPT_PATH_AS_IS, 1L);
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c->h, CURLOPT_USERAGENT, CLI_USER_AGENT);
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->h, CURLOPT_CONNECTTIMEOUT, 10L);
	/* The server gives up on a body paused for 60 s; give up a little later. */
	curl_easy_setopt(c->h, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(c->h, CURLOPT_LOW_SPEED_TIME, 90L);
	curl_easy_setopt(c->h, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c->h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->h, CURLOPT_HEADERDATA, x);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, x);
	curl_easy_setopt(c->h, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c->h, CURLOPT_XFERINFODATA, x);
	curl_easy_setopt(c->h, CURLOPT_NOPROGRESS, 0L);
	if (c->cl->cainfo != NULL)
		curl_easy_setopt(c->h, CURLOPT_CAINFO, c->cl->cainfo);
	if (c->cl->verbose)
		curl_easy_setopt(c->h, CURLOPT_VERBOSE, 1L);
	if (strcmp(rq->method, "HEAD") == 0) {
		curl_easy_setopt(c->h, CURLOPT_NOBODY, 1L);
	} else if (upload) {
		curl_easy_setopt(c->h, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(c->h, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->body_len);
		curl_easy_setopt(c->h, CURLOPT_READFUNCTION, on_read);
		curl_easy_setopt(c->h, CURLOPT_READDATA, x);
		curl_easy_setopt(c->h, CURLOPT_SEEKFUNCTION, on_seek);
		curl_easy_setopt(c->h, CURLOPT_SEEKDATA, x);
		if (strcmp(rq->method, "PUT") != 0)
			curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, rq->method);
	} else if (strcmp(rq->method, "GET") != 0) {
		curl_easy_setopt(c->h, CURLOPT_CUSTOMREQUEST, rq->method);
	}
	*cc = curl_easy_perform(c->h);
	if (*cc == CURLE_OK) {
		long code = 0;

		curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &code);
		rs->status = code;
	}
	curl_slist_free_all(hl);
	free(url);
	return *cc == CURLE_OK ? 0 : -1;
}

/* pause_ms(ms): sleep, cut short by a cancel. */
static void
pause_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (!s3client_cancelled() && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int
s3client_do(struct s3conn *c, const struct s3_req *rq, struct s3_resp *rs, struct s3err *e)
{
	char *target;
	struct xfer x;
	CURLcode cc = CURLE_OK;
	int rc = -1;

	memset(rs, 0, sizeof(*rs));
	memset(e, 0, sizeof(*e));
	if ((target = target_build(rq, e)) == NULL)
		return -1;
	for (int n = 1;; n++) {
		memset(&x, 0, sizeof(x));
		x.rq = rq;
		x.rs = rs;
		s3client_resp_free(rs);
		memset(rs, 0, sizeof(*rs));
		resp_reset_head(rs);
		if (s3client_cancelled() && !rq->cleanup) {
			s3err_set(e, S3E_INTR, NULL, "interrupted");
			goto out;
		}
		if (attempt(c, rq, target, rs, &x, &cc, e) != 0 && cc == CURLE_OK)
			goto out; /* could not even sign or allocate */
		if (cc == CURLE_OK && rs->status >= 200 && rs->status < 300) {
			rc = 0;
			goto out;
		}
		if (n >= S3_MAX_ATTEMPTS || !retryable(cc, rs->status) ||
		    (s3client_cancelled() && !rq->cleanup))
			break;
		if (rq->sink != NULL && rs->received > 0) {
			if (rq->sink->rewind == NULL || rq->sink->rewind(rq->sink->arg) != 0)
				break;
		}
		progress_add(rq->progress, -x.counted);
		pause_ms(100L << n);
	}
	if (cc != CURLE_OK) {
		curl_error(c, &x, cc, e);
		goto out;
	}
	if (strcmp(rq->method, "HEAD") == 0 && rs->status >= 400 && rs->status < 500) {
		/* A HEAD answer has no body to name the error; ask the same as a GET of
		 * one byte, which has. */
		struct s3_hdr h[S3_MAX_REQ_HDRS + 1];
		struct s3_req g = *rq;
		struct s3_resp gr;
		struct s3err ge;

		if (rq->nhdrs < S3_MAX_REQ_HDRS) {
			if (rq->nhdrs > 0)
				memcpy(h, rq->hdrs, rq->nhdrs * sizeof(h[0]));
			h[rq->nhdrs] = (struct s3_hdr){"range", "bytes=0-0"};
			g.method = "GET";
			g.hdrs = h;
			g.nhdrs = rq->nhdrs + 1;
			g.sink = NULL;
			g.progress = NULL;
			if (s3client_do(c, &g, &gr, &ge) != 0 && gr.status == rs->status &&
			    ge.code[0] != '\0') {
				*e = ge;
				s3client_resp_free(&gr);
				goto out;
			}
			s3client_resp_free(&gr);
		}
	}
	http_error(rq, rs, e);
out:
	free(target);
	return rc;
}

/* ---- XML, URLs, digests ---------------------------------------------------------------------- */

bool
s3client_xml_next(const char *xml, size_t n, const char *tag, size_t *pos, const char **val,
		  size_t *vlen)
{
	size_t tl = strlen(tag), i = *pos;
	char close[72];

	if (tl == 0 || tl > 64)
		return false;
	snprintf(close, sizeof(close), "</%s>", tag);
	while (i < n) {
		const char *lt = memchr(xml + i, '<', n - i), *gt, *end;
		size_t j, start;
		char c;

		if (lt == NULL)
			return false;
		j = (size_t)(lt - xml);
		i = j + 1;
		if (n - j < tl + 2 ||
		    memcmp(xml + j + 1, tag, tl) != 0) /* ct-ok: an XML element name */
			continue;
		c = xml[j + 1 + tl];
		if (c != '>' && c != '/' && c != ' ' && c != '\t' && c != '\r' && c != '\n')
			continue;
		if ((gt = memchr(xml + j + 1 + tl, '>', n - (j + 1 + tl))) == NULL)
			return false;
		start = (size_t)(gt - xml) + 1;
		if (gt[-1] == '/') {
			*val = xml + start;
			*vlen = 0;
			*pos = start;
			return true;
		}
		if ((end = memmem(xml + start, n - start, close, tl + 3)) == NULL)
			return false;
		*val = xml + start;
		*vlen = (size_t)(end - (xml + start));
		*pos = (size_t)(end - xml) + tl + 3;
		return true;
	}
	return false;
}

/* utf8_put(out, cp): encode cp; returns its length (1..4). */
static size_t
utf8_put(char *out, unsigned long cp)
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xc0 | cp >> 6);
		out[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xe0 | cp >> 12);
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char)(0xf0 | cp >> 18);
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

long
s3client_xml_text(const char *raw, size_t n, char *out, size_t outsz)
{
	static const struct {
		const char *name;
		char c;
	} ents[] = {{"amp;", '&'}, {"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}};
	size_t o = 0, i = 0;

	if (outsz == 0)
		return -1;
	while (i < n) {
		char enc[4];
		size_t el = 1;

		if (raw[i] == '\0')
			return -1;
		if (raw[i] != '&') {
			enc[0] = raw[i++];
		} else if (i + 2 < n && raw[i + 1] == '#') {
			unsigned long cp = 0;
			size_t k = i + 2;
			bool hexa = raw[k] == 'x';
			int digits = 0;

			k += hexa;
			for (; k < n && raw[k] != ';' && digits < 8; k++, digits++) {
				int d = -1;

				if (raw[k] >= '0' && raw[k] <= '9')
					d = raw[k] - '0';
				else if (hexa && raw[k] >= 'a' && raw[k] <= 'f')
					d = raw[k] - 'a' + 10;
				else if (hexa && raw[k] >= 'A' && raw[k] <= 'F')
					d = raw[k] - 'A' + 10;
				if (d < 0)
					return -1;
				cp = cp * (hexa ? 16 : 10) + (unsigned long)d;
			}
			if (k >= n || raw[k] != ';' || digits == 0 || cp == 0 || cp > 0x10ffff ||
			    (cp >= 0xd800 && cp <= 0xdfff))
				return -1;
			el = utf8_put(enc, cp);
			i = k + 1;
		} else {
			size_t e;

			for (e = 0; e < sizeof(ents) / sizeof(ents[0]); e++) {
				size_t l = strlen(ents[e].name);

				if (n - i - 1 >= l && memcmp(raw + i + 1, ents[e].name, l) == 0) {
					enc[0] = ents[e].c;
					i += 1 + l;
					break;
				}
			}
			if (e == sizeof(ents) / sizeof(ents[0]))
				return -1;
		}
		if (outsz - o <= el)
			return -1;
		memcpy(out + o, enc, el);
		o += el;
	}
	out[o] = '\0';
	return (long)o;
}

long
s3client_xml_get(const char *xml, size_t n, const char *tag, char *out, size_t outsz)
{
	const char *v;
	size_t vl, pos = 0;

	if (!s3client_xml_next(xml, n, tag, &pos, &v, &vl))
		return -1;
	return s3client_xml_text(v, vl, out, outsz);
}

int
s3client_url_decode(char *s)
{
	char *o = s;

	for (; *s != '\0'; s++) {
		if (*s == '%') {
			int hi = hex_value(s[1]), lo = hi >= 0 ? hex_value(s[2]) : -1;

			if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
				return -1;
			*o++ = (char)(hi << 4 | lo);
			s += 2;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
	return 0;
}

int
s3client_query_add(char *q, size_t qsz, const char *name, const char *value)
{
	size_t o = strlen(q), nl = strlen(name);
	long n;

	if (o + (o > 0) + nl + 2 > qsz)
		return -1;
	if (o > 0)
		q[o++] = '&';
	memcpy(q + o, name, nl);
	o += nl;
	q[o++] = '=';
	q[o] = '\0';
	if ((n = sigv4_uri_encode(q + o, qsz - o, value, strlen(value), false)) < 0)
		return -1;
	return 0;
}

int
s3client_md5_b64(const void *p, size_t n, uint8_t md5[16], char b64[25])
{
	unsigned int ml = 0;

	if (EVP_Digest(p != NULL ? p : "", n, md5, &ml, EVP_md5(), NULL) != 1 || ml != 16)
		return -1;
	if (EVP_EncodeBlock((unsigned char *)b64, md5, 16) != 24)
		return -1;
	return 0;
}

bool
s3client_etag_is_md5(const char *etag, uint8_t md5[16])
{
	size_t n = strlen(etag);

	if (n == 34 && etag[0] == '"' && etag[33] == '"') {
		etag++;
		n -= 2;
	}
	return n == 32 && hex_decode(md5, 16, etag, 32) == 16;
}
