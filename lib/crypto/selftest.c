/*
 * selftest: known-answer vectors, run through the real code paths.
 */
#include "selftest.h"
#include "kdf.h"
#include "keywrap.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/secmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every vector is hex; "" is the empty string. */
struct cbc_vec {
	const char *name, *key, *iv, *pt, *ct;
};
struct gcm_vec {
	const char *name, *key, *iv, *aad, *pt, *ct, *tag;
};
struct hmac_vec {
	const char *name, *key, *msg, *mac;
};
struct hkdf_vec {
	const char *name, *ikm, *salt, *info, *okm;
};
struct kw_vec {
	const char *name, *kek, *key, *wrapped;
};

static const struct cbc_vec cbc_vecs[] = {
	{"SP 800-38A F.2.5/F.2.6 CBC-AES256",
	 "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
	 "000102030405060708090a0b0c0d0e0f",
	 "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
	 "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
	 "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
	 "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"},
};

#define GCM_K15 "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308"
#define GCM_P15                                                                                    \
	"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"                         \
	"1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39"
#define GCM_C15                                                                                    \
	"522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"                         \
	"8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662"

static const struct gcm_vec gcm_vecs[] = {
	{"GCM test case 13", "0000000000000000000000000000000000000000000000000000000000000000",
	 "000000000000000000000000", "", "", "", "530f8afbc74536b9a963b4f1c4cb738b"},
	{"GCM test case 14", "0000000000000000000000000000000000000000000000000000000000000000",
	 "000000000000000000000000", "", "00000000000000000000000000000000",
	 "cea7403d4d606b6e074ec5d3baf39d18", "d0d1c8a799996bf0265b98b5d48ab919"},
	{"GCM test case 15", GCM_K15, "cafebabefacedbaddecaf888", "", GCM_P15 "1aafd255",
	 GCM_C15 "898015ad", "b094dac5d93471bdec1a502270e3cc6c"},
	{"GCM test case 16", GCM_K15, "cafebabefacedbaddecaf888",
	 "feedfacedeadbeeffeedfacedeadbeefabaddad2", GCM_P15, GCM_C15,
	 "76fc6ece0f4e1768cddf8853bb2d551b"},
};

