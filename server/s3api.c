/*
 * s3api: request routing, authentication, MLS policy and the S3 operations.
 */
#include "s3api.h"
#include "catalog.h"
#include "conn.h"
#include "evloop.h"
#include "identity.h"
#include "keystore/keystore.h"
#include "log.h"
#include "objio.h"
#include "procmodel.h"
#include "s3/awschunked.h"
#include "s3/sigv4.h"
#include "s3xml.h"
#include "sbuf.h"
#include "server.h"
#include "store/store.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/secmem.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#define S3_NS         "http://s3.amazonaws.com/doc/2006-03-01/"
#define XML_HEAD      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define MAX_PARAMS    32
#define USER_META_MAX 2048
#define MIN_PART      (5u << 20)
#define MAX_HDRS      48

struct param {
	char *name, *value;
};

/* Everything about the request being served. */
struct req {
	struct conn *c;
	struct server *srv;
	const struct http_request *h;
	char reqid[17];
	char *bucket; /* decoded, or NULL */
	char *key;    /* decoded, or NULL */
	struct param params[MAX_PARAMS];
	size_t nparams;
	struct sigv4_auth auth;
	struct ident_session s;
	struct objio_ctx x;
	/* response headers being built */
	struct http_header rh[MAX_HDRS];
	size_t nrh;
	char hbuf[8192];
	size_t hused;
};

/* ---- small helpers ------------------------------------------------------- */

static const char *
param(const struct req *r, const char *name)
{
	for (size_t i = 0; i < r->nparams; i++)
		if (strcmp(r->params[i].name, name) == 0)
			return r->params[i].value;
	return NULL;
}

static bool
has_param(const struct req *r, const char *name)
{
	return param(r, name) != NULL;
}

/* subresources: query parameters that select something other than the plain
 * object or bucket; a presigned URL's X-Amz-* and the SDKs' x-id are not. */
static size_t
subresources(const struct req *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->nparams; i++)
		if (strncmp(r->params[i].name, "X-Amz-", 6) != 0 &&
		    strcmp(r->params[i].name, "x-id") != 0)
			n++;
	return n;
}

static const char *
header(const struct req *r, const char *name, size_t *len)
{
	const struct http_header *h = http_header_find(r->h, name);

	if (h == NULL)
		return NULL;
	if (len != NULL)
		*len = h->value_len;
	return h->value;
}

/* hdr_add: a response header; value copied into the request's buffer. */
static void
hdr_add(struct req *r, const char *name, const char *value)
{
	size_t vl = strlen(value);

	if (r->nrh == MAX_HDRS || r->hused + vl + 1 > sizeof(r->hbuf))
		return;
	memcpy(r->hbuf + r->hused, value, vl + 1);
	r->rh[r->nrh].name = name;
	r->rh[r->nrh].name_len = strlen(name);
	r->rh[r->nrh].value = r->hbuf + r->hused;
	r->rh[r->nrh].value_len = vl;
	r->nrh++;
	r->hused += vl + 1;
}

static void
iso8601(int64_t ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + 19, 13, ".%03dZ", (int)(ms % 1000));
}

static void
http_date_ms(int64_t ms, char out[40])
{
	if (http_date(out, 40, (time_t)(ms / 1000)) != 0)
		snprintf(out, 40, "Thu, 01 Jan 1970 00:00:00 GMT");
}

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
send_xml(struct req *r, int status, struct sbuf *b)
{
	if (!sbuf_ok(b)) {
		sbuf_free(b);
		conn_close_after(r->c);
		if (conn_respond(r->c, 500, r->rh, r->nrh, "", 0) != 0) {
			/* client gone */
		}
		return;
	}
	hdr_add(r, "Content-Type", "application/xml");
	if (conn_respond(r->c, status, r->rh, r->nrh, b->b, b->n) != 0) {
		/* client gone */
	}
	sbuf_free(b);
}

/* s3_error: an S3 error response. */
static void
s3_error(struct req *r, int status, const char *code, const char *msg)
{
	struct sbuf b = {0};

	sbuf_str(&b, XML_HEAD "<Error><Code>");
	sbuf_str(&b, code);
	sbuf_str(&b, "</Code><Message>");
	sbuf_xml(&b, msg, strlen(msg));
	sbuf_str(&b, "</Message>");
	if (r->bucket != NULL) {
		sbuf_str(&b, "<BucketName>");
		sbuf_xml(&b, r->bucket, strlen(r->bucket));
		sbuf_str(&b, "</BucketName>");
	}
	if (r->key != NULL) {
		sbuf_str(&b, "<Key>");
		sbuf_xml(&b, r->key, strlen(r->key));
		sbuf_str(&b, "</Key>");
	}
	sbuf_printf(&b, "<RequestId>%s</RequestId></Error>", r->reqid);
	if (status >= 500 || status == 400)
		log_info("%s %s %s -> %d %s: %s", conn_peer(r->c), r->h->method, r->h->target,
			 status, code, msg);
	send_xml(r, status, &b);
}

#define BOUND_MSG                                                                                  \
	"This connection is bound to the access key of its first request (server model = "         \
	"process): sign with that key or open a new connection."

static void
deny_msg(struct req *r, const char *why, const char *message)
{
	log_warn("DENY %s user=%s level=%s %s %s: %s", conn_peer(r->c),
		 r->s.user[0] ? r->s.user : "-", r->s.level_text[0] ? r->s.level_text : "-",
		 r->h->method, r->h->target, why);
	AUDIT(r->srv, "access_denied", "peer", conn_peer(r->c), "user",
	      r->s.user[0] ? r->s.user : "-", "akid", r->s.akid[0] ? r->s.akid : "-", "level",
	      r->s.level_text[0] ? r->s.level_text : "-", "method", r->h->method, "bucket",
	      r->bucket != NULL ? r->bucket : "-", "why", why);
	s3_error(r, 403, "AccessDenied", message);
}

static void
deny(struct req *r, const char *why)
{
	deny_msg(r, why, "Access Denied");
}

/* s3_error_rc: map a library error to an S3 error. */
static void
s3_error_rc(struct req *r, int rc, const char *what)
{
	char msg[256];

	switch (rc) {
	case CS_ENOENT:
		s3_error(r, 404, "NoSuchKey", "The specified key does not exist.");
		break;
	case CS_EINVAL:
		s3_error(r, 400, "InvalidArgument", what);
		break;
	case CS_EIO:
		/* The operator needs what the client is not told. */
		log_error("%s %s %s: %s: storage I/O error: %s", conn_peer(r->c), r->h->method,
			  r->h->target, what, strerror(errno));
		if (errno == ENOSPC || errno == EDQUOT) {
			snprintf(msg, sizeof(msg), "%s: no space left on the storage device", what);
			s3_error(r, 507, "InsufficientStorage", msg);
			break;
		}
		if (errno == ETIMEDOUT || errno == ENOTCONN || errno == ESHUTDOWN) {
			/* store = rados: the cluster did not answer in time */
			snprintf(msg, sizeof(msg), "%s: the storage cluster is unavailable", what);
			s3_error(r, 503, "ServiceUnavailable", msg);
			break;
		}
		snprintf(msg, sizeof(msg), "%s: storage I/O error", what);
		s3_error(r, 500, "InternalError", msg);
		break;
	default:
		snprintf(msg, sizeof(msg), "%s: %s", what, err_str(rc));
		s3_error(r, 500, "InternalError", msg);
		break;
	}
}

/* ---- request parsing ----------------------------------------------------- */

static char *
pct_dup(const char *s, size_t n, int flags)
{
	char *out = malloc(n + 1);
	size_t ol = 0;

	if (out == NULL)
		return NULL;
	if (http_pct_decode(out, n + 1, s, n, flags, &ol) != 0) {
		free(out);
		return NULL;
	}
	out[ol] = '\0';
	return out;
}

static int
parse_target(struct req *r)
{
	const struct http_url *u = &r->h->url;
	const char *p = u->path + 1, *end = u->path + u->path_len, *slash;

	if (u->path_len == 0 || u->path[0] != '/')
		return CS_EINVAL;
	if (p < end) {
		slash = memchr(p, '/', (size_t)(end - p));
		if ((r->bucket = pct_dup(p, slash ? (size_t)(slash - p) : (size_t)(end - p),
					 HTTP_PCT_NO_NUL)) == NULL)
			return CS_EINVAL;
		if (slash != NULL && slash + 1 < end &&
		    (r->key = pct_dup(slash + 1, (size_t)(end - slash - 1), HTTP_PCT_NO_NUL)) ==
			    NULL)
			return CS_EINVAL;
		if (r->bucket[0] == '\0') {
			free(r->bucket);
			r->bucket = NULL;
		}
	}
	if (u->query != NULL) {
		const char *q = u->query, *qe = u->query + u->query_len;

		while (q < qe) {
			const char *amp = memchr(q, '&', (size_t)(qe - q)), *e = amp ? amp : qe;
			const char *eq = memchr(q, '=', (size_t)(e - q));

			if (e > q) {
				struct param *pa;

				if (r->nparams == MAX_PARAMS)
					return CS_EINVAL;
				pa = &r->params[r->nparams];
				pa->name = pct_dup(q, eq ? (size_t)(eq - q) : (size_t)(e - q),
						   HTTP_PCT_NO_NUL);
				pa->value =
					eq ? pct_dup(eq + 1, (size_t)(e - eq - 1), HTTP_PCT_NO_NUL)
					   : strdup("");
				if (pa->name == NULL || pa->value == NULL) {
					free(pa->name);
					free(pa->value);
					return CS_EINVAL;
				}
				r->nparams++;
			}
			q = e + (amp ? 1 : 0);
		}
	}
	return 0;
}

/* signed_v2: the request carries a Signature Version 2 signature. */
static bool
signed_v2(const struct req *r)
{
	size_t vl = 0;
	const char *a = header(r, "Authorization", &vl);

	if (a != NULL && vl > 4 && strncmp(a, "AWS ", 4) == 0)
		return true;
	return has_param(r, "AWSAccessKeyId") && has_param(r, "Signature");
}

