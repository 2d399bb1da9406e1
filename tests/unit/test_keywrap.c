/* Unit tests for crypto/keywrap (RFC 5649 AES key wrap with padding). */
#include "testutil.h"
#include "crypto/keywrap.h"
#include "crypto/selftest.h"
#include "util/err.h"

static void
test_rfc5649_vectors(void **state)
{
	char why[256] = "";

	(void)state;
	assert_int_equal(selftest_keywrap(why, sizeof(why)), 0);
}

static void
test_roundtrip_and_forgery(void **state)
{
	uint8_t kek[32], kek2[32], key[64], w[80], out[80];
	uint64_t s = 7;

	(void)state;
	tu_fill(&s, kek, sizeof(kek));
	memcpy(kek2, kek, sizeof(kek));
	kek2[0] ^= 1;
	for (size_t n = 1; n <= sizeof(key); n++) {
		long wl, ul;

		tu_fill(&s, key, n);
		wl = keywrap_wrap(kek, 32, key, n, w, sizeof(w));
		assert_int_equal(wl, (long)keywrap_len(n));
		ul = keywrap_unwrap(kek, 32, w, (size_t)wl, out, sizeof(out));
		assert_int_equal(ul, (long)n);
		assert_memory_equal(out, key, n);
		/* Wrong KEK, any flipped bit, truncation: all CS_EAUTH. */
		assert_int_equal(keywrap_unwrap(kek2, 32, w, (size_t)wl, out, sizeof(out)),
				 CS_EAUTH);
		w[n % (size_t)wl] ^= 0x10;
		assert_int_equal(keywrap_unwrap(kek, 32, w, (size_t)wl, out, sizeof(out)),
				 CS_EAUTH);
		w[n % (size_t)wl] ^= 0x10;
		assert_int_equal(keywrap_unwrap(kek, 32, w, (size_t)wl - 8, out, sizeof(out)),
				 CS_EAUTH);
		assert_int_equal(keywrap_unwrap(kek, 32, w, (size_t)wl - 1, out, sizeof(out)),
				 CS_EAUTH);
	}
}

static void
test_bad_arguments(void **state)
{
	uint8_t kek[32] = {0}, key[32] = {0}, w[48];

	(void)state;
	assert_int_equal(keywrap_wrap(kek, 20, key, 32, w, sizeof(w)), CS_EINVAL);
	assert_int_equal(keywrap_wrap(kek, 32, key, 0, w, sizeof(w)), CS_EINVAL);
	assert_int_equal(keywrap_wrap(kek, 32, key, 32, w, 39), CS_ERANGE);
	assert_int_equal(keywrap_unwrap(kek, 32, w, 8, key, sizeof(key)), CS_EAUTH);
	assert_int_equal(keywrap_unwrap(kek, 32, w, 40, key, 16), CS_ERANGE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc5649_vectors),
		cmocka_unit_test(test_roundtrip_and_forgery),
		cmocka_unit_test(test_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
