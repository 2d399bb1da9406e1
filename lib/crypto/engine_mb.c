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
 * On CPUs where the library's widest cipher lanes and its fastest SHA-256
 * are in different architectures (AMD Zen 3: AVX2 for AES-CBC lanes, SSE
 * with SHA-NI for SHA-256), a CBC-HMAC batch runs in two passes over
 * cache-hot records: cipher jobs on the cipher manager, then hash jobs on
 * the hash manager.  Which arrangement is faster is measured once at start
 * (mb_calibrate); docs/BENCHMARKS.md has the figures.
 *
 * A process-wide manager (mb_global) is created once; it is only read after
 * that (key expansion and one-block hashing keep no state in it) and serves
 * engine_mb_key_prepare() from any thread.  Each engine has its own
 * managers for jobs, since a job queue is single-threaded.
 */
#include "engine.h"
#include "util/err.h"
#include "util/secmem.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static IMB_MGR *mb_global;
static bool mb_ok;
static bool mb_split; /* hash on an SSE (SHA-NI) manager, cipher on mb_global's arch */
static pthread_once_t mb_once = PTHREAD_ONCE_INIT;

struct engine_mb {
	IMB_MGR *cmgr; /* cipher (and, unless split, hash) jobs */
	IMB_MGR *hmgr; /* hash jobs when split, else NULL */
};

/* What a job does: both cipher and hash, or one of them. */
enum mb_part { MB_BOTH, MB_CIPHER, MB_HASH };

/* mb_mgr_new(sse): a manager of the best architecture, or of SSE. */
static IMB_MGR *
mb_mgr_new(bool sse)
{
	IMB_ARCH arch = IMB_ARCH_SSE;
	IMB_MGR *mgr = alloc_mb_mgr(0);

	if (mgr == NULL)
		return NULL;
	if (sse)
		init_mb_mgr_sse(mgr);
	else
		init_mb_mgr_auto(mgr, &arch);
	if (imb_get_errno(mgr) != 0 || arch < IMB_ARCH_SSE ||
	    (mgr->features & IMB_FEATURE_AESNI) == 0) {
		free_mb_mgr(mgr);
		return NULL;
	}
	return mgr;
}

static double
mb_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* mb_hash_seconds: time to HMAC 8 x 32 KiB, 4 times, on mgr (best of 3). */
static double
mb_hash_seconds(IMB_MGR *mgr, uint8_t *buf, const uint8_t *pad)
{
	double best = 1e9;
	uint8_t tag[32];

	for (int round = 0; round < 3; round++) {
		double t0 = mb_now();

		for (int rep = 0; rep < 4; rep++) {
			IMB_JOB *j;

			for (int i = 0; i < 8; i++) {
				j = IMB_GET_NEXT_JOB(mgr);
				memset(j, 0, sizeof(*j));
				j->cipher_mode = IMB_CIPHER_NULL;
				j->cipher_direction = IMB_DIR_ENCRYPT;
				j->chain_order = IMB_ORDER_HASH_CIPHER;
				j->hash_alg = IMB_AUTH_HMAC_SHA_256;
				j->src = buf + (size_t)i * 32768;
				j->msg_len_to_hash_in_bytes = 32768;
				j->auth_tag_output = tag;
				j->auth_tag_output_len_in_bytes = 32;
				j->u.HMAC._hashed_auth_key_xor_ipad = pad;
				j->u.HMAC._hashed_auth_key_xor_opad = pad;
				for (j = IMB_SUBMIT_JOB(mgr); j != NULL;
				     j = IMB_GET_COMPLETED_JOB(mgr))
					;
			}
			while (IMB_FLUSH_JOB(mgr) != NULL)
				;
		}
		if (mb_now() - t0 < best)
			best = mb_now() - t0;
	}
	return best;
}

/*
 * mb_calibrate: split when SHA-NI exists, the best manager is not SSE,
 * and SSE's SHA-256 is clearly (10%) faster than the best manager's.
 */
static bool
mb_calibrate(void)
{
	static const uint8_t pad[32] __attribute__((aligned(16)));
	IMB_MGR *sse;
	uint8_t *buf;
	bool split = false;
	const char *env = getenv("CRYPTSTORE_MB_SPLIT");

	if (env != NULL && (env[0] == '0' || env[0] == '1'))
		return env[0] == '1';
	if ((mb_global->features & IMB_FEATURE_SHANI) == 0 || mb_global->used_arch == IMB_ARCH_SSE)
		return false;
	if ((sse = mb_mgr_new(true)) == NULL)
		return false;
	if ((buf = calloc(8, 32768)) != NULL) {
		split = mb_hash_seconds(sse, buf, pad) * 1.1 < mb_hash_seconds(mb_global, buf, pad);
		free(buf);
	}
	free_mb_mgr(sse);
	return split;
}

