#!/usr/bin/python3
"""Fault injection: cryptstored when its file-system calls fail.

Usage: fault_test.py PATH/TO/cryptstored PATH/TO/libfaultinject.so [--sample]

Prints TAP; exit status 1 if any check failed, 2 on bad usage.

One server runs for the whole sweep, in demo mode with --sync true, under the
shim tests/faultinject (LD_PRELOAD; FI_PREFIX is its data directory, so only
calls on stored objects count).  For each operation path

    put-0       PutObject of 0 B          (over an existing object)
    put-100k    PutObject of 100 KiB      (over an existing object)
    put-5m      PutObject of 5 MiB        (over an existing object)
    mpu-3       CompleteMultipartUpload of 3 parts (5 MiB, 5 MiB, 100 KiB),
                over an existing object
    delete      DeleteObject of an existing object
    delete-multi   DeleteObjects of 3 existing objects

it first runs the operation once with the shim counting (the clean run: how
many calls of each kind it makes), then, for every kind of call with a
non-zero count, every N from 1 to that count, modes once and forever, errno
EIO and ENOSPC: arms "CALL N MODE ERRNO", runs the operation, disarms, and
checks:

  - the answer: an error unless the first failed call came after the
    operation's commit point (see below), then a 2xx; an error is a proper
    S3 error (500 InternalError for EIO, 507 InsufficientStorage for ENOSPC);
  - the stored state: after an error the previous version reads back
    bit-exact (GET) and the listing shows it with its size and ETag; after a
    2xx the new one (or, for deletes, nothing); for DeleteObjects the same
    per key, by what the answer says of each key;
  - no new .tmp- or .rwj- file, except one whose removal was the failed call;
  - the server is still up and serves the next request.

The commit point of a path is the first successful directory fsync after the
rename (or unlink) that makes the change: a failure after it cannot undo the
change, so the server must report success and ignore it.  These are the
calls it may ignore, each one cleaning up after a committed change:
  - PUT and complete, overwriting: the unlink of the replaced object, kept
    under a .tmp- name until the commit is durable (a leftover is removed at
    the next start);
  - complete: removing the parts and the upload record (openat of the
    bucket's directory, unlinkat, its fsync); a failure leaves them behind,
    logged as a warning;
  - DELETE: the unlink of the object's .tmp- tombstone.
Which calls those are is read from the shim's trace of each case.

Every N is tried (about 460 cases, under a minute here).  With --sample, a
kind of call made more than 8 times by one path is tried only at N = 1, 2,
3, the middle, count-1 and count (pwritev of put-5m and mpu-3, openat of
mpu-3: about 310 cases); every kind of call and both modes stay covered.

Then:
  - short writes: pwritev of put-100k and put-5m writing half its bytes, the
    next call failing (ENOSPC once, EIO forever), every N;
  - full disk through the shim: every write and fallocate failing with
    ENOSPC: PUT of each size, UploadPart and CompleteMultipartUpload get 507
    InsufficientStorage (an S3 error); after disarming the same request
    succeeds;
  - a restart of the first server: leftovers of failed removals are swept and
    every object reads back;
  - a cut upload, on a second server under the shim with one sealing worker:
    another upload's batch write is held up 500 ms ("pwritev 2 delay 500")
    while a client sends one batch and a bit of a 5 MiB PUT and disconnects;
    the aborted upload must not be written after its temporary file is
    removed (the trace shows the order), the server stays up, the held-up
    upload succeeds and nothing is left behind;
  - a real full file system, if a 32 MiB tmpfs can be mounted (as root, with
    CAP_SYS_ADMIN; otherwise SKIP): a third server (no shim) stores into it
    until it answers 507, everything acknowledged reads back, no .tmp- file is
    left, objects are deleted and the same PUT then succeeds.

Environment: CS_IT_KEEP=1 keeps the temporary directory.
"""

import argparse
import contextlib
import hashlib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

MiB = harness.MiB
BUCKET = "level-s0"
LEVEL = "s0"
ERRNOS = ["EIO", "ENOSPC"]
MODES = ["once", "forever"]
RENAMES = {"rename", "renameat", "renameat2", "unlink", "unlinkat"}
EXPECT_CODE = {"EIO": (500, "InternalError"), "ENOSPC": (507, "InsufficientStorage")}


