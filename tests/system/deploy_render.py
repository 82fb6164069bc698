"""Renders deploy/ kustomizations with kubectl and validates them with tests/deploy/validate.mjs.

  render(rel_dir)          `kubectl kustomize <source>/<rel_dir>` -> YAML text
  validate(yaml_text)      (exit status, [report per object]) from the node validator
  ensure_node_modules()    `npm ci` in tests/deploy when its pinned packages are missing
  rbac_allows(rules, ...)  Kubernetes RBAC rule matching, for least-privilege checks
  network_policy_admits()  Kubernetes NetworkPolicy ingress semantics, for the admin port
"""

import contextlib
import fcntl
import functools
import ipaddress
import json
import os
import pathlib
import shutil
import subprocess
import tempfile




def source_dir():
    env = os.environ.get("PORTICO_SOURCE_DIR")
    if env:
        return pathlib.Path(env)
    return pathlib.Path(__file__).resolve().parents[2]


def validator_dir():
    return source_dir() / "tests" / "deploy"


def kubectl():
    path = shutil.which("kubectl") or "/usr/bin/kubectl"
    if not os.path.exists(path):
        raise RuntimeError("kubectl is not installed (Debian package kubernetes-client)")
    return path


def render(rel_dir):
    """`kubectl kustomize` of a directory of the source tree (offline: local resources only)."""
    p = subprocess.run([kubectl(), "kustomize", str(source_dir() / rel_dir)],
                       capture_output=True, text=True, timeout=120)
    if p.returncode != 0:
        raise AssertionError(f"kubectl kustomize {rel_dir} failed ({p.returncode}):\n{p.stderr}")
    return p.stdout


@contextlib.contextmanager
def _install_lock():
    # Several system tests may need the packages at once (ctest -j): one installs, the
    # others wait for it.
    path = pathlib.Path(tempfile.gettempdir()) / "portico-deploy-npm.lock"
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _installed_matches_pins():
    d = validator_dir()
    pins = json.loads((d / "package.json").read_text())["dependencies"]
    for name, version in pins.items():
        pj = d / "node_modules" / name / "package.json"
        if not pj.exists() or json.loads(pj.read_text()).get("version") != version:
            return False
    return True


