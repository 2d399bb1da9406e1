/*
 * audit: the HMAC-chained audit log.  See audit.h for the format and the
 * guarantees.
 *
 * Invariants of an open struct audit, kept under its mutex: seq and mac are
 * those of the last line in the log (0 and zeros before the first);
 * audit.head records them once the line is written; logsize is the size of
 * audit.log; next_rot is one more than the highest rotated file number.
 * Every byte of a line is either covered by its MAC or checked literally by
 * line_parse() (hex must be lowercase), so no byte can change unnoticed.
 */
#include "audit.h"
#include "util/err.h"
#include "util/hex.h"
#include "util/secmem.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>

#define LOG_NAME      "audit.log"
#define ROT_PREFIX    "audit.log."
#define HEAD_NAME     "audit.head"
#define MAC_LEN       32
#define HEX_LEN       (2 * MAC_LEN)
#define ROT_NAME_MAX  40
#define WARN_MAX      512
#define READ_BUF      (4 * AUDIT_READ_LINE_MAX)
#define TAIL_WINDOW   (2 * (AUDIT_READ_LINE_MAX + 1) + 1)
#define MARK_MAX      40 /* "[truncated: <20 digits> bytes]" */
#define SEQ_DIGITS    20 /* UINT64_MAX has 20 digits */
#define TIME_BUF      64
#define LINE_SEQ      "{\"seq\":"
#define LINE_TIME     ",\"time\":\""
#define PREV_FIELD    ",\"prev\":\""
#define MAC_FIELD     ",\"mac\":\""
#define PREV_LEN      (sizeof(PREV_FIELD) - 1 + HEX_LEN + 1) /* ,"prev":"<hex>" */
#define LINE_TAIL     (sizeof(MAC_FIELD) - 1 + HEX_LEN + 2)  /* ,"mac":"<hex>"} */
#define HEAD_PREFIX   "audit.head v1 seq="
#define HEAD_MAC      " mac="
#define HEAD_HMAC     " hmac="
#define HEAD_BODY     (sizeof(HEAD_PREFIX) - 1 + SEQ_DIGITS + sizeof(HEAD_MAC) - 1 + HEX_LEN)
#define HEAD_LEN      (HEAD_BODY + sizeof(HEAD_HMAC) - 1 + HEX_LEN + 1)
#define MAX_ROTATIONS (1u << 24) /* more rotated files than this is not a log we wrote */

struct audit {
	pthread_mutex_t lock;
	int dirfd, logfd, headfd;
	uint8_t *key; /* AUDIT_KEY_LEN bytes of secure memory */
	uint64_t rotate_bytes;
	uint64_t logsize;
	uint64_t next_rot;
	uint64_t seq;
	uint8_t mac[MAC_LEN];
	bool sync;
	bool need_nl; /* audit.log ends in a fragment: write '\n' first */
	char warn[WARN_MAX];
	char line[AUDIT_LINE_MAX];
};

/* What line_parse() takes out of a line. */
struct line_info {
	uint64_t seq;
	uint8_t prev[MAC_LEN];
	uint8_t mac[MAC_LEN];
	size_t body; /* bytes covered by the mac */
};

/* ---- primitives -------------------------------------------------------- */

static EVP_MAC *audit_mac_alg;
static pthread_once_t audit_mac_once = PTHREAD_ONCE_INIT;

static void
audit_mac_fetch(void)
{
	audit_mac_alg = EVP_MAC_fetch(NULL, "HMAC", NULL);
}

/* audit_hmac: HMAC-SHA-256 under the 32-byte key over the n bytes at p. */
static int
audit_hmac(const uint8_t *key, const void *p, size_t n, uint8_t out[MAC_LEN])
{
	OSSL_PARAM params[2];
	EVP_MAC_CTX *ctx;
	size_t m = 0;
	int ok;

	pthread_once(&audit_mac_once, audit_mac_fetch);
	if (audit_mac_alg == NULL || (ctx = EVP_MAC_CTX_new(audit_mac_alg)) == NULL)
		return CS_ECRYPTO;
	params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
						     (char *)(uintptr_t) "SHA256", 0);
	params[1] = OSSL_PARAM_construct_end();
	ok = EVP_MAC_init(ctx, key, AUDIT_KEY_LEN, params) == 1 && EVP_MAC_update(ctx, p, n) == 1 &&
	     EVP_MAC_final(ctx, out, &m, MAC_LEN) == 1 && m == MAC_LEN;
	EVP_MAC_CTX_free(ctx);
	return ok ? 0 : CS_ECRYPTO;
}

/* hex64: decode exactly 64 lowercase hex digits (uppercase would let a byte
 * of the unMAC'ed mac field change without changing its value). */
