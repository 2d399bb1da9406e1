/*
 * engine: seal and open many independent records at once.
 *
 * One interface, two implementations chosen at run time:
 *   "evp"      OpenSSL EVP, one record after another (the reference);
 *   "ipsec-mb" the multi-buffer engine: intel-ipsec-mb's job API runs 8-16
 *              independent AES-CBC or AES-GCM streams in parallel lanes;
 *              where the CPU has SHA-NI (and VAES), this project's own
 *              sha256_ni (and cbc_vaes) do the HMAC (and CBC encryption) of
 *              CBC records in more lanes than ipsec-mb 1.3 uses there
 *              (engine_mb.c).
 * Both produce byte-identical records (tests/unit/test_engine_equiv.c).
 *
 * An engine is single-threaded state (cipher contexts, a job manager): give
 * each thread its own.  An engine_key is read-only after engine_key_new()
 * and may be shared by any number of engines and threads.  Records are laid
 * out as suite.h describes.
 *
 * Record text is at most ENGINE_MAX_TEXT bytes and AAD at most
 * ENGINE_MAX_AAD: the multi-buffer library rejects a job that ciphers or
 * hashes 65,536 bytes or more, and the HMAC covers AAD + IV + ciphertext,
 * where the final CBC record gains up to 16 bytes of padding
 * (64 + 16 + 65408 + 16 = 65504).
 */
#ifndef CS_ENGINE_H
#define CS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <intel-ipsec-mb.h>

#include "sha256_ni.h"
#include "suite.h"

#define ENGINE_MAX_TEXT 65408u /* 64 KiB - 128 */
#define ENGINE_MAX_AAD  64u

enum engine_kind {
	ENGINE_AUTO = 0, /* ipsec-mb where usable, else evp */
	ENGINE_EVP = 1,
	ENGINE_IPSECMB = 2,
};

/*
 * A prepared per-object key: the raw AES and MAC keys and every schedule
 * both engines need, in secure memory.  Fields are engine-internal.
 */
struct engine_key {
	uint8_t enc_sched[16 * 15] __attribute__((aligned(64))); /* AES-256 enc rounds */
	uint8_t dec_sched[16 * 15] __attribute__((aligned(16))); /* AES-256 dec rounds */
	struct gcm_key_data gcm;                                 /* GCM tables (ipsec-mb) */
	uint8_t ipad[32] __attribute__((aligned(16)));           /* SHA-256 state, key^ipad */
	uint8_t opad[32] __attribute__((aligned(16)));           /* SHA-256 state, key^opad */
	struct sha256_ni_key ni;                                 /* the same for sha256_ni */
	uint8_t enc[SUITE_KEY_LEN];
	uint8_t mac[SUITE_KEY_LEN];
	const struct suite_info *suite;
	uint64_t serial; /* unique per key, for engines' context caches */
	bool mb_ready;   /* the ipsec-mb fields above are filled */
};

/* One record to seal or open; see suite.h for the buffer layout. */
struct engine_rec {
	uint8_t *buf;                 /* aad | iv | text | (pad) | tag */
	size_t aad_len;               /* bytes of AAD at buf (<= ENGINE_MAX_AAD) */
	size_t len;                   /* in: text length; out: the other side's length */
	const struct engine_key *key; /* the object's key */
	bool final;                   /* the object's last record (CBC: padded) */
	bool iv_given;                /* seal: the IV is already in buf (tests, KATs) */
	int status;                   /* out: 0, CS_EAUTH or CS_EINVAL */
	uint8_t scratch[SUITE_TAG_MAX] __attribute__((aligned(16))); /* engine-internal */
};

struct engine;

/* engine_ipsecmb_usable(): true if the multi-buffer library runs on this CPU
 * with AES-NI and passed its self-test. */
bool engine_ipsecmb_usable(void);

/* engine_ipsecmb_arch(): which code paths the fast engine uses here, e.g.
 * "vaes x16 cbc-enc + sha-ni x3 hmac + avx2 (ipsec-mb)" (engine_mb.c says
 * how they are chosen). */
