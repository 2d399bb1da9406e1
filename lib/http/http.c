/*
 * http: request framing on top of libhttp_parser, and response formatting.
 *
 * Invariants:
 *  - libhttp_parser is paused in every callback that produces an event, so
 *    one http_parser_execute() produces at most one event (plus the
 *    message-complete that may follow the last identity body piece, which is
 *    queued); a parser in an error state is never resumed.
 *  - While the head is parsed, the parser is never given more than
 *    max_head - nhead bytes, so a head can not grow past max_head.
 *  - Debian builds libhttp_parser with HTTP_PARSER_STRICT=0, which takes CR
 *    plus any byte for CRLF (ending a head or a chunk), spaces in header
 *    names, and controls and raw 8-bit bytes in the target.  This module puts
 *    the strictness back: head bytes are scanned before the parser sees them
 *    (every CR is followed by LF; the request line ends in " HTTP/d.d") and
 *    the parser is only given the bytes before the first defect, so that the
 *    earliest defect is the one reported; names, values and the target are
 *    checked in the callbacks; the framing bytes of a chunked body (all that
 *    is consumed and not body data) are checked after each run, before any
 *    event they produced is returned.
 *  - The arena holds the target and the header names and values, each
 *    followed by a NUL; it never holds more bytes than the head it came from
 *    (every stored string was followed on the wire by at least one byte we
 *    do not store), and every append is bounds-checked anyway.
 */
#include "http.h"
#include "util/err.h"
#include "util/hex.h"

#include <stdlib.h>
#include <string.h>

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpedantic"
#pragma GCC diagnostic ignored "-Wcast-qual"
#include <http_parser.h>
#pragma GCC diagnostic pop

#define HTTP_MAX_HEADERS_CEILING 10000u

/* Guard macros: bail out of a parser callback with an error code. */
#define CB_FAIL(c, e)                                                                              \
	do {                                                                                       \
		(c)->err = (e);                                                                    \
		return -1;                                                                         \
	} while (0)
#define CB_ENSURE(c, cond, e)                                                                      \
	do {                                                                                       \
		if (!(cond))                                                                       \
			CB_FAIL(c, e);                                                             \
	} while (0)

enum phase {
	PH_HEAD = 0,    /* parsing a request head */
	PH_BODY,        /* head delivered, parsing the body */
	PH_DONE_QUEUED, /* message complete, HTTP_EV_DONE not yet returned */
	PH_DONE,        /* HTTP_EV_DONE returned; waiting for http_next() */
	PH_ERROR,       /* failed; err says why */
};

enum scan_state {
	SC_PRE = 0, /* before the request line: empty lines are skipped */
	SC_LINE0,   /* in the request line */
	SC_BOL,     /* at the beginning of a header line */
	SC_LINE,    /* in a header line */
	SC_END,     /* the head has ended */
};

enum hstate {
	HS_NONE = 0, /* no header field begun */
	HS_NAME,     /* collecting a name */
	HS_VALUE,    /* collecting a value */
	HS_ENDED,    /* the value's line has ended */
};

struct http_conn {
	http_parser p;
	struct http_limits lim;
	struct http_request req;
	enum phase phase;
	enum http_err err;

	/* Events produced by the current http_parser_execute(). */
	int ev_head, ev_done;
	const char *ev_body;
	size_t ev_body_len;
	const char *win_end; /* end of the bytes given to the parser */

	/* Head pre-scan (http_scan_head). */
	int sc_state;    /* SC_* */
	int sc_cr;       /* the last byte scanned was CR */
	char sc_ring[9]; /* the last bytes of the request line */
	size_t sc_nring;
	enum http_err sc_err;

	/* Chunked framing post-scan (http_scan_framing). */
	int fr_cr, fr_want_cr, piece_ends_chunk;
	uint64_t chunk_left;

	/* Head accounting. */
	uint32_t nhead;   /* head bytes consumed so far */
	int started;      /* a request has begun (message_begin) */
	int target_ended; /* the target is NUL-terminated in the arena */
	enum hstate hs;   /* state of the header being collected */
	struct http_header cur;
	unsigned nhost, ncl, nte;
	const struct http_header *te, *expect;

	/* Body accounting. */
	uint64_t body_total;
	uint32_t ntrailers, trailer_bytes;
	int trailer_in_name;

	/* Fixed storage: the header array, then the arena. */
	char *arena;
	size_t arena_used, arena_cap;
	size_t nhdrs;
	struct http_header hdrs[];
};

/* ---------------------------------------------------------------- errors */

static const struct {
	int status;
	const char *str;
} http_errs[HTTP_E_COUNT] = {
	[HTTP_E_NONE] = {400, "no error"},
	[HTTP_E_SYNTAX] = {400, "malformed request"},
	[HTTP_E_HOST] = {400, "missing, repeated or mismatched Host"},
	[HTTP_E_LENGTH] = {400, "malformed or repeated Content-Length"},
	[HTTP_E_FRAMING] = {400, "ambiguous message framing"},
	[HTTP_E_CHUNK] = {400, "malformed chunked encoding"},
	[HTTP_E_TRUNCATED] = {400, "request truncated"},
	[HTTP_E_TOO_LARGE] = {413, "request body too large"},
	[HTTP_E_URI_TOO_LONG] = {414, "request-target too long"},
	[HTTP_E_HEAD_TOO_LARGE] = {431, "request header section too large"},
	[HTTP_E_TOO_MANY_HEADERS] = {431, "too many header fields"},
	[HTTP_E_FIELD_TOO_LARGE] = {431, "header field too large"},
	[HTTP_E_METHOD] = {501, "method not implemented"},
	[HTTP_E_TE] = {501, "transfer-coding not implemented"},
	[HTTP_E_VERSION] = {505, "HTTP version not supported"},
};

