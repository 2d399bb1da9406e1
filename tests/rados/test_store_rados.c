/*
 * Unit tests for the RADOS backend of store, against a live cluster (one
 * started by tools/ceph-dev.sh: tests/rados/rados_test.sh does it).  The
 * cluster comes from CRYPTSTORE_CEPH_CONF, _USER, _KEYRING and _POOL; with
 * no CRYPTSTORE_CEPH_CONF the whole program is skipped.  Each run works in
 * a RADOS namespace of its own and checks, besides what test_store checks
 * of the filesystem backend, what lies in the pool: that aborted, crashed,
 * replaced and deleted objects leave no RADOS object behind.  And the
 * store-wide locks: exclusion between threads and stores (front-ends),
 * waits that end, leases that run out, renewals that notice it.
 */
#include "testutil.h"
#include "store/store.h"
#include "util/err.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <rados/librados.h>

static char nspace[64], base_ns[48];
static int ns_seq;
static rados_t cl;
static rados_ioctx_t io;

/* cfg: the cluster of the environment, this run's namespace, and the knobs. */
static struct store_rados_cfg
cfg(uint32_t su, int gc_grace, int stale_after)
{
	struct store_rados_cfg c = {
		.conf = getenv("CRYPTSTORE_CEPH_CONF"),
		.user = getenv("CRYPTSTORE_CEPH_USER"),
		.keyring = getenv("CRYPTSTORE_CEPH_KEYRING"),
		.pool = getenv("CRYPTSTORE_CEPH_POOL"),
		.nspace = nspace,
		.stripe_unit = su,
		.gc_grace = gc_grace,
		.stale_after = stale_after,
		.op_timeout = 20,
	};

	if (c.pool == NULL)
		c.pool = "cryptstore";
	return c;
}

/* open_store_lease: a store whose locks last lease seconds (0: the default). */
static struct store *
open_store_lease(uint32_t su, int gc_grace, int stale_after, int lease)
{
	struct store_rados_cfg c = cfg(su, gc_grace, stale_after);
	struct store *s = NULL;
	char why[256] = "";
	int rc;

	c.lock_lease = lease;
	rc = store_rados_open(&s, &c, why, sizeof(why));

	if (rc != 0)
		fprintf(stderr, "# store_rados_open: %d %s\n", rc, why);
	assert_int_equal(rc, 0);
	return s;
}

static struct store *
open_store(uint32_t su, int gc_grace, int stale_after)
{
	return open_store_lease(su, gc_grace, stale_after, 0);
}

static int
setup(void **state)
{
	struct store_rados_cfg c = cfg(0, 0, 0);
	const char *user = c.user != NULL ? c.user : "client.admin";

	(void)state;
	snprintf(base_ns, sizeof(base_ns), "test-%ld-%d", (long)time(NULL), (int)getpid());
	if (rados_create2(&cl, "ceph", user, 0) != 0 || rados_conf_read_file(cl, c.conf) != 0 ||
	    (c.keyring != NULL && rados_conf_set(cl, "keyring", c.keyring) != 0) ||
	    rados_connect(cl) != 0 || rados_ioctx_create(cl, c.pool, &io) != 0)
		return -1;
	return 0;
}

/* fresh_ns: every test case in a RADOS namespace of its own, so that what
 * one leaves behind after a failure does not fail the next. */
static int
fresh_ns(void **state)
{
	(void)state;
	snprintf(nspace, sizeof(nspace), "%s-%d", base_ns, ++ns_seq);
	rados_ioctx_set_namespace(io, nspace);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	rados_ioctx_destroy(io);
	rados_shutdown(cl);
	return 0;
}

/* count_objects: RADOS objects of this run's namespace whose name starts with prefix. */
static int
count_objects(const char *prefix)
{
	rados_list_ctx_t ctx;
	const char *e, *k, *ns;
	size_t el, kl, nl;
	int n = 0;

	assert_int_equal(rados_nobjects_list_open(io, &ctx), 0);
	while (rados_nobjects_list_next2(ctx, &e, &k, &ns, &el, &kl, &nl) == 0)
		if (el >= strlen(prefix) && memcmp(e, prefix, strlen(prefix)) == 0)
			n++;
	rados_nobjects_list_close(ctx);
	return n;
}

/* count_keys: omap keys of a space's index starting with prefix. */
static int
count_keys(const char *space, const char *prefix)
{
	rados_read_op_t op = rados_create_read_op();
	rados_omap_iter_t it;
	unsigned char more = 0;
	char oid[160], *k, *v;
	size_t kl, vl;
	int prval = 0, n = 0;

	snprintf(oid, sizeof(oid), "cs.i.%s", space);
	rados_read_op_omap_get_vals2(op, "", prefix, 10000, &it, &more, &prval);
	assert_int_equal(rados_read_op_operate(op, io, oid, 0), 0);
	while (rados_omap_get_next2(it, &k, &v, &kl, &vl) == 0 && k != NULL)
		n++;
	rados_omap_get_end(it);
	rados_release_read_op(op);
	return n;
}

static void
put(struct store *s, const char *space, const char *key, const char *data)
{
	struct store_wr *w;
	struct iovec iov = {(void *)(uintptr_t)data, strlen(data)};

	assert_int_equal(store_put_begin(s, space, key, strlen(data) + 100, &w), 0);
	assert_int_equal(store_wr_write(w, 0, &iov, 1), 0);
	assert_int_equal(store_wr_commit(w), 0);
}

