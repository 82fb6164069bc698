#!/usr/bin/python3
"""deploy/examples/migration/ as its README promises: Portico serves the directory as is (with
its controller ConfigMap) in front of demo-a and demo-b, and each request of the README gets
the answer the README says it proves. `portico routes` reports no error."""

import json
import os
import shutil
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

EXAMPLE = h.source_dir() / "deploy" / "examples" / "migration"
CONFIGMAP = "ingress/portico-controller"


class migration_example(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = h.Upstream.start("demo-a")
        cls.b = h.Upstream.start("demo-b")
        # The example's Services point at 127.0.0.1:9001 / :9002; the test's upstreams have
        # ephemeral ports: a copy of the directory with the ports replaced.
        cls.dir = d = h.temp_dir()
        for name in os.listdir(EXAMPLE):
            if name.endswith(".yaml"):
                text = (EXAMPLE / name).read_text()
                text = text.replace("9001", str(cls.a.port)).replace("9002", str(cls.b.port))
                (d / name).write_text(text)
        cls.p = h.Portico.start(d, "--configmap", CONFIGMAP)

    @classmethod
    def tearDownClass(cls):
        for p in (cls.p, cls.a, cls.b):
            p.stop()

    def get(self, host, target, method="GET", body=b""):
        return h.request(self.p.http_port, method, target, host=host, body=body, timeout=30)

    def test_routes_report_no_error(self):
        out = h.run_portico("routes", "--config-dir", EXAMPLE, "--configmap", CONFIGMAP)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("(regex)", out.stdout)

    def test_each_request_of_the_readme(self):
        r = self.get("shop.local", "/shop/cart?id=7")
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "demo-b"))
        self.assertEqual(r.json()["target"], "/cart?id=7")
        self.assertEqual(r.echo_header("x-forwarded-prefix"), ["/shop"])

        r = self.get("shop.local", "/SHOP/cart")
        self.assertEqual((r.status, r.json()["target"]), (200, "/cart"))

        r = self.get("shop.local", "/")
        self.assertEqual((r.status, r.header("Location")), (302, "http://shop.local/home"))

        r = self.get("shop.local", "/home")
        self.assertEqual((r.status, r.header("X-Upstream-Name"), r.json()["target"]),
                         (200, "demo-a", "/home"))

        big = b"\0" * 3_000_000
        r = self.get("upload.local", "/", method="POST", body=big)
        self.assertEqual((r.status, r.json()["body_bytes"]), (200, len(big)))
        # Refused from the Content-Length before the body is read (the connection then
        # closes): the head alone gets the answer.
        c = h.Conn(self.p.http_port, timeout=30)
        c.send(f"POST / HTTP/1.1\r\nHost: internal.local\r\nContent-Length: {len(big)}\r\n\r\n"
               .encode())
        self.assertEqual(c.read_response().status, 413)
        c.close()

        r = self.get("old.local", "/anything")
        self.assertEqual((r.status, r.header("Location")), (308, "https://shop.local/"))

        r = self.get("internal.local", "/")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("X-Frame-Options"), "DENY")
        self.assertEqual(r.header("X-Content-Type-Options"), "nosniff")
        self.assertEqual(r.echo_header("host"), ["internal.svc.cluster.local"])

    def test_canary_pair(self):
        r = h.request(self.p.http_port, "GET", "/", host="app.local",
                      headers={"X-Canary": "always"}, timeout=30)
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "demo-b"))
        r = h.request(self.p.http_port, "GET", "/", host="app.local",
                      headers={"X-Canary": "never"}, timeout=30)
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "demo-a"))
        # canary-weight "10": a tolerant bound over 300 requests (expected 30 on demo-b).
        names = [self.get("app.local", "/").header("X-Upstream-Name") for _ in range(300)]
        self.assertEqual(set(names) - {"demo-a", "demo-b"}, set())
        self.assertTrue(8 <= names.count("demo-b") <= 60, names.count("demo-b"))

    def test_sticky_sessions(self):
        first = self.get("sticky.local", "/")
        self.assertEqual(first.status, 200)
        cookie = first.header("Set-Cookie")
        self.assertRegex(cookie, r"^SERVERID=[0-9a-f]+\|[0-9a-f]{32}; Max-Age=172800; Path=/; HttpOnly$")
        pair = cookie.split(";")[0]
        upstream = first.header("X-Upstream-Name")
        for _ in range(20):  # a new connection each time
            r = h.request(self.p.http_port, "GET", "/", host="sticky.local",
                          headers={"Cookie": pair}, timeout=30)
            self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, upstream))
            self.assertIsNone(r.header("Set-Cookie"))
        # Without the cookie, new clients reach both endpoints (bounded: 40 tries).
        seen = {self.get("sticky.local", "/").header("X-Upstream-Name") for _ in range(40)}
        self.assertEqual(seen, {"demo-a", "demo-b"})


if __name__ == "__main__":
    unittest.main()
