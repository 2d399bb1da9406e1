/*
 * transfer: uploads, downloads and copies (see transfer.h).
 *
 * Both directions use the same shape: a job struct guarded by one mutex
 * hands out part numbers to worker threads, each with its own connection
 * and buffer; the first failure is kept, stops the others from taking new
 * parts, and is what the caller reports.  Workers write only their own
 * slots of the job's per-part arrays, so those need no lock.
 */
#include "transfer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "progress.h"
#include "util/hex.h"

/* ---- small helpers -------------------------------------------------------------------------- */

const char *
transfer_basename(const char *key)
{
	const char *s = strrchr(key, '/');

	return s != NULL ? s + 1 : key;
}

/*
 * read_full(fd, buf, n): read until n bytes or end of file.  Returns the
 * count or -1 with errno set (EINTR once the transfer is cancelled).  It
 * polls, because a worker thread blocked in read() on a quiet pipe would
 * not see a SIGINT that another thread took.
 */
static ssize_t
read_full(int fd, uint8_t *buf, size_t n)
{
	size_t got = 0;

	while (got < n) {
		struct pollfd pfd = {fd, POLLIN, 0};
		ssize_t r;

		if (s3client_cancelled()) {
			errno = EINTR;
			return -1;
		}
		if (poll(&pfd, 1, 200) == 0)
			continue;
		r = read(fd, buf + got, n - got);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		got += (size_t)r;
	}
	return (ssize_t)got;
}

/* pread_full(fd, buf, n, off): exactly n bytes at off; a short file is EIO. */
static int
pread_full(int fd, uint8_t *buf, size_t n, uint64_t off)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = pread(fd, buf + got, n - got, (off_t)(off + got));

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0) {
			errno = EIO; /* the file shrank while we read it */
			return -1;
		}
		got += (size_t)r;
	}
	return 0;
}

static int
write_full(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int
pwrite_full(int fd, const void *p, size_t n, uint64_t off)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w = pwrite(fd, c, n, (off_t)off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		c += w;
		n -= (size_t)w;
		off += (uint64_t)w;
	}
	return 0;
}

/* etag_eq(a, b): ETags equal, quotes and hex case aside. */
static bool
etag_eq(const char *a, const char *b)
{
	size_t an = strlen(a), bn = strlen(b);

	if (an >= 2 && a[0] == '"' && a[an - 1] == '"') {
		a++;
		an -= 2;
	}
	if (bn >= 2 && b[0] == '"' && b[bn - 1] == '"') {
		b++;
		bn -= 2;
	}
	return an == bn && strncasecmp(a, b, an) == 0;
}

static uint64_t
min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/* guess_type(path): a Content-Type from the file name's extension, or NULL. */
static const char *
guess_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{"txt", "text/plain"},
		{"log", "text/plain"},
		{"csv", "text/csv"},
		{"html", "text/html"},
		{"htm", "text/html"},
		{"css", "text/css"},
		{"js", "text/javascript"},
		{"json", "application/json"},
		{"xml", "application/xml"},
		{"pdf", "application/pdf"},
		{"zip", "application/zip"},
		{"gz", "application/gzip"},
		{"tgz", "application/gzip"},
		{"tar", "application/x-tar"},
		{"xz", "application/x-xz"},
		{"zst", "application/zstd"},
		{"png", "image/png"},
		{"jpg", "image/jpeg"},
		{"jpeg", "image/jpeg"},
		{"gif", "image/gif"},
		{"svg", "image/svg+xml"},
		{"webp", "image/webp"},
		{"mp3", "audio/mpeg"},
		{"wav", "audio/wav"},
		{"flac", "audio/flac"},
		{"mp4", "video/mp4"},
		{"mkv", "video/x-matroska"},
		{"webm", "video/webm"},
		{"pcap", "application/vnd.tcpdump.pcap"},
	};
	const char *base = transfer_basename(path), *dot = strrchr(base, '.');

	if (dot == NULL || dot == base)
		return NULL;
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strcasecmp(dot + 1, types[i].ext) == 0)
			return types[i].type;
	return NULL;
}

/* ---- sinks ----------------------------------------------------------------------------------- */

/* A fixed buffer: a part fetched from a copy's source. */
struct buf_sink {
	uint8_t *buf;
	size_t cap, len;
	bool overflow;
};

static int
buf_write(void *arg, const void *p, size_t n)
{
	struct buf_sink *s = arg;

	if (n > s->cap - s->len) {
		s->overflow = true;
		errno = EPROTO;
		return -1;
	}
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	return 0;
}

static int
buf_rewind(void *arg)
{
	((struct buf_sink *)arg)->len = 0;
	return 0;
}

/* A sequential writer that hashes as it goes: one GET to a file or a stream. */
struct seq_sink {
	int fd;
	bool seekable;
	EVP_MD_CTX *md5;
	uint64_t written;
};

static int
seq_write(void *arg, const void *p, size_t n)
{
	struct seq_sink *s = arg;

	if (write_full(s->fd, p, n) != 0)
		return -1;
	if (EVP_DigestUpdate(s->md5, p, n) != 1) {
		errno = ENOMEM;
		return -1;
	}
	s->written += n;
	return 0;
}

