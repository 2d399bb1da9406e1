#!/usr/bin/python3
"""cryptstored against real S3 clients: aws-cli, boto3, s3cmd and curl.

Usage: s3_clients.py PATH/TO/cryptstored

Starts the server in demo mode on a fresh 0700 temporary directory (buckets
level-s0 .. level-s3, one access key of the demo user per session level),
runs every check, stops it, and prints TAP: the plan first, then one
"ok N - name" / "not ok N - name" line per check, with "# " diagnostics after
failures.  Exit status 1 if any check failed, 2 on bad usage.

The checks, in order: start-up; a canary object; the MLS matrix (every
session level against every bucket, every kind of operation); signatures;
aws-cli (aws s3 and aws s3api: sizes 0 B .. 100 MiB, ETags, overwrite,
delete, ls with prefixes, Range GETs); listings over more than 1000 keys (v1
and v2 pagination, delimiters, start-after, max-keys, URL-encoded names);
boto3 (metadata, DeleteObjects, the multipart API, buckets); s3cmd; presigned
URLs with curl; a restart on the same directories; a clean stop; and finally
a scan of every stored byte for the canary's content and name.

Only the standard library and boto3/botocore are imported; aws, s3cmd and
curl run as subprocesses with a private HOME and configuration, so nothing of
the user's is read or touched.  Every request and subprocess has a timeout,
and the whole run a limit.  The temporary directory follows TMPDIR; the run
needs about 400 MB there at its peak.

Environment (all optional):
  CS_IT_LIMIT=SECONDS     the run's time limit (default 230)
  CS_IT_KEEP=1            keep the temporary directory (data, keys, server.log)
  CS_IT_LOG_LEVEL=debug   the server's --log-level (default info)
  CS_IT_SERVER_ARGS="..."  extra cryptstored flags (e.g. --store rados --rados-pool P)
  CS_IT_STORE_DUMP="..."   sh command run after the stop with $1 = a directory to fill
                          with the store's raw objects, for the canary scan
  CS_IT_AWS, CS_IT_S3CMD, CS_IT_CURL   the client programs (default: /usr/bin's,
                          else the first on PATH)
"""

import concurrent.futures
import contextlib
import hashlib
import importlib.util
import json
import os
import random
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

MiB = 1 << 20
LEVELS = ["s0", "s1", "s2", "s3"]
REGION = "us-east-1"
RUN_LIMIT = int(os.environ.get("CS_IT_LIMIT", "230"))
CANARY_SEED = 0x5A51C0DE
CANARY_STEP = 1024  # a 64-byte slice of the canary every CANARY_STEP bytes is searched for
CANARY_WIN = 64
CANARY_BLK = 32

# Sizes aws-cli moves (the largest goes multipart with aws' 8 MiB parts).
AWS_SIZES = [0, 1, 5 * MiB + 1, 100 * MiB]
AWS_PART = 8 * MiB
# Ranges read from the 5 MiB + 1 object: header value -> Python slice of the data.
AWS_RANGES = [
    ("bytes=0-0", slice(0, 1)),
    ("bytes=100-199", slice(100, 200)),
    ("bytes=-10", slice(-10, None)),
    ("bytes=5-", slice(5, None)),
    # across a chunk boundary of the object format (32 KiB chunks by default)
    ("bytes=32700-32900", slice(32700, 32901)),
    # the last byte, and a range running past the end (clamped, as S3)
    ("bytes=5242880-5242880", slice(5242880, 5242881)),
    ("bytes=5242000-9999999", slice(5242000, None)),
]
# Ranges of the 100 MiB (multipart) object: across aws' part boundaries.
AWS_BIG_RANGES = [
    ("bytes=8388000-8389000", slice(8388000, 8389001)),
    ("bytes=-1", slice(-1, None)),
]
MANY = 1100  # keys for the pagination checks


class Fail(Exception):
    """A check's expectation was not met."""


class GlobalTimeout(BaseException):
    """The run's time limit passed (raised from SIGALRM)."""


def short(x, n=300):
    s = repr(x)
    return s if len(s) <= n else s[:n] + "...(%d chars)" % len(s)


def expect(cond, msg):
    if not cond:
        raise Fail(msg)


def expect_eq(got, want, what):
    if got != want:
        raise Fail("%s: got %s, want %s" % (what, short(got), short(want)))


def sha256(b):
    return hashlib.sha256(b).hexdigest()


def file_sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(MiB)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def etag_single(data):
    return '"%s"' % hashlib.md5(data).hexdigest()


def etag_multipart(parts):
    d = b"".join(hashlib.md5(p).digest() for p in parts)
    return '"%s-%d"' % (hashlib.md5(d).hexdigest(), len(parts))


def split_parts(data, size):
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


def rbytes(n, seed):
    return random.Random(seed).randbytes(n)


# ---- TAP ------------------------------------------------------------------


class Report:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def plan(self, n):
        print("1..%d" % n, flush=True)

    def emit(self, ok, name, diag):
        self.n += 1
        name = name.replace("#", "No.").replace("\n", " ")
        print("%s %d - %s" % ("ok" if ok else "not ok", self.n, name))
        if not ok:
            self.failed += 1
            lines = (diag or "failed").splitlines()
            for line in lines[:60]:
                print("# " + line)
            if len(lines) > 60:
                print("# ... (%d more lines)" % (len(lines) - 60))
        sys.stdout.flush()


class Phase:
    """The checks of one phase: declared up front (so the plan is known
    before anything runs), reported in declaration order."""

    def __init__(self, names):
        self.names = list(names)
        if len(set(self.names)) != len(self.names):
            raise RuntimeError("duplicate check names in a phase")
        self.res = {}

    def _take(self, name):
        if name not in self.names:
            raise RuntimeError("undeclared check %r" % name)
        if name in self.res:
            raise RuntimeError("check %r recorded twice" % name)

    @contextlib.contextmanager
    def case(self, name):
        """with ph.case(name): body -- ok unless the body raises."""
        self._take(name)
        try:
            yield
        except Fail as e:
            self.res[name] = (False, str(e))
        except Exception as e:  # a client error, a timeout, a bug: a failure of this check
            self.res[name] = (False, "%s: %s\n%s" % (type(e).__name__, e,
                                                     "".join(traceback.format_tb(e.__traceback__)[-3:])))
        else:
            self.res[name] = (True, "")


# ---- subprocesses ---------------------------------------------------------


class Ctx:
    pass


CTX = Ctx()
CTX.deadline = time.monotonic() + RUN_LIMIT


def remaining():
    return CTX.deadline - time.monotonic()


class Proc:
    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    def text(self):
        return self.out.decode("utf-8", "replace")

    def etext(self):
        return self.err.decode("utf-8", "replace")

    def why(self):
        return "%s exited %s\nstdout: %s\nstderr: %s" % (
            " ".join(self.argv[:8]), self.rc, self.text()[-1500:], self.etext()[-1500:])


def run(argv, timeout=60, env=None, stdin_data=None):
    t = max(1.0, min(timeout, remaining()))
    p = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                         start_new_session=True)
    try:
        out, err = p.communicate(stdin_data, timeout=t)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        raise Fail("timed out after %.0f s: %s" % (t, " ".join(argv[:8])))
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        raise
    return Proc(argv, p.returncode, out, err)


def tool(name):
    """$CS_IT_<NAME> if set, else the Debian tool (/usr/bin), else the first on PATH."""
    if os.environ.get("CS_IT_" + name.upper()):
        return os.environ["CS_IT_" + name.upper()]
    for p in ("/usr/bin/" + name, "/bin/" + name):
        if os.access(p, os.X_OK):
            return p
    return shutil.which(name)


# ---- the server ------------------------------------------------------------


class Server:
    def __init__(self, binary, base):
        self.binary = binary
        self.d = os.path.join(base, "srv")
        os.mkdir(self.d, 0o700)
        self.log = os.path.join(base, "server.log")
        self.out = os.path.join(base, "server.out")
        self.proc = None
        self.port = None
        self.creds = {}
        self.starts = 0
        self.last_rc = "not started"

    def argv(self):
        d = self.d
        return [self.binary, "--data-dir", d + "/data", "--keys-dir", d + "/keys",
                "--root-key", d + "/root.key", "--port", "0", "--port-file", d + "/port",
                "--credentials-file", d + "/creds", "--init-demo", "true", "--sync", "false",
                "--admin-socket", d + "/admin.sock", "--audit-dir", d + "/audit",
                "--log-level", os.environ.get("CS_IT_LOG_LEVEL", "info")] + \
            shlex.split(os.environ.get("CS_IT_SERVER_ARGS", ""))

    def start(self, timeout=30):
        for f in ("port", "creds"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.d, f))
        self.starts += 1
        with open(self.log, "ab") as log, open(self.out, "ab") as out:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=out,
                                         stderr=log)
        portfile = os.path.join(self.d, "port")
        end = time.monotonic() + timeout
        while True:
            if os.path.exists(portfile):
                with open(portfile) as f:
                    txt = f.read().strip()
                if txt.isdigit():
                    break
            if self.proc.poll() is not None:
                raise Fail("cryptstored exited with status %s during start-up\n%s" %
                           (self.proc.returncode, self.log_tail()))
            if time.monotonic() > end:
                raise Fail("no port file after %d s\n%s" % (timeout, self.log_tail()))
            time.sleep(0.05)
        self.port = int(txt)
        self.creds = {}
        with open(os.path.join(self.d, "creds")) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3:
                    self.creds[parts[0]] = (parts[1], parts[2])
        return self.port

    def stop(self, timeout=30):
        """SIGTERM and wait; the exit status, or None if it had to be killed."""
        if self.proc is None:
            return None
        p, self.proc = self.proc, None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
                self.last_rc = "killed after %d s" % timeout
                return None
        self.last_rc = p.returncode
        return p.returncode

    def log_text(self):
        try:
            with open(self.log, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=25):
        return "server log (last lines):\n" + "\n".join(self.log_text().splitlines()[-n:])


# ---- clients ----------------------------------------------------------------


