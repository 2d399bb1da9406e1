/*
 * Unit tests for format: the encrypted object container.  Objects are
 * written to and read from memory through the same positional sink/source
 * interface a store uses; every kind of damage must fail with CS_EAUTH and
 * release no plaintext of a damaged chunk.
 */
#include "testutil.h"
#include "util/workq.h"

#include <pthread.h>
#include "crypto/engine.h"
#include "format/format.h"
#include "util/err.h"

#include <stdio.h>

/* ---- an in-memory store -------------------------------------------------- */

struct mem {
	uint8_t *b;
	size_t n, cap;
};

static int
mem_sink(void *arg, uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct mem *m = arg;

	for (int i = 0; i < iovcnt; i++) {
		size_t end = (size_t)off + iov[i].iov_len;

		if (end > m->cap) {
			m->cap = end * 2;
			m->b = realloc(m->b, m->cap);
			assert_non_null(m->b);
		}
		if (off > m->n)
			memset(m->b + m->n, 0, (size_t)off - m->n);
		memcpy(m->b + off, iov[i].iov_base, iov[i].iov_len);
		if (end > m->n)
			m->n = end;
		off = end;
	}
	return 0;
}

static long
mem_source(void *arg, uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct mem *m = arg;
	long got = 0;

	for (int i = 0; i < iovcnt; i++) {
		size_t k = iov[i].iov_len;

		if (off >= m->n)
			break;
		if (k > m->n - off)
			k = m->n - off;
		memcpy(iov[i].iov_base, m->b + off, k);
		got += (long)k;
		off += k;
		if (k < iov[i].iov_len)
			break;
	}
	return got;
}

/* Plaintext collected by format_read. */
struct acc {
	uint8_t *b;
	size_t n;
};

static int
acc_out(void *arg, const uint8_t *data, size_t len)
{
	struct acc *a = arg;

	a->b = realloc(a->b, a->n + len + 1);
	assert_non_null(a->b);
	memcpy(a->b + a->n, data, len);
	a->n += len;
	return 0;
}

/* ---- keys ---------------------------------------------------------------- */

static const uint8_t kek_s2[32] = {0x11, 0x22, 0x33};
static const uint8_t kek_s2_v2[32] = {0x44};
static const uint8_t kek_other[32] = {0x99};

/* The KEK source: "s2" versions 1 and 2; arg, when set, overrides the key. */
static int
kek_fn(void *arg, const char *id, uint32_t version, uint8_t key[32])
{
	if (arg != NULL) {
		memcpy(key, arg, 32);
		return 0;
	}
	if (strcmp(id, "s2") != 0)
		return CS_ENOENT;
	if (version == 1)
		memcpy(key, kek_s2, 32);
	else if (version == 2)
		memcpy(key, kek_s2_v2, 32);
	else
		return CS_ENOENT;
	return 0;
}

/* ---- helpers ------------------------------------------------------------- */

static struct engine *engines[2];

static int
setup(void **state)
{
	(void)state;
	if (engine_new(&engines[0], ENGINE_EVP) != 0 ||
	    engine_new(&engines[1], ENGINE_IPSECMB) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	engine_free(engines[0]);
	engine_free(engines[1]);
	return 0;
}

/* The alignment write_obj asks for (format_params.align). */
static uint32_t wo_align;

/* write_obj: a new object of len pseudo-random bytes (seed) into m. */
static void
write_obj(struct mem *m, uint8_t *plain, size_t len, const struct suite_info *su, uint32_t chunk,
	  struct engine *e, const char *meta)
{
	struct format_params p = {
		.suite = su,
		.chunk_size = chunk,
		.label = "s2:c1,c4.c7",
		.bucket = "secret-bucket",
		.kek = {"s2", 1, kek_s2},
		.meta = (const uint8_t *)meta,
		.meta_len = meta ? strlen(meta) : 0,
		.align = wo_align,
	};
	struct format_obj *o;
	struct format_writer *w;
	uint64_t total = 0;
	size_t off = 0;
	uint64_t s = len * 31 + 7;

	m->n = 0;
	assert_int_equal(format_create(&o, &p, e), 0);
	assert_int_equal(format_writer_new(&w, o, e, mem_sink, m), 0);
	/* Write in uneven pieces to exercise the chunker. */
	while (off < len) {
		size_t piece = 1 + tu_rand(&s) % (3 * (size_t)format_chunk_size(o));

		if (piece > len - off)
			piece = len - off;
		assert_int_equal(format_writer_write(w, plain + off, piece), 0);
		off += piece;
	}
	assert_int_equal(format_writer_finish(w, NULL, 0, &total), 0);
	assert_int_equal(total, len);
	assert_int_equal(m->n, format_stored_size(o, len));
	/* Writing after finish is refused. */
	assert_int_equal(format_writer_write(w, "x", 1), CS_EINVAL);
	format_writer_free(w);
	format_free(o);
}

/* open_obj: format_open over the stored bytes in m. */
static int
open_obj(struct format_obj **o, const struct mem *m, const struct format_expect *exp, void *kekarg,
	 struct engine *e)
{
	size_t hlen;
	int rc;

	*o = NULL;
	if (m->n < FORMAT_PREFIX_LEN + FORMAT_TRAILER_LEN)
		return CS_EAUTH;
	if ((rc = format_header_len(m->b, m->n, &hlen)) != 0)
		return rc;
	if (hlen > m->n - FORMAT_TRAILER_LEN)
		return CS_EAUTH;
	return format_open(o, m->b, hlen, m->b + m->n - FORMAT_TRAILER_LEN, m->n, exp, kek_fn,
			   kekarg, e);
}

/* read_all: open and read the whole object; returns the first error. */
static int
read_all(const struct mem *m, struct acc *a, struct engine *e)
{
	struct format_expect exp = {"s2:c1,c4.c7", "secret-bucket"};
	struct format_obj *o;
	int rc;

	a->n = 0;
	if ((rc = open_obj(&o, m, &exp, NULL, e)) != 0)
		return rc;
	rc = format_read(o, e, mem_source, (void *)(uintptr_t)m, 0, format_length(o), acc_out, a);
	format_free(o);
	return rc;
}

static uint8_t *
make_plain(size_t len)
{
	uint8_t *p = malloc(len + 1);
	uint64_t s = 12345 + len;

	tu_fill(&s, p, len);
	return p;
}

/* ---- tests --------------------------------------------------------------- */

static void
test_roundtrip_sizes(void **state)
{
	static const uint32_t chunks[] = {64, 4096, FORMAT_CHUNK_DEFAULT, FORMAT_CHUNK_MAX};
	struct mem m = {0};
	struct acc a = {0};
	size_t max = 3 * FORMAT_CHUNK_MAX + 5;
	uint8_t *plain = make_plain(max);

	(void)state;
	for (size_t ci = 0; ci < 4; ci++) {
		uint32_t c = chunks[ci];
		size_t sizes[] = {0, 1, 15, 16, 17, c - 1, c, c + 1, 2 * c, 3 * c - 16, 3 * c + 5};

		for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
			for (int su = 1; su <= 2; su++) {
				struct engine *e = engines[(si + ci + (size_t)su) % 2];

				write_obj(&m, plain, sizes[si], suite_by_id((unsigned)su), c, e,
					  "name=a/b.txt");
				assert_int_equal(read_all(&m, &a, engines[si % 2]), 0);
				assert_int_equal(a.n, sizes[si]);
				if (sizes[si] > 0)
					assert_memory_equal(a.b, plain, sizes[si]);
			}
		}
	}
	free(plain);
	free(m.b);
	free(a.b);
}

