/*
 * sigv4: AWS Signature Version 4 for S3.  See sigv4.h for the rules and the
 * policy.
 *
 * The canonical request is never materialised for verification: it is
 * streamed into SHA-256 through a small sink, query parameters are sorted as
 * spans into the raw target and re-encoded on the fly by an iterator, so the
 * only memory used is a bounded stack frame.  The verifier and the signer run
 * the same canon_build() and sign_internal().
 *
 * Parsers work on spans (pointer + length) into the caller's buffers and read
 * only after checking the length; no input is assumed to be NUL-terminated.
 */
#include "sigv4.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/secmem.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define SIGV4_ALGORITHM  "AWS4-HMAC-SHA256"
#define SIGV4_TERMINATOR "aws4_request"
#define SIGV4_SERVICE    "s3"
#define EMPTY_SHA256_HEX "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

#define MAX_METHOD     32
#define MAX_CREDENTIAL 256 /* akid/date/region/service/terminator */

/* GUARD(call): propagate a negative return value. */
#define GUARD(call)                                                                                \
	do {                                                                                       \
		int guard_rc_ = (call);                                                            \
		if (guard_rc_ < 0)                                                                 \
			return guard_rc_;                                                          \
	} while (0)

/*
 * ENSURE(cond, msg): inside a parser, fail with CS_EINVAL and the reason msg
 * unless cond holds.  Expects a `const char **why` in scope.
 */
#define ENSURE(cond, msg)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			*why = (msg);                                                              \
			return CS_EINVAL;                                                          \
		}                                                                                  \
	} while (0)

/* ---- details (the Message of the S3 error) ---------------------------------------------- */

static const char msg_ok[] = "";
static const char msg_unverified[] = "The request has not been verified";
static const char msg_clock[] = "The server clock is out of range";
static const char msg_expired[] = "Request has expired";
static const char msg_not_yet[] = "Request is not valid yet";
static const char msg_skewed[] =
	"The difference between the request time and the current time is too large.";
static const char msg_mismatch[] = "The request signature we calculated does not match the "
				   "signature you provided. Check your key and signing method.";
static const char msg_absent[] = "A header named in SignedHeaders is not in the request";
static const char msg_unknown_key[] =
	"The AWS Access Key Id you provided does not exist in our records.";
static const char msg_unsigned[] = "There were headers present in the request which were not "
				   "signed";
static const char msg_token[] = "Session tokens (X-Amz-Security-Token) are not supported";
static const char msg_no_date[] = "AWS authentication requires a valid Date or x-amz-date header";
static const char msg_no_sha[] = "Missing required header for this request: x-amz-content-sha256";
static const char msg_bad_sha[] = "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, "
				  "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, "
				  "STREAMING-UNSIGNED-PAYLOAD-TRAILER or a valid sha256 value.";
static const char msg_bad_dlen[] = "x-amz-decoded-content-length must be a decimal number";
static const char msg_two_auth[] = "Only one auth mechanism allowed; only the X-Amz-Algorithm "
				   "query parameter or the Authorization header should be "
				   "specified";
static const char msg_scheme[] = "The authorization mechanism you have provided is not "
				 "supported. Please use AWS4-HMAC-SHA256.";
static const char msg_anonymous[] = "The request carries no authentication";
static const char msg_bad_request[] = "The request is malformed or exceeds a size limit";
static const char msg_bad_query[] = "The query string is malformed or has too many parameters";
static const char msg_lookup[] = "The credential lookup failed";
static const char msg_crypto[] = "The crypto library failed";
static const char msg_nomem[] = "Out of secure memory";
static const char msg_authz[] = "The authorization header is malformed; it must be "
				"'AWS4-HMAC-SHA256 Credential=..., SignedHeaders=..., "
				"Signature=...'";
static const char msg_query_missing[] =
	"Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
	"X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.";
static const char msg_query_dup[] = "An X-Amz-* authentication parameter is given more than once";
static const char msg_query_alg[] = "X-Amz-Algorithm only supports \"AWS4-HMAC-SHA256\"";
static const char msg_query_date[] =
	"X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"";
static const char msg_query_expires[] = "X-Amz-Expires must be between 1 and 604800 seconds";
static const char msg_cred[] = "The credential must be AKID/YYYYMMDD/region/s3/aws4_request";
static const char msg_cred_akid[] = "The access key id in the credential is malformed";
static const char msg_cred_date[] = "The credential date is malformed";
static const char msg_cred_region[] = "The credential should be scoped to a valid region";
static const char msg_cred_region_wrong[] = "The region in the credential is wrong for this server";
static const char msg_cred_service[] = "The credential should be scoped to correct service: 's3'";
static const char msg_cred_term[] =
	"The credential should be scoped with a valid terminator: 'aws4_request'";
static const char msg_cred_day[] = "The credential date is not the date of X-Amz-Date";
static const char msg_list[] = "SignedHeaders must be lowercase header names separated by ';', "
			       "in ascending order, without repeats";
static const char msg_list_host[] = "SignedHeaders must include host";
static const char msg_sig[] = "The signature must be 64 hex digits";

/* ---- spans and characters ----------------------------------------------------------------- */

/* A byte string inside someone else's buffer, not NUL-terminated. */
struct span {
	const char *p;
	size_t n;
};

static struct span
span_make(const char *p, size_t n)
{
	struct span s = {p, n};

	return s;
}

static unsigned char
at(struct span s, size_t i)
{
	return (unsigned char)s.p[i];
}

/*
 * find(p, n, c): memchr(), except that an empty range, whose p may point one
 * past a buffer, is never handed to it.
 */
static const char *
find(const char *p, size_t n, char c)
{
	return n > 0 ? memchr(p, c, n) : NULL;
}

/* span_is(s, lit): s equals the literal exactly. */
static bool
span_is(struct span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.n == n && memcmp(s.p, lit, n) == 0;
}

