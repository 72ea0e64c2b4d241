#!/usr/bin/env bash
# Fuzzes every parser of outside data with libFuzzer (tests/fuzz/targets.h lists the targets).
# Builds the harnesses into ./build-fuzz (clang 14, -DPW_FUZZ=ON: ASan + UBSan, leaks count) and
# runs each in turn, one process at a time, then prints its executions, time and corpus size.
#
#   bash tools/fuzz.sh [SECONDS] [TARGET...]   # each target for SECONDS (default 60)
#   PW_FUZZ_RUNS=1000000 bash tools/fuzz.sh 0  # each target for that many executions instead
#   PW_FUZZ_RUNS=1000000 bash tools/fuzz.sh 600 # whichever comes first
#   PW_BUILD_JOBS=1 bash tools/fuzz.sh         # build with one job (default: one per core)
#
# The corpus grows in build-fuzz/corpus/<target>/ from the seeds (fuzz_make_seeds) and the files
# of tests/fuzz_regressions/<target>/. A crash, leak, timeout or broken property stops that target
# and leaves the input in build-fuzz/crashes/<target>/; fix the parser, then copy the input into
# tests/fuzz_regressions/<target>/ so that test_fuzz_regressions replays it in every test run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(safetensors checkpoint idx cifar image json permutations data_spec args)
runs=${PW_FUZZ_RUNS:-}
jobs=${PW_BUILD_JOBS:-$(nproc)}
build=build-fuzz

# clang 14 and libFuzzer (Debian 12's packages), installed when missing.
bash tools/setup.sh --no-build
missing=()
for p in clang-14 libfuzzer-14-dev libomp-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "fuzz: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# -O1 -g1: libFuzzer's usual level, with line numbers in the reports.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g1" \
  -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 -DPW_CUDA=OFF -DPW_FUZZ=ON \
  -DPW_BUILD_TESTS=OFF >/dev/null
start=$SECONDS
cmake --build "$build" -j"$jobs" --target fuzz_all
echo "fuzz: built in $((SECONDS - start)) s"
"$build/tests/fuzz/fuzz_make_seeds" "$build/seeds" "${targets[@]}" >/dev/null

# The longest input worth trying per target (a CIFAR-10 batch of two records is 6146 bytes).
max_len() {
  case "$1" in
    cifar | checkpoint | image) echo 8192 ;;
    data_spec) echo 256 ;;
    args) echo 1024 ;;
    *) echo 4096 ;;
  esac
}

export ASAN_OPTIONS=detect_leaks=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
status=0
printf '%-13s %12s %8s %10s %12s  %s\n' target executions seconds "corpus" "corpus bytes" result
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  crashes="$build/crashes/$t"
  mkdir -p "$corpus" "$crashes"
  inputs=("$corpus" "$build/seeds/$t")
  [ -d "tests/fuzz_regressions/$t" ] && inputs+=("tests/fuzz_regressions/$t")
  options=(-max_len="$(max_len "$t")" -timeout=25 -rss_limit_mb=2048 -close_fd_mask=1
           -print_final_stats=1 -artifact_prefix="$crashes/")
  [ -f "tests/fuzz/dict/$t.dict" ] && options+=(-dict="tests/fuzz/dict/$t.dict")
  [ -n "$runs" ] && options+=(-runs="$runs")
  [ "$seconds" -gt 0 ] && options+=(-max_total_time="$seconds")
  log="$build/fuzz_$t.log"
  t0=$SECONDS
  result=ok
  "$build/tests/fuzz/fuzz_$t" "${options[@]}" "${inputs[@]}" >"$log" 2>&1 || { result="FAILED (see $log, input in $crashes/)"; status=1; }
  executions=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  files=$(find "$corpus" -type f | wc -l)
  bytes=$(find "$corpus" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  printf '%-13s %12s %8s %10s %12s  %s\n' "$t" "${executions:-?}" "$((SECONDS - t0))" "$files" "$bytes" "$result"
done
exit $status
