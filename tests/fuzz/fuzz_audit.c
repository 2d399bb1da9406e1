/*
 * fuzz_audit: the audit log's reader and verifier (lib/audit), on a fresh
 * directory per input, under a fixed chain key.
 *
 * Input: [mode u8] then, by bit 0 of mode:
 *   0 (files): records [kind u8][len u16][payload] that become the
 *     directory: kind 0 audit.log, 1 audit.head, 2 a rotated file
 *     audit.log.00000N (N from the payload's first byte), 3 a file with a
 *     name of the payload's choosing, 4 more lines appended to audit.log.
 *     audit_verify_dir() checks it; then (mode bit 1) audit_open() resumes
 *     on it, appends an event and closes, and the log is verified again: a
 *     log that verified before the append must verify after it.
 *   1 (writer): [rotate u8][events u8] then per event [name rec][pairs u8]
 *     and per pair [key rec][value rec] (rec: u16 length + bytes), written
 *     with audit_event() into a log that rotates every rotate * 32 bytes
 *     (0: the default).  The log must then verify, line for line; each line
 *     must be at most AUDIT_LINE_MAX bytes, hold no raw control character,
 *     no invalid UTF-8 and no raw U+2028/U+2029, and give back every value
 *     (or, when cut, a prefix of it and the truncation mark with its true
 *     length).  What input is left are damage operations on the files: flip
 *     a byte, truncate, delete/swap/duplicate a line, delete a rotated file,
 *     put back an older audit.head.  One operation that changed anything
 *     must make the verification fail (tamper evidence), except a head one
 *     line behind, which audit.h allows.  The damaged log is then resumed
 *     with audit_open(), appended to and verified again (no oracle: only
 *     that nothing breaks).
 */
#include "audit/audit.h"
#include "fuzz.h"
#include "util/err.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_EVENTS 24
#define MAX_PAIRS  5
#define MAX_ROT    8

static const uint8_t key[AUDIT_KEY_LEN] = {
	0x61, 0x75, 0x64, 0x69, 0x74, 0x2d, 0x6b, 0x65, 0x79, 0x2d, 0x66,
	0x6f, 0x72, 0x2d, 0x66, 0x75, 0x7a, 0x7a, 0x69, 0x6e, 0x67, 0x2d,
	0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39,
};

/* ---- files --------------------------------------------------------------------------------- */

struct file {
	uint8_t *b;
	size_t n;
};

static bool
read_file(const char *dir, const char *name, struct file *f)
{
	char path[600];
	struct stat st;
	int fd;

	f->b = NULL;
	f->n = 0;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
		return false;
	FUZZ_CHECK(fstat(fd, &st) == 0);
	f->b = malloc((size_t)st.st_size + 1);
	FUZZ_CHECK(f->b != NULL);
	f->n = (size_t)st.st_size;
	FUZZ_CHECK(read(fd, f->b, f->n) == (ssize_t)f->n);
	close(fd);
	return true;
}

static void
rot_file(char out[32], unsigned n)
{
	snprintf(out, 32, "audit.log.%06u", n);
}

static void
check_report(int rc, const struct audit_report *r)
{
	FUZZ_CHECK(rc == 0 || rc == CS_EAUTH || rc == CS_EIO || rc == CS_ENOMEM);
	FUZZ_CHECK((rc == 0) == r->ok);
	FUZZ_CHECK(memchr(r->file, '\0', sizeof(r->file)) && memchr(r->why, '\0', sizeof(r->why)));
	if (rc == CS_EAUTH)
		FUZZ_CHECK(r->file[0] != '\0' && r->why[0] != '\0');
}

/* verify: audit_verify_dir() with its report checked; true if the log is intact. */
static bool
verify(const char *dir, struct audit_report *r)
{
	int rc = audit_verify_dir(dir, key, r);

	check_report(rc, r);
	return rc == 0;
}

/* append_one: resume the log in dir, add an event, close; the event's result. */
static int
append_one(const char *dir)
{
	static const char *const kv[] = {"user", "fuzz", "detail", "resumed"};
	struct audit *a = NULL;
	char why[512];
	int rc = audit_open(&a, dir, key, 0, false, why, sizeof(why));

	FUZZ_CHECK(rc <= 0 && (rc == 0) == (a != NULL));
	if (rc != 0) {
		FUZZ_CHECK(why[0] != '\0');
		return rc;
	}
	FUZZ_CHECK(strlen(why) < sizeof(why));
	rc = audit_event(a, "fuzz.resume", kv, 2);
	FUZZ_CHECK(rc == 0 || rc == CS_EIO);
	audit_close(a);
	return rc;
}