class Shim:
    """The control, stats and trace files of the fault shim."""

    def __init__(self, d, so, prefix):
        self.control = os.path.join(d, "fi.control")
        self.stats_path = os.path.join(d, "fi.stats")
        self.trace_path = os.path.join(d, "fi.trace")
        # A sanitizer build wants its runtime first; the shim only wraps
        # libc calls and may come before it.
        asan = os.environ.get("ASAN_OPTIONS", "")
        self.env = {"LD_PRELOAD": so, "FI_PREFIX": prefix, "FI_CONTROL": self.control,
                    "FI_STATS": self.stats_path, "FI_TRACE": self.trace_path,
                    "ASAN_OPTIONS": (asan + ":" if asan else "") + "verify_asan_link_order=0"}
        self.n = 0
        self.mtime = 0
        self.trace_off = 0

    def arm(self, rules):
        """Arm rules (lines "CALL N MODE ERRNO [short]"); returns the id."""
        self.n += 1
        ident = "a%d" % self.n
        tmp = self.control + ".tmp"
        with open(tmp, "w") as f:
            f.write("id %s\n" % ident + "".join(r + "\n" for r in rules))
        # The shim re-reads on a change of inode, size or times; a strictly
        # increasing mtime (set exactly) makes every arming a change, even
        # within one tick of the file system's clock.
        self.mtime = max(time.time_ns(), self.mtime + 1)
        os.utime(tmp, ns=(self.mtime, self.mtime))
        os.rename(tmp, self.control)
        with contextlib.suppress(FileNotFoundError):
            self.trace_off = os.path.getsize(self.trace_path)
        return ident

    def disarm(self):
        return self.arm([])

    def stats(self, ident):
        """call -> count since arming ident (all zero if no call counted)."""
        out = {}
        with contextlib.suppress(FileNotFoundError), open(self.stats_path) as f:
            for line in f:
                k, v = line.split()
                out[k] = v
        if out.get("id") != ident:
            return {}
        return {k: int(v) for k, v in out.items() if k not in ("id", "total", "failed") and
                int(v) > 0}

    def entries(self, ident):
        """The calls counted since arming ident: dicts seq, call, name, ok, err, short."""
        out = []
        with contextlib.suppress(FileNotFoundError), open(self.trace_path, "rb") as f:
            f.seek(self.trace_off)
            for raw in f.read().decode("utf-8", "replace").splitlines():
                p = raw.split()
                if len(p) < 5 or p[0] != ident:
                    continue
                failed = p[4] == "-1"
                out.append({"seq": int(p[1]), "call": p[2], "name": p[3], "ok": not failed,
                            "err": p[5] if failed and len(p) > 5 else None,
                            "short": p[-1] == "short"})
        out.sort(key=lambda e: e["seq"])
        return out


def essential_failure(entries):
    """Whether a call failed before the change was committed (a directory
    fsync after the rename or unlink that makes it), and the failed entry."""
    renamed = False
    for e in entries:
        if not e["ok"]:
            return True, e
        if e["call"] in RENAMES:
            renamed = True
        elif e["call"] == "fsync" and renamed:
            return False, None
    return False, None


def etag_of(data, parts=None):
    if parts is None:
        return '"%s"' % hashlib.md5(data).hexdigest()
    md5s = b"".join(hashlib.md5(p).digest() for p in parts)
    return '"%s-%d"' % (hashlib.md5(md5s).hexdigest(), len(parts))


class Outcome:
    def __init__(self, ok, status=None, code=None, detail="", body=None):
        self.ok, self.status, self.code, self.detail, self.body = ok, status, code, detail, body

    def __repr__(self):
        return "2xx" if self.ok else "%s %s%s" % (self.status, self.code,
                                                  " (%s)" % self.detail if self.detail else "")


def call_op(fn):
    try:
        return Outcome(True, body=fn())
    except Exception as e:  # noqa: BLE001 - any failure is the answer
        code, status = harness.err_code(e)
        return Outcome(False, status, code, "" if status else type(e).__name__ + ": " + str(e))


