/*
 * Unit tests for s3/awschunked: the vectors of tests/vectors/sigv4/chunked.txt
 * (the AWS documentation example, bodies signed by gen.py's reference signer,
 * botocore's unsigned-trailer encoding, malformed bodies), each fed whole,
 * byte by byte and split at every point; the hand-over from sigv4_verify();
 * and property tests on streams signed here with sigv4_chunk_signature().
 */
#include "testutil.h"
#include "s3/awschunked.h"
#include "s3/sigv4.h"
#include "util/err.h"

#include <stdio.h>

#include <openssl/evp.h>

#define MAX_TRAILERS 8

/* ---- a decoding run ------------------------------------------------------------------------ */

/* What the callbacks saw. */
struct seen {
	EVP_MD_CTX *md;
	uint8_t *copy; /* optional: the decoded data */
	size_t copysz;
	uint64_t len;
	int ntrailers;
	char trailer[MAX_TRAILERS][300];
	int fail_data, fail_trailer; /* return this from the callback (0: succeed) */
};

static int
on_data(void *arg, const uint8_t *p, size_t n)
{
	struct seen *s = arg;

	assert_true(n > 0);
	if (s->fail_data != 0) {
		s->len += n;
		return s->fail_data;
	}
	assert_int_equal(EVP_DigestUpdate(s->md, p, n), 1);
	if (s->copy != NULL) {
		assert_true(s->len + n <= s->copysz);
		memcpy(s->copy + s->len, p, n);
	}
	s->len += n;
	return 0;
}

static int
on_trailer(void *arg, const char *name, size_t nl, const char *value, size_t vl)
{
	struct seen *s = arg;

	if (s->fail_trailer != 0)
		return s->fail_trailer;
	assert_true(s->ntrailers < MAX_TRAILERS);
	assert_true(nl + vl + 2 <= sizeof(s->trailer[0]));
	snprintf(s->trailer[s->ntrailers++], sizeof(s->trailer[0]), "%.*s:%.*s", (int)nl, name,
		 (int)vl, value);
	return 0;
}

enum outcome { OUT_OK, OUT_FRAMING, OUT_TRUNCATED, OUT_SIGNATURE, OUT_RANGE, OUT_OTHER };

static const char *const outcome_names[] = {"ok",        "framing", "truncated",
					    "signature", "range",   "other"};

/*
 * decode(cfg, body, len, cuts, ncuts, s, hash): decode body fed in pieces
 * ending at cuts[0] < cuts[1] < ... (and len); return the outcome.
 */
static enum outcome
decode(const struct awschunked_config *base, const uint8_t *body, size_t len, const size_t *cuts,
       size_t ncuts, struct seen *s, uint8_t hash[32])
{
	struct awschunked_config cfg = *base;
	struct awschunked *d;
	size_t at = 0;
	int rc = 0;
	bool from_feed = false;
	enum outcome o;

	s->len = 0;
	s->ntrailers = 0;
	assert_non_null(s->md = EVP_MD_CTX_new());
	assert_int_equal(EVP_DigestInit_ex(s->md, EVP_sha256(), NULL), 1);
	cfg.on_data = on_data;
	cfg.on_trailer = on_trailer;
	cfg.arg = s;
	assert_int_equal(awschunked_new(&cfg, &d), 0);
	for (size_t i = 0; i <= ncuts && rc == 0; i++) {
		size_t end = i < ncuts ? cuts[i] : len;

		rc = awschunked_feed(d, body + at, end - at);
		from_feed = rc != 0;
		at = end;
	}
	if (rc == 0) {
		rc = awschunked_finish(d);
		assert_int_equal(rc == 0, awschunked_done(d));
	} else {
		/* A dead decoder keeps its error. */
		assert_int_equal(awschunked_feed(d, "x", 1), rc);
		assert_int_equal(awschunked_finish(d), rc);
		assert_true(awschunked_why(d)[0] != '\0');
	}
	assert_int_equal(awschunked_decoded(d), s->len);
	awschunked_free(d);
	assert_int_equal(EVP_DigestFinal_ex(s->md, hash, NULL), 1);
	EVP_MD_CTX_free(s->md);
	s->md = NULL;
	switch (rc) {
	case 0:
		o = OUT_OK;
		break;
	case CS_EINVAL:
		o = from_feed ? OUT_FRAMING : OUT_TRUNCATED;
		break;
	case CS_EAUTH:
		o = OUT_SIGNATURE;
		break;
	case CS_ERANGE:
		o = OUT_RANGE;
		break;
	default:
		o = OUT_OTHER;
		break;
	}
	return o;
}

