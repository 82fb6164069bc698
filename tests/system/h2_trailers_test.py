#!/usr/bin/python3
"""Trailer sections over HTTP/2 to clients (RFC 9113 8.1), with raw frames against an
HTTP/1.1 upstream written here:
- a chunked response's trailer fields reach a client that sent `te: trailers` as a trailing
  HEADERS frame with END_STREAM, lower-case, with the fields the HTTP/1.1 path passes (no
  connection-specific or framing fields); without `te: trailers` the response ends with its
  last DATA frame;
- a request body followed by a trailing HEADERS frame reaches the upstream chunked, ending
  with those fields; a trailer section with a pseudo-header field resets the stream with
  PROTOCOL_ERROR and nothing of that request is answered by the upstream."""

import json
import os
import socket
import sys
import threading
import unittest

import hpack

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402
from h2_downstream_test import (DATA, END_HEADERS, END_STREAM, HEADERS, PROTOCOL_ERROR,  # noqa: E402
                                RST_STREAM, frame, get_fields, raw_h2)

# The upstream's trailer section: names in mixed case; Content-Type and Connection may not
# appear in a trailer (RFC 9110 6.5.1, RFC 9113 8.2.2), so no client sees them.
UPSTREAM_TRAILERS = [("X-Checksum", "sha1=abc"), ("Grpc-Status", "0"), ("Grpc-Message", "all fine"),
                     ("Content-Type", "text/evil"), ("Connection", "close")]
PASSED = [("x-checksum", "sha1=abc"), ("grpc-status", "0"), ("grpc-message", "all fine")]


