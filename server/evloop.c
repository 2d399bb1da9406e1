/*
 * evloop: the epoll loops that receive upload bodies (see evloop.h).
 *
 * What it keeps true: a job is touched by its loop only between
 * evloop_run()'s hand-over and the moment its done flag is set under its
 * mutex, after which the waiting thread owns it again; a job waiting for
 * room has no socket events armed, so a readable socket cannot spin the
 * loop; a kick is never lost (the kicker sets a flag before it writes the
 * eventfd, the loop clears the flag before it retries the waiting jobs).
 */
#include "evloop.h"
#include "crypto/md5_mb.h"
#include "log.h"
#include "util/err.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define LOOP_EVENTS  128
#define LOOP_TICK_MS 100 /* deadlines are looked at this often */
/* Received pieces wait for company before they are hashed: until 16 jobs
 * have one (the lanes are full) or the first has waited GATHER_US. */
#define GATHER_JOBS MD5_MB_LANES
#define GATHER_US   2000

struct evloop {
	pthread_t th;
	int epfd, efd;
	pthread_mutex_t mu;
	struct evloop_job *incoming; /* handed over, not yet taken (under mu) */
	bool stopping;               /* under mu */
	atomic_bool kicked;          /* a slot came back since the last retry */
	struct evloop_job *jobs;     /* the loop thread's own list */
	uint64_t round;
	size_t njobs, nwaiting;              /* on the list; waiting for room */
	struct evloop_job *got[LOOP_EVENTS]; /* received, waiting to be hashed */
	size_t ngot;
	bool got_md5;         /* one of them has an MD5 to update */
	int64_t got_since_us; /* when the first of them was received */
};

static struct evloop *loops;
static unsigned nloops;
static atomic_uint next_loop;
static atomic_uint_fast64_t st_bodies, st_bytes; /* evloop_stats() */

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
wake(struct evloop *l)
{
	uint64_t one = 1;

	while (write(l->efd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

void
evloop_kick(void *arg)
{
	struct evloop *l = arg;

	if (!atomic_exchange(&l->kicked, true))
		wake(l);
}

/* job_arm: wait for j's socket once more (every job is registered one-shot:
 * armed only while it waits for bytes, so a job whose bytes wait to be
 * hashed, or that waits for room, costs the loop nothing). */
static void
job_arm(struct evloop *l, struct evloop_job *j)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT, .data.ptr = j};

	(void)epoll_ctl(l->epfd, EPOLL_CTL_MOD, j->fd, &ev);
}

/* job_end: j leaves the loop with rc; its thread owns it from here on. */
static void
job_end(struct evloop *l, struct evloop_job *j, int rc)
{
	(void)epoll_ctl(l->epfd, EPOLL_CTL_DEL, j->fd, NULL);
	if (j->prev != NULL)
		j->prev->next = j->next;
	else
		l->jobs = j->next;
	if (j->next != NULL)
		j->next->prev = j->prev;
	l->njobs--;
	if (j->waiting)
		l->nwaiting--;
	if (rc == 0)
		atomic_fetch_add(&st_bodies, 1);
	pthread_mutex_lock(&j->mu);
	j->rc = rc;
	j->done = true;
	pthread_cond_signal(&j->cv);
	pthread_mutex_unlock(&j->mu);
}

static bool due_add(struct evloop *l, struct evloop_job *j, struct evloop_job **due, size_t *ndue);

/* take_incoming: the jobs handed over since the last round join the set;
 * each is due a receive at once (its bytes may be waiting already). */
static size_t
take_incoming(struct evloop *l, struct evloop_job **due, size_t ndue, bool *stop)
{
	struct evloop_job *in;
	int64_t now = now_ms();

	pthread_mutex_lock(&l->mu);
	in = l->incoming;
	l->incoming = NULL;
	*stop = l->stopping;
	pthread_mutex_unlock(&l->mu);
	while (in != NULL) {
		struct evloop_job *j = in;
		struct epoll_event ev = {.events = EPOLLONESHOT, .data.ptr = j}; /* not armed yet */

		in = j->next;
		j->prev = NULL;
		j->next = l->jobs;
		if (l->jobs != NULL)
			l->jobs->prev = j;
		l->jobs = j;
		l->njobs++;
		j->deadline_ms = now + j->timeout_ms;
		if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, j->fd, &ev) != 0) {
			job_end(l, j, CS_EIO);
			continue;
		}
		if (!due_add(l, j, due, &ndue))
			job_arm(l, j); /* no room this round: when its bytes come */
	}
	return ndue;
}

