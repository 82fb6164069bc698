#!/usr/bin/python3
"""Every error row of the data plane, with raw sockets: 400 for malformed requests and each
request smuggling vector (connection closed), 431, 413 (known length and chunked), 408, 404
and /healthz from the default backend, 503 without endpoints, 502 refused, 504 timeout. Each
error response is well formed (Content-Length, Connection: close when closing)."""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402

P = None
UP = None


def setUpModule():
    global P, UP
    UP = h.Upstream.start("err")
    d = h.temp_dir()
    dead_port = h.free_port()  # nothing listens here: connection refused
    h.write_manifests(d, "class.yaml", h.ingress_class())
    h.write_manifests(
        d, "apps.yaml",
        h.service("app", 80, [("127.0.0.1", UP.port)]),
        h.service("empty", 80, []),
        h.service("dead", 80, [("127.0.0.1", dead_port)]),
        h.ingress("apps", [("app.test", "/", "Prefix", "app", 80),
                           ("empty.test", "/", "Prefix", "empty", 80),
                           ("dead.test", "/", "Prefix", "dead", 80)]))
    P = h.Portico.start(d, "--workers", "1", "--max-body-size", "1000",
                        "--client-header-timeout", "1s", "--client-body-timeout", "1s",
                        "--read-timeout", "1s")


def tearDownModule():
    if P:
        P.stop()
    if UP:
        UP.stop()


class errors(unittest.TestCase):
    def raw(self, data):
        """Sends raw bytes on a new connection; returns (response, closed_after)."""
        c = h.Conn(P.http_port, timeout=10)
        try:
            c.send(data)
            r = c.read_response()
            return r, c.closed_by_peer(timeout=5)
        finally:
            c.close()

    def assert_well_formed_close(self, r, status, closed):
        self.assertEqual(r.status, status, r.body)
        self.assertIsNotNone(r.header("content-length"))
        self.assertEqual(len(r.body), int(r.header("content-length")))
        self.assertEqual((r.header("connection") or "").lower(), "close")
        self.assertTrue(closed, "connection left open after an error that closes")

    def test_malformed_request_line_is_400(self):
        for bad in [b"GET\r\n\r\n", b"GET / HTTP/9.9\r\nHost: a\r\n\r\n",
                    b"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", b"GET / HTTP/1.1\r\n\r\n"]:
            r, closed = self.raw(bad)
            self.assert_well_formed_close(r, 400, closed)

    def test_smuggling_vectors_are_400_and_close(self):
        vectors = {
            "cl_and_te": "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
            "te_and_cl": "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
            "cl_list_differs": "Content-Length: 1, 2\r\n",
            "cl_list_same": "Content-Length: 5, 5\r\n",
            "cl_twice": "Content-Length: 5\r\nContent-Length: 5\r\n",
            "cl_plus": "Content-Length: +5\r\n",
            "cl_junk": "Content-Length:  5x\r\n",
            "cl_negative": "Content-Length: -1\r\n",
            "te_gzip": "Transfer-Encoding: gzip\r\n",
            "te_chunked_gzip": "Transfer-Encoding: chunked, gzip\r\n",
            "te_xchunked": "Transfer-Encoding: xchunked\r\n",
            "te_twice": "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
            "obs_fold": "X-A: 1\r\n folded\r\n",
            "bare_cr": "X-A: 1\rX-B: 2\r\n",
            "bad_name": "Bad(Name): x\r\n",
            "space_before_colon": "X-A : 1\r\n",
            "two_hosts": "Host: b.test\r\n",
        }
        before = UP.stats()["requests"]
        for name, extra in vectors.items():
            with self.subTest(vector=name):
                data = ("POST / HTTP/1.1\r\nHost: app.test\r\n" + extra + "\r\nhello").encode()
                r, closed = self.raw(data)
                self.assert_well_formed_close(r, 400, closed)
        # The upstream never saw any of them (the /stats requests count themselves).
        self.assertEqual(UP.stats()["requests"], before + 1)

    def test_header_section_over_limit_is_431(self):
        data = b"GET / HTTP/1.1\r\nHost: app.test\r\nX-Big: " + b"a" * 40000 + b"\r\n\r\n"
        r, closed = self.raw(data)
        self.assert_well_formed_close(r, 431, closed)

    def test_known_body_over_limit_is_413_before_reading(self):
        c = h.Conn(P.http_port, timeout=10)
        try:
            c.send(b"POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 5000\r\n\r\n")
            r = c.read_response()  # answered without any body byte sent
            self.assert_well_formed_close(r, 413, c.closed_by_peer())
        finally:
            c.close()

    def test_chunked_body_over_limit_is_413(self):
        chunk = b"%x\r\n" % 600 + b"x" * 600 + b"\r\n"
        data = (b"POST / HTTP/1.1\r\nHost: app.test\r\nTransfer-Encoding: chunked\r\n\r\n" +
                chunk + chunk + b"0\r\n\r\n")
        r, closed = self.raw(data)
        self.assert_well_formed_close(r, 413, closed)

    def test_slow_header_is_408(self):
        c = h.Conn(P.http_port, timeout=10)
        try:
            c.send(b"GET / HTTP/1.1\r\nHost: app.test\r\n")  # never finished
            r = c.read_response()
            self.assert_well_formed_close(r, 408, c.closed_by_peer())
        finally:
            c.close()

    def test_slow_body_is_408(self):
        c = h.Conn(P.http_port, timeout=10)
        try:
            c.send(b"POST / HTTP/1.1\r\nHost: app.test\r\nContent-Length: 100\r\n\r\nabc")
            r = c.read_response()
            self.assert_well_formed_close(r, 408, c.closed_by_peer())
        finally:
            c.close()

    def test_unknown_host_is_404_from_default_backend(self):
        with h.Conn(P.http_port) as c:
            r = c.request("GET", "/anything", host="nowhere.test")
            self.assertEqual(r.status, 404)
            self.assertIsNotNone(r.header("x-request-id"))
            # keep-alive survives a 404
            r = c.request("GET", "/healthz", host="nowhere.test")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, b"ok")

    def test_no_endpoints_is_503(self):
        with h.Conn(P.http_port) as c:
            r = c.request("GET", "/", host="empty.test")
            self.assertEqual(r.status, 503)
            self.assertEqual(len(r.body), int(r.header("content-length")))
            self.assertEqual(c.request("GET", "/", host="app.test").status, 200)

    def test_refused_upstream_is_502(self):
        with h.Conn(P.http_port) as c:
            r = c.request("GET", "/", host="dead.test")
            self.assertEqual(r.status, 502)
            self.assertEqual(len(r.body), int(r.header("content-length")))

    def test_upstream_timeout_is_504(self):
        with h.Conn(P.http_port) as c:
            r = c.request("GET", "/delay/3000", host="app.test")
            self.assertEqual(r.status, 504)
            self.assertEqual(len(r.body), int(r.header("content-length")))
            # the connection is still usable afterwards
            self.assertEqual(c.request("GET", "/", host="app.test").status, 200)

    def test_head_error_has_no_body(self):
        with h.Conn(P.http_port) as c:
            r = c.request("HEAD", "/", host="empty.test")
            self.assertEqual(r.status, 503)
            self.assertEqual(r.body, b"")
            self.assertEqual(c.request("GET", "/", host="app.test").status, 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
