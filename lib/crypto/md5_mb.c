/*
 * md5_mb: MD5 compression of 8 or 16 streams in lock-step in AVX2 lanes,
 * and the portable scalar compression for everything else.  See md5_mb.h.
 *
 * Element l of a register holds stream l's word: a block of eight streams
 * is loaded as eight rows of sixteen words and transposed into sixteen
 * registers, and the 64 steps run once for all eight.  AVX2 has no rotate
 * (two shifts and an OR; a byte shuffle for the rotation by 16), so a
 * step's chain is six cycles against five for the scalar code, and one
 * register of eight streams runs at ~0.7 times the scalar speed per stream.
 * That chain, not the vector pipes, is the limit: a second register of
 * eight more streams, its steps interleaved with the first's, costs only
 * ~1.4 times as much (a third one spills registers and gains nothing).
 *
 * md5_mb_update_many() keeps the lanes busy: each round runs every lane
 * for as many blocks as the shortest run among them has, then a lane whose
 * job is done takes the next job.  More than eight lanes with blocks run in
 * the two-register kernel, others in the one-register kernel; idle lanes
 * repeat lane 0's data and their results are dropped.  A job's blocks come
 * in at most two runs: the partial block left in the state's buffer,
 * completed from the job's data, then the job's data itself; what remains
 * of the last block goes back into the buffer.  When fewer than
 * MB_MIN_LANES lanes have blocks left and no job is waiting, the rest is
 * hashed by the scalar code.
 *
 * Only the two kernels are compiled for AVX2 (a function target attribute)
 * and each ends with VZEROUPPER: on this project's test machine legacy-SSE
 * instructions after dirty upper YMM halves are hundreds of times slower.
 * Nothing else here touches YMM registers.
 */
#include "md5_mb.h"
#include "util/cpu.h"

#include <cpuid.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include <immintrin.h>

#define MB_TARGET __attribute__((target("avx2")))
#define MB_INLINE static inline __attribute__((always_inline)) MB_TARGET

/*
 * The fewest lanes with blocks left for which the AVX2 kernel is used
 * rather than the scalar code.  Measured with bench/md5probe on AMD EPYC
 * (Zen 3, KVM): the one-register kernel costs the same whether 1 or 8 of
 * its lanes carry streams, ~1.5 scalar blocks, so one stream in it hashes
 * at 0.7 times the scalar speed (460 against 680 MB/s) and two at 1.35
 * times (920 MB/s together).
 */
#define MB_MIN_LANES 2

/*
 * The sine table of RFC 1321, 3.4, T[i] = floor(2^32 * abs(sin(i + 1))),
 * each word eight times: a vector step adds T[i] straight from memory (an
 * immediate would take a broadcast, on the pipes the shifts need).
 */
#define MB_K8(k)                                                                                   \
	{                                                                                          \
		k, k, k, k, k, k, k, k                                                             \
	}
