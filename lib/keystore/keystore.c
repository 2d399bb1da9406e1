/*
 * keystore: root key, sealed level KEKs and system keys.  See keystore.h.
 */
#include "keystore.h"
#include "crypto/kdf.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/secmem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#define SEAL_MAGIC    "CSK1"
#define SEAL_NONCE    12
#define SEAL_TAG      16
#define SEAL_OVERHEAD (4 + SEAL_NONCE + SEAL_TAG)
#define KS_FILE_MAX   (1u << 24) /* no keystore file is larger */
#define LEVEL_MAGIC   "CSKM"
#define SYS_MAGIC     "CSKS"
#define SYS_FILE      "system.key"
#define ID_MAX        8192

struct ks_version {
	uint32_t version;
	uint8_t state;
	uint64_t created, changed;
	uint8_t *key; /* secure memory; NULL once destroyed */
};

struct ks_level {
	char *id;
	size_t nv;
	struct ks_version *v;
};

struct keystore {
	pthread_rwlock_t lock;
	int dirfd;               /* the directory of the default files (-1 if other) */
	struct keystore_files f; /* where the files live */
	uint8_t *seal_key;       /* secure memory */
	uint8_t *derive_key;     /* secure memory: base of keystore_derive() */
	uint8_t *sys;            /* KEYSTORE_NSYSKEYS keys, secure memory */
	struct ks_level *levels;
	size_t nlevels;
	bool restricted; /* keystore_restrict(): only some levels' KEKs and the name key */
};

/* ks_check_perm: st must be owned by us and closed to group and others. */
static int
ks_check_perm(const struct stat *st, const char *path, bool dir, char *why, size_t whylen)
{
	if (dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode))
		return err_why(why, whylen, CS_EPERM, "%s: not a %s", path,
			       dir ? "directory" : "regular file");
	if (st->st_uid != geteuid())
		return err_why(
			why, whylen, CS_EPERM,
			"%s is owned by uid %u, not by this user (uid %u); fix: chown %u '%s'",
			path, (unsigned)st->st_uid, (unsigned)geteuid(), (unsigned)geteuid(), path);
	if ((st->st_mode & 077) != 0)
		return err_why(
			why, whylen, CS_EPERM,
			"%s has mode %03o, which lets other users at the keys; fix: chmod %s '%s'",
			path, (unsigned)(st->st_mode & 0777), dir ? "700" : "600", path);
	return 0;
}

/* ks_read_fd: read a whole file (<= max bytes) from fd into a malloc'ed buffer. */
static int
ks_read_fd(int fd, size_t max, uint8_t **out, size_t *outlen)
{
	struct stat st;
	uint8_t *b;
	size_t n = 0;

	if (fstat(fd, &st) != 0)
		return CS_EIO;
	if ((uint64_t)st.st_size > max)
		return CS_ERANGE;
	if ((b = malloc((size_t)st.st_size + 1)) == NULL)
		return CS_ENOMEM;
	while (n < (size_t)st.st_size) {
		ssize_t k = read(fd, b + n, (size_t)st.st_size - n);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			secmem_wipe(b, n);
			free(b);
			return CS_EIO;
		}
		n += (size_t)k;
	}
	b[n] = 0;
	*out = b;
	*outlen = n;
	return 0;
}

/* ks_write_at: atomically write name in dirfd: temp (O_EXCL, 0600), fsync,
 * rename (with excl: RENAME_NOREPLACE, which fails if name exists), fsync
 * the directory.  Only calls of the sandbox's allow-list (sandbox.c). */
static int
ks_write_at(int dirfd, const char *name, const uint8_t *data, size_t n, bool excl)
{
	char tmp[300];
	uint8_t rnd[6];
	size_t off = 0;
	int fd;

	if (RAND_bytes(rnd, sizeof(rnd)) != 1)
		return CS_ECRYPTO;
	snprintf(tmp, sizeof(tmp), ".%s.%02x%02x%02x%02x%02x%02x.tmp", name, rnd[0], rnd[1], rnd[2],
		 rnd[3], rnd[4], rnd[5]);
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return CS_EIO;
	while (off < n) {
		ssize_t k = write(fd, data + off, n - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			goto err;
		off += (size_t)k;
	}
	if (fsync(fd) != 0)
		goto err;
	close(fd);
	if (excl) {
		int e = renameat2(dirfd, tmp, dirfd, name, RENAME_NOREPLACE) == 0 ? 0 : errno;

		/* A filesystem without RENAME_NOREPLACE: the directory has one
		 * writer (shared keystores are not directories), so check, then
		 * rename. */
		if (e == EINVAL) {
			e = faccessat(dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0 ? EEXIST : 0;
			if (e == 0 && renameat(dirfd, tmp, dirfd, name) != 0)
				e = errno;
		}
		if (e != 0) {
			(void)unlinkat(dirfd, tmp, 0);
			return e == EEXIST ? CS_EEXIST : CS_EIO;
		}
	} else if (renameat(dirfd, tmp, dirfd, name) != 0) {
		(void)unlinkat(dirfd, tmp, 0);
		return CS_EIO;
	}
	return fsync(dirfd) == 0 ? 0 : CS_EIO;
err:
	close(fd);
	(void)unlinkat(dirfd, tmp, 0);
	return CS_EIO;
}

/* ---- sealing ------------------------------------------------------------- */

static int
ks_gcm(const uint8_t *key, bool enc, const char *purpose, const uint8_t *nonce, const uint8_t *in,
       size_t n, uint8_t *out, uint8_t *tag)
{
	static const char prefix[] = "cryptstore keystore v1:";
	EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
	int l = 0, ok;

	if (ctx == NULL)
		return CS_ENOMEM;
	ok = EVP_CipherInit_ex(ctx, EVP_aes_256_gcm(), NULL, key, nonce, enc) == 1 &&
	     EVP_CipherUpdate(ctx, NULL, &l, (const uint8_t *)prefix, sizeof(prefix) - 1) == 1 &&
	     EVP_CipherUpdate(ctx, NULL, &l, (const uint8_t *)purpose, (int)strlen(purpose)) == 1 &&
	     (n == 0 || EVP_CipherUpdate(ctx, out, &l, in, (int)n) == 1);
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, SEAL_TAG, tag) == 1;
	if (ok)
		ok = EVP_CipherFinal_ex(ctx, out + n, &l) == 1;
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, SEAL_TAG, tag) == 1;
	EVP_CIPHER_CTX_free(ctx);
	return ok ? 0 : enc ? CS_ECRYPTO : CS_EAUTH;
}

