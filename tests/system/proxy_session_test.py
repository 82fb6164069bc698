#!/usr/bin/python3
"""Client-side session behaviour against the real binary: which timeout governs a silent new
connection and an idle keep-alive one, a request that fails on a reused upstream connection
(retried once on a fresh one only when idempotent), absolute-form targets, and the path
normalization routing uses."""

import os
import socket
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


def config_dir(routes):
    """routes: [(host, path, upstream)], one Service per upstream."""
    d = h.temp_dir()
    h.write_manifests(d, "class.yaml", h.ingress_class())
    docs, rules, seen = [], [], set()
    for host, path, up in routes:
        if up.name not in seen:
            seen.add(up.name)
            docs.append(h.service(up.name, 80, [("127.0.0.1", up.port)]))
        rules.append((host, path, "Prefix", up.name, 80))
    h.write_manifests(d, "apps.yaml", *docs, h.ingress("apps", rules))
    return d


class timeouts(unittest.TestCase):
    """Each Portico has one worker, so both connections' deadlines are kept by one timer
    queue: the one armed with the shorter timeout from the earlier moment expires first."""

    @classmethod
    def setUpClass(cls):
        cls.up = h.Upstream.start("to")
        cls.dir = config_dir([("app.test", "/", cls.up)])

    @classmethod
    def tearDownClass(cls):
        cls.up.stop()

    def test_silent_new_connection_gets_client_header_timeout_keepalive_does_not(self):
        p = h.Portico.start(self.dir, "--workers", "1", "--client-header-timeout", "1s",
                            "--keepalive-timeout", "600s")
        try:
            with h.Conn(p.http_port, timeout=30) as ka:
                self.assertEqual(ka.request("GET", "/first", host="app.test").status, 200)
                # Opened after `ka` went idle: if keep-alive waits used the 1 s header timeout,
                # `ka` would be closed before `silent` is.
                with h.Conn(p.http_port, timeout=30) as silent:
                    # Closed without a single byte (no 408 answer), well before 600 s.
                    self.assertTrue(silent.closed_by_peer(timeout=30))
                r = ka.request("GET", "/second", host="app.test")
                self.assertEqual(r.status, 200)
        finally:
            p.stop()

    def test_keepalive_timeout_does_not_close_a_new_connection(self):
        p = h.Portico.start(self.dir, "--workers", "1", "--client-header-timeout", "600s",
                            "--keepalive-timeout", "1s")
        try:
            with h.Conn(p.http_port, timeout=30) as fresh:
                with h.Conn(p.http_port, timeout=30) as ka:
                    self.assertEqual(ka.request("GET", "/", host="app.test").status, 200)
                    # The idle keep-alive connection closes after its 1 s...
                    self.assertTrue(ka.closed_by_peer(timeout=30))
                # ...while the older silent connection, timed by the header timeout, is open.
                r = fresh.request("GET", "/late", host="app.test")
                self.assertEqual(r.status, 200)
        finally:
            p.stop()


