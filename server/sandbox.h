/*
 * sandbox: confine the serving process once start-up is over: set
 * no-new-privileges and install a seccomp-bpf allow-list of the system
 * calls that serving needs; any other call kills the process.  The filter
 * is synchronised to every thread of the process (TSYNC), and threads
 * created later inherit it.
 */
#ifndef CS_SANDBOX_H
#define CS_SANDBOX_H

#include <stddef.h>

/* sandbox_enter(why, whylen): 0, or an error with why (CS_ENOTSUP in
 * sanitizer builds, whose runtimes need calls of their own). */
int sandbox_enter(char *why, size_t whylen) __attribute__((warn_unused_result));

#endif /* CS_SANDBOX_H */
