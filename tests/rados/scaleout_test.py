#!/usr/bin/env python3
"""Two cryptstored front-ends on one Ceph cluster: the scale-out's races and
failures (issue 8).

Usage: scaleout_test.py PATH/TO/cryptstored PATH/TO/cryptstore
Needs the cluster in CRYPTSTORE_CEPH_CONF, _USER, _KEYRING, _POOL
(tests/rados/rados_test.sh starts one around this script).  TAP on stdout.

Checked:
  - the bucket list: 2 x 20 buckets created at the same moment through A
    and B are all listed by both, and by a front-end that reads the record
    afresh; 2 x 20 deleted at once (each through the other front-end) are
    gone from all lists;
  - a dead front-end: after kill -9 of B a key shred on A succeeds within
    KEY_BOUND seconds (the OSD drops B's watch after cluster.c's
    WATCH_TIMEOUT, 10 s; the announcement waits at most 15 s), names B as
    gone and removes B's registration; the next key command does not wait
    for B at all; A serves on;
  - a live front-end that does not acknowledge (a watcher on cs.events that
    keeps its watch but never answers in time, registered like a
    front-end): the key command fails naming it, as before;
  - B restarted registers again, and a later shred is acknowledged by both.
"""

import os
import re
import shutil
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from harness import FrontEnd, Tap, rados_test_args, sanitizer_lines  # noqa: E402

NBUCKETS = 20   # per front-end
KEY_BOUND = 30  # s: a key command with a dead front-end (expected 5-15 s, on a busy machine)


def eventually(fn, timeout):
    end = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > end:
            return v
        time.sleep(0.1)


def bucket_names(fe):
    try:
        return {b["Name"] for b in fe.client("s1").list_buckets()["Buckets"]}
    except Exception:  # noqa: BLE001 - an error is "no list"
        return set()


def all_at_once(jobs):
    """Run the callables of jobs in threads released together; their
    results (or exceptions) in order."""
    out = [None] * len(jobs)
    gate = threading.Barrier(len(jobs))

    def run(i, fn):
        try:
            gate.wait(30)
            out[i] = fn()
        except Exception as e:  # noqa: BLE001
            out[i] = e
    ts = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(jobs)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(300)
    return out


class Cluster:
    """A librados handle on the run's namespace (python3-rados), or None."""

    def __init__(self, ns):
        import rados
        env = os.environ
        self.rados = rados
        self.r = rados.Rados(conffile=env["CRYPTSTORE_CEPH_CONF"],
                             name=env["CRYPTSTORE_CEPH_USER"],
                             conf={"keyring": env["CRYPTSTORE_CEPH_KEYRING"]})
        self.r.connect(timeout=30)
        self.io = self.r.open_ioctx(env["CRYPTSTORE_CEPH_POOL"])
        self.io.set_namespace(ns)

    def registry(self):
        """{name: value} of the front-ends registered in cs.events."""
        with self.rados.ReadOpCtx() as op:
            it, _ = self.io.get_omap_vals(op, "", "fe.", 1000)
            self.io.operate_read_op(op, "cs.events")
            return {k[3:]: v.decode() for k, v in it}

    def close(self):
        self.io.close()
        self.r.shutdown()


class StuckFrontEnd:
    """A front-end that is alive (its watch on cs.events is kept up by
    librados) but does not acknowledge: its callback waits until released.
    Registered under name, as cluster.c registers."""

    def __init__(self, cl, name):
        self.cl, self.name = cl, name
        self.release = threading.Event()
        self.calls = 0
        self.w = cl.io.watch("cs.events", self.on_notify, timeout=10)
        gid = cl.r.get_instance_id()
        with cl.rados.WriteOpCtx() as op:
            cl.io.set_omap(op, ("fe." + name,), (("%d stuck" % gid).encode(),))
            cl.io.operate_write_op(op, "cs.events")

    def on_notify(self, notify_id, notifier_id, watch_id, data):
        self.calls += 1
        self.release.wait(120)
        return b"late"

    def stop(self):
        self.release.set()
        self.w.close()


