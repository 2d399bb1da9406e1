/*
 * Unit tests for audit: the HMAC chain, its head, rotation, escaping and
 * bounds, concurrency, and the detection (by line) of every edit, removal,
 * swap and truncation; resuming after damage and after a crash.
 */
#include "testutil.h"
#include "audit/audit.h"
#include "util/err.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

static char base[64], dir[96];

static const uint8_t key[AUDIT_KEY_LEN] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a,
	0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13, 0x14, 0x15,
	0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f,
};

static int
setup(void **state)
{
	(void)state;
	snprintf(base, sizeof(base), "/tmp/cs-audit-XXXXXX");
	if (mkdtemp(base) == NULL)
		return -1;
	snprintf(dir, sizeof(dir), "%s/audit", base);
	return 0;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", base);
	return system(cmd) == 0 ? 0 : -1;
}

/* ---- helpers ------------------------------------------------------------- */

static const char *
path(const char *name)
{
	static char p[4][160];
	static int k;

	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", dir, name);
	return p[k];
}

static char *
slurp(const char *name, size_t *len)
{
	struct stat st;
	char *b;
	int fd = open(path(name), O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &st), 0);
	b = malloc((size_t)st.st_size + 1);
	assert_non_null(b);
	assert_int_equal(read(fd, b, (size_t)st.st_size), st.st_size);
	b[st.st_size] = 0;
	close(fd);
	*len = (size_t)st.st_size;
	return b;
}

/* spit: overwrite name in place (same inode, same mode). */
static void
spit(const char *name, const char *b, size_t len)
{
	int fd = open(path(name), O_WRONLY | O_TRUNC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, b, len), (ssize_t)len);
	close(fd);
}

/* line_at: the i-th (1-based) line of b, its newline included. */
static void
line_at(const char *b, size_t len, size_t i, size_t *off, size_t *n)
{
	size_t o = 0;

	for (size_t k = 1; k < i; k++) {
		const char *nl = memchr(b + o, '\n', len - o);

		assert_non_null(nl);
		o = (size_t)(nl - b) + 1;
	}
	*off = o;
	*n = (size_t)((const char *)memchr(b + o, '\n', len - o) - (b + o)) + 1;
}

static size_t
count_lines(const char *b, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++)
		n += b[i] == '\n';
	return n;
}

static struct audit *
open_log(uint64_t rotate, bool sync)
{
	struct audit *a = NULL;
	char why[256] = "x";

	if (audit_open(&a, dir, key, rotate, sync, why, sizeof(why)) != 0)
		fail_msg("audit_open: %s", why);
	if (audit_resume_warning(a) != NULL)
		fail_msg("unexpected resume warning: %s", audit_resume_warning(a));
	assert_string_equal(why, "");
	return a;
}

/* write_n: events seq from..from+n-1 with a user and a counter. */
static void
write_n(struct audit *a, unsigned from, unsigned n)
{
	for (unsigned i = from; i < from + n; i++) {
		char num[16];
		const char *kv[] = {"user", "alice", "i", num};

		snprintf(num, sizeof(num), "%u", i);
		assert_int_equal(audit_event(a, "test.event", kv, 2), 0);
	}
}

static void
make_log(unsigned n, uint64_t rotate)
{
	struct audit *a = open_log(rotate, false);

	write_n(a, 1, n);
	assert_int_equal(audit_seq(a), n);
	audit_close(a);
}

static void
expect_ok(uint64_t lines)
{
	struct audit_report r;

	if (audit_verify_dir(dir, key, &r) != 0)
		fail_msg("verify: %s line %llu seq %llu: %s", r.file, (unsigned long long)r.line,
			 (unsigned long long)r.seq, r.why);
	assert_true(r.ok);
	assert_int_equal(r.lines, lines);
}

/* expect_fail: verification fails in file at line, why containing what. */
static void
expect_fail(const char *file, uint64_t line, const char *what)
{
	struct audit_report r;

	assert_int_equal(audit_verify_dir(dir, key, &r), CS_EAUTH);
	assert_false(r.ok);
	if (strcmp(r.file, file) != 0 || r.line != line ||
	    (what != NULL && strstr(r.why, what) == NULL))
		fail_msg("expected %s line %llu (%s), got %s line %llu: %s", file,
			 (unsigned long long)line, what != NULL ? what : "-", r.file,
			 (unsigned long long)r.line, r.why);
}

/* unescape: the JSON string value of key k in line s, decoded byte-wise
 * (\u00XX -> byte XX, \u2028/\u2029 -> UTF-8) into out. */
