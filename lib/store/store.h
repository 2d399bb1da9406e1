/*
 * store: where encrypted objects live.  A backend-neutral interface with a
 * local-filesystem backend (store_fs.c); a RADOS backend can implement the
 * same operations, so nothing here assumes POSIX paths or directories.
 *
 * Model: a store holds namespaces ("spaces", e.g. one per bucket plus one
 * for the server's own records), each a flat set of keys.  Space ids and
 * keys are short strings of [0-9a-z._-] chosen by the caller (the server
 * uses random ids and keyed hashes: user-supplied names never reach the
 * store).  An object is written through a store_wr at arbitrary offsets and
 * becomes visible only at store_wr_commit(), which atomically and durably
 * replaces any previous object of that key: a reader sees the old object or
 * the new one, never a part.  Aborted or crashed writes leave nothing
 * visible and are swept at the next open.
 *
 * Thread safety: a store may be used from many threads at once; a store_rd
 * belongs to one thread at a time; store_wr_write() of one store_wr may run
 * on several threads at once at distinct offsets (the sealing workers of
 * one upload), while begin, commit and abort belong to one thread.
 */
#ifndef CS_STORE_H
#define CS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define STORE_NAME_MAX 128

struct store;
struct store_wr;
struct store_rd;
struct store_lock;

/* Durability of commits. */
enum store_sync {
	STORE_SYNC_FULL = 0, /* data fdatasync, rename, directory fsync (default) */
	STORE_SYNC_NONE = 1, /* none: for tmpfs and benchmarks only */
};

/*
 * store_fs_open(out, dir, sync): open (creating if needed, mode 0700) the
 * filesystem store rooted at dir, and remove temporary files left by
 * crashed writes.  Returns 0, CS_EIO (errno set) or CS_ENOMEM.
 */
int store_fs_open(struct store **out, const char *dir, enum store_sync sync)
	__attribute__((warn_unused_result));

/*
 * store_fs_direct(s, why, whylen): write through O_DIRECT what can go that
 * way: a write whose offset and iovecs (address and length) are multiples
 * of store_write_align(s) bypasses the page cache (no copy into it, no
 * write-back later); anything else goes through it as before.  Probes the
 * file system with a real O_DIRECT write and takes its alignment from
 * statx (STATX_DIOALIGN; 4096 where the kernel does not say), at least 512
 * and at least the file system's block size up to 4096.
 * Returns 0, or CS_ENOTSUP (tmpfs, a file system without O_DIRECT, or one
 * that wants more than 4096), CS_EINVAL (not a file store), CS_EIO or
 * CS_ENOMEM, with the reason in why.  Reads still use the page cache.
 */
int store_fs_direct(struct store *s, char *why, size_t whylen) __attribute__((warn_unused_result));

/* store_write_align(s): the alignment that makes a write direct (see
 * store_fs_direct()), or 0 when no write bypasses the page cache. */
uint32_t store_write_align(const struct store *s);

/*
 * The RADOS backend (store_rados.c): objects striped over RADOS objects of
 * one pool, the name-to-object index in the omap of one RADOS object per
 * space.  Every string is borrowed for the call only.
 */
struct store_rados_cfg {
	const char *conf;     /* ceph.conf path; NULL: librados' default search */
	const char *user;     /* "client.NAME" or "NAME"; NULL: client.admin */
	const char *keyring;  /* NULL: as ceph.conf says */
	const char *pool;     /* required; must exist */
	const char *nspace;   /* RADOS namespace in the pool; NULL: the default one */
	uint32_t stripe_unit; /* bytes per RADOS object, 4096..64 MiB; 0: 4 MiB */
	/* Seconds the data of a replaced or deleted object outlives the switch,
	 * for readers on other front-ends (this one's own readers are tracked
	 * exactly); 0: 300; negative: none. */
	int gc_grace;
	/* Seconds after which an unfinished write (its front-end crashed) is
	 * swept at open; 0: 3600; negative: every unfinished write (tests). */
	int stale_after;
	/* Seconds a cluster operation may take before it fails (CS_EIO,
	 * errno ETIMEDOUT); 0: 30. */
	int op_timeout;
	/* Seconds a store_lock() lasts without store_lock_renew(): how long a
	 * front-end that died holding it blocks the others; 0: 2 * op_timeout
	 * + 10, so that the two operations of a commit after a renewal fit. */
	int lock_lease;
};

/*
 * store_rados_open(out, cfg, why, whylen): connect to the cluster as
 * cfg->user, open cfg->pool, and sweep what crashed writers and interrupted
 * garbage collection left (see store_rados.c).  Returns 0, CS_EINVAL (cfg),
 * CS_EIO (the cluster: errno set, the reason in why), CS_ENOMEM, or
 * CS_ENOTSUP if this build has no librados.
 */
int store_rados_open(struct store **out, const struct store_rados_cfg *cfg, char *why,
		     size_t whylen) __attribute__((warn_unused_result));

/* store_close(s): release s; NULL is a no-op.  Open handles must be closed first. */
void store_close(struct store *s);

/* store_name_ok(name): true if name is a valid space id or key. */
bool store_name_ok(const char *name);

/* store_space_create(s, space): create a namespace; CS_EEXIST if it exists. */
int store_space_create(struct store *s, const char *space) __attribute__((warn_unused_result));

/* store_space_remove(s, space): remove an empty namespace (CS_EEXIST if not empty). */
int store_space_remove(struct store *s, const char *space) __attribute__((warn_unused_result));

/* store_space_purge(s, space): delete every object of space, then the space. */
int store_space_purge(struct store *s, const char *space) __attribute__((warn_unused_result));