static int
authenticate(struct req *r)
{
	struct sigv4_header hs[SIGV4_MAX_HEADERS];
	struct sigv4_request sr;
	struct sigv4_config cfg;
	enum sigv4_result res;
	size_t n = r->h->nheaders;

	/* Every header must reach the verifier (an unsigned x-amz-* is refused
	 * there); the HTTP layer's limit is far below this, but do not rely on it. */
	if (n > SIGV4_MAX_HEADERS) {
		s3_error(r, 400, "InvalidRequest", "too many headers");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		hs[i].name = r->h->headers[i].name;
		hs[i].name_len = r->h->headers[i].name_len;
		hs[i].value = r->h->headers[i].value;
		hs[i].value_len = r->h->headers[i].value_len;
	}
	memset(&sr, 0, sizeof(sr));
	sr.method = r->h->method;
	sr.method_len = strlen(r->h->method);
	sr.target = r->h->target;
	sr.target_len = r->h->target_len;
	sr.headers = hs;
	sr.nheaders = n;
	sr.now = (int64_t)time(NULL);
	memset(&cfg, 0, sizeof(cfg));
	cfg.region = r->srv->cfg.region;
	cfg.max_skew = r->srv->cfg.clock_skew;
	cfg.lookup = identity_lookup;
	cfg.lookup_arg = r->srv->ids;
	res = sigv4_verify(&cfg, &sr, &r->auth);
	if (res != SIGV4_OK && signed_v2(r)) {
		/* Say what to change instead of a bare AccessDenied: older boto3
		 * presigns with V2 unless told signature_version='s3v4'. */
		log_warn("DENY %s %s %s: Signature Version 2", conn_peer(r->c), r->h->method,
			 r->h->target);
		AUDIT(r->srv, "auth_failure", "peer", conn_peer(r->c), "method", r->h->method,
		      "code", "SignatureVersion2");
		s3_error(r, 400, "InvalidRequest",
			 "Signature Version 2 is not supported; sign requests and presigned URLs "
			 "with Signature Version 4 (AWS4-HMAC-SHA256).");
		return -1;
	}
	if (res == SIGV4_MISSING_SECURITY_HEADER) {
		deny(r, "anonymous request");
		return -1;
	}
	if (res != SIGV4_OK && procmodel_bound_other(r->srv, r->auth.access_key)) {
		deny_msg(r, "connection bound to another access key", BOUND_MSG);
		return -1;
	}
	if (res != SIGV4_OK) {
		log_warn("DENY %s %s %s: %s (%s)", conn_peer(r->c), r->h->method, r->h->target,
			 sigv4_result_code(res), r->auth.detail);
		AUDIT(r->srv, "auth_failure", "peer", conn_peer(r->c), "method", r->h->method,
		      "akid", r->auth.access_key, "code", sigv4_result_code(res), "detail",
		      r->auth.detail);
		s3_error(r, sigv4_result_status(res), sigv4_result_code(res), r->auth.detail);
		return -1;
	}
	if (identity_session(r->srv->ids, r->auth.access_key, &r->s) != 0) {
		AUDIT(r->srv, "auth_failure", "peer", conn_peer(r->c), "method", r->h->method,
		      "akid", r->auth.access_key, "code", "InvalidAccessKeyId");
		s3_error(r, 403, "InvalidAccessKeyId",
			 "The AWS Access Key Id you provided does not exist in our records.");
		return -1;
	}
	/* Mutual TLS: the certificate binds the connection to one user; a key
	 * of anyone else is refused even with a valid signature. */
	if (conn_tls_user(r->c) != NULL &&
	    strcmp(conn_tls_user(r->c), r->s.user) != 0) { // ct-ok: user names are not secret
		log_warn("DENY %s %s %s: client certificate of '%s', key of '%s'", conn_peer(r->c),
			 r->h->method, r->h->target, conn_tls_user(r->c), r->s.user);
		AUDIT(r->srv, "auth_failure", "peer", conn_peer(r->c), "method", r->h->method,
		      "akid", r->auth.access_key, "code", "AccessDenied", "detail",
		      "access key of another user than the client certificate's");
		s3_error(r, 403, "AccessDenied",
			 "The access key belongs to another user than the client certificate.");
		return -1;
	}
	/* model = process: the first request drops every key the session may
	 * not use; later ones must come with the same access key. */
	if (procmodel_bind(r->srv, &r->s) != 0) {
		deny_msg(r, "connection bound to another access key", BOUND_MSG);
		return -1;
	}
	return 0;
}

/* create_failed: an object could not be started; a level without an
 * active key (shredded) is 410 KeyDestroyed, not a missing key. */
static void
create_failed(struct req *r, const struct cat_bucket *b, int rc, const char *what)
{
	char msg[LABEL_STR_MAX + 160];

	if (rc != CS_ENOENT) {
		s3_error_rc(r, rc, what);
		return;
	}
	snprintf(msg, sizeof(msg),
		 "The key of this bucket's level (%s) was destroyed: nothing can be written "
		 "at this level until an administrator creates a new key.",
		 b->label_text);
	s3_error(r, 410, "KeyDestroyed", msg);
}

/* bucket_for: look up r->bucket and check the MLS policy. */
static int
bucket_for(struct req *r, bool write, struct cat_bucket *b)
{
	if (catalog_bucket_get(r->srv->cat, r->bucket, b) != 0) {
		s3_error(r, 404, "NoSuchBucket", "The specified bucket does not exist");
		return -1;
	}
	if (write ? !label_equal(&r->s.level, &b->label)
		  : !label_dominates(&r->s.level, &b->label)) {
		char why[LABEL_STR_MAX + 64];

		snprintf(why, sizeof(why), "%s needs %s %s", write ? "write" : "read",
			 write ? "level ==" : "level dominating", b->label_text);
		deny(r, why);
		return -1;
	}
	return 0;
}

/* ---- the body ------------------------------------------------------------ */

struct pump {
	struct req *r;
	int (*sink)(void *arg, const uint8_t *p, size_t n);
	void *arg;
	EVP_MD_CTX *sha; /* payload hash for SIGV4_PAYLOAD_SHA256 on raw bodies */
	uint64_t total, max;
	int sink_rc;
};

static int
pump_data(void *arg, const uint8_t *p, size_t n)
{
	struct pump *pu = arg;

	pu->total += n;
	if (pu->total > pu->max)
		return CS_ERANGE;
	if (pu->sink != NULL && (pu->sink_rc = pu->sink(pu->arg, p, n)) != 0)
		return pu->sink_rc;
	return 0;
}

/* A sink that takes the body where it keeps it (objio's record buffers),
 * so that a plain Content-Length body is received there with no copy. */
struct direct_sink {
	int (*space)(void *arg, struct iovec *iov, int max);
	int (*advance)(void *arg, const struct iovec *iov, int niov, size_t n);
	/* For the event loops (NULL: the body stays on the connection's thread):
	 * space without waiting, the MD5 state the loop updates, and advance
	 * with that update done. */
	void (*set_notify)(void *arg, void (*fn)(void *), void *farg);
	struct md5_mb_state *(*md5)(void *arg);
	bool (*serial)(void *arg); /* it hashes one chain per upload itself */
	int (*advance_hashed)(void *arg, const struct iovec *iov, int niov, size_t n);
};

/* pump_direct: n body bytes were received into iov: count, hash, accept
 * (advance: a direct_sink's advance, or its advance_hashed after an event
 * loop's MD5). */
static int
pump_direct(struct pump *pu, int (*advance)(void *, const struct iovec *, int, size_t),
	    const struct iovec *iov, int niov, size_t n)
{
	size_t left = n;

	pu->total += n;
	if (pu->total > pu->max)
		return CS_ERANGE;
	for (int i = 0; pu->sha != NULL && i < niov && left > 0; i++) {
		size_t k = iov[i].iov_len < left ? iov[i].iov_len : left;

		if (EVP_DigestUpdate(pu->sha, iov[i].iov_base, k) != 1)
			return CS_ECRYPTO;
		left -= k;
	}
	return pu->sink_rc = advance(pu->arg, iov, niov, n);
}

/* The rest of a direct body, received on an event loop (evloop.h). */
struct body_job {
	struct evloop_job j; /* first: the loop's callbacks get &j */
	struct req *r;
	struct pump *pu;
	const struct direct_sink *ds;
	int k;     /* the connection's error, as conn_body_into() returns it */
	int rc;    /* the sink's */
	int error; /* errno with the sink's error (s3_error_rc reads it: ENOSPC is 507) */
};

static int
bj_recv(struct evloop_job *j)
{
	struct body_job *b = (struct body_job *)j;
	int niov = b->ds->space(b->pu->arg, j->iov, EVLOOP_IOV);
	int k;

	if (niov == CS_EAGAIN)
		return EVLOOP_WAIT;
	if (niov < 0) {
		b->error = errno;
		return b->rc = b->pu->sink_rc = niov;
	}
	if ((k = conn_body_try(b->r->c, j->iov, niov, &j->got)) == CS_EAGAIN)
		return CS_EAGAIN;
	if (k < 0)
		return b->k = k;
	j->niov = niov;
	return EVLOOP_GOT;
}

static int
bj_advance(struct evloop_job *j)
{
	struct body_job *b = (struct body_job *)j;
	int (*adv)(void *, const struct iovec *, int, size_t) =
		j->md5 != NULL ? b->ds->advance_hashed : b->ds->advance;

	if ((b->rc = pump_direct(b->pu, adv, j->iov, j->niov, j->got)) != 0) {
		b->error = errno;
		return b->rc;
	}
	return b->pu->total == b->r->h->content_length ? EVLOOP_DONE : 0;
}

/* A body of less than this is received on its thread (a recvmsg or two):
 * handing it over (eventfd, epoll registration, two wake-ups) would cost
 * more than it saves (50 x 32 KiB PUTs: 5% more CPU per GB with the loop). */
#define LOOP_MIN_BODY (1u << 20)

/*
 * body_on_loop(r, pu, ds, k, rc): receive the rest of a direct body on an
 * event loop while this thread sleeps.  Returns false if no loop takes it
 * (the caller receives it itself); else true with *k and *rc as read_body's
 * own loop would leave them.
 */
