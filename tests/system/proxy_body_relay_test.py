#!/usr/bin/python3
"""Content-Length bodies larger than the relay buffer go from one side's receive buffer
straight to the other (relay_length_body, stream_length_body). Against a scripted upstream:
response bytes arrive exact and in order, in one write or in many small ones; a body the
upstream cuts short ends the client's connection without a hang; bytes after the body are not
passed on and the connection they came on is not used again; a HEAD answered with a stray
body does not leak that body into the next response. Request bodies (streamed, with
--proxy-request-buffering=false) reach the upstream exact, a request pipelined right after
the body is served next, and a body the client cuts short never becomes a request upstream
with a different length."""

import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from loopback_server import LoopbackServer  # noqa: E402
from scripted_upstream import ScriptedUpstream  # noqa: E402

SIZE = 300 * 1024  # above the 64 KiB the direct relay starts at


def pattern(n, seed=0):
    """n bytes that differ at every position mod 251: a shifted or dropped piece shows."""
    return bytes((i * 7 + seed) % 251 for i in range(n))


def response(body, extra=b""):
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s%s" % (len(body), body, extra)


class DripUpstream(LoopbackServer):
    """Answers every request with `head` and then `body` in `piece`-byte writes; after
    `cut` bytes of the body (when given) it closes the connection."""

    def __init__(self, body, piece=1000, cut=None):
        self.body, self.piece, self.cut = body, piece, cut
        super().__init__(16)
        self.start()


    def _serve(self, c):
        try:
            buf = b""
            while b"\r\n\r\n" not in buf:
                data = c.recv(65536)
                if not data:
                    return
                buf += data
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(self.body))
            end = len(self.body) if self.cut is None else self.cut
            for i in range(0, end, self.piece):
                c.sendall(self.body[i:min(i + self.piece, end)])
            if self.cut is not None:
                return
            time.sleep(0.5)  # keep the connection until the client has it all
        except OSError:
            pass
        finally:
            c.close()


def start(port, *flags):
    d = h.temp_dir()
    h.write_manifests(d, "class.yaml", h.ingress_class())
    h.write_manifests(d, "app.yaml", h.service("app", 80, [("127.0.0.1", port)]),
                      h.ingress("app", [("app.test", "/", "Prefix", "app", 80)]))
    return h.Portico.start(d, "--workers", "1", *flags)


