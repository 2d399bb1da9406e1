/*
 * fuzz_sigv4: the SigV4 verifier (lib/s3/sigv4) on requests built from the
 * input, with fixed credentials and a clock chosen from a fixed table.
 *
 * Input: [clock u8][flags u8] then text lines separated by '\n': the method,
 * the raw request-target (query string included: presigned URLs), then one
 * header per line ("Name:value", split at the first ':'), an empty line, and
 * the body.  The clock byte picks one of the times the test vectors were
 * signed at (tests/vectors/sigv4), or an edge of the clock's range.
 * flags: bits 0-1 the server's region (any, us-east-1, eu-central-1,
 * us-west-2); bit 2 a 60 s skew instead of the default; bit 3 re-sign the
 * request with an Authorization header, bit 4 re-sign it as a presigned URL
 * (see below); bit 5 makes the credential lookup fail for unknown keys with
 * CS_EIO instead of CS_ENOENT.
 *
 * What is checked, besides the sanitizers:
 *   - the result agrees with auth->result, its S3 code and status are
 *     defined, every string of struct sigv4_auth is terminated, the signing
 *     key is set exactly for a verified STREAMING-AWS4-HMAC-SHA256-PAYLOAD
 *     request, and sigv4_auth_clear() fails closed;
 *   - a verified streaming request's body is decoded with awschunked as the
 *     server's read_body() does, from the verifier's own output;
 *   - sigv4_canonical_request() reports the length it needs when the buffer
 *     is short, fits exactly in that length plus one, and agrees with
 *     sigv4_signature() on success and failure;
 *   - sign, then verify: a request re-signed by the library's signer with a
 *     known key (bits 3 and 4) must verify, unless it carries a second
 *     authentication mechanism or a session token, which the verifier
 *     refuses by policy.  This is what ties the parser of the Authorization
 *     header and of the presign parameters to the signer.
 */
#include "fuzz.h"
#include "http/http.h"
#include "s3/awschunked.h"
#include "s3/sigv4.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/secmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_HDRS   (SIGV4_MAX_HEADERS + 8)
#define AKID       "AKIDCRYPTSTORE0001"
#define SECRET     "cs/Secret+Key=0001abcdefghijklmnopqrstuv"
#define LIST_MAX   SIGV4_MAX_SIGNED_LEN
#define EXTRA_HDRS 3

/* The times the vectors were signed at (and checked around), then the clock's limits. */
static const int64_t clocks[] = {
	1714979289,   /* 2024-05-06T07:08:09Z: botocore vectors, boto3 seeds */
	1369353600,   /* 2013-05-24T00:00:00Z: the AWS documentation's examples */
	1714978388,   /* the botocore time - 901 s: just too skewed */
	1714978389,   /* - 900 s: just in time */
	1714979350,   /* + 61 s: past a 60 s skew */
	1714980189,   /* + 900 s */
	1714980190,   /* + 901 s */
	1714982889,   /* + 3600 s: a presigned URL's last second */
	1714982890,   /* + 3601 s: expired */
	0,            /* the epoch */
	253402300799, /* 9999-12-31T23:59:59Z, the last valid second */
	-1,           /* out of range: InternalError */
	253402300800, /* out of range: InternalError */
};

static const char *const regions[] = {NULL, "us-east-1", "eu-central-1", "us-west-2"};

static const struct {
	const char *akid, *secret;
} creds[] = {
	{AKID, SECRET},
	{"AKIDCRYPTSTORE0002", "another-secret-key-for-the-second-user"},
	{"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"},
};

static int
lookup(void *arg, const char *akid, uint8_t *secret, size_t size, size_t *len)
{
	bool eio = *(const bool *)arg;

	FUZZ_CHECK(strlen(akid) > 0 && strlen(akid) <= SIGV4_MAX_AKID && size == SIGV4_MAX_SECRET);
	for (size_t i = 0; i < sizeof(creds) / sizeof(creds[0]); i++) {
		if (strcmp(akid, creds[i].akid) == 0) {
			*len = strlen(creds[i].secret);
			memcpy(secret, creds[i].secret, *len);
			return 0;
		}
	}
	return eio ? CS_EIO : CS_ENOENT;
}

static bool
terminated(const char *s, size_t size)
{
	return memchr(s, '\0', size) != NULL;
}