static void
test_header_fields_and_ranges(void **state)
{
	struct format_expect exp = {"s2:c1,c4.c7", "secret-bucket"};
	struct mem m = {0};
	struct acc a = {0};
	size_t len = 10 * 256 + 77, mlen;
	uint8_t *plain = make_plain(len);
	struct format_obj *o;
	uint64_t s = 3;

	(void)state;
	write_obj(&m, plain, len, NULL, 256, engines[1], "object key: \xe2\x9c\x93 with metadata");
	assert_int_equal(open_obj(&o, &m, &exp, NULL, engines[0]), 0);
	assert_int_equal(format_length(o), len);
	assert_int_equal(format_nchunks(o), 11);
	assert_int_equal(format_chunk_size(o), 256);
	assert_ptr_equal(format_suite(o), suite_default());
	assert_string_equal(format_label(o), "s2:c1,c4.c7");
	assert_string_equal(format_bucket(o), "secret-bucket");
	assert_string_equal(format_kek_id(o), "s2");
	assert_int_equal(format_kek_version(o), 1);
	{
		const uint8_t *meta = format_meta(o, &mlen);
		const char *want = "object key: \xe2\x9c\x93 with metadata";

		assert_int_equal(mlen, strlen(want));
		assert_memory_equal(meta, want, mlen);
	}
	/* Random-access reads return exactly the requested bytes. */
	for (int i = 0; i < 300; i++) {
		uint64_t off = tu_rand(&s) % (len + 1), n = tu_rand(&s) % (len - off + 1);

		a.n = 0;
		assert_int_equal(
			format_read(o, engines[i % 2], mem_source, &m, off, n, acc_out, &a), 0);
		assert_int_equal(a.n, n);
		if (n > 0)
			assert_memory_equal(a.b, plain + off, n);
	}
	/* Out of range. */
	assert_int_equal(format_read(o, engines[0], mem_source, &m, len + 1, 0, acc_out, &a),
			 CS_ERANGE);
	assert_int_equal(format_read(o, engines[0], mem_source, &m, 5, len, acc_out, &a),
			 CS_ERANGE);
	assert_int_equal(format_read(o, engines[0], mem_source, &m, 1, UINT64_MAX, acc_out, &a),
			 CS_ERANGE);
	/* Chunk i is where the geometry says: open chunk 3 by hand. */
	{
		size_t recsz = format_rec_size(o), st = format_stride(o);
		uint8_t *buf = malloc(recsz);
		struct engine_rec r;
		const struct suite_info *su = format_suite(o);

		memcpy(buf + FORMAT_AAD_LEN, m.b + format_chunk_offset(o, 3), st);
		format_rec_init(o, &r, buf, 3, false, st - su->iv_len - su->tag_len);
		assert_int_equal(engine_open(engines[1], &r, 1), 0);
		assert_memory_equal(format_rec_text(o, buf), plain + 3 * 256, 256);
		/* The same bytes presented as chunk 4 do not verify. */
		memcpy(buf + FORMAT_AAD_LEN, m.b + format_chunk_offset(o, 3), st);
		format_rec_init(o, &r, buf, 4, false, st - su->iv_len - su->tag_len);
		assert_int_equal(engine_open(engines[1], &r, 1), CS_EAUTH);
		free(buf);
	}
	format_free(o);
	free(plain);
	free(m.b);
	free(a.b);
}

/* expect_damage: reading m fails with CS_EAUTH and releases at most the
 * verified prefix before chunk first_bad (whose plaintext is never seen). */
static void
expect_damage(const struct mem *m, const uint8_t *plain, size_t first_bad, uint32_t chunk,
	      const char *what, size_t pos)
{
	struct acc a = {0};
	int rc = read_all(m, &a, engines[pos % 2]);

	if (rc != CS_EAUTH)
		fail_msg("%s at %zu: expected CS_EAUTH, got %d", what, pos, rc);
	if (a.n > first_bad * chunk)
		fail_msg("%s at %zu: %zu bytes released, more than the %zu verified", what, pos,
			 a.n, first_bad * (size_t)chunk);
	if (a.n > 0 && memcmp(a.b, plain, a.n) != 0)
		fail_msg("%s at %zu: released bytes are not the original", what, pos);
	free(a.b);
}

