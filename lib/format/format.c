/*
 * format: the encrypted object container v1.  See format.h and
 * docs/FORMAT.md.
 *
 * Invariants: a format_obj's keys (chunk key, header MAC key) are in secure
 * memory and wiped by format_free(); the parser reads only inside the bytes
 * it was given and checks every length before it uses it; every failure
 * that depends on stored bytes returns CS_EAUTH.
 */
#include "format.h"
#include "crypto/kdf.h"
#include "crypto/keywrap.h"
#include "crypto/seal_shared.h"
#include "util/err.h"
#include "util/secmem.h"
#include "util/workq.h"

#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rand.h>

static const uint8_t format_magic[8] = {0x89, 'C', 'S', 'O', '\r', '\n', 0x1a, '\n'};
static const uint8_t format_tmagic[8] = {0x89, 'C', 'S', 'T', '\r', '\n', 0x1a, '\n'};

#define FORMAT_FIXED_LEN  44 /* magic .. kek version */
#define FORMAT_TAG_LEN    32
#define FORMAT_WRAP_LEN   40 /* RFC 5649 wrap of a 32-byte DEK */
#define FORMAT_META_INDEX UINT64_MAX

/* Header flags */
#define FORMAT_FLAG_PADDED 0x01 /* u32 p and p zero bytes between metadata and MAC */

/* AAD flags */
#define FORMAT_AAD_FINAL 0x01
#define FORMAT_AAD_META  0x02

static const char info_enc[] = "cryptstore v1 chunk encryption key";
static const char info_mac[] = "cryptstore v1 chunk mac key";
static const char info_hdr[] = "cryptstore v1 header mac key";

struct format_obj {
	const struct suite_info *suite;
	uint32_t chunk;
	uint32_t align; /* created objects: what the writer aligns (format_params) */
	uint8_t id[FORMAT_OBJID_LEN];
	char *label, *bucket, *kek_id;
	uint32_t kek_version;
	uint8_t *hdr;
	size_t hlen;
	uint8_t *meta;
	size_t meta_len;
	struct engine_key *ck; /* chunk key (secure memory) */
	uint8_t *hkey;         /* header/trailer MAC key, 32 bytes (secure memory) */
	uint8_t *dek;          /* the object's DEK (secure memory), for format_rewrap() */
	uint64_t len, nchunks; /* opened objects */
	uint8_t digest[FORMAT_DIGEST_LEN];
	uint32_t aux;
};

/* ---- byte order ---------------------------------------------------------- */

static void
put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void
put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint16_t
get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static uint64_t
get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* ---- geometry ------------------------------------------------------------ */

uint32_t
format_align(const struct format_obj *o)
{
	return o->align;
}

size_t
format_stride(const struct format_obj *o)
{
	return o->suite->iv_len + o->chunk + o->suite->tag_len;
}

uint64_t
format_chunk_offset(const struct format_obj *o, uint64_t i)
{
	return o->hlen + i * format_stride(o);
}

uint64_t
format_chunk_count(const struct format_obj *o, uint64_t len)
{
	return len == 0 ? 1 : (len - 1) / o->chunk + 1;
}

/* format_final_stored: stored bytes of the final chunk of a len-byte object. */
static size_t
format_final_stored(const struct format_obj *o, uint64_t len)
{
	uint64_t n = format_chunk_count(o, len);

	return suite_sealed_len(o->suite, (size_t)(len - (n - 1) * o->chunk), true);
}

uint64_t
format_stored_size(const struct format_obj *o, uint64_t len)
{
	return format_chunk_offset(o, format_chunk_count(o, len) - 1) +
	       format_final_stored(o, len) + FORMAT_TRAILER_LEN;
}

size_t
format_rec_size(const struct format_obj *o)
{
	size_t n = FORMAT_AAD_LEN + format_stride(o) + SUITE_PAD_MAX;

	return (n + 63) / 64 * 64;
}

uint8_t *
format_rec_text(const struct format_obj *o, uint8_t *buf)
{
	return buf + FORMAT_AAD_LEN + o->suite->iv_len;
}

size_t
format_rec_stored(const struct format_obj *o, const struct engine_rec *r)
{
	return o->suite->iv_len + r->len + o->suite->tag_len;
}

static void
format_aad(const struct format_obj *o, uint8_t *aad, uint64_t index, uint8_t flags)
{
	memcpy(aad, o->id, FORMAT_OBJID_LEN);
	put64(aad + 16, index);
	aad[24] = flags;
	memset(aad + 25, 0, FORMAT_AAD_LEN - 25);
}

void
format_rec_init(const struct format_obj *o, struct engine_rec *r, uint8_t *buf, uint64_t index,
		bool final, size_t len)
{
	format_aad(o, buf, index, final ? FORMAT_AAD_FINAL : 0);
	memset(r, 0, sizeof(*r));
	r->buf = buf;
	r->aad_len = FORMAT_AAD_LEN;
	r->len = len;
	r->key = o->ck;
	r->final = final;
}

/* ---- accessors ----------------------------------------------------------- */

const uint8_t *
format_header(const struct format_obj *o, size_t *len)
{
	*len = o->hlen;
	return o->hdr;
}

const struct suite_info *
format_suite(const struct format_obj *o)
{
	return o->suite;
}

uint32_t
format_chunk_size(const struct format_obj *o)
{
	return o->chunk;
}

const uint8_t *
format_object_id(const struct format_obj *o)
{
	return o->id;
}

const char *
format_label(const struct format_obj *o)
{
	return o->label;
}

const char *
format_bucket(const struct format_obj *o)
{
	return o->bucket;
}

const char *
format_kek_id(const struct format_obj *o)
{
	return o->kek_id;
}

uint32_t
format_kek_version(const struct format_obj *o)
{
	return o->kek_version;
}

const uint8_t *
format_meta(const struct format_obj *o, size_t *len)
{
	*len = o->meta_len;
	return o->meta;
}

uint64_t
format_length(const struct format_obj *o)
{
	return o->len;
}

uint64_t
format_nchunks(const struct format_obj *o)
{
	return o->nchunks;
}

void
format_free(struct format_obj *o)
{
	if (o == NULL)
		return;
	engine_key_free(o->ck);
	secmem_free(o->hkey, 32);
	secmem_free(o->dek, FORMAT_DEK_LEN);
	free(o->label);
	free(o->bucket);
	free(o->kek_id);
	free(o->hdr);
	if (o->meta != NULL)
		secmem_wipe(o->meta, o->meta_len);
	free(o->meta);
	free(o);
}

/* ---- keys ---------------------------------------------------------------- */

