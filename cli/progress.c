/*
 * progress: the stderr progress bar.  The counters are atomics so that
 * transfer threads add without locking; drawing is guarded by a try-lock,
 * so a thread that finds another drawing simply carries on.
 */
#include "progress.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

struct progress {
	char label[64];
	_Atomic int64_t total;
	_Atomic int64_t done;
	_Atomic int64_t next_draw_ms;
	int64_t start_ms;
	pthread_mutex_t draw;
};

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* human(v, out, outsz): v bytes as "12.3 MiB". */
static void
human(double v, char *out, size_t outsz)
{
	static const char *const unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
	size_t u = 0;

	while (v >= 1024.0 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(out, outsz, "%.0f %s", v, unit[u]);
	else
		snprintf(out, outsz, "%.1f %s", v, unit[u]);
}

static int
columns(void)
{
	struct winsize ws;

	if (ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col >= 20)
		return ws.ws_col;
	return 80;
}

/* draw(p, t): one "\r"-started line, padded to erase the previous one. */
static void
draw(struct progress *p, int64_t t)
{
	int64_t total = atomic_load(&p->total), done = atomic_load(&p->done);
	double secs = (double)(t - p->start_ms) / 1000.0;
	char d[32], tot[32], rate[32], line[512], bar[64];
	int cols = columns(), n, width;

	if (done < 0)
		done = 0;
	human((double)done, d, sizeof(d));
	human(secs > 0.05 ? (double)done / secs : 0.0, rate, sizeof(rate));
	if (total > 0) {
		int pct = (int)(done >= total ? 100 : (done * 100) / total);

		human((double)total, tot, sizeof(tot));
		n = snprintf(line, sizeof(line), "%.32s %s / %s %3d%% %s/s", p->label, d, tot, pct,
			     rate);
		width = cols - n - 4;
		if (width > (int)sizeof(bar) - 1)
			width = (int)sizeof(bar) - 1;
		if (width >= 10) {
			int fill = (int)((int64_t)width * (done >= total ? total : done) / total);

			memset(bar, '#', (size_t)fill);
			memset(bar + fill, '.', (size_t)(width - fill));
			bar[width] = '\0';
			n = snprintf(line, sizeof(line), "%.32s [%s] %s / %s %3d%% %s/s", p->label,
				     bar, d, tot, pct, rate);
		}
	} else {
		n = snprintf(line, sizeof(line), "%.32s %s %s/s", p->label, d, rate);
	}
	if (n < 0)
		return;
	if (n >= cols)
		line[cols - 1] = '\0';
	fprintf(stderr, "\r%-*s", cols - 1, line);
	fflush(stderr);
}

struct progress *
progress_new(const char *label, int64_t total, bool quiet)
{
	struct progress *p;

	if (quiet || !isatty(STDERR_FILENO))
		return NULL;
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return NULL;
	snprintf(p->label, sizeof(p->label), "%s", label);
	atomic_init(&p->total, total);
	atomic_init(&p->done, 0);
	p->start_ms = now_ms();
	atomic_init(&p->next_draw_ms, p->start_ms);
	pthread_mutex_init(&p->draw, NULL);
	return p;
}

void
progress_set_total(struct progress *p, int64_t total)
{
	if (p != NULL)
		atomic_store(&p->total, total);
}

void
progress_add(struct progress *p, int64_t n)
{
	int64_t t;

	if (p == NULL)
		return;
	atomic_fetch_add(&p->done, n);
	t = now_ms();
	if (t < atomic_load(&p->next_draw_ms) || pthread_mutex_trylock(&p->draw) != 0)
		return;
	if (t >= atomic_load(&p->next_draw_ms)) {
		atomic_store(&p->next_draw_ms, t + PROGRESS_INTERVAL_MS);
		draw(p, t);
	}
	pthread_mutex_unlock(&p->draw);
}

void
progress_free(struct progress *p, bool ok)
{
	if (p == NULL)
		return;
	pthread_mutex_lock(&p->draw);
	if (ok)
		draw(p, now_ms());
	fputc(ok ? '\n' : '\r', stderr);
	if (!ok)
		fprintf(stderr, "%*s\r", columns() - 1, "");
	fflush(stderr);
	pthread_mutex_unlock(&p->draw);
	pthread_mutex_destroy(&p->draw);
	free(p);
}
