/*
 * Unit tests for s3/sigv4: the AWS documentation's worked examples,
 * requests signed by botocore (tests/vectors/sigv4, see gen.py there),
 * client-side signing round trips, and limits.
 *
 * Every vector is run on tight heap copies of its method, target and headers
 * (no NUL terminator, nothing after the last byte), so that a read past a
 * length shows up under ASan.  Every vector expected to verify is also run
 * once more with one digit of its signature changed, which must fail.
 */
#include "testutil.h"
#include "s3/sigv4.h"
#include "util/err.h"
#include "util/secmem.h"

#include <stdio.h>
#include <strings.h>

#include <openssl/evp.h>

#define VEC_MAX_CREDS   4
#define VEC_MAX_HEADERS 64
#define VEC_MAX_CANON   16384

/* One request vector; the strings point into the loaded file. */
struct vec {
	const char *name;
	int line;
	const char *akid[VEC_MAX_CREDS], *secret[VEC_MAX_CREDS];
	int ncreds;
	const char *region; /* NULL: any */
	int64_t skew, now;
	const char *method, *target;
	const char *hname[VEC_MAX_HEADERS], *hvalue[VEC_MAX_HEADERS];
	int nheaders;
	const char *expect, *detail, *payload, *exp_akid;
	char canon[VEC_MAX_CANON];
	size_t canon_len;
	bool has_canon;
};

/* ---- helpers ------------------------------------------------------------------------------- */

static char *
load_file(const char *name)
{
	char path[512];
	FILE *f;
	long n;
	char *buf;

	snprintf(path, sizeof(path), "%s/sigv4/%s", CS_VECTORS_DIR, name);
	f = fopen(path, "rb");
	if (f == NULL) {
		print_error("cannot open %s\n", path);
		return NULL;
	}
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
sha256(const void *p, size_t n, uint8_t out[32])
{
	assert_int_equal(EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL), 1);
}

/* unescape(s): undo the vector files' \\ \t \xHH escapes in place. */
static void
unescape(char *s)
{
	char *o = s;

	while (*s != '\0') {
		if (*s != '\\') {
			*o++ = *s++;
			continue;
		}
		s++;
		if (*s == 't') {
			*o++ = '\t';
			s++;
		} else if (*s == 'x') {
			uint8_t c;

			assert_int_equal(hex_decode(&c, 1, s + 1, 2), 1);
			*o++ = (char)c;
			s += 3;
		} else {
			assert_int_equal(*s, '\\');
			*o++ = *s++;
		}
	}
	*o = '\0';
}

/* A heap copy of exactly n bytes: reading one past the end is an ASan error. */
static char *
tight(const char *s, size_t n)
{
	char *p = malloc(n > 0 ? n : 1);

	assert_non_null(p);
	memcpy(p, s, n);
	return p;
}

static int
status_of(const char *code)
{
	static const struct {
		const char *code;
		int status;
	} table[] = {
		{"OK", 200},
		{"AccessDenied", 403},
		{"SignatureDoesNotMatch", 403},
		{"InvalidAccessKeyId", 403},
		{"RequestTimeTooSkewed", 403},
		{"AuthorizationHeaderMalformed", 400},
		{"AuthorizationQueryParametersError", 400},
		{"MissingSecurityHeader", 400},
		{"InvalidArgument", 400},
		{"InternalError", 500},
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(table[i].code, code) == 0)
			return table[i].status;
	return -1;
}

/* ---- running a vector ---------------------------------------------------------------------- */

static int
vec_lookup(void *arg, const char *akid, uint8_t *secret, size_t size, size_t *len)
{
	const struct vec *v = arg;

	for (int i = 0; i < v->ncreds; i++) {
		size_t n = strlen(v->secret[i]);

		if (strcmp(akid, v->akid[i]) != 0)
			continue;
		if (n > size)
			return CS_ERANGE;
		memcpy(secret, v->secret[i], n);
		*len = n;
		return 0;
	}
	return CS_ENOENT;
}

/* flip_sig(s, n, marker): change the last digit of the 64 after marker in s[0..n). */
static bool
flip_sig(char *s, size_t n, const char *marker)
{
	size_t m = strlen(marker);

	for (size_t i = 0; i + m + 64 <= n; i++) {
		if (memcmp(s + i, marker, m) != 0)
			continue;
		s[i + m + 63] = s[i + m + 63] == '0' ? '1' : '0';
		return true;
	}
	return false;
}

/*
 * run_request(v, tamper, auth): verify v from tight copies; with tamper, one
 * signature digit is changed first.
 */
