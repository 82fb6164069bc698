#!/usr/bin/python3
"""Request bodies are received whole before an upstream connection is taken (ingress-nginx
proxy-request-buffering on): clients that drip their bodies hold no upstream connection
(security review: 20 such clients held 20 upstream connections), bodies beyond
--client-body-buffer-size go to an unnamed temporary file and arrive intact, a body that
falls below --client-body-min-rate is answered 408, and =false streams as before."""

import hashlib
import os
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
from scripted_upstream import ScriptedUpstream  # noqa: E402

SLOW_CLIENTS = 10


def config(up_port):
    d = h.temp_dir()
    h.write_manifests(d, "class.yaml", h.ingress_class())
    h.write_manifests(d, "raw.yaml", h.service("raw", 80, [("127.0.0.1", up_port)]),
                      h.ingress("raw", [("raw.test", "/", "Prefix", "raw", 80)]))
    return d


def open_slow(port, n, length=100, sent=10):
    """n connections that sent a head announcing `length` body bytes and `sent` of them."""
    conns = []
    for _ in range(n):
        c = h.Conn(port, timeout=30)
        c.send(f"POST /slow HTTP/1.1\r\nHost: raw.test\r\nContent-Length: {length}\r\n\r\n".encode()
               + b"x" * sent)
        conns.append(c)
    return conns


def body_of(raw):
    head, _, body = raw.partition(b"\r\n\r\n")
    if b"transfer-encoding: chunked" not in head.lower():
        return body
    out, pos = b"", 0
    while True:
        line_end = body.index(b"\r\n", pos)
        size = int(body[pos:line_end].split(b";")[0], 16)
        if size == 0:
            return out
        out += body[line_end + 2:line_end + 2 + size]
        pos = line_end + 2 + size + 2


class buffering(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.up = ScriptedUpstream({})
        cls.temp = h.temp_dir("portico-body-")
        d = config(cls.up.port)
        cls.p = h.Portico.start(d, "--workers", "1", "--max-body-size", "2m",
                                "--client-body-buffer-size", "1k",
                                "--client-body-temp-path", str(cls.temp))
        cls.stream = h.Portico.start(d, "--workers", "1", "--proxy-request-buffering=false")
        cls.rate = h.Portico.start(d, "--workers", "1", "--client-body-timeout", "2s",
                                   "--client-body-min-rate", "50")

    @classmethod
    def tearDownClass(cls):
        for p in (cls.p, cls.stream, cls.rate):
            p.stop()
        cls.up.stop()

    def test_slow_bodies_hold_no_upstream_connection(self):
        before = self.up.connections
        conns = open_slow(self.p.http_port, SLOW_CLIENTS)
        try:
            for _ in range(6):  # 3 s of dripping, one byte per client every 0.5 s
                time.sleep(0.5)
                for c in conns:
                    c.send(b"y")
            self.assertEqual(self.up.connections, before, "an incomplete body took an upstream")
            for c in conns:
                c.send(b"z" * 84)  # the rest: 10 + 6 + 84 = 100
            for c in conns:
                r = c.read_response()
                self.assertEqual(r.status, 200)
                self.assertEqual(body_of(r.body), b"x" * 10 + b"y" * 6 + b"z" * 84)
        finally:
            for c in conns:
                c.close()

    def test_without_buffering_the_body_streams(self):
        before = self.up.connections
        conns = open_slow(self.stream.http_port, 2)
        try:
            self.assertTrue(h.wait_until(lambda: self.up.connections > before, timeout=20),
                            "the streamed body never reached the upstream")
            for c in conns:
                c.send(b"z" * 90)
                self.assertEqual(c.read_response().status, 200)
        finally:
            for c in conns:
                c.close()

    def check_large_body(self, chunked):
        payload = os.urandom(300 * 1024)
        headers = {"Transfer-Encoding": "chunked"} if chunked else {}
        body = payload
        if chunked:
            body = b"".join(b"%x\r\n%s\r\n" % (len(payload[i:i + 70000]), payload[i:i + 70000])
                            for i in range(0, len(payload), 70000)) + b"0\r\n\r\n"
        with h.Conn(self.p.http_port, timeout=30) as c:
            c.send(h.build_request("PUT", "/big", headers, body, "raw.test"))
            r = c.read_response()
        self.assertEqual(r.status, 200)
        got = body_of(r.body)
        self.assertEqual(hashlib.sha256(got).hexdigest(), hashlib.sha256(payload).hexdigest())
        self.assertEqual(os.listdir(self.temp), [], "a named temporary file was left behind")

    def test_large_body_spills_to_an_unnamed_file_and_arrives_intact(self):
        self.check_large_body(chunked=False)

    def test_large_chunked_body_spills_and_arrives_intact(self):
        self.check_large_body(chunked=True)

    def test_body_below_the_minimum_rate_is_408(self):
        conns = open_slow(self.rate.http_port, 1, length=1000, sent=1)
        c = conns[0]
        try:
            status = None
            deadline = time.monotonic() + 60  # bounded: the floor cuts it after a few seconds
            while time.monotonic() < deadline:
                try:
                    c.send(b"y")  # 2 bytes/s, far below 50
                except OSError:
                    break
                c.sock.settimeout(0.5)
                try:
                    data = c.sock.recv(65536)
                except socket.timeout:
                    continue
                if data:
                    status = int(data.split(b" ", 2)[1])
                break
            self.assertEqual(status, 408)
        finally:
            c.close()

    def test_body_above_the_minimum_rate_is_served(self):
        with h.Conn(self.rate.http_port, timeout=30) as c:
            c.send(b"POST /ok HTTP/1.1\r\nHost: raw.test\r\nContent-Length: 1000\r\n\r\n")
            for _ in range(10):
                c.send(b"a" * 100)  # about 1,000 bytes/s
                time.sleep(0.1)
            self.assertEqual(c.read_response().status, 200)


if __name__ == "__main__":
    unittest.main()
