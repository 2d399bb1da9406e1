/*
 * engine_mb: the fast path, intel-ipsec-mb's multi-buffer job API.
 *
 * Independent records are submitted as independent jobs; the library fills
 * 8-16 lanes of AES-CBC (or SHA-256) and runs them together, so a batch of
 * records from many objects, or many records of one object, costs a fraction
 * of sealing them one by one.  Sealing is in place with the HMAC over
 * AAD || IV || ciphertext computed in the same job (cipher, then hash);
 * opening hashes first and decrypts after, then the tag is compared in
 * constant time.
 *
 * A process-wide manager (mb_global) is created once; it is only read after
 * that (key expansion and one-block hashing keep no state in it) and serves
 * engine_mb_key_prepare() from any thread.  Each engine has its own manager
 * for jobs, since a job queue is single-threaded.
 */
#include "engine.h"
#include "util/err.h"
#include "util/secmem.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static IMB_MGR *mb_global;
static bool mb_ok;
static pthread_once_t mb_once = PTHREAD_ONCE_INIT;

struct engine_mb {
	IMB_MGR *mgr;
};

static IMB_MGR *
mb_mgr_new(void)
{
	IMB_ARCH arch = IMB_ARCH_NONE;
	IMB_MGR *mgr = alloc_mb_mgr(0);

	if (mgr == NULL)
		return NULL;
	init_mb_mgr_auto(mgr, &arch);
	if (imb_get_errno(mgr) != 0 || arch < IMB_ARCH_SSE ||
	    (mgr->features & IMB_FEATURE_AESNI) == 0) {
		free_mb_mgr(mgr);
		return NULL;
	}
	return mgr;
}

static void
mb_init_once(void)
{
	mb_global = mb_mgr_new();
	mb_ok = mb_global != NULL;
}

bool
engine_mb_usable(void)
{
	pthread_once(&mb_once, mb_init_once);
	return mb_ok;
}

int
engine_mb_new(struct engine_mb **out)
{
	struct engine_mb *mb;

	*out = NULL;
	if (!engine_mb_usable())
		return CS_ENOTSUP;
	if ((mb = calloc(1, sizeof(*mb))) == NULL)
		return CS_ENOMEM;
	if ((mb->mgr = mb_mgr_new()) == NULL) {
		free(mb);
		return CS_ENOTSUP;
	}
	*out = mb;
	return 0;
}

void
engine_mb_free(struct engine_mb *mb)
{
	if (mb == NULL)
		return;
	free_mb_mgr(mb->mgr);
	free(mb);
}

/* mb_hmac_pads: the SHA-256 states after one block of key^ipad and key^opad. */
static void
mb_hmac_pads(const uint8_t *key, size_t keylen, uint8_t ipad[32], uint8_t opad[32])
{
	uint8_t block[64], hashed[32];

	if (keylen > sizeof(block)) {
		IMB_SHA256(mb_global, key, keylen, hashed);
		key = hashed;
		keylen = sizeof(hashed);
	}
	memset(block, 0, sizeof(block));
	memcpy(block, key, keylen);
	for (size_t i = 0; i < sizeof(block); i++)
		block[i] ^= 0x36;
	IMB_SHA256_ONE_BLOCK(mb_global, block, ipad);
	for (size_t i = 0; i < sizeof(block); i++)
		block[i] ^= 0x36 ^ 0x5c;
	IMB_SHA256_ONE_BLOCK(mb_global, block, opad);
	secmem_wipe(block, sizeof(block));
	secmem_wipe(hashed, sizeof(hashed));
}

int
engine_mb_key_prepare(struct engine_key *k)
{
	if (!engine_mb_usable())
		return CS_ENOTSUP;
	if (k->suite->id == SUITE_AES_256_GCM) {
		IMB_AES256_GCM_PRE(mb_global, k->enc, &k->gcm);
	} else {
		IMB_AES_KEYEXP_256(mb_global, k->enc, k->enc_sched, k->dec_sched);
		mb_hmac_pads(k->mac, SUITE_KEY_LEN, k->ipad, k->opad);
	}
	if (imb_get_errno(mb_global) != 0)
		return CS_ECRYPTO;
	k->mb_ready = true;
	return 0;
}