static size_t
unescape(const char *s, const char *k, char *out, size_t cap)
{
	char pat[64];
	const char *p;
	size_t n = 0;

	snprintf(pat, sizeof(pat), "\"%s\":\"", k);
	p = strstr(s, pat);
	assert_non_null(p);
	for (p += strlen(pat); *p != '"'; p++) {
		assert_true(n + 3 < cap);
		assert_true((unsigned char)*p >= 0x20 && *p != '\n');
		if (*p != '\\') {
			out[n++] = *p;
			continue;
		}
		p++;
		if (*p == '"' || *p == '\\') {
			out[n++] = *p;
		} else if (*p == 'u' && strncmp(p + 1, "00", 2) == 0) {
			out[n++] = (char)(hex_value(p[3]) << 4 | hex_value(p[4]));
			p += 4;
		} else if (*p == 'u' && strncmp(p + 1, "202", 3) == 0) {
			memcpy(out + n, p[4] == '8' ? "\xe2\x80\xa8" : "\xe2\x80\xa9", 3);
			n += 3;
			p += 4;
		} else {
			fail_msg("unexpected escape \\%c", *p);
		}
	}
	out[n] = 0;
	return n;
}

/* utf8_valid: is b a well-formed UTF-8 string (no overlongs or surrogates)? */
static bool
utf8_valid(const unsigned char *b, size_t n)
{
	for (size_t i = 0; i < n;) {
		unsigned c = b[i];
		size_t k = c < 0x80                 ? 1
			   : c >= 0xc2 && c <= 0xdf ? 2
			   : c >= 0xe0 && c <= 0xef ? 3
			   : c >= 0xf0 && c <= 0xf4 ? 4
						    : 0;

		if (k == 0 || i + k > n)
			return false;
		for (size_t j = 1; j < k; j++)
			if ((b[i + j] & 0xc0) != 0x80)
				return false;
		if ((c == 0xe0 && b[i + 1] < 0xa0) || (c == 0xed && b[i + 1] > 0x9f) ||
		    (c == 0xf0 && b[i + 1] < 0x90) || (c == 0xf4 && b[i + 1] > 0x8f))
			return false;
		i += k;
	}
	return true;
}

/* ---- tests --------------------------------------------------------------- */

