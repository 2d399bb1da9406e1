#!/usr/bin/env python3
"""Generate the SigV4 and aws-chunked test vectors for tests/unit/test_sigv4.c
and tests/unit/test_awschunked.c.

    python3 tests/vectors/sigv4/gen.py      # rewrites the *.txt files next to it

Where the expected values come from:

  requests-aws-docs.txt  the worked examples of the AWS S3 documentation
                         ("Signature Calculations for the Authorization Header",
                         "Authenticating Requests: Using Query Parameters",
                         "Transferring Payload in Multiple Chunks"), with the
                         signatures AWS publishes.  This script recomputes each
                         with its own small reference signer (ref_*) and stops
                         if any differs.
  requests-botocore.txt  requests signed by botocore (S3SigV4Auth,
                         S3SigV4QueryAuth) at a fixed time, with botocore's
                         canonical request, plus variants of the raw target
                         that must verify the same way and negative variants
                         that must fail.  Every botocore signature is also
                         recomputed by the reference signer from the raw
                         request as the server sees it.
  chunked.txt            aws-chunked bodies: the AWS documentation example,
                         bodies signed by the reference chunk signer (checked
                         against that example first), botocore's own
                         STREAMING-UNSIGNED-PAYLOAD-TRAILER encoding, and
                         malformed bodies.

Output is deterministic: rerunning the script must not change the files.
Needs botocore; no network.  The checked-in files were made with Debian's
python3-botocore 1.29.27 (/usr/bin/python3 gen.py).  botocore 1.43.11 gives the
same files except that it no longer signs Transfer-Encoding in
put-streaming-unsigned-trailer.
"""

import datetime
import hashlib
import hmac
import io
import os
import sys
import types
import warnings
import zlib
import base64
import email.utils
from urllib.parse import urlsplit, quote

import botocore.auth
from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.utils import percent_encode_sequence

warnings.simplefilter("ignore", DeprecationWarning)

HERE = os.path.dirname(os.path.abspath(__file__))
EMPTY_SHA = hashlib.sha256(b"").hexdigest()

AKID = "AKIDCRYPTSTORE0001"
SECRET = "cs/Secret+Key=0001abcdefghijklmnopqrstuv"
AKID2 = "AKIDCRYPTSTORE0002"
SECRET2 = "another-secret-key-for-the-second-user"
HOST = "s3.cryptstore.test:9000"

# ---------------------------------------------------------------- fixed clock


class _FixedDateTime(datetime.datetime):
    fixed = None

    @classmethod
    def utcnow(cls):
        return cls.fixed


# botocore up to ~1.31 calls datetime.datetime.utcnow(), later ones get_current_datetime().
botocore.auth.datetime = types.SimpleNamespace(datetime=_FixedDateTime)
if hasattr(botocore.auth, "get_current_datetime"):
    botocore.auth.get_current_datetime = lambda *args, **kwargs: _FixedDateTime.fixed


def epoch(dt):
    return int(dt.replace(tzinfo=datetime.timezone.utc).timestamp())


# ---------------------------------------------------- the reference signer
#
# Written from the AWS documentation, independently of botocore's code: it
# works on the raw request the way the server must (path as sent, query
# decoded and re-encoded, headers trimmed).


def ref_uri_encode(b):
    out = []
    for c in b:
        ch = chr(c)
        if ch.isascii() and (ch.isalnum() or ch in "-_.~"):
            out.append(ch)
        else:
            out.append("%%%02X" % c)
    return "".join(out)


def ref_pct_decode(s):
    b = s.encode("utf-8")
    out = bytearray()
    i = 0
    while i < len(b):
        if b[i : i + 1] == b"%":
            out.append(int(b[i + 1 : i + 3], 16))
            i += 3
        else:
            out.append(b[i])
            i += 1
    return bytes(out)


def ref_canonical_query(raw):
    pairs = []
    for seg in raw.split("&"):
        if seg == "":
            continue
        k, _, v = seg.partition("=")
        k = ref_uri_encode(ref_pct_decode(k))
        v = ref_uri_encode(ref_pct_decode(v))
        if k == "X-Amz-Signature":
            continue
        pairs.append((k, v))
    return "&".join("%s=%s" % kv for kv in sorted(pairs))


def ref_trimall(v):
    return " ".join(v.split())


def ref_canonical_request(method, target, headers, signed, payload):
    path, _, query = target.partition("?")
    lines = [method, path, ref_canonical_query(query)]
    for name in signed.split(";"):
        vals = [ref_trimall(v) for (n, v) in headers if n.lower() == name]
        assert vals, "signed header %s absent" % name
        lines.append("%s:%s" % (name, ",".join(vals)))
    return "\n".join(lines) + "\n\n" + signed + "\n" + payload


def ref_hmac(key, msg):
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


def ref_signing_key(secret, date, region, service="s3"):
    k = ref_hmac(("AWS4" + secret).encode("utf-8"), date)
    k = ref_hmac(k, region)
    k = ref_hmac(k, service)
    return ref_hmac(k, "aws4_request")


def ref_signature(secret, amz_date, scope, creq):
    sts = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            amz_date,
            scope,
            hashlib.sha256(creq.encode("utf-8")).hexdigest(),
        ]
    )
    region = scope.split("/")[1]
    key = ref_signing_key(secret, amz_date[:8], region)
    return hmac.new(key, sts.encode("utf-8"), hashlib.sha256).hexdigest()


def ref_chunk_signature(key, amz_date, scope, prev_hex, data):
    sts = "\n".join(
        [
            "AWS4-HMAC-SHA256-PAYLOAD",
            amz_date,
            scope,
            prev_hex,
            EMPTY_SHA,
            hashlib.sha256(data).hexdigest(),
        ]
    )
    return hmac.new(key, sts.encode("utf-8"), hashlib.sha256).hexdigest()


def ref_chunked_body(key, amz_date, scope, seed, chunks):
    out = bytearray()
    prev = seed
    sigs = []
    for data in list(chunks) + [b""]:
        sig = ref_chunk_signature(key, amz_date, scope, prev, data)
        sigs.append(sig)
        out += b"%x;chunk-signature=%s\r\n" % (len(data), sig.encode())
        out += data + b"\r\n"
        prev = sig
    return bytes(out), sigs


def parse_authz(value):
    assert value.startswith("AWS4-HMAC-SHA256 ")
    parts = {}
    for comp in value[len("AWS4-HMAC-SHA256 ") :].split(","):
        k, _, v = comp.strip().partition("=")
        parts[k] = v
    return parts


# ---------------------------------------------------------------- vectors


