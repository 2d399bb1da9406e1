#!/usr/bin/python3
"""Key lifecycle, cryptographic erase, the admin plane and the audit log,
against the real server process, driven by boto3 and `cryptstore admin`.

Usage: keys_test.py PATH/TO/cryptstored PATH/TO/cryptstore PATH/TO/kekdump

Prints TAP (one line per check); exit status 1 if any check failed.

What it does, in order:
  - starts cryptstored in demo mode (levels s0..s3, a bucket and a key per
    level) with a control socket and an audit log; rotates s2's key so that
    s2 has two versions, and fills every level with objects (some written
    before the rotation, some after);
  - shreds level s2 through the admin CLI: refused without confirmation;
    with --yes, 100% of s2's objects fail with 410 KeyDestroyed, 100% of
    the others read back bit-exact, and the bytes of both of s2's KEKs
    (dumped beforehand by kekdump) are found neither in any file of the key
    directory nor in the server's memory (/proc/PID/mem, every readable
    mapping), while a live level's KEK *is* found there (the scan works);
    the same after a restart; then s2's bucket is emptied and removed;
  - rotate + rewrap of s1: destroying the old version is refused while
    objects use it; after the rewrap no stored header names it, it is
    destroyed, and every object reads back bit-exact, also after a restart;
  - object shred, users and access keys (create, use, revoke, disable),
    the socket's peer check, bucket create, status, level list;
  - the audit log: every event type appears; `audit verify` passes; then
    editing, deleting or swapping a line, each in turn, makes it fail and
    name the line, and restoring the file makes it pass again;
  - a start with a passphrase-derived root key (and refusal of a wrong one);
  - a start as root with --user nobody: the serving process runs as nobody
    and serves; the root key file stays root's.
"""

import contextlib
import hashlib
import os
import random
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import memory_contains  # noqa: E402

LEVELS = ["s0", "s1", "s2", "s3"]
REGION = "us-east-1"
PER_LEVEL = 12  # objects per level before the rotation of s2, and as many after
SERVER, CLI, KEKDUMP = None, None, None

results = []


class Fail(Exception):
    pass


def expect(cond, msg):
    if not cond:
        raise Fail(msg)


def check(name):
    def deco(fn):
        def run(*a, **k):
            try:
                fn(*a, **k)
                results.append((True, name, ""))
                print("ok %d - %s" % (len(results), name), flush=True)
                return True
            except Exception as e:  # noqa: BLE001 - every failure is reported
                diag = str(e) if isinstance(e, Fail) else traceback.format_exc()
                results.append((False, name, diag))
                print("not ok %d - %s" % (len(results), name), flush=True)
                for line in diag.splitlines()[:40]:
                    print("# " + line, flush=True)
                return False
        return run
    return deco


