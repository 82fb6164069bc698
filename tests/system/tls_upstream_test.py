#!/usr/bin/python3
"""Upstream TLS (backend-protocol: "HTTPS"): Portico speaks TLS to the endpoints with SNI
(proxy-ssl-name, else the request's host), without verification by default, with
verification against the proxy-ssl-secret CA when proxy-ssl-verify is "on" (a refused
certificate is a failed connect: 502, or the next endpoint), pooled TLS connections are reused
and kept apart from plain ones to the same address."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402

ANN = "nginx.ingress.kubernetes.io/"


def https_ingress(name, host, service, **ann):
    annotations = {ANN + "backend-protocol": "HTTPS"}
    annotations.update({ANN + k.replace("_", "-"): v for k, v in ann.items()})
    return t.tls_ingress(name, [(host, "/", "Prefix", service, 443)], annotations=annotations)


class upstream_tls(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = t.CA("Upstream CA")
        cls.other_ca = t.CA("Some Other CA")
        cls.up = t.HTTPSUpstream(cls.ca.issue("backend.internal", "open.test"), name="secure")
        cls.plain = h.Upstream.start("plain")
        eps = [("127.0.0.1", cls.up.port)]
        d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(
            d, "app.yaml",
            h.service("secure", 443, eps, port_name="https"),
            t.ca_secret("upstream-ca", cls.ca.pem), t.ca_secret("wrong-ca", cls.other_ca.pem),
            # No verification: SNI is the request's host.
            https_ingress("open", "open.test", "secure"),
            # Verified against the right CA, with the name the certificate carries.
            https_ingress("verified", "verified.test", "secure", proxy_ssl_verify="on",
                          proxy_ssl_secret="default/upstream-ca",
                          proxy_ssl_name="backend.internal"),
            # Verified, but the name is not in the certificate.
            https_ingress("wrongname", "wrongname.test", "secure", proxy_ssl_verify="on",
                          proxy_ssl_secret="default/upstream-ca", proxy_ssl_name="nope.internal"),
            # Verified against a CA that did not sign it.
            https_ingress("wrongca", "wrongca.test", "secure", proxy_ssl_verify="on",
                          proxy_ssl_secret="default/wrong-ca", proxy_ssl_name="backend.internal"),
            # Plain HTTP to the TLS port: must not get a pooled TLS connection.
            t.tls_ingress("cleartext", [("cleartext.test", "/", "Prefix", "secure", 443)]))
        cls.p = t.start_portico(d, "--workers", "1", "--max-tries", "1")

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()
        cls.up.stop()
        cls.plain.stop()

    def test_without_verification_sni_is_the_request_host(self):
        r = self.p.get("/x", host="open.test")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.header("x-upstream-name"), "secure")
        self.assertEqual(r.json()["path"], "/x")
        self.assertIn("open.test", self.up.server_names)

    def test_verified_with_the_right_ca_and_name(self):
        r = self.p.get("/", host="verified.test")
        self.assertEqual(r.status, 200, r.body)
        self.assertIn("backend.internal", self.up.server_names)
        # Also when the client came over HTTPS.
        r = t.https_request(self.p.https_port, "verified.test")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.echo_header("x-forwarded-proto"), ["https"])

    def test_wrong_name_is_refused_with_502(self):
        self.assertEqual(self.p.get("/", host="wrongname.test").status, 502)

    def test_wrong_ca_is_refused_with_502(self):
        self.assertEqual(self.p.get("/", host="wrongca.test").status, 502)

    def test_keep_alive_reuses_one_tls_connection(self):
        before = self.up.connections
        with h.Conn(self.p.http_port) as c:
            for i in range(10):
                r = c.request("GET", f"/reuse/{i}", host="verified.test")
                self.assertEqual(r.status, 200)
        # One new upstream handshake at most (an idle pooled one may already exist).
        self.assertLessEqual(self.up.connections - before, 1)

    def test_plain_cluster_never_gets_a_pooled_tls_connection(self):
        self.assertEqual(self.p.get("/", host="open.test").status, 200)  # pools a TLS conn
        # The same address as plain HTTP: a fresh cleartext connection, which the TLS server
        # cannot parse -> 502; never the pooled TLS connection (which would answer 200).
        self.assertEqual(self.p.get("/", host="cleartext.test").status, 502)
        self.assertEqual(self.p.get("/", host="open.test").status, 200)


class upstream_tls_failover(unittest.TestCase):
    def test_refused_certificate_moves_to_the_next_endpoint(self):
        ca = t.CA("Upstream CA")
        rogue_ca = t.CA("Rogue CA")
        good = t.HTTPSUpstream(ca.issue("backend.internal"), name="good")
        rogue = t.HTTPSUpstream(rogue_ca.issue("backend.internal"), name="rogue")
        d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(
            d, "app.yaml",
            h.service("secure", 443, [("127.0.0.1", rogue.port), ("127.0.0.1", good.port)],
                      port_name="https"),
            t.ca_secret("upstream-ca", ca.pem),
            https_ingress("verified", "verified.test", "secure", proxy_ssl_verify="on",
                          proxy_ssl_secret="default/upstream-ca",
                          proxy_ssl_name="backend.internal"))
        p = t.start_portico(d, "--workers", "1")
        try:
            names = [p.get(f"/{i}", host="verified.test") for i in range(6)]
            self.assertEqual([r.status for r in names], [200] * 6)
            self.assertEqual({r.header("x-upstream-name") for r in names}, {"good"})
            self.assertGreater(rogue.connections, 0)  # it was tried, and refused
        finally:
            p.stop()
            good.stop()
            rogue.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