class Vector:
    def __init__(self, name, comment=None):
        self.name = name
        self.comment = comment
        self.creds = [(AKID, SECRET), (AKID2, SECRET2)]
        self.region = "*"
        self.skew = None
        self.now = None
        self.method = None
        self.target = None
        self.headers = []
        self.expect = "OK"
        self.detail = None
        self.payload = None
        self.akid = None
        self.canon = None

    def copy(self, name, comment=None):
        v = Vector(name, comment)
        for k, val in self.__dict__.items():
            if k not in ("name", "comment"):
                setattr(v, k, list(val) if isinstance(val, list) else val)
        return v

    def set_header(self, name, value):
        self.headers = [
            (n, value if n.lower() == name.lower() else v) for (n, v) in self.headers
        ]

    def drop_header(self, name):
        self.headers = [(n, v) for (n, v) in self.headers if n.lower() != name.lower()]

    def header(self, name):
        for n, v in self.headers:
            if n.lower() == name.lower():
                return v
        return None

    def failing(self, name, expect, comment, detail=None):
        v = self.copy(name, comment)
        v.expect = expect
        v.detail = detail
        v.payload = None
        v.canon = None
        # The key id is reported (for the server's log) once the credential parsed.
        if expect not in ("SignatureDoesNotMatch", "InvalidAccessKeyId", "RequestTimeTooSkewed"):
            v.akid = None
        return v

    def render(self):
        out = []
        if self.comment:
            out += ["# " + line for line in self.comment.split("\n")]
        out.append("vector " + self.name)
        for akid, secret in self.creds:
            out.append("cred %s %s" % (akid, secret))
        out.append("region " + self.region)
        if self.skew is not None:
            out.append("skew %d" % self.skew)
        out.append("now %d" % self.now)
        out.append("method " + self.method)
        out.append("target " + self.target)
        for n, v in self.headers:
            out.append("header %s:%s" % (n, header_escape(v)))
        out.append("expect " + self.expect)
        if self.detail:
            out.append("detail " + self.detail)
        if self.payload:
            out.append("payload " + self.payload)
        if self.akid:
            out.append("akid " + self.akid)
        if self.canon is not None:
            for line in self.canon.split("\n"):
                assert not line[-1:].isspace() and "\\" not in line
                out.append(("canon " + line).rstrip())
        out.append("end")
        return "\n".join(out) + "\n"


def header_escape(v):
    """Backslash, tab and trailing blanks escaped, so no line ends in whitespace."""
    assert "\n" not in v and "\r" not in v
    body = v.rstrip(" ")
    tail = "\\x20" * (len(v) - len(body))
    return body.replace("\\", "\\\\").replace("\t", "\\t") + tail


def ref_check(v, secret):
    """The reference signer must reproduce the signature in v from its raw form."""
    if v.header("Authorization") is not None:
        a = parse_authz(v.header("Authorization"))
        akid, date, region, service, term = a["Credential"].split("/")
        amz_date = v.header("X-Amz-Date")
        if amz_date is None:
            amz_date = email.utils.parsedate_to_datetime(v.header("Date")).strftime(
                "%Y%m%dT%H%M%SZ"
            )
        creq = ref_canonical_request(
            v.method, v.target, v.headers, a["SignedHeaders"], v.header("X-Amz-Content-SHA256")
        )
        scope = "/".join([date, region, service, term])
        got, want = ref_signature(secret, amz_date, scope, creq), a["Signature"]
    else:
        q = dict(
            (ref_pct_decode(k).decode(), ref_pct_decode(val).decode())
            for k, _, val in (s.partition("=") for s in v.target.partition("?")[2].split("&"))
        )
        scope = q["X-Amz-Credential"].split("/", 1)[1]
        creq = ref_canonical_request(
            v.method, v.target, v.headers, q["X-Amz-SignedHeaders"], "UNSIGNED-PAYLOAD"
        )
        got, want = ref_signature(secret, q["X-Amz-Date"], scope, creq), q["X-Amz-Signature"]
    assert got == want, "%s: reference %s, expected %s" % (v.name, got, want)
    if v.canon is not None:
        assert creq == v.canon, "%s: canonical request differs:\n%s\n---\n%s" % (
            v.name,
            creq,
            v.canon,
        )


# ---------------------------------------------------------------- botocore


class _CapHeaderAuth(S3SigV4Auth):
    def __init__(self, *a, payload=None, **kw):
        super().__init__(*a, **kw)
        self.captured = None
        self._payload_override = payload

    def payload(self, request):
        if self._payload_override is not None:
            return self._payload_override
        return super().payload(request)

    def canonical_request(self, request):
        self.captured = super().canonical_request(request)
        return self.captured


class _CapQueryAuth(S3SigV4QueryAuth):
    captured = None

    def canonical_request(self, request):
        self.captured = super().canonical_request(request)
        return self.captured


def _request(method, path, query, headers, body):
    url = "http://" + HOST + path
    if query is not None:
        url += "?" + query
    req = AWSRequest(method=method, url=url, data=body)
    req.headers["Host"] = HOST
    for n, v in headers:
        req.headers[n] = v  # HTTPHeaders: assignment appends, so names may repeat
    return req


def _target(req):
    parts = urlsplit(req.url)
    return parts.path + ("?" + parts.query if parts.query else "")


def boto_header(
    name,
    method,
    path,
    query=None,
    headers=(),
    body=b"",
    when=datetime.datetime(2024, 5, 6, 7, 8, 9),
    region="us-east-1",
    unsigned=False,
    payload=None,
    context=None,
    akid=AKID,
    secret=SECRET,
    comment=None,
):
    """A request signed with botocore's S3SigV4Auth (the Authorization header)."""
    _FixedDateTime.fixed = when
    req = _request(method, path, query, headers, body)
    if unsigned:
        req.context["client_config"] = types.SimpleNamespace(
            s3={"payload_signing_enabled": False}
        )
    if context:
        req.context.update(context)
    auth = _CapHeaderAuth(Credentials(akid, secret), "s3", region, payload=payload)
    auth.add_auth(req)
    v = Vector(name, comment)
    v.now = epoch(when)
    v.method = method
    v.target = _target(req)
    v.headers = list(req.headers.items())
    v.payload = req.headers["X-Amz-Content-SHA256"]
    v.akid = akid
    v.canon = auth.captured
    ref_check(v, secret)
    return v


def boto_presign(
    name,
    method,
    path,
    query=None,
    headers=(),
    expires=3600,
    when=datetime.datetime(2024, 5, 6, 7, 8, 9),
    region="us-east-1",
    token=None,
    akid=AKID,
    secret=SECRET,
    comment=None,
):
    """A presigned URL made with botocore's S3SigV4QueryAuth."""
    _FixedDateTime.fixed = when
    req = _request(method, path, query, headers, b"")
    auth = _CapQueryAuth(Credentials(akid, secret, token), "s3", region, expires=expires)
    auth.add_auth(req)
    v = Vector(name, comment)
    v.now = epoch(when)
    v.method = method
    v.target = _target(req)
    v.headers = list(req.headers.items())
    v.payload = "UNSIGNED-PAYLOAD"
    v.akid = akid
    v.canon = auth.captured
    if token is None:
        ref_check(v, secret)
    return v


def retarget(v, name, target, comment):
    """The same signed request sent with an equivalent (or not) raw target."""
    w = v.copy(name, comment)
    w.target = target
    return w


