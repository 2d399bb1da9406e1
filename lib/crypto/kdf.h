/*
 * kdf: HKDF-SHA-256 (RFC 5869), the one key-derivation function of the
 * library.  Every derived key is named by a distinct info string; see
 * docs/FORMAT.md for the list.
 */
#ifndef CS_KDF_H
#define CS_KDF_H

#include <stddef.h>
#include <stdint.h>

/*
 * kdf_hkdf_sha256(out, outlen, ikm, ikmlen, salt, saltlen, info, infolen):
 * write outlen (1..8160) bytes of HKDF-SHA-256 output to out.  salt and info
 * may be NULL when their length is 0.  Returns 0, CS_EINVAL or CS_ECRYPTO.
 */
int kdf_hkdf_sha256(uint8_t *out, size_t outlen, const uint8_t *ikm, size_t ikmlen,
		    const uint8_t *salt, size_t saltlen, const uint8_t *info, size_t infolen)
	__attribute__((warn_unused_result));

#endif /* CS_KDF_H */
