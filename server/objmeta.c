/*
 * objmeta: encoding of the per-object metadata record.
 */
#include "objmeta.h"
#include "util/err.h"

#include <stdlib.h>
#include <string.h>

#define MAGIC "CSM1"

enum { T_NAME = 1, T_CTYPE = 2, T_ETAG = 3, T_MTIME = 4, T_KEY = 5, T_VALUE = 6 };

struct wbuf {
	uint8_t *b;
	size_t n, cap;
	int err;
};

static void
w_put(struct wbuf *w, const void *p, size_t n)
{
	if (w->err != 0)
		return;
	if (w->n + n > OBJMETA_MAX) {
		w->err = CS_ERANGE;
		return;
	}
	if (w->n + n > w->cap) {
		size_t cap = (w->n + n) * 2;
		uint8_t *nb = realloc(w->b, cap);

		if (nb == NULL) {
			w->err = CS_ENOMEM;
			return;
		}
		w->b = nb;
		w->cap = cap;
	}
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void
w_field(struct wbuf *w, uint8_t tag, const void *p, size_t n)
{
	uint8_t h[5] = {tag, (uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};

	w_put(w, h, sizeof(h));
	w_put(w, p, n);
}

int
objmeta_encode(const struct objmeta *m, uint8_t **out, size_t *outlen)
{
	struct wbuf w = {NULL, 0, 0, 0};
	uint8_t t[8];

	w_put(&w, MAGIC, 4);
	w_field(&w, T_NAME, m->name, strlen(m->name));
	if (m->ctype != NULL)
		w_field(&w, T_CTYPE, m->ctype, strlen(m->ctype));
	if (m->etag != NULL)
		w_field(&w, T_ETAG, m->etag, strlen(m->etag));
	for (int i = 0; i < 8; i++)
		t[i] = (uint8_t)((uint64_t)m->mtime_ms >> (56 - 8 * i));
	w_field(&w, T_MTIME, t, 8);
	for (size_t i = 0; i < m->npairs && i < OBJMETA_PAIRS_MAX; i++) {
		w_field(&w, T_KEY, m->pairs[i].key, strlen(m->pairs[i].key));
		w_field(&w, T_VALUE, m->pairs[i].value, strlen(m->pairs[i].value));
	}
	if (w.err != 0) {
		free(w.b);
		return w.err;
	}
	*out = w.b;
	*outlen = w.n;
	return 0;
}

static char *
dup_field(const uint8_t *p, size_t n)
{
	char *s;

	if (memchr(p, '\0', n) != NULL)
		return NULL;
	if ((s = malloc(n + 1)) != NULL) {
		memcpy(s, p, n);
		s[n] = '\0';
	}
	return s;
}

int
objmeta_decode(const uint8_t *b, size_t n, struct objmeta *m)
{
	size_t off = 4;

	memset(m, 0, sizeof(*m));
	if (n < 4 || memcmp(b, MAGIC, 4) != 0)
		return CS_EINVAL;
	while (off < n) {
		size_t len;
		uint8_t tag;
		char *s = NULL;

		if (n - off < 5)
			goto bad;
		tag = b[off];
		len = (size_t)b[off + 1] << 24 | (size_t)b[off + 2] << 16 |
		      (size_t)b[off + 3] << 8 | b[off + 4];
		off += 5;
		if (len > n - off)
			goto bad;
		if (tag == T_MTIME) {
			uint64_t v = 0;

			if (len != 8)
				goto bad;
			for (int i = 0; i < 8; i++)
				v = v << 8 | b[off + (size_t)i];
			m->mtime_ms = (int64_t)v;
		} else {
			if ((s = dup_field(b + off, len)) == NULL)
				goto bad;
			switch (tag) {
			case T_NAME:
				free(m->name);
				m->name = s;
				break;
			case T_CTYPE:
				free(m->ctype);
				m->ctype = s;
				break;
			case T_ETAG:
				free(m->etag);
				m->etag = s;
				break;
			case T_KEY:
				/* A key before the last value would leave a pair half empty. */
				if (m->npairs >= OBJMETA_PAIRS_MAX ||
				    (m->npairs > 0 && m->pairs[m->npairs - 1].value == NULL)) {
					free(s);
					goto bad;
				}
				m->pairs[m->npairs++].key = s;
				break;
			case T_VALUE:
				if (m->npairs == 0 || m->pairs[m->npairs - 1].value != NULL) {
					free(s);
					goto bad;
				}
				m->pairs[m->npairs - 1].value = s;
				break;
			default:
				free(s); /* a field from a newer version: skip it */
				break;
			}
		}
		off += len;
	}
	if (m->name == NULL || (m->npairs > 0 && m->pairs[m->npairs - 1].value == NULL))
		goto bad;
	return 0;
bad:
	objmeta_clear(m);
	return CS_EINVAL;
}

void
objmeta_clear(struct objmeta *m)
{
	free(m->name);
	free(m->ctype);
	free(m->etag);
	for (size_t i = 0; i < m->npairs; i++) {
		free(m->pairs[i].key);
		free(m->pairs[i].value);
	}
	memset(m, 0, sizeof(*m));
}
