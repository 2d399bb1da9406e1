/*
 * cluster: front-ends of one RADOS cluster in step.  See cluster.h.
 *
 * An announcement is one notify on "cs.events":
 *   "CSE1" sender[8] kind[1] sealed
 * sender is this process's random id (it ignores its own announcements,
 * acknowledging them at once), kind is 'O' (an object: bucket NUL name),
 * 'B' (the bucket list), 'I' (identities) or 'K' (a level's keys: its id),
 * and sealed is keystore_seal("cluster event", the kind's text).  The
 * watch callback only queues; one thread applies the queue in order and
 * acknowledges each announcement after applying it, with this front-end's
 * name as the acknowledgement's payload.  A key announcement that cannot
 * be applied (the cluster did not answer) is not acknowledged, so its
 * sender reports this front-end.
 */
#include "cluster.h"
#include "catalog.h"
#include "config.h"
#include "identity.h"
#include "keystore/keystore.h"
#include "log.h"
#include "server.h"
#include "util/err.h"
#include "util/secmem.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(CS_HAVE_RADOS) && CS_HAVE_RADOS

#include <pthread.h>
#include <unistd.h>

#include <openssl/rand.h>
#include <rados/librados.h>

#define EV_OID        "cs.events"
#define KS_OID        "cs.keystore"
#define EV_MAGIC      "CSE1"
#define EV_HEAD       (4 + 8 + 1)
#define EV_MAX        (64u << 10) /* no announcement is larger */
#define EV_PURPOSE    "cluster event"
#define REG_PREFIX    "fe."
#define NAME_MAX_     128
#define WATCH_TIMEOUT 10     /* s: the OSD drops a silent watcher after this */
#define DATA_WAIT_MS  2000u  /* data announcements wait this long for acks */
#define KEY_WAIT_MS   10000u /* key announcements */

struct ev {
	struct ev *next;
	uint64_t notify_id, cookie;
	size_t n;
	uint8_t *data; /* the whole announcement, or NULL: re-read everything */
};

struct cluster {
	rados_t cl;
	rados_ioctx_t io;
	struct server *srv;
	uint8_t self[8];
	char name[NAME_MAX_]; /* "host:port" */
	uint64_t gid;         /* this client's instance id */
	uint64_t watch;
	bool watching, registered, started;
	pthread_t thr;
	pthread_mutex_t mu; /* everything below */
	pthread_cond_t cv;
	struct ev *head, *tail;
	bool stop, rewatch;
};

/* ---- connection ------------------------------------------------------------ */

int
cluster_open(struct cluster **out, const struct config *cfg, char *why, size_t whylen)
{
	const char *user = cfg->rados_user[0] != '\0' ? cfg->rados_user : "client.admin";
	char full[160], tmo[16];
	struct cluster *c;
	int r, rc;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return err_why(why, whylen, CS_ENOMEM, "out of memory");
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (RAND_bytes(c->self, sizeof(c->self)) != 1) {
		rc = err_why(why, whylen, CS_ECRYPTO, "no randomness");
		goto err0;
	}
	snprintf(tmo, sizeof(tmo), "%u", cfg->rados_op_timeout ? cfg->rados_op_timeout : 30);
	snprintf(full, sizeof(full), "%s%s", strncmp(user, "client.", 7) == 0 ? "" : "client.",
		 user);
	if ((r = rados_create2(&c->cl, "ceph", full, 0)) != 0) {
		rc = err_why(why, whylen, CS_EIO, "rados: cannot create a handle for %s: %s", full,
			     strerror(-r));
		goto err0;
	}
	if ((r = rados_conf_read_file(c->cl,
				      cfg->rados_conf[0] != '\0' ? cfg->rados_conf : NULL)) != 0 ||
	    (cfg->rados_keyring[0] != '\0' &&
	     (r = rados_conf_set(c->cl, "keyring", cfg->rados_keyring)) != 0) ||
	    (r = rados_conf_set(c->cl, "rados_osd_op_timeout", tmo)) != 0 ||
	    (r = rados_conf_set(c->cl, "rados_mon_op_timeout", tmo)) != 0 ||
	    (r = rados_conf_set(c->cl, "client_mount_timeout", tmo)) != 0) {
		rc = err_why(why, whylen, CS_EIO, "rados: cannot configure the client (%s): %s",
			     cfg->rados_conf[0] != '\0' ? cfg->rados_conf : "default ceph.conf",
			     strerror(-r));
		goto err1;
	}
	if ((r = rados_connect(c->cl)) != 0) {
		rc = err_why(why, whylen, CS_EIO,
			     "rados: cannot connect to the cluster as %s: %s (is it up? are "
			     "rados-conf and rados-keyring right?)",
			     full, strerror(-r));
		goto err1;
	}
	if ((r = rados_ioctx_create(c->cl, cfg->rados_pool, &c->io)) != 0) {
		rc = err_why(why, whylen, CS_EIO, "rados: cannot open pool %s: %s", cfg->rados_pool,
			     strerror(-r));
		goto err1;
	}
	rados_ioctx_set_namespace(c->io,
				  cfg->rados_namespace[0] != '\0' ? cfg->rados_namespace : NULL);
	c->gid = rados_get_instance_id(c->cl);
	*out = c;
	return 0;
err1:
	rados_shutdown(c->cl);
err0:
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
	return rc;
}

