/*
 * engine_mb: the fast path, many independent records at once.
 *
 * Independent records are submitted together so that 8-16 of them run in
 * parallel lanes, which costs a fraction of sealing them one by one.
 * Sealing is in place with the HMAC over AAD || IV || ciphertext after the
 * encryption; opening hashes first and decrypts only records whose tag
 * matched (compared in constant time).
 *
 * Three arrangements (mb_mode), chosen once at start:
 *   MB_NI     the HMAC of CBC records by sha256_ni (SHA-NI, 3 messages in
 *             lock-step) and, where the CPU has VAES, CBC encryption by
 *             cbc_vaes (16 lanes); CBC decryption and GCM by intel-ipsec-mb.
 *             The default where SHA-NI exists, unless the start-up
 *             measurement finds ipsec-mb's hash clearly (10%) faster; the
 *             same measurement decides between cbc_vaes and ipsec-mb's
 *             cipher lanes.
 *   MB_SPLIT  all intel-ipsec-mb, in two passes over cache-hot records:
 *             cipher jobs on the widest manager, hash jobs on an SSE manager
 *             (its SHA-NI code);
 *   MB_ONE    all intel-ipsec-mb, one job per record (cipher and hash);
 *             chosen where the manager's own hash beats sha256_ni on a full
 *             batch (AVX-512's 16 SHA-256 lanes on an Intel host).  A call
 *             with too few records to fill those lanes still hashes them
 *             with sha256_ni where it works (mb_ni_below, measured).
 * CRYPTSTORE_MB_SPLIT=0, 1, ni (MB_NI with ipsec-mb's cipher lanes), vaes
 * or oneni (MB_ONE, sha256_ni below 16 records) forces one, for tests.
 * docs/BENCHMARKS.md has the figures.
 *
 * A process-wide manager (mb_global) is created once; it is only read after
 * that (key expansion and one-block hashing keep no state in it) and serves
 * engine_mb_key_prepare() from any thread.  Each engine has its own
 * managers for jobs, since a job queue is single-threaded.
 */
#include "cbc_vaes.h"
#include "engine.h"
#include "sha256_ni.h"
#include "util/err.h"
#include "util/secmem.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* How CBC-HMAC records are processed; see the top of the file. */
enum mb_mode { MB_ONE, MB_SPLIT, MB_NI };

#define MB_NI_LANES   3  /* sha256_ni lanes: 3 measured fastest on Zen 3 */
#define MB_STEP       16 /* records handed to sha256_ni / cbc_vaes at a time */
#define MB_CAL_ROUNDS 5  /* start-up measurement: rounds of each candidate */
/* ... on records 32 KiB + 128 bytes apart, like the format's: at a stride
 * of exactly 32 KiB, 16 lanes fall into one L1 set and cbc_vaes runs at a
 * third of its speed. */
#define MB_CAL_STRIDE (32768 + 128)

static IMB_MGR *mb_global;
static bool mb_ok;
static enum mb_mode mb_mode;
static bool mb_vaes; /* MB_NI: CBC encryption by cbc_vaes */
/* MB_ONE: a call with fewer CBC-HMAC records than this hashes them with
 * sha256_ni instead: a manager of 16 lock-step lanes takes as long for one
 * message as for sixteen (0: never). */
static size_t mb_ni_below;
static char mb_one_name[64]; /* engine_mb_arch() of MB_ONE with mb_ni_below */
static const char *mb_arch_names[] = {"none", "no-aesni", "sse", "avx", "avx2", "avx512"};
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

/* mb_hmac_job: describe an HMAC-only job over len bytes at src on mgr. */
static void
mb_hmac_job(IMB_JOB *j, const uint8_t *src, size_t len, uint8_t *tag, const uint8_t *pad)
{
	memset(j, 0, sizeof(*j));
	j->cipher_mode = IMB_CIPHER_NULL;
	j->cipher_direction = IMB_DIR_ENCRYPT;
	j->chain_order = IMB_ORDER_HASH_CIPHER;
	j->hash_alg = IMB_AUTH_HMAC_SHA_256;
	j->src = src;
	j->msg_len_to_hash_in_bytes = len;
	j->auth_tag_output = tag;
	j->auth_tag_output_len_in_bytes = 32;
	j->u.HMAC._hashed_auth_key_xor_ipad = pad;
	j->u.HMAC._hashed_auth_key_xor_opad = pad;
}

