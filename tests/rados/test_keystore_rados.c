/*
 * The keystore's files in RADOS (keystore_rados_files): the omap of one
 * object, against a real cluster (CRYPTSTORE_CEPH_CONF, _USER, _KEYRING,
 * _POOL; skipped without CRYPTSTORE_CEPH_CONF).  Each run works in a RADOS
 * namespace of its own.
 */
#include "testutil.h"
#include "keystore/keystore.h"
#include "util/err.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rados/librados.h>

#define OID "cs.keystore"

static rados_t cl;
static rados_ioctx_t io;

static int
setup(void **state)
{
	const char *user = getenv("CRYPTSTORE_CEPH_USER"), *kr = getenv("CRYPTSTORE_CEPH_KEYRING");
	char ns[64];

	(void)state;
	if (rados_create2(&cl, "ceph", user != NULL ? user : "client.admin", 0) != 0 ||
	    rados_conf_read_file(cl, getenv("CRYPTSTORE_CEPH_CONF")) != 0 ||
	    (kr != NULL && rados_conf_set(cl, "keyring", kr) != 0) || rados_connect(cl) != 0 ||
	    rados_ioctx_create(cl, getenv("CRYPTSTORE_CEPH_POOL"), &io) != 0)
		return -1;
	snprintf(ns, sizeof(ns), "ks-test-%ld-%d", (long)time(NULL), (int)getpid());
	rados_ioctx_set_namespace(io, ns);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	(void)rados_remove(io, OID);
	rados_ioctx_destroy(io);
	rados_shutdown(cl);
	return 0;
}

static int
count_cb(void *arg, const char *name)
{
	(void)name;
	(*(int *)arg)++;
	return 0;
}

static int
kek_cb(void *arg, const char *name)
{
	if (strstr(name, ".kek") != NULL)
		(*(int *)arg)++;
	return 0;
}

/* The operations themselves: exclusive create, replace, read, list, erase. */
static void
test_files_ops(void **state)
{
	struct keystore_files f;
	uint8_t *b = NULL, big[3000];
	size_t n = 0;
	int count = 0;

	(void)state;
	assert_int_equal(keystore_rados_files(&f, io, OID), 0);
	assert_true(f.shared);
	/* Nothing yet: no object at all. */
	assert_int_equal(f.read(f.arg, "a", 100, &b, &n), CS_ENOENT);
	assert_int_equal(f.list(f.arg, count_cb, &count), 0);
	assert_int_equal(count, 0);
	assert_int_equal(f.erase(f.arg, "a"), 0);
	/* Exclusive create, then a second one fails and changes nothing. */
	assert_int_equal(f.write(f.arg, "a", (const uint8_t *)"first", 5, true), 0);
	assert_int_equal(f.write(f.arg, "a", (const uint8_t *)"second", 6, true), CS_EEXIST);
	assert_int_equal(f.read(f.arg, "a", 100, &b, &n), 0);
	assert_int_equal(n, 5);
	assert_memory_equal(b, "first", 5);
	assert_int_equal(b[5], 0);
	free(b);
	/* A plain write replaces. */
	memset(big, 0xa5, sizeof(big));
	assert_int_equal(f.write(f.arg, "a", big, sizeof(big), false), 0);
	assert_int_equal(f.read(f.arg, "a", sizeof(big), &b, &n), 0);
	assert_int_equal(n, sizeof(big));
	assert_memory_equal(b, big, sizeof(big));
	free(b);
	/* Larger than the caller allows: refused before any copy. */
	assert_int_equal(f.read(f.arg, "a", sizeof(big) - 1, &b, &n), CS_ERANGE);
	/* An empty file cannot be told from an absent key: refused. */
	assert_int_equal(f.write(f.arg, "e", (const uint8_t *)"", 0, false), CS_EINVAL);
	/* Listing pages through many names. */
	for (int i = 0; i < 300; i++) {
		char nm[32];

		snprintf(nm, sizeof(nm), "n%03d", i);
		assert_int_equal(f.write(f.arg, nm, (const uint8_t *)"v", 1, true), 0);
	}
	count = 0;
	assert_int_equal(f.list(f.arg, count_cb, &count), 0);
	assert_int_equal(count, 301);
	/* Erase: gone; exclusive create works again. */
	assert_int_equal(f.erase(f.arg, "a"), 0);
	assert_int_equal(f.read(f.arg, "a", 100, &b, &n), CS_ENOENT);
	assert_int_equal(f.write(f.arg, "a", (const uint8_t *)"again", 5, true), 0);
	f.close(f.arg);
	assert_int_equal(rados_remove(io, OID), 0);
}

/* Two keystores on one object: shared levels; a shred reaches the other at
 * its re-read; nothing of the level's keys is left in the omap. */
static void
test_two_keystores(void **state)
{
	struct keystore_files fa, fb, probe;
	struct keystore *a, *b;
	uint8_t root[32], ka[32], kb[32];
	uint32_t v = 0;
	unsigned nv = 0;
	char why[256] = "";
	int kek_files = 0, all = 0;

	(void)state;
	memset(root, 0x3c, sizeof(root));
	assert_int_equal(keystore_rados_files(&fa, io, OID), 0);
	assert_int_equal(keystore_rados_files(&fb, io, OID), 0);
	assert_int_equal(keystore_open_files(&a, &fa, root, true, why, sizeof(why)), 0);
	assert_int_equal(keystore_level_add(a, "s2"), 0);
	assert_int_equal(keystore_rotate(a, "s2", &v), 0);
	assert_int_equal(keystore_open_files(&b, &fb, root, false, why, sizeof(why)), 0);
	assert_int_equal(keystore_kek(a, "s2", 2, ka), 0);
	assert_int_equal(keystore_kek(b, "s2", 2, kb), 0);
	assert_memory_equal(ka, kb, 32);
	assert_int_equal(keystore_shred(a, "s2", &nv), 0);
	assert_int_equal(nv, 2);
	assert_int_equal(keystore_level_reload(b, "s2"), 0);
	assert_int_equal(keystore_kek(b, "s2", 1, kb), CS_ENOENT);
	assert_int_equal(keystore_kek(b, "s2", 2, kb), CS_ENOENT);
	keystore_close(a);
	keystore_close(b);
	/* No key file of any version is left in the omap; the record is. */
	assert_int_equal(keystore_rados_files(&probe, io, OID), 0);
	assert_int_equal(probe.list(probe.arg, kek_cb, &kek_files), 0);
	assert_int_equal(kek_files, 0);
	assert_int_equal(probe.list(probe.arg, count_cb, &all), 0);
	assert_int_equal(all, 2); /* system.key and the level record */
	probe.close(probe.arg);
	/* A wrong root key does not open it. */
	root[0] ^= 1;
	assert_int_equal(keystore_rados_files(&fa, io, OID), 0);
	assert_int_equal(keystore_open_files(&a, &fa, root, false, why, sizeof(why)), CS_EAUTH);
	assert_int_equal(rados_remove(io, OID), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_files_ops),
		cmocka_unit_test(test_two_keystores),
	};

	if (getenv("CRYPTSTORE_CEPH_CONF") == NULL) {
		printf("1..0 # SKIP no cluster: set CRYPTSTORE_CEPH_CONF "
		       "(tests/rados/rados_test.sh)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
