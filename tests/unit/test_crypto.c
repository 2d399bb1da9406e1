/*
 * Unit tests for crypto/engine, crypto/suite and crypto/selftest: the
 * known-answer vectors through every engine, and the engines' checks.
 */
#include "testutil.h"
#include "crypto/cbc_vaes.h"
#include "crypto/engine.h"
#include "crypto/selftest.h"
#include "crypto/sha256_ni.h"
#include "crypto/suite.h"
#include "util/err.h"
#include "util/secmem.h"

#include <cpuid.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

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

/*
 * An engine whose IV pool a fork() copied: parent and child draw their next
 * IV after the fork; they must differ (the pool is refilled on each side,
 * not handed out twice).
 */
static void
test_ivs_differ_across_fork(void **state)
{
	uint8_t buf[256], key[32] = {5}, parent_iv[16], child_iv[16];
	struct engine_key *k;
	struct engine_rec r;
	struct engine *e;
	int fds[2], status;
	pid_t pid;

	(void)state;
	assert_int_equal(engine_new(&e, ENGINE_AUTO), 0);
	assert_int_equal(engine_key_new(&k, suite_by_id(SUITE_CBC_HMAC_SHA256), key, key), 0);
	memset(&r, 0, sizeof(r));
	r.buf = buf;
	r.key = k;
	r.len = 64;
	assert_int_equal(engine_seal(e, &r, 1), 0); /* fills the pool */
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	r.len = 64;
	if (pid == 0) {
		bool ok = engine_seal(e, &r, 1) == 0 && write(fds[1], buf, 16) == 16;

		_exit(ok ? 0 : 1);
	}
	assert_int_equal(engine_seal(e, &r, 1), 0);
	memcpy(parent_iv, buf, 16);
	assert_int_equal(read(fds[0], child_iv, 16), 16);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_memory_not_equal(parent_iv, child_iv, 16);
	close(fds[0]);
	close(fds[1]);
	engine_key_free(k);
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

/* cpu_has(ecx1, ebx7, ecx7): CPUID leaf 1 ECX and leaf 7 EBX/ECX have
 * these bits.  Where the CPU has what sha256_ni or cbc_vaes needs, their
 * self-checks must have passed: a broken kernel must fail here, not fall
 * back to ipsec-mb unnoticed. */
static bool
cpu_has(unsigned ecx1, unsigned ebx7, unsigned ecx7)
{
	unsigned a, b, c, d;

	if (__get_cpuid(1, &a, &b, &c, &d) == 0 || (c & ecx1) != ecx1)
		return false;
	if (__get_cpuid_count(7, 0, &a, &b, &c, &d) == 0)
		return false;
	return (b & ebx7) == ebx7 && (c & ecx7) == ecx7;
}

/* A length that lands on the SHA-256 padding edges, small, or large. */
static size_t
ni_rand_len(uint64_t *s)
{
	static const size_t edges[] = {0, 1, 55, 56, 63, 64, 65, 119, 120, 127, 128, 32816};

	switch (tu_rand(s) % 3) {
	case 0:
		return edges[tu_rand(s) % (sizeof(edges) / sizeof(edges[0]))];
	case 1:
		return tu_rand(s) % 300;
	default:
		return tu_rand(s) % (ENGINE_MAX_TEXT + ENGINE_MAX_AAD + 32);
	}
}

/* sha256_ni against OpenSSL's HMAC: random keys (short, block-sized and
 * longer than a block), lengths, batch sizes and lane counts, so lanes of
 * different lengths regroup; and one flipped message bit changes the tag. */
static void
test_sha256_ni_matches_openssl(void **state)
{
	enum { MAXN = 9, MAXLEN = ENGINE_MAX_TEXT + ENGINE_MAX_AAD + 32 };
	uint8_t *msg = malloc((size_t)MAXN * MAXLEN), key[MAXN][150], tag[MAXN][32], ref[32];
	struct sha256_ni_key *k = secmem_alloc(MAXN * sizeof(*k));
	struct sha256_ni_job jobs[MAXN];
	size_t keylen[MAXN];
	uint64_t s = 4231;

	(void)state;
	if (cpu_has(bit_AVX | bit_OSXSAVE, bit_SHA, 0))
		assert_true(sha256_ni_usable());
	if (!sha256_ni_usable()) {
		/* No SHA-NI here (or valgrind, which hides it): the fast engine
		 * must have fallen back to ipsec-mb's hash.  (cmocka's skip()
		 * prints "not ok # SKIP", which meson counts as a failure.) */
		assert_false(cpu_has(bit_AVX | bit_OSXSAVE, bit_SHA, 0));
		if (engine_ipsecmb_usable())
			assert_null(strstr(engine_ipsecmb_arch(), "sha-ni x"));
		free(msg);
		secmem_free(k, MAXN * sizeof(*k));
		return;
	}
	assert_non_null(msg);
	assert_non_null(k);
	for (int it = 0; it < 60; it++) {
		size_t n = 1 + tu_rand(&s) % MAXN;
		unsigned lanes = 1 + (unsigned)(tu_rand(&s) % SHA256_NI_LANES_MAX);

		for (size_t i = 0; i < n; i++) {
			uint8_t *m = msg + i * MAXLEN;

			keylen[i] = tu_rand(&s) % 4 == 0 ? 64 : tu_rand(&s) % sizeof(key[i]);
			tu_fill(&s, key[i], keylen[i]);
			sha256_ni_hmac_key(&k[i], key[i], keylen[i]);
			jobs[i] = (struct sha256_ni_job){&k[i], m, ni_rand_len(&s), tag[i]};
			tu_fill(&s, m, jobs[i].len);
		}
		sha256_ni_hmac_many(jobs, n, lanes);
		for (size_t i = 0; i < n; i++) {
			assert_int_equal(
				engine_evp_hmac(key[i], keylen[i], jobs[i].msg, jobs[i].len, ref),
				0);
			assert_memory_equal(tag[i], ref, 32);
		}
		if (jobs[0].len > 0) {
			msg[tu_rand(&s) % jobs[0].len] ^= 0x10;
			sha256_ni_hmac_many(jobs, 1, lanes);
			assert_memory_not_equal(tag[0], ref, 32);
		}
	}
	secmem_free(k, MAXN * sizeof(*k));
	free(msg);
}

/* cbc_vaes against OpenSSL's AES-256-CBC: random keys (some shared between
 * neighbours), IVs, block counts and batch sizes beyond one group of lanes,
 * in place and out of place, with the key schedule the engine prepares. */
static void
test_cbc_vaes_matches_openssl(void **state)
{
	enum { MAXN = 20, MAXBLK = ENGINE_MAX_TEXT / 16 };
	uint8_t *in = malloc((size_t)MAXN * MAXBLK * 16), *out = malloc((size_t)MAXN * MAXBLK * 16);
	uint8_t *ref = malloc((size_t)MAXN * MAXBLK * 16), raw[MAXN][32], iv[MAXN][16];
	struct engine_key *k[MAXN];
	struct cbc_vaes_job jobs[MAXN];
	uint64_t s = 38;

	(void)state;
	if (cpu_has(bit_AVX | bit_OSXSAVE | bit_AES, bit_AVX2, bit_VAES))
		assert_true(cbc_vaes_usable());
	if (!cbc_vaes_usable() || !engine_ipsecmb_usable()) {
		/* No VAES here (or valgrind): the engine must not use these lanes. */
		if (!cbc_vaes_usable() && engine_ipsecmb_usable())
			assert_null(strstr(engine_ipsecmb_arch(), "vaes x"));
		free(in);
		free(out);
		free(ref);
		return;
	}
	assert_true(in != NULL && out != NULL && ref != NULL);
	for (int it = 0; it < 40; it++) {
		size_t n = 1 + tu_rand(&s) % MAXN;

		for (size_t i = 0; i < n; i++) {
			size_t nb = tu_rand(&s) % 3 == 0 ? tu_rand(&s) % (MAXBLK + 1)
							 : tu_rand(&s) % 40;
			uint8_t *src = in + i * MAXBLK * 16;

			if (i > 0 && tu_rand(&s) % 2)
				memcpy(raw[i], raw[i - 1], 32);
			else
				tu_fill(&s, raw[i], 32);
			tu_fill(&s, iv[i], 16);
			tu_fill(&s, src, nb * 16);
			assert_int_equal(engine_key_new(&k[i], suite_default(), raw[i], raw[i]), 0);
			jobs[i] = (struct cbc_vaes_job){k[i]->enc_sched, iv[i], src,
							i % 2 ? out + i * MAXBLK * 16 : src, nb};
		}
		/* References first: even jobs encrypt in place. */
		for (size_t i = 0; i < n; i++) {
			EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
			int outl = 0;

			assert_non_null(c);
			assert_int_equal(
				EVP_EncryptInit_ex(c, EVP_aes_256_cbc(), NULL, raw[i], iv[i]), 1);
			EVP_CIPHER_CTX_set_padding(c, 0);
			assert_int_equal(EVP_EncryptUpdate(c, ref + i * MAXBLK * 16, &outl,
							   jobs[i].src,
							   (int)(jobs[i].nblocks * 16)),
					 1);
			EVP_CIPHER_CTX_free(c);
		}
		cbc_vaes_encrypt_many(jobs, n);
		for (size_t i = 0; i < n; i++) {
			if (jobs[i].nblocks > 0)
				assert_memory_equal(jobs[i].dst, ref + i * MAXBLK * 16,
						    jobs[i].nblocks * 16);
			engine_key_free(k[i]);
		}
	}
	free(in);
	free(out);
	free(ref);
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
		cmocka_unit_test(test_ivs_differ_across_fork),
		cmocka_unit_test(test_keys_live_in_secure_memory),
		cmocka_unit_test(test_sha256_ni_matches_openssl),
		cmocka_unit_test(test_cbc_vaes_matches_openssl),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