def botocore_vectors():
    out = []
    when = datetime.datetime(2024, 5, 6, 7, 8, 9)
    t = epoch(when)

    get = boto_header(
        "get-object", "GET", "/bucket/key.txt", comment="GetObject, empty body hashed"
    )
    out.append(get)
    out.append(
        boto_header(
            "put-space-key",
            "PUT",
            "/bucket/dir/" + quote("my file (1).txt", safe="/~"),
            headers=[("Content-Type", "text/plain"), ("Content-Length", "11")],
            body=b"hello world",
            comment="PutObject, key with spaces and parentheses, signed payload hash",
        )
    )
    out.append(
        boto_header(
            "head-unicode",
            "HEAD",
            "/bucket/" + quote("€ unicode-é/ключ.bin".encode("utf-8"), safe="/~"),
            comment="HeadObject, UTF-8 key",
        )
    )
    out.append(
        boto_header(
            "delete-plus-equals-tilde",
            "DELETE",
            "/bucket/" + quote("a+b=c~d&e$f.txt", safe="/~"),
            comment="DeleteObject, key with + = ~ & $",
        )
    )
    out.append(
        boto_header(
            "post-uploads",
            "POST",
            "/bucket/big.bin",
            query="uploads",
            unsigned=True,
            comment="CreateMultipartUpload: a parameter without '=', UNSIGNED-PAYLOAD",
        )
    )
    part = boto_header(
        "put-part",
        "PUT",
        "/bucket/big.bin",
        query=percent_encode_sequence([("partNumber", "2"), ("uploadId", "x~Y_z-1.2")]),
        headers=[("Content-Length", "5")],
        body=b"12345",
        unsigned=True,
        comment="UploadPart, UNSIGNED-PAYLOAD",
    )
    out.append(part)
    out.append(
        boto_header(
            "post-complete",
            "POST",
            "/bucket/big.bin",
            query=percent_encode_sequence([("uploadId", "x~Y_z-1.2")]),
            headers=[("Content-Type", "application/xml")],
            body=b"<CompleteMultipartUpload></CompleteMultipartUpload>",
            comment="CompleteMultipartUpload, signed payload hash",
        )
    )
    lst = boto_header(
        "list-v2",
        "GET",
        "/bucket",
        query=percent_encode_sequence(
            [("list-type", "2"), ("prefix", "a b/c"), ("delimiter", "/")]
        ),
        comment="ListObjectsV2 with prefix 'a b/c' and delimiter '/'",
    )
    out.append(lst)
    out.append(
        retarget(
            lst,
            "list-v2-raw-slash",
            "/bucket?list-type=2&prefix=a%20b/c&delimiter=/",
            "The same request with '/' left unencoded in the query, as curl sends it:\n"
            "the server decodes and re-encodes, so the signature still holds.",
        )
    )
    out.append(
        retarget(
            lst,
            "list-v2-lowercase-hex",
            "/bucket?delimiter=%2f&list-type=2&prefix=a%20b%2fc",
            "Lowercase %-escapes and another parameter order: same canonical query.",
        )
    )
    w = retarget(
        lst,
        "list-v2-plus-is-not-space",
        "/bucket?list-type=2&prefix=a+b%2Fc&delimiter=%2F",
        "A '+' in the raw query is a literal plus (%2B), not a space: must fail.",
    )
    w.expect, w.payload, w.canon = "SignatureDoesNotMatch", None, None
    out.append(w)
    plus = boto_header(
        "list-prefix-plus",
        "GET",
        "/bucket",
        query=percent_encode_sequence([("prefix", "a+b"), ("max-keys", "10")]),
        comment="A prefix containing '+', sent as %2B",
    )
    out.append(plus)
    out.append(
        retarget(
            plus,
            "list-prefix-literal-plus",
            "/bucket?prefix=a+b&max-keys=10",
            "The same with a raw '+': decoded as '+', re-encoded %2B, signature holds.",
        )
    )
    out.append(
        boto_header(
            "list-repeated-keys",
            "GET",
            "/bucket",
            query="tag=b&tag=a&tag=&flag",
            comment="Repeated keys, sorted by value; an empty value and a bare key",
        )
    )
    out.append(
        boto_header(
            "get-response-overrides",
            "GET",
            "/bucket/report.pdf",
            query=percent_encode_sequence(
                [
                    ("response-content-disposition", 'attachment; filename="a b.pdf"'),
                    ("response-content-type", "application/pdf"),
                    ("versionId", ""),
                ]
            ),
            comment="Query values with ; \" space and an empty versionId",
        )
    )
    out.append(
        boto_header(
            "get-encoded-slash",
            "GET",
            "/bucket/a%2Fb%2Fc.txt",
            comment="A path with %2F: used as sent, not decoded or re-encoded",
        )
    )
    out.append(
        boto_header(
            "get-percent-key",
            "GET",
            "/bucket/" + quote("100%.txt", safe="/~"),
            comment="A key with a literal '%' (sent as %25)",
        )
    )
    out.append(boto_header("list-buckets", "GET", "/", comment="ListBuckets on /"))
    meta = boto_header(
        "put-metadata",
        "PUT",
        "/bucket/meta.bin",
        headers=[
            ("Content-Type", "application/octet-stream"),
            ("x-amz-meta-note", "  two   spaces\tand a tab  "),
            ("X-Amz-Meta-List", "first"),
            ("X-Amz-Meta-List", " second "),
            ("x-amz-storage-class", "STANDARD"),
        ],
        body=b"\x00\x01\x02",
        comment="Metadata headers: values trimmed, inner runs collapsed, a repeated\n"
        "header joined with ','",
    )
    out.append(meta)
    out.append(
        boto_header(
            "get-date-header",
            "GET",
            "/bucket/key.txt",
            headers=[("Date", "placeholder")],
            comment="The time comes from the Date header (botocore drops X-Amz-Date then)",
        )
    )
    west = boto_header(
        "get-other-region",
        "GET",
        "/bucket/key.txt",
        region="eu-west-3",
        comment="Another region: accepted when the server takes any region",
    )
    out.append(west)
    w = west.failing(
        "get-wrong-region",
        "AuthorizationHeaderMalformed",
        "The same when the server is configured for us-east-1",
    )
    w.region = "us-east-1"
    out.append(w)
    seed = boto_header(
        "put-streaming-signed",
        "PUT",
        "/bucket/chunked.bin",
        headers=[
            ("Content-Encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "11"),
        ],
        payload="STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        comment="Seed request of a signed aws-chunked upload (botocore signs it with the\n"
        "streaming payload constant; the body is in chunked.txt)",
    )
    out.append(seed)
    trl_body = b"hello trailer world"
    trl = boto_header(
        "put-streaming-unsigned-trailer",
        "PUT",
        "/bucket/trailer.bin",
        headers=[
            ("Transfer-Encoding", "chunked"),
            ("Content-Encoding", "aws-chunked"),
            ("X-Amz-Trailer", "x-amz-checksum-crc32"),
            ("X-Amz-Decoded-Content-Length", str(len(trl_body))),
        ],
        context={
            "checksum": {
                "request_algorithm": {
                    "in": "trailer",
                    "name": "x-amz-checksum-crc32",
                    "algorithm": "crc32",
                }
            }
        },
        comment="STREAMING-UNSIGNED-PAYLOAD-TRAILER as botocore sends it",
    )
    out.append(trl)

    # Variants of get-object that must verify.
    w = get.copy("get-object-header-case", "Header names in another case")
    w.headers = [(n.upper(), v) for (n, v) in w.headers]
    out.append(w)
    w = get.copy("get-object-authz-no-spaces", "Authorization without spaces after commas")
    w.set_header("Authorization", get.header("Authorization").replace(", ", ","))
    out.append(w)
    w = get.copy("get-object-authz-more-spaces", "Authorization with extra blanks")
    w.set_header(
        "Authorization",
        get.header("Authorization").replace(", ", " ,  \t").replace("SHA256 ", "SHA256   "),
    )
    out.append(w)
    w = get.copy("get-object-unsigned-other-header", "An unsigned non-x-amz header is tolerated")
    w.headers.append(("User-Agent", "curl/8.0"))
    out.append(w)
    w = get.copy("get-object-skew-edge", "Exactly 15 minutes late: still inside the window")
    w.now = t + 900
    out.append(w)
    w = get.copy("get-object-skew-edge-early", "Exactly 15 minutes early")
    w.now = t - 900
    out.append(w)

    # Negative vectors.
    w = get.failing("neg-wrong-secret", "SignatureDoesNotMatch", "The server holds another secret")
    w.creds = [(AKID, SECRET + "x"), (AKID2, SECRET2)]
    out.append(w)
    w = get.failing("neg-unknown-key", "InvalidAccessKeyId", "The server does not know the key")
    w.creds = [(AKID2, SECRET2)]
    out.append(w)
    w = meta.failing("neg-altered-header", "SignatureDoesNotMatch", "A signed header value changed")
    w.set_header("x-amz-storage-class", "GLACIER")
    out.append(w)
    w = meta.failing(
        "neg-altered-repeated-header",
        "SignatureDoesNotMatch",
        "The two values of a repeated header swapped",
    )
    w.headers = [
        (n, {"first": " second ", " second ": "first"}.get(v, v)) for (n, v) in w.headers
    ]
    out.append(w)
    w = lst.failing("neg-altered-query", "SignatureDoesNotMatch", "A query value changed")
    w.target = w.target.replace("prefix=a%20b", "prefix=a%20c")
    out.append(w)
    w = lst.failing("neg-added-query", "SignatureDoesNotMatch", "A query parameter added")
    w.target += "&max-keys=1"
    out.append(w)
    w = part.failing("neg-altered-path", "SignatureDoesNotMatch", "The path changed")
    w.target = w.target.replace("/big.bin", "/big.bim")
    out.append(w)
    w = get.failing("neg-path-reencoded", "SignatureDoesNotMatch",
                    "The path is not normalized: /bucket/key%2Etxt is not /bucket/key.txt")
    w.target = "/bucket/key%2Etxt"
    out.append(w)
    w = get.failing("neg-altered-method", "SignatureDoesNotMatch", "GET replayed as DELETE")
    w.method = "DELETE"
    out.append(w)
    w = meta.failing(
        "neg-missing-signed-header",
        "SignatureDoesNotMatch",
        "A header named in SignedHeaders is absent",
        "A header named in SignedHeaders is not in the request",
    )
    w.drop_header("Content-Type")
    out.append(w)
    w = get.failing(
        "neg-unsigned-amz-header",
        "AccessDenied",
        "An x-amz-* header that is not signed",
        "There were headers present in the request which were not signed",
    )
    w.headers.append(("x-amz-copy-source", "/other/secret.txt"))
    out.append(w)
    w = get.failing(
        "neg-session-token", "AccessDenied", "A session token header",
        "Session tokens (X-Amz-Security-Token) are not supported",
    )
    w.headers.append(("X-Amz-Security-Token", "FQoGZXIvYXdzEXAMPLE"))
    out.append(w)
    w = get.failing("neg-skew-late", "RequestTimeTooSkewed", "15 minutes and 1 second late")
    w.now = t + 901
    out.append(w)
    w = get.failing("neg-skew-early", "RequestTimeTooSkewed", "15 minutes and 1 second early")
    w.now = t - 901
    out.append(w)
    w = get.failing("neg-skew-custom", "RequestTimeTooSkewed", "A 60 s window, 61 s late")
    w.skew, w.now = 60, t + 61
    out.append(w)
    w = get.failing("neg-no-auth", "MissingSecurityHeader", "No authentication at all")
    w.drop_header("Authorization")
    out.append(w)
    w = get.failing("neg-authz-no-signature", "AuthorizationHeaderMalformed",
                    "Authorization without Signature")
    w.set_header("Authorization", get.header("Authorization").rsplit(",", 1)[0])
    out.append(w)
    w = get.failing("neg-authz-dup-component", "AuthorizationHeaderMalformed",
                    "Signature given twice")
    w.set_header("Authorization", get.header("Authorization") + ", Signature=" + "0" * 64)
    out.append(w)
    w = get.failing("neg-authz-short-signature", "AuthorizationHeaderMalformed",
                    "A 63-digit signature")
    w.set_header("Authorization", get.header("Authorization")[:-1])
    out.append(w)
    w = get.failing("neg-authz-bad-credential", "AuthorizationHeaderMalformed",
                    "A credential with four parts")
    w.set_header("Authorization", get.header("Authorization").replace("/s3/", "/"))
    out.append(w)
    w = get.failing("neg-authz-service", "AuthorizationHeaderMalformed",
                    "A credential scoped to another service")
    w.set_header("Authorization", get.header("Authorization").replace("/s3/", "/ec2/"))
    out.append(w)
    w = get.failing("neg-authz-terminator", "AuthorizationHeaderMalformed",
                    "A credential with another terminator")
    w.set_header("Authorization",
                 get.header("Authorization").replace("aws4_request", "aws5_request"))
    out.append(w)
    w = get.failing("neg-authz-date", "AuthorizationHeaderMalformed",
                    "A credential date that is not the day of X-Amz-Date",
                    "The credential date is not the date of X-Amz-Date")
    w.set_header("Authorization", get.header("Authorization").replace("/20240506/", "/20240505/"))
    out.append(w)
    w = get.failing("neg-authz-long-date", "AuthorizationHeaderMalformed",
                    "A credential date with nine digits")
    w.set_header("Authorization", get.header("Authorization").replace("/20240506/", "/202405061/"))
    out.append(w)
    w = get.failing("neg-authz-no-host", "AuthorizationHeaderMalformed",
                    "SignedHeaders without host", "SignedHeaders must include host")
    w.set_header("Authorization", get.header("Authorization").replace("host;", ""))
    out.append(w)
    w = get.failing("neg-authz-unsorted", "AuthorizationHeaderMalformed",
                    "SignedHeaders out of order")
    w.set_header("Authorization",
                 get.header("Authorization").replace("host;x-amz-content-sha256",
                                                     "x-amz-content-sha256;host"))
    out.append(w)
    w = get.failing("neg-authz-uppercase-list", "AuthorizationHeaderMalformed",
                    "SignedHeaders with an uppercase name")
    w.set_header("Authorization", get.header("Authorization").replace("host;", "Host;"))
    out.append(w)
    w = get.failing("neg-authz-v2", "InvalidArgument", "A Signature Version 2 header")
    w.set_header("Authorization", "AWS %s:frJIUN8DYpKDtOLCwo//yllqDzg=" % AKID)
    out.append(w)
    w = get.failing("neg-authz-glued", "AuthorizationHeaderMalformed",
                    "No blank after the algorithm")
    w.set_header("Authorization", get.header("Authorization").replace("SHA256 ", "SHA256"))
    out.append(w)
    w = get.failing("neg-two-authz", "AuthorizationHeaderMalformed", "Two Authorization headers")
    w.headers.append(("Authorization", get.header("Authorization")))
    out.append(w)
    w = get.failing("neg-no-date", "AccessDenied", "Neither X-Amz-Date nor Date",
                    "AWS authentication requires a valid Date or x-amz-date header")
    w.drop_header("X-Amz-Date")
    out.append(w)
    w = get.failing("neg-bad-date", "AccessDenied", "A malformed X-Amz-Date")
    w.set_header("X-Amz-Date", "20240506T070809")
    out.append(w)
    w = get.failing("neg-impossible-date", "AccessDenied", "X-Amz-Date on 31 February")
    w.set_header("X-Amz-Date", "20240231T070809Z")
    out.append(w)
    w = get.failing("neg-missing-content-sha256", "InvalidArgument",
                    "No x-amz-content-sha256 header")
    w.drop_header("X-Amz-Content-SHA256")
    out.append(w)
    w = get.failing("neg-bad-content-sha256", "InvalidArgument",
                    "x-amz-content-sha256 is neither a hash nor a known constant")
    w.set_header("X-Amz-Content-SHA256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER")
    out.append(w)
    w = get.failing("neg-both-mechanisms", "InvalidArgument",
                    "Authorization header and X-Amz-Algorithm query parameter")
    w.target += "?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    out.append(w)
    w = get.failing("neg-bad-escape", "InvalidArgument", "A broken %-escape in the query")
    w.target += "?prefix=%zz"
    out.append(w)
    w = get.failing("neg-not-origin-form", "InvalidArgument", "An absolute-form target")
    w.target = "http://" + HOST + w.target
    out.append(w)
    w = seed.failing("neg-streaming-length", "InvalidArgument",
                     "x-amz-decoded-content-length is not a number")
    w.set_header("x-amz-decoded-content-length", "11a")
    out.append(w)

    # Presigned URLs.
    pre = boto_presign("presign-get", "GET", "/bucket/key.txt", expires=3600,
                       comment="A presigned GET valid for an hour")
    out.append(pre)
    w = pre.copy("presign-get-last-second", "At the last valid second")
    w.now = t + 3600
    out.append(w)
    w = pre.copy("presign-get-unsigned-range", "A Range header the URL did not sign is fine")
    w.headers.append(("Range", "bytes=0-9"))
    out.append(w)
    out.append(
        boto_presign(
            "presign-put-unicode",
            "PUT",
            "/bucket/" + quote("dir/ü b+c.txt".encode("utf-8"), safe="/~"),
            query=percent_encode_sequence([("partNumber", "3"), ("uploadId", "u/p+1")]),
            expires=604800,
            region="ap-southeast-2",
            comment="A presigned UploadPart: UTF-8 key, query values with / and +,\n"
            "the longest expiry",
        )
    )
    out.append(
        boto_presign(
            "presign-get-overrides",
            "GET",
            "/bucket/report.pdf",
            query=percent_encode_sequence(
                [("response-content-disposition", "inline; filename=\"r p.pdf\"")]
            ),
            expires=60,
            comment="A presigned GET with a response override",
        )
    )
    w = pre.failing("neg-presign-expired", "AccessDenied", "One second after expiry",
                    "Request has expired")
    w.now = t + 3601
    out.append(w)
    w = pre.failing("neg-presign-not-yet", "AccessDenied", "15 min 1 s before X-Amz-Date",
                    "Request is not valid yet")
    w.now = t - 901
    out.append(w)
    w = pre.failing("neg-presign-altered-expires", "SignatureDoesNotMatch",
                    "X-Amz-Expires raised after signing")
    w.target = w.target.replace("X-Amz-Expires=3600", "X-Amz-Expires=7200")
    out.append(w)
    w = pre.failing("neg-presign-altered-path", "SignatureDoesNotMatch",
                    "The URL used for another key")
    w.target = w.target.replace("/key.txt", "/other.txt")
    out.append(w)
    w = pre.failing("neg-presign-wrong-secret", "SignatureDoesNotMatch", "Another secret")
    w.creds = [(AKID, SECRET2)]
    out.append(w)
    w = pre.failing("neg-presign-unsigned-amz-header", "AccessDenied",
                    "An x-amz-* header the URL did not sign",
                    "There were headers present in the request which were not signed")
    w.headers.append(("x-amz-acl", "public-read"))
    out.append(w)
    w = pre.failing("neg-presign-missing-param", "AuthorizationQueryParametersError",
                    "X-Amz-SignedHeaders removed")
    w.target = "&".join(p for p in w.target.split("&") if not p.startswith("X-Amz-SignedHeaders"))
    out.append(w)
    w = pre.failing("neg-presign-dup-param", "AuthorizationQueryParametersError",
                    "X-Amz-Date given twice")
    w.target += "&X-Amz-Date=20240506T070809Z"
    out.append(w)
    w = pre.failing("neg-presign-algorithm", "AuthorizationQueryParametersError",
                    "Another algorithm")
    w.target = w.target.replace("AWS4-HMAC-SHA256", "AWS4-HMAC-SHA512")
    out.append(w)
    w = pre.failing("neg-presign-bad-date", "AuthorizationQueryParametersError",
                    "A malformed X-Amz-Date")
    w.target = w.target.replace("X-Amz-Date=20240506T070809Z", "X-Amz-Date=2024-05-06T07:08:09Z")
    out.append(w)
    w = pre.failing("neg-presign-zero-expires", "AuthorizationQueryParametersError",
                    "X-Amz-Expires=0")
    w.target = w.target.replace("X-Amz-Expires=3600", "X-Amz-Expires=0")
    out.append(w)
    out.append(
        boto_presign("neg-presign-too-long", "GET", "/bucket/key.txt", expires=604801,
                     comment="X-Amz-Expires of a week and a second").failing(
            "neg-presign-too-long", "AuthorizationQueryParametersError",
            "X-Amz-Expires of a week and a second (signed by botocore all the same)")
    )
    out.append(
        boto_presign("neg-presign-token", "GET", "/bucket/key.txt",
                     token="FQoGZXIvYXdzEXAMPLETOKEN").failing(
            "neg-presign-token", "AccessDenied", "A URL made with a session token",
            "Session tokens (X-Amz-Security-Token) are not supported")
    )
    w = pre.failing("neg-presign-wrong-region", "AuthorizationQueryParametersError",
                    "A us-east-1 URL at a server configured for eu-central-1")
    w.region = "eu-central-1"
    out.append(w)
    return out, seed, trl_body


# -------------------------------------------------------- AWS documentation

DOC_AKID = "AKIAIOSFODNN7EXAMPLE"
DOC_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
DOC_NOW = 1369353600  # 2013-05-24T00:00:00Z
DOC_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
DOC_CHUNK_SIGS = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]


def doc_vector(name, method, target, headers, signed, payload, signature, comment):
    v = Vector(name, comment)
    v.creds = [(DOC_AKID, DOC_SECRET)]
    v.region = "us-east-1"
    v.now = DOC_NOW
    v.method = method
    v.target = target
    v.headers = list(headers)
    scope = "20130524/us-east-1/s3/aws4_request"
    if signed is not None:
        v.headers.append(
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=%s/%s,SignedHeaders=%s,Signature=%s"
                % (DOC_AKID, scope, signed, signature),
            )
        )
        v.payload = payload
    else:
        v.payload = "UNSIGNED-PAYLOAD"
    v.akid = DOC_AKID
    ref_check(v, DOC_SECRET)
    return v