static unsigned char
ascii_lower(unsigned char c)
{
	return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* span_ieq(a, b): equal ignoring ASCII case. */
static bool
span_ieq(struct span a, struct span b)
{
	if (a.n != b.n)
		return false;
	for (size_t i = 0; i < a.n; i++)
		if (ascii_lower(at(a, i)) != ascii_lower(at(b, i)))
			return false;
	return true;
}

/* Optional whitespace inside HTTP fields. */
static bool
is_ows(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* Whitespace that Trimall removes or collapses (Python's str.split() ASCII set). */
static bool
is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static struct span
span_trim_ows(struct span s)
{
	while (s.n > 0 && is_ows(at(s, 0))) {
		s.p++;
		s.n--;
	}
	while (s.n > 0 && is_ows(at(s, s.n - 1)))
		s.n--;
	return s;
}

static bool
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

/* RFC 3986 unreserved: kept as is by the AWS URI encoding. */
static bool
is_unreserved(unsigned char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || is_digit(c) || c == '-' ||
	       c == '_' || c == '.' || c == '~';
}

/* A lowercase RFC 9110 token character: what a canonical header name may hold. */
static bool
is_lower_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || is_digit(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c));
}

/* Bytes an access key id, region or service name may hold. */
static bool
is_scope_char(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '/' && c != ',' && c != ';' && c != '=';
}

/* ---- percent-decoding and the encoding iterator -------------------------------------------- */

/* pct_valid(s): every '%' in s starts a %XX escape. */
static bool
pct_valid(struct span s)
{
	for (size_t i = 0; i < s.n; i++) {
		if (at(s, i) != '%')
			continue;
		if (s.n - i < 3 || hex_value(at(s, i + 1)) < 0 || hex_value(at(s, i + 2)) < 0)
			return false;
		i += 2;
	}
	return true;
}

/*
 * pct_decode(s, out, outsz): decode the (pct_valid) span s into out.  Returns
 * the decoded length, or -1 if it does not fit.  out is not NUL-terminated.
 */
static long
pct_decode(struct span s, char *out, size_t outsz)
{
	size_t o = 0;

	for (size_t i = 0; i < s.n; i++) {
		unsigned char c = at(s, i);

		if (c == '%') {
			c = (unsigned char)(hex_value(at(s, i + 1)) << 4 | hex_value(at(s, i + 2)));
			i += 2;
		}
		if (o == outsz)
			return -1;
		out[o++] = (char)c;
	}
	return (long)o;
}

/* pct_is(s, lit): the decoded (pct_valid) span s equals the literal. */
static bool
pct_is(struct span s, const char *lit)
{
	char buf[32];
	long n;
	size_t len = strlen(lit);

	if (len > sizeof(buf) || s.n > 3 * len)
		return false;
	n = pct_decode(s, buf, sizeof(buf));
	return n == (long)len && memcmp(buf, lit, len) == 0;
}

/*
 * Yields the AWS encoding of the decoding of a (pct_valid) raw span, one byte
 * at a time: the canonical form of a query key or value.
 */
struct encit {
	struct span s;
	size_t i;
	char pend[2];
	unsigned npend;
};

static void
encit_init(struct encit *it, struct span s)
{
	it->s = s;
	it->i = 0;
	it->npend = 0;
}

/* encit_next(it): the next byte of the canonical form, or -1 at the end. */
static int
encit_next(struct encit *it)
{
	static const char digits[] = "0123456789ABCDEF";
	unsigned char c;

	if (it->npend > 0) {
		c = (unsigned char)it->pend[2 - it->npend];
		it->npend--;
		return c;
	}
	if (it->i >= it->s.n)
		return -1;
	c = at(it->s, it->i++);
	if (c == '%') {
		c = (unsigned char)(hex_value(at(it->s, it->i)) << 4 |
				    hex_value(at(it->s, it->i + 1)));
		it->i += 2;
	}
	if (is_unreserved(c))
		return c;
	it->pend[0] = digits[c >> 4];
	it->pend[1] = digits[c & 15];
	it->npend = 2;
	return '%';
}

/* enc_cmp(a, b): compare the canonical forms of two raw spans bytewise. */
static int
enc_cmp(struct span a, struct span b)
{
	struct encit x, y;

	encit_init(&x, a);
	encit_init(&y, b);
	for (;;) {
		int cx = encit_next(&x), cy = encit_next(&y);

		if (cx != cy)
			return cx < cy ? -1 : 1;
		if (cx < 0)
			return 0;
	}
}

/* ---- the query string ------------------------------------------------------------------------ */

struct qparam {
	struct span key, val;
};

struct query {
	size_t n;
	struct qparam p[SIGV4_MAX_PARAMS];
};

/*
 * query_parse(q, out): split the raw query q at '&' and each parameter at its
 * first '='.  Empty segments are skipped.  Returns 0, CS_EINVAL for a bad
 * %-escape or CS_ERANGE for more than SIGV4_MAX_PARAMS parameters.
 */
static int
query_parse(struct span q, struct query *out)
{
	size_t i = 0;

	out->n = 0;
	while (i < q.n) {
		const char *amp = find(q.p + i, q.n - i, '&');
		size_t end = amp != NULL ? (size_t)(amp - q.p) : q.n;
		struct span seg = span_make(q.p + i, end - i);
		const char *eq;

		i = end + 1;
		if (seg.n == 0)
			continue;
		if (out->n == SIGV4_MAX_PARAMS)
			return CS_ERANGE;
		eq = find(seg.p, seg.n, '=');
		if (eq != NULL) {
			out->p[out->n].key = span_make(seg.p, (size_t)(eq - seg.p));
			out->p[out->n].val = span_make(eq + 1, seg.n - (size_t)(eq - seg.p) - 1);
		} else {
			out->p[out->n].key = seg;
			out->p[out->n].val = span_make(seg.p + seg.n, 0);
		}
		if (!pct_valid(out->p[out->n].key) || !pct_valid(out->p[out->n].val))
			return CS_EINVAL;
		out->n++;
	}
	return 0;
}

static int
qparam_cmp(const void *a, const void *b)
{
	const struct qparam *x = a, *y = b;
	int c = enc_cmp(x->key, y->key);

	return c != 0 ? c : enc_cmp(x->val, y->val);
}

/* ---- the request --------------------------------------------------------------------------- */

/* req_check(req): the request is within the limits and its target is in origin form. */
static int
req_check(const struct sigv4_request *req)
{
	if (req == NULL || req->method == NULL || req->target == NULL ||
	    (req->headers == NULL && req->nheaders > 0))
		return CS_EINVAL;
	if (req->method_len == 0 || req->method_len > MAX_METHOD || req->target_len == 0 ||
	    req->target_len > SIGV4_MAX_TARGET || req->nheaders > SIGV4_MAX_HEADERS)
		return CS_ERANGE;
	for (size_t i = 0; i < req->method_len; i++)
		if (req->method[i] < 'A' || req->method[i] > 'Z')
			return CS_EINVAL;
	if (req->target[0] != '/')
		return CS_EINVAL;
	for (size_t i = 0; i < req->nheaders; i++) {
		const struct sigv4_header *h = &req->headers[i];

		if (h->name == NULL || (h->value == NULL && h->value_len > 0))
			return CS_EINVAL;
		if (h->name_len == 0 || h->name_len > SIGV4_MAX_HEADER_NAME ||
		    h->value_len > SIGV4_MAX_HEADER_VALUE)
			return CS_ERANGE;
	}
	return 0;
}

static struct span
hdr_name(const struct sigv4_header *h)
{
	return span_make(h->name, h->name_len);
}

static struct span
hdr_value(const struct sigv4_header *h)
{
	return span_make(h->value != NULL ? h->value : "", h->value_len);
}

/* hdr_find(req, name, value): how many headers are called name; *value is the first. */
static size_t
hdr_find(const struct sigv4_request *req, const char *name, struct span *value)
{
	struct span want = span_make(name, strlen(name));
	size_t count = 0;

	for (size_t i = 0; i < req->nheaders; i++) {
		if (!span_ieq(hdr_name(&req->headers[i]), want))
			continue;
		if (count++ == 0 && value != NULL)
			*value = hdr_value(&req->headers[i]);
	}
	return count;
}

/* split_target(req, path, query): the path and the raw query (after the first '?'). */
static void
split_target(const struct sigv4_request *req, struct span *path, struct span *query)
{
	const char *qm = find(req->target, req->target_len, '?');

	if (qm == NULL) {
		*path = span_make(req->target, req->target_len);
		*query = span_make(req->target + req->target_len, 0);
		return;
	}
	*path = span_make(req->target, (size_t)(qm - req->target));
	*query = span_make(qm + 1, req->target_len - (size_t)(qm - req->target) - 1);
}

/* ---- SignedHeaders ------------------------------------------------------------------------- */

/* list_next(list, pos, name): the next ';'-separated name at *pos; false at the end. */
static bool
list_next(struct span list, size_t *pos, struct span *name)
{
	const char *semi;
	size_t end;

	if (*pos > list.n)
		return false;
	semi = find(list.p + *pos, list.n - *pos, ';');
	end = semi != NULL ? (size_t)(semi - list.p) : list.n;
	*name = span_make(list.p + *pos, end - *pos);
	*pos = end + 1;
	return true;
}

static int
name_cmp(struct span a, struct span b)
{
	int c = memcmp(a.p, b.p, a.n < b.n ? a.n : b.n);

	if (c != 0)
		return c;
	return a.n < b.n ? -1 : a.n > b.n;
}

/*
 * list_check(list, has_host): list is a valid SignedHeaders value: 1 to
 * SIGV4_MAX_SIGNED lowercase token names, strictly ascending.  Returns 0,
 * CS_EINVAL or CS_ERANGE.
 */
static int
list_check(struct span list, bool *has_host)
{
	struct span name, prev = {NULL, 0};
	size_t pos = 0, count = 0;

	*has_host = false;
	if (list.n == 0)
		return CS_EINVAL;
	if (list.n > SIGV4_MAX_SIGNED_LEN)
		return CS_ERANGE;
	while (list_next(list, &pos, &name)) {
		if (name.n == 0 || name.n > SIGV4_MAX_HEADER_NAME)
			return CS_EINVAL;
		for (size_t i = 0; i < name.n; i++)
			if (!is_lower_tchar(at(name, i)))
				return CS_EINVAL;
		if (prev.p != NULL && name_cmp(prev, name) >= 0)
			return CS_EINVAL;
		if (++count > SIGV4_MAX_SIGNED)
			return CS_ERANGE;
		if (span_is(name, "host"))
			*has_host = true;
		prev = name;
	}
	return 0;
}

/* list_has(list, name): the (checked) list names the lowercase-insensitive header name. */
static bool
list_has(struct span list, struct span name)
{
	struct span n;
	size_t pos = 0;

	while (list_next(list, &pos, &n))
		if (span_ieq(n, name))
			return true;
	return false;
}

/* ---- the canonical request ----------------------------------------------------------------- */

/* Where the canonical request goes: a SHA-256 context, a text buffer, or both. */
struct sink {
	EVP_MD_CTX *md;
	char *out;
	size_t outsz, len;
	unsigned char stage[256];
	size_t nstage;
	bool failed;
};

static void
sink_emit(struct sink *s, const void *p, size_t n)
{
	if (s->md != NULL && EVP_DigestUpdate(s->md, p, n) != 1)
		s->failed = true;
	/* Once something did not fit, len > outsz and nothing later is copied. */
	if (s->out != NULL && s->len <= s->outsz && n <= s->outsz - s->len)
		memcpy(s->out + s->len, p, n);
	s->len += n;
}

static void
sink_flush(struct sink *s)
{
	if (s->nstage > 0)
		sink_emit(s, s->stage, s->nstage);
	s->nstage = 0;
}

static void
sink_write(struct sink *s, const void *p, size_t n)
{
	if (n > sizeof(s->stage) - s->nstage) {
		sink_flush(s);
		if (n > sizeof(s->stage)) {
			sink_emit(s, p, n);
			return;
		}
	}
	memcpy(s->stage + s->nstage, p, n);
	s->nstage += n;
}

static void
sink_putc(struct sink *s, unsigned char c)
{
	if (s->nstage == sizeof(s->stage))
		sink_flush(s);
	s->stage[s->nstage++] = c;
}

static void
sink_span(struct sink *s, struct span sp)
{
	sink_write(s, sp.p, sp.n);
}

static void
sink_encoded(struct sink *s, struct span raw)
{
	struct encit it;
	int c;

	encit_init(&it, raw);
	while ((c = encit_next(&it)) >= 0)
		sink_putc(s, (unsigned char)c);
}

/* sink_trimall(s, v): v without leading and trailing whitespace, inner runs as one space. */
static void
sink_trimall(struct sink *s, struct span v)
{
	size_t i = 0, end = v.n;
	bool space = false;

	while (i < end && is_ws(at(v, i)))
		i++;
	while (end > i && is_ws(at(v, end - 1)))
		end--;
	for (; i < end; i++) {
		unsigned char c = at(v, i);

		if (is_ws(c)) {
			space = true;
			continue;
		}
		if (space)
			sink_putc(s, ' ');
		space = false;
		sink_putc(s, c);
	}
}

/*
 * canon_build(req, p, s): stream the canonical request of req into s:
 *
 *	method \n path \n query \n (name:values \n)* \n signed-headers \n payload
 */
static int
canon_build(const struct sigv4_request *req, const struct sigv4_sign_params *p, struct sink *s)
{
	struct query q;
	struct span path, query, list, name;
	size_t pos = 0;
	bool first = true, has_host;

	GUARD(req_check(req));
	if (p == NULL || p->signed_headers == NULL || p->payload == NULL || p->amz_date == NULL ||
	    p->scope == NULL)
		return CS_EINVAL;
	list = span_make(p->signed_headers, p->signed_headers_len);
	GUARD(list_check(list, &has_host));
	if (p->payload_len > 128 || p->scope_len > SIGV4_MAX_SCOPE)
		return CS_ERANGE;
	split_target(req, &path, &query);
	GUARD(query_parse(query, &q));
	qsort(q.p, q.n, sizeof(q.p[0]), qparam_cmp);

	sink_write(s, req->method, req->method_len);
	sink_putc(s, '\n');
	sink_span(s, path);
	sink_putc(s, '\n');
	for (size_t i = 0; i < q.n; i++) {
		if (pct_is(q.p[i].key, "X-Amz-Signature"))
			continue;
		if (!first)
			sink_putc(s, '&');
		first = false;
		sink_encoded(s, q.p[i].key);
		sink_putc(s, '=');
		sink_encoded(s, q.p[i].val);
	}
	sink_putc(s, '\n');
	while (list_next(list, &pos, &name)) {
		bool found = false;

		sink_span(s, name);
		sink_putc(s, ':');
		for (size_t i = 0; i < req->nheaders; i++) {
			if (!span_ieq(hdr_name(&req->headers[i]), name))
				continue;
			if (found)
				sink_putc(s, ',');
			found = true;
			sink_trimall(s, hdr_value(&req->headers[i]));
		}
		if (!found)
			return CS_ENOENT;
		sink_putc(s, '\n');
	}
	sink_putc(s, '\n');
	sink_span(s, list);
	sink_putc(s, '\n');
	sink_write(s, p->payload, p->payload_len);
	sink_flush(s);
	return s->failed ? CS_ECRYPTO : 0;
}

int
sigv4_canonical_request(const struct sigv4_request *req, const struct sigv4_sign_params *p,
			char *out, size_t outsz, size_t *outlen)
{
	struct sink s;

	if (out == NULL || outsz == 0 || outlen == NULL)
		return CS_EINVAL;
	memset(&s, 0, sizeof(s));
	s.out = out;
	s.outsz = outsz - 1; /* room for the NUL */
	out[0] = '\0';
	*outlen = 0;
	GUARD(canon_build(req, p, &s));
	*outlen = s.len;
	if (s.len > s.outsz)
		return CS_ERANGE;
	out[s.len] = '\0';
	return 0;
}

/* ---- HMAC and signatures ------------------------------------------------------------------- */

static int
hmac256(const void *key, size_t keylen, const void *msg, size_t n, uint8_t out[32])
{
	unsigned int len = 0;

	if (keylen > INT_MAX)
		return CS_EINVAL;
	if (HMAC(EVP_sha256(), key, (int)keylen, msg, n, out, &len) == NULL || len != 32)
		return CS_ECRYPTO;
	return 0;
}

int
sigv4_signing_key(const uint8_t *secret, size_t secret_len, const char *date, const char *region,
		  const char *service, uint8_t out[32])
{
	uint8_t k[4 + SIGV4_MAX_SECRET], a[32], b[32];
	size_t rl, sl;
	int rc;

	if (secret == NULL || secret_len == 0 || secret_len > SIGV4_MAX_SECRET || date == NULL ||
	    region == NULL || service == NULL || out == NULL)
		return CS_EINVAL;
	rl = strnlen(region, SIGV4_MAX_REGION + 1);
	sl = strnlen(service, SIGV4_MAX_SERVICE + 1);
	if (strnlen(date, 9) != 8 || rl == 0 || rl > SIGV4_MAX_REGION || sl == 0 ||
	    sl > SIGV4_MAX_SERVICE)
		return CS_EINVAL;
	memcpy(k, "AWS4", 4);
	memcpy(k + 4, secret, secret_len);
	rc = hmac256(k, 4 + secret_len, date, 8, a);
	if (rc == 0)
		rc = hmac256(a, sizeof(a), region, rl, b);
	if (rc == 0)
		rc = hmac256(b, sizeof(b), service, sl, a);
	if (rc == 0)
		rc = hmac256(a, sizeof(a), SIGV4_TERMINATOR, strlen(SIGV4_TERMINATOR), out);
	secmem_wipe(k, sizeof(k));
	secmem_wipe(a, sizeof(a));
	secmem_wipe(b, sizeof(b));
	if (rc != 0)
		secmem_wipe(out, 32);
	return rc;
}

/*
 * sign_internal(req, p, key, sig, chash): hash the canonical request into
 * chash, build the string to sign and HMAC it under key into sig.
 */
static int
sign_internal(const struct sigv4_request *req, const struct sigv4_sign_params *p,
	      const uint8_t key[32], uint8_t sig[32], uint8_t chash[32])
{
	char sts[sizeof(SIGV4_ALGORITHM) + SIGV4_AMZ_DATE_LEN + 1 + SIGV4_MAX_SCOPE + 1 + 64 + 1];
	struct sink s;
	size_t n = 0;
	int rc;

	if (key == NULL || sig == NULL || p == NULL || p->scope == NULL || p->amz_date == NULL)
		return CS_EINVAL;
	if (p->scope_len > SIGV4_MAX_SCOPE)
		return CS_ERANGE;
	memset(&s, 0, sizeof(s));
	if ((s.md = EVP_MD_CTX_new()) == NULL)
		return CS_ENOMEM;
	rc = EVP_DigestInit_ex(s.md, EVP_sha256(), NULL) == 1 ? 0 : CS_ECRYPTO;
	if (rc == 0)
		rc = canon_build(req, p, &s);
	if (rc == 0 && EVP_DigestFinal_ex(s.md, chash, NULL) != 1)
		rc = CS_ECRYPTO;
	EVP_MD_CTX_free(s.md);
	if (rc != 0)
		return rc;

	memcpy(sts + n, SIGV4_ALGORITHM "\n", sizeof(SIGV4_ALGORITHM));
	n += sizeof(SIGV4_ALGORITHM);
	memcpy(sts + n, p->amz_date, SIGV4_AMZ_DATE_LEN);
	n += SIGV4_AMZ_DATE_LEN;
	sts[n++] = '\n';
	memcpy(sts + n, p->scope, p->scope_len);
	n += p->scope_len;
	sts[n++] = '\n';
	hex_encode(sts + n, chash, 32);
	n += 64;
	return hmac256(key, 32, sts, n, sig);
}

int
sigv4_signature(const struct sigv4_request *req, const struct sigv4_sign_params *p,
		const uint8_t key[32], uint8_t sig[32])
{
	uint8_t chash[32];

	return sign_internal(req, p, key, sig, chash);
}

int
sigv4_chunk_signature(const uint8_t key[32], const char *amz_date, const char *scope,
		      size_t scope_len, const uint8_t prev[32], const uint8_t data_sha256[32],
		      uint8_t sig[32])
{
	static const char prefix[] = "AWS4-HMAC-SHA256-PAYLOAD\n";
	char sts[sizeof(prefix) + SIGV4_AMZ_DATE_LEN + 1 + SIGV4_MAX_SCOPE + 3 * 65 + 1];
	size_t n = 0;

	if (key == NULL || amz_date == NULL || scope == NULL || prev == NULL ||
	    data_sha256 == NULL || sig == NULL || scope_len > SIGV4_MAX_SCOPE)
		return CS_EINVAL;
	memcpy(sts, prefix, sizeof(prefix) - 1);
	n += sizeof(prefix) - 1;
	memcpy(sts + n, amz_date, SIGV4_AMZ_DATE_LEN);
	n += SIGV4_AMZ_DATE_LEN;
	sts[n++] = '\n';
	memcpy(sts + n, scope, scope_len);
	n += scope_len;
	sts[n++] = '\n';
	hex_encode(sts + n, prev, 32);
	n += 64;
	sts[n++] = '\n';
	memcpy(sts + n, EMPTY_SHA256_HEX "\n", 65);
	n += 65;
	hex_encode(sts + n, data_sha256, 32);
	n += 64;
	return hmac256(key, 32, sts, n, sig);
}

long
sigv4_uri_encode(char *out, size_t outsz, const void *in, size_t inlen, bool keep_slash)
{
	static const char digits[] = "0123456789ABCDEF";
	const unsigned char *p = in;
	size_t o = 0;

	if (out == NULL || (in == NULL && inlen > 0) || inlen > LONG_MAX / 3)
		return CS_EINVAL;
	for (size_t i = 0; i < inlen; i++) {
		if (is_unreserved(p[i]) || (keep_slash && p[i] == '/')) {
			if (outsz - o < 2)
				return CS_ERANGE;
			out[o++] = (char)p[i];
			continue;
		}
		if (outsz - o < 4)
			return CS_ERANGE;
		out[o++] = '%';
		out[o++] = digits[p[i] >> 4];
		out[o++] = digits[p[i] & 15];
	}
	if (outsz - o < 1)
		return CS_ERANGE;
	out[o] = '\0';
	return (long)o;
}

/* ---- time ----------------------------------------------------------------------------------- */

#define YEAR_MIN 1970
#define YEAR_MAX 9999
#define TIME_MAX INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

/* days_from_civil(y, m, d): days since 1970-01-01 (H. Hinnant's algorithm, y >= 0). */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy;

	y -= m <= 2;
	era = y / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

static void
civil_from_days(int64_t z, int *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = z / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

static int
days_in_month(int y, int m)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : dim[m - 1];
}

/* digits(s, off, n, v): the n decimal digits at s[off..]; false if any is not a digit. */
static bool
digits(struct span s, size_t off, size_t n, int *v)
{
	*v = 0;
	if (off > s.n || n > s.n - off)
		return false;
	for (size_t i = off; i < off + n; i++) {
		if (!is_digit(at(s, i)))
			return false;
		*v = *v * 10 + (at(s, i) - '0');
	}
	return true;
}

/* civil_time(y, mo, d, h, mi, sec, t): a validated UTC calendar time as seconds. */
static bool
civil_time(int y, int mo, int d, int h, int mi, int sec, int64_t *t)
{
	if (y < YEAR_MIN || y > YEAR_MAX || mo < 1 || mo > 12 || d < 1 ||
	    d > days_in_month(y, mo) || h > 23 || mi > 59 || sec > 59)
		return false;
	*t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec;
	return true;
}

/* parse_ymd(s, t): "YYYYMMDD" as the seconds of its midnight. */
static bool
parse_ymd(struct span s, int64_t *t)
{
	int y, mo, d;

	return s.n == 8 && digits(s, 0, 4, &y) && digits(s, 4, 2, &mo) && digits(s, 6, 2, &d) &&
	       civil_time(y, mo, d, 0, 0, 0, t);
}

/* parse_amz_date(s, t): "YYYYMMDDTHHMMSSZ". */
static bool
parse_amz_date(struct span s, int64_t *t)
{
	int y, mo, d, h, mi, sec;

	return s.n == SIGV4_AMZ_DATE_LEN && at(s, 8) == 'T' && at(s, 15) == 'Z' &&
	       digits(s, 0, 4, &y) && digits(s, 4, 2, &mo) && digits(s, 6, 2, &d) &&
	       digits(s, 9, 2, &h) && digits(s, 11, 2, &mi) && digits(s, 13, 2, &sec) &&
	       civil_time(y, mo, d, h, mi, sec, t);
}

/*
 * parse_http_date(s, t): an IMF-fixdate, "Sun, 06 Nov 1994 08:49:37 GMT".
 * The zone may also be "+0000" or "-0000": botocore's formatdate() writes
 * the latter.  The day name is checked for form, not for agreement.
 */
static bool
parse_http_date(struct span s, int64_t *t)
{
	static const char days[] = "MonTueWedThuFriSatSun";
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int y, mo = 0, d, h, mi, sec;
	bool dayok = false, zoneok;

	if (s.n < 29 || memcmp(s.p + 3, ", ", 2) != 0 || at(s, 7) != ' ' || at(s, 11) != ' ' ||
	    at(s, 16) != ' ' || at(s, 19) != ':' || at(s, 22) != ':' || at(s, 25) != ' ')
		return false;
	zoneok = (s.n == 29 && memcmp(s.p + 26, "GMT", 3) == 0) ||
		 (s.n == 31 &&
		  (memcmp(s.p + 26, "+0000", 5) == 0 || memcmp(s.p + 26, "-0000", 5) == 0));
	for (int i = 0; i < 7; i++)
		dayok |= memcmp(s.p, days + 3 * i, 3) == 0;
	for (int i = 0; i < 12; i++)
		if (memcmp(s.p + 8, months + 3 * i, 3) == 0)
			mo = i + 1;
	return zoneok && dayok && mo != 0 && digits(s, 5, 2, &d) && digits(s, 12, 4, &y) &&
	       digits(s, 17, 2, &h) && digits(s, 20, 2, &mi) && digits(s, 23, 2, &sec) &&
	       civil_time(y, mo, d, h, mi, sec, t);
}

int
sigv4_amz_date(int64_t t, char out[SIGV4_AMZ_DATE_LEN + 1])
{
	int y, m, d, sec;
	int v[6];
	size_t o = 0;

	if (out == NULL)
		return CS_EINVAL;
	if (t < 0 || t > TIME_MAX)
		return CS_ERANGE;
	civil_from_days(t / 86400, &y, &m, &d);
	sec = (int)(t % 86400);
	v[0] = y / 100;
	v[1] = y % 100;
	v[2] = m;
	v[3] = d;
	v[4] = sec / 3600;
	v[5] = sec / 60 % 60;
	for (int i = 0; i < 6; i++) {
		if (i == 4)
			out[o++] = 'T';
		out[o++] = (char)('0' + v[i] / 10);
		out[o++] = (char)('0' + v[i] % 10);
	}
	out[o++] = (char)('0' + sec % 60 / 10);
	out[o++] = (char)('0' + sec % 10);
	out[o++] = 'Z';
	out[o] = '\0';
	return 0;
}

/* ---- results -------------------------------------------------------------------------------- */

const char *
sigv4_result_code(enum sigv4_result r)
{
	switch (r) {
	case SIGV4_OK:
		return "OK";
	case SIGV4_ACCESS_DENIED:
		return "AccessDenied";
	case SIGV4_SIGNATURE_DOES_NOT_MATCH:
		return "SignatureDoesNotMatch";
	case SIGV4_INVALID_ACCESS_KEY_ID:
		return "InvalidAccessKeyId";
	case SIGV4_REQUEST_TIME_TOO_SKEWED:
		return "RequestTimeTooSkewed";
	case SIGV4_AUTH_HEADER_MALFORMED:
		return "AuthorizationHeaderMalformed";
	case SIGV4_AUTH_QUERY_ERROR:
		return "AuthorizationQueryParametersError";
	case SIGV4_MISSING_SECURITY_HEADER:
		return "MissingSecurityHeader";
	case SIGV4_INVALID_ARGUMENT:
		return "InvalidArgument";
	case SIGV4_INTERNAL_ERROR:
	default:
		return "InternalError";
	}
}

int
sigv4_result_status(enum sigv4_result r)
{
	switch (r) {
	case SIGV4_OK:
		return 200;
	case SIGV4_ACCESS_DENIED:
	case SIGV4_SIGNATURE_DOES_NOT_MATCH:
	case SIGV4_INVALID_ACCESS_KEY_ID:
	case SIGV4_REQUEST_TIME_TOO_SKEWED:
		return 403;
	case SIGV4_AUTH_HEADER_MALFORMED:
	case SIGV4_AUTH_QUERY_ERROR:
	case SIGV4_MISSING_SECURITY_HEADER:
	case SIGV4_INVALID_ARGUMENT:
		return 400;
	case SIGV4_INTERNAL_ERROR:
	default:
		return 500;
	}
}

void
sigv4_auth_clear(struct sigv4_auth *auth)
{
	if (auth == NULL)
		return;
	secmem_free(auth->signing_key, 32);
	secmem_wipe(auth, sizeof(*auth));
	/* Fail closed: a cleared result never reads as SIGV4_OK. */
	auth->result = SIGV4_INTERNAL_ERROR;
	auth->detail = msg_unverified;
	auth->decoded_length = -1;
}

/* ---- the verifier --------------------------------------------------------------------------- */

/* What either kind of authentication supplies, as spans into the request or local buffers. */
struct material {
	struct span cred, list, sig, date;
	int64_t expires;
};

/* Parts of a credential, "AKID/YYYYMMDD/region/service/aws4_request". */
struct cred {
	struct span akid, date, region, service, term;
};

/*
 * authz_parse(v, m, why): parse an Authorization value.  Returns 0,
 * CS_ENOTSUP for another scheme, or CS_EINVAL with *why.
 */
static int
authz_parse(struct span v, struct material *m, const char **why)
{
	struct span rest, *slot;
	size_t i = 0;
	bool seen[3] = {false, false, false};

	v = span_trim_ows(v);
	while (i < v.n && !is_ows(at(v, i)))
		i++;
	if (!span_is(span_make(v.p, i), SIGV4_ALGORITHM)) {
		ENSURE(i < sizeof(SIGV4_ALGORITHM) - 1 ||
			       !span_is(span_make(v.p, sizeof(SIGV4_ALGORITHM) - 1),
					SIGV4_ALGORITHM),
		       msg_authz);
		return CS_ENOTSUP;
	}
	rest = span_trim_ows(span_make(v.p + i, v.n - i));
	ENSURE(rest.n > 0, msg_authz);
	i = 0;
	while (i <= rest.n) {
		const char *comma = find(rest.p + i, rest.n - i, ',');
		size_t end = comma != NULL ? (size_t)(comma - rest.p) : rest.n;
		struct span comp = span_trim_ows(span_make(rest.p + i, end - i));
		const char *eq = find(comp.p, comp.n, '=');
		struct span name, value;
		int k;

		i = end + 1;
		ENSURE(eq != NULL, msg_authz);
		name = span_make(comp.p, (size_t)(eq - comp.p));
		value = span_make(eq + 1, comp.n - name.n - 1);
		if (span_is(name, "Credential")) {
			k = 0;
			slot = &m->cred;
		} else if (span_is(name, "SignedHeaders")) {
			k = 1;
			slot = &m->list;
		} else if (span_is(name, "Signature")) {
			k = 2;
			slot = &m->sig;
		} else {
			ENSURE(false, msg_authz);
		}
		ENSURE(!seen[k] && value.n > 0, msg_authz);
		for (size_t j = 0; j < value.n; j++)
			ENSURE(!is_ows(at(value, j)), msg_authz);
		seen[k] = true;
		*slot = value;
	}
	ENSURE(seen[0] && seen[1] && seen[2], msg_authz);
	return 0;
}

/* The X-Amz-* parameters of a presigned URL, by decoded name. */
enum qauth_idx { QA_ALG, QA_CRED, QA_DATE, QA_EXPIRES, QA_LIST, QA_SIG, QA_TOKEN, QA_N };

static const char *const qauth_names[QA_N] = {
	"X-Amz-Algorithm",     "X-Amz-Credential", "X-Amz-Date",           "X-Amz-Expires",
	"X-Amz-SignedHeaders", "X-Amz-Signature",  "X-Amz-Security-Token",
};

/* qauth_find(q, found, count): the first value of each parameter and how often it appears. */
static void
qauth_find(const struct query *q, struct span found[QA_N], unsigned count[QA_N])
{
	for (int k = 0; k < QA_N; k++)
		count[k] = 0;
	for (size_t i = 0; i < q->n; i++) {
		for (int k = 0; k < QA_N; k++) {
			if (!pct_is(q->p[i].key, qauth_names[k]))
				continue;
			if (count[k]++ == 0)
				found[k] = q->p[i].val;
		}
	}
}

/* Decoded presign values live here while the canonical request is built. */
struct qbufs {
	char alg[32], cred[MAX_CREDENTIAL], date[SIGV4_AMZ_DATE_LEN], expires[16];
	char list[SIGV4_MAX_SIGNED_LEN], sig[64];
};

/* qdecode(raw, buf, size, out): decode raw into buf; false if it does not fit. */
static bool
qdecode(struct span raw, char *buf, size_t size, struct span *out)
{
	long n = pct_decode(raw, buf, size);

	if (n < 0)
		return false;
	*out = span_make(buf, (size_t)n);
	return true;
}

/*
 * presign_parse(q, b, m, why): the presign parameters of the (parsed) query.
 * Returns 0, CS_EPERM for a session token, or CS_EINVAL with *why.
 */
static int
presign_parse(const struct query *q, struct qbufs *b, struct material *m, const char **why)
{
	struct span v[QA_N], alg, exp;
	unsigned count[QA_N];
	int expires = 0;

	qauth_find(q, v, count);
	for (int k = 0; k < QA_N; k++)
		ENSURE(count[k] <= 1, msg_query_dup);
	if (count[QA_TOKEN] > 0)
		return CS_EPERM;
	for (int k = 0; k < QA_N; k++)
		ENSURE(k == QA_TOKEN || count[k] == 1, msg_query_missing);
	ENSURE(qdecode(v[QA_ALG], b->alg, sizeof(b->alg), &alg) && span_is(alg, SIGV4_ALGORITHM),
	       msg_query_alg);
	ENSURE(qdecode(v[QA_CRED], b->cred, sizeof(b->cred), &m->cred), msg_cred);
	ENSURE(qdecode(v[QA_DATE], b->date, sizeof(b->date), &m->date), msg_query_date);
	ENSURE(qdecode(v[QA_LIST], b->list, sizeof(b->list), &m->list), msg_list);
	ENSURE(qdecode(v[QA_SIG], b->sig, sizeof(b->sig), &m->sig), msg_sig);
	ENSURE(qdecode(v[QA_EXPIRES], b->expires, sizeof(b->expires), &exp) && exp.n > 0 &&
		       exp.n <= 7 && digits(exp, 0, exp.n, &expires) && expires >= 1 &&
		       expires <= SIGV4_MAX_EXPIRES,
	       msg_query_expires);
	m->expires = expires;
	return 0;
}

/* cred_parse(c, out, why): split and check a credential. */
static int
cred_parse(struct span c, struct cred *out, const char **why)
{
	struct span part[5];
	size_t pos = 0;
	int64_t t;

	for (int k = 0; k < 5; k++) {
		const char *slash;
		size_t end = c.n;

		ENSURE(pos <= c.n, msg_cred);
		if (k < 4) {
			slash = find(c.p + pos, c.n - pos, '/');
			ENSURE(slash != NULL, msg_cred);
			end = (size_t)(slash - c.p);
		}
		part[k] = span_make(c.p + pos, end - pos);
		pos = end + 1;
	}
	out->akid = part[0];
	out->date = part[1];
	out->region = part[2];
	out->service = part[3];
	out->term = part[4];
	ENSURE(out->akid.n > 0 && out->akid.n <= SIGV4_MAX_AKID, msg_cred_akid);
	for (size_t i = 0; i < out->akid.n; i++)
		ENSURE(is_scope_char(at(out->akid, i)), msg_cred_akid);
	ENSURE(parse_ymd(out->date, &t), msg_cred_date);
	ENSURE(out->region.n > 0 && out->region.n <= SIGV4_MAX_REGION, msg_cred_region);
	for (size_t i = 0; i < out->region.n; i++)
		ENSURE(is_scope_char(at(out->region, i)), msg_cred_region);
	ENSURE(span_is(out->service, SIGV4_SERVICE), msg_cred_service);
	ENSURE(span_is(out->term, SIGV4_TERMINATOR), msg_cred_term);
	return 0;
}

/* payload_parse(v, auth): classify x-amz-content-sha256; false if it is none of the forms. */
static bool
payload_parse(struct span v, struct sigv4_auth *auth)
{
	if (span_is(v, "UNSIGNED-PAYLOAD")) {
		auth->payload = SIGV4_PAYLOAD_UNSIGNED;
		return true;
	}
	if (span_is(v, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD")) {
		auth->payload = SIGV4_PAYLOAD_STREAMING_SIGNED;
		return true;
	}
	if (span_is(v, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")) {
		auth->payload = SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRL;
		return true;
	}
	auth->payload = SIGV4_PAYLOAD_SHA256;
	return v.n == 64 && hex_decode(auth->payload_sha256, 32, v.p, v.n) == 32;
}

/* decimal(v, out): a plain non-negative decimal below 10^18. */
static bool
decimal(struct span v, int64_t *out)
{
	int64_t x = 0;

	if (v.n == 0 || v.n > 18)
		return false;
	for (size_t i = 0; i < v.n; i++) {
		if (!is_digit(at(v, i)))
			return false;
		x = x * 10 + (at(v, i) - '0');
	}
	*out = x;
	return true;
}

static void
copy_span(char *dst, size_t dstsz, struct span s)
{
	size_t n = s.n < dstsz - 1 ? s.n : dstsz - 1;

	memcpy(dst, s.p, n);
	dst[n] = '\0';
}

static enum sigv4_result
fail(struct sigv4_auth *auth, enum sigv4_result r, const char *detail)
{
	auth->result = r;
	auth->detail = detail;
	return r;
}

/* unsigned_amz(req, list): the request has an x-amz-* header that list does not sign. */
static bool
unsigned_amz(const struct sigv4_request *req, struct span list)
{
	static const char prefix[] = "x-amz-";

	for (size_t i = 0; i < req->nheaders; i++) {
		struct span name = hdr_name(&req->headers[i]);

		if (name.n < sizeof(prefix) - 1 || !span_ieq(span_make(name.p, sizeof(prefix) - 1),
							     span_make(prefix, sizeof(prefix) - 1)))
			continue;
		if (span_ieq(name, span_make("x-amz-date", 10)) ||
		    span_ieq(name, span_make("x-amz-content-sha256", 20)))
			continue;
		if (!list_has(list, name))
			return true;
	}
	return false;
}

/* absent_signed(req, list): a header that list names is not in the request. */
static bool
absent_signed(const struct sigv4_request *req, struct span list)
{
	struct span name;
	size_t pos = 0;

	while (list_next(list, &pos, &name)) {
		bool found = false;

		for (size_t i = 0; i < req->nheaders && !found; i++)
			found = span_ieq(hdr_name(&req->headers[i]), name);
		if (!found)
			return true;
	}
	return false;
}

/*
 * check_time(cfg, req, m, c, auth): the request time and its relation to the
 * credential date and the server's clock.
 */
static enum sigv4_result
check_time(const struct sigv4_config *cfg, const struct sigv4_request *req,
	   const struct material *m, const struct cred *c, struct sigv4_auth *auth)
{
	int64_t skew = cfg->max_skew > 0 ? cfg->max_skew : SIGV4_DEFAULT_SKEW;
	enum sigv4_result malformed =
		auth->presigned ? SIGV4_AUTH_QUERY_ERROR : SIGV4_AUTH_HEADER_MALFORMED;
	struct span v;
	int64_t t;

	if (auth->presigned) {
		if (!parse_amz_date(m->date, &t))
			return fail(auth, SIGV4_AUTH_QUERY_ERROR, msg_query_date);
		copy_span(auth->amz_date, sizeof(auth->amz_date), m->date);
	} else if (hdr_find(req, "x-amz-date", &v) > 0) {
		if (hdr_find(req, "x-amz-date", NULL) != 1 || !parse_amz_date(v, &t))
			return fail(auth, SIGV4_ACCESS_DENIED, msg_no_date);
		copy_span(auth->amz_date, sizeof(auth->amz_date), v);
	} else {
		if (hdr_find(req, "date", &v) != 1 || !parse_http_date(span_trim_ows(v), &t) ||
		    sigv4_amz_date(t, auth->amz_date) != 0)
			return fail(auth, SIGV4_ACCESS_DENIED, msg_no_date);
	}
	auth->request_time = t;
	if (memcmp(auth->amz_date, c->date.p, 8) != 0)
		return fail(auth, malformed, msg_cred_day);
	if (auth->presigned) {
		auth->expires_at = t + m->expires;
		if (t > req->now && t - req->now > skew)
			return fail(auth, SIGV4_ACCESS_DENIED, msg_not_yet);
		if (req->now > auth->expires_at)
			return fail(auth, SIGV4_ACCESS_DENIED, msg_expired);
	} else if ((t > req->now ? t - req->now : req->now - t) > skew) {
		return fail(auth, SIGV4_REQUEST_TIME_TOO_SKEWED, msg_skewed);
	}
	return SIGV4_OK;
}

/*
 * check_signature(cfg, req, p, c, sig, auth): look the secret up, derive the
 * key, sign and compare.  Keeps the signing key for streaming payloads.
 * Every secret on the stack is wiped before returning.
 */
static enum sigv4_result
check_signature(const struct sigv4_config *cfg, const struct sigv4_request *req,
		const struct sigv4_sign_params *p, const struct cred *c, const uint8_t sig[32],
		struct sigv4_auth *auth)
{
	uint8_t secret[SIGV4_MAX_SECRET], key[32], mine[32];
	char date[9];
	size_t slen = 0;
	enum sigv4_result r = SIGV4_OK;
	int rc;

	rc = cfg->lookup(cfg->lookup_arg, auth->access_key, secret, sizeof(secret), &slen);
	if (rc == CS_ENOENT) {
		r = fail(auth, SIGV4_INVALID_ACCESS_KEY_ID, msg_unknown_key);
		goto err0;
	}
	if (rc != 0 || slen == 0 || slen > sizeof(secret)) {
		r = fail(auth, SIGV4_INTERNAL_ERROR, msg_lookup);
		goto err0;
	}
	memcpy(date, c->date.p, 8);
	date[8] = '\0';
	rc = sigv4_signing_key(secret, slen, date, auth->region, SIGV4_SERVICE, key);
	secmem_wipe(secret, sizeof(secret));
	if (rc != 0) {
		r = fail(auth, SIGV4_INTERNAL_ERROR, msg_crypto);
		goto err0;
	}
	rc = sign_internal(req, p, key, mine, auth->canonical_sha256);
	if (rc == CS_ENOENT) {
		r = fail(auth, SIGV4_SIGNATURE_DOES_NOT_MATCH, msg_absent);
		goto err1;
	}
	if (rc != 0) {
		r = fail(auth, SIGV4_INTERNAL_ERROR, msg_crypto);
		goto err1;
	}
	auth->have_canonical = true;
	if (!secmem_eq(mine, sig, 32)) {
		r = fail(auth, SIGV4_SIGNATURE_DOES_NOT_MATCH, msg_mismatch);
		goto err1;
	}
	if (auth->payload == SIGV4_PAYLOAD_STREAMING_SIGNED) {
		if ((auth->signing_key = secmem_alloc(32)) == NULL) {
			r = fail(auth, SIGV4_INTERNAL_ERROR, msg_nomem);
			goto err1;
		}
		memcpy(auth->signing_key, key, 32);
	}

err1:
	secmem_wipe(key, sizeof(key));
	secmem_wipe(mine, sizeof(mine));
err0:
	secmem_wipe(secret, sizeof(secret));
	return r;
}

enum sigv4_result
sigv4_verify(const struct sigv4_config *cfg, const struct sigv4_request *req,
	     struct sigv4_auth *auth)
{
	struct query q;
	struct qbufs qb;
	struct material m;
	struct cred c;
	struct sigv4_sign_params p;
	struct span path, query, v, payload_line;
	struct span qv[QA_N];
	unsigned qcount[QA_N];
	uint8_t sig[32];
	const char *why = NULL;
	enum sigv4_result malformed, r;
	size_t nauth;
	bool presign, has_host;
	int rc;

	if (auth == NULL)
		return SIGV4_INTERNAL_ERROR;
	memset(auth, 0, sizeof(*auth));
	auth->decoded_length = -1;
	(void)fail(auth, SIGV4_INTERNAL_ERROR, msg_unverified); /* until a path decides */
	if (cfg == NULL || cfg->lookup == NULL)
		return fail(auth, SIGV4_INTERNAL_ERROR, msg_lookup);
	if (req_check(req) != 0)
		return fail(auth, SIGV4_INVALID_ARGUMENT, msg_bad_request);
	if (req->now < 0 || req->now > TIME_MAX)
		return fail(auth, SIGV4_INTERNAL_ERROR, msg_clock);
	split_target(req, &path, &query);
	if (query_parse(query, &q) != 0)
		return fail(auth, SIGV4_INVALID_ARGUMENT, msg_bad_query);

	/* Which mechanism, if any. */
	memset(&m, 0, sizeof(m));
	nauth = hdr_find(req, "authorization", &v);
	qauth_find(&q, qv, qcount);
	presign = qcount[QA_ALG] + qcount[QA_CRED] + qcount[QA_SIG] + qcount[QA_LIST] +
			  qcount[QA_TOKEN] >
		  0;
	if (nauth > 0 && presign)
		return fail(auth, SIGV4_INVALID_ARGUMENT, msg_two_auth);
	if (nauth == 0 && !presign)
		return fail(auth, SIGV4_MISSING_SECURITY_HEADER, msg_anonymous);
	auth->presigned = presign;
	malformed = presign ? SIGV4_AUTH_QUERY_ERROR : SIGV4_AUTH_HEADER_MALFORMED;
	if (presign) {
		rc = presign_parse(&q, &qb, &m, &why);
		if (rc == CS_EPERM)
			return fail(auth, SIGV4_ACCESS_DENIED, msg_token);
		if (rc != 0)
			return fail(auth, SIGV4_AUTH_QUERY_ERROR, why);
	} else {
		if (nauth > 1)
			return fail(auth, SIGV4_AUTH_HEADER_MALFORMED, msg_authz);
		rc = authz_parse(v, &m, &why);
		if (rc == CS_ENOTSUP)
			return fail(auth, SIGV4_INVALID_ARGUMENT, msg_scheme);
		if (rc != 0)
			return fail(auth, SIGV4_AUTH_HEADER_MALFORMED, why);
		if (hdr_find(req, "x-amz-security-token", NULL) > 0)
			return fail(auth, SIGV4_ACCESS_DENIED, msg_token);
	}

	/* The credential scope and the signed header list. */
	if (cred_parse(m.cred, &c, &why) != 0)
		return fail(auth, malformed, why);
	copy_span(auth->access_key, sizeof(auth->access_key), c.akid);
	copy_span(auth->region, sizeof(auth->region), c.region);
	if (cfg->region != NULL && !span_is(c.region, cfg->region))
		return fail(auth, malformed, msg_cred_region_wrong);
	/* The scope is "date/region/s3/aws4_request": a suffix of the credential. */
	copy_span(auth->scope, sizeof(auth->scope),
		  span_make(c.date.p, m.cred.n - (size_t)(c.date.p - m.cred.p)));
	if (list_check(m.list, &has_host) != 0)
		return fail(auth, malformed, msg_list);
	if (!has_host)
		return fail(auth, malformed, msg_list_host);
	if (m.sig.n != 64 || hex_decode(sig, sizeof(sig), m.sig.p, m.sig.n) != 32)
		return fail(auth, malformed, msg_sig);
	memcpy(auth->seed_signature, sig, 32);

	if ((r = check_time(cfg, req, &m, &c, auth)) != SIGV4_OK)
		return r;

	/* The payload. */
	if (presign) {
		auth->payload = SIGV4_PAYLOAD_UNSIGNED;
		payload_line = span_make("UNSIGNED-PAYLOAD", 16);
	} else {
		if (hdr_find(req, "x-amz-content-sha256", &v) != 1)
			return fail(auth, SIGV4_INVALID_ARGUMENT, msg_no_sha);
		payload_line = span_trim_ows(v);
		if (!payload_parse(payload_line, auth))
			return fail(auth, SIGV4_INVALID_ARGUMENT, msg_bad_sha);
		if ((auth->payload == SIGV4_PAYLOAD_STREAMING_SIGNED ||
		     auth->payload == SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRL) &&
		    hdr_find(req, "x-amz-decoded-content-length", &v) > 0 &&
		    (hdr_find(req, "x-amz-decoded-content-length", NULL) != 1 ||
		     !decimal(span_trim_ows(v), &auth->decoded_length)))
			return fail(auth, SIGV4_INVALID_ARGUMENT, msg_bad_dlen);
	}

	if (unsigned_amz(req, m.list))
		return fail(auth, SIGV4_ACCESS_DENIED, msg_unsigned);
	if (absent_signed(req, m.list))
		return fail(auth, SIGV4_SIGNATURE_DOES_NOT_MATCH, msg_absent);

	p.signed_headers = m.list.p;
	p.signed_headers_len = m.list.n;
	p.payload = payload_line.p;
	p.payload_len = payload_line.n;
	p.amz_date = auth->amz_date;
	p.scope = auth->scope;
	p.scope_len = strlen(auth->scope);
	if ((r = check_signature(cfg, req, &p, &c, sig, auth)) != SIGV4_OK)
		return r;
	return fail(auth, SIGV4_OK, msg_ok);
}