class Server:
    def __init__(self, base, name="srv", extra=None, stdin=None, user=None):
        self.d = os.path.join(base, name)
        os.makedirs(self.d, 0o700 if user is None else 0o711, exist_ok=True)
        self.extra = extra or []
        self.stdin = stdin
        self.log = os.path.join(self.d, "server.log")
        # Where the server writes its port and credentials: after a drop of
        # privileges that must be a directory of the unprivileged user.
        self.run = self.d
        if user is not None:
            self.run = os.path.join(self.d, "run")
            os.makedirs(self.run, 0o700, exist_ok=True)
            os.chown(self.run, user, user)
        self.proc = None
        self.creds = {}

    @property
    def sock(self):
        return os.path.join(self.d, "admin.sock")

    @property
    def keys(self):
        return os.path.join(self.d, "keys")

    @property
    def root(self):
        return os.path.join(self.d, "root.key")

    def argv(self):
        d = self.d
        return [SERVER, "--data-dir", d + "/data", "--keys-dir", d + "/keys", "--root-key",
                d + "/root.key", "--port", "0", "--port-file", self.run + "/port",
                "--credentials-file", self.run + "/creds", "--init-demo", "true", "--sync", "false",
                "--admin-socket", self.sock, "--audit-dir", d + "/audit"] + self.extra

    def start(self, timeout=30, expect_fail=False):
        for f in ("port", "creds"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.run, f))
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv(), stdin=subprocess.PIPE if self.stdin is not None else
                subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log)
        if self.stdin is not None:
            self.proc.stdin.write(self.stdin)
            self.proc.stdin.close()
        end = time.monotonic() + timeout
        pf = os.path.join(self.run, "port")
        while not os.path.exists(pf):
            if self.proc.poll() is not None:
                if expect_fail:
                    return self.proc.returncode
                raise Fail("cryptstored exited with %s\n%s" % (self.proc.returncode,
                                                               self.tail()))
            expect(time.monotonic() < end, "no port file after %d s\n%s" % (timeout,
                                                                            self.tail()))
            time.sleep(0.05)
        expect(not expect_fail, "the server started, but should have refused to")
        with open(pf) as f:
            self.port = int(f.read().strip())
        self.creds = {}
        with open(os.path.join(self.run, "creds")) as f:
            for line in f:
                p = line.split()
                if len(p) == 3:
                    self.creds[p[0]] = (p[1], p[2])
        self.clients = {}
        return self.port

    def stop(self):
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

    def tail(self, n=20):
        try:
            with open(self.log, "rb") as f:
                lines = f.read().decode("utf-8", "replace").splitlines()
        except OSError:
            lines = []
        return "server log:\n" + "\n".join(lines[-n:])

    def s3(self, level=None, akid=None, secret=None):
        import boto3
        from botocore.config import Config

        a, s = self.creds[level] if level else (akid, secret)
        key = (a, s)
        if key not in self.clients:
            cfg = Config(signature_version="s3v4", s3={"addressing_style": "path"},
                         retries={"total_max_attempts": 1, "mode": "standard"},
                         connect_timeout=10, read_timeout=60)
            self.clients[key] = boto3.session.Session().client(
                "s3", endpoint_url="http://127.0.0.1:%d" % self.port, region_name=REGION,
                aws_access_key_id=a, aws_secret_access_key=s, config=cfg)
        return self.clients[key]

    def admin(self, *args, stdin=None, env=None, user=None):
        argv = [CLI, "admin", "--socket", self.sock] + list(args)
        if user is not None:
            argv = ["setpriv", "--reuid", str(user), "--regid", str(user), "--clear-groups"] + argv
        p = subprocess.run(argv, input=stdin, capture_output=True, timeout=300,
                           env=env)
        return p.returncode, p.stdout.decode(), p.stderr.decode()


def err_code(e):
    r = getattr(e, "response", {}) or {}
    return r.get("Error", {}).get("Code"), r.get("ResponseMetadata", {}).get("HTTPStatusCode")


def get(srv, level, bucket, key):
    """(data, None) or (None, (code, status))."""
    from botocore.exceptions import ClientError

    try:
        return srv.s3(level).get_object(Bucket=bucket, Key=key)["Body"].read(), None
    except ClientError as e:
        return None, err_code(e)


def kekdump(srv, level):
    p = subprocess.run([KEKDUMP, srv.keys, srv.root, level], capture_output=True, timeout=60)
    expect(p.returncode == 0, "kekdump %s: %s" % (level, p.stderr.decode()))
    return {int(v): bytes.fromhex(h) for v, h in (l.split() for l in p.stdout.decode().split("\n")
                                                   if l.strip())}


def files_containing(top, needles):
    hits = []
    for dp, _, fs in os.walk(top):
        for f in fs:
            p = os.path.join(dp, f)
            with contextlib.suppress(OSError), open(p, "rb") as fh:
                b = fh.read()
                hits += [(p, n.hex()[:16]) for n in needles if n in b]
    return hits