class Fixture:
    """The server under the shim, the model of what it stores under fi/, and
    the checks every case shares."""

    def __init__(self, srv, shim, rng):
        self.srv, self.shim, self.rng = srv, shim, rng
        self.model = {}  # key -> (data, etag); absent = no object
        self.known_left = set(harness.leftovers(srv.data))

    @property
    def c(self):
        return self.srv.client(LEVEL, pool=4, read_timeout=30)

    def put(self, key, data):
        """Unarmed set-up: store data under key (and in the model)."""
        self.c.put_object(Bucket=BUCKET, Key=key, Body=data)
        self.model[key] = (data, etag_of(data))

    def state_problems(self, keys):
        """Every key of keys reads back as the model says; the listing of fi/
        is the model."""
        bad = []
        for k in keys:
            want = self.model.get(k)
            try:
                got = self.c.get_object(Bucket=BUCKET, Key=k)["Body"].read()
            except Exception as e:  # noqa: BLE001
                code, status = harness.err_code(e)
                got = None
                if status != 404:
                    bad.append("GET %s: %s" % (k, e))
                    continue
            if (got is None) != (want is None) or (got is not None and got != want[0]):
                bad.append("GET %s: %s, want %s" % (
                    k, "none" if got is None else "%d bytes %s" % (len(got), etag_of(got)),
                    "none" if want is None else "%d bytes %s" % (len(want[0]), want[1])))
        listed = {}
        for page in self.c.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="fi/"):
            for o in page.get("Contents", []):
                listed[o["Key"]] = (o["Size"], o["ETag"])
        want = {k: (len(v[0]), v[1]) for k, v in self.model.items() if v is not None}
        if listed != want:
            for k in sorted(set(listed) | set(want)):
                if listed.get(k) != want.get(k):
                    bad.append("listed %s as %s, want %s" % (k, listed.get(k), want.get(k)))
        return bad

    def observe(self, keys):
        """After a reported problem: store a fresh version of every key
        (unarmed), so that the index, the store and the model agree again
        and one bug is reported once, not in every later case."""
        for k in keys:
            with contextlib.suppress(Exception):
                self.put(k, os.urandom(1500))

    def leftover_problems(self, entries):
        """New .tmp-/.rwj- files are allowed only where their unlink failed."""
        now = set(harness.leftovers(self.srv.data))
        new = now - self.known_left
        self.known_left = now
        failed_unlinks = {os.path.basename(e["name"]) for e in entries
                          if not e["ok"] and e["call"] in ("unlink", "unlinkat")}
        return ["leftover %s" % os.path.relpath(p, self.srv.data) for p in sorted(new)
                if os.path.basename(p) not in failed_unlinks]

    def answer_problems(self, out, essential, err):
        if not essential:
            return [] if out.ok else ["answered %r although nothing failed before the commit" %
                                      out]
        if out.ok:
            return ["answered 2xx although a call failed before the commit"]
        if out.status is None:
            return ["no S3 answer: %s" % out.detail]
        want = EXPECT_CODE[err]
        if (out.status, out.code) != want:
            return ["answered %s %s, want %s %s" % (out.status, out.code, want[0], want[1])]
        return []

    def alive_problems(self):
        if not self.srv.alive():
            return ["the server died (%s)" % self.srv.proc.returncode]
        try:
            self.c.head_bucket(Bucket=BUCKET)
        except Exception as e:  # noqa: BLE001
            return ["the next request failed: %s" % e]
        return []


class PutPath:
    def __init__(self, fx, name, size):
        self.fx, self.name, self.size, self.key = fx, name, size, "fi/" + name

    def prepare(self):
        cur = self.fx.model.get(self.key)
        if cur is None or len(cur[0]) == self.size == 0:
            self.fx.put(self.key, os.urandom(1000 + self.fx.rng.randrange(100)))
        self.new = os.urandom(self.size)

    def op(self):
        return call_op(lambda: self.fx.c.put_object(Bucket=BUCKET, Key=self.key, Body=self.new))

    def check(self, out, entries, err):
        essential, _ = essential_failure(entries)
        bad = self.fx.answer_problems(out, essential, err)
        if out.ok:
            self.fx.model[self.key] = (self.new, etag_of(self.new))
        st = self.fx.state_problems([self.key])
        if st:
            self.fx.observe([self.key])
        return bad + st

    def cleanup(self):
        pass


