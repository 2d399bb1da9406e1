/*
 * kdf: HKDF-SHA-256 through OpenSSL's EVP_KDF.
 */
#include "kdf.h"
#include "util/err.h"

#include <pthread.h>

#include <openssl/core_names.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

static EVP_KDF *kdf_hkdf;
static pthread_once_t kdf_once = PTHREAD_ONCE_INIT;

static void
kdf_fetch(void)
{
	kdf_hkdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
}

int
kdf_hkdf_sha256(uint8_t *out, size_t outlen, const uint8_t *ikm, size_t ikmlen, const uint8_t *salt,
		size_t saltlen, const uint8_t *info, size_t infolen)
{
	static const uint8_t empty[1];
	OSSL_PARAM params[5], *p = params;
	EVP_KDF_CTX *ctx;
	int rc = CS_ECRYPTO;

	if (out == NULL || outlen == 0 || outlen > 255 * 32 || (ikm == NULL && ikmlen > 0) ||
	    (salt == NULL && saltlen > 0) || (info == NULL && infolen > 0))
		return CS_EINVAL;
	pthread_once(&kdf_once, kdf_fetch);
	if (kdf_hkdf == NULL)
		return CS_ECRYPTO;
	if ((ctx = EVP_KDF_CTX_new(kdf_hkdf)) == NULL)
		return CS_ENOMEM;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)(uintptr_t) "SHA256",
						0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)(uintptr_t)(ikm ? ikm : empty), ikmlen);
	if (saltlen > 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
							 (void *)(uintptr_t)salt, saltlen);
	if (infolen > 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
							 (void *)(uintptr_t)info, infolen);
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, out, outlen, params) == 1)
		rc = 0;
	EVP_KDF_CTX_free(ctx);
	return rc;
}
