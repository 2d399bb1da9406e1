/*
 * fuzz_awschunked: the aws-chunked body decoder (lib/s3/awschunked).
 *
 * Input: [flags u8][max_chunk u8][decoded_length u32][split seed u16][body].
 * flags: bit 0 the mode (0 STREAMING-AWS4-HMAC-SHA256-PAYLOAD, 1
 * STREAMING-UNSIGNED-PAYLOAD-TRAILER); bits 1-2 which signing context (key,
 * date, scope, seed signature) of the test vectors in
 * tests/vectors/sigv4/chunked.txt the signed mode uses; bit 3 whether
 * decoded_length is given; bit 4 the data callback fails once 64 bytes have
 * come; bit 5 the trailer callback fails on the second trailer; bits 6-7 how
 * many cut points the split seed draws.  max_chunk 0 is the default limit,
 * anything else that many bytes.
 *
 * The body is decoded three times: in one piece, cut at the drawn points, and
 * one byte at a time.  awschunked.h promises that any split is fine, so the
 * three must agree on everything: the first error and its code, that later
 * feeds and finish() repeat it, the decoded bytes (hashed), the trailers, the
 * total.  Also checked: trailer names come lowercased and values trimmed, a
 * successful finish means done and the announced length, and the signing key
 * (secure memory) is released.
 */
#include "fuzz.h"
#include "s3/awschunked.h"
#include "s3/sigv4.h"
#include "util/err.h"
#include "util/hex.h"

#include <stdlib.h>
#include <string.h>

#define MAX_CUTS     3
#define BYTEWISE_MAX 16384
#define DATA_FAIL_AT 64

struct ctx_def {
	const char *secret, *date, *scope, *seed;
};

/* The signing contexts of chunked.txt (and a zero seed, as in signed-wrong-seed). */
static const struct ctx_def ctx_defs[4] = {
	{"cs/Secret+Key=0001abcdefghijklmnopqrstuv", "20240506T070809Z",
	 "20240506/us-east-1/s3/aws4_request",
	 "9eaa7456ea768c3df60348e773ea94c6fe7ed32d19a469ec066f5aa01e6787d6"},
	{"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "20130524T000000Z",
	 "20130524/us-east-1/s3/aws4_request",
	 "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"},
	{"cs/Secret+Key=0001abcdefghijklmnopqrstuv", "20240506T070809Z",
	 "20240506/us-east-1/s3/aws4_request",
	 "0000000000000000000000000000000000000000000000000000000000000000"},
	{"cs/Secret+Key=0001abcdefghijklmnopqrstuv", "20240506T070809Z",
	 "20240506/eu-central-1/s3/aws4_request",
	 "9eaa7456ea768c3df60348e773ea94c6fe7ed32d19a469ec066f5aa01e6787d6"},
};

static struct {
	uint8_t key[32], seed[32];
} ctxs[4];

