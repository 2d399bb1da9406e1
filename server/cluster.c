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
 *
 * Who must acknowledge a key announcement: every LIVE front-end.  The OSD
 * knows who is live: a watcher's librados pings its watch every few
 * seconds, and the OSD drops a watch that went WATCH_TIMEOUT seconds
 * without a ping (its process died or froze, or lost the cluster).  When a
 * watch is dropped while a notify waits for it, the OSD stops waiting for
 * it and leaves it out of the reply.  So a key announcement waits
 * KEY_WAIT_MS, longer than WATCH_TIMEOUT, and its reply sorts every
 * front-end into three: acknowledged (it applied the change); timed out
 * (still watching, so alive, but did not apply it in time: the command
 * fails naming it); in neither (it was not watching by the end: dead, or
 * cut off from the cluster).  A front-end of the last kind cannot block a
 * key command for longer than the watch timeout: it is reported as gone
 * and its registration removed (guarded by its value: a front-end that
 * registered again meanwhile stays).  It holds no key it could use without
 * the cluster, and when it gets its watch back it registers again and
 * re-reads every level's keys before it acknowledges anything else.
 *
 * A registration is "fe.<host:port>" = "<client id> <nonce>", written only
 * while the front-end watches (after the watch is set up, again after each
 * re-watch); the nonce makes every registration distinct for the guard.
 */
#include "cluster.h"
#include "catalog.h"
#include "config.h"
#include "identity.h"
#include "keystore/keystore.h"
#include "log.h"
#include "server.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/secmem.h"

#include <errno.h>
#include <stdarg.h>
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

#include "store/rados_util.h"

#define EV_OID        "cs.events"
#define KS_OID        "cs.keystore"
#define EV_MAGIC      "CSE1"
#define EV_HEAD       (4 + 8 + 1)
#define EV_MAX        (64u << 10) /* no announcement is larger */
#define EV_PURPOSE    "cluster event"
#define REG_PREFIX    "fe."
#define REG_VAL_MAX   64 /* "<client id> <nonce>" */
#define REG_PAGE      256
#define NAME_MAX_     128
#define WATCH_TIMEOUT 10    /* s: the OSD drops a silent watcher after this */
#define DATA_WAIT_MS  2000u /* data announcements wait this long for acks */
/* Key announcements: longer than the watch timeout (plus a ping interval
 * of librados' and slack), so that the OSD has dropped the watch of a
 * front-end that died before the announcement gives up on it. */
#define KEY_WAIT_MS ((WATCH_TIMEOUT + 5) * 1000u)

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
	/* Our registration's value: set by cluster_start and the worker (after
	 * a re-watch), read by cluster_close once the worker stopped. */
	char reg[REG_VAL_MAX];
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
	struct rados_util_cfg rc_cfg = {
		.conf = cfg->rados_conf,
		.user = cfg->rados_user,
		.keyring = cfg->rados_keyring,
		.pool = cfg->rados_pool,
		.nspace = cfg->rados_namespace,
		.op_timeout = (int)cfg->rados_op_timeout,
	};
	struct cluster *c;
	int rc;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return err_why(why, whylen, CS_ENOMEM, "out of memory");
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	if (RAND_bytes(c->self, sizeof(c->self)) != 1) {
		rc = err_why(why, whylen, CS_ECRYPTO, "no randomness");
		goto err0;
	}
	if ((rc = rados_util_connect(&rc_cfg, &c->cl, &c->io, why, whylen)) != 0)
		goto err0;
	c->gid = rados_get_instance_id(c->cl);
	*out = c;
	return 0;
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

#define ACKS_MAX 256 /* front-ends a reply is read for at most */

struct acks {
	unsigned nacks, ntimeouts;
	char acked[1024];          /* names that acknowledged, comma separated */
	uint64_t ackgid[ACKS_MAX]; /* their client ids */
	unsigned nackgid;
	uint64_t late[ACKS_MAX]; /* watchers that did not acknowledge in time */
	unsigned nlate;
	bool complete; /* the whole reply parsed */
};