/* mb_hash_seconds: time to HMAC 16 x 32 KiB (a format batch), twice, on mgr
 * or, if NULL, with sha256_ni.  Sixteen, as the engine is given them: an
 * AVX-512 manager hashes 16 messages in lock-step, and timed on 8 (as it
 * once was) it ran half empty and lost to sha256_ni, which it beats by 1.6x
 * on a full batch (an Intel host with AVX-512, 2026-11-27). */
static double
mb_hash_seconds(IMB_MGR *mgr, uint8_t *buf, const uint8_t *pad)
{
	static const struct sha256_ni_key nikey;
	double t0 = mb_now();
	uint8_t tag[32];

	for (int rep = 0; rep < 2; rep++) {
		struct sha256_ni_job jobs[16];
		IMB_JOB *j;

		for (int i = 0; i < 16; i++) {
			uint8_t *p = buf + (size_t)i * MB_CAL_STRIDE;

			jobs[i] = (struct sha256_ni_job){&nikey, p, 32768, tag};
			if (mgr == NULL)
				continue;
			mb_hmac_job(IMB_GET_NEXT_JOB(mgr), p, 32768, tag, pad);
			for (j = IMB_SUBMIT_JOB(mgr); j != NULL; j = IMB_GET_COMPLETED_JOB(mgr))
				;
		}
		if (mgr == NULL)
			sha256_ni_hmac_many(jobs, 16, MB_NI_LANES);
		else
			while (IMB_FLUSH_JOB(mgr) != NULL)
				;
	}
	return mb_now() - t0;
}

/* mb_cipher_seconds: time to CBC-encrypt 16 x 32 KiB, 2 times, with
 * ipsec-mb's cipher lanes on mgr or, if NULL, with cbc_vaes. */
static double
mb_cipher_seconds(IMB_MGR *mgr, uint8_t *buf, const uint8_t *sched)
{
	static const uint8_t iv[16];
	double t0 = mb_now();

	for (int rep = 0; rep < 2; rep++) {
		struct cbc_vaes_job jobs[16];
		IMB_JOB *j;

		for (int i = 0; i < 16; i++) {
			uint8_t *p = buf + (size_t)i * MB_CAL_STRIDE;

			jobs[i] = (struct cbc_vaes_job){sched, iv, p, p, 32768 / 16};
			if (mgr == NULL)
				continue;
			j = IMB_GET_NEXT_JOB(mgr);
			memset(j, 0, sizeof(*j));
			j->cipher_mode = IMB_CIPHER_CBC;
			j->cipher_direction = IMB_DIR_ENCRYPT;
			j->chain_order = IMB_ORDER_CIPHER_HASH;
			j->hash_alg = IMB_AUTH_NULL;
			j->src = p;
			j->dst = p;
			j->msg_len_to_cipher_in_bytes = 32768;
			j->iv = iv;
			j->iv_len_in_bytes = 16;
			j->key_len_in_bytes = 32;
			j->enc_keys = sched;
			j->dec_keys = sched;
			for (j = IMB_SUBMIT_JOB(mgr); j != NULL; j = IMB_GET_COMPLETED_JOB(mgr))
				;
		}
		if (mgr == NULL)
			cbc_vaes_encrypt_many(jobs, 16);
		else
			while (IMB_FLUSH_JOB(mgr) != NULL)
				;
	}
	return mb_now() - t0;
}