static int
ks_seal_with(const uint8_t *key, const char *purpose, const uint8_t *in, size_t n, uint8_t **out,
	     size_t *outlen)
{
	uint8_t *b;
	int rc;

	if (key == NULL) /* a restricted keystore */
		return CS_EPERM;
	if (n > KS_FILE_MAX - SEAL_OVERHEAD)
		return CS_ERANGE;
	if ((b = malloc(n + SEAL_OVERHEAD)) == NULL)
		return CS_ENOMEM;
	memcpy(b, SEAL_MAGIC, 4);
	if (RAND_bytes(b + 4, SEAL_NONCE) != 1) {
		free(b);
		return CS_ECRYPTO;
	}
	rc = ks_gcm(key, true, purpose, b + 4, in, n, b + 4 + SEAL_NONCE, b + 4 + SEAL_NONCE + n);
	if (rc != 0) {
		free(b);
		return rc;
	}
	*out = b;
	*outlen = n + SEAL_OVERHEAD;
	return 0;
}

static int
ks_unseal_with(const uint8_t *key, const char *purpose, const uint8_t *in, size_t n, uint8_t **out,
	       size_t *outlen)
{
	uint8_t tag[SEAL_TAG], *b;
	size_t m;
	int rc;

	if (key == NULL)
		return CS_EPERM;
	if (n < SEAL_OVERHEAD || memcmp(in, SEAL_MAGIC, 4) != 0)
		return CS_EAUTH;
	m = n - SEAL_OVERHEAD;
	if ((b = malloc(m + 1)) == NULL)
		return CS_ENOMEM;
	memcpy(tag, in + n - SEAL_TAG, SEAL_TAG);
	rc = ks_gcm(key, false, purpose, in + 4, in + 4 + SEAL_NONCE, m, b, tag);
	if (rc != 0) {
		secmem_wipe(b, m);
		free(b);
		return rc;
	}
	b[m] = 0;
	*out = b;
	*outlen = m;
	return 0;
}

int
keystore_seal(struct keystore *ks, const char *purpose, const uint8_t *in, size_t n, uint8_t **out,
	      size_t *outlen)
{
	if (ks->restricted)
		return CS_EPERM;
	return ks_seal_with(ks->seal_key, purpose, in, n, out, outlen);
}

int
keystore_unseal(struct keystore *ks, const char *purpose, const uint8_t *in, size_t n,
		uint8_t **out, size_t *outlen)
{
	if (ks->restricted)
		return CS_EPERM;
	return ks_unseal_with(ks->seal_key, purpose, in, n, out, outlen);
}

int
keystore_write_file(struct keystore *ks, const char *name, const uint8_t *data, size_t n)
{
	if (ks->restricted)
		return CS_EPERM;
	return ks->f.write(ks->f.arg, name, data, n, false);
}

int
keystore_read_file(struct keystore *ks, const char *name, uint8_t **out, size_t *outlen)
{
	if (ks->restricted)
		return CS_EPERM;
	return ks->f.read(ks->f.arg, name, KS_FILE_MAX, out, outlen);
}

/* ks_sync: make erasures durable. */
static int
ks_sync(struct keystore *ks)
{
	return ks->f.sync != NULL ? ks->f.sync(ks->f.arg) : 0;
}

/* ---- serialisation ------------------------------------------------------- */

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void
put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)(v >> 32));
	put32(p + 4, (uint32_t)v);
}

static uint64_t
get64(const uint8_t *p)
{
	return (uint64_t)get32(p) << 32 | get32(p + 4);
}

/* ---- level files ----------------------------------------------------------
 *
 * A level is two kinds of file (docs/SECURITY.md, "Key files"):
 *   level-<h>.meta      sealed "level": id and every version's number, state
 *                       and times, but no key; rewritten atomically
 *   level-<h>.v<N>.kek  sealed "kek level-<h> v<N>": the 32 key bytes of
 *                       version N; written once, never rewritten, and
 *                       destroyed by overwriting it in place with random
 *                       bytes, fsync and unlink
 * so a version's key bytes exist in exactly one file the server ever wrote,
 * and destroying a version does not leave an older copy of the key behind
 * in a replaced file.
 */

#define MREC_LEN  (4 + 1 + 8 + 8)
#define BASE_LEN  38 /* "level-" + 32 hex digits */
#define NAME_SIZE 80

/* level_base: "level-<first 128 bits of SHA-256(id) in hex>". */
static void
level_base(const char *id, char out[BASE_LEN + 1])
{
	uint8_t h[32];
	char hx[65];

	EVP_Digest(id, strlen(id), h, NULL, EVP_sha256(), NULL);
	hex_encode(hx, h, 16);
	snprintf(out, BASE_LEN + 1, "level-%.32s", hx);
}

/* kek_names: the file name of version v of level base, and its seal purpose. */
static void
kek_names(const char *base, uint32_t v, char name[NAME_SIZE], char purpose[NAME_SIZE])
{
	snprintf(name, NAME_SIZE, "%s.v%u.kek", base, (unsigned)v);
	snprintf(purpose, NAME_SIZE, "kek %s v%u", base, (unsigned)v);
}

/* level_save_meta: serialise, seal and atomically write a level's .meta file. */
static int
level_save_meta(struct keystore *ks, const struct ks_level *l)
{
	size_t idl = strlen(l->id), n = 4 + 4 + idl + 4 + l->nv * MREC_LEN, off, sl;
	uint8_t *b = malloc(n), *sealed = NULL;
	char base[BASE_LEN + 1], name[NAME_SIZE];
	int rc;

	if (b == NULL)
		return CS_ENOMEM;
	memcpy(b, LEVEL_MAGIC, 4);
	put32(b + 4, (uint32_t)idl);
	memcpy(b + 8, l->id, idl);
	put32(b + 8 + idl, (uint32_t)l->nv);
	off = 12 + idl;
	for (size_t i = 0; i < l->nv; i++, off += MREC_LEN) {
		put32(b + off, l->v[i].version);
		b[off + 4] = l->v[i].state;
		put64(b + off + 5, l->v[i].created);
		put64(b + off + 13, l->v[i].changed);
	}
	rc = keystore_seal(ks, "level", b, n, &sealed, &sl);
	free(b);
	if (rc != 0)
		return rc;
	level_base(l->id, base);
	snprintf(name, sizeof(name), "%s.meta", base);
	rc = ks->f.write(ks->f.arg, name, sealed, sl, false);
	free(sealed);
	return rc;
}

/* kek_save: seal and durably write version v's key file (a new name). */
static int
kek_save(struct keystore *ks, const char *id, const struct ks_version *v)
{
	char base[BASE_LEN + 1], name[NAME_SIZE], purpose[NAME_SIZE];
	uint8_t *sealed = NULL;
	size_t sl = 0;
	int rc;

	level_base(id, base);
	kek_names(base, v->version, name, purpose);
	if ((rc = ks_seal_with(ks->seal_key, purpose, v->key, KEYSTORE_KEY_LEN, &sealed, &sl)) != 0)
		return rc;
	/* Exclusive: a version is written once; with shared files, CS_EEXIST
	 * means another front-end made this version first. */
	rc = ks->f.write(ks->f.arg, name, sealed, sl, true);
	free(sealed);
	return rc;
}

/*
 * ks_scrub_at: destroy a file's bytes and then the file: overwrite it in
 * place with random bytes, fsync, unlink.  A missing file is not an error.
 * The caller fsyncs the directory.
 */