int
http_err_status(enum http_err e)
{
	if ((unsigned)e >= HTTP_E_COUNT || e == HTTP_E_NONE)
		return 400;
	return http_errs[e].status;
}

const char *
http_err_str(enum http_err e)
{
	if ((unsigned)e >= HTTP_E_COUNT)
		return "unknown error";
	return http_errs[e].str;
}

/* --------------------------------------------------------------- helpers */

static int
http_lower(int ch)
{
	return (ch >= 'A' && ch <= 'Z') ? ch + ('a' - 'A') : ch;
}

/* ASCII case-insensitive equality of a[0..an) and b[0..bn). */
static int
http_ieqn(const char *a, size_t an, const char *b, size_t bn)
{
	if (an != bn)
		return 0;
	for (size_t i = 0; i < an; i++) {
		if (http_lower((unsigned char)a[i]) != http_lower((unsigned char)b[i]))
			return 0;
	}
	return 1;
}

/* The same, against a NUL-terminated string. */
static int
http_ieq(const char *s, size_t n, const char *lit)
{
	return http_ieqn(s, n, lit, strlen(lit));
}

static int
http_is_tchar(unsigned char ch)
{
	if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9'))
		return 1;
	return ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL;
}

/* Field values: visible characters, SP, HTAB and obs-text; no controls. */
static int
http_is_fchar(unsigned char ch)
{
	return (ch >= 0x20 && ch != 0x7f) || ch == '\t';
}

/* Request-target characters: visible ASCII only. */
static int
http_is_vchar(unsigned char ch)
{
	return ch > 0x20 && ch < 0x7f;
}

static int
http_all(const char *s, size_t n, int (*ok)(unsigned char))
{
	for (size_t i = 0; i < n; i++) {
		if (!ok((unsigned char)s[i]))
			return 0;
	}
	return 1;
}

/* ---------------------------------------------------------------- limits */

void
http_limits_init(struct http_limits *l)
{
	l->max_head = HTTP_DEFAULT_MAX_HEAD;
	l->max_target = HTTP_DEFAULT_MAX_TARGET;
	l->max_headers = HTTP_DEFAULT_MAX_HEADERS;
	l->max_name = HTTP_DEFAULT_MAX_NAME;
	l->max_value = HTTP_DEFAULT_MAX_VALUE;
	l->max_body = HTTP_DEFAULT_MAX_BODY;
}

static int
http_limits_ok(const struct http_limits *l)
{
	return l->max_head > 0 && l->max_head <= HTTP_MAX_HEAD_CEILING && l->max_target > 0 &&
	       l->max_target <= l->max_head && l->max_headers > 0 &&
	       l->max_headers <= HTTP_MAX_HEADERS_CEILING && l->max_name > 0 &&
	       l->max_name <= l->max_head && l->max_value > 0 && l->max_value <= l->max_head &&
	       l->max_body > 0;
}

size_t
http_conn_size(const struct http_limits *limits)
{
	struct http_limits def;

	if (limits == NULL) {
		http_limits_init(&def);
		limits = &def;
	}
	return sizeof(struct http_conn) + (size_t)limits->max_headers * sizeof(struct http_header) +
	       limits->max_head;
}

/* ----------------------------------------------------------------- arena */

/* Append s[0..n) to the arena; 0 or -1 when it does not fit. */
static int
http_arena_put(struct http_conn *c, const char *s, size_t n)
{
	if (n > c->arena_cap - c->arena_used)
		return -1;
	memcpy(c->arena + c->arena_used, s, n);
	c->arena_used += n;
	return 0;
}

static int
http_arena_nul(struct http_conn *c)
{
	static const char nul[1];

	return http_arena_put(c, nul, 1);
}

/* ------------------------------------------------------- request headers */

/* Parse a Content-Length value: digits only, no overflow. */
static int
http_parse_length(const char *s, size_t n, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (n == 0)
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (UINT64_MAX - 9) / 10)
			return 1; /* overflows: certainly too large */
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	*out = v;
	return 0;
}

/* Terminate the target in the arena (once, before the first header). */
static int
http_end_target(struct http_conn *c)
{
	if (c->target_ended)
		return 0;
	if (c->req.target == NULL)
		c->req.target = c->arena + c->arena_used;
	if (http_arena_nul(c) != 0)
		CB_FAIL(c, HTTP_E_HEAD_TOO_LARGE);
	c->target_ended = 1;
	return 0;
}

/*
 * Finish the header being collected: terminate and trim it, store it, and
 * act on the few headers that shape framing.
 */
