#!/usr/bin/python3
"""Upstream TLS (backend-protocol: "HTTPS"): Portico speaks TLS to the endpoints with SNI
(proxy-ssl-name, else the request's host), without verification by default, with
verification against the proxy-ssl-secret CA when proxy-ssl-verify is "on" (a refused
certificate is a failed connect: 502, or the next endpoint), pooled TLS connections are reused
and kept apart from plain ones to the same address.

The other proxy-ssl-* annotations, against Python ssl upstreams that report what they saw:
- mutual TLS: the tls.crt/tls.key of the proxy-ssl-secret Secret (Opaque or kubernetes.io/tls,
  leaf alone or with an intermediate) is the client certificate an upstream that requires one
  sees (its subject), with verification on and off; a Secret with only ca.crt gets no
  certificate through (the upstream refuses: 502); a tls.key that does not belong to tls.crt
  (or a tls.crt without tls.key) makes the Ingress's paths answer 503 without any connection to
  the upstream, is reported by `portico routes` under proxy-ssl-secret, and the other Ingresses
  of the directory keep working;
- proxy-ssl-protocols: TLSv1.3 against a TLS 1.2-only upstream and TLSv1.2 against a TLS
  1.3-only one are 502, "TLSv1.2 TLSv1.3" reaches both, and the version the upstream
  negotiated is the one allowed;
- proxy-ssl-ciphers (with TLSv1.2): the upstream negotiates the cipher asked for, and a list it
  does not support is 502;
- proxy-ssl-verify-depth: a chain through intermediates is refused (502) when longer than the
  depth and accepted within it (OpenSSL's and nginx's depth: the intermediates, not the trust
  anchor);
- a proxy-ssl-secret in another namespace is refused (reported; 503 with verification on)
  unless the controller ConfigMap has allow-cross-namespace-resources "true";
- invalid proxy-ssl-verify-depth, proxy-ssl-protocols and proxy-ssl-ciphers values are
  reported and the defaults apply;
- a changed Secret: new upstream connections present the new client certificate, a broken
  pair turns the paths to 503 with no new connection, a fixed one serves again."""

import http.server
import json
import os
import ssl
import sys
import threading
import unittest

from cryptography import x509

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402
from annotations_test import configmap  # noqa: E402
from routes_cli_test import error_lines  # noqa: E402

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


# ---------------------------------------------------------------------------- proxy-ssl-*


