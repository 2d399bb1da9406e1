/*
 * fuzz_keystore: the parsers of the keystore's files (lib/keystore) and of
 * the identities record (server/identity).
 *
 * Those files are AES-GCM sealed under a key derived from the root key, so
 * fuzzed bytes would never get past the unseal.  Instead the input describes
 * the plaintexts, and the target seals each with keystore_seal() under a fixed
 * root key, exactly as the keystore itself does (same purpose strings, same
 * file names), into a fresh keystore directory; keystore_open() and
 * identity_open() then run their parsers on the fuzzed plaintexts.
 *
 * Input: [flags u8] then records, each [kind u8][len u16][payload]:
 *   0  system.key plaintext (purpose "system")
 *   1  a level's .meta plaintext (purpose "level"); the file is named after
 *      the level id the payload holds, as the keystore names it, so that
 *      the payload is read as that level's
 *   2  a key file of the last level given: [version u32][plaintext],
 *      sealed as "kek level-<hash> v<version>"
 *   3  identities.sealed plaintext (purpose "identities")
 *   4  root.scrypt, as is (it is not sealed)
 *   5  any file, unsealed: [name length u8][name][content]
 * A keystore without a system.key record gets a valid one.  flags bit 0
 * opens with create.
 *
 * After a successful open everything the keystore and the identities hold is
 * walked through the public API, and the first level is rotated: the
 * keystore must then reopen, with the new version active (what the keystore
 * writes, it must read back).
 */
#include "fuzz.h"
#include "identity.h"
#include "keystore/keystore.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/secmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#define BASE_LEN 38 /* "level-" + 32 hex digits */

static const uint8_t root_key[KEYSTORE_KEY_LEN] = {
	0x72, 0x6f, 0x6f, 0x74, 0x2d, 0x6b, 0x65, 0x79, 0x2d, 0x66, 0x6f,
	0x72, 0x2d, 0x66, 0x75, 0x7a, 0x7a, 0x69, 0x6e, 0x67, 0x2d, 0x6f,
	0x6e, 0x6c, 0x79, 0x2d, 0x30, 0x31, 0x32, 0x33, 0x34, 0x35,
};

static struct keystore *sealer; /* a keystore under root_key, to seal with */
static uint8_t *default_sys;    /* a valid sealed system.key */
static size_t default_sys_len;

static void
level_base(const char *id, char out[BASE_LEN + 1])
{
	uint8_t h[32];
	char hx[65];

	FUZZ_CHECK(EVP_Digest(id, strlen(id), h, NULL, EVP_sha256(), NULL) == 1);
	hex_encode(hx, h, 16);
	snprintf(out, BASE_LEN + 1, "level-%.32s", hx);
}

/* ---- seeds: the plaintexts of a real keystore ------------------------------------------- */

struct seed {
	uint8_t b[1 << 16];
	size_t n;
};

static void
seed_rec(struct seed *sd, uint8_t kind, const uint8_t *p, size_t n)
{
	FUZZ_CHECK(sd->n + 3 + n <= sizeof(sd->b) && n <= 0xffff);
	sd->b[sd->n++] = kind;
	sd->b[sd->n++] = (uint8_t)(n >> 8);
	sd->b[sd->n++] = (uint8_t)n;
	memcpy(sd->b + sd->n, p, n);
	sd->n += n;
}

/* seed_file: unseal one file of ks under the purpose its name implies, as a record. */
static void
seed_file(struct keystore *ks, const char *name, struct seed *sd)
{
	uint8_t *sealed = NULL, *plain = NULL, *rec;
	size_t sl = 0, pl = 0;
	char purpose[300];
	unsigned v = 0;
	uint8_t kind;

	if (strcmp(name, "system.key") == 0) {
		kind = 0;
		snprintf(purpose, sizeof(purpose), "system");
	} else if (strcmp(name, "identities.sealed") == 0) {
		kind = 3;
		snprintf(purpose, sizeof(purpose), "identities");
	} else if (strlen(name) > 5 && strcmp(name + strlen(name) - 5, ".meta") == 0) {
		kind = 1;
		snprintf(purpose, sizeof(purpose), "level");
	} else if (strlen(name) > BASE_LEN + 2 && sscanf(name + BASE_LEN, ".v%u.kek", &v) == 1) {
		kind = 2;
		snprintf(purpose, sizeof(purpose), "kek %.*s v%u", BASE_LEN, name, v);
	} else {
		return;
	}
	FUZZ_CHECK(keystore_read_file(ks, name, &sealed, &sl) == 0);
	FUZZ_CHECK(keystore_unseal(ks, purpose, sealed, sl, &plain, &pl) == 0);
	rec = malloc(pl + 4);
	FUZZ_CHECK(rec != NULL);
	if (kind == 2) {
		rec[0] = (uint8_t)(v >> 24);
		rec[1] = (uint8_t)(v >> 16);
		rec[2] = (uint8_t)(v >> 8);
		rec[3] = (uint8_t)v;
	}
	memcpy(rec + (kind == 2 ? 4 : 0), plain, pl);
	seed_rec(sd, kind, rec, pl + (kind == 2 ? 4 : 0));
	free(rec);
	free(plain);
	free(sealed);
}

