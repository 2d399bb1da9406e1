/* Unit tests for server/s3xml: the XML request bodies, valid and hostile. */
#include "testutil.h"
#include "s3xml.h"
#include "util/err.h"

#include <stdio.h>

static void
test_complete_ok(void **state)
{
	static const char body[] =
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
		"<Part><ETag>\"0123456789abcdef0123456789abcdef\"</ETag><PartNumber>1</"
		"PartNumber></Part>\n"
		"  "
		"<Part><PartNumber>2</PartNumber><ETag>&quot;fedcba9876543210fedcba9876543210&quot;"
		"</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>"
		"</CompleteMultipartUpload>";
	struct s3xml_part *p;
	size_t n;

	(void)state;
	assert_int_equal(s3xml_complete(body, strlen(body), &p, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(p[0].number, 1);
	assert_string_equal(p[0].etag, "0123456789abcdef0123456789abcdef");
	assert_int_equal(p[1].number, 2);
	assert_string_equal(p[1].etag, "fedcba9876543210fedcba9876543210");
	free(p);
}

static void
test_delete_ok(void **state)
{
	static const char body[] =
		"<Delete><Quiet>true</Quiet><Object><Key>a&amp;b</Key></Object>"
		"<Object><Key>&#x263A; &#65;&lt;&gt;</Key><VersionId>x</VersionId>"
		"</Object></Delete>";
	char **k;
	size_t n;
	bool quiet;

	(void)state;
	assert_int_equal(s3xml_delete(body, strlen(body), &k, &n, &quiet), 0);
	assert_true(quiet);
	assert_int_equal(n, 2);
	assert_string_equal(k[0], "a&b");
	assert_string_equal(k[1], "\xe2\x98\xba A<>");
	for (size_t i = 0; i < n; i++)
		free(k[i]);
	free(k);
}

static void
test_rejects(void **state)
{
	static const char *bad_complete[] = {
		"",
		"<CompleteMultipartUpload></CompleteMultipartUpload>", /* no parts */
		"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part>"
		"</CompleteMultipartUpload>", /* no ETag */
		"<CompleteMultipartUpload><Part><PartNumber>0</PartNumber><ETag>x</ETag></Part>"
		"</CompleteMultipartUpload>",
		"<CompleteMultipartUpload><Part><PartNumber>10001</PartNumber><ETag>x</ETag></Part>"
		"</CompleteMultipartUpload>",
		"<CompleteMultipartUpload><Part><PartNumber>1x</PartNumber><ETag>x</ETag></Part>"
		"</CompleteMultipartUpload>",
		"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part>",
		"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>x</ETag></Prt>"
		"</CompleteMultipartUpload>",
		"<Other><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></Other>",
		"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&bogus;</ETag></"
		"Part>"
		"</CompleteMultipartUpload>",
		"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&#0;</ETag></Part>"
		"</CompleteMultipartUpload>",
		"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&#xD800;</ETag></"
		"Part>"
		"</CompleteMultipartUpload>",
		"<!DOCTYPE x [<!ENTITY a \"b\">]><CompleteMultipartUpload/>",
		"<a/><b/>",
		"text<CompleteMultipartUpload/>",
	};
	struct s3xml_part *p;
	char **k;
	size_t n;
	bool q;

	(void)state;
	for (size_t i = 0; i < sizeof(bad_complete) / sizeof(bad_complete[0]); i++)
		if (s3xml_complete(bad_complete[i], strlen(bad_complete[i]), &p, &n) != CS_EINVAL)
			fail_msg("accepted: %s", bad_complete[i]);
	assert_int_equal(s3xml_delete("<Delete></Delete>", 17, &k, &n, &q), CS_EINVAL);
	assert_int_equal(s3xml_delete("<Delete><Object></Object></Delete>", 34, &k, &n, &q),
			 CS_EINVAL);
}

static void
test_depth_and_count_limits(void **state)
{
	char *b = malloc(2 * 1024 * 1024);
	size_t n = 0;
	struct s3xml_part *p;
	size_t np;
	char **k;
	bool q;

	(void)state;
	/* 20 levels of nesting: too deep. */
	n = (size_t)sprintf(b, "<CompleteMultipartUpload>");
	for (int i = 0; i < 20; i++)
		n += (size_t)sprintf(b + n, "<a>");
	for (int i = 0; i < 20; i++)
		n += (size_t)sprintf(b + n, "</a>");
	n += (size_t)sprintf(b + n, "</CompleteMultipartUpload>");
	assert_int_equal(s3xml_complete(b, n, &p, &np), CS_EINVAL);
	/* 1001 keys: more than S3 allows in one DeleteObjects. */
	n = (size_t)sprintf(b, "<Delete>");
	for (int i = 0; i < 1001; i++)
		n += (size_t)sprintf(b + n, "<Object><Key>k%d</Key></Object>", i);
	n += (size_t)sprintf(b + n, "</Delete>");
	assert_int_equal(s3xml_delete(b, n, &k, &np, &q), CS_EINVAL);
	/* Larger than the body limit: refused before parsing. */
	assert_int_equal(s3xml_delete(b, S3XML_MAX_BODY + 1, &k, &np, &q), CS_EINVAL);
	free(b);
}

static void
test_fuzz(void **state)
{
	static const char seed[] =
		"<?xml version=\"1.0\"?><CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
		"<ETag>\"abc\"</ETag></Part><Part><PartNumber>2</PartNumber><ETag>&quot;d&#x41;"
		"</ETag></Part></CompleteMultipartUpload>";
	uint64_t s = 99;
	char buf[sizeof(seed) + 8];

	(void)state;
	/* Mutations never crash (ASan) and either parse or fail cleanly. */
	for (int i = 0; i < 20000; i++) {
		struct s3xml_part *p = NULL;
		size_t n = sizeof(seed) - 1, np;
		char **k;
		bool q;

		memcpy(buf, seed, n);
		for (int m = 0; m < 1 + (int)(tu_rand(&s) % 4); m++)
			buf[tu_rand(&s) % n] = (char)tu_rand(&s);
		n = tu_rand(&s) % 8 == 0 ? tu_rand(&s) % n : n;
		if (s3xml_complete(buf, n, &p, &np) == 0)
			free(p);
		if (s3xml_delete(buf, n, &k, &np, &q) == 0) {
			for (size_t j = 0; j < np; j++)
				free(k[j]);
			free(k);
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_complete_ok), cmocka_unit_test(test_delete_ok),
		cmocka_unit_test(test_rejects),     cmocka_unit_test(test_depth_and_count_limits),
		cmocka_unit_test(test_fuzz),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
