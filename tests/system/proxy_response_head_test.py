#!/usr/bin/python3
"""Upstream response heads as upstreams really send them: in several writes (the status line
and the first fields before the rest), and with a folded field (obs-fold). Found by the
response-head fuzzer (tests/fuzz/http_response_head_fuzzer.cpp): the parser reported a partial
head's fields as consumed and kept views into bytes the next read moved, and a folded value
pointed into the parser's stack; both reached the client as whatever bytes were there then."""

import os
import socket
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402


class scripted_upstream:
    """Answers every request on a connection with the byte strings of `parts`, sent as
    separate writes with a pause between them (so that the proxy reads them separately)."""

    def __init__(self, parts):
        self.parts = parts
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        buf = b""
        with c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            while True:
                while b"\r\n\r\n" not in buf:
                    chunk = c.recv(65536)
                    if not chunk:
                        return
                    buf += chunk
                _, _, buf = buf.partition(b"\r\n\r\n")
                for i, part in enumerate(self.parts):
                    if i:
                        time.sleep(0.2)
                    c.sendall(part)

    def stop(self):
        self.sock.close()


def start(up):
    d = h.temp_dir()
    h.write_manifests(d, "class.yaml", h.ingress_class())
    h.write_manifests(d, "app.yaml", h.service("app", 80, [("127.0.0.1", up.port)]),
                      h.ingress("app", [("app.test", "/", "Prefix", "app", 80)]))
    return h.Portico.start(d, "--workers", "1")


class response_heads(unittest.TestCase):
    def test_head_in_several_writes_reaches_the_client_intact(self):
        fields = [b"X-Field-%02d: value-%02d-%s" % (i, i, b"v" * 40) for i in range(40)]
        first = b"HTTP/1.1 200 Fine Thanks\r\n" + b"\r\n".join(fields[:20]) + b"\r\n"
        rest = b"\r\n".join(fields[20:]) + b"\r\nContent-Length: 2\r\n\r\nok"
        up = scripted_upstream([first, rest])
        p = start(up)
        try:
            with h.Conn(p.http_port) as c:
                for _ in range(3):
                    r = c.request("GET", "/", host="app.test")
                    self.assertEqual((r.status, r.reason, r.body), (200, "Fine Thanks", b"ok"))
                    for i in range(40):
                        self.assertEqual(r.header("x-field-%02d" % i),
                                         "value-%02d-%s" % (i, "v" * 40), i)
        finally:
            p.stop()
            up.stop()

    def test_folded_response_field_is_502(self):
        # RFC 9112 5.2: a proxy that receives obs-fold in a response either replaces it with SP
        # or answers 502; the proxy answers 502 and never relays the folded bytes.
        up = scripted_upstream([b"HTTP/1.1 200 OK\r\nX-Folded: first\r\n  second-line-of-it\r\n"
                                b"Content-Length: 2\r\n\r\nok"])
        p = start(up)
        try:
            with h.Conn(p.http_port) as c:
                r = c.request("GET", "/", host="app.test")
                self.assertEqual(r.status, 502, (r.headers, r.body))
                self.assertIsNone(r.header("x-folded"))
        finally:
            p.stop()
            up.stop()

    def test_transfer_encoding_with_content_length_is_502(self):
        # RFC 9112 6.3: Transfer-Encoding overrides Content-Length and such a response ought to
        # be handled as an error. Framed by its Content-Length, the rest of the body would be
        # read as the next response on the pooled connection.
        for te in (b"gzip", b"\xff\x09chunked", b"chunked"):
            up = scripted_upstream([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + te +
                                    b"\r\nContent-Length: 5\r\n\r\nhello, and more bytes"])
            p = start(up)
            try:
                with h.Conn(p.http_port) as c:
                    r = c.request("GET", "/", host="app.test")
                    self.assertEqual(r.status, 502, (te, r.headers, r.body))
            finally:
                p.stop()
                up.stop()

    def test_interim_response_coding_does_not_refuse_the_final_response(self):
        # A 1xx head and the final head are parsed into the same record: a Transfer-Encoding
        # the 103 carried (meaningless there, but sent) once stayed noted and the final 200,
        # framed by its Content-Length, was answered 502.
        up = scripted_upstream([b"HTTP/1.1 103 Early Hints\r\nTransfer-Encoding: gzip\r\n"
                                b"Link: </a.css>; rel=preload\r\n\r\n",
                                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"])
        p = start(up)
        try:
            with h.Conn(p.http_port) as c:
                for _ in range(2):
                    r = c.request("GET", "/", host="app.test")
                    self.assertEqual((r.status, r.body), (200, b"ok"), r.headers)
        finally:
            p.stop()
            up.stop()


if __name__ == "__main__":
    unittest.main()
