#!/usr/bin/python3
"""HTTP/2 edges: an upstream that fails after the answer has begun (HTTP/1.1 and gRPC
upstreams, seen by a raw HTTP/2 client and by python3-grpcio), the protections of RFC 9113
section 10 not covered by h2_downstream_test.py (SETTINGS flood, empty DATA flood, window
overflow, malformed pseudo-header fields and upper-case names, content-length against DATA,
HPACK bomb), each followed by a
normal client being served, HEAD over HTTP/2, the upstream protocol in the access log and in
/metrics, and a graceful drain on SIGTERM (two GOAWAYs, streams in flight finish)."""

import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import unittest

import grpc

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as h  # noqa: E402
import tls_support as t  # noqa: E402
from loopback_server import LoopbackServer  # noqa: E402
from h2_downstream_test import (  # noqa: E402
    ACK, DATA, END_HEADERS, END_STREAM, ENHANCE_YOUR_CALM, GOAWAY, HEADERS, PING, PROTOCOL_ERROR,
    RST_STREAM, SETTINGS, WINDOW_UPDATE, body_upstream, configmap, frame, get_fields, raw_h2)

A = "nginx.ingress.kubernetes.io/"
ECHO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "grpc_echo_server.py")
INTERNAL_ERROR, FLOW_CONTROL_ERROR = 0x2, 0x3
MAX_STREAM_ID = 0x7FFFFFFF

P = None
UPS = []
GRPC_UP = None


class dying_upstream(LoopbackServer):
    """HTTP/1.1 upstream that reads a whole request, sends the head of its answer and part of
    the body, then closes the connection. /grpc...: a chunked gRPC answer with one message
    and no end; any other path: 1000 of the 100000 bytes its Content-Length announces."""

    def __init__(self):
        super().__init__(64)
        self.start()


    @staticmethod
    def _read_request(c):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = c.recv(65536)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        if fields.get("transfer-encoding", "").lower() == "chunked":
            while not body.endswith(b"0\r\n\r\n"):
                chunk = c.recv(65536)
                if not chunk:
                    break
                body += chunk
        else:
            n = int(fields.get("content-length", "0"))
            while len(body) < n:
                chunk = c.recv(65536)
                if not chunk:
                    break
                body += chunk
        return lines[0].split(" ")[1]

    def _serve(self, c):
        with c:
            c.settimeout(30)
            try:
                target = self._read_request(c)
                if target is None:
                    return
                if target.startswith("/grpc"):
                    msg = b"first"
                    framed = b"\0" + struct.pack(">I", len(msg)) + msg
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/grpc\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n" +
                              f"{len(framed):x}\r\n".encode() + framed + b"\r\n")
                else:
                    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n"
                              b"Content-Length: 100000\r\n\r\n" + b"x" * 1000)
                # Everything the client sent is read: the close is a FIN, not a reset that
                # could overtake the bytes above.
                c.shutdown(socket.SHUT_WR)
                c.recv(1)
            except OSError:
                pass


class echo_server:
    """grpc_echo_server.py as a child process (killed by the tests that need it dead)."""

    def __init__(self):
        self.proc = h.Process(["/usr/bin/python3", ECHO, "0"])
        self.port = int(self.proc.wait_line(r"^port (\d+)$", stream="stdout", timeout=30).group(1))

    def kill(self):
        self.proc.stop(sig=9)


def setUpModule():
    global P, GRPC_UP
    app, dying = body_upstream("app"), dying_upstream()
    UPS.extend([app, dying])
    GRPC_UP = echo_server()
    d = h.temp_dir()
    h.write_manifests(
        d, "a.yaml", h.ingress_class(), configmap({"keep-alive": "30"}),
        h.service("app", 80, [("127.0.0.1", app.port)]),
        h.service("dying", 80, [("127.0.0.1", dying.port)]),
        h.service("echo", 50051, [("127.0.0.1", GRPC_UP.port)]),
        h.ingress("app", [("app.test", "/", "Prefix", "app", 80)]),
        h.ingress("dying", [("dying.test", "/", "Prefix", "dying", 80)]),
        h.ingress("echo", [("echo.test", "/", "Prefix", "echo", 50051)],
                  annotations={A + "backend-protocol": "GRPC"}))
    P = t.start_portico(d, "--workers", "1", "--configmap", "ingress/portico")


def tearDownModule():
    if P:
        P.stop()
    for u in UPS:
        u.stop()
    if GRPC_UP:
        GRPC_UP.kill()


def grpc_channel(authority):
    return grpc.insecure_channel(f"127.0.0.1:{P.http_port}",
                                 options=[("grpc.default_authority", authority)])


