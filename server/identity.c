/*
 * identity: users and access keys, sealed under the keystore.
 */
#include "identity.h"
#include "keystore/keystore.h"
#include "util/err.h"
#include "util/secmem.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/rand.h>

#define FILE_NAME "identities.sealed"

struct user {
	char name[IDENTITY_NAME_MAX + 1];
	struct label_range clearance;
	char clearance_text[LABEL_RANGE_STR_MAX];
	bool admin, disabled;
};

struct akey {
	char akid[IDENTITY_AKID_LEN + 1];
	char *secret; /* secure memory, IDENTITY_SECRET_LEN + 1 */
	char user[IDENTITY_NAME_MAX + 1];
	char level_text[LABEL_STR_MAX];
	struct label level;
	bool revoked;
};

struct identity {
	pthread_rwlock_t lock;
	struct keystore *ks;
	/* identity_set_notify(): told after each change made here */
	void (*notify)(void *arg);
	void *notify_arg;
	bool changed; /* identity_save() succeeded since the lock was taken */
	struct user *u;
	size_t nu;
	struct akey *k;
	size_t nk;
};

bool
identity_name_ok(const char *s)
{
	size_t n = strnlen(s, IDENTITY_NAME_MAX + 1);

	if (n == 0 || n > IDENTITY_NAME_MAX)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return false;
	return true;
}

static struct user *
find_user(struct identity *id, const char *name)
{
	for (size_t i = 0; i < id->nu; i++)
		if (strcmp(id->u[i].name, name) == 0)
			return &id->u[i];
	return NULL;
}

static struct akey *
find_key(struct identity *id, const char *akid)
{
	for (size_t i = 0; i < id->nk; i++)
		if (strcmp(id->k[i].akid, akid) == 0)
			return &id->k[i];
	return NULL;
}

/* Lines: "user\tname\tclearance\tadmin\tdisabled" and
 * "key\takid\tsecret\tuser\tlevel\trevoked". */
static int
identity_save(struct identity *id)
{
	size_t cap = 256 + id->nu * (IDENTITY_NAME_MAX + LABEL_RANGE_STR_MAX + 16) +
		     id->nk * (IDENTITY_AKID_LEN + IDENTITY_SECRET_LEN + IDENTITY_NAME_MAX +
			       LABEL_STR_MAX + 16);
	char *txt = secmem_alloc(cap);
	uint8_t *sealed = NULL;
	size_t n = 0, sl = 0;
	int rc;

	if (txt == NULL)
		return CS_ENOMEM;
	for (size_t i = 0; i < id->nu; i++)
		n += (size_t)snprintf(txt + n, cap - n, "user\t%s\t%s\t%d\t%d\n", id->u[i].name,
				      id->u[i].clearance_text, id->u[i].admin, id->u[i].disabled);
	for (size_t i = 0; i < id->nk; i++)
		n += (size_t)snprintf(txt + n, cap - n, "key\t%s\t%s\t%s\t%s\t%d\n", id->k[i].akid,
				      id->k[i].secret, id->k[i].user, id->k[i].level_text,
				      id->k[i].revoked);
	rc = keystore_seal(id->ks, "identities", (const uint8_t *)txt, n, &sealed, &sl);
	secmem_free(txt, cap);
	if (rc != 0)
		return rc;
	rc = keystore_write_file(id->ks, FILE_NAME, sealed, sl);
	free(sealed);
	if (rc == 0)
		id->changed = true;
	return rc;
}

static int parse_line(struct identity *id, char *line);

/* identity_load: parse the sealed record into id (empty if there is none). */
static int
identity_load(struct identity *id, char *why, size_t whylen)
{
	uint8_t *sealed = NULL, *plain = NULL;
	size_t sl = 0, pl = 0;
	char *line, *save = NULL;
	int rc = keystore_read_file(id->ks, FILE_NAME, &sealed, &sl);

	if (rc == CS_ENOENT)
		return 0;
	if (rc == 0) {
		rc = keystore_unseal(id->ks, "identities", sealed, sl, &plain, &pl);
		free(sealed);
	}
	if (rc != 0) {
		snprintf(why, whylen, "%s: %s", FILE_NAME, err_str(rc));
		return rc;
	}
	for (line = strtok_r((char *)plain, "\n", &save); line != NULL && rc == 0;
	     line = strtok_r(NULL, "\n", &save))
		rc = parse_line(id, line);
	secmem_wipe(plain, pl);
	free(plain);
	if (rc != 0)
		snprintf(why, whylen, "%s is malformed", FILE_NAME);
	return rc;
}

