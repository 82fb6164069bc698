#!/usr/bin/python3
"""deploy/dns-sync/manifests: renders with `kubectl kustomize`, every object validates against
the Kubernetes schemas (kubernetes-models), the Deployment's arguments are ones `portico
dns-sync` accepts, and its RBAC grants every API request dns-sync makes (read from the test
API server's request log) and nothing that writes."""

import os
import shutil
import tempfile
import unittest

import deploy_render as dr
import harness
from k8s_common import ApiServer

MANIFESTS = "deploy/dns-sync/manifests"
NS, SA = "portico", "portico-dns-sync"


class DnsSyncManifestsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        dr.ensure_node_modules()
        cls.text = dr.render(MANIFESTS)
        cls.objs = dr.objects_of(cls.text)

    def test_objects_validate(self):
        rc, report = dr.validate(self.text)
        self.assertEqual(rc, 0)
        self.assertEqual(sorted(o["kind"] for o in report),
                         ["ClusterRole", "ClusterRoleBinding", "Deployment", "ServiceAccount"])
        self.assertTrue(all(o["ok"] for o in report), report)

    def test_deployment_runs_dns_sync_locked_down(self):
        dep = dr.find(self.objs, "Deployment", "portico-dns-sync")
        self.assertEqual(dep["metadata"]["namespace"], NS)
        self.assertEqual(dep["spec"]["replicas"], 1)
        pod = dep["spec"]["template"]["spec"]
        self.assertEqual(pod["serviceAccountName"], SA)
        c = pod["containers"][0]
        self.assertEqual(c["command"], ["/usr/bin/portico", "dns-sync"])
        sc = c["securityContext"]
        self.assertTrue(sc["readOnlyRootFilesystem"])
        self.assertFalse(sc["allowPrivilegeEscalation"])
        self.assertEqual(sc["capabilities"], {"drop": ["ALL"]})
        env = {e["name"]: e for e in c["env"]}
        self.assertEqual(env["PORTICO_TSIG_SECRET"]["valueFrom"]["secretKeyRef"]["name"], "portico-dns-sync-tsig")

    def test_args_are_accepted_and_rbac_grants_every_request(self):
        dep = dr.find(self.objs, "Deployment", "portico-dns-sync")
        args = dep["spec"]["template"]["spec"]["containers"][0]["args"]
        tmp = tempfile.mkdtemp(prefix="dns-sync-manifests-")
        api = ApiServer(tmp).start()
        try:
            # The Deployment's flags, as given, with the API server and a dry run (no DNS server
            # here: route53 to a directory, so the run needs nothing but the API).
            self.assertIn("--provider=rfc2136", args)
            args = ["--provider=route53" if a == "--provider=rfc2136" else a for a in args]
            argv = [harness.portico_bin(), "dns-sync", *args, "--kubeconfig", api.kubeconfig,
                    "--route53-out", os.path.join(tmp, "out"), "--once", "--dry-run"]
            p = harness.Process(argv, env={"PORTICO_TSIG_SECRET": "c2VjcmV0"})
            self.assertEqual(p.wait(60), 0, p.stderr_text())
            reqs = api.control("requests")
            entries = reqs["requests"] if isinstance(reqs, dict) else reqs
            checked = 0
            for r in entries:
                attrs = dr.request_attributes(r["method"], r["url"], r.get("watch", False))
                if attrs is None:
                    continue
                verb, group, resource, namespace, name = attrs
                self.assertTrue(dr.rbac_allows(self.objs, NS, SA, group, resource, verb, namespace, name),
                                f"{r['method']} {r['url']} is not granted")
                checked += 1
            self.assertGreaterEqual(checked, 2)  # at least the Ingress and IngressClass lists
        finally:
            api.stop()
            shutil.rmtree(tmp, ignore_errors=True)

    def test_rbac_grants_no_writes(self):
        for verb in ("create", "update", "patch", "delete"):
            for res in ("ingresses", "ingresses/status", "ingressclasses"):
                self.assertFalse(dr.rbac_allows(self.objs, NS, SA, "networking.k8s.io", res, verb,
                                                "default", "x"), f"{verb} {res}")
        self.assertFalse(dr.rbac_allows(self.objs, NS, SA, "", "secrets", "list", "default"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
