"""What crash_test.py and fault_test.py share: TAP output, one cryptstored
process (started, killed, restarted), boto3 clients and error decoding.

Only the standard library and boto3/botocore.  Nothing here knows what a
test checks; a test decides and reports through Tap.
"""

import contextlib
import os
import re
import signal
import subprocess
import sys
import time

REGION = "us-east-1"
MiB = 1 << 20


class Tap:
    """TAP lines as checks finish; the plan goes last (the count is not
    known in advance when cases are sampled at run time)."""

    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=()):
        self.n += 1
        if not cond:
            self.failed += 1
        print("%s %d - %s" % ("ok" if cond else "not ok", self.n, name), flush=True)
        if not cond:
            for line in list(diag)[:40]:
                print("# " + str(line), flush=True)
        return cond

    def skip(self, name, why):
        self.n += 1
        print("ok %d - %s # SKIP %s" % (self.n, name, why), flush=True)

    @staticmethod
    def diag(msg):
        for line in str(msg).splitlines():
            print("# " + line, flush=True)

    def done(self):
        print("1..%d" % self.n, flush=True)
        return 1 if self.failed else 0


def err_code(e):
    """(S3 error code, HTTP status) of a botocore exception; (None, None) for
    one that never got a response (refused, reset, timed out)."""
    r = getattr(e, "response", None) or {}
    return (r.get("Error", {}).get("Code"),
            r.get("ResponseMetadata", {}).get("HTTPStatusCode"))


class Server:
    """One cryptstored in demo mode (levels s0..s3, bucket level-sN, a key of
    the demo user per level) on directories under base.

    data_dir may sit elsewhere (a small tmpfs); env adds to the environment
    (LD_PRELOAD for the fault shim).  The first start listens on a port of
    the kernel's choosing; restarts reuse it, so that clients made before a
    restart find the new process."""

    def __init__(self, binary, base, name="srv", sync=True, env=None, data_dir=None, extra=()):
        self.binary = binary
        self.extra = list(extra)
        self.d = os.path.join(base, name)
        os.makedirs(self.d, 0o700, exist_ok=True)
        self.data = data_dir or os.path.join(self.d, "data")
        self.sync = sync
        self.env = dict(os.environ, **(env or {}))
        self.log = os.path.join(self.d, "server.log")
        self.port = 0
        self.proc = None
        self.creds = {}
        # TLS (tls_test.py): the scheme clients use, the CA bundle they
        # verify with and the (cert, key) they present, if any.
        self.scheme = "http"
        self.ca_bundle = None
        self.client_cert = None

    def argv(self):
        d = self.d
        return [self.binary, "--data-dir", self.data, "--keys-dir", d + "/keys", "--root-key",
                d + "/root.key", "--port", str(self.port), "--port-file", d + "/port",
                "--credentials-file", d + "/creds", "--init-demo", "true",
                "--sync", "true" if self.sync else "false",
                "--admin-socket", d + "/admin.sock", "--audit-dir", d + "/audit"] + self.extra

    def log_size(self):
        try:
            return os.path.getsize(self.log)
        except OSError:
            return 0

    def log_since(self, offset):
        try:
            with open(self.log, "rb") as f:
                f.seek(offset)
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def tail(self, n=20):
        return "server log:\n" + "\n".join(self.log_since(0).splitlines()[-n:])

    def spawn(self):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(self.d, "port"))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=log, env=self.env)

    def wait_port(self, t0, timeout):
        pf = os.path.join(self.d, "port")
        while not os.path.exists(pf):
            if self.proc.poll() is not None:
                raise RuntimeError("cryptstored exited with %s\n%s" % (self.proc.returncode,
                                                                      self.tail()))
            if time.monotonic() - t0 > timeout:
                raise RuntimeError("no port file after %d s\n%s" % (timeout, self.tail()))
            time.sleep(0.005)
        with open(pf) as f:
            self.port = int(f.read().strip())
        self.creds = {}
        with open(os.path.join(self.d, "creds")) as f:
            for line in f:
                p = line.split()
                if len(p) == 3:
                    self.creds[p[0]] = (p[1], p[2])

    def start(self, timeout=30):
        """Start and wait until an authenticated request succeeds; returns
        the seconds from the spawn to that answer."""
        # On a restart the client exists before the clock starts: making
        # one costs boto3 tens of milliseconds that are not the server's.
        c = self.client("s0", pool=1, connect_timeout=1, read_timeout=5) if self.port else None
        t0 = time.monotonic()
        self.spawn()
        self.wait_port(t0, timeout)
        if c is None:
            c = self.client("s0", pool=1, connect_timeout=1, read_timeout=5)
        while True:
            try:
                c.head_bucket(Bucket="level-s0")
                return time.monotonic() - t0
            except Exception:  # noqa: BLE001 - not answering yet
                if self.proc.poll() is not None:
                    raise RuntimeError("cryptstored exited with %s\n%s" %
                                       (self.proc.returncode, self.tail()))
                if time.monotonic() - t0 > timeout:
                    raise
                time.sleep(0.005)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self):
        """SIGTERM and wait; the exit status (None if it was not running)."""
        if self.proc is None:
            return None
        p, self.proc = self.proc, None
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        return p.returncode

    def client(self, level="s0", fresh=False, pool=10, connect_timeout=10, read_timeout=60):
        """A boto3 S3 client of the demo user at level: path-style, SigV4,
        no retries (a test must see every error).  Cached unless fresh."""
        import boto3
        from botocore.config import Config

        key = (level, pool, connect_timeout, read_timeout, self.scheme, self.client_cert)
        if not fresh and key in getattr(self, "_clients", {}):
            return self._clients[key]
        a, s = self.creds[level]
        cfg = Config(signature_version="s3v4", s3={"addressing_style": "path"},
                     retries={"total_max_attempts": 1, "mode": "standard"},
                     connect_timeout=connect_timeout, read_timeout=read_timeout,
                     max_pool_connections=pool, tcp_keepalive=False,
                     client_cert=self.client_cert)
        c = boto3.session.Session().client(
            "s3", endpoint_url="%s://127.0.0.1:%d" % (self.scheme, self.port), region_name=REGION,
            aws_access_key_id=a, aws_secret_access_key=s, config=cfg,
            verify=self.ca_bundle if self.scheme == "https" else None)
        if not hasattr(self, "_clients"):
            self._clients = {}
        self._clients[key] = c
        return c

    def forget_clients(self):
        self._clients = {}


