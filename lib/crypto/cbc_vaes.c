/*
 * cbc_vaes: AES-256-CBC encryption, 2-16 messages in lock-step, two per
 * 256-bit register.
 *
 * Lanes are paired into registers; each pair gets its own 15 round keys
 * (the two lanes' keys side by side), so messages under different keys
 * share a register.  cbc_pairs() runs P pairs (P a compile-time constant
 * after inlining); the driver runs every lane that still has blocks for as
 * many blocks as the shortest of them has, then regroups.  An odd lane out
 * is paired with itself: both halves compute and store the same bytes, and
 * a block is loaded before it is stored, so in-place encryption is safe.
 */
#include "cbc_vaes.h"
#include "util/cpu.h"
#include "util/secmem.h"

#include <cpuid.h>
#include <pthread.h>
#include <string.h>

#include <immintrin.h>

#define VA_TARGET __attribute__((target("avx2,aes,vaes")))
#define VA_INLINE static inline __attribute__((always_inline)) VA_TARGET
#define VA_ROUNDS 15 /* round keys of AES-256 */
#define VA_PAIRS  (CBC_VAES_LANES / 2)

/* A group of lanes being run: each lane's chaining value and pointers. */
struct va_lanes {
	__m256i rk[VA_PAIRS][VA_ROUNDS]; /* pair p's round keys, lane 2p low */
	__m256i cv[VA_PAIRS];            /* pair p's chaining values */
	const uint8_t *src[CBC_VAES_LANES];
	uint8_t *dst[CBC_VAES_LANES];
};

/* va_load: block o/16 of pair p's two lanes in one register. */
VA_INLINE __m256i
va_load(const struct va_lanes *g, int p, size_t o)
{
	__m128i lo = _mm_loadu_si128((const __m128i *)(const void *)(g->src[2 * p] + o));
	__m128i hi = _mm_loadu_si128((const __m128i *)(const void *)(g->src[2 * p + 1] + o));

	return _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
}

/* cbc_pairs: encrypt n blocks of each of P pairs of lanes in g. */
VA_INLINE void
cbc_pairs(const int P, struct va_lanes *g, size_t n)
{
	__m256i x[VA_PAIRS];

#pragma GCC unroll 8
	for (int p = 0; p < P; p++)
		x[p] = g->cv[p];
	for (size_t o = 0; o < 16 * n; o += 16) {
#pragma GCC unroll 8
		for (int p = 0; p < P; p++)
			x[p] = _mm256_xor_si256(x[p],
						_mm256_xor_si256(va_load(g, p, o), g->rk[p][0]));
#pragma GCC unroll 13
		for (int r = 1; r < VA_ROUNDS - 1; r++) {
#pragma GCC unroll 8
			for (int p = 0; p < P; p++)
				x[p] = _mm256_aesenc_epi128(x[p], g->rk[p][r]);
		}
#pragma GCC unroll 8
		for (int p = 0; p < P; p++) {
			x[p] = _mm256_aesenclast_epi128(x[p], g->rk[p][VA_ROUNDS - 1]);
			_mm_storeu_si128((__m128i *)(void *)(g->dst[2 * p] + o),
					 _mm256_castsi256_si128(x[p]));
			_mm_storeu_si128((__m128i *)(void *)(g->dst[2 * p + 1] + o),
					 _mm256_extracti128_si256(x[p], 1));
		}
	}
#pragma GCC unroll 8
	for (int p = 0; p < P; p++)
		g->cv[p] = x[p];
}

/* One function per pair count, each with its own register allocation. */
#define VA_KERNEL(P)                                                                               \
	static VA_TARGET __attribute__((noinline)) void cbc_x##P(struct va_lanes *g, size_t n)     \
	{                                                                                          \
		cbc_pairs(P, g, n);                                                                \
	}
VA_KERNEL(1)
VA_KERNEL(2)
VA_KERNEL(3)
VA_KERNEL(4)
VA_KERNEL(5)
VA_KERNEL(6)
VA_KERNEL(7)
VA_KERNEL(8)

static void (*const va_kernels[VA_PAIRS + 1])(struct va_lanes *, size_t) = {
	NULL, cbc_x1, cbc_x2, cbc_x3, cbc_x4, cbc_x5, cbc_x6, cbc_x7, cbc_x8,
};

