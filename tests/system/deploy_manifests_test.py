"""deploy/: every kustomization renders with `kubectl kustomize`, every rendered object
validates against the Kubernetes schemas (kubernetes-models) with no unknown fields, and the
objects have the properties issue 7 asks for: a hostPort DaemonSet probed on 10254 /healthz,
a locked-down pod, a grace period above the shutdown grace, least-privilege RBAC, the
IngressClass, the default-class overlay and the seed workload; and a NetworkPolicy that opens
80/443 to everyone and the admin port 10254 only to Prometheus."""

import re
import sys
import unittest

import deploy_render as dr

BASE = "deploy/base"
DEFAULT_CLASS = "deploy/overlays/default-class"
SEED = "deploy/examples/seed-cluster"
CONTROLLER = "portico.dev/ingress-controller"
NS = "portico"
SA = "portico"

BASE_KINDS = {"Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role",
              "RoleBinding", "IngressClass", "ConfigMap", "DaemonSet", "NetworkPolicy"}


def setUpModule():
    dr.ensure_node_modules()


def arg_map(args):
    """["--a=1", "--b", "2"] -> {"--a": "1", "--b": "2"}."""
    out, i = {}, 0
    while i < len(args):
        a = args[i]
        if "=" in a:
            k, v = a.split("=", 1)
            out[k] = v
        elif i + 1 < len(args) and not args[i + 1].startswith("--"):
            out[a] = args[i + 1]
            i += 1
        else:
            out[a] = ""
        i += 1
    return out


def seconds(text):
    m = re.fullmatch(r"(\d+)(ms|s|m)?", text)
    assert m, f"not a duration: {text!r}"
    n = int(m.group(1))
    return {"ms": n / 1000, "s": n, "m": n * 60, None: n}[m.group(2)]


class ValidatorTest(unittest.TestCase):
    """The validator is a real one: it rejects what the API server would reject or drop."""

    DS = """apiVersion: apps/v1
kind: DaemonSet
metadata: {name: probe, namespace: x}
spec:
  selector: {matchLabels: {a: b}}
  template:
    metadata: {labels: {a: b}}
    spec:
      containers: %s
"""

    def one(self, text):
        rc, objs = dr.validate(text)
        self.assertEqual(len(objs), 1)
        return rc, objs[0]

    def test_accepts_a_well_formed_daemonset(self):
        rc, o = self.one(self.DS % "[{name: c, image: i, ports: [{containerPort: 80}]}]")
        self.assertEqual((rc, o["ok"], o["errors"]), (0, True, []))

    def test_rejects_containers_that_are_not_a_list(self):
        rc, o = self.one(self.DS % '"x"')
        self.assertEqual(rc, 1)
        self.assertFalse(o["ok"])
        self.assertIn("containers must be array", " ".join(o["errors"]))

    def test_rejects_a_port_that_is_not_an_integer(self):
        rc, o = self.one(self.DS % '[{name: c, image: i, ports: [{containerPort: "eighty"}]}]')
        self.assertEqual(rc, 1)
        self.assertIn("containerPort must be integer", " ".join(o["errors"]))

    def test_rejects_a_container_without_a_name(self):
        rc, o = self.one(self.DS % "[{image: i}]")
        self.assertEqual(rc, 1)
        self.assertIn("containers/0 must have required property name", " ".join(o["errors"]))

    def test_rejects_a_misspelled_field(self):
        rc, o = self.one(self.DS % "[{name: c, image: i, readinesProbe: {}}]")
        self.assertEqual(rc, 1)
        self.assertIn(".spec.template.spec.containers[0].readinesProbe: unknown field",
                      " ".join(o["errors"]))

    def test_rejects_an_unknown_kind(self):
        rc, o = self.one("apiVersion: v1\nkind: Gadget\nmetadata: {name: g}\n")
        self.assertEqual(rc, 1)
        self.assertIn("no schema for v1 Gadget", " ".join(o["errors"]))