class MpuPath:
    SIZES = [5 * MiB, 5 * MiB, 100 * 1024]

    def __init__(self, fx):
        self.fx, self.name, self.key, self.upload = fx, "mpu-3", "fi/mpu", None

    def prepare(self):
        c = self.fx.c
        if self.fx.model.get(self.key) is None:
            self.fx.put(self.key, os.urandom(1024))
        if self.upload is None:
            uid = c.create_multipart_upload(Bucket=BUCKET, Key=self.key)["UploadId"]
            parts = [os.urandom(n) for n in self.SIZES]
            etags = [c.upload_part(Bucket=BUCKET, Key=self.key, UploadId=uid, PartNumber=i + 1,
                                   Body=p)["ETag"] for i, p in enumerate(parts)]
            self.upload = (uid, parts, etags)

    def op(self):
        uid, _, etags = self.upload
        mp = {"Parts": [{"PartNumber": i + 1, "ETag": e} for i, e in enumerate(etags)]}
        return call_op(lambda: self.fx.c.complete_multipart_upload(
            Bucket=BUCKET, Key=self.key, UploadId=uid, MultipartUpload=mp))

    def check(self, out, entries, err):
        uid, parts, _ = self.upload
        essential, _ = essential_failure(entries)
        bad = self.fx.answer_problems(out, essential, err)
        if out.ok:
            data = b"".join(parts)
            self.fx.model[self.key] = (data, etag_of(data, parts))
            self.upload = None
        st = self.fx.state_problems([self.key])
        if st:
            self.fx.observe([self.key])
        if not out.ok:
            # A failed complete leaves the upload as it was.
            try:
                got = self.fx.c.list_parts(Bucket=BUCKET, Key=self.key, UploadId=uid)
                n = len(got.get("Parts", []))
            except Exception as e:  # noqa: BLE001
                n = "error %s" % e
            if n != len(parts):
                bad.append("after a failed complete the upload has %s parts" % n)
                self.discard()
        return bad + st

    def discard(self):
        if self.upload is not None:
            with contextlib.suppress(Exception):
                self.fx.c.abort_multipart_upload(Bucket=BUCKET, Key=self.key,
                                                 UploadId=self.upload[0])
        self.upload = None

    def cleanup(self):
        self.discard()


class DeletePath:
    def __init__(self, fx):
        self.fx, self.name, self.key = fx, "delete", "fi/del"

    def prepare(self):
        if self.fx.model.get(self.key) is None:
            self.fx.put(self.key, os.urandom(2048))

    def op(self):
        return call_op(lambda: self.fx.c.delete_object(Bucket=BUCKET, Key=self.key))

    def check(self, out, entries, err):
        essential, _ = essential_failure(entries)
        bad = self.fx.answer_problems(out, essential, err)
        if out.ok:
            self.fx.model[self.key] = None
        st = self.fx.state_problems([self.key])
        if st:
            self.fx.observe([self.key])
        return bad + st

    def cleanup(self):
        pass


class DeleteMultiPath:
    def __init__(self, fx):
        self.fx, self.name = fx, "delete-multi"
        self.keys = ["fi/dm-%d" % i for i in range(1, 4)]

    def prepare(self):
        for k in self.keys:
            if self.fx.model.get(k) is None:
                self.fx.put(k, os.urandom(3000))

    def op(self):
        return call_op(lambda: self.fx.c.delete_objects(
            Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in self.keys]}))

    def check(self, out, entries, err):
        if not out.ok:
            self.fx.observe(self.keys)
            return ["DeleteObjects answered %r" % out]
        # Each key is one store_delete, which opens the bucket's directory
        # first: split the trace there, one segment per key in request order.
        segs, cur = [], None
        for e in entries:
            if e["call"] == "openat" and "/" not in e["name"]:
                cur = []
                segs.append(cur)
            if cur is not None:
                cur.append(e)
        deleted = {d["Key"] for d in out.body.get("Deleted", [])}
        errors = {d["Key"]: d.get("Code") for d in out.body.get("Errors", [])}
        bad = []
        if len(segs) != len(self.keys):
            bad.append("%d trace segments for %d keys" % (len(segs), len(self.keys)))
        for i, k in enumerate(self.keys):
            essential = essential_failure(segs[i])[0] if i < len(segs) else False
            if essential and k not in errors:
                bad.append("%s: a call failed before the commit, but it is reported %s" %
                           (k, "deleted" if k in deleted else "in neither list"))
            if not essential and k not in deleted:
                bad.append("%s: nothing failed before the commit, but it is reported %s" %
                           (k, "as an error" if k in errors else "in neither list"))
            if k in errors and errors[k] != "InternalError":
                bad.append("%s: error code %s" % (k, errors[k]))
            if k in deleted:
                self.fx.model[k] = None
        st = self.fx.state_problems(self.keys)
        if st:
            self.fx.observe(self.keys)
        return bad + st

    def cleanup(self):
        pass