/* ---- the vector file ----------------------------------------------------------------------- */

struct cvec {
	const char *name;
	int line;
	struct awschunked_config cfg;
	uint8_t key[32], seed[32];
	char amz_date[SIGV4_AMZ_DATE_LEN + 1], scope[SIGV4_MAX_SCOPE + 1];
	const char *secret;
	uint8_t *body;
	size_t len, cap;
	const char *expect;
	bool has_hash;
	uint8_t data_sha256[32];
	uint64_t data_len;
	const char *trailer[MAX_TRAILERS];
	int ntrailers;
};

static void
body_append(struct cvec *v, const void *p, size_t n)
{
	if (v->len + n > v->cap) {
		v->cap = (v->len + n) * 2;
		assert_non_null(v->body = realloc(v->body, v->cap));
	}
	memcpy(v->body + v->len, p, n);
	v->len += n;
}

/* body_text(v, s): append the C-escaped text s. */
static void
body_text(struct cvec *v, const char *s)
{
	while (*s != '\0') {
		uint8_t c = (uint8_t)*s++;

		if (c == '\\') {
			switch (*s++) {
			case 'r':
				c = '\r';
				break;
			case 'n':
				c = '\n';
				break;
			case '\\':
				c = '\\';
				break;
			case 'x':
				assert_int_equal(hex_decode(&c, 1, s, 2), 1);
				s += 2;
				break;
			default:
				fail_msg("bad escape in %s", v->name);
			}
		}
		body_append(v, &c, 1);
	}
}

static enum outcome
outcome_of(const char *name)
{
	for (int i = 0; i <= OUT_OTHER; i++)
		if (strcmp(outcome_names[i], name) == 0)
			return (enum outcome)i;
	fail_msg("unknown outcome %s", name);
	return OUT_OTHER;
}

/* check_run(v, cuts, ncuts, how): one feeding of v; false (after printing) on a mismatch. */
static bool
check_run(struct cvec *v, const size_t *cuts, size_t ncuts, const char *how)
{
	struct seen s;
	uint8_t hash[32];
	enum outcome want = outcome_of(v->expect), got;
	bool ok = true;

	memset(&s, 0, sizeof(s));
	got = decode(&v->cfg, v->body, v->len, cuts, ncuts, &s, hash);
	/* Never more data than announced reaches the caller, whatever the outcome. */
	if (v->cfg.decoded_length >= 0 && s.len > (uint64_t)v->cfg.decoded_length) {
		print_error("%s (%s): %llu bytes passed on, %lld announced\n", v->name, how,
			    (unsigned long long)s.len, (long long)v->cfg.decoded_length);
		return false;
	}
	if (got != want) {
		print_error("%s (line %d, %s): %s, expected %s\n", v->name, v->line, how,
			    outcome_names[got], v->expect);
		return false;
	}
	if (got == OUT_OK && v->has_hash &&
	    (s.len != v->data_len || memcmp(hash, v->data_sha256, 32) != 0)) {
		print_error("%s (%s): decoded data differs (%llu bytes)\n", v->name, how,
			    (unsigned long long)s.len);
		ok = false;
	}
	if (got == OUT_OK && s.ntrailers != v->ntrailers) {
		print_error("%s (%s): %d trailers, expected %d\n", v->name, how, s.ntrailers,
			    v->ntrailers);
		ok = false;
	}
	for (int i = 0; got == OUT_OK && i < s.ntrailers && i < v->ntrailers; i++) {
		if (strcmp(s.trailer[i], v->trailer[i]) != 0) {
			print_error("%s (%s): trailer '%s', expected '%s'\n", v->name, how,
				    s.trailer[i], v->trailer[i]);
			ok = false;
		}
	}
	return ok;
}

/* run_cvec(v): whole, byte by byte, and split at every point (at 4001 points when large). */
static bool
run_cvec(struct cvec *v)
{
	size_t *cuts = malloc((v->len + 1) * sizeof(*cuts));
	size_t step = v->len <= 4000 ? 1 : v->len / 4000;
	uint64_t seed = 0x5eed;
	bool ok;

	assert_non_null(cuts);
	ok = check_run(v, NULL, 0, "whole");
	for (size_t i = 0; i < v->len; i++)
		cuts[i] = i + 1;
	ok = ok && check_run(v, cuts, v->len > 0 ? v->len - 1 : 0, "byte by byte");
	for (size_t i = 1; ok && i < v->len; i += step) {
		char how[64];

		snprintf(how, sizeof(how), "split at %zu", i);
		ok = check_run(v, &i, 1, how);
	}
	/* Random piece sizes (1..64 bytes), a fixed seed. */
	for (int round = 0; ok && round < 4; round++) {
		size_t n = 0, at = 0;

		while (at < v->len) {
			at += 1 + (size_t)(tu_rand(&seed) % 64);
			if (at < v->len)
				cuts[n++] = at;
		}
		ok = check_run(v, cuts, n, "random pieces");
	}
	free(cuts);
	return ok;
}

