/*
 * Standard compliance: the stored bytes are plain, standard cryptography.
 * This test reads an object the way docs/FORMAT.md describes it (not
 * through lib/format) and checks each step with the `openssl` command-line
 * tool: RFC 5649 unwrap of the DEK, HKDF-SHA-256 for the chunk keys,
 * AES-256-CBC decryption of chunks (with PKCS#7 padding on the last one),
 * HMAC-SHA-256 over AAD || IV || ciphertext, and, for the GCM suite,
 * AES-256-CTR from counter block nonce || 00000002, which is what GCM's
 * encryption is.
 */
#include "testutil.h"
#include "crypto/engine.h"
#include "format/format.h"
#include "util/err.h"

#include <stdio.h>
#include <unistd.h>

static char dir[64];

static const uint8_t kek[32] = {0xc0, 0xff, 0xee, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
				0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13,
				0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d};

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/cs-openssl-XXXXXX");
	return mkdtemp(dir) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
put_file(const char *name, const void *data, size_t n)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static size_t
get_file(const char *name, uint8_t *out, size_t outsz)
{
	char path[128];
	FILE *f;
	size_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(out, 1, outsz, f);
	fclose(f);
	return n;
}

/* run: a shell command in dir; its stdout (trimmed) into out. */
static void
run(const char *cmd, char *out, size_t outsz)
{
	char full[2048];
	FILE *p;
	size_t n;

	snprintf(full, sizeof(full), "cd '%s' && %s", dir, cmd);
	p = popen(full, "r");
	assert_non_null(p);
	n = fread(out, 1, outsz - 1, p);
	out[n] = '\0';
	while (n > 0 && (out[n - 1] == '\n' || out[n - 1] == ' '))
		out[--n] = '\0';
	if (pclose(p) != 0)
		fail_msg("command failed: %s", cmd);
}

/* openssl kdf prints "AB:CD:..."; turn it into lowercase hex without colons. */
static void
hkdf_cli(const char *dek_hex, const char *salt_hex, const char *info, char *out_hex)
{
	char cmd[512], raw[256];
	size_t j = 0;

	snprintf(cmd, sizeof(cmd),
		 "openssl kdf -keylen 32 -kdfopt digest:SHA256 -kdfopt hexkey:%s "
		 "-kdfopt hexsalt:%s -kdfopt 'info:%s' HKDF",
		 dek_hex, salt_hex, info);
	run(cmd, raw, sizeof(raw));
	for (size_t i = 0; raw[i] != '\0'; i++)
		if (raw[i] != ':')
			out_hex[j++] =
				(char)(raw[i] >= 'A' && raw[i] <= 'F' ? raw[i] + 32 : raw[i]);
	out_hex[j] = '\0';
	assert_int_equal(j, 64);
}

struct mem {
	uint8_t b[4096];
	size_t n;
};