def boto(level, secret=None, akid=None, pool=16, read_timeout=60):
    """A boto3 S3 client acting with the demo key of a session level (no retries)."""
    import boto3
    from botocore.config import Config

    a, s = CTX.srv.creds[level] if level else (None, None)
    key = (level, secret, akid, CTX.srv.port, pool, read_timeout)
    if key in CTX.clients:
        return CTX.clients[key]
    cfg = Config(signature_version="s3v4", s3={"addressing_style": "path"},
                 retries={"total_max_attempts": 1, "mode": "standard"}, connect_timeout=10,
                 read_timeout=read_timeout, max_pool_connections=pool)
    c = boto3.session.Session().client(
        "s3", endpoint_url=CTX.url, region_name=REGION, aws_access_key_id=akid or a,
        aws_secret_access_key=secret or s, config=cfg)
    CTX.clients[key] = c
    return c


def err_of(e):
    """(code, status) of a botocore ClientError."""
    r = getattr(e, "response", {}) or {}
    return r.get("Error", {}).get("Code"), r.get("ResponseMetadata", {}).get("HTTPStatusCode")


def expect_error(fn, status, code=None, **kw):
    from botocore.exceptions import ClientError

    try:
        fn(**kw)
    except ClientError as e:
        c, s = err_of(e)
        if s != status or (code is not None and c != code):
            raise Fail("expected %s %s, got %s %s: %s" % (status, code or "", s, c, e))
        return e
    raise Fail("expected %s %s, but the request succeeded" % (status, code or ""))


def expect_recent(dt, what):
    """A LastModified (datetime) within the run, give or take a minute."""
    t = dt.timestamp()
    expect(CTX.t_start - 60 <= t <= time.time() + 60,
           "%s: %s is not within this run" % (what, dt.isoformat()))


def get_bytes(c, bucket, key, **kw):
    r = c.get_object(Bucket=bucket, Key=key, **kw)
    return r, r["Body"].read()


def keep(bucket, key, data, etag, level, meta=None, ctype=None):
    """Remember an object the restart must find again, bit-exact."""
    CTX.keep[(bucket, key)] = dict(level=level, sha=sha256(data), size=len(data), etag=etag,
                                   meta=meta, ctype=ctype)


def aws_setup(base):
    home = os.path.join(base, "home")
    os.makedirs(os.path.join(home, ".aws"), 0o700)
    cfg = os.path.join(home, ".aws", "config")
    cred = os.path.join(home, ".aws", "credentials")
    with open(cfg, "w") as f:
        for lv in LEVELS + ["wrong"]:
            f.write("[profile %s]\nregion = %s\noutput = json\ncli_pager =\n"
                    "retry_mode = standard\nmax_attempts = 1\n"
                    "s3 =\n    addressing_style = path\n\n" % (lv, REGION))
    write_aws_credentials(cred)
    env = {k: v for k, v in os.environ.items()
           if not k.upper().startswith(("AWS_", "BOTO_", "S3CMD")) and "PROXY" not in k.upper()}
    env.update(HOME=home, AWS_CONFIG_FILE=cfg, AWS_SHARED_CREDENTIALS_FILE=cred,
               AWS_PAGER="", AWS_EC2_METADATA_DISABLED="true", LC_ALL="C.UTF-8",
               LANG="C.UTF-8", PYTHONIOENCODING="utf-8")
    CTX.home, CTX.aws_cred, CTX.env = home, cred, env


def write_aws_credentials(path):
    with open(path, "w") as f:
        for lv in LEVELS:
            a, s = CTX.srv.creds[lv]
            f.write("[%s]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n" % (lv, a, s))
        a, s = CTX.srv.creds["s1"]
        f.write("[wrong]\naws_access_key_id = %s\naws_secret_access_key = %s\n\n" %
                (a, s[:-4] + ("AAAA" if s[-4:] != "AAAA" else "BBBB")))
    os.chmod(path, 0o600)


def aws(level, *args, timeout=60):
    return run([CTX.aws_bin, "--profile", level, "--endpoint-url", CTX.url] + list(args),
               timeout=timeout, env=CTX.env)


def aws_ok(level, *args, timeout=60):
    p = aws(level, *args, timeout=timeout)
    if p.rc != 0:
        raise Fail(p.why())
    return p


def aws_json(level, *args, timeout=60):
    p = aws_ok(level, *args, timeout=timeout)
    return json.loads(p.text() or "{}")


def parse_aws_ls(text):
    """`aws s3 ls` of objects: ({prefix}, {name: size})."""
    pre, objs = set(), {}
    for line in text.splitlines():
        if not line.strip():
            continue
        f = line.split(None, 3)
        if len(f) == 2 and f[0] == "PRE":
            pre.add(f[1])
        elif len(f) == 4:
            if f[3] in objs:
                raise Fail("aws s3 ls listed %r twice" % f[3])
            objs[f[3]] = int(f[2])
        else:
            raise Fail("unexpected aws s3 ls line %r" % line)
    return pre, objs


