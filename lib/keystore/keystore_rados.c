/*
 * keystore_rados: the keystore's files as the omap of one RADOS object, so
 * that every front-end of a cluster sees the same sealed level KEKs, level
 * records, system keys and sealed records.  See keystore_rados_files() in
 * keystore.h.
 *
 * One omap key per file, its value the file's bytes (already sealed under
 * the root key by keystore.c).  Every operation is one RADOS operation on
 * that object, atomic on the OSD: a write replaces the whole value; an
 * exclusive write carries an omap_cmp guard that the key is absent (an
 * absent key compares equal to ""; no file is empty), so two front-ends
 * creating the same key version cannot both succeed.  Reads and listings
 * see a committed state.
 */
#include "keystore.h"
#include "util/err.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#if defined(CS_HAVE_RADOS) && CS_HAVE_RADOS

#include <rados/librados.h>

#include "store/rados_util.h"

#define KR_OID_MAX 128
#define KR_PAGE    256

struct kr {
	rados_ioctx_t io;
	char oid[KR_OID_MAX];
};

static int
kr_err(int r)
{
	switch (r) {
	case 0:
		return 0;
	case -ENOENT:
		return CS_ENOENT;
	case -ECANCELED:
		return CS_EEXIST;
	case -ENOMEM:
		return CS_ENOMEM;
	default:
		errno = -r;
		return CS_EIO;
	}
}

static int
kr_read(void *arg, const char *name, size_t max, uint8_t **out, size_t *outlen)
{
	struct kr *k = arg;
	rados_read_op_t op = rados_create_read_op();
	rados_omap_iter_t it = NULL;
	const char *keys[1] = {name};
	char *key, *val;
	size_t kl, vl;
	int prval = 0, r, rc = CS_ENOENT;

	if (op == NULL)
		return CS_ENOMEM;
	rados_read_op_omap_get_vals_by_keys(op, keys, 1, &it, &prval);
	r = rados_read_op_operate(op, k->io, k->oid, 0);
	if (r == 0 && prval < 0)
		r = prval;
	if (r != 0)
		rc = kr_err(r);
	else if (rados_omap_get_next2(it, &key, &val, &kl, &vl) == 0 && key != NULL) {
		if (kl != strlen(name) || memcmp(key, name, kl) != 0)
			rc = CS_EIO;
		else if (vl > max)
			rc = CS_ERANGE;
		else if ((*out = malloc(vl + 1)) == NULL)
			rc = CS_ENOMEM;
		else {
			memcpy(*out, val, vl);
			(*out)[vl] = 0;
			*outlen = vl;
			rc = 0;
		}
	}
	if (it != NULL)
		rados_omap_get_end(it);
	rados_release_read_op(op);
	return rc;
}

static int
kr_write(void *arg, const char *name, const uint8_t *data, size_t n, bool excl)
{
	struct kr *k = arg;
	rados_write_op_t op;
	const char *keys[1] = {name};
	const char *vals[1] = {(const char *)data};
	size_t lens[1] = {n};
	int prval = 0, r;

	if (n == 0)
		return CS_EINVAL; /* "" is what an absent key compares equal to */
	if ((op = rados_create_write_op()) == NULL)
		return CS_ENOMEM;
	rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, NULL);
	if (excl)
		rados_write_op_omap_cmp(op, name, LIBRADOS_CMPXATTR_OP_EQ, "", 0, &prval);
	rados_write_op_omap_set(op, keys, vals, lens, 1);
	r = rados_write_op_operate(op, k->io, k->oid, NULL, 0);
	rados_release_write_op(op);
	return kr_err(r);
}

static int
kr_erase(void *arg, const char *name)
{
	struct kr *k = arg;
	rados_write_op_t op = rados_create_write_op();
	int r;

	if (op == NULL)
		return CS_ENOMEM;
	rados_write_op_omap_rm_keys(op, (const char *const[]){name}, 1);
	r = rados_write_op_operate(op, k->io, k->oid, NULL, 0);
	rados_release_write_op(op);
	return r == -ENOENT ? 0 : kr_err(r);
}

/* The caller's callback of a listing. */
struct kr_walk {
	int (*cb)(void *cbarg, const char *name);
	void *cbarg;
};

static int
kr_list_entry(void *arg, const char *key, size_t kl, const char *val, size_t vl)
{
	struct kr_walk *w = arg;

	(void)val;
	(void)vl;
	if (kl == 0 || kl >= KR_OID_MAX * 2)
		return CS_EIO; /* not a name keystore.c wrote */
	return w->cb(w->cbarg, key);
}

static int
kr_list(void *arg, int (*cb)(void *cbarg, const char *name), void *cbarg)
{
	struct kr *k = arg;
	struct kr_walk w = {.cb = cb, .cbarg = cbarg};
	int stop, r;

	r = rados_util_omap_each(k->io, k->oid, "", "", KR_PAGE, kr_list_entry, &w, &stop);
	if (r == -ENOENT)
		return 0; /* no file yet */
	return r < 0 ? kr_err(r) : stop;
}

static void
kr_close(void *arg)
{
	free(arg);
}

int
keystore_rados_files(struct keystore_files *out, void *ioctx, const char *oid)
{
	struct kr *k;

	if (strlen(oid) >= KR_OID_MAX)
		return CS_EINVAL;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return CS_ENOMEM;
	k->io = (rados_ioctx_t)ioctx;
	memcpy(k->oid, oid, strlen(oid) + 1);
	memset(out, 0, sizeof(*out));
	out->arg = k;
	out->read = kr_read;
	out->write = kr_write;
	out->erase = kr_erase;
	out->list = kr_list;
	out->sync = NULL; /* a RADOS write is durable when acknowledged */
	out->close = kr_close;
	out->shared = true;
	return 0;
}

#else /* !CS_HAVE_RADOS */

int
keystore_rados_files(struct keystore_files *out, void *ioctx, const char *oid)
{
	(void)ioctx;
	(void)oid;
	memset(out, 0, sizeof(*out));
	return CS_ENOTSUP;
}

#endif
