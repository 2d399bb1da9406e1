/*
 * label: SELinux-MLS style security levels and ranges.
 *
 * A level (struct label) is a sensitivity s0..s15 plus a set of categories
 * drawn from c0..c1023.  A range (struct label_range) is a pair LOW-HIGH in
 * which HIGH dominates LOW; it describes an identity's clearance.  Access
 * decisions elsewhere reduce to label_dominates() and label_equal(), so this
 * module is the one place where the text of a label turns into a value.
 *
 * Text syntax (strict, ASCII, lowercase, no whitespace, no leading zeros):
 *
 *	level := "s" NUM [ ":" item { "," item } ]
 *	item  := "c" NUM [ "." "c" NUM ]	(cA.cB is inclusive and needs A < B)
 *	range := level [ "-" level ]
 *	NUM   := "0" | [1-9][0-9]*
 *
 * Items may come in any order and may overlap: only the resulting set counts.
 *
 * Canonical text (what label_format() writes): "sN" when there are no
 * categories, else "sN:" and the maximal runs of consecutive categories in
 * ascending order, separated by ",": a run of one is "cA", a run of two is
 * "cA,cA+1" and a run of three or more is "cA.cB".  For every valid label x,
 * label_parse(label_format(x)) == x, and for every accepted text s,
 * label_format(label_parse(s)) is the canonical text of s.  A range is written
 * "LOW-HIGH", or just "LOW" when LOW == HIGH; the same round-trip holds.
 *
 * Invariants: a struct label is valid when sens <= LABEL_SENS_MAX (every bit
 * of cats names a category, so the set cannot be out of range); a struct
 * label_range is valid when both levels are valid and high dominates low.
 * The parsers only ever produce valid values, and the formatters refuse
 * invalid ones, so nothing invalid survives a text round-trip.  Labels are
 * plain values: no allocation, no global state, safe to copy with "=".
 */
#ifndef CS_LABEL_H
#define CS_LABEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LABEL_SENS_MAX  15u   /* highest sensitivity, s15 */
#define LABEL_NCATS     1024u /* categories c0..c1023 */
#define LABEL_CAT_MAX   (LABEL_NCATS - 1u)
#define LABEL_CAT_WORDS (LABEL_NCATS / 64u)

/*
 * LABEL_STR_MAX: bytes needed for the canonical text of any level, NUL
 * included (3361).
 *
 * Why this is the maximum: canonical text writes "s15:" at most, then one
 * token "c" NUM per written category, tokens separated by one byte ("," or
 * "."). A run of three or more writes only its two ends, and runs are
 * separated by at least one absent category, so no three consecutive
 * categories are ever all written.  Hence at most ceil(2n/3) of any n
 * consecutive numbers are written: 7 of the 1-digit c0..c9, 60 of the 2-digit
 * c10..c99, 600 of the 3-digit c100..c999 and 16 of the 4-digit c1000..c1023,
 * 683 tokens in all.  The set {c : c mod 3 != 1} reaches every one of these
 * bounds at once (written as c0,c2,c3,c5,c6,...), so the bound is tight:
 *
 *	4 ("s15:") + 683 ("c") + 1991 (digits) + 682 (separators) + 1 (NUL)
 *
 * Note that the all-alternating set (c0,c2,c4,...) is shorter: only 512
 * tokens.  The unit test recomputes this maximum independently.
 */
#define LABEL_STR_MAX (4 + 683 + (7 * 1 + 60 * 2 + 600 * 3 + 16 * 4) + 682 + 1)

/* LABEL_RANGE_STR_MAX: bytes for any canonical range text, "LOW-HIGH" + NUL. */
#define LABEL_RANGE_STR_MAX (2 * (LABEL_STR_MAX - 1) + 1 + 1)

/* One level.  Read the fields freely; change them only through the functions below. */
struct label {
	unsigned int sens;              /* 0..LABEL_SENS_MAX */
	uint64_t cats[LABEL_CAT_WORDS]; /* bit (c % 64) of cats[c / 64] is category c */
};