class NetworkPolicyModelTest(unittest.TestCase):
    """The NetworkPolicy evaluator follows the API's semantics on small inline policies."""

    POD = {"app": "x"}
    PORTS = {"http": 80, "metrics": 10254}

    def admits(self, policies, port, peer):
        return dr.network_policy_admits(policies, "ns", self.POD, self.PORTS, port, peer)

    @staticmethod
    def policy(ingress, selector=None, types=("Ingress",)):
        return {"kind": "NetworkPolicy", "metadata": {"name": "p", "namespace": "ns"},
                "spec": {"podSelector": selector if selector is not None else {},
                         "policyTypes": list(types), "ingress": ingress}}

    def pod(self, ns, **labels):
        return {"namespace_labels": {"kubernetes.io/metadata.name": ns}, "pod_labels": labels}

    def test_no_policy_or_another_pods_policy_admits_everything(self):
        self.assertTrue(self.admits([], 10254, {"ip": "198.51.100.1"}))
        other = self.policy([], selector={"matchLabels": {"app": "y"}})
        self.assertTrue(self.admits([other], 10254, {"ip": "198.51.100.1"}))

    def test_a_selecting_policy_without_rules_admits_nothing(self):
        self.assertFalse(self.admits([self.policy([])], 80, {"ip": "198.51.100.1"}))
        self.assertFalse(self.admits([self.policy([])], 80, self.pod("ns")))

    def test_named_ports_sources_and_the_namespace_of_a_bare_pod_selector(self):
        pol = self.policy([{"ports": [{"port": "http"}]},
                           {"from": [{"podSelector": {"matchLabels": {"role": "scraper"}}}],
                            "ports": [{"port": 10254}]}])
        self.assertTrue(self.admits([pol], 80, {"ip": "198.51.100.1"}))
        self.assertFalse(self.admits([pol], 10254, {"ip": "198.51.100.1"}))
        self.assertTrue(self.admits([pol], 10254, self.pod("ns", role="scraper")))
        self.assertFalse(self.admits([pol], 10254, self.pod("other", role="scraper")))
        self.assertFalse(self.admits([pol], 443, self.pod("ns", role="scraper")))

    def test_namespace_and_pod_selector_in_one_peer_must_both_match(self):
        peer = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "mon"}},
                "podSelector": {"matchLabels": {"app": "prom"}}}
        pol = self.policy([{"from": [peer]}])
        self.assertTrue(self.admits([pol], 1, self.pod("mon", app="prom")))
        self.assertFalse(self.admits([pol], 1, self.pod("mon", app="other")))
        self.assertFalse(self.admits([pol], 1, self.pod("ns", app="prom")))

    def test_ip_blocks_with_exceptions(self):
        pol = self.policy([{"from": [{"ipBlock": {"cidr": "10.0.0.0/8",
                                                  "except": ["10.1.0.0/16"]}}]}])
        self.assertTrue(self.admits([pol], 1, {"ip": "10.2.3.4"}))
        self.assertFalse(self.admits([pol], 1, {"ip": "10.1.3.4"}))
        self.assertFalse(self.admits([pol], 1, {"ip": "192.0.2.1"}))


class RenderedManifestsTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.rendered = {d: dr.render(d) for d in (BASE, DEFAULT_CLASS, SEED)}
        cls.base = dr.objects_of(cls.rendered[BASE])

    def test_every_rendered_object_validates(self):
        for d, text in self.rendered.items():
            with self.subTest(kustomization=d):
                rc, objs = dr.validate(text)
                bad = [f"{o['kind']}/{o['name']}: {o['errors']}" for o in objs if not o["ok"]]
                self.assertEqual(bad, [])
                self.assertEqual(rc, 0)
                self.assertTrue(BASE_KINDS <= {o["kind"] for o in objs}, d)

    def test_other_kustomizations_under_deploy_validate(self):
        """Every other kustomization in deploy/ (e.g. dns-sync's) renders and validates too."""
        mine = {BASE, DEFAULT_CLASS, SEED}
        others = sorted(str(k.parent.relative_to(dr.source_dir()))
                        for k in (dr.source_dir() / "deploy").rglob("kustomization.yaml"))
        for d in others:
            if d in mine:
                continue
            with self.subTest(kustomization=d):
                rc, objs = dr.validate(dr.render(d))
                bad = [f"{o['kind']}/{o['name']}: {o['errors']}" for o in objs if not o["ok"]]
                self.assertEqual((rc, bad), (0, []))
                self.assertTrue(objs)

    def test_base_has_one_of_each_piece_and_no_default_backend(self):
        kinds = [o["kind"] for o in self.base]
        self.assertEqual(sorted(kinds), sorted(BASE_KINDS))
        for o in self.base:
            if o["kind"] not in ("Namespace", "ClusterRole", "ClusterRoleBinding", "IngressClass"):
                self.assertEqual(o["metadata"]["namespace"], NS, o["kind"])

    def test_ingress_class(self):
        ic = dr.find(self.base, "IngressClass", "portico")
        self.assertEqual(ic["spec"]["controller"], CONTROLLER)
        self.assertNotIn("ingressclass.kubernetes.io/is-default-class",
                         ic["metadata"].get("annotations", {}))

    def daemonset(self):
        ds = dr.find(self.base, "DaemonSet", "portico")
        pod = ds["spec"]["template"]["spec"]
        self.assertEqual(len(pod["containers"]), 1)
        return ds, pod, pod["containers"][0]

    def test_daemonset_serves_host_ports_80_and_443(self):
        _, pod, c = self.daemonset()
        ports = {p["name"]: p for p in c["ports"]}
        self.assertEqual((ports["http"]["containerPort"], ports["http"]["hostPort"]), (80, 80))
        self.assertEqual((ports["https"]["containerPort"], ports["https"]["hostPort"]), (443, 443))
        self.assertEqual(ports["metrics"]["containerPort"], 10254)
        self.assertNotIn("hostPort", ports["metrics"])  # the admin port stays off the node
        args = arg_map(c["args"])
        self.assertEqual(args["--http-port"], "80")
        self.assertEqual(args["--admin-port"], "10254")
        self.assertFalse(pod.get("hostNetwork", False))

    def test_probes_on_the_admin_port(self):
        _, _, c = self.daemonset()
        for probe in ("readinessProbe", "livenessProbe"):
            with self.subTest(probe=probe):
                p = c[probe]["httpGet"]
                self.assertEqual((p["path"], p["port"], p.get("scheme", "HTTP")),
                                 ("/healthz", 10254, "HTTP"))
                self.assertGreaterEqual(c[probe]["failureThreshold"], 3)
        # Liveness gives up later than readiness: a pod is taken out of rotation first.
        self.assertGreater(c["livenessProbe"]["failureThreshold"],
                           c["readinessProbe"]["failureThreshold"])

    def test_grace_period_exceeds_the_shutdown_grace(self):
        _, pod, c = self.daemonset()
        args = arg_map(c["args"])
        grace = seconds(args["--shutdown-grace"])
        delay = seconds(args.get("--shutdown-delay", "5s"))
        self.assertEqual(grace, 240)
        self.assertGreater(pod["terminationGracePeriodSeconds"], grace + delay)

    def test_rolling_update_one_node_at_a_time(self):
        ds, _, _ = self.daemonset()
        s = ds["spec"]["updateStrategy"]
        self.assertEqual(s["type"], "RollingUpdate")
        self.assertEqual(s["rollingUpdate"]["maxUnavailable"], 1)
        self.assertEqual(s["rollingUpdate"].get("maxSurge", 0), 0)  # hostPorts cannot surge

    def test_selector_matches_the_pod_template(self):
        ds, _, _ = self.daemonset()
        sel = ds["spec"]["selector"]["matchLabels"]
        labels = ds["spec"]["template"]["metadata"]["labels"]
        self.assertTrue(sel and all(labels.get(k) == v for k, v in sel.items()))

    def test_downward_api_env(self):
        _, _, c = self.daemonset()
        env = {e["name"]: e for e in c["env"]}
        self.assertEqual(env["POD_NAME"]["valueFrom"]["fieldRef"]["fieldPath"], "metadata.name")
        self.assertEqual(env["POD_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"],
                         "metadata.namespace")
        # Every $(VAR) in the args is defined (the kubelet leaves undefined ones verbatim).
        for a in c["args"]:
            for var in re.findall(r"\$\((\w+)\)", a):
                self.assertIn(var, env, a)

    def test_resources(self):
        _, _, c = self.daemonset()
        r = c["resources"]
        for k in ("cpu", "memory"):
            self.assertIn(k, r["requests"])
            self.assertIn(k, r["limits"])

    def test_locked_down_security_context(self):
        _, pod, c = self.daemonset()
        sc = c["securityContext"]
        self.assertIs(sc["runAsNonRoot"], True)
        self.assertEqual(sc["runAsUser"], 101)
        self.assertIs(sc["allowPrivilegeEscalation"], False)
        self.assertIs(sc["readOnlyRootFilesystem"], True)
        self.assertFalse(sc.get("privileged", False))
        self.assertEqual(sc["capabilities"]["drop"], ["ALL"])
        self.assertEqual(sc["capabilities"]["add"], ["NET_BIND_SERVICE"])
        self.assertEqual(sc["seccompProfile"]["type"], "RuntimeDefault")
        self.assertEqual(pod["securityContext"]["seccompProfile"]["type"], "RuntimeDefault")
        # A non-root process binds :80 through the pod's namespaced sysctl.
        sysctls = {s["name"]: s["value"] for s in pod["securityContext"]["sysctls"]}
        self.assertEqual(sysctls["net.ipv4.ip_unprivileged_port_start"], "0")
        # Writable scratch space is an emptyDir, not the image.
        mounts = {m["mountPath"]: m["name"] for m in c.get("volumeMounts", [])}
        vols = {v["name"]: v for v in pod.get("volumes", [])}
        for path, name in mounts.items():
            self.assertIn("emptyDir", vols[name], path)

    def test_args_name_the_rendered_objects(self):
        _, pod, c = self.daemonset()
        args = arg_map(c["args"])
        ic = dr.find(self.base, "IngressClass")
        self.assertEqual(args["--controller-class"], ic["spec"]["controller"])
        self.assertEqual(args["--ingress-class"], ic["metadata"]["name"])
        cm = dr.find(self.base, "ConfigMap")
        self.assertEqual(args["--configmap"], f"$(POD_NAMESPACE)/{cm['metadata']['name']}")
        self.assertEqual(args["--election-id"], "portico-leader")
        self.assertNotIn("--publish-service", args)  # no Service in front of a hostPort DaemonSet
        sa = dr.find(self.base, "ServiceAccount")
        self.assertEqual(pod["serviceAccountName"], sa["metadata"]["name"])
        self.assertNotIn("--kubeconfig", args)  # in-cluster configuration

    def test_network_policy_opens_80_and_443_to_all_and_10254_to_prometheus_only(self):
        ds, _, c = self.daemonset()
        pol = dr.find(self.base, "NetworkPolicy", "portico")
        self.assertEqual(pol["spec"]["policyTypes"], ["Ingress"])  # egress stays open
        labels = ds["spec"]["template"]["metadata"]["labels"]
        ports = {p["name"]: p["containerPort"] for p in c["ports"]}

        def admits(port, peer):
            return dr.network_policy_admits(self.base, NS, labels, ports, port, peer)

        def pod(ns, **pod_labels):
            return {"namespace_labels": {"kubernetes.io/metadata.name": ns},
                    "pod_labels": pod_labels}

        prometheus = pod("monitoring", **{"app.kubernetes.io/name": "prometheus"})
        others = [{"ip": "203.0.113.7"}, {"ip": "10.0.0.5"}, pod("team-a", app="web"),
                  pod("team-a", **{"app.kubernetes.io/name": "prometheus"}),  # a look-alike
                  pod("monitoring", **{"app.kubernetes.io/name": "grafana"}),
                  pod(NS, **labels)]  # another Portico pod
        for peer in others + [prometheus]:
            with self.subTest(peer=peer):
                self.assertTrue(admits(80, peer))
                self.assertTrue(admits(443, peer))
                self.assertFalse(admits(8080, peer))
        self.assertTrue(admits(10254, prometheus))
        for peer in others:
            with self.subTest(admin_port_from=peer):
                self.assertFalse(admits(10254, peer))

    def test_rbac_grants_what_the_controller_needs(self):
        allow = lambda *a, **kw: dr.rbac_allows(self.base, NS, SA, *a, **kw)  # noqa: E731
        for group, resource in (("networking.k8s.io", "ingresses"),
                                ("networking.k8s.io", "ingressclasses"),
                                ("", "services"), ("discovery.k8s.io", "endpointslices"),
                                ("", "secrets"), ("", "configmaps")):
            for verb in ("list", "watch"):
                with self.subTest(resource=resource, verb=verb):
                    self.assertTrue(allow(group, resource, verb), f"{verb} {resource}")
            with self.subTest(resource=resource, ns="any"):
                self.assertTrue(allow(group, resource, "watch", namespace="team-a"))
        for verb in ("update", "patch"):
            self.assertTrue(allow("networking.k8s.io", "ingresses/status", verb,
                                  namespace="team-a", name="web"))
        gw = "gateway.networking.k8s.io"
        for resource in ("gatewayclasses", "gateways", "httproutes", "grpcroutes", "referencegrants"):
            for verb in ("list", "watch"):
                self.assertTrue(allow(gw, resource, verb), f"{verb} {resource}")
        for verb in ("list", "watch"):
            self.assertTrue(allow("", "namespaces", verb), f"{verb} namespaces")
        for resource in ("gatewayclasses/status", "gateways/status", "httproutes/status",
                         "grpcroutes/status"):
            self.assertTrue(allow(gw, resource, "update", namespace="team-a", name="x"), resource)
        self.assertTrue(allow("", "nodes", "get", name="node-1"))
        for verb in ("list", "watch", "get"):
            self.assertTrue(allow("", "configmaps", verb, namespace=NS, name="portico-controller"))
        self.assertTrue(allow("", "pods", "get", namespace=NS, name="portico-x"))
        self.assertTrue(allow("", "pods", "list", namespace=NS))
        self.assertTrue(allow("coordination.k8s.io", "leases", "create", namespace=NS))
        self.assertTrue(allow("", "events", "create", namespace="team-a"))
        for verb in ("get", "update"):
            self.assertTrue(allow("coordination.k8s.io", "leases", verb, namespace=NS,
                                  name="portico-leader"))

    def test_rbac_grants_nothing_more(self):
        allow = lambda *a, **kw: dr.rbac_allows(self.base, NS, SA, *a, **kw)  # noqa: E731
        denied = [
            ("networking.k8s.io", "ingresses", "create", "team-a", None),
            ("networking.k8s.io", "ingresses", "update", "team-a", "web"),
            ("networking.k8s.io", "ingresses", "patch", "team-a", "web"),
            ("networking.k8s.io", "ingresses", "delete", "team-a", "web"),
            ("networking.k8s.io", "ingressclasses", "update", None, "portico"),
            ("", "services", "delete", "team-a", "web"),
            ("", "secrets", "update", "team-a", "tls"),
            ("", "secrets", "create", "team-a", None),
            ("", "configmaps", "update", NS, "portico-controller"),
            ("", "configmaps", "update", "team-a", "headers"),
            ("", "configmaps", "create", "team-a", None),
            ("", "pods", "list", "team-a", None),
            ("", "pods", "delete", NS, "portico-x"),
            ("", "nodes", "update", None, "node-1"),
            ("", "nodes", "list", None, None),
            ("", "pods", "watch", NS, None),
            ("coordination.k8s.io", "leases", "update", NS, "someone-elses-lease"),
            ("coordination.k8s.io", "leases", "delete", NS, "portico-leader"),
            ("coordination.k8s.io", "leases", "create", "kube-system", None),
            ("coordination.k8s.io", "leases", "get", "kube-system", "portico-leader"),
            ("", "events", "list", "team-a", None),
            ("", "events", "update", "team-a", "web.1"),
            ("", "events", "delete", "team-a", "web.1"),
            ("gateway.networking.k8s.io", "httproutes", "update", "team-a", "web"),
            ("gateway.networking.k8s.io", "gateways", "patch", "team-a", "gw"),
            ("gateway.networking.k8s.io", "referencegrants/status", "update", "team-a", "g"),
            ("", "namespaces", "update", None, "team-a"),
        ]
        for group, resource, verb, ns, name in denied:
            with self.subTest(f"{verb} {resource} {ns}/{name}"):
                self.assertFalse(allow(group, resource, verb, namespace=ns, name=name))

    def test_rbac_rules_have_no_wildcards_and_write_only_status_and_events(self):
        roles = [o for o in self.base if o["kind"] in ("Role", "ClusterRole")]
        self.assertEqual({r["kind"] for r in roles}, {"Role", "ClusterRole"})
        for role in roles:
            for rule in role["rules"]:
                for field in ("apiGroups", "resources", "verbs", "resourceNames"):
                    self.assertNotIn("*", rule.get(field, []), f"{role['kind']} {rule}")
                writes = set(rule["verbs"]) - {"get", "list", "watch"}
                if not writes:
                    continue
                if set(rule["resources"]) == {"ingresses/status"} or all(
                        r.endswith("/status") for r in rule["resources"]):
                    self.assertEqual(writes, {"update", "patch"})
                elif set(rule["resources"]) == {"events"}:
                    # Warning Events on invalid Ingresses: create only, never read back.
                    self.assertEqual((rule["apiGroups"], set(rule["verbs"])), ([""], {"create"}))
                else:
                    # Only the Lease of the election, in the controller's own namespace.
                    self.assertEqual(role["kind"], "Role", rule)
                    self.assertEqual(rule["resources"], ["leases"], rule)
                    self.assertTrue(writes <= {"create", "update"}, rule)
        cr = dr.find(self.base, "ClusterRole")
        ing = [r for r in cr["rules"] if "ingresses" in r["resources"]]
        self.assertEqual([set(r["verbs"]) for r in ing], [{"get", "list", "watch"}])

    def test_default_class_overlay(self):
        objs = dr.objects_of(self.rendered[DEFAULT_CLASS])
        ic = dr.find(objs, "IngressClass", "portico")
        self.assertEqual(ic["metadata"]["annotations"]["ingressclass.kubernetes.io/is-default-class"],
                         "true")
        self.assertEqual(ic["spec"]["controller"], CONTROLLER)
        # Everything else is the base, unchanged.
        strip = lambda objs: sorted(  # noqa: E731
            (repr(o) for o in objs if o["kind"] != "IngressClass"))
        self.assertEqual(strip(objs), strip(self.base))

    def test_seed_cluster_workload(self):
        objs = dr.objects_of(self.rendered[SEED])
        # The controller comes with it.
        self.assertTrue(BASE_KINDS <= {o["kind"] for o in objs})
        dr.find(objs, "DaemonSet", "portico")
        for n in ("msvc1", "msvc2"):
            with self.subTest(service=n):
                dep = dr.find(objs, "Deployment", n)
                svc = dr.find(objs, "Service", n)
                ing = dr.find(objs, "Ingress", n)
                ns = dep["metadata"]["namespace"]
                self.assertEqual((svc["metadata"]["namespace"], ing["metadata"]["namespace"]),
                                 (ns, ns))
                self.assertEqual(dep["spec"]["replicas"], 2)
                tmpl = dep["spec"]["template"]
                c = tmpl["spec"]["containers"][0]
                self.assertEqual(c["image"], "registry.k8s.io/e2e-test-images/agnhost:2.39")
                self.assertEqual(c["args"], ["netexec", "--http-port=8899"])
                self.assertEqual([p["containerPort"] for p in c["ports"]], [8899])
                # The Service selects the Deployment's pods and reaches port 8899.
                labels = tmpl["metadata"]["labels"]
                self.assertTrue(all(labels.get(k) == v for k, v in svc["spec"]["selector"].items()))
                self.assertEqual([p["port"] for p in svc["spec"]["ports"]], [8899])
                tp = svc["spec"]["ports"][0]["targetPort"]
                self.assertIn(tp, (8899, c["ports"][0].get("name")))
                # The Ingress routes its host to that Service port through class portico.
                self.assertEqual(ing["spec"]["ingressClassName"], "portico")
                [rule] = ing["spec"]["rules"]
                self.assertEqual(rule["host"], f"{n}.example.com")
                [path] = rule["http"]["paths"]
                self.assertEqual((path["path"], path["pathType"]), ("/", "Prefix"))
                self.assertEqual(path["backend"]["service"], {"name": n, "port": {"number": 8899}})
        ns_names = {o["metadata"]["name"] for o in objs if o["kind"] == "Namespace"}
        self.assertIn(dr.find(objs, "Deployment", "msvc1")["metadata"]["namespace"], ns_names)


if __name__ == "__main__":
    sys.path.insert(0, str(dr.source_dir() / "tests" / "system"))
    unittest.main(verbosity=2)
