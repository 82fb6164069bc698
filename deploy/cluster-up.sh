#!/usr/bin/env bash
# Stands up Portico and the seed cluster's workload on a Kubernetes cluster, waiting on what
# the cluster reports instead of fixed sleeps:
#   1. kubectl apply -k <overlay>                       (Portico: DaemonSet, RBAC, IngressClass)
#   2. kubectl rollout status daemonset/portico         (every node runs the current pod)
#   3. kubectl wait --for=condition=Ready pod -l ...    (and each of them is ready)
#   4. kubectl apply -k <workload>                      (deploy/examples/seed-cluster)
#   5. kubectl rollout status deployment/<each>         (the workload's Deployments)
#   6. polls each Ingress until status.loadBalancer has an address (bounded by --timeout)
#   7. prints the hosts to try, as curl --resolve lines
#
# Usage: deploy/cluster-up.sh [--kubeconfig FILE] [--context NAME] [--overlay DIR]
#                             [--workload DIR] [--namespace NS] [--timeout SECONDS] [--dry-run]
#   --overlay DIR    kustomization for Portico (default: deploy/base)
#   --workload DIR   kustomization of the workload (default: deploy/examples/seed-cluster)
#   --namespace NS   Portico's namespace (default: portico)
#   --timeout S      limit of each wait, in seconds (default: 300)
#   --dry-run        print every command it would run and run none of them against the
#                    cluster (the workload is rendered locally, with `kubectl kustomize`, to
#                    list its Deployments and Ingresses)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
overlay="$here/base"
workload="$here/examples/seed-cluster"
namespace="portico"
timeout=300
dry_run=0
kube=()

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
die() { echo "cluster-up: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case "$1" in
    --kubeconfig) [ $# -ge 2 ] || die "--kubeconfig needs a value"; kube+=(--kubeconfig "$2"); shift 2 ;;
    --kubeconfig=*) kube+=(--kubeconfig "${1#*=}"); shift ;;
    --context) [ $# -ge 2 ] || die "--context needs a value"; kube+=(--context "$2"); shift 2 ;;
    --context=*) kube+=(--context "${1#*=}"); shift ;;
    --overlay) [ $# -ge 2 ] || die "--overlay needs a value"; overlay="$2"; shift 2 ;;
    --overlay=*) overlay="${1#*=}"; shift ;;
    --workload) [ $# -ge 2 ] || die "--workload needs a value"; workload="$2"; shift 2 ;;
    --workload=*) workload="${1#*=}"; shift ;;
    --namespace) [ $# -ge 2 ] || die "--namespace needs a value"; namespace="$2"; shift 2 ;;
    --namespace=*) namespace="${1#*=}"; shift ;;
    --timeout) [ $# -ge 2 ] || die "--timeout needs a value"; timeout="$2"; shift 2 ;;
    --timeout=*) timeout="${1#*=}"; shift ;;
    --dry-run) dry_run=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument: $1 (see --help)" ;;
  esac
done

if ! [[ "$timeout" =~ ^[0-9]+$ ]] || [ "$timeout" -eq 0 ]; then
  die "--timeout must be a positive number of seconds"
fi
[ -f "$overlay/kustomization.yaml" ] || die "no kustomization.yaml in overlay $overlay"
[ -f "$workload/kustomization.yaml" ] || die "no kustomization.yaml in workload $workload"
command -v kubectl >/dev/null || die "kubectl not found"

selector="app.kubernetes.io/name=portico,app.kubernetes.io/component=controller"

# Prints a command (shell-quoted, after "+ "), then runs it unless --dry-run.
run() {
  local q
  printf -v q '%q ' "$@"
  echo "+ ${q% }"
  [ "$dry_run" = 1 ] && return 0
  "$@"
}

# "Kind namespace name" for every object of a kustomization, rendered locally.
objects_of() {
  kubectl kustomize "$1" | awk '
    function flush() { if (kind != "") print kind, (ns == "" ? "-" : ns), name; kind = ns = name = "" }
    /^---/ { flush(); next }
    /^kind: / { kind = $2 }
    /^metadata:/ { meta = 1; next }
    /^[^ ]/ { meta = 0 }
    meta && /^  name: / { name = $2 }
    meta && /^  namespace: / { ns = $2 }
    END { flush() }'
}

# Polls until Ingress $2/$3 has an address in status.loadBalancer; prints "ADDR ..." .
wait_address() {
  local ns="$1" name="$2" deadline=$((SECONDS + timeout)) got="" parts=()
  local path='{.status.loadBalancer.ingress[*].ip} {.status.loadBalancer.ingress[*].hostname}'
  echo "+ kubectl ${kube[*]:+${kube[*]} }get ingress -n $ns $name -o jsonpath='$path'  # until not empty, at most ${timeout}s" >&2
  [ "$dry_run" = 1 ] && { echo "<address>"; return 0; }
  while :; do
    got="$(kubectl "${kube[@]}" get ingress -n "$ns" "$name" -o jsonpath="$path" 2>/dev/null || true)"
    read -r -a parts <<<"$got"  # trim, one space between addresses
    got="${parts[*]}"
    [ -n "$got" ] && { echo "$got"; return 0; }
    [ "$SECONDS" -lt "$deadline" ] || die "Ingress $ns/$name has no published address after ${timeout}s (is a Portico pod ready and leading?)"
    sleep 1
  done
}

echo "# 1. Portico from $overlay"
run kubectl "${kube[@]}" apply -k "$overlay"
echo "# 2. every node runs the current Portico pod, and each is ready"
run kubectl "${kube[@]}" rollout status "daemonset/portico" -n "$namespace" --timeout="${timeout}s"
run kubectl "${kube[@]}" wait --for=condition=Ready pod -l "$selector" -n "$namespace" --timeout="${timeout}s"

echo "# 3. the workload from $workload"
echo "+ kubectl kustomize $workload  # local: its Deployments and Ingresses"
objects="$(objects_of "$workload")"
run kubectl "${kube[@]}" apply -k "$workload"
while read -r kind ns name; do
  [ "$kind" = Deployment ] || continue
  run kubectl "${kube[@]}" rollout status "deployment/$name" -n "$ns" --timeout="${timeout}s"
done <<<"$objects"

echo "# 4. each Ingress gets the addresses Portico publishes"
tries=()
while read -r kind ns name; do
  [ "$kind" = Ingress ] || continue
  addrs="$(wait_address "$ns" "$name")"
  echo "# Ingress $ns/$name: ${addrs}"
  if [ "$dry_run" = 1 ]; then
    tries+=("curl --resolve <host>:80:<address> http://<host>/  # each host of $ns/$name")
    continue
  fi
  hosts="$(kubectl "${kube[@]}" get ingress -n "$ns" "$name" -o jsonpath='{.spec.rules[*].host}')"
  for h in $hosts; do
    for a in $addrs; do tries+=("curl --resolve $h:80:$a http://$h/"); done
  done
done <<<"$objects"

echo "# Ready. Try:"
for t in "${tries[@]}"; do echo "$t"; done