static int
seq_rewind(void *arg)
{
	struct seq_sink *s = arg;

	if (ftruncate(s->fd, 0) != 0 || lseek(s->fd, 0, SEEK_SET) != 0)
		return -1;
	if (EVP_DigestInit_ex(s->md5, EVP_md5(), NULL) != 1) {
		errno = ENOMEM;
		return -1;
	}
	s->written = 0;
	return 0;
}

/* A positional writer for one range of a parallel download. */
struct range_sink {
	int fd;
	uint64_t off, len, written;
	bool overflow;
};

static int
range_write(void *arg, const void *p, size_t n)
{
	struct range_sink *s = arg;

	if (n > s->len - s->written) {
		s->overflow = true;
		errno = EPROTO;
		return -1;
	}
	if (pwrite_full(s->fd, p, n, s->off + s->written) != 0)
		return -1;
	s->written += n;
	return 0;
}

static int
range_rewind(void *arg)
{
	((struct range_sink *)arg)->written = 0;
	return 0;
}

/* ---- the job: parts handed to workers -------------------------------------------------------- */

struct job {
	pthread_mutex_t mu;
	unsigned next;   /* parts handed out so far */
	unsigned nparts; /* parts in all (streams: so far) */
	bool failed;
	struct s3err err; /* the first failure */
};

/* job_fail(j, e): remember the first failure; later ones are its echoes. */
static void
job_fail(struct job *j, const struct s3err *e)
{
	pthread_mutex_lock(&j->mu);
	if (!j->failed) {
		j->failed = true;
		j->err = *e;
	}
	pthread_mutex_unlock(&j->mu);
}

/*
 * run_workers(n, fn, arg): run fn(arg) on n threads and wait for them.
 * When not even one thread can start, fn runs on this one instead.
 */
static void
run_workers(int n, void *(*fn)(void *), void *arg)
{
	pthread_t t[TRANSFER_MAX_PAR];
	int started = 0;

	for (int i = 0; i < n && i < TRANSFER_MAX_PAR; i++) {
		if (pthread_create(&t[i], NULL, fn, arg) != 0)
			break;
		started++;
	}
	if (started == 0)
		fn(arg);
	for (int i = 0; i < started; i++)
		pthread_join(t[i], NULL);
}

/* ---- upload ---------------------------------------------------------------------------------- */

enum src_kind {
	SRC_FILE,   /* a regular file: parts read with pread, in any order */
	SRC_STREAM, /* stdin, a pipe, a device: parts read in order, size unknown */
	SRC_S3,     /* an object: parts fetched with ranged GETs */
};

struct upload {
	struct job j;
	struct s3client *cl;
	const struct transfer_opts *o;
	const char *bucket, *key;
	enum src_kind kind;
	int fd;
	uint64_t size; /* FILE, S3 */
	const char *sbucket, *skey;
	char setag[128]; /* S3: the source's ETag, which every range must carry */
	uint64_t part_size;
	char upload_id[256];
	char query_id[300]; /* "uploadId=..." encoded */
	struct progress *prog;
	bool eof;       /* STREAM: the input is exhausted */
	uint8_t *first; /* STREAM: part 1, read before deciding on multipart */
	size_t first_len;
	uint8_t (*md5)[16]; /* per part */
	/* headers for the PUT or CreateMultipartUpload */
	struct s3_hdr hdrs[TRANSFER_MAX_META_HDRS + 2];
	size_t nhdrs;
	char meta_names[TRANSFER_MAX_META_HDRS][80];
	char meta_values[TRANSFER_MAX_META_HDRS][512];
	char ctype[256];
};

/*
 * fetch_range(c, u, buf, off, len, e): len bytes of the copy source at off
 * into buf; the answer must be exactly that range of the same object.
 */
static int
fetch_range(struct s3conn *c, const struct upload *u, uint8_t *buf, uint64_t off, uint64_t len,
	    struct s3err *e)
{
	struct buf_sink bs = {buf, (size_t)len, 0, false};
	struct s3_sink sink = {buf_write, buf_rewind, &bs, NULL};
	char range[96], want[128];
	struct s3_hdr h[1];
	struct s3_req rq = {0};
	struct s3_resp rs;
	int rc;

	if (len == 0)
		return 0;
	snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1));
	snprintf(want, sizeof(want), "bytes %llu-%llu/%llu", (unsigned long long)off,
		 (unsigned long long)(off + len - 1), (unsigned long long)u->size);
	h[0] = (struct s3_hdr){"range", range};
	rq = (struct s3_req){.method = "GET",
			     .bucket = u->sbucket,
			     .key = u->skey,
			     .hdrs = h,
			     .nhdrs = 1,
			     .sink = &sink};
	rc = s3client_do(c, &rq, &rs, e);
	if (rc != 0 && bs.overflow)
		rc = s3err_set(e, S3E_SERVER, NULL, "the server sent more than the range %s",
			       range);
	if (rc == 0 && (rs.status != 206 || strcmp(rs.content_range, want) != 0))
		rc = s3err_set(e, S3E_SERVER, NULL, "asked for %s, got HTTP %ld '%s'", range,
			       rs.status, rs.content_range);
	if (rc == 0 && !etag_eq(rs.etag, u->setag))
		rc = s3err_set(e, S3E_SERVER, "SourceChanged", "s3://%s/%s changed during the copy",
			       u->sbucket, u->skey);
	if (rc == 0 && bs.len != len)
		rc = s3err_set(e, S3E_NET, NULL, "short range: %zu of %llu bytes", bs.len,
			       (unsigned long long)len);
	s3client_resp_free(&rs);
	return rc;
}