static const uint32_t mb_kv[64][8] __attribute__((aligned(32))) = {
	MB_K8(0xd76aa478), MB_K8(0xe8c7b756), MB_K8(0x242070db), MB_K8(0xc1bdceee),
	MB_K8(0xf57c0faf), MB_K8(0x4787c62a), MB_K8(0xa8304613), MB_K8(0xfd469501),
	MB_K8(0x698098d8), MB_K8(0x8b44f7af), MB_K8(0xffff5bb1), MB_K8(0x895cd7be),
	MB_K8(0x6b901122), MB_K8(0xfd987193), MB_K8(0xa679438e), MB_K8(0x49b40821),
	MB_K8(0xf61e2562), MB_K8(0xc040b340), MB_K8(0x265e5a51), MB_K8(0xe9b6c7aa),
	MB_K8(0xd62f105d), MB_K8(0x02441453), MB_K8(0xd8a1e681), MB_K8(0xe7d3fbc8),
	MB_K8(0x21e1cde6), MB_K8(0xc33707d6), MB_K8(0xf4d50d87), MB_K8(0x455a14ed),
	MB_K8(0xa9e3e905), MB_K8(0xfcefa3f8), MB_K8(0x676f02d9), MB_K8(0x8d2a4c8a),
	MB_K8(0xfffa3942), MB_K8(0x8771f681), MB_K8(0x6d9d6122), MB_K8(0xfde5380c),
	MB_K8(0xa4beea44), MB_K8(0x4bdecfa9), MB_K8(0xf6bb4b60), MB_K8(0xbebfbc70),
	MB_K8(0x289b7ec6), MB_K8(0xeaa127fa), MB_K8(0xd4ef3085), MB_K8(0x04881d05),
	MB_K8(0xd9d4d039), MB_K8(0xe6db99e5), MB_K8(0x1fa27cf8), MB_K8(0xc4ac5665),
	MB_K8(0xf4292244), MB_K8(0x432aff97), MB_K8(0xab9423a7), MB_K8(0xfc93a039),
	MB_K8(0x655b59c3), MB_K8(0x8f0ccc92), MB_K8(0xffeff47d), MB_K8(0x85845dd1),
	MB_K8(0x6fa87e4f), MB_K8(0xfe2ce6e0), MB_K8(0xa3014314), MB_K8(0x4e0811a1),
	MB_K8(0xf7537e82), MB_K8(0xbd3af235), MB_K8(0x2ad7d2bb), MB_K8(0xeb86d391),
};

/*
 * The 64 steps of RFC 1321, 3.4, as S(function, a, b, c, d, word, step,
 * shift): a = b + ((a + f(b, c, d) + X[word] + T[step]) <<< shift).
 */
#define MB_STEPS(S)                                                                                \
	S(F, a, b, c, d, 0, 0, 7);                                                                 \
	S(F, d, a, b, c, 1, 1, 12);                                                                \
	S(F, c, d, a, b, 2, 2, 17);                                                                \
	S(F, b, c, d, a, 3, 3, 22);                                                                \
	S(F, a, b, c, d, 4, 4, 7);                                                                 \
	S(F, d, a, b, c, 5, 5, 12);                                                                \
	S(F, c, d, a, b, 6, 6, 17);                                                                \
	S(F, b, c, d, a, 7, 7, 22);                                                                \
	S(F, a, b, c, d, 8, 8, 7);                                                                 \
	S(F, d, a, b, c, 9, 9, 12);                                                                \
	S(F, c, d, a, b, 10, 10, 17);                                                              \
	S(F, b, c, d, a, 11, 11, 22);                                                              \
	S(F, a, b, c, d, 12, 12, 7);                                                               \
	S(F, d, a, b, c, 13, 13, 12);                                                              \
	S(F, c, d, a, b, 14, 14, 17);                                                              \
	S(F, b, c, d, a, 15, 15, 22);                                                              \
	S(G, a, b, c, d, 1, 16, 5);                                                                \
	S(G, d, a, b, c, 6, 17, 9);                                                                \
	S(G, c, d, a, b, 11, 18, 14);                                                              \
	S(G, b, c, d, a, 0, 19, 20);                                                               \
	S(G, a, b, c, d, 5, 20, 5);                                                                \
	S(G, d, a, b, c, 10, 21, 9);                                                               \
	S(G, c, d, a, b, 15, 22, 14);                                                              \
	S(G, b, c, d, a, 4, 23, 20);                                                               \
	S(G, a, b, c, d, 9, 24, 5);                                                                \
	S(G, d, a, b, c, 14, 25, 9);                                                               \
	S(G, c, d, a, b, 3, 26, 14);                                                               \
	S(G, b, c, d, a, 8, 27, 20);                                                               \
	S(G, a, b, c, d, 13, 28, 5);                                                               \
	S(G, d, a, b, c, 2, 29, 9);                                                                \
	S(G, c, d, a, b, 7, 30, 14);                                                               \
	S(G, b, c, d, a, 12, 31, 20);                                                              \
	S(H, a, b, c, d, 5, 32, 4);                                                                \
	S(H, d, a, b, c, 8, 33, 11);                                                               \
	S(H, c, d, a, b, 11, 34, 16);                                                              \
	S(H, b, c, d, a, 14, 35, 23);                                                              \
	S(H, a, b, c, d, 1, 36, 4);                                                                \
	S(H, d, a, b, c, 4, 37, 11);                                                               \
	S(H, c, d, a, b, 7, 38, 16);                                                               \
	S(H, b, c, d, a, 10, 39, 23);                                                              \
	S(H, a, b, c, d, 13, 40, 4);                                                               \
	S(H, d, a, b, c, 0, 41, 11);                                                               \
	S(H, c, d, a, b, 3, 42, 16);                                                               \
	S(H, b, c, d, a, 6, 43, 23);                                                               \
	S(H, a, b, c, d, 9, 44, 4);                                                                \
	S(H, d, a, b, c, 12, 45, 11);                                                              \
	S(H, c, d, a, b, 15, 46, 16);                                                              \
	S(H, b, c, d, a, 2, 47, 23);                                                               \
	S(I, a, b, c, d, 0, 48, 6);                                                                \
	S(I, d, a, b, c, 7, 49, 10);                                                               \
	S(I, c, d, a, b, 14, 50, 15);                                                              \
	S(I, b, c, d, a, 5, 51, 21);                                                               \
	S(I, a, b, c, d, 12, 52, 6);                                                               \
	S(I, d, a, b, c, 3, 53, 10);                                                               \
	S(I, c, d, a, b, 10, 54, 15);                                                              \
	S(I, b, c, d, a, 1, 55, 21);                                                               \
	S(I, a, b, c, d, 8, 56, 6);                                                                \
	S(I, d, a, b, c, 15, 57, 10);                                                              \
	S(I, c, d, a, b, 6, 58, 15);                                                               \
	S(I, b, c, d, a, 13, 59, 21);                                                              \
	S(I, a, b, c, d, 4, 60, 6);                                                                \
	S(I, d, a, b, c, 11, 61, 10);                                                              \
	S(I, c, d, a, b, 2, 62, 15);                                                               \
	S(I, b, c, d, a, 9, 63, 21);

