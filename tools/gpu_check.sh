#!/usr/bin/env bash
# The GPU check: everything patchwork can measure on an NVIDIA GPU, in one run of under ten
# minutes, for the day a GPU is available (none has been so far: see bench/RESULTS.md).
#
#   bash tools/gpu_check.sh            # build for the GPU present, test, sanitize, benchmark
#   bash tools/gpu_check.sh --quick    # tests only (no sanitizers, no benchmarks)
#
# Steps, each logged to build-gpu/gpu_check/<step>.log:
#   1. configure and build for the GPU present (CMAKE_CUDA_ARCHITECTURES=native) in build-gpu;
#   2. every GPU test (`ctest -L gpu`: the device checks against the cpu on cuda);
#   3. compute-sanitizer memcheck and racecheck on a subset of the device checks;
#   4. bench_cuda_gemm: the SGEMM versions against cuBLAS FP32 and conv2d against cuDNN;
#   5. the training step of the reference CNN and of alexnet-small on cuda and cpu (images/s);
# and appends what it measured, with the GPU's name and the commands, to
# build-gpu/gpu_check/RESULTS-<gpu>.md, to be copied into bench/RESULTS.md by hand after a read.
# Without an NVIDIA GPU (or without nvcc) it says so and exits 0 having changed nothing.
set -uo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  echo "gpu_check: no NVIDIA GPU found (nvidia-smi is missing or lists none); nothing to measure."
  exit 0
fi
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
if [ ! -x "$nvcc" ]; then
  echo "gpu_check: a GPU is present but no CUDA toolkit (nvcc) was found; install it first."
  exit 0
fi

gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)
slug=$(echo "$gpu" | tr -c 'A-Za-z0-9\n' '-' | tr -s '-')
logs=build-gpu/gpu_check
mkdir -p "$logs"
report="$logs/RESULTS-$slug.md"
failed=()

# step NAME COMMAND...: runs it with its output in $logs/NAME.log and a line on the terminal.
step() {
  local name=$1
  shift
  local start=$SECONDS
  if "$@" >"$logs/$name.log" 2>&1; then
    echo "gpu_check: $name passed ($((SECONDS - start)) s)"
  else
    echo "gpu_check: $name FAILED ($((SECONDS - start)) s): see $logs/$name.log"
    failed+=("$name")
  fi
}

echo "gpu_check: $gpu ($(nvidia-smi --query-gpu=driver_version,memory.total --format=csv,noheader | head -n 1))"
step build bash -c "cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DPW_CUDA=ON \
  -DCMAKE_CUDA_ARCHITECTURES=native && cmake --build build-gpu -j$(nproc) && \
  cmake --build build-gpu -j$(nproc) --target bench"
if [[ " ${failed[*]} " == *" build "* ]]; then
  echo "gpu_check: the build failed; nothing else runs."
  exit 1
fi

step gpu-tests ctest --test-dir build-gpu -L gpu --output-on-failure
if [ "$quick" = 0 ]; then
  sanitizer=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  subset="*Gemm*:*Conv*:*Pool*:*Reduce*"
  step memcheck "$sanitizer" --tool memcheck --error-exitcode 1 \
    build-gpu/tests/test_gpu_kernels --gtest_filter="$subset"
  step racecheck "$sanitizer" --tool racecheck --error-exitcode 1 \
    build-gpu/tests/test_gpu_kernels --gtest_filter="$subset"
  step bench-gemm-conv build-gpu/bench/bench_cuda_gemm --benchmark_min_time=0.2
  for model in fmnist-cnn alexnet-small; do
    for device in cuda cpu; do
      step "train-$model-$device" build-gpu/patchwork train --model "$model" --device "$device" \
        --epochs 1 --limit-train 6400 --batch-size 64 --out "$logs/train-$model-$device" --force
    done
  done
fi

{
  echo "## GPU check on $gpu — $(date +%F)"
  echo
  echo "    bash tools/gpu_check.sh   # commit $(git rev-parse --short HEAD)"
  echo
  echo "Failed steps: ${failed[*]:-none}."
  for f in "$logs"/*.log; do
    echo
    echo "### $(basename "$f" .log)"
    echo
    echo '```'
    tail -n 60 "$f"
    echo '```'
  done
} >"$report"
echo "gpu_check: report in $report (copy what holds into bench/RESULTS.md)"
[ ${#failed[@]} -eq 0 ]