/* A clearance: every level l with high >= l >= low (by dominance). */
struct label_range {
	struct label low;
	struct label high;
};

/*
 * label_init_sens(l, sens): set ${l} to sensitivity ${sens} with no
 * categories.  Returns 0, or CS_ERANGE if ${sens} > LABEL_SENS_MAX, in which
 * case ${l} is left unchanged.
 */
int label_init_sens(struct label *l, unsigned int sens) __attribute__((warn_unused_result));

/*
 * label_add_cat(l, cat): add category ${cat} to ${l}.  Returns 0, or
 * CS_ERANGE if ${cat} > LABEL_CAT_MAX, in which case ${l} is left unchanged.
 */
int label_add_cat(struct label *l, unsigned int cat) __attribute__((warn_unused_result));

/* label_has_cat(l, cat): true if ${l} holds category ${cat} (false when out of range). */
bool label_has_cat(const struct label *l, unsigned int cat);

/*
 * label_parse(s, len, out, why): parse the ${len} bytes at ${s} as one level.
 * ${s} need not be NUL-terminated and is never read past ${len}; input longer
 * than LABEL_STR_MAX - 1 bytes is refused before it is scanned (such a text is
 * never canonical).  Returns 0 and fills ${out}, or CS_EINVAL for malformed
 * input (or NULL ${s} or ${out}); then ${out} is left unchanged and, if ${why}
 * is not NULL, *${why} points to a static English string saying what is
 * wrong.  *${why} is not touched on success.  The caller owns ${out}.
 */
int label_parse(const char *s, size_t len, struct label *out, const char **why)
	__attribute__((warn_unused_result));

/*
 * label_format(l, buf, bufsz): write the canonical NUL-terminated text of
 * ${l} into ${buf} of ${bufsz} bytes (LABEL_STR_MAX always suffices).
 * Returns the text's length (without the NUL); CS_EINVAL if ${l} is NULL or
 * not valid, or ${buf} is NULL while ${bufsz} > 0; else CS_ERANGE if ${bufsz}
 * is too small.  On failure ${buf} holds the empty string if ${bufsz} > 0.
 * The caller owns ${buf}.
 */
int label_format(const struct label *l, char *buf, size_t bufsz)
	__attribute__((warn_unused_result));

/* label_equal(a, b): true if ${a} and ${b} are the same level. */
bool label_equal(const struct label *a, const struct label *b);

/*
 * label_dominates(a, b): true if ${a} dominates ${b}, that is sens(a) >=
 * sens(b) and cats(a) is a superset of cats(b).  Dominance is a partial
 * order: two labels may be incomparable (neither dominates the other).
 */
bool label_dominates(const struct label *a, const struct label *b);

/*
 * label_range_parse(s, len, out, why): parse "LOW-HIGH", or a single level
 * "L" meaning LOW == HIGH == L.  Each level obeys label_parse()'s rules, HIGH
 * must dominate LOW, and input longer than LABEL_RANGE_STR_MAX - 1 bytes is
 * refused before it is scanned.  Returns and reports errors exactly as
 * label_parse() does.
 */
int label_range_parse(const char *s, size_t len, struct label_range *out, const char **why)
	__attribute__((warn_unused_result));

/*
 * label_range_format(r, buf, bufsz): write the canonical text of ${r}
 * ("LOW-HIGH", or "LOW" when the two are equal) into ${buf} of ${bufsz} bytes
 * (LABEL_RANGE_STR_MAX always suffices).  Returns as label_format() does;
 * CS_EINVAL also when ${r}'s high does not dominate its low.
 */
int label_range_format(const struct label_range *r, char *buf, size_t bufsz)
	__attribute__((warn_unused_result));

/* label_range_contains(r, l): true if ${r}.high dominates ${l} and ${l} dominates ${r}.low. */
bool label_range_contains(const struct label_range *r, const struct label *l);

#endif /* CS_LABEL_H */