static enum sigv4_result
run_request(const struct vec *v, bool tamper, struct sigv4_auth *auth)
{
	struct sigv4_header h[VEC_MAX_HEADERS];
	struct sigv4_config cfg = {v->region, v->skew, vec_lookup, (void *)(uintptr_t)v};
	struct sigv4_request req;
	char *method = tight(v->method, strlen(v->method));
	char *target = tight(v->target, strlen(v->target));
	enum sigv4_result r;
	bool flipped = !tamper;

	if (tamper)
		flipped = flip_sig(target, strlen(v->target), "X-Amz-Signature=");
	for (int i = 0; i < v->nheaders; i++) {
		h[i].name_len = strlen(v->hname[i]);
		h[i].value_len = strlen(v->hvalue[i]);
		h[i].name = tight(v->hname[i], h[i].name_len);
		h[i].value = tight(v->hvalue[i], h[i].value_len);
		if (!flipped && strcasecmp(v->hname[i], "Authorization") == 0)
			flipped = flip_sig((char *)(uintptr_t)h[i].value, h[i].value_len,
					   "Signature=");
	}
	assert_true(flipped);
	req.method = method;
	req.method_len = strlen(v->method);
	req.target = target;
	req.target_len = strlen(v->target);
	req.headers = h;
	req.nheaders = (size_t)v->nheaders;
	req.now = v->now;
	r = sigv4_verify(&cfg, &req, auth);
	if (r == SIGV4_OK && v->has_canon) {
		/* The canonical request, as text: its last two lines are the
		 * SignedHeaders list and the payload line. */
		struct sigv4_sign_params p;
		char *text = malloc(VEC_MAX_CANON);
		const char *nl1 = strrchr(v->canon, '\n'), *nl2;
		size_t len = 0;

		assert_non_null(text);
		assert_non_null(nl1);
		for (nl2 = nl1 - 1; nl2 > v->canon && *nl2 != '\n'; nl2--)
			;
		p.signed_headers = nl2 + 1;
		p.signed_headers_len = (size_t)(nl1 - nl2 - 1);
		p.payload = nl1 + 1;
		p.payload_len = strlen(nl1 + 1);
		p.amz_date = auth->amz_date;
		p.scope = auth->scope;
		p.scope_len = strlen(auth->scope);
		assert_int_equal(sigv4_canonical_request(&req, &p, text, VEC_MAX_CANON, &len), 0);
		if (len != v->canon_len || strcmp(text, v->canon) != 0) {
			print_error("%s: canonical request\n%s\n--- expected\n%s\n", v->name, text,
				    v->canon);
			fail();
		}
		free(text);
	}
	free(method);
	free(target);
	for (int i = 0; i < v->nheaders; i++) {
		free((void *)(uintptr_t)h[i].name);
		free((void *)(uintptr_t)h[i].value);
	}
	return r;
}

