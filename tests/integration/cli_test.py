#!/usr/bin/env python3
"""Integration test of the cryptstore CLI against a real cryptstored.

usage: cli_test.py PATH/TO/cryptstored PATH/TO/cryptstore

Starts a server with the demo identity in a fresh 0700 directory, drives
every verb of the CLI through it (transfers of 0 B to 40 MiB compared by
SHA-256, streaming through stdin and stdout, multipart and parallel ranges,
listings past 1000 keys, metadata, s3-to-s3 copies, the MLS policy, wrong
and missing credentials, usage errors, the exit codes), prints TAP, and
exits 1 if any case failed.  Standard library only.
"""

import hashlib
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

MiB = 1 << 20


class Tap:
    def __init__(self):
        self.n = 0
        self.failed = 0

    def ok(self, cond, name, diag=None):
        self.n += 1
        if cond:
            print(f"ok {self.n} - {name}", flush=True)
        else:
            self.failed += 1
            print(f"not ok {self.n} - {name}", flush=True)
            for line in (diag or "").splitlines():
                print(f"# {line}", flush=True)
        return cond

    def finish(self):
        print(f"1..{self.n}", flush=True)
        return 1 if self.failed else 0


class Result:
    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    def diag(self):
        err = self.err.decode(errors="replace")
        out = self.out[:400].decode(errors="replace")
        return f"cmd: {' '.join(self.argv)}\nrc: {self.rc}\nstderr: {err}\nstdout: {out}"

    @property
    def stderr(self):
        return self.err.decode(errors="replace")

    @property
    def stdout(self):
        return self.out.decode(errors="replace")


