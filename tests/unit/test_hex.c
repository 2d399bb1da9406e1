/* Unit tests for util/hex. */
#include "testutil.h"
#include "util/err.h"

static void
test_roundtrip(void **state)
{
	uint8_t in[256], out[256];
	char txt[513];
	uint64_t s = 42;

	(void)state;
	for (size_t n = 0; n <= sizeof(in); n += 17) {
		tu_fill(&s, in, n);
		hex_encode(txt, in, n);
		assert_int_equal(strlen(txt), 2 * n);
		assert_int_equal(hex_decode(out, sizeof(out), txt, 2 * n), (long)n);
		assert_memory_equal(in, out, n);
	}
	assert_int_equal(hex_decode(out, sizeof(out), "DeadBEEF", 8), 4);
	assert_int_equal(out[0], 0xde);
	assert_int_equal(out[3], 0xef);
}

static void
test_rejects(void **state)
{
	uint8_t out[4];

	(void)state;
	assert_int_equal(hex_decode(out, sizeof(out), "abc", 3), CS_EINVAL);
	assert_int_equal(hex_decode(out, sizeof(out), "zz", 2), CS_EINVAL);
	assert_int_equal(hex_decode(out, sizeof(out), "0g", 2), CS_EINVAL);
	assert_int_equal(hex_decode(out, sizeof(out), " 0", 2), CS_EINVAL);
	assert_int_equal(hex_decode(out, sizeof(out), "0011223344", 10), CS_ERANGE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_rejects),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