def stored_headers(srv):
    """(kek id, kek version, label, bucket) of every stored object file."""
    out = []
    for dp, _, fs in os.walk(os.path.join(srv.d, "data")):
        for f in fs:
            if f.startswith("."):
                continue
            with open(os.path.join(dp, f), "rb") as fh:
                h = fh.read(4096)
            if h[:8] != b"\x89CSO\r\n\x1a\n":
                continue
            ver = struct.unpack(">I", h[40:44])[0]
            o, fields = 44, []
            for _ in range(3):
                n = struct.unpack(">H", h[o:o + 2])[0]
                fields.append(h[o + 2:o + 2 + n].decode())
                o += 2 + n
            out.append((fields[0], ver, fields[1], fields[2]))
    return out


def audit_lines(srv):
    d = os.path.join(srv.d, "audit")
    names = sorted(n for n in os.listdir(d) if n.startswith("audit.log."))
    lines = []
    for n in names + ["audit.log"]:
        with contextlib.suppress(FileNotFoundError), open(os.path.join(d, n), "rb") as f:
            lines += f.read().splitlines()
    return lines


# ---- the checks -------------------------------------------------------------

DATA = {}  # (level, key) -> bytes
KEKS = {}  # level -> {version: key bytes}


def put_objects(srv, tag, n, levels=LEVELS):
    rnd = random.Random(sum(tag.encode()))
    for lv in levels:
        for i in range(n):
            size = rnd.choice([0, 1, 100, 32768, 32769, 70000, 150000])
            data = rnd.randbytes(size)
            key = "%s/obj-%02d" % (tag, i)
            srv.s3(lv).put_object(Bucket="level-" + lv, Key=key, Body=data)
            DATA[(lv, key)] = data


@check("start-up with a control socket, an audit log and the seccomp sandbox; s2 rotated; "
       "objects at every level")
def c_start(srv):
    srv.start()
    rc, out, err = srv.admin("key", "rotate", "s2")
    expect(rc == 0 and "version 2 is active" in out, "rotate: %d %s %s" % (rc, out, err))
    put_objects(srv, "before", PER_LEVEL)  # s2 objects here use version 2
    st = os.stat(srv.sock)
    expect(st.st_mode & 0o777 == 0o600, "socket mode %o" % (st.st_mode & 0o777))
    # The seccomp allow-list is on (the rest of this suite runs under it), except in
    # sanitizer builds, which say so in the log.
    with open("/proc/%d/status" % srv.proc.pid) as f:
        status = f.read()
    sanitized = "not in a sanitizer build" in srv.tail(1000)
    expect(re.search(r"^Seccomp:\s+2$", status, re.M) or sanitized,
           "no seccomp filter: %s" % re.findall(r"^(?:Seccomp|NoNewPrivs):.*$", status, re.M))
    expect(re.search(r"^NoNewPrivs:\s+1$", status, re.M) or sanitized, "no-new-privileges")


@check("kekdump reads s2's two key versions and s1's")
def c_dump(srv):
    KEKS["s2"] = kekdump(srv, "s2")
    KEKS["s1"] = kekdump(srv, "s1")
    expect(sorted(KEKS["s2"]) == [1, 2], "s2 versions %s" % sorted(KEKS["s2"]))
    expect(all(len(k) == 32 for k in KEKS["s2"].values()), "key length")


@check("the scan works: a live level's KEK is found in the server's memory")
def c_scan_control(srv):
    found = memory_contains(srv.proc.pid, [KEKS["s1"][1]])
    expect(KEKS["s1"][1] in found, "s1's KEK not found in /proc/%d/mem: the scan is blind"
           % srv.proc.pid)


@check("key shred without confirmation is refused (no TTY) and destroys nothing")
def c_shred_refused(srv):
    rc, out, err = srv.admin("key", "shred", "s2", stdin=b"s2\n")
    expect(rc == 2 and "--yes" in err, "rc %d: %s %s" % (rc, out, err))
    d, e = get(srv, "s2", "level-s2", "before/obj-03")
    expect(e is None and d == DATA[("s2", "before/obj-03")], "s2 object after refusal: %s" % (e,))