static bool
check_payload(const struct vec *v, const struct sigv4_auth *a)
{
	uint8_t want[32];

	if (strcmp(v->payload, "UNSIGNED-PAYLOAD") == 0)
		return a->payload == SIGV4_PAYLOAD_UNSIGNED;
	if (strcmp(v->payload, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD") == 0)
		return a->payload == SIGV4_PAYLOAD_STREAMING_SIGNED && a->signing_key != NULL &&
		       secmem_is_secure(a->signing_key);
	if (strcmp(v->payload, "STREAMING-UNSIGNED-PAYLOAD-TRAILER") == 0)
		return a->payload == SIGV4_PAYLOAD_STREAMING_UNSIGNED_TRL;
	tu_unhex(want, sizeof(want), v->payload);
	return a->payload == SIGV4_PAYLOAD_SHA256 && memcmp(a->payload_sha256, want, 32) == 0;
}

/* run_vector(v): verify v and check every expectation; false (after printing) on a mismatch. */
static bool
run_vector(const struct vec *v)
{
	struct sigv4_auth auth;
	enum sigv4_result r = run_request(v, false, &auth);
	const char *code = sigv4_result_code(r);
	bool ok = true;

	if (strcmp(code, v->expect) != 0) {
		print_error("%s (line %d): got %s (%s), expected %s\n", v->name, v->line, code,
			    auth.detail, v->expect);
		ok = false;
	}
	if (r != auth.result || sigv4_result_status(r) != status_of(v->expect)) {
		print_error("%s: result/status mismatch\n", v->name);
		ok = false;
	}
	if (v->detail != NULL && strcmp(v->detail, auth.detail) != 0) {
		print_error("%s: detail '%s', expected '%s'\n", v->name, auth.detail, v->detail);
		ok = false;
	}
	if (v->exp_akid != NULL && strcmp(v->exp_akid, auth.access_key) != 0) {
		print_error("%s: access key '%s'\n", v->name, auth.access_key);
		ok = false;
	}
	if (r == SIGV4_OK && v->payload != NULL && !check_payload(v, &auth)) {
		print_error("%s: payload mode %d\n", v->name, (int)auth.payload);
		ok = false;
	}
	if (r == SIGV4_OK && v->has_canon) {
		uint8_t h[32];

		sha256(v->canon, v->canon_len, h);
		if (!auth.have_canonical || memcmp(h, auth.canonical_sha256, 32) != 0) {
			print_error("%s: canonical request hash differs\n", v->name);
			ok = false;
		}
	}
	if (r != SIGV4_OK && auth.signing_key != NULL) {
		print_error("%s: signing key kept on failure\n", v->name);
		ok = false;
	}
	sigv4_auth_clear(&auth);
	if (auth.signing_key != NULL || auth.access_key[0] != '\0')
		ok = false;
	if (r == SIGV4_OK) {
		r = run_request(v, true, &auth);
		if (r != SIGV4_SIGNATURE_DOES_NOT_MATCH) {
			print_error("%s: a changed signature gave %s\n", v->name,
				    sigv4_result_code(r));
			ok = false;
		}
		sigv4_auth_clear(&auth);
	}
	return ok;
}

/*
 * run_file(name, *count): parse and run every vector of a file; returns the
 * number of failures.
 */
static int
run_file(const char *name, int *count)
{
	char *buf = load_file(name), *line, *next;
	struct vec *v = calloc(1, sizeof(*v));
	int failures = 0, lineno = 0;
	bool in = false;

	assert_non_null(buf);
	assert_non_null(v);
	*count = 0;
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		char *key = line, *val, *sp;

		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		lineno++;
		if (*line == '#' || *line == '\0')
			continue;
		sp = strchr(line, ' ');
		val = sp != NULL ? sp + 1 : line + strlen(line);
		if (sp != NULL)
			*sp = '\0';
		if (strcmp(key, "vector") == 0) {
			assert_false(in);
			memset(v, 0, sizeof(*v));
			v->name = val;
			v->line = lineno;
			in = true;
			continue;
		}
		assert_true(in);
		if (strcmp(key, "cred") == 0) {
			char *s = strchr(val, ' ');

			assert_non_null(s);
			assert_true(v->ncreds < VEC_MAX_CREDS);
			*s = '\0';
			v->akid[v->ncreds] = val;
			v->secret[v->ncreds++] = s + 1;
		} else if (strcmp(key, "region") == 0) {
			v->region = strcmp(val, "*") == 0 ? NULL : val;
		} else if (strcmp(key, "skew") == 0) {
			v->skew = strtoll(val, NULL, 10);
		} else if (strcmp(key, "now") == 0) {
			v->now = strtoll(val, NULL, 10);
		} else if (strcmp(key, "method") == 0) {
			v->method = val;
		} else if (strcmp(key, "target") == 0) {
			v->target = val;
		} else if (strcmp(key, "header") == 0) {
			char *colon = strchr(val, ':');

			assert_non_null(colon);
			assert_true(v->nheaders < VEC_MAX_HEADERS);
			*colon = '\0';
			unescape(colon + 1);
			v->hname[v->nheaders] = val;
			v->hvalue[v->nheaders++] = colon + 1;
		} else if (strcmp(key, "expect") == 0) {
			v->expect = val;
		} else if (strcmp(key, "detail") == 0) {
			v->detail = val;
		} else if (strcmp(key, "payload") == 0) {
			v->payload = val;
		} else if (strcmp(key, "akid") == 0) {
			v->exp_akid = val;
		} else if (strcmp(key, "canon") == 0) {
			size_t n = strlen(val);

			assert_true(v->canon_len + n + 2 < sizeof(v->canon));
			if (v->has_canon)
				v->canon[v->canon_len++] = '\n';
			memcpy(v->canon + v->canon_len, val, n);
			v->canon_len += n;
			v->canon[v->canon_len] = '\0';
			v->has_canon = true;
		} else if (strcmp(key, "end") == 0) {
			assert_non_null(v->method);
			assert_non_null(v->target);
			assert_non_null(v->expect);
			failures += run_vector(v) ? 0 : 1;
			(*count)++;
			in = false;
		} else {
			print_error("%s:%d: unknown key %s\n", name, lineno, key);
			fail();
		}
	}
	assert_false(in);
	free(v);
	free(buf);
	return failures;
}

/* ---- the tests ----------------------------------------------------------------------------- */

static void
test_aws_doc_vectors(void **state)
{
	int count;

	(void)state;
	assert_int_equal(run_file("requests-aws-docs.txt", &count), 0);
	assert_int_equal(count, 6);
}

static void
test_botocore_vectors(void **state)
{
	int count;

	(void)state;
	assert_int_equal(run_file("requests-botocore.txt", &count), 0);
	assert_true(count >= 80);
}

/* AWS docs, "Examples of how to derive a signing key": the IAM example. */
static void
test_signing_key_aws_example(void **state)
{
	static const char secret[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
	uint8_t key[32], want[32];

	(void)state;
	tu_unhex(want, sizeof(want),
		 "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d");
	assert_int_equal(sigv4_signing_key((const uint8_t *)secret, strlen(secret), "20120215",
					   "us-east-1", "iam", key),
			 0);
	assert_memory_equal(key, want, 32);
	/* Any change of input changes the key. */
	assert_int_equal(sigv4_signing_key((const uint8_t *)secret, strlen(secret), "20120216",
					   "us-east-1", "iam", key),
			 0);
	assert_memory_not_equal(key, want, 32);
	assert_int_equal(
		sigv4_signing_key((const uint8_t *)secret, 0, "20120215", "us-east-1", "iam", key),
		CS_EINVAL);
	assert_int_equal(sigv4_signing_key((const uint8_t *)secret, strlen(secret), "2012021",
					   "us-east-1", "iam", key),
			 CS_EINVAL);
	assert_int_equal(sigv4_signing_key((const uint8_t *)secret, SIGV4_MAX_SECRET + 1,
					   "20120215", "us-east-1", "iam", key),
			 CS_EINVAL);
	assert_int_equal(sigv4_signing_key((const uint8_t *)secret, strlen(secret), "20120215", "",
					   "iam", key),
			 CS_EINVAL);
}

/* AWS docs: the canonical request of "GET /test.txt" with Range, and its hash. */
static void
test_canonical_request_aws_example(void **state)
{
	static const char empty[] =
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	static const char want[] =
		"GET\n/test.txt\n\nhost:examplebucket.s3.amazonaws.com\n"
		"range:bytes=0-9\n"
		"x-amz-content-sha256:"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
		"\nx-amz-date:20130524T000000Z\n\n"
		"host;range;x-amz-content-sha256;x-amz-date\n"
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	static const char list[] = "host;range;x-amz-content-sha256;x-amz-date";
	static const char scope[] = "20130524/us-east-1/s3/aws4_request";
	static const char secret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
	const struct sigv4_header h[] = {
		{"Host", 4, "examplebucket.s3.amazonaws.com", 30},
		{"Range", 5, "bytes=0-9", 9},
		{"x-amz-content-sha256", 20, empty, 64},
		{"x-amz-date", 10, "20130524T000000Z", 16},
	};
	const struct sigv4_request req = {"GET", 3, "/test.txt", 9, h, 4, 0};
	const struct sigv4_sign_params p = {list,  sizeof(list) - 1, empty, 64, "20130524T000000Z",
					    scope, sizeof(scope) - 1};
	char text[1024], small[16];
	size_t len;
	uint8_t hash[32], want_hash[32], key[32], sig[32], want_sig[32];

	(void)state;
	assert_int_equal(sigv4_canonical_request(&req, &p, text, sizeof(text), &len), 0);
	assert_string_equal(text, want);
	assert_int_equal(len, strlen(want));
	sha256(text, len, hash);
	tu_unhex(want_hash, sizeof(want_hash),
		 "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
	assert_memory_equal(hash, want_hash, 32);
	assert_int_equal(sigv4_signing_key((const uint8_t *)secret, strlen(secret), "20130524",
					   "us-east-1", "s3", key),
			 0);
	assert_int_equal(sigv4_signature(&req, &p, key, sig), 0);
	tu_unhex(want_sig, sizeof(want_sig),
		 "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
	assert_memory_equal(sig, want_sig, 32);

	/* Too small a buffer reports the length needed and leaves a NUL. */
	assert_int_equal(sigv4_canonical_request(&req, &p, small, sizeof(small), &len), CS_ERANGE);
	assert_int_equal(len, strlen(want));
	/* A signed header that is absent. */
	{
		const struct sigv4_request req3 = {"GET", 3, "/test.txt", 9, h, 3, 0};

		assert_int_equal(sigv4_canonical_request(&req3, &p, text, sizeof(text), &len),
				 CS_ENOENT);
	}
}

/* AWS docs, sigv4-streaming: the first chunk signature of the example. */
static void
test_chunk_signature_aws_example(void **state)
{
	static const char secret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
	static const char scope[] = "20130524/us-east-1/s3/aws4_request";
	uint8_t key[32], seed[32], h[32], sig[32], want[32];
	uint8_t *data = malloc(65536);

	(void)state;
	assert_non_null(data);
	memset(data, 'a', 65536);
	sha256(data, 65536, h);
	tu_unhex(seed, sizeof(seed),
		 "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9");
	tu_unhex(want, sizeof(want),
		 "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648");
	assert_int_equal(sigv4_signing_key((const uint8_t *)secret, strlen(secret), "20130524",
					   "us-east-1", "s3", key),
			 0);
	assert_int_equal(sigv4_chunk_signature(key, "20130524T000000Z", scope, sizeof(scope) - 1,
					       seed, h, sig),
			 0);
	assert_memory_equal(sig, want, 32);
	seed[0] ^= 1;
	assert_int_equal(sigv4_chunk_signature(key, "20130524T000000Z", scope, sizeof(scope) - 1,
					       seed, h, sig),
			 0);
	assert_memory_not_equal(sig, want, 32);
	assert_int_equal(sigv4_chunk_signature(key, "20130524T000000Z", scope, SIGV4_MAX_SCOPE + 1,
					       seed, h, sig),
			 CS_EINVAL);
	free(data);
}

static void
test_uri_encode(void **state)
{
	static const struct {
		const char *in;
		bool keep_slash;
		const char *out;
	} cases[] = {
		{"", false, ""},
		{"AZaz09-_.~", false, "AZaz09-_.~"},
		{"a b+c=d&e", false, "a%20b%2Bc%3Dd%26e"},
		{"a/b", false, "a%2Fb"},
		{"a/b", true, "a/b"},
		{"100%", true, "100%25"},
		{"\xe2\x82\xac", false, "%E2%82%AC"},
		{"!*'();:@$,?#[]", false, "%21%2A%27%28%29%3B%3A%40%24%2C%3F%23%5B%5D"},
	};
	char out[64], tiny[4];
	const uint8_t nul_ff[2] = {0x00, 0xff};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		long n = sigv4_uri_encode(out, sizeof(out), cases[i].in, strlen(cases[i].in),
					  cases[i].keep_slash);

		assert_int_equal(n, (long)strlen(cases[i].out));
		assert_string_equal(out, cases[i].out);
	}
	assert_int_equal(sigv4_uri_encode(out, sizeof(out), nul_ff, 2, false), 6);
	assert_string_equal(out, "%00%FF");
	/* Exactly fitting, and one byte short. */
	assert_int_equal(sigv4_uri_encode(tiny, sizeof(tiny), "%", 1, false), 3);
	assert_int_equal(sigv4_uri_encode(tiny, sizeof(tiny), "ab%", 3, false), CS_ERANGE);
	assert_int_equal(sigv4_uri_encode(tiny, 0, "", 0, false), CS_ERANGE);
}

static void
test_amz_date(void **state)
{
	char out[SIGV4_AMZ_DATE_LEN + 1];

	(void)state;
	assert_int_equal(sigv4_amz_date(0, out), 0);
	assert_string_equal(out, "19700101T000000Z");
	assert_int_equal(sigv4_amz_date(1369353600, out), 0);
	assert_string_equal(out, "20130524T000000Z");
	assert_int_equal(sigv4_amz_date(951782400 + 86399, out), 0); /* leap day 2000 */
	assert_string_equal(out, "20000229T235959Z");
	assert_int_equal(sigv4_amz_date(253402300799, out), 0);
	assert_string_equal(out, "99991231T235959Z");
	assert_int_equal(sigv4_amz_date(253402300800, out), CS_ERANGE);
	assert_int_equal(sigv4_amz_date(-1, out), CS_ERANGE);
}

static void
test_result_codes(void **state)
{
	(void)state;
	for (int r = SIGV4_OK; r <= SIGV4_INTERNAL_ERROR; r++) {
		const char *code = sigv4_result_code((enum sigv4_result)r);

		assert_int_equal(sigv4_result_status((enum sigv4_result)r), status_of(code));
		for (int s = SIGV4_OK; s < r; s++)
			assert_string_not_equal(code, sigv4_result_code((enum sigv4_result)s));
	}
	assert_string_equal(sigv4_result_code((enum sigv4_result)99), "InternalError");
	assert_int_equal(sigv4_result_status((enum sigv4_result)99), 500);
	sigv4_auth_clear(NULL);
}

/* ---- client signing round trips ------------------------------------------------------------ */

static const char rt_secret[] = "round-trip-secret/0123456789+abcdefghij";

static int
rt_lookup(void *arg, const char *akid, uint8_t *secret, size_t size, size_t *len)
{
	int *mode = arg;

	if (*mode == 1)
		return CS_EIO;
	if (*mode == 2) {
		*len = size + 1;
		return 0;
	}
	if (strcmp(akid, "RTKEY") != 0)
		return CS_ENOENT;
	memcpy(secret, rt_secret, strlen(rt_secret));
	*len = strlen(rt_secret);
	return 0;
}

/* Sign a PUT the way the CLI will and verify it; then break it in a few ways. */
static void
test_sign_verify_round_trip(void **state)
{
	static const char scope[] = "20240229/eu-north-1/s3/aws4_request";
	static const char list[] = "content-type;host;x-amz-content-sha256;x-amz-date;x-amz-meta-a";
	static const char target[] = "/b/dir%2Fx/%E2%82%AC%20y.bin?uploadId=a%2Bb&partNumber=7";
	char date[SIGV4_AMZ_DATE_LEN + 1], authz[512], sighex[65];
	uint8_t key[32], sig[32], hash[32];
	char hashhex[65];
	struct sigv4_header h[6];
	struct sigv4_request req = {"PUT", 3, target, sizeof(target) - 1, h, 5, 0};
	struct sigv4_sign_params p;
	struct sigv4_auth auth;
	int mode = 0;
	struct sigv4_config cfg = {"eu-north-1", 0, rt_lookup, &mode};

	(void)state;
	req.now = 951782400 + 3600;                       /* 2000-02-29 01:00 */
	req.now += (int64_t)24 * 365 * 86400 + 6 * 86400; /* 2024-02-29 01:00 */
	assert_int_equal(sigv4_amz_date(req.now, date), 0);
	assert_string_equal(date, "20240229T010000Z");
	sha256("data", 4, hash);
	hex_encode(hashhex, hash, 32);
	h[0] = (struct sigv4_header){"Host", 4, "localhost:9000", 14};
	h[1] = (struct sigv4_header){"Content-Type", 12, "application/octet-stream", 24};
	h[2] = (struct sigv4_header){"X-Amz-Date", 10, date, 16};
	h[3] = (struct sigv4_header){"X-Amz-Content-Sha256", 20, hashhex, 64};
	h[4] = (struct sigv4_header){"x-amz-meta-a", 12, " 1 ", 3};
	p = (struct sigv4_sign_params){list,  sizeof(list) - 1, hashhex, 64, date,
				       scope, sizeof(scope) - 1};
	assert_int_equal(sigv4_signing_key((const uint8_t *)rt_secret, strlen(rt_secret),
					   "20240229", "eu-north-1", "s3", key),
			 0);
	assert_int_equal(sigv4_signature(&req, &p, key, sig), 0);
	hex_encode(sighex, sig, 32);
	snprintf(authz, sizeof(authz),
		 "AWS4-HMAC-SHA256 Credential=RTKEY/%s, SignedHeaders=%s, Signature=%s", scope,
		 list, sighex);
	h[5] = (struct sigv4_header){"Authorization", 13, authz, strlen(authz)};
	req.nheaders = 6;

	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_OK);
	assert_int_equal(auth.payload, SIGV4_PAYLOAD_SHA256);
	assert_memory_equal(auth.payload_sha256, hash, 32);
	assert_string_equal(auth.region, "eu-north-1");
	assert_string_equal(auth.scope, scope);
	assert_string_equal(auth.access_key, "RTKEY");
	assert_int_equal(auth.request_time, req.now);
	assert_memory_equal(auth.seed_signature, sig, 32);
	assert_null(auth.signing_key);
	sigv4_auth_clear(&auth);

	/* A region check against another configured region. */
	cfg.region = "eu-north-2";
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_AUTH_HEADER_MALFORMED);
	cfg.region = NULL;
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_OK);
	/* The lookup fails, or returns more than fits. */
	mode = 1;
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_INTERNAL_ERROR);
	mode = 2;
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_INTERNAL_ERROR);
	mode = 0;
	/* A trimmed header value changes nothing; another value does. */
	h[4].value = "1";
	h[4].value_len = 1;
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_OK);
	h[4].value = "2";
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_SIGNATURE_DOES_NOT_MATCH);
	assert_true(auth.have_canonical);
	h[4].value = "1";
	/* The query in another order and with lowercase escapes verifies too. */
	req.target = "/b/dir%2Fx/%E2%82%AC%20y.bin?partNumber=7&uploadId=a%2bb";
	req.target_len = strlen(req.target);
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_OK);
	/* The path is taken as sent: %2F is not '/'. */
	req.target = "/b/dir/x/%E2%82%AC%20y.bin?partNumber=7&uploadId=a%2bb";
	req.target_len = strlen(req.target);
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_SIGNATURE_DOES_NOT_MATCH);
	sigv4_auth_clear(&auth);
}