/* put_body(c, u, partno, buf, len, md5, e): PUT one part (partno > 0) or the
 * whole object (partno == 0), and check the ETag against the MD5. */
static int
put_body(struct s3conn *c, struct upload *u, unsigned partno, const uint8_t *buf, size_t len,
	 uint8_t md5[16], struct s3err *e)
{
	struct s3_hdr h[TRANSFER_MAX_META_HDRS + 3];
	char b64[25], query[400], want[33];
	struct s3_req rq = {0};
	struct s3_resp rs;
	size_t nh = 0;
	int rc;

	if (s3client_md5_b64(buf, len, md5, b64) != 0)
		return s3err_set(e, S3E_LOCAL, NULL, "MD5 failed");
	h[nh++] = (struct s3_hdr){"content-md5", b64};
	if (partno == 0) {
		memcpy(h + nh, u->hdrs, u->nhdrs * sizeof(h[0]));
		nh += u->nhdrs;
	} else {
		snprintf(query, sizeof(query), "partNumber=%u&%s", partno, u->query_id);
	}
	rq = (struct s3_req){.method = "PUT",
			     .bucket = u->bucket,
			     .key = u->key,
			     .query = partno ? query : NULL,
			     .hdrs = h,
			     .nhdrs = nh,
			     .body = buf,
			     .body_len = len,
			     .progress = u->prog};
	rc = s3client_do(c, &rq, &rs, e);
	hex_encode(want, md5, 16);
	if (rc == 0 && !etag_eq(rs.etag, want)) {
		if (partno)
			rc = s3err_set(e, S3E_SERVER, "BadDigest",
				       "part %u: the server answered ETag %s for MD5 %s", partno,
				       rs.etag, want);
		else
			rc = s3err_set(e, S3E_SERVER, "BadDigest",
				       "the server answered ETag %s for MD5 %s", rs.etag, want);
	}
	s3client_resp_free(&rs);
	return rc;
}

static void *
upload_worker(void *arg)
{
	struct upload *u = arg;
	struct s3conn *c = s3client_conn_new(u->cl);
	uint8_t *buf = malloc(u->part_size);
	struct s3err e = {0};

	if (c == NULL || buf == NULL) {
		s3err_set(&e, S3E_LOCAL, NULL, "out of memory for a part of %llu bytes",
			  (unsigned long long)u->part_size);
		job_fail(&u->j, &e);
		goto out;
	}
	for (;;) {
		unsigned part;
		uint64_t off = 0;
		size_t len = 0;

		pthread_mutex_lock(&u->j.mu);
		if (u->j.failed || s3client_cancelled() ||
		    (u->kind == SRC_STREAM ? u->eof : u->j.next >= u->j.nparts)) {
			pthread_mutex_unlock(&u->j.mu);
			break;
		}
		part = ++u->j.next;
		if (u->kind == SRC_STREAM) {
			if (part == 1 && u->first != NULL) {
				uint8_t *t = buf;

				buf = u->first;
				u->first = t;
				len = u->first_len;
			} else if (part > TRANSFER_MAX_PARTS) {
				pthread_mutex_unlock(&u->j.mu);
				s3err_set(&e, S3E_USAGE, NULL,
					  "the input needs more than %d parts of %llu bytes; "
					  "raise --part-size",
					  TRANSFER_MAX_PARTS, (unsigned long long)u->part_size);
				job_fail(&u->j, &e);
				break;
			} else {
				ssize_t r = read_full(u->fd, buf, u->part_size);

				if (r < 0) {
					pthread_mutex_unlock(&u->j.mu);
					s3err_sys(&e, "reading the input");
					job_fail(&u->j, &e);
					break;
				}
				len = (size_t)r;
				if (len < u->part_size)
					u->eof = true;
				if (len == 0) {
					/* the input ended on a part boundary */
					u->j.next--;
					pthread_mutex_unlock(&u->j.mu);
					break;
				}
			}
			u->j.nparts = part > u->j.nparts ? part : u->j.nparts;
		}
		pthread_mutex_unlock(&u->j.mu);

		if (u->kind != SRC_STREAM) {
			off = (uint64_t)(part - 1) * u->part_size;
			len = (size_t)min_u64(u->part_size, u->size - off);
		}
		if (u->kind == SRC_FILE && pread_full(u->fd, buf, len, off) != 0) {
			s3err_sys(&e, "reading the file");
			job_fail(&u->j, &e);
			break;
		}
		if (u->kind == SRC_S3 && fetch_range(c, u, buf, off, len, &e) != 0) {
			job_fail(&u->j, &e);
			break;
		}
		if (put_body(c, u, part, buf, len, u->md5[part - 1], &e) != 0) {
			job_fail(&u->j, &e);
			break;
		}
	}
out:
	free(buf);
	s3client_conn_free(c);
	return NULL;
}