/* clear: forget every user and key (secrets wiped). */
static void
clear(struct identity *id)
{
	for (size_t i = 0; i < id->nk; i++)
		secmem_free(id->k[i].secret, IDENTITY_SECRET_LEN + 1);
	free(id->k);
	free(id->u);
	id->k = NULL;
	id->u = NULL;
	id->nk = id->nu = 0;
}

/* reload_locked: replace the table with the record's (write lock held);
 * on failure the table is unchanged. */
static int
reload_locked(struct identity *id)
{
	struct identity fresh;
	char why[128];
	int rc;

	memset(&fresh, 0, sizeof(fresh));
	fresh.ks = id->ks;
	if ((rc = identity_load(&fresh, why, sizeof(why))) != 0) {
		clear(&fresh);
		return rc;
	}
	clear(id);
	id->u = fresh.u;
	id->nu = fresh.nu;
	id->k = fresh.k;
	id->nk = fresh.nk;
	return 0;
}

/* fresh_locked: with other front-ends (a notify function is set), start a
 * change from the record as it is now, not as this front-end last saw it. */
static void
fresh_locked(struct identity *id)
{
	id->changed = false;
	if (id->notify != NULL && reload_locked(id) != 0) {
		/* change what is known here; the save replaces the record */
	}
}

/* unlock_tell: release the write lock, then report a saved change. */
static void
unlock_tell(struct identity *id)
{
	bool changed = id->changed;
	void (*fn)(void *) = id->notify;
	void *arg = id->notify_arg;

	id->changed = false;
	pthread_rwlock_unlock(&id->lock);
	if (changed && fn != NULL)
		fn(arg);
}

static int
parse_line(struct identity *id, char *line)
{
	char *f[6], *save = NULL, *tok;
	int k = 0;

	for (tok = strtok_r(line, "\t", &save); tok != NULL && k < 6;
	     tok = strtok_r(NULL, "\t", &save))
		f[k++] = tok;
	if (k == 5 && strcmp(f[0], "user") == 0) {
		struct user u, *nu;

		memset(&u, 0, sizeof(u));
		if (!identity_name_ok(f[1]) || strlen(f[2]) >= sizeof(u.clearance_text) ||
		    label_range_parse(f[2], strlen(f[2]), &u.clearance, NULL) != 0)
			return CS_EINVAL;
		snprintf(u.name, sizeof(u.name), "%s", f[1]);
		snprintf(u.clearance_text, sizeof(u.clearance_text), "%s", f[2]);
		u.admin = f[3][0] == '1';
		u.disabled = f[4][0] == '1';
		if ((nu = realloc(id->u, (id->nu + 1) * sizeof(*nu))) == NULL)
			return CS_ENOMEM;
		id->u = nu;
		id->u[id->nu++] = u;
		return 0;
	}
	if (k == 6 && strcmp(f[0], "key") == 0) {
		struct akey a, *nk;

		memset(&a, 0, sizeof(a));
		if (strlen(f[1]) != IDENTITY_AKID_LEN || strlen(f[2]) != IDENTITY_SECRET_LEN ||
		    !identity_name_ok(f[3]) || strlen(f[4]) >= sizeof(a.level_text) ||
		    label_parse(f[4], strlen(f[4]), &a.level, NULL) != 0)
			return CS_EINVAL;
		if ((a.secret = secmem_alloc(IDENTITY_SECRET_LEN + 1)) == NULL)
			return CS_ENOMEM;
		memcpy(a.secret, f[2], IDENTITY_SECRET_LEN);
		snprintf(a.akid, sizeof(a.akid), "%s", f[1]);
		snprintf(a.user, sizeof(a.user), "%s", f[3]);
		snprintf(a.level_text, sizeof(a.level_text), "%s", f[4]);
		a.revoked = f[5][0] == '1';
		if ((nk = realloc(id->k, (id->nk + 1) * sizeof(*nk))) == NULL) {
			secmem_free(a.secret, IDENTITY_SECRET_LEN + 1);
			return CS_ENOMEM;
		}
		id->k = nk;
		id->k[id->nk++] = a;
		return 0;
	}
	return CS_EINVAL;
}

int
identity_open(struct identity **out, struct keystore *ks, char *why, size_t whylen)
{
	struct identity *id;
	int rc;

	*out = NULL;
	if ((id = calloc(1, sizeof(*id))) == NULL)
		return CS_ENOMEM;
	pthread_rwlock_init(&id->lock, NULL);
	id->ks = ks;
	if ((rc = identity_load(id, why, whylen)) != 0) {
		identity_close(id);
		return rc;
	}
	*out = id;
	return 0;
}

