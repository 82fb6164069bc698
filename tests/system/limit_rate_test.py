#!/usr/bin/python3
"""limit-rate and limit-rate-after (ingress-nginx's response bandwidth limits, nginx limit_rate)
against the real binary and a real upstream (portico-upstream serves /bytes/N with a
Content-Length and /chunked/N chunked).

What is checked is what does not depend on the machine's speed: a limited response arrives
whole and byte for byte the same as an unlimited one (length-framed and chunked, kilobytes to
megabytes), the connection stays usable for the next request, a client that goes away in the
middle of a limited response costs nothing else, the ConfigMap's values are the default an
annotation replaces, and a bad value is reported with the default applied. The pacing itself
(rate x (elapsed + 1 s) + limit-rate-after bytes by any moment, nginx's arithmetic) is pinned by
tests/proxy/hash_ewma_test.cpp's rate_allowance test; here the elapsed times are printed, never
asserted (tests do not assert on wall-clock time)."""

import os
import socket
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from routes_cli_test import error_lines  # noqa: E402

A = "nginx.ingress.kubernetes.io/"


def configmap(data):
    lines = "".join(f"  {k}: \"{v}\"\n" for k, v in data.items())
    return f"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: portico\n  namespace: ingress\ndata:\n{lines}"


class limit_rate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = h.Upstream.start()
        cls.dir = h.temp_dir()
        svc = h.service("app", endpoints=[cls.up.addr()])
        h.write_manifests(
            cls.dir, "a.yaml", h.ingress_class(), svc,
            configmap({"limit-rate": "2048", "limit-rate-after": "0"}),
            h.ingress("slow", rules=[("slow.test", "/", "Prefix", "app", 80)],
                      annotations={A + "limit-rate": "256", A + "limit-rate-after": "64"}),
            h.ingress("unlimited", rules=[("fast.test", "/", "Prefix", "app", 80)],
                      annotations={A + "limit-rate": "0"}),
            h.ingress("default", rules=[("default.test", "/", "Prefix", "app", 80)]),
            h.ingress("bad", rules=[("bad.test", "/", "Prefix", "app", 80)],
                      annotations={A + "limit-rate": "fast"}))
        cls.p = h.Portico.start(cls.dir, "--configmap", "ingress/portico")

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()
        cls.up.stop()

    def fetch(self, host, target, conn=None):
        t = time.monotonic()
        if conn is None:
            with h.Conn(self.p.http_port) as c:
                r = c.request("GET", target, host=host)
        else:
            r = conn.request("GET", target, host=host)
        print(f"  {host}{target}: {len(r.body)} bytes in {time.monotonic() - t:.2f} s", file=sys.stderr)
        return r

    def test_a_limited_response_arrives_whole(self):
        for target in ("/bytes/600000", "/chunked/600000", "/bytes/1000", "/bytes/0"):
            ref = self.fetch("fast.test", target)
            got = self.fetch("slow.test", target)
            self.assertEqual(ref.status, 200, target)
            self.assertEqual(got.status, 200, target)
            self.assertEqual(got.body, ref.body, target)

    def test_the_connection_serves_the_next_request(self):
        with h.Conn(self.p.http_port) as c:
            first = self.fetch("slow.test", "/bytes/100000", conn=c)
            second = self.fetch("slow.test", "/chunked/50000", conn=c)
            third = self.fetch("fast.test", "/bytes/10", conn=c)
        self.assertEqual((first.status, len(first.body)), (200, 100000))
        self.assertEqual((second.status, len(second.body)), (200, 50000))
        self.assertEqual((third.status, len(third.body)), (200, 10))

    def test_a_client_leaving_mid_response_costs_nothing_else(self):
        s = socket.create_connection(("127.0.0.1", self.p.http_port), timeout=10)
        s.sendall(b"GET /bytes/4000000 HTTP/1.1\r\nHost: slow.test\r\n\r\n")
        got = s.recv(65536)
        self.assertTrue(got.startswith(b"HTTP/1.1 200"), got[:40])
        s.close()
        # Other clients are served at once, on the same and other routes.
        self.assertEqual(self.fetch("fast.test", "/bytes/10").status, 200)
        self.assertEqual(len(self.fetch("slow.test", "/bytes/1000").body), 1000)
        self.assertTrue(self.p.alive())

    def test_the_configmap_is_the_default_and_a_bad_value_falls_back_to_it(self):
        # 2048 KiB/s from the ConfigMap on both: the body arrives whole either way.
        for host in ("default.test", "bad.test"):
            r = self.fetch(host, "/bytes/300000")
            self.assertEqual((r.status, len(r.body)), (200, 300000), host)
        out = subprocess.run([h.portico_bin(), "routes", "--config-dir", str(self.dir),
                              "--configmap", "ingress/portico"],
                             capture_output=True, text=True, timeout=60)
        errs = error_lines(out.stdout)
        self.assertTrue(any("Ingress default/bad" in e and A + "limit-rate]" in e and "kilobytes" in e
                            for e in errs), out.stdout)
        self.assertFalse(any("default/slow" in e for e in errs), errs)

    def test_snapshot_has_no_denied_route(self):
        # limit-rate used to deny the route (503) before it was implemented.
        for host in ("slow.test", "default.test", "bad.test"):
            self.assertEqual(self.fetch(host, "/bytes/10").status, 200, host)


if __name__ == "__main__":
    unittest.main()