/*
 * write_seeds(out): make a keystore as the server would (levels, rotations,
 * a destroyed version, a shredded level, users and keys) and write its
 * plaintexts as seeds into out.  FUZZ_KEYSTORE_SEEDS=dir runs it; this is
 * how corpus/keystore was made.
 */
static void
write_seeds(const char *out)
{
	static const char *const levels[] = {"s0", "s2:c1,c4.c7", "s1"};
	struct keystore *ks = NULL;
	struct identity *id = NULL;
	struct seed *all = calloc(1, sizeof(*all)), *one = calloc(1, sizeof(*one));
	char dir[300], keys[320], why[256], akid[IDENTITY_AKID_LEN + 1];
	char secret[IDENTITY_SECRET_LEN + 1], name[320];
	uint8_t rec[64];
	uint32_t v = 0;
	unsigned nv = 0;

	FUZZ_CHECK(all != NULL && one != NULL);
	fuzz_scratch("seeds", dir, sizeof(dir));
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	FUZZ_CHECK(keystore_open_root(&ks, keys, root_key, true, why, sizeof(why)) == 0);
	for (size_t i = 0; i < 3; i++)
		FUZZ_CHECK(keystore_level_add(ks, levels[i]) == 0);
	FUZZ_CHECK(keystore_rotate(ks, levels[1], &v) == 0 &&
		   keystore_rotate(ks, levels[1], &v) == 0);
	FUZZ_CHECK(keystore_destroy(ks, levels[1], 1) == 0);
	FUZZ_CHECK(keystore_shred(ks, levels[2], &nv) == 0);
	FUZZ_CHECK(identity_open(&id, ks, why, sizeof(why)) == 0);
	FUZZ_CHECK(identity_user_add(id, "admin", "s0-s15:c0.c1023", true) == 0);
	FUZZ_CHECK(identity_user_add(id, "alice", "s0-s2:c1,c4.c7", false) == 0);
	FUZZ_CHECK(identity_user_add(id, "bob.smith_2", "s1", false) == 0);
	FUZZ_CHECK(identity_key_create(id, "admin", "s0", akid, secret) == 0);
	FUZZ_CHECK(identity_key_create(id, "alice", "s2:c1,c4.c7", akid, secret) == 0);
	FUZZ_CHECK(identity_key_create(id, "alice", "s0", akid, secret) == 0);
	FUZZ_CHECK(identity_key_revoke(id, akid) == 0);
	FUZZ_CHECK(identity_key_create(id, "bob.smith_2", "s1", akid, secret) == 0);
	FUZZ_CHECK(identity_user_disable(id, "bob.smith_2") == 0);
	identity_close(id);

	/* Everything: the system keys, each level's .meta then its key files, the identities. */
	all->b[all->n++] = 1;
	seed_file(ks, "system.key", all);
	for (size_t i = 0; i < 3; i++) {
		char base[BASE_LEN + 1];

		level_base(levels[i], base);
		snprintf(name, sizeof(name), "%s.meta", base);
		seed_file(ks, name, all);
		for (unsigned k = 1; k <= 3; k++) {
			char path[700];
			struct stat st;

			snprintf(name, sizeof(name), "%s.v%u.kek", base, k);
			snprintf(path, sizeof(path), "%s/%s", keys, name);
			if (stat(path, &st) == 0)
				seed_file(ks, name, all);
		}
	}
	seed_file(ks, "identities.sealed", all);
	fuzz_write(out, "real-keystore", all->b, all->n, 0644);

	/* The identities alone, and one level alone. */
	one->b[one->n++] = 0;
	seed_file(ks, "identities.sealed", one);
	fuzz_write(out, "real-identities", one->b, one->n, 0644);
	one->n = 0;
	one->b[one->n++] = 0;
	{
		char base[BASE_LEN + 1];

		level_base(levels[1], base);
		snprintf(name, sizeof(name), "%s.meta", base);
		seed_file(ks, name, one);
		snprintf(name, sizeof(name), "%s.v3.kek", base);
		seed_file(ks, name, one);
		snprintf(name, sizeof(name), "%s.v2.kek", base);
		seed_file(ks, name, one);
	}
	fuzz_write(out, "real-level", one->b, one->n, 0644);
	keystore_close(ks);

	/* A root.scrypt as keystore_passphrase_root() makes it (cost 2^10). */
	{
		uint8_t key[KEYSTORE_KEY_LEN], *b = NULL;
		size_t n = 0;

		FUZZ_CHECK(keystore_passphrase_root(keys, "passphrase", 10, 10, true, key, why,
						    sizeof(why)) == 0);
		FUZZ_CHECK(keystore_open_root(&ks, keys, root_key, false, why, sizeof(why)) == 0);
		FUZZ_CHECK(keystore_read_file(ks, "root.scrypt", &b, &n) == 0);
		keystore_close(ks);
		one->n = 0;
		one->b[one->n++] = 0;
		seed_rec(one, 4, b, n);
		fuzz_write(out, "real-root-scrypt", one->b, one->n, 0644);
		free(b);
	}
	/* An orphan key file and a temporary file left by a crash: scrubbed on open. */
	one->n = 0;
	one->b[one->n++] = 0;
	rec[0] = 21;
	memcpy(rec + 1, "level-00000000.v1.kek", 21);
	memset(rec + 22, 0x5a, 16);
	seed_rec(one, 5, rec, 38);
	rec[0] = 20;
	memcpy(rec + 1, ".system.key.0a0b.tmp", 20);
	seed_rec(one, 5, rec, 21);
	fuzz_write(out, "orphans", one->b, one->n, 0644);
	fuzz_rmtree(dir);
	free(all);
	free(one);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[300], keys[320], why[256];

	(void)argc;
	(void)argv;
	fuzz_rand_reset(1);
	fuzz_scratch("sealer", dir, sizeof(dir));
	snprintf(keys, sizeof(keys), "%s/keys", dir);
	if (keystore_open_root(&sealer, keys, root_key, true, why, sizeof(why)) != 0 ||
	    keystore_read_file(sealer, "system.key", &default_sys, &default_sys_len) != 0) {
		fprintf(stderr, "sealer: %s\n", why);
		abort();
	}
	if (getenv("FUZZ_KEYSTORE_SEEDS") != NULL)
		write_seeds(getenv("FUZZ_KEYSTORE_SEEDS"));
	return 0;
}

