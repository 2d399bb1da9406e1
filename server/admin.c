/*
 * admin: the control socket and its verbs.  See admin.h and docs/ADMIN.md.
 *
 * One thread accepts; each request gets a detached thread, so that a long
 * rewrap does not hold up `status`.  Verbs that change keys or objects take
 * one mutex, so two of them never interleave (a rotate during a rewrap, a
 * shred during a rewrap).
 */
#include "admin.h"
#include "audit/audit.h"
#include "catalog.h"
#include "cluster.h"
#include "conn.h"
#include "evloop.h"
#include "identity.h"
#include "keystore/keystore.h"
#include "log.h"
#include "objio.h"
#include "procmodel.h"
#include "server.h"
#include "store/store.h"
#include "util/err.h"
#include "util/secmem.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define ADM_LINE_MAX 65536 /* request line */
#define ADM_ARGS_MAX 32
#define ADM_TIMEOUT  10000 /* ms to receive the request line */

/* Exit codes the client passes on (cli/cryptstore.c). */
#define X_FAIL  1
#define X_USAGE 2
#define X_AUTH  5

static pthread_mutex_t adm_mutate = PTHREAD_MUTEX_INITIALIZER;

struct adm {
	struct server *srv;
	int fd;
	char actor[64]; /* "uid=0 pid=123" */
	char *argv[ADM_ARGS_MAX];
	int argc;
	/* parsed options */
	const char *pos[ADM_ARGS_MAX];
	int npos;
	const char *label, *clearance, *level;
	bool admin, yes;
};

void
server_audit(struct server *srv, const char *event, const char *const *kv, size_t n)
{
	int rc;

	if (procmodel_audit(srv, event, kv, n))
		return; /* a connection process: the parent writes it */
	if (srv->audit == NULL)
		return;
	if ((rc = audit_event(srv->audit, event, kv, n / 2)) != 0)
		log_error("AUDIT: cannot record event %s: %s", event, err_str(rc));
}

/* ---- output --------------------------------------------------------------- */

