/*
 * identity: users and their access keys.
 *
 * A user has a clearance (an MLS range, e.g. "s0-s3:c0.c1023") and may be an
 * administrator (who may create buckets at any level).  Each access key
 * belongs to one user and is bound to one session level within the user's
 * clearance: every request signed with that key acts at exactly that level.
 * The label therefore never comes from the client's own claim.
 *
 * Persisted as one record sealed under the keystore ("identities") in the
 * keystore directory; secrets exist in memory only inside this module
 * (secure memory) and are handed out only to the signature check.
 */
#ifndef CS_IDENTITY_H
#define CS_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "label/label.h"

#define IDENTITY_NAME_MAX   64
#define IDENTITY_AKID_LEN   20
#define IDENTITY_SECRET_LEN 40

struct keystore;
struct identity;

/* What a verified access key grants. */
struct ident_session {
	char akid[IDENTITY_AKID_LEN + 1];
	char user[IDENTITY_NAME_MAX + 1];
	char level_text[LABEL_STR_MAX];
	struct label level;
	bool admin;
};

/* identity_name_ok(s): s is a valid user name ([A-Za-z0-9._-], 1..IDENTITY_NAME_MAX). */
bool identity_name_ok(const char *s);

/* identity_open(out, ks, why, whylen): load (or start empty) the identities. */
int identity_open(struct identity **out, struct keystore *ks, char *why, size_t whylen)
	__attribute__((warn_unused_result));

void identity_close(struct identity *id);

/*
 * identity_set_notify(id, fn, arg): several front-ends share the record
 * (store = rados): every change first re-reads it, and fn(arg) is called
 * after each change saved here, with no lock held.
 */
void identity_set_notify(struct identity *id, void (*fn)(void *arg), void *arg);

/* identity_reload(id): re-read the record (another front-end changed it);
 * on failure the table is unchanged. */
int identity_reload(struct identity *id) __attribute__((warn_unused_result));

/*
 * identity_keep_only(id, akid): least privilege for a process that serves
 * one session (server model = process): every other access key's secret is
 * wiped and every other user forgotten.  Meant for a process whose keystore
 * is restricted (keystore_restrict), so no change can be saved.  CS_ENOENT if akid is unknown (then
 * id is unchanged).
 */
int identity_keep_only(struct identity *id, const char *akid) __attribute__((warn_unused_result));

/* identity_count(id): number of users. */
size_t identity_count(struct identity *id);

/*
 * identity_user_add(id, name, clearance, admin): add a user ([A-Za-z0-9._-],
 * 1..64) with a clearance range.  CS_EEXIST, CS_EINVAL.
 */
int identity_user_add(struct identity *id, const char *name, const char *clearance, bool admin)
	__attribute__((warn_unused_result));

/*
 * identity_key_create(id, user, level, akid, secret): a new access key for
 * user bound to session level (which the user's clearance must contain).
 * CS_ENOENT (no user), CS_EPERM (level outside clearance), CS_EINVAL.
 */
int identity_key_create(struct identity *id, const char *user, const char *level,
			char akid[IDENTITY_AKID_LEN + 1], char secret[IDENTITY_SECRET_LEN + 1])
	__attribute__((warn_unused_result));

/*
 * identity_lookup(arg, akid, secret, size, len): the sigv4_lookup_fn: copy
 * the secret of an active key of an enabled user.  Returns 0, CS_ENOENT for
 * an unknown, revoked or disabled key, or CS_ERANGE if size is too small.
 */
int identity_lookup(void *arg, const char *akid, uint8_t *secret, size_t size, size_t *len);

/* identity_session(id, akid, out): what akid grants; CS_ENOENT if nothing. */
int identity_session(struct identity *id, const char *akid, struct ident_session *out)
	__attribute__((warn_unused_result));

/*
 * identity_keys(id, cb, arg): call cb(arg, akid, user, level) for every
 * active access key (for the demo banner and `admin` listings).
 */
void identity_keys(struct identity *id,
		   void (*cb)(void *arg, const char *akid, const char *user, const char *level),
		   void *arg);

/* What identity_users() reports of a user. */
struct ident_user {
	char name[IDENTITY_NAME_MAX + 1];
	char clearance[LABEL_RANGE_STR_MAX];
	bool admin, disabled;
	unsigned nkeys; /* active access keys */
};

/* identity_users(id, cb, arg): every user, in creation order. */
void identity_users(struct identity *id, void (*cb)(void *arg, const struct ident_user *u),
		    void *arg);

/*
 * identity_user_disable(id, name): the user's keys stop working at once (the
 * next request fails its signature check); durable.  CS_ENOENT.
 */
int identity_user_disable(struct identity *id, const char *name)
	__attribute__((warn_unused_result));

/* identity_key_revoke(id, akid): durably revoke one access key; CS_ENOENT if
 * there is no such active key. */
int identity_key_revoke(struct identity *id, const char *akid) __attribute__((warn_unused_result));

#endif /* CS_IDENTITY_H */