static void
test_every_bit_flip_rejected(void **state)
{
	const uint32_t c = 64;
	uint8_t *plain = make_plain(3 * 464 + 9);
	struct mem m = {0}, d = {0};

	(void)state;
	/* Both suites, and (su 3) a CBC object with a padded header and a
	 * 512-byte stride: chunk 464 aligned to 512. */
	for (int su = 1; su <= 3; su++) {
		uint32_t cs = su == 3 ? 464 : c;
		size_t len = su == 3 ? 3 * 464 + 9 : 6 * c + 9;
		struct format_obj *o;
		size_t hlen;

		wo_align = su == 3 ? 512 : 0;
		write_obj(&m, plain, len, suite_by_id(su == 3 ? 1u : (unsigned)su), cs, engines[1],
			  "k");
		wo_align = 0;
		assert_int_equal(open_obj(&o, &m, NULL, NULL, engines[0]), 0);
		format_header(o, &hlen);
		if (su == 3)
			assert_true(hlen % 512 == 0 && format_stride(o) == 512);
		d.b = malloc(m.n);
		d.n = d.cap = m.n;
		/* Every byte of the object, every bit position in turn. */
		for (size_t pos = 0; pos < m.n; pos++) {
			size_t bad = pos < hlen ? 0 : (pos - hlen) / format_stride(o);

			memcpy(d.b, m.b, m.n);
			d.b[pos] ^= (uint8_t)(1u << (pos % 8));
			if (pos >= m.n - FORMAT_TRAILER_LEN)
				bad = 0; /* the trailer guards everything */
			expect_damage(&d, plain, bad, cs, "bit flip", pos);
		}
		format_free(o);
		free(d.b);
		d.b = NULL;
	}
	free(plain);
	free(m.b);
}

static void
test_truncation_rejected(void **state)
{
	const uint32_t c = 64;
	size_t len = 5 * c + 40;
	uint8_t *plain = make_plain(len), trailer[FORMAT_TRAILER_LEN];
	struct mem m = {0}, d = {0};

	(void)state;
	write_obj(&m, plain, len, NULL, c, engines[1], NULL);
	memcpy(trailer, m.b + m.n - FORMAT_TRAILER_LEN, FORMAT_TRAILER_LEN);
	d.b = malloc(m.n);
	for (size_t cut = 0; cut < m.n; cut++) {
		/* Plain truncation at every length... */
		memcpy(d.b, m.b, cut);
		d.n = d.cap = cut;
		expect_damage(&d, plain, 0, c, "truncated to", cut);
		/* ...and truncation with the real trailer put back after the cut. */
		if (cut + FORMAT_TRAILER_LEN < m.n) {
			memcpy(d.b + cut, trailer, FORMAT_TRAILER_LEN);
			d.n = cut + FORMAT_TRAILER_LEN;
			expect_damage(&d, plain, 0, c, "truncated with trailer at", cut);
		}
	}
	/* Appending bytes is damage too. */
	d.b = realloc(d.b, m.n + 16);
	memcpy(d.b, m.b, m.n);
	memset(d.b + m.n, 0, 16);
	d.n = m.n + 16;
	expect_damage(&d, plain, 0, c, "extended by", 16);
	free(d.b);
	free(plain);
	free(m.b);
}

static void
test_reorder_duplicate_drop_splice(void **state)
{
	const uint32_t c = 128;
	size_t len = 6 * c + 3, st, hlen;
	uint8_t *plain = make_plain(len), *tmp;
	struct mem m = {0}, other = {0}, d = {0};
	struct format_obj *o;

	(void)state;
	write_obj(&m, plain, len, NULL, c, engines[1], NULL);
	write_obj(&other, plain, len, NULL, c, engines[0], NULL); /* same bytes, new DEK */
	assert_int_equal(open_obj(&o, &m, NULL, NULL, engines[0]), 0);
	st = format_stride(o);
	format_header(o, &hlen);
	tmp = malloc(st);
	d.b = malloc(m.n);
	d.n = d.cap = m.n;

	/* Swap chunks 1 and 2. */
	memcpy(d.b, m.b, m.n);
	memcpy(tmp, d.b + hlen + st, st);
	memcpy(d.b + hlen + st, d.b + hlen + 2 * st, st);
	memcpy(d.b + hlen + 2 * st, tmp, st);
	expect_damage(&d, plain, 1, c, "swapped chunks", 1);
	/* Duplicate chunk 1 over chunk 2. */
	memcpy(d.b, m.b, m.n);
	memcpy(d.b + hlen + 2 * st, d.b + hlen + st, st);
	expect_damage(&d, plain, 2, c, "duplicated chunk", 2);
	/* Drop chunk 3 (the rest moves up). */
	memcpy(d.b, m.b, hlen + 3 * st);
	memcpy(d.b + hlen + 3 * st, m.b + hlen + 4 * st, m.n - hlen - 4 * st);
	d.n = m.n - st;
	expect_damage(&d, plain, 0, c, "dropped chunk", 3);
	d.n = m.n;
	/* Splice chunk 2 from another object with identical geometry. */
	memcpy(d.b, m.b, m.n);
	memcpy(d.b + hlen + 2 * st, other.b + hlen + 2 * st, st);
	expect_damage(&d, plain, 2, c, "spliced chunk", 2);
	/* Another object's trailer. */
	memcpy(d.b, m.b, m.n);
	memcpy(d.b + m.n - FORMAT_TRAILER_LEN, other.b + m.n - FORMAT_TRAILER_LEN,
	       FORMAT_TRAILER_LEN);
	expect_damage(&d, plain, 0, c, "spliced trailer", 0);
	/* Another object's header over these chunks. */
	memcpy(d.b, m.b, m.n);
	memcpy(d.b, other.b, hlen);
	expect_damage(&d, plain, 0, c, "spliced header", 0);
	/* The final chunk of one object moved onto the other's. */
	memcpy(d.b, m.b, m.n);
	memcpy(d.b + hlen + 6 * st, other.b + hlen + 6 * st,
	       m.n - FORMAT_TRAILER_LEN - hlen - 6 * st);
	expect_damage(&d, plain, 6, c, "spliced final chunk", 6);

	format_free(o);
	free(tmp);
	free(d.b);
	free(plain);
	free(m.b);
	free(other.b);
}