static void
mb_init_once(void)
{
	mb_global = mb_mgr_new(false);
	mb_ok = mb_global != NULL;
	if (mb_ok)
		mb_split = mb_calibrate();
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
	if ((mb->cmgr = mb_mgr_new(false)) == NULL ||
	    (mb_split && (mb->hmgr = mb_mgr_new(true)) == NULL)) {
		engine_mb_free(mb);
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
	if (mb->cmgr != NULL)
		free_mb_mgr(mb->cmgr);
	if (mb->hmgr != NULL)
		free_mb_mgr(mb->hmgr);
	free(mb);
}

const char *
engine_mb_arch(void)
{
	static const char *names[] = {"none", "no-aesni", "sse", "avx", "avx2", "avx512"};

	if (!engine_mb_usable())
		return "unusable";
	if (mb_split)
		return mb_global->used_arch == IMB_ARCH_AVX512 ? "avx512 cipher + sse/sha-ni hash"
							       : "avx2 cipher + sse/sha-ni hash";
	return mb_global->used_arch < IMB_ARCH_NUM ? names[mb_global->used_arch] : "?";
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

/* mb_fill: describe (part of) record r as job j. */
static void
mb_fill(IMB_JOB *j, struct engine_rec *r, bool seal, enum mb_part part)
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
		return;
	}
	j->cipher_mode = part == MB_HASH ? IMB_CIPHER_NULL : IMB_CIPHER_CBC;
	j->hash_alg = part == MB_CIPHER ? IMB_AUTH_NULL : IMB_AUTH_HMAC_SHA_256;
	j->enc_keys = k->enc_sched;
	j->dec_keys = k->dec_sched;
	j->hash_start_src_offset_in_bytes = 0;
	j->msg_len_to_hash_in_bytes = off + r->len;
	j->u.HMAC._hashed_auth_key_xor_ipad = k->ipad;
	j->u.HMAC._hashed_auth_key_xor_opad = k->opad;
}

/* mb_done: account for a completed job; part says what it was. */
static void
mb_done(const IMB_JOB *j, bool seal, enum mb_part part)
{
	struct engine_rec *r = j->user_data;
	size_t tl;

	if (j->status != IMB_STATUS_COMPLETED) {
		r->status = seal ? CS_ECRYPTO : CS_EAUTH;
		return;
	}
	if (seal || part == MB_CIPHER)
		return;
	tl = r->key->suite->tag_len;
	if (!secmem_eq(r->scratch, r->buf + r->aad_len + r->key->suite->iv_len + r->len, tl))
		r->status = CS_EAUTH;
}

/*
 * mb_pass: submit part of every pending record to mgr.  With split, CBC-HMAC
 * records get only `part`; GCM records go whole in the cipher pass and are
 * skipped in the hash pass.
 */
static void
mb_pass(IMB_MGR *mgr, struct engine_rec *recs, size_t n, bool seal, enum mb_part part)
{
	IMB_JOB *j;

	for (size_t i = 0; i < n; i++) {
		struct engine_rec *r = &recs[i];
		bool gcm;

		if (r->status != 0)
			continue;
		gcm = r->key->suite->id == SUITE_AES_256_GCM;
		if (gcm && part == MB_HASH)
			continue;
		j = IMB_GET_NEXT_JOB(mgr);
		mb_fill(j, r, seal, gcm ? MB_BOTH : part);
		for (j = IMB_SUBMIT_JOB(mgr); j != NULL; j = IMB_GET_COMPLETED_JOB(mgr))
			mb_done(j, seal, gcm ? MB_BOTH : part);
	}
	while ((j = IMB_FLUSH_JOB(mgr)) != NULL) {
		const struct engine_rec *r = j->user_data;

		mb_done(j, seal, r->key->suite->id == SUITE_AES_256_GCM ? MB_BOTH : part);
	}
}

void
engine_mb_run(struct engine_mb *mb, struct engine_rec *recs, size_t n, bool seal)
{
	for (size_t i = 0; i < n; i++)
		if (recs[i].status == 0 && !recs[i].key->mb_ready)
			recs[i].status = CS_ECRYPTO;
	if (mb->hmgr == NULL) {
		mb_pass(mb->cmgr, recs, n, seal, MB_BOTH);
	} else if (seal) {
		/* Encrypt, then MAC the ciphertext. */
		mb_pass(mb->cmgr, recs, n, true, MB_CIPHER);
		mb_pass(mb->hmgr, recs, n, true, MB_HASH);
	} else {
		/* Verify first: forged records are never decrypted. */
		mb_pass(mb->hmgr, recs, n, false, MB_HASH);
		mb_pass(mb->cmgr, recs, n, false, MB_CIPHER);
	}
}

int
engine_mb_hmac(struct engine_mb *mb, const uint8_t *key, size_t keylen, const uint8_t *msg,
	       size_t len, uint8_t out[32])
{
	uint8_t ipad[32] __attribute__((aligned(16))), opad[32] __attribute__((aligned(16)));
	IMB_JOB *j;
	int rc = CS_ECRYPTO;

	mb_hmac_pads(key, keylen, ipad, opad);
	IMB_MGR *mgr = mb->hmgr != NULL ? mb->hmgr : mb->cmgr;

	j = IMB_GET_NEXT_JOB(mgr);
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
	for (j = IMB_SUBMIT_JOB(mgr); j != NULL; j = IMB_GET_COMPLETED_JOB(mgr))
		rc = j->status == IMB_STATUS_COMPLETED ? 0 : CS_ECRYPTO;
	while ((j = IMB_FLUSH_JOB(mgr)) != NULL)
		rc = j->status == IMB_STATUS_COMPLETED ? 0 : CS_ECRYPTO;
	secmem_wipe(ipad, sizeof(ipad));
	secmem_wipe(opad, sizeof(opad));
	return rc;
}
