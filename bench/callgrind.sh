#!/usr/bin/env bash
# Instructions per proxied request of Portico, nginx, HAProxy and Caddy under callgrind.
# Builds Portico Release like run.sh; arguments go to bench/callgrind.py (--requests N, ...).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
build=${BENCH_BUILD_DIR:-build/release}
bash deploy/install-deps.sh --bench
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" -j "$(nproc)" --target portico portico-upstream
exec python3 bench/callgrind.py --build-dir "$build" "$@"