static void
test_wrong_key_label_bucket(void **state)
{
	struct format_expect wrong_label = {"s2:c1", NULL}, wrong_bucket = {NULL, "other"},
			     right = {"s2:c1,c4.c7", "secret-bucket"};
	struct mem m = {0};
	uint8_t *plain = make_plain(1000);
	struct format_obj *o;

	(void)state;
	write_obj(&m, plain, 1000, NULL, 0, engines[1], "meta");
	assert_int_equal(open_obj(&o, &m, &right, NULL, engines[0]), 0);
	format_free(o);
	assert_int_equal(open_obj(&o, &m, &right, (void *)(uintptr_t)kek_other, engines[0]),
			 CS_EAUTH);
	assert_null(o);
	assert_int_equal(open_obj(&o, &m, &right, (void *)(uintptr_t)kek_s2_v2, engines[1]),
			 CS_EAUTH);
	assert_int_equal(open_obj(&o, &m, &wrong_label, NULL, engines[0]), CS_EAUTH);
	assert_int_equal(open_obj(&o, &m, &wrong_bucket, NULL, engines[1]), CS_EAUTH);
	free(plain);
	free(m.b);
}

static void
test_destroyed_kek_fails_and_is_named(void **state)
{
	struct format_params p = {.label = "s2", .bucket = "b", .kek = {"s2", 3, kek_s2}};
	struct format_obj *o;
	struct format_writer *w;
	struct mem m = {0};

	(void)state;
	/* Sealed under version 3, which the key source does not have. */
	assert_int_equal(format_create(&o, &p, engines[0]), 0);
	assert_int_equal(format_writer_new(&w, o, engines[0], mem_sink, &m), 0);
	assert_int_equal(format_writer_write(w, "hello", 5), 0);
	assert_int_equal(format_writer_finish(w, NULL, 0, NULL), 0);
	format_writer_free(w);
	format_free(o);
	assert_int_equal(open_obj(&o, &m, NULL, NULL, engines[0]), CS_EAUTH);
	{
		char id[16];
		uint32_t version = 0;
		size_t hlen;

		assert_int_equal(format_header_len(m.b, m.n, &hlen), 0);
		assert_int_equal(format_peek_kek(m.b, hlen, id, sizeof(id), &version), 0);
		assert_string_equal(id, "s2");
		assert_int_equal(version, 3);
		assert_int_equal(format_peek_kek(m.b, hlen, id, 2, &version), CS_ERANGE);
		assert_int_equal(format_peek_kek(m.b, hlen - 1, id, sizeof(id), &version),
				 CS_EAUTH);
	}
	free(m.b);
}

static void
test_rewrap_and_dek_span(void **state)
{
	struct format_kek k2 = {"s2", 2, kek_s2_v2}, bad = {"s3", 2, kek_s2_v2};
	size_t len = 100000, hlen, nh, off, n;
	uint8_t *plain = make_plain(len);
	struct format_obj *o;
	const uint8_t *h;
	struct mem m = {0};
	struct acc a = {0};

	(void)state;
	write_obj(&m, plain, len, NULL, 0, engines[0], "meta");
	assert_int_equal(format_header_len(m.b, m.n, &hlen), 0);
	assert_int_equal(open_obj(&o, &m, NULL, NULL, engines[0]), 0);
	assert_int_equal(format_rewrap(o, &bad), CS_EINVAL);
	assert_int_equal(format_rewrap(o, &k2), 0);
	assert_int_equal(format_kek_version(o), 2);
	h = format_header(o, &nh);
	assert_int_equal(nh, hlen);
	assert_memory_not_equal(h, m.b, hlen);
	memcpy(m.b, h, hlen); /* the header rewritten in place */
	format_free(o);
	assert_int_equal(read_all(&m, &a, engines[1]), 0);
	assert_int_equal(a.n, len);
	assert_memory_equal(a.b, plain, len);
	{
		char id[8];
		uint32_t v = 0;

		assert_int_equal(format_peek_kek(m.b, hlen, id, sizeof(id), &v), 0);
		assert_int_equal(v, 2);
	}
	/* The old version's key no longer opens it. */
	assert_int_equal(open_obj(&o, &m, NULL, (void *)(uintptr_t)kek_s2, engines[0]), CS_EAUTH);
	/* Destroying the sealed DEK in place makes the object unreadable. */
	assert_int_equal(format_dek_span(m.b, hlen, &off, &n), 0);
	assert_int_equal(n, 40);
	assert_true(off > 44 && off + n < hlen);
	assert_int_equal(format_dek_span(m.b, hlen - 1, &off, &n), CS_EAUTH);
	for (size_t i = 0; i < n; i++)
		m.b[off + i] ^= 0x5a;
	assert_int_equal(read_all(&m, &a, engines[0]), CS_EAUTH);
	free(a.b);
	free(m.b);
	free(plain);
}

/* A sink for several threads: mem_sink under a lock, failing call fail_at (1-based). */
struct lmem {
	pthread_mutex_t mu;
	struct mem m;
	int calls, fail_at;
};

static int
lmem_sink(void *arg, uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct lmem *l = arg;
	int rc = 0;

	pthread_mutex_lock(&l->mu);
	if (++l->calls == l->fail_at)
		rc = CS_EIO;
	else
		rc = mem_sink(&l->m, off, iov, iovcnt);
	pthread_mutex_unlock(&l->mu);
	return rc;
}

static void *
engine_ctx(void *arg)
{
	struct engine *e = NULL;

	return engine_new(&e, *(enum engine_kind *)arg) == 0 ? e : NULL;
}

static void
engine_ctx_free(void *e)
{
	engine_free(e);
}

/* write_uneven: len bytes of plain through w in pieces of 1..max bytes, so
 * that batches fill in the middle of writes. */
static void
write_uneven(struct format_writer *w, const uint8_t *plain, size_t len, size_t max)
{
	for (size_t off = 0; off < len;) {
		size_t n = 1 + (off * 7 + 333) % max;

		if (n > len - off)
			n = len - off;
		assert_int_equal(format_writer_write(w, plain + off, n), 0);
		off += n;
	}
}

