#!/usr/bin/python3
"""`portico serve` on the Kubernetes API keeps serving through API trouble: the test API
server killed and restarted (objects deleted and added while it was away), an expired
watch (410), dropped watches and 500s. Afterwards the routing equals the server's state."""

import os
import tempfile
import time
import unittest

import harness
from k8s_common import (ApiPortico, ApiServer, KeepAliveLoad, Kubectl, endpoint_slice,
                        ingress, ingress_class, service)


class K8sOutageTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="k8s-outage-")
        self.state = os.path.join(self.tmp, "state.json")
        self.api = ApiServer(self.tmp, args=["--state-file", self.state,
                                             "--bookmark-interval", "1"]).start()
        self.kubectl = Kubectl(self.api, self.tmp)
        self.up_a = harness.Upstream.start("a")
        self.up_b = harness.Upstream.start("b")
        self.kubectl.apply_docs(ingress_class(), service("app"), service("old"),
                                endpoint_slice("app-1", "app", [self.up_a]),
                                endpoint_slice("old-1", "old", [self.up_a]),
                                ingress("app", "app.test", "app"),
                                ingress("old", "old.test", "old"), verb="create")
        self.portico = ApiPortico(self.api.kubeconfig, ["--update-status=false"])
        harness.wait_until(lambda: self.portico.backend_name("app.test") == "a", 20)
        self.assertEqual(self.portico.backend_name("old.test"), "a")

    def tearDown(self):
        self.portico.stop()
        self.up_a.stop()
        self.up_b.stop()
        self.api.stop()

    def test_restart_with_changes_while_away_and_injected_faults(self):
        p = self.portico
        with KeepAliveLoad(p.http_port, "app.test", max_requests=200000, max_seconds=120) as load:
            # 1. The API server goes away; while it is down the objects change (edited in its
            #    state file, which it loads when it comes back: deletions and additions that
            #    no watch can deliver after the history is gone).
            self.api.stop()
            time.sleep(1.0)
            api2_dir = tempfile.mkdtemp(prefix="k8s-outage-edit-", dir=self.tmp)
            edit = ApiServer(api2_dir, args=["--state-file", self.state]).start()
            edit.delete("networking.k8s.io/v1", "ingresses", "old", namespace="default")
            edit.create("networking.k8s.io/v1", "ingresses",
                        ingress("new", "new.test", "app"), namespace="default")
            edit.stop()
            self.api.restart(outage=0.5)
            harness.wait_until(lambda: p.get("old.test").status == 404, 45)
            harness.wait_until(lambda: p.backend_name("new.test") == "a", 20)

            # 2. An expired watch (ERROR 410 on the stream) and a compacted history: relist.
            self.api.control("compact")
            self.api.control("drop-watches", mode="expire")
            self.kubectl.apply_docs(endpoint_slice("app-1", "app", [self.up_b]))
            harness.wait_until(lambda: p.backend_name("app.test") == "b", 30)

            # 3. Dropped watches and 500s on every list and watch for a while.
            self.api.control("fail", path="/api|/apis", code=500, count=10)
            self.api.control("drop-watches", mode="abrupt")
            time.sleep(1.0)
            self.api.control("clear-faults")
            self.kubectl.apply_docs(endpoint_slice("app-1", "app", [self.up_a]))
            harness.wait_until(lambda: p.backend_name("app.test") == "a", 45)
        self.assertEqual(load.failures, [], "traffic must never stop during API trouble")
        log = p.stderr_text()
        self.assertIn("expired: relisting", log, "the 410 must have led to a relist")
        self.assertIn("HTTP 500", log, "the injected 500s must have been seen (and retried)")
        self.assertGreater(load.ok, 100)

        # The routing equals the server's state.
        names = {i["metadata"]["name"] for i in
                 self.api.get("networking.k8s.io/v1", "ingresses", namespace="default")["items"]}
        self.assertEqual(names, {"app", "new"})
        self.assertEqual(p.get("old.test").status, 404)
        self.assertEqual(p.backend_name("new.test"), "a")
        self.assertEqual(p.backend_name("app.test"), "a")


if __name__ == "__main__":
    unittest.main(verbosity=2)