static int
http_end_header(struct http_conn *c)
{
	struct http_header *h;
	uint64_t len;
	int rc;

	if (c->hs == HS_NONE || c->hs == HS_ENDED)
		return 0;
	if (c->hs == HS_NAME) {
		if (http_arena_nul(c) != 0)
			CB_FAIL(c, HTTP_E_HEAD_TOO_LARGE);
		c->cur.value = c->arena + c->arena_used;
		c->cur.value_len = 0;
	}
	while (c->cur.value_len > 0 && (c->cur.value[c->cur.value_len - 1] == ' ' ||
					c->cur.value[c->cur.value_len - 1] == '\t'))
		c->cur.value_len--;
	c->arena_used = (size_t)(c->cur.value - c->arena) + c->cur.value_len;
	if (http_arena_nul(c) != 0)
		CB_FAIL(c, HTTP_E_HEAD_TOO_LARGE);
	c->hs = HS_ENDED;
	h = &c->hdrs[c->nhdrs++];
	*h = c->cur;

	if (http_ieq(h->name, h->name_len, "host")) {
		c->nhost++;
		c->req.host = h->value;
		c->req.host_len = h->value_len;
	} else if (http_ieq(h->name, h->name_len, "content-length")) {
		CB_ENSURE(c, ++c->ncl == 1, HTTP_E_LENGTH);
		CB_ENSURE(c, c->nte == 0, HTTP_E_FRAMING);
		rc = http_parse_length(h->value, h->value_len, &len);
		CB_ENSURE(c, rc >= 0, HTTP_E_LENGTH);
		CB_ENSURE(c, rc == 0 && len <= c->lim.max_body, HTTP_E_TOO_LARGE);
		c->req.content_length = len;
	} else if (http_ieq(h->name, h->name_len, "transfer-encoding")) {
		CB_ENSURE(c, c->ncl == 0, HTTP_E_FRAMING);
		c->nte++;
		c->te = h;
	} else if (http_ieq(h->name, h->name_len, "expect")) {
		c->expect = h;
	}
	return 0;
}

static int
http_on_message_begin(http_parser *p)
{
	struct http_conn *c = p->data;

	c->started = 1;
	return 0;
}

static int
http_on_url(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (c->req.target == NULL)
		c->req.target = c->arena + c->arena_used;
	CB_ENSURE(c, len <= c->lim.max_target - c->req.target_len, HTTP_E_URI_TOO_LONG);
	CB_ENSURE(c, http_all(at, len, http_is_vchar), HTTP_E_SYNTAX);
	if (http_arena_put(c, at, len) != 0)
		CB_FAIL(c, HTTP_E_URI_TOO_LONG);
	c->req.target_len += len;
	return 0;
}

/* Trailer fields of a chunked body: checked and counted, not kept. */
static int
http_trailer(struct http_conn *c, const char *at, size_t len, int is_name)
{
	CB_ENSURE(c, http_all(at, len, is_name ? http_is_tchar : http_is_fchar), HTTP_E_SYNTAX);
	if (is_name && !c->trailer_in_name)
		CB_ENSURE(c, ++c->ntrailers <= c->lim.max_headers, HTTP_E_TOO_MANY_HEADERS);
	c->trailer_in_name = is_name;
	CB_ENSURE(c, len <= c->lim.max_head - c->trailer_bytes, HTTP_E_HEAD_TOO_LARGE);
	c->trailer_bytes += (uint32_t)len;
	return 0;
}

static int
http_on_header_field(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (c->phase != PH_HEAD)
		return http_trailer(c, at, len, 1);
	CB_ENSURE(c, http_all(at, len, http_is_tchar), HTTP_E_SYNTAX);
	if (c->hs != HS_NAME) {
		if (http_end_target(c) != 0 || http_end_header(c) != 0)
			return -1;
		CB_ENSURE(c, c->nhdrs < c->lim.max_headers, HTTP_E_TOO_MANY_HEADERS);
		c->hs = HS_NAME;
		c->cur.name = c->arena + c->arena_used;
		c->cur.name_len = 0;
	}
	CB_ENSURE(c, len <= c->lim.max_name - c->cur.name_len, HTTP_E_FIELD_TOO_LARGE);
	if (http_arena_put(c, at, len) != 0)
		CB_FAIL(c, HTTP_E_HEAD_TOO_LARGE);
	c->cur.name_len += len;
	return 0;
}

static int
http_on_header_value(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (c->phase != PH_HEAD)
		return http_trailer(c, at, len, 0);
	CB_ENSURE(c, http_all(at, len, http_is_fchar), HTTP_E_SYNTAX);
	/* A value after its line ended is an obs-fold continuation (RFC 7230 3.2.4). */
	CB_ENSURE(c, c->hs == HS_NAME || c->hs == HS_VALUE, HTTP_E_SYNTAX);
	if (c->hs == HS_NAME) {
		if (http_arena_nul(c) != 0)
			CB_FAIL(c, HTTP_E_HEAD_TOO_LARGE);
		c->hs = HS_VALUE;
		c->cur.value = c->arena + c->arena_used;
		c->cur.value_len = 0;
	}
	CB_ENSURE(c, len <= c->lim.max_value - c->cur.value_len, HTTP_E_FIELD_TOO_LARGE);
	if (http_arena_put(c, at, len) != 0)
		CB_FAIL(c, HTTP_E_HEAD_TOO_LARGE);
	c->cur.value_len += len;
	/* The parser hands over a value at its CR or LF, or at the end of a buffer. */
	if (at + len < c->win_end && (at[len] == '\r' || at[len] == '\n'))
		return http_end_header(c);
	return 0;
}

static enum http_method_id
http_method_id_of(unsigned m)
{
	switch (m) {
	case HTTP_GET:
		return HTTP_M_GET;
	case HTTP_HEAD:
		return HTTP_M_HEAD;
	case HTTP_PUT:
		return HTTP_M_PUT;
	case HTTP_POST:
		return HTTP_M_POST;
	case HTTP_DELETE:
		return HTTP_M_DELETE;
	case HTTP_OPTIONS:
		return HTTP_M_OPTIONS;
	default:
		return HTTP_M_OTHER;
	}
}