static void
test_async_writer(void **state)
{
	static enum engine_kind kinds[2] = {ENGINE_EVP, ENGINE_IPSECMB};
	const size_t C = 1024, sizes[] = {0, 1, 16 * 1024, 16 * 1024 + 1, 40 * 1024 + 5, 100000};
	struct format_params p = {.label = "s2:c1,c4.c7",
				  .bucket = "secret-bucket",
				  .kek = {"s2", 1, kek_s2},
				  .chunk_size = (uint32_t)C};

	(void)state;
	for (int k = 0; k < 2; k++) {
		struct workq *q;

		assert_int_equal(workq_new(&q, 2, engine_ctx, engine_ctx_free, &kinds[k]), 0);
		assert_int_equal(workq_threads(q), 2);
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			uint8_t *plain = make_plain(sizes[i]);
			struct lmem l = {.mu = PTHREAD_MUTEX_INITIALIZER};
			struct format_writer *w;
			struct format_obj *o;
			struct acc a = {0};
			uint64_t total = 0;

			assert_int_equal(format_create(&o, &p, engines[k]), 0);
			assert_int_equal(
				format_writer_new_async(&w, o, engines[k], lmem_sink, &l, q), 0);
			write_uneven(w, plain, sizes[i], 5000);
			assert_int_equal(format_writer_finish(w, NULL, 0, &total), 0);
			assert_int_equal(total, sizes[i]);
			assert_int_equal(l.m.n, format_stored_size(o, sizes[i]));
			format_writer_free(w);
			format_free(o);
			assert_int_equal(read_all(&l.m, &a, engines[1 - k]), 0);
			assert_int_equal(a.n, sizes[i]);
			if (sizes[i] > 0)
				assert_memory_equal(a.b, plain, sizes[i]);
			/* Read back through the workers too: whole, and a range. */
			assert_int_equal(open_obj(&o, &l.m, NULL, NULL, engines[k]), 0);
			a.n = 0;
			assert_int_equal(format_read_async(o, engines[k], mem_source, &l.m, 0,
							   sizes[i], acc_out, &a, q),
					 0);
			assert_int_equal(a.n, sizes[i]);
			if (sizes[i] > 0)
				assert_memory_equal(a.b, plain, sizes[i]);
			if (sizes[i] > 3000) {
				a.n = 0;
				assert_int_equal(format_read_async(o, engines[k], mem_source, &l.m,
								   1000, sizes[i] - 2000, acc_out,
								   &a, q),
						 0);
				assert_int_equal(a.n, sizes[i] - 2000);
				assert_memory_equal(a.b, plain + 1000, sizes[i] - 2000);
			}
			/* A damaged chunk in a later batch: the verified prefix only. */
			if (sizes[i] >= 40 * 1024) {
				size_t bad = 35, good = bad * C;

				l.m.b[format_chunk_offset(o, bad) + 20] ^= 1;
				a.n = 0;
				assert_int_equal(format_read_async(o, engines[k], mem_source, &l.m,
								   0, sizes[i], acc_out, &a, q),
						 CS_EAUTH);
				assert_int_equal(a.n, good);
				assert_memory_equal(a.b, plain, good);
			}
			format_free(o);
			free(a.b);
			free(l.m.b);
			free(plain);
		}
		/* A worker's sink failure comes back from a later write or finish. */
		for (int fail = 2; fail <= 4; fail++) {
			uint8_t *plain = make_plain(60 * C);
			struct lmem l = {.mu = PTHREAD_MUTEX_INITIALIZER, .fail_at = fail};
			struct format_writer *w;
			struct format_obj *o;
			int rc = 0;

			assert_int_equal(format_create(&o, &p, engines[k]), 0);
			assert_int_equal(
				format_writer_new_async(&w, o, engines[k], lmem_sink, &l, q), 0);
			for (size_t off = 0; off < 60 * C && rc == 0; off += C)
				rc = format_writer_write(w, plain + off, C);
			if (rc == 0)
				rc = format_writer_finish(w, NULL, 0, NULL);
			assert_int_equal(rc, CS_EIO);
			format_writer_free(w);
			format_free(o);
			free(l.m.b);
			free(plain);
		}
		workq_free(q);
	}
}

/* write_in_place: len bytes of plain through w the way a body received
 * straight into the records arrives: format_writer_space(), a copy of up to
 * max bytes into the iovecs it gave (at most maxv of them), then
 * format_writer_advance(); every fifth piece goes through
 * format_writer_write() instead. */
static void
write_in_place(struct format_writer *w, const uint8_t *plain, size_t len, size_t max)
{
	struct iovec iov[FORMAT_BATCH];

	for (size_t off = 0, i = 0; off < len; i++) {
		size_t want = 1 + (off * 13 + 777 + i) % max, got = 0;
		int n;

		if (want > len - off)
			want = len - off;
		if (i % 5 == 4) {
			assert_int_equal(format_writer_write(w, plain + off, want), 0);
			off += want;
			continue;
		}
		n = format_writer_space(w, iov, (int)(1 + i % FORMAT_BATCH));
		assert_true(n >= 1 && n <= (int)(1 + i % FORMAT_BATCH));
		for (int k = 0; k < n && got < want; k++) {
			size_t t = iov[k].iov_len < want - got ? iov[k].iov_len : want - got;

			assert_true(t > 0);
			memcpy(iov[k].iov_base, plain + off + got, t);
			got += t;
		}
		assert_int_equal(format_writer_advance(w, got), 0);
		off += got;
	}
}

