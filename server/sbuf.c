/*
 * sbuf: growable buffer.
 */
#include "sbuf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool
sbuf_grow(struct sbuf *s, size_t more)
{
	size_t cap;
	char *nb;

	if (s->failed)
		return false;
	if (s->n + more + 1 <= s->cap)
		return true;
	cap = (s->n + more + 1) * 2;
	if ((nb = realloc(s->b, cap)) == NULL) {
		s->failed = true;
		return false;
	}
	s->b = nb;
	s->cap = cap;
	return true;
}

void
sbuf_put(struct sbuf *s, const void *p, size_t n)
{
	if (!sbuf_grow(s, n))
		return;
	memcpy(s->b + s->n, p, n);
	s->n += n;
	s->b[s->n] = '\0';
}

void
sbuf_str(struct sbuf *s, const char *str)
{
	sbuf_put(s, str, strlen(str));
}

void
sbuf_printf(struct sbuf *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !sbuf_grow(s, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(s->b + s->n, (size_t)n + 1, fmt, ap);
	va_end(ap);
	s->n += (size_t)n;
}

void
sbuf_xml(struct sbuf *s, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];

		switch (c) {
		case '&':
			sbuf_str(s, "&amp;");
			break;
		case '<':
			sbuf_str(s, "&lt;");
			break;
		case '>':
			sbuf_str(s, "&gt;");
			break;
		case '"':
			sbuf_str(s, "&quot;");
			break;
		case '\'':
			sbuf_str(s, "&apos;");
			break;
		default:
			if (c < 0x20)
				sbuf_printf(s, "&#x%X;", c);
			else
				sbuf_put(s, &p[i], 1);
			break;
		}
	}
}

bool
sbuf_ok(const struct sbuf *s)
{
	return !s->failed;
}

void
sbuf_free(struct sbuf *s)
{
	free(s->b);
	memset(s, 0, sizeof(*s));
}