/* What this thread has compressed, by path (md5_mb_counters). */
static _Thread_local struct md5_mb_counters mb_count;
static atomic_int mb_path; /* enum md5_mb_path */

/* ---- Scalar ---------------------------------------------------------- */

static inline uint32_t
mb_rol(uint32_t x, int s)
{
	return (x << s) | (x >> (32 - s));
}

static inline uint32_t
mb_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * The step functions, written so that as little as possible waits for b,
 * the word computed by the step before: F and I are two operations on b
 * deep, G (whose two terms have no bit in common, so they may be added)
 * and H one.  The rest of each sum is ready earlier.
 */
#define SC_F(a, b, c, d, x, k, s)                                                                  \
	do {                                                                                       \
		a += (x) + (k) + ((d) ^ ((b) & ((c) ^ (d))));                                      \
		a = mb_rol(a, s) + (b);                                                            \
	} while (0)
#define SC_G(a, b, c, d, x, k, s)                                                                  \
	do {                                                                                       \
		a += (x) + (k) + ((c) & ~(d));                                                     \
		a += (b) & (d);                                                                    \
		a = mb_rol(a, s) + (b);                                                            \
	} while (0)
#define SC_H(a, b, c, d, x, k, s)                                                                  \
	do {                                                                                       \
		a += (x) + (k) + ((b) ^ (c) ^ (d));                                                \
		a = mb_rol(a, s) + (b);                                                            \
	} while (0)
#define SC_I(a, b, c, d, x, k, s)                                                                  \
	do {                                                                                       \
		a += (x) + (k) + ((c) ^ ((b) | ~(d)));                                             \
		a = mb_rol(a, s) + (b);                                                            \
	} while (0)
#define SC_STEP(f, a, b, c, d, w, i, s) SC_##f(a, b, c, d, x[w], mb_kv[i][0], s)

