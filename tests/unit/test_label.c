/*
 * test_label: unit tests for lib/label (MLS levels and ranges).
 *
 * Every parse goes through a heap copy of exactly the given length, so that
 * AddressSanitizer reports any read past the end of the input.  Random tests
 * use a fixed-seed PRNG, so a failure reproduces exactly.  Where it is cheap,
 * results are checked against small independent reference implementations
 * (formatter, parser, dominance, the LABEL_STR_MAX bound) rather than against
 * the module's own output.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "label/label.h"
#include "util/err.h"

/* A byte string that may hold NULs: B("s2\0") has length 3. */
struct bytes {
	const char *s;
	size_t len;
};
/* clang-format off */
#define B(lit) {(lit), sizeof(lit) - 1}
/* clang-format on */

/* splitmix64: a small, fixed-seed PRNG; the state lives with the caller. */
static uint64_t
rng_next(uint64_t *st)
{
	uint64_t z = (*st += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static unsigned int
rng_below(uint64_t *st, unsigned int n)
{
	return (unsigned int)(rng_next(st) % n);
}

/* esc(s, len, out, outsz): printable rendering of a byte string for failure messages. */
static const char *
esc(const char *s, size_t len, char *out, size_t outsz)
{
	size_t i, o = 0;

	for (i = 0; i < len && o + 5 < outsz; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '\\')
			out[o++] = (char)ch;
		else
			o += (size_t)snprintf(out + o, outsz - o, "\\x%02x", ch);
	}
	out[o] = '\0';
	return out;
}

/* exact_copy(s, len): a heap copy of exactly len bytes (no NUL), so overreads are caught. */
static char *
exact_copy(const char *s, size_t len)
{
	char *p;

	/* Test inputs are short; the bound also lets the compiler see malloc's size is sane. */
	if (len > (size_t)1 << 20) {
		fail_msg("test input of %zu bytes", len);
		return NULL;
	}
	p = malloc(len > 0 ? len : 1);
	assert_non_null(p);
	if (len > 0)
		memcpy(p, s, len);
	return p;
}

static int
parse_exact(const char *s, size_t len, struct label *out, const char **why)
{
	char *p = exact_copy(s, len);
	int rc = label_parse(p, len, out, why);

	free(p);
	return rc;
}

static int
range_parse_exact(const char *s, size_t len, struct label_range *out, const char **why)
{
	char *p = exact_copy(s, len);
	int rc = label_range_parse(p, len, out, why);

	free(p);
	return rc;
}

/* must_parse(s): parse a NUL-terminated text that the test knows to be valid. */
static struct label
must_parse(const char *s)
{
	struct label l;
	const char *why = NULL;
	int rc = parse_exact(s, strlen(s), &l, &why);

	if (rc != 0)
		fail_msg("parse \"%s\" failed: %s", s, why != NULL ? why : "(no reason)");
	return l;
}

static struct label_range
must_parse_range(const char *s)
{
	struct label_range r;
	const char *why = NULL;
	int rc = range_parse_exact(s, strlen(s), &r, &why);

	if (rc != 0)
		fail_msg("range parse \"%s\" failed: %s", s, why != NULL ? why : "(no reason)");
	return r;
}

static unsigned int
count_cats(const struct label *l)
{
	unsigned int i, n = 0;

	for (i = 0; i < LABEL_CAT_WORDS; i++)
		n += (unsigned int)__builtin_popcountll(l->cats[i]);
	return n;
}

static bool
ref_has(const struct label *l, unsigned int c)
{
	return (l->cats[c / 64] >> (c % 64)) & 1u;
}

/* ref_format(l, buf, bufsz): an independent, naive canonical formatter. */
static void
ref_format(const struct label *l, char *buf, size_t bufsz)
{
	size_t o;
	unsigned int a, b;
	bool first = true;

	o = (size_t)snprintf(buf, bufsz, "s%u", l->sens);
	for (a = 0; a < LABEL_NCATS; a = b + 1) {
		if (!ref_has(l, a)) {
			b = a;
			continue;
		}
		for (b = a; b + 1 < LABEL_NCATS && ref_has(l, b + 1); b++)
			;
		o += (size_t)snprintf(buf + o, bufsz - o, "%s", first ? ":" : ",");
		first = false;
		if (b == a)
			o += (size_t)snprintf(buf + o, bufsz - o, "c%u", a);
		else if (b == a + 1)
			o += (size_t)snprintf(buf + o, bufsz - o, "c%u,c%u", a, b);
		else
			o += (size_t)snprintf(buf + o, bufsz - o, "c%u.c%u", a, b);
		assert_true(o < bufsz);
	}
}

/* ref_dominates(a, b): dominance, category by category. */
static bool
ref_dominates(const struct label *a, const struct label *b)
{
	unsigned int c;

	if (a->sens < b->sens)
		return false;
	for (c = 0; c < LABEL_NCATS; c++) {
		if (ref_has(b, c) && !ref_has(a, c))
			return false;
	}
	return true;
}

/* ref_num(s, n, max, out): strict decimal number in [0, max], no leading zeros. */
static bool
ref_num(const char *s, size_t n, unsigned int max, unsigned int *out)
{
	unsigned long v = 0;
	size_t i;

	if (n == 0 || n > 4 || (n > 1 && s[0] == '0'))
		return false;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > max)
		return false;
	*out = (unsigned int)v;
	return true;
}

/* ref_parse(s, n, out): an independent level parser that splits on ':' ',' and '.'. */
static bool
ref_parse(const char *s, size_t n, struct label *out)
{
	const char *colon, *p, *end, *comma, *dot;
	unsigned int a, b, c;

	if (n == 0 || n > LABEL_STR_MAX - 1 || s[0] != 's')
		return false;
	memset(out, 0, sizeof(*out));
	colon = memchr(s, ':', n);
	if (!ref_num(s + 1, (size_t)((colon != NULL ? colon : s + n) - s - 1), LABEL_SENS_MAX,
		     &out->sens))
		return false;
	if (colon == NULL)
		return true;
	p = colon + 1;
	end = s + n;
	if (p == end)
		return false;
	for (;;) {
		comma = memchr(p, ',', (size_t)(end - p));
		if (comma == NULL)
			comma = end;
		if (comma == p || *p != 'c')
			return false;
		dot = memchr(p, '.', (size_t)(comma - p));
		if (dot == NULL) {
			if (!ref_num(p + 1, (size_t)(comma - p - 1), LABEL_CAT_MAX, &a))
				return false;
			b = a;
		} else {
			if (!ref_num(p + 1, (size_t)(dot - p - 1), LABEL_CAT_MAX, &a))
				return false;
			if (comma - dot < 2 || dot[1] != 'c')
				return false;
			if (!ref_num(dot + 2, (size_t)(comma - dot - 2), LABEL_CAT_MAX, &b))
				return false;
			if (a >= b)
				return false;
		}
		for (c = a; c <= b; c++)
			out->cats[c / 64] |= UINT64_C(1) << (c % 64);
		if (comma == end)
			return true;
		p = comma + 1;
		if (p == end)
			return false;
	}
}