static void
seal_write(const char *dir, const char *name, const char *purpose, const uint8_t *p, size_t n)
{
	uint8_t *sealed = NULL;
	size_t sl = 0;

	FUZZ_CHECK(keystore_seal(sealer, purpose, p, n, &sealed, &sl) == 0);
	fuzz_write(dir, name, sealed, sl, 0600);
	free(sealed);
}

/* payload_id: the level id a .meta plaintext holds, as the keystore reads it. */
static void
payload_id(const uint8_t *p, size_t n, char *id, size_t idsz)
{
	size_t idl = 0;

	id[0] = '\0';
	if (n < 8)
		return;
	idl = (size_t)p[4] << 24 | (size_t)p[5] << 16 | (size_t)p[6] << 8 | p[7];
	if (idl > n - 8)
		idl = n - 8;
	if (idl > idsz - 1)
		idl = idsz - 1;
	memcpy(id, p + 8, idl);
	id[idl] = '\0';
}

/* safe_name: a file name of [A-Za-z0-9._-] from the input, never "." or "..". */
static void
safe_name(const uint8_t *p, size_t n, char *out, size_t outsz)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 1 < outsz; i++) {
		char c = (char)p[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '.' || c == '_' || c == '-')
			out[o++] = c;
	}
	out[o] = '\0';
	if (strspn(out, ".") == o)
		snprintf(out, outsz, "junk");
}

/* ---- walking an opened keystore ---------------------------------------------------------- */

struct levels {
	char *id[64];
	uint32_t active[64];
	size_t n;
};

static void
level_cb(void *arg, const char *id, uint32_t active)
{
	struct levels *l = arg;

	FUZZ_CHECK(id != NULL && id[0] != '\0');
	if (l->n < 64) {
		l->id[l->n] = strdup(id);
		FUZZ_CHECK(l->id[l->n] != NULL);
		l->active[l->n++] = active;
	}
}

struct vwalk {
	struct keystore *ks;
	const char *id;
	uint32_t last;
	unsigned n;
};

