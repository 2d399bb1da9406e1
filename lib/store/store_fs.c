/*
 * store_fs: the local-filesystem backend.
 *
 * Layout: <root>/<space>/<key>, every directory 0700 and every file 0600.
 * A write goes to <root>/<space>/.tmp-<random> (O_EXCL), is fallocate'd to
 * the expected size (on tmpfs only checked against the free space: there
 * fallocate zero-fills every page that the write then overwrites, which
 * cost a 1 GiB PUT 0.4 s before its first byte was read), and on commit is
 * fdatasync'ed, swapped with <key> (RENAME_EXCHANGE, or renamed if there
 * is no old object) and the directory fsync'ed; then the old object, now
 * under the temporary name, is unlinked.  If the directory fsync fails the
 * swap is undone.  A delete renames <key> to a .tmp- tombstone, fsyncs and
 * unlinks it.  After a crash either the old or the new object is there,
 * never a part, and only .tmp- files can be left over; they are removed
 * when the store is opened.  store_lock(name) is an open-file-description
 * lock on <root>/.lock-<name> (see fs_lock).
 */
#include "store.h"
#include "store_impl.h"
#include "util/err.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

/* TMPFS_MAGIC of <linux/magic.h>, without pulling in the kernel headers. */
#define TMPFS_MAGIC_NR 0x01021994

#define TMP_PREFIX ".tmp-"
#define RWJ_PREFIX ".rwj-" /* redo journal of an in-place rewrite */
#define RWJ_MAGIC  "CSRJ"
#define RWJ_FIXED  (4 + 8 + 4 + 4 + 4)

#define FS_DIO_ALIGN_MIN 512u /* what the format's aligned layout supports */
#define FS_DIO_ALIGN_MAX 4096u

#define LOCK_PREFIX  ".lock-"
#define LOCK_WAIT_MS 30000u /* store_lock()'s default wait */

struct fs_store {
	struct store base;
	int root;
	enum store_sync sync;
	bool tmpfs;         /* reserve by checking free space, not with fallocate */
	uint32_t dio_align; /* store_fs_direct(): O_DIRECT for writes aligned to it; 0: off */
};

struct fs_wr {
	struct store_wr base;
	struct fs_store *s;
	int dir, fd;
	int dfd;            /* the same file opened O_DIRECT (at the first direct write), or -1 */
	uint64_t hint, end; /* reserved size, bytes written up to */
	char tmp[32];
	char key[STORE_NAME_MAX + 1];
};

struct fs_rd {
	struct store_rd base;
	int fd;
	uint64_t size;
};

struct fs_lock {
	struct store_lock base;
	int fd; /* holds the lock while open */
};

static const struct store_ops fs_ops;

/* fs_err: map errno to a store error. */
static int
fs_err(void)
{
	return errno == ENOENT ? CS_ENOENT : errno == EEXIST ? CS_EEXIST : CS_EIO;
}

static int
fs_space(struct fs_store *s, const char *space)
{
	return openat(s->root, space, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
}

static int
fs_dirsync(struct fs_store *s, int dir)
{
	if (s->sync == STORE_SYNC_NONE)
		return 0;
	return fsync(dir) == 0 ? 0 : CS_EIO;
}

/* fs_sweep: remove a space's leftover temporaries (or, purging, everything). */
static int
fs_sweep(int dir, bool purge)
{
	struct dirent *de;
	DIR *d;
	int fd = dup(dir), rc = 0;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return CS_EIO;
	}
	rewinddir(d); /* a dup shares the offset with dir */
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (!purge && strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) != 0)
			continue;
		if (unlinkat(dir, de->d_name, 0) != 0 && errno != ENOENT)
			rc = CS_EIO;
	}
	closedir(d);
	return rc;
}

/* ---- in-place rewrites ----------------------------------------------------
 *
 * store_rewrite() changes a few bytes of a committed object in place (a
 * header re-sealed under a new key version).  A torn pwrite must never be
 * visible, so the change goes first to a redo journal <space>/.rwj-<key>
 * (fixed fields, the check bytes, the data and a SHA-256 over all of it),
 * made durable with the directory; then the object is written and synced
 * and the journal removed.  At open, a complete journal is applied again
 * (idempotent) if the object still holds the check bytes, and a torn one
 * (its SHA-256 fails: the object was not touched yet) is dropped.
 */