/* The head is complete: check what can only be checked on the whole of it. */
static int
http_on_headers_complete(http_parser *p)
{
	struct http_conn *c = p->data;
	struct http_request *r = &c->req;
	const struct http_url *u = &r->url;

	if (http_end_target(c) != 0 || http_end_header(c) != 0)
		return -1;
	r->version_major = p->http_major;
	r->version_minor = p->http_minor;
	CB_ENSURE(c, r->version_major == 1 && r->version_minor <= 1, HTTP_E_VERSION);
	CB_ENSURE(c, p->method != HTTP_CONNECT, HTTP_E_METHOD);
	r->method = http_method_str((enum http_method)p->method);
	r->method_id = http_method_id_of(p->method);
	CB_ENSURE(c, http_url_parse(r->target, r->target_len, &r->url) == 0, HTTP_E_SYNTAX);

	CB_ENSURE(c, c->nhost <= 1, HTTP_E_HOST);
	CB_ENSURE(c, c->nhost == 1 || r->version_minor == 0, HTTP_E_HOST);
	if (u->authority != NULL) {
		if (r->host == NULL) {
			r->host = u->authority;
			r->host_len = u->authority_len;
		}
		/* Which host a signature covers must not be ambiguous. */
		CB_ENSURE(c, http_ieqn(r->host, r->host_len, u->authority, u->authority_len),
			  HTTP_E_HOST);
	}

	if (c->nte > 0) {
		CB_ENSURE(c, r->version_minor == 1 && c->ncl == 0, HTTP_E_FRAMING);
		CB_ENSURE(c, c->nte == 1 && http_ieq(c->te->value, c->te->value_len, "chunked"),
			  HTTP_E_TE);
		r->body = HTTP_BODY_CHUNKED;
	} else if (c->ncl > 0) {
		r->body = HTTP_BODY_LENGTH;
	} else {
		r->body = HTTP_BODY_NONE;
	}
	r->expect_continue = r->version_minor == 1 && c->expect != NULL &&
			     http_ieq(c->expect->value, c->expect->value_len, "100-continue");
	r->keep_alive = http_should_keep_alive(p) != 0;
	r->headers = c->hdrs;
	r->nheaders = c->nhdrs;

	c->phase = PH_BODY;
	c->ev_head = 1;
	http_parser_pause(p, 1);
	return 0;
}

static int
http_on_body(http_parser *p, const char *at, size_t len)
{
	struct http_conn *c = p->data;

	if (len == 0)
		return 0;
	c->ev_body = at;
	c->ev_body_len = len;
	if (c->req.body == HTTP_BODY_LENGTH) {
		c->body_total += len;
		/*
		 * The parser reports the last identity piece one byte before it
		 * consumes it; do not pause there, let message_complete do it.
		 */
		if (p->content_length == 0)
			return 0;
	} else {
		c->chunk_left -= len < c->chunk_left ? len : c->chunk_left;
		c->piece_ends_chunk = c->chunk_left == 0;
	}
	http_parser_pause(p, 1);
	return 0;
}

static int
http_on_chunk_header(http_parser *p)
{
	struct http_conn *c = p->data;

	CB_ENSURE(c, p->content_length <= c->lim.max_body - c->body_total, HTTP_E_TOO_LARGE);
	c->body_total += p->content_length;
	c->chunk_left = p->content_length;
	return 0;
}