static int
sink(void *arg, uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct mem *m = arg;

	for (int i = 0; i < iovcnt; i++) {
		assert_true(off + iov[i].iov_len <= sizeof(m->b));
		memcpy(m->b + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
		if (off > m->n)
			m->n = (size_t)off;
	}
	return 0;
}

static uint16_t
be16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

/* Everything the documented layout says about one stored object. */
struct parsed {
	uint8_t id[16];
	size_t hlen, wrap_off;
	char dek_hex[65], enc_hex[65], mac_hex[65];
};

static void
parse_and_derive(const struct mem *m, struct parsed *ps)
{
	char kek_hex[65], id_hex[33], cmd[512], out[128];
	uint8_t dek[64];
	size_t off = 44;

	ps->hlen =
		(size_t)m->b[12] << 24 | (size_t)m->b[13] << 16 | (size_t)m->b[14] << 8 | m->b[15];
	memcpy(ps->id, m->b + 24, 16);
	for (int f = 0; f < 3; f++) /* KEK id, label, bucket */
		off += 2 + be16(m->b + off);
	assert_int_equal(be16(m->b + off), 40);
	ps->wrap_off = off + 2;
	put_file("wrapped.bin", m->b + ps->wrap_off, 40);
	hex_encode(kek_hex, kek, 32);
	snprintf(cmd, sizeof(cmd),
		 "openssl enc -d -id-aes256-wrap-pad -K %s -iv A65959A6 -in wrapped.bin -out "
		 "dek.bin",
		 kek_hex);
	run(cmd, out, sizeof(out));
	assert_int_equal(get_file("dek.bin", dek, sizeof(dek)), 32);
	hex_encode(ps->dek_hex, dek, 32);
	hex_encode(id_hex, ps->id, 16);
	hkdf_cli(ps->dek_hex, id_hex, "cryptstore v1 chunk encryption key", ps->enc_hex);
	hkdf_cli(ps->dek_hex, id_hex, "cryptstore v1 chunk mac key", ps->mac_hex);
}

static void
make_object(struct mem *m, const struct suite_info *su, const uint8_t *plain, size_t len)
{
	struct format_params p = {.suite = su,
				  .chunk_size = 64,
				  .label = "s1",
				  .bucket = "bkt",
				  .kek = {"s1", 1, kek}};
	struct engine *e;
	struct format_obj *o;
	struct format_writer *w;

	assert_int_equal(engine_new(&e, ENGINE_AUTO), 0);
	assert_int_equal(format_create(&o, &p, e), 0);
	assert_int_equal(format_writer_new(&w, o, e, sink, m), 0);
	assert_int_equal(format_writer_write(w, plain, len), 0);
	assert_int_equal(format_writer_finish(w, NULL, 0, NULL), 0);
	format_writer_free(w);
	format_free(o);
	engine_free(e);
}

static void
test_cbc_hmac_chunks_are_standard(void **state)
{
	struct mem m = {.n = 0};
	struct parsed ps;
	uint8_t plain[200], pt[256], aad[32 + 16 + 64];
	char cmd[512], iv_hex[33], out[256], tag_hex[65];
	uint64_t s = 5;

	(void)state;
	tu_fill(&s, plain, sizeof(plain));
	make_object(&m, suite_by_id(SUITE_CBC_HMAC_SHA256), plain, sizeof(plain));
	parse_and_derive(&m, &ps);
	/* 200 bytes in 64-byte chunks: three full chunks and an 8-byte final. */
	for (uint64_t i = 0; i < 4; i++) {
		size_t off = ps.hlen + (size_t)i * (16 + 64 + 32), ctlen = i < 3 ? 64 : 16;
		const uint8_t *iv = m.b + off, *ct = iv + 16, *tag = ct + ctlen;

		put_file("ct.bin", ct, ctlen);
		hex_encode(iv_hex, iv, 16);
		/* Non-final chunks are unpadded; the final one is PKCS#7-padded,
		 * which is openssl enc's default. */
		snprintf(cmd, sizeof(cmd),
			 "openssl enc -d -aes-256-cbc -K %s -iv %s %s -in ct.bin -out pt.bin",
			 ps.enc_hex, iv_hex, i < 3 ? "-nopad" : "");
		run(cmd, out, sizeof(out));
		assert_int_equal(get_file("pt.bin", pt, sizeof(pt)), i < 3 ? 64 : 8);
		assert_memory_equal(pt, plain + i * 64, i < 3 ? 64 : 8);
		/* The tag: HMAC-SHA-256(mac key, AAD || IV || ciphertext). */
		memset(aad, 0, sizeof(aad));
		memcpy(aad, ps.id, 16);
		aad[23] = (uint8_t)i;
		aad[24] = i == 3 ? 1 : 0;
		memcpy(aad + 32, iv, 16 + ctlen);
		put_file("maced.bin", aad, 32 + 16 + ctlen);
		snprintf(cmd, sizeof(cmd),
			 "openssl mac -digest SHA256 -macopt hexkey:%s -in maced.bin HMAC | "
			 "tr A-F a-f",
			 ps.mac_hex);
		run(cmd, out, sizeof(out));
		hex_encode(tag_hex, tag, 32);
		assert_string_equal(out, tag_hex);
	}
}

static void
test_gcm_chunks_are_standard(void **state)
{
	struct mem m = {.n = 0};
	struct parsed ps;
	uint8_t plain[150], pt[256];
	char cmd[512], ctr_hex[33], out[256];
	uint64_t s = 6;

	(void)state;
	tu_fill(&s, plain, sizeof(plain));
	make_object(&m, suite_by_id(SUITE_AES_256_GCM), plain, sizeof(plain));
	parse_and_derive(&m, &ps);
	for (uint64_t i = 0; i < 3; i++) {
		size_t off = ps.hlen + (size_t)i * (12 + 64 + 16), ctlen = i < 2 ? 64 : 22;

		put_file("ct.bin", m.b + off + 12, ctlen);
		hex_encode(ctr_hex, m.b + off, 12);
		memcpy(ctr_hex + 24, "00000002", 9);
		snprintf(cmd, sizeof(cmd),
			 "openssl enc -d -aes-256-ctr -K %s -iv %s -in ct.bin -out pt.bin",
			 ps.enc_hex, ctr_hex);
		run(cmd, out, sizeof(out));
		assert_int_equal(get_file("pt.bin", pt, sizeof(pt)), ctlen);
		assert_memory_equal(pt, plain + i * 64, ctlen);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cbc_hmac_chunks_are_standard),
		cmocka_unit_test(test_gcm_chunks_are_standard),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
