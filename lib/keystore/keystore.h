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
 * keystore_open(out, dir, root_key_path, create, why, whylen): open the
 * keystore in dir with the root key file.  With create, a missing root key
 * file and directory are created (random keys from the OS CSPRNG).
 * Returns 0, or CS_EPERM (permissions: why says how to fix), CS_ENOENT
 * (missing and !create), CS_EAUTH (a file does not unseal under this root
 * key), CS_EIO; why holds a message for people on every failure.
 */
int keystore_open(struct keystore **out, const char *dir, const char *root_key_path, bool create,
		  char *why, size_t whylen) __attribute__((warn_unused_result));

/* keystore_close(ks): wipe every key and release ks; NULL is a no-op. */
void keystore_close(struct keystore *ks);

/*
 * keystore_level_add(ks, id): create the level id (a canonical label) with
 * KEK version 1 active, durably.  CS_EEXIST if it exists.
 */
int keystore_level_add(struct keystore *ks, const char *id) __attribute__((warn_unused_result));

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

#endif /* CS_KEYSTORE_H */