static int
http_on_message_complete(http_parser *p)
{
	struct http_conn *c = p->data;

	c->req.keep_alive = http_should_keep_alive(p) != 0;
	c->ev_done = 1;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings http_settings = {
	.on_message_begin = http_on_message_begin,
	.on_url = http_on_url,
	.on_header_field = http_on_header_field,
	.on_header_value = http_on_header_value,
	.on_headers_complete = http_on_headers_complete,
	.on_body = http_on_body,
	.on_message_complete = http_on_message_complete,
	.on_chunk_header = http_on_chunk_header,
};

/* -------------------------------------------------------------- the loop */

/* Map a libhttp_parser error; data[at] is the byte it stopped at, if any. */
static enum http_err
http_map_errno(const struct http_conn *c, enum http_errno e, const char *data, size_t at,
	       size_t len)
{
	int ch = at < len ? (unsigned char)data[at] : -1;

	switch (e) {
	case HPE_INVALID_VERSION:
		return HTTP_E_VERSION;
	case HPE_INVALID_METHOD:
		/* A well-formed but unknown method token is 501; garbage is 400. */
		return ((ch >= 'A' && ch <= 'Z') || ch == '-') ? HTTP_E_METHOD : HTTP_E_SYNTAX;
	case HPE_HEADER_OVERFLOW:
		return c->phase == PH_HEAD ? HTTP_E_HEAD_TOO_LARGE : HTTP_E_CHUNK;
	case HPE_INVALID_CONTENT_LENGTH:
		if (c->phase == PH_HEAD) {
			/* The parser stops at the digit that would overflow 64 bits. */
			if (ch >= '0' && ch <= '9' && c->p.content_length > (UINT64_MAX - 10) / 10)
				return HTTP_E_TOO_LARGE;
			return HTTP_E_LENGTH;
		}
		/* In a body: a chunk size that overflows, or a bad trailer. */
		return hex_value(ch) >= 0 ? HTTP_E_TOO_LARGE : HTTP_E_CHUNK;
	case HPE_UNEXPECTED_CONTENT_LENGTH:
		return c->nte > 0 ? HTTP_E_FRAMING : HTTP_E_LENGTH;
	case HPE_INVALID_TRANSFER_ENCODING:
		return HTTP_E_TE;
	case HPE_INVALID_CHUNK_SIZE:
		return HTTP_E_CHUNK;
	case HPE_STRICT:
	case HPE_LF_EXPECTED:
		return c->phase == PH_HEAD ? HTTP_E_SYNTAX : HTTP_E_CHUNK;
	default:
		return HTTP_E_SYNTAX;
	}
}

/*
 * Scan head bytes data[0..len) before the parser sees them; return the
 * offset of the first defect (its error in sc_err), or len.  Only line
 * structure is checked here, which the non-strict parser does not: a CR not
 * followed by LF, and a request line not ending in " HTTP/d.d".  Scanning
 * stops at the empty line that ends the head.
 */
static size_t
http_scan_head(struct http_conn *c, const char *data, size_t len)
{
	static const char ver[] = " HTTP/";

	for (size_t i = 0; i < len; i++) {
		char ch = data[i];

		if (c->sc_state == SC_END)
			break;
		if (c->sc_cr) {
			c->sc_cr = 0;
			if (ch != '\n') {
				c->sc_err = HTTP_E_SYNTAX;
				return i;
			}
		}
		if (ch == '\r') {
			c->sc_cr = 1;
			continue;
		}
		if (ch == '\n') {
			const char *r = c->sc_ring;

			switch (c->sc_state) {
			case SC_LINE0:
				if (c->sc_nring < sizeof(c->sc_ring) || memcmp(r, ver, 6) != 0 ||
				    r[6] < '0' || r[6] > '9' || r[7] != '.' || r[8] < '0' ||
				    r[8] > '9') {
					c->sc_err = HTTP_E_VERSION;
					return i;
				}
				c->sc_state = SC_BOL;
				break;
			case SC_BOL:
				c->sc_state = SC_END;
				break;
			case SC_LINE:
				c->sc_state = SC_BOL;
				break;
			case SC_PRE:
			default:
				break;
			}
			continue;
		}
		switch (c->sc_state) {
		case SC_PRE:
			c->sc_state = SC_LINE0;
			/* fall through */
		case SC_LINE0:
			if (c->sc_nring == sizeof(c->sc_ring))
				memmove(c->sc_ring, c->sc_ring + 1, sizeof(c->sc_ring) - 1);
			else
				c->sc_nring++;
			c->sc_ring[c->sc_nring - 1] = ch;
			break;
		case SC_BOL:
			/*
			 * A line that starts with whitespace is obs-fold (or, right
			 * after the request line, an ambiguous header).  The callbacks
			 * catch a fold after a value, but after an empty value
			 * ("Transfer-Encoding:" CRLF " chunked") the parser takes the
			 * folded text for the value itself: refuse every such line here.
			 */
			if (ch == ' ' || ch == '\t') {
				c->sc_err = HTTP_E_SYNTAX;
				return i;
			}
			c->sc_state = SC_LINE;
			break;
		default:
			break;
		}
	}
	return len;
}

/*
 * Check framing bytes of a chunked body: CR and LF only as CRLF, no other
 * controls, and a CRLF right after the data of each chunk.  0 or -1.
 */
static int
http_scan_framing(struct http_conn *c, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (c->fr_want_cr) {
			c->fr_want_cr = 0;
			if (ch != '\r')
				return -1;
		}
		if (c->fr_cr) {
			c->fr_cr = 0;
			if (ch != '\n')
				return -1;
			continue;
		}
		if (ch == '\r')
			c->fr_cr = 1;
		else if (ch == '\n' || !http_is_fchar(ch))
			return -1;
	}
	return 0;
}

/* Run the parser over data[0..len); on failure enter PH_ERROR. */
static size_t
http_run(struct http_conn *c, const char *data, size_t len)
{
	enum http_errno e;
	size_t n;

	http_parser_pause(&c->p, 0);
	c->win_end = data + len;
	n = http_parser_execute(&c->p, &http_settings, data, len);
	e = HTTP_PARSER_ERRNO(&c->p);
	if (e != HPE_OK && e != HPE_PAUSED) {
		if (c->err == HTTP_E_NONE)
			c->err = http_map_errno(c, e, data, n, len);
		c->phase = PH_ERROR;
	}
	return n;
}

static int
http_fail(struct http_conn *c, enum http_err e, struct http_event *ev)
{
	if (c->err == HTTP_E_NONE)
		c->err = e;
	c->phase = PH_ERROR;
	ev->type = HTTP_EV_ERROR;
	ev->err = c->err;
	return 0;
}

