/*
 * kekdump: print the key-encryption keys of one level, in hex, one line per
 * live version ("VERSION HEX"), for the key-lifecycle integration test,
 * which then looks for those bytes in the key directory and in the running
 * server's memory after a shred.
 *
 *   kekdump KEYS_DIR ROOT_KEY_FILE LEVEL
 *
 * A test tool, not an operator's one: it opens the keystore like the server
 * does (so run it only while no key is being changed).
 */
#include "keystore/keystore.h"
#include "util/hex.h"
#include "util/secmem.h"

#include <stdio.h>

struct dump {
	struct keystore *ks;
	const char *level;
	int n;
};

static void
one(void *arg, const struct keystore_version *v)
{
	struct dump *d = arg;
	uint8_t key[KEYSTORE_KEY_LEN];
	char hx[2 * KEYSTORE_KEY_LEN + 1];

	if (keystore_kek(d->ks, d->level, v->version, key) != 0)
		return;
	hex_encode(hx, key, sizeof(key));
	secmem_wipe(key, sizeof(key));
	printf("%u %s\n", (unsigned)v->version, hx);
	d->n++;
}

int
main(int argc, char **argv)
{
	char why[512] = "";
	struct dump d = {0};

	if (argc != 4) {
		fprintf(stderr, "usage: kekdump KEYS_DIR ROOT_KEY_FILE LEVEL\n");
		return 2;
	}
	if (secmem_init(SECMEM_DEFAULT_HEAP) < 0 ||
	    keystore_open(&d.ks, argv[1], argv[2], false, why, sizeof(why)) != 0) {
		fprintf(stderr, "kekdump: %s\n", why);
		return 1;
	}
	d.level = argv[3];
	if (keystore_versions(d.ks, argv[3], one, &d) != 0)
		fprintf(stderr, "kekdump: no level %s\n", argv[3]);
	keystore_close(d.ks);
	return d.n > 0 ? 0 : 1;
}
