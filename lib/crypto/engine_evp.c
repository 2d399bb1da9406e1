/*
 * engine_evp: the reference engine, OpenSSL EVP one record at a time.
 *
 * Cipher and MAC contexts are cached per key (by engine_key.serial) so that
 * a stream of records under one key pays for the key schedule once, as
 * `openssl speed -evp` does.
 */
#include "engine.h"
#include "util/err.h"
#include "util/secmem.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/params.h>

enum { EVP_CBC_ENC, EVP_CBC_DEC, EVP_GCM_ENC, EVP_GCM_DEC, EVP_NCTX };

struct engine_evp {
	EVP_CIPHER_CTX *ctx[EVP_NCTX];
	uint64_t ctx_serial[EVP_NCTX];
	EVP_MAC *mac;
	EVP_MAC_CTX *mctx;
	uint64_t mac_serial;
};

int
engine_evp_new(struct engine_evp **out)
{
	struct engine_evp *ev;

	*out = NULL;
	if ((ev = calloc(1, sizeof(*ev))) == NULL)
		return CS_ENOMEM;
	for (int i = 0; i < EVP_NCTX; i++)
		if ((ev->ctx[i] = EVP_CIPHER_CTX_new()) == NULL)
			goto err;
	if ((ev->mac = EVP_MAC_fetch(NULL, "HMAC", NULL)) == NULL)
		goto err;
	if ((ev->mctx = EVP_MAC_CTX_new(ev->mac)) == NULL)
		goto err;
	*out = ev;
	return 0;
err:
	engine_evp_free(ev);
	return CS_ENOMEM;
}

void
engine_evp_free(struct engine_evp *ev)
{
	if (ev == NULL)
		return;
	for (int i = 0; i < EVP_NCTX; i++)
		EVP_CIPHER_CTX_free(ev->ctx[i]);
	EVP_MAC_CTX_free(ev->mctx);
	EVP_MAC_free(ev->mac);
	free(ev);
}

/* evp_cipher_init: (re)initialise context slot for key k with iv. */
static int
evp_cipher_init(struct engine_evp *ev, int slot, const struct engine_key *k, const uint8_t *iv)
{
	EVP_CIPHER_CTX *ctx = ev->ctx[slot];
	int enc = slot == EVP_CBC_ENC || slot == EVP_GCM_ENC;

	if (ev->ctx_serial[slot] != k->serial) {
		const EVP_CIPHER *c = slot <= EVP_CBC_DEC ? EVP_aes_256_cbc() : EVP_aes_256_gcm();

		ev->ctx_serial[slot] = 0;
		if (EVP_CipherInit_ex(ctx, c, NULL, k->enc, iv, enc) != 1)
			return -1;
		if (slot <= EVP_CBC_DEC)
			EVP_CIPHER_CTX_set_padding(ctx, 0);
		ev->ctx_serial[slot] = k->serial;
		return 0;
	}
	return EVP_CipherInit_ex(ctx, NULL, NULL, NULL, iv, enc) == 1 ? 0 : -1;
}

/* evp_mac: HMAC-SHA-256 of msg under k->mac into out. */
static int
evp_mac(struct engine_evp *ev, const struct engine_key *k, const uint8_t *msg, size_t len,
	uint8_t out[32])
{
	size_t outl = 0;

	if (ev->mac_serial != k->serial) {
		OSSL_PARAM params[2];

		params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
							     (char *)(uintptr_t) "SHA256", 0);
		params[1] = OSSL_PARAM_construct_end();
		ev->mac_serial = 0;
		if (EVP_MAC_init(ev->mctx, k->mac, SUITE_KEY_LEN, params) != 1)
			return -1;
		ev->mac_serial = k->serial;
	} else if (EVP_MAC_init(ev->mctx, NULL, 0, NULL) != 1) {
		return -1;
	}
	if (EVP_MAC_update(ev->mctx, msg, len) != 1 ||
	    EVP_MAC_final(ev->mctx, out, &outl, 32) != 1 || outl != 32)
		return -1;
	return 0;
}

static void
evp_cbc_seal(struct engine_evp *ev, struct engine_rec *r)
{
	uint8_t *iv = r->buf + r->aad_len, *text = iv + 16;
	int outl = 0;

	if (evp_cipher_init(ev, EVP_CBC_ENC, r->key, iv) != 0 ||
	    EVP_EncryptUpdate(ev->ctx[EVP_CBC_ENC], text, &outl, text, (int)r->len) != 1 ||
	    (size_t)outl != r->len ||
	    evp_mac(ev, r->key, r->buf, r->aad_len + 16 + r->len, text + r->len) != 0)
		r->status = CS_ECRYPTO;
}

static void
evp_cbc_open(struct engine_evp *ev, struct engine_rec *r)
{
	uint8_t *iv = r->buf + r->aad_len, *text = iv + 16;
	int outl = 0;

	if (evp_mac(ev, r->key, r->buf, r->aad_len + 16 + r->len, r->scratch) != 0) {
		r->status = CS_ECRYPTO;
		return;
	}
	if (!secmem_eq(r->scratch, text + r->len, 32)) {
		r->status = CS_EAUTH;
		return;
	}
	if (evp_cipher_init(ev, EVP_CBC_DEC, r->key, iv) != 0 ||
	    EVP_DecryptUpdate(ev->ctx[EVP_CBC_DEC], text, &outl, text, (int)r->len) != 1 ||
	    (size_t)outl != r->len)
		r->status = CS_ECRYPTO;
}

static void
evp_gcm(struct engine_evp *ev, struct engine_rec *r, bool seal)
{
	int slot = seal ? EVP_GCM_ENC : EVP_GCM_DEC;
	EVP_CIPHER_CTX *ctx = ev->ctx[slot];
	uint8_t *iv = r->buf + r->aad_len, *text = iv + 12, *tag = text + r->len;
	int outl = 0, finl = 0;

	if (evp_cipher_init(ev, slot, r->key, iv) != 0)
		goto crypto;
	if (r->aad_len > 0 && EVP_CipherUpdate(ctx, NULL, &outl, r->buf, (int)r->aad_len) != 1)
		goto crypto;
	if (r->len > 0 &&
	    (EVP_CipherUpdate(ctx, text, &outl, text, (int)r->len) != 1 || (size_t)outl != r->len))
		goto crypto;
	if (seal) {
		if (EVP_EncryptFinal_ex(ctx, text + r->len, &finl) != 1 ||
		    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, 16, tag) != 1)
			goto crypto;
		return;
	}
	memcpy(r->scratch, tag, 16);
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16, r->scratch) != 1)
		goto crypto;
	if (EVP_DecryptFinal_ex(ctx, text + r->len, &finl) != 1)
		r->status = CS_EAUTH;
	return;
crypto:
	r->status = CS_ECRYPTO;
}

void
engine_evp_seal(struct engine_evp *ev, struct engine_rec *r)
{
	if (r->key->suite->id == SUITE_AES_256_GCM)
		evp_gcm(ev, r, true);
	else
		evp_cbc_seal(ev, r);
}

void
engine_evp_open(struct engine_evp *ev, struct engine_rec *r)
{
	if (r->key->suite->id == SUITE_AES_256_GCM)
		evp_gcm(ev, r, false);
	else
		evp_cbc_open(ev, r);
}

int
engine_evp_hmac(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len, uint8_t out[32])
{
	unsigned int outl = 0;

	if (HMAC(EVP_sha256(), key, (int)keylen, msg, len, out, &outl) == NULL || outl != 32)
		return CS_ECRYPTO;
	return 0;
}
