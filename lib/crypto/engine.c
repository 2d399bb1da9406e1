/*
 * engine: the batch interface, the checks and the work that is the same for
 * every implementation (IV generation, CBC padding), and dispatch.
 *
 * Invariant: an implementation sees only records that passed
 * engine_check(); for CBC it sees whole blocks only, because padding is
 * added here before sealing and removed here after a record has verified.
 */
#include "engine.h"
#include "util/err.h"
#include "util/secmem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/rand.h>

/*
 * IVs come from a per-engine pool refilled with one RAND_bytes call per
 * ENGINE_IVPOOL bytes: a RAND_bytes call costs ~1.4 us here, more than
 * sealing a 1 KiB record.  IVs are public, so holding them in ordinary
 * memory is fine; a pool inherited across fork() is discarded, so parent and
 * child never hand out the same IVs.  Forks are counted by a pthread_atfork
 * child handler rather than by asking getpid() for every IV (a system call
 * per record: 32 per MiB, more than all of a PUT's other calls together).
 */
#define ENGINE_IVPOOL 4096

struct engine {
	enum engine_kind kind;
	struct engine_evp *evp;
	struct engine_mb *mb;
	size_t ivpool_left;
	uint_fast64_t ivpool_forks; /* engine_forks when the pool was filled */
	uint8_t ivpool[ENGINE_IVPOOL];
};

static atomic_uint_fast64_t engine_serial = 1;
static atomic_uint_fast64_t engine_forks; /* fork()s this process came through */
static pthread_once_t engine_atfork_once = PTHREAD_ONCE_INIT;

static void
engine_after_fork(void)
{
	atomic_fetch_add(&engine_forks, 1);
}

static void
engine_atfork_init(void)
{
	if (pthread_atfork(NULL, NULL, engine_after_fork) != 0)
		abort(); /* ENOMEM at start-up: IV safety across fork() is not optional */
}

bool
engine_ipsecmb_usable(void)
{
	return engine_mb_usable();
}

const char *
engine_ipsecmb_arch(void)
{
	return engine_mb_arch();
}

int
engine_new(struct engine **out, enum engine_kind kind)
{
	struct engine *e;
	int rc;

	*out = NULL;
	if (kind == ENGINE_AUTO)
		kind = engine_mb_usable() ? ENGINE_IPSECMB : ENGINE_EVP;
	if (kind == ENGINE_IPSECMB && !engine_mb_usable())
		return CS_ENOTSUP;
	if (kind != ENGINE_EVP && kind != ENGINE_IPSECMB)
		return CS_EINVAL;
	pthread_once(&engine_atfork_once, engine_atfork_init);
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return CS_ENOMEM;
	e->kind = kind;
	if (kind == ENGINE_EVP)
		rc = engine_evp_new(&e->evp);
	else
		rc = engine_mb_new(&e->mb);
	if (rc != 0) {
		free(e);
		return rc;
	}
	*out = e;
	return 0;
}

void
engine_free(struct engine *e)
{
	if (e == NULL)
		return;
	engine_evp_free(e->evp);
	engine_mb_free(e->mb);
	free(e);
}

enum engine_kind
engine_kind_of(const struct engine *e)
{
	return e->kind;
}

const char *
engine_name(const struct engine *e)
{
	return e->kind == ENGINE_IPSECMB ? "ipsec-mb" : "evp";
}

int
engine_kind_parse(const char *s, enum engine_kind *out)
{
	if (s == NULL)
		return CS_EINVAL;
	if (strcmp(s, "auto") == 0)
		*out = ENGINE_AUTO;
	else if (strcmp(s, "evp") == 0)
		*out = ENGINE_EVP;
	else if (strcmp(s, "ipsec-mb") == 0)
		*out = ENGINE_IPSECMB;
	else
		return CS_EINVAL;
	return 0;
}

int
engine_key_new(struct engine_key **out, const struct suite_info *suite, const uint8_t *enc,
	       const uint8_t *mac)
{
	struct engine_key *k;

	*out = NULL;
	if (suite == NULL || enc == NULL || (suite->has_mac_key && mac == NULL))
		return CS_EINVAL;
	if ((k = secmem_alloc(sizeof(*k))) == NULL)
		return CS_ENOMEM;
	k->suite = suite;
	memcpy(k->enc, enc, SUITE_KEY_LEN);
	if (suite->has_mac_key)
		memcpy(k->mac, mac, SUITE_KEY_LEN);
	k->serial = atomic_fetch_add(&engine_serial, 1);
	if (engine_mb_usable() && engine_mb_key_prepare(k) != 0) {
		engine_key_free(k);
		return CS_ECRYPTO;
	}
	*out = k;
	return 0;
}

void
engine_key_free(struct engine_key *k)
{
	secmem_free(k, sizeof(*k));
}

