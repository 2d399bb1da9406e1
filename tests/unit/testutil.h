/*
 * testutil: small helpers shared by the unit tests (header-only: each test
 * program is one translation unit plus the library).
 */
#ifndef CS_TESTUTIL_H
#define CS_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/hex.h"

/* A fixed-seed xorshift PRNG: reproducible "random" test data. */
static inline uint64_t
tu_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

static inline void
tu_fill(uint64_t *s, void *buf, size_t n)
{
	uint8_t *p = buf;

	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(tu_rand(s) >> 24);
}

/* tu_unhex: decode a hex literal into out (asserting it fits); returns length. */
static inline size_t
tu_unhex(uint8_t *out, size_t outsz, const char *hex)
{
	long n = hex_decode(out, outsz, hex, strlen(hex));

	assert_true(n >= 0);
	return (size_t)n;
}

#endif /* CS_TESTUTIL_H */