/* mb_scalar: compress n blocks at p into h. */
static void
mb_scalar(uint32_t h[4], const uint8_t *p, size_t n)
{
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3];

	mb_count.scalar_blocks += n;
	for (; n > 0; n--, p += 64) {
		uint32_t x[16];

		for (int i = 0; i < 16; i++)
			x[i] = mb_le32(p + 4 * i);
		MB_STEPS(SC_STEP)
		a += h[0];
		b += h[1];
		c += h[2];
		d += h[3];
		h[0] = a;
		h[1] = b;
		h[2] = c;
		h[3] = d;
	}
}

/* ---- AVX2 ------------------------------------------------------------ */

/* Lane l of state word w of a kernel call: st[w][l]. */
typedef uint32_t mb_lanes_t[MD5_MB_LANES];

#define V_ADD(x, y) _mm256_add_epi32(x, y)
#define V_ROTL(x, s)                                                                               \
	((s) == 16 ? _mm256_shuffle_epi8(x, rot16)                                                 \
		   : _mm256_or_si256(_mm256_slli_epi32(x, s), _mm256_srli_epi32(x, 32 - (s))))
/* t + f(b, c, d), with the same care for b as the scalar steps. */
#define V_F(t, b, c, d) V_ADD(t, _mm256_xor_si256(d, _mm256_and_si256(b, _mm256_xor_si256(c, d))))
#define V_G(t, b, c, d) V_ADD(V_ADD(t, _mm256_andnot_si256(d, c)), _mm256_and_si256(b, d))
#define V_H(t, b, c, d) V_ADD(t, _mm256_xor_si256(b, _mm256_xor_si256(c, d)))
#define V_I(t, b, c, d) V_ADD(t, _mm256_xor_si256(c, _mm256_or_si256(b, _mm256_xor_si256(d, ones))))
/* One step in each of the G registers.  a + X + T is ready before b; the
 * empty asm keeps GCC from reassociating the sum so that f(b, c, d) is
 * added first (a cycle more on the chain, 10% slower). */
#define V_STEP(f, a, b, c, d, w, i, s)                                                             \
	_Pragma("GCC unroll 2") for (int g_ = 0; g_ < G; g_++)                                     \
	{                                                                                          \
		__m256i t_ = V_ADD(                                                                \
			a[g_], V_ADD(m[g_][w],                                                     \
				     _mm256_load_si256((const __m256i *)(const void *)mb_kv[i]))); \
		__asm__("" : "+x"(t_));                                                            \
		t_ = V_##f(t_, b[g_], c[g_], d[g_]);                                               \
		a[g_] = V_ADD(V_ROTL(t_, s), b[g_]);                                               \
	}

/* mb_load: the sixteen words of the block at offset o of the eight lanes
 * p[0..8) into m[0..16), lane l in element l. */
MB_INLINE void
mb_load(__m256i m[16], const uint8_t *const p[8], size_t o)
{
#pragma GCC unroll 4
	for (int q = 0; q < 4; q++) {
		__m256i r[4], t[4];

#pragma GCC unroll 4
		for (int l = 0; l < 4; l++) {
			__m128i lo =
				_mm_loadu_si128((const __m128i *)(const void *)(p[l] + o + 16 * q));
			__m128i hi = _mm_loadu_si128(
				(const __m128i *)(const void *)(p[l + 4] + o + 16 * q));

			/* Lane l in the low half, lane l + 4 in the high one. */
			r[l] = _mm256_inserti128_si256(_mm256_castsi128_si256(lo), hi, 1);
		}
		t[0] = _mm256_unpacklo_epi32(r[0], r[1]);
		t[1] = _mm256_unpackhi_epi32(r[0], r[1]);
		t[2] = _mm256_unpacklo_epi32(r[2], r[3]);
		t[3] = _mm256_unpackhi_epi32(r[2], r[3]);
		m[4 * q + 0] = _mm256_unpacklo_epi64(t[0], t[2]);
		m[4 * q + 1] = _mm256_unpackhi_epi64(t[0], t[2]);
		m[4 * q + 2] = _mm256_unpacklo_epi64(t[1], t[3]);
		m[4 * q + 3] = _mm256_unpackhi_epi64(t[1], t[3]);
	}
}

