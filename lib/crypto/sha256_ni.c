/*
 * sha256_ni: SHA-256 compression with SHA-NI intrinsics, 1-4 messages in
 * lock-step, and HMAC-SHA-256 on top of it.
 *
 * A SHA-256 state is kept in the two registers SHA256RNDS2 works on, ABEF
 * and CDGH.  ni_blocks() runs L lanes (L a compile-time constant after
 * inlining, so the lanes' registers are scalarised and their rounds
 * interleave); the driver gives each lane its own number of blocks and
 * regroups the lanes that still have blocks left, so messages of different
 * lengths still share lanes for as long as they can.
 *
 * Only this file is compiled for SHA-NI (function target attributes); the
 * callers check sha256_ni_usable() first, which asks CPUID and then runs
 * FIPS 180-2 and RFC 4231 vectors through every lane count.
 */
#include "sha256_ni.h"
#include "util/cpu.h"
#include "util/secmem.h"

#include <cpuid.h>
#include <pthread.h>
#include <string.h>

#include <immintrin.h>

/* AVX for the three-operand forms of the non-SHA instructions (fewer
 * register copies: 444 instead of 561 instructions for three blocks, 5-10%
 * faster on Zen 3); the SHA instructions themselves have no VEX form. */
#define NI_TARGET __attribute__((target("sha,avx")))
#define NI_INLINE static inline __attribute__((always_inline)) NI_TARGET

static const uint32_t ni_k[64] __attribute__((aligned(16))) = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
	0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
	0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
	0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
	0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
	0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
	0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
	0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
	0xc67178f2,
};

static const uint32_t ni_iv[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
};

/*
 * ni_blocks: hash n 64-byte blocks of each of L lanes; lane l's state is
 * (s0[l], s1[l]) = (ABEF, CDGH) and its data starts at p[l], which is
 * advanced past the blocks.  The state before each block is kept in s0/s1
 * (memory) rather than in registers: sixteen XMM registers do not hold
 * three lanes' states, saved states and message words (2-3% faster).
 */
NI_INLINE void
ni_blocks(const int L, __m128i *s0, __m128i *s1, const uint8_t **p, size_t n)
{
	const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
	__m128i a[SHA256_NI_LANES_MAX], c[SHA256_NI_LANES_MAX];
	__m128i m[SHA256_NI_LANES_MAX][4];

#pragma GCC unroll 4
	for (int l = 0; l < L; l++) {
		a[l] = s0[l];
		c[l] = s1[l];
	}
	for (size_t b = 0; b < n; b++) {
#pragma GCC unroll 4
		for (int l = 0; l < L; l++) {
			const __m128i *src = (const __m128i *)(const void *)p[l];

			s0[l] = a[l];
			s1[l] = c[l];
#pragma GCC unroll 4
			for (int i = 0; i < 4; i++)
				m[l][i] = _mm_shuffle_epi8(_mm_loadu_si128(src + i), bswap);
			p[l] += 64;
		}
#pragma GCC unroll 16
		for (int g = 0; g < 16; g++) {
			const __m128i k =
				_mm_load_si128((const __m128i *)(const void *)&ni_k[4 * g]);

#pragma GCC unroll 4
			for (int l = 0; l < L; l++) {
				__m128i w = _mm_add_epi32(m[l][g & 3], k);

				c[l] = _mm_sha256rnds2_epu32(c[l], a[l], w);
				if (g >= 3 && g <= 14) {
					__m128i t =
						_mm_alignr_epi8(m[l][g & 3], m[l][(g - 1) & 3], 4);

					m[l][(g + 1) & 3] = _mm_sha256msg2_epu32(
						_mm_add_epi32(m[l][(g + 1) & 3], t), m[l][g & 3]);
				}
				w = _mm_shuffle_epi32(w, 0x0e);
				a[l] = _mm_sha256rnds2_epu32(a[l], c[l], w);
				if (g >= 1 && g <= 12)
					m[l][(g - 1) & 3] = _mm_sha256msg1_epu32(m[l][(g - 1) & 3],
										 m[l][g & 3]);
			}
		}
#pragma GCC unroll 4
		for (int l = 0; l < L; l++) {
			a[l] = _mm_add_epi32(a[l], s0[l]);
			c[l] = _mm_add_epi32(c[l], s1[l]);
		}
	}
#pragma GCC unroll 4
	for (int l = 0; l < L; l++) {
		s0[l] = a[l];
		s1[l] = c[l];
	}
}

