/*
 * md5probe: what md5_mb's AVX2 lanes gain over one MD5 chain.  Hashes
 * 1-32 streams with updates of 32 KiB and of 256 KiB: OpenSSL's MD5 and
 * md5_mb's scalar code on one stream (the baselines), one stream forced
 * through the lanes (what one lane alone costs: the case for the scalar
 * threshold), md5_mb_update_many() on 2-32 streams (each call one update of
 * every stream; 12 and 16 fill the two-register kernel, 32 refill lanes),
 * and 8 streams forced through the scalar code.  Prints the median aggregate MB/s of
 * interleaved rounds and the ratio to OpenSSL measured in the same run,
 * as a Markdown table.  Time is the thread's CPU time, so that other load
 * on a shared machine counts less.  Built as BUILD/bench/md5probe.
 */
#include "crypto/md5_mb.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ROUNDS  11
#define STREAMS 32
#define PER_RUN (48u << 20) /* bytes hashed per measurement */

enum kind { K_OPENSSL, K_SCALAR, K_ONE_LANE, K_MANY, K_MANY_SCALAR };

struct probe {
	const char *name;
	enum kind kind;
	int streams;
};

static const struct probe probes[] = {
	{"OpenSSL EVP MD5", K_OPENSSL, 1},
	{"md5_mb_update (scalar)", K_SCALAR, 1},
	{"md5_mb_update_many, AVX2 forced", K_ONE_LANE, 1},
	{"md5_mb_update_many", K_MANY, 2},
	{"md5_mb_update_many", K_MANY, 4},
	{"md5_mb_update_many", K_MANY, 8},
	{"md5_mb_update_many", K_MANY, 12},
	{"md5_mb_update_many", K_MANY, 16},
	{"md5_mb_update_many", K_MANY, 32},
	{"md5_mb_update_many, scalar forced", K_MANY_SCALAR, 8},
};
#define NPROBES (sizeof(probes) / sizeof(probes[0]))

static const size_t sizes[] = {32u << 10, 256u << 10};
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))

static uint8_t *data[STREAMS];
static volatile uint8_t sink;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* run: one measurement; returns MB/s of all streams together. */
static double
run(const struct probe *p, size_t upd)
{
	struct md5_mb_state st[STREAMS];
	struct md5_mb_job jobs[STREAMS];
	size_t reps = PER_RUN / (upd * (size_t)p->streams);
	uint8_t out[16];
	unsigned outlen;
	double t0, t;

	if (p->kind == K_OPENSSL) {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();

		if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_md5(), NULL) != 1)
			abort();
		t0 = now();
		for (size_t r = 0; r < reps; r++)
			if (EVP_DigestUpdate(ctx, data[0], upd) != 1)
				abort();
		if (EVP_DigestFinal_ex(ctx, out, &outlen) != 1)
			abort();
		t = now() - t0;
		EVP_MD_CTX_free(ctx);
		sink ^= out[0];
		return (double)(reps * upd) / t / 1e6;
	}
	md5_mb_set_path(p->kind == K_ONE_LANE      ? MD5_MB_PATH_LANES
			: p->kind == K_MANY_SCALAR ? MD5_MB_PATH_SCALAR
						   : MD5_MB_PATH_AUTO);
	for (int i = 0; i < p->streams; i++) {
		md5_mb_init(&st[i]);
		jobs[i] = (struct md5_mb_job){&st[i], data[i], upd};
	}
	t0 = now();
	for (size_t r = 0; r < reps; r++) {
		if (p->kind == K_SCALAR)
			md5_mb_update(&st[0], data[0], upd);
		else
			md5_mb_update_many(jobs, (size_t)p->streams);
	}
	for (int i = 0; i < p->streams; i++) {
		md5_mb_final(&st[i], out);
		sink ^= out[0];
	}
	t = now() - t0;
	md5_mb_set_path(MD5_MB_PATH_AUTO);
	return (double)(reps * upd * (size_t)p->streams) / t / 1e6;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(void)
{
	static double v[NPROBES][NSIZES][ROUNDS];
	double med[NPROBES][NSIZES];
	struct md5_mb_counters c0, c1;
	uint64_t seed = 0x9e3779b97f4a7c15u;

	if (!md5_mb_avx2_usable())
		printf("md5probe: no usable AVX2 here: every md5_mb row is the scalar code\n");
	for (int i = 0; i < STREAMS; i++) {
		if ((data[i] = aligned_alloc(64, sizes[NSIZES - 1])) == NULL)
			return 1;
		for (size_t j = 0; j < sizes[NSIZES - 1]; j++) {
			seed = seed * 6364136223846793005u + 1442695040888963407u;
			data[i][j] = (uint8_t)(seed >> 56);
		}
	}
	md5_mb_counters(&c0);
	/* Round -1 warms up and is not counted. */
	for (int r = -1; r < ROUNDS; r++)
		for (size_t s = 0; s < NSIZES; s++)
			for (size_t p = 0; p < NPROBES; p++) {
				double mbs = run(&probes[p], sizes[s]);

				if (r >= 0)
					v[p][s][r] = mbs;
			}
	md5_mb_counters(&c1);
	printf("md5probe: median of %d interleaved rounds of %u MiB each, MB/s of all streams "
	       "together (thread CPU time); lanes: %llu blocks in %llu kernel runs, scalar: %llu "
	       "blocks\n\n",
	       ROUNDS, PER_RUN >> 20, (unsigned long long)(c1.lane_blocks - c0.lane_blocks),
	       (unsigned long long)(c1.vector_runs - c0.vector_runs),
	       (unsigned long long)(c1.scalar_blocks - c0.scalar_blocks));
	printf("| implementation | streams |");
	for (size_t s = 0; s < NSIZES; s++)
		printf(" MB/s, %zu KiB updates | x OpenSSL |", sizes[s] >> 10);
	printf("\n| --- | ---: |");
	for (size_t s = 0; s < NSIZES; s++)
		printf(" ---: | ---: |");
	printf("\n");
	for (size_t p = 0; p < NPROBES; p++)
		for (size_t s = 0; s < NSIZES; s++) {
			qsort(v[p][s], ROUNDS, sizeof(double), cmp);
			med[p][s] = v[p][s][ROUNDS / 2];
		}
	for (size_t p = 0; p < NPROBES; p++) {
		printf("| %s | %d |", probes[p].name, probes[p].streams);
		for (size_t s = 0; s < NSIZES; s++)
			printf(" %.0f | %.2fx |", med[p][s], med[p][s] / med[0][s]);
		printf("\n");
	}
	for (int i = 0; i < STREAMS; i++)
		free(data[i]);
	return 0;
}