static int
ks_scrub_at(int dirfd, const char *name)
{
	uint8_t rnd[4096];
	struct stat st;
	off_t off = 0;
	int fd = openat(dirfd, name, O_WRONLY | O_NOFOLLOW | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return errno == ENOENT ? 0 : CS_EIO;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return CS_EIO;
	}
	while (rc == 0 && off < st.st_size) {
		size_t k = (size_t)(st.st_size - off) < sizeof(rnd) ? (size_t)(st.st_size - off)
								    : sizeof(rnd);
		ssize_t w;

		if (RAND_bytes(rnd, (int)k) != 1) {
			rc = CS_ECRYPTO;
			break;
		}
		w = pwrite(fd, rnd, k, off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			rc = CS_EIO;
		else
			off += w;
	}
	if (rc == 0 && fsync(fd) != 0)
		rc = CS_EIO;
	close(fd);
	if (rc == 0 && unlinkat(dirfd, name, 0) != 0 && errno != ENOENT)
		rc = CS_EIO;
	return rc;
}

/* kek_unsave: erase version v's key file after its .meta update failed. */
static void
kek_unsave(struct keystore *ks, const char *id, uint32_t v)
{
	char base[BASE_LEN + 1], name[NAME_SIZE], purpose[NAME_SIZE];

	level_base(id, base);
	kek_names(base, v, name, purpose);
	if (ks->f.erase(ks->f.arg, name) != 0) {
		/* left for the scrub at the next open (directory files) */
	}
}

/* ---- the directory's files (struct keystore_files, arg = the keystore) ---- */

static int
ksd_read(void *arg, const char *name, size_t max, uint8_t **out, size_t *outlen)
{
	struct keystore *ks = arg;
	struct stat st;
	int fd = openat(ks->dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC), rc;

	if (fd < 0)
		return errno == ENOENT ? CS_ENOENT : CS_EIO;
	if (fstat(fd, &st) != 0 || ks_check_perm(&st, name, false, NULL, 0) != 0) {
		close(fd);
		return CS_EPERM;
	}
	rc = ks_read_fd(fd, max, out, outlen);
	close(fd);
	return rc;
}

static int
ksd_write(void *arg, const char *name, const uint8_t *data, size_t n, bool excl)
{
	return ks_write_at(((struct keystore *)arg)->dirfd, name, data, n, excl);
}

static int
ksd_erase(void *arg, const char *name)
{
	return ks_scrub_at(((struct keystore *)arg)->dirfd, name);
}

static int
ksd_list(void *arg, int (*cb)(void *cbarg, const char *name), void *cbarg)
{
	struct keystore *ks = arg;
	struct dirent *de;
	DIR *d;
	int fd = dup(ks->dirfd), rc = 0;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return CS_EIO;
	}
	while (rc == 0 && (de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			rc = cb(cbarg, de->d_name);
	closedir(d);
	return rc;
}

static int
ksd_sync(void *arg)
{
	return fsync(((struct keystore *)arg)->dirfd) == 0 ? 0 : CS_EIO;
}

static void
level_free(struct ks_level *l)
{
	for (size_t i = 0; i < l->nv; i++)
		secmem_free(l->v[i].key, KEYSTORE_KEY_LEN);
	free(l->v);
	free(l->id);
}

/* level_parse: the plaintext of a .meta file into l (no keys yet). */
static int
level_parse(const uint8_t *b, size_t n, struct ks_level *l)
{
	size_t idl, nv, off;

	memset(l, 0, sizeof(*l));
	if (n < 12 || memcmp(b, LEVEL_MAGIC, 4) != 0)
		return CS_EAUTH;
	idl = get32(b + 4);
	/* The id is a C string everywhere after this: no NUL inside it. */
	if (idl == 0 || idl > ID_MAX || idl > n - 12 || memchr(b + 8, '\0', idl) != NULL)
		return CS_EAUTH;
	nv = get32(b + 8 + idl);
	if (nv == 0 || nv > (n - 12 - idl) / MREC_LEN || n != 12 + idl + nv * MREC_LEN)
		return CS_EAUTH;
	if ((l->id = malloc(idl + 1)) == NULL || (l->v = calloc(nv, sizeof(*l->v))) == NULL) {
		level_free(l);
		return CS_ENOMEM;
	}
	memcpy(l->id, b + 8, idl);
	l->id[idl] = 0;
	l->nv = nv;
	off = 12 + idl;
	for (size_t i = 0; i < nv; i++, off += MREC_LEN) {
		struct ks_version *v = &l->v[i];

		v->version = get32(b + off);
		v->state = b[off + 4];
		v->created = get64(b + off + 5);
		v->changed = get64(b + off + 13);
		if (v->state < KEYSTORE_ACTIVE || v->state > KEYSTORE_DESTROYED ||
		    (i > 0 && v->version <= l->v[i - 1].version)) {
			level_free(l);
			return CS_EAUTH;
		}
	}
	return 0;
}

/* level_load_keys: read every live version's key file of l. */
static int
level_load_keys(struct keystore *ks, struct ks_level *l, char *why, size_t whylen)
{
	char base[BASE_LEN + 1], name[NAME_SIZE], purpose[NAME_SIZE];

	level_base(l->id, base);
	for (size_t i = 0; i < l->nv; i++) {
		uint8_t *sealed = NULL, *plain = NULL;
		size_t sl = 0, pl = 0;
		int rc;

		if (l->v[i].state == KEYSTORE_DESTROYED || l->v[i].key != NULL)
			continue;
		kek_names(base, l->v[i].version, name, purpose);
		if ((rc = keystore_read_file(ks, name, &sealed, &sl)) != 0)
			return err_why(why, whylen, rc == CS_ENOENT ? CS_EAUTH : rc,
				       "key file %s of level %s version %u: %s", name, l->id,
				       (unsigned)l->v[i].version, err_str(rc));
		rc = ks_unseal_with(ks->seal_key, purpose, sealed, sl, &plain, &pl);
		free(sealed);
		if (rc == 0 && pl != KEYSTORE_KEY_LEN)
			rc = CS_EAUTH;
		if (rc == 0 && (l->v[i].key = secmem_alloc(KEYSTORE_KEY_LEN)) == NULL)
			rc = CS_ENOMEM;
		if (rc == 0)
			memcpy(l->v[i].key, plain, KEYSTORE_KEY_LEN);
		if (plain != NULL) {
			secmem_wipe(plain, pl);
			free(plain);
		}
		if (rc != 0)
			return err_why(why, whylen, rc,
				       "key file %s does not unseal under this root key", name);
	}
	return 0;
}

/*
 * ks_kek_owned: true if name is the key file of a live version of a level;
 * with shared files also if it may be another front-end's new version (a
 * version above the level's last, or of a level not known here): only the
 * files of versions the record says are destroyed are then scrubbed.
 */
static bool
ks_kek_owned(struct keystore *ks, const char *name)
{
	char base[BASE_LEN + 1], *end;
	unsigned long v;
	bool known = false;

	for (size_t i = 0; i < ks->nlevels; i++) {
		struct ks_level *l = &ks->levels[i];

		level_base(l->id, base);
		if (strncmp(name, base, BASE_LEN) != 0 || strncmp(name + BASE_LEN, ".v", 2) != 0)
			continue;
		errno = 0;
		v = strtoul(name + BASE_LEN + 2, &end, 10);
		if (errno != 0 || strcmp(end, ".kek") != 0)
			return false;
		for (size_t j = 0; j < l->nv; j++)
			if (l->v[j].version == v)
				return l->v[j].state != KEYSTORE_DESTROYED;
		known = true;
		if (ks->f.shared && v > l->v[l->nv - 1].version)
			return true;
		return false;
	}
	return ks->f.shared && !known;
}

/* ---- opening ------------------------------------------------------------- */

int
keystore_read_root(const char *path, bool create, uint8_t key[KEYSTORE_KEY_LEN], char *why,
		   size_t whylen)
{
	struct stat st;
	uint8_t *b = NULL;
	size_t n = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && create) {
		if (RAND_bytes(key, KEYSTORE_KEY_LEN) != 1)
			return err_why(why, whylen, CS_ECRYPTO, "no randomness for the root key");
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0)
			return err_why(why, whylen, CS_EIO, "cannot create root key %s: %s", path,
				       strerror(errno));
		if (write(fd, key, KEYSTORE_KEY_LEN) != KEYSTORE_KEY_LEN || fsync(fd) != 0) {
			close(fd);
			(void)unlink(path);
			return err_why(why, whylen, CS_EIO, "cannot write root key %s", path);
		}
		close(fd);
		return 0;
	}
	if (fd < 0)
		return err_why(why, whylen, errno == ENOENT ? CS_ENOENT : CS_EIO,
			       "cannot open root key %s: %s", path, strerror(errno));
	if (fstat(fd, &st) != 0 || (rc = ks_check_perm(&st, path, false, why, whylen)) != 0) {
		close(fd);
		return CS_EPERM;
	}
	rc = ks_read_fd(fd, 4096, &b, &n);
	close(fd);
	if (rc != 0)
		return err_why(why, whylen, rc, "cannot read root key %s", path);
	if (n != KEYSTORE_KEY_LEN) {
		secmem_wipe(b, n);
		free(b);
		return err_why(why, whylen, CS_EINVAL, "root key %s must be exactly %d bytes", path,
			       KEYSTORE_KEY_LEN);
	}
	memcpy(key, b, KEYSTORE_KEY_LEN);
	secmem_wipe(b, n);
	free(b);
	return 0;
}

