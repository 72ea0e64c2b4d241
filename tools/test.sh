#!/usr/bin/env bash
# The README's test command: set up, build, and run every test except those that need a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cd build
# Test programs run side by side: OpenMP threads that spin while waiting would take the cores
# from each other (a subset of the suite took 38 s spinning, 12 s passive, on 2 cores).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
ctest --output-on-failure -LE gpu -j"$(nproc)" "$@"
