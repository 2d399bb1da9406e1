/*
 * Unit tests for md5_shared: many threads' MD5 updates hashed together give
 * every stream exactly OpenSSL's digest, whatever the slice, the lanes and
 * the interleaving; rounds really combine several streams; bad arguments
 * are refused.
 */
#include "testutil.h"
#include "crypto/md5_shared.h"
#include "util/err.h"

#include <pthread.h>

#include <openssl/evp.h>

#define THREADS 8
#define STREAMS 3 /* per thread, updated in turn */
#define MSG_MAX 300000

struct worker {
	struct md5_shared *c;
	uint64_t seed;
	size_t max_update;
	int failures;
	pthread_barrier_t *go;
};

static void
openssl_md5(const uint8_t *p, size_t n, uint8_t out[16])
{
	unsigned int len = 0;

	assert_int_equal(EVP_Digest(p, n, out, &len, EVP_md5(), NULL), 1);
	assert_int_equal(len, 16);
}

/* One thread: STREAMS messages of random lengths, fed in random pieces,
 * the streams' updates interleaved; each digest checked against OpenSSL
 * (counted, not asserted: cmocka's asserts belong to the main thread). */
static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct md5_mb_state st[STREAMS];
	uint8_t *msg[STREAMS], got[16], want[16];
	size_t len[STREAMS], off[STREAMS];
	bool left = true;

	for (int i = 0; i < STREAMS; i++) {
		len[i] = (size_t)(tu_rand(&w->seed) % MSG_MAX);
		msg[i] = malloc(len[i] + 1);
		tu_fill(&w->seed, msg[i], len[i]);
		off[i] = 0;
		md5_mb_init(&st[i]);
	}
	pthread_barrier_wait(w->go);
	while (left) {
		left = false;
		for (int i = 0; i < STREAMS; i++) {
			size_t n = (size_t)(tu_rand(&w->seed) % (w->max_update + 1));

			if (n > len[i] - off[i])
				n = len[i] - off[i];
			if (n % 3 == 0) {
				md5_shared_update(w->c, &st[i], msg[i] + off[i], n);
			} else {
				/* The same bytes as three pieces and a spare one that
				 * len leaves out, as a body received into records. */
				size_t a = n / 3, b = n / 2;
				struct iovec v[4] = {{msg[i] + off[i], a},
						     {msg[i] + off[i] + a, b - a},
						     {msg[i] + off[i] + b, n - b + 7},
						     {msg[i], 5}};

				md5_shared_updatev(w->c, &st[i], v, 4, n);
			}
			off[i] += n;
			left |= off[i] < len[i];
		}
	}
	for (int i = 0; i < STREAMS; i++) {
		unsigned int dl = 0;

		md5_mb_final(&st[i], got);
		if (EVP_Digest(msg[i], len[i], want, &dl, EVP_md5(), NULL) != 1 ||
		    memcmp(got, want, 16) != 0)
			w->failures++;
		free(msg[i]);
	}
	return NULL;
}

static void
run_threads(unsigned lanes, size_t slice, size_t max_update, uint64_t seed,
	    struct md5_shared_stats *stats)
{
	struct worker w[THREADS];
	pthread_t t[THREADS];
	pthread_barrier_t go;
	struct md5_shared *c;

	assert_int_equal(md5_shared_new(&c, lanes, slice), 0);
	pthread_barrier_init(&go, NULL, THREADS);
	for (int i = 0; i < THREADS; i++) {
		w[i] = (struct worker){c, seed + (uint64_t)i * 7919, max_update, 0, &go};
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	}
	for (int i = 0; i < THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failures, 0);
	}
	pthread_barrier_destroy(&go);
	md5_shared_stats(c, stats);
	md5_shared_free(c);
}

/* Every digest right: 16 lanes, 64 KiB slices, updates up to 100 KB. */
static void
test_threads_match_openssl(void **state)
{
	struct md5_shared_stats s;

	(void)state;
	run_threads(16, 65536, 100000, 0x5eed, &s);
	assert_true(s.rounds > 0);
	assert_true(s.lane_jobs >= s.rounds);
	assert_true(s.lane_jobs <= 16 * s.rounds);
}

/* Small slices and odd update sizes: every stream is cut mid-block again
 * and again, across rounds and combiners. */
static void
test_small_slices(void **state)
{
	struct md5_shared_stats s;

	(void)state;
	run_threads(8, 64, 777, 0xabc, &s);
	run_threads(3, 192, 5000, 0xdef, &s);
	run_threads(1, 4096, 20000, 0x123, &s);
	assert_true(s.lane_jobs == s.rounds); /* one lane: one job per round */
}

/*
 * Rounds combine: with every thread's update queued before the first round
 * runs, the rounds must have carried more than one stream on average.  The
 * threads start at one barrier and each update is large (4 MiB in 4 KiB
 * slices: 1024 rounds per stream), so a lone stream per round would need
 * every other thread to stay off the CPU for the whole run.
 */
