/*
 * suite: the two encryption suites a stored object can use, and the shape
 * of one sealed record.
 *
 *   aes-256-cbc-hmac-sha256 (id 1, the default): AES-256-CBC with a random
 *     16-byte IV, then HMAC-SHA-256 over AAD || IV || ciphertext
 *     (encrypt-then-MAC, full 32-byte tag).  The final record of an object is
 *     padded PKCS#7-style; every other record is a whole number of blocks and
 *     is not padded.
 *   aes-256-gcm (id 2): AES-256-GCM with a random 12-byte nonce, the AAD as
 *     GCM additional data, a 16-byte tag, no padding.
 *
 * A record in memory is one contiguous buffer
 *     [ aad (aad_len) | iv (iv_len) | text (len, + padding) | tag (tag_len) ]
 * so that the one-pass engines can MAC AAD, IV and ciphertext without a copy.
 * Only iv..tag is stored; the AAD is rebuilt by the reader.
 */
#ifndef CS_SUITE_H
#define CS_SUITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum suite_id {
	SUITE_CBC_HMAC_SHA256 = 1,
	SUITE_AES_256_GCM = 2,
};

#define SUITE_KEY_LEN 32 /* every suite uses AES-256 and 256-bit MAC keys */
#define SUITE_IV_MAX  16
#define SUITE_TAG_MAX 32
#define SUITE_PAD_MAX 16 /* the most padding a final record can gain */

struct suite_info {
	enum suite_id id;
	const char *name;
	size_t iv_len;
	size_t tag_len;
	bool padded; /* final record padded to the block size (CBC) */
	bool has_mac_key;
};

/* suite_by_id(id): the suite with that id, or NULL. */
const struct suite_info *suite_by_id(unsigned id);

/* suite_by_name(name): the suite with that name (as in suite_info.name), or NULL. */
const struct suite_info *suite_by_name(const char *name);

/* suite_default(): aes-256-cbc-hmac-sha256. */
const struct suite_info *suite_default(void);

/*
 * suite_sealed_len(s, len, final): bytes the record stores (iv + ciphertext
 * + tag) for len bytes of plaintext.  Non-final CBC records must have len a
 * multiple of 16; this function does not check that.
 */
size_t suite_sealed_len(const struct suite_info *s, size_t len, bool final);

#endif /* CS_SUITE_H */
