/*
 * Unit tests for crypto/md5_mb: RFC 1321's vectors and random messages fed
 * in random pieces give OpenSSL's digest on every path (the AVX2 lanes at
 * every lane count, refilled from more than eight jobs, and the scalar
 * code); the lanes do not leak into each other; the path taken is the one
 * asked for, and the AVX2 path is used exactly where the CPU has AVX2.
 */
#include "testutil.h"
#include "crypto/md5_mb.h"

#include <openssl/evp.h>

#define NSTREAMS 24
#define MSG_MAX  100000

static const char *const rfc_msg[7] = {
	"",
	"a",
	"abc",
	"message digest",
	"abcdefghijklmnopqrstuvwxyz",
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
	"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
};
static const char *const rfc_hex[7] = {
	"d41d8cd98f00b204e9800998ecf8427e", "0cc175b9c0f1b6a831c399e269772661",
	"900150983cd24fb0d6963f7d28e17f72", "f96b697d7cb7938d525a2f31aaf161d0",
	"c3fcd3d76192e4007dfb496cca67e13b", "d174ab98d277d9f5a5611c2c9f419d9f",
	"57edf4a22be3c955ac49da2e2107b67a",
};

static const enum md5_mb_path paths[] = {MD5_MB_PATH_AUTO, MD5_MB_PATH_LANES, MD5_MB_PATH_SCALAR};
#define NPATHS (sizeof(paths) / sizeof(paths[0]))

static void
openssl_md5(const uint8_t *p, size_t n, uint8_t out[16])
{
	unsigned int len = 0;

	assert_int_equal(EVP_Digest(p, n, out, &len, EVP_md5(), NULL), 1);
	assert_int_equal(len, 16);
}

/* cpu_has_avx2: what the compiler's own CPU check says. */
static bool
cpu_has_avx2(void)
{
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2");
}

/* Lane blocks and scalar blocks this thread compressed since *before. */
static uint64_t
lanes_since(const struct md5_mb_counters *before)
{
	struct md5_mb_counters now;

	md5_mb_counters(&now);
	return now.lane_blocks - before->lane_blocks;
}

static uint64_t
scalar_since(const struct md5_mb_counters *before)
{
	struct md5_mb_counters now;

	md5_mb_counters(&now);
	return now.scalar_blocks - before->scalar_blocks;
}

/* md5_mb_avx2_usable() is true exactly where the CPU has AVX2 (so on an
 * AVX2 machine the self-check passed), and it does not change. */
static void
test_avx2_usable(void **state)
{
	(void)state;
	assert_int_equal(md5_mb_avx2_usable(), cpu_has_avx2());
	assert_int_equal(md5_mb_avx2_usable(), md5_mb_avx2_usable());
}

/* RFC 1321 A.5 through md5_mb_update, whole and a byte at a time. */
static void
test_rfc1321_update(void **state)
{
	uint8_t want[16], got[16];

	(void)state;
	for (int i = 0; i < 7; i++) {
		struct md5_mb_state s;
		size_t len = strlen(rfc_msg[i]);

		tu_unhex(want, sizeof(want), rfc_hex[i]);
		md5_mb_init(&s);
		md5_mb_update(&s, rfc_msg[i], len);
		md5_mb_final(&s, got);
		assert_memory_equal(got, want, 16);
		md5_mb_init(&s);
		md5_mb_update(&s, NULL, 0);
		for (size_t j = 0; j < len; j++)
			md5_mb_update(&s, rfc_msg[i] + j, 1);
		md5_mb_final(&s, got);
		assert_memory_equal(got, want, 16);
	}
}

/*
 * RFC 1321 A.5 through md5_mb_update_many on every path with every lane
 * count 1..MD5_MB_LANES and with more jobs than lanes (job i hashing vector
 * (i + n) % 7), each message fed in two
 * calls, the first ending mid-block.  The 80-byte vector repeated makes
 * every job long enough to have blocks in the lanes.
 */