/* simple_request(cl, rq, rs, e): one request on a connection of its own. */
static int
simple_request(struct s3client *cl, const struct s3_req *rq, struct s3_resp *rs, struct s3err *e)
{
	struct s3conn *c = s3client_conn_new(cl);
	int rc;

	memset(rs, 0, sizeof(*rs));
	if (c == NULL)
		return s3err_set(e, S3E_LOCAL, NULL, "out of memory");
	rc = s3client_do(c, rq, rs, e);
	s3client_conn_free(c);
	return rc;
}

/* multipart_create(u, e): CreateMultipartUpload; sets u->upload_id. */
static int
multipart_create(struct upload *u, struct s3err *e)
{
	struct s3_req rq = {.method = "POST",
			    .bucket = u->bucket,
			    .key = u->key,
			    .query = "uploads=",
			    .hdrs = u->hdrs,
			    .nhdrs = u->nhdrs};
	struct s3_resp rs;
	int rc = simple_request(u->cl, &rq, &rs, e);

	if (rc == 0 &&
	    (rs.body == NULL || s3client_xml_get(rs.body, rs.body_len, "UploadId", u->upload_id,
						 sizeof(u->upload_id)) <= 0))
		rc = s3err_set(e, S3E_SERVER, NULL,
			       "no UploadId in the answer to CreateMultipartUpload");
	if (rc == 0) {
		snprintf(u->query_id, sizeof(u->query_id), "%s", "");
		if (s3client_query_add(u->query_id, sizeof(u->query_id), "uploadId",
				       u->upload_id) != 0)
			rc = s3err_set(e, S3E_SERVER, NULL, "the UploadId is too long");
	}
	s3client_resp_free(&rs);
	return rc;
}

/* multipart_abort(u): best effort; the upload's failure is what gets reported. */
static void
multipart_abort(struct upload *u)
{
	struct s3_req rq = {.method = "DELETE",
			    .bucket = u->bucket,
			    .key = u->key,
			    .query = u->query_id,
			    .cleanup = true};
	struct s3_resp rs;
	struct s3err e;

	if (simple_request(u->cl, &rq, &rs, &e) != 0)
		fprintf(stderr,
			"cryptstore: warning: could not abort upload %s of s3://%s/%s: %s\n",
			u->upload_id, u->bucket, u->key, e.message);
	s3client_resp_free(&rs);
}

/* multipart_complete(u, e): CompleteMultipartUpload of parts 1..nparts, and
 * a check of the final ETag against the MD5 of the parts' MD5s. */
static int
multipart_complete(struct upload *u, struct s3err *e)
{
	unsigned n = u->j.nparts;
	size_t cap = 64 + (size_t)n * 96, len = 0;
	char *body = malloc(cap), hex[33], want[48], got[128];
	uint8_t all[16];
	unsigned int ml = 0;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct s3_req rq = {0};
	struct s3_resp rs = {0};
	int rc = -1;

	if (body == NULL || md == NULL || EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1) {
		s3err_set(e, S3E_LOCAL, NULL, "out of memory");
		goto out;
	}
	len += (size_t)snprintf(body + len, cap - len, "<CompleteMultipartUpload>");
	for (unsigned i = 0; i < n; i++) {
		hex_encode(hex, u->md5[i], 16);
		len += (size_t)snprintf(
			body + len, cap - len,
			"<Part><PartNumber>%u</PartNumber><ETag>\"%s\"</ETag></Part>", i + 1, hex);
		if (EVP_DigestUpdate(md, u->md5[i], 16) != 1)
			goto md_fail;
	}
	len += (size_t)snprintf(body + len, cap - len, "</CompleteMultipartUpload>");
	if (EVP_DigestFinal_ex(md, all, &ml) != 1)
		goto md_fail;
	hex_encode(hex, all, 16);
	snprintf(want, sizeof(want), "%s-%u", hex, n);

	rq = (struct s3_req){.method = "POST",
			     .bucket = u->bucket,
			     .key = u->key,
			     .query = u->query_id,
			     .body = body,
			     .body_len = len};
	if (simple_request(u->cl, &rq, &rs, e) != 0)
		goto out;
	/* S3 may answer 200 and still report an error in the body. */
	if (rs.body != NULL && strstr(rs.body, "<Error>") != NULL) {
		char code[64] = "", msg[400] = "";

		if (s3client_xml_get(rs.body, rs.body_len, "Code", code, sizeof(code)) < 0)
			code[0] = '\0';
		if (s3client_xml_get(rs.body, rs.body_len, "Message", msg, sizeof(msg)) < 0)
			msg[0] = '\0';
		s3err_set(e, S3E_SERVER, code[0] ? code : "InternalError", "%s",
			  msg[0] ? msg : "CompleteMultipartUpload failed");
		goto out;
	}
	if (rs.body == NULL || s3client_xml_get(rs.body, rs.body_len, "ETag", got, sizeof(got)) < 0)
		got[0] = '\0';
	if (!etag_eq(got, want)) {
		s3err_set(e, S3E_SERVER, "BadDigest",
			  "the completed upload has ETag %s, expected \"%s\"", got, want);
		goto out;
	}
	rc = 0;
	goto out;
md_fail:
	s3err_set(e, S3E_LOCAL, NULL, "MD5 failed");
out:
	s3client_resp_free(&rs);
	EVP_MD_CTX_free(md);
	free(body);
	return rc;
}

