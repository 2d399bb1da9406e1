/*
 * store_rados: the RADOS backend (Ceph, through librados' C API).
 *
 * Layout, in one pool (and optionally one RADOS namespace of it):
 *
 *   cs.spaces            omap: one key per space id (the registry, for the
 *                        sweep at open)
 *   cs.i.<space>         the space's index; exists iff the space does.
 *                        omap keys:
 *                          <key>          -> "CSO1" ver[16] size:u64 su:u32
 *                          !p.<ver-hex>   -> t:u64 nstripes:u64   (a write
 *                                            in progress: its stripes)
 *                          !g.<ver-hex>   -> t:u64 nstripes:u64   (data of a
 *                                            replaced/deleted object, to drop)
 *                          !j.<key>       -> a rewrite's redo journal
 *   cs.d.<ver-hex>.<n>   stripe n (hex) of the object version ver: bytes
 *                        [n*su, (n+1)*su) of the object
 *
 * Every integer is big-endian; t is in seconds since the epoch by the clock
 * of the front-end that wrote it (stale_after and gc_grace must exceed the
 * clock skew between front-ends).  Keys of
 * the store never start with '!' (store_name_ok) and '!' sorts before every
 * character a name may start with, so the internal entries are at the front
 * of the omap and a listing from "," on is the store's keys in name order.
 *
 * A write takes a fresh random 128-bit version and registers it as pending
 * (!p, with the number of stripes it may write) before it writes any stripe;
 * a write past that count first raises it (one index update per doubling).
 * So every RADOS object of the store is referred to by an index entry, and
 * nothing needs a listing of the pool.  Stripes are own objects rather than
 * libradosstriper's: its layout keeps the size in an xattr of the first
 * object and locks it per write, where here an object is immutable once
 * committed and its size lives in the index, and its objects would have to
 * be named after the key, which a rename would then have to copy.
 *
 * Commit is one RADOS write operation on the index, atomic on the OSD:
 * assert the key still maps to what was read (omap_cmp; an absent key
 * compares equal to ""), assert our pending entry is still there (not swept
 * as stale), set key -> new version, remove the pending entry and, if there
 * was an old version, add a !g entry for it.  A concurrent commit of the
 * same key makes the comparison fail and the commit is retried, so no
 * version is ever lost track of.  Then the old stripes are removed and the
 * !g entry with them; a crash in between leaves the !g entry for the sweep.
 * Delete and rename are the same kind of single guarded index operation.
 * The index switch is the only visible step: a reader sees the old object
 * or the new one, never a part.
 *
 * Stripes below the size that were never written (holes) are created empty
 * at commit, so that a short stripe reads as zeros and a missing one means
 * the version is gone (CS_EIO, never zeros).  Readers of a replaced
 * object: a store_rd holds the version it opened.  The data of a version
 * that a reader of this store has open is kept until the last such reader
 * closes; readers on other front-ends are covered by gc_grace seconds (the
 * !g entries are dropped only after it, by a later commit in the space, at
 * most every gc_grace / 2, or the sweep at open).
 *
 * store_rewrite() within one stripe is one RADOS operation on that stripe
 * (cmpext of the check bytes, write), atomic on the OSD.  Across stripes it
 * goes through a redo journal (!j.<key>, set with a guard on the key's
 * version), is applied stripe by stripe and the journal is removed; the
 * sweep at open applies a journal left behind again (idempotent) if the
 * object is still that version and still holds the check bytes.
 *
 * The sweep at open (every space of the registry): pending entries older
 * than stale_after are turned into !g entries (guarded, so that a writer
 * still alive fails its commit cleanly), !g entries past gc_grace are
 * dropped with their stripes, journals are replayed.  Known gap: a writer
 * swept as stale, or whose space is purged, while it is still writing can
 * recreate stripes that no entry refers to.
 *
 * store_lock(name) is a RADOS advisory lock (cls_lock, exclusive, with a
 * lease of lock_lease seconds and a random cookie per holder) on the
 * object cs.lock.<name>, which it creates empty; a holder that dies
 * releases it when the lease runs out.  Waiters retry with a jittered
 * backoff (librados has no blocking lock).  A renewal asks for
 * LIBRADOS_LOCK_FLAG_MUST_RENEW, so it fails (ENOLCK here) rather than
 * take the lock afresh once the lease ran out.
 *
 * Durability: a RADOS write is acknowledged once it is on every replica's
 * journal, so enum store_sync has no counterpart here.
 */
#include "store.h"
#include "store_impl.h"
#include "util/err.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if CS_HAVE_RADOS

#include <pthread.h>
#include <time.h>

#include <openssl/rand.h>
#include <rados/librados.h>

#include "rados_util.h"

#define RS_SPACES     "cs.spaces"
#define RS_LOCK       "cs.lock."
#define RS_LOCK_NAME  "cs" /* the cls_lock name on a cs.lock.<name> object */
#define RS_IDX        "cs.i."
#define RS_DAT        "cs.d."
#define RS_PENDING    "!p."
#define RS_GC         "!g."
#define RS_JOURNAL    "!j."
#define RS_LIVE_AFTER "," /* every store key sorts after it, every '!' entry before */
#define RS_VER_LEN    16
#define RS_LIVE_LEN   (4 + RS_VER_LEN + 8 + 4)
#define RS_AUX_LEN    16 /* t, nstripes */
#define RS_JFIXED     (4 + RS_VER_LEN + 8 + 4 + 8 + 4)
#define RS_OID_MAX    (sizeof(RS_IDX) + STORE_NAME_MAX + 1)
#define RS_KEY_MAX    (3 + STORE_NAME_MAX + 1)
#define RS_SU_DEFAULT (4u << 20)
#define RS_SU_MIN     4096u
#define RS_SU_MAX     (64u << 20)
#define RS_SIZE_MAX   (1ull << 50) /* larger than any object we write */
#define RS_STRIPES    (1u << 24)   /* stripes of one object at most (64 TiB at 4 MiB) */
#define RS_HINT_MAX   (1u << 16)   /* stripes a size hint announces at most */
#define RS_RETRIES    32
#define RS_PAGE       256
#define RS_IOV_MAX    64

/* A version of this store that a local reader has open. */
struct rs_open {
	struct rs_open *next;
	uint8_t ver[RS_VER_LEN];
	unsigned refs;
	bool dropped; /* its !g entry is waiting for the last reader */
	uint64_t nstripes;
	char space[STORE_NAME_MAX + 1];
};

struct rs_store {
	struct store base;
	rados_t cl;
	rados_ioctx_t io;
	char pool[256], nspace[256];
	uint32_t su;
	long gc_grace, stale_after, op_timeout, lock_lease;
	pthread_mutex_t mu; /* open, next_scan */
	struct rs_open *open;
	time_t next_scan;
};

struct rs_wr {
	struct store_wr base;
	struct rs_store *s;
	char space[STORE_NAME_MAX + 1], key[STORE_NAME_MAX + 1];
	uint8_t ver[RS_VER_LEN];
	pthread_mutex_t mu;       /* everything below */
	uint8_t pval[RS_AUX_LEN]; /* the pending entry as it is in the index */
	uint64_t announced;       /* stripes the pending entry covers */
	uint8_t *written;         /* bitmap of the stripes written, announced bits */
	uint64_t end;             /* bytes written up to */
	bool failed;              /* a write failed: commit refuses */
};

struct rs_rd {
	struct store_rd base;
	struct rs_store *s;
	uint8_t ver[RS_VER_LEN];
	uint64_t size;
	uint32_t su;
};

struct rs_lock {
	struct store_lock base;
	struct rs_store *s;
	char oid[sizeof(RS_LOCK) + STORE_NAME_MAX];
	char cookie[2 * RS_VER_LEN + 1]; /* this holder's, among the store's threads */
};

/* A parsed live index entry. */
struct rs_obj {
	uint8_t ver[RS_VER_LEN];
	uint64_t size;
	uint32_t su;
};

static const struct store_ops rs_ops;

/* ---- encodings ------------------------------------------------------------ */

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

static void
ver_hex(char out[2 * RS_VER_LEN + 1], const uint8_t *ver)
{
	static const char hx[] = "0123456789abcdef";

	for (int i = 0; i < RS_VER_LEN; i++) {
		out[2 * i] = hx[ver[i] >> 4];
		out[2 * i + 1] = hx[ver[i] & 15];
	}
	out[2 * RS_VER_LEN] = '\0';
}

static int
hex_ver(uint8_t *ver, const char *hex)
{
	for (int i = 0; i < 2 * RS_VER_LEN; i++) {
		char c = hex[i];
		int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (d < 0)
			return CS_EINVAL;
		if (i % 2 == 0)
			ver[i / 2] = (uint8_t)(d << 4);
		else
			ver[i / 2] |= (uint8_t)d;
	}
	return hex[2 * RS_VER_LEN] == '\0' ? 0 : CS_EINVAL;
}