static void
test_vectors(void **state)
{
	char path[512], *buf, *line, *next;
	struct cvec *v = calloc(1, sizeof(*v));
	int lineno = 0, count = 0, failures = 0;
	bool in = false;
	FILE *f;
	long n;

	(void)state;
	assert_non_null(v);
	snprintf(path, sizeof(path), "%s/sigv4/chunked.txt", CS_VECTORS_DIR);
	assert_non_null(f = fopen(path, "rb"));
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	assert_non_null(buf = malloc((size_t)n + 1));
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);

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
			free(v->body);
			memset(v, 0, sizeof(*v));
			v->name = val;
			v->line = lineno;
			v->cfg.decoded_length = -1;
			in = true;
			continue;
		}
		assert_true(in);
		if (strcmp(key, "mode") == 0) {
			v->cfg.mode = strcmp(val, "signed") == 0 ? AWSCHUNKED_SIGNED
								 : AWSCHUNKED_UNSIGNED_TRAILER;
		} else if (strcmp(key, "secret") == 0) {
			v->secret = val;
		} else if (strcmp(key, "date") == 0) {
			assert_int_equal(strlen(val), SIGV4_AMZ_DATE_LEN);
			memcpy(v->amz_date, val, SIGV4_AMZ_DATE_LEN + 1);
		} else if (strcmp(key, "scope") == 0) {
			assert_true(strlen(val) <= SIGV4_MAX_SCOPE);
			strcpy(v->scope, val);
		} else if (strcmp(key, "seed") == 0) {
			tu_unhex(v->seed, sizeof(v->seed), val);
		} else if (strcmp(key, "decoded-length") == 0) {
			v->cfg.decoded_length = strtoll(val, NULL, 10);
		} else if (strcmp(key, "max-chunk") == 0) {
			v->cfg.max_chunk = (size_t)strtoull(val, NULL, 10);
		} else if (strcmp(key, "text") == 0) {
			body_text(v, val);
		} else if (strcmp(key, "fill") == 0) {
			uint8_t c;
			char *end;
			size_t k;

			assert_int_equal(hex_decode(&c, 1, val, 2), 1);
			k = (size_t)strtoull(val + 3, &end, 10);
			for (size_t i = 0; i < k; i++)
				body_append(v, &c, 1);
		} else if (strcmp(key, "expect") == 0) {
			v->expect = val;
		} else if (strcmp(key, "data-sha256") == 0) {
			tu_unhex(v->data_sha256, sizeof(v->data_sha256), val);
			v->has_hash = true;
		} else if (strcmp(key, "data-length") == 0) {
			v->data_len = strtoull(val, NULL, 10);
		} else if (strcmp(key, "trailer") == 0) {
			assert_true(v->ntrailers < MAX_TRAILERS);
			v->trailer[v->ntrailers++] = val;
		} else if (strcmp(key, "end") == 0) {
			assert_non_null(v->expect);
			if (v->cfg.mode == AWSCHUNKED_SIGNED) {
				char date[9], region[SIGV4_MAX_REGION + 1];
				const char *r = strchr(v->scope, '/'), *e;

				assert_non_null(v->secret);
				assert_non_null(r);
				assert_non_null(e = strchr(r + 1, '/'));
				memcpy(date, v->scope, 8);
				date[8] = '\0';
				assert_true((size_t)(e - r - 1) <= SIGV4_MAX_REGION);
				memcpy(region, r + 1, (size_t)(e - r - 1));
				region[e - r - 1] = '\0';
				assert_int_equal(sigv4_signing_key((const uint8_t *)v->secret,
								   strlen(v->secret), date, region,
								   "s3", v->key),
						 0);
				v->cfg.signing_key = v->key;
				v->cfg.seed_signature = v->seed;
				v->cfg.amz_date = v->amz_date;
				v->cfg.scope = v->scope;
			}
			failures += run_cvec(v) ? 0 : 1;
			count++;
			in = false;
		} else {
			fail_msg("chunked.txt:%d: unknown key %s", lineno, key);
		}
	}
	assert_false(in);
	free(v->body);
	free(v);
	free(buf);
	assert_int_equal(failures, 0);
	assert_true(count >= 30);
}