static void
test_writer_in_place(void **state)
{
	static enum engine_kind kind = ENGINE_IPSECMB;
	const size_t C = 1024, sizes[] = {1,      C - 1,      C,          C + 1,  2 * C,
					  16 * C, 16 * C + 1, 40 * C + 5, 100000, 300000};
	struct format_params p = {.label = "s2:c1,c4.c7",
				  .bucket = "secret-bucket",
				  .kek = {"s2", 1, kek_s2},
				  .chunk_size = (uint32_t)C};
	struct iovec iov[FORMAT_BATCH];
	struct workq *q;

	(void)state;
	assert_int_equal(workq_new(&q, 2, engine_ctx, engine_ctx_free, &kind), 0);
	for (int async = 0; async <= 1; async++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			uint8_t *plain = make_plain(sizes[i]);
			struct lmem l = {.mu = PTHREAD_MUTEX_INITIALIZER};
			struct format_writer *w;
			struct format_obj *o;
			struct acc a = {0};
			uint64_t total = 0;

			assert_int_equal(format_create(&o, &p, engines[1]), 0);
			assert_int_equal(
				async ? format_writer_new_async(&w, o, engines[1], lmem_sink, &l, q)
				      : format_writer_new(&w, o, engines[1], lmem_sink, &l),
				0);
			write_in_place(w, plain, sizes[i], 1 + (i % 3 == 0 ? 3 * C : 20 * C));
			assert_int_equal(format_writer_finish(w, NULL, 0, &total), 0);
			assert_int_equal(total, sizes[i]);
			assert_int_equal(l.m.n, format_stored_size(o, sizes[i]));
			/* After finish, neither takes more. */
			assert_int_equal(format_writer_space(w, iov, 1), CS_EINVAL);
			assert_int_equal(format_writer_advance(w, 1), CS_EINVAL);
			format_writer_free(w);
			format_free(o);
			assert_int_equal(read_all(&l.m, &a, engines[0]), 0);
			assert_int_equal(a.n, sizes[i]);
			assert_memory_equal(a.b, plain, sizes[i]);
			free(a.b);
			free(l.m.b);
			free(plain);
		}
	}
	workq_free(q);

	/* Misuse is refused and sticks: no space asked for, more accepted than
	 * was given (a new object's first record is all its buffer holds). */
	{
		struct lmem l = {.mu = PTHREAD_MUTEX_INITIALIZER};
		struct format_writer *w;
		struct format_obj *o;

		assert_int_equal(format_create(&o, &p, engines[1]), 0);
		assert_int_equal(format_writer_new(&w, o, engines[1], lmem_sink, &l), 0);
		assert_int_equal(format_writer_space(w, iov, 0), CS_EINVAL);
		assert_int_equal(format_writer_space(w, iov, FORMAT_BATCH), 1);
		assert_int_equal(iov[0].iov_len, C);
		assert_int_equal(format_writer_advance(w, C + 1), CS_EINVAL);
		assert_int_equal(format_writer_write(w, "x", 1), CS_EINVAL);
		assert_int_equal(format_writer_finish(w, NULL, 0, NULL), CS_EINVAL);
		format_writer_free(w);
		format_free(o);
		free(l.m.b);
	}
}

/* A sink that holds the workers until the test opens its gate. */
struct gmem {
	struct lmem l;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	bool open;
	int notified; /* format_writer_set_notify's hook calls */
};

static int
gmem_sink(void *arg, uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct gmem *g = arg;

	pthread_mutex_lock(&g->mu);
	while (!g->open && off > 0) /* the header goes through at once */
		pthread_cond_wait(&g->cv, &g->mu);
	pthread_mutex_unlock(&g->mu);
	return lmem_sink(&g->l, off, iov, iovcnt);
}

static void
gmem_notify(void *arg)
{
	struct gmem *g = arg;

	pthread_mutex_lock(&g->mu);
	g->notified++;
	pthread_cond_broadcast(&g->cv);
	pthread_mutex_unlock(&g->mu);
}

/* fill: copy up to n bytes of plain into the space w gives; how many. */
static size_t
fill(struct format_writer *w, const uint8_t *plain, size_t n, int *rc)
{
	struct iovec iov[FORMAT_BATCH];
	size_t got = 0;
	int k = format_writer_space(w, iov, FORMAT_BATCH);

	*rc = k < 0 ? k : 0;
	for (int i = 0; i < k && got < n; i++) {
		size_t t = iov[i].iov_len < n - got ? iov[i].iov_len : n - got;

		memcpy(iov[i].iov_base, plain + got, t);
		got += t;
	}
	if (k > 0)
		*rc = format_writer_advance(w, got);
	return k > 0 ? got : 0;
}

/* An event loop's writer: with a notify hook, space does not wait for a
 * slot the workers hold (CS_EAGAIN, nothing taken) and the hook says when
 * one is back; the object is whole all the same. */
static void
test_writer_notify(void **state)
{
	static enum engine_kind kind = ENGINE_IPSECMB;
	const size_t C = 1024, len = 70 * C + 9;
	struct format_params p = {.label = "s2:c1,c4.c7",
				  .bucket = "secret-bucket",
				  .kek = {"s2", 1, kek_s2},
				  .chunk_size = (uint32_t)C};
	uint8_t *plain = make_plain(len);
	struct gmem g = {.l = {.mu = PTHREAD_MUTEX_INITIALIZER},
			 .mu = PTHREAD_MUTEX_INITIALIZER,
			 .cv = PTHREAD_COND_INITIALIZER};
	struct iovec iov[FORMAT_BATCH];
	struct format_writer *w;
	struct format_obj *o;
	struct workq *q;
	struct acc a = {0};
	size_t off = 0;
	uint64_t total = 0;
	int rc = 0, eagain = 0;

	(void)state;
	assert_int_equal(workq_new(&q, 1, engine_ctx, engine_ctx_free, &kind), 0);
	assert_int_equal(format_create(&o, &p, engines[1]), 0);
	assert_int_equal(format_writer_new_async(&w, o, engines[1], gmem_sink, &g, q), 0);
	format_writer_set_notify(w, gmem_notify, &g);
	/* Both slots go to the (held) worker; the third batch has no room. */
	while (off < len && rc == 0)
		off += fill(w, plain + off, len - off, &rc);
	assert_int_equal(rc, CS_EAGAIN);
	assert_int_equal(off, 2 * FORMAT_BATCH * C);
	assert_int_equal(format_writer_space(w, iov, FORMAT_BATCH), CS_EAGAIN); /* not sticky */
	assert_int_equal(format_writer_write(w, plain + off, 1), CS_EINVAL); /* not with a hook */
	pthread_mutex_lock(&g.mu);
	assert_int_equal(g.notified, 0);
	g.open = true;
	pthread_cond_broadcast(&g.cv);
	while (g.notified == 0) /* the hook says when a slot is back */
		pthread_cond_wait(&g.cv, &g.mu);
	pthread_mutex_unlock(&g.mu);
	/* On with the hook: CS_EAGAIN only while the worker still has the slot. */
	while (off < len) {
		int seen;
		size_t k;

		pthread_mutex_lock(&g.mu);
		seen = g.notified;
		pthread_mutex_unlock(&g.mu);
		k = fill(w, plain + off, len - off, &rc);
		if (rc == CS_EAGAIN) {
			eagain++;
			pthread_mutex_lock(&g.mu);
			while (g.notified == seen) /* woken by the hook, not a timer */
				pthread_cond_wait(&g.cv, &g.mu);
			pthread_mutex_unlock(&g.mu);
			continue;
		}
		assert_int_equal(rc, 0);
		off += k;
	}
	format_writer_set_notify(w, NULL, NULL);
	assert_int_equal(format_writer_finish(w, NULL, 0, &total), 0);
	assert_int_equal(total, len);
	format_writer_free(w);
	pthread_mutex_lock(&g.mu);
	assert_true(g.notified >= 1 + eagain);
	pthread_mutex_unlock(&g.mu);
	assert_int_equal(read_all(&g.l.m, &a, engines[0]), 0);
	assert_int_equal(a.n, len);
	assert_memory_equal(a.b, plain, len);
	format_free(o);
	workq_free(q);
	free(a.b);
	free(g.l.m.b);
	free(plain);
}

