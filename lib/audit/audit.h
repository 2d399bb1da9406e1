/*
 * audit: a tamper-evident, append-only audit log of JSON lines.
 *
 * Each event is one line of one JSON object, fields in this order:
 *   {"seq":N,"time":"2026-11-25T10:00:00.123Z","event":"NAME",
 *    <caller pairs "k":"v">,"prev":"<64 hex>","mac":"<64 hex>"}\n
 * seq counts from 1 without gaps; prev is the mac of the line before (64
 * zeros for seq 1); mac = HMAC-SHA-256(key, every byte of the line before
 * `,"mac":`).  Because the MAC covers prev, every line is bound to its
 * predecessor: an edited, removed, inserted or reordered line breaks the
 * chain at that place.  time is UTC with milliseconds (CLOCK_REALTIME).
 *
 * Files, all in one directory (created 0700; files 0600, never followed
 * through a symlink):
 *   audit.log          the current log, opened O_APPEND;
 *   audit.log.000001,  rotated logs, oldest lowest: once audit.log reaches
 *   audit.log.000002.. rotate_bytes it is renamed to the next number and a
 *                      new audit.log is started; the chain runs on across
 *                      files;
 *   audit.head         a fixed-size record rewritten in place after every
 *                      line: the last seq, its mac and an HMAC over both.
 *                      The chain alone cannot see lines cut off at the end;
 *                      the head can.  The line is written before the head,
 *                      so after a crash the log may be one line ahead of
 *                      the head (accepted and repaired), never behind.
 *
 * Values: keys are 1..AUDIT_KEY_NAME_MAX characters of [a-z0-9_] and none
 * of the fixed field names (seq, time, event, prev, mac).  Values are
 * escaped per JSON: '"' and '\' with a backslash, every control character
 * (below 0x20, and 0x7f) as \u00XX, U+2028 and U+2029 as \u2028 and \u2029,
 * so no value can split a line.  Valid UTF-8 passes through; each byte of
 * an invalid sequence (stray continuation, overlong form, surrogate, above
 * U+10FFFF, cut short) is written as \u00XX with XX the byte's value, so a
 * reader sees it as U+0080..U+00FF; a genuine U+0080..U+00FF is written as
 * raw UTF-8, so the two stay distinguishable.  A line is at most
 * AUDIT_LINE_MAX bytes with its newline: when the values do not fit, the
 * longest ones are cut (never inside an escape or a UTF-8 sequence; the
 * short ones are kept whole) and end with the marker
 * "[truncated: N bytes]", N being the value's original length.
 *
 * Durability: with sync, the log and then the head are fdatasync'ed after
 * every event (two syncs per event: about a millisecond or more on disk,
 * which is acceptable because security events are rare; do not audit every
 * GET this way).  Without sync a power loss may persist the head but not
 * the line, which verify then reports as lines removed at the end.
 *
 * Thread safety: one mutex per log; every function may be called from any
 * thread.  The key is kept in secure memory (secmem) and wiped on close.
 */
#ifndef CS_AUDIT_H
#define CS_AUDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AUDIT_KEY_LEN       32
#define AUDIT_LINE_MAX      8192        /* bytes of one written line, newline included */
#define AUDIT_READ_LINE_MAX 16384       /* a longer line read back is damage */
#define AUDIT_KEY_NAME_MAX  32          /* characters of a caller key */
#define AUDIT_EVENT_MAX     64          /* characters of an event name */
#define AUDIT_PAIRS_MAX     32          /* caller (key, value) pairs per event */
#define AUDIT_ROTATE_BYTES  (16u << 20) /* the default rotate_bytes */

struct audit;

/*
 * The outcome of a verification.  When ok is false, the other fields name
 * the first failure: file is the file name within the directory ("audit.log",
 * "audit.log.000002", or "audit.head" when the head itself does not verify),
 * line the 1-based line number within that file (for a missing rotated file
 * 0; for lines removed at the end, the line number where the first missing
 * line would be), seq the sequence number the bad line claims (or the one
 * expected there when the line does not parse, or the first missing one),
 * and why a reason for people.
 */
struct audit_report {
	uint64_t lines; /* lines verified intact (all of them when ok) */
	unsigned files; /* log files walked */
	bool ok;
	char file[256];
	uint64_t line;
	uint64_t seq;
	char why[256];
};