struct out {
	int first_err;  /* the first error a feed returned, or 0 */
	int finish;     /* awschunked_finish() */
	uint64_t total; /* awschunked_decoded() */
	uint64_t data_hash, trailer_hash;
	uint64_t seen;      /* data bytes the callback saw */
	unsigned ntrailers; /* trailers the callback saw */
	bool fail_data, fail_trailer;
	bool done;
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

static int
on_data(void *arg, const uint8_t *data, size_t len)
{
	struct out *o = arg;

	FUZZ_CHECK(data != NULL && len > 0);
	if (o->fail_data && o->seen + len >= DATA_FAIL_AT)
		return CS_EIO;
	fnv(&o->data_hash, data, len);
	o->seen += len;
	return 0;
}

static bool
tchar_lower(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int
on_trailer(void *arg, const char *name, size_t name_len, const char *value, size_t value_len)
{
	struct out *o = arg;

	FUZZ_CHECK(name_len > 0 && name_len < AWSCHUNKED_MAX_TRAILER_LINE);
	for (size_t i = 0; i < name_len; i++)
		FUZZ_CHECK(tchar_lower((unsigned char)name[i]));
	if (value_len > 0)
		FUZZ_CHECK(value[0] != ' ' && value[0] != '\t' && value[value_len - 1] != ' ' &&
			   value[value_len - 1] != '\t');
	for (size_t i = 0; i < value_len; i++)
		FUZZ_CHECK(value[i] != '\r' && value[i] != '\n' && value[i] != '\0');
	if (o->fail_trailer && o->ntrailers == 1)
		return CS_EINVAL;
	o->ntrailers++;
	fnv(&o->trailer_hash, name, name_len);
	fnv(&o->trailer_hash, ":", 1);
	fnv(&o->trailer_hash, value, value_len);
	return 0;
}

/* decode: body in pieces cut at cuts[0..ncuts) (ascending), or bytewise when cuts is NULL. */
static void
decode(const struct awschunked_config *base, const uint8_t *body, size_t n, const size_t *cuts,
       size_t ncuts, struct out *o, bool fail_data, bool fail_trailer)
{
	struct awschunked_config cfg = *base;
	struct awschunked *d = NULL;
	size_t start = 0, piece = 0;

	memset(o, 0, sizeof(*o));
	o->data_hash = o->trailer_hash = 0xcbf29ce484222325u;
	o->fail_data = fail_data;
	o->fail_trailer = fail_trailer;
	cfg.on_data = on_data;
	cfg.on_trailer = on_trailer;
	cfg.arg = o;
	FUZZ_CHECK(awschunked_new(&cfg, &d) == 0);
	while (start < n) {
		size_t end = cuts == NULL ? start + 1 : piece < ncuts ? cuts[piece] : n;
		int rc = awschunked_feed(d, body + start, end - start);

		piece++;
		start = end;
		FUZZ_CHECK(rc <= 0);
		if (o->first_err != 0) {
			/* After the first error the decoder is dead and says so. */
			FUZZ_CHECK(rc == o->first_err);
		} else if (rc != 0) {
			o->first_err = rc;
			FUZZ_CHECK(awschunked_why(d)[0] != '\0');
			if (cuts == NULL)
				break; /* bytewise: the rest would only repeat it */
		}
	}
	FUZZ_CHECK(awschunked_feed(d, body, 0) == o->first_err);
	o->done = awschunked_done(d);
	o->finish = awschunked_finish(d);
	o->total = awschunked_decoded(d);
	FUZZ_CHECK(o->finish <= 0);
	if (o->first_err != 0)
		FUZZ_CHECK(o->finish == o->first_err && !o->done);
	if (o->finish == 0) {
		FUZZ_CHECK(o->done && o->first_err == 0 && awschunked_why(d)[0] == '\0');
		if (base->decoded_length >= 0)
			FUZZ_CHECK(o->total == (uint64_t)base->decoded_length);
	} else {
		FUZZ_CHECK(awschunked_why(d)[0] != '\0');
	}
	if (!fail_data)
		FUZZ_CHECK(o->seen == o->total);
	awschunked_free(d);
}

static void
same(const struct out *a, const struct out *b, bool fail_data)
{
	FUZZ_CHECK(a->first_err == b->first_err);
	FUZZ_CHECK(a->finish == b->finish);
	FUZZ_CHECK(a->done == b->done);
	FUZZ_CHECK(a->trailer_hash == b->trailer_hash && a->ntrailers == b->ntrailers);
	if (!fail_data)
		FUZZ_CHECK(a->total == b->total && a->data_hash == b->data_hash);
}

static int
cmp_size(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;

	return x < y ? -1 : x > y;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	for (size_t i = 0; i < 4; i++) {
		const struct ctx_def *c = &ctx_defs[i];
		char date[9], region[32];
		const char *r = strchr(c->scope, '/') + 1;

		memcpy(date, c->date, 8);
		date[8] = '\0';
		memcpy(region, r, (size_t)(strchr(r, '/') - r));
		region[strchr(r, '/') - r] = '\0';
		if (sigv4_signing_key((const uint8_t *)c->secret, strlen(c->secret), date, region,
				      "s3", ctxs[i].key) != 0 ||
		    hex_decode(ctxs[i].seed, 32, c->seed, 64) != 32)
			abort();
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t flags = fuzz_take_u8(&in), maxc = fuzz_take_u8(&in);
	uint32_t dlen = fuzz_take_u32(&in);
	uint64_t seed = fuzz_take_u16(&in);
	unsigned k = (flags >> 1) & 3;
	struct awschunked_config cfg;
	struct out whole, split, bytewise;
	size_t cuts[MAX_CUTS], ncuts = 0, n;
	const uint8_t *body = fuzz_take(&in, in.n, &n);
	bool fail_data = flags & 0x10, fail_trailer = flags & 0x20;

	memset(&cfg, 0, sizeof(cfg));
	cfg.mode = flags & 1 ? AWSCHUNKED_UNSIGNED_TRAILER : AWSCHUNKED_SIGNED;
	cfg.max_chunk = maxc;
	cfg.decoded_length = flags & 8 ? (int64_t)dlen : -1;
	cfg.signing_key = ctxs[k].key;
	cfg.seed_signature = ctxs[k].seed;
	cfg.amz_date = ctx_defs[k].date;
	cfg.scope = ctx_defs[k].scope;
	for (unsigned i = 0; i < (unsigned)(flags >> 6) && n > 1; i++)
		cuts[ncuts++] = 1 + (size_t)(fuzz_splitmix(&seed) % (n - 1));
	qsort(cuts, ncuts, sizeof(cuts[0]), cmp_size);

	fuzz_secmem_mark();
	decode(&cfg, body, n, cuts, 0, &whole, fail_data, fail_trailer);
	decode(&cfg, body, n, cuts, ncuts, &split, fail_data, fail_trailer);
	same(&whole, &split, fail_data);
	if (n <= BYTEWISE_MAX) {
		decode(&cfg, body, n, NULL, 0, &bytewise, fail_data, fail_trailer);
		same(&whole, &bytewise, fail_data);
	}
	fuzz_secmem_check();
	return 0;
}