static void
expect(struct store *s, const char *space, const char *key, const char *data)
{
	struct store_rd *r;
	char buf[256] = {0};
	struct iovec iov = {buf, sizeof(buf) - 1};

	assert_int_equal(store_get(s, space, key, &r), 0);
	assert_int_equal(store_rd_size(r), strlen(data));
	assert_int_equal(store_rd_read(r, 0, &iov, 1), (long)strlen(data));
	assert_string_equal(buf, data);
	store_rd_close(r);
}

static int
count_cb(void *arg, const char *key, uint64_t size)
{
	(void)key;
	(void)size;
	(*(int *)arg)++;
	return 0;
}

static void
test_put_get_replace_delete(void **state)
{
	struct store *s;
	struct store_rd *r, *old;
	char buf[64] = {0};
	struct iovec iov = {buf, sizeof(buf)};
	int n = 0;

	(void)state;
	s = open_store(0, -1, 0);
	assert_int_equal(store_space_create(s, "b1"), 0);
	assert_int_equal(store_space_create(s, "b1"), CS_EEXIST);
	put(s, "b1", "k1", "first version");
	expect(s, "b1", "k1", "first version");
	assert_int_equal(count_objects("cs.d."), 1);
	/* A reader that opened the old object keeps reading it after a replace... */
	assert_int_equal(store_get(s, "b1", "k1", &old), 0);
	put(s, "b1", "k1", "second, longer version");
	expect(s, "b1", "k1", "second, longer version");
	assert_int_equal(store_rd_size(old), strlen("first version"));
	assert_int_equal(store_rd_read(old, 6, &iov, 1), (long)strlen("version"));
	assert_memory_equal(buf, "version", 7);
	assert_int_equal(count_objects("cs.d."), 2);
	/* ...and its data goes with the last reader (no grace configured). */
	store_rd_close(old);
	assert_int_equal(count_objects("cs.d."), 1);
	assert_int_equal(count_keys("b1", "!"), 0);
	assert_int_equal(store_list(s, "b1", count_cb, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_rename(s, "b1", "k1", "k2"), 0);
	assert_int_equal(store_get(s, "b1", "k1", &r), CS_ENOENT);
	assert_int_equal(store_rename(s, "b1", "k1", "k2"), CS_ENOENT);
	expect(s, "b1", "k2", "second, longer version");
	/* A rename onto an existing key replaces it (and drops its data). */
	put(s, "b1", "k3", "third");
	assert_int_equal(count_objects("cs.d."), 2);
	assert_int_equal(store_rename(s, "b1", "k3", "k2"), 0);
	expect(s, "b1", "k2", "third");
	assert_int_equal(count_objects("cs.d."), 1);
	assert_int_equal(store_space_remove(s, "b1"), CS_EEXIST);
	assert_int_equal(store_delete(s, "b1", "k2"), 0);
	assert_int_equal(store_delete(s, "b1", "k2"), CS_ENOENT);
	assert_int_equal(count_objects("cs.d."), 0);
	assert_int_equal(store_space_remove(s, "b1"), 0);
	assert_int_equal(store_get(s, "b1", "k2", &r), CS_ENOENT);
	assert_int_equal(store_space_remove(s, "b1"), CS_ENOENT);
	assert_int_equal(count_objects("cs.i."), 0);
	store_close(s);
}

static void
test_abort_and_crash_leave_nothing(void **state)
{
	struct store *s, *s2;
	struct store_wr *w, *crashed;
	struct store_rd *r;
	struct iovec iov = {(void *)(uintptr_t) "partial", 7};

	(void)state;
	s = open_store(0, -1, 0);
	assert_int_equal(store_space_create(s, "b2"), 0);
	put(s, "b2", "keep", "committed");
	/* An aborted write is invisible and leaves no RADOS object nor entry. */
	assert_int_equal(store_put_begin(s, "b2", "keep", 0, &w), 0);
	assert_int_equal(store_wr_write(w, 0, &iov, 1), 0);
	assert_int_equal(count_objects("cs.d."), 2);
	store_wr_abort(w);
	expect(s, "b2", "keep", "committed");
	assert_int_equal(count_objects("cs.d."), 1);
	assert_int_equal(count_keys("b2", "!"), 0);
	/* A write in progress at a "crash" (never committed nor aborted)... */
	assert_int_equal(store_put_begin(s, "b2", "keep", 0, &crashed), 0);
	assert_int_equal(store_wr_write(crashed, 0, &iov, 1), 0);
	assert_int_equal(count_objects("cs.d."), 2);
	assert_int_equal(count_keys("b2", "!p."), 1);
	expect(s, "b2", "keep", "committed");
	/* ...is left alone by an open that does not consider it stale yet... */
	s2 = open_store(0, -1, 0);
	assert_int_equal(count_objects("cs.d."), 2);
	store_close(s2);
	/* ...and swept by one that does. */
	s2 = open_store(0, -1, -1);
	assert_int_equal(count_objects("cs.d."), 1);
	assert_int_equal(count_keys("b2", "!"), 0);
	expect(s2, "b2", "keep", "committed");
	store_close(s2);
	/* The crashed writer's commit now fails and changes nothing. */
	assert_int_equal(store_wr_commit(crashed), CS_EIO);
	expect(s, "b2", "keep", "committed");
	assert_int_equal(count_objects("cs.d."), 1);
	assert_int_equal(store_get(s, "nospace", "k", &r), CS_ENOENT);
	assert_int_equal(store_put_begin(s, "nospace", "k", 0, &w), CS_ENOENT);
	/* A space removed under a writer: its data goes, its commit fails. */
	assert_int_equal(store_space_create(s, "b2x"), 0);
	assert_int_equal(store_put_begin(s, "b2x", "k", 0, &w), 0);
	assert_int_equal(store_wr_write(w, 0, &iov, 1), 0);
	assert_int_equal(store_space_remove(s, "b2x"), 0);
	assert_int_equal(store_wr_commit(w), CS_EIO);
	assert_int_equal(store_space_purge(s, "b2"), 0);
	assert_int_equal(count_objects("cs."), 1); /* the registry of spaces only */
	store_close(s);
}

static void
test_out_of_order_writes(void **state)
{
	struct store *s;
	struct store_wr *w;
	struct iovec a = {(void *)(uintptr_t) "BBBB", 4},
		     b[2] = {{(void *)(uintptr_t) "AA", 2}, {(void *)(uintptr_t) "AA", 2}};

	(void)state;
	s = open_store(0, -1, 0);
	assert_int_equal(store_space_create(s, "b3"), 0);
	assert_int_equal(store_put_begin(s, "b3", "k", 8, &w), 0);
	assert_int_equal(store_wr_write(w, 4, &a, 1), 0); /* the second half first */
	assert_int_equal(store_wr_write(w, 0, b, 2), 0);
	assert_int_equal(store_wr_commit(w), 0);
	expect(s, "b3", "k", "AAAABBBB");
	/* An empty object. */
	assert_int_equal(store_put_begin(s, "b3", "empty", 0, &w), 0);
	assert_int_equal(store_wr_commit(w), 0);
	expect(s, "b3", "empty", "");
	assert_int_equal(store_space_purge(s, "b3"), 0);
	store_close(s);
}

#define BIG    (1u << 20)
#define SU     4096u
#define PIECE  3000u
#define NTHR   4
#define BIGKEY "big"

struct wargs {
	struct store_wr *w;
	const uint8_t *data;
	int idx;
	int rc;
};

/* writer: every NTHR-th piece of the object, each split over two iovecs. */
static void *
writer(void *arg)
{
	struct wargs *a = arg;

	a->rc = 0;
	for (uint32_t off = (uint32_t)a->idx * PIECE; off < BIG && a->rc == 0;
	     off += NTHR * PIECE) {
		uint32_t n = BIG - off < PIECE ? BIG - off : PIECE, h = n / 3;
		struct iovec iov[2] = {{(void *)(uintptr_t)(a->data + off), h},
				       {(void *)(uintptr_t)(a->data + off + h), n - h}};

		a->rc = store_wr_write(a->w, off, iov, 2);
	}
	return NULL;
}

static void
test_striped_concurrent(void **state)
{
	uint8_t *data = malloc(BIG), *back = malloc(BIG + 100);
	uint64_t seed = 42;
	pthread_t t[NTHR];
	struct wargs a[NTHR];
	struct store *s, *other;
	struct store_wr *w;
	struct store_rd *r;

	(void)state;
	assert_non_null(data);
	assert_non_null(back);
	tu_fill(&seed, data, BIG);
	/* A small stripe unit: 256 RADOS objects; no size hint: the pending
	 * entry's count is raised as the writers go. */
	s = open_store(SU, -1, 0);
	assert_int_equal(store_space_create(s, "b5"), 0);
	assert_int_equal(store_put_begin(s, "b5", BIGKEY, 0, &w), 0);
	for (int i = 0; i < NTHR; i++) {
		a[i] = (struct wargs){.w = w, .data = data, .idx = i};
		assert_int_equal(pthread_create(&t[i], NULL, writer, &a[i]), 0);
	}
	for (int i = 0; i < NTHR; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(a[i].rc, 0);
	}
	assert_int_equal(store_wr_commit(w), 0);
	assert_int_equal(count_objects("cs.d."), BIG / SU);
	/* Read through another store (another front-end), at many offsets and
	 * lengths, across stripes, to and past the end. */
	other = open_store(0, -1, 0);
	assert_int_equal(store_get(other, "b5", BIGKEY, &r), 0);
	assert_int_equal(store_rd_size(r), BIG);
	{
		struct iovec iov = {back, BIG + 100};

		assert_int_equal(store_rd_read(r, 0, &iov, 1), (long)BIG);
		assert_memory_equal(back, data, BIG);
	}
	for (int i = 0; i < 200; i++) {
		uint64_t off = tu_rand(&seed) % (BIG + 10), len = tu_rand(&seed) % (3 * SU) + 1;
		uint64_t want = off >= BIG ? 0 : (BIG - off < len ? BIG - off : len), h = len / 2;
		struct iovec iov[3] = {{back, h}, {back + h, 0}, {back + h, len - h}};

		assert_int_equal(store_rd_read(r, off, iov, 3), (long)want);
		if (want > 0)
			assert_memory_equal(back, data + off, want);
	}
	store_rd_close(r);
	/* Holes read as zeros; the stripes in between exist (empty). */
	{
		struct iovec iov = {data, 100};
		uint64_t hole = 5 * SU + 17;

		assert_int_equal(store_put_begin(s, "b5", "holes", 0, &w), 0);
		assert_int_equal(store_wr_write(w, 0, &iov, 1), 0);
		assert_int_equal(store_wr_write(w, hole, &iov, 1), 0);
		assert_int_equal(store_wr_commit(w), 0);
		assert_int_equal(store_get(other, "b5", "holes", &r), 0);
		assert_int_equal(store_rd_size(r), hole + 100);
		iov.iov_base = back;
		iov.iov_len = BIG;
		assert_int_equal(store_rd_read(r, 0, &iov, 1), (long)(hole + 100));
		assert_memory_equal(back, data, 100);
		for (uint64_t i = 100; i < hole; i++)
			assert_int_equal(back[i], 0);
		assert_memory_equal(back + hole, data, 100);
		store_rd_close(r);
	}
	assert_int_equal(store_space_purge(s, "b5"), 0);
	assert_int_equal(count_objects("cs.d."), 0);
	store_close(other);
	store_close(s);
	free(data);
	free(back);
}

struct cargs {
	struct store *s;
	int idx, rc;
};

/* committer: 20 replaces of one key, racing another store doing the same. */
static void *
committer(void *arg)
{
	struct cargs *a = arg;

	for (int i = 0; i < 20 && a->rc == 0; i++) {
		char v[32];
		struct store_wr *w;
		struct iovec iov = {
			v, (size_t)snprintf(v, sizeof(v), "writer %d round %d", a->idx, i)};

		if ((a->rc = store_put_begin(a->s, "b6", "hot", 0, &w)) == 0 &&
		    (a->rc = store_wr_write(w, 0, &iov, 1)) == 0)
			a->rc = store_wr_commit(w);
	}
	return NULL;
}

static void
test_concurrent_commits(void **state)
{
	struct cargs a[2];
	pthread_t t[2];

	(void)state;
	a[0] = (struct cargs){.s = open_store(0, -1, 0), .idx = 0};
	a[1] = (struct cargs){.s = open_store(0, -1, 0), .idx = 1};
	assert_int_equal(store_space_create(a[0].s, "b6"), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, committer, &a[i]), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(a[i].rc, 0);
	}
	/* Every replaced version was tracked and dropped: one object is left. */
	assert_int_equal(count_objects("cs.d."), 1);
	assert_int_equal(count_keys("b6", "!"), 0);
	/* Whichever commit came last: one writer's last round, whole. */
	{
		struct store_rd *r;
		char buf[64] = {0};
		struct iovec iov = {buf, sizeof(buf) - 1};

		assert_int_equal(store_get(a[1].s, "b6", "hot", &r), 0);
		assert_true(store_rd_read(r, 0, &iov, 1) > 0);
		store_rd_close(r);
		assert_true(strcmp(buf, "writer 0 round 19") == 0 ||
			    strcmp(buf, "writer 1 round 19") == 0);
	}
	assert_int_equal(store_space_purge(a[0].s, "b6"), 0);
	store_close(a[0].s);
	store_close(a[1].s);
}

