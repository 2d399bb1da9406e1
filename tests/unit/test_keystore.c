/*
 * Unit tests for keystore: creation, reopening, levels, sealing, and the
 * refusal of wrong root keys and loose permissions.
 */
#include "testutil.h"
#include "keystore/keystore.h"
#include "util/err.h"
#include "util/secmem.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[64], dir[96], rootkey[96];

static int
setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "/tmp/cs-ks-XXXXXX");
	if (mkdtemp(base) == NULL)
		return -1;
	snprintf(dir, sizeof(dir), "%s/keys", base);
	snprintf(rootkey, sizeof(rootkey), "%s/root.key", base);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

static void
count_cb(void *arg, const char *id, uint32_t active)
{
	(void)id;
	assert_int_equal(active, 1);
	(*(int *)arg)++;
}

static void
test_create_reopen_levels(void **state)
{
	struct keystore *ks;
	uint8_t k1[32], k2[32], sys[32], sys2[32];
	uint32_t v = 0;
	char why[256] = "";
	struct stat st;
	int n = 0;

	(void)state;
	assert_int_equal(keystore_open(&ks, dir, rootkey, false, why, sizeof(why)), CS_ENOENT);
	if (keystore_open(&ks, dir, rootkey, true, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	assert_int_equal(keystore_level_add(ks, "s0"), 0);
	assert_int_equal(keystore_level_add(ks, "s2:c1,c4.c7"), 0);
	assert_int_equal(keystore_level_add(ks, "s0"), CS_EEXIST);
	assert_int_equal(keystore_active(ks, "s2:c1,c4.c7", &v, k1), 0);
	assert_int_equal(v, 1);
	assert_int_equal(keystore_kek(ks, "s2:c1,c4.c7", 1, k2), 0);
	assert_memory_equal(k1, k2, 32);
	assert_int_equal(keystore_kek(ks, "s2:c1,c4.c7", 2, k2), CS_ENOENT);
	assert_int_equal(keystore_kek(ks, "s9", 1, k2), CS_ENOENT);
	assert_int_equal(keystore_kek_state(ks, "s0", 1), KEYSTORE_ACTIVE);
	assert_int_equal(keystore_syskey(ks, KEYSTORE_NAME_KEY, sys), 0);
	assert_true(keystore_level_exists(ks, "s0"));
	assert_false(keystore_level_exists(ks, "s1"));
	keystore_close(ks);
	/* Files are 0600, the directory 0700. */
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(rootkey, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(st.st_size, 32);
	/* Reopen: the same keys come back. */
	if (keystore_open(&ks, dir, rootkey, false, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	assert_int_equal(keystore_kek(ks, "s2:c1,c4.c7", 1, k2), 0);
	assert_memory_equal(k1, k2, 32);
	assert_int_equal(keystore_syskey(ks, KEYSTORE_NAME_KEY, sys2), 0);
	assert_memory_equal(sys, sys2, 32);
	keystore_level_ids(ks, count_cb, &n);
	assert_int_equal(n, 2);
	keystore_close(ks);
}

static void
test_seal_binds_purpose(void **state)
{
	struct keystore *ks;
	uint8_t *sealed, *plain;
	size_t sl, pl;
	char why[256];

	(void)state;
	if (keystore_open(&ks, dir, rootkey, true, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	assert_int_equal(
		keystore_seal(ks, "identities", (const uint8_t *)"secret", 6, &sealed, &sl), 0);
	assert_int_equal(keystore_unseal(ks, "identities", sealed, sl, &plain, &pl), 0);
	assert_int_equal(pl, 6);
	assert_memory_equal(plain, "secret", 6);
	free(plain);
	assert_int_equal(keystore_unseal(ks, "catalog", sealed, sl, &plain, &pl), CS_EAUTH);
	sealed[sl / 2] ^= 1;
	assert_int_equal(keystore_unseal(ks, "identities", sealed, sl, &plain, &pl), CS_EAUTH);
	assert_int_equal(keystore_unseal(ks, "identities", sealed, 10, &plain, &pl), CS_EAUTH);
	free(sealed);
	keystore_close(ks);
}

static void
test_wrong_root_key_refused(void **state)
{
	char other[128], why[256] = "";
	struct keystore *ks;
	int fd;
	uint8_t junk[32] = {1, 2, 3};

	(void)state;
	snprintf(other, sizeof(other), "%s/other.key", base);
	fd = open(other, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, 32), 32);
	close(fd);
	assert_int_equal(keystore_open(&ks, dir, other, false, why, sizeof(why)), CS_EAUTH);
	assert_non_null(strstr(why, "root key"));
}

static void
test_loose_permissions_refused(void **state)
{
	struct keystore *ks;
	char why[256] = "";

	(void)state;
	assert_int_equal(chmod(rootkey, 0640), 0);
	assert_int_equal(keystore_open(&ks, dir, rootkey, false, why, sizeof(why)), CS_EPERM);
	assert_non_null(strstr(why, "chmod 600"));
	assert_int_equal(chmod(rootkey, 0600), 0);
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(keystore_open(&ks, dir, rootkey, false, why, sizeof(why)), CS_EPERM);
	assert_non_null(strstr(why, "chmod 700"));
	assert_int_equal(chmod(dir, 0700), 0);
	assert_int_equal(keystore_open(&ks, dir, rootkey, false, why, sizeof(why)), 0);
	keystore_close(ks);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_create_reopen_levels),
		cmocka_unit_test(test_seal_binds_purpose),
		cmocka_unit_test(test_wrong_root_key_refused),
		cmocka_unit_test(test_loose_permissions_refused),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