static void
test_rfc1321_many(void **state)
{
	enum { JOBS = MD5_MB_LANES + 5, REP = 9 };
	struct md5_mb_state s[JOBS];
	struct md5_mb_job jobs[JOBS];
	uint8_t want[7][16], wantrep[16], got[16], rep[REP * 80];

	(void)state;
	for (int i = 0; i < 7; i++)
		tu_unhex(want[i], 16, rfc_hex[i]);
	for (int r = 0; r < REP; r++)
		memcpy(rep + 80 * r, rfc_msg[6], 80);
	openssl_md5(rep, sizeof(rep), wantrep);
	for (size_t pi = 0; pi < NPATHS; pi++) {
		md5_mb_set_path(paths[pi]);
		for (int n = 1; n <= JOBS; n++) {
			if (n > MD5_MB_LANES && n < JOBS)
				continue;
			for (int half = 0; half < 2; half++) {
				for (int i = 0; i < n; i++) {
					int v = (i + n) % 7;
					const uint8_t *m = (const uint8_t *)rfc_msg[v];
					size_t len = strlen(rfc_msg[v]), cut = len / 3;

					if (v == 6) { /* the long one, odd lanes */
						m = rep;
						len = i % 2 ? sizeof(rep) : 80;
						cut = (size_t)(37 * i) % len;
					}
					if (half == 0)
						md5_mb_init(&s[i]);
					jobs[i] = (struct md5_mb_job){&s[i], m + (half ? cut : 0),
								      half ? len - cut : cut};
				}
				md5_mb_update_many(jobs, (size_t)n);
			}
			for (int i = 0; i < n; i++) {
				int v = (i + n) % 7;

				md5_mb_final(&s[i], got);
				assert_memory_equal(got, v == 6 && i % 2 ? wantrep : want[v], 16);
			}
		}
	}
	md5_mb_set_path(MD5_MB_PATH_AUTO);
}

/*
 * NSTREAMS random messages of random lengths 0..MSG_MAX at random
 * alignments, fed in random pieces (sometimes under a block, sometimes
 * many blocks): each call updates a random subset of the streams (1 to all
 * NSTREAMS, more than the lanes), by a different amount each, some by 0.
 * Every digest must be OpenSSL's.  Returns the lane blocks of this run.
 */
static uint64_t
random_streams(enum md5_mb_path path, uint64_t seed)
{
	static const size_t maxupd[] = {1, 63, 64, 65, 200, 4096, 40000};
	struct md5_mb_state s[NSTREAMS];
	struct md5_mb_job jobs[NSTREAMS];
	struct md5_mb_counters before;
	uint8_t *buf[NSTREAMS], got[16], want[16];
	const uint8_t *msg[NSTREAMS];
	size_t len[NSTREAMS], off[NSTREAMS], left = 0, calls = 0;

	md5_mb_set_path(path);
	md5_mb_counters(&before);
	for (int i = 0; i < NSTREAMS; i++) {
		size_t align = (size_t)(tu_rand(&seed) % 8);

		len[i] = (size_t)(tu_rand(&seed) % (MSG_MAX + 1));
		if (i == 0)
			len[i] = 0;
		buf[i] = malloc(len[i] + align + 1);
		assert_non_null(buf[i]);
		tu_fill(&seed, buf[i] + align, len[i]);
		msg[i] = buf[i] + align;
		off[i] = 0;
		left += len[i];
		md5_mb_init(&s[i]);
	}
	while (left > 0) {
		size_t n = 0, cap = maxupd[tu_rand(&seed) % (sizeof(maxupd) / sizeof(maxupd[0]))];
		/* This call takes each stream with probability keep/16. */
		uint64_t keep = 1 + tu_rand(&seed) % 16;

		for (int i = 0; i < NSTREAMS; i++) {
			size_t k;

			if (tu_rand(&seed) % 16 >= keep)
				continue;
			k = (size_t)(tu_rand(&seed) % (cap + 1));
			if (k > len[i] - off[i])
				k = len[i] - off[i];
			jobs[n++] = (struct md5_mb_job){&s[i], msg[i] + off[i], k};
			off[i] += k;
			left -= k;
		}
		md5_mb_update_many(jobs, n);
		calls++;
	}
	for (int i = 0; i < NSTREAMS; i++) {
		md5_mb_final(&s[i], got);
		openssl_md5(msg[i], len[i], want);
		assert_memory_equal(got, want, 16);
		free(buf[i]);
	}
	print_message("# path %d: %zu calls, %llu lane blocks, %llu scalar blocks\n", (int)path,
		      calls, (unsigned long long)lanes_since(&before),
		      (unsigned long long)scalar_since(&before));
	md5_mb_set_path(MD5_MB_PATH_AUTO);
	return lanes_since(&before);
}