/*
 * store_list(s, space, cb, arg): call cb(arg, key, size) for every committed
 * object of space, in no particular order; stops early and returns cb's
 * value if it is non-zero.
 */
int store_list(struct store *s, const char *space,
	       int (*cb)(void *arg, const char *key, uint64_t size), void *arg)
	__attribute__((warn_unused_result));

/*
 * store_put_begin(s, space, key, size_hint, out): start writing a new object
 * that will replace key on commit.  size_hint (0 if unknown) lets the
 * backend reserve space (fallocate).  Returns 0, CS_ENOENT (no such space),
 * CS_EINVAL, CS_EIO or CS_ENOMEM (ENOSPC is CS_EIO with errno ENOSPC).
 */
int store_put_begin(struct store *s, const char *space, const char *key, uint64_t size_hint,
		    struct store_wr **out) __attribute__((warn_unused_result));

/* store_wr_write(w, off, iov, n): write the iovecs at offset off. */
int store_wr_write(struct store_wr *w, uint64_t off, const struct iovec *iov, int n)
	__attribute__((warn_unused_result));

/* store_wr_commit(w): make the object durable and visible, replacing any old
 * one, and release w (also on failure, after which nothing changed). */
int store_wr_commit(struct store_wr *w) __attribute__((warn_unused_result));

/* store_wr_abort(w): discard the write and release w; NULL is a no-op. */
void store_wr_abort(struct store_wr *w);

/* store_get(s, space, key, out): open a committed object for reading;
 * CS_ENOENT if there is none. */
int store_get(struct store *s, const char *space, const char *key, struct store_rd **out)
	__attribute__((warn_unused_result));

/* store_rd_size(r): the object's size in bytes. */
uint64_t store_rd_size(const struct store_rd *r);

/* store_rd_read(r, off, iov, n): read at off into the iovecs; returns bytes
 * read (short only at the end of the object) or CS_EIO. */
long store_rd_read(struct store_rd *r, uint64_t off, const struct iovec *iov, int n)
	__attribute__((warn_unused_result));

/* store_rd_close(r): release r; NULL is a no-op.  An object deleted or
 * replaced while open stays readable through r. */
void store_rd_close(struct store_rd *r);

/* store_delete(s, space, key): remove an object durably; CS_ENOENT if none. */
int store_delete(struct store *s, const char *space, const char *key)
	__attribute__((warn_unused_result));

/* store_rename(s, space, from, to): atomically move an object to another key
 * of the same space, replacing any object there. */
int store_rename(struct store *s, const char *space, const char *from, const char *to)
	__attribute__((warn_unused_result));

#define STORE_REWRITE_MAX 65536 /* bytes store_rewrite() changes at most */
#define STORE_CHECK_MAX   64

/*
 * store_rewrite(s, space, key, off, data, n, coff, check, clen): overwrite n
 * (<= STORE_REWRITE_MAX) bytes at off of a committed object in place, but
 * only if its bytes at coff are still check (clen <= STORE_CHECK_MAX): an
 * object replaced meanwhile is left alone (CS_EEXIST).  Crash-safe: after a
 * crash the object holds either the old bytes or the new ones, never a mix
 * (a redo journal, replayed at open).  For re-sealing a header under a new
 * key version without copying the object.  CS_ENOENT if there is no object.
 */
int store_rewrite(struct store *s, const char *space, const char *key, uint64_t off,
		  const uint8_t *data, size_t n, uint64_t coff, const uint8_t *check, size_t clen)
	__attribute__((warn_unused_result));

/*
 * Store-wide locks, for a read-modify-write of a record that several
 * writers share (the server's bucket list): every user of the same store
 * takes the same lock of a name, every front-end of a RADOS pool (and
 * namespace), every thread and process of a local store.  Not reentrant:
 * a second store_lock() of a name its caller holds waits like any other.
 *
 * On RADOS a lock is a lease (rados_lock_exclusive on "cs.lock.<name>",
 * cfg->lock_lease seconds): a holder that dies releases it when the lease
 * runs out.  So a holder renews it right before the write it protects
 * (store_lock_renew), and that write must be short (one commit): a lease
 * that ran out means another may have taken the lock meanwhile.  On the
 * local filesystem it is an open-file-description lock (fcntl
 * F_OFD_SETLK) on <root>/.lock-<name>, released by the kernel when its
 * holder exits; there renewal has nothing to do.
 */

/*
 * store_lock(s, name, wait_ms, out): take the lock called name (a valid
 * store name), waiting up to wait_ms while another holds it (0: the
 * backend's default, long enough for the lease of a holder that died to
 * run out: lock_lease + op_timeout on RADOS, 30 s on the filesystem).
 * Returns 0 with *out held until store_unlock(); CS_EINVAL (name), CS_EIO
 * with errno ETIMEDOUT (still held by another after wait_ms), CS_EIO,
 * CS_ENOMEM.
 */
int store_lock(struct store *s, const char *name, unsigned wait_ms, struct store_lock **out)
	__attribute__((warn_unused_result));

/*
 * store_lock_renew(l): check that l is still held and give it a whole
 * lease again.  Returns 0, or CS_EIO with errno ENOLCK if its lease ran out
 * (another may hold the lock now: do not write what it protects), or
 * another CS_EIO (the cluster did not answer).
 */
int store_lock_renew(struct store_lock *l) __attribute__((warn_unused_result));

/*
 * store_unlock(l): release l and free it; NULL is a no-op.  Returns 0, or
 * CS_EIO with errno ENOLCK if its lease had run out before (what was done
 * under it may have overlapped with another holder), or another CS_EIO
 * (the lock is then released when its lease runs out).
 */
int store_unlock(struct store_lock *l) __attribute__((warn_unused_result));

#endif /* CS_STORE_H */
