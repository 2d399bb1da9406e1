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

static bool
keep_s0_s1(void *arg, const char *id)
{
	(void)arg;
	return strcmp(id, "s0") == 0 || strcmp(id, "s1") == 0;
}

/* keystore_restrict: only the kept levels' KEKs and the name key stay;
 * everything that needs the sealing or derivation key is refused. */
static void
test_restrict(void **state)
{
	char d[128], r[128], why[256] = "";
	uint8_t k0[32], k[32], name[32], name2[32], *sealed = NULL;
	size_t sl = 0;
	struct keystore *ks;
	uint32_t v;
	unsigned nv;
	int n = 0;

	(void)state;
	snprintf(d, sizeof(d), "%s/rst", base);
	snprintf(r, sizeof(r), "%s/rst.key", base);
	if (keystore_open(&ks, d, r, true, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	assert_int_equal(keystore_level_add(ks, "s0"), 0);
	assert_int_equal(keystore_level_add(ks, "s1"), 0);
	assert_int_equal(keystore_level_add(ks, "s2"), 0);
	assert_int_equal(keystore_active(ks, "s0", &v, k0), 0);
	assert_int_equal(keystore_syskey(ks, KEYSTORE_NAME_KEY, name), 0);
	assert_int_equal(keystore_restrict(ks, keep_s0_s1, NULL), 0);
	/* kept */
	assert_int_equal(keystore_kek(ks, "s0", 1, k), 0);
	assert_memory_equal(k, k0, 32);
	assert_int_equal(keystore_active(ks, "s1", &v, k), 0);
	assert_int_equal(keystore_syskey(ks, KEYSTORE_NAME_KEY, name2), 0);
	assert_memory_equal(name, name2, 32);
	keystore_level_ids(ks, count_cb, &n);
	assert_int_equal(n, 2);
	/* gone */
	assert_int_equal(keystore_kek(ks, "s2", 1, k), CS_ENOENT);
	assert_false(keystore_level_exists(ks, "s2"));
	assert_int_equal(keystore_syskey(ks, KEYSTORE_CATALOG_KEY, k), CS_EPERM);
	assert_int_equal(keystore_derive(ks, "audit", k), CS_EPERM);
	assert_int_equal(keystore_seal(ks, "catalog", k, 4, &sealed, &sl), CS_EPERM);
	assert_int_equal(keystore_unseal(ks, "catalog", k, 32, &sealed, &sl), CS_EPERM);
	assert_null(sealed);
	assert_int_equal(keystore_level_add(ks, "s3"), CS_EPERM);
	assert_int_equal(keystore_rotate(ks, "s0", &v), CS_EPERM);
	assert_int_equal(keystore_shred(ks, "s1", &nv), CS_EPERM);
	assert_int_equal(keystore_read_file(ks, "identities.sealed", &sealed, &sl), CS_EPERM);
	keystore_close(ks);
	/* Nothing was changed on disk: a full open still has all three. */
	if (keystore_open(&ks, d, r, false, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	assert_int_equal(keystore_kek(ks, "s2", 1, k), 0);
	assert_int_equal(keystore_kek(ks, "s0", 1, k), 0);
	assert_memory_equal(k, k0, 32);
	keystore_close(ks);
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

/* ---- keystore_open_files: an in-memory home shared by two keystores ------ */

#define MEM_FILES 64

struct mem {
	char *name[MEM_FILES];
	uint8_t *data[MEM_FILES];
	size_t len[MEM_FILES];
	int erased; /* erase calls that removed a file */
};

static int
mem_find(struct mem *m, const char *name)
{
	for (int i = 0; i < MEM_FILES; i++)
		if (m->name[i] != NULL && strcmp(m->name[i], name) == 0)
			return i;
	return -1;
}

static int
mem_read(void *arg, const char *name, size_t max, uint8_t **out, size_t *outlen)
{
	struct mem *m = arg;
	int i = mem_find(m, name);

	if (i < 0)
		return CS_ENOENT;
	if (m->len[i] > max)
		return CS_ERANGE;
	*out = malloc(m->len[i] + 1);
	assert_non_null(*out);
	memcpy(*out, m->data[i], m->len[i]);
	(*out)[m->len[i]] = 0;
	*outlen = m->len[i];
	return 0;
}

static int
mem_write(void *arg, const char *name, const uint8_t *data, size_t n, bool excl)
{
	struct mem *m = arg;
	int i = mem_find(m, name);

	if (i >= 0 && excl)
		return CS_EEXIST;
	if (i < 0)
		for (i = 0; i < MEM_FILES && m->name[i] != NULL; i++)
			;
	assert_true(i < MEM_FILES);
	if (m->name[i] == NULL)
		m->name[i] = strdup(name);
	free(m->data[i]);
	m->data[i] = malloc(n);
	memcpy(m->data[i], data, n);
	m->len[i] = n;
	return 0;
}

static int
mem_erase(void *arg, const char *name)
{
	struct mem *m = arg;
	int i = mem_find(m, name);

	if (i < 0)
		return 0;
	free(m->name[i]);
	free(m->data[i]);
	m->name[i] = NULL;
	m->data[i] = NULL;
	m->erased++;
	return 0;
}

static int
mem_list(void *arg, int (*cb)(void *cbarg, const char *name), void *cbarg)
{
	struct mem *m = arg;
	int rc = 0;

	for (int i = 0; rc == 0 && i < MEM_FILES; i++)
		if (m->name[i] != NULL)
			rc = cb(cbarg, m->name[i]);
	return rc;
}

static void
mem_free(struct mem *m)
{
	for (int i = 0; i < MEM_FILES; i++) {
		free(m->name[i]);
		free(m->data[i]);
	}
}

static struct keystore_files
mem_files(struct mem *m, bool shared)
{
	struct keystore_files f = {
		.arg = m,
		.read = mem_read,
		.write = mem_write,
		.erase = mem_erase,
		.list = mem_list,
		.shared = shared,
	};

	return f;
}

/* mem_keks: how many key files the home holds. */
static int
mem_keks(struct mem *m)
{
	int n = 0;

	for (int i = 0; i < MEM_FILES; i++)
		if (m->name[i] != NULL && strstr(m->name[i], ".kek") != NULL)
			n++;
	return n;
}

static void
test_shared_files_two_front_ends(void **state)
{
	static struct mem m;
	struct keystore_files f = mem_files(&m, true);
	struct keystore *a, *b;
	uint8_t root[32], ka[32], kb[32], sa[32], sb[32];
	uint32_t v = 0, va = 0, vb = 0;
	char why[256] = "";
	unsigned nv = 0;

	(void)state;
	memset(&m, 0, sizeof(m));
	memset(root, 7, sizeof(root));
	assert_int_equal(keystore_open_files(&a, &f, root, true, why, sizeof(why)), 0);
	assert_int_equal(keystore_level_add(a, "s2"), 0);
	/* B on the same files: the same system keys and level key. */
	assert_int_equal(keystore_open_files(&b, &f, root, false, why, sizeof(why)), 0);
	assert_int_equal(keystore_syskey(a, KEYSTORE_CATALOG_KEY, sa), 0);
	assert_int_equal(keystore_syskey(b, KEYSTORE_CATALOG_KEY, sb), 0);
	assert_memory_equal(sa, sb, 32);
	assert_int_equal(keystore_active(a, "s2", &va, ka), 0);
	assert_int_equal(keystore_active(b, "s2", &vb, kb), 0);
	assert_int_equal(va, 1);
	assert_int_equal(vb, 1);
	assert_memory_equal(ka, kb, 32);
	/* B adding the level A made: it exists (re-read first). */
	assert_int_equal(keystore_level_add(b, "s2"), CS_EEXIST);

	/* A rotates: B does not know version 2 until it re-reads the level. */
	assert_int_equal(keystore_rotate(a, "s2", &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(keystore_kek(b, "s2", 2, kb), CS_ENOENT);
	assert_int_equal(keystore_level_reload(b, "s2"), 0);
	assert_int_equal(keystore_kek(b, "s2", 2, kb), 0);
	assert_int_equal(keystore_kek(a, "s2", 2, ka), 0);
	assert_memory_equal(ka, kb, 32);
	assert_int_equal(keystore_kek_state(b, "s2", 1), KEYSTORE_DECRYPT_ONLY);

	/* B rotates with its view re-read first: version 3, not a clash on 2. */
	assert_int_equal(keystore_rotate(b, "s2", &v), 0);
	assert_int_equal(v, 3);

	/* A shreds: B still holds keys until it re-reads; then none. */
	assert_int_equal(keystore_shred(a, "s2", &nv), 0);
	assert_int_equal(nv, 3);
	assert_int_equal(mem_keks(&m), 0);
	assert_int_equal(keystore_kek(a, "s2", 1, ka), CS_ENOENT);
	assert_int_equal(keystore_kek(b, "s2", 1, kb), 0);
	assert_int_equal(keystore_level_reload(b, "s2"), 0);
	for (uint32_t i = 1; i <= 3; i++) {
		assert_int_equal(keystore_kek(b, "s2", i, kb), CS_ENOENT);
		assert_int_equal(keystore_kek_state(b, "s2", i), KEYSTORE_DESTROYED);
	}
	assert_false(keystore_level_exists(b, "s2"));
	/* No such level in the files. */
	assert_int_equal(keystore_level_reload(b, "s9"), CS_ENOENT);
	keystore_close(a);
	keystore_close(b);
	/* A wrong root key does not open these files. */
	root[0] ^= 1;
	assert_int_equal(keystore_open_files(&a, &f, root, false, why, sizeof(why)), CS_EAUTH);
	assert_null(a);
	mem_free(&m);
}

static void
test_shared_files_newer_kek_kept(void **state)
{
	static struct mem m;
	struct keystore_files shared = mem_files(&m, true), own = mem_files(&m, false);
	struct keystore *a;
	uint8_t root[32], k[32];
	char why[256] = "", newer[96] = "";
	const char *unknown = "level-00000000000000000000000000000000.v1.kek";

	(void)state;
	memset(&m, 0, sizeof(m));
	memset(root, 9, sizeof(root));
	assert_int_equal(keystore_open_files(&a, &shared, root, true, why, sizeof(why)), 0);
	assert_int_equal(keystore_level_add(a, "s1"), 0);
	keystore_close(a);
	for (int i = 0; i < MEM_FILES; i++)
		if (m.name[i] != NULL && strstr(m.name[i], ".meta") != NULL)
			snprintf(newer, sizeof(newer), "%.38s.v2.kek", m.name[i]);
	assert_true(newer[0] != '\0');
	/* Key files the record does not know: version 2 of s1 (a rotation
	 * between its key file and its record) and a level with no record yet
	 * (a level being added).  With shared files they may be another
	 * front-end's work in progress: kept. */
	assert_int_equal(mem_write(&m, newer, (const uint8_t *)"x", 1, true), 0);
	assert_int_equal(mem_write(&m, unknown, (const uint8_t *)"x", 1, true), 0);
	assert_int_equal(mem_write(&m, newer, (const uint8_t *)"y", 1, true), CS_EEXIST);
	m.erased = 0;
	assert_int_equal(keystore_open_files(&a, &shared, root, false, why, sizeof(why)), 0);
	assert_int_equal(keystore_kek(a, "s1", 1, k), 0);
	keystore_close(a);
	assert_int_equal(m.erased, 0);
	assert_true(mem_find(&m, newer) >= 0 && mem_find(&m, unknown) >= 0);
	/* With files of its own the keystore is the only writer: orphans. */
	assert_int_equal(keystore_open_files(&a, &own, root, false, why, sizeof(why)), 0);
	assert_int_equal(keystore_kek(a, "s1", 1, k), 0);
	keystore_close(a);
	assert_int_equal(m.erased, 2);
	assert_true(mem_find(&m, newer) < 0 && mem_find(&m, unknown) < 0);
	mem_free(&m);
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
		cmocka_unit_test(test_restrict),
		cmocka_unit_test(test_shared_files_two_front_ends),
		cmocka_unit_test(test_shared_files_newer_kek_kept),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
