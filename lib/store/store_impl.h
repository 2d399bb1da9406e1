/*
 * store_impl: the contract between store.c (the public interface) and a
 * backend.  Only backends include this header.
 */
#ifndef CS_STORE_IMPL_H
#define CS_STORE_IMPL_H

#include "store.h"

#include <time.h>

struct store_ops {
	void (*close)(struct store *s);
	int (*space_create)(struct store *s, const char *space);
	int (*space_remove)(struct store *s, const char *space, bool purge);
	int (*list)(struct store *s, const char *space,
		    int (*cb)(void *arg, const char *key, uint64_t size), void *arg);
	int (*put_begin)(struct store *s, const char *space, const char *key, uint64_t hint,
			 struct store_wr **out);
	int (*wr_write)(struct store_wr *w, uint64_t off, const struct iovec *iov, int n);
	int (*wr_commit)(struct store_wr *w);
	void (*wr_abort)(struct store_wr *w);
	int (*get)(struct store *s, const char *space, const char *key, struct store_rd **out);
	uint64_t (*rd_size)(const struct store_rd *r);
	long (*rd_read)(struct store_rd *r, uint64_t off, const struct iovec *iov, int n);
	void (*rd_close)(struct store_rd *r);
	int (*del)(struct store *s, const char *space, const char *key);
	int (*rename)(struct store *s, const char *space, const char *from, const char *to);
	int (*rewrite)(struct store *s, const char *space, const char *key, uint64_t off,
		       const uint8_t *data, size_t n, uint64_t coff, const uint8_t *check,
		       size_t clen);
	int (*lock)(struct store *s, const char *name, unsigned wait_ms, struct store_lock **out);
	int (*lock_renew)(struct store_lock *l);
	int (*unlock)(struct store_lock *l);
	uint32_t (*write_align)(const struct store *s); /* NULL: 0 */
};

/* Every backend's store, store_wr, store_rd and store_lock begin with these. */
struct store {
	const struct store_ops *ops;
};
struct store_wr {
	const struct store_ops *ops;
};
struct store_rd {
	const struct store_ops *ops;
};
struct store_lock {
	const struct store_ops *ops;
};

/*
 * store__lock_wait(t0, wait_ms, step_us): between two attempts to take a
 * lock that another holds: sleep a little (*step_us, doubled each time up
 * to 100 ms, jittered so that waiters do not retry in step), unless wait_ms
 * milliseconds have passed since t0 (CLOCK_MONOTONIC).  Returns false, with
 * errno ETIMEDOUT, when the wait is over.
 */
bool store__lock_wait(const struct timespec *t0, unsigned wait_ms, unsigned *step_us);

#endif /* CS_STORE_IMPL_H */