/*
 * mb_blocks: compress n blocks of each of 8G lanes (G registers of eight,
 * G a constant after inlining): lane l's state is st[0..3][l] and its
 * blocks start at p[l].
 */
MB_INLINE void
mb_blocks(const int G, mb_lanes_t st[4], const uint8_t *const p[MD5_MB_LANES], size_t n)
{
	const __m256i ones = _mm256_set1_epi32(-1);
	const __m256i rot16 = _mm256_set_epi8(13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2,
					      13, 12, 15, 14, 9, 8, 11, 10, 5, 4, 7, 6, 1, 0, 3, 2);
	__m256i a[MD5_MB_LANES / 8], b[MD5_MB_LANES / 8], c[MD5_MB_LANES / 8], d[MD5_MB_LANES / 8];

#pragma GCC unroll 2
	for (int g = 0; g < G; g++) {
		a[g] = _mm256_loadu_si256((const __m256i *)(const void *)&st[0][8 * g]);
		b[g] = _mm256_loadu_si256((const __m256i *)(const void *)&st[1][8 * g]);
		c[g] = _mm256_loadu_si256((const __m256i *)(const void *)&st[2][8 * g]);
		d[g] = _mm256_loadu_si256((const __m256i *)(const void *)&st[3][8 * g]);
	}
	for (size_t o = 0; o < 64 * n; o += 64) {
		__m256i m[MD5_MB_LANES / 8][16], s0[4][MD5_MB_LANES / 8];

#pragma GCC unroll 2
		for (int g = 0; g < G; g++) {
			mb_load(m[g], p + 8 * g, o);
			s0[0][g] = a[g];
			s0[1][g] = b[g];
			s0[2][g] = c[g];
			s0[3][g] = d[g];
		}
		MB_STEPS(V_STEP)
#pragma GCC unroll 2
		for (int g = 0; g < G; g++) {
			a[g] = V_ADD(a[g], s0[0][g]);
			b[g] = V_ADD(b[g], s0[1][g]);
			c[g] = V_ADD(c[g], s0[2][g]);
			d[g] = V_ADD(d[g], s0[3][g]);
		}
	}
#pragma GCC unroll 2
	for (int g = 0; g < G; g++) {
		_mm256_storeu_si256((__m256i *)(void *)&st[0][8 * g], a[g]);
		_mm256_storeu_si256((__m256i *)(void *)&st[1][8 * g], b[g]);
		_mm256_storeu_si256((__m256i *)(void *)&st[2][8 * g], c[g]);
		_mm256_storeu_si256((__m256i *)(void *)&st[3][8 * g], d[g]);
	}
	/* GCC adds one itself at -O2 and up (two are harmless), not at -O0/-O1/-Os. */
	_mm256_zeroupper();
}

/* The kernels, one per register count.  Not inlined anywhere: they are the
 * only functions with YMM state, and each ends with VZEROUPPER. */
static MB_TARGET __attribute__((noinline)) void
mb_x8(mb_lanes_t st[4], const uint8_t *const p[MD5_MB_LANES], size_t n)
{
	mb_blocks(1, st, p, n);
}

static MB_TARGET __attribute__((noinline)) void
mb_x16(mb_lanes_t st[4], const uint8_t *const p[MD5_MB_LANES], size_t n)
{
	mb_blocks(2, st, p, n);
}

/* ---- Jobs in lanes ----------------------------------------------------- */

/* A job being hashed: its current run of blocks, the run after it, and
 * the bytes that will be left over for the buffer. */
struct mb_lane {
	struct md5_mb_state *st;
	const uint8_t *p;
	size_t left; /* blocks in the run at p */
	const uint8_t *next;
	size_t nnext;
	const uint8_t *tail;
	size_t ntail;
};

/* mb_lane_next: called when a lane's run is done; moves on to the next
 * run and returns true, or files the leftover bytes and returns false. */
static bool
mb_lane_next(struct mb_lane *ln)
{
	while (ln->left == 0) {
		if (ln->nnext == 0) {
			if (ln->ntail > 0)
				memcpy(ln->st->buf, ln->tail, ln->ntail);
			ln->st->buflen = ln->ntail;
			return false;
		}
		ln->p = ln->next;
		ln->left = ln->nnext;
		ln->nnext = 0;
	}
	return true;
}