static void
idx_oid(char *out, const char *space)
{
	snprintf(out, RS_OID_MAX, RS_IDX "%s", space);
}

static void
dat_oid(char out[64], const uint8_t *ver, uint64_t stripe)
{
	char h[2 * RS_VER_LEN + 1];

	ver_hex(h, ver);
	snprintf(out, 64, RS_DAT "%s.%llx", h, (unsigned long long)stripe);
}

/* aux_key: "!p.<ver>" or "!g.<ver>". */
static void
aux_key(char out[RS_KEY_MAX], const char *prefix, const uint8_t *ver)
{
	char h[2 * RS_VER_LEN + 1];

	ver_hex(h, ver);
	snprintf(out, RS_KEY_MAX, "%s%s", prefix, h);
}

static void
aux_val(uint8_t out[RS_AUX_LEN], uint64_t t, uint64_t nstripes)
{
	put_be(out, t, 8);
	put_be(out + 8, nstripes, 8);
}

static void
live_val(uint8_t out[RS_LIVE_LEN], const uint8_t *ver, uint64_t size, uint32_t su)
{
	memcpy(out, "CSO1", 4);
	memcpy(out + 4, ver, RS_VER_LEN);
	put_be(out + 4 + RS_VER_LEN, size, 8);
	put_be(out + 12 + RS_VER_LEN, su, 4);
}

static int
live_parse(struct rs_obj *o, const char *v, size_t len)
{
	const uint8_t *p = (const uint8_t *)v;

	if (len != RS_LIVE_LEN || memcmp(p, "CSO1", 4) != 0)
		return CS_EIO;
	memcpy(o->ver, p + 4, RS_VER_LEN);
	o->size = get_be(p + 4 + RS_VER_LEN, 8);
	o->su = (uint32_t)get_be(p + 12 + RS_VER_LEN, 4);
	if (o->su < RS_SU_MIN || o->su > RS_SU_MAX || o->size > RS_SIZE_MAX)
		return CS_EIO;
	return 0;
}

static uint64_t
nstripes(uint64_t size, uint32_t su)
{
	return size / su + (size % su != 0);
}

/* rs_fail: a failure of the cluster (a lock operation): CS_EIO or CS_ENOMEM, errno set. */
static int
rs_fail(int r)
{
	errno = -r;
	return r == -ENOMEM ? CS_ENOMEM : CS_EIO;
}

/* rs_err: map a librados result (-errno) to a store error, errno set. */
static int
rs_err(int r)
{
	errno = -r;
	return r == -ENOENT   ? CS_ENOENT
	       : r == -EEXIST ? CS_EEXIST
	       : r == -ENOMEM ? CS_ENOMEM
			      : CS_EIO;
}

static time_t
now(void)
{
	return time(NULL);
}

/* ---- small index operations ---------------------------------------------- */

/*
 * rs_get_val(s, oid, key, out, cap, len): read one omap value.  Returns 0
 * (*len set; *len == SIZE_MAX if the key is absent), CS_ENOENT if the
 * object does not exist, CS_EIO.
 */
static int
rs_get_val(rados_ioctx_t io, const char *oid, const char *key, uint8_t *out, size_t cap,
	   size_t *len)
{
	rados_read_op_t op = rados_create_read_op();
	rados_omap_iter_t it = NULL;
	const char *keys[1] = {key};
	char *k, *v;
	size_t kl, vl;
	int prval = 0, r;

	*len = SIZE_MAX;
	if (op == NULL)
		return CS_ENOMEM;
	rados_read_op_assert_exists(op);
	rados_read_op_omap_get_vals_by_keys(op, keys, 1, &it, &prval);
	r = rados_read_op_operate(op, io, oid, 0);
	if (r == 0 && prval < 0)
		r = prval;
	if (r == 0 && rados_omap_get_next2(it, &k, &v, &kl, &vl) == 0 && k != NULL) {
		if (kl != strlen(key) || memcmp(k, key, kl) != 0 || vl > cap)
			r = -EIO;
		else {
			memcpy(out, v, vl);
			*len = vl;
		}
	}
	if (it != NULL)
		rados_omap_get_end(it);
	rados_release_read_op(op);
	return r == 0 ? 0 : rs_err(r);
}

/* rs_get_live(s, space, key, o): the committed object of key; CS_ENOENT if none
 * or no such space. */
static int
rs_get_live(struct rs_store *s, const char *space, const char *key, struct rs_obj *o)
{
	char oid[RS_OID_MAX];
	uint8_t v[RS_LIVE_LEN];
	size_t len;
	int rc;

	idx_oid(oid, space);
	if ((rc = rs_get_val(s->io, oid, key, v, sizeof(v), &len)) != 0)
		return rc;
	if (len == SIZE_MAX)
		return CS_ENOENT;
	if ((rc = live_parse(o, (const char *)v, len)) != 0)
		errno = EBADMSG;
	return rc;
}

/* rs_wait_all: wait for n completions, release them; the first error or 0. */
static int
rs_wait_all(rados_completion_t *c, size_t n)
{
	int first = 0;

	for (size_t i = 0; i < n; i++) {
		int r;

		if (c[i] == NULL)
			continue;
		rados_aio_wait_for_complete(c[i]);
		r = rados_aio_get_return_value(c[i]);
		if (r < 0 && first == 0)
			first = r;
		rados_aio_release(c[i]);
		c[i] = NULL;
	}
	return first;
}

/* rs_remove_stripes: remove stripes [0, n) of ver, in parallel batches;
 * absent ones are fine.  Returns 0 or a librados error. */
static int
rs_remove_stripes(struct rs_store *s, const uint8_t *ver, uint64_t n)
{
	rados_completion_t c[32];
	int first = 0;

	for (uint64_t b = 0; b < n; b += 32) {
		size_t k = 0;
		int r;

		for (uint64_t i = b; i < n && i < b + 32; i++) {
			char oid[64];

			dat_oid(oid, ver, i);
			if (rados_aio_create_completion2(NULL, NULL, &c[k]) != 0) {
				first = first ? first : -ENOMEM;
				break;
			}
			if ((r = rados_aio_remove(s->io, oid, c[k])) != 0) {
				rados_aio_release(c[k]);
				first = first ? first : r;
				break;
			}
			k++;
		}
		for (size_t i = 0; i < k; i++) {
			rados_aio_wait_for_complete(c[i]);
			r = rados_aio_get_return_value(c[i]);
			if (r < 0 && r != -ENOENT && first == 0)
				first = r;
			rados_aio_release(c[i]);
		}
	}
	return first;
}

/* rs_rm_key: remove one omap key of an index, if it still has value val
 * (len vlen; vlen 0: unconditionally). */
static int
rs_rm_key(struct rs_store *s, const char *space, const char *key, const uint8_t *val, size_t vlen)
{
	rados_write_op_t op = rados_create_write_op();
	char oid[RS_OID_MAX];
	int prval = 0, r;

	if (op == NULL)
		return -ENOMEM;
	idx_oid(oid, space);
	rados_write_op_assert_exists(op);
	if (vlen > 0)
		rados_write_op_omap_cmp(op, key, LIBRADOS_CMPXATTR_OP_EQ, (const char *)val, vlen,
					&prval);
	rados_write_op_omap_rm_keys(op, (const char *const[]){key}, 1);
	r = rados_write_op_operate(op, s->io, oid, NULL, 0);
	rados_release_write_op(op);
	return r;
}

/* ---- local readers and garbage collection ---------------------------------- */

static struct rs_open *
rs_find_open(struct rs_store *s, const uint8_t *ver)
{
	for (struct rs_open *o = s->open; o != NULL; o = o->next)
		if (memcmp(o->ver, ver, RS_VER_LEN) == 0)
			return o;
	return NULL;
}

/* rs_drop_now: remove the stripes of a version and then its !g entry. */
static void
rs_drop_now(struct rs_store *s, const char *space, const uint8_t *ver, uint64_t n)
{
	char gk[RS_KEY_MAX];

	aux_key(gk, RS_GC, ver);
	if (rs_remove_stripes(s, ver, n) == 0)
		(void)rs_rm_key(s, space, gk, NULL, 0);
}

/*
 * rs_drop: the data of ver (n stripes) is no longer referred to by a key and
 * has a !g entry.  Removed now unless a local reader has it open (then at
 * its last close) or other front-ends' readers are given a grace (then by
 * a later scan).
 */
static void
rs_drop(struct rs_store *s, const char *space, const uint8_t *ver, uint64_t n)
{
	struct rs_open *o;

	pthread_mutex_lock(&s->mu);
	if ((o = rs_find_open(s, ver)) != NULL) {
		o->dropped = true;
		o->nstripes = n;
	}
	pthread_mutex_unlock(&s->mu);
	if (o == NULL && s->gc_grace == 0)
		rs_drop_now(s, space, ver, n);
}

static int rs_replay(struct rs_store *s, const char *space, const char *key, const uint8_t *j,
		     size_t jl);