struct lst {
	char prev[STORE_NAME_MAX + 1];
	int n, stop;
	bool ordered;
};

static int
list_cb(void *arg, const char *key, uint64_t size)
{
	struct lst *l = arg;

	if (strcmp(key, l->prev) <= 0 || size != strlen(key))
		l->ordered = false;
	snprintf(l->prev, sizeof(l->prev), "%s", key);
	return ++l->n == l->stop ? 7 : 0;
}

static void
test_list_in_name_order(void **state)
{
	struct store *s;
	struct lst l = {.ordered = true};

	(void)state;
	s = open_store(0, -1, 0);
	assert_int_equal(store_space_create(s, "b7"), 0);
	/* More keys than one omap page, in a scrambled order; names that sort
	 * first ('-', '0', '_'); the value of each is its name. */
	for (int i = 0; i < 300; i++) {
		char k[32];

		snprintf(k, sizeof(k), "%c%03d", "-0_az"[i % 5], (i * 7919) % 1000);
		put(s, "b7", k, k);
	}
	/* A write in progress is not listed. */
	{
		struct store_wr *w;

		assert_int_equal(store_put_begin(s, "b7", "pending", 0, &w), 0);
		assert_int_equal(store_list(s, "b7", list_cb, &l), 0);
		store_wr_abort(w);
	}
	assert_true(l.ordered);
	assert_int_equal(l.n, 300);
	memset(&l, 0, sizeof(l));
	l.stop = 10;
	assert_int_equal(store_list(s, "b7", list_cb, &l), 7);
	assert_int_equal(l.n, 10);
	assert_int_equal(store_list(s, "nospace", list_cb, &l), CS_ENOENT);
	assert_int_equal(store_space_purge(s, "b7"), 0);
	assert_int_equal(count_objects("cs.d."), 0);
	store_close(s);
}

