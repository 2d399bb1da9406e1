/*
 * label: parse, format and compare SELinux-MLS style levels and ranges.
 *
 * The parsers work on a bounded cursor: every read is preceded by a check
 * against the length, input bytes are compared as unsigned values and never
 * passed to <ctype.h> or strto*(), and numbers are range-checked digit by
 * digit so that no amount of digits can overflow.  A parse builds its result
 * in a local and copies it out only on success.  The formatters build the
 * text with a bounded writer that records overflow instead of truncating
 * silently, and leave an empty string behind on any failure.
 */
#include <string.h>

#include "label/label.h"
#include "util/err.h"

/*
 * ENSURE(cond, msg): inside a parser, fail with CS_EINVAL and the reason msg
 * unless cond holds.  Expects a `const char **why` in scope that is not NULL.
 */
#define ENSURE(cond, msg)                                                                          \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			*why = (msg);                                                              \
			return CS_EINVAL;                                                          \
		}                                                                                  \
	} while (0)

/* GUARD(call): propagate a negative return value. */
#define GUARD(call)                                                                                \
	do {                                                                                       \
		int guard_rc_ = (call);                                                            \
		if (guard_rc_ < 0)                                                                 \
			return guard_rc_;                                                          \
	} while (0)

/* A read position within a bounded, possibly unterminated, byte string. */
struct cursor {
	const unsigned char *p;
	size_t len;
	size_t pos;
};

static bool
cur_end(const struct cursor *cur)
{
	return cur->pos >= cur->len;
}

/* cur_eat(cur, ch): consume ${ch} if it is the next byte; true if it was. */
static bool
cur_eat(struct cursor *cur, unsigned char ch)
{
	if (cur_end(cur) || cur->p[cur->pos] != ch)
		return false;
	cur->pos++;
	return true;
}

static bool
cur_digit(const struct cursor *cur)
{
	return !cur_end(cur) && cur->p[cur->pos] >= '0' && cur->p[cur->pos] <= '9';
}

/*
 * parse_num(cur, max, out, missing, toobig, why): read a decimal number of at
 * most ${max} (which is far below UINT_MAX / 10, so the accumulator cannot
 * overflow: it is checked after every digit).
 */
static int
parse_num(struct cursor *cur, unsigned int max, unsigned int *out, const char *missing,
	  const char *toobig, const char **why)
{
	unsigned int v = 0;
	size_t start = cur->pos;

	ENSURE(cur_digit(cur), missing);
	while (cur_digit(cur)) {
		ENSURE(cur->pos == start || v != 0, "number has a leading zero");
		v = v * 10u + (unsigned int)(cur->p[cur->pos] - '0');
		ENSURE(v <= max, toobig);
		cur->pos++;
	}
	*out = v;
	return 0;
}

/* set_cats(l, a, b): add the categories a..b (inclusive, a <= b <= LABEL_CAT_MAX). */
static void
set_cats(struct label *l, unsigned int a, unsigned int b)
{
	while (a <= b) {
		if (a % 64u == 0 && b - a >= 63u) {
			l->cats[a / 64u] = UINT64_MAX;
			a += 64u;
		} else {
			l->cats[a / 64u] |= UINT64_C(1) << (a % 64u);
			a++;
		}
	}
}

static int
parse_item(struct cursor *cur, struct label *l, const char **why)
{
	unsigned int a, b;

	ENSURE(cur_eat(cur, 'c'), "category must be 'c' and a number");
	GUARD(parse_num(cur, LABEL_CAT_MAX, &a, "missing number after 'c'",
			"category out of range c0..c1023", why));
	b = a;
	if (cur_eat(cur, '.')) {
		ENSURE(cur_eat(cur, 'c'), "category range end must be 'c' and a number");
		GUARD(parse_num(cur, LABEL_CAT_MAX, &b, "missing number after 'c'",
				"category out of range c0..c1023", why));
		ENSURE(a < b, "range start must be below range end");
	}
	set_cats(l, a, b);
	return 0;
}

