#!/usr/bin/python3
"""Crash loop: cryptstored killed with SIGKILL in the middle of 100
concurrent uploads, restarted, and checked, round after round.

Usage: crash_test.py PATH/TO/cryptstored [--rounds N] [--seed S]

Prints TAP; exit status 1 if any check failed, 2 on bad usage.

The server runs in demo mode with --sync true, its data and keys on the real
disk (a fresh directory under /var/tmp).  A warm-up round uploads a first
batch without a kill and measures how long a batch takes (the upload window
W).  Then every round:

  - starts 100 uploads at once, one thread each, on 100 distinct keys drawn
    from a pool of 200 (overwrites of acknowledged objects and new keys):
    sizes from 0 B to 4 MiB (a third under 1 KiB, a third up to 256 KiB, a
    third up to 4 MiB); about a quarter as multipart uploads
    (create_multipart_upload, upload_part, complete_multipart_upload) of one
    part, and two per round of two parts (5 MiB + up to 1 MiB);
  - sends SIGKILL to the server at a moment drawn uniformly from [0, W];
  - restarts it and times the restart until it answers an authenticated
    request (at most 2 s);
  - checks, one TAP line each:
      restart    answered within 2 s;
      acked      every upload that got a 2xx (PUT or CompleteMultipartUpload),
                 and every object acknowledged in earlier rounds and not
                 touched in this one, reads back bit-exact (MD5 and size);
      in-flight  every key whose upload was cut by the kill holds its last
                 acknowledged version (or nothing) or the new one, whole;
      no error   no upload got an HTTP error before the kill;
      listing    ListObjectsV2 shows exactly the objects that read back, each
                 with the size and ETag of the version that reads back: no
                 partial object is visible;
      leftovers  no .tmp- or .rwj- file in the data directory;
      log        no ERROR in the server log, no "cannot be read" warning (a
                 torn object) and no sanitizer report, except the audit log's
                 damaged end, which a kill explains;
  - then, with the server up, aborts the multipart uploads the kill left open
    and deletes a few objects, so that later rounds also write new keys.

The server writes with O_DIRECT (--direct-io true, the default: full batches
of aligned objects bypass the page cache) in the warm-up, round 1 and every
odd round, and with --direct-io false in the others, so that objects of both
layouts are cut, read back and overwritten by each other.

What a kill -9 cannot show: the loss of the page cache.  The durability of
fdatasync and of the directory fsync is tested by fault_test.py instead.

Environment: CS_IT_KEEP=1 keeps the temporary directory.
"""

import argparse
import concurrent.futures
import hashlib
import os
import random
import shutil
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

BUCKET = "level-s0"
LEVEL = "s0"
POOL = ["obj/%03d" % i for i in range(200)]
BATCH = 100
RESTART_LIMIT = 2.0
MiB = harness.MiB
PART5 = 5 * MiB  # the smallest part but the last


class Version:
    """What one upload wrote: MD5, size, ETag."""

    def __init__(self, md5, size, etag):
        self.md5, self.size, self.etag = md5, size, etag

    def __eq__(self, o):
        return isinstance(o, Version) and (self.md5, self.size) == (o.md5, o.size)

    def __hash__(self):
        return hash((self.md5, self.size))

    def __repr__(self):
        return "%s/%d" % (self.md5[:8], self.size)


def body_of(seed, size):
    return random.Random(seed).randbytes(size)


