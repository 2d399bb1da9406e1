#!/usr/bin/python3
"""The process model (`--model process`): a process per connection, against
the real server, boto3, raw keep-alive connections and `cryptstore admin`.

Usage: procmodel_test.py PATH/TO/cryptstored PATH/TO/cryptstore PATH/TO/kekdump

Prints TAP; exit status 1 if a check failed.  What it checks:
  - objects written and read back bit-exact; each open connection is served
    by its own child process of the server;
  - read-after-write across connections (processes): an object written on
    one connection is listed, read and, once deleted, gone on another
    connection whose process was forked before the write; the same for a
    bucket created and deleted through a child (the parent does it, and
    refuses to delete a bucket holding another process's object) and for
    a bucket the administrator creates;
  - least privilege: the process of a connection signed at s0 holds s0's
    KEK and no byte of s1's, s2's or s3's (its /proc/PID/mem), while a
    process that has not authenticated yet holds them all (the scan works);
    the connection refuses another access key with a message saying why;
  - a key change (rotate) stops every connection process before the admin
    command returns, and new connections are served with the new key;
  - audit events of the children reach the parent's chain with their pid,
    and `audit verify` passes;
  - SIGTERM: the server and every child exit; bad settings exit 2.
"""

import concurrent.futures
import contextlib
import http.client
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MiB = harness.MiB


def children(pid):
    """PIDs whose parent is pid."""
    kids = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        with contextlib.suppress(OSError), open("/proc/%s/stat" % d) as f:
            st = f.read()
            if int(st[st.rindex(")") + 2:].split()[1]) == pid:
                kids.append(int(d))
    return sorted(kids)


def serving(srv, local_port):
    """The child process holding the server's end of the connection whose
    client end is 127.0.0.1:local_port."""
    inode = None
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            w = line.split()
            lport = int(w[1].split(":")[1], 16)
            rport = int(w[2].split(":")[1], 16)
            if lport == srv.port and rport == local_port:
                inode = w[9]
    if inode is None:
        return None
    for pid in children(srv.proc.pid):
        with contextlib.suppress(OSError):
            for fd in os.listdir("/proc/%d/fd" % pid):
                if os.readlink("/proc/%d/fd/%s" % (pid, fd)) == "socket:[%s]" % inode:
                    return pid
    return None


class Raw:
    """One keep-alive HTTP connection; every request signed by harness.sign."""

    def __init__(self, srv):
        self.srv = srv
        self.c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
        self.c.connect()
        self.port = self.c.sock.getsockname()[1]

    def req(self, method, path, level="s0", body=b""):
        h = {"Content-Length": str(len(body))} if method in ("PUT", "POST") else {}
        hs = dict(harness.sign(self.srv, method, path, headers=h, level=level))
        self.c.request(method, path, body=body or None, headers=hs)
        r = self.c.getresponse()
        return r.status, r.read()

    def close(self):
        self.c.close()


