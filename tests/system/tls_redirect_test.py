#!/usr/bin/python3
"""HTTP -> HTTPS redirects and headers on HTTPS: a host in an Ingress's spec.tls answers plain
HTTP with 308 to https:// (ssl-redirect: "false" turns it off, force-ssl-redirect: "true"
forces it without spec.tls), HTTPS responses carry Strict-Transport-Security (configurable,
--hsts=false), and upstreams see X-Forwarded-Proto: https and the HTTPS port in
X-Forwarded-Port."""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402

ANN = "nginx.ingress.kubernetes.io/"


def config(d, up, ca):
    eps = [("127.0.0.1", up.port)]
    cert = ca.issue("secure.test", "optout.test")
    h.write_manifests(d, "class.yaml", h.ingress_class())
    h.write_manifests(
        d, "app.yaml", h.service("app", 80, eps), t.tls_secret("secure-tls", cert),
        t.tls_ingress("secure", [("secure.test", "/", "Prefix", "app", 80)],
                      tls=[(["secure.test"], "secure-tls")]),
        t.tls_ingress("optout", [("optout.test", "/", "Prefix", "app", 80)],
                      tls=[(["optout.test"], "secure-tls")],
                      annotations={ANN + "ssl-redirect": "false"}),
        t.tls_ingress("forced", [("forced.test", "/", "Prefix", "app", 80)],
                      annotations={ANN + "force-ssl-redirect": "true"}),
        t.tls_ingress("plain", [("plain.test", "/", "Prefix", "app", 80)]))


class redirect(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = t.CA()
        cls.up = h.Upstream.start("plain")
        d = h.temp_dir()
        config(d, cls.up, cls.ca)
        cls.p = t.start_portico(d)

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()
        cls.up.stop()

    def test_tls_host_redirects_plain_http_with_308(self):
        r = self.p.get("/a/b?x=1", host="secure.test")
        self.assertEqual(r.status, 308)
        self.assertEqual(r.header("location"),
                         f"https://secure.test:{self.p.https_port}/a/b?x=1")
        # curl follows it to the HTTPS listener and verifies the certificate there.
        r = subprocess.run(
            ["curl", "-sS", "--max-time", "10", "-L", "--max-redirs", "2", "-o", "/dev/null",
             "-w", "%{http_code} %{num_redirects} %{url_effective}",
             "--cacert", str(self.ca.path),
             "--resolve", f"secure.test:{self.p.http_port}:127.0.0.1",
             "--resolve", f"secure.test:{self.p.https_port}:127.0.0.1",
             f"http://secure.test:{self.p.http_port}/a"],
            capture_output=True, text=True, timeout=20)
        self.assertEqual(r.stdout, f"200 1 https://secure.test:{self.p.https_port}/a", r.stderr)

    def test_ssl_redirect_false_serves_plain_http(self):
        r = self.p.get("/", host="optout.test")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("x-upstream-name"), "plain")

    def test_force_ssl_redirect_without_tls_section(self):
        r = self.p.get("/f", host="forced.test")
        self.assertEqual(r.status, 308)
        self.assertTrue(r.header("location", "").startswith("https://forced.test"), r.headers)

    def test_host_without_tls_is_not_redirected(self):
        r = self.p.get("/", host="plain.test")
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("strict-transport-security"))

    def test_https_response_carries_hsts(self):
        status, headers, _ = t.curl(self.p.https_port, "secure.test", ca=self.ca)
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("strict-transport-security"),
                         "max-age=31536000; includeSubDomains")

    def test_upstream_sees_forwarded_proto_and_port(self):
        r = t.https_request(self.p.https_port, "secure.test", "/echo", ca=self.ca)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.echo_header("x-forwarded-proto"), ["https"])
        self.assertEqual(r.echo_header("x-forwarded-port"), [str(self.p.https_port)])
        plain = self.p.get("/echo", host="optout.test")
        self.assertEqual(plain.echo_header("x-forwarded-proto"), ["http"])
        self.assertEqual(plain.echo_header("x-forwarded-port"), [str(self.p.http_port)])


class hsts_flags(unittest.TestCase):
    def test_hsts_configurable_and_off(self):
        ca = t.CA()
        up = h.Upstream.start("plain")
        d = h.temp_dir()
        config(d, up, ca)
        p = t.start_portico(d, "--hsts-max-age", "600", "--hsts-include-subdomains=false",
                            "--hsts-preload")
        try:
            _, headers, _ = t.curl(p.https_port, "secure.test", ca=ca)
            self.assertEqual(headers.get("strict-transport-security"), "max-age=600; preload")
        finally:
            p.stop()
        p = t.start_portico(d, "--hsts=false")
        try:
            status, headers, _ = t.curl(p.https_port, "secure.test", ca=ca)
            self.assertEqual(status, 200)
            self.assertNotIn("strict-transport-security", headers)
        finally:
            p.stop()
            up.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