def sample(count, full):
    if full or count <= 8:
        return list(range(1, count + 1))
    return sorted({1, 2, 3, (count + 1) // 2, count - 1, count})


def run_case(fx, path, rules, err):
    path.prepare()
    ident = fx.shim.arm(rules)
    out = path.op()
    entries = fx.shim.entries(ident)
    fx.shim.disarm()
    bad = fx.alive_problems()
    if bad:
        return bad, entries, out
    bad += path.check(out, entries, err)
    bad += fx.leftover_problems(entries)
    return bad, entries, out


def sweep(tap, fx, path, full, stats):
    """The clean run, then every (call, N, mode, errno) of path."""
    path.prepare()
    ident = fx.shim.arm(["count"])
    out = path.op()
    counts = fx.shim.stats(ident)
    entries = fx.shim.entries(ident)
    fx.shim.disarm()
    clean = path.check(out, entries, "EIO") + fx.leftover_problems(entries)
    tap.ok(out.ok and not clean and counts, "%s: clean run answers 2xx; calls: %s" %
           (path.name, ", ".join("%s %d" % kv for kv in sorted(counts.items()))),
           clean + ["answer %r" % out])
    stats[path.name] = {"counts": counts, "cases": 0, "sampled": {}}
    for call, count in sorted(counts.items()):
        ns = sample(count, full)
        if len(ns) < count:
            stats[path.name]["sampled"][call] = (ns, count)
        for mode in MODES:
            for err in ERRNOS:
                problems, answers = [], {}
                t0 = time.monotonic()
                for n in ns:
                    rule = "%s %d %s %s" % (call, n, mode, err)
                    bad, _, o = run_case(fx, path, [rule], err)
                    stats[path.name]["cases"] += 1
                    key = answer_key(o)
                    answers[key] = answers.get(key, 0) + 1
                    problems += ["N=%d: %s" % (n, b) for b in bad]
                    if not fx.srv.alive():
                        break
                tap.ok(not problems, "%s: %s %s %s, N=%s: %s (%.1f s)" % (
                    path.name, call, mode, err, span(ns, count),
                    ", ".join("%s %d" % kv for kv in sorted(answers.items())),
                    time.monotonic() - t0), problems)
                if not fx.srv.alive():
                    harness.die("the server died: %s" % fx.srv.tail())
    path.cleanup()


def answer_key(o):
    """How a case was answered, for the summary line."""
    if not o.ok:
        return "%s" % (o.code or o.status or "no answer")
    if isinstance(o.body, dict) and o.body.get("Errors"):
        return "2xx with %d key errors" % len(o.body["Errors"])
    return "2xx"


def span(ns, count):
    if ns == list(range(1, count + 1)):
        return "1..%d" % count
    return ",".join(map(str, ns)) + " of %d" % count


def short_writes(tap, fx, path, count):
    for mode, err in (("once", "ENOSPC"), ("forever", "EIO")):
        problems, answers = [], {}
        for n in range(1, count + 1):
            bad, entries, o = run_case(fx, path, ["pwritev %d %s %s short" % (n, mode, err)], err)
            if not any(e["short"] for e in entries):
                bad.append("no short write happened")
            key = answer_key(o)
            answers[key] = answers.get(key, 0) + 1
            problems += ["N=%d: %s" % (n, b) for b in bad]
        tap.ok(not problems, "%s: pwritev N %s %s short (half written, then the error), "
               "N=1..%d: %s" % (path.name, mode, err, count,
                                ", ".join("%s %d" % kv for kv in sorted(answers.items()))),
               problems)


def full_disk_shim(tap, fx):
    """Every write and fallocate ENOSPC: 507 with an S3 code; then success."""
    c = fx.c
    for size in (0, 100 * 1024, 5 * MiB):
        key = "fi/full-%d" % size
        data = os.urandom(size)
        fx.shim.arm(["writes 1 forever ENOSPC"])
        o1 = call_op(lambda: c.put_object(Bucket=BUCKET, Key=key, Body=data))
        fx.shim.disarm()
        bad = []
        if (o1.status, o1.code) != (507, "InsufficientStorage"):
            bad.append("full: answered %r, want 507 InsufficientStorage" % o1)
        bad += fx.state_problems([key])
        o2 = call_op(lambda: c.put_object(Bucket=BUCKET, Key=key, Body=data))
        if o2.ok:
            fx.model[key] = (data, etag_of(data))
        else:
            bad.append("after the space came back: %r" % o2)
        bad += fx.state_problems([key]) + fx.leftover_problems([])
        tap.ok(not bad, "full disk (shim, writes forever ENOSPC): PUT %d B answers 507 "
               "InsufficientStorage, and succeeds once space is back" % size, bad)
    # UploadPart and CompleteMultipartUpload.
    key, bad = "fi/full-mpu", []
    uid = c.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    part = os.urandom(MiB)
    fx.shim.arm(["writes 1 forever ENOSPC"])
    o1 = call_op(lambda: c.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=1,
                                       Body=part))
    fx.shim.disarm()
    if (o1.status, o1.code) != (507, "InsufficientStorage"):
        bad.append("UploadPart on a full disk answered %r" % o1)
    o2 = call_op(lambda: c.upload_part(Bucket=BUCKET, Key=key, UploadId=uid, PartNumber=1,
                                       Body=part))
    if not o2.ok:
        bad.append("UploadPart once space is back: %r" % o2)
    else:
        mp = {"Parts": [{"PartNumber": 1, "ETag": o2.body["ETag"]}]}
        fx.shim.arm(["writes 1 forever ENOSPC"])
        o3 = call_op(lambda: c.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid,
                                                         MultipartUpload=mp))
        fx.shim.disarm()
        if (o3.status, o3.code) != (507, "InsufficientStorage"):
            bad.append("Complete on a full disk answered %r" % o3)
        o4 = call_op(lambda: c.complete_multipart_upload(Bucket=BUCKET, Key=key, UploadId=uid,
                                                         MultipartUpload=mp))
        if o4.ok:
            fx.model[key] = (part, etag_of(part, [part]))
        else:
            bad.append("Complete once space is back: %r" % o4)
    bad += fx.state_problems([key]) + fx.leftover_problems([])
    tap.ok(not bad, "full disk (shim): UploadPart and CompleteMultipartUpload answer 507, "
           "and succeed once space is back", bad)


