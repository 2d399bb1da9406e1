/*
 * mbprobe: where the time of a multi-buffer CBC-HMAC seal goes.  Times the
 * cipher part and the hash part of sealing a batch of format chunks on their
 * own, with each implementation the engine can use (intel-ipsec-mb's SSE
 * and best managers, sha256_ni with 1-4 lanes, cbc_vaes), in interleaved
 * rounds; prints the median MB/s of each and ratios to ipsec-mb's best
 * manager measured in the same run.  Time is the thread's CPU time, so
 * that other load on a shared machine (which deschedules the probe) counts
 * less; it still slows a round through shared caches.  A probe for
 * docs/BENCHMARKS.md, built as BUILD/bench/mbprobe, or by hand against a build tree:
 *   cc -O2 -I lib -o /tmp/mbprobe bench/mbprobe.c BUILD/lib/libcryptstore.a \
 *      -lIPSec_MB -lcrypto -lpthread
 */
#include "crypto/cbc_vaes.h"
#include "crypto/sha256_ni.h"
#include "format/format.h"

#include <intel-ipsec-mb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH  16
#define ROUNDS 15
#define REPS   16

/* The HMAC covers AAD || IV || ciphertext of a chunk. */
#define MSG_LEN (FORMAT_AAD_LEN + 16 + FORMAT_CHUNK_DEFAULT)
#define STRIDE  (MSG_LEN + 64 + 32)

enum probe {
	P_H_SSE,
	P_H_BEST,
	P_H_NI1,
	P_H_NI2,
	P_H_NI3,
	P_H_NI4,
	P_C_SSE,
	P_C_BEST,
	P_C_VAES,
	P_N
};
static const char *names[P_N] = {
	"hmac  ipsec-mb sse manager (sha-ni x2)",
	"hmac  ipsec-mb best manager",
	"hmac  sha256_ni x1",
	"hmac  sha256_ni x2",
	"hmac  sha256_ni x3",
	"hmac  sha256_ni x4",
	"cbc   ipsec-mb sse manager",
	"cbc   ipsec-mb best manager",
	"cbc   cbc_vaes x16",
};

static uint8_t *buf;
static uint8_t sched[240] __attribute__((aligned(64))), dsched[240] __attribute__((aligned(64)));
static uint8_t ipad[32] __attribute__((aligned(16))), opad[32] __attribute__((aligned(16)));
static uint8_t tags[BATCH][32];
static struct sha256_ni_key nikey;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
imb_batch(IMB_MGR *m, bool hash)
{
	IMB_JOB *j;

	for (int i = 0; i < BATCH; i++) {
		uint8_t *rec = buf + (size_t)i * STRIDE;

		j = IMB_GET_NEXT_JOB(m);
		memset(j, 0, sizeof(*j));
		j->cipher_direction = IMB_DIR_ENCRYPT;
		j->chain_order = IMB_ORDER_CIPHER_HASH;
		j->key_len_in_bytes = 32;
		if (hash) {
			j->cipher_mode = IMB_CIPHER_NULL;
			j->hash_alg = IMB_AUTH_HMAC_SHA_256;
			j->src = rec;
			j->msg_len_to_hash_in_bytes = MSG_LEN;
			j->auth_tag_output = tags[i];
			j->auth_tag_output_len_in_bytes = 32;
			j->u.HMAC._hashed_auth_key_xor_ipad = ipad;
			j->u.HMAC._hashed_auth_key_xor_opad = opad;
		} else {
			j->cipher_mode = IMB_CIPHER_CBC;
			j->hash_alg = IMB_AUTH_NULL;
			j->src = rec + FORMAT_AAD_LEN + 16;
			j->dst = rec + FORMAT_AAD_LEN + 16;
			j->msg_len_to_cipher_in_bytes = FORMAT_CHUNK_DEFAULT;
			j->iv = rec + FORMAT_AAD_LEN;
			j->iv_len_in_bytes = 16;
			j->enc_keys = sched;
			j->dec_keys = dsched;
		}
		for (j = IMB_SUBMIT_JOB(m); j != NULL; j = IMB_GET_COMPLETED_JOB(m))
			if (j->status != IMB_STATUS_COMPLETED)
				abort();
	}
	while ((j = IMB_FLUSH_JOB(m)) != NULL)
		if (j->status != IMB_STATUS_COMPLETED)
			abort();
}

