#!/usr/bin/python3
"""What HTTPS changes inside a session: X-Forwarded-Proto/Port, HSTS on HTTPS answers only
(replacing an upstream's), pipelined requests held inside the TLS layer, and the plain-HTTP
308 redirect to HTTPS for Ingresses with spec.tls (ssl-redirect, force-ssl-redirect, ACME
challenge paths)."""

import http.server
import os
import socket
import ssl
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402

HSTS = "max-age=31536000; includeSubDomains"
P = None
UPS = []


class sts_upstream:
    """Plain HTTP upstream whose answers carry their own Strict-Transport-Security."""

    def __init__(self):
        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self):  # noqa: N802 - http.server's naming
                body = b"sts\n"
                self.send_response(200)
                self.send_header("Strict-Transport-Security", "max-age=5")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        class Server(http.server.ThreadingHTTPServer):
            daemon_threads = True

        self.name = "sts"
        self.server = Server(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def setUpModule():
    global P
    ca = t.CA()
    cert = ca.issue("secure.test", "open.test", "sts.test")
    echo = h.Upstream.start("echo")
    sts = sts_upstream()
    UPS.extend([echo, sts])
    d = h.temp_dir()
    h.write_manifests(d, "class.yaml", h.ingress_class())
    h.write_manifests(
        d, "apps.yaml",
        h.service("echo", 80, [("127.0.0.1", echo.port)]),
        h.service("sts", 80, [("127.0.0.1", sts.port)]),
        t.tls_secret("cert", cert),
        t.tls_ingress("secure", [("secure.test", "/", "Prefix", "echo", 80)],
                      tls=[(["secure.test"], "cert")]),
        t.tls_ingress("open", [("open.test", "/", "Prefix", "echo", 80)],
                      tls=[(["open.test"], "cert")],
                      annotations={"nginx.ingress.kubernetes.io/ssl-redirect": "false"}),
        t.tls_ingress("sts", [("sts.test", "/", "Prefix", "sts", 80)],
                      tls=[(["sts.test"], "cert")],
                      annotations={"nginx.ingress.kubernetes.io/ssl-redirect": "false"}),
        h.ingress("forced", [("forced.test", "/", "Prefix", "echo", 80)],
                  annotations={"nginx.ingress.kubernetes.io/force-ssl-redirect": "true"}),
        h.ingress("plain", [("plain.test", "/", "Prefix", "echo", 80)]))
    P = t.start_portico(d, "--workers", "1")


def tearDownModule():
    if P:
        P.stop()
    for u in UPS:
        u.stop()


def tls_records_conn(port, host):
    """A TLS connection driven through memory BIOs, so that a test decides which TLS records
    share one TCP write. Returns (socket, SSLObject, incoming BIO, outgoing BIO)."""
    ctx = t.client_context(verify=False)
    inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(inc, out, server_hostname=host)
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    while True:
        try:
            obj.do_handshake()
            break
        except ssl.SSLWantReadError:
            pending = out.read()
            if pending:
                sock.sendall(pending)
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            inc.write(chunk)
    pending = out.read()
    if pending:
        sock.sendall(pending)
    return sock, obj, inc, out


def read_plain(sock, obj, inc, want):
    """Decrypted bytes until `want` occurrences of b"HTTP/1.1 " have arrived with full heads."""
    data = b""
    while data.count(b"HTTP/1.1 ") < want or data.count(b"\r\n\r\n") < want:
        try:
            piece = obj.read(65536)
            if not piece:
                raise ConnectionError("TLS closed")
            data += piece
            continue
        except ssl.SSLWantReadError:
            pass
        chunk = sock.recv(65536)  # socket.timeout here: the proxy never answered
        if not chunk:
            raise ConnectionError(f"closed after {data!r}")
        inc.write(chunk)
    return data


class forwarding(unittest.TestCase):
    def test_https_requests_are_forwarded_as_https_with_the_https_port(self):
        r = t.https_request(P.https_port, "secure.test", "/fwd")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.echo_header("x-forwarded-proto"), ["https"])
        self.assertEqual(r.echo_header("x-scheme"), ["https"])
        self.assertEqual(r.echo_header("x-forwarded-port"), [str(P.https_port)])

    def test_plain_requests_are_forwarded_as_http_with_the_http_port(self):
        r = P.get("/fwd", host="plain.test")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.echo_header("x-forwarded-proto"), ["http"])
        self.assertEqual(r.echo_header("x-forwarded-port"), [str(P.http_port)])