def full_disk_tmpfs(tap, so_base, binary):
    name = "full disk (real 32 MiB tmpfs): PUTs until 507, deletes, PUT succeeds again"
    mnt = os.path.join(so_base, "tmpfs")
    os.makedirs(mnt, 0o700, exist_ok=True)
    p = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=32m,mode=0700", "tmpfs", mnt],
                       capture_output=True, timeout=30)
    if p.returncode != 0:
        tap.skip(name, "cannot mount a tmpfs here (%s): needs root with CAP_SYS_ADMIN" %
                 (p.stderr.decode().strip() or "exit %d" % p.returncode))
        return
    srv = harness.Server(binary, so_base, "tmpfs-srv", sync=True,
                         data_dir=os.path.join(mnt, "data"))
    bad = []
    try:
        srv.start()
        c = srv.client(LEVEL, pool=2, read_timeout=30)
        acked, full, i = {}, None, 0
        while i < 200:
            data = os.urandom(MiB + random.randrange(1024))
            key = "fill/%03d" % i
            o = call_op(lambda: c.put_object(Bucket=BUCKET, Key=key, Body=data))
            if o.ok:
                acked[key] = data
            else:
                full = (key, data, o)
                break
            i += 1
        if full is None:
            bad.append("no error after %d MiB" % i)
        elif (full[2].status, full[2].code) != (507, "InsufficientStorage"):
            bad.append("the PUT that did not fit answered %r" % full[2])
        listed = {}
        for page in c.get_paginator("list_objects_v2").paginate(Bucket=BUCKET):
            for o in page.get("Contents", []):
                listed[o["Key"]] = o["Size"]
        if listed != {k: len(v) for k, v in acked.items()}:
            bad.append("listing %d objects, acknowledged %d" % (len(listed), len(acked)))
        for k, v in acked.items():
            if c.get_object(Bucket=BUCKET, Key=k)["Body"].read() != v:
                bad.append("%s does not read back" % k)
        left = harness.leftovers(srv.data)
        if left:
            bad.append("leftovers on the full file system: %s" % left)
        for k in list(acked)[:4]:
            c.delete_object(Bucket=BUCKET, Key=k)
            del acked[k]
        if full is not None:
            o = call_op(lambda: c.put_object(Bucket=BUCKET, Key=full[0], Body=full[1]))
            if not o.ok:
                bad.append("after deleting 4 objects the PUT still answers %r" % o)
            elif c.get_object(Bucket=BUCKET, Key=full[0])["Body"].read() != full[1]:
                bad.append("the PUT after the deletes does not read back")
        if not srv.alive():
            bad.append("the server died")
        tap.diag("tmpfs: %d objects of ~1 MiB fitted before the 507" % i)
    except Exception as e:  # noqa: BLE001
        bad.append("%s: %s" % (type(e).__name__, e))
    finally:
        srv.stop()
        subprocess.run(["umount", mnt], capture_output=True, timeout=30)
    bad += harness.sanitizer_lines(srv.log_since(0))
    tap.ok(not bad, name, bad)