@check("key shred s2 --yes: reports objects, bytes and milliseconds")
def c_shred(srv):
    n = sum(1 for (lv, _) in DATA if lv == "s2")
    nbytes = sum(len(v) for (lv, _), v in DATA.items() if lv == "s2")
    rc, out, err = srv.admin("key", "shred", "s2", "--yes")
    expect(rc == 0, "rc %d: %s %s" % (rc, out, err))
    m = re.search(r"2 key version\(s\) destroyed; (\d+) objects \((\d+) bytes\) are unreadable; "
                  r"([0-9.]+) ms", out)
    expect(m is not None, "output: %r" % out)
    expect(int(m.group(1)) == n and int(m.group(2)) == nbytes,
           "reported %s objects %s bytes, stored %d / %d" % (m.group(1), m.group(2), n, nbytes))
    print("# shred of %d objects (%d bytes): %s ms" % (n, nbytes, m.group(3)), flush=True)


def check_levels(srv, shredded):
    bad = []
    for (lv, key), data in sorted(DATA.items()):
        d, e = get(srv, lv, "level-" + lv, key)
        if lv == shredded:
            if e != ("KeyDestroyed", 410):
                bad.append("%s/%s: %s" % (lv, key, e or "READABLE"))
        elif e is not None or d != data:
            bad.append("%s/%s: %s" % (lv, key, e or "content differs"))
    expect(not bad, "%d of %d objects wrong: %s" % (len(bad), len(DATA), bad[:5]))


@check("after the shred: 100% of s2's objects fail with 410 KeyDestroyed, 100% of the others "
       "read back bit-exact")
def c_after_shred(srv):
    check_levels(srv, "s2")


@check("s2's KEK bytes are in no file of the key directory")
def c_files(srv):
    hits = files_containing(srv.keys, list(KEKS["s2"].values()))
    expect(not hits, "found: %s" % hits)


@check("s2's KEK bytes are not in the running server's memory")
def c_memory(srv):
    found = memory_contains(srv.proc.pid, list(KEKS["s2"].values()))
    expect(not found, "found %d of s2's keys in /proc/%d/mem" % (len(found), srv.proc.pid))
    expect(KEKS["s1"][1] in memory_contains(srv.proc.pid, [KEKS["s1"][1]]), "control lost")


@check("restart: nothing resurrected; s2 still 410, the others bit-exact; no KEK in memory")
def c_restart(srv):
    expect(srv.stop() == 0, "clean stop")
    srv.start()
    check_levels(srv, "s2")
    expect(not memory_contains(srv.proc.pid, list(KEKS["s2"].values())), "KEK in memory")
    expect(not files_containing(srv.keys, list(KEKS["s2"].values())), "KEK in files")
    rc, out, _ = srv.admin("level", "list")
    expect(rc == 0 and re.search(r"s2 .*v1:destroyed.*v2:destroyed", out), "level list: %s"
           % out)


@check("the shredded bucket can be emptied and removed; writes to s2 fail clearly")
def c_empty(srv):
    from botocore.exceptions import ClientError

    c = srv.s3("s2")
    for (lv, key) in [k for k in DATA if k[0] == "s2"]:
        c.delete_object(Bucket="level-s2", Key=key)
        del DATA[(lv, key)]
    try:
        c.put_object(Bucket="level-s2", Key="new", Body=b"x")
        raise Fail("PUT at a shredded level succeeded")
    except ClientError as e:
        expect(err_code(e) == ("KeyDestroyed", 410), "PUT: %s" % (err_code(e),))
    c.delete_bucket(Bucket="level-s2")
    names = [b["Name"] for b in srv.s3("s3").list_buckets()["Buckets"]]
    expect("level-s2" not in names, "bucket still listed: %s" % names)


