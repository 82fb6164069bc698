#!/usr/bin/env bash
# Installs what is missing, builds Portico twice (Release, and with AddressSanitizer and
# UndefinedBehaviorSanitizer), and runs every test through ctest in both builds. The asan
# variant then runs the libFuzzer harnesses for a short while (tests/fuzz.sh: its own clang
# build with -fsanitize=fuzzer,address,undefined; about 4 minutes on 2 cores from nothing).
#   tests/run.sh             both builds, and the short fuzz run
#   tests/run.sh release     only the Release build (quicker while developing)
#   tests/run.sh fuzz        only the short fuzz run
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

# Each stage says how long it took; the last line sums them up.
started=$SECONDS
stage_start=$SECONDS
stage_done() { echo "=== $1: $((SECONDS - stage_start)) s"; stage_start=$SECONDS; }

bash deploy/install-deps.sh
stage_done "install-deps"

jobs=$(nproc)
variants=("${@:-release asan}")
read -r -a variants <<<"${variants[*]}"

for v in "${variants[@]}"; do
  case "$v" in
    release) flags=(-DCMAKE_BUILD_TYPE=Release) ;;
    # -O1 as the AddressSanitizer docs advise, and line tables only (-g1): reports keep file
    # and line, and the build takes about half the time of -O2 -g.
    asan) flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG"
                 -DPORTICO_SANITIZE=ON -DPORTICO_BUILD_BENCH=OFF) ;;
    fuzz) echo "=== fuzz"; bash tests/fuzz.sh; stage_done "fuzz"; continue ;;
    *) echo "tests/run.sh: unknown build '$v' (release, asan, fuzz)" >&2; exit 2 ;;
  esac
  dir="build/$v"
  echo "=== build $v ($dir)"
  cmake -S . -B "$dir" -G Ninja "${flags[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs"
  stage_done "build $v"
  echo "=== test $v"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export PORTICO_BUILD_VARIANT="$v"
  ctest --test-dir "$dir" --output-on-failure -j "$jobs" --timeout 900
  stage_done "test $v"
  if [[ "$v" == asan ]]; then
    echo "=== fuzz (asan variant)"
    bash tests/fuzz.sh
    stage_done "fuzz"
  fi
done
echo "=== all tests passed in $((SECONDS - started)) s"