class hsts(unittest.TestCase):
    def test_https_answers_carry_hsts(self):
        r = t.https_request(P.https_port, "secure.test", "/")
        self.assertEqual(r.header_all("strict-transport-security"), [HSTS])
        # A local answer (the default backend's 404) too.
        r = t.https_request(P.https_port, "unknown.test", "/")
        self.assertEqual(r.status, 404)
        self.assertEqual(r.header_all("strict-transport-security"), [HSTS])

    def test_plain_http_answers_do_not(self):
        r = P.get("/", host="plain.test")
        self.assertEqual(r.status, 200)
        self.assertIsNone(r.header("strict-transport-security"))

    def test_the_upstreams_hsts_is_replaced_on_https_and_kept_on_http(self):
        r = t.https_request(P.https_port, "sts.test", "/")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.header_all("strict-transport-security"), [HSTS])
        r = P.get("/", host="sts.test")  # ssl-redirect "false": proxied over HTTP
        self.assertEqual(r.header_all("strict-transport-security"), ["max-age=5"])


class pipelining(unittest.TestCase):
    def test_a_request_waiting_inside_the_tls_layer_is_answered(self):
        sock, obj, inc, out = tls_records_conn(P.https_port, "secure.test")
        with sock:
            # Two TLS records in one TCP write: reading the first leaves the second inside
            # the TLS layer, where socket readiness cannot see it.
            obj.write(b"GET /one HTTP/1.1\r\nHost: secure.test\r\n\r\n")
            obj.write(b"GET /two HTTP/1.1\r\nHost: secure.test\r\n\r\n")
            sock.sendall(out.read())
            data = read_plain(sock, obj, inc, 2)
            self.assertIn(b'"target":"/one"', data)
            self.assertIn(b'"target":"/two"', data)
            self.assertLess(data.index(b'"target":"/one"'), data.index(b'"target":"/two"'))


class redirect(unittest.TestCase):
    def test_plain_request_to_a_tls_host_is_redirected_with_keep_alive(self):
        with h.Conn(P.http_port) as c:
            r = c.request("GET", "/a/b?x=1", host="secure.test:8080")
            self.assertEqual(r.status, 308)
            self.assertEqual(r.header("location"), f"https://secure.test:{P.https_port}/a/b?x=1")
            self.assertEqual(r.header("content-length"), "0")
            self.assertEqual(r.body, b"")
            self.assertIsNone(r.header("connection"))
            r = c.request("HEAD", "/", host="secure.test")  # same connection
            self.assertEqual(r.status, 308)

    def test_the_same_host_over_https_is_proxied(self):
        r = t.https_request(P.https_port, "secure.test", "/a")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["target"], "/a")

    def test_a_request_body_is_not_read_so_the_connection_closes(self):
        with h.Conn(P.http_port) as c:
            r = c.request("POST", "/form", body=b"x" * 100, host="secure.test")
            self.assertEqual(r.status, 308)
            self.assertEqual((r.header("connection") or "").lower(), "close")
            self.assertTrue(c.closed_by_peer())

    def test_ssl_redirect_false_and_plain_ingresses_are_proxied(self):
        self.assertEqual(P.get("/", host="open.test").status, 200)
        self.assertEqual(P.get("/", host="plain.test").status, 200)

    def test_force_ssl_redirect_without_tls(self):
        r = P.get("/f", host="forced.test")
        self.assertEqual(r.status, 308)
        self.assertEqual(r.header("location"), f"https://forced.test:{P.https_port}/f")

    def test_acme_challenges_are_not_redirected(self):
        r = P.get("/.well-known/acme-challenge/token-1", host="secure.test")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["target"], "/.well-known/acme-challenge/token-1")


if __name__ == "__main__":
    unittest.main(verbosity=2)