static void
test_names_and_config(void **state)
{
	struct store_rados_cfg c = cfg(0, 0, 0);
	struct store *s;
	struct store_wr *w;
	char why[256];

	(void)state;
	s = open_store(0, -1, 0);
	assert_int_equal(store_put_begin(s, "..", "k", 0, &w), CS_EINVAL);
	assert_int_equal(store_put_begin(s, "x", "../../etc/passwd", 0, &w), CS_EINVAL);
	assert_int_equal(store_space_create(s, "a/b"), CS_EINVAL);
	assert_int_equal(store_space_create(s, "!p.x"), CS_EINVAL);
	store_close(s);
	/* Bad configurations fail with a reason. */
	c.pool = NULL;
	assert_int_equal(store_rados_open(&s, &c, why, sizeof(why)), CS_EINVAL);
	assert_null(s);
	assert_non_null(strstr(why, "pool"));
	c = cfg(100, 0, 0);
	assert_int_equal(store_rados_open(&s, &c, why, sizeof(why)), CS_EINVAL);
	c = cfg(0, 0, 0);
	c.pool = "no-such-pool";
	why[0] = '\0';
	assert_int_equal(store_rados_open(&s, &c, why, sizeof(why)), CS_EIO);
	assert_non_null(strstr(why, "no-such-pool"));
	c = cfg(0, 0, 0);
	c.user = "client.nobody";
	why[0] = '\0';
	assert_int_equal(store_rados_open(&s, &c, why, sizeof(why)), CS_EIO);
	assert_non_null(strstr(why, "client.nobody"));
}

