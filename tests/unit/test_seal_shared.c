/*
 * Unit tests for seal_shared: records of many threads sealed together, by
 * whichever thread's engine combines, come out byte-identical to sealing
 * them alone (given IVs); rounds really combine several callers; a request
 * larger than a round is sealed alone; bad arguments are refused.
 */
#include "testutil.h"
#include "crypto/seal_shared.h"
#include "util/err.h"

#include <pthread.h>

#define THREADS 6
#define ROUNDS  300
#define PER_REQ 4    /* records per request, at most */
#define TEXT    5000 /* plaintext bytes per record, at most */
#define REC_SZ  (ENGINE_MAX_AAD + 16 + TEXT + 16 + 32)

struct worker {
	struct seal_shared *ss;
	enum engine_kind kind;
	uint64_t seed;
	int mismatches, failures;
	size_t records;
	pthread_barrier_t *go;
};

/* One thread: ROUNDS requests of 1..PER_REQ final or whole-block records
 * under fresh keys of either suite, each sealed through the combiner and,
 * as a reference, alone with this thread's engine (counted, not asserted:
 * cmocka's asserts belong to the main thread). */
static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct engine *e = NULL;
	struct engine_rec a[PER_REQ], b[PER_REQ];
	struct engine_key *keys[PER_REQ];
	uint8_t *abuf = malloc(PER_REQ * REC_SZ), *bbuf = malloc(PER_REQ * REC_SZ);

	if (abuf == NULL || bbuf == NULL || engine_new(&e, w->kind) != 0) {
		w->failures++;
		free(abuf);
		free(bbuf);
		return NULL;
	}
	pthread_barrier_wait(w->go);
	for (int round = 0; round < ROUNDS; round++) {
		size_t n = 1 + tu_rand(&w->seed) % PER_REQ;

		for (size_t i = 0; i < n; i++) {
			const struct suite_info *su = suite_by_id(
				tu_rand(&w->seed) % 2 ? SUITE_CBC_HMAC_SHA256 : SUITE_AES_256_GCM);
			uint8_t enc[32], mac[32];
			bool final = tu_rand(&w->seed) % 2;
			size_t len = tu_rand(&w->seed) % TEXT;

			if (!final && su->padded)
				len = len / 16 * 16 + 16;
			tu_fill(&w->seed, enc, 32);
			tu_fill(&w->seed, mac, 32);
			if (engine_key_new(&keys[i], su, enc, mac) != 0) {
				w->failures++;
				n = i;
				break;
			}
			memset(&a[i], 0, sizeof(a[i]));
			a[i].buf = abuf + i * REC_SZ;
			a[i].aad_len = 32;
			a[i].len = len;
			a[i].key = keys[i];
			a[i].final = final;
			a[i].iv_given = true;
			tu_fill(&w->seed, a[i].buf, 32 + su->iv_len + len);
			b[i] = a[i];
			b[i].buf = bbuf + i * REC_SZ;
			memcpy(b[i].buf, a[i].buf, 32 + su->iv_len + len);
		}
		if (seal_shared_seal(w->ss, e, a, n) != 0 || engine_seal(e, b, n) != 0)
			w->failures++;
		for (size_t i = 0; i < n; i++) {
			size_t bytes =
				32 + keys[i]->suite->iv_len + b[i].len + keys[i]->suite->tag_len;

			if (a[i].len != b[i].len || a[i].status != 0 ||
			    memcmp(a[i].buf, b[i].buf, bytes) != 0)
				w->mismatches++;
			engine_key_free(keys[i]);
		}
		w->records += n;
	}
	engine_free(e);
	free(abuf);
	free(bbuf);
	return NULL;
}

static void
test_threads_identical_and_combined(void **state)
{
	struct seal_shared *ss;
	struct seal_shared_stats st;
	struct worker w[THREADS];
	pthread_t t[THREADS];
	pthread_barrier_t go;
	size_t records = 0;

	(void)state;
	assert_int_equal(seal_shared_new(&ss, 16), 0);
	pthread_barrier_init(&go, NULL, THREADS);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){.ss = ss,
				       .kind = i % 2 && engine_ipsecmb_usable() ? ENGINE_IPSECMB
										: ENGINE_EVP,
				       .seed = 0xc0ffee + (uint64_t)i,
				       .go = &go};
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
		assert_int_equal(w[i].mismatches, 0);
		records += w[i].records;
	}
	pthread_barrier_destroy(&go);
	seal_shared_stats(ss, &st);
	print_message(
		"# %llu requests in %llu engine calls (%.2f callers per call), %llu records\n",
		(unsigned long long)st.requests, (unsigned long long)st.rounds,
		st.rounds ? (double)st.requests / (double)st.rounds : 0.0,
		(unsigned long long)st.records);
	assert_int_equal(st.records, records);
	assert_int_equal(st.requests, THREADS * ROUNDS);
	/* Six threads on any machine with fewer cores queue behind each other. */
	assert_true(st.rounds < st.requests);
	seal_shared_free(ss);
}

/* More records than a round holds: sealed alone, still right. */
static void
test_large_request_alone(void **state)
{
	struct seal_shared *ss;
	struct seal_shared_stats st;
	struct engine *e;
	struct engine_key *k;
	struct engine_rec r[3], ref[3];
	uint8_t key[32] = {1}, mac[32] = {2}, buf[3][64 + 32 + 16 + 64], bref[3][64 + 32 + 16 + 64];
	const struct suite_info *su = suite_by_id(SUITE_CBC_HMAC_SHA256);

	(void)state;
	assert_int_equal(seal_shared_new(&ss, 2), 0);
	assert_int_equal(engine_new(&e, ENGINE_EVP), 0);
	assert_int_equal(engine_key_new(&k, su, key, mac), 0);
	for (int i = 0; i < 3; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].buf = buf[i];
		r[i].aad_len = 32;
		r[i].len = 48;
		r[i].key = k;
		r[i].iv_given = true;
		memset(buf[i], 0x40 + i, sizeof(buf[i]));
		ref[i] = r[i];
		ref[i].buf = bref[i];
		memcpy(bref[i], buf[i], sizeof(buf[i]));
	}
	assert_int_equal(seal_shared_seal(ss, e, r, 3), 0);
	assert_int_equal(engine_seal(e, ref, 3), 0);
	assert_memory_equal(buf, bref, sizeof(buf));
	seal_shared_stats(ss, &st);
	assert_int_equal(st.rounds, 0); /* not through the combiner */
	engine_key_free(k);
	engine_free(e);
	seal_shared_free(ss);
}

static void
test_bad_args(void **state)
{
	struct seal_shared *ss = (void *)1;

	(void)state;
	assert_int_equal(seal_shared_new(&ss, 0), CS_EINVAL);
	assert_null(ss);
	assert_int_equal(seal_shared_new(&ss, 65), CS_EINVAL);
	seal_shared_free(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads_identical_and_combined),
		cmocka_unit_test(test_large_request_alone),
		cmocka_unit_test(test_bad_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
