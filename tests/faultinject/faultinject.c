/*
 * faultinject: an LD_PRELOAD shim that makes chosen file-system calls of a
 * process fail, for tests of what cryptstored does when the disk fails or
 * fills up (tests/integration/fault_test.py).
 *
 * Only calls on files under one directory count: FI_PREFIX=/abs/dir (the
 * server's data directory).  Path calls (open, rename, unlink) are judged by
 * their path (relative ones by the directory fd they are relative to); fd
 * calls (write, fsync, fallocate, ...) by whether the fd was opened under
 * the prefix, which the shim remembers from the open, through dup, until
 * close or closedir.  Everything else passes through untouched.
 *
 * Arming: FI_CONTROL=path names a control file, re-read (at most one stat
 * per intercepted call) whenever its inode, size or times change.  Lines:
 *
 *   CALL NTH MODE ERRNO [short]   fail the NTH call of CALL counted since
 *                                 this file changed (MODE once), or the NTH
 *                                 and every later one (MODE forever), with
 *                                 -1 and errno ERRNO (a name, e.g. EIO or
 *                                 ENOSPC, or a number).  With "short" a
 *                                 write-type call first writes half of its
 *                                 bytes and returns that count; the next
 *                                 call of CALL then fails.
 *   CALL NTH delay MS             let the NTH call of CALL sleep MS
 *                                 milliseconds first, then run (to widen
 *                                 race windows)
 *   id TOKEN                      echoed into the stats file
 *   off | count | # ...           no rule (counting goes on)
 *
 * CALL is a function name (write, pwrite, pwritev, writev, fsync,
 * fdatasync, rename, renameat, renameat2, fallocate, posix_fallocate,
 * open, openat, unlink, unlinkat, ftruncate; 64-bit and fortified variants
 * count as their base name), "writes" (any call that takes space: the
 * writes and the fallocates) or "*" (any counted call).  Several lines arm
 * several rules, each with its own count.
 *
 * FI_STATS=path receives, after every counted call, the counts since the
 * last change of the control file ("id", "total", "failed", then one
 * "CALL COUNT" line per call); FI_TRACE=path gets one line per counted call
 * (sequence, call, file relative to the prefix, result), for reading what
 * an operation does.
 *
 * Invariants: the shim never changes a call it does not count; its own file
 * accesses go to the real functions and never count; counting and rule
 * state sit under one mutex, so concurrent threads see one sequence.
 */
#undef _FILE_OFFSET_BITS /* define open and open64 as the distinct symbols they are */
#undef _FORTIFY_SOURCE
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* The fortified entry points are declared only under _FORTIFY_SOURCE. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);

#define FD_MAX    65536 /* fds above are never tracked */
#define RULES_MAX 16
#define IOV_LOCAL 1024

enum call {
	C_WRITE,
	C_PWRITE,
	C_PWRITEV,
	C_WRITEV,
	C_FSYNC,
	C_FDATASYNC,
	C_RENAME,
	C_RENAMEAT,
	C_RENAMEAT2,
	C_FALLOCATE,
	C_POSIX_FALLOCATE,
	C_OPEN,
	C_OPENAT,
	C_UNLINK,
	C_UNLINKAT,
	C_FTRUNCATE,
	C_COUNT
};

static const char *const call_names[C_COUNT] = {
	"write",  "pwrite",   "pwritev",   "writev",    "fsync",           "fdatasync",
	"rename", "renameat", "renameat2", "fallocate", "posix_fallocate", "open",
	"openat", "unlink",   "unlinkat",  "ftruncate",
};

#define MASK(c) (1u << (c))
#define MASK_WRITES                                                                                \
	(MASK(C_WRITE) | MASK(C_PWRITE) | MASK(C_PWRITEV) | MASK(C_WRITEV) | MASK(C_FALLOCATE) |   \
	 MASK(C_POSIX_FALLOCATE))
#define MASK_SHORT (MASK(C_WRITE) | MASK(C_PWRITE) | MASK(C_PWRITEV) | MASK(C_WRITEV))