/* Presign a GET the way the CLI will and verify it around its expiry. */
static void
test_presign_round_trip(void **state)
{
	static const char scope[] = "20130524/us-east-1/s3/aws4_request";
	char target[700], base[512], sighex[65];
	uint8_t key[32], sig[32];
	const struct sigv4_header h[] = {{"host", 4, "example", 7}};
	struct sigv4_request req = {"GET", 3, base, 0, h, 1, 1369353600};
	const struct sigv4_sign_params p = {
		"host", 4, "UNSIGNED-PAYLOAD", 16, "20130524T000000Z", scope, sizeof(scope) - 1};
	struct sigv4_auth auth;
	int mode = 0;
	const struct sigv4_config cfg = {"us-east-1", 0, rt_lookup, &mode};

	(void)state;
	snprintf(
		base, sizeof(base),
		"/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=RTKEY%%2F20130524%%2Fus-east-"
		"1%%2Fs3%%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=10&X-Amz-"
		"SignedHeaders=host");
	req.target_len = strlen(base);
	assert_int_equal(sigv4_signing_key((const uint8_t *)rt_secret, strlen(rt_secret),
					   "20130524", "us-east-1", "s3", key),
			 0);
	assert_int_equal(sigv4_signature(&req, &p, key, sig), 0);
	hex_encode(sighex, sig, 32);
	snprintf(target, sizeof(target), "%s&X-Amz-Signature=%s", base, sighex);
	req.target = target;
	req.target_len = strlen(target);
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_OK);
	assert_true(auth.presigned);
	assert_int_equal(auth.expires_at, 1369353610);
	assert_int_equal(auth.payload, SIGV4_PAYLOAD_UNSIGNED);
	req.now = 1369353610;
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_OK);
	req.now = 1369353611;
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_ACCESS_DENIED);
	assert_string_equal(auth.detail, "Request has expired");
	sigv4_auth_clear(&auth);
}