/* ---- unit tests ---------------------------------------------------------------------------- */

static const uint8_t zero32[32];

static void
test_bad_config(void **state)
{
	struct awschunked_config cfg;
	struct awschunked *d = (struct awschunked *)(uintptr_t)1;

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.mode = AWSCHUNKED_UNSIGNED_TRAILER;
	cfg.decoded_length = -1;
	assert_int_equal(awschunked_new(&cfg, NULL), CS_EINVAL);
	assert_int_equal(awschunked_new(NULL, &d), CS_EINVAL);
	assert_null(d);
	cfg.max_chunk = AWSCHUNKED_LIMIT_MAX_CHUNK + 1;
	assert_int_equal(awschunked_new(&cfg, &d), CS_EINVAL);
	cfg.max_chunk = AWSCHUNKED_LIMIT_MAX_CHUNK;
	assert_int_equal(awschunked_new(&cfg, &d), 0);
	awschunked_free(d);
	cfg.decoded_length = -2;
	assert_int_equal(awschunked_new(&cfg, &d), CS_EINVAL);
	cfg.decoded_length = -1;
	cfg.mode = (enum awschunked_mode)7;
	assert_int_equal(awschunked_new(&cfg, &d), CS_EINVAL);
	/* Signed mode needs all four of key, seed, date and scope. */
	cfg.mode = AWSCHUNKED_SIGNED;
	assert_int_equal(awschunked_new(&cfg, &d), CS_EINVAL);
	cfg.signing_key = zero32;
	cfg.seed_signature = zero32;
	cfg.amz_date = "20130524T000000";
	cfg.scope = "20130524/us-east-1/s3/aws4_request";
	assert_int_equal(awschunked_new(&cfg, &d), CS_EINVAL);
	cfg.amz_date = "20130524T000000Z";
	cfg.scope = "";
	assert_int_equal(awschunked_new(&cfg, &d), CS_EINVAL);
	cfg.scope = "20130524/us-east-1/s3/aws4_request";
	assert_int_equal(awschunked_new(&cfg, &d), 0);
	assert_false(awschunked_done(d));
	assert_string_equal(awschunked_why(d), "");
	assert_int_equal(awschunked_feed(d, NULL, 1), CS_EINVAL);
	assert_int_equal(awschunked_feed(d, NULL, 0), 0);
	assert_int_equal(awschunked_finish(d), CS_EINVAL);
	awschunked_free(d);
	awschunked_free(NULL);
	assert_int_equal(awschunked_finish(NULL), CS_EINVAL);
	assert_false(awschunked_done(NULL));
	assert_int_equal(awschunked_decoded(NULL), 0);
}

/* A callback's error stops the decoder with that error. */
static void
test_callback_errors(void **state)
{
	static const char body[] = "3\r\nabc\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n";
	const struct awschunked_config cfg = {
		AWSCHUNKED_UNSIGNED_TRAILER, 0, -1, NULL, NULL, NULL, NULL, NULL, NULL, NULL};
	struct seen s;
	uint8_t hash[32];
	size_t cut = 5;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.fail_data = CS_EIO;
	assert_int_equal(decode(&cfg, (const uint8_t *)body, sizeof(body) - 1, &cut, 1, &s, hash),
			 OUT_OTHER);
	s.fail_data = 0;
	s.fail_trailer = CS_EPERM;
	assert_int_equal(decode(&cfg, (const uint8_t *)body, sizeof(body) - 1, NULL, 0, &s, hash),
			 OUT_OTHER);
	s.fail_trailer = 0;
	assert_int_equal(decode(&cfg, (const uint8_t *)body, sizeof(body) - 1, NULL, 0, &s, hash),
			 OUT_OK);
	assert_int_equal(s.ntrailers, 1);
	/* A positive return is an error too. */
	s.fail_data = 1;
	assert_int_equal(decode(&cfg, (const uint8_t *)body, sizeof(body) - 1, NULL, 0, &s, hash),
			 OUT_FRAMING);
}

/*
 * encode_signed(...): frame data as a signed aws-chunked body with chunk
 * sizes taken in turn from sizes[]; returns the body length.
 */