/* put_journal: the redo journal store_rados documents, for key of space,
 * naming version ver (16 bytes); torn: one byte short. */
static void
put_journal(const char *space, const char *key, const uint8_t *ver, uint64_t off, const char *data,
	    const char *check, bool torn)
{
	uint8_t b[256];
	size_t n = strlen(data), c = strlen(check), l = 44 + c + n;
	char oid[160], jk[160];
	const char *keys[1] = {jk};
	const char *vals[1] = {(const char *)b};
	size_t lens[1] = {torn ? l - 1 : l};

	memcpy(b, "CSJ1", 4);
	memcpy(b + 4, ver, 16);
	for (int i = 0; i < 8; i++) {
		b[20 + i] = (uint8_t)(off >> (56 - 8 * i));
		b[32 + i] = 0; /* coff = 0 */
	}
	for (int i = 0; i < 4; i++) {
		b[28 + i] = (uint8_t)(n >> (24 - 8 * i));
		b[40 + i] = (uint8_t)(c >> (24 - 8 * i));
	}
	memcpy(b + 44, check, c);
	memcpy(b + 44 + c, data, n);
	snprintf(oid, sizeof(oid), "cs.i.%s", space);
	snprintf(jk, sizeof(jk), "!j.%s", key);
	rados_write_op_t op = rados_create_write_op();

	rados_write_op_omap_set(op, keys, vals, lens, 1);
	assert_int_equal(rados_write_op_operate(op, io, oid, NULL, 0), 0);
	rados_release_write_op(op);
}

/* live_ver: the version the index maps key to. */
static void
live_ver(const char *space, const char *key, uint8_t *ver)
{
	rados_read_op_t op = rados_create_read_op();
	rados_omap_iter_t it;
	const char *keys[1] = {key};
	char oid[160], *k, *v;
	size_t kl, vl;
	int prval = 0;

	snprintf(oid, sizeof(oid), "cs.i.%s", space);
	rados_read_op_omap_get_vals_by_keys(op, keys, 1, &it, &prval);
	assert_int_equal(rados_read_op_operate(op, io, oid, 0), 0);
	assert_int_equal(rados_omap_get_next2(it, &k, &v, &kl, &vl), 0);
	assert_non_null(k);
	assert_int_equal(vl, 32);
	memcpy(ver, v + 4, 16);
	rados_omap_get_end(it);
	rados_release_read_op(op);
}

