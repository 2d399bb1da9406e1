#!/usr/bin/python3
"""Network abuse: cryptstored against slowloris, connection floods, oversized
heads, absurd Content-Lengths, stalled and dripping bodies, idle and parked
connections, bursts, pipelining and request smuggling.

Usage: abuse_test.py PATH/TO/cryptstored [--reps N] [--conns N]

Prints TAP; exit status 1 if any check failed, 2 on bad usage.  About 40 s.

The server runs in demo mode with --sync false, short timeouts
(--header-timeout 3 --body-timeout 3 --idle-timeout 5), --max-conns 1200
and --max-object 512 MiB, its data on /dev/shm when there is room (so that
writeback does not blur the throughput figures), keys and log under
/var/tmp.  The test raises its own RLIMIT_NOFILE to at least 4096 first;
the server inherits it.  Requests go over raw sockets, signed with
botocore's SigV4Auth (UNSIGNED-PAYLOAD), so that every byte on the wire is
the test's choice.  A timeout may fire MARGIN (1 s) late, never early; in a
sanitizer build (found in the server's /proc/PID/maps) SAN_MARGIN (2.5 s),
and the RSS bound and the throughput ratio are skipped (the figures are
still printed); there the slowloris PUTs are one of SAN_BIG each way, which
must still succeed, instead of --reps of BIG (the figures are not judged).

Checks, in the order they run:

  heads      a request line, a request-target, a header value, a header
             name, the number of headers, the whole head over their limits:
             414 for the request line and target (lib/http/http.h), 431 for
             the rest, an S3 error body, "Connection: close", then the
             connection closes; the server answers normally afterwards.
  length     Content-Length 2^63, 2^64-1, -1, 1e9, 10^23: refused (413 or
             400) at once, without a body byte sent, unsigned and on a PUT
             with a valid signature; no file appears in the data directory
             (inotify) and the server's VmRSS does not grow.  A signed PUT of
             --max-object + 1 bytes: 400 EntityTooLarge at once, and no temp
             file was even created (it would be fallocate'd to that size).
  pipeline   five requests in one write (GET, HEAD, GET of a missing key,
             PUT with a body, GET of what it wrote) answered in order;
             "Connection: close" in a pipeline ends it there.
  smuggling  Content-Length with Transfer-Encoding (either order), two
             Content-Lengths (different or equal), a list-valued, signed or
             spaced Content-Length, an obfuscated or repeated
             Transfer-Encoding, obs-fold after an empty value, chunked in
             HTTP/1.0, a bare CR, a chunk size of 2^72 or over the object
             limit (signed, so that the body is read): refused (400, 413 or
             501), the connection closed, the request smuggled behind it
             never answered.
  idle       N connections (--conns, 1000) each after one completed GET,
             made one after the other: the server's VmRSS and thread count
             with all of them parked (bound IDLE_RSS_PER_CONN per
             connection); all closed by the parker idle_timeout (+ margin)
             after their answer, none before.  Meanwhile: a new connection
             that never sends a byte is closed header_timeout after the
             accept; one parked for 3.5 s is served on its next request.
  body       (meanwhile too) a signed PUT that stops half-way through its
             body is closed body_timeout (+ margin) after its last byte, no
             object and no .tmp- file appears; an unauthenticated PUT whose
             small body drips a byte a second after its 403 (the server
             drains small bodies to keep the connection) is closed within
             header_timeout (+ margin) of the 403.
  slowloris  throughput of a 256 MiB PUT (median of --reps, 5), then N
             (--conns) connections that each send "GET /level-s0/" and one
             more byte a second, never ending the head, replaced as the
             server closes them, while the same PUTs run again: each is
             closed header_timeout (+ margin) after its first byte, none
             before; the PUTs keep >= 80 % of the baseline throughput.
  burst      N GETs sent at once on as many connections: all answered (the
             server's VmRSS before, during and after is printed).
  flood      a second server with --max-conns 50: 50 connections held (each
             after a request), then 300 more (half send a request at once,
             half send nothing): every one of them gets a whole 503 with an
             S3 SlowDown body, or a clean close; the held connections still
             work; once they close, a new client is served.
  log        no ERROR and no sanitizer report in either server's log; both
             stop cleanly (exit status 0).

Environment: CS_IT_KEEP=1 keeps the temporary directory.
"""

import argparse
import collections
import contextlib
import ctypes
import hashlib
import heapq
import os
import re
import resource
import selectors
import shutil
import socket
import statistics
import struct
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

HEADER_T, BODY_T, IDLE_T = 3, 3, 5  # the server's timeouts here, seconds
LOOPS = 2  # event loops: more than the default on a small machine, so bodies change loops
MARGIN = 1.0  # how late a timeout may fire on a loaded 2-core machine
SAN_MARGIN = 2.5  # the same for a sanitizer build (1000 threads under ASan)
EARLY = 0.05  # how early (clock and scheduling skew between us and the server)
MAX_CONNS = 1200
FLOOD_MAX_CONNS = 50
NOFILE = 4096
BUCKET = "level-s0"
MiB = harness.MiB
BIG = 256 * MiB  # one throughput sample
SAN_BIG = 32 * MiB  # a sanitizer build's PUT under slowloris: it must succeed, nothing is timed
KEEP_RATIO = 0.80  # throughput under slowloris / baseline
SLOWLORIS_ROUNDS = 3  # baseline-and-load rounds to reach it in (a noisy machine)
IDLE_RSS_PER_CONN = 64 * 1024  # bound on the server's VmRSS growth per idle connection
LENGTH_RSS_SLACK = 4 * MiB  # VmRSS growth allowed over all the Content-Length probes
SANITIZER = None  # "asan" etc. when the server is a sanitizer build (set in main)
SMALL = bytes(range(256)) * 4  # the object the GETs read (1 KiB)
MAX_OBJECT = 512 * MiB  # --max-object: above BIG, and a bound on what a size probe may reserve


# ---- the wire --------------------------------------------------------------


def vmrss(pid):
    """(VmRSS in bytes, Threads) of process pid."""
    rss = thr = 0
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
            elif line.startswith("Threads:"):
                thr = int(line.split()[1])
    return rss, thr


def sanitizer_of(pid):
    """The sanitizer runtime process pid is linked with, or None."""
    with open("/proc/%d/maps" % pid) as f:
        maps = f.read()
    for lib, name in (("asan", "ASan"), ("tsan", "TSan"), ("ubsan", "UBSan"), ("msan", "MSan")):
        if "/lib%s." % lib in maps:
            return name
    return None