/* rand_label(st, l): a random valid label, with a mix of sparse, dense and run-heavy sets. */
static void
rand_label(uint64_t *st, struct label *l)
{
	unsigned int i, n, a, b;

	memset(l, 0, sizeof(*l));
	l->sens = rng_below(st, LABEL_SENS_MAX + 1);
	switch (rng_below(st, 6)) {
	case 0: /* no categories */
		break;
	case 1: /* sparse words */
		for (i = 0; i < LABEL_CAT_WORDS; i++)
			l->cats[i] = rng_next(st) & rng_next(st) & rng_next(st);
		break;
	case 2: /* half density */
		for (i = 0; i < LABEL_CAT_WORDS; i++)
			l->cats[i] = rng_next(st);
		break;
	case 3: /* dense words, some full, some empty */
		for (i = 0; i < LABEL_CAT_WORDS; i++) {
			switch (rng_below(st, 3)) {
			case 0:
				l->cats[i] = 0;
				break;
			case 1:
				l->cats[i] = UINT64_MAX;
				break;
			default:
				l->cats[i] = rng_next(st) | rng_next(st);
				break;
			}
		}
		break;
	case 4: /* a few runs */
		n = rng_below(st, 8);
		for (i = 0; i < n; i++) {
			a = rng_below(st, LABEL_NCATS);
			b = a + rng_below(st, 200);
			for (; a <= b && a < LABEL_NCATS; a++)
				l->cats[a / 64] |= UINT64_C(1) << (a % 64);
		}
		break;
	default: /* a few single categories, often at edges */
		n = 1 + rng_below(st, 6);
		for (i = 0; i < n; i++) {
			a = rng_below(st, 4) == 0 ? (rng_below(st, 2) ? 0 : LABEL_CAT_MAX)
						  : rng_below(st, LABEL_NCATS);
			l->cats[a / 64] |= UINT64_C(1) << (a % 64);
		}
		break;
	}
}

/* worst_label(l, sens): the set {c : c mod 3 != 1}, whose canonical text is the longest. */
static void
worst_label(struct label *l, unsigned int sens)
{
	unsigned int c;

	assert_int_equal(label_init_sens(l, sens), 0);
	for (c = 0; c < LABEL_NCATS; c++) {
		if (c % 3 != 1)
			assert_int_equal(label_add_cat(l, c), 0);
	}
}

static void
test_parse_fields(void **state)
{
	struct label l;
	unsigned int c, i;

	(void)state;
	l = must_parse("s0");
	assert_int_equal(l.sens, 0);
	assert_int_equal(count_cats(&l), 0);

	l = must_parse("s15");
	assert_int_equal(l.sens, 15);
	assert_int_equal(count_cats(&l), 0);

	l = must_parse("s2:c1");
	assert_int_equal(l.sens, 2);
	assert_int_equal(count_cats(&l), 1);
	assert_true(label_has_cat(&l, 1));

	l = must_parse("s2:c1,c4.c7");
	assert_int_equal(count_cats(&l), 5);
	for (c = 0; c < 10; c++)
		assert_int_equal(label_has_cat(&l, c), c == 1 || (c >= 4 && c <= 7));

	l = must_parse("s0:c0.c1023");
	for (i = 0; i < LABEL_CAT_WORDS; i++)
		assert_true(l.cats[i] == UINT64_MAX);

	l = must_parse("s3:c1023");
	assert_int_equal(count_cats(&l), 1);
	assert_true(label_has_cat(&l, 1023));
	assert_true(l.cats[15] == UINT64_C(1) << 63);

	l = must_parse("s1:c63,c64");
	assert_true(l.cats[0] == UINT64_C(1) << 63);
	assert_true(l.cats[1] == 1);

	l = must_parse("s10:c60.c130");
	assert_int_equal(l.sens, 10);
	assert_int_equal(count_cats(&l), 71);
	assert_false(label_has_cat(&l, 59));
	assert_true(label_has_cat(&l, 60));
	assert_true(label_has_cat(&l, 130));
	assert_false(label_has_cat(&l, 131));

	l = must_parse("s1:c0.c63,c128.c191");
	assert_true(l.cats[0] == UINT64_MAX && l.cats[1] == 0 && l.cats[2] == UINT64_MAX);
}

static void
test_canonical_roundtrip(void **state)
{
	static const char *const canon[] = {
		"s0",
		"s15",
		"s2:c1",
		"s2:c1,c4.c7",
		"s0:c0",
		"s0:c0.c1023",
		"s0:c1,c2",
		"s0:c0,c2",
		"s1:c0.c2",
		"s1:c63,c64",
		"s1:c62.c65",
		"s1:c0,c1023",
		"s1:c1022,c1023",
		"s1:c1021.c1023",
		"s9:c0,c2,c4.c6,c8,c9,c100.c999",
		"s15:c0.c1022",
		"s15:c1.c1023",
		"s7:c10,c12,c14,c16",
		"s3:c0.c63,c65.c127,c129",
	};
	char buf[LABEL_STR_MAX];
	struct label l, back;
	size_t i;
	int n;

	(void)state;
	for (i = 0; i < sizeof(canon) / sizeof(canon[0]); i++) {
		l = must_parse(canon[i]);
		n = label_format(&l, buf, sizeof(buf));
		assert_int_equal(n, (int)strlen(canon[i]));
		assert_string_equal(buf, canon[i]);
		back = must_parse(buf);
		assert_true(label_equal(&l, &back));
	}
}

