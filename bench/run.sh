#!/usr/bin/env bash
# One command: installs the peers (nginx, HAProxy, Caddy), wrk, h2load, valgrind and gnuplot,
# builds Portico Release, and runs the comparison. Arguments are passed to bench/bench.py
# (--quick, --rounds N, --scenarios ..., see bench/README.md). BENCH_BUILD_DIR picks the build
# directory (default build/release).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${BENCH_BUILD_DIR:-build/release}
bash deploy/install-deps.sh --bench
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target portico portico-upstream
exec python3 bench/bench.py --build-dir "$build" "$@"
