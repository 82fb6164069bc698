#!/usr/bin/python3
"""`portico serve` on the Kubernetes API (the test API server, driven with the real kubectl):
routes go live, change targets and disappear under a keep-alive load with zero failures;
an Ingress of another class is ignored; an invalid Ingress is reported by name while the rest
keeps serving."""

import os
import tempfile
import time
import unittest

import harness
from k8s_common import (ApiPortico, ApiServer, KeepAliveLoad, Kubectl, endpoint_slice,
                        ingress, ingress_class, service)


class K8sRoutingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="k8s-routing-")
        cls.api = ApiServer(cls.tmp, args=["--bookmark-interval", "1"]).start()
        cls.kubectl = Kubectl(cls.api, cls.tmp)
        cls.up_a = harness.Upstream.start("a")
        cls.up_b = harness.Upstream.start("b")
        cls.up_s = harness.Upstream.start("stable")
        cls.kubectl.apply_docs(ingress_class(), service("stable"),
                               endpoint_slice("stable-1", "stable", [cls.up_s]),
                               ingress("stable", "stable.test", "stable"), verb="create")
        cls.portico = ApiPortico(cls.api.kubeconfig, ["--update-status=false"])

    @classmethod
    def tearDownClass(cls):
        cls.portico.stop()
        for u in (cls.up_a, cls.up_b, cls.up_s):
            u.stop()
        cls.api.stop()

    def wait_backend(self, host, expected, timeout=20):
        harness.wait_until(lambda: self.portico.backend_name(host) == expected, timeout)

    def test_kubectl_create_change_delete_under_keep_alive_load(self):
        p = self.portico
        self.assertEqual(p.backend_name("stable.test"), "stable")
        self.assertEqual(p.get("app.test").status, 404)
        with KeepAliveLoad(p.http_port, "stable.test", max_requests=100000, max_seconds=90) as load:
            self.kubectl.apply_docs(service("app"), endpoint_slice("app-1", "app", [self.up_a]),
                                    ingress("app", "app.test", "app"), verb="create")
            self.wait_backend("app.test", "a")
            with KeepAliveLoad(p.http_port, "app.test", max_requests=100000,
                               max_seconds=60) as app_load:
                # Change the EndpointSlice's targets from a to b.
                self.kubectl.apply_docs(endpoint_slice("app-1", "app", [self.up_b]))
                self.wait_backend("app.test", "b")
                deadline = time.monotonic() + 5
                while app_load.names.get("b", 0) < 20 and time.monotonic() < deadline:
                    time.sleep(0.05)
            self.assertEqual(app_load.failures, [], "requests failed while the targets changed")
            self.assertGreater(app_load.names.get("a", 0), 0)
            self.assertGreater(app_load.names.get("b", 0), 0)
            self.kubectl("delete", "ingress", "app")
            harness.wait_until(lambda: p.get("app.test").status == 404, 20)
        self.assertEqual(load.failures, [], "the stable route failed during the changes")
        self.assertGreater(load.ok, 100)

    def test_ingress_of_another_class_is_ignored(self):
        self.kubectl.apply_docs(ingress_class("nginx", "k8s.io/ingress-nginx"), service("other"),
                                endpoint_slice("other-1", "other", [self.up_a]),
                                ingress("other", "other.test", "other", class_name="nginx"),
                                ingress("mine", "mine.test", "other"), verb="create")
        self.wait_backend("mine.test", "a")
        self.assertEqual(self.portico.get("other.test").status, 404)

    def test_controller_class_takes_over_an_ingress_nginx_class(self):
        self.kubectl.apply_docs(ingress_class("legacy", "k8s.io/ingress-nginx"), service("mig"),
                                endpoint_slice("mig-1", "mig", [self.up_b]),
                                ingress("mig", "mig.test", "mig", class_name="legacy"))
        self.wait_backend("mig.test", 404)  # not ours by default
        taker = ApiPortico(self.api.kubeconfig, ["--update-status=false",
                                                 "--controller-class", "k8s.io/ingress-nginx"])
        try:
            harness.wait_until(lambda: taker.backend_name("mig.test") == "b", 20)
            self.assertEqual(taker.get("stable.test").status, 404)
        finally:
            taker.stop()

    def test_invalid_ingress_is_reported_by_name_and_the_rest_keeps_serving(self):
        bad = ingress("broken", "broken.test", "stable")
        # Valid for the API server, but Portico serves no resource backends.
        bad["spec"]["rules"][0]["http"]["paths"][0]["backend"] = {
            "resource": {"apiGroup": "example.com", "kind": "Bucket", "name": "b"}}
        self.kubectl.apply_docs(bad)
        self.portico.wait_line(r"default/broken", timeout=20)
        self.assertEqual(self.portico.backend_name("stable.test"), "stable")
        self.assertEqual(self.portico.get("broken.test").status, 404)


if __name__ == "__main__":
    unittest.main(verbosity=2)