/*
 * audit_open(out, dir, key, rotate_bytes, sync, why, whylen): open (or
 * create) the audit log in dir under the 32-byte chain key (copied into
 * secure memory).  rotate_bytes 0 means AUDIT_ROTATE_BYTES.
 *
 * Opening resumes the chain after the last line written (in audit.log, or
 * in the newest rotated file when audit.log is empty or missing).  A damaged
 * log does not stop opening, so that an attacker who can edit the log
 * cannot stop the server with it: if the last line does not verify, does
 * not parse, or disagrees with the head, audit_open still returns 0 and
 * audit_resume_warning() (and why, when given) says what is wrong, for the
 * server to log; the next verify fails at the damaged place.  The chain then
 * continues from the last line's mac as written, except when the head is
 * intact and records more lines than the log holds (lines cut off at the
 * end): then it continues from the head, so that the gap stays visible to
 * verify after the restart.  With neither a parseable last line (nor the
 * line before it) nor an intact head, the chain restarts at seq 1.  A log
 * exactly one line ahead of its head (a crash between the two writes) is
 * not damage: the head is repaired without a warning.  An incomplete last
 * line in audit.log (a crash during a write) is ended with a newline so
 * the next line stands on its own; verify reports it.
 *
 * Returns 0 (why then holds the resume warning, or ""), or CS_EINVAL
 * (bad argument), CS_ENOMEM, CS_ECRYPTO, CS_EIO (directory or files cannot
 * be created or opened, e.g. a symlink in place of a file); why holds a
 * message for people on every failure.  Close with audit_close().
 */
int audit_open(struct audit **out, const char *dir, const uint8_t key[AUDIT_KEY_LEN],
	       uint64_t rotate_bytes, bool sync, char *why, size_t whylen)
	__attribute__((warn_unused_result));

/*
 * audit_resume_warning(a): what audit_open() found wrong with the log's
 * end, or NULL if it resumed cleanly.  The string lives as long as a.
 */
const char *audit_resume_warning(const struct audit *a);

/* audit_close(a): close the files, wipe the key and free a; NULL is a no-op. */
void audit_close(struct audit *a);

/*
 * audit_event(a, event, kv, nkv): append one line for event (1..
 * AUDIT_EVENT_MAX characters of [A-Za-z0-9_.:-]) with nkv (key, value)
 * pairs: kv holds 2*nkv strings, kv[2i] the key, kv[2i+1] the value, e.g.
 * {"user", "alice", "bucket", "b1"} with nkv 2.  Returns 0; CS_EINVAL for a
 * bad event name, key, NULL value or more than AUDIT_PAIRS_MAX pairs
 * (nothing is written); CS_ECRYPTO; or CS_EIO when a write, sync or
 * rotation failed.  After CS_EIO the line may or may not be in the log: if
 * it was written completely, seq advanced and a failed head write or
 * rotation is retried by the next event; if not, seq did not advance and
 * any fragment is ended with a newline before the next line.
 */
int audit_event(struct audit *a, const char *event, const char *const *kv, size_t nkv)
	__attribute__((warn_unused_result));

/* audit_seq(a): the seq of the last line written (0 for an empty log). */
uint64_t audit_seq(struct audit *a);

/*
 * audit_verify_dir(dir, key, r): check the whole log in dir under key,
 * streaming it line by line (memory is bounded whatever the files hold):
 * rotated files in numeric order (numbers must run 1, 2, ... without gaps),
 * then audit.log; every line must parse, with seq one more than the line
 * before (1 for the first), prev equal to the line before's mac (zeros for
 * the first) and its mac recomputed equal.  Last, the final line must match
 * audit.head; the log may be one line ahead of the head (a writer between
 * its two writes, or a crash there), never behind.  An empty log with no
 * head, or a head at seq 0, is intact.
 *
 * Returns 0 with r->ok true when intact; CS_EAUTH with r filled in at the
 * first failure; CS_ENOENT (no such directory), CS_EIO (a file cannot be
 * read; r->why says which) or CS_ENOMEM with r->ok false.  It takes no
 * lock: run it on a log no process is writing (e.g. from the CLI with the
 * server stopped), or use audit_verify(); a rotation during the walk would
 * look like lines removed at the end.
 */
int audit_verify_dir(const char *dir, const uint8_t key[AUDIT_KEY_LEN], struct audit_report *r)
	__attribute__((warn_unused_result));

/*
 * audit_verify(a, r): audit_verify_dir() on a's directory under a's key,
 * holding a's lock so that a live log is checked without racing appends
 * (which wait meanwhile); here the last line must match the head exactly.
 */
int audit_verify(struct audit *a, struct audit_report *r) __attribute__((warn_unused_result));

#endif /* CS_AUDIT_H */