static bool
body_on_loop(struct req *r, struct pump *pu, const struct direct_sink *ds, int *k, int *rc)
{
	struct evloop *l;
	struct body_job b;
	int res;

	/* A digest that is one chain per upload (the signed payload's SHA-256,
	 * MD5 without lanes) stays on the upload's thread: a loop would run the
	 * chains of all its uploads one after another on one core. */
	if (ds->set_notify == NULL || !r->srv->cfg.pipeline || pu->sha != NULL ||
	    ds->serial(pu->arg) || r->h->content_length - pu->total < LOOP_MIN_BODY ||
	    !conn_body_direct(r->c) || (l = evloop_pick()) == NULL)
		return false;
	memset(&b, 0, sizeof(b));
	b.j.fd = conn_fd(r->c);
	b.j.timeout_ms = r->srv->cfg.body_timeout * 1000u;
	b.j.md5 = ds->md5(pu->arg);
	b.j.recv = bj_recv;
	b.j.advance = bj_advance;
	b.r = r;
	b.pu = pu;
	b.ds = ds;
	b.k = 1;
	ds->set_notify(pu->arg, evloop_kick, l);
	res = evloop_run(l, &b.j);
	ds->set_notify(pu->arg, NULL, NULL);
	/* Timed out, or the loop could not go on (the server stops): the body
	 * fails as a connection's does. */
	if (res != 0 && b.k == 1 && b.rc == 0) {
		conn_body_timed_out(r->c);
		b.k = -1;
	}
	if (b.rc != 0)
		errno = b.error; /* the loop's thread saw it */
	*k = b.k;
	*rc = b.rc;
	return true;
}

/* body_too_large(r, max): the announced body cannot fit in max bytes. */
static bool
body_too_large(const struct req *r, uint64_t max)
{
	bool chunked = r->auth.payload == SIGV4_PAYLOAD_STREAMING_SIGNED ||
		       r->auth.payload == SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRL;

	return r->h->body == HTTP_BODY_LENGTH &&
	       r->h->content_length > max + (chunked ? max / 8 + 4096 : 0);
}

/*
 * read_body(r, max, sink, ds, arg): stream the request body (decoding
 * aws-chunked when signed so) into sink, or, with ds and a raw body of
 * announced length, receive it straight into the space ds gives; verifies
 * the payload hash when the signature covers it.  On failure an S3 error has
 * been sent; returns -1.
 */
static int
read_body(struct req *r, uint64_t max, int (*sink)(void *arg, const uint8_t *p, size_t n),
	  const struct direct_sink *ds, void *arg)
{
	struct pump pu = {r, sink, arg, NULL, 0, max, 0};
	struct awschunked *dec = NULL;
	const uint8_t *d;
	size_t n;
	int rc = 0, k;
	bool chunked = r->auth.payload == SIGV4_PAYLOAD_STREAMING_SIGNED ||
		       r->auth.payload == SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRL;
	/* Received in place: a raw body of announced length (aws-chunked
	 * frames need decoding, a chunked one has no length to stop at). */
	bool direct = ds != NULL && !chunked && r->h->body == HTTP_BODY_LENGTH;

	if (body_too_large(r, max)) {
		s3_error(r, 400, "EntityTooLarge",
			 "Your proposed upload exceeds the maximum allowed object size.");
		return -1;
	}
	if (chunked) {
		struct awschunked_config ac;

		memset(&ac, 0, sizeof(ac));
		ac.mode = r->auth.payload == SIGV4_PAYLOAD_STREAMING_SIGNED
				  ? AWSCHUNKED_SIGNED
				  : AWSCHUNKED_UNSIGNED_TRAILER;
		ac.decoded_length = r->auth.decoded_length;
		ac.signing_key = r->auth.signing_key;
		ac.seed_signature = r->auth.seed_signature;
		ac.amz_date = r->auth.amz_date;
		ac.scope = r->auth.scope;
		ac.on_data = pump_data;
		ac.arg = &pu;
		if (awschunked_new(&ac, &dec) != 0) {
			s3_error(r, 400, "InvalidArgument", "bad aws-chunked parameters");
			return -1;
		}
	} else if (r->auth.payload == SIGV4_PAYLOAD_SHA256) {
		if ((pu.sha = EVP_MD_CTX_new()) == NULL ||
		    EVP_DigestInit_ex(pu.sha, EVP_sha256(), NULL) != 1) {
			EVP_MD_CTX_free(pu.sha);
			s3_error(r, 500, "InternalError", "out of memory");
			return -1;
		}
	}
	for (;;) {
		/* Space is asked for only while body bytes are still due. */
		if (direct && pu.total < r->h->content_length) {
			struct iovec iov[CONN_IOV_MAX];
			int niov;

			/* Once the body comes straight off the socket, a loop takes it. */
			if (body_on_loop(r, &pu, ds, &k, &rc)) {
				if (k != 1 || rc != 0)
					break;
				continue;
			}
			if ((niov = ds->space(arg, iov, CONN_IOV_MAX)) < 0) {
				k = 1;
				rc = pu.sink_rc = niov;
				break;
			}
			if ((k = conn_body_into(r->c, iov, niov, &n)) != 1)
				break;
			if ((rc = pump_direct(&pu, ds->advance, iov, niov, n)) != 0)
				break;
			continue;
		}
		if ((k = conn_body(r->c, &d, &n)) != 1)
			break;
		if (dec != NULL) {
			rc = awschunked_feed(dec, d, n);
		} else {
			if (pu.sha != NULL && EVP_DigestUpdate(pu.sha, d, n) != 1)
				rc = CS_ECRYPTO;
			if (rc == 0)
				rc = pump_data(&pu, d, n);
		}
		if (rc != 0)
			break;
	}
	if (k < 0) {
		enum http_err e = conn_body_error(r->c);

		log_info("%s %s %s: body failed: %s", conn_peer(r->c), r->h->method, r->h->target,
			 http_err_str(e));
		if (e == HTTP_E_TOO_LARGE)
			s3_error(r, 400, "EntityTooLarge", "body larger than allowed");
		else
			s3_error(r, 400, "IncompleteBody",
				 "You did not provide the number of bytes specified by the "
				 "Content-Length HTTP header.");
		rc = -1;
		goto out;
	}
	if (rc == 0 && dec != NULL)
		rc = awschunked_finish(dec);
	if (rc != 0) {
		if (pu.sink_rc != 0)
			s3_error_rc(r, pu.sink_rc, "writing the object");
		else if (rc == CS_ERANGE && pu.total > pu.max)
			s3_error(r, 400, "EntityTooLarge",
				 "Your proposed upload exceeds the maximum allowed object size.");
		else if (dec != NULL && rc == CS_EAUTH)
			s3_error(r, 403, "SignatureDoesNotMatch", awschunked_why(dec));
		else if (dec != NULL && rc == CS_ERANGE)
			s3_error(r, 400, "IncompleteBody", awschunked_why(dec));
		else if (dec != NULL)
			s3_error(r, 400, "InvalidRequest", awschunked_why(dec));
		else
			s3_error_rc(r, rc, "reading the body");
		rc = -1;
		goto out;
	}
	if (pu.sha != NULL) {
		uint8_t h[32];
		unsigned int hl = 0;

		if (EVP_DigestFinal_ex(pu.sha, h, &hl) != 1 ||
		    !secmem_eq(h, r->auth.payload_sha256, 32)) {
			s3_error(r, 400, "XAmzContentSHA256Mismatch",
				 "The provided 'x-amz-content-sha256' header does not match what "
				 "was "
				 "computed.");
			rc = -1;
			goto out;
		}
	}
out:
	EVP_MD_CTX_free(pu.sha);
	awschunked_free(dec);
	return rc;
}

/* read_small_body: the whole body into memory (at most max bytes). */
struct membuf {
	uint8_t *b;
	size_t n, cap;
};

static int
mem_sink(void *arg, const uint8_t *p, size_t n)
{
	struct membuf *m = arg;

	if (m->n + n > m->cap) {
		size_t cap = (m->n + n) * 2 + 1;
		uint8_t *nb = realloc(m->b, cap);

		if (nb == NULL)
			return CS_ENOMEM;
		m->b = nb;
		m->cap = cap;
	}
	memcpy(m->b + m->n, p, n);
	m->n += n;
	return 0;
}

/* content_md5_ok: the Content-MD5 header (base64), if sent, matches md5. */
static int
content_md5_check(struct req *r, const uint8_t md5[16])
{
	size_t vl;
	const char *v = header(r, "Content-MD5", &vl);
	uint8_t dec[64];
	int n;

	if (v == NULL)
		return 0;
	n = vl < 48 ? EVP_DecodeBlock(dec, (const unsigned char *)v, (int)vl) : -1;
	/* EVP_DecodeBlock counts padding bytes: 24 base64 chars -> 18 bytes. */
	if (n != 18 || vl != 24) {
		s3_error(r, 400, "InvalidDigest", "The Content-MD5 you specified was invalid.");
		return -1;
	}
	if (!secmem_eq(dec, md5, 16)) {
		s3_error(r, 400, "BadDigest",
			 "The Content-MD5 you specified did not match what we received.");
		return -1;
	}
	return 0;
}

/* ---- service and bucket operations -------------------------------------- */

struct lb_ctx {
	struct req *r;
	struct sbuf *b;
};

static void
list_buckets_cb(void *arg, const struct cat_bucket *bk)
{
	struct lb_ctx *x = arg;
	char when[32];

	if (!label_dominates(&x->r->s.level, &bk->label))
		return; /* no read up: not even the name */
	iso8601(bk->created * 1000, when);
	sbuf_str(x->b, "<Bucket><Name>");
	sbuf_xml(x->b, bk->name, strlen(bk->name));
	sbuf_printf(x->b, "</Name><CreationDate>%s</CreationDate></Bucket>", when);
}

static void
op_list_buckets(struct req *r)
{
	struct sbuf b = {0};
	struct lb_ctx x = {r, &b};

	sbuf_str(&b, XML_HEAD "<ListAllMyBucketsResult xmlns=\"" S3_NS "\"><Owner><ID>");
	sbuf_xml(&b, r->s.user, strlen(r->s.user));
	sbuf_str(&b, "</ID><DisplayName>");
	sbuf_xml(&b, r->s.user, strlen(r->s.user));
	sbuf_str(&b, "</DisplayName></Owner><Buckets>");
	catalog_buckets(r->srv->cat, list_buckets_cb, &x);
	sbuf_str(&b, "</Buckets></ListAllMyBucketsResult>");
	send_xml(r, 200, &b);
}