def write_file(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


# ---- phases -------------------------------------------------------------------
# Each phase is (title, names, function).  names lists its checks; the
# function records exactly those.


def names_start():
    return ["cryptstored starts: port file, demo credentials for s0..s3, levels' buckets exist"]


def phase_start(ph):
    with ph.case(names_start()[0]):
        CTX.srv.start()
        CTX.url = "http://127.0.0.1:%d" % CTX.srv.port
        expect_eq(sorted(CTX.srv.creds), LEVELS, "levels in the credentials file")
        aws_setup(CTX.base)
        names = {b["Name"] for b in boto("s3").list_buckets()["Buckets"]}
        expect_eq(names, {"level-" + lv for lv in LEVELS}, "buckets seen by the s3 key")


# -- canary


def names_canary():
    return ["canary: a 1 MiB object of a seeded pattern uploaded to level-s3 and read back"]


def phase_canary(ph):
    CTX.canary = rbytes(MiB, CANARY_SEED)
    CTX.canary_name = "canary-ZQXJ-%s.bin" % os.urandom(6).hex()
    with ph.case(names_canary()[0]):
        c = boto("s3")
        r = c.put_object(Bucket="level-s3", Key=CTX.canary_name, Body=CTX.canary,
                         Metadata={"canary": "yes"})
        expect_eq(r["ETag"], etag_single(CTX.canary), "ETag")
        _, got = get_bytes(c, "level-s3", CTX.canary_name)
        expect_eq(sha256(got), sha256(CTX.canary), "SHA-256 read back")
        keep("level-s3", CTX.canary_name, CTX.canary, etag_single(CTX.canary), "s3")


# -- MLS


MLS_OPS = [
    ("list", "ListObjectsV2", "GET", True),
    ("headbucket", "HeadBucket", "HEAD", True),
    ("get", "GetObject", "GET", True),
    ("head", "HeadObject", "HEAD", True),
    ("put", "PutObject", "PUT", False),
    ("delete", "DeleteObject", "DELETE", False),
    ("multipart", "CreateMultipartUpload", "POST", False),
]


def mls_allowed(L, B, read):
    return L >= B if read else L == B  # s0..s3 without categories: dominance is >=


def mls_name(L, B, op):
    _, opname, method, read = next(o for o in MLS_OPS if o[0] == op)
    if mls_allowed(L, B, read):
        verdict = "allowed"
    else:
        verdict = "denied, 403" + ("" if method == "HEAD" else " AccessDenied")
    return "MLS: %s key on level-%s: %s %s" % (L, B, opname, verdict)


def names_mls():
    n = []
    for L in LEVELS:
        for B in LEVELS:
            for op in MLS_OPS:
                n.append(mls_name(L, B, op[0]))
    for L in LEVELS:
        n.append("MLS: ListBuckets with the %s key shows exactly level-s0..level-%s" % (L, L))
    n.append("MLS: every denial above left a DENY line in the server log")
    return n


def phase_mls(ph):
    seeds = {}
    for B in LEVELS:
        c = boto(B)
        seeds[B] = ("seed of level-%s\n" % B).encode() + os.urandom(200)
        c.put_object(Bucket="level-" + B, Key="mls/seed", Body=seeds[B])
        for L in LEVELS:
            c.put_object(Bucket="level-" + B, Key="mls/victim-" + L, Body=b"victim " + L.encode())
    denials = []
    for L in LEVELS:
        c = boto(L)
        for B in LEVELS:
            bucket = "level-" + B
            owner = boto(B)
            for op, opname, method, read in MLS_OPS:
                ok = mls_allowed(L, B, read)
                with ph.case(mls_name(L, B, op)):
                    if not ok:
                        denials.append((L, method, bucket))
                    if op == "list":
                        if ok:
                            r = c.list_objects_v2(Bucket=bucket, Prefix="mls/")
                            keys = [o["Key"] for o in r.get("Contents", [])]
                            expect("mls/seed" in keys, "mls/seed not listed: %s" % keys)
                        else:
                            expect_error(c.list_objects_v2, 403, "AccessDenied", Bucket=bucket,
                                         Prefix="mls/")
                    elif op == "headbucket":
                        if ok:
                            c.head_bucket(Bucket=bucket)
                        else:
                            expect_error(c.head_bucket, 403, Bucket=bucket)
                    elif op == "get":
                        if ok:
                            _, got = get_bytes(c, bucket, "mls/seed")
                            expect_eq(got, seeds[B], "content of mls/seed")
                        else:
                            e = expect_error(c.get_object, 403, "AccessDenied", Bucket=bucket,
                                             Key="mls/seed")
                            body = json.dumps(e.response, default=str)
                            expect(seeds[B][:16].decode() not in body, "denial leaks content")
                    elif op == "head":
                        if ok:
                            r = c.head_object(Bucket=bucket, Key="mls/seed")
                            expect_eq(r["ContentLength"], len(seeds[B]), "ContentLength")
                        else:
                            e = expect_error(c.head_object, 403, Bucket=bucket, Key="mls/seed")
                            h = e.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
                            expect("etag" not in h, "a denied HEAD returned the object's ETag")
                    elif op == "put":
                        key = "mls/put-by-" + L
                        body = ("written by %s\n" % L).encode()
                        if ok:
                            c.put_object(Bucket=bucket, Key=key, Body=body)
                            _, got = get_bytes(owner, bucket, key)
                            expect_eq(got, body, "content read back by the owner")
                        else:
                            expect_error(c.put_object, 403, "AccessDenied", Bucket=bucket,
                                         Key=key, Body=body)
                            expect_error(owner.head_object, 404, Bucket=bucket, Key=key)
                    elif op == "delete":
                        key = "mls/victim-" + L
                        if ok:
                            c.delete_object(Bucket=bucket, Key=key)
                            expect_error(owner.head_object, 404, Bucket=bucket, Key=key)
                        else:
                            expect_error(c.delete_object, 403, "AccessDenied", Bucket=bucket,
                                         Key=key)
                            r = owner.head_object(Bucket=bucket, Key=key)
                            expect_eq(r["ContentLength"], len(b"victim " + L.encode()),
                                      "victim after the denied delete")
                    elif op == "multipart":
                        key = "mls/mpu-by-" + L
                        if ok:
                            r = c.create_multipart_upload(Bucket=bucket, Key=key)
                            c.abort_multipart_upload(Bucket=bucket, Key=key,
                                                     UploadId=r["UploadId"])
                        else:
                            expect_error(c.create_multipart_upload, 403, "AccessDenied",
                                         Bucket=bucket, Key=key)
    for L in LEVELS:
        with ph.case("MLS: ListBuckets with the %s key shows exactly level-s0..level-%s" % (L, L)):
            names = sorted(b["Name"] for b in boto(L).list_buckets()["Buckets"])
            expect_eq(names, ["level-" + B for B in LEVELS if B <= L], "buckets")
    with ph.case("MLS: every denial above left a DENY line in the server log"):
        time.sleep(0.2)
        found = {}
        for line in CTX.srv.log_text().splitlines():
            m = re.search(r"\bDENY \S+ user=(\S+) level=(\S+) (\S+) (/[^/?\s:]*)", line)
            if m:
                k = (m.group(2), m.group(3), m.group(4)[1:])
                found[k] = found.get(k, 0) + 1
        want = {}
        for d in denials:
            want[d] = want.get(d, 0) + 1
        missing = ["%s %s %s: %d logged, %d denied" % (k + (found.get(k, 0), n))
                   for k, n in sorted(want.items()) if found.get(k, 0) < n]
        expect(not missing, "denials without DENY lines:\n" + "\n".join(missing))
        expect(len(denials) > 0, "no denials were made")


# -- signatures


SIG_NAMES = [
    "signature: a wrong secret key -> 403 SignatureDoesNotMatch (ListObjectsV2)",
    "signature: a wrong secret key -> 403 SignatureDoesNotMatch (PutObject), nothing written",
    "signature: aws-cli with a wrong secret key fails with SignatureDoesNotMatch",
    "signature: an unknown access key -> 403 InvalidAccessKeyId",
    "signature: a Signature Version 2 presigned URL -> 400 InvalidRequest naming Signature Version 4",
]


def phase_sig(ph):
    a, s = CTX.srv.creds["s1"]
    bad = s[:-4] + ("AAAA" if s[-4:] != "AAAA" else "BBBB")
    c = boto("s1", secret=bad)
    with ph.case(SIG_NAMES[0]):
        expect_error(c.list_objects_v2, 403, "SignatureDoesNotMatch", Bucket="level-s1")
    with ph.case(SIG_NAMES[1]):
        expect_error(c.put_object, 403, "SignatureDoesNotMatch", Bucket="level-s1",
                     Key="sig/should-not-exist", Body=b"x" * 1000)
        expect_error(boto("s1").head_object, 404, Bucket="level-s1", Key="sig/should-not-exist")
    with ph.case(SIG_NAMES[2]):
        p = aws("wrong", "s3", "ls", "s3://level-s1/")
        expect(p.rc != 0, "aws s3 ls with a wrong secret succeeded:\n" + p.text()[:500])
        expect("SignatureDoesNotMatch" in p.etext(), "stderr: " + p.etext()[-800:])
    with ph.case(SIG_NAMES[3]):
        c2 = boto("s1", akid="CSNOSUCHKEY000000000")
        expect_error(c2.list_objects_v2, 403, "InvalidAccessKeyId", Bucket="level-s1")
    with ph.case(SIG_NAMES[4]):
        import botocore.config
        import boto3
        v2 = boto3.session.Session().client(
            "s3", endpoint_url=CTX.url, aws_access_key_id=a, aws_secret_access_key=s,
            region_name=REGION, config=botocore.config.Config(signature_version="s3",
                                                              s3={"addressing_style": "path"}))
        url = v2.generate_presigned_url("get_object", Params={"Bucket": "level-s1", "Key": "x"},
                                        ExpiresIn=300)
        expect("AWSAccessKeyId=" in url, "not a V2 URL: " + url)
        p = curl("-s", "-o", "-", "-w", "\n%{http_code}", url)
        expect(p.text().rstrip().endswith("400"), "curl: " + p.text()[-300:])
        expect("InvalidRequest" in p.text() and "Signature Version 4" in p.text(),
               "body: " + p.text()[:300])


# -- aws-cli


def aws_key(n):
    return "aws/obj-%d" % n


def names_aws():
    n = []
    for sz in AWS_SIZES:
        n.append("aws s3 cp: %d B up and down, SHA-256 equal" % sz)
        n.append("aws s3api head-object: %d B object's size and ETag" % sz)
    for rng, _ in AWS_RANGES:
        n.append("aws s3api get-object --range %s of the 5 MiB+1 object: the right bytes" % rng)
    for rng, _ in AWS_BIG_RANGES:
        n.append("aws s3api get-object --range %s of the 100 MiB multipart object" % rng)
    n += [
        "aws s3api get-object: unsatisfiable range fails with InvalidRange",
        "boto3 get_object: unsatisfiable range -> 416 InvalidRange",
        "aws s3api put-object overwrites the 5 MiB+1 object with 12345 B; reads back the new bytes",
        "aws s3 rm deletes; head-object then fails with 404 and ls no longer shows it",
        "aws s3 ls s3://level-s1/aws/: PRE dir1/, dir2/ and the objects with their sizes",
        "aws s3 ls s3://level-s1/aws/dir1/: exactly a and b",
        "aws s3 ls s3://level-s1/aws/obj-1 (a partial name): exactly obj-1 and obj-104857600",
        "aws s3 ls --recursive s3://level-s1/aws/: every key",
        "aws s3 ls: the s1 key sees exactly level-s0 and level-s1",
        "aws s3 cp --recursive: a directory tree up and back down, every file SHA-256 equal",
        "aws s3 sync of the unchanged tree transfers nothing",
        "aws s3 rm --recursive removes every key of the tree",
    ]
    return n


def phase_aws(ph):
    tmp = os.path.join(CTX.base, "aws")
    os.mkdir(tmp)
    datas = {}
    for sz in AWS_SIZES:
        data = rbytes(sz, 1000 + sz)
        datas[sz] = data
        src = write_file(os.path.join(tmp, "src-%d" % sz), data)
        dst = os.path.join(tmp, "dst-%d" % sz)
        with ph.case("aws s3 cp: %d B up and down, SHA-256 equal" % sz):
            t = 150 if sz >= 50 * MiB else 60
            aws_ok("s1", "s3", "cp", "--no-progress", src, "s3://level-s1/" + aws_key(sz), timeout=t)
            aws_ok("s1", "s3", "cp", "--no-progress", "s3://level-s1/" + aws_key(sz), dst, timeout=t)
            expect_eq(os.path.getsize(dst), sz, "downloaded size")
            expect_eq(file_sha256(dst), sha256(data), "SHA-256 of the download")
        for f in (src, dst):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f)
        etag = etag_single(data) if sz < AWS_PART else etag_multipart(split_parts(data, AWS_PART))
        with ph.case("aws s3api head-object: %d B object's size and ETag" % sz):
            h = aws_json("s1", "s3api", "head-object", "--bucket", "level-s1", "--key", aws_key(sz))
            expect_eq(h.get("ContentLength"), sz, "ContentLength")
            expect_eq(h.get("ETag"), etag, "ETag")
            if sz != 5 * MiB + 1:
                keep("level-s1", aws_key(sz), data, etag, "s1")
    mid = datas[5 * MiB + 1]
    for rng, sl in AWS_RANGES:
        with ph.case("aws s3api get-object --range %s of the 5 MiB+1 object: the right bytes" % rng):
            out = os.path.join(tmp, "range")
            r = aws_json("s1", "s3api", "get-object", "--bucket", "level-s1", "--key",
                         aws_key(5 * MiB + 1), "--range", rng, out)
            with open(out, "rb") as f:
                got = f.read()
            want = mid[sl]
            expect_eq(len(got), len(want), "length")
            expect_eq(sha256(got), sha256(want), "SHA-256 of the range")
            start = (sl.start if sl.start is None or sl.start >= 0 else len(mid) + sl.start) or 0
            expect_eq(r.get("ContentRange"), "bytes %d-%d/%d" % (start, start + len(want) - 1, len(mid)),
                      "ContentRange")
            expect_eq(r.get("ContentLength"), len(want), "ContentLength")
    big = datas[100 * MiB]
    for rng, sl in AWS_BIG_RANGES:
        with ph.case("aws s3api get-object --range %s of the 100 MiB multipart object" % rng):
            out = os.path.join(tmp, "range")
            aws_json("s1", "s3api", "get-object", "--bucket", "level-s1", "--key",
                     aws_key(100 * MiB), "--range", rng, out)
            with open(out, "rb") as f:
                got = f.read()
            expect_eq(sha256(got), sha256(big[sl]), "SHA-256 of the range (%d B, want %d B)" %
                      (len(got), len(big[sl])))
    del big
    with ph.case("aws s3api get-object: unsatisfiable range fails with InvalidRange"):
        p = aws("s1", "s3api", "get-object", "--bucket", "level-s1", "--key", aws_key(5 * MiB + 1),
                "--range", "bytes=%d-" % len(mid), os.path.join(tmp, "range416"))
        expect(p.rc != 0, "aws succeeded")
        expect("InvalidRange" in p.etext(), "stderr: " + p.etext()[-500:])
    with ph.case("boto3 get_object: unsatisfiable range -> 416 InvalidRange"):
        expect_error(boto("s1").get_object, 416, "InvalidRange", Bucket="level-s1",
                     Key=aws_key(5 * MiB + 1), Range="bytes=%d-%d" % (len(mid), len(mid) + 10))
    with ph.case("aws s3api put-object overwrites the 5 MiB+1 object with 12345 B; reads back the new bytes"):
        new = rbytes(12345, 77)
        src = write_file(os.path.join(tmp, "new"), new)
        r = aws_json("s1", "s3api", "put-object", "--bucket", "level-s1", "--key",
                     aws_key(5 * MiB + 1), "--body", src)
        expect_eq(r.get("ETag"), etag_single(new), "ETag of the PUT")
        out = os.path.join(tmp, "new-back")
        r = aws_json("s1", "s3api", "get-object", "--bucket", "level-s1", "--key",
                     aws_key(5 * MiB + 1), out)
        expect_eq(r.get("ContentLength"), len(new), "ContentLength")
        expect_eq(file_sha256(out), sha256(new), "SHA-256 after the overwrite")
        h = aws_json("s1", "s3api", "head-object", "--bucket", "level-s1", "--key", aws_key(5 * MiB + 1))
        expect_eq(h.get("ETag"), etag_single(new), "ETag by head-object")
        keep("level-s1", aws_key(5 * MiB + 1), new, etag_single(new), "s1")
    for k in ("aws/dir1/a", "aws/dir1/b", "aws/dir2/c", "aws/to-delete"):
        boto("s1").put_object(Bucket="level-s1", Key=k, Body=k.encode())
    with ph.case("aws s3 rm deletes; head-object then fails with 404 and ls no longer shows it"):
        aws_ok("s1", "s3", "rm", "s3://level-s1/aws/to-delete")
        p = aws("s1", "s3api", "head-object", "--bucket", "level-s1", "--key", "aws/to-delete")
        expect(p.rc != 0 and ("404" in p.etext() or "Not Found" in p.etext()),
               "head-object after rm: " + p.why())
        _, objs = parse_aws_ls(aws_ok("s1", "s3", "ls", "s3://level-s1/aws/").text())
        expect("to-delete" not in objs, "still listed: %s" % sorted(objs))
    top = {"obj-%d" % sz: sz for sz in AWS_SIZES}
    top["obj-%d" % (5 * MiB + 1)] = 12345
    with ph.case("aws s3 ls s3://level-s1/aws/: PRE dir1/, dir2/ and the objects with their sizes"):
        pre, objs = parse_aws_ls(aws_ok("s1", "s3", "ls", "s3://level-s1/aws/").text())
        expect_eq(pre, {"dir1/", "dir2/"}, "PRE lines")
        expect_eq(objs, top, "objects")
    with ph.case("aws s3 ls s3://level-s1/aws/dir1/: exactly a and b"):
        pre, objs = parse_aws_ls(aws_ok("s1", "s3", "ls", "s3://level-s1/aws/dir1/").text())
        expect_eq((pre, objs), (set(), {"a": 10, "b": 10}), "listing")
    with ph.case("aws s3 ls s3://level-s1/aws/obj-1 (a partial name): exactly obj-1 and obj-104857600"):
        pre, objs = parse_aws_ls(aws_ok("s1", "s3", "ls", "s3://level-s1/aws/obj-1").text())
        expect_eq((pre, objs), (set(), {"obj-1": 1, "obj-104857600": 100 * MiB}), "listing")
    with ph.case("aws s3 ls --recursive s3://level-s1/aws/: every key"):
        pre, objs = parse_aws_ls(aws_ok("s1", "s3", "ls", "--recursive", "s3://level-s1/aws/").text())
        want = {"aws/" + k: v for k, v in top.items()}
        want.update({"aws/dir1/a": 10, "aws/dir1/b": 10, "aws/dir2/c": 10})
        expect_eq((pre, objs), (set(), want), "listing")
    with ph.case("aws s3 ls: the s1 key sees exactly level-s0 and level-s1"):
        lines = [ln.split(None, 2) for ln in aws_ok("s1", "s3", "ls").text().splitlines() if ln.strip()]
        expect_eq(sorted(f[2] for f in lines if len(f) == 3), ["level-s0", "level-s1"], "buckets")
    tree = os.path.join(tmp, "tree")
    files = {"a.txt": b"alpha\n", "name with space.txt": b"spaced\n", "sub/b.bin": rbytes(100 * 1024, 9),
             "sub/deeper/c": b"", "sub/deeper/\u00e9t\u00e9.txt": "\u00e9t\u00e9".encode()}
    for i in range(20):
        files["many/f%02d" % i] = rbytes(i * 997, 500 + i)
    for rel, data in files.items():
        os.makedirs(os.path.dirname(os.path.join(tree, rel)), exist_ok=True)
        write_file(os.path.join(tree, rel), data)

    def tree_of(root):
        out = {}
        for dp, _, fns in os.walk(root):
            for fn in fns:
                path = os.path.join(dp, fn)
                out[os.path.relpath(path, root)] = file_sha256(path)
        return out

    with ph.case("aws s3 cp --recursive: a directory tree up and back down, every file SHA-256 equal"):
        aws_ok("s1", "s3", "cp", "--recursive", "--no-progress", tree, "s3://level-s1/tree/", timeout=90)
        back = os.path.join(tmp, "back")
        aws_ok("s1", "s3", "cp", "--recursive", "--no-progress", "s3://level-s1/tree/", back, timeout=90)
        expect_eq(tree_of(back), {k: sha256(v) for k, v in files.items()}, "downloaded tree")
    with ph.case("aws s3 sync of the unchanged tree transfers nothing"):
        p = aws_ok("s1", "s3", "sync", "--no-progress", tree, "s3://level-s1/tree/", timeout=90)
        expect_eq(p.text().strip(), "", "aws s3 sync output")
    with ph.case("aws s3 rm --recursive removes every key of the tree"):
        aws_ok("s1", "s3", "rm", "--recursive", "s3://level-s1/tree/", timeout=90)
        r = boto("s1").list_objects_v2(Bucket="level-s1", Prefix="tree/")
        expect_eq([o["Key"] for o in r.get("Contents", [])], [], "keys left")
    shutil.rmtree(tmp, ignore_errors=True)