def ensure_node_modules():
    """Installs tests/deploy's pinned packages (package-lock.json) if they are missing."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise RuntimeError("node and npm are required to validate manifests (Debian: nodejs npm)")
    with _install_lock():
        if _installed_matches_pins():
            return
        p = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=validator_dir(),
                           capture_output=True, text=True, timeout=600)
        if p.returncode != 0 or not _installed_matches_pins():
            raise RuntimeError(
                "cannot install the manifest validator's npm packages into "
                f"{validator_dir() / 'node_modules'} (npm ci exited {p.returncode}); "
                "the registry must be reachable once.\n" + p.stdout[-2000:] + p.stderr[-4000:])


@functools.lru_cache(maxsize=32)
def validate(yaml_text):
    """Runs validate.mjs; returns (exit status, list of {kind, name, ok, errors, object}).
    Cached by text: callers must not modify the returned objects."""
    p = subprocess.run(["node", str(validator_dir() / "validate.mjs")], input=yaml_text,
                       capture_output=True, text=True, timeout=120)
    if p.returncode not in (0, 1):
        raise AssertionError(f"validate.mjs failed ({p.returncode}):\n{p.stderr}")
    return p.returncode, json.loads(p.stdout)["objects"]


def objects_of(yaml_text):
    """The rendered objects, parsed by the validator (all must be valid)."""
    rc, objs = validate(yaml_text)
    bad = [f"{o['kind']}/{o['name']}: {o['errors']}" for o in objs if not o["ok"]]
    if rc != 0 or bad:
        raise AssertionError("invalid objects:\n" + "\n".join(bad))
    return [o["object"] for o in objs]


def find(objs, kind, name=None):
    got = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    if len(got) != 1:
        raise AssertionError(f"expected one {kind} {name or ''}, found {len(got)}")
    return got[0]


# ------------------------------------------------------------------------------ RBAC


def _rule_allows(rule, group, resource, verb, name):
    def has(values, v):
        return "*" in values or v in values
    if not has(rule.get("apiGroups", []), group):
        return False
    if not has(rule.get("resources", []), resource):
        return False
    if not has(rule.get("verbs", []), verb):
        return False
    names = rule.get("resourceNames") or []
    return not names or (name is not None and name in names)


def rbac_allows(objs, subject_ns, subject, group, resource, verb, namespace=None, name=None):
    """True when a rendered (Cluster)RoleBinding grants ServiceAccount subject_ns/subject the
    request: `verb` on `resource` (with subresource as "ingresses/status") of API `group`, in
    `namespace` (None: cluster-wide), for object `name` (None: list/watch/create)."""
    for b in objs:
        if b["kind"] not in ("RoleBinding", "ClusterRoleBinding"):
            continue
        if not any(s.get("kind") == "ServiceAccount" and s.get("name") == subject
                   and s.get("namespace", b["metadata"].get("namespace")) == subject_ns
                   for s in b.get("subjects", [])):
            continue
        binding_ns = b["metadata"].get("namespace") if b["kind"] == "RoleBinding" else None
        if binding_ns is not None and binding_ns != namespace:
            continue  # a RoleBinding grants only inside its own namespace
        ref = b["roleRef"]
        role_ns = binding_ns if ref["kind"] == "Role" else None
        roles = [r for r in objs if r["kind"] == ref["kind"] and r["metadata"]["name"] == ref["name"]
                 and (role_ns is None or r["metadata"].get("namespace") == role_ns)]
        for role in roles:
            if any(_rule_allows(rule, group, resource, verb, name) for rule in role.get("rules", [])):
                return True
    return False


# ------------------------------------------------------------------------------ NetworkPolicy


def selector_matches(selector, labels):
    """metav1.LabelSelector semantics; an empty selector matches everything."""
    selector = selector or {}
    if any(labels.get(k) != v for k, v in (selector.get("matchLabels") or {}).items()):
        return False
    for e in selector.get("matchExpressions") or []:
        key, op, values = e["key"], e["operator"], e.get("values") or []
        ok = {"In": lambda: labels.get(key) in values,
              "NotIn": lambda: labels.get(key) not in values,
              "Exists": lambda: key in labels,
              "DoesNotExist": lambda: key not in labels}[op]()
        if not ok:
            return False
    return True


def _port_matches(ports, port, container_ports):
    if not ports:
        return True  # no ports: every port
    for p in ports:
        if p.get("protocol", "TCP") != "TCP":
            continue
        want = p.get("port")
        if want is None:
            return True
        if isinstance(want, str):
            want = container_ports.get(want)
        end = p.get("endPort", want)
        if want is not None and want <= port <= end:
            return True
    return False


def _peer_matches(rule_peer, policy_ns, peer):
    if "ipBlock" in rule_peer:
        if "ip" not in peer:
            return False  # pods are matched by their pod IP only through ipBlock; not modelled
        ip = ipaddress.ip_address(peer["ip"])
        block = rule_peer["ipBlock"]
        return (ip in ipaddress.ip_network(block["cidr"])
                and not any(ip in ipaddress.ip_network(x) for x in block.get("except") or []))
    if "ip" in peer:
        return False  # selectors match pods, not outside addresses
    ns_labels = peer["namespace_labels"]
    if "namespaceSelector" in rule_peer:
        if not selector_matches(rule_peer["namespaceSelector"], ns_labels):
            return False
    elif ns_labels.get("kubernetes.io/metadata.name") != policy_ns:
        return False  # a podSelector alone selects pods of the policy's namespace
    return selector_matches(rule_peer.get("podSelector"), peer["pod_labels"])


def network_policy_admits(objs, pod_ns, pod_labels, container_ports, port, peer):
    """True when the NetworkPolicies among `objs` let `peer` open a TCP connection to `port`
    of a pod in namespace `pod_ns` with `pod_labels` and named `container_ports`
    ({name: number}). `peer` is {"ip": "203.0.113.7"} (an address outside the pod network)
    or {"namespace_labels": {...}, "pod_labels": {...}} (a pod). The node a pod runs on is
    always admitted by the network plugin; that exception is not modelled here."""
    policies = [o for o in objs if o["kind"] == "NetworkPolicy"
                and o["metadata"].get("namespace") == pod_ns
                and selector_matches(o["spec"].get("podSelector"), pod_labels)
                and "Ingress" in (o["spec"].get("policyTypes") or ["Ingress"])]
    if not policies:
        return True  # not isolated
    for pol in policies:
        for rule in pol["spec"].get("ingress") or []:
            if not _port_matches(rule.get("ports"), port, container_ports):
                continue
            peers = rule.get("from")
            if not peers or any(_peer_matches(p, pod_ns, peer) for p in peers):
                return True
    return False


def request_attributes(method, url, watch=False):
    """RBAC attributes of an API request, as the API server derives them:
    (verb, group, resource["/subresource"], namespace, name), or None for a non-resource
    path (discovery, /version, /healthz)."""
    path, _, query = url.partition("?")
    parts = [p for p in path.split("/") if p]
    if parts[:2] == ["api", "v1"]:
        group, rest = "", parts[2:]
    elif parts[:1] == ["apis"] and len(parts) >= 3:
        group, rest = parts[1], parts[3:]
    else:
        return None
    if not rest:
        return None  # the group/version's discovery document
    if rest[0] == "watch":
        rest, watch = rest[1:], True
    watch = watch or any(q in ("watch=true", "watch=1") for q in query.split("&"))
    namespace = None
    if len(rest) >= 3 and rest[0] == "namespaces" and not (len(rest) == 3 and rest[2] == "status"):
        namespace, rest = rest[1], rest[2:]
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    if len(rest) > 2:
        resource += "/" + rest[2]
    verb = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(method)
    if verb is None:  # GET/HEAD
        verb = "watch" if watch else ("get" if name else "list")
    if verb == "delete" and name is None:
        verb = "deletecollection"
    return verb, group, resource, namespace, name