/* upload_headers(u, src_ctype, src): the object's Content-Type and metadata. */
static int
upload_headers(struct upload *u, const char *ctype, const struct s3_resp *src, struct s3err *e)
{
	const struct transfer_opts *o = u->o;

	u->nhdrs = 0;
	if (o->content_type != NULL)
		ctype = o->content_type;
	if (ctype != NULL && ctype[0] != '\0') {
		snprintf(u->ctype, sizeof(u->ctype), "%s", ctype);
		u->hdrs[u->nhdrs++] = (struct s3_hdr){"content-type", u->ctype};
	}
	if (o->nmeta > 0 || src == NULL) {
		if (o->nmeta > TRANSFER_MAX_META_HDRS)
			return s3err_set(e, S3E_USAGE, NULL, "at most %d metadata entries",
					 TRANSFER_MAX_META_HDRS);
		memcpy(u->hdrs + u->nhdrs, o->meta, o->nmeta * sizeof(o->meta[0]));
		u->nhdrs += o->nmeta;
		return 0;
	}
	for (size_t i = 0; i < src->nmeta; i++) {
		const char *n, *v;
		int w;

		s3client_resp_meta(src, i, &n, &v);
		if (i >= TRANSFER_MAX_META_HDRS)
			return s3err_set(e, S3E_USAGE, NULL,
					 "the source has more than %d metadata entries",
					 TRANSFER_MAX_META_HDRS);
		w = snprintf(u->meta_names[i], sizeof(u->meta_names[i]), "x-amz-meta-%s", n);
		if (w < 0 || (size_t)w >= sizeof(u->meta_names[i]) ||
		    strlen(v) >= sizeof(u->meta_values[i]))
			return s3err_set(e, S3E_USAGE, NULL, "source metadata '%s' too long", n);
		for (char *p = u->meta_names[i]; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		memcpy(u->meta_values[i], v, strlen(v) + 1);
		u->hdrs[u->nhdrs++] = (struct s3_hdr){u->meta_names[i], u->meta_values[i]};
	}
	return 0;
}

/* upload_run(u, e): one PUT, or a multipart upload with parallel parts. */
static int
upload_run(struct upload *u, struct s3err *e)
{
	bool single;
	int rc = -1, nthreads;

	if (u->kind == SRC_STREAM) {
		ssize_t r;

		if ((u->first = malloc(u->part_size)) == NULL)
			return s3err_set(e, S3E_LOCAL, NULL,
					 "out of memory for a part of %llu bytes",
					 (unsigned long long)u->part_size);
		if ((r = read_full(u->fd, u->first, u->part_size)) < 0)
			return s3err_sys(e, "reading the input");
		u->first_len = (size_t)r;
		single = u->first_len < u->part_size;
	} else {
		uint64_t parts = u->size / u->part_size + (u->size % u->part_size != 0);

		if (parts > TRANSFER_MAX_PARTS) {
			/* Grow the parts (to whole MiB) rather than fail. */
			uint64_t ps = u->size / TRANSFER_MAX_PARTS + 1;

			u->part_size = (ps + (1u << 20) - 1) & ~(uint64_t)((1u << 20) - 1);
			if (u->part_size > TRANSFER_MAX_PART)
				return s3err_set(e, S3E_USAGE, "EntityTooLarge",
						 "%llu bytes is too large for one object",
						 (unsigned long long)u->size);
			parts = u->size / u->part_size + (u->size % u->part_size != 0);
		}
		u->j.nparts = (unsigned)parts;
		single = u->size <= u->part_size;
	}

	if (single) {
		struct s3conn *c = s3client_conn_new(u->cl);
		uint8_t md5[16];
		uint8_t *buf = u->first;
		size_t len = u->first_len;

		if (c == NULL)
			return s3err_set(e, S3E_LOCAL, NULL, "out of memory");
		if (u->kind != SRC_STREAM) {
			len = (size_t)u->size;
			if ((buf = malloc(len ? len : 1)) == NULL) {
				s3err_set(e, S3E_LOCAL, NULL, "out of memory");
				goto single_out;
			}
			if (u->kind == SRC_FILE && pread_full(u->fd, buf, len, 0) != 0) {
				s3err_sys(e, "reading the file");
				goto single_out;
			}
			if (u->kind == SRC_S3 && fetch_range(c, u, buf, 0, len, e) != 0)
				goto single_out;
		}
		rc = put_body(c, u, 0, buf, len, md5, e);
	single_out:
		if (buf != u->first)
			free(buf);
		s3client_conn_free(c);
		return rc;
	}

	if ((u->md5 = calloc(TRANSFER_MAX_PARTS, sizeof(u->md5[0]))) == NULL)
		return s3err_set(e, S3E_LOCAL, NULL, "out of memory");
	if (multipart_create(u, e) != 0)
		return -1;
	nthreads = u->o->parallel;
	if (u->kind != SRC_STREAM && (unsigned)nthreads > u->j.nparts)
		nthreads = (int)u->j.nparts;
	run_workers(nthreads, upload_worker, u);
	if (!u->j.failed && s3client_cancelled()) {
		u->j.failed = true;
		s3err_set(&u->j.err, S3E_INTR, NULL, "interrupted");
	}
	if (!u->j.failed && multipart_complete(u, &u->j.err) != 0)
		u->j.failed = true;
	if (u->j.failed) {
		multipart_abort(u);
		*e = u->j.err;
		return -1;
	}
	return 0;
}

static void
upload_init(struct upload *u, struct s3client *cl, const char *bucket, const char *key,
	    const struct transfer_opts *o)
{
	memset(u, 0, sizeof(*u));
	pthread_mutex_init(&u->j.mu, NULL);
	u->cl = cl;
	u->o = o;
	u->bucket = bucket;
	u->key = key;
	u->fd = -1;
	u->part_size = o->part_size;
}

static void
upload_fini(struct upload *u)
{
	pthread_mutex_destroy(&u->j.mu);
	free(u->first);
	free(u->md5);
}

int
transfer_upload(struct s3client *cl, const char *path, const char *bucket, const char *key,
		const struct transfer_opts *o, struct s3err *e)
{
	struct upload u;
	struct stat st;
	int rc = -1;

	upload_init(&u, cl, bucket, key, o);
	if (strcmp(path, "-") == 0) {
		u.fd = STDIN_FILENO;
	} else if ((u.fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		s3err_sys(e, path);
		goto out;
	}
	if (fstat(u.fd, &st) != 0) {
		s3err_sys(e, path);
		goto out;
	}
	if (S_ISDIR(st.st_mode)) {
		s3err_set(e, S3E_LOCAL, NULL, "%s: is a directory", path);
		goto out;
	}
	u.kind = S_ISREG(st.st_mode) ? SRC_FILE : SRC_STREAM;
	u.size = u.kind == SRC_FILE ? (uint64_t)st.st_size : 0;
	if (upload_headers(&u, strcmp(path, "-") ? guess_type(path) : NULL, NULL, e) != 0)
		goto out;
	u.prog = progress_new(o->label, u.kind == SRC_FILE ? (int64_t)u.size : -1, o->quiet);
	rc = upload_run(&u, e);
	progress_free(u.prog, rc == 0);
out:
	if (u.fd > STDIN_FILENO)
		close(u.fd);
	upload_fini(&u);
	return rc;
}

int
transfer_copy(struct s3client *cl, const char *sbucket, const char *skey, const char *dbucket,
	      const char *dkey, const struct transfer_opts *o, struct s3err *e)
{
	struct s3_req rq = {.method = "HEAD", .bucket = sbucket, .key = skey};
	struct s3_resp src;
	struct upload u;
	int rc = -1;

	upload_init(&u, cl, dbucket, dkey, o);
	u.kind = SRC_S3;
	u.sbucket = sbucket;
	u.skey = skey;
	if (simple_request(cl, &rq, &src, e) != 0)
		goto out;
	if (src.content_length < 0) {
		s3err_set(e, S3E_SERVER, NULL, "HEAD s3://%s/%s: no Content-Length", sbucket, skey);
		goto out;
	}
	u.size = (uint64_t)src.content_length;
	snprintf(u.setag, sizeof(u.setag), "%s", src.etag);
	if (upload_headers(&u, src.content_type, &src, e) != 0)
		goto out;
	u.prog = progress_new(o->label, (int64_t)u.size, o->quiet);
	rc = upload_run(&u, e);
	progress_free(u.prog, rc == 0);
out:
	s3client_resp_free(&src);
	upload_fini(&u);
	return rc;
}

/* ---- download -------------------------------------------------------------------------------- */

struct download {
	struct job j;
	struct s3client *cl;
	const struct transfer_opts *o;
	const char *bucket, *key;
	int fd;
	uint64_t size, part_size;
	char etag[128];
	const char *dst; /* for messages */
	struct progress *prog;
};

static void *
download_worker(void *arg)
{
	struct download *d = arg;
	struct s3conn *c = s3client_conn_new(d->cl);
	struct s3err e = {0};

	if (c == NULL) {
		s3err_set(&e, S3E_LOCAL, NULL, "out of memory");
		job_fail(&d->j, &e);
		return NULL;
	}
	for (;;) {
		struct range_sink rsk = {d->fd, 0, 0, 0, false};
		struct s3_sink sink = {range_write, range_rewind, &rsk, d->dst};
		char range[96], want[128];
		struct s3_hdr h[1];
		struct s3_req rq;
		struct s3_resp rs;
		unsigned part;
		int rc;

		pthread_mutex_lock(&d->j.mu);
		if (d->j.failed || s3client_cancelled() || d->j.next >= d->j.nparts) {
			pthread_mutex_unlock(&d->j.mu);
			break;
		}
		part = d->j.next++;
		pthread_mutex_unlock(&d->j.mu);

		rsk.off = (uint64_t)part * d->part_size;
		rsk.len = min_u64(d->part_size, d->size - rsk.off);
		snprintf(range, sizeof(range), "bytes=%llu-%llu", (unsigned long long)rsk.off,
			 (unsigned long long)(rsk.off + rsk.len - 1));
		snprintf(want, sizeof(want), "bytes %llu-%llu/%llu", (unsigned long long)rsk.off,
			 (unsigned long long)(rsk.off + rsk.len - 1), (unsigned long long)d->size);
		h[0] = (struct s3_hdr){"range", range};
		rq = (struct s3_req){.method = "GET",
				     .bucket = d->bucket,
				     .key = d->key,
				     .hdrs = h,
				     .nhdrs = 1,
				     .sink = &sink,
				     .progress = d->prog};
		rc = s3client_do(c, &rq, &rs, &e);
		if (rc != 0 && rsk.overflow)
			rc = s3err_set(&e, S3E_SERVER, NULL, "the server sent more than %s", range);
		if (rc == 0 && (rs.status != 206 || strcmp(rs.content_range, want) != 0))
			rc = s3err_set(&e, S3E_SERVER, NULL, "asked for %s, got HTTP %ld '%s'",
				       range, rs.status, rs.content_range);
		if (rc == 0 && !etag_eq(rs.etag, d->etag))
			rc = s3err_set(&e, S3E_SERVER, "ObjectChanged",
				       "the object changed during the download (ETag %s, then %s)",
				       d->etag, rs.etag);
		if (rc == 0 && rsk.written != rsk.len)
			rc = s3err_set(&e, S3E_NET, NULL, "range %s: received %llu bytes of %llu",
				       range, (unsigned long long)rsk.written,
				       (unsigned long long)rsk.len);
		s3client_resp_free(&rs);
		if (rc != 0) {
			job_fail(&d->j, &e);
			break;
		}
	}
	s3client_conn_free(c);
	return NULL;
}

/* file_md5(fd, size, md5): the MD5 of the first size bytes of fd. */
static int
file_md5(int fd, uint64_t size, uint8_t md5[16], struct s3err *e)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t *buf = malloc(1u << 20);
	uint64_t off = 0;
	unsigned int ml = 0;
	int rc = -1;

	if (md == NULL || buf == NULL || EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1) {
		s3err_set(e, S3E_LOCAL, NULL, "out of memory");
		goto out;
	}
	while (off < size) {
		size_t n = (size_t)min_u64(1u << 20, size - off);

		if (pread_full(fd, buf, n, off) != 0) {
			s3err_sys(e, "reading back the download");
			goto out;
		}
		if (EVP_DigestUpdate(md, buf, n) != 1)
			goto md_fail;
		off += n;
	}
	if (EVP_DigestFinal_ex(md, md5, &ml) != 1)
		goto md_fail;
	rc = 0;
	goto out;
md_fail:
	s3err_set(e, S3E_LOCAL, NULL, "MD5 failed");
out:
	free(buf);
	EVP_MD_CTX_free(md);
	return rc;
}

/* verify_md5(d, got, e): compare with a single-part ETag (others carry no MD5 of the data). */
static int
verify_md5(const char *etag, const uint8_t got[16], struct s3err *e)
{
	uint8_t want[16];
	char gh[33];

	if (!s3client_etag_is_md5(etag, want) ||
	    memcmp(want, got, 16) == 0) /* ct-ok: an ETag is public */
		return 0;
	hex_encode(gh, got, 16);
	return s3err_set(e, S3E_SERVER, "BadDigest",
			 "the data received has MD5 %s, the ETag says %s", gh, etag);
}

/*
 * get_sequential(cl, d, fd, seekable, e): one GET streamed to fd, checked
 * against Content-Length and (single-part ETag) the MD5.
 */
static int
get_sequential(struct download *d, bool seekable, struct s3err *e)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	struct seq_sink ss = {d->fd, seekable, md, 0};
	struct s3_sink sink = {seq_write, seekable ? seq_rewind : NULL, &ss, d->dst};
	struct s3_req rq = {.method = "GET",
			    .bucket = d->bucket,
			    .key = d->key,
			    .sink = &sink,
			    .progress = d->prog,
			    .progress_total = true};
	struct s3_resp rs = {0};
	uint8_t got[16];
	unsigned int ml = 0;
	int rc = -1;

	if (md == NULL || EVP_DigestInit_ex(md, EVP_md5(), NULL) != 1) {
		s3err_set(e, S3E_LOCAL, NULL, "out of memory");
		goto out;
	}
	if (simple_request(d->cl, &rq, &rs, e) != 0)
		goto out;
	if (rs.content_length >= 0 && ss.written != (uint64_t)rs.content_length) {
		s3err_set(e, S3E_NET, NULL, "received %llu bytes, Content-Length %lld",
			  (unsigned long long)ss.written, (long long)rs.content_length);
		goto out;
	}
	if (EVP_DigestFinal_ex(md, got, &ml) != 1) {
		s3err_set(e, S3E_LOCAL, NULL, "MD5 failed");
		goto out;
	}
	rc = verify_md5(rs.etag, got, e);
out:
	s3client_resp_free(&rs);
	EVP_MD_CTX_free(md);
	return rc;
}