int
s3api_bucket_create(struct server *srv, const char *name, const char *label, bool *new_level)
{
	int rc;

	*new_level = false;
	if (!keystore_level_exists(srv->ks, label)) {
		if ((rc = keystore_level_add(srv->ks, label)) == 0)
			*new_level = true;
		else if (rc != CS_EEXIST)
			return rc;
	}
	return catalog_bucket_create(srv->cat, name, label);
}

int
s3api_bucket_delete(struct server *srv, const char *name)
{
	return catalog_bucket_delete(srv->cat, name);
}

static void
op_create_bucket(struct req *r)
{
	struct membuf m = {0};
	const char *label = r->s.level_text, *want;
	char canon[LABEL_STR_MAX], loc[CATALOG_BUCKET_MAX + 2];
	struct cat_bucket existing;
	bool new_level = false;
	struct label l;
	int rc;

	if (read_body(r, 64 << 10, mem_sink, NULL, &m) != 0) {
		free(m.b);
		return;
	}
	free(m.b);
	if (!catalog_bucket_name_ok(r->bucket)) {
		s3_error(r, 400, "InvalidBucketName", "The specified bucket is not valid.");
		return;
	}
	/* An administrator may label a new bucket explicitly; nobody else may
	 * create a bucket anywhere but at their own session level. */
	if ((want = header(r, "x-cryptstore-label", NULL)) != NULL) {
		if (label_parse(want, strlen(want), &l, NULL) != 0 ||
		    label_format(&l, canon, sizeof(canon)) < 0) {
			s3_error(r, 400, "InvalidArgument",
				 "x-cryptstore-label is not a valid label");
			return;
		}
		if (!r->s.admin && !label_equal(&l, &r->s.level)) {
			deny(r, "only an administrator may create a bucket at another level");
			return;
		}
		label = canon;
	}
	rc = procmodel_child(r->srv) ? procmodel_bucket(r->srv, true, r->bucket, label)
				     : s3api_bucket_create(r->srv, r->bucket, label, &new_level);
	if (rc == CS_EEXIST) {
		if (catalog_bucket_get(r->srv->cat, r->bucket, &existing) == 0 &&
		    label_equal(&existing.label, &r->s.level))
			s3_error(r, 409, "BucketAlreadyOwnedByYou",
				 "Your previous request to create the named bucket succeeded and "
				 "you "
				 "already own it.");
		else
			s3_error(r, 409, "BucketAlreadyExists",
				 "The requested bucket name is not available.");
		return;
	}
	if (rc != 0) {
		s3_error_rc(r, rc, "creating the bucket");
		return;
	}
	log_info("bucket %s created at %s by %s", r->bucket, label, r->s.user);
	AUDIT(r->srv, "bucket_create", "user", r->s.user, "akid", r->s.akid, "bucket", r->bucket,
	      "level", label);
	snprintf(loc, sizeof(loc), "/%s", r->bucket);
	hdr_add(r, "Location", loc);
	if (conn_respond(r->c, 200, r->rh, r->nrh, "", 0) != 0) {
		/* client gone */
	}
}

static void
op_head_bucket(struct req *r)
{
	struct cat_bucket b;

	if (bucket_for(r, false, &b) != 0)
		return;
	hdr_add(r, "x-amz-bucket-region", r->srv->cfg.region);
	if (conn_respond(r->c, 200, r->rh, r->nrh, "", 0) != 0) {
		/* client gone */
	}
}

static void
op_delete_bucket(struct req *r)
{
	struct cat_bucket b;
	int rc;

	if (bucket_for(r, true, &b) != 0)
		return;
	rc = procmodel_child(r->srv) ? procmodel_bucket(r->srv, false, r->bucket, NULL)
				     : s3api_bucket_delete(r->srv, r->bucket);
	if (rc == CS_EEXIST) {
		s3_error(r, 409, "BucketNotEmpty", "The bucket you tried to delete is not empty");
		return;
	}
	if (rc != 0) {
		s3_error_rc(r, rc, "deleting the bucket");
		return;
	}
	log_info("bucket %s deleted by %s", r->bucket, r->s.user);
	AUDIT(r->srv, "bucket_delete", "user", r->s.user, "akid", r->s.akid, "bucket", r->bucket);
	if (conn_respond(r->c, 204, r->rh, r->nrh, "", 0) != 0) {
		/* client gone */
	}
}

static void
op_location(struct req *r)
{
	struct cat_bucket b;
	struct sbuf x = {0};

	if (bucket_for(r, false, &b) != 0)
		return;
	sbuf_str(&x, XML_HEAD "<LocationConstraint xmlns=\"" S3_NS "\">");
	if (strcmp(r->srv->cfg.region, "us-east-1") != 0)
		sbuf_xml(&x, r->srv->cfg.region, strlen(r->srv->cfg.region));
	sbuf_str(&x, "</LocationConstraint>");
	send_xml(r, 200, &x);
}

/* ---- listing ------------------------------------------------------------- */

struct lo_ctx {
	struct sbuf *b;
	bool url;
	unsigned count;
};

static void
xml_name(struct sbuf *b, const char *s, bool url)
{
	if (url) {
		size_t n = strlen(s);
		char *e = malloc(3 * n + 1);
		long k = e ? sigv4_uri_encode(e, 3 * n + 1, s, n, true) : -1;

		if (k >= 0)
			sbuf_put(b, e, (size_t)k);
		free(e);
		return;
	}
	sbuf_xml(b, s, strlen(s));
}

static void
list_objects_cb(void *arg, const struct cat_object *o, const char *cp)
{
	struct lo_ctx *x = arg;
	char when[32];

	x->count++;
	if (o == NULL) {
		sbuf_str(x->b, "<CommonPrefixes><Prefix>");
		xml_name(x->b, cp, x->url);
		sbuf_str(x->b, "</Prefix></CommonPrefixes>");
		return;
	}
	iso8601(o->mtime_ms, when);
	sbuf_str(x->b, "<Contents><Key>");
	xml_name(x->b, o->name, x->url);
	sbuf_printf(x->b, "</Key><LastModified>%s</LastModified><ETag>", when);
	sbuf_xml(x->b, o->etag, strlen(o->etag));
	sbuf_printf(x->b,
		    "</ETag><Size>%" PRIu64
		    "</Size><StorageClass>STANDARD</StorageClass></Contents>",
		    o->size);
}

static void
op_list_objects(struct req *r, bool v2)
{
	const char *prefix = param(r, "prefix"), *delim = param(r, "delimiter"),
		   *mk = param(r, "max-keys"), *enc = param(r, "encoding-type"),
		   *token = param(r, "continuation-token"), *sa = param(r, "start-after"),
		   *marker = param(r, "marker");
	char *after = NULL, *next = NULL, *end = NULL;
	struct cat_bucket bk;
	struct sbuf b = {0}, items = {0};
	struct lo_ctx x;
	unsigned long max = 1000;
	bool trunc = false;
	int rc;

	if (bucket_for(r, false, &bk) != 0)
		return;
	if (mk != NULL) {
		max = strtoul(mk, &end, 10);
		if (mk[0] < '0' || mk[0] > '9' || *end != '\0') {
			s3_error(r, 400, "InvalidArgument",
				 "max-keys must be a non-negative integer");
			return;
		}
		if (max > 1000)
			max = 1000;
	}
	if (enc != NULL && strcmp(enc, "url") != 0) {
		s3_error(r, 400, "InvalidArgument", "Invalid Encoding Method specified in Request");
		return;
	}
	if (v2 && token != NULL) {
		size_t tl = strlen(token);

		if ((after = malloc(tl / 2 + 1)) == NULL ||
		    hex_decode((uint8_t *)after, tl / 2, token, tl) != (long)(tl / 2) || tl == 0) {
			free(after);
			s3_error(r, 400, "InvalidArgument",
				 "The continuation token provided is incorrect");
			return;
		}
		after[tl / 2] = '\0';
	} else if ((v2 ? sa : marker) != NULL && (after = strdup(v2 ? sa : marker)) == NULL) {
		s3_error(r, 500, "InternalError", "out of memory");
		return;
	}
	memset(&x, 0, sizeof(x));
	x.b = &items;
	x.url = enc != NULL;
	rc = catalog_list(r->srv->cat, r->bucket, prefix, delim != NULL && delim[0] ? delim : NULL,
			  after, (unsigned)max, list_objects_cb, &x, &trunc, &next);
	if (rc != 0) {
		free(after);
		sbuf_free(&items);
		s3_error_rc(r, rc, "listing");
		return;
	}
	sbuf_str(&b, XML_HEAD "<ListBucketResult xmlns=\"" S3_NS "\"><Name>");
	sbuf_xml(&b, r->bucket, strlen(r->bucket));
	sbuf_str(&b, "</Name><Prefix>");
	if (prefix != NULL)
		xml_name(&b, prefix, x.url);
	sbuf_str(&b, "</Prefix>");
	if (v2) {
		sbuf_printf(&b, "<KeyCount>%u</KeyCount>", x.count);
		if (token != NULL) {
			sbuf_str(&b, "<ContinuationToken>");
			sbuf_xml(&b, token, strlen(token));
			sbuf_str(&b, "</ContinuationToken>");
		}
		if (sa != NULL) {
			sbuf_str(&b, "<StartAfter>");
			xml_name(&b, sa, x.url);
			sbuf_str(&b, "</StartAfter>");
		}
		if (trunc && next != NULL) {
			size_t nl = strlen(next);
			char *hx = malloc(2 * nl + 1);

			if (hx != NULL) {
				hex_encode(hx, (const uint8_t *)next, nl);
				sbuf_printf(&b, "<NextContinuationToken>%s</NextContinuationToken>",
					    hx);
				free(hx);
			}
		}
	} else {
		sbuf_str(&b, "<Marker>");
		if (marker != NULL)
			xml_name(&b, marker, x.url);
		sbuf_str(&b, "</Marker>");
		if (trunc && next != NULL) {
			sbuf_str(&b, "<NextMarker>");
			xml_name(&b, next, x.url);
			sbuf_str(&b, "</NextMarker>");
		}
	}
	sbuf_printf(&b, "<MaxKeys>%lu</MaxKeys>", max);
	if (delim != NULL && delim[0] != '\0') {
		sbuf_str(&b, "<Delimiter>");
		xml_name(&b, delim, x.url);
		sbuf_str(&b, "</Delimiter>");
	}
	if (x.url)
		sbuf_str(&b, "<EncodingType>url</EncodingType>");
	sbuf_printf(&b, "<IsTruncated>%s</IsTruncated>", trunc ? "true" : "false");
	if (items.n > 0)
		sbuf_put(&b, items.b, items.n);
	sbuf_str(&b, "</ListBucketResult>");
	if (!sbuf_ok(&items))
		b.failed = true;
	sbuf_free(&items);
	free(after);
	free(next);
	send_xml(r, 200, &b);
}