static void
put_be(uint8_t *p, uint64_t v, int n)
{
	for (int i = n - 1; i >= 0; i--, v >>= 8)
		p[i] = (uint8_t)v;
}

static uint64_t
get_be(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/* fs_apply: if the object at fd holds check at coff, write data at off and sync. */
static int
fs_apply(struct fs_store *s, int fd, uint64_t off, const uint8_t *data, size_t n, uint64_t coff,
	 const uint8_t *check, size_t clen)
{
	uint8_t cur[STORE_CHECK_MAX];

	if (pread(fd, cur, clen, (off_t)coff) != (ssize_t)clen || memcmp(cur, check, clen) != 0)
		return CS_EEXIST;
	if (pwrite(fd, data, n, (off_t)off) != (ssize_t)n)
		return CS_EIO;
	if (s->sync != STORE_SYNC_NONE && fdatasync(fd) != 0)
		return CS_EIO;
	return 0;
}

/* fs_replay: apply or drop the redo journals left in a space. */
static void
fs_replay(struct fs_store *s, int sp)
{
	struct dirent *de;
	DIR *d;
	int fd = dup(sp);

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	rewinddir(d); /* a dup shares the offset with sp */
	while ((de = readdir(d)) != NULL) {
		uint8_t b[RWJ_FIXED + STORE_CHECK_MAX + STORE_REWRITE_MAX + 32], h[32];
		const char *key = de->d_name + strlen(RWJ_PREFIX);
		ssize_t len = -1;
		int jf, of;

		if (strncmp(de->d_name, RWJ_PREFIX, strlen(RWJ_PREFIX)) != 0)
			continue;
		if ((jf = openat(sp, de->d_name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
			len = read(jf, b, sizeof(b));
			close(jf);
		}
		if (len >= RWJ_FIXED + 32 && memcmp(b, RWJ_MAGIC, 4) == 0 &&
		    EVP_Digest(b, (size_t)len - 32, h, NULL, EVP_sha256(), NULL) == 1 &&
		    memcmp(h, b + len - 32, 32) == 0) {
			uint64_t off = get_be(b + 4, 8), n = get_be(b + 12, 4);
			uint64_t coff = get_be(b + 16, 4), clen = get_be(b + 20, 4);

			if (n <= STORE_REWRITE_MAX && clen <= STORE_CHECK_MAX &&
			    (size_t)len == RWJ_FIXED + clen + n + 32 && store_name_ok(key) &&
			    (of = openat(sp, key, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
				(void)fs_apply(s, of, off, b + RWJ_FIXED + clen, n, coff,
					       b + RWJ_FIXED, clen);
				close(of);
			}
		}
		(void)unlinkat(sp, de->d_name, 0);
	}
	closedir(d);
}

static int
fs_rewrite(struct store *base, const char *space, const char *key, uint64_t off,
	   const uint8_t *data, size_t n, uint64_t coff, const uint8_t *check, size_t clen)
{
	struct fs_store *s = (struct fs_store *)base;
	uint8_t *j = NULL;
	size_t jl = RWJ_FIXED + clen + n + 32;
	char jname[STORE_NAME_MAX + 8];
	int sp = fs_space(s, space), of = -1, jf = -1, rc;

	if (sp < 0)
		return fs_err();
	snprintf(jname, sizeof(jname), "%s%s", RWJ_PREFIX, key);
	if ((of = openat(sp, key, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		rc = fs_err();
		goto out;
	}
	rc = CS_ENOMEM;
	if ((j = malloc(jl)) == NULL)
		goto out;
	memcpy(j, RWJ_MAGIC, 4);
	put_be(j + 4, off, 8);
	put_be(j + 12, n, 4);
	put_be(j + 16, coff, 4);
	put_be(j + 20, clen, 4);
	memcpy(j + RWJ_FIXED, check, clen);
	memcpy(j + RWJ_FIXED + clen, data, n);
	rc = CS_ECRYPTO;
	if (EVP_Digest(j, jl - 32, j + jl - 32, NULL, EVP_sha256(), NULL) != 1)
		goto out;
	rc = CS_EIO;
	jf = openat(sp, jname, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (jf < 0 || write(jf, j, jl) != (ssize_t)jl ||
	    (s->sync != STORE_SYNC_NONE && fdatasync(jf) != 0) || fs_dirsync(s, sp) != 0)
		goto drop;
	rc = fs_apply(s, of, off, data, n, coff, check, clen);
	/* Applied or not (the object changed), the journal has done its job;
	 * on an I/O error it stays, for the next open to apply. */
	if (rc == CS_EIO)
		goto out;
drop:
	(void)unlinkat(sp, jname, 0);
out:
	if (jf >= 0)
		close(jf);
	if (of >= 0)
		close(of);
	close(sp);
	free(j);
	return rc;
}

int
store_fs_open(struct store **out, const char *dir, enum store_sync sync)
{
	struct fs_store *s;
	struct dirent *de;
	struct statfs sf;
	DIR *d;
	int fd;

	*out = NULL;
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return CS_EIO;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return CS_ENOMEM;
	s->base.ops = &fs_ops;
	s->sync = sync;
	if ((s->root = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		free(s);
		return CS_EIO;
	}
	s->tmpfs = fstatfs(s->root, &sf) == 0 && sf.f_type == TMPFS_MAGIC_NR;
	/* Sweep every space of the temporaries of writes that never committed,
	 * and the root of store_fs_direct()'s probe file, if a crash left it. */
	if ((fd = dup(s->root)) >= 0 && (d = fdopendir(fd)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			int sp;

			if (strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) == 0)
				(void)unlinkat(s->root, de->d_name, 0);
			if (!store_name_ok(de->d_name))
				continue;
			if ((sp = fs_space(s, de->d_name)) >= 0) {
				fs_replay(s, sp);
				(void)fs_sweep(sp, false);
				close(sp);
			}
		}
		closedir(d);
	} else if (fd >= 0) {
		close(fd);
	}
	*out = &s->base;
	return 0;
}

static void
fs_close(struct store *base)
{
	struct fs_store *s = (struct fs_store *)base;

	close(s->root);
	free(s);
}

static int
fs_space_create(struct store *base, const char *space)
{
	struct fs_store *s = (struct fs_store *)base;

	if (mkdirat(s->root, space, 0700) != 0)
		return fs_err();
	return fs_dirsync(s, s->root);
}

static int
fs_space_remove(struct store *base, const char *space, bool purge)
{
	struct fs_store *s = (struct fs_store *)base;
	int sp = fs_space(s, space), rc;

	if (sp < 0)
		return fs_err();
	/* Temporaries of writes in progress do not make a space non-empty. */
	rc = fs_sweep(sp, purge);
	close(sp);
	if (rc != 0)
		return rc;
	if (unlinkat(s->root, space, AT_REMOVEDIR) != 0)
		return errno == ENOTEMPTY || errno == EEXIST ? CS_EEXIST : fs_err();
	return fs_dirsync(s, s->root);
}

static int
fs_list(struct store *base, const char *space, int (*cb)(void *arg, const char *key, uint64_t size),
	void *arg)
{
	struct fs_store *s = (struct fs_store *)base;
	struct dirent *de;
	int sp, rc = 0;
	DIR *d;

	if ((sp = fs_space(s, space)) < 0)
		return fs_err();
	if ((d = fdopendir(sp)) == NULL) {
		close(sp);
		return CS_EIO;
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		struct stat st;

		if (!store_name_ok(de->d_name))
			continue; /* ".", "..", temporaries */
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		rc = cb(arg, de->d_name, (uint64_t)st.st_size);
	}
	closedir(d);
	return rc;
}

/* fs_tmpname: a fresh random temporary name (swept at open if left over). */
static int
fs_tmpname(char *out, size_t n)
{
	uint8_t rnd[8];

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return CS_ECRYPTO;
	snprintf(out, n, TMP_PREFIX "%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2],
		 rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
	return 0;
}

/*
 * fs_reserve(s, fd, n): make room for n bytes in fd, or false with errno
 * (ENOSPC when there is not).  fallocate where it reserves extents; on
 * tmpfs a free-space check (a tmpfs without a size limit reports 0 blocks),
 * because fallocate there zero-fills the pages.  On tmpfs, concurrent
 * writes can still run out later: the write then fails with ENOSPC and the
 * caller aborts, as anywhere fallocate is not supported.
 */
static bool
fs_reserve(const struct fs_store *s, int fd, uint64_t n)
{
	struct statfs sf;

	if (!s->tmpfs)
		return fallocate(fd, 0, 0, (off_t)n) == 0 || errno == EOPNOTSUPP;
	if (fstatfs(fd, &sf) != 0)
		return false;
	if (sf.f_blocks > 0 && sf.f_bsize > 0 &&
	    (uint64_t)sf.f_bavail < n / (uint64_t)sf.f_bsize + 1) {
		errno = ENOSPC;
		return false;
	}
	return true;
}

#ifndef STATX_DIOALIGN
#define STATX_DIOALIGN 0x2000U
#endif

int
store_fs_direct(struct store *base, char *why, size_t whylen)
{
	struct fs_store *s = (struct fs_store *)base;
	uint32_t a = FS_DIO_ALIGN_MIN;
	struct statx sx;
	char tmp[32];
	void *blk = NULL;
	int fd, rc = CS_ENOTSUP;

	if (base == NULL || base->ops != &fs_ops) {
		snprintf(why, whylen, "direct I/O needs the file store");
		return CS_EINVAL;
	}
	if (s->tmpfs) {
		snprintf(why, whylen,
			 "the store is on tmpfs, whose files are memory: "
			 "there is no page cache to bypass");
		return CS_ENOTSUP;
	}
	if (fs_tmpname(tmp, sizeof(tmp)) != 0) {
		snprintf(why, whylen, "no random name for a probe file");
		return CS_EIO;
	}
	fd = openat(s->root, tmp, O_WRONLY | O_CREAT | O_EXCL | O_DIRECT | O_CLOEXEC | O_NOFOLLOW,
		    0600);
	if (fd < 0) {
		int saved = errno;

		snprintf(why, whylen, "the file system refuses O_DIRECT (%s)", strerror(saved));
		return saved == EINVAL ? CS_ENOTSUP : CS_EIO;
	}
	/*
	 * The alignment the file system asks for (Linux 6.1+; else the page
	 * size), raised to its block size up to 4096: a direct write of part of
	 * a block makes ext4 zero the rest of a block it allocates and serialise
	 * such writes on the inode, which whole blocks avoid.
	 */
	if (statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN | STATX_BASIC_STATS, &sx) == 0 &&
	    (sx.stx_mask & STATX_DIOALIGN) != 0 && sx.stx_dio_offset_align != 0) {
		a = sx.stx_dio_offset_align > sx.stx_dio_mem_align ? sx.stx_dio_offset_align
								   : sx.stx_dio_mem_align;
		if (a < FS_DIO_ALIGN_MIN)
			a = FS_DIO_ALIGN_MIN;
		while (a < sx.stx_blksize && a < FS_DIO_ALIGN_MAX)
			a *= 2;
	} else {
		a = FS_DIO_ALIGN_MAX;
	}
	if (a > FS_DIO_ALIGN_MAX || (a & (a - 1)) != 0) {
		snprintf(why, whylen,
			 "the file system wants O_DIRECT writes aligned to %u bytes "
			 "(more than %u)",
			 a, FS_DIO_ALIGN_MAX);
	} else if ((blk = aligned_alloc(a, a)) == NULL) {
		snprintf(why, whylen, "out of memory");
		rc = CS_ENOMEM;
	} else {
		memset(blk, 0, a);
		if (pwrite(fd, blk, a, 0) == (ssize_t)a) {
			s->dio_align = a;
			rc = 0;
		} else {
			snprintf(why, whylen, "an O_DIRECT write of %u bytes failed (%s)", a,
				 strerror(errno));
		}
	}
	free(blk);
	close(fd);
	(void)unlinkat(s->root, tmp, 0);
	return rc;
}

static uint32_t
fs_write_align(const struct store *base)
{
	return ((const struct fs_store *)base)->dio_align;
}

static int
fs_put_begin(struct store *base, const char *space, const char *key, uint64_t hint,
	     struct store_wr **out)
{
	struct fs_store *s = (struct fs_store *)base;
	struct fs_wr *w;
	int rc;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return CS_ENOMEM;
	w->base.ops = &fs_ops;
	w->s = s;
	w->fd = -1;
	w->dfd = -1;
	w->hint = hint;
	snprintf(w->key, sizeof(w->key), "%s", key);
	if ((w->dir = fs_space(s, space)) < 0) {
		rc = fs_err();
		free(w);
		return rc;
	}
	if ((rc = fs_tmpname(w->tmp, sizeof(w->tmp))) != 0)
		goto err;
	w->fd = openat(w->dir, w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (w->fd < 0) {
		rc = CS_EIO;
		goto err;
	}
	if (hint > 0 && hint < (uint64_t)INT64_MAX && !fs_reserve(s, w->fd, hint)) {
		rc = CS_EIO;
		goto err;
	}
	*out = &w->base;
	return 0;
err : {
	int saved = errno;

	store_wr_abort(&w->base);
	errno = saved;
}
	return rc;
}

/* iov_advance: consume k bytes from v[done..n), possibly inside an iovec;
 * returns the index of the first iovec with bytes left. */
static int
iov_advance(struct iovec *v, int done, int n, size_t k)
{
	while (done < n && k >= v[done].iov_len) {
		k -= v[done].iov_len;
		done++;
	}
	if (done < n) {
		v[done].iov_base = (uint8_t *)v[done].iov_base + k;
		v[done].iov_len -= k;
	}
	return done;
}

/* fs_pwritev(fd, v, n, off): write all of v[0..n) at *off (advanced); CS_EIO on error. */
static int
fs_pwritev(int fd, struct iovec *v, int n, uint64_t *off)
{
	int done = 0;

	while (done < n) {
		ssize_t k = pwritev(fd, v + done, n - done, (off_t)*off);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return CS_EIO;
		}
		*off += (uint64_t)k;
		done = iov_advance(v, done, n, (size_t)k);
	}
	return 0;
}

/* fs_aligned(v, n, a): how many leading iovecs of v have address and length aligned to a. */
static int
fs_aligned(const struct iovec *v, int n, uint32_t a)
{
	int k = 0;

	while (k < n && (uintptr_t)v[k].iov_base % a == 0 && v[k].iov_len % a == 0)
		k++;
	return k;
}

/* fs_dfd(w): w's O_DIRECT descriptor, opened by the first writer thread
 * that needs it; -1 with errno if it cannot be opened. */
static int
fs_dfd(struct fs_wr *w)
{
	int fd = __atomic_load_n(&w->dfd, __ATOMIC_ACQUIRE), mine, none = -1;

	if (fd >= 0)
		return fd;
	if ((mine = openat(w->dir, w->tmp, O_WRONLY | O_DIRECT | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return -1;
	if (__atomic_compare_exchange_n(&w->dfd, &none, mine, false, __ATOMIC_ACQ_REL,
					__ATOMIC_ACQUIRE))
		return mine;
	close(mine); /* another thread's came first */
	return none;
}

/*
 * With direct I/O on, the leading iovecs that are aligned (address and
 * length) at an aligned offset go through the O_DIRECT descriptor, the rest
 * through the page cache.  The two never share a block: the direct part
 * ends on a block boundary where the buffered part begins.  A direct write
 * that comes back short, or refused as misaligned (EINVAL), continues
 * buffered.  Objects that never have such a write (one batch or less)
 * never open the second descriptor.
 */
static int
fs_wr_write(struct store_wr *base, uint64_t off, const struct iovec *iov, int n)
{
	struct fs_wr *w = (struct fs_wr *)base;
	struct iovec local[64];
	int done = 0, rc;

	if (n < 0 || n > 64)
		return CS_EINVAL;
	memcpy(local, iov, (size_t)n * sizeof(*iov));
	if (w->s->dio_align != 0 && off % w->s->dio_align == 0 &&
	    (done = fs_aligned(local, n, w->s->dio_align)) > 0) {
		int dfd = fs_dfd(w);
		ssize_t k;

		if (dfd < 0)
			return CS_EIO;
		do
			k = pwritev(dfd, local, done, (off_t)off);
		while (k < 0 && errno == EINTR);
		if (k < 0 && errno != EINVAL)
			return CS_EIO;
		if (k < 0) /* an alignment rule the probe did not show: buffered, then */
			k = 0;
		off += (uint64_t)k;
		done = iov_advance(local, 0, n, (size_t)k);
	}
	if ((rc = fs_pwritev(w->fd, local + done, n - done, &off)) != 0)
		return rc;
	/* Writers of one object may run on several threads (distinct offsets). */
	for (uint64_t cur = __atomic_load_n(&w->end, __ATOMIC_RELAXED);
	     off > cur && !__atomic_compare_exchange_n(&w->end, &cur, off, false, __ATOMIC_RELAXED,
						       __ATOMIC_RELAXED);)
		;
	return 0;
}

static void
fs_wr_release(struct fs_wr *w)
{
	if (w->dfd >= 0)
		close(w->dfd);
	if (w->fd >= 0)
		close(w->fd);
	close(w->dir);
	free(w);
}

static void
fs_wr_abort(struct store_wr *base)
{
	struct fs_wr *w = (struct fs_wr *)base;

	if (w->fd >= 0)
		(void)unlinkat(w->dir, w->tmp, 0);
	fs_wr_release(w);
}

static int
fs_wr_commit(struct store_wr *base)
{
	struct fs_wr *w = (struct fs_wr *)base;
	bool swapped = false;
	int saved;

	/* Give back what fallocate reserved beyond the data. */
	if (w->hint > w->end && ftruncate(w->fd, (off_t)w->end) != 0)
		goto err;
	if (w->s->sync == STORE_SYNC_FULL && fdatasync(w->fd) != 0)
		goto err;
	/*
	 * Swap the new object in and keep the old one under the temporary name
	 * until the swap is durable.  If the directory sync fails, the swap is
	 * undone and, as store.h promises, nothing changed: reporting the error
	 * with the new object in place would leave the caller's view (the
	 * server's index) describing an object that is gone.  What a crash
	 * leaves is then either object, as after any failed write; if the undo
	 * fails too, the new object stays.  No old object (ENOENT) or no
	 * RENAME_EXCHANGE here (EINVAL, ENOSYS): a plain rename, undone by
	 * renaming back.  The caller serialises commits of one key.
	 */
	if (w->s->sync == STORE_SYNC_FULL &&
	    renameat2(w->dir, w->tmp, w->dir, w->key, RENAME_EXCHANGE) == 0)
		swapped = true;
	else if (w->s->sync == STORE_SYNC_FULL && errno != ENOENT && errno != EINVAL &&
		 errno != ENOSYS)
		goto err;
	else if (renameat(w->dir, w->tmp, w->dir, w->key) != 0)
		goto err;
	if (fs_dirsync(w->s, w->dir) != 0) {
		saved = errno;
		if (swapped)
			(void)renameat2(w->dir, w->tmp, w->dir, w->key, RENAME_EXCHANGE);
		else
			(void)renameat(w->dir, w->key, w->dir, w->tmp);
		fs_wr_abort(base);
		errno = saved;
		return CS_EIO;
	}
	/* The old object; after a crash first, the sweep at open removes it. */
	if (swapped)
		(void)unlinkat(w->dir, w->tmp, 0);
	fs_wr_release(w);
	return 0;
err:
	saved = errno;
	fs_wr_abort(base);
	errno = saved;
	return CS_EIO;
}

static int
fs_get(struct store *base, const char *space, const char *key, struct store_rd **out)
{
	struct fs_store *s = (struct fs_store *)base;
	struct fs_rd *r;
	struct stat st;
	int sp, fd, rc;

	if ((sp = fs_space(s, space)) < 0)
		return fs_err();
	fd = openat(sp, key, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	rc = fd < 0 ? fs_err() : 0;
	close(sp);
	if (fd < 0)
		return rc;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return CS_EIO;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		close(fd);
		return CS_ENOMEM;
	}
	r->base.ops = &fs_ops;
	r->fd = fd;
	r->size = (uint64_t)st.st_size;
	*out = &r->base;
	return 0;
}

static uint64_t
fs_rd_size(const struct store_rd *base)
{
	return ((const struct fs_rd *)base)->size;
}

static long
fs_rd_read(struct store_rd *base, uint64_t off, const struct iovec *iov, int n)
{
	struct fs_rd *r = (struct fs_rd *)base;
	struct iovec local[64];
	long total = 0;
	int done = 0;

	if (n < 0 || n > 64)
		return CS_EINVAL;
	memcpy(local, iov, (size_t)n * sizeof(*iov));
	while (done < n) {
		ssize_t k = preadv(r->fd, local + done, n - done, (off_t)off);

		if (k < 0) {
			if (errno == EINTR)
				continue;
			return CS_EIO;
		}
		if (k == 0)
			break; /* end of object */
		off += (uint64_t)k;
		total += k;
		done = iov_advance(local, done, n, (size_t)k);
	}
	return total;
}

static void
fs_rd_close(struct store_rd *base)
{
	struct fs_rd *r = (struct fs_rd *)base;

	close(r->fd);
	free(r);
}

static int
fs_del(struct store *base, const char *space, const char *key)
{
	struct fs_store *s = (struct fs_store *)base;
	char tomb[32];
	int sp = fs_space(s, space), rc;

	if (sp < 0)
		return fs_err();
	if (s->sync == STORE_SYNC_NONE) {
		rc = unlinkat(sp, key, 0) == 0 ? 0 : fs_err();
		close(sp);
		return rc;
	}
	/*
	 * Rename to a tombstone, sync, then unlink the tombstone: if the sync
	 * fails, the rename is undone and the object is still there, as the
	 * caller (which reports the error and keeps its index entry) believes.
	 * Undone without replacing: a key written meanwhile keeps the newer
	 * object.  A tombstone left by a crash is swept at open.
	 */
	if ((rc = fs_tmpname(tomb, sizeof(tomb))) != 0)
		goto out;
	if (renameat(sp, key, sp, tomb) != 0) {
		rc = fs_err();
		goto out;
	}
	if ((rc = fs_dirsync(s, sp)) != 0) {
		int saved = errno;

		if (renameat2(sp, tomb, sp, key, RENAME_NOREPLACE) != 0)
			(void)unlinkat(sp, tomb, 0);
		errno = saved;
		goto out;
	}
	(void)unlinkat(sp, tomb, 0);
out:
	close(sp);
	return rc;
}

static int
fs_rename(struct store *base, const char *space, const char *from, const char *to)
{
	struct fs_store *s = (struct fs_store *)base;
	int sp = fs_space(s, space), rc;

	if (sp < 0)
		return fs_err();
	rc = renameat(sp, from, sp, to) == 0 ? fs_dirsync(s, sp) : fs_err();
	close(sp);
	return rc;
}

/* ---- locks ------------------------------------------------------------------
 *
 * An open-file-description lock (fcntl F_OFD_SETLK) on <root>/.lock-<name>:
 * every store_lock() opens the file anew, so the lock excludes the other
 * threads of this process as well as other processes, and the kernel
 * drops it when its holder exits: there is no lease to renew.  fcntl, not
 * flock: the server's seccomp allow-list has fcntl.  The empty file stays;
 * the sweep at open passes over names that start with a dot.
 */

static int
fs_lock(struct store *base, const char *name, unsigned wait_ms, struct store_lock **out)
{
	struct fs_store *s = (struct fs_store *)base;
	char path[sizeof(LOCK_PREFIX) + STORE_NAME_MAX];
	unsigned step = 1000;
	struct timespec t0;
	struct fs_lock *l;
	int fd, e;

	snprintf(path, sizeof(path), LOCK_PREFIX "%s", name);
	if ((fd = openat(s->root, path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600)) < 0)
		return CS_EIO;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		struct flock fl;

		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET; /* l_start = l_len = 0: the whole file */
		if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
			break;
		if (errno != EAGAIN && errno != EACCES && errno != EINTR)
			goto err;
		if (!store__lock_wait(&t0, wait_ms != 0 ? wait_ms : LOCK_WAIT_MS, &step))
			goto err; /* errno ETIMEDOUT */
	}
	if ((l = calloc(1, sizeof(*l))) == NULL) {
		close(fd);
		return CS_ENOMEM;
	}
	l->base.ops = &fs_ops;
	l->fd = fd;
	*out = &l->base;
	return 0;
err:
	e = errno;
	close(fd);
	errno = e;
	return CS_EIO;
}

static int
fs_lock_renew(struct store_lock *base)
{
	(void)base;
	return 0;
}

static int
fs_unlock(struct store_lock *base)
{
	struct fs_lock *l = (struct fs_lock *)base;

	close(l->fd); /* releases the lock */
	free(l);
	return 0;
}

static const struct store_ops fs_ops = {
	.close = fs_close,
	.space_create = fs_space_create,
	.space_remove = fs_space_remove,
	.list = fs_list,
	.put_begin = fs_put_begin,
	.wr_write = fs_wr_write,
	.wr_commit = fs_wr_commit,
	.wr_abort = fs_wr_abort,
	.get = fs_get,
	.rd_size = fs_rd_size,
	.rd_read = fs_rd_read,
	.rd_close = fs_rd_close,
	.del = fs_del,
	.rename = fs_rename,
	.rewrite = fs_rewrite,
	.lock = fs_lock,
	.lock_renew = fs_lock_renew,
	.unlock = fs_unlock,
	.write_align = fs_write_align,
};