# -- listings


LIST_NAMES = [
    "listing: %d PUTs through a boto3 thread pool succeed" % MANY,
    "listing: aws s3 ls --recursive returns exactly the %d keys" % MANY,
    "listing: ListObjectsV2 paginator (1000 a page) returns every key once, in order, with sizes and ETags",
    "listing: ListObjectsV2 paginator with 300 a page: 4 pages, every key once",
    "listing: ListObjectsV2 first page: 1000 keys, IsTruncated, a NextContinuationToken",
    "listing: ListObjects v1 marker pagination (400 a page): every key once, in order",
    "listing: ListObjects v1 without max-keys: 1000 keys and IsTruncated",
    "listing: prefix dl/ + delimiter / (v2): prefixes dl/a/, dl/b/ and key dl/c",
    "listing: prefix dl/ + delimiter / (v1): prefixes dl/a/, dl/b/ and key dl/c",
    "listing: delimiter with max-keys 1 pages through dl/a/, dl/b/, dl/c",
    "listing: delimiter / at the bucket's root agrees with the full listing",
    "listing: start-after many/k0999 returns exactly k1000..k%04d" % (MANY - 1),
    "listing: start-after a name between keys (many/k0999zz) returns the same",
    "listing: max-keys 7: 7 keys, KeyCount 7, IsTruncated; the next page continues at k0007",
    "listing: keys with spaces, UTF-8, +, %, &, = round-trip through PUT, LIST (url encoding) and GET",
]


def list_all_v2(c, bucket, **kw):
    pages = list(c.get_paginator("list_objects_v2").paginate(Bucket=bucket, **kw))
    return pages, [o for p in pages for o in p.get("Contents", [])]


