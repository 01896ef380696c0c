#!/usr/bin/env python3
"""mutation-recheck.py: re-test a chosen list of gremlins mutants, one at a time.

gremlins (scripts/mutation.sh) re-runs a package's tests for every mutant, which takes
most of an hour per package on a shared two-core machine. After tests are ADDED (none
removed or weakened), a mutant gremlins reported KILLED stays killed, so the new score
needs only the mutants that LIVED or TIMED OUT re-tested. This script does that, with
gremlins' own mutations (its v0.6.0 token table, internal/engine/mappings.go), in a
throw-away clone of the repository at HEAD (or --rev), so the work tree is never touched.

Usage:
  scripts/mutation-recheck.py [--status LIVED,TIMED_OUT] [--file F --lines A-B] [--rev C] \
      [--timeout S] REPORT.txt PACKAGE > RECHECK.txt
  scripts/mutation-recheck.py --named LIST [--rev C] PACKAGE > RESULT.txt
REPORT.txt is a gremlins log (scripts/mutation.sh's PKG.txt, or the output of
`gremlins unleash --dry-run PACKAGE`, whose mutants are RUNNABLE); PACKAGE the package
directory whose files the mutants name. --lines keeps mutants on lines A to B only
(with --file, of one file). Each mutant is printed with its new status, as gremlins
prints it: KILLED (a test fails), LIVED (all pass), NOT VIABLE (does not build),
TIMED OUT.

--named re-tests hand-written mutants gremlins cannot make (another constant, a
dropped term, a shared slot): LIST has one per line, "FILE :: OLD :: NEW :: WHY",
where OLD is a literal that occurs exactly once in PACKAGE/FILE and NEW replaces it.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

# gremlins v0.6.0, internal/engine/mappings.go: what each mutation turns a token into.
MUTATIONS = {
    "ARITHMETIC_BASE": {"+": "-", "-": "+", "*": "/", "/": "*", "%": "*"},
    "INVERT_NEGATIVES": {"-": "+"},
    "CONDITIONALS_BOUNDARY": {"<": "<=", "<=": "<", ">": ">=", ">=": ">"},
    "CONDITIONALS_NEGATION": {"==": "!=", "!=": "==", "<": ">=", "<=": ">", ">": "<=", ">=": "<"},
    "INCREMENT_DECREMENT": {"++": "--", "--": "++"},
}
TOKENS = ["++", "--", "<=", ">=", "==", "!=", "+", "-", "*", "/", "%", "<", ">"]
LINE = re.compile(r"^\s*(KILLED|LIVED|TIMED OUT|NOT VIABLE|NOT COVERED|RUNNABLE|SKIPPED)\s+([A-Z_]+) at (\S+):(\d+):(\d+)")


def run_tests(args, clone, path, src):
    """Runs the package's tests on the mutated clone, restores path to src, and
    returns gremlins' status and the failing test."""
    why = ""
    try:
        r = subprocess.run(["nice", "-n", "10", "go", "test", "-count=1", "-failfast",
                            f"-timeout={args.timeout}s", "./" + args.package],
                           cwd=clone, capture_output=True, text=True, timeout=args.timeout + 60)
        status = {0: "LIVED", 1: "KILLED", 2: "NOT VIABLE"}.get(r.returncode, "KILLED")
        if "build failed" in r.stdout or "[setup failed]" in r.stdout:
            status = "NOT VIABLE"
        elif "panic: test timed out" in r.stdout:
            status = "TIMED OUT"
        if status == "KILLED":
            fails = [l.strip() for l in r.stdout.splitlines() if l.startswith("--- FAIL")]
            why = "  # " + (fails[-1] if fails else "tests failed")
    except subprocess.TimeoutExpired:
        status = "TIMED OUT"
    finally:
        open(path, "wb").write(src)
    return status, why


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("report", nargs="?")
    ap.add_argument("package")
    ap.add_argument("--named", help="a list of hand-written mutants (see above)")
    ap.add_argument("--status", default="LIVED,TIMED OUT",
                    help="comma-separated statuses to re-test (default LIVED,TIMED OUT)")
    ap.add_argument("--file", help="only mutants of this file")
    ap.add_argument("--lines", help="only mutants on lines A-B")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per mutant's tests")
    ap.add_argument("--rev", default="HEAD", help="the commit whose code and tests are used (default HEAD)")
    args = ap.parse_args()
    want = {s.strip().replace("_", " ") for s in args.status.split(",")}
    lo, hi = 0, 1 << 30
    if args.lines:
        lo, hi = (int(v) for v in args.lines.split("-"))
    mutants = []
    if args.named:
        for line in open(args.named):
            if line.strip() and not line.startswith("#"):
                f, old, new, why = (x.strip() for x in line.rstrip("\n").split(" :: "))
                mutants.append(("NAMED", why, f, old, new))
    for line in ([] if args.named else open(args.report)):
        m = LINE.match(line)
        if not m or m.group(1) not in want:
            continue
        status, kind, f, ln, col = m.group(1), m.group(2), m.group(3), int(m.group(4)), int(m.group(5))
        if args.file and f != args.file:
            continue
        if lo <= ln <= hi:
            mutants.append((status, kind, f, ln, col))
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True, check=True).stdout.strip()
    head = subprocess.run(["git", "-C", root, "rev-parse", "--short", args.rev], capture_output=True, text=True, check=True).stdout.strip()
    tmp = tempfile.mkdtemp(prefix="mutation-recheck-")
    try:
        clone = os.path.join(tmp, "repo")
        subprocess.run(["git", "clone", "-q", root, clone], check=True)
        subprocess.run(["git", "-C", clone, "checkout", "-q", head], check=True)
        what = f"hand-written mutants of {args.named}" if args.named else f"mutants ({', '.join(sorted(want))}) of {args.report}"
        print(f"# recheck of {len(mutants)} {what} in {args.package} at commit {head}")
        print(f"# tests: nice -n 10 go test -count=1 -failfast -timeout {args.timeout}s ./{args.package}")
        print(f"# started: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}")
        sys.stdout.flush()
        start = time.time()
        counts = {}
        for old, kind, f, ln, col in mutants:
            path = os.path.join(clone, args.package, f)
            src = open(path, "rb").read()
            if old == "NAMED":
                o, n = ln.encode(), col.encode()
                if src.count(o) != 1:
                    print(f"# cannot apply {kind}: {o.decode()!r} occurs {src.count(o)} times in {f}")
                    continue
                open(path, "wb").write(src.replace(o, n))
                status, why = run_tests(args, clone, path, src)
                counts[status] = counts.get(status, 0) + 1
                print(f"{status:>12} {f}: {kind}{why}")
                sys.stdout.flush()
                continue
            lines = src.split(b"\n")
            text = lines[ln - 1].decode()
            at = text[col - 1:] if text.isascii() else lines[ln - 1][col - 1:].decode()
            tok = next((t for t in TOKENS if at.startswith(t)), None)
            repl = MUTATIONS.get(kind, {}).get(tok)
            if repl is None:
                print(f"# cannot apply {kind} at {f}:{ln}:{col} ({at[:12]!r})")
                continue
            bline = lines[ln - 1]
            lines[ln - 1] = bline[:col - 1] + repl.encode() + bline[col - 1 + len(tok):]
            open(path, "wb").write(b"\n".join(lines))
            status, why = run_tests(args, clone, path, src)
            counts[status] = counts.get(status, 0) + 1
            print(f"{status:>12} {kind} at {f}:{ln}:{col} (was {old}; {tok} -> {repl}){why}")
            sys.stdout.flush()
        print(f"# finished after {time.time() - start:.0f}s: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
