#!/usr/bin/env python3
"""Make the seed corpora of tests/fuzz/corpus/<target>/ from real sources.

    /usr/bin/python3 tests/fuzz/mkcorpus.py BUILD_FUZZ [CRYPTSTORED]

BUILD_FUZZ is a build with -Dfuzz=true; CRYPTSTORED a server binary (default
build/server/cryptstored).  Rewrites the seed files (names it makes); the
regression inputs (regress-*) are never touched.  Where the seeds come from:

  http        boto3 (Debian's, botocore 1.29) talking to a recording stand-in
              for S3 on localhost: every byte of each connection, keep-alive
              requests one after another; curl's chunked upload; and a few
              hand-written framings that must be refused.
  sigv4       the signed requests of tests/vectors/sigv4 (botocore and the
              AWS documentation) and the boto3 requests above, signed at the
              vectors' fixed time with the vectors' key, so that they verify;
              streaming ones carry their aws-chunked body.
  awschunked  the bodies of tests/vectors/sigv4/chunked.txt (up to 8 KiB).
  s3xml       the XML bodies boto3 sent above (CompleteMultipartUpload,
              Delete, CreateBucketConfiguration) and a few variants.
  cli_xml     what the real cryptstored answers: ListObjectsV2 pages
              (encoding-type=url, with awkward keys), ListBuckets, a
              DeleteObjects result, errors.
  format, keystore, audit, objmeta
              written by the targets themselves from the real library
              (FUZZ_FORMAT_SEEDS=dir etc.: a real object per geometry, the
              plaintexts of a real keystore and identities file, a real audit
              log, real metadata records).
  label       label and range texts, canonical and not.
"""

import datetime
import hashlib
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import types
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")
VECTORS = os.path.join(ROOT, "tests", "vectors", "sigv4")

AKID = "AKIDCRYPTSTORE0001"
SECRET = "cs/Secret+Key=0001abcdefghijklmnopqrstuv"
# fuzz_sigv4.c's clock table and region table, in order.
CLOCKS = [1714979289, 1369353600, 1714978388, 1714978389, 1714979350, 1714980189, 1714980190,
          1714982889, 1714982890]
REGIONS = {"*": 0, "us-east-1": 1, "eu-central-1": 2, "us-west-2": 3}


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("latin-1")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def clean(target):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        if not f.startswith("regress-"):
            os.unlink(os.path.join(d, f))


def rec16(kind, payload):
    return bytes([kind]) + struct.pack(">H", len(payload)) + payload


# ---- seeds the targets write themselves ----------------------------------------------------


def from_targets(build):
    for t, var in (("format", "FUZZ_FORMAT_SEEDS"), ("keystore", "FUZZ_KEYSTORE_SEEDS"),
                   ("audit", "FUZZ_AUDIT_SEEDS"), ("objmeta", "FUZZ_OBJMETA_SEEDS")):
        clean(t)
        env = dict(os.environ, **{var: os.path.join(CORPUS, t)})
        exe = os.path.join(build, "tests", "fuzz", "fuzz_" + t)
        subprocess.run([exe, "-runs=0"], env=env, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL)


# ---- the test vectors ---------------------------------------------------------------------------


def unescape(s):
    out = bytearray()
    i = 0
    while i < len(s):
        if s[i] == "\\" and i + 1 < len(s):
            c = s[i + 1]
            if c == "x":
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
                continue
            out += {"\\": b"\\", "t": b"\t", "r": b"\r", "n": b"\n"}[c]
            i += 2
            continue
        out += s[i].encode("utf-8")
        i += 1
    return bytes(out)


def vectors(path):
    cur = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            key, _, val = line.partition(" ")
            if key == "vector":
                cur = {"name": val, "lines": []}
            elif key == "end":
                yield cur
                cur = None
            elif cur is not None:
                cur["lines"].append((key, val))


def chunked_body(v):
    body = b""
    for k, val in v["lines"]:
        if k == "text":
            body += unescape(val)
        elif k == "fill":
            b, n = val.split()
            body += bytes([int(b, 16)]) * int(n)
    return body