static void
test_canonical_forms(void **state)
{
	static const struct {
		const char *in;
		const char *out;
	} t[] = {
		{"s2:c7,c4.c6,c1", "s2:c1,c4.c7"},
		{"s0:c1,c2", "s0:c1,c2"},
		{"s0:c1.c2", "s0:c1,c2"},
		{"s0:c1,c2,c3", "s0:c1.c3"},
		{"s0:c3,c2,c1", "s0:c1.c3"},
		{"s0:c5,c5,c5", "s0:c5"},
		{"s0:c1.c5,c3.c9", "s0:c1.c9"},
		{"s0:c1.c5,c6.c9", "s0:c1.c9"},
		{"s0:c1.c5,c7.c9", "s0:c1.c5,c7.c9"},
		{"s0:c0.c511,c512.c1023", "s0:c0.c1023"},
		{"s0:c10,c9,c8,c7", "s0:c7.c10"},
		{"s4:c63,c65,c64", "s4:c63.c65"},
		{"s0:c0.c1023,c5", "s0:c0.c1023"},
		{"s1:c2,c0", "s1:c0,c2"},
		{"s1:c1023,c1021", "s1:c1021,c1023"},
		{"s1:c1022.c1023,c1021", "s1:c1021.c1023"},
		{"s6:c4.c6,c1.c2", "s6:c1,c2,c4.c6"},
		{"s6:c2.c3,c1", "s6:c1.c3"},
	};
	char buf[LABEL_STR_MAX], buf2[LABEL_STR_MAX];
	struct label l;
	size_t i;
	int n;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		l = must_parse(t[i].in);
		n = label_format(&l, buf, sizeof(buf));
		if (n < 0 || strcmp(buf, t[i].out) != 0)
			fail_msg("\"%s\" formatted as \"%s\" (%d), want \"%s\"", t[i].in, buf, n,
				 t[i].out);
		/* The canonical form is a fixed point. */
		l = must_parse(buf);
		assert_int_equal(label_format(&l, buf2, sizeof(buf2)), n);
		assert_string_equal(buf, buf2);
	}
}

static void
test_roundtrip_random(void **state)
{
	uint64_t st = UINT64_C(0x1abe15eed);
	char buf[LABEL_STR_MAX], ref[LABEL_STR_MAX], buf2[LABEL_STR_MAX];
	struct label l, back;
	const char *why;
	int i, n;

	(void)state;
	for (i = 0; i < 5000; i++) {
		rand_label(&st, &l);
		n = label_format(&l, buf, sizeof(buf));
		assert_true(n >= 0 && n < LABEL_STR_MAX);
		assert_int_equal((size_t)n, strlen(buf));
		ref_format(&l, ref, sizeof(ref));
		if (strcmp(buf, ref) != 0)
			fail_msg("iteration %d: \"%s\" != reference \"%s\"", i, buf, ref);

		why = NULL;
		if (parse_exact(buf, (size_t)n, &back, &why) != 0)
			fail_msg("iteration %d: \"%s\" rejected: %s", i, buf, why);
		assert_true(label_equal(&l, &back));
		assert_int_equal(label_format(&back, buf2, sizeof(buf2)), n);
		assert_string_equal(buf, buf2);
	}
}

static void
test_dominance_table(void **state)
{
	static const struct {
		const char *a;
		const char *b;
		bool a_dom_b;
		bool b_dom_a;
	} t[] = {
		{"s0", "s0", true, true},
		{"s1", "s0", true, false},
		{"s15", "s0", true, false},
		{"s2:c1", "s2", true, false},
		{"s2:c1", "s1:c1", true, false},
		{"s2:c1", "s2:c2", false, false},    /* incomparable: disjoint categories */
		{"s3", "s1:c1", false, false},       /* incomparable: sens vs category */
		{"s1:c1,c2", "s3:c1", false, false}, /* incomparable the other way round */
		{"s3:c1,c2", "s1:c1", true, false},
		{"s15:c0.c1023", "s0", true, false},
		{"s15:c0.c1023", "s15:c0.c1023", true, true},
		{"s15:c0.c1023", "s14:c0.c1023", true, false},
		{"s5:c0.c1022", "s5:c1023", false, false},
		{"s5:c0.c1022", "s5:c1.c1023", false, false},
		{"s1:c1,c4.c7", "s1:c5", true, false},
		{"s1:c1,c4.c7", "s1:c3", false, false},
		{"s0:c64", "s0:c63", false, false},
		{"s7:c100.c200", "s7:c150.c250", false, false},
		{"s7:c100.c250", "s7:c150.c250", true, false},
		{"s7:c0,c1023", "s7:c1023", true, false},
		{"s4:c2,c1", "s4:c1,c2", true, true},
	};
	struct label a, b;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		a = must_parse(t[i].a);
		b = must_parse(t[i].b);
		if (label_dominates(&a, &b) != t[i].a_dom_b ||
		    label_dominates(&b, &a) != t[i].b_dom_a)
			fail_msg("dominance of %s vs %s is wrong", t[i].a, t[i].b);
		assert_int_equal(label_equal(&a, &b), t[i].a_dom_b && t[i].b_dom_a);
		assert_int_equal(label_equal(&b, &a), t[i].a_dom_b && t[i].b_dom_a);
		assert_true(label_dominates(&a, &a) && label_equal(&a, &a));
	}
}

static void
test_dominance_random(void **state)
{
	uint64_t st = 42;
	struct label a, b;
	unsigned int i, k, c;
	unsigned int hits = 0;

	(void)state;
	for (i = 0; i < 3000; i++) {
		rand_label(&st, &a);
		switch (rng_below(&st, 3)) {
		case 0: /* b unrelated */
			rand_label(&st, &b);
			break;
		case 1: /* b below a: lower sens, a subset of cats */
			b = a;
			b.sens = rng_below(&st, a.sens + 1);
			for (k = 0; k < LABEL_CAT_WORDS; k++)
				b.cats[k] &= rng_next(&st);
			break;
		default: /* b almost below a: one extra category */
			b = a;
			c = rng_below(&st, LABEL_NCATS);
			assert_int_equal(label_add_cat(&b, c), 0);
			break;
		}
		assert_int_equal(label_dominates(&a, &b), ref_dominates(&a, &b));
		assert_int_equal(label_dominates(&b, &a), ref_dominates(&b, &a));
		assert_int_equal(label_equal(&a, &b),
				 ref_dominates(&a, &b) && ref_dominates(&b, &a));
		hits += label_dominates(&a, &b);
	}
	/* Both outcomes must have been exercised. */
	assert_true(hits > 500 && hits < 2500);
}