/*
 * parse_reply: rados_notify2's reply: le32 n, n x (le64 gid, le64 cookie,
 * le32 len, len bytes), le32 m, m x (le64 gid, le64 cookie): the watchers
 * that acknowledged, with their payloads, then those that were still
 * watching when the notify timed out.  A watcher the OSD dropped meanwhile
 * is in neither.  A reply that does not parse counts as no acknowledgement
 * at all (a->complete false).
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
		if (a->nackgid < ACKS_MAX)
			a->ackgid[a->nackgid++] = get_le(p + off - 20, 8);
		if (len > 0 && len < NAME_MAX_ && used + len + 2 < sizeof(a->acked))
			snprintf(a->acked + used, sizeof(a->acked) - used, "%s%.*s",
				 used > 0 ? "," : "", (int)len, (const char *)p + off);
		off += len;
	}
	if (n - off < 4)
		return;
	k = (uint32_t)get_le(p + off, 4);
	off += 4;
	for (uint32_t i = 0; i < k; i++, off += 16) {
		if (n - off < 16)
			return;
		a->ntimeouts++;
		if (a->nlate < ACKS_MAX)
			a->late[a->nlate++] = get_le(p + off, 8);
	}
	/* Every id counted: more front-ends than ACKS_MAX is not a reply we
	 * could sort out. */
	a->complete = a->nacks <= ACKS_MAX && a->ntimeouts <= ACKS_MAX;
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

/* ---- the registry of front-ends -------------------------------------------- */

/* One registration as read from the omap of cs.events. */
struct reg {
	char name[NAME_MAX_];
	char val[REG_VAL_MAX]; /* as stored, for the guard of a removal */
	size_t vlen;
	uint64_t gid;
};

struct regs {
	struct reg *v;
	size_t n, cap;
};

static int
reg_entry(void *arg, const char *key, size_t kl, const char *val, size_t vl)
{
	struct regs *rs = arg;
	char num[REG_VAL_MAX];
	struct reg *r;

	if (kl <= 3 || kl - 3 >= NAME_MAX_ || vl == 0 || vl >= REG_VAL_MAX)
		return 0; /* not a registration this code wrote */
	if (rs->n == rs->cap) {
		size_t cap = rs->cap != 0 ? rs->cap * 2 : 8;
		struct reg *nv = realloc(rs->v, cap * sizeof(*nv));

		if (nv == NULL)
			return CS_ENOMEM;
		rs->v = nv;
		rs->cap = cap;
	}
	r = &rs->v[rs->n++];
	memcpy(r->name, key + 3, kl - 3);
	r->name[kl - 3] = '\0';
	memcpy(r->val, val, vl);
	r->vlen = vl;
	memcpy(num, val, vl);
	num[vl] = '\0';
	r->gid = strtoull(num, NULL, 10); /* "<client id>[ <nonce>]" */
	return 0;
}

/* registry_read: every registered front-end; 0 or a CS_ error. */
static int
registry_read(struct cluster *c, struct regs *out)
{
	int stop, r;

	memset(out, 0, sizeof(*out));
	r = rados_util_omap_each(c->io, EV_OID, "", REG_PREFIX, REG_PAGE, reg_entry, out, &stop);
	if (r == 0 && stop == 0)
		return 0;
	free(out->v);
	memset(out, 0, sizeof(*out));
	if (r < 0) {
		errno = -r;
		return CS_EIO;
	}
	return stop;
}

/* reg_remove: remove name's registration if its value is still val; -ECANCELED if not. */
static int
reg_remove(struct cluster *c, const char *name, const char *val, size_t vlen)
{
	rados_write_op_t op = rados_create_write_op();
	char k[NAME_MAX_ + 4];
	const char *key = k;
	int prval = 0, r;

	if (op == NULL)
		return -ENOMEM;
	snprintf(k, sizeof(k), REG_PREFIX "%s", name);
	rados_write_op_omap_cmp(op, key, LIBRADOS_CMPXATTR_OP_EQ, val, vlen, &prval);
	rados_write_op_omap_rm_keys(op, &key, 1);
	r = rados_write_op_operate(op, c->io, EV_OID, NULL, 0);
	rados_release_write_op(op);
	return r;
}

/* reg_add: register this front-end anew (a fresh nonce); 0 or -errno. */
static int
reg_add(struct cluster *c)
{
	uint8_t nonce[8];
	char k[NAME_MAX_ + 4], hx[2 * sizeof(nonce) + 1], val[REG_VAL_MAX];
	const char *key = k, *v = val;
	size_t vlen;
	rados_write_op_t op;
	int r;

	if (RAND_bytes(nonce, sizeof(nonce)) != 1)
		return -EIO;
	hex_encode(hx, nonce, sizeof(nonce));
	vlen = (size_t)snprintf(val, sizeof(val), "%llu %s", (unsigned long long)c->gid, hx);
	snprintf(k, sizeof(k), REG_PREFIX "%s", c->name);
	if ((op = rados_create_write_op()) == NULL)
		return -ENOMEM;
	rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, NULL);
	rados_write_op_omap_set(op, &key, &v, &vlen, 1);
	r = rados_write_op_operate(op, c->io, EV_OID, NULL, 0);
	rados_release_write_op(op);
	if (r == 0) {
		memcpy(c->reg, val, vlen + 1);
		c->registered = true;
	}
	return r;
}

