/*
 * md5_shared: flat combining of MD5 updates.  See md5_shared.h.
 *
 * The queue is FIFO (lib/util/combine): a round takes the first `lanes`
 * requests, hashes at most `slice` bytes of each, and completes those that
 * have nothing left; the others stay at the head for the next round.  Only
 * the combiner touches a request's pointer and length, and only while the
 * request is in its round; its owner sleeps until it is done.
 */
#include "md5_shared.h"
#include "util/combine.h"
#include "util/err.h"

#include <stdbool.h>
#include <stdlib.h>

#define LANES_MAX 64u

struct md5_req {
	struct combine_req cr; /* first: a combine_req is an md5_req */
	struct md5_mb_state *st;
	const uint8_t *p; /* the current piece */
	size_t left;
	const struct iovec *more; /* the pieces after it */
	int nmore;
	size_t after; /* bytes still to hash in them */
};

/* req_next: when the current piece is done, move to the next non-empty one;
 * false when there is none (the request is done). */
static bool
req_next(struct md5_req *r)
{
	while (r->left == 0 && r->after > 0 && r->nmore > 0) {
		r->p = r->more->iov_base;
		r->left = r->more->iov_len < r->after ? r->more->iov_len : r->after;
		r->after -= r->left;
		r->more++;
		r->nmore--;
	}
	return r->left > 0;
}

struct md5_shared {
	struct combiner c;
	unsigned lanes;
	size_t slice;
	struct md5_shared_stats stats; /* under c.mu */
};

int
md5_shared_new(struct md5_shared **out, unsigned lanes, size_t slice)
{
	struct md5_shared *m;

	*out = NULL;
	if (lanes < 1 || lanes > LANES_MAX || slice < 64 || slice % 64 != 0)
		return CS_EINVAL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return CS_ENOMEM;
	/* A round of few lanes costs nearly what a full one does. */
	if (combine_init(&m->c, lanes / 2) != 0) {
		free(m);
		return CS_ENOMEM;
	}
	m->lanes = lanes;
	m->slice = slice;
	*out = m;
	return 0;
}

void
md5_shared_free(struct md5_shared *m)
{
	if (m == NULL)
		return;
	combine_destroy(&m->c);
	free(m);
}

/* combine_round: hash at most a slice of each of the queue's first `lanes`
 * requests, and complete those with nothing left. */
static void
combine_round(struct combiner *c, void *arg)
{
	struct md5_shared *m = arg;
	struct md5_mb_job jobs[LANES_MAX];
	struct combine_req *cr, *prev = NULL, *next;
	size_t n = 0, bytes = 0;

	for (cr = c->head; cr != NULL && n < m->lanes; cr = cr->next) {
		struct md5_req *r = (struct md5_req *)cr;

		jobs[n].st = r->st;
		jobs[n].data = r->p;
		jobs[n].len = r->left < m->slice ? r->left : m->slice;
		bytes += jobs[n].len;
		n++;
	}
	pthread_mutex_unlock(&c->mu);
	md5_mb_update_many(jobs, n);
	pthread_mutex_lock(&c->mu);
	/* The round's requests are still the first n of the queue: only the
	 * combiner unlinks, and new ones join at the tail. */
	cr = c->head;
	for (size_t i = 0; i < n; i++, cr = next) {
		struct md5_req *r = (struct md5_req *)cr;

		next = cr->next;
		r->p += jobs[i].len;
		r->left -= jobs[i].len;
		if (!req_next(r))
			combine_complete(c, prev, cr);
		else
			prev = cr;
	}
	m->stats.rounds++;
	m->stats.lane_jobs += n;
	m->stats.bytes += bytes;
}

void
md5_shared_update(struct md5_shared *m, struct md5_mb_state *st, const void *data, size_t len)
{
	struct iovec v = {(void *)(uintptr_t)data, len};

	md5_shared_updatev(m, st, &v, 1, len);
}

void
md5_shared_updatev(struct md5_shared *m, struct md5_mb_state *st, const struct iovec *iov, int niov,
		   size_t len)
{
	struct md5_req me = {.st = st, .more = iov, .nmore = niov, .after = len};

	if (!req_next(&me))
		return;
	combine_run(&m->c, &me.cr, 1, combine_round, m);
}

void
md5_shared_stats(struct md5_shared *m, struct md5_shared_stats *out)
{
	pthread_mutex_lock(&m->c.mu);
	*out = m->stats;
	out->handoffs = m->c.handoffs;
	pthread_mutex_unlock(&m->c.mu);
}