/* One function per lane count, so each gets its own register allocation. */
static NI_TARGET __attribute__((noinline)) void
ni_x1(__m128i *s0, __m128i *s1, const uint8_t **p, size_t n)
{
	ni_blocks(1, s0, s1, p, n);
}

static NI_TARGET __attribute__((noinline)) void
ni_x2(__m128i *s0, __m128i *s1, const uint8_t **p, size_t n)
{
	ni_blocks(2, s0, s1, p, n);
}

static NI_TARGET __attribute__((noinline)) void
ni_x3(__m128i *s0, __m128i *s1, const uint8_t **p, size_t n)
{
	ni_blocks(3, s0, s1, p, n);
}

static NI_TARGET __attribute__((noinline)) void
ni_x4(__m128i *s0, __m128i *s1, const uint8_t **p, size_t n)
{
	ni_blocks(4, s0, s1, p, n);
}

/* ni_load: a state as eight words a..h into (ABEF, CDGH). */
NI_INLINE void
ni_load(const uint32_t st[8], __m128i *s0, __m128i *s1)
{
	__m128i dcba = _mm_loadu_si128((const __m128i *)(const void *)st);
	__m128i hgfe = _mm_loadu_si128((const __m128i *)(const void *)(st + 4));
	__m128i cdab = _mm_shuffle_epi32(dcba, 0xb1);
	__m128i efgh = _mm_shuffle_epi32(hgfe, 0x1b);

	*s0 = _mm_alignr_epi8(cdab, efgh, 8);
	*s1 = _mm_blend_epi16(efgh, cdab, 0xf0);
}

/* ni_store: (ABEF, CDGH) back into eight words a..h. */
NI_INLINE void
ni_store(__m128i s0, __m128i s1, uint32_t st[8])
{
	__m128i feba = _mm_shuffle_epi32(s0, 0x1b);
	__m128i dchg = _mm_shuffle_epi32(s1, 0xb1);

	_mm_storeu_si128((__m128i *)(void *)st, _mm_blend_epi16(feba, dchg, 0xf0));
	_mm_storeu_si128((__m128i *)(void *)(st + 4), _mm_alignr_epi8(dchg, feba, 8));
}

static void
ni_be32(uint8_t *out, uint32_t v)
{
	out[0] = (uint8_t)(v >> 24);
	out[1] = (uint8_t)(v >> 16);
	out[2] = (uint8_t)(v >> 8);
	out[3] = (uint8_t)v;
}

/*
 * ni_run: lane l has left[l] blocks at p[l]; hash them all.  Each round
 * groups the lanes that still have blocks and runs the fewest any of them
 * has, so equal-length messages go in one call.
 */
static NI_TARGET void
ni_run(int lanes, __m128i *s0, __m128i *s1, const uint8_t **p, size_t *left)
{
	for (;;) {
		__m128i g0[SHA256_NI_LANES_MAX], g1[SHA256_NI_LANES_MAX];
		const uint8_t *gp[SHA256_NI_LANES_MAX];
		int idx[SHA256_NI_LANES_MAX], L = 0;
		size_t n = SIZE_MAX;

		for (int l = 0; l < lanes; l++) {
			if (left[l] == 0)
				continue;
			idx[L] = l;
			g0[L] = s0[l];
			g1[L] = s1[l];
			gp[L] = p[l];
			if (left[l] < n)
				n = left[l];
			L++;
		}
		switch (L) {
		case 0:
			return;
		case 1:
			ni_x1(g0, g1, gp, n);
			break;
		case 2:
			ni_x2(g0, g1, gp, n);
			break;
		case 3:
			ni_x3(g0, g1, gp, n);
			break;
		default:
			ni_x4(g0, g1, gp, n);
			break;
		}
		for (int i = 0; i < L; i++) {
			s0[idx[i]] = g0[i];
			s1[idx[i]] = g1[i];
			p[idx[i]] = gp[i];
			left[idx[i]] -= n;
		}
		secmem_wipe(g0, sizeof(g0));
		secmem_wipe(g1, sizeof(g1));
	}
}

/*
 * ni_tail: the last len % 64 bytes of a message of len bytes, preceded by
 * `before` bytes already hashed, padded into 1 or 2 blocks of out;
 * returns the number of blocks.
 */
static size_t
ni_tail(uint8_t out[128], const uint8_t *msg, size_t len, uint64_t before)
{
	size_t rem = len % 64, nb = rem + 9 <= 64 ? 1 : 2;
	uint64_t bits = (before + len) * 8;

	memset(out, 0, 128);
	memcpy(out, msg + len - rem, rem);
	out[rem] = 0x80;
	for (int i = 0; i < 8; i++)
		out[nb * 64 - 1 - (size_t)i] = (uint8_t)(bits >> (8 * i));
	return nb;
}

