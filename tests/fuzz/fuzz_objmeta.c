/*
 * fuzz_objmeta: the decoder of the metadata record sealed in every object
 * (server/objmeta).  The record reaches it only after the object's header and
 * metadata record verified, but it is the one parser of the server's own
 * object metadata, and every GET and HEAD runs it.
 *
 * Input: the record, at most OBJMETA_MAX bytes (what format lets through).
 * On success: a name, every pair complete, strings without NUL; and the
 * decoded record re-encodes (objmeta_encode) to something that decodes to
 * the same values, byte for byte.
 */
#include "fuzz.h"
#include "objmeta.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
same_str(const char *a, const char *b)
{
	return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/*
 * write_seeds(out): records as the server encodes them (objmeta_encode), from
 * a bare name to the most pairs allowed.  FUZZ_OBJMETA_SEEDS=dir runs it; this
 * is how corpus/objmeta was made.
 */
static void
write_seeds(const char *out)
{
	static char keys[OBJMETA_PAIRS_MAX][16], values[OBJMETA_PAIRS_MAX][16];
	static char name1[] = "photos/2024/cat.jpg", name2[] = "dir/caf\xc3\xa9 (1).txt";
	static char ctype[] = "text/plain; charset=utf-8";
	static char etag1[] = "\"9e107d9d372bb6826bd81d3542a419d6\"";
	static char etag2[] = "\"d41d8cd98f00b204e9800998ecf8427e-3\"";
	static char k0[] = "author", v0[] = "alice", k1[] = "project", v1[] = "x \xe2\x80\xa8 y";
	struct objmeta m;
	uint8_t *b = NULL;
	size_t n = 0;

	memset(&m, 0, sizeof(m));
	m.name = name1;
	FUZZ_CHECK(objmeta_encode(&m, &b, &n) == 0);
	fuzz_write(out, "name-only", b, n, 0644);
	free(b);

	m.name = name2;
	m.ctype = ctype;
	m.etag = etag1;
	m.mtime_ms = 1714979289123;
	m.npairs = 2;
	m.pairs[0].key = k0;
	m.pairs[0].value = v0;
	m.pairs[1].key = k1;
	m.pairs[1].value = v1;
	FUZZ_CHECK(objmeta_encode(&m, &b, &n) == 0);
	fuzz_write(out, "full", b, n, 0644);
	free(b);

	m.ctype = NULL;
	m.etag = etag2;
	m.npairs = OBJMETA_PAIRS_MAX;
	for (size_t i = 0; i < OBJMETA_PAIRS_MAX; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		snprintf(values[i], sizeof(values[i]), "v%zu", i * 7);
		m.pairs[i].key = keys[i];
		m.pairs[i].value = values[i];
	}
	FUZZ_CHECK(objmeta_encode(&m, &b, &n) == 0);
	fuzz_write(out, "max-pairs", b, n, 0644);
	free(b);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (getenv("FUZZ_OBJMETA_SEEDS") != NULL)
		write_seeds(getenv("FUZZ_OBJMETA_SEEDS"));
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct objmeta m, m2;
	uint8_t *enc = NULL;
	size_t elen = 0;
	int rc;

	if (size > OBJMETA_MAX)
		return 0;
	rc = objmeta_decode(data, size, &m);
	FUZZ_CHECK(rc == 0 || rc == CS_EINVAL);
	if (rc != 0) {
		/* A failed decode leaves nothing to free. */
		FUZZ_CHECK(m.name == NULL && m.ctype == NULL && m.etag == NULL && m.npairs == 0);
		return 0;
	}
	FUZZ_CHECK(m.name != NULL && m.npairs <= OBJMETA_PAIRS_MAX);
	for (size_t i = 0; i < m.npairs; i++)
		FUZZ_CHECK(m.pairs[i].key != NULL && m.pairs[i].value != NULL);

	/* The encoder always writes the mtime field (13 bytes), which an input may lack. */
	rc = objmeta_encode(&m, &enc, &elen);
	if (size + 13 <= OBJMETA_MAX)
		FUZZ_CHECK(rc == 0);
	if (rc == 0) {
		FUZZ_CHECK(elen <= size + 13);
		FUZZ_CHECK(objmeta_decode(enc, elen, &m2) == 0);
		FUZZ_CHECK(same_str(m.name, m2.name) && same_str(m.ctype, m2.ctype) &&
			   same_str(m.etag, m2.etag) && m.mtime_ms == m2.mtime_ms &&
			   m.npairs == m2.npairs);
		for (size_t i = 0; i < m.npairs; i++)
			FUZZ_CHECK(same_str(m.pairs[i].key, m2.pairs[i].key) &&
				   same_str(m.pairs[i].value, m2.pairs[i].value));
		objmeta_clear(&m2);
		free(enc);
	} else {
		FUZZ_CHECK(rc == CS_ERANGE);
	}
	objmeta_clear(&m);
	return 0;
}