@check("rotate s1, then destroying version 1 is refused while objects use it")
def c_rotate(srv):
    rc, out, err = srv.admin("key", "rotate", "s1")
    expect(rc == 0 and "version 2" in out, "%d %s %s" % (rc, out, err))
    put_objects(srv, "after", 4, ["s0", "s1", "s3"])
    rc, out, err = srv.admin("key", "destroy", "s1", "1")
    expect(rc == 1 and "still sealed under version 1" in err, "%d %s %s" % (rc, out, err))
    vers = {v for (kid, v, _, _) in stored_headers(srv) if kid == "s1"}
    expect(vers == {1, 2}, "s1 header versions %s" % vers)


@check("rewrap s1: every header moves to version 2, then version 1 is destroyed without loss")
def c_rewrap(srv):
    n_old = sum(1 for (kid, v, _, _) in stored_headers(srv) if kid == "s1" and v == 1)
    rc, out, err = srv.admin("key", "rewrap", "s1")
    expect(rc == 0, "%d %s %s" % (rc, out, err))
    m = re.search(r"rewrapped (\d+) objects of level s1 to key version 2 \((\d+) already", out)
    expect(m and int(m.group(1)) == n_old, "output %r, expected %d rewrapped" % (out, n_old))
    vers = {v for (kid, v, _, _) in stored_headers(srv) if kid == "s1"}
    expect(vers == {2}, "s1 header versions after rewrap: %s" % vers)
    rc, out, err = srv.admin("key", "rewrap", "s1")
    expect(rc == 0 and "rewrapped 0 objects" in out, "second rewrap: %s %s" % (out, err))
    rc, out, err = srv.admin("key", "destroy", "s1", "1")
    expect(rc == 0, "destroy: %d %s %s" % (rc, out, err))
    expect(not files_containing(srv.keys, [KEKS["s1"][1]]), "v1 KEK still in a key file")
    check_levels(srv, None)
    expect(srv.stop() == 0, "stop")
    srv.start()
    check_levels(srv, None)
    expect(KEKS["s1"][1] not in memory_contains(srv.proc.pid, [KEKS["s1"][1]]),
           "destroyed v1 in memory")


@check("object shred destroys one object; the others of its bucket stay")
def c_object_shred(srv):
    rc, out, err = srv.admin("object", "shred", "level-s0", "before/obj-01")
    expect(rc == 2, "without --yes and no TTY: %d" % rc)
    rc, out, err = srv.admin("object", "shred", "level-s0", "before/obj-01", "--yes")
    expect(rc == 0 and "shredded s3://level-s0/before/obj-01" in out, "%d %s %s" % (rc, out, err))
    del DATA[("s0", "before/obj-01")]
    d, e = get(srv, "s0", "level-s0", "before/obj-01")
    expect(e == ("NoSuchKey", 404), "GET after shred: %s" % (e,))
    rc, out, err = srv.admin("object", "shred", "level-s0", "no-such", "--yes")
    expect(rc == 1 and "no object" in err, "%d %s" % (rc, err))
    check_levels(srv, None)


