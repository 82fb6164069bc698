#!/usr/bin/python3
"""Client certificates (ingress-nginx's auth-tls-* annotations) against the real binary over
HTTPS, with a PKI made here by python3-cryptography: a client CA (with a CRL revoking one of its
certificates), clients alice and bob (CN=<name>,O=Test) signed by it, one of its certificates
revoked, one expired, one signed by another CA, and an intermediate CA's leaf.

verify-client on: no certificate -> 400 "No required SSL certificate was sent"; a certificate of
another CA, a revoked or an expired one -> 400 "The SSL certificate error"; a good one is proxied
with ssl-client-verify SUCCESS and the subject and issuer DNs (RFC 2253). optional: no certificate
is proxied (NONE), a bad one is 400; optional_no_ca: a bad certificate is proxied with
"FAILED:<reason>". match-cn answers 403 to a good certificate of another subject;
pass-certificate-to-upstream sends the URL-encoded PEM; a client's own ssl-client-* headers are
replaced; error-page redirects (302) a missing or bad certificate; verify-depth lets a chain
through an intermediate CA. SNI cannot skip mutual TLS: a Host that wants client certificates on
a connection whose SNI does not (and the other way round) gets 421. Plain HTTP gets the HTTPS
redirect, or 400 with ssl-redirect "false". A refused configuration (Secret missing, in another
namespace, without ca.crt; match-cn without "CN=") makes the Ingress's routes answer 503 and is
reported by `portico routes`. /debug/snapshot shows client_certificates, never the CA."""

import datetime
import json
import os
import socket
import sys
import unittest
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402
from routes_cli_test import error_lines  # noqa: E402

A = "nginx.ingress.kubernetes.io/"

# ---------------------------------------------------------------------------- client PKI


def _now():
    return datetime.datetime.now(datetime.timezone.utc)


def _name(cn, org="Test"):
    # Written O first: its RFC 2253 form is "CN=<cn>,O=<org>".
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


class ClientCA:
    def __init__(self, cn, parent=None):
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = _name(cn)
        signer = parent.key if parent else self.key
        self.cert = (x509.CertificateBuilder()
                     .subject_name(self.name)
                     .issuer_name(parent.name if parent else self.name)
                     .public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number())
                     .not_valid_before(_now() - datetime.timedelta(days=1))
                     .not_valid_after(_now() + datetime.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
                     .add_extension(x509.KeyUsage(False, False, False, False, False, True, True,
                                                  False, False), True)
                     .sign(signer, hashes.SHA256()))
        self.pem = _pem(self.cert)

    def issue(self, cn, expired=False, chain=()):
        key = ec.generate_private_key(ec.SECP256R1())
        if expired:
            before, after = _now() - datetime.timedelta(days=10), _now() - datetime.timedelta(days=1)
        else:
            before, after = _now() - datetime.timedelta(days=1), _now() + datetime.timedelta(days=30)
        cert = (x509.CertificateBuilder()
                .subject_name(_name(cn)).issuer_name(self.name)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(before).not_valid_after(after)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]),
                               False)
                .sign(self.key, hashes.SHA256()))
        return ClientCert(cert, key, chain)

    def crl(self, *revoked):
        b = (x509.CertificateRevocationListBuilder().issuer_name(self.name)
             .last_update(_now() - datetime.timedelta(days=1))
             .next_update(_now() + datetime.timedelta(days=30)))
        for c in revoked:
            b = b.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(c.cert.serial_number)
                .revocation_date(_now() - datetime.timedelta(hours=1)).build())
        return b.sign(self.key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


class ClientCert:
    def __init__(self, cert, key, chain=()):
        self.cert = cert
        self.pem = _pem(cert)
        d = h.temp_dir("portico-client-")
        self.cert_file = str(d / "cert.pem")
        self.key_file = str(d / "key.pem")
        (d / "cert.pem").write_text(self.pem + "".join(_pem(c) for c in chain))
        (d / "key.pem").write_text(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()).decode())


def opaque(name, data, namespace="default"):
    return (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {json.dumps(name)}\n"
            f"  namespace: {json.dumps(namespace)}\ntype: Opaque\ndata:\n" +
            "".join(f"  {json.dumps(k)}: {t._b64(v)}\n" for k, v in data.items()))


# ---------------------------------------------------------------------------- configuration

