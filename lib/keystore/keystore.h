/*
 * keystore: the server's keys.  A root key (a file on its own path, ideally
 * on another device than the data) seals everything else at rest:
 *   - per-level key-encryption keys (KEKs), versioned, one file per level;
 *   - system keys (the object-name key, the catalogue key);
 *   - any other secret record the server seals with keystore_seal()
 *     (identities and access keys).
 * Sealing is AES-256-GCM under a key derived from the root key with
 * HKDF-SHA-256, with the record's purpose as AAD, so a sealed file cannot be
 * moved to another purpose or level.
 *
 * Files are created O_CREAT|O_EXCL|O_NOFOLLOW with mode 0600 in a 0700
 * directory; opening refuses files or directories readable or writable by
 * group or others, or owned by another user, with a message saying how to
 * fix them.  Every key in memory is in secure memory (secmem).
 *
 * KEK states follow NIST SP 800-57: active (seals new objects),
 * decrypt-only (opens old objects), destroyed (gone; only a tombstone of
 * version and times remains).  The level's id is its canonical label text.
 *
 * Thread safety: all functions may be called from any thread.
 */
#ifndef CS_KEYSTORE_H
#define CS_KEYSTORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KEYSTORE_KEY_LEN 32

enum keystore_state {
	KEYSTORE_ACTIVE = 1,
	KEYSTORE_DECRYPT_ONLY = 2,
	KEYSTORE_DESTROYED = 3,
};

enum keystore_syskey {
	KEYSTORE_NAME_KEY = 0,    /* keyed hash of object names -> store keys */
	KEYSTORE_CATALOG_KEY = 1, /* seals the bucket catalogue and server records */
	KEYSTORE_NSYSKEYS = 2,
};

struct keystore;

/*
 * Where the keystore's files live.  By default a directory (keystore_open,
 * keystore_open_root); keystore_open_files() takes any other home, such as
 * the omap of one RADOS object that several front-ends share
 * (keystore_rados_files()).  Every function returns 0 or a CS_ error.
 */
struct keystore_files {
	void *arg;
	/* read: the whole file, at most max bytes, malloc'ed with a NUL after
	 * it; CS_ENOENT, CS_ERANGE (larger), CS_EPERM, CS_EIO. */
	int (*read)(void *arg, const char *name, size_t max, uint8_t **out, size_t *outlen);
	/* write: atomically and durably replace name; with excl, CS_EEXIST
	 * if it exists (and nothing is written). */
	int (*write)(void *arg, const char *name, const uint8_t *data, size_t n, bool excl);
	/* erase: destroy name's bytes as far as the medium allows, then name;
	 * a missing name is not an error. */
	int (*erase)(void *arg, const char *name);
	/* list: cb(cbarg, name) for every file; stops at cb's non-zero. */
	int (*list)(void *arg, int (*cb)(void *cbarg, const char *name), void *cbarg);
	/* sync: make erasures durable; NULL if they are at once. */
	int (*sync)(void *arg);
	/* close: release arg when the keystore closes; NULL: nothing to do. */
	void (*close)(void *arg);
	/* shared: other processes change these files too (several front-ends):
	 * files of key versions newer than the level's record are another
	 * writer's work in progress, not orphans to scrub, and a level is
	 * re-read before it is changed. */
	bool shared;
};

/*
 * keystore_rados_files(out, ioctx, oid): the keystore's files as the omap
 * of the RADOS object oid (created on first write) in the pool and
 * namespace of ioctx (a rados_ioctx_t that the caller keeps open until the
 * keystore is closed).  Erasing removes the omap key: the cluster no
 * longer serves it, but an OSD's database may keep the old value on disk
 * until compaction reuses the space (docs/SECURITY.md: the root key is
 * what protects such leftovers).  Returns 0, CS_ENOMEM, or CS_ENOTSUP
 * without librados.
 */
int keystore_rados_files(struct keystore_files *out, void *ioctx, const char *oid)
	__attribute__((warn_unused_result));

/*
 * keystore_open_files(out, files, root, create, why, whylen):
 * keystore_open_root() on files instead of a directory.  The keystore owns
 * files->arg from the call on (files->close releases it, also on failure).
 */
int keystore_open_files(struct keystore **out, const struct keystore_files *files,
			const uint8_t root[KEYSTORE_KEY_LEN], bool create, char *why, size_t whylen)
	__attribute__((warn_unused_result));

