#!/usr/bin/python3
"""TLS policy: TLS 1.0 and 1.1 refused, 1.2 and 1.3 accepted (openssl s_client, and a
testssl.sh audit of protocols, server cipher order and the cipher list), no CBC or non-ECDHE
TLS 1.2 ciphers, and session resumption (TLS 1.3 tickets, TLS 1.2 tickets, TLS 1.2 session
IDs from the server cache) with `s_client -sess_out/-sess_in`."""

import json
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402

# The client side must be willing to speak the old protocols, so that a failure is the server's.
LEGACY = ["-cipher", "DEFAULT:@SECLEVEL=0"]
CLOSE_REQUEST = b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"


class protocols(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.ca = t.CA()
        cls.cert = cls.ca.issue("a.test")
        cls.up = h.Upstream.start("plain")
        d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(
            d, "app.yaml", h.service("app", 80, [("127.0.0.1", cls.up.port)]),
            t.tls_secret("a-tls", cls.cert),
            t.tls_ingress("app", [("a.test", "/", "Prefix", "app", 80)],
                          tls=[(["a.test"], "a-tls")]))
        cls.p = t.start_portico(d, "--access-log=false")

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()
        cls.up.stop()

    def s_client(self, *args, stdin=b""):
        return t.s_client(self.p.https_port, *args, server_name="a.test", stdin=stdin)

    def test_tls10_and_tls11_are_refused(self):
        for flag in ("-tls1", "-tls1_1"):
            with self.subTest(protocol=flag):
                rc, out = self.s_client(flag, *LEGACY)
                self.assertNotEqual(rc, 0, out)
                self.assertFalse(t.handshake_ok(out), out)
                # The server answered with an alert (the client did try the protocol).
                self.assertRegex(out, r"alert protocol version|unsupported protocol|"
                                      r"wrong version number|tlsv1 alert", out)

    def test_tls12_and_tls13_are_accepted(self):
        rc, out = self.s_client("-tls1_2")
        self.assertTrue(t.handshake_ok(out), out)
        self.assertIn("Protocol  : TLSv1.2", out)
        rc, out = self.s_client("-tls1_3")
        self.assertTrue(t.handshake_ok(out), out)
        self.assertRegex(out, r"New, TLSv1\.3, Cipher is TLS_")

    def test_tls12_without_ecdhe_aead_is_refused(self):
        for cipher in ("ECDHE-ECDSA-AES128-SHA", "AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-SHA384"):
            with self.subTest(cipher=cipher):
                rc, out = self.s_client("-tls1_2", "-cipher", cipher)
                self.assertFalse(t.handshake_ok(out), out)
        rc, out = self.s_client("-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305")
        self.assertTrue(t.handshake_ok(out), out)

    def test_server_cipher_preference(self):
        # The client prefers CHACHA20; the server's order puts AES-128-GCM first.
        rc, out = self.s_client("-tls1_2", "-cipher",
                                "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-ECDSA-AES128-GCM-SHA256")
        self.assertIn("Cipher is ECDHE-ECDSA-AES128-GCM-SHA256", out)

    def resumes(self, *flags):
        sess = h.temp_dir("portico-sess-") / "sess.pem"
        # A whole request/response (the server closes after it), so that TLS 1.3 tickets,
        # which follow the handshake, have arrived before s_client writes the session.
        rc, out = self.s_client(*flags, "-ign_eof", "-sess_out", str(sess), stdin=CLOSE_REQUEST)
        self.assertTrue(t.handshake_ok(out), out)
        self.assertIn("HTTP/1.1 200", out)
        reused = []
        for _ in range(6):  # two workers: reconnections land on either
            rc, out = self.s_client(*flags, "-sess_in", str(sess))
            self.assertTrue(t.handshake_ok(out), out)
            reused.append("Reused," in out)
        return reused

    def test_resumption_tls13_tickets(self):
        self.assertEqual(self.resumes("-tls1_3"), [True] * 6)

    def test_resumption_tls12_tickets(self):
        self.assertEqual(self.resumes("-tls1_2"), [True] * 6)

    def test_resumption_tls12_session_cache(self):
        self.assertEqual(self.resumes("-tls1_2", "-no_ticket"), [True] * 6)

    @unittest.skipUnless(shutil.which("testssl"), "testssl.sh is not installed")
    def test_testssl_protocols_and_cipher_order(self):
        js = h.temp_dir("portico-testssl-") / "out.json"
        r = subprocess.run(["testssl", "--quiet", "--color", "0", "--warnings", "off",
                            "--protocols", "--server-preference", "--jsonfile", str(js),
                            f"127.0.0.1:{self.p.https_port}"],
                           capture_output=True, text=True, timeout=300)
        findings = {e["id"]: e["finding"] for e in json.loads(js.read_text())}
        for proto in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
            self.assertEqual(findings.get(proto), "not offered", (proto, r.stdout[-3000:]))
        self.assertTrue(findings.get("TLS1_2", "").startswith("offered"), findings)
        self.assertTrue(findings.get("TLS1_3", "").startswith("offered"), findings)
        self.assertEqual(findings.get("cipher_order"), "server", findings)
        self.assertEqual(findings.get("ALPN"), "http/1.1", findings)
        tls12 = findings.get("cipherorder_TLSv1_2", "").split()
        self.assertTrue(tls12, findings)
        for c in tls12:
            self.assertRegex(c, r"^ECDHE-(ECDSA|RSA)-(AES(128|256)-GCM-SHA(256|384)|"
                                r"CHACHA20-POLY1305)$")
        self.assertEqual(findings.get("cipherorder_TLSv1_3", "").split(),
                         ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                          "TLS_CHACHA20_POLY1305_SHA256"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