def phase_list(ph):
    c = boto("s2")
    bucket = "level-s2"
    keys = ["many/k%04d" % i for i in range(MANY)]
    bodies = {k: ("body of %s" % k).encode() for k in keys}
    with ph.case(LIST_NAMES[0]):
        def put(k):
            c.put_object(Bucket=bucket, Key=k, Body=bodies[k])
        ex = concurrent.futures.ThreadPoolExecutor(8)
        try:
            errs = [f.exception() for f in [ex.submit(put, k) for k in keys]]
        finally:
            ex.shutdown(wait=False, cancel_futures=True)
        bad = [repr(e) for e in errs if e is not None]
        expect(not bad, "%d PUTs failed, first: %s" % (len(bad), bad[:3]))
    with ph.case(LIST_NAMES[1]):
        pre, objs = parse_aws_ls(aws_ok("s2", "s3", "ls", "--recursive", "s3://level-s2/many/").text())
        expect_eq(len(objs), MANY, "number of keys")
        expect_eq(sorted(objs), keys, "keys")
        expect_eq(objs, {k: len(bodies[k]) for k in keys}, "sizes")
    with ph.case(LIST_NAMES[2]):
        pages, objs = list_all_v2(c, bucket, Prefix="many/")
        got = [o["Key"] for o in objs]
        expect_eq(len(got), MANY, "number of keys")
        expect_eq(got, keys, "keys in order")
        expect(len(pages) >= 2, "only %d page(s)" % len(pages))
        for o in objs:
            expect_eq((o["Size"], o["ETag"]), (len(bodies[o["Key"]]), etag_single(bodies[o["Key"]])),
                      "size and ETag of " + o["Key"])
            expect_recent(o["LastModified"], "LastModified of " + o["Key"])
        CTX.many_listing = [(o["Key"], o["Size"], o["ETag"]) for o in objs]
    with ph.case(LIST_NAMES[3]):
        pages, objs = list_all_v2(c, bucket, Prefix="many/", PaginationConfig={"PageSize": 300})
        expect_eq([p.get("KeyCount") for p in pages], [300, 300, 300, MANY - 900], "KeyCount of each page")
        expect_eq([o["Key"] for o in objs], keys, "keys")
    with ph.case(LIST_NAMES[4]):
        r = c.list_objects_v2(Bucket=bucket, Prefix="many/")
        expect_eq((len(r.get("Contents", [])), r.get("KeyCount"), r.get("IsTruncated")),
                  (1000, 1000, True), "(contents, KeyCount, IsTruncated)")
        expect(r.get("NextContinuationToken"), "no NextContinuationToken")
        r2 = c.list_objects_v2(Bucket=bucket, Prefix="many/",
                               ContinuationToken=r["NextContinuationToken"])
        expect_eq([o["Key"] for o in r2.get("Contents", [])], keys[1000:], "second page")
        expect_eq(r2.get("IsTruncated"), False, "IsTruncated of the last page")
    with ph.case(LIST_NAMES[5]):
        got, marker, pages = [], "", 0
        while True:
            r = c.list_objects(Bucket=bucket, Prefix="many/", MaxKeys=400, Marker=marker)
            pages += 1
            page = [o["Key"] for o in r.get("Contents", [])]
            got += page
            if not r.get("IsTruncated"):
                break
            expect(page, "truncated page without keys")
            marker = r.get("NextMarker") or page[-1]
            expect(pages < 10, "too many pages")
        expect_eq(pages, 3, "pages")
        expect_eq(got, keys, "keys")
    with ph.case(LIST_NAMES[6]):
        r = c.list_objects(Bucket=bucket, Prefix="many/")
        expect_eq((len(r.get("Contents", [])), r.get("IsTruncated")), (1000, True), "(keys, IsTruncated)")
    for k in ("dl/a/1", "dl/a/2", "dl/b/1", "dl/c"):
        c.put_object(Bucket=bucket, Key=k, Body=k.encode())
    with ph.case(LIST_NAMES[7]):
        r = c.list_objects_v2(Bucket=bucket, Prefix="dl/", Delimiter="/")
        expect_eq([p["Prefix"] for p in r.get("CommonPrefixes", [])], ["dl/a/", "dl/b/"], "CommonPrefixes")
        expect_eq([o["Key"] for o in r.get("Contents", [])], ["dl/c"], "Contents")
        expect_eq(r.get("KeyCount"), 3, "KeyCount")
    with ph.case(LIST_NAMES[8]):
        r = c.list_objects(Bucket=bucket, Prefix="dl/", Delimiter="/")
        expect_eq([p["Prefix"] for p in r.get("CommonPrefixes", [])], ["dl/a/", "dl/b/"], "CommonPrefixes")
        expect_eq([o["Key"] for o in r.get("Contents", [])], ["dl/c"], "Contents")
    with ph.case(LIST_NAMES[9]):
        seq, tok = [], None
        for _ in range(6):
            kw = {"ContinuationToken": tok} if tok else {}
            r = c.list_objects_v2(Bucket=bucket, Prefix="dl/", Delimiter="/", MaxKeys=1, **kw)
            seq += [p["Prefix"] for p in r.get("CommonPrefixes", [])]
            seq += [o["Key"] for o in r.get("Contents", [])]
            if not r.get("IsTruncated"):
                break
            tok = r.get("NextContinuationToken")
            expect(tok, "truncated without NextContinuationToken")
        expect_eq(seq, ["dl/a/", "dl/b/", "dl/c"], "v2 sequence")
        seq, marker = [], ""
        for _ in range(6):
            r = c.list_objects(Bucket=bucket, Prefix="dl/", Delimiter="/", MaxKeys=1, Marker=marker)
            page = [p["Prefix"] for p in r.get("CommonPrefixes", [])] + \
                [o["Key"] for o in r.get("Contents", [])]
            seq += page
            if not r.get("IsTruncated"):
                break
            marker = r.get("NextMarker")
            expect(marker, "v1: truncated with a delimiter but no NextMarker")
        expect_eq(seq, ["dl/a/", "dl/b/", "dl/c"], "v1 sequence")
    with ph.case(LIST_NAMES[10]):
        _, objs = list_all_v2(c, bucket)
        allkeys = [o["Key"] for o in objs]
        want_pre = sorted({k.split("/", 1)[0] + "/" for k in allkeys if "/" in k})
        want_keys = sorted(k for k in allkeys if "/" not in k)
        pages = list(c.get_paginator("list_objects_v2").paginate(Bucket=bucket, Delimiter="/"))
        got_pre = [p["Prefix"] for pg in pages for p in pg.get("CommonPrefixes", [])]
        got_keys = [o["Key"] for pg in pages for o in pg.get("Contents", [])]
        expect_eq(got_pre, want_pre, "CommonPrefixes")
        expect_eq(got_keys, want_keys, "Contents")
        expect("many/" in got_pre and "dl/" in got_pre, "prefixes: %s" % got_pre)
    with ph.case(LIST_NAMES[11]):
        _, objs = list_all_v2(c, bucket, Prefix="many/", StartAfter="many/k0999")
        expect_eq([o["Key"] for o in objs], keys[1000:], "keys")
    with ph.case(LIST_NAMES[12]):
        _, objs = list_all_v2(c, bucket, Prefix="many/", StartAfter="many/k0999zz")
        expect_eq([o["Key"] for o in objs], keys[1000:], "keys")
    with ph.case(LIST_NAMES[13]):
        r = c.list_objects_v2(Bucket=bucket, Prefix="many/", MaxKeys=7)
        expect_eq([o["Key"] for o in r.get("Contents", [])], keys[:7], "keys")
        expect_eq((r.get("KeyCount"), r.get("MaxKeys"), r.get("IsTruncated")), (7, 7, True),
                  "(KeyCount, MaxKeys, IsTruncated)")
        r = c.list_objects_v2(Bucket=bucket, Prefix="many/", MaxKeys=7,
                              ContinuationToken=r["NextContinuationToken"])
        expect_eq([o["Key"] for o in r.get("Contents", [])], keys[7:14], "second page")
    with ph.case(LIST_NAMES[14]):
        odd = ["sp/hello world.txt", "sp/\u00fcn\u00efc\u00f8d\u00e9-\u043a\u043b\u044e\u0447.bin",
               "sp/a+b=c&d;e.txt", "sp/100%.txt", "sp/100%25.txt", "sp/tilde~star*(paren)'q'!.txt",
               "sp/dir with space/x", "sp/emoji-\U0001F600"]
        for k in odd:
            c.put_object(Bucket=bucket, Key=k, Body=k.encode())
        _, objs = list_all_v2(c, bucket, Prefix="sp/")
        expect_eq([o["Key"] for o in objs], sorted(odd, key=lambda s: s.encode()), "v2 listing")
        r = c.list_objects(Bucket=bucket, Prefix="sp/")
        expect_eq([o["Key"] for o in r.get("Contents", [])], sorted(odd, key=lambda s: s.encode()),
                  "v1 listing")
        r = c.list_objects_v2(Bucket=bucket, Prefix="sp/", Delimiter="/")
        expect_eq([p["Prefix"] for p in r.get("CommonPrefixes", [])], ["sp/dir with space/"],
                  "CommonPrefixes")
        for k in odd:
            _, got = get_bytes(c, bucket, k)
            expect_eq(got, k.encode(), "GET " + k)
            h = c.head_object(Bucket=bucket, Key=k)
            expect_eq(h["ContentLength"], len(k.encode()), "HEAD " + k)
        keep(bucket, odd[1], odd[1].encode(), etag_single(odd[1].encode()), "s2")


# -- boto3


BOTO_NAMES = [
    "boto3: put_object with x-amz-meta-* and Content-Type; get_object and head_object return them",
    "boto3: get_object of a missing key -> 404 NoSuchKey",
    "boto3: file-object PUTs (Expect: 100-continue) on one connection: 0 B, 5000 B, a denied one; all prompt",
    "boto3: delete_objects of 3 keys and a missing one: all reported deleted, the rest remain",
    "boto3: delete_objects in Quiet mode deletes and reports no keys",
    "boto3: delete_objects with a key that may not write there -> 403 AccessDenied, nothing deleted",
    "boto3: multipart: create, upload_part x3 (5 MiB+), list_parts shows 3 parts with sizes and ETags",
    "boto3: multipart: list_multipart_uploads shows the open upload",
    "boto3: multipart: complete gives the S3 multipart ETag; the object reads back bit-exact with its metadata",
    "boto3: multipart: a completed upload is no longer listed",
    "boto3: multipart: abort; then list_parts, upload_part and complete answer 404 NoSuchUpload",
    "boto3: multipart: complete with a part under 5 MiB that is not the last -> 400 EntityTooSmall",
    "boto3: multipart: complete with a wrong part ETag -> 400 InvalidPart",
    "boto3: head_bucket of an existing bucket -> 200, of a missing one -> 404",
    "boto3: create_bucket with the s2 key labels it s2 (s1 cannot see it, s3 reads but cannot write)",
    "boto3: create_bucket of an existing name -> 409 BucketAlreadyOwnedByYou / BucketAlreadyExists",
    "boto3: delete_bucket of a non-empty bucket -> 409 BucketNotEmpty",
    "boto3: delete_bucket of an empty bucket succeeds; the bucket is gone",
    "boto3: 16 concurrent PUTs of one key, 5 rounds: listing and HEAD describe the object GET returns",
]


def racing_puts(c, bucket):
    """Writers race on one key; whoever commits last, the index (listing and
    HEAD) must describe exactly the object that GET returns."""
    key = "race/one-key"
    for rnd in range(5):
        bodies = [rbytes(1000 + 997 * i + rnd, 500 + 16 * rnd + i) for i in range(16)]
        with concurrent.futures.ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda b: c.put_object(Bucket=bucket, Key=key, Body=b), bodies))
        _, got = get_bytes(c, bucket, key)
        expect(got in bodies, "round %d: GET returned none of the bodies written" % rnd)
        h = c.head_object(Bucket=bucket, Key=key)
        expect_eq((h["ContentLength"], h["ETag"]), (len(got), etag_single(got)),
                  "round %d: HEAD against GET" % rnd)
        listed = [o for o in list_all_v2(c, bucket, Prefix=key)[1] if o["Key"] == key]
        expect_eq(len(listed), 1, "round %d: listed once" % rnd)
        expect_eq((listed[0]["Size"], listed[0]["ETag"]), (len(got), etag_single(got)),
                  "round %d: listing against GET" % rnd)
    c.delete_object(Bucket=bucket, Key=key)