/* mb_fill: describe record r as job j. */
static void
mb_fill(IMB_JOB *j, struct engine_rec *r, bool seal)
{
	const struct engine_key *k = r->key;
	size_t ivl = k->suite->iv_len, off = r->aad_len + ivl;
	uint8_t *text = r->buf + off;

	/* Start from a clean job: the manager hands back recycled slots. */
	memset(j, 0, sizeof(*j));
	j->src = r->buf;
	j->dst = text;
	j->cipher_start_src_offset_in_bytes = off;
	j->msg_len_to_cipher_in_bytes = r->len;
	j->iv = r->buf + r->aad_len;
	j->iv_len_in_bytes = ivl;
	j->key_len_in_bytes = 32;
	j->cipher_direction = seal ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
	j->chain_order = seal ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
	j->auth_tag_output = seal ? text + r->len : r->scratch;
	j->auth_tag_output_len_in_bytes = k->suite->tag_len;
	j->user_data = r;
	if (k->suite->id == SUITE_AES_256_GCM) {
		j->cipher_mode = IMB_CIPHER_GCM;
		j->hash_alg = IMB_AUTH_AES_GMAC;
		j->enc_keys = &k->gcm;
		j->dec_keys = &k->gcm;
		j->hash_start_src_offset_in_bytes = off;
		j->msg_len_to_hash_in_bytes = r->len;
		j->u.GCM.aad = r->buf;
		j->u.GCM.aad_len_in_bytes = r->aad_len;
	} else {
		j->cipher_mode = IMB_CIPHER_CBC;
		j->hash_alg = IMB_AUTH_HMAC_SHA_256;
		j->enc_keys = k->enc_sched;
		j->dec_keys = k->dec_sched;
		j->hash_start_src_offset_in_bytes = 0;
		j->msg_len_to_hash_in_bytes = off + r->len;
		j->u.HMAC._hashed_auth_key_xor_ipad = k->ipad;
		j->u.HMAC._hashed_auth_key_xor_opad = k->opad;
	}
}

/* mb_done: account for a completed job. */
static void
mb_done(const IMB_JOB *j, bool seal)
{
	struct engine_rec *r = j->user_data;
	size_t tl;

	if (j->status != IMB_STATUS_COMPLETED) {
		r->status = seal ? CS_ECRYPTO : CS_EAUTH;
		return;
	}
	if (seal)
		return;
	tl = r->key->suite->tag_len;
	if (!secmem_eq(r->scratch, r->buf + r->aad_len + r->key->suite->iv_len + r->len, tl))
		r->status = CS_EAUTH;
}

void
engine_mb_run(struct engine_mb *mb, struct engine_rec *recs, size_t n, bool seal)
{
	IMB_MGR *mgr = mb->mgr;
	IMB_JOB *j;

	for (size_t i = 0; i < n; i++) {
		if (recs[i].status != 0)
			continue;
		if (!recs[i].key->mb_ready) {
			recs[i].status = CS_ECRYPTO;
			continue;
		}
		j = IMB_GET_NEXT_JOB(mgr);
		mb_fill(j, &recs[i], seal);
		for (j = IMB_SUBMIT_JOB(mgr); j != NULL; j = IMB_GET_COMPLETED_JOB(mgr))
			mb_done(j, seal);
	}
	while ((j = IMB_FLUSH_JOB(mgr)) != NULL)
		mb_done(j, seal);
}

int
engine_mb_hmac(struct engine_mb *mb, const uint8_t *key, size_t keylen, const uint8_t *msg,
	       size_t len, uint8_t out[32])
{
	uint8_t ipad[32] __attribute__((aligned(16))), opad[32] __attribute__((aligned(16)));
	IMB_JOB *j;
	int rc = CS_ECRYPTO;

	mb_hmac_pads(key, keylen, ipad, opad);
	j = IMB_GET_NEXT_JOB(mb->mgr);
	memset(j, 0, sizeof(*j));
	j->cipher_mode = IMB_CIPHER_NULL;
	j->cipher_direction = IMB_DIR_ENCRYPT;
	j->chain_order = IMB_ORDER_HASH_CIPHER;
	j->hash_alg = IMB_AUTH_HMAC_SHA_256;
	j->src = msg;
	j->dst = out;
	j->hash_start_src_offset_in_bytes = 0;
	j->msg_len_to_hash_in_bytes = len;
	j->auth_tag_output = out;
	j->auth_tag_output_len_in_bytes = 32;
	j->u.HMAC._hashed_auth_key_xor_ipad = ipad;
	j->u.HMAC._hashed_auth_key_xor_opad = opad;
	for (j = IMB_SUBMIT_JOB(mb->mgr); j != NULL; j = IMB_GET_COMPLETED_JOB(mb->mgr))
		rc = j->status == IMB_STATUS_COMPLETED ? 0 : CS_ECRYPTO;
	while ((j = IMB_FLUSH_JOB(mb->mgr)) != NULL)
		rc = j->status == IMB_STATUS_COMPLETED ? 0 : CS_ECRYPTO;
	secmem_wipe(ipad, sizeof(ipad));
	secmem_wipe(opad, sizeof(opad));
	return rc;
}