/* The streaming seed request of the AWS example hands back the signing key. */
static void
test_streaming_key(void **state)
{
	static const char secret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
	static const char authz[] =
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
		"aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-"
		"sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature="
		"4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
	const struct sigv4_header h[] = {
		{"Host", 4, "s3.amazonaws.com", 16},
		{"x-amz-date", 10, "20130524T000000Z", 16},
		{"x-amz-storage-class", 19, "REDUCED_REDUNDANCY", 18},
		{"x-amz-content-sha256", 20, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", 34},
		{"Content-Encoding", 16, "aws-chunked", 11},
		{"x-amz-decoded-content-length", 28, "66560", 5},
		{"Content-Length", 14, "66824", 5},
		{"Authorization", 13, authz, sizeof(authz) - 1},
	};
	const struct sigv4_request req = {
		"PUT", 3, "/examplebucket/chunkObject.txt", 30, h, 8, 1369353600 + 60};
	struct vec v;
	const struct sigv4_config cfg = {NULL, 0, vec_lookup, &v};
	struct sigv4_auth auth;
	uint8_t key[32];

	(void)state;
	memset(&v, 0, sizeof(v));
	v.akid[0] = "AKIAIOSFODNN7EXAMPLE";
	v.secret[0] = secret;
	v.ncreds = 1;
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_OK);
	assert_int_equal(auth.payload, SIGV4_PAYLOAD_STREAMING_SIGNED);
	assert_int_equal(auth.decoded_length, 66560);
	assert_string_equal(auth.amz_date, "20130524T000000Z");
	assert_string_equal(auth.scope, "20130524/us-east-1/s3/aws4_request");
	assert_non_null(auth.signing_key);
	assert_true(secmem_is_secure(auth.signing_key));
	assert_int_equal(sigv4_signing_key((const uint8_t *)secret, strlen(secret), "20130524",
					   "us-east-1", "s3", key),
			 0);
	assert_memory_equal(auth.signing_key, key, 32);
	sigv4_auth_clear(&auth);
	assert_null(auth.signing_key);
	assert_int_equal(auth.decoded_length, -1);
	assert_int_not_equal(auth.result, SIGV4_OK);
}

