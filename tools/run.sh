#!/usr/bin/env bash
# The README's main command: set up, build, then run the study (the seed papers' experiments
# at small scale on Fashion-MNIST and the mate-backgrounds photos), which ends in
# runs/study/report.html. Extra arguments go to `patchwork study` (--quick: a few minutes;
# see build/patchwork study --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
./build/patchwork study --out runs/study "$@"