/* va_group: encrypt jobs[0..n), n <= CBC_VAES_LANES. */
static VA_TARGET void
va_group(const struct cbc_vaes_job *jobs, int n)
{
	struct va_lanes g;
	__m128i cv[CBC_VAES_LANES];
	size_t left[CBC_VAES_LANES], done[CBC_VAES_LANES];

	for (int l = 0; l < n; l++) {
		cv[l] = _mm_loadu_si128((const __m128i *)(const void *)jobs[l].iv);
		left[l] = jobs[l].nblocks;
		done[l] = 0;
	}
	for (;;) {
		int idx[CBC_VAES_LANES + 1], L = 0, P;
		size_t m = SIZE_MAX;

		for (int l = 0; l < n; l++) {
			if (left[l] == 0)
				continue;
			idx[L++] = l;
			if (left[l] < m)
				m = left[l];
		}
		if (L == 0)
			break;
		if (L % 2)
			idx[L] = idx[L - 1];
		P = (L + 1) / 2;
		for (int p = 0; p < P; p++) {
			const struct cbc_vaes_job *a = &jobs[idx[2 * p]],
						  *b = &jobs[idx[2 * p + 1]];

			for (int r = 0; r < VA_ROUNDS; r++) {
				__m128i ka = _mm_loadu_si128(
					(const __m128i *)(const void *)(a->sched + 16 * r));
				__m128i kb = _mm_loadu_si128(
					(const __m128i *)(const void *)(b->sched + 16 * r));

				g.rk[p][r] =
					_mm256_inserti128_si256(_mm256_castsi128_si256(ka), kb, 1);
			}
			g.cv[p] = _mm256_inserti128_si256(_mm256_castsi128_si256(cv[idx[2 * p]]),
							  cv[idx[2 * p + 1]], 1);
			for (int h = 0; h < 2; h++) {
				int l = idx[2 * p + h];

				g.src[2 * p + h] = jobs[l].src + 16 * done[l];
				g.dst[2 * p + h] = jobs[l].dst + 16 * done[l];
			}
		}
		va_kernels[P](&g, m);
		for (int p = 0; p < P; p++) {
			cv[idx[2 * p]] = _mm256_castsi256_si128(g.cv[p]);
			cv[idx[2 * p + 1]] = _mm256_extracti128_si256(g.cv[p], 1);
		}
		for (int i = 0; i < L; i++) {
			left[idx[i]] -= m;
			done[idx[i]] += m;
		}
	}
	secmem_wipe(&g, sizeof(g));
	secmem_wipe(cv, sizeof(cv));
}

void
cbc_vaes_encrypt_many(const struct cbc_vaes_job *jobs, size_t n)
{
	for (size_t i = 0; i < n; i += CBC_VAES_LANES)
		va_group(jobs + i, n - i < CBC_VAES_LANES ? (int)(n - i) : CBC_VAES_LANES);
}

/* va_cpu: CPUID says AES, AVX2 and VAES, and the OS saves YMM state. */
static bool
va_cpu(void)
{
	unsigned c1, b7, c7;

	return cpu_avx(&c1, &b7, &c7) && (c1 & bit_AES) != 0 && (b7 & bit_AVX2) != 0 &&
	       (c7 & bit_VAES) != 0;
}

/* va_expand_step: the AES-256 key schedule's two half-steps. */
#define VA_EXPAND(k, i, rcon)                                                                      \
	do {                                                                                       \
		__m128i t_ = _mm_shuffle_epi32(_mm_aeskeygenassist_si128(k[i - 1], rcon), 0xff);   \
		__m128i a_ = k[i - 2];                                                             \
		a_ = _mm_xor_si128(a_, _mm_slli_si128(a_, 4));                                     \
		a_ = _mm_xor_si128(a_, _mm_slli_si128(a_, 8));                                     \
		k[i] = _mm_xor_si128(a_, t_);                                                      \
		if (i + 1 < VA_ROUNDS) {                                                           \
			__m128i u_ = _mm_shuffle_epi32(_mm_aeskeygenassist_si128(k[i], 0), 0xaa);  \
			__m128i b_ = k[i - 1];                                                     \
			b_ = _mm_xor_si128(b_, _mm_slli_si128(b_, 4));                             \
			b_ = _mm_xor_si128(b_, _mm_slli_si128(b_, 8));                             \
			k[i + 1] = _mm_xor_si128(b_, u_);                                          \
		}                                                                                  \
	} while (0)

/* va_expand: the AES-256 encryption schedule of key (for the self-check,
 * so that it does not depend on the caller's key expansion). */