@check("users and access keys: create, use, revoke, disable; bucket create; lists")
def c_users(srv):
    from botocore.exceptions import ClientError

    rc, out, err = srv.admin("level", "add", "s5:c1,c3")
    expect(rc == 0, "level add: %s %s" % (out, err))
    rc, out, err = srv.admin("bucket", "create", "secret5", "--label", "s5:c1,c3")
    expect(rc == 0, "bucket create: %s %s" % (out, err))
    rc, out, err = srv.admin("bucket", "create", "nolevel", "--label", "s9")
    expect(rc == 1 and "level add" in err, "bucket at a missing level: %s" % err)
    rc, out, err = srv.admin("user", "add", "alice", "--clearance", "s0-s5:c0.c7")
    expect(rc == 0, "user add: %s %s" % (out, err))
    keys = []
    for _ in range(2):
        rc, out, err = srv.admin("accesskey", "create", "alice", "--level", "s5:c1,c3")
        m = re.search(r"AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+)", out)
        expect(rc == 0 and m, "accesskey create: %s %s" % (out, err))
        keys.append((m.group(1), m.group(2)))
    c1 = srv.s3(akid=keys[0][0], secret=keys[0][1])
    c1.put_object(Bucket="secret5", Key="k", Body=b"alice's")
    rc, out, _ = srv.admin("accesskey", "revoke", keys[0][0])
    expect(rc == 0, "revoke")
    try:
        c1.get_object(Bucket="secret5", Key="k")
        raise Fail("a revoked key still works")
    except ClientError as e:
        expect(err_code(e) == ("InvalidAccessKeyId", 403), "revoked: %s" % (err_code(e),))
    c2 = srv.s3(akid=keys[1][0], secret=keys[1][1])
    expect(c2.get_object(Bucket="secret5", Key="k")["Body"].read() == b"alice's", "key 2")
    rc, out, _ = srv.admin("user", "disable", "alice")
    expect(rc == 0, "disable")
    try:
        c2.get_object(Bucket="secret5", Key="k")
        raise Fail("a disabled user's key still works")
    except ClientError as e:
        expect(err_code(e)[1] == 403, "disabled: %s" % (err_code(e),))
    rc, out, _ = srv.admin("user", "list")
    expect(rc == 0 and re.search(r"alice .*disabled=yes keys=1", out), "user list: %s" % out)
    rc, out, _ = srv.admin("bucket", "list")
    expect(rc == 0 and re.search(r"secret5 .*level=s5:c1,c3 .*objects=1", out), out)
    rc, out, err = srv.admin("accesskey", "create", "nobody-here", "--level", "s0")
    expect(rc == 1 and "no such user" in err, err)
    rc, out, err = srv.admin("frobnicate")
    expect(rc == 2 and "unknown verb" in err, err)


@check("status reports uptime, connections, throughput and usage per level")
def c_status(srv):
    rc, out, err = srv.admin("status")
    expect(rc == 0, err)
    for pat in [r"uptime \d+ s", r"connections \d+ open", r"bytes in \d+, out \d+",
                r"level s0 +objects=%d" % sum(1 for k in DATA if k[0] == "s0"),
                r"level s2 .*key=destroyed"]:
        expect(re.search(pat, out), "no %r in:\n%s" % (pat, out))


@check("the control socket refuses a peer that is neither root nor the server's user")
def c_peer(srv):
    os.chmod(srv.sock, 0o666)
    os.chmod(srv.d, 0o711)
    try:
        rc, out, err = srv.admin("status", user=65534)
    finally:
        os.chmod(srv.sock, 0o600)
        os.chmod(srv.d, 0o700)
    expect(rc == 5 and "permission denied" in err, "rc %d: %s %s" % (rc, out, err))


@check("auth failures and access denials are audited")
def c_deny(srv):
    from botocore.exceptions import ClientError

    a, _ = srv.creds["s0"]
    bad = srv.s3(akid=a, secret="x" * 40)
    with contextlib.suppress(ClientError):
        bad.list_buckets()
    with contextlib.suppress(ClientError):
        srv.s3("s0").put_object(Bucket="level-s1", Key="up", Body=b"no write up")
    with contextlib.suppress(ClientError):
        srv.s3("s0").get_object(Bucket="level-s3", Key="before/obj-00")


EVENTS = ["server_start", "server_stop", "level_add", "key_rotate", "key_rewrap", "key_destroy",
          "key_shred", "object_shred", "object_delete", "bucket_create", "bucket_delete",
          "user_add", "user_disable", "accesskey_create", "accesskey_revoke", "auth_failure",
          "access_denied"]


@check("every audit event type appears, and `audit verify` passes")
def c_audit(srv):
    lines = audit_lines(srv)
    seen = {re.search(rb'"event":"([a-z_]+)"', l).group(1).decode() for l in lines}
    missing = [e for e in EVENTS if e not in seen]
    expect(not missing, "missing events: %s (seen %s)" % (missing, sorted(seen)))
    for l in lines:
        expect(b"AWS_SECRET" not in l and b"secret" not in l.lower().replace(b"secret5", b""),
               "a secret in the audit log: %r" % l[:200])
    rc, out, err = srv.admin("audit", "verify")
    expect(rc == 0 and "intact" in out, "%d %s %s" % (rc, out, err))
    print("# %s" % out.strip(), flush=True)


