#!/usr/bin/env bash
# The unit tests and the simt device checks under AddressSanitizer + UndefinedBehaviorSanitizer
# (CI runs this after tools/test.sh). Builds the tests into ./build-asan with the host compiler
# (-DPW_SANITIZE=address,undefined, no nvcc) and runs every test labelled `unit` (neither slow
# nor gpu; the simt device checks in all three thread orders are unit tests) except those
# listed below. Any ASan report, any UBSan report (-fno-sanitize-recover) and any leak fails
# the test that caused it. Extra arguments go to ctest (e.g. -R simt).
#
#   bash tools/sanitize.sh                  # set up, build, run
#   PW_BUILD_JOBS=1 bash tools/sanitize.sh  # build with one job (default: one per core)
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh --no-build
jobs=${PW_BUILD_JOBS:-$(nproc)}
build=build-asan

# -O1: the sanitizers' usual level (full optimization makes the build slower and the reports
# harder to read); -g1: line numbers in the reports.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DPW_SANITIZE=address,undefined -DPW_CUDA=OFF >/dev/null

# Tests left out of this run, with the reason (a regular expression for ctest -E):
excluded=(
)
# The test programs of the unit label (slow and gpu programs are not built).
targets=()
for src in tests/test_*.cpp; do
  name=$(basename "$src" .cpp)
  case "$name" in test_slow_* | test_sweep_* | test_gpu_*) continue ;; esac
  targets+=("$name")
done
targets+=(test_simt_kernels)
start=$SECONDS
cmake --build "$build" -j"$jobs" --target "${targets[@]}"
echo "sanitize: built in $((SECONDS - start)) s"

# detect_leaks=1: LeakSanitizer at exit (on by default on Linux; said here so it stays on): a
#   leak fails the test.
# allocator_may_return_null=1: an impossible allocation returns null (std::bad_alloc) as glibc's
#   malloc does, instead of ASan ending the program; the out-of-memory test checks that path.
# strict_string_checks, check_initialization_order: two more checks that cost nothing here.
# UBSan: a report stops the program (built with -fno-sanitize-recover) with a stack trace.
export ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1:strict_string_checks=1:check_initialization_order=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
exclude_regex=$(IFS='|'; echo "${excluded[*]:-}")
cd "$build"
start=$SECONDS
status=0
if [ -n "$exclude_regex" ]; then
  ctest --output-on-failure -L unit -LE "gpu|slow" -E "$exclude_regex" -j"$(nproc)" "$@" || status=$?
else
  ctest --output-on-failure -L unit -LE "gpu|slow" -j"$(nproc)" "$@" || status=$?
fi
# simt's own tests once more with detect_stack_use_after_return=1, which checks that every fiber
# switch hands ASan's fake stacks over correctly. Not for the whole run: a fresh fake stack per
# fiber (an mmap of ~1 MB) makes the device checks ~8x slower (measured: 15 s -> 125 s for the
# GEMM checks).
ASAN_OPTIONS=$ASAN_OPTIONS:detect_stack_use_after_return=1 \
  ctest --output-on-failure -L unit -R '^Simt' -j"$(nproc)" "$@" || status=$?
echo "sanitize: tests ran in $((SECONDS - start)) s"
exit $status