/* get_parallel(d, e): HEAD, then parallel ranges into the regular file d->fd. */
static int
get_parallel(struct download *d, struct s3err *e)
{
	struct s3_req rq = {.method = "HEAD", .bucket = d->bucket, .key = d->key};
	struct s3_resp rs;
	uint8_t got[16];
	int nthreads = d->o->parallel;
	uint64_t parts;

	if (simple_request(d->cl, &rq, &rs, e) != 0) {
		s3client_resp_free(&rs);
		return -1;
	}
	s3client_resp_free(&rs);
	if (rs.content_length < 0)
		return s3err_set(e, S3E_SERVER, NULL, "HEAD: no Content-Length");
	d->size = (uint64_t)rs.content_length;
	snprintf(d->etag, sizeof(d->etag), "%s", rs.etag);
	if (d->size <= d->part_size || nthreads <= 1)
		return get_sequential(d, true, e);

	progress_set_total(d->prog, (int64_t)d->size);
	parts = d->size / d->part_size + (d->size % d->part_size != 0);
	if (parts > UINT_MAX)
		return s3err_set(e, S3E_USAGE, NULL, "too many parts; raise --part-size");
	d->j.nparts = (unsigned)parts;
	if (ftruncate(d->fd, (off_t)d->size) != 0)
		return s3err_sys(e, "sizing the download");
	if ((unsigned)nthreads > d->j.nparts)
		nthreads = (int)d->j.nparts;
	run_workers(nthreads, download_worker, d);
	if (!d->j.failed && s3client_cancelled())
		return s3err_set(e, S3E_INTR, NULL, "interrupted");
	if (d->j.failed) {
		*e = d->j.err;
		return -1;
	}
	if (!s3client_etag_is_md5(d->etag, got))
		return 0;
	if (file_md5(d->fd, d->size, got, e) != 0)
		return -1;
	return verify_md5(d->etag, got, e);
}