int
cluster_keystore_files(struct cluster *c, struct keystore_files *out)
{
	return keystore_rados_files(out, c->io, KS_OID);
}

/* ---- announcements ----------------------------------------------------------- */

/* announce: seal text for kind and notify every watcher, waiting up to
 * wait_ms; the reply buffer (rados_buffer_free it) for the caller. */
static int
announce(struct cluster *c, char kind, const uint8_t *text, size_t n, unsigned wait_ms,
	 char **reply, size_t *replylen)
{
	uint8_t *sealed = NULL, *msg;
	size_t sl = 0;
	int r, rc;

	*reply = NULL;
	*replylen = 0;
	if ((rc = keystore_seal(c->srv->ks, EV_PURPOSE, text, n, &sealed, &sl)) != 0)
		return rc;
	if (sl > EV_MAX - EV_HEAD || (msg = malloc(EV_HEAD + sl)) == NULL) {
		free(sealed);
		return CS_ENOMEM;
	}
	memcpy(msg, EV_MAGIC, 4);
	memcpy(msg + 4, c->self, 8);
	msg[12] = (uint8_t)kind;
	memcpy(msg + EV_HEAD, sealed, sl);
	free(sealed);
	r = rados_notify2(c->io, EV_OID, (const char *)msg, (int)(EV_HEAD + sl), wait_ms, reply,
			  replylen);
	free(msg);
	if (r == -ETIMEDOUT)
		return 1; /* some did not acknowledge: the reply says who */
	if (r < 0) {
		errno = -r;
		return CS_EIO;
	}
	return 0;
}