const char *engine_ipsecmb_arch(void);

/*
 * engine_new(out, kind): create an engine of the given kind (ENGINE_AUTO
 * picks ipsec-mb when usable).  Returns 0, CS_ENOTSUP if the kind is not
 * usable here, or CS_ENOMEM.  Free with engine_free().
 */
int engine_new(struct engine **out, enum engine_kind kind) __attribute__((warn_unused_result));

/* engine_free(e): release e; NULL is a no-op. */
void engine_free(struct engine *e);

/* engine_kind_of(e) and engine_name(e): which implementation e is. */
enum engine_kind engine_kind_of(const struct engine *e);
const char *engine_name(const struct engine *e);

/* engine_kind_parse(s, out): "auto", "evp" or "ipsec-mb"; 0 or CS_EINVAL. */
int engine_kind_parse(const char *s, enum engine_kind *out) __attribute__((warn_unused_result));

/*
 * engine_key_new(out, suite, enc, mac): prepare a key for suite from the raw
 * 32-byte AES key enc and (CBC-HMAC only) the 32-byte MAC key mac.  The
 * result lives in secure memory; free it with engine_key_free().
 */
int engine_key_new(struct engine_key **out, const struct suite_info *suite, const uint8_t *enc,
		   const uint8_t *mac) __attribute__((warn_unused_result));

/* engine_key_free(k): wipe and release k; NULL is a no-op. */
void engine_key_free(struct engine_key *k);

/*
 * engine_seal(e, recs, n): encrypt and authenticate n records in place.
 * For each record the caller has filled the AAD and len bytes of plaintext;
 * unless iv_given, a fresh random IV is drawn.  On return each record's
 * status is 0 and len is its ciphertext length (tag excluded), or status is
 * negative (CS_EINVAL: bad length).  Returns 0 if every record succeeded,
 * else the first failing status.
 */
int engine_seal(struct engine *e, struct engine_rec *recs, size_t n)
	__attribute__((warn_unused_result));

/*
 * engine_open(e, recs, n): verify and decrypt n records in place.  len is
 * the ciphertext length in and the plaintext length out.  A record that
 * fails verification gets status CS_EAUTH and its text is wiped, so no
 * unverified plaintext is ever left in a buffer.  Returns 0 if every record
 * verified, else the first failing status.
 */
int engine_open(struct engine *e, struct engine_rec *recs, size_t n)
	__attribute__((warn_unused_result));

/*
 * engine_hmac_sha256(e, key, keylen, msg, len, out): plain HMAC-SHA-256
 * through the engine's own implementation; for known-answer tests.
 */
int engine_hmac_sha256(struct engine *e, const uint8_t *key, size_t keylen, const uint8_t *msg,
		       size_t len, uint8_t out[32]) __attribute__((warn_unused_result));

/* Implementation entry points, used only by engine.c. */
struct engine_evp;
struct engine_mb;
int engine_evp_new(struct engine_evp **out);
void engine_evp_free(struct engine_evp *ev);
void engine_evp_seal(struct engine_evp *ev, struct engine_rec *r);
void engine_evp_open(struct engine_evp *ev, struct engine_rec *r);
int engine_evp_hmac(const uint8_t *key, size_t keylen, const uint8_t *msg, size_t len,
		    uint8_t out[32]);
bool engine_mb_usable(void);
const char *engine_mb_arch(void);
int engine_mb_new(struct engine_mb **out);
void engine_mb_free(struct engine_mb *mb);
int engine_mb_key_prepare(struct engine_key *k);
void engine_mb_run(struct engine_mb *mb, struct engine_rec *recs, size_t n, bool seal);
int engine_mb_hmac(struct engine_mb *mb, const uint8_t *key, size_t keylen, const uint8_t *msg,
		   size_t len, uint8_t out[32]);

#endif /* CS_ENGINE_H */