/* hash_round: the MD5 updates of the received pieces, a lane per job:
 * piece k of every job in one md5_mb_update_many() call (a state at most
 * once a call, and each job's pieces in order). */
static void
hash_round(struct evloop_job **got, size_t ngot)
{
	struct md5_mb_job mj[LOOP_EVENTS];
	size_t left[LOOP_EVENTS];

	for (size_t i = 0; i < ngot; i++)
		left[i] = got[i]->got;
	for (int k = 0; k < EVLOOP_IOV; k++) {
		size_t n = 0;

		for (size_t i = 0; i < ngot; i++) {
			struct evloop_job *j = got[i];
			size_t len;

			if (j->md5 == NULL || k >= j->niov || left[i] == 0)
				continue;
			len = j->iov[k].iov_len < left[i] ? j->iov[k].iov_len : left[i];
			left[i] -= len;
			mj[n].st = j->md5;
			mj[n].data = j->iov[k].iov_base;
			mj[n].len = len;
			n++;
		}
		if (n == 0)
			break;
		md5_mb_update_many(mj, n);
	}
}

/* flush_got: hash what the jobs received, together, then let each take it. */
static void
flush_got(struct evloop *l)
{
	hash_round(l->got, l->ngot);
	for (size_t i = 0; i < l->ngot; i++) {
		struct evloop_job *j = l->got[i];
		int rc = j->advance(j);

		j->pending = false;
		if (rc == 0)
			job_arm(l, j);
		else
			job_end(l, j, rc == EVLOOP_DONE ? 0 : rc < 0 ? rc : CS_EINVAL);
	}
	l->ngot = 0;
	l->got_md5 = false;
}

/* gathered: hash now?  When the lanes are full, when every job that could
 * join has joined (one upload alone does not wait for company), or when
 * the first piece has waited long enough. */
static bool
gathered(const struct evloop *l)
{
	size_t could = l->njobs - l->nwaiting;

	if (l->ngot == 0)
		return false;
	return !l->got_md5 || l->ngot >= GATHER_JOBS || l->ngot >= could ||
	       now_us() - l->got_since_us >= GATHER_US;
}

/* due_add: j is to receive this round (once); false if the round is full. */
static bool
due_add(struct evloop *l, struct evloop_job *j, struct evloop_job **due, size_t *ndue)
{
	if (j->round == l->round || j->pending)
		return true;
	if (*ndue >= LOOP_EVENTS)
		return false;
	j->round = l->round;
	due[(*ndue)++] = j;
	return true;
}

static void *
loop_main(void *arg)
{
	struct evloop *l = arg;
	int64_t next_check = now_ms() + LOOP_TICK_MS;

	for (;;) {
		struct epoll_event evs[LOOP_EVENTS];
		struct evloop_job *due[LOOP_EVENTS];
		size_t ndue = 0;
		bool stop = false;
		/* Pieces waiting for company: look again within a millisecond. */
		int n = epoll_wait(l->epfd, evs, LOOP_EVENTS, l->ngot > 0 ? 1 : LOOP_TICK_MS);
		int64_t now;

		l->round++;
		for (int i = 0; i < n; i++) {
			struct evloop_job *j = evs[i].data.ptr;

			if (j == NULL) { /* the eventfd: new jobs, a kick or stop */
				uint64_t v;

				while (read(l->efd, &v, sizeof(v)) < 0 && errno == EINTR)
					;
				ndue = take_incoming(l, due, ndue, &stop);
				if (stop)
					goto out;
				atomic_store(&l->kicked, false);
				for (struct evloop_job *w = l->jobs; w != NULL; w = w->next)
					if (w->waiting && !due_add(l, w, due, &ndue)) {
						evloop_kick(l); /* the rest next round */
						break;
					}
				continue;
			}
			due_add(l, j, due, &ndue);
		}
		now = now_ms();
		for (size_t i = 0; i < ndue; i++) {
			struct evloop_job *j = due[i];
			int rc = j->recv(j);

			if (rc == EVLOOP_WAIT) {
				if (!j->waiting)
					l->nwaiting++;
				j->waiting = true;
				continue;
			}
			if (j->waiting) {
				l->nwaiting--;
				j->waiting = false;
				j->deadline_ms =
					now + j->timeout_ms; /* we held it up, not the client */
			}
			if (rc == EVLOOP_GOT) {
				atomic_fetch_add(&st_bytes, j->got);
				j->deadline_ms = now + j->timeout_ms;
				j->pending = true;
				if (l->ngot == 0)
					l->got_since_us = now_us();
				l->got_md5 |= j->md5 != NULL;
				l->got[l->ngot++] = j;
				if (l->ngot == LOOP_EVENTS)
					flush_got(l);
			} else if (rc == CS_EAGAIN) {
				job_arm(l, j);
			} else {
				job_end(l, j, rc < 0 ? rc : CS_EINVAL);
			}
		}
		if (gathered(l))
			flush_got(l);
		if (now >= next_check) {
			next_check = now + LOOP_TICK_MS;
			for (struct evloop_job *j = l->jobs, *nx; j != NULL; j = nx) {
				nx = j->next;
				if (!j->waiting && !j->pending && now >= j->deadline_ms)
					job_end(l, j, EVLOOP_TIMEDOUT);
			}
		}
	}
out:
	/* Stopping: whatever still runs ends, and whatever was handed over. */
	l->ngot = 0;
	while (l->jobs != NULL)
		job_end(l, l->jobs, CS_EIO);
	return NULL;
}