def sanitizer_lines(log):
    """The lines of a server log that belong to an ASan, UBSan or TSan report."""
    return [ln for ln in log.splitlines()
            if "Sanitizer" in ln or "runtime error:" in ln or "SUMMARY: " in ln]


def leftovers(top, prefixes=(".tmp-", ".rwj-")):
    """Paths under top whose name starts with one of prefixes."""
    out = []
    for dp, _, fs in os.walk(top):
        out += [os.path.join(dp, f) for f in fs if f.startswith(prefixes)]
    return sorted(out)


def die(msg):
    print("Bail out! " + msg, flush=True)
    sys.exit(1)


# ---- front-ends on the dev Ceph cluster (tests/rados, tools/ceph-dev.sh) ------------------
RADOS_OP_TIMEOUT = 6  # seconds a cluster operation may take (--rados-op-timeout)


def rados_test_args(script):
    """(cryptstored, cryptstore) from argv for a test against a Ceph cluster,
    with the environment cleared of AWS/boto/proxy settings; or an exit
    status: 2 on bad usage, 0 after a TAP skip when there is no cluster."""
    if len(sys.argv) != 3:
        print("usage: %s PATH/TO/cryptstored PATH/TO/cryptstore" % script, file=sys.stderr)
        return 2
    if "CRYPTSTORE_CEPH_CONF" not in os.environ:
        print("1..0 # SKIP no cluster (run through tests/rados/rados_test.sh)")
        return 0
    for k in list(os.environ):
        if k.upper().startswith(("AWS_", "BOTO_")) or "PROXY" in k.upper():
            del os.environ[k]
    return os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])


def ceph_args(ns):
    env = os.environ
    return ["--store", "rados", "--rados-conf", env["CRYPTSTORE_CEPH_CONF"],
            "--rados-user", env["CRYPTSTORE_CEPH_USER"],
            "--rados-keyring", env["CRYPTSTORE_CEPH_KEYRING"],
            "--rados-pool", env["CRYPTSTORE_CEPH_POOL"], "--rados-namespace", ns,
            "--rados-op-timeout", str(RADOS_OP_TIMEOUT), "--sandbox", "false"]


class FrontEnd(Server):
    def __init__(self, binary, cli, base, name, ns):
        super().__init__(binary, base, name=name, sync=False, extra=ceph_args(ns))
        self.cli = cli
        self.sock = os.path.join(self.d, "admin.sock")

    def admin(self, *args, timeout=120):
        t0 = time.monotonic()
        p = subprocess.run([self.cli, "admin", "--socket", self.sock] + list(args),
                           capture_output=True, timeout=timeout)
        return p.returncode, p.stdout.decode(), p.stderr.decode(), time.monotonic() - t0


def memory_contains(pid, needles):
    """Which needles occur in any readable, resident mapping of process pid.

    Mappings with nothing resident are skipped (they read as zeros), and so
    are mappings over 4 GiB (a sanitizer's shadow memory): their number is
    reported in SKIPPED, for the diagnostics.
    """
    found = set()
    maps = []
    with open("/proc/%d/smaps" % pid) as f:
        cur = None
        for line in f:
            if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
                addr, perms = line.split()[:2]
                lo, hi = (int(x, 16) for x in addr.split("-"))
                cur = [lo, hi, perms, 0, line.strip()]
                maps.append(cur)
            elif line.startswith("Rss:") and cur is not None:
                cur[3] = int(line.split()[1])
    SKIPPED[0] = 0
    with open("/proc/%d/mem" % pid, "rb", 0) as mem:
        for lo, hi, perms, rss, desc in maps:
            if not perms.startswith("r") or rss == 0 or "[vvar]" in desc or \
                    "[vsyscall]" in desc:
                continue
            if hi - lo > (4 << 30):
                SKIPPED[0] += 1
                continue
            off, tail = lo, b""
            while off < hi:
                n = min(hi - off, 8 << 20)
                try:
                    mem.seek(off)
                    b = mem.read(n)
                except OSError:
                    break
                chunk = tail + b
                for nd in needles:
                    if nd in chunk:
                        found.add(nd)
                tail = b[-64:]
                off += n
    return found


SKIPPED = [0]


def sign(srv, method, path, headers=None, level="s0"):
    """Headers (name, value) of a SigV4-signed request (UNSIGNED-PAYLOAD);
    every header given, Content-Length included, is signed."""
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    ak, sk = srv.creds[level]
    host = "127.0.0.1:%d" % srv.port
    h = {"Host": host, "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}
    h.update(headers or {})
    req = AWSRequest(method=method, url="http://" + host + path, headers=h)
    SigV4Auth(Credentials(ak, sk), "s3", REGION).add_auth(req)
    return list(req.headers.items())


def wire(method, path, headers, body=b""):
    """The bytes of a request."""
    head = "%s %s HTTP/1.1\r\n" % (method, path)
    head += "".join("%s: %s\r\n" % (k, v) for k, v in headers)
    return (head + "\r\n").encode("latin-1") + body