def phase_boto(ph):
    c = boto("s0")
    bucket = "level-s0"
    with ph.case(BOTO_NAMES[-1]):
        racing_puts(c, bucket)
    with ph.case(BOTO_NAMES[0]):
        data = rbytes(70000, 5)
        meta = {"color": "blue", "owner": "Integration Test", "note": "a=b;c d"}
        ct = "text/x-cryptstore-test; charset=utf-8"
        r = c.put_object(Bucket=bucket, Key="meta/obj", Body=data, Metadata=meta, ContentType=ct)
        expect_eq(r["ETag"], etag_single(data), "ETag")
        g, got = get_bytes(c, bucket, "meta/obj")
        expect_eq(sha256(got), sha256(data), "SHA-256")
        expect_eq(g.get("Metadata"), meta, "GET Metadata")
        expect_eq(g.get("ContentType"), ct, "GET ContentType")
        h = c.head_object(Bucket=bucket, Key="meta/obj")
        expect_eq((h.get("Metadata"), h.get("ContentType"), h.get("ContentLength"), h.get("ETag")),
                  (meta, ct, len(data), etag_single(data)), "HEAD")
        expect_recent(h["LastModified"], "LastModified")
        keep(bucket, "meta/obj", data, etag_single(data), "s0", meta=meta, ctype=ct)
    with ph.case(BOTO_NAMES[1]):
        expect_error(c.get_object, 404, "NoSuchKey", Bucket=bucket, Key="meta/no-such-key")
    with ph.case(BOTO_NAMES[2]):
        # botocore sends Expect: 100-continue with file bodies; a server that answers an
        # empty one without a 100 leaves botocore misreading the next response on the
        # connection (boto/boto3#1341), which stalls until the read timeout.
        import io
        c1 = boto("s0", pool=1, read_timeout=8)
        for rnd in range(2):
            t = time.monotonic()
            c1.put_object(Bucket=bucket, Key="expect/empty", Body=io.BytesIO(b""))
            data = rbytes(5000, 90 + rnd)
            r = c1.put_object(Bucket=bucket, Key="expect/full", Body=io.BytesIO(data))
            expect_eq(r["ETag"], etag_single(data), "ETag of the second PUT")
            expect_error(c1.put_object, 403, "AccessDenied", Bucket="level-s1", Key="expect/denied",
                         Body=io.BytesIO(data if rnd else b""))
            c1.put_object(Bucket=bucket, Key="expect/after", Body=io.BytesIO(data))
            expect(time.monotonic() - t < 5, "the PUTs took %.1f s" % (time.monotonic() - t))
        expect_eq(c.head_object(Bucket=bucket, Key="expect/empty")["ContentLength"], 0, "empty object")
    for i in range(1, 6):
        c.put_object(Bucket=bucket, Key="del/%d" % i, Body=b"d%d" % i)
    with ph.case(BOTO_NAMES[3]):
        objs = [{"Key": "del/1"}, {"Key": "del/2"}, {"Key": "del/3"}, {"Key": "del/missing"}]
        r = c.delete_objects(Bucket=bucket, Delete={"Objects": objs})
        expect_eq(sorted(d["Key"] for d in r.get("Deleted", [])),
                  ["del/1", "del/2", "del/3", "del/missing"], "Deleted")
        expect_eq(r.get("Errors", []), [], "Errors")
        left = [o["Key"] for o in c.list_objects_v2(Bucket=bucket, Prefix="del/").get("Contents", [])]
        expect_eq(left, ["del/4", "del/5"], "left")
    with ph.case(BOTO_NAMES[4]):
        r = c.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "del/4"}], "Quiet": True})
        expect_eq((r.get("Deleted", []), r.get("Errors", [])), ([], []), "(Deleted, Errors)")
        left = [o["Key"] for o in c.list_objects_v2(Bucket=bucket, Prefix="del/").get("Contents", [])]
        expect_eq(left, ["del/5"], "left")
    with ph.case(BOTO_NAMES[5]):
        expect_error(boto("s1").delete_objects, 403, "AccessDenied", Bucket=bucket,
                     Delete={"Objects": [{"Key": "del/5"}]})
        c.head_object(Bucket=bucket, Key="del/5")
    # multipart
    parts = [rbytes(5 * MiB + 1 + i, 300 + i) for i in range(3)]
    key = "mpu/assembled.bin"
    meta = {"kind": "multipart"}
    ct = "application/x-cryptstore-mpu"
    uid = None
    etags = []
    with ph.case(BOTO_NAMES[6]):
        uid = c.create_multipart_upload(Bucket=bucket, Key=key, Metadata=meta, ContentType=ct)["UploadId"]
        for i, p in enumerate(parts):
            r = c.upload_part(Bucket=bucket, Key=key, UploadId=uid, PartNumber=i + 1, Body=p)
            expect_eq(r["ETag"], etag_single(p), "ETag of part %d" % (i + 1))
            etags.append(r["ETag"])
        r = c.list_parts(Bucket=bucket, Key=key, UploadId=uid)
        expect_eq([(p["PartNumber"], p["Size"], p["ETag"]) for p in r.get("Parts", [])],
                  [(i + 1, len(p), etag_single(p)) for i, p in enumerate(parts)], "parts")
        r = c.list_parts(Bucket=bucket, Key=key, UploadId=uid, MaxParts=2)
        expect_eq(([p["PartNumber"] for p in r.get("Parts", [])], r.get("IsTruncated")), ([1, 2], True),
                  "MaxParts 2")
        r = c.list_parts(Bucket=bucket, Key=key, UploadId=uid, PartNumberMarker=2)
        expect_eq([p["PartNumber"] for p in r.get("Parts", [])], [3], "after PartNumberMarker 2")
    with ph.case(BOTO_NAMES[7]):
        expect(uid, "no upload")
        r = c.list_multipart_uploads(Bucket=bucket)
        ups = [(u["Key"], u["UploadId"]) for u in r.get("Uploads", [])]
        expect((key, uid) in ups, "uploads: %s" % ups)
    with ph.case(BOTO_NAMES[8]):
        expect(uid and len(etags) == 3, "no upload")
        r = c.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=uid, MultipartUpload={
            "Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]})
        want = etag_multipart(parts)
        expect_eq(r.get("ETag"), want, "ETag of the completion")
        g, got = get_bytes(c, bucket, key)
        data = b"".join(parts)
        expect_eq((len(got), sha256(got)), (len(data), sha256(data)), "(size, SHA-256)")
        expect_eq((g.get("ETag"), g.get("Metadata"), g.get("ContentType")), (want, meta, ct),
                  "(ETag, Metadata, ContentType) of the GET")
        keep(bucket, key, data, want, "s0", meta=meta, ctype=ct)
    with ph.case(BOTO_NAMES[9]):
        r = c.list_multipart_uploads(Bucket=bucket)
        ups = [u["UploadId"] for u in r.get("Uploads", [])]
        expect(uid not in ups, "still listed: %s" % ups)
    with ph.case(BOTO_NAMES[10]):
        k2 = "mpu/aborted.bin"
        u2 = c.create_multipart_upload(Bucket=bucket, Key=k2)["UploadId"]
        e1 = c.upload_part(Bucket=bucket, Key=k2, UploadId=u2, PartNumber=1, Body=b"z" * 1024)["ETag"]
        c.abort_multipart_upload(Bucket=bucket, Key=k2, UploadId=u2)
        expect_error(c.list_parts, 404, "NoSuchUpload", Bucket=bucket, Key=k2, UploadId=u2)
        expect_error(c.upload_part, 404, "NoSuchUpload", Bucket=bucket, Key=k2, UploadId=u2,
                     PartNumber=2, Body=b"y" * 10)
        expect_error(c.complete_multipart_upload, 404, "NoSuchUpload", Bucket=bucket, Key=k2,
                     UploadId=u2, MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}]})
        ups = [u["UploadId"] for u in c.list_multipart_uploads(Bucket=bucket).get("Uploads", [])]
        expect(u2 not in ups, "aborted upload still listed")
        expect_error(c.head_object, 404, Bucket=bucket, Key=k2)
    with ph.case(BOTO_NAMES[11]):
        k3 = "mpu/small.bin"
        u3 = c.create_multipart_upload(Bucket=bucket, Key=k3)["UploadId"]
        try:
            es = [c.upload_part(Bucket=bucket, Key=k3, UploadId=u3, PartNumber=n, Body=b"s" * 1024)["ETag"]
                  for n in (1, 2)]
            expect_error(c.complete_multipart_upload, 400, "EntityTooSmall", Bucket=bucket, Key=k3,
                         UploadId=u3, MultipartUpload={"Parts": [{"PartNumber": n, "ETag": e}
                                                                 for n, e in zip((1, 2), es)]})
        finally:
            c.abort_multipart_upload(Bucket=bucket, Key=k3, UploadId=u3)
    with ph.case(BOTO_NAMES[12]):
        k4 = "mpu/wrong.bin"
        u4 = c.create_multipart_upload(Bucket=bucket, Key=k4)["UploadId"]
        try:
            c.upload_part(Bucket=bucket, Key=k4, UploadId=u4, PartNumber=1, Body=b"w" * 100)
            expect_error(c.complete_multipart_upload, 400, "InvalidPart", Bucket=bucket, Key=k4,
                         UploadId=u4, MultipartUpload={"Parts": [
                             {"PartNumber": 1, "ETag": '"%s"' % ("0" * 32)}]})
        finally:
            c.abort_multipart_upload(Bucket=bucket, Key=k4, UploadId=u4)
    with ph.case(BOTO_NAMES[13]):
        r = c.head_bucket(Bucket=bucket)
        expect_eq(r["ResponseMetadata"]["HTTPStatusCode"], 200, "status")
        expect_error(c.head_bucket, 404, Bucket="no-such-bucket-" + os.urandom(4).hex())
    nb = "it-bucket-" + os.urandom(4).hex()
    c2 = boto("s2")
    with ph.case(BOTO_NAMES[14]):
        c2.create_bucket(Bucket=nb)
        c2.head_bucket(Bucket=nb)
        expect(nb in [b["Name"] for b in c2.list_buckets()["Buckets"]], "not listed for s2")
        expect(nb in [b["Name"] for b in boto("s3").list_buckets()["Buckets"]], "not listed for s3")
        expect(nb not in [b["Name"] for b in boto("s1").list_buckets()["Buckets"]], "listed for s1")
        expect_error(boto("s1").head_bucket, 403, Bucket=nb)
        expect_error(boto("s1").list_objects_v2, 403, "AccessDenied", Bucket=nb)
        boto("s3").list_objects_v2(Bucket=nb)
        expect_error(boto("s3").put_object, 403, "AccessDenied", Bucket=nb, Key="x", Body=b"x")
        c2.put_object(Bucket=nb, Key="x", Body=b"in the new bucket")
        _, got = get_bytes(boto("s3"), nb, "x")
        expect_eq(got, b"in the new bucket", "read by s3")
    with ph.case(BOTO_NAMES[15]):
        expect_error(c2.create_bucket, 409, "BucketAlreadyOwnedByYou", Bucket=nb)
        expect_error(c2.create_bucket, 409, "BucketAlreadyExists", Bucket="level-s0")
    with ph.case(BOTO_NAMES[16]):
        expect_error(c2.delete_bucket, 409, "BucketNotEmpty", Bucket=nb)
        c2.head_bucket(Bucket=nb)
    with ph.case(BOTO_NAMES[17]):
        c2.delete_object(Bucket=nb, Key="x")
        c2.delete_bucket(Bucket=nb)
        expect_error(c2.head_bucket, 404, Bucket=nb)
        expect(nb not in [b["Name"] for b in c2.list_buckets()["Buckets"]], "still listed")
        expect_error(c2.put_object, 404, "NoSuchBucket", Bucket=nb, Key="x", Body=b"x")