#define SALT_FILE  "root.scrypt"
#define SALT_MAGIC "CSRP"
#define SALT_LEN   16
#define SALT_REC   (4 + 1 + 4 + 4 + SALT_LEN)

/* ks_mkdir: the keystore directory, created 0700 with create, then checked. */
static int
ks_mkdir(const char *dir, bool create, char *why, size_t whylen)
{
	struct stat st;

	if (create && mkdir(dir, 0700) != 0 && errno != EEXIST)
		return err_why(why, whylen, CS_EIO, "cannot create keystore %s: %s", dir,
			       strerror(errno));
	if (lstat(dir, &st) != 0)
		return err_why(why, whylen, errno == ENOENT ? CS_ENOENT : CS_EIO, "keystore %s: %s",
			       dir, strerror(errno));
	return ks_check_perm(&st, dir, true, why, whylen);
}

int
keystore_passphrase_root(const char *dir, const char *pass, size_t passlen, unsigned logn,
			 bool create, uint8_t key[KEYSTORE_KEY_LEN], char *why, size_t whylen)
{
	uint8_t rec[SALT_REC], *b = NULL;
	uint32_t r, p;
	size_t n = 0;
	int dfd, rc;

	if (passlen == 0)
		return err_why(why, whylen, CS_EINVAL, "the root passphrase is empty");
	if ((rc = ks_mkdir(dir, create, why, whylen)) != 0)
		return rc;
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return err_why(why, whylen, CS_EIO, "keystore %s: %s", dir, strerror(errno));
	{
		int fd = openat(dfd, SALT_FILE, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		struct stat st;

		if (fd >= 0) {
			if (fstat(fd, &st) != 0 ||
			    (rc = ks_check_perm(&st, SALT_FILE, false, why, whylen)) != 0)
				rc = CS_EPERM;
			else
				rc = ks_read_fd(fd, 4096, &b, &n);
			close(fd);
		} else {
			rc = errno == ENOENT ? CS_ENOENT : CS_EIO;
		}
	}
	if (rc == CS_ENOENT && create) {
		if (logn < 10 || logn > 24) {
			close(dfd);
			return err_why(why, whylen, CS_EINVAL,
				       "scrypt cost 2^%u is out of 2^10..2^24", logn);
		}
		memcpy(rec, SALT_MAGIC, 4);
		rec[4] = (uint8_t)logn;
		put32(rec + 5, 8);
		put32(rec + 9, 1);
		if (RAND_bytes(rec + 13, SALT_LEN) != 1)
			rc = CS_ECRYPTO;
		else
			rc = ks_write_at(dfd, SALT_FILE, rec, sizeof(rec), false);
		if (rc != 0) {
			close(dfd);
			return err_why(why, whylen, rc, "cannot create %s/%s", dir, SALT_FILE);
		}
	} else if (rc != 0) {
		close(dfd);
		return err_why(why, whylen, rc, "%s/%s: %s (it holds the passphrase salt)", dir,
			       SALT_FILE, err_str(rc));
	} else {
		if (n != SALT_REC || memcmp(b, SALT_MAGIC, 4) != 0) {
			free(b);
			close(dfd);
			return err_why(why, whylen, CS_EINVAL, "%s/%s is malformed", dir,
				       SALT_FILE);
		}
		memcpy(rec, b, SALT_REC);
		free(b);
	}
	close(dfd);
	logn = rec[4];
	r = get32(rec + 5);
	p = get32(rec + 9);
	if (logn < 10 || logn > 24 || r != 8 || p != 1)
		return err_why(why, whylen, CS_EINVAL, "%s/%s has unusable scrypt parameters", dir,
			       SALT_FILE);
	/* scrypt needs 128 * r * N bytes; allow that plus slack. */
	if (EVP_PBE_scrypt(pass, passlen, rec + 13, SALT_LEN, (uint64_t)1 << logn, r, p,
			   (uint64_t)129 * r << logn, key, KEYSTORE_KEY_LEN) != 1)
		return err_why(why, whylen, CS_ECRYPTO, "scrypt failed (out of memory?)");
	return 0;
}

/* The names of the keystore's files, for ks_load_levels. */
struct ks_names {
	char **v;
	size_t n, cap;
};

static int
ks_names_add(void *arg, const char *name)
{
	struct ks_names *nm = arg;

	if (nm->n == nm->cap) {
		size_t cap = nm->cap ? 2 * nm->cap : 64;
		char **v = realloc(nm->v, cap * sizeof(*v));

		if (v == NULL)
			return CS_ENOMEM;
		nm->v = v;
		nm->cap = cap;
	}
	if ((nm->v[nm->n] = strdup(name)) == NULL)
		return CS_ENOMEM;
	nm->n++;
	return 0;
}

static void
ks_names_free(struct ks_names *nm)
{
	for (size_t i = 0; i < nm->n; i++)
		free(nm->v[i]);
	free(nm->v);
}

/* ks_read_level: read, unseal and parse the record of a level from the
 * file name (a .meta file), checking it holds the level it is named for. */
static int
ks_read_level(struct keystore *ks, const char *name, struct ks_level *l, char *why, size_t whylen)
{
	uint8_t *sealed = NULL, *plain = NULL;
	size_t sl = 0, pl = 0;
	char expect[NAME_SIZE], base[BASE_LEN + 1];
	int rc;

	if ((rc = keystore_read_file(ks, name, &sealed, &sl)) != 0)
		return err_why(why, whylen, rc, "keystore file %s: %s%s", name, err_str(rc),
			       rc == CS_EPERM ? " (fix: chmod 600)" : "");
	rc = keystore_unseal(ks, "level", sealed, sl, &plain, &pl);
	free(sealed);
	if (rc != 0)
		return err_why(why, whylen, CS_EAUTH,
			       "keystore file %s does not unseal under this root key", name);
	rc = level_parse(plain, pl, l);
	free(plain);
	if (rc != 0)
		return err_why(why, whylen, rc, "keystore file %s is malformed", name);
	level_base(l->id, base);
	snprintf(expect, sizeof(expect), "%s.meta", base);
	if (strcmp(expect, name) != 0) {
		level_free(l);
		return err_why(why, whylen, CS_EAUTH, "keystore file %s holds another level", name);
	}
	return 0;
}

/*
 * ks_load_levels: every level-*.meta file and the key files of its live
 * versions; then scrub what no live version owns: key files of destroyed
 * versions (a shred interrupted after its durable decision), key files of
 * versions never committed to a .meta file (an interrupted rotation; not
 * with shared files, see ks_kek_owned), and temporary files of interrupted
 * writes.
 */
static int
ks_load_levels(struct keystore *ks, char *why, size_t whylen)
{
	struct ks_names nm = {0};
	bool scrubbed = false;
	int rc;

	if ((rc = ks->f.list(ks->f.arg, ks_names_add, &nm)) != 0) {
		ks_names_free(&nm);
		return err_why(why, whylen, rc, "cannot list the keystore: %s", err_str(rc));
	}
	for (size_t i = 0; rc == 0 && i < nm.n; i++) {
		const char *name = nm.v[i];
		size_t nl = strlen(name);
		struct ks_level l, *nlv;

		if (strncmp(name, "level-", 6) == 0 && nl > 4 &&
		    strcmp(name + nl - 4, ".key") == 0) {
			rc = err_why(why, whylen, CS_ENOTSUP,
				     "keystore file %s is of the pre-release format (one file per "
				     "level); this version cannot read it",
				     name);
			break;
		}
		if (strncmp(name, "level-", 6) != 0 || nl < 6 ||
		    strcmp(name + nl - 5, ".meta") != 0)
			continue;
		if ((rc = ks_read_level(ks, name, &l, why, whylen)) != 0)
			break;
		if ((rc = level_load_keys(ks, &l, why, whylen)) != 0) {
			level_free(&l);
			break;
		}
		if ((nlv = realloc(ks->levels, (ks->nlevels + 1) * sizeof(*nlv))) == NULL) {
			level_free(&l);
			rc = CS_ENOMEM;
			break;
		}
		ks->levels = nlv;
		ks->levels[ks->nlevels++] = l;
	}
	for (size_t i = 0; rc == 0 && i < nm.n; i++) {
		const char *name = nm.v[i];
		size_t nl = strlen(name);
		bool tmp = name[0] == '.' && nl > 4 && strcmp(name + nl - 4, ".tmp") == 0;
		bool kek = strncmp(name, "level-", 6) == 0 && nl > 4 &&
			   strcmp(name + nl - 4, ".kek") == 0;

		if (kek && ks_kek_owned(ks, name))
			continue;
		if ((tmp || kek) && ks->f.erase(ks->f.arg, name) == 0)
			scrubbed = true;
	}
	ks_names_free(&nm);
	if (rc == 0 && scrubbed && ks_sync(ks) != 0)
		rc = err_why(why, whylen, CS_EIO, "cannot sync the keystore after a scrub");
	return rc;
}

static int
ks_load_sys(struct keystore *ks, bool create, char *why, size_t whylen)
{
	uint8_t *sealed = NULL, *plain = NULL;
	size_t sl = 0, pl = 0, n = 4 + KEYSTORE_NSYSKEYS * KEYSTORE_KEY_LEN;
	int rc = keystore_read_file(ks, SYS_FILE, &sealed, &sl);

	if (rc == CS_ENOENT && create) {
		uint8_t *b = secmem_alloc(n);

		if (b == NULL)
			return CS_ENOMEM;
		memcpy(b, SYS_MAGIC, 4);
		if (RAND_bytes(b + 4, (int)(n - 4)) != 1) {
			secmem_free(b, n);
			return CS_ECRYPTO;
		}
		memcpy(ks->sys, b + 4, n - 4);
		rc = keystore_seal(ks, "system", b, n, &sealed, &sl);
		secmem_free(b, n);
		if (rc == 0)
			rc = ks->f.write(ks->f.arg, SYS_FILE, sealed, sl, true);
		free(sealed);
		/* Another front-end created it first: theirs it is. */
		if (rc == CS_EEXIST) {
			secmem_wipe(ks->sys, KEYSTORE_NSYSKEYS * KEYSTORE_KEY_LEN);
			return ks_load_sys(ks, false, why, whylen);
		}
		return rc != 0 ? err_why(why, whylen, rc, "cannot create %s", SYS_FILE) : 0;
	}
	if (rc != 0)
		return err_why(why, whylen, rc, "keystore file %s: %s", SYS_FILE, err_str(rc));
	rc = keystore_unseal(ks, "system", sealed, sl, &plain, &pl);
	free(sealed);
	if (rc != 0)
		return err_why(
			why, whylen, CS_EAUTH,
			"keystore file %s does not unseal under this root key (wrong root key?)",
			SYS_FILE);
	if (pl != n || memcmp(plain, SYS_MAGIC, 4) != 0)
		rc = err_why(why, whylen, CS_EAUTH, "keystore file %s is malformed", SYS_FILE);
	else
		memcpy(ks->sys, plain + 4, n - 4);
	secmem_wipe(plain, pl);
	free(plain);
	return rc;
}

/* ks_open: the keystore on ks->f (set by the caller), unsealed with root. */
static int
ks_open(struct keystore *ks, const uint8_t root[KEYSTORE_KEY_LEN], bool create, char *why,
	size_t whylen)
{
	static const char info[] = "cryptstore v1 keystore seal";
	static const char dinfo[] = "cryptstore v1 derivation base";
	int rc;

	if ((ks->seal_key = secmem_alloc(KEYSTORE_KEY_LEN)) == NULL ||
	    (ks->derive_key = secmem_alloc(KEYSTORE_KEY_LEN)) == NULL ||
	    (ks->sys = secmem_alloc(KEYSTORE_NSYSKEYS * KEYSTORE_KEY_LEN)) == NULL)
		return err_why(why, whylen, CS_ENOMEM, "out of secure memory");
	if ((rc = kdf_hkdf_sha256(ks->seal_key, KEYSTORE_KEY_LEN, root, KEYSTORE_KEY_LEN, NULL, 0,
				  (const uint8_t *)info, sizeof(info) - 1)) != 0 ||
	    (rc = kdf_hkdf_sha256(ks->derive_key, KEYSTORE_KEY_LEN, root, KEYSTORE_KEY_LEN, NULL, 0,
				  (const uint8_t *)dinfo, sizeof(dinfo) - 1)) != 0)
		return err_why(why, whylen, rc, "key derivation failed");
	if ((rc = ks_load_sys(ks, create, why, whylen)) != 0 ||
	    (rc = ks_load_levels(ks, why, whylen)) != 0)
		return rc;
	return 0;
}

int
keystore_open_root(struct keystore **out, const char *dir, const uint8_t root[KEYSTORE_KEY_LEN],
		   bool create, char *why, size_t whylen)
{
	static const struct keystore_files dir_files = {
		.read = ksd_read,
		.write = ksd_write,
		.erase = ksd_erase,
		.list = ksd_list,
		.sync = ksd_sync,
	};
	struct keystore *ks;
	int rc;

	*out = NULL;
	if ((rc = ks_mkdir(dir, create, why, whylen)) != 0)
		return rc;
	if ((ks = calloc(1, sizeof(*ks))) == NULL)
		return CS_ENOMEM;
	pthread_rwlock_init(&ks->lock, NULL);
	ks->f = dir_files;
	ks->f.arg = ks;
	if ((ks->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		rc = err_why(why, whylen, CS_EIO, "keystore %s: %s", dir, strerror(errno));
		goto err;
	}
	if ((rc = ks_open(ks, root, create, why, whylen)) != 0)
		goto err;
	*out = ks;
	return 0;
err:
	keystore_close(ks);
	return rc;
}

int
keystore_open_files(struct keystore **out, const struct keystore_files *files,
		    const uint8_t root[KEYSTORE_KEY_LEN], bool create, char *why, size_t whylen)
{
	struct keystore *ks;
	int rc;

	*out = NULL;
	if ((ks = calloc(1, sizeof(*ks))) == NULL) {
		if (files->close != NULL)
			files->close(files->arg);
		return err_why(why, whylen, CS_ENOMEM, "out of memory");
	}
	pthread_rwlock_init(&ks->lock, NULL);
	ks->dirfd = -1;
	ks->f = *files;
	if ((rc = ks_open(ks, root, create, why, whylen)) != 0) {
		keystore_close(ks);
		return rc;
	}
	*out = ks;
	return 0;
}

int
keystore_open(struct keystore **out, const char *dir, const char *root_key_path, bool create,
	      char *why, size_t whylen)
{
	uint8_t *root = secmem_alloc(KEYSTORE_KEY_LEN);
	int rc;

	*out = NULL;
	if (root == NULL)
		return err_why(why, whylen, CS_ENOMEM, "out of secure memory");
	if ((rc = ks_mkdir(dir, create, why, whylen)) == 0 &&
	    (rc = keystore_read_root(root_key_path, create, root, why, whylen)) == 0)
		rc = keystore_open_root(out, dir, root, create, why, whylen);
	secmem_free(root, KEYSTORE_KEY_LEN);
	return rc;
}

void
keystore_close(struct keystore *ks)
{
	if (ks == NULL)
		return;
	for (size_t i = 0; i < ks->nlevels; i++)
		level_free(&ks->levels[i]);
	free(ks->levels);
	secmem_free(ks->seal_key, KEYSTORE_KEY_LEN);
	secmem_free(ks->derive_key, KEYSTORE_KEY_LEN);
	secmem_free(ks->sys, KEYSTORE_NSYSKEYS * KEYSTORE_KEY_LEN);
	if (ks->f.close != NULL)
		ks->f.close(ks->f.arg);
	if (ks->dirfd >= 0)
		close(ks->dirfd);
	pthread_rwlock_destroy(&ks->lock);
	free(ks);
}

int
keystore_derive(struct keystore *ks, const char *info, uint8_t key[KEYSTORE_KEY_LEN])
{
	if (ks->restricted)
		return CS_EPERM;
	return kdf_hkdf_sha256(key, KEYSTORE_KEY_LEN, ks->derive_key, KEYSTORE_KEY_LEN, NULL, 0,
			       (const uint8_t *)info, strlen(info));
}

/* ---- levels -------------------------------------------------------------- */

static struct ks_level *
ks_find(struct keystore *ks, const char *id)
{
	for (size_t i = 0; i < ks->nlevels; i++)
		if (strcmp(ks->levels[i].id, id) == 0)
			return &ks->levels[i];
	return NULL;
}

static int ks_level_reload_locked(struct keystore *ks, const char *id);

/* ks_find_fresh: ks_find(), with shared files after re-reading the level
 * (another front-end may have changed it).  Takes the write lock's holder. */
static struct ks_level *
ks_find_fresh(struct keystore *ks, const char *id)
{
	if (ks->f.shared && ks_level_reload_locked(ks, id) == CS_ENOMEM)
		return NULL;
	return ks_find(ks, id);
}

static struct ks_version *
ks_active(struct ks_level *l)
{
	for (size_t i = l->nv; i-- > 0;)
		if (l->v[i].state == KEYSTORE_ACTIVE)
			return &l->v[i];
	return NULL;
}

/* ks_new_version: a fresh random key as version v, active, in *out. */
static int
ks_new_version(struct ks_version *out, uint32_t v)
{
	memset(out, 0, sizeof(*out));
	if ((out->key = secmem_alloc(KEYSTORE_KEY_LEN)) == NULL)
		return CS_ENOMEM;
	if (RAND_bytes(out->key, KEYSTORE_KEY_LEN) != 1) {
		secmem_free(out->key, KEYSTORE_KEY_LEN);
		out->key = NULL;
		return CS_ECRYPTO;
	}
	out->version = v;
	out->state = KEYSTORE_ACTIVE;
	out->created = out->changed = (uint64_t)time(NULL);
	return 0;
}

int
keystore_level_add(struct keystore *ks, const char *id)
{
	struct ks_level l, *nl;
	int rc;

	if (id == NULL || id[0] == '\0' || strlen(id) > ID_MAX)
		return CS_EINVAL;
	if (ks->restricted)
		return CS_EPERM;
	memset(&l, 0, sizeof(l));
	pthread_rwlock_wrlock(&ks->lock);
	if (ks_find_fresh(ks, id) != NULL) {
		rc = CS_EEXIST;
		goto out;
	}
	rc = CS_ENOMEM;
	if ((l.id = strdup(id)) == NULL || (l.v = calloc(1, sizeof(*l.v))) == NULL)
		goto fail;
	if ((rc = ks_new_version(&l.v[0], 1)) != 0)
		goto fail;
	l.nv = 1;
	/* Key file first: a crash before the .meta file leaves an orphan key
	 * file, which the next open scrubs. */
	if ((rc = kek_save(ks, l.id, &l.v[0])) != 0)
		goto fail;
	if ((rc = level_save_meta(ks, &l)) != 0) {
		kek_unsave(ks, l.id, 1);
		goto fail;
	}
	if ((nl = realloc(ks->levels, (ks->nlevels + 1) * sizeof(*nl))) == NULL) {
		rc = CS_ENOMEM;
		goto fail;
	}
	ks->levels = nl;
	ks->levels[ks->nlevels++] = l;
	rc = 0;
	goto out;
fail:
	level_free(&l);
out:
	pthread_rwlock_unlock(&ks->lock);
	return rc;
}

int
keystore_rotate(struct keystore *ks, const char *id, uint32_t *version)
{
	struct ks_version nv, *grown, *old;
	struct ks_level *l;
	uint8_t old_state = 0;
	int rc;

	if (ks->restricted)
		return CS_EPERM;
	pthread_rwlock_wrlock(&ks->lock);
	if ((l = ks_find_fresh(ks, id)) == NULL) {
		rc = CS_ENOENT;
		goto out;
	}
	if (l->v[l->nv - 1].version == UINT32_MAX) {
		rc = CS_ERANGE;
		goto out;
	}
	if ((rc = ks_new_version(&nv, l->v[l->nv - 1].version + 1)) != 0)
		goto out;
	if ((rc = kek_save(ks, id, &nv)) != 0) {
		secmem_free(nv.key, KEYSTORE_KEY_LEN);
		goto out;
	}
	if ((grown = realloc(l->v, (l->nv + 1) * sizeof(*grown))) == NULL) {
		secmem_free(nv.key, KEYSTORE_KEY_LEN);
		rc = CS_ENOMEM;
		goto out;
	}
	l->v = grown;
	if ((old = ks_active(l)) != NULL) {
		old_state = old->state;
		old->state = KEYSTORE_DECRYPT_ONLY;
		old->changed = nv.created;
	}
	l->v[l->nv++] = nv;
	if ((rc = level_save_meta(ks, l)) != 0) {
		/* Not committed: forget the new version (its file is an orphan
		 * that the next open scrubs) and restore the old state. */
		l->nv--;
		secmem_free(nv.key, KEYSTORE_KEY_LEN);
		if (old != NULL)
			old->state = old_state;
		kek_unsave(ks, id, nv.version);
		goto out;
	}
	*version = nv.version;
out:
	pthread_rwlock_unlock(&ks->lock);
	return rc;
}

/*
 * ks_destroy_versions: destroy the versions of l for which pick() is true:
 * first the durable decision (the .meta file says destroyed), then the key
 * files (overwrite, fsync, unlink) and the keys in memory.  If the files
 * cannot be scrubbed the decision stands and the next open retries.
 */
static int
ks_destroy_versions(struct keystore *ks, struct ks_level *l, uint32_t only, unsigned *count)
{
	char base[BASE_LEN + 1], name[NAME_SIZE], purpose[NAME_SIZE];
	uint8_t *saved = malloc(l->nv);
	uint64_t now = (uint64_t)time(NULL);
	unsigned n = 0;
	int rc = 0, src = 0;

	if (saved == NULL)
		return CS_ENOMEM;
	for (size_t i = 0; i < l->nv; i++) {
		saved[i] = l->v[i].state;
		if (l->v[i].state != KEYSTORE_DESTROYED && (only == 0 || l->v[i].version == only)) {
			l->v[i].state = KEYSTORE_DESTROYED;
			l->v[i].changed = now;
			n++;
		}
	}
	if (n > 0 && (rc = level_save_meta(ks, l)) != 0) {
		for (size_t i = 0; i < l->nv; i++)
			l->v[i].state = saved[i];
		free(saved);
		return rc;
	}
	level_base(l->id, base);
	for (size_t i = 0; i < l->nv; i++) {
		if (l->v[i].state != KEYSTORE_DESTROYED || saved[i] == KEYSTORE_DESTROYED)
			continue;
		secmem_free(l->v[i].key, KEYSTORE_KEY_LEN);
		l->v[i].key = NULL;
		kek_names(base, l->v[i].version, name, purpose);
		if ((rc = ks->f.erase(ks->f.arg, name)) != 0)
			src = rc;
	}
	free(saved);
	if (n > 0 && ks_sync(ks) != 0 && src == 0)
		src = CS_EIO;
	*count = n;
	return src;
}

int
keystore_destroy(struct keystore *ks, const char *id, uint32_t version)
{
	struct ks_level *l;
	unsigned n = 0;
	int rc = CS_ENOENT, state = 0;

	if (ks->restricted)
		return CS_EPERM;
	pthread_rwlock_wrlock(&ks->lock);
	if ((l = ks_find_fresh(ks, id)) != NULL)
		for (size_t i = 0; i < l->nv; i++)
			if (l->v[i].version == version)
				state = l->v[i].state;
	if (state == KEYSTORE_ACTIVE)
		rc = CS_EPERM;
	else if (state == KEYSTORE_DECRYPT_ONLY)
		rc = ks_destroy_versions(ks, l, version, &n);
	pthread_rwlock_unlock(&ks->lock);
	return rc;
}

int
keystore_shred(struct keystore *ks, const char *id, unsigned *nversions)
{
	struct ks_level *l;
	int rc = CS_ENOENT;

	*nversions = 0;
	if (ks->restricted)
		return CS_EPERM;
	pthread_rwlock_wrlock(&ks->lock);
	if ((l = ks_find_fresh(ks, id)) != NULL)
		rc = ks_destroy_versions(ks, l, 0, nversions);
	pthread_rwlock_unlock(&ks->lock);
	return rc;
}

/*
 * ks_level_reload_locked: keystore_level_reload() with the write lock held.
 * The new record's versions take the keys this process holds already;
 * versions the record says are destroyed lose theirs at once, before
 * anything else can fail.
 */
static int
ks_level_reload_locked(struct keystore *ks, const char *id)
{
	char base[BASE_LEN + 1], name[NAME_SIZE];
	struct ks_level l, *old = ks_find(ks, id), *grown;
	int rc;

	level_base(id, base);
	snprintf(name, sizeof(name), "%s.meta", base);
	if ((rc = ks_read_level(ks, name, &l, NULL, 0)) != 0)
		return rc;
	if (strcmp(l.id, id) != 0) {
		level_free(&l);
		return CS_EAUTH;
	}
	for (size_t i = 0; old != NULL && i < old->nv; i++)
		for (size_t j = 0; j < l.nv; j++) {
			if (l.v[j].version != old->v[i].version)
				continue;
			if (l.v[j].state == KEYSTORE_DESTROYED) {
				secmem_free(old->v[i].key, KEYSTORE_KEY_LEN);
				old->v[i].key = NULL;
				old->v[i].state = KEYSTORE_DESTROYED;
				old->v[i].changed = l.v[j].changed;
			}
		}
	if ((rc = level_load_keys(ks, &l, NULL, 0)) != 0) {
		level_free(&l);
		return rc;
	}
	/* Every live version of the new record has its key: the old keys it
	 * shares are the same bytes (sealed once, written once). */
	if (old != NULL) {
		level_free(old);
		*old = l;
		return 0;
	}
	if ((grown = realloc(ks->levels, (ks->nlevels + 1) * sizeof(*grown))) == NULL) {
		level_free(&l);
		return CS_ENOMEM;
	}
	ks->levels = grown;
	ks->levels[ks->nlevels++] = l;
	return 0;
}

int
keystore_level_reload(struct keystore *ks, const char *id)
{
	int rc;

	if (ks->restricted)
		return CS_EPERM;
	pthread_rwlock_wrlock(&ks->lock);
	rc = ks_level_reload_locked(ks, id);
	pthread_rwlock_unlock(&ks->lock);
	return rc;
}

int
keystore_versions(struct keystore *ks, const char *id,
		  void (*cb)(void *arg, const struct keystore_version *v), void *arg)
{
	struct ks_level *l;
	int rc = CS_ENOENT;

	pthread_rwlock_rdlock(&ks->lock);
	if ((l = ks_find(ks, id)) != NULL) {
		for (size_t i = 0; i < l->nv; i++) {
			struct keystore_version v = {
				.version = l->v[i].version,
				.state = l->v[i].state,
				.created = l->v[i].created,
				.changed = l->v[i].changed,
			};

			cb(arg, &v);
		}
		rc = 0;
	}
	pthread_rwlock_unlock(&ks->lock);
	return rc;
}

bool
keystore_level_exists(struct keystore *ks, const char *id)
{
	struct ks_level *l;
	bool yes;

	pthread_rwlock_rdlock(&ks->lock);
	l = ks_find(ks, id);
	yes = l != NULL && ks_active(l) != NULL;
	pthread_rwlock_unlock(&ks->lock);
	return yes;
}

static int
cmp_level(const void *a, const void *b)
{
	return strcmp((*(struct ks_level *const *)a)->id, (*(struct ks_level *const *)b)->id);
}

void
keystore_level_ids(struct keystore *ks, void (*cb)(void *arg, const char *id, uint32_t active),
		   void *arg)
{
	struct ks_level **v;

	pthread_rwlock_rdlock(&ks->lock);
	if ((v = calloc(ks->nlevels + 1, sizeof(*v))) != NULL) {
		for (size_t i = 0; i < ks->nlevels; i++)
			v[i] = &ks->levels[i];
		qsort(v, ks->nlevels, sizeof(*v), cmp_level);
		for (size_t i = 0; i < ks->nlevels; i++) {
			struct ks_version *a = ks_active(v[i]);

			cb(arg, v[i]->id, a != NULL ? a->version : 0);
		}
		free(v);
	}
	pthread_rwlock_unlock(&ks->lock);
}

int
keystore_active(struct keystore *ks, const char *id, uint32_t *version,
		uint8_t key[KEYSTORE_KEY_LEN])
{
	struct ks_level *l;
	struct ks_version *a;
	int rc = CS_ENOENT;

	pthread_rwlock_rdlock(&ks->lock);
	if ((l = ks_find(ks, id)) != NULL && (a = ks_active(l)) != NULL) {
		*version = a->version;
		memcpy(key, a->key, KEYSTORE_KEY_LEN);
		rc = 0;
	}
	pthread_rwlock_unlock(&ks->lock);
	return rc;
}

int
keystore_kek(void *arg, const char *id, uint32_t version, uint8_t key[KEYSTORE_KEY_LEN])
{
	struct keystore *ks = arg;
	struct ks_level *l;
	int rc = CS_ENOENT;

	pthread_rwlock_rdlock(&ks->lock);
	if ((l = ks_find(ks, id)) != NULL)
		for (size_t i = 0; i < l->nv; i++)
			if (l->v[i].version == version && l->v[i].key != NULL) {
				memcpy(key, l->v[i].key, KEYSTORE_KEY_LEN);
				rc = 0;
			}
	pthread_rwlock_unlock(&ks->lock);
	return rc;
}

int
keystore_kek_state(struct keystore *ks, const char *id, uint32_t version)
{
	struct ks_level *l;
	int state = 0;

	pthread_rwlock_rdlock(&ks->lock);
	if ((l = ks_find(ks, id)) != NULL)
		for (size_t i = 0; i < l->nv; i++)
			if (l->v[i].version == version)
				state = l->v[i].state;
	pthread_rwlock_unlock(&ks->lock);
	return state;
}

int
keystore_syskey(struct keystore *ks, enum keystore_syskey which, uint8_t key[KEYSTORE_KEY_LEN])
{
	if ((unsigned)which >= KEYSTORE_NSYSKEYS)
		return CS_EINVAL;
	if (ks->restricted && which != KEYSTORE_NAME_KEY)
		return CS_EPERM;
	pthread_rwlock_rdlock(&ks->lock);
	memcpy(key, ks->sys + (size_t)which * KEYSTORE_KEY_LEN, KEYSTORE_KEY_LEN);
	pthread_rwlock_unlock(&ks->lock);
	return 0;
}

/* ---- least privilege ----------------------------------------------------- */

int
keystore_restrict(struct keystore *ks, bool (*keep)(void *arg, const char *id), void *arg)
{
	size_t k = 0;

	pthread_rwlock_wrlock(&ks->lock);
	for (size_t i = 0; i < ks->nlevels; i++) {
		if (keep(arg, ks->levels[i].id))
			ks->levels[k++] = ks->levels[i];
		else
			level_free(&ks->levels[i]);
	}
	ks->nlevels = k;
	secmem_free(ks->seal_key, KEYSTORE_KEY_LEN);
	secmem_free(ks->derive_key, KEYSTORE_KEY_LEN);
	ks->seal_key = ks->derive_key = NULL;
	for (unsigned i = 0; i < KEYSTORE_NSYSKEYS; i++)
		if (i != KEYSTORE_NAME_KEY)
			secmem_wipe(ks->sys + (size_t)i * KEYSTORE_KEY_LEN, KEYSTORE_KEY_LEN);
	ks->restricted = true;
	pthread_rwlock_unlock(&ks->lock);
	return 0;
}
