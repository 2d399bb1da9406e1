/*
 * fuzz_s3xml: the S3 XML request bodies the server reads (server/s3xml):
 * CompleteMultipartUpload and DeleteObjects.  (CreateBucketConfiguration is
 * read and dropped by the server, never parsed, so there is nothing to fuzz.)
 *
 * Input: [mode u8][body].  Modes 0 and 1 hand the body to both parsers and
 * check what each promises of a success: 1..10000 parts numbered 1..10000
 * with unquoted, non-empty ETags; 1..1000 non-empty keys, each a string of
 * its own.  Mode 2 is a round trip instead: the body is taken as an object
 * key, escaped by the server's own XML writer (server/sbuf, as in every
 * listing and error it sends) into a Delete request, and s3xml_delete() must
 * give back exactly that key (for keys S3 can hold: non-empty, no NUL).
 */
#include "fuzz.h"
#include "s3xml.h"
#include "sbuf.h"
#include "util/err.h"

#include <stdlib.h>
#include <string.h>

static void
check_complete(const char *body, size_t n)
{
	struct s3xml_part *parts = NULL;
	size_t np = 0;
	int rc = s3xml_complete(body, n, &parts, &np);

	FUZZ_CHECK(rc == 0 || rc == CS_EINVAL || rc == CS_ENOMEM);
	if (rc != 0) {
		FUZZ_CHECK(parts == NULL && np == 0);
		return;
	}
	FUZZ_CHECK(parts != NULL && np >= 1 && np <= S3XML_MAX_ITEMS);
	for (size_t i = 0; i < np; i++) {
		size_t el = strnlen(parts[i].etag, sizeof(parts[i].etag));

		FUZZ_CHECK(parts[i].number >= 1 && parts[i].number <= 10000);
		FUZZ_CHECK(el > 0 && el < sizeof(parts[i].etag));
		FUZZ_CHECK(parts[i].etag[0] != '"' && parts[i].etag[el - 1] != '"');
	}
	free(parts);
}

static void
free_keys(char **keys, size_t nk)
{
	for (size_t i = 0; i < nk; i++)
		free(keys[i]);
	free(keys);
}

static void
check_delete(const char *body, size_t n)
{
	char **keys = NULL;
	size_t nk = 0;
	bool quiet = true;
	int rc = s3xml_delete(body, n, &keys, &nk, &quiet);

	FUZZ_CHECK(rc == 0 || rc == CS_EINVAL || rc == CS_ENOMEM);
	if (rc != 0) {
		FUZZ_CHECK(keys == NULL && nk == 0);
		return;
	}
	FUZZ_CHECK(keys != NULL && nk >= 1 && nk <= 1000);
	for (size_t i = 0; i < nk; i++)
		FUZZ_CHECK(keys[i] != NULL && keys[i][0] != '\0');
	free_keys(keys, nk);
}

static void
round_trip(const char *key, size_t n)
{
	struct sbuf b = {0};
	char **keys = NULL;
	size_t nk = 0;
	bool quiet = false;
	int rc;

	sbuf_str(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		     "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Object><Key>");
	sbuf_xml(&b, key, n);
	sbuf_str(&b, "</Key></Object><Quiet>true</Quiet></Delete>");
	FUZZ_CHECK(sbuf_ok(&b));
	rc = s3xml_delete(b.b, b.n, &keys, &nk, &quiet);
	if (n == 0 || memchr(key, '\0', n) != NULL) {
		FUZZ_CHECK(rc == CS_EINVAL);
	} else {
		FUZZ_CHECK(rc == 0 && nk == 1 && quiet);
		FUZZ_CHECK(strlen(keys[0]) == n && memcmp(keys[0], key, n) == 0);
		free_keys(keys, nk);
	}
	sbuf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_take_u8(&in);
	size_t n;
	const char *body = (const char *)fuzz_take(&in, in.n, &n);

	switch (mode % 3) {
	case 2:
		round_trip(body, n);
		break;
	default:
		check_complete(body, n);
		check_delete(body, n);
		break;
	}
	return 0;
}