int
http_feed(struct http_conn *c, const void *buf, size_t len, size_t *consumed, struct http_event *ev)
{
	const char *data = buf;
	enum phase before;
	size_t win, cut, n;

	if (c == NULL || consumed == NULL || ev == NULL || (buf == NULL && len > 0))
		return CS_EINVAL;
	*consumed = 0;
	memset(ev, 0, sizeof(*ev));
	switch (c->phase) {
	case PH_ERROR:
		return http_fail(c, c->err, ev);
	case PH_DONE_QUEUED:
		c->phase = PH_DONE;
		ev->type = HTTP_EV_DONE;
		return 0;
	case PH_DONE:
		return CS_EINVAL;
	case PH_HEAD:
	case PH_BODY:
		break;
	default:
		return CS_EINVAL;
	}
	if (len == 0) {
		ev->type = HTTP_EV_MORE;
		return 0;
	}

	before = c->phase;
	win = len;
	cut = len;
	if (before == PH_HEAD) {
		if (win > c->lim.max_head - c->nhead)
			win = c->lim.max_head - c->nhead;
		cut = http_scan_head(c, data, win);
		if (cut == 0)
			return http_fail(c, c->sc_err, ev);
	}
	c->ev_head = c->ev_done = 0;
	c->ev_body = NULL;
	c->piece_ends_chunk = 0;
	n = http_run(c, data, cut);
	*consumed = n;
	if (c->phase == PH_ERROR)
		return http_fail(c, c->err, ev);

	if (c->ev_head) {
		/*
		 * Paused in on_headers_complete, before the head's final LF.
		 * Feed that LF too, so that the head is consumed whole and the
		 * parser has chosen how to read the body (or completed a
		 * message without one).
		 */
		c->nhead += (uint32_t)n + 1;
		n += http_run(c, data + n, 1);
		*consumed = n;
		if (c->phase == PH_ERROR)
			return http_fail(c, c->err, ev);
		if (c->ev_done)
			c->phase = PH_DONE_QUEUED;
		ev->type = HTTP_EV_HEAD;
		return 0;
	}
	if (before == PH_HEAD) {
		if (n != cut)
			return http_fail(c, HTTP_E_SYNTAX, ev);
		if (cut < win)
			return http_fail(c, c->sc_err, ev);
		c->nhead += (uint32_t)n;
		if (c->nhead >= c->lim.max_head)
			return http_fail(c,
					 c->nhdrs == 0 && c->hs == HS_NONE ? HTTP_E_URI_TOO_LONG
									   : HTTP_E_HEAD_TOO_LARGE,
					 ev);
		ev->type = HTTP_EV_MORE;
		return 0;
	}
	if (c->req.body == HTTP_BODY_CHUNKED) {
		/* Check the framing around the body piece before handing it out. */
		const char *b = c->ev_body != NULL ? c->ev_body : data + n;
		size_t blen = c->ev_body != NULL ? c->ev_body_len : 0;

		if (http_scan_framing(c, data, (size_t)(b - data)) != 0)
			return http_fail(c, HTTP_E_CHUNK, ev);
		c->fr_want_cr = c->piece_ends_chunk;
		if (http_scan_framing(c, b + blen, (size_t)(data + n - (b + blen))) != 0)
			return http_fail(c, HTTP_E_CHUNK, ev);
	}
	if (c->ev_body != NULL) {
		ev->type = HTTP_EV_BODY;
		ev->data = (const uint8_t *)c->ev_body;
		ev->len = c->ev_body_len;
		if (c->ev_done)
			c->phase = PH_DONE_QUEUED;
		return 0;
	}
	if (c->ev_done) {
		c->phase = PH_DONE;
		ev->type = HTTP_EV_DONE;
		return 0;
	}
	if (n != len)
		return http_fail(c, HTTP_E_SYNTAX, ev);
	ev->type = HTTP_EV_MORE;
	return 0;
}

/* ------------------------------------------------------------ connection */

static void
http_reset(struct http_conn *c)
{
	memset(&c->req, 0, sizeof(c->req));
	c->phase = PH_HEAD;
	c->err = HTTP_E_NONE;
	c->ev_head = c->ev_done = 0;
	c->ev_body = NULL;
	c->ev_body_len = 0;
	c->win_end = NULL;
	c->sc_state = SC_PRE;
	c->sc_cr = 0;
	c->sc_nring = 0;
	c->sc_err = HTTP_E_NONE;
	c->fr_cr = c->fr_want_cr = c->piece_ends_chunk = 0;
	c->chunk_left = 0;
	c->nhead = 0;
	c->started = 0;
	c->target_ended = 0;
	c->hs = HS_NONE;
	memset(&c->cur, 0, sizeof(c->cur));
	c->nhost = c->ncl = c->nte = 0;
	c->te = c->expect = NULL;
	c->body_total = 0;
	c->ntrailers = c->trailer_bytes = 0;
	c->trailer_in_name = 0;
	c->arena_used = 0;
	c->nhdrs = 0;
}

int
http_conn_new(struct http_conn **cp, const struct http_limits *limits)
{
	struct http_limits lim;
	struct http_conn *c;

	if (cp == NULL)
		return CS_EINVAL;
	*cp = NULL;
	if (limits == NULL)
		http_limits_init(&lim);
	else
		lim = *limits;
	if (!http_limits_ok(&lim))
		return CS_ERANGE;
	if ((c = calloc(1, http_conn_size(&lim))) == NULL)
		return CS_ENOMEM;
	c->lim = lim;
	c->arena = (char *)&c->hdrs[lim.max_headers];
	c->arena_cap = lim.max_head;
	http_parser_init(&c->p, HTTP_REQUEST);
	c->p.data = c;
	http_reset(c);
	*cp = c;
	return 0;
}

void
http_conn_free(struct http_conn *c)
{
	free(c);
}

const struct http_request *
http_conn_request(const struct http_conn *c)
{
	if (c == NULL)
		return NULL;
	switch (c->phase) {
	case PH_BODY:
	case PH_DONE_QUEUED:
	case PH_DONE:
		return &c->req;
	case PH_HEAD:
	case PH_ERROR:
	default:
		return NULL;
	}
}

int
http_next(struct http_conn *c)
{
	if (c == NULL || c->phase != PH_DONE)
		return CS_EINVAL;
	if (!c->req.keep_alive)
		return CS_EPERM;
	http_reset(c);
	return 0;
}

enum http_err
http_conn_eof(const struct http_conn *c)
{
	if (c == NULL)
		return HTTP_E_SYNTAX;
	switch (c->phase) {
	case PH_HEAD:
		return c->started ? HTTP_E_TRUNCATED : HTTP_E_NONE;
	case PH_BODY:
		return HTTP_E_TRUNCATED;
	case PH_DONE_QUEUED:
	case PH_DONE:
		return HTTP_E_NONE;
	case PH_ERROR:
	default:
		return c->err;
	}
}

/* --------------------------------------------------------------- headers */