/* What rs_scan_entry needs to know of its walk. */
struct rs_scan {
	struct rs_store *s;
	const char *space, *oid;
};

/* rs_scan_entry: one internal entry of a space's index (rs_scan_space). */
static int
rs_scan_entry(void *arg, const char *key, size_t kl, const char *v, size_t vl)
{
	struct rs_scan *sc = arg;
	struct rs_store *s = sc->s;
	uint8_t ver[RS_VER_LEN], val[RS_AUX_LEN];
	uint64_t t, n;

	if (kl < 3 || kl >= RS_KEY_MAX)
		return 0;
	if (strncmp(key, RS_JOURNAL, 3) == 0) {
		if (store_name_ok(key + 3))
			(void)rs_replay(s, sc->space, key, (const uint8_t *)v, vl);
		return 0;
	}
	if (vl != RS_AUX_LEN || hex_ver(ver, key + 3) != 0)
		return 0;
	memcpy(val, v, vl);
	t = get_be(val, 8);
	n = get_be(val + 8, 8);
	if (strncmp(key, RS_PENDING, 3) == 0) {
		rados_write_op_t w;
		char gk[RS_KEY_MAX];
		uint8_t gv[RS_AUX_LEN];
		int pr = 0, r;

		if ((uint64_t)now() < t + (uint64_t)s->stale_after)
			return 0;
		if ((w = rados_create_write_op()) == NULL)
			return CS_ENOMEM;
		aux_key(gk, RS_GC, ver);
		aux_val(gv, 0, n);
		rados_write_op_assert_exists(w);
		rados_write_op_omap_cmp(w, key, LIBRADOS_CMPXATTR_OP_EQ, (const char *)val,
					sizeof(val), &pr);
		rados_write_op_omap_rm_keys(w, (const char *const[]){key}, 1);
		rados_write_op_omap_set(w, (const char *const[]){gk},
					(const char *const[]){(const char *)gv},
					(const size_t[]){sizeof(gv)}, 1);
		r = rados_write_op_operate(w, s->io, sc->oid, NULL, 0);
		rados_release_write_op(w);
		if (r == 0)
			rs_drop_now(s, sc->space, ver, n);
		else if (r != -ECANCELED)
			return rs_err(r);
	} else if (strncmp(key, RS_GC, 3) == 0) {
		bool busy;

		if ((uint64_t)now() < t + (uint64_t)s->gc_grace)
			return 0;
		pthread_mutex_lock(&s->mu);
		busy = rs_find_open(s, ver) != NULL;
		pthread_mutex_unlock(&s->mu);
		if (!busy)
			rs_drop_now(s, sc->space, ver, n);
	}
	return 0;
}

/*
 * rs_scan_space(s, space): go through a space's internal entries.  Pending
 * writes older than stale_after become !g entries (guarded: a writer that
 * raised its count meanwhile is alive) and lose their data; !g entries past
 * the grace lose theirs unless a local reader has the version open;
 * journals are replayed.  Returns 0 or a store error.
 */
static int
rs_scan_space(struct rs_store *s, const char *space)
{
	char oid[RS_OID_MAX];
	struct rs_scan sc = {.s = s, .space = space, .oid = oid};
	int stop, r;

	idx_oid(oid, space);
	r = rados_util_omap_each(s->io, oid, "", "!", RS_PAGE, rs_scan_entry, &sc, &stop);
	return r < 0 ? rs_err(r) : stop;
}

/*
 * rs_maybe_scan: now and then (every gc_grace / 2, or 5 minutes without a
 * grace), scan the space a commit just went to: expired !g entries, stale
 * pending writes.  Spaces nobody writes to wait for the sweep at open.
 */
static void
rs_maybe_scan(struct rs_store *s, const char *space)
{
	time_t t = now(), every = s->gc_grace > 0 ? s->gc_grace / 2 : 300;
	bool due;

	pthread_mutex_lock(&s->mu);
	due = t >= s->next_scan;
	if (due)
		s->next_scan = t + (every > 0 ? every : 1);
	pthread_mutex_unlock(&s->mu);
	if (due)
		(void)rs_scan_space(s, space);
}

/* ---- striped I/O ----------------------------------------------------------- */

/* One stripe's operation of a striped read or write. */
struct rs_sop {
	rados_completion_t c;
	rados_write_op_t w;
	rados_read_op_t r;
};

/* One piece of an iovec that falls into one stripe (reads). */
struct rs_piece {
	uint8_t *buf;
	size_t len, got;
	int prval;
};

static void
rs_sops_release(struct rs_sop *ops, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (ops[i].c != NULL) {
			rados_aio_wait_for_complete(ops[i].c);
			rados_aio_release(ops[i].c);
		}
		if (ops[i].w != NULL)
			rados_release_write_op(ops[i].w);
		if (ops[i].r != NULL)
			rados_release_read_op(ops[i].r);
	}
	free(ops);
}

/* iov_total: the bytes of n iovecs; false if they overflow. */
static bool
iov_total(const struct iovec *iov, int n, uint64_t *total)
{
	*total = 0;
	for (int i = 0; i < n; i++) {
		if (iov[i].iov_len > RS_SIZE_MAX - *total)
			return false;
		*total += iov[i].iov_len;
	}
	return true;
}

/*
 * rs_pwrite(s, ver, su, off, iov, n, must_exist): write the iovecs at off of
 * the striped object ver: one RADOS operation per stripe, all in flight at
 * once.  must_exist: every stripe touched must exist already (rewrites).
 * Returns 0 or a librados error.
 */
static int
rs_pwrite(struct rs_store *s, const uint8_t *ver, uint32_t su, uint64_t off,
	  const struct iovec *iov, int n, bool must_exist)
{
	uint64_t total, first, last, pos = off;
	struct rs_sop *ops;
	size_t nops;
	int r = 0;

	if (!iov_total(iov, n, &total) || total == 0)
		return total == 0 ? 0 : -EINVAL;
	first = off / su;
	last = (off + total - 1) / su;
	nops = (size_t)(last - first + 1);
	if ((ops = calloc(nops, sizeof(*ops))) == NULL)
		return -ENOMEM;
	for (int i = 0; i < n && r == 0; i++) {
		const uint8_t *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;

		while (left > 0 && r == 0) {
			uint64_t st = pos / su, in = pos % su;
			size_t k = left < su - in ? left : (size_t)(su - in);
			struct rs_sop *o = &ops[st - first];

			if (o->w == NULL) {
				/* The previous stripe is complete: send it. */
				if (st > first && ops[st - first - 1].c == NULL) {
					struct rs_sop *q = &ops[st - first - 1];
					char oid[64];

					dat_oid(oid, ver, st - 1);
					if ((r = rados_aio_create_completion2(NULL, NULL, &q->c)) ==
						    0 &&
					    (r = rados_aio_write_op_operate(q->w, s->io, q->c, oid,
									    NULL, 0)) != 0) {
						rados_aio_release(q->c);
						q->c = NULL;
					}
					if (r != 0)
						break;
				}
				if ((o->w = rados_create_write_op()) == NULL) {
					r = -ENOMEM;
					break;
				}
				if (must_exist)
					rados_write_op_assert_exists(o->w);
			}
			rados_write_op_write(o->w, (const char *)p, k, in);
			p += k;
			left -= k;
			pos += k;
		}
	}
	if (r == 0) {
		struct rs_sop *q = &ops[nops - 1];
		char oid[64];

		dat_oid(oid, ver, last);
		if ((r = rados_aio_create_completion2(NULL, NULL, &q->c)) == 0 &&
		    (r = rados_aio_write_op_operate(q->w, s->io, q->c, oid, NULL, 0)) != 0) {
			rados_aio_release(q->c);
			q->c = NULL;
		}
	}
	for (size_t i = 0; i < nops; i++) {
		if (ops[i].c != NULL) {
			int rr;

			rados_aio_wait_for_complete(ops[i].c);
			rr = rados_aio_get_return_value(ops[i].c);
			if (rr < 0 && r == 0)
				r = rr;
		}
	}
	rs_sops_release(ops, nops);
	return r;
}

/*
 * rs_pread(s, ver, su, size, off, iov, n): read the striped object ver of
 * size bytes at off into the iovecs; bytes never written read as zeros; a
 * missing stripe is an error (the version is gone).  Returns the bytes read
 * (short only at size) or a librados error.
 */