def main():
    args = rados_test_args("scaleout_test.py")
    if not isinstance(args, tuple):
        return args
    binary, cli = args
    t = Tap()
    base = tempfile.mkdtemp(prefix="cs-scaleout-")
    ns = "so-" + os.urandom(4).hex()
    fes = {n: FrontEnd(binary, cli, base, n, ns) for n in ("a", "b", "c")}
    try:
        run(t, fes, ns)
    except Exception:  # noqa: BLE001 - report, then clean up
        import traceback
        t.ok(False, "no exception", traceback.format_exc().splitlines())
    finally:
        for n, s in fes.items():
            if s.alive():
                rc = s.stop()
                t.ok(rc == 0, "front-end %s stops on SIGTERM with status 0" % n.upper(),
                     [s.tail()])
        bad = sanitizer_lines("".join(s.log_since(0) for s in fes.values()))
        t.ok(not bad, "no sanitizer reports in the logs", bad[:20])
        if os.environ.get("CS_IT_KEEP"):
            t.diag("kept " + base)
        else:
            shutil.rmtree(base, ignore_errors=True)
    return t.done()


def start_with_root_key(a, x):
    os.makedirs(x.d, 0o700, exist_ok=True)
    shutil.copy2(os.path.join(a.d, "root.key"), os.path.join(x.d, "root.key"))
    os.chmod(os.path.join(x.d, "root.key"), 0o600)
    x.start()