/* An lmem that also counts the sink calls whose every iovec (and offset) is
 * aligned, the writes a store can send with O_DIRECT. */
struct amem {
	struct lmem l;
	uint32_t align;
	uint64_t hlen;
	int aligned, body; /* aligned calls; calls past the header */
	uint64_t aligned_bytes;
};

static int
amem_sink(void *arg, uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct amem *a = arg;
	bool ok = off % a->align == 0;
	uint64_t n = 0;

	for (int i = 0; i < iovcnt; i++) {
		ok = ok && (uintptr_t)iov[i].iov_base % a->align == 0 &&
		     iov[i].iov_len % a->align == 0;
		n += iov[i].iov_len;
	}
	pthread_mutex_lock(&a->l.mu);
	if (off >= a->hlen)
		a->body++;
	if (ok && off >= a->hlen) { /* the header may be aligned or not: malloc's */
		a->aligned++;
		a->aligned_bytes += n;
	}
	pthread_mutex_unlock(&a->l.mu);
	return lmem_sink(&a->l, off, iov, iovcnt);
}

static void
test_aligned_objects(void **state)
{
	static enum engine_kind kind = ENGINE_IPSECMB;
	const uint32_t aligns[] = {512, 4096};
	struct format_params p = {.label = "s2:c1,c4.c7",
				  .bucket = "secret-bucket",
				  .kek = {"s2", 1, kek_s2},
				  .meta = (const uint8_t *)"name=x",
				  .meta_len = 6};
	struct workq *q;
	struct format_obj *o;

	(void)state;
	assert_int_equal(workq_new(&q, 2, engine_ctx, engine_ctx_free, &kind), 0);
	for (size_t ai = 0; ai < 2; ai++) {
		const uint32_t A = aligns[ai], C = 32720; /* 16 + 32720 + 32 = 32768 */
		const size_t sizes[] = {
			0, 1, C - 1, C, 16 * (size_t)C, 16 * (size_t)C + 5, 40 * (size_t)C + 77};

		p.align = A;
		p.suite = suite_by_id(1);
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			for (int async = 0; async <= 1; async++) {
				uint8_t *plain = make_plain(sizes[i]);
				struct amem am = {.l = {.mu = PTHREAD_MUTEX_INITIALIZER},
						  .align = A};
				struct format_writer *w;
				struct acc a = {0};
				uint64_t nch, nbatch, fin, want;
				size_t hlen;

				assert_int_equal(format_create(&o, &p, engines[async]), 0);
				format_header(o, &hlen);
				assert_int_equal(format_chunk_size(o), C);
				assert_int_equal(format_align(o), A);
				assert_int_equal(hlen % A, 0);
				assert_int_equal(format_stride(o) % A, 0);
				am.hlen = hlen;
				assert_int_equal(async ? format_writer_new_async(&w, o, engines[1],
										 amem_sink, &am, q)
						       : format_writer_new(&w, o, engines[0],
									   amem_sink, &am),
						 0);
				write_uneven(w, plain, sizes[i], 70000);
				assert_int_equal(format_writer_finish(w, NULL, 0, NULL), 0);
				format_writer_free(w);
				assert_int_equal(am.l.m.n, format_stored_size(o, sizes[i]));
				/* Every batch before the final one comes aligned and whole, and
				 * the final one too when its last record happens to fill whole
				 * blocks (C - 15 .. C - 1 bytes, CBC-padded to C). */
				nch = format_chunk_count(o, sizes[i]);
				nbatch = (nch - 1) / FORMAT_BATCH; /* batches before the final */
				fin = format_stored_size(o, sizes[i]) - FORMAT_TRAILER_LEN -
				      format_chunk_offset(o, nch - 1);
				want = nbatch * FORMAT_BATCH * format_stride(o);
				if (fin % A == 0)
					want += (nch - 1 - nbatch * FORMAT_BATCH) *
							format_stride(o) +
						fin;
				assert_int_equal(am.aligned, (int)nbatch + (fin % A == 0));
				assert_int_equal(am.aligned_bytes, want);
				assert_true(sizes[i] < 20 * (size_t)C || am.aligned >= 2);
				format_free(o);
				assert_int_equal(read_all(&am.l.m, &a, engines[i % 2]), 0);
				assert_int_equal(a.n, sizes[i]);
				if (sizes[i] > 0)
					assert_memory_equal(a.b, plain, sizes[i]);
				/* The padding is under the header MAC. */
				if (sizes[i] == 1) {
					am.l.m.b[hlen - FORMAT_TRAILER_LEN + 3] ^= 0x10;
					assert_int_equal(read_all(&am.l.m, &a, engines[0]),
							 CS_EAUTH);
				}
				free(a.b);
				free(am.l.m.b);
				free(plain);
			}
		}
		/* GCM cannot have an aligned stride: written as without align. */
		p.suite = suite_by_id(2);
		assert_int_equal(format_create(&o, &p, engines[0]), 0);
		assert_int_equal(format_align(o), 0);
		assert_int_equal(format_chunk_size(o), FORMAT_CHUNK_DEFAULT);
		assert_int_equal(format_header(o, &(size_t){0})[20 + 3], 0); /* no flags */
		format_free(o);
	}
	/* A chunk too small to align stays as it is. */
	p.suite = suite_by_id(1);
	p.align = 512;
	p.chunk_size = 64;
	assert_int_equal(format_create(&o, &p, engines[0]), 0);
	assert_int_equal(format_align(o), 0);
	assert_int_equal(format_chunk_size(o), 64);
	format_free(o);
	p.chunk_size = 0;
	/* Alignments that are not powers of two from 512 to 4096. */
	for (uint32_t bad = 1; bad <= 16384; bad = bad * 2 + (bad == 1024))
		if (bad < 512 || bad > 4096 || (bad & (bad - 1)) != 0) {
			p.align = bad;
			assert_int_equal(format_create(&o, &p, engines[0]), CS_EINVAL);
		}
	workq_free(q);
}

