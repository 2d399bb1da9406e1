/*
 * syscost: what one system call of the upload loop costs on this machine,
 * the figure behind "epoll, not io_uring" (docs/BENCHMARKS.md, "Event
 * loops").  An io_uring loop would save the calls around the data, not the
 * copy in recvmsg: re-arming a socket (epoll_ctl), waiting (epoll_wait), an
 * empty receive, and the eventfd a sealing worker wakes the loop with.
 * Times each of them in a tight loop (median of 5 rounds of N calls) and
 * prints nanoseconds per call; bench/syscalls.sh counts them per MiB.
 *
 *   syscost [--calls N]     (default 1000000 per round)
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 5

enum call { C_CTL, C_WAIT, C_RECV, C_EFD, NCALLS };

static const char *const names[NCALLS] = {
	"epoll_ctl(MOD), re-arm a one-shot socket",
	"epoll_wait, timeout 0, nothing ready",
	"recvmsg, MSG_DONTWAIT, nothing there (EAGAIN)",
	"eventfd write + read (a worker's kick, the loop's drain)",
};

static double
now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int
main(int argc, char **argv)
{
	long n = 1000000;
	int sv[2], ep, efd;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLONESHOT};
	double t[NCALLS][ROUNDS];
	char b[64];
	struct iovec v = {b, sizeof(b)};
	struct msghdr m;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc) {
			n = strtol(argv[++i], NULL, 10);
		} else {
			fprintf(stderr, "usage: syscost [--calls N]\n%s",
				strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0
					? ""
					: "syscost: unknown argument\n");
			return strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0 ? 0 : 2;
		}
	}
	if (n < 1000 || n > 1000000000L) {
		fprintf(stderr, "syscost: --calls must be 1000..1000000000\n");
		return 2;
	}
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0 || (ep = epoll_create1(0)) < 0 ||
	    (efd = eventfd(0, EFD_NONBLOCK)) < 0) {
		perror("syscost: set-up");
		return 1;
	}
	ev.data.fd = sv[0];
	if (epoll_ctl(ep, EPOLL_CTL_ADD, sv[0], &ev) != 0) {
		perror("syscost: epoll_ctl");
		return 1;
	}
	memset(&m, 0, sizeof(m));
	m.msg_iov = &v;
	m.msg_iovlen = 1;
	for (int r = 0; r < ROUNDS; r++) {
		struct epoll_event out[8];
		uint64_t one = 1, got;
		double t0 = now();

		for (long i = 0; i < n; i++)
			(void)epoll_ctl(ep, EPOLL_CTL_MOD, sv[0], &ev);
		t[C_CTL][r] = now() - t0;
		t0 = now();
		for (long i = 0; i < n; i++)
			(void)epoll_wait(ep, out, 8, 0);
		t[C_WAIT][r] = now() - t0;
		t0 = now();
		for (long i = 0; i < n; i++)
			if (recvmsg(sv[0], &m, MSG_DONTWAIT) >= 0 || errno != EAGAIN)
				return 1;
		t[C_RECV][r] = now() - t0;
		t0 = now();
		for (long i = 0; i < n; i++)
			if (write(efd, &one, sizeof(one)) != sizeof(one) ||
			    read(efd, &got, sizeof(got)) != sizeof(got))
				return 1;
		t[C_EFD][r] = now() - t0;
	}
	printf("%ld calls a round, median of %d rounds, ns per call:\n", n, ROUNDS);
	for (int c = 0; c < NCALLS; c++) {
		qsort(t[c], ROUNDS, sizeof(double), cmp);
		printf("%8.1f  %s\n", t[c][ROUNDS / 2] / (double)n * 1e9, names[c]);
	}
	close(efd);
	close(ep);
	close(sv[0]);
	close(sv[1]);
	return 0;
}
