#!/usr/bin/env bash
# The README's main command: set up, build, then train the reference CNN on Fashion-MNIST.
# Extra arguments go to `patchwork train` (see build/patchwork train --help).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
./build/patchwork train --epochs 3 --out runs/fashion "$@"
