/*
 * selftest: known-answer tests of every primitive, through every engine
 * usable on this machine.  The server runs selftest_run() before it accepts
 * a connection and refuses to start if it fails; `cryptstore selftest` and
 * the unit tests run it too.
 *
 * Vectors: NIST SP 800-38A F.2.5/F.2.6 (CBC-AES256), GCM specification test
 * cases 13-16 (AES-256-GCM), RFC 4231 cases 1, 2, 6, 7 (HMAC-SHA-256),
 * RFC 5869 cases 1 and 3 (HKDF-SHA-256), RFC 5649 section 6 (key wrap).
 */
#ifndef CS_SELFTEST_H
#define CS_SELFTEST_H

#include <stddef.h>

#include "engine.h"

/*
 * selftest_engine(kind, why, whylen): run the cipher and MAC vectors through
 * one engine kind.  Returns 0, or CS_EAUTH with a description of the first
 * failing vector in why, or CS_ENOTSUP if the kind is unusable here.
 */
int selftest_engine(enum engine_kind kind, char *why, size_t whylen)
	__attribute__((warn_unused_result));

/* selftest_kdf(why, whylen) and selftest_keywrap(why, whylen): the HKDF and
 * key-wrap vectors.  Return 0 or CS_EAUTH with why filled. */
int selftest_kdf(char *why, size_t whylen) __attribute__((warn_unused_result));
int selftest_keywrap(char *why, size_t whylen) __attribute__((warn_unused_result));

/*
 * selftest_run(why, whylen): everything above, for every usable engine.
 * Returns 0 or the first failure.
 */
int selftest_run(char *why, size_t whylen) __attribute__((warn_unused_result));

#endif /* CS_SELFTEST_H */