/* ---- objects ------------------------------------------------------------- */

static int
collect_meta(struct req *r, struct objmeta *m)
{
	size_t total = 0;

	for (size_t i = 0; i < r->h->nheaders; i++) {
		const struct http_header *h = &r->h->headers[i];
		struct objmeta_pair *p;

		if (h->name_len <= 11 || strncasecmp(h->name, "x-amz-meta-", 11) != 0)
			continue;
		total += h->name_len - 11 + h->value_len;
		if (total > USER_META_MAX || m->npairs == OBJMETA_PAIRS_MAX) {
			s3_error(r, 400, "MetadataTooLarge",
				 "Your metadata headers exceed the maximum allowed metadata size.");
			return -1;
		}
		p = &m->pairs[m->npairs];
		if ((p->key = strndup(h->name + 11, h->name_len - 11)) == NULL ||
		    (p->value = strndup(h->value, h->value_len)) == NULL) {
			free(p->key);
			s3_error(r, 500, "InternalError", "out of memory");
			return -1;
		}
		for (char *k = p->key; *k; k++)
			if (*k >= 'A' && *k <= 'Z')
				*k = (char)(*k - 'A' + 'a');
		m->npairs++;
	}
	return 0;
}

static int
wr_sink(void *arg, const uint8_t *p, size_t n)
{
	return objio_write(arg, p, n);
}

static int
wr_space(void *arg, struct iovec *iov, int max)
{
	return objio_space(arg, iov, max);
}

static int
wr_advance(void *arg, const struct iovec *iov, int niov, size_t n)
{
	return objio_advance(arg, iov, niov, n);
}

static void
wr_set_notify(void *arg, void (*fn)(void *), void *farg)
{
	objio_set_notify(arg, fn, farg);
}

static struct md5_mb_state *
wr_md5(void *arg)
{
	return objio_md5_state(arg);
}

static bool
wr_serial(void *arg)
{
	return objio_serial_digests(arg);
}

static int
wr_advance_hashed(void *arg, const struct iovec *iov, int niov, size_t n)
{
	return objio_advance_hashed(arg, iov, niov, n);
}

static const struct direct_sink wr_direct = {.space = wr_space,
					     .advance = wr_advance,
					     .set_notify = wr_set_notify,
					     .md5 = wr_md5,
					     .serial = wr_serial,
					     .advance_hashed = wr_advance_hashed};

/*
 * put_stream: the common part of PutObject and UploadPart: stream the body
 * into a new object under okey, check digests, commit.  Fills md5 and size.
 */
static int
put_stream(struct req *r, const struct cat_bucket *b, const char *okey, const struct objmeta *m,
	   struct cat_object *index, uint8_t md5[16], uint64_t *size)
{
	struct objio_wr *w = NULL;
	bool chunked = r->auth.payload == SIGV4_PAYLOAD_STREAMING_SIGNED ||
		       r->auth.payload == SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRL;
	uint64_t hint = r->h->body == HTTP_BODY_LENGTH && !chunked ? r->h->content_length : 0;
	int rc;

	/* aws-chunked: the decoded length, which the decoder holds the body to. */
	if (chunked && r->auth.decoded_length > 0 &&
	    (uint64_t)r->auth.decoded_length <= r->srv->cfg.max_object)
		hint = (uint64_t)r->auth.decoded_length;

	/* Before the object exists: objio_create reserves the announced size. */
	if (body_too_large(r, r->srv->cfg.max_object)) {
		s3_error(r, 400, "EntityTooLarge",
			 "Your proposed upload exceeds the maximum allowed object size.");
		return -1;
	}
	/* The MD5 costs more than the cipher: only when the ETag is an MD5 or
	 * the client sent Content-MD5 to be checked. */
	if ((rc = objio_create(
		     &r->x, b, okey, m, hint,
		     r->srv->cfg.etag_md5 || header(r, "Content-MD5", NULL) != NULL ? OBJIO_MD5 : 0,
		     &w)) != 0) {
		create_failed(r, b, rc, "creating the object");
		return -1;
	}
	if (read_body(r, r->srv->cfg.max_object, wr_sink, &wr_direct, w) != 0) {
		objio_abort(w);
		return -1;
	}
	if ((rc = objio_finish(w, 0, NULL, md5, NULL, size)) != 0) {
		objio_abort(w);
		s3_error_rc(r, rc, "sealing the object");
		return -1;
	}
	if (content_md5_check(r, md5) != 0) {
		objio_abort(w);
		return -1;
	}
	/* With an index entry, commit and index update happen under the key's
	 * lock (catalog_lock_key). */
	if (index != NULL)
		catalog_lock_key(r->srv->cat, okey);
	if ((rc = objio_commit(w)) == 0 && index != NULL) {
		index->size = *size;
		objio_etag_text(md5, 0, index->etag);
		rc = catalog_object_put(r->srv->cat, r->bucket, index);
	}
	if (index != NULL)
		catalog_unlock_key(r->srv->cat, okey);
	if (rc != 0) {
		s3_error_rc(r, rc, "committing the object");
		return -1;
	}
	return 0;
}

static void
op_put_object(struct req *r)
{
	struct objmeta m;
	struct cat_bucket b;
	struct cat_object o;
	char okey[CATALOG_OKEY_LEN + 1];
	const char *ct;
	uint8_t md5[16];
	uint64_t size = 0;
	size_t ctl = 0;

	if (bucket_for(r, true, &b) != 0)
		return;
	if (header(r, "x-amz-copy-source", NULL) != NULL) {
		s3_error(r, 501, "NotImplemented", "CopyObject is not implemented");
		return;
	}
	if (strlen(r->key) > CATALOG_KEY_MAX) {
		s3_error(r, 400, "KeyTooLongError", "Your key is too long");
		return;
	}
	memset(&m, 0, sizeof(m));
	m.name = r->key;
	m.mtime_ms = now_ms();
	ct = header(r, "Content-Type", &ctl);
	if (ct != NULL && ctl > CATALOG_CTYPE_MAX) {
		s3_error(r, 400, "InvalidArgument", "Content-Type too long");
		return;
	}
	if (ct != NULL && (m.ctype = strndup(ct, ctl)) == NULL)
		goto oom;
	if (collect_meta(r, &m) != 0)
		goto out;
	catalog_object_key(r->srv->cat, &b, r->key, okey);
	memset(&o, 0, sizeof(o));
	o.name = r->key;
	o.mtime_ms = m.mtime_ms;
	snprintf(o.ctype, sizeof(o.ctype), "%s", m.ctype ? m.ctype : "binary/octet-stream");
	if (put_stream(r, &b, okey, &m, &o, md5, &size) != 0)
		goto out;
	hdr_add(r, "ETag", o.etag);
	if (conn_respond(r->c, 200, r->rh, r->nrh, "", 0) != 0) {
		/* client gone */
	}
	goto out;
oom:
	s3_error(r, 500, "InternalError", "out of memory");
out:
	m.name = NULL; /* r->key */
	objmeta_clear(&m);
}

struct get_out {
	struct conn *c;
	int rc;
};

static int
get_sink(void *arg, const struct iovec *iov, int n)
{
	struct get_out *g = arg;

	return g->rc = conn_writev(g->c, iov, n);
}

/* parse_range: "bytes=a-b" etc.; 0 ok, 1 no usable range (serve all), -1 unsatisfiable. */
static int
parse_range(const char *v, size_t vl, uint64_t size, uint64_t *off, uint64_t *len)
{
	char buf[64], *dash, *end;
	unsigned long long a, b;

	if (vl >= sizeof(buf) || vl < 7 || strncmp(v, "bytes=", 6) != 0)
		return 1;
	memcpy(buf, v + 6, vl - 6);
	buf[vl - 6] = '\0';
	if (strchr(buf, ',') != NULL || (dash = strchr(buf, '-')) == NULL)
		return 1; /* several ranges: serve the whole object, as S3 does */
	*dash = '\0';
	if (buf[0] == '\0') { /* suffix: the last N bytes */
		if (dash[1] < '0' || dash[1] > '9')
			return 1;
		b = strtoull(dash + 1, &end, 10);
		if (*end != '\0')
			return 1;
		if (b == 0 || size == 0)
			return -1;
		*len = b < size ? b : size;
		*off = size - *len;
		return 0;
	}
	if (buf[0] < '0' || buf[0] > '9')
		return 1;
	a = strtoull(buf, &end, 10);
	if (*end != '\0')
		return 1;
	if (dash[1] == '\0') {
		b = size > 0 ? size - 1 : 0;
	} else {
		if (dash[1] < '0' || dash[1] > '9')
			return 1;
		b = strtoull(dash + 1, &end, 10);
		if (*end != '\0' || b < a)
			return 1;
	}
	if (a >= size)
		return -1;
	if (b >= size)
		b = size - 1;
	*off = a;
	*len = b - a + 1;
	return 0;
}

