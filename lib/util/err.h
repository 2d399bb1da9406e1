/*
 * err: the library's error codes.
 *
 * Every fallible libcryptstore function returns 0 on success or one of the
 * negative CS_E* codes below.  The codes are deliberately coarse: callers map
 * them to an HTTP status, a CLI exit code or a log line.  In particular every
 * way in which stored ciphertext can fail to verify (bad tag, truncation,
 * reordering, wrong key, wrong label) is the single code CS_EAUTH, so that no
 * caller can turn the difference into an oracle.
 */
#ifndef CS_ERR_H
#define CS_ERR_H

#include <stddef.h>

enum cs_err {
	CS_OK = 0,
	CS_EINVAL = -1,  /* malformed argument or input */
	CS_ENOMEM = -2,  /* allocation failed */
	CS_EAUTH = -3,   /* ciphertext, tag or header failed to verify */
	CS_ECRYPTO = -4, /* the crypto library itself failed */
	CS_ERANGE = -5,  /* a length or value is out of the allowed range */
	CS_EIO = -6,     /* an I/O error; errno holds the detail */
	CS_ENOTSUP = -7, /* a version, suite or feature this build lacks */
	CS_ENOENT = -8,  /* no such object, key or entry */
	CS_EEXIST = -9,  /* already exists */
	CS_EPERM = -10,  /* not allowed by policy or file permissions */
	CS_EAGAIN = -11, /* not now: would wait (a non-blocking call); try again later */
};

/* err_str(code): a short, static, human-readable description of code. */
const char *err_str(int code);

/*
 * err_why(why, whylen, rc, fmt, ...): format a message for people into why
 * (if why is not NULL and whylen > 0) and return rc, so that a failure path
 * reads `return err_why(why, whylen, CS_EIO, "cannot open %s", path);`.
 */
int err_why(char *why, size_t whylen, int rc, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

#endif /* CS_ERR_H */