static void
version_cb(void *arg, const struct keystore_version *v)
{
	struct vwalk *w = arg;
	uint8_t *key = secmem_alloc(KEYSTORE_KEY_LEN);
	int rc;

	FUZZ_CHECK(key != NULL);
	/* Oldest first, strictly ascending (the parser refuses anything else). */
	FUZZ_CHECK(w->n == 0 || v->version > w->last);
	FUZZ_CHECK(v->state >= KEYSTORE_ACTIVE && v->state <= KEYSTORE_DESTROYED);
	FUZZ_CHECK(keystore_kek_state(w->ks, w->id, v->version) == v->state);
	rc = keystore_kek(w->ks, w->id, v->version, key);
	FUZZ_CHECK(rc == (v->state == KEYSTORE_DESTROYED ? CS_ENOENT : 0));
	secmem_free(key, KEYSTORE_KEY_LEN);
	w->last = v->version;
	w->n++;
}

static void
free_levels(struct levels *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->id[i]);
	l->n = 0;
}

static void
user_cb(void *arg, const struct ident_user *u)
{
	(void)arg;
	FUZZ_CHECK(strlen(u->name) > 0 && strlen(u->name) <= IDENTITY_NAME_MAX);
}

struct kwalk {
	struct identity *id;
	unsigned n;
};

static void
key_cb(void *arg, const char *akid, const char *user, const char *level)
{
	struct kwalk *w = arg;
	struct ident_session s;
	uint8_t secret[64];
	size_t sl = 0;
	int rc;

	FUZZ_CHECK(strlen(akid) == IDENTITY_AKID_LEN && user[0] != '\0' && level[0] != '\0');
	rc = identity_lookup(w->id, akid, secret, sizeof(secret), &sl);
	FUZZ_CHECK(rc == 0 || rc == CS_ENOENT);
	if (rc == 0)
		FUZZ_CHECK(sl == IDENTITY_SECRET_LEN);
	secmem_wipe(secret, sizeof(secret));
	rc = identity_session(w->id, akid, &s);
	FUZZ_CHECK(rc == 0 || rc == CS_ENOENT);
	if (rc == 0)
		FUZZ_CHECK(strcmp(s.akid, akid) == 0 && s.level.sens <= LABEL_SENS_MAX);
	w->n++;
}

static void
walk_identities(struct keystore *ks)
{
	struct identity *id = NULL;
	char why[256] = "";
	int rc = identity_open(&id, ks, why, sizeof(why));

	FUZZ_CHECK(rc == 0 || rc == CS_EINVAL || rc == CS_EAUTH || rc == CS_EPERM || rc == CS_EIO ||
		   rc == CS_ENOMEM || rc == CS_ERANGE);
	FUZZ_CHECK((rc == 0) == (id != NULL));
	if (rc != 0) {
		FUZZ_CHECK(why[0] != '\0');
		return;
	}
	{
		struct kwalk kw = {id, 0};

		(void)identity_count(id);
		identity_users(id, user_cb, NULL);
		identity_keys(id, key_cb, &kw);
	}
	identity_close(id);
}

/* walk: everything an opened keystore holds; returns the first level and its active version. */
static void
walk(struct keystore *ks, struct levels *lv)
{
	uint8_t *key = secmem_alloc(KEYSTORE_KEY_LEN);

	FUZZ_CHECK(key != NULL);
	keystore_level_ids(ks, level_cb, lv);
	for (size_t i = 0; i < lv->n; i++) {
		struct vwalk w = {ks, lv->id[i], 0, 0};
		uint32_t v = 0;
		int rc;

		FUZZ_CHECK(keystore_versions(ks, lv->id[i], version_cb, &w) == 0 && w.n > 0);
		rc = keystore_active(ks, lv->id[i], &v, key);
		FUZZ_CHECK(rc == 0 || rc == CS_ENOENT);
		FUZZ_CHECK(keystore_level_exists(ks, lv->id[i]) == (rc == 0));
		if (rc == 0)
			FUZZ_CHECK(v == lv->active[i]);
	}
	FUZZ_CHECK(keystore_syskey(ks, KEYSTORE_NAME_KEY, key) == 0);
	FUZZ_CHECK(keystore_derive(ks, "fuzz", key) == 0);
	secmem_free(key, KEYSTORE_KEY_LEN);
	walk_identities(ks);
}