class ProbeUpstream:
    """A threaded HTTPS/1.1 upstream with the TLS settings a test chooses: a client certificate
    of `client_ca` required, the TLS versions allowed, the TLS 1.2 cipher list. Every GET gets
    200 and JSON {"name", "client_subject" (RFC 4514 subject of the certificate the client
    presented, "" without one), "version", "cipher"}; `accepted` counts TCP connections,
    `handshakes` the completed ones, `seen` keeps (client_subject, version, cipher) per
    request."""

    def __init__(self, cert, name, client_ca=None, min_version=None, max_version=None,
                 ciphers=None):
        self.name = name
        self.accepted = 0
        self.handshakes = 0
        self.seen = []
        self._lock = threading.Lock()
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(*cert.files())
        if client_ca is not None:
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(cadata=client_ca.pem)
        if min_version is not None:
            ctx.minimum_version = min_version
        if max_version is not None:
            ctx.maximum_version = max_version
        if ciphers is not None:
            ctx.set_ciphers(ciphers)
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def setup(self):
                # The handshake here (not lazily in the first read): a refused one is counted
                # as not done, and the handler ends without a request.
                self.request.do_handshake()
                with outer._lock:
                    outer.handshakes += 1
                super().setup()

            def do_GET(self):  # noqa: N802 - http.server's naming
                s = self.connection
                der = s.getpeercert(binary_form=True)
                subject = x509.load_der_x509_certificate(der).subject.rfc4514_string() \
                    if der else ""
                seen = (subject, s.version(), s.cipher()[0])
                with outer._lock:
                    outer.seen.append(seen)
                body = json.dumps({"name": outer.name, "client_subject": seen[0],
                                   "version": seen[1], "cipher": seen[2]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.send_header("X-Upstream-Name", outer.name)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):  # quiet
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

            def get_request(self):
                sock, addr = super().get_request()
                with outer._lock:
                    outer.accepted += 1
                return ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr

            def handle_error(self, request, client_address):
                pass  # refused handshakes are part of the tests

        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def opaque(name, data, namespace="default"):
    """An Opaque Secret with `data` (key -> text)."""
    return (f"apiVersion: v1\nkind: Secret\nmetadata:\n  name: {json.dumps(name)}\n"
            f"  namespace: {json.dumps(namespace)}\ntype: Opaque\ndata:\n" +
            "".join(f"  {json.dumps(k)}: {t._b64(v)}\n" for k, v in data.items()))


CLIENT_SUBJECT = "CN=portico-client"
CHAINED_CLIENT_SUBJECT = "CN=portico-chained-client"
CONFIGMAP = "ingress-nginx/controller"
V12, V13 = ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3
# The upstream keys are P-256 (tls_support's default): ECDSA suites.
AES128 = "ECDHE-ECDSA-AES128-GCM-SHA256"
AES256 = "ECDHE-ECDSA-AES256-GCM-SHA384"
CHACHA = "ECDHE-ECDSA-CHACHA20-POLY1305"

# Ingress name -> (namespace, Service, annotations besides backend-protocol HTTPS). The host is
# "<name>.test"; each Service is one ProbeUpstream of the same name.
VERIFY = {"proxy_ssl_verify": "on", "proxy_ssl_name": "backend.internal"}
INGRESSES = {
    # Mutual TLS.
    "mtls-verify": ("default", "mtls", dict(VERIFY, proxy_ssl_secret="default/mtls")),
    "mtls-noverify": ("default", "mtls", dict(proxy_ssl_secret="default/mtls")),
    "mtls-verify-off": ("default", "mtls", dict(proxy_ssl_secret="default/mtls",
                                                proxy_ssl_verify="off")),
    "mtls-tlstype": ("default", "mtls", dict(VERIFY, proxy_ssl_secret="default/mtls-tls")),
    "mtls-chained": ("default", "mtls", dict(VERIFY, proxy_ssl_secret="default/mtls-chained")),
    "caonly-verify": ("default", "mtls", dict(VERIFY, proxy_ssl_secret="default/ca-only")),
    "caonly-noverify": ("default", "mtls", dict(proxy_ssl_secret="default/ca-only")),
    "nosecret": ("default", "mtls", {}),
    # Unusable client certificates: 503, never a connection.
    "mismatch-verify": ("default", "untouched", dict(VERIFY, proxy_ssl_secret="default/mismatch")),
    "mismatch-noverify": ("default", "untouched", dict(proxy_ssl_secret="default/mismatch")),
    "nokey": ("default", "untouched", dict(proxy_ssl_secret="default/cert-without-key")),
    # proxy-ssl-protocols.
    "v13-to-tls12": ("default", "tls12", dict(proxy_ssl_protocols="TLSv1.3")),
    "v12-to-tls13": ("default", "tls13", dict(proxy_ssl_protocols="TLSv1.2")),
    "both-to-tls12": ("default", "tls12", dict(proxy_ssl_protocols="TLSv1.2 TLSv1.3")),
    "both-to-tls13": ("default", "tls13", dict(proxy_ssl_protocols="TLSv1.2 TLSv1.3")),
    "v12-to-any": ("default", "any", dict(proxy_ssl_protocols="TLSv1.2")),
    "v13-to-any": ("default", "any", dict(proxy_ssl_protocols="TLSv1.3")),
    "v12-verified": ("default", "any", dict(VERIFY, proxy_ssl_secret="default/ca-only",
                                            proxy_ssl_protocols="TLSv1.2")),
    # proxy-ssl-ciphers (TLS 1.2).
    "aes128": ("default", "any", dict(proxy_ssl_protocols="TLSv1.2", proxy_ssl_ciphers=AES128)),
    "chacha": ("default", "any", dict(proxy_ssl_protocols="TLSv1.2", proxy_ssl_ciphers=CHACHA)),
    "aes128-to-aes256": ("default", "aes256only", dict(proxy_ssl_protocols="TLSv1.2",
                                                       proxy_ssl_ciphers=AES128)),
    "aes256-to-aes256": ("default", "aes256only", dict(proxy_ssl_protocols="TLSv1.2",
                                                       proxy_ssl_ciphers=AES256)),
    "list-to-aes256": ("default", "aes256only", dict(proxy_ssl_protocols="TLSv1.2",
                                                     proxy_ssl_ciphers=f"{AES128}:{AES256}")),
    # proxy-ssl-verify-depth: chain1 is leaf <- intermediate 1 <- root, chain2 leaf <-
    # intermediate 2 <- intermediate 1 <- root; the Secret trusts the root alone.
    "depth1-chain1": ("default", "chain1", dict(VERIFY, proxy_ssl_secret="default/chain-root",
                                                proxy_ssl_verify_depth="1")),
    "depth1-chain2": ("default", "chain2", dict(VERIFY, proxy_ssl_secret="default/chain-root",
                                                proxy_ssl_verify_depth="1")),
    "depth2-chain1": ("default", "chain1", dict(VERIFY, proxy_ssl_secret="default/chain-root",
                                                proxy_ssl_verify_depth="2")),
    "depth2-chain2": ("default", "chain2", dict(VERIFY, proxy_ssl_secret="default/chain-root",
                                                proxy_ssl_verify_depth="2")),
    "depthdefault-chain2": ("default", "chain2", dict(VERIFY,
                                                      proxy_ssl_secret="default/chain-root")),
    # Another namespace's Secret.
    "foreign-verify": ("default", "mtls", dict(VERIFY, proxy_ssl_secret="other/ca")),
    "foreign-noverify": ("default", "mtls", dict(proxy_ssl_secret="other/ca")),
    "own-namespace": ("other", "mtls", dict(VERIFY, proxy_ssl_secret="other/ca")),
    # Invalid values: reported, and the default applies.
    "bad-depth": ("default", "any", dict(proxy_ssl_verify_depth="0")),
    "bad-protocols": ("default", "any", dict(proxy_ssl_protocols="TLSv1.1")),
    "bad-ciphers": ("default", "any", dict(proxy_ssl_ciphers="AES128 GCM")),
}
UNUSABLE = ("mismatch-verify", "mismatch-noverify", "nokey")
FOREIGN = ("foreign-verify", "foreign-noverify")
INVALID = {"bad-depth": "proxy-ssl-verify-depth", "bad-protocols": "proxy-ssl-protocols",
           "bad-ciphers": "proxy-ssl-ciphers"}


class proxy_ssl(unittest.TestCase):
    """One directory, served twice: P without the ConfigMap, PX with the ConfigMap's
    allow-cross-namespace-resources "true"."""

    @classmethod
    def setUpClass(cls):
        server_ca = t.CA("Upstream Server CA")
        client_ca = t.CA("Portico Client CA")
        client_inter = t.CA("Portico Client Intermediate", parent=client_ca)
        root = t.CA("Chain Root")
        inter1 = t.CA("Chain Intermediate 1", parent=root)
        inter2 = t.CA("Chain Intermediate 2", parent=inter1)
        cls.chain_root = root
        cls.client = client_ca.issue("portico-client")
        chained = client_inter.issue("portico-chained-client")
        stranger = t.CA("Stranger").issue("stranger")
        server = server_ca.issue("backend.internal")
        cls.ups = {
            "mtls": ProbeUpstream(server, "mtls", client_ca=client_ca),
            "untouched": ProbeUpstream(server, "untouched", client_ca=client_ca),
            "tls12": ProbeUpstream(server, "tls12", max_version=V12),
            "tls13": ProbeUpstream(server, "tls13", min_version=V13),
            "any": ProbeUpstream(server, "any"),
            "aes256only": ProbeUpstream(server, "aes256only", max_version=V12, ciphers=AES256),
            "chain1": ProbeUpstream(inter1.issue("backend.internal"), "chain1"),
            "chain2": ProbeUpstream(inter2.issue("backend.internal"), "chain2"),
        }
        cls.dir = d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(
            d, "secrets.yaml",
            opaque("mtls", {"ca.crt": server_ca.pem, "tls.crt": cls.client.cert_pem,
                            "tls.key": cls.client.key_pem}),
            t.tls_secret("mtls-tls", cls.client, ca_pem=server_ca.pem),
            # tls.crt: the leaf, then the intermediate the upstream does not have.
            opaque("mtls-chained", {"ca.crt": server_ca.pem, "tls.crt": chained.cert_pem,
                                    "tls.key": chained.key_pem}),
            t.ca_secret("ca-only", server_ca.pem),
            opaque("mismatch", {"ca.crt": server_ca.pem, "tls.crt": cls.client.cert_pem,
                                "tls.key": stranger.key_pem}),
            opaque("cert-without-key", {"ca.crt": server_ca.pem, "tls.crt": cls.client.cert_pem}),
            t.ca_secret("chain-root", root.pem),
            opaque("ca", {"ca.crt": server_ca.pem, "tls.crt": cls.client.cert_pem,
                          "tls.key": cls.client.key_pem}, namespace="other"))
        ns_of, name_of = CONFIGMAP.split("/")
        h.write_manifests(d, "configmap.yaml",
                          configmap(name_of, {"allow-cross-namespace-resources": "true"},
                                    namespace=ns_of))
        docs = []
        for ns in ("default", "other"):
            docs += [h.service(name, 443, [("127.0.0.1", up.port)], namespace=ns,
                               port_name="https") for name, up in cls.ups.items()]
        for name, (ns, svc, ann) in INGRESSES.items():
            annotations = {ANN + "backend-protocol": "HTTPS"}
            annotations.update({ANN + k.replace("_", "-"): v for k, v in ann.items()})
            docs.append(t.tls_ingress(name, [(f"{name}.test", "/", "Prefix", svc, 443)],
                                      annotations=annotations, namespace=ns))
        h.write_manifests(d, "ingresses.yaml", *docs)
        flags = ("--workers", "1", "--max-tries", "1")
        cls.P = cls.PX = None
        try:
            cls.P = t.start_portico(d, *flags)
            cls.PX = t.start_portico(d, *flags, "--configmap", CONFIGMAP)
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        for p in (cls.P, cls.PX):
            if p is not None:
                p.stop()
        for up in cls.ups.values():
            up.stop()

    def get(self, name, p=None, path="/"):
        return (p or self.P).get(path, host=f"{name}.test")

    def assert_served(self, name, upstream, p=None):
        """200 from `upstream`; returns what that upstream saw."""
        r = self.get(name, p)
        self.assertEqual((r.status, r.header("x-upstream-name")), (200, upstream),
                         (name, r.body[:300]))
        return r.json()

    def assert_status(self, name, status, p=None):
        r = self.get(name, p)
        self.assertEqual(r.status, status, (name, r.body[:300]))
        self.assertIsNone(r.header("x-upstream-name"), name)
        return r

    def routes_errors(self, *flags):
        r = h.run_portico("routes", "--config-dir", self.dir, *flags)
        return r, error_lines(r.stdout)

    # ------------------------------------------------------------------ mutual TLS

    def test_client_certificate_is_presented_with_and_without_verification(self):
        for name in ("mtls-verify", "mtls-noverify", "mtls-verify-off"):
            with self.subTest(name):
                seen = self.assert_served(name, "mtls")
                self.assertEqual(seen["client_subject"], CLIENT_SUBJECT)

    def test_client_certificate_from_a_kubernetes_io_tls_secret(self):
        seen = self.assert_served("mtls-tlstype", "mtls")
        self.assertEqual(seen["client_subject"], CLIENT_SUBJECT)

    def test_client_certificate_is_sent_with_its_intermediate(self):
        # The upstream trusts the client root only: the intermediate must come from tls.crt.
        seen = self.assert_served("mtls-chained", "mtls")
        self.assertEqual(seen["client_subject"], CHAINED_CLIENT_SUBJECT)

    def test_without_a_client_certificate_the_upstream_refuses(self):
        up = self.ups["mtls"]
        for name in ("caonly-verify", "caonly-noverify", "nosecret"):
            with self.subTest(name):
                accepted, handshakes = up.accepted, up.handshakes
                self.assert_status(name, 502)
                # Portico connected, and the upstream refused the handshake.
                self.assertGreater(up.accepted, accepted)
                self.assertEqual(up.handshakes, handshakes)
        self.assertNotIn("", [s for s, _, _ in up.seen])

    def test_unusable_client_certificate_answers_503_without_connecting(self):
        for p in (self.P, self.PX):
            for name in UNUSABLE:
                for path in ("/", "/deeper/path"):
                    with self.subTest(name=name, path=path):
                        self.assert_status(name, 503, p)
        self.assertEqual(self.ups["untouched"].accepted, 0)
        # Other Ingresses of the directory, to the same Secret's CA and the same upstream
        # settings, keep working.
        self.assertEqual(self.assert_served("mtls-verify", "mtls")["client_subject"],
                         CLIENT_SUBJECT)
        self.assert_served("v12-to-any", "any")

    def test_unusable_client_certificate_is_reported_by_portico_routes(self):
        r, errs = self.routes_errors()
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        for name in UNUSABLE:
            with self.subTest(name):
                mine = [e for e in errs if f"Ingress default/{name}:" in e]
                self.assertTrue(any(f"metadata.annotations[{ANN}proxy-ssl-secret]" in e and
                                    "503" in e for e in mine), (name, errs))
        reported = {n for n in INGRESSES if any(f"/{n}:" in e for e in errs)}
        self.assertEqual(reported, set(UNUSABLE) | set(FOREIGN) | set(INVALID), errs)
        # Never the key.
        for line in self.client.key_pem.splitlines()[1:-1]:
            self.assertNotIn(line, r.stdout + r.stderr)

    # ------------------------------------------------------------------ proxy-ssl-protocols

    def test_protocols_the_upstream_does_not_speak_are_502(self):
        self.assert_status("v13-to-tls12", 502)
        self.assert_status("v12-to-tls13", 502)

    def test_both_protocols_reach_either_upstream(self):
        self.assertEqual(self.assert_served("both-to-tls12", "tls12")["version"], "TLSv1.2")
        self.assertEqual(self.assert_served("both-to-tls13", "tls13")["version"], "TLSv1.3")

    def test_the_allowed_protocol_is_the_one_negotiated(self):
        self.assertEqual(self.assert_served("v12-to-any", "any")["version"], "TLSv1.2")
        self.assertEqual(self.assert_served("v13-to-any", "any")["version"], "TLSv1.3")
        self.assertEqual(self.assert_served("v12-verified", "any")["version"], "TLSv1.2")

    # ------------------------------------------------------------------ proxy-ssl-ciphers

    def test_the_cipher_asked_for_is_negotiated(self):
        for name, cipher in (("aes128", AES128), ("chacha", CHACHA)):
            with self.subTest(name):
                seen = self.assert_served(name, "any")
                self.assertEqual((seen["version"], seen["cipher"]), ("TLSv1.2", cipher))

    def test_a_cipher_list_the_upstream_does_not_support_is_502(self):
        self.assert_status("aes128-to-aes256", 502)
        seen = self.assert_served("aes256-to-aes256", "aes256only")
        self.assertEqual(seen["cipher"], AES256)
        seen = self.assert_served("list-to-aes256", "aes256only")
        self.assertEqual(seen["cipher"], AES256)

    # ------------------------------------------------------------------ proxy-ssl-verify-depth

    def openssl_verifies(self, upstream, depth):
        """openssl s_client's verdict on the upstream's chain with -verify_depth `depth` (the
        same SSL_CTX_set_verify_depth that nginx's proxy_ssl_verify_depth sets)."""
        rc, out = t.s_client(self.ups[upstream].port, "-CAfile", str(self.chain_root.path),
                             "-verify_depth", depth, "-verify_return_error",
                             server_name="backend.internal")
        return rc == 0 and "Verify return code: 0 (ok)" in out

    def test_verify_depth(self):
        # OpenSSL's depth counts the intermediates below the trust anchor: 1 lets one
        # intermediate through, not two; openssl s_client agrees on each case.
        for name, upstream, depth, status in (("depth1-chain1", "chain1", "1", 200),
                                              ("depth1-chain2", "chain2", "1", 502),
                                              ("depth2-chain1", "chain1", "2", 200),
                                              ("depth2-chain2", "chain2", "2", 200)):
            with self.subTest(name):
                if status == 200:
                    self.assert_served(name, upstream)
                else:
                    self.assert_status(name, status)
                self.assertEqual(self.openssl_verifies(upstream, depth), status == 200)
        # Without the annotation: OpenSSL's default (100).
        self.assert_served("depthdefault-chain2", "chain2")

    def test_invalid_values_are_reported_and_the_default_applies(self):
        for name in INVALID:
            with self.subTest(name):
                self.assertEqual(self.assert_served(name, "any")["version"], "TLSv1.3")
        _, errs = self.routes_errors()
        for name, key in INVALID.items():
            with self.subTest(name):
                self.assertTrue(any(f"Ingress default/{name}:" in e and
                                    f"metadata.annotations[{ANN}{key}]" in e for e in errs),
                                (name, errs))

    # ------------------------------------------------------------------ namespaces

    def test_another_namespaces_secret_is_refused_without_the_configmap(self):
        self.assert_status("foreign-verify", 503)
        r = self.get("foreign-noverify")
        self.assertNotEqual(r.status, 200, r.body[:300])
        # The Secret's own namespace may use it.
        seen = self.assert_served("own-namespace", "mtls")
        self.assertEqual(seen["client_subject"], CLIENT_SUBJECT)
        _, errs = self.routes_errors()
        for name in FOREIGN:
            with self.subTest(name):
                self.assertTrue(any(f"Ingress default/{name}:" in e and
                                    f"metadata.annotations[{ANN}proxy-ssl-secret]" in e and
                                    "another namespace" in e for e in errs), (name, errs))

    def test_another_namespaces_secret_with_allow_cross_namespace_resources(self):
        for name in FOREIGN:
            with self.subTest(name):
                seen = self.assert_served(name, "mtls", self.PX)
                self.assertEqual(seen["client_subject"], CLIENT_SUBJECT)
        r, errs = self.routes_errors("--configmap", CONFIGMAP)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        reported = {n for n in INGRESSES if any(f"/{n}:" in e for e in errs)}
        self.assertEqual(reported, set(UNUSABLE) | set(INVALID), errs)


class proxy_ssl_secret_changes(unittest.TestCase):
    def test_a_changed_client_certificate_is_used_and_a_broken_one_never_connects(self):
        server_ca, client_ca = t.CA("Upstream Server CA"), t.CA("Portico Client CA")
        alice, bob = client_ca.issue("alice"), client_ca.issue("bob")
        stranger = t.CA("Stranger").issue("stranger")
        up = ProbeUpstream(server_ca.issue("backend.internal"), "mtls", client_ca=client_ca)
        d = h.temp_dir()

        def secret(cert, key_pem=None):
            h.write_manifests(d, "secret.yaml", opaque("mtls", {
                "ca.crt": server_ca.pem, "tls.crt": cert.cert_pem,
                "tls.key": key_pem or cert.key_pem}))

        h.write_manifests(d, "class.yaml", h.ingress_class())
        secret(alice)
        h.write_manifests(d, "app.yaml",
                          h.service("mtls", 443, [("127.0.0.1", up.port)], port_name="https"),
                          https_ingress("app", "app.test", "mtls", proxy_ssl_secret="default/mtls",
                                        **VERIFY))
        p = t.start_portico(d, "--workers", "1", "--max-tries", "1")
        try:
            with h.Conn(p.http_port) as c:
                def subject():
                    r = c.request("GET", "/", host="app.test")
                    return r.json()["client_subject"] if r.status == 200 else r.status

                self.assertEqual(subject(), "CN=alice")
                # A new pair: new upstream connections present it (never the pooled one made
                # with the old certificate).
                secret(bob)
                h.wait_until(lambda: subject() == "CN=bob", timeout=20)
                self.assertEqual([subject() for _ in range(5)], ["CN=bob"] * 5)
                # A key that does not match: 503, and no new connection to the upstream.
                secret(alice, stranger.key_pem)
                h.wait_until(lambda: subject() == 503, timeout=20)
                accepted = up.accepted
                self.assertEqual([subject() for _ in range(5)], [503] * 5)
                self.assertEqual(up.accepted, accepted)
                # Fixed again: served.
                secret(alice)
                h.wait_until(lambda: subject() == "CN=alice", timeout=20)
            self.assertNotIn("", [s for s, _, _ in up.seen])
        finally:
            p.stop()
            up.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