class response_body(unittest.TestCase):
    def test_body_in_one_write_arrives_exact(self):
        body = pattern(SIZE)
        up = ScriptedUpstream({"/": response(body)})
        p = start(up.port)
        try:
            with h.Conn(p.http_port) as c:
                for _ in range(3):  # and again on the pooled connection
                    r = c.request("GET", "/", host="app.test")
                    self.assertEqual(r.status, 200)
                    self.assertEqual(r.body, body)
        finally:
            p.stop()
            up.stop()

    def test_body_in_small_writes_arrives_exact(self):
        body = pattern(SIZE, seed=3)
        up = DripUpstream(body, piece=777)
        p = start(up.port)
        try:
            r = h.request(p.http_port, "GET", "/", host="app.test")
            self.assertEqual(r.status, 200)
            self.assertEqual(r.body, body)
        finally:
            p.stop()
            up.stop()

    def test_body_cut_short_by_the_upstream_closes_the_client_connection(self):
        body = pattern(SIZE)
        up = DripUpstream(body, piece=8192, cut=200 * 1024)
        p = start(up.port)
        try:
            with socket.create_connection(("127.0.0.1", p.http_port), timeout=30) as s:
                s.sendall(h.build_request("GET", "/", host="app.test"))
                got = b""
                while True:
                    data = s.recv(65536)  # EOF or reset, not a timeout
                    if not data:
                        break
                    got += data
            head, _, rest = got.partition(b"\r\n\r\n")
            self.assertIn(b"Content-Length: %d" % SIZE, head)
            self.assertEqual(rest, body[:200 * 1024])
        finally:
            p.stop()
            up.stop()

    def test_bytes_after_the_body_are_dropped_with_their_connection(self):
        body = pattern(SIZE)
        up = ScriptedUpstream({"/extra": response(body, extra=b"HTTP/1.1 200 OK\r\n"
                                                        b"Content-Length: 5\r\n\r\nforged"),
                               "/next": response(b"clean")})
        p = start(up.port)
        try:
            with h.Conn(p.http_port) as c:
                r = c.request("GET", "/extra", host="app.test")
                self.assertEqual((r.status, r.body), (200, body))
                r = c.request("GET", "/next", host="app.test")
                self.assertEqual((r.status, r.body), (200, b"clean"))
            self.assertEqual(up.connections, 2)  # the first connection was not reused
        finally:
            p.stop()
            up.stop()

    def test_a_stray_body_after_head_does_not_become_the_next_response(self):
        # The upstream answers HEAD with headers and, a moment later, a body it should not
        # send, shaped like a response. The connection is looked at before its next use.
        def head_then_stray(raw):
            return b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n"

        up = ScriptedUpstream({"/h": head_then_stray, "/next": response(b"clean")})
        stray = b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nforged"
        orig = up._serve

        def serve(c):  # after each HEAD answer, the stray bytes 50 ms later
            class Wrapped:
                def __init__(self, s):
                    self.s = s

                def __getattr__(self, k):
                    return getattr(self.s, k)

                def sendall(self, data):
                    self.s.sendall(data)
                    if data.startswith(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n") and \
                            len(data) == 38:
                        time.sleep(0.05)
                        self.s.sendall(stray)
            orig(Wrapped(c))
        up._serve = serve
        p = start(up.port)
        try:
            with h.Conn(p.http_port) as c:
                r = c.request("HEAD", "/h", host="app.test")
                self.assertEqual(r.status, 200)
                time.sleep(0.2)  # the stray bytes are in (no timing assertion)
                r = c.request("GET", "/next", host="app.test")
                self.assertEqual((r.status, r.body), (200, b"clean"))
        finally:
            p.stop()
            up.stop()


class request_body(unittest.TestCase):
    FLAGS = ("--proxy-request-buffering=false", "--max-body-size", "0")

    def body_of(self, raw):
        return raw.partition(b"\r\n\r\n")[2]

    def test_streamed_body_arrives_exact_and_a_pipelined_request_follows(self):
        up = ScriptedUpstream({"/up": lambda raw: response(b"got %d" % len(self.body_of(raw))),
                               "/next": response(b"next")})
        p = start(up.port, *self.FLAGS)
        body = pattern(SIZE, seed=5)
        try:
            with h.Conn(p.http_port) as c:
                c.send(h.build_request("POST", "/up", body=body, host="app.test") +
                       h.build_request("GET", "/next", host="app.test"))
                r = c.read_response()
                self.assertEqual((r.status, r.body), (200, b"got %d" % SIZE))
                r = c.read_response()
                self.assertEqual((r.status, r.body), (200, b"next"))
            self.assertEqual(self.body_of(up.requests[0]), body)
            self.assertTrue(up.requests[1].startswith(b"GET /next "))
        finally:
            p.stop()
            up.stop()

    def test_body_cut_short_by_the_client_is_not_completed_upstream(self):
        up = ScriptedUpstream({"/up": lambda raw: response(b"got %d" % len(self.body_of(raw)))})
        p = start(up.port, *self.FLAGS)
        body = pattern(SIZE)
        try:
            with socket.create_connection(("127.0.0.1", p.http_port), timeout=30) as s:
                head = (b"POST /up HTTP/1.1\r\nHost: app.test\r\nContent-Length: %d\r\n\r\n"
                        % SIZE)
                s.sendall(head + body[:200 * 1024])
                time.sleep(0.3)  # the piece is relayed (no timing assertion)
            # The upstream never gets a whole request of another length: it waits for the
            # rest, then sees its connection close.
            h.wait_until(lambda: up.open_connections == 0, timeout=30)
            self.assertEqual(up.requests, [])
        finally:
            p.stop()
            up.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)