/* ni_hmac_group: the tags of jobs[0..lanes). */
static NI_TARGET void
ni_hmac_group(const struct sha256_ni_job *jobs, int lanes)
{
	__m128i s0[SHA256_NI_LANES_MAX], s1[SHA256_NI_LANES_MAX];
	const uint8_t *p[SHA256_NI_LANES_MAX];
	size_t left[SHA256_NI_LANES_MAX];
	uint8_t tail[SHA256_NI_LANES_MAX][128];
	uint32_t st[8];

	for (int l = 0; l < lanes; l++) {
		ni_load(jobs[l].key->istate, &s0[l], &s1[l]);
		p[l] = jobs[l].msg;
		left[l] = jobs[l].len / 64;
	}
	ni_run(lanes, s0, s1, p, left);
	/* The inner hash's last bytes and padding (after the key^ipad block). */
	for (int l = 0; l < lanes; l++) {
		left[l] = ni_tail(tail[l], jobs[l].msg, jobs[l].len, 64);
		p[l] = tail[l];
	}
	ni_run(lanes, s0, s1, p, left);
	/* The outer hash: key^opad state, then the inner digest padded. */
	for (int l = 0; l < lanes; l++) {
		ni_store(s0[l], s1[l], st);
		memset(tail[l], 0, 64);
		for (int i = 0; i < 8; i++)
			ni_be32(tail[l] + 4 * i, st[i]);
		tail[l][32] = 0x80;
		tail[l][62] = (64 + 32) * 8 >> 8;
		tail[l][63] = (uint8_t)((64 + 32) * 8);
		ni_load(jobs[l].key->ostate, &s0[l], &s1[l]);
		p[l] = tail[l];
		left[l] = 1;
	}
	ni_run(lanes, s0, s1, p, left);
	for (int l = 0; l < lanes; l++) {
		ni_store(s0[l], s1[l], st);
		for (int i = 0; i < 8; i++)
			ni_be32(jobs[l].tag + 4 * i, st[i]);
	}
	secmem_wipe(s0, sizeof(s0));
	secmem_wipe(s1, sizeof(s1));
	secmem_wipe(tail, sizeof(tail));
	secmem_wipe(st, sizeof(st));
}

void
sha256_ni_hmac_many(const struct sha256_ni_job *jobs, size_t n, unsigned lanes)
{
	if (lanes < 1)
		lanes = 1;
	if (lanes > SHA256_NI_LANES_MAX)
		lanes = SHA256_NI_LANES_MAX;
	/* Groups of `lanes`, except that a lone message left over joins the
	 * last group (16 jobs on 3 lanes go 4+3+3+3+3): one lane alone runs at
	 * the instruction latency, a third of the speed. */
	while (n > 0) {
		size_t k = n < lanes ? n : lanes;

		if (n == lanes + 1 && lanes > 1 && lanes < SHA256_NI_LANES_MAX)
			k = n;
		ni_hmac_group(jobs, (int)k);
		jobs += k;
		n -= k;
	}
}

/* ni_digest_from: SHA-256 of msg starting from state iv (the state after
 * `before` bytes), as eight words. */
static NI_TARGET void
ni_digest_from(const uint32_t iv[8], uint64_t before, const uint8_t *msg, size_t len,
	       uint32_t st[8])
{
	__m128i s0, s1;
	const uint8_t *p = msg;
	uint8_t tail[128];
	size_t left = len / 64;

	ni_load(iv, &s0, &s1);
	ni_run(1, &s0, &s1, &p, &left);
	left = ni_tail(tail, msg, len, before);
	p = tail;
	ni_run(1, &s0, &s1, &p, &left);
	ni_store(s0, s1, st);
	secmem_wipe(&s0, sizeof(s0));
	secmem_wipe(&s1, sizeof(s1));
	secmem_wipe(tail, sizeof(tail));
}

void
sha256_ni_digest(const uint8_t *msg, size_t len, uint8_t out[32])
{
	uint32_t st[8];

	ni_digest_from(ni_iv, 0, msg, len, st);
	for (int i = 0; i < 8; i++)
		ni_be32(out + 4 * i, st[i]);
	secmem_wipe(st, sizeof(st));
}

