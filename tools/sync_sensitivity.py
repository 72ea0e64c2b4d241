#!/usr/bin/env python3
"""Sensitivity of racecheck to missing barriers: deletes each __syncthreads() of kernels/cuda,
one at a time, rebuilds, and asks whether the mutant changes behaviour and whether racecheck
flags it.

The CTest entry simt_sync_sensitivity (labels slow and sensitivity; tools/test.sh and so CI
leave it out) runs this on the build tree. The target test_simt_kernels_mutant (tests/
CMakeLists.txt) is the device checks linked with checked kernels built from a mirror of
kernels/cuda in BUILD/sync_mutant; each mutant is that mirror with one call deleted, so make
rebuilds only the files that include the mutated one. Per mutant, the device checks of the
kernel's file run:
  - without checks under the forward, reverse and random thread orders: a failure in any is a
    change of behaviour (simt runs the threads of a block one after another between barriers,
    so a missing barrier usually shows as poison or stale values);
  - under PW_SIMT_CHECK=racecheck (forward order): a "simt racecheck" report flags it.
Prints a Markdown table (also BUILD/sync_sensitivity.md) and exits 1 when a mutant that changes
behaviour is not flagged, or when the unmutated build fails.

  python3 tools/sync_sensitivity.py --build build [--only gemm.cu]
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# The device checks that exercise each kernel file's barriers.
FILTERS = {
    "conv.cu": "*ConvOnDevice*",
    "gemm.cu": "*GemmOnDevice*:*GemmSplitKOnDevice*",
    "gemm_warptile.cuh": "*GemmOnDevice*:*GemmSplitKOnDevice*:*ConvOnDevice*",
    "gemm_tc.cu": "*GemmTensorCoreOnDevice*",
    "loss.cu": "*LossOnDevice*",
    "norm.cu": "*NormOnDevice*",
    "reduce.cu": "*ReduceOnDevice*",
}
CALL = re.compile(r"__syncthreads\(\);")


def barrier_sites(path):
    """(line number, column) of each __syncthreads(); outside // comments."""
    sites = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            code = line.split("//", 1)[0]
            sites += [(n, m.start()) for m in CALL.finditer(code)]
    return sites


def mutate(text, line, column):
    lines = text.split("\n")
    s = lines[line - 1]
    lines[line - 1] = s[:column] + "/* __syncthreads() deleted */;" + s[column + len("__syncthreads();"):]
    return "\n".join(lines)


def build(build_dir):
    r = subprocess.run(["cmake", "--build", build_dir, "--target", "test_simt_kernels_mutant", "--", "-j1"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.stdout.write(r.stdout[-3000:] + r.stderr[-3000:])
    return r.returncode == 0


def run(binary, gtest_filter, env_extra):
    env = dict(os.environ, OMP_WAIT_POLICY="passive", PW_SIMT_TIMEOUT="300", **env_extra)
    r = subprocess.run([binary, "--gtest_filter=" + gtest_filter], capture_output=True, text=True, env=env)
    return r.returncode, r.stdout + r.stderr


def judge(binary, gtest_filter):
    """(behaviour changed: the orders that fail, racecheck's first report line or '')."""
    failing = []
    for order in ("forward", "reverse", "random:7"):
        code, _ = run(binary, gtest_filter, {"PW_SIMT_SCHEDULE": order})
        if code != 0:
            failing.append(order.split(":")[0])
    code, out = run(binary, gtest_filter, {"PW_SIMT_CHECK": "racecheck"})
    report = next((l.strip() for l in out.splitlines() if "simt racecheck" in l), "")
    if code != 0 and not report:
        failing.append("racecheck run (no report)")
    return failing, report


def sync_mirror(mirror):
    """The mirror as the sources are (CMake copies them only where the mirror lacks a file, so
    that a reconfigure during a run cannot undo a mutation)."""
    source = os.path.join(ROOT, "kernels", "cuda")
    for top, _, files in os.walk(source):
        for name in files:
            src = os.path.join(top, name)
            dst = os.path.join(mirror, os.path.relpath(src, source))
            if not os.path.exists(dst) or open(src, "rb").read() != open(dst, "rb").read():
                os.makedirs(os.path.dirname(dst), exist_ok=True)
                shutil.copyfile(src, dst)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--only", default="", help="one kernel file (e.g. gemm.cu), or one barrier (gemm.cu:182)")
    args = ap.parse_args()
    build_dir = os.path.abspath(args.build)
    mirror = os.path.join(build_dir, "sync_mutant", "kernels", "cuda")
    binary = os.path.join(build_dir, "tests", "test_simt_kernels_mutant")
    sync_mirror(mirror)
    t0 = time.time()
    if not build(build_dir):
        print("sync_sensitivity: the unmutated mirror does not build")
        return 1
    rows, bad = [], False
    only_file, _, only_line = args.only.partition(":")
    for name in sorted(FILTERS):
        if only_file and name != only_file:
            continue
        path = os.path.join(mirror, name)
        original = open(path).read()
        base_fail, base_report = judge(binary, FILTERS[name])
        if base_fail or base_report:
            print(f"sync_sensitivity: {name} unmutated fails ({base_fail}, {base_report})")
            return 1
        for line, column in barrier_sites(os.path.join(ROOT, "kernels", "cuda", name)):
            if only_line and int(only_line) != line:
                continue
            mutant = mutate(original, line, column)
            with open(path, "w") as f:
                f.write(mutant)
            try:
                built = build(build_dir)
                if open(path).read() != mutant:  # something rewrote the mirror: the result would lie
                    print(f"sync_sensitivity: {path} changed during the build of the mutant at line {line}")
                    return 1
                failing, report = judge(binary, FILTERS[name]) if built else (["build failed"], "")
            finally:
                with open(path, "w") as f:
                    f.write(original)
            changed = bool(failing)
            missed = changed and not report
            bad = bad or missed or not built
            rows.append(f"| {name}:{line} | {', '.join(failing) or 'no'} | {report[:160] or 'not flagged'} |"
                        f"{' **missed**' if missed else ''}")
            print(rows[-1], flush=True)
    build(build_dir)  # the mirror as the sources are again
    table = ("| deleted `__syncthreads` | device checks fail without checks (orders) | racecheck |\n"
             "|---|---|---|\n" + "\n".join(rows) + "\n")
    summary = f"\n{len(rows)} mutants in {time.time() - t0:.0f} s\n"
    with open(os.path.join(build_dir, "sync_sensitivity.md"), "w") as f:
        f.write(table + summary)
    print(table + summary)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