def cut_upload(tap, base, binary, so):
    """An upload whose client vanishes while its first batch waits for a
    sealing worker: the abort must wait for the worker before it removes the
    temporary file (a worker writing through a released store write is a
    use after free, and its pwritev hits a closed or reused fd)."""
    import socket
    import threading
    import urllib.parse

    name = ("cut upload: a client gone mid-body while its batch waits for a sealing worker; "
            "no write after the abort, server up, no leftovers")
    d = os.path.join(base, "cut")
    os.makedirs(d, 0o700, exist_ok=True)
    shim = Shim(d, so, os.path.join(base, "cut-srv", "data"))
    # One worker, held up 500 ms by another upload's first batch (pwritev
    # 2: 1 is that upload's header), so that the cut upload's batch is
    # still queued when its client goes.
    srv = harness.Server(binary, base, "cut-srv", sync=True, env=shim.env,
                         extra=["--seal-workers", "1"])
    bad = []
    try:
        srv.start()
        c = srv.client(LEVEL, pool=2, read_timeout=30)
        url = urllib.parse.urlsplit(c.generate_presigned_url(
            "put_object", Params={"Bucket": BUCKET, "Key": "cut"}, ExpiresIn=600))
        data = os.urandom(2 * MiB)
        res = []
        ident = shim.arm(["pwritev 2 delay 500"])
        x = threading.Thread(target=lambda: res.append(call_op(
            lambda: c.put_object(Bucket=BUCKET, Key="held", Body=data))))
        x.start()
        time.sleep(0.1)
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as sk:
            sk.sendall(("PUT %s?%s HTTP/1.1\r\nHost: %s\r\nContent-Length: %d\r\n\r\n" %
                        (url.path, url.query, url.netloc, 5 * MiB)).encode())
            sk.sendall(os.urandom(600 * 1024))  # one batch and a bit, then gone
        x.join(timeout=60)
        time.sleep(0.7)
        entries = shim.entries(ident)
        shim.disarm()
        if not srv.alive():
            bad.append("the server died (%s)\n%s" % (srv.proc.returncode, srv.tail(30)))
        else:
            if not res or not res[0].ok:
                bad.append("the held-up upload answered %r" % (res[0] if res else None))
            elif c.get_object(Bucket=BUCKET, Key="held")["Body"].read() != data:
                bad.append("the held-up upload does not read back")
            o = call_op(lambda: c.head_object(Bucket=BUCKET, Key="cut"))
            if o.ok or o.status != 404:
                bad.append("the cut upload is visible: %r" % o)
            left = harness.leftovers(srv.data)
            if left:
                bad.append("leftovers: %s" % left)
        removed = {}
        for e in entries:
            if e["call"] == "unlinkat" and ".tmp-" in e["name"] and e["ok"]:
                removed.setdefault(e["name"], e["seq"])
        late = ["%s %s at #%d, after its unlinkat at #%d (%s)" %
                (e["call"], e["name"], e["seq"], removed[e["name"]],
                 "ok" if e["ok"] else e["err"]) for e in entries
                if e["name"] in removed and e["seq"] > removed[e["name"]] and
                e["call"] != "unlinkat"]
        if not removed:
            bad.append("the cut upload's temporary file was never removed")
        bad += late
    except Exception as e:  # noqa: BLE001
        bad.append("%s: %s" % (type(e).__name__, e))
    finally:
        srv.stop()
    bad += harness.sanitizer_lines(srv.log_since(0))
    tap.ok(not bad, name, bad)


