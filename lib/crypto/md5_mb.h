/*
 * md5_mb: MD5 (RFC 1321) of many independent streams at once, up to 16 in
 * lock-step in the 32-bit lanes of one or two AVX2 registers.
 *
 * MD5 is one dependent chain per message: a single stream runs at the
 * chain's latency (~0.65 GB/s per core), the largest CPU cost of a PUT
 * (the S3 ETag is the MD5 of the plaintext).  Independent streams fill the
 * other lanes of a vector register for free, so concurrent uploads hashed
 * together cost a fraction of the CPU per byte.  md5_shared gathers the
 * concurrent updates; this module is the kernel and the per-stream state.
 *
 * A state holds no secret (a digest of data that is stored anyway); the
 * plaintext bytes of a partial block sit in buf until the next update.
 * Every function is safe to call from any thread for distinct states; the
 * AVX2 code is used only where md5_mb_avx2_usable() is true, the portable C
 * compression everywhere else.
 */
#ifndef CS_MD5_MB_H
#define CS_MD5_MB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MD5_MB_LANES 16 /* streams compressed in lock-step at most: two registers */

/* An incremental MD5 of one stream. */
struct md5_mb_state {
	uint32_t h[4];   /* the chaining value */
	uint64_t len;    /* bytes so far */
	uint8_t buf[64]; /* bytes of the partial block */
	size_t buflen;   /* 0..63 */
};

/* One update: append data[0..len) to *st. */
struct md5_mb_job {
	struct md5_mb_state *st;
	const uint8_t *data;
	size_t len;
};

/* md5_mb_init(s): the state of the empty message. */
void md5_mb_init(struct md5_mb_state *s);

/*
 * md5_mb_update_many(jobs, n): apply every job (the jobs themselves are not
 * changed).  The states must be distinct; a job's data must not overlap any
 * state.  Up to MD5_MB_LANES streams are compressed in lock-step, a lane
 * that finishes taking the next job, as long as two or more lanes have
 * blocks left; the rest go through the scalar compression.  Per core, 8
 * streams hash at ~5.5 times one stream's speed, 16 at ~7 times: callers
 * that can should offer 16 jobs or more, with equal lengths.
 */
void md5_mb_update_many(struct md5_mb_job *jobs, size_t n);

/* md5_mb_update(s, data, len): append data[0..len) to *s (scalar path). */
void md5_mb_update(struct md5_mb_state *s, const void *data, size_t len);

/* md5_mb_final(s, out): the digest of everything appended to *s; s is
 * then spent (md5_mb_init it again to reuse it). */
void md5_mb_final(struct md5_mb_state *s, uint8_t out[16]);

/* md5_mb_avx2_usable(): true if the CPU and OS run AVX2 and the lane code
 * passed known answers (RFC 1321's and longer messages') through every
 * lane count and a lane refill (checked once). */
bool md5_mb_avx2_usable(void);

/*
 * For tests and benchmarks.  md5_mb_set_path(p): how every later
 * md5_mb_update_many() of the process hashes: MD5_MB_PATH_AUTO (the default:
 * AVX2 lanes where usable and worth it), MD5_MB_PATH_SCALAR (always the scalar
 * code) or MD5_MB_PATH_LANES (the AVX2 lanes, if usable, even for one
 * stream).  md5_mb_counters(out): what the calling thread has compressed so
 * far, by path.
 */
enum md5_mb_path { MD5_MB_PATH_AUTO, MD5_MB_PATH_SCALAR, MD5_MB_PATH_LANES };
struct md5_mb_counters {
	uint64_t lane_blocks;   /* blocks of real streams compressed in AVX2 lanes */
	uint64_t vector_runs;   /* AVX2 kernel calls */
	uint64_t scalar_blocks; /* blocks compressed by the scalar code (all calls) */
};
void md5_mb_set_path(enum md5_mb_path p);
void md5_mb_counters(struct md5_mb_counters *out);

#endif /* CS_MD5_MB_H */