def admin(srv, cli, *args):
    p = subprocess.run([cli, "admin", "--socket", srv.d + "/admin.sock", "--yes"] + list(args),
                       capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode() + p.stderr.decode()


def kekdump(tool, srv, level):
    p = subprocess.run([tool, srv.d + "/keys", srv.d + "/root.key", level], capture_output=True,
                       timeout=60)
    if p.returncode != 0:
        raise RuntimeError("kekdump %s: %s" % (level, p.stderr.decode()))
    return [bytes.fromhex(line.split()[1]) for line in p.stdout.decode().splitlines()
            if line.strip()]


def main():
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    binary, cli, tool = (os.path.abspath(a) for a in sys.argv[1:])
    from botocore.exceptions import ClientError

    tap = harness.Tap()
    base = tempfile.mkdtemp(prefix="cs-proc-", dir="/var/tmp")
    srv = harness.Server(binary, base, sync=False, extra=["--model", "process"])
    rnd = random.Random(7)
    try:
        srv.start()
        a = srv.client("s0", fresh=True, pool=1)
        b = srv.client("s0", fresh=True, pool=1)
        body = rnd.randbytes(3 * MiB + 12345)
        a.put_object(Bucket="level-s0", Key="one", Body=body)
        got = b.get_object(Bucket="level-s0", Key="one")["Body"].read()
        tap.ok(got == body, "PUT on one connection, GET bit-exact on another")
        kids = children(srv.proc.pid)
        tap.ok(len(kids) >= 2, "each open connection has its own process (%d children)" %
               len(kids), [srv.tail()])

        # b's process exists (forked before the writes below): it must see them.
        a.put_object(Bucket="level-s0", Key="two", Body=b"second")
        names = [o["Key"] for o in b.list_objects_v2(Bucket="level-s0").get("Contents", [])]
        got = b.get_object(Bucket="level-s0", Key="two")["Body"].read()
        tap.ok("two" in names and got == b"second",
               "an older connection's process lists and reads an object written since",
               [names])
        a.delete_object(Bucket="level-s0", Key="two")
        try:
            b.head_object(Bucket="level-s0", Key="two")
            code = None
        except ClientError as e:
            code = harness.err_code(e)[1]
        tap.ok(code == 404, "and no longer finds it once deleted elsewhere (%s)" % code)

        a1 = srv.client("s1", fresh=True, pool=1)
        b1 = srv.client("s1", fresh=True, pool=1)
        b1.head_bucket(Bucket="level-s1")  # b1's process exists before the bucket does
        a1.create_bucket(Bucket="pm-made")
        b1.head_bucket(Bucket="pm-made")
        b1.put_object(Bucket="pm-made", Key="k", Body=b"in a new bucket")
        got = a1.get_object(Bucket="pm-made", Key="k")["Body"].read()
        tap.ok(got == b"in a new bucket", "a bucket created through one child is usable from "
               "another, both ways")
        try:
            a1.delete_bucket(Bucket="pm-made")
            code = None
        except ClientError as e:
            code = harness.err_code(e)[0]
        tap.ok(code == "BucketNotEmpty", "the parent refuses to delete it while another "
               "process's object is in it (%s)" % code)
        b1.delete_object(Bucket="pm-made", Key="k")
        a1.delete_bucket(Bucket="pm-made")
        try:
            b1.head_bucket(Bucket="pm-made")
            code = None
        except ClientError as e:
            code = harness.err_code(e)[1]
        tap.ok(code == 404, "deleted through a child, it is gone for the others (%s)" % code)
        rc, out = admin(srv, cli, "bucket", "create", "pm-admin", "--label", "s1")
        b1.put_object(Bucket="pm-admin", Key="k", Body=b"x")
        tap.ok(rc == 0, "a bucket the administrator creates is usable from an existing "
               "connection", [out])

        # Least privilege, seen in the processes' memory.
        kek = {lv: kekdump(tool, srv, lv) for lv in ("s0", "s1", "s2", "s3")}
        fresh = Raw(srv)  # accepted, nothing asked yet: it holds every key
        time.sleep(0.2)
        fresh_pid = serving(srv, fresh.port)
        every = [k for lv in kek for k in kek[lv]]
        secrets = [srv.creds[lv][1].encode() for lv in ("s1", "s2", "s3")]
        found = harness.memory_contains(fresh_pid, every + secrets) if fresh_pid else set()
        tap.ok(fresh_pid is not None and len(found) == len(every) + len(secrets),
               "a process that has not authenticated holds all %d KEKs and the other keys' "
               "secrets (the scan works: %d of %d found)" %
               (len(every), len(found), len(every) + len(secrets)), [srv.tail()])
        fresh.close()
        r0 = Raw(srv)
        st, _ = r0.req("GET", "/level-s0/one")
        pid0 = serving(srv, r0.port)
        found = harness.memory_contains(pid0, every) if pid0 else set()
        others = [k for lv in ("s1", "s2", "s3") for k in kek[lv]]
        tap.ok(st == 200 and pid0 is not None and kek["s0"][0] in found and
               not found.intersection(others),
               "after a request signed at s0 its process holds s0's KEK and none of s1-s3's "
               "(%d of %d others found)" % (len(found.intersection(others)), len(others)))
        found = harness.memory_contains(pid0, secrets) if pid0 else set()
        tap.ok(pid0 is not None and not found,
               "its process holds no other access key's secret (%d of 3 found)" % len(found))
        links = []
        with contextlib.suppress(OSError):
            links = [os.readlink("/proc/%d/fd/%s" % (pid0, fd))
                     for fd in os.listdir("/proc/%d/fd" % pid0)]
        tap.ok(pid0 is not None and links and not any("/audit" in x for x in links),
               "and no descriptor of the audit log (its events go to the parent)", links)
        st, out = r0.req("GET", "/level-s1/k", level="s1")
        tap.ok(st == 403 and b"bound to the access key" in out,
               "the same connection refuses another access key, saying why (%d)" % st,
               [out[:300]])
        st, _ = r0.req("GET", "/level-s0/one")
        tap.ok(st == 200, "and serves its own key again (%d)" % st)

        # A key change stops every connection process before the command returns.
        before = children(srv.proc.pid)
        rc, out = admin(srv, cli, "key", "rotate", "s0")
        alive = [p for p in before if os.path.exists("/proc/%d" % p)]
        tap.ok(rc == 0 and before and not alive, "key rotate s0: all %d connection processes "
               "gone when the command returns (%d left)" % (len(before), len(alive)), [out])
        c = srv.client("s0", fresh=True, pool=1)
        c.put_object(Bucket="level-s0", Key="after", Body=b"new key")
        got = c.get_object(Bucket="level-s0", Key="after")["Body"].read()
        old = c.get_object(Bucket="level-s0", Key="one")["Body"].read()
        tap.ok(got == b"new key" and old == body, "new connections write with the new key "
               "and read the old objects")

        # A bucket at a level that has no key yet: the parent makes the key, the other
        # connection processes (which cannot load it) go, the requester closes after.
        rc1, out1 = admin(srv, cli, "user", "add", "eve", "--clearance", "s1:c7")
        rc2, out2 = admin(srv, cli, "accesskey", "create", "eve", "--level", "s1:c7")
        m = re.search(r"AWS_ACCESS_KEY_ID=(\S+) AWS_SECRET_ACCESS_KEY=(\S+)", out2)
        if rc1 or rc2 or not m:
            raise RuntimeError("eve: %s %s" % (out1, out2))
        srv.creds["eve"] = (m.group(1), m.group(2))
        watcher = srv.client("s0", fresh=True, pool=1)
        watcher.head_bucket(Bucket="level-s0")
        before = children(srv.proc.pid)
        e1 = srv.client("eve", fresh=True, pool=1)
        e1.create_bucket(Bucket="pm-eve")
        time.sleep(0.3)
        alive = [p for p in before if os.path.exists("/proc/%d" % p)]
        e2 = srv.client("eve", fresh=True, pool=1)
        e2.put_object(Bucket="pm-eve", Key="k", Body=b"at s1:c7")
        got = e2.get_object(Bucket="pm-eve", Key="k")["Body"].read()
        tap.ok(got == b"at s1:c7" and before and not alive,
               "CreateBucket at a new level: the older connection processes are gone (%d of "
               "%d left) and a new connection writes and reads at the level" %
               (len(alive), len(before)), [srv.tail()])

        # Audit events of children that exit right away are all recorded.
        bad = 100

        def refused(_):
            c = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
            hs = dict(harness.sign(srv, "GET", "/level-s0/one", level="s0"))
            hs["Authorization"] = hs["Authorization"].replace("Signature=", "Signature=00")
            hs["Connection"] = "close"
            c.request("GET", "/level-s0/one", headers=hs)
            c.getresponse().read()
            c.close()

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            list(ex.map(refused, range(bad)))
        deadline = time.monotonic() + 10
        while True:
            with open(srv.d + "/audit/audit.log") as f:
                n_fail = f.read().count('"event":"auth_failure"')
            if n_fail >= bad or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        tap.ok(n_fail >= bad, "all %d auth failures of short-lived connections are in the "
               "audit log (%d)" % (bad, n_fail))

        rc, out = admin(srv, cli, "audit", "verify")
        with open(srv.d + "/audit/audit.log") as f:
            log = f.read()
        tap.ok(rc == 0 and re.search(r'"event":"bucket_create".*"pid":"\d+"', log) and
               '"event":"access_denied"' in log,
               "children's audit events are in the parent's chain with their pid; audit verify "
               "passes", [out])

        # Shutdown takes every child with it.
        holder = Raw(srv)
        holder.req("GET", "/level-s0/one")
        kids = children(srv.proc.pid)
        t0 = time.monotonic()
        rc = srv.stop()
        dt = time.monotonic() - t0
        alive = [p for p in kids if os.path.exists("/proc/%d" % p)]
        tap.ok(rc == 0 and kids and not alive and dt < 5,
               "SIGTERM: the server exits 0 in %.1f s, none of its %d children left" %
               (dt, len(kids)))
        holder.close()

        p = subprocess.run([binary, "--model", "fork"], capture_output=True, timeout=30)
        tap.ok(p.returncode == 2 and b"model" in p.stderr, "--model fork: exit 2 naming the "
               "setting", [p.stderr.decode()])
        p = subprocess.run([binary, "--model", "process", "--store", "rados", "--rados-pool", "x"],
                           capture_output=True, timeout=30)
        tap.ok(p.returncode == 2 and b"store = fs" in p.stderr,
               "--model process with store = rados: exit 2, saying why", [p.stderr.decode()])
    except Exception as e:  # noqa: BLE001
        tap.ok(False, "the test ran to its end", [repr(e), srv.tail()])
    finally:
        srv.stop()
        sys.stdout.flush()
        shutil.rmtree(base, ignore_errors=True)
    return tap.done()


if __name__ == "__main__":
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    sys.exit(main())