struct rule {
	unsigned mask;
	unsigned long nth, seen;
	bool forever, shortw, pending;
	int err;
	unsigned delay_ms; /* mode delay: sleep, then pass */
};

/* The real functions. */
static ssize_t (*r_write)(int, const void *, size_t);
static ssize_t (*r_pwrite)(int, const void *, size_t, off_t);
static ssize_t (*r_pwrite64)(int, const void *, size_t, off64_t);
static ssize_t (*r_pwritev)(int, const struct iovec *, int, off_t);
static ssize_t (*r_pwritev64)(int, const struct iovec *, int, off64_t);
static ssize_t (*r_pwritev2)(int, const struct iovec *, int, off_t, int);
static ssize_t (*r_pwritev64v2)(int, const struct iovec *, int, off64_t, int);
static ssize_t (*r_writev)(int, const struct iovec *, int);
static int (*r_fsync)(int);
static int (*r_fdatasync)(int);
static int (*r_rename)(const char *, const char *);
static int (*r_renameat)(int, const char *, int, const char *);
static int (*r_renameat2)(int, const char *, int, const char *, unsigned int);
static int (*r_fallocate)(int, int, off_t, off_t);
static int (*r_fallocate64)(int, int, off64_t, off64_t);
static int (*r_posix_fallocate)(int, off_t, off_t);
static int (*r_posix_fallocate64)(int, off64_t, off64_t);
static int (*r_open)(const char *, int, ...);
static int (*r_open64)(const char *, int, ...);
static int (*r_openat)(int, const char *, int, ...);
static int (*r_openat64)(int, const char *, int, ...);
static int (*r_unlink)(const char *);
static int (*r_unlinkat)(int, const char *, int);
static int (*r_ftruncate)(int, off_t);
static int (*r_ftruncate64)(int, off64_t);
static int (*r_close)(int);
static int (*r_closedir)(DIR *);
static int (*r_dup)(int);
static int (*r_dup2)(int, int);
static int (*r_dup3)(int, int, int);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static char prefix[PATH_MAX];
static size_t prefix_len;
static const char *control_path, *stats_path, *trace_path;
static int stats_fd = -1, trace_fd = -1;

/* Under mu. */
static char *fd_name[FD_MAX]; /* path of a tracked fd, relative to the prefix */
static struct rule rules[RULES_MAX];
static int nrules;
static unsigned long counts[C_COUNT], total, failed, seq;
static char arm_id[64];
static struct stat control_st;
static bool control_seen;

/* ---- set-up ---------------------------------------------------------------- */

static void *
real(const char *name)
{
	return dlsym(RTLD_NEXT, name);
}

#define RESOLVE(ptr, name)                                                                         \
	do {                                                                                       \
		void *p_ = real(name);                                                             \
		memcpy(&(ptr), &p_, sizeof(p_));                                                   \
	} while (0)

