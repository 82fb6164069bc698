#!/usr/bin/python3
"""HTTPRoute timeouts (GEP-1742) and RequestMirror against the real binary in file mode.

Timeouts: `request` answers 504 when the upstream is slower, 200 when it is not; a request
deadline longer than --read-timeout is what counts (the per-read limit does not cut it);
"0s" turns the limits off; `backendRequest` bounds each attempt, and a timed-out
attempt is not retried once the request was sent (one attempt, then 504).
The upstream's delay is far beyond each deadline and far within the test's own timeouts, so
the statuses do not depend on timing.

Mirrors: the mirror upstream receives the request as the main backend does (method, path
and query, the client's Host, the client's and the route's request headers, the body) while
the client gets the main backend's answer; two mirrors both receive it; a client's answer
never waits for a mirror that has not answered yet; a dead mirror changes nothing for the
client and counts in portico_mirror_requests_total{result="failed"}."""

import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402
from scripted_upstream import ScriptedUpstream, default_response  # noqa: E402

GW = "gateway.networking.k8s.io/v1"

GATEWAY = f"""apiVersion: {GW}
kind: GatewayClass
metadata: {{name: portico}}
spec: {{controllerName: portico.dev/gateway-controller}}
---
apiVersion: {GW}
kind: Gateway
metadata: {{name: gw, namespace: apps}}
spec:
  gatewayClassName: portico
  listeners: [{{name: http, port: 80, protocol: HTTP}}]
"""


def route(name, host, rules):
    return (f"apiVersion: {GW}\nkind: HTTPRoute\nmetadata: {{name: {name}, namespace: apps}}\n"
            f"spec:\n  parentRefs: [{{name: gw}}]\n  hostnames: [{host}]\n  rules:\n{rules}")


def rule(prefix, backend, extra=""):
    return (f"  - matches: [{{path: {{type: PathPrefix, value: {prefix}}}}}]\n"
            f"    backendRefs: [{{name: {backend}, port: 80}}]\n{extra}")


def mirror(service):
    return f"    - {{type: RequestMirror, requestMirror: {{backendRef: {{name: {service}, port: 80}}}}}}\n"


TIMEOUTS = route("timeouts", "timeouts.test",
                 rule("/request", "slow", "    timeouts: {request: 500ms}\n")
                 + rule("/longer", "slow", "    timeouts: {request: 20s}\n")
                 + rule("/off", "slow", "    timeouts: {request: 0s}\n")
                 + rule("/plain", "slow")
                 + rule("/attempt", "two", "    timeouts: {request: 30s, backendRequest: 400ms}\n"))

MIRRORS = route("mirrors", "mirror.test",
                rule("/one", "main", "    filters:\n" + mirror("m1")
                     + "    - {type: RequestHeaderModifier, requestHeaderModifier: {add: [{name: X-Route, value: added}]}}\n")
                + rule("/two", "main", "    filters:\n" + mirror("m1") + mirror("m2"))
                + rule("/held", "main", "    filters:\n" + mirror("held"))
                + rule("/dead", "main", "    filters:\n" + mirror("dead")))


