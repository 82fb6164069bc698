#!/usr/bin/python3
"""deploy/cluster-up.sh: its --dry-run plan (every command, none run against a cluster), and
a real stand-up against the test API server. That server runs no controllers, so the test
plays them: once `kubectl rollout status` is watching, it creates the Portico pod (ready, on
a node at 127.0.0.1) and writes the DaemonSet's and the Deployments' status through their
status subresources; a real `portico serve` against the API server is the leader that writes
the Ingresses' status. The script must wait for each of those, in order, and print the hosts
to try."""

import os
import subprocess
import threading
import time
import unittest

import harness
from k8s_common import KUBECTL, ApiPortico, ApiServer

SCRIPT = harness.source_dir() / "deploy" / "cluster-up.sh"
NS = "portico"


def run_script(*args, env=None, timeout=240):
    return subprocess.run(["bash", str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ, **(env or {})))


class DryRunTest(unittest.TestCase):

    def fake_kubectl(self):
        """A `kubectl` on PATH that logs its arguments; only the local `kustomize` goes on to
        the real one, anything else fails loudly."""
        d = harness.temp_dir("portico-cluster-up-bin-")
        log = d / "calls.log"
        (d / "kubectl").write_text(
            "#!/bin/sh\n"
            f"echo \"$*\" >> {log}\n"
            f"if [ \"$1\" = kustomize ]; then exec {KUBECTL} \"$@\"; fi\n"
            "echo 'fake kubectl: would talk to a cluster' >&2; exit 97\n")
        (d / "kubectl").chmod(0o755)
        return d, log

    def test_dry_run_prints_the_plan_and_runs_nothing(self):
        bindir, log = self.fake_kubectl()
        overlay = harness.source_dir() / "deploy" / "overlays" / "default-class"
        p = run_script("--dry-run", "--kubeconfig", "/nonexistent/kc", "--context", "prod",
                       "--overlay", overlay, "--timeout", "90",
                       env={"PATH": f"{bindir}:{os.environ['PATH']}"})
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        out = p.stdout + p.stderr
        k = "+ kubectl --kubeconfig /nonexistent/kc --context prod"
        seed = harness.source_dir() / "deploy" / "examples" / "seed-cluster"
        want = [
            f"{k} apply -k {overlay}",
            f"{k} rollout status daemonset/portico -n portico --timeout=90s",
            f"{k} wait --for=condition=Ready pod -l",
            f"{k} apply -k {seed}",
            f"{k} rollout status deployment/msvc1 -n seed --timeout=90s",
            f"{k} rollout status deployment/msvc2 -n seed --timeout=90s",
            f"{k} get ingress -n seed msvc1 -o jsonpath=",
            f"{k} get ingress -n seed msvc2 -o jsonpath=",
        ]
        lines = out.splitlines()
        at = 0
        for w in want:
            idx = next((i for i in range(at, len(lines)) if lines[i].startswith(w)), None)
            self.assertIsNotNone(idx, f"plan lacks (in order) {w!r}:\n{out}")
            at = idx + 1
        # Nothing but the local render was run.
        calls = log.read_text().splitlines()
        self.assertEqual(calls, [f"kustomize {seed}"])

    def test_bad_arguments_are_refused(self):
        p = run_script("--timeout", "soon", "--dry-run")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("--timeout must be", p.stderr)
        p = run_script("--overlay", "/nonexistent", "--dry-run")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("no kustomization.yaml", p.stderr)
        p = run_script("--frobnicate")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("unknown argument", p.stderr)


