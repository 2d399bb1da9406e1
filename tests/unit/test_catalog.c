/*
 * Unit tests for server/catalog (with objio, store and keystore for real,
 * on a temporary directory): buckets, the object index, S3 listing
 * semantics, and rebuilding the index from stored objects.
 */
#include "testutil.h"
#include "catalog.h"
#include "crypto/engine.h"
#include "keystore/keystore.h"
#include "objio.h"
#include "store/store.h"
#include "util/err.h"

#include <stdio.h>

static char base[64], data[96], keys[96], rootk[96];
static struct engine *eng;

static int
setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "/tmp/cs-cat-XXXXXX");
	if (mkdtemp(base) == NULL)
		return -1;
	snprintf(data, sizeof(data), "%s/data", base);
	snprintf(keys, sizeof(keys), "%s/keys", base);
	snprintf(rootk, sizeof(rootk), "%s/root.key", base);
	return engine_new(&eng, ENGINE_AUTO);
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	engine_free(eng);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

struct env {
	struct keystore *ks;
	struct store *st;
	struct catalog *cat;
};

static void
env_open(struct env *v)
{
	char why[256];
	uint64_t unreadable = 0;

	if (keystore_open(&v->ks, keys, rootk, true, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	assert_int_equal(store_fs_open(&v->st, data, STORE_SYNC_NONE), 0);
	if (catalog_open(&v->cat, v->st, v->ks, eng, &unreadable, why, sizeof(why)) != 0)
		fail_msg("%s", why);
	assert_int_equal(unreadable, 0);
}

static void
env_close(struct env *v)
{
	catalog_close(v->cat);
	store_close(v->st);
	keystore_close(v->ks);
}

static void
put_index(struct catalog *c, const char *bucket, const char *name)
{
	struct cat_object o;

	memset(&o, 0, sizeof(o));
	o.name = name;
	o.size = strlen(name);
	snprintf(o.etag, sizeof(o.etag), "\"x\"");
	assert_int_equal(catalog_object_put(c, bucket, &o), 0);
}

struct acc {
	char out[4096];
};

static void
acc_cb(void *arg, const struct cat_object *o, const char *cp)
{
	struct acc *a = arg;
	size_t n = strlen(a->out);

	snprintf(a->out + n, sizeof(a->out) - n, "%s%s ", o ? "" : "P:", o ? o->name : cp);
}

/* list: one page as text "name name P:prefix ..." plus "|more" when truncated. */
static void
list(struct catalog *c, const char *prefix, const char *delim, const char *after, unsigned max,
     char *out, size_t outsz, char **next)
{
	struct acc a = {""};
	bool trunc = false;

	assert_int_equal(
		catalog_list(c, "bk1", prefix, delim, after, max, acc_cb, &a, &trunc, next), 0);
	snprintf(out, outsz, "%s%s", a.out, trunc ? "|more" : "");
}

static void
test_buckets_and_listing(void **state)
{
	static const char *names[] = {"a/1", "a/2", "a/b/3", "b/1", "c", "c/", "d", "aa", "a"};
	struct env v;
	struct cat_bucket b;
	char out[4096], *next = NULL;

	(void)state;
	env_open(&v);
	assert_true(catalog_bucket_name_ok("my-bucket.1"));
	assert_false(catalog_bucket_name_ok("My-Bucket"));
	assert_false(catalog_bucket_name_ok("ab"));
	assert_false(catalog_bucket_name_ok("a..b"));
	assert_false(catalog_bucket_name_ok("-ab"));
	assert_int_equal(keystore_level_add(v.ks, "s1"), 0);
	assert_int_equal(catalog_bucket_create(v.cat, "bk1", "s1"), 0);
	assert_int_equal(catalog_bucket_create(v.cat, "bk1", "s1"), CS_EEXIST);
	assert_int_equal(catalog_bucket_create(v.cat, "b2", "not a label"), CS_EINVAL);
	assert_int_equal(catalog_bucket_get(v.cat, "bk1", &b), 0);
	assert_string_equal(b.label_text, "s1");
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		put_index(v.cat, "bk1", names[i]);
	assert_int_equal(catalog_object_count(v.cat, "bk1"), 9);
	list(v.cat, NULL, NULL, NULL, 1000, out, sizeof(out), &next);
	assert_string_equal(out, "a a/1 a/2 a/b/3 aa b/1 c c/ d ");
	list(v.cat, NULL, "/", NULL, 1000, out, sizeof(out), &next);
	assert_string_equal(out, "a P:a/ aa P:b/ c P:c/ d ");
	list(v.cat, "a/", "/", NULL, 1000, out, sizeof(out), &next);
	assert_string_equal(out, "a/1 a/2 P:a/b/ ");
	list(v.cat, "a", NULL, "a/1", 1000, out, sizeof(out), &next);
	assert_string_equal(out, "a/2 a/b/3 aa ");
	/* Pages of two with a delimiter: continuation skips a rolled-up prefix. */
	list(v.cat, NULL, "/", NULL, 2, out, sizeof(out), &next);
	assert_string_equal(out, "a P:a/ |more");
	assert_string_equal(next, "a/");
	{
		char *after = next, *n2 = NULL;

		list(v.cat, NULL, "/", after, 2, out, sizeof(out), &n2);
		assert_string_equal(out, "aa P:b/ |more");
		free(after);
		after = n2;
		list(v.cat, NULL, "/", after, 2, out, sizeof(out), &n2);
		assert_string_equal(out, "c P:c/ |more");
		free(after);
		after = n2;
		list(v.cat, NULL, "/", after, 2, out, sizeof(out), &n2);
		assert_string_equal(out, "d ");
		assert_null(n2);
		free(after);
	}
	list(v.cat, "zzz", NULL, NULL, 1000, out, sizeof(out), &next);
	assert_string_equal(out, "");
	list(v.cat, NULL, NULL, NULL, 0, out, sizeof(out), &next);
	assert_string_equal(out, "|more");
	free(next);
	assert_int_equal(catalog_bucket_delete(v.cat, "bk1"), CS_EEXIST);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		assert_int_equal(catalog_object_del(v.cat, "bk1", names[i]), 0);
	assert_int_equal(catalog_object_del(v.cat, "bk1", "a"), CS_ENOENT);
	assert_int_equal(catalog_bucket_delete(v.cat, "bk1"), 0);
	assert_int_equal(catalog_bucket_get(v.cat, "bk1", &b), CS_ENOENT);
	env_close(&v);
}

static void
test_index_rebuilt_from_objects(void **state)
{
	struct env v;
	struct cat_bucket b;
	struct cat_object o;
	struct objio_ctx x;
	struct objio_wr *w;
	struct objmeta m;
	char okey[CATALOG_OKEY_LEN + 1], okey2[CATALOG_OKEY_LEN + 1];
	uint8_t md5[16];

	(void)state;
	env_open(&v);
	assert_int_equal(keystore_level_add(v.ks, "s2:c1"), 0);
	assert_int_equal(catalog_bucket_create(v.cat, "persist", "s2:c1"), 0);
	assert_int_equal(catalog_bucket_get(v.cat, "persist", &b), 0);
	memset(&x, 0, sizeof(x));
	x.st = v.st;
	x.ks = v.ks;
	x.e = eng;
	x.suite = suite_default();
	x.chunk = 4096;
	memset(&m, 0, sizeof(m));
	m.name = (char *)(uintptr_t) "photos/2026/cat.jpg";
	m.ctype = (char *)(uintptr_t) "image/jpeg";
	m.mtime_ms = 1000;
	catalog_object_key(v.cat, &b, m.name, okey);
	/* Keys are keyed hashes: stable for a name, different for other names. */
	catalog_object_key(v.cat, &b, m.name, okey2);
	assert_string_equal(okey, okey2);
	catalog_object_key(v.cat, &b, "photos/2026/dog.jpg", okey2);
	assert_string_not_equal(okey, okey2);
	assert_null(strstr(okey, "cat"));
	assert_int_equal(objio_create(&x, &b, okey, &m, 10000, OBJIO_MD5, &w), 0);
	for (int i = 0; i < 10; i++)
		assert_int_equal(objio_write(w, "0123456789", 10), 0);
	assert_int_equal(objio_finish(w, 0, NULL, md5, NULL, NULL), 0);
	assert_int_equal(objio_commit(w), 0);
	env_close(&v);
	/* A new catalogue finds the bucket and rebuilds the index from the object. */
	env_open(&v);
	assert_int_equal(catalog_object_get(v.cat, "persist", "photos/2026/cat.jpg", &o), 0);
	assert_int_equal(o.size, 100);
	assert_string_equal(o.ctype, "image/jpeg");
	assert_int_equal(o.mtime_ms, 1000);
	assert_int_equal(strlen(o.etag), 34);
	env_close(&v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buckets_and_listing),
		cmocka_unit_test(test_index_rebuilt_from_objects),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