/* parse_level(s, len, out, why): label_parse() with a non-NULL ${why}. */
static int
parse_level(const char *s, size_t len, struct label *out, const char **why)
{
	struct cursor cur = {(const unsigned char *)s, len, 0};
	struct label l;

	ENSURE(s != NULL && out != NULL, "null argument");
	ENSURE(len > 0, "empty label");
	ENSURE(len <= LABEL_STR_MAX - 1, "label too long");

	memset(&l, 0, sizeof(l));
	ENSURE(cur_eat(&cur, 's'), "level must start with 's'");
	GUARD(parse_num(&cur, LABEL_SENS_MAX, &l.sens, "missing number after 's'",
			"sensitivity must be s0..s15", why));
	if (!cur_end(&cur)) {
		ENSURE(cur_eat(&cur, ':'), "expected ':' or end of label after sensitivity");
		ENSURE(!cur_end(&cur), "empty category list");
		for (;;) {
			ENSURE(!cur_eat(&cur, ','), "empty item in category list");
			GUARD(parse_item(&cur, &l, why));
			if (cur_end(&cur))
				break;
			ENSURE(cur_eat(&cur, ','), "expected ',' or end of label after category");
			ENSURE(!cur_end(&cur), "category list ends with ','");
		}
	}

	*out = l;
	return 0;
}

int
label_parse(const char *s, size_t len, struct label *out, const char **why)
{
	const char *dummy;

	return parse_level(s, len, out, why != NULL ? why : &dummy);
}

int
label_range_parse(const char *s, size_t len, struct label_range *out, const char **why)
{
	const char *dummy;
	const char *dash;
	struct label_range r;
	size_t lowlen, highlen;

	if (why == NULL)
		why = &dummy;
	ENSURE(s != NULL && out != NULL, "null argument");
	ENSURE(len > 0, "empty range");
	ENSURE(len <= LABEL_RANGE_STR_MAX - 1, "range too long");

	dash = memchr(s, '-', len);
	if (dash == NULL) {
		GUARD(parse_level(s, len, &r.low, why));
		r.high = r.low;
	} else {
		lowlen = (size_t)(dash - s);
		highlen = len - lowlen - 1;
		ENSURE(lowlen > 0, "empty low level before '-'");
		ENSURE(highlen > 0, "empty high level after '-'");
		ENSURE(memchr(dash + 1, '-', highlen) == NULL, "more than one '-' in range");
		GUARD(parse_level(s, lowlen, &r.low, why));
		GUARD(parse_level(dash + 1, highlen, &r.high, why));
		ENSURE(label_dominates(&r.high, &r.low), "high level does not dominate low level");
	}

	*out = r;
	return 0;
}

/* A bounded text writer: remembers overflow rather than truncating silently. */
struct writer {
	char *buf;
	size_t size;
	size_t pos;
	bool overflow;
};

static void
put_char(struct writer *w, char ch)
{
	/* Keep one byte for the NUL. */
	if (w->overflow || w->size - w->pos < 2) {
		w->overflow = true;
		return;
	}
	w->buf[w->pos++] = ch;
}

static void
put_num(struct writer *w, unsigned int v)
{
	char tmp[16];
	size_t n = 0;

	do {
		tmp[n++] = (char)('0' + v % 10u);
		v /= 10u;
	} while (v != 0);
	while (n > 0)
		put_char(w, tmp[--n]);
}

/* next_cat(l, from, present): the first category >= ${from} that is (or is not) in ${l}. */
static unsigned int
next_cat(const struct label *l, unsigned int from, bool present)
{
	uint64_t word;
	unsigned int i;

	if (from >= LABEL_NCATS)
		return LABEL_NCATS;
	i = from / 64u;
	word = present ? l->cats[i] : ~l->cats[i];
	word &= UINT64_MAX << (from % 64u);
	for (;;) {
		if (word != 0)
			return i * 64u + (unsigned int)__builtin_ctzll(word);
		if (++i == LABEL_CAT_WORDS)
			return LABEL_NCATS;
		word = present ? l->cats[i] : ~l->cats[i];
	}
}