/* engine_check(r, seal): the length rules every implementation relies on. */
static int
engine_check(const struct engine_rec *r, bool seal)
{
	const struct suite_info *s;

	if (r->buf == NULL || r->key == NULL || r->aad_len > ENGINE_MAX_AAD)
		return CS_EINVAL;
	s = r->key->suite;
	if (seal) {
		if (r->len > ENGINE_MAX_TEXT)
			return CS_EINVAL;
		if (s->padded && !r->final && (r->len == 0 || r->len % 16 != 0))
			return CS_EINVAL;
		return 0;
	}
	/* open: a wrong length means a damaged record, which is an auth failure */
	if (r->len > ENGINE_MAX_TEXT + SUITE_PAD_MAX)
		return CS_EAUTH;
	if (s->padded && (r->len == 0 || r->len % 16 != 0))
		return CS_EAUTH;
	return 0;
}

/* engine_iv: take n bytes of fresh randomness from e's pool. */
static int
engine_iv(struct engine *e, uint8_t *out, size_t n)
{
	uint_fast64_t forks = atomic_load(&engine_forks);

	if (e->ivpool_left < n || e->ivpool_forks != forks) {
		if (RAND_bytes(e->ivpool, sizeof(e->ivpool)) != 1)
			return CS_ECRYPTO;
		e->ivpool_left = sizeof(e->ivpool);
		e->ivpool_forks = forks;
	}
	memcpy(out, e->ivpool + sizeof(e->ivpool) - e->ivpool_left, n);
	/* Never hand out the same bytes twice. */
	memset(e->ivpool + sizeof(e->ivpool) - e->ivpool_left, 0, n);
	e->ivpool_left -= n;
	return 0;
}

/* engine_fill_ivs: a fresh random IV for every record that has none. */
static int
engine_fill_ivs(struct engine *e, struct engine_rec *recs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct engine_rec *r = &recs[i];
		int rc;

		if (r->status != 0 || r->iv_given)
			continue;
		if ((rc = engine_iv(e, r->buf + r->aad_len, r->key->suite->iv_len)) != 0)
			return rc;
	}
	return 0;
}

static int
engine_first_error(const struct engine_rec *recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (recs[i].status != 0)
			return recs[i].status;
	return 0;
}

int
engine_seal(struct engine *e, struct engine_rec *recs, size_t n)
{
	int rc;

	for (size_t i = 0; i < n; i++) {
		struct engine_rec *r = &recs[i];

		if ((r->status = engine_check(r, true)) != 0)
			continue;
		if (r->key->suite->padded && r->final) {
			uint8_t *text = r->buf + r->aad_len + r->key->suite->iv_len;
			size_t pad = 16 - r->len % 16;

			memset(text + r->len, (int)pad, pad);
			r->len += pad;
		}
	}
	if ((rc = engine_fill_ivs(e, recs, n)) != 0) {
		for (size_t i = 0; i < n; i++)
			if (recs[i].status == 0)
				recs[i].status = rc;
		return rc;
	}
	if (e->kind == ENGINE_IPSECMB) {
		engine_mb_run(e->mb, recs, n, true);
	} else {
		for (size_t i = 0; i < n; i++)
			if (recs[i].status == 0)
				engine_evp_seal(e->evp, &recs[i]);
	}
	return engine_first_error(recs, n);
}

/* engine_unpad: strip and check PKCS#7 padding of a verified final record. */
static int
engine_unpad(struct engine_rec *r)
{
	uint8_t *text = r->buf + r->aad_len + r->key->suite->iv_len;
	uint8_t pad = text[r->len - 1], bad = 0;

	if (pad == 0 || pad > 16 || pad > r->len)
		return CS_EAUTH;
	for (size_t i = r->len - pad; i < r->len; i++)
		bad |= (uint8_t)(text[i] ^ pad);
	if (bad != 0)
		return CS_EAUTH;
	r->len -= pad;
	return 0;
}

int
engine_open(struct engine *e, struct engine_rec *recs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		recs[i].status = engine_check(&recs[i], false);
	if (e->kind == ENGINE_IPSECMB) {
		engine_mb_run(e->mb, recs, n, false);
	} else {
		for (size_t i = 0; i < n; i++)
			if (recs[i].status == 0)
				engine_evp_open(e->evp, &recs[i]);
	}
	for (size_t i = 0; i < n; i++) {
		struct engine_rec *r = &recs[i];
		uint8_t *text;

		if (r->buf == NULL || r->key == NULL)
			continue;
		text = r->buf + r->aad_len + r->key->suite->iv_len;
		if (r->status == 0 && r->key->suite->padded && r->final)
			r->status = engine_unpad(r);
		if (r->status != 0 && r->len <= ENGINE_MAX_TEXT + SUITE_PAD_MAX)
			secmem_wipe(text, r->len);
	}
	return engine_first_error(recs, n);
}

int
engine_hmac_sha256(struct engine *e, const uint8_t *key, size_t keylen, const uint8_t *msg,
		   size_t len, uint8_t out[32])
{
	if (e->kind == ENGINE_IPSECMB)
		return engine_mb_hmac(e->mb, key, keylen, msg, len, out);
	return engine_evp_hmac(key, keylen, msg, len, out);
}
