/*
 * err: human-readable text for the library's error codes.
 */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>

const char *
err_str(int code)
{
	switch (code) {
	case CS_OK:
		return "success";
	case CS_EINVAL:
		return "invalid argument";
	case CS_ENOMEM:
		return "out of memory";
	case CS_EAUTH:
		return "authentication failed";
	case CS_ECRYPTO:
		return "cryptographic library failure";
	case CS_ERANGE:
		return "value out of range";
	case CS_EIO:
		return "input/output error";
	case CS_ENOTSUP:
		return "not supported";
	case CS_ENOENT:
		return "not found";
	case CS_EEXIST:
		return "already exists";
	case CS_EPERM:
		return "permission denied";
	case CS_EAGAIN:
		return "try again later";
	default:
		return "unknown error";
	}
}

int
err_why(char *why, size_t whylen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (why != NULL && whylen > 0) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return rc;
}