/* Recompute the longest canonical text by dynamic programming over category runs. */
static void
test_str_max_bound(void **state)
{
	unsigned int best[LABEL_NCATS + 2], tok[LABEL_NCATS];
	struct label l, back;
	struct label_range r, rback;
	const char *why;
	char *buf, *text, tmp[8];
	unsigned int i, j, cost;
	size_t n;

	(void)state;
	for (i = 0; i < LABEL_NCATS; i++)
		tok[i] = (unsigned int)snprintf(tmp, sizeof(tmp), "c%u", i);
	/* best[i]: most bytes for runs (each with its trailing ',') in categories >= i. */
	best[LABEL_NCATS] = best[LABEL_NCATS + 1] = 0;
	for (i = LABEL_NCATS; i-- > 0;) {
		best[i] = best[i + 1];
		for (j = i; j < LABEL_NCATS; j++) {
			/* run i..j: "ci" or "ci,cj" / "ci.cj", a ',', then a gap at j + 1 */
			cost = tok[i] + (j > i ? 1 + tok[j] : 0) + 1 + best[j + 2];
			if (cost > best[i])
				best[i] = cost;
		}
	}
	/* "s15:" + runs - the last run's ',' */
	assert_int_equal(4 + best[0] - 1, LABEL_STR_MAX - 1);
	assert_int_equal(LABEL_STR_MAX, 3361);
	assert_int_equal(LABEL_RANGE_STR_MAX, 2 * 3360 + 2);

	/* The worst case formats to exactly LABEL_STR_MAX - 1 bytes and parses back. */
	buf = malloc(LABEL_RANGE_STR_MAX + 16);
	assert_non_null(buf);
	worst_label(&l, 15);
	assert_int_equal(label_format(&l, buf, LABEL_STR_MAX), LABEL_STR_MAX - 1);
	assert_int_equal(label_format(&l, buf, LABEL_STR_MAX - 1), CS_ERANGE);
	assert_int_equal(buf[0], '\0');
	assert_int_equal(label_format(&l, buf, LABEL_STR_MAX), LABEL_STR_MAX - 1);
	assert_int_equal(parse_exact(buf, LABEL_STR_MAX - 1, &back, NULL), 0);
	assert_true(label_equal(&l, &back));

	/* A valid but longer (non-canonical) spelling is refused before scanning. */
	n = LABEL_STR_MAX - 1;
	memcpy(buf + n, ",c1", 3);
	why = NULL;
	assert_int_equal(parse_exact(buf, n + 3, &back, &why), CS_EINVAL);
	assert_non_null(why);
	assert_string_equal(why, "label too long");

	/* Likewise for ranges: s14:W-s15:W is the longest. */
	r.low = l;
	r.low.sens = 14;
	r.high = l;
	assert_int_equal(label_range_format(&r, buf, LABEL_RANGE_STR_MAX), LABEL_RANGE_STR_MAX - 1);
	assert_int_equal(range_parse_exact(buf, LABEL_RANGE_STR_MAX - 1, &rback, NULL), 0);
	assert_true(label_equal(&rback.low, &r.low) && label_equal(&rback.high, &r.high));
	assert_int_equal(label_range_format(&r, buf, LABEL_RANGE_STR_MAX - 1), CS_ERANGE);
	assert_int_equal(buf[0], '\0');

	assert_int_equal(label_range_format(&r, buf, LABEL_RANGE_STR_MAX), LABEL_RANGE_STR_MAX - 1);
	memcpy(buf + LABEL_RANGE_STR_MAX - 1, ",c1", 3);
	why = NULL;
	assert_int_equal(range_parse_exact(buf, LABEL_RANGE_STR_MAX + 2, &rback, &why), CS_EINVAL);
	assert_non_null(why);

	/* A range whose low level alone is too long is refused even though the range fits. */
	text = malloc(LABEL_STR_MAX + 8);
	assert_non_null(text);
	assert_int_equal(label_format(&l, text, LABEL_STR_MAX), LABEL_STR_MAX - 1);
	memcpy(text + LABEL_STR_MAX - 1, ",c1-s15", 7);
	why = NULL;
	assert_int_equal(range_parse_exact(text, LABEL_STR_MAX - 1 + 7, &rback, &why), CS_EINVAL);
	assert_non_null(why);
	free(text);
	free(buf);
}

static void
test_range_parse_contains(void **state)
{
	static const struct {
		const char *in;
		const char *canon;
	} rt[] = {
		{"s0-s3:c0.c1023", "s0-s3:c0.c1023"},
		{"s2:c1", "s2:c1"},
		{"s1-s1", "s1"},
		{"s2:c1-s2:c1", "s2:c1"},
		{"s0:c3,c1-s2:c1.c3", "s0:c1,c3-s2:c1.c3"},
		{"s0-s15", "s0-s15"},
		{"s0", "s0"},
		{"s0:c0.c1023-s15:c1023,c0.c1022", "s0:c0.c1023-s15:c0.c1023"},
	};
	static const struct {
		const char *l;
		bool in;
	} ct[] = {
		{"s1:c1", true},  {"s3:c1.c5", true},  {"s2:c1,c3", true}, {"s2:c1.c5", true},
		{"s0", false},    {"s1", false},       {"s4:c1", false},   {"s3:c1.c6", false},
		{"s2:c2", false}, {"s3:c0,c1", false}, {"s0:c1", false},
	};
	char buf[LABEL_RANGE_STR_MAX];
	struct label_range r, back;
	struct label l;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(rt) / sizeof(rt[0]); i++) {
		r = must_parse_range(rt[i].in);
		assert_int_equal(label_range_format(&r, buf, sizeof(buf)),
				 (int)strlen(rt[i].canon));
		assert_string_equal(buf, rt[i].canon);
		back = must_parse_range(buf);
		assert_true(label_equal(&r.low, &back.low) && label_equal(&r.high, &back.high));
	}

	r = must_parse_range("s0-s3:c0.c1023");
	l = must_parse("s0");
	assert_true(label_equal(&r.low, &l));
	l = must_parse("s3:c0.c1023");
	assert_true(label_equal(&r.high, &l));

	r = must_parse_range("s2:c1");
	assert_true(label_equal(&r.low, &r.high));
	l = must_parse("s2:c1");
	assert_true(label_range_contains(&r, &l));
	l = must_parse("s2");
	assert_false(label_range_contains(&r, &l));
	l = must_parse("s2:c1,c2");
	assert_false(label_range_contains(&r, &l));
	l = must_parse("s3:c1");
	assert_false(label_range_contains(&r, &l));

	r = must_parse_range("s1:c1-s3:c1.c5");
	for (i = 0; i < sizeof(ct) / sizeof(ct[0]); i++) {
		l = must_parse(ct[i].l);
		if (label_range_contains(&r, &l) != ct[i].in)
			fail_msg("s1:c1-s3:c1.c5 contains %s: want %d", ct[i].l, ct[i].in);
	}
}

