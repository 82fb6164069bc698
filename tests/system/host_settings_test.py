#!/usr/bin/python3
"""The per-host annotations against the real binary and a real upstream: server-alias (every
path of the host answers under the alias, a name served by its own Ingress keeps its routes)
and from-to-www-redirect (the other name gets ingress-nginx's redirect: the ConfigMap's
http-redirect-code, <scheme>://<host>:<port><uri without a trailing '/'>)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

A = "nginx.ingress.kubernetes.io/"


class host_settings(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up_a = h.Upstream.start("site")
        cls.up_b = h.Upstream.start("own")
        cls.dir = d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(d, "svc.yaml",
                          h.service("site", 80, [("127.0.0.1", cls.up_a.port)]),
                          h.service("own", 80, [("127.0.0.1", cls.up_b.port)]))
        h.write_manifests(
            d, "ing.yaml",
            h.ingress("site", [("site.test", "/", "Prefix", "site", 80),
                               ("site.test", "/api", "Prefix", "own", 80)],
                      annotations={A + "server-alias": "alias.test, *.wild.test, own.test",
                                   A + "from-to-www-redirect": "true"},
                      creation_timestamp="2026-01-01T00:00:00Z"),
            h.ingress("own", [("own.test", "/", "Prefix", "own", 80)],
                      creation_timestamp="2026-01-02T00:00:00Z"),
            h.ingress("www", [("www.shop.test", "/", "Prefix", "site", 80)],
                      annotations={A + "from-to-www-redirect": "true"}),
            h.ingress("served", [("served.test", "/", "Prefix", "site", 80),
                                 ("www.served.test", "/", "Prefix", "own", 80)],
                      annotations={A + "from-to-www-redirect": "true"}))
        cls.p = h.Portico.start(d)

    @classmethod
    def tearDownClass(cls):
        for p in (cls.p, cls.up_a, cls.up_b):
            p.stop()

    def get(self, host, target="/"):
        return h.request(self.p.http_port, "GET", target, host=host)

    def test_alias_serves_every_path_of_its_host(self):
        for host in ("alias.test", "ALIAS.TEST:80", "x.wild.test"):
            r = self.get(host, "/page")
            self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "site"), host)
            r = self.get(host, "/api/v1")
            self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "own"), host)
            self.assertEqual(r.json()["target"], "/api/v1")
        self.assertEqual(self.get("y.x.wild.test").status, 404)  # one label only
        self.assertEqual(self.get("unknown.test").status, 404)

    def test_a_name_with_its_own_ingress_is_not_taken_by_an_alias(self):
        r = self.get("own.test", "/page")
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "own"))
        out = h.run_portico("routes", "--config-dir", self.dir)
        self.assertIn('alias "own.test" of host "site.test" is a host of its own', out.stdout + out.stderr)

    def test_from_to_www_redirects(self):
        port = self.p.http_port
        r = self.get("www.site.test", "/a/b/?q=1")
        self.assertEqual(r.status, 308)
        self.assertEqual(r.header("Location"), f"http://site.test:{port}/a/b/?q=1")
        r = self.get("www.site.test", "/path/")
        self.assertEqual(r.header("Location"), f"http://site.test:{port}/path")
        r = self.get("WWW.Site.Test", "/")
        self.assertEqual((r.status, r.header("Location")), (308, f"http://site.test:{port}"))
        r = self.get("shop.test", "/x")
        self.assertEqual((r.status, r.header("Location")), (308, f"http://www.shop.test:{port}/x"))
        # An Ingress serves www.served.test: served, not redirected.
        r = self.get("www.served.test", "/")
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "own"))
        # The hosts themselves are served.
        self.assertEqual(self.get("site.test").status, 200)
        self.assertEqual(self.get("www.shop.test").status, 200)


if __name__ == "__main__":
    unittest.main()
