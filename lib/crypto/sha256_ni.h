/*
 * sha256_ni: HMAC-SHA-256 of many independent messages at once with the x86
 * SHA extensions (SHA-NI).
 *
 * One SHA256RNDS2 instruction does two rounds but its result is needed by
 * the next one, so a single message runs at the instruction's latency (about
 * three times its issue interval on AMD Zen 3).  Hashing 2-4 independent
 * messages in lock-step fills that gap; intel-ipsec-mb 1.3 interleaves at
 * most two.  The multi-buffer engine uses this for the MAC of CBC records.
 *
 * Keys are prepared once (sha256_ni_hmac_key) into the two SHA-256 states
 * after the key^ipad and key^opad blocks; they are key-equivalent secrets and
 * belong in secure memory.  Every function here except sha256_ni_usable()
 * requires sha256_ni_usable() to be true.
 */
#ifndef CS_SHA256_NI_H
#define CS_SHA256_NI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_NI_LANES_MAX 4 /* messages hashed in lock-step at most */

/* A prepared HMAC-SHA-256 key: the states after key^ipad and key^opad. */
struct sha256_ni_key {
	uint32_t istate[8];
	uint32_t ostate[8];
};

/* One message to authenticate: tag = HMAC(key, msg[0..len)). */
struct sha256_ni_job {
	const struct sha256_ni_key *key;
	const uint8_t *msg;
	size_t len;
	uint8_t *tag; /* 32 bytes out */
};

/* sha256_ni_usable(): true if this CPU has SHA-NI, SSSE3 and SSE4.1 and the
 * code here passed a known-answer check on it (checked once). */
bool sha256_ni_usable(void);

/* sha256_ni_digest(msg, len, out): plain SHA-256 of msg. */
void sha256_ni_digest(const uint8_t *msg, size_t len, uint8_t out[32]);

/* sha256_ni_hmac_key(k, key, keylen): prepare k from a key of any length. */
void sha256_ni_hmac_key(struct sha256_ni_key *k, const uint8_t *key, size_t keylen);

/*
 * sha256_ni_hmac_many(jobs, n, lanes): compute the n jobs' tags, hashing up
 * to `lanes` (1..SHA256_NI_LANES_MAX; others are clamped) messages in
 * lock-step.  Messages may differ in key and length.  A tag may overlap no
 * message of the batch.
 */
void sha256_ni_hmac_many(const struct sha256_ni_job *jobs, size_t n, unsigned lanes);

#endif /* CS_SHA256_NI_H */