/*
 * keystore_level_reload(ks, id): re-read level id from the keystore's files
 * after another front-end changed it: keys of new versions are loaded, keys
 * of versions now destroyed are wiped from memory (also when the rest of
 * the reload fails), a level not known yet is added.  CS_ENOENT if the
 * files hold no such level.
 */
int keystore_level_reload(struct keystore *ks, const char *id) __attribute__((warn_unused_result));

/*
 * keystore_open(out, dir, root_key_path, create, why, whylen): open the
 * keystore in dir with the root key file.  With create, a missing root key
 * file and directory are created (random keys from the OS CSPRNG).
 * Returns 0, or CS_EPERM (permissions: why says how to fix), CS_ENOENT
 * (missing and !create), CS_EAUTH (a file does not unseal under this root
 * key), CS_EIO; why holds a message for people on every failure.
 */
int keystore_open(struct keystore **out, const char *dir, const char *root_key_path, bool create,
		  char *why, size_t whylen) __attribute__((warn_unused_result));

/*
 * keystore_read_root(path, create, key, why, whylen): read the 32-byte root
 * key file (which must be ours and 0600); with create, make a missing one
 * from the OS CSPRNG.  Run before dropping privileges, so that the root key
 * file can stay unreadable to the server's unprivileged user.
 */
int keystore_read_root(const char *path, bool create, uint8_t key[KEYSTORE_KEY_LEN], char *why,
		       size_t whylen) __attribute__((warn_unused_result));

/*
 * keystore_passphrase_root(dir, pass, passlen, logn, create, key, why,
 * whylen): derive the root key from a passphrase with scrypt (memory-hard;
 * N = 2^logn, r = 8, p = 1: 2^17 needs 128 MiB and about half a second).
 * The salt and parameters are in dir/root.scrypt, made on first use with
 * create (logn is used only then).  A wrong passphrase shows as CS_EAUTH
 * from keystore_open_root().
 */
int keystore_passphrase_root(const char *dir, const char *pass, size_t passlen, unsigned logn,
			     bool create, uint8_t key[KEYSTORE_KEY_LEN], char *why, size_t whylen)
	__attribute__((warn_unused_result));

/* keystore_open_root(): keystore_open() with the root key itself. */
int keystore_open_root(struct keystore **out, const char *dir, const uint8_t root[KEYSTORE_KEY_LEN],
		       bool create, char *why, size_t whylen) __attribute__((warn_unused_result));

/* keystore_close(ks): wipe every key and release ks; NULL is a no-op. */
void keystore_close(struct keystore *ks);

/*
 * keystore_level_add(ks, id): create the level id (a canonical label) with
 * KEK version 1 active, durably.  CS_EEXIST if it exists.
 */
int keystore_level_add(struct keystore *ks, const char *id) __attribute__((warn_unused_result));

/*
 * keystore_rotate(ks, id, version): a new random KEK version becomes active;
 * the previously active one becomes decrypt-only.  Also revives a shredded
 * level (every version destroyed) with a fresh key.  CS_ENOENT if no level.
 */
int keystore_rotate(struct keystore *ks, const char *id, uint32_t *version)
	__attribute__((warn_unused_result));

/*
 * keystore_destroy(ks, id, version): destroy one decrypt-only version:
 * durably mark it destroyed, overwrite its key file with random bytes,
 * fsync, unlink, and wipe the key from memory.  CS_EPERM for the active
 * version, CS_ENOENT if there is no such live version.  The caller makes
 * sure no object still needs it (rewrap first).
 */
int keystore_destroy(struct keystore *ks, const char *id, uint32_t version)
	__attribute__((warn_unused_result));

/*
 * keystore_shred(ks, id, nversions): cryptographic erase of a level: every
 * version destroyed as in keystore_destroy(); the .meta file remains as the
 * tombstone (ids, versions, times).  *nversions counts the versions
 * destroyed now.  When it returns, no key of the level is in this process's
 * memory or in a file of the keystore.  CS_ENOENT if no level; CS_EIO if a
 * key file could not be scrubbed (the destruction stands; the next open
 * retries the scrub).
 */
int keystore_shred(struct keystore *ks, const char *id, unsigned *nversions)
	__attribute__((warn_unused_result));