# -- s3cmd


S3CMD_SIZES = [MiB + 3, 17 * MiB + 5]  # the second goes multipart (15 MiB chunks)
S3CMD_NAMES = ["s3cmd ls: the s3 key sees exactly level-s0..level-s3"]
for _sz in S3CMD_SIZES:
    S3CMD_NAMES.append("s3cmd put + get: %d B, SHA-256 equal" % _sz)
S3CMD_NAMES += ["s3cmd ls s3://level-s3/s3cmd/: both objects with their sizes",
                "s3cmd del: both gone from ls, get fails"]


def phase_s3cmd(ph):
    a, s = CTX.srv.creds["s3"]
    cfg = os.path.join(CTX.home, "s3cfg")
    with open(cfg, "w") as f:
        f.write("[default]\naccess_key = %s\nsecret_key = %s\nhost_base = 127.0.0.1:%d\n"
                "host_bucket = 127.0.0.1:%d\nuse_https = False\nsignature_v2 = False\n"
                "bucket_location = %s\ncheck_ssl_certificate = False\nmultipart_chunk_size_mb = 15\n"
                "progress_meter = False\nsocket_timeout = 60\nproxy_host =\n"
                % (a, s, CTX.srv.port, CTX.srv.port, REGION))
    os.chmod(cfg, 0o600)
    tmp = os.path.join(CTX.base, "s3cmd")
    os.mkdir(tmp)

    def s3cmd(*args, timeout=90):
        p = run([CTX.s3cmd_bin, "-c", cfg] + list(args), timeout=timeout, env=CTX.env)
        if p.rc != 0:
            raise Fail(p.why())
        return p

    with ph.case(S3CMD_NAMES[0]):
        got = sorted(ln.split()[-1] for ln in s3cmd("ls").text().splitlines() if "s3://" in ln)
        expect_eq(got, ["s3://level-" + lv for lv in LEVELS], "buckets")
    datas = {}
    for sz in S3CMD_SIZES:
        with ph.case("s3cmd put + get: %d B, SHA-256 equal" % sz):
            data = rbytes(sz, 2000 + sz)
            datas[sz] = data
            src = write_file(os.path.join(tmp, "up-%d" % sz), data)
            dst = os.path.join(tmp, "down-%d" % sz)
            s3cmd("put", src, "s3://level-s3/s3cmd/f-%d" % sz)
            s3cmd("get", "--force", "s3://level-s3/s3cmd/f-%d" % sz, dst)
            expect_eq(file_sha256(dst), sha256(data), "SHA-256 of the download")
            os.unlink(src)
            os.unlink(dst)
    with ph.case(S3CMD_NAMES[-2]):
        lines = [ln.split() for ln in s3cmd("ls", "s3://level-s3/s3cmd/").text().splitlines() if "s3://" in ln]
        got = {f[-1]: int(f[-2]) for f in lines}
        expect_eq(got, {"s3://level-s3/s3cmd/f-%d" % sz: sz for sz in S3CMD_SIZES}, "listing")
    with ph.case(S3CMD_NAMES[-1]):
        for sz in S3CMD_SIZES:
            s3cmd("del", "s3://level-s3/s3cmd/f-%d" % sz)
        out = s3cmd("ls", "s3://level-s3/s3cmd/").text()
        expect("s3://" not in out, "still listed: " + out)
        p = run([CTX.s3cmd_bin, "-c", cfg, "get", "--force", "s3://level-s3/s3cmd/f-%d" % S3CMD_SIZES[0],
                 os.path.join(tmp, "gone")], timeout=60, env=CTX.env)
        expect(p.rc != 0, "s3cmd get of a deleted object succeeded")
        boto("s3").head_object(Bucket="level-s3", Key=CTX.canary_name)  # the rest is untouched
    shutil.rmtree(tmp, ignore_errors=True)


# -- presigned URLs


PRESIGN_NAMES = [
    "presigned GET: curl -sf downloads the exact bytes",
    "presigned GET with a Range header: curl gets 206 and the slice",
    "presigned GET, expired (ExpiresIn=1, 2 s later): curl gets 403 with AccessDenied",
    "presigned GET with the key changed in the URL: 403 SignatureDoesNotMatch",
    "presigned PUT: curl -T uploads; the object reads back bit-exact",
]


def curl(*args, timeout=30):
    return run([CTX.curl_bin, "-q", "--noproxy", "*", "-sS", "--max-time", str(timeout)] + list(args),
               timeout=timeout + 5, env=CTX.env)


def phase_presign(ph):
    c = boto("s1")
    bucket, key = "level-s1", "presign/obj.bin"
    data = rbytes(300 * 1024 + 7, 42)
    c.put_object(Bucket=bucket, Key=key, Body=data)
    tmp = os.path.join(CTX.base, "presign")
    os.mkdir(tmp)
    out = os.path.join(tmp, "out")
    with ph.case(PRESIGN_NAMES[0]):
        url = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
        expect("X-Amz-Signature=" in url, "not a SigV4 presigned URL: " + url)
        p = curl("-f", "-o", out, url)
        expect(p.rc == 0, p.why())
        expect_eq(file_sha256(out), sha256(data), "SHA-256")
    with ph.case(PRESIGN_NAMES[1]):
        url = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
        p = curl("-o", out, "-w", "%{http_code}", "-H", "Range: bytes=1000-1999", url)
        expect_eq(p.text(), "206", "status")
        with open(out, "rb") as f:
            expect_eq(sha256(f.read()), sha256(data[1000:2000]), "SHA-256 of the slice")
    with ph.case(PRESIGN_NAMES[2]):
        url = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=1)
        time.sleep(2.2)
        p = curl("-o", out, "-w", "%{http_code}", url)
        with open(out, "rb") as f:
            body = f.read()
        expect_eq(p.text(), "403", "status")
        expect(b"<Code>AccessDenied</Code>" in body, "body: %s" % short(body))
    with ph.case(PRESIGN_NAMES[3]):
        url = c.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
        bad = url.replace("/presign/obj.bin", "/presign/other.bin", 1)
        expect(bad != url, "could not edit the URL: " + url)
        c.put_object(Bucket=bucket, Key="presign/other.bin", Body=b"other")
        p = curl("-o", out, "-w", "%{http_code}", bad)
        with open(out, "rb") as f:
            body = f.read()
        expect_eq(p.text(), "403", "status")
        expect(b"<Code>SignatureDoesNotMatch</Code>" in body, "body: %s" % short(body))
    with ph.case(PRESIGN_NAMES[4]):
        up = rbytes(2 * MiB + 11, 43)
        src = write_file(os.path.join(tmp, "up"), up)
        url = c.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "presign/put.bin"},
                                       ExpiresIn=300)
        p = curl("-f", "-T", src, "-o", out, url)
        expect(p.rc == 0, p.why())
        _, got = get_bytes(c, bucket, "presign/put.bin")
        expect_eq(sha256(got), sha256(up), "SHA-256")
        keep(bucket, "presign/put.bin", up, etag_single(up), "s1")
    shutil.rmtree(tmp, ignore_errors=True)


# -- restart


RESTART_NAMES = [
    "restart: cryptstored stops on SIGTERM with exit status 0",
    "restart: it starts again on the same directories with the same access keys",
    "restart: ListBuckets shows the same buckets (s3 key: level-s0..level-s3)",
    "restart: the %d-key listing is identical (keys, sizes, ETags)" % MANY,
    "restart: every object kept from the phases above reads back bit-exact, same size and ETag",
    "restart: metadata and Content-Type survive",
    "restart: an upload opened before the restart is listed, and completes after it",
    "restart: MLS still holds (s0 key: level-s1 denied, AccessDenied)",
]


def phase_restart(ph):
    pend = {}
    try:
        c0 = boto("s3")
        pend["key"] = "mpu/across-restart.bin"
        pend["id"] = c0.create_multipart_upload(Bucket="level-s3", Key=pend["key"])["UploadId"]
        pend["parts"] = [rbytes(5 * MiB, 61), rbytes(1000, 62)]
        pend["etags"] = [c0.upload_part(Bucket="level-s3", Key=pend["key"], UploadId=pend["id"],
                                        PartNumber=i + 1, Body=p)["ETag"]
                         for i, p in enumerate(pend["parts"])]
    except Exception as e:
        pend["error"] = "%s: %s" % (type(e).__name__, e)
    before = dict(CTX.srv.creds)
    with ph.case(RESTART_NAMES[0]):
        rc = CTX.srv.stop()
        expect(rc == 0, "exit status %s (None: had to be killed)\n%s" % (rc, stop_diag()))
    with ph.case(RESTART_NAMES[1]):
        CTX.srv.start()
        CTX.url = "http://127.0.0.1:%d" % CTX.srv.port
        CTX.clients = {}
        write_aws_credentials(CTX.aws_cred)
        expect_eq(CTX.srv.creds, before, "credentials")
    c = boto("s3")
    with ph.case(RESTART_NAMES[2]):
        expect_eq(sorted(b["Name"] for b in c.list_buckets()["Buckets"]),
                  ["level-" + lv for lv in LEVELS], "buckets")
    with ph.case(RESTART_NAMES[3]):
        expect(getattr(CTX, "many_listing", None), "no listing from before the restart")
        _, objs = list_all_v2(boto("s2"), "level-s2", Prefix="many/")
        expect_eq([(o["Key"], o["Size"], o["ETag"]) for o in objs], CTX.many_listing, "listing")
    with ph.case(RESTART_NAMES[4]):
        expect(len(CTX.keep) >= 5, "only %d objects were kept" % len(CTX.keep))
        bad = []
        for (bucket, key), k in sorted(CTX.keep.items()):
            try:
                g, got = get_bytes(boto(k["level"]), bucket, key)
                if (len(got), sha256(got), g.get("ETag")) != (k["size"], k["sha"], k["etag"]):
                    bad.append("%s/%s: size %d sha %s etag %s; want %d %s %s" % (
                        bucket, key, len(got), sha256(got)[:16], g.get("ETag"), k["size"],
                        k["sha"][:16], k["etag"]))
            except Exception as e:
                bad.append("%s/%s: %s" % (bucket, key, e))
        expect(not bad, "\n".join(bad))
    with ph.case(RESTART_NAMES[5]):
        n = 0
        for (bucket, key), k in sorted(CTX.keep.items()):
            if k["meta"] is None:
                continue
            n += 1
            h = boto(k["level"]).head_object(Bucket=bucket, Key=key)
            expect_eq((h.get("Metadata"), h.get("ContentType")), (k["meta"], k["ctype"]),
                      "metadata of %s/%s" % (bucket, key))
        expect(n > 0, "no object with metadata was kept")
    with ph.case(RESTART_NAMES[6]):
        expect("error" not in pend, "setting up the upload failed: %s" % pend.get("error"))
        ups = [(u["Key"], u["UploadId"]) for u in c.list_multipart_uploads(Bucket="level-s3").get("Uploads", [])]
        expect((pend["key"], pend["id"]) in ups, "not listed: %s" % ups)
        r = c.list_parts(Bucket="level-s3", Key=pend["key"], UploadId=pend["id"])
        expect_eq([p["ETag"] for p in r.get("Parts", [])], pend["etags"], "parts")
        r = c.complete_multipart_upload(Bucket="level-s3", Key=pend["key"], UploadId=pend["id"],
                                        MultipartUpload={"Parts": [{"PartNumber": i + 1, "ETag": e}
                                                                   for i, e in enumerate(pend["etags"])]})
        expect_eq(r.get("ETag"), etag_multipart(pend["parts"]), "ETag")
        _, got = get_bytes(c, "level-s3", pend["key"])
        expect_eq(sha256(got), sha256(b"".join(pend["parts"])), "SHA-256")
    with ph.case(RESTART_NAMES[7]):
        expect_error(boto("s0").get_object, 403, "AccessDenied", Bucket="level-s1", Key=aws_key(1))
        expect_error(boto("s0").list_objects_v2, 403, "AccessDenied", Bucket="level-s1")
        expect_error(boto("s2").put_object, 403, "AccessDenied", Bucket="level-s1", Key="x", Body=b"x")