/* mb_lane_start: set up job j in ln; returns false if it is already done
 * (it had no complete block). */
static bool
mb_lane_start(struct mb_lane *ln, const struct md5_mb_job *j)
{
	struct md5_mb_state *s = j->st;
	const uint8_t *d = j->data;
	size_t len = j->len;

	if (len == 0)
		return false;
	s->len += len;
	*ln = (struct mb_lane){.st = s, .p = d, .left = len / 64};
	if (s->buflen > 0) {
		size_t need = 64 - s->buflen;

		if (len < need) {
			memcpy(s->buf + s->buflen, d, len);
			s->buflen += len;
			return false;
		}
		memcpy(s->buf + s->buflen, d, need);
		s->buflen = 0;
		d += need;
		len -= need;
		*ln = (struct mb_lane){
			.st = s, .p = s->buf, .left = 1, .next = d, .nnext = len / 64};
	}
	ln->tail = d + len - len % 64;
	ln->ntail = len % 64;
	return mb_lane_next(ln);
}

/* mb_lane_scalar: finish ln's job with the scalar code. */
static void
mb_lane_scalar(struct mb_lane *ln)
{
	do {
		mb_scalar(ln->st->h, ln->p, ln->left);
		ln->left = 0;
	} while (mb_lane_next(ln));
}

/* mb_many: md5_mb_update_many on the AVX2 path, the lanes handed to the
 * scalar code once fewer than min_lanes have blocks and no job waits. */
static void
mb_many(const struct md5_mb_job *jobs, size_t n, int min_lanes)
{
	struct mb_lane ln[MD5_MB_LANES];
	mb_lanes_t st[4];
	const uint8_t *p[MD5_MB_LANES];
	size_t next = 0;
	int L = 0;

	for (;;) {
		size_t run = SIZE_MAX;
		int width;

		while (L < MD5_MB_LANES && next < n)
			if (mb_lane_start(&ln[L], &jobs[next++]))
				L++;
		if (L == 0)
			return;
		if (L < min_lanes) {
			for (int i = 0; i < L; i++)
				mb_lane_scalar(&ln[i]);
			return;
		}
		width = L > 8 ? 16 : 8;
		for (int l = 0; l < width; l++) {
			const struct mb_lane *src = &ln[l < L ? l : 0];

			for (int w = 0; w < 4; w++)
				st[w][l] = src->st->h[w];
			p[l] = src->p;
			if (src->left < run)
				run = src->left;
		}
		if (width == 16)
			mb_x16(st, p, run);
		else
			mb_x8(st, p, run);
		mb_count.vector_runs++;
		mb_count.lane_blocks += run * (uint64_t)L;
		for (int l = 0; l < L; l++) {
			for (int w = 0; w < 4; w++)
				ln[l].st->h[w] = st[w][l];
			ln[l].p += 64 * run;
			ln[l].left -= run;
		}
		for (int l = 0; l < L;) {
			if (ln[l].left == 0 && !mb_lane_next(&ln[l]))
				ln[l] = ln[--L];
			else
				l++;
		}
	}
}

/* ---- The interface ------------------------------------------------------ */

void
md5_mb_init(struct md5_mb_state *s)
{
	s->h[0] = 0x67452301;
	s->h[1] = 0xefcdab89;
	s->h[2] = 0x98badcfe;
	s->h[3] = 0x10325476;
	s->len = 0;
	s->buflen = 0;
}

void
md5_mb_update(struct md5_mb_state *s, const void *data, size_t len)
{
	struct md5_mb_job j = {s, data, len};
	struct mb_lane ln;

	if (mb_lane_start(&ln, &j))
		mb_lane_scalar(&ln);
}

