#!/usr/bin/env bash
# The README's test command: set up, build, and run every test except those that need a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
cd build
ctest --output-on-failure -LE gpu -j"$(nproc)" "$@"