static void
test_random_auto(void **state)
{
	(void)state;
	for (uint64_t seed = 1; seed <= 6; seed++) {
		uint64_t lanes = random_streams(MD5_MB_PATH_AUTO, seed * 0x9e3779b97f4a7c15u);

		if (md5_mb_avx2_usable())
			assert_true(lanes > 0);
		else
			assert_int_equal(lanes, 0);
	}
}

static void
test_random_lanes_only(void **state)
{
	(void)state;
	for (uint64_t seed = 11; seed <= 14; seed++) {
		uint64_t lanes = random_streams(MD5_MB_PATH_LANES, seed * 0x9e3779b97f4a7c15u);

		if (md5_mb_avx2_usable())
			assert_true(lanes > 0);
		else
			assert_int_equal(lanes, 0);
	}
}

static void
test_random_scalar(void **state)
{
	(void)state;
	assert_int_equal(random_streams(MD5_MB_PATH_SCALAR, 0x243f6a8885a308d3u), 0);
}

/*
 * Which path runs: one job alone goes to the scalar code unless the lanes
 * are forced; two or more jobs with blocks go to the lanes where usable;
 * forced scalar never touches them.  The jobs are left unchanged.
 */
static void
test_path_taken(void **state)
{
	enum { N = MD5_MB_LANES, BLOCKS = 20 };
	static uint8_t msg[N][64 * BLOCKS];
	struct md5_mb_state s[N];
	struct md5_mb_job jobs[N];
	struct md5_mb_counters before;
	uint64_t seed = 5;
	bool avx2 = md5_mb_avx2_usable();

	(void)state;
	tu_fill(&seed, msg, sizeof(msg));
	for (int i = 0; i < N; i++) {
		md5_mb_init(&s[i]);
		jobs[i] = (struct md5_mb_job){&s[i], msg[i], sizeof(msg[i])};
	}

	md5_mb_counters(&before);
	md5_mb_update_many(jobs, 1);
	assert_int_equal(lanes_since(&before), 0);
	assert_int_equal(scalar_since(&before), BLOCKS);

	for (int n = 2; n <= N; n += N - 2) {
		md5_mb_counters(&before);
		md5_mb_update_many(jobs, (size_t)n);
		assert_int_equal(lanes_since(&before), avx2 ? n * BLOCKS : 0);
		assert_int_equal(scalar_since(&before), avx2 ? 0 : n * BLOCKS);
	}
	for (int i = 0; i < N; i++) {
		assert_ptr_equal(jobs[i].st, &s[i]);
		assert_ptr_equal(jobs[i].data, msg[i]);
		assert_int_equal(jobs[i].len, sizeof(msg[i]));
	}

	md5_mb_set_path(MD5_MB_PATH_LANES);
	md5_mb_counters(&before);
	md5_mb_update_many(jobs, 1);
	assert_int_equal(lanes_since(&before), avx2 ? BLOCKS : 0);

	md5_mb_set_path(MD5_MB_PATH_SCALAR);
	md5_mb_counters(&before);
	md5_mb_update_many(jobs, N);
	assert_int_equal(lanes_since(&before), 0);
	assert_int_equal(scalar_since(&before), N * BLOCKS);
	md5_mb_set_path(MD5_MB_PATH_AUTO);
}

/*
 * The lanes are independent: equal messages give equal digests, and one
 * byte changed in one lane's message (at the start, the middle and the
 * end) changes that lane's digest to OpenSSL's for it and no other; with
 * 8 and with 16 streams (the one- and two-register kernels).
 */