def sigv4_seed(clock, flags, method, target, headers, body=b""):
    head = bytes([clock, flags]) + method.encode() + b"\n" + target + b"\n"
    for name, value in headers:
        head += name + b":" + value + b"\n"
    return head + b"\n" + body


def from_vectors():
    clean("sigv4")
    clean("awschunked")
    bodies = {}
    for v in vectors(os.path.join(VECTORS, "chunked.txt")):
        kv = dict(v["lines"])
        body = chunked_body(v)
        bodies[v["name"]] = body
        if len(body) > 8192:
            continue
        flags = 0 if kv["mode"] == "signed" else 1
        if kv["mode"] == "signed":
            if kv["secret"].startswith("wJal"):
                flags |= 1 << 1
            elif kv["seed"].startswith("0000"):
                flags |= 2 << 1
        dlen = int(kv.get("decoded-length", "0"))
        if "decoded-length" in kv:
            flags |= 8
        maxc = int(kv.get("max-chunk", "0"))
        put("awschunked", "vec-" + v["name"], bytes([flags, maxc & 255]) +
            struct.pack(">IH", dlen, 0) + body)
    for fn in ("requests-botocore.txt", "requests-aws-docs.txt"):
        for v in vectors(os.path.join(VECTORS, fn)):
            kv, headers = {}, []
            for k, val in v["lines"]:
                if k == "header":
                    name, _, value = val.partition(":")
                    headers.append((name.encode(), unescape(value)))
                elif k != "canon":
                    kv[k] = val
            now = int(kv["now"])
            if now not in CLOCKS:
                continue
            flags = REGIONS.get(kv.get("region", "*"), 0) | (4 if kv.get("skew") == "60" else 0)
            body = b""
            if v["name"] == "put-streaming-signed":
                body = bodies["signed-small"]
            elif v["name"] == "put-streaming-unsigned-trailer":
                body = bodies["unsigned-trailer-botocore"]
            seed = sigv4_seed(CLOCKS.index(now), flags, kv["method"], unescape(kv["target"]),
                              headers, body)
            put("sigv4", "vec-" + v["name"], seed)
            if v["name"] in ("get-object", "put-space-key", "presign-get", "list-v2-prefix"):
                put("sigv4", "resign-" + v["name"], bytes([seed[0], seed[1] | 8 | 16]) + seed[2:])


# ---- boto3 against a recording stand-in for S3 ----------------------------------------------------