static long
rs_pread(struct rs_store *s, const uint8_t *ver, uint32_t su, uint64_t size, uint64_t off,
	 const struct iovec *iov, int n)
{
	uint64_t total, first, last, pos = off;
	struct rs_piece *pc;
	struct rs_sop *ops;
	size_t nops, npc = 0, maxpc;
	int r = 0;

	if (!iov_total(iov, n, &total))
		return -EINVAL;
	if (off >= size || total == 0)
		return 0;
	if (total > size - off)
		total = size - off;
	if (total > (uint64_t)LONG_MAX)
		total = (uint64_t)LONG_MAX / su * su;
	first = off / su;
	last = (off + total - 1) / su;
	nops = (size_t)(last - first + 1);
	maxpc = (size_t)n + nops;
	if ((ops = calloc(nops, sizeof(*ops))) == NULL)
		return -ENOMEM;
	if ((pc = calloc(maxpc, sizeof(*pc))) == NULL) {
		free(ops);
		return -ENOMEM;
	}
	for (int i = 0; i < n && pos < off + total && r == 0; i++) {
		uint8_t *p = iov[i].iov_base;
		size_t left = iov[i].iov_len;

		if (left > off + total - pos)
			left = (size_t)(off + total - pos);
		while (left > 0 && r == 0) {
			uint64_t st = pos / su, in = pos % su;
			size_t k = left < su - in ? left : (size_t)(su - in);
			struct rs_sop *o = &ops[st - first];
			struct rs_piece *q = &pc[npc++];

			if (o->r == NULL && (o->r = rados_create_read_op()) == NULL) {
				r = -ENOMEM;
				break;
			}
			q->buf = p;
			q->len = k;
			rados_read_op_read(o->r, in, k, (char *)p, &q->got, &q->prval);
			p += k;
			left -= k;
			pos += k;
		}
	}
	for (size_t i = 0; i < nops && r == 0; i++) {
		char oid[64];

		dat_oid(oid, ver, first + i);
		if ((r = rados_aio_create_completion2(NULL, NULL, &ops[i].c)) == 0 &&
		    (r = rados_aio_read_op_operate(ops[i].r, s->io, ops[i].c, oid, 0)) != 0) {
			rados_aio_release(ops[i].c);
			ops[i].c = NULL;
		}
	}
	for (size_t i = 0; i < nops; i++) {
		if (ops[i].c != NULL) {
			int rr;

			rados_aio_wait_for_complete(ops[i].c);
			rr = rados_aio_get_return_value(ops[i].c);
			if (rr < 0 && r == 0)
				r = rr;
		}
	}
	/* A stripe shorter than its share: a hole that was never written. */
	for (size_t i = 0; i < npc && r == 0; i++) {
		if (pc[i].prval < 0)
			r = pc[i].prval;
		else if (pc[i].got < pc[i].len)
			memset(pc[i].buf + pc[i].got, 0, pc[i].len - pc[i].got);
	}
	rs_sops_release(ops, nops);
	free(pc);
	return r < 0 ? r : (long)total;
}

/* ---- open, close, spaces, list ------------------------------------------- */

static int rs_scan_all(struct rs_store *s);

int
store_rados_open(struct store **out, const struct store_rados_cfg *cfg, char *why, size_t whylen)
{
	struct rados_util_cfg rc_cfg;
	struct rs_store *s;
	int rc;

	*out = NULL;
	if (cfg == NULL || cfg->pool == NULL || cfg->pool[0] == '\0')
		return err_why(why, whylen, CS_EINVAL, "rados: no pool configured");
	if (cfg->stripe_unit != 0 && (cfg->stripe_unit < RS_SU_MIN || cfg->stripe_unit > RS_SU_MAX))
		return err_why(why, whylen, CS_EINVAL, "rados: stripe unit %u not in %u..%u",
			       cfg->stripe_unit, RS_SU_MIN, RS_SU_MAX);
	if (strlen(cfg->pool) >= sizeof(s->pool) ||
	    (cfg->nspace != NULL && strlen(cfg->nspace) >= sizeof(s->nspace)))
		return err_why(why, whylen, CS_EINVAL, "rados: pool or namespace name too long");
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return CS_ENOMEM;
	s->base.ops = &rs_ops;
	snprintf(s->pool, sizeof(s->pool), "%s", cfg->pool);
	snprintf(s->nspace, sizeof(s->nspace), "%s", cfg->nspace != NULL ? cfg->nspace : "");
	s->su = cfg->stripe_unit != 0 ? cfg->stripe_unit : RS_SU_DEFAULT;
	s->gc_grace = cfg->gc_grace == 0 ? 300 : cfg->gc_grace < 0 ? 0 : cfg->gc_grace;
	s->stale_after = cfg->stale_after == 0 ? 3600 : cfg->stale_after < 0 ? 0 : cfg->stale_after;
	s->op_timeout = cfg->op_timeout > 0 ? cfg->op_timeout : 30;
	s->lock_lease = cfg->lock_lease > 0 ? cfg->lock_lease : 2 * s->op_timeout + 10;
	if (pthread_mutex_init(&s->mu, NULL) != 0) {
		free(s);
		return CS_ENOMEM;
	}
	rc_cfg = (struct rados_util_cfg){
		.conf = cfg->conf,
		.user = cfg->user,
		.keyring = cfg->keyring,
		.pool = s->pool,
		.nspace = s->nspace,
		.op_timeout = (int)s->op_timeout,
	};
	if ((rc = rados_util_connect(&rc_cfg, &s->cl, &s->io, why, whylen)) != 0)
		goto err0;
	if ((rc = rs_scan_all(s)) != 0) {
		int e = errno;

		rc = err_why(why, whylen, rc, "rados: sweeping pool %s failed: %s", s->pool,
			     strerror(e));
		goto err1;
	}
	*out = &s->base;
	return 0;
err1:
	rados_ioctx_destroy(s->io);
	rados_shutdown(s->cl);
err0:
	pthread_mutex_destroy(&s->mu);
	free(s);
	return rc;
}

/* rs_scan_registered: one space of the registry (rs_scan_all). */
static int
rs_scan_registered(void *arg, const char *key, size_t kl, const char *v, size_t vl)
{
	int rc;

	(void)v;
	(void)vl;
	if (kl > STORE_NAME_MAX || !store_name_ok(key))
		return 0;
	rc = rs_scan_space(arg, key);
	return rc == CS_ENOENT ? 0 : rc;
}

/* rs_scan_all: the sweep at open, over every space of the registry. */
static int
rs_scan_all(struct rs_store *s)
{
	int stop, r;

	r = rados_util_omap_each(s->io, RS_SPACES, "", "", RS_PAGE, rs_scan_registered, s, &stop);
	if (r == -ENOENT)
		return 0; /* a new pool */
	return r < 0 ? rs_err(r) : stop;
}

static void
rs_close(struct store *base)
{
	struct rs_store *s = (struct rs_store *)base;

	while (s->open != NULL) { /* readers left open: a caller's bug, not ours to leak */
		struct rs_open *o = s->open;

		s->open = o->next;
		free(o);
	}
	rados_ioctx_destroy(s->io);
	rados_shutdown(s->cl);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static int
rs_space_create(struct store *base, const char *space)
{
	struct rs_store *s = (struct rs_store *)base;
	rados_write_op_t op;
	char oid[RS_OID_MAX];
	int r;

	/* Registered first, so that the sweep finds every index that exists. */
	if ((op = rados_create_write_op()) == NULL)
		return CS_ENOMEM;
	rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, NULL);
	rados_write_op_omap_set(op, (const char *const[]){space}, (const char *const[]){""},
				(const size_t[]){0}, 1);
	r = rados_write_op_operate(op, s->io, RS_SPACES, NULL, 0);
	rados_release_write_op(op);
	if (r != 0)
		return rs_err(r);
	if ((op = rados_create_write_op()) == NULL)
		return CS_ENOMEM;
	idx_oid(oid, space);
	rados_write_op_create(op, LIBRADOS_CREATE_EXCLUSIVE, NULL);
	r = rados_write_op_operate(op, s->io, oid, NULL, 0);
	rados_release_write_op(op);
	return r == 0 ? 0 : rs_err(r);
}

/* rs_drop_entry: remove the data of one index entry (rs_drop_entries). */
static int
rs_drop_entry(void *arg, const char *key, size_t kl, const char *v, size_t vl)
{
	struct rs_store *s = arg;
	uint8_t ver[RS_VER_LEN];
	struct rs_obj o;
	int r = 0;

	if (kl >= RS_KEY_MAX)
		return 0;
	if (key[0] != '!') {
		if (live_parse(&o, v, vl) == 0)
			r = rs_remove_stripes(s, o.ver, nstripes(o.size, o.su));
	} else if ((strncmp(key, RS_PENDING, 3) == 0 || strncmp(key, RS_GC, 3) == 0) &&
		   vl == RS_AUX_LEN && hex_ver(ver, key + 3) == 0) {
		r = rs_remove_stripes(s, ver, get_be((const uint8_t *)v + 8, 8));
	}
	return r != 0 ? rs_err(r) : 0;
}

/* rs_drop_entries: remove the data of a space's entries: pending and !g
 * ones, and with live also the committed objects' (purge). */
static int
rs_drop_entries(struct rs_store *s, const char *space, bool live)
{
	char oid[RS_OID_MAX];
	int stop, r;

	idx_oid(oid, space);
	r = rados_util_omap_each(s->io, oid, "", live ? "" : "!", RS_PAGE, rs_drop_entry, s, &stop);
	return r < 0 ? rs_err(r) : stop;
}

