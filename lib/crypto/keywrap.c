/*
 * keywrap: RFC 5649 AES key wrap with padding through OpenSSL's
 * id-aes{128,192,256}-wrap-pad ciphers.
 */
#include "keywrap.h"
#include "util/err.h"
#include "util/secmem.h"

#include <openssl/evp.h>

size_t
keywrap_len(size_t inlen)
{
	return (inlen + 7) / 8 * 8 + KEYWRAP_OVERHEAD;
}

static const EVP_CIPHER *
keywrap_cipher(size_t keklen)
{
	switch (keklen) {
	case 16:
		return EVP_aes_128_wrap_pad();
	case 24:
		return EVP_aes_192_wrap_pad();
	case 32:
		return EVP_aes_256_wrap_pad();
	default:
		return NULL;
	}
}

/* keywrap_run: one EVP pass in direction enc; returns output length or error. */
static long
keywrap_run(int enc, const uint8_t *kek, size_t keklen, const uint8_t *in, size_t inlen,
	    uint8_t *out)
{
	const EVP_CIPHER *cipher = keywrap_cipher(keklen);
	EVP_CIPHER_CTX *ctx;
	int outl = 0, finl = 0;
	long rc = enc ? CS_ECRYPTO : CS_EAUTH;

	if (cipher == NULL)
		return CS_EINVAL;
	if ((ctx = EVP_CIPHER_CTX_new()) == NULL)
		return CS_ENOMEM;
	EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_CipherInit_ex(ctx, cipher, NULL, kek, NULL, enc) != 1) {
		rc = CS_ECRYPTO;
		goto err0;
	}
	if (EVP_CipherUpdate(ctx, out, &outl, in, (int)inlen) != 1 || outl < 0)
		goto err0;
	if (EVP_CipherFinal_ex(ctx, out + outl, &finl) != 1)
		goto err0;
	rc = (long)outl + finl;
err0:
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

long
keywrap_wrap(const uint8_t *kek, size_t keklen, const uint8_t *in, size_t inlen, uint8_t *out,
	     size_t outsz)
{
	long n;

	if (kek == NULL || in == NULL || out == NULL || inlen == 0 || inlen > KEYWRAP_MAX_IN)
		return CS_EINVAL;
	if (outsz < keywrap_len(inlen))
		return CS_ERANGE;
	n = keywrap_run(1, kek, keklen, in, inlen, out);
	if (n >= 0 && (size_t)n != keywrap_len(inlen))
		return CS_ECRYPTO;
	return n;
}

long
keywrap_unwrap(const uint8_t *kek, size_t keklen, const uint8_t *in, size_t inlen, uint8_t *out,
	       size_t outsz)
{
	long n;

	if (kek == NULL || in == NULL || out == NULL)
		return CS_EINVAL;
	if (inlen < 16 || inlen % 8 != 0 || inlen > keywrap_len(KEYWRAP_MAX_IN))
		return CS_EAUTH;
	/* OpenSSL writes up to inlen - 8 bytes before it knows the real length. */
	if (outsz < inlen - KEYWRAP_OVERHEAD)
		return CS_ERANGE;
	n = keywrap_run(0, kek, keklen, in, inlen, out);
	if (n < 0)
		secmem_wipe(out, inlen - KEYWRAP_OVERHEAD);
	return n;
}
