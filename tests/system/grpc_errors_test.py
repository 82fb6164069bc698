#!/usr/bin/python3
"""gRPC calls answered by Portico itself. A gRPC client reads no HTML error page: when the
request's content-type starts with application/grpc, Portico's own answers are gRPC
"Trailers-Only" responses (gRPC's doc/PROTOCOL-HTTP2.md): HTTP status 200, content-type
application/grpc, grpc-status and grpc-message, no body, in one HEADERS frame with END_STREAM.
The codes follow gRPC's "HTTP to gRPC Status Code Mapping" (404 UNIMPLEMENTED, 502/503
UNAVAILABLE), except that a timeout Portico measured is DEADLINE_EXCEEDED.

A real client (python3-grpcio, generic calls on bytes, h2c with prior knowledge on the plain
port) calls a host without an Ingress, an Ingress whose Service has no endpoints, an endpoint
that refuses connections and one that never answers (proxy-read-timeout); raw frames check the
wire form; an HTTP/1.1 gRPC-shaped request gets the same fields as headers; an upstream's own
answer passes untouched; the access log and metrics keep the HTTP status Portico decided."""

import os
import socket
import sys
import threading
import unittest

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402
from h2_downstream_test import DATA, END_STREAM, HEADERS, RST_STREAM, frame, raw_h2  # noqa: E402

A = "nginx.ingress.kubernetes.io/"
GRPC_FIELDS = [("content-type", "application/grpc"), ("te", "trailers")]
# A length-prefixed message (gRPC's Length-Prefixed-Message: not compressed, length 3).
MESSAGE = b"\x00\x00\x00\x00\x03abc"


class silent_upstream:
    """Accepts connections and reads requests, never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            threading.Thread(target=self.drain, args=(c,), daemon=True).start()

    @staticmethod
    def drain(c):
        try:
            while c.recv(65536):
                pass
        except OSError:
            pass

    def stop(self):
        self.sock.close()
        for c in self.conns:
            c.close()


class not_found_upstream:
    """Answers every request 404 with a text body and a grpc-status header of its own."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    @staticmethod
    def serve(c):
        f = c.makefile("rb")
        try:
            head = []
            while True:
                line = f.readline()
                if line in (b"\r\n", b""):
                    break
                head.append(line.decode().lower())
            length = [int(x.split(":")[1]) for x in head if x.startswith("content-length:")]
            if length:
                f.read(length[0])
            elif any(x.startswith("transfer-encoding:") for x in head):
                while True:
                    size = int(f.readline().split(b";")[0], 16)
                    if size == 0:
                        while f.readline() not in (b"\r\n", b""):
                            pass
                        break
                    f.read(size + 2)
            c.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n"
                      b"Connection: close\r\n\r\nfrom-upstrm")
        except (OSError, ValueError):
            pass
        finally:
            c.close()

    def stop(self):
        self.sock.close()


P = None
UPS = []


def setUpModule():
    global P
    silent, notfound = silent_upstream(), not_found_upstream()
    UPS.extend([silent, notfound])
    refused = h.free_port()  # nothing listens there
    d = h.temp_dir()
    h.write_manifests(d, "class.yaml", h.ingress_class())
    h.write_manifests(
        d, "apps.yaml",
        h.service("empty", 80, []),
        h.service("refused", 80, [("127.0.0.1", refused)]),
        h.service("silent", 80, [("127.0.0.1", silent.port)]),
        h.service("notfound", 80, [("127.0.0.1", notfound.port)]),
        h.ingress("noeps", [("noeps.test", "/", "Prefix", "empty", 80)]),
        h.ingress("refused", [("refused.test", "/", "Prefix", "refused", 80)]),
        h.ingress("silent", [("silent.test", "/", "Prefix", "silent", 80)],
                  annotations={A + "proxy-read-timeout": "1"}),
        h.ingress("notfound", [("notfound.test", "/", "Prefix", "notfound", 80)]),
        h.ingress("denied", [("denied.test", "/", "Prefix", "notfound", 80)],
                  annotations={A + "whitelist-source-range": "10.0.0.0/8"}),
        h.ingress("moved", [("moved.test", "/", "Prefix", "notfound", 80)],
                  annotations={A + "permanent-redirect": "https://elsewhere.test/"}))
    P = t.start_portico(d, "--workers", "1")


def tearDownModule():
    if P:
        P.stop()
    for u in UPS:
        u.stop()


def call(authority, method="/pkg.Svc/Method"):
    """A unary call with grpcio; returns the grpc.RpcError it ends with."""
    with grpc.insecure_channel(f"127.0.0.1:{P.http_port}",
                               options=[("grpc.default_authority", authority)]) as ch:
        stub = ch.unary_unary(method, request_serializer=None, response_deserializer=None)
        try:
            stub(b"abc", timeout=30)
        except grpc.RpcError as e:
            return e
    raise AssertionError("the call succeeded")


