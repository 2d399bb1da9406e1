/*
 * Unit tests for keystore: creation, reopening, levels, sealing, and the
 * refusal of wrong root keys and loose permissions.
 */
#include "testutil.h"
#include "keystore/keystore.h"
#include "util/err.h"
#include "util/secmem.h"

#include <dirent.h>
#include <fcntl.h>
#include <string.h>
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

/* ks_dir_has: true if a file name in d contains needle. */
static bool
ks_dir_has(const char *d, const char *needle)
{
	struct dirent *de;
	DIR *dp = opendir(d);
	bool yes = false;

	assert_non_null(dp);
	while ((de = readdir(dp)) != NULL)
		if (strstr(de->d_name, needle) != NULL)
			yes = true;
	closedir(dp);
	return yes;
}

static void
test_rotate_destroy_reopen(void **state)
{
	char d[128], r[128], why[256] = "";
	uint8_t k1[32], k2[32], k[32];
	struct keystore *ks;
	uint32_t v = 0;

	(void)state;
	snprintf(d, sizeof(d), "%s/rot", base);
	snprintf(r, sizeof(r), "%s/rot.key", base);
	if (keystore_open(&ks, d, r, true, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	assert_int_equal(keystore_level_add(ks, "s1"), 0);
	assert_int_equal(keystore_active(ks, "s1", &v, k1), 0);
	assert_int_equal(keystore_rotate(ks, "s1", &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(keystore_active(ks, "s1", &v, k2), 0);
	assert_int_equal(v, 2);
	assert_memory_not_equal(k1, k2, 32);
	assert_int_equal(keystore_kek_state(ks, "s1", 1), KEYSTORE_DECRYPT_ONLY);
	assert_int_equal(keystore_kek(ks, "s1", 1, k), 0);
	assert_memory_equal(k, k1, 32);
	assert_int_equal(keystore_rotate(ks, "nope", &v), CS_ENOENT);
	/* The active version cannot be destroyed; a decrypt-only one can. */
	assert_int_equal(keystore_destroy(ks, "s1", 2), CS_EPERM);
	assert_true(ks_dir_has(d, ".v1.kek"));
	assert_int_equal(keystore_destroy(ks, "s1", 1), 0);
	assert_int_equal(keystore_destroy(ks, "s1", 1), CS_ENOENT);
	assert_false(ks_dir_has(d, ".v1.kek"));
	assert_true(ks_dir_has(d, ".v2.kek"));
	assert_int_equal(keystore_kek(ks, "s1", 1, k), CS_ENOENT);
	assert_int_equal(keystore_kek_state(ks, "s1", 1), KEYSTORE_DESTROYED);
	keystore_close(ks);
	if (keystore_open(&ks, d, r, false, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	assert_int_equal(keystore_kek_state(ks, "s1", 1), KEYSTORE_DESTROYED);
	assert_int_equal(keystore_kek(ks, "s1", 1, k), CS_ENOENT);
	assert_int_equal(keystore_kek(ks, "s1", 2, k), 0);
	assert_memory_equal(k, k2, 32);
	keystore_close(ks);
}

static void
count_versions(void *arg, const struct keystore_version *v)
{
	assert_true(v->created > 0 && v->changed >= v->created);
	((int *)arg)[v->state]++;
}

static void
test_shred_level(void **state)
{
	char d[128], r[128], why[256] = "";
	uint8_t k1[32], k[32];
	struct keystore *ks;
	unsigned n = 0;
	uint32_t v = 0;
	int states[4] = {0};

	(void)state;
	snprintf(d, sizeof(d), "%s/shred", base);
	snprintf(r, sizeof(r), "%s/shred.key", base);
	if (keystore_open(&ks, d, r, true, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	assert_int_equal(keystore_level_add(ks, "s1"), 0);
	assert_int_equal(keystore_level_add(ks, "s2"), 0);
	assert_int_equal(keystore_rotate(ks, "s2", &v), 0);
	assert_int_equal(keystore_active(ks, "s1", &v, k1), 0);
	assert_int_equal(keystore_shred(ks, "s2", &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(keystore_shred(ks, "s9", &n), CS_ENOENT);
	assert_int_equal(keystore_kek(ks, "s2", 1, k), CS_ENOENT);
	assert_int_equal(keystore_kek(ks, "s2", 2, k), CS_ENOENT);
	assert_false(keystore_level_exists(ks, "s2"));
	assert_int_equal(keystore_active(ks, "s2", &v, k), CS_ENOENT);
	assert_int_equal(keystore_versions(ks, "s2", count_versions, states), 0);
	assert_int_equal(states[KEYSTORE_DESTROYED], 2);
	/* Only s1's key file is left; both tombstones (.meta) stay. */
	assert_true(ks_dir_has(d, ".v1.kek"));
	assert_false(ks_dir_has(d, ".v2.kek"));
	keystore_close(ks);
	if (keystore_open(&ks, d, r, false, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	assert_int_equal(keystore_kek(ks, "s2", 1, k), CS_ENOENT);
	assert_int_equal(keystore_kek_state(ks, "s2", 2), KEYSTORE_DESTROYED);
	assert_int_equal(keystore_kek(ks, "s1", 1, k), 0);
	assert_memory_equal(k, k1, 32);
	assert_int_equal(keystore_level_add(ks, "s2"), CS_EEXIST);
	/* A rotation revives the level with a fresh key. */
	assert_int_equal(keystore_rotate(ks, "s2", &v), 0);
	assert_int_equal(v, 3);
	assert_true(keystore_level_exists(ks, "s2"));
	keystore_close(ks);
}

static void
test_orphans_scrubbed(void **state)
{
	char d[128], r[128], f[256], why[256] = "";
	struct keystore *ks;
	int fd;

	(void)state;
	snprintf(d, sizeof(d), "%s/orph", base);
	snprintf(r, sizeof(r), "%s/orph.key", base);
	if (keystore_open(&ks, d, r, true, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	assert_int_equal(keystore_level_add(ks, "s0"), 0);
	keystore_close(ks);
	/* A key file no .meta owns (an interrupted rotation) and a temporary file. */
	snprintf(f, sizeof(f), "%s/level-00112233445566778899aabbccddeeff.v7.kek", d);
	assert_true((fd = open(f, O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0);
	assert_int_equal(write(fd, "sealed key bytes", 16), 16);
	close(fd);
	snprintf(f, sizeof(f), "%s/.level-x.meta.0a0b0c.tmp", d);
	assert_true((fd = open(f, O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0);
	close(fd);
	assert_true(ks_dir_has(d, ".v7.kek"));
	if (keystore_open(&ks, d, r, false, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	assert_false(ks_dir_has(d, ".v7.kek"));
	assert_false(ks_dir_has(d, ".tmp"));
	assert_true(ks_dir_has(d, ".v1.kek"));
	assert_true(keystore_level_exists(ks, "s0"));
	keystore_close(ks);
}

static void
test_passphrase_root(void **state)
{
	char d[128], why[256] = "";
	uint8_t *root = secmem_alloc(32);
	struct keystore *ks;
	struct stat st;

	(void)state;
	assert_non_null(root);
	snprintf(d, sizeof(d), "%s/pass", base);
	assert_int_equal(keystore_passphrase_root(d, "pw", 2, 12, false, root, why, sizeof(why)),
			 CS_ENOENT);
	assert_int_equal(keystore_passphrase_root(d, "", 0, 12, true, root, why, sizeof(why)),
			 CS_EINVAL);
	if (keystore_passphrase_root(d, "correct horse", 13, 12, true, root, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	if (keystore_open_root(&ks, d, root, true, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	assert_int_equal(keystore_level_add(ks, "s3"), 0);
	keystore_close(ks);
	snprintf(why, sizeof(why), "%s/root.scrypt", d);
	assert_int_equal(stat(why, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	/* The same passphrase opens it again; another does not. */
	if (keystore_passphrase_root(d, "correct horse", 13, 20, false, root, why, sizeof(why)) !=
	    0)
		fail_msg("%s", why);
	if (keystore_open_root(&ks, d, root, false, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	assert_true(keystore_level_exists(ks, "s3"));
	keystore_close(ks);
	assert_int_equal(
		keystore_passphrase_root(d, "correct hors", 12, 12, false, root, why, sizeof(why)),
		0);
	assert_int_equal(keystore_open_root(&ks, d, root, false, why, sizeof(why)), CS_EAUTH);
	secmem_free(root, 32);
}

static void
test_derive(void **state)
{
	char d[128], r[128], why[256] = "";
	uint8_t a[32], a2[32], b[32];
	struct keystore *ks;

	(void)state;
	snprintf(d, sizeof(d), "%s/der", base);
	snprintf(r, sizeof(r), "%s/der.key", base);
	if (keystore_open(&ks, d, r, true, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	assert_int_equal(keystore_derive(ks, "audit", a), 0);
	assert_int_equal(keystore_derive(ks, "audit", a2), 0);
	assert_int_equal(keystore_derive(ks, "other", b), 0);
	assert_memory_equal(a, a2, 32);
	assert_memory_not_equal(a, b, 32);
	keystore_close(ks);
	if (keystore_open(&ks, d, r, false, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	assert_int_equal(keystore_derive(ks, "audit", a2), 0);
	assert_memory_equal(a, a2, 32);
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
		cmocka_unit_test(test_rotate_destroy_reopen),
		cmocka_unit_test(test_shred_level),
		cmocka_unit_test(test_orphans_scrubbed),
		cmocka_unit_test(test_passphrase_root),
		cmocka_unit_test(test_derive),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
