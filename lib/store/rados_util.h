/*
 * rados_util: what the RADOS code of cryptstore shares (store_rados.c,
 * keystore_rados.c, server/cluster.c): connecting to a cluster, and
 * walking the omap of one RADOS object page by page.
 *
 * Built only when librados is found (lib/meson.build); callers include
 * this header under CS_HAVE_RADOS.  Nothing here keeps state: every
 * handle it returns belongs to the caller.
 */
#ifndef CS_RADOS_UTIL_H
#define CS_RADOS_UTIL_H

#include <stddef.h>

#include <rados/librados.h>

/* Where and as whom to connect.  Every string is borrowed for the call. */
struct rados_util_cfg {
	const char *conf;    /* ceph.conf path; NULL or "": librados' default search */
	const char *user;    /* "client.NAME" or "NAME"; NULL or "": client.admin */
	const char *keyring; /* NULL or "": as ceph.conf says */
	const char *pool;    /* required; must exist */
	const char *nspace;  /* RADOS namespace; NULL or "": the default one */
	int op_timeout;      /* seconds a monitor or OSD operation may take; <= 0: 30 */
};

/*
 * rados_util_connect(cfg, cl, io, why, whylen): create a client handle for
 * cfg->user, read cfg->conf, set the keyring and the operation timeouts,
 * connect, and open an I/O context on cfg->pool in cfg->nspace.  Returns 0
 * with *cl and *io the caller's (rados_ioctx_destroy(*io), then
 * rados_shutdown(*cl)); CS_EINVAL (no pool, a name too long), CS_ENOMEM or
 * CS_EIO (errno set), with the failed step in why.
 */
int rados_util_connect(const struct rados_util_cfg *cfg, rados_t *cl, rados_ioctx_t *io, char *why,
		       size_t whylen) __attribute__((warn_unused_result));

/*
 * rados_util_omap_fn(arg, key, klen, val, vlen): one omap entry (key is
 * NUL terminated at klen; val is not).  Return 0 to go on, anything else
 * to stop the walk.  Both buffers are valid for the call only.
 */
typedef int (*rados_util_omap_fn)(void *arg, const char *key, size_t klen, const char *val,
				  size_t vlen);

/*
 * rados_util_omap_each(io, oid, after, prefix, page, cb, arg, stop): call
 * cb for every omap entry of oid whose key sorts after `after` ("": from
 * the first) and starts with prefix ("": any), in key order, reading page
 * entries per round trip.  Returns 0 when the walk ended, with *stop the
 * non-zero value of cb that ended it early (0 if none), or a negative
 * librados error: -ENOENT if oid does not exist, -EIO for a key that holds
 * a NUL byte (no walk can go on after it; nothing of cryptstore writes one).
 */
int rados_util_omap_each(rados_ioctx_t io, const char *oid, const char *after, const char *prefix,
			 unsigned page, rados_util_omap_fn cb, void *arg, int *stop)
	__attribute__((warn_unused_result));

#endif /* CS_RADOS_UTIL_H */