struct big {
	struct md5_shared *c;
	struct md5_mb_state st;
	uint8_t *msg;
	size_t len;
	pthread_barrier_t *go;
};

static void *
big_main(void *arg)
{
	struct big *b = arg;

	pthread_barrier_wait(b->go);
	md5_shared_update(b->c, &b->st, b->msg, b->len);
	return NULL;
}

static void
test_rounds_combine(void **state)
{
	enum { N = 4, LEN = 4 << 20 };
	struct md5_shared *c;
	struct md5_shared_stats s;
	struct big b[N];
	pthread_t t[N];
	pthread_barrier_t go;
	uint64_t seed = 42;
	uint8_t got[16], want[16];

	(void)state;
	assert_int_equal(md5_shared_new(&c, 8, 4096), 0);
	pthread_barrier_init(&go, NULL, N);
	for (int i = 0; i < N; i++) {
		memset(&b[i], 0, sizeof(b[i]));
		b[i].c = c;
		b[i].msg = malloc(LEN);
		b[i].len = LEN;
		b[i].go = &go;
		assert_non_null(b[i].msg);
		tu_fill(&seed, b[i].msg, LEN);
		md5_mb_init(&b[i].st);
	}
	for (int i = 0; i < N; i++)
		assert_int_equal(pthread_create(&t[i], NULL, big_main, &b[i]), 0);
	for (int i = 0; i < N; i++)
		pthread_join(t[i], NULL);
	md5_shared_stats(c, &s);
	print_message("# %llu rounds, %.2f streams per round, %llu hand-offs\n",
		      (unsigned long long)s.rounds, (double)s.lane_jobs / (double)s.rounds,
		      (unsigned long long)s.handoffs);
	assert_int_equal(s.bytes, (uint64_t)N * LEN);
	assert_true(s.lane_jobs > s.rounds);
	for (int i = 0; i < N; i++) {
		md5_mb_final(&b[i].st, got);
		openssl_md5(b[i].msg, LEN, want);
		assert_memory_equal(got, want, 16);
		free(b[i].msg);
	}
	pthread_barrier_destroy(&go);
	md5_shared_free(c);
}

static void
test_bad_arguments(void **state)
{
	struct md5_shared *c = (struct md5_shared *)1;

	(void)state;
	assert_int_equal(md5_shared_new(&c, 0, 4096), CS_EINVAL);
	assert_null(c);
	assert_int_equal(md5_shared_new(&c, 65, 4096), CS_EINVAL);
	assert_int_equal(md5_shared_new(&c, 8, 0), CS_EINVAL);
	assert_int_equal(md5_shared_new(&c, 8, 100), CS_EINVAL);
	md5_shared_free(NULL);
}

/* A lone caller, and empty updates. */
static void
test_single_thread(void **state)
{
	struct md5_shared *c;
	struct md5_mb_state st;
	uint8_t msg[1000], got[16], want[16];
	uint64_t seed = 7;

	(void)state;
	tu_fill(&seed, msg, sizeof(msg));
	assert_int_equal(md5_shared_new(&c, 8, 128), 0);
	md5_mb_init(&st);
	md5_shared_update(c, &st, msg, 0);
	md5_shared_update(c, &st, msg, 333);
	md5_shared_update(c, &st, msg + 333, 667);
	md5_mb_final(&st, got);
	openssl_md5(msg, sizeof(msg), want);
	assert_memory_equal(got, want, 16);
	md5_shared_free(c);
}

/* Vectored updates: empty pieces, pieces beyond len, several rounds per
 * piece (a 128-byte slice). */
static void
test_vectored(void **state)
{
	struct md5_shared *c;
	struct md5_mb_state st;
	uint8_t msg[5000], got[16], want[16];
	uint64_t seed = 11;
	struct iovec v[5] = {
		{msg, 0}, {msg, 1000}, {msg + 1000, 0}, {msg + 1000, 3000}, {msg + 4000, 1000}};

	(void)state;
	tu_fill(&seed, msg, sizeof(msg));
	assert_int_equal(md5_shared_new(&c, 8, 128), 0);
	md5_mb_init(&st);
	md5_shared_updatev(c, &st, v, 5, 0);    /* nothing */
	md5_shared_updatev(c, &st, v, 5, 4500); /* stops inside the last piece */
	md5_shared_updatev(c, &st, v, 0, 4500); /* no pieces: nothing */
	md5_shared_update(c, &st, msg + 4500, 500);
	md5_mb_final(&st, got);
	openssl_md5(msg, sizeof(msg), want);
	assert_memory_equal(got, want, 16);
	md5_shared_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_threads_match_openssl), cmocka_unit_test(test_small_slices),
		cmocka_unit_test(test_rounds_combine),        cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_single_thread),         cmocka_unit_test(test_vectored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