class grpc_client(unittest.TestCase):
    """grpcio's own view. Without Portico's grpc-status the client would map the HTTP status
    itself (its details then say "Received http2 header with status: 404" and a 504 would be
    UNAVAILABLE): the details and DEADLINE_EXCEEDED show the answer is Portico's."""

    def check(self, authority, code, message):
        e = call(authority)
        self.assertEqual((e.code(), e.details()), (code, message))
        meta = dict(e.initial_metadata() or ()) | dict(e.trailing_metadata() or ())
        self.assertEqual(meta.get("server"), "portico", meta)

    def test_no_ingress_is_unimplemented(self):
        self.check("nothere.test", grpc.StatusCode.UNIMPLEMENTED, "404 Not Found")

    def test_no_endpoints_is_unavailable(self):
        self.check("noeps.test", grpc.StatusCode.UNAVAILABLE, "503 Service Unavailable")

    def test_refused_endpoint_is_unavailable(self):
        self.check("refused.test", grpc.StatusCode.UNAVAILABLE, "502 Bad Gateway")

    def test_proxy_read_timeout_is_deadline_exceeded(self):
        self.check("silent.test", grpc.StatusCode.DEADLINE_EXCEEDED, "504 Gateway Timeout")

    def test_source_range_denial_is_permission_denied(self):
        self.check("denied.test", grpc.StatusCode.PERMISSION_DENIED, "403 Forbidden")

    def test_redirect_is_unknown(self):
        # A gRPC call cannot follow a redirect; "all other codes" map to UNKNOWN.
        self.check("moved.test", grpc.StatusCode.UNKNOWN, "301 Moved Permanently")

    def test_upstream_answer_passes_untouched(self):
        # The upstream's 404 is not Portico's: grpcio maps the HTTP status by itself.
        e = call("notfound.test")
        self.assertEqual(e.code(), grpc.StatusCode.UNIMPLEMENTED)
        self.assertNotEqual(e.details(), "404 Not Found")


class wire(unittest.TestCase):
    def test_trailers_only_in_one_headers_frame(self):
        c = raw_h2(P.http_port)
        try:
            c.headers(1, [(":method", "POST"), (":scheme", "http"), (":authority", "noeps.test"),
                          (":path", "/pkg.Svc/Method"), *GRPC_FIELDS], end_stream=False)
            c.send(frame(DATA, END_STREAM, 1, MESSAGE))
            frames = []
            while True:
                f = c.read_frame()
                self.assertIsNotNone(f, "connection closed")
                if f[2] == 1:
                    frames.append(f)
                    if f[0] in (HEADERS, DATA) and f[1] & END_STREAM or f[0] == RST_STREAM:
                        break
        finally:
            c.close()
        self.assertEqual([(ty, fl & END_STREAM) for ty, fl, _, _ in frames], [(HEADERS, END_STREAM)])
        status, fields, body = c.streams[1]["end"]
        self.assertEqual(status, 200)
        self.assertEqual(fields["content-type"], "application/grpc")
        self.assertEqual(fields["grpc-status"], "14")
        self.assertEqual(fields["grpc-message"], "503 Service Unavailable")
        self.assertEqual(body, b"")

    def test_upstream_answer_is_not_rewritten(self):
        c = raw_h2(P.http_port)
        try:
            c.headers(1, [(":method", "POST"), (":scheme", "http"), (":authority", "notfound.test"),
                          (":path", "/pkg.Svc/Method"), *GRPC_FIELDS], end_stream=False)
            c.send(frame(DATA, END_STREAM, 1, MESSAGE))
            status, fields, body = c.response(1)
        finally:
            c.close()
        self.assertEqual((status, body), (404, b"from-upstrm"))
        self.assertNotIn("grpc-status", fields)

    def test_connection_level_answer_is_trailers_only_too(self):
        # 431 is answered by the HTTP/2 connection itself, before any session sees the request.
        c = raw_h2(P.http_port)
        try:
            c.headers(1, [(":method", "POST"), (":scheme", "http"), (":authority", "noeps.test"),
                          (":path", "/pkg.Svc/Method"), *GRPC_FIELDS,
                          *[(f"x-big-{i}", "v" * 4000) for i in range(12)]])
            status, fields, body = c.response(1)
        finally:
            c.close()
        self.assertEqual((status, body), (200, b""))
        self.assertEqual(fields["grpc-status"], "2")
        self.assertEqual(fields["grpc-message"], "431 Request Header Fields Too Large")

    def test_http11_request_gets_the_fields_as_headers(self):
        r = h.request(P.http_port, "POST", "/pkg.Svc/Method", host="nothere.test",
                      headers={"Content-Type": "application/grpc+proto"}, body=MESSAGE)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header("content-type"), "application/grpc")
        self.assertEqual(r.header("grpc-status"), "12")
        self.assertEqual(r.header("grpc-message"), "404 Not Found")
        self.assertEqual(r.header("content-length"), "0")
        self.assertEqual(r.body, b"")

    def test_other_requests_keep_the_html_page(self):
        r = h.request(P.http_port, "POST", "/pkg.Svc/Method", host="noeps.test",
                      headers={"Content-Type": "application/json"}, body=b"{}")
        self.assertEqual(r.status, 503)
        self.assertIn(b"<html>", r.body)
        self.assertIsNone(r.header("grpc-status"))


class records(unittest.TestCase):
    def test_access_log_and_metrics_keep_the_decided_status(self):
        before = P.metric("nginx_ingress_controller_requests", host="noeps.test", status="503") or 0
        call("noeps.test", "/pkg.Svc/Logged")
        line = P.wait_line(r'"path":"/pkg.Svc/Logged".*', stream="stdout", timeout=30).group(0)
        self.assertIn('"status":503', line)
        self.assertIn('"protocol":"HTTP/2.0"', line)
        h.wait_until(lambda: (P.metric("nginx_ingress_controller_requests", host="noeps.test",
                                       status="503") or 0) >= before + 1)


if __name__ == "__main__":
    unittest.main()
