/*
 * paper_aestest: the original paper's aestest-user experiment, re-run.
 *
 * The paper filled a 1 KiB buffer with random data and encrypted and
 * decrypted it 1,000,000 times with AES-256-CBC and a random key, once in a
 * user process and once in a kernel module (bench/paper/kmod), with the same
 * consolidated C AES in both.  This program is the user-space half, over
 * several implementations of the same loop:
 *
 *   portable     aes_portable.c, the table-based C AES that the kernel module
 *                also runs (the paper's own subject);
 *   evp          OpenSSL EVP aes-256-cbc (AES-NI where the CPU has it);
 *   mb-cbc       intel-ipsec-mb's job API, cipher only (AES-256-CBC, no MAC),
 *                one buffer per flush: the multi-buffer code given a single
 *                stream, so most lanes are empty;
 *   mb-cbc-x16   the same with 16 independent 1 KiB buffers per submission,
 *                where multi-buffer applies (same total bytes);
 *   engine-evp, engine-mb, engine-mb-x16
 *                the project's lib/crypto engine sealing and opening 1 KiB
 *                records of suite aes-256-cbc-hmac-sha256: the cipher plus
 *                the HMAC-SHA-256 and random IV the store always adds, so
 *                these are NOT the paper's cipher-only loop; they show what
 *                the same buffer costs on the path cryptstore really uses.
 *
 * Every implementation runs one CBC stream per buffer (the chaining value
 * carries over from call to call, as the kernel's skcipher API does with
 * req->iv), keys are expanded once outside the timed loop, and after the
 * loop the buffer must equal the original plaintext or the run fails.
 * Throughput counts the bytes encrypted plus the bytes decrypted (2 x size x
 * count), comparable with `openssl speed`, which counts one direction.
 *
 * Runs interleave the implementations (run 1 of each, then run 2 of each,
 * ...) after one warm-up pass of each, so a noisy neighbour hurts all of
 * them alike; the median is printed.  The mb-* rows need PAPER_WITH_MB
 * (intel-ipsec-mb) and the engine-* rows PAPER_WITH_ENGINE (the project's
 * lib/crypto); the static build for the VM may lack either, and the output
 * says which rows were compiled out.
 */
#include "aes_portable.h"

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#ifdef PAPER_WITH_MB
#include <intel-ipsec-mb.h>
#endif
#ifdef PAPER_WITH_ENGINE
#include "crypto/engine.h"
#include "crypto/suite.h"
#endif

#define MAX_RUNS  31
#define MAX_SIZE  65536
#define MAX_BATCH 16

static long opt_count = 1000000;
static size_t opt_size = 1024;
static int opt_runs = 3;
static long opt_warmup = -1; /* -1: count / 10 + 16 */
static bool opt_machine;
static const char *opt_only;
static const char *opt_marks;

static uint8_t key[32], iv0[16], mackey[32];
static uint8_t *plain; /* MAX_BATCH x opt_size random bytes */

/* A timed loop: 0 and the seconds and bytes it took, or -1 (message printed). */
struct result {
	double seconds;     /* wall clock */
	double cpu_seconds; /* this thread's CPU time: excludes waiting for a CPU */
	double bytes;
};

/* A start time on both clocks. */
struct stamp {
	double wall, cpu;
};

struct impl {
	const char *id;
	const char *label;
	int (*run)(long count, struct result *res);
};

static double
clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
stamp_start(struct stamp *t0)
{
	t0->wall = clock_s(CLOCK_MONOTONIC);
	t0->cpu = clock_s(CLOCK_THREAD_CPUTIME_ID);
}

/* stamp_stop: the wall and CPU seconds since t0, into res. */
static void
stamp_stop(const struct stamp *t0, struct result *res)
{
	res->cpu_seconds = clock_s(CLOCK_THREAD_CPUTIME_ID) - t0->cpu;
	res->seconds = clock_s(CLOCK_MONOTONIC) - t0->wall;
}

