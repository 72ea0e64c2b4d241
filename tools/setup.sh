#!/usr/bin/env bash
# Installs what patchwork needs on Debian 12 (only what is missing), then configures and
# builds it in ./build. Used by the README's two commands and by CI.
#   --no-build  only install (tools/sanitize.sh and tools/fuzz.sh build in their own folders)
set -euo pipefail
cd "$(dirname "$0")/.."

build=1
packages=(cmake g++ make clang-format python3 libgtest-dev libbenchmark-dev zlib1g-dev libstb-dev dataset-fashion-mnist
          mate-backgrounds libopenmpi-dev openmpi-bin)  # Open MPI: data-parallel training (engine/dist)
for arg in "$@"; do
  case "$arg" in
    --no-build) build=0 ;;
    *) echo "setup: unknown option $arg (expected --no-build)" >&2; exit 2 ;;
  esac
done
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi
[ "$build" = 1 ] || exit 0

build_type=${PW_BUILD_TYPE:-Release}
cmake -S . -B build -DCMAKE_BUILD_TYPE="$build_type" >/dev/null
cmake --build build -j"$(nproc)"
