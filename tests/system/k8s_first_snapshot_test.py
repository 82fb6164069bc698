#!/usr/bin/python3
"""No answers from an empty table: until the first Snapshot exists (with the Kubernetes API
source: every reflector has listed its kind once), the HTTP and HTTPS listeners are bound
but not listening, so clients are refused instead of getting 404 from an empty route table;
/healthz says 500 meanwhile. Here the test API server fails every Ingress list until the test
clears the fault; then the first Snapshot is published, the listeners open and the Ingress
is served."""

import socket
import unittest

import harness
from k8s_common import (ApiPortico, ApiServer, Kubectl, endpoint_slice, ingress,
                        ingress_class, service)


class first_snapshot(unittest.TestCase):
    def setUp(self):
        self.tmp = harness.temp_dir("k8s-first-snapshot-")
        self.api = ApiServer(str(self.tmp)).start()
        self.up = harness.Upstream.start("first")
        Kubectl(self.api, str(self.tmp)).apply_docs(
            ingress_class(), service("app"), endpoint_slice("app-1", "app", [self.up]),
            ingress("app", "app.test", "app"), verb="create")
        self.portico = None

    def tearDown(self):
        if self.portico:
            self.portico.stop()
        self.up.stop()
        self.api.stop()

    def test_listeners_refuse_connections_until_the_first_snapshot(self):
        self.api.control("fail", path="ingresses", code=500, count=-1)
        https_port = harness.free_port()
        p = self.portico = ApiPortico(self.api.kubeconfig, ["--update-status=false",
                                                            "--https-port", str(https_port)],
                                      wait_healthy=False)
        # The Ingress list has failed (and been retried) at least once: no Snapshot yet.
        harness.wait_until(lambda: any(r["code"] == 500 and "ingresses" in r["url"]
                                       for r in self.api.control("requests")["requests"]),
                           timeout=30)
        self.assertEqual(harness.request(p.admin_port, "GET", "/healthz", timeout=10).status, 500)
        with self.assertRaises(ConnectionRefusedError):  # not a 404 from an empty table
            harness.request(p.http_port, "GET", "/", host="app.test", timeout=10)
        with self.assertRaises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", https_port), timeout=10).close()

        self.api.control("clear-faults")
        harness.wait_until(p._healthy, timeout=60)
        r = harness.request(p.http_port, "GET", "/", host="app.test", timeout=10)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-Upstream-Name"), "first")
        with socket.create_connection(("127.0.0.1", https_port), timeout=10):
            pass  # the HTTPS listener is open too


if __name__ == "__main__":
    unittest.main(verbosity=2)
