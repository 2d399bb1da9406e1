/*
 * bench_store_rados: PUT and GET throughput of one object through the RADOS
 * backend (no encryption: the store alone), the way the server drives it:
 * several threads write distinct chunks of one store_wr (the sealing
 * workers), one reader reads in large slices.  The cluster comes from
 * CRYPTSTORE_CEPH_* (tests/rados/bench.sh starts one and measures `rados
 * put`/`rados get` of the same size in the same run as the baseline).
 *
 *   bench_store_rados [MiB [threads [chunk-KiB]]]     defaults: 256 4 1024
 */
#include "store/store.h"
#include "util/err.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct job {
	struct store_wr *w;
	const unsigned char *data;
	size_t size, chunk;
	int idx, nthr, rc;
};

static double
secs(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *
run(void *arg)
{
	struct job *j = arg;

	for (size_t off = (size_t)j->idx * j->chunk; off < j->size && j->rc == 0;
	     off += (size_t)j->nthr * j->chunk) {
		size_t n = j->size - off < j->chunk ? j->size - off : j->chunk;
		struct iovec iov = {(void *)(uintptr_t)(j->data + off), n};

		j->rc = store_wr_write(j->w, off, &iov, 1);
	}
	return NULL;
}

int
main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 256;
	int nthr = argc > 2 ? atoi(argv[2]) : 4;
	size_t chunk = (argc > 3 ? strtoul(argv[3], NULL, 10) : 1024) * 1024;
	size_t size = mib << 20, slice = 16u << 20;
	struct store_rados_cfg c = {
		.conf = getenv("CRYPTSTORE_CEPH_CONF"),
		.user = getenv("CRYPTSTORE_CEPH_USER"),
		.keyring = getenv("CRYPTSTORE_CEPH_KEYRING"),
		.pool = getenv("CRYPTSTORE_CEPH_POOL"),
		.nspace = "bench",
		.gc_grace = -1,
	};
	unsigned char *data, *back;
	struct job jobs[64];
	pthread_t t[64];
	struct store *s;
	struct store_rd *r;
	char why[256] = "";
	double t0, tput, tget;
	int rc;

	if (c.conf == NULL || c.pool == NULL || mib == 0 || nthr < 1 || nthr > 64 || chunk == 0) {
		fprintf(stderr, "usage: CRYPTSTORE_CEPH_CONF=... CRYPTSTORE_CEPH_POOL=... "
				"bench_store_rados [MiB [threads [chunk-KiB]]]\n");
		return 2;
	}
	if ((data = malloc(size)) == NULL || (back = malloc(size)) == NULL)
		return 1;
	for (size_t i = 0; i < size; i++)
		data[i] = (unsigned char)(i * 2654435761u >> 13);
	if ((rc = store_rados_open(&s, &c, why, sizeof(why))) != 0) {
		fprintf(stderr, "bench_store_rados: %s (%s)\n", why, err_str(rc));
		return 1;
	}
	if ((rc = store_space_create(s, "bench")) != 0 && rc != CS_EEXIST)
		goto fail;
	t0 = secs();
	if ((rc = store_put_begin(s, "bench", "obj", size, &jobs[0].w)) != 0)
		goto fail;
	for (int i = 0; i < nthr; i++) {
		jobs[i] = (struct job){jobs[0].w, data, size, chunk, i, nthr, 0};
		if (pthread_create(&t[i], NULL, run, &jobs[i]) != 0)
			return 1;
	}
	rc = 0;
	for (int i = 0; i < nthr; i++) {
		pthread_join(t[i], NULL);
		rc = rc != 0 ? rc : jobs[i].rc;
	}
	if (rc != 0) {
		store_wr_abort(jobs[0].w);
		goto fail;
	}
	if ((rc = store_wr_commit(jobs[0].w)) != 0)
		goto fail;
	tput = secs() - t0;
	t0 = secs();
	if ((rc = store_get(s, "bench", "obj", &r)) != 0)
		goto fail;
	for (size_t off = 0; off < size; off += slice) {
		struct iovec iov = {back + off, size - off < slice ? size - off : slice};

		if (store_rd_read(r, off, &iov, 1) != (long)iov.iov_len) {
			rc = CS_EIO;
			store_rd_close(r);
			goto fail;
		}
	}
	store_rd_close(r);
	tget = secs() - t0;
	if (memcmp(data, back, size) != 0) {
		fprintf(stderr, "bench_store_rados: the object read back differs\n");
		return 1;
	}
	printf("store_rados PUT %zu MiB: %.2f s, %.0f MiB/s (%d threads, %zu KiB writes)\n", mib,
	       tput, (double)mib / tput, nthr, chunk >> 10);
	printf("store_rados GET %zu MiB: %.2f s, %.0f MiB/s (%zu MiB reads)\n", mib, tget,
	       (double)mib / tget, slice >> 20);
	if ((rc = store_space_purge(s, "bench")) != 0)
		goto fail;
	store_close(s);
	free(data);
	free(back);
	return 0;
fail:
	fprintf(stderr, "bench_store_rados: %s\n", err_str(rc));
	store_close(s);
	return 1;
}
