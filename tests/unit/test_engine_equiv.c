/*
 * The two engines must be interchangeable: for random keys, IVs, AADs and
 * sizes, in batches that mix keys and suites, EVP and ipsec-mb produce
 * byte-identical records, and each opens what the other sealed.
 */
#include "testutil.h"
#include "crypto/engine.h"
#include "util/err.h"

#define BATCH_MAX 40
#define REC_SZ    (ENGINE_MAX_AAD + 16 + ENGINE_MAX_TEXT + 16 + 32)

struct batch {
	struct engine_rec recs[BATCH_MAX];
	struct engine_key *keys[BATCH_MAX];
	uint8_t *bufs[BATCH_MAX];
	size_t n;
};

/* A random length: small, block-aligned, odd, or near the maximum. */
static size_t
rand_len(uint64_t *s, bool final)
{
	size_t n;

	switch (tu_rand(s) % 4) {
	case 0:
		n = tu_rand(s) % 64;
		break;
	case 1:
		n = (tu_rand(s) % 2048) * 16;
		break;
	case 2:
		n = ENGINE_MAX_TEXT - (tu_rand(s) % 4) * 16;
		break;
	default:
		n = tu_rand(s) % ENGINE_MAX_TEXT;
		break;
	}
	if (!final) {
		n = n / 16 * 16;
		if (n == 0)
			n = 16;
	}
	return n;
}

static void
make_batch(struct batch *a, struct batch *b, uint64_t *s)
{
	a->n = b->n = 1 + tu_rand(s) % BATCH_MAX;
	for (size_t i = 0; i < a->n; i++) {
		const struct suite_info *su =
			suite_by_id(tu_rand(s) % 2 ? SUITE_CBC_HMAC_SHA256 : SUITE_AES_256_GCM);
		uint8_t enc[32], mac[32];
		struct engine_rec *r = &a->recs[i];
		bool final = tu_rand(s) % 2;
		size_t aad = tu_rand(s) % 3 == 0 ? tu_rand(s) % (ENGINE_MAX_AAD + 1) : 32;
		size_t len = rand_len(s, final || !su->padded);

		/* Reuse the previous key sometimes: batches mix shared and distinct keys. */
		if (i > 0 && tu_rand(s) % 3 == 0 && a->recs[i - 1].key->suite == su) {
			a->keys[i] = NULL;
			r->key = a->recs[i - 1].key;
		} else {
			tu_fill(s, enc, 32);
			tu_fill(s, mac, 32);
			assert_int_equal(engine_key_new(&a->keys[i], su, enc, mac), 0);
			r->key = a->keys[i];
		}
		b->keys[i] = NULL;
		memset(r, 0, offsetof(struct engine_rec, key));
		r->buf = a->bufs[i];
		r->aad_len = aad;
		r->len = len;
		r->final = final;
		r->iv_given = true;
		tu_fill(s, r->buf, aad + su->iv_len + len);
		b->recs[i] = *r;
		b->recs[i].buf = b->bufs[i];
		memcpy(b->bufs[i], a->bufs[i], aad + su->iv_len + len);
	}
}

static size_t
rec_bytes(const struct engine_rec *r)
{
	return r->aad_len + r->key->suite->iv_len + r->len + r->key->suite->tag_len;
}

static void
test_evp_and_ipsecmb_identical(void **state)
{
	struct batch a, b;
	struct engine *evp, *mb;
	uint64_t s = 0x5eed;
	size_t records = 0;

	(void)state;
	assert_int_equal(engine_new(&evp, ENGINE_EVP), 0);
	assert_int_equal(engine_new(&mb, ENGINE_IPSECMB), 0);
	for (size_t i = 0; i < BATCH_MAX; i++) {
		a.bufs[i] = malloc(REC_SZ);
		b.bufs[i] = malloc(REC_SZ);
	}
	for (int round = 0; round < 60; round++) {
		make_batch(&a, &b, &s);
		assert_int_equal(engine_seal(evp, a.recs, a.n), 0);
		assert_int_equal(engine_seal(mb, b.recs, b.n), 0);
		for (size_t i = 0; i < a.n; i++) {
			assert_int_equal(a.recs[i].len, b.recs[i].len);
			assert_memory_equal(a.bufs[i], b.bufs[i], rec_bytes(&a.recs[i]));
		}
		/* Cross-open: EVP opens ipsec-mb's records and vice versa. */
		assert_int_equal(engine_open(evp, b.recs, b.n), 0);
		assert_int_equal(engine_open(mb, a.recs, a.n), 0);
		for (size_t i = 0; i < a.n; i++) {
			assert_int_equal(a.recs[i].len, b.recs[i].len);
			assert_memory_equal(a.bufs[i], b.bufs[i],
					    a.recs[i].aad_len + a.recs[i].key->suite->iv_len +
						    a.recs[i].len);
		}
		records += a.n;
		for (size_t i = 0; i < a.n; i++)
			engine_key_free(a.keys[i]);
	}
	print_message("compared %zu records\n", records);
	for (size_t i = 0; i < BATCH_MAX; i++) {
		free(a.bufs[i]);
		free(b.bufs[i]);
	}
	engine_free(evp);
	engine_free(mb);
}

static void
test_batch_with_one_forgery(void **state)
{
	struct batch a, b;
	struct engine *e[2];
	uint64_t s = 0xbad;

	(void)state;
	assert_int_equal(engine_new(&e[0], ENGINE_EVP), 0);
	assert_int_equal(engine_new(&e[1], ENGINE_IPSECMB), 0);
	for (size_t i = 0; i < BATCH_MAX; i++) {
		a.bufs[i] = malloc(REC_SZ);
		b.bufs[i] = malloc(REC_SZ);
	}
	for (int k = 0; k < 2; k++) {
		size_t bad;

		do
			make_batch(&a, &b, &s);
		while (a.n < 3);
		assert_int_equal(engine_seal(e[k], a.recs, a.n), 0);
		bad = a.n / 2;
		a.bufs[bad][a.recs[bad].aad_len + 3] ^= 4; /* in the IV */
		assert_int_equal(engine_open(e[k], a.recs, a.n), CS_EAUTH);
		/* Exactly the forged record fails; its neighbours open. */
		for (size_t i = 0; i < a.n; i++)
			assert_int_equal(a.recs[i].status, i == bad ? CS_EAUTH : 0);
		for (size_t i = 0; i < a.n; i++)
			engine_key_free(a.keys[i]);
	}
	for (size_t i = 0; i < BATCH_MAX; i++) {
		free(a.bufs[i]);
		free(b.bufs[i]);
	}
	engine_free(e[0]);
	engine_free(e[1]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_evp_and_ipsecmb_identical),
		cmocka_unit_test(test_batch_with_one_forgery),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