#define AA131 /* 131 bytes of 0xaa */                                                              \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const struct hmac_vec hmac_vecs[] = {
	{"RFC 4231 test case 1", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
	 "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
	{"RFC 4231 test case 2", "4a656665",
	 "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
	 "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
	{"RFC 4231 test case 6", AA131,
	 "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a"
	 "65204b6579202d2048617368204b6579204669727374",
	 "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
	{"RFC 4231 test case 7", AA131,
	 "5468697320697320612074657374207573696e672061206c6172676572207468"
	 "616e20626c6f636b2d73697a65206b657920616e642061206c61726765722074"
	 "68616e20626c6f636b2d73697a6520646174612e20546865206b6579206e6565"
	 "647320746f20626520686173686564206265666f7265206265696e6720757365"
	 "642062792074686520484d414320616c676f726974686d2e",
	 "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
};

static const struct hkdf_vec hkdf_vecs[] = {
	{"RFC 5869 test case 1", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
	 "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9",
	 "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
	 "34007208d5b887185865"},
	{"RFC 5869 test case 3", "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "", "",
	 "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
	 "9d201395faa4b61a96c8"},
};

static const struct kw_vec kw_vecs[] = {
	{"RFC 5649 section 6, 20-octet key", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8",
	 "c37b7e6492584340bed12207808941155068f738",
	 "138bdeaa9b8fa7fc61f97742e72248ee5ae6ae5360d1ae6a5f54f373fa543b6a"},
	{"RFC 5649 section 6, 7-octet key", "5840df6e29b02af1ab493b705bf16ea1ae8338f4dcc176a8",
	 "466f7250617369", "afbeb0f07dfbf5419200f2ccb50bb24f"},
};

#define NVEC(a) (sizeof(a) / sizeof((a)[0]))

/* A decoded vector field: at most 256 bytes in every table above. */
struct blob {
	uint8_t b[256];
	size_t n;
};

static int
unhex(struct blob *out, const char *s)
{
	long n = hex_decode(out->b, sizeof(out->b), s, strlen(s));

	if (n < 0)
		return -1;
	out->n = (size_t)n;
	return 0;
}

/* A record buffer large enough for every vector: aad | iv | text | pad | tag. */
#define ST_BUF 1024

static int
st_cbc(struct engine *e, const struct cbc_vec *v, uint8_t *buf, char *why, size_t whylen)
{
	struct blob key, iv, pt, ct;
	uint8_t mac[32], zero_mac[SUITE_KEY_LEN];
	struct engine_key *k = NULL;
	struct engine_rec r;
	int rc = CS_EAUTH;

	if (unhex(&key, v->key) || unhex(&iv, v->iv) || unhex(&pt, v->pt) || unhex(&ct, v->ct))
		return err_why(why, whylen, CS_EAUTH, "%s: bad vector", v->name);
	/* The vector fixes only the cipher; the MAC key is ours, all 0x5a. */
	memset(zero_mac, 0x5a, sizeof(zero_mac));
	if (engine_key_new(&k, suite_by_id(SUITE_CBC_HMAC_SHA256), key.b, zero_mac) != 0)
		return err_why(why, whylen, CS_EAUTH, "%s: key setup failed", v->name);
	memset(&r, 0, sizeof(r));
	r.buf = buf;
	r.key = k;
	r.len = pt.n;
	r.iv_given = true;
	memcpy(buf, iv.b, 16);
	memcpy(buf + 16, pt.b, pt.n);
	if (engine_seal(e, &r, 1) != 0 || r.len != ct.n || memcmp(buf + 16, ct.b, ct.n) != 0) {
		err_why(why, whylen, CS_EAUTH, "%s: %s encryption mismatch", v->name,
			engine_name(e));
		goto out;
	}
	if (engine_evp_hmac(zero_mac, sizeof(zero_mac), buf, 16 + ct.n, mac) != 0 ||
	    memcmp(mac, buf + 16 + ct.n, 32) != 0) { /* ct-ok: a public test vector */
		err_why(why, whylen, CS_EAUTH, "%s: %s HMAC over IV||ciphertext mismatch", v->name,
			engine_name(e));
		goto out;
	}
	if (engine_open(e, &r, 1) != 0 || r.len != pt.n || memcmp(buf + 16, pt.b, pt.n) != 0) {
		err_why(why, whylen, CS_EAUTH, "%s: %s decryption mismatch", v->name,
			engine_name(e));
		goto out;
	}
	/* A flipped ciphertext bit must be rejected and leave no plaintext. */
	memcpy(buf + 16, ct.b, ct.n);
	buf[16 + 5] ^= 0x01;
	r.len = ct.n;
	if (engine_open(e, &r, 1) != CS_EAUTH) {
		err_why(why, whylen, CS_EAUTH, "%s: %s accepted a forged record", v->name,
			engine_name(e));
		goto out;
	}
	rc = 0;
out:
	engine_key_free(k);
	return rc;
}

static int
st_gcm(struct engine *e, const struct gcm_vec *v, uint8_t *buf, char *why, size_t whylen)
{
	struct blob key, iv, aad, pt, ct, tag;
	struct engine_key *k = NULL;
	struct engine_rec r;
	uint8_t *text;
	int rc = CS_EAUTH;

	if (unhex(&key, v->key) || unhex(&iv, v->iv) || unhex(&aad, v->aad) || unhex(&pt, v->pt) ||
	    unhex(&ct, v->ct) || unhex(&tag, v->tag))
		return err_why(why, whylen, CS_EAUTH, "%s: bad vector", v->name);
	if (engine_key_new(&k, suite_by_id(SUITE_AES_256_GCM), key.b, NULL) != 0)
		return err_why(why, whylen, CS_EAUTH, "%s: key setup failed", v->name);
	memset(&r, 0, sizeof(r));
	r.buf = buf;
	r.key = k;
	r.aad_len = aad.n;
	r.len = pt.n;
	r.final = true;
	r.iv_given = true;
	memcpy(buf, aad.b, aad.n);
	memcpy(buf + aad.n, iv.b, 12);
	text = buf + aad.n + 12;
	memcpy(text, pt.b, pt.n);
	if (engine_seal(e, &r, 1) != 0 || r.len != ct.n || memcmp(text, ct.b, ct.n) != 0 ||
	    memcmp(text + ct.n, tag.b, 16) != 0) { /* ct-ok: a public test vector */
		err_why(why, whylen, CS_EAUTH, "%s: %s encryption mismatch", v->name,
			engine_name(e));
		goto out;
	}
	if (engine_open(e, &r, 1) != 0 || r.len != pt.n || memcmp(text, pt.b, pt.n) != 0) {
		err_why(why, whylen, CS_EAUTH, "%s: %s decryption mismatch", v->name,
			engine_name(e));
		goto out;
	}
	memcpy(text, ct.b, ct.n);
	text[ct.n] ^= 0x80; /* the tag */
	r.len = ct.n;
	if (engine_open(e, &r, 1) != CS_EAUTH) {
		err_why(why, whylen, CS_EAUTH, "%s: %s accepted a forged tag", v->name,
			engine_name(e));
		goto out;
	}
	rc = 0;
out:
	engine_key_free(k);
	return rc;
}

int
selftest_engine(enum engine_kind kind, char *why, size_t whylen)
{
	struct engine *e = NULL;
	uint8_t *buf;
	int rc;

	if ((rc = engine_new(&e, kind)) != 0)
		return rc == CS_ENOTSUP
			       ? rc
			       : err_why(why, whylen, CS_EAUTH, "engine setup: %s", err_str(rc));
	if ((buf = calloc(1, ST_BUF)) == NULL) {
		engine_free(e);
		return CS_ENOMEM;
	}
	for (size_t i = 0; i < NVEC(cbc_vecs) && rc == 0; i++)
		rc = st_cbc(e, &cbc_vecs[i], buf, why, whylen);
	for (size_t i = 0; i < NVEC(gcm_vecs) && rc == 0; i++)
		rc = st_gcm(e, &gcm_vecs[i], buf, why, whylen);
	for (size_t i = 0; i < NVEC(hmac_vecs) && rc == 0; i++) {
		const struct hmac_vec *v = &hmac_vecs[i];
		struct blob key, msg, mac;
		uint8_t out[32];

		if (unhex(&key, v->key) || unhex(&msg, v->msg) || unhex(&mac, v->mac))
			rc = err_why(why, whylen, CS_EAUTH, "%s: bad vector", v->name);
		else if (engine_hmac_sha256(e, key.b, key.n, msg.b, msg.n, out) != 0 ||
			 memcmp(out, mac.b, 32) != 0) /* ct-ok: a public test vector */
			rc = err_why(why, whylen, CS_EAUTH, "%s: %s mismatch", v->name,
				     engine_name(e));
	}
	free(buf);
	engine_free(e);
	return rc;
}

int
selftest_kdf(char *why, size_t whylen)
{
	for (size_t i = 0; i < NVEC(hkdf_vecs); i++) {
		const struct hkdf_vec *v = &hkdf_vecs[i];
		struct blob ikm, salt, info, okm;
		uint8_t out[256];

		if (unhex(&ikm, v->ikm) || unhex(&salt, v->salt) || unhex(&info, v->info) ||
		    unhex(&okm, v->okm))
			return err_why(why, whylen, CS_EAUTH, "%s: bad vector", v->name);
		if (kdf_hkdf_sha256(out, okm.n, ikm.b, ikm.n, salt.b, salt.n, info.b, info.n) !=
			    0 ||
		    memcmp(out, okm.b, okm.n) != 0)
			return err_why(why, whylen, CS_EAUTH, "%s: HKDF mismatch", v->name);
	}
	return 0;
}

int
selftest_keywrap(char *why, size_t whylen)
{
	for (size_t i = 0; i < NVEC(kw_vecs); i++) {
		const struct kw_vec *v = &kw_vecs[i];
		struct blob kek, key, wrapped;
		uint8_t out[256];
		long n;

		if (unhex(&kek, v->kek) || unhex(&key, v->key) || unhex(&wrapped, v->wrapped))
			return err_why(why, whylen, CS_EAUTH, "%s: bad vector", v->name);
		n = keywrap_wrap(kek.b, kek.n, key.b, key.n, out, sizeof(out));
		if (n < 0 || (size_t)n != wrapped.n || memcmp(out, wrapped.b, wrapped.n) != 0)
			return err_why(why, whylen, CS_EAUTH, "%s: wrap mismatch", v->name);
		n = keywrap_unwrap(kek.b, kek.n, wrapped.b, wrapped.n, out, sizeof(out));
		if (n < 0 || (size_t)n != key.n || memcmp(out, key.b, key.n) != 0)
			return err_why(why, whylen, CS_EAUTH, "%s: unwrap mismatch", v->name);
		wrapped.b[wrapped.n - 1] ^= 1;
		if (keywrap_unwrap(kek.b, kek.n, wrapped.b, wrapped.n, out, sizeof(out)) !=
		    CS_EAUTH)
			return err_why(why, whylen, CS_EAUTH, "%s: a forged wrap was accepted",
				       v->name);
	}
	return 0;
}

int
selftest_run(char *why, size_t whylen)
{
	static const enum engine_kind kinds[] = {ENGINE_EVP, ENGINE_IPSECMB};
	int rc;

	if ((rc = selftest_kdf(why, whylen)) != 0 || (rc = selftest_keywrap(why, whylen)) != 0)
		return rc;
	for (size_t i = 0; i < NVEC(kinds); i++) {
		rc = selftest_engine(kinds[i], why, whylen);
		if (rc == CS_ENOTSUP)
			continue;
		if (rc != 0)
			return rc;
	}
	return 0;
}