void
identity_set_notify(struct identity *id, void (*fn)(void *arg), void *arg)
{
	pthread_rwlock_wrlock(&id->lock);
	id->notify = fn;
	id->notify_arg = arg;
	pthread_rwlock_unlock(&id->lock);
}

int
identity_reload(struct identity *id)
{
	int rc;

	pthread_rwlock_wrlock(&id->lock);
	rc = reload_locked(id);
	pthread_rwlock_unlock(&id->lock);
	return rc;
}

void
identity_close(struct identity *id)
{
	if (id == NULL)
		return;
	clear(id);
	pthread_rwlock_destroy(&id->lock);
	free(id);
}

int
identity_keep_only(struct identity *id, const char *akid)
{
	struct akey *k;
	size_t ku = 0, kk = 0;
	int rc = CS_ENOENT;

	pthread_rwlock_wrlock(&id->lock);
	if ((k = find_key(id, akid)) != NULL && find_user(id, k->user) != NULL) {
		struct akey keep = *k;

		for (size_t i = 0; i < id->nk; i++)
			if (&id->k[i] != k)
				secmem_free(id->k[i].secret, IDENTITY_SECRET_LEN + 1);
		id->k[kk++] = keep;
		for (size_t i = 0; i < id->nu; i++)
			if (strcmp(id->u[i].name, keep.user) == 0)
				id->u[ku++] = id->u[i];
		id->nk = kk;
		id->nu = ku;
		id->notify = NULL; /* nothing here is anybody else's news */
		rc = 0;
	}
	pthread_rwlock_unlock(&id->lock);
	return rc;
}

size_t
identity_count(struct identity *id)
{
	size_t n;

	pthread_rwlock_rdlock(&id->lock);
	n = id->nu;
	pthread_rwlock_unlock(&id->lock);
	return n;
}

int
identity_user_add(struct identity *id, const char *name, const char *clearance, bool admin)
{
	struct user u, *nu;
	int rc;

	memset(&u, 0, sizeof(u));
	if (!identity_name_ok(name) || clearance == NULL ||
	    label_range_parse(clearance, strlen(clearance), &u.clearance, NULL) != 0)
		return CS_EINVAL;
	snprintf(u.name, sizeof(u.name), "%s", name);
	if (label_range_format(&u.clearance, u.clearance_text, sizeof(u.clearance_text)) < 0)
		return CS_EINVAL;
	u.admin = admin;
	pthread_rwlock_wrlock(&id->lock);
	fresh_locked(id);
	if (find_user(id, name) != NULL) {
		rc = CS_EEXIST;
	} else if ((nu = realloc(id->u, (id->nu + 1) * sizeof(*nu))) == NULL) {
		rc = CS_ENOMEM;
	} else {
		id->u = nu;
		id->u[id->nu++] = u;
		if ((rc = identity_save(id)) != 0)
			id->nu--;
	}
	unlock_tell(id);
	return rc;
}

/* random_text: n characters from alphabet, unbiased (rejection sampling). */
static int
random_text(char *out, size_t n, const char *alphabet)
{
	size_t al = strlen(alphabet), limit = 256 - 256 % al, i = 0;
	uint8_t b[64];

	while (i < n) {
		if (RAND_bytes(b, sizeof(b)) != 1)
			return CS_ECRYPTO;
		for (size_t j = 0; j < sizeof(b) && i < n; j++)
			if (b[j] < limit)
				out[i++] = alphabet[b[j] % al];
	}
	out[n] = '\0';
	secmem_wipe(b, sizeof(b));
	return 0;
}

