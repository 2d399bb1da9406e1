/*
 * store: the backend-neutral interface; checks names, then dispatches.
 */
#include "store.h"
#include "store_impl.h"
#include "util/err.h"

#include <errno.h>
#include <string.h>
#include <time.h>

bool
store_name_ok(const char *name)
{
	size_t n;

	if (name == NULL || (n = strnlen(name, STORE_NAME_MAX + 1)) == 0 || n > STORE_NAME_MAX)
		return false;
	if (name[0] == '.')
		return false; /* reserved for backends' temporaries */
	for (size_t i = 0; i < n; i++) {
		char c = name[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '.' || c == '_' ||
		      c == '-'))
			return false;
	}
	return true;
}

void
store_close(struct store *s)
{
	if (s != NULL)
		s->ops->close(s);
}

int
store_space_create(struct store *s, const char *space)
{
	return store_name_ok(space) ? s->ops->space_create(s, space) : CS_EINVAL;
}

int
store_space_remove(struct store *s, const char *space)
{
	return store_name_ok(space) ? s->ops->space_remove(s, space, false) : CS_EINVAL;
}

int
store_space_purge(struct store *s, const char *space)
{
	return store_name_ok(space) ? s->ops->space_remove(s, space, true) : CS_EINVAL;
}

int
store_list(struct store *s, const char *space, int (*cb)(void *arg, const char *key, uint64_t size),
	   void *arg)
{
	return store_name_ok(space) ? s->ops->list(s, space, cb, arg) : CS_EINVAL;
}

int
store_put_begin(struct store *s, const char *space, const char *key, uint64_t size_hint,
		struct store_wr **out)
{
	*out = NULL;
	if (!store_name_ok(space) || !store_name_ok(key))
		return CS_EINVAL;
	return s->ops->put_begin(s, space, key, size_hint, out);
}

uint32_t
store_write_align(const struct store *s)
{
	return s->ops->write_align != NULL ? s->ops->write_align(s) : 0;
}

int
store_wr_write(struct store_wr *w, uint64_t off, const struct iovec *iov, int n)
{
	return w->ops->wr_write(w, off, iov, n);
}

int
store_wr_commit(struct store_wr *w)
{
	return w->ops->wr_commit(w);
}

void
store_wr_abort(struct store_wr *w)
{
	if (w != NULL)
		w->ops->wr_abort(w);
}

int
store_get(struct store *s, const char *space, const char *key, struct store_rd **out)
{
	*out = NULL;
	if (!store_name_ok(space) || !store_name_ok(key))
		return CS_EINVAL;
	return s->ops->get(s, space, key, out);
}

uint64_t
store_rd_size(const struct store_rd *r)
{
	return r->ops->rd_size(r);
}

long
store_rd_read(struct store_rd *r, uint64_t off, const struct iovec *iov, int n)
{
	return r->ops->rd_read(r, off, iov, n);
}

void
store_rd_close(struct store_rd *r)
{
	if (r != NULL)
		r->ops->rd_close(r);
}

int
store_delete(struct store *s, const char *space, const char *key)
{
	if (!store_name_ok(space) || !store_name_ok(key))
		return CS_EINVAL;
	return s->ops->del(s, space, key);
}

int
store_rewrite(struct store *s, const char *space, const char *key, uint64_t off,
	      const uint8_t *data, size_t n, uint64_t coff, const uint8_t *check, size_t clen)
{
	if (!store_name_ok(space) || !store_name_ok(key) || n == 0 || n > STORE_REWRITE_MAX ||
	    clen > STORE_CHECK_MAX || data == NULL || (clen > 0 && check == NULL))
		return CS_EINVAL;
	return s->ops->rewrite(s, space, key, off, data, n, coff, check, clen);
}

int
store_rename(struct store *s, const char *space, const char *from, const char *to)
{
	if (!store_name_ok(space) || !store_name_ok(from) || !store_name_ok(to))
		return CS_EINVAL;
	return s->ops->rename(s, space, from, to);
}

int
store_lock(struct store *s, const char *name, unsigned wait_ms, struct store_lock **out)
{
	*out = NULL;
	if (!store_name_ok(name))
		return CS_EINVAL;
	return s->ops->lock(s, name, wait_ms, out);
}

int
store_lock_renew(struct store_lock *l)
{
	return l->ops->lock_renew(l);
}

int
store_unlock(struct store_lock *l)
{
	return l != NULL ? l->ops->unlock(l) : 0;
}

bool
store__lock_wait(const struct timespec *t0, unsigned wait_ms, unsigned *step_us)
{
	struct timespec now, d;
	uint64_t spent_us, left_us, us = *step_us;

	clock_gettime(CLOCK_MONOTONIC, &now);
	spent_us = (uint64_t)(now.tv_sec - t0->tv_sec) * 1000000u +
		   (uint64_t)((now.tv_nsec - t0->tv_nsec) / 1000);
	if (spent_us >= (uint64_t)wait_ms * 1000u) {
		errno = ETIMEDOUT;
		return false;
	}
	left_us = (uint64_t)wait_ms * 1000u - spent_us;
	/* Between half and all of the step (the clock's microseconds are noise
	 * enough): waiters that collided do not retry in lockstep. */
	us = us / 2 + us / 2 * (uint64_t)(now.tv_nsec / 1000 % 1000) / 999u;
	if (us > left_us)
		us = left_us;
	d.tv_sec = (time_t)(us / 1000000u);
	d.tv_nsec = (long)(us % 1000000u) * 1000;
	nanosleep(&d, NULL);
	*step_us = *step_us < 50000u ? *step_us * 2 : 100000u;
	return true;
}