def doc_vectors():
    out = []
    host = [("Host", "examplebucket.s3.amazonaws.com")]
    date = [("x-amz-date", "20130524T000000Z")]
    out.append(
        doc_vector(
            "aws-doc-get-object",
            "GET",
            "/test.txt",
            host + [("Range", "bytes=0-9"), ("x-amz-content-sha256", EMPTY_SHA)] + date,
            "host;range;x-amz-content-sha256;x-amz-date",
            EMPTY_SHA,
            "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41",
            "AWS docs, sig-v4-header-based-auth: GET Object (first 10 bytes of test.txt)",
        )
    )
    body_sha = hashlib.sha256(b"Welcome to Amazon S3.").hexdigest()
    assert body_sha == "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"
    out.append(
        doc_vector(
            "aws-doc-put-object",
            "PUT",
            "/test%24file.text",
            host
            + [("Date", "Fri, 24 May 2013 00:00:00 GMT")]
            + date
            + [("x-amz-storage-class", "REDUCED_REDUNDANCY"), ("x-amz-content-sha256", body_sha)],
            "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
            body_sha,
            "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd",
            "AWS docs: PUT Object 'test$file.text' (Date and x-amz-date both signed)",
        )
    )
    out.append(
        doc_vector(
            "aws-doc-get-lifecycle",
            "GET",
            "/?lifecycle",
            host + date + [("x-amz-content-sha256", EMPTY_SHA)],
            "host;x-amz-content-sha256;x-amz-date",
            EMPTY_SHA,
            "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
            "AWS docs: GET Bucket Lifecycle (a parameter without a value)",
        )
    )
    out.append(
        doc_vector(
            "aws-doc-list-objects",
            "GET",
            "/?max-keys=2&prefix=J",
            host + date + [("x-amz-content-sha256", EMPTY_SHA)],
            "host;x-amz-content-sha256;x-amz-date",
            EMPTY_SHA,
            "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
            "AWS docs: GET Bucket (List Objects), max-keys=2 prefix=J",
        )
    )
    out.append(
        doc_vector(
            "aws-doc-presigned",
            "GET",
            "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256"
            "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request"
            "&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
            "&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
            host,
            None,
            None,
            None,
            "AWS docs, sigv4-query-string-auth: presigned GET test.txt, 86400 s",
        )
    )
    out.append(
        doc_vector(
            "aws-doc-chunked-seed",
            "PUT",
            "/examplebucket/chunkObject.txt",
            [
                ("Host", "s3.amazonaws.com"),
                ("x-amz-date", "20130524T000000Z"),
                ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
                ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
                ("Content-Encoding", "aws-chunked"),
                ("x-amz-decoded-content-length", "66560"),
                ("Content-Length", "66824"),
            ],
            "content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
            "x-amz-decoded-content-length;x-amz-storage-class",
            "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            DOC_SEED,
            "AWS docs, sigv4-streaming: the seed request of the chunked PUT example",
        )
    )
    return out


