/*
 * test_aes_portable: known answers and an OpenSSL cross-check for the
 * portable AES of the paper's aestest experiment.
 *
 * Prints TAP; exits 1 if any case fails.  The vectors are FIPS-197
 * appendix C (one block, each key size; C.3 is AES-256) and NIST SP 800-38A
 * F.2.1-F.2.6 (CBC, four blocks, each key size and direction; F.2.5/F.2.6
 * are CBC-AES256).  The cross-check runs random keys, IVs and lengths
 * through both this code and OpenSSL's EVP AES-CBC (AES-NI where present),
 * so every table entry is exercised against an independent implementation.
 */
#include "aes_portable.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#define XCHECK_CASES 3000
#define XCHECK_MAX   4096

static int test_no;
static int failures;

static void
tap(bool ok, const char *what)
{
	test_no++;
	printf("%s %d - %s\n", ok ? "ok" : "not ok", test_no, what);
	if (!ok)
		failures++;
}

/* unhex: decode the hex string s into out (at most max bytes); the length. */
static size_t
unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;

	while (s[0] != '\0' && s[1] != '\0' && n < max) {
		unsigned v;

		if (sscanf(s, "%2x", &v) != 1)
			break;
		out[n++] = (uint8_t)v;
		s += 2;
	}
	return n;
}

static void
diag_hex(const char *label, const uint8_t *p, size_t n)
{
	printf("# %s ", label);
	for (size_t i = 0; i < n; i++)
		printf("%02x", p[i]);
	printf("\n");
}