static void
test_reject_levels(void **state)
{
	static const struct {
		struct bytes in;
		const char *why; /* NULL: any reason */
	} t[] = {
		{B(""), "empty label"},
		{B("s"), NULL},
		{B("S2"), "level must start with 's'"},
		{B("s2 "), NULL},
		{B(" s2"), NULL},
		{B("s2\n"), NULL},
		{B("\ts2"), NULL},
		{B("s 2"), NULL},
		{B("s-1"), NULL},
		{B("s+2"), NULL},
		{B("s16"), "sensitivity must be s0..s15"},
		{B("s99"), "sensitivity must be s0..s15"},
		{B("s01"), "number has a leading zero"},
		{B("s00"), "number has a leading zero"},
		{B("s015"), "number has a leading zero"},
		{B("s4294967296"), NULL},
		{B("s4294967297"), NULL},
		{B("s18446744073709551617"), NULL},
		{B("s99999999999999999999999999999999999999"), NULL},
		{B("s0x1"), NULL},
		{B("sA"), NULL},
		{B("s\xef\xbc\x92"), NULL}, /* fullwidth digit two */
		{B("\xff"), NULL},
		{B("s1:"), "empty category list"},
		{B("s2:c"), NULL},
		{B("s2:C1"), "category must be 'c' and a number"},
		{B("S2:c1"), NULL},
		{B("s2:c1,"), "category list ends with ','"},
		{B("s2:,c1"), "empty item in category list"},
		{B("s2:,"), NULL},
		{B("s1:c1,,c2"), "empty item in category list"},
		{B("s2:c01"), "number has a leading zero"},
		{B("s2:c007"), "number has a leading zero"},
		{B("s2:c00"), "number has a leading zero"},
		{B("s2:c1.c01"), "number has a leading zero"},
		{B("s2:c1024"), "category out of range c0..c1023"},
		{B("s2:c9999"), "category out of range c0..c1023"},
		{B("s2:c0.c1024"), "category out of range c0..c1023"},
		{B("s2:c4294967297"), NULL},
		{B("s2:c99999999999999999999"), NULL},
		{B("s2:c1.c1"), "range start must be below range end"},
		{B("s2:c5.c5"), "range start must be below range end"},
		{B("s2:c5.c3"), "range start must be below range end"},
		{B("s2:c1023.c0"), "range start must be below range end"},
		{B("s2:c1."), NULL},
		{B("s2:c1.c"), NULL},
		{B("s2:c1.5"), NULL},
		{B("s2:c1.C5"), NULL},
		{B("s2:c1.c3.c5"), NULL},
		{B("s2:c1..c3"), NULL},
		{B("s2:.c3"), NULL},
		{B("s2:c1-c3"), NULL},
		{B("s2:c1 ,c2"), NULL},
		{B("s2:c1, c2"), NULL},
		{B("s2: c1"), NULL},
		{B("s2 :c1"), NULL},
		{B("s2:c1;c2"), NULL},
		{B("s2::c1"), NULL},
		{B("s2:c1:c2"), NULL},
		{B("s2c1"), NULL},
		{B("s2:c1c2"), NULL},
		{B("s2:cc1"), NULL},
		{B("s2:c+1"), NULL},
		{B("s2:c-1"), NULL},
		{B("s2:c0x1"), NULL},
		{B("s2:c1,s3"), NULL},
		{B("s2-s3"), NULL}, /* a range, not a level */
		{B("c1"), NULL},
		{B(":c1"), NULL},
		{B("s2:c1\xff"), NULL},
		{B("\0"), NULL},
		{B("s\0"), NULL},
		{B("s2\0"), NULL},
		{B("s\0002"), NULL}, /* 's', NUL, '2' */
		{B("\0s2"), NULL},
		{B("s2:\0c1"), NULL},
		{B("s2:c1\0"), NULL},
		{B("s2:c\0001"), NULL}, /* "s2:c", NUL, '1' */
		{B("s2:c1\0,c2"), NULL},
		{B("s2:c1.\0c3"), NULL},
	};
	char shown[256];
	struct label out, sentinel;
	const char *why;
	size_t i;
	int rc;

	(void)state;
	memset(&sentinel, 0xa5, sizeof(sentinel));
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		out = sentinel;
		why = NULL;
		rc = parse_exact(t[i].in.s, t[i].in.len, &out, &why);
		esc(t[i].in.s, t[i].in.len, shown, sizeof(shown));
		if (rc != CS_EINVAL)
			fail_msg("\"%s\" was not rejected (rc %d)", shown, rc);
		if (why == NULL || why[0] == '\0')
			fail_msg("\"%s\" rejected without a reason", shown);
		if (t[i].why != NULL && strcmp(why, t[i].why) != 0)
			fail_msg("\"%s\": reason \"%s\", want \"%s\"", shown, why, t[i].why);
		if (memcmp(&out, &sentinel, sizeof(out)) != 0)
			fail_msg("\"%s\": output written on failure", shown);
		/* why is optional. */
		assert_int_equal(parse_exact(t[i].in.s, t[i].in.len, &out, NULL), CS_EINVAL);
	}
}

