#!/usr/bin/env bash
# The C++ and CUDA sources in the style of .clang-format (clang-format 14, Debian's clang-format).
#   bash tools/format.sh           # rewrite every tracked source file in place
#   bash tools/format.sh --check   # list the files that differ and exit 1 if any (tools/test.sh runs this)
set -euo pipefail
cd "$(dirname "$0")/.."
fmt=$(command -v clang-format-14 || command -v clang-format || true)
if [ -z "$fmt" ]; then
  echo "format: clang-format is not installed (apt-get install clang-format)" >&2
  exit 2
fi
mapfile -t files < <(git ls-files '*.cpp' '*.h' '*.cu' '*.cuh' 2>/dev/null || find engine kernels models tasks tools tests bench -name '*.cpp' -o -name '*.h' -o -name '*.cu' -o -name '*.cuh')
if [ "${1:-}" = "--check" ]; then
  bad=()
  for f in "${files[@]}"; do
    "$fmt" --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
  done
  if [ ${#bad[@]} -gt 0 ]; then
    echo "format: ${#bad[@]} files differ from .clang-format (run bash tools/format.sh):" >&2
    printf '  %s\n' "${bad[@]}" >&2
    exit 1
  fi
  echo "format: ${#files[@]} files match .clang-format"
  exit 0
fi
"$fmt" -i "${files[@]}"
