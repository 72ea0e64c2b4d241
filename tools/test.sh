#!/usr/bin/env bash
# The README's test command: set up, build, and run every test except those that need a GPU,
# the f64 sweeps (label sweep: every registry network and layer against f64; 39 min on the
# 2-core machine while other builds ran) and the barrier-deletion sensitivity of racecheck
# (label sensitivity: one rebuild per __syncthreads, tools/sync_sensitivity.py; never in CI).
#   bash tools/test.sh             # everything but gpu, sweep and sensitivity
#   bash tools/test.sh --all       # the sweeps too (what CI runs)
#   bash tools/test.sh -R Conv     # further arguments go to ctest
#   (cd build && ctest -L sensitivity --output-on-failure)   # the sensitivity test alone
set -euo pipefail
cd "$(dirname "$0")/.."
exclude="gpu|sweep|sensitivity"
if [ "${1:-}" = "--all" ]; then
  exclude="gpu|sensitivity"
  shift
fi
bash tools/setup.sh
# The code's shape: every source in the style of .clang-format, no function of tasks/ or tools/
# over 80 lines without a reason beside it. Checked first (seconds); the tests run either way.
status=0
bash tools/format.sh --check || status=1
python3 tools/long_functions.py || status=1
cd build
# Test programs run side by side: OpenMP threads that spin while waiting would take the cores
# from each other (a subset of the suite took 38 s spinning, 12 s passive, on 2 cores).
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
ctest --output-on-failure -LE "$exclude" -j"$(nproc)" "$@" || status=1
exit $status