static uint8_t *
buf_new(size_t n)
{
	uint8_t *p = aligned_alloc(64, (n + 63) / 64 * 64);

	if (p == NULL)
		fprintf(stderr, "paper_aestest: out of memory\n");
	return p;
}

/* check_plain: buf must have come back to the plaintext want. */
static int
check_plain(const char *id, const uint8_t *buf, const uint8_t *want, size_t n)
{
	if (memcmp(buf, want, n) != 0) {
		fprintf(stderr, "paper_aestest: %s: decrypt(encrypt(x)) != x\n", id);
		return -1;
	}
	return 0;
}

static int
run_portable(long count, struct result *res)
{
	struct aes_portable_key ek, dk;
	uint8_t ive[16], ivd[16], *buf;
	struct stamp t0;
	int rc = 0;

	if ((buf = buf_new(opt_size)) == NULL)
		return -1;
	memcpy(buf, plain, opt_size);
	memcpy(ive, iv0, 16);
	memcpy(ivd, iv0, 16);
	if (aes_portable_set_encrypt_key(&ek, key, 256) != 0 ||
	    aes_portable_set_decrypt_key(&dk, key, 256) != 0) {
		free(buf);
		return -1;
	}
	stamp_start(&t0);
	for (long i = 0; i < count; i++) {
		rc |= aes_portable_cbc_encrypt(&ek, ive, buf, buf, opt_size);
		rc |= aes_portable_cbc_decrypt(&dk, ivd, buf, buf, opt_size);
	}
	stamp_stop(&t0, res);
	res->bytes = 2.0 * (double)opt_size * (double)count;
	if (rc != 0 || check_plain("portable", buf, plain, opt_size) != 0)
		rc = -1;
	free(buf);
	return rc;
}

static int
run_evp(long count, struct result *res)
{
	EVP_CIPHER_CTX *enc = EVP_CIPHER_CTX_new(), *dec = EVP_CIPHER_CTX_new();
	uint8_t *buf = buf_new(opt_size);
	int ok = 1, n;
	struct stamp t0;

	if (enc == NULL || dec == NULL || buf == NULL ||
	    EVP_EncryptInit_ex(enc, EVP_aes_256_cbc(), NULL, key, iv0) != 1 ||
	    EVP_DecryptInit_ex(dec, EVP_aes_256_cbc(), NULL, key, iv0) != 1 ||
	    EVP_CIPHER_CTX_set_padding(enc, 0) != 1 || EVP_CIPHER_CTX_set_padding(dec, 0) != 1) {
		ok = 0;
		goto out;
	}
	memcpy(buf, plain, opt_size);
	/* Without padding, Update on whole blocks continues one CBC stream. */
	stamp_start(&t0);
	for (long i = 0; i < count; i++) {
		ok &= EVP_EncryptUpdate(enc, buf, &n, buf, (int)opt_size);
		ok &= EVP_DecryptUpdate(dec, buf, &n, buf, (int)opt_size);
	}
	stamp_stop(&t0, res);
	res->bytes = 2.0 * (double)opt_size * (double)count;
	if (ok == 1 && check_plain("evp", buf, plain, opt_size) != 0)
		ok = 0;
out:
	free(buf);
	EVP_CIPHER_CTX_free(enc);
	EVP_CIPHER_CTX_free(dec);
	return ok == 1 ? 0 : -1;
}