@check("audit verify names an edited, a deleted and a swapped line; a restored log passes")
def c_tamper(srv):
    path = os.path.join(srv.d, "audit", "audit.log")
    with open(path, "rb") as f:
        orig = f.read()
    lines = orig.split(b"\n")[:-1]
    expect(len(lines) >= 10, "only %d lines" % len(lines))
    k = len(lines) // 2
    cases = []
    edited = list(lines)
    edited[k] = edited[k].replace(b'"event":"', b'"event":"x', 1)
    cases.append(("edit", edited, k + 1))
    deleted = lines[:k] + lines[k + 1:]
    cases.append(("delete", deleted, k + 1))
    swapped = list(lines)
    swapped[k], swapped[k + 1] = swapped[k + 1], swapped[k]
    cases.append(("swap", swapped, k + 1))
    cases.append(("delete last", lines[:-1], len(lines)))
    try:
        for what, ls, lineno in cases:
            with open(path, "wb") as f:
                f.write(b"\n".join(ls) + b"\n")
            rc, out, err = srv.admin("audit", "verify")
            expect(rc == 1 and "DAMAGED" in err, "%s: verify passed: %s %s" % (what, out, err))
            m = re.search(r"line (\d+)", err)
            expect(m and int(m.group(1)) == lineno, "%s of line %d: %s" % (what, lineno, err))
            print("# %s line %d -> %s" % (what, lineno, err.strip()), flush=True)
    finally:
        with open(path, "wb") as f:
            f.write(orig)
    rc, out, err = srv.admin("audit", "verify")
    expect(rc == 0, "restored: %s %s" % (out, err))


@check("a passphrase-derived root key: start, restart, a wrong passphrase refused; "
       "--etag-md5 false: random ETags, MD5 ETags when Content-MD5 is sent")
def c_passphrase(base):
    srv = Server(base, "pass", ["--root-passphrase", "fd:0", "--scrypt-logn", "12",
                                "--etag-md5", "false"],
                 stdin=b"correct horse battery\n")
    try:
        srv.start()
        c = srv.s3("s1")
        body = b"sealed by a passphrase"
        md5 = '"%s"' % hashlib.md5(body).hexdigest()
        # boto3 sends Content-MD5 with every PutObject, curl does not.
        akid, secret = srv.creds["s1"]

        def curl_put(key):
            p = subprocess.run(
                ["curl", "-sS", "-D", "-", "-o", "/dev/null", "--aws-sigv4",
                 "aws:amz:us-east-1:s3", "--user", "%s:%s" % (akid, secret), "-H",
                 "x-amz-content-sha256: UNSIGNED-PAYLOAD", "-T", "-",
                 "http://127.0.0.1:%d/level-s1/%s" % (srv.port, key)],
                input=body, capture_output=True, timeout=30)
            m = re.search(rb"(?im)^etag: *(\S+)", p.stdout)
            expect(p.returncode == 0 and m, "curl PUT: %s %s" % (p.stdout, p.stderr))
            return m.group(1).decode()

        e1, e2 = curl_put("p"), curl_put("q")
        expect(re.fullmatch(r'"[0-9a-f]{32}"', e1) and e1 != md5 and e1 != e2,
               "ETags %s %s (MD5 %s)" % (e1, e2, md5))
        expect(c.head_object(Bucket="level-s1", Key="p")["ETag"] == e1, "HEAD ETag")
        listed = {o["Key"]: o["ETag"] for o in c.list_objects_v2(Bucket="level-s1")["Contents"]}
        expect(listed == {"p": e1, "q": e2}, "listed %s" % listed)
        import base64
        e3 = c.put_object(Bucket="level-s1", Key="r", Body=body,
                          ContentMD5=base64.b64encode(hashlib.md5(body).digest()).decode())
        expect(e3["ETag"] == md5, "with Content-MD5: %s" % e3["ETag"])
        expect(srv.stop() == 0, "stop")
        expect(not os.path.exists(srv.root), "a root key file was written")
        srv.start()
        expect(srv.s3("s1").get_object(Bucket="level-s1", Key="p")["Body"].read() ==
               b"sealed by a passphrase", "read back")
        expect(srv.stop() == 0, "stop")
        srv.stdin = b"wrong horse battery\n"
        rc = srv.start(expect_fail=True)
        expect(rc == 1 and "wrong passphrase" in srv.tail(), "rc %s\n%s" % (rc, srv.tail()))
    finally:
        srv.stop()


