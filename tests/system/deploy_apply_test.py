"""deploy/ against an API server: `kubectl apply` of the rendered seed-cluster kustomization
(the base plus the seed workload) into the test API server succeeds, every object reads back
as rendered, a second apply changes nothing, and the default-class overlay applies on top.
Then Portico, started with the DaemonSet's own arguments against that API server, serves
the seed workload's Ingresses (once `portico serve` takes --kubeconfig)."""

import json
import re
import subprocess
import sys
import time
import unittest

import deploy_render as dr
import harness

sys.path.insert(0, str(dr.source_dir() / "tests" / "k8s-watch" / "apiserver"))
from ktapi.testing import ApiServer  # noqa: E402

SEED = "deploy/examples/seed-cluster"
DEFAULT_CLASS = "deploy/overlays/default-class"


def setUpModule():
    dr.ensure_node_modules()


class ApplyTest(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.work = harness.temp_dir("portico-deploy-apply-")
        cls.api = ApiServer(str(cls.work))
        cls.addClassCleanup(cls.api.stop)
        cls.api.start()
        cls.rendered = dr.render(SEED)
        cls.objects = dr.objects_of(cls.rendered)

    def kubectl(self, *args, stdin=None, check=True):
        p = subprocess.run([dr.kubectl(), "--kubeconfig", self.api.kubeconfig, *args],
                           input=stdin, capture_output=True, text=True, timeout=120)
        if check:
            self.assertEqual(p.returncode, 0, f"kubectl {' '.join(args)}:\n{p.stdout}\n{p.stderr}")
        return p

    @staticmethod
    def ref(o):
        group = o["apiVersion"].split("/")[0] if "/" in o["apiVersion"] else ""
        kind = o["kind"].lower() + (f".{group}" if group else "")
        return f"{kind}/{o['metadata']['name']}"

    def applied(self):
        """The rendered objects as the API server holds them (kubectl get -f -)."""
        p = self.kubectl("get", "-f", "-", "-o", "json", stdin=self.rendered)
        got = json.loads(p.stdout)
        return got["items"] if got.get("kind") == "List" else [got]

    def test_1_apply_creates_every_object(self):
        p = self.kubectl("apply", "--validate=false", "-f", "-", stdin=self.rendered)
        lines = p.stdout.strip().splitlines()
        self.assertEqual(len(lines), len(self.objects), p.stdout)
        for o in self.objects:
            with self.subTest(object=self.ref(o)):
                self.assertIn(f"{self.ref(o)} created", lines)

    def test_2_objects_read_back_as_rendered(self):
        items = self.applied()
        self.assertEqual(len(items), len(self.objects))
        by_key = {(i["kind"], i["metadata"].get("namespace"), i["metadata"]["name"]): i
                  for i in items}
        for o in self.objects:
            key = (o["kind"], o["metadata"].get("namespace"), o["metadata"]["name"])
            with self.subTest(object=key):
                got = by_key[key]
                self.assertTrue(got["metadata"]["uid"])
                self.assertIn("kubectl.kubernetes.io/last-applied-configuration",
                              got["metadata"].get("annotations", {}))
                for field in ("spec", "data", "rules", "roleRef", "subjects"):
                    if field in o:
                        want, have = o[field], got[field]
                        if o["kind"] == "Service":  # the server fills in defaults
                            have = {k: v for k, v in have.items() if k in want}
                            have["ports"] = [{k: v for k, v in p.items() if k in w}
                                             for p, w in zip(have["ports"], want["ports"])]
                        self.assertEqual(have, want, field)
                for k, v in o["metadata"].get("labels", {}).items():
                    self.assertEqual(got["metadata"]["labels"].get(k), v)
        # And by the usual queries an operator types.
        p = self.kubectl("get", "ingress", "-n", "seed", "-o", "name")
        self.assertEqual(sorted(p.stdout.split()),
                         ["ingress.networking.k8s.io/msvc1", "ingress.networking.k8s.io/msvc2"])
        p = self.kubectl("get", "daemonset", "-n", "portico", "portico",
                         "-o", "jsonpath={.spec.template.spec.containers[0].args}")
        self.assertIn("--election-id=portico-leader", p.stdout)

    def test_3_second_apply_changes_nothing(self):
        before = self.api.control("state")["resourceVersion"]
        p = self.kubectl("apply", "--validate=false", "-f", "-", stdin=self.rendered)
        lines = p.stdout.strip().splitlines()
        self.assertEqual(len(lines), len(self.objects))
        for line in lines:
            self.assertTrue(line.endswith(" unchanged"), line)
        self.assertEqual(self.api.control("state")["resourceVersion"], before)

    def test_4_default_class_overlay_applies_on_top(self):
        p = self.kubectl("apply", "--validate=false", "-f", "-", stdin=dr.render(DEFAULT_CLASS))
        self.assertIn("ingressclass.networking.k8s.io/portico configured", p.stdout)
        p = self.kubectl("get", "ingressclass", "portico", "-o", "json")
        ic = json.loads(p.stdout)
        self.assertEqual(ic["metadata"]["annotations"]["ingressclass.kubernetes.io/is-default-class"],
                         "true")
        self.assertEqual(ic["spec"]["controller"], "portico.dev/ingress-controller")

    def test_5_portico_with_the_daemonset_args_serves_the_seed_ingresses(self):
        p = subprocess.run([str(harness.portico_bin()), "serve", "--help"],
                           capture_output=True, text=True, timeout=30)
        usage = p.stdout + p.stderr
        self.assertIn("--kubeconfig", usage)
        # The test API server runs no controllers: stand in for the pods behind each Service
        # with an upstream, and for the EndpointSlice controller by creating the slices.
        ups = {}
        for n in ("msvc1", "msvc2"):
            ups[n] = harness.Upstream.start(n)
            svc = dr.find(self.objects, "Service", n)
            self.api.create("discovery.k8s.io/v1", "endpointslices", {
                "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": f"{n}-test", "namespace": "seed",
                             "labels": {"kubernetes.io/service-name": n}},
                "addressType": "IPv4",
                "endpoints": [{"addresses": ["127.0.0.1"], "conditions": {"ready": True}}],
                "ports": [{"name": svc["spec"]["ports"][0]["name"], "port": ups[n].port,
                           "protocol": "TCP"}],
            }, namespace="seed")
        # This process stands for the DaemonSet's pod on a node whose address is 127.0.0.1.
        pod = self.create_daemonset_pod("portico-test-node1", "127.0.0.1")
        seq = self.api.control("requests")["requests"][-1]["seq"]
        proc = self.start_portico_like_the_daemonset(pod, usage)
        try:
            self.check_serving(proc, ups)
        except BaseException:
            print("portico stderr:\n" + proc.stderr_text()[-6000:], file=sys.stderr)
            raise
        self.assertEqual(proc.stop(timeout=30), 0)
        self.assert_requests_allowed_by_rbac(seq)

    def check_serving(self, proc, ups):
        m = proc.wait_line(r"listening http=(\d+) admin=(\d+)", timeout=60)
        http_port, admin_port = int(m.group(1)), int(m.group(2))
        # Ready once every reflector has synced and the first Snapshot is published.
        deadline, last = time.monotonic() + 60, None
        while time.monotonic() < deadline:
            self.assertTrue(proc.alive(), f"portico exited ({proc.proc.returncode})")
            try:
                last = harness.request(admin_port, "GET", "/healthz", timeout=2).status
            except OSError as e:
                last = e
            if last == 200:
                break
            time.sleep(0.1)
        self.assertEqual(last, 200, "/healthz never became ready")
        for n, up in ups.items():
            with self.subTest(host=f"{n}.example.com"):
                r = harness.request(http_port, "GET", "/hostname", host=f"{n}.example.com",
                                    timeout=10)
                self.assertEqual(r.status, 200)
                self.assertEqual(r.header("X-Upstream-Name"), n)
        r = harness.request(http_port, "GET", "/", host="other.example.com", timeout=10)
        self.assertEqual(r.status, 404)  # the built-in default backend
        # The leader publishes the pod's host IP in each served Ingress's status.
        for n in ("msvc1", "msvc2"):
            with self.subTest(status=n):
                self.assertEqual(self.wait_status(n), [{"ip": "127.0.0.1"}])

    def create_daemonset_pod(self, name, host_ip):
        ds = dr.find(self.objects, "DaemonSet", "portico")
        ns = ds["metadata"]["namespace"]
        labels = dict(ds["spec"]["template"]["metadata"]["labels"],
                      **{"controller-revision-hash": "1"})
        pod = {"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": name, "namespace": ns, "labels": labels},
               "spec": ds["spec"]["template"]["spec"]}
        self.api.create("v1", "pods", pod, namespace=ns)
        self.api.patch("v1", "pods", name, {"status": {"phase": "Running", "hostIP": host_ip}},
                       namespace=ns, sub="status")
        return {"name": name, "namespace": ns}

    def wait_status(self, name, timeout=60.0):
        deadline = time.monotonic() + timeout
        while True:
            ing = self.api.get("networking.k8s.io/v1", "ingresses", name, namespace="seed")
            got = ((ing.get("status") or {}).get("loadBalancer") or {}).get("ingress")
            if got or time.monotonic() > deadline:
                return got
            time.sleep(0.2)

    def assert_requests_allowed_by_rbac(self, since):
        """Every API request Portico made is one the rendered RBAC grants its ServiceAccount."""
        reqs = [r for r in self.api.control("requests", since=since)["requests"]
                if not r.get("userAgent", "").startswith(("kubectl", "Python-urllib"))]
        self.assertTrue(reqs, "no requests from portico in the API server's log")
        seen = set()
        for r in reqs:
            attrs = dr.request_attributes(r["method"], r["url"], r.get("watch", False))
            if attrs is None:
                continue  # discovery and health paths: allowed to every authenticated user
            verb, group, resource, ns, name = attrs
            seen.add((verb, resource))
            with self.subTest(request=f"{r['method']} {r['url']}"):
                self.assertTrue(dr.rbac_allows(self.objects, "portico", "portico", group, resource,
                                               verb, namespace=ns, name=name),
                                f"RBAC does not allow {verb} {resource} in {ns} ({name})")
        for needed in (("watch", "ingresses"), ("update", "ingresses/status"),
                       ("create", "leases")):
            self.assertIn(needed, seen)

    def start_portico_like_the_daemonset(self, pod, usage):
        """`portico serve` with the DaemonSet's args and downward-API env; only the ports
        (ephemeral, loopback) and the API server location differ."""
        ds = dr.find(self.objects, "DaemonSet", "portico")
        c = ds["spec"]["template"]["spec"]["containers"][0]
        env = {"POD_NAME": pod["name"], "POD_NAMESPACE": pod["namespace"], "CPU_LIMIT": "2"}
        overrides = {"--http-port": "0", "--https-port": "0", "--admin-port": "0"}
        args = []
        for a in c["args"]:
            flag, _, value = a.partition("=")
            value = overrides.get(flag, value)
            value = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], value)
            args.append(f"{flag}={value}")
        args += ["--kubeconfig", self.api.kubeconfig, "--listen-address", "127.0.0.1",
                 "--admin-address", "127.0.0.1", "--shutdown-delay", "0s"]
        return harness.Process([harness.portico_bin(), "serve", *args], env=env)


if __name__ == "__main__":
    unittest.main(verbosity=2)