/* dest_path(path, key, out, outsz): the file a download goes to. */
static int
dest_path(const char *path, const char *key, char *out, size_t outsz, struct s3err *e)
{
	struct stat st;
	size_t n = strlen(path);
	int w;

	if ((n > 0 && path[n - 1] == '/') || (stat(path, &st) == 0 && S_ISDIR(st.st_mode))) {
		const char *base = transfer_basename(key);

		if (base[0] == '\0' || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
			return s3err_set(e, S3E_USAGE, NULL,
					 "the key '%s' has no file name to use in %s", key, path);
		w = snprintf(out, outsz, "%s%s%s", path, n > 0 && path[n - 1] == '/' ? "" : "/",
			     base);
	} else {
		w = snprintf(out, outsz, "%s", path);
	}
	if (w < 0 || (size_t)w >= outsz)
		return s3err_set(e, S3E_USAGE, NULL, "path too long");
	return 0;
}

int
transfer_download(struct s3client *cl, const char *bucket, const char *key, const char *path,
		  const struct transfer_opts *o, struct s3err *e)
{
	struct download d;
	char dst[PATH_MAX], tmp[PATH_MAX + 32];
	struct stat st;
	mode_t mask;
	int rc = -1;

	memset(&d, 0, sizeof(d));
	pthread_mutex_init(&d.j.mu, NULL);
	d.cl = cl;
	d.o = o;
	d.bucket = bucket;
	d.key = key;
	d.part_size = o->part_size;
	d.fd = -1;
	tmp[0] = '\0';

	d.dst = dst;
	if (strcmp(path, "-") == 0) {
		d.dst = "stdout";
		d.fd = STDOUT_FILENO;
		d.prog = progress_new(o->label, -1, o->quiet);
		rc = get_sequential(&d, false, e);
		goto out;
	}
	if (dest_path(path, key, dst, sizeof(dst), e) != 0)
		goto out;
	if (stat(dst, &st) == 0 && !S_ISREG(st.st_mode)) {
		/* A device or a pipe: write into it as it is, in order. */
		if ((d.fd = open(dst, O_WRONLY | O_CLOEXEC)) < 0) {
			s3err_sys(e, dst);
			goto out;
		}
		d.prog = progress_new(o->label, -1, o->quiet);
		rc = get_sequential(&d, false, e);
		goto out;
	}
	{
		/* A temporary file beside the destination, renamed over it on success. */
		const char *slash = strrchr(dst, '/');
		int w = slash != NULL ? snprintf(tmp, sizeof(tmp), "%.*s/.%s.cryptstore-XXXXXX",
						 (int)(slash - dst), dst, slash + 1)
				      : snprintf(tmp, sizeof(tmp), ".%s.cryptstore-XXXXXX", dst);

		if (w < 0 || (size_t)w >= sizeof(tmp)) {
			tmp[0] = '\0';
			s3err_set(e, S3E_USAGE, NULL, "path too long");
			goto out;
		}
	}
	if ((d.fd = mkostemp(tmp, O_CLOEXEC)) < 0) {
		s3err_sys(e, dst);
		tmp[0] = '\0';
		goto out;
	}
	mask = umask(0);
	umask(mask);
	d.prog = progress_new(o->label, -1, o->quiet);
	if (get_parallel(&d, e) != 0)
		goto out;
	if (fchmod(d.fd, 0666 & ~mask) != 0 || close(d.fd) != 0) {
		d.fd = -1;
		s3err_sys(e, dst);
		goto out;
	}
	d.fd = -1;
	if (rename(tmp, dst) != 0) {
		s3err_sys(e, dst);
		goto out;
	}
	tmp[0] = '\0';
	rc = 0;
out:
	progress_free(d.prog, rc == 0);
	if (d.fd > STDERR_FILENO)
		close(d.fd);
	if (tmp[0] != '\0')
		unlink(tmp);
	pthread_mutex_destroy(&d.j.mu);
	return rc;
}