static void
test_reject_ranges(void **state)
{
	static const struct {
		struct bytes in;
		const char *why; /* NULL: any reason */
	} t[] = {
		{B(""), NULL},
		{B("-"), NULL},
		{B("-s1"), "empty low level before '-'"},
		{B("s1-"), "empty high level after '-'"},
		{B("s0--s1"), NULL},
		{B("s0-s1-s2"), "more than one '-' in range"},
		{B("s0-s1-"), NULL},
		{B("s3-s1"), "high level does not dominate low level"},
		{B("s1:c1-s2"), "high level does not dominate low level"},
		{B("s0:c1-s0:c2"), "high level does not dominate low level"},
		{B("s15:c0.c1023-s15:c0.c1022"), "high level does not dominate low level"},
		{B("s0 -s1"), NULL},
		{B("s0- s1"), NULL},
		{B("s0-S1"), NULL},
		{B("S0-s1"), NULL},
		{B("s0-s1:"), "empty category list"},
		{B("s0:-s1"), "empty category list"},
		{B("s0-s16"), "sensitivity must be s0..s15"},
		{B("s0-s1:c1024"), "category out of range c0..c1023"},
		{B("s0-s01"), "number has a leading zero"},
		{B("s0-s1:c1.c1"), "range start must be below range end"},
		{B("s0_s1"), NULL},
		{B("s0:s1"), NULL},
		{B("s0..s1"), NULL},
		{B("s0,s1"), NULL},
		{B("s0\0-s1"), NULL},
		{B("s0-\0s1"), NULL},
		{B("s0-s1\0"), NULL},
		{B("\0"), NULL},
		{B("s0-s1 "), NULL},
	};
	char shown[256];
	struct label_range out, sentinel;
	const char *why;
	size_t i;
	int rc;

	(void)state;
	memset(&sentinel, 0x5a, sizeof(sentinel));
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		out = sentinel;
		why = NULL;
		rc = range_parse_exact(t[i].in.s, t[i].in.len, &out, &why);
		esc(t[i].in.s, t[i].in.len, shown, sizeof(shown));
		if (rc != CS_EINVAL)
			fail_msg("range \"%s\" was not rejected (rc %d)", shown, rc);
		if (why == NULL || why[0] == '\0')
			fail_msg("range \"%s\" rejected without a reason", shown);
		if (t[i].why != NULL && strcmp(why, t[i].why) != 0)
			fail_msg("range \"%s\": reason \"%s\", want \"%s\"", shown, why, t[i].why);
		if (memcmp(&out, &sentinel, sizeof(out)) != 0)
			fail_msg("range \"%s\": output written on failure", shown);
		assert_int_equal(range_parse_exact(t[i].in.s, t[i].in.len, &out, NULL), CS_EINVAL);
	}
}

/* Only the first len bytes count; the buffers have no NUL and nothing after them. */
static void
test_unterminated(void **state)
{
	static const struct {
		const char *s;
		size_t len;
		const char *want; /* canonical result, or NULL for rejection */
	} t[] = {
		{"s2:c10", 5, "s2:c1"},
		{"s12", 2, "s1"},
		{"s15", 1, NULL},
		{"s2", 0, NULL},
		{"s2:c1,c2", 6, NULL},
		{"s2:c1,c2", 5, "s2:c1"},
		{"s2:c1.c5", 6, NULL},
		{"s2:c1.c5", 7, NULL},
		{"s2:c1.c50", 8, "s2:c1.c5"},
		{"s2:c1", 3, NULL},
		{"s2:c1023", 7, "s2:c102"},
		{"s2:c1.c1023", 9, "s2:c1.c10"},
		{"s2:c1.c1023", 8, NULL},
	};
	static const struct {
		const char *s;
		size_t len;
		const char *want;
	} rt[] = {
		{"s0-s3:c1", 2, "s0"},    {"s0-s3:c1", 3, NULL}, {"s0-s3:c1", 4, NULL},
		{"s0-s3:c1", 5, "s0-s3"}, {"s0-s3:c1", 6, NULL}, {"s0-s3:c10", 8, "s0-s3:c1"},
		{"s3:c1-s3", 6, NULL}, /* "s3:c1-": empty high level */
	};
	static const char *const prefixed[] = {
		"s15:c0,c2.c5,c100.c1023,c7",
		"s0-s15:c0.c1023",
		"s1:c1-s3:c1.c5,c10",
	};
	char buf[LABEL_RANGE_STR_MAX];
	struct label l;
	struct label_range r;
	const char *why;
	size_t i, n;
	int rc;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		why = NULL;
		rc = parse_exact(t[i].s, t[i].len, &l, &why);
		if (t[i].want == NULL) {
			if (rc != CS_EINVAL || why == NULL)
				fail_msg("\"%.*s\" accepted", (int)t[i].len, t[i].s);
			continue;
		}
		if (rc != 0)
			fail_msg("\"%.*s\" rejected: %s", (int)t[i].len, t[i].s, why);
		assert_true(label_format(&l, buf, sizeof(buf)) > 0);
		assert_string_equal(buf, t[i].want);
	}
	for (i = 0; i < sizeof(rt) / sizeof(rt[0]); i++) {
		why = NULL;
		rc = range_parse_exact(rt[i].s, rt[i].len, &r, &why);
		if (rt[i].want == NULL) {
			if (rc != CS_EINVAL || why == NULL)
				fail_msg("range \"%.*s\" accepted", (int)rt[i].len, rt[i].s);
			continue;
		}
		if (rc != 0)
			fail_msg("range \"%.*s\" rejected: %s", (int)rt[i].len, rt[i].s, why);
		assert_true(label_range_format(&r, buf, sizeof(buf)) > 0);
		assert_string_equal(buf, rt[i].want);
	}

	/* Every prefix either parses or fails with a reason, and never reads past its end. */
	for (i = 0; i < sizeof(prefixed) / sizeof(prefixed[0]); i++) {
		for (n = 0; n <= strlen(prefixed[i]); n++) {
			why = "untouched";
			rc = parse_exact(prefixed[i], n, &l, &why);
			assert_true((rc == 0 && strcmp(why, "untouched") == 0) ||
				    (rc == CS_EINVAL && strcmp(why, "untouched") != 0));
			why = "untouched";
			rc = range_parse_exact(prefixed[i], n, &r, &why);
			assert_true((rc == 0 && strcmp(why, "untouched") == 0) ||
				    (rc == CS_EINVAL && strcmp(why, "untouched") != 0));
		}
	}
}

/*
 * check_small_buffers(l, r, n, size): format ${l} (or, if NULL, ${r}), whose
 * text is ${n} bytes, into an exact heap buffer of ${size} bytes: too small
 * must fail cleanly without writing past the end, big enough must succeed.
 */