/* ---- mode 0: fuzzed files -------------------------------------------------------------------- */

static void
files_mode(struct fuzz_in *in, const char *dir, bool resume)
{
	struct audit_report r;
	bool intact;

	while (in->n > 0) {
		uint8_t kind = fuzz_take_u8(in);
		size_t n = 0;
		const uint8_t *p = fuzz_take_rec(in, &n);
		char name[64];

		if (p == NULL)
			break;
		switch (kind % 5) {
		case 0:
			fuzz_write(dir, "audit.log", p, n, 0600);
			break;
		case 1:
			fuzz_write(dir, "audit.head", p, n, 0600);
			break;
		case 2:
			rot_file(name, n > 0 ? p[0] % MAX_ROT + 1u : 1u);
			fuzz_write(dir, name, p + (n > 0), n - (n > 0), 0600);
			break;
		case 3: {
			size_t o = 0;

			for (size_t i = 0; i < n && o < 40; i++)
				if ((p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9') ||
				    p[i] == '.')
					name[o++] = (char)p[i];
			name[o] = '\0';
			if (o > 0 && strspn(name, ".") != o)
				fuzz_write(dir, name, "", 0, 0600);
			break;
		}
		default: {
			struct file f;
			uint8_t *b;

			if (!read_file(dir, "audit.log", &f))
				f.n = 0;
			b = malloc(f.n + n + 1);
			FUZZ_CHECK(b != NULL);
			if (f.n > 0)
				memcpy(b, f.b, f.n);
			memcpy(b + f.n, p, n);
			fuzz_write(dir, "audit.log", b, f.n + n, 0600);
			free(b);
			free(f.b);
			break;
		}
		}
	}
	intact = verify(dir, &r);
	if (!resume)
		return;
	if (append_one(dir) == 0 && intact)
		FUZZ_CHECK(verify(dir, &r));
	else
		(void)verify(dir, &r);
}

/* ---- mode 1: the writer, line by line, then damage ------------------------------------------- */

struct event {
	char *name;
	char *kv[2 * MAX_PAIRS];
	size_t npairs;
};

static char *
take_str(struct fuzz_in *in)
{
	size_t n = 0;
	const uint8_t *p = fuzz_take_rec(in, &n);
	char *s = malloc(n + 1);

	FUZZ_CHECK(s != NULL);
	if (n > 0)
		memcpy(s, p, n);
	s[n] = '\0';
	return s;
}

static void
event_free(struct event *e)
{
	free(e->name);
	for (size_t i = 0; i < 2 * e->npairs; i++)
		free(e->kv[i]);
}

/* utf8_ok: s[0..n) is valid UTF-8 (no overlong forms, surrogates or > U+10FFFF). */
static bool
utf8_ok(const uint8_t *s, size_t n)
{
	for (size_t i = 0; i < n;) {
		uint32_t c = s[i], cp;
		size_t k;

		if (c < 0x80) {
			i++;
			continue;
		}
		k = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 0;
		if (k == 0 || c > 0xf4 || n - i < k)
			return false;
		cp = c & (0xffu >> (k + 1));
		for (size_t j = 1; j < k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (s[i + j] & 0x3fu);
		}
		if ((k == 2 && cp < 0x80) || (k == 3 && cp < 0x800) || (k == 4 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return false;
		i += k;
	}
	return true;
}

static int
hexval(uint8_t c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * json_value(s, n, pos, out, outlen): decode the JSON string at s[*pos]
 * (just after its opening quote) the way audit.h says a reader should: \uXXXX
 * below U+0100 is that byte (a raw byte of invalid UTF-8 when >= 0x80),
 * \u2028 and \u2029 their UTF-8.  *pos moves past the closing quote.
 */
static bool
json_value(const uint8_t *s, size_t n, size_t *pos, uint8_t *out, size_t *outlen)
{
	size_t i = *pos, o = 0;

	while (i < n && s[i] != '"') {
		if (s[i] != '\\') {
			out[o++] = s[i++];
			continue;
		}
		if (i + 1 >= n)
			return false;
		if (s[i + 1] == '"' || s[i + 1] == '\\') {
			out[o++] = s[i + 1];
			i += 2;
			continue;
		}
		if (s[i + 1] != 'u' || n - i < 6)
			return false;
		{
			int h[4];
			uint32_t v = 0;

			for (int k = 0; k < 4; k++) {
				if ((h[k] = hexval(s[i + 2 + (size_t)k])) < 0)
					return false;
				v = v << 4 | (uint32_t)h[k];
			}
			if (v < 0x100) {
				/* Only what must be escaped is. */
				if (v >= 0x20 && v < 0x7f)
					return false;
				out[o++] = (uint8_t)v;
			} else if (v == 0x2028 || v == 0x2029) {
				out[o++] = 0xe2;
				out[o++] = 0x80;
				out[o++] = v == 0x2028 ? 0xa8 : 0xa9;
			} else {
				return false;
			}
			i += 6;
		}
	}
	if (i >= n)
		return false;
	*pos = i + 1;
	*outlen = o;
	return true;
}

static bool
expect(const uint8_t *s, size_t n, size_t *pos, const char *lit)
{
	size_t l = strlen(lit);

	if (n - *pos < l || memcmp(s + *pos, lit, l) != 0)
		return false;
	*pos += l;
	return true;
}

/* check_line: one written line against the event it was written for. */
static void
check_line(const uint8_t *s, size_t n, const struct event *e, uint8_t *scratch)
{
	size_t pos = 0, dl = 0;

	FUZZ_CHECK(n + 1 <= AUDIT_LINE_MAX);
	for (size_t i = 0; i < n; i++) {
		FUZZ_CHECK(s[i] >= 0x20 && s[i] != 0x7f);
		if (i + 2 < n && s[i] == 0xe2 && s[i + 1] == 0x80)
			FUZZ_CHECK(s[i + 2] != 0xa8 && s[i + 2] != 0xa9);
	}
	FUZZ_CHECK(utf8_ok(s, n));
	FUZZ_CHECK(expect(s, n, &pos, "{\"seq\":"));
	while (pos < n && s[pos] >= '0' && s[pos] <= '9')
		pos++;
	FUZZ_CHECK(expect(s, n, &pos, ",\"time\":\"") && n - pos > 24 && s[pos + 23] == 'Z');
	pos += 24;
	FUZZ_CHECK(expect(s, n, &pos, "\",\"event\":\"") && expect(s, n, &pos, e->name) &&
		   expect(s, n, &pos, "\""));
	for (size_t i = 0; i < e->npairs; i++) {
		const char *v = e->kv[2 * i + 1];
		size_t vl = strlen(v);
		char mark[64];
		int ml = snprintf(mark, sizeof(mark), "[truncated: %zu bytes]", vl);

		FUZZ_CHECK(expect(s, n, &pos, ",\"") && expect(s, n, &pos, e->kv[2 * i]) &&
			   expect(s, n, &pos, "\":\""));
		FUZZ_CHECK(json_value(s, n, &pos, scratch, &dl));
		if (dl == vl && memcmp(scratch, v, vl) == 0)
			continue;
		/* Cut: a prefix of the value, then the mark with the value's length. */
		FUZZ_CHECK(dl >= (size_t)ml && memcmp(scratch + dl - ml, mark, (size_t)ml) == 0);
		FUZZ_CHECK(dl - (size_t)ml < vl && memcmp(scratch, v, dl - (size_t)ml) == 0);
	}
	FUZZ_CHECK(expect(s, n, &pos, ",\"prev\":\""));
	for (int k = 0; k < 64; k++)
		FUZZ_CHECK(pos < n && hexval(s[pos++]) >= 0);
	FUZZ_CHECK(expect(s, n, &pos, "\",\"mac\":\""));
	for (int k = 0; k < 64; k++)
		FUZZ_CHECK(pos < n && hexval(s[pos++]) >= 0);
	FUZZ_CHECK(expect(s, n, &pos, "\"}") && pos == n);
}

/* The log's files in chain order: rotated ones, then audit.log. */
struct logfiles {
	char name[MAX_EVENTS + 2][32];
	size_t n;
};

static void
list_logs(const char *dir, struct logfiles *lf)
{
	struct file f;

	lf->n = 0;
	for (unsigned i = 1; i <= MAX_EVENTS + 1; i++) {
		rot_file(lf->name[lf->n], i);
		if (!read_file(dir, lf->name[lf->n], &f))
			break;
		free(f.b);
		lf->n++;
	}
	snprintf(lf->name[lf->n++], 32, "audit.log");
}

/* check_lines: every line of the log, in order, against the events written. */
static void
check_lines(const char *dir, const struct event *ev, size_t nev)
{
	struct logfiles lf;
	uint8_t *scratch = malloc(AUDIT_LINE_MAX);
	size_t k = 0;

	FUZZ_CHECK(scratch != NULL);
	list_logs(dir, &lf);
	for (size_t i = 0; i < lf.n; i++) {
		struct file f;
		size_t start = 0;

		if (!read_file(dir, lf.name[i], &f))
			continue;
		for (size_t j = 0; j < f.n; j++) {
			if (f.b[j] != '\n')
				continue;
			FUZZ_CHECK(k < nev);
			check_line(f.b + start, j - start, &ev[k++], scratch);
			start = j + 1;
		}
		FUZZ_CHECK(start == f.n);
		free(f.b);
	}
	FUZZ_CHECK(k == nev);
	free(scratch);
}

/* Lines of a file as offsets, for the damage operations. */
static size_t
line_spans(const struct file *f, size_t *start, size_t *len, size_t max)
{
	size_t n = 0, s = 0;

	for (size_t j = 0; j < f->n && n < max; j++) {
		if (f->b[j] != '\n')
			continue;
		start[n] = s;
		len[n++] = j + 1 - s;
		s = j + 1;
	}
	return n;
}

/* damage: one operation; true if it changed anything (and was not allowed by design). */
static bool
damage(struct fuzz_in *in, const char *dir, const struct file *heads, size_t nheads)
{
	struct logfiles lf;
	struct file f;
	uint8_t op = fuzz_take_u8(in), which = fuzz_take_u8(in);
	uint32_t a = fuzz_take_u32(in), b = fuzz_take_u32(in);
	size_t st[MAX_EVENTS + 2], ln[MAX_EVENTS + 2], nl;
	const char *name;
	bool changed = false;

	list_logs(dir, &lf);
	name = which % (lf.n + 1) == lf.n ? "audit.head" : lf.name[which % (lf.n + 1)];
	if (!read_file(dir, name, &f))
		return false;
	nl = line_spans(&f, st, ln, MAX_EVENTS + 2);
	switch (op % 7) {
	case 0: /* flip a byte */
		if (f.n > 0) {
			f.b[a % f.n] ^= (uint8_t)(b | 1);
			changed = true;
		}
		break;
	case 1: /* truncate */
		if (f.n > 0) {
			f.n = a % f.n;
			changed = true;
		}
		break;
	case 2: /* delete a line */
		if (nl > 0) {
			size_t i = a % nl;

			memmove(f.b + st[i], f.b + st[i] + ln[i], f.n - st[i] - ln[i]);
			f.n -= ln[i];
			changed = true;
		}
		break;
	case 3: /* swap two lines */
		if (nl > 1 && a % nl != b % nl) {
			size_t i = a % nl < b % nl ? a % nl : b % nl, j = a % nl ^ b % nl ^ i;
			uint8_t *t = malloc(f.n);

			FUZZ_CHECK(t != NULL);
			memcpy(t, f.b, st[i]);
			memcpy(t + st[i], f.b + st[j], ln[j]);
			memcpy(t + st[i] + ln[j], f.b + st[i] + ln[i], st[j] - st[i] - ln[i]);
			memcpy(t + st[j] - ln[i] + ln[j], f.b + st[i], ln[i]);
			memcpy(t + st[j] + ln[j], f.b + st[j] + ln[j], f.n - st[j] - ln[j]);
			free(f.b);
			f.b = t;
			changed = true;
		}
		break;
	case 4: /* duplicate a line */
		if (nl > 0) {
			size_t i = a % nl;
			uint8_t *t = malloc(f.n + ln[i]);

			FUZZ_CHECK(t != NULL);
			memcpy(t, f.b, st[i] + ln[i]);
			memcpy(t + st[i] + ln[i], f.b + st[i], f.n - st[i]);
			free(f.b);
			f.b = t;
			f.n += ln[i];
			changed = true;
		}
		break;
	case 5: /* delete a rotated file */
		if (lf.n > 1) {
			char path[600];

			snprintf(path, sizeof(path), "%s/%s", dir, lf.name[a % (lf.n - 1)]);
			FUZZ_CHECK(unlink(path) == 0);
			free(f.b);
			return true;
		}
		break;
	default: /* put back an older head */
		if (nheads > 1) {
			size_t i = a % nheads;

			free(f.b);
			fuzz_write(dir, "audit.head", heads[i].b, heads[i].n, 0600);
			/* The newest is the same; the one before it is a writer between writes. */
			return i + 2 < nheads;
		}
		break;
	}
	if (changed)
		fuzz_write(dir, name, f.b, f.n, 0600);
	free(f.b);
	return changed;
}

static void
writer_mode(struct fuzz_in *in, const char *dir)
{
	struct event ev[MAX_EVENTS];
	struct file heads[MAX_EVENTS + 1];
	struct audit_report r;
	struct audit *a = NULL;
	char why[512];
	uint8_t rot = fuzz_take_u8(in);
	size_t want = fuzz_take_u8(in) % (MAX_EVENTS + 1), nev = 0, nheads = 0;
	bool changed;

	FUZZ_CHECK(audit_open(&a, dir, key, (uint64_t)rot * 32, false, why, sizeof(why)) == 0);
	FUZZ_CHECK(why[0] == '\0' && audit_resume_warning(a) == NULL && audit_seq(a) == 0);
	FUZZ_CHECK(read_file(dir, "audit.head", &heads[nheads]));
	nheads++;
	for (size_t i = 0; i < want; i++) {
		struct event *e = &ev[nev];
		int rc;

		memset(e, 0, sizeof(*e));
		e->name = take_str(in);
		e->npairs = fuzz_take_u8(in) % (MAX_PAIRS + 1);
		for (size_t k = 0; k < 2 * e->npairs; k++)
			e->kv[k] = take_str(in);
		rc = audit_event(a, e->name, (const char *const *)e->kv, e->npairs);
		FUZZ_CHECK(rc == 0 || rc == CS_EINVAL);
		if (rc != 0) {
			event_free(e);
			continue;
		}
		nev++;
		FUZZ_CHECK(audit_seq(a) == nev);
		FUZZ_CHECK(read_file(dir, "audit.head", &heads[nheads]));
		nheads++;
	}
	audit_close(a);
	FUZZ_CHECK(verify(dir, &r) && r.lines == nev);
	check_lines(dir, ev, nev);
	for (size_t i = 0; i < nev; i++)
		event_free(&ev[i]);

	if (in->n > 0) {
		changed = damage(in, dir, heads, nheads);
		if (changed && nev > 0 && in->n == 0)
			FUZZ_CHECK(!verify(dir, &r));
		while (in->n > 0)
			(void)damage(in, dir, heads, nheads);
		(void)verify(dir, &r);
		(void)append_one(dir);
		(void)verify(dir, &r);
	}
	for (size_t i = 0; i < nheads; i++)
		free(heads[i].b);
}

/* ---- seeds: a real log ------------------------------------------------------------------------
 */

struct seed {
	uint8_t b[1 << 17];
	size_t n;
};

static void
seed_put(struct seed *sd, const void *p, size_t n)
{
	FUZZ_CHECK(sd->n + n <= sizeof(sd->b));
	memcpy(sd->b + sd->n, p, n);
	sd->n += n;
}

static void
seed_rec(struct seed *sd, uint8_t kind, const void *p, size_t n)
{
	uint8_t h[3] = {kind, (uint8_t)(n >> 8), (uint8_t)n};

	FUZZ_CHECK(n <= 0xffff);
	seed_put(sd, h, 3);
	seed_put(sd, p, n);
}

/* seed_str: a writer-mode string record. */
static void
seed_str(struct seed *sd, const char *s)
{
	uint8_t h[2] = {(uint8_t)(strlen(s) >> 8), (uint8_t)strlen(s)};

	seed_put(sd, h, 2);
	seed_put(sd, s, strlen(s));
}

/* The events the server writes (server/admin.c, s3api.c), with awkward values among them. */
static const struct {
	const char *event;
	const char *kv[8];
	size_t n;
} seed_events[] = {
	{"server_start", {"version", "0.1.0", "pid", "4242"}, 2},
	{"bucket_create",
	 {"user", "alice", "akid", "CSIDECLDRC6OH4NFDYHN", "bucket", "photos", "level",
	  "s2:c1,c4.c7"},
	 4},
	{"auth_failure",
	 {"peer", "127.0.0.1:51234", "method", "PUT", "akid", "AKID\"quoted\"", "code",
	  "SignatureDoesNotMatch"},
	 4},
	{"key_rotate", {"user", "admin", "level", "s0", "version", "2"}, 3},
	{"object_shred",
	 {"user", "admin", "bucket", "photos", "key", "caf\xc3\xa9 \xe2\x80\xa8 \x01\x7f\xff"},
	 3},
	{"level_shred", {"user", "admin", "level", "s1", "versions", "3"}, 3},
	{"admin.user:add-1", {"user", "admin", "target", "bob\nsmith"}, 2},
};

/*
 * write_seeds(out): write a log with the server's events through audit_event()
 * (rotating every 600 bytes), and save it as a files-mode seed; also
 * writer-mode seeds of the same events.  FUZZ_AUDIT_SEEDS=dir runs it; this is
 * how corpus/audit was made.
 */
static void
write_seeds(const char *out)
{
	struct seed *sd = calloc(1, sizeof(*sd));
	struct audit *a = NULL;
	struct logfiles lf;
	struct file f;
	char dir[300], why[512], big[3000];
	const char *kv[2];
	size_t ne = sizeof(seed_events) / sizeof(seed_events[0]);

	FUZZ_CHECK(sd != NULL);
	fuzz_scratch("seeds", dir, sizeof(dir));
	FUZZ_CHECK(audit_open(&a, dir, key, 600, false, why, sizeof(why)) == 0);
	for (size_t i = 0; i < ne; i++)
		FUZZ_CHECK(audit_event(a, seed_events[i].event, seed_events[i].kv,
				       seed_events[i].n) == 0);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	kv[0] = "detail";
	kv[1] = big;
	FUZZ_CHECK(audit_event(a, "long_value", kv, 1) == 0);
	audit_close(a);
	FUZZ_CHECK(verify(dir, &(struct audit_report){0}));

	/* files mode, resumed: the rotated files, audit.log, audit.head. */
	sd->b[sd->n++] = 2;
	list_logs(dir, &lf);
	for (size_t i = 0; i + 1 < lf.n; i++) {
		uint8_t *b;

		FUZZ_CHECK(read_file(dir, lf.name[i], &f));
		b = malloc(f.n + 1);
		FUZZ_CHECK(b != NULL);
		b[0] = (uint8_t)i; /* audit.log.00000(i+1) */
		memcpy(b + 1, f.b, f.n);
		seed_rec(sd, 2, b, f.n + 1);
		free(b);
		free(f.b);
	}
	FUZZ_CHECK(read_file(dir, "audit.log", &f));
	seed_rec(sd, 0, f.b, f.n);
	free(f.b);
	FUZZ_CHECK(read_file(dir, "audit.head", &f));
	seed_rec(sd, 1, f.b, f.n);
	free(f.b);
	fuzz_write(out, "real-log", sd->b, sd->n, 0644);

	/* writer mode: the same events, rotating every 20 * 32 bytes; then each damage. */
	sd->n = 0;
	seed_put(sd, "\x01\x14", 2);
	sd->b[sd->n++] = (uint8_t)ne;
	for (size_t i = 0; i < ne; i++) {
		seed_str(sd, seed_events[i].event);
		sd->b[sd->n++] = (uint8_t)seed_events[i].n;
		for (size_t k = 0; k < 2 * seed_events[i].n; k++)
			seed_str(sd, seed_events[i].kv[k]);
	}
	fuzz_write(out, "writer-events", sd->b, sd->n, 0644);
	for (uint8_t op = 0; op < 7; op++) {
		char name[32];
		uint8_t dmg[10] = {op, (uint8_t)(op * 3), 0, 0, 0, (uint8_t)(op * 37 + 5), 0, 0, 0,
				   1};

		seed_put(sd, dmg, sizeof(dmg));
		snprintf(name, sizeof(name), "writer-damage-%u", op);
		fuzz_write(out, name, sd->b, sd->n, 0644);
		sd->n -= sizeof(dmg);
	}
	fuzz_rmtree(dir);
	free(sd);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	if (getenv("FUZZ_AUDIT_SEEDS") != NULL)
		write_seeds(getenv("FUZZ_AUDIT_SEEDS"));
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_in in = {data, size};
	uint8_t mode = fuzz_take_u8(&in);
	char dir[300];

	fuzz_rand_reset(size);
	fuzz_secmem_mark();
	fuzz_scratch("audit", dir, sizeof(dir));
	if (mode & 1)
		writer_mode(&in, dir);
	else
		files_mode(&in, dir, mode & 2);
	fuzz_rmtree(dir);
	fuzz_secmem_check();
	return 0;
}