# Ingress name -> annotations (besides auth-tls-secret "client-ca" unless given); the host is
# "<name>.test", with spec.tls.
SERVED = {
    "secure": {},
    "optional": {A + "auth-tls-verify-client": "optional"},
    "noca": {A + "auth-tls-verify-client": "optional_no_ca"},
    "cn": {A + "auth-tls-match-cn": "CN=alice"},
    "pass": {A + "auth-tls-secret": "default/client-ca-tls",
             A + "auth-tls-pass-certificate-to-upstream": "true"},
    "errpage": {A + "auth-tls-error-page": "https://errors.example/cert"},
    "nossl": {A + "ssl-redirect": "false"},
    "deep": {A + "auth-tls-secret": "chain-ca", A + "auth-tls-verify-depth": "2"},
    "shallow": {A + "auth-tls-secret": "chain-ca"},
}
# Refused: Ingress name -> (annotations, the annotation named in the error, error fragment).
REFUSED = {
    "missing": ({A + "auth-tls-secret": "nothere"}, "auth-tls-secret", "not found"),
    "foreign": ({A + "auth-tls-secret": "other/client-ca"}, "auth-tls-secret",
                "another namespace"),
    "nokey": ({A + "auth-tls-secret": "no-ca-key"}, "auth-tls-secret", "ca.crt"),
    "badcn": ({A + "auth-tls-secret": "client-ca", A + "auth-tls-match-cn": "alice"},
              "auth-tls-match-cn", "CN="),
}

CA = CLIENTS = DIR = P = UP = SERVER_CA = None


def setUpModule():
    global CA, CLIENTS, DIR, P, UP, SERVER_CA
    CA = ClientCA("Client CA")
    other = ClientCA("Other CA")
    root = ClientCA("Chain Root")
    inter1 = ClientCA("Chain Intermediate 1", parent=root)
    inter = ClientCA("Chain Intermediate 2", parent=inter1)
    CLIENTS = {
        "alice": CA.issue("alice"),
        "bob": CA.issue("bob"),
        "revoked": CA.issue("carol"),
        "expired": CA.issue("dave", expired=True),
        "foreign": other.issue("mallory"),
        "deep": inter.issue("erin"),
        "one-intermediate": inter1.issue("frank"),
    }
    crl = CA.crl(CLIENTS["revoked"])
    SERVER_CA = t.CA("Server CA")
    hosts = [f"{n}.test" for n in SERVED] + ["open.test"]
    server = SERVER_CA.issue(*hosts)
    UP = h.Upstream.start("echo")
    DIR = d = h.temp_dir()
    h.write_manifests(d, "class.yaml", h.ingress_class())
    h.write_manifests(
        d, "secrets.yaml",
        t.tls_secret("server-tls", server),
        opaque("client-ca", {"ca.crt": CA.pem, "ca.crl": crl}),
        t.tls_secret("client-ca-tls", server, ca_pem=CA.pem),
        opaque("chain-ca", {"ca.crt": root.pem + inter1.pem + inter.pem}),
        opaque("no-ca-key", {"other": CA.pem}),
        opaque("client-ca", {"ca.crt": CA.pem}, namespace="other"))
    docs = [h.service("echo", 80, [("127.0.0.1", UP.port)])]
    for name, ann in SERVED.items():
        docs.append(t.tls_ingress(name, [(f"{name}.test", "/", "Prefix", "echo", 80)],
                                  tls=[([f"{name}.test"], "server-tls")],
                                  annotations={A + "auth-tls-secret": "client-ca", **ann}))
    docs.append(t.tls_ingress("open", [("open.test", "/", "Prefix", "echo", 80)],
                              tls=[(["open.test"], "server-tls")]))
    for name, (ann, _, _) in REFUSED.items():
        docs.append(h.ingress(name, [(f"{name}.test", "/", "Prefix", "echo", 80)],
                              annotations=ann))
    h.write_manifests(d, "ingresses.yaml", *docs)
    P = t.start_portico(d)


def tearDownModule():
    for p in (P, UP):
        if p is not None:
            p.stop()