class flaky_upstream:
    """HTTP/1.1 server that answers the first request of each connection (keep-alive) and
    closes the connection, without a byte, after reading the second one."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.name = "flaky"
        self.lock = threading.Lock()
        self.connections = 0
        self.requests = []  # (connection number, method, target)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.connections += 1
                n = self.connections
            threading.Thread(target=self._serve, args=(c, n), daemon=True).start()

    @staticmethod
    def _read_request(c, buf):
        while b"\r\n\r\n" not in buf:
            chunk = c.recv(65536)
            if not chunk:
                return None, buf
            buf += chunk
        head, _, buf = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target = lines[0].split(" ")[:2]
        length = 0
        for line in lines[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-length":
                length = int(v)
        while len(buf) < length:
            chunk = c.recv(65536)
            if not chunk:
                return None, buf
            buf += chunk
        return (method, target), buf[length:]

    def _serve(self, c, n):
        buf = b""
        served = 0
        with c:
            while True:
                req, buf = self._read_request(c, buf)
                if req is None:
                    return
                with self.lock:
                    self.requests.append((n, *req))
                served += 1
                if served > 1:
                    return  # close after reading the request, before any response byte
                body = f"conn {n}\n".encode()
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))

    def stop(self):
        self.sock.close()


class upstream_reuse(unittest.TestCase):
    def test_reused_connection_failure_is_retried_once_fresh_only_when_idempotent(self):
        up = flaky_upstream()
        p = h.Portico.start(config_dir([("app.test", "/", up)]), "--workers", "1")
        try:
            with h.Conn(p.http_port, timeout=30) as c:
                r = c.request("GET", "/one", host="app.test")
                self.assertEqual((r.status, r.body), (200, b"conn 1\n"))
                # Sent on pooled connection 1, which closes after reading it: GET is replayed
                # on a fresh connection.
                r = c.request("GET", "/two", host="app.test")
                self.assertEqual((r.status, r.body), (200, b"conn 2\n"))
                self.assertEqual(up.connections, 2)
                # The same failure for a POST on pooled connection 2: not replayed, 502.
                r = c.request("POST", "/three", body=b"payload", host="app.test")
                self.assertEqual(r.status, 502, r.body)
            with up.lock:
                self.assertEqual(up.connections, 2)
                self.assertEqual(up.requests, [(1, "GET", "/one"), (1, "GET", "/two"),
                                               (2, "GET", "/two"), (2, "POST", "/three")])
        finally:
            p.stop()
            up.stop()


class targets(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = h.Upstream.start("root")
        cls.bee = h.Upstream.start("bee")
        cls.abs = h.Upstream.start("abs")
        cls.p = h.Portico.start(
            config_dir([("app.test", "/", cls.root), ("app.test", "/b", cls.bee),
                        ("abs.test", "/", cls.abs)]),
            "--workers", "1")

    @classmethod
    def tearDownClass(cls):
        cls.p.stop()
        for u in (cls.root, cls.bee, cls.abs):
            u.stop()

    def raw(self, request_line, host="app.test"):
        with h.Conn(self.p.http_port, timeout=30) as c:
            host_line = "" if host is None else f"Host: {host}\r\n"
            c.send(f"{request_line}\r\n{host_line}Connection: close\r\n\r\n")
            return c.read_response()

    def test_absolute_form_is_routed_by_its_host_and_sent_in_origin_form(self):
        r = self.raw("GET http://abs.test/x?y=1 HTTP/1.1", host="ABS.test:80")
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.header("x-upstream-name"), "abs")
        self.assertEqual(r.json()["target"], "/x?y=1")
        self.assertEqual(r.echo_header("host"), ["abs.test"])
        self.assertEqual(r.echo_header("x-forwarded-host"), ["abs.test"])
        r = self.raw("GET HTTP://abs.test HTTP/1.0", host=None)
        self.assertEqual(r.status, 200, r.body)
        self.assertEqual(r.json()["target"], "/")

    def test_absolute_form_and_a_different_host_is_400(self):
        # RFC 9112 3.2: the Host sent with an absolute-form target must name its authority;
        # two hosts for one request would be routed by one and read by the upstream as the other.
        for host in ("app.test", "abs.test:8080", ""):
            r = self.raw("GET http://abs.test/x HTTP/1.1", host=host)
            self.assertEqual(r.status, 400, host)

    def test_malformed_targets_are_400(self):
        for line in ("GET ftp://abs.test/x HTTP/1.1", "GET http://user@abs.test/ HTTP/1.1",
                     "GET http:///x HTTP/1.1", "GET x/y HTTP/1.1"):
            self.assertEqual(self.raw(line).status, 400, line)

    def test_routing_matches_the_normalized_path_and_forwards_the_original(self):
        for target in ("/a/../b", "/%62", "/x//..//b/c", "/%2e/b"):
            r = self.raw(f"GET {target} HTTP/1.1")
            self.assertEqual(r.status, 200, target)
            self.assertEqual(r.header("x-upstream-name"), "bee", target)
            self.assertEqual(r.json()["target"], target)
        r = self.raw("GET /b/../c HTTP/1.1")
        self.assertEqual(r.header("x-upstream-name"), "root")

    def test_path_above_the_root_is_400(self):
        for target in ("/..", "/a/../../b", "/%2e%2e/b", "/%zz", "/a%00"):
            r = self.raw(f"GET {target} HTTP/1.1")
            self.assertEqual(r.status, 400, target)


if __name__ == "__main__":
    unittest.main(verbosity=2)