static bool
has_gid(const uint64_t *v, unsigned n, uint64_t gid)
{
	for (unsigned i = 0; i < n; i++)
		if (v[i] == gid)
			return true;
	return false;
}

/* say: append to a report line, ", " between items; stops at its end. */
static void say(char *out, size_t outsz, size_t *used, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void
say(char *out, size_t outsz, size_t *used, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*used >= outsz - 1)
		return;
	if (*used > 0) {
		n = snprintf(out + *used, outsz - *used, ", ");
		*used = *used + (size_t)n < outsz ? *used + (size_t)n : outsz - 1;
	}
	va_start(ap, fmt);
	n = vsnprintf(out + *used, outsz - *used, fmt, ap);
	va_end(ap);
	if (n > 0)
		*used = *used + (size_t)n < outsz ? *used + (size_t)n : outsz - 1;
}

int
cluster_key_changed(struct cluster *c, const char *level, char *report, size_t reportlen)
{
	char *reply = NULL, missing[1024] = "", gone[1024] = "";
	size_t rl = 0, mu = 0, gu = 0;
	unsigned ngone = 0;
	struct regs before;
	struct acks a;
	int rc;

	/* Who was registered before the announcement went out: a front-end
	 * that registers later watched first, so it either is in the reply
	 * or re-read the keys after this change was on record. */
	if ((rc = registry_read(c, &before)) != 0)
		log_warn("cluster: cannot read the registry of front-ends (%s); front-ends that "
			 "are gone are not named",
			 err_str(rc));
	rc = announce(c, 'K', (const uint8_t *)level, strlen(level), KEY_WAIT_MS, &reply, &rl);
	if (rc != 0 && rc != 1) {
		snprintf(report, reportlen,
			 "cannot announce the change to the other front-ends: %s", err_str(rc));
		free(before.v);
		return CS_EIO;
	}
	parse_reply((const uint8_t *)reply, rl, &a);
	if (reply != NULL)
		rados_buffer_free(reply);
	if (!a.complete) {
		snprintf(report, reportlen,
			 "the cluster's reply to the announcement does not parse: who applied it "
			 "is unknown");
		free(before.v);
		return CS_EIO;
	}
	/* Still watching, not acknowledged: alive but did not apply it. */
	for (unsigned i = 0; i < a.nlate; i++) {
		const char *nm = NULL;

		for (size_t j = 0; j < before.n && nm == NULL; j++)
			if (before.v[j].gid == a.late[i])
				nm = before.v[j].name;
		if (nm != NULL)
			say(missing, sizeof(missing), &mu, "%s (no ack)", nm);
		else
			say(missing, sizeof(missing), &mu, "client.%llu (no ack)",
			    (unsigned long long)a.late[i]);
	}
	/* Registered, in neither list: no watch by the end, gone. */
	for (size_t j = 0; j < before.n; j++) {
		const struct reg *r = &before.v[j];
		int e;

		if (has_gid(a.ackgid, a.nackgid, r->gid) || has_gid(a.late, a.nlate, r->gid))
			continue;
		e = reg_remove(c, r->name, r->val, r->vlen);
		if (e != 0 && e != -ECANCELED)
			log_warn("cluster: cannot remove the registration of %s: %s", r->name,
				 strerror(-e));
		if (e == -ECANCELED)
			continue; /* it registered again meanwhile: watching again */
		log_warn("cluster: front-end %s (client.%llu) is registered but was not watching "
			 "during a key change: gone; its registration is removed",
			 r->name, (unsigned long long)r->gid);
		say(gone, sizeof(gone), &gu, "%s", r->name);
		ngone++;
	}
	free(before.v);
	if (missing[0] != '\0') {
		snprintf(report, reportlen,
			 "%u front-end(s) acknowledged (%s); NOT acknowledged within %u ms: %s%s%s",
			 a.nacks, a.acked, KEY_WAIT_MS, missing,
			 ngone > 0 ? "; gone (not watching, registration removed): " : "", gone);
		return CS_EIO;
	}
	snprintf(report, reportlen, "acknowledged by all %u live front-end(s): %s%s%s", a.nacks,
		 a.acked, ngone > 0 ? "; gone (not watching, registration removed): " : "", gone);
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

/* The ids of the levels this front-end knows (reload_keys). */
struct level_ids {
	char **id;
	size_t n, cap;
	bool failed;
};

static void
level_id(void *arg, const char *id, uint32_t active)
{
	struct level_ids *l = arg;

	(void)active;
	if (l->n == l->cap) {
		size_t cap = l->cap != 0 ? l->cap * 2 : 16;
		char **nv = realloc(l->id, cap * sizeof(*nv));

		if (nv == NULL) {
			l->failed = true;
			return;
		}
		l->id = nv;
		l->cap = cap;
	}
	if ((l->id[l->n] = strdup(id)) == NULL)
		l->failed = true;
	else
		l->n++;
}

/* reload_keys: re-read every known level's keys (destroyed ones are wiped). */
static int
reload_keys(struct cluster *c)
{
	struct level_ids l = {0};
	int rc = 0;

	keystore_level_ids(c->srv->ks, level_id, &l);
	if (l.failed)
		rc = CS_ENOMEM;
	for (size_t i = 0; i < l.n; i++) {
		int r = keystore_level_reload(c->srv->ks, l.id[i]);

		if (r != 0 && r != CS_ENOENT) {
			log_error("cluster: cannot re-read the keys of level %s: %s", l.id[i],
				  err_str(r));
			rc = rc != 0 ? rc : r;
		}
		free(l.id[i]);
	}
	free(l.id);
	return rc;
}

/*
 * resync(c, when): re-read everything another front-end may have changed
 * while this one was not watching: every level's keys (a key change it
 * missed was not waited for, see the top of the file), the bucket list,
 * the identities.
 */
static void
resync(struct cluster *c, const char *when)
{
	struct server *srv = c->srv;
	int rc;

	if ((rc = reload_keys(c)) != 0)
		log_error("cluster: cannot re-read the level keys %s: %s", when, err_str(rc));
	if ((rc = catalog_refresh_buckets(srv->cat)) != 0)
		log_warn("cluster: cannot re-read the bucket list: %s", err_str(rc));
	if ((rc = identity_reload(srv->ids)) != 0)
		log_warn("cluster: cannot re-read the identities: %s", err_str(rc));
	log_info("cluster: re-read level keys, buckets and identities %s", when);
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
			if (watch(c) == 0) {
				/* Registered again: a key change may have found
				 * this front-end gone and removed it. */
				int r = reg_add(c);

				if (r != 0)
					log_warn("cluster: cannot register again in %s: %s", EV_OID,
						 strerror(-r));
				resync(c, "after the watch was re-established");
			} else {
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
	char host[64] = "localhost";
	rados_write_op_t op;
	int r;

	c->srv = srv;
	if (gethostname(host, sizeof(host) - 1) != 0)
		snprintf(host, sizeof(host), "localhost");
	snprintf(c->name, sizeof(c->name), "%.63s:%u", host, srv->cfg.port);
	/* Watch first, then register: a registered front-end is one that
	 * watches (or did until it died).  A watch needs the object. */
	if ((op = rados_create_write_op()) == NULL)
		return err_why(why, whylen, CS_ENOMEM, "out of memory");
	rados_write_op_create(op, LIBRADOS_CREATE_IDEMPOTENT, NULL);
	r = rados_write_op_operate(op, c->io, EV_OID, NULL, 0);
	rados_release_write_op(op);
	if (r != 0)
		return err_why(why, whylen, CS_EIO, "rados: cannot create %s: %s", EV_OID,
			       strerror(-r));
	if ((r = watch(c)) != 0)
		return err_why(why, whylen, CS_EIO, "rados: cannot watch %s: %s", EV_OID,
			       strerror(-r));
	if ((r = reg_add(c)) != 0)
		return err_why(why, whylen, CS_EIO, "rados: cannot register in %s: %s", EV_OID,
			       strerror(-r));
	/* What changed between loading (keystore, catalogue, identities) and
	 * the watch was announced to nobody here: read it again.  From now on
	 * every change is announced to this front-end. */
	resync(c, "now that this front-end watches");
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
	/* Only our own registration: another front-end may have taken over
	 * the name (restarted on this host and port) meanwhile. */
	if (c->registered)
		(void)reg_remove(c, c->name, c->reg, strlen(c->reg));
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
