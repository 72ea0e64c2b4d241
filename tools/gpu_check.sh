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
#   4. bench_cuda_gemm: the SGEMM dispatcher against cuBLAS FP32 on squares 1024 .. 8192 and on
#      the engine's real shapes (bench/gemm_shapes.h), conv2d against cuDNN; the conv data
#      gradient's two versions (bench/kernels/conv2d_backward_data.cu) on AlexNet's conv2, conv3;
#   5. the training step of the reference CNN and of alexnet-small on cuda and cpu (images/s);
# and writes what it measured, with the GPU's name, the commands and the ratios to cuBLAS, to
# build-gpu/gpu_check/RESULTS-<gpu>.md, to be copied into bench/RESULTS.md by hand after a read.
#
# Without an NVIDIA GPU it still builds what it can: with nvcc, the nvcc build of the kernels
# (patchwork_kernels_cuda, sm_90) and their ptxas resources (registers, spills) in
# build-gpu/gpu_check/ptxas.md; then it says that no GPU was found and exits 0.
# Exit status: 0 all steps passed, or no GPU (nothing measured); 1 a step failed (the build
# failing stops the rest).
set -uo pipefail
cd "$(dirname "$0")/.."

quick=0
[ "${1:-}" = "--quick" ] && quick=1
logs=build-gpu/gpu_check
mkdir -p "$logs"
nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
# ccache, where installed, for both compilers (a rerun after a small change rebuilds little).
launchers=()
if command -v ccache >/dev/null 2>&1; then
  launchers=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_CUDA_COMPILER_LAUNCHER=ccache)
fi

if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L >/dev/null 2>&1; then
  if [ ! -x "$nvcc" ]; then
    echo "gpu_check: no NVIDIA GPU found and no CUDA toolkit (nvcc): nothing to build or measure."
    exit 0
  fi
  echo "gpu_check: no NVIDIA GPU found (nvidia-smi is missing or lists none): building the CUDA kernels for sm_90 only."
  if ! { cmake -S . -B build-gpu -DCMAKE_BUILD_TYPE=Release -DPW_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES=90 "${launchers[@]}" &&
    cmake --build build-gpu -j"$(nproc)" --target patchwork_kernels_cuda; } >"$logs/build-kernels.log" 2>&1; then
    echo "gpu_check: the nvcc build of the kernels FAILED: see $logs/build-kernels.log"
    exit 1
  fi
  NVCC="$nvcc" bash tools/kernel_resources.sh 90 kernels/cuda/gemm.cu >"$logs/ptxas.md" 2>&1
  echo "gpu_check: nvcc build of kernels/cuda passed; ptxas resources of gemm.cu in $logs/ptxas.md"
  echo "gpu_check: no GPU, so no tests on cuda, no sanitizers and no timings were run."
  exit 0
fi
if [ ! -x "$nvcc" ]; then
  echo "gpu_check: a GPU is present but no CUDA toolkit (nvcc) was found; install it first."
  exit 0
fi

gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)
slug=$(echo "$gpu" | tr -c 'A-Za-z0-9\n' '-' | tr -s '-')
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
  -DCMAKE_CUDA_ARCHITECTURES=native ${launchers[*]} && cmake --build build-gpu -j$(nproc) && \
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
  # The conv data gradient's versions (GEMM + col2im, implicit with K-slices) on AlexNet's conv2
  # and conv3 at batch 16, validated first.
  step dev-conv-backward-data build-gpu/bench/dev_conv2d_backward_data_cuda all 16 64 27 27 192 5 1 2
  step dev-conv-backward-data-conv3 build-gpu/bench/dev_conv2d_backward_data_cuda all 16 192 13 13 384 3 1 1
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
  if [ -f "$logs/bench-gemm-conv.log" ]; then
    echo
    echo "### Ratios to cuBLAS / cuDNN (x_cuBLAS > 1: faster than cuBLAS), $gpu"
    echo
    echo '```'
    grep -E "x_cu(BLAS|DNN)" "$logs/bench-gemm-conv.log" | grep -v "^sgemm/cuBLAS" | \
      sed -E 's/ +[0-9.]+ ms +[0-9.]+ ms +[0-9]+//'
    echo '```'
  fi
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