def https(sni, client=None, host=None, headers=None, path="/"):
    """One GET over a fresh TLS connection with SNI `sni` (Host `host`, default the SNI),
    presenting `client` (a CLIENTS key) or no certificate."""
    ctx = t.client_context(verify=False)
    if client is not None:
        ctx.load_cert_chain(CLIENTS[client].cert_file, CLIENTS[client].key_file)
    raw = socket.create_connection(("127.0.0.1", P.https_port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname=sni)
    c = h.Conn.__new__(h.Conn)
    c.sock, c.buf = s, b""
    try:
        return c.request("GET", path, host=host or sni,
                         headers={"Connection": "close", **(headers or {})})
    finally:
        s.close()


class client_certificates(unittest.TestCase):
    def assert_proxied(self, r):
        self.assertEqual((r.status, r.header("X-Upstream-Name")), (200, "echo"), r.body[:300])

    def assert_refused(self, r, status, text):
        self.assertEqual(r.status, status, r.body[:300])
        self.assertIsNone(r.header("X-Upstream-Name"))
        self.assertIn(text.encode(), r.body)

    def test_verify_on_refuses_missing_and_bad_certificates(self):
        self.assert_refused(https("secure.test"), 400, "No required SSL certificate was sent")
        for bad in ("foreign", "revoked", "expired"):
            with self.subTest(bad):
                self.assert_refused(https("secure.test", bad), 400, "The SSL certificate error")

    def test_verify_on_proxies_a_good_certificate_with_its_headers(self):
        for who in ("alice", "bob"):
            r = https("secure.test", who, path=f"/{who}")
            self.assert_proxied(r)
            self.assertEqual(r.json()["target"], f"/{who}")
            self.assertEqual(r.echo_header("ssl-client-verify"), ["SUCCESS"])
            self.assertEqual(r.echo_header("ssl-client-subject-dn"), [f"CN={who},O=Test"])
            self.assertEqual(r.echo_header("ssl-client-issuer-dn"), ["CN=Client CA,O=Test"])
            # No pass-certificate-to-upstream: no certificate.
            self.assertEqual(r.echo_header("ssl-client-cert"), [])

    def test_curl_with_a_client_certificate(self):
        alice = CLIENTS["alice"]
        status, headers, body = t.curl(P.https_port, "secure.test", ca=SERVER_CA,
                                       extra=["--cert", alice.cert_file, "--key", alice.key_file])
        self.assertEqual((status, headers.get("x-upstream-name")), (200, "echo"), body[:300])
        status, _, body = t.curl(P.https_port, "secure.test", ca=SERVER_CA)
        self.assertEqual(status, 400)
        self.assertIn("No required SSL certificate was sent", body)

    def test_client_supplied_ssl_client_headers_are_replaced(self):
        forged = {"ssl-client-verify": "SUCCESS", "ssl-client-subject-dn": "CN=admin,O=Test",
                  "ssl-client-cert": "forged"}
        r = https("optional.test", headers=forged)
        self.assert_proxied(r)
        self.assertEqual(r.echo_header("ssl-client-verify"), ["NONE"])
        self.assertNotIn("CN=admin,O=Test", r.echo_header("ssl-client-subject-dn"))
        # Without pass-certificate-to-upstream a client's own ssl-client-cert is removed
        # (ingress-nginx lets it through); with it, the real one replaces it.
        self.assertEqual(r.echo_header("ssl-client-cert"), [])
        r = https("pass.test", "alice", headers=forged)
        self.assert_proxied(r)
        self.assertEqual(r.echo_header("ssl-client-verify"), ["SUCCESS"])
        sent = r.echo_header("ssl-client-cert")
        self.assertEqual(len(sent), 1, sent)
        self.assertEqual(urllib.parse.unquote(sent[0]).strip(), CLIENTS["alice"].pem.strip())
        r = https("secure.test", "bob", headers=forged)
        self.assert_proxied(r)
        self.assertEqual(r.echo_header("ssl-client-verify"), ["SUCCESS"])
        self.assertEqual(r.echo_header("ssl-client-subject-dn"), ["CN=bob,O=Test"])
        # A forged header never passes verify on without a certificate.
        self.assert_refused(https("secure.test", headers=forged), 400,
                            "No required SSL certificate was sent")

    def test_optional(self):
        r = https("optional.test")
        self.assert_proxied(r)
        self.assertEqual(r.echo_header("ssl-client-verify"), ["NONE"])
        r = https("optional.test", "alice")
        self.assert_proxied(r)
        self.assertEqual(r.echo_header("ssl-client-verify"), ["SUCCESS"])
        self.assertEqual(r.echo_header("ssl-client-subject-dn"), ["CN=alice,O=Test"])
        for bad in ("foreign", "revoked"):
            with self.subTest(bad):
                self.assert_refused(https("optional.test", bad), 400, "The SSL certificate error")

    def test_optional_no_ca(self):
        r = https("noca.test", "foreign")
        self.assert_proxied(r)
        verify = r.echo_header("ssl-client-verify")
        self.assertEqual(len(verify), 1, verify)
        self.assertTrue(verify[0].startswith("FAILED:") and len(verify[0]) > len("FAILED:"),
                        verify)
        self.assertEqual(r.echo_header("ssl-client-subject-dn"), ["CN=mallory,O=Test"])
        self.assertEqual(r.echo_header("ssl-client-issuer-dn"), ["CN=Other CA,O=Test"])
        r = https("noca.test", "alice")
        self.assert_proxied(r)
        self.assertEqual(r.echo_header("ssl-client-verify"), ["SUCCESS"])
        r = https("noca.test")
        self.assert_proxied(r)
        self.assertEqual(r.echo_header("ssl-client-verify"), ["NONE"])

    def test_match_cn(self):
        r = https("cn.test", "alice")
        self.assert_proxied(r)
        self.assertEqual(r.echo_header("ssl-client-subject-dn"), ["CN=alice,O=Test"])
        r = https("cn.test", "bob")
        self.assertEqual(r.status, 403, r.body[:300])
        self.assertIsNone(r.header("X-Upstream-Name"))
        # Verification still comes first.
        self.assert_refused(https("cn.test"), 400, "No required SSL certificate was sent")
        self.assert_refused(https("cn.test", "foreign"), 400, "The SSL certificate error")

    def test_pass_certificate_to_upstream_with_a_tls_secret(self):
        r = https("pass.test", "alice")
        self.assert_proxied(r)
        self.assertEqual(r.echo_header("ssl-client-verify"), ["SUCCESS"])
        sent = r.echo_header("ssl-client-cert")
        self.assertEqual(len(sent), 1, sent)
        self.assertNotIn("\n", sent[0])
        self.assertNotIn(" ", sent[0])
        self.assertTrue(sent[0].startswith("-----BEGIN%20CERTIFICATE-----"), sent[0][:60])
        self.assertEqual(urllib.parse.unquote(sent[0]).strip(), CLIENTS["alice"].pem.strip())
        self.assert_refused(https("pass.test"), 400, "No required SSL certificate was sent")

    def test_error_page_redirects_missing_and_bad_certificates(self):
        for client in (None, "foreign", "revoked"):
            with self.subTest(client):
                r = https("errpage.test", client)
                self.assertEqual(r.status, 302, r.body[:300])
                self.assertEqual(r.header("Location"), "https://errors.example/cert")
                self.assertIsNone(r.header("X-Upstream-Name"))
        self.assert_proxied(https("errpage.test", "alice"))

    def test_verify_depth(self):
        # erin <- Chain Intermediate 2 <- Chain Intermediate 1 <- Chain Root. OpenSSL's depth
        # (nginx's ssl_verify_depth) counts the intermediates, not the trust anchor: depth 1
        # allows one intermediate, this chain needs 2.
        r = https("deep.test", "deep")
        self.assert_proxied(r)
        self.assertEqual(r.echo_header("ssl-client-subject-dn"), ["CN=erin,O=Test"])
        self.assertEqual(r.echo_header("ssl-client-issuer-dn"), ["CN=Chain Intermediate 2,O=Test"])
        # The default depth 1 is too short for it, long enough for a leaf of Intermediate 1.
        self.assert_refused(https("shallow.test", "deep"), 400, "The SSL certificate error")
        r = https("shallow.test", "one-intermediate")
        self.assert_proxied(r)
        self.assertEqual(r.echo_header("ssl-client-subject-dn"), ["CN=frank,O=Test"])
        self.assert_proxied(https("deep.test", "one-intermediate"))
        # Leaves of the client CA are not trusted by the chain CA's Secret.
        self.assert_refused(https("deep.test", "alice"), 400, "The SSL certificate error")

    def test_sni_cannot_skip_client_certificates(self):
        # SNI of a host without client certificates, Host of one with them.
        r = https("open.test", host="secure.test")
        self.assertEqual(r.status, 421, r.body[:300])
        self.assertIsNone(r.header("X-Upstream-Name"))
        r = https("open.test", "alice", host="secure.test")
        self.assertEqual(r.status, 421, r.body[:300])
        self.assertEqual(https("open.test", host="optional.test").status, 421)
        # The other way round: a good certificate for secure.test, Host open.test.
        r = https("secure.test", "alice", host="open.test")
        self.assertEqual(r.status, 421, r.body[:300])
        self.assertIsNone(r.header("X-Upstream-Name"))
        # Each with its own SNI is served.
        self.assert_proxied(https("open.test"))
        self.assert_proxied(https("secure.test", "alice"))
        self.assertEqual(https("open.test").echo_header("ssl-client-verify"), [])

    def test_sni_mismatch_with_openssl_s_client(self):
        alice = CLIENTS["alice"]
        req = b"GET / HTTP/1.1\r\nHost: secure.test\r\nConnection: close\r\n\r\n"
        _, out = t.s_client(P.https_port, "-quiet", "-cert", alice.cert_file, "-key",
                            alice.key_file, server_name="open.test", stdin=req)
        self.assertIn("HTTP/1.1 421", out, out[-2000:])
        _, out = t.s_client(P.https_port, "-quiet", "-cert", alice.cert_file, "-key",
                            alice.key_file, server_name="secure.test", stdin=req)
        self.assertIn("HTTP/1.1 200", out, out[-2000:])
        self.assertIn("SUCCESS", out)

    def test_plain_http(self):
        r = h.request(P.http_port, "GET", "/x?y=1", host="secure.test")
        self.assertEqual(r.status, 308, r.body[:300])
        self.assertEqual(r.header("Location"), f"https://secure.test:{P.https_port}/x?y=1")
        r = h.request(P.http_port, "GET", "/", host="nossl.test")
        self.assert_refused(r, 400, "No required SSL certificate was sent")
        # Forged headers do not help either.
        r = h.request(P.http_port, "GET", "/", host="nossl.test",
                      headers={"ssl-client-verify": "SUCCESS"})
        self.assert_refused(r, 400, "No required SSL certificate was sent")
        # ... while over HTTPS a good certificate is served.
        self.assert_proxied(https("nossl.test", "alice"))

    def test_tls_handshake_completes_and_asks_for_a_certificate(self):
        _, out = t.s_client(P.https_port, server_name="secure.test")
        self.assertTrue(t.handshake_ok(out), out[-2000:])
        # The CertificateRequest names the Secret's CA.
        self.assertRegex(out, r"Acceptable client certificate CA names\s*\n[^\n]*CN\s*=\s*Client CA")
        _, out = t.s_client(P.https_port, server_name="open.test")
        self.assertTrue(t.handshake_ok(out), out[-2000:])
        self.assertNotIn("Acceptable client certificate CA names", out)

    def test_refused_configurations_answer_503(self):
        for name in REFUSED:
            for client in (None, "alice"):
                with self.subTest(name=name, client=client):
                    r = h.request(P.http_port, "GET", "/", host=f"{name}.test")
                    self.assertEqual(r.status, 503, r.body[:300])
                    self.assertIsNone(r.header("X-Upstream-Name"))
                    r = https(f"{name}.test", client)
                    self.assertEqual(r.status, 503, r.body[:300])
                    self.assertIsNone(r.header("X-Upstream-Name"))

    def test_refused_configurations_are_reported_by_portico_routes(self):
        r = h.run_portico("routes", "--config-dir", DIR)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        errs = error_lines(r.stdout)
        for name, (_, annotation, fragment) in REFUSED.items():
            with self.subTest(name):
                self.assertTrue(any(f"Ingress default/{name}:" in e and
                                    f"metadata.annotations[{A}{annotation}]" in e and
                                    fragment in e for e in errs), (name, errs))
        for name in [*SERVED, "open"]:
            self.assertFalse(any(f"Ingress default/{name}:" in e for e in errs), (name, errs))
        self.assertNotIn(CA.pem.splitlines()[2], r.stdout + r.stderr)

    def test_debug_snapshot_shows_client_certificates_without_the_ca(self):
        snap = h.request(P.admin_port, "GET", "/debug/snapshot")
        self.assertEqual(snap.status, 200)
        text = snap.body.decode("utf-8", "replace")
        found = []

        def walk(v):
            if isinstance(v, dict):
                if isinstance(v.get("client_certificates"), dict):
                    found.append(v["client_certificates"])
                for x in v.values():
                    walk(x)
            elif isinstance(v, list):
                for x in v:
                    walk(x)

        walk(json.loads(text))
        by_secret = {(c.get("secret"), c.get("verify")) for c in found}
        for expected in (("default/client-ca", "on"), ("default/client-ca", "optional"),
                         ("default/client-ca", "optional_no_ca"),
                         ("default/client-ca-tls", "on"), ("default/chain-ca", "on")):
            self.assertIn(expected, by_secret, found)
        self.assertIn("CN=alice", [c.get("match_cn") for c in found])
        # Never the CA: neither PEM lines nor the base64 of the Secret.
        for line in CA.pem.splitlines()[1:-1]:
            self.assertNotIn(line, text)
        self.assertNotIn(t._b64(CA.pem)[:40], text)
        self.assertNotIn("BEGIN CERTIFICATE", text)
        self.assertNotIn("BEGIN X509 CRL", text)


if __name__ == "__main__":
    unittest.main(verbosity=2)