# -- stop and the canary scan


FINAL_NAMES = [
    "stop: cryptstored stops on SIGTERM with exit status 0",
    "server log: no ERROR lines, no sanitizer reports",
    "canary: the scanner finds a planted unaligned 64-byte slice (self-test)",
    "canary: no 64-byte slice of the canary (one every %d B) in any file the server keeps "
    "(data/, keys/, root key)" % CANARY_STEP,
    "canary: its name appears in no file content and no path the server keeps",
]


def canary_index(canary):
    idx = set()
    for off in range(0, len(canary) - CANARY_WIN + 1, CANARY_STEP):
        s = canary[off:off + CANARY_WIN]
        # A copy of s anywhere in a file covers a whole CANARY_BLK-aligned block of the file,
        # at one of these shifts.
        for k in range(CANARY_WIN - CANARY_BLK + 1):
            idx.add(s[k:k + CANARY_BLK])
    return idx


def canary_find(data, idx):
    b = CANARY_BLK
    for q in range(0, len(data) - b + 1, b):
        if data[q:q + b] in idx:
            return q
    return -1


def stored_files():
    """Every file (and directory, with a trailing /) the server keeps: data/, keys/, the
    root key, and the port and credentials files."""
    for dp, dns, fns in os.walk(CTX.srv.d):
        for fn in fns:
            yield os.path.join(dp, fn)
        for dn in dns:
            yield os.path.join(dp, dn) + "/"


def bad_log_line(ln):
    """The server's own ERROR lines, and ASan/LSan/UBSan reports (UBSan does not
    change the exit status)."""
    return " ERROR " in ln or "ERROR: " in ln or "runtime error:" in ln or "SUMMARY: " in ln


def stop_diag():
    why = [ln for ln in CTX.srv.log_text().splitlines()
           if bad_log_line(ln) or "still open at exit" in ln]
    return "\n".join(why[-10:])


def phase_final(ph):
    with ph.case(FINAL_NAMES[0]):
        rc = CTX.srv.stop()
        expect(rc == 0, "exit status %s (None: had to be killed)\n%s" % (rc, stop_diag()))
    with ph.case(FINAL_NAMES[1]):
        errs = [ln for ln in CTX.srv.log_text().splitlines() if bad_log_line(ln)]
        expect(not errs, "\n".join(errs[:20]))
    idx = canary_index(CTX.canary)
    with ph.case(FINAL_NAMES[2]):
        blob = os.urandom(5000) + CTX.canary[CANARY_STEP * 7 + 3:CANARY_STEP * 7 + 3 + 70] + os.urandom(999)
        blob2 = os.urandom(4097) + CTX.canary[CANARY_STEP * 9: CANARY_STEP * 9 + CANARY_WIN] + os.urandom(3)
        expect(canary_find(blob, idx) >= 0 and canary_find(blob2, idx) >= 0, "a planted slice was missed")
        expect(canary_find(os.urandom(1 << 16), idx) < 0, "false positive on random bytes")
    dump = os.environ.get("CS_IT_STORE_DUMP")
    if dump:  # a store outside the directory (e.g. a Ceph pool): its raw objects, for the scan
        subprocess.run(["sh", "-c", dump, "sh", os.path.join(CTX.srv.d, "store-dump")],
                       timeout=600, check=False)
    name = CTX.canary_name.encode()
    hits_c, hits_n, nfiles, nbytes = [], [], 0, 0
    for path in stored_files():
        rel = os.path.relpath(path, CTX.srv.d)
        if name in path.encode() or CTX.canary_name[:16].encode() in path.encode():
            hits_n.append("path " + rel)
        if path.endswith("/"):
            continue
        with open(path, "rb") as f:
            data = f.read()
        nfiles += 1
        nbytes += len(data)
        if data.find(name) >= 0:
            hits_n.append("%s at byte %d" % (rel, data.find(name)))
        q = canary_find(data, idx)
        if q >= 0:
            hits_c.append("%s near byte %d" % (rel, q))
    with ph.case(FINAL_NAMES[3]):
        expect(nfiles > 0 and nbytes > 100 * MiB, "only %d files, %d bytes scanned" % (nfiles, nbytes))
        expect(not hits_c, "canary content found:\n" + "\n".join(hits_c[:20]))
    with ph.case(FINAL_NAMES[4]):
        expect(not hits_n, "canary name found:\n" + "\n".join(hits_n[:20]))


PHASES = [
    ("start", names_start, phase_start),
    ("canary", names_canary, phase_canary),
    ("mls", names_mls, phase_mls),
    ("signatures", lambda: SIG_NAMES, phase_sig),
    ("aws-cli", names_aws, phase_aws),
    ("listings", lambda: LIST_NAMES, phase_list),
    ("boto3", lambda: BOTO_NAMES, phase_boto),
    ("s3cmd", lambda: S3CMD_NAMES, phase_s3cmd),
    ("presigned", lambda: PRESIGN_NAMES, phase_presign),
    ("restart", lambda: RESTART_NAMES, phase_restart),
    ("final", lambda: FINAL_NAMES, phase_final),
]


class Terminated(BaseException):
    """SIGTERM: stop the server and leave."""


def on_alarm(signum, frame):
    raise GlobalTimeout()


def on_term(signum, frame):
    raise Terminated()


def main():
    if len(sys.argv) != 2 or not os.access(sys.argv[1], os.X_OK):
        print("usage: %s PATH/TO/cryptstored" % sys.argv[0], file=sys.stderr)
        return 2
    binary = os.path.abspath(sys.argv[1])
    # Nothing of the caller's AWS setup or proxies may reach the clients.
    for k in list(os.environ):
        if k.upper().startswith(("AWS_", "BOTO_")) or "PROXY" in k.upper():
            del os.environ[k]
    report = Report()
    phases = [(t, list(n()), f) for t, n, f in PHASES]
    report.plan(sum(len(n) for _, n, _ in phases))
    base = tempfile.mkdtemp(prefix="cryptstore-it-")
    os.chmod(base, 0o700)
    # boto3 in this process reads no user file either.
    empty = os.path.join(base, "empty-aws-config")
    open(empty, "w").close()
    os.environ["AWS_CONFIG_FILE"] = os.environ["AWS_SHARED_CREDENTIALS_FILE"] = empty
    os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
    CTX.base = base
    CTX.srv = Server(binary, base)
    CTX.clients = {}
    CTX.keep = {}
    CTX.aws_bin, CTX.s3cmd_bin, CTX.curl_bin = tool("aws"), tool("s3cmd"), tool("curl")
    t0 = time.monotonic()
    CTX.t_start = time.time()
    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)  # the finally below still stops the server
    signal.alarm(max(1, int(remaining())))
    aborted = None
    missing = [n for n, b in (("aws", CTX.aws_bin), ("s3cmd", CTX.s3cmd_bin), ("curl", CTX.curl_bin)) if not b]
    if importlib.util.find_spec("boto3") is None:
        missing.append("python3 boto3")
    if missing:
        aborted = "missing: " + ", ".join(missing)
    try:
        for title, names, fn in phases:
            ph = Phase(names)
            tp = time.monotonic()
            why = aborted
            if not aborted:
                try:
                    fn(ph)
                except GlobalTimeout:
                    aborted = why = "the run's time limit (%d s) passed" % RUN_LIMIT
                except Exception as e:
                    why = "phase %s stopped: %s: %s\n%s" % (title, type(e).__name__, e,
                                                           "".join(traceback.format_tb(e.__traceback__)[-4:]))
                if title == "start" and not all(ph.res.get(n, (False,))[0] for n in names):
                    aborted = "the server did not start"
            for n in names:
                ok, diag = ph.res.get(n, (False, "not run: %s" % (why or "its phase ended early")))
                report.emit(ok, n, diag)
            print("# phase %s: %.1f s" % (title, time.monotonic() - tp), flush=True)
    finally:
        signal.alarm(0)
        CTX.srv.stop(timeout=10)
        if report.failed:
            print("# " + CTX.srv.log_tail(40).replace("\n", "\n# "))
        print("# %d of %d checks failed; %.1f s; last server exit status: %s" %
              (report.failed, report.n, time.monotonic() - t0, CTX.srv.last_rc))
        if os.environ.get("CS_IT_KEEP"):
            print("# kept " + base)
        else:
            shutil.rmtree(base, ignore_errors=True)
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main())