static int
drop_data(void *arg, const uint8_t *data, size_t len)
{
	uint64_t *total = arg;

	FUZZ_CHECK(len > 0 && data != NULL);
	*total += len;
	return 0;
}

/* stream_body: what the server's read_body() does with a verified streaming request. */
static void
stream_body(const struct sigv4_auth *auth, const uint8_t *body, size_t n)
{
	struct awschunked_config ac;
	struct awschunked *dec = NULL;
	uint64_t total = 0;
	int rc;

	memset(&ac, 0, sizeof(ac));
	ac.mode = auth->payload == SIGV4_PAYLOAD_STREAMING_SIGNED ? AWSCHUNKED_SIGNED
								  : AWSCHUNKED_UNSIGNED_TRAILER;
	ac.decoded_length = auth->decoded_length;
	ac.signing_key = auth->signing_key;
	ac.seed_signature = auth->seed_signature;
	ac.amz_date = auth->amz_date;
	ac.scope = auth->scope;
	ac.on_data = drop_data;
	ac.arg = &total;
	/* The verifier's output is always a valid decoder configuration. */
	FUZZ_CHECK(awschunked_new(&ac, &dec) == 0);
	rc = awschunked_feed(dec, body, n);
	if (rc == 0)
		rc = awschunked_finish(dec);
	FUZZ_CHECK(rc <= 0);
	FUZZ_CHECK(awschunked_decoded(dec) == total);
	if (rc == 0 && auth->decoded_length >= 0)
		FUZZ_CHECK(total == (uint64_t)auth->decoded_length);
	awschunked_free(dec);
}

/* verify: run the verifier and check its answer; returns the result. */
static enum sigv4_result
verify(const struct sigv4_config *cfg, const struct sigv4_request *req, const uint8_t *body,
       size_t blen)
{
	static int debug = -1;
	struct sigv4_auth auth;
	enum sigv4_result r = sigv4_verify(cfg, req, &auth);
	int status = sigv4_result_status(r);

	/* FUZZ_SIGV4_DEBUG=1: say what each request verified to (for checking seeds). */
	if (debug < 0)
		debug = getenv("FUZZ_SIGV4_DEBUG") != NULL;
	if (debug)
		fprintf(stderr, "sigv4: %s (%s)\n", sigv4_result_code(r), auth.detail);

	FUZZ_CHECK(r == auth.result && auth.detail != NULL);
	FUZZ_CHECK(r >= SIGV4_OK && r <= SIGV4_INTERNAL_ERROR);
	FUZZ_CHECK(sigv4_result_code(r)[0] != '\0');
	FUZZ_CHECK(status == 200 || status == 400 || status == 403 || status == 500);
	FUZZ_CHECK((status == 200) == (r == SIGV4_OK));
	FUZZ_CHECK(terminated(auth.access_key, sizeof(auth.access_key)) &&
		   terminated(auth.region, sizeof(auth.region)) &&
		   terminated(auth.amz_date, sizeof(auth.amz_date)) &&
		   terminated(auth.scope, sizeof(auth.scope)));
	if (r == SIGV4_OK) {
		FUZZ_CHECK(auth.have_canonical && auth.access_key[0] != '\0');
		FUZZ_CHECK(strlen(auth.amz_date) == SIGV4_AMZ_DATE_LEN);
		FUZZ_CHECK(!auth.presigned || auth.payload == SIGV4_PAYLOAD_UNSIGNED);
		FUZZ_CHECK(!auth.presigned || auth.expires_at >= auth.request_time);
		FUZZ_CHECK(cfg->region == NULL || strcmp(cfg->region, auth.region) == 0);
		FUZZ_CHECK((auth.signing_key != NULL) ==
			   (auth.payload == SIGV4_PAYLOAD_STREAMING_SIGNED));
		if (auth.signing_key != NULL)
			FUZZ_CHECK(secmem_is_secure(auth.signing_key));
		if (auth.payload == SIGV4_PAYLOAD_STREAMING_SIGNED ||
		    auth.payload == SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRL)
			stream_body(&auth, body, blen);
		else
			FUZZ_CHECK(auth.decoded_length == -1);
	} else {
		FUZZ_CHECK(auth.signing_key == NULL);
	}
	sigv4_auth_clear(&auth);
	FUZZ_CHECK(auth.signing_key == NULL && auth.result != SIGV4_OK);
	return r;
}