static void
rs_unregister(struct rs_store *s, const char *space)
{
	rados_write_op_t op = rados_create_write_op();

	if (op == NULL)
		return;
	rados_write_op_omap_rm_keys(op, (const char *const[]){space}, 1);
	(void)rados_write_op_operate(op, s->io, RS_SPACES, NULL, 0);
	rados_release_write_op(op);
}

static int
rs_space_remove(struct store *base, const char *space, bool purge)
{
	struct rs_store *s = (struct rs_store *)base;
	rados_ioctx_t io;
	char oid[RS_OID_MAX];
	int r = 0, rc = CS_EIO, tries;

	/* The version read is that of this ioctx's last operation: a private one. */
	if ((r = rados_ioctx_create(s->cl, s->pool, &io)) != 0)
		return rs_err(r);
	rados_ioctx_set_namespace(io, s->nspace);
	idx_oid(oid, space);
	for (tries = 0; tries < RS_RETRIES; tries++) {
		rados_read_op_t op = rados_create_read_op();
		rados_write_op_t w;
		rados_omap_iter_t it = NULL;
		unsigned char more = 0;
		char *k, *v;
		size_t kl, vl;
		uint64_t ver;
		bool live;
		int prval = 0;

		if (op == NULL) {
			rc = CS_ENOMEM;
			goto out;
		}
		rados_read_op_omap_get_vals2(op, RS_LIVE_AFTER, "", 1, &it, &more, &prval);
		r = rados_read_op_operate(op, io, oid, 0);
		if (r == 0 && prval < 0)
			r = prval;
		ver = rados_get_last_version(io);
		live = r == 0 && rados_omap_get_next2(it, &k, &v, &kl, &vl) == 0 && k != NULL;
		if (it != NULL)
			rados_omap_get_end(it);
		rados_release_read_op(op);
		if (r != 0) {
			rc = rs_err(r);
			goto out;
		}
		if (live && !purge) {
			rc = CS_EEXIST;
			goto out;
		}
		/* Writes in progress do not keep a space: their data goes too. */
		if ((rc = rs_drop_entries(s, space, purge)) != 0)
			goto out;
		if ((w = rados_create_write_op()) == NULL) {
			rc = CS_ENOMEM;
			goto out;
		}
		rados_write_op_assert_version(w, ver);
		rados_write_op_remove(w);
		r = rados_write_op_operate(w, io, oid, NULL, 0);
		rados_release_write_op(w);
		if (r == 0)
			break;
		if (r != -ERANGE && r != -EOVERFLOW) { /* changed meanwhile: again */
			rc = rs_err(r);
			goto out;
		}
	}
	if (tries == RS_RETRIES) {
		errno = EBUSY;
		rc = CS_EIO;
		goto out;
	}
	/* Unregistered last: a registry entry without an index is skipped by the
	 * sweep, an index without an entry would not be swept. */
	rs_unregister(s, space);
	rc = 0;
out:
	rados_ioctx_destroy(io);
	return rc;
}

/* The caller's callback of a store_list(). */
struct rs_lister {
	int (*cb)(void *arg, const char *key, uint64_t size);
	void *arg;
};

/* rs_list_entry: one entry from "," on: a committed object, if it parses. */
static int
rs_list_entry(void *arg, const char *key, size_t kl, const char *v, size_t vl)
{
	struct rs_lister *l = arg;
	struct rs_obj o;

	if (kl > STORE_NAME_MAX || !store_name_ok(key) || live_parse(&o, v, vl) != 0)
		return 0;
	return l->cb(l->arg, key, o.size);
}

static int
rs_list(struct store *base, const char *space, int (*cb)(void *arg, const char *key, uint64_t size),
	void *arg)
{
	struct rs_store *s = (struct rs_store *)base;
	struct rs_lister l = {.cb = cb, .arg = arg};
	char oid[RS_OID_MAX];
	int stop, r;

	idx_oid(oid, space);
	r = rados_util_omap_each(s->io, oid, RS_LIVE_AFTER, "", RS_PAGE, rs_list_entry, &l, &stop);
	return r < 0 ? rs_err(r) : stop;
}

/* ---- writes ---------------------------------------------------------------- */

static int
rs_put_begin(struct store *base, const char *space, const char *key, uint64_t hint,
	     struct store_wr **out)
{
	struct rs_store *s = (struct rs_store *)base;
	rados_write_op_t op;
	char oid[RS_OID_MAX], pk[RS_KEY_MAX];
	struct rs_wr *w;
	int r;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return CS_ENOMEM;
	w->base.ops = &rs_ops;
	w->s = s;
	snprintf(w->space, sizeof(w->space), "%s", space);
	snprintf(w->key, sizeof(w->key), "%s", key);
	if (pthread_mutex_init(&w->mu, NULL) != 0) {
		free(w);
		return CS_ENOMEM;
	}
	if (RAND_bytes(w->ver, sizeof(w->ver)) != 1) {
		r = CS_ECRYPTO;
		goto err;
	}
	/* A hint is only a hint: it does not get to allocate much. */
	w->announced = nstripes(hint < RS_SIZE_MAX ? hint : RS_SIZE_MAX, s->su);
	if (w->announced > RS_HINT_MAX)
		w->announced = RS_HINT_MAX;
	if (w->announced > 0 && (w->written = calloc((w->announced + 7) / 8, 1)) == NULL) {
		r = CS_ENOMEM;
		goto err;
	}
	aux_val(w->pval, (uint64_t)now(), w->announced);
	/* Registered as pending before any stripe exists. */
	if ((op = rados_create_write_op()) == NULL) {
		r = CS_ENOMEM;
		goto err;
	}
	idx_oid(oid, space);
	aux_key(pk, RS_PENDING, w->ver);
	rados_write_op_assert_exists(op);
	rados_write_op_omap_set(op, (const char *const[]){pk},
				(const char *const[]){(const char *)w->pval},
				(const size_t[]){sizeof(w->pval)}, 1);
	r = rados_write_op_operate(op, s->io, oid, NULL, 0);
	rados_release_write_op(op);
	if (r != 0) {
		r = rs_err(r);
		goto err;
	}
	*out = &w->base;
	return 0;
err:
	pthread_mutex_destroy(&w->mu);
	free(w->written);
	free(w);
	return r;
}

/* rs_announce: raise the pending entry's stripe count to at least need
 * (doubling), before those stripes are written.  w->mu held. */
static int
rs_announce(struct rs_wr *w, uint64_t need)
{
	uint64_t n = w->announced * 2, cap = RS_STRIPES;
	char oid[RS_OID_MAX], pk[RS_KEY_MAX];
	uint8_t nv[RS_AUX_LEN], *bm;
	rados_write_op_t op;
	int prval = 0, r;

	if (n < need)
		n = need;
	if (n < 4)
		n = 4;
	if (n > cap)
		n = cap;
	if (n < need) {
		errno = EFBIG;
		return CS_EIO;
	}
	if ((bm = realloc(w->written, (size_t)((n + 7) / 8))) == NULL)
		return CS_ENOMEM;
	memset(bm + (w->announced + 7) / 8, 0, (size_t)((n + 7) / 8 - (w->announced + 7) / 8));
	w->written = bm;
	aux_val(nv, (uint64_t)now(), n);
	if ((op = rados_create_write_op()) == NULL)
		return CS_ENOMEM;
	idx_oid(oid, w->space);
	aux_key(pk, RS_PENDING, w->ver);
	rados_write_op_assert_exists(op);
	rados_write_op_omap_cmp(op, pk, LIBRADOS_CMPXATTR_OP_EQ, (const char *)w->pval,
				sizeof(w->pval), &prval);
	rados_write_op_omap_set(op, (const char *const[]){pk}, (const char *const[]){(char *)nv},
				(const size_t[]){sizeof(nv)}, 1);
	r = rados_write_op_operate(op, w->s->io, oid, NULL, 0);
	rados_release_write_op(op);
	if (r != 0) {
		/* Canceled: swept as stale; no index: the space was removed. */
		errno = r == -ECANCELED ? ESTALE : -r;
		return CS_EIO;
	}
	memcpy(w->pval, nv, sizeof(nv));
	w->announced = n;
	return 0;
}