#ifdef PAPER_WITH_MB
/* mb_pass: submit one cipher-only CBC job per buffer, then flush all. */
static int
mb_pass(IMB_MGR *mgr, uint8_t *buf, size_t batch, const uint8_t *ks, uint8_t ivs[][16], bool enc)
{
	IMB_JOB *j;
	int bad = 0;

	for (size_t b = 0; b < batch; b++) {
		j = IMB_GET_NEXT_JOB(mgr);
		memset(j, 0, sizeof(*j));
		j->cipher_mode = IMB_CIPHER_CBC;
		j->cipher_direction = enc ? IMB_DIR_ENCRYPT : IMB_DIR_DECRYPT;
		j->chain_order = enc ? IMB_ORDER_CIPHER_HASH : IMB_ORDER_HASH_CIPHER;
		j->hash_alg = IMB_AUTH_NULL;
		j->src = buf + b * opt_size;
		j->dst = buf + b * opt_size;
		j->msg_len_to_cipher_in_bytes = opt_size;
		j->iv = ivs[b];
		j->iv_len_in_bytes = 16;
		j->enc_keys = ks;
		j->dec_keys = ks;
		j->key_len_in_bytes = 32;
		for (j = IMB_SUBMIT_JOB(mgr); j != NULL; j = IMB_GET_COMPLETED_JOB(mgr))
			bad |= j->status != IMB_STATUS_COMPLETED;
	}
	while ((j = IMB_FLUSH_JOB(mgr)) != NULL)
		bad |= j->status != IMB_STATUS_COMPLETED;
	return bad ? -1 : 0;
}

/*
 * run_mb: ipsec-mb does not hand back the chaining value, so each buffer's
 * stream continues from its last ciphertext block, saved before decrypting
 * in place (the same dependency chain as the other implementations).
 */
static int
run_mb(size_t batch, long count, struct result *res)
{
	static uint8_t ks_enc[16 * 15] __attribute__((aligned(64)));
	static uint8_t ks_dec[16 * 15] __attribute__((aligned(64)));
	uint8_t ive[MAX_BATCH][16], ivd[MAX_BATCH][16], *buf;
	IMB_ARCH arch = IMB_ARCH_NONE;
	IMB_MGR *mgr = alloc_mb_mgr(0);
	long iters = count >= (long)batch ? count / (long)batch : 1; /* at least one batch */
	struct stamp t0;
	int rc = 0;

	if (mgr == NULL || (buf = buf_new(batch * opt_size)) == NULL) {
		free_mb_mgr(mgr);
		return -1;
	}
	init_mb_mgr_auto(mgr, &arch);
	if (imb_get_errno(mgr) != 0 || (mgr->features & IMB_FEATURE_AESNI) == 0) {
		fprintf(stderr, "paper_aestest: ipsec-mb has no AES-NI manager here\n");
		free(buf);
		free_mb_mgr(mgr);
		return -1;
	}
	IMB_AES_KEYEXP_256(mgr, key, ks_enc, ks_dec);
	memcpy(buf, plain, batch * opt_size);
	for (size_t b = 0; b < batch; b++) {
		memcpy(ive[b], iv0, 16);
		memcpy(ivd[b], iv0, 16);
	}
	stamp_start(&t0);
	for (long i = 0; i < iters && rc == 0; i++) {
		rc |= mb_pass(mgr, buf, batch, ks_enc, ive, true);
		for (size_t b = 0; b < batch; b++)
			memcpy(ive[b], buf + b * opt_size + opt_size - 16, 16);
		rc |= mb_pass(mgr, buf, batch, ks_dec, ivd, false);
		for (size_t b = 0; b < batch; b++)
			memcpy(ivd[b], ive[b], 16);
	}
	stamp_stop(&t0, res);
	res->bytes = 2.0 * (double)opt_size * (double)batch * (double)iters;
	if (rc == 0 && check_plain("mb-cbc", buf, plain, batch * opt_size) != 0)
		rc = -1;
	free(buf);
	free_mb_mgr(mgr);
	return rc;
}

static int
run_mb1(long count, struct result *res)
{
	return run_mb(1, count, res);
}

static int
run_mb16(long count, struct result *res)
{
	return run_mb(16, count, res);
}
#endif

#ifdef PAPER_WITH_ENGINE

