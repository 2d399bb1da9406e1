/* Unit tests for crypto/kdf (HKDF-SHA-256). */
#include "testutil.h"
#include "crypto/kdf.h"
#include "crypto/selftest.h"
#include "util/err.h"

static void
test_rfc5869_vectors(void **state)
{
	char why[256] = "";

	(void)state;
	assert_int_equal(selftest_kdf(why, sizeof(why)), 0);
}

static void
test_domain_separation(void **state)
{
	uint8_t ikm[32] = {1}, a[32], b[32], c[32];

	(void)state;
	assert_int_equal(kdf_hkdf_sha256(a, 32, ikm, 32, NULL, 0, (const uint8_t *)"x", 1), 0);
	assert_int_equal(kdf_hkdf_sha256(b, 32, ikm, 32, NULL, 0, (const uint8_t *)"y", 1), 0);
	assert_int_equal(
		kdf_hkdf_sha256(c, 32, ikm, 32, (const uint8_t *)"s", 1, (const uint8_t *)"x", 1),
		0);
	assert_memory_not_equal(a, b, 32);
	assert_memory_not_equal(a, c, 32);
}

static void
test_bad_arguments(void **state)
{
	uint8_t out[32], ikm[32] = {0};

	(void)state;
	assert_int_equal(kdf_hkdf_sha256(out, 0, ikm, 32, NULL, 0, NULL, 0), CS_EINVAL);
	assert_int_equal(kdf_hkdf_sha256(out, 255 * 32 + 1, ikm, 32, NULL, 0, NULL, 0), CS_EINVAL);
	assert_int_equal(kdf_hkdf_sha256(NULL, 32, ikm, 32, NULL, 0, NULL, 0), CS_EINVAL);
	assert_int_equal(kdf_hkdf_sha256(out, 32, ikm, 32, NULL, 5, NULL, 0), CS_EINVAL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc5869_vectors),
		cmocka_unit_test(test_domain_separation),
		cmocka_unit_test(test_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
