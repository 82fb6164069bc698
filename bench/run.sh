#!/usr/bin/env bash
# One command: installs the peers (nginx, HAProxy, Caddy) and wrk, builds Portico Release,
# and runs the comparison. Arguments are passed to bench/bench.py (--quick, --rounds N, ...).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
bash deploy/install-deps.sh --bench
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release -j "$(nproc)" --target portico portico-upstream
exec python3 bench/bench.py --build-dir build/release "$@"