def served(port):
    """A normal HTTP/2 client gets its answer."""
    r = subprocess.run(["curl", "-sS", "--max-time", "30", "--http2-prior-knowledge", "-H",
                        "Host: app.test", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                        f"http://127.0.0.1:{port}/after"], capture_output=True, timeout=60)
    return r.stdout.decode()


def error_code(payload, at=0):
    return int.from_bytes(payload[at:at + 4], "big")


class upstream_fails_mid_answer(unittest.TestCase):
    def test_http2_client_sees_the_stream_reset(self):
        c = raw_h2(P.http_port)
        try:
            c.headers(1, get_fields("dying.test", "/big"))
            end = c.response(1)
            self.assertEqual(end, ("reset", INTERNAL_ERROR, b""))
            self.assertEqual(c.streams[1]["headers"].get(":status"), "200")  # the head went out
            self.assertEqual(c.streams[1]["body"], b"x" * 1000)  # and what came of the body
            c.headers(3, get_fields("app.test", "/same-connection"))
            self.assertEqual(c.response(3)[0], 200)  # only the stream ended
        finally:
            c.close()

    def test_grpc_stream_of_an_internal_http11_upstream_is_reset_after_its_message(self):
        # On the wire: the message that came, then RST_STREAM(INTERNAL_ERROR), never the
        # reset first (nghttp2 would drop DATA still queued for a reset stream).
        c = raw_h2(P.http_port)
        try:
            c.headers(1, get_fields("dying.test", "/grpc.Test/Stream", "POST",
                                    [("content-type", "application/grpc"), ("te", "trailers")]),
                      end_stream=False)
            c.send(frame(DATA, END_STREAM, 1, b"\0" + struct.pack(">I", 2) + b"go"))
            self.assertEqual(c.response(1), ("reset", INTERNAL_ERROR, b""))
            self.assertEqual(c.streams[1]["headers"].get(":status"), "200")
            self.assertEqual(c.streams[1]["body"], b"\0" + struct.pack(">I", 5) + b"first")
        finally:
            c.close()

    def test_grpc_client_sees_internal_http11_upstream(self):
        # grpc-python: the call ends INTERNAL. Whether it hands out the message first depends
        # on the client: gRPC core drops a message not yet read when the reset comes right
        # after it (seen on a loaded machine), so that is checked on the wire above.
        with grpc_channel("dying.test") as ch:
            it = ch.unary_stream("/grpc.Test/Stream")(b"go", timeout=30)
            got = []
            with self.assertRaises(grpc.RpcError) as e:
                for m in it:
                    got.append(m)
            self.assertEqual(e.exception.code(), grpc.StatusCode.INTERNAL)
            self.assertIn(got, ([], [b"first"]))

    def test_grpc_client_sees_internal_grpc_upstream(self):
        global GRPC_UP
        with grpc_channel("echo.test") as ch:
            it = ch.unary_stream("/test.Echo/ServerStream")(b"3:10:60", timeout=60)
            self.assertEqual(next(it), b"A" * 10)
            GRPC_UP.kill()  # the upstream dies with the call's answer begun
            with self.assertRaises(grpc.RpcError) as e:
                next(it)
            self.assertEqual(e.exception.code(), grpc.StatusCode.INTERNAL)
        self.assertEqual(served(P.http_port), "2 200")