/* scrypt_cheap: a root.scrypt record keystore_passphrase_root() can run in a moment. */
static bool
scrypt_cheap(const uint8_t *p, size_t n)
{
	uint32_t r, par;

	if (n != 29 || memcmp(p, "CSRP", 4) != 0)
		return true; /* refused before scrypt runs */
	r = (uint32_t)p[5] << 24 | (uint32_t)p[6] << 16 | (uint32_t)p[7] << 8 | p[8];
	par = (uint32_t)p[9] << 24 | (uint32_t)p[10] << 16 | (uint32_t)p[11] << 8 | p[12];
	return p[4] <= 11 || r == 0 || r > 32 || par == 0 || par > 16 || (p[4] <= 12 && r <= 2);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t flags = fuzz_take_u8(&in);
	char base[300], keys[320], rootp[320], why[256], id[256], lbase[BASE_LEN + 1];
	char name[300], purpose[300];
	struct keystore *ks = NULL;
	struct levels lv = {{NULL}, {0}, 0};
	bool have_sys = false;
	const uint8_t *scrypt_rec = NULL;
	size_t scrypt_len = 0;
	int rc;

	fuzz_rand_reset(size);
	fuzz_secmem_mark();
	fuzz_scratch("ks", base, sizeof(base));
	snprintf(keys, sizeof(keys), "%s/keys", base);
	snprintf(rootp, sizeof(rootp), "%s/root.key", base);
	FUZZ_CHECK(mkdir(keys, 0700) == 0);
	fuzz_write(base, "root.key", root_key, sizeof(root_key), 0600);
	level_base("s0", lbase);

	while (in.n > 0) {
		uint8_t kind = fuzz_take_u8(&in);
		size_t n = 0;
		const uint8_t *p = fuzz_take_rec(&in, &n);

		if (p == NULL)
			break;
		switch (kind % 6) {
		case 0:
			seal_write(keys, "system.key", "system", p, n);
			have_sys = true;
			break;
		case 1:
			payload_id(p, n, id, sizeof(id));
			level_base(id, lbase);
			snprintf(name, sizeof(name), "%s.meta", lbase);
			seal_write(keys, name, "level", p, n);
			break;
		case 2: {
			uint32_t v = n >= 4 ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
						      (uint32_t)p[2] << 8 | p[3]
					    : 0;

			snprintf(name, sizeof(name), "%s.v%u.kek", lbase, (unsigned)v);
			snprintf(purpose, sizeof(purpose), "kek %s v%u", lbase, (unsigned)v);
			seal_write(keys, name, purpose, p + (n >= 4 ? 4 : n), n >= 4 ? n - 4 : 0);
			break;
		}
		case 3:
			seal_write(keys, "identities.sealed", "identities", p, n);
			break;
		case 4:
			fuzz_write(keys, "root.scrypt", p, n, 0600);
			scrypt_rec = p;
			scrypt_len = n;
			break;
		default: {
			size_t nl = n > 0 ? p[0] : 0;

			nl = nl < n - (n > 0) ? nl : n - (n > 0);
			safe_name(p + 1, nl, name, 64);
			fuzz_write(keys, name, p + 1 + nl, n - (n > 0) - nl, 0600);
			break;
		}
		}
	}
	if (!have_sys)
		fuzz_write(keys, "system.key", default_sys, default_sys_len, 0600);

	why[0] = '\0';
	rc = keystore_open(&ks, keys, rootp, flags & 1, why, sizeof(why));
	FUZZ_CHECK(rc <= 0 && rc >= CS_EPERM);
	FUZZ_CHECK((rc == 0) == (ks != NULL));
	if (rc != 0) {
		FUZZ_CHECK(why[0] != '\0');
	} else {
		uint32_t v = 0;

		walk(ks, &lv);
		/* What the keystore writes, it reads back. */
		if (lv.n > 0 && (rc = keystore_rotate(ks, lv.id[0], &v)) == 0) {
			char *first = strdup(lv.id[0]);

			FUZZ_CHECK(first != NULL);
			keystore_close(ks);
			free_levels(&lv);
			rc = keystore_open(&ks, keys, rootp, false, why, sizeof(why));
			if (rc != 0)
				fprintf(stderr, "reopen after rotate: %s\n", why);
			FUZZ_CHECK(rc == 0);
			walk(ks, &lv);
			FUZZ_CHECK(keystore_kek_state(ks, first, v) == KEYSTORE_ACTIVE);
			free(first);
		} else if (lv.n > 0) {
			FUZZ_CHECK(rc == CS_ERANGE || rc == CS_EIO);
		}
		keystore_close(ks);
	}
	free_levels(&lv);
	if (scrypt_rec != NULL && scrypt_cheap(scrypt_rec, scrypt_len)) {
		uint8_t key[KEYSTORE_KEY_LEN];

		rc = keystore_passphrase_root(keys, "passphrase", 10, 10, false, key, why,
					      sizeof(why));
		FUZZ_CHECK(rc == 0 || (rc < 0 && why[0] != '\0'));
		secmem_wipe(key, sizeof(key));
	}
	fuzz_rmtree(base);
	fuzz_secmem_check();
	return 0;
}