static int
rs_wr_write(struct store_wr *base, uint64_t off, const struct iovec *iov, int n)
{
	struct rs_wr *w = (struct rs_wr *)base;
	uint64_t total, first, last;
	int rc = 0, r;

	if (n < 0 || n > RS_IOV_MAX || !iov_total(iov, n, &total))
		return CS_EINVAL;
	if (total == 0)
		return 0;
	if (off > RS_SIZE_MAX - total) {
		errno = EFBIG;
		return CS_EIO;
	}
	first = off / w->s->su;
	last = (off + total - 1) / w->s->su;
	if (last >= RS_STRIPES) {
		errno = EFBIG;
		return CS_EIO;
	}
	pthread_mutex_lock(&w->mu);
	if (w->failed) {
		errno = EIO;
		rc = CS_EIO;
	} else if (last >= w->announced && (rc = rs_announce(w, last + 1)) != 0) {
		w->failed = true;
	} else {
		for (uint64_t i = first; i <= last; i++)
			w->written[i / 8] |= (uint8_t)(1u << (i % 8));
	}
	pthread_mutex_unlock(&w->mu);
	if (rc != 0)
		return rc;
	r = rs_pwrite(w->s, w->ver, w->s->su, off, iov, n, false);
	pthread_mutex_lock(&w->mu);
	if (r != 0)
		w->failed = true;
	else if (off + total > w->end)
		w->end = off + total;
	pthread_mutex_unlock(&w->mu);
	if (r != 0) {
		errno = -r;
		return r == -ENOMEM ? CS_ENOMEM : CS_EIO;
	}
	return 0;
}

/* rs_wr_release: free w (its index entry and stripes are someone else's job). */
static void
rs_wr_release(struct rs_wr *w)
{
	pthread_mutex_destroy(&w->mu);
	free(w->written);
	free(w);
}

static void
rs_wr_abort(struct store_wr *base)
{
	struct rs_wr *w = (struct rs_wr *)base;
	rados_completion_t c[32];
	char pk[RS_KEY_MAX];
	size_t k = 0;
	int r = 0;

	/* The stripes written, then the pending entry (a crash in between
	 * leaves the entry, for the sweep). */
	for (uint64_t i = 0; i < w->announced; i++) {
		char oid[64];

		if (!(w->written[i / 8] & (1u << (i % 8))))
			continue;
		dat_oid(oid, w->ver, i);
		if (rados_aio_create_completion2(NULL, NULL, &c[k]) != 0) {
			r = -ENOMEM;
			break;
		}
		if (rados_aio_remove(w->s->io, oid, c[k]) != 0) {
			rados_aio_release(c[k]);
			r = -EIO;
			break;
		}
		if (++k == 32) {
			int rr = rs_wait_all(c, k);

			r = rr != -ENOENT ? rr : 0;
			k = 0;
			if (r != 0)
				break;
		}
	}
	if (k > 0) {
		int rr = rs_wait_all(c, k);

		if (r == 0 && rr != -ENOENT)
			r = rr;
	}
	aux_key(pk, RS_PENDING, w->ver);
	if (r == 0)
		(void)rs_rm_key(w->s, w->space, pk, w->pval, sizeof(w->pval));
	rs_wr_release(w);
}

/* rs_holes: create the stripes below nst that were never written, so that
 * a missing stripe always means a version that is gone. */
static int
rs_holes(struct rs_wr *w, uint64_t nst)
{
	rados_completion_t c[32];
	rados_write_op_t ops[32];
	size_t k = 0;
	int r = 0;

	for (uint64_t i = 0; i < nst && r == 0; i++) {
		char oid[64];

		if (w->written[i / 8] & (1u << (i % 8)))
			continue;
		if ((ops[k] = rados_create_write_op()) == NULL) {
			r = -ENOMEM;
			break;
		}
		rados_write_op_create(ops[k], LIBRADOS_CREATE_IDEMPOTENT, NULL);
		dat_oid(oid, w->ver, i);
		if (rados_aio_create_completion2(NULL, NULL, &c[k]) != 0) {
			rados_release_write_op(ops[k]);
			r = -ENOMEM;
			break;
		}
		if ((r = rados_aio_write_op_operate(ops[k], w->s->io, c[k], oid, NULL, 0)) != 0) {
			rados_aio_release(c[k]);
			rados_release_write_op(ops[k]);
			break;
		}
		w->written[i / 8] |= (uint8_t)(1u << (i % 8));
		if (++k == 32 || i + 1 == nst) {
			r = rs_wait_all(c, k);
			for (size_t j = 0; j < k; j++)
				rados_release_write_op(ops[j]);
			k = 0;
		}
	}
	if (k > 0) {
		int rr = rs_wait_all(c, k);

		for (size_t j = 0; j < k; j++)
			rados_release_write_op(ops[j]);
		r = r != 0 ? r : rr;
	}
	return r;
}

static int
rs_wr_commit(struct store_wr *base)
{
	struct rs_wr *w = (struct rs_wr *)base;
	struct rs_store *s = w->s;
	uint8_t nv[RS_LIVE_LEN], old[RS_LIVE_LEN], gv[RS_AUX_LEN], cur[RS_AUX_LEN];
	char oid[RS_OID_MAX], pk[RS_KEY_MAX], gk[RS_KEY_MAX];
	struct rs_obj o;
	bool had = false;
	size_t olen, clen;
	int r = 0, e, tries;

	if (w->failed) {
		errno = EIO;
		goto err;
	}
	if ((r = rs_holes(w, nstripes(w->end, s->su))) != 0) {
		errno = -r;
		goto err;
	}
	idx_oid(oid, w->space);
	aux_key(pk, RS_PENDING, w->ver);
	live_val(nv, w->ver, w->end, s->su);
	for (tries = 0; tries < RS_RETRIES; tries++) {
		rados_write_op_t op;
		int rc;

		if ((rc = rs_get_val(s->io, oid, w->key, old, sizeof(old), &olen)) != 0) {
			errno = rc == CS_ENOENT ? ENOENT : errno; /* the space is gone */
			goto err;
		}
		had = olen != SIZE_MAX && live_parse(&o, (const char *)old, olen) == 0;
		if ((op = rados_create_write_op()) == NULL) {
			errno = ENOMEM;
			goto err;
		}
		rados_write_op_assert_exists(op);
		/* The key as we read it (absent compares equal to ""), our pending
		 * entry not swept: then the switch, atomically. */
		rados_write_op_omap_cmp(op, w->key, LIBRADOS_CMPXATTR_OP_EQ, (const char *)old,
					olen == SIZE_MAX ? 0 : olen, &e);
		rados_write_op_omap_cmp(op, pk, LIBRADOS_CMPXATTR_OP_EQ, (const char *)w->pval,
					sizeof(w->pval), &e);
		rados_write_op_omap_set(op, (const char *const[]){w->key},
					(const char *const[]){(char *)nv},
					(const size_t[]){sizeof(nv)}, 1);
		rados_write_op_omap_rm_keys(op, (const char *const[]){pk}, 1);
		if (had) {
			aux_key(gk, RS_GC, o.ver);
			aux_val(gv, (uint64_t)now(), nstripes(o.size, o.su));
			rados_write_op_omap_set(op, (const char *const[]){gk},
						(const char *const[]){(char *)gv},
						(const size_t[]){sizeof(gv)}, 1);
		}
		r = rados_write_op_operate(op, s->io, oid, NULL, 0);
		rados_release_write_op(op);
		if (r == 0)
			break;
		if (r != -ECANCELED) {
			errno = -r;
			goto err;
		}
		/* Which guard failed?  Our pending entry gone: swept as stale. */
		if (rs_get_val(s->io, oid, pk, cur, sizeof(cur), &clen) != 0 ||
		    clen != sizeof(cur) || memcmp(cur, w->pval, sizeof(cur)) != 0) {
			errno = ESTALE;
			goto err;
		}
	}
	if (tries == RS_RETRIES) {
		errno = EBUSY;
		goto err;
	}
	if (had)
		rs_drop(s, w->space, o.ver, nstripes(o.size, o.su));
	rs_maybe_scan(s, w->space);
	rs_wr_release(w);
	return 0;
err:
	e = errno;
	rs_wr_abort(base);
	errno = e;
	return CS_EIO;
}

/* ---- reads ----------------------------------------------------------------- */

/* rs_unref: a local reader of ver is gone; the last one drops a version
 * whose data waited for it. */
static void
rs_unref(struct rs_store *s, const uint8_t *ver)
{
	struct rs_open **pp, *o = NULL;
	bool drop = false;

	pthread_mutex_lock(&s->mu);
	for (pp = &s->open; *pp != NULL; pp = &(*pp)->next) {
		if (memcmp((*pp)->ver, ver, RS_VER_LEN) == 0) {
			o = *pp;
			break;
		}
	}
	if (o != NULL && --o->refs == 0) {
		*pp = o->next;
		drop = o->dropped;
	} else {
		o = NULL;
	}
	pthread_mutex_unlock(&s->mu);
	if (o != NULL) {
		if (drop && s->gc_grace == 0)
			rs_drop_now(s, o->space, o->ver, o->nstripes);
		free(o);
	}
}