static void
op_get_object(struct req *r, bool head)
{
	struct cat_bucket b;
	struct objio_rd *rd = NULL;
	char okey[CATALOG_OKEY_LEN + 1], etag[CATALOG_ETAG_MAX + 1], lm[40], cr[96];
	const struct objmeta *m;
	const char *rv;
	uint64_t size, off = 0, len;
	size_t rvl = 0;
	int rc, status = 200, pr = 1;

	if (bucket_for(r, false, &b) != 0)
		return;
	catalog_object_key(r->srv->cat, &b, r->key, okey);
	rc = objio_open(&r->x, &b, okey, &rd);
	if (rc == CS_EAUTH && objio_key_destroyed(&r->x, &b, okey)) {
		s3_error(r, 410, "KeyDestroyed",
			 "The key of this object's level was destroyed (cryptographic erase); the "
			 "object can no longer be read.");
		return;
	}
	if (rc == CS_EAUTH) {
		log_error("object %s/%s failed verification", r->bucket, r->key);
		s3_error(r, 500, "InternalError",
			 "The stored object failed integrity verification.");
		return;
	}
	if (rc != 0 || strcmp(objio_meta(rd)->name, r->key) != 0) {
		objio_close(rd);
		if (rc != 0 && rc != CS_ENOENT)
			s3_error_rc(r, rc, "opening the object");
		else
			s3_error(r, 404, "NoSuchKey", "The specified key does not exist.");
		return;
	}
	m = objio_meta(rd);
	size = len = objio_size(rd);
	if ((rv = header(r, "Range", &rvl)) != NULL) {
		pr = parse_range(rv, rvl, size, &off, &len);
		if (pr < 0) {
			snprintf(cr, sizeof(cr), "bytes */%" PRIu64, size);
			hdr_add(r, "Content-Range", cr);
			objio_close(rd);
			s3_error(r, 416, "InvalidRange", "The requested range is not satisfiable");
			return;
		}
		if (pr == 0) {
			status = 206;
			snprintf(cr, sizeof(cr), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, off,
				 off + len - 1, size);
			hdr_add(r, "Content-Range", cr);
		}
	}
	objio_etag(rd, etag);
	http_date_ms(m->mtime_ms, lm);
	hdr_add(r, "ETag", etag);
	hdr_add(r, "Last-Modified", lm);
	hdr_add(r, "Accept-Ranges", "bytes");
	hdr_add(r, "Content-Type", m->ctype ? m->ctype : "binary/octet-stream");
	for (size_t i = 0; i < m->npairs; i++) {
		char name[300];

		snprintf(name, sizeof(name), "x-amz-meta-%s", m->pairs[i].key);
		/* header names must outlive the response: keep them in hbuf */
		if (r->hused + strlen(name) + 1 <= sizeof(r->hbuf)) {
			char *nm = r->hbuf + r->hused;

			memcpy(nm, name, strlen(name) + 1);
			r->hused += strlen(name) + 1;
			hdr_add(r, nm, m->pairs[i].value);
		}
	}
	if (conn_respond_head(r->c, status, r->rh, r->nrh, len) != 0 || head || len == 0) {
		objio_close(rd);
		return;
	}
	{
		struct get_out g = {r->c, 0};

		rc = objio_readv(&r->x, rd, off, len, get_sink, &g);
		if (rc != 0) {
			/* The head is out: the only honest signal left is to cut the
			 * connection before the announced length. */
			if (g.rc == 0)
				log_error("object %s/%s: read failed mid-stream: %s", r->bucket,
					  r->key, err_str(rc));
			conn_close_after(r->c);
		}
	}
	objio_close(rd);
	if (rc != 0) {
		/* make conn_serve drop the connection */
		conn_close_after(r->c);
	}
}

static void
op_delete_object(struct req *r)
{
	struct cat_bucket b;
	char okey[CATALOG_OKEY_LEN + 1];
	int rc;

	if (bucket_for(r, true, &b) != 0)
		return;
	catalog_object_key(r->srv->cat, &b, r->key, okey);
	catalog_lock_key(r->srv->cat, okey);
	rc = store_delete(r->srv->st, b.space, okey);
	if (rc == 0 || rc == CS_ENOENT) {
		if (catalog_object_del(r->srv->cat, r->bucket, r->key) == 0)
			log_info("object deleted bucket=%s user=%s", r->bucket, r->s.user);
	}
	if (rc == 0)
		AUDIT(r->srv, "object_delete", "user", r->s.user, "akid", r->s.akid, "bucket",
		      r->bucket, "okey", okey);
	catalog_unlock_key(r->srv->cat, okey);
	if (rc != 0 && rc != CS_ENOENT) {
		s3_error_rc(r, rc, "deleting the object");
		return;
	}
	if (conn_respond(r->c, 204, r->rh, r->nrh, "", 0) != 0) {
		/* client gone */
	}
}

static void
op_delete_objects(struct req *r)
{
	struct membuf mb = {0};
	struct cat_bucket b;
	struct sbuf x = {0};
	char **keys = NULL;
	size_t nkeys = 0;
	bool quiet = false;

	if (bucket_for(r, true, &b) != 0)
		return;
	if (read_body(r, S3XML_MAX_BODY, mem_sink, NULL, &mb) != 0) {
		free(mb.b);
		return;
	}
	{
		uint8_t md5[16];
		unsigned int ml = 0;

		if (EVP_Digest(mb.b ? (const void *)mb.b : (const void *)"", mb.n, md5, &ml,
			       EVP_md5(), NULL) != 1 ||
		    content_md5_check(r, md5) != 0) {
			free(mb.b);
			return;
		}
	}
	if (s3xml_delete((const char *)mb.b, mb.n, &keys, &nkeys, &quiet) != 0) {
		free(mb.b);
		s3_error(r, 400, "MalformedXML",
			 "The XML you provided was not well-formed or did not validate against our "
			 "published schema.");
		return;
	}
	free(mb.b);
	sbuf_str(&x, XML_HEAD "<DeleteResult xmlns=\"" S3_NS "\">");
	for (size_t i = 0; i < nkeys; i++) {
		char okey[CATALOG_OKEY_LEN + 1];
		int rc;

		catalog_object_key(r->srv->cat, &b, keys[i], okey);
		catalog_lock_key(r->srv->cat, okey);
		rc = store_delete(r->srv->st, b.space, okey);
		if ((rc == 0 || rc == CS_ENOENT) &&
		    catalog_object_del(r->srv->cat, r->bucket, keys[i]) == 0)
			log_info("object deleted bucket=%s user=%s", r->bucket, r->s.user);
		catalog_unlock_key(r->srv->cat, okey);
		if (rc == 0)
			AUDIT(r->srv, "object_delete", "user", r->s.user, "akid", r->s.akid,
			      "bucket", r->bucket, "okey", okey);
		if (rc != 0 && rc != CS_ENOENT) {
			sbuf_str(&x, "<Error><Key>");
			sbuf_xml(&x, keys[i], strlen(keys[i]));
			sbuf_str(&x, "</Key><Code>InternalError</Code><Message>storage error"
				     "</Message></Error>");
		} else {
			if (!quiet) {
				sbuf_str(&x, "<Deleted><Key>");
				sbuf_xml(&x, keys[i], strlen(keys[i]));
				sbuf_str(&x, "</Key></Deleted>");
			}
		}
		free(keys[i]);
	}
	free(keys);
	sbuf_str(&x, "</DeleteResult>");
	send_xml(r, 200, &x);
}

/* ---- multipart ----------------------------------------------------------- */

/* Store keys: "u-<32 hex>" (the upload: metadata, no data) and
 * "u-<32 hex>-<part, 5 digits>" (a part). */