static size_t
encode_signed(const uint8_t key[32], const char *date, const char *scope, const uint8_t seed[32],
	      const uint8_t *data, size_t len, const size_t *sizes, size_t nsizes, uint8_t *out,
	      size_t outsz)
{
	uint8_t prev[32], h[32];
	size_t o = 0, at = 0, k = 0;
	bool last = false;

	memcpy(prev, seed, 32);
	while (!last) {
		size_t n = len - at < sizes[k % nsizes] ? len - at : sizes[k % nsizes];
		char sighex[65];
		int w;

		k++;
		last = n == 0;
		assert_int_equal(EVP_Digest(data + at, n, h, NULL, EVP_sha256(), NULL), 1);
		assert_int_equal(
			sigv4_chunk_signature(key, date, scope, strlen(scope), prev, h, prev), 0);
		hex_encode(sighex, prev, 32);
		w = snprintf((char *)out + o, outsz - o, "%zx;chunk-signature=%s\r\n", n, sighex);
		assert_true(w > 0 && (size_t)w < outsz - o);
		o += (size_t)w;
		assert_true(n + 2 <= outsz - o);
		memcpy(out + o, data + at, n);
		o += n;
		memcpy(out + o, "\r\n", 2);
		o += 2;
		at += n;
	}
	return o;
}

/*
 * Every single-bit change (XOR 1) anywhere in a signed body is detected:
 * in data by a signature, in framing by the parser.  XOR 1 never just
 * changes the case of a hex digit, which would be harmless.
 */
static void
test_signed_any_change_detected(void **state)
{
	static const char date[] = "20240506T070809Z", scope[] = "20240506/any/s3/aws4_request";
	const size_t sizes[] = {7, 1, 16};
	uint8_t key[32], seed[32], data[40], body[1024], cut[1024];
	struct awschunked_config cfg = {
		AWSCHUNKED_SIGNED, 0, 40, key, seed, date, scope, NULL, NULL, NULL};
	uint64_t rnd = 42;
	struct seen s;
	uint8_t hash[32];
	size_t len;

	(void)state;
	tu_fill(&rnd, key, sizeof(key));
	tu_fill(&rnd, seed, sizeof(seed));
	tu_fill(&rnd, data, sizeof(data));
	len = encode_signed(key, date, scope, seed, data, sizeof(data), sizes, 3, body,
			    sizeof(body));
	memset(&s, 0, sizeof(s));
	assert_int_equal(decode(&cfg, body, len, NULL, 0, &s, hash), OUT_OK);
	for (size_t i = 0; i < len; i++) {
		enum outcome o;

		body[i] ^= 1;
		o = decode(&cfg, body, len, NULL, 0, &s, hash);
		if (o == OUT_OK)
			fail_msg("a change at byte %zu (%02x) was not detected", i, body[i]);
		body[i] ^= 1;
	}
	/* Dropping any one byte is detected too. */
	for (size_t i = 0; i < len; i++) {
		memcpy(cut, body, i);
		memcpy(cut + i, body + i + 1, len - i - 1);
		if (decode(&cfg, cut, len - 1, NULL, 0, &s, hash) == OUT_OK)
			fail_msg("dropping byte %zu was not detected", i);
	}
	/* Another key or seed fails at the first chunk. */
	key[0] ^= 1;
	assert_int_equal(decode(&cfg, body, len, NULL, 0, &s, hash), OUT_SIGNATURE);
	assert_int_equal(s.len, 7);
}

/* A large stream with random chunk and piece sizes decodes to exactly its data. */
static void
test_signed_random_stream(void **state)
{
	static const char date[] = "20240506T070809Z",
			  scope[] = "20240506/us-east-1/s3/aws4_request";
	const size_t sizes[] = {65536, 1, 8192, 777, 100000, 3};
	const size_t len = 600000;
	uint8_t key[32], seed[32];
	uint8_t *data = malloc(len), *body = malloc(len + 16384), *copy = malloc(len), hash[32];
	struct awschunked_config cfg = {
		AWSCHUNKED_SIGNED, 100000, (int64_t)len, key, seed, date, scope, NULL, NULL, NULL};
	uint64_t rnd = 7;
	size_t blen, cuts[4096], ncuts = 0, at = 0;
	struct seen s;

	(void)state;
	assert_non_null(data);
	assert_non_null(body);
	assert_non_null(copy);
	tu_fill(&rnd, key, sizeof(key));
	tu_fill(&rnd, seed, sizeof(seed));
	tu_fill(&rnd, data, len);
	blen = encode_signed(key, date, scope, seed, data, len, sizes, 6, body, len + 16384);
	while (ncuts < 4096) {
		at += 1 + (size_t)(tu_rand(&rnd) % 1000);
		if (at >= blen)
			break;
		cuts[ncuts++] = at;
	}
	memset(&s, 0, sizeof(s));
	s.copy = copy;
	s.copysz = len;
	assert_int_equal(decode(&cfg, body, blen, cuts, ncuts, &s, hash), OUT_OK);
	assert_int_equal(s.len, len);
	assert_memory_equal(copy, data, len);
	/* One chunk over the configured maximum. */
	cfg.max_chunk = 99999;
	s.copy = NULL;
	assert_int_equal(decode(&cfg, body, blen, cuts, ncuts, &s, hash), OUT_RANGE);
	free(data);
	free(body);
	free(copy);
}

