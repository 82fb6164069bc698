#!/usr/bin/python3
"""Certificate choice by SNI: an exact host and a wildcard get their Secrets' certificates
(curl with --cacert verifies them), unknown names and clients without SNI get the default
certificate (self-signed, or --default-ssl-certificate), a broken Secret only affects its own
host, ALPN never offers h2, and nginx_ingress_controller_ssl_expire_time_seconds is exported
per TLS host."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402


class sni(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = t.CA()
        cls.exact = cls.ca.issue("a.test")
        cls.wild = cls.ca.issue("*.wild.test")
        cls.fallback = cls.ca.issue("fallback.test")
        cls.up = h.Upstream.start("plain")
        d = h.temp_dir()
        eps = [("127.0.0.1", cls.up.port)]
        rules = [(host, "/", "Prefix", "app", 80)
                 for host in ("a.test", "x.wild.test", "broken.test", "plain.test")]
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(
            d, "app.yaml", h.service("app", 80, eps),
            t.tls_secret("a-tls", cls.exact), t.tls_secret("wild-tls", cls.wild),
            t.tls_secret("fallback-tls", cls.fallback),
            # Not PEM at all: reported by the config side, served with the default certificate.
            t.tls_secret("broken-tls", cert_pem="not a certificate", key_pem="not a key"),
            t.tls_ingress("app", rules, tls=[(["a.test"], "a-tls"), (["*.wild.test"], "wild-tls"),
                                             (["broken.test"], "broken-tls")]))
        cls.dir = d
        cls.p = t.start_portico(d)

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()
        cls.up.stop()

    def test_exact_host_gets_its_certificate(self):
        self.assertEqual(t.peer_certificate(self.p.https_port, "a.test"), self.exact.der)
        status, headers, _ = t.curl(self.p.https_port, "a.test", ca=self.ca)
        self.assertEqual(status, 200)
        self.assertEqual(headers.get("x-upstream-name"), "plain")

    def test_server_name_is_matched_case_insensitively(self):
        self.assertEqual(t.peer_certificate(self.p.https_port, "A.Test"), self.exact.der)

    def test_wildcard_host_gets_the_wildcard_certificate(self):
        self.assertEqual(t.peer_certificate(self.p.https_port, "x.wild.test"), self.wild.der)
        self.assertEqual(t.peer_certificate(self.p.https_port, "other.wild.test"), self.wild.der)
        status, _, _ = t.curl(self.p.https_port, "x.wild.test", ca=self.ca)
        self.assertEqual(status, 200)
        # A wildcard covers one label only.
        self.assertEqual(t.subject_cn(t.peer_certificate(self.p.https_port, "a.b.wild.test")),
                         t.FAKE_CN)

    def test_unknown_name_gets_the_self_signed_default(self):
        der = t.peer_certificate(self.p.https_port, "unknown.test")
        self.assertEqual(t.subject_cn(der), t.FAKE_CN)
        # A host with rules but no spec.tls entry is also served the default.
        self.assertEqual(t.subject_cn(t.peer_certificate(self.p.https_port, "plain.test")),
                         t.FAKE_CN)

    def test_client_without_sni_gets_the_default(self):
        self.assertEqual(t.subject_cn(t.peer_certificate(self.p.https_port, None)), t.FAKE_CN)
        rc, out = t.s_client(self.p.https_port, server_name=None)
        self.assertTrue(t.handshake_ok(out), out)
        self.assertIn("Kubernetes Ingress Controller Fake Certificate", out)

    def test_broken_secret_falls_back_and_others_keep_serving(self):
        self.assertEqual(t.subject_cn(t.peer_certificate(self.p.https_port, "broken.test")),
                         t.FAKE_CN)
        # The broken host still answers over HTTPS (with the default certificate) ...
        r = t.https_request(self.p.https_port, "broken.test")
        self.assertEqual(r.status, 200)
        # ... and the good ones are untouched.
        self.assertEqual(t.peer_certificate(self.p.https_port, "a.test"), self.exact.der)
        self.assertEqual(t.curl(self.p.https_port, "a.test", ca=self.ca)[0], 200)

    def test_alpn_prefers_h2_then_http11(self):
        # RFC 7301 3.2: the server's preference (h2) wins whatever the client's order.
        _, out = t.s_client(self.p.https_port, "-alpn", "http/1.1,h2", server_name="a.test")
        self.assertIn("ALPN protocol: h2", out)
        _, out = t.s_client(self.p.https_port, "-alpn", "http/1.1", server_name="a.test")
        self.assertIn("ALPN protocol: http/1.1", out)
        _, out = t.s_client(self.p.https_port, "-alpn", "spdy/3", server_name="a.test")
        self.assertTrue(t.handshake_ok(out), out)
        self.assertIn("No ALPN negotiated", out)

    def test_ssl_expire_time_metric_per_host(self):
        v = self.p.wait_for(
            lambda: self.p.metric("nginx_ingress_controller_ssl_expire_time_seconds",
                                  host="a.test"))
        self.assertEqual(int(v), self.exact.not_after)
        w = self.p.metric("nginx_ingress_controller_ssl_expire_time_seconds", host="*.wild.test",
                          secret_name="wild-tls", namespace="default")
        self.assertEqual(int(w), self.wild.not_after)
        self.assertIsNone(self.p.metric("nginx_ingress_controller_ssl_expire_time_seconds",
                                        host="broken.test"))


class default_certificate_flag(unittest.TestCase):
    def test_default_ssl_certificate_serves_unknown_names(self):
        ca = t.CA()
        fallback = ca.issue("fallback.test")
        named = ca.issue("named.test")
        up = h.Upstream.start("plain")
        d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(
            d, "app.yaml", h.service("app", 80, [("127.0.0.1", up.port)]),
            t.tls_secret("fallback-tls", fallback, namespace="ops"),
            t.tls_secret("named-tls", named),
            t.tls_ingress("app", [("named.test", "/", "Prefix", "app", 80)],
                          tls=[(["named.test"], "named-tls")]))
        p = t.start_portico(d, "--default-ssl-certificate", "ops/fallback-tls")
        try:
            self.assertEqual(t.peer_certificate(p.https_port, "unknown.test"), fallback.der)
            self.assertEqual(t.peer_certificate(p.https_port, None), fallback.der)
            self.assertEqual(t.peer_certificate(p.https_port, "named.test"), named.der)
        finally:
            p.stop()
            up.stop()

    def test_https_port_zero_turns_https_off(self):
        up = h.Upstream.start("plain")
        d = h.simple_config(h.temp_dir(), [up])
        p = h.Portico.start(d, "--https-port", "0")
        try:
            self.assertRegex(p.stderr_text(), r"listening http=\d+ admin=\d+ https=0")
            self.assertEqual(p.get("/", host="app.test").status, 200)
        finally:
            p.stop()
            up.stop()


class handshake_lifecycle(unittest.TestCase):
    def start(self, *flags):
        up = h.Upstream.start("plain")
        self.addCleanup(up.stop)
        return t.start_portico(h.simple_config(h.temp_dir(), [up]), *flags)

    def test_stalled_handshake_is_closed_after_the_client_header_timeout(self):
        p = self.start("--client-header-timeout", "1s")
        try:
            with h.Conn(p.https_port) as c:  # TCP only: no ClientHello ever comes
                self.assertTrue(c.closed_by_peer(timeout=20))
            # A half-sent ClientHello too.
            with h.Conn(p.https_port) as c:
                c.send(b"\x16\x03\x01\x00\xff\x01")
                self.assertTrue(c.closed_by_peer(timeout=20))
            self.assertEqual(t.https_request(p.https_port, "app.test").status, 200)
        finally:
            p.stop()

    def test_shutdown_does_not_wait_for_connections_still_handshaking(self):
        p = self.start("--shutdown-grace", "120s")
        stalled = h.Conn(p.https_port)
        try:
            self.assertEqual(t.https_request(p.https_port, "app.test").status, 200)
            p.send_signal(15)
            self.assertEqual(p.wait(timeout=30), 0)
            self.assertTrue(stalled.closed_by_peer(timeout=5))
        finally:
            stalled.close()
            p.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