static bool
hex64(const char *s, uint8_t out[MAC_LEN])
{
	for (size_t i = 0; i < HEX_LEN; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return false;
	return hex_decode(out, MAC_LEN, s, HEX_LEN) == MAC_LEN;
}

static int
write_all(int fd, const void *p, size_t n, size_t *done)
{
	const char *c = p;
	size_t off = 0;

	while (off < n) {
		ssize_t k = write(fd, c + off, n - off);

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			break;
		off += (size_t)k;
	}
	if (done != NULL)
		*done = off;
	return off == n ? 0 : CS_EIO;
}

static void
rot_name(char out[ROT_NAME_MAX], uint64_t n)
{
	snprintf(out, ROT_NAME_MAX, ROT_PREFIX "%06" PRIu64, n);
}

/* open_reg: open name in dirfd without following a symlink or blocking on a
 * FIFO; anything but a regular file is refused (CS_EIO, errno EINVAL). */
static int
open_reg(int dirfd, const char *name, int flags, int *fd)
{
	struct stat st;
	int f = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, 0600);

	if (f < 0)
		return errno == ENOENT ? CS_ENOENT : CS_EIO;
	if (fstat(f, &st) != 0 || !S_ISREG(st.st_mode) ||
	    fcntl(f, F_SETFL, fcntl(f, F_GETFL) & ~O_NONBLOCK) != 0) {
		close(f);
		errno = EINVAL;
		return CS_EIO;
	}
	*fd = f;
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* rot_list: the numbers of the rotated files in dirfd, ascending.  Only
 * names exactly as rot_name() spells them count. */
static int
rot_list(int dirfd, uint64_t **out, size_t *n)
{
	uint64_t *v = NULL, *nv;
	size_t cnt = 0, cap = 0;
	struct dirent *de;
	DIR *d;
	int fd = dup(dirfd), rc = 0;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return CS_EIO;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		const char *p = de->d_name + sizeof(ROT_PREFIX) - 1;
		char canon[ROT_NAME_MAX];
		uint64_t num = 0;

		if (strncmp(de->d_name, ROT_PREFIX, sizeof(ROT_PREFIX) - 1) != 0 || *p == '\0' ||
		    strlen(p) > SEQ_DIGITS - 1)
			continue;
		for (; *p >= '0' && *p <= '9'; p++)
			num = num * 10 + (uint64_t)(*p - '0');
		rot_name(canon, num);
		if (*p != '\0' || num == 0 || strcmp(canon, de->d_name) != 0)
			continue;
		if (cnt == cap) {
			if (cap >= MAX_ROTATIONS) {
				rc = CS_ERANGE;
				break;
			}
			cap = cap != 0 ? 2 * cap : 16;
			if ((nv = realloc(v, cap * sizeof(*v))) == NULL) {
				rc = CS_ENOMEM;
				break;
			}
			v = nv;
		}
		v[cnt++] = num;
	}
	closedir(d);
	if (rc != 0) {
		free(v);
		return rc;
	}
	if (cnt > 0)
		qsort(v, cnt, sizeof(*v), cmp_u64);
	*out = v;
	*n = cnt;
	return 0;
}

/* ---- lines --------------------------------------------------------------- */

/*
 * line_parse(s, n, li): take seq, prev and mac out of the line s of n bytes
 * (without its newline).  Only the frame is checked here; the mac vouches
 * for everything between.  CS_EINVAL if it does not parse.
 */
static int
line_parse(const char *s, size_t n, struct line_info *li)
{
	size_t i = sizeof(LINE_SEQ) - 1, body, prev;
	uint64_t seq = 0;

	if (n < sizeof(LINE_SEQ) - 1 + 1 + sizeof(LINE_TIME) - 1 + PREV_LEN + LINE_TAIL ||
	    memcmp(s, LINE_SEQ, sizeof(LINE_SEQ) - 1) != 0)
		return CS_EINVAL;
	body = n - LINE_TAIL;
	prev = body - PREV_LEN;
	if (memcmp(s + body, MAC_FIELD, sizeof(MAC_FIELD) - 1) != 0 || /* ct-ok: a field name */
	    !hex64(s + body + sizeof(MAC_FIELD) - 1, li->mac) ||
	    memcmp(s + n - 2, "\"}", 2) != 0) /* ct-ok: punctuation */
		return CS_EINVAL;
	if (memcmp(s + prev, PREV_FIELD, sizeof(PREV_FIELD) - 1) != 0 ||
	    !hex64(s + prev + sizeof(PREV_FIELD) - 1, li->prev) || s[body - 1] != '"')
		return CS_EINVAL;
	if (s[i] == '0') /* seq >= 1, no leading zeros */
		return CS_EINVAL;
	for (; i < prev && s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (seq > (UINT64_MAX - d) / 10)
			return CS_EINVAL;
		seq = seq * 10 + d;
	}
	if (i == sizeof(LINE_SEQ) - 1 || prev - i < sizeof(LINE_TIME) - 1 ||
	    memcmp(s + i, LINE_TIME, sizeof(LINE_TIME) - 1) != 0)
		return CS_EINVAL;
	li->seq = seq;
	li->body = body;
	return 0;
}

/* line_mac_ok: does the line's mac match its body under key? */
static int
line_mac_ok(const uint8_t *key, const char *s, const struct line_info *li, bool *ok)
{
	uint8_t m[MAC_LEN];
	int rc = audit_hmac(key, s, li->body, m);

	*ok = rc == 0 && secmem_eq(m, li->mac, MAC_LEN);
	return rc;
}

/* utf8_seq: the length (2..4) of the valid UTF-8 sequence at s (n bytes
 * left), or 0 if it is not one (overlong, surrogate, > U+10FFFF, cut). */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	size_t k;
	unsigned lo = 0x80, hi = 0xbf;

	if (c >= 0xc2 && c <= 0xdf)
		k = 2;
	else if (c >= 0xe0 && c <= 0xef)
		k = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		k = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f;
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < k || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < k; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return k;
}

/*
 * esc_char(s, n, o, used): escape the character at s (n > 0 bytes left) into
 * o (room for 6 bytes); *used is the input bytes taken.  Returns the bytes
 * written.  See audit.h for the rules.
 */
static size_t
esc_char(const unsigned char *s, size_t n, char *o, size_t *used)
{
	static const char hx[] = "0123456789abcdef";
	unsigned c = s[0];
	size_t k;

	*used = 1;
	if (c == '"' || c == '\\') {
		o[0] = '\\';
		o[1] = (char)c;
		return 2;
	}
	if (c >= 0x20 && c < 0x7f) {
		o[0] = (char)c;
		return 1;
	}
	if (c >= 0x80 && (k = utf8_seq(s, n)) != 0) {
		*used = k;
		if (k == 3 && c == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9)) {
			memcpy(o, s[2] == 0xa8 ? "\\u2028" : "\\u2029", 6);
			return 6;
		}
		memcpy(o, s, k);
		return k;
	}
	/* A control character, DEL, or a byte of an invalid sequence. */
	memcpy(o, "\\u00", 4);
	o[4] = hx[c >> 4];
	o[5] = hx[c & 15];
	return 6;
}

