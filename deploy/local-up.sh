#!/usr/bin/env bash
# Stands Portico up on this machine (Debian 12): installs what is missing, builds Release into
# build/release, prints the routes of deploy/examples/local, then runs two demo upstreams
# (127.0.0.1:9001 and :9002) and `portico serve` on those examples (HTTP :8080, admin :10254)
# until Ctrl-C.
#   deploy/local-up.sh               all of the above
#   deploy/local-up.sh --routes-only install, build, print the routes and exit (exit 1 on errors)
#   deploy/local-up.sh --no-build    skip install and build (use what is in build/release)
#   deploy/local-up.sh --gateway     serve deploy/examples/gateway/demo instead: the same demo
#                                    as GatewayClass, Gateway and HTTPRoutes (same answers)
# Environment: HTTP_PORT (8080), ADMIN_PORT (10254), CONFIG_DIR (deploy/examples/local),
# CONFIGMAP (the controller ConfigMap "namespace/name" in CONFIG_DIR; none),
# BUILD_DIR (build/release), JOBS (nproc).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

routes_only=0
build=1
default_dir=deploy/examples/local
for arg in "$@"; do
  case "$arg" in
    --routes-only) routes_only=1 ;;
    --no-build) build=0 ;;
    --gateway) default_dir=deploy/examples/gateway/demo ;;
    -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "local-up: unknown argument '$arg' (see --help)" >&2; exit 2 ;;
  esac
done

build_dir=${BUILD_DIR:-build/release}
config_dir=${CONFIG_DIR:-$default_dir}
http_port=${HTTP_PORT:-8080}
admin_port=${ADMIN_PORT:-10254}
portico="$build_dir/proxy/portico"
configmap_flags=()
if [[ -n "${CONFIGMAP:-}" ]]; then configmap_flags=(--configmap "$CONFIGMAP"); fi
upstream="$build_dir/bench/upstream/portico-upstream"

if ((build)); then
  bash deploy/install-deps.sh
  echo "local-up: building Release in $build_dir"
  cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build_dir" -j "${JOBS:-$(nproc)}" --target portico portico-upstream
fi
for bin in "$portico" "$upstream"; do
  if [[ ! -x "$bin" ]]; then echo "local-up: $bin is missing (build first)" >&2; exit 1; fi
done

echo
echo "local-up: routes of $config_dir"
routes_rc=0
"$portico" routes --config-dir "$config_dir" "${configmap_flags[@]}" || routes_rc=$?
if ((routes_only)); then exit "$routes_rc"; fi

pids=()
stop_all() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

"$upstream" --port 9001 --name demo-a >/dev/null &
pids+=($!)
"$upstream" --port 9002 --name demo-b >/dev/null &
pids+=($!)
"$portico" serve --config-dir "$config_dir" --http-port "$http_port" --admin-port "$admin_port" \
  --shutdown-delay 0s "${configmap_flags[@]}" &
pids+=($!)
portico_pid=$!

# Wait until Portico answers its health check (or exits).
for _ in $(seq 1 100); do
  if ! kill -0 "$portico_pid" 2>/dev/null; then echo "local-up: portico exited" >&2; exit 1; fi
  if curl -fsS -o /dev/null "http://127.0.0.1:$admin_port/healthz" 2>/dev/null; then break; fi
  sleep 0.1
done

cat <<EOF

local-up: Portico is serving $config_dir on http://127.0.0.1:$http_port (admin :$admin_port).
Demo upstreams: demo-a on 127.0.0.1:9001, demo-b on 127.0.0.1:9002. Try:

  curl -H 'Host: demo.local' http://127.0.0.1:$http_port/             # demo-a
  curl -H 'Host: demo.local' http://127.0.0.1:$http_port/api/users    # demo-b (Prefix /api)
  curl -H 'Host: demo.local' http://127.0.0.1:$http_port/healthcheck  # demo-b (Exact)
  curl -H 'Host: b.demo.local' http://127.0.0.1:$http_port/           # demo-b
  curl -H 'Host: x.apps.local' http://127.0.0.1:$http_port/           # demo-a (wildcard)
  curl -H 'Host: unknown.local' http://127.0.0.1:$http_port/          # demo-b (defaultBackend / catch-all route)
  curl http://127.0.0.1:$admin_port/healthz
  curl http://127.0.0.1:$admin_port/metrics
  $portico routes --config-dir $config_dir

Edit the files in $config_dir: Portico reloads them without a restart. Ctrl-C stops all three.
EOF

# Wait for any of the three to exit (or a signal).
wait -n "${pids[@]}" || true
echo "local-up: a process exited; stopping the others" >&2
stop_all
exit 1