def run(t, fes, ns):
    a, b, c = fes["a"], fes["b"], fes["c"]
    a.start()
    start_with_root_key(a, b)
    t.ok(True, "front-ends A and B up on one namespace")
    ca = a.client("s1", pool=NBUCKETS + 2)
    cb = b.client("s1", pool=NBUCKETS + 2)

    # ---- 1. the bucket list ---------------------------------------------------------
    names_a = ["race-a-%02d" % i for i in range(NBUCKETS)]
    names_b = ["race-b-%02d" % i for i in range(NBUCKETS)]
    jobs = [(lambda n=n: ca.create_bucket(Bucket=n)) for n in names_a] + \
           [(lambda n=n: cb.create_bucket(Bucket=n)) for n in names_b]
    res = all_at_once(jobs)
    errs = [repr(r) for r in res if isinstance(r, Exception)]
    t.ok(not errs, "%d bucket creations at once through A and B all succeed" % len(jobs), errs)
    want = set(names_a + names_b)
    for name, fe in (("A", a), ("B", b)):
        ok = eventually(lambda fe=fe: want <= bucket_names(fe), 20)
        t.ok(ok, "%s lists all %d buckets made at once" % (name, len(want)),
             ["missing: %s" % sorted(want - bucket_names(fe))])
    # A third front-end reads the record itself, not anyone's memory.
    start_with_root_key(a, c)
    got = bucket_names(c)
    t.ok(want <= got, "a front-end started afterwards lists all %d (the record has them)" %
         len(want), ["missing: %s" % sorted(want - got)])
    c.stop()

    jobs = [(lambda n=n: cb.delete_bucket(Bucket=n)) for n in names_a] + \
           [(lambda n=n: ca.delete_bucket(Bucket=n)) for n in names_b]
    res = all_at_once(jobs)
    errs = [repr(r) for r in res if isinstance(r, Exception)]
    t.ok(not errs, "%d bucket deletions at once (each through the other front-end) all "
         "succeed" % len(jobs), errs)
    for name, fe in (("A", a), ("B", b)):
        ok = eventually(lambda fe=fe: "level-s1" in bucket_names(fe) and
                        not (want & bucket_names(fe)), 20)
        t.ok(ok, "%s lists none of the deleted buckets" % name,
             ["still there: %s" % sorted(want & bucket_names(fe))])
    c.start()
    got = bucket_names(c)
    t.ok("level-s1" in got and not (want & got), "a front-end started afterwards lists none of them",
         ["still there: %s" % sorted(want & got)])
    c.stop()

    # ---- 2. a dead front-end ----------------------------------------------------------
    try:
        cl = Cluster(ns)
    except Exception as e:  # noqa: BLE001 - python3-rados missing or no cluster
        cl = None
        t.diag("python3-rados: %r" % (e,))
    reg = cl.registry() if cl else {}
    bname = next((k for k in reg if k.endswith(":%d" % b.port)), None)
    if cl:
        t.ok(bname is not None and any(k.endswith(":%d" % a.port) for k in reg),
             "A and B are registered in cs.events", [str(reg)])
    rc, out, err, secs = a.admin("level", "add", "s7")
    t.ok(rc == 0, "level add s7 with B alive: acknowledged (%.1f s)" % secs, [out, err])

    b.kill9()
    off = a.log_size()
    rc, out, err, secs = a.admin("key", "shred", "s7", "--yes", timeout=120)
    log = a.log_since(off)
    t.ok(rc == 0, "key shred s7 right after kill -9 of B succeeds on A (%.1f s)" % secs,
         [out, err, log[-2000:]])
    t.ok(secs < KEY_BOUND, "it returns within %d s: B's watch timed out, no wait for B's ack "
         "(%.1f s)" % (KEY_BOUND, secs))
    m = re.search(r"key change (acknowledged by all .*)", log)
    t.ok(m and "gone" in m.group(1) and ":%d" % b.port in m.group(1),
         "A reports B as gone, not as a failure", [m.group(0) if m else log[-2000:]])
    if cl:
        reg = cl.registry()
        t.ok(bname is not None and bname not in reg, "B's registration was removed", [str(reg)])
    rc, out, err, secs = a.admin("level", "add", "s8", timeout=120)
    t.ok(rc == 0 and secs < 8, "the next key command does not wait for B at all (%.1f s)" %
         secs, [out, err])
    x = os.urandom(5000)
    c0 = a.client("s0")
    c0.put_object(Bucket="level-s0", Key="after-b-died", Body=x)
    got = c0.get_object(Bucket="level-s0", Key="after-b-died")["Body"].read()
    t.ok(got == x, "A serves PUT and GET after B died")

    # ---- 3. a live front-end that does not acknowledge ------------------------------------
    stuck = None
    if cl is None:
        t.skip("a live front-end that does not acknowledge fails the key command",
               "no python3-rados")
    else:
        stuck = StuckFrontEnd(cl, "stuck-fe:1")
        rc, out, err, secs = a.admin("key", "rotate", "s8", timeout=120)
        t.ok(rc != 0 and "NOT acknowledged" in out + err and "stuck-fe:1 (no ack)" in out + err,
             "key rotate with a live front-end that does not acknowledge fails naming it "
             "(%.1f s)" % secs, [out, err])
        t.ok("stuck-fe:1" in cl.registry(), "a live front-end keeps its registration",
             [str(cl.registry())])
        stuck.stop()

    # ---- 4. B back ----------------------------------------------------------------------
    b.start()
    if cl:
        reg = cl.registry()
        t.ok(bname in reg, "B registers again when it starts", [str(reg)])
    off_a, off_b = a.log_size(), b.log_size()
    rc, out, err, secs = a.admin("level", "add", "s9", timeout=120)
    t.ok(rc == 0, "level add s9 with B back (%.1f s)" % secs, [out, err])
    if cl:
        log = a.log_since(off_a)
        t.ok("stuck-fe:1" not in cl.registry() and "stuck-fe:1" in log,
             "the watcher that went away is reported gone and unregistered",
             [str(cl.registry()), log[-1500:]])
    off_a = a.log_size()
    rc, out, err, secs = a.admin("key", "shred", "s9", "--yes", timeout=120)
    log = a.log_since(off_a)
    m = re.search(r"key change (acknowledged by all (\d+) live front-end\(s\): (\S+))", log)
    t.ok(rc == 0 and m and m.group(2) == "2" and ":%d" % a.port in m.group(3) and
         ":%d" % b.port in m.group(3),
         "a later shred is acknowledged by both A and B (%.1f s)" % secs,
         [out, err, m.group(0) if m else log[-1500:]])
    t.ok("level s9 re-read" in b.log_since(off_b), "B re-read level s9 before the shred returned")
    got = bucket_names(b)
    t.ok("level-s1" in got and not (want & got), "B lists the buckets of the record after its "
         "restart", [sorted(got)])
    if cl:
        cl.close()


if __name__ == "__main__":
    sys.exit(main())