static void
test_write_verify_ok(void **state)
{
	struct audit_report r;
	struct audit *a;
	struct stat st;
	char *b, mac1[65];
	size_t len, off, n;
	const char *p;

	(void)state;
	a = open_log(0, true);
	assert_int_equal(audit_verify(a, &r), 0); /* an empty log is intact */
	assert_true(r.ok);
	assert_int_equal(r.lines, 0);
	write_n(a, 1, 10);
	assert_int_equal(audit_seq(a), 10);
	assert_int_equal(audit_verify(a, &r), 0);
	assert_true(r.ok);
	assert_int_equal(r.lines, 10);
	assert_int_equal(r.files, 1);
	audit_close(a);
	audit_close(NULL);
	expect_ok(10);

	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(path("audit.log"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(stat(path("audit.head"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	/* The format, field by field. */
	b = slurp("audit.log", &len);
	assert_int_equal(count_lines(b, len), 10);
	line_at(b, len, 1, &off, &n);
	assert_true(strncmp(b, "{\"seq\":1,\"time\":\"", 17) == 0);
	p = b + 17; /* 2026-11-25T10:00:00.123Z */
	for (int i = 0; i < 24; i++)
		if (!(i == 4 || i == 7     ? p[i] == '-'
		      : i == 10            ? p[i] == 'T'
		      : i == 13 || i == 16 ? p[i] == ':'
		      : i == 19            ? p[i] == '.'
		      : i == 23            ? p[i] == 'Z'
					   : p[i] >= '0' && p[i] <= '9'))
			fail_msg("bad time at %d: %.24s", i, p);
	p += 24;
	assert_true(strncmp(p,
			    "\",\"event\":\"test.event\",\"user\":\"alice\",\"i\":\"1\",\"prev\":\""
			    "0000000000000000000000000000000000000000000000000000000000000000\","
			    "\"mac\":\"",
			    strlen("\",\"event\":\"test.event\",\"user\":\"alice\",\"i\":\"1\","
				   "\"prev\":\"") +
				    64 + 9) == 0);
	assert_memory_equal(b + off + n - 3, "\"}\n", 3);
	memcpy(mac1, b + off + n - 67, 64);
	mac1[64] = 0;
	/* Line 2's prev is line 1's mac. */
	line_at(b, len, 2, &off, &n);
	assert_true(strncmp(b + off, "{\"seq\":2,", 9) == 0);
	assert_memory_equal(b + off + n - 140, mac1, 64);
	free(b);
}

static void
test_flipped_byte_named(void **state)
{
	const unsigned nlines = 8;
	size_t len, off, n;
	char *b;

	(void)state;
	make_log(nlines, 0);
	b = slurp("audit.log", &len);
	for (size_t i = 1; i <= nlines; i++) {
		line_at(b, len, i, &off, &n);
		/* Opening brace, seq, time, a value, prev, mac, the closing
		 * quote and the newline. */
		size_t pos[] = {0, 7, 20, n / 2, n - 100, n - 40, n - 3, n - 1};

		for (size_t j = 0; j < sizeof(pos) / sizeof(pos[0]); j++) {
			b[off + pos[j]] ^= 1;
			spit("audit.log", b, len);
			expect_fail("audit.log", i, NULL);
			b[off + pos[j]] ^= 1;
		}
		/* A hex letter of the mac in upper case: same value, another byte. */
		for (size_t j = n - 67; j < n - 3; j++)
			if (b[off + j] >= 'a' && b[off + j] <= 'f') {
				b[off + j] ^= 0x20;
				spit("audit.log", b, len);
				expect_fail("audit.log", i, "does not parse");
				b[off + j] ^= 0x20;
				break;
			}
	}
	spit("audit.log", b, len);
	expect_ok(nlines);
	free(b);
}

static void
test_deleted_line_named(void **state)
{
	const unsigned nlines = 8;
	size_t len, off, n;
	char *b, *c;

	(void)state;
	make_log(nlines, 0);
	b = slurp("audit.log", &len);
	c = malloc(len);
	assert_non_null(c);
	for (size_t i = 1; i <= nlines; i++) {
		line_at(b, len, i, &off, &n);
		memcpy(c, b, off);
		memcpy(c + off, b + off + n, len - off - n);
		spit("audit.log", c, len - n);
		expect_fail("audit.log", i,
			    i == 1        ? "not 1"
			    : i == nlines ? "lines removed at the end"
					  : "a line was removed");
	}
	spit("audit.log", b, len);
	expect_ok(nlines);
	free(c);
	free(b);
}

static void
test_swapped_lines_named(void **state)
{
	const unsigned nlines = 8;
	size_t len, o1, n1, o2, n2;
	char *b, *c;

	(void)state;
	make_log(nlines, 0);
	b = slurp("audit.log", &len);
	c = malloc(len);
	assert_non_null(c);
	for (size_t i = 1; i < nlines; i++) {
		line_at(b, len, i, &o1, &n1);
		line_at(b, len, i + 1, &o2, &n2);
		memcpy(c, b, len);
		memcpy(c + o1, b + o2, n2);
		memcpy(c + o1 + n2, b + o1, n1);
		spit("audit.log", c, len);
		expect_fail("audit.log", i, i == 1 ? "not 1" : "follows");
	}
	free(c);
	free(b);
}

static void
test_spliced_line_named(void **state)
{
	char other[128], *b, *c;
	size_t len, clen, off, n, coff, cn;
	struct audit *a;

	(void)state;
	/* Another log under the same key, with other content. */
	a = open_log(0, false);
	for (int i = 0; i < 6; i++) {
		const char *kv[] = {"user", "mallory"};

		assert_int_equal(audit_event(a, "test.event", kv, 1), 0);
	}
	audit_close(a);
	snprintf(other, sizeof(other), "%s/other", base);
	assert_int_equal(rename(dir, other), 0);
	make_log(6, 0);
	/* Its line 4 has the right seq and a valid mac, but another prev. */
	b = slurp("audit.log", &len);
	c = slurp("../other/audit.log", &clen);
	line_at(b, len, 4, &off, &n);
	line_at(c, clen, 4, &coff, &cn);
	b = realloc(b, len + cn);
	assert_non_null(b);
	memmove(b + off + cn, b + off + n, len - off - n);
	memcpy(b + off, c + coff, cn);
	spit("audit.log", b, len - n + cn);
	expect_fail("audit.log", 4, "prev does not match line 3's mac");
	free(c);
	free(b);
}

static void
test_truncated_tail_caught_by_head(void **state)
{
	const unsigned nlines = 6;
	size_t len, off, n, hlen;
	char *b, *h;

	(void)state;
	make_log(nlines, 0);
	b = slurp("audit.log", &len);
	h = slurp("audit.head", &hlen);
	line_at(b, len, nlines, &off, &n);
	spit("audit.log", b, off); /* the last line */
	expect_fail("audit.log", nlines, "log ends at seq 5 but the head records 6");
	line_at(b, len, nlines - 1, &off, &n);
	spit("audit.log", b, off); /* the last two */
	expect_fail("audit.log", nlines - 1, "lines removed at the end");
	spit("audit.log", b, 0); /* all of it */
	expect_fail("audit.log", 1, "log ends at seq 0");
	spit("audit.log", b, len);
	expect_ok(nlines);
	/* The head itself: edited, missing. */
	h[30] ^= 1;
	spit("audit.head", h, hlen);
	expect_fail("audit.head", 0, "does not verify");
	h[30] ^= 1;
	spit("audit.head", h, hlen);
	expect_ok(nlines);
	assert_int_equal(unlink(path("audit.head")), 0);
	expect_fail("audit.head", 0, "missing");
	free(h);
	free(b);
}

static void
test_rotation_and_reopen(void **state)
{
	struct audit_report r;
	struct audit *a;
	struct stat st;

	(void)state;
	make_log(20, 1024);
	assert_int_equal(stat(path("audit.log.000003"), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_true(st.st_size >= 1024);
	assert_int_equal(audit_verify_dir(dir, key, &r), 0);
	assert_true(r.ok);
	assert_int_equal(r.lines, 20);
	assert_true(r.files >= 4);
	/* The chain continues after close and open. */
	a = open_log(1024, false);
	assert_int_equal(audit_seq(a), 20);
	write_n(a, 21, 10);
	assert_int_equal(audit_seq(a), 30);
	assert_int_equal(audit_verify(a, &r), 0);
	assert_true(r.ok);
	assert_int_equal(r.lines, 30);
	audit_close(a);
	expect_ok(30);
}

static void
test_rotation_never_overwrites(void **state)
{
	struct audit *a;
	size_t len;
	char *b;
	int fd;

	(void)state;
	a = open_log(1024, false);
	write_n(a, 1, 2);
	/* A file appears where the first rotation would go. */
	fd = open(path("audit.log.000001"), O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "planted\n", 8), 8);
	close(fd);
	write_n(a, 3, 10);
	audit_close(a);
	b = slurp("audit.log.000001", &len);
	assert_int_equal(len, 8);
	assert_memory_equal(b, "planted\n", 8);
	free(b);
	expect_fail("audit.log.000001", 1, "does not parse");
}

static void
test_missing_rotated_file_named(void **state)
{
	char *b;
	size_t len, off, n;
	struct stat st;
	char last[32];
	int k;

	(void)state;
	make_log(32, 1024);
	assert_int_equal(rename(path("audit.log.000002"), path("moved")), 0);
	expect_fail("audit.log.000002", 0, "rotated file audit.log.000002 missing");
	assert_int_equal(rename(path("moved"), path("audit.log.000002")), 0);
	expect_ok(32);
	assert_int_equal(rename(path("audit.log.000001"), path("moved")), 0);
	expect_fail("audit.log.000001", 0, "missing");
	assert_int_equal(rename(path("moved"), path("audit.log.000001")), 0);
	/* The newest rotated file leaves no gap in the numbers: the chain
	 * catches it where audit.log begins. */
	for (k = 1; k < 100; k++) {
		snprintf(last, sizeof(last), "audit.log.%06d", k + 1);
		if (stat(path(last), &st) != 0)
			break;
	}
	snprintf(last, sizeof(last), "audit.log.%06d", k);
	assert_int_equal(stat(path("audit.log"), &st), 0);
	assert_true(st.st_size > 0);
	assert_int_equal(rename(path(last), path("moved")), 0);
	expect_fail("audit.log", 1, "follows");
	assert_int_equal(rename(path("moved"), path(last)), 0);
	/* A line deleted inside a rotated file is named there. */
	b = slurp("audit.log.000002", &len);
	line_at(b, len, 2, &off, &n);
	memmove(b + off, b + off + n, len - off - n);
	spit("audit.log.000002", b, len - n);
	expect_fail("audit.log.000002", 2, "a line was removed");
	free(b);
}

static void
test_wrong_key_fails_at_line_1(void **state)
{
	uint8_t other[AUDIT_KEY_LEN];
	struct audit_report r;
	struct audit *a;
	char why[256];

	(void)state;
	make_log(5, 0);
	memcpy(other, key, sizeof(other));
	other[31] ^= 0x80;
	assert_int_equal(audit_verify_dir(dir, other, &r), CS_EAUTH);
	assert_false(r.ok);
	assert_string_equal(r.file, "audit.log");
	assert_int_equal(r.line, 1);
	assert_int_equal(r.seq, 1);
	assert_non_null(strstr(r.why, "wrong key"));
	/* Opening under another key still opens, with a warning. */
	assert_int_equal(audit_open(&a, dir, other, 0, false, why, sizeof(why)), 0);
	assert_non_null(audit_resume_warning(a));
	assert_non_null(strstr(why, "audit.head does not verify"));
	audit_close(a);
}

static void
test_values_escaped_one_line_each(void **state)
{
	static const char *const values[] = {
		"plain",
		"quote\"d",
		"back\\slash",
		"line1\nline2\r\n{\"seq\":99}",
		"\x01\x02\x1f\x7f\ttab",
		"invalid \xff\xfe end",
		"bad cont \xc3\x28",
		"overlong \xc0\xaf",
		"surrogate \xed\xa0\x80",
		"too big \xf4\x90\x80\x80",
		"cut \xe2\x82",
		"valid h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x94\x92",
		"sep \xe2\x80\xa8 \xe2\x80\xa9",
	};
	const size_t nv = sizeof(values) / sizeof(values[0]);
	char *b, got[512];
	size_t len, off, n;
	struct audit *a;

	(void)state;
	a = open_log(0, false);
	for (size_t i = 0; i < nv; i++) {
		const char *kv[] = {"v", values[i], "after", "x"};

		assert_int_equal(audit_event(a, "esc", kv, 2), 0);
	}
	audit_close(a);
	expect_ok(nv);
	b = slurp("audit.log", &len);
	assert_int_equal(count_lines(b, len), nv);
	assert_true(utf8_valid((const unsigned char *)b, len));
	for (size_t i = 0; i < nv; i++) {
		line_at(b, len, i + 1, &off, &n);
		b[off + n - 1] = 0;
		for (size_t j = off; j < off + n - 1; j++)
			assert_true((unsigned char)b[j] >= 0x20 && b[j] != 0x7f);
		assert_int_equal(unescape(b + off, "v", got, sizeof(got)), strlen(values[i]));
		assert_string_equal(got, values[i]);
		unescape(b + off, "after", got, sizeof(got));
		assert_string_equal(got, "x");
		b[off + n - 1] = '\n';
	}
	assert_non_null(strstr(b, "\"quote\\\"d\""));
	assert_non_null(strstr(b, "\"back\\\\slash\""));
	assert_non_null(strstr(b, "line1\\u000aline2\\u000d\\u000a{\\\"seq\\\":99}"));
	assert_non_null(strstr(b, "invalid \\u00ff\\u00fe end"));
	assert_non_null(strstr(b, "overlong \\u00c0\\u00af"));
	assert_non_null(strstr(b, "valid h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x94\x92"));
	assert_non_null(strstr(b, "sep \\u2028 \\u2029"));
	free(b);
}

static void
test_bad_names_refused(void **state)
{
	const char *ok[] = {"user", "alice"};
	const char *upper[] = {"User", "a"}, *dash[] = {"a-b", "a"}, *empty[] = {"", "a"},
		   *fixed[] = {"mac", "a"}, *dup[] = {"a", "1", "a", "2"}, *nullv[] = {"a", NULL},
		   *longk[] = {"abcdefghijklmnopqrstuvwxyz0123456", "a"};
	const char *many[2 * (AUDIT_PAIRS_MAX + 1)];
	char keys[AUDIT_PAIRS_MAX + 1][8];
	struct audit *a;
	size_t len;
	char *b;

	(void)state;
	for (size_t i = 0; i <= AUDIT_PAIRS_MAX; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		many[2 * i] = keys[i];
		many[2 * i + 1] = "v";
	}
	a = open_log(0, false);
	assert_int_equal(audit_event(a, NULL, ok, 1), CS_EINVAL);
	assert_int_equal(audit_event(a, "", ok, 1), CS_EINVAL);
	assert_int_equal(audit_event(a, "two words", ok, 1), CS_EINVAL);
	assert_int_equal(audit_event(a, "quo\"te", ok, 1), CS_EINVAL);
	assert_int_equal(
		audit_event(a, "x2345678901234567890123456789012345678901234567890123456789012345",
			    ok, 1),
		CS_EINVAL);
	assert_int_equal(audit_event(a, "e", upper, 1), CS_EINVAL);
	assert_int_equal(audit_event(a, "e", dash, 1), CS_EINVAL);
	assert_int_equal(audit_event(a, "e", empty, 1), CS_EINVAL);
	assert_int_equal(audit_event(a, "e", fixed, 1), CS_EINVAL);
	assert_int_equal(audit_event(a, "e", dup, 2), CS_EINVAL);
	assert_int_equal(audit_event(a, "e", nullv, 1), CS_EINVAL);
	assert_int_equal(audit_event(a, "e", longk, 1), CS_EINVAL);
	assert_int_equal(audit_event(a, "e", NULL, 1), CS_EINVAL);
	assert_int_equal(audit_event(a, "e", many, AUDIT_PAIRS_MAX + 1), CS_EINVAL);
	assert_int_equal(audit_seq(a), 0);
	assert_int_equal(audit_event(a, "e", many, AUDIT_PAIRS_MAX), 0);
	assert_int_equal(audit_event(a, "S3:Put_Object.v-2", NULL, 0), 0);
	assert_int_equal(audit_seq(a), 2);
	audit_close(a);
	b = slurp("audit.log", &len);
	assert_int_equal(count_lines(b, len), 2);
	free(b);
	expect_ok(2);
}

static void
test_huge_values_bounded(void **state)
{
	const size_t big = 100 * 1024;
	char *v = malloc(big + 1), *nl = malloc(big + 1), *euro = malloc(3 * big + 1), *b;
	const char *kv[2 * AUDIT_PAIRS_MAX];
	char keys[AUDIT_PAIRS_MAX][8], got[AUDIT_LINE_MAX];
	size_t len, off, n;
	struct audit *a;

	(void)state;
	assert_non_null(v);
	assert_non_null(nl);
	assert_non_null(euro);
	memset(v, 'A', big);
	v[big] = 0;
	memset(nl, '\n', big);
	nl[big] = 0;
	for (size_t i = 0; i < big; i++)
		memcpy(euro + 3 * i, "\xe2\x82\xac", 3);
	euro[3 * big] = 0;
	a = open_log(0, false);
	{
		const char *kv1[] = {"big", v, "user", "alice", "bucket", "b1"};
		const char *kv2[] = {"nl", nl};
		const char *kv3[] = {"euro", euro, "after", "kept"};

		assert_int_equal(audit_event(a, "huge", kv1, 3), 0);
		assert_int_equal(audit_event(a, "huge", kv2, 1), 0);
		assert_int_equal(audit_event(a, "huge", kv3, 2), 0);
	}
	for (size_t i = 0; i < AUDIT_PAIRS_MAX; i++) {
		snprintf(keys[i], sizeof(keys[i]), "k%zu", i);
		kv[2 * i] = keys[i];
		kv[2 * i + 1] = i % 2 == 0 ? nl : euro;
	}
	assert_int_equal(audit_event(a, "huge", kv, AUDIT_PAIRS_MAX), 0);
	audit_close(a);
	expect_ok(4);
	b = slurp("audit.log", &len);
	assert_int_equal(count_lines(b, len), 4);
	assert_true(utf8_valid((const unsigned char *)b, len));
	for (size_t i = 1; i <= 4; i++) {
		line_at(b, len, i, &off, &n);
		assert_true(n <= AUDIT_LINE_MAX);
		assert_true(n > AUDIT_LINE_MAX - 200); /* the budget is used, not wasted */
	}
	line_at(b, len, 1, &off, &n);
	b[off + n - 1] = 0;
	assert_non_null(strstr(b + off, "AAAA[truncated: 102400 bytes]\""));
	assert_non_null(strstr(b + off, "\"user\":\"alice\",\"bucket\":\"b1\""));
	b[off + n - 1] = '\n';
	for (size_t i = 2; i <= 4; i++) {
		/* No escape or character cut in half before the marker. */
		line_at(b, len, i, &off, &n);
		b[off + n - 1] = 0;
		unescape(b + off, i == 3 ? "euro" : i == 2 ? "nl" : "k1", got, sizeof(got));
		assert_non_null(strstr(got, i == 3   ? "\xe2\x82\xac[truncated: 307200 bytes]"
					    : i == 2 ? "\n[truncated: 102400 bytes]"
						     : "\xe2\x82\xac[truncated: 307200 bytes]"));
		b[off + n - 1] = '\n';
	}
	line_at(b, len, 3, &off, &n);
	b[off + n - 1] = 0;
	assert_non_null(strstr(b + off, "\"after\":\"kept\""));
	free(b);
	free(euro);
	free(nl);
	free(v);
}

#define NTHREADS 4
#define NEVENTS  200

struct worker {
	struct audit *a;
	int id;
	int failures;
};

static void *
writer(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < NEVENTS; i++) {
		char t[8], n[16];
		const char *kv[] = {"t", t, "n", n};

		snprintf(t, sizeof(t), "%d", w->id);
		snprintf(n, sizeof(n), "%d", i);
		w->failures += audit_event(w->a, "thread", kv, 2) != 0;
	}
	return NULL;
}

static volatile int writers_done;

static void *
checker(void *arg)
{
	struct worker *w = arg;
	struct audit_report r;

	do
		w->failures += audit_verify(w->a, &r) != 0 || !r.ok;
	while (!__atomic_load_n(&writers_done, __ATOMIC_ACQUIRE));
	return NULL;
}

static void
test_threads_one_chain(void **state)
{
	struct worker w[NTHREADS + 1];
	pthread_t th[NTHREADS + 1];
	struct audit_report r;
	struct audit *a;
	int per[NTHREADS] = {0};
	const char *s, *f;
	char name[32];
	struct stat st;

	(void)state;
	a = open_log(64 * 1024, false);
	for (int i = 0; i <= NTHREADS; i++) {
		w[i] = (struct worker){.a = a, .id = i};
		assert_int_equal(
			pthread_create(&th[i], NULL, i < NTHREADS ? writer : checker, &w[i]), 0);
	}
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	__atomic_store_n(&writers_done, 1, __ATOMIC_RELEASE);
	assert_int_equal(pthread_join(th[NTHREADS], NULL), 0);
	for (int i = 0; i <= NTHREADS; i++)
		assert_int_equal(w[i].failures, 0);
	assert_int_equal(audit_seq(a), NTHREADS * NEVENTS);
	assert_int_equal(audit_verify(a, &r), 0);
	assert_int_equal(r.lines, NTHREADS * NEVENTS);
	assert_true(r.files >= 3); /* rotated while writing */
	audit_close(a);
	expect_ok(NTHREADS * NEVENTS);
	/* Every thread's events are there, once. */
	for (int k = 1;; k++) {
		size_t len;
		char *b;

		snprintf(name, sizeof(name), "audit.log.%06d", k);
		if (stat(path(name), &st) != 0)
			snprintf(name, sizeof(name), "audit.log");
		b = slurp(name, &len);
		for (s = b; (f = strstr(s, "\"t\":\"")) != NULL; s = f + 5)
			per[f[5] - '0']++;
		free(b);
		if (strcmp(name, "audit.log") == 0)
			break;
	}
	for (int i = 0; i < NTHREADS; i++)
		assert_int_equal(per[i], NEVENTS);
}

static void
test_open_damaged_tail_warns(void **state)
{
	struct audit *a;
	char why[512], *b;
	size_t len, off, n;

	(void)state;
	make_log(5, 0);
	b = slurp("audit.log", &len);
	line_at(b, len, 5, &off, &n);
	b[off + 20] = b[off + 20] == '1' ? '2' : '1'; /* a digit of the time */
	spit("audit.log", b, len);
	assert_int_equal(audit_open(&a, dir, key, 0, false, why, sizeof(why)), 0);
	assert_non_null(audit_resume_warning(a));
	assert_non_null(strstr(why, "seq 5) does not verify"));
	assert_int_equal(audit_seq(a), 5);
	write_n(a, 6, 2);
	audit_close(a);
	expect_fail("audit.log", 5, "mac does not match");

	/* A last line that does not even parse: the chain continues from the head. */
	line_at(b, len, 5, &off, &n);
	memcpy(b + off, "garbage\n", 8);
	spit("audit.log", b, off + 8);
	assert_int_equal(audit_open(&a, dir, key, 0, false, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "does not parse"));
	assert_int_equal(audit_seq(a), 7);
	write_n(a, 8, 1);
	audit_close(a);
	expect_fail("audit.log", 5, "does not parse");
	free(b);
}

static void
test_crash_between_line_and_head(void **state)
{
	size_t h4len, h5len, len;
	char *h4, *h5, *h;
	struct audit_report r;
	struct audit *a;

	(void)state;
	a = open_log(0, true);
	write_n(a, 1, 4);
	h4 = slurp("audit.head", &h4len);
	write_n(a, 5, 1);
	h5 = slurp("audit.head", &h5len);
	audit_close(a);
	/* The line reached the log, the head did not. */
	spit("audit.head", h4, h4len);
	expect_ok(5);          /* one line ahead is a crash, not an attack */
	a = open_log(0, true); /* repairs without a warning */
	h = slurp("audit.head", &len);
	assert_int_equal(len, h5len);
	assert_memory_equal(h, h5, len);
	assert_int_equal(audit_seq(a), 5);
	assert_int_equal(audit_verify(a, &r), 0);
	write_n(a, 6, 2);
	assert_int_equal(audit_verify(a, &r), 0);
	assert_int_equal(r.lines, 7);
	audit_close(a);
	expect_ok(7);
	free(h);
	free(h5);
	free(h4);
}

static void
test_incomplete_line_after_crash(void **state)
{
	static const char frag[] = "{\"seq\":4,\"time\":\"2026-";
	struct audit *a;
	char why[512];
	int fd;

	(void)state;
	make_log(3, 0);
	fd = open(path("audit.log"), O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, frag, sizeof(frag) - 1), (ssize_t)sizeof(frag) - 1);
	close(fd);
	expect_fail("audit.log", 4, "incomplete");
	assert_int_equal(audit_open(&a, dir, key, 0, false, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "incomplete"));
	assert_int_equal(audit_seq(a), 3);
	write_n(a, 4, 2);
	audit_close(a);
	/* The fragment is a line of its own; the new lines are whole. */
	expect_fail("audit.log", 4, "does not parse");
}

static void
test_truncation_survives_restart(void **state)
{
	struct audit *a;
	char why[512], *b;
	size_t len, off, n;

	(void)state;
	make_log(6, 0);
	b = slurp("audit.log", &len);
	line_at(b, len, 5, &off, &n);
	spit("audit.log", b, off);
	assert_int_equal(audit_open(&a, dir, key, 0, false, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "lines removed at the end"));
	assert_int_equal(audit_seq(a), 6);
	write_n(a, 7, 2);
	audit_close(a);
	expect_fail("audit.log", 5, "seq 7 follows 4");
	/* An emptied log too. */
	spit("audit.log", b, 0);
	assert_int_equal(audit_open(&a, dir, key, 0, false, why, sizeof(why)), 0);
	assert_non_null(strstr(why, "empty"));
	write_n(a, 9, 1);
	audit_close(a);
	expect_fail("audit.log", 1, "not 1");
	free(b);
}

static void
test_overlong_line_is_damage(void **state)
{
	char *junk = malloc(AUDIT_READ_LINE_MAX + 2);
	int fd;

	(void)state;
	assert_non_null(junk);
	make_log(2, 0);
	memset(junk, 'x', AUDIT_READ_LINE_MAX + 1);
	junk[AUDIT_READ_LINE_MAX + 1] = '\n';
	fd = open(path("audit.log"), O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, AUDIT_READ_LINE_MAX + 2), AUDIT_READ_LINE_MAX + 2);
	close(fd);
	expect_fail("audit.log", 3, "longer than");
	free(junk);
}

static void
test_symlinks_refused(void **state)
{
	struct audit *a = NULL;
	char why[256];

	(void)state;
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(symlink("/dev/null", path("audit.log")), 0);
	assert_int_equal(audit_open(&a, dir, key, 0, false, why, sizeof(why)), CS_EIO);
	assert_null(a);
	assert_int_equal(unlink(path("audit.log")), 0);
	assert_int_equal(symlink("/tmp/nowhere", path("audit.head")), 0);
	assert_int_equal(audit_open(&a, dir, key, 0, false, why, sizeof(why)), CS_EIO);
	assert_null(a);
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_write_verify_ok),
		T(test_flipped_byte_named),
		T(test_deleted_line_named),
		T(test_swapped_lines_named),
		T(test_spliced_line_named),
		T(test_truncated_tail_caught_by_head),
		T(test_rotation_and_reopen),
		T(test_rotation_never_overwrites),
		T(test_missing_rotated_file_named),
		T(test_wrong_key_fails_at_line_1),
		T(test_values_escaped_one_line_each),
		T(test_bad_names_refused),
		T(test_huge_values_bounded),
		T(test_threads_one_chain),
		T(test_open_damaged_tail_warns),
		T(test_crash_between_line_and_head),
		T(test_incomplete_line_after_crash),
		T(test_truncation_survives_restart),
		T(test_overlong_line_is_damage),
		T(test_symlinks_refused),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
