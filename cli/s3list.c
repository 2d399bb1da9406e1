/*
 * s3list: ListBuckets and paged ListObjectsV2 (see s3list.h).  A page is
 * parsed whole before the callback sees any of it, so a malformed page
 * delivers nothing.
 */
#include "s3list.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define S3LIST_MAX_TOKEN 4096
#define S3LIST_QUERY     (S3LIST_MAX_TOKEN * 3 + S3_MAX_KEY * 3 + 256)

struct item {
	char *name;
	bool is_prefix;
	uint64_t size;
	char last_modified[64];
	char etag[128];
};

struct page {
	struct item *items;
	size_t n, cap;
};

static void
page_free(struct page *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->items[i].name);
	free(p->items);
	memset(p, 0, sizeof(*p));
}

static struct item *
page_add(struct page *p)
{
	if (p->n == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 64;
		struct item *ni = realloc(p->items, cap * sizeof(*ni));

		if (ni == NULL)
			return NULL;
		p->items = ni;
		p->cap = cap;
	}
	memset(&p->items[p->n], 0, sizeof(p->items[0]));
	return &p->items[p->n++];
}

static int
item_cmp(const void *a, const void *b)
{
	return strcmp(((const struct item *)a)->name, ((const struct item *)b)->name);
}

/* name_get(xml, n, tag, url, out): a key, prefix or bucket name: XML text, then
 * (url) %-decoded; malloc'ed.  NULL when absent or malformed. */
static char *
name_get(const char *xml, size_t n, const char *tag, bool url)
{
	char buf[S3_MAX_KEY * 3 + 1];
	long l = s3client_xml_get(xml, n, tag, buf, sizeof(buf));

	if (l < 0 || (url && s3client_url_decode(buf) != 0) || strlen(buf) > S3_MAX_KEY)
		return NULL;
	return strdup(buf);
}

static bool
parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return false;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return true;
}

static int
bad_page(struct s3err *e, const char *what)
{
	return s3err_set(e, S3E_SERVER, NULL, "malformed listing from the server (%s)", what);
}

/* objects_page(xml, n, pg, e): the Contents and CommonPrefixes of one page. */
static int
objects_page(const char *xml, size_t n, struct page *pg, struct s3err *e)
{
	const char *v;
	size_t vl, pos = 0;

	while (s3client_xml_next(xml, n, "Contents", &pos, &v, &vl)) {
		struct item *it = page_add(pg);
		char size[32];

		if (it == NULL)
			return s3err_set(e, S3E_LOCAL, NULL, "out of memory");
		if ((it->name = name_get(v, vl, "Key", true)) == NULL)
			return bad_page(e, "Key");
		if (s3client_xml_get(v, vl, "Size", size, sizeof(size)) < 0 ||
		    !parse_u64(size, &it->size))
			return bad_page(e, "Size");
		if (s3client_xml_get(v, vl, "LastModified", it->last_modified,
				     sizeof(it->last_modified)) < 0)
			it->last_modified[0] = '\0';
		if (s3client_xml_get(v, vl, "ETag", it->etag, sizeof(it->etag)) < 0)
			it->etag[0] = '\0';
	}
	pos = 0;
	while (s3client_xml_next(xml, n, "CommonPrefixes", &pos, &v, &vl)) {
		struct item *it = page_add(pg);

		if (it == NULL)
			return s3err_set(e, S3E_LOCAL, NULL, "out of memory");
		if ((it->name = name_get(v, vl, "Prefix", true)) == NULL)
			return bad_page(e, "Prefix");
		it->is_prefix = true;
	}
	return 0;
}

static int
deliver(struct page *pg, s3list_fn fn, void *arg, struct s3err *e)
{
	if (pg->n > 1)
		qsort(pg->items, pg->n, sizeof(pg->items[0]), item_cmp);
	for (size_t i = 0; i < pg->n; i++) {
		const struct item *it = &pg->items[i];
		struct s3list_entry ent = {it->name, it->is_prefix, it->size, it->last_modified,
					   it->etag};

		if (fn(arg, &ent, e) != 0)
			return -1;
	}
	return 0;
}