int
identity_key_create(struct identity *id, const char *user, const char *level,
		    char akid[IDENTITY_AKID_LEN + 1], char secret[IDENTITY_SECRET_LEN + 1])
{
	struct akey a, *nk;
	struct user *u;
	int rc;

	memset(&a, 0, sizeof(a));
	if (level == NULL || label_parse(level, strlen(level), &a.level, NULL) != 0)
		return CS_EINVAL;
	if (label_format(&a.level, a.level_text, sizeof(a.level_text)) < 0)
		return CS_EINVAL;
	if ((a.secret = secmem_alloc(IDENTITY_SECRET_LEN + 1)) == NULL)
		return CS_ENOMEM;
	pthread_rwlock_wrlock(&id->lock);
	fresh_locked(id);
	if ((u = find_user(id, user)) == NULL) {
		rc = CS_ENOENT;
		goto out;
	}
	if (!label_range_contains(&u->clearance, &a.level)) {
		rc = CS_EPERM;
		goto out;
	}
	snprintf(a.user, sizeof(a.user), "%s", user);
	do {
		memcpy(a.akid, "CS", 2);
		if ((rc = random_text(a.akid + 2, IDENTITY_AKID_LEN - 2,
				      "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")) != 0)
			goto out;
	} while (find_key(id, a.akid) != NULL);
	if ((rc = random_text(a.secret, IDENTITY_SECRET_LEN,
			      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")) !=
	    0)
		goto out;
	if ((nk = realloc(id->k, (id->nk + 1) * sizeof(*nk))) == NULL) {
		rc = CS_ENOMEM;
		goto out;
	}
	id->k = nk;
	id->k[id->nk++] = a;
	if ((rc = identity_save(id)) != 0) {
		id->nk--;
		goto out;
	}
	memcpy(akid, a.akid, IDENTITY_AKID_LEN + 1);
	memcpy(secret, a.secret, IDENTITY_SECRET_LEN + 1);
	a.secret = NULL; /* now owned by the table */
out:
	unlock_tell(id);
	secmem_free(a.secret, IDENTITY_SECRET_LEN + 1);
	return rc;
}

int
identity_lookup(void *arg, const char *akid, uint8_t *secret, size_t size, size_t *len)
{
	struct identity *id = arg;
	struct akey *k;
	struct user *u;
	int rc = CS_ENOENT;

	if (size < IDENTITY_SECRET_LEN)
		return CS_ERANGE;
	pthread_rwlock_rdlock(&id->lock);
	if ((k = find_key(id, akid)) != NULL && !k->revoked &&
	    (u = find_user(id, k->user)) != NULL && !u->disabled) {
		memcpy(secret, k->secret, IDENTITY_SECRET_LEN);
		*len = IDENTITY_SECRET_LEN;
		rc = 0;
	}
	pthread_rwlock_unlock(&id->lock);
	return rc;
}

int
identity_session(struct identity *id, const char *akid, struct ident_session *out)
{
	struct akey *k;
	struct user *u;
	int rc = CS_ENOENT;

	pthread_rwlock_rdlock(&id->lock);
	if ((k = find_key(id, akid)) != NULL && !k->revoked &&
	    (u = find_user(id, k->user)) != NULL && !u->disabled) {
		memset(out, 0, sizeof(*out));
		snprintf(out->akid, sizeof(out->akid), "%s", k->akid);
		snprintf(out->user, sizeof(out->user), "%s", k->user);
		memcpy(out->level_text, k->level_text, sizeof(out->level_text));
		out->level = k->level;
		out->admin = u->admin;
		rc = 0;
	}
	pthread_rwlock_unlock(&id->lock);
	return rc;
}

void
identity_keys(struct identity *id,
	      void (*cb)(void *arg, const char *akid, const char *user, const char *level),
	      void *arg)
{
	pthread_rwlock_rdlock(&id->lock);
	for (size_t i = 0; i < id->nk; i++)
		if (!id->k[i].revoked)
			cb(arg, id->k[i].akid, id->k[i].user, id->k[i].level_text);
	pthread_rwlock_unlock(&id->lock);
}

void
identity_users(struct identity *id, void (*cb)(void *arg, const struct ident_user *u), void *arg)
{
	pthread_rwlock_rdlock(&id->lock);
	for (size_t i = 0; i < id->nu; i++) {
		struct ident_user u;

		memset(&u, 0, sizeof(u));
		snprintf(u.name, sizeof(u.name), "%s", id->u[i].name);
		memcpy(u.clearance, id->u[i].clearance_text, sizeof(u.clearance));
		u.admin = id->u[i].admin;
		u.disabled = id->u[i].disabled;
		for (size_t j = 0; j < id->nk; j++)
			if (!id->k[j].revoked && strcmp(id->k[j].user, u.name) == 0)
				u.nkeys++;
		cb(arg, &u);
	}
	pthread_rwlock_unlock(&id->lock);
}

int
identity_user_disable(struct identity *id, const char *name)
{
	struct user *u;
	int rc = CS_ENOENT;

	pthread_rwlock_wrlock(&id->lock);
	fresh_locked(id);
	if ((u = find_user(id, name)) != NULL) {
		rc = 0;
		if (!u->disabled) {
			u->disabled = true;
			if ((rc = identity_save(id)) != 0)
				u->disabled = false;
		}
	}
	unlock_tell(id);
	return rc;
}

int
identity_key_revoke(struct identity *id, const char *akid)
{
	struct akey *k;
	int rc = CS_ENOENT;

	pthread_rwlock_wrlock(&id->lock);
	fresh_locked(id);
	if ((k = find_key(id, akid)) != NULL && !k->revoked) {
		k->revoked = true;
		if ((rc = identity_save(id)) != 0)
			k->revoked = false;
	}
	unlock_tell(id);
	return rc;
}