void
md5_mb_update_many(struct md5_mb_job *jobs, size_t n)
{
	switch (atomic_load_explicit(&mb_path, memory_order_relaxed)) {
	case MD5_MB_PATH_SCALAR:
		break;
	case MD5_MB_PATH_LANES:
		if (md5_mb_avx2_usable()) {
			mb_many(jobs, n, 1);
			return;
		}
		break;
	default:
		if (n >= MB_MIN_LANES && md5_mb_avx2_usable()) {
			mb_many(jobs, n, MB_MIN_LANES);
			return;
		}
		break;
	}
	for (size_t i = 0; i < n; i++)
		md5_mb_update(jobs[i].st, jobs[i].data, jobs[i].len);
}

void
md5_mb_final(struct md5_mb_state *s, uint8_t out[16])
{
	uint64_t bits = s->len * 8;
	size_t n = s->buflen;

	s->buf[n++] = 0x80;
	if (n > 56) {
		memset(s->buf + n, 0, 64 - n);
		mb_scalar(s->h, s->buf, 1);
		n = 0;
	}
	memset(s->buf + n, 0, 56 - n);
	for (int i = 0; i < 8; i++)
		s->buf[56 + i] = (uint8_t)(bits >> (8 * i));
	mb_scalar(s->h, s->buf, 1);
	for (int w = 0; w < 4; w++)
		for (int i = 0; i < 4; i++)
			out[4 * w + i] = (uint8_t)(s->h[w] >> (8 * i));
	s->buflen = 0;
}

void
md5_mb_set_path(enum md5_mb_path p)
{
	atomic_store_explicit(&mb_path, (int)p, memory_order_relaxed);
}

void
md5_mb_counters(struct md5_mb_counters *out)
{
	*out = mb_count;
}

/* ---- The self-check ---------------------------------------------------- */

/* mb_cpu: CPUID says AVX2, and the OS saves the YMM state. */
static bool
mb_cpu(void)
{
	unsigned c1, b7, c7;

	return cpu_avx(&c1, &b7, &c7) && (b7 & bit_AVX2) != 0;
}

/* mb_kat_msg: the self-check's long message, byte i of it. */
static uint8_t
mb_kat_byte(size_t i)
{
	return (uint8_t)((i * 167 + 13) ^ (i >> 8));
}

/*
 * mb_kat: RFC 1321 A.5's seven vectors through the scalar code, then, for
 * every lane count 1..8 and for eleven jobs (so lanes are refilled), lane
 * l hashing a prefix of a longer message (known answers from OpenSSL) in
 * two updates: prefixes of different lengths make the lanes regroup, and
 * the first update's leftover makes the buffered-block run.
 */
