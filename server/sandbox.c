/*
 * sandbox: the seccomp-bpf allow-list of the serving process.  See
 * sandbox.h.
 *
 * The list is what cryptstored does after start-up, and nothing it does
 * only at start-up: no socket(), bind(), listen(), connect() (the sockets
 * exist), no execve, no fork, no ptrace, no mount, no module or key-ring
 * calls, no chown/chmod (files are created with their mode), no setuid
 * family (privileges are already dropped).  Everything else is killed:
 * SCMP_ACT_KILL_PROCESS, so a compromised connection thread cannot try its
 * luck with a forbidden call and carry on.
 */
#include "sandbox.h"
#include "log.h"
#include "util/err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <termios.h>

#include <seccomp.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define CS_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define CS_SANITIZED 1
#endif
#endif

/* The calls of the serving process, by name (resolved by libseccomp). */
static const char *const allowed[] = {
	/* I/O on descriptors it has or opens */
	"read",
	"write",
	"readv",
	"writev",
	"pread64",
	"pwrite64",
	"preadv",
	"pwritev",
	"preadv2",
	"pwritev2",
	"lseek",
	"close",
	"dup",
	"dup3",
	"fcntl",
	"fstat",
	"newfstatat",
	"statx",
	"stat",
	"lstat",
	"fsync",
	"fdatasync",
	"fallocate",
	"fstatfs", /* store_fs: free space on tmpfs */
	"ftruncate",
	"getdents64",
	/* files of the store, keystore and audit log */
	"openat",
	"open",
	"unlinkat",
	"unlink",
	"renameat",
	"renameat2",
	"rename",
	"mkdirat",
	"mkdir",
	"rmdir",
	"readlink",
	"readlinkat",
	"faccessat",
	"faccessat2",
	"access",
	/* sockets that exist */
	"accept4",
	"accept",
	"recvfrom",
	"recvmsg",
	"sendto",
	"sendmsg",
	"shutdown",
	"setsockopt",
	"getsockopt",
	"getsockname",
	"getpeername",
	/* waiting */
	"poll",
	"ppoll",
	"epoll_wait",
	"epoll_pwait",
	"epoll_ctl",
	"futex",
	"nanosleep",
	"clock_nanosleep",
	"sched_yield",
	"restart_syscall",
	/* memory */
	"mmap",
	"munmap",
	"mprotect",
	"madvise",
	"brk",
	"mremap",
	"mlock",
	"munlock",
	/* threads */
	"clone",
	"clone3",
	"set_robust_list",
	"rseq",
	"exit",
	"exit_group",
	"gettid",
	"getpid",
	"tgkill",
	"rt_sigprocmask",
	"rt_sigreturn",
	"sched_getaffinity",
	/* time, randomness, identity */
	"clock_gettime",
	"gettimeofday",
	"time",
	"getrandom",
	"getuid",
	"geteuid",
	"getgid",
	"getegid",
	"uname",
};

int
sandbox_enter(char *why, size_t whylen)
{
	scmp_filter_ctx f;
	int rc;

#ifdef CS_SANITIZED
	/* The sanitizers' runtimes make calls of their own (sigaltstack,
	 * prctl, process_vm_readv ...); the sandbox is for release builds. */
	return err_why(why, whylen, CS_ENOTSUP, "not in a sanitizer build");
#endif
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		return err_why(why, whylen, CS_EIO, "no-new-privileges: %s", strerror(errno));
	if ((f = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL)
		return err_why(why, whylen, CS_ENOMEM, "seccomp_init failed");
	/* Every thread of the process, not only the caller (TSYNC). */
	if ((rc = seccomp_attr_set(f, SCMP_FLTATR_CTL_TSYNC, 1)) != 0) {
		seccomp_release(f);
		return err_why(why, whylen, CS_EIO, "seccomp TSYNC: %s", strerror(-rc));
	}
	for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++) {
		int nr = seccomp_syscall_resolve_name(allowed[i]);

		if (nr == __NR_SCMP_ERROR)
			continue; /* not on this architecture (e.g. open on arm64) */
		if ((rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, nr, 0)) != 0) {
			seccomp_release(f);
			return err_why(why, whylen, CS_EIO, "seccomp rule %s: %s", allowed[i],
				       strerror(-rc));
		}
	}
	/* ioctl only to ask whether a descriptor is a terminal (stdio). */
	if ((rc = seccomp_rule_add(f, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 1,
				   SCMP_A1(SCMP_CMP_EQ, TCGETS, 0))) != 0 ||
	    (rc = seccomp_load(f)) != 0) {
		seccomp_release(f);
		return err_why(why, whylen, CS_EIO, "seccomp: %s", strerror(-rc));
	}
	seccomp_release(f);
	return 0;
}
