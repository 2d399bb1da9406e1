/*
 * fuzz: what every libFuzzer target in tests/fuzz shares.
 *
 * Each target is one fuzz_<name>.c holding LLVMFuzzerTestOneInput() (and
 * maybe LLVMFuzzerInitialize()), linked against the real library built from
 * the project's own source lists with coverage instrumentation.  This module
 * gives them:
 *   - a cursor for taking structure out of the input (fuzz_take_*), which
 *     never fails: past the end it yields zeros and empty spans, so every
 *     input means something;
 *   - FUZZ_CHECK(): an invariant of the code under test; a violation aborts,
 *     which libFuzzer reports as a crash with the input saved;
 *   - determinism: RAND_bytes() is replaced by a seeded generator that each
 *     target resets per input (fuzz_rand_reset), so keys, nonces, IVs and
 *     temporary file names, and with them every code path, depend on the
 *     input alone;
 *   - scratch directories on tmpfs when there is one (the keystore and the
 *     audit log fsync every write);
 *   - a check that the secure heap, which LeakSanitizer cannot see, is back
 *     where it was after every input.
 */
#ifndef CS_FUZZ_H
#define CS_FUZZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The libFuzzer entry points (declared here for -Wmissing-prototypes). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* FUZZ_CHECK(cond): abort with the location if cond does not hold. */
#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond))                                                                       \
			fuzz_fail(__FILE__, __LINE__, #cond);                                      \
	} while (0)

/* fuzz_fail(file, line, what): print what failed and abort(). */
_Noreturn void fuzz_fail(const char *file, int line, const char *what);

/* A read position in the fuzz input. */
struct fuzz_in {
	const uint8_t *p;
	size_t n;
};

/* fuzz_take_u8/u16/u32/u64(in): the next big-endian integer, zero-filled past the end. */
uint8_t fuzz_take_u8(struct fuzz_in *in);
uint16_t fuzz_take_u16(struct fuzz_in *in);
uint32_t fuzz_take_u32(struct fuzz_in *in);
uint64_t fuzz_take_u64(struct fuzz_in *in);

/* fuzz_take(in, n, len): up to n bytes (fewer at the end); *len gets how many. */
const uint8_t *fuzz_take(struct fuzz_in *in, size_t n, size_t *len);

/*
 * fuzz_take_rec(in, len): a length-prefixed record: a u16 length, then that
 * many bytes (fewer at the end).  NULL when the input is exhausted.
 */
const uint8_t *fuzz_take_rec(struct fuzz_in *in, size_t *len);

/* fuzz_rand_reset(seed): restart the RAND_bytes() stream. */
void fuzz_rand_reset(uint64_t seed);

/* fuzz_splitmix(s): the next value of a SplitMix64 sequence (for split points). */
uint64_t fuzz_splitmix(uint64_t *s);

/*
 * fuzz_scratch(tag, out, outsz): a fresh, empty directory (mode 0700) for one
 * input, named after tag, under the process's scratch root.  Remove it with
 * fuzz_rmtree().  Aborts if it cannot be made.
 */
void fuzz_scratch(const char *tag, char *out, size_t outsz);

/* fuzz_rmtree(path): remove a directory tree; a missing one is fine. */
void fuzz_rmtree(const char *path);

/*
 * fuzz_write(dir, name, data, n, mode): create dir/name holding data (O_EXCL
 * is not used: a record may replace a file).  Aborts on failure.
 */
void fuzz_write(const char *dir, const char *name, const void *data, size_t n, unsigned mode);

/* fuzz_secmem_mark(): remember how much secure memory is in use now. */
void fuzz_secmem_mark(void);

/* fuzz_secmem_check(): abort if more secure memory is in use than at the mark. */
void fuzz_secmem_check(void);

#endif /* CS_FUZZ_H */