static void
check_small_buffers(const struct label *l, const struct label_range *r, size_t n, size_t size)
{
	char *buf = malloc(size > 0 ? size : 1);
	char first;
	size_t len;
	int rc;

	assert_non_null(buf);
	memset(buf, 'X', size > 0 ? size : 1);
	rc = l != NULL ? label_format(l, buf, size) : label_range_format(r, buf, size);
	first = buf[0];
	len = size > 0 ? strnlen(buf, size) : 0;
	free(buf);
	if (size <= n) {
		if (rc != CS_ERANGE)
			fail_msg("format of %zu bytes into %zu: rc %d, want CS_ERANGE", n, size,
				 rc);
		/* An empty string, or nothing at all written into a zero-sized buffer. */
		assert_int_equal(first, size > 0 ? '\0' : 'X');
	} else {
		if (rc != (int)n || len != n)
			fail_msg("format of %zu bytes into %zu: rc %d, length %zu", n, size, rc,
				 len);
	}
}

static void
test_format_small_buffers(void **state)
{
	static const char *const levels[] = {"s0", "s15", "s2:c1", "s2:c1,c4.c7", "s15:c0.c1023"};
	static const char *const ranges[] = {"s0", "s0-s15:c0.c1023", "s2:c1-s3:c1,c2"};
	char full[LABEL_RANGE_STR_MAX];
	struct label l;
	struct label_range r;
	size_t i, size, n;

	(void)state;
	for (i = 0; i < sizeof(levels) / sizeof(levels[0]); i++) {
		l = must_parse(levels[i]);
		n = strlen(levels[i]);
		for (size = 0; size <= n + 2; size++)
			check_small_buffers(&l, NULL, n, size);
	}
	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		r = must_parse_range(ranges[i]);
		assert_true(label_range_format(&r, full, sizeof(full)) > 0);
		n = strlen(full);
		for (size = 0; size <= n + 2; size++)
			check_small_buffers(NULL, &r, n, size);
	}

	/* The longest texts, around their edges. */
	worst_label(&l, 15);
	n = LABEL_STR_MAX - 1;
	for (size = 0; size < 8; size++) {
		check_small_buffers(&l, NULL, n, size);
		check_small_buffers(&l, NULL, n, n + 1 - size);
	}
	check_small_buffers(&l, NULL, n, n / 2);
	r.low = l;
	r.low.sens = 14;
	r.high = l;
	n = LABEL_RANGE_STR_MAX - 1;
	for (size = 0; size < 8; size++) {
		check_small_buffers(NULL, &r, n, size);
		check_small_buffers(NULL, &r, n, n + 1 - size);
	}
	/* Cut right after the low level and right after the '-'. */
	check_small_buffers(NULL, &r, n, LABEL_STR_MAX - 1);
	check_small_buffers(NULL, &r, n, LABEL_STR_MAX);
	check_small_buffers(NULL, &r, n, LABEL_STR_MAX + 1);

	assert_int_equal(label_format(&l, NULL, 0), CS_ERANGE);
	assert_int_equal(label_range_format(&r, NULL, 0), CS_ERANGE);
}

static void
test_format_invalid(void **state)
{
	char buf[LABEL_RANGE_STR_MAX];
	struct label l;
	struct label_range r;

	(void)state;
	l = must_parse("s2:c1");
	l.sens = 16;
	strcpy(buf, "junk");
	assert_int_equal(label_format(&l, buf, sizeof(buf)), CS_EINVAL);
	assert_string_equal(buf, "");
	assert_int_equal(label_format(NULL, buf, sizeof(buf)), CS_EINVAL);
	l.sens = 2;
	assert_int_equal(label_format(&l, NULL, 10), CS_EINVAL);

	r = must_parse_range("s1-s2");
	r.low.sens = 3; /* high no longer dominates low */
	strcpy(buf, "junk");
	assert_int_equal(label_range_format(&r, buf, sizeof(buf)), CS_EINVAL);
	assert_string_equal(buf, "");
	r = must_parse_range("s1-s2");
	assert_int_equal(label_add_cat(&r.low, 7), 0);
	assert_int_equal(label_range_format(&r, buf, sizeof(buf)), CS_EINVAL);
	r = must_parse_range("s1-s2");
	r.high.sens = 16;
	assert_int_equal(label_range_format(&r, buf, sizeof(buf)), CS_EINVAL);
	assert_int_equal(label_range_format(NULL, buf, sizeof(buf)), CS_EINVAL);
	/* An invalid argument is reported before a too-small buffer. */
	assert_int_equal(label_range_format(&r, buf, 0), CS_EINVAL);
	assert_int_equal(label_format(NULL, NULL, 0), CS_EINVAL);
	assert_int_equal(label_range_format(NULL, NULL, 0), CS_EINVAL);
}

static void
test_helpers(void **state)
{
	struct label l, parsed;
	unsigned int c;

	(void)state;
	assert_int_equal(label_init_sens(&l, 4), 0);
	assert_int_equal(l.sens, 4);
	assert_int_equal(count_cats(&l), 0);
	assert_int_equal(label_init_sens(&l, LABEL_SENS_MAX + 1), CS_ERANGE);
	assert_int_equal(l.sens, 4); /* unchanged */
	assert_int_equal(label_init_sens(&l, UINT32_MAX), CS_ERANGE);

	assert_int_equal(label_add_cat(&l, 0), 0);
	assert_int_equal(label_add_cat(&l, 4), 0);
	assert_int_equal(label_add_cat(&l, 5), 0);
	assert_int_equal(label_add_cat(&l, 6), 0);
	assert_int_equal(label_add_cat(&l, 1023), 0);
	assert_int_equal(label_add_cat(&l, 1024), CS_ERANGE);
	assert_int_equal(label_add_cat(&l, UINT32_MAX), CS_ERANGE);
	assert_int_equal(count_cats(&l), 5);
	parsed = must_parse("s4:c0,c4.c6,c1023");
	assert_true(label_equal(&l, &parsed));
	for (c = 0; c < LABEL_NCATS; c++)
		assert_int_equal(label_has_cat(&l, c), ref_has(&parsed, c));
	assert_false(label_has_cat(&l, 1024));
	assert_false(label_has_cat(&l, UINT32_MAX));

	/* label_init_sens clears categories. */
	assert_int_equal(label_init_sens(&l, 0), 0);
	assert_int_equal(count_cats(&l), 0);
}

