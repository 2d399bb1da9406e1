/*
 * Unit tests for store and its filesystem backend, on a real directory:
 * atomic replace, abort, sweeping of temporaries, names, listing.
 */
#include "testutil.h"
#include "store/store.h"
#include "util/err.h"

#include <dirent.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <string.h>
#include <errno.h>
#include <stdio.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

static char root[64];
static char shm_dir[64]; /* test_tmpfs_reserve's store, removed by teardown even if it fails */

static int
setup(void **state)
{
	(void)state;
	snprintf(root, sizeof(root), "/tmp/cs-store-XXXXXX");
	return mkdtemp(root) == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	if (shm_dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", shm_dir);
		if (system(cmd) != 0)
			return -1;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	return system(cmd) == 0 ? 0 : -1;
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

static int
count_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		if (de->d_name[0] != '.' || strncmp(de->d_name, ".tmp-", 5) == 0)
			n++;
	closedir(d);
	return n;
}

static void
test_put_get_replace_delete(void **state)
{
	struct store *s;
	struct store_rd *r, *old;
	int n = 0;

	(void)state;
	assert_int_equal(store_fs_open(&s, root, STORE_SYNC_FULL), 0);
	assert_int_equal(store_space_create(s, "b1"), 0);
	assert_int_equal(store_space_create(s, "b1"), CS_EEXIST);
	put(s, "b1", "k1", "first version");
	expect(s, "b1", "k1", "first version");
	/* A reader that opened the old object keeps reading it after a replace. */
	assert_int_equal(store_get(s, "b1", "k1", &old), 0);
	put(s, "b1", "k1", "second, longer version");
	expect(s, "b1", "k1", "second, longer version");
	assert_int_equal(store_rd_size(old), strlen("first version"));
	store_rd_close(old);
	/* fallocate's reservation is trimmed at commit. */
	assert_int_equal(store_get(s, "b1", "k1", &r), 0);
	assert_int_equal(store_rd_size(r), strlen("second, longer version"));
	store_rd_close(r);
	assert_int_equal(store_list(s, "b1", count_cb, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(store_rename(s, "b1", "k1", "k2"), 0);
	assert_int_equal(store_get(s, "b1", "k1", &r), CS_ENOENT);
	expect(s, "b1", "k2", "second, longer version");
	assert_int_equal(store_space_remove(s, "b1"), CS_EEXIST);
	assert_int_equal(store_delete(s, "b1", "k2"), 0);
	assert_int_equal(store_delete(s, "b1", "k2"), CS_ENOENT);
	assert_int_equal(store_space_remove(s, "b1"), 0);
	assert_int_equal(store_get(s, "b1", "k2", &r), CS_ENOENT);
	store_close(s);
}

static void
test_abort_and_crash_leave_nothing(void **state)
{
	struct store *s;
	struct store_wr *w, *crashed;
	struct store_rd *r;
	struct iovec iov = {(void *)(uintptr_t) "partial", 7};
	char dir[128];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/b2", root);
	assert_int_equal(store_fs_open(&s, root, STORE_SYNC_FULL), 0);
	assert_int_equal(store_space_create(s, "b2"), 0);
	put(s, "b2", "keep", "committed");
	/* An aborted write is invisible and leaves no file. */
	assert_int_equal(store_put_begin(s, "b2", "keep", 0, &w), 0);
	assert_int_equal(store_wr_write(w, 0, &iov, 1), 0);
	store_wr_abort(w);
	expect(s, "b2", "keep", "committed");
	assert_int_equal(count_files(dir), 1);
	/* A write in progress at a "crash" (never committed nor aborted)... */
	assert_int_equal(store_put_begin(s, "b2", "keep", 0, &crashed), 0);
	assert_int_equal(store_wr_write(crashed, 0, &iov, 1), 0);
	assert_int_equal(count_files(dir), 2);
	expect(s, "b2", "keep", "committed");
	/* ...is swept when the store is opened again. */
	{
		struct store *s2;

		assert_int_equal(store_fs_open(&s2, root, STORE_SYNC_FULL), 0);
		assert_int_equal(count_files(dir), 1);
		expect(s2, "b2", "keep", "committed");
		store_close(s2);
	}
	/* The crashed writer's commit now fails and changes nothing. */
	assert_int_equal(store_wr_commit(crashed), CS_EIO);
	expect(s, "b2", "keep", "committed");
	assert_int_equal(store_get(s, "nospace", "k", &r), CS_ENOENT);
	assert_int_equal(store_put_begin(s, "nospace", "k", 0, &w), CS_ENOENT);
	assert_int_equal(store_space_purge(s, "b2"), 0);
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
	assert_int_equal(store_fs_open(&s, root, STORE_SYNC_NONE), 0);
	assert_int_equal(store_space_create(s, "b3"), 0);
	assert_int_equal(store_put_begin(s, "b3", "k", 8, &w), 0);
	assert_int_equal(store_wr_write(w, 4, &a, 1), 0); /* the second half first */
	assert_int_equal(store_wr_write(w, 0, b, 2), 0);
	assert_int_equal(store_wr_commit(w), 0);
	expect(s, "b3", "k", "AAAABBBB");
	assert_int_equal(store_space_purge(s, "b3"), 0);
	store_close(s);
}

static void
test_names(void **state)
{
	static const char *bad[] = {"", ".", "..", ".tmp-x", "a/b", "A", "a b", "\xc3\xa9", "a\n"};
	char longname[STORE_NAME_MAX + 2];
	struct store *s;
	struct store_wr *w;

	(void)state;
	assert_true(store_name_ok("0123abc-_.z"));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_false(store_name_ok(bad[i]));
	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_false(store_name_ok(longname));
	longname[STORE_NAME_MAX] = '\0';
	assert_true(store_name_ok(longname));
	assert_int_equal(store_fs_open(&s, root, STORE_SYNC_NONE), 0);
	assert_int_equal(store_put_begin(s, "..", "k", 0, &w), CS_EINVAL);
	assert_int_equal(store_put_begin(s, "x", "../../etc/passwd", 0, &w), CS_EINVAL);
	assert_int_equal(store_space_create(s, "a/b"), CS_EINVAL);
	store_close(s);
}

static void
test_modes(void **state)
{
	struct store *s;
	struct stat st;
	char path[128];

	(void)state;
	assert_int_equal(store_fs_open(&s, root, STORE_SYNC_FULL), 0);
	assert_int_equal(store_space_create(s, "b4"), 0);
	put(s, "b4", "k", "x");
	snprintf(path, sizeof(path), "%s/b4", root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof(path), "%s/b4/k", root);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(store_space_purge(s, "b4"), 0);
	store_close(s);
}

/* write_journal: a redo journal as store_fs documents it; torn drops its end. */
static void
write_journal(const char *path, uint64_t off, const char *data, const char *check, bool torn)
{
	uint8_t b[256];
	size_t n = strlen(data), c = strlen(check), l = 24 + c + n;
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	memcpy(b, "CSRJ", 4);
	for (int i = 0; i < 8; i++)
		b[4 + i] = (uint8_t)(off >> (56 - 8 * i));
	for (int i = 0; i < 4; i++) {
		b[12 + i] = (uint8_t)(n >> (24 - 8 * i));
		b[16 + i] = 0; /* coff = 0 */
		b[20 + i] = (uint8_t)(c >> (24 - 8 * i));
	}
	memcpy(b + 24, check, c);
	memcpy(b + 24 + c, data, n);
	assert_int_equal(EVP_Digest(b, l, b + l, NULL, EVP_sha256(), NULL), 1);
	assert_int_equal(fwrite(b, 1, torn ? l + 31 : l + 32, f), torn ? l + 31 : l + 32);
	fclose(f);
}

static void
test_rewrite_in_place(void **state)
{
	struct store *s;
	char dir[128], j[256];

	(void)state;
	snprintf(dir, sizeof(dir), "%s/rw", root);
	assert_int_equal(store_fs_open(&s, dir, STORE_SYNC_FULL), 0);
	assert_int_equal(store_space_create(s, "sp"), 0);
	put(s, "sp", "obj", "ID01-header-v1-chunks");
	assert_int_equal(store_rewrite(s, "sp", "obj", 5, (const uint8_t *)"HEADER-V2", 9, 0,
				       (const uint8_t *)"ID01", 4),
			 0);
	expect(s, "sp", "obj", "ID01-HEADER-V2-chunks");
	/* The object was replaced meanwhile (another id): left alone. */
	assert_int_equal(store_rewrite(s, "sp", "obj", 5, (const uint8_t *)"XXXXXXXXX", 9, 0,
				       (const uint8_t *)"ID02", 4),
			 CS_EEXIST);
	expect(s, "sp", "obj", "ID01-HEADER-V2-chunks");
	assert_int_equal(store_rewrite(s, "sp", "none", 0, (const uint8_t *)"x", 1, 0, NULL, 0),
			 CS_ENOENT);
	assert_int_equal(store_rewrite(s, "sp", "obj", 0, (const uint8_t *)"x", 0, 0, NULL, 0),
			 CS_EINVAL);
	assert_int_equal(count_files(dir), 1); /* no journal left: only the space */
	store_close(s);
	/* A crash after the journal was made durable: the next open applies it... */
	snprintf(j, sizeof(j), "%s/sp/.rwj-obj", dir);
	write_journal(j, 5, "header-v3", "ID01", false);
	assert_int_equal(store_fs_open(&s, dir, STORE_SYNC_FULL), 0);
	expect(s, "sp", "obj", "ID01-header-v3-chunks");
	assert_int_equal(access(j, F_OK), -1);
	store_close(s);
	/* ...a torn journal (the object was never touched) is dropped... */
	write_journal(j, 5, "HEADER-V4", "ID01", true);
	assert_int_equal(store_fs_open(&s, dir, STORE_SYNC_FULL), 0);
	expect(s, "sp", "obj", "ID01-header-v3-chunks");
	assert_int_equal(access(j, F_OK), -1);
	store_close(s);
	/* ...and so is one for an object that has been replaced since. */
	write_journal(j, 5, "HEADER-V5", "ID09", false);
	assert_int_equal(store_fs_open(&s, dir, STORE_SYNC_FULL), 0);
	expect(s, "sp", "obj", "ID01-header-v3-chunks");
	store_close(s);
}

/*
 * On tmpfs a write's reservation is a free-space check, not fallocate
 * (which there zero-fills every page before the data overwrites it): the
 * temporary file has no blocks after put_begin, a reservation larger than
 * the file system fails with ENOSPC at once, and the data still lands.
 */
static void
test_tmpfs_reserve(void **state)
{
	char *dir = shm_dir, path[384];
	struct statfs sf;
	struct store *s;
	struct store_wr *w;
	struct dirent *de;
	struct stat st;
	uint64_t fs_bytes;
	DIR *d;
	int n = 0;

	(void)state;
	snprintf(shm_dir, sizeof(shm_dir), "/dev/shm/cs-store-XXXXXX");
	if (statfs("/dev/shm", &sf) != 0 || sf.f_type != 0x01021994 || mkdtemp(dir) == NULL) {
		shm_dir[0] = '\0';
		printf("# /dev/shm is not a tmpfs here: nothing to check\n");
		return;
	}
	fs_bytes = (uint64_t)sf.f_blocks * (uint64_t)sf.f_bsize;
	assert_int_equal(store_fs_open(&s, dir, STORE_SYNC_NONE), 0);
	assert_int_equal(store_space_create(s, "sp"), 0);
	/* 8 MiB reserved: nothing allocated yet. */
	assert_int_equal(store_put_begin(s, "sp", "obj", 8u << 20, &w), 0);
	snprintf(path, sizeof(path), "%s/sp", dir);
	assert_non_null(d = opendir(path));
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, ".tmp-", 5) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/sp/%s", dir, de->d_name);
		assert_int_equal(stat(path, &st), 0);
		assert_int_equal(st.st_blocks, 0);
		n++;
	}
	closedir(d);
	assert_int_equal(n, 1);
	store_wr_abort(w);
	/* More than the whole file system (an unlimited tmpfs has f_blocks 0). */
	if (fs_bytes > 0) {
		errno = 0;
		assert_int_equal(store_put_begin(s, "sp", "big", fs_bytes + (1u << 20), &w),
				 CS_EIO);
		assert_int_equal(errno, ENOSPC);
	}
	put(s, "sp", "obj", "data after a reservation without fallocate");
	expect(s, "sp", "obj", "data after a reservation without fallocate");
	store_close(s);
}

/*
 * store_fs_direct(): on a file system with O_DIRECT (the root under /tmp
 * here is ext4 on the VM's disk), an aligned write bypasses the page cache
 * while the unaligned pieces around it go through it, and the object reads
 * back whole; on tmpfs direct I/O is refused with a reason.
 */
static void
test_direct_writes(void **state)
{
	enum { BODY = 65536, TAIL = 100 };
	char why[256] = "", path[384];
	unsigned char *blk, *hdr, vec[64], *map, *back;
	struct store *s;
	struct store_wr *w;
	struct store_rd *r;
	struct iovec iov[2];
	uint32_t a;
	size_t total, resident = 0, pages = 0;
	int fd;

	(void)state;
	if (shm_dir[0] != '\0') { /* test_tmpfs_reserve's tmpfs store */
		assert_int_equal(store_fs_open(&s, shm_dir, STORE_SYNC_NONE), 0);
		assert_int_equal(store_fs_direct(s, why, sizeof(why)), CS_ENOTSUP);
		assert_non_null(strstr(why, "tmpfs"));
		assert_int_equal(store_write_align(s), 0);
		store_close(s);
	}
	/* A probe file a crash left in the root goes at the next open. */
	snprintf(path, sizeof(path), "%s/.tmp-00112233aabbccdd", root);
	assert_true((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) >= 0);
	close(fd);
	assert_int_equal(store_fs_open(&s, root, STORE_SYNC_FULL), 0);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(store_write_align(s), 0);
	if (store_fs_direct(s, why, sizeof(why)) != 0) {
		store_close(s);
		printf("# %s: %s\n", root, why);
		skip();
	}
	a = store_write_align(s);
	assert_true(a >= 512 && a <= 4096 && (a & (a - 1)) == 0);
	{ /* the probe left nothing behind */
		DIR *d = opendir(root);
		struct dirent *de;

		assert_non_null(d);
		while ((de = readdir(d)) != NULL)
			assert_true(strncmp(de->d_name, ".tmp-", 5) != 0);
		closedir(d);
	}
	total = a + BODY + TAIL;
	assert_non_null(blk = aligned_alloc(4096, BODY));
	assert_non_null(hdr = malloc(a + 1));
	for (size_t i = 0; i < BODY; i++)
		blk[i] = (unsigned char)(i * 7 + 3);
	memset(hdr, 0x48, a + 1);
	assert_int_equal(store_space_create(s, "dio"), 0);
	assert_int_equal(store_put_begin(s, "dio", "obj", total, &w), 0);
	/* The body first, aligned: direct.  Then header and tail, both not:
	 * an address off by one, and a length of 100 at the end. */
	iov[0] = (struct iovec){blk, BODY};
	assert_int_equal(store_wr_write(w, a, iov, 1), 0);
	iov[0] = (struct iovec){hdr + 1, a};
	assert_int_equal(store_wr_write(w, 0, iov, 1), 0);
	iov[0] = (struct iovec){blk, TAIL};
	assert_int_equal(store_wr_write(w, a + BODY, iov, 1), 0);
	assert_int_equal(store_wr_commit(w), 0);
	/* What the page cache holds: not the pages the direct write covered
	 * (mincore sees residency without reading anything in). */
	snprintf(path, sizeof(path), "%s/dio/obj", root);
	assert_true((fd = open(path, O_RDONLY)) >= 0);
	map = mmap(NULL, total, PROT_READ, MAP_SHARED, fd, 0);
	assert_true(map != MAP_FAILED);
	assert_true(total / 4096 + 1 <= sizeof(vec));
	assert_int_equal(mincore(map, total, vec), 0);
	for (size_t pg = (a + 4095) / 4096; (pg + 1) * 4096 <= a + BODY; pg++, pages++)
		resident += vec[pg] & 1;
	assert_true(pages >= 15);
	if (resident != 0)
		fail_msg("%zu of the %zu pages written with O_DIRECT are in the page cache",
			 resident, pages);
	assert_int_equal(vec[(a + BODY) / 4096] & 1, 1); /* the buffered tail is */
	munmap(map, total);
	close(fd);
	/* And the object is what was written, every piece. */
	assert_int_equal(store_get(s, "dio", "obj", &r), 0);
	assert_int_equal(store_rd_size(r), total);
	assert_non_null(back = malloc(total));
	iov[0] = (struct iovec){back, total};
	assert_int_equal(store_rd_read(r, 0, iov, 1), (long)total);
	store_rd_close(r);
	assert_memory_equal(back, hdr + 1, a);
	assert_memory_equal(back + a, blk, BODY);
	assert_memory_equal(back + a + BODY, blk, TAIL);
	free(back);
	free(hdr);
	free(blk);
	store_close(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_replace_delete),
		cmocka_unit_test(test_abort_and_crash_leave_nothing),
		cmocka_unit_test(test_out_of_order_writes),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_rewrite_in_place),
		cmocka_unit_test(test_tmpfs_reserve),
		cmocka_unit_test(test_direct_writes),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
