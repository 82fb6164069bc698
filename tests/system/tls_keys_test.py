#!/usr/bin/python3
"""The certificates users have, served to the clients they have: RSA 2048, 3072 and 4096 and
ECDSA P-256 and P-384 leaves (the self-signed ECDSA default never shadows an RSA Secret), chains
sent in full, a host carrying an RSA and an ECDSA certificate (two Secrets, in one Ingress or
two) with the client's signature algorithms choosing, exact and wildcard hosts, the default
certificate for unknown names, --default-ssl-certificate with an RSA Secret, and a Secret
rotated RSA -> ECDSA -> RSA picked up by the next handshake. Clients: openssl s_client (with
-sigalgs to offer one key type only) and curl verifying against the test CA."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402

OLDER = "2024-01-01T00:00:00Z"
YOUNGER = "2024-02-01T00:00:00Z"

RSA_ONLY_TLS13 = ("-tls1_3", "-sigalgs", "RSA-PSS+SHA256")
RSA_ONLY_TLS12 = ("-tls1_2", "-sigalgs", "RSA+SHA256")
ECDSA_ONLY = ("-sigalgs", "ECDSA+SHA256")
# curl has no signature-algorithm option; TLS 1.2 with ECDHE-RSA ciphers only asks for RSA.
CURL_RSA_ONLY = ("--tls-max", "1.2", "--ciphers", "ECDHE-RSA-AES128-GCM-SHA256")
CURL_ECDSA_ONLY = ("--tls-max", "1.2", "--ciphers", "ECDHE-ECDSA-AES128-GCM-SHA256")


class keys(unittest.TestCase):
    """One Portico serving every shape on its own host."""

    @classmethod
    def setUpClass(cls):
        ec_root = t.CA("Test EC Root")
        rsa_root = t.CA("Test RSA Root", key="rsa2048")
        cls.ec_root, cls.rsa_root = ec_root, rsa_root
        ec_mid = t.CA("Test EC Intermediate", key="p384", parent=ec_root)
        rsa_mid = t.CA("Test RSA Intermediate", key="rsa2048", parent=rsa_root)
        c = {}
        for kind in ("rsa2048", "rsa3072", "rsa4096"):
            c[kind] = rsa_root.issue(f"{kind}.test", key=kind)
        for kind in ("p256", "p384"):
            c[kind] = ec_root.issue(f"{kind}.test", key=kind)
        c["ec-chain"] = ec_mid.issue("ec-chain.test", key="p256", slot=1)
        c["rsa-chain"] = rsa_mid.issue("rsa-chain.test", key="rsa2048")
        c["dual-rsa"] = rsa_root.issue("dual.test", "*.wdual.test", key="rsa2048")
        c["dual-ec"] = ec_root.issue("dual.test", "*.wdual.test")
        c["split-rsa"] = rsa_root.issue("split.test", key="rsa2048")
        c["split-ec"] = ec_root.issue("split.test")
        c["wild-rsa"] = rsa_root.issue("*.wild.test", key="rsa2048")
        c["exact-ec"] = ec_root.issue("exact.wild.test")
        c["dup-a"] = ec_root.issue("dup.test")
        c["dup-b"] = ec_root.issue("dup.test", key="p384")
        c["rot-rsa"] = rsa_root.issue("rot.test", key="rsa2048")
        c["rot-ec"] = ec_root.issue("rot.test")
        c["rot-rsa2"] = rsa_root.issue("rot.test", key="rsa2048", slot=1)
        cls.c = c
        cls.up = h.Upstream.start("plain")
        d = h.temp_dir()
        hosts = ["rsa2048.test", "rsa3072.test", "rsa4096.test", "p256.test", "p384.test",
                 "ec-chain.test", "rsa-chain.test", "dual.test", "*.wdual.test", "*.wild.test",
                 "exact.wild.test", "dup.test", "rot.test"]
        tls = [([f"{k}.test"], k) for k in ("rsa2048", "rsa3072", "rsa4096", "p256", "p384",
                                            "ec-chain", "rsa-chain")]
        tls += [(["dual.test", "*.wdual.test"], "dual-rsa"),
                (["dual.test", "*.wdual.test"], "dual-ec"),
                (["*.wild.test"], "wild-rsa"), (["exact.wild.test"], "exact-ec"),
                (["dup.test"], "dup-a"), (["dup.test"], "dup-b"), (["rot.test"], "rot")]
        secrets = [t.tls_secret(name, cert) for name, cert in c.items()
                   if not name.startswith("rot-")]
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(
            d, "app.yaml", h.service("app", 80, [("127.0.0.1", cls.up.port)]), *secrets,
            t.tls_ingress("keys", [(x, "/", "Prefix", "app", 80) for x in hosts], tls=tls,
                          creation_timestamp=OLDER),
            # One host, an RSA Secret from the older Ingress and an ECDSA one from the younger.
            t.tls_ingress("split-old", [("split.test", "/", "Prefix", "app", 80)],
                          tls=[(["split.test"], "split-rsa")], creation_timestamp=OLDER),
            t.tls_ingress("split-young", [("split.test", "/young", "Prefix", "app", 80)],
                          tls=[(["split.test"], "split-ec")], creation_timestamp=YOUNGER))
        cls.dir = d
        cls.write_rotated(c["rot-rsa"])
        cls.p = t.start_portico(d)

    @classmethod
    def write_rotated(cls, cert):
        h.write_manifests(cls.dir, "rot.yaml", t.tls_secret("rot", cert))

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()
        cls.up.stop()

    def chain(self, host, *args):
        return t.served_chain(self.p.https_port, host, *args)

    def assert_leaf(self, host, cert, *args):
        got, out = self.chain(host, *args)
        self.assertTrue(got, f"no handshake for {host} {args}:\n{out}")
        self.assertEqual(got[0], cert.der,
                         f"{host} {args}: served {t.subject_cn(got[0])!r}, not the Secret's")

    def curl_ok(self, host, ca, *extra):
        status, _, _ = t.curl(self.p.https_port, host, ca=ca, extra=extra)
        self.assertEqual(status, 200, host)

    def test_every_key_size_is_served_to_default_clients(self):
        for kind, ca in (("rsa2048", self.rsa_root), ("rsa3072", self.rsa_root),
                         ("rsa4096", self.rsa_root), ("p256", self.ec_root),
                         ("p384", self.ec_root)):
            with self.subTest(kind):
                host = f"{kind}.test"
                self.assert_leaf(host, self.c[kind])
                self.assertEqual(t.peer_certificate(self.p.https_port, host), self.c[kind].der)
                self.curl_ok(host, ca)

    def test_rsa_certificate_is_served_to_rsa_only_clients(self):
        for kind in ("rsa2048", "rsa4096"):
            self.assert_leaf(f"{kind}.test", self.c[kind], *RSA_ONLY_TLS13)
            self.assert_leaf(f"{kind}.test", self.c[kind], *RSA_ONLY_TLS12)
        self.curl_ok("rsa3072.test", self.rsa_root, *CURL_RSA_ONLY)

    def test_chain_with_an_intermediate_is_sent_in_full(self):
        for name, ca in (("ec-chain", self.ec_root), ("rsa-chain", self.rsa_root)):
            with self.subTest(name):
                got, out = self.chain(f"{name}.test")
                self.assertEqual(got, self.c[name].chain_der, out)
                self.assertEqual(len(got), 2)
                # curl trusts the root only: it needs the intermediate from the server.
                self.curl_ok(f"{name}.test", ca)

    def test_host_with_rsa_and_ecdsa_serves_what_the_client_can_verify(self):
        rsa, ec = self.c["dual-rsa"], self.c["dual-ec"]
        for host in ("dual.test", "a.wdual.test"):
            with self.subTest(host):
                self.assert_leaf(host, rsa, *RSA_ONLY_TLS13)
                self.assert_leaf(host, rsa, *RSA_ONLY_TLS12)
                self.assert_leaf(host, ec, *ECDSA_ONLY)
                self.assert_leaf(host, ec, "-tls1_2", "-sigalgs", "ECDSA+SHA256")
                # Clients that can do both get ECDSA (OpenSSL's order, server preference).
                self.assert_leaf(host, ec)
                self.curl_ok(host, self.rsa_root, *CURL_RSA_ONLY)
                self.curl_ok(host, self.ec_root, *CURL_ECDSA_ONLY)
                self.curl_ok(host, self.ec_root)

    def test_expiry_metric_has_a_series_per_certificate_of_a_host(self):
        for secret in ("dual-rsa", "dual-ec"):
            v = self.p.wait_for(lambda: self.p.metric(
                "nginx_ingress_controller_ssl_expire_time_seconds", host="dual.test",
                secret_name=secret, namespace="default"))
            self.assertEqual(int(v), self.c[secret].not_after)

    def test_rsa_and_ecdsa_from_two_ingresses_share_the_host(self):
        self.assert_leaf("split.test", self.c["split-rsa"], *RSA_ONLY_TLS13)
        self.assert_leaf("split.test", self.c["split-ec"], *ECDSA_ONLY)
        self.curl_ok("split.test", self.rsa_root, *CURL_RSA_ONLY)

    def test_second_certificate_of_one_key_type_is_refused_the_older_stays(self):
        self.assert_leaf("dup.test", self.c["dup-a"])
        self.assert_leaf("dup.test", self.c["dup-a"], *ECDSA_ONLY)
        self.assertRegex(
            self.p.stderr_text(),
            r"Ingress default/keys: spec\.tls\[\d+\]\.hosts\[0\]: host \\?\"dup\.test\\?\" "
            r"already gets an EC certificate from Secret default/dup-a")

    def test_wildcard_and_exact_hosts(self):
        for host in ("a.wild.test", "other.wild.test"):
            self.assert_leaf(host, self.c["wild-rsa"])
            self.assert_leaf(host, self.c["wild-rsa"], *RSA_ONLY_TLS12)
        self.curl_ok("b.wild.test", self.rsa_root)
        self.assert_leaf("exact.wild.test", self.c["exact-ec"])
        # One label only: a.b.wild.test is an unknown name.
        got, _ = self.chain("a.b.wild.test")
        self.assertEqual(t.subject_cn(got[0]), t.FAKE_CN)

    def test_unknown_names_get_the_self_signed_default(self):
        for args in ((), ECDSA_ONLY):
            got, out = self.chain("unknown.test", *args)
            self.assertTrue(got, out)
            self.assertEqual(t.subject_cn(got[0]), t.FAKE_CN)
        got, out = t.served_chain(self.p.https_port, None)
        self.assertEqual(t.subject_cn(got[0]), t.FAKE_CN, out)

    def test_rotation_between_rsa_and_ecdsa_reaches_the_next_handshake(self):
        c = self.c
        self.assert_leaf("rot.test", c["rot-rsa"])
        for new in (c["rot-ec"], c["rot-rsa2"]):
            self.write_rotated(new)
            h.wait_until(lambda: self.chain("rot.test")[0][:1] == [new.der], timeout=30)
            self.assert_leaf("rot.test", new, *(ECDSA_ONLY if new is c["rot-ec"]
                                                else RSA_ONLY_TLS13))
        # Only one key type is there now: an ECDSA-only client has nothing to verify.
        got, _ = self.chain("rot.test", *ECDSA_ONLY)
        self.assertEqual(got, [])


class default_certificate(unittest.TestCase):
    def test_rsa_default_ssl_certificate_is_served_to_ecdsa_capable_clients(self):
        rsa_root = t.CA("Test RSA Root", key="rsa2048")
        fallback = rsa_root.issue("fallback.test", key="rsa2048")
        named = t.CA().issue("named.test")
        up = h.Upstream.start("plain")
        d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(
            d, "app.yaml", h.service("app", 80, [("127.0.0.1", up.port)]),
            t.tls_secret("fallback-tls", fallback, namespace="ops"),
            t.tls_secret("named-tls", named),
            t.tls_ingress("app", [("named.test", "/", "Prefix", "app", 80),
                                  ("fallback.test", "/", "Prefix", "app", 80)],
                          tls=[(["named.test"], "named-tls")]))
        p = t.start_portico(d, "--default-ssl-certificate", "ops/fallback-tls")
        try:
            for name in ("unknown.test", "fallback.test", None):
                got, out = t.served_chain(p.https_port, name)
                self.assertEqual(got[:1], [fallback.der], out)
            got, out = t.served_chain(p.https_port, "unknown.test", *RSA_ONLY_TLS13)
            self.assertEqual(got[:1], [fallback.der], out)
            self.assertEqual(t.peer_certificate(p.https_port, "named.test"), named.der)
            status, _, _ = t.curl(p.https_port, "fallback.test", ca=rsa_root)
            self.assertEqual(status, 200)
        finally:
            p.stop()
            up.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