static void
test_null_args_and_why(void **state)
{
	struct label l, sentinel;
	struct label_range r;
	const char *why;

	(void)state;
	why = NULL;
	assert_int_equal(label_parse(NULL, 2, &l, &why), CS_EINVAL);
	assert_non_null(why);
	why = NULL;
	assert_int_equal(label_parse("s1", 2, NULL, &why), CS_EINVAL);
	assert_non_null(why);
	why = NULL;
	assert_int_equal(label_range_parse(NULL, 2, &r, &why), CS_EINVAL);
	assert_non_null(why);
	why = NULL;
	assert_int_equal(label_range_parse("s1", 2, NULL, &why), CS_EINVAL);
	assert_non_null(why);
	assert_int_equal(label_parse(NULL, 0, &l, NULL), CS_EINVAL);

	/* why is left alone on success, and errors do not touch the output. */
	why = "untouched";
	assert_int_equal(label_parse("s1:c2", 5, &l, &why), 0);
	assert_string_equal(why, "untouched");
	assert_int_equal(label_range_parse("s1-s2", 5, &r, &why), 0);
	assert_string_equal(why, "untouched");
	sentinel = l;
	assert_int_equal(label_parse("s1:c2,", 6, &l, &why), CS_EINVAL);
	assert_true(label_equal(&l, &sentinel));
}

/*
 * Differential fuzzing against ref_parse(): mutated valid labels and random
 * token soup.  Accept/reject and the resulting set must agree, accepted texts
 * must round-trip, and rejections must carry a reason.
 */
static void
test_parse_differential(void **state)
{
	static const char *const tokens[] = {
		"s", "c", "0", "1", "2", "9", "15", "16",   "63", "64",  "1023", "1024", "01", ":",
		",", ".", "-", " ", "S", "C", "x",  "\xff", "00", "999", "s1",   ":c",   ",c", ".c",
	};
	static const char alphabet[] = "sc0123456789:,.- ";
	uint64_t st = UINT64_C(0xc0ffee);
	char text[LABEL_RANGE_STR_MAX + 64], shown[512];
	char out1[LABEL_RANGE_STR_MAX];
	struct label l, ref, back;
	struct label_range r, rback;
	const char *why;
	size_t n, k, pos;
	unsigned int accepted = 0, rejected = 0, i, m, j;
	int rc, f;

	(void)state;
	for (i = 0; i < 20000; i++) {
		if (rng_below(&st, 2) == 0) {
			rand_label(&st, &l);
			f = label_format(&l, text, LABEL_STR_MAX);
			assert_true(f > 0);
			n = (size_t)f;
			if (rng_below(&st, 3) == 0 && n < 60) {
				/* make it a range */
				text[n++] = '-';
				rand_label(&st, &l);
				f = label_format(&l, text + n, LABEL_STR_MAX);
				assert_true(f > 0);
				n += (size_t)f;
			}
		} else {
			n = 0;
			m = 1 + rng_below(&st, 12);
			for (j = 0; j < m; j++) {
				const char *tok =
					tokens[rng_below(&st, sizeof(tokens) / sizeof(tokens[0]))];

				k = strlen(tok);
				memcpy(text + n, tok, k);
				n += k;
			}
		}
		/* 0..3 byte mutations */
		m = rng_below(&st, 4);
		for (j = 0; j < m; j++) {
			pos = n > 0 ? rng_below(&st, (unsigned int)n + 1) : 0;
			switch (rng_below(&st, 4)) {
			case 0: /* delete */
				if (pos < n) {
					memmove(text + pos, text + pos + 1, n - pos - 1);
					n--;
				}
				break;
			case 1: /* insert */
				memmove(text + pos + 1, text + pos, n - pos);
				text[pos] =
					rng_below(&st, 8) == 0
						? '\0'
						: alphabet[rng_below(&st, sizeof(alphabet) - 1)];
				n++;
				break;
			case 2: /* replace */
				if (pos < n)
					text[pos] = alphabet[rng_below(&st, sizeof(alphabet) - 1)];
				break;
			default: /* truncate */
				n = pos;
				break;
			}
		}

		esc(text, n, shown, sizeof(shown));
		why = NULL;
		rc = parse_exact(text, n, &l, &why);
		if (ref_parse(text, n, &ref)) {
			if (rc != 0)
				fail_msg("\"%s\" rejected (%s), reference accepts", shown, why);
			assert_true(label_equal(&l, &ref));
			f = label_format(&l, out1, LABEL_STR_MAX);
			assert_true(f > 0);
			assert_int_equal(parse_exact(out1, (size_t)f, &back, NULL), 0);
			assert_true(label_equal(&l, &back));
			accepted++;
		} else {
			if (rc != CS_EINVAL)
				fail_msg("\"%s\" accepted (rc %d), reference rejects", shown, rc);
			assert_non_null(why);
			rejected++;
		}

		why = NULL;
		rc = range_parse_exact(text, n, &r, &why);
		if (rc == 0) {
			assert_true(label_dominates(&r.high, &r.low));
			f = label_range_format(&r, out1, sizeof(out1));
			assert_true(f > 0);
			assert_int_equal(range_parse_exact(out1, (size_t)f, &rback, NULL), 0);
			assert_true(label_equal(&r.low, &rback.low));
			assert_true(label_equal(&r.high, &rback.high));
		} else {
			assert_int_equal(rc, CS_EINVAL);
			assert_non_null(why);
		}
	}
	/* Both paths must have been exercised for the comparison to mean anything. */
	assert_true(accepted > 2000);
	assert_true(rejected > 2000);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_canonical_roundtrip),
		cmocka_unit_test(test_canonical_forms),
		cmocka_unit_test(test_roundtrip_random),
		cmocka_unit_test(test_dominance_table),
		cmocka_unit_test(test_dominance_random),
		cmocka_unit_test(test_str_max_bound),
		cmocka_unit_test(test_range_parse_contains),
		cmocka_unit_test(test_reject_levels),
		cmocka_unit_test(test_reject_ranges),
		cmocka_unit_test(test_unterminated),
		cmocka_unit_test(test_format_small_buffers),
		cmocka_unit_test(test_format_invalid),
		cmocka_unit_test(test_helpers),
		cmocka_unit_test(test_null_args_and_why),
		cmocka_unit_test(test_parse_differential),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