/* format_keys: derive the chunk key and the header MAC key from dek. */
static int
format_keys(struct format_obj *o, const uint8_t *dek)
{
	uint8_t *k;
	int rc;

	if ((k = secmem_alloc(64)) == NULL)
		return CS_ENOMEM;
	if ((o->hkey = secmem_alloc(32)) == NULL ||
	    (o->dek = secmem_alloc(FORMAT_DEK_LEN)) == NULL) {
		rc = CS_ENOMEM;
		goto out;
	}
	memcpy(o->dek, dek, FORMAT_DEK_LEN);
	if ((rc = kdf_hkdf_sha256(k, 32, dek, FORMAT_DEK_LEN, o->id, FORMAT_OBJID_LEN,
				  (const uint8_t *)info_enc, sizeof(info_enc) - 1)) != 0 ||
	    (rc = kdf_hkdf_sha256(k + 32, 32, dek, FORMAT_DEK_LEN, o->id, FORMAT_OBJID_LEN,
				  (const uint8_t *)info_mac, sizeof(info_mac) - 1)) != 0 ||
	    (rc = kdf_hkdf_sha256(o->hkey, 32, dek, FORMAT_DEK_LEN, o->id, FORMAT_OBJID_LEN,
				  (const uint8_t *)info_hdr, sizeof(info_hdr) - 1)) != 0)
		goto out;
	rc = engine_key_new(&o->ck, o->suite, k, o->suite->has_mac_key ? k + 32 : NULL);
out:
	secmem_free(k, 64);
	return rc;
}

static EVP_MAC *format_mac;
static pthread_once_t format_mac_once = PTHREAD_ONCE_INIT;

static void
format_mac_fetch(void)
{
	format_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* format_hmac: HMAC-SHA-256 under the 32-byte key over a || b. */
static int
format_hmac(const uint8_t *key, const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
	    uint8_t out[32])
{
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx;
	size_t n = 0;
	int ok;

	pthread_once(&format_mac_once, format_mac_fetch);
	if (format_mac == NULL || (ctx = EVP_MAC_CTX_new(format_mac)) == NULL)
		return CS_ECRYPTO;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)(uintptr_t) "SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = EVP_MAC_init(ctx, key, 32, params) == 1 && EVP_MAC_update(ctx, a, alen) == 1 &&
	     (blen == 0 || EVP_MAC_update(ctx, b, blen) == 1) &&
	     EVP_MAC_final(ctx, out, &n, 32) == 1 && n == 32;
	EVP_MAC_CTX_free(ctx);
	return ok ? 0 : CS_ECRYPTO;
}

/* format_meta_rec: seal (or open) the metadata record in place in buf. */
static int
format_meta_rec(struct format_obj *o, struct engine *e, uint8_t *buf, size_t len, bool seal,
		size_t *outlen)
{
	struct engine_rec r;
	int rc;

	format_rec_init(o, &r, buf, FORMAT_META_INDEX, true, len);
	buf[24] = FORMAT_AAD_FINAL | FORMAT_AAD_META;
	rc = seal ? engine_seal(e, &r, 1) : engine_open(e, &r, 1);
	*outlen = r.len;
	return rc;
}