@check("started as root with --user nobody: serves as nobody; the root key stays root's")
def c_drop(base):
    if os.geteuid() != 0:
        print("# not root: skipped in substance", flush=True)
        return
    srv = Server(base, "drop", ["--user", "nobody"], user=65534)
    try:
        srv.start()
        with open("/proc/%d/status" % srv.proc.pid) as f:
            st = f.read()
        uid = re.search(r"^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)", st, re.M).groups()
        expect(uid == ("65534",) * 4, "Uid line %s" % (uid,))
        expect(re.search(r"^NoNewPrivs:\s+1", st, re.M), "no-new-privileges not set")
        srv.s3("s3").put_object(Bucket="level-s3", Key="k", Body=b"as nobody")
        expect(srv.s3("s3").get_object(Bucket="level-s3", Key="k")["Body"].read() ==
               b"as nobody", "read back")
        rs = os.stat(srv.root)
        expect(rs.st_uid == 0 and rs.st_mode & 0o777 == 0o600, "root key %o uid %d" %
               (rs.st_mode & 0o777, rs.st_uid))
        expect(os.stat(srv.keys).st_uid == 65534, "keys dir not nobody's")
        rc, out, err = srv.admin("key", "rotate", "s3")
        expect(rc == 0, "rotate as nobody: %s %s" % (out, err))
    finally:
        srv.stop()


def main():
    global SERVER, CLI, KEKDUMP
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    SERVER, CLI, KEKDUMP = (os.path.abspath(a) for a in sys.argv[1:])
    base = tempfile.mkdtemp(prefix="cs-keys-")
    os.chmod(base, 0o711)
    srv = Server(base)
    plan = [c_start, c_dump, c_scan_control, c_shred_refused, c_shred, c_after_shred, c_files,
            c_memory, c_restart, c_empty, c_rotate, c_rewrap, c_object_shred, c_users, c_status,
            c_peer, c_deny]
    tail = [c_audit, c_tamper]
    print("1..%d" % (len(plan) + len(tail) + 3), flush=True)
    try:
        ok = c_start(srv)
        for c in plan[1:]:
            if ok:
                c(srv)
            else:
                results.append((False, c.__name__, "skipped: start-up failed"))
                print("not ok %d - %s # start-up failed" % (len(results), c.__name__))
        # A restart puts server_stop and server_start into the log.
        srv.stop()
        srv.start()
        for c in tail:
            c(srv)
        stop_rc = srv.stop()
        log = srv.tail(100000)
        if stop_rc == 0 and "ERROR" not in log and "Sanitizer" not in log and \
                "runtime error" not in log:
            results.append((True, "clean stop", ""))
            print("ok %d - clean stop, no ERROR or sanitizer report in the server log" %
                  len(results))
        else:
            results.append((False, "clean stop", ""))
            print("not ok %d - clean stop (rc %s), no ERROR or sanitizer report in the server "
                  "log" % (len(results), stop_rc))
            for l in [l for l in log.splitlines() if "ERROR" in l or "Sanitizer" in l or
                      "runtime error" in l][:10]:
                print("# " + l)
        c_passphrase(base)
        c_drop(base)
    finally:
        srv.stop()
        if os.environ.get("CS_IT_KEEP") != "1":
            shutil.rmtree(base, ignore_errors=True)
        else:
            print("# kept %s" % base)
    failed = sum(1 for r in results if not r[0])
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