class Upload:
    def __init__(self, key, kind, sizes, seed):
        self.key, self.kind, self.sizes, self.seed = key, kind, sizes, seed
        self.acked = False
        self.done_at = None  # monotonic time of the 2xx
        self.error = None  # (code, status) of an HTTP error; None if none
        self.cut = None  # the exception of a request the kill cut
        # Made before the start, so that the threads start sending at once.
        self.parts = parts = [body_of(seed + i, n) for i, n in enumerate(sizes)]
        md5s = [hashlib.md5(p).digest() for p in parts]
        whole = hashlib.md5(b"".join(parts)).hexdigest()
        if kind == "put":
            etag = '"%s"' % whole
        else:
            etag = '"%s-%d"' % (hashlib.md5(b"".join(md5s)).hexdigest(), len(parts))
        self.version = Version(whole, sum(sizes), etag)

    def run(self, c, start):
        start.wait()
        parts, self.parts = self.parts, None
        try:
            if self.kind == "put":
                c.put_object(Bucket=BUCKET, Key=self.key, Body=parts[0])
            else:
                uid = c.create_multipart_upload(Bucket=BUCKET, Key=self.key)["UploadId"]
                done = []
                for i, p in enumerate(parts):
                    r = c.upload_part(Bucket=BUCKET, Key=self.key, UploadId=uid,
                                      PartNumber=i + 1, Body=p)
                    done.append({"PartNumber": i + 1, "ETag": r["ETag"]})
                c.complete_multipart_upload(Bucket=BUCKET, Key=self.key, UploadId=uid,
                                            MultipartUpload={"Parts": done})
            self.done_at = time.monotonic()
            self.acked = True
        except Exception as e:  # noqa: BLE001 - classified below
            code, status = harness.err_code(e)
            if status is not None:
                self.error = (code, status)
            else:
                self.cut = e


def pick_size(rng):
    r = rng.random()
    if r < 1 / 3:
        return rng.choice([0, 1, rng.randrange(2, 1024)])
    if r < 2 / 3:
        return rng.randrange(1024, 256 * 1024)
    return rng.randrange(256 * 1024, 4 * MiB + 1)