/* esc_len: the escaped length of the string v, counted no further than
 * just past limit (a huge value costs no more than a short one). */
static size_t
esc_len(const char *v, size_t limit)
{
	const unsigned char *s = (const unsigned char *)v;
	size_t n = strlen(v), i = 0, out = 0, used;
	char o[6];

	while (i < n && out <= limit) {
		out += esc_char(s + i, n - i, o, &used);
		i += used;
	}
	return out;
}

/*
 * esc_value(o, cap, v, full): write v escaped into o, in at most cap bytes
 * (cap >= MARK_MAX).  full is esc_len(v, limit) for a limit >= cap.  A value that does not fit is
 * cut at a character boundary and ends with "[truncated: N bytes]".  Returns the bytes written.
 */
static size_t
esc_value(char *o, size_t cap, const char *v, size_t full)
{
	const unsigned char *s = (const unsigned char *)v;
	size_t n = strlen(v), i = 0, out = 0, used, k;
	char mark[MARK_MAX + 1], e[6];
	int ml;

	if (full <= cap) {
		while (i < n) {
			out += esc_char(s + i, n - i, o + out, &used);
			i += used;
		}
		return out;
	}
	ml = snprintf(mark, sizeof(mark), "[truncated: %zu bytes]", n);
	if (ml < 0 || (size_t)ml > cap)
		return 0;
	while (i < n) {
		k = esc_char(s + i, n - i, e, &used);
		if (out + k + (size_t)ml > cap)
			break;
		memcpy(o + out, e, k);
		out += k;
		i += used;
	}
	memcpy(o + out, mark, (size_t)ml);
	return out + (size_t)ml;
}

static bool
name_ok(const char *s, size_t max, bool event)
{
	size_t n = 0;

	if (s == NULL)
		return false;
	for (; s[n] != '\0'; n++) {
		char c = s[n];

		if (n >= max)
			return false;
		if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')
			continue;
		if (event && ((c >= 'A' && c <= 'Z') || c == '.' || c == ':' || c == '-'))
			continue;
		return false;
	}
	return n > 0;
}

static bool
key_ok(const char *const *kv, size_t i)
{
	static const char *const fixed[] = {"seq", "time", "event", "prev", "mac"};
	const char *k = kv[2 * i];

	if (!name_ok(k, AUDIT_KEY_NAME_MAX, false) || kv[2 * i + 1] == NULL)
		return false;
	for (size_t j = 0; j < sizeof(fixed) / sizeof(fixed[0]); j++)
		if (strcmp(k, fixed[j]) == 0)
			return false;
	for (size_t j = 0; j < i; j++)
		if (strcmp(k, kv[2 * j]) == 0)
			return false;
	return true;
}

/*
 * share_out(esc, nkv, budget, alloc): give each value the bytes it needs
 * when all fit; otherwise the short ones are kept whole and the long ones
 * share what is left equally (water-filling), so one hostile value cannot
 * push out the others.
 */
static void
share_out(const size_t *esc, size_t nkv, size_t budget, size_t *alloc)
{
	bool done[AUDIT_PAIRS_MAX] = {false};
	size_t left = nkv, rem = budget;
	bool progress = true;

	while (progress && left > 0) {
		progress = false;
		for (size_t i = 0; i < nkv; i++) {
			if (done[i] || esc[i] > rem / left)
				continue;
			alloc[i] = esc[i];
			rem -= esc[i];
			left--;
			done[i] = true;
			progress = true;
			if (left == 0)
				break;
		}
	}
	for (size_t i = 0; i < nkv; i++)
		if (!done[i])
			alloc[i] = rem / left;
}

/* utc_now: the current time as 2026-11-25T10:00:00.123Z. */
static void
utc_now(char out[TIME_BUF])
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(out, TIME_BUF, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
		 (long)(ts.tv_nsec / 1000000));
}

/*
 * line_build(a, seq, event, kv, nkv, mac, len): format line seq into
 * a->line, chained to a->mac, and set mac to its MAC and *len to its length
 * (newline included).
 */
static int
line_build(struct audit *a, uint64_t seq, const char *event, const char *const *kv, size_t nkv,
	   uint8_t mac[MAC_LEN], size_t *len)
{
	size_t esc[AUDIT_PAIRS_MAX], alloc[AUDIT_PAIRS_MAX], fixed, off;
	char t[TIME_BUF], hx[HEX_LEN + 1], *o = a->line;
	int n, rc;

	utc_now(t);
	n = snprintf(o, AUDIT_LINE_MAX, LINE_SEQ "%" PRIu64 LINE_TIME "%s\",\"event\":\"%s\"", seq,
		     t, event);
	if (n < 0)
		return CS_EINVAL;
	off = (size_t)n;
	fixed = off + PREV_LEN + LINE_TAIL + 1;
	for (size_t i = 0; i < nkv; i++) {
		fixed += strlen(kv[2 * i]) + 6; /* ,"k":"" */
		esc[i] = esc_len(kv[2 * i + 1], AUDIT_LINE_MAX);
	}
	/* The limits in audit.h keep fixed + nkv * MARK_MAX well under the line. */
	if (fixed + nkv * MARK_MAX > AUDIT_LINE_MAX)
		return CS_ERANGE;
	share_out(esc, nkv, AUDIT_LINE_MAX - fixed, alloc);
	for (size_t i = 0; i < nkv; i++) {
		size_t kl = strlen(kv[2 * i]);

		memcpy(o + off, ",\"", 2);
		memcpy(o + off + 2, kv[2 * i], kl);
		memcpy(o + off + 2 + kl, "\":\"", 3);
		off += kl + 5;
		off += esc_value(o + off, alloc[i], kv[2 * i + 1], esc[i]);
		o[off++] = '"';
	}
	hex_encode(hx, a->mac, MAC_LEN);
	memcpy(o + off, PREV_FIELD, sizeof(PREV_FIELD) - 1);
	memcpy(o + off + sizeof(PREV_FIELD) - 1, hx, HEX_LEN);
	off += PREV_LEN;
	o[off - 1] = '"';
	if ((rc = audit_hmac(a->key, o, off, mac)) != 0)
		return rc;
	hex_encode(hx, mac, MAC_LEN);
	memcpy(o + off, MAC_FIELD, sizeof(MAC_FIELD) - 1);
	memcpy(o + off + sizeof(MAC_FIELD) - 1, hx, HEX_LEN);
	off += LINE_TAIL;
	o[off - 2] = '"';
	o[off - 1] = '}';
	o[off++] = '\n';
	*len = off;
	return 0;
}