/* Inputs at and beyond the limits are refused before anything is parsed. */
static void
test_limits(void **state)
{
	static char big[SIGV4_MAX_TARGET + 2];
	struct sigv4_header *many = calloc(SIGV4_MAX_HEADERS + 1, sizeof(*many));
	struct sigv4_request req = {"GET", 3, "/", 1, NULL, 0, 0};
	struct sigv4_auth auth;
	int mode = 0;
	struct sigv4_config cfg = {NULL, 0, rt_lookup, &mode};
	char *q = big;

	(void)state;
	assert_non_null(many);
	/* No authentication at all. */
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_MISSING_SECURITY_HEADER);
	/* A lowercase or overlong method. */
	req.method = "get";
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_INVALID_ARGUMENT);
	req.method = "GETGETGETGETGETGETGETGETGETGETGETG";
	req.method_len = strlen(req.method);
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_INVALID_ARGUMENT);
	req.method = "GET";
	req.method_len = 3;
	/* A target of SIGV4_MAX_TARGET + 1 bytes. */
	memset(big, 'a', sizeof(big));
	big[0] = '/';
	req.target = big;
	req.target_len = SIGV4_MAX_TARGET + 1;
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_INVALID_ARGUMENT);
	/* SIGV4_MAX_PARAMS + 1 query parameters. */
	q += sprintf(q, "/?X-Amz-Algorithm=x");
	for (int i = 0; i < SIGV4_MAX_PARAMS; i++)
		q += sprintf(q, "&p%d", i);
	req.target_len = (size_t)(q - big);
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_INVALID_ARGUMENT);
	/* Exactly SIGV4_MAX_PARAMS parse (and then fail for the missing auth parameters). */
	req.target_len = (size_t)(strrchr(big, '&') - big);
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_AUTH_QUERY_ERROR);
	/* Too many headers; an overlong header value; a NULL name. */
	req.target = "/";
	req.target_len = 1;
	for (int i = 0; i <= SIGV4_MAX_HEADERS; i++)
		many[i] = (struct sigv4_header){"x", 1, "", 0};
	req.headers = many;
	req.nheaders = SIGV4_MAX_HEADERS + 1;
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_INVALID_ARGUMENT);
	req.nheaders = 1;
	many[0].value = big;
	many[0].value_len = SIGV4_MAX_HEADER_VALUE + 1;
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_INVALID_ARGUMENT);
	many[0] = (struct sigv4_header){NULL, 1, "", 0};
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_INVALID_ARGUMENT);
	/* The server's clock out of range. */
	many[0] = (struct sigv4_header){"x", 1, "", 0};
	req.now = -1;
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_INTERNAL_ERROR);
	req.now = 0;
	/* No lookup configured; no request. */
	cfg.lookup = NULL;
	assert_int_equal(sigv4_verify(&cfg, &req, &auth), SIGV4_INTERNAL_ERROR);
	assert_int_equal(sigv4_verify(NULL, &req, &auth), SIGV4_INTERNAL_ERROR);
	cfg.lookup = rt_lookup;
	assert_int_equal(sigv4_verify(&cfg, NULL, &auth), SIGV4_INVALID_ARGUMENT);
	assert_int_equal(sigv4_verify(&cfg, NULL, NULL), SIGV4_INTERNAL_ERROR);
	free(many);
}

