#!/usr/bin/env bash
# Installs what is missing, builds Portico twice (Release, and with AddressSanitizer and
# UndefinedBehaviorSanitizer), and runs every test through ctest in both builds. The asan
# variant then runs the libFuzzer harnesses for a short while (tests/fuzz.sh: its own clang
# build with -fsanitize=fuzzer,address,undefined, 15 s per harness, two at a time).
#   tests/run.sh             both builds, and the short fuzz run
#   tests/run.sh release     only the Release build (quicker while developing)
#   tests/run.sh fuzz        only the short fuzz run
# Compiles go through ccache (its cache in ~/.cache/ccache, paths relative to the checkout, so
# a fresh clone in the same place reuses it): a warm run spends its time in the tests. While
# the ASan/UBSan tests run (they wait on sockets and child processes more than they compute),
# the fuzz harnesses are built beside them. ctest runs 2 tests per core (PORTICO_TEST_JOBS).
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
test_jobs=${PORTICO_TEST_JOBS:-$((2 * jobs))}
launcher=()
if command -v ccache >/dev/null; then
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=1
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  export FUZZ_LAUNCHER=ccache
fi
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
  cmake -S . -B "$dir" -G Ninja "${flags[@]}" "${launcher[@]}" >/dev/null
  cmake --build "$dir" -j "$jobs"
  stage_done "build $v"
  echo "=== test $v"
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  export PORTICO_BUILD_VARIANT="$v"
  fuzz_build=
  if [[ "$v" == asan ]]; then
    # Built at the lowest priority beside the tests; its log is shown if it fails.
    nice -n 19 bash tests/fuzz.sh --build-only >build/fuzz-build.log 2>&1 &
    fuzz_build=$!
  fi
  ctest_rc=0
  ctest --test-dir "$dir" --output-on-failure -j "$test_jobs" --timeout 900 || ctest_rc=$?
  if [[ -n "$fuzz_build" ]]; then
    fuzz_rc=0
    wait "$fuzz_build" || fuzz_rc=$?
    if ((fuzz_rc != 0)); then
      cat build/fuzz-build.log
      echo "tests/run.sh: the fuzz build failed" >&2
      exit "$fuzz_rc"
    fi
  fi
  ((ctest_rc == 0)) || exit "$ctest_rc"
  stage_done "test $v"
  if [[ "$v" == asan ]]; then
    echo "=== fuzz (asan variant)"
    bash tests/fuzz.sh
    stage_done "fuzz"
  fi
done
echo "=== all tests passed in $((SECONDS - started)) s"