/* ---- the head ------------------------------------------------------------ */

/* head_format: the head record for (seq, mac) into out (HEAD_LEN bytes). */
static int
head_format(const uint8_t *key, uint64_t seq, const uint8_t mac[MAC_LEN], char out[HEAD_LEN + 1])
{
	char hx[HEX_LEN + 1];
	uint8_t h[MAC_LEN];
	int rc;

	hex_encode(hx, mac, MAC_LEN);
	snprintf(out, HEAD_BODY + 1, HEAD_PREFIX "%020" PRIu64 HEAD_MAC "%s", seq, hx);
	if ((rc = audit_hmac(key, out, HEAD_BODY, h)) != 0)
		return rc;
	hex_encode(hx, h, MAC_LEN);
	snprintf(out + HEAD_BODY, HEAD_LEN - HEAD_BODY + 1, HEAD_HMAC "%s\n", hx);
	return 0;
}

/*
 * head_load(fd, key, seq, mac): read and check the head.  Returns 0,
 * CS_ENOENT (empty file), CS_EAUTH (malformed or does not verify), CS_EIO.
 */
static int
head_load(int fd, const uint8_t *key, uint64_t *seq, uint8_t mac[MAC_LEN])
{
	char b[HEAD_LEN + 1];
	const char *p = b + sizeof(HEAD_PREFIX) - 1;
	uint8_t h[MAC_LEN], want[MAC_LEN];
	uint64_t s = 0;
	ssize_t n;
	int rc;

	do
		n = pread(fd, b, sizeof(b), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return CS_EIO;
	if (n == 0)
		return CS_ENOENT;
	if ((size_t)n != HEAD_LEN || memcmp(b, HEAD_PREFIX, sizeof(HEAD_PREFIX) - 1) != 0)
		return CS_EAUTH;
	for (size_t i = 0; i < SEQ_DIGITS; i++) {
		unsigned d = (unsigned)(p[i] - '0');

		if (p[i] < '0' || p[i] > '9' || s > (UINT64_MAX - d) / 10)
			return CS_EAUTH;
		s = s * 10 + d;
	}
	p += SEQ_DIGITS;
	if (memcmp(p, HEAD_MAC, sizeof(HEAD_MAC) - 1) != 0 || /* ct-ok: a field name */
	    !hex64(p + sizeof(HEAD_MAC) - 1, mac) ||
	    /* ct-ok: a field name */ memcmp(b + HEAD_BODY, HEAD_HMAC, sizeof(HEAD_HMAC) - 1) ||
	    !hex64(b + HEAD_BODY + sizeof(HEAD_HMAC) - 1, want) || b[HEAD_LEN - 1] != '\n')
		return CS_EAUTH;
	if ((rc = audit_hmac(key, b, HEAD_BODY, h)) != 0)
		return rc;
	if (!secmem_eq(h, want, MAC_LEN))
		return CS_EAUTH;
	*seq = s;
	return 0;
}

/* head_store: rewrite a's head in place for its current (seq, mac). */
static int
head_store(struct audit *a)
{
	char b[HEAD_LEN + 1];
	ssize_t n;
	int rc;

	if ((rc = head_format(a->key, a->seq, a->mac, b)) != 0)
		return rc;
	do
		n = pwrite(a->headfd, b, HEAD_LEN, 0);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)HEAD_LEN)
		return CS_EIO;
	if (a->sync && fdatasync(a->headfd) != 0)
		return CS_EIO;
	return 0;
}

/* ---- verification -------------------------------------------------------- */

/* A bounded line reader over one file. */
struct reader {
	int fd;
	char *buf; /* READ_BUF bytes */
	size_t start, end;
	bool eof;
};

/*
 * rd_line(rd, line, n): the next line (without its newline).  Returns 1, 0
 * at the end, CS_ERANGE for a line over AUDIT_READ_LINE_MAX, CS_EAUTH for
 * bytes after the last newline, CS_EIO.
 */
static int
rd_line(struct reader *rd, const char **line, size_t *n)
{
	for (;;) {
		char *p = rd->buf + rd->start, *nl = memchr(p, '\n', rd->end - rd->start);
		ssize_t k;

		if (nl != NULL) {
			*line = p;
			*n = (size_t)(nl - p);
			rd->start += *n + 1;
			return *n > AUDIT_READ_LINE_MAX ? CS_ERANGE : 1;
		}
		if (rd->end - rd->start > AUDIT_READ_LINE_MAX)
			return CS_ERANGE;
		if (rd->eof)
			return rd->end == rd->start ? 0 : CS_EAUTH;
		memmove(rd->buf, p, rd->end - rd->start);
		rd->end -= rd->start;
		rd->start = 0;
		k = read(rd->fd, rd->buf + rd->end, READ_BUF - rd->end);
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			return CS_EIO;
		if (k == 0)
			rd->eof = true;
		rd->end += (size_t)k;
	}
}

