#!/usr/bin/env bash
# Builds the libFuzzer harnesses (tests/fuzz/*_fuzzer.cpp) with clang-14 and
# -fsanitize=fuzzer,address,undefined in their own build (build/fuzz, only the sources they
# need), then runs each for a bounded time. tests/fuzz/README.md says what each one checks.
#   tests/fuzz.sh                     every target, 15 s each, 2 at a time (CI: tests/run.sh)
#   tests/fuzz.sh 120                 every target, 120 s each
#   tests/fuzz.sh --long              every target, 600 s each, one at a time (the long run)
#   tests/fuzz.sh 60 route_table ...  the named targets only
#   tests/fuzz.sh -j 1 ...            how many targets run at once (default 2)
#   tests/fuzz.sh --build-only        build the harnesses, run nothing
#   FUZZ_LAUNCHER=ccache tests/fuzz.sh   compile through ccache (tests/run.sh does)
#   FUZZ_BUILD_DIR=build/fuzz-long tests/fuzz.sh --long   another build and corpus folder
# A run starts from the checked-in seeds (tests/fuzz/corpus/<target>/) and regression inputs
# (tests/fuzz/regressions/<target>/) plus what earlier runs found (build/fuzz/corpus/<target>/,
# never checked in). A failing input is saved in build/fuzz/artifacts/<target>/ and the script
# exits 1 naming it: check it in under tests/fuzz/regressions/<target>/ with the fix.
# Measured on the 2-core CI VM (2026-12-04, Debian 12, clang 14): build from nothing 3 min 10 s
# (ccache warm: 20 s), default run 7 targets x 15 s two at a time 65 s.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

secs=15
build_only=
jobs=2
targets=()
while (($#)); do
  case "$1" in
    --long) secs=600; jobs=1 ;;
    --build-only) build_only=1 ;;
    -j) jobs=$2; shift ;;
    [0-9]*) secs=$1 ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) targets+=("$1") ;;
  esac
  shift
done

cxx=${FUZZ_CXX:-clang++-14}
if ! command -v "$cxx" >/dev/null; then
  echo "tests/fuzz.sh: $cxx not found (deploy/install-deps.sh installs clang-14 and libFuzzer)" >&2
  exit 2
fi

dir=${FUZZ_BUILD_DIR:-build/fuzz}
echo "=== fuzz build ($dir)"
launcher=()
[[ -n "${FUZZ_LAUNCHER:-}" ]] && launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER="$FUZZ_LAUNCHER")
cmake -S tests/fuzz -B "$dir" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" "${launcher[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)"
[[ -n "$build_only" ]] && exit 0

if ((${#targets[@]} == 0)); then
  for f in tests/fuzz/*_fuzzer.cpp; do
    t=$(basename "$f" .cpp)
    targets+=("${t%_fuzzer}")
  done
fi

# One target: its output goes to build/fuzz/logs/<target>.log; the last status line is its
# summary (executions, coverage).
run_one() {
  local t=$1
  local corpus="$dir/corpus/$t" artifacts="$dir/artifacts/$t" log="$dir/logs/$t.log"
  mkdir -p "$corpus" "$artifacts" "$dir/logs"
  local inputs=("$corpus")
  for d in "tests/fuzz/corpus/$t" "tests/fuzz/regressions/$t"; do
    [[ -d "$d" ]] && inputs+=("$d")
  done
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:quarantine_size_mb=64 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$dir/${t}_fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="$artifacts/" "${inputs[@]}" >"$log" 2>&1
}

echo "=== fuzz run: ${#targets[@]} targets, $secs s each, $jobs at a time"
declare -A pid_of
failed=()
for t in "${targets[@]}"; do
  [[ -x "$dir/${t}_fuzzer" ]] || { echo "tests/fuzz.sh: no harness '$t'" >&2; exit 2; }
  while (($(jobs -rp | wc -l) >= jobs)); do wait -n || true; done
  run_one "$t" &
  pid_of[$t]=$!
done
for t in "${targets[@]}"; do
  if ! wait "${pid_of[$t]}"; then failed+=("$t"); fi
done

for t in "${targets[@]}"; do
  log="$dir/logs/$t.log"
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' "$log" | tail -1 || true)
  printf '%-20s %10s runs  %s\n' "$t" "${execs:-?}" "${cov:-}"
done
if ((${#failed[@]})); then
  for t in "${failed[@]}"; do
    echo "=== $t FAILED; its log ends:"
    grep -v '^    #' "$dir/logs/$t.log" | tail -25
    echo "failing input: $(ls -t "$dir/artifacts/$t"/* 2>/dev/null | head -1)"
  done
  exit 1
fi