class Env:
    def __init__(self, server, cli):
        self.server, self.cli = server, cli
        self.dir = tempfile.mkdtemp(prefix="cstore-cli-")
        os.chmod(self.dir, 0o700)
        self.work = os.path.join(self.dir, "work")
        os.mkdir(self.work)
        self.home = os.path.join(self.dir, "home")
        os.mkdir(self.home)
        self.proc = None
        self.port = None
        self.keys = {}

    def start(self):
        d = self.dir
        self.log = open(os.path.join(d, "server.log"), "wb")
        self.proc = subprocess.Popen(
            [self.server, "--data-dir", f"{d}/data", "--keys-dir", f"{d}/keys",
             "--root-key", f"{d}/root.key", "--port", "0", "--port-file", f"{d}/port",
             "--credentials-file", f"{d}/creds", "--init-demo", "true", "--sync", "false",
             "--admin-socket", f"{d}/admin.sock", "--audit-dir", f"{d}/audit"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while time.time() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with open(f"{d}/port") as f:
                    text = f.read().strip()
                if text:
                    self.port = int(text)
                    break
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        if self.port is None:
            return False
        with open(f"{d}/creds") as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3:
                    self.keys[parts[0]] = (parts[1], parts[2])
        return all(f"s{i}" in self.keys for i in range(4))

    def stop(self):
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            rc = self.proc.wait()
        self.log.close()
        return rc

    def server_log(self, last=20):
        try:
            with open(os.path.join(self.dir, "server.log"), "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
            return "\n".join(lines[-last:])
        except OSError:
            return ""

    def environ(self, level="s0", secret=None, akid=None, creds=True):
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["HOME"] = self.home  # no ~/.aws of the user running the test
        env.pop("CRYPTSTORE_DEBUG", None)
        env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{self.port}"
        env["AWS_REGION"] = "us-east-1"
        if creds:
            a, s = self.keys[level]
            env["AWS_ACCESS_KEY_ID"] = akid if akid is not None else a
            env["AWS_SECRET_ACCESS_KEY"] = secret if secret is not None else s
        return env

    def run(self, *args, level="s0", env=None, stdin=None, input_data=None, timeout=120,
            stdout=None):
        argv = [self.cli] + [str(a) for a in args]
        if env is None:
            env = self.environ(level)
        p = subprocess.run(argv, env=env, cwd=self.work, input=input_data,
                           stdin=stdin if input_data is None else None,
                           stdout=stdout if stdout is not None else subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        return Result(argv, p.returncode, p.stdout or b"", p.stderr)

    def path(self, name):
        return os.path.join(self.work, name)

    def make_file(self, name, size):
        path = self.path(name)
        with open(path, "wb") as f:
            left = size
            while left > 0:
                chunk = os.urandom(min(left, MiB))
                f.write(chunk)
                left -= len(chunk)
        return path


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(MiB)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def stat_fields(text):
    fields = {}
    for line in text.splitlines():
        if ": " in line:
            k, v = line.split(": ", 1)
            fields.setdefault(k, []).append(v)
    return fields


def main():
    if len(sys.argv) != 3:
        print("usage: cli_test.py CRYPTSTORED CRYPTSTORE", file=sys.stderr)
        return 2
    t = Tap()
    env = Env(os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2]))
    start = time.time()
    try:
        if not t.ok(env.start(), "server starts", env.server_log()):
            return t.finish()
        run_tests(t, env)
    finally:
        rc = env.stop()
        t.ok(rc == 0, "server stops cleanly on SIGTERM", f"exit status {rc}\n{env.server_log()}")
        shutil.rmtree(env.dir, ignore_errors=True)
    print(f"# {time.time() - start:.1f} s", flush=True)
    return t.finish()


def run_tests(t, env):
    B = "cli-test"

    # ---- help, version, usage errors -------------------------------------------------------
    r = env.run("--help", env={})
    t.ok(r.rc == 0 and "Exit codes" in r.stdout and "put" in r.stdout, "cryptstore --help",
         r.diag())
    r = env.run("--version", env={})
    t.ok(r.rc == 0 and r.stdout.startswith("cryptstore "), "cryptstore --version", r.diag())
    for verb in ["put", "get", "cp", "ls", "rm", "stat", "mb", "rb"]:
        r = env.run(verb, "--help", env={})
        t.ok(r.rc == 0 and f"usage: cryptstore {verb}" in r.stdout, f"{verb} --help exits 0",
             r.diag())
    r = env.run("help", "get", env={})
    t.ok(r.rc == 0 and "usage: cryptstore get" in r.stdout, "help get", r.diag())
    for args, name in [((), "no verb"), (("frobnicate",), "unknown verb"),
                       (("put", "onlyone"), "put with one operand"),
                       (("get", "--no-such-option", "s3://b/k", "x"), "unknown option"),
                       (("put", "--part-size", "1K", "x", "s3://b/k"), "part size below 5 MiB"),
                       (("cp", "a", "b"), "cp between two local files"),
                       (("rm", "s3://b"), "rm of a bucket without --recursive")]:
        r = env.run(*args)
        t.ok(r.rc == 2 and "usage" in r.stderr, f"bad usage exits 2: {name}", r.diag())

    # ---- buckets --------------------------------------------------------------------------
    r = env.run("mb", f"s3://{B}")
    t.ok(r.rc == 0, "mb creates a bucket", r.diag())
    r = env.run("mb", f"s3://{B}")
    t.ok(r.rc == 1 and ("BucketAlreadyOwnedByYou" in r.stderr or
                        "BucketAlreadyExists" in r.stderr),
         "mb of an existing bucket exits 1", r.diag())
    r = env.run("ls")
    t.ok(r.rc == 0 and B in r.stdout and "level-s0" in r.stdout and "level-s3" not in r.stdout,
         "ls lists the readable buckets only", r.diag())
    r = env.run("stat", f"s3://{B}")
    t.ok(r.rc == 0 and f"Bucket: {B}" in r.stdout, "stat of a bucket", r.diag())

    # ---- transfers of every size class, compared by SHA-256 ------------------------------
    sizes = [("empty", 0), ("one", 1), ("five", 5 * MiB + 1), ("forty", 40 * MiB)]
    for name, size in sizes:
        src = env.make_file(name, size)
        r = env.run("put", "--parts-parallel", "4", src, f"s3://{B}/sizes/{name}")
        t.ok(r.rc == 0 and r.err == b"", f"put {size} B (silent when stderr is no tty)",
             r.diag())
        out = env.path(name + ".back")
        r = env.run("get", f"s3://{B}/sizes/{name}", out)
        same = r.rc == 0 and os.path.exists(out) and sha256_file(out) == sha256_file(src)
        t.ok(same, f"get {size} B matches by SHA-256", r.diag())
    r = env.run("stat", f"s3://{B}/sizes/forty")
    f = stat_fields(r.stdout)
    t.ok(r.rc == 0 and f.get("Size") == [str(40 * MiB)] and
         re.fullmatch(r'"[0-9a-f]{32}-5"', f.get("ETag", [""])[0]),
         "40 MiB went up as a 5-part multipart upload", r.diag())
    r = env.run("stat", f"s3://{B}/sizes/five")
    f = stat_fields(r.stdout)
    want = '"' + hashlib.md5(open(env.path("five"), "rb").read()).hexdigest() + '"'
    t.ok(r.rc == 0 and f.get("ETag") == [want], "5 MiB + 1 went up as one PUT (ETag = MD5)",
         r.diag())
    # Its body (UNSIGNED-PAYLOAD, more than 1 MiB) went through the server's event loop, whose
    # MD5 lanes made that ETag: admin status counts the bodies the loops received.
    r = env.run("admin", "--socket", os.path.join(env.dir, "admin.sock"), "status")
    m = re.search(r"event loops (\d+): (\d+) upload bodies, (\d+) bytes", r.stdout)
    t.ok(r.rc == 0 and m is not None and int(m.group(2)) >= 1 and int(m.group(3)) >= 5 * MiB,
         "the 5 MiB + 1 body was received by the event loop (admin status: %s)" %
         (m.group(0) if m else "no event loops"), r.diag())
    r = env.run("put", "--part-size", "5M", env.path("five"), f"s3://{B}/sizes/five-mp")
    r2 = env.run("stat", f"s3://{B}/sizes/five-mp")
    t.ok(r.rc == 0 and '-2"' in r2.stdout, "--part-size 5M: 5 MiB + 1 in two parts",
         r.diag() + "\n" + r2.diag())

    # A large single-PUT object: downloaded as parallel ranges, verified by MD5.
    forty = env.path("forty")
    r = env.run("put", "--part-size", "64M", forty, f"s3://{B}/sizes/forty-single")
    out = env.path("forty-single.back")
    r2 = env.run("get", "--parts-parallel", "4", "--part-size", "5M",
                 f"s3://{B}/sizes/forty-single", out)
    t.ok(r.rc == 0 and r2.rc == 0 and sha256_file(out) == sha256_file(forty),
         "40 MiB single-PUT object: parallel ranged get with MD5 check",
         r.diag() + "\n" + r2.diag())

    # get into a directory keeps the key's name.
    os.mkdir(env.path("into"))
    r = env.run("get", f"s3://{B}/sizes/one", env.path("into") + "/")
    t.ok(r.rc == 0 and os.path.exists(env.path("into/one")), "get into a directory", r.diag())

    # ---- streaming ------------------------------------------------------------------------
    data = os.urandom(20 * MiB + 12345)
    r = env.run("put", "-", f"s3://{B}/stream/in", input_data=data)
    t.ok(r.rc == 0, "put - streams stdin (multipart)", r.diag())
    r = env.run("get", f"s3://{B}/stream/in", "-")
    t.ok(r.rc == 0 and hashlib.sha256(r.out).digest() == hashlib.sha256(data).digest(),
         "get - streams to stdout", r.diag())
    r = env.run("put", "-", f"s3://{B}/stream/small", input_data=b"hello\n")
    r2 = env.run("get", f"s3://{B}/stream/small", "-")
    t.ok(r.rc == 0 and r2.out == b"hello\n", "small stdin round trip", r.diag())
    r = env.run("put", "-", f"s3://{B}/stream/empty", input_data=b"")
    r2 = env.run("get", f"s3://{B}/stream/empty", "-")
    t.ok(r.rc == 0 and r2.rc == 0 and r2.out == b"", "empty stdin round trip", r2.diag())
    p1 = subprocess.Popen([env.cli, "get", f"s3://{B}/stream/in", "-"], env=env.environ(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    r = env.run("put", "-", f"s3://{B}/stream/piped", stdin=p1.stdout)
    p1.stdout.close()
    p1.wait(timeout=60)
    r2 = env.run("get", f"s3://{B}/stream/piped", "-")
    t.ok(r.rc == 0 and p1.returncode == 0 and r2.out == data, "get - | put - pipeline",
         r.diag())

    # ---- cp in every direction, content type and metadata ---------------------------------
    r = env.run("cp", "--content-type", "text/x-test", "--meta", "Color=blue", "--meta",
                "owner=ops", env.path("five"), f"s3://{B}/cp/five")
    t.ok(r.rc == 0, "cp local to s3 with --content-type and --meta", r.diag())
    r = env.run("stat", f"s3://{B}/cp/five")
    f = stat_fields(r.stdout)
    t.ok(r.rc == 0 and f.get("Content-Type") == ["text/x-test"] and
         "color=blue" in f.get("Metadata", []) and "owner=ops" in f.get("Metadata", []) and
         f.get("Size") == [str(5 * MiB + 1)] and f.get("Last-Modified"),
         "stat shows size, type, date and metadata", r.diag())
    r = env.run("cp", f"s3://{B}/cp/five", f"s3://{B}/cp/five-copy")
    r2 = env.run("stat", f"s3://{B}/cp/five-copy")
    r3 = env.run("get", f"s3://{B}/cp/five-copy", "-")
    t.ok(r.rc == 0 and "color=blue" in r2.stdout and "text/x-test" in r2.stdout and
         r3.out == open(env.path("five"), "rb").read(), "cp s3 to s3 keeps data and metadata",
         r.diag() + "\n" + r2.diag())
    r = env.run("cp", f"s3://{B}/sizes/forty", f"s3://{B}/cp/forty-copy")
    r2 = env.run("cp", f"s3://{B}/cp/forty-copy", env.path("forty.cp"))
    t.ok(r.rc == 0 and r2.rc == 0 and sha256_file(env.path("forty.cp")) == sha256_file(forty),
         "cp s3 to s3 (multipart) then s3 to local", r.diag() + "\n" + r2.diag())
    r = env.run("put", env.path("one"), f"s3://{B}/cp/dir/")
    r2 = env.run("stat", f"s3://{B}/cp/dir/one")
    t.ok(r.rc == 0 and r2.rc == 0, "a key ending in '/' takes the file's name", r2.diag())

    # Keys that need percent-encoding.
    names = ["sp ace", "plus+sign", "pct%41", "q?mark", "hash#x", "a//b", "ünï/çødé",
             "amp&lt;", "x/./y", "x/../y", "tilde~", "eq=1&b=2", "quote\"s'"]
    bad = []
    for k in names:
        r = env.run("put", "-", f"s3://{B}/odd/{k}", input_data=k.encode())
        r2 = env.run("get", f"s3://{B}/odd/{k}", "-")
        if r.rc != 0 or r2.out != k.encode():
            bad.append(f"{k!r}: {r.diag()} {r2.diag()}")
    r = env.run("ls", "--recursive", f"s3://{B}/odd/")
    listed = [line.split(None, 3)[3] for line in r.stdout.splitlines() if len(line.split()) >= 4]
    t.ok(not bad and sorted(listed) == sorted(f"odd/{k}" for k in names),
         "keys with reserved and non-ASCII characters round trip and list",
         "\n".join(bad) + "\n" + r.diag())

    # ---- listings past 1000 keys --------------------------------------------------------------
    many = env.path("many")
    os.mkdir(many)
    files = []
    for i in range(1100):
        p = os.path.join(many, f"k{i:04d}")
        with open(p, "wb") as fh:
            fh.write(b"%d\n" % i)
        files.append(p)
    t0 = time.time()
    r = env.run("put", *files, f"s3://{B}/many/")
    t.ok(r.rc == 0, f"put of 1100 files in one run ({time.time() - t0:.1f} s)", r.diag())
    # and a few in parallel processes, to the same prefix
    procs = [subprocess.Popen([env.cli, "put", "-", f"s3://{B}/many/p{i}"], env=env.environ(),
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE) for i in range(8)]
    for i, p in enumerate(procs):
        p.communicate(b"%d" % i, timeout=60)
    t.ok(all(p.returncode == 0 for p in procs), "8 puts in parallel processes")
    r = env.run("ls", f"s3://{B}/many/")
    lines = r.stdout.splitlines()
    keys = [line.split(None, 3)[3] for line in lines if len(line.split()) >= 4]
    want = sorted([f"many/k{i:04d}" for i in range(1100)] + [f"many/p{i}" for i in range(8)])
    t.ok(r.rc == 0 and keys == want, "ls follows continuation tokens past 1000 keys (1108)",
         f"got {len(keys)} keys\n" + r.diag())
    r = env.run("ls", f"s3://{B}")
    t.ok(r.rc == 0 and re.search(r"^\s+PRE many/$", r.stdout, re.M) and
         re.search(r"PRE sizes/", r.stdout), "ls rolls prefixes up into PRE lines", r.diag())
    r = env.run("ls", "-r", f"s3://{B}")
    t.ok(r.rc == 0 and len(r.stdout.splitlines()) > 1108, "ls --recursive of the bucket",
         r.diag())
    r = env.run("get", f"s3://{B}/many/k0777", "-")
    t.ok(r.rc == 0 and r.out == b"777\n", "a listed key reads back", r.diag())

    # ---- rm -------------------------------------------------------------------------------
    r = env.run("rm", f"s3://{B}/sizes/one", f"s3://{B}/sizes/empty")
    r2 = env.run("stat", f"s3://{B}/sizes/one")
    t.ok(r.rc == 0 and r2.rc == 1 and "NoSuchKey" in r2.stderr, "rm deletes keys", r2.diag())
    r = env.run("rm", f"s3://{B}/sizes/never-was")
    t.ok(r.rc == 0, "rm of a missing key succeeds (as S3)", r.diag())
    r = env.run("rm", "--recursive", f"s3://{B}/many/")
    r2 = env.run("ls", f"s3://{B}/many/")
    t.ok(r.rc == 0 and r2.rc == 0 and r2.stdout == "", "rm --recursive of 1108 keys",
         r.diag() + "\n" + r2.diag())

    # ---- errors and exit codes ------------------------------------------------------------
    r = env.run("get", f"s3://{B}/no/such/key", env.path("nothing"))
    t.ok(r.rc == 1 and f"cryptstore: get s3://{B}/no/such/key: NoSuchKey: " in r.stderr and
         not os.path.exists(env.path("nothing")), "get of a missing key: exit 1, NoSuchKey",
         r.diag())
    r = env.run("get", f"s3://{B}/no/such/key", "-")
    t.ok(r.rc == 1 and "NoSuchKey" in r.stderr, "get - of a missing key: exit 1", r.diag())
    r = env.run("get", "s3://no-such-bucket-x/k", "-")
    t.ok(r.rc == 1 and "NoSuchBucket" in r.stderr, "missing bucket: exit 1, NoSuchBucket",
         r.diag())
    r = env.run("ls", f"s3://{B}", env=env.environ(secret="0" * 40))
    t.ok(r.rc == 5 and "SignatureDoesNotMatch" in r.stderr,
         "wrong secret: exit 5, SignatureDoesNotMatch", r.diag())
    r = env.run("put", env.path("five"), f"s3://{B}/x", env=env.environ(secret="0" * 40))
    t.ok(r.rc == 5 and "SignatureDoesNotMatch" in r.stderr, "wrong secret on put: exit 5",
         r.diag())
    r = env.run("ls", f"s3://{B}", env=env.environ(akid="AKIDNOTKNOWN0000"))
    t.ok(r.rc == 5 and "InvalidAccessKeyId" in r.stderr, "unknown key id: exit 5", r.diag())
    r = env.run("ls", "s3://level-s3")
    t.ok(r.rc == 5 and "AccessDenied" in r.stderr,
         "s0 key listing a level-s3 bucket: AccessDenied, exit 5", r.diag())
    r = env.run("put", "-", "s3://level-s3/up", input_data=b"x")
    t.ok(r.rc == 5 and "AccessDenied" in r.stderr, "s0 key writing up: AccessDenied, exit 5",
         r.diag())
    r = env.run("put", "-", "s3://level-s2/k", level="s2", input_data=b"secret-ish")
    r2 = env.run("get", "s3://level-s2/k", "-")
    t.ok(r.rc == 0 and r2.rc == 5 and "AccessDenied" in r2.stderr,
         "s0 key reading a level-s2 object: AccessDenied, exit 5", r2.diag())
    r = env.run("get", "s3://level-s2/k", "-", level="s3")
    t.ok(r.rc == 0 and r.out == b"secret-ish", "s3 key reads down into level-s2", r.diag())
    r = env.run("put", "-", "s3://level-s0/down", level="s1", input_data=b"x")
    t.ok(r.rc == 5 and "AccessDenied" in r.stderr, "s1 key writing down: AccessDenied, exit 5",
         r.diag())
    r = env.run("stat", "s3://level-s2/k")
    t.ok(r.rc == 5 and "AccessDenied" in r.stderr, "stat (HEAD) denial names AccessDenied",
         r.diag())
    r = env.run("ls", env=env.environ(creds=False))
    t.ok(r.rc == 5 and "no credentials" in r.stderr, "no credentials: exit 5", r.diag())
    e = env.environ()
    e["AWS_ENDPOINT_URL"] = "http://127.0.0.1:1"
    r = env.run("ls", env=e)
    t.ok(r.rc == 4, "connection refused: exit 4", r.diag())
    r = env.run("put", env.path("does-not-exist"), f"s3://{B}/x")
    t.ok(r.rc == 3 and "No such file" in r.stderr, "missing local file: exit 3", r.diag())
    r = env.run("get", f"s3://{B}/sizes/five", env.path("no/such/dir/x"))
    t.ok(r.rc == 3, "unwritable destination: exit 3", r.diag())

    # ---- credentials from the AWS files ---------------------------------------------------
    a, s = env.keys["s0"]
    cred = os.path.join(env.dir, "credentials")
    conf = os.path.join(env.dir, "config")
    with open(cred, "w") as fh:
        fh.write(f"[default]\naws_access_key_id = WRONG\naws_secret_access_key = WRONG\n\n"
                 f"[tester]\naws_access_key_id = {a}\naws_secret_access_key = {s}\n")
    with open(conf, "w") as fh:
        fh.write(f"[profile tester]\nregion = us-east-1\n"
                 f"endpoint_url = http://127.0.0.1:{env.port}\ns3 =\n  addressing_style = path\n")
    e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    e.update(HOME=env.home, AWS_SHARED_CREDENTIALS_FILE=cred, AWS_CONFIG_FILE=conf)
    r = env.run("--profile", "tester", "ls", f"s3://{B}", env=e)
    t.ok(r.rc == 0 and "PRE sizes/" in r.stdout, "--profile from credentials and config files",
         r.diag())
    e2 = dict(e, AWS_PROFILE="tester")
    r = env.run("stat", f"s3://{B}/sizes/five", env=e2)
    t.ok(r.rc == 0, "AWS_PROFILE", r.diag())
    r = env.run("ls", env=dict(e, AWS_PROFILE="nobody"))
    t.ok(r.rc == 5 and "nobody" in r.stderr, "a missing profile is named", r.diag())

    # ---- progress bar on a terminal, silence with --quiet ---------------------------------
    for quiet in (False, True):
        master, slave = pty.openpty()
        args = [env.cli, "put"] + (["--quiet"] if quiet else []) + [forty, f"s3://{B}/tty"]
        p = subprocess.Popen(args, env=env.environ(), stdout=subprocess.DEVNULL,
                             stderr=slave, cwd=env.work)
        os.close(slave)
        chunks = []
        while True:
            try:
                b = os.read(master, 4096)
            except OSError:
                break
            if not b:
                break
            chunks.append(b)
        p.wait(timeout=60)
        os.close(master)
        text = b"".join(chunks).decode(errors="replace")
        if quiet:
            t.ok(p.returncode == 0 and text.strip() == "", "--quiet: no progress on a tty",
                 repr(text[-300:]))
        else:
            t.ok(p.returncode == 0 and "100%" in text and "MiB/s" in text,
                 "progress bar on a tty (bytes, percent, rate)", repr(text[-300:]))

    # ---- SIGINT aborts an upload -----------------------------------------------------------
    p = subprocess.Popen([env.cli, "put", "-", f"s3://{B}/interrupted"], env=env.environ(),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdin.write(os.urandom(12 * MiB))  # one part goes up; the stream stays open
    p.stdin.flush()
    time.sleep(1.0)
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        p.kill()
        _, err = p.communicate()
    r = env.run("stat", f"s3://{B}/interrupted")
    t.ok(p.returncode == 130 and b"interrupted" in err and r.rc == 1,
         "SIGINT: exit 130, upload aborted, no object",
         f"rc {p.returncode}, {err.decode(errors='replace')}\n{r.diag()}")

    # ---- rb -------------------------------------------------------------------------------
    r = env.run("rb", f"s3://{B}")
    t.ok(r.rc == 1 and "BucketNotEmpty" in r.stderr, "rb of a non-empty bucket: exit 1",
         r.diag())
    r = env.run("rb", "--force", f"s3://{B}")
    r2 = env.run("ls")
    t.ok(r.rc == 0 and B not in r2.stdout, "rb --force empties and deletes the bucket",
         r.diag() + "\n" + r2.diag())
    r = env.run("mb", "s3://cli-empty")
    r2 = env.run("rb", "s3://cli-empty")
    t.ok(r.rc == 0 and r2.rc == 0, "mb then rb of an empty bucket", r2.diag())


if __name__ == "__main__":
    sys.exit(main())