/* The state of one walk along the chain. */
struct walk {
	const uint8_t *key;
	struct audit_report *r;
	char *buf;
	uint64_t seq;          /* of the last good line; 0 before the first */
	uint8_t mac[MAC_LEN];  /* of the last good line */
	uint8_t prev[MAC_LEN]; /* the mac of the line before it */
	char lastfile[ROT_NAME_MAX];
	uint64_t lastline; /* its line number in lastfile */
};

static int vfail(struct audit_report *r, const char *file, uint64_t line, uint64_t seq,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
vfail(struct audit_report *r, const char *file, uint64_t line, uint64_t seq, const char *fmt, ...)
{
	va_list ap;

	r->ok = false;
	snprintf(r->file, sizeof(r->file), "%s", file);
	r->line = line;
	r->seq = seq;
	va_start(ap, fmt);
	vsnprintf(r->why, sizeof(r->why), fmt, ap);
	va_end(ap);
	return CS_EAUTH;
}

/* walk_line: check one line read from file at lineno against the chain. */
static int
walk_line(struct walk *w, const char *file, uint64_t lineno, const char *s, size_t n)
{
	struct audit_report *r = w->r;
	struct line_info li;
	bool ok;
	int rc;

	if (line_parse(s, n, &li) != 0)
		return vfail(r, file, lineno, w->seq + 1, "line does not parse: damaged");
	if ((rc = line_mac_ok(w->key, s, &li, &ok)) != 0) {
		vfail(r, file, lineno, li.seq, "cannot compute the mac");
		return rc;
	}
	if (!ok)
		return vfail(r, file, lineno, li.seq,
			     "mac does not match: line edited, or the wrong key");
	if (li.seq != w->seq + 1) {
		if (w->seq == 0)
			return vfail(r, file, lineno, li.seq,
				     "the first line has seq %" PRIu64
				     ", not 1: lines removed at the start",
				     li.seq);
		if (li.seq > w->seq + 1)
			return vfail(r, file, lineno, li.seq,
				     "seq %" PRIu64 " follows %" PRIu64 ": %s", li.seq, w->seq,
				     lineno == 1 ? "lines removed (or the file before this one)"
						 : "a line was removed");
		return vfail(r, file, lineno, li.seq,
			     "seq %" PRIu64 " follows %" PRIu64 ": lines reordered or repeated",
			     li.seq, w->seq);
	}
	if (!secmem_eq(li.prev, w->mac, MAC_LEN)) {
		if (w->seq == 0)
			return vfail(
				r, file, lineno, li.seq,
				"the first line's prev is not zero: lines removed at the start");
		return vfail(r, file, lineno, li.seq,
			     "prev does not match line %" PRIu64
			     "'s mac: lines removed or reordered",
			     w->seq);
	}
	memcpy(w->prev, w->mac, MAC_LEN);
	memcpy(w->mac, li.mac, MAC_LEN);
	w->seq = li.seq;
	snprintf(w->lastfile, sizeof(w->lastfile), "%s", file);
	w->lastline = lineno;
	r->lines++;
	return 0;
}

/* walk_file: stream one file through walk_line().  A missing file is
 * skipped when may_miss. */
static int
walk_file(struct walk *w, int dirfd, const char *file, bool may_miss)
{
	struct reader rd = {.buf = w->buf};
	uint64_t lineno = 0;
	const char *s;
	size_t n;
	int rc;

	if ((rc = open_reg(dirfd, file, O_RDONLY, &rd.fd)) != 0) {
		if (rc == CS_ENOENT && may_miss)
			return 0;
		if (rc == CS_ENOENT)
			return vfail(w->r, file, 0, w->seq + 1, "%s is missing", file);
		err_why(w->r->why, sizeof(w->r->why), CS_EIO, "cannot open %s: %s", file,
			strerror(errno));
		return CS_EIO;
	}
	w->r->files++;
	for (;;) {
		lineno++;
		rc = rd_line(&rd, &s, &n);
		if (rc == 1) {
			if ((rc = walk_line(w, file, lineno, s, n)) != 0)
				break;
			continue;
		}
		if (rc == CS_ERANGE)
			rc = vfail(w->r, file, lineno, w->seq + 1,
				   "line longer than %d bytes: damaged", AUDIT_READ_LINE_MAX);
		else if (rc == CS_EAUTH)
			rc = vfail(w->r, file, lineno, w->seq + 1,
				   "line is incomplete (no newline): damaged, or a crash during "
				   "a write");
		else if (rc == CS_EIO)
			err_why(w->r->why, sizeof(w->r->why), CS_EIO, "cannot read %s: %s", file,
				strerror(errno));
		break;
	}
	close(rd.fd);
	return rc;
}

/* walk_head: the end of the chain against audit.head. */
static int
walk_head(struct walk *w, int dirfd, bool allow_ahead)
{
	struct audit_report *r = w->r;
	const char *lf = w->lastfile[0] != '\0' ? w->lastfile : LOG_NAME;
	uint8_t hmac[MAC_LEN];
	uint64_t hseq = 0;
	int fd, rc;

	rc = open_reg(dirfd, HEAD_NAME, O_RDONLY, &fd);
	if (rc == 0) {
		rc = head_load(fd, w->key, &hseq, hmac);
		close(fd);
	}
	if (rc == CS_ENOENT)
		return w->seq == 0 ? 0
				   : vfail(r, HEAD_NAME, 0, w->seq,
					   HEAD_NAME " is missing: the end of the log cannot be "
						     "checked");
	if (rc == CS_EAUTH)
		return vfail(r, HEAD_NAME, 0, w->seq,
			     HEAD_NAME " does not verify: edited, or the wrong key");
	if (rc != 0) {
		err_why(r->why, sizeof(r->why), rc, "cannot read " HEAD_NAME ": %s", err_str(rc));
		return rc;
	}
	if (hseq == w->seq) {
		if (!secmem_eq(hmac, w->mac, MAC_LEN))
			return vfail(r, lf, w->lastline, w->seq,
				     "the last line (seq %" PRIu64
				     ") is not the one the head records: replaced",
				     w->seq);
		return 0;
	}
	if (hseq > w->seq)
		return vfail(r, lf, w->lastline + 1, w->seq + 1,
			     "log ends at seq %" PRIu64 " but the head records %" PRIu64
			     ": lines removed at the end",
			     w->seq, hseq);
	if (allow_ahead && hseq + 1 == w->seq && secmem_eq(hmac, w->prev, MAC_LEN))
		return 0;
	return vfail(r, lf, w->lastline, w->seq,
		     "log ends at seq %" PRIu64 " but the head records only %" PRIu64
		     ": the head is stale or was replaced",
		     w->seq, hseq);
}

/* verify_at: the whole verification, on an open directory. */
static int
verify_at(int dirfd, const uint8_t *key, struct audit_report *r, bool allow_ahead)
{
	struct walk w;
	uint64_t *rot = NULL;
	size_t nrot = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	memset(&w, 0, sizeof(w));
	w.key = key;
	w.r = r;
	if ((w.buf = malloc(READ_BUF)) == NULL)
		return err_why(r->why, sizeof(r->why), CS_ENOMEM, "out of memory");
	if ((rc = rot_list(dirfd, &rot, &nrot)) != 0) {
		err_why(r->why, sizeof(r->why), rc, "cannot list the audit directory: %s",
			err_str(rc));
		goto out;
	}
	for (size_t i = 0; i < nrot; i++) {
		char name[ROT_NAME_MAX];

		if (rot[i] != i + 1) {
			rot_name(name, i + 1);
			rc = vfail(r, name, 0, w.seq + 1, "rotated file %s missing", name);
			goto out;
		}
		rot_name(name, rot[i]);
		if ((rc = walk_file(&w, dirfd, name, false)) != 0)
			goto out;
	}
	if ((rc = walk_file(&w, dirfd, LOG_NAME, true)) != 0 ||
	    (rc = walk_head(&w, dirfd, allow_ahead)) != 0)
		goto out;
	r->ok = true;
out:
	free(rot);
	free(w.buf);
	return rc;
}

int
audit_verify_dir(const char *dir, const uint8_t key[AUDIT_KEY_LEN], struct audit_report *r)
{
	int dirfd, rc;

	memset(r, 0, sizeof(*r));
	if ((dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return err_why(r->why, sizeof(r->why), errno == ENOENT ? CS_ENOENT : CS_EIO,
			       "cannot open %s: %s", dir, strerror(errno));
	rc = verify_at(dirfd, key, r, true);
	close(dirfd);
	return rc;
}

int
audit_verify(struct audit *a, struct audit_report *r)
{
	int rc;

	pthread_mutex_lock(&a->lock);
	rc = verify_at(a->dirfd, a->key, r, false);
	pthread_mutex_unlock(&a->lock);
	return rc;
}

/* ---- opening --------------------------------------------------------------- */

static void warn_add(struct audit *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
warn_add(struct audit *a, const char *fmt, ...)
{
	size_t n = strlen(a->warn);
	va_list ap;

	if (n > 0 && n + 2 < sizeof(a->warn)) {
		memcpy(a->warn + n, "; ", 3);
		n += 2;
	}
	va_start(ap, fmt);
	vsnprintf(a->warn + n, sizeof(a->warn) - n, fmt, ap);
	va_end(ap);
}

/* The end of one file: its last line and the one before, as far as they
 * fit in the window read. */
struct tail {
	char *buf;
	const char *last, *prev; /* NULL: none, or longer than the window */
	size_t lastlen, prevlen;
	bool complete; /* the file ends with a newline */
};

static int
tail_read(int fd, uint64_t size, struct tail *t)
{
	uint64_t from = size > TAIL_WINDOW ? size - TAIL_WINDOW : 0;
	size_t m = (size_t)(size - from), got = 0, end;
	char *nl, *nl2;

	memset(t, 0, sizeof(*t));
	if (size == 0)
		return 0;
	if ((t->buf = malloc(m)) == NULL)
		return CS_ENOMEM;
	while (got < m) {
		ssize_t k = pread(fd, t->buf + got, m - got, (off_t)(from + got));

		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return CS_EIO;
		got += (size_t)k;
	}
	t->complete = t->buf[m - 1] == '\n';
	end = t->complete ? m - 1 : m;
	nl = memrchr(t->buf, '\n', end);
	if (nl != NULL || from == 0) {
		t->last = nl != NULL ? nl + 1 : t->buf;
		t->lastlen = (size_t)(t->buf + end - t->last);
	}
	if (nl != NULL) {
		nl2 = memrchr(t->buf, '\n', (size_t)(nl - t->buf));
		if (nl2 != NULL || from == 0) {
			t->prev = nl2 != NULL ? nl2 + 1 : t->buf;
			t->prevlen = (size_t)(nl - t->prev);
		}
	}
	return 0;
}

/*
 * audit_resume: set a->seq and a->mac from the end of the log and the head,
 * noting in a->warn whatever is wrong (see audit_open() in audit.h), and
 * rewrite the head to match.
 */
static int
audit_resume(struct audit *a)
{
	struct line_info t = {0}, t2 = {0};
	struct tail tl = {0};
	char rname[ROT_NAME_MAX];
	const char *src = NULL;
	bool have_t = false, t_ok = false, have_t2 = false, in_log = false, hv;
	uint8_t hmac[MAC_LEN];
	uint64_t hseq = 0;
	struct stat st;
	int fd = -1, rc, hrc;

	if (fstat(a->logfd, &st) != 0)
		return CS_EIO;
	a->logsize = (uint64_t)st.st_size;
	if (a->logsize > 0) {
		src = LOG_NAME;
		in_log = true;
		rc = tail_read(a->logfd, a->logsize, &tl);
	} else if (a->next_rot > 1) {
		rot_name(rname, a->next_rot - 1);
		src = rname;
		if ((rc = open_reg(a->dirfd, rname, O_RDONLY, &fd)) == 0) {
			rc = fstat(fd, &st) == 0 ? tail_read(fd, (uint64_t)st.st_size, &tl)
						 : CS_EIO;
			close(fd);
		}
		if (rc == 0 && tl.buf == NULL)
			src = NULL; /* an empty rotated file: the chain says the rest */
	} else {
		rc = 0;
	}
	if (rc != 0)
		goto out;
	if (src != NULL) {
		if (!tl.complete) {
			warn_add(
				a,
				"%s ends in an incomplete line (damage, or a crash during a write)",
				src);
			a->need_nl = in_log;
		}
		if (tl.last != NULL && line_parse(tl.last, tl.lastlen, &t) == 0) {
			have_t = true;
			if ((rc = line_mac_ok(a->key, tl.last, &t, &t_ok)) != 0)
				goto out;
		}
		if (!have_t && tl.prev != NULL && line_parse(tl.prev, tl.prevlen, &t2) == 0)
			have_t2 = true;
	}
	hrc = head_load(a->headfd, a->key, &hseq, hmac);
	hv = hrc == 0;
	if (hrc == CS_EAUTH || hrc == CS_EIO)
		warn_add(a, HEAD_NAME " does not verify (edited, torn, or another key)");
	else if (hrc == CS_ENOENT && src != NULL)
		warn_add(a, HEAD_NAME " is missing or empty");
	else if (hrc != 0 && hrc != CS_ENOENT)
		rc = hrc;
	if (rc != 0)
		goto out;

	if (have_t) {
		bool same = hv && t.seq == hseq && secmem_eq(t.mac, hmac, MAC_LEN);

		if (!t_ok)
			warn_add(a,
				 "the last line of %s (seq %" PRIu64
				 ") does not verify: edited, or another key",
				 src, t.seq);
		if (hv && hseq > t.seq) {
			warn_add(a,
				 "log ends at seq %" PRIu64 " but the head records %" PRIu64
				 ": lines removed at the end",
				 t.seq, hseq);
			a->seq = hseq;
			memcpy(a->mac, hmac, MAC_LEN);
		} else {
			/* Log one ahead of the head with the right prev: a crash
			 * between line and head, repaired below without a word. */
			if (hv && !same &&
			    !(t_ok && t.seq == hseq + 1 && secmem_eq(t.prev, hmac, MAC_LEN)))
				warn_add(a,
					 "the last line (seq %" PRIu64
					 ") disagrees with the head (seq %" PRIu64 ")",
					 t.seq, hseq);
			a->seq = t.seq;
			memcpy(a->mac, t.mac, MAC_LEN);
		}
	} else if (src != NULL) {
		if (tl.complete)
			warn_add(a, "the last line of %s does not parse: damaged", src);
		if (hv) {
			a->seq = hseq;
			memcpy(a->mac, hmac, MAC_LEN);
		} else if (have_t2) {
			a->seq = t2.seq;
			memcpy(a->mac, t2.mac, MAC_LEN);
		} else {
			warn_add(a, "nothing to continue the chain from: it restarts at seq 1");
		}
	} else if (hv && hseq > 0) {
		warn_add(a,
			 "the log is empty but the head records seq %" PRIu64
			 ": lines removed at the end",
			 hseq);
		a->seq = hseq;
		memcpy(a->mac, hmac, MAC_LEN);
	}
	if (a->need_nl && write_all(a->logfd, "\n", 1, NULL) == 0) {
		a->need_nl = false; /* else audit_event() tries again */
		a->logsize++;
	}
	rc = head_store(a);
out:
	free(tl.buf);
	return rc;
}

/* log_open: open (creating) audit.log for appending. */
static int
log_open(struct audit *a)
{
	struct stat st;
	int rc = open_reg(a->dirfd, LOG_NAME, O_RDWR | O_APPEND | O_CREAT, &a->logfd);

	if (rc != 0) {
		a->logfd = -1;
		return rc;
	}
	if (fstat(a->logfd, &st) != 0)
		return CS_EIO;
	a->logsize = (uint64_t)st.st_size;
	return 0;
}

int
audit_open(struct audit **out, const char *dir, const uint8_t key[AUDIT_KEY_LEN],
	   uint64_t rotate_bytes, bool sync, char *why, size_t whylen)
{
	struct audit *a;
	uint64_t *rot = NULL;
	size_t nrot = 0;
	int rc;

	*out = NULL;
	if (why != NULL && whylen > 0)
		why[0] = '\0';
	if (dir == NULL || key == NULL)
		return err_why(why, whylen, CS_EINVAL, "no audit directory or key");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return err_why(why, whylen, CS_EIO, "cannot create audit directory %s: %s", dir,
			       strerror(errno));
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return err_why(why, whylen, CS_ENOMEM, "out of memory");
	pthread_mutex_init(&a->lock, NULL);
	a->dirfd = a->logfd = a->headfd = -1;
	a->rotate_bytes = rotate_bytes != 0 ? rotate_bytes : AUDIT_ROTATE_BYTES;
	a->sync = sync;
	if ((a->key = secmem_alloc(AUDIT_KEY_LEN)) == NULL) {
		rc = err_why(why, whylen, CS_ENOMEM, "out of secure memory");
		goto err;
	}
	memcpy(a->key, key, AUDIT_KEY_LEN);
	if ((a->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
		rc = err_why(why, whylen, CS_EIO, "audit directory %s: %s", dir, strerror(errno));
		goto err;
	}
	if ((rc = rot_list(a->dirfd, &rot, &nrot)) != 0) {
		err_why(why, whylen, rc, "cannot list audit directory %s: %s", dir, err_str(rc));
		goto err;
	}
	a->next_rot = nrot > 0 ? rot[nrot - 1] + 1 : 1;
	free(rot);
	if ((rc = log_open(a)) != 0) {
		err_why(why, whylen, rc, "cannot open %s/" LOG_NAME ": %s", dir, strerror(errno));
		goto err;
	}
	if ((rc = open_reg(a->dirfd, HEAD_NAME, O_RDWR | O_CREAT, &a->headfd)) != 0) {
		err_why(why, whylen, rc, "cannot open %s/" HEAD_NAME ": %s", dir, strerror(errno));
		goto err;
	}
	if ((rc = audit_resume(a)) != 0) {
		err_why(why, whylen, rc, "cannot resume the audit log in %s: %s", dir, err_str(rc));
		goto err;
	}
	if (sync && fsync(a->dirfd) != 0) {
		rc = err_why(why, whylen, CS_EIO, "cannot sync %s: %s", dir, strerror(errno));
		goto err;
	}
	if (why != NULL && whylen > 0)
		snprintf(why, whylen, "%s", a->warn);
	*out = a;
	return 0;
err:
	audit_close(a);
	return rc;
}

const char *
audit_resume_warning(const struct audit *a)
{
	return a->warn[0] != '\0' ? a->warn : NULL;
}

void
audit_close(struct audit *a)
{
	if (a == NULL)
		return;
	if (a->logfd >= 0)
		close(a->logfd);
	if (a->headfd >= 0)
		close(a->headfd);
	if (a->dirfd >= 0)
		close(a->dirfd);
	secmem_free(a->key, AUDIT_KEY_LEN);
	secmem_wipe(a->mac, sizeof(a->mac));
	pthread_mutex_destroy(&a->lock);
	free(a);
}

/* ---- appending ------------------------------------------------------------- */

/* rename_noreplace: rename from to to in dirfd unless to exists. */
static int
rename_noreplace(int dirfd, const char *from, const char *to)
{
	struct stat st;

	if (renameat2(dirfd, from, dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno == EEXIST)
		return CS_EEXIST;
	/* A file system without RENAME_NOREPLACE: check, then rename. */
	if (errno != EINVAL)
		return CS_EIO;
	if (fstatat(dirfd, to, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return CS_EEXIST;
	if (errno != ENOENT || renameat(dirfd, from, dirfd, to) != 0)
		return CS_EIO;
	return 0;
}

/* rotate: audit.log becomes the next rotated file; a new audit.log starts.
 * A rotated file that appeared behind our back is never overwritten: the
 * numbering moves on past it (and verify will name it). */
static int
rotate(struct audit *a)
{
	char name[ROT_NAME_MAX];
	uint64_t *rot = NULL;
	size_t nrot = 0;
	int rc;

	rot_name(name, a->next_rot);
	if ((rc = rename_noreplace(a->dirfd, LOG_NAME, name)) == CS_EEXIST) {
		if ((rc = rot_list(a->dirfd, &rot, &nrot)) != 0)
			return rc;
		if (nrot > 0 && rot[nrot - 1] >= a->next_rot)
			a->next_rot = rot[nrot - 1] + 1;
		free(rot);
		rot_name(name, a->next_rot);
		rc = rename_noreplace(a->dirfd, LOG_NAME, name);
	}
	if (rc != 0)
		return CS_EIO;
	a->next_rot++;
	close(a->logfd);
	a->logfd = -1;
	if ((rc = log_open(a)) != 0)
		return rc;
	return fsync(a->dirfd) == 0 ? 0 : CS_EIO;
}

int
audit_event(struct audit *a, const char *event, const char *const *kv, size_t nkv)
{
	uint8_t mac[MAC_LEN];
	size_t len = 0, done = 0;
	int rc;

	if (!name_ok(event, AUDIT_EVENT_MAX, true) || nkv > AUDIT_PAIRS_MAX ||
	    (nkv > 0 && kv == NULL))
		return CS_EINVAL;
	for (size_t i = 0; i < nkv; i++)
		if (!key_ok(kv, i))
			return CS_EINVAL;
	pthread_mutex_lock(&a->lock);
	if (a->logfd < 0 && (rc = log_open(a)) != 0)
		goto out;
	if (a->need_nl) {
		if ((rc = write_all(a->logfd, "\n", 1, NULL)) != 0)
			goto out;
		a->need_nl = false;
		a->logsize++;
	}
	if ((rc = line_build(a, a->seq + 1, event, kv, nkv, mac, &len)) != 0)
		goto out;
	if ((rc = write_all(a->logfd, a->line, len, &done)) != 0) {
		a->logsize += done;
		a->need_nl = done > 0;
		goto out;
	}
	a->logsize += len;
	a->seq++;
	memcpy(a->mac, mac, MAC_LEN);
	/* The line must be durable before the head claims it. */
	if (a->sync && fdatasync(a->logfd) != 0) {
		rc = CS_EIO;
		goto out;
	}
	if ((rc = head_store(a)) != 0)
		goto out;
	if (a->logsize >= a->rotate_bytes)
		rc = rotate(a);
out:
	pthread_mutex_unlock(&a->lock);
	return rc;
}

uint64_t
audit_seq(struct audit *a)
{
	uint64_t s;

	pthread_mutex_lock(&a->lock);
	s = a->seq;
	pthread_mutex_unlock(&a->lock);
	return s;
}