static bool
mb_kat(void)
{
	static const char *const rfc[7] = {
		"",
		"a",
		"abc",
		"message digest",
		"abcdefghijklmnopqrstuvwxyz",
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
		("1234567890123456789012345678901234567890123456789012345678901234567890123456789"
		 "0"),
	};
	static const uint8_t rfc_md5[7][16] = {
		{0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04, 0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8,
		 0x42, 0x7e},
		{0x0c, 0xc1, 0x75, 0xb9, 0xc0, 0xf1, 0xb6, 0xa8, 0x31, 0xc3, 0x99, 0xe2, 0x69, 0x77,
		 0x26, 0x61},
		{0x90, 0x01, 0x50, 0x98, 0x3c, 0xd2, 0x4f, 0xb0, 0xd6, 0x96, 0x3f, 0x7d, 0x28, 0xe1,
		 0x7f, 0x72},
		{0xf9, 0x6b, 0x69, 0x7d, 0x7c, 0xb7, 0x93, 0x8d, 0x52, 0x5a, 0x2f, 0x31, 0xaa, 0xf1,
		 0x61, 0xd0},
		{0xc3, 0xfc, 0xd3, 0xd7, 0x61, 0x92, 0xe4, 0x00, 0x7d, 0xfb, 0x49, 0x6c, 0xca, 0x67,
		 0xe1, 0x3b},
		{0xd1, 0x74, 0xab, 0x98, 0xd2, 0x77, 0xd9, 0xf5, 0xa5, 0x61, 0x1c, 0x2c, 0x9f, 0x41,
		 0x9d, 0x9f},
		{0x57, 0xed, 0xf4, 0xa2, 0x2b, 0xe3, 0xc9, 0x55, 0xac, 0x49, 0xda, 0x2e, 0x21, 0x07,
		 0xb6, 0x7a},
	};
	static const size_t plen[8] = {64, 100, 129, 320, 511, 577, 1000, 1283};
	static const uint8_t pmd5[8][16] = {
		{0x07, 0x41, 0xd4, 0x19, 0x64, 0x78, 0x88, 0x4c, 0x19, 0xbf, 0x23, 0x9a, 0xb5, 0x44,
		 0x2e, 0x2f},
		{0x27, 0xb8, 0xce, 0x8f, 0x42, 0x3a, 0x16, 0x6a, 0xfa, 0x8a, 0xe1, 0x7c, 0xb2, 0x0e,
		 0xca, 0x52},
		{0xbe, 0x04, 0xc2, 0x54, 0xe9, 0x0b, 0x4c, 0x57, 0x26, 0x85, 0xa0, 0x2d, 0x1a, 0x10,
		 0xdb, 0x90},
		{0xf2, 0x6e, 0x8e, 0x90, 0x2a, 0x49, 0x54, 0xe3, 0x73, 0x04, 0xdd, 0x6e, 0xac, 0x11,
		 0xda, 0x87},
		{0xd8, 0x95, 0xb0, 0xbf, 0xf2, 0x5f, 0x78, 0xab, 0xc0, 0xfe, 0xf8, 0xe6, 0x30, 0xf6,
		 0x17, 0x61},
		{0xbb, 0x7b, 0xe4, 0x4e, 0x48, 0xba, 0x4a, 0x4c, 0xef, 0xc9, 0x63, 0x4e, 0x26, 0xa4,
		 0x04, 0x0f},
		{0x72, 0x39, 0xd1, 0x0a, 0xdf, 0x48, 0xf8, 0x81, 0x3f, 0x30, 0x05, 0xd9, 0x3e, 0x1d,
		 0x6e, 0xc3},
		{0xbb, 0x91, 0x9e, 0x86, 0xb8, 0xb0, 0xc2, 0x84, 0x81, 0x65, 0x40, 0xcc, 0xad, 0xe2,
		 0x46, 0xf6},
	};
	enum { JOBS_MAX = MD5_MB_LANES + 3 };
	static uint8_t msg[1283];
	struct md5_mb_state s[JOBS_MAX];
	struct md5_mb_job jobs[JOBS_MAX];
	uint8_t out[16];
	bool ok = true;

	for (int i = 0; i < 7; i++) {
		md5_mb_init(&s[0]);
		md5_mb_update(&s[0], rfc[i], strlen(rfc[i]));
		md5_mb_final(&s[0], out);
		ok &= memcmp(out, rfc_md5[i], 16) == 0; /* ct-ok: public test vectors */
	}
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = mb_kat_byte(i);
	for (int n = 1; n <= JOBS_MAX; n++) {
		if (n > MD5_MB_LANES && n < JOBS_MAX)
			continue;
		for (int half = 0; half < 2; half++) {
			for (int l = 0; l < n; l++) {
				size_t len = plen[l % 8], cut = (size_t)(13 * l + 5) % len;

				if (half == 0)
					md5_mb_init(&s[l]);
				jobs[l] = (struct md5_mb_job){&s[l], msg + (half ? cut : 0),
							      half ? len - cut : cut};
			}
			mb_many(jobs, (size_t)n, 1);
		}
		for (int l = 0; l < n; l++) {
			md5_mb_final(&s[l], out);
			ok &= memcmp(out, pmd5[l % 8], 16) == 0; /* ct-ok: public test vectors */
		}
	}
	return ok;
}

static bool mb_ok;
static pthread_once_t mb_once = PTHREAD_ONCE_INIT;

static void
mb_init_once(void)
{
	struct md5_mb_counters saved = mb_count;

	mb_ok = mb_cpu() && mb_kat();
	mb_count = saved;
}

bool
md5_mb_avx2_usable(void)
{
	pthread_once(&mb_once, mb_init_once);
	return mb_ok;
}