static int
rs_get(struct store *base, const char *space, const char *key, struct store_rd **out)
{
	struct rs_store *s = (struct rs_store *)base;
	struct rs_obj ob, again;
	struct rs_rd *r;
	int rc, tries;

	if ((r = calloc(1, sizeof(*r))) == NULL)
		return CS_ENOMEM;
	for (tries = 0; tries < RS_RETRIES; tries++) {
		struct rs_open *o;

		if ((rc = rs_get_live(s, space, key, &ob)) != 0)
			goto err;
		pthread_mutex_lock(&s->mu);
		if ((o = rs_find_open(s, ob.ver)) == NULL && (o = calloc(1, sizeof(*o))) != NULL) {
			memcpy(o->ver, ob.ver, RS_VER_LEN);
			snprintf(o->space, sizeof(o->space), "%s", space);
			o->next = s->open;
			s->open = o;
		}
		if (o != NULL)
			o->refs++;
		pthread_mutex_unlock(&s->mu);
		if (o == NULL) {
			rc = CS_ENOMEM;
			goto err;
		}
		/*
		 * Without a grace, a commit that switched the key between our
		 * read and our registration may have dropped the data already:
		 * read the index once more (a switch after this read sees us).
		 */
		if (s->gc_grace > 0)
			break;
		rc = rs_get_live(s, space, key, &again);
		if (rc == 0 && memcmp(again.ver, ob.ver, RS_VER_LEN) == 0)
			break;
		rs_unref(s, ob.ver);
		if (rc != 0)
			goto err;
	}
	if (tries == RS_RETRIES) {
		errno = EBUSY;
		rc = CS_EIO;
		goto err;
	}
	r->base.ops = &rs_ops;
	r->s = s;
	memcpy(r->ver, ob.ver, RS_VER_LEN);
	r->size = ob.size;
	r->su = ob.su;
	*out = &r->base;
	return 0;
err:
	free(r);
	return rc;
}

static uint64_t
rs_rd_size(const struct store_rd *base)
{
	return ((const struct rs_rd *)base)->size;
}

static long
rs_rd_read(struct store_rd *base, uint64_t off, const struct iovec *iov, int n)
{
	struct rs_rd *r = (struct rs_rd *)base;
	long k;

	if (n < 0 || n > RS_IOV_MAX)
		return CS_EINVAL;
	k = rs_pread(r->s, r->ver, r->su, r->size, off, iov, n);
	if (k < 0) {
		errno = (int)-k;
		return k == -ENOMEM ? CS_ENOMEM : k == -EINVAL ? CS_EINVAL : CS_EIO;
	}
	return k;
}

static void
rs_rd_close(struct store_rd *base)
{
	struct rs_rd *r = (struct rs_rd *)base;

	rs_unref(r->s, r->ver);
	free(r);
}

/* ---- delete, rename -------------------------------------------------------- */

static int
rs_del(struct store *base, const char *space, const char *key)
{
	struct rs_store *s = (struct rs_store *)base;
	char oid[RS_OID_MAX], gk[RS_KEY_MAX];
	uint8_t cur[RS_LIVE_LEN], gv[RS_AUX_LEN];
	struct rs_obj o;
	size_t len;
	int rc, r, e = 0;

	idx_oid(oid, space);
	for (int tries = 0; tries < RS_RETRIES; tries++) {
		rados_write_op_t op;

		if ((rc = rs_get_val(s->io, oid, key, cur, sizeof(cur), &len)) != 0)
			return rc;
		if (len == SIZE_MAX)
			return CS_ENOENT;
		if ((op = rados_create_write_op()) == NULL)
			return CS_ENOMEM;
		rados_write_op_assert_exists(op);
		rados_write_op_omap_cmp(op, key, LIBRADOS_CMPXATTR_OP_EQ, (const char *)cur, len,
					&e);
		rados_write_op_omap_rm_keys(op, (const char *const[]){key}, 1);
		if (live_parse(&o, (const char *)cur, len) == 0) {
			aux_key(gk, RS_GC, o.ver);
			aux_val(gv, (uint64_t)now(), nstripes(o.size, o.su));
			rados_write_op_omap_set(op, (const char *const[]){gk},
						(const char *const[]){(char *)gv},
						(const size_t[]){sizeof(gv)}, 1);
		}
		r = rados_write_op_operate(op, s->io, oid, NULL, 0);
		rados_release_write_op(op);
		if (r == 0) {
			if (live_parse(&o, (const char *)cur, len) == 0)
				rs_drop(s, space, o.ver, nstripes(o.size, o.su));
			rs_maybe_scan(s, space);
			return 0;
		}
		if (r != -ECANCELED)
			return rs_err(r);
	}
	errno = EBUSY;
	return CS_EIO;
}

static int
rs_rename(struct store *base, const char *space, const char *from, const char *to)
{
	struct rs_store *s = (struct rs_store *)base;
	char oid[RS_OID_MAX], gk[RS_KEY_MAX];
	uint8_t vf[RS_LIVE_LEN], vt[RS_LIVE_LEN], gv[RS_AUX_LEN];
	struct rs_obj o;
	size_t lf, lt;
	bool had;
	int rc, r, e = 0;

	idx_oid(oid, space);
	if (strcmp(from, to) == 0)
		return rs_get_live(s, space, from, &o);
	for (int tries = 0; tries < RS_RETRIES; tries++) {
		rados_write_op_t op;

		if ((rc = rs_get_val(s->io, oid, from, vf, sizeof(vf), &lf)) != 0 ||
		    (rc = rs_get_val(s->io, oid, to, vt, sizeof(vt), &lt)) != 0)
			return rc;
		if (lf == SIZE_MAX)
			return CS_ENOENT;
		had = lt != SIZE_MAX && live_parse(&o, (const char *)vt, lt) == 0;
		if ((op = rados_create_write_op()) == NULL)
			return CS_ENOMEM;
		rados_write_op_assert_exists(op);
		rados_write_op_omap_cmp(op, from, LIBRADOS_CMPXATTR_OP_EQ, (const char *)vf, lf,
					&e);
		rados_write_op_omap_cmp(op, to, LIBRADOS_CMPXATTR_OP_EQ, (const char *)vt,
					lt == SIZE_MAX ? 0 : lt, &e);
		rados_write_op_omap_rm_keys(op, (const char *const[]){from}, 1);
		rados_write_op_omap_set(op, (const char *const[]){to},
					(const char *const[]){(char *)vf}, (const size_t[]){lf}, 1);
		if (had) {
			aux_key(gk, RS_GC, o.ver);
			aux_val(gv, (uint64_t)now(), nstripes(o.size, o.su));
			rados_write_op_omap_set(op, (const char *const[]){gk},
						(const char *const[]){(char *)gv},
						(const size_t[]){sizeof(gv)}, 1);
		}
		r = rados_write_op_operate(op, s->io, oid, NULL, 0);
		rados_release_write_op(op);
		if (r == 0) {
			if (had)
				rs_drop(s, space, o.ver, nstripes(o.size, o.su));
			return 0;
		}
		if (r != -ECANCELED)
			return rs_err(r);
	}
	errno = EBUSY;
	return CS_EIO;
}

/* ---- in-place rewrites ------------------------------------------------------- */

#define RS_MAX_ERRNO 4095 /* cmpext reports a mismatch as -RS_MAX_ERRNO - offset */

/* rs_apply: if version o still holds check at coff, write data at off. */
static int
rs_apply(struct rs_store *s, const struct rs_obj *o, uint64_t off, const uint8_t *data, size_t n,
	 uint64_t coff, const uint8_t *check, size_t clen)
{
	uint8_t cur[STORE_CHECK_MAX];
	struct iovec iov;
	long k;
	int r;

	if (clen > 0) {
		iov.iov_base = cur;
		iov.iov_len = clen;
		k = rs_pread(s, o->ver, o->su, o->size, coff, &iov, 1);
		if (k == -ENOENT || (k >= 0 && (size_t)k != clen))
			return CS_EEXIST;
		if (k < 0) {
			errno = (int)-k;
			return CS_EIO;
		}
		if (memcmp(cur, check, clen) != 0)
			return CS_EEXIST;
	}
	iov.iov_base = (void *)(uintptr_t)data;
	iov.iov_len = n;
	if ((r = rs_pwrite(s, o->ver, o->su, off, &iov, 1, true)) == -ENOENT)
		return CS_EEXIST;
	if (r != 0) {
		errno = -r;
		return CS_EIO;
	}
	return 0;
}

/* rs_jparse: a journal value: the version and the rewrite it describes. */
static int
rs_jparse(const uint8_t *j, size_t jl, uint8_t *ver, uint64_t *off, size_t *n, uint64_t *coff,
	  size_t *clen)
{
	if (jl < RS_JFIXED || memcmp(j, "CSJ1", 4) != 0)
		return CS_EINVAL;
	memcpy(ver, j + 4, RS_VER_LEN);
	*off = get_be(j + 4 + RS_VER_LEN, 8);
	*n = (size_t)get_be(j + 12 + RS_VER_LEN, 4);
	*coff = get_be(j + 16 + RS_VER_LEN, 8);
	*clen = (size_t)get_be(j + 24 + RS_VER_LEN, 4);
	if (*n == 0 || *n > STORE_REWRITE_MAX || *clen > STORE_CHECK_MAX ||
	    jl != RS_JFIXED + *clen + *n)
		return CS_EINVAL;
	return 0;
}

