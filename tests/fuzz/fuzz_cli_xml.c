/*
 * fuzz_cli_xml: the CLI's reading of listing responses (cli/s3list.c, on
 * the XML helpers of cli/s3client.c).
 *
 * The page parser, objects_page(), is static, so this file includes
 * cli/s3list.c itself (the real source, compiled here) and links
 * cli/s3client.c for the XML helpers; nothing talks to a network.
 *
 * Input: [mode u8][rest].
 *   mode 0: rest is a ListObjectsV2 page (encoding-type=url, as the CLI asks
 *     for it): parsed, sorted and delivered exactly as s3list_objects() does
 *     with a page, plus its IsTruncated / NextContinuationToken.  Every
 *     entry must have a name of at most S3_MAX_KEY bytes without NUL, and
 *     they come in strcmp order.
 *   mode 1: rest is a ListBuckets or error body: every <Bucket> (Name,
 *     CreationDate) and <Error> (Code, Message, Key) is read with the same
 *     helpers s3list_buckets() and the error path use.
 *   mode 2: rest is an object key.  The server lists it URL-encoded
 *     (sigv4_uri_encode, as server/s3api.c writes keys for encoding-type=url)
 *     and escaped for XML (server/sbuf's sbuf_xml, for everything else); the
 *     CLI must read back exactly the key (any key of 1..1024 bytes without
 *     NUL, which is what the server accepts).
 */
#include "fuzz.h"
#include "s3/sigv4.h"
#include "sbuf.h"

#include "../../cli/s3list.c"

struct seen {
	const char *prev;
	size_t n;
	bool prev_set;
};

static int
entry_cb(void *arg, const struct s3list_entry *ent, struct s3err *e)
{
	struct seen *s = arg;
	size_t l;

	(void)e;
	FUZZ_CHECK(ent->name != NULL && ent->last_modified != NULL && ent->etag != NULL);
	l = strlen(ent->name);
	FUZZ_CHECK(l <= S3_MAX_KEY);
	FUZZ_CHECK(strlen(ent->last_modified) < 64 && strlen(ent->etag) < 128);
	if (s->prev_set)
		FUZZ_CHECK(strcmp(s->prev, ent->name) <= 0);
	s->prev = ent->name;
	s->prev_set = true;
	s->n++;
	return 0;
}

static void
objects_mode(const char *xml, size_t n)
{
	struct page pg = {0};
	struct s3err e;
	struct seen s = {NULL, 0, false};
	char trunc[16], next[S3LIST_MAX_TOKEN];
	int rc;

	memset(&e, 0, sizeof(e));
	rc = objects_page(xml, n, &pg, &e);
	if (rc == 0) {
		FUZZ_CHECK(deliver(&pg, entry_cb, &s, &e) == 0 && s.n == pg.n);
	} else {
		FUZZ_CHECK(rc == -1 && e.kind != S3E_OK && e.message[0] != '\0');
	}
	page_free(&pg);
	if (s3client_xml_get(xml, n, "IsTruncated", trunc, sizeof(trunc)) >= 0)
		FUZZ_CHECK(strlen(trunc) < sizeof(trunc));
	if (s3client_xml_get(xml, n, "NextContinuationToken", next, sizeof(next)) >= 0)
		FUZZ_CHECK(strlen(next) < sizeof(next));
}

static void
read_all(const char *xml, size_t n, const char *outer, const char *const *inner)
{
	const char *v;
	size_t vl, pos = 0, last = 0;

	while (s3client_xml_next(xml, n, outer, &pos, &v, &vl)) {
		FUZZ_CHECK(v >= xml && v + vl <= xml + n && pos <= n && pos > last);
		last = pos;
		for (const char *const *t = inner; *t != NULL; t++) {
			char out[512];
			long l = s3client_xml_get(v, vl, *t, out, sizeof(out));

			FUZZ_CHECK(l < (long)sizeof(out));
			if (l >= 0)
				FUZZ_CHECK(strlen(out) == (size_t)l);
		}
	}
}

static void
other_mode(const char *xml, size_t n)
{
	static const char *const bucket[] = {"Name", "CreationDate", NULL};
	static const char *const error[] = {"Code", "Message", "Key", NULL};

	read_all(xml, n, "Bucket", bucket);
	read_all(xml, n, "Error", error);
	read_all(xml, n, "Contents", error);
}

/* round_trip: one key through the server's writers and the CLI's readers. */
static void
round_trip(const char *key, size_t n)
{
	struct sbuf b = {0};
	struct page pg = {0};
	struct s3err e;
	char *enc;
	long k;
	bool ok = n > 0 && n <= S3_MAX_KEY && memchr(key, '\0', n) == NULL;

	memset(&e, 0, sizeof(e));
	/* encoding-type=url: what s3api.c's xml_name() writes. */
	enc = malloc(3 * n + 1);
	FUZZ_CHECK(enc != NULL);
	k = sigv4_uri_encode(enc, 3 * n + 1, key, n, true);
	FUZZ_CHECK(k >= 0);
	sbuf_str(&b, "<ListBucketResult><Contents><Key>");
	sbuf_put(&b, enc, (size_t)k);
	sbuf_str(&b, "</Key><Size>1</Size></Contents><CommonPrefixes><Prefix>");
	sbuf_xml(&b, enc, (size_t)k); /* already safe; escaping must not change it */
	sbuf_str(&b, "</Prefix></CommonPrefixes></ListBucketResult>");
	FUZZ_CHECK(sbuf_ok(&b));
	if (objects_page(b.b, b.n, &pg, &e) == 0) {
		/* (An empty key is never listed; reading one back as "" is fine.) */
		FUZZ_CHECK((ok || n == 0) && pg.n == 2);
		for (size_t i = 0; i < 2; i++)
			FUZZ_CHECK(strlen(pg.items[i].name) == n &&
				   memcmp(pg.items[i].name, key, n) == 0);
	} else {
		FUZZ_CHECK(!ok);
	}
	page_free(&pg);
	sbuf_free(&b);
	free(enc);

	/* Plain XML text (bucket names, ETags, messages): sbuf_xml, then the CLI's reader. */
	if (n > 0 && memchr(key, '\0', n) == NULL) {
		char *out = malloc(n + 1);
		long l;

		FUZZ_CHECK(out != NULL);
		sbuf_str(&b, "<Error><Message>");
		sbuf_xml(&b, key, n);
		sbuf_str(&b, "</Message></Error>");
		FUZZ_CHECK(sbuf_ok(&b));
		l = s3client_xml_get(b.b, b.n, "Message", out, n + 1);
		FUZZ_CHECK(l == (long)n && memcmp(out, key, n) == 0);
		free(out);
		sbuf_free(&b);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_take_u8(&in);
	size_t n;
	const char *rest = (const char *)fuzz_take(&in, in.n, &n);

	switch (mode % 3) {
	case 0:
		objects_mode(rest, n);
		break;
	case 1:
		other_mode(rest, n);
		break;
	default:
		round_trip(rest, n);
		break;
	}
	return 0;
}
