#!/usr/bin/python3
"""Fidelity of the test API server with the official JavaScript client (@kubernetes/client-node):
informers over Ingress and EndpointSlice follow creates, updates and deletes, survive a dropped
watch and a 410 (with an outage in between), and end with caches equal to the server's state."""

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

SRC = os.environ.get("PORTICO_SOURCE_DIR") or os.path.abspath(
    os.path.join(os.path.dirname(__file__), "..", ".."))
JS_DIR = os.path.join(SRC, "tests", "k8s-watch", "js")
sys.path.insert(0, os.path.join(SRC, "tests", "k8s-watch", "apiserver"))

from ktapi.testing import ApiServer  # noqa: E402

NET = "networking.k8s.io/v1"
DISC = "discovery.k8s.io/v1"
NS = "js"


def npm_install():
    """Installs the pinned client into tests/k8s-watch/js/node_modules when it is missing."""
    marker = os.path.join(JS_DIR, "node_modules", "@kubernetes", "client-node", "package.json")
    if os.path.exists(marker):
        return
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("npm is not installed; it is needed for @kubernetes/client-node")
    cmd = [npm, "ci" if os.path.exists(os.path.join(JS_DIR, "package-lock.json")) else "install",
           "--no-audit", "--no-fund"]
    proc = subprocess.run(cmd, cwd=JS_DIR, capture_output=True, text=True, timeout=600)
    if proc.returncode != 0 or not os.path.exists(marker):
        raise RuntimeError(f"`{' '.join(cmd)}` in {JS_DIR} failed ({proc.returncode}):\n"
                           f"{proc.stdout}\n{proc.stderr}")


