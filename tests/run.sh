#!/usr/bin/env bash
# Installs what is missing, builds Portico twice (Release, and with AddressSanitizer and
# UndefinedBehaviorSanitizer), and runs every test through ctest in both builds.
#   tests/run.sh             both builds
#   tests/run.sh release     only the Release build (quicker while developing)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

bash deploy/install-deps.sh

jobs=$(nproc)
variants=("${@:-release asan}")
read -r -a variants <<<"${variants[*]}"

for v in "${variants[@]}"; do
  case "$v" in
    release) flags=(-DCMAKE_BUILD_TYPE=Release) ;;
    asan) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DPORTICO_SANITIZE=ON -DPORTICO_BUILD_BENCH=OFF) ;;
    *) echo "tests/run.sh: unknown build '$v' (release, asan)" >&2; exit 2 ;;
  esac
  dir="build/$v"
  echo "=== build $v ($dir)"
  cmake -S . -B "$dir" -G Ninja "${flags[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs"
  echo "=== test $v"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export PORTICO_BUILD_VARIANT="$v"
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 900
done