def plan_batch(rng, model):
    """100 uploads on distinct keys: about 60% overwrites of existing ones."""
    have = [k for k in POOL if model.get(k) is not None]
    new = [k for k in POOL if model.get(k) is None]
    rng.shuffle(have)
    rng.shuffle(new)
    n_old = min(len(have), BATCH * 6 // 10)
    keys = have[:n_old] + new[:BATCH - n_old]
    if len(keys) < BATCH:
        keys += have[n_old:n_old + BATCH - len(keys)]
    ups = []
    for i, k in enumerate(keys):
        seed = rng.getrandbits(48)
        if i < 2:
            ups.append(Upload(k, "mpu", [PART5, rng.randrange(0, MiB + 1)], seed))
        elif rng.random() < 0.25:
            ups.append(Upload(k, "mpu", [pick_size(rng)], seed))
        else:
            ups.append(Upload(k, "put", [pick_size(rng)], seed))
    rng.shuffle(ups)
    return ups


def run_batch(srv, ups, kill_at=None):
    """Run the uploads concurrently; with kill_at, SIGKILL the server that
    many seconds after they start.  Returns the batch's duration if every
    upload was acknowledged, else None."""
    c = srv.client(LEVEL, fresh=True, pool=BATCH + 10, connect_timeout=5, read_timeout=30)
    start = threading.Event()
    ts = [threading.Thread(target=u.run, args=(c, start), daemon=True) for u in ups]
    for t in ts:
        t.start()
    t0 = time.monotonic()
    start.set()
    if kill_at is not None:
        time.sleep(max(0.0, t0 + kill_at - time.monotonic()))
        srv.kill9()
    for t in ts:
        t.join(timeout=120)
    if not all(u.acked for u in ups):
        return None
    return max(u.done_at for u in ups) - t0


def read_all(c):
    """key -> Version (None if absent) of every pool key, and the listing."""
    def one(k):
        try:
            b = c.get_object(Bucket=BUCKET, Key=k)["Body"].read()
            return k, Version(hashlib.md5(b).hexdigest(), len(b), None), None
        except Exception as e:  # noqa: BLE001
            code, status = harness.err_code(e)
            if status == 404 and code == "NoSuchKey":
                return k, None, None
            return k, None, "%s: %s" % (k, e)

    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        got = list(ex.map(one, POOL))
    listing = {}
    pg = c.get_paginator("list_objects_v2")
    for page in pg.paginate(Bucket=BUCKET):
        for o in page.get("Contents", []):
            listing[o["Key"]] = (o["Size"], o["ETag"])
    return {k: v for k, v, _ in got}, [e for _, _, e in got if e], listing


def check_round(tap, srv, name, model, ups, ready, log_off):
    """The checks after a restart; returns the new model (what reads back)."""
    by_key = {u.key: u for u in ups}
    c = srv.client(LEVEL, fresh=True, pool=10)
    seen, errors, listing = read_all(c)

    if ready is not None:
        tap.ok(ready <= RESTART_LIMIT, "%s: restart answered in %.2f s (<= %.0f s)" %
               (name, ready, RESTART_LIMIT))

    bad_acked, bad_flight, n_acked, n_flight, n_new = [], [], 0, 0, 0
    for k in POOL:
        u, base, got = by_key.get(k), model.get(k), seen.get(k)
        if u is not None and not u.acked:
            n_flight += 1
            n_new += got == u.version and got != base
            if got not in (base, u.version):
                bad_flight.append("%s: reads %r, allowed %r (before) or %r (in flight)" %
                                  (k, got, base, u.version))
            continue
        want = u.version if u is not None else base
        n_acked += u is not None
        if got != want:
            bad_acked.append("%s: reads %r, acknowledged %r%s" %
                             (k, got, want, " (this round)" if u is not None else ""))
    tap.ok(not bad_acked and not errors,
           "%s: %d acknowledged uploads (and every earlier object) read back bit-exact" %
           (name, n_acked), errors + bad_acked)
    tap.ok(not bad_flight, "%s: %d uploads cut by the kill left the old or the new version, "
           "whole (%d the new one)" % (name, n_flight, n_new), bad_flight)
    http_err = ["%s: %s" % (u.key, u.error) for u in ups if u.error is not None]
    tap.ok(not http_err, "%s: no upload got an HTTP error before the kill" % name, http_err)

    bad_list = []
    for k, (size, etag) in sorted(listing.items()):
        got = seen.get(k)
        if got is None:
            bad_list.append("%s listed (%d bytes) but does not read back" % (k, size))
            continue
        # Versions of equal content (two empty ones, say) differ in ETag
        # when one went multipart: any of them may be the one stored.
        etags = {v.etag for v in candidates(k, by_key, model) if v == got}
        if size != got.size or etag not in etags:
            bad_list.append("%s listed as %d %s, reads %r (ETag %s)" %
                            (k, size, etag, got, " or ".join(sorted(etags)) or "?"))
    for k, v in seen.items():
        if v is not None and k not in listing:
            bad_list.append("%s reads back but is not listed" % k)
    tap.ok(not bad_list, "%s: the listing shows exactly the %d objects that read back, with "
           "their sizes and ETags" % (name, len(listing)), bad_list)

    left = harness.leftovers(srv.data)
    tap.ok(not left, "%s: no .tmp- or .rwj- files in the data directory" % name, left)

    log = srv.log_since(log_off)
    bad_log = [line for line in log.splitlines()
               if (" ERROR " in line and "audit log's end is damaged" not in line) or
               "cannot be read" in line] + harness.sanitizer_lines(log)
    tap.ok(not bad_log, "%s: no unexplained ERROR or sanitizer report in the server log" % name,
           bad_log)

    new = {}
    for k in POOL:
        got = seen.get(k)
        if got is not None:
            same = [v for v in candidates(k, by_key, model) if v == got]
            same.sort(key=lambda v: v.etag != listing.get(k, (0, None))[1])
            got = same[0] if same else got  # the one listed: it has the right ETag
        new[k] = got
    return new


def candidates(k, by_key, model):
    """The versions key k may hold: this round's upload's and the one before."""
    u = by_key.get(k)
    return [v for v in ([u.version] if u else []) + [model.get(k)] if v is not None]


def tidy(srv, model, rng):
    """Between rounds, server up: abort the uploads a kill left open, delete
    a few objects.  Returns the model after the deletes."""
    c = srv.client(LEVEL, fresh=True)
    pg = c.get_paginator("list_multipart_uploads")
    for page in pg.paginate(Bucket=BUCKET):
        for u in page.get("Uploads", []):
            c.abort_multipart_upload(Bucket=BUCKET, Key=u["Key"], UploadId=u["UploadId"])
    have = [k for k in POOL if model.get(k) is not None]
    for k in rng.sample(have, min(len(have), 8)):
        c.delete_object(Bucket=BUCKET, Key=k)
        model = dict(model)
        model[k] = None
    return model


def main():
    ap = argparse.ArgumentParser(description="cryptstored crash loop")
    ap.add_argument("server")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=None)
    try:
        args = ap.parse_args()
    except SystemExit:
        return 2
    seed = args.seed if args.seed is not None else random.randrange(1 << 32)
    rng = random.Random(seed)
    tap = harness.Tap()
    tap.diag("seed %d (sizes, keys and kill points; timing makes every run differ)" % seed)
    base = tempfile.mkdtemp(prefix="cs-crash-", dir="/var/tmp")
    direct = ["--direct-io", "true"]
    srv = harness.Server(os.path.abspath(args.server), base, sync=True, extra=direct)
    t_all = time.monotonic()
    try:
        try:
            srv.start()
        except Exception as e:  # noqa: BLE001
            harness.die("start-up failed: %s" % e)
        log = srv.log_since(0)
        if "direct_io: off" in log:
            tap.skip("direct I/O on", [l for l in log.splitlines() if "direct_io" in l][0])
        else:
            tap.ok("direct_io: upload batches go to" in log,
                   "direct I/O on (odd rounds)", srv.tail().splitlines())
        model = {k: None for k in POOL}

        # Warm-up: a whole batch, no kill; measures the upload window.
        ups = plan_batch(rng, model)
        log_off = srv.log_size()
        window = run_batch(srv, ups)
        nack = sum(u.acked for u in ups)
        tap.ok(window is not None, "warm-up: %d/%d uploads acknowledged in %.2f s" %
               (nack, BATCH, window or 0), ["%s: %s" % (u.key, u.error or u.cut) for u in ups
                                            if not u.acked])
        window = window or 2.0
        model = check_round(tap, srv, "warm-up", model, ups, None, log_off)
        model = tidy(srv, model, rng)

        for r in range(1, args.rounds + 1):
            t_round = time.monotonic()
            name = "round %d" % r
            ups = plan_batch(rng, model)
            kill_at = rng.uniform(0, window)
            log_off = srv.log_size()
            # A batch done before the kill measured the window again (later
            # batches overwrite more and run faster than the first).
            window = run_batch(srv, ups, kill_at) or window
            # the next round's server
            srv.extra = direct if r % 2 == 0 else ["--direct-io", "false"]
            try:
                ready = srv.start()
            except Exception as e:  # noqa: BLE001
                tap.ok(False, "%s: restart" % name, str(e).splitlines())
                break
            nack = sum(u.acked for u in ups)
            tap.diag("%s: killed at %.2f s: %d acknowledged, %d cut" %
                     (name, kill_at, nack, BATCH - nack))
            model = check_round(tap, srv, name, model, ups, ready, log_off)
            model = tidy(srv, model, rng)
            tap.diag("%s took %.1f s" % (name, time.monotonic() - t_round))
        tap.diag("%d rounds in %.1f s" % (args.rounds, time.monotonic() - t_all))
        log_off = srv.log_size()
        rc = srv.stop()
        san = harness.sanitizer_lines(srv.log_since(log_off))
        tap.ok(rc == 0 and not san, "clean stop (exit status %s), no sanitizer report" % rc, san)
    finally:
        srv.kill9()
        if os.environ.get("CS_IT_KEEP") == "1":
            tap.diag("kept %s" % base)
        else:
            shutil.rmtree(base, ignore_errors=True)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
