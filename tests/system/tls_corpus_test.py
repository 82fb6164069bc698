#!/usr/bin/python3
"""The certificate corpus (tests/data/certs/manifest.yaml) served by the real binary: one
Portico, one host per entry. Each served entry answers a TLS handshake (s_client -showcerts)
with its tls.crt's certificates in the order given, and curl verifies it against its CA when
the chain is complete and valid; each refused entry's host gets the self-signed default, and
Portico logs the build error the manifest names against the Secret (served entries outside
their validity period are logged too)."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402

sys.path.insert(0, str(h.source_dir() / "tests" / "data" / "certs"))
import corpus  # noqa: E402


def logged_errors(p):
    """The "config object error" texts Portico logged."""
    out = []
    for line in p.stderr_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if rec.get("msg") == "config object error":
            out.append(rec.get("error", ""))
    return out


class corpus_served(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.entries = corpus.generate()
        cls.up = h.Upstream.start("plain")
        d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(d, "app.yaml", h.service("app", 80, [("127.0.0.1", cls.up.port)]),
                          corpus.ingress_yaml(cls.entries))
        h.write_manifests(d, "secrets.yaml", *[corpus.secret_yaml(e) for e in cls.entries])
        cls.p = t.start_portico(d)
        cls.p.wait_line(r'"msg":"config loaded"')

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()
        cls.up.stop()

    def test_served_entries_send_their_chain_as_given(self):
        served = [e for e in self.entries if e.expect == "served"]
        self.assertGreater(len(served), 15)
        for e in served:
            with self.subTest(e.name, source=e.source):
                got, out = t.served_chain(self.p.https_port, e.host)
                self.assertEqual(got, e.chain_der, out)

    def test_verifiable_entries_pass_curl_verification(self):
        d = h.temp_dir("portico-trust-")
        for e in self.entries:
            if e.expect != "served" or not e.verifiable:
                continue
            with self.subTest(e.name, source=e.source):
                trust = d / f"{e.name}.pem"
                trust.write_text(e.trust_pem)
                argv = ["--cacert", str(trust)]
                r = h.curl("--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}",
                           "--resolve", f"{e.host}:{self.p.https_port}:127.0.0.1",
                           f"https://{e.host}:{self.p.https_port}/", *argv)
                self.assertEqual(r.stdout.decode(), "200", r.stderr.decode())

    def test_refused_entries_get_the_default_and_their_error_is_logged(self):
        refused = [e for e in self.entries if e.expect == "refused"]
        self.assertGreater(len(refused), 5)
        for e in refused:
            with self.subTest(e.name, source=e.source):
                got, out = t.served_chain(self.p.https_port, e.host)
                self.assertTrue(got, out)
                self.assertEqual(t.subject_cn(got[0]), t.FAKE_CN)

    def test_every_error_the_manifest_names_is_logged_and_no_other(self):
        logged = logged_errors(self.p)
        for e in self.entries:
            if not e.error:
                continue
            with self.subTest(e.name, source=e.source):
                want = f"Secret {e.secret_name()}: {' '.join(e.error.split())}"
                self.assertTrue(any(want in line for line in logged),
                                f"{want!r} not in:\n" + "\n".join(logged))
        self.assertEqual(len(logged), sum(1 for e in self.entries if e.error),
                         "\n".join(logged))


if __name__ == "__main__":
    unittest.main(verbosity=2)
