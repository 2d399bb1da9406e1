/*
 * cbc_vaes: AES-256-CBC encryption of up to 16 independent messages at
 * once with VAES on 256-bit registers (two AES blocks per instruction).
 *
 * CBC encryption is a chain: each block waits for the previous one, so one
 * message runs at the AES round latency.  Sixteen messages in eight
 * registers keep both AES units busy; intel-ipsec-mb 1.3 has such lanes only
 * in its AVX-512 code, and its AVX2 code runs eight 128-bit lanes.  The
 * multi-buffer engine uses this for sealing CBC records; CBC decryption is
 * parallel within a message and stays with ipsec-mb.
 *
 * Every function here except cbc_vaes_usable() requires cbc_vaes_usable().
 */
#ifndef CS_CBC_VAES_H
#define CS_CBC_VAES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CBC_VAES_LANES 16 /* messages encrypted in lock-step at most */

/* One message: nblocks 16-byte blocks from src to dst (dst == src, or no
 * overlap) under the AES-256 encryption schedule sched, IV iv. */
struct cbc_vaes_job {
	const uint8_t *sched; /* 15 round keys, 240 bytes (AES-NI layout) */
	const uint8_t *iv;    /* 16 bytes */
	const uint8_t *src;
	uint8_t *dst;
	size_t nblocks;
};

/* cbc_vaes_usable(): true if this CPU (and OS) runs AVX2 with VAES and the
 * code here passed SP 800-38A F.2.5 on it (checked once). */
bool cbc_vaes_usable(void);

/* cbc_vaes_encrypt_many(jobs, n): encrypt every job; messages may differ in
 * key and length. */
void cbc_vaes_encrypt_many(const struct cbc_vaes_job *jobs, size_t n);

#endif /* CS_CBC_VAES_H */