/* An Authorization value that stops at every possible byte never verifies or crashes. */
static void
test_truncated_authorization(void **state)
{
	static const char full[] =
		"AWS4-HMAC-SHA256 Credential=RTKEY/20130524/us-east-1/s3/aws4_request, "
		"SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="
		"0000000000000000000000000000000000000000000000000000000000000000";
	struct sigv4_header h[] = {
		{"host", 4, "h", 1},
		{"x-amz-date", 10, "20130524T000000Z", 16},
		{"x-amz-content-sha256", 20, "UNSIGNED-PAYLOAD", 16},
		{"authorization", 13, NULL, 0},
	};
	const struct sigv4_request req = {"GET", 3, "/", 1, h, 4, 1369353600};
	int mode = 0;
	const struct sigv4_config cfg = {NULL, 0, rt_lookup, &mode};
	struct sigv4_auth auth;

	(void)state;
	for (size_t n = 0; n <= sizeof(full) - 1; n++) {
		char *v = tight(full, n);
		enum sigv4_result r;

		h[3].value = v;
		h[3].value_len = n;
		r = sigv4_verify(&cfg, &req, &auth);
		if (n < sizeof(full) - 1)
			assert_int_not_equal(r, SIGV4_OK);
		else
			assert_int_equal(r, SIGV4_SIGNATURE_DOES_NOT_MATCH);
		sigv4_auth_clear(&auth);
		free(v);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aws_doc_vectors),
		cmocka_unit_test(test_botocore_vectors),
		cmocka_unit_test(test_signing_key_aws_example),
		cmocka_unit_test(test_canonical_request_aws_example),
		cmocka_unit_test(test_chunk_signature_aws_example),
		cmocka_unit_test(test_uri_encode),
		cmocka_unit_test(test_amz_date),
		cmocka_unit_test(test_result_codes),
		cmocka_unit_test(test_sign_verify_round_trip),
		cmocka_unit_test(test_presign_round_trip),
		cmocka_unit_test(test_streaming_key),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_truncated_authorization),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