static __attribute__((target("aes"))) void
va_expand(const uint8_t key[32], uint8_t sched[16 * VA_ROUNDS])
{
	__m128i k[VA_ROUNDS];

	k[0] = _mm_loadu_si128((const __m128i *)(const void *)key);
	k[1] = _mm_loadu_si128((const __m128i *)(const void *)(key + 16));
	VA_EXPAND(k, 2, 0x01);
	VA_EXPAND(k, 4, 0x02);
	VA_EXPAND(k, 6, 0x04);
	VA_EXPAND(k, 8, 0x08);
	VA_EXPAND(k, 10, 0x10);
	VA_EXPAND(k, 12, 0x20);
	VA_EXPAND(k, 14, 0x40);
	memcpy(sched, k, sizeof(k));
	secmem_wipe(k, sizeof(k));
}

/*
 * va_kat: SP 800-38A F.2.5 (CBC-AES256.Encrypt) through every lane count,
 * lane l encrypting the first 1 + l % 4 blocks (so lanes regroup), in place
 * for even lanes and out of place for odd ones.
 */
static bool
va_kat(void)
{
	static const uint8_t key[32] = {0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe,
					0x2b, 0x73, 0xae, 0xf0, 0x85, 0x7d, 0x77, 0x81,
					0x1f, 0x35, 0x2c, 0x07, 0x3b, 0x61, 0x08, 0xd7,
					0x2d, 0x98, 0x10, 0xa3, 0x09, 0x14, 0xdf, 0xf4};
	static const uint8_t pt[64] = {
		0x6b, 0xc1, 0xbe, 0xe2, 0x2e, 0x40, 0x9f, 0x96, 0xe9, 0x3d, 0x7e, 0x11, 0x73,
		0x93, 0x17, 0x2a, 0xae, 0x2d, 0x8a, 0x57, 0x1e, 0x03, 0xac, 0x9c, 0x9e, 0xb7,
		0x6f, 0xac, 0x45, 0xaf, 0x8e, 0x51, 0x30, 0xc8, 0x1c, 0x46, 0xa3, 0x5c, 0xe4,
		0x11, 0xe5, 0xfb, 0xc1, 0x19, 0x1a, 0x0a, 0x52, 0xef, 0xf6, 0x9f, 0x24, 0x45,
		0xdf, 0x4f, 0x9b, 0x17, 0xad, 0x2b, 0x41, 0x7b, 0xe6, 0x6c, 0x37, 0x10};
	static const uint8_t ct[64] = {
		0xf5, 0x8c, 0x4c, 0x04, 0xd6, 0xe5, 0xf1, 0xba, 0x77, 0x9e, 0xab, 0xfb, 0x5f,
		0x7b, 0xfb, 0xd6, 0x9c, 0xfc, 0x4e, 0x96, 0x7e, 0xdb, 0x80, 0x8d, 0x67, 0x9f,
		0x77, 0x7b, 0xc6, 0x70, 0x2c, 0x7d, 0x39, 0xf2, 0x33, 0x69, 0xa9, 0xd9, 0xba,
		0xcf, 0xa5, 0x30, 0xe2, 0x63, 0x04, 0x23, 0x14, 0x61, 0xb2, 0xeb, 0x05, 0xe2,
		0xc3, 0x9b, 0xe9, 0xfc, 0xda, 0x6c, 0x19, 0x07, 0x8c, 0x6a, 0x9d, 0x1b};
	uint8_t iv[16], sched[16 * VA_ROUNDS], buf[CBC_VAES_LANES][2][64];
	struct cbc_vaes_job jobs[CBC_VAES_LANES];
	bool ok = true;

	for (int i = 0; i < 16; i++)
		iv[i] = (uint8_t)i;
	va_expand(key, sched);
	for (int n = 1; n <= CBC_VAES_LANES; n++) {
		for (int l = 0; l < n; l++) {
			memcpy(buf[l][0], pt, sizeof(pt));
			memset(buf[l][1], 0, 64);
			jobs[l] = (struct cbc_vaes_job){sched, iv, buf[l][0], buf[l][l % 2],
							(size_t)(1 + l % 4)};
		}
		cbc_vaes_encrypt_many(jobs, (size_t)n);
		for (int l = 0; l < n; l++)
			ok &= memcmp(buf[l][l % 2], ct, 16 * (size_t)(1 + l % 4)) == 0;
	}
	secmem_wipe(sched, sizeof(sched));
	return ok;
}

static bool va_ok;
static pthread_once_t va_once = PTHREAD_ONCE_INIT;

static void
va_init_once(void)
{
	va_ok = va_cpu() && va_kat();
}

bool
cbc_vaes_usable(void)
{
	pthread_once(&va_once, va_init_once);
	return va_ok;
}