/* rs_replay: apply a journal left by an interrupted rewrite, then drop it. */
static int
rs_replay(struct rs_store *s, const char *space, const char *jkey, const uint8_t *j, size_t jl)
{
	uint8_t ver[RS_VER_LEN];
	uint64_t off, coff;
	size_t n, clen;
	struct rs_obj o;
	int rc = 0;

	if (rs_jparse(j, jl, ver, &off, &n, &coff, &clen) == 0 &&
	    rs_get_live(s, space, jkey + 3, &o) == 0 && memcmp(o.ver, ver, RS_VER_LEN) == 0 &&
	    off <= o.size && n <= o.size - off)
		rc = rs_apply(s, &o, off, j + RS_JFIXED + clen, n, coff, j + RS_JFIXED, clen);
	if (rc != CS_EIO)
		(void)rs_rm_key(s, space, jkey, j, jl);
	return rc;
}

static int
rs_rewrite(struct store *base, const char *space, const char *key, uint64_t off,
	   const uint8_t *data, size_t n, uint64_t coff, const uint8_t *check, size_t clen)
{
	struct rs_store *s = (struct rs_store *)base;
	char oid[RS_OID_MAX], jk[RS_KEY_MAX];
	uint8_t cur[RS_LIVE_LEN], *j;
	struct rs_obj o, again;
	rados_write_op_t op;
	uint64_t s0, s1;
	size_t len, jl;
	int rc, r, e = 0;

	idx_oid(oid, space);
	if ((rc = rs_get_val(s->io, oid, key, cur, sizeof(cur), &len)) != 0)
		return rc;
	if (len == SIZE_MAX)
		return CS_ENOENT;
	if (live_parse(&o, (const char *)cur, len) != 0) {
		errno = EBADMSG;
		return CS_EIO;
	}
	/* The size lives in the index: a rewrite stays inside the object. */
	if (off > o.size || n > o.size - off)
		return CS_EINVAL;
	if (clen > 0 && (coff > o.size || clen > o.size - coff))
		return CS_EEXIST;
	s0 = off / o.su;
	s1 = (off + n - 1) / o.su;
	if (s0 == s1 && (clen == 0 || (coff / o.su == s0 && (coff + clen - 1) / o.su == s0))) {
		/* One stripe: one atomic operation, checked on the OSD. */
		char doid[64];

		if ((op = rados_create_write_op()) == NULL)
			return CS_ENOMEM;
		dat_oid(doid, o.ver, s0);
		rados_write_op_assert_exists(op);
		if (clen > 0)
			rados_write_op_cmpext(op, (const char *)check, clen, coff - s0 * o.su, &e);
		rados_write_op_write(op, (const char *)data, n, off - s0 * o.su);
		r = rados_write_op_operate(op, s->io, doid, NULL, 0);
		rados_release_write_op(op);
		if (r <= -RS_MAX_ERRNO || r == -ECANCELED)
			return CS_EEXIST; /* other bytes: another object */
		if (r != 0 && r != -ENOENT)
			return rs_err(r);
		/* Applied to a version that is still the key's?  A stripe gone
		 * (ENOENT) or a switch meanwhile: the object was replaced. */
		rc = rs_get_live(s, space, key, &again);
		if (rc == 0 && memcmp(again.ver, o.ver, RS_VER_LEN) != 0)
			rc = CS_EEXIST;
		if (rc == 0 && r == -ENOENT) {
			errno = ENOENT;
			rc = CS_EIO;
		}
		return rc;
	}
	/* Across stripes: a redo journal in the index, set only while the key
	 * is still this version; applied; dropped. */
	jl = RS_JFIXED + clen + n;
	if ((j = malloc(jl)) == NULL)
		return CS_ENOMEM;
	memcpy(j, "CSJ1", 4);
	memcpy(j + 4, o.ver, RS_VER_LEN);
	put_be(j + 4 + RS_VER_LEN, off, 8);
	put_be(j + 12 + RS_VER_LEN, n, 4);
	put_be(j + 16 + RS_VER_LEN, coff, 8);
	put_be(j + 24 + RS_VER_LEN, clen, 4);
	if (clen > 0)
		memcpy(j + RS_JFIXED, check, clen);
	memcpy(j + RS_JFIXED + clen, data, n);
	snprintf(jk, sizeof(jk), RS_JOURNAL "%s", key);
	if ((op = rados_create_write_op()) == NULL) {
		free(j);
		return CS_ENOMEM;
	}
	rados_write_op_assert_exists(op);
	rados_write_op_omap_cmp(op, key, LIBRADOS_CMPXATTR_OP_EQ, (const char *)cur, len, &e);
	rados_write_op_omap_set(op, (const char *const[]){jk}, (const char *const[]){(char *)j},
				(const size_t[]){jl}, 1);
	r = rados_write_op_operate(op, s->io, oid, NULL, 0);
	rados_release_write_op(op);
	if (r == -ECANCELED) {
		rc = rs_get_live(s, space, key, &again) == CS_ENOENT ? CS_ENOENT : CS_EEXIST;
	} else if (r != 0) {
		rc = rs_err(r);
	} else {
		rc = rs_apply(s, &o, off, data, n, coff, check, clen);
		/* Applied or not (the object changed), the journal has done its
		 * job; on an I/O error it stays, for the next open to apply. */
		if (rc != CS_EIO)
			(void)rs_rm_key(s, space, jk, j, jl);
	}
	free(j);
	return rc;
}

/* ---- locks ------------------------------------------------------------------ */

/* rs_lock_take: one attempt at the lock (flags 0) or a renewal of it. */
static int
rs_lock_take(struct rs_lock *l, uint8_t flags)
{
	struct timeval lease = {.tv_sec = (time_t)l->s->lock_lease, .tv_usec = 0};

	return rados_lock_exclusive(l->s->io, l->oid, RS_LOCK_NAME, l->cookie, "cryptstore", &lease,
				    flags);
}

static int
rs_lock(struct store *base, const char *name, unsigned wait_ms, struct store_lock **out)
{
	struct rs_store *s = (struct rs_store *)base;
	uint8_t rnd[RS_VER_LEN];
	unsigned step = 2000;
	struct timespec t0;
	struct rs_lock *l;
	int r;

	if ((l = calloc(1, sizeof(*l))) == NULL)
		return CS_ENOMEM;
	l->base.ops = &rs_ops;
	l->s = s;
	snprintf(l->oid, sizeof(l->oid), RS_LOCK "%s", name);
	if (RAND_bytes(rnd, sizeof(rnd)) != 1) {
		free(l);
		return CS_ECRYPTO;
	}
	ver_hex(l->cookie, rnd);
	if (wait_ms == 0) /* long enough for the lease of a holder that died to run out */
		wait_ms = (unsigned)(s->lock_lease + s->op_timeout) * 1000u;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((r = rs_lock_take(l, 0)) == -EBUSY) {
		if (!store__lock_wait(&t0, wait_ms, &step)) {
			free(l);
			return CS_EIO; /* errno ETIMEDOUT */
		}
	}
	if (r != 0) {
		free(l);
		return rs_fail(r);
	}
	*out = &l->base;
	return 0;
}

static int
rs_lock_renew(struct store_lock *base)
{
	struct rs_lock *l = (struct rs_lock *)base;
	int r = rs_lock_take(l, LIBRADOS_LOCK_FLAG_MUST_RENEW);

	if (r == -ENOENT) {
		errno = ENOLCK; /* the lease ran out: not ours any more */
		return CS_EIO;
	}
	return r == 0 ? 0 : rs_fail(r);
}

static int
rs_unlock(struct store_lock *base)
{
	struct rs_lock *l = (struct rs_lock *)base;
	int r = rados_unlock(l->s->io, l->oid, RS_LOCK_NAME, l->cookie);

	free(l);
	if (r == -ENOENT) {
		errno = ENOLCK;
		return CS_EIO;
	}
	return r == 0 ? 0 : rs_fail(r);
}

static const struct store_ops rs_ops = {
	.close = rs_close,
	.space_create = rs_space_create,
	.space_remove = rs_space_remove,
	.list = rs_list,
	.put_begin = rs_put_begin,
	.wr_write = rs_wr_write,
	.wr_commit = rs_wr_commit,
	.wr_abort = rs_wr_abort,
	.get = rs_get,
	.rd_size = rs_rd_size,
	.rd_read = rs_rd_read,
	.rd_close = rs_rd_close,
	.del = rs_del,
	.rename = rs_rename,
	.rewrite = rs_rewrite,
	.lock = rs_lock,
	.lock_renew = rs_lock_renew,
	.unlock = rs_unlock,
};

#else /* !CS_HAVE_RADOS */

int
store_rados_open(struct store **out, const struct store_rados_cfg *cfg, char *why, size_t whylen)
{
	(void)cfg;
	*out = NULL;
	errno = ENOTSUP;
	return err_why(why, whylen, CS_ENOTSUP, "rados: cryptstore was built without librados");
}

#endif /* CS_HAVE_RADOS */
