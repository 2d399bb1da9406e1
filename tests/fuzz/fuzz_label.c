/*
 * fuzz_label: MLS levels and ranges (lib/label), the text every access
 * decision starts from.
 *
 * Input: [mode u8][rest].
 *   mode even: rest is text, parsed as a level and as a range.  Whatever is
 *     accepted must format to canonical text that parses back to the same
 *     value and formats to the same text again (label.h's round-trip
 *     promise), fit LABEL_STR_MAX / LABEL_RANGE_STR_MAX, and be refused with
 *     CS_ERANGE and an empty string by a buffer one byte short.  A rejected
 *     text leaves the output untouched and says why.
 *   mode odd: rest builds values directly: [sens u8][count u8][count x u16
 *     categories] twice, for a range's low and high.  format(x) must parse
 *     back to x; an invalid value (sensitivity over 15, a high that does not
 *     dominate its low) must be refused; dominance must agree with the
 *     category sets bit by bit.
 */
#include "fuzz.h"
#include "label/label.h"
#include "util/err.h"

#include <string.h>

static char buf[LABEL_RANGE_STR_MAX + 1], buf2[LABEL_RANGE_STR_MAX + 1];

/* check_level: l (valid) formats canonically and round-trips. */
static void
check_level(const struct label *l)
{
	struct label back;
	const char *why = NULL;
	int n = label_format(l, buf, LABEL_STR_MAX), n2;

	FUZZ_CHECK(n > 0 && n < (int)LABEL_STR_MAX && strlen(buf) == (size_t)n);
	FUZZ_CHECK(label_parse(buf, (size_t)n, &back, &why) == 0 && why == NULL);
	FUZZ_CHECK(label_equal(&back, l) && label_dominates(&back, l) && label_dominates(l, &back));
	n2 = label_format(&back, buf2, sizeof(buf2));
	FUZZ_CHECK(n2 == n && memcmp(buf, buf2, (size_t)n) == 0);
	/* One byte short: refused, and nothing half-written. */
	FUZZ_CHECK(label_format(l, buf2, (size_t)n) == CS_ERANGE && buf2[0] == '\0');
	FUZZ_CHECK(label_format(l, buf2, (size_t)n + 1) == n);
}

/* check_range: r (valid) formats canonically and round-trips. */
static void
check_range(const struct label_range *r)
{
	struct label_range back;
	const char *why = NULL;
	int n = label_range_format(r, buf, LABEL_RANGE_STR_MAX), n2;

	FUZZ_CHECK(n > 0 && n < (int)LABEL_RANGE_STR_MAX && strlen(buf) == (size_t)n);
	FUZZ_CHECK(label_range_parse(buf, (size_t)n, &back, &why) == 0 && why == NULL);
	FUZZ_CHECK(label_equal(&back.low, &r->low) && label_equal(&back.high, &r->high));
	FUZZ_CHECK(label_range_contains(r, &r->low) && label_range_contains(r, &r->high));
	FUZZ_CHECK((strchr(buf, '-') == NULL) == label_equal(&r->low, &r->high));
	n2 = label_range_format(&back, buf2, sizeof(buf2));
	FUZZ_CHECK(n2 == n && memcmp(buf, buf2, (size_t)n) == 0);
	FUZZ_CHECK(label_range_format(r, buf2, (size_t)n) == CS_ERANGE && buf2[0] == '\0');
	check_level(&r->low);
	check_level(&r->high);
}

static void
text_mode(const char *s, size_t n)
{
	struct label l, keep;
	struct label_range r, rkeep;
	const char *why = NULL;
	int rc;

	memset(&l, 0xa5, sizeof(l));
	keep = l;
	rc = label_parse(s, n, &l, &why);
	FUZZ_CHECK(rc == 0 || rc == CS_EINVAL);
	if (rc == 0) {
		FUZZ_CHECK(l.sens <= LABEL_SENS_MAX && n <= LABEL_STR_MAX - 1);
		check_level(&l);
	} else {
		FUZZ_CHECK(why != NULL && why[0] != '\0' && memcmp(&l, &keep, sizeof(l)) == 0);
	}
	why = NULL;
	memset(&r, 0x5a, sizeof(r));
	rkeep = r;
	rc = label_range_parse(s, n, &r, &why);
	FUZZ_CHECK(rc == 0 || rc == CS_EINVAL);
	if (rc == 0) {
		FUZZ_CHECK(label_dominates(&r.high, &r.low));
		check_range(&r);
		/* A level is a range of one level. */
		if (label_parse(s, n, &l, NULL) == 0)
			FUZZ_CHECK(label_equal(&l, &r.low) && label_equal(&l, &r.high));
	} else {
		FUZZ_CHECK(why != NULL && why[0] != '\0' && memcmp(&r, &rkeep, sizeof(r)) == 0);
	}
}

static void
take_level(struct fuzz_in *in, struct label *l)
{
	unsigned count;

	memset(l, 0, sizeof(*l));
	l->sens = fuzz_take_u8(in) % 20u; /* a few invalid ones too */
	count = fuzz_take_u8(in);
	for (unsigned i = 0; i < count; i++) {
		unsigned c = fuzz_take_u16(in) % (LABEL_NCATS + 8u);

		FUZZ_CHECK(label_add_cat(l, c) == (c <= LABEL_CAT_MAX ? 0 : CS_ERANGE));
		if (c <= LABEL_CAT_MAX)
			FUZZ_CHECK(label_has_cat(l, c));
	}
}

static void
value_mode(struct fuzz_in *in)
{
	struct label_range r;
	bool valid_low, valid_high, dom = true;

	take_level(in, &r.low);
	take_level(in, &r.high);
	valid_low = r.low.sens <= LABEL_SENS_MAX;
	valid_high = r.high.sens <= LABEL_SENS_MAX;
	if (valid_low)
		check_level(&r.low);
	else
		FUZZ_CHECK(label_format(&r.low, buf, sizeof(buf)) == CS_EINVAL && buf[0] == '\0');
	if (valid_high)
		check_level(&r.high);
	/* Dominance is sensitivity and set inclusion, category by category. */
	dom = r.high.sens >= r.low.sens;
	for (unsigned c = 0; c < LABEL_NCATS && dom; c++)
		dom = !label_has_cat(&r.low, c) || label_has_cat(&r.high, c);
	FUZZ_CHECK(label_dominates(&r.high, &r.low) == dom);
	if (valid_low && valid_high && dom)
		check_range(&r);
	else
		FUZZ_CHECK(label_range_format(&r, buf, sizeof(buf)) == CS_EINVAL && buf[0] == '\0');
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_take_u8(&in);

	if (mode & 1) {
		value_mode(&in);
	} else {
		size_t n;
		const char *s = (const char *)fuzz_take(&in, in.n, &n);

		text_mode(s, n);
	}
	return 0;
}
