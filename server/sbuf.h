/*
 * sbuf: a growable byte buffer for building responses (XML bodies, header
 * values).  An allocation failure is remembered and reported once, by
 * sbuf_ok(), so builders need not check every append.
 */
#ifndef CS_SBUF_H
#define CS_SBUF_H

#include <stdbool.h>
#include <stddef.h>

struct sbuf {
	char *b;
	size_t n, cap;
	bool failed;
};

/* sbuf_put(s, p, n) / sbuf_str(s, str): append bytes. */
void sbuf_put(struct sbuf *s, const void *p, size_t n);
void sbuf_str(struct sbuf *s, const char *str);

/* sbuf_printf(s, fmt, ...): append formatted text. */
void sbuf_printf(struct sbuf *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* sbuf_xml(s, p, n): append n bytes escaped for XML text and attributes;
 * control characters other than tab, LF and CR become numeric references
 * (XML 1.0 cannot carry them at all, S3 does the same). */
void sbuf_xml(struct sbuf *s, const char *p, size_t n);

/* sbuf_ok(s): false if any append failed for lack of memory. */
bool sbuf_ok(const struct sbuf *s);

/* sbuf_free(s): release the buffer and reset s. */
void sbuf_free(struct sbuf *s);

#endif /* CS_SBUF_H */
