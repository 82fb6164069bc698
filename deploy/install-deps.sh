#!/usr/bin/env bash
# Installs the Debian 12 packages Portico needs to build, test and benchmark.
# Only what is missing is installed; safe to run repeatedly.
#   install-deps.sh            build + unit/system test dependencies
#   install-deps.sh --bench    also the peers and load generators of bench/
set -euo pipefail

build_pkgs=(g++ cmake ninja-build pkg-config
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libboost-program-options1.81-dev libboost-system1.81-dev
  libssl-dev libyaml-cpp-dev prometheus-cpp-dev libre2-dev
  libldns-dev libgtest-dev libgmock-dev libbenchmark-dev libaprutil1-dev libcrypt-dev libnghttp2-dev
  clang-14 libfuzzer-14-dev libclang-rt-14-dev  # these three: tests/fuzz.sh
  ccache)  # tests/run.sh: a rebuild compiles only what changed, also in a fresh clone
# Real peers the system tests drive.
test_pkgs=(curl openssl apache2-utils python3 python3-websockets python3-yaml python3-cryptography procps iproute2
  bind9 bind9-dnsutils prometheus testssl.sh nginx-light nghttp2-client python3-h2
  python3-grpcio)
bench_pkgs=(nginx-light haproxy caddy wrk nghttp2-client valgrind gnuplot-nox strace
  liburing-dev)  # the last: the io_uring build bench/io_backends.py compares

want=("${build_pkgs[@]}" "${test_pkgs[@]}")
if [[ "${1:-}" == "--bench" ]]; then want+=("${bench_pkgs[@]}"); fi

# kubectl, node and npm may come from elsewhere on the machine; Debian's packages otherwise.
command -v kubectl >/dev/null 2>&1 || want+=(kubernetes-client)
command -v node >/dev/null 2>&1 || want+=(nodejs)
command -v npm >/dev/null 2>&1 || want+=(npm)

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#want[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