static bool
upload_id_ok(const char *id)
{
	if (id == NULL || strlen(id) != 32)
		return false;
	for (size_t i = 0; i < 32; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

/* upload_open: the upload's record, checked to belong to r->key. */
static int
upload_open(struct req *r, const struct cat_bucket *b, const char *id, struct objio_rd **rd)
{
	char key[40];
	int rc;

	if (!upload_id_ok(id)) {
		s3_error(r, 404, "NoSuchUpload", "The specified upload does not exist.");
		return -1;
	}
	snprintf(key, sizeof(key), "u-%s", id);
	rc = objio_open(&r->x, b, key, rd);
	if (rc == 0 && strcmp(objio_meta(*rd)->name, r->key) == 0)
		return 0;
	objio_close(*rd);
	*rd = NULL;
	if (rc == 0 || rc == CS_ENOENT)
		s3_error(r, 404, "NoSuchUpload", "The specified upload does not exist.");
	else
		s3_error_rc(r, rc, "opening the upload");
	return -1;
}

static void
op_create_upload(struct req *r)
{
	struct cat_bucket b;
	struct objmeta m;
	struct objio_wr *w = NULL;
	uint8_t rnd[16], md5[16];
	char id[33], key[40];
	struct sbuf x = {0};
	const char *ct;
	size_t ctl = 0;
	int rc;

	if (bucket_for(r, true, &b) != 0)
		return;
	if (strlen(r->key) > CATALOG_KEY_MAX) {
		s3_error(r, 400, "KeyTooLongError", "Your key is too long");
		return;
	}
	memset(&m, 0, sizeof(m));
	m.name = r->key;
	m.mtime_ms = now_ms();
	if ((ct = header(r, "Content-Type", &ctl)) != NULL && ctl <= CATALOG_CTYPE_MAX)
		m.ctype = strndup(ct, ctl);
	if (collect_meta(r, &m) != 0)
		goto out;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		s3_error(r, 500, "InternalError", "no randomness");
		goto out;
	}
	hex_encode(id, rnd, sizeof(rnd));
	snprintf(key, sizeof(key), "u-%s", id);
	/* objio_commit releases w, also when it fails; only an unfinished w is aborted. */
	if ((rc = objio_create(&r->x, &b, key, &m, 0, OBJIO_MD5, &w)) != 0) {
		create_failed(r, &b, rc, "creating the upload");
		goto out;
	}
	if ((rc = objio_finish(w, 0, NULL, md5, NULL, NULL)) != 0) {
		objio_abort(w);
		s3_error_rc(r, rc, "creating the upload");
		goto out;
	}
	if ((rc = objio_commit(w)) != 0) {
		s3_error_rc(r, rc, "creating the upload");
		goto out;
	}
	sbuf_str(&x, XML_HEAD "<InitiateMultipartUploadResult xmlns=\"" S3_NS "\"><Bucket>");
	sbuf_xml(&x, r->bucket, strlen(r->bucket));
	sbuf_str(&x, "</Bucket><Key>");
	sbuf_xml(&x, r->key, strlen(r->key));
	sbuf_printf(&x, "</Key><UploadId>%s</UploadId></InitiateMultipartUploadResult>", id);
	send_xml(r, 200, &x);
out:
	m.name = NULL;
	objmeta_clear(&m);
}

static int
part_number(const char *s)
{
	char *end;
	unsigned long v;

	if (s == NULL || s[0] < '1' || s[0] > '9')
		return -1;
	v = strtoul(s, &end, 10);
	return *end == '\0' && v >= 1 && v <= 10000 ? (int)v : -1;
}

static void
op_upload_part(struct req *r)
{
	struct cat_bucket b;
	struct objio_rd *up = NULL;
	struct objmeta m;
	char key[48], etag[CATALOG_ETAG_MAX + 1];
	uint8_t md5[16];
	uint64_t size = 0;
	int pn = part_number(param(r, "partNumber"));

	if (bucket_for(r, true, &b) != 0)
		return;
	if (pn < 0) {
		s3_error(r, 400, "InvalidArgument",
			 "Part number must be an integer between 1 and 10000");
		return;
	}
	if (upload_open(r, &b, param(r, "uploadId"), &up) != 0)
		return;
	objio_close(up);
	memset(&m, 0, sizeof(m));
	m.name = r->key;
	m.mtime_ms = now_ms();
	snprintf(key, sizeof(key), "u-%s-%05d", param(r, "uploadId"), pn);
	if (put_stream(r, &b, key, &m, NULL, md5, &size) != 0)
		return;
	objio_etag_text(md5, 0, etag);
	hdr_add(r, "ETag", etag);
	if (conn_respond(r->c, 200, r->rh, r->nrh, "", 0) != 0) {
		/* client gone */
	}
}

/* Parts of an upload, from the store. */
struct part_info {
	int number;
	uint64_t size;
	int64_t mtime_ms;
	uint8_t md5[16];
	char etag[CATALOG_ETAG_MAX + 1];
};

struct parts_ctx {
	struct req *r;
	const struct cat_bucket *b;
	char prefix[40];
	struct part_info *p;
	size_t n, cap;
	int rc;
};

static int
parts_cb(void *arg, const char *key, uint64_t size)
{
	struct parts_ctx *x = arg;
	struct objio_rd *rd;
	struct part_info *pi;
	size_t pl = strlen(x->prefix);

	(void)size;
	if (strncmp(key, x->prefix, pl) != 0 || strlen(key) != pl + 5)
		return 0;
	if (x->n == x->cap) {
		size_t cap = x->cap ? x->cap * 2 : 16;
		struct part_info *np = realloc(x->p, cap * sizeof(*np));

		if (np == NULL)
			return x->rc = CS_ENOMEM;
		x->p = np;
		x->cap = cap;
	}
	if ((x->rc = objio_open(&x->r->x, x->b, key, &rd)) != 0)
		return x->rc;
	pi = &x->p[x->n++];
	pi->number = atoi(key + pl);
	pi->size = objio_size(rd);
	pi->mtime_ms = objio_meta(rd)->mtime_ms;
	objio_etag(rd, pi->etag);
	/* the ETag is the hex MD5 in quotes */
	if (hex_decode(pi->md5, 16, pi->etag + 1, 32) != 16)
		memset(pi->md5, 0, 16);
	objio_close(rd);
	return 0;
}

static int
cmp_part(const void *a, const void *b)
{
	return ((const struct part_info *)a)->number - ((const struct part_info *)b)->number;
}

static int
list_parts(struct req *r, const struct cat_bucket *b, const char *id, struct parts_ctx *x)
{
	int rc;

	memset(x, 0, sizeof(*x));
	x->r = r;
	x->b = b;
	snprintf(x->prefix, sizeof(x->prefix), "u-%s-", id);
	rc = store_list(r->srv->st, b->space, parts_cb, x);
	if (rc != 0 || x->rc != 0) {
		free(x->p);
		x->p = NULL;
		return rc != 0 ? rc : x->rc;
	}
	if (x->n > 1) /* no parts: x->p is NULL, and qsort(NULL, 0) is undefined */
		qsort(x->p, x->n, sizeof(*x->p), cmp_part);
	return 0;
}

static void
op_list_parts(struct req *r)
{
	struct cat_bucket b;
	struct objio_rd *up = NULL;
	struct parts_ctx x;
	struct sbuf s = {0};
	const char *id = param(r, "uploadId");
	int marker = 0, maxp = 1000, rc;
	unsigned shown = 0;
	bool trunc = false;
	int last = 0;

	if (bucket_for(r, false, &b) != 0)
		return;
	if (upload_open(r, &b, id, &up) != 0)
		return;
	objio_close(up);
	if (param(r, "part-number-marker") != NULL)
		marker = atoi(param(r, "part-number-marker"));
	if (param(r, "max-parts") != NULL && (maxp = atoi(param(r, "max-parts"))) <= 0)
		maxp = 1000;
	if ((rc = list_parts(r, &b, id, &x)) != 0) {
		s3_error_rc(r, rc, "listing parts");
		return;
	}
	sbuf_str(&s, XML_HEAD "<ListPartsResult xmlns=\"" S3_NS "\"><Bucket>");
	sbuf_xml(&s, r->bucket, strlen(r->bucket));
	sbuf_str(&s, "</Bucket><Key>");
	sbuf_xml(&s, r->key, strlen(r->key));
	sbuf_printf(&s, "</Key><UploadId>%s</UploadId><PartNumberMarker>%d</PartNumberMarker>", id,
		    marker);
	sbuf_str(&s, "<StorageClass>STANDARD</StorageClass>");
	for (size_t i = 0; i < x.n; i++) {
		char when[32];

		if (x.p[i].number <= marker)
			continue;
		if ((int)shown == maxp) {
			trunc = true;
			break;
		}
		iso8601(x.p[i].mtime_ms, when);
		sbuf_printf(
			&s,
			"<Part><PartNumber>%d</PartNumber><LastModified>%s</LastModified><ETag>",
			x.p[i].number, when);
		sbuf_xml(&s, x.p[i].etag, strlen(x.p[i].etag));
		sbuf_printf(&s, "</ETag><Size>%" PRIu64 "</Size></Part>", x.p[i].size);
		last = x.p[i].number;
		shown++;
	}
	sbuf_printf(&s,
		    "<NextPartNumberMarker>%d</NextPartNumberMarker><MaxParts>%d</MaxParts>"
		    "<IsTruncated>%s</IsTruncated></ListPartsResult>",
		    last, maxp, trunc ? "true" : "false");
	free(x.p);
	send_xml(r, 200, &s);
}

static void
delete_upload(struct req *r, const struct cat_bucket *b, const char *id, const struct parts_ctx *x)
{
	char key[48];

	for (size_t i = 0; i < x->n; i++) {
		snprintf(key, sizeof(key), "u-%s-%05d", id, x->p[i].number);
		if (store_delete(r->srv->st, b->space, key) != 0)
			log_warn("upload %s: part %d not removed", id, x->p[i].number);
	}
	snprintf(key, sizeof(key), "u-%s", id);
	if (store_delete(r->srv->st, b->space, key) != 0)
		log_warn("upload %s: record not removed", id);
}

static void
op_abort_upload(struct req *r)
{
	struct cat_bucket b;
	struct objio_rd *up = NULL;
	struct parts_ctx x;
	const char *id = param(r, "uploadId");
	int rc;

	if (bucket_for(r, true, &b) != 0)
		return;
	if (upload_open(r, &b, id, &up) != 0)
		return;
	objio_close(up);
	if ((rc = list_parts(r, &b, id, &x)) != 0) {
		s3_error_rc(r, rc, "listing parts");
		return;
	}
	delete_upload(r, &b, id, &x);
	free(x.p);
	if (conn_respond(r->c, 204, r->rh, r->nrh, "", 0) != 0) {
		/* client gone */
	}
}

struct copy_ctx {
	struct objio_wr *w;
};

static int
copy_sink(void *arg, const uint8_t *p, size_t n)
{
	return objio_write(((struct copy_ctx *)arg)->w, p, n);
}

static void
op_complete_upload(struct req *r)
{
	struct cat_bucket b;
	struct objio_rd *up = NULL;
	struct parts_ctx x = {0};
	struct membuf mb = {0};
	struct s3xml_part *want = NULL;
	struct objio_wr *w = NULL;
	struct objmeta m;
	struct cat_object o;
	struct sbuf s = {0};
	const char *id = param(r, "uploadId");
	char okey[CATALOG_OKEY_LEN + 1], etag[CATALOG_ETAG_MAX + 1], key[48];
	uint8_t md5s_digest[16];
	EVP_MD_CTX *md5s = NULL;
	size_t nwant = 0;
	uint64_t total = 0;
	int64_t mtime = now_ms();
	unsigned int dl = 0;
	int rc;

	memset(&m, 0, sizeof(m));
	if (bucket_for(r, true, &b) != 0)
		return;
	if (upload_open(r, &b, id, &up) != 0)
		return;
	if (read_body(r, S3XML_MAX_BODY, mem_sink, NULL, &mb) != 0)
		goto out;
	if (s3xml_complete((const char *)mb.b, mb.n, &want, &nwant) != 0) {
		s3_error(r, 400, "MalformedXML",
			 "The XML you provided was not well-formed or did not validate against our "
			 "published schema.");
		goto out;
	}
	if ((rc = list_parts(r, &b, id, &x)) != 0) {
		s3_error_rc(r, rc, "listing parts");
		goto out;
	}
	if ((md5s = EVP_MD_CTX_new()) == NULL || EVP_DigestInit_ex(md5s, EVP_md5(), NULL) != 1) {
		s3_error(r, 500, "InternalError", "out of memory");
		goto out;
	}
	/* Every listed part must exist with its ETag, in ascending order, and
	 * all but the last must be at least 5 MiB. */
	for (size_t i = 0; i < nwant; i++) {
		struct part_info *pi = NULL;

		if (i > 0 && want[i].number <= want[i - 1].number) {
			s3_error(r, 400, "InvalidPartOrder",
				 "The list of parts was not in ascending order.");
			goto out;
		}
		for (size_t k = 0; k < x.n; k++)
			if (x.p[k].number == (int)want[i].number)
				pi = &x.p[k];
		if (pi == NULL ||
		    strncmp(pi->etag + 1, want[i].etag, 32) != 0 || /* ct-ok: an ETag is public */
		    strlen(want[i].etag) != 32) {
			s3_error(r, 400, "InvalidPart",
				 "One or more of the specified parts could not be found.");
			goto out;
		}
		if (i + 1 < nwant && pi->size < MIN_PART) {
			s3_error(r, 400, "EntityTooSmall",
				 "Your proposed upload is smaller than the minimum allowed object "
				 "size.");
			goto out;
		}
		EVP_DigestUpdate(md5s, pi->md5, 16);
		total += pi->size;
	}
	if (EVP_DigestFinal_ex(md5s, md5s_digest, &dl) != 1) {
		s3_error(r, 500, "InternalError", "digest failure");
		goto out;
	}
	/* Re-seal the parts' plaintext as one object (docs/PROTOCOL.md says why). */
	m = *objio_meta(up);
	m.mtime_ms = mtime;
	catalog_object_key(r->srv->cat, &b, r->key, okey);
	if ((rc = objio_create(&r->x, &b, okey, &m, total, 0, &w)) != 0) {
		memset(&m, 0, sizeof(m));
		create_failed(r, &b, rc, "creating the object");
		goto out;
	}
	for (size_t i = 0; i < nwant; i++) {
		struct objio_rd *pr = NULL;
		struct copy_ctx cc = {w};

		snprintf(key, sizeof(key), "u-%s-%05u", id, want[i].number);
		if ((rc = objio_open(&r->x, &b, key, &pr)) != 0 ||
		    (rc = objio_read(&r->x, pr, 0, objio_size(pr), copy_sink, &cc)) != 0) {
			objio_close(pr);
			objio_abort(w);
			memset(&m, 0, sizeof(m));
			s3_error_rc(r, rc, "assembling the parts");
			goto out;
		}
		objio_close(pr);
	}
	memset(&m, 0, sizeof(m)); /* borrowed from up */
	if ((rc = objio_finish(w, (uint32_t)nwant, md5s_digest, NULL, NULL, NULL)) != 0) {
		objio_abort(w);
		s3_error_rc(r, rc, "sealing the object");
		goto out;
	}
	objio_etag_text(md5s_digest, (uint32_t)nwant, etag);
	memset(&o, 0, sizeof(o));
	o.name = r->key;
	o.size = total;
	o.mtime_ms = mtime;
	snprintf(o.etag, sizeof(o.etag), "%s", etag);
	snprintf(o.ctype, sizeof(o.ctype), "%s",
		 objio_meta(up)->ctype ? objio_meta(up)->ctype : "binary/octet-stream");
	/* objio_commit releases w, also when it fails. */
	catalog_lock_key(r->srv->cat, okey);
	if ((rc = objio_commit(w)) == 0)
		rc = catalog_object_put(r->srv->cat, r->bucket, &o);
	catalog_unlock_key(r->srv->cat, okey);
	if (rc != 0) {
		s3_error_rc(r, rc, "committing the object");
		goto out;
	}
	delete_upload(r, &b, id, &x);
	sbuf_str(&s, XML_HEAD "<CompleteMultipartUploadResult xmlns=\"" S3_NS "\"><Location>/");
	sbuf_xml(&s, r->bucket, strlen(r->bucket));
	sbuf_str(&s, "/");
	sbuf_xml(&s, r->key, strlen(r->key));
	sbuf_str(&s, "</Location><Bucket>");
	sbuf_xml(&s, r->bucket, strlen(r->bucket));
	sbuf_str(&s, "</Bucket><Key>");
	sbuf_xml(&s, r->key, strlen(r->key));
	sbuf_str(&s, "</Key><ETag>");
	sbuf_xml(&s, etag, strlen(etag));
	sbuf_str(&s, "</ETag></CompleteMultipartUploadResult>");
	send_xml(r, 200, &s);
out:
	EVP_MD_CTX_free(md5s);
	objio_close(up);
	free(want);
	free(mb.b);
	free(x.p);
}

struct uploads_ctx {
	struct req *r;
	const struct cat_bucket *b;
	struct sbuf *s;
};

static int
uploads_cb(void *arg, const char *key, uint64_t size)
{
	struct uploads_ctx *x = arg;
	struct objio_rd *rd;
	char when[32];

	(void)size;
	if (strlen(key) != 34 || strncmp(key, "u-", 2) != 0)
		return 0;
	if (objio_open(&x->r->x, x->b, key, &rd) != 0)
		return 0;
	iso8601(objio_meta(rd)->mtime_ms, when);
	sbuf_str(x->s, "<Upload><Key>");
	sbuf_xml(x->s, objio_meta(rd)->name, strlen(objio_meta(rd)->name));
	sbuf_printf(x->s,
		    "</Key><UploadId>%s</UploadId><Initiated>%s</Initiated>"
		    "<StorageClass>STANDARD</StorageClass></Upload>",
		    key + 2, when);
	objio_close(rd);
	return 0;
}

static void
op_list_uploads(struct req *r)
{
	struct cat_bucket b;
	struct sbuf s = {0};
	struct uploads_ctx x = {r, &b, &s};

	if (bucket_for(r, false, &b) != 0)
		return;
	sbuf_str(&s, XML_HEAD "<ListMultipartUploadsResult xmlns=\"" S3_NS "\"><Bucket>");
	sbuf_xml(&s, r->bucket, strlen(r->bucket));
	sbuf_str(&s, "</Bucket><KeyMarker></KeyMarker><UploadIdMarker></UploadIdMarker>"
		     "<MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>");
	if (store_list(r->srv->st, b.space, uploads_cb, &x) != 0) {
		sbuf_free(&s);
		s3_error(r, 500, "InternalError", "listing uploads failed");
		return;
	}
	sbuf_str(&s, "</ListMultipartUploadsResult>");
	send_xml(r, 200, &s);
}

/* ---- routing ------------------------------------------------------------- */

static void
route(struct req *r)
{
	enum http_method_id m = r->h->method_id;

	if (r->bucket == NULL) {
		if (m == HTTP_M_GET)
			op_list_buckets(r);
		else
			s3_error(r, 405, "MethodNotAllowed",
				 "The specified method is not allowed against this resource.");
		return;
	}
	if (r->key == NULL) {
		switch (m) {
		case HTTP_M_PUT:
			if (subresources(r) > 0)
				s3_error(r, 501, "NotImplemented",
					 "bucket sub-resource not implemented");
			else
				op_create_bucket(r);
			return;
		case HTTP_M_HEAD:
			op_head_bucket(r);
			return;
		case HTTP_M_DELETE:
			op_delete_bucket(r);
			return;
		case HTTP_M_POST:
			if (has_param(r, "delete"))
				op_delete_objects(r);
			else
				s3_error(r, 405, "MethodNotAllowed", "POST needs ?delete");
			return;
		case HTTP_M_GET:
			if (has_param(r, "location"))
				op_location(r);
			else if (has_param(r, "uploads"))
				op_list_uploads(r);
			else if (has_param(r, "versioning") || has_param(r, "acl") ||
				 has_param(r, "policy") || has_param(r, "lifecycle") ||
				 has_param(r, "cors") || has_param(r, "tagging"))
				s3_error(r, 501, "NotImplemented",
					 "bucket sub-resource not implemented");
			else
				op_list_objects(r, param(r, "list-type") != NULL &&
							   strcmp(param(r, "list-type"), "2") == 0);
			return;
		default:
			s3_error(r, 405, "MethodNotAllowed",
				 "The specified method is not allowed against this resource.");
			return;
		}
	}
	switch (m) {
	case HTTP_M_PUT:
		if (has_param(r, "uploadId") || has_param(r, "partNumber"))
			op_upload_part(r);
		else if (subresources(r) > 0)
			s3_error(r, 501, "NotImplemented", "object sub-resource not implemented");
		else
			op_put_object(r);
		return;
	case HTTP_M_GET:
		if (has_param(r, "uploadId"))
			op_list_parts(r);
		else if (has_param(r, "acl") || has_param(r, "tagging"))
			s3_error(r, 501, "NotImplemented", "object sub-resource not implemented");
		else
			op_get_object(r, false);
		return;
	case HTTP_M_HEAD:
		op_get_object(r, true);
		return;
	case HTTP_M_DELETE:
		if (has_param(r, "uploadId"))
			op_abort_upload(r);
		else
			op_delete_object(r);
		return;
	case HTTP_M_POST:
		if (has_param(r, "uploads"))
			op_create_upload(r);
		else if (has_param(r, "uploadId"))
			op_complete_upload(r);
		else
			s3_error(r, 405, "MethodNotAllowed", "POST needs ?uploads or ?uploadId");
		return;
	default:
		s3_error(r, 405, "MethodNotAllowed",
			 "The specified method is not allowed against this resource.");
		return;
	}
}

void
s3api_handle(struct conn *c)
{
	struct req *r = calloc(1, sizeof(*r));
	uint8_t rnd[8];

	if (r == NULL) {
		conn_close_after(c);
		return;
	}
	r->c = c;
	r->srv = conn_server(c);
	r->h = conn_req(c);
	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		memset(rnd, 0, sizeof(rnd));
	hex_encode(r->reqid, rnd, sizeof(rnd));
	hdr_add(r, "x-amz-request-id", r->reqid);
	r->x.st = r->srv->st;
	r->x.ks = r->srv->ks;
	r->x.e = conn_engine(c);
	r->x.suite = r->srv->suite;
	r->x.chunk = r->srv->cfg.chunk_size;
	r->x.q = r->srv->cfg.pipeline ? r->srv->sealq : NULL;
	r->x.md5 = r->srv->md5c;
	r->x.seal = r->srv->sealc;
	if (procmodel_request_begin(r->srv) != 0) {
		/* A connection process that missed changes cannot trust its index. */
		conn_close_after(c);
		s3_error(r, 503, "SlowDown", "please reconnect (this connection's view is stale)");
	} else if (r->x.e == NULL) {
		s3_error(r, 503, "SlowDown", "no crypto engine available");
	} else if (parse_target(r) != 0) {
		s3_error(r, 400, "InvalidURI", "Couldn't parse the specified URI.");
	} else if (authenticate(r) == 0) {
		log_debug("%s %s %s user=%s level=%s", conn_peer(c), r->h->method, r->h->target,
			  r->s.user, r->s.level_text);
		route(r);
	}
	procmodel_request_end(r->srv);
	sigv4_auth_clear(&r->auth);
	free(r->bucket);
	free(r->key);
	for (size_t i = 0; i < r->nparams; i++) {
		free(r->params[i].name);
		free(r->params[i].value);
	}
	free(r);
}
