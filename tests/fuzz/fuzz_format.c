/*
 * fuzz_format: the object container reader (lib/format): format_header_len,
 * format_peek_kek, format_dek_span, format_open and format_read, driven the
 * way server/objio.c drives them, with a fixed KEK source (version 1 and 2
 * of any KEK id).
 *
 * Input: [mode u8] then, by bit 0 of mode:
 *   0 (raw): the stored bytes of an object.
 *   1 (mutate): [object u8][flags u8] then edit operations applied to one of
 *     the valid objects made at start-up (several sizes, chunk sizes and
 *     both suites, so also the batching of more than FORMAT_BATCH chunks):
 *     overwrite, insert, delete, truncate, append, splice from another
 *     object, set a header or trailer field to a value, and choose the
 *     stored size and the byte range read.  Because the header and the
 *     trailer are MACed, flags bit 0 and bit 1 re-MAC them after the edits,
 *     as docs/FORMAT.md specifies (unwrap the DEK with the KEK, HKDF the
 *     header MAC key, HMAC): then edited geometry (chunk size, suite,
 *     lengths, counts, KEK version, strings) gets past the MAC checks and
 *     into the code that trusts it.
 * mode bit 1 picks the ipsec-mb engine (when usable) instead of EVP; bits
 * 2-3 what format_open is told to expect (nothing, the object's own label
 * and bucket, another label, only the bucket); bit 4 also reads through
 * format_read_v() on a work queue of two threads, as the server does, which
 * must agree with format_read() to the byte.
 *
 * Oracles: return codes are the documented ones (every failure of stored
 * bytes is CS_EAUTH); an opened object's accessors agree with its geometry
 * (stored size, chunk count, offsets); a read returns exactly the bytes
 * asked for and, for an edited valid object, only the original plaintext:
 * no edit may make format_read() hand out other bytes; format_rewrap() of an
 * opened object to KEK version 2 gives a header that opens under version 2.
 */
#include "fuzz.h"
#include "crypto/engine.h"
#include "crypto/kdf.h"
#include "crypto/keywrap.h"
#include "format/format.h"
#include "util/err.h"
#include "util/secmem.h"
#include "util/workq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#define MAX_STORED (512u << 10)
#define NOBJ       (sizeof(specs) / sizeof(specs[0]))

static const uint8_t kek1[32] = {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
				 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
				 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11};
static const uint8_t kek2[32] = {0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
				 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
				 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22};

/* The valid objects: suite, chunk size, plaintext length, label, bucket,
 * and the alignment asked for (padded header, aligned stride; 0: none). */
static const struct spec {
	enum suite_id suite;
	uint32_t chunk;
	size_t len;
	const char *label, *bucket;
	uint32_t align;
} specs[] = {
	{SUITE_CBC_HMAC_SHA256, 16, 0, "s0", "b0", 0},
	{SUITE_CBC_HMAC_SHA256, 16, 1, "s0", "b1", 0},
	{SUITE_CBC_HMAC_SHA256, 16, 16, "s1:c1,c2", "b2", 0},
	{SUITE_CBC_HMAC_SHA256, 16, 17, "s1:c1,c2", "b3", 0},
	{SUITE_CBC_HMAC_SHA256, 32, 100, "s2:c0.c9", "b4", 0},
	{SUITE_AES_256_GCM, 16, 0, "s0", "b5", 0},
	{SUITE_AES_256_GCM, 16, 33, "s0", "b6", 0},
	{SUITE_AES_256_GCM, 48, 200, "s3", "b7", 0},
	{SUITE_CBC_HMAC_SHA256, 4096, 5000, "s0", "b8", 0},
	{SUITE_AES_256_GCM, 16, 16 * 20 + 3, "s0", "b9", 0},
	{SUITE_CBC_HMAC_SHA256, 16, 16 * 17, "s0", "b10", 0},
	{SUITE_CBC_HMAC_SHA256, 0, 10, "s15:c1023", "bucket-with-a-longer-name", 0},
	{SUITE_CBC_HMAC_SHA256, 464, 3 * 464 + 9, "s0", "b12", 512},  /* stride 512 */
	{SUITE_CBC_HMAC_SHA256, 976, 17 * 976 + 5, "s1", "b13", 512}, /* stride 1024 */
	{SUITE_AES_256_GCM, 976, 2000, "s1", "b14", 512},             /* GCM: not aligned */
};

