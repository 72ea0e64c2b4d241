#!/usr/bin/env bash
# Prints the resource report of every CUDA kernel in kernels/cuda (registers, shared memory,
# spills, stack per thread) as a Markdown table, from nvcc's ptxas -v, for bench/RESULTS.md.
# Needs nvcc, not a GPU. Usage: bash tools/kernel_resources.sh [--tsv] [ARCH] [FILE.cu ...]
# (default: 90 and kernels/cuda/*.cu; name a development file, bench/kernels/gemm.cu, for the
# versions that live only there, alongside the engine's that it includes).
# --tsv: one line per kernel, "signature<TAB>registers<TAB>static shared bytes", the signature
# as c++filt writes it: the table simt-profile reads for occupancy (`patchwork profile
# --resources FILE`, PW_SIMT_PROFILE_RESOURCES).
set -euo pipefail
cd "$(dirname "$0")/.."
tsv=0
if [ "${1:-}" = "--tsv" ]; then
  tsv=1
  shift
fi
arch=${1:-90}
shift || true
files=("$@")
[ ${#files[@]} -gt 0 ] || files=(kernels/cuda/*.cu)
nvcc=${NVCC:-/usr/local/cuda/bin/nvcc}
filt=c++filt
if [ $tsv = 0 ]; then
  echo "| file | kernel | registers | shared memory (static) | spill stores / loads | stack |"
  echo "|---|---|---|---|---|---|"
fi
for cu in "${files[@]}"; do
  name=${cu#kernels/cuda/}
  "$nvcc" -std=c++20 --expt-relaxed-constexpr -arch=sm_$arch -I. -Xptxas -v -c "$cu" -o /dev/null 2>&1 |
    awk -v file="$name" -v filt="$filt" -v tsv="$tsv" '
      /Compiling entry function/ { match($0, /'"'"'[^'"'"']+'"'"'/); name = substr($0, RSTART + 1, RLENGTH - 2) }
      /bytes stack frame/ { stack = $1; spill_st = $5; spill_ld = $9 }
      /Used [0-9]+ registers/ {
        regs = $0; sub(/.*Used /, "", regs); sub(/ registers.*/, "", regs)
        smem = "0"; if (match($0, /[0-9]+ bytes smem/)) { smem = substr($0, RSTART, RLENGTH); sub(/ bytes smem/, "", smem) }
        cmd = filt " " name; cmd | getline pretty; close(cmd)
        if (tsv == 1) { printf "%s\t%s\t%s\n", pretty, regs, smem; next }
        gsub(/\(anonymous namespace\)::/, "", pretty); gsub(/pw::kernels::cuda::/, "", pretty); gsub(/pw::kernels::/, "", pretty); sub(/\(.*/, "", pretty); sub(/^void /, "", pretty)
        printf "| %s | `%s` | %s | %s B | %s / %s B | %s B |\n", file, pretty, regs, smem, spill_st, spill_ld, stack
      }'
done