def admin(srv, *words):
    """The output of an admin verb, as text."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.connect(os.path.join(srv.d, "admin.sock"))
        s.sendall(("CSADM/1 " + " ".join(words) + "\n").encode())
        out = b""
        while True:
            d = s.recv(65536)
            if not d:
                return out.decode("utf-8", "replace")
            out += d
    finally:
        s.close()


def open_conns(srv):
    """(open, parked) connections as the server counts them."""
    for line in admin(srv, "status").splitlines():
        w = line.split()
        if "connections" in w and "parked" in line:
            i = w.index("connections")
            return int(w[i + 1]), int(w[i + 3].rstrip(","))
    return None, None


sign, wire = harness.sign, harness.wire


def signed(srv, method, path, body=b"", headers=None, length=True):
    h = dict(headers or {})
    if length and (body or method in ("PUT", "POST")):
        h.setdefault("Content-Length", str(len(body)))
    return wire(method, path, sign(srv, method, path, h), body)


def parse_response(buf, head_only=False):
    """(status, headers, body, rest) of the first whole response in buf, or
    None when it is not all there yet.  100 Continue is skipped."""
    while True:
        i = buf.find(b"\r\n\r\n")
        if i < 0:
            return None
        lines = buf[:i].decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        hd = {}
        for ln in lines[1:]:
            k, _, v = ln.partition(":")
            hd[k.strip().lower()] = v.strip()
        rest = buf[i + 4:]
        if status == 100:
            buf = rest
            continue
        n = 0 if head_only or status in (204, 304) else int(hd.get("content-length", "0"))
        if len(rest) < n:
            return None
        return status, hd, rest[:n], rest[n:]


class Raw:
    """A client connection on a plain socket."""

    def __init__(self, port, timeout=10):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def send(self, b):
        self.s.sendall(b)

    def response(self, head_only=False):
        """The next response: (status, headers, body).  EOFError if the
        server closes first."""
        while True:
            r = parse_response(self.buf, head_only)
            if r is not None:
                self.buf = r[3]
                return r[:3]
            d = self.s.recv(65536)
            if not d:
                raise EOFError("closed after %d bytes" % len(self.buf))
            self.buf += d

    def closes(self, timeout):
        """How the server ends the connection within timeout: 'eof',
        'reset', 'open' (still open), or 'data' (it sent more bytes)."""
        if self.buf:
            return "data"
        self.s.settimeout(timeout)
        try:
            d = self.s.recv(65536)
        except ConnectionResetError:
            return "reset"
        except socket.timeout:
            return "open"
        return "data" if d else "eof"

    def close(self):
        self.s.close()


def wait_close(s, limit):
    """Read s until the server closes it or limit seconds pass; (monotonic
    time of the close or None, how, bytes read)."""
    got = b""
    end = time.monotonic() + limit
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return None, "open", got
        s.settimeout(left)
        try:
            d = s.recv(65536)
        except ConnectionResetError:
            return time.monotonic(), "reset", got
        except socket.timeout:
            return None, "open", got
        if not d:
            return time.monotonic(), "eof", got
        got += d


class DirWatch:
    """The files created in a directory tree while it watches (inotify), to
    show that a refused request did not even open a temp file.  None from
    created() when inotify is not available."""

    IN_CREATE = 0x100

    def __init__(self, top):
        self.fd = -1
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
            if fd < 0:
                return
            for dp, _, _ in os.walk(top):
                if libc.inotify_add_watch(fd, dp.encode(), self.IN_CREATE) < 0:
                    os.close(fd)
                    return
            self.fd = fd
        except (OSError, AttributeError):
            self.fd = -1

    def created(self):
        if self.fd < 0:
            return None
        names = []
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return names
            i = 0
            while i + 16 <= len(data):
                _, _, _, n = struct.unpack_from("iIII", data, i)
                names.append(data[i + 16:i + 16 + n].rstrip(b"\0").decode("utf-8", "replace"))
                i += 16 + n

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def error_code(body):
    """The <Code> of an S3 error body, or None."""
    b = body.decode("utf-8", "replace")
    i, j = b.find("<Code>"), b.find("</Code>")
    return b[i + 6:j] if 0 <= i < j else None


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else float("nan")


def fig(xs):
    return "min %.3f median %.3f p99 %.3f max %.3f s" % (min(xs), statistics.median(xs),
                                                          pct(xs, 0.99), max(xs))


# ---- checks ----------------------------------------------------------------


def probe(srv, req, timeout=5):
    """Send req on a new connection; (status, headers, body, how it ends,
    seconds to the response) or (None, ..) if no response came."""
    head_only = req.startswith(b"HEAD ")
    c = Raw(srv.port, timeout)
    try:
        t0 = time.monotonic()
        try:
            c.send(req)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered and closed before all of it went out
        try:
            st, hd, body = c.response(head_only)
        except (EOFError, ConnectionResetError, socket.timeout) as e:
            return None, {}, repr(e).encode(), "-", time.monotonic() - t0
        dt = time.monotonic() - t0
        return st, hd, body, c.closes(2), dt
    finally:
        c.close()


def serves(srv, what):
    """One signed GET of the small object on a new connection; a TAP
    diagnostic line if it fails."""
    try:
        st, _, body, _, _ = probe(srv, signed(srv, "GET", "/%s/small" % BUCKET))
    except OSError as e:
        return ["%s: %r" % (what, e)]
    if st != 200 or body != SMALL:
        return ["%s: GET answered %s %r" % (what, st, body[:200])]
    return []


def check_heads(tap, srv):
    host = "Host: 127.0.0.1:%d\r\n" % srv.port
    cases = [
        ("request line of 20 KiB", b"GET /" + b"a" * (20 << 10) + b" HTTP/1.1\r\n" +
         host.encode() + b"\r\n", (414,)),
        ("request-target of 9 KiB", b"GET /" + b"a" * (9 << 10) + b" HTTP/1.1\r\n" +
         host.encode() + b"\r\n", (414,)),
        ("a header value of 9 KiB", ("GET / HTTP/1.1\r\n" + host + "X-Big: " + "v" * (9 << 10) +
                                     "\r\n\r\n").encode(), (431,)),
        ("a header name of 300 bytes", ("GET / HTTP/1.1\r\n" + host + "X-" + "n" * 298 +
                                        ": v\r\n\r\n").encode(), (431,)),
        ("101 headers", ("GET / HTTP/1.1\r\n" + host +
                         "".join("X-H%d: v\r\n" % i for i in range(100)) + "\r\n").encode(),
         (431,)),
        ("a head of 20 KiB in 10 headers of 2 KiB", ("GET / HTTP/1.1\r\n" + host + "".join(
            "X-H%d: %s\r\n" % (i, "v" * 2048) for i in range(10)) + "\r\n").encode(), (431,)),
        ("a head that never ends, 64 KiB", ("GET / HTTP/1.1\r\n" + host + "".join(
            "X-H%d: %s\r\n" % (i, "v" * 1000) for i in range(64))).encode(), (431,)),
    ]
    for name, req, want in cases:
        st, hd, body, how, dt = probe(srv, req)
        code = error_code(body)
        tap.ok(st in want and code is not None and hd.get("connection") == "close" and
               how in ("eof", "reset") and srv.alive(),
               "heads: %s -> %s %s, then closed (%s)" % (name, st, code, how),
               ["want %s with an error body, Connection: close and a close; got %s %r %r %s" %
                (want, st, hd, body[:200], how), srv.tail()])
    diag = serves(srv, "after the oversized heads")
    tap.ok(not diag and srv.alive(), "heads: the server answers normally afterwards", diag)


def check_lengths(tap, srv):
    rss0, _ = vmrss(srv.proc.pid)
    host = "127.0.0.1:%d" % srv.port
    over = MAX_OBJECT + 1
    watch = DirWatch(srv.data)
    for cl, want in (("9223372036854775808", (413,)), ("18446744073709551615", (413,)),
                     ("-1", (400,)), ("1e9", (400,)), ("99999999999999999999999", (413,))):
        for how in ("unsigned", "signed PUT"):
            if how == "unsigned":
                req = ("PUT /%s/huge HTTP/1.1\r\nHost: %s\r\nContent-Length: %s\r\n\r\n" %
                       (BUCKET, host, cl)).encode()
            else:
                req = wire("PUT", "/%s/huge" % BUCKET,
                           sign(srv, "PUT", "/%s/huge" % BUCKET, {"Content-Length": cl}))
            st, hd, body, end, dt = probe(srv, req)
            tap.ok(st in want and error_code(body) is not None and end in ("eof", "reset") and
                   dt < 1.0,
                   "length: Content-Length %s, %s -> %s %s in %.0f ms, closed" %
                   (cl, how, st, error_code(body), dt * 1e3),
                   ["want %s at once with an error body; got %s %r %r (%s)" %
                    (want, st, hd, body[:200], end)])
    made = watch.created()
    tap.ok(made is None or not made, "length: none of them created a file in the data "
           "directory%s" % (" (no inotify: not checked)" if made is None else ""), made or [])
    # Under the framing limit but over --max-object: the S3 layer refuses it,
    # before it reserves room for it (fallocate).
    req = wire("PUT", "/%s/huge" % BUCKET,
               sign(srv, "PUT", "/%s/huge" % BUCKET, {"Content-Length": str(over)}))
    st, hd, body, end, dt = probe(srv, req)
    made = watch.created()
    watch.close()
    tap.ok(st == 400 and error_code(body) == "EntityTooLarge" and dt < 1.0 and not made,
           "length: Content-Length max-object + 1 (%d), signed PUT -> %s %s in %.0f ms, "
           "%s" % (over, st, error_code(body), dt * 1e3,
                   "(no inotify)" if made is None else "%d file(s) created" % len(made)),
           ["%s %r %r (%s)" % (st, hd, body[:200], end)] +
           (["created %s: the object was opened (and fallocate'd to %d bytes) before its size "
             "was checked (server/s3api.c put_stream)" % (made, over)] if made else []))
    rss1, _ = vmrss(srv.proc.pid)
    tap.ok(rss1 - rss0 < LENGTH_RSS_SLACK and srv.alive(),
           "length: server VmRSS %.1f MiB before, %.1f MiB after (+%.2f MiB, bound %d MiB)" %
           (rss0 / MiB, rss1 / MiB, (rss1 - rss0) / MiB, LENGTH_RSS_SLACK // MiB))
    diag = serves(srv, "after the Content-Length probes")
    tap.ok(not diag and not harness.leftovers(srv.data), "length: no object or temp file "
           "appeared, the server answers normally", diag + harness.leftovers(srv.data))


def loop_stats(srv):
    """(loops, bodies, bytes) from admin status, or None without event loops."""
    for line in admin(srv, "status").splitlines():
        m = re.search(r"event loops (\d+): (\d+) upload bodies, (\d+) bytes", line)
        if m:
            return tuple(int(x) for x in m.groups())
    return None


def check_loops(tap, srv):
    """Plain uploads' bodies are received by the event loops (admin status
    counts them), whole, however the client paces them; a large body
    pipelined with the next request leaves that request to the connection."""
    p = "/%s/" % BUCKET
    before = loop_stats(srv)
    body, body2 = os.urandom(3 * MiB + 5), os.urandom(2 * MiB)
    req = signed(srv, "PUT", p + "looped", body)
    cut = len(req) - len(body)
    c = Raw(srv.port)
    diag = []
    try:
        c.send(req[:cut])  # the head alone, then the body in 4 pieces 0.2 s apart
        for i in range(4):
            time.sleep(0.2)
            c.send(req[cut + i * len(body) // 4:cut + (i + 1) * len(body) // 4])
        r1 = c.response()
        c.send(signed(srv, "PUT", p + "looped2", body2) + signed(srv, "GET", p + "looped"))
        r2, r3 = c.response(), c.response()
    except (EOFError, OSError) as e:
        diag.append(repr(e))
        r1 = r2 = r3 = (None, {}, b"")
    finally:
        c.close()
    # Uploads at once, of unequal lengths: their MD5s share the loop's lanes.
    many = [os.urandom(MiB + 65536 + 1 + 4099 * i) for i in range(12)]  # > 1 MiB after the head
    answers = [None] * len(many)

    def put_one(i):
        c = Raw(srv.port, timeout=30)
        try:
            c.send(signed(srv, "PUT", p + "lanes-%d" % i, many[i]))
            answers[i] = c.response()
        except (EOFError, OSError) as e:
            answers[i] = (None, {}, repr(e).encode())
        finally:
            c.close()

    ts = [threading.Thread(target=put_one, args=(i,)) for i in range(len(many))]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    lanes_ok = all(a is not None and a[0] == 200 and
                   a[1].get("etag", "").strip('"') == hashlib.md5(b).hexdigest()
                   for a, b in zip(answers, many))
    if not lanes_ok:
        diag.append("concurrent PUTs: %s" % [(a[0], a[1].get("etag")) if a else None
                                             for a in answers])
    after = loop_stats(srv)
    st, _, got2, _, _ = probe(srv, signed(srv, "GET", p + "looped2"))
    bodies = after[1] - before[1] if before and after else None
    nbytes = after[2] - before[2] if before and after else None
    # The ETags: the MD5s the loop hashed in its lanes.
    etags = [r[1].get("etag", "").strip('"') for r in (r1, r2)]
    want = [hashlib.md5(b).hexdigest() for b in (body, body2)]
    diag.append("ETags %s, MD5s %s" % (etags, want))
    ok = r1[0] == 200 and r2[0] == 200 and r3[0] == 200 and r3[2] == body and \
        st == 200 and got2 == body2 and bodies is not None and bodies >= 14 and \
        nbytes >= 4 * MiB and after[0] == LOOPS and etags == want and lanes_ok
    tap.ok(ok, "event loops: a paced 3 MiB PUT and a pipelined 2 MiB PUT + GET (%s %s %s, "
           "GET %s, data %s), 12 PUTs at once with their MD5 ETags %s: %s bodies, %s bytes "
           "through %s loops" %
           (r1[0], r2[0], r3[0], st, "equal, ETags the MD5s" if r3[2] == body and got2 == body2
            and etags == want else "DIFFER", "right" if lanes_ok else "WRONG",
            bodies, nbytes, after[0] if after else "no"),
           diag + ["status before %s, after %s" % (before, after)])


def check_pipeline(tap, srv):
    p = "/%s/" % BUCKET
    body = b"pipelined body " * 100
    reqs = [signed(srv, "GET", p + "small"), signed(srv, "HEAD", p + "small"),
            signed(srv, "GET", p + "no-such-key"), signed(srv, "PUT", p + "piped", body),
            signed(srv, "GET", p + "piped")]
    c = Raw(srv.port)
    got, diag = [], []
    try:
        c.send(b"".join(reqs))
        for head_only in (False, True, False, False, False):
            st, hd, b = c.response(head_only)
            got.append((st, b))
        end = c.closes(0.3)
    except (EOFError, OSError) as e:
        diag.append("after %d responses: %r" % (len(got), e))
        end = "-"
    finally:
        c.close()
    want = [(200, SMALL), (200, b""), (404, None), (200, b""), (200, body)]
    ok = len(got) == 5 and end == "open"
    for (st, b), (ws, wb) in zip(got, want):
        ok = ok and st == ws and (wb is None or b == wb)
    tap.ok(ok, "pipeline: 5 requests in one write answered in order (%s), connection kept" %
           " ".join(str(s) for s, _ in got), diag + ["%s %r" % (s, b[:80]) for s, b in got] +
           ["then: %s" % end])

    # "Connection: close" in the middle of a pipeline: nothing after it is served.
    c = Raw(srv.port)
    try:
        c.send(signed(srv, "GET", p + "small") +
               signed(srv, "GET", p + "small", headers={"Connection": "close"}) +
               signed(srv, "PUT", p + "after-close", b"x"))
        r1, r2 = c.response(), c.response()
        end = c.closes(2)
    except (EOFError, OSError) as e:
        r1 = r2 = (None, {}, repr(e).encode())
        end = "-"
    finally:
        c.close()
    st404, _, _, _, _ = probe(srv, signed(srv, "HEAD", p + "after-close"))
    tap.ok(r1[0] == 200 and r2[0] == 200 and r2[1].get("connection") == "close" and
           end == "eof" and st404 == 404,
           "pipeline: Connection: close ends the pipeline (%s, %s, then %s; the request "
           "behind it not served: HEAD %s)" % (r1[0], r2[0], end, st404))


def check_smuggling(tap, srv):
    host = "Host: 127.0.0.1:%d\r\n" % srv.port
    p = "/%s/" % BUCKET
    smuggled = "GET %ssmall HTTP/1.1\r\n%s\r\n" % (p, host)
    cases = [
        ("Content-Length then Transfer-Encoding",
         "POST %sx HTTP/1.1\r\n%sContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
         "0\r\n\r\n" % (p, host), (400,)),
        ("Transfer-Encoding then Content-Length",
         "POST %sx HTTP/1.1\r\n%sTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n"
         "0\r\n\r\n" % (p, host), (400,)),
        ("two Content-Lengths, 0 and %d" % len(smuggled),
         "POST %sx HTTP/1.1\r\n%sContent-Length: 0\r\nContent-Length: %d\r\n\r\n" %
         (p, host, len(smuggled)), (400,)),
        ("two equal Content-Lengths",
         "PUT %sx HTTP/1.1\r\n%sContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc" %
         (p, host), (400,)),
        ("Content-Length: 3, 3",
         "PUT %sx HTTP/1.1\r\n%sContent-Length: 3, 3\r\n\r\nabc" % (p, host), (400,)),
        ("Content-Length: +3",
         "PUT %sx HTTP/1.1\r\n%sContent-Length: +3\r\n\r\nabc" % (p, host), (400,)),
        ("Content-Length with a space before the colon",
         "PUT %sx HTTP/1.1\r\n%sContent-Length : 3\r\n\r\nabc" % (p, host), (400,)),
        ("Transfer-Encoding: xchunked",
         "POST %sx HTTP/1.1\r\n%sTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n" % (p, host),
         (400, 501)),
        ("Transfer-Encoding: chunked, twice",
         "POST %sx HTTP/1.1\r\n%sTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n"
         "\r\n0\r\n\r\n" % (p, host), (400, 501)),
        ("Transfer-Encoding: chunked, identity",
         "POST %sx HTTP/1.1\r\n%sTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n" %
         (p, host), (400, 501)),
        ("Transfer-Encoding folded (obs-fold)",
         "POST %sx HTTP/1.1\r\n%sTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" % (p, host),
         (400,)),
        ("chunked in HTTP/1.0",
         "POST %sx HTTP/1.0\r\n%sTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" % (p, host),
         (400,)),
        ("a bare CR ending a header line",
         "GET %ssmall HTTP/1.1\r\n%sX-A: 1\rContent-Length: 5\r\n\r\n" % (p, host), (400,)),
    ]
    # Past the head only with a valid signature: the body is read after it.
    for name, chunk in (("a chunk size of 2^72", b"1000000000000000000\r\n"),
                        ("a chunk size over --max-object", b"%x\r\n" % (MAX_OBJECT * 2))):
        h = sign(srv, "PUT", p + "x", {"Transfer-Encoding": "chunked"})
        cases.append(("signed PUT, " + name, wire("PUT", p + "x", h).decode() + chunk.decode(),
                      (400, 413)))
    for name, req, want in cases:
        c = Raw(srv.port, 5)
        extra = None
        try:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                c.send((req + smuggled).encode())
            try:
                st, hd, body = c.response()
                code = error_code(body)
            except (EOFError, ConnectionResetError, socket.timeout) as e:
                st, hd, code = None, {}, repr(e)
            # A second response would be the smuggled GET answered.
            end = c.closes(2)
            if end == "data":
                extra = c.s.recv(65536)[:200]
        finally:
            c.close()
        tap.ok(st in want and end in ("eof", "reset") and srv.alive(),
               "smuggling: %s -> %s %s, closed (%s), the request behind it not answered" %
               (name, st, code, end),
               ["want %s then a close; got %s %r, then %s %r" % (want, st, hd, end, extra)])
    diag = serves(srv, "after the smuggling attempts")
    tap.ok(not diag, "smuggling: the server answers normally afterwards", diag)


def open_answered(srv, req, n, batch):
    """n connections, batch at a time, that each sent req and read its
    (200, SMALL) answer; (selector, entries, complaints)."""
    sel = selectors.DefaultSelector()
    conns, bad = [], []
    for start in range(0, n, batch):
        group = []
        for _ in range(min(batch, n - start)):
            t = time.monotonic()
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
            s.sendall(req)
            s.setblocking(False)
            ent = {"s": s, "buf": b"", "t_sent": t, "t_resp": None, "t_close": None,
                   "how": None}
            group.append(ent)
            sel.register(s, selectors.EVENT_READ, ent)
        deadline = time.monotonic() + 20
        while any(e["t_resp"] is None and e["how"] is None for e in group):
            if time.monotonic() > deadline:
                break
            for key, _ in sel.select(0.5):
                e = key.data
                try:
                    d = e["s"].recv(65536)
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    d = b""
                if not d:
                    e["how"] = "closed before the answer"
                    sel.unregister(e["s"])
                    continue
                e["buf"] += d
                r = parse_response(e["buf"])
                if r is not None:
                    e["t_resp"] = time.monotonic()
                    if r[0] != 200 or r[2] != SMALL or r[1].get("connection") != "keep-alive":
                        bad.append("GET answered %s %r %r" % (r[0], r[1], r[2][:80]))
                    e["buf"] = r[3]
        conns += group
    return sel, conns, bad


def check_idle(tap, srv, nconn):
    """1000 idle keep-alive connections (memory, parking, idle timeout), a
    silent connection, a parked one resumed, a stalled body, a slow drain."""
    pid = srv.proc.pid
    get = signed(srv, "GET", "/%s/small" % BUCKET)
    time.sleep(0.3)
    rss0, thr0 = vmrss(pid)
    open0, _ = open_conns(srv)

    results = {}
    threads = [threading.Thread(target=fn, args=(srv, results), daemon=True)
               for fn in (idle_silent, idle_resumed, body_stalled, drain_slow)]
    for t in threads:
        t.start()

    # One connection after the other (one request under way at a time, so
    # that the figure is what an idle connection costs, not what a burst of
    # busy ones leaves in the allocator): send a GET, read the answer, keep it.
    sel, conns, bad = open_answered(srv, get, nconn, 1)
    answered = [e for e in conns if e["t_resp"] is not None]
    tap.ok(len(answered) == nconn and not bad,
           "idle: %d keep-alive connections each completed a GET" % len(answered),
           bad[:10] + ["%d not answered" % (nconn - len(answered))])

    time.sleep(0.5)  # past the 20 ms grace: all parked
    rss1, thr1 = vmrss(pid)
    t_meas = time.monotonic()
    open1, parked1 = open_conns(srv)
    # On a slow machine the first answers may be older than idle_timeout by now: those
    # connections were rightly closed; every younger one must still be open and parked.
    young = sum(1 for e in answered if t_meas - e["t_resp"] < IDLE_T - 0.25)
    per = (rss1 - rss0) / max(1, len(answered))
    tap.diag("idle: server VmRSS %.1f MiB before, %.1f MiB with %d idle connections: "
             "+%.1f MiB, %.1f KiB per connection; threads %d -> %d; connections open %s -> "
             "%s, parked %s" % (rss0 / MiB, rss1 / MiB, len(answered), (rss1 - rss0) / MiB,
                                per / 1024, thr0, thr1, open0, open1, parked1))
    name = "idle: %d idle connections parked cost %.1f KiB of server RSS each (bound %d KiB), " \
        "%+d threads" % (parked1 or 0, per / 1024, IDLE_RSS_PER_CONN // 1024, thr1 - thr0)
    if SANITIZER:
        tap.skip(name, "%s keeps freed memory in quarantine" % SANITIZER)
    else:
        tap.ok(per <= IDLE_RSS_PER_CONN and parked1 is not None and
               parked1 >= young and thr1 - thr0 < 20, name,
               ["%d answered less than idle_timeout ago, %s parked" % (young, parked1)])

    # The parker closes them idle_timeout after they parked.
    t_last = max(e["t_resp"] for e in answered) if answered else time.monotonic()
    deadline = t_last + IDLE_T + MARGIN + 0.5
    live = {id(e): e for e in answered}
    while live and time.monotonic() < deadline:
        for key, _ in sel.select(0.05):
            e = key.data
            try:
                d = e["s"].recv(65536)
            except BlockingIOError:
                continue
            except ConnectionResetError:
                d, e["how"] = b"", "reset"
            if d:
                e["buf"] += d
                continue
            e["t_close"] = time.monotonic()
            e["how"] = e["how"] or "eof"
            sel.unregister(e["s"])
            live.pop(id(e), None)
    for e in conns:
        with contextlib.suppress(KeyError, ValueError):
            sel.unregister(e["s"])
        e["s"].close()
    sel.close()
    # Late: counted from the answer; early: from the request (the server
    # parks a connection 20 ms after its answer, and times it from there).
    dts = [e["t_close"] - e["t_resp"] for e in answered if e["t_close"] is not None]
    late = [d for d in dts if d > IDLE_T + MARGIN]
    early = [e["t_close"] - e["t_sent"] for e in answered
             if e["t_close"] is not None and e["t_close"] - e["t_sent"] < IDLE_T - EARLY]
    spoke = [e for e in answered if e["buf"]]
    resets = sum(e["how"] == "reset" for e in answered)
    if dts:
        tap.diag("idle: closed by the server after " + fig(dts))
    tap.ok(len(dts) == len(answered) and not late and not early and not spoke,
           "idle: all %d closed by the server %.0f-%.0f s after their answer (idle_timeout %d "
           "s; %d by reset)" % (len(dts), IDLE_T, IDLE_T + MARGIN, IDLE_T, resets),
           ["%d still open, %d late, %d early, %d sent bytes" %
            (len(answered) - len(dts), len(late), len(early), len(spoke))])

    for t in threads:
        t.join(timeout=30)
    for name in ("silent", "resumed", "stalled", "drain"):
        ok, msg, diag = results.get(name, (False, name + ": did not finish", []))
        tap.ok(ok, msg, diag)
    left = harness.leftovers(srv.data)
    diag = serves(srv, "after the idle and stalled connections")
    tap.ok(not diag and not left, "idle: no temp file left, the server answers normally",
           diag + left)


def idle_silent(srv, results):
    """A new connection that never sends a byte owes the server a request
    head: closed header_timeout after the accept (not idle_timeout)."""
    t0 = time.monotonic()
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
    t1 = time.monotonic()
    t, how, got = wait_close(s, IDLE_T + MARGIN + 1)
    s.close()
    ok = t is not None and t - t0 >= HEADER_T - EARLY and t - t1 <= HEADER_T + MARGIN and \
        not got
    results["silent"] = (ok, "idle: a new connection that sends nothing is closed after %s s "
                             "(header_timeout %d s; %s)" %
                         ("%.2f" % (t - t1) if t else "-", HEADER_T, how), ["got %r" % got[:200]])


def idle_resumed(srv, results):
    """Parked for 3.5 s, then a request: served; then closed idle_timeout
    after that answer."""
    p = "/%s/small" % BUCKET
    c = Raw(srv.port)
    diag = []
    try:
        c.send(signed(srv, "GET", p))
        st1, _, b1 = c.response()
        time.sleep(3.5)
        t_req = time.monotonic()
        c.send(signed(srv, "GET", p))
        st2, _, b2 = c.response()
        t0 = time.monotonic()
        t, how, got = wait_close(c.s, IDLE_T + MARGIN + 1)
        dt = (t - t0) if t else None
        ok = (st1, st2, b1, b2) == (200, 200, SMALL, SMALL) and dt is not None and \
            t - t_req >= IDLE_T - EARLY and dt <= IDLE_T + MARGIN
        msg = ("idle: a connection parked for 3.5 s is served on its next request (%s, %s), "
               "then closed %s s after it (%s)" % (st1, st2, "%.2f" % dt if dt else "-", how))
    except (EOFError, OSError) as e:
        ok, msg = False, "idle: a parked connection resumed"
        diag.append(repr(e))
    finally:
        c.close()
    results["resumed"] = (ok, msg, diag)


def body_stalled(srv, results):
    """A signed PUT that stops half-way: closed body_timeout after the last
    byte; no object, no temp file."""
    key = "/%s/stalled" % BUCKET
    n = 1 * MiB
    c = Raw(srv.port)
    diag = []
    try:
        req = signed(srv, "PUT", key, os.urandom(n))[:-(n // 2)]
        c.send(req[:-1])
        t_before = time.monotonic()  # the server cannot have the last byte yet
        c.send(req[-1:])
        t0 = time.monotonic()
        t, how, got = wait_close(c.s, BODY_T + MARGIN + 2)
        dt = (t - t0) if t else None
        r = parse_response(got) if got else None
    finally:
        c.close()
    time.sleep(0.2)
    st, _, _, _, _ = probe(srv, signed(srv, "HEAD", key))
    left = harness.leftovers(srv.data)
    ok = dt is not None and t - t_before >= BODY_T - EARLY and dt <= BODY_T + MARGIN and \
        st == 404 and not left
    if r is not None:
        diag.append("answer before the close: %s %s" % (r[0], error_code(r[2])))
    results["stalled"] = (
        ok, "body: a PUT stalled half-way is closed %s s after its last byte (%s%s), no object "
        "(HEAD %s), no temp file" % ("%.2f" % dt if dt else "-", how,
                                     ", %s %s" % (r[0], error_code(r[2])) if r else "", st),
        diag + left)


def drain_slow(srv, results):
    """An unauthenticated PUT with a small body that drips a byte a second:
    answered 403 at once; the server may drain the rest to keep the
    connection, but the rest must come within header_timeout."""
    host = "127.0.0.1:%d" % srv.port
    c = Raw(srv.port)
    diag = []
    t_resp = t = None
    how = "-"
    try:
        c.send(("PUT /%s/drip HTTP/1.1\r\nHost: %s\r\nContent-Length: 1000\r\n\r\nx" %
                (BUCKET, host)).encode())
        st, hd, body = c.response()
        t_resp = time.monotonic()
        c.s.setblocking(False)
        end = t_resp + HEADER_T + MARGIN + 3
        next_send = 0.0
        # One body byte a second, but look for the close every 0.1 s: a
        # 1 s poll would see a close at 3.01 s only at 4.0 s.
        while time.monotonic() < end:
            if time.monotonic() >= next_send:
                next_send = time.monotonic() + 1.0
                try:
                    c.s.send(b"x")
                except (BrokenPipeError, ConnectionResetError):
                    t, how = time.monotonic(), "send failed"
                    break
                except BlockingIOError:
                    pass
            try:
                d = c.s.recv(4096)
                if not d:
                    t, how = time.monotonic(), "eof"
                    break
            except ConnectionResetError:
                t, how = time.monotonic(), "reset"
                break
            except BlockingIOError:
                pass
            time.sleep(0.1)
    except (EOFError, OSError) as e:
        st, body = None, b""
        diag.append(repr(e))
    finally:
        c.close()
    dt = (t - t_resp) if t and t_resp else None
    ok = st == 403 and dt is not None and dt <= HEADER_T + MARGIN
    results["drain"] = (ok, "body: an unauthenticated PUT dripping its body after its %s %s is "
                            "closed %s s after the answer (%s; header_timeout %d s)" %
                        (st, error_code(body), "%.2f" % dt if dt else "never", how, HEADER_T),
                        diag)


class Slowloris(threading.Thread):
    """n connections that send "GET /level-s0/" and then one byte a second,
    never ending the head; each one the server closes is replaced while
    refill is set.  Records (first byte, close, how, bytes received)."""

    PREFIX = ("GET /%s/" % BUCKET).encode()

    def __init__(self, port, n):
        super().__init__(daemon=True)
        self.port, self.n = port, n
        self.refill = True
        self.stopping = threading.Event()
        self.full = threading.Event()
        self.closed = []  # (t_connect, t_first, t_close, how, got)
        self.left_open = []  # t_first of connections still open at the end
        self.errors = []
        self.opened = 0

    def _open(self, sel, drips):
        t0 = time.monotonic()
        try:
            s = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            s.setblocking(False)
            s.send(self.PREFIX)
        except OSError as e:
            self.errors.append(repr(e))
            return
        t = time.monotonic()
        ent = {"s": s, "t0": t0, "t": t, "got": b"", "dead": False}
        sel.register(s, selectors.EVENT_READ, ent)
        heapq.heappush(drips, (t + 1.0, self.opened, ent))
        self.opened += 1
        self.live += 1

    def run(self):
        sel = selectors.DefaultSelector()
        drips = []
        self.live = 0
        while self.live < self.n and len(self.errors) < 20:
            self._open(sel, drips)
        self.full.set()
        owed = 0  # connections to open again
        while not self.stopping.is_set():
            if not self.refill and self.live == 0:
                break
            events = sel.select(0.01)
            now = time.monotonic()  # every close in this batch happened before now
            for key, _ in events:
                ent = key.data
                try:
                    d = ent["s"].recv(4096)
                    how = "eof"
                except BlockingIOError:
                    continue
                except ConnectionResetError:
                    d, how = b"", "reset"
                if d:
                    ent["got"] += d
                    continue
                self.closed.append((ent["t0"], ent["t"], now, how, ent["got"]))
                sel.unregister(ent["s"])
                ent["s"].close()
                ent["dead"] = True
                self.live -= 1
                owed += self.refill
            # A few at a time, so that a wave of closes (they all time out
            # together) is timed before the refills that follow it.
            owed = owed if self.refill else 0
            for _ in range(min(owed, 20)):
                self._open(sel, drips)
                owed -= 1
            now = time.monotonic()
            while drips and drips[0][0] <= now:
                due, i, ent = heapq.heappop(drips)
                if ent["dead"]:
                    continue
                with contextlib.suppress(OSError):
                    ent["s"].send(b"a")
                heapq.heappush(drips, (due + 1.0, i, ent))
        for key in list(sel.get_map().values()):
            self.left_open.append(key.data["t"])
            key.data["s"].close()
        sel.close()


def put_big(srv, body, key):
    """One signed PUT of body on a new connection; bytes per second."""
    path = "/%s/%s" % (BUCKET, key)
    head = wire("PUT", path, sign(srv, "PUT", path, {"Content-Length": str(len(body))}))
    c = Raw(srv.port, timeout=120)
    try:
        t0 = time.monotonic()
        c.send(head)
        c.send(body)
        st, _, b = c.response()
        dt = time.monotonic() - t0
    finally:
        c.close()
    if st != 200:
        raise RuntimeError("PUT answered %s %r" % (st, b[:200]))
    return len(body) / dt


def slowloris_round(srv, nconn, reps, body):
    """reps baseline PUTs of body, then reps more while nconn slowloris
    connections hold the server, which then closes them.  Returns the
    figures, the Slowloris thread (its record of the closes) and an error
    (a PUT that failed under load), or raises what a baseline PUT raised."""
    base = [put_big(srv, body, "big") for _ in range(reps)]
    sl = Slowloris(srv.port, nconn)
    t_start = time.monotonic()
    sl.start()
    sl.full.wait(30)
    t_full = time.monotonic() - t_start
    time.sleep(0.5)
    load, err = [], None
    try:
        for _ in range(reps):
            load.append(put_big(srv, body, "big"))
    except (RuntimeError, OSError) as e:
        err = repr(e)
    open_now, _ = open_conns(srv)
    rss, thr = vmrss(srv.proc.pid)
    sl.refill = False
    sl.join(timeout=HEADER_T + MARGIN + 5)
    sl.stopping.set()
    sl.join(timeout=5)
    # The fastest of each set of runs, not the median: on a shared 2-core
    # machine a neighbour only ever slows a run (one day's baseline runs
    # spread over 207-468 MB/s), so the best run is each condition's
    # undisturbed speed.  A server the slowloris connections do hold back is
    # slow in every run, its best among them.
    mb, ml = max(base) / 1e6, (max(load) / 1e6 if load else 0)
    return {"base": base, "load": load, "err": err, "sl": sl, "t_full": t_full,
            "open": open_now, "rss": rss, "threads": thr, "mb": mb, "ml": ml}


def check_slowloris(tap, srv, nconn, reps):
    if SANITIZER:
        reps = 1
    body = memoryview(os.urandom(SAN_BIG if SANITIZER else BIG))
    rounds = []
    try:
        put_big(srv, body, "big")  # warm-up: the first write of a key costs more
        # A load that comes and goes on the machine can still slow one set
        # of runs and not the other: a round that misses the ratio is run
        # again, up to ROUNDS in all (a server that slowloris connections
        # really hold back misses it in every round).
        for _ in range(1 if SANITIZER else SLOWLORIS_ROUNDS):
            rounds.append(slowloris_round(srv, nconn, reps, body))
            r = rounds[-1]
            if r["err"] is not None or r["ml"] >= KEEP_RATIO * r["mb"]:
                break
    except (RuntimeError, OSError) as e:
        tap.ok(False, "slowloris: baseline PUTs", [repr(e), srv.tail()])
        return
    for i, r in enumerate(rounds):
        tap.diag("slowloris round %d: %d connections up in %.2f s; %d opened in all; during "
                 "the PUTs the server had %s connections open, %d threads, VmRSS %.0f MiB" %
                 (i + 1, nconn, r["t_full"], r["sl"].opened, r["open"], r["threads"],
                  r["rss"] / MiB))
        tap.diag("slowloris round %d: PUT %d MiB baseline %s MB/s, under load %s MB/s" %
                 (i + 1, len(body) // MiB, " ".join("%.0f" % (x / 1e6) for x in r["base"]),
                  " ".join("%.0f" % (x / 1e6) for x in r["load"])))
    r = rounds[-1]
    mb, ml, err = r["mb"], r["ml"], r["err"]
    name = "slowloris: PUT throughput under %d slowloris connections %.0f MB/s = %.0f%% of " \
        "the baseline %.0f MB/s (best of %d each; >= %.0f%%; round %d of at most %d)" % \
        (nconn, ml, 100 * ml / mb if mb else 0, mb, reps, 100 * KEEP_RATIO, len(rounds),
         1 if SANITIZER else SLOWLORIS_ROUNDS)
    if SANITIZER and err is None:
        tap.skip(name, "%s build: the connection threads pay for it, the cipher does not" %
                 SANITIZER)
    else:
        tap.ok(err is None and ml >= KEEP_RATIO * mb, name, [err or ""])
    # Every round's slowloris connections must have been closed in time.
    # Late: counted from the first byte; early: from the connect (the
    # server times a new connection from its accept).
    closed = [c for r in rounds for c in r["sl"].closed]
    left_open = [t for r in rounds for t in r["sl"].left_open]
    errors = [e for r in rounds for e in r["sl"].errors]
    dts = [c - f for _, f, c, _, _ in closed]
    late = [d for d in dts if d > HEADER_T + MARGIN]
    early = [c - t0 for t0, _, c, _, _ in closed if c - t0 < HEADER_T - EARLY]
    spoke = [g[:80] for _, _, _, _, g in closed if g]
    resets = sum(h == "reset" for _, _, _, h, _ in closed)
    if dts:
        tap.diag("slowloris: closed after " + fig(dts))
    tap.ok(len(dts) >= nconn * len(rounds) and not late and not early and not left_open and
           not errors,
           "slowloris: all %d slowloris connections closed by the server %.0f-%.0f s after "
           "their first byte (header_timeout %d s; %d by reset, %d with bytes sent)" %
           (len(dts), HEADER_T, HEADER_T + MARGIN, HEADER_T, resets, len(spoke)),
           ["%d late, %d early, %d still open, connect errors %s" %
            (len(late), len(early), len(left_open), errors[:3])] + spoke[:3])
    diag = serves(srv, "after the slowloris")
    tap.ok(not diag and srv.alive(), "slowloris: the server answers normally afterwards", diag)


def check_burst(tap, srv, nconn):
    """nconn GETs sent at once on as many connections: all served.  The
    server's VmRSS after it is printed: each busy request takes a crypto
    engine, from the pool or new, and glibc keeps what they used."""
    rss0, _ = vmrss(srv.proc.pid)
    t0 = time.monotonic()
    sel, conns, bad = open_answered(srv, signed(srv, "GET", "/%s/small" % BUCKET), nconn, nconn)
    dt = time.monotonic() - t0
    n = sum(e["t_resp"] is not None for e in conns)
    rss1, _ = vmrss(srv.proc.pid)
    for e in conns:
        e["s"].close()
    sel.close()
    time.sleep(0.5)
    rss2, _ = vmrss(srv.proc.pid)
    tap.diag("burst: server VmRSS %.0f MiB before %d GETs at once, %.0f MiB after them, %.0f "
             "MiB once their connections closed" % (rss0 / MiB, nconn, rss1 / MiB, rss2 / MiB))
    tap.ok(n == nconn and not bad and srv.alive(),
           "burst: %d GETs sent at once on as many connections all answered in %.2f s" %
           (n, dt), bad[:10])


def flood_outcome(got, how):
    """What a refused connection saw: (description, acceptable)."""
    if not got:
        return "no answer, then %s" % how, how == "eof"
    i = got.find(b"\r\n\r\n")
    if i < 0:
        return "a partial head %r, then %s" % (got[:60], how), False
    r = parse_response(got)
    lines = got[:i].decode("latin-1").split("\r\n")
    hd = dict((k.strip().lower(), v.strip()) for k, _, v in (ln.partition(":") for ln in lines[1:]))
    n, body = int(hd.get("content-length", "-1")), got[i + 4:]
    if r is None or r[3]:
        return ("%s announcing Content-Length %d with %d body bytes, then %s" %
                (lines[0], n, len(body), how), False)
    st, hd, body, _ = r
    ok = st == 503 and error_code(body) == "SlowDown" and hd.get("connection") == "close" and \
        how in ("eof", "reset")
    return "%s %s, then %s" % (lines[0], error_code(body), how), ok


def check_flood(tap, binary, base, data_base):
    srv = harness.Server(binary, base, name="flood", sync=False,
                         data_dir=os.path.join(data_base, "flood-data"),
                         extra=timeouts(FLOOD_MAX_CONNS))
    try:
        srv.start()
    except Exception as e:  # noqa: BLE001
        tap.ok(False, "flood: start a server with --max-conns %d" % FLOOD_MAX_CONNS,
               str(e).splitlines())
        return srv
    srv.forget_clients()
    head = signed(srv, "HEAD", "/" + BUCKET)
    held, diag = [], []
    open0, _ = open_conns(srv)
    # Hold every free slot with a connection that completed a request.
    for _ in range(FLOOD_MAX_CONNS - (open0 or 0)):
        c = Raw(srv.port)
        c.send(head)
        try:
            st, _, _ = c.response(head_only=True)
        except (EOFError, OSError) as e:
            st = repr(e)
        if st != 200:
            diag.append("a held connection got %s" % st)
        held.append(c)
    time.sleep(0.3)  # past the 20 ms grace: parked
    open1, parked1 = open_conns(srv)
    tap.ok(not diag and open1 == FLOOD_MAX_CONNS,
           "flood: %d connections held (%s open, %s parked; limit %d)" %
           (len(held), open1, parked1, FLOOD_MAX_CONNS), diag)

    # The flood: half send a request at once, half nothing.
    flood = []
    t0 = time.monotonic()
    for i in range(300):
        try:
            c = Raw(srv.port, timeout=5)
            if i % 2 == 0:
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    c.send(head)
            flood.append(c)
        except OSError as e:
            flood.append(e)
    kinds, good = collections.Counter(), 0
    for i, c in enumerate(flood):
        sent = "sent a request" if i % 2 == 0 else "sent nothing"
        if isinstance(c, Exception):
            kinds["connect failed: %r" % c] += 1
            continue
        try:
            _, how, got = wait_close(c.s, 5)
        finally:
            c.close()
        kind, ok = flood_outcome(got, how)
        kinds["%s (%s)" % (kind, sent)] += 1
        good += ok
    dt = time.monotonic() - t0
    tap.ok(good == len(flood) and srv.alive(),
           "flood: 300 connections past --max-conns %d: %d got a whole 503 SlowDown or a clean "
           "close (%.2f s)" % (FLOOD_MAX_CONNS, good, dt),
           ["%3d  %s" % (n, k) for k, n in kinds.most_common()])
    if good == len(flood):
        tap.diag("flood: " + "; ".join("%d %s" % (n, k) for k, n in kinds.most_common()))

    # The held connections still work.
    bad = []
    for c in held:
        try:
            c.send(head)
            st, _, _ = c.response(head_only=True)
            if st != 200:
                bad.append(st)
        except (EOFError, OSError) as e:
            bad.append(repr(e))
        c.close()
    tap.ok(not bad, "flood: the %d held connections still work" % len(held), bad[:10])

    # Once they are closed, a new client is served.
    t0 = time.monotonic()
    last = None
    while time.monotonic() - t0 < 3:
        try:
            cl = srv.client("s0", fresh=True, pool=1, connect_timeout=2, read_timeout=5)
            cl.put_object(Bucket=BUCKET, Key="after-flood", Body=b"ok")
            if cl.get_object(Bucket=BUCKET, Key="after-flood")["Body"].read() == b"ok":
                last = None
                break
        except Exception as e:  # noqa: BLE001 - 503 while the closes are noticed
            last = repr(e)
        time.sleep(0.05)
    tap.ok(last is None and srv.alive(), "flood: a new client is served %.2f s after the held "
           "connections closed" % (time.monotonic() - t0), [last or ""])
    return srv


def timeouts(max_conns):
    return ["--header-timeout", str(HEADER_T), "--body-timeout", str(BODY_T),
            "--idle-timeout", str(IDLE_T), "--max-conns", str(max_conns),
            "--max-object", str(MAX_OBJECT), "--event-loops", str(LOOPS)]


def check_log(tap, name, srv, log_off=0):
    rc = srv.stop()
    log = srv.log_since(log_off)
    bad = [ln for ln in log.splitlines() if " ERROR " in ln] + harness.sanitizer_lines(log)
    tap.ok(rc == 0 and not bad, "log: %s server: no ERROR, no sanitizer report; clean stop "
           "(exit status %s)" % (name, rc), bad[:40])


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = NOFILE if hard == resource.RLIM_INFINITY else min(NOFILE, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def main():
    global MARGIN, SANITIZER
    ap = argparse.ArgumentParser(description="cryptstored network abuse test")
    ap.add_argument("server")
    ap.add_argument("--reps", type=int, default=5, help="PUTs per throughput figure")
    ap.add_argument("--conns", type=int, default=1000,
                    help="slowloris and idle connections")
    try:
        args = ap.parse_args()
    except SystemExit:
        return 2
    tap = harness.Tap()
    nofile = raise_nofile()
    if nofile < args.conns + 200:
        harness.die("RLIMIT_NOFILE is %d; need %d" % (nofile, args.conns + 200))
    binary = os.path.abspath(args.server)
    base = tempfile.mkdtemp(prefix="cs-abuse-", dir="/var/tmp")
    shm = None
    with contextlib.suppress(OSError):
        st = os.statvfs("/dev/shm")
        if st.f_bavail * st.f_frsize > 4 << 30:
            shm = tempfile.mkdtemp(prefix="cs-abuse-", dir="/dev/shm")
    data_base = shm or base
    srv = harness.Server(binary, base, sync=False, data_dir=os.path.join(data_base, "data"),
                         extra=timeouts(MAX_CONNS))
    flood = None
    t_all = time.monotonic()
    try:
        try:
            srv.start()
        except Exception as e:  # noqa: BLE001
            harness.die("start-up failed: %s" % e)
        SANITIZER = sanitizer_of(srv.proc.pid)
        if SANITIZER:
            MARGIN = SAN_MARGIN
        tap.diag("RLIMIT_NOFILE %d; data on %s; %s; timeouts may fire %.1f s late" %
                 (nofile, data_base, "%s build" % SANITIZER if SANITIZER else "no sanitizer",
                  MARGIN))
        srv.client("s0").put_object(Bucket=BUCKET, Key="small", Body=SMALL)
        srv.forget_clients()

        t = time.monotonic()
        check_heads(tap, srv)
        check_lengths(tap, srv)
        check_pipeline(tap, srv)
        check_loops(tap, srv)
        check_smuggling(tap, srv)
        tap.diag("framing checks took %.1f s" % (time.monotonic() - t))
        t = time.monotonic()
        check_idle(tap, srv, args.conns)
        tap.diag("idle checks took %.1f s" % (time.monotonic() - t))
        t = time.monotonic()
        check_slowloris(tap, srv, args.conns, args.reps)
        check_burst(tap, srv, args.conns)
        tap.diag("slowloris and burst checks took %.1f s" % (time.monotonic() - t))
        t = time.monotonic()
        flood = check_flood(tap, binary, base, data_base)
        tap.diag("flood checks took %.1f s" % (time.monotonic() - t))
        check_log(tap, "main", srv)
        check_log(tap, "flood", flood)
        tap.diag("the whole run took %.1f s" % (time.monotonic() - t_all))
    finally:
        srv.kill9()
        if flood is not None:
            flood.kill9()
        if os.environ.get("CS_IT_KEEP") == "1":
            tap.diag("kept %s %s" % (base, shm or ""))
        else:
            shutil.rmtree(base, ignore_errors=True)
            if shm:
                shutil.rmtree(shm, ignore_errors=True)
    return tap.done()


if __name__ == "__main__":
    sys.exit(main())