static void
init(void)
{
	const char *p;

	RESOLVE(r_write, "write");
	RESOLVE(r_pwrite, "pwrite");
	RESOLVE(r_pwrite64, "pwrite64");
	RESOLVE(r_pwritev, "pwritev");
	RESOLVE(r_pwritev64, "pwritev64");
	RESOLVE(r_pwritev2, "pwritev2");
	RESOLVE(r_pwritev64v2, "pwritev64v2");
	RESOLVE(r_writev, "writev");
	RESOLVE(r_fsync, "fsync");
	RESOLVE(r_fdatasync, "fdatasync");
	RESOLVE(r_rename, "rename");
	RESOLVE(r_renameat, "renameat");
	RESOLVE(r_renameat2, "renameat2");
	RESOLVE(r_fallocate, "fallocate");
	RESOLVE(r_fallocate64, "fallocate64");
	RESOLVE(r_posix_fallocate, "posix_fallocate");
	RESOLVE(r_posix_fallocate64, "posix_fallocate64");
	RESOLVE(r_open, "open");
	RESOLVE(r_open64, "open64");
	RESOLVE(r_openat, "openat");
	RESOLVE(r_openat64, "openat64");
	RESOLVE(r_unlink, "unlink");
	RESOLVE(r_unlinkat, "unlinkat");
	RESOLVE(r_ftruncate, "ftruncate");
	RESOLVE(r_ftruncate64, "ftruncate64");
	RESOLVE(r_close, "close");
	RESOLVE(r_closedir, "closedir");
	RESOLVE(r_dup, "dup");
	RESOLVE(r_dup2, "dup2");
	RESOLVE(r_dup3, "dup3");

	if ((p = getenv("FI_PREFIX")) != NULL && p[0] == '/' && strlen(p) < sizeof(prefix)) {
		snprintf(prefix, sizeof(prefix), "%s", p);
		prefix_len = strlen(prefix);
		while (prefix_len > 1 && prefix[prefix_len - 1] == '/')
			prefix[--prefix_len] = '\0';
	}
	control_path = getenv("FI_CONTROL");
	stats_path = getenv("FI_STATS");
	trace_path = getenv("FI_TRACE");
	if (trace_path != NULL)
		trace_fd = r_open(trace_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
}

static void
setup(void)
{
	pthread_once(&once, init);
}

/* ---- the control file ------------------------------------------------------ */

static const struct {
	const char *name;
	int value;
} errno_names[] = {
	{"EIO", EIO},       {"ENOSPC", ENOSPC}, {"EDQUOT", EDQUOT}, {"EROFS", EROFS},
	{"ENOMEM", ENOMEM}, {"EACCES", EACCES}, {"EPERM", EPERM},   {"ENOENT", ENOENT},
	{"EEXIST", EEXIST}, {"EINTR", EINTR},   {"EAGAIN", EAGAIN}, {"EFBIG", EFBIG},
	{"EBADF", EBADF},   {"EMFILE", EMFILE}, {"ENFILE", ENFILE}, {"EINVAL", EINVAL},
};

/* errno_name: "EIO" for EIO; a number for an errno without a name here. */
static const char *
errno_name(int e)
{
	static _Thread_local char num[16];

	for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
		if (errno_names[i].value == e)
			return errno_names[i].name;
	snprintf(num, sizeof(num), "%d", e);
	return num;
}

static int
errno_value(const char *s)
{
	char *end;
	long v;

	for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
		if (strcmp(s, errno_names[i].name) == 0)
			return errno_names[i].value;
	v = strtol(s, &end, 10);
	return *end == '\0' && v > 0 && v < 4096 ? (int)v : EIO;
}

static unsigned
call_mask(const char *s)
{
	if (strcmp(s, "*") == 0)
		return (1u << C_COUNT) - 1;
	if (strcmp(s, "writes") == 0)
		return MASK_WRITES;
	for (int i = 0; i < C_COUNT; i++)
		if (strcmp(s, call_names[i]) == 0)
			return MASK(i);
	return 0;
}

/* parse_control: replace the rules by those of text (under mu). */
static void
parse_control(char *text)
{
	char *line, *save = NULL;

	nrules = 0;
	arm_id[0] = '\0';
	for (line = strtok_r(text, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char f[5][64];
		int n = sscanf(line, "%63s %63s %63s %63s %63s", f[0], f[1], f[2], f[3], f[4]);
		struct rule *r;

		if (n >= 2 && strcmp(f[0], "id") == 0) {
			snprintf(arm_id, sizeof(arm_id), "%s", f[1]);
			continue;
		}
		if (n < 4 || nrules == RULES_MAX || call_mask(f[0]) == 0)
			continue;
		r = &rules[nrules++];
		memset(r, 0, sizeof(*r));
		r->mask = call_mask(f[0]);
		r->nth = strtoul(f[1], NULL, 10);
		if (r->nth == 0)
			r->nth = 1;
		r->forever = strcmp(f[2], "forever") == 0;
		if (strcmp(f[2], "delay") == 0)
			r->delay_ms = (unsigned)strtoul(f[3], NULL, 10);
		else
			r->err = errno_value(f[3]);
		r->shortw = n >= 5 && strcmp(f[4], "short") == 0;
	}
}

/* reload: re-read the control file if it changed; reset the counts (under mu). */
static void
reload(void)
{
	struct stat st;
	char buf[4096];
	ssize_t n = 0;
	int fd;

	if (control_path == NULL)
		return;
	if (stat(control_path, &st) != 0)
		memset(&st, 0, sizeof(st));
	if (control_seen && st.st_ino == control_st.st_ino && st.st_size == control_st.st_size &&
	    st.st_mtim.tv_sec == control_st.st_mtim.tv_sec &&
	    st.st_mtim.tv_nsec == control_st.st_mtim.tv_nsec &&
	    st.st_ctim.tv_sec == control_st.st_ctim.tv_sec &&
	    st.st_ctim.tv_nsec == control_st.st_ctim.tv_nsec)
		return;
	control_seen = true;
	control_st = st;
	if ((fd = r_open(control_path, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = read(fd, buf, sizeof(buf) - 1);
		r_close(fd);
	}
	buf[n > 0 ? n : 0] = '\0';
	parse_control(buf);
	memset(counts, 0, sizeof(counts));
	total = failed = seq = 0;
}

/* write_stats: the counts since arming, into FI_STATS (under mu). */
static void
write_stats(void)
{
	char buf[2048];
	int n;

	if (stats_path == NULL)
		return;
	if (stats_fd < 0 &&
	    (stats_fd = r_open(stats_path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) < 0)
		return;
	n = snprintf(buf, sizeof(buf), "id %s\ntotal %lu\nfailed %lu\n", arm_id[0] ? arm_id : "-",
		     total, failed);
	for (int i = 0; i < C_COUNT && n > 0 && (size_t)n < sizeof(buf); i++)
		n += snprintf(buf + n, sizeof(buf) - (size_t)n, "%s %lu\n", call_names[i],
			      counts[i]);
	if (n <= 0 || (size_t)n >= sizeof(buf))
		return;
	if (r_pwrite(stats_fd, buf, (size_t)n, 0) == n)
		(void)r_ftruncate(stats_fd, n);
}

/* ---- tracking -------------------------------------------------------------- */

static bool
tracked(int fd)
{
	return fd >= 0 && fd < FD_MAX && fd_name[fd] != NULL;
}

/* rel_name: path's name relative to the prefix, malloc'ed, or NULL if it is
 * not under the prefix (under mu). */
static char *
rel_name(int dirfd, const char *path)
{
	char cwd[PATH_MAX], *out = NULL;
	const char *abs = path;

	if (prefix_len == 0 || path == NULL)
		return NULL;
	if (path[0] != '/' && dirfd != AT_FDCWD) {
		if (!tracked(dirfd))
			return NULL;
		if (strcmp(fd_name[dirfd], ".") == 0)
			return strdup(path);
		if (asprintf(&out, "%s/%s", fd_name[dirfd], path) < 0)
			return NULL;
		return out;
	}
	if (path[0] != '/') {
		if (getcwd(cwd, sizeof(cwd)) == NULL || asprintf(&out, "%s/%s", cwd, path) < 0)
			return NULL;
		abs = out;
	}
	if (strncmp(abs, prefix, prefix_len) == 0 &&
	    (abs[prefix_len] == '\0' || abs[prefix_len] == '/')) {
		char *r = strdup(abs[prefix_len] == '\0' ? "." : abs + prefix_len + 1);

		free(out);
		return r;
	}
	free(out);
	return NULL;
}

static void
track(int fd, char *name)
{
	if (fd < 0 || fd >= FD_MAX) {
		free(name);
		return;
	}
	free(fd_name[fd]);
	fd_name[fd] = name;
}

static void
untrack(int fd)
{
	if (fd >= 0 && fd < FD_MAX) {
		free(fd_name[fd]);
		fd_name[fd] = NULL;
	}
}

/* ---- the decision ---------------------------------------------------------- */

enum verdict { PASS, FAIL, SHORT, DELAY };

/*
 * The pattern of every wrapper: under mu, reload the control file, decide
 * whether the call counts and how it ends, then make (or not) the real
 * call outside the lock, and record the result.
 */
struct pending {
	bool counted;
	unsigned long seq; /* this call's place in the sequence since arming */
	enum verdict v;
	int err;
	unsigned delay_ms;
	enum call c;
	char *name; /* malloc'ed, for the trace and for fds opened */
};

/*
 * decide(c, p): count a call of c, put its number since arming in p->seq,
 * and say whether it fails (with p->err), writes short or waits first
 * (p->delay_ms).  Under mu.
 */
static enum verdict
decide(enum call c, struct pending *p)
{
	enum verdict v = PASS;

	counts[c]++;
	total++;
	p->seq = ++seq;
	for (int i = 0; i < nrules; i++) {
		struct rule *r = &rules[i];

		if ((r->mask & MASK(c)) == 0)
			continue;
		r->seen++;
		if (v != PASS)
			continue;
		if (r->pending) {
			r->pending = false;
			v = FAIL;
		} else if (r->seen == r->nth || (r->forever && r->seen > r->nth)) {
			if (r->delay_ms > 0) {
				p->delay_ms = r->delay_ms;
				v = DELAY;
				continue;
			}
			v = r->shortw && (MASK(c) & MASK_SHORT) ? SHORT : FAIL;
			if (v == SHORT)
				r->pending = true;
		}
		if (v != PASS)
			p->err = r->err;
	}
	if (v == FAIL || v == SHORT)
		failed++;
	return v;
}

/* delay_if: a delayed call sleeps (outside the lock), then runs. */
static void
delay_if(struct pending *p)
{
	if (p->v == DELAY) {
		usleep(p->delay_ms * 1000u);
		p->v = PASS;
	}
}

static void
trace(const struct pending *p, long rv, int err)
{
	char line[PATH_MAX + 128];
	int n;

	if (trace_fd < 0)
		return;
	if (rv < 0)
		n = snprintf(line, sizeof(line), "%s %lu %s %s -1 %s\n", arm_id[0] ? arm_id : "-",
			     p->seq, call_names[p->c], p->name ? p->name : "?", errno_name(err));
	else
		n = snprintf(line, sizeof(line), "%s %lu %s %s %ld%s\n", arm_id[0] ? arm_id : "-",
			     p->seq, call_names[p->c], p->name ? p->name : "?", rv,
			     p->v == SHORT ? " short" : "");
	if (n > 0 && (size_t)n < sizeof(line))
		(void)r_write(trace_fd, line, (size_t)n);
}

static void
begin_fd(struct pending *p, enum call c, int fd)
{
	memset(p, 0, sizeof(*p));
	setup();
	p->c = c;
	pthread_mutex_lock(&mu);
	if (tracked(fd)) {
		reload();
		p->counted = true;
		p->name = strdup(fd_name[fd]);
		p->v = decide(c, p);
	}
	pthread_mutex_unlock(&mu);
	delay_if(p);
}

static void
begin_path(struct pending *p, enum call c, int dirfd, const char *path, int dirfd2,
	   const char *path2)
{
	memset(p, 0, sizeof(*p));
	setup();
	p->c = c;
	pthread_mutex_lock(&mu);
	p->name = rel_name(dirfd, path);
	if (p->name == NULL && path2 != NULL)
		p->name = rel_name(dirfd2, path2);
	if (p->name != NULL) {
		reload();
		p->counted = true;
		p->v = decide(c, p);
	}
	pthread_mutex_unlock(&mu);
	delay_if(p);
}

/* finish: record the outcome; returns rv with errno as the call left it. */
static long
finish(struct pending *p, long rv)
{
	int saved = errno;

	if (p->counted) {
		pthread_mutex_lock(&mu);
		trace(p, rv, saved);
		write_stats();
		pthread_mutex_unlock(&mu);
	}
	free(p->name);
	p->name = NULL;
	errno = saved;
	return rv;
}

static long
fail(struct pending *p)
{
	errno = p->err;
	return finish(p, -1);
}

/* opened: an open under the prefix gives a tracked fd; any other open
 * forgets whatever the fd number meant before. */
static int
opened(struct pending *p, int fd)
{
	int saved = errno;

	if (fd >= 0) {
		pthread_mutex_lock(&mu);
		if (p->counted)
			track(fd, strdup(p->name));
		else
			untrack(fd);
		pthread_mutex_unlock(&mu);
	}
	errno = saved;
	return (int)finish(p, fd);
}

/* half_iov: the first half of the bytes of iov into out; returns its count. */
static int
half_iov(const struct iovec *iov, int n, struct iovec *out)
{
	size_t want = 0, got = 0;
	int k = 0;

	for (int i = 0; i < n; i++)
		want += iov[i].iov_len;
	want /= 2;
	for (int i = 0; i < n && i < IOV_LOCAL && got < want; i++) {
		out[k] = iov[i];
		if (out[k].iov_len > want - got)
			out[k].iov_len = want - got;
		got += out[k].iov_len;
		k++;
	}
	return k;
}

/* ---- writes ------------------------------------------------------------------ */

ssize_t
write(int fd, const void *buf, size_t n)
{
	struct pending p;

	begin_fd(&p, C_WRITE, fd);
	if (p.v == FAIL || (p.v == SHORT && n < 2))
		return fail(&p);
	return finish(&p, r_write(fd, buf, p.v == SHORT ? n / 2 : n));
}

static ssize_t
do_pwrite(int fd, const void *buf, size_t n, off64_t off, bool is64)
{
	struct pending p;

	begin_fd(&p, C_PWRITE, fd);
	if (p.v == FAIL || (p.v == SHORT && n < 2))
		return fail(&p);
	if (p.v == SHORT)
		n /= 2;
	return finish(&p, is64 ? r_pwrite64(fd, buf, n, off) : r_pwrite(fd, buf, n, (off_t)off));
}

ssize_t
pwrite(int fd, const void *buf, size_t n, off_t off)
{
	return do_pwrite(fd, buf, n, off, false);
}

ssize_t
pwrite64(int fd, const void *buf, size_t n, off64_t off)
{
	return do_pwrite(fd, buf, n, off, true);
}

/* do_pwritev: every pwritev flavour; which says which real one to call. */
static ssize_t
do_pwritev(int fd, const struct iovec *iov, int n, off64_t off, int flags, int which)
{
	struct iovec half[IOV_LOCAL];
	struct pending p;
	ssize_t rv;

	begin_fd(&p, which == 4 ? C_WRITEV : C_PWRITEV, fd);
	if (p.v == FAIL)
		return fail(&p);
	if (p.v == SHORT) {
		int k = half_iov(iov, n, half);

		if (k == 0)
			return fail(&p);
		iov = half;
		n = k;
	}
	switch (which) {
	case 0:
		rv = r_pwritev(fd, iov, n, (off_t)off);
		break;
	case 1:
		rv = r_pwritev64(fd, iov, n, off);
		break;
	case 2:
		rv = r_pwritev2(fd, iov, n, (off_t)off, flags);
		break;
	case 3:
		rv = r_pwritev64v2(fd, iov, n, off, flags);
		break;
	default:
		rv = r_writev(fd, iov, n);
		break;
	}
	return finish(&p, rv);
}

ssize_t
pwritev(int fd, const struct iovec *iov, int n, off_t off)
{
	return do_pwritev(fd, iov, n, off, 0, 0);
}

ssize_t
pwritev64(int fd, const struct iovec *iov, int n, off64_t off)
{
	return do_pwritev(fd, iov, n, off, 0, 1);
}

ssize_t
pwritev2(int fd, const struct iovec *iov, int n, off_t off, int flags)
{
	return do_pwritev(fd, iov, n, off, flags, 2);
}

ssize_t
pwritev64v2(int fd, const struct iovec *iov, int n, off64_t off, int flags)
{
	return do_pwritev(fd, iov, n, off, flags, 3);
}

ssize_t
writev(int fd, const struct iovec *iov, int n)
{
	return do_pwritev(fd, iov, n, 0, 0, 4);
}

/* ---- syncs, space, sizes ------------------------------------------------------ */

int
fsync(int fd)
{
	struct pending p;

	begin_fd(&p, C_FSYNC, fd);
	if (p.v != PASS)
		return (int)fail(&p);
	return (int)finish(&p, r_fsync(fd));
}

int
fdatasync(int fd)
{
	struct pending p;

	begin_fd(&p, C_FDATASYNC, fd);
	if (p.v != PASS)
		return (int)fail(&p);
	return (int)finish(&p, r_fdatasync(fd));
}

int
fallocate(int fd, int mode, off_t off, off_t len)
{
	struct pending p;

	begin_fd(&p, C_FALLOCATE, fd);
	if (p.v != PASS)
		return (int)fail(&p);
	return (int)finish(&p, r_fallocate(fd, mode, off, len));
}

int
fallocate64(int fd, int mode, off64_t off, off64_t len)
{
	struct pending p;

	begin_fd(&p, C_FALLOCATE, fd);
	if (p.v != PASS)
		return (int)fail(&p);
	return (int)finish(&p, r_fallocate64(fd, mode, off, len));
}

/* posix_fallocate returns the error instead of setting errno. */
int
posix_fallocate(int fd, off_t off, off_t len)
{
	struct pending p;

	begin_fd(&p, C_POSIX_FALLOCATE, fd);
	if (p.v != PASS) {
		(void)fail(&p);
		return p.err;
	}
	return (int)finish(&p, r_posix_fallocate(fd, off, len));
}

int
posix_fallocate64(int fd, off64_t off, off64_t len)
{
	struct pending p;

	begin_fd(&p, C_POSIX_FALLOCATE, fd);
	if (p.v != PASS) {
		(void)fail(&p);
		return p.err;
	}
	return (int)finish(&p, r_posix_fallocate64(fd, off, len));
}

int
ftruncate(int fd, off_t len)
{
	struct pending p;

	begin_fd(&p, C_FTRUNCATE, fd);
	if (p.v != PASS)
		return (int)fail(&p);
	return (int)finish(&p, r_ftruncate(fd, len));
}

int
ftruncate64(int fd, off64_t len)
{
	struct pending p;

	begin_fd(&p, C_FTRUNCATE, fd);
	if (p.v != PASS)
		return (int)fail(&p);
	return (int)finish(&p, r_ftruncate64(fd, len));
}

/* ---- names ------------------------------------------------------------------ */

int
rename(const char *from, const char *to)
{
	struct pending p;

	begin_path(&p, C_RENAME, AT_FDCWD, from, AT_FDCWD, to);
	if (p.v != PASS)
		return (int)fail(&p);
	return (int)finish(&p, r_rename(from, to));
}

int
renameat(int fd1, const char *from, int fd2, const char *to)
{
	struct pending p;

	begin_path(&p, C_RENAMEAT, fd1, from, fd2, to);
	if (p.v != PASS)
		return (int)fail(&p);
	return (int)finish(&p, r_renameat(fd1, from, fd2, to));
}

int
renameat2(int fd1, const char *from, int fd2, const char *to, unsigned int flags)
{
	struct pending p;

	begin_path(&p, C_RENAMEAT2, fd1, from, fd2, to);
	if (p.v != PASS)
		return (int)fail(&p);
	return (int)finish(&p, r_renameat2(fd1, from, fd2, to, flags));
}

int
unlink(const char *path)
{
	struct pending p;

	begin_path(&p, C_UNLINK, AT_FDCWD, path, AT_FDCWD, NULL);
	if (p.v != PASS)
		return (int)fail(&p);
	return (int)finish(&p, r_unlink(path));
}

int
unlinkat(int dirfd, const char *path, int flags)
{
	struct pending p;

	begin_path(&p, C_UNLINKAT, dirfd, path, AT_FDCWD, NULL);
	if (p.v != PASS)
		return (int)fail(&p);
	return (int)finish(&p, r_unlinkat(dirfd, path, flags));
}

/* ---- opens ------------------------------------------------------------------ */

static bool
needs_mode(int flags)
{
	return (flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE;
}

/* do_open: every open flavour; dirfd is AT_FDCWD for open. */
static int
do_open(enum call c, int dirfd, const char *path, int flags, mode_t mode, bool is64)
{
	struct pending p;
	int fd;

	begin_path(&p, c, dirfd, path, AT_FDCWD, NULL);
	if (p.v != PASS)
		return (int)fail(&p);
	if (c == C_OPEN)
		fd = is64 ? r_open64(path, flags, mode) : r_open(path, flags, mode);
	else
		fd = is64 ? r_openat64(dirfd, path, flags, mode)
			  : r_openat(dirfd, path, flags, mode);
	return opened(&p, fd);
}

#define MODE_ARG(flags, last)                                                                      \
	mode_t mode = 0;                                                                           \
	if (needs_mode(flags)) {                                                                   \
		va_list ap;                                                                        \
		va_start(ap, last);                                                                \
		mode = (mode_t)va_arg(ap, int);                                                    \
		va_end(ap);                                                                        \
	}

int
open(const char *path, int flags, ...)
{
	MODE_ARG(flags, flags);
	return do_open(C_OPEN, AT_FDCWD, path, flags, mode, false);
}

int
open64(const char *path, int flags, ...)
{
	MODE_ARG(flags, flags);
	return do_open(C_OPEN, AT_FDCWD, path, flags, mode, true);
}

int
openat(int dirfd, const char *path, int flags, ...)
{
	MODE_ARG(flags, flags);
	return do_open(C_OPENAT, dirfd, path, flags, mode, false);
}

int
openat64(int dirfd, const char *path, int flags, ...)
{
	MODE_ARG(flags, flags);
	return do_open(C_OPENAT, dirfd, path, flags, mode, true);
}

int
__open_2(const char *path, int flags)
{
	return do_open(C_OPEN, AT_FDCWD, path, flags, 0, false);
}

int
__open64_2(const char *path, int flags)
{
	return do_open(C_OPEN, AT_FDCWD, path, flags, 0, true);
}

int
__openat_2(int dirfd, const char *path, int flags)
{
	return do_open(C_OPENAT, dirfd, path, flags, 0, false);
}

int
__openat64_2(int dirfd, const char *path, int flags)
{
	return do_open(C_OPENAT, dirfd, path, flags, 0, true);
}

/* ---- fd bookkeeping (never fails, never counts) -------------------------------- */

int
close(int fd)
{
	setup();
	pthread_mutex_lock(&mu);
	untrack(fd);
	pthread_mutex_unlock(&mu);
	return r_close(fd);
}

int
closedir(DIR *d)
{
	setup();
	pthread_mutex_lock(&mu);
	untrack(dirfd(d));
	pthread_mutex_unlock(&mu);
	return r_closedir(d);
}

/* dup_track: newfd names what oldfd names (or nothing). */
static int
dup_track(int oldfd, int newfd)
{
	int saved = errno;

	if (newfd >= 0 && newfd != oldfd) {
		pthread_mutex_lock(&mu);
		track(newfd, tracked(oldfd) ? strdup(fd_name[oldfd]) : NULL);
		pthread_mutex_unlock(&mu);
	}
	errno = saved;
	return newfd;
}

int
dup(int fd)
{
	setup();
	return dup_track(fd, r_dup(fd));
}

int
dup2(int fd, int fd2)
{
	setup();
	return dup_track(fd, r_dup2(fd, fd2));
}

int
dup3(int fd, int fd2, int flags)
{
	setup();
	return dup_track(fd, r_dup3(fd, fd2, flags));
}