static int
cmp_name(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static bool
lower_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/*
 * signed_list(req, out, outsz): "a;b;c", the sorted, distinct, lowercased
 * names of all of req's headers; false when they cannot form a SignedHeaders
 * value (a name that is no token, too many, too long, no host).
 */
static bool
signed_list(const struct sigv4_request *req, char *out, size_t outsz)
{
	char *names[MAX_HDRS + EXTRA_HDRS];
	size_t n = 0, o = 0;
	bool ok = true, host = false;

	for (size_t i = 0; i < req->nheaders && ok; i++) {
		const struct sigv4_header *h = &req->headers[i];
		char *s = malloc(h->name_len + 1);

		FUZZ_CHECK(s != NULL);
		for (size_t k = 0; k < h->name_len; k++) {
			unsigned char c = (unsigned char)h->name[k];

			s[k] = (char)(c >= 'A' && c <= 'Z' ? c + 32 : c);
			ok = ok && lower_tchar((unsigned char)s[k]);
		}
		s[h->name_len] = '\0';
		ok = ok && h->name_len > 0 && h->name_len <= SIGV4_MAX_HEADER_NAME;
		names[n++] = s;
	}
	if (ok)
		qsort(names, n, sizeof(names[0]), cmp_name);
	for (size_t i = 0, count = 0; i < n && ok; i++) {
		size_t l = strlen(names[i]);

		if (i > 0 && strcmp(names[i], names[i - 1]) == 0)
			continue;
		host = host || strcmp(names[i], "host") == 0;
		ok = ++count <= SIGV4_MAX_SIGNED && o + l + 2 <= outsz;
		if (!ok)
			break;
		if (o > 0)
			out[o++] = ';';
		memcpy(out + o, names[i], l);
		o += l;
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	out[o] = '\0';
	return ok && host && o > 0 && o <= SIGV4_MAX_SIGNED_LEN;
}

/* check_canonical: the canonical request's length protocol and agreement with the signer. */
static void
check_canonical(const struct sigv4_request *req, const struct sigv4_sign_params *p)
{
	static const uint8_t key[32] = {1, 2, 3};
	char one[1], *buf;
	size_t need = 0, got = 0;
	uint8_t sig[32];
	int rc = sigv4_canonical_request(req, p, one, sizeof(one), &need), rs;

	rs = sigv4_signature(req, p, key, sig);
	if (rc != CS_ERANGE || need == 0) {
		/* Refused outright (or an empty canonical request, which cannot be). */
		FUZZ_CHECK(rc != 0 && rc == rs);
		return;
	}
	FUZZ_CHECK(rs == 0 || rs == CS_ECRYPTO);
	if ((buf = malloc(need + 1)) == NULL)
		return;
	FUZZ_CHECK(sigv4_canonical_request(req, p, buf, need, &got) == CS_ERANGE && got == need);
	/* (Header values may hold NUL bytes, which the canonical request keeps.) */
	FUZZ_CHECK(sigv4_canonical_request(req, p, buf, need + 1, &got) == 0 && got == need &&
		   buf[need] == '\0');
	/* method \n path \n query \n headers \n \n list \n payload: at least 6 newlines. */
	FUZZ_CHECK(memcmp(buf, req->method, req->method_len) == 0 && buf[req->method_len] == '\n');
	free(buf);
}

/* query_has_auth: a parameter of the target's query decodes to one of the presign names. */
static bool
query_has_auth(const char *target, size_t len, bool all)
{
	static const char *const names[] = {
		"X-Amz-Algorithm",     "X-Amz-Credential",     "X-Amz-Signature",
		"X-Amz-SignedHeaders", "X-Amz-Security-Token", "X-Amz-Date",
		"X-Amz-Expires",
	};
	const char *q = memchr(target, '?', len), *end = target + len;

	if (q == NULL)
		return false;
	for (const char *s = q + 1; s < end;) {
		const char *amp = memchr(s, '&', (size_t)(end - s)), *e = amp ? amp : end;
		const char *eq = memchr(s, '=', (size_t)(e - s));
		size_t kl = (size_t)((eq ? eq : e) - s), dl = 0;
		char key[64];

		if (kl < sizeof(key) && http_pct_decode(key, sizeof(key), s, kl, 0, &dl) == 0)
			for (size_t i = 0; i < (all ? 7u : 5u); i++)
				if (dl == strlen(names[i]) && memcmp(key, names[i], dl) == 0)
					return true;
		s = e + 1;
	}
	return false;
}

static bool
has_header(const struct sigv4_request *req, const char *name)
{
	for (size_t i = 0; i < req->nheaders; i++)
		if (req->headers[i].name_len == strlen(name) &&
		    strncasecmp(req->headers[i].name, name, strlen(name)) == 0)
			return true;
	return false;
}

/* without(req, hs, drop): copy req's headers into hs except those named in drop. */
static size_t
without(const struct sigv4_request *req, struct sigv4_header *hs, const char *const *drop)
{
	size_t n = 0;

	for (size_t i = 0; i < req->nheaders; i++) {
		bool keep = true;

		for (const char *const *d = drop; *d != NULL && keep; d++)
			keep = !(req->headers[i].name_len == strlen(*d) &&
				 strncasecmp(req->headers[i].name, *d, strlen(*d)) == 0);
		if (keep)
			hs[n++] = req->headers[i];
	}
	return n;
}

/*
 * resign: replace req's authentication with a fresh signature by the
 * library's own signer and verify that.  presign: as query parameters.
 */
static void
resign(const struct sigv4_config *cfg, const struct sigv4_request *orig, bool presign,
       const uint8_t *body, size_t blen)
{
	static const char *const drop[] = {"authorization", "x-amz-date", "x-amz-content-sha256",
					   "date", NULL};
	const char *region = cfg->region != NULL ? cfg->region : "us-east-1";
	struct sigv4_header hs[MAX_HDRS + EXTRA_HDRS];
	struct sigv4_request req = *orig;
	struct sigv4_sign_params p;
	char amz[SIGV4_AMZ_DATE_LEN + 1], date[9], scope[SIGV4_MAX_SCOPE + 1];
	char list[LIST_MAX + 2], sighex[65], *authz = NULL, *target = NULL;
	uint8_t key[32], sig[32];
	enum sigv4_result r;
	int rc;

	if (sigv4_amz_date(orig->now, amz) != 0 || orig->target_len == 0)
		return;
	memcpy(date, amz, 8);
	date[8] = '\0';
	snprintf(scope, sizeof(scope), "%s/%s/s3/aws4_request", date, region);
	req.headers = hs;
	req.nheaders = without(orig, hs, drop);
	if (!presign) {
		hs[req.nheaders++] =
			(struct sigv4_header){"x-amz-date", 10, amz, SIGV4_AMZ_DATE_LEN};
		hs[req.nheaders++] =
			(struct sigv4_header){"x-amz-content-sha256", 20, "UNSIGNED-PAYLOAD", 16};
	}
	if (!signed_list(&req, list, sizeof(list)))
		return;
	if (presign) {
		size_t tl = orig->target_len + 512 + 3 * strlen(list);
		const char *sep = memchr(orig->target, '?', orig->target_len) == NULL ? "?" : "&";
		char enc[3 * LIST_MAX + 1];

		if (query_has_auth(orig->target, orig->target_len, true) ||
		    sigv4_uri_encode(enc, sizeof(enc), list, strlen(list), false) < 0 ||
		    (target = malloc(tl)) == NULL)
			return;
		/* The target may hold NUL bytes: copy it, then append. */
		memcpy(target, orig->target, orig->target_len);
		req.target_len = orig->target_len;
		req.target_len += (size_t)snprintf(
			target + req.target_len, tl - req.target_len,
			"%sX-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=" AKID
			"%%2F%s%%2F%s%%2Fs3%%2Faws4_request&X-Amz-Date=%s&X-Amz-Expires=300&"
			"X-Amz-SignedHeaders=%s",
			sep, date, region, amz, enc);
		req.target = target;
	}
	memset(&p, 0, sizeof(p));
	p.signed_headers = list;
	p.signed_headers_len = strlen(list);
	p.payload = "UNSIGNED-PAYLOAD";
	p.payload_len = 16;
	p.amz_date = amz;
	p.scope = scope;
	p.scope_len = strlen(scope);
	if (sigv4_signing_key((const uint8_t *)SECRET, strlen(SECRET), date, region, "s3", key) !=
	    0) {
		free(target);
		return;
	}
	rc = sigv4_signature(&req, &p, key, sig);
	secmem_wipe(key, sizeof(key));
	if (rc != 0) {
		/* The signer refuses only what the verifier refuses too. */
		FUZZ_CHECK(rc == CS_EINVAL || rc == CS_ERANGE);
		free(target);
		return;
	}
	hex_encode(sighex, sig, 32);
	if (presign) {
		size_t tl = req.target_len + 100;
		char *t2 = malloc(tl);

		FUZZ_CHECK(t2 != NULL);
		memcpy(t2, req.target, req.target_len);
		req.target_len += (size_t)snprintf(t2 + req.target_len, tl - req.target_len,
						   "&X-Amz-Signature=%s", sighex);
		free(target);
		req.target = target = t2;
	} else {
		size_t al = 200 + strlen(list);

		FUZZ_CHECK((authz = malloc(al)) != NULL);
		snprintf(authz, al,
			 "AWS4-HMAC-SHA256 Credential=" AKID "/%s, SignedHeaders=%s, Signature=%s",
			 scope, list, sighex);
		hs[req.nheaders++] =
			(struct sigv4_header){"Authorization", 13, authz, strlen(authz)};
	}
	r = verify(cfg, &req, body, blen);
	if (!presign && query_has_auth(req.target, req.target_len, false))
		FUZZ_CHECK(r == SIGV4_INVALID_ARGUMENT);
	else if (!presign && has_header(&req, "x-amz-security-token"))
		FUZZ_CHECK(r == SIGV4_ACCESS_DENIED);
	else if (req.target_len > SIGV4_MAX_TARGET)
		FUZZ_CHECK(r == SIGV4_INVALID_ARGUMENT);
	else
		FUZZ_CHECK(r == SIGV4_OK);
	free(authz);
	free(target);
}

/* next_line: the bytes up to the next '\n' (excluded); NULL at the end. */
static const char *
next_line(struct fuzz_in *in, size_t *len)
{
	const uint8_t *nl;
	const char *s = (const char *)in->p;

	if (in->n == 0)
		return NULL;
	nl = memchr(in->p, '\n', in->n);
	*len = nl != NULL ? (size_t)(nl - in->p) : in->n;
	in->p += *len + (nl != NULL);
	in->n -= *len + (nl != NULL);
	return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	static struct sigv4_header hs[MAX_HDRS];
	struct sigv4_request req;
	struct sigv4_config cfg;
	struct sigv4_sign_params p;
	char list[LIST_MAX + 2];
	uint8_t clock = fuzz_take_u8(&in), flags = fuzz_take_u8(&in);
	bool eio = (flags & 0x20) != 0;
	const char *line;
	size_t len;

	memset(&req, 0, sizeof(req));
	req.method = next_line(&in, &req.method_len);
	req.target = next_line(&in, &req.target_len);
	if (req.method == NULL || req.target == NULL)
		return 0;
	req.headers = hs;
	req.now = clocks[clock % (sizeof(clocks) / sizeof(clocks[0]))];
	while ((line = next_line(&in, &len)) != NULL && len > 0 && req.nheaders < MAX_HDRS) {
		const char *colon = memchr(line, ':', len);
		struct sigv4_header *h = &hs[req.nheaders++];

		h->name = line;
		h->name_len = colon != NULL ? (size_t)(colon - line) : len;
		h->value = colon != NULL ? colon + 1 : line + len;
		h->value_len = colon != NULL ? len - h->name_len - 1 : 0;
	}

	memset(&cfg, 0, sizeof(cfg));
	cfg.region = regions[flags & 3];
	cfg.max_skew = flags & 4 ? 60 : 0;
	cfg.lookup = lookup;
	cfg.lookup_arg = &eio;
	fuzz_secmem_mark();
	(void)verify(&cfg, &req, in.p, in.n);

	/* The canonical request over every header the request has. */
	memset(&p, 0, sizeof(p));
	if (signed_list(&req, list, sizeof(list))) {
		p.signed_headers = list;
		p.signed_headers_len = strlen(list);
		p.payload = "UNSIGNED-PAYLOAD";
		p.payload_len = 16;
		p.amz_date = "20240506T070809Z";
		p.scope = "20240506/us-east-1/s3/aws4_request";
		p.scope_len = strlen(p.scope);
		check_canonical(&req, &p);
	}
	if (flags & 8)
		resign(&cfg, &req, false, in.p, in.n);
	if (flags & 16)
		resign(&cfg, &req, true, in.p, in.n);
	fuzz_secmem_check();
	return 0;
}