static char *
format_strdup(const char *s, size_t n)
{
	char *p = malloc(n + 1);

	if (p != NULL) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

/* ---- creating ------------------------------------------------------------ */

static size_t
format_str_ok(const char *s)
{
	size_t n;

	if (s == NULL)
		return 0;
	n = strnlen(s, FORMAT_STR_MAX + 1);
	return n > FORMAT_STR_MAX ? 0 : n;
}

int
format_create(struct format_obj **out, const struct format_params *p, struct engine *e)
{
	size_t nl = format_str_ok(p->label), nb = format_str_ok(p->bucket);
	size_t nk = format_str_ok(p->kek.id), mrec, hlen, off, clen, pad = 0;
	uint8_t *dek = NULL, *mbuf = NULL;
	struct format_obj *o;
	int rc = CS_EINVAL;

	*out = NULL;
	if (nl == 0 || nb == 0 || nk == 0 || p->kek.key == NULL || p->meta_len > FORMAT_META_MAX ||
	    (p->meta == NULL && p->meta_len > 0))
		return CS_EINVAL;
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return CS_ENOMEM;
	o->suite = p->suite != NULL ? p->suite : suite_default();
	o->chunk = p->chunk_size != 0 ? p->chunk_size : FORMAT_CHUNK_DEFAULT;
	if (o->chunk < FORMAT_CHUNK_MIN || o->chunk > FORMAT_CHUNK_MAX || o->chunk % 16 != 0)
		goto err;
	if (p->align != 0) {
		size_t ov = o->suite->iv_len + o->suite->tag_len;
		size_t st = (o->chunk + ov) / p->align * p->align; /* the stride, aligned down */

		if (p->align < FORMAT_ALIGN_MIN || p->align > FORMAT_ALIGN_MAX ||
		    (p->align & (p->align - 1)) != 0)
			goto err;
		/* Only where a chunk of whole AES blocks gives an aligned stride. */
		if (st >= ov + FORMAT_CHUNK_MIN && (st - ov) % 16 == 0) {
			o->chunk = (uint32_t)(st - ov);
			o->align = p->align;
		}
	}
	o->kek_version = p->kek.version;
	rc = CS_ENOMEM;
	if ((o->label = format_strdup(p->label, nl)) == NULL ||
	    (o->bucket = format_strdup(p->bucket, nb)) == NULL ||
	    (o->kek_id = format_strdup(p->kek.id, nk)) == NULL)
		goto err;
	if ((o->meta = malloc(p->meta_len + 1)) == NULL)
		goto err;
	if (p->meta_len > 0)
		memcpy(o->meta, p->meta, p->meta_len);
	o->meta_len = p->meta_len;
	if ((dek = secmem_alloc(FORMAT_DEK_LEN)) == NULL)
		goto err;
	rc = CS_ECRYPTO;
	if (RAND_bytes(o->id, FORMAT_OBJID_LEN) != 1 || RAND_bytes(dek, FORMAT_DEK_LEN) != 1)
		goto err;
	if ((rc = format_keys(o, dek)) != 0)
		goto err;

	mrec = suite_sealed_len(o->suite, p->meta_len, true);
	hlen = FORMAT_FIXED_LEN + 2 + nk + 2 + nl + 2 + nb + 2 + FORMAT_WRAP_LEN + 4 + mrec +
	       FORMAT_TAG_LEN;
	if (o->align != 0) { /* u32 p, then p zero bytes up to a multiple of align */
		hlen += 4;
		pad = (o->align - hlen % o->align) % o->align;
		hlen += pad;
	}
	rc = CS_EINVAL;
	if (hlen > FORMAT_HEADER_MAX) /* cannot happen with the field limits; checked anyway */
		goto err;
	rc = CS_ENOMEM;
	if ((o->hdr = calloc(1, hlen)) == NULL)
		goto err;
	if ((mbuf = malloc(FORMAT_AAD_LEN + mrec + SUITE_PAD_MAX)) == NULL)
		goto err;
	o->hlen = hlen;
	memcpy(o->hdr, format_magic, 8);
	put16(o->hdr + 8, FORMAT_VERSION);
	put16(o->hdr + 10, (uint16_t)o->suite->id);
	put32(o->hdr + 12, (uint32_t)hlen);
	put32(o->hdr + 16, o->chunk);
	put32(o->hdr + 20, o->align != 0 ? FORMAT_FLAG_PADDED : 0);
	memcpy(o->hdr + 24, o->id, FORMAT_OBJID_LEN);
	put32(o->hdr + 40, o->kek_version);
	off = FORMAT_FIXED_LEN;
	put16(o->hdr + off, (uint16_t)nk);
	memcpy(o->hdr + off + 2, p->kek.id, nk);
	off += 2 + nk;
	put16(o->hdr + off, (uint16_t)nl);
	memcpy(o->hdr + off + 2, p->label, nl);
	off += 2 + nl;
	put16(o->hdr + off, (uint16_t)nb);
	memcpy(o->hdr + off + 2, p->bucket, nb);
	off += 2 + nb;
	put16(o->hdr + off, FORMAT_WRAP_LEN);
	if (keywrap_wrap(p->kek.key, 32, dek, FORMAT_DEK_LEN, o->hdr + off + 2, FORMAT_WRAP_LEN) !=
	    FORMAT_WRAP_LEN) {
		rc = CS_ECRYPTO;
		goto err;
	}
	off += 2 + FORMAT_WRAP_LEN;
	put32(o->hdr + off, (uint32_t)mrec);
	off += 4;
	if (p->meta_len > 0)
		memcpy(format_rec_text(o, mbuf), p->meta, p->meta_len);
	if ((rc = format_meta_rec(o, e, mbuf, p->meta_len, true, &clen)) != 0)
		goto err;
	memcpy(o->hdr + off, mbuf + FORMAT_AAD_LEN, mrec);
	off += mrec;
	if (o->align != 0) { /* the zeros are calloc's */
		put32(o->hdr + off, (uint32_t)pad);
		off += 4 + pad;
	}
	if ((rc = format_hmac(o->hkey, o->hdr, off, NULL, 0, o->hdr + off)) != 0)
		goto err;
	secmem_free(dek, FORMAT_DEK_LEN);
	free(mbuf);
	*out = o;
	return 0;
err:
	secmem_free(dek, FORMAT_DEK_LEN);
	free(mbuf);
	format_free(o);
	return rc;
}

void
format_trailer(const struct format_obj *o, uint64_t len, const uint8_t *digest, uint32_t aux,
	       uint8_t out[FORMAT_TRAILER_LEN])
{
	memcpy(out, format_tmagic, 8);
	put64(out + 8, len);
	put64(out + 16, format_chunk_count(o, len));
	if (digest != NULL)
		memcpy(out + 24, digest, FORMAT_DIGEST_LEN);
	else
		memset(out + 24, 0, FORMAT_DIGEST_LEN);
	put32(out + 40, aux);
	put32(out + 44, 0); /* reserved */
	/* The MAC covers the object id too: a trailer cannot move between objects. */
	if (format_hmac(o->hkey, o->id, FORMAT_OBJID_LEN, out, 48, out + 48) != 0)
		memset(out + 48, 0, 32); /* cannot verify: the object will not open */
}

const uint8_t *
format_digest(const struct format_obj *o, uint32_t *aux)
{
	*aux = o->aux;
	return o->digest;
}

/* ---- opening ------------------------------------------------------------- */

int
format_header_len(const uint8_t *prefix, size_t n, size_t *hlen)
{
	uint32_t h;

	if (n < FORMAT_PREFIX_LEN || memcmp(prefix, format_magic, 8) != 0 ||
	    get16(prefix + 8) != FORMAT_VERSION)
		return CS_EAUTH;
	h = get32(prefix + 12);
	if (h < FORMAT_FIXED_LEN + FORMAT_TAG_LEN || h > FORMAT_HEADER_MAX)
		return CS_EAUTH;
	*hlen = h;
	return 0;
}

/* A bounds-checked cursor over header bytes. */
struct cur {
	const uint8_t *p;
	size_t left;
};

static const uint8_t *
cur_take(struct cur *c, size_t n)
{
	const uint8_t *p = c->p;

	if (n > c->left)
		return NULL;
	c->p += n;
	c->left -= n;
	return p;
}

/* cur_str: a u16-length-prefixed field of 1..max bytes. */
static const uint8_t *
cur_field16(struct cur *c, size_t max, size_t *n)
{
	const uint8_t *l = cur_take(c, 2);

	if (l == NULL || (*n = get16(l)) == 0 || *n > max)
		return NULL;
	return cur_take(c, *n);
}

static int
format_text_ok(const uint8_t *s, size_t n)
{
	return memchr(s, '\0', n) == NULL;
}

int
format_dek_span(const uint8_t *hdr, size_t hlen, size_t *off, size_t *len)
{
	size_t h, n;
	struct cur c;

	if (hdr == NULL || format_header_len(hdr, hlen, &h) != 0 || h != hlen)
		return CS_EAUTH;
	c.p = hdr + FORMAT_FIXED_LEN;
	c.left = hlen - FORMAT_FIXED_LEN - FORMAT_TAG_LEN;
	for (int i = 0; i < 3; i++)
		if (cur_field16(&c, FORMAT_STR_MAX, &n) == NULL)
			return CS_EAUTH;
	if (c.left < 2 + FORMAT_WRAP_LEN || get16(c.p) != FORMAT_WRAP_LEN)
		return CS_EAUTH;
	*off = (size_t)(c.p + 2 - hdr);
	*len = FORMAT_WRAP_LEN;
	return 0;
}

int
format_rewrap(struct format_obj *o, const struct format_kek *kek)
{
	size_t off, len;

	if (o->dek == NULL || o->hdr == NULL || kek == NULL || kek->key == NULL ||
	    kek->id == NULL || strcmp(kek->id, o->kek_id) != 0)
		return CS_EINVAL;
	if (format_dek_span(o->hdr, o->hlen, &off, &len) != 0)
		return CS_EINVAL;
	put32(o->hdr + 40, kek->version);
	if (keywrap_wrap(kek->key, 32, o->dek, FORMAT_DEK_LEN, o->hdr + off, len) != (long)len)
		return CS_ECRYPTO;
	o->kek_version = kek->version;
	return format_hmac(o->hkey, o->hdr, o->hlen - FORMAT_TAG_LEN, NULL, 0,
			   o->hdr + o->hlen - FORMAT_TAG_LEN);
}

int
format_peek_kek(const uint8_t *hdr, size_t hlen, char *id, size_t idsz, uint32_t *version)
{
	const uint8_t *kid;
	struct cur c;
	size_t h, nk;

	if (hdr == NULL || format_header_len(hdr, hlen, &h) != 0 || h != hlen)
		return CS_EAUTH;
	c.p = hdr + FORMAT_FIXED_LEN;
	c.left = hlen - FORMAT_FIXED_LEN - FORMAT_TAG_LEN;
	if ((kid = cur_field16(&c, FORMAT_STR_MAX, &nk)) == NULL || !format_text_ok(kid, nk))
		return CS_EAUTH;
	if (nk >= idsz)
		return CS_ERANGE;
	memcpy(id, kid, nk);
	id[nk] = '\0';
	*version = get32(hdr + 40);
	return 0;
}

int
format_open(struct format_obj **out, const uint8_t *hdr, size_t hlen,
	    const uint8_t trailer[FORMAT_TRAILER_LEN], uint64_t stored_size,
	    const struct format_expect *exp, format_kek_fn kek, void *arg, struct engine *e)
{
	const uint8_t *kid, *lab, *bkt, *wrap, *mrec, *mlenp, *padp;
	size_t nk, nl, nb, nw, mlen, h, clen;
	uint8_t *kekbuf = NULL, *dek = NULL, *mbuf = NULL, tag[32];
	struct format_obj *o;
	uint32_t flags;
	struct cur c;
	int rc = CS_EAUTH;
	long n;

	*out = NULL;
	if (hdr == NULL || format_header_len(hdr, hlen, &h) != 0 || h != hlen)
		return CS_EAUTH;
	if ((o = calloc(1, sizeof(*o))) == NULL)
		return CS_ENOMEM;
	if ((o->suite = suite_by_id(get16(hdr + 10))) == NULL)
		goto err;
	o->chunk = get32(hdr + 16);
	flags = get32(hdr + 20);
	if (o->chunk < FORMAT_CHUNK_MIN || o->chunk > FORMAT_CHUNK_MAX || o->chunk % 16 != 0 ||
	    (flags & ~(uint32_t)FORMAT_FLAG_PADDED) != 0)
		goto err;
	memcpy(o->id, hdr + 24, FORMAT_OBJID_LEN);
	o->kek_version = get32(hdr + 40);
	c.p = hdr + FORMAT_FIXED_LEN;
	c.left = hlen - FORMAT_FIXED_LEN - FORMAT_TAG_LEN;
	if ((kid = cur_field16(&c, FORMAT_STR_MAX, &nk)) == NULL ||
	    (lab = cur_field16(&c, FORMAT_STR_MAX, &nl)) == NULL ||
	    (bkt = cur_field16(&c, FORMAT_STR_MAX, &nb)) == NULL ||
	    (wrap = cur_field16(&c, FORMAT_WRAP_LEN, &nw)) == NULL || nw != FORMAT_WRAP_LEN ||
	    (mlenp = cur_take(&c, 4)) == NULL)
		goto err;
	mlen = get32(mlenp);
	if (mlen < o->suite->iv_len + o->suite->tag_len ||
	    mlen > suite_sealed_len(o->suite, FORMAT_META_MAX, true) ||
	    (mrec = cur_take(&c, mlen)) == NULL)
		goto err;
	/* Padding, if the flag says so: its length is all that is left, all zero. */
	if ((flags & FORMAT_FLAG_PADDED) != 0) {
		if ((padp = cur_take(&c, 4)) == NULL || get32(padp) != c.left ||
		    (c.left > 0 && (c.p[0] != 0 || memcmp(c.p, c.p + 1, c.left - 1) != 0)))
			goto err;
	} else if (c.left != 0) {
		goto err;
	}
	if (!format_text_ok(kid, nk) || !format_text_ok(lab, nl) || !format_text_ok(bkt, nb))
		goto err;
	rc = CS_ENOMEM;
	if ((o->kek_id = format_strdup((const char *)kid, nk)) == NULL ||
	    (o->label = format_strdup((const char *)lab, nl)) == NULL ||
	    (o->bucket = format_strdup((const char *)bkt, nb)) == NULL)
		goto err;
	if ((kekbuf = secmem_alloc(32)) == NULL || (dek = secmem_alloc(FORMAT_DEK_LEN)) == NULL)
		goto err;
	/* A missing KEK is CS_EAUTH too: until the header verifies, a KEK
	 * reference may be damage.  Callers explain a destroyed key with
	 * format_peek_kek(). */
	rc = CS_EAUTH;
	if (kek(arg, o->kek_id, o->kek_version, kekbuf) != 0)
		goto err;
	n = keywrap_unwrap(kekbuf, 32, wrap, nw, dek, FORMAT_DEK_LEN);
	if (n != FORMAT_DEK_LEN)
		goto err;
	if ((rc = format_keys(o, dek)) != 0)
		goto err;
	rc = CS_EAUTH;
	if (format_hmac(o->hkey, hdr, hlen - FORMAT_TAG_LEN, NULL, 0, tag) != 0 ||
	    !secmem_eq(tag, hdr + hlen - FORMAT_TAG_LEN, FORMAT_TAG_LEN))
		goto err;
	/* Authentic from here on; now check it is the object we were asked for. */
	if (exp != NULL && ((exp->label != NULL && strcmp(exp->label, o->label) != 0) ||
			    (exp->bucket != NULL && strcmp(exp->bucket, o->bucket) != 0)))
		goto err;
	rc = CS_ENOMEM;
	if ((mbuf = malloc(FORMAT_AAD_LEN + mlen)) == NULL)
		goto err;
	memcpy(mbuf + FORMAT_AAD_LEN, mrec, mlen);
	if (format_meta_rec(o, e, mbuf, mlen - o->suite->iv_len - o->suite->tag_len, false,
			    &clen) != 0) {
		rc = CS_EAUTH;
		goto err;
	}
	if ((o->meta = malloc(clen + 1)) == NULL)
		goto err;
	memcpy(o->meta, format_rec_text(o, mbuf), clen);
	o->meta_len = clen;
	/* The trailer: authentic, and agreeing with the stored size. */
	rc = CS_EAUTH;
	if (trailer == NULL || memcmp(trailer, format_tmagic, 8) != 0 ||
	    format_hmac(o->hkey, o->id, FORMAT_OBJID_LEN, trailer, 48, tag) != 0 ||
	    !secmem_eq(tag, trailer + 48, 32) || get32(trailer + 44) != 0)
		goto err;
	o->len = get64(trailer + 8);
	o->nchunks = get64(trailer + 16);
	memcpy(o->digest, trailer + 24, FORMAT_DIGEST_LEN);
	o->aux = get32(trailer + 40);
	o->hlen = hlen;
	/* Bound len first so that the geometry arithmetic cannot overflow. */
	if (o->len > (UINT64_MAX / 2) / format_stride(o) * o->chunk ||
	    o->nchunks != format_chunk_count(o, o->len) ||
	    stored_size != format_stored_size(o, o->len))
		goto err;
	if ((o->hdr = malloc(hlen)) == NULL) {
		rc = CS_ENOMEM;
		goto err;
	}
	memcpy(o->hdr, hdr, hlen);
	secmem_free(kekbuf, 32);
	secmem_free(dek, FORMAT_DEK_LEN);
	if (mbuf != NULL)
		secmem_wipe(mbuf, FORMAT_AAD_LEN + mlen);
	free(mbuf);
	*out = o;
	return 0;
err:
	secmem_free(kekbuf, 32);
	secmem_free(dek, FORMAT_DEK_LEN);
	if (mbuf != NULL)
		secmem_wipe(mbuf, FORMAT_AAD_LEN + mlen);
	free(mbuf);
	format_free(o);
	return rc;
}

/* ---- streaming writer ----------------------------------------------------
 *
 * Plaintext fills a batch of FORMAT_BATCH record buffers (a slot).  In the
 * synchronous mode a full slot is sealed and sunk by the calling thread.
 * With a work queue, a full slot goes to a worker (which seals it with its
 * own engine and sinks it at the batch's fixed offset) while the caller
 * fills the other slot: one upload then uses two cores, the receiving
 * thread and a sealing worker, and batches land out of order, which the
 * fixed stride allows.  The last (final) batch is sealed by the caller
 * after every earlier batch is done.
 */

#define FORMAT_SLOTS 2

/*
 * Batch buffers (FORMAT_BATCH records, ~0.5 MiB at the default chunk size)
 * are kept for reuse: allocating one per object meant an mmap, 128 page
 * faults of zeroed pages and an munmap with a TLB shoot-down for every PUT
 * and GET, which cost more than the cipher for small objects.  A returned
 * buffer is wiped first where it may hold plaintext (the caller says how
 * many bytes); the pool keeps at most POOL_MAX of them (20 MiB), of any one
 * size at a time.  Objects of one batch or less never take a pooled buffer:
 * they get exactly the records they need.
 *
 * A pooled buffer is page-aligned (a writer of an aligned object puts its
 * records at aligned addresses within it) and its size is rounded up to a
 * POOL_CLASS multiple, so that a writer's aligned layout (up to 580 KiB at
 * 4096) and a reader's plain one (513 KiB) share the pool instead of
 * emptying it in turn.
 */
#define POOL_MAX   32
#define POOL_CLASS 131072u
#define PAGE_ALIGN 4096u

static size_t
pool_class(size_t size)
{
	return (size + POOL_CLASS - 1) / POOL_CLASS * POOL_CLASS;
}

/* buf_alloc(size): page-aligned memory of at least size bytes, for free(). */
static uint8_t *
buf_alloc(size_t size)
{
	return aligned_alloc(PAGE_ALIGN, (size + PAGE_ALIGN - 1) / PAGE_ALIGN * PAGE_ALIGN);
}

static struct {
	pthread_mutex_t mu;
	size_t size; /* the buffers' size; a different size empties the pool */
	unsigned n;
	uint8_t *b[POOL_MAX];
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* batch_get(size): a buffer of size bytes, pre-touched if it comes from the pool. */
static uint8_t *
batch_get(size_t size)
{
	uint8_t *b = NULL;

	size = pool_class(size);
	pthread_mutex_lock(&pool.mu);
	if (pool.n > 0 && pool.size == size)
		b = pool.b[--pool.n];
	pthread_mutex_unlock(&pool.mu);
	return b != NULL ? b : buf_alloc(size);
}

/* batch_put(b, size, dirty): wipe the first dirty bytes of b (which may hold
 * plaintext), then keep b for batch_get or free it.  NULL is a no-op. */
static void
batch_put(uint8_t *b, size_t size, size_t dirty)
{
	uint8_t *drop[POOL_MAX];
	unsigned nd = 0;

	if (b == NULL)
		return;
	if (dirty > 0)
		secmem_wipe(b, dirty < size ? dirty : size);
	size = pool_class(size);
	pthread_mutex_lock(&pool.mu);
	if (pool.size != size) { /* a new geometry: the old buffers go */
		while (pool.n > 0)
			drop[nd++] = pool.b[--pool.n];
		pool.size = size;
	}
	if (pool.n < POOL_MAX) {
		pool.b[pool.n++] = b;
		b = NULL;
	}
	pthread_mutex_unlock(&pool.mu);
	free(b);
	while (nd > 0)
		free(drop[--nd]);
}

struct format_writer;

struct wslot {
	struct format_writer *w;
	uint8_t *bufs;  /* cap record buffers of recsz bytes */
	size_t cap;     /* 1 until a second chunk needs room, then FORMAT_BATCH */
	uint64_t first; /* chunk index of its first record */
	size_t n;
	bool busy;  /* with a worker */
	bool dirty; /* may hold plaintext: filled since it was last sealed */
};

struct format_writer {
	struct format_obj *o;
	struct engine *e;
	format_sink_fn sink;
	void *arg;
	struct workq *q;        /* NULL: synchronous */
	struct seal_shared *ss; /* the last batch's seal, with other threads'; NULL: alone */
	struct wslot slot[FORMAT_SLOTS];
	unsigned cur; /* the slot being filled */
	size_t lead;  /* record k of a slot is at bufs + lead + k * recsz */
	size_t recsz;
	size_t nfull;   /* full chunks in the current slot before the current one */
	size_t fill;    /* bytes in the current chunk */
	uint64_t first; /* index of the current slot's first chunk */
	uint64_t total; /* plaintext bytes accepted */
	int err;        /* sticky error */
	bool finished;
	pthread_mutex_t mu; /* async: busy flags, err and notify */
	pthread_cond_t cv;
	void (*notify)(void *arg); /* set: space does not wait for a slot; told when one is back */
	void *notify_arg;
};

int
format_writer_new_async(struct format_writer **out, struct format_obj *o, struct engine *e,
			format_sink_fn sink, void *arg, struct workq *q)
{
	struct format_writer *w;
	struct iovec iov;
	int rc;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return CS_ENOMEM;
	w->o = o;
	w->e = e;
	w->sink = sink;
	w->arg = arg;
	w->q = q;
	w->recsz = format_rec_size(o);
	if (o->align != 0) {
		/* A record's stored bytes (after its AAD) at an aligned address,
		 * and records a multiple of align apart. */
		w->lead = o->align - FORMAT_AAD_LEN;
		w->recsz = (w->recsz + o->align - 1) / o->align * o->align;
	}
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	for (unsigned i = 0; i < FORMAT_SLOTS; i++)
		w->slot[i].w = w;
	/* One record to start with: most objects are small (batch_get). */
	if ((w->slot[0].bufs = buf_alloc(w->lead + w->recsz)) == NULL) {
		format_writer_free(w);
		return CS_ENOMEM;
	}
	w->slot[0].cap = 1;
	iov.iov_base = o->hdr;
	iov.iov_len = o->hlen;
	if ((rc = sink(arg, 0, &iov, 1)) != 0) {
		format_writer_free(w);
		return rc;
	}
	*out = w;
	return 0;
}

int
format_writer_new(struct format_writer **out, struct format_obj *o, struct engine *e,
		  format_sink_fn sink, void *arg)
{
	return format_writer_new_async(out, o, e, sink, arg, NULL);
}

/* slot_flush: seal s's n records with engine e (through the combiner ss
 * unless NULL; the last record final if final) and sink them. */
static int
slot_flush(struct format_writer *w, struct wslot *s, struct engine *e, struct seal_shared *ss,
	   bool final, size_t last_len)
{
	struct engine_rec recs[FORMAT_BATCH];
	struct iovec iov[FORMAT_BATCH];
	int rc;

	for (size_t i = 0; i < s->n; i++) {
		bool last = final && i == s->n - 1;

		format_rec_init(w->o, &recs[i], s->bufs + w->lead + i * w->recsz, s->first + i,
				last, last ? last_len : w->o->chunk);
	}
	rc = ss != NULL ? seal_shared_seal(ss, e, recs, s->n) : engine_seal(e, recs, s->n);
	if (rc != 0)
		return rc;
	s->dirty = false; /* sealed in place: ciphertext only */
	for (size_t i = 0; i < s->n; i++) {
		iov[i].iov_base = recs[i].buf + FORMAT_AAD_LEN;
		iov[i].iov_len = format_rec_stored(w->o, &recs[i]);
	}
	return w->sink(w->arg, format_chunk_offset(w->o, s->first), iov, (int)s->n);
}

static void
slot_job(void *arg, void *ctx)
{
	struct wslot *s = arg;
	struct format_writer *w = s->w;
	int rc = slot_flush(w, s, ctx, NULL, false, 0);

	pthread_mutex_lock(&w->mu);
	if (rc != 0 && w->err == 0)
		w->err = rc;
	s->busy = false;
	pthread_cond_broadcast(&w->cv);
	if (w->notify != NULL)
		w->notify(w->notify_arg);
	pthread_mutex_unlock(&w->mu);
}

/* writer_wait: until slot i (or, with i < 0, every slot) is back from the
 * workers; returns the sticky error. */
static int
writer_wait(struct format_writer *w, int i)
{
	int rc;

	if (w->q == NULL)
		return w->err;
	pthread_mutex_lock(&w->mu);
	for (unsigned k = 0; k < FORMAT_SLOTS; k++)
		while ((i < 0 || (unsigned)i == k) && w->slot[k].busy)
			pthread_cond_wait(&w->cv, &w->mu);
	rc = w->err;
	pthread_mutex_unlock(&w->mu);
	return rc;
}

/* writer_slot_free: the current slot is back from the workers (waiting
 * for it, or CS_EAGAIN if w has a notify hook); returns the sticky error. */
static int
writer_slot_free(struct format_writer *w)
{
	int rc;

	if (w->q == NULL || w->notify == NULL)
		return writer_wait(w, (int)w->cur);
	pthread_mutex_lock(&w->mu);
	rc = w->err != 0 ? w->err : w->slot[w->cur].busy ? CS_EAGAIN : 0;
	pthread_mutex_unlock(&w->mu);
	return rc;
}

/* writer_batch_full: hand the current (full, not final) slot on; the next
 * one is waited for when its first chunk needs room (writer_room). */
static int
writer_batch_full(struct format_writer *w)
{
	struct wslot *s = &w->slot[w->cur];
	int rc;

	s->first = w->first;
	s->n = FORMAT_BATCH;
	w->first += FORMAT_BATCH;
	w->nfull = 0;
	if (w->q == NULL)
		return slot_flush(w, s, w->e, NULL, false, 0);
	pthread_mutex_lock(&w->mu);
	s->busy = true;
	pthread_mutex_unlock(&w->mu);
	if ((rc = workq_submit(w->q, slot_job, s)) != 0) {
		pthread_mutex_lock(&w->mu);
		s->busy = false;
		pthread_mutex_unlock(&w->mu);
		return rc;
	}
	w->cur = (w->cur + 1) % FORMAT_SLOTS;
	return 0;
}

/* slot_room: make the current slot hold record w->nfull (a whole batch
 * from the pool once the first record is not enough). */
static int
slot_room(struct format_writer *w)
{
	struct wslot *s = &w->slot[w->cur];
	size_t full = w->lead + FORMAT_BATCH * w->recsz;
	uint8_t *b;

	if (s->bufs != NULL && w->nfull < s->cap)
		return 0;
	if ((b = batch_get(full)) == NULL)
		return CS_ENOMEM;
	if (s->bufs != NULL) {
		memcpy(b, s->bufs, w->lead + s->cap * w->recsz);
		secmem_wipe(s->bufs, w->lead + s->cap * w->recsz);
		free(s->bufs);
	}
	s->bufs = b;
	s->cap = FORMAT_BATCH;
	return 0;
}

/* writer_ready: w may take more plaintext (an async worker's error comes
 * back here: writer_wait reads the sticky error under the workers' mutex). */
static int
writer_ready(struct format_writer *w)
{
	int rc = writer_wait(w, INT_MAX); /* INT_MAX: no slot, just the error */

	return rc != 0 ? rc : w->finished ? CS_EINVAL : 0;
}

/* writer_fail: make rc w's sticky error unless it has one; returns rc.  The
 * workers set it too, so an async writer's is set under their mutex. */
static int
writer_fail(struct format_writer *w, int rc)
{
	if (w->q != NULL)
		pthread_mutex_lock(&w->mu);
	if (w->err == 0)
		w->err = rc;
	if (w->q != NULL)
		pthread_mutex_unlock(&w->mu);
	return rc;
}

/* writer_room: room for at least one more byte in the current chunk, which
 * more data is known to follow: a full chunk is then not the last, a full
 * batch goes to be sealed, and a new chunk gets its record buffer. */
static int
writer_room(struct format_writer *w)
{
	int rc;

	if (w->fill == w->o->chunk) {
		w->nfull++;
		w->fill = 0;
		if (w->nfull == FORMAT_BATCH && (rc = writer_batch_full(w)) != 0)
			return writer_fail(w, rc);
	}
	/* A slot's first chunk: the slot may still be with a worker. */
	if (w->fill == 0 && w->nfull == 0 && (rc = writer_slot_free(w)) != 0)
		return rc == CS_EAGAIN ? rc : writer_fail(w, rc);
	if (w->fill == 0 && (rc = slot_room(w)) != 0)
		return writer_fail(w, rc);
	w->slot[w->cur].dirty = true;
	return 0;
}

/* writer_text: the plaintext of record k of the current slot. */
static uint8_t *
writer_text(const struct format_writer *w, size_t k)
{
	return format_rec_text(w->o, w->slot[w->cur].bufs + w->lead + k * w->recsz);
}

int
format_writer_write(struct format_writer *w, const void *data, size_t len)
{
	const uint8_t *p = data;
	int rc;

	if ((rc = writer_ready(w)) != 0)
		return rc;
	if (w->notify != NULL)
		return CS_EINVAL; /* it could not say how much it took before a CS_EAGAIN */
	while (len > 0) {
		size_t n;

		if ((rc = writer_room(w)) != 0)
			return rc;
		n = w->o->chunk - w->fill;
		if (n > len)
			n = len;
		memcpy(writer_text(w, w->nfull) + w->fill, p, n);
		w->fill += n;
		w->total += n;
		p += n;
		len -= n;
	}
	return 0;
}

int
format_writer_space(struct format_writer *w, struct iovec *iov, int max)
{
	const struct wslot *s;
	int rc, n = 0;

	if (max < 1)
		return CS_EINVAL;
	if ((rc = writer_ready(w)) != 0 || (rc = writer_room(w)) != 0)
		return rc;
	s = &w->slot[w->cur]; /* writer_room() may have moved to the other slot */
	/* The current chunk's free part, then every later record the slot's
	 * buffer holds (a slot grows to a whole batch at its second chunk). */
	for (size_t k = w->nfull; k < s->cap && n < max; k++, n++) {
		size_t off = k == w->nfull ? w->fill : 0;

		iov[n].iov_base = writer_text(w, k) + off;
		iov[n].iov_len = w->o->chunk - off;
	}
	return n;
}

int
format_writer_advance(struct format_writer *w, size_t n)
{
	const struct wslot *s = &w->slot[w->cur];
	int rc;

	if ((rc = writer_ready(w)) != 0)
		return rc;
	while (n > 0) {
		size_t k;

		if (w->fill == w->o->chunk) {
			/* Past the space format_writer_space() gave: a caller's bug. */
			if (w->nfull + 1 >= s->cap)
				return writer_fail(w, CS_EINVAL);
			w->nfull++; /* the bytes beyond it follow it: not the last */
			w->fill = 0;
		}
		k = w->o->chunk - w->fill;
		if (k > n)
			k = n;
		w->fill += k;
		w->total += k;
		n -= k;
	}
	return 0;
}

void
format_writer_set_notify(struct format_writer *w, void (*fn)(void *arg), void *arg)
{
	pthread_mutex_lock(&w->mu);
	w->notify = fn;
	w->notify_arg = arg;
	pthread_mutex_unlock(&w->mu);
}

void
format_writer_set_combiner(struct format_writer *w, struct seal_shared *ss)
{
	w->ss = ss;
}

int
format_writer_finish(struct format_writer *w, const uint8_t *digest, uint32_t aux, uint64_t *total)
{
	uint8_t trailer[FORMAT_TRAILER_LEN];
	struct wslot *s = &w->slot[w->cur];
	struct iovec iov;
	int rc;

	if ((rc = writer_wait(w, -1)) != 0)
		return rc;
	if (w->finished)
		return CS_EINVAL;
	w->finished = true;
	s->first = w->first;
	s->n = w->nfull + 1;
	if ((rc = slot_flush(w, s, w->e, w->ss, true, w->fill)) != 0)
		return w->err = rc;
	format_trailer(w->o, w->total, digest, aux, trailer);
	iov.iov_base = trailer;
	iov.iov_len = sizeof(trailer);
	w->err = w->sink(w->arg, format_stored_size(w->o, w->total) - FORMAT_TRAILER_LEN, &iov, 1);
	if (w->err == 0 && total != NULL)
		*total = w->total;
	return w->err;
}

void
format_writer_free(struct format_writer *w)
{
	if (w == NULL)
		return;
	(void)writer_wait(w, -1); /* never free buffers a worker still uses */
	for (unsigned i = 0; i < FORMAT_SLOTS; i++) {
		struct wslot *sl = &w->slot[i];
		size_t size = w->lead + sl->cap * w->recsz;

		if (sl->cap == FORMAT_BATCH) {
			batch_put(sl->bufs, size, sl->dirty ? size : 0);
		} else if (sl->bufs != NULL) {
			secmem_wipe(sl->bufs, size);
			free(sl->bufs);
		}
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w);
}

/* ---- reading ------------------------------------------------------------- */

/*
 * Reading goes in batches of up to FORMAT_BATCH chunks: one positional read
 * (rslot_load), one engine call, then the verified plaintext goes out in
 * order (rslot_emit).  With a work queue, the next batch is read and opened
 * by a worker while the caller sends the current one.
 */
struct rslot {
	struct format_obj *o;
	format_source_fn source;
	void *sarg;
	uint8_t *bufs;
	struct engine_rec recs[FORMAT_BATCH];
	uint64_t first; /* chunk index of recs[0] */
	size_t n;
	int rc;
	bool busy;
	pthread_mutex_t *mu;
	pthread_cond_t *cv;
};

/* rslot_load: read chunks first.. (n of them) and open them with e. */
static void
rslot_load(struct rslot *s, struct engine *e)
{
	struct format_obj *o = s->o;
	struct iovec iov[FORMAT_BATCH];
	size_t recsz = format_rec_size(o), ivl = o->suite->iv_len, tl = o->suite->tag_len, want = 0;
	long got;

	for (size_t k = 0; k < s->n; k++) {
		bool fin = s->first + k == o->nchunks - 1;
		size_t st = fin ? format_final_stored(o, o->len) : format_stride(o);

		iov[k].iov_base = s->bufs + k * recsz + FORMAT_AAD_LEN;
		iov[k].iov_len = st;
		want += st;
		format_rec_init(o, &s->recs[k], s->bufs + k * recsz, s->first + k, fin,
				st - ivl - tl);
	}
	got = s->source(s->sarg, format_chunk_offset(o, s->first), iov, (int)s->n);
	if (got < 0) {
		s->rc = (int)got;
		return;
	}
	if ((size_t)got != want) {
		s->rc = CS_EAUTH;
		return;
	}
	/* Statuses are per record (engine_open sets each): rslot_emit
	 * releases only the verified prefix and stops at the first failure. */
	if (engine_open(e, s->recs, s->n) != 0) {
		/* reported per record */
	}
	s->rc = 0;
}

/*
 * rslot_emit: hand the plaintext of [off, off+len) in s's chunks to outv,
 * in one call for the verified prefix; CS_EAUTH after it if a chunk failed.
 */
static int
rslot_emit(struct rslot *s, uint64_t off, uint64_t len, format_outv_fn outv, void *oarg)
{
	struct format_obj *o = s->o;
	struct iovec iov[FORMAT_BATCH];
	int n = 0, rc = s->rc;

	for (size_t k = 0; k < s->n && rc == 0; k++) {
		uint64_t i = s->first + k, cstart = i * o->chunk, from, to;
		struct engine_rec *r = &s->recs[k];

		if (r->status != 0 ||
		    r->len != (i == o->nchunks - 1 ? o->len - cstart : o->chunk)) {
			rc = CS_EAUTH;
			break;
		}
		/* The chunk holds plaintext [cstart, cstart + r->len). */
		from = off > cstart ? off - cstart : 0;
		to = off + len - cstart < r->len ? off + len - cstart : r->len;
		if (to > from) {
			iov[n].iov_base = format_rec_text(o, r->buf) + from;
			iov[n++].iov_len = to - from;
		}
	}
	if (s->rc != 0)
		return s->rc;
	if (n > 0) {
		int orc = outv(oarg, iov, n);

		if (orc != 0)
			return orc;
	}
	return rc;
}

static void
rslot_job(void *arg, void *ctx)
{
	struct rslot *s = arg;

	rslot_load(s, ctx);
	pthread_mutex_lock(s->mu);
	s->busy = false;
	pthread_cond_broadcast(s->cv);
	pthread_mutex_unlock(s->mu);
}

int
format_read_v(struct format_obj *o, struct engine *e, format_source_fn source, void *sarg,
	      uint64_t off, uint64_t len, format_outv_fn out, void *oarg, struct workq *q)
{
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
	struct rslot slots[FORMAT_SLOTS];
	size_t recsz = format_rec_size(o), full = FORMAT_BATCH * recsz, bsize = full;
	unsigned ns = q != NULL ? FORMAT_SLOTS : 1;
	uint64_t first, last, next;
	int rc = 0;

	if (off > o->len || len > o->len - off)
		return CS_ERANGE;
	if (len == 0)
		return 0;
	first = off / o->chunk;
	last = (off + len - 1) / o->chunk;
	/* A range of one batch or less: one slot of just its records. */
	if (last - first + 1 < FORMAT_BATCH) {
		ns = 1;
		bsize = (size_t)(last - first + 1) * recsz;
	}
	memset(slots, 0, sizeof(slots));
	for (unsigned k = 0; k < ns; k++) {
		slots[k] = (struct rslot){
			.o = o, .source = source, .sarg = sarg, .mu = &mu, .cv = &cv};
		slots[k].bufs = bsize == full ? batch_get(full) : malloc(bsize);
		if (slots[k].bufs == NULL)
			rc = CS_ENOMEM;
	}
	/* Batch b covers chunks first + b*FORMAT_BATCH ..; slot b % ns holds it. */
	next = first;
	for (unsigned k = 0; rc == 0 && q != NULL && k < ns && next <= last; k++) {
		slots[k].first = next;
		slots[k].n =
			last - next + 1 < FORMAT_BATCH ? (size_t)(last - next + 1) : FORMAT_BATCH;
		next += slots[k].n;
		slots[k].busy = true;
		if ((rc = workq_submit(q, rslot_job, &slots[k])) != 0)
			slots[k].busy = false;
	}
	for (unsigned b = 0; rc == 0; b++) {
		struct rslot *s = &slots[b % ns];

		if (q == NULL) {
			if (next > last)
				break;
			s->first = next;
			s->n = last - next + 1 < FORMAT_BATCH ? (size_t)(last - next + 1)
							      : FORMAT_BATCH;
			next += s->n;
			rslot_load(s, e);
		} else {
			pthread_mutex_lock(&mu);
			while (s->busy)
				pthread_cond_wait(&cv, &mu);
			pthread_mutex_unlock(&mu);
			if (s->n == 0)
				break; /* nothing was submitted to this slot: done */
		}
		rc = rslot_emit(s, off, len, out, oarg);
		if (q != NULL) {
			s->n = 0;
			if (rc == 0 && next <= last) {
				s->first = next;
				s->n = last - next + 1 < FORMAT_BATCH ? (size_t)(last - next + 1)
								      : FORMAT_BATCH;
				next += s->n;
				s->busy = true;
				if ((rc = workq_submit(q, rslot_job, s)) != 0)
					s->busy = false;
			}
		}
	}
	/* Never free a buffer a worker still fills. */
	pthread_mutex_lock(&mu);
	for (unsigned k = 0; k < ns; k++)
		while (slots[k].busy)
			pthread_cond_wait(&cv, &mu);
	pthread_mutex_unlock(&mu);
	/* Opened records hold plaintext: wiped before reuse or release. */
	for (unsigned k = 0; k < ns; k++) {
		if (bsize == full) {
			batch_put(slots[k].bufs, full, full);
		} else if (slots[k].bufs != NULL) {
			secmem_wipe(slots[k].bufs, bsize);
			free(slots[k].bufs);
		}
	}
	return rc;
}

/* One call per piece, for callers of the format_out_fn kind. */
struct outv_adapter {
	format_out_fn out;
	void *arg;
};

static int
outv_pieces(void *arg, const struct iovec *iov, int n)
{
	struct outv_adapter *a = arg;
	int rc = 0;

	for (int i = 0; i < n && rc == 0; i++)
		rc = a->out(a->arg, iov[i].iov_base, iov[i].iov_len);
	return rc;
}

int
format_read_async(struct format_obj *o, struct engine *e, format_source_fn source, void *sarg,
		  uint64_t off, uint64_t len, format_out_fn out, void *oarg, struct workq *q)
{
	struct outv_adapter a = {out, oarg};

	return format_read_v(o, e, source, sarg, off, len, outv_pieces, &a, q);
}

int
format_read(struct format_obj *o, struct engine *e, format_source_fn source, void *sarg,
	    uint64_t off, uint64_t len, format_out_fn out, void *oarg)
{
	return format_read_async(o, e, source, sarg, off, len, out, oarg, NULL);
}