/* run_engine: seal then open batch records of opt_size bytes, in place. */
static int
run_engine(enum engine_kind kind, size_t batch, long count, struct result *res)
{
	struct engine_rec recs[MAX_BATCH];
	struct engine_key *k = NULL;
	struct engine *e = NULL;
	size_t recsz = (16 + opt_size + 32 + 63) / 64 * 64;
	long iters = count >= (long)batch ? count / (long)batch : 1; /* at least one batch */
	uint8_t *buf = NULL;
	int rc = -1;
	struct stamp t0;

	if (opt_size > ENGINE_MAX_TEXT || engine_new(&e, kind) != 0 ||
	    engine_key_new(&k, suite_by_id(SUITE_CBC_HMAC_SHA256), key, mackey) != 0 ||
	    (buf = buf_new(recsz * batch)) == NULL) {
		fprintf(stderr, "paper_aestest: engine %d unavailable\n", (int)kind);
		goto out;
	}
	for (size_t b = 0; b < batch; b++) {
		memset(&recs[b], 0, sizeof(recs[b]));
		recs[b].buf = buf + b * recsz;
		recs[b].key = k;
		memcpy(recs[b].buf + 16, plain + b * opt_size, opt_size);
	}
	rc = 0;
	stamp_start(&t0);
	for (long i = 0; i < iters && rc == 0; i++) {
		for (size_t b = 0; b < batch; b++)
			recs[b].len = opt_size;
		rc |= engine_seal(e, recs, batch);
		rc |= engine_open(e, recs, batch);
	}
	stamp_stop(&t0, res);
	res->bytes = 2.0 * (double)opt_size * (double)batch * (double)iters;
	for (size_t b = 0; b < batch && rc == 0; b++)
		if (recs[b].len != opt_size ||
		    check_plain("engine", recs[b].buf + 16, plain + b * opt_size, opt_size) != 0)
			rc = -1;
	if (rc != 0)
		fprintf(stderr, "paper_aestest: engine %s failed\n", engine_name(e));
out:
	free(buf);
	engine_key_free(k);
	engine_free(e);
	return rc == 0 ? 0 : -1;
}

static int
run_engine_evp(long count, struct result *res)
{
	return run_engine(ENGINE_EVP, 1, count, res);
}

static int
run_engine_mb(long count, struct result *res)
{
	return run_engine(ENGINE_IPSECMB, 1, count, res);
}

static int
run_engine_mb16(long count, struct result *res)
{
	return run_engine(ENGINE_IPSECMB, 16, count, res);
}
#endif

static const struct impl impls[] = {
	{"portable", "portable C AES (tables, this tree)", run_portable},
	{"evp", "OpenSSL EVP aes-256-cbc", run_evp},
#ifdef PAPER_WITH_MB
	{"mb-cbc", "ipsec-mb job API, cipher only, 1 buffer", run_mb1},
	{"mb-cbc-x16", "ipsec-mb job API, cipher only, 16 buffers", run_mb16},
#endif
#ifdef PAPER_WITH_ENGINE
	{"engine-evp", "cryptstore engine evp, cbc+hmac seal+open", run_engine_evp},
	{"engine-mb", "cryptstore engine ipsec-mb, cbc+hmac, 1 record", run_engine_mb},
	{"engine-mb-x16", "cryptstore engine ipsec-mb, cbc+hmac, 16 records", run_engine_mb16},
#endif
};

