/*
 * s3xml: a strict little XML reader for S3 request bodies.
 *
 * The body is parsed into a flat array of nodes (element name, decoded text,
 * parent index), depth and count bounded, then the two schemas are read
 * from that array.
 */
#include "s3xml.h"
#include "util/err.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DEPTH    8
#define MAX_NODES    (3 * S3XML_MAX_ITEMS + 16)
#define NAME_MAX_LEN 64

struct node {
	char name[NAME_MAX_LEN + 1];
	int parent;
	char *text; /* decoded text content (direct children text only) */
	size_t tlen;
};

struct doc {
	struct node *n;
	size_t nn;
};

static void
doc_free(struct doc *d)
{
	for (size_t i = 0; i < d->nn; i++)
		free(d->n[i].text);
	free(d->n);
}

/* utf8_put: encode code point cp; returns bytes written or 0 if invalid. */
static size_t
utf8_put(char *o, uint32_t cp)
{
	if (cp == 0 || (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

/* text_append: decode entities of s[0..n) onto node's text. */
static int
text_append(struct node *nd, const char *s, size_t n)
{
	char *t = realloc(nd->text, nd->tlen + n + 1);
	size_t o = nd->tlen;

	if (t == NULL)
		return CS_ENOMEM;
	nd->text = t;
	for (size_t i = 0; i < n;) {
		if (s[i] != '&') {
			t[o++] = s[i++];
			continue;
		}
		{
			const char *semi = memchr(s + i, ';', n - i);
			size_t el;

			if (semi == NULL || (el = (size_t)(semi - (s + i))) < 2 || el > 10)
				return CS_EINVAL;
			if (el == 3 && memcmp(s + i, "&lt", 3) == 0)
				t[o++] = '<';
			else if (el == 3 && memcmp(s + i, "&gt", 3) == 0)
				t[o++] = '>';
			else if (el == 4 && memcmp(s + i, "&amp", 4) == 0)
				t[o++] = '&';
			else if (el == 5 && memcmp(s + i, "&quot", 5) == 0)
				t[o++] = '"';
			else if (el == 5 && memcmp(s + i, "&apos", 5) == 0)
				t[o++] = '\'';
			else if (s[i + 1] == '#') {
				uint32_t cp = 0;
				bool hx = s[i + 2] == 'x';
				size_t k = hx ? 3 : 2, w;

				if (k >= el)
					return CS_EINVAL;
				for (; k < el; k++) {
					char c = s[i + k];
					int d = c >= '0' && c <= '9'         ? c - '0'
						: hx && c >= 'a' && c <= 'f' ? c - 'a' + 10
						: hx && c >= 'A' && c <= 'F' ? c - 'A' + 10
									     : -1;

					if (d < 0 || cp > 0x10ffff)
						return CS_EINVAL;
					cp = cp * (hx ? 16u : 10u) + (uint32_t)d;
				}
				/* An entity is at least as long as its UTF-8 (4 bytes <= "&#xN;"+).
				 */
				if ((w = utf8_put(t + o, cp)) == 0 || w > el + 1)
					return CS_EINVAL;
				o += w;
			} else {
				return CS_EINVAL;
			}
			i += el + 1;
		}
	}
	t[o] = '\0';
	nd->tlen = o;
	return 0;
}

static bool
name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-' || c == '.' || c == ':';
}

static int
parse(const char *s, size_t n, struct doc *d)
{
	int stack[MAX_DEPTH], depth = 0;
	size_t i = 0;
	bool root_done = false;

	memset(d, 0, sizeof(*d));
	if ((d->n = calloc(MAX_NODES, sizeof(*d->n))) == NULL)
		return CS_ENOMEM;
	/* Optional BOM and XML declaration. */
	if (n >= 3 && memcmp(s, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
		i++;
	if (n - i >= 5 && memcmp(s + i, "<?xml", 5) == 0) {
		const char *e = NULL;

		for (size_t k = i; k + 1 < n; k++)
			if (s[k] == '?' && s[k + 1] == '>') {
				e = s + k;
				break;
			}
		if (e == NULL)
			return CS_EINVAL;
		i = (size_t)(e - s) + 2;
	}
	while (i < n) {
		if (s[i] != '<') {
			size_t j = i;

			while (j < n && s[j] != '<')
				j++;
			if (depth == 0) {
				for (size_t k = i; k < j; k++)
					if (s[k] != ' ' && s[k] != '\t' && s[k] != '\r' &&
					    s[k] != '\n')
						return CS_EINVAL;
			} else if (text_append(&d->n[stack[depth - 1]], s + i, j - i) != 0) {
				return CS_EINVAL;
			}
			i = j;
			continue;
		}
		if (i + 1 >= n)
			return CS_EINVAL;
		if (s[i + 1] == '/') { /* end tag */
			size_t j = i + 2, nl;

			while (j < n && name_char(s[j]))
				j++;
			nl = j - i - 2;
			while (j < n &&
			       (s[j] == ' ' || s[j] == '\t' || s[j] == '\r' || s[j] == '\n'))
				j++;
			if (j >= n || s[j] != '>' || depth == 0)
				return CS_EINVAL;
			if (strlen(d->n[stack[depth - 1]].name) != nl ||
			    memcmp(d->n[stack[depth - 1]].name, s + i + 2, nl) != 0)
				return CS_EINVAL;
			depth--;
			if (depth == 0)
				root_done = true;
			i = j + 1;
			continue;
		}
		{ /* start tag, maybe self-closing, with attributes skipped */
			size_t j = i + 1, nl;
			struct node *nd;
			char q = 0;

			while (j < n && name_char(s[j]))
				j++;
			nl = j - i - 1;
			if (nl == 0 || nl > NAME_MAX_LEN || depth == MAX_DEPTH ||
			    d->nn == MAX_NODES || (depth == 0 && root_done))
				return CS_EINVAL;
			for (; j < n; j++) {
				if (q != 0) {
					if (s[j] == q)
						q = 0;
				} else if (s[j] == '"' || s[j] == '\'') {
					q = s[j];
				} else if (s[j] == '>' || s[j] == '<') {
					break;
				}
			}
			if (j >= n || s[j] != '>')
				return CS_EINVAL;
			nd = &d->n[d->nn];
			memcpy(nd->name, s + i + 1, nl);
			nd->name[nl] = '\0';
			nd->parent = depth > 0 ? stack[depth - 1] : -1;
			if (s[j - 1] == '/') {
				d->nn++;
				if (depth == 0)
					root_done = true;
			} else {
				stack[depth++] = (int)d->nn++;
			}
			i = j + 1;
		}
	}
	return depth == 0 && root_done ? 0 : CS_EINVAL;
}

/* strip_ns: element name without a namespace prefix. */
static const char *
local(const char *name)
{
	const char *c = strchr(name, ':');

	return c ? c + 1 : name;
}

static const char *
child_text(const struct doc *d, size_t parent, const char *name)
{
	for (size_t i = parent + 1; i < d->nn; i++)
		if (d->n[i].parent == (int)parent && strcmp(local(d->n[i].name), name) == 0)
			return d->n[i].text ? d->n[i].text : "";
	return NULL;
}

int
s3xml_complete(const char *body, size_t n, struct s3xml_part **parts, size_t *nparts)
{
	struct doc d;
	struct s3xml_part *p = NULL;
	size_t np = 0;
	int rc;

	*parts = NULL;
	*nparts = 0;
	if (n > S3XML_MAX_BODY)
		return CS_EINVAL;
	if ((rc = parse(body, n, &d)) != 0 || d.nn == 0 ||
	    strcmp(local(d.n[0].name), "CompleteMultipartUpload") != 0) {
		doc_free(&d);
		return rc == CS_ENOMEM ? rc : CS_EINVAL;
	}
	if ((p = calloc(S3XML_MAX_ITEMS, sizeof(*p))) == NULL) {
		doc_free(&d);
		return CS_ENOMEM;
	}
	for (size_t i = 1; i < d.nn && rc == 0; i++) {
		const char *num, *etag;
		char *end;
		unsigned long v;
		size_t el;

		if (d.n[i].parent != 0)
			continue;
		if (strcmp(local(d.n[i].name), "Part") != 0 || np == S3XML_MAX_ITEMS) {
			rc = CS_EINVAL;
			break;
		}
		num = child_text(&d, i, "PartNumber");
		etag = child_text(&d, i, "ETag");
		if (num == NULL || etag == NULL || num[0] < '0' || num[0] > '9') {
			rc = CS_EINVAL;
			break;
		}
		v = strtoul(num, &end, 10);
		if (*end != '\0' || v < 1 || v > 10000) {
			rc = CS_EINVAL;
			break;
		}
		/* ETags arrive with or without quotes (and as &quot;). */
		while (*etag == '"')
			etag++;
		el = strlen(etag);
		while (el > 0 && etag[el - 1] == '"')
			el--;
		if (el == 0 || el >= sizeof(p[np].etag)) {
			rc = CS_EINVAL;
			break;
		}
		p[np].number = (unsigned)v;
		memcpy(p[np].etag, etag, el);
		p[np].etag[el] = '\0';
		np++;
	}
	doc_free(&d);
	if (rc != 0 || np == 0) {
		free(p);
		return CS_EINVAL;
	}
	*parts = p;
	*nparts = np;
	return 0;
}

int
s3xml_delete(const char *body, size_t n, char ***keys, size_t *nkeys, bool *quiet)
{
	struct doc d;
	char **k = NULL;
	size_t nk = 0;
	int rc;

	*keys = NULL;
	*nkeys = 0;
	*quiet = false;
	if (n > S3XML_MAX_BODY)
		return CS_EINVAL;
	if ((rc = parse(body, n, &d)) != 0 || d.nn == 0 ||
	    strcmp(local(d.n[0].name), "Delete") != 0) {
		doc_free(&d);
		return rc == CS_ENOMEM ? rc : CS_EINVAL;
	}
	if ((k = calloc(1000 + 1, sizeof(*k))) == NULL) {
		doc_free(&d);
		return CS_ENOMEM;
	}
	for (size_t i = 1; i < d.nn && rc == 0; i++) {
		const char *key;

		if (d.n[i].parent != 0)
			continue;
		if (strcmp(local(d.n[i].name), "Quiet") == 0) {
			*quiet = d.n[i].text != NULL && strcmp(d.n[i].text, "true") == 0;
			continue;
		}
		/* S3 allows at most 1000 keys per request. */
		if (strcmp(local(d.n[i].name), "Object") != 0 || nk == 1000 ||
		    (key = child_text(&d, i, "Key")) == NULL || key[0] == '\0') {
			rc = CS_EINVAL;
			break;
		}
		if ((k[nk] = strdup(key)) == NULL) {
			rc = CS_ENOMEM;
			break;
		}
		nk++;
	}
	doc_free(&d);
	if (rc != 0 || nk == 0) {
		for (size_t i = 0; i < nk; i++)
			free(k[i]);
		free(k);
		return rc == CS_ENOMEM ? rc : CS_EINVAL;
	}
	*keys = k;
	*nkeys = nk;
	return 0;
}
