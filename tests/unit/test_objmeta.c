/* Unit tests for server/objmeta: the metadata sealed in every object. */
#include "testutil.h"
#include "objmeta.h"
#include "util/err.h"

static void
test_roundtrip(void **state)
{
	struct objmeta m, d;
	uint8_t *b;
	size_t n;
	char k0[] = "color", v0[] = "blue", k1[] = "x", v1[] = "";

	(void)state;
	memset(&m, 0, sizeof(m));
	m.name = (char *)(uintptr_t) "dir/\xe2\x9c\x93 file\nwith newline";
	m.ctype = (char *)(uintptr_t) "text/plain";
	m.etag = NULL;
	m.mtime_ms = 1764093600123;
	m.npairs = 2;
	m.pairs[0].key = k0;
	m.pairs[0].value = v0;
	m.pairs[1].key = k1;
	m.pairs[1].value = v1;
	assert_int_equal(objmeta_encode(&m, &b, &n), 0);
	assert_int_equal(objmeta_decode(b, n, &d), 0);
	assert_string_equal(d.name, m.name);
	assert_string_equal(d.ctype, "text/plain");
	assert_null(d.etag);
	assert_int_equal(d.mtime_ms, 1764093600123);
	assert_int_equal(d.npairs, 2);
	assert_string_equal(d.pairs[0].key, "color");
	assert_string_equal(d.pairs[1].value, "");
	objmeta_clear(&d);
	/* Every truncation is refused (or, at a field boundary, parsed partially). */
	for (size_t cut = 0; cut < n; cut++) {
		if (objmeta_decode(b, cut, &d) == 0) {
			assert_non_null(d.name);
			objmeta_clear(&d);
		}
	}
	b[0] ^= 1;
	assert_int_equal(objmeta_decode(b, n, &d), CS_EINVAL);
	free(b);
}

static void
test_hostile(void **state)
{
	/* A field longer than the buffer; a value without a key; NUL in a name. */
	static const uint8_t long_field[] = {'C', 'S', 'M', '1', 1, 0xff, 0xff, 0xff, 0xff, 'a'};
	static const uint8_t orphan_value[] = {'C', 'S', 'M', '1', 1, 0, 0, 0,
					       1,   'a', 6,   0,   0, 0, 1, 'v'};
	static const uint8_t nul_name[] = {'C', 'S', 'M', '1', 1, 0, 0, 0, 2, 'a', 0};
	static const uint8_t no_name[] = {'C', 'S', 'M', '1'};
	struct objmeta d;

	(void)state;
	assert_int_equal(objmeta_decode(long_field, sizeof(long_field), &d), CS_EINVAL);
	assert_int_equal(objmeta_decode(orphan_value, sizeof(orphan_value), &d), CS_EINVAL);
	assert_int_equal(objmeta_decode(nul_name, sizeof(nul_name), &d), CS_EINVAL);
	assert_int_equal(objmeta_decode(no_name, sizeof(no_name), &d), CS_EINVAL);
}

static void
test_too_large(void **state)
{
	struct objmeta m;
	char *big = malloc(OBJMETA_MAX + 1);
	uint8_t *b;
	size_t n;

	(void)state;
	memset(big, 'a', OBJMETA_MAX);
	big[OBJMETA_MAX] = '\0';
	memset(&m, 0, sizeof(m));
	m.name = big;
	assert_int_equal(objmeta_encode(&m, &b, &n), CS_ERANGE);
	free(big);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_hostile),
		cmocka_unit_test(test_too_large),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
