/*
 * rados_util: connecting to a RADOS cluster and walking an omap.  See
 * rados_util.h.
 */
#include "rados_util.h"
#include "util/err.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RU_NAME_MAX 256

/* ru_err: a librados failure (-errno) as a CS_ error, errno set. */
static int
ru_err(int r)
{
	errno = -r;
	return r == -ENOMEM ? CS_ENOMEM : CS_EIO;
}

static bool
ru_set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

int
rados_util_connect(const struct rados_util_cfg *cfg, rados_t *cl, rados_ioctx_t *io, char *why,
		   size_t whylen)
{
	const char *user = ru_set(cfg->user) ? cfg->user : "client.admin";
	const char *conf = ru_set(cfg->conf) ? cfg->conf : NULL;
	char full[RU_NAME_MAX], tmo[16];
	int r, rc;

	*cl = NULL;
	*io = NULL;
	if (!ru_set(cfg->pool))
		return err_why(why, whylen, CS_EINVAL, "rados: no pool configured");
	/* rados_create2 wants the full name; the bare id is accepted too. */
	if ((size_t)snprintf(full, sizeof(full), "%s%s",
			     strncmp(user, "client.", 7) == 0 ? "" : "client.",
			     user) >= sizeof(full))
		return err_why(why, whylen, CS_EINVAL, "rados: user name too long");
	snprintf(tmo, sizeof(tmo), "%d", cfg->op_timeout > 0 ? cfg->op_timeout : 30);
	if ((r = rados_create2(cl, "ceph", full, 0)) != 0) {
		*cl = NULL;
		return err_why(why, whylen, ru_err(r), "rados: cannot create a handle for %s: %s",
			       full, strerror(-r));
	}
	if ((r = rados_conf_read_file(*cl, conf)) != 0) {
		rc = err_why(why, whylen, ru_err(r), "rados: cannot read %s: %s",
			     conf != NULL ? conf : "the default ceph.conf", strerror(-r));
		goto err1;
	}
	if ((ru_set(cfg->keyring) && (r = rados_conf_set(*cl, "keyring", cfg->keyring)) != 0) ||
	    (r = rados_conf_set(*cl, "rados_osd_op_timeout", tmo)) != 0 ||
	    (r = rados_conf_set(*cl, "rados_mon_op_timeout", tmo)) != 0 ||
	    (r = rados_conf_set(*cl, "client_mount_timeout", tmo)) != 0) {
		rc = err_why(why, whylen, ru_err(r), "rados: cannot configure the client: %s",
			     strerror(-r));
		goto err1;
	}
	if ((r = rados_connect(*cl)) != 0) {
		rc = err_why(why, whylen, ru_err(r),
			     "rados: cannot connect to the cluster as %s: %s (is it up? are the "
			     "ceph.conf and the keyring right?)",
			     full, strerror(-r));
		goto err1;
	}
	if ((r = rados_ioctx_create(*cl, cfg->pool, io)) != 0) {
		rc = err_why(why, whylen, ru_err(r), "rados: cannot open pool %s: %s", cfg->pool,
			     strerror(-r));
		goto err1;
	}
	rados_ioctx_set_namespace(*io, ru_set(cfg->nspace) ? cfg->nspace : NULL);
	return 0;
err1:
	rados_shutdown(*cl);
	*cl = NULL;
	*io = NULL;
	return rc;
}

int
rados_util_omap_each(rados_ioctx_t io, const char *oid, const char *after, const char *prefix,
		     unsigned page, rados_util_omap_fn cb, void *arg, int *stop)
{
	/* The last key seen: the next page starts after it.  Keys of any
	 * length move it on, also those cb ignores. */
	size_t cap = strlen(after) + 1 < 160 ? 160 : strlen(after) + 1;
	char *pos = malloc(cap);
	unsigned char more = 1;
	int r = 0;

	*stop = 0;
	if (pos == NULL)
		return -ENOMEM;
	memcpy(pos, after, strlen(after) + 1);
	while (r == 0 && more && *stop == 0) {
		rados_read_op_t op = rados_create_read_op();
		rados_omap_iter_t it = NULL;
		char *k, *v;
		size_t kl, vl;
		int prval = 0;

		if (op == NULL) {
			r = -ENOMEM;
			break;
		}
		more = 0;
		rados_read_op_omap_get_vals2(op, pos, prefix, page, &it, &more, &prval);
		r = rados_read_op_operate(op, io, oid, 0);
		if (r == 0 && prval < 0)
			r = prval;
		while (r == 0 && *stop == 0 && rados_omap_get_next2(it, &k, &v, &kl, &vl) == 0 &&
		       k != NULL) {
			if (memchr(k, '\0', kl) != NULL) {
				r = -EIO;
				break;
			}
			if (kl >= cap) {
				char *np = realloc(pos, kl + 1);

				if (np == NULL) {
					r = -ENOMEM;
					break;
				}
				pos = np;
				cap = kl + 1;
			}
			memcpy(pos, k, kl);
			pos[kl] = '\0';
			*stop = cb(arg, pos, kl, v, vl);
		}
		if (it != NULL)
			rados_omap_get_end(it);
		rados_release_read_op(op);
	}
	free(pos);
	return r;
}