class trailer_upstream:
    """HTTP/1.1 upstream. GET /trailers: a chunked body ("hello" "world") and UPSTREAM_TRAILERS.
    Any other request: its body read as it came (chunked framing and trailer lines noted) and
    described in a JSON answer. Every request head seen is kept in `seen`."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.seen = []
        threading.Thread(target=self.accept, daemon=True).start()

    def stop(self):
        self.sock.close()

    def accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(c,), daemon=True).start()

    def serve(self, c):
        f = c.makefile("rb")
        try:
            while True:
                line = f.readline()
                if not line:
                    return
                head = [line.decode().rstrip("\r\n")]
                while True:
                    line = f.readline().decode().rstrip("\r\n")
                    if not line:
                        break
                    head.append(line)
                self.seen.append(head)
                fields = {k.lower(): v.strip() for k, _, v in (x.partition(":") for x in head[1:])}
                if head[0].startswith("GET /trailers"):
                    out = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
                    out += b"5\r\nhello\r\n5\r\nworld\r\n0\r\n"
                    out += b"".join(f"{k}: {v}\r\n".encode() for k, v in UPSTREAM_TRAILERS) + b"\r\n"
                    c.sendall(out)
                    continue
                body, trailers, framing = b"", [], "none"
                if fields.get("transfer-encoding", "").lower() == "chunked":
                    framing = "chunked"
                    while True:
                        size = int(f.readline().split(b";")[0], 16)
                        if size == 0:
                            while True:
                                line = f.readline()
                                if line in (b"\r\n", b""):
                                    break
                                trailers.append(line.decode().rstrip("\r\n"))
                            break
                        body += f.read(size)
                        f.readline()
                elif "content-length" in fields:
                    framing = "length"
                    body = f.read(int(fields["content-length"]))
                out = json.dumps({"target": head[0].split()[1], "framing": framing,
                                  "body": body.decode(), "trailers": trailers}).encode()
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: "
                          + str(len(out)).encode() + b"\r\n\r\n" + out)
        except (OSError, ValueError):
            pass
        finally:
            c.close()


class recording_decoder:
    """hpack.Decoder that keeps the fields of the last block it decoded (one HEADERS frame)."""

    def __init__(self):
        self.dec = hpack.Decoder()
        self.last = []

    def decode(self, block):
        self.last = [(k.decode() if isinstance(k, bytes) else k, v.decode() if isinstance(v, bytes) else v)
                     for k, v in self.dec.decode(block)]
        return self.last


def open_client():
    c = raw_h2(P.http_port)
    c.dec = recording_decoder()
    return c


def frames_of(c, stream):
    """The frames of `stream` up to its end: [(type, flags, fields or payload)]."""
    out = []
    while True:
        f = c.read_frame()
        if f is None:
            raise AssertionError(f"connection closed; frames so far: {out}")
        ftype, flags, sid, payload = f
        if sid != stream:
            continue
        if ftype == HEADERS:
            out.append((HEADERS, flags, list(c.dec.last)))
        else:
            out.append((ftype, flags, payload))
        if ftype == RST_STREAM or (ftype in (HEADERS, DATA) and flags & END_STREAM):
            return out


P = None
UP = None


def setUpModule():
    global P, UP
    UP = trailer_upstream()
    d = h.temp_dir()
    h.write_manifests(d, "class.yaml", h.ingress_class())
    h.write_manifests(d, "app.yaml", h.service("tr", 80, [("127.0.0.1", UP.port)]),
                      h.ingress("tr", [("tr.test", "/", "Prefix", "tr", 80)]))
    P = t.start_portico(d, "--workers", "1")


def tearDownModule():
    if P:
        P.stop()
    if UP:
        UP.stop()


class response_trailers(unittest.TestCase):
    def test_trailing_headers_frame_for_te_trailers(self):
        c = open_client()
        try:
            c.headers(1, get_fields("tr.test", "/trailers", extra=[("te", "trailers")]))
            fs = frames_of(c, 1)
        finally:
            c.close()
        self.assertEqual(fs[0][0], HEADERS)
        self.assertFalse(fs[0][1] & END_STREAM)
        self.assertIn((":status", "200"), fs[0][2])
        self.assertEqual(b"".join(p for ty, _, p in fs if ty == DATA), b"helloworld")
        for ty, flags, _ in fs[1:-1]:
            self.assertEqual((ty, flags & END_STREAM), (DATA, 0))
        # RFC 9113 8.1: the trailer section is a HEADERS frame that ends the stream.
        last_type, last_flags, trailers = fs[-1]
        self.assertEqual(last_type, HEADERS, fs)
        self.assertTrue(last_flags & END_STREAM and last_flags & END_HEADERS)
        self.assertEqual(trailers, PASSED)

    def test_without_te_trailers_the_last_data_frame_ends_the_stream(self):
        c = open_client()
        try:
            c.headers(1, get_fields("tr.test", "/trailers"))
            fs = frames_of(c, 1)
        finally:
            c.close()
        self.assertEqual([ty for ty, _, _ in fs if ty == HEADERS], [HEADERS], fs)
        self.assertEqual(fs[-1][0], DATA)
        self.assertTrue(fs[-1][1] & END_STREAM)
        self.assertEqual(b"".join(p for ty, _, p in fs if ty == DATA), b"helloworld")

    def test_same_fields_as_the_http11_path(self):
        # An HTTP/1.1 client gets the trailer section through the same filter.
        with h.Conn(P.http_port) as conn:
            conn.send(b"GET /trailers HTTP/1.1\r\nHost: tr.test\r\nTE: trailers\r\nConnection: close\r\n\r\n")
            raw = conn.read_all()
        head, _, body = raw.partition(b"\r\n\r\n")
        self.assertIn(b"transfer-encoding: chunked", head.lower())
        tail = body[body.index(b"\r\n0\r\n") + 5:]
        lines = [x for x in tail.decode().split("\r\n") if x]
        got = [(k.lower(), v.strip()) for k, _, v in (x.partition(":") for x in lines)]
        self.assertEqual(got, PASSED)


class request_trailers(unittest.TestCase):
    def post(self, c, stream, path, trailers, body=b"hello"):
        c.headers(stream, [(":method", "POST"), (":scheme", "http"), (":authority", "tr.test"),
                           (":path", path)], end_stream=False)
        c.send(frame(DATA, 0, stream, body))
        c.headers(stream, trailers, end_stream=True)

    def test_trailers_reach_the_upstream_chunked(self):
        c = open_client()
        try:
            self.post(c, 1, "/upload", [("x-checksum", "sha1=abc"), ("x-count", "5"),
                                        ("content-type", "text/evil")])
            status, _, body = c.response(1)
        finally:
            c.close()
        self.assertEqual(status, 200)
        got = json.loads(body)
        self.assertEqual(got["framing"], "chunked")
        self.assertEqual(got["body"], "hello")
        # content-type may not appear in a trailer (RFC 9110 6.5.1): the HTTP/1.1 path drops it.
        self.assertEqual(got["trailers"], ["x-checksum: sha1=abc", "x-count: 5"])

    def test_pseudo_header_in_trailers_resets_the_stream(self):
        c = open_client()
        try:
            self.post(c, 1, "/pseudo-in-trailer", [("x-ok", "1"), (":path", "/other")])
            self.assertEqual(c.response(1), ("reset", PROTOCOL_ERROR, b""))
            # The connection goes on.
            c.headers(3, get_fields("tr.test", "/after"))
            status, _, body = c.response(3)
        finally:
            c.close()
        self.assertEqual(status, 200)
        self.assertEqual(json.loads(body)["target"], "/after")
        # The request was held until its body was complete (proxy-request-buffering): the
        # upstream never saw it.
        self.assertNotIn("/pseudo-in-trailer", " ".join(x[0] for x in UP.seen))


if __name__ == "__main__":
    unittest.main()