static void
test_rewrite_in_place(void **state)
{
	static const char obj[] = "ID01-header-v1-chunks-and-more-bytes-after-them";
	uint8_t ver[16], other[16] = {1};
	struct store *s;

	(void)state;
	/* Stripes of 4096 bytes: the object spans two, header in the first. */
	s = open_store(SU, -1, 0);
	assert_int_equal(store_space_create(s, "sp"), 0);
	{
		char big[SU + 100];
		struct store_wr *w;
		struct iovec iov = {big, sizeof(big)};

		memset(big, '.', sizeof(big));
		memcpy(big, obj, strlen(obj));
		assert_int_equal(store_put_begin(s, "sp", "obj", sizeof(big), &w), 0);
		assert_int_equal(store_wr_write(w, 0, &iov, 1), 0);
		assert_int_equal(store_wr_commit(w), 0);
	}
	/* Within one stripe: one checked operation. */
	assert_int_equal(store_rewrite(s, "sp", "obj", 5, (const uint8_t *)"HEADER-V2", 9, 0,
				       (const uint8_t *)"ID01", 4),
			 0);
	/* The object was replaced meanwhile (another id): left alone. */
	assert_int_equal(store_rewrite(s, "sp", "obj", 5, (const uint8_t *)"XXXXXXXXX", 9, 0,
				       (const uint8_t *)"ID02", 4),
			 CS_EEXIST);
	assert_int_equal(store_rewrite(s, "sp", "none", 0, (const uint8_t *)"x", 1, 0, NULL, 0),
			 CS_ENOENT);
	assert_int_equal(store_rewrite(s, "sp", "obj", 0, (const uint8_t *)"x", 0, 0, NULL, 0),
			 CS_EINVAL);
	/* Past the end: refused (the size lives in the index). */
	assert_int_equal(
		store_rewrite(s, "sp", "obj", SU + 99, (const uint8_t *)"xy", 2, 0, NULL, 0),
		CS_EINVAL);
	/* Across the stripe boundary, checked in the first stripe: the journal. */
	assert_int_equal(store_rewrite(s, "sp", "obj", SU - 3, (const uint8_t *)"ACROSS", 6, 0,
				       (const uint8_t *)"ID01", 4),
			 0);
	assert_int_equal(store_rewrite(s, "sp", "obj", SU - 3, (const uint8_t *)"NOPE!!", 6, 0,
				       (const uint8_t *)"ID07", 4),
			 CS_EEXIST);
	assert_int_equal(count_keys("sp", "!"), 0);
	{
		struct store_rd *r;
		char buf[SU + 100];
		struct iovec iov = {buf, sizeof(buf)};

		assert_int_equal(store_get(s, "sp", "obj", &r), 0);
		assert_int_equal(store_rd_read(r, 0, &iov, 1), (long)sizeof(buf));
		assert_memory_equal(buf, "ID01-HEADER-V2-chunks", 21);
		assert_memory_equal(buf + SU - 4, ".ACROSS.", 8);
		store_rd_close(r);
	}
	store_close(s);
	/* A crash after the journal was set: the next open applies it... */
	live_ver("sp", "obj", ver);
	put_journal("sp", "obj", ver, 5, "header-v3", "ID01", false);
	s = open_store(SU, -1, 0);
	assert_int_equal(count_keys("sp", "!j."), 0);
	{
		struct store_rd *r;
		char buf[32] = {0};
		struct iovec iov = {buf, 21};

		assert_int_equal(store_get(s, "sp", "obj", &r), 0);
		assert_int_equal(store_rd_read(r, 0, &iov, 1), 21);
		assert_string_equal(buf, "ID01-header-v3-chunks");
		store_rd_close(r);
	}
	store_close(s);
	/* ...a torn one is dropped, so is one for another version or other bytes. */
	put_journal("sp", "obj", ver, 5, "HEADER-V4", "ID01", true);
	s = open_store(SU, -1, 0);
	assert_int_equal(count_keys("sp", "!j."), 0);
	store_close(s);
	put_journal("sp", "obj", other, 5, "HEADER-V5", "ID01", false);
	s = open_store(SU, -1, 0);
	store_close(s);
	put_journal("sp", "obj", ver, 5, "HEADER-V6", "ID09", false);
	s = open_store(SU, -1, 0);
	assert_int_equal(count_keys("sp", "!j."), 0);
	{
		struct store_rd *r;
		char buf[32] = {0};
		struct iovec iov = {buf, 21};

		assert_int_equal(store_get(s, "sp", "obj", &r), 0);
		assert_int_equal(store_rd_read(r, 0, &iov, 1), 21);
		assert_string_equal(buf, "ID01-header-v3-chunks");
		store_rd_close(r);
	}
	assert_int_equal(store_space_purge(s, "sp"), 0);
	store_close(s);
}

static void
test_two_frontends_and_grace(void **state)
{
	struct store *a, *b;
	struct store_rd *r;

	(void)state;
	/* b keeps replaced data for a second, for readers on other front-ends. */
	a = open_store(0, -1, 0);
	b = open_store(0, 1, 0);
	assert_int_equal(store_space_create(a, "b8"), 0);
	put(a, "b8", "k", "from a");
	expect(b, "b8", "k", "from a");
	assert_int_equal(store_get(a, "b8", "k", &r), 0);
	put(b, "b8", "k", "from b");
	expect(a, "b8", "k", "from b");
	/* a's reader of the old object, on another front-end: the grace covers it. */
	{
		char buf[16] = {0};
		struct iovec iov = {buf, sizeof(buf)};

		assert_int_equal(store_rd_read(r, 0, &iov, 1), 6);
		assert_string_equal(buf, "from a");
	}
	assert_int_equal(count_objects("cs.d."), 2);
	assert_int_equal(count_keys("b8", "!g."), 1);
	/* Past the grace, the next commit through b drops it: the reader that
	 * outlived the grace gets an error, never zeros. */
	sleep(2);
	put(b, "b8", "k2", "x");
	assert_int_equal(count_objects("cs.d."), 2);
	assert_int_equal(count_keys("b8", "!"), 0);
	{
		char buf[16];
		struct iovec iov = {buf, sizeof(buf)};

		assert_int_equal(store_rd_read(r, 0, &iov, 1), CS_EIO);
	}
	store_rd_close(r);
	assert_int_equal(store_delete(b, "b8", "k"), 0);
	assert_int_equal(store_get(a, "b8", "k", &r), CS_ENOENT);
	assert_int_equal(store_space_purge(a, "b8"), 0);
	assert_int_equal(count_objects("cs.d."), 0);
	store_close(a);
	store_close(b);
}

