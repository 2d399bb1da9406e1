/* Unit tests for util/secmem. */
#include "testutil.h"
#include "util/err.h"
#include "util/secmem.h"

#include <stdbool.h>
#include <stdio.h>
#include <unistd.h>

static void
test_alloc_is_secure_zeroed_aligned(void **state)
{
	uint8_t *p;

	(void)state;
	assert_true(secmem_init(SECMEM_DEFAULT_HEAP) >= 0);
	p = secmem_alloc(100);
	assert_non_null(p);
	assert_true(secmem_is_secure(p));
	assert_int_equal((uintptr_t)p % SECMEM_ALIGN, 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(p[i], 0);
	assert_true(secmem_used() >= 100);
	memset(p, 0xa5, 100);
	secmem_free(p, 100);
	secmem_free(NULL, 10); /* a no-op */

	/* Ordinary heap memory is not secure. */
	p = malloc(16);
	assert_false(secmem_is_secure(p));
	free(p);
	assert_false(secmem_is_secure(NULL));
}

static void
test_locked_when_root(void **state)
{
	(void)state;
	/* As root (CI, make check) the heap must be mlock'ed; elsewhere
	 * RLIMIT_MEMLOCK may legitimately refuse, which init reports as 1 and
	 * secmem_locked() must then admit.  (No cmocka skip(): it prints
	 * "not ok # SKIP", which meson counts as a failure.) */
	if (geteuid() != 0) {
		int rc = secmem_init(SECMEM_DEFAULT_HEAP);

		assert_true(rc == 0 || rc == 1);
		assert_true(secmem_locked() == (rc == 0));
		return;
	}
	assert_int_equal(secmem_init(SECMEM_DEFAULT_HEAP), 0);
	assert_true(secmem_locked());
}

static void
test_heap_is_in_dontdump_locked_mapping(void **state)
{
	uint8_t *p = secmem_alloc(32);
	char line[512];
	FILE *f;
	bool in_target = false, checked = false;
	uintptr_t a = (uintptr_t)p;

	(void)state;
	assert_non_null(p);
	/* /proc/self/smaps: the mapping holding p is marked "dd", and locked
	 * when the heap could be (always as root, see above). */
	f = fopen("/proc/self/smaps", "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long lo, hi;

		/* A mapping's first line is "lo-hi perms ..."; then "Key: value" lines. */
		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2) {
			in_target = a >= lo && a < hi;
			continue;
		}
		if (in_target && strncmp(line, "VmFlags:", 8) == 0) {
			assert_non_null(strstr(line, " dd")); /* MADV_DONTDUMP */
			if (geteuid() == 0 || secmem_locked())
				assert_non_null(strstr(line, " lo")); /* mlock'ed */
			checked = true;
		}
	}
	fclose(f);
	assert_true(checked);
	secmem_free(p, 32);
}

static void
test_eq_and_wipe(void **state)
{
	uint8_t a[32], b[32];

	(void)state;
	memset(a, 7, sizeof(a));
	memcpy(b, a, sizeof(b));
	assert_true(secmem_eq(a, b, sizeof(a)));
	b[31] ^= 1;
	assert_false(secmem_eq(a, b, sizeof(a)));
	b[31] ^= 1;
	b[0] ^= 0x80;
	assert_false(secmem_eq(a, b, sizeof(a)));
	secmem_wipe(a, sizeof(a));
	for (size_t i = 0; i < sizeof(a); i++)
		assert_int_equal(a[i], 0);
	assert_int_equal(secmem_init(3), CS_EINVAL);
}

static void
test_exhaustion_returns_null(void **state)
{
	void *p;

	(void)state;
	/* Larger than the whole heap: must fail, never fall back to malloc. */
	p = secmem_alloc(SECMEM_DEFAULT_HEAP * 2);
	assert_null(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_is_secure_zeroed_aligned),
		cmocka_unit_test(test_locked_when_root),
		cmocka_unit_test(test_heap_is_in_dontdump_locked_mapping),
		cmocka_unit_test(test_eq_and_wipe),
		cmocka_unit_test(test_exhaustion_returns_null),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