#define N_IMPLS (sizeof(impls) / sizeof(impls[0]))

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* selected: is impl id in the comma-separated --only list (or no list)? */
static bool
selected(const char *id)
{
	size_t n = strlen(id);

	for (const char *p = opt_only; p != NULL; p = strchr(p, ',')) {
		if (*p == ',')
			p++;
		if (strncmp(p, id, n) == 0 && (p[n] == ',' || p[n] == '\0'))
			return true;
	}
	return opt_only == NULL;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: paper_aestest [--count N] [--size B] [--runs N] [--warmup N] [--only "
		"LIST]\n"
		"                     [--machine] [--marks LABEL]\n"
		"The paper's aestest: a buffer of random data encrypted and decrypted N times\n"
		"with AES-256-CBC and a random key, per implementation.\n"
		"  --count N    encrypt+decrypt iterations per run (default 1000000)\n"
		"  --size B     buffer bytes, a multiple of 16 (default 1024)\n"
		"  --runs N     timed runs per implementation, median printed (default 3, max %d)\n"
		"  --warmup N   untimed iterations of each first (default count/10 + 16; 0: none)\n"
		"  --only LIST  comma-separated implementations to run (default all):\n",
		MAX_RUNS);
	for (size_t i = 0; i < N_IMPLS; i++)
		fprintf(f, "                 %-14s %s\n", impls[i].id, impls[i].label);
#ifndef PAPER_WITH_MB
	fprintf(f, "               (mb-* compiled out: built without intel-ipsec-mb)\n");
#endif
#ifndef PAPER_WITH_ENGINE
	fprintf(f, "               (engine-* compiled out: built without lib/crypto)\n");
#endif
	fprintf(f,
		"  --machine    also print 'aestest-user ID COUNT SIZE SECONDS MBPS CPUSECONDS',\n"
		"               one line per timed run (for scripts)\n"
		"  --marks L    write '=== t-begin L' and '=== t-end L' to stderr around each\n"
		"               timed run (vm.sh samples the emulator's CPU time at them)\n"
		"MB/s = (bytes encrypted + bytes decrypted) / seconds, 1 MB = 10^6 bytes;\n"
		"seconds are wall-clock, CPU seconds the thread's CPU time (on a busy machine\n"
		"the difference is time spent waiting for a CPU).\n"
		"Exit status: 0, 1 on a failed run (a wrong result), 2 on bad usage.\n");
}

static int
parse_args(int argc, char **argv)
{
	static const struct option opts[] = {{"count", required_argument, NULL, 'c'},
					     {"size", required_argument, NULL, 's'},
					     {"runs", required_argument, NULL, 'r'},
					     {"warmup", required_argument, NULL, 'w'},
					     {"only", required_argument, NULL, 'o'},
					     {"machine", no_argument, NULL, 'm'},
					     {"marks", required_argument, NULL, 'k'},
					     {"help", no_argument, NULL, 'h'},
					     {NULL, 0, NULL, 0}};
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			errno = 0;
			opt_count = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || opt_count < 1)
				return -1;
			break;
		case 's':
			opt_size = (size_t)strtoul(optarg, &end, 10);
			if (*end != '\0' || opt_size < 16 || opt_size > MAX_SIZE || opt_size % 16)
				return -1;
			break;
		case 'r':
			opt_runs = atoi(optarg);
			if (opt_runs < 1 || opt_runs > MAX_RUNS)
				return -1;
			break;
		case 'w':
			errno = 0;
			opt_warmup = strtol(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || opt_warmup < 0)
				return -1;
			break;
		case 'o':
			opt_only = optarg;
			break;
		case 'm':
			opt_machine = true;
			break;
		case 'k':
			opt_marks = optarg;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return -1;
		}
	}
	return optind == argc ? 0 : -1;
}