/* ni_state_block: hash one 64-byte block into the eight-word state st. */
static NI_TARGET void
ni_state_block(uint32_t st[8], const uint8_t block[64])
{
	__m128i s0, s1;
	const uint8_t *p = block;
	size_t left = 1;

	ni_load(st, &s0, &s1);
	ni_run(1, &s0, &s1, &p, &left);
	ni_store(s0, s1, st);
	secmem_wipe(&s0, sizeof(s0));
	secmem_wipe(&s1, sizeof(s1));
}

void
sha256_ni_hmac_key(struct sha256_ni_key *k, const uint8_t *key, size_t keylen)
{
	uint8_t block[64], hashed[32];

	memset(block, 0, sizeof(block));
	if (keylen > sizeof(block)) {
		sha256_ni_digest(key, keylen, hashed);
		memcpy(block, hashed, sizeof(hashed));
	} else if (keylen > 0) {
		memcpy(block, key, keylen);
	}
	for (size_t i = 0; i < sizeof(block); i++)
		block[i] ^= 0x36;
	memcpy(k->istate, ni_iv, sizeof(ni_iv));
	ni_state_block(k->istate, block);
	for (size_t i = 0; i < sizeof(block); i++)
		block[i] ^= 0x36 ^ 0x5c;
	memcpy(k->ostate, ni_iv, sizeof(ni_iv));
	ni_state_block(k->ostate, block);
	secmem_wipe(block, sizeof(block));
	secmem_wipe(hashed, sizeof(hashed));
}

/* ni_cpu: CPUID says SHA and AVX, and the OS saves the vector state. */
static bool
ni_cpu(void)
{
	unsigned c1, b7, c7;

	return cpu_avx(&c1, &b7, &c7) && (c1 & bit_SSSE3) != 0 && (c1 & bit_SSE4_1) != 0 &&
	       (b7 & bit_SHA) != 0;
}

/*
 * ni_kat: FIPS 180-2 "abc" and the two-block message, and RFC 4231 test
 * case 2 through every lane count (with a second, longer message in the
 * other lanes so that regrouping runs too).
 */
static bool
ni_kat(void)
{
	static const uint8_t abc_sha[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
					    0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
					    0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c,
					    0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	static const uint8_t two_sha[32] = {0x24, 0x8d, 0x6a, 0x61, 0xd2, 0x06, 0x38, 0xb8,
					    0xe5, 0xc0, 0x26, 0x93, 0x0c, 0x3e, 0x60, 0x39,
					    0xa3, 0x3c, 0xe4, 0x59, 0x64, 0xff, 0x21, 0x67,
					    0xf6, 0xec, 0xed, 0xd4, 0x19, 0xdb, 0x06, 0xc1};
	static const uint8_t rfc4231_2[32] = {
		0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
		0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
		0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43,
	};
	static const char two[] = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	static const char msg2[] = "what do ya want for nothing?";
	struct sha256_ni_key k;
	struct sha256_ni_job jobs[2 * SHA256_NI_LANES_MAX];
	uint8_t out[32], tags[2 * SHA256_NI_LANES_MAX][32];
	bool ok = true;

	sha256_ni_digest((const uint8_t *)"abc", 3, out);
	ok &= secmem_eq(out, abc_sha, 32);
	sha256_ni_digest((const uint8_t *)two, sizeof(two) - 1, out);
	ok &= secmem_eq(out, two_sha, 32);
	sha256_ni_hmac_key(&k, (const uint8_t *)"Jefe", 4);
	for (unsigned lanes = 1; lanes <= SHA256_NI_LANES_MAX; lanes++) {
		size_t n = 2 * lanes - 1;

		for (size_t i = 0; i < n; i++) {
			jobs[i].key = &k;
			jobs[i].msg = (const uint8_t *)(i % 2 ? two : msg2);
			jobs[i].len = i % 2 ? sizeof(two) - 1 : sizeof(msg2) - 1;
			jobs[i].tag = tags[i];
		}
		sha256_ni_hmac_many(jobs, n, lanes);
		for (size_t i = 0; i < n; i += 2)
			ok &= secmem_eq(tags[i], rfc4231_2, 32);
		for (size_t i = 1; i < n; i += 2)
			ok &= secmem_eq(tags[i], tags[1], 32);
	}
	secmem_wipe(&k, sizeof(k));
	return ok;
}

static bool ni_ok;
static pthread_once_t ni_once = PTHREAD_ONCE_INIT;

static void
ni_init_once(void)
{
	ni_ok = ni_cpu() && ni_kat();
}

bool
sha256_ni_usable(void)
{
	pthread_once(&ni_once, ni_init_once);
	return ni_ok;
}