# ------------------------------------------------------------- aws-chunked


def c_escape(b):
    out = []
    for c in b:
        if c == 0x5C:
            out.append("\\\\")
        elif c == 0x0D:
            out.append("\\r")
        elif c == 0x0A:
            out.append("\\n")
        elif 0x20 <= c < 0x7F:
            out.append(chr(c))
        else:
            out.append("\\x%02x" % c)
    return "".join(out)


class Body:
    """A body as a list of ('text', bytes) and ('fill', byte, count) pieces."""

    def __init__(self):
        self.pieces = []

    def text(self, b):
        self.pieces.append(("text", b))
        return self

    def fill(self, byte, count):
        self.pieces.append(("fill", byte, count))
        return self

    def bytes(self):
        return b"".join(p[1] if p[0] == "text" else bytes([p[1]]) * p[2] for p in self.pieces)

    def render(self):
        out = []
        for p in self.pieces:
            if p[0] == "fill":
                out.append("fill %02x %d" % (p[1], p[2]))
                continue
            b = p[1]
            # One line per CRLF-terminated piece keeps the file readable.
            while b:
                i = b.find(b"\r\n")
                cut = len(b) if i < 0 else i + 2
                cut = min(cut, 96)
                out.append("text " + c_escape(b[:cut]))
                b = b[cut:]
        return out