int
main(int argc, char **argv)
{
	static double secs[N_IMPLS][MAX_RUNS], cpus[N_IMPLS][MAX_RUNS], mbps[N_IMPLS][MAX_RUNS];
	static double cmbps[N_IMPLS][MAX_RUNS];
	double med_s[N_IMPLS], med_c[N_IMPLS], med_m[N_IMPLS], med_cm[N_IMPLS];
	bool on[N_IMPLS];
	struct result res;
	size_t n_on = 0;

	if (parse_args(argc, argv) != 0) {
		usage(stderr);
		return 2;
	}
	for (size_t i = 0; i < N_IMPLS; i++)
		n_on += (on[i] = selected(impls[i].id));
	if (n_on == 0) {
		fprintf(stderr, "paper_aestest: --only matches no implementation\n");
		return 2;
	}
	if ((plain = buf_new(MAX_BATCH * opt_size)) == NULL)
		return 1;
	/* A random key, IV and buffer, as in the paper. */
	if (RAND_bytes(key, sizeof(key)) != 1 || RAND_bytes(iv0, sizeof(iv0)) != 1 ||
	    RAND_bytes(mackey, sizeof(mackey)) != 1 ||
	    RAND_bytes(plain, (int)(MAX_BATCH * opt_size)) != 1) {
		fprintf(stderr, "paper_aestest: RAND_bytes failed\n");
		return 1;
	}
	/* Warm-up: by default a tenth of a run of each (caches, frequency, lazy init). */
	if (opt_warmup < 0)
		opt_warmup = opt_count / 10 + 16;
	for (size_t i = 0; i < N_IMPLS && opt_warmup > 0; i++)
		if (on[i] && impls[i].run(opt_warmup, &res) != 0)
			return 1;
	for (int r = 0; r < opt_runs; r++)
		for (size_t i = 0; i < N_IMPLS; i++) {
			if (!on[i])
				continue;
			if (opt_marks != NULL)
				fprintf(stderr, "=== t-begin %s\n", opt_marks);
			if (impls[i].run(opt_count, &res) != 0)
				return 1;
			if (opt_marks != NULL)
				fprintf(stderr, "=== t-end %s\n", opt_marks);
			secs[i][r] = res.seconds;
			cpus[i][r] = res.cpu_seconds;
			mbps[i][r] = res.bytes / res.seconds / 1e6;
			cmbps[i][r] = res.cpu_seconds > 0 ? res.bytes / res.cpu_seconds / 1e6 : 0;
			if (opt_machine)
				printf("aestest-user %s %ld %zu %.6f %.3f %.6f\n", impls[i].id,
				       opt_count, opt_size, res.seconds, mbps[i][r],
				       res.cpu_seconds);
		}
	printf("## paper aestest (user space): %zu-byte buffer, %ld x (encrypt + decrypt), "
	       "AES-256-CBC, random key\n\n",
	       opt_size, opt_count);
	printf("Median of %d runs after a warm-up of %ld; MB/s = (bytes encrypted + bytes "
	       "decrypted) / s, 1 MB = 10^6 bytes; CPU = this thread's CPU time.\n",
	       opt_runs, opt_warmup);
#ifndef PAPER_WITH_MB
	printf("Built without intel-ipsec-mb: the mb-* rows are compiled out.\n");
#endif
#ifndef PAPER_WITH_ENGINE
	printf("Built without the project's lib/crypto: the engine-* rows are compiled out.\n");
#endif
	printf("\n| implementation | id | seconds | MB/s | CPU seconds | MB/s of CPU | vs portable "
	       "(CPU) |\n");
	printf("| --- | --- | ---: | ---: | ---: | ---: | ---: |\n");
	for (size_t i = 0; i < N_IMPLS; i++) {
		if (!on[i])
			continue;
		med_s[i] = median(secs[i], opt_runs);
		med_c[i] = median(cpus[i], opt_runs);
		med_m[i] = median(mbps[i], opt_runs);
		med_cm[i] = median(cmbps[i], opt_runs);
	}
	for (size_t i = 0; i < N_IMPLS; i++) {
		if (!on[i])
			continue;
		printf("| %s | %s | %.3f | %.1f | %.3f | %.1f | ", impls[i].label, impls[i].id,
		       med_s[i], med_m[i], med_c[i], med_cm[i]);
		if (on[0] && med_cm[0] > 0)
			printf("%.2fx |\n", med_cm[i] / med_cm[0]);
		else
			printf("- |\n");
	}
	free(plain);
	return 0;
}
