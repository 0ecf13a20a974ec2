#!/usr/bin/env python3
"""Runs the fuzz targets (libFuzzer, coverage-instrumented build on stable Rust) and checks that
the native and the wasm32 build of the core decide every corpus input identically.

  fuzz.py run [--seconds N] [--runs N] [--jobs N] [TARGET ...]  fuzz each target, print a table
  fuzz.py compare                                  native vs wasm32 digests over every corpus input
  fuzz.py keep [TARGET ...]                         merge new coverage into the committed corpus

Inputs found while fuzzing go to target/fuzz/work/<target> (not committed); crashes to
target/fuzz/artifacts/. Exit 1 on any crash or digest mismatch.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = ["decision", "extract", "denied", "counters", "policy", "fingerprint"]
DICTS = {"policy": "policy.dict", "denied": None}
HOST = "x86_64-unknown-linux-gnu"
FUZZ_DIR = os.path.join(ROOT, "target", "fuzz")
BIN_DIR = os.path.join(FUZZ_DIR, HOST, "release")
WASM = os.path.join(ROOT, "target", "wasm32-wasip1", "release", "fuzz-corpus.wasm")
# libFuzzer's coverage instrumentation, as cargo-fuzz passes it, without a sanitizer (the core
# forbids unsafe code), so a stable toolchain builds it; debug assertions and overflow checks on,
# so an arithmetic overflow is a crash too.
RUSTFLAGS = " ".join([
    "-Cpasses=sancov-module",
    "-Cllvm-args=-sanitizer-coverage-level=4",
    "-Cllvm-args=-sanitizer-coverage-inline-8bit-counters",
    "-Cllvm-args=-sanitizer-coverage-pc-table",
    "-Cllvm-args=-sanitizer-coverage-trace-compares",
    "--cfg fuzzing",
    "-Cdebug-assertions",
    "-Coverflow-checks",
])


def build(targets):
    env = dict(os.environ, RUSTFLAGS=RUSTFLAGS)
    cmd = ["cargo", "build", "--release", "-p", "pumpguard-fuzz", "--features", "libfuzzer",
           "--target", HOST, "--target-dir", FUZZ_DIR,
           "--config", "profile.release.lto=false", "--config", "profile.release.codegen-units=16"]
    for t in targets:
        cmd += ["--bin", f"fuzz-{t}"]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True)


def fuzz(target, seconds, runs, jobs):
    work = os.path.join(FUZZ_DIR, "work", target)
    artifacts = os.path.join(FUZZ_DIR, "artifacts")
    os.makedirs(work, exist_ok=True)
    os.makedirs(artifacts, exist_ok=True)
    cmd = [os.path.join(BIN_DIR, f"fuzz-{target}"), f"-max_total_time={seconds}",
           f"-artifact_prefix={artifacts}/{target}-", "-print_final_stats=1", "-max_len=16384",
           "-timeout=10", "-rss_limit_mb=1024"]
    if runs:
        cmd.append(f"-runs={runs}")
    dict_name = DICTS.get(target, "requests.dict")
    if dict_name:
        cmd.append(f"-dict={os.path.join(ROOT, 'fuzz', 'dict', dict_name)}")
    if jobs > 1:
        cmd += [f"-fork={jobs}", "-ignore_crashes=0"]
    cmd += [work, os.path.join(ROOT, "fuzz", "corpus", target)]
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, errors="replace")
    elapsed = time.monotonic() - started
    log = proc.stdout + proc.stderr
    with open(os.path.join(FUZZ_DIR, f"{target}.log"), "w") as f:
        f.write(log)
    execs = sum(int(m) for m in re.findall(r"stat::number_of_executed_units:\s*(\d+)", log))
    if not execs:
        done = re.findall(r"#(\d+)\s+DONE", log) or re.findall(r"#(\d+)\s", log)
        execs = int(done[-1]) if done else 0
    crashed = proc.returncode != 0
    if crashed:
        tail = "\n".join(log.splitlines()[-40:])
        print(f"--- {target} failed (exit {proc.returncode}); log tail:\n{tail}", file=sys.stderr)
    return execs, elapsed, crashed


def run(args):
    targets = args.targets or TARGETS
    build(targets)
    rows, failed = [], False
    for t in targets:
        execs, elapsed, crashed = fuzz(t, args.seconds, args.runs, args.jobs)
        failed |= crashed
        corpus = len(os.listdir(os.path.join(FUZZ_DIR, "work", t)))
        rows.append((t, execs, elapsed, corpus, "CRASH" if crashed else "ok"))
    print(f"{'target':<12}{'executions':>14}{'seconds':>10}{'exec/s':>10}{'new inputs':>12}  result")
    for t, execs, elapsed, corpus, result in rows:
        print(f"{t:<12}{execs:>14,}{elapsed:>10.0f}{execs / max(elapsed, 1e-9):>10.0f}{corpus:>12}  {result}")
    if not args.no_compare:
        failed |= not compare_builds()
    return 1 if failed else 0


def compare_builds():
    """Digests of every committed and every found input, native vs wasm32 under V8."""
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "pumpguard-fuzz", "--bin", "fuzz-corpus"],
                   cwd=ROOT, check=True)
    subprocess.run(["cargo", "build", "-q", "--release", "-p", "pumpguard-fuzz", "--bin", "fuzz-corpus",
                    "--target", "wasm32-wasip1"], cwd=ROOT, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        # One tree with every input: the committed seeds and whatever fuzzing found.
        for t in TARGETS:
            dest = os.path.join(tmp, t)
            os.makedirs(dest)
            for src in (os.path.join(ROOT, "fuzz", "corpus", t), os.path.join(FUZZ_DIR, "work", t)):
                if os.path.isdir(src):
                    for name in os.listdir(src):
                        shutil.copyfile(os.path.join(src, name), os.path.join(dest, name))
        native = subprocess.run([os.path.join(ROOT, "target", "release", "fuzz-corpus"), "digest", tmp],
                                capture_output=True, text=True, check=True).stdout
        wasm = subprocess.run(["node", "--no-warnings", os.path.join(ROOT, "fuzz", "run-wasm.mjs"), WASM, tmp],
                              capture_output=True, text=True, check=True).stdout
    print("native vs wasm32 (target, inputs, digest of every decision):")
    same = native == wasm
    for n, w in zip(native.splitlines(), wasm.splitlines()):
        print(f"  {n}   {'same' if n == w else 'DIFFERS: wasm ' + w}")
    if not same:
        print("native and wasm32 builds decided differently", file=sys.stderr)
    return same


def keep(args):
    """Minimises work + committed inputs into the committed corpus (new coverage only)."""
    targets = args.targets or TARGETS
    build(targets)
    for t in targets:
        committed = os.path.join(ROOT, "fuzz", "corpus", t)
        work = os.path.join(FUZZ_DIR, "work", t)
        before = len(os.listdir(committed))
        subprocess.run([os.path.join(BIN_DIR, f"fuzz-{t}"), "-merge=1", committed, work],
                       cwd=ROOT, capture_output=True, check=True)
        print(f"{t}: {before} -> {len(os.listdir(committed))} committed inputs")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_run = sub.add_parser("run")
    p_run.add_argument("--seconds", type=int, default=60)
    p_run.add_argument("--runs", type=int, default=0, help="stop each target after this many executions")
    p_run.add_argument("--jobs", type=int, default=1, help="libFuzzer -fork processes per target")
    p_run.add_argument("--no-compare", action="store_true")
    p_run.add_argument("targets", nargs="*")
    sub.add_parser("compare")
    p_keep = sub.add_parser("keep")
    p_keep.add_argument("targets", nargs="*")
    args = parser.parse_args()
    if args.command == "run":
        return run(args)
    if args.command == "compare":
        return 0 if compare_builds() else 1
    return keep(args)


if __name__ == "__main__":
    sys.exit(main())