def chunk_vector(name, comment, mode, body, expect, data=None, trailers=(), secret=None,
                 amz_date=None, scope=None, seed=None, decoded_length=None, max_chunk=None):
    out = []
    out += ["# " + line for line in comment.split("\n")]
    out.append("vector " + name)
    out.append("mode " + mode)
    if mode == "signed":
        out.append("secret " + secret)
        out.append("date " + amz_date)
        out.append("scope " + scope)
        out.append("seed " + seed)
    if decoded_length is not None:
        out.append("decoded-length %d" % decoded_length)
    if max_chunk is not None:
        out.append("max-chunk %d" % max_chunk)
    out += body.render()
    out.append("expect " + expect)
    if data is not None:
        out.append("data-sha256 " + hashlib.sha256(data).hexdigest())
        out.append("data-length %d" % len(data))
    for n, v in trailers:
        out.append("trailer %s:%s" % (n, v))
    out.append("end")
    return "\n".join(out) + "\n"


def chunked_vectors(seed_vec, trl_body):
    out = []
    doc_scope = "20130524/us-east-1/s3/aws4_request"
    doc_key = ref_signing_key(DOC_SECRET, "20130524", "us-east-1")
    # The reference chunk signer must reproduce the AWS example.
    data = [b"a" * 65536, b"a" * 1024]
    _, sigs = ref_chunked_body(doc_key, "20130524T000000Z", doc_scope, DOC_SEED, data)
    assert sigs == DOC_CHUNK_SIGS, sigs

    def doc_body(sigs, sizes=(65536, 1024)):
        b = Body()
        for size, sig in zip(list(sizes) + [0], sigs):
            b.text(b"%x;chunk-signature=%s\r\n" % (size, sig.encode()))
            if size:
                b.fill(ord("a"), size)
            b.text(b"\r\n")
        return b

    doc = dict(secret=DOC_SECRET, amz_date="20130524T000000Z", scope=doc_scope, seed=DOC_SEED)
    out.append(chunk_vector(
        "aws-doc-example",
        "AWS docs, sigv4-streaming: 64 KiB + 1 KiB of 'a' and the final chunk",
        "signed", doc_body(DOC_CHUNK_SIGS), "ok", data=b"".join(data),
        decoded_length=66560, **doc))
    bad = list(DOC_CHUNK_SIGS)
    bad[1] = bad[1][:10] + ("0" if bad[1][10] != "0" else "1") + bad[1][11:]
    out.append(chunk_vector(
        "aws-doc-bad-second-signature", "The doc example with one digit of chunk 2's signature changed",
        "signed", doc_body(bad), "signature", decoded_length=66560, **doc))
    out.append(chunk_vector(
        "aws-doc-wrong-length", "The doc example against x-amz-decoded-content-length 66561",
        "signed", doc_body(DOC_CHUNK_SIGS), "range", decoded_length=66561, **doc))

    # Small signed bodies chained from the botocore-signed seed request.
    a = parse_authz(seed_vec.header("Authorization"))
    amz_date = seed_vec.header("X-Amz-Date")
    scope = a["Credential"].split("/", 1)[1]
    key = ref_signing_key(SECRET, amz_date[:8], scope.split("/")[1])
    sd = dict(secret=SECRET, amz_date=amz_date, scope=scope, seed=a["Signature"])
    pieces = [b"hello", b" world"]
    raw, sigs = ref_chunked_body(key, amz_date, scope, a["Signature"], pieces)
    body = Body().text(raw)
    out.append(chunk_vector(
        "signed-small", "'hello' ' world' chained from the seed put-streaming-signed in\n"
        "requests-botocore.txt", "signed", body, "ok", data=b"hello world",
        decoded_length=11, **sd))
    out.append(chunk_vector(
        "signed-small-no-length", "The same without x-amz-decoded-content-length",
        "signed", body, "ok", data=b"hello world", **sd))
    raw_bin, _ = ref_chunked_body(key, amz_date, scope, a["Signature"],
                                  [bytes(range(256)), b"\r\n0;\r\n"])
    out.append(chunk_vector(
        "signed-binary", "Binary data, including CR LF and text that looks like framing",
        "signed", Body().text(raw_bin), "ok", data=bytes(range(256)) + b"\r\n0;\r\n", **sd))
    out.append(chunk_vector(
        "signed-data-altered", "One data byte changed", "signed",
        Body().text(raw.replace(b"hello", b"hellO")), "signature", **sd))
    hdr = raw.split(b"\r\n")
    reordered = b"\r\n".join([hdr[2], hdr[3], hdr[0], hdr[1], hdr[4], b"", b""])
    out.append(chunk_vector(
        "signed-reordered", "The chunks in another order, each with its own signature", "signed",
        Body().text(reordered), "signature", **sd))
    out.append(chunk_vector(
        "signed-wrong-seed", "A body chained from another seed", "signed",
        body, "signature", **dict(sd, seed="0" * 64)))
    out.append(chunk_vector(
        "signed-truncated", "The final zero-length chunk is missing", "signed",
        Body().text(raw[: raw.rfind(b"0;chunk")]), "truncated", **sd))
    out.append(chunk_vector(
        "signed-no-final-crlf", "The blank line after the final chunk is missing", "signed",
        Body().text(raw[:-2]), "truncated", **sd))
    out.append(chunk_vector(
        "signed-garbage-after-end", "Bytes after the end of the body", "signed",
        Body().text(raw + b"x"), "framing", **sd))
    out.append(chunk_vector(
        "signed-missing-signature", "A chunk without chunk-signature", "signed",
        Body().text(b"5\r\nhello\r\n"), "framing", **sd))
    out.append(chunk_vector(
        "signed-short-signature", "A 63-digit chunk-signature", "signed",
        Body().text(raw.replace(sigs[0].encode(), sigs[0][:63].encode())), "framing", **sd))
    out.append(chunk_vector(
        "signed-trailer-rejected", "A trailer line in a signed stream (would be unauthenticated)",
        "signed", Body().text(raw[:-2] + b"x-amz-checksum-crc32:AAAAAA==\r\n\r\n"), "framing",
        **sd))
    out.append(chunk_vector(
        "signed-too-long-for-length", "More data than x-amz-decoded-content-length", "signed",
        body, "range", decoded_length=10, **sd))
    out.append(chunk_vector(
        "signed-short-for-length", "Less data than x-amz-decoded-content-length", "signed",
        body, "range", decoded_length=12, **sd))
    out.append(chunk_vector(
        "signed-chunk-over-max", "A 6-byte chunk over a configured maximum of 5", "signed",
        Body().text(raw), "range", max_chunk=5, **sd))
    out.append(chunk_vector(
        "signed-chunk-at-max", "Chunks at the configured maximum", "signed",
        Body().text(raw), "ok", data=b"hello world", max_chunk=6, **sd))
    out.append(chunk_vector(
        "signed-bare-lf", "A chunk line ended by LF alone", "signed",
        Body().text(raw.replace(b"\r\n", b"\n", 1)), "framing", **sd))
    out.append(chunk_vector(
        "signed-no-crlf-after-data", "Data not followed by CRLF", "signed",
        Body().text(raw.replace(b"hello\r\n", b"helloXY", 1)), "framing", **sd))
    out.append(chunk_vector(
        "signed-huge-size", "A chunk size of 2^64 + 5 (hex overflow)", "signed",
        Body().text(b"10000000000000005;chunk-signature=" + sigs[0].encode() + b"\r\nhello\r\n"),
        "range", **sd))
    out.append(chunk_vector(
        "signed-long-line", "A chunk-size line longer than the limit (leading zeros)", "signed",
        Body().text(b"0" * 200 + b"5;chunk-signature=" + sigs[0].encode() + b"\r\n"),
        "framing", **sd))
    line = b"0" * 29 + b"5;chunk-signature=" + sigs[0].encode()
    assert len(line) == 111
    out.append(chunk_vector(
        "signed-leading-zeros", "Leading zeros in a chunk size, the line within the limit",
        "signed", Body().text(raw.replace(b"5;chunk-signature=" + sigs[0].encode(), line)),
        "ok", data=b"hello world", **sd))
    line = b"0" * 47 + b"5;chunk-signature=" + sigs[0].encode()
    assert len(line) == 129
    out.append(chunk_vector(
        "signed-line-one-too-long", "A chunk-size line of 129 bytes: one over the limit",
        "signed", Body().text(raw.replace(b"5;chunk-signature=" + sigs[0].encode(), line)),
        "framing", **sd))
    line = b"0" * 46 + b"5;chunk-signature=" + sigs[0].encode()
    assert len(line) == 128
    out.append(chunk_vector(
        "signed-line-at-limit", "A chunk-size line of exactly 128 bytes",
        "signed", Body().text(raw.replace(b"5;chunk-signature=" + sigs[0].encode(), line)),
        "ok", data=b"hello world", **sd))
    out.append(chunk_vector(
        "signed-bad-hex", "A chunk size that is not hex", "signed",
        Body().text(b"5g;chunk-signature=" + sigs[0].encode() + b"\r\nhello\r\n"), "framing",
        **sd))
    out.append(chunk_vector(
        "signed-empty-size", "A chunk line without a size", "signed",
        Body().text(b";chunk-signature=" + sigs[0].encode() + b"\r\nhello\r\n"), "framing",
        **sd))
    out.append(chunk_vector(
        "signed-other-extension", "Another chunk extension", "signed",
        Body().text(b"5;chunk-sig=" + sigs[0].encode() + b"\r\nhello\r\n"), "framing", **sd))

    # botocore's STREAMING-UNSIGNED-PAYLOAD-TRAILER body.
    from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum

    wrapped = AwsChunkedWrapper(io.BytesIO(trl_body), checksum_cls=Crc32Checksum,
                                checksum_name="x-amz-checksum-crc32", chunk_size=8)
    raw_trl = wrapped.read()
    crc = base64.b64encode((zlib.crc32(trl_body) & 0xFFFFFFFF).to_bytes(4, "big")).decode()
    assert raw_trl.endswith(b"x-amz-checksum-crc32:%s\r\n\r\n" % crc.encode()), raw_trl
    out.append(chunk_vector(
        "unsigned-trailer-botocore",
        "botocore's AwsChunkedWrapper (8-byte chunks, CRC32 trailer), as sent with\n"
        "put-streaming-unsigned-trailer", "unsigned-trailer", Body().text(raw_trl), "ok",
        data=trl_body, trailers=[("x-amz-checksum-crc32", crc)],
        decoded_length=len(trl_body)))
    out.append(chunk_vector(
        "unsigned-two-trailers", "Two trailers, a name in capitals and blanks around the value",
        "unsigned-trailer",
        Body().text(b"3\r\nabc\r\n0\r\nX-Amz-Checksum-CRC32C:  AAAAAA==  \r\n"
                    b"x-amz-checksum-sha256:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\r\n\r\n"),
        "ok", data=b"abc",
        trailers=[("x-amz-checksum-crc32c", "AAAAAA=="),
                  ("x-amz-checksum-sha256", "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")]))
    out.append(chunk_vector(
        "unsigned-no-trailer", "No trailer at all", "unsigned-trailer",
        Body().text(b"3\r\nabc\r\n0\r\n\r\n"), "ok", data=b"abc"))
    out.append(chunk_vector(
        "unsigned-signature-extension", "A chunk-signature in an unsigned stream", "unsigned-trailer",
        Body().text(b"3;chunk-signature=" + b"0" * 64 + b"\r\nabc\r\n0\r\n\r\n"), "framing"))
    out.append(chunk_vector(
        "unsigned-trailer-no-colon", "A trailer line without ':'", "unsigned-trailer",
        Body().text(b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32\r\n\r\n"), "framing"))
    out.append(chunk_vector(
        "unsigned-trailer-bad-name", "A trailer name with a space", "unsigned-trailer",
        Body().text(b"3\r\nabc\r\n0\r\nx amz:1\r\n\r\n"), "framing"))
    out.append(chunk_vector(
        "unsigned-trailer-at-limit", "A trailer line of exactly 256 bytes", "unsigned-trailer",
        Body().text(b"3\r\nabc\r\n0\r\nx-amz-meta-t:" + b"A" * 243 + b"\r\n\r\n"),
        "ok", data=b"abc", trailers=[("x-amz-meta-t", "A" * 243)]))
    out.append(chunk_vector(
        "unsigned-trailer-one-too-long", "A trailer line of 257 bytes", "unsigned-trailer",
        Body().text(b"3\r\nabc\r\n0\r\nx-amz-meta-t:" + b"A" * 244 + b"\r\n\r\n"),
        "framing"))
    out.append(chunk_vector(
        "unsigned-bare-lf-final", "The final blank line as a bare LF", "unsigned-trailer",
        Body().text(b"3\r\nabc\r\n0\r\n\n"), "framing"))
    out.append(chunk_vector(
        "unsigned-bare-lf-size", "A chunk-size line ended by a bare LF", "unsigned-trailer",
        Body().text(b"3\nabc\r\n0\r\n\r\n"), "framing"))
    out.append(chunk_vector(
        "unsigned-cr-in-line", "A CR inside a chunk-size line", "unsigned-trailer",
        Body().text(b"3\r;\r\nabc\r\n0\r\n\r\n"), "framing"))
    out.append(chunk_vector(
        "unsigned-trailer-too-long", "A trailer line longer than the limit", "unsigned-trailer",
        Body().text(b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:" + b"A" * 300 + b"\r\n\r\n"),
        "framing"))
    out.append(chunk_vector(
        "unsigned-too-many-trailers", "More trailer lines than the limit", "unsigned-trailer",
        Body().text(b"3\r\nabc\r\n0\r\n" + b"x-amz-t:1\r\n" * 20 + b"\r\n"), "framing"))
    out.append(chunk_vector(
        "unsigned-empty-body", "An empty object", "unsigned-trailer",
        Body().text(b"0\r\n\r\n"), "ok", data=b"", decoded_length=0))
    out.append(chunk_vector(
        "unsigned-uppercase-hex", "Uppercase hex and a leading zero in a chunk size",
        "unsigned-trailer", Body().text(b"0A\r\n0123456789\r\n0\r\n\r\n"), "ok",
        data=b"0123456789"))
    return out


# ---------------------------------------------------------------- main

HEADER = """# Generated by tests/vectors/sigv4/gen.py -- do not edit; rerun the script.
#
# {what}
#
# Format: blocks of "key value" lines from "vector NAME" to "end"; '#' lines are
# comments.  {fmt}
"""

REQ_FMT = """Keys: cred AKID SECRET (the server's keys; repeatable),
# region NAME|* (the server's region, * = any), skew SECONDS (optional), now EPOCH,
# method, target (raw request-target), header Name:value (the value after the
# first ':', with the C escapes \\\\ \\t \\xHH), expect S3-code|OK, detail TEXT
# (optional), payload (expected x-amz-content-sha256 form, optional), akid
# (expected access key, optional), canon LINE (the expected canonical request,
# one line each, optional)."""

CHUNK_FMT = """Keys: mode signed|unsigned-trailer; for signed: secret,
# date (x-amz-date), scope, seed (the request's signature); decoded-length N
# (optional), max-chunk N (optional); the body as "text ESCAPED" (C escapes
# \\r \\n \\\\ \\xHH) and "fill HEXBYTE COUNT" pieces in order; expect
# ok|signature|framing|range|truncated; data-sha256 / data-length of the decoded
# data and trailer name:value lines (expected, optional)."""


def write(name, what, fmt, blocks):
    path = os.path.join(HERE, name)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write(HEADER.format(what=what, fmt=fmt))
        for b in blocks:
            f.write("\n")
            f.write(b)
    print("wrote %s (%d vectors)" % (path, len(blocks)))


def main():
    boto, seed, trl_body = botocore_vectors()
    secrets = {AKID: SECRET, AKID2: SECRET2}
    for v in boto:
        if v.expect == "OK":
            ref_check(v, secrets[v.akid])
    names = [v.name for v in boto]
    assert len(names) == len(set(names)), "duplicate vector names"
    write(
        "requests-botocore.txt",
        "Requests signed by botocore %s at a fixed time, and variants." % botocore.__version__,
        REQ_FMT,
        [v.render() for v in boto],
    )
    write(
        "requests-aws-docs.txt",
        "The worked examples of the AWS S3 SigV4 documentation, with AWS's signatures.",
        REQ_FMT,
        [v.render() for v in doc_vectors()],
    )
    write(
        "chunked.txt",
        "aws-chunked bodies: the AWS documentation example, reference-signed and\n"
        "# botocore-encoded bodies, and malformed ones.",
        CHUNK_FMT,
        chunked_vectors(seed, trl_body),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
