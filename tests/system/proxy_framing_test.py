#!/usr/bin/python3
"""Framing between the hops, from the security review and RFC 9110/9112, against the real
binary and a scripted upstream that sends the responses real backends get wrong: statuses
outside 100-599 (502), transfer codings that cannot be re-framed (502), Content-Length on
HEAD/204/304 (passed once; differing values are 502), a 101 naming another protocol than the one asked for (502),
h2c upgrades (never forwarded), chunked trailers (passed on both ways, filtered), and
underscore header names (dropped unless --enable-underscores-in-headers)."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from scripted_upstream import ScriptedUpstream  # noqa: E402

RESPONSES = {
    "/status024": b"HTTP/1.1 024 Weird\r\nContent-Length: 0\r\n\r\n",
    "/status600": b"HTTP/1.1 600 Beyond\r\nContent-Length: 0\r\n\r\n",
    "/gzip-chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "/gzip-eof": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nhello", "close"),
    "/te-twice": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "/head-dup-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 5, 5\r\n\r\n",
    "/head-bad-cl": b"HTTP/1.1 200 OK\r\nContent-Length: 5, 6\r\n\r\n",
    "/204-cl": b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nX-Kept: 1\r\n\r\n",
    "/304-cl": b"HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n",
    "/trailers": (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Checksum\r\n\r\n"
                  b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\nSet-Cookie: evil=1\r\nX_Under: 1\r\n\r\n"),
    "/ws-wrong-101": (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n"
                      b"Connection: Upgrade\r\n\r\n", "close"),
}


class framing(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = ScriptedUpstream(RESPONSES)
        d = h.temp_dir()
        h.write_manifests(d, "class.yaml", h.ingress_class())
        h.write_manifests(d, "raw.yaml", h.service("raw", 80, [("127.0.0.1", cls.up.port)]),
                          h.ingress("raw", [("raw.test", "/", "Prefix", "raw", 80)]))
        cls.p = h.Portico.start(d, "--workers", "1", "--read-timeout", "5s")
        cls.pu = h.Portico.start(d, "--workers", "1", "--enable-underscores-in-headers")

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()
        cls.pu.stop()
        cls.up.stop()

    def send(self, raw, port=None, method="GET"):
        with h.Conn(port or self.p.http_port, timeout=15) as c:
            c.send(raw)
            return c.read_response(method)

    def get(self, path, method="GET", extra="", port=None):
        return self.send(f"{method} {path} HTTP/1.1\r\nHost: raw.test\r\n{extra}\r\n".encode(),
                         port, method)

    def last_request(self):
        return self.up.requests[-1].decode("latin-1")

    def test_status_outside_100_599_is_502(self):
        for path in ("/status024", "/status600"):
            self.assertEqual(self.get(path).status, 502, path)

    def test_transfer_codings_that_cannot_be_reframed_are_502(self):
        for path in ("/gzip-chunked", "/gzip-eof", "/te-twice"):
            self.assertEqual(self.get(path).status, 502, path)

    def test_head_content_length_is_passed_once_and_only_when_valid(self):
        r = self.get("/head-dup-cl", method="HEAD")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.header_all("content-length"), ["5"])
        # Differing values: the upstream's framing cannot be trusted at all.
        self.assertEqual(self.get("/head-bad-cl", method="HEAD").status, 502)

    def test_204_carries_no_content_length_and_304_one(self):
        r = self.get("/204-cl")
        self.assertEqual(r.status, 204)
        self.assertEqual(r.header_all("content-length"), [])
        self.assertEqual(r.header("x-kept"), "1")
        r = self.get("/304-cl")
        self.assertEqual(r.status, 304)
        self.assertEqual(r.header_all("content-length"), ["7"])

    def test_response_trailers_reach_an_http11_client_filtered(self):
        with h.Conn(self.p.http_port, timeout=15) as c:
            c.send(b"GET /trailers HTTP/1.1\r\nHost: raw.test\r\nConnection: close\r\n\r\n")
            raw = c.read_all()
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertIn(b"transfer-encoding: chunked", head.lower())
        self.assertIn(b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n", body)
        self.assertNotIn(b"evil", body)      # Set-Cookie is never a trailer
        self.assertNotIn(b"X_Under", body)   # underscore names are dropped

    def test_http10_client_gets_the_body_without_trailers(self):
        with h.Conn(self.p.http_port, timeout=15) as c:
            c.send(b"GET /trailers HTTP/1.0\r\nHost: raw.test\r\n\r\n")
            raw = c.read_all()
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertEqual(body, b"hello")

    def test_request_trailers_are_forwarded_filtered(self):
        r = self.send(b"POST /echo HTTP/1.1\r\nHost: raw.test\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"5\r\nhello\r\n0\r\nX-Checksum: abc\r\nHost: evil.test\r\n\r\n")
        self.assertEqual(r.status, 200)
        sent = self.last_request()
        self.assertIn("5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n", sent)
        self.assertNotIn("evil.test", sent)

    def test_underscore_headers_are_dropped_by_default(self):
        r = self.get("/echo", extra="X_Real_IP: 6.6.6.6\r\nX_Forwarded_Proto: https\r\n")
        self.assertEqual(r.status, 200)
        self.assertNotIn("6.6.6.6", self.last_request())
        self.assertNotIn("X_", self.last_request())
        r = self.get("/echo", extra="X_Custom: kept\r\n", port=self.pu.http_port)
        self.assertEqual(r.status, 200)
        self.assertIn("X_Custom: kept\r\n", self.last_request())

    def test_h2c_upgrade_is_served_as_plain_http11(self):
        r = self.get("/echo", extra="Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n"
                                    "HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n")
        self.assertEqual(r.status, 200)
        sent = self.last_request()
        self.assertNotIn("h2c", sent)
        self.assertNotIn("HTTP2-Settings", sent)
        self.assertNotIn("pgrade", sent)

    def test_websocket_upgrade_is_forwarded_alone(self):
        self.get("/echo", extra="Connection: Upgrade\r\nUpgrade: h2c, WebSocket\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                "Sec-WebSocket-Version: 13\r\n")
        sent = self.last_request()
        self.assertIn("Upgrade: websocket\r\n", sent)
        self.assertNotIn("h2c", sent)

    def test_101_for_another_protocol_is_502(self):
        r = self.get("/ws-wrong-101", extra="Connection: Upgrade\r\nUpgrade: websocket\r\n"
                                            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                            "Sec-WebSocket-Version: 13\r\n")
        self.assertEqual(r.status, 502)


if __name__ == "__main__":
    unittest.main()
