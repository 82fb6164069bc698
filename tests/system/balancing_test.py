#!/usr/bin/python3
"""Balancing annotations against the real binary and real upstreams: upstream-hash-by keeps a
key on one endpoint across connections and spreads keys over the endpoints,
upstream-hash-by-subset keeps a key within a subset, load-balance ewma sends most requests to
the endpoint that answers sooner (one endpoint holds each answer 150 ms), service-upstream
sends requests to the Service's ClusterIP and port instead of its endpoints."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from scripted_upstream import ScriptedUpstream  # noqa: E402

A = "nginx.ingress.kubernetes.io/"

SLOW = b"HTTP/1.1 200 OK\r\nX-Upstream-Name: slow\r\nContent-Length: 4\r\n\r\nslow"


def slow_answer(raw):
    time.sleep(0.15)
    return SLOW


class balancing(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ups = [h.Upstream.start(f"e{i}") for i in range(4)]
        cls.fast = h.Upstream.start("fast")
        cls.slow = ScriptedUpstream({"/": slow_answer})
        cls.dir = d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        four = [("127.0.0.1", u.port) for u in cls.ups]
        cls.dead_port = h.free_port()
        # A Service whose ClusterIP is this machine's loopback and whose port is the fast
        # upstream's, while its only endpoint is a closed port: service-upstream reaches the
        # first, the endpoints the second.
        vip = h.service("vip", cls.fast.port, [("127.0.0.1", cls.dead_port)]).replace(
            "spec:\n  ports:", "spec:\n  clusterIP: 127.0.0.1\n  ports:", 1)
        h.write_manifests(d, "svc.yaml",
                          h.service("four", 80, four), vip,
                          h.service("pair", 80, [("127.0.0.1", cls.fast.port),
                                                 ("127.0.0.1", cls.slow.port)]))
        ing = lambda name, ann, svc="four": h.ingress(  # noqa: E731
            name, [(f"{name}.test", "/", "Prefix", svc, 80)], annotations=ann)
        h.write_manifests(
            d, "ing.yaml",
            ing("hash", {A + "upstream-hash-by": "$arg_user"}),
            ing("header", {A + "upstream-hash-by": "${http_x_tenant}-static"}),
            ing("subset", {A + "upstream-hash-by": "$arg_user",
                           A + "upstream-hash-by-subset": "true",
                           A + "upstream-hash-by-subset-size": "2"}),
            ing("ewma", {A + "load-balance": "ewma"}, "pair"),
            ing("rr", {}, "pair"),
            h.ingress("vip", [("vip.test", "/", "Prefix", "vip", cls.fast.port)],
                      annotations={A + "service-upstream": "true"}),
            h.ingress("novip", [("novip.test", "/", "Prefix", "vip", cls.fast.port)]))
        cls.p = h.Portico.start(d)

    @classmethod
    def tearDownClass(cls):
        for p in (cls.p, cls.fast, *cls.ups):
            p.stop()
        cls.slow.stop()

    def served_by(self, host, target="/", headers=None):
        r = h.request(self.p.http_port, "GET", target, host=host, headers=headers)
        self.assertEqual(r.status, 200)
        return r.header("X-Upstream-Name")

    def test_hash_by_keeps_a_key_on_one_endpoint(self):
        owners = {}
        for user in range(24):
            seen = {self.served_by("hash.test", f"/p?user=u{user}&r={i}") for i in range(5)}
            self.assertEqual(len(seen), 1, f"user u{user}: {seen}")
            owners[user] = seen.pop()
        # 24 keys over 4 endpoints: more than one endpoint is used (a constant would fail).
        self.assertGreater(len(set(owners.values())), 1, owners)
        # Header variables: the same tenant, the same endpoint.
        for tenant in ("a", "b", "c"):
            seen = {self.served_by("header.test", "/", {"X-Tenant": tenant}) for _ in range(5)}
            self.assertEqual(len(seen), 1, seen)

    def test_subset_keeps_a_key_within_two_endpoints(self):
        spread = set()
        for user in range(6):
            seen = {self.served_by("subset.test", f"/?user=s{user}") for _ in range(30)}
            self.assertLessEqual(len(seen), 2, seen)
            spread |= seen
        self.assertGreater(len(spread), 2, spread)  # different keys, different subsets

    def test_ewma_prefers_the_endpoint_that_answers_sooner(self):
        names = [self.served_by("ewma.test") for _ in range(40)]
        # Round robin gives the slow endpoint half; ewma, after its first slow answers, few.
        self.assertLess(names.count("slow"), 12, names)
        self.assertGreater(names.count("fast"), 28, names)
        # The same endpoints round-robin (per worker; two workers): about half each.
        rr = [self.served_by("rr.test") for _ in range(20)]
        self.assertTrue(7 <= rr.count("slow") <= 13, rr)


    def test_service_upstream_goes_to_the_cluster_ip(self):
        self.assertEqual(self.served_by("vip.test"), "fast")
        r = h.request(self.p.http_port, "GET", "/", host="novip.test")
        self.assertEqual(r.status, 502)  # the endpoints: a closed port
        out = h.run_portico("routes", "--config-dir", self.dir)
        self.assertIn(f"127.0.0.1:{self.fast.port}", out.stdout)


if __name__ == "__main__":
    unittest.main()
