/*
 * keywrap: AES key wrap with padding (RFC 5649, "KWP", NIST SP 800-38F),
 * the scheme that seals every object's data-encryption key under its
 * level's key-encryption key.  A wrapped key is 8 bytes longer than the key
 * rounded up to 8 bytes; unwrapping checks the RFC's integrity value, so a
 * wrong KEK or any changed bit fails with CS_EAUTH.
 */
#ifndef CS_KEYWRAP_H
#define CS_KEYWRAP_H

#include <stddef.h>
#include <stdint.h>

#define KEYWRAP_OVERHEAD 8
#define KEYWRAP_MAX_IN   4096

/* keywrap_len(inlen): the wrapped length of an inlen-byte key. */
size_t keywrap_len(size_t inlen);

/*
 * keywrap_wrap(kek, keklen, in, inlen, out, outsz): wrap inlen (1..4096)
 * bytes under a 16, 24 or 32-byte kek.  Returns the wrapped length
 * (keywrap_len(inlen)), or CS_EINVAL / CS_ERANGE (outsz too small) /
 * CS_ECRYPTO.
 */
long keywrap_wrap(const uint8_t *kek, size_t keklen, const uint8_t *in, size_t inlen, uint8_t *out,
		  size_t outsz) __attribute__((warn_unused_result));

/*
 * keywrap_unwrap(kek, keklen, in, inlen, out, outsz): unwrap into out (which
 * should be secure memory).  Returns the key length, CS_EAUTH if the
 * integrity check fails, CS_EINVAL / CS_ERANGE for bad lengths.  On failure
 * out is wiped.
 */
long keywrap_unwrap(const uint8_t *kek, size_t keklen, const uint8_t *in, size_t inlen,
		    uint8_t *out, size_t outsz) __attribute__((warn_unused_result));

#endif /* CS_KEYWRAP_H */
