/*
 * Unit tests for crypto/engine, crypto/suite and crypto/selftest: the
 * known-answer vectors through every engine, and the engines' checks.
 */
#include "testutil.h"
#include "crypto/engine.h"
#include "crypto/selftest.h"
#include "crypto/suite.h"
#include "util/err.h"
#include "util/secmem.h"

static const enum engine_kind kinds[] = {ENGINE_EVP, ENGINE_IPSECMB};
static const enum suite_id suites[] = {SUITE_CBC_HMAC_SHA256, SUITE_AES_256_GCM};

static void
test_kat_evp(void **state)
{
	char why[256] = "";

	(void)state;
	if (selftest_engine(ENGINE_EVP, why, sizeof(why)) != 0)
		fail_msg("%s", why);
}

static void
test_kat_ipsecmb(void **state)
{
	char why[256] = "";

	(void)state;
	/* This project's machines all have AES-NI: the fast engine must be
	 * there, so a missing one is a failure, not a skip. */
	assert_true(engine_ipsecmb_usable());
	if (selftest_engine(ENGINE_IPSECMB, why, sizeof(why)) != 0)
		fail_msg("%s", why);
}

static void
test_selftest_run(void **state)
{
	char why[256] = "";

	(void)state;
	if (selftest_run(why, sizeof(why)) != 0)
		fail_msg("%s", why);
}

static void
test_suite_table(void **state)
{
	(void)state;
	assert_ptr_equal(suite_default(), suite_by_id(SUITE_CBC_HMAC_SHA256));
	assert_ptr_equal(suite_by_name("aes-256-gcm"), suite_by_id(SUITE_AES_256_GCM));
	assert_null(suite_by_name("aes-128-cbc"));
	assert_null(suite_by_name(NULL));
	assert_null(suite_by_id(0));
	assert_null(suite_by_id(3));
	/* CBC final records are padded by 1..16 bytes; GCM is not padded. */
	assert_int_equal(suite_sealed_len(suite_default(), 0, true), 16 + 16 + 32);
	assert_int_equal(suite_sealed_len(suite_default(), 16, true), 16 + 32 + 32);
	assert_int_equal(suite_sealed_len(suite_default(), 16, false), 16 + 16 + 32);
	assert_int_equal(suite_sealed_len(suite_by_id(SUITE_AES_256_GCM), 5, true), 12 + 5 + 16);
}

static void
test_engine_kind_parse(void **state)
{
	enum engine_kind k;
	struct engine *e;

	(void)state;
	assert_int_equal(engine_kind_parse("evp", &k), 0);
	assert_int_equal(k, ENGINE_EVP);
	assert_int_equal(engine_kind_parse("ipsec-mb", &k), 0);
	assert_int_equal(k, ENGINE_IPSECMB);
	assert_int_equal(engine_kind_parse("auto", &k), 0);
	assert_int_equal(k, ENGINE_AUTO);
	assert_int_equal(engine_kind_parse("fast", &k), CS_EINVAL);
	assert_int_equal(engine_new(&e, ENGINE_AUTO), 0);
	assert_string_equal(engine_name(e), "ipsec-mb");
	engine_free(e);
	assert_int_equal(engine_new(&e, (enum engine_kind)9), CS_EINVAL);
	engine_free(NULL);
}

/* One record of n plaintext bytes sealed with (kind, suite); returns the key. */
static struct engine_key *
seal_one(struct engine *e, enum suite_id sid, uint8_t *buf, struct engine_rec *r, size_t n,
	 bool final, uint64_t *s)
{
	uint8_t enc[32], mac[32];
	struct engine_key *k;
	const struct suite_info *su = suite_by_id(sid);

	tu_fill(s, enc, 32);
	tu_fill(s, mac, 32);
	assert_int_equal(engine_key_new(&k, su, enc, mac), 0);
	memset(r, 0, sizeof(*r));
	r->buf = buf;
	r->aad_len = 32;
	r->len = n;
	r->key = k;
	r->final = final;
	tu_fill(s, buf, 32 + su->iv_len + n);
	assert_int_equal(engine_seal(e, r, 1), 0);
	return k;
}