static struct obj {
	uint8_t *b;
	size_t n;
	uint8_t *plain;
} objs[NOBJ];

static struct engine *e_evp, *e_mb;
static struct workq *wq; /* the server's concurrent read path: two workers, an engine each */

/* The KEK source: versions 1 and 2 of every id; anything else does not exist. */
static int
kek_fn(void *arg, const char *id, uint32_t version, uint8_t key[32])
{
	(void)arg;
	FUZZ_CHECK(id != NULL && strlen(id) <= FORMAT_STR_MAX);
	if (version != 1 && version != 2)
		return CS_ENOENT;
	memcpy(key, version == 1 ? kek1 : kek2, 32);
	return 0;
}

struct membuf {
	uint8_t *b;
	size_t n;
};

static int
mem_sink(void *arg, uint64_t off, const struct iovec *iov, int iovcnt)
{
	struct membuf *m = arg;

	for (int i = 0; i < iovcnt; i++) {
		if (off + iov[i].iov_len > m->n) {
			m->b = realloc(m->b, off + iov[i].iov_len);
			FUZZ_CHECK(m->b != NULL);
			m->n = off + iov[i].iov_len;
		}
		memcpy(m->b + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	return 0;
}

static void
make_obj(size_t i)
{
	const struct spec *s = &specs[i];
	struct format_params p;
	struct format_obj *o = NULL;
	struct format_writer *w = NULL;
	struct membuf m = {NULL, 0};
	uint8_t digest[FORMAT_DIGEST_LEN];
	char meta[64];

	fuzz_rand_reset(1000 + i);
	objs[i].plain = malloc(s->len + 1);
	FUZZ_CHECK(objs[i].plain != NULL);
	for (size_t j = 0; j < s->len; j++)
		objs[i].plain[j] = (uint8_t)(i * 31 + j * 7);
	memset(digest, (int)i, sizeof(digest));
	memset(&p, 0, sizeof(p));
	p.suite = suite_by_id(s->suite);
	p.chunk_size = s->chunk;
	p.label = s->label;
	p.bucket = s->bucket;
	p.kek.id = s->label;
	p.kek.version = 1;
	p.kek.key = kek1;
	p.meta = (const uint8_t *)meta;
	p.meta_len = (size_t)snprintf(meta, sizeof(meta), "CSM1 object %zu", i);
	p.align = s->align;
	FUZZ_CHECK(format_create(&o, &p, e_evp) == 0);
	FUZZ_CHECK(s->align == 0 || s->suite != SUITE_CBC_HMAC_SHA256 ||
		   (format_align(o) == s->align && format_stride(o) % s->align == 0));
	FUZZ_CHECK(format_writer_new(&w, o, e_evp, mem_sink, &m) == 0);
	FUZZ_CHECK(format_writer_write(w, objs[i].plain, s->len) == 0);
	FUZZ_CHECK(format_writer_finish(w, digest, (uint32_t)i, NULL) == 0);
	FUZZ_CHECK(m.n == format_stored_size(o, s->len));
	format_writer_free(w);
	format_free(o);
	objs[i].b = m.b;
	objs[i].n = m.n;
}

static void *
wq_ctx_new(void *arg)
{
	struct engine *e = NULL;

	(void)arg;
	return engine_new(&e, ENGINE_EVP) == 0 ? e : NULL;
}

static void
wq_ctx_free(void *ctx)
{
	engine_free(ctx);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	FUZZ_CHECK(engine_new(&e_evp, ENGINE_EVP) == 0);
	FUZZ_CHECK(workq_new(&wq, 2, wq_ctx_new, wq_ctx_free, NULL) == 0);
	if (engine_ipsecmb_usable() && engine_new(&e_mb, ENGINE_IPSECMB) != 0)
		e_mb = NULL;
	for (size_t i = 0; i < NOBJ; i++)
		make_obj(i);
	/* FUZZ_FORMAT_SEEDS=dir: write the objects as raw-mode seeds (how corpus/format was made).
	 */
	if (getenv("FUZZ_FORMAT_SEEDS") != NULL) {
		for (size_t i = 0; i < NOBJ; i++) {
			char name[32];
			uint8_t *b = malloc(objs[i].n + 1);

			FUZZ_CHECK(b != NULL);
			b[0] = 0; /* raw mode, EVP, no expectation */
			memcpy(b + 1, objs[i].b, objs[i].n);
			snprintf(name, sizeof(name), "object-%02zu", i);
			fuzz_write(getenv("FUZZ_FORMAT_SEEDS"), name, b, objs[i].n + 1, 0644);
			free(b);
		}
	}
	return 0;
}

/* find_obj(id): which of the start-up objects has object id id, or -1. */
static int
find_obj(const uint8_t *id)
{
	for (size_t i = 0; i < NOBJ; i++)
		if (memcmp(objs[i].b + 24, id, FORMAT_OBJID_LEN) == 0)
			return (int)i;
	return -1;
}

/* ---- reading ---------------------------------------------------------------------------- */

struct src {
	const uint8_t *b;
	size_t n, hlen;
};

static long
source(void *arg, uint64_t off, const struct iovec *iov, int iovcnt)
{
	const struct src *s = arg;
	size_t got = 0;

	FUZZ_CHECK(iovcnt >= 1 && iovcnt <= FORMAT_BATCH && off >= s->hlen);
	for (int i = 0; i < iovcnt; i++) {
		size_t k = iov[i].iov_len;

		if (off >= s->n)
			break;
		if (k > s->n - off)
			k = (size_t)(s->n - off);
		memcpy(iov[i].iov_base, s->b + off, k);
		got += k;
		off += k;
		if (k < iov[i].iov_len)
			break;
	}
	return (long)got;
}

struct sink {
	const uint8_t *want; /* the plaintext the bytes must be, or NULL */
	size_t want_len;
	uint64_t pos; /* plaintext offset of the next byte */
	uint64_t got;
};

static int
out_fn(void *arg, const uint8_t *data, size_t len)
{
	struct sink *k = arg;

	FUZZ_CHECK(len > 0);
	if (k->want != NULL)
		FUZZ_CHECK(k->pos + len <= k->want_len && memcmp(data, k->want + k->pos, len) == 0);
	k->pos += len;
	k->got += len;
	return 0;
}

static int
outv_fn(void *arg, const struct iovec *iov, int n)
{
	FUZZ_CHECK(n >= 1 && n <= FORMAT_BATCH);
	for (int i = 0; i < n; i++)
		FUZZ_CHECK(out_fn(arg, iov[i].iov_base, iov[i].iov_len) == 0);
	return 0;
}

/*
 * read_range: format_read() of [off, off + len) and what it must produce; its
 * result.  With async, the same through format_read_v() on the work queue
 * (what server/objio.c does), which must give the same result and bytes.
 */
static int
read_range(struct format_obj *o, struct engine *e, struct src *s, uint64_t off, uint64_t len,
	   const uint8_t *plain, size_t plain_len, bool async)
{
	struct sink k = {plain, plain_len, off, 0}, k2 = {plain, plain_len, off, 0};
	int rc = format_read(o, e, source, s, off, len, out_fn, &k), rc2;

	FUZZ_CHECK(rc == 0 || rc == CS_EAUTH || rc == CS_ERANGE || rc == CS_ENOMEM);
	if (off > format_length(o) || len > format_length(o) - off)
		FUZZ_CHECK(rc == CS_ERANGE);
	if (rc == 0)
		FUZZ_CHECK(k.got == len);
	if (async) {
		rc2 = format_read_v(o, e, source, s, off, len, outv_fn, &k2, wq);
		FUZZ_CHECK(rc2 == rc && k2.got == k.got);
	}
	return rc;
}

/* check_open: what an opened object says of itself. */
static void
check_open(struct format_obj *o, size_t hlen, uint64_t stored, const struct format_expect *exp)
{
	size_t ml = 0, hl = 0;
	uint64_t len = format_length(o), n = format_nchunks(o);
	uint32_t aux = 0;

	FUZZ_CHECK(format_header(o, &hl) != NULL && hl == hlen);
	FUZZ_CHECK(format_meta(o, &ml) != NULL && ml <= FORMAT_META_MAX);
	FUZZ_CHECK(format_chunk_size(o) >= FORMAT_CHUNK_MIN &&
		   format_chunk_size(o) <= FORMAT_CHUNK_MAX && format_chunk_size(o) % 16 == 0);
	FUZZ_CHECK(n == format_chunk_count(o, len) && n >= 1);
	FUZZ_CHECK(format_stored_size(o, len) == stored);
	FUZZ_CHECK(format_chunk_offset(o, 0) == hlen);
	FUZZ_CHECK(format_chunk_offset(o, n - 1) + FORMAT_TRAILER_LEN < stored);
	FUZZ_CHECK(format_rec_size(o) >= FORMAT_AAD_LEN + format_stride(o));
	FUZZ_CHECK(format_digest(o, &aux) != NULL);
	FUZZ_CHECK(format_label(o) != NULL && format_bucket(o) != NULL && format_kek_id(o) != NULL);
	if (exp != NULL && exp->label != NULL)
		FUZZ_CHECK(strcmp(exp->label, format_label(o)) == 0);
	if (exp != NULL && exp->bucket != NULL)
		FUZZ_CHECK(strcmp(exp->bucket, format_bucket(o)) == 0);
}

/* rewrap: re-seal the DEK under KEK version 2; the new header must open under it. */
static void
rewrap(struct format_obj *o, const uint8_t *stored, size_t n, struct engine *e)
{
	struct format_kek k = {format_kek_id(o), 2, kek2};
	struct format_obj *o2 = NULL;
	const uint8_t *h;
	uint8_t *copy;
	size_t hl = 0;

	FUZZ_CHECK(format_rewrap(o, &k) == 0);
	h = format_header(o, &hl);
	FUZZ_CHECK(format_kek_version(o) == 2 && hl <= n - FORMAT_TRAILER_LEN);
	copy = malloc(n);
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, stored, n);
	memcpy(copy, h, hl);
	FUZZ_CHECK(format_open(&o2, copy, hl, copy + n - FORMAT_TRAILER_LEN, n, NULL, kek_fn, NULL,
			       e) == 0);
	FUZZ_CHECK(format_kek_version(o2) == 2 && format_length(o2) == format_length(o));
	format_free(o2);
	free(copy);
}

struct job {
	const uint8_t *b;
	size_t n;
	uint64_t stored;   /* the stored size the caller believes */
	uint64_t off, len; /* the range to read */
	bool full;         /* read everything instead */
	bool async;        /* also read through the work queue */
	const struct format_expect *exp;
	struct engine *e;
};

/* process: what server/objio.c does with stored bytes, and a read. */
static void
process(const struct job *j)
{
	struct format_obj *o = NULL;
	size_t hlen = 0, off = 0, len = 0;
	char id[64];
	uint32_t version = 0;
	struct src s;
	int rc, idx;

	rc = format_header_len(j->b, j->n, &hlen);
	FUZZ_CHECK(rc == 0 || rc == CS_EAUTH);
	if (rc != 0 || j->n < FORMAT_PREFIX_LEN + FORMAT_TRAILER_LEN)
		return;
	FUZZ_CHECK(hlen >= 76 && hlen <= FORMAT_HEADER_MAX);
	if (hlen > j->n - FORMAT_TRAILER_LEN)
		return;
	rc = format_peek_kek(j->b, hlen, id, sizeof(id), &version);
	FUZZ_CHECK(rc == 0 || rc == CS_EAUTH || rc == CS_ERANGE);
	if (rc == 0)
		FUZZ_CHECK(strlen(id) < sizeof(id));
	rc = format_dek_span(j->b, hlen, &off, &len);
	FUZZ_CHECK(rc == 0 || rc == CS_EAUTH);
	if (rc == 0)
		FUZZ_CHECK(len == 40 && off + len <= hlen - 32);

	rc = format_open(&o, j->b, hlen, j->b + j->n - FORMAT_TRAILER_LEN, j->stored, j->exp,
			 kek_fn, NULL, j->e);
	FUZZ_CHECK(rc == 0 || rc == CS_EAUTH || rc == CS_ENOMEM);
	FUZZ_CHECK((rc == 0) == (o != NULL));
	if (rc != 0)
		return;
	check_open(o, hlen, j->stored, j->exp);
	/* Only objects made with the KEK open, whatever the edits: one of ours. */
	FUZZ_CHECK((idx = find_obj(format_object_id(o))) >= 0);
	s.b = j->b;
	s.n = j->n;
	s.hlen = hlen;
	if (j->full) {
		/*
		 * A read that verified every chunk read the whole object.  (Reading
		 * nothing verifies nothing: with a re-MACed trailer saying 0 bytes, a
		 * CBC object of 1..15 bytes has the very same stored size.)
		 */
		if (read_range(o, j->e, &s, 0, format_length(o), objs[idx].plain, specs[idx].len,
			       j->async) == 0 &&
		    format_length(o) > 0)
			FUZZ_CHECK(format_length(o) == specs[idx].len);
	} else {
		(void)read_range(o, j->e, &s, j->off, j->len, objs[idx].plain, specs[idx].len,
				 j->async);
	}
	if (j->stored == j->n)
		rewrap(o, j->b, j->n, j->e);
	format_free(o);
}

/* ---- mutation ---------------------------------------------------------------------------- */

/* The places of the header and trailer fields (docs/FORMAT.md); negative: from the end. */
static const struct {
	long off;
	unsigned width;
} fields[] = {
	{8, 2},   /* version */
	{10, 2},  /* suite */
	{12, 4},  /* header length */
	{16, 4},  /* chunk size */
	{20, 4},  /* flags */
	{40, 4},  /* KEK version */
	{44, 2},  /* KEK id length */
	{-72, 8}, /* plaintext length */
	{-64, 8}, /* chunk count */
	{-40, 4}, /* caller value */
	{-36, 4}, /* reserved */
};

/* remac: recompute the header's (and the trailer's) MAC over the edited bytes. */
static void
remac(uint8_t *b, size_t n, bool header, bool trailer)
{
	static const char info[] = "cryptstore v1 header mac key";
	uint8_t dek[32], hkey[32], msg[16 + 48];
	size_t hlen = 0, off = 0, len = 0;
	uint32_t version;
	unsigned ml = 0;

	if (format_header_len(b, n, &hlen) != 0 || hlen > n ||
	    format_dek_span(b, hlen, &off, &len) != 0)
		return;
	version = (uint32_t)b[40] << 24 | (uint32_t)b[41] << 16 | (uint32_t)b[42] << 8 | b[43];
	if (version != 1 && version != 2)
		return;
	if (keywrap_unwrap(version == 1 ? kek1 : kek2, 32, b + off, len, dek, sizeof(dek)) != 32)
		return;
	FUZZ_CHECK(kdf_hkdf_sha256(hkey, 32, dek, 32, b + 24, 16, (const uint8_t *)info,
				   sizeof(info) - 1) == 0);
	if (header)
		FUZZ_CHECK(HMAC(EVP_sha256(), hkey, 32, b, hlen - 32, b + hlen - 32, &ml) != NULL);
	if (trailer && n >= hlen + FORMAT_TRAILER_LEN) {
		memcpy(msg, b + 24, 16);
		memcpy(msg + 16, b + n - FORMAT_TRAILER_LEN, 48);
		FUZZ_CHECK(HMAC(EVP_sha256(), hkey, 32, msg, sizeof(msg), b + n - 32, &ml) != NULL);
	}
	secmem_wipe(dek, sizeof(dek));
	secmem_wipe(hkey, sizeof(hkey));
}

/* An object being edited. */
struct ed {
	uint8_t *b;
	size_t n, cap;
};

static void
ed_reserve(struct ed *d, size_t n)
{
	if (n <= d->cap)
		return;
	d->cap = n;
	d->b = realloc(d->b, d->cap);
	FUZZ_CHECK(d->b != NULL);
}

static void
ed_insert(struct ed *d, size_t at, const uint8_t *p, size_t k)
{
	if (d->n + k > MAX_STORED)
		return;
	ed_reserve(d, d->n + k);
	memmove(d->b + at + k, d->b + at, d->n - at);
	memcpy(d->b + at, p, k);
	d->n += k;
}

static void
mutate(struct fuzz_in *in, struct ed *d, struct job *j)
{
	while (in->n > 0) {
		uint8_t op = fuzz_take_u8(in);
		size_t at = d->n > 0 ? fuzz_take_u16(in) % d->n : 0, k;
		const uint8_t *p;

		switch (op % 9) {
		case 0: /* overwrite */
			p = fuzz_take(in, fuzz_take_u8(in), &k);
			k = k < d->n - at ? k : d->n - at;
			memcpy(d->b + at, p, k);
			break;
		case 1: /* insert */
			p = fuzz_take(in, fuzz_take_u8(in), &k);
			ed_insert(d, at, p, k);
			break;
		case 2: /* delete */
			k = fuzz_take_u16(in);
			k = k < d->n - at ? k : d->n - at;
			memmove(d->b + at, d->b + at + k, d->n - at - k);
			d->n -= k;
			break;
		case 3: /* truncate at `at` */
			d->n = at;
			break;
		case 4: { /* splice bytes of another object over these */
			const struct obj *src = &objs[fuzz_take_u8(in) % NOBJ];
			size_t from = fuzz_take_u16(in) % src->n;

			k = fuzz_take_u16(in);
			k = k < src->n - from ? k : src->n - from;
			k = k < d->n - at ? k : d->n - at;
			memcpy(d->b + at, src->b + from, k);
			break;
		}
		case 5: { /* set a field */
			unsigned f = fuzz_take_u8(in) % (sizeof(fields) / sizeof(fields[0]));
			uint64_t v = fuzz_take_u64(in);
			long o = fields[f].off < 0 ? (long)d->n + fields[f].off : fields[f].off;

			if (o < 0 || (size_t)o + fields[f].width > d->n)
				break;
			for (unsigned i = 0; i < fields[f].width; i++)
				d->b[(size_t)o + i] =
					(uint8_t)(v >> (8 * (fields[f].width - 1 - i)));
			break;
		}
		case 6: /* append */
			p = fuzz_take(in, fuzz_take_u8(in), &k);
			ed_insert(d, d->n, p, k);
			break;
		case 7: /* the range to read */
			j->off = fuzz_take_u64(in) % 8192;
			j->len = fuzz_take_u64(in) % 8192;
			j->full = false;
			break;
		case 8: /* the stored size the caller believes */
			j->stored = (uint64_t)((int64_t)j->stored + (int16_t)fuzz_take_u16(in));
			break;
		default:
			break;
		}
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_take_u8(&in);
	struct format_expect exps[4] = {{NULL, NULL}, {NULL, NULL}, {"s9:c7", NULL}, {NULL, NULL}};
	struct job j;

	memset(&j, 0, sizeof(j));
	j.e = (mode & 2) && e_mb != NULL ? e_mb : e_evp;
	j.full = true;
	j.async = (mode & 0x10) != 0;
	fuzz_rand_reset(size);
	fuzz_secmem_mark();
	if ((mode & 1) == 0) {
		static const struct format_expect raw_exp = {"s0", "b0"};

		exps[1] = raw_exp;
		exps[3].bucket = "b0";
		j.b = fuzz_take(&in, in.n, &j.n);
		j.stored = j.n;
		j.exp = ((mode >> 2) & 3) == 0 ? NULL : &exps[(mode >> 2) & 3];
		process(&j);
	} else {
		size_t which = fuzz_take_u8(&in) % NOBJ;
		uint8_t flags = fuzz_take_u8(&in);
		struct ed d = {NULL, 0, 0};

		exps[1].label = specs[which].label;
		exps[1].bucket = specs[which].bucket;
		exps[3].bucket = specs[which].bucket;
		ed_reserve(&d, objs[which].n);
		memcpy(d.b, objs[which].b, objs[which].n);
		d.n = objs[which].n;
		j.stored = d.n;
		mutate(&in, &d, &j);
		if (j.stored == objs[which].n)
			j.stored = d.n; /* unless told otherwise, the size of what is stored */
		if (flags & 3)
			remac(d.b, d.n, flags & 1, flags & 2);
		j.b = d.b;
		j.n = d.n;
		j.exp = ((mode >> 2) & 3) == 0 ? NULL : &exps[(mode >> 2) & 3];
		process(&j);
		free(d.b);
	}
	fuzz_secmem_check();
	return 0;
}