const struct http_header *
http_header_next(const struct http_request *r, const char *name, const struct http_header *prev)
{
	size_t i;

	if (r == NULL || name == NULL)
		return NULL;
	i = prev == NULL ? 0 : (size_t)(prev - r->headers) + 1;
	for (; i < r->nheaders; i++) {
		if (http_ieq(r->headers[i].name, r->headers[i].name_len, name))
			return &r->headers[i];
	}
	return NULL;
}

const struct http_header *
http_header_find(const struct http_request *r, const char *name)
{
	return http_header_next(r, name, NULL);
}

/* ------------------------------------------------------------------- url */

int
http_url_parse(const char *target, size_t len, struct http_url *u)
{
	struct http_parser_url pu;
	size_t end;

	if (target == NULL || u == NULL || len == 0)
		return CS_EINVAL;
	if (len > UINT16_MAX)
		return CS_ERANGE;
	memset(u, 0, sizeof(*u));
	/* The library's URL grammar is lax (tabs, 8-bit bytes): be strict first. */
	if (!http_all(target, len, http_is_vchar))
		return CS_EINVAL;
	http_parser_url_init(&pu);
	if (http_parser_parse_url(target, len, 0, &pu) != 0)
		return CS_EINVAL;
	if (pu.field_set & ((1 << UF_FRAGMENT) | (1 << UF_USERINFO)))
		return CS_EINVAL;
	if (pu.field_set & (1 << UF_SCHEMA)) {
		const char *scheme = target + pu.field_data[UF_SCHEMA].off;
		size_t slen = pu.field_data[UF_SCHEMA].len;

		if (!http_ieq(scheme, slen, "http") && !http_ieq(scheme, slen, "https"))
			return CS_EINVAL;
		if (!(pu.field_set & (1 << UF_HOST)))
			return CS_EINVAL;
		u->authority = scheme + slen + 3; /* "://" */
		end = len;
		if (pu.field_set & (1 << UF_PATH))
			end = pu.field_data[UF_PATH].off;
		else if (pu.field_set & (1 << UF_QUERY))
			end = pu.field_data[UF_QUERY].off - 1u;
		u->authority_len = (size_t)(target + end - u->authority);
	} else if (target[0] != '/') {
		return CS_EINVAL;
	}
	if (pu.field_set & (1 << UF_PATH)) {
		u->path = target + pu.field_data[UF_PATH].off;
		u->path_len = pu.field_data[UF_PATH].len;
	} else {
		u->path = "/";
		u->path_len = 1;
	}
	if (u->path[0] != '/')
		return CS_EINVAL;
	if (pu.field_set & (1 << UF_QUERY)) {
		u->query = target + pu.field_data[UF_QUERY].off;
		u->query_len = pu.field_data[UF_QUERY].len;
	} else if (memchr(target, '?', len) != NULL) {
		/* "?" with nothing after it: an empty query. */
		u->query = (const char *)memchr(target, '?', len) + 1;
		u->query_len = 0;
	}
	return 0;
}

int
http_pct_decode(char *out, size_t outsz, const char *in, size_t inlen, int flags, size_t *outlen)
{
	size_t i, o = 0;

	if (out == NULL || outlen == NULL || (in == NULL && inlen > 0))
		return CS_EINVAL;
	for (i = 0; i < inlen; i++) {
		int ch = (unsigned char)in[i];

		if (ch == '%') {
			int hi, lo;

			if (inlen - i < 3)
				return CS_EINVAL;
			hi = hex_value((unsigned char)in[i + 1]);
			lo = hex_value((unsigned char)in[i + 2]);
			if (hi < 0 || lo < 0)
				return CS_EINVAL;
			ch = hi << 4 | lo;
			if (ch == 0 && (flags & HTTP_PCT_NO_NUL))
				return CS_EINVAL;
			i += 2;
		} else if (ch == '+' && (flags & HTTP_PCT_PLUS)) {
			ch = ' ';
		}
		if (o >= outsz)
			return CS_ERANGE;
		out[o++] = (char)ch;
	}
	if (o >= outsz)
		return CS_ERANGE;
	out[o] = '\0';
	*outlen = o;
	return 0;
}

/* -------------------------------------------------------------- response */

/* A bounded writer: output is cut off, and the overflow remembered. */
struct http_wr {
	char *buf;
	size_t cap, len;
	int over;
};

static void
http_put(struct http_wr *w, const char *s, size_t n)
{
	if (w->over || n > w->cap - w->len) {
		w->over = 1;
		return;
	}
	memcpy(w->buf + w->len, s, n);
	w->len += n;
}

static void
http_puts(struct http_wr *w, const char *s)
{
	http_put(w, s, strlen(s));
}

static void
http_put_uint(struct http_wr *w, uint64_t v, unsigned base)
{
	static const char digits[] = "0123456789abcdef";
	char tmp[24];
	size_t i = sizeof(tmp);

	do {
		tmp[--i] = digits[v % base];
		v /= base;
	} while (v > 0);
	http_put(w, tmp + i, sizeof(tmp) - i);
}

/* NUL-terminate and report; 0 or CS_ERANGE. */
static int
http_wr_end(struct http_wr *w, size_t *len)
{
	http_put(w, "", 1);
	if (w->over)
		return CS_ERANGE;
	*len = w->len - 1;
	return 0;
}