static void
test_tamper_every_region(void **state)
{
	uint8_t *buf = malloc(4096), *orig = malloc(4096), *plain = malloc(4096);
	uint64_t s = 99;

	(void)state;
	for (size_t ki = 0; ki < 2; ki++) {
		for (size_t si = 0; si < 2; si++) {
			struct engine *e;
			struct engine_rec r;
			struct engine_key *k;
			const struct suite_info *su = suite_by_id(suites[si]);
			size_t total, ctlen;

			assert_int_equal(engine_new(&e, kinds[ki]), 0);
			k = seal_one(e, suites[si], buf, &r, 1000, true, &s);
			ctlen = r.len;
			total = 32 + su->iv_len + ctlen + su->tag_len;
			memcpy(orig, buf, total);
			/* The untouched record opens and yields 1000 bytes. */
			assert_int_equal(engine_open(e, &r, 1), 0);
			assert_int_equal(r.len, 1000);
			memcpy(plain, buf + 32 + su->iv_len, 1000);
			/* Flip one bit in each byte position of AAD, IV, body and tag. */
			for (size_t pos = 0; pos < total; pos += (pos < 64 ? 1 : 97)) {
				memcpy(buf, orig, total);
				buf[pos] ^= (uint8_t)(1u << (pos % 8));
				r.len = ctlen;
				r.final = true;
				assert_int_equal(engine_open(e, &r, 1), CS_EAUTH);
				assert_int_equal(r.status, CS_EAUTH);
				/* No plaintext may remain in the buffer. */
				assert_memory_not_equal(buf + 32 + su->iv_len, plain, 64);
			}
			/* The wrong final flag is a different record too (CBC: padding). */
			memcpy(buf, orig, total);
			r.len = ctlen;
			r.final = true;
			assert_int_equal(engine_open(e, &r, 1), 0);
			engine_key_free(k);
			engine_free(e);
		}
	}
	free(buf);
	free(orig);
	free(plain);
}

static void
test_length_rules(void **state)
{
	uint8_t *buf = calloc(1, 70000);
	uint8_t key[32] = {0};
	struct engine_key *k;
	struct engine_rec r;

	(void)state;
	assert_int_equal(engine_key_new(&k, suite_default(), key, key), 0);
	for (size_t ki = 0; ki < 2; ki++) {
		struct engine *e;

		assert_int_equal(engine_new(&e, kinds[ki]), 0);
		memset(&r, 0, sizeof(r));
		r.buf = buf;
		r.key = k;
		r.len = 100; /* a non-final CBC record must be whole blocks */
		assert_int_equal(engine_seal(e, &r, 1), CS_EINVAL);
		r.len = 0;
		assert_int_equal(engine_seal(e, &r, 1), CS_EINVAL);
		r.len = ENGINE_MAX_TEXT + 16;
		assert_int_equal(engine_seal(e, &r, 1), CS_EINVAL);
		r.len = ENGINE_MAX_TEXT; /* the largest record: 16 + 65424 hashed bytes */
		r.final = true;
		assert_int_equal(engine_seal(e, &r, 1), 0);
		assert_int_equal(r.len, ENGINE_MAX_TEXT + 16);
		assert_int_equal(engine_open(e, &r, 1), 0);
		assert_int_equal(r.len, ENGINE_MAX_TEXT);
		r.len = 33; /* CBC ciphertext is whole blocks */
		assert_int_equal(engine_open(e, &r, 1), CS_EAUTH);
		r.aad_len = ENGINE_MAX_AAD + 1;
		r.len = 32;
		assert_int_equal(engine_seal(e, &r, 1), CS_EINVAL);
		r.key = NULL;
		r.aad_len = 0;
		assert_int_equal(engine_seal(e, &r, 1), CS_EINVAL);
		engine_free(e);
	}
	engine_key_free(k);
	free(buf);
}

static void
test_random_ivs_differ(void **state)
{
	uint8_t a[256], b[256], key[32] = {3};
	struct engine_key *k;
	struct engine_rec r;
	struct engine *e;

	(void)state;
	assert_int_equal(engine_new(&e, ENGINE_AUTO), 0);
	for (size_t si = 0; si < 2; si++) {
		const struct suite_info *su = suite_by_id(suites[si]);

		assert_int_equal(engine_key_new(&k, su, key, key), 0);
		memset(a, 0, sizeof(a));
		memset(b, 0, sizeof(b));
		memset(&r, 0, sizeof(r));
		r.buf = a;
		r.key = k;
		r.len = 64;
		assert_int_equal(engine_seal(e, &r, 1), 0);
		r.buf = b;
		r.len = 64;
		assert_int_equal(engine_seal(e, &r, 1), 0);
		/* Same key and plaintext, fresh IVs: different IVs and ciphertexts. */
		assert_memory_not_equal(a, b, su->iv_len);
		assert_memory_not_equal(a + su->iv_len, b + su->iv_len, 64);
		engine_key_free(k);
	}
	engine_free(e);
}

static void
test_keys_live_in_secure_memory(void **state)
{
	uint8_t key[32] = {5};
	struct engine_key *k;

	(void)state;
	assert_int_equal(engine_key_new(&k, suite_default(), key, key), 0);
	assert_true(secmem_is_secure(k));
	assert_int_equal((uintptr_t)k % 64, 0);
	engine_key_free(k);
	assert_int_equal(engine_key_new(&k, suite_default(), key, NULL), CS_EINVAL);
	assert_null(k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kat_evp),
		cmocka_unit_test(test_kat_ipsecmb),
		cmocka_unit_test(test_selftest_run),
		cmocka_unit_test(test_suite_table),
		cmocka_unit_test(test_engine_kind_parse),
		cmocka_unit_test(test_tamper_every_region),
		cmocka_unit_test(test_length_rules),
		cmocka_unit_test(test_random_ivs_differ),
		cmocka_unit_test(test_keys_live_in_secure_memory),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
