/* Unit tests for util/err. */
#include "testutil.h"
#include "util/err.h"

static void
test_every_code_has_text(void **state)
{
	(void)state;
	for (int c = CS_EPERM; c <= CS_OK; c++) {
		assert_non_null(err_str(c));
		assert_string_not_equal(err_str(c), "unknown error");
	}
	assert_string_equal(err_str(-1000), "unknown error");
	assert_string_equal(err_str(1), "unknown error");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_code_has_text),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