int
http_date(char *buf, size_t bufsz, time_t t)
{
	static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
	static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
	struct tm tm;
	long year;
	char *p;

	if (buf == NULL)
		return CS_EINVAL;
	if (bufsz < HTTP_DATE_LEN + 1 || gmtime_r(&t, &tm) == NULL)
		return CS_ERANGE;
	year = (long)tm.tm_year + 1900;
	if (year < 0 || year > 9999 || tm.tm_wday < 0 || tm.tm_wday > 6 || tm.tm_mon < 0 ||
	    tm.tm_mon > 11)
		return CS_ERANGE;
	/* "Sun, 06 Nov 1994 08:49:37 GMT", built by hand: no locale. */
	p = buf;
	memcpy(p, days[tm.tm_wday], 3);
	p += 3;
	*p++ = ',';
	*p++ = ' ';
	*p++ = (char)('0' + tm.tm_mday / 10);
	*p++ = (char)('0' + tm.tm_mday % 10);
	*p++ = ' ';
	memcpy(p, months[tm.tm_mon], 3);
	p += 3;
	*p++ = ' ';
	*p++ = (char)('0' + year / 1000);
	*p++ = (char)('0' + year / 100 % 10);
	*p++ = (char)('0' + year / 10 % 10);
	*p++ = (char)('0' + year % 10);
	*p++ = ' ';
	*p++ = (char)('0' + tm.tm_hour / 10);
	*p++ = (char)('0' + tm.tm_hour % 10);
	*p++ = ':';
	*p++ = (char)('0' + tm.tm_min / 10);
	*p++ = (char)('0' + tm.tm_min % 10);
	*p++ = ':';
	/* A leap second (tm_sec 60) is printed as such: the grammar allows 60. */
	*p++ = (char)('0' + tm.tm_sec / 10);
	*p++ = (char)('0' + tm.tm_sec % 10);
	memcpy(p, " GMT", 5);
	return 0;
}

const char *
http_reason(int status)
{
	const char *s;

	if (status < 100 || status > 999)
		return "";
	s = http_status_str((enum http_status)status);
	return (s == NULL || s[0] == '<') ? "" : s; /* "<unknown>" */
}

/* Names the caller may not set: this module owns them. */
static int
http_reserved(const char *name, size_t n)
{
	static const char *const owned[] = {"date", "server", "content-length", "transfer-encoding",
					    "connection"};

	for (size_t i = 0; i < sizeof(owned) / sizeof(owned[0]); i++) {
		if (http_ieq(name, n, owned[i]))
			return 1;
	}
	return 0;
}

static int
http_header_ok(const struct http_header *h)
{
	if (h->name == NULL || h->name_len == 0 || (h->value == NULL && h->value_len > 0))
		return 0;
	for (size_t i = 0; i < h->name_len; i++) {
		if (!http_is_tchar((unsigned char)h->name[i]))
			return 0;
	}
	for (size_t i = 0; i < h->value_len; i++) {
		unsigned char ch = (unsigned char)h->value[i];

		/* CR and LF would split the response; no other control either. */
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
			return 0;
	}
	return !http_reserved(h->name, h->name_len);
}

int
http_response_head(char *buf, size_t bufsz, const struct http_response *r, size_t *len)
{
	struct http_wr w = {buf, bufsz, 0, 0};
	char date[HTTP_DATE_LEN + 1];
	int rc;

	if (buf == NULL || r == NULL || len == NULL || (r->headers == NULL && r->nheaders > 0))
		return CS_EINVAL;
	if (r->status < 200 || r->status > 599)
		return CS_EINVAL;
	switch (r->body) {
	case HTTP_BODY_NONE:
		/* Without a length, only a bodiless status or closing delimits. */
		if (r->keep_alive && r->status != 204 && r->status != 304)
			return CS_EINVAL;
		break;
	case HTTP_BODY_LENGTH:
		if (r->status == 204)
			return CS_EINVAL;
		break;
	case HTTP_BODY_CHUNKED:
		if (r->status == 204 || r->status == 304 || r->http10)
			return CS_EINVAL;
		break;
	default:
		return CS_EINVAL;
	}
	for (size_t i = 0; i < r->nheaders; i++) {
		if (!http_header_ok(&r->headers[i]))
			return CS_EINVAL;
	}
	if ((rc = http_date(date, sizeof(date), r->date)) != 0)
		return rc == CS_ERANGE ? CS_EINVAL : rc;

	http_puts(&w, "HTTP/1.1 ");
	http_put_uint(&w, (uint64_t)r->status, 10);
	http_puts(&w, " ");
	http_puts(&w, http_reason(r->status));
	http_puts(&w, "\r\nDate: ");
	http_puts(&w, date);
	http_puts(&w, "\r\nServer: cryptstore\r\n");
	for (size_t i = 0; i < r->nheaders; i++) {
		http_put(&w, r->headers[i].name, r->headers[i].name_len);
		http_puts(&w, ": ");
		http_put(&w, r->headers[i].value, r->headers[i].value_len);
		http_puts(&w, "\r\n");
	}
	if (r->body == HTTP_BODY_LENGTH) {
		http_puts(&w, "Content-Length: ");
		http_put_uint(&w, r->content_length, 10);
		http_puts(&w, "\r\n");
	} else if (r->body == HTTP_BODY_CHUNKED) {
		http_puts(&w, "Transfer-Encoding: chunked\r\n");
	}
	http_puts(&w,
		  r->keep_alive ? "Connection: keep-alive\r\n\r\n" : "Connection: close\r\n\r\n");
	return http_wr_end(&w, len);
}

int
http_chunk_head(char *buf, size_t bufsz, uint64_t n, size_t *len)
{
	struct http_wr w = {buf, bufsz, 0, 0};

	if (buf == NULL || len == NULL)
		return CS_EINVAL;
	if (n == 0) {
		http_puts(&w, HTTP_CHUNK_LAST);
	} else {
		http_put_uint(&w, n, 16);
		http_puts(&w, "\r\n");
	}
	return http_wr_end(&w, len);
}