class gateway_timeouts_mirror(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.slow = h.Upstream.start("slow")
        cls.two = [h.Upstream.start("two-a"), h.Upstream.start("two-b")]
        cls.main = h.Upstream.start("main")
        cls.release = threading.Event()

        def held(raw):
            cls.release.wait(20)
            return default_response(raw)

        cls.m1 = ScriptedUpstream({})
        cls.m2 = ScriptedUpstream({})
        cls.held = ScriptedUpstream({"/held": held})
        d = h.temp_dir()
        lo = "127.0.0.1"
        h.write_manifests(d, "gateway.yaml", GATEWAY, TIMEOUTS, MIRRORS)
        h.write_manifests(d, "services.yaml",
                          h.service("slow", 80, [(lo, cls.slow.port)], namespace="apps"),
                          h.service("two", 80, [(lo, u.port) for u in cls.two], namespace="apps"),
                          h.service("main", 80, [(lo, cls.main.port)], namespace="apps"),
                          h.service("m1", 80, [(lo, cls.m1.port)], namespace="apps"),
                          h.service("m2", 80, [(lo, cls.m2.port)], namespace="apps"),
                          h.service("held", 80, [(lo, cls.held.port)], namespace="apps"),
                          h.service("dead", 80, [(lo, h.free_port())], namespace="apps"))
        # A short per-read limit, so that a route deadline beyond it shows which one counts.
        cls.p = t.start_portico(d, "--read-timeout", "1500ms")  # stop() checks for sanitizer reports

    @classmethod
    def tearDownClass(cls):
        cls.release.set()
        cls.p.stop()
        for u in [cls.slow, cls.main, *cls.two]:
            u.stop()
        for u in (cls.m1, cls.m2, cls.held):
            u.stop()

    def get(self, path, host, **kw):
        return h.request(self.p.http_port, kw.pop("method", "GET"), path, host=host, **kw)

    # ------------------------------------------------------------------ timeouts

    def test_request_timeout_answers_504_past_its_deadline(self):
        self.assertEqual(self.get("/request?delay=8000", "timeouts.test").status, 504)
        r = self.get("/request?delay=0", "timeouts.test")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["name"], "slow")

    def test_request_deadline_longer_than_read_timeout_wins(self):
        # 4 s: past --read-timeout (1.5 s), within the route's 20 s.
        self.assertEqual(self.get("/longer?delay=4000", "timeouts.test").status, 200)
        # Without timeouts the proxy's read timeout applies.
        self.assertEqual(self.get("/plain?delay=4000", "timeouts.test").status, 504)

    def test_zero_duration_disables_the_timeout(self):
        self.assertEqual(self.get("/off?delay=4000", "timeouts.test").status, 200)

    def test_backend_request_timeout_per_attempt_then_504(self):
        before = [u.stats()["requests"] for u in self.two]
        self.assertEqual(self.get("/attempt?delay=8000", "timeouts.test").status, 504)
        after = [u.stats()["requests"] for u in self.two]
        # One attempt, then 504: the deadline of a request already sent is not retried (the
        # route's proxy-next-upstream policy: only failures before anything was sent move on).
        # Each /stats answer counts itself, hence the 2.
        self.assertEqual(sum(a - b for a, b in zip(after, before)) - 2, 1)
        self.assertEqual(self.get("/attempt", "timeouts.test").status, 200)

    # ------------------------------------------------------------------ mirrors

    def mirrored(self, up, path, timeout=20):
        ok = h.wait_until(lambda: any(f" {path} ".encode() in r.split(b"\r\n", 1)[0] for r in up.requests),
                          timeout=timeout)
        self.assertTrue(ok, f"{path} not mirrored: {up.requests[-3:]}")
        return next(r for r in up.requests if f" {path} ".encode() in r.split(b"\r\n", 1)[0])

    def test_mirror_receives_the_request_and_client_gets_the_main_answer(self):
        r = self.get("/one/x?q=1", "mirror.test", method="POST",
                     headers={"X-Client": "c1", "Content-Type": "text/plain"}, body=b"hello mirror")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["name"], "main")
        self.assertEqual(r.echo_header("x-route"), ["added"])
        raw = self.mirrored(self.m1, "/one/x?q=1")
        head, _, body = raw.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.assertEqual(lines[0], "POST /one/x?q=1 HTTP/1.1")
        fields = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            fields.setdefault(k.strip().lower(), []).append(v.strip())
        self.assertEqual(fields.get("host"), ["mirror.test"])  # the Host the main backend gets
        self.assertEqual(fields.get("x-client"), ["c1"])
        self.assertEqual(fields.get("x-route"), ["added"])  # the rule's header edits apply to the copy
        self.assertIn("x-forwarded-for", fields)
        self.assertEqual(body, b"hello mirror")

    def test_two_mirrors_both_receive_it(self):
        self.assertEqual(self.get("/two/both", "mirror.test").json()["name"], "main")
        self.assertTrue(self.mirrored(self.m1, "/two/both").startswith(b"GET /two/both HTTP/1.1\r\n"))
        self.assertTrue(self.mirrored(self.m2, "/two/both").startswith(b"GET /two/both HTTP/1.1\r\n"))

    def test_client_never_waits_for_the_mirror(self):
        # The mirror holds its answer until the client has had its own: were the client's
        # answer waiting for the mirror, this request would time out.
        r = self.get("/held", "mirror.test", timeout=10)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json()["name"], "main")
        self.mirrored(self.held, "/held")
        self.release.set()

    def test_dead_mirror_does_not_affect_the_client(self):
        failed = self.p.metric("portico_mirror_requests_total", result="failed") or 0
        for i in range(5):
            r = self.get(f"/dead/{i}", "mirror.test")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.json()["name"], "main")
        self.assertTrue(h.wait_until(
            lambda: (self.p.metric("portico_mirror_requests_total", result="failed") or 0) >= failed + 5))
        self.assertTrue(self.p.alive())


if __name__ == "__main__":
    unittest.main(verbosity=2)
