/*
 * aes_portable: a table-based AES (FIPS-197) with CBC mode, in plain C.
 *
 * This is the paper's "consolidated aes.h": one self-contained cipher that
 * compiles unchanged in user space and in a Linux kernel module, so that the
 * user-space and kernel-space loops of the aestest experiment run the same
 * code.  It uses no AES-NI, no SIMD and no C library function; in the
 * kernel it includes <linux/types.h>, elsewhere <stdint.h> and <stddef.h>.
 *
 * It is a benchmark subject, not the project's cipher: table lookups indexed
 * by secret bytes leak timing through the cache, which is exactly why the
 * library uses AES-NI (OpenSSL, ipsec-mb) and never this code.
 *
 * Invariants: a key is read-only after aes_portable_set_*_key(), so one key
 * may serve any number of threads; the CBC functions take whole blocks only
 * and may work in place (in == out).
 */
#ifndef AES_PORTABLE_H
#define AES_PORTABLE_H

#ifdef __KERNEL__
#include <linux/types.h>
#else
#include <stddef.h>
#include <stdint.h>
#endif

#define AES_PORTABLE_BLOCK      16
#define AES_PORTABLE_MAX_ROUNDS 14

/* An expanded key: the round keys as big-endian words, for one direction. */
struct aes_portable_key {
	uint32_t rk[4 * (AES_PORTABLE_MAX_ROUNDS + 1)];
	int rounds;
};

/*
 * aes_portable_set_encrypt_key(k, key, bits): expand the bits-bit key (128,
 * 192 or 256) at key into k for encryption.  Returns 0, or -1 if bits is not
 * a valid AES key size (k is then left untouched).
 */
int aes_portable_set_encrypt_key(struct aes_portable_key *k, const uint8_t *key, unsigned bits);

/*
 * aes_portable_set_decrypt_key(k, key, bits): as above, for decryption (the
 * equivalent inverse cipher's schedule).  Returns 0 or -1.
 */
int aes_portable_set_decrypt_key(struct aes_portable_key *k, const uint8_t *key, unsigned bits);

/* aes_portable_encrypt_block(k, in, out): one block; in may equal out. */
void aes_portable_encrypt_block(const struct aes_portable_key *k, const uint8_t *in, uint8_t *out);

/* aes_portable_decrypt_block(k, in, out): one block with a decryption key. */
void aes_portable_decrypt_block(const struct aes_portable_key *k, const uint8_t *in, uint8_t *out);

/*
 * aes_portable_cbc_encrypt(k, iv, in, out, len): CBC-encrypt len bytes (a
 * multiple of 16) from in to out with the encryption key k.  iv is the
 * 16-byte chaining value: it is read, and on return holds the last
 * ciphertext block, so consecutive calls continue one CBC stream.  No
 * padding is added.  Returns 0, or -1 if len is not a multiple of 16
 * (nothing is written then).
 */
int aes_portable_cbc_encrypt(const struct aes_portable_key *k, uint8_t *iv, const uint8_t *in,
			     uint8_t *out, size_t len);

/*
 * aes_portable_cbc_decrypt(k, iv, in, out, len): the inverse, with the
 * decryption key k; iv is updated the same way (to the last ciphertext
 * block read).  Returns 0 or -1 as above.
 */
int aes_portable_cbc_decrypt(const struct aes_portable_key *k, uint8_t *iv, const uint8_t *in,
			     uint8_t *out, size_t len);

#endif /* AES_PORTABLE_H */