static void __attribute__((format(printf, 4, 0)))
adm_send(struct adm *a, char type, const char *prefix, const char *fmt, va_list ap)
{
	char buf[8192];
	int n = snprintf(buf, sizeof(buf), "%c %s", type, prefix);

	if (n < 0 || (size_t)n >= sizeof(buf))
		return;
	if (vsnprintf(buf + n, sizeof(buf) - (size_t)n - 1, fmt, ap) < 0) {
		secmem_wipe(buf, sizeof(buf));
		return;
	}
	for (char *p = buf; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	n = (int)strlen(buf);
	buf[n++] = '\n';
	for (int off = 0; off < n;) {
		ssize_t k = send(a->fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break; /* the client went away; the verb still completes */
		off += (int)k;
	}
	secmem_wipe(buf, sizeof(buf)); /* it may have held a new access key's secret */
}

static void __attribute__((format(printf, 3, 4)))
say(struct adm *a, char type, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	adm_send(a, type, "", fmt, ap);
	va_end(ap);
}

/* Output lines, progress, warnings and the final success line (docs/ADMIN.md). */
#define out(a, ...)      say((a), 'I', __VA_ARGS__)
#define progress(a, ...) say((a), 'P', __VA_ARGS__)
#define warn(a, ...)     say((a), 'W', __VA_ARGS__)
#define ok(a, ...)       say((a), 'K', __VA_ARGS__)

static void __attribute__((format(printf, 3, 4)))
fail(struct adm *a, int code, const char *fmt, ...)
{
	char prefix[8];
	va_list ap;

	snprintf(prefix, sizeof(prefix), "%d ", code);
	va_start(ap, fmt);
	adm_send(a, 'E', prefix, fmt, ap);
	va_end(ap);
}

/* ---- helpers -------------------------------------------------------------- */

static double
ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* canon_label: the canonical text of a level, or a usage error sent. */
static int
canon_label(struct adm *a, const char *text, char out[LABEL_STR_MAX])
{
	struct label l;
	const char *why = NULL;

	if (text == NULL || label_parse(text, strlen(text), &l, &why) != 0 ||
	    label_format(&l, out, LABEL_STR_MAX) < 0) {
		fail(a, X_USAGE, "'%s' is not a level: %s", text ? text : "",
		     why ? why : "malformed");
		return -1;
	}
	return 0;
}

static const char *
state_name(int s)
{
	return s == KEYSTORE_ACTIVE         ? "active"
	       : s == KEYSTORE_DECRYPT_ONLY ? "decrypt-only"
	       : s == KEYSTORE_DESTROYED    ? "destroyed"
					    : "?";
}

static void
fmt_time(uint64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Buckets of one level (or all with level NULL). */
struct bucket_set {
	const char *level;
	struct cat_bucket *b;
	size_t n;
	bool oom;
};

static void
collect_bucket(void *arg, const struct cat_bucket *b)
{
	struct bucket_set *s = arg;
	struct cat_bucket *nb;

	if (s->level != NULL && strcmp(b->label_text, s->level) != 0)
		return;
	if ((nb = realloc(s->b, (s->n + 1) * sizeof(*nb))) == NULL) {
		s->oom = true;
		return;
	}
	s->b = nb;
	s->b[s->n++] = *b;
}

static int
buckets_of(struct server *srv, const char *level, struct bucket_set *s)
{
	memset(s, 0, sizeof(*s));
	s->level = level;
	catalog_buckets(srv->cat, collect_bucket, s);
	return s->oom ? CS_ENOMEM : 0;
}

/* usage_of: objects and plaintext bytes of a level, from the index. */
static uint64_t
usage_of(struct server *srv, const char *level, uint64_t *bytes)
{
	struct bucket_set s;
	uint64_t n = 0, sum = 0;

	*bytes = 0;
	if (buckets_of(srv, level, &s) != 0)
		return 0;
	for (size_t i = 0; i < s.n; i++) {
		uint64_t b = 0;

		n += catalog_bucket_usage(srv->cat, s.b[i].name, &b);
		sum += b;
	}
	free(s.b);
	*bytes = sum;
	return n;
}

/* Store keys of one bucket. */
struct key_list {
	char **k;
	size_t n, cap;
};

static int
collect_key(void *arg, const char *key, uint64_t size)
{
	struct key_list *l = arg;

	(void)size;
	if (l->n == l->cap) {
		size_t cap = l->cap ? 2 * l->cap : 256;
		char **nk = realloc(l->k, cap * sizeof(*nk));

		if (nk == NULL)
			return CS_ENOMEM;
		l->k = nk;
		l->cap = cap;
	}
	if ((l->k[l->n] = strdup(key)) == NULL)
		return CS_ENOMEM;
	l->n++;
	return 0;
}

static void
key_list_free(struct key_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->k[i]);
	free(l->k);
	memset(l, 0, sizeof(*l));
}

static int
objio_for(struct adm *a, struct objio_ctx *x)
{
	memset(x, 0, sizeof(*x));
	x->st = a->srv->st;
	x->ks = a->srv->ks;
	x->suite = a->srv->suite;
	x->chunk = a->srv->cfg.chunk_size;
	return engine_new(&x->e, a->srv->engine);
}

/* ---- verbs ---------------------------------------------------------------- */

static void
v_help(struct adm *a)
{
	static const char *const lines[] = {
		"level add LEVEL                 create a level and its first key",
		"level list                      levels, key versions and states, objects, bytes",
		"key rotate LEVEL                new active key version; older ones decrypt-only",
		"key rewrap LEVEL                re-seal every object key of LEVEL under the "
		"newest "
		"version (headers only; resumable)",
		"key destroy LEVEL VERSION       destroy one decrypt-only version no object uses",
		"key shred LEVEL --yes           cryptographic erase of every key version of LEVEL",
		"object shred BUCKET KEY --yes   destroy one object's key, then delete it",
		"bucket create NAME --label L    create a bucket at level L",
		"bucket list                     buckets with their levels, objects and bytes",
		"user add NAME --clearance RANGE [--admin]",
		"user list",
		"user disable NAME",
		"accesskey create USER --level L a new access key bound to session level L",
		"accesskey list",
		"accesskey revoke AKID",
		"status                          uptime, connections, throughput, usage per level",
		"audit verify                    check the audit log's HMAC chain",
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		out(a, "%s", lines[i]);
	ok(a, "%s", "");
}

static bool spread(struct adm *a, const char *level, const char *what);

static void
v_level_add(struct adm *a)
{
	char canon[LABEL_STR_MAX];
	int rc;

	if (canon_label(a, a->pos[2], canon) != 0)
		return;
	if ((rc = keystore_level_add(a->srv->ks, canon)) == CS_EEXIST) {
		fail(a, X_FAIL, "level %s exists", canon);
		return;
	}
	if (rc != 0) {
		fail(a, X_FAIL, "cannot create level %s: %s", canon, err_str(rc));
		return;
	}
	AUDIT(a->srv, "level_add", "actor", a->actor, "level", canon, "version", "1");
	if (!spread(a, canon, "the new level's key"))
		return;
	ok(a, "level %s created with key version 1", canon);
}

struct lv_ctx {
	struct adm *a;
	char line[512];
	size_t n;
	int count;
};

static void
lv_version(void *arg, const struct keystore_version *v)
{
	struct lv_ctx *c = arg;
	char t[32];

	fmt_time(v->changed, t);
	if (c->n < sizeof(c->line))
		c->n += (size_t)snprintf(c->line + c->n, sizeof(c->line) - c->n, " v%u:%s(%s)",
					 (unsigned)v->version, state_name(v->state), t);
}

static void
lv_level(void *arg, const char *id, uint32_t active)
{
	struct lv_ctx *c = arg;
	uint64_t bytes, n = usage_of(c->a->srv, id, &bytes);

	(void)active;
	c->n = 0;
	c->line[0] = '\0';
	if (keystore_versions(c->a->srv->ks, id, lv_version, c) != 0)
		return;
	out(c->a, "%-12s objects=%llu bytes=%llu keys:%s", id, (unsigned long long)n,
	    (unsigned long long)bytes, c->line);
	c->count++;
}

static void
v_level_list(struct adm *a)
{
	struct lv_ctx c = {.a = a};

	keystore_level_ids(a->srv->ks, lv_level, &c);
	ok(a, "%d level(s)", c.count);
}

/*
 * spread: with other front-ends (store = rados), wait until every one has
 * re-read level's keys (and wiped destroyed ones); fail the command naming
 * those that did not acknowledge.  The change itself stands either way.
 */
static bool
spread(struct adm *a, const char *level, const char *what)
{
	char report[1536];
	unsigned n;

	/* Connection processes hold copies of the keys: they go, and clients
	 * reconnect to processes with the new keys. */
	if ((n = procmodel_stop_children(a->srv)) > 0)
		log_info("level %s: key change: %u connection process(es) stopped", level, n);
	if (a->srv->cluster == NULL)
		return true;
	if (cluster_key_changed(a->srv->cluster, level, report, sizeof(report)) != 0) {
		AUDIT(a->srv, "key_spread", "actor", a->actor, "level", level, "result", report);
		fail(a, X_FAIL,
		     "level %s: done here and on record, but not every front-end confirmed it "
		     "holds %s: %s",
		     level, what, report);
		return false;
	}
	log_info("level %s: key change %s", level, report);
	return true;
}

static void
v_key_rotate(struct adm *a)
{
	char canon[LABEL_STR_MAX], v[16];
	uint32_t version = 0;
	int rc;

	if (canon_label(a, a->pos[2], canon) != 0)
		return;
	if ((rc = keystore_rotate(a->srv->ks, canon, &version)) != 0) {
		fail(a, X_FAIL, "cannot rotate the key of level %s: %s", canon,
		     rc == CS_ENOENT ? "no such level" : err_str(rc));
		return;
	}
	snprintf(v, sizeof(v), "%u", (unsigned)version);
	AUDIT(a->srv, "key_rotate", "actor", a->actor, "level", canon, "version", v);
	if (!spread(a, canon, "the new key version"))
		return;
	ok(a,
	   "level %s: key version %u is active; older versions are decrypt-only (run `key "
	   "rewrap %s` to move every object to it)",
	   canon, (unsigned)version, canon);
}

/*
 * scan_level: call fn for every stored object of every bucket at level;
 * progress every second.  fn returns 0 to go on.
 */
static int
scan_level(struct adm *a, const char *level, const char *what,
	   int (*fn)(struct adm *a, struct objio_ctx *x, const struct cat_bucket *b,
		     const char *okey, void *arg),
	   void *arg, uint64_t *total)
{
	struct bucket_set s;
	struct objio_ctx x;
	struct timespec last;
	uint64_t done = 0;
	int rc;

	*total = 0;
	if ((rc = buckets_of(a->srv, level, &s)) != 0)
		return rc;
	if (objio_for(a, &x) != 0) {
		free(s.b);
		return CS_ECRYPTO;
	}
	clock_gettime(CLOCK_MONOTONIC, &last);
	for (size_t i = 0; rc == 0 && i < s.n; i++) {
		struct key_list kl = {0};

		if ((rc = store_list(a->srv->st, s.b[i].space, collect_key, &kl)) != 0) {
			key_list_free(&kl);
			break;
		}
		*total += kl.n;
		for (size_t j = 0; rc == 0 && j < kl.n; j++) {
			rc = fn(a, &x, &s.b[i], kl.k[j], arg);
			done++;
			if (ms_since(&last) >= 1000) {
				progress(a, "%s %s: %llu objects done (bucket %zu of %zu)", what,
					 level, (unsigned long long)done, i + 1, s.n);
				clock_gettime(CLOCK_MONOTONIC, &last);
			}
		}
		key_list_free(&kl);
	}
	engine_free(x.e);
	free(s.b);
	return rc;
}

struct rewrap_ctx {
	uint64_t moved, current, replaced, failed;
	uint64_t by_version[8]; /* remaining objects by version (for the report) */
};

static int
rewrap_one(struct adm *a, struct objio_ctx *x, const struct cat_bucket *b, const char *okey,
	   void *arg)
{
	struct rewrap_ctx *c = arg;
	uint32_t from = 0;
	int rc = objio_rewrap(x, b, okey, &from);

	if (rc == 0)
		c->moved++;
	else if (rc == 1)
		c->current++;
	else if (rc == CS_EEXIST || rc == CS_ENOENT)
		c->replaced++; /* replaced or deleted meanwhile: nothing old left */
	else {
		c->failed++;
		if (c->failed <= 10)
			warn(a, "object %s in bucket %s: %s", okey, b->name,
			     rc == CS_EAUTH ? "does not open (damaged, or sealed under a "
					      "destroyed key)"
					    : err_str(rc));
	}
	return 0;
}

static void
v_key_rewrap(struct adm *a)
{
	char canon[LABEL_STR_MAX], n1[24], n2[24];
	struct rewrap_ctx c = {0};
	struct timespec t0;
	uint32_t active = 0;
	uint8_t *k;
	uint64_t total = 0;
	int rc;

	if (canon_label(a, a->pos[2], canon) != 0)
		return;
	if ((k = secmem_alloc(KEYSTORE_KEY_LEN)) == NULL) {
		fail(a, X_FAIL, "out of secure memory");
		return;
	}
	rc = keystore_active(a->srv->ks, canon, &active, k);
	secmem_free(k, KEYSTORE_KEY_LEN);
	if (rc != 0) {
		fail(a, X_FAIL, "level %s has no active key", canon);
		return;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = scan_level(a, canon, "rewrap", rewrap_one, &c, &total);
	snprintf(n1, sizeof(n1), "%llu", (unsigned long long)c.moved);
	snprintf(n2, sizeof(n2), "%u", (unsigned)active);
	AUDIT(a->srv, "key_rewrap", "actor", a->actor, "level", canon, "version", n2, "rewrapped",
	      n1, "result", rc == 0 && c.failed == 0 ? "complete" : "incomplete");
	if (rc != 0) {
		fail(a, X_FAIL, "rewrap of %s stopped: %s (run it again to resume)", canon,
		     err_str(rc));
		return;
	}
	if (c.failed > 0) {
		fail(a, X_FAIL,
		     "rewrap of %s: %llu objects rewrapped to version %u, %llu already current, "
		     "%llu FAILED (see warnings); run it again to retry",
		     canon, (unsigned long long)c.moved, (unsigned)active,
		     (unsigned long long)c.current, (unsigned long long)c.failed);
		return;
	}
	ok(a,
	   "rewrapped %llu objects of level %s to key version %u (%llu already current, %llu "
	   "replaced meanwhile) in %.1f ms",
	   (unsigned long long)c.moved, canon, (unsigned)active, (unsigned long long)c.current,
	   (unsigned long long)c.replaced, ms_since(&t0));
}

struct use_ctx {
	const char *level;
	uint32_t version;
	uint64_t users, unreadable;
};

static int
use_one(struct adm *a, struct objio_ctx *x, const struct cat_bucket *b, const char *okey, void *arg)
{
	struct use_ctx *c = arg;
	char id[LABEL_STR_MAX];
	uint32_t v = 0;

	(void)a;
	if (objio_header_kek(x, b, okey, id, sizeof(id), &v) != 0)
		c->unreadable++;
	else if (v == c->version && strcmp(id, c->level) == 0)
		c->users++;
	return 0;
}

static void
v_key_destroy(struct adm *a)
{
	char canon[LABEL_STR_MAX], *end;
	struct use_ctx c = {0};
	unsigned long v;
	uint64_t total = 0;
	int rc;

	if (canon_label(a, a->pos[2], canon) != 0)
		return;
	errno = 0;
	v = strtoul(a->pos[3], &end, 10);
	if (errno != 0 || *end != '\0' || v == 0 || v > UINT32_MAX) {
		fail(a, X_USAGE, "'%s' is not a key version", a->pos[3]);
		return;
	}
	if (keystore_kek_state(a->srv->ks, canon, (uint32_t)v) == KEYSTORE_ACTIVE) {
		fail(a, X_FAIL, "version %lu is the active key of %s: rotate first", v, canon);
		return;
	}
	c.level = canon;
	c.version = (uint32_t)v;
	if ((rc = scan_level(a, canon, "checking", use_one, &c, &total)) != 0) {
		fail(a, X_FAIL, "cannot scan level %s: %s", canon, err_str(rc));
		return;
	}
	if (c.users > 0) {
		fail(a, X_FAIL,
		     "%llu objects of %s are still sealed under version %lu: run `key rewrap %s` "
		     "first; nothing was destroyed",
		     (unsigned long long)c.users, canon, v, canon);
		return;
	}
	rc = keystore_destroy(a->srv->ks, canon, (uint32_t)v);
	if (rc != 0) {
		fail(a, X_FAIL, "cannot destroy version %lu of %s: %s", v, canon,
		     rc == CS_ENOENT ? "no such live version" : err_str(rc));
		return;
	}
	{
		char vs[16];

		snprintf(vs, sizeof(vs), "%lu", v);
		AUDIT(a->srv, "key_destroy", "actor", a->actor, "level", canon, "version", vs);
	}
	if (!spread(a, canon, "the destroyed key version"))
		return;
	ok(a, "destroyed key version %lu of %s (%llu objects checked, none used it)", v, canon,
	   (unsigned long long)total);
}

static void
v_key_shred(struct adm *a)
{
	char canon[LABEL_STR_MAX], sv[16], so[24], sb[24], sm[32];
	struct timespec t0;
	uint64_t bytes = 0, n;
	unsigned nv = 0;
	double ms;
	int rc;

	if (canon_label(a, a->pos[2], canon) != 0)
		return;
	if (!a->yes) {
		fail(a, X_USAGE,
		     "key shred destroys level %s for ever; the request must carry --yes", canon);
		return;
	}
	n = usage_of(a->srv, canon, &bytes);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	rc = keystore_shred(a->srv->ks, canon, &nv);
	ms = ms_since(&t0);
	if (rc == CS_ENOENT) {
		fail(a, X_FAIL, "no level %s", canon);
		return;
	}
	snprintf(sv, sizeof(sv), "%u", nv);
	snprintf(so, sizeof(so), "%llu", (unsigned long long)n);
	snprintf(sb, sizeof(sb), "%llu", (unsigned long long)bytes);
	snprintf(sm, sizeof(sm), "%.3f", ms);
	AUDIT(a->srv, "key_shred", "actor", a->actor, "level", canon, "versions", sv, "objects", so,
	      "bytes", sb, "ms", sm, "result", rc == 0 ? "ok" : err_str(rc));
	if (rc != 0) {
		fail(a, X_FAIL,
		     "level %s: every key is destroyed in memory and on record, but a key file "
		     "could not be scrubbed (%s); the next start retries",
		     canon, err_str(rc));
		return;
	}
	log_warn("SHRED level %s: %u key version(s) destroyed, %llu objects unreadable", canon, nv,
		 (unsigned long long)n);
	if (!spread(a, canon, "the shredded keys"))
		return;
	ok(a,
	   "shredded level %s: %u key version(s) destroyed; %llu objects (%llu bytes) are "
	   "unreadable; %.3f ms",
	   canon, nv, (unsigned long long)n, (unsigned long long)bytes, ms);
}

static void
v_object_shred(struct adm *a)
{
	const char *bucket = a->pos[2], *name = a->pos[3];
	char okey[CATALOG_OKEY_LEN + 1], sz[24];
	struct cat_object o;
	struct cat_bucket b;
	struct objio_ctx x;
	int rc;

	if (!a->yes) {
		fail(a, X_USAGE,
		     "object shred destroys the object for ever; the request must "
		     "carry --yes");
		return;
	}
	if (catalog_bucket_get(a->srv->cat, bucket, &b) != 0) {
		fail(a, X_FAIL, "no bucket %s", bucket);
		return;
	}
	if (objio_for(a, &x) != 0) {
		fail(a, X_FAIL, "no crypto engine");
		return;
	}
	catalog_object_key(a->srv->cat, &b, name, okey);
	catalog_lock_key(a->srv->cat, okey);
	if (catalog_object_get(a->srv->cat, bucket, name, &o) != 0)
		o.size = 0;
	rc = objio_shred(&x, &b, okey);
	if (rc == 0) {
		rc = store_delete(a->srv->st, b.space, okey);
		if ((rc == 0 || rc == CS_ENOENT) &&
		    catalog_object_del(a->srv->cat, bucket, name) != 0)
			log_debug("object shred: %s/%s was not in the index", bucket, name);
	}
	catalog_unlock_key(a->srv->cat, okey);
	engine_free(x.e);
	if (rc == CS_ENOENT) {
		fail(a, X_FAIL, "no object %s in bucket %s", name, bucket);
		return;
	}
	snprintf(sz, sizeof(sz), "%llu", (unsigned long long)o.size);
	AUDIT(a->srv, "object_shred", "actor", a->actor, "bucket", bucket, "okey", okey, "bytes",
	      sz, "result", rc == 0 ? "ok" : err_str(rc));
	if (rc != 0) {
		fail(a, X_FAIL, "cannot shred %s/%s: %s", bucket, name, err_str(rc));
		return;
	}
	ok(a, "shredded s3://%s/%s: its key is destroyed and the object deleted (%llu bytes)",
	   bucket, name, (unsigned long long)o.size);
}

static void
v_bucket_create(struct adm *a)
{
	char canon[LABEL_STR_MAX];
	int rc;

	if (a->label == NULL) {
		fail(a, X_USAGE, "bucket create NAME --label LEVEL");
		return;
	}
	if (canon_label(a, a->label, canon) != 0)
		return;
	if (!catalog_bucket_name_ok(a->pos[2])) {
		fail(a, X_USAGE, "'%s' is not a valid bucket name (3-63 of a-z 0-9 . -)",
		     a->pos[2]);
		return;
	}
	if (!keystore_level_exists(a->srv->ks, canon)) {
		fail(a, X_FAIL, "level %s has no active key: create it with `level add %s`", canon,
		     canon);
		return;
	}
	if ((rc = catalog_bucket_create(a->srv->cat, a->pos[2], canon)) != 0) {
		fail(a, X_FAIL, "cannot create bucket %s: %s", a->pos[2],
		     rc == CS_EEXIST ? "it exists" : err_str(rc));
		return;
	}
	AUDIT(a->srv, "bucket_create", "actor", a->actor, "bucket", a->pos[2], "level", canon);
	ok(a, "bucket %s created at level %s", a->pos[2], canon);
}

struct bl_ctx {
	struct adm *a;
	int n;
};

static void
bl_bucket(void *arg, const struct cat_bucket *b)
{
	struct bl_ctx *c = arg;
	uint64_t bytes = 0, n = catalog_bucket_usage(c->a->srv->cat, b->name, &bytes);

	out(c->a, "%-24s level=%-10s objects=%llu bytes=%llu", b->name, b->label_text,
	    (unsigned long long)n, (unsigned long long)bytes);
	c->n++;
}

static void
v_bucket_list(struct adm *a)
{
	struct bl_ctx c = {a, 0};

	catalog_buckets(a->srv->cat, bl_bucket, &c);
	ok(a, "%d bucket(s)", c.n);
}

static void
v_user_add(struct adm *a)
{
	int rc;

	if (a->clearance == NULL) {
		fail(a, X_USAGE, "user add NAME --clearance RANGE [--admin]");
		return;
	}
	rc = identity_user_add(a->srv->ids, a->pos[2], a->clearance, a->admin);
	if (rc != 0) {
		fail(a, rc == CS_EINVAL ? X_USAGE : X_FAIL, "cannot add user %s: %s", a->pos[2],
		     rc == CS_EEXIST   ? "the user exists"
		     : rc == CS_EINVAL ? "bad name ([A-Za-z0-9._-], 1..64) or clearance range"
				       : err_str(rc));
		return;
	}
	AUDIT(a->srv, "user_add", "actor", a->actor, "user", a->pos[2], "clearance", a->clearance,
	      "admin", a->admin ? "true" : "false");
	ok(a, "user %s added (clearance %s%s)", a->pos[2], a->clearance,
	   a->admin ? ", administrator" : "");
}

static void
ul_user(void *arg, const struct ident_user *u)
{
	struct bl_ctx *c = arg;

	out(c->a, "%-20s clearance=%s admin=%s disabled=%s keys=%u", u->name, u->clearance,
	    u->admin ? "yes" : "no", u->disabled ? "yes" : "no", u->nkeys);
	c->n++;
}

static void
v_user_list(struct adm *a)
{
	struct bl_ctx c = {a, 0};

	identity_users(a->srv->ids, ul_user, &c);
	ok(a, "%d user(s)", c.n);
}

static void
v_user_disable(struct adm *a)
{
	int rc = identity_user_disable(a->srv->ids, a->pos[2]);

	if (rc != 0) {
		fail(a, X_FAIL, "cannot disable %s: %s", a->pos[2],
		     rc == CS_ENOENT ? "no such user" : err_str(rc));
		return;
	}
	AUDIT(a->srv, "user_disable", "actor", a->actor, "user", a->pos[2]);
	ok(a, "user %s disabled: every key of the user is refused from now on", a->pos[2]);
}

static void
v_key_create(struct adm *a)
{
	char canon[LABEL_STR_MAX], akid[IDENTITY_AKID_LEN + 1], secret[IDENTITY_SECRET_LEN + 1];
	int rc;

	if (a->level == NULL) {
		fail(a, X_USAGE, "accesskey create USER --level LEVEL");
		return;
	}
	if (canon_label(a, a->level, canon) != 0)
		return;
	rc = identity_key_create(a->srv->ids, a->pos[2], canon, akid, secret);
	if (rc != 0) {
		fail(a, X_FAIL, "cannot create a key for %s at %s: %s", a->pos[2], canon,
		     rc == CS_ENOENT  ? "no such user"
		     : rc == CS_EPERM ? "the level is outside the user's clearance"
				      : err_str(rc));
		return;
	}
	AUDIT(a->srv, "accesskey_create", "actor", a->actor, "user", a->pos[2], "akid", akid,
	      "level", canon);
	out(a, "AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s", akid, secret);
	secmem_wipe(secret, sizeof(secret));
	ok(a, "access key %s for %s at level %s (the secret is shown only now)", akid, a->pos[2],
	   canon);
}

static void
kl_key(void *arg, const char *akid, const char *user, const char *level)
{
	struct bl_ctx *c = arg;

	out(c->a, "%s user=%s level=%s", akid, user, level);
	c->n++;
}

static void
v_key_list(struct adm *a)
{
	struct bl_ctx c = {a, 0};

	identity_keys(a->srv->ids, kl_key, &c);
	ok(a, "%d active access key(s)", c.n);
}

static void
v_key_revoke(struct adm *a)
{
	int rc = identity_key_revoke(a->srv->ids, a->pos[2]);

	if (rc != 0) {
		fail(a, X_FAIL, "cannot revoke %s: %s", a->pos[2],
		     rc == CS_ENOENT ? "no such active key" : err_str(rc));
		return;
	}
	AUDIT(a->srv, "accesskey_revoke", "actor", a->actor, "akid", a->pos[2]);
	ok(a, "access key %s revoked", a->pos[2]);
}

static void
st_level(void *arg, const char *id, uint32_t active)
{
	struct lv_ctx *c = arg;
	uint64_t bytes, n = usage_of(c->a->srv, id, &bytes);

	out(c->a, "level %-10s objects=%llu bytes=%llu key=%s", id, (unsigned long long)n,
	    (unsigned long long)bytes, active ? "active" : "destroyed");
	c->count++;
}

static void
v_status(struct adm *a)
{
	struct server *s = a->srv;
	double up = ms_since(&s->started) / 1e3;
	uint64_t in = atomic_load(&s->bytes_in), outb = atomic_load(&s->bytes_out);
	struct lv_ctx c = {.a = a};
	char t[32];

	fmt_time((uint64_t)s->started_wall, t);
	out(a, "uptime %.0f s (since %s)", up, t);
	out(a,
	    "connections %u open, %u of them parked without a thread (idle, or a head coming in) "
	    "(limit %u)",
	    atomic_load(&s->nconn), conn_parked(), s->cfg.max_conns);
	out(a, "requests %llu", (unsigned long long)atomic_load(&s->requests));
	out(a, "bytes in %llu, out %llu; average %.1f MB/s in, %.1f MB/s out",
	    (unsigned long long)in, (unsigned long long)outb, up > 0 ? (double)in / up / 1e6 : 0.0,
	    up > 0 ? (double)outb / up / 1e6 : 0.0);
	if (evloop_count() > 0) {
		uint64_t bodies, bytes;

		evloop_stats(&bodies, &bytes);
		out(a, "event loops %u: %llu upload bodies, %llu bytes received", evloop_count(),
		    (unsigned long long)bodies, (unsigned long long)bytes);
	} else {
		out(a, "event loops off: upload bodies received on the connections' threads");
	}
	out(a, "suite %s, chunk %u, audit seq %llu", s->suite->name, s->cfg.chunk_size,
	    s->audit ? (unsigned long long)audit_seq(s->audit) : 0ull);
	keystore_level_ids(s->ks, st_level, &c);
	ok(a, "%s", "");
}

static void
v_audit_verify(struct adm *a)
{
	struct audit_report r;
	int rc;

	if (a->srv->audit == NULL) {
		fail(a, X_FAIL, "this server keeps no audit log");
		return;
	}
	rc = audit_verify(a->srv->audit, &r);
	if (rc == 0 && r.ok) {
		ok(a, "audit log intact: %llu lines in %u file(s), chain and head verified",
		   (unsigned long long)r.lines, r.files);
		return;
	}
	fail(a, X_FAIL, "audit log DAMAGED: %s line %llu (seq %llu): %s", r.file,
	     (unsigned long long)r.line, (unsigned long long)r.seq, r.why);
}

/* ---- dispatch ------------------------------------------------------------- */

struct verb {
	const char *w1, *w2;
	int npos; /* positional words including w1 and w2 */
	bool mutates;
	void (*fn)(struct adm *a);
	const char *usage;
};

static const struct verb verbs[] = {
	{"help", NULL, 1, false, v_help, "help"},
	{"level", "add", 3, true, v_level_add, "level add LEVEL"},
	{"level", "list", 2, false, v_level_list, "level list"},
	{"key", "rotate", 3, true, v_key_rotate, "key rotate LEVEL"},
	{"key", "rewrap", 3, true, v_key_rewrap, "key rewrap LEVEL"},
	{"key", "destroy", 4, true, v_key_destroy, "key destroy LEVEL VERSION"},
	{"key", "shred", 3, true, v_key_shred, "key shred LEVEL --yes"},
	{"object", "shred", 4, true, v_object_shred, "object shred BUCKET KEY --yes"},
	{"bucket", "create", 3, true, v_bucket_create, "bucket create NAME --label LEVEL"},
	{"bucket", "list", 2, false, v_bucket_list, "bucket list"},
	{"user", "add", 3, true, v_user_add, "user add NAME --clearance RANGE [--admin]"},
	{"user", "list", 2, false, v_user_list, "user list"},
	{"user", "disable", 3, true, v_user_disable, "user disable NAME"},
	{"accesskey", "create", 3, true, v_key_create, "accesskey create USER --level LEVEL"},
	{"accesskey", "list", 2, false, v_key_list, "accesskey list"},
	{"accesskey", "revoke", 3, true, v_key_revoke, "accesskey revoke AKID"},
	{"status", NULL, 1, false, v_status, "status"},
	{"audit", "verify", 2, false, v_audit_verify, "audit verify"},
};

/* parse_opts: split argv into positional words and the known options. */
static int
parse_opts(struct adm *a)
{
	for (int i = 0; i < a->argc; i++) {
		const char *w = a->argv[i];
		const char **val = NULL;

		if (strncmp(w, "--", 2) != 0) {
			a->pos[a->npos++] = w;
			continue;
		}
		if (strcmp(w, "--yes") == 0)
			a->yes = true;
		else if (strcmp(w, "--admin") == 0)
			a->admin = true;
		else if (strcmp(w, "--label") == 0)
			val = &a->label;
		else if (strcmp(w, "--clearance") == 0)
			val = &a->clearance;
		else if (strcmp(w, "--level") == 0)
			val = &a->level;
		else {
			fail(a, X_USAGE, "unknown option %s (try `cryptstore admin help`)", w);
			return -1;
		}
		if (val != NULL) {
			if (i + 1 >= a->argc) {
				fail(a, X_USAGE, "%s needs a value", w);
				return -1;
			}
			*val = a->argv[++i];
		}
	}
	return 0;
}

static void
dispatch(struct adm *a)
{
	if (parse_opts(a) != 0)
		return;
	if (a->npos == 0) {
		fail(a, X_USAGE, "no verb (try `cryptstore admin help`)");
		return;
	}
	for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		const struct verb *v = &verbs[i];

		if (strcmp(a->pos[0], v->w1) != 0 ||
		    (v->w2 != NULL && (a->npos < 2 || strcmp(a->pos[1], v->w2) != 0)))
			continue;
		if (a->npos != v->npos) {
			fail(a, X_USAGE, "usage: %s", v->usage);
			return;
		}
		if (v->mutates)
			pthread_mutex_lock(&adm_mutate);
		log_info("admin %s: %s%s%s", a->actor, v->w1, v->w2 ? " " : "", v->w2 ? v->w2 : "");
		v->fn(a);
		if (v->mutates)
			pthread_mutex_unlock(&adm_mutate);
		return;
	}
	fail(a, X_USAGE, "unknown verb '%s%s%s' (try `cryptstore admin help`)", a->pos[0],
	     a->npos > 1 ? " " : "", a->npos > 1 ? a->pos[1] : "");
}

/* ---- the request ---------------------------------------------------------- */

static int
hexval(char c)
{
	return c >= '0' && c <= '9'   ? c - '0'
	       : c >= 'A' && c <= 'F' ? c - 'A' + 10
	       : c >= 'a' && c <= 'f' ? c - 'a' + 10
				      : -1;
}

/* pct_decode: in place; -1 on a bad escape or an escaped NUL. */
static int
pct_decode(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (*s != '%') {
			*o++ = *s;
			continue;
		}
		int h = hexval(s[1]), l = h < 0 ? -1 : hexval(s[2]);

		if (h < 0 || l < 0 || (h == 0 && l == 0))
			return -1;
		*o++ = (char)(h << 4 | l);
		s += 2;
	}
	*o = '\0';
	return 0;
}

/* read_request: one line of at most ADM_LINE_MAX bytes, within the timeout. */
static char *
read_request(int fd)
{
	char *b = malloc(ADM_LINE_MAX + 1);
	size_t n = 0;

	if (b == NULL)
		return NULL;
	while (n < ADM_LINE_MAX) {
		struct pollfd p = {fd, POLLIN, 0};
		ssize_t k;
		char *nl;

		if (poll(&p, 1, ADM_TIMEOUT) <= 0)
			break;
		k = recv(fd, b + n, ADM_LINE_MAX - n, 0);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		n += (size_t)k;
		if ((nl = memchr(b, '\n', n)) != NULL) {
			*nl = '\0';
			if (memchr(b, '\0', (size_t)(nl - b)) != NULL)
				break;
			return b;
		}
	}
	free(b);
	return NULL;
}

struct adm_arg {
	struct server *srv;
	int fd;
};

static void *
adm_conn(void *arg)
{
	struct adm_arg *aa = arg;
	struct adm a;
	struct ucred cr;
	socklen_t cl = sizeof(cr);
	char *line = NULL, *save = NULL, *w;

	memset(&a, 0, sizeof(a));
	a.srv = aa->srv;
	a.fd = aa->fd;
	free(aa);
	if (getsockopt(a.fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0) {
		fail(&a, X_AUTH, "cannot read the peer's credentials");
		goto out;
	}
	snprintf(a.actor, sizeof(a.actor), "uid=%u pid=%d", (unsigned)cr.uid, (int)cr.pid);
	if (cr.uid != 0 && cr.uid != geteuid()) {
		char uid[16];

		snprintf(uid, sizeof(uid), "%u", (unsigned)cr.uid);
		log_warn("DENY admin socket: uid %u is neither root nor the server's user",
			 (unsigned)cr.uid);
		AUDIT(a.srv, "access_denied", "actor", a.actor, "what", "admin socket", "why",
		      "peer uid is neither root nor the server's user");
		fail(&a, X_AUTH, "permission denied: uid %s may not administer this server", uid);
		goto out;
	}
	if ((line = read_request(a.fd)) == NULL) {
		fail(&a, X_USAGE, "no complete request line (at most %d bytes) within %d s",
		     ADM_LINE_MAX, ADM_TIMEOUT / 1000);
		goto out;
	}
	w = strtok_r(line, " ", &save);
	if (w == NULL || strcmp(w, "CSADM/1") != 0) {
		fail(&a, X_USAGE, "not an admin request (expected protocol CSADM/1)");
		goto out;
	}
	while ((w = strtok_r(NULL, " ", &save)) != NULL) {
		if (a.argc == ADM_ARGS_MAX) {
			fail(&a, X_USAGE, "too many arguments (at most %d)", ADM_ARGS_MAX);
			goto out;
		}
		if (pct_decode(w) != 0 || w[0] == '\0') {
			fail(&a, X_USAGE, "malformed argument encoding");
			goto out;
		}
		a.argv[a.argc++] = w;
	}
	procmodel_admin_begin(a.srv);
	dispatch(&a);
	procmodel_admin_end(a.srv);
out:
	free(line);
	close(a.fd);
	return NULL;
}

static void *
adm_loop(void *arg)
{
	struct server *srv = arg;
	pthread_attr_t attr;

	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	while (!atomic_load(&srv->stopping)) {
		struct pollfd p = {srv->admin_fd, POLLIN, 0};
		struct adm_arg *aa;
		pthread_t t;
		int fd;

		if (poll(&p, 1, 200) <= 0)
			continue;
		if ((fd = accept4(srv->admin_fd, NULL, NULL, SOCK_CLOEXEC)) < 0)
			continue;
		if ((aa = malloc(sizeof(*aa))) == NULL) {
			close(fd);
			continue;
		}
		aa->srv = srv;
		aa->fd = fd;
		if (pthread_create(&t, &attr, adm_conn, aa) != 0) {
			free(aa);
			close(fd);
		}
	}
	pthread_attr_destroy(&attr);
	return NULL;
}

int
admin_listen(struct server *srv, uid_t owner, gid_t group, char *why, size_t whylen)
{
	const char *path = srv->cfg.admin_socket;
	struct sockaddr_un sa;
	char dir[sizeof(sa.sun_path)], *slash;
	struct stat st;
	mode_t old;
	int fd;

	if (strlen(path) == 0 || strlen(path) >= sizeof(sa.sun_path)) {
		err_why(why, whylen, CS_EINVAL, "admin socket path '%s' is empty or too long",
			path);
		return -1;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	memcpy(sa.sun_path, path, strlen(path));
	snprintf(dir, sizeof(dir), "%s", path);
	if ((slash = strrchr(dir, '/')) != NULL && slash != dir) {
		*slash = '\0';
		if (mkdir(dir, 0700) == 0 && owner != (uid_t)-1 && chown(dir, owner, group) != 0) {
			err_why(why, whylen, CS_EIO, "cannot chown %s: %s", dir, strerror(errno));
			return -1;
		}
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode)) {
			err_why(why, whylen, CS_EEXIST, "%s exists and is not a socket", path);
			return -1;
		}
		if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) >= 0) {
			bool live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

			close(fd);
			if (live) {
				err_why(why, whylen, CS_EEXIST,
					"%s is the control socket of a running server", path);
				return -1;
			}
		}
		(void)unlink(path); /* stale, from a server that crashed */
	}
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)) < 0) {
		err_why(why, whylen, CS_EIO, "socket: %s", strerror(errno));
		return -1;
	}
	old = umask(077);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		umask(old);
		err_why(why, whylen, CS_EIO, "cannot bind %s: %s", path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old);
	if (chmod(path, 0600) != 0 || (owner != (uid_t)-1 && chown(path, owner, group) != 0) ||
	    listen(fd, 16) != 0) {
		err_why(why, whylen, CS_EIO, "cannot set up %s: %s", path, strerror(errno));
		close(fd);
		(void)unlink(path);
		return -1;
	}
	return fd;
}

int
admin_start(struct server *srv, int fd)
{
	srv->admin_fd = fd;
	if (pthread_create(&srv->admin_thread, NULL, adm_loop, srv) != 0) {
		srv->admin_fd = -1;
		return -1;
	}
	return 0;
}

void
admin_stop(struct server *srv)
{
	if (srv->admin_fd < 0)
		return;
	pthread_join(srv->admin_thread, NULL);
	close(srv->admin_fd);
	srv->admin_fd = -1;
	(void)unlink(srv->cfg.admin_socket);
	/* A verb still running holds the mutex: let it finish its step. */
	pthread_mutex_lock(&adm_mutate);
	pthread_mutex_unlock(&adm_mutate);
}