/* The seed request of the AWS example, verified by sigv4, hands over to the decoder. */
static int
doc_lookup(void *arg, const char *akid, uint8_t *secret, size_t size, size_t *len)
{
	static const char doc_secret[] = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

	(void)arg;
	if (strcmp(akid, "AKIAIOSFODNN7EXAMPLE") != 0)
		return CS_ENOENT;
	assert_true(size >= sizeof(doc_secret) - 1);
	memcpy(secret, doc_secret, sizeof(doc_secret) - 1);
	*len = sizeof(doc_secret) - 1;
	return 0;
}

static void
test_sigv4_hand_over(void **state)
{
	static const char authz[] =
		"AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/"
		"aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-"
		"sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature="
		"4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
	static const char *const sigs[] = {
		"ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
		"0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
		"b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
	};
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
	const struct sigv4_request req = {"PUT", 3,         "/examplebucket/chunkObject.txt", 30, h,
					  8,     1369353600};
	const struct sigv4_config scfg = {"us-east-1", 0, doc_lookup, NULL};
	const size_t sizes[] = {65536, 1024, 0};
	uint8_t *body = malloc(66824), hash[32], want[32];
	struct awschunked_config cfg;
	struct awschunked *d;
	struct sigv4_auth auth;
	struct seen s;
	size_t len = 0;

	(void)state;
	assert_non_null(body);
	for (int i = 0; i < 3; i++) {
		len += (size_t)sprintf((char *)body + len, "%zx;chunk-signature=%s\r\n", sizes[i],
				       sigs[i]);
		memset(body + len, 'a', sizes[i]);
		len += sizes[i];
		memcpy(body + len, "\r\n", 2);
		len += 2;
	}
	assert_int_equal(len, 66824); /* the Content-Length the example signs */
	assert_int_equal(sigv4_verify(&scfg, &req, &auth), SIGV4_OK);
	assert_int_equal(auth.payload, SIGV4_PAYLOAD_STREAMING_SIGNED);
	memset(&cfg, 0, sizeof(cfg));
	cfg.mode = AWSCHUNKED_SIGNED;
	cfg.decoded_length = auth.decoded_length;
	cfg.signing_key = auth.signing_key;
	cfg.seed_signature = auth.seed_signature;
	cfg.amz_date = auth.amz_date;
	cfg.scope = auth.scope;
	cfg.on_data = on_data;
	cfg.arg = &s;
	memset(&s, 0, sizeof(s));
	assert_non_null(s.md = EVP_MD_CTX_new());
	assert_int_equal(EVP_DigestInit_ex(s.md, EVP_sha256(), NULL), 1);
	assert_int_equal(awschunked_new(&cfg, &d), 0);
	/* The decoder keeps its own copies: the auth can go right away. */
	sigv4_auth_clear(&auth);
	assert_int_equal(awschunked_feed(d, body, len), 0);
	assert_int_equal(awschunked_finish(d), 0);
	assert_int_equal(s.len, 66560);
	assert_int_equal(EVP_DigestFinal_ex(s.md, hash, NULL), 1);
	memset(body, 'a', 66560);
	assert_int_equal(EVP_Digest(body, 66560, want, NULL, EVP_sha256(), NULL), 1);
	assert_memory_equal(hash, want, 32);
	EVP_MD_CTX_free(s.md);
	awschunked_free(d);
	free(body);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vectors),
		cmocka_unit_test(test_bad_config),
		cmocka_unit_test(test_callback_errors),
		cmocka_unit_test(test_signed_any_change_detected),
		cmocka_unit_test(test_signed_random_stream),
		cmocka_unit_test(test_sigv4_hand_over),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