class protections(unittest.TestCase):
    def assert_served(self):
        self.assertEqual(served(P.http_port), "2 200")

    def test_settings_flood_is_bounded(self):
        # SETTINGS frames each owe an acknowledgement; a client that never reads them is cut
        # off once the queued acknowledgements pass nghttp2's bound.
        c = raw_h2(P.http_port, rcvbuf=4096)
        sent = 0
        try:
            settings = frame(SETTINGS, 0, 0, struct.pack(">HI", 0x3, 100)) * 1000
            try:
                for _ in range(2000):
                    c.send(settings)
                    sent += 1000
            except (BrokenPipeError, ConnectionResetError, socket.timeout):
                pass
            acks = 0
            while c.until(lambda f: f[0] == SETTINGS and f[1] & ACK) is not None:
                acks += 1
            self.assertLess(acks, sent)
        finally:
            c.close()
        self.assert_served()

    def test_settings_with_too_many_entries(self):
        c = raw_h2(P.http_port)
        try:
            entries = b"".join(struct.pack(">HI", 0x4, 65535) for _ in range(100))
            c.send(frame(SETTINGS, 0, 0, entries))
            f = c.until(lambda f: f[0] == GOAWAY)
            self.assertIsNotNone(f)
            self.assertEqual(error_code(f[3], 4), ENHANCE_YOUR_CALM)
            self.assertIsNone(c.until(lambda f: False))
        finally:
            c.close()
        self.assert_served()

    def test_empty_data_flood_gets_goaway(self):
        c = raw_h2(P.http_port)
        try:
            c.headers(1, get_fields("app.test", "/upload", "POST"), end_stream=False)
            try:
                c.send(frame(DATA, 0, 1) * 1500)  # no payload, no END_STREAM
            except (BrokenPipeError, ConnectionResetError):
                pass
            f = c.until(lambda f: f[0] == GOAWAY)
            self.assertIsNotNone(f, "no GOAWAY")
            self.assertEqual(error_code(f[3], 4), ENHANCE_YOUR_CALM)
        finally:
            c.close()
        self.assert_served()

    def test_connection_window_overflow(self):
        c = raw_h2(P.http_port)
        try:
            # 65535 + 2^31-1 is past the largest window (RFC 9113 6.9.1): connection error.
            c.send(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", MAX_STREAM_ID)))
            f = c.until(lambda f: f[0] == GOAWAY)
            self.assertIsNotNone(f)
            self.assertEqual(error_code(f[3], 4), FLOW_CONTROL_ERROR)
        finally:
            c.close()
        self.assert_served()

    def test_stream_window_overflow(self):
        c = raw_h2(P.http_port)
        try:
            c.headers(1, get_fields("app.test", "/held", "POST", [("content-length", "4")]),
                      end_stream=False)
            c.send(frame(WINDOW_UPDATE, 0, 1, struct.pack(">I", MAX_STREAM_ID)))
            self.assertEqual(c.response(1), ("reset", FLOW_CONTROL_ERROR, b""))  # a stream error
            c.headers(3, get_fields("app.test", "/next"))
            self.assertEqual(c.response(3)[0], 200)
        finally:
            c.close()
        self.assert_served()

    def test_malformed_fields_are_protocol_errors(self):
        cases = [
            [(":method", "GET"), (":scheme", "http"), (":authority", "app.test"), (":path", "/"),
             (":custom", "x")],                                   # unknown pseudo-header
            [(":method", "GET"), (":scheme", "http"), ("x-a", "1"), (":authority", "app.test"),
             (":path", "/")],                                     # pseudo-header after a field
            [(":method", "GET"), (":scheme", "http"), (":authority", "app.test")],  # no :path
            [(":method", "GET"), (":scheme", "http"), (":authority", "app.test"), (":path", "/"),
             (":path", "/again")],                                # :path twice
            get_fields("app.test", extra=[("X-Upper", "1")]),     # upper-case name
            get_fields("app.test", extra=[("te", "gzip")]),       # te other than trailers
        ]
        c = raw_h2(P.http_port)
        try:
            sid = 1
            for fields in cases:
                c.headers(sid, fields)
                self.assertEqual(c.response(sid), ("reset", PROTOCOL_ERROR, b""), fields)
                sid += 2
            c.headers(sid, get_fields("app.test"))
            self.assertEqual(c.response(sid)[0], 200)  # the connection goes on
        finally:
            c.close()
        self.assert_served()

    def test_content_length_against_data(self):
        # RFC 9113 8.1.1: DATA that adds up to less or more than content-length is malformed.
        c = raw_h2(P.http_port)
        try:
            c.headers(1, get_fields("app.test", "/short", "POST", [("content-length", "5")]),
                      end_stream=False)
            c.send(frame(DATA, END_STREAM, 1, b"abc"))
            self.assertEqual(c.response(1), ("reset", PROTOCOL_ERROR, b""))
            c.headers(3, get_fields("app.test", "/long", "POST", [("content-length", "2")]),
                      end_stream=False)
            c.send(frame(DATA, 0, 3, b"abc"))
            self.assertEqual(c.response(3), ("reset", PROTOCOL_ERROR, b""))
            c.headers(5, get_fields("app.test", "/exact", "POST", [("content-length", "3")]),
                      end_stream=False)
            c.send(frame(DATA, END_STREAM, 5, b"abc"))
            status, _, body = c.response(5)
            self.assertEqual(status, 200)
            self.assertIn(b'"length": 3', body)
        finally:
            c.close()
        self.assert_served()

    def test_hpack_bomb(self):
        # One 4000-byte field enters the HPACK dynamic table, then every further copy costs a
        # byte on the wire: 200 copies decode to 800 KB from about 4 KB.
        c = raw_h2(P.http_port)
        try:
            big = ("x-bomb", "b" * 4000)
            c.headers(1, get_fields("app.test", extra=[big]))
            self.assertEqual(c.response(1)[0], 200)  # one copy is a normal request
            block = c.enc.encode(get_fields("app.test") + [big] * 200)
            self.assertLess(len(block), 1000)
            c.send(frame(HEADERS, END_STREAM | END_HEADERS, 3, block))
            end = c.response(3)
            self.assertIn(end[0], (431, "reset"))
            c.headers(5, get_fields("app.test", "/after-bomb"))  # HPACK state still agrees
            self.assertEqual(c.response(5)[0], 200)
        finally:
            c.close()
        self.assert_served()


class head_and_protocols(unittest.TestCase):
    def test_head_keeps_content_length_and_sends_no_data(self):
        c = raw_h2(P.http_port)
        try:
            c.headers(1, get_fields("app.test", "/same"))
            status, fields, body = c.response(1)
            self.assertEqual(status, 200)
            c.headers(3, get_fields("app.test", "/same", "HEAD"))
            frames = []
            c.until(lambda f: frames.append(f) or (f[2] == 3 and f[1] & END_STREAM))
            status, head_fields, _ = c.response(3)
            self.assertEqual(status, 200)
            # The upstream's answer names the method: one byte more for HEAD.
            self.assertEqual(head_fields.get("content-length"),
                             str(len(body.replace(b'"GET"', b'"HEAD"'))))
            self.assertEqual([f for f in frames if f[0] == DATA and f[2] == 3], [])
        finally:
            c.close()

    def test_upstream_protocol_in_access_log_and_metrics(self):
        def count(protocol):
            return P.metric("portico_upstream_requests_by_protocol_total", protocol=protocol) or 0
        before = {p: count(p) for p in ("HTTP/1.x", "h2c")}
        c = raw_h2(P.http_port)
        try:
            c.headers(1, get_fields("app.test", "/up-proto-h1"))
            self.assertEqual(c.response(1)[0], 200)
        finally:
            c.close()
        line = P.wait_line(r'.*"path":"/up-proto-h1".*', stream="stdout", timeout=30).group(0)
        self.assertIn('"upstream_protocol":"HTTP/1.1"', line)
        with grpc.insecure_channel(f"127.0.0.1:{P.http_port}",
                                   options=[("grpc.default_authority", "echo.test")]) as ch:
            # The echo upstream may have been killed by another test: any answer will do.
            try:
                ch.unary_unary("/test.Echo/Unary")(b"hi", timeout=30)
            except grpc.RpcError:
                pass
        line = P.wait_line(r'.*"path":"/test.Echo/Unary".*', stream="stdout", timeout=30).group(0)
        if '"upstream_addr":null' not in line:
            self.assertIn('"upstream_protocol":"h2c"', line)
            h.wait_until(lambda: count("h2c") >= before["h2c"] + 1, timeout=30)
        h.wait_until(lambda: count("HTTP/1.x") >= before["HTTP/1.x"] + 1, timeout=30)


class drain(unittest.TestCase):
    def test_sigterm_two_goaways_and_streams_finish(self):
        d = h.temp_dir()
        h.write_manifests(d, "a.yaml", h.ingress_class(),
                          h.service("app", 80, [("127.0.0.1", UPS[0].port)]),
                          h.ingress("app", [("app.test", "/", "Prefix", "app", 80)]))
        p = t.start_portico(d, "--workers", "1")
        c = raw_h2(p.http_port)
        try:
            # A request in flight: its body is still to come.
            c.headers(1, get_fields("app.test", "/in-flight", "POST", [("content-length", "5")]),
                      end_stream=False)
            c.until(lambda f: f[0] == SETTINGS and not f[1] & ACK)
            p.send_signal(signal.SIGTERM)
            # RFC 9113 6.8: first a GOAWAY with the largest stream id and a PING; requests
            # the client sent meanwhile are still served.
            seen = {}
            c.until(lambda f: seen.setdefault(f[0], f) and GOAWAY in seen and PING in seen)
            self.assertIn(GOAWAY, seen)
            f, ping = seen[GOAWAY], seen.get(PING)
            self.assertEqual((error_code(f[3]) & MAX_STREAM_ID, error_code(f[3], 4)), (MAX_STREAM_ID, 0))
            self.assertIsNotNone(ping)
            self.assertFalse(ping[1] & ACK)
            c.headers(3, get_fields("app.test", "/sent-meanwhile"))
            c.send(frame(PING, ACK, 0, ping[3]))
            f = c.until(lambda f: f[0] == GOAWAY)
            self.assertIsNotNone(f)
            self.assertEqual((error_code(f[3]) & MAX_STREAM_ID, error_code(f[3], 4)), (3, 0))
            try:
                c.headers(5, get_fields("app.test", "/after-goaway"))  # past the last stream
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.assertEqual(c.response(3)[0], 200, c.response(3))
            c.send(frame(DATA, END_STREAM, 1, b"hello"))
            status, _, body = c.response(1)
            self.assertEqual(status, 200)
            self.assertIn(b'"length": 5', body)
            c.until(lambda f: False)  # the server closes the connection
            self.assertIsNone(c.streams.get(5, {}).get("end"))
        finally:
            c.close()
        self.assertEqual(p.wait(30), 0)
        p.stop()


if __name__ == "__main__":
    unittest.main()