int
evloop_run(struct evloop *l, struct evloop_job *j)
{
	bool stopping;

	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->cv, NULL);
	j->done = j->waiting = j->pending = false;
	j->round = 0;
	j->rc = 0;
	pthread_mutex_lock(&l->mu);
	stopping = l->stopping;
	if (!stopping) {
		j->next = l->incoming;
		l->incoming = j;
	}
	pthread_mutex_unlock(&l->mu);
	if (!stopping) {
		wake(l);
		pthread_mutex_lock(&j->mu);
		while (!j->done)
			pthread_cond_wait(&j->cv, &j->mu);
		pthread_mutex_unlock(&j->mu);
	}
	pthread_cond_destroy(&j->cv);
	pthread_mutex_destroy(&j->mu);
	return stopping ? CS_EIO : j->rc;
}

struct evloop *
evloop_pick(void)
{
	if (nloops == 0)
		return NULL;
	return &loops[atomic_fetch_add(&next_loop, 1) % nloops];
}

unsigned
evloop_count(void)
{
	return nloops;
}

void
evloop_stats(uint64_t *bodies, uint64_t *bytes)
{
	*bodies = atomic_load(&st_bodies);
	*bytes = atomic_load(&st_bytes);
}

static void
loop_close(struct evloop *l)
{
	if (l->epfd >= 0)
		close(l->epfd);
	if (l->efd >= 0)
		close(l->efd);
	pthread_mutex_destroy(&l->mu);
}

int
evloop_start(unsigned n)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

	/* A loop's share of an upload's CPU (receive, MD5 lanes) is about a
	 * quarter, and one loop fills the lanes from every upload: one loop per
	 * four CPUs (docs/BENCHMARKS.md, "Event loops"). */
	if (n == 0)
		n = ncpu >= 8 ? (unsigned)ncpu / 4 : 1;
	if ((loops = calloc(n, sizeof(*loops))) == NULL)
		return CS_ENOMEM;
	for (unsigned i = 0; i < n; i++) {
		struct evloop *l = &loops[i];
		struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};

		pthread_mutex_init(&l->mu, NULL);
		l->epfd = epoll_create1(EPOLL_CLOEXEC);
		l->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (l->epfd < 0 || l->efd < 0 ||
		    epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->efd, &ev) != 0 ||
		    pthread_create(&l->th, NULL, loop_main, l) != 0) {
			log_error("event loop %u: cannot start: %s", i, strerror(errno));
			loop_close(l);
			nloops = i;
			evloop_stop();
			return CS_EIO;
		}
	}
	nloops = n;
	return 0;
}

void
evloop_stop(void)
{
	for (unsigned i = 0; i < nloops; i++) {
		pthread_mutex_lock(&loops[i].mu);
		loops[i].stopping = true;
		pthread_mutex_unlock(&loops[i].mu);
		wake(&loops[i]);
	}
	for (unsigned i = 0; i < nloops; i++) {
		pthread_join(loops[i].th, NULL);
		loop_close(&loops[i]);
	}
	free(loops);
	loops = NULL;
	nloops = 0;
}