static void
write_level(struct writer *w, const struct label *l)
{
	unsigned int a, end;

	put_char(w, 's');
	put_num(w, l->sens);
	a = next_cat(l, 0, true);
	if (a == LABEL_NCATS)
		return;
	put_char(w, ':');
	while (a < LABEL_NCATS) {
		end = next_cat(l, a, false); /* one past the run a..end-1 */
		put_char(w, 'c');
		put_num(w, a);
		if (end - a >= 2) {
			put_char(w, end - a == 2 ? ',' : '.');
			put_char(w, 'c');
			put_num(w, end - 1);
		}
		a = next_cat(l, end, true);
		if (a < LABEL_NCATS)
			put_char(w, ',');
	}
}

/* finish(w): terminate the text and return its length, or fail and leave "". */
static int
finish(struct writer *w)
{
	if (w->overflow) {
		w->buf[0] = '\0';
		return CS_ERANGE;
	}
	w->buf[w->pos] = '\0';
	return (int)w->pos;
}

/*
 * start(w, valid, buf, bufsz): the formatters' common argument checks, in the
 * documented order of precedence; leaves "" in ${buf} whenever it has room.
 */
static int
start(struct writer *w, bool valid, char *buf, size_t bufsz)
{
	if (buf == NULL && bufsz > 0)
		return CS_EINVAL;
	if (bufsz > 0)
		buf[0] = '\0';
	if (!valid)
		return CS_EINVAL;
	if (bufsz == 0)
		return CS_ERANGE;
	w->buf = buf;
	w->size = bufsz;
	w->pos = 0;
	w->overflow = false;
	return 0;
}

int
label_format(const struct label *l, char *buf, size_t bufsz)
{
	struct writer w;

	GUARD(start(&w, l != NULL && l->sens <= LABEL_SENS_MAX, buf, bufsz));
	write_level(&w, l);
	return finish(&w);
}

int
label_range_format(const struct label_range *r, char *buf, size_t bufsz)
{
	struct writer w;
	bool valid;

	valid = r != NULL && r->low.sens <= LABEL_SENS_MAX && r->high.sens <= LABEL_SENS_MAX &&
		label_dominates(&r->high, &r->low);
	GUARD(start(&w, valid, buf, bufsz));
	write_level(&w, &r->low);
	if (!label_equal(&r->low, &r->high)) {
		put_char(&w, '-');
		write_level(&w, &r->high);
	}
	return finish(&w);
}

int
label_init_sens(struct label *l, unsigned int sens)
{
	if (sens > LABEL_SENS_MAX)
		return CS_ERANGE;
	memset(l, 0, sizeof(*l));
	l->sens = sens;
	return 0;
}

int
label_add_cat(struct label *l, unsigned int cat)
{
	if (cat > LABEL_CAT_MAX)
		return CS_ERANGE;
	l->cats[cat / 64u] |= UINT64_C(1) << (cat % 64u);
	return 0;
}

bool
label_has_cat(const struct label *l, unsigned int cat)
{
	if (cat > LABEL_CAT_MAX)
		return false;
	return (l->cats[cat / 64u] >> (cat % 64u)) & 1u;
}

bool
label_equal(const struct label *a, const struct label *b)
{
	unsigned int i;

	if (a->sens != b->sens)
		return false;
	for (i = 0; i < LABEL_CAT_WORDS; i++) {
		if (a->cats[i] != b->cats[i])
			return false;
	}
	return true;
}

bool
label_dominates(const struct label *a, const struct label *b)
{
	unsigned int i;

	if (a->sens < b->sens)
		return false;
	for (i = 0; i < LABEL_CAT_WORDS; i++) {
		if ((b->cats[i] & ~a->cats[i]) != 0)
			return false;
	}
	return true;
}

bool
label_range_contains(const struct label_range *r, const struct label *l)
{
	return label_dominates(&r->high, l) && label_dominates(l, &r->low);
}