/* get_le: a little-endian integer of the notify reply. */
static uint64_t
get_le(const uint8_t *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

struct acks {
	unsigned nacks, ntimeouts;
	char acked[1024];  /* names that acknowledged, comma separated */
	uint64_t late[64]; /* gids that did not */
	unsigned nlate;
};

/*
 * parse_reply: rados_notify2's reply: le32 n, n x (le64 gid, le64 cookie,
 * le32 len, len bytes), le32 m, m x (le64 gid, le64 cookie).  A reply that
 * does not parse counts as no acknowledgement at all.
 */
static void
parse_reply(const uint8_t *p, size_t n, struct acks *a)
{
	size_t off = 0;
	uint32_t k;

	memset(a, 0, sizeof(*a));
	if (p == NULL || n < 4)
		return;
	k = (uint32_t)get_le(p, 4);
	off = 4;
	for (uint32_t i = 0; i < k; i++) {
		uint32_t len;
		size_t used = strlen(a->acked);

		if (n - off < 20)
			return;
		len = (uint32_t)get_le(p + off + 16, 4);
		off += 20;
		if (n - off < len)
			return;
		a->nacks++;
		if (len > 0 && len < NAME_MAX_ && used + len + 2 < sizeof(a->acked))
			snprintf(a->acked + used, sizeof(a->acked) - used, "%s%.*s",
				 used > 0 ? "," : "", (int)len, (const char *)p + off);
		off += len;
	}
	if (n - off < 4)
		return;
	k = (uint32_t)get_le(p + off, 4);
	off += 4;
	for (uint32_t i = 0; i < k && n - off >= 16; i++, off += 16) {
		a->ntimeouts++;
		if (a->nlate < sizeof(a->late) / sizeof(a->late[0]))
			a->late[a->nlate++] = get_le(p + off, 8);
	}
}

/* data_changed: announce a data change, waiting a little for the others. */
static void
data_changed(struct cluster *c, char kind, const uint8_t *text, size_t n)
{
	char *reply = NULL;
	size_t rl = 0;
	int rc = announce(c, kind, text, n, DATA_WAIT_MS, &reply, &rl);

	if (rc == 1) {
		struct acks a;

		parse_reply((const uint8_t *)reply, rl, &a);
		log_warn("cluster: %u front-end(s) did not acknowledge a change (kind %c) within "
			 "%u ms; they catch up when they read it",
			 a.ntimeouts, kind, DATA_WAIT_MS);
	} else if (rc != 0) {
		log_warn("cluster: cannot announce a change (kind %c): %s", kind, err_str(rc));
	}
	if (reply != NULL)
		rados_buffer_free(reply);
}

static void
on_object(void *arg, const char *bucket, const char *name)
{
	struct cluster *c = arg;
	size_t bl = strlen(bucket), nl = name != NULL ? strlen(name) : 0;
	uint8_t *t;

	if (name == NULL) {
		data_changed(c, 'B', (const uint8_t *)bucket, bl);
		return;
	}
	if ((t = malloc(bl + 1 + nl)) == NULL) {
		log_warn("cluster: out of memory announcing a change");
		return;
	}
	memcpy(t, bucket, bl + 1);
	memcpy(t + bl + 1, name, nl);
	data_changed(c, 'O', t, bl + 1 + nl);
	free(t);
}

static void
on_identities(void *arg)
{
	data_changed(arg, 'I', (const uint8_t *)"identities", 10);
}

/* registered: the name of the registered front-end whose client id is gid. */
static int
registered_name(struct cluster *c, uint64_t gid, char *out, size_t outsz)
{
	rados_read_op_t op = rados_create_read_op();
	rados_omap_iter_t it = NULL;
	unsigned char more = 0;
	char *k, *v;
	size_t kl, vl;
	int prval = 0, r, found = 0;

	if (op == NULL)
		return 0;
	rados_read_op_omap_get_vals2(op, "", REG_PREFIX, 1024, &it, &more, &prval);
	r = rados_read_op_operate(op, c->io, EV_OID, 0);
	while (r == 0 && prval == 0 && rados_omap_get_next2(it, &k, &v, &kl, &vl) == 0 &&
	       k != NULL) {
		char num[24];

		if (vl == 0 || vl >= sizeof(num))
			continue;
		memcpy(num, v, vl);
		num[vl] = '\0';
		if (strtoull(num, NULL, 10) == gid && kl > 3) {
			snprintf(out, outsz, "%.*s", (int)(kl - 3), k + 3);
			found = 1;
			break;
		}
	}
	if (it != NULL)
		rados_omap_get_end(it);
	rados_release_read_op(op);
	return found;
}

/* registry_missing: registered front-ends not in the acknowledged list. */
static void
registry_missing(struct cluster *c, const char *acked, char *out, size_t outsz)
{
	rados_read_op_t op = rados_create_read_op();
	rados_omap_iter_t it = NULL;
	unsigned char more = 0;
	char *k, *v;
	size_t kl, vl, used = strlen(out);
	int prval = 0, r;

	if (op == NULL)
		return;
	rados_read_op_omap_get_vals2(op, "", REG_PREFIX, 1024, &it, &more, &prval);
	r = rados_read_op_operate(op, c->io, EV_OID, 0);
	while (r == 0 && prval == 0 && rados_omap_get_next2(it, &k, &v, &kl, &vl) == 0 &&
	       k != NULL) {
		char nm[NAME_MAX_];
		const char *p = acked;
		bool seen = false;

		if (kl <= 3 || kl - 3 >= sizeof(nm))
			continue;
		memcpy(nm, k + 3, kl - 3);
		nm[kl - 3] = '\0';
		while (!seen && (p = strstr(p, nm)) != NULL) {
			size_t l = strlen(nm);

			seen = (p == acked || p[-1] == ',') && (p[l] == '\0' || p[l] == ',');
			p += l;
		}
		if (!seen && strstr(out, nm) == NULL && used + kl + 48 < outsz)
			used += (size_t)snprintf(out + used, outsz - used,
						 "%s%s (registered, not watching)",
						 used > 0 ? ", " : "", nm);
	}
	if (it != NULL)
		rados_omap_get_end(it);
	rados_release_read_op(op);
}

int
cluster_key_changed(struct cluster *c, const char *level, char *report, size_t reportlen)
{
	char *reply = NULL, missing[1024] = "";
	size_t rl = 0, used = 0;
	struct acks a;
	int rc;

	rc = announce(c, 'K', (const uint8_t *)level, strlen(level), KEY_WAIT_MS, &reply, &rl);
	if (rc != 0 && rc != 1) {
		snprintf(report, reportlen,
			 "cannot announce the change to the other front-ends: %s", err_str(rc));
		return CS_EIO;
	}
	parse_reply((const uint8_t *)reply, rl, &a);
	if (reply != NULL)
		rados_buffer_free(reply);
	for (unsigned i = 0; i < a.nlate; i++) {
		char nm[NAME_MAX_];

		if (!registered_name(c, a.late[i], nm, sizeof(nm)))
			snprintf(nm, sizeof(nm), "client.%llu", (unsigned long long)a.late[i]);
		used += (size_t)snprintf(missing + used, sizeof(missing) - used, "%s%s (no ack)",
					 used > 0 ? ", " : "", nm);
		if (used >= sizeof(missing))
			break;
	}
	if (used < sizeof(missing))
		registry_missing(c, a.acked, missing, sizeof(missing));
	if (missing[0] != '\0') {
		snprintf(report, reportlen,
			 "%u front-end(s) acknowledged (%s); NOT acknowledged within %u ms: %s",
			 a.nacks, a.acked, KEY_WAIT_MS, missing);
		return CS_EIO;
	}
	snprintf(report, reportlen, "acknowledged by all %u front-end(s): %s", a.nacks, a.acked);
	return 0;
}

/* ---- receiving ------------------------------------------------------------- */

static void
ack(struct cluster *c, uint64_t notify_id, uint64_t cookie)
{
	int r = rados_notify_ack(c->io, EV_OID, notify_id, cookie, c->name,
				 (unsigned)strlen(c->name));

	if (r != 0)
		log_warn("cluster: cannot acknowledge an announcement: %s", strerror(-r));
}

static void
on_notify(void *arg, uint64_t notify_id, uint64_t cookie, uint64_t notifier, void *data, size_t n)
{
	struct cluster *c = arg;
	struct ev *e;

	(void)notifier;
	/* Our own (or not ours at all): nothing to re-read. */
	if (n < EV_HEAD || n > EV_MAX || memcmp(data, EV_MAGIC, 4) != 0 ||
	    memcmp((const uint8_t *)data + 4, c->self, 8) == 0) {
		ack(c, notify_id, cookie);
		return;
	}
	if ((e = calloc(1, sizeof(*e))) == NULL || (e->data = malloc(n)) == NULL) {
		free(e);
		log_error("cluster: out of memory for an announcement: not acknowledged");
		return;
	}
	memcpy(e->data, data, n);
	e->n = n;
	e->notify_id = notify_id;
	e->cookie = cookie;
	pthread_mutex_lock(&c->mu);
	if (c->tail != NULL)
		c->tail->next = e;
	else
		c->head = e;
	c->tail = e;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void
on_watch_error(void *arg, uint64_t cookie, int err)
{
	struct cluster *c = arg;

	(void)cookie;
	log_warn("cluster: the watch on %s was lost (%s); watching again", EV_OID, strerror(-err));
	pthread_mutex_lock(&c->mu);
	c->rewatch = true;
	pthread_cond_signal(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

/* resync: re-read everything another front-end may have changed. */
static void
resync(struct cluster *c)
{
	struct server *srv = c->srv;
	int rc;

	if ((rc = catalog_refresh_buckets(srv->cat)) != 0)
		log_warn("cluster: cannot re-read the bucket list: %s", err_str(rc));
	if ((rc = identity_reload(srv->ids)) != 0)
		log_warn("cluster: cannot re-read the identities: %s", err_str(rc));
	log_info("cluster: re-read buckets and identities after the watch was re-established");
}

/* apply: act on one announcement; false if it must not be acknowledged. */
static bool
apply(struct cluster *c, const struct ev *e)
{
	struct server *srv = c->srv;
	uint8_t *t = NULL;
	size_t tl = 0;
	char kind = (char)e->data[12];
	int rc;

	if (keystore_unseal(srv->ks, EV_PURPOSE, e->data + EV_HEAD, e->n - EV_HEAD, &t, &tl) != 0) {
		log_warn("cluster: an announcement does not unseal under this keystore (another "
			 "root key on the same pool?); ignored");
		return true;
	}
	switch (kind) {
	case 'O': {
		const char *bucket = (const char *)t, *name;
		size_t bl = strnlen(bucket, tl);

		if (bl >= tl)
			break;
		name = bucket + bl + 1; /* t is NUL terminated after tl bytes */
		rc = catalog_refresh_object(srv->cat, bucket, name);
		if (rc == CS_ENOENT && catalog_refresh_buckets(srv->cat) == 0)
			rc = catalog_refresh_object(srv->cat, bucket, name);
		if (rc != 0 && rc != CS_ENOENT)
			log_warn("cluster: cannot re-read an object of bucket %s: %s", bucket,
				 err_str(rc));
		break;
	}
	case 'B':
		if ((rc = catalog_refresh_buckets(srv->cat)) != 0)
			log_warn("cluster: cannot re-read the bucket list: %s", err_str(rc));
		break;
	case 'I':
		if ((rc = identity_reload(srv->ids)) != 0)
			log_warn("cluster: cannot re-read the identities: %s", err_str(rc));
		break;
	case 'K':
		rc = keystore_level_reload(srv->ks, (const char *)t);
		if (rc != 0) {
			log_error("cluster: cannot re-read the keys of level %s: %s; not "
				  "acknowledged",
				  (const char *)t, err_str(rc));
			free(t);
			return false;
		}
		log_info("cluster: level %s re-read after a key change elsewhere", (const char *)t);
		break;
	default:
		log_warn("cluster: an announcement of unknown kind %d; ignored", kind);
		break;
	}
	secmem_wipe(t, tl);
	free(t);
	return true;
}

static int
watch(struct cluster *c)
{
	int r = rados_watch3(c->io, EV_OID, &c->watch, on_notify, on_watch_error, WATCH_TIMEOUT, c);

	c->watching = r == 0;
	return r;
}

static void *
worker(void *arg)
{
	struct cluster *c = arg;

	pthread_mutex_lock(&c->mu);
	while (!c->stop) {
		struct ev *e;

		if (c->rewatch) {
			c->rewatch = false;
			pthread_mutex_unlock(&c->mu);
			if (c->watching)
				(void)rados_unwatch2(c->io, c->watch);
			c->watching = false;
			if (watch(c) == 0)
				resync(c);
			else {
				sleep(1);
				pthread_mutex_lock(&c->mu);
				c->rewatch = true;
				continue;
			}
			pthread_mutex_lock(&c->mu);
			continue;
		}
		if ((e = c->head) == NULL) {
			pthread_cond_wait(&c->cv, &c->mu);
			continue;
		}
		if ((c->head = e->next) == NULL)
			c->tail = NULL;
		pthread_mutex_unlock(&c->mu);
		if (apply(c, e))
			ack(c, e->notify_id, e->cookie);
		free(e->data);
		free(e);
		pthread_mutex_lock(&c->mu);
	}
	pthread_mutex_unlock(&c->mu);
	return NULL;
}

int
cluster_start(struct cluster *c, struct server *srv, char *why, size_t whylen)
{
	char host[64] = "localhost", gid[24];
	const char *key, *val;
	size_t vlen;
	rados_write_op_t op;
	int r;

	c->srv = srv;
	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "localhost");
	snprintf(c->name, sizeof(c->name), "%.63s:%u", host, srv->cfg.port);
	snprintf(gid, sizeof(gid), "%llu", (unsigned long long)c->gid);
	{
		char k[NAME_MAX_ + 4];

		snprintf(k, sizeof(k), REG_PREFIX "%s", c->name);
		key = k;
		val = gid;
		vlen = strlen(gid);
		if ((op = rados_create_write_op()) == NULL)
			return err_why(why, whylen, CS_ENOMEM, "out of memory");
		rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, NULL);
		rados_write_op_omap_set(op, &key, &val, &vlen, 1);
		r = rados_write_op_operate(op, c->io, EV_OID, NULL, 0);
		rados_release_write_op(op);
	}
	if (r != 0)
		return err_why(why, whylen, CS_EIO, "rados: cannot register in %s: %s", EV_OID,
			       strerror(-r));
	c->registered = true;
	if ((r = watch(c)) != 0)
		return err_why(why, whylen, CS_EIO, "rados: cannot watch %s: %s", EV_OID,
			       strerror(-r));
	if (pthread_create(&c->thr, NULL, worker, c) != 0)
		return err_why(why, whylen, CS_ENOMEM, "cannot start the cluster thread");
	c->started = true;
	catalog_set_notify(srv->cat, on_object, c);
	identity_set_notify(srv->ids, on_identities, c);
	log_info("cluster: front-end %s (client.%llu) watching %s", c->name,
		 (unsigned long long)c->gid, EV_OID);
	return 0;
}

void
cluster_close(struct cluster *c)
{
	if (c == NULL)
		return;
	if (c->srv != NULL && c->srv->cat != NULL)
		catalog_set_notify(c->srv->cat, NULL, NULL);
	if (c->srv != NULL && c->srv->ids != NULL)
		identity_set_notify(c->srv->ids, NULL, NULL);
	/* The thread first: it may be watching again (c->watch) right now. */
	if (c->started) {
		pthread_mutex_lock(&c->mu);
		c->stop = true;
		pthread_cond_signal(&c->cv);
		pthread_mutex_unlock(&c->mu);
		pthread_join(c->thr, NULL);
	}
	if (c->watching)
		(void)rados_unwatch2(c->io, c->watch);
	(void)rados_watch_flush(c->cl);
	while (c->head != NULL) {
		struct ev *e = c->head;

		c->head = e->next;
		free(e->data);
		free(e);
	}
	if (c->registered) {
		char k[NAME_MAX_ + 4];
		const char *key = k;
		rados_write_op_t op = rados_create_write_op();

		snprintf(k, sizeof(k), REG_PREFIX "%s", c->name);
		if (op != NULL) {
			rados_write_op_omap_rm_keys(op, &key, 1);
			(void)rados_write_op_operate(op, c->io, EV_OID, NULL, 0);
			rados_release_write_op(op);
		}
	}
	rados_ioctx_destroy(c->io);
	rados_shutdown(c->cl);
	pthread_cond_destroy(&c->cv);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

#else /* !CS_HAVE_RADOS */

int
cluster_open(struct cluster **out, const struct config *cfg, char *why, size_t whylen)
{
	(void)cfg;
	*out = NULL;
	return err_why(why, whylen, CS_ENOTSUP, "this build has no librados (store = rados)");
}

int
cluster_keystore_files(struct cluster *c, struct keystore_files *out)
{
	(void)c;
	(void)out;
	return CS_ENOTSUP;
}

int
cluster_start(struct cluster *c, struct server *srv, char *why, size_t whylen)
{
	(void)c;
	(void)srv;
	return err_why(why, whylen, CS_ENOTSUP, "this build has no librados");
}

int
cluster_key_changed(struct cluster *c, const char *level, char *report, size_t reportlen)
{
	(void)c;
	(void)level;
	snprintf(report, reportlen, "no cluster");
	return CS_ENOTSUP;
}

void
cluster_close(struct cluster *c)
{
	(void)c;
}

#endif