static void
test_trailer_digest(void **state)
{
	struct format_params p = {.label = "s2", .bucket = "b", .kek = {"s2", 1, kek_s2}};
	const uint8_t digest[FORMAT_DIGEST_LEN] = {0xd4, 0x1d, 0x8c, 0xd9, 0x8f, 0x00, 0xb2, 0x04,
						   0xe9, 0x80, 0x09, 0x98, 0xec, 0xf8, 0x42, 0x7e};
	struct format_obj *o;
	struct format_writer *w;
	struct mem m = {0};
	uint32_t aux = 0;

	(void)state;
	assert_int_equal(format_create(&o, &p, engines[1]), 0);
	assert_int_equal(format_writer_new(&w, o, engines[1], mem_sink, &m), 0);
	assert_int_equal(format_writer_finish(w, digest, 7, NULL), 0);
	format_writer_free(w);
	format_free(o);
	assert_int_equal(open_obj(&o, &m, NULL, NULL, engines[0]), 0);
	assert_memory_equal(format_digest(o, &aux), digest, FORMAT_DIGEST_LEN);
	assert_int_equal(aux, 7);
	assert_int_equal(format_length(o), 0);
	format_free(o);
	/* The digest is authenticated: change one bit and the object does not open. */
	m.b[m.n - FORMAT_TRAILER_LEN + 30] ^= 1;
	assert_int_equal(open_obj(&o, &m, NULL, NULL, engines[0]), CS_EAUTH);
	free(m.b);
}

static void
test_bad_params(void **state)
{
	struct format_params p = {.label = "s0", .bucket = "b", .kek = {"s0", 1, kek_s2}};
	struct format_obj *o;
	uint8_t big[FORMAT_META_MAX + 1] = {0};

	(void)state;
	p.chunk_size = 100; /* not a multiple of 16 */
	assert_int_equal(format_create(&o, &p, engines[0]), CS_EINVAL);
	p.chunk_size = FORMAT_CHUNK_MAX + 16;
	assert_int_equal(format_create(&o, &p, engines[0]), CS_EINVAL);
	p.chunk_size = 0;
	p.meta = big;
	p.meta_len = sizeof(big);
	assert_int_equal(format_create(&o, &p, engines[0]), CS_EINVAL);
	p.meta_len = FORMAT_META_MAX;
	assert_int_equal(format_create(&o, &p, engines[0]), 0);
	format_free(o);
	p.meta_len = 0;
	p.label = "";
	assert_int_equal(format_create(&o, &p, engines[0]), CS_EINVAL);
	p.label = "s0";
	p.kek.key = NULL;
	assert_int_equal(format_create(&o, &p, engines[0]), CS_EINVAL);
	format_free(NULL);
}

static void
test_garbage_headers(void **state)
{
	struct mem m = {0};
	uint8_t *plain = make_plain(300);
	uint64_t s = 777;
	size_t hlen;

	(void)state;
	write_obj(&m, plain, 300, NULL, 64, engines[0], "x");
	assert_int_equal(format_header_len(m.b, m.n, &hlen), 0);
	/* Random corruption of the header's length fields and random headers:
	 * never a crash (ASan), never anything but CS_EAUTH. */
	for (int i = 0; i < 20000; i++) {
		struct mem d = {malloc(m.n), m.n, m.n};
		struct format_obj *o;
		int rc;

		memcpy(d.b, m.b, m.n);
		if (i % 2 == 0) {
			size_t pos = tu_rand(&s) % hlen;

			d.b[pos] = (uint8_t)tu_rand(&s);
			d.b[(pos + 1) % hlen] = (uint8_t)tu_rand(&s);
		} else {
			tu_fill(&s, d.b + 16, hlen - 16);
		}
		rc = open_obj(&o, &d, NULL, NULL, engines[i % 2]);
		if (rc == 0) {
			/* Only a no-op change can still open (e.g. same byte written). */
			assert_memory_equal(d.b, m.b, m.n);
			format_free(o);
		} else {
			assert_int_equal(rc, CS_EAUTH);
		}
		free(d.b);
	}
	assert_int_equal(format_header_len(m.b, 8, &hlen), CS_EAUTH);
	free(plain);
	free(m.b);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_sizes),
		cmocka_unit_test(test_header_fields_and_ranges),
		cmocka_unit_test(test_every_bit_flip_rejected),
		cmocka_unit_test(test_truncation_rejected),
		cmocka_unit_test(test_reorder_duplicate_drop_splice),
		cmocka_unit_test(test_wrong_key_label_bucket),
		cmocka_unit_test(test_destroyed_kek_fails_and_is_named),
		cmocka_unit_test(test_rewrap_and_dek_span),
		cmocka_unit_test(test_async_writer),
		cmocka_unit_test(test_writer_in_place),
		cmocka_unit_test(test_writer_notify),
		cmocka_unit_test(test_aligned_objects),
		cmocka_unit_test(test_trailer_digest),
		cmocka_unit_test(test_bad_params),
		cmocka_unit_test(test_garbage_headers),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