int
s3list_objects(struct s3conn *c, const char *bucket, const char *prefix, const char *delimiter,
	       s3list_fn fn, void *arg, struct s3err *e)
{
	char *query = malloc(S3LIST_QUERY), token[S3LIST_MAX_TOKEN] = "", trunc[16];
	struct page pg = {0};
	int rc = -1;

	if (query == NULL)
		return s3err_set(e, S3E_LOCAL, NULL, "out of memory");
	for (;;) {
		struct s3_req rq = {.method = "GET", .bucket = bucket};
		struct s3_resp rs;
		bool more;

		snprintf(query, S3LIST_QUERY, "list-type=2&encoding-type=url&max-keys=1000");
		if ((prefix[0] != '\0' &&
		     s3client_query_add(query, S3LIST_QUERY, "prefix", prefix)) ||
		    (delimiter != NULL &&
		     s3client_query_add(query, S3LIST_QUERY, "delimiter", delimiter)) ||
		    (token[0] != '\0' &&
		     s3client_query_add(query, S3LIST_QUERY, "continuation-token", token))) {
			s3err_set(e, S3E_USAGE, NULL, "prefix too long");
			break;
		}
		rq.query = query;
		if (s3client_do(c, &rq, &rs, e) != 0) {
			s3client_resp_free(&rs);
			break;
		}
		if (rs.body == NULL) {
			s3client_resp_free(&rs);
			bad_page(e, "no body");
			break;
		}
		if (objects_page(rs.body, rs.body_len, &pg, e) != 0) {
			s3client_resp_free(&rs);
			break;
		}
		more = s3client_xml_get(rs.body, rs.body_len, "IsTruncated", trunc, sizeof(trunc)) >
			       0 &&
		       strcmp(trunc, "true") == 0;
		if (more) {
			char next[S3LIST_MAX_TOKEN];

			if (s3client_xml_get(rs.body, rs.body_len, "NextContinuationToken", next,
					     sizeof(next)) <= 0 ||
			    strcmp(next, token) == 0) {
				s3client_resp_free(&rs);
				bad_page(e, "truncated without a new NextContinuationToken");
				break;
			}
			memcpy(token, next, strlen(next) + 1);
		}
		s3client_resp_free(&rs);
		if (deliver(&pg, fn, arg, e) != 0)
			break;
		page_free(&pg);
		if (!more) {
			rc = 0;
			break;
		}
	}
	page_free(&pg);
	free(query);
	return rc;
}

int
s3list_buckets(struct s3conn *c, s3list_fn fn, void *arg, struct s3err *e)
{
	struct s3_req rq = {.method = "GET"};
	struct s3_resp rs;
	struct page pg = {0};
	const char *v;
	size_t vl, pos = 0;
	int rc = -1;

	if (s3client_do(c, &rq, &rs, e) != 0)
		goto out;
	if (rs.body == NULL) {
		bad_page(e, "no body");
		goto out;
	}
	while (s3client_xml_next(rs.body, rs.body_len, "Bucket", &pos, &v, &vl)) {
		struct item *it = page_add(&pg);

		if (it == NULL) {
			s3err_set(e, S3E_LOCAL, NULL, "out of memory");
			goto out;
		}
		if ((it->name = name_get(v, vl, "Name", false)) == NULL) {
			bad_page(e, "Name");
			goto out;
		}
		if (s3client_xml_get(v, vl, "CreationDate", it->last_modified,
				     sizeof(it->last_modified)) < 0)
			it->last_modified[0] = '\0';
	}
	rc = deliver(&pg, fn, arg, e);
out:
	page_free(&pg);
	s3client_resp_free(&rs);
	return rc;
}