/*
 * mb_calibrate: choose mb_mode (and mb_vaes) from CRYPTSTORE_MB_SPLIT or by
 * measurement: MB_NI where sha256_ni works and ipsec-mb's best hash is not
 * clearly (10%) faster, with cbc_vaes on the same terms; else MB_SPLIT when
 * SHA-NI exists, the best manager is not SSE, and SSE's SHA-256 is clearly
 * faster than the best manager's; else MB_ONE.
 */
static enum mb_mode
mb_calibrate(void)
{
	static const uint8_t pad[32] __attribute__((aligned(16)));
	static const uint8_t sched[16 * 15] __attribute__((aligned(16)));
	IMB_MGR *sse = NULL;
	uint8_t *buf;
	enum mb_mode mode = MB_ONE;
	const char *env = getenv("CRYPTSTORE_MB_SPLIT");
	double t[5], best[5] = {1e9, 1e9, 1e9, 1e9, 1e9};

	if (env != NULL && strcmp(env, "0") == 0)
		return MB_ONE;
	if (env != NULL && strcmp(env, "oneni") == 0) {
		mb_ni_below = sha256_ni_usable() ? 16 : 0;
		return MB_ONE;
	}
	if (env != NULL && strcmp(env, "1") == 0)
		return MB_SPLIT;
	if (env != NULL && strcmp(env, "ni") == 0 && sha256_ni_usable())
		return MB_NI;
	if (env != NULL && strcmp(env, "vaes") == 0 && sha256_ni_usable() && cbc_vaes_usable()) {
		mb_vaes = true;
		return MB_NI;
	}
	if ((mb_global->features & IMB_FEATURE_SHANI) == 0 && !sha256_ni_usable())
		return MB_ONE;
	if ((buf = calloc(16, MB_CAL_STRIDE)) == NULL)
		return MB_ONE;
	if (mb_global->used_arch != IMB_ARCH_SSE && (mb_global->features & IMB_FEATURE_SHANI))
		sse = mb_mgr_new(true);
	/* Interleaved rounds, the fastest of each: load on a shared machine
	 * only ever slows a round down. */
	for (int round = 0; round < MB_CAL_ROUNDS; round++) {
		t[0] = mb_hash_seconds(mb_global, buf, pad);
		t[1] = sse != NULL ? mb_hash_seconds(sse, buf, pad) : 1e9;
		t[2] = sha256_ni_usable() ? mb_hash_seconds(NULL, buf, pad) : 1e9;
		t[3] = mb_cipher_seconds(mb_global, buf, sched);
		t[4] = cbc_vaes_usable() ? mb_cipher_seconds(NULL, buf, sched) : 1e9;
		for (int i = 0; i < 5; i++)
			if (t[i] < best[i])
				best[i] = t[i];
	}
	if (sse != NULL)
		free_mb_mgr(sse);
	if (best[2] < 1e9 && best[2] < 1.1 * (best[1] < best[0] ? best[1] : best[0])) {
		mode = MB_NI;
		mb_vaes = best[4] < 1.1 * best[3];
	} else if (best[1] * 1.1 < best[0]) {
		mode = MB_SPLIT;
	} else if (best[2] < 1e9) {
		/* The manager's lanes take one turn for up to 16 messages, which
		 * sha256_ni hashes in a time proportional to their number: it is
		 * the faster below 16 x (manager's time / its time). */
		mb_ni_below = (size_t)(16.0 * best[0] / best[2]);
		if (mb_ni_below > 16)
			mb_ni_below = 16;
	}
	free(buf);
	return mode;
}

