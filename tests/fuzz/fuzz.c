/*
 * fuzz: shared helpers of the fuzz targets (see fuzz.h).
 */
#include "fuzz.h"
#include "util/secmem.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

void
fuzz_fail(const char *file, int line, const char *what)
{
	fprintf(stderr, "%s:%d: FUZZ_CHECK failed: %s\n", file, line, what);
	abort();
}

/* ---- the input cursor ---------------------------------------------------------------------- */

static uint64_t
take_be(struct fuzz_in *in, size_t n)
{
	uint64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		v <<= 8;
		if (in->n > 0) {
			v |= in->p[0];
			in->p++;
			in->n--;
		}
	}
	return v;
}

uint8_t
fuzz_take_u8(struct fuzz_in *in)
{
	return (uint8_t)take_be(in, 1);
}

uint16_t
fuzz_take_u16(struct fuzz_in *in)
{
	return (uint16_t)take_be(in, 2);
}

uint32_t
fuzz_take_u32(struct fuzz_in *in)
{
	return (uint32_t)take_be(in, 4);
}

uint64_t
fuzz_take_u64(struct fuzz_in *in)
{
	return take_be(in, 8);
}

const uint8_t *
fuzz_take(struct fuzz_in *in, size_t n, size_t *len)
{
	const uint8_t *p = in->p;

	if (n > in->n)
		n = in->n;
	in->p += n;
	in->n -= n;
	*len = n;
	return p;
}

const uint8_t *
fuzz_take_rec(struct fuzz_in *in, size_t *len)
{
	if (in->n == 0) {
		*len = 0;
		return NULL;
	}
	return fuzz_take(in, fuzz_take_u16(in), len);
}

/* ---- deterministic randomness -------------------------------------------------------------- */

static uint64_t rand_state = 0x6372797074737472u; /* "cryptstr" */

uint64_t
fuzz_splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15u);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
	return z ^ (z >> 31);
}

void
fuzz_rand_reset(uint64_t seed)
{
	rand_state = seed;
}

/*
 * RAND_bytes: this definition in the executable takes the place of
 * libcrypto's for the library code linked into it, so that every "random"
 * key, nonce, IV and file name is a function of the input.  Never link this
 * into anything but a fuzz target.
 */
int
RAND_bytes(unsigned char *buf, int num)
{
	for (int i = 0; i < num; i++)
		buf[i] = (unsigned char)(fuzz_splitmix(&rand_state) >> 56);
	return 1;
}

/* ---- scratch directories ------------------------------------------------------------------- */

static char scratch_root[256];

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag == FTW_DP || flag == FTW_D)
		return rmdir(path) == 0 || errno == ENOENT ? 0 : -1;
	return unlink(path) == 0 || errno == ENOENT ? 0 : -1;
}

void
fuzz_rmtree(const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return;
	(void)nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void
scratch_cleanup(void)
{
	if (scratch_root[0] != '\0')
		fuzz_rmtree(scratch_root);
}

static void
scratch_init(void)
{
	const char *base = getenv("FUZZ_TMPDIR");
	struct stat st;

	if (scratch_root[0] != '\0')
		return;
	if (base == NULL && stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
	    access("/dev/shm", W_OK) == 0)
		base = "/dev/shm";
	if (base == NULL)
		base = getenv("TMPDIR");
	if (base == NULL)
		base = "/tmp";
	snprintf(scratch_root, sizeof(scratch_root), "%s/cryptstore-fuzz.XXXXXX", base);
	if (mkdtemp(scratch_root) == NULL) {
		perror(scratch_root);
		abort();
	}
	atexit(scratch_cleanup);
}

void
fuzz_scratch(const char *tag, char *out, size_t outsz)
{
	scratch_init();
	snprintf(out, outsz, "%s/%s", scratch_root, tag);
	fuzz_rmtree(out);
	if (mkdir(out, 0700) != 0) {
		perror(out);
		abort();
	}
}

void
fuzz_write(const char *dir, const char *name, const void *data, size_t n, unsigned mode)
{
	char path[512];
	const uint8_t *p = data;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, (mode_t)mode);
	if (fd < 0) {
		perror(path);
		abort();
	}
	while (n > 0) {
		ssize_t k = write(fd, p, n);

		if (k <= 0) {
			perror(path);
			abort();
		}
		p += k;
		n -= (size_t)k;
	}
	close(fd);
}

/* ---- the secure heap ----------------------------------------------------------------------- */

static size_t secmem_mark;

/*
 * secure_used: secmem_used(), which must not be called before the secure heap
 * exists: OpenSSL 3.0's CRYPTO_secure_used() then takes a lock that is not
 * there yet (a NULL dereference).
 */
static size_t
secure_used(void)
{
	return CRYPTO_secure_malloc_initialized() ? secmem_used() : 0;
}

void
fuzz_secmem_mark(void)
{
	secmem_mark = secure_used();
}

void
fuzz_secmem_check(void)
{
	size_t used = secure_used();

	if (used > secmem_mark) {
		fprintf(stderr, "secure heap leak: %zu bytes in use, %zu at the mark\n", used,
			secmem_mark);
		abort();
	}
}