class Recorder:
    """A keep-alive HTTP/1.1 server that answers like S3 just enough for boto3,
    and keeps every byte each connection sent."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.requests = []  # (method, target, [(name, value)], body)
        self.lock = threading.Lock()
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        raw = bytearray()
        with self.lock:
            self.conns.append(raw)
        buf = b""
        try:
            while True:
                while b"\r\n\r\n" not in buf:
                    d = c.recv(65536)
                    if not d:
                        return
                    raw += d
                    buf += d
                head, _, buf = buf.partition(b"\r\n\r\n")
                lines = head.split(b"\r\n")
                method, target, _ = lines[0].split(b" ", 2)
                hdrs = [tuple(x.strip() for x in ln.split(b":", 1)) for ln in lines[1:]]
                h = {k.lower(): v for k, v in hdrs}
                if h.get(b"expect", b"").lower() == b"100-continue":
                    c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
                body = b""
                if b"content-length" in h:
                    n = int(h[b"content-length"])
                    while len(buf) < n:
                        d = c.recv(65536)
                        if not d:
                            return
                        raw += d
                        buf += d
                    body, buf = buf[:n], buf[n:]
                elif h.get(b"transfer-encoding", b"").lower() == b"chunked":
                    while not re.search(b"\r\n0\r\n(.*\r\n)*\r\n", b"\r\n" + buf):
                        d = c.recv(65536)
                        if not d:
                            return
                        raw += d
                        buf += d
                    m = re.search(b"\r\n0\r\n(.*?\r\n)*?\r\n", b"\r\n" + buf)
                    body, buf = buf[:m.end() - 2], buf[m.end() - 2:]
                with self.lock:
                    self.requests.append((method.decode(), target, hdrs, body))
                status, extra, rbody = self.answer(method, target, h)
                out = b"HTTP/1.1 %d X\r\n" % status + extra
                out += b"Content-Length: %d\r\n\r\n" % len(rbody)
                c.sendall(out + (rbody if method != b"HEAD" else b""))
        finally:
            c.close()

    @staticmethod
    def answer(method, target, h):
        ns = b'<?xml version="1.0" encoding="UTF-8"?>\n'
        if method == b"POST" and b"?uploads" in target:
            return 200, b"", ns + (b"<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key>"
                                   b"<UploadId>upload-1</UploadId></InitiateMultipartUploadResult>")
        if method == b"POST" and b"uploadId=" in target:
            return 200, b"", ns + (b"<CompleteMultipartUploadResult><ETag>\"e-2\"</ETag>"
                                   b"</CompleteMultipartUploadResult>")
        if method == b"POST" and b"?delete" in target:
            return 200, b"", ns + b"<DeleteResult><Deleted><Key>a</Key></Deleted></DeleteResult>"
        if method == b"PUT" and b"x-amz-copy-source" in h:
            return 200, b"", ns + (b"<CopyObjectResult><ETag>\"e\"</ETag><LastModified>"
                                   b"2024-05-06T07:08:09.000Z</LastModified></CopyObjectResult>")
        if method == b"PUT":
            return 200, b'ETag: "5d41402abc4b2a76b9719d911017c592"\r\n', b""
        if method == b"DELETE":
            return 204, b"", b""
        if method == b"GET" and target == b"/":
            return 200, b"", ns + (b"<ListAllMyBucketsResult><Buckets><Bucket><Name>b</Name>"
                                   b"<CreationDate>2024-05-06T07:08:09.000Z</CreationDate>"
                                   b"</Bucket></Buckets></ListAllMyBucketsResult>")
        if method == b"GET" and b"list-type=2" in target:
            return 200, b"", ns + (b"<ListBucketResult><Name>b</Name><KeyCount>0</KeyCount>"
                                   b"<IsTruncated>false</IsTruncated></ListBucketResult>")
        if method == b"GET" and b"range" in h:
            return 206, b"Content-Range: bytes 0-1/5\r\n", b"he"
        if method in (b"GET", b"HEAD"):
            return 200, b'ETag: "5d41402abc4b2a76b9719d911017c592"\r\n', b"hello"
        return 200, b"", b""


class _FixedDateTime(datetime.datetime):
    fixed = datetime.datetime(2024, 5, 6, 7, 8, 9)

    @classmethod
    def utcnow(cls):
        return cls.fixed


def from_boto3():
    import boto3
    import botocore.auth
    from botocore.config import Config

    saved = (botocore.auth.datetime, dict(botocore.auth.AUTH_TYPE_MAPS))
    try:
        return capture_boto3(boto3, botocore, Config)
    finally:
        botocore.auth.datetime = saved[0]
        botocore.auth.AUTH_TYPE_MAPS.clear()
        botocore.auth.AUTH_TYPE_MAPS.update(saved[1])


def capture_boto3(boto3, botocore, Config):
    # Sign at the vectors' time (clock 0 of fuzz_sigv4), as tests/vectors/sigv4/gen.py does.
    botocore.auth.datetime = types.SimpleNamespace(datetime=_FixedDateTime)
    if hasattr(botocore.auth, "get_current_datetime"):
        botocore.auth.get_current_datetime = lambda *a, **k: _FixedDateTime.fixed
    # With awscrt installed botocore signs in C, past the frozen clock: use its Python signers.
    botocore.auth.AUTH_TYPE_MAPS.update({"s3v4": botocore.auth.S3SigV4Auth,
                                         "s3v4-query": botocore.auth.S3SigV4QueryAuth,
                                         "v4": botocore.auth.SigV4Auth})
    rec = Recorder()
    ep = "http://127.0.0.1:%d" % rec.port
    s3 = boto3.client("s3", endpoint_url=ep, aws_access_key_id=AKID,
                      aws_secret_access_key=SECRET, region_name="us-east-1",
                      config=Config(signature_version="s3v4", s3={"addressing_style": "path"},
                                    retries={"max_attempts": 1}))
    s3.create_bucket(Bucket="photos", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_object(Bucket="photos", Key="2024/cat.jpg", Body=b"hello", ContentType="image/jpeg",
                  Metadata={"author": "alice", "note": "x y"})
    s3.put_object(Bucket="photos", Key="dir/my file (1)+\u20ac.txt", Body=b"x" * 40,
                  ContentMD5="pAcVWnJzUm7kS1wmcyXrAw==")
    s3.get_object(Bucket="photos", Key="2024/cat.jpg", Range="bytes=0-1")
    s3.head_object(Bucket="photos", Key="2024/cat.jpg")
    s3.list_objects_v2(Bucket="photos", Prefix="2024/", Delimiter="/", EncodingType="url")
    s3.list_buckets()
    s3.copy_object(Bucket="photos", Key="copy.jpg", CopySource={"Bucket": "photos",
                                                                "Key": "2024/cat.jpg"})
    s3.create_multipart_upload(Bucket="photos", Key="big.bin")
    s3.upload_part(Bucket="photos", Key="big.bin", UploadId="upload-1", PartNumber=1,
                   Body=b"p" * 100)
    s3.complete_multipart_upload(
        Bucket="photos", Key="big.bin", UploadId="upload-1",
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": '"e1"'},
                                   {"PartNumber": 2, "ETag": '"e2"'}]})
    s3.delete_objects(Bucket="photos", Delete={
        "Objects": [{"Key": "a"}, {"Key": "b<&>'\"c"}, {"Key": "dir/\u00e9"}], "Quiet": True})
    s3.delete_object(Bucket="photos", Key="2024/cat.jpg")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": "photos",
                                                          "Key": "2024/cat.jpg"}, ExpiresIn=3600)
    urllib.request.urlopen(url).read()
    # curl: Transfer-Encoding: chunked from a pipe.
    subprocess.run(["curl", "-s", "-o", "/dev/null", "-T", "-", "-H", "Expect:",
                    ep + "/photos/from-curl"], input=b"chunk" * 20, check=True)
    time.sleep(0.3)

    clean("http")
    clean("s3xml")
    with rec.lock:
        conns = [bytes(c) for c in rec.conns]
        reqs = list(rec.requests)
    for i, raw in enumerate(conns):
        put("http", "boto3-conn-%02d" % i, b"\0\0\0" + raw)
        put("http", "boto3-conn-%02d-split" % i, b"\x0e\x12\x34" + raw)
        put("http", "boto3-conn-%02d-small" % i, b"\x01\0\0" + raw)
    for i, (method, target, hdrs, body) in enumerate(reqs):
        flags = 1  # us-east-1
        if b"transfer-encoding" in [k.lower() for k, _ in hdrs]:
            continue
        put("sigv4", "boto3-%02d-%s" % (i, method.lower()),
            sigv4_seed(0, flags, method, target, hdrs, body))
        if body.startswith(b"<"):
            put("s3xml", "boto3-%02d" % i, b"\0" + body)
    return conns


def hand_seeds():
    # HTTP framings the server must refuse or handle with care.
    for name, raw in [
        ("pipelined", b"GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b?list-type=2 HTTP/1.1\r\nHost: h\r\n"
         b"Range: bytes=0-9\r\n\r\nPUT /c HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"),
        ("http10-close", b"GET /k HTTP/1.0\r\n\r\n"),
        ("chunked-trailer", b"PUT /b/k HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
         b"5;ext=1\r\nhello\r\n0\r\nx-amz-checksum-crc32: AAAAAA==\r\n\r\n"),
        ("absolute-form", b"GET http://h:9000/b/k?x=1 HTTP/1.1\r\nHost: h:9000\r\n\r\n"),
        ("cl-and-te", b"PUT / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n"
         b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        ("obs-fold", b"GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n"),
        ("bare-cr", b"GET / HTTP/1.1\rHost: h\r\n\r\n"),
        ("expect-empty", b"PUT /b/e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n"
         b"Content-Length: 0\r\n\r\n"),
    ]:
        put("http", "hand-" + name, b"\0\0\0" + raw)
        put("http", "hand-" + name + "-small", b"\x07\x00\x2a" + raw)

    ns = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
    for name, x in [
        ("complete-quot", '<CompleteMultipartUpload %s><Part><PartNumber>1</PartNumber>'
         '<ETag>&quot;a54357aff0632cce46d942af68356b38&quot;</ETag></Part></CompleteMultipartUpload>'
         % ns),
        ("delete-entities", '<?xml version="1.0"?>\n<Delete><Object><Key>a&#x41;&#66;&lt;&amp;'
         '&#x10FFFF;</Key></Object><Quiet>false</Quiet></Delete>'),
        ("create-bucket", '<CreateBucketConfiguration %s><LocationConstraint>eu-west-1'
         '</LocationConstraint></CreateBucketConfiguration>' % ns),
        ("selfclosing", '<Delete><Object><Key>k</Key><VersionId/></Object></Delete>'),
    ]:
        put("s3xml", "hand-" + name, b"\0" + x.encode())
    for key in ["photos/2024/cat.jpg", "a<b>&'\"\t\r\n\x01", "caf\u00e9 \u2028", "\x7f"]:
        put("s3xml", "roundtrip-%s" % hashlib.sha1(key.encode()).hexdigest()[:8],
            b"\x02" + key.encode("utf-8"))

    clean("label")
    for i, t in enumerate(["s0", "s15", "s3:c0", "s2:c1,c4.c7", "s0:c0.c1023", "s1:c5,c3,c4,c100",
                           "s0-s15:c0.c1023", "s1:c1,c2-s3:c1.c9", "s2:c0,c2,c3,c5,c6,c8",
                           "s01", "s16", "s0:c1024", "s0:c3.c3", "s0-s1-s2", "s0:", "s0:c1,",
                           "s10:c999.c1001,c7"]):
        put("label", "text-%02d" % i, b"\0" + t.encode())
    put("label", "values-range", b"\x01" + bytes([1, 3]) + struct.pack(">HHH", 1, 2, 3) +
        bytes([3, 4]) + struct.pack(">HHHH", 1, 2, 3, 1023))
    put("label", "values-mod3", b"\x01" + bytes([15, 255]) +
        b"".join(struct.pack(">H", c) for c in range(1024) if c % 3 != 1)[:510])

    # format, mutate mode: [mode][object][flags] then ops (fuzz_format.c).
    for name, b in [
        ("mut-chunk-size", bytes([1, 4, 3, 5, 0, 0, 3]) + struct.pack(">Q", 16)),
        ("mut-length", bytes([1, 9, 3, 5, 0, 0, 7]) + struct.pack(">Q", 100)),
        ("mut-count", bytes([1, 10, 3, 5, 0, 0, 8]) + struct.pack(">Q", 3)),
        ("mut-suite", bytes([1, 2, 1, 5, 0, 0, 1]) + struct.pack(">Q", 2)),
        ("mut-splice", bytes([1, 3, 0, 4, 0, 100, 2, 0, 100, 0, 64])),
        ("mut-range-mb", bytes([3, 9, 0, 7, 0, 0]) + struct.pack(">QQ", 17, 200)),
        ("mut-truncate", bytes([1, 8, 2, 3, 0x10, 0])),
        ("mut-kek-v2", bytes([5, 1, 1, 5, 0, 0, 5]) + struct.pack(">Q", 2)),
        ("mut-async-range", bytes([0x11, 9, 0, 7, 0, 0]) + struct.pack(">QQ", 40, 250)),
        ("mut-async-full", bytes([0x13, 10, 0])),
        ("mut-async-flip", bytes([0x11, 9, 0, 0, 1, 0, 1, 0x55])),
    ]:
        put("format", name, b)


# ---- the real server's answers --------------------------------------------------------------------


def from_server(binary):
    import boto3
    from botocore.config import Config

    clean("cli_xml")
    base = tempfile.mkdtemp(prefix="cs-mkcorpus-")
    d = os.path.join(base, "srv")
    os.mkdir(d, 0o700)
    argv = [binary, "--data-dir", d + "/data", "--keys-dir", d + "/keys", "--root-key",
            d + "/root.key", "--port", "0", "--port-file", d + "/port", "--credentials-file",
            d + "/creds", "--init-demo", "true", "--sync", "false", "--admin-socket",
            d + "/admin.sock", "--audit-dir", d + "/audit"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            if os.path.exists(d + "/port") and open(d + "/port").read().strip().isdigit():
                break
            time.sleep(0.05)
        port = int(open(d + "/port").read())
        creds = {}
        for line in open(d + "/creds"):
            p = line.split()
            if len(p) == 3:
                creds[p[0]] = (p[1], p[2])
        akid, secret = creds[sorted(creds)[0]]
        s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % port,
                          aws_access_key_id=akid, aws_secret_access_key=secret,
                          region_name="us-east-1",
                          config=Config(signature_version="s3v4",
                                        s3={"addressing_style": "path"}))
        bucket = s3.list_buckets()["Buckets"][0]["Name"]
        keys = ["photos/2024/cat.jpg", "dir/my file (1)+.txt", "caf\u00e9/\u20ac", "a&b<c>\"'",
                "tab\there", "dir/sub/x", "dir/sub/y", "%41%", "~-_."]
        for k in keys:
            s3.put_object(Bucket=bucket, Key=k, Body=k.encode("utf-8"))

        def raw(url_params, method="list_objects_v2"):
            url = s3.generate_presigned_url(method, Params=url_params)
            try:
                return urllib.request.urlopen(url).read()
            except urllib.error.HTTPError as e:
                return e.read()

        put("cli_xml", "server-list-url", b"\0" + raw({"Bucket": bucket, "EncodingType": "url"}))
        put("cli_xml", "server-list-delim", b"\0" + raw({"Bucket": bucket, "EncodingType": "url",
                                                         "Delimiter": "/"}))
        put("cli_xml", "server-list-page", b"\0" + raw({"Bucket": bucket, "EncodingType": "url",
                                                        "MaxKeys": 2}))
        put("cli_xml", "server-list-plain", b"\0" + raw({"Bucket": bucket}))
        put("cli_xml", "server-buckets", b"\1" + raw({}, "list_buckets"))
        put("cli_xml", "server-nosuchkey", b"\1" + raw({"Bucket": bucket, "Key": "nope"},
                                                       "get_object"))
        put("cli_xml", "server-nosuchbucket", b"\1" + raw({"Bucket": "nope"}))
        url = s3.generate_presigned_url("get_bucket_location", Params={"Bucket": bucket})
        put("cli_xml", "server-location", b"\1" + urllib.request.urlopen(url).read())
        r = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": keys[0]},
                                                                  {"Key": "nope"}]})
        del r
        for k in keys[:3]:
            put("cli_xml", "roundtrip-%s" % hashlib.sha1(k.encode()).hexdigest()[:8],
                b"\2" + k.encode("utf-8"))
    finally:
        proc.terminate()
        proc.wait()
        shutil.rmtree(base, ignore_errors=True)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    build = sys.argv[1]
    server = sys.argv[2] if len(sys.argv) > 2 else os.path.join(ROOT, "build", "server",
                                                                 "cryptstored")
    from_targets(build)
    from_vectors()
    from_boto3()
    hand_seeds()
    from_server(server)
    total = 0
    for t in sorted(os.listdir(CORPUS)):
        files = os.listdir(os.path.join(CORPUS, t))
        size = sum(os.path.getsize(os.path.join(CORPUS, t, f)) for f in files)
        total += size
        print("%-11s %3d files %8d bytes" % (t, len(files), size))
    print("total %d bytes" % total)


if __name__ == "__main__":
    main()