/* FIPS-197 appendix C: key 00 01 02 ..., plaintext 00 11 22 ... ff. */
static void
test_fips197(unsigned bits, const char *ct_hex, const char *name)
{
	static const char *pt_hex = "00112233445566778899aabbccddeeff";
	struct aes_portable_key ek, dk;
	uint8_t key[32], pt[16], ct[16], out[16], back[16];
	char what[96];

	for (unsigned i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	unhex(pt_hex, pt, sizeof(pt));
	unhex(ct_hex, ct, sizeof(ct));
	if (aes_portable_set_encrypt_key(&ek, key, bits) != 0 ||
	    aes_portable_set_decrypt_key(&dk, key, bits) != 0) {
		snprintf(what, sizeof(what), "%s key setup", name);
		tap(false, what);
		return;
	}
	aes_portable_encrypt_block(&ek, pt, out);
	snprintf(what, sizeof(what), "%s AES-%u encrypt", name, bits);
	tap(memcmp(out, ct, 16) == 0, what);
	if (memcmp(out, ct, 16) != 0)
		diag_hex("got", out, 16);
	aes_portable_decrypt_block(&dk, ct, back);
	snprintf(what, sizeof(what), "%s AES-%u decrypt", name, bits);
	tap(memcmp(back, pt, 16) == 0, what);
}

/* SP 800-38A F.2: CBC, the same plaintext and IV for every key size. */
static void
test_sp800_38a(unsigned bits, const char *key_hex, const char *ct_hex, const char *enc_name,
	       const char *dec_name)
{
	static const char *pt_hex = "6bc1bee22e409f96e93d7e117393172a"
				    "ae2d8a571e03ac9c9eb76fac45af8e51"
				    "30c81c46a35ce411e5fbc1191a0a52ef"
				    "f69f2445df4f9b17ad2b417be66c3710";
	static const char *iv_hex = "000102030405060708090a0b0c0d0e0f";
	struct aes_portable_key ek, dk;
	uint8_t key[32], iv[16], iv0[16], pt[64], ct[64], out[64];
	bool ok;

	unhex(key_hex, key, sizeof(key));
	unhex(iv_hex, iv0, sizeof(iv0));
	unhex(pt_hex, pt, sizeof(pt));
	unhex(ct_hex, ct, sizeof(ct));
	ok = aes_portable_set_encrypt_key(&ek, key, bits) == 0 &&
	     aes_portable_set_decrypt_key(&dk, key, bits) == 0;

	memcpy(iv, iv0, 16);
	ok = ok && aes_portable_cbc_encrypt(&ek, iv, pt, out, sizeof(pt)) == 0;
	/* The chaining value left behind is the last ciphertext block. */
	tap(ok && memcmp(out, ct, 64) == 0 && memcmp(iv, ct + 48, 16) == 0, enc_name);
	if (memcmp(out, ct, 64) != 0)
		diag_hex("got", out, 64);

	memcpy(iv, iv0, 16);
	ok = ok && aes_portable_cbc_decrypt(&dk, iv, ct, out, sizeof(ct)) == 0;
	tap(ok && memcmp(out, pt, 64) == 0 && memcmp(iv, ct + 48, 16) == 0, dec_name);
	if (memcmp(out, pt, 64) != 0)
		diag_hex("got", out, 64);
}

/* In place, and in pieces: the same bytes as one out-of-place call. */
static void
test_inplace_and_chaining(void)
{
	struct aes_portable_key ek, dk;
	uint8_t key[32], iv0[16], iv[16], pt[1024], ref[1024], buf[1024];
	bool ok;

	RAND_bytes(key, sizeof(key));
	RAND_bytes(iv0, sizeof(iv0));
	RAND_bytes(pt, sizeof(pt));
	ok = aes_portable_set_encrypt_key(&ek, key, 256) == 0 &&
	     aes_portable_set_decrypt_key(&dk, key, 256) == 0;
	memcpy(iv, iv0, 16);
	ok = ok && aes_portable_cbc_encrypt(&ek, iv, pt, ref, sizeof(pt)) == 0;

	memcpy(buf, pt, sizeof(buf));
	memcpy(iv, iv0, 16);
	ok = ok && aes_portable_cbc_encrypt(&ek, iv, buf, buf, sizeof(buf)) == 0;
	tap(ok && memcmp(buf, ref, sizeof(buf)) == 0, "CBC encrypt in place = out of place");
	memcpy(iv, iv0, 16);
	ok = ok && aes_portable_cbc_decrypt(&dk, iv, buf, buf, sizeof(buf)) == 0;
	tap(ok && memcmp(buf, pt, sizeof(buf)) == 0, "CBC decrypt in place restores plaintext");

	memcpy(iv, iv0, 16);
	ok = ok && aes_portable_cbc_encrypt(&ek, iv, pt, buf, 400) == 0 &&
	     aes_portable_cbc_encrypt(&ek, iv, pt + 400, buf + 400, 624) == 0;
	tap(ok && memcmp(buf, ref, sizeof(buf)) == 0, "CBC encrypt in two calls = one call");
	memcpy(iv, iv0, 16);
	ok = ok && aes_portable_cbc_decrypt(&dk, iv, ref, buf, 16) == 0 &&
	     aes_portable_cbc_decrypt(&dk, iv, ref + 16, buf + 16, 1008) == 0;
	tap(ok && memcmp(buf, pt, sizeof(buf)) == 0, "CBC decrypt in two calls = one call");
}

/* What must fail: bad sizes, a wrong key, a damaged ciphertext. */
static void
test_negative(void)
{
	struct aes_portable_key k, dk, wrong;
	uint8_t key[32] = {1}, iv[16] = {0}, buf[48] = {0}, ct[48], out[48];
	struct aes_portable_key untouched;

	memset(&k, 0x5a, sizeof(k));
	untouched = k;
	tap(aes_portable_set_encrypt_key(&k, key, 0) == -1 &&
		    aes_portable_set_encrypt_key(&k, key, 64) == -1 &&
		    aes_portable_set_encrypt_key(&k, key, 255) == -1 &&
		    aes_portable_set_decrypt_key(&k, key, 512) == -1 &&
		    memcmp(&k, &untouched, sizeof(k)) == 0,
	    "invalid key sizes are refused and leave the key untouched");

	if (aes_portable_set_encrypt_key(&k, key, 256) != 0 ||
	    aes_portable_set_decrypt_key(&dk, key, 256) != 0) {
		tap(false, "key setup for the negative cases");
		return;
	}
	memset(out, 0xee, sizeof(out));
	tap(aes_portable_cbc_encrypt(&k, iv, buf, out, 17) == -1 &&
		    aes_portable_cbc_decrypt(&dk, iv, buf, out, 47) == -1 && out[0] == 0xee &&
		    iv[0] == 0,
	    "partial blocks are refused and nothing is written");

	if (aes_portable_cbc_encrypt(&k, iv, buf, ct, sizeof(buf)) != 0) {
		tap(false, "encrypt for the negative cases");
		return;
	}
	key[31] ^= 1;
	if (aes_portable_set_decrypt_key(&wrong, key, 256) != 0) {
		tap(false, "wrong-key setup");
		return;
	}
	memset(iv, 0, sizeof(iv));
	aes_portable_cbc_decrypt(&wrong, iv, ct, out, sizeof(ct));
	tap(memcmp(out, buf, sizeof(buf)) != 0, "a key one bit off does not decrypt");
	ct[20] ^= 0x80;
	memset(iv, 0, sizeof(iv));
	aes_portable_cbc_decrypt(&dk, iv, ct, out, sizeof(ct));
	/* A flipped bit garbles its own block and flips the same bit in the next. */
	tap(memcmp(out, buf, 16) == 0 && memcmp(out + 16, buf + 16, 16) != 0 &&
		    out[36] == (buf[36] ^ 0x80) && memcmp(out + 37, buf + 37, 11) == 0,
	    "a damaged ciphertext block garbles exactly what CBC says it must");
}

/* evp_cbc: OpenSSL AES-CBC without padding; 0 on success. */
static int
evp_cbc(bool enc, unsigned bits, const uint8_t *key, const uint8_t *iv, const uint8_t *in,
	uint8_t *out, int len)
{
	const EVP_CIPHER *c = bits == 128   ? EVP_aes_128_cbc()
			      : bits == 192 ? EVP_aes_192_cbc()
					    : EVP_aes_256_cbc();
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int n = 0, m = 0, rc = -1;

	if (ctx == NULL)
		return -1;
	if (EVP_CipherInit_ex(ctx, c, NULL, key, iv, enc) == 1 &&
	    EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
	    EVP_CipherUpdate(ctx, out, &n, in, len) == 1 &&
	    EVP_CipherFinal_ex(ctx, out + n, &m) == 1 && n + m == len)
		rc = 0;
	EVP_CIPHER_CTX_free(ctx);
	return rc;
}

/* Random keys, IVs and lengths (1..256 blocks) against OpenSSL. */
static void
test_openssl_crosscheck(unsigned bits)
{
	static uint8_t pt[XCHECK_MAX], a[XCHECK_MAX], b[XCHECK_MAX], back[XCHECK_MAX];
	struct aes_portable_key ek, dk;
	int bad = 0;
	char what[96];

	for (int i = 0; i < XCHECK_CASES && bad == 0; i++) {
		uint8_t key[32], iv[16], ivp[16], r[2];
		size_t len;

		if (RAND_bytes(key, sizeof(key)) != 1 || RAND_bytes(iv, sizeof(iv)) != 1 ||
		    RAND_bytes(r, sizeof(r)) != 1) {
			bad++;
			break;
		}
		len = ((size_t)(r[0] | r[1] << 8) % (XCHECK_MAX / 16) + 1) * 16;
		if (RAND_bytes(pt, (int)len) != 1 || aes_portable_set_encrypt_key(&ek, key, bits) ||
		    aes_portable_set_decrypt_key(&dk, key, bits)) {
			bad++;
			break;
		}
		memcpy(ivp, iv, 16);
		if (aes_portable_cbc_encrypt(&ek, ivp, pt, a, len) != 0 ||
		    evp_cbc(true, bits, key, iv, pt, b, (int)len) != 0 || memcmp(a, b, len) != 0) {
			printf("# encrypt mismatch, case %d, %zu bytes\n", i, len);
			bad++;
		}
		memcpy(ivp, iv, 16);
		if (aes_portable_cbc_decrypt(&dk, ivp, b, back, len) != 0 ||
		    memcmp(back, pt, len) != 0 ||
		    evp_cbc(false, bits, key, iv, a, b, (int)len) != 0 || memcmp(b, pt, len) != 0) {
			printf("# decrypt mismatch, case %d, %zu bytes\n", i, len);
			bad++;
		}
	}
	snprintf(what, sizeof(what), "AES-%u-CBC = OpenSSL EVP on %d random keys, IVs, lengths",
		 bits, XCHECK_CASES);
	tap(bad == 0, what);
}

int
main(void)
{
	printf("1..%d\n", 6 + 6 + 4 + 4 + 3);
	test_fips197(128, "69c4e0d86a7b0430d8cdb78070b4c55a", "FIPS-197 C.1");
	test_fips197(192, "dda97ca4864cdfe06eaf70a0ec0d7191", "FIPS-197 C.2");
	test_fips197(256, "8ea2b7ca516745bfeafc49904b496089", "FIPS-197 C.3");
	test_sp800_38a(128, "2b7e151628aed2a6abf7158809cf4f3c",
		       "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2"
		       "73bed6b8e3c1743b7116e69e222295163ff1caa1681fac09120eca307586e1a7",
		       "SP 800-38A F.2.1 CBC-AES128.Encrypt",
		       "SP 800-38A F.2.2 CBC-AES128.Decrypt");
	test_sp800_38a(192, "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
		       "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a"
		       "571b242012fb7ae07fa9baac3df102e008b0e27988598881d920a9e64f5615cd",
		       "SP 800-38A F.2.3 CBC-AES192.Encrypt",
		       "SP 800-38A F.2.4 CBC-AES192.Decrypt");
	test_sp800_38a(256, "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
		       "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
		       "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b",
		       "SP 800-38A F.2.5 CBC-AES256.Encrypt",
		       "SP 800-38A F.2.6 CBC-AES256.Decrypt");
	test_inplace_and_chaining();
	test_negative();
	test_openssl_crosscheck(128);
	test_openssl_crosscheck(192);
	test_openssl_crosscheck(256);
	return failures == 0 ? 0 : 1;
}