static void
test_lanes_isolated(void **state)
{
	enum { N = MD5_MB_LANES, LEN = 64 * 7 + 3 };
	static uint8_t msg[N][LEN];
	static const size_t where[3] = {0, LEN / 2, LEN - 1};
	struct md5_mb_state s[N];
	struct md5_mb_job jobs[N];
	uint8_t base[16], got[N][16], want[16];
	uint64_t seed = 99;

	(void)state;
	tu_fill(&seed, msg[0], LEN);
	openssl_md5(msg[0], LEN, base);
	for (int n = 8; n <= N; n += 8)
		for (int lane = 0; lane < n; lane++)
			for (int w = 0; w < 3; w++) {
				for (int i = 0; i < n; i++) {
					memcpy(msg[i], msg[0], LEN);
					md5_mb_init(&s[i]);
					jobs[i] = (struct md5_mb_job){&s[i], msg[i], LEN};
				}
				msg[lane][where[w]] ^= 0x01;
				md5_mb_update_many(jobs, (size_t)n);
				for (int i = 0; i < n; i++)
					md5_mb_final(&s[i], got[i]);
				openssl_md5(msg[lane], LEN, want);
				assert_memory_not_equal(want, base, 16);
				for (int i = 0; i < n; i++)
					assert_memory_equal(got[i], i == lane ? want : base, 16);
				msg[lane][where[w]] ^= 0x01;
			}
}

/* A state may go back and forth between md5_mb_update and
 * md5_mb_update_many, and the length counts every byte (a message one
 * byte longer or shorter has another digest). */
static void
test_mixed_and_lengths(void **state)
{
	enum { LEN = 5000 };
	static uint8_t msg[LEN];
	struct md5_mb_state s[3];
	struct md5_mb_job jobs[3];
	uint8_t got[3][16], want[16], shorter[16];
	uint64_t seed = 3;

	(void)state;
	tu_fill(&seed, msg, sizeof(msg));
	for (int i = 0; i < 3; i++)
		md5_mb_init(&s[i]);
	for (size_t off = 0; off < LEN;) {
		size_t k = 1 + (size_t)(tu_rand(&seed) % 700);

		if (k > LEN - off)
			k = LEN - off;
		if (tu_rand(&seed) % 2) {
			for (int i = 0; i < 3; i++)
				md5_mb_update(&s[i], msg + off, k);
		} else {
			for (int i = 0; i < 3; i++)
				jobs[i] = (struct md5_mb_job){&s[i], msg + off, k};
			md5_mb_update_many(jobs, 3);
		}
		off += k;
	}
	for (int i = 0; i < 3; i++)
		md5_mb_final(&s[i], got[i]);
	openssl_md5(msg, LEN, want);
	openssl_md5(msg, LEN - 1, shorter);
	assert_memory_not_equal(want, shorter, 16);
	for (int i = 0; i < 3; i++)
		assert_memory_equal(got[i], want, 16);
	/* Padding boundaries: lengths 55, 56, 63, 64, 119, 120 at once. */
	{
		static const size_t lens[6] = {55, 56, 63, 64, 119, 120};
		struct md5_mb_state t[6];
		struct md5_mb_job j6[6];
		uint8_t out[16];

		md5_mb_set_path(MD5_MB_PATH_LANES);
		for (int i = 0; i < 6; i++) {
			md5_mb_init(&t[i]);
			j6[i] = (struct md5_mb_job){&t[i], msg, lens[i]};
		}
		md5_mb_update_many(j6, 6);
		for (int i = 0; i < 6; i++) {
			md5_mb_final(&t[i], out);
			openssl_md5(msg, lens[i], want);
			assert_memory_equal(out, want, 16);
		}
		md5_mb_set_path(MD5_MB_PATH_AUTO);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_avx2_usable),       cmocka_unit_test(test_rfc1321_update),
		cmocka_unit_test(test_rfc1321_many),      cmocka_unit_test(test_random_auto),
		cmocka_unit_test(test_random_lanes_only), cmocka_unit_test(test_random_scalar),
		cmocka_unit_test(test_path_taken),        cmocka_unit_test(test_lanes_isolated),
		cmocka_unit_test(test_mixed_and_lengths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