def main():
    ap = argparse.ArgumentParser(description="cryptstored under file-system faults")
    ap.add_argument("server")
    ap.add_argument("shim")
    ap.add_argument("--sample", action="store_true",
                    help="try calls made more than 8 times at 6 values of N only")
    try:
        args = ap.parse_args()
    except SystemExit:
        return 2
    rng = random.Random()
    tap = harness.Tap()
    t0 = time.monotonic()
    base = tempfile.mkdtemp(prefix="cs-fault-", dir="/var/tmp")
    binary = os.path.abspath(args.server)
    base = os.path.realpath(base)
    shim = Shim(base, os.path.abspath(args.shim), os.path.join(base, "srv", "data"))
    srv = harness.Server(binary, base, sync=True, env=shim.env)
    stats = {}
    try:
        try:
            srv.start()
        except Exception as e:  # noqa: BLE001
            harness.die("start-up under the shim failed: %s" % e)
        fx = Fixture(srv, shim, rng)
        paths = [PutPath(fx, "put-0", 0), PutPath(fx, "put-100k", 100 * 1024),
                 PutPath(fx, "put-5m", 5 * MiB), MpuPath(fx), DeletePath(fx),
                 DeleteMultiPath(fx)]
        for p in paths:
            sweep(tap, fx, p, not args.sample, stats)
        for p in paths[1:3]:
            short_writes(tap, fx, p, stats[p.name]["counts"].get("pwritev", 0))
        full_disk_shim(tap, fx)

        # A restart sweeps what failed removals left; everything reads back.
        srv.stop()
        left = harness.leftovers(srv.data)
        srv.start()
        bad = harness.leftovers(srv.data)
        bad = ["left after the restart: %s" % b for b in bad]
        bad += fx.state_problems(sorted(fx.model))
        tap.ok(not bad, "restart: %d leftovers of failed removals swept, every object reads "
               "back" % len(left), bad)
        rc = srv.stop()
        log = srv.log_since(0)
        errors = [line for line in log.splitlines() if " ERROR " in line]
        san = harness.sanitizer_lines(log)
        tap.ok(rc == 0 and not san, "clean stop (exit status %s), no sanitizer report; %d ERROR "
               "lines in the log" % (rc, len(errors)), san + errors[:10])

        cut_upload(tap, base, binary, os.path.abspath(args.shim))
        full_disk_tmpfs(tap, base, binary)

        total = 0
        for name, s in stats.items():
            total += s["cases"]
            tap.diag("%s: %d cases; calls %s%s" % (
                name, s["cases"], ", ".join("%s %d" % kv for kv in sorted(s["counts"].items())),
                "; sampled " + ", ".join("%s %s of %d" % (c, n, k) for c, (n, k) in
                                         s["sampled"].items()) if s["sampled"] else ""))
        tap.diag("%d sweep cases; the whole run took %.1f s" % (total, time.monotonic() - t0))
    finally:
        srv.kill9()
        if os.environ.get("CS_IT_KEEP") == "1":
            tap.diag("kept %s" % base)
        else:
            shutil.rmtree(base, ignore_errors=True)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