static double
mono(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

struct lockarg {
	struct store *s;
	unsigned wait_ms;
	int rc, err;
	double waited;
	struct store_lock *l;
};

static void *
locker(void *arg)
{
	struct lockarg *a = arg;
	double t0 = mono();

	a->rc = store_lock(a->s, "cat", a->wait_ms, &a->l);
	a->err = errno;
	a->waited = mono() - t0;
	return NULL;
}

static void
test_lock_exclusion_and_waits(void **state)
{
	struct store *a, *b;
	struct store_lock *la, *lb, *lx;
	struct lockarg w;
	pthread_t t;
	double t0;

	(void)state;
	a = open_store(0, -1, 0);
	b = open_store(0, -1, 0);
	/* Names are store names. */
	assert_int_equal(store_lock(a, "a/b", 100, &lx), CS_EINVAL);
	assert_null(lx);
	assert_int_equal(store_lock(a, "", 100, &lx), CS_EINVAL);
	assert_int_equal(store_lock(a, ".x", 100, &lx), CS_EINVAL);
	assert_int_equal(store_unlock(NULL), 0);
	assert_int_equal(store_lock(a, "cat", 0, &la), 0);
	assert_non_null(la);
	assert_int_equal(count_objects("cs.lock."), 1);
	/* Another front-end waits as long as it was told, then gives up. */
	t0 = mono();
	assert_int_equal(store_lock(b, "cat", 300, &lb), CS_EIO);
	assert_int_equal(errno, ETIMEDOUT);
	assert_null(lb);
	assert_true(mono() - t0 >= 0.29);
	/* So does another thread of the same store: not reentrant. */
	assert_int_equal(store_lock(a, "cat", 200, &lx), CS_EIO);
	assert_int_equal(errno, ETIMEDOUT);
	/* Another name is another lock. */
	assert_int_equal(store_lock(b, "other", 0, &lb), 0);
	assert_int_equal(store_unlock(lb), 0);
	assert_int_equal(store_lock_renew(la), 0);
	/* A waiter gets the lock once it is released. */
	w = (struct lockarg){.s = b, .wait_ms = 60000};
	assert_int_equal(pthread_create(&t, NULL, locker, &w), 0);
	usleep(300000);
	assert_int_equal(store_unlock(la), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.rc, 0);
	assert_true(w.waited >= 0.25);
	/* Now a's attempt waits for b. */
	assert_int_equal(store_lock(a, "cat", 200, &lx), CS_EIO);
	assert_int_equal(store_unlock(w.l), 0);
	assert_int_equal(store_lock(a, "cat", 200, &la), 0);
	assert_int_equal(store_unlock(la), 0);
	store_close(a);
	store_close(b);
}

static void
test_lock_lease_runs_out(void **state)
{
	struct store *dead, *b;
	struct store_lock *ld, *lb;
	double t0;

	(void)state;
	/* A holder with a 2 s lease that never comes back (a front-end that
	 * died holding the lock): the other waits for the lease, not forever. */
	dead = open_store_lease(0, -1, 0, 2);
	b = open_store_lease(0, -1, 0, 2);
	assert_int_equal(store_lock(dead, "cat", 0, &ld), 0);
	t0 = mono();
	assert_int_equal(store_lock(b, "cat", 0, &lb), 0);
	assert_true(mono() - t0 >= 1.0);
	/* The old holder's renewal and release see that it is not theirs. */
	assert_int_equal(store_lock_renew(ld), CS_EIO);
	assert_int_equal(errno, ENOLCK);
	assert_int_equal(store_unlock(ld), CS_EIO);
	assert_int_equal(errno, ENOLCK);
	/* ...and did not release b's. */
	assert_int_equal(store_lock(dead, "cat", 200, &ld), CS_EIO);
	assert_int_equal(errno, ETIMEDOUT);
	/* A renewed lease lasts a whole lease from the renewal. */
	sleep(1);
	assert_int_equal(store_lock_renew(lb), 0);
	sleep(1);
	assert_int_equal(store_lock_renew(lb), 0);
	assert_int_equal(store_lock(dead, "cat", 500, &ld), CS_EIO);
	assert_int_equal(store_unlock(lb), 0);
	store_close(dead);
	store_close(b);
}

#define CTR_THREADS 3
#define CTR_ROUNDS  8

struct ctrarg {
	struct store *s;
	int rc;
};

/* bump: a read-modify-write of the object "ctr" under the lock. */
static void *
bump(void *arg)
{
	struct ctrarg *a = arg;

	for (int i = 0; i < CTR_ROUNDS && a->rc == 0; i++) {
		struct store_lock *l;
		struct store_rd *r;
		struct store_wr *w = NULL;
		char buf[32] = {0};
		struct iovec iov = {buf, sizeof(buf) - 1};
		long n = 0;

		if ((a->rc = store_lock(a->s, "ctr", 0, &l)) != 0)
			break;
		if ((a->rc = store_get(a->s, "lk", "ctr", &r)) == 0) {
			n = store_rd_read(r, 0, &iov, 1);
			store_rd_close(r);
			a->rc = n > 0 ? 0 : CS_EIO;
		}
		if (a->rc == 0) {
			iov.iov_len = (size_t)snprintf(buf, sizeof(buf), "%ld",
						       strtol(buf, NULL, 10) + 1);
			if ((a->rc = store_put_begin(a->s, "lk", "ctr", 0, &w)) == 0 &&
			    (a->rc = store_wr_write(w, 0, &iov, 1)) == 0 &&
			    (a->rc = store_lock_renew(l)) == 0)
				a->rc = store_wr_commit(w);
			else if (a->rc != 0 && w != NULL)
				store_wr_abort(w);
		}
		if (store_unlock(l) != 0 && a->rc == 0)
			a->rc = CS_EIO;
	}
	return NULL;
}

static void
test_lock_guards_read_modify_write(void **state)
{
	struct store *s[2];
	struct ctrarg a[2 * CTR_THREADS];
	pthread_t t[2 * CTR_THREADS];
	char want[16];

	(void)state;
	s[0] = open_store(0, -1, 0);
	s[1] = open_store(0, -1, 0);
	assert_int_equal(store_space_create(s[0], "lk"), 0);
	put(s[0], "lk", "ctr", "0");
	/* Two front-ends, several threads each: no increment is lost. */
	for (int i = 0; i < 2 * CTR_THREADS; i++) {
		a[i] = (struct ctrarg){.s = s[i % 2]};
		assert_int_equal(pthread_create(&t[i], NULL, bump, &a[i]), 0);
	}
	for (int i = 0; i < 2 * CTR_THREADS; i++) {
		assert_int_equal(pthread_join(t[i], NULL), 0);
		assert_int_equal(a[i].rc, 0);
	}
	snprintf(want, sizeof(want), "%d", 2 * CTR_THREADS * CTR_ROUNDS);
	expect(s[1], "lk", "ctr", want);
	assert_int_equal(store_space_purge(s[0], "lk"), 0);
	store_close(s[0]);
	store_close(s[1]);
}

/* The same lock contract on the filesystem backend (an OFD lock on a file
 * in the store's root), for comparison; it needs no cluster. */
static void
test_lock_fs(void **state)
{
	char dir[] = "/tmp/cs-fslock-XXXXXX", path[64];
	struct store *a, *b;
	struct store_lock *la, *lb;
	struct lockarg w;
	pthread_t t;
	pid_t pid;
	int st, pfd[2];
	char c;

	(void)state;
	assert_non_null(mkdtemp(dir));
	assert_int_equal(store_fs_open(&a, dir, STORE_SYNC_NONE), 0);
	assert_int_equal(store_fs_open(&b, dir, STORE_SYNC_NONE), 0);
	assert_int_equal(store_lock(a, "../x", 100, &la), CS_EINVAL);
	assert_int_equal(store_lock(a, "cat", 0, &la), 0);
	assert_int_equal(store_lock(b, "cat", 200, &lb), CS_EIO);
	assert_int_equal(errno, ETIMEDOUT);
	assert_int_equal(store_lock(a, "cat", 200, &lb), CS_EIO); /* not reentrant */
	assert_int_equal(store_lock_renew(la), 0);
	w = (struct lockarg){.s = b, .wait_ms = 60000};
	assert_int_equal(pthread_create(&t, NULL, locker, &w), 0);
	usleep(200000);
	assert_int_equal(store_unlock(la), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(w.rc, 0);
	assert_int_equal(store_unlock(w.l), 0);
	/* Another process holds it; when it dies the kernel releases it. */
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct store_lock *l;

		if (store_lock(a, "cat", 0, &l) != 0)
			_exit(1);
		if (write(pfd[1], "x", 1) != 1)
			_exit(2);
		sleep(1);
		_exit(0); /* dies holding it */
	}
	close(pfd[1]);
	assert_int_equal(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
	assert_int_equal(store_lock(b, "cat", 100, &lb), CS_EIO);
	assert_int_equal(store_lock(b, "cat", 30000, &lb), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	assert_int_equal(store_unlock(lb), 0);
	store_close(a);
	store_close(b);
	snprintf(path, sizeof(path), "%s/.lock-cat", dir);
	assert_int_equal(unlink(path), 0);
	assert_int_equal(rmdir(dir), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_put_get_replace_delete, fresh_ns),
		cmocka_unit_test_setup(test_abort_and_crash_leave_nothing, fresh_ns),
		cmocka_unit_test_setup(test_out_of_order_writes, fresh_ns),
		cmocka_unit_test_setup(test_striped_concurrent, fresh_ns),
		cmocka_unit_test_setup(test_concurrent_commits, fresh_ns),
		cmocka_unit_test_setup(test_list_in_name_order, fresh_ns),
		cmocka_unit_test_setup(test_names_and_config, fresh_ns),
		cmocka_unit_test_setup(test_rewrite_in_place, fresh_ns),
		cmocka_unit_test_setup(test_two_frontends_and_grace, fresh_ns),
		cmocka_unit_test_setup(test_lock_exclusion_and_waits, fresh_ns),
		cmocka_unit_test_setup(test_lock_lease_runs_out, fresh_ns),
		cmocka_unit_test_setup(test_lock_guards_read_modify_write, fresh_ns),
		cmocka_unit_test(test_lock_fs),
	};

	if (getenv("CRYPTSTORE_CEPH_CONF") == NULL) {
		printf("1..0 # SKIP no cluster: set CRYPTSTORE_CEPH_CONF "
		       "(tests/rados/rados_test.sh "
		       "starts one)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
