#!/usr/bin/env python3
"""Run every test in the given Meson build directories and print one summary.

Usage: tests/run.py BUILDDIR[:[!]SUITE] [BUILDDIR[:[!]SUITE] ...]

Each build directory's tests run through `meson test`; the per-case TAP
results Meson records are counted, so the closing line counts test cases,
not programs.  The last line is the form CI reads:
    N passed, N failed[, N skipped]
Just above it, every failing test is named with its "not ok" lines and the
diagnostics under them, so that a log read from its tail says what failed.
Exit status: 0 if nothing failed.
"""
import json
import os
import subprocess
import sys


FAILURES = []  # (builddir, test name, result, lines) of every failing test


def failure_lines(out, limit=12):
    """The "not ok" lines of a TAP stream and the diagnostics that follow each."""
    keep, lines = False, []
    for line in out.splitlines():
        if line.startswith("not ok"):
            keep = True
        elif not line.startswith("#"):
            keep = False
        if keep and len(lines) < limit:
            lines.append(line[:300])
    return lines


def run(spec):
    """spec is BUILDDIR, BUILDDIR:SUITE (only that suite's tests) or
    BUILDDIR:!SUITE (all but that suite's tests)."""
    builddir, _, suite = spec.partition(":")
    log = os.path.join(builddir, "meson-logs", "testlog.json")
    if os.path.exists(log):
        os.unlink(log)
    proc = subprocess.run(["meson", "test", "-C", builddir, "--no-rebuild",
                           "--print-errorlogs"] + suite_args(suite))
    passed = failed = skipped = 0
    if not os.path.exists(log):
        return 0, 1, 0
    with open(log) as f:
        for line in f:
            t = json.loads(line)
            result = t.get("result")
            cases = count_tap(t.get("stdout", ""))
            if cases is None:  # not TAP: one result for the program
                cases = (1, 0, 0) if result == "OK" else (0, 0, 1) if result == "SKIP" else (0, 1, 0)
            p, f_, s = cases
            if result not in ("OK", "SKIP", "EXPECTEDFAIL") and f_ == 0:
                f_ = 1  # crashed or timed out after its last "ok" line
            passed, failed, skipped = passed + p, failed + f_, skipped + s
            if f_:
                out = t.get("stdout", "")
                lines = failure_lines(out) or out.splitlines()[-6:]
                FAILURES.append((builddir, t["name"], result, lines))
            print(f"{builddir}: {t['name']}: {p} passed, {f_} failed, {s} skipped")
    if proc.returncode != 0 and failed == 0:
        failed = 1
    return passed, failed, skipped


def suite_args(suite):
    if not suite:
        return []
    if suite.startswith("!"):
        return ["--no-suite", suite[1:]]
    return ["--suite", suite]


def count_tap(out):
    p = f = s = 0
    seen = False
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("ok ") or line == "ok":
            seen = True
            if "# SKIP" in line or "# skip" in line:
                s += 1
            else:
                p += 1
        elif line.startswith("not ok"):
            seen = True
            f += 1
    return (p, f, s) if seen else None


def main():
    dirs = sys.argv[1:] or ["build"]
    tp = tf = ts = 0
    for d in dirs:
        p, f, s = run(d)
        tp, tf, ts = tp + p, tf + f, ts + s
    for builddir, name, result, lines in FAILURES:
        print(f"FAILED {builddir}: {name} ({result})")
        for ln in lines:
            print(f"    {ln}")
    line = f"{tp} passed, {tf} failed"
    if ts:
        line += f", {ts} skipped"
    print(line)
    sys.exit(1 if tf else 0)


if __name__ == "__main__":
    main()