class Controllers:
    """Stands in for the kubelet, the DaemonSet and Deployment controllers of a real cluster,
    acting only once kubectl waits for each (a watch on that resource is in the request log)."""

    def __init__(self, api, workdir, host_ip="127.0.0.1"):
        self.api, self.workdir, self.host_ip = api, workdir, host_ip
        self.events = {}   # what -> request-log seq just after it was done
        self.portico = None
        self.errors = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join(30)
        if self.portico:
            self.portico.stop()

    def seq(self):
        return self.api.control("requests")["requests"][-1]["seq"]

    def watched(self, resource):
        return any(r.get("watch") and f"/{resource}" in r["url"]
                   for r in self.api.control("requests", since=0)["requests"])

    def _run(self):
        deadline = time.monotonic() + 200
        try:
            while not self._stop.is_set() and time.monotonic() < deadline:
                self.step()
                self._stop.wait(0.1)
        except Exception as e:  # noqa: BLE001 - reported by the test
            self.errors.append(repr(e))

    def step(self):
        if "daemonset" not in self.events and self.watched("daemonsets"):
            ds = self.api.get("apps/v1", "daemonsets", "portico", namespace=NS)
            self.create_pod(ds)
            self.api.patch("apps/v1", "daemonsets", "portico", {"status": {
                "observedGeneration": ds["metadata"]["generation"],
                "currentNumberScheduled": 1, "desiredNumberScheduled": 1,
                "updatedNumberScheduled": 1, "numberReady": 1, "numberAvailable": 1,
                "numberMisscheduled": 0}}, namespace=NS, sub="status")
            self.events["daemonset"] = self.seq()
            self.portico = ApiPortico(self.api.kubeconfig, [
                "--controller-class=portico.dev/ingress-controller", "--ingress-class=portico",
                "--election-id=portico-leader"], wait_healthy=False,
                env={"POD_NAME": "portico-node1", "POD_NAMESPACE": NS})
        if "deployments" not in self.events and self.watched("deployments"):
            for d in self.api.get("apps/v1", "deployments", namespace="seed")["items"]:
                n = d["spec"]["replicas"]
                self.api.patch("apps/v1", "deployments", d["metadata"]["name"], {"status": {
                    "observedGeneration": d["metadata"]["generation"], "replicas": n,
                    "updatedReplicas": n, "readyReplicas": n, "availableReplicas": n,
                    "conditions": [
                        {"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable"},
                        {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}]}},
                    namespace="seed", sub="status")
            self.events["deployments"] = self.seq()

    def create_pod(self, ds):
        labels = dict(ds["spec"]["template"]["metadata"]["labels"], **{"controller-revision-hash": "1"})
        self.api.create("v1", "pods", {
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "portico-node1", "namespace": NS, "labels": labels},
            "spec": dict(ds["spec"]["template"]["spec"], nodeName="node1")}, namespace=NS)
        self.api.patch("v1", "pods", "portico-node1", {"status": {
            "phase": "Running", "hostIP": self.host_ip, "podIP": "10.244.0.10",
            "conditions": [{"type": "Ready", "status": "True"},
                           {"type": "ContainersReady", "status": "True"}]}},
            namespace=NS, sub="status")


class StandUpTest(unittest.TestCase):

    def setUp(self):
        self.work = harness.temp_dir("portico-cluster-up-")
        self.api = ApiServer(str(self.work))
        self.addCleanup(self.api.stop)
        self.api.start()
        self.env = {"HOME": str(self.work), "KUBECACHEDIR": str(self.work / "kcache")}

    def test_stand_up_waits_for_each_step_and_prints_the_hosts(self):
        ctl = Controllers(self.api, self.work).start()
        self.addCleanup(ctl.stop)
        p = run_script("--kubeconfig", self.api.kubeconfig, "--context", "portico-test",
                       "--timeout", "120", env=self.env, timeout=300)
        out = p.stdout + p.stderr
        if p.returncode != 0 and ctl.portico:
            print("portico stderr:\n" + ctl.portico.stderr_text()[-4000:])
        self.assertEqual(ctl.errors, [])
        self.assertEqual(p.returncode, 0, out)
        for h in ("msvc1", "msvc2"):
            self.assertIn(f"curl --resolve {h}.example.com:80:127.0.0.1 http://{h}.example.com/",
                          p.stdout.splitlines())
            self.assertIn(f"# Ingress seed/{h}: 127.0.0.1", p.stdout)
        # In order: the workload went in only after the DaemonSet had rolled out, and the
        # script read the Ingresses' addresses only after the Deployments had rolled out.
        reqs = self.api.control("requests", since=0)["requests"]

        def first(method, fragment):
            return next(r["seq"] for r in reqs if r["method"] == method and fragment in r["url"])

        self.assertGreater(first("POST", "/namespaces/seed/deployments"), ctl.events["daemonset"])
        created = first("POST", "/namespaces/seed/ingresses")
        polls = [r["seq"] for r in reqs if r["method"] == "GET" and r["seq"] > created
                 and r["url"].split("?")[0].endswith("/namespaces/seed/ingresses/msvc1")
                 and r.get("userAgent", "").startswith("kubectl")]
        self.assertTrue(polls, "the script never read Ingress seed/msvc1")
        self.assertGreater(min(polls), ctl.events["deployments"])
        # And it is what an operator sees: both Ingresses carry the node address.
        for h in ("msvc1", "msvc2"):
            ing = self.api.get("networking.k8s.io/v1", "ingresses", h, namespace="seed")
            self.assertEqual(ing["status"]["loadBalancer"]["ingress"], [{"ip": "127.0.0.1"}])
        # A second run finds everything in place and finishes the same way.
        p = run_script("--kubeconfig", self.api.kubeconfig, "--timeout", "60", env=self.env)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertIn("curl --resolve msvc2.example.com:80:127.0.0.1 http://msvc2.example.com/",
                      p.stdout)

    def test_a_rollout_that_never_completes_fails_within_the_timeout(self):
        p = run_script("--kubeconfig", self.api.kubeconfig, "--timeout", "3", env=self.env,
                       timeout=120)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("rollout status daemonset/portico", p.stdout)
        self.assertIn("timed out", p.stdout + p.stderr)
        # Stopped at the first wait: the workload was never applied.
        self.assertNotIn("apply -k", p.stdout.split("rollout status")[1])


if __name__ == "__main__":
    unittest.main(verbosity=2)