static void
mb_init_once(void)
{
	mb_global = mb_mgr_new(false);
	mb_ok = mb_global != NULL;
	if (mb_ok)
		mb_mode = mb_calibrate();
	if (mb_ok && mb_mode == MB_ONE && mb_ni_below > 0)
		snprintf(mb_one_name, sizeof(mb_one_name), "%s; sha-ni x3 hmac below %zu records",
			 (size_t)mb_global->used_arch <
					 sizeof(mb_arch_names) / sizeof(mb_arch_names[0])
				 ? mb_arch_names[mb_global->used_arch]
				 : "?",
			 mb_ni_below);
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
	    (mb_mode == MB_SPLIT && (mb->hmgr = mb_mgr_new(true)) == NULL)) {
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
	static const char *ni_names[][2] = {
		{"sha-ni x3 hmac + none (ipsec-mb)",
		 "vaes x16 cbc-enc + sha-ni x3 hmac + none (ipsec-mb)"},
		{"sha-ni x3 hmac + no-aesni (ipsec-mb)",
		 "vaes x16 cbc-enc + sha-ni x3 hmac + no-aesni (ipsec-mb)"},
		{"sha-ni x3 hmac + sse (ipsec-mb)",
		 "vaes x16 cbc-enc + sha-ni x3 hmac + sse (ipsec-mb)"},
		{"sha-ni x3 hmac + avx (ipsec-mb)",
		 "vaes x16 cbc-enc + sha-ni x3 hmac + avx (ipsec-mb)"},
		{"sha-ni x3 hmac + avx2 (ipsec-mb)",
		 "vaes x16 cbc-enc + sha-ni x3 hmac + avx2 (ipsec-mb)"},
		{"sha-ni x3 hmac + avx512 (ipsec-mb)",
		 "vaes x16 cbc-enc + sha-ni x3 hmac + avx512 (ipsec-mb)"},
	};
	unsigned arch;

	if (!engine_mb_usable())
		return "unusable";
	arch = (unsigned)mb_global->used_arch;
	if (arch >= sizeof(mb_arch_names) / sizeof(mb_arch_names[0]))
		return "?";
	switch (mb_mode) {
	case MB_NI:
		return ni_names[arch][mb_vaes];
	case MB_SPLIT:
		return arch == IMB_ARCH_AVX512 ? "avx512 cipher + sse/sha-ni hash"
					       : "avx2 cipher + sse/sha-ni hash";
	default:
		return mb_one_name[0] != '\0' ? mb_one_name : mb_arch_names[arch];
	}
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
		if (mb_mode == MB_NI || mb_ni_below > 0)
			sha256_ni_hmac_key(&k->ni, k->mac, SUITE_KEY_LEN);
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
 * skipped in the hash pass.  With gcm_only, CBC-HMAC records are skipped.
 */
static void
mb_pass(IMB_MGR *mgr, struct engine_rec *recs, size_t n, bool seal, enum mb_part part,
	bool gcm_only)
{
	IMB_JOB *j;

	for (size_t i = 0; i < n; i++) {
		struct engine_rec *r = &recs[i];
		bool gcm;

		if (r->status != 0)
			continue;
		gcm = r->key->suite->id == SUITE_AES_256_GCM;
		if ((gcm && part == MB_HASH) || (!gcm && gcm_only))
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

/* mb_is_cbc: r is a pending CBC-HMAC record. */
static bool
mb_is_cbc(const struct engine_rec *r)
{
	return r->status == 0 && r->key->suite->id == SUITE_CBC_HMAC_SHA256;
}

/* mb_ni_cbc_enc: CBC-encrypt every pending CBC-HMAC record with cbc_vaes. */
static void
mb_ni_cbc_enc(struct engine_rec *recs, size_t n)
{
	struct cbc_vaes_job jobs[MB_STEP];
	size_t m = 0;

	for (size_t i = 0; i < n; i++) {
		struct engine_rec *r = &recs[i];
		uint8_t *text = r->buf + r->aad_len + 16;

		if (!mb_is_cbc(r))
			continue;
		jobs[m++] = (struct cbc_vaes_job){r->key->enc_sched, r->buf + r->aad_len, text,
						  text, r->len / 16};
		if (m == MB_STEP) {
			cbc_vaes_encrypt_many(jobs, m);
			m = 0;
		}
	}
	if (m > 0)
		cbc_vaes_encrypt_many(jobs, m);
}

/* mb_ni_hmac: the tags of every pending CBC-HMAC record, into the record
 * (seal) or into its scratch and then compared (open). */
static void
mb_ni_hmac(struct engine_rec *recs, size_t n, bool seal)
{
	struct sha256_ni_job jobs[MB_STEP];
	struct engine_rec *pend[MB_STEP];
	size_t m = 0;

	for (size_t i = 0; i <= n; i++) {
		struct engine_rec *r = i < n ? &recs[i] : NULL;

		if (r != NULL && mb_is_cbc(r)) {
			uint8_t *text = r->buf + r->aad_len + 16;

			pend[m] = r;
			jobs[m++] = (struct sha256_ni_job){&r->key->ni, r->buf,
							   r->aad_len + 16 + r->len,
							   seal ? text + r->len : r->scratch};
		}
		if (m == MB_STEP || (r == NULL && m > 0)) {
			sha256_ni_hmac_many(jobs, m, MB_NI_LANES);
			for (size_t k = 0; !seal && k < m; k++) {
				const uint8_t *tag =
					pend[k]->buf + pend[k]->aad_len + 16 + pend[k]->len;

				if (!secmem_eq(pend[k]->scratch, tag, 32))
					pend[k]->status = CS_EAUTH;
			}
			m = 0;
		}
	}
}

/* mb_ni_small: an MB_ONE call whose CBC-HMAC records are too few to fill
 * the manager's hash lanes (mb_ni_below). */
static bool
mb_ni_small(const struct engine_rec *recs, size_t n)
{
	size_t cbc = 0;

	for (size_t i = 0; i < n && cbc < mb_ni_below; i++)
		cbc += mb_is_cbc(&recs[i]);
	return cbc > 0 && cbc < mb_ni_below;
}

void
engine_mb_run(struct engine_mb *mb, struct engine_rec *recs, size_t n, bool seal)
{
	enum mb_mode mode = mb_mode;

	for (size_t i = 0; i < n; i++)
		if (recs[i].status == 0 && !recs[i].key->mb_ready)
			recs[i].status = CS_ECRYPTO;
	if (mode == MB_ONE && mb_ni_below > 0 && mb_ni_small(recs, n))
		mode = MB_NI; /* with the manager's cipher lanes (mb_vaes is false) */
	switch (mode) {
	case MB_NI:
		if (seal) {
			/* Encrypt (GCM whole), then MAC the CBC ciphertext. */
			if (mb_vaes)
				mb_ni_cbc_enc(recs, n);
			mb_pass(mb->cmgr, recs, n, true, MB_CIPHER, mb_vaes);
			mb_ni_hmac(recs, n, true);
		} else {
			/* Verify first: forged records are never decrypted. */
			mb_ni_hmac(recs, n, false);
			mb_pass(mb->cmgr, recs, n, false, MB_CIPHER, false);
		}
		break;
	case MB_SPLIT:
		if (seal) {
			mb_pass(mb->cmgr, recs, n, true, MB_CIPHER, false);
			mb_pass(mb->hmgr, recs, n, true, MB_HASH, false);
		} else {
			mb_pass(mb->hmgr, recs, n, false, MB_HASH, false);
			mb_pass(mb->cmgr, recs, n, false, MB_CIPHER, false);
		}
		break;
	default:
		mb_pass(mb->cmgr, recs, n, seal, MB_BOTH, false);
		break;
	}
}

int
engine_mb_hmac(struct engine_mb *mb, const uint8_t *key, size_t keylen, const uint8_t *msg,
	       size_t len, uint8_t out[32])
{
	uint8_t ipad[32] __attribute__((aligned(16))), opad[32] __attribute__((aligned(16)));
	IMB_JOB *j;
	int rc = CS_ECRYPTO;

	if (mb_mode == MB_NI) {
		/* A stack copy like ipad/opad below: KAT keys only, wiped. */
		struct sha256_ni_key k;
		struct sha256_ni_job job = {&k, msg, len, out};

		sha256_ni_hmac_key(&k, key, keylen);
		sha256_ni_hmac_many(&job, 1, MB_NI_LANES);
		secmem_wipe(&k, sizeof(k));
		return 0;
	}
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