static void
run(int p, IMB_MGR *sse, IMB_MGR *best)
{
	struct sha256_ni_job hj[BATCH];
	struct cbc_vaes_job cj[BATCH];

	for (int i = 0; i < BATCH; i++) {
		uint8_t *rec = buf + (size_t)i * STRIDE;

		hj[i] = (struct sha256_ni_job){&nikey, rec, MSG_LEN, tags[i]};
		cj[i] = (struct cbc_vaes_job){sched, rec + FORMAT_AAD_LEN,
					      rec + FORMAT_AAD_LEN + 16, rec + FORMAT_AAD_LEN + 16,
					      FORMAT_CHUNK_DEFAULT / 16};
	}
	switch (p) {
	case P_H_SSE:
		imb_batch(sse, true);
		break;
	case P_H_BEST:
		imb_batch(best, true);
		break;
	case P_H_NI1:
	case P_H_NI2:
	case P_H_NI3:
	case P_H_NI4:
		sha256_ni_hmac_many(hj, BATCH, (unsigned)(p - P_H_NI1 + 1));
		break;
	case P_C_SSE:
		imb_batch(sse, false);
		break;
	case P_C_BEST:
		imb_batch(best, false);
		break;
	default:
		cbc_vaes_encrypt_many(cj, BATCH);
		break;
	}
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
	static double v[P_N][ROUNDS];
	IMB_MGR *sse = alloc_mb_mgr(0), *best = alloc_mb_mgr(0);
	IMB_ARCH arch;
	uint8_t key[32];
	double med[P_N];

	if (sse == NULL || best == NULL || !sha256_ni_usable() || !cbc_vaes_usable()) {
		fprintf(stderr, "mbprobe: needs SHA-NI, VAES and ipsec-mb\n");
		return 1;
	}
	init_mb_mgr_sse(sse);
	init_mb_mgr_auto(best, &arch);
	buf = aligned_alloc(64, (size_t)BATCH * STRIDE);
	memset(buf, 0x5a, (size_t)BATCH * STRIDE);
	memset(key, 0x42, sizeof(key));
	IMB_AES_KEYEXP_256(best, key, sched, dsched);
	sha256_ni_hmac_key(&nikey, key, sizeof(key));
	memcpy(ipad, nikey.istate, 32); /* timing only: any state will do */
	memcpy(opad, nikey.ostate, 32);
	for (int r = -1; r < ROUNDS; r++)
		for (int p = 0; p < P_N; p++) {
			double t0 = now();

			for (int k = 0; k < REPS; k++)
				run(p, sse, best);
			if (r >= 0)
				v[p][r] = (double)REPS * BATCH * FORMAT_CHUNK_DEFAULT /
					  (now() - t0) / 1e6;
		}
	printf("mbprobe: %d x %u-byte chunks per batch, median of %d rounds, MB/s of chunk "
	       "bytes; best manager: %s\n\n",
	       BATCH, FORMAT_CHUNK_DEFAULT, ROUNDS, arch == IMB_ARCH_AVX2 ? "avx2" : "other");
	printf("| part, implementation | MB/s median | x ipsec-mb best manager | MB/s best round "
	       "|\n| --- | ---: | ---: | ---: |\n");
	for (int p = 0; p < P_N; p++) {
		qsort(v[p], ROUNDS, sizeof(double), cmp);
		med[p] = v[p][ROUNDS / 2];
	}
	for (int p = 0; p < P_N; p++)
		printf("| %s | %.0f | %.2fx | %.0f |\n", names[p], med[p],
		       med[p] / med[p < P_C_SSE ? P_H_BEST : P_C_BEST], v[p][ROUNDS - 1]);
	printf("\ntwo-pass composites (1 / (1/cbc + 1/hmac)), MB/s:\n");
	printf("  ipsec-mb best cbc + sse hmac   %.0f\n",
	       1 / (1 / med[P_C_BEST] + 1 / med[P_H_SSE]));
	printf("  ipsec-mb best cbc + sha256_ni x3  %.0f\n",
	       1 / (1 / med[P_C_BEST] + 1 / med[P_H_NI3]));
	printf("  cbc_vaes + sha256_ni x3        %.0f\n",
	       1 / (1 / med[P_C_VAES] + 1 / med[P_H_NI3]));
	free(buf);
	free_mb_mgr(sse);
	free_mb_mgr(best);
	return 0;
}