/* What keystore_versions() reports of each version, oldest first. */
struct keystore_version {
	uint32_t version;
	int state;                 /* enum keystore_state */
	uint64_t created, changed; /* seconds since the epoch */
};

/* keystore_versions(ks, id, cb, arg): CS_ENOENT if there is no such level. */
int keystore_versions(struct keystore *ks, const char *id,
		      void (*cb)(void *arg, const struct keystore_version *v), void *arg);

/*
 * keystore_derive(ks, info, key): a 32-byte key for a purpose named by info
 * (e.g. the audit log's chain key), derived from the root key with HKDF.
 */
int keystore_derive(struct keystore *ks, const char *info, uint8_t key[KEYSTORE_KEY_LEN])
	__attribute__((warn_unused_result));

/* keystore_level_exists(ks, id): true if the level has an active KEK. */
bool keystore_level_exists(struct keystore *ks, const char *id);

/*
 * keystore_level_ids(ks, cb, arg): call cb(arg, id, active_version) for
 * every level, in id order.
 */
void keystore_level_ids(struct keystore *ks, void (*cb)(void *arg, const char *id, uint32_t active),
			void *arg);

/* keystore_active(ks, id, version, key): the level's active KEK. */
int keystore_active(struct keystore *ks, const char *id, uint32_t *version,
		    uint8_t key[KEYSTORE_KEY_LEN]) __attribute__((warn_unused_result));

/*
 * keystore_kek(ks, id, version, key): KEK (id, version) if it is active or
 * decrypt-only; CS_ENOENT if it never existed or was destroyed.  The
 * signature fits format_kek_fn with ks as the argument.
 */
int keystore_kek(void *ks, const char *id, uint32_t version, uint8_t key[KEYSTORE_KEY_LEN]);

/* keystore_kek_state(ks, id, version): its state, or 0 if unknown. */
int keystore_kek_state(struct keystore *ks, const char *id, uint32_t version);

/* keystore_syskey(ks, which, key): copy a system key. */
int keystore_syskey(struct keystore *ks, enum keystore_syskey which, uint8_t key[KEYSTORE_KEY_LEN])
	__attribute__((warn_unused_result));

/*
 * keystore_seal(ks, purpose, in, n, out, outlen): seal n bytes for purpose
 * (a short ASCII name bound as AAD).  *out is malloc'ed; free() it.
 * keystore_unseal(): the reverse; CS_EAUTH if anything does not verify.
 * The unsealed buffer is plain malloc memory of *outlen + 1 bytes (NUL
 * terminated); the caller wipes it (secmem_wipe) before freeing when it
 * holds secrets.
 */
int keystore_seal(struct keystore *ks, const char *purpose, const uint8_t *in, size_t n,
		  uint8_t **out, size_t *outlen) __attribute__((warn_unused_result));
int keystore_unseal(struct keystore *ks, const char *purpose, const uint8_t *in, size_t n,
		    uint8_t **out, size_t *outlen) __attribute__((warn_unused_result));

/*
 * keystore_write_file(ks, name, data, n) and keystore_read_file(ks, name,
 * out, outlen): atomically write (temp, fsync, rename, directory fsync) or
 * read a file of the keystore directory (0600).  Reading refuses loose
 * permissions.  Used for sealed records kept beside the keys.
 */
int keystore_write_file(struct keystore *ks, const char *name, const uint8_t *data, size_t n)
	__attribute__((warn_unused_result));
int keystore_read_file(struct keystore *ks, const char *name, uint8_t **out, size_t *outlen)
	__attribute__((warn_unused_result));

/*
 * keystore_restrict(ks, keep, arg): least privilege for a process that
 * serves one session (server model = process).  Every level for which
 * keep(arg, id) is false is wiped from memory and forgotten; so are the
 * sealing and derivation keys (the root key's stand-ins) and every system
 * key but the object-name key.  Afterwards the keystore opens and seals
 * objects of the kept levels only; keystore_seal/unseal/derive, the file
 * functions and every key change fail with CS_EPERM.  Irreversible; call
 * it while no other thread uses ks.
 */
int keystore_restrict(struct keystore *ks, bool (*keep)(void *arg, const char *id), void *arg)
	__attribute__((warn_unused_result));

#endif /* CS_KEYSTORE_H */
