#!/usr/bin/python3
"""shredbench: cryptographic erase against overwriting, on the real disk.

Fills one level of a fresh cryptstored (data on a real disk, fdatasync on)
with N objects of SIZE bytes through S3 (boto3, several threads), then
  1. times `cryptstore admin key shred LEVEL --yes` (the server's own figure
     and the client's wall clock), and, as a control, the same on RUNS empty
     levels (the median), which shows the cost does not depend on the data;
  2. times `shred -n1` (one random overwrite pass, synced) of the very same
     stored files: what erasing the bytes themselves costs.
Prints a Markdown table for docs/BENCHMARKS.md.

Usage: bench/shredbench.py [--objects 10000] [--size 1048576] [--dir /var/tmp/cs-shredbench]
                           [--threads 8] [--runs 5] [--build build-release]
"""

import argparse
import concurrent.futures
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--objects", type=int, default=10000)
    ap.add_argument("--size", type=int, default=1 << 20)
    ap.add_argument("--dir", default="/var/tmp/cs-shredbench")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--build", default="build-release")
    a = ap.parse_args()

    import boto3
    from botocore.config import Config

    server = os.path.join(a.build, "server", "cryptstored")
    cli = os.path.join(a.build, "cli", "cryptstore")
    for p in (server, cli):
        if not os.access(p, os.X_OK):
            sys.exit("shredbench: %s missing (build it: meson setup %s -Dbuildtype=release && "
                     "ninja -C %s)" % (p, a.build, a.build))
    shutil.rmtree(a.dir, ignore_errors=True)
    os.makedirs(a.dir, 0o700)
    d = a.dir
    sock = d + "/admin.sock"
    log = open(d + "/server.log", "wb")
    srv = subprocess.Popen(
        [server, "--data-dir", d + "/data", "--keys-dir", d + "/keys", "--root-key",
         d + "/root.key", "--port", "0", "--port-file", d + "/port", "--credentials-file",
         d + "/creds", "--init-demo", "true", "--sync", "true", "--admin-socket", sock,
         "--audit-dir", d + "/audit", "--init-levels", "s0,s1", "--log-level", "warn"],
        stdout=subprocess.DEVNULL, stderr=log)
    try:
        t_end = time.monotonic() + 30
        while not os.path.exists(d + "/port"):
            if srv.poll() is not None or time.monotonic() > t_end:
                sys.exit("shredbench: the server did not start (see %s/server.log)" % d)
            time.sleep(0.05)
        port = int(open(d + "/port").read())
        creds = dict((l.split()[0], l.split()[1:]) for l in open(d + "/creds") if l.strip())
        akid, secret = creds["s1"]
        cfg = Config(signature_version="s3v4", s3={"addressing_style": "path"},
                     max_pool_connections=a.threads, retries={"total_max_attempts": 3})
        s3 = boto3.session.Session().client(
            "s3", endpoint_url="http://127.0.0.1:%d" % port, region_name="us-east-1",
            aws_access_key_id=akid, aws_secret_access_key=secret, config=cfg)
        body = os.urandom(a.size)

        def put(i):
            s3.put_object(Bucket="level-s1", Key="obj-%06d" % i, Body=body[i % 997:] +
                          body[:i % 997])

        t0 = time.monotonic()
        with concurrent.futures.ThreadPoolExecutor(a.threads) as ex:
            list(ex.map(put, range(a.objects)))
        fill = time.monotonic() - t0
        total = a.objects * a.size
        files = []
        for dp, _, fs in os.walk(d + "/data"):
            files += [os.path.join(dp, f) for f in fs]
        stored = [f for f in files if os.path.getsize(f) >= a.size]
        stored_bytes = sum(os.path.getsize(f) for f in stored)
        print("filled level s1: %d objects, %.2f GiB in %.1f s (%.0f MB/s, fdatasync on)"
              % (a.objects, total / 2**30, fill, total / fill / 1e6), flush=True)

        def admin(*args):
            t = time.monotonic()
            p = subprocess.run([cli, "admin", "--socket", sock] + list(args),
                               capture_output=True, text=True)
            wall = (time.monotonic() - t) * 1e3
            if p.returncode != 0:
                sys.exit("shredbench: admin %s: %s" % (" ".join(args), p.stderr))
            return p.stdout, wall

        out, wall = admin("key", "shred", "s1", "--yes")
        m = re.search(r"(\d+) objects \((\d+) bytes\) are unreadable; ([0-9.]+) ms", out)
        if not m or int(m.group(1)) != a.objects:
            sys.exit("shredbench: unexpected shred output: %s" % out)
        shred_ms = float(m.group(3))
        print("key shred: %s ms in the server, %.1f ms for the CLI round trip" %
              (m.group(3), wall), flush=True)
        empty = []
        for i in range(a.runs):
            lv = "s%d" % (10 + i)
            admin("level", "add", lv)
            out, _ = admin("key", "shred", lv, "--yes")
            empty.append(float(re.search(r"([0-9.]+) ms", out).group(1)))
        print("key shred of an empty level, %d runs: median %.2f ms (%s)" %
              (a.runs, statistics.median(empty), ", ".join("%.2f" % x for x in empty)),
              flush=True)
    finally:
        srv.send_signal(signal.SIGTERM)
        srv.wait()
    t0 = time.monotonic()
    for i in range(0, len(stored), 500):
        subprocess.run(["shred", "-n1"] + stored[i:i + 500], check=True)
    over = time.monotonic() - t0
    print("shred -n1 of the same %d files (%.2f GiB stored): %.1f s (%.0f MB/s)" %
          (len(stored), stored_bytes / 2**30, over, stored_bytes / over / 1e6), flush=True)
    print()
    print("| what | objects | bytes | time | ratio |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print("| `cryptstore admin key shred` (server figure) | %d | %.2f GiB | %.1f ms | 1 |" %
          (a.objects, total / 2**30, shred_ms))
    print("| the same on an empty level (median of %d) | 0 | 0 | %.1f ms | %.2f |" %
          (a.runs, statistics.median(empty), statistics.median(empty) / shred_ms))
    print("| `shred -n1` of the stored files | %d | %.2f GiB | %.1f s | %.0f |" %
          (len(stored), stored_bytes / 2**30, over, over * 1e3 / shred_ms))
    shutil.rmtree(a.dir, ignore_errors=True)


if __name__ == "__main__":
    main()
