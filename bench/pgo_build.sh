#!/usr/bin/env bash
# Builds Portico with profile-guided optimization (GCC), all in one build directory (default
# build/pgo; GCC names the profile files after the object files, so both builds share it):
#   1. -DPORTICO_PGO=generate: an instrumented portico and portico-upstream;
#   2. training: bench.py's keepalive, newconn and bodies scenarios against the instrumented
#      Portico (one round of 3 s runs); it stops Portico with SIGTERM, and the profiles are
#      written as it exits;
#   3. -DPORTICO_PGO=use: the optimized build (code the training did not run is optimized as
#      usual, -fprofile-partial-training).
# Compare it with `BENCH_BUILD_DIR=build/pgo bench/run.sh ...` or `bench/bench.py --build-dir
# build/pgo ...`. Numbers: bench/README.md, "Profile-guided optimization".
# Further arguments go to CMake in both builds (e.g. -DCMAKE_INTERPROCEDURAL_OPTIMIZATION=ON).
#   bench/pgo_build.sh [build-dir [cmake-args...]]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${1:-build/pgo}
shift || true
profile="$root/$build/pgo-profile"
jobs=${JOBS:-$(nproc)}

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPORTICO_BUILD_TESTS=OFF \
  -DPORTICO_BUILD_BENCH=OFF -DPORTICO_PGO=generate -DPORTICO_PGO_DIR="$profile" "$@" >/dev/null
cmake --build "$build" -j "$jobs" --target portico portico-upstream
rm -rf "$profile"
python3 bench/bench.py --build-dir "$build" --scenarios keepalive,newconn,bodies \
  --proxies portico --rounds 1 --seconds 3 --no-callgrind --no-record \
  --out "$build/pgo-training.md"
if [ -z "$(find "$profile" -name '*.gcda' -print -quit 2>/dev/null)" ]; then
  echo "bench/pgo_build.sh: the training wrote no profile into $profile" >&2
  exit 1
fi
cmake -S . -B "$build" -DPORTICO_PGO=use "$@" >/dev/null
cmake --build "$build" -j "$jobs" --target portico portico-upstream
echo "bench/pgo_build.sh: $build/proxy/portico is built with the profiles in $profile"