def ingress(name, host):
    return {"apiVersion": NET, "kind": "Ingress", "metadata": {"name": name},
            "spec": {"rules": [{"host": host, "http": {"paths": [
                {"path": "/", "pathType": "Prefix",
                 "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}}


def slice_(name, *addresses):
    return {"apiVersion": DISC, "kind": "EndpointSlice",
            "metadata": {"name": name, "labels": {"kubernetes.io/service-name": "web"}},
            "addressType": "IPv4", "ports": [{"name": "http", "port": 8080}],
            "endpoints": [{"addresses": [a], "conditions": {"ready": True}} for a in addresses]}


class Node:
    """The informer script as a child process; its output lines arrive on a queue."""

    def __init__(self, kubeconfig):
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed")
        env = dict(os.environ, KUBECONFIG=kubeconfig, RESTART_DELAY_MS="300")
        self.proc = subprocess.Popen([node, os.path.join(JS_DIR, "informer_test.mjs")],
                                     cwd=JS_DIR, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = queue.Queue()
        self.seen = []
        self.stderr = []
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=lambda: self.stderr.extend(self.proc.stderr),
                         daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                self.lines.put({"kind": "text", "text": line})
        self.lines.put(None)

    def wait_for(self, pred, what, seconds=30):
        deadline = time.monotonic() + seconds
        for msg in self.seen:
            if pred(msg):
                return msg
        while time.monotonic() < deadline:
            try:
                msg = self.lines.get(timeout=0.2)
            except queue.Empty:
                continue
            if msg is None:
                raise AssertionError(f"informer script exited waiting for {what}: "
                                     f"{''.join(self.stderr)}")
            self.seen.append(msg)
            if pred(msg):
                return msg
        raise AssertionError(f"timed out waiting for {what}; last lines: {self.seen[-10:]}"
                             f"\nstderr: {''.join(self.stderr)}")

    def event(self, informer, verb, name, rv=None, seconds=30):
        return self.wait_for(lambda m: m.get("kind") == "event" and m["informer"] == informer
                             and m["verb"] == verb and m["name"] == name
                             and (rv is None or m["rv"] == rv),
                             f"{informer} {verb} {name} {rv or ''}", seconds)

    def dump(self):
        self.seen = [m for m in self.seen if m.get("kind") != "dump"]
        self.proc.stdin.write("dump\n")
        self.proc.stdin.flush()
        return self.wait_for(lambda m: m.get("kind") == "dump", "dump")["caches"]

    def stop(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(5)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.terminate()
                self.proc.wait(5)
        for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            f.close()


class JsInformerTest(unittest.TestCase):
    def setUp(self):
        npm_install()   # raises with npm's output when it cannot install: never skipped
        self.tmp = tempfile.mkdtemp(prefix="apiserver-js-")
        # Events split over several chunks, as proxies and big objects do.
        self.server = ApiServer(self.tmp, args=["--watch-chunk-bytes", "64"]).start()
        self.node = None

    def tearDown(self):
        if self.node:
            self.node.stop()
        self.server.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def server_state(self):
        ings = self.server.get(NET, "ingresses")["items"]
        slices = self.server.get(DISC, "endpointslices")["items"]
        return {
            "ingresses": sorted(({"ns": i["metadata"]["namespace"], "name": i["metadata"]["name"],
                                  "rv": i["metadata"]["resourceVersion"],
                                  "uid": i["metadata"]["uid"],
                                  "hosts": [r.get("host") for r in i["spec"]["rules"]]}
                                 for i in ings), key=lambda s: f"{s['ns']}/{s['name']}"),
            "endpointslices": sorted(({"ns": s["metadata"]["namespace"],
                                       "name": s["metadata"]["name"],
                                       "rv": s["metadata"]["resourceVersion"],
                                       "uid": s["metadata"]["uid"],
                                       "addresses": [a for e in s["endpoints"]
                                                     for a in e["addresses"]]}
                                      for s in slices), key=lambda s: f"{s['ns']}/{s['name']}"),
        }

    def assert_converges(self, seconds=20):
        deadline = time.monotonic() + seconds
        want = self.server_state()
        got = self.node.dump()
        while got != want and time.monotonic() < deadline:
            time.sleep(0.2)
            want = self.server_state()
            got = self.node.dump()
        self.assertEqual(got, want)

    def wait_watches(self, count=2):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            w = self.server.control("state")["watches"]
            if w.get("ingresses.networking.k8s.io", 0) >= 1 and \
                    w.get("endpointslices.discovery.k8s.io", 0) >= 1:
                return
            time.sleep(0.05)
        raise AssertionError(f"informers did not open {count} watches: "
                             f"{self.server.control('state')}")

    def test_informers_follow_server_through_faults(self):
        srv = self.server
        srv.create("v1", "namespaces", {"metadata": {"name": NS}})
        srv.create(NET, "ingresses", ingress("a", "a.example.com"), NS)
        srv.create(NET, "ingresses", ingress("b", "b.example.com"), NS)
        srv.create(DISC, "endpointslices", slice_("web-1", "10.0.0.1", "10.0.0.2"), NS)
        self.node = node = Node(srv.kubeconfig)
        node.event("ingresses", "add", "a")
        node.event("ingresses", "add", "b")
        node.event("endpointslices", "add", "web-1")
        self.wait_watches()
        self.assert_converges()

        # Live changes arrive as watch events.
        c = srv.create(NET, "ingresses", ingress("c", "c.example.com"), NS)
        node.event("ingresses", "add", "c", c["metadata"]["resourceVersion"])
        a = srv.patch(NET, "ingresses", "a", {"spec": {"rules": [{"host": "a2.example.com"}]}}, NS)
        node.event("ingresses", "update", "a", a["metadata"]["resourceVersion"])
        srv.delete(NET, "ingresses", "b", NS)
        node.event("ingresses", "delete", "b")
        s = srv.patch(DISC, "endpointslices", "web-1",
                      {"endpoints": [{"addresses": ["10.0.0.3"],
                                      "conditions": {"ready": True}}]}, NS)
        node.event("endpointslices", "update", "web-1", s["metadata"]["resourceVersion"])
        s2 = srv.create(DISC, "endpointslices", slice_("web-2", "10.0.1.1"), NS)
        node.event("endpointslices", "add", "web-2", s2["metadata"]["resourceVersion"])
        self.assert_converges()

        # A watch dropped mid-stream: the informers re-watch from their last resourceVersion
        # and get what changed in between from the server's event history.
        errors_before = sum(1 for m in node.seen if m.get("kind") in ("error", "connect"))
        self.assertGreaterEqual(srv.control("drop-watches")["dropped"], 2)
        d = srv.create(NET, "ingresses", ingress("d", "d.example.com"), NS)
        node.event("ingresses", "add", "d", d["metadata"]["resourceVersion"])
        node.wait_for(lambda m: sum(1 for x in node.seen if x.get("kind") in ("error", "connect"))
                      > errors_before, "the informers noticing the dropped stream")
        self.wait_watches()
        self.assert_converges()
        relists = [r for r in srv.control("requests")["requests"]
                   if not r["watch"]
                   and r["url"].startswith("/apis/networking.k8s.io/v1/ingresses")]

        # An outage during which objects change and history is compacted: the re-watch from
        # the old resourceVersion gets an ERROR 410 event, the informer relists, and objects
        # deleted during the outage leave its cache.
        srv.control("refuse", seconds=4)   # long enough for the steps below, even on a busy machine
        srv.control("drop-watches")
        srv.request("DELETE", srv.path(NET, "ingresses", NS, "c"), admin=True)
        srv.request("DELETE", srv.path(DISC, "endpointslices", NS, "web-2"), admin=True)
        srv.request("POST", srv.path(NET, "ingresses", NS), ingress("e", "e.example.com"),
                    admin=True)
        srv.control("compact")
        node.event("ingresses", "delete", "c", seconds=40)
        node.event("endpointslices", "delete", "web-2", seconds=40)
        node.event("ingresses", "add", "e", seconds=40)
        self.wait_watches()
        self.assert_converges()
        requests = srv.control("requests")["requests"]
        self.assertTrue(any(r["watch"] and r["url"].startswith("/apis/networking.k8s.io/v1/"
                                                               "ingresses") for r in requests))
        relists_after = [r for r in requests if not r["watch"] and
                         r["url"].startswith("/apis/networking.k8s.io/v1/ingresses")]
        self.assertGreater(len(relists_after), len(relists), "the 410 made the informer relist")

        # A 410 ERROR event on an open stream also leads to a relist.
        srv.control("drop-watches", mode="expire")
        f = srv.create(NET, "ingresses", ingress("f", "f.example.com"), NS)
        node.event("ingresses", "add", "f", f["metadata"]["resourceVersion"])
        self.wait_watches()
        self.assert_converges()
        if os.environ.get("APISERVER_TEST_VERBOSE"):
            for m in node.seen:
                print(json.dumps(m), file=sys.stderr)
        node.stop()
        self.node = None


if __name__ == "__main__":
    unittest.main(verbosity=2)
